"""The committee's path in a real browser (issue 20): an exported decision read on the Review page
as a headline card beside its frontier with the chosen model marked, the printable record
downloaded as PDF and rendered, and the verdicts of three reviewers tallied.

The decision is exported first through the analyst's pages (German credit, a small grid of the
default methods), as test_workflow.py does with an upload; what is new here is the Review page.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from playwright.sync_api import Page, expect

from .helpers import alert, export_decision, go_to, table, tiny_german_sweep, wait_for_app
from .server import SCREENSHOTS

pytestmark = pytest.mark.e2e

REVIEWS = "Reviews of this decision"


def export_a_decision(page: Page) -> None:
    """German credit, the default methods at 2 etas, the Trade-offs page's model, exported."""
    tiny_german_sweep(page)
    go_to(page, "Trade-offs")
    expect(table(page, "Selected model metrics")).to_be_visible()
    wait_for_app(page)
    export_decision(page, "The smallest parity gap the committee can accept at this accuracy.")


def add_verdict(page: Page, name: str, verdict: str, comment: str = "") -> None:
    page.get_by_label("Your name (required)").fill(name)
    page.get_by_role("radiogroup", name="Verdict").get_by_text(verdict, exact=True).click()
    page.get_by_label("Comment (required for a comment or a dissent)").fill(comment)
    page.get_by_role("button", name="Add to the record").click()
    expect(table(page, REVIEWS).get_by_role("row").filter(has_text=name)).to_contain_text(verdict)
    wait_for_app(page)


def test_review_card_chart_pdf_and_tally(app_page: Page, screenshot, tmp_path):
    page = app_page
    export_a_decision(page)

    go_to(page, "Review")
    expect(alert(page, "success", "Integrity verified")).to_be_visible()
    main = page.get_by_test_id("stMain")
    # The headline card: model, threshold and the decider, before the long record.
    # The innermost block holding the card's title is the card's bordered box.
    card = main.get_by_test_id("stVerticalBlock").filter(has=page.get_by_text("At a glance", exact=True)).last
    expect(card).to_contain_text("Dr. Decider")
    expect(card).to_contain_text(re.compile(r"threshold\W+0\.50", re.I))
    expect(card).to_contain_text("not reviewed yet")
    # The chosen model is always marked on the Review chart (on the frontier or off it).
    chart = main.locator(".js-plotly-plot").first
    expect(chart.locator(".legendtext").filter(has_text=re.compile(r"^chosen( \(not on the frontier\))?$"))
           ).to_have_count(1)

    # The printable record: a PDF that renders to a page image.
    with page.expect_download() as download:
        main.get_by_role("button", name="Download the record (PDF)").first.click()
    pdf = tmp_path / download.value.suggested_filename
    download.value.save_as(pdf)
    assert pdf.suffix == ".pdf" and pdf.read_bytes().startswith(b"%PDF")
    pdftoppm = shutil.which("pdftoppm")
    assert pdftoppm, "pdftoppm (poppler-utils) renders the PDF record"
    subprocess.run([pdftoppm, "-png", "-r", "40", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
                   check=True, timeout=60)
    (image,) = tmp_path.glob("page-*1.png")
    assert image.read_bytes().startswith(b"\x89PNG") and image.stat().st_size > 2_000

    # Three reviewers: the tally counts each one's latest sign-off or dissent.
    add_verdict(page, "Prof. Ada", "Sign off")
    add_verdict(page, "Dr. Bo", "Dissent", "The gap for the youngest group is still too wide.")
    add_verdict(page, "Ms. Cy", "Sign off")
    expect(main).to_contain_text("Status: 2 sign-offs, 1 dissent; all 3 are under self-declared names")
    expect(card).to_contain_text("2 sign-offs, 1 dissent")
    wait_for_app(page)
    screenshot(page, "review-committee")
    # The card beside the chart, as the committee sees it first (one screen, not the whole page).
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1400, "height": 1900})
    page.wait_for_timeout(300)  # let the layout settle at the new size
    page.screenshot(path=str(SCREENSHOTS / "review-card.png"))
