"""Batched eta training reproduces one-at-a-time training with the same seed."""

import numpy as np
import pytest

from fairkit.estimators import FairRegularizedClassifier
from fairkit.estimators.batched import can_batch, fit_eta_batch


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 800
    g = rng.choice(["a", "b"], n, p=[0.6, 0.4])
    X = np.c_[rng.normal(size=n) + (g == "a"), rng.normal(size=n)].astype(np.float32)
    y = (rng.random(n) < 1 / (1 + np.exp(-1.5 * X[:, 0]))).astype(int)
    return X, y, g


# (8, 4) and tanh: later layers go through the batched products; "dependence" has no
# multi-model penalty, so it takes the vmap path; "equalized_odds" the multi-model one.
@pytest.mark.parametrize("hidden, options", [
    ((), {}),
    ((8,), {}),
    ((8, 4), {"activation": "tanh", "fairness": "equalized_odds", "penalty": "squared"}),
    ((8,), {"fairness": "dependence"}),
])
def test_same_models_as_separate_fits(data, hidden, options):
    X, y, g = data
    template = FairRegularizedClassifier(hidden_layer_sizes=hidden, max_epochs=4, batch_size=128, random_state=3,
                                         **options)
    etas = [0.0, 1.0, 5.0]
    models = fit_eta_batch(template, etas, X, y, sensitive_features=g)
    for eta, m in zip(etas, models):
        alone = FairRegularizedClassifier(eta=eta, hidden_layer_sizes=hidden, max_epochs=4, batch_size=128,
                                          random_state=3, **options).fit(X, y, sensitive_features=g)
        assert m.eta == eta
        np.testing.assert_allclose(m.predict_proba(X), alone.predict_proba(X), atol=1e-5)
        assert len(m.history_) == 4
        assert m.history_[-1]["loss"] == pytest.approx(alone.history_[-1]["loss"], rel=1e-4)
    if options.get("fairness", "demographic_parity") != "demographic_parity":
        return
    # The fairness term did its job: the gap shrinks with eta.
    gaps = [abs(m.predict_proba(X)[g == "a", 1].mean() - m.predict_proba(X)[g == "b", 1].mean()) for m in models]
    assert gaps[-1] < gaps[0]


def test_refuses_early_stopping_and_warm_start(data):
    X, y, g = data
    assert not can_batch(FairRegularizedClassifier(early_stopping=True))
    assert not can_batch(FairRegularizedClassifier(warm_start=True))
    with pytest.raises(ValueError, match="early_stopping"):
        fit_eta_batch(FairRegularizedClassifier(early_stopping=True), [0, 1], X, y, sensitive_features=g)


def test_plain_classifier_without_groups(data):
    X, y, _ = data
    models = fit_eta_batch(FairRegularizedClassifier(max_epochs=2, random_state=0), [0.0, 1.0], X, y)
    np.testing.assert_allclose(models[0].predict_proba(X), models[1].predict_proba(X), atol=1e-6)


def test_step_budget_same_epochs_batched_and_alone(data):
    X, y, g = data  # 800 rows, batch 128: 7 batches an epoch
    template = FairRegularizedClassifier(max_epochs=10, max_steps=15, batch_size=128, random_state=1)
    models = fit_eta_batch(template, [0.0, 2.0], X, y, sensitive_features=g)
    alone = FairRegularizedClassifier(eta=2.0, max_epochs=10, max_steps=15, batch_size=128,
                                      random_state=1).fit(X, y, sensitive_features=g)
    # ceil(15 / 7) = 3 whole epochs, not 10.
    assert alone.n_epochs_ == models[1].n_epochs_ == len(models[1].history_) == 3
    np.testing.assert_allclose(models[1].predict_proba(X), alone.predict_proba(X), atol=1e-5)
