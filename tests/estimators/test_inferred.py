"""InferredGroupThresholdClassifier: attribute-blind thresholds on inferred group probabilities."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from fairkit.estimators import FairBoostingClassifier
from fairkit.estimators.batched import can_batch, fit_eta_batch
from fairkit.estimators.inferred import InferredGroupThresholdClassifier, _best_cut, _frontier
from fairkit.estimators.postprocess import constraint_gap
from fairkit.methods import get_method
from fairkit.safestate import decode_state, encode_state

# The thresholds fitted on the rows the tests measure (the default on small tables is out-of-fold).
TREES = {"estimator": FairBoostingClassifier(eta=0.0, n_estimators=20, random_state=0), "thresholds_from": "train"}


def _data(n=2000, seed=0, groups=("a", "b")):
    """The group shifts the outcome's feature and shows in a second, outcome-free feature."""
    rng = np.random.default_rng(seed)
    s = rng.choice(list(groups), n)
    k = np.searchsorted(sorted(groups), s)
    X = rng.normal(size=(n, 3))
    X[:, 0] += 0.8 * k
    X[:, 2] += 1.2 * k
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.8, size=n) > 0.5).astype(int)
    return X, y, s


@pytest.fixture(scope="module")
def data():
    return _data()


def _gap(m, X, y, s, constraint):
    codes = np.unique(s, return_inverse=True)[1]
    return constraint_gap(m.predict_proba(X)[:, 1], y, codes, len(np.unique(s)), constraint)


@pytest.mark.parametrize("constraint", ["demographic_parity", "equalized_odds"])
def test_tight_gaps_without_the_attribute_and_without_a_constant_model(data, constraint):
    X, y, s = data
    models = fit_eta_batch(InferredGroupThresholdClassifier(constraint=constraint, **TREES),
                           [0.0, 0.5], X, y, sensitive_features=s)
    models.append(InferredGroupThresholdClassifier(constraint=constraint, tolerance=0.01, **TREES).fit(
        X, y, sensitive_features=s))
    gaps = [_gap(m, X, y, s, constraint) for m in models]  # predict reads X only
    assert gaps[0] == pytest.approx(models[0].max_tolerance_) and gaps[0] > 0.1
    assert gaps[1] <= 0.5 * gaps[0] + 1e-9 and gaps[2] <= 0.01
    tight = models[2].predict(X)
    assert 0.2 < tight.mean() < 0.8 and (tight == y).mean() > 0.7  # decides, and well
    assert models[2].offsets_[1] != 0  # the group's probability moves the threshold
    assert models[2].decision_kind_ == "hard" and not models[2].randomized_


def test_predictions_need_no_attribute_and_the_method_says_so(data):
    X, y, s = data
    m = InferredGroupThresholdClassifier(eta=0.8, **TREES).fit(X, y, sensitive_features=s)
    assert InferredGroupThresholdClassifier.needs_sensitive_at_predict is False
    assert get_method("inferred_threshold").needs_sensitive_at_predict is False
    assert get_method("inferred_threshold").scores_are_decisions
    proba = m.predict_proba(X)
    assert set(np.unique(proba)) <= {0.0, 1.0}
    np.testing.assert_array_equal(m.predict(X), proba[:, 1].astype(int))


def test_fit_etas_shares_the_fits_and_equals_fitting_each_eta_alone(data):
    X, y, s = data
    template = InferredGroupThresholdClassifier(**TREES)
    assert can_batch(template)
    models = fit_eta_batch(template, [0.2, 0.9], X, y, sensitive_features=s)
    assert models[0].estimator_ is models[1].estimator_
    assert models[0].group_estimator_ is models[1].group_estimator_
    for m in models:
        alone = InferredGroupThresholdClassifier(eta=m.eta, **TREES).fit(X, y, sensitive_features=s)
        np.testing.assert_allclose(alone.offsets_, m.offsets_)
        np.testing.assert_array_equal(alone.predict(X), m.predict(X))


def test_three_groups_and_a_given_group_classifier():
    X, y, s = _data(groups=("a", "b", "c"))
    m = InferredGroupThresholdClassifier(group_estimator=LogisticRegression(), eta=0.9, **TREES).fit(
        X, y, sensitive_features=s)
    assert isinstance(m.group_estimator_, LogisticRegression) and m.offsets_.shape == (3,)
    assert _gap(m, X, y, s, "demographic_parity") <= 0.1 * m.max_tolerance_ + 1e-9
    default = InferredGroupThresholdClassifier(eta=0.9, **TREES).fit(X, y, sensitive_features=s)
    assert default.group_estimator_.predict_proba(X).shape == (len(y), 3)


def test_frontier_is_the_best_cut_of_every_gap():
    rng = np.random.default_rng(3)
    n = 300
    z, y, codes = rng.normal(size=n), rng.integers(0, 2, n), rng.integers(0, 2, n)
    w = np.ones(n)
    front = _frontier(z, y, codes, w, 2, ("sel",), "accuracy_score", bins=64)
    edges = np.linspace(z.min(), z.max(), 65)[1:64]
    # A cut no better than the majority decision for everyone is no candidate (it is dominated).
    alike = max(y.mean(), 1 - y.mean())
    for tol in (0.0, 0.02, 0.1, 0.3):
        best = None
        for t in edges:  # brute force over the same cut points
            d = (z >= t - 1e-12).astype(float)
            gap = abs(d[codes == 0].mean() - d[codes == 1].mean())
            acc = (d == y).mean()
            if gap <= tol + 1e-12 and acc > alike + 1e-12 and (best is None or acc > best):
                best = acc
        (feasible, acc), _ = _best_cut(front, tol)
        assert (feasible == 1) == (best is not None)
        if best is not None:
            assert acc == pytest.approx(best)


@pytest.mark.parametrize("seed,constraint", [(0, "equalized_odds"), (3, "true_positive_rate_parity")])
def test_an_unreachable_tolerance_never_gives_a_rule_worse_than_one_decision_for_everyone(seed, constraint):
    # At eta=1 no single cut meets the gap exactly; the cut with the smallest gap used to be one
    # accepting almost everyone, less accurate than the majority decision (Adult, equalized odds:
    # 97 % accepted, accuracy 0.27). Here it was 0.477 and 0.478 against majorities of 0.523, 0.543.
    X, y, s = _data(seed=seed)
    m = InferredGroupThresholdClassifier(constraint=constraint, eta=1.0, **TREES).fit(X, y, sensitive_features=s)
    assert m.tolerance_ == 0.0 and m.constraint_gap_ > 0  # the tolerance is out of a cut's reach
    assert (m.predict(X) == y).mean() > max(y.mean(), 1 - y.mean())


def test_a_score_that_tells_nothing_keeps_every_cut():
    # No cut beats the majority decision (accuracy 0.75): the staircase is not emptied.
    y = np.array([0] * 30 + [1] * 10)
    codes = np.arange(40) % 2
    z = (codes == 0).astype(float)  # the score is the group: half of each outcome scores high
    gap, acc, thr = _frontier(z, y, codes, np.ones(40), 2, ("sel",), "accuracy_score", bins=4)
    # Every cut between 0 and 1 accepts group 0 only: selection rates 1 and 0, and 5 of the 10
    # positives plus 15 of the 30 negatives decided right.
    assert gap.tolist() == [1.0] and acc.tolist() == [0.5]


def test_out_of_fold_group_probabilities_on_small_tables(data):
    X, y, s = data
    m = InferredGroupThresholdClassifier(FairBoostingClassifier(eta=0.0, n_estimators=20, random_state=0),
                                         tolerance=0.02).fit(X, y, sensitive_features=s)
    assert m.thresholds_from_ == "crossfit" and m.n_threshold_rows_ == len(y)
    assert m.constraint_gap_ <= 0.02 and 0.2 < m.predict(X).mean() < 0.8


def test_a_threshold_set_gets_the_offsets_and_cut_the_models_fit_on_every_training_row(data):
    X, y, s = data
    Xt, yt, st = _data(n=800, seed=4)
    held = dict(TREES, thresholds_from="threshold_set")
    m = InferredGroupThresholdClassifier(tolerance=0.02, **held).fit(
        X, y, sensitive_features=s, threshold_set=(Xt, yt, st))
    assert m.thresholds_from_ == "threshold_set" and m.n_threshold_rows_ == 800
    # Both models see every training row: the base and the group classifier.
    assert m.estimator_.n_features_in_ == 3
    np.testing.assert_array_equal(
        m.group_estimator_.predict_proba(X), InferredGroupThresholdClassifier(
            tolerance=0.02, **TREES).fit(X, y, sensitive_features=s).group_estimator_.predict_proba(X))
    # The gap within tolerance is the rule's on the set's rows (predictions read X only).
    assert m.constraint_gap_ == pytest.approx(_gap(m, Xt, yt, st, "demographic_parity"), abs=1e-12)
    assert m.constraint_gap_ <= 0.02 and 0.2 < m.predict(Xt).mean() < 0.8


def test_safestate_round_trip(data):
    X, y, s = data
    m = InferredGroupThresholdClassifier(eta=0.9, **TREES).fit(X, y, sensitive_features=s)
    state = encode_state(m)
    back, _ = decode_state(state.tree, state.arrays, state.texts)
    np.testing.assert_array_equal(back.predict_proba(X), m.predict_proba(X))


@parametrize_with_checks(
    [InferredGroupThresholdClassifier(FairBoostingClassifier(eta=0.0, n_estimators=10, random_state=0),
                                      thresholds_from="train"),
     InferredGroupThresholdClassifier(LogisticRegression(), constraint="equalized_odds", thresholds_from="train")],
    xfail_strict=True)  # out-of-fold fitting (the default on small tables) is checked in test_postprocess.py
def test_sklearn_checks(estimator, check):
    check(estimator)


def test_a_pipeline_base_gives_the_default_group_classifier_its_preprocessing():
    """The default group classifier read raw X, so a Pipeline base on a frame with a text column
    failed inside it ("could not convert string to float: 'clerk'"); it now reads X through a
    fresh copy of the base's preprocessing, and with another base a clear message says what to pass."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    n = 900
    sex = rng.choice(["F", "M"], n)
    job = np.where(rng.random(n) < 0.7, np.where(sex == "M", "driver", "nurse"), "clerk")
    x = rng.normal(size=n) + (sex == "M")
    y = (x + (job == "nurse") + rng.normal(size=n) > 0.7).astype(int)
    X = pd.DataFrame({"x": x, "job": job})
    pre = ColumnTransformer([("num", StandardScaler(), ["x"]), ("cat", OneHotEncoder(), ["job"])])
    est = InferredGroupThresholdClassifier(make_pipeline(pre, LogisticRegression())).fit(X, y, sensitive_features=sex)
    assert isinstance(est.group_estimator_, Pipeline) and est.predict(X).shape == (n,)
    assert est.group_estimator_.steps[0][1] is not est.estimator_.steps[0][1]  # its own copy, fitted on groups

    class _TextBase(LogisticRegression):  # a base that reads the frame itself, not a Pipeline
        def fit(self, X, y, sample_weight=None):
            return super().fit(pd.get_dummies(X, dtype=float), y, sample_weight)

        def predict_proba(self, X):
            return super().predict_proba(pd.get_dummies(X, dtype=float))

    with pytest.raises(ValueError, match="default group classifier.*group_estimator="):
        InferredGroupThresholdClassifier(_TextBase()).fit(X, y, sensitive_features=sex)
