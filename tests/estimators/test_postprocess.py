"""ThresholdPostProcessor: eta frontier, group requirements, float32 guard, reference frontier."""

import pickle

import numpy as np
import pandas as pd
import pytest
from fairlearn.postprocessing import ThresholdOptimizer
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from fairkit.estimators.postprocess import ThresholdPostProcessor

GRID = {"grid_size": 200}


def _data(n=800, seed=0):
    rng = np.random.default_rng(seed)
    s = rng.choice(["a", "b"], n, p=[0.6, 0.4])
    X = rng.normal(size=(n, 3))
    X[:, 0] += np.where(s == "a", 1.0, 0.0)
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.8, size=n) > 0.3).astype(int)
    return X, y, s


@pytest.fixture(scope="module")
def data():
    return _data()


@pytest.fixture(scope="module")
def base(data):
    X, y, _ = data
    return LogisticRegression().fit(X, y)


def _dp(pred, s):
    rates = pd.Series(pred).groupby(s).mean()
    return float(rates.max() - rates.min())


@pytest.mark.parametrize("constraint", ["demographic_parity", "true_positive_rate_parity",
                                        "equalized_odds"])
def test_eta_sweep_goes_from_unconstrained_to_parity(data, base, constraint):
    X, y, s = data
    models = [
        ThresholdPostProcessor(base, constraint=constraint, eta=eta, prefit=True, **GRID).fit(
            X, y, sensitive_features=s
        )
        for eta in (0.0, 0.5, 1.0)
    ]
    gaps = [m.constraint_gap_ for m in models]
    max_tol = models[0].max_tolerance_
    assert max_tol > 0.05
    assert gaps[0] == pytest.approx(max_tol, abs=1e-6)  # eta=0: unconstrained
    assert gaps[1] <= 0.5 * max_tol + 0.01  # the tolerance is respected
    assert gaps[2] < 0.01  # eta=1: parity
    assert gaps[0] > gaps[1] > gaps[2]
    # Expected training accuracy can only fall as the constraint tightens.
    acc = [
        float(np.mean(np.where(y == 1, p, 1 - p)))
        for p in (m.predict_proba(X, sensitive_features=s)[:, 1] for m in models)
    ]
    assert acc[0] >= acc[1] - 1e-9 >= acc[2] - 2e-9


def test_explicit_tolerance_overrides_eta(data, base):
    X, y, s = data
    m = ThresholdPostProcessor(base, tolerance=0.05, eta=0.0, prefit=True, **GRID).fit(
        X, y, sensitive_features=s
    )
    assert m.tolerance_ == 0.05
    assert m.constraint_gap_ <= 0.05 + 0.01


def test_predictions_are_deterministic_and_probabilities_valid(data, base):
    X, y, s = data
    m = ThresholdPostProcessor(base, eta=0.7, prefit=True, random_state=4, **GRID).fit(
        X, y, sensitive_features=s
    )
    first = m.predict(X, sensitive_features=s)
    np.testing.assert_array_equal(first, m.predict(X, sensitive_features=s))
    proba = m.predict_proba(X, sensitive_features=s)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert proba.min() >= 0 and proba.max() <= 1
    # Rows with a certain decision follow it; only in-band rows are drawn.
    sure = (proba[:, 1] == 0) | (proba[:, 1] == 1)
    np.testing.assert_array_equal(first[sure], proba[sure, 1].astype(int))
    # The realised disparity follows the expected one.
    assert abs(_dp(first, s) - _dp(proba[:, 1], s)) < 0.06


def test_sensitive_features_required_at_predict(data, base):
    X, y, s = data
    m = ThresholdPostProcessor(base, prefit=True, **GRID).fit(X, y, sensitive_features=s)
    assert ThresholdPostProcessor.needs_sensitive_at_predict is True
    with pytest.raises(ValueError, match="sensitive_features="):
        m.predict(X)
    with pytest.warns(UserWarning, match=r"\['c'\] were not seen"):
        m.predict(X[:5], sensitive_features=["a", "b", "c", "a", "a"])


def test_small_and_one_sided_groups_are_pooled(data, base):
    X, y, s = data
    s = np.asarray(s, dtype=object).copy()
    y = np.asarray(y).copy()
    # Two tiny groups, one of them with a single outcome: fairlearn alone raises on these.
    s[:6] = "tiny"
    s[6:9] = "one-sided"
    y[6:9] = 1
    m = ThresholdPostProcessor(base, prefit=True, **GRID).fit(X, y, sensitive_features=s)
    assert set(m.pooled_groups_) == {"tiny", "one-sided"}
    p = m.predict_proba(X[:12], sensitive_features=s[:12])
    assert np.isfinite(p).all()


def test_without_groups_one_threshold_for_everyone(data):
    X, y, _ = data
    m = ThresholdPostProcessor(LogisticRegression(), **GRID).fit(X, y)
    assert m.max_tolerance_ == 0.0
    assert m.predict(X).shape == (len(y),)
    # The single best-accuracy threshold is at least as accurate as 0.5 on training data.
    assert m.score(X, y) >= LogisticRegression().fit(X, y).score(X, y) - 0.01


def test_intersections_string_labels_and_pickle(data):
    X, y, s = data
    other = np.random.default_rng(2).choice(["x", "y"], len(y))
    frame = pd.DataFrame({"s": s, "t": other})
    labels = np.where(y == 1, "good", "bad")
    m = ThresholdPostProcessor(LogisticRegression(), eta=1.0, **GRID).fit(
        X, labels, sensitive_features=frame
    )
    assert set(m.group_names_) == {"a & x", "a & y", "b & x", "b & y"}
    pred = m.predict(X, sensitive_features=frame)
    assert set(pred) <= {"good", "bad"}
    again = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(again.predict(X, sensitive_features=frame), pred)


def test_prefit_model_with_original_labels_and_predict_method(data):
    X, y, s = data
    labels = np.where(y == 1, "yes", "no")
    fitted = LogisticRegression().fit(X, labels)
    m = ThresholdPostProcessor(fitted, prefit=True, **GRID).fit(X, labels, sensitive_features=s)
    ref = ThresholdPostProcessor(LogisticRegression().fit(X, y), prefit=True, **GRID).fit(
        X, y, sensitive_features=s
    )
    np.testing.assert_allclose(
        m.predict_proba(X, sensitive_features=s), ref.predict_proba(X, sensitive_features=s)
    )
    hard = ThresholdPostProcessor(fitted, prefit=True, predict_method="predict", **GRID).fit(
        X, labels, sensitive_features=s
    )
    assert hard.constraint_gap_ < 0.01


def test_pipeline_with_sensitive_column(data):
    X, y, s = data
    df = pd.DataFrame(X, columns=["x0", "x1", "x2"]).assign(group=s)
    pipe = Pipeline([("clf", ThresholdPostProcessor(
        LogisticRegression(), sensitive_feature_names=["group"], **GRID))])
    pipe.fit(df, y)
    assert pipe.predict(df).shape == (len(y),)
    direct = ThresholdPostProcessor(LogisticRegression(), **GRID).fit(X, y, sensitive_features=s)
    np.testing.assert_allclose(
        pipe.predict_proba(df), direct.predict_proba(X, sensitive_features=s)
    )


def test_bad_arguments(data):
    X, y, s = data
    with pytest.raises(ValueError, match="unknown constraint"):
        ThresholdPostProcessor(constraint="calibration").fit(X, y, sensitive_features=s)
    with pytest.raises(ValueError, match="eta"):
        ThresholdPostProcessor(eta=2.0, **GRID).fit(X, y, sensitive_features=s)


# -- float32 regression ------------------------------------------------------------------------


class _Float32Model(ClassifierMixin, BaseEstimator):
    """A model whose probabilities are float32, like many torch / ONNX exports."""

    def fit(self, X, y):
        self.model_ = LogisticRegression().fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X).astype(np.float32)

    def predict(self, X):
        return self.model_.predict(X)


def test_fairlearn_float32_bug_is_reproduced(data):
    """fairlearn 0.15's ThresholdOptimizer.predict writes float64 probabilities into a float32
    Series; pandas 3 refuses that with a TypeError. If this starts passing, upstream fixed it
    and the guard below is merely harmless."""
    X, y, s = data
    opt = ThresholdOptimizer(estimator=_Float32Model().fit(X, y), prefit=True,
                             predict_method="predict_proba", grid_size=200)
    opt.fit(X, y, sensitive_features=s)
    try:
        opt.predict(X, sensitive_features=s, random_state=0)
    except TypeError as err:
        assert "float32" in str(err)
    else:
        pytest.skip("fairlearn/pandas no longer raise on float32 scores")


def test_float32_scores_are_guarded(data):
    X, y, s = data
    f32 = ThresholdPostProcessor(_Float32Model(), eta=0.5, **GRID).fit(X, y, sensitive_features=s)
    f64 = ThresholdPostProcessor(LogisticRegression(), eta=0.5, **GRID).fit(
        X, y, sensitive_features=s
    )
    np.testing.assert_allclose(
        f32.predict_proba(X, sensitive_features=s), f64.predict_proba(X, sensitive_features=s),
        atol=1e-6,
    )
    np.testing.assert_array_equal(
        f32.predict(X, sensitive_features=s), f64.predict(X, sensitive_features=s)
    )


# -- scikit-learn conformance ------------------------------------------------------------------

_XFAIL = {
    "check_sample_weight_equivalence_on_dense_data": (
        "fairlearn's threshold search has no sample weights: weights reach the base model only"
    ),
    "check_classifiers_train": (
        "predict resolves randomized thresholds with a seeded draw (so parity holds in "
        "expectation); rows between a group's two thresholds can disagree with "
        "argmax(predict_proba), by design"
    ),
}
# The same reason with sparse X, which reaches the base model as it is.
_XFAIL["check_sample_weight_equivalence_on_sparse_data"] = _XFAIL[
    "check_sample_weight_equivalence_on_dense_data"]


@parametrize_with_checks(
    [ThresholdPostProcessor(grid_size=20)], expected_failed_checks=lambda est: _XFAIL
)
def test_sklearn_checks(estimator, check):
    check(estimator)
