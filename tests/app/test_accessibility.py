"""Accessibility through AppTest: each page's outline of headings, the charts' toolbar and the
styles every page carries (WCAG 2.1 AA; the browser checks are in tests/e2e/test_accessibility.py)."""

from __future__ import annotations

import json
import re

import pytest

from ui.display import CHART_CONFIG

from .conftest import new_session

PAGES = ["views/data.py", "views/train.py", "views/tradeoffs.py", "views/groups.py", "views/export.py",
         "views/review.py"]


def headings(at) -> list[tuple[int, str]]:
    """(level, text) of every heading in page order, the sidebar first (as in the page): titles,
    headers and subheaders, and the headings inside Markdown (the decision record's)."""
    out = []

    def walk(node):
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            for child in children.values():
                walk(child)
        elif node.type in ("title", "header", "subheader"):
            out.append((int(node.proto.tag[1]), node.value))
        elif node.type == "markdown":
            out.extend((len(m[1]), m[2]) for m in re.finditer(r"^(#{1,6}) +(.*)$", node.value, re.MULTILINE))

    walk(at.sidebar)
    walk(at.main)
    return out


def assert_outline(at, title: str) -> None:
    """One h1, the page's title, before any other heading, and no level skipped below it (axe:
    page-has-heading-one, heading-order)."""
    outline = headings(at)
    assert outline and outline[0] == (1, title), outline
    assert [level for level, _ in outline].count(1) == 1, outline
    skipped = [(a, b) for a, b in zip(outline, outline[1:]) if b[0] > a[0] + 1]
    assert not skipped, f"skipped levels: {skipped}"


def export_one(at) -> None:
    at.switch_page("views/export.py").run()
    at.text_input(key="w.export.decider").input("Dr. Decider").run()
    at.text_area(key="w.export.rationale").input("The smallest gap at this accuracy.").run()
    at.button(key="export.go").click().run()
    assert not at.exception, at.exception


def test_every_page_has_one_h1_and_skips_no_level(trained, fast_env):
    at = trained
    titles = {"views/data.py": "Data", "views/train.py": "Train", "views/tradeoffs.py": "Trade-offs",
              "views/groups.py": "Groups", "views/export.py": "Export", "views/review.py": "Review"}
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, at.exception
        assert_outline(at, titles[page])
    export_one(at)  # the decision record's own headings, below the page's
    assert any(text.startswith("Decision record:") for _, text in headings(at))
    assert_outline(at, "Export")
    at.switch_page("views/review.py").run()
    assert any(text.startswith("Decision record:") for _, text in headings(at))
    assert_outline(at, "Review")


def test_charts_keep_only_the_png_download_in_their_toolbar(trained, fast_env):
    at = trained
    shown = 0
    for page in ["views/tradeoffs.py", "views/groups.py"]:
        at.switch_page(page).run()
        for chart in at.get("plotly_chart"):
            config = json.loads(chart.proto.config)
            assert config == CHART_CONFIG
            # The figure's own template, not Streamlit's theme, which greyed every axis label to
            # 3.7:1 (accessibility audit, session 49).
            assert chart.proto.theme == ""
            shown += 1
    assert shown >= 4
    removed = set(CHART_CONFIG["modeBarButtonsToRemove"])
    assert "toImage" not in removed and {"zoom2d", "pan2d", "zoomIn2d", "resetScale2d"} <= removed


@pytest.mark.parametrize("page", PAGES)
def test_every_page_carries_the_focus_and_reflow_styles(page, fast_env):
    at = new_session()
    at.switch_page(page).run()
    styles = [h.proto.body for h in at.get("html") if h.proto.body.startswith("<style>")]
    assert len(styles) == 1, "the styles are added once per run"
    (css,) = styles
    assert re.search(r":focus-visible \{\s*outline: 2px solid #1f5fbf !important;", css)
    assert "white-space: normal !important" in css  # tables wrap at 320 px rather than scroll
