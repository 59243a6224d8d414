"""Batched eta training reproduces one-at-a-time training with the same seed.

Both go through the one training loop (``fit_models``): a fit is K = 1, a batch K > 1.
"""

import numpy as np
import pandas as pd
import pytest
import torch

import fairkit.estimators._stack as stack
from fairkit.estimators import (
    AdversarialDebiasingClassifier,
    FairRegularizedClassifier,
    LagrangianFairnessTrainer,
)
from fairkit.estimators._torch_base import fit_models
from fairkit.estimators.batched import can_batch, can_fit_etas, fit_eta_batch


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


@pytest.mark.parametrize("constraints", ["demographic_parity", "equalized_odds"])
def test_lagrangian_bounds_train_together_as_separate_fits(data, constraints):
    """K bounds in one stacked pass: each model, its multipliers, kept iterate and violations
    are those of its own fit (independent multipliers; eta 0 has no constraint)."""
    X, y, g = data
    kw = dict(constraints=constraints, bound=0.1, max_epochs=5, batch_size=128, random_state=2)
    etas = [0.0, 1.0, 4.0]
    models = fit_eta_batch(LagrangianFairnessTrainer(**kw), etas, X, y, sensitive_features=g)
    for eta, m in zip(etas, models):
        alone = LagrangianFairnessTrainer(eta=eta, **kw).fit(X, y, sensitive_features=g)
        np.testing.assert_allclose(m.predict_proba(X), alone.predict_proba(X), atol=1e-5)
        assert m.best_epoch_ == alone.best_epoch_
        assert m.multipliers_.keys() == alone.multipliers_.keys()
        for k, v in alone.multipliers_.items():
            assert m.multipliers_[k] == pytest.approx(v, rel=1e-4, abs=1e-6)
        assert m.violations_ == pytest.approx(alone.violations_, abs=1e-6)
        assert [r["fairness"] for r in m.history_] == pytest.approx([r["fairness"] for r in alone.history_], abs=1e-6)
    assert models[0].multipliers_ == {} and models[2].multipliers_  # eta 0: a plain classifier
    assert models[2].constraints_[0]["effective_bound"] == pytest.approx(0.025)


def test_only_a_method_scoring_several_models_batches(data):
    X, y, g = data
    assert can_batch(FairRegularizedClassifier(early_stopping=True, warm_start=True))
    assert can_batch(LagrangianFairnessTrainer()) and not can_batch(AdversarialDebiasingClassifier())
    with pytest.raises(ValueError, match="one model at a time"):
        fit_eta_batch(AdversarialDebiasingClassifier(), [0.0, 1.0], X, y, sensitive_features=g)
    with pytest.raises(ValueError, match="every parameter but eta"):
        fit_models([FairRegularizedClassifier(lr=0.1), FairRegularizedClassifier(lr=0.2)], X, y)


class _EtasOwnWay:
    """An estimator that fits a list of etas itself (the ``fit_etas`` protocol)."""

    def __init__(self, eta=0.0):
        self.eta = eta

    def fit_etas(self, etas, X, y, *, sensitive_features=None, sample_weight=None):
        return [("own way", float(e), len(X), sensitive_features is not None) for e in etas]


def test_fit_etas_is_one_protocol_asked_of_the_class(data):
    X, y, g = data
    own = _EtasOwnWay()
    assert can_fit_etas(own) and can_batch(own)
    assert fit_eta_batch(own, [0.0, 2.0], X, y, sensitive_features=g) == [
        ("own way", 0.0, len(X), True), ("own way", 2.0, len(X), True)]
    # A torch network stacks its etas: no fit_etas of its own.
    assert not can_fit_etas(FairRegularizedClassifier()) and can_batch(FairRegularizedClassifier())
    # An attribute of an instance is not the method of its class.
    net = AdversarialDebiasingClassifier()
    net.fit_etas = lambda *a, **k: []
    assert not can_fit_etas(net) and not can_batch(net)
    with pytest.raises(ValueError, match="one model at a time"):
        fit_eta_batch(net, [0.0, 1.0], X, y, sensitive_features=g)


def test_early_stopping_stops_each_model_on_its_own(data):
    """Each model stops, and keeps its best epoch, as its own fit does, while the others train on."""
    X, y, g = data
    kw = dict(hidden_layer_sizes=(8,), early_stopping=True, validation_fraction=0.25, n_iter_no_change=2,
              lr=0.1, max_epochs=40, batch_size=128, random_state=0)
    etas = [0.0, 2.0, 10.0]
    models = fit_eta_batch(FairRegularizedClassifier(**kw), etas, X, y, sensitive_features=g)
    for eta, m in zip(etas, models):
        alone = FairRegularizedClassifier(eta=eta, **kw).fit(X, y, sensitive_features=g)
        assert m.n_epochs_ == alone.n_epochs_ == len(m.history_) < 40
        assert m.best_epoch_ == alone.best_epoch_ < m.n_epochs_ - 1
        assert [r["val_loss"] for r in m.history_] == pytest.approx([r["val_loss"] for r in alone.history_], rel=1e-4)
        np.testing.assert_allclose(m.predict_proba(X), alone.predict_proba(X), atol=1e-5)
    assert len({m.n_epochs_ for m in models}) > 1  # they stopped at different epochs


def _fitted(model):
    return {k: v for k, v in vars(model).items() if k.endswith("_") and not k.startswith("_")}


def test_batched_models_carry_the_fitted_state_of_a_fit(data):
    X, y, g = data
    Xdf = pd.DataFrame(X, columns=["income", "age"])
    kw = dict(hidden_layer_sizes=(4,), max_epochs=2, random_state=0)
    models = fit_eta_batch(FairRegularizedClassifier(**kw), [0.0, 1.0], Xdf, np.where(y == 1, "yes", "no"),
                           sensitive_features=pd.Series(g, name="sex"))
    alone = FairRegularizedClassifier(eta=1.0, **kw).fit(Xdf, np.where(y == 1, "yes", "no"),
                                                         sensitive_features=pd.Series(g, name="sex"))
    for m in models:
        assert _fitted(m).keys() == _fitted(alone).keys()
        assert not [k for k in vars(m) if k.startswith("_")]  # no training-time state left behind
        for k, v in _fitted(alone).items():
            if k not in ("module_", "history_"):
                np.testing.assert_array_equal(getattr(m, k), v)
    assert list(models[1].feature_names_in_) == ["income", "age"] and models[1].group_names_ == {"sex": ["a", "b"]}
    # A batch fitted on an array after a DataFrame forgets the column names, as fit does.
    fit_models(models, X, y, sensitive_features=g)
    assert not hasattr(models[1], "feature_names_in_") and not hasattr(alone.fit(X, y), "feature_names_in_")


@pytest.mark.filterwarnings("ignore:LagrangianFairnessTrainer missed")
@pytest.mark.parametrize("make", [FairRegularizedClassifier, LagrangianFairnessTrainer, AdversarialDebiasingClassifier])
def test_training_state_is_dropped_after_fit_and_after_an_error(data, make):
    X, y, g = data
    est = make(max_epochs=2, early_stopping=True, random_state=0).fit(X, y, sensitive_features=g)
    assert not [k for k in vars(est) if k.startswith("_")]
    failed = make(max_epochs=2, lr=1e30, clip_grad_norm=None, random_state=0)
    with pytest.raises(FloatingPointError, match="diverged"):
        failed.fit(X * 1e30, y, sensitive_features=g)
    assert not [k for k in vars(failed) if k.startswith("_")]


@pytest.mark.parametrize("make, batched", [
    (FairRegularizedClassifier, False),
    (FairRegularizedClassifier, True),
    (LagrangianFairnessTrainer, False),
    (AdversarialDebiasingClassifier, False),
])
def test_device_is_honoured_on_every_path(data, make, batched):
    """The "meta" device holds shapes and no values: when every tensor is on it, training stops
    at the first value it reads; a tensor left on the CPU stops it at a mix of devices instead."""
    X, y, g = data
    est = make(max_epochs=1, device="meta", random_state=0)
    with pytest.raises((NotImplementedError, RuntimeError)) as err:
        if batched:
            fit_eta_batch(est, [0.0, 1.0], X, y, sensitive_features=g)
        else:
            est.fit(X, y, sensitive_features=g)
    assert "meta" in str(err.value) and "device" not in str(err.value), err.value


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
    X, y, g = onehot_data
    assert stack._use_sparse_inputs(torch.tensor(X))
    assert not stack._use_sparse_inputs(torch.tensor(np.ones_like(X)))
    calls = []
    monkeypatch.setattr(stack._SparseLinear, "apply",
                        lambda *a, _f=stack._SparseLinear.apply: calls.append(1) or _f(*a))
    kw = dict(hidden_layer_sizes=(8,), max_epochs=3, batch_size=100, random_state=2, clip_grad_norm=0.02)
    etas = [0.0, 3.0]
    models = fit_eta_batch(FairRegularizedClassifier(**kw), etas, X, y, sensitive_features=g)
    assert len(calls) == 3 * 9  # every step of 3 epochs x 9 batches
    for eta, m in zip(etas, models):
        alone = FairRegularizedClassifier(eta=eta, **kw).fit(X, y, sensitive_features=g)
        np.testing.assert_allclose(m.predict_proba(X), alone.predict_proba(X), atol=1e-5)
        assert m.history_[-1]["bce"] == pytest.approx(alone.history_[-1]["bce"], rel=1e-4)


def test_sparse_first_layer_gradients_equal_the_dense_product():
    rng = np.random.default_rng(1)
    X = torch.tensor(np.where(rng.random((30, 12)) < 0.2, rng.normal(size=(30, 12)), 0.0), dtype=torch.float32)
    X[4] = 0.0  # a row with no non-zero
    W = torch.randn(12, 6, requires_grad=True)
    b = torch.randn(6, requires_grad=True)
    G = torch.randn(30, 6)
    order = np.r_[20:30, 0:20]  # an epoch's shuffle, then two batches
    rows = stack._SparseRows.from_dense(X).take(order).batches([0, 17], [17, 30])
    X, G = X[order], G[order]
    outs = [stack._SparseLinear.apply(X[lo:hi], *rows.batch(i), W, b) for i, (lo, hi) in enumerate([(0, 17), (17, 30)])]
    torch.cat(outs).backward(G)
    W2, b2 = W.detach().clone().requires_grad_(True), b.detach().clone().requires_grad_(True)
    (X @ W2 + b2).backward(G)
    torch.testing.assert_close(torch.cat(outs), (X @ W2 + b2).detach())
    torch.testing.assert_close(W.grad, W2.grad)
    torch.testing.assert_close(b.grad, b2.grad)


def test_a_stack_hands_out_each_models_weights_by_its_modules_names():
    """``_Stack.model_params(k)`` is model k's own network: the same tensors by the same names,
    a functional call with them gives column k of the stack's logits, and gradients reach the
    stack through them; ``copy_to`` writes exactly them."""
    from torch.func import functional_call

    from fairkit.estimators._torch_base import make_mlp

    torch.manual_seed(0)
    modules = [make_mlp(3, (5, 4)).double() for _ in range(3)]
    nets = stack._Stack(modules)
    X = torch.randn(7, 3, dtype=torch.float64)
    logits = nets.forward(X)
    for k, module in enumerate(modules):
        params = nets.model_params(k)
        assert list(params) == [name for name, _ in module.named_parameters()]
        assert all(torch.equal(params[name], p) for name, p in module.named_parameters())
        z = functional_call(module, params, (X,)).reshape(-1)
        assert torch.allclose(z, logits[:, k], rtol=0, atol=1e-12)
    z.sum().backward()  # model 2's logits reach model 2's block of every stacked tensor only
    W0 = nets.W0.grad.view(3, 3, 5)
    assert W0[:, 2].abs().sum() > 0 and W0[:, :2].abs().sum() == 0
    copy = make_mlp(3, (5, 4)).double()
    nets.copy_to(copy, 1, nets.snapshot())
    assert all(torch.equal(p, q) for p, q in zip(copy.parameters(), modules[1].parameters()))
