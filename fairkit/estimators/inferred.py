"""Group thresholds on inferred group probabilities: fair decisions without the attribute at prediction.

:class:`InferredGroupThresholdClassifier` is the attribute-blind counterpart of
:class:`~fairkit.estimators.ThresholdPostProcessor` (OxonFair's inferred groups, Delaney et al.,
2024). At training time, where the sensitive attribute is known, it fits the unconstrained base
model and a group classifier that predicts each row's group from its features. A row is accepted
when

    base logit + intercept + sum_g offset_g * P(group g | x) >= 0,

so a row's threshold moves with how much it resembles each group. The search starts from the
offsets that would reproduce the group-aware thresholds (the linear program of
:mod:`fairkit.estimators.postprocess`) were the group known, scales them, and refines each
group's offset in turn; the intercept is the best cut of the combined score. It keeps the most
accurate rule whose gap, measured on the *true* groups of the threshold-fitting rows, is within
the tolerance, or where no cut reaches it, the one with the smallest gap. A cut that scores no
better than the majority decision for everyone is never a candidate: that rule has no gap and
scores better. Prediction reads the features only.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted, validate_data

from fairkit.estimators._memo import memoized_output
from fairkit.estimators.boosting import features_vary
from fairkit.estimators.postprocess import (
    _BOUNDED,
    ThresholdPostProcessor,
    _solve_thresholds,
    constraint_gap,
)
from fairkit.estimators.reductions import _check_predict_input, _for_base, split_sensitive_columns
from fairkit.groups import MIN_GROUP_SIZE
from fairkit.metrics import no_better_than_chance

__all__ = ["InferredGroupThresholdClassifier"]

# Cut points of the combined score per candidate offset vector.
_BINS = 2048
# The search: ``n_offsets`` multiples (0 to _MAX_SCALE) of the offsets that turn the group-aware
# thresholds into inferred ones, then coordinate passes over each group's offset: ``n_offsets``
# values across the scores' spread, then _PASSES - 1 passes of _REFINE values within two steps
# of the pass before.
_MAX_SCALE = 2.0
_REFINE = 9
_PASSES = 3


def _frontier(z, y, codes, w, G, bounded, objective, bins: int = _BINS):
    """Every cut of ``z`` at ``bins`` evenly spaced points (accept ``z >= thr``): the best
    accuracy at each gap, as a Pareto staircase ``(gaps ascending, accuracy, threshold)``.

    One weighted histogram per group and outcome instead of a sort: the search evaluates
    hundreds of offset vectors, and the cuts only need to be finer than the scores' noise.
    """
    lo, hi = float(z.min()), float(z.max())
    width = (hi - lo) / bins if hi > lo else 1.0 / bins
    edges = lo + width * np.arange(bins + 1)
    # Bin of each row (edges[b] <= z < edges[b + 1]), rounding corrected against the edges used.
    b = np.clip(((z - lo) / width).astype(np.int64), 0, bins - 1)
    b -= (z < edges[b]) & (b > 0)
    b += (z >= edges[b + 1]) & (b < bins - 1)
    h = np.bincount((b * G + codes) * 2 + y, weights=w, minlength=bins * G * 2).reshape(bins, G, 2)
    top = np.cumsum(h[::-1], axis=0)[::-1]  # top[k]: the rows of bins >= k, accepted by edges[k]
    pos, neg = top[0, :, 1], top[0, :, 0]
    # Accepting everyone (k = 0) or no one meets any parity and decides nothing: never a candidate.
    tp, fp, thr = top[1:, :, 1], top[1:, :, 0], edges[1:bins]
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = {"tpr": tp / pos, "fpr": fp / neg, "sel": (tp + fp) / (pos + neg)}
    gap = np.zeros(len(thr))
    for name in bounded:
        r = rates[name]
        gap = np.maximum(gap, np.nanmax(r, axis=1) - np.nanmin(r, axis=1))
    if objective == "balanced_accuracy_score":
        acc = 0.5 * (tp.sum(1) / max(pos.sum(), 1e-12) + (neg.sum() - fp.sum(1)) / max(neg.sum(), 1e-12))
    else:
        acc = (tp.sum(1) + neg.sum() - fp.sum(1)) / max(pos.sum() + neg.sum(), 1e-12)
    base = pos.sum() / max(pos.sum() + neg.sum(), 1e-12)
    # Nor is a cut that scores no better than the majority decision for everyone: that rule has
    # no gap and a better objective, so such a cut is dominated. Kept, the cut with the smallest
    # gap at a tolerance no informative cut meets is one that accepts almost everyone (Adult,
    # equalized odds at eta=1 on 4,885 rows: 97 % accepted, accuracy 0.27 against 0.76). When no
    # cut beats it (a score that tells nothing), every cut stays.
    informative = ~no_better_than_chance(acc, objective.removesuffix("_score"), base)
    if informative.any():
        gap, acc, thr = gap[informative], acc[informative], thr[informative]
    o = np.lexsort((-acc, gap))
    gap, acc, thr = gap[o], acc[o], thr[o]
    keep = acc > np.maximum.accumulate(np.concatenate([[-np.inf], acc[:-1]]))
    return gap[keep], acc[keep], thr[keep]


class _GroupBoosting(ClassifierMixin, BaseEstimator):
    """LightGBM's probability of each group given the features (binary or multiclass).

    The default group classifier: one booster for any number of groups (the multiclass
    objective grows one tree per group a round), half the base model's rounds at twice its
    learning rate.
    """

    def __init__(self, n_estimators=50, learning_rate=0.1, num_leaves=31, min_child_samples=20, n_jobs=1,
                 random_state=None):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X, y):
        import lightgbm as lgb

        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=np.float64, ensure_all_finite=False)
        self.classes_, codes = np.unique(y, return_inverse=True)
        K = len(self.classes_)
        seed = 0 if self.random_state is None else int(self.random_state)
        params = {"learning_rate": float(self.learning_rate), "num_leaves": int(self.num_leaves),
                  "min_child_samples": int(self.min_child_samples), "num_threads": int(self.n_jobs),
                  "seed": seed, "deterministic": True, "force_row_wise": True, "verbose": -1,
                  **({"objective": "binary"} if K == 2 else {"objective": "multiclass", "num_class": K})}
        varies = features_vary(X)
        self.prior_ = np.bincount(codes, minlength=K) / len(codes)
        if K < 2 or not varies:
            # One group, or nothing to split on: the groups' shares are the prediction.
            self.booster_ = None
        else:
            data = lgb.Dataset(X, label=codes.astype(np.float64), params={"verbose": -1, "feature_pre_filter": False})
            self.booster_ = lgb.train(params, data, num_boost_round=int(self.n_estimators))
        return self

    def predict_proba(self, X):
        X = validate_data(self, X, reset=False, accept_sparse="csr", dtype=np.float64, ensure_all_finite=False)
        if self.booster_ is None:
            return np.tile(self.prior_, (X.shape[0], 1))
        if sparse.issparse(X):
            X = sparse.csr_matrix(X)  # LightGBM takes scipy's matrix classes, not its arrays
        p = np.asarray(self.booster_.predict(X), dtype=np.float64)
        return np.column_stack([1.0 - p, p]) if p.ndim == 1 else p

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.allow_nan = True
        return tags


def _best_cut(front, tol: float):
    """``(rank, threshold)`` of the best cut for ``tol``: the most accurate within it, ranked
    ``(1, accuracy)``, or failing any, the one with the smallest gap, ranked ``(0, -gap)``."""
    gap, acc, thr = front
    i = int(np.searchsorted(gap, tol + 1e-12, side="right")) - 1
    if i < 0:
        return (0, -float(gap[0])), float(thr[0])
    return (1, float(acc[i])), float(thr[i])


class InferredGroupThresholdClassifier(ThresholdPostProcessor):
    """Thresholds that move with inferred group probabilities; no attribute needed at prediction.

    Parameters
    ----------
    estimator : classifier, optional
        The unconstrained base model (default: LightGBM boosted trees, as
        :class:`~fairkit.estimators.ThresholdPostProcessor`).
    group_estimator : classifier, optional
        Predicts the group from the features (``predict_proba`` over the groups). Defaults to
        LightGBM trees (binary for two groups, multiclass for more: one booster either way),
        which read ``X`` as numbers; with a :class:`~sklearn.pipeline.Pipeline` base, after a
        fresh copy of the base's own preprocessing steps.
    constraint, objective, eta, tolerance, prefit, thresholds_from, holdout_size, n_folds
        As in :class:`~fairkit.estimators.ThresholdPostProcessor` (``prefit`` concerns the base
        model only; the group classifier is always fitted). The gap is measured on the true
        groups of the threshold-fitting rows.
    n_offsets : int, default=21
        Scales (0 to 2) of the offsets that turn the group-aware thresholds into inferred ones,
        and values of each group's offset in the first pass of the coordinate search.
    grid_size : int, default=1000
        Cut points per group of the group-aware thresholds the search starts from.
    predict_method, sensitive_feature_names, drop_sensitive_features, min_group_size, random_state, constraints
        As in :class:`~fairkit.estimators.ThresholdPostProcessor` (``constraints`` is fairlearn's
        name for ``constraint``).

    Attributes
    ----------
    estimator_ : classifier
        The fitted base model.
    group_estimator_ : classifier or None
        The fitted group classifier (None with a single group).
    group_names_ : ndarray
        The groups it predicts (small groups pooled as in the thresholded method).
    offsets_ : ndarray of shape (n_groups,)
        Logit offset per unit of each group's probability (the first group's is 0).
    intercept_ : float
        Logit offset shared by every row.
    max_tolerance_, tolerance_, constraint_gap_, n_threshold_rows_, classes_
        As in :class:`~fairkit.estimators.ThresholdPostProcessor`.
    randomized_ : bool
        Always False: one deterministic cut.
    decision_kind_ : str
        ``"hard"``: ``predict_proba`` is the decision (0 or 1).

    Notes
    -----
    ``predict``, ``predict_proba`` and ``decision_probability`` read ``X`` only; their
    ``sensitive_features`` argument (kept for one signature with the group-aware class) is
    ignored. The rule is deterministic, so ``decision_probability`` is the decision itself.
    """

    #: The group is inferred from the features: predictions read ``X`` only.
    needs_sensitive_at_predict = False

    def __init__(
        self,
        estimator=None,
        group_estimator=None,
        constraint: str | None = None,
        objective: str = "accuracy_score",
        eta: float = 1.0,
        tolerance: float | None = None,
        prefit: bool = False,
        thresholds_from: str = "auto",
        holdout_size: float = 0.25,
        n_folds: int = 3,
        n_offsets: int = 21,
        grid_size: int = 1000,
        predict_method: str = "auto",
        sensitive_feature_names=None,
        drop_sensitive_features: bool = True,
        min_group_size: int = MIN_GROUP_SIZE,
        random_state: int = 0,
        *,
        constraints: str | None = None,
    ):
        super().__init__(
            estimator=estimator, constraint=constraint, objective=objective, eta=eta, tolerance=tolerance,
            prefit=prefit, thresholds_from=thresholds_from, holdout_size=holdout_size, n_folds=n_folds,
            grid_size=grid_size, predict_method=predict_method, sensitive_feature_names=sensitive_feature_names,
            drop_sensitive_features=drop_sensitive_features, min_group_size=min_group_size,
            random_state=random_state, constraints=constraints)
        self.group_estimator = group_estimator
        self.n_offsets = n_offsets

    # -- what is fitted and read -----------------------------------------------------------

    def _models(self):
        models = [("estimator_", self._base_template(), "y")]
        G = len(self.group_names_)
        if G > 1:
            inner = self.group_estimator
            if inner is None:
                inner = _GroupBoosting(random_state=self.random_state)
                base = self._base_template()
                if isinstance(base, Pipeline) and len(base.steps) > 1:
                    # The base reads raw X through its preprocessing (text columns encoded, ...);
                    # the group model reads it the same way, not raw (it failed there on text).
                    inner = Pipeline(clone(base, safe=False).steps[:-1] + [("groups", inner)])
            models.append(("group_estimator_", inner, "group"))
        return models

    def _fit_model(self, name, template, X, target, w):
        if name == "group_estimator_":
            # Which group a row belongs to is not weighted by the outcome's sample weights.
            try:
                return clone(template, safe=False).fit(X, target)
            except ValueError as exc:
                if self.group_estimator is not None:
                    raise
                raise ValueError(
                    f"{type(self).__name__}'s default group classifier (LightGBM trees) could not read X: "
                    f"{exc}. It reads X as numbers; pass group_estimator= a classifier that reads X as your "
                    "base model does (for example a Pipeline with the same preprocessing).") from exc
        return super()._fit_model(name, template, X, target, w)

    def _outputs(self, name, est, X) -> np.ndarray:
        if name == "group_estimator_":
            proba = memoized_output(est, ("groups",), X, lambda: np.asarray(est.predict_proba(X), dtype=np.float64))
            out = np.zeros((proba.shape[0], len(self.group_names_)))
            out[:, np.asarray(est.classes_, dtype=int)] = proba
            return out
        scores = super()._outputs(name, est, X)
        method = self.predict_method
        if method == "auto":
            method = next((m for m in ("predict_proba", "decision_function") if hasattr(est, m)), "predict")
        if method == "predict_proba":  # offsets act on the log-odds
            p = np.clip(scores, 1e-6, 1 - 1e-6)
            scores = np.log(p / (1 - p))
        return scores

    def _adopt(self, source, shared):
        super()._adopt(source, shared)
        if "group_estimator_" not in shared["fitted"]:
            self.group_estimator_ = None
        return self

    # -- the search --------------------------------------------------------------------------

    def _combined(self, shared, offsets):
        z = shared["outputs"]["estimator_"]
        if self.group_estimator_ is None:
            return z
        return z + shared["outputs"]["group_estimator_"] @ offsets

    def _front(self, shared, offsets):
        cache = shared["cache"]
        key = ("front", self._constraint(), self.objective, tuple(np.round(offsets, 9)))
        if key not in cache:
            w = np.ones(len(shared["y"])) if shared["w"] is None else shared["w"]
            cache[key] = _frontier(self._combined(shared, offsets), shared["y"], shared["codes"], w,
                                   len(self.group_names_), _BOUNDED[self._constraint()], self.objective)
        return cache[key]

    def _aware_offsets(self, shared, tol) -> np.ndarray:
        """Offsets that give each group, were its probability 1, the threshold the group-aware
        rule (:class:`ThresholdPostProcessor`'s linear program) gives it at ``tol``."""
        z = shared["outputs"]["estimator_"]
        hulls, pos, neg = self._group_hulls(shared)
        weights = _solve_thresholds(hulls, pos, neg, _BOUNDED[self._constraint()], tol, self.objective)
        lo, hi = float(z.min()) - 1.0, float(z.max()) + 1.0
        T = np.empty(len(hulls))
        for g, (lam, (thr, _, _)) in enumerate(zip(weights, hulls)):
            # The threshold where the group's mixture accepts with probability 1/2.
            order = np.argsort(-thr)
            k = int(np.searchsorted(np.cumsum(lam[order]), 0.5 - 1e-12))
            T[g] = np.clip(thr[order][min(k, len(order) - 1)], lo, hi)
        return -(T - T[0])

    def _search(self, shared, tol):
        """The offsets and cut of the most accurate rule within ``tol`` (or the smallest gap)."""
        G = len(self.group_names_)
        offsets = np.zeros(G)
        best = _best_cut(self._front(shared, offsets), tol)
        if G < 2:
            return offsets, best

        def consider(trial):
            nonlocal offsets, best
            cut = _best_cut(self._front(shared, trial), tol)
            if cut[0][0] > best[0][0] or (cut[0][0] == best[0][0] and cut[0][1] > best[0][1] + 1e-12):
                offsets, best = trial, cut

        direction = self._aware_offsets(shared, tol)
        for a in np.linspace(0.0, _MAX_SCALE, int(self.n_offsets))[1:]:
            consider(a * direction)
        # Then each group's offset in turn, over both signs (an inferred probability is a soft
        # membership: the best offset need not follow the aware thresholds), narrowing each pass.
        z = shared["outputs"]["estimator_"]
        span = max(_MAX_SCALE * float(np.abs(direction).max()), float(np.quantile(z, 0.95) - np.quantile(z, 0.05)))
        points = int(self.n_offsets)
        for _ in range(_PASSES):
            for g in range(1, G):
                centre = offsets.copy()
                for v in np.linspace(-span, span, points):
                    if v != 0:
                        trial = centre.copy()
                        trial[g] += v
                        consider(trial)
            span, points = 2.0 * span / max(points - 1, 1), _REFINE
        return offsets, best

    def _check_params(self):
        super()._check_params()
        k = self.n_offsets
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
            # 0 or 1 searched no offset and kept the group-blind cut without a word.
            raise ValueError(f"n_offsets must be a whole number of at least 2, got {k!r}")

    def _fit_rule(self, shared: dict):
        w = shared["w"]
        self.offsets_ = np.zeros(len(self.group_names_))
        gap, acc, thr = self._front(shared, self.offsets_)
        unconstrained = int(np.argmax(acc))  # the most accurate cut, whatever its gap
        self.intercept_ = -float(thr[unconstrained])
        y, codes, G = shared["y"], shared["codes"], len(self.group_names_)
        self.max_tolerance_ = constraint_gap(self._rule(shared), y, codes, G, self._constraint(), w)
        self.tolerance_ = self._tolerance(self.max_tolerance_)
        if self.tolerance_ < self.max_tolerance_:
            # Below the smallest gap a cut reaches, the (informative) cut with the smallest gap.
            offsets, cut = self._search(shared, self.tolerance_)
            self.offsets_, self.intercept_ = offsets, -cut[1]
        self.constraint_gap_ = constraint_gap(self._rule(shared), y, codes, G, self._constraint(), w)
        self.n_threshold_rows_ = int(len(y))
        self.randomized_ = False
        self.decision_kind_ = "hard"
        return self

    def _rule(self, shared) -> np.ndarray:
        return (self._combined(shared, self.offsets_) + self.intercept_ >= 0).astype(np.float64)

    # -- prediction ----------------------------------------------------------------------------

    def _predict_inputs(self, X, sensitive_features=None):
        check_is_fitted(self, "offsets_")
        X = _check_predict_input(self, X)
        X_model, _ = split_sensitive_columns(X, None, self.sensitive_feature_names, self.drop_sensitive_features)
        estimators = [self.estimator_] + ([] if self.group_estimator_ is None else [self.group_estimator_])
        return _for_base(X_model, *estimators), None

    def _expected(self, X_model, codes) -> np.ndarray:
        z = self._outputs("estimator_", self.estimator_, X_model)
        if self.group_estimator_ is not None:
            z = z + self._outputs("group_estimator_", self.group_estimator_, X_model) @ self.offsets_
        return (z + self.intercept_ >= 0).astype(np.float64)
