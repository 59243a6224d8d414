"""A classifier trained and group-calibrated on separate rows.

:class:`CalibratedGroupClassifier` wraps any binary classifier: it trains the model on one part
of the data and a :class:`fairkit.calibration.GroupFairnessCalibrator` on the rest. It lives
with the other estimators, apart from :mod:`fairkit.calibration`, because it is an estimator
with the package's ``fit(X, y, *, sensitive_features=None, sample_weight=None)`` signature,
whereas the calibration module holds score-to-probability maps that never see features.
"""

from __future__ import annotations

import inspect

import numpy as np
from scipy import sparse
from sklearn import get_config
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.utils.metadata_routing import get_routing_for_object
from sklearn.utils.validation import check_is_fitted

from fairkit.calibration import GroupFairnessCalibrator, _group_frame
from fairkit.estimators._inputs import fit_weighted
from fairkit.estimators.reductions import (
    BinaryWrapperTagsMixin,
    GroupScoreMixin,
    _check_fit_inputs,
    _check_predict_input,
    _for_base,
    missing_groups_message,
    split_sensitive_columns,
)
from fairkit import stats
from fairkit.groups import MIN_GROUP_SIZE, group_labels, stratification_labels

__all__ = ["CalibratedGroupClassifier"]


def _accepts(estimator, name: str) -> bool:
    """Whether ``estimator.fit`` takes the keyword ``name``: by name, or, for a ``fit(**params)``
    (a Pipeline, a search, a bagging ensemble), only when metadata routing is on and the object
    requests it. Such a ``fit`` refuses keywords it cannot route, so passing one by default made a
    Pipeline base fail ("Pipeline.fit does not accept the sensitive_features parameter")."""
    try:
        params = inspect.signature(estimator.fit).parameters
    except (TypeError, ValueError):
        return False
    if name in params:
        return True
    if not any(p.kind == p.VAR_KEYWORD for p in params.values()) or not get_config().get("enable_metadata_routing"):
        return False
    try:
        return name in get_routing_for_object(estimator).consumes("fit", [name])
    except Exception:  # an object without routing support consumes nothing
        return False


def _positive_scores(estimator, X, positive_index: int = 1):
    """Positive-class scores and their scale ("proba" or "logit")."""
    if hasattr(estimator, "predict_proba"):
        proba = np.asarray(estimator.predict_proba(X), dtype=np.float64)
        return proba[:, positive_index], "proba"
    if hasattr(estimator, "decision_function"):
        return np.asarray(estimator.decision_function(X), dtype=np.float64).ravel(), "logit"
    raise TypeError(
        f"{type(estimator).__name__} has neither predict_proba nor decision_function; "
        "it cannot be calibrated"
    )


class CalibratedGroupClassifier(BinaryWrapperTagsMixin, GroupScoreMixin, ClassifierMixin, BaseEstimator):
    """A classifier whose probabilities are calibrated per group on held-out data.

    ``fit`` trains ``estimator`` on one part of the data and a :class:`GroupFairnessCalibrator`
    on the rest (or on an explicit calibration set), so the calibration maps are not fitted on
    scores the model has memorised.

    Parameters
    ----------
    estimator : classifier, optional
        Any binary classifier with ``predict_proba`` or ``decision_function`` (scikit-learn,
        XGBoost-style, or a fairkit estimator; ``sensitive_features`` is passed to its ``fit``
        when that names the parameter, or, for a ``fit(**params)`` such as a ``Pipeline``'s,
        when metadata routing is on and it requests them: a ``Pipeline`` refuses keywords it
        cannot route, so a base that reads the groups through ``**kwargs`` needs routing).
        Sample weights reach a ``Pipeline`` base as ``<last step>__sample_weight`` without
        routing. Defaults to ``LogisticRegression()``.
    method : {"platt", "isotonic", "temperature"}, default="platt"
        Calibration method, see :class:`GroupFairnessCalibrator`. Platt by default: in the
        cross-fitted COMPAS benchmark (benchmarks/calibration_results.md) isotonic maps
        fitted on a few hundred rows per group made an already calibrated model measurably
        worse (ECE 0.014 -> 0.029), while Platt and temperature stayed at the noise floor.
    calibration_fraction : float, default=0.3
        Share of the rows held out for calibration (stratified by group x label when possible).
        Ignored when ``prefit=True`` or a ``calibration_set`` is given to ``fit``.
    min_group_size : int, default=30
        See :class:`GroupFairnessCalibrator`.
    shrinkage : bool or float, default=False
        See :class:`GroupFairnessCalibrator`.
    prefit : bool, default=False
        ``estimator`` is already fitted: all of ``fit``'s rows are used for calibration.
    random_state : int, default=0
        Seed of the train / calibration split.
    sensitive_feature_names : list of str or int, optional
        Columns of ``X`` that hold the sensitive features (used when ``sensitive_features`` is
        not passed), so the model runs in a ``Pipeline`` without metadata routing, as
        :class:`~fairkit.estimators.ThresholdPostProcessor` and
        :class:`~fairkit.estimators.ReductionsWrapper` take them.
    drop_sensitive_features : bool, default=True
        Remove those columns before ``X`` reaches ``estimator``.

    Attributes
    ----------
    estimator_ : classifier
        The fitted base model.
    calibrator_ : GroupFairnessCalibrator
        The fitted calibration maps.
    classes_ : ndarray of shape (2,)
    """

    #: Group-specific maps need the group of each row to score it (when fitted with groups).
    needs_sensitive_at_predict = True

    def __init__(
        self,
        estimator=None,
        method: str = "platt",
        calibration_fraction: float = 0.3,
        min_group_size: int = MIN_GROUP_SIZE,
        shrinkage: bool | float = False,
        prefit: bool = False,
        random_state: int = 0,
        sensitive_feature_names=None,
        drop_sensitive_features: bool = True,
    ):
        self.estimator = estimator
        self.method = method
        self.calibration_fraction = calibration_fraction
        self.min_group_size = min_group_size
        self.shrinkage = shrinkage
        self.prefit = prefit
        self.random_state = random_state
        self.sensitive_feature_names = sensitive_feature_names
        self.drop_sensitive_features = drop_sensitive_features

    def _split(self, n, y_enc, groups):
        frac = float(self.calibration_fraction)
        if not 0 < frac < 1:
            raise ValueError(f"calibration_fraction must be in (0, 1), got {frac}")
        idx = np.arange(n)
        strata_options = []
        if groups is not None:
            strata_options.append(stratification_labels(group_labels(groups), y_enc, 2))
        strata_options.append(y_enc)
        for strata in strata_options + [None]:
            if strata is not None:
                _, counts = np.unique(strata, return_counts=True)
                if counts.min() < 2:
                    continue
            try:
                return train_test_split(
                    idx, test_size=frac, random_state=self.random_state, stratify=strata
                )
            except ValueError:
                continue
        raise ValueError(f"cannot split {n} rows into train and calibration parts")

    def fit(self, X, y, *, sensitive_features=None, sample_weight=None, calibration_set=None):
        """Fit the base model and its group calibrator on separate rows.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Binary labels.
        sensitive_features : array-like, Series or DataFrame, optional
            Groups to calibrate separately (several columns give intersections). ``None``
            calibrates globally (or by the ``sensitive_feature_names`` columns of ``X``).
        sample_weight : array-like of shape (n_samples,), optional
            Passed to the base model's ``fit`` and to the calibrator.
        calibration_set : tuple, optional
            ``(X_cal, y_cal)`` or ``(X_cal, y_cal, sensitive_cal)``: calibrate on this data
            and train the base model on all of ``X`` (``X_cal`` with the same columns as ``X``:
            with ``sensitive_feature_names`` its groups are read from them too).

        Returns
        -------
        self
        """
        X, y_arr, self.classes_, sw = _check_fit_inputs(self, X, y, sample_weight)
        X, sensitive_features = self._split_columns(X, sensitive_features)
        y_enc = (y_arr == self.classes_[1]).astype(int)
        n = len(y_enc)
        groups = None if sensitive_features is None else _group_frame(sensitive_features, n)
        base = LogisticRegression() if self.estimator is None else self.estimator
        X = _for_base(X, base)

        def take(A, rows):
            if A is None:
                return None
            if hasattr(A, "iloc"):
                return A.iloc[rows]
            if sparse.issparse(A):
                return A[rows]
            return np.asarray(A)[rows] if not isinstance(A, list) else [A[i] for i in rows]

        if self.prefit:
            check_is_fitted(base)
            self.estimator_ = base
            cal = (X, y_enc, groups, sw)
        elif calibration_set is not None:
            self.estimator_ = self._fit_base(base, X, y_enc, groups, sw)
            X_cal, g_cal = self._split_columns(_check_predict_input(self, calibration_set[0]),
                                               calibration_set[2] if len(calibration_set) > 2 else None)
            X_cal, y_cal = _for_base(X_cal, base), np.asarray(calibration_set[1])
            y_cal = (y_cal == self.classes_[1]).astype(int)
            if (g_cal is None) != (groups is None):
                raise ValueError(
                    "calibration_set must carry sensitive features exactly when fit does"
                )
            g_cal = None if g_cal is None else _group_frame(g_cal, len(y_cal))
            cal = (X_cal, y_cal, g_cal, None)
        else:
            tr, ca = self._split(n, y_enc, groups)
            self.estimator_ = self._fit_base(
                base, take(X, tr), y_enc[tr], take(groups, tr), take(sw, tr)
            )
            cal = (take(X, ca), y_enc[ca], take(groups, ca), take(sw, ca))

        X_cal, y_cal, g_cal, w_cal = cal
        pos = self._positive_index()
        scores, scale = _positive_scores(self.estimator_, X_cal, pos)
        self.score_scale_ = scale
        self.calibrator_ = GroupFairnessCalibrator(
            method=self.method,
            input=scale,
            min_group_size=self.min_group_size,
            shrinkage=self.shrinkage,
        )
        if len(np.unique(y_cal)) < 2:
            raise ValueError("the calibration part holds a single class; add data")
        self.calibrator_.fit(scores, y_cal, g_cal, sample_weight=w_cal)
        self.fitted_with_groups_ = groups is not None
        return self

    def _split_columns(self, X, sensitive_features):
        """``(X for the base model, sensitive features)``: the explicit ones, else the
        ``sensitive_feature_names`` columns of ``X`` (removed with ``drop_sensitive_features``)."""
        return split_sensitive_columns(X, sensitive_features, self.sensitive_feature_names,
                                       self.drop_sensitive_features)

    def _positive_index(self) -> int:
        # The base model is trained on 0/1 labels, so 1 is its positive class.
        classes = getattr(self.estimator_, "classes_", None)
        if classes is None:
            return 1
        hits = np.flatnonzero(np.asarray(classes) == 1)
        return int(hits[0]) if len(hits) else len(classes) - 1

    @staticmethod
    def _fit_base(base, X, y, groups, sw):
        est = clone(base, safe=False)
        kwargs = {}
        if groups is not None and _accepts(est, "sensitive_features"):
            kwargs["sensitive_features"] = groups
        return fit_weighted(est, X, y, sw, **kwargs)

    def predict_proba(self, X, *, sensitive_features=None) -> np.ndarray:
        """Calibrated class probabilities, columns ordered as ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        sensitive_features : array-like, Series or DataFrame
            Required when the model was fitted with sensitive features.

        Returns
        -------
        ndarray of shape (n_samples, 2)
        """
        check_is_fitted(self, "calibrator_")
        X, sensitive_features = self._split_columns(_check_predict_input(self, X), sensitive_features)
        X = _for_base(X, self.estimator_)
        if self.fitted_with_groups_ and sensitive_features is None:
            raise ValueError(missing_groups_message(
                self, " (it was fitted with per-group calibration); or fit and predict with "
                "sensitive_feature_names= naming the column(s) of X that hold the groups"))
        scores, _ = _positive_scores(self.estimator_, X, self._positive_index())
        groups = sensitive_features if self.fitted_with_groups_ else None
        p = self.calibrator_.transform(scores, groups)
        return np.column_stack([1 - p, p])

    def predict(self, X, *, sensitive_features=None) -> np.ndarray:
        """Class with calibrated probability of at least 0.5 (:func:`fairkit.stats.decide`).

        Parameters
        ----------
        X, sensitive_features
            As in :meth:`predict_proba`.

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels of ``classes_``.
        """
        p = self.predict_proba(X, sensitive_features=sensitive_features)[:, 1]
        return self.classes_[stats.decide(p).astype(int)]
