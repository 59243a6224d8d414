"""Glue for the Trade-offs page: the selected run, its metrics with intervals, chart clicks.

The selected run lives in ``ui.results.SELECTED_RUN``. The method selectbox, the eta slider and a
click on the frontier chart all change it, and each keeps the other two in step: a click writes
the clicked run's method and eta into the two widgets' state (in a callback, before they are
drawn), and a widget change picks the run of that method and eta.

The slider's stops are a method's models ordered along its trade-off (:func:`slider_stops`);
with several seeds the chart, the stops and the panel show each setting's mean over the seeds
(:func:`fairkit.frontier.settings`) unless one seed is opened. The panel reads each run's intervals from its
record (the sweep computed them); :func:`run_metrics` computes them for a run stored without.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import streamlit as st

from fairkit.frontier import (
    PERFORMANCE_AXES,
    UNFAIRNESS_AXES,
    below_chance_mask,
    best_within,
    constant_mask,
    metric_column,
    pareto_front,
    sweep_front,
    within_tolerance,
)
from fairkit.frontier import one_decision_note as engine_one_decision_note
from fairkit import plots
from fairkit.methods import FAIRNESS_DEFINITIONS, METHODS, role_of, scores_rank
from fairkit.metrics import (NO_RANKING, NOISE_FLOOR_SHUFFLE, OF_SCORES, SWEEP_THRESHOLD, chance_gap_is_zero, chance_level,
                             default_performance, in_sentence, metric_value, no_better_than_chance,
                             noise_floor_sentence)
from fairkit.metrics import rare_outcome  # noqa: F401  (the engine's rule, read by the page as ut.rare_outcome)
from fairkit.record import fmt, fmt_deciding, fmt_eta, fmt_interval, with_interval
from fairkit.store import StoreError
from fairkit.sweep import REPORT_N_BOOT, chance_gaps, paired_changes, report_fields

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
METRICS_UPDATING_ALT = "Selected model metrics (updating)"
N_BOOT = REPORT_N_BOOT

# Rows of the side panel: (label, key in a fairkit report, kind). Unfairness rows read
# "lower is fairer"; 1 - DI is derived from the disparate impact ratio like the chart axis.
PANEL_ROWS = [
    ("Accuracy", "accuracy", "overall"),
    ("Balanced accuracy", "balanced_accuracy", "overall"),
    ("ROC AUC", "roc_auc", "overall"),
    # Whom it selects beside how often the outcome is positive: a model within the tolerance that
    # approved 4 % where 35 % were approved read as any other (new-user audit, session 52).
    ("Selection rate", "selection_rate", "overall"),
    ("Base rate (positive outcomes)", "base_rate", "part"),
    *((label, key, "gap") for key, label in UNFAIRNESS_AXES.items()),
    ("Largest group calibration error (ECE)", "max_group_ece", "gap"),
]


#: The fairness definition the unfairness axis was last set for (a ``w.`` key: a reload keeps it).


def definition_gap(fairness: str | None) -> str:
    """The unfairness axis of a sweep's fairness definition (its gap), demographic parity's when
    the definition has none among the axes."""
    gap = FAIRNESS_DEFINITIONS[fairness].gap_metric if fairness in FAIRNESS_DEFINITIONS else None
    return gap if gap in UNFAIRNESS_AXES else "demographic_parity_difference"


def _axis_set_for() -> str | None:
    """The fairness definition the unfairness axis was last set for (this run, else remembered)."""
    return state.widget_value(state.context_key(W_UNFAIRNESS))


def prepare_unfairness(fairness: str | None) -> str:
    """Before the unfairness axis is drawn: the gap of the definition the sweep's methods
    targeted, unless the user chose another axis for a sweep of that definition. A sweep of
    another definition starts on its own gap again (a choice made for one definition would
    otherwise show another gap than the Train page, the record and the search judge)."""
    return state.prepare_widget(W_UNFAIRNESS, definition_gap(fairness), list(UNFAIRNESS_AXES), context=fairness)


def chosen_axes(fairness: str | None = None) -> tuple[str, str]:
    """The unfairness and performance axes last chosen on the Trade-offs page (before any
    choice, the gap of ``fairness``, the sweep's definition, and accuracy)."""
    ss = st.session_state
    memory = ss.get(state.WIDGET_MEMORY, {})
    pick = lambda key, default: ss.get(key) or memory.get(key) or default  # noqa: E731
    if fairness is not None and _axis_set_for() != fairness:
        unfairness = definition_gap(fairness)  # the axis not yet set for this sweep's definition
    else:
        unfairness = pick(W_UNFAIRNESS, definition_gap(fairness))
    return unfairness, pick(W_PERFORMANCE, "accuracy")


#: A method's name on every page, flagged when it needs the sensitive attribute to predict.
method_label = plots.method_label

def base_rate(results: pd.DataFrame, part: str) -> float:
    """Share of positive outcomes in a part (``"val"`` or ``"test"``) of the split, as the sweep
    recorded it (``<part>_base_rate``, what the frontier's chance rule reads); NaN when the
    table has none."""
    rates = pd.to_numeric(results.get(f"{part}_base_rate", pd.Series(dtype=float)), errors="coerce").dropna()
    return float(rates.iloc[0]) if len(rates) else float("nan")


#: The data the performance axis was last chosen for (not a "w." key: not a choice to remember).
AXIS_DATA = "tradeoffs.axis_data"


def prepare_performance(data_key: str, rate: float) -> str:
    """Give the performance axis its value before it is drawn: the one chosen for this data, or
    :func:`default_performance` for data seen here for the first time (an axis chosen on Adult
    does not carry accuracy over to rare positives)."""
    ss = st.session_state
    if ss.get(AXIS_DATA, data_key) != data_key:
        ss.pop(W_PERFORMANCE, None)
        ss.get(state.WIDGET_MEMORY, {}).pop(W_PERFORMANCE, None)
    ss[AXIS_DATA] = data_key
    return state.prepare_widget(W_PERFORMANCE, default_performance(rate), list(PERFORMANCE_AXES))


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


def sync_selection(results: pd.DataFrame, unfairness: str | None = None, performance: str = "accuracy") -> None:
    """Give the method and eta widgets valid values that agree with ``SELECTED_RUN``.

    Call before drawing the two widgets. A selected run that is not in ``results`` (another
    sweep) is dropped; with nothing selected, the first method is chosen at the most accurate
    model of its front on ``unfairness`` and ``performance`` (:func:`fairkit.frontier.sweep_front`):
    a model exported without moving the slider is then on the frontier. With no front (every
    model constant or no better than one decision for everyone), or no axes given, its smallest eta.
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
    default_eta = etas[0]
    if row and row["method"] == method:
        default_eta = float(row["eta"])
    elif unfairness is not None:
        front = sweep_front(results[results["method"] == method], unfairness=unfairness, performance=performance)
        if not front.empty:
            default_eta = float(front.loc[front["performance_val"].idxmax(), "eta"])
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


# --------------------------------------------------------------------------- seeds and slider stops

W_SEED = "w.tradeoffs.seed"
MEAN = "mean"  # the seeds control's value for "the mean over seeds"


def seeds_of(results: pd.DataFrame) -> list[int]:
    """The seeds a sweep trained, ascending."""
    return sorted({int(s) for s in results["seed"]}) if "seed" in results else [0]


def seed_label(value) -> str:
    return "Mean over the seeds" if value == MEAN else f"Seed {value}"


def seed_view(results: pd.DataFrame, seed) -> pd.DataFrame:
    """The runs of one seed, or every run for the mean over seeds."""
    return results if seed == MEAN else results[results["seed"] == seed]


def setting_row(table: pd.DataFrame, row: dict) -> dict:
    """The row of ``table`` (a :func:`fairkit.frontier.settings` table) for the method and eta of run ``row``."""
    rows = table[(table["method"] == row["method"]) & np.isclose(table["eta"].astype(float), float(row["eta"]))]
    return rows.iloc[0].to_dict()


#: What a slider stop adds for a model no better than one decision for everyone.
BELOW_CHANCE_STOP = ", no better than one decision for everyone"


def slider_stops(table: pd.DataFrame, method: str, unfairness: str, performance: str) -> dict:
    """The eta slider's stops for ``method``: eta -> label, in slider order.

    The stops run along the method's trade-off, from its least fair model to its fairest by
    validation unfairness (so one step is one step along the curve, however unevenly the etas
    lie), each labelled with its validation gap and performance and, beside them, its eta.
    Constant models come last, labelled as such: their zero gaps are no place on the curve.
    A model that scores no better than one decision for everyone (off every front,
    :func:`fairkit.frontier.below_chance_mask`) keeps its place and says so.
    """
    rows = table[table["method"] == method]
    u = metric_column(rows, "val", unfairness).to_numpy(dtype=float)
    p = metric_column(rows, "val", performance).to_numpy(dtype=float)
    flat = constant_mask(rows)
    below = below_chance_mask(rows, performance)
    order = sorted(range(len(rows)), key=lambda i: (bool(flat[i]), -u[i] if np.isfinite(u[i]) else math.inf,
                                                    float(rows["eta"].iloc[i])))
    perf = in_sentence(PERFORMANCE_AXES[performance])
    # Runs whose every figure agrees (an eta that moved no decision: thresholds at the same
    # points, a constraint never active) would be stops that change nothing: each says so.
    figures = rows[[c for c in rows.columns if c.startswith(("val_", "test_"))]]
    fingerprint = pd.util.hash_pandas_object(figures.round(12), index=False).to_numpy()
    stops, first = {}, {}
    for i in order:
        eta = float(rows["eta"].iloc[i])
        twin = first.setdefault(fingerprint[i], eta)
        same = f" · same figures as eta {fmt_eta(twin)}" if twin != eta else ""
        # A model that decides has no ROC AUC (NO_RANKING): its stop says so, not "nan".
        shown = f"{fmt(p[i])}" if np.isfinite(p[i]) else "n/a"
        stops[eta] = (f"constant model (eta {fmt_eta(eta)}){same}" if flat[i]
                      else f"validation: gap {fmt(u[i])} · {perf} {shown}{BELOW_CHANCE_STOP if below[i] else ''} "
                           f"(eta {fmt_eta(eta)}){same}")
    return stops


def gap_against(value: float, tolerance: float) -> str:
    """``value`` as the panel writes it beside its verdict on ``tolerance``
    (:func:`fairkit.record.fmt_deciding`: the digits the verdict needs)."""
    return fmt_deciding(value, 3, lambda u: within_tolerance(u, tolerance))


def offered_tolerance(bracketed) -> float:
    """The tolerance the page offers first: a sweep's bracketed tolerance, the strictest of
    several (the committee loosens it if nothing there will do), else 0.2 (the 80% rule on
    '1 - disparate impact ratio')."""
    from fairkit.sweep import tolerances

    # A command line's sweep stored before tolerances above 1 were refused may hold one: not offered.
    kept = [t for t in np.atleast_1d(np.asarray(bracketed if bracketed is not None else [], dtype=float)) if t <= 1]
    return next(iter(tolerances(kept)), 0.2)


def tolerance_pick(table: pd.DataFrame, unfairness: str, performance: str, tolerance: float) -> dict | None:
    """The best-performing usable model within ``tolerance`` on validation (None if there is none).

    The engine's pick (:func:`fairkit.frontier.best_within`, as in
    :func:`fairkit.sweep.sweep_to_tolerance`); constant models are never picked.
    """
    row = best_within(table, tolerance, unfairness=unfairness, performance=performance)
    return None if row is None else row.to_dict()


def on_pick(row: dict) -> None:
    """Callback of 'Select it': the tolerance pick becomes the selection."""
    ss = st.session_state
    ss[ur.SELECTED_RUN] = row["run_id"]
    ss[W_METHOD] = row["method"]
    ss[W_ETA] = float(row["eta"])


# --------------------------------------------------------------------------- metrics

def report_notes(row: dict) -> list[tuple[str, str]]:
    """``[(part, note), ...]``: the run's report notes, validation's first, a note both parts
    share said once. The page showed the test notes only, while the frontier and the tolerance
    read the validation gaps (numbers audit, session 49)."""
    val = [x for x in str(row.get("val_report_notes") or "").splitlines() if x]
    test = [x for x in str(row.get("test_report_notes") or "").splitlines() if x]
    return ([("Validation and test data" if x in test else "Validation data (the frontier's)", x) for x in val]
            + [("Test data", x) for x in test if x not in val])


def has_intervals(row: dict) -> bool:
    """Whether a run's row carries its intervals (:func:`fairkit.sweep.report_fields`)."""
    n = row.get("report_n_boot")
    return n is not None and not (isinstance(n, float) and math.isnan(n))


@st.cache_data(show_spinner=False, max_entries=64)
def run_metrics(data_key: str, run_id: str, _split) -> dict:
    """A run's 95% intervals and report notes, for a run stored without them (cached per run).

    Runs a dashboard sweep trained carry these in their record (the sweep computed them); runs
    from elsewhere (the CLI, an older store) get them here, once.
    """
    return report_fields(ur.model(run_id), _split, N_BOOT)


@st.cache_data(show_spinner=False, max_entries=64)
def _chance_floor(data_key: str, run_id: str, unfairness: str, _split) -> dict:
    # The engine's shuffles and seed, as the decision record's chance gap takes them: one model
    # on one set of rows has one chance gap (about 0.8 s on Adult's validation rows, once per run).
    floor = chance_gaps(ur.model(run_id), _split, "validation")
    return {k: floor.loc[unfairness, k] for k in ("median", "q95", "rows", "n_sim")}


def chance_gap(data_key: str, run_id: str, unfairness: str, split) -> dict | None:
    """The validation gap on ``unfairness`` a model fair in the population would show by chance
    (:func:`fairkit.sweep.chance_gaps` of this run: ``median``, ``q95``, ``rows``, ``n_sim``,
    cached per run); ``{"error": ...}`` when the run's model cannot be loaded (the panel's stored
    figures still show; a failure is not cached), None for an axis it does not simulate."""
    if unfairness not in NOISE_FLOOR_SHUFFLE:
        return None
    return _or_refusal(_chance_floor, data_key, run_id, unfairness, split)


def _or_refusal(cached, *args) -> dict:
    """``cached(*args)``, or ``{"error": ...}`` when the store refuses a model it reads: the
    panel's stored figures still show, and the failure is not cached (a model that loads again
    is measured)."""
    try:
        return cached(*args)
    except StoreError as exc:
        return {"error": str(exc)}


@st.cache_data(show_spinner=False, max_entries=64)
def _paired_changes(data_key: str, run_id: str, baseline_run_id: str, _split) -> dict:
    return paired_changes(ur.model(run_id), ur.model(baseline_run_id), _split, "test")


def paired_change(data_key: str, row: dict, baseline: dict | None, split) -> dict | None:
    """The selected run's test accuracy against the unconstrained run's, paired on the same rows
    (:func:`fairkit.sweep.accuracy_change`: ``change``, ``low``, ``high``, ``disagree``,
    ``rows``), and each gap's change with its paired interval (``gaps``,
    :func:`fairkit.sweep.gap_changes`), from one scoring of each model
    (:func:`fairkit.sweep.paired_changes`); cached per pair. None without a second run to compare with; ``{"error": ...}``
    when a model cannot be loaded (the stored figures still show; a failure is not cached)."""
    if baseline is None or not row.get("run_id") or not baseline.get("run_id") or row["run_id"] == baseline["run_id"]:
        return None
    return _or_refusal(_paired_changes, data_key, str(row["run_id"]), str(baseline["run_id"]), split)


def paired_change_note(change: dict) -> str:
    """What the accuracy change's interval means, in words."""
    if "error" in change:
        return f"The interval of the accuracy change could not be computed: {change['error']}"
    if change.get("same_scores"):
        return (f"The two models give each of the {change['rows']:,} test rows the same score (to 6 decimals): on these rows "
                "they are one model, so every change is 0 and its bracket exact. The bracket of the "
                f"accuracy change, {fmt(change['low'], signed=True)} to {fmt(change['high'], signed=True)}, is "
                "how large a difference on new rows those rows leave possible (95% score interval).")
    if change["disagree"] == 0:
        return (f"The two models decide all {change['rows']:,} test rows alike, so their test accuracies "
                f"are equal; the bracket of the accuracy change, {fmt(change['low'], signed=True)} to "
                f"{fmt(change['high'], signed=True)}, is how large a difference on new rows those rows "
                "leave possible (95% score interval).")
    # Tango's score interval holds its level from the first few rows decided differently (92-100 %
    # of simulated samples with 1-4 such rows expected, where the normal interval held 63-94 %:
    # benchmarks/README.md, session 41), so the bracket is read as an interval at any count.
    real = ("a real cost" if change["high"] < 0 else "a real gain" if change["low"] > 0
            else "within what chance gives")
    verdict = f"so the change is {real}"
    return (f"Accuracy's change in brackets: the 95% interval of the paired difference on the same "
            f"{change['rows']:,} test rows (the two models decide {change['disagree']:.1%} of them "
            f"differently); {verdict}. The gaps' changes in brackets: the 95% interval of "
            "the two models' difference on the same bootstrap resamples of those rows.")


def gaps_reaching_zero(row: dict, baseline: dict | None, change: dict | None = None) -> list[str]:
    """The panel's gaps whose test interval, for the model or its baseline, reaches 0.

    None when ``change`` (:func:`paired_change`) found the two models' test scores equal: then
    every change and its bracket are exactly 0.

    The change of such a gap is less certain than its bracket: the bracket comes from the two
    gaps' difference on the same resamples, and a gap that may be 0 is biased under resampling
    (noise always widens a spread), differently for each model. In the coverage audit's
    simulations (2026-12-06; groups of 700 and 300, two models deciding nearly the same rows)
    those brackets held the true change in 67-92 % of samples where a gap was 0 or 0.01,
    against 91-99 % where both were 0.06 or more. The intervals tried that hold there (bounds
    on the noise of a max, with or without the pairing) were 1.4-12 times as wide in every case
    (benchmarks/README.md), so the panel says so instead.
    """
    if baseline is None or (change or {}).get("same_scores"):
        return []
    out = []
    for label, key, kind in PANEL_ROWS:
        if kind != "gap":
            continue
        for r in (row, baseline):
            try:
                _, low, _ = metric_value(r, key, prefix="test_")
            except KeyError:
                continue
            if low is not None and math.isfinite(float(low)) and float(low) <= 0:
                out.append(label)
                break
    return out


def zero_gap_note(labels: list[str]) -> str:
    """The caution for :func:`gaps_reaching_zero`'s gaps, in words."""
    names = ", ".join(in_sentence(label) for label in labels)
    return (f"The change of {names}: the model's or its baseline's gap may be 0 (its interval reaches "
            "0), and there the bracket of a change is too narrow (in simulations it held the true "
            "change in 67-92 % of samples, not 95 %). Read such a change with both gaps' own intervals.")


def chance_note(floor: dict, unfairness: str, tolerance: float) -> str | None:
    """What the chance gap says of a validation gap and the tolerance, in words; None for a model
    whose chance gap is 0 (:func:`fairkit.metrics.chance_gap_is_zero`: the record says none either)."""
    axis = in_sentence(UNFAIRNESS_AXES[unfairness])
    if "error" in floor:
        return f"The validation {axis} chance alone gives could not be measured: {floor['error']}"
    if chance_gap_is_zero(floor):
        return None
    text = noise_floor_sentence(floor, f"validation {axis}", f"these {int(floor['rows']):,} rows",
                                f"as the frontier compared them (uncalibrated, at the threshold {SWEEP_THRESHOLD:.2f})") + "."
    if tolerance < floor["median"]:
        text += (f" The tolerance {tolerance:g} is below that: a model meets it on validation by luck more "
                 "often than by design; read its test gap and intervals, or loosen the tolerance.")
    return text


def _row_value(row: dict, split: str, key: str) -> float | None:
    try:
        v = metric_value(row, key, prefix=f"{split}_")[0]
    except KeyError:  # runs stored before the metric was recorded
        return None
    return None if v is None or not math.isfinite(float(v)) else float(v)


FRONT_TABLE_ALT = "The frontier as a table"


def front_rows(table: pd.DataFrame, unfairness: str, performance: str) -> pd.DataFrame:
    """The chart's frontier as a table, for a reader who cannot hover a chart (a keyboard, a
    screen reader): each method's front from its least to its fairest model, with validation
    figures (where it was chosen) and test figures with the intervals the runs carry."""
    front = pareto_front(table, unfairness=unfairness, performance=performance, by="method")
    if front.empty:
        return pd.DataFrame()
    rows = table.drop_duplicates("run_id").set_index("run_id")
    out = []
    for _, f in front.iterrows():
        row = {**rows.loc[f["run_id"]].to_dict(), "run_id": f["run_id"]} if f["run_id"] in rows.index else f.to_dict()
        out.append({"Method": method_label(f["method"]), "eta": fmt_eta(f["eta"]),
                    f"Validation {in_sentence(UNFAIRNESS_AXES[unfairness])}": f"{fmt(f['unfairness_val'])}",
                    f"Validation {in_sentence(PERFORMANCE_AXES[performance])}": f"{fmt(f['performance_val'])}",
                    f"Test {in_sentence(UNFAIRNESS_AXES[unfairness])}": shown_value(row, "test", unfairness),
                    f"Test {in_sentence(PERFORMANCE_AXES[performance])}": shown_value(row, "test", performance)})
    return pd.DataFrame(out)


def shown_value(row: dict, split: str, key: str) -> str:
    """A metric as the panel shows it: ``value [low, high]`` when the row has the interval
    (:func:`fairkit.record.with_interval`, as the record writes it)."""
    return with_interval(row, key, prefix=f"{split}_")


def panel_table(row: dict, baseline: dict | None, change: dict | None = None) -> pd.DataFrame:
    """The side panel's table: one row per metric, validation and test with the intervals the
    row carries, and the test change against the unconstrained model. A model whose scores are
    decisions (group thresholds) has no ROC AUC (:data:`fairkit.metrics.NO_RANKING`).

    ``change`` (:func:`paired_change`) gives the accuracy change and each gap's change their
    paired intervals.

    ``row`` is a run's row (its intervals from :func:`fairkit.sweep.report_fields`, or none
    yet: the values alone) or a setting's mean over seeds (:func:`fairkit.frontier.seed_summary`,
    whose brackets are the range over the seeds).
    """
    rows = []
    ranked = scores_rank(row["method"])
    header = change_header(baseline)
    for label, key, kind in PANEL_ROWS:
        cell = "n/a"  # the part's own figure (kind "part") is every model's: no change
        if key in OF_SCORES and not ranked:  # whatever an older store holds for it
            rows.append({"Metric": label, "Validation": NO_RANKING, "Test": NO_RANKING, header: cell})
            continue
        if baseline is not None and kind != "part":
            a, b = _row_value(row, "test", key), _row_value(baseline, "test", key)
            if a is not None and b is not None:
                cell = fmt(a - b, signed=True)
                if key == "accuracy":  # a refusal ({"error": ...}) has no interval
                    paired = change if change and "low" in change else None
                else:
                    paired = (change or {}).get("gaps", {}).get(key)
                if paired is not None and np.isfinite(paired["low"]) and np.isfinite(paired["high"]):
                    cell = fmt_interval(paired["change"], paired["low"], paired["high"], signed=True)
        rows.append({"Metric": label, "Validation": shown_value(row, "val", key), "Test": shown_value(row, "test", key),
                     header: cell})
    return pd.DataFrame(rows)


def change_header(baseline: dict | None) -> str:
    """The panel's change column, named after the model it is taken against: without an
    unconstrained run in the sweep that is this method at eta 0, and the column still read "vs
    unconstrained" (a fairer method's DP change +0.022 against its own eta 0, -0.034 against the
    unconstrained model: number audit, session 45)."""
    if baseline is None or role_of(baseline["method"]) == "baseline":
        return "Change vs unconstrained (test)"
    return "Change vs this method at eta 0 (test)"


def one_decision_note(row: dict, split: str = "val") -> str | None:
    """A warning when the run gives (almost) every row of ``split`` the same decision, else None.

    Strong fairness terms can end in such a model: every gap is about zero because nobody is
    told apart. On validation it is off the frontier; on test (``split="test"``) it can be on the
    frontier, chosen on validation, with a test gap of about zero that says nothing about fair
    treatment. Runs stored before ``selection_rate`` was recorded give None.
    """
    # The engine's one constant-model rule and its one wording (the record's too).
    on_front = row.get("on_front") if split != "val" else None
    return engine_one_decision_note(_row_value(row, split, "selection_rate"), split,
                                    on_front=None if on_front is None or pd.isna(on_front) else bool(on_front))


def below_chance_caption(results: pd.DataFrame, performance: str) -> str | None:
    """How many of the sweep's non-constant models score no better on validation ``performance``
    than one decision for everyone (off every front), and what to do when none beats it; None
    when every model does."""
    usable = results[~constant_mask(results)]
    below = int(below_chance_mask(usable, performance).sum())
    if not below:
        return None
    label = in_sentence(PERFORMANCE_AXES[performance])
    text = (f"{below} of {len(usable)} models score no better on validation {label} than giving everyone the same "
            "decision (the dashed line) and are kept off the fronts.")
    if below == len(usable):
        other = "balanced accuracy" if performance == "accuracy" else "another performance axis"
        text += f" No model beats it, so no front is drawn: compare on {other}, or revisit the features."
    return text


def below_chance_note(row: dict, performance: str = "accuracy") -> str | None:
    """A warning when the run scores no better on validation ``performance`` than one decision
    for everyone (the frontier's rule, :func:`fairkit.metrics.no_better_than_chance`), else None.

    None, too, for a constant model (:func:`one_decision_note` warns about it) and for runs
    stored before the base rate was recorded.
    """
    base, score = _row_value(row, "val", "base_rate"), _row_value(row, "val", performance)
    if one_decision_note(row) or score is None or not no_better_than_chance(
            score, performance, math.nan if base is None else base):
        return None
    level = chance_level(performance, math.nan if base is None else base)
    label = in_sentence(PERFORMANCE_AXES[performance])
    return (f"This model's validation {label} ({fmt(score)}) is no better than "
            f"giving everyone the same decision ({fmt(level)}), which has no gap at all: it is kept off the "
            "frontier. Treat it as a reference point, not a candidate.")


def axis_value(row: dict, split: str, metric: str) -> float:
    """One chart coordinate of a run (``metric`` is an axis key)."""
    return float(metric_column(pd.DataFrame([row]), split, metric).iloc[0])



# --------------------------------------------------------------------------- assistive search

def search_caption(view: pd.DataFrame) -> str | None:
    """What the chart's search points are: how many, the search's budget and objective, and that
    it chose none of them (None without search points)."""
    rows = plots.search_rows(view)
    if rows.empty:
        return None
    budget = next(iter(rows["search_budget"].dropna()), "?") if "search_budget" in rows else "?"
    objective = next(iter(rows["search_objective"].dropna()), "?") if "search_objective" in rows else "?"
    n_unstable = int(plots.unstable_flags(rows).sum())
    unstable = (f" {n_unstable} of them moved more than their 95% interval when retrained on other splits "
                "(marked unstable)." if n_unstable else "")
    return (f"{len(rows)} points (ringed) were proposed by an assistive search (budget {budget}; objective: "
            f"{objective}). It widens the set of candidates; it chose none of them.{unstable}")
