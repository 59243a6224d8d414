"""FairBoostingClassifier: LightGBM trees under fairness constraints, or with a fairness penalty."""

import json
import pickle

import lightgbm as lgb
import numpy as np
import pytest
from scipy import sparse
from sklearn.base import clone
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fairkit.estimators import FairBoostingClassifier
from fairkit.metrics import summary_metrics
from fairkit.safestate import decode_state, encode_state

FAST = dict(n_estimators=60, learning_rate=0.2, num_leaves=8, random_state=0)
PENALTY = dict(FAST, objective="penalty")


def _same_mean_data(n=2000, seed=0):
    """Two groups whose outcome probabilities have the same mean but not the same shape: group 0
    one cluster just below 0.5, group 1 two clusters (about 0.15 and 0.65). A model can equalise
    the groups' mean probabilities (the penalty's soft gap) while its decisions at 0.5 still
    select a third of group 1 and few of group 0."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, n)
    centre = np.where(a == 0, 0.0, np.where(rng.random(n) < 0.5, -3.0, 3.0))
    x = centre + rng.normal(scale=0.7, size=n)
    p = np.where(a == 0, 0.4 + 0.1 * np.tanh(x), np.where(centre < 0, 0.15, 0.65) + 0.1 * np.tanh(x - centre))
    y = (rng.random(n) < p).astype(int)
    return np.column_stack([x, rng.normal(size=n)]), y, a


def _train_dp(clf, X, y, a):
    (m,) = summary_metrics(y, clf.predict_proba(X)[:, 1], a)
    return m["demographic_parity_difference"], m["selection_rate"]


def test_eta_zero_is_plain_logistic_boosting(biased_data):
    """With eta=0 the custom objective is binary cross-entropy, so the trees match LightGBM's own
    ``binary`` objective started from the same base score."""
    X, y, a = biased_data(n=600, seed=0)
    ours = FairBoostingClassifier(eta=0.0, **FAST).fit(X, y, sensitive_features=a)
    p = y.mean()
    params = dict(objective="binary", learning_rate=0.2, num_leaves=8, min_child_samples=20, max_delta_step=1.0,
                  deterministic=True, force_row_wise=True, num_threads=1, verbose=-1, boost_from_average=False)
    ref = lgb.train(params, lgb.Dataset(X, label=y, init_score=np.full(len(y), np.log(p / (1 - p)))),
                    num_boost_round=60)
    ref_logit = ref.predict(X, raw_score=True) + np.log(p / (1 - p))
    np.testing.assert_allclose(ours.decision_function(X), ref_logit, atol=1e-6)
    # The penalty is still measured at eta=0: the plain trees end with a real gap.
    assert ours.history_[-1]["fairness"] > 1e-3


@pytest.mark.parametrize("kw", [FAST, PENALTY], ids=["constrained", "penalty"])
def test_dp_gap_falls_as_eta_grows(biased_data, gaps, kw):
    X, y, a = biased_data(n=1500, seed=1)
    gap = {eta: gaps.selection(FairBoostingClassifier(eta=eta, **kw).fit(X, y, sensitive_features=a).predict(X), a)
           for eta in (0.0, 3.0, 30.0)}
    assert gap[0.0] > 0.25  # the data really is biased
    assert gap[0.0] > gap[3.0] > gap[30.0]
    assert gap[30.0] < 0.05


def test_training_penalty_recorded_and_decreasing(biased_data):
    X, y, a = biased_data(n=1000, seed=2)
    plain = FairBoostingClassifier(eta=0.0, **PENALTY).fit(X, y, sensitive_features=a)
    clf = FairBoostingClassifier(eta=20.0, **PENALTY).fit(X, y, sensitive_features=a)
    assert len(clf.history_) == FAST["n_estimators"]
    # Round 0 scores every row with the base rate: no gap yet.
    assert clf.history_[0]["fairness"] == pytest.approx(0.0, abs=1e-12)
    assert clf.history_[-1]["fairness"] < 0.1 * plain.history_[-1]["fairness"]
    assert clf.history_[-1]["bce"] > plain.history_[-1]["bce"]  # fairness costs some fit
    assert clf.history_[-1]["loss"] < clf.history_[0]["loss"]


@pytest.mark.parametrize("kw", [FAST, PENALTY], ids=["constrained", "penalty"])
def test_equal_opportunity_and_intersections(biased_data, intersectional_data, gaps, kw):
    X, y, a = biased_data(n=1500, seed=3)
    base = FairBoostingClassifier(eta=0.0, fairness="equal_opportunity", **kw).fit(X, y, sensitive_features=a)
    fair = FairBoostingClassifier(eta=30.0, fairness="equal_opportunity", **kw).fit(X, y, sensitive_features=a)
    assert gaps.tpr(fair.predict(X), y, a) < 0.5 * gaps.tpr(base.predict(X), y, a)

    Xs, ys, S = intersectional_data(n=1500)
    clf = FairBoostingClassifier(eta=30.0, **kw).fit(Xs, ys, sensitive_features=S)
    plain = FairBoostingClassifier(eta=0.0, **kw).fit(Xs, ys, sensitive_features=S)
    assert clf.sensitive_levels_ == ["sex", "race", "sex & race"]
    inter = S["sex"] + " & " + S["race"]
    for g in (S["sex"], S["race"], inter):
        assert gaps.selection(clf.predict(Xs), g) < 0.5 * gaps.selection(plain.predict(Xs), g)


def test_attribute_blind_prediction_and_probabilities(biased_data):
    X, y, a = biased_data(n=800, seed=4)
    clf = FairBoostingClassifier(eta=5.0, **FAST).fit(X, y, sensitive_features=a)
    assert clf.needs_sensitive_at_predict is False
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_array_equal(clf.predict(X), (proba[:, 1] > 0.5).astype(int))


def test_sample_weight_equals_repeated_rows(biased_data):
    X, y, a = biased_data(n=300, seed=5)
    # Coarse features: every value has its own histogram bin with or without the copies.
    X = np.clip(np.round(X), -2, 2)
    w = np.random.default_rng(0).integers(1, 3, len(y))
    # 20 rounds: later on, equal-gain splits are broken by float summation order, which differs
    # between the two layouts (measured: identical to 1e-12 for 20 rounds, not for 60).
    kw = dict(FAST, min_child_samples=1, n_estimators=20)
    weighted = FairBoostingClassifier(eta=5.0, **kw).fit(X, y, sensitive_features=a, sample_weight=w)
    rep = np.repeat(np.arange(len(y)), w)
    repeated = FairBoostingClassifier(eta=5.0, **kw).fit(X[rep], y[rep], sensitive_features=a[rep])
    # Leaf sums see a weighted row as its copies; min_child_samples counts rows, hence 1.
    np.testing.assert_allclose(weighted.decision_function(X), repeated.decision_function(X), atol=1e-6)


@pytest.mark.parametrize("objective", ["constrained", "penalty"])
def test_weights_times_a_constant_give_the_same_model(objective):
    """Install audit, session 49: weights all times 0.25 moved German's training probabilities
    by 0.126 (LightGBM's leaf limits and hessian floor act on raw sums); weights are read as
    shares of the data now."""
    from fairkit.datasets import load_dataset
    from fairkit.split import split_dataset

    frame, spec = load_dataset("german")
    train = split_dataset(frame, spec, seed=0).train
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(train.y))
    fit = lambda weights: FairBoostingClassifier(eta=1.0, objective=objective, random_state=0).fit(  # noqa: E731
        train.X, train.y, sensitive_features=train.sensitive, sample_weight=weights).predict_proba(train.X)
    base = fit(w)
    for c in (0.25, 2.5):
        np.testing.assert_allclose(fit(c * w), base, atol=1e-6)


def test_pipeline_gridsearch_pickle_and_clone(biased_data):
    X, y, a = biased_data(n=500, seed=6)
    pipe = make_pipeline(StandardScaler(), FairBoostingClassifier(eta=0.0, **FAST))
    grid = GridSearchCV(pipe, {"fairboostingclassifier__num_leaves": [4, 8]}, cv=3).fit(X, y)
    assert grid.best_score_ > 0.6
    clf = FairBoostingClassifier(eta=2.0, **FAST).fit(X, y, sensitive_features=a)
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(back.predict_proba(X), clf.predict_proba(X))
    assert clone(clf).get_params() == clf.get_params()
    again = FairBoostingClassifier(eta=2.0, **FAST).fit(X, y, sensitive_features=a)
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))  # deterministic


def test_clear_errors(biased_data):
    X, y, a = biased_data(n=200)
    with pytest.raises(ValueError, match="eta"):
        FairBoostingClassifier(eta=-1).fit(X, y)
    with pytest.raises(ValueError, match="n_estimators"):
        FairBoostingClassifier(n_estimators=0).fit(X, y)
    for bad in ("many", True, 2.5):
        with pytest.raises(ValueError, match="n_estimators must be a positive integer or 'auto'"):
            FairBoostingClassifier(n_estimators=bad).fit(X, y)
    with pytest.raises(ValueError, match="subsample"):
        FairBoostingClassifier(subsample=1.5).fit(X, y)
    with pytest.raises(ValueError, match="objective"):
        FairBoostingClassifier(objective="lagrange").fit(X, y)
    with pytest.raises(ValueError, match="iterate"):
        FairBoostingClassifier(iterate="first").fit(X, y)
    with pytest.raises(ValueError, match="binary"):
        FairBoostingClassifier().fit(X, np.arange(len(y)) % 3)
    with pytest.raises(ValueError, match="sensitive_features has"):
        FairBoostingClassifier().fit(X, y, sensitive_features=a[:10])
    clf = FairBoostingClassifier(**FAST).fit(X, y)
    assert accuracy_score(y, clf.predict(X)) > 0.7
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :2])


def test_constraints_reach_parity_where_the_penalty_stalls():
    """The penalty equalises mean probabilities, which the data allow without equal decisions:
    its decisions' gap does not fall at any eta. The constraints price the decisions themselves."""
    X, y, a = _same_mean_data()
    plain, _ = _train_dp(FairBoostingClassifier(eta=0.0, **FAST).fit(X, y, sensitive_features=a), X, y, a)
    assert plain > 0.1
    for eta in (3.0, 30.0, 300.0):
        gap, _ = _train_dp(FairBoostingClassifier(eta=eta, **PENALTY).fit(X, y, sensitive_features=a), X, y, a)
        assert gap > 0.1
    clf = FairBoostingClassifier(eta=30.0, **FAST).fit(X, y, sensitive_features=a)
    gap, selected = _train_dp(clf, X, y, a)
    assert clf.tolerance_ == pytest.approx(0.1 / 30.0)
    assert gap <= 0.01
    assert 0.2 < selected < 0.8  # parity without deciding alike for everyone
    assert accuracy_score(y, clf.predict(X)) > 0.65


def test_multipliers_grow_under_violation(biased_data):
    X, y, a = biased_data(n=1000, seed=7)
    lr = 0.5
    clf = FairBoostingClassifier(eta=10.0, multiplier_lr=lr, iterate="last", **FAST).fit(X, y, sensitive_features=a)
    tol = clf.tolerance_
    assert tol == pytest.approx(0.01)
    # Round by round: while every multiplier was 0, a violation raises the sum by lr x excess.
    prev = 0.0
    for h in clf.history_:
        if prev == 0.0 and h["fairness"] > tol:
            assert h["multipliers"] == pytest.approx(lr * (h["fairness"] - tol))
            break
        assert h["multipliers"] == 0.0
        prev = h["multipliers"]
    else:
        pytest.fail("the biased data never violated the constraint")
    # Group 1 is favoured: the multiplier of "rate_1 - rate_0 <= tol" is the one that grew.
    lam = clf.multipliers_["group:selection_rate"]
    assert lam.shape == (2, 2) and lam[1, 0] > 0 and lam[0, 1] == 0
    assert max(h["multipliers"] for h in clf.history_) > 10 * clf.history_[1]["multipliers"]
    # A bound the data never exceed leaves every multiplier at 0: no correction at all.
    loose = FairBoostingClassifier(eta=1.0, bound=1.0, **FAST).fit(X, y, sensitive_features=a)
    plain = FairBoostingClassifier(eta=0.0, **FAST).fit(X, y, sensitive_features=a)
    assert all(h["multipliers"] == 0.0 for h in loose.history_)
    np.testing.assert_array_equal(loose.predict_proba(X), plain.predict_proba(X))


def test_constrained_fit_is_deterministic_and_stored_as_data(biased_data):
    X, y, a = biased_data(n=800, seed=8)
    fits = [FairBoostingClassifier(eta=20.0, fairness="equalized_odds", **FAST).fit(X, y, sensitive_features=a)
            for _ in range(2)]
    np.testing.assert_array_equal(fits[0].predict_proba(X), fits[1].predict_proba(X))
    assert fits[0].history_ == fits[1].history_
    assert fits[0].best_iteration_ == fits[1].best_iteration_ <= FAST["n_estimators"]
    for k, v in fits[0].multipliers_.items():
        np.testing.assert_array_equal(v, fits[1].multipliers_[k])
    assert set(fits[0].multipliers_) == {"group:tpr", "group:fpr"}
    state = encode_state(fits[0])
    back, _ = decode_state(json.loads(json.dumps(state.tree)), state.arrays, state.texts)
    np.testing.assert_array_equal(back.predict_proba(X), fits[0].predict_proba(X))
    assert back.best_iteration_ == fits[0].best_iteration_ and back.tolerance_ == fits[0].tolerance_


def test_auto_rounds_follow_the_training_rows(biased_data, monkeypatch):
    """``n_estimators="auto"`` makes AUTO_ROUNDS_SMALL rounds below AUTO_ROUNDS_FROM_ROWS training
    rows and AUTO_ROUNDS_LARGE from there; the cost model reads the same rule."""
    from fairkit.costs import cost_model_for
    from fairkit.estimators import boosting

    assert boosting.boosting_rounds("auto", boosting.AUTO_ROUNDS_FROM_ROWS - 1) == boosting.AUTO_ROUNDS_SMALL
    assert boosting.boosting_rounds("auto", boosting.AUTO_ROUNDS_FROM_ROWS) == boosting.AUTO_ROUNDS_LARGE
    assert boosting.boosting_rounds(37, 10**6) == 37
    X, y, a = biased_data(n=400)
    # The boundary moved to this table's size, so both sides are a small, fast fit.
    monkeypatch.setattr(boosting, "AUTO_ROUNDS_SMALL", 7)
    monkeypatch.setattr(boosting, "AUTO_ROUNDS_LARGE", 13)
    monkeypatch.setattr(boosting, "AUTO_ROUNDS_FROM_ROWS", 400)
    for rows, rounds in ((399, 7), (400, 13)):
        clf = FairBoostingClassifier(eta=0.0, n_estimators="auto", random_state=0).fit(X[:rows], y[:rows])
        assert clf.n_estimators_ == clf.best_iteration_ == clf.booster_.num_trees() == rounds
        same = FairBoostingClassifier(eta=0.0, n_estimators=rounds, random_state=0).fit(X[:rows], y[:rows])
        np.testing.assert_array_equal(clf.decision_function(X), same.decision_function(X))
    est = FairBoostingClassifier(n_estimators="auto")
    model = cost_model_for(est)
    one, two = FairBoostingClassifier(n_estimators=1), FairBoostingClassifier(n_estimators=2)
    per_round = model(two, 400, 5) - model(one, 400, 5)
    assert model(est, 400, 5) - model(est, 399, 5) == pytest.approx((13 - 7) * per_round, rel=1e-3)


def test_best_iterate_keeps_a_prefix_that_meets_the_bound():
    X, y, a = _same_mean_data(seed=1)
    last = FairBoostingClassifier(eta=30.0, iterate="last", **FAST).fit(X, y, sensitive_features=a)
    best = FairBoostingClassifier(eta=30.0, **FAST).fit(X, y, sensitive_features=a)
    assert last.best_iteration_ == FAST["n_estimators"]
    k = best.best_iteration_
    assert FAST["n_estimators"] // 2 <= k <= FAST["n_estimators"]
    assert best.booster_.num_trees() == k
    # The kept prefix is the same trees as the first k of the full fit.
    np.testing.assert_allclose(best.decision_function(X),
                               last.booster_.predict(X, raw_score=True, num_iteration=k) + last.init_score_)
    gap, _ = _train_dp(best, X, y, a)
    n = FAST["n_estimators"]
    # history_[j]: the decisions of the first j trees; the candidates are the second half's.
    candidates = [h["fairness"] for h in last.history_[n // 2:]] + [_train_dp(last, X, y, a)[0]]
    assert gap == pytest.approx(candidates[k - n // 2])
    if min(candidates) <= best.tolerance_:
        assert gap <= best.tolerance_
    else:
        assert gap == pytest.approx(min(candidates))
    assert gap < 0.5 * _train_dp(FairBoostingClassifier(eta=0.0, **FAST).fit(X, y, sensitive_features=a), X, y, a)[0]


def test_constrained_refuses_dependence(biased_data):
    X, y, a = biased_data(n=200)
    with pytest.raises(ValueError, match="objective='penalty'"):
        FairBoostingClassifier(fairness="dependence").fit(X, y, sensitive_features=a)
    FairBoostingClassifier(fairness="dependence", objective="penalty", n_estimators=5).fit(X, y, sensitive_features=a)


def test_a_model_stored_before_the_constraints_loads_as_a_penalty_model(biased_data):
    X, y, a = biased_data(n=300, seed=9)
    clf = FairBoostingClassifier(eta=5.0, objective="penalty", n_estimators=10, random_state=0).fit(
        X, y, sensitive_features=a)
    state = encode_state(clf)
    tree = json.loads(json.dumps(state.tree))
    # The state as the estimator stored it before: no parameter or attribute of the constraints.
    old = ("objective", "bound", "multiplier_lr", "iterate", "tolerance_", "multipliers_", "best_iteration_")
    text = json.dumps(tree)
    assert all(f'"{k}"' in text for k in old)

    def strip(node):  # an object's state is a list of [name, value] pairs
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items()}
        if isinstance(node, list):
            return [strip(v) for v in node if not (isinstance(v, list) and len(v) == 2 and v[0] in old)]
        return node

    stripped = strip(tree)
    assert not any(f'"{k}"' in json.dumps(stripped) for k in old)
    back, _ = decode_state(stripped, state.arrays, state.texts)
    assert back.get_params()["objective"] == "penalty"
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    assert clone(back).get_params() == clf.get_params()


@pytest.mark.parametrize("to_table", [np.asarray, sparse.csr_matrix], ids=["dense", "sparse"])
def test_no_varying_feature_gives_the_base_rate(to_table):
    X = to_table(np.ones((40, 2)))
    y = np.r_[np.zeros(30), np.ones(10)]
    clf = FairBoostingClassifier(eta=0.0, n_estimators=5, random_state=0).fit(X, y)
    assert clf.booster_ is None and clf.best_iteration_ == 0
    np.testing.assert_allclose(clf.predict_proba(X)[:, 1], y.mean())


@pytest.mark.parametrize("to_table", [np.asarray, sparse.csr_matrix], ids=["dense", "sparse"])
@pytest.mark.parametrize("kw", [dict(eta=0.0), dict(eta=0.0, subsample=0.7), dict(eta=2.0)],
                         ids=["plain", "bagged", "constrained-prefix"])
def test_training_scores_are_the_predictions_bit_for_bit(biased_data, monkeypatch, to_table, kw):
    """The fit hands over the training scores LightGBM holds, so scoring the training table
    does not pass the trees over it again, and what it hands over is what predict computes,
    bit for bit (a bundle reloaded elsewhere scores the same rows the same)."""
    X, y, a = biased_data(n=800, seed=4)
    X = to_table(X)
    clf = FairBoostingClassifier(**{**FAST, **kw}).fit(X, y, sensitive_features=a)
    calls = []
    real = lgb.Booster.predict
    monkeypatch.setattr(lgb.Booster, "predict", lambda self, *args, **kws: calls.append(1) or real(self, *args, **kws))
    remembered = clf.decision_function(X)
    full = clf.best_iteration_ == FAST["n_estimators"]
    assert full == (kw["eta"] == 0)  # eta 2 keeps a shorter prefix on these rows
    assert len(calls) == (0 if full else 1)  # a shorter kept prefix has other training scores
    fresh = real(clf.booster_, sparse.csr_matrix(X) if sparse.issparse(X) else X, raw_score=True) + clf.init_score_
    np.testing.assert_array_equal(remembered, fresh)
    # Another table is predicted, and a refit forgets what the last fit remembered.
    clf.decision_function(X[:50])
    assert len(calls) == (1 if full else 2)
    clf.fit(X[:400], y[:400], sensitive_features=a[:400])
    clf.decision_function(X)
    assert len(calls) == (2 if full else 3)
    assert remembered.flags.writeable  # callers get their own copy of what is remembered


@pytest.mark.parametrize("kw, groups", [(dict(eta=0.0), True), (dict(eta=0.0, objective="penalty"), True),
                                        (dict(eta=3.0, objective="penalty"), False), (dict(eta=3.0), False)],
                         ids=["constrained-eta0", "penalty-eta0", "penalty-no-groups", "no-groups"])
def test_cross_entropy_derivatives_are_autograds(biased_data, monkeypatch, kw, groups):
    """Where no penalty is in the loss, the objective hands LightGBM the closed-form derivatives
    of the weighted cross-entropy: autograd's gradient and curvature of its weighted mean, times
    the total weight once the weights average 1 (the rows); ``history_`` records that mean."""
    import torch

    from fairkit.losses import weighted_bce_with_logits

    X, y, a = biased_data(n=600, seed=5)
    w = np.random.default_rng(0).uniform(0.2, 3.0, len(y))
    captured = {}
    real = lgb.train

    def train(params, *args, **kws):
        captured["objective"] = params["objective"]
        return real(params, *args, **kws)

    monkeypatch.setattr(lgb, "train", train)
    clf = FairBoostingClassifier(**{**FAST, "n_estimators": 3, **kw}).fit(
        X, y, sensitive_features=a if groups else None, sample_weight=w)
    trees = np.random.default_rng(1).normal(scale=2.0, size=len(y))  # the trees' sum, before the init score
    grad, hess = captured["objective"](trees, None)
    F = torch.tensor(trees + clf.init_score_, requires_grad=True)
    wt = torch.tensor(w / w.mean())  # the scale the fit reads weights at (a share of the data)
    mean = weighted_bce_with_logits(F, torch.tensor(y, dtype=torch.float64), wt)
    (g,) = torch.autograd.grad(mean * wt.sum(), F, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), F)  # each row's gradient depends on its own score only
    np.testing.assert_allclose(grad, g.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hess, h.numpy(), rtol=1e-12, atol=1e-12)
    assert clf.history_[-1]["bce"] == float(mean)


def test_a_missed_training_bound_is_said_and_recorded(biased_data):
    """Method claims audit, session 47 (F1): the trees kept their best prefix silently when no
    prefix met the bound (equal opportunity on Adult's small cells: 0.07-0.49 against 0.01-0.1,
    18 of 18 fits). The fit now records the kept trees' training gap and warns above the
    tolerance; a bound met says nothing."""
    import warnings

    X, y, a = biased_data(n=1000, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a bound met: no warning
        met = FairBoostingClassifier(eta=1.0, **FAST).fit(X, y, sensitive_features=a)
    assert met.constraint_gap_ <= met.tolerance_
    assert met.constraint_gap_ == pytest.approx(_train_dp(met, X, y, a)[0])
    # Three rows of their own group: its rate moves in steps of a third.
    tiny = np.where(np.arange(len(a)) < 3, "tiny", np.asarray(a).astype(str))
    with pytest.warns(UserWarning, match=r"FairBoostingClassifier \(eta=100\) missed its bound on the training "
                                         r"data: gap 0\.\d{4} > tolerance 0\.0010"):
        missed = FairBoostingClassifier(eta=100.0, fairness="equalized_odds", **FAST).fit(
            X, y, sensitive_features=tiny)
    assert missed.constraint_gap_ > missed.tolerance_ == pytest.approx(0.001)
    assert np.isnan(FairBoostingClassifier(eta=0.0, **FAST).fit(X, y, sensitive_features=a).constraint_gap_)
