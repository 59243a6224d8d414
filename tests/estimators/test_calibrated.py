"""The classifier trained and group-calibrated on separate rows."""

import pickle

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit as _sigmoid
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from fairkit.diagnostics import calibration_by_group
from fairkit.estimators import CalibratedGroupClassifier


def _group_shift_data(n, seed):
    """The label depends on the group, the features do not show it: a global model is
    miscalibrated for each group."""
    rng = np.random.default_rng(seed)
    g = rng.choice(["a", "b"], n)
    X = rng.normal(size=(n, 2))
    logit = 1.5 * X[:, 0] + np.where(g == "a", 1.0, -1.0)
    y = rng.binomial(1, _sigmoid(logit))
    return X, y, g


def test_calibrated_group_classifier_fixes_group_miscalibration():
    X, y, g = _group_shift_data(4000, 0)
    Xt, yt, gt = _group_shift_data(10000, 1)
    base = LogisticRegression().fit(X, y)
    before = calibration_by_group(yt, base.predict_proba(Xt)[:, 1], gt).attrs["max_group_ece"]
    clf = CalibratedGroupClassifier(LogisticRegression(), method="platt").fit(
        X, y, sensitive_features=g
    )
    proba = clf.predict_proba(Xt, sensitive_features=gt)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    after = calibration_by_group(yt, proba[:, 1], gt).attrs["max_group_ece"]
    assert before > 0.08 and after < 0.04
    assert set(clf.predict(Xt, sensitive_features=gt)) <= {0, 1}
    with pytest.raises(ValueError, match="sensitive_features"):
        clf.predict_proba(Xt)
    assert CalibratedGroupClassifier.needs_sensitive_at_predict is True


def test_calibrated_group_classifier_prefit_and_calibration_set():
    X, y, g = _group_shift_data(3000, 2)
    base = LogisticRegression().fit(X[:1500], y[:1500])
    pre = CalibratedGroupClassifier(base, method="isotonic", prefit=True).fit(
        X[1500:], y[1500:], sensitive_features=g[1500:]
    )
    assert pre.estimator_ is base
    explicit = CalibratedGroupClassifier(LogisticRegression(), method="platt").fit(
        X[:1500], y[:1500], sensitive_features=g[:1500],
        calibration_set=(X[1500:], y[1500:], g[1500:]),
    )
    for model in (pre, explicit):
        p = model.predict_proba(X[:10], sensitive_features=g[:10])
        assert p.shape == (10, 2)
    with pytest.raises(ValueError, match="calibration_set"):
        CalibratedGroupClassifier().fit(
            X, y, sensitive_features=g, calibration_set=(X[:100], y[:100])
        )


def test_calibrated_group_classifier_string_labels_and_pickle():
    X, y, g = _group_shift_data(1500, 3)
    labels = np.where(y == 1, "yes", "no")
    clf = CalibratedGroupClassifier(method="temperature").fit(X, labels, sensitive_features=g)
    assert list(clf.classes_) == ["no", "yes"]
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(
        again.predict_proba(X[:20], sensitive_features=g[:20]),
        clf.predict_proba(X[:20], sensitive_features=g[:20]),
    )


_CGC_XFAIL = {
    "check_sample_weight_equivalence_on_dense_data": (
        "the train / calibration split is drawn over rows, so a repeated row and a weighted "
        "row land in different splits"
    ),
}
# The same split with sparse X.
_CGC_XFAIL["check_sample_weight_equivalence_on_sparse_data"] = _CGC_XFAIL[
    "check_sample_weight_equivalence_on_dense_data"]


#: Isotonic maps give many rows exactly 0.5: ``predict`` selects a row whose probability is at
#: least the threshold (0.5), the rule every fairkit surface states, where scikit-learn's check
#: reads the class of ``argmax(predict_proba)``, the first one at a tie (calibration audit, session
#: 50: the check ran on Platt only, while README says every estimator passes it).
_ISOTONIC_XFAIL = {**_CGC_XFAIL, "check_classifiers_train": (
    "an isotonic map's exact 0.5 is selected (at least the 0.5 threshold), where argmax picks the first class")}


@parametrize_with_checks(
    [CalibratedGroupClassifier(method=m) for m in ("platt", "isotonic", "temperature")],
    expected_failed_checks=lambda est: _ISOTONIC_XFAIL if est.method == "isotonic" else _CGC_XFAIL,
)
def test_calibrated_group_classifier_sklearn_checks(estimator, check):
    check(estimator)


def test_predict_decides_with_the_one_rule(monkeypatch):
    """A calibrated probability of exactly 0.5 is a positive decision, as in every report."""
    X, y, g = _group_shift_data(400, 3)
    clf = CalibratedGroupClassifier(LogisticRegression(), method="platt").fit(X, y, sensitive_features=g)
    half = np.column_stack([np.full(len(X), 0.5), np.full(len(X), 0.5)])
    monkeypatch.setattr(type(clf), "predict_proba", lambda self, X, sensitive_features=None: half)
    assert (clf.predict(X, sensitive_features=g) == clf.classes_[1]).all()


def test_groups_read_from_named_columns_of_X_in_a_pipeline():
    """``sensitive_feature_names``, as the threshold models take it: a Pipeline without routing
    gives the same probabilities as passing the groups directly, with or without the column."""
    import pandas as pd
    from sklearn.pipeline import Pipeline

    X, y, g = _group_shift_data(2000, 4)
    df = pd.DataFrame(X, columns=["x0", "x1"]).assign(group=g)
    direct = CalibratedGroupClassifier(LogisticRegression()).fit(X, y, sensitive_features=g)
    pipe = Pipeline([("clf", CalibratedGroupClassifier(LogisticRegression(), sensitive_feature_names=["group"]))])
    pipe.fit(df, y)
    np.testing.assert_allclose(pipe.predict_proba(df), direct.predict_proba(X, sensitive_features=g))
    assert list(pipe[-1].estimator_.feature_names_in_) == ["x0", "x1"]  # the column is dropped
    assert pipe[-1].fitted_with_groups_
    # Explicit groups win over the column; the calibration set's groups come from its column.
    explicit = CalibratedGroupClassifier(LogisticRegression(), sensitive_feature_names="group").fit(
        df.iloc[:1200], y[:1200], calibration_set=(df.iloc[1200:], y[1200:]))
    ref = CalibratedGroupClassifier(LogisticRegression()).fit(
        X[:1200], y[:1200], sensitive_features=g[:1200], calibration_set=(X[1200:], y[1200:], g[1200:]))
    np.testing.assert_allclose(explicit.predict_proba(df), ref.predict_proba(X, sensitive_features=g))
    with pytest.raises(ValueError, match=r"sensitive_feature_names \['sex'\] are not columns"):
        CalibratedGroupClassifier(sensitive_feature_names=["sex"]).fit(df, y)
    # Without names and without groups the message says both ways.
    with pytest.raises(ValueError, match="sensitive_feature_names="):
        direct.predict_proba(X)


def _mixed_frame(n=900, seed=0):
    """A frame with a text column a Pipeline encodes (an estimator on raw X cannot read it)."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n)
    job = rng.choice(["clerk", "nurse", "driver"], n)
    x = rng.normal(size=n) + (sex == "M")
    y = (x + (job == "nurse") + rng.normal(size=n) > 0.7).astype(int)
    return pd.DataFrame({"x": x, "job": job}), y, pd.Series(sex, name="sex")


def _pipeline():
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer([("num", StandardScaler(), ["x"]), ("cat", OneHotEncoder(), ["job"])])
    return make_pipeline(pre, LogisticRegression())


def test_a_pipeline_base_is_fitted_without_the_groups_it_cannot_take():
    """A fit(**params) (a Pipeline, bagging) counted as taking sensitive_features, which it then
    refused ("Pipeline.fit does not accept the sensitive_features parameter"); it is handed them
    only when routing is on and it asks for them."""
    import sklearn
    from sklearn.ensemble import BaggingClassifier

    X, y, s = _mixed_frame()
    for base in (_pipeline(), BaggingClassifier(LogisticRegression(), n_estimators=3, random_state=0)):
        data = X if base.__class__.__name__ == "Pipeline" else X[["x"]]
        est = CalibratedGroupClassifier(base, method="platt").fit(data, y, sensitive_features=s)
        assert est.predict_proba(data, sensitive_features=s).shape == (len(y), 2)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = _pipeline()
        pipe.steps[-1][1].set_fit_request(sample_weight=False)
        CalibratedGroupClassifier(pipe, method="platt").fit(X, y, sensitive_features=s)


def test_calibrated_prediction_refuses_groups_that_are_not_fits():
    X, y, s = _mixed_frame()
    S = pd.DataFrame({"sex": s, "band": np.where(X["x"] > 0, "hi", "lo")})
    est = CalibratedGroupClassifier(_pipeline(), method="platt").fit(X, y, sensitive_features=S)
    with pytest.raises(ValueError, match="in another order"):
        est.predict(X, sensitive_features=S[["band", "sex"]])
    with pytest.warns(UserWarning, match="None of the rows' groups was seen.*spelling"):
        est.predict(X, sensitive_features=S.apply(lambda c: c.str.upper()))


def test_a_pipeline_base_takes_row_weights_with_routing_off_and_on():
    """A Pipeline base refused a bare sample_weight without routing, and the wrappers had no way
    to name its step; they hand it over as <last step>__sample_weight (on: as routed)."""
    import sklearn

    from fairkit.estimators import ThresholdPostProcessor

    X, y, s = _mixed_frame()
    w = np.where(np.arange(len(y)) % 3 == 0, 2.0, 1.0)
    for make in (lambda base: CalibratedGroupClassifier(base, method="platt"),
                 lambda base: ThresholdPostProcessor(base, thresholds_from="train")):
        plain = make(_pipeline()).fit(X, y, sensitive_features=s)
        weighted = make(_pipeline()).fit(X, y, sensitive_features=s, sample_weight=w)
        assert not np.allclose(plain.estimator_.steps[-1][1].coef_, weighted.estimator_.steps[-1][1].coef_)
        with sklearn.config_context(enable_metadata_routing=True):
            pipe = _pipeline()
            pipe.steps[0][1].transformers[0][1].set_fit_request(sample_weight=False)  # the scaler: unweighted
            pipe.steps[-1][1].set_fit_request(sample_weight=True)
            routed = make(pipe).fit(X, y, sensitive_features=s, sample_weight=w)
        np.testing.assert_allclose(routed.estimator_.steps[-1][1].coef_, weighted.estimator_.steps[-1][1].coef_)
