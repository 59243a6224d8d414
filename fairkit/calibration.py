"""Group-aware probability calibration and calibration diagnostics.

A score of 0.3 should mean a 30 % chance of the outcome in *every* group, not only on average.
This module fixes scores group by group (:class:`GroupFairnessCalibrator`, with Platt scaling,
isotonic regression or temperature scaling), wraps a classifier so that it is trained and
calibrated on separate data (:class:`CalibratedGroupClassifier`), and measures calibration
(:func:`expected_calibration_error`, :func:`calibration_by_group`, :func:`reliability_curve`,
:func:`multicalibration_audit`), with bias-reduced estimators for small samples
(:func:`debiased_calibration_error`, ``estimator="sweep"``) and the noise floor of the ECE of a
perfectly calibrated model (:func:`calibration_noise_floor`).

Small groups are the hard part: a per-group isotonic map fitted on 15 rows models noise. Groups
below ``min_group_size`` therefore fall back to their parent group (for an intersection such as
``Female & Black``, a marginal group such as ``Female``) or to the global map, and optional
empirical-Bayes shrinkage pulls every group's map towards its parent in proportion to how little
data it has. Every such decision is recorded in ``fallback_`` so it can be reported.
"""

from __future__ import annotations

import inspect
import itertools
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from fairkit.groups import group_hierarchy, group_labels

__all__ = [
    "TemperatureScaling",
    "GroupFairnessCalibrator",
    "CalibratedGroupClassifier",
    "expected_calibration_error",
    "debiased_calibration_error",
    "calibration_noise_floor",
    "CalibrationNoiseFloor",
    "calibration_by_group",
    "reliability_curve",
    "multicalibration_audit",
]

_EPS = 1e-7
GLOBAL = "(global)"
ALL = "(all)"


# --------------------------------------------------------------------------------------------
# small numeric helpers
# --------------------------------------------------------------------------------------------


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def _as_scores(scores) -> np.ndarray:
    """1-D float64 scores; a two-column ``predict_proba`` output gives its positive column."""
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 2:
        arr = arr[:, 1]
    elif arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(
            f"scores must be 1-D (or a two-column predict_proba output), got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError("scores contain NaN or infinite values; clean them before calibrating")
    return arr


def _as_binary(y, n: int) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(f"y must be 1-D with {n} entries, got shape {arr.shape}")
    values = set(np.unique(arr).tolist())
    if not values <= {0, 1, True, False, 0.0, 1.0}:
        raise ValueError(f"y must contain only 0/1 labels, found {sorted(values)[:5]}")
    return arr.astype(np.float64)


# --------------------------------------------------------------------------------------------
# calibration maps
# --------------------------------------------------------------------------------------------


class TemperatureScaling(BaseEstimator):
    """Temperature scaling of binary logits, fitted in torch.

    The calibrated probability is ``sigmoid(logit / T)``. ``T > 1`` softens over-confident
    scores, ``T < 1`` sharpens under-confident ones. ``log T`` is optimised (so ``T`` stays
    positive) by L-BFGS on the (weighted) binary negative log-likelihood; with one parameter the
    problem is convex in ``1/T`` and converges in a few iterations.

    Parameters
    ----------
    input : {"logit", "proba"}, default="logit"
        Whether ``fit``/``transform`` receive logits or probabilities (converted to logits).
    max_iter : int, default=100
        L-BFGS iterations.

    Attributes
    ----------
    temperature_ : float
        The fitted temperature.
    """

    def __init__(self, input: str = "logit", max_iter: int = 100):
        self.input = input
        self.max_iter = max_iter

    def _logits(self, scores) -> np.ndarray:
        s = _as_scores(scores)
        if self.input == "logit":
            return s
        if self.input == "proba":
            return _logit(s)
        raise ValueError(f"input must be 'logit' or 'proba', got {self.input!r}")

    def fit(self, scores, y, sample_weight=None):
        """Fit the temperature.

        Parameters
        ----------
        scores : array-like of shape (n_samples,)
            Logits (or probabilities when ``input="proba"``).
        y : array-like of shape (n_samples,)
            Binary 0/1 outcomes.
        sample_weight : array-like of shape (n_samples,), optional
            Row weights in the likelihood.

        Returns
        -------
        self
        """
        import torch

        z = self._logits(scores)
        t = _as_binary(y, len(z))
        w = np.ones_like(z) if sample_weight is None else np.asarray(sample_weight, float)
        zt = torch.as_tensor(z, dtype=torch.float64)
        yt = torch.as_tensor(t, dtype=torch.float64)
        wt = torch.as_tensor(w / w.sum(), dtype=torch.float64)
        log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS(
            [log_t], lr=1.0, max_iter=int(self.max_iter), line_search_fn="strong_wolfe"
        )
        loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none")

        def closure():
            opt.zero_grad()
            loss = (loss_fn(zt * torch.exp(-log_t), yt) * wt).sum()
            loss.backward()
            return loss

        opt.step(closure)
        temperature = float(torch.exp(log_t).item())
        # A separable or constant group drives T to 0 or infinity; keep the map usable.
        self.temperature_ = float(np.clip(temperature, 1e-3, 1e3))
        return self

    def transform(self, scores) -> np.ndarray:
        """Calibrated probabilities ``sigmoid(logit / temperature_)``."""
        check_is_fitted(self, "temperature_")
        return _sigmoid(self._logits(scores) / self.temperature_)

    def predict_proba(self, scores) -> np.ndarray:
        """Two-column probabilities ``[1 - p, p]``."""
        p = self.transform(scores)
        return np.column_stack([1 - p, p])


class _PlattMap:
    """Logistic regression on the logit: identity when the scores are already calibrated."""

    def __init__(self, sample_weight=None):
        # Barely regularised: Platt has two parameters and we want the MLE, not shrinkage.
        self.model = LogisticRegression(C=1e4, max_iter=1000)

    def fit(self, z, y, sample_weight=None):
        self.model.fit(z.reshape(-1, 1), y.astype(int), sample_weight=sample_weight)
        return self

    def __call__(self, z, p):
        return self.model.predict_proba(z.reshape(-1, 1))[:, 1]


class _IsotonicMap:
    def fit(self, p, y, sample_weight=None):
        self.model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        self.model.fit(p, y, sample_weight=sample_weight)
        return self

    def __call__(self, z, p):
        return self.model.predict(p)


class _TemperatureMap:
    def fit(self, z, y, sample_weight=None):
        self.model = TemperatureScaling(input="logit").fit(z, y, sample_weight=sample_weight)
        return self

    def __call__(self, z, p):
        return self.model.transform(z)


_METHODS = ("platt", "isotonic", "temperature")


def _fit_map(method: str, z, p, y, w):
    if method == "platt":
        return _PlattMap().fit(z, y, w)
    if method == "isotonic":
        # Isotonic is invariant to monotone transforms, so fitting on p or on the logit is the
        # same map; p keeps its clip range interpretable.
        return _IsotonicMap().fit(p, y, w)
    if method == "temperature":
        return _TemperatureMap().fit(z, y, w)
    raise ValueError(f"method must be one of {_METHODS}, got {method!r}")


# --------------------------------------------------------------------------------------------
# group calibrator
# --------------------------------------------------------------------------------------------


class GroupFairnessCalibrator(BaseEstimator):
    """A separate calibration map per group, with fallback and shrinkage for small groups.

    Parameters
    ----------
    method : {"platt", "isotonic", "temperature"}, default="platt"
        ``platt``: logistic regression on the score's logit (two parameters, safe on small
        groups). ``isotonic``: monotone step function (flexible, needs more data).
        ``temperature``: a single temperature on the logit, fitted in torch.
    input : {"proba", "logit"}, default="proba"
        Whether scores are probabilities in [0, 1] or real-valued logits / decision values.
    min_group_size : int, default=30
        Groups with fewer rows (or with only one outcome class) get no map of their own: an
        intersection uses its smallest parent marginal group that has a map, anything else the
        global map. Each fallback is recorded in ``fallback_``.
    shrinkage : bool or float, default=False
        Empirical-Bayes shrinkage of each group's calibrated output towards its prior map (the
        parent marginal group for an intersection, else the global map):
        ``p = w * p_group + (1 - w) * p_prior`` with ``w = n / (n + k)``. A float gives ``k``
        directly (in rows). ``True`` estimates ``k = sigma^2 / tau^2`` by the method of
        moments, where ``tau^2`` is the between-group variance of the groups' mean calibration
        error under the global map and ``sigma^2`` the average Bernoulli variance of a row:
        groups that look alike are pulled strongly together, distinct groups keep their maps.

    Attributes
    ----------
    global_map_ : object
        The map fitted on all rows; used for unseen groups.
    group_names_ : ndarray
        Groups seen in ``fit`` (intersection labels when ``groups`` had several columns).
    fallback_ : dict
        ``group -> {"used": ..., "reason": ...}`` for every group without its own map.
    shrinkage_k_ : float
        The ``k`` in use (0 when shrinkage is off).
    groups_ : DataFrame
        One row per group: ``n``, ``n_positive``, ``source`` ("own", "parent", "global"),
        ``prior`` and ``weight`` (the shrinkage weight on the group's own map).

    Notes
    -----
    At transform time a group not seen in ``fit`` uses the global map and a ``UserWarning``
    names it. Calibrating per group uses the sensitive attribute at inference time; the maps
    themselves are plain functions of the score and can be exported as lookup tables.
    """

    def __init__(
        self,
        method: str = "platt",
        input: str = "proba",
        min_group_size: int = 30,
        shrinkage: bool | float = False,
    ):
        self.method = method
        self.input = input
        self.min_group_size = min_group_size
        self.shrinkage = shrinkage

    # -- input handling ---------------------------------------------------------------------

    def _z_p(self, scores):
        s = _as_scores(scores)
        if self.input == "proba":
            if s.min() < 0 or s.max() > 1:
                raise ValueError(
                    "input='proba' but scores fall outside [0, 1]; pass input='logit' for "
                    "logits or decision-function values"
                )
            return _logit(s), s
        if self.input == "logit":
            return s, _sigmoid(s)
        raise ValueError(f"input must be 'proba' or 'logit', got {self.input!r}")

    # -- fit --------------------------------------------------------------------------------

    def fit(self, scores, y, groups=None, sample_weight=None):
        """Fit the global map and one map per (large enough) group.

        Parameters
        ----------
        scores : array-like of shape (n_samples,)
            Uncalibrated probabilities or logits (see ``input``).
        y : array-like of shape (n_samples,)
            Binary 0/1 outcomes.
        groups : array-like, Series or DataFrame, optional
            Group of each row. A DataFrame with several columns calibrates every intersection,
            with the marginal groups as parents for fallback and shrinkage. ``None`` fits the
            global map only.
        sample_weight : array-like of shape (n_samples,), optional
            Row weights passed to every map.

        Returns
        -------
        self
        """
        if self.method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got {self.method!r}")
        z, p = self._z_p(scores)
        t = _as_binary(y, len(z))
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if len(np.unique(t)) < 2:
            raise ValueError("y contains a single class; calibration needs both outcomes")
        self.global_map_ = _fit_map(self.method, z, p, t, w)
        self.n_samples_fit_ = len(z)
        self.fallback_ = {}
        self.maps_ = {}
        self.prior_ = {}
        self.weight_ = {}
        if groups is None:
            self.group_names_ = np.array([], dtype=object)
            self.shrinkage_k_ = 0.0
            self.groups_ = pd.DataFrame(
                columns=["n", "n_positive", "source", "prior", "weight"]
            )
            return self

        frame = _group_frame(groups, len(z))
        levels = group_hierarchy(frame)
        finest = levels[-1]
        codes = finest.encoding.codes
        names = finest.encoding.names
        self.group_names_ = names
        self.group_columns_ = list(frame.columns)
        min_n = int(self.min_group_size)

        def usable(mask):
            n = int(mask.sum())
            if n < min_n:
                return False, f"n={n} < min_group_size={min_n}"
            if len(np.unique(t[mask])) < 2:
                return False, f"only one outcome class among its n={n} rows"
            return True, ""

        # Marginal maps are the parents of intersections (only needed with several columns).
        parent_maps = {}
        parent_sizes = {}
        if len(levels) > 1:
            for level in levels[:-1]:
                col = level.columns[0]
                for code, name in enumerate(level.encoding.names):
                    mask = level.encoding.codes == code
                    ok, _ = usable(mask)
                    if ok:
                        key = f"{col}={name}"
                        parent_maps[key] = _fit_map(
                            self.method, z[mask], p[mask], t[mask], None if w is None else w[mask]
                        )
                        parent_sizes[key] = int(mask.sum())
        self.parent_maps_ = parent_maps

        rows = []
        for code, name in enumerate(names):
            mask = codes == code
            n = int(mask.sum())
            # The parent candidates of an intersection: its value on each sensitive column.
            parents = []
            if len(levels) > 1:
                first = np.flatnonzero(mask)[0]
                for level in levels[:-1]:
                    col = level.columns[0]
                    key = f"{col}={level.encoding.names[level.encoding.codes[first]]}"
                    if key in parent_maps:
                        parents.append(key)
            # Most specific usable parent: the smallest marginal group with its own map.
            prior = min(parents, key=lambda k: parent_sizes[k]) if parents else GLOBAL
            self.prior_[name] = prior
            ok, reason = usable(mask)
            if ok:
                self.maps_[name] = _fit_map(
                    self.method, z[mask], p[mask], t[mask], None if w is None else w[mask]
                )
                source = "own"
            else:
                source = "parent" if prior != GLOBAL else "global"
                self.fallback_[name] = {"used": prior, "reason": reason}
            rows.append(
                {"group": name, "n": n, "n_positive": int(t[mask].sum()), "source": source,
                 "prior": prior}
            )

        self.shrinkage_k_ = self._shrinkage_k(z, p, t, codes, len(names))
        for row in rows:
            if row["source"] == "own":
                k = self.shrinkage_k_
                row["weight"] = 1.0 if k == 0 else row["n"] / (row["n"] + k)
            else:
                row["weight"] = 0.0
            self.weight_[row["group"]] = row["weight"]
        self.groups_ = pd.DataFrame(rows).set_index("group")
        return self

    def _shrinkage_k(self, z, p, t, codes, n_groups) -> float:
        if self.shrinkage is False or self.shrinkage is None:
            return 0.0
        if self.shrinkage is True:
            p_glob = self.global_map_(z, p)
            resid = t - p_glob
            n_g = np.bincount(codes, minlength=n_groups).astype(float)
            d_g = np.bincount(codes, weights=resid, minlength=n_groups) / np.maximum(n_g, 1)
            sigma2 = float(np.mean(p_glob * (1 - p_glob)))
            # Method of moments: E[d_g^2] = tau^2 + sigma^2 / n_g.
            tau2 = float(np.mean(d_g**2 - sigma2 / np.maximum(n_g, 1)))
            tau2 = max(tau2, 1e-8)
            return float(min(sigma2 / tau2, 1e7))
        k = float(self.shrinkage)
        if k < 0:
            raise ValueError(f"shrinkage must be True/False or a non-negative float, got {k}")
        return k

    # -- transform --------------------------------------------------------------------------

    def _apply_prior(self, prior, z, p):
        if prior == GLOBAL:
            return self.global_map_(z, p)
        return self.parent_maps_[prior](z, p)

    def transform(self, scores, groups=None) -> np.ndarray:
        """Calibrated probabilities of the positive outcome.

        Parameters
        ----------
        scores : array-like of shape (n_samples,)
            Uncalibrated scores, on the same scale as in ``fit``.
        groups : array-like, Series or DataFrame
            Group of each row, with the same column(s) as in ``fit``. Required when the
            calibrator was fitted per group.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "global_map_")
        z, p = self._z_p(scores)
        if len(self.group_names_) == 0:
            return np.clip(self.global_map_(z, p), 0.0, 1.0)
        if groups is None:
            raise ValueError(
                "this calibrator was fitted per group; pass groups= with the column(s) "
                f"{self.group_columns_}"
            )
        frame = _group_frame(groups, len(z))
        if frame.shape[1] != len(self.group_columns_):
            raise ValueError(
                f"groups has {frame.shape[1]} column(s) but the calibrator was fitted on "
                f"{len(self.group_columns_)}: {self.group_columns_}"
            )
        labels = group_labels(frame).to_numpy(dtype=object)
        out = np.empty(len(z), dtype=np.float64)
        seen = set(self.group_names_.tolist())
        unseen = sorted(set(labels.tolist()) - seen)
        if unseen:
            warnings.warn(
                f"groups not seen during calibration fit use the global map: {unseen}",
                UserWarning,
                stacklevel=2,
            )
        for name in np.unique(labels):
            mask = labels == name
            zm, pm = z[mask], p[mask]
            if name not in seen:
                out[mask] = self.global_map_(zm, pm)
                continue
            prior = self.prior_[name]
            if name in self.maps_:
                own = self.maps_[name](zm, pm)
                wgt = self.weight_[name]
                out[mask] = own if wgt >= 1.0 else wgt * own + (1 - wgt) * self._apply_prior(
                    prior, zm, pm
                )
            else:
                out[mask] = self._apply_prior(prior, zm, pm)
        return np.clip(out, 0.0, 1.0)

    def fit_transform(self, scores, y, groups=None, sample_weight=None) -> np.ndarray:
        """``fit`` then ``transform`` on the same rows."""
        return self.fit(scores, y, groups, sample_weight=sample_weight).transform(scores, groups)


def _group_frame(groups, n: int) -> pd.DataFrame:
    if isinstance(groups, pd.DataFrame):
        frame = groups.reset_index(drop=True)
    elif isinstance(groups, pd.Series):
        frame = groups.reset_index(drop=True).to_frame(
            name=groups.name if groups.name is not None else "group"
        )
    else:
        arr = np.asarray(groups, dtype=object)
        if arr.ndim == 1:
            frame = pd.DataFrame({"group": arr})
        elif arr.ndim == 2:
            frame = pd.DataFrame(arr, columns=[f"s{i}" for i in range(arr.shape[1])])
        else:
            raise ValueError(f"groups must be 1-D or 2-D, got {arr.ndim}-D")
    if len(frame) != n:
        raise ValueError(f"groups has {len(frame)} rows but scores has {n}")
    return frame


# --------------------------------------------------------------------------------------------
# calibrated classifier
# --------------------------------------------------------------------------------------------


def _accepts(method, name: str) -> bool:
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


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


class CalibratedGroupClassifier(ClassifierMixin, BaseEstimator):
    """A classifier whose probabilities are calibrated per group on held-out data.

    ``fit`` trains ``estimator`` on one part of the data and a :class:`GroupFairnessCalibrator`
    on the rest (or on an explicit calibration set), so the calibration maps are not fitted on
    scores the model has memorised.

    Parameters
    ----------
    estimator : classifier, optional
        Any binary classifier with ``predict_proba`` or ``decision_function`` (scikit-learn,
        XGBoost-style, or a fairkit estimator; ``sensitive_features`` is passed to its ``fit``
        when it accepts it). Defaults to ``LogisticRegression()``.
    method : {"platt", "isotonic", "temperature"}, default="platt"
        Calibration method, see :class:`GroupFairnessCalibrator`. Platt by default: in the
        cross-fitted COMPAS benchmark (benchmarks/results_issue4_calibration.md) isotonic maps
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
        min_group_size: int = 30,
        shrinkage: bool | float = False,
        prefit: bool = False,
        random_state: int = 0,
    ):
        self.estimator = estimator
        self.method = method
        self.calibration_fraction = calibration_fraction
        self.min_group_size = min_group_size
        self.shrinkage = shrinkage
        self.prefit = prefit
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def _split(self, n, y_enc, groups):
        frac = float(self.calibration_fraction)
        if not 0 < frac < 1:
            raise ValueError(f"calibration_fraction must be in (0, 1), got {frac}")
        idx = np.arange(n)
        strata_options = []
        if groups is not None:
            strata_options.append(
                group_labels(groups).to_numpy(dtype=object).astype(str)
                + "|"
                + y_enc.astype(str)
            )
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
            calibrates globally.
        sample_weight : array-like of shape (n_samples,), optional
            Passed to the base model's ``fit`` and to the calibrator.
        calibration_set : tuple, optional
            ``(X_cal, y_cal)`` or ``(X_cal, y_cal, sensitive_cal)``: calibrate on this data
            and train the base model on all of ``X``.

        Returns
        -------
        self
        """
        from fairkit.estimators.reductions import _check_fit_inputs

        X, y_arr, self.classes_, sw = _check_fit_inputs(self, X, y, sample_weight)
        y_enc = (y_arr == self.classes_[1]).astype(int)
        n = len(y_enc)
        groups = None if sensitive_features is None else _group_frame(sensitive_features, n)
        base = LogisticRegression() if self.estimator is None else self.estimator

        def take(A, rows):
            if A is None:
                return None
            if hasattr(A, "iloc"):
                return A.iloc[rows]
            return np.asarray(A)[rows] if not isinstance(A, list) else [A[i] for i in rows]

        if self.prefit:
            check_is_fitted(base)
            self.estimator_ = base
            cal = (X, y_enc, groups, sw)
        elif calibration_set is not None:
            self.estimator_ = self._fit_base(base, X, y_enc, groups, sw)
            X_cal, y_cal = calibration_set[0], np.asarray(calibration_set[1])
            y_cal = (y_cal == self.classes_[1]).astype(int)
            g_cal = calibration_set[2] if len(calibration_set) > 2 else None
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
        if sw is not None:
            kwargs["sample_weight"] = sw
        if groups is not None and _accepts(est.fit, "sensitive_features"):
            kwargs["sensitive_features"] = groups
        return est.fit(X, y, **kwargs)

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
        from fairkit.estimators.reductions import _check_predict_input

        check_is_fitted(self, "calibrator_")
        X = _check_predict_input(self, X)
        if self.fitted_with_groups_ and sensitive_features is None:
            raise ValueError(
                "CalibratedGroupClassifier was fitted with per-group calibration: pass "
                "sensitive_features= to predict / predict_proba"
            )
        scores, _ = _positive_scores(self.estimator_, X, self._positive_index())
        groups = sensitive_features if self.fitted_with_groups_ else None
        p = self.calibrator_.transform(scores, groups)
        return np.column_stack([1 - p, p])

    def predict(self, X, *, sensitive_features=None) -> np.ndarray:
        """Class with calibrated probability above 0.5."""
        p = self.predict_proba(X, sensitive_features=sensitive_features)[:, 1]
        return self.classes_[(p > 0.5).astype(int)]


# --------------------------------------------------------------------------------------------
# diagnostics
# --------------------------------------------------------------------------------------------


def _bin_edges(p: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    if strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1)))
        if len(edges) < 2:
            edges = np.array([p.min(), p.max()])
        edges[0], edges[-1] = 0.0, 1.0
        return np.unique(edges)
    raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")


def _bin_ids(p: np.ndarray, edges: np.ndarray) -> np.ndarray:
    # Interior edges only, right-closed last bin, so p == 1 lands in the top bin.
    return np.searchsorted(edges[1:-1], p, side="right")


def _check_yp(y, p):
    p = np.asarray(p, dtype=np.float64)
    if p.ndim == 2 and p.shape[1] == 2:
        p = p[:, 1]
    p = p.ravel()
    y = _as_binary(np.asarray(y).ravel(), len(p))
    if len(p) and (p.min() < 0 or p.max() > 1 or not np.all(np.isfinite(p))):
        raise ValueError("probabilities must be finite and within [0, 1]")
    return y, p


_ESTIMATORS = ("plugin", "debiased", "sweep")


def _check_estimator(estimator: str) -> None:
    if estimator not in _ESTIMATORS:
        raise ValueError(f"estimator must be one of {_ESTIMATORS}, got {estimator!r}")


def _debiased_sq_from_sums(cnt, sy, sp, n):
    """Kumar et al.'s per-bin ``(ybar - pbar)^2 - ybar (1 - ybar) / (n_b - 1)``, weighted n_b / n.

    Works on the last axis, so (S, n_bins) arrays give S estimates at once. Bins with fewer than
    two rows have no variance estimate and contribute 0.
    """
    cnt = np.asarray(cnt, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ybar = sy / cnt
        pbar = sp / cnt
        term = (ybar - pbar) ** 2 - ybar * (1.0 - ybar) / (cnt - 1.0)
    term = np.where(cnt >= 2, term, 0.0)
    return (cnt * term).sum(axis=-1) / n


def _sorted_scores(p):
    """Sorted scores and their prefix sums, shared by every sweep on the same scores."""
    order = np.argsort(p, kind="stable")
    ps = p[order]
    return order, ps, np.concatenate([[0.0], np.cumsum(ps)])


def _sweep_bounds(ps, b, cache):
    """Row boundaries (in sorted order) of the ``b`` equal-mass bins of ``_bin_edges``."""
    if b not in cache:
        edges = _bin_edges(ps, b, "quantile")
        # Same bins as strategy="quantile": a row is in bin i when edge_i <= p < edge_{i+1}.
        pos = np.searchsorted(ps, edges[1:-1], side="left")
        cache[b] = np.unique(np.concatenate([[0], pos, [len(ps)]]))
    return cache[b]


def _sweep_ece(ys, ps, cps, cache, max_bins):
    """Roelofs et al.'s ECE_sweep on scores sorted ascending (``ys`` in the same order).

    Returns the ECE and the number of (non-empty) bins chosen.
    """
    n = len(ps)
    cys = np.concatenate([[0.0], np.cumsum(ys)])
    ece, used = float(np.abs(cys[-1] - cps[-1]) / n), 1
    for b in range(2, max_bins + 1):
        bounds = _sweep_bounds(ps, b, cache)
        cnt = np.diff(bounds)
        sy = np.diff(cys[bounds])
        # Stop at the first bin count whose bin frequencies are no longer monotone: from there
        # on the extra bins fit noise rather than the (assumed monotone) calibration curve.
        if np.any(np.diff(sy / cnt) < 0):
            break
        ece, used = float(np.abs(sy - np.diff(cps[bounds])).sum() / n), len(cnt)
    return ece, used


def _ece_core(y, p, n_bins, strategy, estimator, squared=False):
    """ECE of validated 1-D arrays (no input checks: used in simulation loops)."""
    n = len(p)
    if estimator == "sweep":
        order, ps, cps = _sorted_scores(p)
        return _sweep_ece(y[order], ps, cps, {}, len(np.unique(ps)))[0]
    edges = _bin_edges(p, n_bins, strategy)
    ids = _bin_ids(p, edges)
    nb = len(edges) - 1
    if estimator == "plugin":
        gap = np.bincount(ids, weights=y - p, minlength=nb)
        return float(np.abs(gap).sum() / n)
    sq = float(_debiased_sq_from_sums(
        np.bincount(ids, minlength=nb),
        np.bincount(ids, weights=y, minlength=nb),
        np.bincount(ids, weights=p, minlength=nb),
        n,
    ))
    return sq if squared else float(np.sqrt(max(sq, 0.0)))


def expected_calibration_error(
    y, p, n_bins: int = 10, strategy: str = "uniform", estimator: str = "plugin"
) -> float:
    """Expected calibration error: bin-size-weighted mean of |observed rate - mean prediction|.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Binary 0/1 outcomes.
    p : array-like of shape (n_samples,)
        Predicted probabilities of the positive outcome.
    n_bins : int, default=10
    strategy : {"uniform", "quantile"}, default="uniform"
        Equal-width bins on [0, 1], or equal-mass bins (quantiles of ``p``).
    estimator : {"plugin", "debiased", "sweep"}, default="plugin"
        ``"plugin"``: the usual binned estimate ``sum_b (n_b / n) |mean(y_b) - mean(p_b)|``.
        ``"debiased"``: the debiased *L2* binned calibration error of Kumar, Liang & Ma (2019),
        see :func:`debiased_calibration_error`. ``"sweep"``: ECE_sweep of Roelofs et al.
        (2022): equal-mass bins, with the largest bin count (swept upwards from 1, stopping at
        the first violation) for which the bins' observed frequencies are monotone in the score;
        ``n_bins`` and ``strategy`` are ignored.

    Returns
    -------
    float
        The estimate; NaN for empty input.

    Notes
    -----
    The plug-in ECE is biased upwards on small samples: each bin's sampling noise adds in
    absolute value, so even a perfectly calibrated model scores about
    ``sum_b (n_b / n) sqrt(2 / pi) sd(mean(y_b))`` (about 0.04 for 600 rows in 10 bins). Use
    :func:`calibration_noise_floor` to see whether a value is distinguishable from perfect
    calibration at this sample size. ``"sweep"`` lowers the bias by choosing fewer bins when
    the data cannot support more; ``"debiased"`` removes it on the squared scale (it measures
    the L2 error, which is never below the L1 error of the same bins, so it is a conservative
    stand-in for the ECE).

    References
    ----------
    Kumar, Liang & Ma, "Verified Uncertainty Calibration", NeurIPS 2019.
    Roelofs, Cain, Shlens & Mozer, "Mitigating Bias in Calibration Error Estimation",
    AISTATS 2022.
    """
    _check_estimator(estimator)
    y, p = _check_yp(y, p)
    if len(p) == 0:
        return float("nan")
    # Validate the binning even when the sweep ignores it, so a typo is not silently accepted.
    _bin_edges(p, n_bins, strategy)
    return _ece_core(y, p, n_bins, strategy, estimator)


def debiased_calibration_error(
    y, p, n_bins: int = 10, strategy: str = "uniform", squared: bool = False
) -> float:
    """Debiased L2 binned calibration error (Kumar, Liang & Ma, NeurIPS 2019).

    The squared plug-in gap of a bin, ``(mean(y_b) - mean(p_b))^2``, overestimates the squared
    calibration gap by the variance of ``mean(y_b)``; subtracting its unbiased estimate
    ``mean(y_b) (1 - mean(y_b)) / (n_b - 1)`` gives an (almost exactly) unbiased estimate of
    ``sum_b (n_b / n) gap_b^2``.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Binary 0/1 outcomes.
    p : array-like of shape (n_samples,)
        Predicted probabilities of the positive outcome.
    n_bins : int, default=10
    strategy : {"uniform", "quantile"}, default="uniform"
    squared : bool, default=False
        Return the estimate of the squared error itself, which can be negative. Average this
        (not the root) across samples or folds: it is the unbiased quantity.

    Returns
    -------
    float
        ``sqrt(max(0, estimate))``, or the raw squared estimate; NaN for empty input.

    Notes
    -----
    Bins with a single row contribute 0 (their variance cannot be estimated). The root of an
    unbiased estimate of a square is still biased upwards when the true error is 0, but far
    less than the plug-in ECE (about a third of it with 10 bins). By Jensen's inequality the
    L2 error of a set of bins is at least their L1 error (the ECE), so a small debiased L2
    value bounds the ECE too.
    """
    y, p = _check_yp(y, p)
    if len(p) == 0:
        return float("nan")
    return _ece_core(y, p, n_bins, strategy, "debiased", squared=bool(squared))


@dataclass(frozen=True)
class CalibrationNoiseFloor:
    """Distribution of an ECE estimate for a perfectly calibrated model with given scores.

    Attributes
    ----------
    mean : float
        Mean ECE over the simulations: the bias of the estimator at zero miscalibration.
    q95 : float
        95th percentile: a measured ECE below it is not distinguishable from perfect
        calibration at the 5 % level.
    std : float
    n : int
        Number of scores.
    n_sim : int
    p_value : float
        Share of simulations at or above ``observed`` (``(1 + k) / (1 + n_sim)``); NaN when no
        ``observed`` value was given.
    samples : ndarray of shape (n_sim,)
        The simulated values, e.g. to build the null distribution of the maximum over several
        groups (simulate each group with its own seed: disjoint rows are independent).
    """

    mean: float
    q95: float
    std: float
    n: int
    n_sim: int
    p_value: float
    samples: np.ndarray = field(repr=False, compare=False)


def calibration_noise_floor(
    p,
    n_bins: int = 10,
    strategy: str = "uniform",
    estimator: str = "plugin",
    n_sim: int = 1000,
    observed: float | None = None,
    resample_scores: bool = False,
    random_state=0,
) -> CalibrationNoiseFloor:
    """Noise floor of the ECE: its distribution when the scores are perfectly calibrated.

    Draws ``n_sim`` label vectors ``y ~ Bernoulli(p)`` (consistency resampling, Bröcker & Smith
    2007), so the scores are calibrated by construction, and computes the ECE of each. Compare
    a measured ECE with ``q95`` (or pass it as ``observed`` for a p-value).

    Parameters
    ----------
    p : array-like of shape (n_samples,)
        The model's predicted probabilities (e.g. one group's test scores).
    n_bins : int, default=10
    strategy : {"uniform", "quantile"}, default="uniform"
    estimator : {"plugin", "debiased", "sweep"}, default="plugin"
        The ECE estimator whose floor is wanted (see :func:`expected_calibration_error`).
    n_sim : int, default=1000
        Simulated label vectors.
    observed : float, optional
        A measured ECE (same estimator and bins); fills ``p_value``.
    resample_scores : bool, default=False
        Also bootstrap the scores in each simulation, as Bröcker & Smith do. ``False`` keeps
        the observed scores, which answers "could a calibrated model with *these* scores show
        this ECE".
    random_state : int, Generator or None, default=0

    Returns
    -------
    CalibrationNoiseFloor
        ``mean``, ``q95``, ``std``, ``n``, ``n_sim``, ``p_value``, ``samples``.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.random.default_rng(42).uniform(0.1, 0.9, 600)
    >>> floor = calibration_noise_floor(p, n_sim=200)
    >>> 0.03 < floor.mean < 0.06
    True
    """
    _check_estimator(estimator)
    p = _as_scores(p)
    if len(p) == 0:
        raise ValueError("p is empty; the noise floor needs at least one score")
    if p.min() < 0 or p.max() > 1:
        raise ValueError("probabilities must be within [0, 1]")
    n_sim = int(n_sim)
    if n_sim < 1:
        raise ValueError(f"n_sim must be >= 1, got {n_sim}")
    edges = _bin_edges(p, n_bins, strategy)
    rng = np.random.default_rng(random_state)
    n = len(p)
    out = np.empty(n_sim)
    if resample_scores:
        for s in range(n_sim):
            ps = p[rng.integers(0, n, n)]
            ys = (rng.random(n) < ps).astype(np.float64)
            out[s] = _ece_core(ys, ps, n_bins, strategy, estimator)
    elif estimator == "sweep":
        # The candidate binnings depend on the scores only, so they are computed once.
        order, ps, cps = _sorted_scores(p)
        cache, max_bins = {}, len(np.unique(ps))
        for s in range(n_sim):
            ys = (rng.random(n) < ps).astype(np.float64)
            out[s] = _sweep_ece(ys, ps, cps, cache, max_bins)[0]
    else:
        # Fixed bins: every simulation is a bincount over (simulation, bin), in memory-sized chunks.
        ids = _bin_ids(p, edges)
        nb = len(edges) - 1
        cnt = np.bincount(ids, minlength=nb)
        sp = np.bincount(ids, weights=p, minlength=nb)
        chunk = max(1, 2_000_000 // n)
        for start in range(0, n_sim, chunk):
            k = min(chunk, n_sim - start)
            ys = (rng.random((k, n)) < p).astype(np.float64)
            flat = (np.arange(k)[:, None] * nb + ids[None, :]).ravel()
            sy = np.bincount(flat, weights=ys.ravel(), minlength=k * nb).reshape(k, nb)
            if estimator == "plugin":
                out[start:start + k] = np.abs(sy - sp).sum(axis=1) / n
            else:
                sq = _debiased_sq_from_sums(cnt[None, :], sy, sp[None, :], n)
                out[start:start + k] = np.sqrt(np.maximum(sq, 0.0))
    p_value = float("nan")
    if observed is not None:
        p_value = float((1 + np.sum(out >= float(observed) - 1e-12)) / (1 + n_sim))
    return CalibrationNoiseFloor(
        mean=float(out.mean()),
        q95=float(np.quantile(out, 0.95)),
        std=float(out.std(ddof=1)) if n_sim > 1 else 0.0,
        n=int(n),
        n_sim=n_sim,
        p_value=p_value,
        samples=out,
    )


def _labels(groups, n) -> np.ndarray:
    return group_labels(_group_frame(groups, n)).to_numpy(dtype=object)


def calibration_by_group(
    y,
    p,
    groups,
    n_bins: int = 10,
    min_size: int = 1,
    *,
    debiased: bool = False,
    noise_floor_sims: int = 0,
    random_state=0,
) -> pd.DataFrame:
    """Expected calibration error of every group, with equal-width and equal-mass bins.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
    p : array-like of shape (n_samples,)
    groups : array-like, Series or DataFrame
        Group of each row; several columns give intersections.
    n_bins : int, default=10
    min_size : int, default=1
        Groups with fewer rows are left out of the table and of the summary.
    debiased : bool, default=False
        Add ``ece_debiased_l2`` (:func:`debiased_calibration_error`, equal-width bins) and
        ``ece_sweep`` (``estimator="sweep"``), whose small-sample bias is lower than the
        plug-in ECE's.
    noise_floor_sims : int, default=0
        When positive, add ``noise_floor_mean`` and ``noise_floor_q95``: the plug-in
        equal-width ECE a perfectly calibrated model with the group's scores would show
        (:func:`calibration_noise_floor` with this many simulations).
    random_state : int or None, default=0
        Seed of the noise-floor simulations.

    Returns
    -------
    DataFrame
        Indexed by group, columns ``n``, ``mean_predicted``, ``fraction_positive``,
        ``ece_uniform``, ``ece_quantile`` (and the optional columns above). ``attrs`` holds the
        summary: ``max_group_ece`` and ``calibration_disparity`` (max - min group ECE) for
        uniform bins, and the same with a ``_quantile`` suffix for equal-mass bins (and with
        ``_debiased_l2`` / ``_sweep`` suffixes when ``debiased=True``).
    """
    y, p = _check_yp(y, p)
    labels = _labels(groups, len(p))
    rng = np.random.default_rng(random_state)
    columns = ["group", "n", "mean_predicted", "fraction_positive", "ece_uniform", "ece_quantile"]
    if debiased:
        columns += ["ece_debiased_l2", "ece_sweep"]
    if noise_floor_sims > 0:
        columns += ["noise_floor_mean", "noise_floor_q95"]
    rows = []
    for name in np.unique(labels):
        mask = labels == name
        n = int(mask.sum())
        if n < min_size:
            continue
        yg, pg = y[mask], p[mask]
        row = {
            "group": name,
            "n": n,
            "mean_predicted": float(pg.mean()),
            "fraction_positive": float(yg.mean()),
            "ece_uniform": expected_calibration_error(yg, pg, n_bins, "uniform"),
            "ece_quantile": expected_calibration_error(yg, pg, n_bins, "quantile"),
        }
        if debiased:
            row["ece_debiased_l2"] = debiased_calibration_error(yg, pg, n_bins, "uniform")
            row["ece_sweep"] = expected_calibration_error(yg, pg, estimator="sweep")
        if noise_floor_sims > 0:
            floor = calibration_noise_floor(
                pg, n_bins, "uniform", n_sim=int(noise_floor_sims), random_state=rng
            )
            row["noise_floor_mean"], row["noise_floor_q95"] = floor.mean, floor.q95
        rows.append(row)
    table = pd.DataFrame(rows, columns=columns).set_index("group")
    summaries = [("", "ece_uniform"), ("_quantile", "ece_quantile")]
    if debiased:
        summaries += [("_debiased_l2", "ece_debiased_l2"), ("_sweep", "ece_sweep")]
    for suffix, col in summaries:
        vals = table[col]
        table.attrs[f"max_group_ece{suffix}"] = float(vals.max()) if len(vals) else float("nan")
        table.attrs[f"calibration_disparity{suffix}"] = (
            float(vals.max() - vals.min()) if len(vals) else float("nan")
        )
    return table


def reliability_curve(
    y, p, groups=None, n_bins: int = 10, strategy: str = "uniform"
) -> pd.DataFrame:
    """Reliability diagram data as a tidy table, optionally per group.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
    p : array-like of shape (n_samples,)
    groups : array-like, Series or DataFrame, optional
        ``None`` gives one curve labelled ``"(all)"``.
    n_bins : int, default=10
    strategy : {"uniform", "quantile"}, default="uniform"
        Quantile bins are computed within each group.

    Returns
    -------
    DataFrame
        Columns ``group``, ``bin``, ``bin_lower``, ``bin_upper``, ``mean_predicted``,
        ``fraction_positive``, ``count``; empty bins are omitted.
    """
    y, p = _check_yp(y, p)
    labels = np.full(len(p), ALL, dtype=object) if groups is None else _labels(groups, len(p))
    parts = []
    # Hash-based codes (labels are strings, never missing): sorting and comparing the object
    # array per group took most of this function's time in a sweep.
    codes, names = pd.factorize(labels, sort=True)
    for i, name in enumerate(names):
        mask = codes == i
        yg, pg = y[mask], p[mask]
        edges = _bin_edges(pg, n_bins, strategy)
        ids = _bin_ids(pg, edges)
        nb = len(edges) - 1
        count = np.bincount(ids, minlength=nb)
        sp = np.bincount(ids, weights=pg, minlength=nb)
        sy = np.bincount(ids, weights=yg, minlength=nb)
        keep = count > 0
        parts.append(
            pd.DataFrame(
                {
                    "group": name,
                    "bin": np.arange(nb)[keep],
                    "bin_lower": edges[:-1][keep],
                    "bin_upper": edges[1:][keep],
                    "mean_predicted": sp[keep] / count[keep],
                    "fraction_positive": sy[keep] / count[keep],
                    "count": count[keep],
                }
            )
        )
    cols = ["group", "bin", "bin_lower", "bin_upper", "mean_predicted", "fraction_positive",
            "count"]
    if not parts:
        return pd.DataFrame(columns=cols)
    return pd.concat(parts, ignore_index=True)[cols]


def _bootstrap_ece(y, p, n_bins, strategy, n_boot, rng) -> np.ndarray:
    """ECE of ``n_boot`` bootstrap resamples, all at once (bins fixed from the full sample)."""
    m = len(p)
    edges = _bin_edges(p, n_bins, strategy)
    nb = len(edges) - 1
    ids = _bin_ids(p, edges)
    resid = y - p
    draw = rng.integers(0, m, size=(n_boot, m))
    flat = (np.arange(n_boot)[:, None] * nb + ids[draw]).ravel()
    gap = np.bincount(flat, weights=resid[draw].ravel(), minlength=n_boot * nb)
    return np.abs(gap.reshape(n_boot, nb)).sum(axis=1) / m


def multicalibration_audit(
    y,
    p,
    sensitive_frame,
    min_size: int = 50,
    n_boot: int = 200,
    random_state: int = 0,
    n_bins: int = 10,
    strategy: str = "uniform",
    max_order: int | None = None,
    ci: float = 0.95,
) -> pd.DataFrame:
    """Calibration of every subgroup defined by any subset of the sensitive columns.

    For each non-empty subset of columns (``sex``, ``race``, ``sex & race``, ...) and each of
    its subgroups with at least ``min_size`` rows, computes the ECE and a percentile bootstrap
    interval. The table is sorted worst first, so its head lists the subgroups a
    multicalibration fix should target.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
    p : array-like of shape (n_samples,)
    sensitive_frame : DataFrame or Series
        One column per sensitive attribute.
    min_size : int, default=50
        Smaller subgroups are skipped (their ECE would be mostly noise).
    n_boot : int, default=200
        Bootstrap resamples per subgroup (0 disables the intervals).
    random_state : int, default=0
    n_bins : int, default=10
    strategy : {"uniform", "quantile"}, default="uniform"
    max_order : int, optional
        Largest number of columns combined (all when omitted). With k columns there are
        ``2**k - 1`` subsets; cap this for many attributes.
    ci : float, default=0.95
        Coverage of the bootstrap interval.

    Returns
    -------
    DataFrame
        Columns ``attributes``, ``subgroup``, ``order``, ``n``, ``mean_predicted``,
        ``fraction_positive``, ``gap`` (fraction_positive - mean_predicted), ``ece``,
        ``ece_low`` / ``ece_high`` (percentile bootstrap interval), ``ece_debiased``
        (bootstrap bias-corrected ECE, ``max(0, 2 ece - mean(bootstrap))``), ``excess`` (ECE
        above the overall ECE). Sorted by ``ece``, worst first. The overall population's ECE is
        in ``attrs["overall_ece"]``.

    Notes
    -----
    ECE is biased upwards (bin noise adds in absolute value) and resampling adds the bias
    again, so for a well-calibrated subgroup the percentile interval can lie entirely above
    the point estimate. Read the interval as the size of the noise, and ``ece_debiased`` as
    the better estimate for small subgroups. The bootstrap keeps the bin edges of the full
    subgroup sample.
    """
    y, p = _check_yp(y, p)
    frame = _group_frame(sensitive_frame, len(p))
    cols = list(frame.columns)
    top = len(cols) if max_order is None else min(int(max_order), len(cols))
    rng = np.random.default_rng(random_state)
    overall = expected_calibration_error(y, p, n_bins, strategy)
    alpha = (1 - ci) / 2
    rows = []
    for order in range(1, top + 1):
        for subset in itertools.combinations(cols, order):
            labels = group_labels(frame, columns=list(subset)).to_numpy(dtype=object)
            names, counts = np.unique(labels, return_counts=True)
            for name, n in zip(names, counts):
                if n < min_size:
                    continue
                mask = labels == name
                yg, pg = y[mask], p[mask]
                ece = expected_calibration_error(yg, pg, n_bins, strategy)
                if n_boot > 0:
                    boot = _bootstrap_ece(yg, pg, n_bins, strategy, int(n_boot), rng)
                    lo, hi = np.quantile(boot, [alpha, 1 - alpha])
                    debiased = max(0.0, 2 * ece - float(boot.mean()))
                else:
                    lo = hi = debiased = float("nan")
                rows.append(
                    {
                        "attributes": " & ".join(map(str, subset)),
                        "subgroup": name,
                        "order": order,
                        "n": int(n),
                        "mean_predicted": float(pg.mean()),
                        "fraction_positive": float(yg.mean()),
                        "gap": float(yg.mean() - pg.mean()),
                        "ece": ece,
                        "ece_low": float(lo),
                        "ece_high": float(hi),
                        "ece_debiased": debiased,
                        "excess": ece - overall,
                    }
                )
    out = pd.DataFrame(
        rows,
        columns=["attributes", "subgroup", "order", "n", "mean_predicted", "fraction_positive",
                 "gap", "ece", "ece_low", "ece_high", "ece_debiased", "excess"],
    )
    out = out.sort_values(["ece", "order"], ascending=[False, True], ignore_index=True)
    out.attrs["overall_ece"] = overall
    return out
