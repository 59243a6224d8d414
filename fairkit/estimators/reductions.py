"""Reductions approach (Agarwal et al., 2018) around fairlearn's ExponentiatedGradient / GridSearch.

:class:`ReductionsWrapper` turns any classifier that accepts ``sample_weight`` into a
fairness-constrained one, and adds what fairlearn's mitigators leave to the user:

* a deterministic ``predict`` and a real ``predict_proba`` (a weighted mixture of the base
  learners' probabilities, not of their hard labels);
* the user's ``sample_weight`` honoured everywhere: in the base learners' fits *and* in the
  constraint and error statistics, so integer weights behave like duplicated rows;
* one fairness knob ``eta`` mapped to the constraint bound;
* sensitive features from a fit parameter or from named columns of a DataFrame ``X``, so the
  wrapper works inside ``Pipeline`` and ``GridSearchCV`` without metadata routing.
"""

from __future__ import annotations

import contextlib
import copy
import warnings

import numpy as np
import pandas as pd
from fairlearn.reductions import (
    DemographicParity,
    EqualizedOdds,
    ErrorRate,
    ErrorRateParity,
    ExponentiatedGradient,
    FalsePositiveRateParity,
    GridSearch,
    Moment,
    TruePositiveRateParity,
)

# fairlearn names its bookkeeping columns with these private constants; the weighted moments
# below must read the same columns.
from fairlearn.reductions._moments.moment import _EVENT, _GROUP_ID, _LABEL
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from fairkit.groups import group_labels
from fairkit.stats import decide

__all__ = ["ReductionsWrapper", "CONSTRAINTS", "make_moment", "split_sensitive_columns"]

#: Constraint names accepted by :class:`ReductionsWrapper` and the fairlearn moment behind each.
CONSTRAINTS = {
    "demographic_parity": DemographicParity,
    "equalized_odds": EqualizedOdds,
    "true_positive_rate_parity": TruePositiveRateParity,
    "false_positive_rate_parity": FalsePositiveRateParity,
    "error_rate_parity": ErrorRateParity,
}


# --------------------------------------------------------------------------------------------
# weighted moments
# --------------------------------------------------------------------------------------------
#
# fairlearn's moments estimate every rate with unweighted row counts, and its reductions only
# pass their own cost-sensitive weights to the base learner. To honour user weights we weight
# the moments themselves: group/event probabilities, the constraint vector gamma, the error,
# and the signed weights of the cost-sensitive problems. With integer weights this is exactly
# the computation fairlearn would run on the data with each row repeated ``w`` times.


class _WeightedMixin:
    _fk_weights: np.ndarray | None = None

    @property
    def total_samples(self) -> float:
        if self._fk_weights is None:
            return self.X.shape[0]
        # The reduction rescales its weights to ``total_samples``; with the weight total this
        # matches what it would do on the row-duplicated data.
        return float(self._fk_weights.sum())

    def _w(self) -> np.ndarray:
        if self._fk_weights is None:
            return np.ones(len(self.tags))
        return self._fk_weights


class _WeightedErrorRate(_WeightedMixin, ErrorRate):
    def gamma(self, predictor):
        y_pred = predictor(self.X)
        if isinstance(y_pred, np.ndarray):
            y_pred = np.squeeze(y_pred)
        signed = self.tags[_LABEL].to_numpy(dtype=float) - np.asarray(y_pred, dtype=float)
        w = self._w()
        fn = np.sum(w * np.clip(signed, 0, None)) * self.fn_cost
        fp = np.sum(w * np.clip(-signed, 0, None)) * self.fp_cost
        return pd.Series((fn + fp) / self.total_samples, index=self.index)

    def signed_weights(self, lambda_vec=None):
        return super().signed_weights(lambda_vec) * self._w()


class _WeightedUtilityParityMixin(_WeightedMixin):
    def load_data(self, X, y, **kwargs):
        super().load_data(X, y, **kwargs)
        w = pd.Series(self._w(), index=self.tags.index)
        total = w.sum()
        self.prob_event = w.groupby(self.tags[_EVENT]).sum() / total
        self.prob_group_event = (
            w.groupby([self.tags[_EVENT], self.tags[_GROUP_ID]]).sum() / total
        ).reindex(self.prob_group_event.index)
        # Rebuild U (fairlearn's per-row constraint coefficients) from the weighted
        # probabilities; same formula as UtilityParity.load_data.
        event = self.tags[_EVENT]
        group = self.tags[_GROUP_ID]
        U = pd.DataFrame(0.0, index=self.tags.index, columns=self.index)
        for e, g in self.prob_group_event.index:
            ev = (event == e).astype(float)
            ge = ev * (group == g)
            pe, pge = self.prob_event[e], self.prob_group_event[e, g]
            U["+", e, g] = ev / pe - self.ratio * ge / pge
            U["-", e, g] = -self.ratio * ev / pe + ge / pge
        self.U = U

    def gamma(self, predictor):
        predictions = predictor(self.X)
        if isinstance(predictions, np.ndarray):
            predictions = np.squeeze(predictions)
        pred = self.utility_diff.T * np.asarray(predictions, dtype=float) + self.utilities[:, 0]
        return -self.U.T.dot(pred * self._w()) / self.total_samples

    def signed_weights(self, lambda_vec):
        return super().signed_weights(lambda_vec) * self._w()

    def default_objective(self):
        obj = _WeightedErrorRate()
        obj._fk_weights = self._fk_weights
        return obj


def _weighted_class(base: type) -> type:
    return type(f"_Weighted{base.__name__}", (_WeightedUtilityParityMixin, base), {})


# Module-level classes so fitted objects that keep a moment stay picklable.
_WeightedDemographicParity = _weighted_class(DemographicParity)
_WeightedEqualizedOdds = _weighted_class(EqualizedOdds)
_WeightedTruePositiveRateParity = _weighted_class(TruePositiveRateParity)
_WeightedFalsePositiveRateParity = _weighted_class(FalsePositiveRateParity)
_WeightedErrorRateParity = _weighted_class(ErrorRateParity)
_WEIGHTED = {
    DemographicParity: _WeightedDemographicParity,
    EqualizedOdds: _WeightedEqualizedOdds,
    TruePositiveRateParity: _WeightedTruePositiveRateParity,
    FalsePositiveRateParity: _WeightedFalsePositiveRateParity,
    ErrorRateParity: _WeightedErrorRateParity,
}
for _cls in _WEIGHTED.values():
    _cls.__module__ = __name__


def make_moment(constraint, bound: float | None = None) -> Moment:
    """A fresh, unloaded fairlearn moment for a constraint name or moment.

    Parameters
    ----------
    constraint : str or fairlearn Moment
        One of :data:`CONSTRAINTS`, or a moment instance (copied, used as given).
    bound : float, optional
        ``difference_bound`` for a named constraint.
    """
    if isinstance(constraint, Moment):
        moment = copy.deepcopy(constraint)
        moment.data_loaded = False
        return moment
    if constraint not in CONSTRAINTS:
        raise ValueError(
            f"unknown constraint {constraint!r}; use one of {sorted(CONSTRAINTS)} or a "
            "fairlearn Moment"
        )
    return CONSTRAINTS[constraint](difference_bound=bound)


def _weighted(moment: Moment, weights: np.ndarray | None) -> Moment:
    wcls = _WEIGHTED.get(type(moment))
    if wcls is None:
        if weights is not None and not np.allclose(weights, weights[0]):
            raise TypeError(
                f"sample_weight is supported for the moments {sorted(CONSTRAINTS)} "
                f"(fairlearn classes {[c.__name__ for c in _WEIGHTED]}), not for "
                f"{type(moment).__name__}"
            )
        return moment
    out = wcls.__new__(wcls)
    out.__dict__.update(copy.deepcopy(moment.__dict__))
    out._fk_weights = None if weights is None else np.asarray(weights, dtype=np.float64)
    return out


@contextlib.contextmanager
def _quiet_fairlearn():
    """Hide the pandas deprecation warnings fairlearn 0.15 raises on every iteration.

    (Series.at enlargement, bool set into a float Series): they are fairlearn's to fix and
    would drown every user's output.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"fairlearn\.")
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"fairlearn\.")
        yield


def _moment_gap(moment: Moment, X, y, s, w, predict) -> tuple[float, float]:
    """(max constraint value, max of value - bound) of ``predict`` on the given data."""
    m = _weighted(make_moment(moment), w)
    with _quiet_fairlearn():
        m.load_data(X, pd.Series(y), sensitive_features=pd.Series(s))
    gamma = m.gamma(predict)
    return float(gamma.max()), float((gamma - m.bound()).max())


def _check_fit_inputs(est, X, y, sample_weight=None):
    """Validate fit inputs the scikit-learn way, but hand DataFrames to the model untouched.

    Returns ``(X for the model, y as 1-D array, classes, sample_weight or None)``. Non-finite
    values are left for the base model to judge (some models accept NaN).
    """
    X_checked, y_checked = validate_data(
        est, X, y, accept_sparse=False, dtype=None, ensure_all_finite=False
    )
    check_classification_targets(y_checked)
    classes = np.unique(y_checked)
    name = type(est).__name__
    if len(classes) > 2:
        raise ValueError(
            f"Only binary classification is supported by {name}; y has {len(classes)} classes"
        )
    if len(classes) < 2:
        raise ValueError(
            f"{name} needs samples of 2 classes, but y contains only 1 class: {classes[0]!r}"
        )
    w = None
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.ndim != 1 or w.shape[0] != len(y_checked):
            raise ValueError(
                f"sample_weight.shape == {w.shape}, expected ({len(y_checked)},)"
            )
        if np.any(w < 0) or not np.all(np.isfinite(w)):
            raise ValueError("sample_weight must be finite and non-negative")
        if w.sum() <= 0:
            raise ValueError("sample_weight sums to zero")
    X_use = X if isinstance(X, pd.DataFrame) else X_checked
    return X_use, y_checked, classes, w


def _check_predict_input(est, X):
    """Check a predict-time X against what fit saw; DataFrames pass through untouched."""
    X_checked = validate_data(
        est, X, reset=False, accept_sparse=False, dtype=None, ensure_all_finite=False
    )
    return X if isinstance(X, pd.DataFrame) else X_checked


def split_sensitive_columns(X, sensitive_features, names, drop: bool = True):
    """Take sensitive features from named columns of ``X`` when none are given explicitly.

    Parameters
    ----------
    X : DataFrame or array-like
    sensitive_features : array-like, Series, DataFrame or None
        Explicit sensitive features; they win over ``names``.
    names : str, int, list or None
        Column names (DataFrame) or positions (array) holding the sensitive features.
    drop : bool, default=True
        Remove those columns from the returned ``X``.

    Returns
    -------
    X_model, sensitive_features
        ``X`` as the model should see it, and the sensitive features (``None`` if none).
    """
    if names is None:
        return X, sensitive_features
    names = [names] if isinstance(names, (str, int, np.integer)) else list(names)
    if isinstance(X, pd.DataFrame):
        missing = [c for c in names if c not in X.columns]
        if missing:
            raise ValueError(
                f"sensitive_feature_names {missing} are not columns of X "
                f"(columns: {list(X.columns)[:20]})"
            )
        s = X[names]
        X_model = X.drop(columns=names) if drop else X
    else:
        if not all(isinstance(c, (int, np.integer)) for c in names):
            raise ValueError(
                "sensitive_feature_names must be column positions (ints) when X is not a "
                "DataFrame"
            )
        arr = np.asarray(X)
        s = pd.DataFrame(arr[:, names], columns=[f"s{c}" for c in names])
        X_model = X
        if drop:
            keep = [i for i in range(arr.shape[1]) if i not in set(names)]
            X_model = arr[:, keep].astype(np.float64)
    if sensitive_features is None:
        sensitive_features = s
    return X_model, sensitive_features


# --------------------------------------------------------------------------------------------
# the wrapper
# --------------------------------------------------------------------------------------------


class ReductionsWrapper(ClassifierMixin, BaseEstimator):
    """Fairness-constrained classifier by the reductions approach.

    The constrained problem "minimise error subject to a fairness constraint" is reduced to a
    sequence of weighted classification problems solved by the base ``estimator``
    (fairlearn's ``ExponentiatedGradient`` or ``GridSearch``). The solution is a weighted
    mixture of the fitted base learners (``predictors_``, ``weights_``).

    Parameters
    ----------
    estimator : classifier, optional
        Any classifier whose ``fit`` accepts ``sample_weight`` (scikit-learn, XGBoost-style,
        fairkit's torch estimators). Defaults to ``LogisticRegression()``.
    constraint : str or fairlearn Moment, default="demographic_parity"
        ``"demographic_parity"``, ``"equalized_odds"``, ``"true_positive_rate_parity"``,
        ``"false_positive_rate_parity"``, ``"error_rate_parity"``, or a fairlearn ``Moment``.
        A moment instance is used as given: its own bound applies and ``eta`` is ignored.
    eta : float in [0, 1], default=1.0
        Fairness strength. The constraint's difference bound is
        ``bound = max_bound * (1 - eta)`` (see :meth:`bound_from_eta`): ``eta=0`` allows the
        disparity of the unconstrained model (no constraint in effect), ``eta=1`` asks for
        exact parity, and the bound tightens linearly in between.
    max_bound : float, optional
        The bound at ``eta=0``. When omitted it is measured: the constraint value (largest
        gap in the constrained rate between a group and the population, e.g. selection rate
        for demographic parity) of the base estimator fitted without constraint. This costs
        one extra base fit when ``eta < 1``.
    reduction : {"exponentiated_gradient", "grid_search"}, default="exponentiated_gradient"
        ``exponentiated_gradient`` returns a mixture with guarantees;
        ``grid_search`` returns the single best learner of a Lagrange-multiplier grid.
    eps : float, default=0.01
        ExponentiatedGradient's allowed constraint violation (sets the multiplier bound 1/eps).
    max_iter : int, default=50
        ExponentiatedGradient iterations.
    nu : float, optional
        ExponentiatedGradient convergence threshold on the duality gap.
    eta0 : float, default=2.0
        ExponentiatedGradient's initial learning rate (fairlearn's ``eta0``; unrelated to
        ``eta``).
    grid_size : int, default=10
        GridSearch grid size.
    constraint_weight : float, default=0.5
        GridSearch's weight on the constraint violation when picking the best learner.
    sensitive_feature_names : list of str or int, optional
        Columns of ``X`` holding the sensitive features (names for a DataFrame, positions for
        an array), used when ``fit`` gets no ``sensitive_features``. This lets the wrapper run
        inside ``Pipeline`` / ``GridSearchCV`` without metadata routing.
    drop_sensitive_features : bool, default=True
        Remove ``sensitive_feature_names`` columns from ``X`` before it reaches the base
        estimator (in ``fit`` and ``predict``).
    randomized : bool, default=False
        ``False``: ``predict`` is deterministic, thresholding ``predict_proba`` at 0.5.
        ``True``: fairlearn's randomized mixture (each row draws a base learner with
        probability ``weights_``), seeded by ``random_state`` so repeated calls agree; this is
        the classifier the reduction's guarantee is about.
    random_state : int, default=0
        Seed for ``randomized=True``.

    Attributes
    ----------
    predictors_ : list of classifiers
        Base learners with non-zero weight.
    weights_ : ndarray
        Their mixture weights (sum to 1).
    classes_ : ndarray of shape (2,)
    constraint_bound_ : float
        The difference bound used (NaN for a moment instance without a scalar bound).
    constraint_gap_ : float
        Constraint value of the deterministic ``predict`` on the training data: the largest
        gap between a group's rate and the population rate (weighted by ``sample_weight``).
    constraint_violation_ : float
        How far ``constraint_gap_`` exceeds the bound (0 when satisfied).
    constraint_gap_randomized_ : float
        Expected constraint value of the randomized mixture (what the reduction optimised).
        Comparing it with ``constraint_gap_`` shows the fairness cost of derandomizing.
    max_bound_ : float
        The bound at ``eta=0`` in use (given or measured).
    n_oracle_calls_ : int
        Base-learner fits made by the reduction.
    best_gap_ : float
        ExponentiatedGradient's final duality gap (NaN for GridSearch / no constraint).
    n_iter_ : int
        ExponentiatedGradient iterations run (the base model's for a plain fit).

    Notes
    -----
    ``predict_proba`` is the ``weights_``-weighted mean of the base learners'
    ``predict_proba`` (hard 0/1 predictions for learners without it). Each base learner was
    trained on a reweighted and relabelled cost-sensitive problem, so these probabilities
    rank well but need not be calibrated for ``y``; use
    :class:`fairkit.calibration.GroupFairnessCalibrator` if calibrated scores matter.

    The deterministic ``predict`` can differ from the randomized mixture the reduction
    certified; ``constraint_gap_`` reports what ``predict`` actually achieves.

    With ``sensitive_features=None`` (and no ``sensitive_feature_names``) the wrapper fits
    the plain base estimator.
    """

    #: The constraint acts at training time; predict does not need the group.
    needs_sensitive_at_predict = False

    def __init__(
        self,
        estimator=None,
        constraint="demographic_parity",
        eta: float = 1.0,
        max_bound: float | None = None,
        reduction: str = "exponentiated_gradient",
        eps: float = 0.01,
        max_iter: int = 50,
        nu: float | None = None,
        eta0: float = 2.0,
        grid_size: int = 10,
        constraint_weight: float = 0.5,
        sensitive_feature_names=None,
        drop_sensitive_features: bool = True,
        randomized: bool = False,
        random_state: int = 0,
    ):
        self.estimator = estimator
        self.constraint = constraint
        self.eta = eta
        self.max_bound = max_bound
        self.reduction = reduction
        self.eps = eps
        self.max_iter = max_iter
        self.nu = nu
        self.eta0 = eta0
        self.grid_size = grid_size
        self.constraint_weight = constraint_weight
        self.sensitive_feature_names = sensitive_feature_names
        self.drop_sensitive_features = drop_sensitive_features
        self.randomized = randomized
        self.random_state = random_state

    @staticmethod
    def bound_from_eta(eta: float, max_bound: float) -> float:
        """Constraint difference bound for a fairness strength ``eta``.

        Parameters
        ----------
        eta : float in [0, 1]
            0 = unconstrained, 1 = exact parity.
        max_bound : float
            The bound at ``eta=0`` (the unconstrained model's disparity).

        Returns
        -------
        float
            ``max_bound * (1 - eta)``: monotone, larger eta gives a tighter bound.
        """
        eta = float(eta)
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {eta}")
        if max_bound < 0:
            raise ValueError(f"max_bound must be >= 0, got {max_bound}")
        return float(max_bound) * (1.0 - eta)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    # -- data plumbing ----------------------------------------------------------------------

    def _split_sensitive(self, X, sensitive_features):
        """Return (X for the base estimator, sensitive features or None)."""
        return split_sensitive_columns(
            X, sensitive_features, self.sensitive_feature_names, self.drop_sensitive_features
        )

    # -- fit --------------------------------------------------------------------------------

    def fit(self, X, y, *, sensitive_features=None, sample_weight=None):
        """Fit the constrained mixture.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Binary labels (any two values).
        sensitive_features : array-like, Series or DataFrame, optional
            Group of each row; several columns are combined into intersections
            (``"Female & Black"``). Falls back to ``sensitive_feature_names`` columns of X;
            with neither, the plain base estimator is fitted.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative row weights, used by the base learners and by the constraint and
            error statistics.

        Returns
        -------
        self
        """
        X, y_arr, self.classes_, w = _check_fit_inputs(self, X, y, sample_weight)
        y_enc = (y_arr == self.classes_[1]).astype(int)
        X_model, s = self._split_sensitive(X, sensitive_features)
        n = len(y_enc)
        base = LogisticRegression() if self.estimator is None else self.estimator

        if s is None:
            est = clone(base, safe=False)
            est.fit(X_model, y_enc, **({} if w is None else {"sample_weight": w}))
            self.predictors_ = [est]
            self.weights_ = np.array([1.0])
            self.n_iter_ = int(np.max(getattr(est, "n_iter_", 1)))
            self.n_oracle_calls_ = 1
            self.best_gap_ = float("nan")
            self.constraint_bound_ = float("nan")
            self.constraint_gap_ = float("nan")
            self.constraint_violation_ = float("nan")
            self.constraint_gap_randomized_ = float("nan")
            return self

        labels = group_labels(s).to_numpy(dtype=object)
        if len(labels) != n:
            raise ValueError(f"sensitive_features has {len(labels)} rows but y has {n}")
        # Zero-weight rows are absent from the weighted problem; dropping them also keeps every
        # group's weighted probability positive.
        keep = None if w is None else np.flatnonzero(w > 0)
        if keep is not None and len(keep) < n:
            X_model = X_model.iloc[keep] if hasattr(X_model, "iloc") else np.asarray(X_model)[keep]
            y_enc, labels, w = y_enc[keep], labels[keep], w[keep]
        if len(np.unique(y_enc)) < 2:
            raise ValueError("only one class has positive sample weight")

        moment = self._moment(base, X_model, y_enc, labels, w)
        mitigator = self._mitigator(base, _weighted(moment, w))
        with _quiet_fairlearn():
            mitigator.fit(X_model, pd.Series(y_enc), sensitive_features=pd.Series(labels))
        if isinstance(mitigator, ExponentiatedGradient):
            weights = np.asarray(mitigator.weights_, dtype=np.float64)
            predictors = list(mitigator.predictors_)
        else:
            weights = np.zeros(len(mitigator.predictors_))
            weights[mitigator.best_idx_] = 1.0
            predictors = list(mitigator.predictors_)
        nz = np.flatnonzero(weights > 0)
        self.predictors_ = [predictors[i] for i in nz]
        self.weights_ = weights[nz] / weights[nz].sum()
        # Keep scalars only: the fairlearn object holds the loaded training data.
        self.n_oracle_calls_ = int(getattr(mitigator, "n_oracle_calls_", len(predictors)))
        self.best_gap_ = float(getattr(mitigator, "best_gap_", float("nan")))
        self.n_iter_ = int(getattr(mitigator, "last_iter_", len(predictors) - 1)) + 1

        gap, viol = _moment_gap(
            moment, X_model, y_enc, labels, w, lambda Xp: self._predict_encoded(Xp)
        )
        self.constraint_gap_ = gap
        self.constraint_violation_ = max(0.0, viol)
        # gamma is linear in the predictions, so the hard-label mixture gives the expected
        # disparity of the randomized classifier the reduction certified.
        self.constraint_gap_randomized_, _ = _moment_gap(
            moment, X_model, y_enc, labels, w, self._hard_mixture
        )
        return self

    def _moment(self, base, X_model, y_enc, labels, w) -> Moment:
        if isinstance(self.constraint, Moment):
            moment = make_moment(self.constraint)
            eps = getattr(moment, "eps", float("nan"))
            self.constraint_bound_ = float(eps) if getattr(moment, "ratio", 1.0) == 1.0 else float(
                "nan"
            )
            self.max_bound_ = float("nan")
            return moment
        eta = float(self.eta)
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {eta}")
        if self.max_bound is not None:
            max_bound = float(self.max_bound)
        elif eta >= 1.0:
            max_bound = 0.0  # not needed: the bound is 0 whatever the unconstrained gap
        else:
            plain = clone(base, safe=False).fit(
                X_model, y_enc, **({} if w is None else {"sample_weight": w})
            )
            max_bound, _ = _moment_gap(
                make_moment(self.constraint, 0.0), X_model, y_enc, labels, w, plain.predict
            )
        self.max_bound_ = max_bound
        self.constraint_bound_ = self.bound_from_eta(eta, max_bound)
        return make_moment(self.constraint, self.constraint_bound_)

    def _mitigator(self, base, moment):
        if self.reduction == "exponentiated_gradient":
            return ExponentiatedGradient(
                clone(base, safe=False),
                constraints=moment,
                eps=self.eps,
                max_iter=self.max_iter,
                nu=self.nu,
                eta0=self.eta0,
            )
        if self.reduction == "grid_search":
            return GridSearch(
                clone(base, safe=False),
                constraints=moment,
                constraint_weight=self.constraint_weight,
                grid_size=self.grid_size,
            )
        raise ValueError(
            f"reduction must be 'exponentiated_gradient' or 'grid_search', got {self.reduction!r}"
        )

    # -- predict ----------------------------------------------------------------------------

    @staticmethod
    def _positive_proba(est, X) -> np.ndarray:
        classes = getattr(est, "classes_", None)
        if hasattr(est, "predict_proba"):
            proba = np.asarray(est.predict_proba(X), dtype=np.float64)
            if classes is None:
                return proba[:, -1]
            hits = np.flatnonzero(np.asarray(classes) == 1)
            # A learner fitted on one relabelled class (fairlearn's DummyClassifier) has a
            # single column.
            return proba[:, hits[0]] if len(hits) else np.zeros(proba.shape[0])
        return (np.asarray(est.predict(X)) == 1).astype(np.float64)

    def _proba_encoded(self, X_model) -> np.ndarray:
        p = np.zeros(_n_rows(X_model))
        for wt, est in zip(self.weights_, self.predictors_):
            p += wt * self._positive_proba(est, X_model)
        return np.clip(p, 0.0, 1.0)

    def _hard_mixture(self, X_model) -> np.ndarray:
        p = np.zeros(_n_rows(X_model))
        for wt, est in zip(self.weights_, self.predictors_):
            p += wt * (np.asarray(est.predict(X_model)) == 1)
        return p

    def _predict_encoded(self, X_model) -> np.ndarray:
        if self.randomized:
            rng = np.random.default_rng(self.random_state)
            return (rng.random(_n_rows(X_model)) < self._hard_mixture(X_model)).astype(int)
        return decide(self._proba_encoded(X_model), 0.5).astype(int)

    def _model_X(self, X):
        check_is_fitted(self, "predictors_")
        X = _check_predict_input(self, X)
        X_model, _ = self._split_sensitive(X, None)
        return X_model

    def predict_proba(self, X) -> np.ndarray:
        """Mixture of the base learners' probabilities, columns ordered as ``classes_``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, 2)
            Rows sum to 1.
        """
        p = self._proba_encoded(self._model_X(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        """Deterministic class predictions (see ``randomized``).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        encoded = self._predict_encoded(self._model_X(X))
        return self.classes_[encoded]


def _n_rows(X) -> int:
    return X.shape[0] if hasattr(X, "shape") else len(X)
