"""ReductionsWrapper: fairlearn reductions with real probabilities, weights and sklearn plumbing."""

import pickle

import numpy as np
import pandas as pd
import pytest
from fairlearn.reductions import DemographicParity, EqualizedOdds
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from fairkit.estimators.reductions import ReductionsWrapper, make_moment

FAST = {"max_iter": 5}


def _data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    s = rng.choice(["a", "b"], n, p=[0.6, 0.4])
    X = rng.normal(size=(n, 3))
    X[:, 0] += np.where(s == "a", 1.0, 0.0)  # group shows in the features: the model is unfair
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.8, size=n) > 0.3).astype(int)
    return X, y, s


def _dp(pred, s):
    rates = pd.Series(pred).groupby(s).mean()
    return float(rates.max() - rates.min())


@pytest.fixture(scope="module")
def data():
    return _data()


@pytest.fixture(scope="module")
def fitted(data):
    X, y, s = data
    return ReductionsWrapper(LogisticRegression(), eta=1.0, **FAST).fit(
        X, y, sensitive_features=s
    )


def test_bound_from_eta_is_monotone_and_documented():
    bounds = [ReductionsWrapper.bound_from_eta(e, 0.2) for e in np.linspace(0, 1, 6)]
    assert bounds[0] == pytest.approx(0.2) and bounds[-1] == 0.0
    assert all(a > b for a, b in zip(bounds, bounds[1:]))
    assert "max_bound * (1 - eta)" in ReductionsWrapper.__doc__
    with pytest.raises(ValueError, match="eta"):
        ReductionsWrapper.bound_from_eta(1.5, 0.2)


def test_eta_tightens_the_constraint(data):
    X, y, s = data
    loose = ReductionsWrapper(LogisticRegression(), eta=0.0, **FAST).fit(X, y, sensitive_features=s)
    tight = ReductionsWrapper(LogisticRegression(), eta=1.0, **FAST).fit(X, y, sensitive_features=s)
    # eta=0 allows the unconstrained gap: the solution is the plain model.
    assert loose.constraint_bound_ == pytest.approx(loose.max_bound_)
    assert tight.constraint_bound_ == 0.0
    assert tight.constraint_gap_randomized_ < 0.5 * loose.constraint_gap_randomized_
    assert _dp(tight.predict(X), s) < _dp(loose.predict(X), s)
    assert tight.score(X, y) <= loose.score(X, y) + 1e-9


def test_predict_proba_is_a_real_mixture(fitted, data):
    X, _, _ = data
    proba = fitted.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert len(np.unique(proba[:, 1])) > 10  # not hard labels
    assert len(fitted.predictors_) >= 2
    np.testing.assert_allclose(fitted.weights_.sum(), 1.0)
    manual = sum(
        w * est.predict_proba(X)[:, list(est.classes_).index(1)]
        if 1 in est.classes_ else np.zeros(len(X))
        for w, est in zip(fitted.weights_, fitted.predictors_)
    )
    np.testing.assert_allclose(proba[:, 1], manual)
    # Deterministic: predict is the thresholded mixture, identical on every call.
    np.testing.assert_array_equal(fitted.predict(X), (proba[:, 1] > 0.5).astype(int))
    np.testing.assert_array_equal(fitted.predict(X), fitted.predict(X))
    assert fitted.constraint_violation_ >= 0.0
    assert ReductionsWrapper.needs_sensitive_at_predict is False


def test_randomized_predict_is_seeded(data):
    X, y, s = data
    model = ReductionsWrapper(LogisticRegression(), randomized=True, random_state=3, **FAST)
    model.fit(X, y, sensitive_features=s)
    first = model.predict(X)
    np.testing.assert_array_equal(first, model.predict(X))
    assert model.constraint_gap_ == pytest.approx(model.constraint_gap_randomized_, abs=0.1)


def test_integer_weights_equal_duplicated_rows(data):
    X, y, s = data
    w = np.random.default_rng(1).integers(0, 4, len(y))
    idx = np.repeat(np.arange(len(y)), w)
    weighted = ReductionsWrapper(LogisticRegression(), eta=0.5, **FAST).fit(
        X, y, sensitive_features=s, sample_weight=w
    )
    duplicated = ReductionsWrapper(LogisticRegression(), eta=0.5, **FAST).fit(
        X[idx], y[idx], sensitive_features=s[idx]
    )
    np.testing.assert_allclose(weighted.predict_proba(X), duplicated.predict_proba(X), atol=1e-6)
    assert weighted.max_bound_ == pytest.approx(duplicated.max_bound_)
    assert weighted.constraint_gap_ == pytest.approx(duplicated.constraint_gap_)
    unweighted = ReductionsWrapper(LogisticRegression(), eta=0.5, **FAST).fit(
        X, y, sensitive_features=s
    )
    assert np.abs(unweighted.predict_proba(X) - weighted.predict_proba(X)).max() > 0.01


def test_weights_change_the_group_balance(data):
    X, y, s = data
    # Up-weighting group b changes what "parity" and "error" mean, so the result moves.
    w = np.where(s == "b", 5.0, 1.0)
    base = ReductionsWrapper(LogisticRegression(), eta=1.0, **FAST).fit(X, y, sensitive_features=s)
    up = ReductionsWrapper(LogisticRegression(), eta=1.0, **FAST).fit(
        X, y, sensitive_features=s, sample_weight=w
    )
    assert not np.allclose(base.predict_proba(X), up.predict_proba(X))
    with pytest.raises(ValueError, match="non-negative"):
        ReductionsWrapper().fit(X, y, sensitive_features=s, sample_weight=-w)


def test_without_sensitive_features_it_is_the_plain_estimator(data):
    X, y, _ = data
    w = np.linspace(0.5, 2, len(y))
    wrapped = ReductionsWrapper(LogisticRegression(C=0.5)).fit(X, y, sample_weight=w)
    plain = LogisticRegression(C=0.5).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(wrapped.predict_proba(X), plain.predict_proba(X))
    assert np.isnan(wrapped.constraint_gap_)


def test_grid_search_and_other_constraints(data):
    X, y, s = data
    gs = ReductionsWrapper(LogisticRegression(), reduction="grid_search", grid_size=7).fit(
        X, y, sensitive_features=s
    )
    assert len(gs.predictors_) == 1 and gs.weights_[0] == 1.0
    for name in ("equalized_odds", "true_positive_rate_parity", "error_rate_parity"):
        m = ReductionsWrapper(LogisticRegression(), constraint=name, max_iter=3).fit(
            X, y, sensitive_features=s
        )
        assert m.predict_proba(X).shape == (len(y), 2)
    moment = ReductionsWrapper(
        LogisticRegression(), constraint=EqualizedOdds(difference_bound=0.05), max_iter=3
    ).fit(X, y, sensitive_features=s, sample_weight=np.ones(len(y)))
    assert moment.constraint_bound_ == pytest.approx(0.05)
    with pytest.raises(ValueError, match="unknown constraint"):
        ReductionsWrapper(constraint="parity").fit(X, y, sensitive_features=s)
    with pytest.raises(ValueError, match="reduction"):
        ReductionsWrapper(reduction="annealing").fit(X, y, sensitive_features=s)


def test_user_moment_is_not_mutated(data):
    X, y, s = data
    moment = DemographicParity(difference_bound=0.02)
    ReductionsWrapper(LogisticRegression(), constraint=moment, max_iter=3).fit(
        X, y, sensitive_features=s
    )
    assert moment.data_loaded is False
    assert make_moment(moment) is not moment


def test_intersectional_sensitive_frame(data):
    X, y, s = data
    other = np.random.default_rng(4).choice(["x", "y"], len(y))
    frame = pd.DataFrame({"s": s, "t": other})
    m = ReductionsWrapper(LogisticRegression(), max_iter=3).fit(X, y, sensitive_features=frame)
    assert np.isfinite(m.constraint_gap_)


def test_string_labels_and_pickle(data):
    X, y, s = data
    labels = np.where(y == 1, "approve", "deny")
    m = ReductionsWrapper(LogisticRegression(), max_iter=3).fit(X, labels, sensitive_features=s)
    assert set(m.predict(X)) <= {"approve", "deny"}
    # classes_ are sorted: "approve" is column 0.
    again = pickle.loads(pickle.dumps(m))
    np.testing.assert_allclose(again.predict_proba(X), m.predict_proba(X))
    np.testing.assert_array_equal(again.predict(X), m.predict(X))


class _BoosterLike:
    """Duck-typed, non-sklearn classifier (XGBoost-style API): fit with sample_weight."""

    def __init__(self, l2=1.0):
        self.l2 = l2

    def fit(self, X, y, sample_weight=None):
        self._m = LogisticRegression(C=1 / self.l2).fit(X, y, sample_weight=sample_weight)
        self.classes_ = self._m.classes_
        return self

    def predict(self, X):
        return self._m.predict(X)

    def predict_proba(self, X):
        return self._m.predict_proba(X)


def test_duck_typed_base_estimator(data):
    X, y, s = data
    m = ReductionsWrapper(_BoosterLike(), max_iter=3).fit(X, y, sensitive_features=s)
    assert np.isfinite(m.predict_proba(X)).all()


def test_fairkit_torch_estimator_as_base(data):
    est_mod = pytest.importorskip("fairkit.estimators.regularized")
    X, y, s = data
    base = est_mod.FairRegularizedClassifier(eta=0.0, max_epochs=3, random_state=0)
    m = ReductionsWrapper(base, max_iter=1).fit(X[:200], y[:200], sensitive_features=s[:200])
    assert m.predict_proba(X[:200]).shape == (200, 2)


# -- Pipeline / GridSearchCV -------------------------------------------------------------------


def _frame(X, s):
    df = pd.DataFrame(X, columns=["x0", "x1", "x2"])
    df["group"] = s
    return df


def test_pipeline_and_grid_search_with_sensitive_column(data):
    X, y, s = data
    df = _frame(X, s)
    prep = ColumnTransformer(
        [("num", StandardScaler(), ["x0", "x1", "x2"])],
        remainder="passthrough",
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    pipe = Pipeline(
        [("prep", prep),
         ("clf", ReductionsWrapper(LogisticRegression(), sensitive_feature_names=["group"],
                                   max_iter=3))]
    )
    pipe.fit(df, y)
    direct = ReductionsWrapper(LogisticRegression(), max_iter=3).fit(
        StandardScaler().fit_transform(X), y, sensitive_features=s
    )
    np.testing.assert_allclose(pipe.predict_proba(df), direct.predict_proba(
        StandardScaler().fit(X).transform(X)), atol=1e-8)
    search = GridSearchCV(pipe, {"clf__eta": [0.0, 1.0]}, cv=2).fit(df, y)
    assert search.best_params_["clf__eta"] in (0.0, 1.0)
    assert search.predict(df).shape == (len(y),)


def test_grid_search_routes_sensitive_features_as_fit_param(data):
    X, y, s = data
    pipe = Pipeline([("scale", StandardScaler()),
                     ("clf", ReductionsWrapper(LogisticRegression(), max_iter=3))])
    search = GridSearchCV(pipe, {"clf__eta": [0.5, 1.0]}, cv=2)
    search.fit(X, y, clf__sensitive_features=s)  # sliced per fold by GridSearchCV
    assert np.isfinite(search.best_estimator_.named_steps["clf"].constraint_gap_)


def test_sensitive_column_positions_for_arrays(data):
    X, y, s = data
    Xs = np.column_stack([X, (s == "a").astype(float)])
    m = ReductionsWrapper(LogisticRegression(), sensitive_feature_names=[3], max_iter=2).fit(Xs, y)
    ref = ReductionsWrapper(LogisticRegression(), max_iter=2).fit(
        X, y, sensitive_features=(s == "a").astype(float)
    )
    np.testing.assert_allclose(m.predict_proba(Xs), ref.predict_proba(X))
    with pytest.raises(ValueError, match="not columns of X"):
        ReductionsWrapper(sensitive_feature_names=["nope"]).fit(_frame(X, s), y)


# -- scikit-learn conformance ------------------------------------------------------------------

# No expected failures: without sensitive features the checks exercise the plain path, and the
# constrained path is covered by the tests above.
_XFAIL: dict = {}


@parametrize_with_checks(
    [ReductionsWrapper(max_iter=5)], expected_failed_checks=lambda est: _XFAIL
)
def test_sklearn_checks(estimator, check):
    check(estimator)
