"""Display helpers that are safe with user text.

Column names and cell values come from uploaded files. Streamlit renders Markdown (and ``$``
maths, ``:color[...]`` directives) in ``st.error``, ``st.markdown`` and ``st.table`` cells, so
every piece of user text goes through :func:`md` first. HTML is never enabled. Figures escape
their own text (:func:`fairkit.plots.plot_text`).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

import pandas as pd
import streamlit as st

from fairkit.data import Problem, visible_text
from fairkit.record import WORD_JOINER, escape_markdown  # noqa: F401  (WORD_JOINER: part of this module's API)


def md(text) -> str:
    """Escape ``text`` so Markdown shows it literally (one line; newlines become spaces; invisible
    controls and format characters, such as a right-to-left override, as ``<U+202E>`` markers):
    the engine's one escaper, :func:`fairkit.record.escape_markdown`, which the bundle's record uses.

    Examples
    --------
    >>> md("income_>50K")
    'income\\\\_\\\\>50K'
    """
    return escape_markdown(text)


def visible_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` for ``st.dataframe``, which draws cells as plain text: the column names and text
    cells with hidden characters as markers (:func:`fairkit.data.visible_text`, which select boxes
    take as ``format_func``); numbers as they are."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(lambda v: visible_text(v) if isinstance(v, str) else v)
    out.columns = [visible_text(c) for c in out.columns]
    return out


def gaps_text(tolerances) -> str:
    """``(0.01, 0.02, 0.05)`` as "validation gaps of 0.01, 0.02 and 0.05" (one: "a validation gap of 0.05")."""
    values = [f"{t:g}" for t in tolerances]
    if len(values) == 1:
        return f"a validation gap of {values[0]}"
    return f"validation gaps of {', '.join(values[:-1])} and {values[-1]}"


def show_problems(problems: list[Problem]) -> None:
    """Errors with ``st.error`` and warnings with ``st.warning``, each naming its column."""
    for p in problems:
        where = f"**{md(p.column)}**: " if p.column is not None else ""
        body = f"{where}{md(p.message)}  \n*What to do:* {md(p.action)}"
        if p.severity == "error":
            st.error(body, icon=":material/error:")
        else:
            st.warning(body, icon=":material/warning:")


def show_table(frame: pd.DataFrame, *, max_rows: int = 60, alt: str | None = None) -> None:
    """A small table as static HTML (readable by screen readers and browser tests).

    ``st.dataframe`` draws on a canvas; ``st.table`` puts the text in the page. Cells are
    escaped because ``st.table`` renders Markdown in them. Tables longer than ``max_rows``
    fall back to a scrollable ``st.dataframe``, which keeps ``alt`` (its accessible name), so a
    table does not lose it as the history behind it grows.
    """
    if len(frame) > max_rows:
        st.dataframe(visible_frame(frame), hide_index=True, width="stretch", alt=alt)
        return
    escaped = frame.copy()
    for col in escaped.columns:
        escaped[col] = escaped[col].map(lambda v: "" if v is None else md(v))
    escaped.columns = [md(c) for c in escaped.columns]
    st.table(escaped, hide_index=True, alt=alt)


def show_group_summaries(tables: dict[str, pd.DataFrame], *, per_row: int = 2) -> None:
    """One titled table per level (each sensitive attribute, then their intersection).

    Single attributes sit side by side, at most ``per_row`` to a row, each row's tables sharing
    its width; the intersection, usually longer, gets the full width. Two tables in a row of three
    columns took a third each, and a table with its notes was cut off in a box the keyboard could
    not scroll (accessibility audit, session 49).
    """
    singles = {k: v for k, v in tables.items() if " & " not in k}
    joint = {k: v for k, v in tables.items() if " & " in k}
    items = list(singles.items())
    for start in range(0, len(items), per_row):
        row = items[start:start + per_row]
        for col, (name, table) in zip(st.columns(len(row)), row):
            with col:
                _group_table(name, table)
    for name, table in joint.items():
        _group_table(name, table)


def _group_table(name: str, table: pd.DataFrame) -> None:
    n_small = int((table["Note"] != "").sum()) if "Note" in table else 0
    flag = f" · {n_small} small" if n_small else ""
    st.markdown(f"**Groups by {md(name)}** ({len(table)} groups{flag})")
    show_table(table, alt=f"Group sizes and positive rates by {name}")


# --------------------------------------------------------------------------- charts

#: Plotly's settings for every chart of the dashboard (:func:`show_chart`). A chart's toolbar put
#: eight buttons in the keyboard's tab order (Plotly's seven and Streamlit's full screen; 24 stops
#: on the Groups page's three charts);
#: its PNG download stays, as it is the one way the dashboard offers to save a chart, and so does
#: Streamlit's full screen, which gives a chart the whole window at a high zoom (zooming and panning
#: by mouse drag, and a double click to reset, work without their buttons). ``responsive``: the
#: chart redraws at its container's width when the window (or the zoom) changes.
CHART_CONFIG = {"modeBarButtonsToRemove": ["zoom2d", "pan2d", "select2d", "lasso2d", "zoomIn2d", "zoomOut2d",
                                          "autoScale2d", "resetScale2d"],
                "displaylogo": False, "responsive": True}


def show_chart(fig, **kwargs):
    """``st.plotly_chart`` at the container's width with :data:`CHART_CONFIG` and the figure's own
    template: the one way a page draws a chart.

    Parameters
    ----------
    fig : plotly Figure
        The chart (built by :mod:`fairkit.plots`).
    **kwargs
        Passed on to ``st.plotly_chart`` (``key``, ``on_select``, ``selection_mode``).

    Returns
    -------
    object
        What ``st.plotly_chart`` returns (the selection when ``on_select`` is given).
    """
    # theme=None: the figure's own template (plotly_white, dark text), as in the exported PNG.
    # Streamlit's theme greyed every tick label and axis title to 3.7:1 on white, under the 4.5:1
    # text needs (WCAG 1.4.3; accessibility audit, session 49).
    return st.plotly_chart(fig, width="stretch", config=CHART_CONFIG, theme=None, **kwargs)


# --------------------------------------------------------------------------- accessibility

# Streamlit's own look, adjusted where an accessibility audit (axe-core in Chromium, keyboard-only
# runs, 400 % zoom; WCAG 2.1 AA) found it short. Every rule names the criterion it is for.
# {focus} is the theme's primaryColor (#1f5fbf: 6.1:1 on white, 5.6:1 on the sidebar's #f3f5f8).
# !important: Streamlit's rules for these elements are more specific (generated classes) and set
# "outline: none".
_ACCESSIBILITY_CSS = """
/* 2.4.7 Focus visible: Streamlit marks keyboard focus with a half-transparent shadow (2.2:1 on
   white, under the 3:1 a focus indicator needs) or with nothing (sidebar links, tabs, select
   boxes, data grid). One solid 2px ring for whatever Tab reaches, 2px off the element so that it
   shows against a primary-coloured button too. */
:focus-visible {{
  outline: 2px solid {focus} !important;
  outline-offset: 2px !important;
}}
/* The main area, scroll boxes, tables and the data grid fill their column: a ring outside them is
   cut off by the column or the window, so theirs is drawn inside. */
[data-testid="stMain"]:focus-visible, [data-testid="stVerticalBlock"]:focus-visible,
[data-testid="stTable"]:focus-visible, [data-testid="stDataFrame"] :focus-visible {{
  outline-offset: -2px !important;
}}
/* 2.4.7: radio buttons, checkboxes and toggles focus an input Streamlit hides in a 1px box; the
   ring goes around the option's label instead. */
label:has(input:focus-visible) {{
  outline: 2px solid {focus} !important;
  outline-offset: 2px !important;
  border-radius: 4px;
}}
/* 2.4.7: a slider focuses a hidden input inside its thumb; the ring goes around the thumb. */
[data-testid="stSlider"] div:has(> div > input:focus-visible) {{
  outline: 2px solid {focus} !important;
  outline-offset: 2px !important;
}}
/* 2.4.7: select boxes, multiselects, text and number fields focus an input inside a bordered
   box, which only turned its 1px border blue; the ring goes around the whole box, and not around
   the input inside it as well. */
[data-testid="stSelectbox"] [role="group"]:has(input:focus-visible),
[data-testid="stMultiSelect"] [role="group"]:has(input:focus-visible),
[data-testid="stTextInputRootElement"]:has(input:focus-visible),
[data-testid="stNumberInputContainer"]:has(input:focus-visible),
[data-testid="stTextAreaRootElement"]:has(textarea:focus-visible) {{
  outline: 2px solid {focus} !important;
  outline-offset: 2px !important;
}}
[data-testid="stSelectbox"] input:focus-visible, [data-testid="stMultiSelect"] input:focus-visible,
[data-testid="stTextInputRootElement"] input:focus-visible,
[data-testid="stNumberInputContainer"] input:focus-visible,
[data-testid="stTextAreaRootElement"] textarea:focus-visible {{
  outline: none !important;
}}
/* 2.4.7: a table's toolbar (columns, CSV download, search, full screen) appears on mouse hover
   only, yet its buttons are in the tab order: it stayed invisible while they had the focus. */
[data-testid="stElementToolbar"]:focus-within {{
  opacity: 1 !important;
}}
/* 1.4.10 Reflow: a table was as wide as its longest cells, which Streamlit keeps on one line: a
   Markdown table (the decision record's, on the Export and Review pages) made the whole page scroll
   sideways at 320 px (400 % zoom), and a table drawn by st.table scrolled in a box that nothing
   puts in the tab order (axe: scrollable-region-focusable; 2.1.1: only some browsers let a
   keyboard reach such a box). Cells wrap between words instead; at 640 px and below (200 % zoom
   and more) also inside a word where they must, so a table fits its column. Not wider: there
   "anywhere" split numbers in two at desktop widths (a group of 138 read "13" over "8"). */
[data-testid="stMarkdownContainer"] :is(th, td), [data-testid="stTable"] :is(th, td),
[data-testid="stTable"] :is(th, td) * {{
  white-space: normal !important;
  overflow-wrap: break-word !important;
}}
@media (max-width: 640px) {{
  [data-testid="stMarkdownContainer"] :is(th, td), [data-testid="stTable"] :is(th, td),
  [data-testid="stTable"] :is(th, td) * {{
    overflow-wrap: anywhere !important;
  }}
}}
"""


def accessibility_styles() -> None:
    """Add the dashboard's accessibility rules to the page (focus rings, reflow; see
    ``_ACCESSIBILITY_CSS`` for each rule's reason). Called once per run, by ``app.py``, before
    any page draws; style-only HTML takes no room on the page."""
    focus = st.get_option("theme.primaryColor") or "#1f5fbf"
    st.html(f"<style>{_ACCESSIBILITY_CSS.format(focus=focus)}</style>")


PAGE_FAILED = ("**This page stopped on an unexpected error.** The details are in the dashboard's log, for "
               "whoever runs it. Your data and choices are kept: try again, or go back to the Data page.")


@contextmanager
def plain_errors(what: str):
    """Show users a plain message, not a traceback with server paths, when ``what`` (a page, or a
    fragment of one) fails; the details go to the server's log.

    With ``client.showErrorDetails = "full"`` (a developer's setting, and the tests') it raises as
    usual. A fragment's rerun does not pass through the page's handler: without its own, Streamlit
    drew its raw error box with advice for Streamlit Cloud (state audit, session 44).
    """
    try:
        yield
    except Exception:
        if st.get_option("client.showErrorDetails") == "full":
            raise
        logging.getLogger("fairkit.app").exception("%s failed", what)
        st.error(PAGE_FAILED, icon=":material/error:")
