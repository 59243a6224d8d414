"""Sparse X (scipy.sparse, as a ColumnTransformer with one-hot columns produces it) is accepted by
every estimator and predicts as its dense copy does; tables too large to expand are refused."""

import tracemalloc

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from fairkit.estimators import (
    CalibratedGroupClassifier,
    FairBoostingClassifier,
    FairRegularizedClassifier,
    ReductionsWrapper,
    ThresholdPostProcessor,
)
from fairkit.estimators import _inputs
from fairkit.estimators.batched import fit_eta_batch
from fairkit.methods import METHODS

# The registry's fast settings (tests/conftest.py) plus small budgets for the other methods.
FAST = {"max_epochs": 3, "hidden_layer_sizes": (), "batch_size": 128}
FAST_PARAMS = {**{m: FAST for m in ("unconstrained", "regularized", "linear", "lagrangian",
                                    "adversarial", "forml")},
               "threshold": {"base_params": {"n_estimators": 10}, "grid_size": 100},
               "inferred_threshold": {"base_params": {"n_estimators": 10}},
               "boosting": {"n_estimators": 20},
               "reductions": {"max_iter": 5}}


@pytest.fixture(scope="module")
def one_hot():
    """``(CSR from a ColumnTransformer with a sparse OneHotEncoder, y, group)``."""
    rng = np.random.default_rng(0)
    n = 800
    frame = pd.DataFrame({
        "job": rng.choice([f"j{i}" for i in range(12)], n),
        "region": rng.choice(list("abcdefg"), n),
        "age": rng.normal(40, 10, n),
    })
    group = rng.choice(["F", "M"], n)
    logit = (frame["job"].isin(["j1", "j2", "j3", "j4"]) * 1.5 + (frame["age"] - 40) / 10
             - 0.6 + 0.8 * (group == "M"))
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    ct = ColumnTransformer([("cat", OneHotEncoder(sparse_output=True), ["job", "region"]),
                            ("num", StandardScaler(), ["age"])], sparse_threshold=1.0)
    X = ct.fit_transform(frame)
    assert sparse.issparse(X) and X.format == "csr"
    return X, y, group


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_fits_sparse_and_predicts_as_on_the_dense_copy(name, one_hot):
    X, y, group = one_hot
    method = METHODS[name]
    eta = method.grid(3)[-1]
    dense_X = X.toarray()
    on_sparse = method.build(eta, 0, **FAST_PARAMS[name]).fit(X, y, sensitive_features=group)
    on_dense = method.build(eta, 0, **FAST_PARAMS[name]).fit(dense_X, y, sensitive_features=group)
    kw = {"sensitive_features": group} if method.needs_sensitive_at_predict else {}
    expected = on_dense.predict_proba(dense_X, **kw)
    np.testing.assert_allclose(on_sparse.predict_proba(X, **kw), expected, atol=1e-6)
    np.testing.assert_array_equal(on_sparse.predict(X, **kw), on_dense.predict(dense_X, **kw))
    # A model fitted on dense rows scores sparse rows alike.
    np.testing.assert_allclose(on_dense.predict_proba(X, **kw), expected, atol=1e-6)


@pytest.mark.parametrize("fmt", ["csc", "coo", "lil"])
def test_other_sparse_formats_are_read_as_csr(fmt, one_hot):
    X, y, group = one_hot
    kw = dict(FAST, random_state=0)
    ref = FairRegularizedClassifier(**kw).fit(X, y, sensitive_features=group)
    clf = FairRegularizedClassifier(**kw).fit(X.asformat(fmt), y, sensitive_features=group)
    np.testing.assert_allclose(clf.predict_proba(X.asformat(fmt)), ref.predict_proba(X), atol=1e-6)


def test_batched_etas_train_and_score_from_sparse(one_hot):
    X, y, group = one_hot
    template = FairRegularizedClassifier(hidden_layer_sizes=(8,), max_epochs=2, random_state=1)
    on_sparse = fit_eta_batch(template, [0.0, 2.0], X, y, sensitive_features=group)
    on_dense = fit_eta_batch(template, [0.0, 2.0], X.toarray(), y, sensitive_features=group)
    for sparse_model, dense_model in zip(on_sparse, on_dense):
        np.testing.assert_allclose(sparse_model.decision_function(X), dense_model.decision_function(X.toarray()),
                                   atol=1e-6)


def test_boosting_hands_lightgbm_the_sparse_table(one_hot, monkeypatch):
    import lightgbm as lgb

    X, y, group = one_hot
    seen = []
    real = lgb.Dataset

    def spy(data, *a, **k):
        seen.append(sparse.issparse(data))
        return real(data, *a, **k)

    monkeypatch.setattr(lgb, "Dataset", spy)
    FairBoostingClassifier(n_estimators=5, random_state=0).fit(X, y, sensitive_features=group)
    assert seen == [True]


class _SpyLogisticRegression(LogisticRegression):
    """Records whether each fit and predict_proba received sparse X."""

    seen: list = []

    def fit(self, X, y, sample_weight=None):
        _SpyLogisticRegression.seen.append(("fit", sparse.issparse(X)))
        return super().fit(X, y, sample_weight=sample_weight)

    def predict_proba(self, X):
        _SpyLogisticRegression.seen.append(("predict_proba", sparse.issparse(X)))
        return super().predict_proba(X)


@pytest.mark.parametrize("wrapper", [
    ThresholdPostProcessor(grid_size=50),
    CalibratedGroupClassifier(method="platt"),
    ReductionsWrapper(max_iter=3),  # without groups: the plain base fit
])
def test_wrappers_pass_sparse_to_a_base_that_accepts_it(wrapper, one_hot):
    X, y, group = one_hot
    _SpyLogisticRegression.seen = []
    wrapper = clone(wrapper).set_params(estimator=_SpyLogisticRegression())
    groups = None if isinstance(wrapper, ReductionsWrapper) else group
    wrapper.fit(X, y, sensitive_features=groups)
    wrapper.predict_proba(X, **({} if groups is None else {"sensitive_features": groups}))
    assert _SpyLogisticRegression.seen and all(is_sparse for _, is_sparse in _SpyLogisticRegression.seen)


def test_reductions_expand_sparse_for_fairlearn_and_match_dense(one_hot):
    X, y, group = one_hot
    kw = dict(estimator=LogisticRegression(max_iter=300), eta=0.8, max_iter=5, random_state=0)
    on_sparse = ReductionsWrapper(**kw).fit(X, y, sensitive_features=group)
    on_dense = ReductionsWrapper(**kw).fit(X.toarray(), y, sensitive_features=group)
    assert on_sparse.constraint_gap_ == pytest.approx(on_dense.constraint_gap_, abs=1e-9)
    np.testing.assert_allclose(on_sparse.predict_proba(X), on_dense.predict_proba(X.toarray()), atol=1e-6)


def test_wrappers_expand_sparse_for_a_base_that_needs_dense(one_hot):
    X, y, group = one_hot
    base = HistGradientBoostingClassifier(max_iter=10, random_state=0)  # refuses sparse X
    on_sparse = CalibratedGroupClassifier(base, method="platt").fit(X, y, sensitive_features=group)
    on_dense = CalibratedGroupClassifier(base, method="platt").fit(X.toarray(), y, sensitive_features=group)
    np.testing.assert_allclose(on_sparse.predict_proba(X, sensitive_features=group),
                               on_dense.predict_proba(X.toarray(), sensitive_features=group), atol=1e-6)


def test_a_table_too_large_to_expand_is_refused_with_its_shape():
    # 300,000 x 1,000 = 3e8 cells, over the 2e8 limit; no non-zeros, so the test itself is cheap.
    X = sparse.csr_matrix((300_000, 1_000))
    y = np.arange(300_000) % 2
    with pytest.raises(ValueError, match=r"300,000 rows x 1,000 columns.*over the limit of "
                                         r"200,000,000.*OneHotEncoder\(max_categories"):
        FairRegularizedClassifier(max_epochs=1).fit(X, y)


def test_the_limit_applies_to_the_wrappers_where_fairlearn_needs_dense(one_hot, monkeypatch):
    X, y, group = one_hot
    monkeypatch.setattr(_inputs, "MAX_DENSE_CELLS", X.shape[0] * X.shape[1] - 1)
    with pytest.raises(ValueError, match=f"{X.shape[0]} rows x {X.shape[1]} columns"):
        ReductionsWrapper(max_iter=2).fit(X, y, sensitive_features=group)
    # Where nothing needs the dense table, the limit does not apply.
    ReductionsWrapper(max_iter=2).fit(X, y)
    FairBoostingClassifier(n_estimators=3).fit(X, y, sensitive_features=group)


@pytest.mark.slow
def test_predicting_from_a_wide_sparse_table_expands_it_a_chunk_at_a_time():
    rng = np.random.default_rng(3)
    d = 4_000
    X_train = sparse.random(300, d, density=0.01, format="csr", random_state=1)
    y = rng.integers(0, 2, 300)
    clf = FairRegularizedClassifier(max_epochs=1, random_state=0).fit(X_train, y)
    # 60,000 x 4,000 would be 1.9 GB dense (and over the expansion limit).
    X = sparse.random(60_000, d, density=0.0005, format="csr", random_state=2)
    tracemalloc.start()
    try:
        scores = clf.decision_function(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200 * 2**20
    rows = [0, 31_337, 59_999]
    np.testing.assert_allclose(scores[rows], clf.decision_function(X[rows].toarray()), atol=1e-9)
