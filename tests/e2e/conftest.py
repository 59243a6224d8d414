"""Real-browser test harness: a ``streamlit run`` server and a headless Chromium.

Fixtures
--------
streamlit_server (session)
    Base URL (``http://127.0.0.1:<port>``) of ``streamlit run app.py`` started from the repo's
    ``.venv`` on a free port, with ``FAIRKIT_HOME`` in a temporary folder and the
    ``FAIRKIT_FAST_TRAINING=1`` hook (sweeps train tiny logistic models). Stopped by its
    process id at the end of the session; its log is copied to
    ``test-artifacts/streamlit-e2e.log``. ``run_streamlit(home)`` starts a private server
    for tests that need a fresh process (``server.py``).
browser (session)
    A Playwright (sync API) Chromium browser: Debian's ``/usr/bin/chromium``, headless.
    Missing Chromium is a test FAILURE, not a skip.
page (function)
    A fresh browser context and tab (its own Streamlit session) with 30 s default timeouts.
app_page (function)
    ``page`` opened on the app, with the Data page drawn.
screenshot (function)
    ``screenshot(page, "name")`` saves ``test-artifacts/screenshots/name.png`` (full page).
    Failing tests that used ``page`` get ``FAILED-<test>.png`` automatically.

Locator helpers (combobox choice, upload, table rows, alerts) are in ``helpers.py``.
Mark tests with ``@pytest.mark.e2e``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .helpers import UI_TIMEOUT, wait_for_app
from .server import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, run_streamlit

# Sweeps in the browser tests train small logistic models for a few epochs (ui/results.py).
FAST_ENV = {"FAIRKIT_FAST_TRAINING": "1", "OMP_NUM_THREADS": "1"}


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # Remember each phase's outcome on the test item, so the page fixture can tell a failure.
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def streamlit_server(tmp_path_factory) -> str:
    """Base URL of one ``streamlit run app.py`` shared by the whole test session."""
    home = tmp_path_factory.mktemp("fairkit_home")
    try:
        with run_streamlit(home, env=FAST_ENV) as url:
            yield url
    finally:
        # Keep the server log next to the screenshots for post-mortems.
        SCREENSHOTS.parent.mkdir(parents=True, exist_ok=True)
        if (home / "streamlit.log").exists():
            shutil.copyfile(home / "streamlit.log", SCREENSHOTS.parent / "streamlit-e2e.log")


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium through Playwright's sync API."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: the browser tests need it "
                    "(apt-get install chromium, or set FAIRKIT_CHROMIUM to its path).",
                    pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                      headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, request):
    """A new context and tab (its own Streamlit session), 1400x1000, 30 s timeouts.

    When the test fails, the tab is saved as ``test-artifacts/screenshots/FAILED-<test>.png``.
    """
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(UI_TIMEOUT)
    context.set_default_navigation_timeout(UI_TIMEOUT)
    tab = context.new_page()
    try:
        yield tab
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            try:
                tab.screenshot(path=str(SCREENSHOTS / f"FAILED-{request.node.name}.png"))
            except Exception:  # noqa: BLE001 - a post-mortem must not hide the real failure
                pass
    finally:
        context.close()


@pytest.fixture
def app_page(page, streamlit_server):
    """``page`` opened on the app's Data page."""
    from playwright.sync_api import expect

    page.goto(streamlit_server)
    expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible()
    expect(page.get_by_role("table").first).to_be_visible()  # the first run has finished
    wait_for_app(page)
    return page


_CONTENT_HEIGHT_JS = """() => Math.max(document.documentElement.scrollHeight,
    ...Array.from(document.querySelectorAll('[data-testid]'), e => e.scrollHeight))"""


@pytest.fixture
def screenshot():
    """``screenshot(page, name)`` saves a full-page PNG under test-artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        # Streamlit scrolls inside its main container, not the document, so a "full page"
        # screenshot would stop at the viewport: grow the viewport to the content instead.
        size = page.viewport_size
        height = page.evaluate(_CONTENT_HEIGHT_JS)
        page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(height, 8000))})
        try:
            page.wait_for_timeout(300)  # let the layout settle at the new size
            page.screenshot(path=str(path), full_page=True)
        finally:
            page.set_viewport_size(size)
        return path

    return take
