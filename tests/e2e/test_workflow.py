"""The whole workflow in a real browser: upload, train, choose on the frontier, inspect groups,
export and review; and two browser sessions that must not see each other's data.

The server runs with the ``FAIRKIT_FAST_TRAINING=1`` hook (conftest.py), so the sweep of
2 methods x 4 etas (plus the unconstrained reference) trains in seconds.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import Page, expect

from fairkit.export import load_bundle

from .helpers import alert, button, choose, go_to, set_slider, table, upload, wait_for_app

pytestmark = pytest.mark.e2e

SWEEP_TIMEOUT = 300_000  # ms: 9 tiny runs, on two cores shared with other work
PANEL = "Selected model metrics"


def make_csv(path, n: int = 600, seed: int = 1, prefix: str = ""):
    """A biased synthetic table: income depends on sex and the outcome on income."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n, p=[0.4, 0.6])
    x1 = rng.normal(size=n) + (sex == "M") * 0.8
    x2 = rng.normal(size=n)
    logit = 1.4 * x1 + 0.5 * x2 - 0.2 + (sex == "M") * 0.6
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    pd.DataFrame({"sex": sex, f"{prefix}income": (x1 * 10 + 40).round(1),
                  f"{prefix}tenure": x2.round(2), "region": rng.choice(["north", "south"], n),
                  "approved": y}).to_csv(path, index=False)
    return path


def upload_with_sensitive(page: Page, csv) -> None:
    page.get_by_text("Upload CSV/Parquet", exact=True).click()
    upload(page, csv)
    choose(page, "Sensitive attributes", "sex")
    page.keyboard.press("Escape")
    # The favourable outcome of an upload is never guessed: it is chosen.
    choose(page, "Positive label (the favourable outcome)", "yes")
    expect(table(page, "Group sizes and positive rates by sex")).to_be_visible()
    expect(page.get_by_test_id("stSidebar")).to_contain_text("Ready to train")
    wait_for_app(page)


def panel_cell(page: Page, metric: str, column: int) -> str:
    """Text of the side panel's row ``metric``, cell ``column`` (0 = metric name)."""
    row = table(page, PANEL).get_by_role("row").filter(
        has=page.get_by_role("cell", name=metric, exact=True))
    return row.get_by_role("cell").nth(column).inner_text()


def test_workflow(app_page: Page, screenshot, tmp_path):
    page = app_page
    upload_with_sensitive(page, make_csv(tmp_path / "loans.csv"))
    screenshot(page, "1-data-upload")

    # Train: the default methods (unconstrained, regularized, threshold) with 4 etas each.
    go_to(page, "Train")
    set_slider(page, "Number of eta values (0 included)", "4", "ArrowLeft")
    # The grid only (adaptive placement, on by default, would add etas where it is coarse).
    page.get_by_text("Adaptive eta placement").click()
    expect(page.get_by_text(re.compile(r"^9 runs \(\d already stored"))).to_be_visible()
    wait_for_app(page)
    page.get_by_role("button", name="Run sweep").click()
    # A rerun can show the previous run's box beside the new one until it ends (helpers.tiny_german_sweep).
    expect(alert(page, "success", "9 runs ready.").first).to_be_visible(timeout=SWEEP_TIMEOUT)
    wait_for_app(page)
    expect(alert(page, "success", "9 runs ready.")).to_have_count(1)
    screenshot(page, "2-train-done")

    # Trade-offs: the slider steps along the trade-off (from the least fair model) and moves the side panel.
    go_to(page, "Trade-offs")
    expect(table(page, PANEL)).to_be_visible()
    main = page.get_by_test_id("stMain")
    expect(main).to_contain_text("Fairness-regularized network at eta 0")
    # Beside the validation gap: the gap chance alone gives on these rows.
    expect(main).to_contain_text(re.compile(r"By chance alone, a model that treats the groups alike in the "
                                            r"population would show a validation [a-z ]+ of about \d\.\d{3}"))
    before = panel_cell(page, "Demographic parity difference", 2)
    assert re.fullmatch(r"\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]", before), before
    eta = page.get_by_role("slider", name="Model along the trade-off")
    expect(eta).to_have_attribute("aria-valuetext", re.compile(r"^validation: gap \d\.\d{3} · accuracy \d\.\d{3} \(eta 0\)$"))
    eta.focus()
    page.keyboard.press("End")  # the fairest model (or a constant one, labelled: they come last)
    expect(main).to_contain_text(re.compile(r"Fairness-regularized network at eta (0\.05|1|20)\b"))
    wait_for_app(page)
    after = panel_cell(page, "Demographic parity difference", 2)
    assert after != before
    assert panel_cell(page, "Demographic parity difference", 3).startswith("-")
    # The accuracy change against the unconstrained model, with the interval of the two models'
    # paired difference on the same test rows (unless they decide every row alike).
    change = panel_cell(page, "Accuracy", 3)
    if change == "+0.000":
        expect(main).to_contain_text(re.compile(r"The two models (decide all \d+ test rows alike|give each of "
                                                r"the \d+ test rows the same score)"))
    else:
        assert re.fullmatch(r"[+-]\d\.\d{3} \[[+-]\d\.\d{3}, [+-]\d\.\d{3}\]", change), change
        expect(main).to_contain_text(re.compile(r"the 95% interval of the paired difference on the same \d+ "
                                                r"test rows \(the two models decide \d+\.\d% of them differently\)"))

    # A click on a point of the threshold reference curve selects that model; the method
    # box and the eta slider follow.
    chart = page.locator(".js-plotly-plot").first
    point = chart.locator(".scatterlayer .trace").nth(2).locator("path.point").first
    box = point.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(main).to_contain_text("Group thresholds (post-processing reference) (needs the attribute) at eta")
    expect(page.get_by_role("combobox", name="Method", exact=True)).to_have_value(
        re.compile("^Group thresholds"))
    expect(main).to_contain_text("Needs the sensitive attribute at prediction time")
    wait_for_app(page)
    # Then the controls again: the largest eta of the reference.
    page.get_by_role("slider", name="Model along the trade-off").focus()
    page.keyboard.press("End")
    expect(main).to_contain_text(re.compile(r"\(needs the attribute\) at eta (0|0\.1|0\.55|1)\b"))
    wait_for_app(page)
    page.get_by_label("Your name").fill("Ana Analyst")
    page.get_by_role("button", name="Record this selection").click()
    expect(alert(page, "success", "Selection recorded")).to_be_visible()
    wait_for_app(page)
    screenshot(page, "3-tradeoffs")

    go_to(page, "Groups")
    expect(table(page, "Metrics by group for sex")).to_be_visible()
    expect(page.get_by_text("Largest group ECE on test, after")).to_be_visible()
    wait_for_app(page)
    screenshot(page, "4-groups")

    # Export: disabled until the rationale and the decider's name are written.
    go_to(page, "Export")
    export = button(page, "Export the bundle")
    expect(export).to_be_disabled()
    page.get_by_label("Decider's name (required)").fill("Dr. Decider")
    page.get_by_label("Rationale: why this model, at this trade-off (required)").fill(
        "Closes the parity gap at a small cost in accuracy.")
    page.keyboard.press("Tab")  # a text area sends its value when it loses focus
    expect(export).to_be_enabled()
    export.click()
    expect(alert(page, "success", "Exported and logged")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("^Decision record: loans"))).to_be_visible()
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download the bundle (.zip)").click()
    bundle_path = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(bundle_path)
    bundle = load_bundle(bundle_path)
    assert bundle.record["decider"] == "Dr. Decider"
    assert bundle.record["content"]["selected"]["method"] == "threshold"
    assert bundle.needs_sensitive_at_predict
    frame = pd.read_csv(tmp_path / "loans.csv").head(10)
    assert bundle.predict(frame).shape == (10,)
    wait_for_app(page)
    screenshot(page, "5-export")

    # Review: the committee reads the verified record and signs off.
    go_to(page, "Review")
    expect(alert(page, "success", "Integrity verified")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("^Decision record: loans"))).to_be_visible()
    page.get_by_label("Your name (required)").fill("Prof. Reviewer")
    page.get_by_text("Sign off", exact=True).click()
    page.get_by_role("button", name="Add to the record").click()
    reviews = table(page, "Reviews of this decision")
    expect(reviews).to_contain_text("Prof. Reviewer")
    expect(reviews).to_contain_text("Sign off")
    expect(table(page, "Recorded selections")).to_contain_text("Ana Analyst")
    wait_for_app(page)
    screenshot(page, "6-review")


def test_two_sessions_see_only_their_own_data(browser, streamlit_server, tmp_path, screenshot):
    pages = []
    for name in ("alpha", "beta"):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        pages.append(context.new_page())
    try:
        alpha, beta = pages
        for page in pages:
            page.goto(streamlit_server)
            expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible()
            wait_for_app(page)
        # Both sessions upload at the same time; alpha's is the workflow's table.
        upload_with_sensitive(alpha, make_csv(tmp_path / "alpha.csv"))
        upload_with_sensitive(beta, make_csv(tmp_path / "beta.csv", seed=2, prefix="beta_"))
        expect(alpha.get_by_test_id("stSidebar")).to_contain_text("Dataset: alpha")
        expect(beta.get_by_test_id("stSidebar")).to_contain_text("Dataset: beta")
        expect(alpha.get_by_test_id("stMain")).not_to_contain_text("beta_income")
        expect(beta.get_by_test_id("stMain")).to_contain_text("beta.csv")
        alpha.reload()  # a new session of the same browser: its own upload comes back, not beta's
        expect(alpha.get_by_role("heading", name="Data", exact=True)).to_be_visible()
        wait_for_app(alpha)
        expect(alpha.get_by_test_id("stSidebar")).to_contain_text("Dataset: alpha")
        expect(alpha.get_by_test_id("stMain")).to_contain_text("Using the file uploaded earlier: alpha.csv")
        expect(alpha.get_by_test_id("stMain")).not_to_contain_text("beta_income")
        # Results are per session: beta has not trained, so it has nothing to compare.
        go_to(beta, "Trade-offs")
        expect(alert(beta, "info", "Run a sweep on the Train page first")).to_be_visible()
        # Recorded decisions are what sessions share, on purpose: the Review page.
        go_to(beta, "Review")
        screenshot(beta, "7-review-other-session")
    finally:
        for page in pages:
            page.context.close()
