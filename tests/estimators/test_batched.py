"""Batched eta training reproduces one-at-a-time training with the same seed."""

import numpy as np
import pytest
import torch

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


@pytest.fixture(scope="module")
def onehot_data():
    """Two numeric columns and three one-hot blocks: about 15 % non-zero, as encoded tables are."""
    rng = np.random.default_rng(5)
    n = 900
    g = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    cats = [rng.integers(0, k, n) for k in (6, 8, 5)]
    X = np.concatenate([rng.normal(size=(n, 2))] + [np.eye(k)[c] for k, c in zip((6, 8, 5), cats)], axis=1)
    X[rng.random(n) < 0.05, 0] = 0.0  # some numeric zeros too
    logit = X[:, 0] + (cats[0] == 2) - 0.8 * (g == "c")
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X.astype(np.float32), y, g


def test_one_hot_inputs_take_the_sparse_first_layer_and_match_separate_fits(onehot_data, monkeypatch):
    import fairkit.estimators.batched as batched

    X, y, g = onehot_data
    assert batched._use_sparse_inputs(torch.tensor(X))
    assert not batched._use_sparse_inputs(torch.tensor(np.ones_like(X)))
    calls = []
    monkeypatch.setattr(batched._SparseLinear, "apply",
                        lambda *a, _f=batched._SparseLinear.apply: calls.append(1) or _f(*a))
    kw = dict(hidden_layer_sizes=(8,), max_epochs=3, batch_size=100, random_state=2, clip_grad_norm=0.02)
    etas = [0.0, 3.0]
    models = fit_eta_batch(FairRegularizedClassifier(**kw), etas, X, y, sensitive_features=g)
    assert len(calls) == 3 * 9  # every step of 3 epochs x 9 batches
    for eta, m in zip(etas, models):
        alone = FairRegularizedClassifier(eta=eta, **kw).fit(X, y, sensitive_features=g)
        np.testing.assert_allclose(m.predict_proba(X), alone.predict_proba(X), atol=1e-5)
        assert m.history_[-1]["bce"] == pytest.approx(alone.history_[-1]["bce"], rel=1e-4)


def test_sparse_first_layer_gradients_equal_the_dense_product():
    import fairkit.estimators.batched as batched

    rng = np.random.default_rng(1)
    X = torch.tensor(np.where(rng.random((30, 12)) < 0.2, rng.normal(size=(30, 12)), 0.0), dtype=torch.float32)
    X[4] = 0.0  # a row with no non-zero
    W = torch.randn(12, 6, requires_grad=True)
    b = torch.randn(6, requires_grad=True)
    G = torch.randn(30, 6)
    order = np.r_[20:30, 0:20]  # an epoch's shuffle, then two batches
    rows = batched._SparseRows.from_dense(X).take(order).batches([0, 17], [17, 30])
    X, G = X[order], G[order]
    outs = [batched._SparseLinear.apply(X[lo:hi], *rows.batch(i), W, b) for i, (lo, hi) in enumerate([(0, 17), (17, 30)])]
    torch.cat(outs).backward(G)
    W2, b2 = W.detach().clone().requires_grad_(True), b.detach().clone().requires_grad_(True)
    (X @ W2 + b2).backward(G)
    torch.testing.assert_close(torch.cat(outs), (X @ W2 + b2).detach())
    torch.testing.assert_close(W.grad, W2.grad)
    torch.testing.assert_close(b.grad, b2.grad)


@pytest.mark.parametrize("hidden", [(), (8,), (8, 4)])
def test_stacked_predictions_equal_each_model(onehot_data, hidden):
    from fairkit.estimators.batched import can_predict_stacked, stacked_decision_function

    X, y, g = onehot_data
    models = fit_eta_batch(FairRegularizedClassifier(hidden_layer_sizes=hidden, max_epochs=2, random_state=0),
                           [0.0, 1.0, 4.0], X, y, sensitive_features=g)
    assert can_predict_stacked(models)
    got = stacked_decision_function(models, X)
    want = np.column_stack([m.decision_function(X) for m in models])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert not can_predict_stacked(models[:1])
    other = FairRegularizedClassifier(hidden_layer_sizes=(3,), max_epochs=1).fit(X, y)
    assert not can_predict_stacked(models + [other])  # another architecture
