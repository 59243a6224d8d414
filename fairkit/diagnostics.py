"""Calibration diagnostics: how far predicted probabilities are from observed rates, per group.

Measuring calibration is separate from fixing it (:mod:`fairkit.calibration`): these functions
take labels and probabilities from any model, calibrated or not, and are part of the metrics
API (:mod:`fairkit.metrics` re-exports them). The module holds the expected calibration error
(:func:`expected_calibration_error`), with bias-reduced estimators for small samples
(:func:`debiased_calibration_error`, ``estimator="sweep"``), the noise floor of the ECE of a
perfectly calibrated model (:func:`calibration_noise_floor`, :class:`CalibrationNoiseFloor`),
per-group tables and curves (:func:`calibration_by_group`, :func:`reliability_curve`) and the
search for the worst-calibrated intersections (:func:`multicalibration_audit`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fairkit import stats
from fairkit.calibration import _as_binary, _as_scores, _group_frame
from fairkit.groups import MIN_GROUP_SIZE, group_labels

__all__ = [
    "expected_calibration_error",
    "debiased_calibration_error",
    "calibration_noise_floor",
    "CalibrationNoiseFloor",
    "calibration_by_group",
    "reliability_curve",
    "multicalibration_audit",
]

ALL = "(all)"


def _check_yp(y, p):
    p = np.asarray(p, dtype=np.float64)
    if p.ndim == 2 and p.shape[1] == 2:
        p = p[:, 1]
    p = p.ravel()
    y = _as_binary(np.asarray(y).ravel(), len(p))
    return y, stats.probabilities(p, "p")


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
        edges = stats.bin_edges(ps, b, "quantile")
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
    edges = stats.bin_edges(p, n_bins, strategy)
    ids = stats.bin_ids(p, edges)
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
    stats.bin_edges(p, n_bins, strategy)
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
    p = stats.probabilities(p, "p")
    n_sim = int(n_sim)
    if n_sim < 1:
        raise ValueError(f"n_sim must be >= 1, got {n_sim}")
    edges = stats.bin_edges(p, n_bins, strategy)
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
        ids = stats.bin_ids(p, edges)
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
    gap_min_group_size: int = MIN_GROUP_SIZE,
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
    gap_min_group_size : int, default=MIN_GROUP_SIZE
        The summary compares groups of at least this many rows (every group when fewer than two
        are that large): the small-group rule of :func:`fairkit.metrics.fairness_report`, so its
        ``max_group_ece`` and ``calibration_disparity`` are the report's.

    Returns
    -------
    DataFrame
        Indexed by group, columns ``n``, ``in_gaps`` (whether the summary compares the group),
        ``mean_predicted``, ``fraction_positive``, ``ece_uniform``, ``ece_quantile`` (and the
        optional columns above). ``attrs`` holds the summary: ``max_group_ece`` and
        ``calibration_disparity`` (max - min group ECE) for uniform bins, and the same with a
        ``_quantile`` suffix for equal-mass bins (and with ``_debiased_l2`` / ``_sweep``
        suffixes when ``debiased=True``).
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
    # The report's small-group rule and gap (it counted every group of one row or more: a
    # 20-row group's ECE of 0.55 made max_group_ece 0.55 where the report's was 0.20:
    # one-implementation audit, session 53).
    include = stats.gap_groups(table["n"].to_numpy(), gap_min_group_size)
    table.insert(1, "in_gaps", include)
    summaries = [("", "ece_uniform"), ("_quantile", "ece_quantile")]
    if debiased:
        summaries += [("_debiased_l2", "ece_debiased_l2"), ("_sweep", "ece_sweep")]
    for suffix, col in summaries:
        gaps = stats.calibration_gaps(table[col].to_numpy(np.float64), include)
        table.attrs[f"max_group_ece{suffix}"] = float(gaps["max_group_ece"])
        table.attrs[f"calibration_disparity{suffix}"] = float(gaps["calibration_disparity"])
    return table


def reliability_intervals(curve: pd.DataFrame, ci: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Each bin's Wilson interval of its observed rate, from its rows (missing below
    ``stats.MIN_EVENTS`` rows): what the reliability figure's band and its table show. With
    sample weights the rows are those that carry weight, each counted once (unequal weights
    would give a smaller effective size; the band is then somewhat narrow).

    Parameters
    ----------
    curve : DataFrame
        From :func:`reliability_curve` (``fraction_positive``, ``count``).
    ci : float, default=0.95

    Returns
    -------
    (low, high) : ndarrays of shape (len(curve),)
    """
    n = curve["count"].to_numpy(dtype=float)
    return stats.wilson_interval(curve["fraction_positive"].to_numpy(dtype=float) * n, n, rows=n, ci=ci)


def reliability_curve(
    y, p, groups=None, n_bins: int = 10, strategy: str = "uniform", sample_weight=None
) -> pd.DataFrame:
    """Reliability diagram data as a tidy table, optionally per group, from the kernel's bin sums.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
    p : array-like of shape (n_samples,)
    groups : array-like, Series or DataFrame, optional
        ``None`` gives one curve labelled ``"(all)"``.
    n_bins : int, default=10
    strategy : {"uniform", "quantile"}, default="uniform"
        Quantile bins are computed within each group.
    sample_weight : array-like of shape (n_samples,), optional
        Weighted means per bin (``count`` stays the number of rows that carry weight).

    Returns
    -------
    DataFrame
        Columns ``group``, ``bin``, ``bin_lower``, ``bin_upper``, ``mean_predicted``,
        ``fraction_positive``, ``count`` (rows), ``weight`` (their summed sample weight; rows without
        weights); empty bins (no rows, or only rows of weight 0) are omitted. The ``weight``-weighted mean of
        ``|fraction_positive - mean_predicted|`` over a group's bins is its ECE in every report.
    """
    y, p = _check_yp(y, p)
    labels = np.full(len(p), ALL, dtype=object) if groups is None else _labels(groups, len(p))
    # Hash-based codes (labels are strings, never missing): sorting and comparing the object
    # array per group took most of this function's time in a sweep.
    codes, names = pd.factorize(labels, sort=True)
    cols = ["group", "bin", "bin_lower", "bin_upper", "mean_predicted", "fraction_positive", "count", "weight"]
    # Checked as every report checks them: a negative weight gave a bin's observed rate 4.0.
    w = stats.check_sample_weight(sample_weight, len(y), "y")
    per_group = strategy == "quantile"
    edges = None if per_group else stats.bin_edges(p, n_bins, strategy)
    sums = None if per_group else stats.group_sums(y, p, codes, len(names), sample_weight=w, edges=edges).bins[0, 0]
    parts = []
    for i, name in enumerate(names):
        if per_group:
            mask = codes == i
            e = stats.bin_edges(p[mask], n_bins, strategy)
            b = stats.group_sums(y[mask], p[mask], np.zeros(int(mask.sum()), dtype=np.int64), 1,
                                 sample_weight=None if w is None else w[mask], edges=e).bins[0, 0, 0]
        else:
            e, b = edges, sums[i]
        # Rows of weight 0 only: no mean to show (a NaN row, oracle audit, session 44), no ECE share.
        keep = (b[:, 3] > 0) & (b[:, 0] > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            parts.append(pd.DataFrame({
                "group": name,
                "bin": np.arange(len(e) - 1)[keep],
                "bin_lower": e[:-1][keep],
                "bin_upper": e[1:][keep],
                "mean_predicted": b[keep, 2] / b[keep, 0],
                "fraction_positive": b[keep, 1] / b[keep, 0],
                "count": b[keep, 3].astype(np.int64),
                "weight": b[keep, 0],
            }))
    if not parts:
        return pd.DataFrame(columns=cols)
    return pd.concat(parts, ignore_index=True)[cols]


def _bootstrap_ece(y, p, n_bins, strategy, n_boot, rng, ci) -> tuple:
    """The ECE's interval (:func:`fairkit.stats.calibration_interval`) and its bootstrap
    bias-corrected value, from ``n_boot`` resamples on the kernel (bins fixed from the full
    sample): ``(low, high, debiased)``."""
    edges = stats.bin_edges(p, n_bins, strategy)
    one = np.zeros(len(p), dtype=np.int64)
    gs = stats.group_sums(y, p, one, 1, edges=edges)
    boot = stats.group_sums(y, p, one, 1, edges=edges, resample=stats.bootstrap_weights(len(p), n_boot, rng))
    ece = stats.group_rates(gs)["ece"][0, 0, 0]
    down, up = stats.calibration_noise(gs, boot)
    lo, hi = stats.calibration_interval(ece, down[:, 0, 0], up[:, 0, 0], ci)
    debiased = max(0.0, 2 * ece - float(stats.group_rates(boot)["ece"][:, 0, 0].mean()))
    return float(lo), float(hi), debiased


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
        ``ece_low`` / ``ece_high`` (the kernel's interval of an ECE,
        :func:`fairkit.stats.calibration_interval`), ``ece_debiased``
        (bootstrap bias-corrected ECE, ``max(0, 2 ece - mean(bootstrap))``), ``excess`` (ECE
        above the overall ECE). Sorted by ``ece``, worst first. The overall population's ECE is
        in ``attrs["overall_ece"]``.

    Notes
    -----
    ECE is biased upwards (bin noise adds in absolute value) and resampling adds the bias
    again, so a plain percentile interval can lie entirely above the point estimate; the
    kernel's interval reaches below the estimate by as much as the noise can add, so it covers
    a perfectly calibrated subgroup. Read ``ece_debiased`` as the better estimate for small
    subgroups. The bootstrap keeps the bin
    edges of the full subgroup sample.
    """
    y, p = _check_yp(y, p)
    frame = _group_frame(sensitive_frame, len(p))
    cols = list(frame.columns)
    top = len(cols) if max_order is None else min(int(max_order), len(cols))
    rng = np.random.default_rng(random_state)
    overall = expected_calibration_error(y, p, n_bins, strategy)
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
                    lo, hi, debiased = _bootstrap_ece(yg, pg, n_bins, strategy, int(n_boot), rng, ci)
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
