"""Group-specific thresholds (Hardt et al., 2016) on top of an unconstrained model, fitted once.

:class:`ThresholdPostProcessor` scores rows with an unconstrained base model (LightGBM boosted
trees by default: post-processing the most accurate model matches most in-processing, Cruz &
Hardt 2024) and gives every group its own decision rule on that score. A group's rule is a
mixture of thresholds: a point of the convex hull of the group's ROC curve, which is what a
randomized threshold can reach. The most accurate rules whose constrained rates (selection rate,
true or false positive rate, or both for equalized odds) differ across groups by at most a
tolerance are the solution of one small linear program over the hull vertices. ``eta`` is the
fraction of the unconstrained gap removed: ``eta=0`` gives each group its own best threshold,
``eta=1`` exact parity on the data the thresholds were fitted on.

The base is fitted once; :meth:`ThresholdPostProcessor.fit_etas` turns its scores into the
thresholds of any number of etas (the sweep's batched fit), which is what makes a whole eta grid
cost about one base fit.

Randomized rules are resolved per row by a hash of the row's features (:func:`row_uniforms`), so
the decision of a row never depends on the other rows of the batch, and ``predict_proba`` is the
decision itself (0 or 1): reports computed from it measure the decisions ``predict`` ships
(``decision_kind_ = "hard"``). :meth:`ThresholdPostProcessor.decision_probability` gives the
probability of a positive decision before that draw, the expected decision.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy.optimize import linprog
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import check_is_fitted

from fairkit.estimators._inputs import check_fit_groups, fit_weighted, row_uniforms, warn_no_groups
from fairkit.estimators._memo import memoized_output
from fairkit.estimators.boosting import AUTO_ROUNDS_FROM_ROWS
from fairkit.estimators.reductions import (
    BinaryWrapperTagsMixin,
    GroupScoreMixin,
    _check_fit_inputs,
    _check_predict_input,
    _for_base,
    constraint_name,
    missing_groups_message,
    split_sensitive_columns,
)
from fairkit import stats
from fairkit.groups import (MIN_GROUP_SIZE, SmallGroupPooling, check_group_columns, group_columns, group_labels,
                            stratification_labels, unseen_groups_note)

__all__ = ["ThresholdPostProcessor", "SIMPLE_CONSTRAINTS", "row_uniforms", "default_base"]

#: Constraint name -> the per-group rate it equalises (fairlearn's "simple" constraints).
SIMPLE_CONSTRAINTS = {
    "demographic_parity": "selection_rate",
    "selection_rate_parity": "selection_rate",
    "true_positive_rate_parity": "true_positive_rate",
    "false_positive_rate_parity": "false_positive_rate",
    "false_negative_rate_parity": "false_negative_rate",
    "true_negative_rate_parity": "true_negative_rate",
}
#: Constraint name -> the hull coordinates whose spread is bounded ("sel", "tpr", "fpr").
#: A false negative rate is 1 - TPR and a true negative rate 1 - FPR: the same spread.
_BOUNDED = {
    "demographic_parity": ("sel",), "selection_rate_parity": ("sel",),
    "true_positive_rate_parity": ("tpr",), "false_negative_rate_parity": ("tpr",),
    "false_positive_rate_parity": ("fpr",), "true_negative_rate_parity": ("fpr",),
    "equalized_odds": ("tpr", "fpr"),
}
OBJECTIVES = ("accuracy_score", "balanced_accuracy_score")
#: Where the thresholds are fitted (see ``thresholds_from``).
THRESHOLD_SOURCES = ("auto", "train", "holdout", "crossfit", "threshold_set")
#: Below this many training rows ``thresholds_from="auto"`` fits the thresholds on out-of-fold
#: scores, at or above it on the base's own training scores (benchmarks/README.md, issue #21:
#: on German's 600 rows the trees' training scores are optimistic and out-of-fold thresholds
#: gave 27-68 % more validation hypervolume; on Adult's 29k the two tied within 0.5 %, and the
#: extra fits would cost three base fits more). The trees' one small-data boundary: the default
#: base's rounds change at the same row count.
CROSSFIT_BELOW_ROWS = AUTO_ROUNDS_FROM_ROWS
_ALL_GROUPS = "(all)"


def default_base(random_state=None):
    """The default base model: LightGBM boosted trees with no fairness term, their rounds set by
    the training rows (``n_estimators="auto"``): every eta's thresholds trade accuracy away from
    this one model, so its accuracy bounds the whole post-processed front (the measurements, and
    why the boosted-trees family keeps 100: :data:`fairkit.estimators.boosting.AUTO_ROUNDS_FROM_ROWS`).
    """
    from fairkit.estimators.boosting import FairBoostingClassifier

    return FairBoostingClassifier(eta=0.0, n_estimators="auto", random_state=random_state)


# --------------------------------------------------------------------------- group ROC hulls

def _upper_hull(f: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Indices of the upper convex hull of ROC points sorted by (f, t), from (0, 0) to (1, 1)."""
    hull: list = []
    for i in range(len(f)):
        while len(hull) >= 2:
            o, a = hull[-2], hull[-1]
            cross = (f[a] - f[o]) * (t[i] - t[o]) - (t[a] - t[o]) * (f[i] - f[o])
            if cross < 0:  # a clockwise turn: a stays on the upper hull
                break
            hull.pop()
        hull.append(i)
    return np.asarray(hull, dtype=np.int64)


def _group_hull(scores, y, w, grid_size: int):
    """The ROC hull of one group: thresholds (accept ``score >= thr``) and their (FPR, TPR).

    The cuts are the group's distinct scores (at most ``grid_size`` quantiles of them); each
    threshold sits halfway between a cut and the next lower score, so held-out scores between
    two training scores are decided by the nearer one. The first vertex accepts no one
    (threshold +inf), the last everyone (-inf).
    """
    order = np.argsort(-scores, kind="stable")
    s, yy, ww = scores[order], y[order], w[order]
    pos_total, neg_total = float((ww * yy).sum()), float((ww * (1 - yy)).sum())
    cum_pos = np.concatenate([[0.0], np.cumsum(ww * yy)])
    cum_neg = np.concatenate([[0.0], np.cumsum(ww * (1 - yy))])
    # Cut after position k (accept the k highest scores) only where the score changes.
    ends = np.flatnonzero(np.diff(s) != 0) + 1  # first rows of lower scores
    if len(ends) > grid_size:
        ends = ends[np.unique(np.linspace(0, len(ends) - 1, grid_size).round().astype(int))]
    ks = np.concatenate([[0], ends, [len(s)]])
    thr = np.concatenate([[np.inf], (s[ends - 1] + s[ends]) / 2.0, [-np.inf]])
    tpr = cum_pos[ks] / pos_total if pos_total > 0 else np.linspace(0, 1, len(ks))
    fpr = cum_neg[ks] / neg_total if neg_total > 0 else np.linspace(0, 1, len(ks))
    keep = _upper_hull(fpr, tpr)
    return thr[keep], fpr[keep], tpr[keep]


def _solve_thresholds(hulls, pos, neg, bounded, tol: float, objective: str):
    """The most accurate hull points whose bounded rates lie within ``tol`` of each other.

    One linear program: each group's point is a convex combination of its hull vertices (the
    weights are the probabilities of using each vertex's threshold); each bounded rate of every
    group lies in ``[L, L + tol]`` for a free ``L``. Returns per group the vertex weights.
    """
    G = len(hulls)
    sizes = [len(h[0]) for h in hulls]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    nv, R = int(offsets[-1]), len(bounded)
    c = np.zeros(nv + R)
    rate_rows = {name: np.zeros((G, nv + R)) for name in ("sel", "tpr", "fpr")}
    for g, ((_, f, t), value) in enumerate(zip(hulls, _vertex_values(hulls, pos, neg, objective))):
        sl = slice(offsets[g], offsets[g + 1])
        c[sl] = -value
        rate_rows["tpr"][g, sl] = t
        rate_rows["fpr"][g, sl] = f
        rate_rows["sel"][g, sl] = (pos[g] * t + neg[g] * f) / max(pos[g] + neg[g], 1e-12)
    A_ub, b_ub = [], []
    for r, name in enumerate(bounded):
        rows = rate_rows[name].copy()
        rows[:, nv + r] = -1.0
        A_ub += [rows, -rows]  # rate - L <= tol and L - rate <= 0
        b_ub += [np.full(G, tol), np.zeros(G)]
    A_eq = np.zeros((G, nv + R))
    A_eq[np.repeat(np.arange(G), sizes), np.arange(nv)] = 1.0  # each group's weights sum to 1
    res = linprog(c, A_ub=np.vstack(A_ub) if A_ub else None,
                  b_ub=np.concatenate(b_ub) if b_ub else None, A_eq=A_eq, b_eq=np.ones(G),
                  bounds=[(0, 1)] * nv + [(None, None)] * R, method="highs")
    if res.status != 0:  # parity is always feasible (everyone accepted), so this is numerical
        raise RuntimeError(f"the threshold linear program failed: {res.message}")
    lam = np.clip(res.x[:nv], 0.0, None)
    lam[lam < 1e-9] = 0.0
    return [part / part.sum() for part in np.split(lam, offsets[1:-1])]


def _vertex_values(hulls, pos, neg, objective: str) -> list:
    """Each group's share of the objective at each hull vertex, up to a constant: accuracy
    counts true positives less false positives (weighted rows), balanced accuracy the same
    as shares of all positives and all negatives."""
    P, N = float(np.sum(pos)), float(np.sum(neg))
    if objective == "balanced_accuracy_score":
        return [(pos[g] / max(P, 1e-12)) * t - (neg[g] / max(N, 1e-12)) * f for g, (_, f, t) in enumerate(hulls)]
    total = max(P + N, 1e-12)
    return [(pos[g] * t - neg[g] * f) / total for g, (_, f, t) in enumerate(hulls)]


def _best_vertices(hulls, pos, neg, objective: str):
    """Each group's most accurate hull vertex alone (no constraint), as one-hot weights."""
    out = []
    for (_, f, _), value in zip(hulls, _vertex_values(hulls, pos, neg, objective)):
        lam = np.zeros(len(f))
        lam[int(np.argmax(value))] = 1.0
        out.append(lam)
    return out


def constraint_gap(decision, y, codes, n_groups: int, constraint: str, sample_weight=None) -> float:
    """Spread across groups of the rate(s) ``constraint`` equalises, for (expected) decisions.

    Parameters
    ----------
    decision : ndarray of shape (n,)
        Decisions, or probabilities of a positive decision (counted as expected decisions).
    y : ndarray of shape (n,)
        0/1 outcomes.
    codes : ndarray of int, shape (n,)
        Group of each row in ``0 .. n_groups - 1``.
    n_groups : int
    constraint : str
        A key of :data:`SIMPLE_CONSTRAINTS` or ``"equalized_odds"``.
    sample_weight : ndarray of shape (n,), optional

    Returns
    -------
    float
        The kernel's max-min gap (the larger of the two for equalized odds); 0 when no group
        has the rate.
    """
    d = np.asarray(decision, dtype=np.float64)
    gs = stats.group_sums(np.asarray(y, dtype=np.float64), np.clip(d, 0.0, 1.0), codes, n_groups,
                          decisions=d, sample_weight=sample_weight)
    rates = stats.group_rates(gs)
    every = np.ones(n_groups, dtype=bool)
    # A false negative rate is 1 - TPR and a true negative rate 1 - FPR: the same spread.
    names = {"sel": "selection_rate", "tpr": "tpr", "fpr": "fpr"}
    out = 0.0
    for key in _BOUNDED[constraint]:
        g = float(stats.gap(rates[names[key]][0, 0], every))
        out = max(out, g if np.isfinite(g) else 0.0)
    return out


def _positive_index(estimator, positive_label) -> int:
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        return 1
    hits = np.flatnonzero(np.asarray(classes) == positive_label)
    if not len(hits):
        raise ValueError(
            f"the base estimator's classes {list(classes)} do not include the positive label "
            f"{positive_label!r}"
        )
    return int(hits[0])


def _scores_of(est, X, method: str, pos_index: int, positive_label) -> np.ndarray:
    """Positive-class scores of a fitted model as float64 (``method``: "auto" picks the first of
    predict_proba, decision_function, predict it has)."""
    if method == "auto":
        method = next((m for m in ("predict_proba", "decision_function") if hasattr(est, m)), "predict")
    out = getattr(est, method)(X)
    if method == "predict_proba":
        out = np.asarray(out)[:, pos_index]
    elif method == "predict":
        out = np.asarray(out) == positive_label
    # float64 from here on: float32 scores would tie rows a float64 model tells apart.
    return np.asarray(out, dtype=np.float64).ravel()


def held_out_rows_serve(n_rows: int) -> bool:
    """Whether rows held out for the thresholds (a ``threshold_set``) can serve ``"auto"`` on
    ``n_rows`` training rows: from :data:`CROSSFIT_BELOW_ROWS` on. Below it every training row's
    out-of-fold score is already unseen by the model that scores it, so reserved rows would only
    shrink the validation part (on German a 100-row set gave worse thresholds). The CLI's
    ``--threshold-rows`` and the Train page offer the rows by this rule."""
    return int(n_rows) >= CROSSFIT_BELOW_ROWS


def threshold_source(est, n_rows: int, has_set: bool = False) -> str:
    """The scores ``est`` (a post-processor) fits its thresholds on for ``n_rows`` training rows,
    ``has_set``: whether ``fit`` got a ``threshold_set``. Its ``thresholds_from`` with "auto"
    resolved: out-of-fold scores below ``CROSSFIT_BELOW_ROWS`` training rows; from there on the
    set, when given, for a constraint on rates given the outcome (equalized odds, the TPR / FPR
    parities), else the training scores. A prefit base: the set when given, else ``fit``'s rows
    ("train"). Read by its fit and by its cost model (:mod:`fairkit.costs`)."""
    if getattr(est, "prefit", False):
        return "threshold_set" if has_set else "train"
    source = getattr(est, "thresholds_from", "train")
    if source == "auto":
        if not held_out_rows_serve(n_rows):
            return "crossfit"
        # Measured (benchmarks/README.md, issue #21, sessions 29-31): rows the base has not seen
        # give equalized-odds thresholds that keep their gap on new rows (the trees' training
        # scores separate the outcomes too well), while for parity of selection rates the
        # training rows' numbers win over a few thousand held-out ones.
        if has_set and set(_BOUNDED.get(getattr(est, "constraint", ""), ())) & {"tpr", "fpr"}:
            return "threshold_set"
        return "train"
    return source


class ThresholdPostProcessor(BinaryWrapperTagsMixin, GroupScoreMixin, ClassifierMixin, BaseEstimator):
    """Group-specific (randomized) thresholds on an unconstrained model's scores.

    Parameters
    ----------
    estimator : classifier, optional
        The unconstrained base model. Fitted here unless ``prefit=True``. Defaults to LightGBM
        boosted trees (:func:`default_base`: ``FairBoostingClassifier(eta=0)``).
    constraint : str, optional
        ``"demographic_parity"`` (the default), ``"equalized_odds"``, or
        ``"{true,false}_{positive,negative}_rate_parity"`` (fairlearn's names; the registry's
        ``"equal_opportunity"`` reads as ``"true_positive_rate_parity"``).
    objective : {"accuracy_score", "balanced_accuracy_score"}, default="accuracy_score"
        What the thresholds maximise (weighted by ``sample_weight``).
    eta : float in [0, 1], default=1.0
        Fairness strength: the fraction of the unconstrained gap removed. ``tolerance = (1 -
        eta) * max_tolerance_``, where ``max_tolerance_`` is the gap of each group's own most
        accurate threshold on the data the thresholds are fitted on; ``eta=1`` is exact parity
        there. For equalized odds the gap is the larger of the TPR and FPR spreads, both
        bounded at once (randomized thresholds on each group's ROC hull, Hardt et al. 2016).
    tolerance : float, optional
        Absolute tolerance on the spread of the constrained rate(s); overrides ``eta``.
    prefit : bool, default=False
        Use ``estimator`` as already fitted (``thresholds_from`` is then ignored: the
        thresholds are fitted on ``fit``'s ``threshold_set`` when given, else on the rows
        ``fit`` gets).
    thresholds_from : {"auto", "train", "holdout", "crossfit", "threshold_set"}, default="auto"
        Which scores the thresholds are fitted on. ``"train"``: the base model's scores on its
        own training rows. ``"holdout"``: the base is fitted on ``1 - holdout_size`` of the
        rows and the thresholds on the rest (OxonFair's held-out fitting, inside the training
        data). ``"crossfit"``: out-of-fold scores of ``n_folds`` extra base fits, with the base
        itself fitted on every row (``"train"`` when an outcome has fewer rows than folds).
        ``"auto"``: ``"crossfit"`` below :data:`CROSSFIT_BELOW_ROWS` training rows, ``"train"``
        from there on (the measured choice, benchmarks/README.md, issue #21).
        ``"threshold_set"``: the rows ``fit`` gets as ``threshold_set`` (held out from the base
        model, such as a sweep's reserved rows, :func:`fairkit.split.reserve_threshold_rows`),
        the base fitted on every training row. From :data:`CROSSFIT_BELOW_ROWS` training rows
        on, ``"auto"`` takes them when given for a constraint on rates given the outcome
        (equalized odds, the TPR / FPR parities), where the trees' own training scores give
        thresholds that miss their gap on new rows, and keeps the training scores for parity
        of selection rates, where their numbers did better (measured, same section). The rows
        the frontier is chosen on are never used.
    holdout_size : float, default=0.25
        Share of the rows kept for the thresholds with ``thresholds_from="holdout"``.
    n_folds : int, default=3
        Folds of ``thresholds_from="crossfit"``.
    grid_size : int, default=1000
        At most this many cut points per group's ROC curve (quantiles of its distinct scores).
    predict_method : {"auto", "predict_proba", "decision_function", "predict"}, default="auto"
        Which output of ``estimator`` is thresholded ("auto": the first that exists).
    sensitive_feature_names : list of str or int, optional
        Columns of ``X`` that hold the sensitive features (used when ``sensitive_features`` is
        not passed), so the model runs in a ``Pipeline``.
    drop_sensitive_features : bool, default=True
        Remove those columns before ``X`` reaches ``estimator``.
    min_group_size : int, default=30
        Groups with fewer training rows than this, or with only one outcome, share the
        thresholds of one pooled group (the one small-group policy,
        :class:`fairkit.groups.SmallGroupPooling`); so do groups first seen at prediction time
        (with a warning).
    random_state : int, default=0
        Seed of the row hash that resolves randomized thresholds (:func:`row_uniforms`), of the
        holdout split and folds, and of the default base model.
    constraints : str, optional
        fairlearn's name for ``constraint`` (``ThresholdOptimizer``'s keyword); pass one of the
        two (:func:`fairkit.estimators.reductions.constraint_name`).

    Attributes
    ----------
    estimator_ : classifier
        The fitted base model (shared by every model of one :meth:`fit_etas` call).
    group_names_ : ndarray
        Groups with thresholds of their own (plus the pooled group, if any).
    pooled_groups_ : list
        Training groups too small or one-sided for thresholds of their own.
    pool_target_ : str or None
        Group whose thresholds pooled and unseen groups use.
    thresholds_ : ndarray of shape (n_groups, m)
        Each group's thresholds (a row is accepted by threshold j when its score is >= it),
        padded with +inf.
    threshold_weights_ : ndarray of shape (n_groups, m)
        Probability of using each threshold (rows sum to 1): P(positive decision | score,
        group) is the summed weight of the thresholds the score passes.
    max_tolerance_ : float
        Gap of the unconstrained thresholds on the threshold-fitting rows.
    tolerance_ : float
        The tolerance in effect.
    constraint_gap_ : float
        Expected gap of the fitted rule on the threshold-fitting rows, of the scores the
        thresholds were fitted on: with ``thresholds_from="crossfit"`` (``"auto"`` below
        10,000 training rows) those are out-of-fold scores, not the shipped base's own, whose
        gap on the same rows can be larger (benchmarks/README.md, session 51).
        Over the groups as pooled (``pooled_groups_``).
    randomized_ : bool
        Whether some group's rule mixes two or more thresholds.
    decision_kind_ : str
        ``"hard"``: ``predict_proba`` is the decision (0 or 1), not a score, so a ranking
        metric (AUC) of it measures decisions only.
    n_threshold_rows_ : int
        Rows the thresholds were fitted on.
    thresholds_from_ : str
        The scores they were fitted on (``thresholds_from`` resolved, see
        :func:`threshold_source`: "train" when prefit without a ``threshold_set``).
    classes_ : ndarray of shape (2,)

    Notes
    -----
    Thresholds are per group, so ``predict`` and ``predict_proba`` need ``sensitive_features``
    (or ``sensitive_feature_names`` columns) whenever ``fit`` had them.

    ``predict_proba[:, 1]`` is 1 for a row that is accepted and 0 otherwise: a row whose score
    lies where its group's rule mixes thresholds is accepted when its hash
    (:func:`row_uniforms`) is below the probability of a positive decision
    (:meth:`decision_probability`). So ``predict`` equals ``predict_proba >= 0.5``
    (scikit-learn's consistency), every report computed from ``predict_proba`` measures the
    decisions ``predict`` makes, and the same row always gets the same decision; identical
    rows of one group get the same one.
    """

    #: Group-specific thresholds: the group of each row is needed to decide it.
    needs_sensitive_at_predict = True

    #: A model stored before fairlearn's ``constraints`` spelling was accepted (a bundle, a
    #: pickle) has no such attribute: read as not given, so get_params, clone and repr still work.
    constraints = None

    def __init__(
        self,
        estimator=None,
        constraint: str | None = None,
        objective: str = "accuracy_score",
        eta: float = 1.0,
        tolerance: float | None = None,
        prefit: bool = False,
        thresholds_from: str = "auto",
        holdout_size: float = 0.25,
        n_folds: int = 3,
        grid_size: int = 1000,
        predict_method: str = "auto",
        sensitive_feature_names=None,
        drop_sensitive_features: bool = True,
        min_group_size: int = MIN_GROUP_SIZE,
        random_state: int = 0,
        *,
        constraints: str | None = None,
    ):
        self.estimator = estimator
        self.constraint = constraint
        self.objective = objective
        self.eta = eta
        self.tolerance = tolerance
        self.prefit = prefit
        self.thresholds_from = thresholds_from
        self.holdout_size = holdout_size
        self.n_folds = n_folds
        self.grid_size = grid_size
        self.predict_method = predict_method
        self.sensitive_feature_names = sensitive_feature_names
        self.drop_sensitive_features = drop_sensitive_features
        self.min_group_size = min_group_size
        self.random_state = random_state
        self.constraints = constraints

    # -- checks -----------------------------------------------------------------------------

    def _constraint(self) -> str:
        """The constraint, from ``constraint`` or fairlearn's ``constraints`` (not both)."""
        return constraint_name(self.constraint, self.constraints)

    def _check_params(self):
        constraint = self._constraint()
        if not isinstance(constraint, str) or constraint not in _BOUNDED:
            raise ValueError(f"unknown constraint {constraint!r}; use 'equalized_odds' or one of "
                             f"{sorted(SIMPLE_CONSTRAINTS)}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.thresholds_from not in THRESHOLD_SOURCES:
            raise ValueError(f"thresholds_from must be one of {THRESHOLD_SOURCES}, got {self.thresholds_from!r}")
        if not 0 < float(self.holdout_size) < 1:
            raise ValueError(f"holdout_size must be in (0, 1), got {self.holdout_size!r}")
        if int(self.n_folds) < 2:
            raise ValueError(f"n_folds must be at least 2, got {self.n_folds!r}")
        grid = self.grid_size
        if isinstance(grid, bool) or not isinstance(grid, (int, np.integer)) or grid < 2:
            # 0 or 1 left a hull of "no one" and "everyone": every row was accepted without a
            # word (estimators audit, session 51).
            raise ValueError(f"grid_size must be a whole number of at least 2, got {grid!r}")

    def _tolerance(self, max_tolerance: float) -> float:
        if self.tolerance is not None:
            tol = float(self.tolerance)
            if not tol >= 0:
                raise ValueError(f"tolerance must be >= 0, got {self.tolerance!r}")
            return tol
        eta = float(self.eta)
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {self.eta!r}")
        return (1.0 - eta) * max_tolerance

    def _labels(self, s, n: int) -> np.ndarray:
        if s is None:
            return np.full(n, _ALL_GROUPS, dtype=object)
        labels = group_labels(s).to_numpy(dtype=object)
        if len(labels) != n:
            raise ValueError(f"sensitive_features has {len(labels)} rows but X has {n}")
        return labels

    # -- the shared part: base model(s), scores and groups ----------------------------------

    def _base_template(self):
        return default_base(self.random_state) if self.estimator is None else self.estimator

    def _models(self):
        """The models fitted on the data: ``[(name, template, target)]``; target "y" (the outcome)."""
        return [("estimator_", self._base_template(), "y")]

    def _outputs(self, name, est, X) -> np.ndarray:
        """What the threshold rule reads from a fitted model (the base's positive scores)."""
        if self.prefit:  # a model fitted elsewhere may be refitted in place: never remembered
            return _scores_of(est, X, self.predict_method, self._pos_index_, self._positive_label_)
        return memoized_output(est, ("scores", self.predict_method, self._pos_index_, self._positive_label_), X,
                               lambda: _scores_of(est, X, self.predict_method, self._pos_index_,
                                                  self._positive_label_))

    def _fit_model(self, name, template, X, target, w):
        return fit_weighted(clone(template, safe=False), X, target, w)

    def _threshold_rows(self, threshold_set, with_groups: bool):
        """``threshold_set`` checked: ``(X_model, y 0/1, raw group labels)`` of the rows the
        thresholds are fitted on."""
        if not isinstance(threshold_set, (tuple, list)) or len(threshold_set) not in (2, 3):
            raise ValueError("threshold_set must be a tuple (X, y) or (X, y, sensitive_features)")
        X_t, y_t = threshold_set[0], np.asarray(threshold_set[1])
        s_t = threshold_set[2] if len(threshold_set) == 3 else None
        if y_t.ndim != 1 or len(y_t) == 0:
            raise ValueError(f"threshold_set's y must be a non-empty 1-d array, got shape {y_t.shape}")
        unknown = sorted(set(y_t.tolist()) - set(self.classes_.tolist()), key=str)
        if unknown:
            raise ValueError(f"threshold_set's y has labels {unknown} that fit's y does not "
                             f"({list(self.classes_)}): pass the same two classes")
        X_t = _check_predict_input(self, X_t)
        X_t, s_t = split_sensitive_columns(X_t, s_t, self.sensitive_feature_names, self.drop_sensitive_features)
        if (s_t is None) == with_groups:
            raise ValueError("threshold_set must carry sensitive features exactly when fit does: "
                             "(X, y, sensitive_features) with them, (X, y) without")
        n_t = X_t.shape[0] if hasattr(X_t, "shape") else len(X_t)
        if n_t != len(y_t):
            raise ValueError(f"threshold_set has {n_t} rows of X but {len(y_t)} labels")
        return X_t, (y_t == self.classes_[1]).astype(int), self._labels(s_t, n_t)

    def _fit_shared(self, X, y, sensitive_features, sample_weight, threshold_set=None, etas=None) -> dict:
        """Fit the base model(s) once and collect what every eta's thresholds are fitted on
        (``etas``: the strengths that will be fitted on it, this model's when None)."""
        self._check_params()
        X, y_arr, self.classes_, w = _check_fit_inputs(self, X, y, sample_weight)
        y_enc = (y_arr == self.classes_[1]).astype(int)
        X_model, s = split_sensitive_columns(
            X, sensitive_features, self.sensitive_feature_names, self.drop_sensitive_features)
        n = len(y_enc)
        self.fitted_with_groups_ = s is not None
        self.group_columns_ = [] if s is None else group_columns(s)  # prediction's must match
        source = threshold_source(self, n, has_set=threshold_set is not None)
        if source == "threshold_set" and threshold_set is None:
            raise ValueError("thresholds_from='threshold_set' needs fit(..., threshold_set=(X, y[, sensitive_features]))")
        held = None if threshold_set is None else self._threshold_rows(threshold_set, s is not None)  # checked always
        if source != "threshold_set":
            held = None  # thresholds_from, or "auto"'s choice, names another source
        raw = self._labels(s, n)
        asked = any(float(e) > 0 for e in ([self.eta] if etas is None else etas))
        given = check_fit_groups(self, s, asked, labels=raw, stacklevel=3)
        if held is None:
            labels = self._pool_fit(raw, y_enc, w=w)
            rule_labels = labels
        else:
            # Groups keep thresholds of their own by the rows the thresholds are fitted on; the
            # training rows' groups (the group classifier's target) follow the same pooling.
            rule_labels, pooling = self._pool_fit(held[2], held[1], return_pooling=True)
            labels = pooling.transform(raw).to_numpy(dtype=object)
        self.group_names_ = np.array(sorted(set(rule_labels.tolist())), dtype=object)
        if asked and given >= 2 and len(self.group_names_) < 2:
            # Two groups given, but the others too small to keep apart: pooled into one, a plain model.
            outcomes = {("tpr",): "with positives", ("fpr",): "with negatives"}.get(
                tuple(r for r in ("tpr", "fpr") if r in _BOUNDED[self._constraint()]), "of both outcomes")
            outcomes = "" if set(_BOUNDED[self._constraint()]) <= {"sel"} else f", {outcomes}"
            warn_no_groups(self, True, stacklevel=3, found=(
                f"only one group has the rows to keep apart (at least {self.min_group_size}{outcomes}; "
                "the others are pooled into it)"))
        codes = np.searchsorted(self.group_names_, labels)
        models = self._models()
        X_model = _for_base(X_model, *[t for _, t, _ in models])
        targets = {"y": y_enc, "group": codes}
        # A prefit model was trained on the original labels, one fitted here on 0/1.
        self._positive_label_ = self.classes_[1] if self.prefit else 1
        self._pos_index_ = 1
        # Rows of each outcome that carry weight: a row of weight 0 teaches a fold nothing.
        weighted = y_enc if w is None else y_enc[np.asarray(w) > 0]
        if source == "crossfit" and np.bincount(weighted, minlength=2).min() < int(self.n_folds):
            source = "train"  # some fold would train on one (weighted) outcome only
        self.thresholds_from_ = source
        if source == "holdout":
            strata = stratification_labels(labels, y_enc, 2)
            # Both sides need a row of each stratum: the held-out rows (test_size) and the rest
            # (a holdout of 0.9 of 48 rows left 4 training rows for 5 strata: review, session 49).
            held_rows = math.ceil(float(self.holdout_size) * n)
            fits = strata is not None and len(set(strata)) <= min(held_rows, n - held_rows)
            strat = strata if fits else None
            fit_rows, rows = train_test_split(np.arange(n), test_size=float(self.holdout_size),
                                              random_state=self.random_state, stratify=strat)
            fit_rows, rows = np.sort(fit_rows), np.sort(rows)
        else:
            fit_rows = rows = np.arange(n)
        # The rows the thresholds are fitted on: some of the training rows, or the set's.
        if held is None:
            read = (_safe_indexing(X_model, rows), y_enc[rows], codes[rows], None if w is None else w[rows])
        else:
            read = (_for_base(held[0], *[t for _, t, _ in models]), held[1],
                    np.searchsorted(self.group_names_, rule_labels), None)
        fitted, outputs = {}, {}
        for name, template, target in models:
            wt = None if w is None else w[fit_rows]
            if self.prefit and name == "estimator_":
                check_is_fitted(template)
                est = template
            else:
                est = self._fit_model(name, template, _safe_indexing(X_model, fit_rows), targets[target][fit_rows], wt)
            if name == "estimator_":
                self._pos_index_ = _positive_index(est, self._positive_label_)
            fitted[name] = est
            if source == "crossfit":
                outputs[name] = self._out_of_fold(name, template, X_model, targets[target], w, strata=codes * 2 + y_enc)
            else:
                outputs[name] = self._outputs(name, est, read[0])
        return {"fitted": fitted, "outputs": outputs, "y": read[1], "codes": read[2], "w": read[3], "cache": {}}

    def _out_of_fold(self, name, template, X, target, w, strata) -> np.ndarray:
        """Each row's output from a model fitted without it (``n_folds`` extra fits)."""
        counts = np.bincount(strata)
        k = int(self.n_folds)
        strat = strata if counts[counts > 0].min() >= k else np.zeros(len(strata), dtype=int)
        out = None
        for train, held in StratifiedKFold(k, shuffle=True, random_state=self.random_state).split(
                np.zeros(len(strata)), strat):
            est = self._fit_model(name, template, _safe_indexing(X, train), target[train],
                                  None if w is None else w[train])
            o = self._outputs(name, est, _safe_indexing(X, held))
            if out is None:
                out = np.zeros((len(strata),) + o.shape[1:])
            out[held] = o
        return out

    def _pool_fit(self, labels, y_enc, return_pooling: bool = False, w=None):
        """Merge groups too small or one-sided for thresholds (the one policy of ``groups.py``).

        Rows of weight 0 count for no group's size or outcomes. Outcomes count only for a
        constraint on rates given the outcome: a group with one outcome has no TPR (or FPR) to
        bound, but a selection rate like any other (estimators audit, session 51: under
        demographic parity a 100-row group of negatives joined the largest group, whose rate
        then parted from the others' by 0.078 while ``constraint_gap_`` read 0)."""
        counted = np.ones(len(labels), dtype=bool) if w is None else np.asarray(w) > 0
        names = np.asarray(labels, dtype=object)
        bounded = _BOUNDED[self._constraint()]
        needs = tuple(outcome for rate, outcome in (("tpr", 1), ("fpr", 0)) if rate in bounded)
        pooling = SmallGroupPooling.fit(names[counted], self.min_group_size, y=np.asarray(y_enc)[counted],
                                        needs=needs)
        self.pooled_groups_ = list(pooling.pooled)
        self.pool_target_ = pooling.target
        sizes = pd.Series(names[counted]).astype(str).value_counts()
        lacking = [g for g in pooling.pooled if sizes.get(g, 0) >= self.min_group_size]
        if lacking:
            rates = " or ".join(r.upper() for r in ("tpr", "fpr") if r in bounded)
            one = len(lacking) == 1
            warnings.warn(
                f"{type(self).__name__}: {', '.join(map(str, lacking))} ha{'s' if one else 've'} no "
                f"{'positives' if needs == (1,) else 'negatives' if needs == (0,) else 'positives or no negatives'} "
                f"in the rows the thresholds are fitted on, so no {rates} of {'its' if one else 'their'} own to bound: "
                f"{'it takes' if one else 'they take'} the thresholds of {pooling.target}, and the constraint is met "
                "over the pooled groups (constraint_gap_).", UserWarning, stacklevel=4)
        pooled = pooling.transform(labels).to_numpy(dtype=object)
        return (pooled, pooling) if return_pooling else pooled

    def _adopt(self, source: "ThresholdPostProcessor", shared: dict):
        """Take the shared fitted state of ``source`` (the model that fitted the base)."""
        for k in ("classes_", "fitted_with_groups_", "group_columns_", "group_names_", "pooled_groups_", "pool_target_",
                  "thresholds_from_",
                  "_positive_label_", "_pos_index_", "n_features_in_", "feature_names_in_"):
            if hasattr(source, k):
                setattr(self, k, getattr(source, k))
        for name, est in shared["fitted"].items():
            setattr(self, name, est)
        return self

    # -- fit --------------------------------------------------------------------------------

    def fit(self, X, y, *, sensitive_features=None, sample_weight=None, threshold_set=None):
        """Fit the base model (unless prefit) and the group thresholds.

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Binary labels.
        sensitive_features : array-like, Series or DataFrame, optional
            Group of each row; several columns give intersections. ``None`` (and no
            ``sensitive_feature_names``) fits one threshold for everyone.
        sample_weight : array-like of shape (n_samples,), optional
            Passed to the base model's ``fit`` and weighting the threshold search (of the
            training rows: ``threshold_set``'s rows weigh one each).
        threshold_set : tuple, optional
            ``(X_t, y_t)`` or ``(X_t, y_t, sensitive_t)`` (with sensitive features exactly when
            ``fit`` has them): rows the base model is not fitted on, where the thresholds are
            fitted when ``thresholds_from`` says so (OxonFair's and error-parity's practice:
            thresholds on held-out scores; see ``thresholds_from`` for what "auto" does). The
            base is then fitted on every row of ``X``, ``thresholds_from_`` is
            ``"threshold_set"`` and small groups are pooled by the set's rows.

        Returns
        -------
        self
        """
        shared = self._fit_shared(X, y, sensitive_features, sample_weight, threshold_set)
        self._adopt(self, shared)
        return self._fit_rule(shared)

    def fit_etas(self, etas, X, y, *, sensitive_features=None, sample_weight=None, threshold_set=None) -> list:
        """One fitted model per eta, all sharing one fit of the base model.

        Parameters
        ----------
        etas : sequence of float
        X, y, sensitive_features, sample_weight, threshold_set
            As in :meth:`fit`.

        Returns
        -------
        list of ThresholdPostProcessor
            ``clone(self).set_params(eta=e)`` fitted, for each ``e`` in ``etas``; each equals
            fitting that clone alone.
        """
        etas = list(etas)
        lead = clone(self)
        if self.prefit:  # clone() would hand the lead an unfitted copy of the prefit base
            lead.estimator = self.estimator
        shared = lead._fit_shared(X, y, sensitive_features, sample_weight, threshold_set, etas=etas)
        return [clone(self).set_params(eta=float(e))._adopt(lead, shared)._fit_rule(shared) for e in etas]

    def _group_hulls(self, shared: dict):
        """Each group's ROC hull of the base scores and its positive and negative weight,
        computed once per shared fit: ``(hulls, pos, neg)``."""
        cache = shared["cache"]
        if "hulls" not in cache:
            G = len(self.group_names_)
            scores, y, codes = shared["outputs"]["estimator_"], shared["y"], shared["codes"]
            w = np.ones(len(y)) if shared["w"] is None else shared["w"]
            # Rows of weight 0 place no threshold (one between their scores moved decisions on
            # new rows: weights audit, session 51).
            rows = [(codes == g) & (w > 0) for g in range(G)]
            cache["hulls"] = [_group_hull(scores[m], y[m], w[m], int(self.grid_size)) for m in rows]
            cache["pos"] = np.bincount(codes, weights=w * y, minlength=G)
            cache["neg"] = np.bincount(codes, weights=w * (1 - y), minlength=G)
        return cache["hulls"], cache["pos"], cache["neg"]

    def _fit_rule(self, shared: dict):
        """Fit this model's thresholds on the shared scores (the hulls are computed once)."""
        G = len(self.group_names_)
        scores, y, codes = shared["outputs"]["estimator_"], shared["y"], shared["codes"]
        w = np.ones(len(y)) if shared["w"] is None else shared["w"]
        cache = shared["cache"]
        hulls, pos, neg = self._group_hulls(shared)
        self._set_rule(hulls, _best_vertices(hulls, pos, neg, self.objective))
        if "max_tolerance" not in cache:
            cache["max_tolerance"] = constraint_gap(self._decision_proba(scores, codes), y, codes, G, self._constraint(), w)
        self.max_tolerance_ = cache["max_tolerance"]
        self.tolerance_ = self._tolerance(self.max_tolerance_)
        if self.tolerance_ < self.max_tolerance_:
            key = ("lp", round(self.tolerance_, 12))
            if key not in cache:
                cache[key] = _solve_thresholds(hulls, pos, neg, _BOUNDED[self._constraint()], self.tolerance_,
                                               self.objective)
            self._set_rule(hulls, cache[key])
        p = self._decision_proba(scores, codes)
        self.constraint_gap_ = constraint_gap(p, y, codes, G, self._constraint(), w)
        self.n_threshold_rows_ = int(len(y))
        self.decision_kind_ = "hard"
        return self

    def _set_rule(self, hulls, weights):
        used = [np.flatnonzero(lam > 0) for lam in weights]
        m = max(len(u) for u in used)
        self.thresholds_ = np.full((len(hulls), m), np.inf)
        self.threshold_weights_ = np.zeros((len(hulls), m))
        for g, (u, lam, (thr, _, _)) in enumerate(zip(used, weights, hulls)):
            self.thresholds_[g, :len(u)] = thr[u]
            self.threshold_weights_[g, :len(u)] = lam[u]
        self.randomized_ = bool(m > 1)

    # -- decisions ----------------------------------------------------------------------------

    def _decision_proba(self, scores, codes) -> np.ndarray:
        """P(positive decision) per row: the summed weight of the group's thresholds passed."""
        passed = scores[:, None] >= self.thresholds_[codes]
        return np.clip((passed * self.threshold_weights_[codes]).sum(axis=1), 0.0, 1.0)

    def _predict_inputs(self, X, sensitive_features):
        check_is_fitted(self, "thresholds_")
        X = _check_predict_input(self, X)
        X_model, s = split_sensitive_columns(
            X, sensitive_features, self.sensitive_feature_names, self.drop_sensitive_features)
        X_model = _for_base(X_model, self.estimator_)
        n = X_model.shape[0] if hasattr(X_model, "shape") else len(X_model)
        return X_model, self._codes(s, n)

    def _codes(self, s, n: int) -> np.ndarray:
        if not self.fitted_with_groups_:
            return np.zeros(n, dtype=np.int64)
        if s is None:
            raise ValueError(missing_groups_message(
                self, "; or fit and predict with sensitive_feature_names= naming the column(s) of X "
                "that hold the groups, which needs no routing"))
        who = type(self).__name__
        if getattr(self, "group_columns_", None):  # a model saved before they were kept: unchecked
            check_group_columns(self.group_columns_, s, who)
        labels = self._labels(s, n)
        known = set(self.group_names_.tolist())
        note = unseen_groups_note(labels, known | set(self.pooled_groups_), who,
                                  f"they use the thresholds of '{self.pool_target_}'")
        if note:
            warnings.warn(note, UserWarning, stacklevel=4)
        labels = np.where(np.isin(labels, list(known)), labels, self.pool_target_)
        return np.searchsorted(self.group_names_, labels)

    def _expected(self, X_model, codes) -> np.ndarray:
        return self._decision_proba(self._outputs("estimator_", self.estimator_, X_model), codes)

    def decision_probability(self, X, *, sensitive_features=None) -> np.ndarray:
        """Probability of a positive decision before the row's draw (the expected decision).

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features)
        sensitive_features : array-like, Series or DataFrame
            Required when ``fit`` had sensitive features.

        Returns
        -------
        ndarray of shape (n_samples,)
            0 or 1 where the group's rule is a plain threshold at the row's score; in between
            where it mixes thresholds.
        """
        return self._expected(*self._predict_inputs(X, sensitive_features))

    def predict_proba(self, X, *, sensitive_features=None, random_state=None) -> np.ndarray:
        """The decision as a probability: 1 for an accepted row, 0 otherwise.

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features)
        sensitive_features : array-like, Series or DataFrame
            Required when ``fit`` had sensitive features.
        random_state : int, optional
            Seed of the row hash that resolves randomized thresholds (fairlearn's keyword);
            default the estimator's ``random_state``. One seed gives a row one decision, wherever
            it is in the batch.

        Returns
        -------
        ndarray of shape (n_samples, 2)
            ``[:, 1]`` is 1 where the decision is ``classes_[1]``; randomized thresholds are
            resolved by the row's hash (see Notes of the class).
        """
        X_model, codes = self._predict_inputs(X, sensitive_features)
        d = self._expected(X_model, codes)
        if self.randomized_:  # a plain threshold's decision is already 0 or 1
            seed = self.random_state if random_state is None else random_state
            d = (row_uniforms(X_model, seed) < d).astype(np.float64)
        return np.column_stack([1.0 - d, d])

    def predict(self, X, *, sensitive_features=None, random_state=None) -> np.ndarray:
        """Decisions: ``classes_[1]`` where ``predict_proba[:, 1]`` is 1.

        Parameters
        ----------
        X : array-like, sparse matrix or DataFrame of shape (n_samples, n_features)
        sensitive_features : array-like, Series or DataFrame
            Required when ``fit`` had sensitive features.
        random_state : int, optional
            As in :meth:`predict_proba`.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        p = self.predict_proba(X, sensitive_features=sensitive_features, random_state=random_state)[:, 1]
        return self.classes_[stats.decide(p).astype(int)]
