"""Fairness and performance metrics by group, with bootstrap confidence intervals.

``fairness_report`` is the one entry point the sweep, the dashboard and the decision record use.
Group rates are counted with a one-hot membership matrix, so a bootstrap of B resamples is a
single (B x n) @ (n x k) product rather than B Python passes over the groups.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, count, false_positive_rate, selection_rate, true_positive_rate
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from .diagnostics import (  # noqa: F401  (calibration diagnostics are part of the metrics API)
    CalibrationNoiseFloor,
    calibration_by_group,
    calibration_noise_floor,
    debiased_calibration_error,
    expected_calibration_error,
    multicalibration_audit,
    reliability_curve,
)
from .groups import SEP, _as_frame, encode_groups, group_hierarchy

GAP_METRICS = [
    "demographic_parity_difference",
    "equal_opportunity_difference",
    "equalized_odds_difference",
    "disparate_impact_ratio",
    "max_group_ece",
    "calibration_disparity",
]
# selection_rate (share of rows given the positive decision) shows a model that decides the same
# for everyone, whose gaps are zero for no useful reason.
OVERALL_METRICS = ["accuracy", "balanced_accuracy", "roc_auc", "log_loss", "brier", "selection_rate"]

# Sufficient statistics per group (and per group x calibration bin) from which every rate,
# gap and ECE is computed; bootstrap replicates re-weight exactly these sums.
_STATS = ["n", "pos", "sel", "tp", "fp", "correct", "sel_pos", "sel_neg"]


def _stat_columns(y, yhat) -> np.ndarray:
    """Each row's contribution to every statistic of ``_STATS``: shape ``yhat.shape + (8,)``.

    ``yhat`` is one model's decisions ``(n,)`` or K models' ``(K, n)`` on the same labels.
    """
    yhat = np.asarray(yhat, dtype=np.float64)
    y = np.broadcast_to(np.asarray(y, dtype=np.float64), yhat.shape)
    return np.stack([np.ones_like(yhat), y, yhat, y * yhat, (1 - y) * yhat, (y == yhat).astype(np.float64),
                     yhat * y, yhat * (1 - y)], axis=-1)


def _group_stats(y, yhat, p, onehot, n_bins, weights=None):
    """Per-group sums of the sufficient statistics and per group x bin calibration sums.

    ``weights`` (B, n) gives B re-weighted replicates at once; None gives one unweighted pass.
    Returns arrays of shape (B, G, len(_STATS)) and (B, G, n_bins, 2) and bin counts (B, G, n_bins).
    """
    cols = _stat_columns(y, yhat)
    G = onehot.shape[1]
    bins = np.clip((p * n_bins).astype(int), 0, n_bins - 1)
    bin_oh = np.zeros((len(y), n_bins))
    bin_oh[np.arange(len(y)), bins] = 1
    # (n, G*k): indicator of group times each statistic, so one matmul gives every group's sums.
    feats = (onehot[:, :, None] * cols[:, None, :]).reshape(len(y), -1)
    cal_feats = (onehot[:, :, None] * bin_oh[:, None, :])
    cal = np.concatenate([
        cal_feats.reshape(len(y), -1),
        (cal_feats * (p - y)[:, None, None]).reshape(len(y), -1),
    ], axis=1)
    W = np.ones((1, len(y))) if weights is None else weights
    s = (W @ feats).reshape(W.shape[0], G, len(_STATS))
    c = (W @ cal).reshape(W.shape[0], 2, G, n_bins)
    return s, c[:, 0], c[:, 1]


def _rates_and_gaps(stats, bin_n, bin_gap, include=None):
    """Group rates (B, G, ...) and gap metrics (B, ...) from sufficient statistics.

    ``include`` (G,) masks the groups that enter the gaps (all when None).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        n, pos, sel, tp, fp, correct = (stats[..., i] for i in range(6))
        neg = n - pos
        sel_rate = sel / n
        tpr = tp / pos
        fpr = fp / neg
        precision = tp / sel
        acc = correct / n
        base = pos / n
        ece = np.abs(bin_gap).sum(-1) / bin_n.sum(-1)
        present = (n > 0) if include is None else (n > 0) & include
        sr = np.where(present, sel_rate, np.nan)

        def spread(a):
            return np.nanmax(a, -1) - np.nanmin(a, -1)

        dp = spread(sr)
        eo = spread(np.where(present & (pos > 0), tpr, np.nan))
        fpr_gap = spread(np.where(present & (neg > 0), fpr, np.nan))
        eodds = np.fmax(eo, fpr_gap)
        mx = np.nanmax(sr, -1)
        di = np.where(mx > 0, np.nanmin(sr, -1) / mx, 1.0)
        e = np.where(present, ece, np.nan)
        rates = {
            "base_rate": base, "selection_rate": sel_rate, "tpr": tpr, "fpr": fpr,
            "precision": precision, "accuracy": acc, "ece": ece,
        }
        gaps = {
            "demographic_parity_difference": dp,
            "equal_opportunity_difference": eo,
            "equalized_odds_difference": eodds,
            "disparate_impact_ratio": di,
            "max_group_ece": np.nanmax(e, -1),
            "calibration_disparity": spread(e),
        }
    return rates, gaps


@dataclass
class FairnessReport:
    """Overall performance, a by-group table and fairness gaps for one set of predictions.

    Attributes
    ----------
    overall : dict
        accuracy, balanced_accuracy, roc_auc, log_loss, brier, n, threshold.
    by_group : DataFrame
        One row per (attribute, group): n, base_rate, selection_rate, tpr, fpr, precision,
        accuracy, ece, small (bool), plus ``<metric>_low`` / ``<metric>_high`` when bootstrapped.
        ``attribute`` is a sensitive column, or the intersection ``a & b`` of several.
    gaps : DataFrame
        One row per attribute: the metrics in ``GAP_METRICS`` (and ``_low``/``_high``).
    calibration : DataFrame
        Reliability-curve points for the finest grouping (see :func:`reliability_curve`).
    """

    overall: dict
    by_group: pd.DataFrame
    gaps: pd.DataFrame
    calibration: pd.DataFrame
    n_boot: int = 0
    notes: list = field(default_factory=list)

    @property
    def primary_attribute(self) -> str:
        """The finest grouping: the intersection when there are several attributes."""
        return self.gaps.index[-1]

    def gap(self, metric: str, attribute: str | None = None) -> float:
        """A gap metric for an attribute (default: the finest grouping)."""
        return float(self.gaps.loc[attribute or self.primary_attribute, metric])

    def summary(self, attribute: str | None = None) -> dict:
        """Overall metrics and the gaps of one attribute in a flat dict (for result tables)."""
        out = {k: self.overall[k] for k in OVERALL_METRICS}
        row = self.gaps.loc[attribute or self.primary_attribute]
        out.update({k: float(row[k]) for k in GAP_METRICS})
        return out


def _check_labels(y: np.ndarray) -> None:
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"y_true must hold 0 (negative) and 1 (positive) only, got {sorted(set(np.unique(y)))[:5]}")


def _group_frame(sensitive, n: int) -> pd.DataFrame:
    frame = _as_frame(sensitive).reset_index(drop=True)
    if len(frame) != n:
        raise ValueError(f"sensitive has {len(frame)} rows but y_true has {n}")
    return frame


def fairness_report(
    y_true,
    y_score,
    sensitive,
    *,
    threshold: float = 0.5,
    n_boot: int = 0,
    ci: float = 0.95,
    n_bins: int = 10,
    min_group_size: int = 30,
    gap_min_group_size: int | None = None,
    random_state=0,
) -> FairnessReport:
    """Performance and fairness of scores, overall, by group and by intersection.

    Parameters
    ----------
    y_true : array-like of {0, 1}
    y_score : array-like of float
        Predicted probability of the positive class.
    sensitive : array-like, Series or DataFrame
        One or several sensitive attributes; several add their intersection.
    threshold : float
        A row is selected (predicted positive) when ``y_score >= threshold``.
    n_boot : int
        Bootstrap resamples for confidence intervals (0: none).
    ci : float
        Confidence level of the percentile intervals.
    n_bins : int
        Equal-width bins for the ECE.
    min_group_size : int
        Groups below this are flagged ``small`` in ``by_group``.
    gap_min_group_size : int, optional
        Groups below this size are left out of the gap metrics (default: ``min_group_size``):
        a 4-person group's selection rate is mostly noise, and a max-min gap over it would be
        decided by that noise. They stay in ``by_group`` (flagged), and ``in_gaps`` says which
        groups entered the gaps. Use 0 to include every group.
    random_state : int or None

    Returns
    -------
    FairnessReport
    """
    if gap_min_group_size is None:
        gap_min_group_size = min_group_size
    y = np.asarray(y_true).astype(np.int64)
    p = np.clip(np.asarray(y_score, dtype=np.float64), 0.0, 1.0)
    if y.shape != p.shape:
        raise ValueError(f"y_true has {len(y)} rows but y_score has {len(p)}")
    _check_labels(y)
    yhat = (p >= threshold).astype(np.int64)
    frame = _group_frame(sensitive, len(y))

    # Accuracy, balanced accuracy and precision from the confusion counts: sklearn's functions
    # give the same numbers (tests compare them) but spend ~4 ms each on input checks, a fifth
    # of a 16-eta sweep's evaluation.
    tp, fp = int(np.sum(yhat & y)), int(np.sum(yhat & (1 - y)))
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    both = n_pos > 0 and n_neg > 0
    overall = {
        "n": int(len(y)),
        "threshold": float(threshold),
        "accuracy": float(np.mean(yhat == y)),
        "balanced_accuracy": (tp / n_pos + (n_neg - fp) / n_neg) / 2 if both else float("nan"),
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "selection_rate": float(yhat.mean()),
        "ece": expected_calibration_error(y, p, n_bins=n_bins),
    }

    levels = group_hierarchy(frame)
    rng = np.random.default_rng(random_state)
    W = None
    if n_boot > 0:
        # Multinomial resampling weights shared by every level, so intervals of marginal and
        # intersectional gaps come from the same replicates.
        W = np.stack([np.bincount(rng.integers(0, len(y), len(y)), minlength=len(y)) for _ in range(n_boot)]).astype(np.float64)
    lo_q, hi_q = (1 - ci) / 2, 1 - (1 - ci) / 2
    group_tables, gap_rows = [], []
    for level in levels:
        onehot = level.encoding.one_hot(dtype=np.float64)
        stats, bin_n, bin_gap = _group_stats(y, yhat, p, onehot, n_bins)
        counts = stats[0, :, 0]
        include = counts >= gap_min_group_size
        if include.sum() < 2:  # too few large groups to compare: use every group
            include = counts > 0
        rates, gaps = _rates_and_gaps(stats, bin_n, bin_gap, include)
        table = pd.DataFrame({k: v[0] for k, v in rates.items()})
        table.insert(0, "n", stats[0, :, 0].astype(int))
        table.insert(0, "group", level.encoding.names)
        table.insert(0, "attribute", level.name)
        table["small"] = table["n"] < min_group_size
        table["in_gaps"] = include
        gap_row = {"attribute": level.name, **{k: float(v[0]) for k, v in gaps.items()}}
        if W is not None:
            bstats, bbin_n, bbin_gap = _group_stats(y, yhat, p, onehot, n_bins, weights=W)
            brates, bgaps = _rates_and_gaps(bstats, bbin_n, bbin_gap, include)
            with warnings.catch_warnings():
                # A group with no positives (or negatives) has no TPR (FPR) in any replicate.
                warnings.simplefilter("ignore", RuntimeWarning)
                for k, v in brates.items():
                    table[f"{k}_low"] = np.nanquantile(v, lo_q, axis=0)
                    table[f"{k}_high"] = np.nanquantile(v, hi_q, axis=0)
            for k, v in bgaps.items():
                gap_row[f"{k}_low"] = float(np.nanquantile(v, lo_q)) if np.isfinite(v).any() else float("nan")
                gap_row[f"{k}_high"] = float(np.nanquantile(v, hi_q)) if np.isfinite(v).any() else float("nan")
        group_tables.append(table)
        gap_rows.append(gap_row)

    by_group = pd.concat(group_tables, ignore_index=True)
    gaps = pd.DataFrame(gap_rows).set_index("attribute")
    finest = levels[-1].encoding
    calibration = reliability_curve(y, p, finest.names[finest.codes], n_bins=n_bins)
    notes = []
    small = by_group[by_group["small"]]
    if len(small):
        notes.append(
            f"{len(small)} group(s) have fewer than {min_group_size} rows; their rates are uncertain"
            + (" and they are left out of the gaps: " if gap_min_group_size >= min_group_size else ": ")
            + ", ".join(f"{g} ({n})" for g, n in zip(small["group"], small["n"]))
        )
    return FairnessReport(overall=overall, by_group=by_group, gaps=gaps, calibration=calibration,
                          n_boot=n_boot, notes=notes)


def summary_metrics(
    y_true,
    y_scores,
    sensitive,
    *,
    threshold: float = 0.5,
    n_bins: int = 10,
    min_group_size: int = 30,
    gap_min_group_size: int | None = None,
) -> list[dict]:
    """The sweep table's metrics of K score vectors on the same rows, in one vectorised pass.

    Gives what ``fairness_report(y_true, y_scores[k], sensitive, ...).summary()`` gives for
    every k (``OVERALL_METRICS`` and the finest grouping's ``GAP_METRICS``), without the
    by-group tables, reliability curves and notes a sweep does not keep. The groups are encoded
    once for the K models, and every count is one matrix product or ``bincount`` over all of
    them: a 16-eta sweep evaluates its models in one call per data part.

    Parameters
    ----------
    y_true : array-like of {0, 1}, shape (n,)
    y_scores : array-like of float, shape (n,) or (K, n)
        Predicted probabilities of the positive class, one row per model.
    sensitive : array-like, Series or DataFrame
        As in :func:`fairness_report`; several attributes are measured on their intersection.
    threshold, n_bins, min_group_size, gap_min_group_size
        As in :func:`fairness_report`.

    Returns
    -------
    list of dict
        One flat dict per model, keyed by ``OVERALL_METRICS + GAP_METRICS``.
    """
    from scipy.stats import rankdata

    if gap_min_group_size is None:
        gap_min_group_size = min_group_size
    y = np.asarray(y_true).astype(np.int64)
    P = np.clip(np.asarray(y_scores, dtype=np.float64), 0.0, 1.0)
    if P.ndim == 1:
        P = P[None, :]
    if P.ndim != 2 or P.shape[1] != len(y):
        raise ValueError(f"y_scores must have shape (n,) or (K, n) with n = {len(y)}, got {np.shape(y_scores)}")
    _check_labels(y)
    frame = _group_frame(sensitive, len(y))
    K, n = P.shape
    yhat = (P >= threshold).astype(np.float64)
    yf = y.astype(np.float64)
    n_pos = float(yf.sum())
    n_neg = n - n_pos
    both = n_pos > 0 and n_neg > 0
    tp, fp = yhat @ yf, yhat @ (1 - yf)
    with np.errstate(invalid="ignore", divide="ignore"):
        bal = (tp / n_pos + (n_neg - fp) / n_neg) / 2 if both else np.full(K, np.nan)
        if both:
            # Mann-Whitney with average ranks: sklearn's ROC AUC, ties counted as half.
            ranks = rankdata(P, axis=1)
            auc = (ranks @ yf - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        else:
            auc = np.full(K, np.nan)
    eps = np.finfo(np.float64).eps  # sklearn's log_loss clips float64 probabilities to [eps, 1 - eps]
    ll = -(yf * np.log(np.clip(P, eps, 1 - eps)) + (1 - yf) * np.log(np.clip(1 - P, eps, 1 - eps))).mean(1)
    overall = {
        "accuracy": (yhat == yf).mean(1), "balanced_accuracy": bal, "roc_auc": auc, "log_loss": ll,
        "brier": ((P - yf) ** 2).mean(1), "selection_rate": yhat.mean(1),
    }

    enc = encode_groups(frame)  # the finest grouping: the intersection when there are several
    G, codes = enc.n_groups, enc.codes
    onehot = enc.one_hot(dtype=np.float64)
    # (K, n, 8) statistics summed per group by one product.
    stats = np.einsum("kns,ng->kgs", _stat_columns(yf, yhat), onehot)
    # Calibration sums per model x group x bin with one bincount over flat cell indices.
    bins = np.clip((P * n_bins).astype(int), 0, n_bins - 1)
    cell = ((np.arange(K)[:, None] * G + codes[None, :]) * n_bins + bins).ravel()
    bin_n = np.bincount(cell, minlength=K * G * n_bins).reshape(K, G, n_bins).astype(np.float64)
    bin_gap = np.bincount(cell, weights=(P - yf).ravel(), minlength=K * G * n_bins).reshape(K, G, n_bins)
    counts = stats[0, :, 0]
    include = counts >= gap_min_group_size
    if include.sum() < 2:  # too few large groups to compare: use every group (as fairness_report)
        include = counts > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN gaps (one group) stay NaN
        _, gaps = _rates_and_gaps(stats, bin_n, bin_gap, include)
    table = {**overall, **gaps}
    return [{k: float(table[k][i]) for k in OVERALL_METRICS + GAP_METRICS} for i in range(K)]


def metric_frame(y_true, y_pred, sensitive) -> MetricFrame:
    """fairlearn's MetricFrame with the rates fairkit reports (for users who want its API)."""
    return MetricFrame(
        metrics={"count": count, "selection_rate": selection_rate,
                 "tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=np.asarray(y_true), y_pred=np.asarray(y_pred), sensitive_features=sensitive,
    )


__all__ = [
    "FairnessReport", "fairness_report", "summary_metrics", "expected_calibration_error", "reliability_curve",
    "metric_frame", "GAP_METRICS", "OVERALL_METRICS", "SEP", "encode_groups", "calibration_by_group",
    "multicalibration_audit", "debiased_calibration_error", "calibration_noise_floor",
    "CalibrationNoiseFloor",
]
