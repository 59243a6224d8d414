"""The evaluation kernel: one source for every per-group number fairkit reports.

Every rate, gap, calibration error and interval that a report, a sweep row, a dashboard page or
a decision record shows is computed here, from one set of per-group sufficient statistics:

* :func:`decide` is the one decision rule (``score >= threshold``);
* :func:`binary_labels` is the one reading of a label column (``pos_label`` as in scikit-learn);
* :func:`bin_edges` / :func:`bin_ids` are the one calibration binning;
* :func:`group_sums` gives weighted per-group (and per-group x bin) sums with a model axis and an
  optional resampling axis, so K models or B bootstrap replicates cost one sparse product;
* :func:`group_rates` and :func:`gap` turn those sums into rates and max-min gaps, with one rule
  for which groups a gap compares (:func:`gap_groups`);
* :func:`wilson_interval`, :func:`bootstrap_weights` and :func:`recentred_interval` are the one
  way intervals are made; :func:`gap_intervals` gives every gap of a report its interval (score
  intervals for gaps between proportions, :func:`difference_gap_interval` and
  :func:`ratio_gap_interval`; the bootstrap's noise bounds for calibration errors and their gaps,
  :func:`calibration_interval`); :func:`paired_proportion_interval` the one comparison of two
  models' decisions on the same rows (:func:`paired_difference` for expected values, such as
  probabilities, and the standard error a mean over seeds combines).

See ``docs/ARCHITECTURE.md`` ("The evaluation kernel") for why there is exactly one copy.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.stats import norm

# Per-group weighted sums kept for every model (and bootstrap replicate). ``*2`` are sums of
# squared weights: of a rate's denominator (Kish's effective sample size) and of its numerator
# (the variance of a weighted proportion when the weights go with the outcome, see
# :func:`wilson_interval`); ``*_rows`` are unweighted row counts, which decide the small-group
# and "too few to estimate" policies so a weighting never turns 3 people into a large group.
STATS = ("n", "pos", "sel", "tp", "fp", "correct", "n2", "pos2", "sel2", "tp2", "fp2", "correct2",
         "n_rows", "pos_rows", "sel_rows", "neg", "neg2")
_IDX = {s: i for i, s in enumerate(STATS)}
# Per group x bin sums for calibration: weight, weighted outcome, weighted score, rows.
BIN_STATS = ("w", "y", "p", "rows")

# A rate needs at least this many rows in its denominator (positives for a TPR, negatives for an
# FPR, selected rows for a precision) before an interval means anything; below it the interval is
# reported as missing ("too few to estimate") instead of a falsely tight one such as [0, 0].
MIN_EVENTS = 5

# Without weights (every weight 1) a squared-weight sum is its weighted sum and a row count is
# the weighted count: those statistics are made once and copied, the same numbers to the bit.
_UNWEIGHTED_COPIES = {"n2": "n", "pos2": "pos", "sel2": "sel", "tp2": "tp", "fp2": "fp", "correct2": "correct",
                      "n_rows": "n", "pos_rows": "pos", "sel_rows": "sel", "neg2": "neg"}
# The negatives' sums are summed as they are with weights: ``n - pos`` cancelled when the
# positives weighed 1e7 times the negatives and more (an FPR of 1.0016, intervals missing: oracle
# audit, session 44). Without weights the difference of two counts is exact, and is what is made.
_UNWEIGHTED_DIFFERENCES = {"neg": ("n", "pos")}

RATES = ("base_rate", "selection_rate", "tpr", "fpr", "precision", "accuracy", "ece")
# Each rate's (numerator, denominator) sums; ECE is built from the bin sums instead.
_FRACTIONS = {
    "base_rate": ("pos", "n"),
    "selection_rate": ("sel", "n"),
    "tpr": ("tp", "pos"),
    "fpr": ("fp", "neg"),
    "precision": ("tp", "sel"),
    "accuracy": ("correct", "n"),
}


def decide(scores, threshold: float = 0.5) -> np.ndarray:
    """The one decision rule: a row is selected (predicted positive) when ``score >= threshold``.

    Reports, sweep rows, estimators' ``predict`` and exported bundles all decide with this
    function, so a model's accuracy and its gaps are measured on the decisions it ships with.

    Parameters
    ----------
    scores : array-like of float
        Predicted probabilities of the positive class, any shape.
    threshold : float, default=0.5

    Returns
    -------
    ndarray of bool, the shape of ``scores``
    """
    return np.asarray(scores, dtype=np.float64) >= threshold


def binary_labels(y, pos_label=None) -> np.ndarray:
    """Labels as 0/1 integers, the favourable outcome being 1.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
    pos_label : scalar, optional
        The favourable (positive) label. Optional when the labels are already 0/1, -1/1 (1
        positive) or booleans; required otherwise, as in scikit-learn, because no order of the
        labels says which outcome is favourable.

    Returns
    -------
    ndarray of int64

    Raises
    ------
    ValueError
        Naming the labels found and what to pass.
    """
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"y_true must be 1-D, got shape {arr.shape}")
    if pos_label is not None:
        values = _unique(arr)
        if len(values) > 2:
            raise ValueError(f"y_true must hold two labels, found {len(values)}: {values[:5]}")
        if pos_label not in values and len(values) == 2:
            raise ValueError(f"pos_label={pos_label!r} is not one of the labels in y_true: {values}")
        return (arr == pos_label).astype(np.int64)
    if arr.dtype.kind == "b":
        return arr.astype(np.int64)
    if arr.dtype.kind in "iuf" and np.isin(arr, (0, 1)).all():
        return arr.astype(np.int64)
    if arr.dtype.kind in "iuf" and np.isin(arr, (-1, 1)).all():
        return (arr == 1).astype(np.int64)  # scikit-learn's reading of {-1, 1}: 1 is positive
    values = _unique(arr)
    raise ValueError(
        f"y_true holds the labels {values[:5]}, not 0/1: pass pos_label= to say which label is the "
        "favourable (positive) outcome")


# How far outside [0, 1] a probability may stray and still count as one: sums and products of
# probabilities (a mixture of models, a calibration map, a sigmoid in float32) land a few ulps
# outside the range, and refusing those would fail users for float round-off.
PROBABILITY_TOLERANCE = 1e-9


def probabilities(scores, name: str = "y_score") -> np.ndarray:
    """Scores checked to be probabilities of the positive class: finite and within [0, 1].

    The one check of every kernel input that must be a probability (reports, sweep rows,
    diagnostics). Values within :data:`PROBABILITY_TOLERANCE` of the range are round-off and are
    clipped into it; anything further out is refused rather than clipped, because logits or
    percentages clipped to [0, 1] give plausible but wrong accuracies, gaps and ECEs.

    Parameters
    ----------
    scores : array-like of float
        Any shape.
    name : str, default="y_score"
        The argument's name, for the message.

    Returns
    -------
    ndarray of float64
        ``scores`` within [0, 1], the same shape.

    Raises
    ------
    ValueError
        Naming how many values are NaN, infinite or out of range, the range found, and what to
        pass instead.
    """
    P = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(P)
    if not finite.all():
        raise ValueError(
            f"{name} holds {int((~finite).sum())} NaN or infinite value(s); every row needs a "
            "probability of the positive class in [0, 1]")
    outside = (P < -PROBABILITY_TOLERANCE) | (P > 1 + PROBABILITY_TOLERANCE)
    if outside.any():
        raise ValueError(
            f"{name} must be probabilities within [0, 1], but {int(outside.sum())} of {P.size} values are "
            f"outside it (range found: {P.min():.6g} to {P.max():.6g}). Pass probabilities of the "
            "positive class, e.g. estimator.predict_proba(X)[:, 1], or a sigmoid of logits / "
            "decision_function output; divide percentages by 100")
    return np.clip(P, 0.0, 1.0)


def _unique(arr) -> list:
    try:
        return sorted(set(arr.tolist()))
    except TypeError:  # mixed types do not sort
        return list(dict.fromkeys(arr.tolist()))


def bin_edges(p, n_bins: int = 10, strategy: str = "uniform") -> np.ndarray:
    """The one calibration binning's edges.

    Parameters
    ----------
    p : array-like of float
        Scores in [0, 1] (used by ``"quantile"`` only).
    n_bins : int, default=10
    strategy : {"uniform", "quantile"}, default="uniform"
        Equal-width bins on [0, 1], or equal-mass bins (quantiles of ``p``; ties merge bins).

    Returns
    -------
    ndarray of shape (n_edges,)
        Increasing, from 0 to 1.
    """
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a whole number >= 1, got {n_bins}")
    n_bins = int(n_bins)
    if strategy == "uniform":
        # i / n_bins, not linspace: linspace(0, 1, 11)[3] is 0.30000000000000004, which would put
        # a score of 0.3 in the bin [0.2, 0.3).
        return np.arange(n_bins + 1) / n_bins
    if strategy == "quantile":
        p = np.asarray(p, dtype=np.float64).ravel()
        if len(p) == 0:
            return np.array([0.0, 1.0])
        edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1)))
        if len(edges) < 2:
            edges = np.array([p.min(), p.max()])
        edges[0], edges[-1] = 0.0, 1.0
        return np.unique(edges)
    raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")


def bin_ids(p, edges) -> np.ndarray:
    """Bin of each score: bin ``i`` holds ``edges[i] <= p < edges[i + 1]``, the last bin also ``p == 1``.

    Every route to a calibration number bins with this function (``floor(p * n_bins)`` and
    ``searchsorted`` on ``linspace`` edges disagreed on scores that sit on an edge, such as 0.3
    and 0.7, and gave one group two ECEs in one report). scikit-learn's ``calibration_curve``
    puts a score on an edge in the lower bin instead: for scores on a grid of tenths the two
    curves differ (continuous scores almost never sit on an edge).
    """
    edges = np.asarray(edges, dtype=np.float64)
    return np.searchsorted(edges[1:-1], np.asarray(p, dtype=np.float64), side="right")


@dataclass(frozen=True)
class GroupSums:
    """Weighted sufficient statistics per group, for every model and resample.

    Attributes
    ----------
    sums : ndarray of shape (B, K, G, len(STATS))
        ``B`` resamples (1 without a bootstrap), ``K`` models, ``G`` groups.
    bins : ndarray of shape (B, K, G, n_bins, 4)
        Per group x calibration bin: weight, weighted outcome, weighted score, unweighted rows.
    """

    sums: np.ndarray
    bins: np.ndarray

    def stat(self, name: str) -> np.ndarray:
        """One statistic, shape (B, K, G); ``neg_rows`` is ``n_rows - pos_rows``."""
        if name not in _IDX and name.startswith("neg"):
            suffix = name[3:]
            return self.stat("n" + suffix) - self.stat("pos" + suffix)
        return self.sums[..., _IDX[name]]

    def total(self) -> "GroupSums":
        """The sums of all groups together, as one group (every row must belong to a group)."""
        return GroupSums(self.sums.sum(2, keepdims=True), self.bins.sum(2, keepdims=True))

    @property
    def rows(self) -> np.ndarray:
        """Unweighted rows per group in the first resample of the first model, shape (G,)."""
        return self.sums[0, 0, :, _IDX["n_rows"]]

    def merge(self, parent: np.ndarray, n_parents: int) -> "GroupSums":
        """The sums of groups of groups: group ``g``'s sums added into group ``parent[g]`` (every
        statistic and calibration bin is a sum over rows, so an attribute's groups are read off
        their intersections' sums instead of a second pass over the rows)."""
        M = np.zeros((len(parent), int(n_parents)))
        M[np.arange(len(parent)), np.asarray(parent, dtype=np.int64)] = 1.0
        return GroupSums(np.einsum("bkgs,gp->bkps", self.sums, M), np.einsum("bkgnc,gp->bkpnc", self.bins, M))


def group_sums(y, scores, codes, n_groups: int, *, threshold: float = 0.5, sample_weight=None,
               n_bins: int = 10, edges=None, resample=None, decisions=None, only=None) -> GroupSums:
    """Per-group sufficient statistics of K models on the same rows, in one sparse product.

    Parameters
    ----------
    y : ndarray of shape (n,)
        0/1 outcomes (see :func:`binary_labels`).
    scores : ndarray of shape (n,) or (K, n)
        Probabilities of the positive class in [0, 1].
    codes : ndarray of int, shape (n,)
        Group of each row in ``0 .. n_groups - 1``; rows with code -1 count in no group.
    n_groups : int
    threshold : float, default=0.5
        Decisions are :func:`decide` ``(scores, threshold)``.
    sample_weight : ndarray of shape (n,), optional
    n_bins : int, default=10
        Uniform calibration bins (:func:`bin_edges`).
    edges : ndarray, optional
        Other bin edges (e.g. ``bin_edges(p, n_bins, "quantile")``); overrides ``n_bins``.
    resample : ndarray of shape (B, n), optional
        Row multiplicities of B bootstrap replicates (:func:`bootstrap_weights`); they multiply
        ``sample_weight``.
    decisions : ndarray of shape (n,) or (K, n), optional
        Decisions to count instead of thresholding ``scores``; may be probabilities of a
        positive decision (a randomized threshold), which count as expected decisions.
    only : tuple of str, optional
        Sum only these of :data:`STATS` (the others, and the calibration bins, are NaN), for a
        caller that reads a few rates many times (a boosting objective, every round). Without
        resamples; the sums made are those of a full call, bit for bit.

    Returns
    -------
    GroupSums
    """
    y = np.asarray(y, dtype=np.float64)
    P = np.asarray(scores, dtype=np.float64)
    if P.ndim == 1:
        P = P[None, :]
    K, n = P.shape
    codes = np.asarray(codes, dtype=np.int64)
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if decisions is None:
        yhat = decide(P, threshold).astype(np.float64)
    else:
        yhat = np.broadcast_to(np.asarray(decisions, dtype=np.float64), P.shape)
    ones = np.ones_like(yhat)
    yk = np.broadcast_to(y, P.shape)
    # Each row's contribution to every statistic, with its weight (or squared weight) applied,
    # made one statistic at a time: all of them at once held 12 + 4 arrays of (models x rows)
    # (about 190 bytes per model and row; 3 GiB for 16 models on 1M rows, scale audit 2026-12-06).
    w1, w2 = w[None, :], (w * w)[None, :]
    # A row of weight 0 is no one: it counts in no row count (the small-group and "too few"
    # rules), as it counts in no sum (weights audit, session 51: 37 such rows made 3 people a
    # 40-row group whose rates decided every gap).
    ones = ones if sample_weight is None else ones * (w1 > 0)
    stats_of = (
        # "correct" written so a fractional (expected) decision counts its expected correctness.
        lambda: w1 * ones, lambda: w1 * yk, lambda: w1 * yhat, lambda: w1 * yk * yhat,
        lambda: w1 * (1 - yk) * yhat, lambda: w1 * (yk * yhat + (1 - yk) * (1 - yhat)),
        lambda: w2 * ones, lambda: w2 * yk, lambda: w2 * yhat, lambda: w2 * yk * yhat,
        lambda: w2 * (1 - yk) * yhat, lambda: w2 * (yk * yhat + (1 - yk) * (1 - yhat)),
        lambda: ones, lambda: ones * yk, lambda: ones * yhat, lambda: w1 * (1 - yk), lambda: w2 * (1 - yk),
    )
    cal_of = (lambda: w1 * ones, lambda: w1 * yk, lambda: w1 * P, lambda: ones)
    S, C = len(STATS), len(BIN_STATS)
    edges = bin_edges(None, n_bins) if edges is None else np.asarray(edges, dtype=np.float64)
    n_bins = len(edges) - 1
    rows = np.flatnonzero(codes >= 0)
    kept = None if len(rows) == n else rows  # rows in no group count nowhere

    def column(make) -> np.ndarray:
        """One statistic of every kept (model, row) pair, model by model, as bincount reads it."""
        values = np.broadcast_to(make(), (K, n))
        return (values if kept is None else values[:, kept]).reshape(-1)

    k_idx = np.repeat(np.arange(K), len(rows))
    r_idx = np.tile(rows, K)
    cell = k_idx * n_groups + codes[r_idx]  # (model, group) of each kept (model, row) pair
    if only is not None:
        if resample is not None:
            raise ValueError("only= sums without resamples")
        wanted = [_IDX[name] for name in only]
        sums = np.full((K * n_groups, S), np.nan)
        for i in wanted:
            sums[:, i] = np.bincount(cell, weights=column(stats_of[i]), minlength=K * n_groups)
        return GroupSums(sums=sums.reshape(1, K, n_groups, S), bins=np.full((1, K, n_groups, n_bins, C), np.nan))
    bcell = cell * n_bins + bin_ids(P if kept is None else P[:, kept], edges).ravel()  # ... and its calibration bin
    # The statistics made (the others are copies of them; see _UNWEIGHTED_COPIES).
    unweighted = sample_weight is None
    source = [_IDX[_UNWEIGHTED_COPIES.get(s, s)] if unweighted else _IDX[s] for s in STATS]
    if unweighted:  # made below as differences: the first of their two terms holds the place
        source = [_IDX[_UNWEIGHTED_DIFFERENCES[STATS[i]][0]] if STATS[i] in _UNWEIGHTED_DIFFERENCES else i
                  for i in source]
    made = sorted(set(source))
    copies = [made.index(i) for i in source]
    M = len(made)
    if resample is None:
        # One pass: a bincount per statistic over the (model, group) cells, the cheapest sum
        # there is (a 16-model sweep evaluates each data part with this call).
        sums = np.stack([np.bincount(cell, weights=column(stats_of[i]), minlength=K * n_groups) for i in made],
                        axis=-1)[:, copies]
        bins = np.stack([np.bincount(bcell, weights=column(f), minlength=K * n_groups * n_bins) for f in cal_of],
                        axis=-1)
        return GroupSums(sums=_differences(sums, unweighted).reshape(1, K, n_groups, S),
                         bins=bins.reshape(1, K, n_groups, n_bins, C))
    cols = np.stack([column(stats_of[i]) for i in made])  # (M, K * rows)
    cal = np.stack([column(f) for f in cal_of])  # (C, K * rows)
    # B resamples: each statistic of each cell is a column of a sparse (n, cells) design matrix,
    # so one product with the (B, n) row multiplicities gives every replicate's sums at once.
    stat_cols = sparse.csr_matrix(
        (cols.T.ravel(), (np.repeat(r_idx, M), (cell[:, None] * M + np.arange(M)).ravel())),
        shape=(n, K * n_groups * M))
    bin_cols = sparse.csr_matrix(
        (cal.T.ravel(), (np.repeat(r_idx, C), (bcell[:, None] * C + np.arange(C)).ravel())),
        shape=(n, K * n_groups * n_bins * C))
    R = np.asarray(resample)
    B = len(R)
    # (cells, B), transposed at the end: the layout one whole product gave, which the sums over
    # bins downstream depend on to the last bit.
    sums = np.empty((K * n_groups * M, B))
    bins = np.empty((K * n_groups * n_bins * C, B))
    # A few resamples at a time: the multiplicities are small integers, kept compact
    # (bootstrap_weights), and made float64 only for the product; the whole (B, n) float64 array
    # and the product beside it took 8 GiB at 2M rows (scale audit, session 46). Each output
    # column is its own dot product, so the chunks give the same sums bit for bit.
    step = _resample_chunk(n)
    for start in range(0, B, step):
        Rc = np.asarray(R[start:start + step], dtype=np.float64)
        # X.T @ R.T keeps the sparse matrix on the left, where scipy multiplies fastest.
        sums[:, start:start + len(Rc)] = stat_cols.T @ Rc.T
        bins[:, start:start + len(Rc)] = bin_cols.T @ Rc.T
    sums = sums.T.reshape(B, K, n_groups, M)[..., copies]
    bins = bins.T.reshape(B, K, n_groups, n_bins, C)
    return GroupSums(sums=_differences(sums, unweighted), bins=bins)


#: Memory a chunk of resamples takes as float64 (in the draw and in the kernel's product).
_CHUNK_BYTES = 64 << 20


def _resample_chunk(n: int) -> int:
    """How many resamples of ``n`` rows make one chunk of :data:`_CHUNK_BYTES`."""
    return max(1, _CHUNK_BYTES // (8 * max(int(n), 1)))


def _differences(sums: np.ndarray, unweighted: bool) -> np.ndarray:
    """``sums`` (statistics on the last axis) with the unweighted differences filled in
    (:data:`_UNWEIGHTED_DIFFERENCES`, and their copies)."""
    if not unweighted:
        return sums
    for name, (a, b) in _UNWEIGHTED_DIFFERENCES.items():
        value = sums[..., _IDX[a]] - sums[..., _IDX[b]]
        for copy in [name] + [c for c, of in _UNWEIGHTED_COPIES.items() if of == name]:
            sums[..., _IDX[copy]] = value
    return sums


def _ratio(num, den):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def group_rates(gs: GroupSums) -> dict:
    """Every rate of every group: ``RATES`` -> array of shape (B, K, G) (NaN where undefined).

    ``ece`` is the plug-in expected calibration error of the group's rows on the kernel's bins:
    ``sum_b |sum_b(w y) - sum_b(w p)| / sum(w)``.
    """
    out = {name: _ratio(gs.stat(num), gs.stat(den)) for name, (num, den) in _FRACTIONS.items()}
    gap = np.abs(gs.bins[..., 1] - gs.bins[..., 2]).sum(-1)
    out["ece"] = _ratio(gap, gs.bins[..., 0].sum(-1))
    return out


# The denominator of each rate, whose unweighted count decides "too few to estimate".
DENOMINATORS = {name: den for name, (_, den) in _FRACTIONS.items()} | {"ece": "n"}
# Why a group has no value of a rate, for the record of what a gap leaves out.
_UNDEFINED = {"tpr": "no positives", "fpr": "no negatives", "ece": "no rows", "selection_rate": "no rows"}


def gap_groups(rows, min_size: int) -> np.ndarray:
    """The one small-group rule for gaps: which groups a max-min gap compares.

    Groups with at least ``min_size`` rows; when fewer than two groups are that large, every
    non-empty group (a gap needs two groups, and dropping all would hide the comparison).

    Parameters
    ----------
    rows : ndarray of shape (G,)
        Unweighted rows per group.
    min_size : int

    Returns
    -------
    ndarray of bool, shape (G,)
    """
    rows = np.asarray(rows)
    include = (rows >= min_size) & (rows > 0)
    if include.sum() < 2:
        include = rows > 0
    return include


#: What each rate's denominator is called, for the record of which group a gap leaves out (and the
#: charts and the monitor, which say the same).
DENOMINATOR_WORDS = {"tpr": "positives", "fpr": "negatives"}

#: A rate's short name where a note says which of a gap's rates a group lacks: equalized odds
#: reads two, and "Female (no positives)" beside "Female (fewer than 5 negatives)" under one gap
#: read as a contradiction (upgrade audit, session 50).
RATE_NAMES = {"tpr": "TPR", "fpr": "FPR", "selection_rate": "selection rate", "ece": "ECE", "base_rate": "base rate",
              "precision": "precision"}


def thin_reason(rate: str) -> str:
    """Why ``rate`` is too few to estimate, in words ("TPR on fewer than 5 positives"): the notes
    and the group bars' hover say it alike."""
    words = {**DENOMINATOR_WORDS, "precision": "selected rows"}.get(rate, "rows")  # precision's: the selected
    return f"{RATE_NAMES.get(rate, rate)} on fewer than {MIN_EVENTS} {words}"


def rate_groups(include, positives, negatives, min_events: int = MIN_EVENTS) -> dict:
    """The groups each rate's gap compares: ``{rate: bool array (G,)}``, rates of :data:`GAP_RATES`.

    The groups of :func:`gap_groups`, and for a TPR (an FPR) only those with at least
    :data:`MIN_EVENTS` positive (negative) rows: such a rate is "too few to estimate" wherever
    it is shown, and a gap it entered rested on two or three people (new-user audit, session 48:
    Adult's equal-opportunity gap 0.500, a TPR of 1.000 on fewer than five positives against
    0.500, drove the frontier and the verdict; the record's own disparity table left that rate
    out). When fewer than two groups have enough, the rate's gap compares every included group,
    as :func:`gap_groups` keeps every group when too few are large.

    Parameters
    ----------
    include : ndarray of bool, shape (G,)
        :func:`gap_groups` of the rows.
    positives, negatives : ndarray of shape (G,)
        Unweighted positive and negative rows per group.
    min_events : int, default=MIN_EVENTS
        The fewest a rate's denominator needs (0: every included group, as a small-group size
        of 0 compares every group).

    Returns
    -------
    dict
    """
    include = np.asarray(include, dtype=bool)
    out = {"selection_rate": include, "ece": include}
    for rate, rows in (("tpr", positives), ("fpr", negatives)):
        enough = include & (np.asarray(rows) >= min_events)
        out[rate] = enough if enough.sum() >= 2 else include
    return out


def check_sample_weight(sample_weight, n: int, what: str = "y_true") -> np.ndarray | None:
    """``sample_weight`` as a float array of ``n`` weights (None stays None), or a ValueError
    naming what is wrong with it: the metrics' and diagnostics' one check (one message for
    negative, NaN, infinite and all-zero weights named none of them; a column vector was
    refused as having "200 entries but 200 rows": weights audit, session 51).

    Parameters
    ----------
    sample_weight : array-like of shape (n,), float or None
        A number is every row's weight.
    n : int
        Rows of ``what``.
    what : str
        The argument the rows are counted in, for the message.
    """
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim == 0:  # one weight for every row, as scikit-learn's estimators read a number
        w = np.full(n, float(w))
    if w.ndim != 1:
        raise ValueError(f"sample_weight must be one weight per row (1-d), got shape {w.shape}")
    if len(w) != n:
        raise ValueError(f"sample_weight has {len(w)} entries but {what} has {n} rows")

    def first(bad, kind):
        i = int(np.flatnonzero(bad)[0])
        return ValueError(f"sample_weight has {int(bad.sum())} {kind} value(s) (the first at row {i}: {float(w[i])!r}); "
                          "weights must be finite and at least 0")

    if not np.isfinite(w).all():
        raise first(~np.isfinite(w), "NaN or infinite")
    if (w < 0).any():
        raise first(w < 0, "negative")
    if not (w > 0).any():
        raise ValueError("sample_weight is zero for every row: nothing is weighted (give some row a weight)")
    return w


def compared_groups(codes, n_groups: int, y, min_size: int, sample_weight=None) -> dict:
    """The groups each rate's gap compares in one grouping of rows: :func:`rate_groups` of
    :func:`gap_groups`, counted from the rows as they are (the one place the counts are taken,
    for the reports, the bootstrap and the boosted trees' constraints alike). Rows count, not
    weight; a row of weight 0 counts as none.

    Parameters
    ----------
    codes : ndarray of int, shape (n,)
        Each row's group, ``-1`` for a row in no group (left out of every count).
    n_groups : int
    y : ndarray of shape (n,)
        0/1 labels.
    min_size : int
        The small-group size (0 compares every group and every rate, so a rate's denominator
        then needs no :data:`MIN_EVENTS` rows either).
    sample_weight : ndarray of shape (n,), optional
        Rows of weight 0 are left out of the counts.

    Returns
    -------
    dict
        ``{rate: bool array (n_groups,)}``.
    """
    codes = np.asarray(codes)
    placed = codes >= 0
    if sample_weight is not None:
        placed &= np.asarray(sample_weight) > 0
    positive = placed & (np.asarray(y) == 1)
    count = lambda rows: np.bincount(codes[rows], minlength=n_groups)  # noqa: E731
    return rate_groups(gap_groups(count(placed), min_size), count(positive), count(placed & ~positive),
                       min_events=MIN_EVENTS if min_size > 0 else 0)


def _for_rate(include, rate: str):
    """The groups ``rate``'s gap compares: ``include`` as given (one mask for every rate), or its
    entry (:func:`rate_groups`)."""
    return include[rate] if isinstance(include, dict) else include


def gap(values, include) -> np.ndarray:
    """The one gap definition: max minus min over the included groups where the value is defined.

    Parameters
    ----------
    values : ndarray of shape (..., G)
    include : ndarray of bool, shape (G,) or (..., G)

    Returns
    -------
    ndarray of shape (...)
        NaN when fewer than two included groups have a value: a gap needs two groups (one
        group's "gap" of 0 would read as perfect parity).
    """
    ok, hi, lo = _extremes(values, include)
    return np.where(ok, hi - lo, np.nan)


def _extremes(values, include):
    """``(ok, max, min)`` over the included groups with a value; ``ok`` where there are two."""
    v = np.where(include, values, np.nan)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(v).sum(-1) >= 2
        hi = np.nanmax(np.where(ok[..., None], v, 0.0), -1)
        lo = np.nanmin(np.where(ok[..., None], v, 0.0), -1)
    return ok, hi, lo


def ratio(values, include) -> np.ndarray:
    """min / max over the included groups (the disparate-impact ratio); 1 when every value is 0;
    NaN when fewer than two included groups have a value (as :func:`gap`)."""
    ok, hi, lo = _extremes(values, include)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(hi > 0, lo / np.where(hi > 0, hi, 1.0), 1.0)
    return np.where(ok, r, np.nan)


GAPS = ("demographic_parity_difference", "equal_opportunity_difference", "equalized_odds_difference",
        "disparate_impact_ratio", "max_group_ece", "calibration_disparity")
# The rate(s) each gap compares, for the record of which groups it leaves out.
GAP_RATES = {
    "demographic_parity_difference": ("selection_rate",),
    "equal_opportunity_difference": ("tpr",),
    "equalized_odds_difference": ("tpr", "fpr"),
    "disparate_impact_ratio": ("selection_rate",),
    "max_group_ece": ("ece",),
    "calibration_disparity": ("ece",),
}


def group_gaps(rates: dict, include) -> dict:
    """Every gap of ``GAPS`` from :func:`group_rates`, shape (B, K) each.

    Equalized odds is the larger of the TPR and FPR gaps (fairlearn's ``equalized_odds_difference``,
    except that a group whose rate is undefined, with no positives or no negatives, is left out
    of that rate's gap, where fairlearn counts the rate as 0: see :func:`fairkit.metrics.fairness_report`).
    ``include`` is one mask for every rate, or one per rate (:func:`rate_groups`).
    """
    with np.errstate(invalid="ignore"):
        eo = gap(rates["tpr"], _for_rate(include, "tpr"))
        fpr = gap(rates["fpr"], _for_rate(include, "fpr"))
    return {
        "demographic_parity_difference": gap(rates["selection_rate"], _for_rate(include, "selection_rate")),
        "equal_opportunity_difference": eo,
        "equalized_odds_difference": np.fmax(eo, fpr),
        "disparate_impact_ratio": ratio(rates["selection_rate"], _for_rate(include, "selection_rate")),
        **calibration_gaps(rates["ece"], _for_rate(include, "ece")),
    }


def calibration_gaps(ece, include) -> dict:
    """``max_group_ece`` and ``calibration_disparity`` of the groups' ECEs (shape (..., G)):
    the gaps of :data:`GAPS` that are not between proportions."""
    e = np.where(include, ece, np.nan)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(e).any(-1)
        max_ece = np.where(ok, np.nanmax(np.where(ok[..., None], e, -np.inf), -1), np.nan)
    return {"max_group_ece": max_ece, "calibration_disparity": gap(ece, include)}


def calibration_noise(gs: "GroupSums", boot: "GroupSums") -> tuple:
    """How far sampling noise can move each group's plug-in ECE, per bootstrap replicate.

    A group's ECE is ``sum_b |d_b|``, where ``d_b`` is bin ``b``'s weighted sum of ``y - p``
    over the group's total weight. With ``mu_b`` the population's value and ``e_b = d_b - mu_b``
    the noise, two inequalities bound the error of the plug-in ECE, whatever ``mu`` is:

    * the triangle inequality: ``ECE_hat - ECE <= sum_b |e_b|``;
    * convexity of ``|.|``: ``ECE - ECE_hat <= -sum_b sign(mu_b) e_b``, a sum of noise with
      fixed signs, whose spread does not depend on which signs.

    The bootstrap gives the noise's distribution (``e* = d* - d``): ``down`` holds
    ``sum_b |e*_b|`` and ``up`` ``-sum_b sign(d_b) e*_b``. The first is the plug-in's bias at a
    perfectly calibrated group, which is why its interval must reach that far below the
    estimate; recentring the bootstrap on the estimate (:func:`recentred_interval`) assumes the
    bias is the same at the truth as at the estimate, and covered a true ECE of 0 in 1-2 % of
    samples at every size from 50 to 5,000 rows.

    Parameters
    ----------
    gs : GroupSums
        The point sums, shape (1, K, G).
    boot : GroupSums
        The resampled sums, shape (B, K, G).

    Returns
    -------
    (down, up) : ndarrays of shape (B, K, G)
        NaN where a replicate holds none of the group's weight.
    """
    d = _bin_gaps(gs)
    e = _bin_gaps(boot) - d
    with np.errstate(invalid="ignore"):
        return np.abs(e).sum(-1), -(np.sign(d) * e).sum(-1)


def _bin_gaps(gs: "GroupSums") -> np.ndarray:
    """Each bin's signed share of its group's ECE, ``sum_b w (y - p) / sum w``: shape (B, K, G, bins)."""
    return _ratio(gs.bins[..., 1] - gs.bins[..., 2], gs.bins[..., 0].sum(-1, keepdims=True))


def calibration_interval(estimate, down, up, ci: float = 0.95):
    """The interval of an ECE, or of a gap between ECEs, from its noise bounds.

    ``[estimate - q(down), estimate + q(up)]``, each at the ``1 - (1 - ci) / 2`` quantile, so
    each end holds with that probability and both together with at least ``ci``
    (:func:`calibration_noise`; :func:`calibration_gap_noise` for the gaps), clipped to [0, 1].

    Measured (score ~ Beta(2, 2), 10 bins, 400 samples a cell, at 50, 200, 1,000 and 5,000
    rows): a true ECE of 0 covered in 94-98 % of samples, of 0.064 and 0.079 in 97-100 %; the
    intervals are about 1.5 times as wide as the recentred bootstrap's, which covered a true ECE
    of 0 in 1-2 % (benchmarks/README.md, "Calibration intervals").

    Parameters
    ----------
    estimate : ndarray of shape (...)
    down, up : ndarrays of shape (B, ...)
    ci : float, default=0.95

    Returns
    -------
    (low, high) : ndarrays of shape (...)
        NaN where the estimate is undefined or fewer than half the replicates are defined.
    """
    est = np.asarray(estimate, dtype=np.float64)
    down, up = np.asarray(down, dtype=np.float64), np.asarray(up, dtype=np.float64)
    q = 1 - (1 - ci) / 2
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN, masked below
        below, above = np.nanquantile(down, q, axis=0), np.nanquantile(up, q, axis=0)
    ok = _enough_replicates(est, down)
    low = np.where(ok, np.clip(est - below, 0.0, 1.0), np.nan)
    high = np.where(ok, np.clip(est + np.fmax(above, 0.0), 0.0, 1.0), np.nan)
    return low, high


def bootstrap_se(replicates) -> float:
    """The standard deviation of an estimate's bootstrap replicates (its standard error), NaN
    when fewer than half of them are defined: what a two-sample comparison of the estimate
    needs where its interval is not a normal one (:func:`calibration_interval`)."""
    rep = np.asarray(replicates, dtype=np.float64)
    rep = rep[np.isfinite(rep)]
    return float(rep.std(ddof=1)) if len(rep) >= max(2, len(np.asarray(replicates)) // 2) else float("nan")


def calibration_gap_noise(down, up, include) -> dict:
    """The noise bounds of the calibration gaps, from the groups' (:func:`calibration_noise`).

    ``max_group_ece``: the largest estimate is at most the largest noise above the truth
    (``max_g down_g``) away from the true largest, and at most ``max_g up_g`` below it.
    ``calibration_disparity`` (largest minus smallest) moves by at most both together. The
    maxima over groups are taken in each replicate, so the bound holds for all groups at once.

    Returns
    -------
    dict
        ``{gap: (down, up)}``, ndarrays of shape (B, K).
    """
    inc = np.asarray(include, dtype=bool)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a replicate without any included group: NaN
        top_down = np.nanmax(np.where(inc, down, np.nan), -1)
        top_up = np.nanmax(np.where(inc, up, np.nan), -1)
    both = top_down + np.fmax(top_up, 0.0)
    return {"max_group_ece": (top_down, top_up), "calibration_disparity": (both, both)}


def left_out(names, rates: dict, include) -> dict:
    """For each gap, the groups it does not compare and why: ``{gap: [(group, reason), ...]}``.

    ``rates`` are one model's point estimates (shape (G,) each); ``include`` one mask for every
    rate, or one per rate (:func:`rate_groups`).
    """
    rows = _for_rate(include, "selection_rate")
    out = {}
    for g in GAPS:
        items = []
        for i, name in enumerate(names):
            if not rows[i]:
                items.append((str(name), "too few rows"))
                continue
            undefined = [r for r in GAP_RATES[g] if not np.isfinite(rates[r][i])]
            thin = [r for r in GAP_RATES[g] if r not in undefined and not _for_rate(include, r)[i]]
            if undefined or thin:
                items.append((str(name), ", ".join([f"no {RATE_NAMES.get(r, r)}: {_UNDEFINED[r]}" for r in undefined]
                                                   + [thin_reason(r) for r in thin])))
        out[g] = items
    return out


def compared_thin(names, rates: dict, include, few: dict) -> dict:
    """For each gap, the groups it compares although their rate is too few to estimate:
    ``{gap: [(group, reason), ...]}``.

    :func:`rate_groups` compares a thin TPR (FPR) when fewer than two groups have
    :data:`MIN_EVENTS` positives (negatives), and a small-group size of 0 compares every rate;
    such a gap rests on a few people, which the record said nowhere (numbers audit, session 49:
    a validation gap of 0.483 from a TPR on 2 positives set the frontier).

    Parameters
    ----------
    names : sequence of str
    rates : dict
        One model's point estimates, shape (G,) each.
    include : dict
        :func:`rate_groups` (or one mask for every rate).
    few : dict
        ``{rate: bool array (G,)}``: :func:`too_few` of one model.
    """
    out = {}
    for g in GAPS:
        items = []
        for i, name in enumerate(names):
            thin = [r for r in GAP_RATES[g] if r in DENOMINATOR_WORDS and _for_rate(include, r)[i]
                    and np.isfinite(rates[r][i]) and few[r][i]]
            if thin:
                items.append((str(name), ", ".join(thin_reason(r) for r in thin)))
        out[g] = items
    return out


#: Memory the resamples' row multiplicities may take (``n_boot`` x rows, one byte each: see
#: :func:`bootstrap_weights`). Within it the default 200 resamples of the 2-million-row limit take
#: 0.4 GiB, and the kernel works through them a few at a time (:data:`_CHUNK_BYTES`). Past it a
#: request (``--n-boot 10000`` on a large part) is refused with the largest count that fits,
#: instead of failing (or swapping) on the allocation.
RESAMPLE_BYTES = 4 << 30


class TooManyResamples(ValueError):
    """More bootstrap resamples than :data:`RESAMPLE_BYTES` holds for this many rows."""


def bootstrap_weights(n: int, n_boot: int, random_state=0) -> np.ndarray:
    """Row multiplicities of ``n_boot`` ordinary bootstrap resamples, shape (n_boot, n).

    Shared by every grouping of a report, so the intervals of marginal and intersectional gaps
    come from the same replicates. The counts are whole numbers, held in the smallest unsigned
    integer type that holds them (``uint8`` in practice: a row drawn more than 255 times in a
    resample of its own size is vanishingly rare, and then the array widens): as float64 they were
    eight times the memory, 3 GiB at the row limit (scale audit, session 46).

    Raises
    ------
    TooManyResamples
        ``n_boot * n`` multiplicities would take more than :data:`RESAMPLE_BYTES`.
    """
    need = int(n_boot) * int(n)
    if need > RESAMPLE_BYTES:
        most = RESAMPLE_BYTES // max(int(n), 1)
        raise TooManyResamples(f"{int(n_boot):,} bootstrap resamples of {int(n):,} rows would take "
                               f"{need / 2**30:,.1f} GiB, over the {RESAMPLE_BYTES / 2**30:g} GiB budget: use "
                               f"at most {most:,} resamples for this many rows (or a sample of the rows).")
    rng = np.random.default_rng(random_state)
    out = np.zeros((int(n_boot), int(n)), dtype=np.uint8)
    if n:
        # Drawn a few resamples at a time: the whole int64 draw was an array eight times the
        # multiplicities' size (scale audit, 2026-12-06). Each resample is its own draw from the
        # same stream, so the multiplicities are the same whatever the chunk.
        p = np.full(n, 1.0 / n)
        step = _resample_chunk(n)
        for start in range(0, int(n_boot), step):
            draw = rng.multinomial(n, p, size=min(step, int(n_boot) - start))
            if draw.max() > np.iinfo(out.dtype).max:
                out = out.astype(np.min_scalar_type(int(draw.max())))
            out[start:start + step] = draw
    return out


def recentred_interval(estimate, replicates, ci: float = 0.95, bounds: tuple = (0.0, 1.0)):
    """The one bootstrap interval: the replicates' percentile range, moved so its median is the estimate.

    A max-min gap or an ECE is biased upward under resampling (noise widens a spread and adds to
    absolute calibration errors), so the plain percentile interval of a small-group gap can lie
    wholly above its own estimate (0.191 reported as [0.250, 1.000]). Moving the interval by the
    replicates' median bias keeps the width the bootstrap measured and centres it on the data:
    the interval always contains the estimate (the median lies between any two symmetric
    quantiles), and it is clipped to [0, 1], the range of every rate and gap.

    Parameters
    ----------
    estimate : ndarray of shape (...)
    replicates : ndarray of shape (B, ...)
    ci : float, default=0.95
    bounds : (float, float), default=(0.0, 1.0)
        The range the interval is clipped to: a rate's or a gap's, or (-1, 1) for the
        difference of two models' gaps.

    Returns
    -------
    (low, high) : ndarrays of shape (...)
        NaN where the estimate is undefined or fewer than half the replicates are defined.
    """
    est = np.asarray(estimate, dtype=np.float64)
    rep = np.asarray(replicates, dtype=np.float64)
    a = (1 - ci) / 2
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN, masked below
        q_lo, med, q_hi = np.nanquantile(rep, [a, 0.5, 1 - a], axis=0)
    shift = est - med
    ok = _enough_replicates(est, rep)
    low = np.where(ok, np.clip(q_lo + shift, *bounds), np.nan)
    high = np.where(ok, np.clip(q_hi + shift, *bounds), np.nan)
    return low, high


def _enough_replicates(estimate, replicates) -> np.ndarray:
    """Where an interval is given: a defined estimate, and at least half the replicates defined."""
    return np.isfinite(estimate) & (np.isfinite(replicates).sum(0) >= max(1, len(replicates) // 2))


def _compared(successes, total, include):
    """``(x, t, p, ok, n_ok)``: the sums as floats, the proportions, which groups a gap compares
    for each model (included, proportion defined; (K, G) bool) and how many."""
    x, t = np.asarray(successes, dtype=np.float64), np.asarray(total, dtype=np.float64)
    p = _ratio(x, t)
    ok = np.asarray(include, dtype=bool) & np.isfinite(p)
    return x, t, p, ok, ok.sum(-1)


def _family_level(ci: float, tests) -> np.ndarray:
    """The level of each of ``tests`` simultaneous statements (Bonferroni) that make one
    statement at ``ci``: shape of ``tests``, 1 where there is at most one."""
    return 1 - (1 - ci) / np.maximum(np.asarray(tests, dtype=np.float64), 1.0)


def difference_gap_interval(successes, total, total_sq, include, ci: float = 0.95, *, successes_sq=None):
    """The interval of a max-min gap between group proportions, by simultaneous score intervals.

    The gap is ``max_g p_g - min_g p_g``, the largest absolute difference over pairs of groups.
    Each pair's difference gets Newcombe's hybrid score interval (Newcombe 1998, method 10:
    from the two groups' Wilson intervals), every pair at the level that makes all of them hold
    together at ``ci`` (Bonferroni over the G(G-1)/2 pairs: for two groups, Newcombe's own
    interval). If every pair's interval holds, the gap lies between the largest lower end of
    an absolute difference (0 for a pair whose interval spans 0) and the largest upper end.

    Why not the bootstrap: the max-min of sample proportions is biased upward (noise widens a
    spread), most where the gap is small, and resampling reproduces the bias rather than
    removing it. Bootstrap intervals of a gap of 0 covered it 66-73 % of the time with two
    groups and 37-46 % with four at a nominal 95 % (audit, 2026-12-06); these score intervals
    cover at least nominally, at a true gap of 0 too, and never have zero width at rates of 0
    or 1.

    Parameters
    ----------
    successes, total, total_sq : ndarray of shape (K, G)
        Each model's and group's weighted numerator, denominator and sum of squared weights of
        the denominator's rows (the effective sample size, as :func:`wilson_interval`).
    include : ndarray of bool, shape (G,)
        The groups the gap compares (:func:`gap_groups`); groups where the proportion is
        undefined (a zero denominator) are left out too.
    ci : float, default=0.95
    successes_sq : ndarray of shape (K, G), optional
        Sum of squared weights of the numerator's rows (:func:`effective_rows`).

    Returns
    -------
    (low, high) : ndarrays of shape (K,)
        In [0, 1]; they contain the estimate. NaN where fewer than two groups are compared.
    """
    x, t, p, ok, n_ok = _compared(successes, total, include)
    level = _family_level(ci, n_ok * (n_ok - 1) / 2)[..., None]
    lo, hi = wilson_interval(x, t, total_sq, ci=level, successes_sq=successes_sq)
    i, j = np.triu_indices(p.shape[-1], 1)
    d = p[..., i] - p[..., j]
    with np.errstate(invalid="ignore"):
        low_d = d - np.sqrt((p[..., i] - lo[..., i]) ** 2 + (hi[..., j] - p[..., j]) ** 2)
        high_d = d + np.sqrt((hi[..., i] - p[..., i]) ** 2 + (p[..., j] - lo[..., j]) ** 2)
        # |d| from d's interval: 0 when it spans 0, else its end nearer 0.
        low_abs = np.where(low_d > 0, low_d, np.where(high_d < 0, -high_d, 0.0))
        high_abs = np.fmax(np.abs(low_d), np.abs(high_d))
    both = ok[..., i] & ok[..., j]
    enough = n_ok >= 2
    low = np.where(both, low_abs, -np.inf).max(-1, initial=-np.inf)
    high = np.where(both, high_abs, -np.inf).max(-1, initial=-np.inf)
    return (np.where(enough, np.clip(low, 0.0, 1.0), np.nan), np.where(enough, np.clip(high, 0.0, 1.0), np.nan))


def ratio_gap_interval(successes, total, total_sq, include, ci: float = 0.95, *, successes_sq=None):
    """The interval of the min / max ratio of group proportions (the disparate-impact ratio).

    Every compared group's Wilson interval at the level that makes all of them hold together
    at ``ci`` (Bonferroni over the groups); if they all hold, the ratio lies between the
    smallest lower end over the largest upper end and the smallest upper end over the largest
    lower end (at most 1). A bootstrap cannot move a group's rate of exactly 0, so its interval
    of such a ratio had zero width ("1.000 [1.000, 1.000]" for a rate of 0 in 40 rows).

    Parameters
    ----------
    successes, total, total_sq, include, ci, successes_sq
        As in :func:`difference_gap_interval`.

    Returns
    -------
    (low, high) : ndarrays of shape (K,)
        In [0, 1], containing the estimate; NaN where fewer than two groups are compared.
    """
    x, t, p, ok, n_ok = _compared(successes, total, include)
    lo, hi = wilson_interval(x, t, total_sq, ci=_family_level(ci, n_ok)[..., None], successes_sq=successes_sq)
    with np.errstate(invalid="ignore", divide="ignore"):
        least_lo = np.where(ok, lo, np.inf).min(-1, initial=np.inf)
        least_hi = np.where(ok, hi, np.inf).min(-1, initial=np.inf)
        most_lo = np.where(ok, lo, -np.inf).max(-1, initial=-np.inf)
        most_hi = np.where(ok, hi, -np.inf).max(-1, initial=-np.inf)
        low = np.where(most_hi > 0, least_lo / np.where(most_hi > 0, most_hi, 1.0), 0.0)
        high = np.where(most_lo > 0, np.minimum(least_hi / np.where(most_lo > 0, most_lo, 1.0), 1.0), 1.0)
    enough = n_ok >= 2
    return np.where(enough, np.clip(low, 0.0, 1.0), np.nan), np.where(enough, high, np.nan)


def gap_intervals(gs: "GroupSums", rates: dict, noise: tuple, include, ci: float = 0.95) -> dict:
    """The interval of every gap of :data:`GAPS`: the one way a report's gap intervals are made.

    Gaps between proportions (demographic parity, equal opportunity, the disparate-impact
    ratio) get simultaneous score intervals (:func:`difference_gap_interval`,
    :func:`ratio_gap_interval`), which cover at a true gap of 0, where the bootstrap of a
    max-min gap does not. Equalized odds is the larger of the TPR and FPR gaps: each part's
    interval at the level that makes both hold together (Bonferroni over the two), the larger
    of the lower ends and of the upper ends. Its upper end is at least equal opportunity's (the
    TPR gap's at the plain level); its lower end can be below it, as a statement about two gaps
    at once is wider at both ends. Raising it to equal opportunity's lower end, as an earlier
    version did, made a true equalized odds gap of 0 covered 91-93 % of the time, not 95 %.
    The calibration gaps (``max_group_ece``, ``calibration_disparity``), which are not
    proportions, get :func:`calibration_interval` from the bootstrap's noise bounds
    (:func:`calibration_gap_noise`).

    Parameters
    ----------
    gs : GroupSums
        The point sums (the first resample is the data as observed), shape (1, K, G).
    rates : dict of ndarray of shape (1, K, G)
        :func:`group_rates` of ``gs``.
    noise : (down, up)
        :func:`calibration_noise` of ``gs`` and its resamples, shape (B, K, G) each (the
        groups' own ECE intervals read it too, so it is computed once).
    include : ndarray of bool, shape (G,), or dict
        The groups the gaps compare (:func:`gap_groups`), or per rate (:func:`rate_groups`).
    ci : float, default=0.95

    Returns
    -------
    dict
        ``{gap: (low, high)}``, ndarrays of shape (K,).
    """
    def interval(function, rate, level=ci):
        num, den = _FRACTIONS[rate]
        return function(gs.stat(num)[0], gs.stat(den)[0], gs.stat(den + "2")[0], _for_rate(include, rate), level,
                        successes_sq=gs.stat(num + "2")[0])

    out = {
        "demographic_parity_difference": interval(difference_gap_interval, "selection_rate"),
        "equal_opportunity_difference": interval(difference_gap_interval, "tpr"),
        "disparate_impact_ratio": interval(ratio_gap_interval, "selection_rate"),
    }
    parts = [interval(difference_gap_interval, r, _family_level(ci, 2)) for r in GAP_RATES["equalized_odds_difference"]]
    out["equalized_odds_difference"] = (np.fmax.reduce([lo for lo, _ in parts]), np.fmax.reduce([hi for _, hi in parts]))
    # Only the calibration gaps need the bootstrap (the proportions' intervals are closed form).
    gap_noise = calibration_gap_noise(*noise, _for_rate(include, "ece"))
    for k, est in calibration_gaps(rates["ece"][0], _for_rate(include, "ece")).items():
        out[k] = calibration_interval(est, *gap_noise[k], ci)
    return {k: out[k] for k in GAPS}


def effective_rows(successes, total, total_sq=None, successes_sq=None) -> np.ndarray:
    """The sample size a weighted proportion's interval is computed with.

    Kish's ``total**2 / total_sq`` assumes the weights are unrelated to the outcome; when they go
    with it (a survey weight that is larger for the selected, say), the proportion varies more
    than Kish says. Its linearised variance is ``sum w^2 (x - p)^2 / total**2``, and for 0/1
    outcomes ``sum w^2 (x - p)^2 = successes_sq (1 - 2p) + p^2 total_sq``; the effective size is
    ``p (1 - p)`` over that variance. The smaller of the two is used: the linearised estimate
    rests on the numerator's few rows when the proportion is near 0 or 1, and it can then be
    far too large (the coverage audit of 2026-12-06: with weights five times as likely on the
    selected rows, Kish alone covered rates of 0.02-0.1 in 89.5-91.6 % of samples of 1,000
    rows at a nominal 95 %). Without weights both are the row count, and the count is returned.

    Parameters
    ----------
    successes, total : ndarray
        Weighted numerator and denominator sums.
    total_sq, successes_sq : ndarray, optional
        Sums of squared weights of the denominator's and of the numerator's rows. Without
        ``total_sq`` the rows are taken as unweighted (``total``); without ``successes_sq``,
        Kish's size.

    Returns
    -------
    ndarray
        0 where ``total_sq`` is 0.
    """
    t = np.asarray(total, dtype=np.float64)
    if total_sq is None:
        return t
    t2 = np.asarray(total_sq, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        kish = np.where(t2 > 0, t * t / np.where(t2 > 0, t2, 1.0), 0.0)
        if successes_sq is None:
            return kish
        x2 = np.asarray(successes_sq, dtype=np.float64)
        p = np.where(t > 0, np.asarray(successes, dtype=np.float64) / np.where(t > 0, t, 1.0), np.nan)
        spread = x2 * (1 - 2 * p) + p * p * t2  # sum w^2 (x - p)^2 for 0/1 outcomes
        linear = np.where(spread > 0, p * (1 - p) * t * t / np.where(spread > 0, spread, 1.0), np.inf)
        # Unit weights make both the row count; equal sums keep it exact (Kish's is, to the bit).
        return np.where((t2 == t) | ~np.isfinite(linear) | ~(p > 0) | ~(p < 1), kish, np.minimum(kish, linear))


def wilson_interval(successes, total, total_sq=None, rows=None, ci: float = 0.95, *, successes_sq=None):
    """Wilson score interval of a (weighted) proportion; missing where there are too few rows.

    Parameters
    ----------
    successes, total : ndarray
        Weighted numerator and denominator sums.
    total_sq : ndarray, optional
        Sum of squared weights of the denominator's rows: the interval uses the effective sample
        size of :func:`effective_rows` (the row count without weights).
    rows : ndarray, optional
        Unweighted rows in the denominator; fewer than ``MIN_EVENTS`` gives a missing interval
        ("too few to estimate") rather than a falsely narrow one.
    ci : float, default=0.95
    successes_sq : ndarray, optional
        Sum of squared weights of the numerator's rows: with it, weights that go with the
        outcome widen the interval as they should (:func:`effective_rows`).

    Returns
    -------
    (low, high) : ndarrays
        The Wilson interval always contains the estimate ``successes / total``.
    """
    x = np.asarray(successes, dtype=np.float64)
    t = np.asarray(total, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(t > 0, x / np.where(t > 0, t, 1.0), np.nan)
        n = effective_rows(x, t, total_sq, successes_sq)
        z = norm.ppf(1 - (1 - ci) / 2)
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    enough = (t > 0) & (n > 0)
    if rows is not None:
        enough &= np.asarray(rows) >= MIN_EVENTS
    low = np.where(enough, np.clip(np.minimum(centre - half, p), 0.0, 1.0), np.nan)
    high = np.where(enough, np.clip(np.maximum(centre + half, p), 0.0, 1.0), np.nan)
    return low, high


def paired_difference(a, b, ci: float = 0.95) -> tuple[float, float, float]:
    """Difference of two models' mean per-row values on the same rows, with its standard error.

    Two models scored on the same rows are compared through their per-row differences, not their
    two means: most rows they decide alike add nothing to the noise, so a difference of 0.002 in
    accuracy between two models that disagree on 3 % of 9,769 rows is within noise (standard error
    0.0017) while the same 0.002 between models that disagree on 0.3 % is not (McNemar's
    comparison, as a normal interval on the mean paired difference). For 0/1 values with few rows
    that differ, :func:`paired_proportion_interval` gives the interval that holds its level; this
    one serves expected values (a probability of a correct decision) and gives the standard
    error that a mean over several splits combines (``benchmarks/anchors.py``).

    Parameters
    ----------
    a, b : array-like of shape (n,)
        The two models' values on each row: 1 when the row is decided correctly and 0 when not
        gives the difference in accuracy (an expected decision gives an expected correctness).
    ci : float, default=0.95

    Returns
    -------
    (difference, standard_error, half_width) : floats
        ``mean(a) - mean(b)``, the standard error of that mean over rows, and the half width of
        its ``ci`` normal interval. NaN with fewer than 2 rows.
    """
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if d.ndim != 1:
        raise ValueError(f"a and b must be one value per row of the same rows, got shape {d.shape}")
    if len(d) < 2:
        return float("nan"), float("nan"), float("nan")
    se = float(d.std(ddof=1) / np.sqrt(len(d)))
    return float(d.mean()), se, float(norm.ppf(1 - (1 - ci) / 2) * se)


def paired_proportion_interval(a, b, ci: float = 0.95) -> tuple[float, float, float]:
    """Difference of two proportions measured on the same rows, with Tango's score interval.

    For 0/1 values such as "decided correctly" by two models on the same rows. Only the rows
    where the two differ carry information (``b`` rows where ``a`` alone is 1, ``c`` where
    ``b`` alone is), and when those are few the normal interval of :func:`paired_difference`
    fails: with about one such row expected it held the true difference in 63-64 % of simulated
    samples, and with none observed it is the single point 0. Tango's (1998) asymptotic score
    interval (the set of differences ``D`` a score test at level ``1 - ci`` does not reject,
    with the discordant cell's probability estimated under ``D``) holds its level from the
    first few discordant rows on (Fagerland, Lydersen & Laake 2014 recommend it for paired
    proportions); it reproduces their published example to 4 decimals (``tests/test_stats.py``).

    Parameters
    ----------
    a, b : array-like of shape (n,)
        The two 0/1 (or boolean) values on each row.
    ci : float, default=0.95
        The interval's confidence level, above 0 and below 1.

    Returns
    -------
    (difference, low, high) : floats
        ``mean(a) - mean(b)`` and its ``ci`` interval; NaN without rows.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"a and b must be one 0/1 value per row of the same rows, got shapes {a.shape} and {b.shape}")
    for name, v in (("a", a), ("b", b)):
        # Only 0 and 1: a NaN, a 2 or a probability would otherwise count as "correct".
        if v.dtype != bool and not (np.issubdtype(v.dtype, np.number) and np.isin(v, (0, 1)).all()):
            raise ValueError(f"{name} must hold only 0/1 or booleans (one correct / not correct per row); "
                             "for expected values use paired_difference")
    if not 0 < ci < 1:
        raise ValueError(f"ci must be above 0 and below 1, got {ci!r}")
    a, b = a.astype(bool), b.astype(bool)
    n = len(a)
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    only_a, only_b = float(np.sum(a & ~b)), float(np.sum(b & ~a))
    return paired_counts_interval(only_a, only_b, float(n), ci)


def paired_counts_interval(only_a: float, only_b: float, n: float, ci: float = 0.95) -> tuple[float, float, float]:
    """:func:`paired_proportion_interval` from the counts: ``only_a`` rows where ``a`` alone is 1,
    ``only_b`` where ``b`` alone is, of ``n`` rows (``n`` > 0).

    Returns
    -------
    (difference, low, high) : floats
    """
    from scipy.optimize import brentq

    z = float(norm.ppf(1 - (1 - ci) / 2))
    estimate = (only_a - only_b) / n

    def score(delta: float) -> float:
        # The discordant cell "b alone" under the difference delta, by maximum likelihood
        # (the positive root of 2n q^2 + B q + C = 0), then the score statistic.
        B = -only_a - only_b + (2 * n - only_a + only_b) * delta
        C = -only_b * delta * (1 - delta)
        q = (np.sqrt(max(B * B - 8 * n * C, 0.0)) - B) / (4 * n)
        var = n * (2 * q + delta * (1 - delta))
        return (only_a - only_b - n * delta) / np.sqrt(var) if var > 0 else 0.0

    # The statistic falls as delta runs over (-1, 1), through 0 at the estimate; on very few rows
    # it may not reach z before -1 (or -z before 1), and then no difference there is rejected.
    edge = 1 - 1e-12
    low, high = -1.0, 1.0
    if estimate > -edge and score(-edge) > z:
        low = brentq(lambda d: score(d) - z, -edge, estimate, xtol=1e-12)
    if estimate < edge and score(edge) < -z:
        high = brentq(lambda d: score(d) + z, estimate, edge, xtol=1e-12)
    return float(estimate), float(min(low, estimate)), float(max(high, estimate))


def auc_interval(y, score, ci: float = 0.95) -> tuple[float, float]:
    """The ROC AUC's interval by DeLong's variance (DeLong, DeLong & Clarke-Pearson, 1988).

    The AUC is the Mann-Whitney statistic; each positive's and each negative's share of it (its
    "placement") gives the variance, ``var(V10) / n1 + var(V01) / n0``, from midranks in one sort:
    no resampling, so it costs what the AUC costs. A normal interval, clipped to [0, 1].

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        0/1 outcomes (unweighted: the variance is the rows' own).
    score : array-like of shape (n_samples,)
    ci : float, default=0.95

    Returns
    -------
    (low, high) : floats
        NaN when either outcome has fewer than two rows.
    """
    from scipy.stats import rankdata

    y = np.asarray(y).astype(bool)
    score = np.asarray(score, dtype=np.float64)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 < 2 or n0 < 2:
        return float("nan"), float("nan")
    everyone = rankdata(score)
    v10 = (everyone[y] - rankdata(score[y])) / n0          # share of negatives each positive outranks
    v01 = 1.0 - (everyone[~y] - rankdata(score[~y])) / n1  # share of positives outranking each negative
    auc = v10.mean()
    se = np.sqrt(v10.var(ddof=1) / n1 + v01.var(ddof=1) / n0)
    z = norm.ppf(1 - (1 - ci) / 2)
    return float(np.clip(auc - z * se, 0.0, 1.0)), float(np.clip(auc + z * se, 0.0, 1.0))


def rate_intervals(gs: GroupSums, ci: float = 0.95) -> dict:
    """Wilson intervals of every fraction rate of ``RATES`` (not ECE), ``{rate: (low, high)}``.

    Uses the first resample of ``gs`` (the data as observed).
    """
    point = GroupSums(gs.sums[:1], gs.bins[:1])
    out = {}
    for name, (num, den) in _FRACTIONS.items():
        out[name] = wilson_interval(point.stat(num)[0], point.stat(den)[0], point.stat(den + "2")[0],
                                    rows=point.stat(den + "_rows")[0], ci=ci, successes_sq=point.stat(num + "2")[0])
    return out


def too_few(gs: GroupSums) -> dict:
    """``{rate: bool array (K, G)}``: rates whose denominator has fewer than ``MIN_EVENTS`` rows."""
    return {r: gs.stat(d + "_rows")[0] < MIN_EVENTS for r, d in DENOMINATORS.items()}
