"""FairRegularizedClassifier: API, determinism, eta behaviour, options and persistence."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone

from fairkit.estimators import FairBoostingClassifier, FairRegularizedClassifier

FAST = dict(lr=0.05, max_epochs=20, random_state=0)


def test_fit_returns_self_and_fitted_attributes(biased_data):
    X, y, a = biased_data(n=600)
    clf = FairRegularizedClassifier(eta=1.0, **FAST)
    assert clf.fit(X, y, sensitive_features=a) is clf
    assert isinstance(clf.module_, torch.nn.Module)
    assert clf.n_features_in_ == X.shape[1]
    assert list(clf.classes_) == [0, 1]
    assert clf.needs_sensitive_at_predict is False
    assert len(clf.history_) == clf.n_epochs_ == 20
    assert {"epoch", "loss", "bce", "fairness", "eta"} <= set(clf.history_[0])
    assert all(np.isfinite(h["loss"]) for h in clf.history_)
    proba = clf.predict_proba(X)
    assert proba.shape == (600, 2) and proba.dtype == np.float64
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert ((proba > 0) & (proba < 1)).all()
    assert np.array_equal(clf.predict(X), (proba[:, 1] >= 0.5).astype(int))
    assert np.allclose(clf.decision_function(X), np.log(proba[:, 1] / proba[:, 0]), atol=1e-8)
    # Predictions do not need (or accept) the sensitive attribute.
    assert np.array_equal(clf.predict_proba(X), proba)


def test_arbitrary_labels_and_dataframe_input(biased_data):
    X, y, a = biased_data(n=500)
    Xdf = pd.DataFrame(X, columns=["income", "age", "tenure", "debt"])
    labels = np.where(y == 1, "approve", "deny")
    clf = FairRegularizedClassifier(**FAST).fit(Xdf, labels, sensitive_features=pd.Series(a))
    assert list(clf.classes_) == ["approve", "deny"]
    assert list(clf.feature_names_in_) == ["income", "age", "tenure", "debt"]
    assert set(clf.predict(Xdf)) <= {"approve", "deny"}
    # classes_[1] ("deny") is the positive class of predict_proba[:, 1].
    p = clf.predict_proba(Xdf)[:, 1]
    assert np.array_equal(clf.predict(Xdf) == "deny", p >= 0.5)


def test_probability_of_one_half_predicts_the_positive_class(biased_data):
    """predict decides as every report does: positive where the probability is >= 0.5."""
    X, y, a = biased_data(n=200)
    clf = FairRegularizedClassifier(max_epochs=1, random_state=0).fit(X, np.where(y == 1, "yes", "no"))
    with torch.no_grad():
        for p in clf.module_.parameters():
            p.zero_()  # logit 0 everywhere: a probability of exactly 0.5
    assert (clf.predict_proba(X)[:, 1] == 0.5).all()
    assert (clf.predict(X) == clf.classes_[1]).all()


def test_deterministic_for_a_random_state(biased_data):
    X, y, a = biased_data(n=700)
    kw = dict(eta=2.0, hidden_layer_sizes=(8,), batch_size=128, max_epochs=5)
    p1 = FairRegularizedClassifier(random_state=3, **kw).fit(X, y, sensitive_features=a)
    p2 = FairRegularizedClassifier(random_state=3, **kw).fit(X, y, sensitive_features=a)
    p3 = FairRegularizedClassifier(random_state=4, **kw).fit(X, y, sensitive_features=a)
    assert np.array_equal(p1.predict_proba(X), p2.predict_proba(X))
    assert p1.history_ == p2.history_
    assert not np.allclose(p1.predict_proba(X), p3.predict_proba(X))


def test_global_torch_state_untouched(biased_data):
    X, y, a = biased_data(n=300)
    rng_before, threads_before = torch.get_rng_state(), torch.get_num_threads()
    FairRegularizedClassifier(max_epochs=2, random_state=0).fit(X, y, sensitive_features=a)
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert torch.get_num_threads() == threads_before


def test_eta_zero_matches_unconstrained_training(biased_data):
    """eta=0 with groups trains the same network as a plain fit (full batch, same seed)."""
    X, y, a = biased_data(n=600)
    kw = dict(eta=0.0, batch_size=10_000, hidden_layer_sizes=(8,), **FAST)
    fair = FairRegularizedClassifier(**kw).fit(X, y, sensitive_features=a)
    plain = FairRegularizedClassifier(**kw).fit(X, y)
    np.testing.assert_allclose(fair.predict_proba(X), plain.predict_proba(X), atol=1e-6)
    # The fairness term is still measured (and reported) at eta=0.
    assert fair.history_[-1]["fairness"] > 0
    assert plain.history_[-1]["fairness"] == 0


def test_eta_zero_matches_hand_written_training_loop(biased_data):
    """The estimator is plain Adam on the BCE at eta=0: replay it with an explicit loop."""
    X, y, a = biased_data(n=400)
    kw = dict(batch_size=10_000, lr=0.05, weight_decay=1e-3, clip_grad_norm=None)
    start = FairRegularizedClassifier(eta=0.0, max_epochs=1, random_state=0, **kw).fit(X, y)
    module = pickle.loads(pickle.dumps(start.module_))
    start.set_params(warm_start=True, max_epochs=10)
    start.fit(X, y, sensitive_features=a)

    opt = torch.optim.Adam(module.parameters(), lr=0.05, weight_decay=1e-3)
    Xt, yt = torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    for _ in range(10):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(module(Xt).reshape(-1), yt).backward()
        opt.step()
    with torch.no_grad():
        ref = torch.sigmoid(module(Xt).reshape(-1)).numpy()
    np.testing.assert_allclose(start.predict_proba(X)[:, 1], ref, atol=1e-5)


def test_dp_gap_falls_as_eta_grows(biased_data, gaps):
    etas = [0.0, 0.5, 4.0]
    medians = []
    for eta in etas:
        per_seed = []
        for seed in range(3):
            X, y, a = biased_data(n=800, seed=seed)
            clf = FairRegularizedClassifier(eta=eta, lr=0.05, max_epochs=20, random_state=seed)
            per_seed.append(gaps.selection(clf.fit(X, y, sensitive_features=a).predict(X), a))
        medians.append(np.median(per_seed))
    assert medians[0] > 0.2  # the data really is biased
    assert medians[0] > medians[1] > medians[2]
    assert medians[2] < 0.05


@pytest.mark.parametrize("fairness", ["equal_opportunity", "equalized_odds", "dependence"])
def test_each_criterion_reduces_its_gap(biased_data, gaps, fairness):
    X, y, a = biased_data(n=800, seed=1)
    fit = lambda eta: FairRegularizedClassifier(eta=eta, fairness=fairness, **FAST).fit(  # noqa
        X, y, sensitive_features=a).predict(X)
    before, after = fit(0.0), fit(8.0)
    if fairness == "dependence":
        assert gaps.selection(after, a) < 0.5 * gaps.selection(before, a)
    else:
        assert gaps.tpr(after, y, a) < 0.5 * gaps.tpr(before, y, a)


@pytest.mark.parametrize("options", [
    dict(mode="overall", penalty="squared", eta=20.0),
    dict(surrogate="sigmoid", temperature=0.5),
    dict(fairness="dependence", dependence_measure="mutual_information", eta=100.0),
])
def test_loss_options_reduce_the_gap(biased_data, gaps, options):
    X, y, a = biased_data(n=600, seed=2)
    params = {**FAST, "eta": 4.0, **options}
    base = FairRegularizedClassifier(**{**params, "eta": 0.0}).fit(X, y, sensitive_features=a)
    fair = FairRegularizedClassifier(**params).fit(X, y, sensitive_features=a)
    assert gaps.selection(fair.predict(X), a) < 0.6 * gaps.selection(base.predict(X), a)


def test_plain_classifier_without_sensitive_features(biased_data):
    X, y, _ = biased_data(n=800)
    clf = FairRegularizedClassifier(eta=5.0, **FAST).fit(X, y)
    assert clf.score(X, y) > 0.65
    assert clf.sensitive_levels_ == []
    assert all(h["fairness"] == 0 for h in clf.history_)


def test_intersectional_hierarchy_group_weights_and_shrinkage(intersectional_data, gaps):
    X, y, S = intersectional_data(n=1200)
    inter = S["sex"] + " & " + S["race"]
    base = FairRegularizedClassifier(eta=0.0, **FAST).fit(X, y, sensitive_features=S)
    clf = FairRegularizedClassifier(eta=4.0, adaptive_shrinkage=20.0,
                                    group_weights={"F & C": 2.0}, **FAST)
    clf.fit(X, y, sensitive_features=S)
    assert clf.sensitive_levels_ == ["sex", "race", "sex & race"]
    assert clf.group_names_["sex"] == ["F", "M"]
    for g in (S["sex"], S["race"], inter):
        assert gaps.selection(clf.predict(X), g) < 0.5 * gaps.selection(base.predict(X), g)
    flat = FairRegularizedClassifier(eta=4.0, hierarchical=False, **FAST)
    assert flat.fit(X, y, sensitive_features=S).sensitive_levels_ == ["sex & race"]


def test_early_stopping_records_validation_and_keeps_best(biased_data):
    X, y, a = biased_data(n=800)
    clf = FairRegularizedClassifier(eta=1.0, early_stopping=True, validation_fraction=0.2,
                                    n_iter_no_change=3, lr=0.2, max_epochs=60, random_state=0)
    clf.fit(X, y, sensitive_features=a)
    h = clf.history_
    assert {"val_loss", "val_bce", "val_fairness", "val_accuracy"} <= set(h[0])
    assert clf.n_epochs_ < 60  # stopped early
    best = int(np.argmin([r["val_loss"] for r in h]))
    assert clf.best_epoch_ == h[best]["epoch"]
    assert clf.n_epochs_ - 1 - best >= 3


def test_warm_start_fine_tunes_with_the_fairness_term(biased_data, gaps):
    X, y, a = biased_data(n=800)
    clf = FairRegularizedClassifier(eta=0.0, **FAST).fit(X, y)
    module, gap0 = clf.module_, gaps.selection(clf.predict(X), a)
    clf.set_params(warm_start=True, eta=5.0, max_epochs=10)
    clf.fit(X, y, sensitive_features=a)
    assert clf.module_ is module  # the same network, fine-tuned
    assert len(clf.history_) == 30 and clf.history_[-1]["epoch"] == 29
    assert gaps.selection(clf.predict(X), a) < 0.5 * gap0
    with pytest.raises(ValueError, match="features"):
        clf.fit(X[:, :3], y)
    with pytest.raises(ValueError, match="warm_start"):
        clf.fit(X, np.where(y == 1, "a", "b"))


def test_linear_warmup_schedule_in_history(biased_data):
    X, y, a = biased_data(n=300)
    clf = FairRegularizedClassifier(eta=3.0, schedule="linear_warmup", warmup_epochs=3,
                                    max_epochs=5, random_state=0)
    clf.fit(X, y, sensitive_features=a)
    assert [h["eta"] for h in clf.history_] == [0.0, 1.0, 2.0, 3.0, 3.0]


def test_sample_weight_equals_repeated_rows(biased_data):
    X, y, a = biased_data(n=300)
    rep = np.random.default_rng(0).integers(1, 4, len(y))
    kw = dict(eta=2.0, batch_size=10_000, **FAST)
    w = FairRegularizedClassifier(**kw).fit(X, y, sensitive_features=a, sample_weight=rep)
    r = FairRegularizedClassifier(**kw).fit(np.repeat(X, rep, 0), np.repeat(y, rep),
                                            sensitive_features=np.repeat(a, rep))
    np.testing.assert_allclose(w.predict_proba(X), r.predict_proba(X), atol=1e-4)


def test_pickle_and_clone_round_trip(biased_data):
    X, y, a = biased_data(n=400)
    clf = FairRegularizedClassifier(eta=1.0, hidden_layer_sizes=(8,), **FAST)
    clf.fit(X, y, sensitive_features=a)
    again = pickle.loads(pickle.dumps(clf))
    assert np.array_equal(again.predict_proba(X), clf.predict_proba(X))
    assert again.history_ == clf.history_
    twin = clone(clf)
    assert not hasattr(twin, "module_")
    twin.fit(X, y, sensitive_features=a)
    assert np.array_equal(twin.predict_proba(X), clf.predict_proba(X))


def test_clear_errors(biased_data):
    X, y, a = biased_data(n=200)
    with pytest.raises(ValueError, match="sensitive_features has 199 rows"):
        FairRegularizedClassifier(**FAST).fit(X, y, sensitive_features=a[:-1])
    with pytest.raises(ValueError, match="Only binary"):
        FairRegularizedClassifier(**FAST).fit(X, np.arange(200) % 3)
    with pytest.raises(ValueError, match="fairness must be one of"):
        FairRegularizedClassifier(fairness="parity", **FAST).fit(X, y, sensitive_features=a)
    with pytest.raises(ValueError, match="eta"):
        FairRegularizedClassifier(eta=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="max_steps must be a positive integer or None"):
        FairRegularizedClassifier(max_steps=0).fit(X, y)


def test_step_budget_caps_epochs_on_large_data_only(biased_data):
    X, y, a = biased_data(n=1000)  # batch 100: 10 steps an epoch
    capped = FairRegularizedClassifier(max_epochs=6, max_steps=25, batch_size=100, random_state=0).fit(X, y)
    assert capped.n_epochs_ == 3 and len(capped.history_) == 3  # ceil(25 / 10)
    small = FairRegularizedClassifier(max_epochs=6, max_steps=25, batch_size=100, random_state=0).fit(X[:100], y[:100])
    assert small.n_epochs_ == 6  # one step an epoch: the epoch limit binds first
    assert FairRegularizedClassifier(max_epochs=6, batch_size=100, random_state=0).fit(X, y).n_epochs_ == 6


@pytest.mark.parametrize("make", [
    lambda eta: FairRegularizedClassifier(eta=eta, max_epochs=2, random_state=0),
    lambda eta: FairBoostingClassifier(eta=eta, n_estimators=5, random_state=0),
], ids=["torch", "boosting"])
def test_a_fairness_term_with_no_groups_to_compare_warns_once(biased_data, make):
    # Forgetting sensitive_features= (a Pipeline without routing) used to give a plain model
    # without a word; the shared fit path (FairFitMixin) says so, once per fit.
    import warnings

    X, y, a = biased_data(n=300)
    for groups, said in ((None, "no sensitive_features"), (np.zeros(len(y)), "sensitive_features hold a single group")):
        with pytest.warns(UserWarning, match=f"eta > 0 but {said}.*trained unconstrained") as got:
            make(1.0).fit(X, y, sensitive_features=groups)
        assert sum("eta > 0" in str(w.message) for w in got) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make(0.0).fit(X, y)  # a plain model asked for: nothing to say
        make(1.0).fit(X, y, sensitive_features=a)


def test_a_batch_of_etas_warns_once_when_one_of_them_has_no_groups_to_act_on(biased_data):
    from fairkit.estimators.batched import fit_eta_batch

    X, y, _ = biased_data(n=300)
    with pytest.warns(UserWarning, match="eta > 0") as got:
        fit_eta_batch(FairRegularizedClassifier(max_epochs=2, random_state=0), [0.0, 0.5, 1.0], X, y)
    assert sum("eta > 0" in str(w.message) for w in got) == 1


def test_fairlearns_name_of_equal_opportunity_is_taken_by_the_in_processing_estimators():
    """fairlearn spells equal opportunity 'true_positive_rate_parity' (the registry records the
    pair): the regularized network, FORML, the boosted trees (penalty and constraints) and the
    Lagrangian trainer take it and fit what 'equal_opportunity' fits."""
    from fairkit.estimators import FairReweightingClassifier, LagrangianFairnessTrainer
    from fairkit.estimators.boosting import FairBoostingClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 3))
    y = (X[:, 0] + rng.normal(scale=0.5, size=240) > 0).astype(int)
    s = rng.choice(["a", "b"], size=240)
    makers = [
        lambda f: FairRegularizedClassifier(fairness=f, eta=1.0, max_epochs=3, random_state=0),
        lambda f: FairReweightingClassifier(fairness=f, eta=1.0, max_epochs=2, random_state=0),
        lambda f: FairBoostingClassifier(fairness=f, objective="penalty", eta=1.0, n_estimators=5, random_state=0),
        lambda f: FairBoostingClassifier(fairness=f, objective="constrained", n_estimators=5, random_state=0),
    ]
    for make in makers:
        ours = make("equal_opportunity").fit(X, y, sensitive_features=s).predict_proba(X)
        theirs = make("true_positive_rate_parity").fit(X, y, sensitive_features=s).predict_proba(X)
        np.testing.assert_array_equal(ours, theirs)
    lag = {c: LagrangianFairnessTrainer(constraints=c, max_epochs=2, random_state=0).fit(
        X, y, sensitive_features=s).predict_proba(X) for c in ("equal_opportunity", "true_positive_rate_parity")}
    np.testing.assert_array_equal(*lag.values())
    with pytest.raises(ValueError, match="or fairlearn's true_positive_rate_parity"):
        FairRegularizedClassifier(fairness="error_rate_parity", max_epochs=1).fit(X, y, sensitive_features=s)
