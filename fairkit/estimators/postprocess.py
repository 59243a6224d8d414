"""Group-specific thresholds (Hardt et al., 2016) on top of an unconstrained model.

:class:`ThresholdPostProcessor` wraps fairlearn's ``ThresholdOptimizer`` and adds one
fairness knob ``eta`` from "the best thresholds per group, no constraint" (``eta=0``) to
"exact parity" (``eta=1``), deterministic predictions, a ``predict_proba`` that is the
probability of a positive decision, and a guard against fairlearn 0.15's float32 crash.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from fairlearn.postprocessing import ThresholdOptimizer
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from fairkit.estimators.reductions import (
    BinaryWrapperTagsMixin,
    _check_fit_inputs,
    _check_predict_input,
    _for_base,
    split_sensitive_columns,
)
from fairkit import stats
from fairkit.groups import MIN_GROUP_SIZE, SmallGroupPooling, group_labels

__all__ = ["ThresholdPostProcessor", "SIMPLE_CONSTRAINTS"]

#: Constraint name -> the per-group rate it equalises (fairlearn's "simple" constraints).
SIMPLE_CONSTRAINTS = {
    "demographic_parity": "selection_rate",
    "selection_rate_parity": "selection_rate",
    "true_positive_rate_parity": "true_positive_rate",
    "false_positive_rate_parity": "false_positive_rate",
    "false_negative_rate_parity": "false_negative_rate",
    "true_negative_rate_parity": "true_negative_rate",
}
_ALL_GROUPS = "(all)"


class _ScoreColumn(BaseEstimator):
    """Stand-in 'model' whose scores are the first column of X.

    fairlearn is handed precomputed float64 scores as X: the base model is scored once, and
    fairlearn never sees a float32 array (fairlearn 0.15's ``InterpolatedThresholder`` writes
    float64 probabilities into a Series of the scores' dtype, which pandas 3 refuses with a
    TypeError when the scores are float32).
    """

    def fit(self, X, y=None):
        return self

    def __sklearn_is_fitted__(self):
        return True

    def decision_function(self, X):
        return np.asarray(X, dtype=np.float64)[:, 0]


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


def _group_rates(decision, y, labels, names, metric: str) -> np.ndarray:
    """Per-group value of ``metric`` for (possibly fractional) positive decisions, on the kernel."""
    codes = np.searchsorted(names, labels)
    d = np.asarray(decision, dtype=np.float64)
    gs = stats.group_sums(np.asarray(y, dtype=np.float64), np.clip(d, 0.0, 1.0), codes, len(names), decisions=d)
    rates = {k: v[0, 0] for k, v in stats.group_rates(gs).items()}
    if metric == "selection_rate":
        return rates["selection_rate"]
    if metric in ("true_positive_rate", "false_negative_rate"):
        return rates["tpr"] if metric == "true_positive_rate" else 1.0 - rates["tpr"]
    if metric in ("false_positive_rate", "true_negative_rate"):
        return rates["fpr"] if metric == "false_positive_rate" else 1.0 - rates["fpr"]
    raise ValueError(f"unknown metric {metric!r}")


def _spread(rates) -> float:
    """The kernel's gap over every group with a rate (0 when none has one)."""
    rates = np.asarray(rates, dtype=np.float64)
    g = float(stats.gap(rates, np.ones(len(rates), dtype=bool)))
    return g if np.isfinite(g) else 0.0


def _constraint_gap(decision, y, labels, names, constraint: str) -> float:
    if constraint == "equalized_odds":
        return max(
            _spread(_group_rates(decision, y, labels, names, "true_positive_rate")),
            _spread(_group_rates(decision, y, labels, names, "false_positive_rate")),
        )
    return _spread(_group_rates(decision, y, labels, names, SIMPLE_CONSTRAINTS[constraint]))




class ThresholdPostProcessor(BinaryWrapperTagsMixin, ClassifierMixin, BaseEstimator):
    """Group-specific (randomized) thresholds on an unconstrained model's scores.

    Parameters
    ----------
    estimator : classifier, optional
        The unconstrained model. Fitted here unless ``prefit=True``. Defaults to
        ``LogisticRegression()``.
    constraint : str, default="demographic_parity"
        ``"demographic_parity"``, ``"equalized_odds"``, or ``"{true,false}_{positive,negative}
        _rate_parity"``.
    objective : str, default="accuracy_score"
        What the thresholds maximise (fairlearn's ``objective``).
    eta : float in [0, 1], default=1.0
        Fairness strength. ``tolerance = (1 - eta) * max_tolerance_``, where
        ``max_tolerance_`` is the spread of the constrained rate across groups under the
        unconstrained optimum (each group's own best thresholds) on the training data.
        ``eta=0`` gives those unconstrained thresholds, ``eta=1`` exact parity. For the simple
        constraints the tolerance is fairlearn's ``tol`` (the optimal relaxed solution). For
        ``equalized_odds``, which fairlearn cannot relax, the decision probability is the
        mixture ``eta * p_parity + (1 - eta) * p_unconstrained`` per row, which bounds the
        spread by the same ``(1 - eta) * max_tolerance_``.
    tolerance : float, optional
        Absolute tolerance on the spread of the constrained rate; overrides ``eta``.
    prefit : bool, default=False
        Use ``estimator`` as already fitted.
    grid_size : int, default=1000
        fairlearn's grid over the constrained rate.
    flip : bool, default=False
        Allow flipped decisions (fairlearn's ``flip``).
    predict_method : {"auto", "predict_proba", "decision_function", "predict"}, default="auto"
        Which output of ``estimator`` is thresholded ("auto": the first that exists).
    sensitive_feature_names : list of str or int, optional
        Columns of ``X`` that hold the sensitive features (used when ``sensitive_features`` is
        not passed), so the model runs in a ``Pipeline``.
    drop_sensitive_features : bool, default=True
        Remove those columns before ``X`` reaches ``estimator``.
    min_group_size : int, default=30
        Groups with fewer training rows than this, or with only one outcome in the training
        data (fairlearn cannot fit thresholds for them), share the thresholds of one pooled
        group ``"Other (small groups)"``; so do groups first seen at prediction time (with a
        warning). This is the one small-group policy, :class:`fairkit.groups.SmallGroupPooling`.
        Pooled groups are listed in ``pooled_groups_``.
    random_state : int, default=0
        Seed of the draws that resolve randomized thresholds in ``predict``.

    Attributes
    ----------
    estimator_ : classifier
        The fitted base model.
    optimizer_ : fairlearn ThresholdOptimizer
        The constrained (or relaxed) optimizer, fitted on the base model's float64 scores.
    unconstrained_ : fairlearn ThresholdOptimizer
        The optimizer with the constraint switched off (per-group best thresholds).
    group_names_ : ndarray
        Groups with thresholds of their own (plus the pooled group, if any).
    pooled_groups_ : list
        Training groups too small or one-sided for thresholds of their own.
    pool_target_ : str or None
        Group whose thresholds pooled and unseen groups use.
    max_tolerance_ : float
        Spread of the constrained rate under the unconstrained thresholds (training data).
    tolerance_ : float
        The tolerance in effect.
    constraint_gap_ : float
        Achieved spread of the constrained rate on the training data, in expectation over the
        randomized thresholds.
    classes_ : ndarray of shape (2,)

    Notes
    -----
    Thresholds are per group, so ``predict`` and ``predict_proba`` need ``sensitive_features``
    (or ``sensitive_feature_names`` columns) whenever ``fit`` had them.

    The optimal thresholds are randomized: rows whose score lies between a group's two
    thresholds are accepted with some probability. ``predict_proba[:, 1]`` is that
    probability of a positive decision (0 or 1 for most rows); it is not a calibrated
    probability of the outcome. ``predict`` draws the decisions with a generator seeded by
    ``random_state``: the same input in the same order always gives the same output, but a
    borderline row's decision can change with its position in the batch. Sample weights only
    reach the base model; fairlearn's threshold search itself is unweighted.
    """

    #: Group-specific thresholds: the group of each row is needed to decide it.
    needs_sensitive_at_predict = True

    def __init__(
        self,
        estimator=None,
        constraint: str = "demographic_parity",
        objective: str = "accuracy_score",
        eta: float = 1.0,
        tolerance: float | None = None,
        prefit: bool = False,
        grid_size: int = 1000,
        flip: bool = False,
        predict_method: str = "auto",
        sensitive_feature_names=None,
        drop_sensitive_features: bool = True,
        min_group_size: int = MIN_GROUP_SIZE,
        random_state: int = 0,
    ):
        self.estimator = estimator
        self.constraint = constraint
        self.objective = objective
        self.eta = eta
        self.tolerance = tolerance
        self.prefit = prefit
        self.grid_size = grid_size
        self.flip = flip
        self.predict_method = predict_method
        self.sensitive_feature_names = sensitive_feature_names
        self.drop_sensitive_features = drop_sensitive_features
        self.random_state = random_state
        self.min_group_size = min_group_size

    # -- scores and groups ------------------------------------------------------------------

    def _scores(self, X_model) -> np.ndarray:
        est = self.estimator_
        method = self.predict_method
        if method == "auto":
            method = next(
                (m for m in ("predict_proba", "decision_function") if hasattr(est, m)), "predict"
            )
        out = getattr(est, method)(X_model)
        if method == "predict_proba":
            out = np.asarray(out)[:, self._pos_index_]
        elif method == "predict":
            out = np.asarray(out) == self._positive_label_
        # The float32 guard: every score is float64 from here on.
        return np.asarray(out, dtype=np.float64).ravel()

    def _labels(self, s, n: int) -> np.ndarray:
        if s is None:
            return np.full(n, _ALL_GROUPS, dtype=object)
        labels = group_labels(s).to_numpy(dtype=object)
        if len(labels) != n:
            raise ValueError(f"sensitive_features has {len(labels)} rows but X has {n}")
        return labels

    # -- fit --------------------------------------------------------------------------------

    def _pool_fit(self, labels, y_enc):
        """Merge groups too small or one-sided for thresholds (the one policy of ``groups.py``)."""
        pooling = SmallGroupPooling.fit(labels, self.min_group_size, y=y_enc)
        self.pooled_groups_ = list(pooling.pooled)
        self.pool_target_ = pooling.target
        return pooling.transform(labels).to_numpy(dtype=object)

    def _optimizer(self, constraint, tol):
        return ThresholdOptimizer(
            estimator=_ScoreColumn(),
            constraints=constraint,
            objective=self.objective,
            grid_size=self.grid_size,
            flip=self.flip,
            prefit=True,
            predict_method="decision_function",
            tol=tol,
        )

    def fit(self, X, y, *, sensitive_features=None, sample_weight=None):
        """Fit the base model (unless prefit) and the group thresholds.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Binary labels.
        sensitive_features : array-like, Series or DataFrame, optional
            Group of each row; several columns give intersections. ``None`` (and no
            ``sensitive_feature_names``) optimises one threshold for everyone.
        sample_weight : array-like of shape (n_samples,), optional
            Passed to the base model's ``fit`` (the threshold search is unweighted).

        Returns
        -------
        self
        """
        X, y_arr, self.classes_, w = _check_fit_inputs(self, X, y, sample_weight)
        if self.constraint not in SIMPLE_CONSTRAINTS and self.constraint != "equalized_odds":
            raise ValueError(
                f"unknown constraint {self.constraint!r}; use 'equalized_odds' or one of "
                f"{sorted(SIMPLE_CONSTRAINTS)}"
            )
        y_enc = (y_arr == self.classes_[1]).astype(int)
        X_model, s = split_sensitive_columns(
            X, sensitive_features, self.sensitive_feature_names, self.drop_sensitive_features
        )
        base = LogisticRegression() if self.estimator is None else self.estimator
        X_model = _for_base(X_model, base)
        if self.prefit:
            check_is_fitted(base)
            self.estimator_ = base
        else:
            kwargs = {} if w is None else {"sample_weight": w}
            self.estimator_ = clone(base, safe=False).fit(X_model, y_enc, **kwargs)
        # A prefit model was trained on the original labels, one fitted here on 0/1.
        self._positive_label_ = self.classes_[1] if self.prefit else 1
        self._pos_index_ = _positive_index(self.estimator_, self._positive_label_)
        scores = self._scores(X_model)
        labels = self._pool_fit(self._labels(s, len(y_enc)), y_enc)
        self.fitted_with_groups_ = s is not None
        self.group_names_ = np.array(sorted(set(labels.tolist())), dtype=object)
        self._fit_thresholds(scores, y_enc, labels)
        return self

    def _fit_thresholds(self, scores, y_enc, labels):
        S = scores.reshape(-1, 1)
        sf = pd.Series(labels)
        y_s = pd.Series(y_enc)
        # tol=1 spans the whole [0, 1] range of any rate: every group gets its own optimum.
        self.unconstrained_ = self._optimizer("demographic_parity", 1.0).fit(
            S, y_s, sensitive_features=sf
        )
        p_unc = self._pmf(self.unconstrained_, scores, labels)
        self.max_tolerance_ = _constraint_gap(
            p_unc, y_enc, labels, self.group_names_, self.constraint
        )
        if self.tolerance is not None:
            tol = float(self.tolerance)
            if tol < 0:
                raise ValueError(f"tolerance must be >= 0, got {tol}")
        else:
            eta = float(self.eta)
            if not 0.0 <= eta <= 1.0:
                raise ValueError(f"eta must be in [0, 1], got {eta}")
            tol = (1.0 - eta) * self.max_tolerance_
        self.tolerance_ = tol
        if self.constraint == "equalized_odds":
            self.optimizer_ = self._optimizer("equalized_odds", None).fit(
                S, y_s, sensitive_features=sf
            )
            # Mixing weight on the parity solution that caps the spread at ``tol``.
            self.mix_weight_ = (
                1.0 if self.max_tolerance_ <= 0 else float(np.clip(1 - tol / self.max_tolerance_,
                                                                    0.0, 1.0))
            )
        else:
            self.mix_weight_ = 1.0
            if tol >= self.max_tolerance_:
                self.optimizer_ = self.unconstrained_
            else:
                # fairlearn treats tol=0 (falsy) as exact parity, which is what we want.
                self.optimizer_ = self._optimizer(self.constraint, tol).fit(
                    S, y_s, sensitive_features=sf
                )
        p = self._decision_proba(scores, labels)
        self.constraint_gap_ = _constraint_gap(
            p, y_enc, labels, self.group_names_, self.constraint
        )

    # -- decision probabilities ---------------------------------------------------------------

    @staticmethod
    def _pmf(optimizer, scores, labels) -> np.ndarray:
        """P(positive decision) per row from a fitted optimizer's interpolation rules."""
        rules = optimizer.interpolated_thresholder_.interpolation_dict
        out = np.zeros(len(scores), dtype=np.float64)
        for group, rule in rules.items():
            mask = labels == group
            if not mask.any():
                continue
            sc = scores[mask]
            prob = rule.p0 * rule.operation0(sc) + rule.p1 * rule.operation1(sc)
            if "p_ignore" in rule:
                prob = rule.p_ignore * rule.prediction_constant + (1 - rule.p_ignore) * prob
            out[mask] = prob
        return out

    def _decision_proba(self, scores, labels) -> np.ndarray:
        p = self._pmf(self.optimizer_, scores, labels)
        if self.mix_weight_ < 1.0:
            p = self.mix_weight_ * p + (1 - self.mix_weight_) * self._pmf(
                self.unconstrained_, scores, labels
            )
        return np.clip(p, 0.0, 1.0)

    def _predict_inputs(self, X, sensitive_features):
        check_is_fitted(self, "optimizer_")
        X = _check_predict_input(self, X)
        X_model, s = split_sensitive_columns(
            X, sensitive_features, self.sensitive_feature_names, self.drop_sensitive_features
        )
        X_model = _for_base(X_model, self.estimator_)
        n = X_model.shape[0] if hasattr(X_model, "shape") else len(X_model)
        if self.fitted_with_groups_:
            if s is None:
                raise ValueError(
                    "ThresholdPostProcessor uses group-specific thresholds: pass "
                    "sensitive_features= to predict / predict_proba (the same column(s) as in "
                    "fit)"
                )
            labels = self._labels(s, n)
            known = set(self.group_names_.tolist())
            unseen = sorted(set(labels.tolist()) - known - set(self.pooled_groups_))
            if unseen:
                warnings.warn(
                    f"groups {unseen} were not seen in fit; they use the thresholds of "
                    f"'{self.pool_target_}'", UserWarning, stacklevel=3)
            labels = np.where(np.isin(labels, list(known)), labels, self.pool_target_)
        else:
            labels = self._labels(None, n)
        return self._scores(X_model), labels

    def predict_proba(self, X, *, sensitive_features=None) -> np.ndarray:
        """Probability of a positive decision under the randomized group thresholds.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        sensitive_features : array-like, Series or DataFrame
            Required when ``fit`` had sensitive features.

        Returns
        -------
        ndarray of shape (n_samples, 2)
            ``[:, 1]`` is P(decision = ``classes_[1]``); rows sum to 1.
        """
        scores, labels = self._predict_inputs(X, sensitive_features)
        p = self._decision_proba(scores, labels)
        return np.column_stack([1.0 - p, p])

    def predict(self, X, *, sensitive_features=None) -> np.ndarray:
        """Decisions, with randomized thresholds resolved by a ``random_state``-seeded draw.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        sensitive_features : array-like, Series or DataFrame
            Required when ``fit`` had sensitive features.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        p = self.predict_proba(X, sensitive_features=sensitive_features)[:, 1]
        u = np.random.default_rng(self.random_state).random(len(p))
        return self.classes_[(u < p).astype(int)]
