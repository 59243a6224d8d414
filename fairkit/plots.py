"""Plotly figures: the Pareto frontier (live and as exported), calibration curves by group,
group metric bars.

No streamlit here: the dashboard, the CLI and notebooks all draw the same figures. Every text
a figure shows that comes from data (group and method names, titles naming columns) goes through
:func:`plot_text`, so markup in it is shown, not obeyed.
"""

from __future__ import annotations

import html
import os
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import hex_to_rgb, qualitative

from .data import visible_text
from .frontier import (PERFORMANCE_AXES, SPLITS, UNFAIRNESS_AXES, below_chance_mask, constant_mask, decides_alike_on,
                       metric_column, pareto_front, settings)
from .methods import METHODS, role_of
from .metrics import chance_level, in_sentence, metric_value
from .record import fmt, fmt_eta
from .record import method_label as registry_label
from .diagnostics import reliability_intervals

#: Colours of the registry's methods, given out in registry order (so a method has the same
#: colour on every page and in every figure, whichever methods a table holds). Orange is left
#: out: it rings the selected model.
METHOD_PALETTE = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
                  "#d62728", "#aec7e8"]
#: The baseline (the registry's role "baseline", drawn as a star).
BASELINE_COLOUR = "#222222"
#: Colours of groups: Plotly's Dark24, whose first 20 are at least 29 apart in CIELAB (Delta E
#: 1976) on a white background (D3's 10 are 27.7 apart at best, and cycling them repeats a
#: colour from the 11th group on).
GROUP_PALETTE = list(qualitative.Dark24[:20])
#: Colours of the metrics in a bar chart of rates.
METRIC_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b"]
#: Appended to the name of a method that needs the sensitive attribute at prediction time.
NEEDS_ATTRIBUTE = " (needs the attribute)"


def method_colour(name: str) -> str:
    """The colour of a method in every figure: its place in the registry (see ``METHOD_PALETTE``).

    The baseline is :data:`BASELINE_COLOUR`; a name the registry lacks (a benchmark's baseline)
    gets a colour from a hash of its name, the same in every figure.
    """
    if role_of(name) == "baseline":
        return BASELINE_COLOUR
    return METHOD_PALETTE[_method_place(name) % len(METHOD_PALETTE)]


def _method_place(name: str) -> int:
    """A method's place among the registry's methods (not the baseline); a name the registry
    lacks gets one from a hash of its name, the same in every figure."""
    names = [m for m, spec in METHODS.items() if spec.role != "baseline"]
    return names.index(name) if name in names else len(names) + zlib.crc32(str(name).encode())


#: Marker shapes of the methods, in the registry's order as their colours: a reader who cannot
#: tell two colours apart (under protanopia the regularized and boosting colours are almost one,
#: accessibility audit 2026-12-06) tells the shapes apart. Not the shapes other marks use (the
#: baseline's star, a constant model's x, the search's diamonds).
METHOD_SYMBOLS = ["circle", "square", "triangle-up", "hexagon", "triangle-down", "pentagon", "cross",
                  "triangle-left", "triangle-right", "hourglass"]


def method_symbol(name: str) -> str:
    """The marker shape of a method in every figure, by the same place as :func:`method_colour`
    (the baseline's is the star it is drawn with)."""
    if role_of(name) == "baseline":
        return "star"
    return METHOD_SYMBOLS[_method_place(name) % len(METHOD_SYMBOLS)]


def method_label(name: str, needs_attribute: bool | None = None) -> str:
    """The name of a method on every page: the registry's title (:attr:`fairkit.methods.Method.label`),
    with :data:`NEEDS_ATTRIBUTE` when its models read the sensitive attribute to predict.

    Parameters
    ----------
    name : str
        Registry name (a name the registry lacks is shown as it is).
    needs_attribute : bool, optional
        Whether to add the flag; default: the registry's ``needs_sensitive_at_predict``.
    """
    if needs_attribute is None:
        m = METHODS.get(name)
        needs_attribute = bool(m is not None and m.needs_sensitive_at_predict)
    return registry_label(name) + (NEEDS_ATTRIBUTE if needs_attribute else "")


def group_colours(names) -> dict:
    """Group name -> colour, in the order given (:data:`GROUP_PALETTE`; from the 21st group on
    the colours repeat)."""
    return {g: GROUP_PALETTE[i % len(GROUP_PALETTE)] for i, g in enumerate(names)}


def plot_text(value) -> str:
    """``value`` as Plotly shows it literally, markup and all.

    Plotly reads a subset of HTML in every text it draws (titles, legends, axis ticks, hover
    labels, annotations): a group named ``<a href="https://...">G1</a>`` would become a link,
    ``<b>`` bold and ``<br>`` a line break. With ``&``, ``<`` and ``>`` written as entities,
    which Plotly decodes only after it has read the tags, the text appears as typed; invisible
    controls and format characters (a right-to-left override) appear as markers
    (:func:`fairkit.data.visible_text`).

    Parameters
    ----------
    value : object
        Converted with ``str``.

    Returns
    -------
    str

    Examples
    --------
    >>> plot_text("<b>G1</b> & G2")
    '&lt;b&gt;G1&lt;/b&gt; &amp; G2'
    """
    return html.escape(visible_text(value), quote=False)


def _texts(values) -> list[str]:
    return [plot_text(v) for v in values]


def _value_text(rows: pd.DataFrame, split: str, metric: str, digits: int = 3) -> list[str]:
    """``0.123 [0.100, 0.150]`` per row: the metric with its interval where the row has one,
    written as every page and the record write figures (:func:`fairkit.record.fmt`; the hover
    wrote four decimals where the panel and the record write three: numbers audit, session 53)."""
    value, low, high = metric_value(rows, metric, prefix=f"{split}_")
    low = pd.Series(np.nan, index=rows.index) if low is None else low
    high = pd.Series(np.nan, index=rows.index) if high is None else high
    return [fmt(v, digits) + (f" [{fmt(lo, digits)}, {fmt(hi, digits)}]" if np.isfinite(lo) and np.isfinite(hi) else "")
            for v, lo, hi in zip(value.astype(float), low.astype(float), high.astype(float))]


def _exported_text(rows: pd.DataFrame, metric: str, column: str) -> list[str]:
    """A bundle frontier's ``column`` (the value drawn) as text, with the run's interval of
    ``metric`` when the table carries it and it belongs to that value (older bundles and other
    axes: the value alone)."""
    plain = [fmt(v) for v in rows[column].astype(float)]
    try:
        shown = _value_text(rows, "test", metric, digits=3)
        same = np.isclose(metric_value(rows, metric, prefix="test_")[0].astype(float), rows[column].astype(float))
    except (KeyError, AttributeError):  # no such column, or a table without its runs' metrics
        return plain
    return [s if ok else p for s, p, ok in zip(shown, plain, same)]


def _custom(rows: pd.DataFrame, split: str = "test", unfairness: str = "demographic_parity_difference",
            performance: str = "accuracy", note="") -> np.ndarray:
    """``[run_id, method label, eta text, unfairness text, performance text, note]`` per marker.

    A click maps back to its run by the run id (a hex cache key, kept as it is); the hover label
    shows the rest. The method's label (:func:`method_label`) is escaped; the two metric texts carry the row's interval when
    it has one (a bootstrap interval, or the range over seeds of :func:`fairkit.frontier.seed_summary`).
    """
    n = len(rows)
    # The eta as every page and the record write it (fmt_eta; the hover's own ".4g" showed a
    # search trial's 3.14159 as 3.142: one-implementation audit, session 53).
    return np.column_stack([rows["run_id"].astype(str), _texts(rows["method"].map(method_label)), rows["eta"].map(fmt_eta),
                            _value_text(rows, split, unfairness), _value_text(rows, split, performance),
                            [note] * n if isinstance(note, str) else list(note)])


#: Hover note of a model that scores no better than deciding alike for everyone (off the front).
BELOW_CHANCE_HOVER = "<br>scores no better than one decision for everyone; off the front"
#: Hover note of a model that gives (almost) every row of the plotted split the same decision
#: (:func:`fairkit.frontier.decides_alike_on`): its gaps there tell nobody apart.
ALIKE_HOVER = "<br>gives (almost) every {split} row the same decision: its {split} gaps tell nobody apart"


def frontier_figure(
    results: pd.DataFrame,
    *,
    unfairness: str = "demographic_parity_difference",
    performance: str = "accuracy",
    split: str = "test",
    choose_on: str = "val",
    selected_run: str | None = None,
    tolerance: float | None = None,
    title: str | None = None,
    aggregate_seeds: bool = True,
    base_rate: float | None = None,
) -> go.Figure:
    """Fairness against performance: all runs faint, a frontier line per method.

    Parameters
    ----------
    results : DataFrame
        A sweep table (one row per run, ``method``, ``eta``, ``run_id``, ``val_*``/``test_*``).
    unfairness, performance : str
        Axes (keys of ``UNFAIRNESS_AXES`` / ``PERFORMANCE_AXES``).
    split : {"test", "val"}
        Which split's values are plotted. The frontier itself is always chosen on ``choose_on``.
    choose_on : {"val", "test"}, default="val"
        The split the frontier is chosen on (:func:`fairkit.frontier.pareto_front`); choosing on
        test and plotting test makes the front optimistic.
    selected_run : str, optional
        Run id to highlight (with several seeds, the mean point of its method and eta).
    tolerance : float, optional
        A vertical line at this unfairness (for example 0.2 for the 80% rule on 1 - DI ratio).
    title : str, optional
        The figure's title (default: "Fairness / <performance> trade-off (<split>)").
    aggregate_seeds : bool
        With several seeds per (method, eta), draw each setting once at its mean over seeds
        (:func:`fairkit.frontier.seed_summary`), with error bars spanning the seeds, and the
        fronts through the means. False draws every run.
    base_rate : float, optional
        Share of positive outcomes in the plotted split: a horizontal line marks what a model
        that tells nobody apart scores on the performance axis (:func:`chance_performance`:
        the majority class's share for accuracy, 0.5 for balanced accuracy and ROC AUC).

    Notes
    -----
    Every marker carries ``[run_id, method, eta, ...]`` in ``customdata``, so a click in the
    dashboard maps back to a run; the hover label shows the method, eta and both coordinates,
    with their intervals where the table has them. Constant models (``constant``, see
    :func:`fairkit.frontier.constant_mask`) are drawn apart, as crosses, and never on a front;
    models no better than deciding alike for everyone on ``choose_on``
    (:func:`fairkit.frontier.below_chance_mask`) are never on a front either, and their hover
    label says so. Each method has its colour and name of every page (:func:`method_colour`,
    :func:`method_label`). Methods the registry calls a "reference" (the threshold
    post-processor, which needs the sensitive attribute at prediction time) are drawn dashed, a
    "baseline" (the unconstrained network) as a star.
    """
    fig = go.Figure()
    if results.empty:
        fig.update_layout(title="No runs yet")
        return fig
    table, n_seeds = results, 1
    if aggregate_seeds:
        table = settings(results)  # the one definition of what a sweep's front is drawn over
        n_seeds = int(table["n_seeds"].max()) if table is not results else 1
    u_label, p_label = UNFAIRNESS_AXES[unfairness], PERFORMANCE_AXES[performance]
    hover = ("%{customdata[1]}<br>eta=%{customdata[2]}<br>"
             f"{u_label}: %{{customdata[3]}}<br>{p_label}: %{{customdata[4]}}%{{customdata[5]}}"
             "<br>run %{customdata[0]}<extra></extra>")

    def custom(rows, note=""):
        if n_seeds > 1:  # adaptive placement may train an eta for some seeds only
            notes = [note] * len(rows) if isinstance(note, str) else list(note)
            note = [f"<br>mean of {k} seed{'s' if k > 1 else ''} [range over the seeds]{t}"
                    for k, t in zip(rows["n_seeds"], notes)]
        return _custom(rows, split, unfairness, performance, note)

    def bars(rows):
        """Error bars spanning the seeds (only when points are means over seeds)."""
        if n_seeds == 1:
            return {}
        out = {}
        for axis, metric in (("x", unfairness), ("y", performance)):
            v, lo, hi = metric_value(rows, metric, prefix=f"{split}_")
            out[f"error_{axis}"] = dict(type="data", symmetric=False, array=(hi - v).clip(lower=0),
                                       arrayminus=(v - lo).clip(lower=0), thickness=1, width=3)
        return out

    def alike(rows, note=""):
        """``note`` with :data:`ALIKE_HOVER` added for the rows that decide alike on the plotted split."""
        text = ALIKE_HOVER.format(split=SPLITS[split])
        notes = [note] * len(rows) if isinstance(note, str) else list(note)
        return [n + text if a else n for n, a in zip(notes, decides_alike_on(rows, split))]

    constant = constant_mask(table)
    usable, flat = table[~constant], table[constant]
    below = below_chance_mask(usable, performance, choose_on)
    fig.add_trace(go.Scatter(
        x=metric_column(usable, split, unfairness), y=metric_column(usable, split, performance), mode="markers",
        name="all runs" if n_seeds == 1 else f"all settings (mean of {n_seeds} seeds)",
        customdata=custom(usable, alike(usable, np.where(below, BELOW_CHANCE_HOVER, ""))), hovertemplate=hover,
        marker=dict(color="rgba(120,120,120,0.35)", size=7), legendrank=1000, **bars(usable),
    ))
    front = pareto_front(table, unfairness=unfairness, performance=performance, choose_on=choose_on, by="method")
    methods = list(dict.fromkeys(table["method"]))
    for method in methods:
        sub = front[front["method"] == method]
        if sub.empty or role_of(method) == "baseline":
            continue
        fig.add_trace(go.Scatter(
            x=sub[f"unfairness_{split}"], y=sub[f"performance_{split}"], mode="lines+markers",
            name=plot_text(method_label(method)),
            line=dict(color=method_colour(method), dash="dash" if role_of(method) == "reference" else "solid"),
            marker=dict(size=9, symbol=method_symbol(method)), hovertemplate=hover,
            customdata=custom(sub, alike(sub)), **bars(sub),
        ))
    base = table[table["method"].map(role_of) == "baseline"]
    if not base.empty:
        names = list(dict.fromkeys(base["method"].astype(str)))
        fig.add_trace(go.Scatter(
            x=metric_column(base, split, unfairness), y=metric_column(base, split, performance),
            mode="markers", name=plot_text(" / ".join(map(method_label, names))),
            hovertemplate=hover, customdata=custom(base, alike(base)), **bars(base),
            marker=dict(symbol="star", size=16, color=method_colour(names[0])),
        ))
    if not flat.empty:  # after the fronts: the traces before keep their places
        fig.add_trace(go.Scatter(
            x=metric_column(flat, split, unfairness), y=metric_column(flat, split, performance), mode="markers",
            name="constant models (off the front)",
            customdata=custom(flat, "<br>constant model: (almost) one decision for everyone; off the front"),
            hovertemplate=hover, marker=dict(symbol="x", size=9, color="#999999"), legendrank=1001,
        ))
    if selected_run is not None and (results["run_id"] == selected_run).any():
        sel = results[results["run_id"] == selected_run]
        if n_seeds > 1:
            pick = sel.iloc[0]
            sel = table[(table["method"] == pick["method"]) & (table["eta"] == pick["eta"])]
        fig.add_trace(go.Scatter(
            x=metric_column(sel, split, unfairness), y=metric_column(sel, split, performance),
            mode="markers", name="selected", hoverinfo="skip",
            marker=dict(size=22, color="rgba(0,0,0,0)", line=dict(color="#ff7f0e", width=4)),
        ))
    # The two reference lines as plain layout shapes: add_vline / add_hline cost about 15 ms
    # each, on every slider step.
    shapes, notes = [], []
    if tolerance is not None:
        shapes.append(dict(type="line", xref="x", yref="paper", x0=tolerance, x1=tolerance, y0=0, y1=1,
                           line=dict(dash="dot", color="#d62728")))
        notes.append(dict(xref="x", yref="paper", x=tolerance, y=1, text=f"tolerance {tolerance:g}",
                          showarrow=False, xanchor="left", yanchor="top"))
    if base_rate is not None and np.isfinite(base_rate):
        level, text = chance_performance(performance, base_rate)
        shapes.append(dict(type="line", xref="paper", yref="y", x0=0, x1=1, y0=level, y1=level,
                           line=dict(dash="dash", color="#888888", width=1.5)))
        notes.append(dict(xref="paper", yref="y", x=0, y=level, text=text, showarrow=False, xanchor="left",
                          yanchor="top", font=dict(size=11, color="#555555")))
    fig.update_layout(
        shapes=shapes, annotations=notes,
        title=plot_text(title or f"Fairness / {in_sentence(p_label)} trade-off "
                                 f"({'test' if split == 'test' else 'validation'})"),
        xaxis_title=plot_text(f"{u_label} (lower is fairer)"),
        yaxis_title=plot_text(p_label),
        template="plotly_white", hovermode="closest", legend=dict(orientation="h", y=-0.2),
        margin=dict(l=60, r=20, t=60, b=80), height=520,
    )
    return fig


#: Legend entries of the points an assistive search proposed (:mod:`fairkit.search`).
SEARCH_LEGEND = "proposed by the assistive search"
UNSTABLE_LEGEND = "proposed by the search, unstable across re-splits"


def search_rows(results: pd.DataFrame) -> pd.DataFrame:
    """The rows of a sweep table that an assistive search proposed (``source`` "search")."""
    return results[results["source"] == "search"] if "source" in results else results.iloc[:0]


def unstable_flags(rows: pd.DataFrame) -> np.ndarray:
    """Which rows a re-split marked ``unstable`` (a stored table may hold it as text)."""
    if "unstable" not in rows:
        return np.zeros(len(rows), dtype=bool)
    return rows["unstable"].map(lambda v: v is True or v == 1 or v == "True").to_numpy(dtype=bool)


def mark_search(fig: go.Figure, results: pd.DataFrame, unfairness: str, performance: str,
                split: str = "test") -> go.Figure:
    """Ring the points an assistive search proposed on a :func:`frontier_figure` (a legend
    entry each), in place; ``fig`` is returned.

    The rings carry no run (a click on one selects the point under it), and candidates marked
    unstable across re-splits get a ring of their own.

    Parameters
    ----------
    fig : Figure
        The frontier figure of ``results``.
    results : DataFrame
        The sweep table drawn, with ``source`` (and ``unstable``) when a search added rows.
    unfairness, performance, split
        The figure's axes and split, as given to :func:`frontier_figure`.
    """
    rows = search_rows(results)
    flag = unstable_flags(rows)
    for name, part, symbol in ((SEARCH_LEGEND, rows[~flag], "diamond-open"),
                               (UNSTABLE_LEGEND, rows[flag], "diamond-x-open")):
        if part.empty:
            continue
        fig.add_trace(go.Scatter(x=metric_column(part, split, unfairness), y=metric_column(part, split, performance),
                                 mode="markers", name=name, hoverinfo="skip", legendrank=999,
                                 marker=dict(symbol=symbol, size=14, color="rgba(20,20,20,0.75)",
                                             line=dict(width=1.5))))
    return fig


def chance_performance(performance: str, base_rate: float) -> tuple[float, str]:
    """What a model that tells nobody apart scores on a performance axis, and a label for it.

    Accuracy: always predicting the majority class scores the larger of the base rate and its
    complement (0.939 when 6.1% of rows are positive, above most real models' accuracy, which
    is why rare positives are better read on balanced accuracy); balanced accuracy and ROC AUC: 0.5.

    Parameters
    ----------
    performance : str
        A key of ``PERFORMANCE_AXES``.
    base_rate : float
        Share of positive outcomes.

    Returns
    -------
    (float, str)
    """
    level = chance_level(performance, base_rate)
    if performance == "accuracy":
        return level, f"always the majority class: {level:.3f} ({base_rate:.1%} positive)"
    return level, f"chance: {level:g} ({base_rate:.1%} positive)"


def frontier_snapshot_figure(frontier: pd.DataFrame, *, selected_run: str | None = None,
                             unfairness: str = "demographic_parity_difference",
                             performance: str = "accuracy") -> go.Figure:
    """The frontier table of a bundle as it was exported (test values), the chosen run ringed.

    Unlike :func:`frontier_figure` nothing is recomputed: the table is drawn as the committee
    received it, one line per method (dashed where the method needs the sensitive attribute at
    prediction time).

    Parameters
    ----------
    frontier : DataFrame
        A bundle's ``frontier.csv``: ``method``, ``eta``, ``run_id``, ``unfairness_test``,
        ``performance_test`` and optionally ``needs_sensitive_at_predict``.
    selected_run : str, optional
        Run id of the exported model: ringed, and labelled "chosen (not on the frontier)"
        when its row has ``on_front`` False. A table with a ``selected`` column (a record's)
        rings that row instead.
    unfairness, performance : str
        The axes the frontier was chosen on (for the axis titles).
    """
    from .record import CHOSEN, CHOSEN_OFF_FRONT

    fig = go.Figure()
    # A chosen run that is not Pareto-optimal is in the table (on_front False) but not on a line.
    on_front = frontier["on_front"].astype(bool) if "on_front" in frontier else pd.Series(True, index=frontier.index)
    u_label = plot_text(UNFAIRNESS_AXES.get(unfairness, unfairness))
    p_label = plot_text(PERFORMANCE_AXES.get(performance, performance))
    point = f"<br>{u_label}: %{{customdata[2]}}<br>{p_label}: %{{customdata[3]}}<extra></extra>"

    def custom(rows, labels):
        """``[label, eta, unfairness text, performance text]``: each axis value with the interval
        the run carried at export (a dashboard sweep stores them), where the table has it."""
        # The eta as text (fmt_eta): a number stacked beside text became the string "0.0", which
        # the template's ":g" wrote "0.00000" (numbers audit, session 53).
        return np.column_stack([_texts(labels), rows["eta"].map(fmt_eta),
                                _exported_text(rows, unfairness, "unfairness_test"),
                                _exported_text(rows, performance, "performance_test")])
    for method, sub in frontier[on_front].groupby("method", sort=False):
        ref = bool(sub.get("needs_sensitive_at_predict", pd.Series([False])).any())
        label = method_label(method, needs_attribute=ref)
        fig.add_trace(go.Scatter(
            x=sub["unfairness_test"], y=sub["performance_test"], mode="lines+markers",
            name=plot_text(label),
            line=dict(color=method_colour(method), dash="dash" if ref else "solid"),
            marker=dict(symbol=method_symbol(method)),
            # The method comes from the bundle's table: in the hover label as data, never as
            # part of the template (where "%{...}" in a name would be read as a field).
            customdata=custom(sub, [label] * len(sub)),
            hovertemplate="%{customdata[0]}<br>eta=%{customdata[1]}" + point))
    # The record marks the chosen row ("selected"): on a front of settings' means over seeds it
    # is the chosen run's setting, whose row carries the lowest seed's run id. Older bundles
    # have no such column: their chosen row is the run's own.
    sel = (frontier[frontier["selected"].astype(bool)] if "selected" in frontier
           else frontier[frontier["run_id"] == selected_run])
    if not sel.empty:
        off = not bool(on_front[sel.index].all())
        fig.add_trace(go.Scatter(x=sel["unfairness_test"], y=sel["performance_test"],
                                 mode="markers", name=CHOSEN_OFF_FRONT if off else CHOSEN, hoverinfo="skip",
                                 marker=dict(size=20, color="rgba(0,0,0,0)",
                                             line=dict(color="#ff7f0e", width=4))))
        if off:  # its own point, since no line passes through it
            fig.add_trace(go.Scatter(
                x=sel["unfairness_test"], y=sel["performance_test"], mode="markers", showlegend=False,
                marker=dict(size=9, color="#ff7f0e", symbol="x"),
                customdata=custom(sel, sel["method"].map(method_label)),
                hovertemplate=f"{CHOSEN_OFF_FRONT}<br>%{{customdata[0]}}<br>eta=%{{customdata[1]}}" + point))
    fig.update_layout(
        title="Frontier at export (test data)", template="plotly_white", height=420,
        xaxis_title=f"{u_label} (lower is fairer)", yaxis_title=p_label,
        legend=dict(orientation="h", y=-0.25), margin=dict(l=60, r=20, t=50, b=80))
    return fig


def calibration_figure(curve: pd.DataFrame, *, title: str = "Reliability by group") -> go.Figure:
    """Reliability curves from :func:`fairkit.diagnostics.reliability_curve`, one line per group."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                             line=dict(color="#999999", dash="dot")))
    colours = group_colours(sorted(curve["group"].unique(), key=str))
    for group, sub in curve.groupby("group", sort=True):
        fig.add_trace(go.Scatter(
            x=sub["mean_predicted"], y=sub["fraction_positive"], mode="lines+markers", name=plot_text(group),
            line=dict(color=colours[group]), customdata=sub[["count"]],
            # The group's (escaped) name, not the group in the template: "%{...}" in a name is a field there.
            hovertemplate="%{fullData.name}<br>predicted=%{x:.3f}<br>observed=%{y:.3f}<br>n=%{customdata[0]}<extra></extra>",
        ))
    fig.update_layout(title=plot_text(title), xaxis_title="Mean predicted probability", yaxis_title="Fraction positive",
                      template="plotly_white", xaxis_range=[0, 1], yaxis_range=[0, 1], height=450)
    return fig


#: Most panels :func:`reliability_figure` draws: beyond, the largest groups by rows.
MAX_PANELS = 24


def reliability_figure(curve: pd.DataFrame, overall: pd.DataFrame, *, groups=None, columns: int = 3,
                       title: str = "Reliability by group") -> go.Figure:
    """Reliability curves as small multiples: each group in its own panel against the overall curve.

    Ten groups on one set of axes are unreadable; one panel per group, each with the curve of
    all rows for comparison, keeps every group legible. Each bin's observed rate carries its 95%
    Wilson interval (:func:`fairkit.stats.wilson_interval`, missing for bins of fewer than
    ``stats.MIN_EVENTS`` rows) as a band, and its row count is written beside the point.

    Parameters
    ----------
    curve : DataFrame
        :func:`fairkit.diagnostics.reliability_curve` by group (``group``, ``mean_predicted``,
        ``fraction_positive``, ``count``).
    overall : DataFrame
        The same for all rows together (``reliability_curve`` without groups).
    groups : list, optional
        The groups to draw, in this order (default every group of ``curve``, sorted); of more
        than :data:`MAX_PANELS`, the largest by rows, which the subtitle says.
    columns : int
        Panels per row.
    title : str
    """
    from plotly.subplots import make_subplots

    every = sorted(curve["group"].unique(), key=str)
    colours = group_colours(every)  # a group keeps its colour when drawn alone
    names = every if groups is None else list(groups)
    names = names or ["(no group)"]
    note = ""
    if len(names) > MAX_PANELS:
        # A panel per group of a country column x sex (100 groups) was an unreadable wall, and
        # past 69 groups Plotly refused the grid's spacing (the Groups page stopped on it).
        rows_of = curve.groupby("group")["count"].sum()
        largest = set(sorted(names, key=lambda g: (-float(rows_of.get(g, 0)), str(g)))[:MAX_PANELS])
        note = f"The {MAX_PANELS} largest of {len(names):,} groups (by rows). "
        names = [g for g in names if g in largest]
    cols = max(1, min(columns, len(names)))
    rows = -(-len(names) // cols)
    fig = make_subplots(rows=rows, cols=cols, shared_xaxes=True, shared_yaxes=True,
                        subplot_titles=_texts(names),
                        vertical_spacing=min(0.12 / max(rows, 1) + 0.04, 0.5 / max(rows - 1, 1)),
                        horizontal_spacing=0.04)
    hover = ("%{fullData.name}<br>predicted=%{x:.3f}<br>observed=%{y:.3f} %{customdata[1]}"
             "<br>rows in bin=%{customdata[0]}<extra></extra>")
    for i, group in enumerate(names):
        r, c = i // cols + 1, i % cols + 1
        first = i == 0
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                                 line=dict(color="#bbbbbb", dash="dot", width=1), showlegend=first,
                                 legendgroup="perfect", hoverinfo="skip"), row=r, col=c)
        fig.add_trace(go.Scatter(x=overall["mean_predicted"], y=overall["fraction_positive"], mode="lines",
                                 name="all rows", line=dict(color="#888888", width=1.5), showlegend=first,
                                 legendgroup="all", hoverinfo="skip"), row=r, col=c)
        sub = curve[curve["group"] == group].sort_values("mean_predicted")
        if sub.empty:
            continue
        colour = colours[group]
        n = sub["count"].to_numpy(dtype=float)
        low, high = reliability_intervals(sub)
        ok = np.isfinite(low) & np.isfinite(high)
        if ok.any():
            x = sub["mean_predicted"].to_numpy()[ok]
            fig.add_trace(go.Scatter(x=np.concatenate([x, x[::-1]]), y=np.concatenate([high[ok], low[ok][::-1]]),
                                     mode="lines", fill="toself", fillcolor=_translucent(colour, 0.18), line=dict(width=0),
                                     name="95% interval (Wilson)", showlegend=first, legendgroup="band",
                                     hoverinfo="skip"), row=r, col=c)
        ci = [f"[{lo:.3f}, {hi:.3f}]" if good else "(too few rows for an interval)"
              for lo, hi, good in zip(low, high, ok)]
        fig.add_trace(go.Scatter(
            x=sub["mean_predicted"], y=sub["fraction_positive"], mode="lines+markers+text",
            name=plot_text(group), line=dict(color=colour), marker=dict(size=6), showlegend=False,
            text=[f"{int(k):,}" for k in n], textposition="top center", textfont=dict(size=9, color="#555555"),
            customdata=np.column_stack([[f"{int(k):,}" for k in n], ci]), hovertemplate=hover,
        ), row=r, col=c)
    fig.update_xaxes(range=[0, 1.02])
    fig.update_yaxes(range=[0, 1.12])
    for c in range(1, cols + 1):
        fig.update_xaxes(title_text="Mean predicted probability", row=rows, col=c)
    for r in range(1, rows + 1):
        fig.update_yaxes(title_text="Observed positive rate", row=r, col=1)
    fig.update_layout(title=plot_text(title) + f"<br><sup>{note}Numbers: rows in each bin. Band: 95% Wilson "
                                               "interval of the observed rate. Grey: all rows.</sup>",
                      template="plotly_white", height=max(340, 260 * rows + 110),
                      legend=dict(orientation="h", y=-0.3 / rows - 0.02), margin=dict(l=60, r=20, t=90, b=60))
    return fig


def _translucent(colour: str, alpha: float) -> str:
    r, g, b = hex_to_rgb(colour)
    return f"rgba({r},{g},{b},{alpha})"


#: Up to this many groups, bar labels are written level (and wrapped); beyond, turned upright.
LEVEL_TICKS = 8


def _wrapped(text, width: int) -> str:
    """``text`` escaped (:func:`plot_text`), broken into lines of about ``width`` characters at spaces."""
    lines, line = [], ""
    for word in str(text).split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "<br>".join(plot_text(x) for x in [*lines, line])


def _group_ticks(fig: go.Figure, groups) -> None:
    """Name every group centred under its bars: level and wrapped for up to :data:`LEVEL_TICKS`
    groups, upright beyond (Plotly's own slant, which it picks when names collide, starts each
    name under the bar to its left), never thinned out."""
    groups = list(dict.fromkeys(groups))
    names = _texts(groups)
    level = len(names) <= LEVEL_TICKS
    width = max(8, 96 // max(len(names), 1))
    fig.update_xaxes(type="category", tickmode="array", tickvals=names, automargin=True,
                     ticktext=[_wrapped(g, width) for g in groups] if level else names,
                     tickangle=0 if level else -90)


#: Stripes of a rate too few to estimate: dark, at least 3:1 against the three rates' bar colours
#: (the first three of :data:`METRIC_PALETTE`; white ones were 2.53:1 on orange: accessibility
#: audit, session 49).
THIN_STRIPES = "#222222"


def group_bars_figure(by_group: pd.DataFrame, *, metrics=("selection_rate", "tpr", "fpr"),
                      attribute: str | None = None, title: str = "Rates by group") -> go.Figure:
    """Grouped bars of rates by group, with their intervals (``<rate>_low`` / ``_high``) as error
    bars when present.

    A rate the table flags as too few to estimate (``too_few``: fewer than
    :data:`fairkit.stats.MIN_EVENTS` rows in its denominator, positives for a TPR, negatives for
    an FPR) has no interval: its bar is hatched and says why, rather than standing solid and bare
    as if it were certain (new-user audit, session 48). Hatched bars are a trace of their own in
    the rate's slot (``offsetgroup``), so each rate's legend swatch stays solid, and one legend
    entry names the hatching. Each group's name sits centred under its bars (:func:`_group_ticks`).
    """
    from .metrics import METRIC_LABELS, TOO_FEW, too_few_rates
    from .record import group_rate_text
    from .stats import MIN_EVENTS, thin_reason

    table = by_group if attribute is None else by_group[by_group["attribute"] == attribute]
    names = _texts(table["group"])
    flagged = [too_few_rates(t) for t in table.get("too_few", pd.Series("", index=table.index))]
    records = table.to_dict(orient="records")  # read once, for every rate's hover text
    fig, any_thin = go.Figure(), False
    for i, m in enumerate(metrics):
        label = METRIC_LABELS.get(m, m.replace("_", " "))
        colour = METRIC_PALETTE[i % len(METRIC_PALETTE)]
        values = table[m].to_numpy(float)
        low = high = None
        if f"{m}_low" in table and f"{m}_high" in table:
            low, high = table[f"{m}_low"].to_numpy(float), table[f"{m}_high"].to_numpy(float)
        # A rate that exists on too few rows; one that does not exist (no positives) is n/a below.
        thin = np.isfinite(values) & np.array([m in f for f in flagged], dtype=bool)
        any_thin |= bool(thin.any())
        # Each bar's value as the table and the record write it (record.group_rate_text), and
        # for a thin one what it rests on.
        hover = [f"{g}<br>{plot_text(label)}: {plot_text(group_rate_text(row, m))}"
                 + (f", {thin_reason(m)}: no interval" if thin[j] else "")
                 for j, (g, row) in enumerate(zip(names, records))]
        err = None
        if low is not None:
            err = dict(type="data", symmetric=False, array=np.clip(high - values, 0, None),
                       arrayminus=np.clip(values - low, 0, None))
        fig.add_trace(go.Bar(x=names, y=np.where(thin, np.nan, values), name=label, hovertext=hover,
                             hoverinfo="text", marker_color=colour, error_y=err, offsetgroup=str(i),
                             legendgroup=str(i)))
        missing = ~np.isfinite(values)
        if missing.any():
            # A rate a group cannot have (no positives for a TPR) drew nothing, which read as a
            # rate of 0 (accessibility audit, session 49): "n/a" stands in its slot.
            fig.add_trace(go.Bar(x=names, y=np.where(missing, 0.0, np.nan), name=f"{label} (n/a)",
                                 text=np.where(missing, "n/a", ""), textposition="outside", cliponaxis=False,
                                 hovertext=hover, hoverinfo="text", offsetgroup=str(i), legendgroup=str(i),
                                 showlegend=False, marker_color=colour, textfont=dict(color="#333333")))
        if thin.any():
            fig.add_trace(go.Bar(x=names, y=np.where(thin, values, np.nan), name=f"{label} ({TOO_FEW})",
                                 hovertext=hover, hoverinfo="text", offsetgroup=str(i), legendgroup=str(i),
                                 showlegend=False, marker=dict(color=colour, pattern=dict(
                                     shape="/", fillmode="overlay", fgcolor=THIN_STRIPES, solidity=0.35))))
    if any_thin:
        # A legend entry only: no value, in the first rate's slot so that it takes none of its own.
        fig.add_trace(go.Bar(x=[names[0]], y=[np.nan], name=f"Hatched: {TOO_FEW}", hoverinfo="skip", offsetgroup="0",
                             marker=dict(color="#ffffff", line=dict(color=THIN_STRIPES, width=1),
                                         pattern=dict(shape="/", fgcolor=THIN_STRIPES, solidity=0.35))))
    _group_ticks(fig, table["group"])
    heading = plot_text(title) + (f"<br><sup>Hatched: {TOO_FEW}, fewer than {MIN_EVENTS} rows in the rate's "
                                  "denominator (positives for a TPR, negatives for an FPR): no interval.</sup>"
                                  if any_thin else "")
    fig.update_layout(title=heading, barmode="group", template="plotly_white", yaxis_range=[0, 1], height=420,
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"))
    return fig


#: Every message of a PNG that :func:`save_figure` could not write starts with this.
PNG_NOT_WRITTEN = "PNG not written"


def _missing_browser() -> str | None:
    """Why kaleido has no browser to start, or None when it has one.

    kaleido 1.x renders in a Chrome/Chromium it looks for (its own download, then
    ``$BROWSER_PATH``, then the ``PATH``); kaleido 0.x carries its own renderer.
    """
    try:
        from choreographer.browsers.chromium import Chromium
    except ImportError:  # kaleido 0.x: no browser to find
        return None
    found = Chromium.find_browser(skip_local=False)
    if found and Path(found).is_file():
        return None
    where = (f"BROWSER_PATH={os.environ['BROWSER_PATH']!r} is not a file" if os.environ.get("BROWSER_PATH")
             else "none on the PATH")
    return (f"no Chrome or Chromium for kaleido ({where}); install one (Debian/Ubuntu: apt-get install "
            "chromium; elsewhere: plotly_get_chrome) or set BROWSER_PATH to it")


def save_figure(fig: go.Figure, path, *, png: bool = True) -> dict:
    """Write ``<path>.html`` (always) and ``<path>.png`` (when kaleido has a browser).

    Parameters
    ----------
    fig : plotly Figure
    path : str or Path
        Base name; a ``.html`` or ``.png`` suffix is dropped.
    png : bool
        Also write the static image (kaleido 1.x needs a Chrome or Chromium: ``./fk`` installs
        Debian's; ``$BROWSER_PATH`` points at another).

    Returns
    -------
    dict
        ``{"html": Path, "png": Path or None, "png_error": str or None}``; when the PNG was
        asked for and not written, ``png_error`` (starting with :data:`PNG_NOT_WRITTEN`) says
        why and what to install, and a ``RuntimeWarning`` carries the same text.
    """
    base = Path(path)
    if base.suffix in {".html", ".png"}:
        base = base.with_suffix("")
    base.parent.mkdir(parents=True, exist_ok=True)
    html = base.with_suffix(".html")
    from .store import atomic_write_bytes, output_mode

    # Replaced whole: a full disk or an interrupt mid-write leaves the earlier file, not half a page.
    # With the permissions of the file it replaces, else the umask's, as every output and the PNG
    # beside it (it was always private, 0600: install audit, session 49).
    atomic_write_bytes(html, fig.to_html(include_plotlyjs=True, full_html=True).encode("utf-8"),
                       mode=output_mode(html))
    out = {"html": html, "png": None, "png_error": None}
    if png:
        # kaleido starts a Chromium per export; on a busy machine that start can fail once
        # (seen once in a test run), so a second attempt comes before giving up on the PNG.
        for _ in range(2):
            try:
                fig.write_image(base.with_suffix(".png"), width=1000, height=600, scale=1)
                out["png"], out["png_error"] = base.with_suffix(".png"), None
                break
            except Exception as exc:  # kaleido's and the browser's failures; keep the HTML regardless
                missing = _missing_browser()
                out["png_error"] = f"{PNG_NOT_WRITTEN}: " + (missing or f"{type(exc).__name__}: {exc}")
                if missing:  # a second start finds no browser either
                    break
        if out["png_error"]:
            warnings.warn(out["png_error"], RuntimeWarning, stacklevel=2)
    return out


def reweighting_figure(summary: pd.DataFrame, *,
                       title: str = "Learned training weights by group and label") -> go.Figure:
    """Mean learned training weight of each group, negatives and positives side by side, with
    bars from the 10th to the 90th percentile; the dashed line at 1 is "as given".

    Parameters
    ----------
    summary : DataFrame
        :func:`fairkit.estimators.reweighting.weight_summary` (``group``, ``label``, ``mean``,
        ``q10``, ``q90``, ``n_weighted``, ``share_up``, ``share_down``).
    title : str

    Returns
    -------
    plotly.graph_objects.Figure
    """
    fig = go.Figure()
    for i, (label, rows) in enumerate(summary.groupby("label", sort=True)):
        name = {0: "negatives (y = 0)", 1: "positives (y = 1)"}.get(label, f"label {label}")
        err = dict(type="data", symmetric=False, array=(rows["q90"] - rows["mean"]).clip(lower=0),
                   arrayminus=(rows["mean"] - rows["q10"]).clip(lower=0))
        hover = [f"{plot_text(g)}, {plot_text(name)}<br>mean weight {m:.2f} (10-90%: {lo:.2f}-{hi:.2f})"
                 f"<br>{n:,} weighted rows: {up:.0%} up-weighted, {down:.0%} down-weighted"
                 for g, m, lo, hi, n, up, down in zip(rows["group"], rows["mean"], rows["q10"], rows["q90"],
                                                      rows["n_weighted"], rows["share_up"], rows["share_down"])]
        fig.add_trace(go.Bar(x=_texts(rows["group"]), y=rows["mean"], name=name,
                             marker_color=METRIC_PALETTE[i % len(METRIC_PALETTE)], error_y=err,
                             hovertext=hover, hoverinfo="text"))
    fig.add_hline(y=1.0, line_dash="dash", line_color="#555555",
                  annotation_text="as given (1)", annotation_position="top left")
    _group_ticks(fig, summary["group"])
    fig.update_layout(title=plot_text(title), barmode="group", template="plotly_white", height=420,
                      yaxis_title="learned weight", yaxis_rangemode="tozero")
    return fig
