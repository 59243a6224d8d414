"""The analyst's loop in a real browser (issue 20): a long sweep survives a reload of the page, a
cancel keeps its finished runs for Trade-offs, and the Export page previews what a decision
threshold does, group by group, before anything is exported.

The server runs with the ``FAIRKIT_FAST_TRAINING=1`` hook (conftest.py); the sweep here is long on
purpose (16 etas x 10 seeds of the regularized network on German credit, 170 tiny runs) so
that it is still running after the reload, and it is cancelled long before it ends.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from .helpers import alert, choose, go_to, set_slider, table, wait_for_app

pytestmark = pytest.mark.e2e

GERMAN = "Statlog German Credit (1994)"
PROGRESS = re.compile(r"^([1-9]\d*) / (\d+) runs done")
SLOW = 240_000  # ms: a first run, or the run a cancel waits for, on two cores shared with other work
BANNER = re.compile(r"A sweep for this data is running: (\d+) / (\d+) runs done")
SELECTED = "Selected model decisions by group"


def start_long_sweep(page: Page, fairness: str | None = None) -> None:
    """German credit, the two default methods with 16 etas and 10 seeds (the grid only), started.

    The post-processing reference is left out: its decisions are group thresholds on its base's
    scores, so the Export page's threshold would not move them, and the first runs a sweep trains
    are its batches. ``fairness``: another definition than the default, whose runs no other
    test of the session stored (the server's store is the session's: a sweep whose runs an
    earlier test's cancelled sweep had mostly trained finished before the page was looked at,
    CI, session 50).
    """
    choose(page, "Sample dataset", GERMAN)
    expect(page.get_by_test_id("stSidebar")).to_contain_text("Dataset: german")
    wait_for_app(page)
    go_to(page, "Train")
    methods = page.get_by_role("combobox", name="Methods", exact=True)
    methods.click()
    page.keyboard.press("Backspace")  # the last tag: the post-processing reference
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("stMultiSelect").first).not_to_contain_text("Group thresholds")
    wait_for_app(page)
    if fairness is not None:
        choose(page, "Fairness definition the methods target", fairness)
        wait_for_app(page)
    set_slider(page, "Number of eta values (0 included)", "16", "End")
    page.get_by_text("Adaptive eta placement").click()
    seeds = page.get_by_role("spinbutton", name="Seeds per setting")
    seeds.fill("10")
    seeds.press("Enter")
    # Other tests of the session may have stored a few of these runs (eta 0 on German, seed 0).
    expect(page.get_by_text(re.compile(r"^\d{3} runs \(\d+ already stored"))).to_be_visible()
    wait_for_app(page)
    run = page.get_by_role("button", name="Run sweep")
    run.click()
    # Disabled from the click on, while the sweep runs.
    expect(run).to_be_disabled()
    expect(page.get_by_text(PROGRESS)).to_be_visible(timeout=SLOW)


def counts_by_group(page: Page) -> str:
    """The selected model's per-group confusion counts, as the table's text."""
    tbl = table(page, SELECTED)
    expect(tbl).to_be_visible()
    return tbl.inner_text()


def test_reload_mid_sweep_keeps_progress_and_cancel_keeps_results(app_page: Page, screenshot):
    page = app_page
    start_long_sweep(page)

    # A reload is a new session: the data, the settings and the running sweep come back.
    page.reload()
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible()
    banner = alert(page, "info", "A sweep for this data is running")
    expect(banner).to_have_text(BANNER)
    expect(page.get_by_role("progressbar")).to_be_visible()
    expect(page.get_by_test_id("stSidebar")).to_contain_text("Dataset: german")
    expect(page.get_by_role("slider", name="Number of eta values (0 included)")).to_have_value("16")
    expect(page.get_by_role("button", name="Run sweep")).to_be_disabled()
    done, total = map(int, BANNER.search(banner.inner_text()).groups())
    assert 0 <= done < total
    screenshot(page, "train-progress")

    # The reloaded page belongs to the same browser: it may cancel the sweep.
    page.get_by_role("button", name="Cancel").click()
    cancelled = alert(page, "warning", "The sweep was cancelled after")
    expect(cancelled).to_be_visible(timeout=SLOW)
    finished = int(re.search(r"cancelled after (\d+) of", cancelled.inner_text()).group(1))
    assert 0 < finished < total
    expect(page.get_by_role("button", name="Run sweep")).to_be_enabled()
    wait_for_app(page)

    # Trade-offs shows the finished runs, and says so.
    go_to(page, "Trade-offs")
    note = alert(page, "info", "The latest sweep was cancelled after")
    expect(note).to_contain_text(f"these are the {finished} runs it finished")
    expect(page.get_by_role("table", name="Selected model metrics", exact=True)).to_be_visible()
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    wait_for_app(page)
    screenshot(page, "tradeoffs-cancelled")

    # Export: the per-group counts at a stricter threshold, before exporting.
    go_to(page, "Export")
    page.get_by_text("What the decision threshold 0.50 changes (test data)").click()
    at_half = counts_by_group(page)
    assert re.search(r"\bTrue positives\b", at_half)
    set_slider(page, "Decision threshold", "0.95", "End")
    expect(page.get_by_text("What the decision threshold 0.95 changes (test data)")).to_be_visible()
    expect(alert(page, "warning", "this export decides at 0.95")).to_be_visible()
    wait_for_app(page)
    stricter = counts_by_group(page)
    assert stricter != at_half  # a stricter threshold turns some positive decisions negative
    screenshot(page, "export-threshold")


def test_a_model_chosen_with_the_slider_is_kept_over_a_reload(app_page: Page):
    """State audit, session 44: the slider and the chart are a fragment of the page, whose reruns
    never reached the end of app.py where the session's choices are kept: after a reload the
    toast said the choices were back, and the slider (and the Export page) had the model chosen
    before the move."""
    from .helpers import tiny_german_sweep

    page = app_page
    tiny_german_sweep(page)
    go_to(page, "Trade-offs")
    slider = page.get_by_role("slider", name="Model along the trade-off")
    expect(slider).to_be_visible()
    before = slider.get_attribute("aria-valuetext")
    for key in ("End", "Home"):
        slider.focus()
        page.keyboard.press(key)
        wait_for_app(page)
        page.wait_for_timeout(500)
        wait_for_app(page)
        if slider.get_attribute("aria-valuetext") != before:
            break
    chosen = slider.get_attribute("aria-valuetext")
    assert chosen != before
    page.reload()
    expect(page.get_by_role("heading", name="Trade-offs", exact=True)).to_be_visible()
    wait_for_app(page)
    expect(page.get_by_role("slider", name="Model along the trade-off")).to_have_attribute("aria-valuetext", chosen)


def test_trade_offs_follow_a_running_sweep_to_its_end(app_page: Page):
    """State audit, session 44: Trade-offs said "its trade-offs appear here when it finishes" and
    never changed (nothing ran the page again). It follows the sweep: cancelled from another tab
    of the same browser, the page shows the finished runs without being touched."""
    page = app_page
    start_long_sweep(page, fairness="Equal opportunity")  # none of its runs stored by another test
    go_to(page, "Trade-offs")
    expect(alert(page, "info", "Your sweep is running")).to_be_visible()
    other = page.context.new_page()
    other.goto(page.url)
    wait_for_app(other)
    go_to(other, "Train")
    other.get_by_role("button", name="Cancel").click()
    expect(alert(other, "warning", "The sweep was cancelled after")).to_be_visible(timeout=SLOW)
    other.close()
    expect(alert(page, "info", "The latest sweep was cancelled after")).to_be_visible(timeout=SLOW)
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
