"""Fairness and performance metrics by group, with confidence intervals, on the evaluation kernel.

``fairness_report`` (one model, every grouping, intervals) and ``summary_metrics`` (K models,
the sweep table's columns) are the two entry points; both read every number from
:mod:`fairkit.stats`, so a gap, a rate or an ECE has one value whichever route shows it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, count
from sklearn.metrics import roc_auc_score

from . import stats
from .diagnostics import (  # noqa: F401  (calibration diagnostics are part of the metrics API)
    CalibrationNoiseFloor,
    calibration_by_group,
    calibration_noise_floor,
    debiased_calibration_error,
    expected_calibration_error,
    multicalibration_audit,
    reliability_curve,
)
from .groups import MIN_GROUP_SIZE, SEP, encode_groups, group_frame, group_hierarchy
from .methods import lookup

GAP_METRICS = list(stats.GAPS)
# selection_rate (share of rows given the positive decision) shows a model that decides the same
# for everyone, whose gaps are zero for no useful reason. base_rate (share of positive outcomes,
# the same for every model on the same rows) says what deciding alike for everyone scores
# (chance_level), which a model must beat to be on a frontier (frontier.below_chance_mask).
OVERALL_METRICS = ["accuracy", "balanced_accuracy", "roc_auc", "log_loss", "brier", "selection_rate", "base_rate"]
TOO_FEW = "too few to estimate"


def too_few_rates(flags) -> list[str]:
    """The rates a by-group row's ``too_few`` text flags ("tpr, precision"); none for an empty or
    missing one. The one reading of that text (the record, the charts, the audit, the monitor)."""
    return [r for r in flags.split(", ") if r] if isinstance(flags, str) else []
#: The threshold a sweep's table (and so the frontier) is measured at.
SWEEP_THRESHOLD = 0.5
#: What stands for the ROC AUC of a model whose scores are decisions (``ranks=False``: group
#: thresholds, ``fairkit.methods.Method.scores_are_decisions``). Its ``predict_proba`` is the
#: probability of a positive decision, 0 or 1 for most rows: an AUC over it measures the
#: decisions (about the balanced accuracy), not a ranking, and sat 0.1 below its own base
#: model's on Adult, read as "-0.126 vs unconstrained". The base model's AUC is no substitute:
#: group-specific thresholds order rows across groups differently from the base scores, so
#: that AUC would describe a model nobody deploys. The value is NaN, shown with this reason.
NO_RANKING = "n/a (decisions, not scores)"
#: Figures of scores read as probabilities: none is worth showing for a model whose scores are
#: its decisions (:data:`NO_RANKING`). Its ROC AUC measures the decisions; its calibration
#: errors and Brier score only restate its error rate, which the record headlined as
#: calibration while calling it n/a a few lines on (oracle audit, session 44; number audit,
#: session 45).
OF_SCORES = ("roc_auc", "brier", "ece", "max_group_ece", "calibration_disparity")

#: Plain-language names of the metric keys, the one table every page, record and printout reads.
#: ``disparate_impact_gap`` (1 - disparate impact ratio) is how the disparate impact ratio is
#: shown everywhere, so that every unfairness number reads "lower is fairer" (see
#: :func:`metric_value`).
METRIC_LABELS = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "roc_auc": "ROC AUC",
    "log_loss": "Log loss",
    "brier": "Brier score",
    "precision": "Precision",
    "selection_rate": "Selection rate",
    "base_rate": "Base rate",
    "tpr": "True positive rate",
    "fpr": "False positive rate",
    "ece": "Calibration error (ECE)",
    "demographic_parity_difference": "Demographic parity difference",
    "equal_opportunity_difference": "Equal opportunity difference",
    "equalized_odds_difference": "Equalized odds difference",
    "disparate_impact_gap": "1 - disparate impact ratio",
    "max_group_ece": "Largest group calibration error (ECE)",
    "calibration_disparity": "Calibration error gap between groups",
}


def in_sentence(label: str) -> str:
    """A metric's label as it reads inside a sentence: lower case but for acronyms
    ("ROC AUC" stays, "Balanced accuracy" is "balanced accuracy", "(ECE)" stays)."""
    return " ".join(w if (sum(c.isalpha() for c in w) > 1 and w.isupper()) or w in _PROPER else w.lower()
                    for w in str(label).split())


_PROPER = ("Brier",)  # named after a person: "Brier score" keeps its capital


def listed(words) -> str:
    """Words as a sentence lists them: "a", "a and b", "a, b and c"."""
    words = list(map(str, words))
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + f" and {words[-1]}"


#: The gaps a decision record and its headline show, in this order ("lower is fairer" each).
HEADLINE_GAPS = ("demographic_parity_difference", "equal_opportunity_difference", "equalized_odds_difference",
                 "disparate_impact_gap", "max_group_ece")
#: Rates the disparity audit compares with the reference group (Aequitas' group metrics).
AUDIT_METRICS = ("selection_rate", "tpr", "fpr", "precision")
#: Aequitas' default fairness band: a group's ratio to the reference passes inside it.
AUDIT_BAND = (0.8, 1.25)
#: Relative slack at the band's edges in :func:`disparity_audit`: a ratio of two rates is a
#: quotient of quotients, so one that equals an edge in real arithmetic can land an ulp or two
#: outside it ((10/12) / (32/48) is 1.2500000000000002). Far below any difference of counts.
AUDIT_BAND_RTOL = 1e-9
#: Stored gaps where a higher value is fairer (every other gap: lower is fairer).
HIGHER_IS_FAIRER = ("disparate_impact_ratio",)


def _grouping_sums(y, P, frame, levels=None, **kernel) -> list:
    """``[(level, GroupSums), ...]`` of every grouping (:func:`fairkit.groups.group_hierarchy`:
    each attribute, then their intersection): the intersection's sums in one pass over the rows,
    each attribute's added up from them (:meth:`fairkit.stats.GroupSums.merge`), unless some row
    is in no intersection (then each attribute has its own pass). ``levels``: ``group_hierarchy(frame)``
    when already made. ``kernel``: the keyword arguments of :func:`fairkit.stats.group_sums`."""
    levels = group_hierarchy(frame) if levels is None else levels
    finest = levels[-1].encoding
    gs = stats.group_sums(y, P, finest.codes, finest.n_groups, **kernel)
    unplaced = (finest.codes < 0).any()
    out = []
    for level in levels[:-1]:
        enc = level.encoding
        if unplaced:
            out.append((level, stats.group_sums(y, P, enc.codes, enc.n_groups, **kernel)))
            continue
        parent = np.zeros(finest.n_groups, dtype=np.int64)
        parent[finest.codes] = enc.codes  # an intersection lies in one group of each attribute
        out.append((level, gs.merge(parent, enc.n_groups)))
    return out + [(levels[-1], gs)]


def _headline_gaps(groupings, gap_min_group_size: int, y, w=None) -> dict:
    """Each gap of ``GAP_METRICS`` at its least fair over ``groupings`` (:func:`_grouping_sums`),
    shape (B, K): what the sweep table and its bootstrap read. The groups a gap compares are
    those of the rows ``y`` (weights ``w``) as they are (:func:`fairkit.stats.compared_groups`),
    resampled or not."""
    levels = []
    for level, gs in groupings:
        include = stats.compared_groups(level.encoding.codes, level.encoding.n_groups, y, gap_min_group_size, w)
        levels.append(stats.group_gaps(stats.group_rates(gs), include))
    return {k: _least_fair(np.stack([lv[k] for lv in levels]), k) for k in GAP_METRICS}


def _least_fair(stack: np.ndarray, key: str, axis: int = 0) -> np.ndarray:
    """The least fair value of gap ``key`` along ``axis`` (one entry per grouping), NaN skipped."""
    with warnings.catch_warnings():  # an all-NaN slice (no grouping has the gap) stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmin(stack, axis) if key in HIGHER_IS_FAIRER else np.nanmax(stack, axis)


def least_fair_grouping(rows, key: str):
    """Which grouping shows gap ``key`` at its least fair: the one the headline reads.

    Parameters
    ----------
    rows : sequence of mappings
        One per grouping (each attribute, then their intersection): a report's ``gaps`` rows or
        a record's.
    key : str
        A stored gap (:data:`GAP_METRICS`) or one as shown (:data:`HEADLINE_GAPS`, read with
        :func:`metric_value`).

    Returns
    -------
    int or None
        Its position in ``rows``; None when no grouping has the gap. Ties go to the first.
    """
    shown = [metric_value(r, key)[0] for r in rows]
    v = np.array([np.nan if x is None else float(x) for x in shown], dtype=float)
    if not np.isfinite(v).any():
        return None
    return int(np.nanargmin(v) if key in HIGHER_IS_FAIRER else np.nanargmax(v))


@dataclass
class FairnessReport:
    """Overall performance, a by-group table and fairness gaps for one set of predictions.

    Attributes
    ----------
    overall : dict
        accuracy, balanced_accuracy, roc_auc, log_loss, brier, precision, selection_rate,
        base_rate, ece, n, threshold (weighted when sample weights were given); with ``n_boot > 0`` also
        ``<metric>_low`` / ``<metric>_high`` for accuracy, selection_rate and precision (Wilson),
        balanced_accuracy (the TPR's and TNR's Wilson intervals combined) and ece (bounds from
        the kernel's bootstrap).
    by_group : DataFrame
        One row per (attribute, group): n (rows), base_rate, selection_rate, tpr, fpr, precision,
        accuracy, ece, small (bool), in_gaps (bool), too_few (the rates whose denominator has
        fewer than ``stats.MIN_EVENTS`` rows, comma-separated), plus ``<metric>_low`` /
        ``<metric>_high`` when bootstrapped: Wilson intervals for the rates, the kernel's
        re-centred bootstrap for the ECE; missing where there are too few rows to estimate.
        ``attribute`` is a sensitive column, or the intersection ``a & b`` of several.
    gaps : DataFrame
        One row per attribute: the metrics in ``GAP_METRICS`` (and ``_low``/``_high``), and
        ``left_out``: the groups no gap of that row compares, with the reason.
    left_out : DataFrame
        One row per (attribute, gap metric, group) a gap leaves out, and why ("too few rows",
        "no TPR: no positives", ...). Empty when every gap compares every group.
    calibration : DataFrame
        Reliability-curve points for the finest grouping (see :func:`reliability_curve`).
    """

    overall: dict
    by_group: pd.DataFrame
    gaps: pd.DataFrame
    calibration: pd.DataFrame
    n_boot: int = 0
    notes: list = field(default_factory=list)
    left_out: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["attribute", "metric", "group", "reason"]))

    @property
    def primary_attribute(self) -> str:
        """The finest grouping: the intersection when there are several attributes."""
        return self.gaps.index[-1]

    @property
    def headline_grouping(self) -> str:
        """What the headline gaps are taken over, in words: the one grouping, or every grouping
        (each attribute and their intersection), of which each gap reads the least fair."""
        names = list(map(str, self.gaps.index))
        return names[0] if len(names) == 1 else f"{listed(names)} (the least fair of each gap)"

    def headline(self) -> dict:
        """Each gap as the headline, the sweep tables and the frontier read it.

        With one sensitive attribute, its gaps. With several, each gap at its least fair over
        every grouping the report shows (each attribute and their intersection): the gaps leave
        out groups too small to compare (``gap_min_group_size``), so the intersection's alone
        can be fairer than an attribute's (two attributes whose small intersections are left
        out), and a headline below a gap the same report shows would not be believed.

        Returns
        -------
        dict
            ``GAP_METRICS`` -> value, with ``<metric>_low`` / ``<metric>_high`` (that
            grouping's interval, when bootstrapped) and ``<metric>_attribute`` (the grouping).
        """
        rows = [self.gaps.loc[a] for a in self.gaps.index]
        out = {}
        for k in GAP_METRICS:
            at = least_fair_grouping(rows, k)
            row = rows[-1] if at is None else rows[at]
            out[k] = float(row[k])
            out[f"{k}_attribute"] = str(self.gaps.index[-1 if at is None else at])
            for end in ("low", "high"):
                if f"{k}_{end}" in row:
                    out[f"{k}_{end}"] = float(row[f"{k}_{end}"])
        return out

    def _attribute(self, attribute: str) -> str:
        """``attribute`` checked against the groupings the report has."""
        lookup({str(a): a for a in self.gaps.index}, attribute, "attribute of this report")
        return attribute

    def gap(self, metric: str, attribute: str | None = None) -> float:
        """A gap metric for an attribute (default: the headline's, :meth:`headline`).

        Parameters
        ----------
        metric : str
            One of :data:`GAP_METRICS`.
        attribute : str, optional
            A grouping of the report (an index of ``gaps``: an attribute or the intersection).

        Returns
        -------
        float

        Raises
        ------
        ValueError
            For a metric or attribute the report does not have, naming the ones it has.
        """
        lookup(dict.fromkeys(GAP_METRICS), metric, "gap metric")
        if attribute is None:
            return float(self.headline()[metric])
        return float(self.gaps.loc[self._attribute(attribute), metric])

    def summary(self, attribute: str | None = None) -> dict:
        """Overall metrics and the gaps of one attribute (default: the headline's) in a flat dict
        (for result tables).

        Parameters
        ----------
        attribute : str, optional
            A grouping of the report (an index of ``gaps``); default the headline's.

        Returns
        -------
        dict
            :data:`OVERALL_METRICS` and :data:`GAP_METRICS` -> value.
        """
        out = {k: self.overall[k] for k in OVERALL_METRICS}
        row = self.headline() if attribute is None else self.gaps.loc[self._attribute(attribute)]
        out.update({k: float(row[k]) for k in GAP_METRICS})
        return out


def _group_frame(sensitive, n: int) -> pd.DataFrame:
    return group_frame(sensitive, n)


def _inputs(y_true, y_score, sensitive, sample_weight, pos_label):
    """Checked labels (0/1), scores (K, n) in [0, 1], the group frame and weights (or None)."""
    y = stats.binary_labels(np.asarray(y_true), pos_label)
    try:
        P = np.asarray(y_score, dtype=np.float64)
    except ValueError:  # a ragged list of score vectors
        raise ValueError(f"y_score must be one score per row of y_true ({len(y)}), or K score vectors of "
                         f"that length each; got vectors of lengths {[np.size(v) for v in y_score]}") from None
    if P.ndim == 1:
        P = P[None, :]
    if P.ndim != 2 or P.shape[1] != len(y):
        raise ValueError(f"y_score has shape {np.shape(y_score)} but y_true has {len(y)} rows")
    P = stats.probabilities(P)
    w = stats.check_sample_weight(sample_weight, len(y))
    return y, P, _group_frame(sensitive, len(y)), w


def _ranks(ranks, K: int) -> np.ndarray:
    """``ranks`` (a bool or one per model) as a (K,) boolean array."""
    try:
        return np.broadcast_to(np.asarray(ranks, dtype=bool), (K,))
    except ValueError:
        raise ValueError(f"ranks has {np.size(ranks)} entries but there are {K} models") from None


def _overall(y, P, w, gs: stats.GroupSums, ranks=True) -> dict:
    """Overall metrics of K models (arrays of shape (K,)) from the kernel sums of a grouping;
    ROC AUC is NaN for the models whose ``ranks`` is False (see :data:`NO_RANKING`)."""
    n = len(y)
    r = {k: v[0, :, 0] for k, v in stats.group_rates(gs.total()).items()}
    K = P.shape[0]
    both = 0 < y.sum() < n
    ww = np.ones(n) if w is None else w
    wsum = ww.sum()
    yf = y.astype(np.float64)
    ranking = _ranks(ranks, K)
    auc = np.full(K, np.nan)  # only the models whose scores rank are ranked (decisions are not)
    if both and ranking.any() and w is None:
        # Mann-Whitney with average ranks: sklearn's ROC AUC, ties counted as half, K at once.
        from scipy.stats import rankdata

        n_pos, n_neg = yf.sum(), n - yf.sum()
        auc[ranking] = (rankdata(P[ranking], axis=1) @ yf - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    elif both and ranking.any():
        auc[ranking] = [roc_auc_score(y, p, sample_weight=w) for p in P[ranking]]
    eps = np.finfo(np.float64).eps  # sklearn's log_loss clips float64 probabilities to [eps, 1 - eps]
    ll = -(yf * np.log(np.clip(P, eps, 1 - eps)) + (1 - yf) * np.log(np.clip(1 - P, eps, 1 - eps))) @ ww / wsum
    return {
        "accuracy": r["accuracy"],
        "balanced_accuracy": (r["tpr"] + 1 - r["fpr"]) / 2,
        "roc_auc": auc,
        "log_loss": ll,
        "brier": ((P - yf) ** 2) @ ww / wsum,
        "precision": np.nan_to_num(r["precision"], nan=0.0),
        "selection_rate": r["selection_rate"],
        "base_rate": r["base_rate"],
        "ece": r["ece"],
    }


def fairness_report(
    y_true,
    y_score,
    sensitive,
    *,
    threshold: float = 0.5,
    sample_weight=None,
    pos_label=None,
    n_boot: int = 0,
    ci: float = 0.95,
    n_bins: int = 10,
    min_group_size: int = MIN_GROUP_SIZE,
    gap_min_group_size: int | None = None,
    random_state=0,
    ranks: bool = True,
) -> FairnessReport:
    """Performance and fairness of scores, overall, by group and by intersection.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Outcomes: 0/1, or any two labels with ``pos_label``.
    y_score : array-like of float
        Predicted probability of the positive class, within [0, 1] (e.g.
        ``predict_proba(X)[:, 1]``); logits or percentages are refused, not clipped
        (:func:`fairkit.stats.probabilities`).
    sensitive : array-like, Series or DataFrame
        One or several sensitive attributes; several add their intersection.
    threshold : float
        A row is selected (predicted positive) when ``y_score >= threshold``
        (:func:`fairkit.stats.decide`).
    sample_weight : array-like of shape (n_samples,), optional
        Every rate, gap and calibration error is weighted (as fairlearn's metrics with
        ``sample_weight``); group sizes and the small-group policy count rows.
    pos_label : scalar, optional
        The favourable label, when ``y_true`` is not 0/1.
    n_boot : int
        0 for no intervals. When positive, every interval is given: group rates get Wilson
        intervals and the rate gaps score intervals (:func:`fairkit.stats.gap_intervals`), both
        computed from the counts, so ``n_boot`` does not change them; the ECEs and the
        calibration gaps get intervals from ``n_boot`` bootstrap resamples of the rows.
    ci : float
        Confidence level of the intervals, in (0, 1).
    n_bins : int
        Equal-width bins for the ECE (:func:`fairkit.stats.bin_edges`).
    min_group_size : int
        Groups below this are flagged ``small`` in ``by_group``.
    gap_min_group_size : int, optional
        Groups below this size are left out of the gap metrics (default: ``min_group_size``):
        a 4-person group's selection rate is mostly noise, and a max-min gap over it would be
        decided by that noise. They stay in ``by_group`` (flagged, ``in_gaps`` False), and
        the report's ``left_out`` table and ``gaps["left_out"]`` name them. Use 0 to include
        every group: the gaps then equal fairlearn's ``demographic_parity_difference``,
        ``equal_opportunity_difference`` and ``equalized_odds_difference``, except where a
        group has one outcome only. Such a group's true positive rate (no positives) or false
        positive rate (no negatives) is undefined: fairkit shows it as NaN and leaves it out of
        the gaps that compare it (``left_out`` names the group, "no TPR: no positives" / "no
        FPR: no negatives"), while fairlearn counts it as 0, so its equal opportunity and equalized
        odds differences can be larger. Demographic parity has no such rate.
    random_state : int or None
    ranks : bool
        Whether ``y_score`` ranks rows. False for decision probabilities (group thresholds,
        :func:`fairkit.methods.scores_rank`): ``roc_auc`` is then NaN (:data:`NO_RANKING`).

    Returns
    -------
    FairnessReport
    """
    if gap_min_group_size is None:
        gap_min_group_size = min_group_size
    if isinstance(n_boot, (bool, np.bool_)) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise ValueError(f"n_boot must be an integer >= 0 (0: no intervals), got {n_boot!r}")
    if not isinstance(ci, (int, float, np.number)) or not 0.0 < float(ci) < 1.0:
        raise ValueError(f"ci must be a confidence level in (0, 1), e.g. 0.95, got {ci!r}")
    y, P, frame, w = _inputs(y_true, y_score, sensitive, sample_weight, pos_label)
    # Rows that carry weight: one of weight 0 is no one (as the groups' n count them).
    overall = {"n": int(len(y) if w is None else np.count_nonzero(w)), "threshold": float(threshold)}

    R = stats.bootstrap_weights(len(y), n_boot, random_state) if n_boot > 0 else None
    group_tables, gap_rows, dropped, thin_kept = [], [], [], []
    levels = _grouping_sums(y, P, frame, threshold=threshold, sample_weight=w, n_bins=n_bins)
    boots = (_grouping_sums(y, P, frame, threshold=threshold, sample_weight=w, n_bins=n_bins, resample=R)
             if R is not None else [(level, None) for level, _ in levels])
    for (level, gs), (_, boot) in zip(levels, boots):
        enc = level.encoding
        if "accuracy" not in overall:  # every row is in one group of a level: its total is everyone
            overall.update({k: float(v[0]) for k, v in _overall(y, P, w, gs, ranks).items()})
        include = stats.compared_groups(enc.codes, enc.n_groups, y, gap_min_group_size, w)
        all_rates = stats.group_rates(gs)
        rates = {k: v[0, 0] for k, v in all_rates.items()}
        gaps = {k: float(v[0, 0]) for k, v in stats.group_gaps(all_rates, include).items()}
        few = {k: v[0] for k, v in stats.too_few(gs).items()}
        table = pd.DataFrame(rates)
        table.insert(0, "n", gs.rows.astype(int))
        table.insert(0, "group", enc.names)
        table.insert(0, "attribute", level.name)
        table["small"] = table["n"] < min_group_size
        table["in_gaps"] = include["selection_rate"]
        table["too_few"] = [", ".join(r for r in stats.RATES if few[r][g]) for g in range(enc.n_groups)]
        skipped = stats.left_out(enc.names, rates, include)
        for metric, items in skipped.items():
            dropped += [{"attribute": level.name, "metric": metric, "group": g, "reason": why} for g, why in items]
        for metric, items in stats.compared_thin(enc.names, rates, include, few).items():
            thin_kept += [{"attribute": level.name, "metric": metric, "group": g, "reason": why} for g, why in items]
        gap_row = {"attribute": level.name, **gaps,
                   "left_out": "; ".join(f"{g} ({why})" for g, why in skipped["demographic_parity_difference"])}
        if R is not None:
            for name, (lo, hi) in stats.rate_intervals(gs, ci).items():
                table[f"{name}_low"], table[f"{name}_high"] = lo[0], hi[0]
            noise = stats.calibration_noise(gs, boot)
            lo, hi = stats.calibration_interval(rates["ece"], noise[0][:, 0], noise[1][:, 0], ci)
            enough = ~few["ece"]
            table["ece_low"], table["ece_high"] = np.where(enough, lo, np.nan), np.where(enough, hi, np.nan)
            if "accuracy_low" not in overall:
                overall.update(_overall_intervals(gs, boot, overall, ci))
                if w is None and np.isfinite(overall.get("roc_auc", np.nan)):
                    # DeLong's closed form: the bootstrap would re-sort the scores per replicate.
                    overall["roc_auc_low"], overall["roc_auc_high"] = stats.auc_interval(y, P[0], ci)
            for k, (lo, hi) in stats.gap_intervals(gs, all_rates, noise, include, ci).items():
                gap_row[f"{k}_low"], gap_row[f"{k}_high"] = float(lo[0]), float(hi[0])
            # The calibration gaps' intervals bound the noise's worst case (so they cover at a
            # perfectly calibrated group), which is wider than the estimate's spread: comparing
            # two samples' gaps (fairkit.monitor) needs the spread itself.
            for k, rep in stats.calibration_gaps(stats.group_rates(boot)["ece"], include["ece"]).items():
                gap_row[f"{k}_se"] = stats.bootstrap_se(rep[:, 0])
        group_tables.append(table)
        gap_rows.append(gap_row)

    by_group = pd.concat(group_tables, ignore_index=True)
    gaps = pd.DataFrame(gap_rows).set_index("attribute")
    left = pd.DataFrame(dropped, columns=["attribute", "metric", "group", "reason"])
    finest = levels[-1][0].encoding  # the intersection, encoded once above
    calibration = reliability_curve(y, P[0], finest.names[finest.codes], n_bins=n_bins, sample_weight=w)
    notes = _notes(by_group, left, min_group_size,
                   pd.DataFrame(thin_kept, columns=["attribute", "metric", "group", "reason"]),
                   every_rate=gap_min_group_size == 0)
    if R is not None and w is not None and np.isfinite(overall.get("roc_auc", np.nan)):
        # Said, not left blank: a weighted report's AUC stood without its interval (install audit,
        # session 49). DeLong's variance counts unweighted rows.
        notes.append("ROC AUC has no interval with sample weights (its variance, DeLong's, is for unweighted rows)")
    return FairnessReport(overall=overall, by_group=by_group, gaps=gaps, calibration=calibration,
                          n_boot=n_boot, left_out=left, notes=notes)


def _overall_intervals(gs: stats.GroupSums, boot: stats.GroupSums, overall: dict, ci: float) -> dict:
    """Intervals of the overall rates: Wilson for proportions, the kernel's bootstrap for the rest."""
    out = {}
    wilson = stats.rate_intervals(gs.total(), ci)
    for name in ("accuracy", "selection_rate", "precision"):
        lo, hi = wilson[name]
        out[f"{name}_low"], out[f"{name}_high"] = float(lo[0, 0]), float(hi[0, 0])
    # Balanced accuracy is half the sum of two independent proportions (TPR and 1 - FPR): the
    # two Wilson intervals combine in closed form (MOVER, Zou & Donner 2008). The recentred
    # bootstrap it replaces covered 0.925-0.948 at a nominal 0.95 (coverage audit, 2026-12-06);
    # it stays where a part has too few rows for its interval.
    ba = overall["balanced_accuracy"]
    (tpr_lo, tpr_hi), (fpr_lo, fpr_hi) = (tuple(float(e[0, 0]) for e in wilson[k]) for k in ("tpr", "fpr"))
    point = stats.group_rates(gs.total())
    tpr, fpr = float(point["tpr"][0, 0, 0]), float(point["fpr"][0, 0, 0])
    if all(np.isfinite([ba, tpr, fpr, tpr_lo, tpr_hi, fpr_lo, fpr_hi])):
        lo = ba - np.hypot(tpr - tpr_lo, fpr_hi - fpr) / 2
        hi = ba + np.hypot(tpr_hi - tpr, fpr - fpr_lo) / 2
    else:
        r = stats.group_rates(boot.total())
        lo, hi = stats.recentred_interval(ba, ((r["tpr"] + 1 - r["fpr"]) / 2)[:, 0, 0], ci)
    out["balanced_accuracy_low"], out["balanced_accuracy_high"] = float(max(lo, 0.0)), float(min(hi, 1.0))
    down, up = stats.calibration_noise(gs.total(), boot.total())
    lo, hi = stats.calibration_interval(overall["ece"], down[:, 0, 0], up[:, 0, 0], ci)
    out["ece_low"], out["ece_high"] = float(lo), float(hi)
    return out


def _notes(by_group: pd.DataFrame, left: pd.DataFrame, min_group_size: int, kept: pd.DataFrame | None = None,
           every_rate: bool = False) -> list[str]:
    """Plain-language notes on small groups, groups left out of gaps, rates too thin to estimate
    and gaps that compare such a rate all the same (``kept``, :func:`fairkit.stats.compared_thin`;
    ``every_rate``: because the small-group size is 0)."""
    notes = []
    small = by_group[by_group["small"]]
    if len(small):
        notes.append(f"{len(small)} group(s) have fewer than {min_group_size} rows; their rates are uncertain: "
                     + ", ".join(f"{g} ({n})" for g, n in zip(small["group"], small["n"])))
    for (attr, what), names, one in _gap_lines(left):
        notes.append(f"{names} ({attr}) {'leaves' if one else 'leave'} out {what}")
    thin = by_group[by_group["too_few"] != ""]
    if len(thin):
        notes.append(f"{TOO_FEW} (fewer than {stats.MIN_EVENTS} rows in the denominator): "
                     + "; ".join(f"{g}: {', '.join(stats.RATE_NAMES.get(x, x) for x in too_few_rates(r))}"
                                 for g, r in zip(thin["group"], thin["too_few"])))
    for (attr, what), names, one in _gap_lines(kept):
        why = ("a small-group size of 0 compares every rate" if every_rate
               else "fewer than two groups have enough to leave it out")
        notes.append(f"{names} ({attr}) {'compares' if one else 'compare'} {what} although {TOO_FEW} ({why}): "
                     "such a gap rests on a few people; read it with its interval")
    return notes


def _gap_lines(table: pd.DataFrame | None) -> list:
    """``[((attribute, "g1 (why), g2 (why)"), "Gap A and gap B", one gap?), ...]``: one line per grouping
    and set of groups, naming every gap with exactly those (a committee read the same groups six
    times over, one line per gap)."""
    lines: dict = {}
    if table is None or not len(table):
        return []
    for (attr, metric), part in table.groupby(["attribute", "metric"], sort=False):
        what = ", ".join(f"{g} ({why})" for g, why in zip(part["group"], part["reason"]))
        # The labels the record and the pages give the metric (a raw key where there is none).
        lines.setdefault((attr, what), []).append(METRIC_LABELS.get(metric, metric.replace("_", " ")))
    return [(key, listed([labels[0]] + [in_sentence(x) for x in labels[1:]]), len(labels) == 1)
            for key, labels in lines.items()]


def summary_metrics(
    y_true,
    y_scores,
    sensitive,
    *,
    threshold: float = SWEEP_THRESHOLD,
    sample_weight=None,
    pos_label=None,
    n_bins: int = 10,
    min_group_size: int = MIN_GROUP_SIZE,
    gap_min_group_size: int | None = None,
    ranks=True,
) -> list[dict]:
    """The sweep table's metrics of K score vectors on the same rows, in one vectorised pass.

    Gives what ``fairness_report(y_true, y_scores[k], sensitive, ...).summary()`` gives for
    every k (``OVERALL_METRICS`` and the headline's ``GAP_METRICS``: with several attributes,
    each gap's least fair over every grouping, :meth:`FairnessReport.headline`), from the same
    kernel sums, without the by-group tables, intervals and notes a sweep does not keep.

    Parameters
    ----------
    y_true : array-like, shape (n,)
    y_scores : array-like of float, shape (n,) or (K, n)
        Predicted probabilities of the positive class, one row per model.
    sensitive : array-like, Series or DataFrame
        As in :func:`fairness_report`; several attributes are measured on their intersection.
    threshold, sample_weight, pos_label, n_bins, min_group_size, gap_min_group_size
        As in :func:`fairness_report`.
    ranks : bool or sequence of bool
        Whether each model's scores rank rows (one value for all, or one per model); ROC AUC
        is NaN where they do not (:data:`NO_RANKING`).

    Returns
    -------
    list of dict
        One flat dict per model, keyed by ``OVERALL_METRICS + GAP_METRICS``.
    """
    if gap_min_group_size is None:
        gap_min_group_size = min_group_size
    y, P, frame, w = _inputs(y_true, y_scores, sensitive, sample_weight, pos_label)
    groupings = _grouping_sums(y, P, frame, threshold=threshold, sample_weight=w, n_bins=n_bins)
    overall = _overall(y, P, w, groupings[0][1], ranks)  # every row is in one group of a level
    gaps = {k: v[0] for k, v in _headline_gaps(groupings, gap_min_group_size, y, w).items()}
    table = {**overall, **gaps}
    return [{k: float(table[k][i]) for k in OVERALL_METRICS + GAP_METRICS} for i in range(P.shape[0])]


def bootstrap_metrics(
    y_true,
    y_scores,
    sensitive,
    *,
    n_boot: int = 200,
    random_state=0,
    resample=None,
    threshold: float = SWEEP_THRESHOLD,
    sample_weight=None,
    pos_label=None,
    min_group_size: int = MIN_GROUP_SIZE,
    gap_min_group_size: int | None = None,
) -> dict:
    """Accuracy and every gap of K models on ``n_boot`` bootstrap resamples of the rows.

    Replicate ``b`` is what :func:`summary_metrics` gives with the rows counted as often as
    resample ``b`` draws them (its ``sample_weight`` times their multiplicities), read from the
    same kernel sums in one product; the groups a gap compares are those of the rows as they are
    (:func:`fairkit.stats.gap_groups`), as :func:`fairness_report`'s intervals keep them. For how
    far a figure computed on these rows (a hypervolume of the test points of a front, say) moves
    with the draw of the rows.

    Parameters
    ----------
    y_true, y_scores, sensitive
        As in :func:`summary_metrics`.
    n_boot : int, default=200
        Resamples (ignored with ``resample``).
    random_state : int, Generator or None, default=0
        Seed of the resamples (:func:`fairkit.stats.bootstrap_weights`): the same seed draws the
        same resamples of the same number of rows, so figures of several runs on one test part
        can be compared replicate by replicate.
    resample : ndarray of shape (B, n), optional
        Row multiplicities to use instead of drawing them.
    threshold, sample_weight, pos_label, min_group_size, gap_min_group_size
        As in :func:`summary_metrics`.

    Returns
    -------
    dict
        ``"accuracy"`` and each of ``GAP_METRICS`` -> array of shape (B, K), and ``"resample"``:
        the (B, n) multiplicities used.
    """
    if gap_min_group_size is None:
        gap_min_group_size = min_group_size
    y, P, frame, w = _inputs(y_true, y_scores, sensitive, sample_weight, pos_label)
    if resample is None:
        if int(n_boot) < 1:
            raise ValueError(f"n_boot must be >= 1, got {n_boot}")
        R = stats.bootstrap_weights(len(y), int(n_boot), random_state)
    else:
        R = np.asarray(resample)  # as given (compact counts stay compact: the kernel widens a few at a time)
        if R.ndim != 2 or R.shape[1] != len(y):
            raise ValueError(f"resample must have shape (B, {len(y)}), got {R.shape}")
    groupings = _grouping_sums(y, P, frame, threshold=threshold, sample_weight=w, resample=R)
    out = {"accuracy": stats.group_rates(groupings[0][1].total())["accuracy"][..., 0]}
    out.update(_headline_gaps(groupings, gap_min_group_size, y, w))
    out["resample"] = R
    return out


#: The gaps :func:`gap_noise_floor` simulates, and how each is made fair by chance: shuffling the
#: decisions over every row equalises the groups' selection rates in expectation, shuffling them
#: within each outcome equalises their true and false positive rates.
NOISE_FLOOR_SHUFFLE = {
    "demographic_parity_difference": "rows",
    "disparate_impact_gap": "rows",
    "equal_opportunity_difference": "outcome",
    "equalized_odds_difference": "outcome",
}


#: Shuffles behind every chance gap fairkit shows (:func:`gap_noise_floor`): the Trade-offs page's
#: and the decision record's figure for one model are then one computation.
CHANCE_N_SIM = 200


#: Bytes the evaluation kernel (:func:`fairkit.stats.group_sums`) holds per model and row while it
#: sums (measured: about 190 for 16 models on 1M rows), and the memory a simulation of many
#: shuffled models may take at once (:func:`gap_noise_floor` measures its shuffles in chunks).
KERNEL_BYTES_PER_SCORE = 200
SIM_BYTES = 512 << 20


def gap_noise_floor(y_true, y_score, sensitive, *, n_sim: int = CHANCE_N_SIM, threshold: float = SWEEP_THRESHOLD,
                    sample_weight=None, pos_label=None, min_group_size: int = MIN_GROUP_SIZE,
                    random_state=0) -> pd.DataFrame:
    """The gaps a model that is fair in the population shows on these rows by chance.

    A committee reading "validation gap 0.012 <= 0.02" should know how large a gap pure sampling
    noise gives on rows this few. The model's decisions are shuffled ``n_sim`` times, over every
    row for demographic parity, within each outcome for equal opportunity and equalized odds, so
    they no longer depend on the group (or, within an outcome, on it), while the groups' sizes and
    outcomes and the model's overall rates stay as they are; each shuffle is measured by the
    kernel (:func:`summary_metrics`, the sweep's gaps, small groups left out alike; 1 - disparate
    impact ratio as :func:`metric_value` shows it). A tolerance
    below the floor's median is met by luck more often than by design.

    Parameters
    ----------
    y_true : array-like of shape (n,)
    y_score : array-like of shape (n,)
        One model's scores or decisions (thresholded at ``threshold`` as the sweep does).
    sensitive : array-like, Series or DataFrame
    n_sim : int, default=CHANCE_N_SIM
    threshold, sample_weight, pos_label, min_group_size
        As in :func:`summary_metrics`.
    random_state : int, Generator or None, default=0

    Returns
    -------
    DataFrame
        Indexed by the gaps of :data:`NOISE_FLOOR_SHUFFLE`; columns ``median``, ``q95`` (95 % of
        the shuffles lie below it), ``mean``, ``shuffle`` and ``n_sim``. The groups compared
        are the sweep's (:func:`fairkit.stats.gap_groups`: those of ``min_group_size`` rows).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> g = rng.choice(["a", "b"], 400); y = rng.integers(0, 2, 400); s = rng.uniform(size=400)
    >>> floor = gap_noise_floor(y, s, g, n_sim=100)
    >>> bool(0.02 < floor.loc["demographic_parity_difference", "median"] < 0.1)
    True
    """
    n_sim = int(n_sim)
    if n_sim < 1:
        raise ValueError(f"n_sim must be >= 1, got {n_sim}")
    y, P, frame, w = _inputs(y_true, y_score, sensitive, sample_weight, pos_label)
    if P.shape[0] != 1:
        raise ValueError(f"y_score holds {P.shape[0]} models' scores; the noise floor reads one model's")
    rng = np.random.default_rng(random_state)
    D = np.tile(P[0], (n_sim, 1))
    rows = rng.permuted(D, axis=1)
    for c in (0, 1):  # within each outcome
        idx = np.flatnonzero(y == c)
        D[:, idx] = rng.permuted(D[:, idx], axis=1)
    out = {}
    # The kernel holds about KERNEL_BYTES_PER_SCORE bytes per model and row at once: the shuffles
    # are measured a few at a time (each on its own, so the figures are the same), which kept a
    # 1M-row table's export at 8.8 GiB, and failed at 2M rows (scale audit, 2026-12-06).
    chunk = max(1, SIM_BYTES // (KERNEL_BYTES_PER_SCORE * max(len(y), 1)))
    levels = group_hierarchy(frame)  # the groups are the same in every shuffle: encoded once
    for shuffle, draws in (("rows", rows), ("outcome", D)):
        parts = [_headline_gaps(_grouping_sums(y, draws[start:start + chunk], frame, levels=levels,
                                               threshold=threshold, sample_weight=w), min_group_size, y, w)
                 for start in range(0, n_sim, chunk)]
        # One row per shuffle, as a sweep table holds its runs' gaps.
        table = pd.DataFrame({k: np.concatenate([part[k][0] for part in parts]) for k in GAP_METRICS})
        for key, how in NOISE_FLOOR_SHUFFLE.items():
            if how != shuffle:
                continue
            v = np.asarray(metric_value(table, key)[0], dtype=float)  # shown as people see it
            ok = v[np.isfinite(v)] if np.isfinite(v).any() else np.array([np.nan])
            out[key] = {"median": float(np.median(ok)), "q95": float(np.quantile(ok, 0.95)),
                        "mean": float(ok.mean()), "shuffle": how, "n_sim": n_sim}
    return pd.DataFrame.from_dict(out, orient="index").loc[list(NOISE_FLOOR_SHUFFLE)]


def chance_gap_is_zero(floor) -> bool:
    """Whether a chance gap (a row of :func:`gap_noise_floor`) is 0 in 95% of its shuffles: a
    model deciding alike for every row, of which no sentence is said (nothing is below 0: "about
    0.000 ... below 0.000: a gap below that is weak evidence", number audit, session 45)."""
    q95 = floor.get("q95") if hasattr(floor, "get") else None
    return q95 is not None and np.isfinite(float(q95)) and not float(q95) > 0


def noise_floor_sentence(floor, label: str, rows: str, decisions: str = "") -> str:
    """The one wording of a chance gap for people (the Trade-offs panel, the decision record).

    Parameters
    ----------
    floor : mapping
        One gap's row of :func:`gap_noise_floor` (``median``, ``q95``, ``n_sim``).
    label : str
        The gap as people read it, e.g. "validation demographic parity difference".
    rows : str
        Which rows, e.g. "these 9,769 rows".
    decisions : str
        Which of the model's decisions were shuffled, e.g. "at the threshold 0.40": the panel's
        figure (0.109, the frontier's decisions) and the record's (0.097, the export's) differed
        for one model with neither saying so (numbers audit, session 53).
    """
    article = "an" if label[:1].lower() in "aeiou" else "a"  # "an equalized odds difference"
    which = f" {decisions}" if decisions else ""
    return (f"By chance alone, a model that treats the groups alike in the population would show {article} {label} of "
            f"about {floor['median']:.3f} on {rows} (95% of {int(floor['n_sim'])} shuffles of this model's "
            f"decisions{which} below {floor['q95']:.3f})")


#: Below this share of positive (or of negative) outcomes, accuracy mostly measures the majority
#: class (a model deciding alike for everyone scores 0.8 or more): the frontier is then judged
#: on balanced accuracy unless another axis is asked for, the dashboard's first axis and the
#: command line's default alike (they differed: one-implementation audit, session 53).
RARE_OUTCOME = 0.2


def rare_outcome(base_rate: float) -> bool:
    """Whether one outcome is rarer than :data:`RARE_OUTCOME` (then accuracy flatters any model).

    Parameters
    ----------
    base_rate : float
        Share of positive outcomes.

    Returns
    -------
    bool
        False for an unknown (NaN) base rate.
    """
    return bool(min(base_rate, 1.0 - base_rate) < RARE_OUTCOME)


def default_performance(base_rate: float) -> str:
    """The performance axis a frontier is judged on when none is asked for.

    Parameters
    ----------
    base_rate : float
        Share of positive outcomes in the validation rows.

    Returns
    -------
    str
        ``"balanced_accuracy"`` for a rare outcome (:func:`rare_outcome`), else ``"accuracy"``.
    """
    return "balanced_accuracy" if rare_outcome(base_rate) else "accuracy"


def chance_level(metric: str, base_rate):
    """What deciding alike for everyone scores on ``metric`` when ``base_rate`` of the rows are
    positive: the majority decision's accuracy (the larger of the base rate and its complement),
    0.5 for balanced accuracy and ROC AUC.

    Parameters
    ----------
    metric : str
        ``"accuracy"``, ``"balanced_accuracy"`` or ``"roc_auc"``.
    base_rate : float or array-like
        Share of positive outcomes (NaN where unknown: the accuracy level is then NaN).

    Returns
    -------
    float, or ndarray of the shape of ``base_rate``
    """
    b = np.asarray(base_rate, dtype=float)
    if metric == "accuracy":
        level = np.maximum(b, 1.0 - b)
    elif metric in ("balanced_accuracy", "roc_auc"):
        level = np.full_like(b, 0.5)
    else:
        raise ValueError(f"no chance level for metric {metric!r}")
    return float(level) if level.ndim == 0 else level


def no_better_than_chance(score, metric: str, base_rate):
    """Whether ``score`` on ``metric`` is no better than deciding alike for everyone
    (:func:`chance_level` of ``base_rate``): such a model is dominated by a rule with no gap.

    The one comparison behind the frontier's rule (:func:`fairkit.frontier.below_chance_mask`),
    the inferred thresholds' candidate cuts and the record's and dashboard's warnings. Vectorised
    over ``score`` and ``base_rate``; a NaN score or level is not flagged.
    """
    # The majority decision scores the level up to rounding of the sums it is computed from.
    out = np.asarray(score, dtype=float) <= np.asarray(chance_level(metric, base_rate)) + 1e-12
    return bool(out) if out.ndim == 0 else out


def metric_value(values, key: str, prefix: str = ""):
    """A metric, with its interval when ``values`` has one, under the key shown to people.

    The one place where a shown metric is derived from a stored one: ``disparate_impact_gap``
    is 1 - ``disparate_impact_ratio`` (its interval flipped); every other key is read as stored.

    Parameters
    ----------
    values : mapping, Series or DataFrame
        A report's ``overall`` dict, a row of its ``gaps``, a sweep row or a sweep table
        (``prefix="test_"``): anything indexed by ``<prefix><key>`` and, for an interval,
        ``<prefix><key>_low`` / ``_high``.
    key : str
        A key of :data:`METRIC_LABELS` (or any stored metric).
    prefix : str
        Prepended to every stored name (``"val_"``, ``"test_"`` for sweep tables).

    Returns
    -------
    (value, low, high)
        ``low`` and ``high`` are None when ``values`` holds no interval. A sweep table gives
        Series.
    """
    def get(name):
        try:
            return values[prefix + name]
        except (KeyError, IndexError):
            return None

    if key == "disparate_impact_gap":
        v, lo, hi = metric_value(values, "disparate_impact_ratio", prefix)
        if v is None:
            raise KeyError(f"{prefix}disparate_impact_ratio")
        return 1 - v, (None if hi is None else 1 - hi), (None if lo is None else 1 - lo)
    v = get(key)
    if v is None:
        raise KeyError(prefix + key)
    return v, get(f"{key}_low"), get(f"{key}_high")


def confusion_by_group(y_true, y_score, sensitive, *, threshold: float = SWEEP_THRESHOLD, sample_weight=None,
                       pos_label=None) -> pd.DataFrame:
    """True and false positives and negatives per group at a threshold (What-If style counts).

    Read from the kernel's per-group sums (:func:`fairkit.stats.group_sums`), so the counts
    are those every rate of :func:`fairness_report` at the same threshold divides.

    Parameters
    ----------
    y_true, y_score, sensitive, threshold, sample_weight, pos_label
        As in :func:`fairness_report`; ``y_score`` is one model's scores.

    Returns
    -------
    DataFrame
        One row per (attribute, group), each sensitive attribute then their intersection:
        ``attribute``, ``group``, ``n``, ``tp``, ``fp``, ``fn``, ``tn`` (weighted sums with
        ``sample_weight``, else row counts as integers).
    """
    y, P, frame, w = _inputs(y_true, y_score, sensitive, sample_weight, pos_label)
    if P.shape[0] != 1:
        raise ValueError(f"confusion_by_group takes one model's scores, got {P.shape[0]}")
    tables = []
    for level in group_hierarchy(frame):
        enc = level.encoding
        gs = stats.group_sums(y, P, enc.codes, enc.n_groups, threshold=threshold, sample_weight=w)
        tp, fp, pos, n = (gs.stat(s)[0, 0] for s in ("tp", "fp", "pos", "n"))
        table = pd.DataFrame({"attribute": level.name, "group": enc.names, "n": gs.rows.astype(int),
                              "tp": tp, "fp": fp, "fn": pos - tp, "tn": n - pos - fp})
        tables.append(table)
    out = pd.concat(tables, ignore_index=True)
    if w is None:  # unweighted sums are whole numbers of rows
        out[["tp", "fp", "fn", "tn"]] = out[["tp", "fp", "fn", "tn"]].round().astype(int)
    return out


def reference_order(n) -> np.ndarray:
    """The order in which an attribute's groups are offered as the disparity audit's reference:
    largest first, a tie in the given order (the kernel's, sorted by name). The first is the
    default reference (Aequitas'), in :func:`disparity_audit` and on the Export page alike.

    Parameters
    ----------
    n : array-like of int
        Each group's rows, in the kernel's group order.

    Returns
    -------
    ndarray of int
        Indices into ``n``.
    """
    return np.argsort(-np.asarray(n, dtype=np.int64), kind="stable")


def disparity_audit(by_group: pd.DataFrame, *, reference: dict | None = None, band=AUDIT_BAND,
                    metrics=AUDIT_METRICS) -> pd.DataFrame:
    """Each group's rates as a ratio to a reference group's, passing inside a band (Aequitas).

    Parameters
    ----------
    by_group : DataFrame
        :attr:`FairnessReport.by_group` (the kernel's rates, with ``n``, ``in_gaps`` and
        ``too_few``).
    reference : dict, optional
        ``{attribute: group}``, the reference group of each attribute; an attribute not named
        (or naming a group it does not have) takes its largest group, Aequitas' default.
    band : (float, float)
        A ratio inside ``[low, high]`` passes; a ratio equal to an edge up to floating-point
        rounding (within :data:`AUDIT_BAND_RTOL`, relative) passes too.
    metrics : sequence of str
        Rates of ``by_group`` to compare.

    Returns
    -------
    DataFrame
        One row per (attribute, group): ``attribute``, ``group``, ``n``, ``reference`` (the
        attribute's reference group), then per metric ``<m>`` (the group's rate),
        ``<m>_ratio`` (rate / the reference's rate) and ``<m>_verdict``: ``"pass"``,
        ``"fail"``, ``"reference"``, ``"too few rows"`` (a group below the small-group size,
        as the gaps leave it out) or ``"n/a"`` (a rate undefined or too thin to estimate,
        or a reference rate of 0).
    """
    low, high = (float(b) for b in band)
    if not 0 < low <= 1 <= high:
        raise ValueError(f"The band {band!r} must hold 1 between two positive bounds (Aequitas uses 0.8-1.25).")
    # The record prints the band as "from 0.8 to 1.25 passes" and the ratio rounded: a ratio
    # that is the edge in real numbers must pass, not fail by its last bit.
    inside_low, inside_high = low * (1 - AUDIT_BAND_RTOL), high * (1 + AUDIT_BAND_RTOL)
    reference = dict(reference or {})
    parts = []
    for attr, part in by_group.groupby("attribute", sort=False):
        part = part.reset_index(drop=True)
        groups = part["group"].astype(str)
        ref = str(reference.get(attr)) if str(reference.get(attr)) in set(groups) else None
        ref_i = int(np.flatnonzero(groups == ref)[0]) if ref is not None else int(reference_order(part["n"])[0])
        out = pd.DataFrame({"attribute": attr, "group": part["group"], "n": part["n"],
                            "reference": groups[ref_i]})
        is_ref = np.arange(len(part)) == ref_i
        small = ~part["in_gaps"].to_numpy(bool) if "in_gaps" in part else np.zeros(len(part), bool)
        for m in metrics:
            v = part[m].to_numpy(np.float64)
            thin = part.get("too_few", pd.Series("", index=part.index)).map(lambda t, m=m: m in too_few_rates(t))
            usable = np.isfinite(v) & ~thin.to_numpy(bool)
            base = v[ref_i] if usable[ref_i] else np.nan
            with np.errstate(divide="ignore", invalid="ignore"):
                r = np.where(usable & (base > 0), v / base, np.nan)
            verdict = np.where(np.isfinite(r), np.where((r >= inside_low) & (r <= inside_high), "pass", "fail"), "n/a")
            verdict = np.where(small, "too few rows", verdict)
            out[m], out[f"{m}_ratio"], out[f"{m}_verdict"] = v, r, np.where(is_ref, "reference", verdict)
        parts.append(out)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _kernel_rate(name: str):
    """One group's ``name`` rate from the kernel, in the signature MetricFrame calls."""
    def rate(y_true, y_pred, sample_weight=None):
        d = np.asarray(y_pred, dtype=np.float64)
        gs = stats.group_sums(np.asarray(y_true, dtype=np.float64), d, np.zeros(len(d), np.int64), 1,
                              decisions=d, sample_weight=sample_weight)
        return float(stats.group_rates(gs)[name][0, 0, 0])

    rate.__name__ = name
    return rate


def metric_frame(y_true, y_pred, sensitive, sample_weight=None) -> MetricFrame:
    """fairlearn's MetricFrame of selection rate, TPR and FPR (for users who want its API).

    The rates are the kernel's, as :attr:`FairnessReport.by_group` gives them: the true positive
    rate of a group with no positives, or the false positive rate of a group with no negatives,
    is undefined (NaN), where fairlearn's own rate functions count it as 0. The frame's
    ``difference()`` spans every group; :func:`fairness_report`'s gaps leave out groups under
    ``gap_min_group_size`` rows and name them.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        0/1 outcomes (-1/1 and booleans are read as :func:`fairkit.stats.binary_labels` reads them).
    y_pred : array-like of shape (n_samples,)
        Decisions (0/1).
    sensitive : array-like, Series or DataFrame
    sample_weight : array-like of shape (n_samples,), optional
        Weights of the rates, checked as every report checks them; ``count`` stays the number of rows.

    Returns
    -------
    fairlearn.metrics.MetricFrame
        Metrics ``count``, ``selection_rate``, ``tpr`` and ``fpr``.
    """
    y = stats.binary_labels(y_true)
    d = np.asarray(y_pred)
    if d.shape != y.shape or not np.isin(d, (0, 1)).all():
        raise ValueError(f"y_pred must be one decision (0 or 1) per row of y_true ({len(y)} rows); got shape "
                         f"{d.shape}" + ("" if d.shape != y.shape else f" holding {stats._unique(d)[:5]}"))
    w = stats.check_sample_weight(sample_weight, len(y))
    # count takes no weights: it stays the number of rows, as fairness_report's ``n``.
    sp = None if w is None else {k: {"sample_weight": w} for k in ("selection_rate", "tpr", "fpr")}
    return MetricFrame(
        metrics={"count": count, **{k: _kernel_rate(k) for k in ("selection_rate", "tpr", "fpr")}},
        y_true=y, y_pred=d, sensitive_features=sensitive, sample_params=sp,
    )


__all__ = [
    "FairnessReport", "fairness_report", "summary_metrics", "bootstrap_metrics", "expected_calibration_error",
    "reliability_curve",
    "metric_frame", "GAP_METRICS", "OVERALL_METRICS", "SEP", "encode_groups", "calibration_by_group",
    "multicalibration_audit", "debiased_calibration_error", "calibration_noise_floor",
    "CalibrationNoiseFloor", "METRIC_LABELS", "OF_SCORES", "HEADLINE_GAPS", "AUDIT_METRICS", "AUDIT_BAND", "AUDIT_BAND_RTOL",
    "SWEEP_THRESHOLD",
    "metric_value", "chance_level", "no_better_than_chance", "least_fair_grouping", "HIGHER_IS_FAIRER", "CHANCE_N_SIM",
    "confusion_by_group", "disparity_audit", "reference_order", "RARE_OUTCOME", "rare_outcome", "default_performance",
]
