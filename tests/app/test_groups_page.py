"""The Groups page through AppTest: metrics by group with intervals, small groups, calibration."""

from __future__ import annotations

import html
import json

import numpy as np
import pandas as pd
import pytest

from fairkit.calibration import calibrate_on_validation
from fairkit.export import apply_calibrator, load_bundle
from fairkit.metrics import fairness_report
from fairkit.plots import plot_text
from fairkit.split import split_dataset
from fairkit.store import ResultStore
from fairkit.sweep import predict_scores
from ui import groups as ug
from ui import results as ur
from ui import state
from ui import tradeoffs as ut

from .conftest import chart_array, export_calibrated, export_selected, new_session, texts


def group_table(at, attribute: str) -> pd.DataFrame:
    return next(t.value for t in at.table if t.proto.alt == f"{ug.TABLE_ALT}{attribute}")


def test_needs_a_selected_model(fast_env):
    at = new_session()
    at.switch_page("views/groups.py").run()
    assert any("Select a model on the Trade-offs page" in i for i in texts(at.info))


def test_groups_of_the_selected_model(trained):
    at = trained
    at.switch_page("views/tradeoffs.py").run()
    at.select_slider(key=ut.W_ETA).set_value(1.0).run()
    at.switch_page("views/groups.py").run()
    assert not at.exception, at.exception
    assert any("eta **1**" in m for m in texts(at.markdown))

    # The intersection is shown first; its small groups are flagged and warned about.
    inter = group_table(at, "sex & age_group").set_index("Group")
    assert set(inter.index) == {"female & 25 and over", "female & under 25",
                                "male & 25 and over", "male & under 25"}
    assert inter.loc["male & under 25", "Note"].startswith("small")
    assert inter.loc["male & 25 and over", "Note"] == ""
    assert inter.loc["male & 25 and over", "TPR"].count("[") == 1  # bootstrap interval
    assert any("fewer than 30 rows" in w and "male & under 25" in w for w in texts(at.warning))

    at.selectbox(key=ug.W_ATTRIBUTE).set_value("sex").run()
    sex = group_table(at, "sex").set_index("Group")
    assert set(sex.index) == {"female", "male"} and (sex["Note"] == "").all()
    assert sex.loc["female", "Rows"] == "62"
    at.radio(key=ug.W_PART).set_value("validation").run()
    assert not group_table(at, "sex").set_index("Group").equals(sex)


def _independent(at, fast_env):
    """The selected run's test scores, computed here from the stored model and a fresh split
    (nothing of the page's code or caches)."""
    spec, frame = at.session_state[state.SPEC], at.session_state[state.FRAME]
    split = split_dataset(frame, spec, seed=ur.SPLIT_SEED)
    run_id = at.session_state[ur.SELECTED_RUN]
    model = ResultStore(fast_env / "store").load_model(run_id)
    return split, model, predict_scores(model, split, split.test)


def test_the_ece_shown_is_the_engines_for_that_run(trained, fast_env):
    at = trained
    at.switch_page("views/tradeoffs.py").run()
    at.switch_page("views/groups.py").run()
    split, _, scores = _independent(at, fast_env)
    test = split.test
    report = fairness_report(test.y, scores, test.sensitive, min_group_size=30)
    for attribute in ("sex & age_group", "sex"):
        at.selectbox(key=ug.W_ATTRIBUTE).set_value(attribute).run()
        shown = group_table(at, attribute).set_index("Group")["ECE"].str[:5]
        want = report.by_group[report.by_group["attribute"] == attribute].set_index("group")["ece"]
        assert dict(shown) == {g: f"{v:.3f}" for g, v in want.items()}
    before = {m.label: m.value for m in at.metric}["Largest group ECE on test, before"]
    # The largest group ECE is the headline's (every grouping), as Trade-offs and the record read it.
    assert before == f"{report.gap('max_group_ece'):.3f}" == f"{report.gaps['max_group_ece'].max():.3f}"


def test_groups_page_shows_the_calibrator_export_bundles(trained, fast_env):
    at = trained
    at.switch_page("views/tradeoffs.py").run()
    at.switch_page("views/groups.py").run()
    # The groups looked at are one attribute; the calibrator is still the exported one.
    at.selectbox(key=ug.W_ATTRIBUTE).set_value("sex").run()
    at.radio(key=ug.W_CAL_METHOD).set_value("platt").run()
    assert not at.exception, at.exception
    assert any("per group of **sex & age_group**" in c and "Export page" in c
               for c in texts(at.caption)), texts(at.caption)
    shown = next(t.value for t in at.table if t.proto.alt.startswith("Calibration by"))
    after = float({m.label: m.value for m in at.metric}["Largest group ECE on test, after"])
    chart = next(c for c in at.get("plotly_chart") if "after calibration" in c.proto.spec)
    curve = {t["name"]: chart_array(t["x"]) for t in json.loads(chart.proto.spec)["data"]}
    # The two small intersections fall back to their age group's map, and the page says so in words.
    (note,) = [i.replace("\\", "") for i in texts(at.info) if "too little validation data" in i]  # md escapes
    assert "under 25 uses the map of age_group = under 25 (" in note, note
    assert "rows, fewer than 30: a map of its own would be uncertain" in note, note
    assert "min_group_size" not in note and "n=" not in note and "(global)" not in note
    assert "falls back to" in " ".join(shown["Calibration map"])

    bundle = load_bundle(export_calibrated(at, fast_env, "platt"))
    split, model, scores = _independent(at, fast_env)
    test = split.test
    p_bundle = apply_calibrator(bundle.calibrator, scores, test.sensitive)
    # The bundle scores raw rows the same way, and is what the engine's one function fits.
    raw = test.raw.copy()
    for c in split.spec.sensitive:
        raw[c] = test.sensitive[c].to_numpy()
    np.testing.assert_array_equal(bundle.predict_proba(raw), p_bundle)
    np.testing.assert_array_equal(
        calibrate_on_validation(model, split, method="platt").scores_after, p_bundle)
    from fairkit.export import calibration_info

    recorded = bundle.record["content"]["selected"]["calibration"]
    assert {k: recorded[k] for k in ("method", "grouping")} == {"method": "platt", "grouping": ["sex", "age_group"]}
    assert recorded == calibration_info(bundle.calibrator) and recorded["fallbacks"]  # German's small intersections
    # What the Groups page showed is what these probabilities give.
    report = fairness_report(test.y, p_bundle, test.sensitive, min_group_size=30)
    inter = report.by_group[report.by_group["attribute"] == "sex & age_group"].set_index("group")
    assert dict(zip(shown["Group"], shown["ECE after"])) == {
        g: f"{v:.3f}" for g, v in inter["ece"].items()}
    assert after == pytest.approx(report.gap("max_group_ece"), abs=5e-4)  # the headline's, as every page
    for group, points in report.calibration.groupby("group"):
        np.testing.assert_allclose(curve[plot_text(group)], points["mean_predicted"], rtol=1e-12)


def test_the_shown_ece_change_is_that_of_the_shown_figures():
    # 0.1074 -> 0.1106 shows as 0.107 -> 0.111: the change shown is +0.004, not the unrounded +0.003.
    assert ug.ece_change({"ece_before": 0.1074, "ece_after": 0.1106}) == ("0.107", "0.111", "+0.004")
    assert ug.ece_change({"ece_before": 0.2, "ece_after": 0.15}) == ("0.200", "0.150", "-0.050")


def test_fallbacks_are_said_in_words():
    assert ug.map_name("(global)") == "the map of all rows"
    assert ug.map_name("sex=female") == "the map of sex = female"


def test_every_calibration_method_runs(trained):
    at = trained
    at.switch_page("views/tradeoffs.py").run()
    at.switch_page("views/groups.py").run()
    for method in ("isotonic", "temperature"):
        at.radio(key=ug.W_CAL_METHOD).set_value(method).run()
        assert not at.exception, at.exception
        assert not texts(at.error), texts(at.error)


def test_a_rate_without_enough_rows_says_so_instead_of_a_tight_interval():
    import numpy as np

    from fairkit.metrics import fairness_report
    from ui.groups import format_groups

    rng = np.random.default_rng(2)
    g = np.array(["big"] * 200 + ["tiny"] * 40)
    y = np.r_[rng.integers(0, 2, 200), [1, 1] + [0] * 38]
    p = np.r_[rng.random(200), [0.2, 0.3] + [0.1] * 38]
    table = fairness_report(y, p, g, n_boot=30).by_group
    shown = format_groups(table, "group").set_index("Group")
    assert shown.loc["tiny", "TPR"] == "0.000 (too few to estimate)"
    assert shown.loc["big", "TPR"].count("[") == 1


def _reliability(at) -> dict:
    chart = next(c for c in at.get("plotly_chart") if "Reliability by" in c.proto.spec
                 and "after calibration" not in c.proto.spec)
    return json.loads(chart.proto.spec)


def test_reliability_is_one_panel_per_group_against_all_rows_with_bands_and_counts(trained, fast_env):
    at = trained
    at.switch_page("views/tradeoffs.py").run()
    at.switch_page("views/groups.py").run()
    at.selectbox(key=ug.W_ATTRIBUTE).set_value("sex & age_group").run()
    fig = _reliability(at)
    titles = [html.unescape(a["text"]) for a in fig["layout"]["annotations"]]
    groups = ["female & 25 and over", "female & under 25", "male & 25 and over", "male & under 25"]
    assert titles[:4] == groups  # one small panel per group
    lines = {html.unescape(t["name"]): t for t in fig["data"] if t.get("mode") == "lines+markers+text"}
    assert set(lines) == set(groups)
    # Each panel carries the curve of all rows, and the rows of each bin are written on its point.
    assert sum(t["name"] == "all rows" for t in fig["data"]) == 4
    split, _, scores = _independent(at, fast_env)
    from fairkit.diagnostics import reliability_curve
    from fairkit.stats import wilson_interval

    test = split.test
    want = reliability_curve(test.y, scores, test.sensitive)
    for group, points in want.groupby("group"):
        assert lines[group]["text"] == [f"{int(n):,}" for n in points.sort_values("mean_predicted")["count"]]
    # The band of the largest group is the Wilson interval of each bin's observed rate.
    big = want[want["group"] == "male & 25 and over"].sort_values("mean_predicted")
    low, high = wilson_interval(big["fraction_positive"] * big["count"], big["count"], rows=big["count"])
    xaxis = lines["male & 25 and over"]["xaxis"]
    band = next(t for t in fig["data"] if t.get("fill") == "toself" and t["xaxis"] == xaxis)
    ok = np.isfinite(low)
    np.testing.assert_allclose(chart_array(band["y"]), np.r_[high[ok], low[ok][::-1]])

    # One group at a time, still against all rows.
    at.selectbox(key=ug.W_RELIABILITY_GROUP).set_value("female & under 25").run()
    fig = _reliability(at)
    assert [t["name"] for t in fig["data"] if t.get("mode") == "lines+markers+text"] == ["female &amp; under 25"]
    assert not at.exception, at.exception


def test_calibration_that_makes_things_worse_says_so_in_words():
    cal = {"ece_before": 0.05, "ece_after": 0.08, "made_worse": True, "attribute": "sex & race", "n_groups": 3,
           "worse": [("F & *x*", 0.04, 0.08)]}
    words = ug.calibration_words(cal, "isotonic")
    assert words.startswith("**Calibration made it worse here.** Isotonic calibration per group raised")
    assert "from 0.050 to 0.080" in words and "1 of 3 group(s) of sex & race: F & \\*x\\* (0.040 to 0.080)" in words
    assert "temperature" in words and "without calibration" in words
    # Better at the top but worse for a group: said too, without the headline.
    mixed = ug.calibration_words({**cal, "ece_after": 0.03, "made_worse": False}, "platt")
    assert "lowered the largest group ECE on test (0.050 to 0.030), but made some groups worse" in mixed
    assert "made it worse here" not in mixed
    assert ug.calibration_words({**cal, "ece_after": 0.03, "made_worse": False, "worse": []}, "platt") is None
    # A rise the shown digits would hide is written to the digits that show it (one-
    # implementation audit, session 53: "raised ... from 0.050 to 0.050").
    tiny = ug.calibration_words({**cal, "ece_before": 0.05004, "ece_after": 0.05006, "worse": []}, "platt")
    assert "raised the largest group ECE on test from 0.0500 to 0.0501." in tiny
    # Thousands of groups made it a box of 2,032 entries (scale audit, session 46): the first few.
    many = ug.calibration_words({**cal, "n_groups": 3600, "worse": [(f"g{i}", 0.01, 0.02) for i in range(2032)]},
                                "isotonic")
    assert "2032 of 3600 group(s)" in many and "g7 (0.010 to 0.020) and 2,024 more." in many and "g8 " not in many


def test_groups_and_export_pages_say_when_calibration_made_it_worse(trained, fast_env):
    at = trained
    at.switch_page("views/tradeoffs.py").run()
    at.switch_page("views/groups.py").run()
    split, model, _ = _independent(at, fast_env)
    said = {}
    for method in ug.CAL_METHODS:
        at.radio(key=ug.W_CAL_METHOD).set_value(method).run()
        assert not at.exception, at.exception
        check = calibrate_on_validation(model, split, method=method)
        table = check.per_group()
        worse = table[table["ece_after"] > table["ece_before"]]
        shown = [m for m in texts(at.warning) + texts(at.info) if "calibration per group" in m]
        if check.ece_after > check.ece_before:
            (words,) = [w for w in texts(at.warning) if "Calibration made it worse here" in w]
            assert f"from {check.ece_before:.3f} to {check.ece_after:.3f}" in words
        elif len(worse):
            (words,) = [i for i in texts(at.info) if "but made some groups worse" in i]
        else:
            assert not shown
            continue
        assert f"{len(worse)} of {len(table)} group(s)" in words
        said[method] = words
    assert said, "no calibration method made anything worse on this run: the words went untested"
    # The Export page says the same for the calibration chosen there, and the record notes it.
    method = next(iter(said))
    at.switch_page("views/export.py").run()
    at.radio(key="w.export.calibration").set_value(method).run()
    assert said[method] in texts(at.warning)
    check = calibrate_on_validation(model, split, method=method)
    note = load_bundle(export_calibrated(at, fast_env, method)).record["content"]["calibration_note"]
    assert ("Calibration made it worse here: without it, " in note) == (check.ece_after > check.ece_before)
    if check.ece_after > check.ece_before:
        assert f"without it, {check.ece_before:.3f}" in note


def test_a_risk_scores_rates_are_worded_as_adverse(fast_env):
    from .test_export_page import train_unconstrained

    at = new_session()
    at.selectbox(key=state.W_BUNDLED).set_value("compas").run()
    train_unconstrained(at)
    at.switch_page("views/groups.py").run()
    assert not at.exception, at.exception
    (note,) = [i for i in texts(at.info) if "adverse" in i]
    assert note.startswith("Here a positive prediction is adverse: **predicted to reoffend**.")
    # The committee's record words it the same way.
    saved = export_selected(at, fast_env, "Risk scores.")
    record = load_bundle(saved).record
    assert record["content"]["outcome"] == {"positive_meaning": "reoffended within two years",
                                            "positive_is_adverse": True}
    assert ("positive class `1` (reoffended within two years): an adverse prediction for the person"
            in zipfile_member(saved, "decision_record.md"))


def zipfile_member(path, name: str) -> str:
    import zipfile

    with zipfile.ZipFile(path) as zf:
        return zf.read(name).decode()


def test_the_reliability_figures_numbers_are_a_table_too(trained, fast_env):
    """Accessibility audit, finding 1: each bin's observed rate, its interval and its rows were
    in the chart's hover labels only (a mouse, and sight); a table beside each figure gives them,
    computed independently here from the test scores."""
    from fairkit.diagnostics import reliability_curve
    from fairkit.stats import wilson_interval

    at = trained
    at.switch_page("views/tradeoffs.py").run()
    at.switch_page("views/groups.py").run()
    at.selectbox(key=ug.W_ATTRIBUTE).set_value("sex").run()
    table = next(t.value for t in at.table if t.proto.alt.startswith("Reliability bins by sex"))
    split, _, scores = _independent(at, fast_env)
    want = reliability_curve(split.test.y, scores, split.test.sensitive[["sex"]])
    assert len(table) == len(want) and set(table["Group"]) == {"female", "male"}
    row = want[want["group"] == "male"].iloc[3]
    low, high = wilson_interval(np.array([row["fraction_positive"] * row["count"]]), np.array([row["count"]]),
                                rows=np.array([row["count"]]))
    shown = table[(table["Group"] == "male") & (table["Mean predicted"] == f"{row['mean_predicted']:.3f}")]
    assert shown["Observed rate and 95% interval"].iloc[0].replace("\\", "") == (
        f"{row['fraction_positive']:.3f} [{low[0]:.3f}, {high[0]:.3f}]")
    assert shown["Rows"].iloc[0] == f"{int(row['count']):,}"
    assert any(t.proto.alt.startswith("Reliability bins by") and "after calibration" in t.proto.alt for t in at.table)


def test_a_decision_models_groups_show_no_ece_and_no_reliability_curve(trained):
    """Session 45's left-out: a group-threshold model's ECE is n/a in the record and on the
    Trade-offs page (its scores are its decisions, metrics.OF_SCORES), while this page still
    showed each group's ECE and a reliability curve of 0/1 scores."""
    at = trained
    at.switch_page("views/tradeoffs.py").run()
    at.selectbox(key=ut.W_METHOD).set_value("threshold").run()
    at.switch_page("views/groups.py").run()
    assert not at.exception, at.exception
    assert (group_table(at, "sex & age_group")["ECE"] == "n/a (decisions, not scores)").all()
    assert any("scores are its decisions" in i and "none is drawn" in i for i in texts(at.info))
    assert "Reliability of" not in [s.label for s in at.selectbox]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Largest group ECE on test, before"] == "n/a (decisions, not scores)"
    # A model whose scores rank rows keeps both.
    at.switch_page("views/tradeoffs.py").run()
    at.selectbox(key=ut.W_METHOD).set_value("regularized").run()
    at.switch_page("views/groups.py").run()
    assert group_table(at, "sex & age_group")["ECE"].str.match(r"\d\.\d{3}").all()
    assert "Reliability of" in [s.label for s in at.selectbox]


def test_the_groups_table_writes_a_thin_rate_as_the_record_does():
    """Numbers audit, session 49: the page said "too few to estimate" where the record printed a
    bare "0.000"; both write a group's rate with fairkit.record.group_rate_text."""
    from fairkit.record import group_rate_text

    row = {"attribute": "g", "group": "C", "n": 100, "small": False, "too_few": "tpr", "base_rate": 0.02,
           "selection_rate": 0.2, "selection_rate_low": 0.13, "selection_rate_high": 0.29, "tpr": 0.0,
           "fpr": 0.2, "fpr_low": 0.12, "fpr_high": 0.3, "accuracy": 0.8, "ece": 0.05}
    shown = ug.format_groups(pd.DataFrame([row]), "g").iloc[0]
    assert shown["TPR"] == group_rate_text(row, "tpr") == "0.000 (too few to estimate)"
    assert shown["FPR"] == "0.200 [0.120, 0.300]"


def test_the_tradeoffs_notes_are_validations_and_tests_each_said_once():
    """Numbers audit, session 49: the panel showed the test notes only, while the frontier and the
    tolerance read the validation gaps."""
    row = {"val_report_notes": "A leaves out x\nB only on validation", "test_report_notes": "A leaves out x\nC on test"}
    assert ut.report_notes(row) == [("Validation and test data", "A leaves out x"),
                                    ("Validation data (the frontier's)", "B only on validation"),
                                    ("Test data", "C on test")]
    assert ut.report_notes({}) == []


def test_a_stored_sweeps_tolerance_of_one_or_more_does_not_break_the_page():
    """Session 49: tolerances above 1 are refused now (a gap is at most 1); a sweep stored
    before, with one, still opens at its valid tolerance or the default, a single tolerance
    (stored as a number) as several."""
    assert ut.offered_tolerance([2.0, 0.05]) == 0.05
    assert ut.offered_tolerance(2.0) == 0.2 and ut.offered_tolerance([2.0]) == 0.2
    assert ut.offered_tolerance(1.0) == 1.0 and ut.offered_tolerance(0.03) == 0.03
    assert ut.offered_tolerance([0.02, 0.01]) == 0.01
