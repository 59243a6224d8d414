"""A hostile upload in a real browser (issue 18): a message on the page, never a traceback.

The other hostile files are uploaded through AppTest (tests/app/test_hostile_uploads.py); this
checks what the browser finally shows, with the shipped .streamlit/config.toml.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from .helpers import alert, upload, wait_for_app

pytestmark = pytest.mark.e2e


def test_junk_upload_shows_a_message_and_no_traceback(app_page: Page, tmp_path, screenshot):
    page = app_page
    junk = tmp_path / "data.csv"
    junk.write_bytes(b"\xde\xad\xbe\xef\r" * 400)  # no NUL byte: once csv's _csv.Error traceback
    page.get_by_text("Upload CSV/Parquet", exact=True).click()
    upload(page, junk)

    expect(alert(page, "error", "could not be read")).to_contain_text("data.csv")
    wait_for_app(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    body = page.locator("body")
    for leak in ("Traceback", 'File "/', "_csv.Error", "site-packages"):
        expect(body).not_to_contain_text(leak)
    screenshot(page, "hostile-junk-upload")
