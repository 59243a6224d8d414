"""Glue for the Groups page: a run's metrics by group, and group calibration before/after.

Everything here is cached per run (and per part, attribute and calibration method), so moving
between attributes or methods does not recompute predictions or bootstrap intervals. Group
calibration is :func:`fairkit.calibration.calibrate_on_validation`, the call the Export page
bundles from.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from fairkit.calibration import GLOBAL, calibrate_on_validation, map_name
from fairkit.diagnostics import reliability_curve, reliability_intervals
from fairkit.groups import MIN_GROUP_SIZE, first_few, group_hierarchy
from fairkit.metrics import NO_RANKING, TOO_FEW, fairness_report
from fairkit.record import fmt, fmt_pair, group_rate_text
from fairkit.sweep import predict_scores

from . import results as ur
from .display import md

W_PART = "w.groups.part"
W_ATTRIBUTE = "w.groups.attribute"
W_CAL_METHOD = "w.groups.cal_method"
PARTS = {"test": "Test", "validation": "Validation"}
CAL_METHODS = {"platt": "Platt (logistic)", "isotonic": "Isotonic", "temperature": "Temperature"}
N_BOOT = 200
TABLE_ALT = "Metrics by group for "


def _part(split, name: str):
    return split.test if name == "test" else split.validation


@st.cache_data(show_spinner="Scoring the model...", max_entries=32)
def scores(data_key: str, run_id: str, part: str, _split) -> np.ndarray:
    """The run's positive-class probabilities on one part (``"validation"`` or ``"test"``)."""
    p = _part(_split, part)
    return predict_scores(ur.model(run_id), _split, p)


@st.cache_data(show_spinner="Computing group metrics with bootstrap intervals...", max_entries=32)
def by_group(data_key: str, run_id: str, part: str, _split) -> tuple[pd.DataFrame, list]:
    """``fairness_report(...).by_group`` (with 95% intervals) and its small-group notes."""
    p = _part(_split, part)
    rep = fairness_report(p.y, scores(data_key, run_id, part, _split), p.sensitive,
                          n_boot=N_BOOT, min_group_size=MIN_GROUP_SIZE)
    return rep.by_group, rep.notes


def attribute_columns(sensitive: pd.DataFrame) -> dict[str, list]:
    """Level name (``"sex"``, ``"sex & race"``) -> its sensitive columns."""
    return {level.name: list(level.columns) for level in group_hierarchy(sensitive)}


def format_groups(table: pd.DataFrame, attribute: str, ranks: bool = True) -> pd.DataFrame:
    """Display text for one attribute's rows of a by-group table; ``ranks`` False (a model whose
    scores are its decisions, :func:`fairkit.methods.scores_rank`): no ECE, as the record says."""
    rows = table[table["attribute"] == attribute]
    out = pd.DataFrame({
        "Group": rows["group"].astype(str),
        "Rows": rows["n"].map("{:,}".format),
        "Positive rate": rows.apply(group_rate_text, axis=1, metric="base_rate"),
        "Selection rate": rows.apply(group_rate_text, axis=1, metric="selection_rate"),
        "TPR": rows.apply(group_rate_text, axis=1, metric="tpr"),
        "FPR": rows.apply(group_rate_text, axis=1, metric="fpr"),
        "Accuracy": rows.apply(group_rate_text, axis=1, metric="accuracy"),
        # A decision model's ECE only restates its error rate: the record and the Trade-offs page
        # say n/a, and this table showed a figure beside them (session 45's left-out).
        "ECE": rows.apply(group_rate_text, axis=1, metric="ece") if ranks else NO_RANKING,
    })
    out["Note"] = np.where(rows["small"], f"small (under {MIN_GROUP_SIZE} rows): uncertain", "")
    return out.reset_index(drop=True)


@st.cache_data(show_spinner=False, max_entries=32)
def reliability(data_key: str, run_id: str, part: str, attribute: str, _split) -> pd.DataFrame:
    """Reliability-curve points per group of ``attribute`` on one part."""
    p = _part(_split, part)
    cols = attribute_columns(p.sensitive)[attribute]
    return reliability_curve(p.y, scores(data_key, run_id, part, _split), p.sensitive[cols])


@st.cache_data(show_spinner=False, max_entries=32)
def reliability_overall(data_key: str, run_id: str, part: str, _split) -> pd.DataFrame:
    """Reliability-curve points of all rows of one part together (each group's comparison)."""
    p = _part(_split, part)
    return reliability_curve(p.y, scores(data_key, run_id, part, _split))


def reliability_table(curve: pd.DataFrame) -> pd.DataFrame:
    """The reliability figure's numbers as a table (a screen reader, a keyboard, or a reader who
    wants the figures gets them without hovering): each group's bins with the mean predicted
    probability, the observed rate with its interval (the figure's band) and the rows."""
    low, high = reliability_intervals(curve)
    observed = [f"{fmt(v)} [{fmt(lo)}, {fmt(hi)}]" if np.isfinite(lo) and np.isfinite(hi) else f"{fmt(v)} ({TOO_FEW})"
                for v, lo, hi in zip(curve["fraction_positive"], low, high)]
    return pd.DataFrame({
        "Group": curve["group"].astype(str).to_numpy(),
        "Scores in bin": [f"{a:.1f} to {b:.1f}" for a, b in zip(curve["bin_lower"], curve["bin_upper"])],
        "Mean predicted": [f"{fmt(v)}" for v in curve["mean_predicted"]],
        "Observed rate and 95% interval": observed,
        "Rows": [f"{int(n):,}" for n in curve["count"]],
    })


#: The reliability plot's choice: every group as a small multiple, or one group.
ALL_GROUPS = "All groups"
W_RELIABILITY_GROUP = "w.groups.reliability_group"


@st.cache_resource(show_spinner=False, max_entries=32)
def calibration_check(data_key: str, run_id: str, method: str, _split):
    """:func:`fairkit.calibration.calibrate_on_validation` of a run, fitted once per data, run and
    method for every page that needs it (this one's figures, the Export page's warning, threshold
    table and bundle). Shared, not copied: nothing reading it changes it.

    Returns
    -------
    fairkit.calibration.CalibrationCheck
    """
    return calibrate_on_validation(ur.model(run_id), _split, method=method)


@st.cache_data(show_spinner="Fitting group calibration...", max_entries=32)
def calibrate(data_key: str, run_id: str, method: str, _split) -> dict:
    """:func:`fairkit.calibration.calibrate_on_validation` for a run, as display data.

    The grouping is the engine's default (every sensitive attribute), the one the Export page
    bundles: what this page shows is the calibrator the committee receives.

    Returns
    -------
    dict
        ``attribute`` (the grouping's name), ``ece_before`` / ``ece_after`` (largest group ECE
        on test), ``per_group`` (ECE of each group before and after, display text),
        ``curve_after`` (reliability points after calibration, by group), ``overall_after``
        (the same for all test rows together), ``global_map`` (why the map of all rows keeps the
        scores as they are, or ""), ``fallbacks`` (group -> what
        it used instead of its own map, and why) and ``worse`` (``(group, ECE before, ECE
        after)`` of each group whose test ECE calibration raised).
    """
    check = calibration_check(data_key, run_id, method, _split)
    table = check.per_group()
    shown = [fmt_pair(b, a) for b, a in zip(table["ece_before"], table["ece_after"])]  # to the digits the change needs
    per_group = pd.DataFrame({
        "Group": table["group"].astype(str),
        "Test rows": table["n"].map("{:,}".format),
        "ECE before": [b for b, _ in shown],
        "ECE after": [a for _, a in shown],
        "Calibration map": table["map"].map(lambda m: m if m == "own" else f"falls back to {map_name(m)}"),
    })
    return {
        "attribute": check.attribute, "ece_before": check.ece_before, "ece_after": check.ece_after,
        "made_worse": check.made_worse,
        "per_group": per_group, "curve_after": check.after.calibration,
        "overall_after": reliability_curve(_split.test.y, check.scores_after),
        # The map of all rows kept the scores as they are (a Platt line that would reverse them).
        "global_map": getattr(check.calibrator, "global_note_", ""),
        # Of the whole table, as the record and the manifest list them (the page listed the test
        # part's, 5 of COMPAS's groups beside the record's 6: numbers audit, session 53).
        "fallbacks": {g: {"used": map_name(v["used"]), "reason": v["reason"]} for g, v in check.fallbacks(
            pd.concat([p.sensitive for p in _split.table_parts], ignore_index=True)).items()},
        "worse": [(str(g), float(b), float(a)) for g, b, a in table[["group", "ece_before", "ece_after"]]
                  .itertuples(index=False) if np.isfinite(b) and np.isfinite(a) and a > b],
        "n_groups": len(table),
    }


def ece_change(cal: dict) -> tuple[str, str, str]:
    """The largest group ECE before and after calibration, and the change, as shown: the change
    is that of the shown (rounded) figures, so the three always agree."""
    before, after = fmt_pair(cal["ece_before"], cal["ece_after"])
    if not (np.isfinite(cal["ece_before"]) and np.isfinite(cal["ece_after"])):
        return before, after, None  # "n/a" has no change (review of session 53: it raised)
    digits = len(after.split(".")[1]) if "." in after else 3
    return before, after, fmt(float(after) - float(before), digits, signed=True)


def calibration_words(cal: dict, method: str) -> str | None:
    """In words, when group calibration made calibration worse on test (its headline ECE or a
    group's); None when it made nothing worse.

    Parameters
    ----------
    cal : dict
        :func:`calibrate`'s result.
    method : str
        A key of :data:`CAL_METHODS`.
    """
    worse, label = cal["worse"], CAL_METHODS[method]
    if not cal["made_worse"] and not worse:
        return None
    before, after = fmt_pair(cal["ece_before"], cal["ece_after"])
    if cal["made_worse"]:
        text = (f"**Calibration made it worse here.** {label} calibration per group raised the largest "
                f"group ECE on test from {before} to {after}.")
    else:
        text = (f"{label} calibration per group lowered the largest group ECE on test ({before} to "
                f"{after}), but made some groups worse.")
    if worse:
        text += (f" It raised the ECE of {len(worse)} of {cal['n_groups']} group(s) of {md(cal['attribute'])}: "
                 # The first few: 2,032 of them made a box nobody reads (scale audit, session 46).
                 + first_few([f"{md(g)} ({' to '.join(fmt_pair(b, a))})" for g, b, a in worse], quote=str, sep="; ")
                 + ".")
    return text + (" Each map is fitted on its group's validation rows, and with few rows it can fit "
                   "their noise: try another method (temperature fits one parameter per group), or "
                   "export without calibration.")
