"""FairBoostingClassifier: LightGBM trees on cross-entropy + eta x fairness penalty."""

import pickle

import lightgbm as lgb
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fairkit.estimators import FairBoostingClassifier

FAST = dict(n_estimators=60, learning_rate=0.2, num_leaves=8, random_state=0)


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


def test_dp_gap_falls_as_eta_grows(biased_data, gaps):
    X, y, a = biased_data(n=1500, seed=1)
    gap = {eta: gaps.selection(FairBoostingClassifier(eta=eta, **FAST).fit(X, y, sensitive_features=a).predict(X), a)
           for eta in (0.0, 3.0, 30.0)}
    assert gap[0.0] > 0.25  # the data really is biased
    assert gap[0.0] > gap[3.0] > gap[30.0]
    assert gap[30.0] < 0.05


def test_training_penalty_recorded_and_decreasing(biased_data):
    X, y, a = biased_data(n=1000, seed=2)
    plain = FairBoostingClassifier(eta=0.0, **FAST).fit(X, y, sensitive_features=a)
    clf = FairBoostingClassifier(eta=20.0, **FAST).fit(X, y, sensitive_features=a)
    assert len(clf.history_) == FAST["n_estimators"]
    # Round 0 scores every row with the base rate: no gap yet.
    assert clf.history_[0]["fairness"] == pytest.approx(0.0, abs=1e-12)
    assert clf.history_[-1]["fairness"] < 0.1 * plain.history_[-1]["fairness"]
    assert clf.history_[-1]["bce"] > plain.history_[-1]["bce"]  # fairness costs some fit
    assert clf.history_[-1]["loss"] < clf.history_[0]["loss"]


def test_equal_opportunity_and_intersections(biased_data, intersectional_data, gaps):
    X, y, a = biased_data(n=1500, seed=3)
    base = FairBoostingClassifier(eta=0.0, fairness="equal_opportunity", **FAST).fit(X, y, sensitive_features=a)
    fair = FairBoostingClassifier(eta=30.0, fairness="equal_opportunity", **FAST).fit(X, y, sensitive_features=a)
    assert gaps.tpr(fair.predict(X), y, a) < 0.5 * gaps.tpr(base.predict(X), y, a)

    Xs, ys, S = intersectional_data(n=1500)
    clf = FairBoostingClassifier(eta=30.0, **FAST).fit(Xs, ys, sensitive_features=S)
    plain = FairBoostingClassifier(eta=0.0, **FAST).fit(Xs, ys, sensitive_features=S)
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
    with pytest.raises(ValueError, match="subsample"):
        FairBoostingClassifier(subsample=1.5).fit(X, y)
    with pytest.raises(ValueError, match="binary"):
        FairBoostingClassifier().fit(X, np.arange(len(y)) % 3)
    with pytest.raises(ValueError, match="sensitive_features has"):
        FairBoostingClassifier().fit(X, y, sensitive_features=a[:10])
    clf = FairBoostingClassifier(**FAST).fit(X, y)
    assert accuracy_score(y, clf.predict(X)) > 0.7
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :2])
