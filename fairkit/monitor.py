"""Fairness drift: does a new batch's gap differ from the gap recorded at export, beyond noise?

Both numbers are estimates: the recorded gap from the test split (its interval recorded in the
bundle), the batch's from however many rows were scored. A batch of 2,000 rows drawn from the
very population of the test split lands outside the test split's 95% interval for several of
its 15 gaps in most draws, because the batch's own sampling noise is larger than the test
split's. So each gap is compared as two samples: a z statistic whose standard error combines the
recorded interval's and the batch's own interval (the evaluation kernel's bootstrap, through
:func:`fairkit.metrics.fairness_report`), and the p-values of all the gaps checked are corrected
together (Holm), so checking 15 gaps does not give 15 chances of a false alarm.

Gaps watched (:data:`WATCHED`) are those of decisions (parity, opportunity, odds, impact ratio)
and the calibration disparity between groups, each under the key and in the orientation the
record and the pages show (:func:`fairkit.metrics.metric_value`: the impact ratio as 1 - ratio,
so every gap reads "lower is fairer" and a positive z is a batch less fair than the record).
A group's own ECE (``max_group_ece``) is not compared across sample sizes: sampling noise
raises an ECE, more in a smaller sample, so a 2,000-row batch reads as worse calibrated than a
10,000-row test split of the same population (measured on Adult: a mean z of +1.8 for sex,
against +0.3 or less for the decision gaps). Calibration disparity, a difference of ECEs,
cancels much of that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

from .data import binary_target, label_mask, label_text
from .groups import case_only_pairs, group_labels
from .metrics import GAP_METRICS, METRIC_LABELS, OF_SCORES, fairness_report, metric_value, too_few_rates
from .record import fmt, fmt_interval, ranks_of, results_revision
from .stats import DENOMINATOR_WORDS, GAP_RATES, MIN_EVENTS, rate_groups

#: Keys of :data:`fairkit.metrics.METRIC_LABELS`, read with :func:`fairkit.metrics.metric_value`.
WATCHED = ("demographic_parity_difference", "equal_opportunity_difference",
           "equalized_odds_difference", "disparate_impact_gap", "calibration_disparity")
#: Family-wise false-alarm rate over all the gaps checked in one batch. Below the usual 0.05
#: because the batches of one deployment are all compared with the same recorded test split, so
#: its own sampling error is shared by every check (measured on Adult, 100 batches of 2,000 rows
#: from the test split's population: 4 to 5 alarms at 0.05, 1 to 2 at 0.01).
ALPHA = 0.01
#: Level of the intervals a bundle records (fairness_report's default at export).
RECORDED_CI = 0.95


def alpha_ok(alpha: float) -> bool:
    """Whether ``alpha`` is a false-alarm rate the drift check can use: above 0 and below 1.

    At 1 or more every gap is flagged (an adjusted p-value is at most 1); at 0 or below, or NaN,
    none ever is.
    """
    return bool(0.0 < alpha < 1.0)


def _check_alpha(alpha: float) -> None:
    if not alpha_ok(alpha):
        raise ValueError(f"alpha {alpha!r} is not a false-alarm rate; give a number above 0 and below 1, "
                         f"e.g. {ALPHA}.")


@dataclass(frozen=True)
class BatchLabels:
    """A batch's outcomes as the bundle reads them (:func:`read_batch_labels`).

    Attributes
    ----------
    y : ndarray
        1 for the positive label, 0 for a negative one, -1 for no label (missing, or a value the
        model was not trained on).
    unread : dict
        Values neither positive nor among the training's labels -> their row counts ("pending",
        "unknown"): read as no label, never as a negative outcome.
    """

    y: np.ndarray
    unread: dict
    #: Unread values that differ from a training label only in case, blanks or a trailing "."
    #: (:func:`fairkit.groups.label_key`) -> that label: a misspelling, not a missing outcome.
    near: dict = field(default_factory=dict)

    def note(self, spec) -> str | None:
        """The unread values in words, or None."""
        if not self.unread:
            return None
        n = sum(self.unread.values())
        listed = ", ".join(f"{v!r} ({c:,})" for v, c in list(self.unread.items())[:5])
        return (f"{n:,} row(s) of {spec.target} hold a value the model was not trained on ({listed}"
                f"{' ...' if len(self.unread) > 5 else ''}): they are read as not labelled yet, not as negative "
                "outcomes")


def read_batch_labels(spec, frame: pd.DataFrame, known=None) -> BatchLabels:
    """The batch's 0/1 outcomes, rows holding a value the training never saw left unlabelled.

    Any value but the positive label read as negative: a month's ``pending`` labels were scored
    as bad outcomes (accuracy 0.600 for 0.743, a DP gap of 0.186 for 0.036; all ``pending``:
    accuracy 0.150 and "0 of 12 gaps differ", passing ``--fail-on-drift``: lifecycle audit,
    session 45).

    Parameters
    ----------
    spec : DatasetSpec
    frame : DataFrame
    known : list, optional
        The target's values at training (:attr:`fairkit.export.ModelBundle.target_values`);
        None (a bundle that does not record them): every value but the positive one is negative.
    """
    y = binary_target(frame, spec)
    if not known:
        return BatchLabels(y, {})
    col = frame[spec.target]
    odd = (y == 0) & ~label_mask(col, list(known))
    if not odd.any():
        return BatchLabels(y, {})
    counts = col[odd].astype(str).value_counts(sort=True)
    y = y.copy()
    y[odd] = -1
    near = dict(case_only_pairs([str(v) for v in counts.index], [str(k) for k in known]))
    return BatchLabels(y, {str(k): int(v) for k, v in counts.items()}, near)


def unchecked_reason(spec, frame: pd.DataFrame, known=None, groups: dict | None = None,
                     labels: BatchLabels | None = None) -> str | None:
    """Why a batch's fairness cannot be compared with the record, in words; None when it can.

    Parameters
    ----------
    spec : DatasetSpec
        The bundle's spec (its target and sensitive columns).
    frame : DataFrame
        The batch.
    known : list, optional
        The target's values at training (:func:`read_batch_labels`).
    groups : dict, optional
        Each sensitive column's recorded groups (:func:`outside_recorded_groups`): rows of
        others are not compared.
    labels : BatchLabels, optional
        The batch's labels when the caller has read them already (:func:`read_batch_labels`).

    Returns
    -------
    str or None
        The columns the batch lacks, or that its target column holds no label (new rows whose
        outcomes are not known yet: scored, but not compared).
    """
    return _comparable(spec, frame, known, groups, labels)[0]


def _comparable(spec, frame: pd.DataFrame, known, groups, labels=None):
    """(why not comparable or None, the labels, the rows outside the recorded groups): read once
    for both :func:`unchecked_reason` and :func:`drift_report`."""
    missing = [c for c in (spec.target, *spec.sensitive) if c not in frame]
    if missing:
        return f"the file lacks the column(s) {', '.join(missing)}", None, None
    labels = read_batch_labels(spec, frame, known) if labels is None else labels
    unread = labels_unread(spec, frame, known, labels)
    if unread:
        return unread, labels, None
    if not (labels.y >= 0).any():
        held = f" (it holds {_listed(labels.unread)})" if labels.unread else ""
        return (f"the target column {spec.target} holds no label in any of the {len(frame):,} row(s){held}",
                labels, None)
    outside = outside_recorded_groups(frame, groups)
    if not ((labels.y >= 0) & ~outside).any():
        return ("every labelled row is of a group the record does not have (the warnings above name them)",
                labels, outside)
    return None, labels, outside


def _listed(counts: dict) -> str:
    return ", ".join(repr(v) for v in list(counts)[:5]) + (" ..." if len(counts) > 5 else "")


def labels_unread(spec, frame: pd.DataFrame, known=None, labels: BatchLabels | None = None) -> str | None:
    """Why the batch's labels cannot be read as the bundle's, or None.

    Labels spelled otherwise (GOOD/BAD, 1/0 for good/bad) all read as negative: accuracy 0.225
    and "0 of 4 gaps differ", passing ``--fail-on-drift`` (CLI audit, session 44). So: no row
    holds the positive label, or (with the training's values, ``known``) some rows spell a
    training label otherwise (``Good`` beside ``good``), or none holds a label the model was
    trained on and the batch holds several values. A batch of one outcome only (no one positive
    this time), or of one value the training never saw (``pending``: no outcomes yet), is read.
    """
    labels = read_batch_labels(spec, frame, known) if labels is None else labels
    if known:
        if labels.near:
            # 'Good' beside 'good': those rows left out would bias the rest (lifecycle audit,
            # session 45: accuracy 0.400 for 0.700 when they were read as negative).
            listed = "; ".join(f"{v!r} ({labels.unread[v]:,} rows) differs from {k!r}"
                               for v, k in list(labels.near.items())[:5])
            return (f"{spec.target} spells a training label otherwise: {listed} only in case, blanks or a trailing "
                    "'.'; recode them to the bundle's labels")
        if (labels.y >= 0).any() or not labels.unread:
            return None
        plain = {str(k).strip().casefold() for k in known}
        if len(labels.unread) < 2 and not any(v.strip().casefold() in plain for v in labels.unread):
            return None
        return (f"no row's {spec.target} is a label the model was trained on ({', '.join(map(repr, known))}; it "
                f"holds {_listed(labels.unread)}): its outcomes are spelled otherwise than at training; recode "
                "them to the bundle's labels")
    seen = pd.unique(frame[spec.target].dropna())
    if (labels.y == 1).any() or len(seen) < 2:
        return None
    shown = ", ".join(repr(v.item() if isinstance(v, np.generic) else v) for v in seen[:5]) + (
        " ..." if len(seen) > 5 else "")
    return (f"no row's {spec.target} is the positive label {label_text(spec.positive_label)} (it holds {shown}): "
            "its outcomes are spelled otherwise than at training; recode them to the bundle's labels")


def _shown(values, key: str) -> list:
    """``key``'s value and interval as shown (:func:`fairkit.metrics.metric_value`); Nones when absent."""
    try:
        return list(metric_value(values, key))
    except KeyError:
        return [None, None, None]


def _standard_error(values, key: str, estimate: float, low: float, high: float, ci: float) -> float:
    # The calibration gaps carry their bootstrap standard error: their intervals bound the noise's
    # worst case (stats.calibration_interval), far wider than 1.96 standard errors. Records made
    # before they did (results revision 6) hold recentred intervals: the bootstrap's spread.
    se = values.get(f"{key}_se") if hasattr(values, "get") else None
    if se is not None and np.isfinite(float(se)):
        return float(se)
    # Intervals are clipped to [0, 1] and may be asymmetric; the wider side is the honest one.
    return max(high - estimate, estimate - low) / norm.ppf((1 + ci) / 2)


def holm_adjust(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (reject where ``adjusted <= alpha``).

    Controls the family-wise error rate under any dependence between the tests, which the gaps
    of one batch have (they share rows).
    """
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p)
    stepped = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(stepped)
    return adjusted


def compare_gaps(recorded: list[dict], batch: pd.DataFrame, *, metrics=WATCHED,
                 alpha: float = ALPHA, recorded_ci: float = RECORDED_CI,
                 batch_ci: float = 0.95, skip: dict | None = None) -> dict:
    """Two-sample comparison of a batch's gaps with the recorded ones, Holm-corrected.

    Parameters
    ----------
    recorded : list of dict
        The recorded gaps (a bundle's ``metrics["test"]["gaps"]``): ``attribute``, each metric
        and its ``_low`` / ``_high`` (and, for the calibration gaps, ``_se``: their bootstrap
        standard error, which compares two samples where their intervals are not normal ones).
    batch : DataFrame
        The batch's ``FairnessReport.gaps`` (indexed by attribute), with intervals
        (``n_boot > 0``).
    metrics : sequence of str
        The gaps compared, as keys of :data:`fairkit.metrics.METRIC_LABELS` (values and
        messages in the orientation :func:`fairkit.metrics.metric_value` shows).
    alpha : float
        Family-wise false-alarm rate over every gap compared, above 0 and below 1.
    recorded_ci, batch_ci : float
        Levels of the two sets of intervals.
    skip : dict, optional
        ``(attribute, metric or None) -> why`` for gaps not to compare (None: every metric of the
        attribute), as :func:`incomparable_gaps` finds them.

    Returns
    -------
    dict
        ``tests`` (one dict per gap compared: attribute, metric, recorded, recorded_interval,
        new, interval, z, p_value, p_adjusted, drift, message), ``drift`` (those that drifted),
        ``checked`` (how many were compared), ``drifted`` (any drift), ``alpha`` and
        ``not_compared`` (one dict per watched gap of a recorded attribute left out: attribute,
        metric, why).

    Raises
    ------
    ValueError
        ``alpha`` is not above 0 and below 1 (:func:`alpha_ok`).
    """
    _check_alpha(alpha)
    skip = skip or {}
    batch_rows = dict(batch.iterrows())
    tests, left = [], []
    for ref in recorded:
        attribute = ref["attribute"]
        row = batch_rows.get(attribute)
        for m in metrics:
            why = skip.get((attribute, None)) or skip.get((attribute, m))
            if row is None:
                why = why or "the batch has no gap for this attribute"
            if why is None:
                values = _shown(row, m) + _shown(ref, m)
                if any(v is None or not np.isfinite(float(v)) for v in values):
                    why = "too few rows for an interval on one side"
            if why is not None:
                # Said, not dropped: a batch without 'under 25' printed "0 of 10 gaps differ" and
                # the record's headline gap went unchecked without a word (audits, session 45).
                if all(v is not None and np.isfinite(float(v)) for v in _shown(ref, m)[:1]):
                    left.append({"attribute": attribute, "metric": m, "why": why})
                continue
            new, lo, hi, old, old_lo, old_hi = map(float, values)
            se = np.hypot(_standard_error(row, m, new, lo, hi, batch_ci),
                          _standard_error(ref, m, old, old_lo, old_hi, recorded_ci))
            if se == 0:
                continue
            z = (new - old) / se
            tests.append({"attribute": attribute, "metric": m, "recorded": old,
                          "recorded_interval": [old_lo, old_hi], "new": new, "interval": [lo, hi],
                          "z": float(z), "p_value": float(2 * norm.sf(abs(z)))})
    adjusted = holm_adjust([t["p_value"] for t in tests])
    for t, p_adj in zip(tests, adjusted):
        t["p_adjusted"] = float(p_adj)
        t["drift"] = bool(p_adj <= alpha)
        lo, hi = t["interval"]
        old_lo, old_hi = t["recorded_interval"]
        t["message"] = (f"{METRIC_LABELS[t['metric']]} for {t['attribute']} is {fmt_interval(t['new'], lo, hi)}, "
                        f"recorded {fmt_interval(t['recorded'], old_lo, old_hi)}: "
                        f"z = {fmt(t['z'], 2, signed=True)}, p = {t['p_value']:.2g} "
                        f"(Holm-adjusted {p_adj:.2g} over {len(tests)} gaps).")
    drift = [t for t in tests if t["drift"]]
    return {"tests": tests, "drift": drift, "checked": len(tests), "drifted": bool(drift),
            "alpha": alpha, "not_compared": left}


def incomparable_gaps(recorded_by_group: list[dict], batch_by_group: pd.DataFrame, *,
                      thin_left_out: bool = True) -> dict:
    """``(attribute, None) -> why`` for the attributes whose batch gap compares other groups than
    the recorded one: a batch where a group fell under the small-group size (or grew above it,
    or vanished) takes its gap over another set of groups, and tested 0.260 over four groups
    against 0.012 over two; in 60-row batches the calibration gap of 4-row cells alarmed in 14 of
    100 draws from the record's own population (number and lifecycle audits, session 45).
    Compared: the groups each side's gap is over (``in_gaps``), and for a TPR or FPR those with
    enough rows to estimate it (``too_few``); ``thin_left_out`` False: the record's gaps counted
    every ``in_gaps`` group's TPR and FPR (a record made before results revision 10).
    """
    def gap_groups(rows) -> dict:
        out: dict = {}
        for r in rows:
            if r.get("in_gaps"):
                out.setdefault(str(r["attribute"]), set()).add(str(r["group"]))
        return out

    then = gap_groups(recorded_by_group)
    now = gap_groups(batch_by_group.to_dict(orient="records"))
    skip = {}
    for attribute, groups in then.items():
        batch = now.get(attribute, set())
        if batch != groups:
            gone, added = sorted(groups - batch), sorted(batch - groups)
            parts = ([f"{', '.join(map(repr, gone))} not in it (absent or too few rows)"] if gone else []) + (
                [f"{', '.join(map(repr, added))} in it, which the record's gap left out (too few rows there)"]
                if added else [])
            skip[(attribute, None)] = "the batch's gap would compare other groups than the record's: " + "; ".join(parts)
    # A TPR (FPR) on fewer than stats.MIN_EVENTS positives (negatives) enters no gap (stats.rate_groups),
    # read back from each table's too_few: a batch's equal-opportunity gap over other groups than the
    # record's is no more comparable than one over other rows.
    then_rates = _rate_groups(recorded_by_group, thin_left_out)
    now_rates = _rate_groups(batch_by_group.to_dict(orient="records"))
    for (attribute, rate), groups in then_rates.items():
        batch = now_rates.get((attribute, rate), set())
        if (attribute, None) in skip or batch == groups:
            continue
        words = (rate.upper(), DENOMINATOR_WORDS[rate])
        gone, added = sorted(groups - batch), sorted(batch - groups)
        why = (f"the batch's gap would compare other groups' {words[0]} than the record's (a rate on fewer than "
               f"{MIN_EVENTS} {words[1]} enters no gap while two groups have more): "
               + "; ".join(([f"{', '.join(map(repr, gone))} not in it"] if gone else [])
                           + ([f"{', '.join(map(repr, added))} in it, which the record's left out"] if added else [])))
        for metric, rates in GAP_RATES.items():
            if rate in rates:
                skip.setdefault((attribute, metric), why)
    return skip


def _rate_groups(rows, thin_left_out: bool = True) -> dict:
    """``(attribute, rate) -> groups`` whose TPR / FPR a gap compares: :func:`fairkit.stats.rate_groups`
    on a by-group table's ``in_gaps``, its ``too_few`` flags standing for the denominators' rows
    (every ``in_gaps`` group without ``thin_left_out``)."""
    members: dict = {}
    for r in rows:
        if r.get("in_gaps"):
            members.setdefault(str(r["attribute"]), []).append(r)
    out = {}
    for attribute, group_rows in members.items():
        names = np.array([str(r["group"]) for r in group_rows], dtype=object)
        # A flagged rate has fewer than MIN_EVENTS rows in its denominator; an unflagged one enough.
        rows_of = {rate: np.array([0 if rate in too_few_rates(r.get("too_few")) else MIN_EVENTS
                                   for r in group_rows]) for rate in ("tpr", "fpr")}
        chosen = rate_groups(np.ones(len(names), dtype=bool), rows_of["tpr"], rows_of["fpr"],
                             min_events=MIN_EVENTS if thin_left_out else 0)
        for rate in ("tpr", "fpr"):
            # A group without positives (negatives) has no TPR (FPR), which no gap compares: it
            # was named "not in it" when the record's gap had compared a thin rate (numbers
            # audit, session 49).
            defined = np.array([rate not in r or _finite(r[rate]) for r in group_rows], dtype=bool)
            out[(attribute, rate)] = set(names[chosen[rate] & defined])
    return out


def _finite(value) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _not_compared_text(left: list[dict]) -> str:
    """The gaps :func:`compare_gaps` left out, by attribute and reason, in words."""
    by: dict = {}
    for x in left:
        by.setdefault((x["attribute"], x["why"]), []).append(x["metric"])
    return "; ".join(f"{attribute}: {len(ms)} gap(s), {why}" for (attribute, why), ms in by.items())


def outside_recorded_groups(frame: pd.DataFrame, known: dict | None) -> np.ndarray:
    """Rows whose value of some sensitive column is none of the record's groups of it
    (``known``: :meth:`fairkit.export.ModelBundle.known_groups`); none when it is None."""
    out = np.zeros(len(frame), dtype=bool)
    for col, groups in (known or {}).items():
        if groups and col in frame:
            out |= ~group_labels(frame[[col]]).isin(groups).to_numpy()
    return out


def drift_report(bundle, frame: pd.DataFrame, scores, *, n_boot: int = 200,
                 alpha: float = ALPHA, labels: BatchLabels | None = None) -> dict | None:
    """Fairness of a scored batch compared with the bundle's recorded test metrics.

    Parameters
    ----------
    bundle : ModelBundle
        The loaded bundle (its ``spec``, ``threshold`` and ``metrics``).
    frame : DataFrame
        The batch, with the target and sensitive columns.
    scores : array-like
        The bundle's probabilities for ``frame``.
    n_boot : int
        Bootstrap resamples for the batch's own intervals (at least 1).
    alpha : float
        Family-wise false-alarm rate over the gaps compared (:func:`compare_gaps`).
    labels : BatchLabels, optional
        The batch's labels when the caller has read them already (:func:`read_batch_labels`).

    Returns
    -------
    dict or None
        :func:`compare_gaps`'s result plus ``summary`` (one line), ``overall``, ``gaps``,
        ``by_group`` and ``notes`` (:attr:`fairkit.metrics.FairnessReport.notes`) of the batch,
        ``watched`` and ``gap_metrics``. None when there is nothing
        to compare (:func:`unchecked_reason` says why): the batch lacks the target or a
        sensitive column, or no row has a label.

    Raises
    ------
    ValueError
        ``n_boot`` below 1, or ``alpha`` not above 0 and below 1.
    """
    # Arguments first: a bad one is refused whether or not this batch can be compared.
    if n_boot < 1:
        raise ValueError("The drift check needs the batch's own intervals: n_boot >= 1.")
    _check_alpha(alpha)
    spec = bundle.spec
    known, groups = bundle.target_values, bundle.known_groups()
    # Rows of groups the record does not have are compared with nothing there: 'diverse' or a
    # blank sex made groups of their own, one-row cells that put DP(sex & age) at 1.0 (lifecycle
    # audit, session 45). The record's groups against the same groups in the batch.
    why, labels, outside = _comparable(spec, frame, known, groups, labels)
    if why is not None:
        return None
    y = labels.y
    keep = (y >= 0) & ~outside
    # As the record was built (its "ranks"): the manifest's decision fields do not carry it, and
    # a calibrated group-threshold bundle's score wrote no ROC AUC and compared no calibration
    # gap where its record gives both (numbers audit, session 53).
    ranks = ranks_of(bundle.record["content"]["selected"])
    rep = fairness_report(y[keep], np.asarray(scores)[keep],
                          frame.loc[keep, spec.sensitive].reset_index(drop=True),
                          threshold=bundle.threshold, n_boot=n_boot,
                          # as the record and the sweep table: a group-threshold model's scores are
                          # decisions, which have no ROC AUC (metrics.NO_RANKING)
                          ranks=ranks)
    # A model whose scores are its decisions has no calibration gap worth watching (OF_SCORES):
    # the record calls it n/a, and score kept comparing it (number audit, session 45).
    watched = WATCHED if ranks else tuple(m for m in WATCHED if m not in OF_SCORES)
    recorded_groups = bundle.metrics["test"].get("by_group") or []
    # A record of results revision 10 or later left thin TPRs and FPRs out of its gaps; an older
    # one counted them (review of session 48: compared as if it had not).
    revision = results_revision(bundle.record)
    skip = (incomparable_gaps(recorded_groups, rep.by_group, thin_left_out=revision is not None and revision >= 10)
            if recorded_groups else {})
    result = compare_gaps(bundle.metrics["test"]["gaps"], rep.gaps, metrics=watched, alpha=alpha, skip=skip)
    then = bundle.metrics["test"]["overall"]
    acc_then = then["accuracy"]
    # Who is positive and whom the model selects, beside the record's: a batch whose base rate fell
    # from 0.346 to 0.195 read "0 of 10 gaps differ" and nothing else (new-user audit, session 52).
    # Shown, not tested: the gaps are what the check compares. A record older than the base rate
    # (results revision 7) shows the batch's alone.
    shares = "".join(f", {label} {rep.overall[key]:.3f}" + (f" (recorded {then[key]:.3f})" if key in then else "")
                     for key, label in (("base_rate", "base rate"), ("selection_rate", "selection rate")))
    unread = sum(labels.unread.values())
    apart = int(((y >= 0) & outside).sum())
    summary = (f"New batch: {int(keep.sum()):,} labelled rows"
               + (f" ({unread:,} more with a value the model was not trained on, read as not labelled)"
                  if unread else "")
               + (f" ({apart:,} more of groups the record does not have, left out)" if apart else "")
               + ", accuracy "
               f"{rep.overall['accuracy']:.3f} (recorded {acc_then:.3f}){shares}; "
               f"{len(result['drift'])} of {result['checked']} fairness gaps differ from the "
               f"recorded ones beyond both samples' noise (two-sample test, Holm-corrected, "
               f"alpha {alpha:g})"
               + (f"; {len(result['not_compared'])} not compared (" + _not_compared_text(result["not_compared"]) + ")"
                  if result["not_compared"] else "") + ".")
    return {**result, "summary": summary, "overall": rep.overall, "unread_labels": labels.unread,
            "gaps": rep.gaps.reset_index().to_dict(orient="records"),
            "by_group": rep.by_group.to_dict(orient="records"), "watched": list(watched),
            # Which groups each batch gap left out or compared though thin (numbers audit, session
            # 49: score said nothing of the group a batch's equal-opportunity gap left out).
            "notes": rep.notes,
            # The calibration errors' intervals are this batch's own bootstrap; the record's were
            # its export's (export audit, session 51: two intervals for one ECE, neither said whose).
            "intervals": ("This batch's own, from its rows: the rates' and gaps' computed from their counts"
                          + (f", the calibration errors' (ECE) from {n_boot} bootstrap resamples" if ranks else "")
                          + "; the record's intervals are its export's, from its test rows."),
            "gap_metrics": GAP_METRICS}
