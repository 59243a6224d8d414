"""Reductions approach (Agarwal et al., 2018) around fairlearn's ExponentiatedGradient / GridSearch.

:class:`ReductionsWrapper` turns any classifier that accepts sample weights into a
fairness-constrained one, takes fairlearn's own parameter names (``constraints``, ``eps``,
``max_iter``, ``nu``, ``eta0``, ``run_linprog_step``, ``sample_weight_name``, ``grid_size``, ...)
so fairlearn code ports unchanged, and adds what fairlearn's mitigators leave to the user:

* a deterministic ``predict`` that keeps the requested bound on the training data (chosen among
  the mixture's predictors and their blends; fairlearn's randomized rule when none does) and a
  real ``predict_proba`` (a weighted mixture of the base learners' probabilities, not of their
  hard labels);
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
from scipy import sparse

from fairkit.estimators._inputs import (MAX_DENSE_CELLS, check_fit_groups, check_fit_weights, densify,  # noqa: F401
                                        fit_weighted, row_uniforms, weight_keyword)
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
from sklearn.utils import get_tags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from fairkit import stats
from fairkit.groups import encode_groups, group_labels

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
    # An objective (fairlearn's ``objective=ErrorRate(costs=...)``) is weighted the same way.
    ErrorRate: _WeightedErrorRate,
}
for _cls in _WEIGHTED.values():
    _cls.__module__ = __name__


def constraint_name(constraint, constraints, default: str = "demographic_parity"):
    """The constraint a fairlearn-style wrapper was given, in fairlearn's terms.

    The one reading of ``constraint`` and fairlearn's spelling ``constraints`` (house rule 1:
    where fairkit wraps fairlearn it accepts fairlearn's keyword), shared by
    :class:`ReductionsWrapper` and the threshold post-processors. A name of
    :data:`fairkit.methods.FAIRNESS_DEFINITIONS` (``"equal_opportunity"``) is read as its
    fairlearn constraint (``"true_positive_rate_parity"``), so the registry's names work too.

    Parameters
    ----------
    constraint : str, fairlearn Moment or None
    constraints : str, fairlearn Moment or None
        fairlearn's keyword for the same thing; at most one of the two may be given.
    default : str, default="demographic_parity"
        The constraint when neither is given.

    Returns
    -------
    str or fairlearn Moment
    """
    from fairkit.methods import FAIRNESS_DEFINITIONS  # the registry imports the estimators lazily

    if constraint is not None and constraints is not None:
        raise ValueError(
            "pass the constraint once: constraint= or constraints= (fairlearn's keyword), not both")
    spec = constraints if constraints is not None else constraint
    if spec is None:
        return default
    if isinstance(spec, str) and spec in FAIRNESS_DEFINITIONS:
        return FAIRNESS_DEFINITIONS[spec].fairlearn_constraint
    return spec


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


# --------------------------------------------------------------------------------------------
# decision rules scored on the training data
# --------------------------------------------------------------------------------------------
#
# A rule is a weight vector over the reduction's predictors: its score is the weighted mean of
# their probabilities and it selects a row when the score passes fairkit.stats.decide. Every
# rule of a fit is scored on the training rows through the evaluation kernel, K rules per call.

# The kernel rates each fairlearn parity moment compares between a group and the whole
# population (fairlearn's events: every row, the positives, the negatives).
_MOMENT_RATES = {
    DemographicParity: ("selection_rate",),
    TruePositiveRateParity: ("tpr",),
    FalsePositiveRateParity: ("fpr",),
    EqualizedOdds: ("tpr", "fpr"),
    ErrorRateParity: ("error",),
}
# Rows x rules per kernel call: the kernel holds a dozen float64 statistics per (rule, row), so
# this keeps one call near 50 MB whatever the data size.
_KERNEL_CELLS = 1 << 19
# Blend steps between the mixture and each of its predictors (see _candidate_weights).
_BLEND_STEPS = 8


class _TrainingRows:
    """The rows a reduction was fitted on, as the rule evaluation needs them."""

    def __init__(self, X, y, labels, w):
        self.X, self.y, self.labels, self.w = X, y, labels, w
        enc = encode_groups(pd.Series(labels))
        self.codes, self.n_groups = enc.codes, len(enc.names)


def _rule_values(moment: Moment, objective: Moment | None, rows: _TrainingRows, weights, probs,
                 expected: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Constraint value, excess over the bound and objective of K rules on the training rows.

    Parameters
    ----------
    moment : fairlearn Moment
        Unloaded constraint (unweighted; ``rows.w`` applies).
    objective : fairlearn ErrorRate or None
        Its costs weigh false negatives and false positives (1 and 1 when None).
    rows : _TrainingRows
    weights : ndarray of shape (K, P)
        Each rule's weights over the P predictors.
    probs : ndarray of shape (P, n)
        The predictors' positive-class probabilities on the training rows; a rule selects a row
        when its weighted score passes :func:`fairkit.stats.decide`.
    expected : bool, default=False
        ``probs`` are hard 0/1 labels and each rule is the randomized mixture: its weighted mean
        is the probability of a positive decision, counted as expected decisions.

    Returns
    -------
    value, excess, objective : ndarrays of shape (K,)
        ``value`` is fairlearn's constraint value (the largest entry of the moment's gamma:
        for a difference bound the largest gap between a group's rate and the population's),
        ``excess`` the largest ``gamma - bound``, ``objective`` the weighted (cost-sensitive)
        error.
    bound : float
        The moment's bound (the largest, should its constraints have several).
    """
    weights = np.atleast_2d(weights)
    rates = _MOMENT_RATES.get(type(moment))
    fn_cost = getattr(objective, "fn_cost", 1.0)
    fp_cost = getattr(objective, "fp_cost", 1.0)
    step = max(1, _KERNEL_CELLS // max(1, probs.shape[1]))
    loaded = None
    if rates is None:
        # Any other moment (BoundedGroupLoss, a user's own class) is its own definition: read
        # its gamma, loaded once with the (uniform, see _weighted) weights.
        loaded = _weighted(make_moment(moment), rows.w)
        with _quiet_fairlearn():
            loaded.load_data(rows.X, pd.Series(rows.y), sensitive_features=pd.Series(rows.labels))
        bound_vec = loaded.bound()
    value, excess, obj = [], [], []
    for lo in range(0, len(weights), step):
        scores = weights[lo:lo + step] @ probs
        gs = stats.group_sums(rows.y, scores, rows.codes, rows.n_groups, sample_weight=rows.w,
                              decisions=scores if expected else None)
        total = gs.total()
        errors = fn_cost * (total.stat("pos") - total.stat("tp")) + fp_cost * total.stat("fp")
        obj.append((errors / total.stat("n")).ravel())
        if loaded is None:
            v = _parity_value(moment.ratio, stats.group_rates(gs), stats.group_rates(total), rates)
            value.append(v)
            excess.append(v - float(moment.eps))
            continue
        d = scores if expected else stats.decide(scores, 0.5).astype(np.float64)
        with _quiet_fairlearn():
            gammas = [loaded.gamma(lambda _X, dk=dk: dk) for dk in d]
        value.append(np.array([float(g.max()) for g in gammas]))
        excess.append(np.array([float((g - bound_vec).max()) for g in gammas]))
    bound = float(moment.eps) if loaded is None else float(bound_vec.max())
    return np.concatenate(value), np.concatenate(excess), np.concatenate(obj), bound


def _parity_value(ratio: float, rates: dict, overall: dict, names) -> np.ndarray:
    """fairlearn's parity gamma, largest entry, from the kernel's group and population rates.

    fairlearn constrains ``ratio * r_group - r_all`` and ``ratio * r_all - r_group`` (ratio 1 for
    a difference bound: ``|r_group - r_all|``) for every group with rows in the event, which is
    not the kernel's max-min :func:`fairkit.stats.gap`: the bound is fairlearn's.
    """
    out = None
    for name in names:
        if name == "error":
            r, o = 1.0 - rates["accuracy"][0], 1.0 - overall["accuracy"][0]
        else:
            r, o = rates[name][0], overall[name][0]
        with np.errstate(invalid="ignore"):
            v = np.fmax(ratio * r - o, ratio * o - r)
        v = np.max(np.where(np.isfinite(v), v, -np.inf), axis=1)
        out = v if out is None else np.maximum(out, v)
    return out


def _candidate_weights(mixture: np.ndarray, steps: int = _BLEND_STEPS) -> np.ndarray:
    """Deterministic rules a reduction's mixture offers, as weight vectors over its predictors.

    The mixture itself, each predictor alone and ``steps - 1`` blends of the mixture with each
    predictor. Two predictors that favour different groups have a blend whose thresholded score
    sits between their disparities, which is how a deterministic rule can meet a bound that
    only the randomized mixture met.
    """
    P = len(mixture)
    eye = np.eye(P)
    a = (np.arange(1, steps) / steps)[:, None, None]
    blends = ((1.0 - a) * mixture[None, None, :] + a * eye[None]).reshape(-1, P)
    return np.vstack([mixture[None], eye, blends])


def _accepts_sparse(estimator) -> bool:
    """Whether ``estimator`` says (by its scikit-learn tags) that it accepts sparse X."""
    try:
        return bool(get_tags(estimator).input_tags.sparse)
    except AttributeError:  # an estimator outside scikit-learn's tag protocol (no tags)
        return False


class BinaryWrapperTagsMixin:
    """scikit-learn tags of the wrappers around a base estimator (reductions, thresholds, calibration).

    Binary only; sparse X reaches a base that accepts it and is expanded (size-checked) otherwise.
    One copy for the three wrappers, placed first in their bases so ``super()`` reaches ClassifierMixin.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.sparse = True
        return tags


class GroupScoreMixin:
    """``score`` for the wrappers whose predictions need the group (per-group thresholds or
    calibration maps), placed before ClassifierMixin in their bases.

    scikit-learn's ``ClassifierMixin.score`` takes no ``sensitive_features``, so such a model
    could not be scored at all; with this one, ``est.score(X, y, sensitive_features=S)`` works,
    and under metadata routing ``set_score_request(sensitive_features=True)`` lets
    ``cross_val_score`` / ``GridSearchCV`` (default scoring) route the column to it.
    """

    def score(self, X, y, sample_weight=None, *, sensitive_features=None) -> float:
        """Accuracy of ``predict(X, sensitive_features=...)`` against ``y``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
        sensitive_features : array-like, Series or DataFrame, optional
            The same column(s) as in ``fit``; required when ``fit`` had them.

        Returns
        -------
        float
        """
        from sklearn.metrics import accuracy_score

        return float(accuracy_score(y, self.predict(X, sensitive_features=sensitive_features),
                                    sample_weight=sample_weight))


def missing_groups_message(est, also: str = "") -> str:
    """What a wrapper that needs the group at prediction says when it gets none: how to pass
    it directly, through a Pipeline, or in ``X``."""
    return (f"{type(est).__name__} needs each row's group to predict: pass sensitive_features= (the same "
            f"column(s) as in fit) to predict / predict_proba / score{also}. In a Pipeline or cross-validation, "
            "enable metadata routing (sklearn.set_config(enable_metadata_routing=True)) and call "
            "set_predict_request / set_predict_proba_request / set_score_request(sensitive_features=True); "
            "cross_val_predict, multi-metric scoring and a search's own predict pass no metadata to predict "
            "even then: there keep the groups in X and name them with sensitive_feature_names=")


def _for_base(X, *estimators):
    """``X`` as ``estimators`` can take it: sparse passed through when they all accept it,
    else expanded by :func:`densify`."""
    return X if all(_accepts_sparse(e) for e in estimators) else densify(X)


def _check_fit_inputs(est, X, y, sample_weight=None):
    """Validate fit inputs the scikit-learn way, but hand DataFrames to the model untouched.

    Returns ``(X for the model, y as 1-D array, classes, sample_weight or None)``. Non-finite
    values are left for the base model to judge (some models accept NaN). Sparse X of any
    format comes back as CSR.
    """
    X_checked, y_checked = validate_data(
        est, X, y, accept_sparse="csr", dtype=None, ensure_all_finite=False
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
    w = None if sample_weight is None else check_fit_weights(sample_weight, X_checked, y_checked == classes[1])
    X_use = X if isinstance(X, pd.DataFrame) else X_checked
    return X_use, y_checked, classes, w


def _check_predict_input(est, X):
    """Check a predict-time X against what fit saw; DataFrames pass through untouched, sparse
    X comes back as CSR."""
    X_checked = validate_data(
        est, X, reset=False, accept_sparse="csr", dtype=None, ensure_all_finite=False
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
        arr = X if sparse.issparse(X) else np.asarray(X)
        s = pd.DataFrame(densify(arr[:, names]), columns=[f"s{c}" for c in names])
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

class ReductionsWrapper(BinaryWrapperTagsMixin, ClassifierMixin, BaseEstimator):
    """Fairness-constrained classifier by the reductions approach.

    The constrained problem "minimise error subject to a fairness constraint" is reduced to a
    sequence of weighted classification problems solved by the base ``estimator``
    (fairlearn's ``ExponentiatedGradient`` or ``GridSearch``). The solution is a weighted
    mixture of the fitted base learners. fairlearn's parameter names are accepted, so
    ``ReductionsWrapper(est, constraints=DemographicParity(difference_bound=0.05), eps=0.01)``
    is a drop-in for ``ExponentiatedGradient(est, constraints=...)``.

    Parameters
    ----------
    estimator : classifier, optional
        Any classifier whose ``fit`` accepts sample weights (scikit-learn, XGBoost-style,
        fairkit's torch estimators), or a ``Pipeline`` ending in one (``sample_weight_name``). Defaults to
        ``LogisticRegression()``.
    constraint : str or fairlearn Moment, optional
        ``"demographic_parity"`` (the default), ``"equalized_odds"``,
        ``"true_positive_rate_parity"``, ``"false_positive_rate_parity"``,
        ``"error_rate_parity"`` (the registry's ``"equal_opportunity"`` reads as
        ``"true_positive_rate_parity"``), or a fairlearn ``Moment`` (``DemographicParity(ratio_bound=0.8)``,
        ``BoundedGroupLoss(ZeroOneLoss(), upper_bound=0.2)``, ...). A moment carries its own
        bound, so ``eta`` and ``max_bound`` must then be left unset.
    eta : float in [0, 1], optional
        Fairness strength for a named constraint (1.0 when unset). The constraint's difference
        bound is ``bound = max_bound * (1 - eta)`` (see :meth:`bound_from_eta`): ``eta=0``
        allows the disparity of the unconstrained model (no constraint in effect), ``eta=1``
        asks for exact parity, and the bound tightens linearly in between. Refused with a
        ``Moment``, whose bound is its own.
    max_bound : float, optional
        The bound at ``eta=0``. When omitted it is measured: the constraint value (largest
        gap in the constrained rate between a group and the population, e.g. selection rate
        for demographic parity) of the base estimator fitted without constraint. This costs
        one extra base fit when ``eta < 1``. Refused with a ``Moment``.
    reduction : {"exponentiated_gradient", "grid_search"}, default="exponentiated_gradient"
        ``exponentiated_gradient`` returns a mixture with guarantees;
        ``grid_search`` returns the single best learner of a Lagrange-multiplier grid.
    eps : float, default=0.01
        ExponentiatedGradient's allowed constraint violation (sets the multiplier bound 1/eps);
        also the most a deterministic ``predict`` may exceed the bound by, and only when no
        rule is within it (see ``randomized``).
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
    randomized : {"auto", False, True}, default="auto"
        How ``predict`` decides.

        * ``"auto"``: deterministically, by the rule with the lowest training error among
          those that keep the bound on the training data (failing any, among those within
          ``eps`` of it, the slack ExponentiatedGradient's guarantee allows its own mixture;
          a bound of 0 needs it): the thresholded mixture,
          each of its predictors, and blends of the mixture with each predictor (a rule's
          score is a weighted mean of the predictors' probabilities and it selects a row when
          the score is >= 0.5). When none does, with a warning, fairlearn's randomized rule,
          or the closest deterministic rule should that be nearer the bound (an unconverged
          reduction).
        * ``False``: always deterministically: the rule above, or, when none keeps the bound,
          the one that exceeds it least (with a warning).
        * ``True``: fairlearn's randomized mixture (each row is decided positive with the
          probability ``mixture_weights_`` give it); the classifier the reduction's guarantee
          is about, in expectation. The draw is a hash of the row's features and
          ``random_state`` (:func:`fairkit.estimators._inputs.row_uniforms`, as the threshold
          post-processors' randomized thresholds), so a row's decision is the same on every
          call, alone or in any batch, in any order.

        With ``reduction="grid_search"`` predict is GridSearch's chosen learner, as in
        fairlearn.
    random_state : int, default=0
        Seed of the randomized rule's row hash.
    constraints : str or fairlearn Moment, optional
        fairlearn's name for ``constraint`` (``ExponentiatedGradient`` and ``GridSearch``); pass
        one of the two (:func:`constraint_name`).
    objective : fairlearn ErrorRate, optional
        ExponentiatedGradient's objective, e.g. ``ErrorRate(costs={"fp": 2, "fn": 1})``; the
        deterministic rule is chosen by the same costs. Default: the error rate.
    run_linprog_step : bool, default=True
        ExponentiatedGradient's linear-programming step over the learners found so far.
    sample_weight_name : str, default="sample_weight"
        Name of the ``estimator.fit`` argument that takes sample weights (fairlearn's). The
        reduction always reweights; with the default, a ``Pipeline`` base takes the weights on
        its last step (``"logisticregression__sample_weight"`` for
        ``make_pipeline(StandardScaler(), LogisticRegression())``), where fairlearn's own
        reductions refuse it (:func:`fairkit.estimators._inputs.weight_keyword`, as every
        wrapper hands weights over). Name another step's to weight that one. With metadata
        routing on, the default is passed as is: request the weights on the step
        (``LogisticRegression().set_fit_request(sample_weight=True)``); a routed ``Pipeline``
        refuses ``step__sample_weight`` (as with fairlearn's own reductions).
    selection_rule : str, default="tradeoff_optimization"
        GridSearch's rule for picking the best learner.
    grid_limit : float, default=2.0
        GridSearch's largest Lagrange multiplier.
    grid_offset : pandas Series, optional
        GridSearch's shift of the grid.
    grid : pandas DataFrame, optional
        GridSearch's explicit grid of multipliers (overrides ``grid_size`` and ``grid_limit``).

    Attributes
    ----------
    predictors_ : list of classifiers
        Base learners used by the mixture or by the deterministic rule.
    weights_ : ndarray
        Weights of ``predictors_`` in ``predict_proba`` (the deterministic rule's, or the
        mixture's under the randomized rule); they sum to 1.
    mixture_weights_ : ndarray
        The reduction's mixture (fairlearn's ``weights_``) over ``predictors_``; the randomized
        rule draws a learner with these probabilities.
    decision_rule_ : {"deterministic", "randomized"}
        The rule ``predict`` uses.
    classes_ : ndarray of shape (2,)
    constraint_bound_ : float
        The bound in fairlearn's terms: the largest value the moment's constraints may take
        (``difference_bound``; ``ratio_bound_slack`` for a ratio bound, whose constraints are
        ``ratio * r_group - r_all`` and ``ratio * r_all - r_group``; ``upper_bound`` for
        ``BoundedGroupLoss``).
    constraint_gap_ : float
        Constraint value of ``predict`` on the training data (weighted by ``sample_weight``):
        the largest entry of the moment's constraint vector, for a difference bound the
        largest gap between a group's rate and the population rate. In expectation under the
        randomized rule.
    constraint_violation_ : float
        How far the constraints of ``predict`` exceed their bound (0 when satisfied).
    constraint_gap_randomized_ : float
        Expected constraint value of the randomized mixture (what the reduction optimised).
    max_bound_ : float
        The bound at ``eta=0`` in use (given or measured; NaN for a ``Moment``).
    n_oracle_calls_ : int
        Base-learner fits made by the reduction.
    best_gap_ : float
        ExponentiatedGradient's final duality gap (NaN for GridSearch / no constraint).
    n_iter_ : int
        ExponentiatedGradient iterations run (the base model's for a plain fit).

    Notes
    -----
    ``predict_proba`` is the ``weights_``-weighted mean of the base learners'
    ``predict_proba`` (hard 0/1 predictions for learners without it) and, under the
    deterministic rule, ``predict`` is ``predict_proba >= 0.5``, so reports computed from the
    probabilities measure the decisions ``predict`` makes. Each base learner was trained on a
    reweighted and relabelled cost-sensitive problem, so these probabilities rank well but need
    not be calibrated for ``y``; use :class:`fairkit.calibration.GroupFairnessCalibrator` if
    calibrated scores matter.

    The bound is kept on the training data. A group with a handful of rows can make every
    deterministic rule miss it (its rate moves in steps of one row); the randomized rule then
    keeps it in expectation. Held-out data need not keep it: the constraint is estimated.

    With ``sensitive_features=None`` (and no ``sensitive_feature_names``) the wrapper fits
    the plain base estimator.
    """

    #: The constraint acts at training time; predict does not need the group.
    needs_sensitive_at_predict = False

    def __init__(
        self,
        estimator=None,
        constraint=None,
        eta: float | None = None,
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
        randomized="auto",
        random_state: int = 0,
        *,
        constraints=None,
        objective=None,
        run_linprog_step: bool = True,
        sample_weight_name: str = "sample_weight",
        selection_rule: str = "tradeoff_optimization",
        grid_limit: float = 2.0,
        grid_offset=None,
        grid=None,
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
        self.constraints = constraints
        self.objective = objective
        self.run_linprog_step = run_linprog_step
        self.sample_weight_name = sample_weight_name
        self.selection_rule = selection_rule
        self.grid_limit = grid_limit
        self.grid_offset = grid_offset
        self.grid = grid

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

    # -- parameters -------------------------------------------------------------------------

    def _constraint_spec(self):
        """The constraint, from ``constraint`` or fairlearn's ``constraints`` (not both)."""
        return constraint_name(self.constraint, self.constraints)

    def _rule_mode(self):
        """``randomized`` checked: "auto", True or False."""
        if isinstance(self.randomized, (bool, np.bool_)):
            return bool(self.randomized)
        if isinstance(self.randomized, str) and self.randomized == "auto":
            return "auto"
        raise ValueError(f"randomized must be 'auto', True or False, got {self.randomized!r}")

    def _check_reduction(self) -> None:
        if self.reduction not in ("exponentiated_gradient", "grid_search"):
            raise ValueError(
                "reduction must be 'exponentiated_gradient' or 'grid_search', got "
                f"{self.reduction!r}"
            )

    def _objective(self):
        if self.objective is None:
            return None
        if not isinstance(self.objective, ErrorRate):
            raise ValueError(
                "objective must be a fairlearn ErrorRate (costs= weigh false negatives and false "
                f"positives) or None, got {type(self.objective).__name__}"
            )
        if self.reduction == "grid_search":
            raise ValueError(
                "objective= is ExponentiatedGradient's; fairlearn's GridSearch has none (it "
                "uses the constraint's default objective)"
            )
        return make_moment(self.objective)

    # -- data plumbing ----------------------------------------------------------------------

    def _split_sensitive(self, X, sensitive_features):
        """Return (X for the base estimator, sensitive features or None)."""
        return split_sensitive_columns(
            X, sensitive_features, self.sensitive_feature_names, self.drop_sensitive_features
        )

    def _fit_base(self, base, X, y, w):
        """The base estimator fitted without constraint, user weights under fairlearn's name."""
        return fit_weighted(clone(base, safe=False), X, y, w, weight_name=self.sample_weight_name)

    # -- fit --------------------------------------------------------------------------------

    def fit(self, X, y, *, sensitive_features=None, sample_weight=None):
        """Fit the constrained mixture and choose the rule ``predict`` uses.

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
        self._rule_mode()
        self._check_reduction()
        y_enc = (y_arr == self.classes_[1]).astype(int)
        X_model, s = self._split_sensitive(X, sensitive_features)
        n = len(y_enc)
        base = LogisticRegression() if self.estimator is None else self.estimator

        labels = None if s is None else group_labels(s).to_numpy(dtype=object)
        # eta=0 asks for no fairness: nothing to say of the groups then. Otherwise the plain base,
        # as documented, but said, so a forgotten sensitive_features= (or a single group) does
        # not pass for a constrained model.
        check_fit_groups(self, s, asked=not (self.eta is not None and float(self.eta) == 0), labels=labels,
                         strength="a fairness constraint", stacklevel=2)
        if s is None:
            est = self._fit_base(base, _for_base(X_model, base), y_enc, w)
            self.predictors_ = [est]
            self.weights_ = self.mixture_weights_ = np.array([1.0])
            self.decision_rule_ = "deterministic"
            self.n_iter_ = int(np.max(getattr(est, "n_iter_", 1)))
            self.n_oracle_calls_ = 1
            self.best_gap_ = self.max_bound_ = float("nan")
            self.constraint_bound_ = self.constraint_gap_ = float("nan")
            self.constraint_violation_ = self.constraint_gap_randomized_ = float("nan")
            return self

        if len(labels) != n:
            raise ValueError(f"sensitive_features has {len(labels)} rows but y has {n}")
        # fairlearn's mitigators and moments validate X with check_array, which refuses sparse
        # input, and fit every base learner on that same X.
        X_model = densify(X_model)
        # Zero-weight rows are absent from the weighted problem; dropping them also keeps every
        # group's weighted probability positive.
        keep = None if w is None else np.flatnonzero(w > 0)
        if keep is not None and len(keep) < n:
            # X_model is dense here (densify above).
            X_model = X_model.iloc[keep] if hasattr(X_model, "iloc") else np.asarray(X_model)[keep]
            y_enc, labels, w = y_enc[keep], labels[keep], w[keep]
        if len(np.unique(y_enc)) < 2:
            raise ValueError("only one class has positive sample weight")
        rows = _TrainingRows(X_model, y_enc, labels, w)

        moment = self._moment(base, rows)
        objective = self._objective()
        mitigator = self._mitigator(
            base, _weighted(moment, w), None if objective is None else _weighted(objective, w)
        )
        with _quiet_fairlearn():
            mitigator.fit(X_model, pd.Series(y_enc), sensitive_features=pd.Series(labels))
        predictors = list(mitigator.predictors_)
        if isinstance(mitigator, ExponentiatedGradient):
            # fairlearn appends learners the final mixture leaves out to the end of weights_:
            # align by index, as its own _pmf_predict does.
            mixture = mitigator.weights_.reindex(mitigator.predictors_.index, fill_value=0.0)
            mixture = mixture.to_numpy(dtype=np.float64)
        else:
            mixture = np.zeros(len(predictors))
            mixture[mitigator.best_idx_] = 1.0
        # Keep scalars only: the fairlearn object holds the loaded training data.
        self.n_oracle_calls_ = int(getattr(mitigator, "n_oracle_calls_", len(predictors)))
        self.best_gap_ = float(getattr(mitigator, "best_gap_", float("nan")))
        self.n_iter_ = int(getattr(mitigator, "last_iter_", len(predictors) - 1)) + 1
        self._choose_rule(predictors, mixture / mixture.sum(), moment, objective, rows,
                          search=isinstance(mitigator, ExponentiatedGradient))
        return self

    def _choose_rule(self, predictors, mixture, moment, objective, rows, search: bool) -> None:
        """Score the mixture's rules on the training rows and keep the one ``predict`` uses."""
        probs = np.stack([self._positive_proba(est, rows.X) for est in predictors])
        hard = np.stack([_hard_labels(est, rows.X) for est in predictors])
        r_value, r_excess, _, bound = _rule_values(moment, objective, rows, mixture, hard,
                                                   expected=True)
        candidates = _candidate_weights(mixture) if search else mixture[None]
        value, excess, error, _ = _rule_values(moment, objective, rows, candidates, probs)
        # Rules within the bound come first. Failing those, a rule keeps it when no constraint
        # exceeds it by more than eps, the slack ExponentiatedGradient's own guarantee allows
        # its mixture (Agarwal et al. 2018, Thm 1: violation <= (1 + 2 nu) / B, B = 1 / eps);
        # without that no deterministic rule could keep a bound of 0 (eta=1), whose rates
        # would all have to match exactly. 1e-12 absorbs round-off in rates on the bound.
        keeps = excess <= 1e-12
        if not keeps.any():
            keeps = excess <= float(self.eps) + 1e-12
        mode = self._rule_mode()
        randomized = mode is True
        if randomized or keeps.any():
            best = int(np.argmin(np.where(keeps, error, np.inf)))
        else:
            best = int(np.argmin(excess))
            # An unconverged reduction (few iterations) can leave the randomized rule further
            # from the bound than a deterministic one: "auto" takes the closer of the two.
            randomized = mode == "auto" and r_excess[0] < excess[best]
            if search:
                which = (f"fairlearn's randomized rule (expected constraint value {r_value[0]:.4g}; "
                         f"the closest deterministic rule has {value[best]:.4g})" if randomized else
                         f"the deterministic rule closest to it (constraint value {value[best]:.4g};"
                         f" the randomized rule's expected value is {r_value[0]:.4g})")
                warnings.warn(
                    f"no deterministic rule of the mixture keeps the bound {bound:.4g} (+ eps "
                    f"{self.eps:.4g}) on the training data; predict uses {which}.",
                    UserWarning, stacklevel=3,
                )
        weights = mixture if randomized else candidates[best]
        used = np.flatnonzero((weights > 0) | (mixture > 0))
        self.predictors_ = [predictors[i] for i in used]
        self.weights_ = weights[used] / weights[used].sum()
        self.mixture_weights_ = mixture[used] / mixture[used].sum()
        self.decision_rule_ = "randomized" if randomized else "deterministic"
        self.constraint_bound_ = bound
        self.constraint_gap_randomized_ = float(r_value[0])
        gap, over = (r_value[0], r_excess[0]) if randomized else (value[best], excess[best])
        self.constraint_gap_ = float(gap)
        self.constraint_violation_ = max(0.0, float(over))

    def _moment(self, base, rows: _TrainingRows) -> Moment:
        """The unloaded, unweighted constraint; sets ``max_bound_``."""
        spec = self._constraint_spec()
        if isinstance(spec, Moment):
            given = [f"{name}={getattr(self, name)!r}" for name in ("eta", "max_bound")
                     if getattr(self, name) is not None]
            if given:
                raise ValueError(
                    f"{' and '.join(given)} cannot apply to a fairlearn {type(spec).__name__}: "
                    "a moment carries its own bound (difference_bound=, ratio_bound= or "
                    "upper_bound=). Set the bound on the moment and leave eta unset, or name "
                    f"the constraint (one of {sorted(CONSTRAINTS)}) to use eta."
                )
            self.max_bound_ = float("nan")
            return make_moment(spec)
        eta = 1.0 if self.eta is None else float(self.eta)
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {eta}")
        if self.max_bound is not None:
            max_bound = float(self.max_bound)
        elif eta >= 1.0:
            max_bound = 0.0  # not needed: the bound is 0 whatever the unconstrained gap
        else:
            plain = self._fit_base(base, rows.X, rows.y, rows.w)
            probs = self._positive_proba(plain, rows.X)[None]
            value, _, _, _ = _rule_values(make_moment(spec, 0.0), None, rows, np.ones(1), probs)
            max_bound = float(value[0])
        self.max_bound_ = max_bound
        return make_moment(spec, self.bound_from_eta(eta, max_bound))

    def _mitigator(self, base, moment, objective):
        if self.reduction == "exponentiated_gradient":
            return ExponentiatedGradient(
                clone(base, safe=False),
                constraints=moment,
                objective=objective,
                eps=self.eps,
                max_iter=self.max_iter,
                nu=self.nu,
                eta0=self.eta0,
                run_linprog_step=self.run_linprog_step,
                sample_weight_name=weight_keyword(base, self.sample_weight_name),
            )
        return GridSearch(
            clone(base, safe=False),
            constraints=moment,
            selection_rule=self.selection_rule,
            constraint_weight=self.constraint_weight,
            grid_size=self.grid_size,
            grid_limit=self.grid_limit,
            grid_offset=self.grid_offset,
            grid=self.grid,
            sample_weight_name=weight_keyword(base, self.sample_weight_name),
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
        return _hard_labels(est, X)

    def _mixture(self, weights, X_model, score) -> np.ndarray:
        p = np.zeros(_n_rows(X_model))
        for wt, est in zip(weights, self.predictors_):
            if wt > 0:
                p += wt * score(est, X_model)
        return p

    def _proba_encoded(self, X_model) -> np.ndarray:
        return np.clip(self._mixture(self.weights_, X_model, self._positive_proba), 0.0, 1.0)

    def _hard_mixture(self, X_model) -> np.ndarray:
        """Probability of a positive decision under the randomized rule."""
        return self._mixture(self.mixture_weights_, X_model, _hard_labels)

    def _predict_encoded(self, X_model, random_state=None) -> np.ndarray:
        if self.decision_rule_ == "randomized":
            # A hash of each row, not a generator's stream: a person's decision must not depend
            # on their position in the batch or on who else is scored with them.
            seed = self.random_state if random_state is None else random_state
            return (row_uniforms(X_model, seed) < self._hard_mixture(X_model)).astype(int)
        return stats.decide(self._proba_encoded(X_model), 0.5).astype(int)

    def _model_X(self, X):
        check_is_fitted(self, "predictors_")
        X = _check_predict_input(self, X)
        X_model, _ = self._split_sensitive(X, None)
        return _for_base(X_model, *self.predictors_)

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

    def predict(self, X, random_state=None) -> np.ndarray:
        """Class predictions by ``decision_rule_`` (see ``randomized``).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        random_state : int, optional
            Seed of the row hash that resolves the randomized rule (fairlearn's keyword, as in
            ``ExponentiatedGradient.predict``); default the estimator's ``random_state``. A
            deterministic rule ignores it.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        encoded = self._predict_encoded(self._model_X(X), random_state)
        return self.classes_[encoded]


def _hard_labels(est, X) -> np.ndarray:
    """A base learner's hard decisions as 0/1 floats (the labels fairlearn's reductions use)."""
    return (np.asarray(est.predict(X)) == 1).astype(np.float64)


def _n_rows(X) -> int:
    return X.shape[0] if hasattr(X, "shape") else len(X)
