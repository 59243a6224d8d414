"""Keyboard focus, page outline and reflow in a real browser (WCAG 2.1 AA: 2.4.7, 1.3.1, 1.4.10).

What axe-core and keyboard-only runs found in Streamlit's own markup, checked here directly (axe
itself is not vendored: its 650 KB script is larger than this suite's test assets may be):

- every stop the Tab key reaches shows a focus ring of at least 2px at 3:1 against what it is
  drawn on (Streamlit's was a half-transparent shadow, 2.2:1, or nothing at all);
- each page has one h1 and no skipped heading level (pages went from h1 to h3);
- at 320 CSS px (400 % zoom of a 1280 px window) neither the page nor Streamlit's main area
  scrolls sideways (the decision record's table made the Export page 734 px wide), and no box
  scrolls that the tab order does not reach (a group table on the Data page did);
- a chart adds at most its PNG download and full-screen buttons to the tab order (Plotly's
  toolbar added eight).

The styles are ``ui.display.accessibility_styles``; the chart settings ``ui.display.CHART_CONFIG``.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from .helpers import export_decision, go_to, tiny_german_sweep, wait_for_app

pytestmark = pytest.mark.e2e

MAX_STOPS = 90           # Tab presses per page at most (the Data page's grid takes one per column)

# The focused element's ring: the element itself or, for inputs Streamlit hides (radio buttons,
# sliders, select boxes), the box around it. A ring counts when it is at least 2px wide, solid
# enough, at 3:1 against the first opaque background behind it, and not hidden by an opacity.
FOCUS_JS = r"""() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const rgba = c => { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return null;
    const p = m[1].split(',').map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const contrast = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const behind = n => { for (let p = n.parentElement; p; p = p.parentElement) {
    const c = rgba(getComputedStyle(p).backgroundColor); if (c && c[3] > 0.5) return c; } return [255, 255, 255, 1]; };
  const opacity = n => { let o = 1; for (let p = n; p; p = p.parentElement) o *= +getComputedStyle(p).opacity; return o; };
  let best = 0, hidden = false;
  for (let n = el, i = 0; n && i < 4; n = n.parentElement, i++) {
    const s = getComputedStyle(n);
    const color = rgba(s.outlineColor);
    if (s.outlineStyle === 'none' || s.outlineStyle === 'auto' || !color || parseFloat(s.outlineWidth) < 2) continue;
    const bg = behind(n);
    const seen = [0, 1, 2].map(k => color[k] * color[3] + bg[k] * (1 - color[3]));
    best = Math.max(best, contrast(seen, bg));
    hidden = hidden || opacity(n) < 0.9;
  }
  const owner = el.closest('[data-testid]');
  return {name: `${el.tagName} ${owner ? owner.dataset.testid : ''} ${(el.getAttribute('aria-label') || el.innerText || '').trim().slice(0, 30)}`,
          contrast: hidden ? 0 : Math.round(best * 100) / 100, hidden, inChart: !!el.closest('[data-testid="stPlotlyChart"]')};
}"""

HEADINGS_JS = """() => Array.from(document.querySelectorAll('h1, h2, h3, h4, h5, h6'),
    h => [Number(h.tagName[1]), h.innerText.trim()]).filter(([, text]) => text)"""

WIDTHS_JS = """() => { const d = document.documentElement, m = document.querySelector('[data-testid="stMain"]');
    return {page: [d.scrollWidth, d.clientWidth], main: [m.scrollWidth, m.clientWidth]}; }"""

# Boxes in the main area that scroll text but that nothing puts in the tab order, neither
# themselves nor anything in them (axe's scrollable-region-focusable): a keyboard may not scroll
# them. The data grid's scroller holds no text (its canvas, beside it, takes the focus and the keys).
UNREACHABLE_JS = """() => Array.from(document.querySelectorAll('[data-testid="stMain"] *')).filter(e => {
    const s = getComputedStyle(e);
    const scrolls = (/auto|scroll/.test(s.overflowX) && e.scrollWidth > e.clientWidth + 1)
        || (/auto|scroll/.test(s.overflowY) && e.scrollHeight > e.clientHeight + 1);
    return scrolls && e.innerText.trim() && e.tabIndex < 0
        && !e.querySelector('a[href], button, input, select, textarea, [tabindex]:not([tabindex="-1"])');
  }).map(e => (e.closest('[data-testid]') || e).dataset.testid + ': ' + e.innerText.trim().slice(0, 40))"""


def tab_stops(page: Page) -> list[dict]:
    """Press Tab from the top of the page until the focus comes round again; each stop's ring."""
    page.evaluate("""() => { const start = document.createElement('span'); start.tabIndex = -1;
        document.body.prepend(start); start.focus(); }""")
    stops = []
    for _ in range(MAX_STOPS):
        page.keyboard.press("Tab")
        stop = page.evaluate(FOCUS_JS)
        if stop is not None and stop["hidden"]:
            page.wait_for_timeout(300)  # Streamlit fades a heading's link and a toolbar in (150 ms)
            stop = page.evaluate(FOCUS_JS)
        if stop is None or (stops and stop["name"] == stops[0]["name"]):
            break
        stops.append(stop)
    return stops


def check_focus(page: Page) -> list[dict]:
    stops = tab_stops(page)
    assert len(stops) > 5, stops
    faint = [f"{s['name']} ({s['contrast']}:1)" for s in stops if s["contrast"] < 3]
    assert not faint, f"{len(faint)} of {len(stops)} tab stops without a 2px, 3:1 focus ring: {faint}"
    return stops


def check_outline(page: Page, title: str) -> None:
    expect(page).to_have_title(f"{title} · fairkit")  # each page names itself (WCAG 2.4.2)
    levels = page.evaluate(HEADINGS_JS)
    assert levels and levels[0] == [1, title], levels
    assert [lvl for lvl, _ in levels].count(1) == 1, levels
    skipped = [(a, b) for a, b in zip(levels, levels[1:]) if b[0] > a[0] + 1]
    assert not skipped, f"skipped heading levels: {skipped}"


def check_reflow(page: Page) -> None:
    size = page.viewport_size
    page.set_viewport_size({"width": 320, "height": 256})
    try:
        page.wait_for_timeout(1000)  # Plotly redraws at the new width
        widths = page.evaluate(WIDTHS_JS)
        assert widths["page"][0] <= widths["page"][1] and widths["main"][0] <= widths["main"][1], widths
        assert not page.evaluate(UNREACHABLE_JS)
    finally:
        page.set_viewport_size(size)
        page.wait_for_timeout(300)


def test_focus_headings_and_reflow(app_page: Page):
    page = app_page
    check_outline(page, "Data")
    check_focus(page)
    check_reflow(page)

    tiny_german_sweep(page)
    go_to(page, "Trade-offs")
    expect(page.get_by_test_id("stPlotlyChart")).to_be_visible()
    wait_for_app(page)
    check_outline(page, "Trade-offs")
    stops = check_focus(page)
    in_chart = [s["name"] for s in stops if s["inChart"]]
    assert 1 <= len(in_chart) <= 2, in_chart  # the PNG download (and full screen), not Plotly's 8
    check_reflow(page)

    export_decision(page, "Checked for access.")
    check_outline(page, "Export")
    # A column name is its accessible name as written: the label's Markdown escape ("age\\_group")
    # was read out as "backslash" (accessibility audit, session 49).
    expect(page.get_by_role("radiogroup", exact=True,
                            name="Group calibration (fitted on validation, per group of sex & age_group)")).to_be_visible()
    check_reflow(page)  # the record's tables
