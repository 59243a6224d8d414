"""The Data page in a real browser: bundled datasets and an upload with a problem."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from .helpers import alert, choose, expect_row, table, upload, wait_for_app
from .server import run_streamlit

pytestmark = pytest.mark.e2e


def group_table(page: Page, level: str):
    """The group table for ``level`` ("sex", "sex & age_group")."""
    return table(page, f"Group sizes and positive rates by {level}")


def test_german_groups(app_page: Page, screenshot):
    page = app_page
    # Adult is the default, so the app shows something useful on first start.
    expect_row(group_table(page, "sex"), "Female", "16,192")

    choose(page, "Sample dataset", "Statlog German Credit (1994)")
    sex = group_table(page, "sex")
    expect_row(sex, "female", "310")
    expect_row(sex, "male", "690")
    expect_row(group_table(page, "age_group"), "under 25", "149")
    expect_row(group_table(page, "sex & age_group"), "female & under 25", "84")
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar).to_contain_text("german")
    expect(sidebar).to_contain_text("1,000")
    expect(sidebar).to_contain_text("Ready to train")
    wait_for_app(page)
    screenshot(page, "data-german-groups")


def test_upload_with_constant_target(app_page: Page, screenshot, tmp_path):
    page = app_page
    csv = tmp_path / "loans.csv"
    csv.write_text("age,sex,approved\n" + "".join(
        f"{20 + i % 40},{'FM'[i % 2]},yes\n" for i in range(80)))

    page.get_by_text("Upload CSV/Parquet", exact=True).click()
    upload(page, csv)

    # The last column is guessed as the target; it has a single value.
    problem = alert(page, "error", "has a single value")
    expect(problem).to_contain_text("approved")
    expect(problem).to_contain_text("What to do")
    expect(alert(page, "error", "No sensitive attribute is chosen")).to_be_visible()

    choose(page, "Sensitive attributes", "sex")
    page.keyboard.press("Escape")
    expect_row(group_table(page, "sex"), "F", "40")
    expect(alert(page, "error", "No sensitive attribute is chosen")).to_have_count(0)
    expect(problem).to_be_visible()  # still blocking: the target is constant
    expect(page.get_by_test_id("stSidebar")).to_contain_text("problem(s) to fix")
    wait_for_app(page)
    screenshot(page, "data-upload-constant-target")


def test_malformed_upload_keeps_the_app_running(app_page: Page, tmp_path):
    page = app_page
    bad = tmp_path / "broken.csv"
    bad.write_text("a,b\n1,2\n3,4,5,6\n")
    page.get_by_text("Upload CSV/Parquet", exact=True).click()
    upload(page, bad)
    error = alert(page, "error", "could not be read")
    expect(error).to_contain_text("broken.csv")
    expect(page.get_by_test_id("stException")).to_have_count(0)
    # Back to the samples: the app still works.
    page.get_by_text("Bundled sample", exact=True).click()
    expect_row(group_table(page, "sex"), "Female", "16,192")


def test_first_visit_by_page_url_runs_the_app(page: Page, tmp_path):
    with run_streamlit(tmp_path) as url:
        page.goto(f"{url}/data")
        expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible()
        wait_for_app(page)
        # Short timeouts: by now the run is over, and the expected failure should be quick.
        expect(page).to_have_title("Data · fairkit", timeout=5_000)
        expect(page.get_by_test_id("stSidebar")).to_contain_text("Current data", timeout=5_000)
