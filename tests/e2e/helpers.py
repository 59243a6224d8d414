"""Locator helpers for browser tests of Streamlit pages (import with ``from .helpers import``)."""

from __future__ import annotations

import time

from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

UI_TIMEOUT = 30_000  # milliseconds for Playwright actions and expect()

# expect() has its own default (5 s), separate from the context's action timeout.
expect.set_options(timeout=UI_TIMEOUT)


def wait_for_app(page: Page) -> None:
    """Wait until Streamlit shows no run in progress (no 'running' icon, no stale elements).

    Right after a click the new run may not have started yet, so follow this with an
    ``expect`` on what the run should show; the expect is what makes a test reliable.
    """
    expect(page.get_by_test_id("stApp")).to_be_visible()
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    expect(page.locator('[data-stale="true"]')).to_have_count(0)


def button(page: Page, name: str) -> Locator:
    """The button ``name`` of the app's current run: while a rerun draws the page again Streamlit
    keeps the last run's elements, marked stale, beside the new ones, and two buttons of one name
    would make a plain role locator fail (seen in CI: the disabled Export button and its enabled
    successor)."""
    return page.locator('[data-testid="stElementContainer"]:not([data-stale="true"])').get_by_role(
        "button", name=name)


def choose(page: Page, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox or multiselect labelled ``label``.

    Streamlit's selectbox and multiselect are ARIA comboboxes named by their label; the
    options appear in a listbox once the combobox is clicked.

    Right after an upload the box clicked may belong to a run about to be replaced: its list can
    lack the new table's option, or close when the next run draws the page (a pick that never
    found its option was seen once, with the suite on two workers). A pick that finds no option
    in 5 s closes the list, waits for the run to end and tries again, for up to ``UI_TIMEOUT``.
    """
    deadline = time.monotonic() + UI_TIMEOUT / 1000
    while True:
        page.get_by_role("combobox", name=label, exact=True).click()
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=5_000)
            return
        except PlaywrightTimeoutError:
            if time.monotonic() > deadline:
                raise
            page.keyboard.press("Escape")
            wait_for_app(page)


def upload(page: Page, path) -> None:
    """Put a file into the (single) ``st.file_uploader`` on the page."""
    uploader = page.get_by_test_id("stFileUploader")
    expect(uploader).to_be_visible()
    uploader.locator("input[type=file]").set_input_files(str(path))


def table(page: Page, name: str) -> Locator:
    """An ``st.table`` by its accessible name (the ``alt`` passed to ``st.table``).

    Text in ``st.dataframe`` is drawn on a canvas and cannot be read from the DOM; tables
    that tests read are drawn with ``st.table`` (see ``ui.display.show_table``).
    """
    return page.get_by_role("table", name=name, exact=True)


def expect_row(tbl: Locator, first_cell: str, *cells: str) -> None:
    """Expect exactly one row of ``tbl`` starting with ``first_cell`` and holding ``cells``."""
    row = tbl.get_by_role("row").filter(has=tbl.page.get_by_role("cell", name=first_cell, exact=True))
    expect(row).to_have_count(1)
    for cell in cells:
        expect(row.get_by_role("cell", name=cell, exact=True)).to_be_visible()


def alert(page: Page, kind: str, text: str) -> Locator:
    """``st.error`` / ``st.warning`` / ``st.info`` / ``st.success`` boxes containing ``text``."""
    test_id = {"error": "stAlertContentError", "warning": "stAlertContentWarning",
               "info": "stAlertContentInfo", "success": "stAlertContentSuccess"}[kind]
    return page.get_by_test_id(test_id).filter(has_text=text)


def go_to(page: Page, title: str) -> None:
    """Open a page from the sidebar navigation (keeps the session, unlike a new URL)."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
    wait_for_app(page)


def _number(text: str | None) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def set_slider(page: Page, label: str, value: str, key: str) -> None:
    """Press keys on the slider labelled ``label`` until it shows ``value`` and the app keeps it.

    ``key`` (ArrowLeft, End, Home, ...) is the first move. One press at a time, each waited for:
    a press made while the app reruns from the previous one can be lost, or land on a value the
    slider no longer shows, and so overshoot (seen in CI: 8 -> 2 where 4 was asked). A numeric
    slider therefore steps towards ``value`` from wherever it stands (ArrowLeft above it,
    ArrowRight below), so a lost or extra press is corrected rather than repeated.
    """
    slider = page.get_by_role("slider", name=label)
    target = _number(value)
    for _ in range(60):
        wait_for_app(page)
        shown = slider.get_attribute("aria-valuetext")
        if shown == value:
            # The slider can show the value before the app has it: a rerun from an earlier press
            # still under way then draws it again at that press's value (seen in CI: 4 shown, 5
            # kept). Let the app settle and look again before trusting it.
            page.wait_for_timeout(500)
            wait_for_app(page)
            if slider.get_attribute("aria-valuetext") == value:
                break
            continue
        now = _number(shown)
        press = key
        if target is not None and now is not None and key.startswith("Arrow"):
            press = "ArrowLeft" if now > target else "ArrowRight"
        slider.focus()
        page.keyboard.press(press)
        # Wait for the slider to leave the value it showed before looking again; a press the
        # app lost leaves it there, and the loop presses again.
        try:
            expect(slider).not_to_have_attribute("aria-valuetext", shown or "", timeout=5_000)
        except AssertionError:
            pass
    expect(slider).to_have_attribute("aria-valuetext", value)


SWEEP_TIMEOUT = 300_000  # ms: a few tiny runs, on two cores shared with other work


def tiny_german_sweep(page: Page) -> None:
    """German credit chosen on the Data page, and the default methods trained at 2 etas (no
    adaptive placement: 5 tiny runs under the fast-training hook); ends on the Train page."""
    choose(page, "Sample dataset", "Statlog German Credit (1994)")
    expect(page.get_by_test_id("stSidebar")).to_contain_text("Dataset: german")
    wait_for_app(page)
    go_to(page, "Train")
    set_slider(page, "Number of eta values (0 included)", "2", "Home")
    page.get_by_text("Adaptive eta placement").click()
    wait_for_app(page)
    page.get_by_role("button", name="Run sweep").click()
    # While a rerun draws the finished page, the previous run's box can still be on it beside the
    # new one (CI, session 45: a strict-mode violation with two): wait for one, then for the run
    # to end, and only then require exactly one.
    expect(alert(page, "success", "runs ready.").first).to_be_visible(timeout=SWEEP_TIMEOUT)
    wait_for_app(page)
    expect(alert(page, "success", "runs ready.")).to_have_count(1)


def export_decision(page: Page, rationale: str, decider: str = "Dr. Decider") -> None:
    """Export the selected model from the Export page, by ``decider`` with ``rationale``."""
    go_to(page, "Export")
    page.get_by_label("Decider's name (required)").fill(decider)
    page.get_by_label("Rationale: why this model, at this trade-off (required)").fill(rationale)
    page.keyboard.press("Tab")  # a text area sends its value when it loses focus
    export = button(page, "Export the bundle")
    expect(export).to_be_enabled()
    export.click()
    expect(alert(page, "success", "Exported and logged")).to_be_visible()
    wait_for_app(page)
