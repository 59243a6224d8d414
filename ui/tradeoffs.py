"""Glue for the Trade-offs page: the selected run, its metrics with intervals, chart clicks.

The selected run lives in ``ui.results.SELECTED_RUN``. The method selectbox, the eta slider and a
click on the frontier chart all change it, and each keeps the other two in step: a click writes
the clicked run's method and eta into the two widgets' state (in a callback, before they are
drawn), and a widget change picks the run of that method and eta.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import streamlit as st

from fairkit.frontier import ONE_DECISION_SHARE, UNFAIRNESS_AXES, metric_column
from fairkit.methods import METHODS, role_of
from fairkit.metrics import fairness_report, metric_value
from fairkit.sweep import predict_scores

from . import results as ur
from . import state

W_UNFAIRNESS = "w.tradeoffs.unfairness"
W_PERFORMANCE = "w.tradeoffs.performance"
W_TOLERANCE = "w.tradeoffs.tolerance"
W_PLOT_SPLIT = "w.tradeoffs.plot_split"
W_METHOD = "w.tradeoffs.method"
W_ETA = "w.tradeoffs.eta"
W_ACTOR = "w.tradeoffs.actor"
W_NOTE = "w.tradeoffs.note"
CHART_KEY = "tradeoffs.chart"  # not "w.": a chart selection is not a choice to remember
METRICS_ALT = "Selected model metrics"
N_BOOT = 200

# Rows of the side panel: (label, key in a fairkit report, kind). Unfairness rows read
# "lower is fairer"; 1 - DI is derived from the disparate impact ratio like the chart axis.
PANEL_ROWS = [
    ("Accuracy", "accuracy", "overall"),
    ("Balanced accuracy", "balanced_accuracy", "overall"),
    ("ROC AUC", "roc_auc", "overall"),
    *((label, key, "gap") for key, label in UNFAIRNESS_AXES.items()),
    ("Largest group calibration error (ECE)", "max_group_ece", "gap"),
]


def chosen_axes() -> tuple[str, str]:
    """The unfairness and performance axes last chosen on the Trade-offs page."""
    ss = st.session_state
    memory = ss.get(state.WIDGET_MEMORY, {})
    pick = lambda key, default: ss.get(key) or memory.get(key) or default  # noqa: E731
    return (pick(W_UNFAIRNESS, "demographic_parity_difference"),
            pick(W_PERFORMANCE, "accuracy"))


def method_label(name: str) -> str:
    """A method's title, flagged when it needs the sensitive attribute to predict."""
    m = METHODS.get(name)
    if m is None:
        return name
    return f"{m.label} (needs the attribute)" if m.needs_sensitive_at_predict else m.label


def etas_of(results: pd.DataFrame, method: str) -> list[float]:
    """The trained eta values of ``method``, ascending."""
    return sorted({float(e) for e in results.loc[results["method"] == method, "eta"]})


def pick_run(results: pd.DataFrame, method: str, eta: float, current: str | None = None) -> str | None:
    """The run of ``method`` at ``eta``: ``current`` when it is one, else the lowest seed's."""
    rows = results[(results["method"] == method) & np.isclose(results["eta"].astype(float), eta)]
    if rows.empty:
        return None
    if current is not None and (rows["run_id"] == current).any():
        return current
    return str(rows.sort_values("seed").iloc[0]["run_id"])


def baseline_row(results: pd.DataFrame, row: dict) -> dict | None:
    """The baseline model (the registry's role "baseline") to compare ``row`` with (same seed when possible).

    Without a baseline run in the sweep, the same method at eta = 0 stands in for it.
    """
    for candidates in (results[results["method"].map(role_of) == "baseline"],
                       results[(results["method"] == row["method"]) & (results["eta"] == 0)]):
        if not candidates.empty:
            same_seed = candidates[candidates["seed"] == row["seed"]]
            return (same_seed if not same_seed.empty else candidates).iloc[0].to_dict()
    return None


def sync_selection(results: pd.DataFrame) -> None:
    """Give the method and eta widgets valid values that agree with ``SELECTED_RUN``.

    Call before drawing the two widgets. A selected run that is not in ``results`` (another
    sweep) is dropped; with nothing selected, the first method's smallest eta is chosen.
    """
    ss = st.session_state
    methods = list(dict.fromkeys(results["method"]))
    row = ur.run_row(results, ss.get(ur.SELECTED_RUN))
    if row is None:
        ss.pop(ur.SELECTED_RUN, None)
    swept = [m for m in methods if len(etas_of(results, m)) > 1]
    default_method = row["method"] if row else (swept or methods)[0]
    method = state.prepare_widget(W_METHOD, default_method, methods)
    etas = etas_of(results, method)
    default_eta = float(row["eta"]) if row and row["method"] == method else etas[0]
    state.prepare_widget(W_ETA, default_eta, etas)


def on_chart_select(results: pd.DataFrame) -> None:
    """Callback of the frontier chart: a clicked marker becomes the selected run."""
    event = st.session_state.get(CHART_KEY)
    points = event.selection.points if event is not None else []
    for point in points:
        custom = point.get("customdata")
        if not custom:
            continue  # the highlight ring carries no run
        row = ur.run_row(results, str(custom[0]))
        if row is None:
            continue
        ss = st.session_state
        ss[ur.SELECTED_RUN] = row["run_id"]
        ss[W_METHOD] = row["method"]
        ss[W_ETA] = float(row["eta"])
        return


def select_from_widgets(results: pd.DataFrame, method: str, eta: float) -> dict:
    """Make the run of the widgets' method and eta the selected one; return its row."""
    run_id = pick_run(results, method, eta, st.session_state.get(ur.SELECTED_RUN))
    st.session_state[ur.SELECTED_RUN] = run_id
    return ur.run_row(results, run_id)


# --------------------------------------------------------------------------- metrics

def _report_values(y, scores, sensitive) -> dict:
    rep = fairness_report(y, scores, sensitive, n_boot=N_BOOT)
    attr = rep.primary_attribute
    gaps = rep.gaps.loc[attr]
    o = rep.overall
    out = {
        "accuracy": (o["accuracy"], o["accuracy_low"], o["accuracy_high"]),
        "balanced_accuracy": (o["balanced_accuracy"], o["balanced_accuracy_low"], o["balanced_accuracy_high"]),
        "roc_auc": (rep.overall["roc_auc"], None, None),
    }
    for _, key, kind in PANEL_ROWS:
        if kind == "gap":
            out[key] = metric_value(gaps, key)
    clean = {k: tuple(None if x is None or not math.isfinite(float(x)) else float(x) for x in v)
             for k, v in out.items()}
    return {"metrics": clean, "attribute": attr, "notes": list(rep.notes)}


@st.cache_data(show_spinner="Computing bootstrap intervals...", max_entries=64)
def run_metrics(data_key: str, run_id: str, _split) -> dict:
    """Validation and test metrics of a run with 95% bootstrap intervals (cached per run).

    Returns
    -------
    dict
        ``{"validation": {...}, "test": {...}}``, each ``{"metrics": {key: (value, low, high)},
        "attribute": finest grouping, "notes": small-group warnings}``.
    """
    model = ur.model(run_id)
    out = {}
    for name, part in (("validation", _split.validation), ("test", _split.test)):
        scores = predict_scores(model, _split, part)
        out[name] = _report_values(part.y, scores, part.sensitive)
    return out


def _fmt(value, low=None, high=None) -> str:
    if value is None:
        return "n/a"
    if low is None or high is None:
        return f"{value:.3f}"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def _row_value(row: dict, split: str, key: str) -> float | None:
    try:
        v = metric_value(row, key, prefix=f"{split}_")[0]
    except KeyError:  # runs stored before the metric was recorded
        return None
    return None if v is None or not math.isfinite(float(v)) else float(v)


def panel_table(metrics: dict, row: dict, baseline: dict | None) -> pd.DataFrame:
    """The side panel's table: one row per metric, validation and test with intervals, and the
    test change against the unconstrained model."""
    rows = []
    for label, key, _ in PANEL_ROWS:
        val = metrics["validation"]["metrics"][key]
        test = metrics["test"]["metrics"][key]
        change = "n/a"
        if baseline is not None:
            a, b = _row_value(row, "test", key), _row_value(baseline, "test", key)
            if a is not None and b is not None:
                change = f"{a - b:+.3f}"
        rows.append({"Metric": label, "Validation": _fmt(*val), "Test": _fmt(*test),
                     "Change vs unconstrained (test)": change})
    return pd.DataFrame(rows)


def one_decision_note(row: dict) -> str | None:
    """A warning when the run gives (almost) every validation row the same decision, else None.

    Strong fairness terms can end in such a model: every gap is about zero because nobody is
    told apart. Runs stored before ``selection_rate`` was recorded give None.
    """
    rate = _row_value(row, "val", "selection_rate")
    if rate is None or ONE_DECISION_SHARE < rate < 1 - ONE_DECISION_SHARE:
        return None
    decision = "positive" if rate >= 0.5 else "negative"
    share = rate if decision == "positive" else 1 - rate
    who = "every validation row" if share == 1 else f"{share:.1%} of validation rows"
    return (f"This model gives {who} the {decision} decision. Its fairness gaps are "
            "small because it tells almost nobody apart, not because it treats groups alike: treat "
            "it as a reference point, not a candidate.")


def axis_value(row: dict, split: str, metric: str) -> float:
    """One chart coordinate of a run (``metric`` is an axis key)."""
    return float(metric_column(pd.DataFrame([row]), split, metric).iloc[0])

