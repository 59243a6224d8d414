"""AdversarialDebiasingClassifier and the gradient reversal layer."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from fairkit.estimators import (
    AdversarialDebiasingClassifier,
    FairRegularizedClassifier,
    GradientReversalFunction,
    GradientReversalLayer,
    LagrangianFairnessTrainer,
)

FAST = dict(lr=0.05, max_epochs=20, random_state=0)


# ------------------------------------------------------------------ gradient reversal


@pytest.mark.parametrize("lambd", [0.0, 0.5, 1.0, 3.0])
def test_reversal_layer_is_identity_forward_and_negates_gradient(lambd):
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    layer = GradientReversalLayer(lambd)
    out = layer(x)
    assert torch.equal(out, x)
    upstream = torch.randn(5, 3, dtype=torch.float64)
    (grad,) = torch.autograd.grad(out, x, upstream)
    assert torch.allclose(grad, -lambd * upstream)
    # Same through the autograd Function, and composed with other ops.
    y = (GradientReversalFunction.apply(x, lambd) ** 2).sum()
    (grad2,) = torch.autograd.grad(y, x)
    assert torch.allclose(grad2, -lambd * 2 * x)
    assert "lambd" in repr(layer)


def test_reversal_layer_leaves_input_untouched():
    x = torch.randn(4, requires_grad=True)
    before = x.detach().clone()
    GradientReversalLayer(2.0)(x).sum().backward()
    assert torch.equal(x.detach(), before)
    assert torch.allclose(x.grad, torch.full((4,), -2.0))


# ------------------------------------------------------------------ estimator


def test_fit_predict_and_history(biased_data):
    X, y, a = biased_data(n=600)
    clf = AdversarialDebiasingClassifier(eta=1.0, **FAST)
    assert clf.fit(X, y, sensitive_features=a) is clf
    proba = clf.predict_proba(X)
    assert proba.shape == (600, 2) and np.allclose(proba.sum(1), 1)
    assert clf.needs_sensitive_at_predict is False
    assert isinstance(clf.adversary_, torch.nn.Module)
    h = clf.history_[-1]
    assert {"loss", "bce", "fairness", "adversary_loss", "adversary_accuracy"} <= set(h)
    assert h["loss"] == pytest.approx(h["bce"] - 1.0 * h["adversary_loss"])


def test_eta_zero_matches_the_other_estimators(biased_data):
    """At eta=0 all three in-processing methods train the very same unconstrained network."""
    X, y, a = biased_data(n=700)
    kw = dict(eta=0.0, hidden_layer_sizes=(8,), batch_size=256, **FAST)
    adv = AdversarialDebiasingClassifier(**kw).fit(X, y, sensitive_features=a)
    reg = FairRegularizedClassifier(**kw).fit(X, y, sensitive_features=a)
    lag = LagrangianFairnessTrainer(**kw).fit(X, y, sensitive_features=a)
    assert np.array_equal(adv.predict_proba(X), reg.predict_proba(X))
    assert np.array_equal(lag.predict_proba(X), reg.predict_proba(X))


def test_debiased_predictions_barely_reveal_the_group(biased_data, gaps):
    """A fresh adversary trained after debiasing does little better than the base rate."""
    advantage = {0.0: [], 10.0: []}
    dp = {0.0: [], 10.0: []}
    for seed in range(3):
        X, y, a = biased_data(n=800, seed=seed)
        base_rate = max(a.mean(), 1 - a.mean())
        for eta in advantage:
            clf = AdversarialDebiasingClassifier(eta=eta, adversary_lr=0.05, lr=0.05,
                                                 max_epochs=20, random_state=seed)
            clf.fit(X, y, sensitive_features=a)
            z = clf.decision_function(X)[:, None]
            acc = cross_val_score(LogisticRegression(), z, a, cv=5).mean()
            advantage[eta].append(acc - base_rate)
            dp[eta].append(gaps.selection(clf.predict(X), a))
    assert np.median(advantage[0.0]) > 0.1
    assert np.median(advantage[10.0]) < 0.03
    assert np.median(dp[10.0]) < 0.5 * np.median(dp[0.0])


def test_equalized_odds_variant_and_multiple_levels(intersectional_data):
    X, y, S = intersectional_data(n=800)
    clf = AdversarialDebiasingClassifier(eta=1.0, variant="equalized_odds", **FAST)
    clf.fit(X, y, sensitive_features=S)
    # One head per level: sex (2), race (3), sex & race (6); inputs logit, logit*y, y.
    assert [h.out_features for h in clf.adversary_.heads] == [2, 3, 6]
    assert clf.adversary_.trunk[0].in_features == 3
    flat = AdversarialDebiasingClassifier(eta=1.0, hierarchical=False, max_epochs=2,
                                          random_state=0).fit(X, y, sensitive_features=S)
    assert [h.out_features for h in flat.adversary_.heads] == [6]
    linear = AdversarialDebiasingClassifier(adversary_hidden_layer_sizes=(), max_epochs=2,
                                            random_state=0).fit(X, y, sensitive_features=S)
    assert np.isfinite(linear.predict_proba(X)).all()


def test_early_stopping_and_plain_classifier(biased_data):
    X, y, a = biased_data(n=600)
    es = AdversarialDebiasingClassifier(eta=1.0, early_stopping=True, n_iter_no_change=3,
                                        lr=0.05, max_epochs=40, random_state=0)
    es.fit(X, y, sensitive_features=a)
    assert {"val_loss", "val_bce", "val_accuracy", "val_adversary_accuracy"} <= set(es.history_[0])
    plain = AdversarialDebiasingClassifier(eta=3.0, **FAST).fit(X, y)
    assert plain.adversary_ is None
    assert plain.score(X, y) > 0.65


def test_deterministic_pickle_and_clone(biased_data):
    X, y, a = biased_data(n=500)
    clf = AdversarialDebiasingClassifier(eta=2.0, **FAST).fit(X, y, sensitive_features=a)
    again = AdversarialDebiasingClassifier(eta=2.0, **FAST).fit(X, y, sensitive_features=a)
    assert np.array_equal(clf.predict_proba(X), again.predict_proba(X))
    loaded = pickle.loads(pickle.dumps(clf))
    assert np.array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    twin = clone(clf).fit(X, y, sensitive_features=a)
    assert np.array_equal(twin.predict_proba(X), clf.predict_proba(X))


def test_bad_variant():
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match="variant"):
        AdversarialDebiasingClassifier(variant="parity").fit(X, np.arange(20) % 2)
