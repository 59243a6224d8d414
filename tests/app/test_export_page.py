"""The Export page through AppTest: required answers, preview, the saved bundle and its log."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from fairkit import keys
from fairkit.audit import AuditLog
from fairkit.export import load_bundle
from ui import export as ue
from ui import results as ur
from ui import tradeoffs as ut

from .conftest import export_calibrated, export_selected, new_session, run_tiny_sweep, texts


def buttons(at) -> dict:
    return {b.key: b for b in at.button}


def open_export(at, method: str, eta: float) -> str:
    """Select ``method`` at ``eta`` on the Trade-offs page, open the Export page; the run's id."""
    at.switch_page("views/tradeoffs.py").run()
    at.selectbox(key=ut.W_METHOD).set_value(method).run()
    at.select_slider(key=ut.W_ETA).set_value(eta).run()
    run_id = at.session_state[ur.SELECTED_RUN]
    at.switch_page("views/export.py").run()
    return run_id


def test_needs_a_selected_model(fast_env):
    at = new_session()
    at.switch_page("views/export.py").run()
    assert any("Select a model on the Trade-offs page" in i for i in texts(at.info))


def test_export_writes_logs_and_records_the_decision(trained, fast_env):
    at = trained
    at.switch_page("views/tradeoffs.py").run()
    at.selectbox(key=ut.W_UNFAIRNESS).set_value("disparate_impact_gap").run()
    at.selectbox(key=ut.W_METHOD).set_value("threshold").run()
    at.select_slider(key=ut.W_ETA).set_value(1.0).run()
    run_id = at.session_state[ur.SELECTED_RUN]
    at.switch_page("views/export.py").run()
    assert not at.exception, at.exception
    assert any("reads the sensitive attribute at prediction time (group-specific decision thresholds"
               in w for w in texts(at.warning))

    # Both buttons stay disabled, with a message, until rationale and decider are given.
    assert buttons(at)["export.go"].disabled and buttons(at)["export.preview"].disabled
    assert any("write a rationale and the decider's name" in i for i in texts(at.info))
    at.text_input(key="w.export.decider").input("Dr. Decider").run()
    assert buttons(at)["export.go"].disabled
    assert any("write a rationale." in i for i in texts(at.info))
    rationale = "Meets the 80% rule on test. [click](http://evil.example) $x$"
    at.text_area(key="w.export.rationale").input(rationale).run()
    at.text_area(key="w.export.purpose").input("Decide which credit applications get a manual review.").run()
    # Its scores are its decisions: the threshold is fixed at the frontier's, which decides the same
    # as any other (CLI audit, session 44: a moved one was recorded and changed nothing).
    threshold = at.slider(key="w.export.threshold")
    assert threshold.disabled and threshold.value == 0.5
    assert not buttons(at)["export.go"].disabled

    # The preview renders the record without writing a bundle (any write would fail here).
    import fairkit.export as fx

    def no_write(*args, **kwargs):
        raise AssertionError("the preview wrote a bundle")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fx, "atomic_write_bytes", no_write)
        mp.setattr(ue, "write_bundle", no_write)
        at.button(key="export.preview").click().run()
    assert not at.exception, at.exception
    preview = next(m.value for m in at.markdown if m.value.startswith("### Decision record"))
    assert "Decided by **Dr. Decider**" in preview
    assert "**demographic parity**" in preview
    card = next(m.value for m in at.markdown if m.value.startswith("- **Model:**"))
    assert "Meets the 80% rule on test. \\[click\\](http\\:" in card and "\\$x\\$" in card  # user text is escaped
    assert "[click](http" not in card
    assert not (fast_env / "exports").exists() or not list((fast_env / "exports").iterdir())
    assert AuditLog().entries(kind="export").empty  # a preview is neither saved nor logged

    with pytest.MonkeyPatch.context() as mp:
        # What was previewed is what ships: the export writes the previewed record, built once.
        mp.setattr(ue, "build", lambda **kw: (_ for _ in ()).throw(AssertionError("rebuilt the record")))
        at.button(key="export.go").click().run()
    assert not at.exception, at.exception
    assert any("Exported and logged" in s for s in texts(at.success))
    saved = list((fast_env / "exports").glob("*.zip"))
    assert len(saved) == 1 and saved[0].name.startswith("german-threshold-eta1-t0.50-none-")
    log = AuditLog().entries(kind="export")
    assert len(log) == 1
    entry = log.iloc[0]
    assert entry.actor == "Dr. Decider" and entry.details["bundle"] == str(saved[0].resolve())
    assert entry.details["run_id"] == run_id and entry.details["threshold"] == 0.5
    assert entry.details["unfairness_axis"] == "disparate_impact_gap"
    assert entry.subject == entry.details["manifest_sha256"]

    # The bundle: what the committee approved, loadable and consistent with the record.
    bundle = load_bundle(saved[0], expected_manifest_sha256=entry.subject)
    assert bundle.needs_sensitive_at_predict and bundle.threshold == 0.5
    rec = bundle.record
    assert rec["rationale"] == rationale and rec["decider"] == "Dr. Decider"
    assert rec["content"]["selected"]["run_id"] == run_id
    assert rec["content"]["sweep"]["methods"] == ["unconstrained", "regularized", "threshold"]
    assert bundle.frontier is not None and "unfairness_test" in bundle.frontier
    names = set(zipfile.ZipFile(saved[0]).namelist())
    assert {"decision_record.md", "frontier.csv", "metrics.json", "manifest.json"} <= names
    frame = at.session_state["fk.frame"].head(20)
    p = bundle.predict_proba(frame)
    assert p.shape == (20,) and np.all((p >= 0) & (p <= 1))

    # The downloads: the bundle, and the record as PDF and HTML; the record is shown.
    download = at.get("download_button")
    assert [d.proto.label for d in download] == ["Download the bundle (.zip)", "Download the record (PDF)",
                                                 "Download the record (HTML)"]
    shown = next(m.value for m in at.markdown if m.value.startswith("### Decision record"))
    assert "**yes** (group-specific decision thresholds" in shown  # reads the attribute at prediction time
    card = next(m.value for m in at.markdown if m.value.startswith("- **Model:**"))
    assert "**Needs the sensitive attribute to predict:** **yes**" in card
    assert "**Decision threshold:** **0.50**" in card and "the frontier was measured at" not in card
    assert str(bundle.signature_status).startswith("unsigned")
    assert any("Unsigned: no signing key is configured" in c for c in texts(at.caption))


def test_export_with_group_calibration(trained, fast_env, monkeypatch):
    at = trained
    at.switch_page("views/tradeoffs.py").run()
    at.selectbox(key=ut.W_METHOD).set_value("regularized").run()
    at.switch_page("views/export.py").run()
    # An attribute-blind network: no warning until a per-group calibration is chosen.
    assert not any("reads the sensitive attribute" in w for w in texts(at.warning))
    at.radio(key="w.export.calibration").set_value("isotonic").run()
    assert any("reads the sensitive attribute at prediction time (group calibration (isotonic)" in w
               for w in texts(at.warning))
    # The organisation's key, configured in the environment, signs the export.
    keys.write_key_pair(fast_env / "org.pem", fast_env / "org.pub")
    monkeypatch.setenv(keys.SIGNING_KEY_ENV, str(fast_env / "org.pem"))
    path = export_calibrated(at, fast_env, "isotonic")
    bundle = load_bundle(path, trusted_key=keys.load_public_key(fast_env / "org.pub"))
    assert bundle.signature_status.verified
    assert bundle.calibrator is not None and bundle.record["content"]["selected"]["calibrated"]
    assert bundle.needs_sensitive_at_predict and bundle.manifest["needs_sensitive_at_predict"]
    assert "after group calibration" in next(
        m.value for m in at.markdown if m.value.startswith("### Decision record"))
    assert any("Signed with the organisation's key" in c for c in texts(at.caption))


def test_export_warns_about_a_model_that_decides_the_same_for_everyone(trained, fast_env):
    at = trained
    at.switch_page("views/tradeoffs.py").run()
    at.selectbox(key=ut.W_METHOD).set_value("regularized").run()
    at.select_slider(key=ut.W_ETA).set_value(20.0).run()  # approves every validation row here
    at.switch_page("views/export.py").run()
    assert not at.exception, at.exception
    assert any("every validation row the positive decision" in w for w in texts(at.warning))
    at.switch_page("views/tradeoffs.py").run()
    at.select_slider(key=ut.W_ETA).set_value(0.0).run()
    at.switch_page("views/export.py").run()
    assert not any("tells almost nobody apart" in w for w in texts(at.warning))


def test_export_warns_about_a_model_that_decides_every_test_row_alike(trained, fast_env, monkeypatch):
    """The Trade-offs panel's test-side note reaches the page where the decision is written."""
    import dataclasses

    shown = ur.shown_results

    def edited(*args, **kwargs):
        out = shown(*args, **kwargs)
        res = out.results.copy()
        at_one = (res["method"] == "threshold") & (res["eta"] == 1.0)
        # Tells validation rows apart (so it is a candidate) but approves every test row.
        res.loc[at_one, ["val_selection_rate", "test_selection_rate"]] = [0.9, 1.0]
        return dataclasses.replace(out, results=res)

    monkeypatch.setattr(ur, "shown_results", edited)
    open_export(trained, "threshold", 1.0)
    assert not trained.exception, trained.exception
    warned = [w for w in texts(trained.warning) if "every test row the positive decision" in w]
    assert len(warned) == 1 and "test gaps are small" in warned[0]
    assert not any("every validation row" in w for w in texts(trained.warning))
    open_export(trained, "threshold", 0.0)
    assert not any("every test row" in w for w in texts(trained.warning))


def test_a_finished_export_is_not_offered_for_settings_it_was_not_made_with(trained, fast_env):
    """Repro audit finding 2: after an export, moving the threshold (or the calibration) kept
    "Exported and logged" and a download of the old bundle beside the new settings' figures."""
    open_export(trained, "regularized", 1.0)
    saved = export_selected(trained, fast_env, "Meets the tolerance.")
    labels = lambda: [d.proto.label for d in trained.get("download_button")]  # noqa: E731
    assert "Download the bundle (.zip)" in labels() and any("Exported and logged" in x for x in texts(trained.success))
    trained.slider(key="w.export.threshold").set_value(0.6).run()
    assert not trained.exception, trained.exception
    assert "Download the bundle (.zip)" not in labels()
    assert not any("Exported and logged" in x for x in texts(trained.success))
    note = next(i for i in texts(trained.info) if "made with other settings or answers" in i)
    assert saved.name in note.replace("\\", "")
    # Back to the settings it was made with, it is offered again; a new export writes a new bundle.
    trained.slider(key="w.export.threshold").set_value(0.5).run()
    assert "Download the bundle (.zip)" in labels()
    trained.slider(key="w.export.threshold").set_value(0.6).run()
    trained.button(key="export.go").click().run()
    assert "Download the bundle (.zip)" in labels() and len(list((fast_env / "exports").glob("*.zip"))) == 2


def test_the_threshold_shows_its_effect_before_export(trained, fast_env):
    from fairkit.metrics import confusion_by_group, summary_metrics
    from fairkit.split import split_dataset
    from fairkit.sweep import predict_scores
    from ui import state

    at = trained
    run_id = open_export(at, "regularized", 1.0)
    assert not at.exception, at.exception
    assert not any("frontier compared the models at threshold" in w for w in texts(at.warning))
    at.slider(key="w.export.threshold").set_value(0.4).run()
    assert not at.exception, at.exception
    assert any("frontier compared the models at threshold 0.50; this export decides at 0.40" in w
               for w in texts(at.warning))
    table = next(t.value for t in at.table if t.proto.alt == "Threshold effect").set_index("Metric (test)")
    # The figures are the engine's at each threshold, for the model as it would ship.
    split_ = split_dataset(at.session_state[state.FRAME], at.session_state[state.SPEC], seed=ur.SPLIT_SEED)
    scores = predict_scores(ur.model(run_id), split_, split_.test)
    at_04 = summary_metrics(split_.test.y, scores, split_.test.sensitive, threshold=0.4)[0]
    assert table.loc["Accuracy", "At 0.40"].replace("\\", "") == f"{at_04['accuracy']:.3f}"
    assert table.loc["1 - disparate impact ratio", "At 0.40"].replace("\\", "") == \
        f"{1 - at_04['disparate_impact_ratio']:.3f}"
    # Counts per group for this model at 0.40 beside the baseline's.
    mine = next(t.value for t in at.table if t.proto.alt == "Selected model decisions by group")
    base = next(t.value for t in at.table if t.proto.alt == "Baseline decisions by group")
    counts = confusion_by_group(split_.test.y, scores, split_.test.sensitive, threshold=0.4)
    last = counts[counts["attribute"] == counts["attribute"].iloc[-1]]
    assert [int(v) for v in mine["True positives"]] == list(last["tp"])
    assert list(mine["Group"]) == list(base["Group"]) and [int(v) for v in base["n"]] == list(last["n"])


def test_the_frontiers_column_is_the_frontiers_model_and_the_other_the_exported_one(trained, fast_env):
    """With group calibration, the threshold table's "frontier's" column keeps the figures the
    frontier showed (uncalibrated, at 0.50: the Trade-offs and Groups pages' ones); the other
    column is the model as it would ship (calibrated, at the chosen threshold)."""
    from fairkit.export import model_threshold_effect
    from fairkit.metrics import METRIC_LABELS
    from fairkit.record import fmt
    from fairkit.split import split_dataset
    from ui import state

    at = trained
    run_id = open_export(at, "regularized", 1.0)
    at.radio(key="w.export.calibration").set_value("platt").run()
    at.slider(key="w.export.threshold").set_value(0.4).run()
    assert not at.exception, at.exception
    table = next(t.value for t in at.table if t.proto.alt == "Threshold effect").set_index("Metric (test)")
    frontier_col = next(c for c in table.columns if "the frontier's" in c)
    shipped_col = next(c for c in table.columns if c != frontier_col)
    assert frontier_col.startswith("At 0.50") and shipped_col.startswith("At 0.40") and "calibrated" in shipped_col
    split_ = split_dataset(at.session_state[state.FRAME], at.session_state[state.SPEC], seed=ur.SPLIT_SEED)
    model = ur.model(run_id)
    frontier = model_threshold_effect(model, split_, threshold=0.5).at_frontier
    # The calibrator the page bundles (fitted once per data, run and method, ui.groups).
    calibrator = ue.calibrator(at.session_state[state.DATA_KEY], run_id, "platt", split_)
    shipped = model_threshold_effect(model, split_, threshold=0.4, calibrator=calibrator).at_threshold
    ece = METRIC_LABELS["max_group_ece"]
    # The frontier's ECE is the stored run's (what Trade-offs and Groups show), not the calibrated one.
    stored = ur.result_store().records([run_id])["test_max_group_ece"].iloc[0]
    assert table.loc[ece, frontier_col].replace("\\", "") == fmt(stored) == fmt(frontier["max_group_ece"])
    for key, label in METRIC_LABELS.items():
        if label in table.index:
            assert table.loc[label, frontier_col].replace("\\", "") == fmt(frontier[key]), label
            assert table.loc[label, shipped_col].replace("\\", "") == fmt(shipped[key]), label
    assert any("uncalibrated" in c for c in texts(at.caption) + texts(at.warning))
    # Calibrated per group and decided at 0.40, the model is less fair on validation than the
    # point chosen: said before the table, in the record's words (sessions 52's audits).
    from fairkit.export import model_chosen_gap_change

    axis = at.session_state[state.WIDGET_MEMORY][ut.W_UNFAIRNESS]  # the Trade-offs chart's axis
    change = model_chosen_gap_change(model, split_, threshold=0.4, gap_metric=axis, calibrator=calibrator)
    assert change and change.startswith("As exported (decided at threshold 0.40 and calibrated per group)")
    assert [w for w in texts(at.warning) if w.startswith("As exported")] == [
        change + " The record states it among its limitations."]
    # Uncalibrated at the frontier's threshold it is the point chosen: nothing to say.
    at.radio(key="w.export.calibration").set_value("none").run()
    at.slider(key="w.export.threshold").set_value(0.5).run()
    assert not [w for w in texts(at.warning) if w.startswith("As exported")]


def test_a_rationale_is_forgotten_when_another_model_is_selected(trained, fast_env):
    """The decider (a person) stays; the rationale, written for one model, is cleared when another
    is selected, so the export waits for one written for this model; the purpose (about the
    data's use) stays while the data do."""
    at = trained
    at.switch_page("views/tradeoffs.py").run()
    at.selectbox(key=ut.W_METHOD).set_value("regularized").run()
    at.select_slider(key=ut.W_ETA).set_value(1.0).run()
    at.switch_page("views/export.py").run()
    at.text_input(key=ue.W_DECIDER).input("Dr. Decider").run()
    at.text_area(key=ue.W_RATIONALE).input("Halves the gap of the unconstrained network.").run()
    at.text_area(key=ue.W_PURPOSE).input("Credit pre-screening").run()
    assert not buttons(at)["export.go"].disabled
    # A visit elsewhere and back to the same model keeps everything.
    at.switch_page("views/tradeoffs.py").run()
    at.switch_page("views/export.py").run()
    assert at.text_area(key=ue.W_RATIONALE).value == "Halves the gap of the unconstrained network."
    assert not any("for another selection" in i for i in texts(at.info))
    # Another model: the rationale is gone, and the page says why.
    at.switch_page("views/tradeoffs.py").run()
    at.selectbox(key=ut.W_METHOD).set_value("threshold").run()
    at.switch_page("views/export.py").run()
    assert not at.exception, at.exception
    assert at.text_input(key=ue.W_DECIDER).value == "Dr. Decider"
    assert at.text_area(key=ue.W_RATIONALE).value == ""
    assert at.text_area(key=ue.W_PURPOSE).value == "Credit pre-screening"
    assert any("rationale given earlier was for another selection" in i for i in texts(at.info))
    assert buttons(at)["export.go"].disabled and any("write a rationale." in i for i in texts(at.info))
    # Back to the first model: what was cleared stays cleared (it was not written for this visit).
    at.switch_page("views/tradeoffs.py").run()
    at.selectbox(key=ut.W_METHOD).set_value("regularized").run()
    at.switch_page("views/export.py").run()
    assert at.text_area(key=ue.W_RATIONALE).value == ""


def test_a_calibration_and_threshold_chosen_for_one_model_do_not_carry_over(trained, fast_env):
    """The calibration and threshold are checked on one model's scores (the warning, the
    threshold table): another model starts from none and the frontier's 0.50, and the page says
    what was reset; the same model keeps them."""
    at = trained
    at.switch_page("views/tradeoffs.py").run()
    at.selectbox(key=ut.W_METHOD).set_value("regularized").run()
    at.switch_page("views/export.py").run()
    at.radio(key=ue.W_CALIBRATION).set_value("platt").run()
    at.slider(key=ue.W_THRESHOLD).set_value(0.4).run()
    at.switch_page("views/tradeoffs.py").run()
    at.switch_page("views/export.py").run()
    assert (at.radio(key=ue.W_CALIBRATION).value, at.slider(key=ue.W_THRESHOLD).value) == ("platt", 0.4)
    at.switch_page("views/tradeoffs.py").run()
    at.selectbox(key=ut.W_METHOD).set_value("threshold").run()
    at.switch_page("views/export.py").run()
    assert not at.exception, at.exception
    assert (at.radio(key=ue.W_CALIBRATION).value, at.slider(key=ue.W_THRESHOLD).value) == ("none", 0.5)
    (said,) = [i for i in texts(at.info) if "for another selection" in i]
    assert said.startswith("The group calibration and decision threshold given earlier were for another "
                           "selection; the model changed since"), said
    assert said.endswith("The group calibration is back to no calibration and the decision threshold is "
                         "back to 0.50."), said
    # Defaults are not "given": a model left at them clears nothing and says nothing.
    at.switch_page("views/tradeoffs.py").run()
    at.selectbox(key=ut.W_METHOD).set_value("regularized").run()
    at.switch_page("views/export.py").run()
    assert not any("for another selection" in i for i in texts(at.info))


def test_the_preview_caption_names_what_changed(trained, fast_env):
    """After a preview, another model's page says the preview was of another model; emptied
    answers (preview disabled) are not told to preview again."""
    at = trained
    at.switch_page("views/tradeoffs.py").run()
    at.selectbox(key=ut.W_METHOD).set_value("regularized").run()
    at.switch_page("views/export.py").run()
    at.text_input(key=ue.W_DECIDER).input("Dr. Decider").run()
    at.text_area(key=ue.W_RATIONALE).input("Halves the gap.").run()
    at.button(key="export.preview").click().run()
    assert any(m.value.startswith("### Decision record") for m in at.markdown)
    at.text_input(key=ue.W_DECIDER).input("").run()
    assert buttons(at)["export.preview"].disabled
    assert "The answers changed since the last preview." in texts(at.caption)
    assert not any("preview again" in c for c in texts(at.caption))
    at.text_input(key=ue.W_DECIDER).input("Dr. Other").run()
    assert "The answers changed since the last preview: preview again to see them." in texts(at.caption)
    at.switch_page("views/tradeoffs.py").run()
    at.selectbox(key=ut.W_METHOD).set_value("threshold").run()
    at.switch_page("views/export.py").run()
    assert "The last preview was of another model." in texts(at.caption)


def test_the_purpose_is_forgotten_when_the_data_change(own_store):
    from ui import state

    from .test_export_page import train_unconstrained

    at = new_session()
    at.selectbox(key=state.W_BUNDLED).set_value("german").run()
    train_unconstrained(at)
    at.switch_page("views/export.py").run()
    at.text_input(key=ue.W_DECIDER).input("Dr. Decider").run()
    at.text_area(key=ue.W_RATIONALE).input("The only model.").run()
    at.text_area(key=ue.W_PURPOSE).input("Credit pre-screening").run()
    # Other data (here the same table with another sensitive attribute), trained and selected.
    at.switch_page("views/data.py").run()
    source = at.session_state[state.DATA_SOURCE]
    at.multiselect(key=state.spec_widget_key(source, "sensitive")).set_value(["sex"]).run()
    train_unconstrained(at)
    at.switch_page("views/export.py").run()
    assert not at.exception, at.exception
    assert at.text_input(key=ue.W_DECIDER).value == "Dr. Decider"
    assert at.text_area(key=ue.W_RATIONALE).value == "" and at.text_area(key=ue.W_PURPOSE).value == ""
    assert any("rationale and purpose given earlier were for another selection; the data and the model "
               "changed" in i for i in texts(at.info)), texts(at.info)


def test_the_audit_takes_the_chosen_reference_group_and_band(trained, fast_env):
    at = trained
    at.switch_page("views/tradeoffs.py").run()
    at.switch_page("views/export.py").run()
    assert not at.exception, at.exception
    # Defaults: each attribute's largest test group (Aequitas'), and 0.80-1.25.
    sex = at.selectbox(key="w.export.reference.sex")
    assert sex.value == "male" and sex.options[0].startswith("male (")
    assert at.selectbox(key="w.export.reference.age_group").value == "25 and over"
    assert (at.slider(key="w.export.band_low").value, at.slider(key="w.export.band_high").value) == (0.8, 1.25)
    sex.set_value("female").run()
    at.slider(key="w.export.band_low").set_value(0.9).run()
    at.slider(key="w.export.band_high").set_value(1.1).run()
    at.text_input(key="w.export.decider").input("D").run()
    at.text_area(key="w.export.rationale").input("Audited against women.").run()
    at.button(key="export.go").click().run()
    assert not at.exception, at.exception
    (saved,) = (fast_env / "exports").glob("*.zip")
    audit = load_bundle(saved).record["content"]["audit"]
    assert audit["band"] == [0.9, 1.1]
    refs = {(r["attribute"], r["reference"]) for r in audit["rows"]}
    assert refs == {("sex", "female"), ("age_group", "25 and over"), ("sex & age_group", "male & 25 and over")}
    verdicts = {r["group"]: r["selection_rate_verdict"] for r in audit["rows"] if r["attribute"] == "sex"}
    assert verdicts["female"] == "reference"
    male = next(r for r in audit["rows"] if r["group"] == "male")
    assert verdicts["male"] == ("pass" if 0.9 <= male["selection_rate_ratio"] <= 1.1 else "fail")


def test_a_model_trained_on_a_sample_says_so_in_its_record(fast_env, monkeypatch):
    from fairkit.split import frame_hash
    from ui import data as ud
    from ui import state

    monkeypatch.setattr(ud, "SAMPLE_MIN_ROWS", 500)  # German's 1,000 rows are offered a sample
    at = new_session()
    at.selectbox(key=state.W_BUNDLED).set_value("german").run()
    source = at.session_state[state.DATA_SOURCE]
    at.toggle(key=state.spec_widget_key(source, "sample")).set_value(True).run()
    assert not at.exception, at.exception
    assert len(at.session_state[state.FRAME]) == 500
    train_unconstrained(at)
    dataset = load_bundle(export_selected(at, fast_env, "Trained on a sample.")).record["content"]["dataset"]
    assert dataset["sample"]["rows"] == 500 and dataset["sample"]["of_rows"] == 1000
    assert dataset["data_hash"] == frame_hash(at.session_state[state.FRAME])
    assert dataset["sample"]["source_hash"] == frame_hash(load_dataset_frame("german"))
    record_md = next(m.value for m in at.markdown if m.value.startswith("### Decision record"))
    assert "stratified sample: 500 of the table's 1,000 rows" in record_md.replace("\\", "")  # md-escaped


def load_dataset_frame(name: str):
    from fairkit.datasets import load_dataset

    return load_dataset(name)[0]


def train_unconstrained(at):
    """Train the unconstrained model alone on the session's data and select it on Trade-offs."""
    from .conftest import wait_for_sweep

    at.switch_page("views/train.py").run()
    at.multiselect(key="w.train.methods").set_value(["unconstrained"]).run()
    at.toggle(key="w.train.adaptive").set_value(False).run()
    at.button(key="train.start").click().run()
    wait_for_sweep(at)
    at.switch_page("views/tradeoffs.py").run()


def test_the_page_fits_the_group_calibrator_once(trained, fast_env, monkeypatch):
    """The warning, the legal flag, the threshold table, the preview and the bundle all read one
    calibrator, fitted once per data, run and method (and the Groups page's is the same one)."""
    from fairkit.calibration import GroupFairnessCalibrator
    from ui import groups as ug

    fits = []
    fit = GroupFairnessCalibrator.fit

    def counted(self, *args, **kwargs):
        fits.append(self.method)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(GroupFairnessCalibrator, "fit", counted)
    for cached in (ug.calibration_check, ug.calibrate, ue.threshold_effect):  # earlier tests' fits
        cached.clear()
    at = trained
    at.switch_page("views/tradeoffs.py").run()
    at.selectbox(key=ut.W_METHOD).set_value("regularized").run()
    at.switch_page("views/export.py").run()
    at.radio(key="w.export.calibration").set_value("platt").run()
    at.slider(key="w.export.threshold").set_value(0.4).run()
    at.text_input(key="w.export.decider").input("D").run()
    at.text_area(key="w.export.rationale").input("Calibrated once.").run()
    at.button(key="export.preview").click().run()
    at.button(key="export.go").click().run()
    assert not at.exception, at.exception
    (saved,) = (fast_env / "exports").glob("*.zip")
    assert load_bundle(saved).calibrator is not None
    at.switch_page("views/groups.py").run()
    assert not at.exception, at.exception
    assert fits == ["platt"]


def test_the_bundle_and_the_record_copies_share_one_name(monkeypatch):
    """One naming (ui.record.file_stem) for the bundle and the record's PDF and HTML copies;
    markup and punctuation in a dataset's name do not reach a file name."""
    import re
    from types import SimpleNamespace

    from ui import record as record_view

    name = "loans v2.csv <b>x</b>"
    names = []

    class Column:
        def download_button(self, *args, file_name, **kwargs):
            names.append(file_name)

    monkeypatch.setattr(record_view, "st", SimpleNamespace(columns=lambda n: [Column() for _ in range(n)]))
    rec = {"content": {"dataset": {"name": name}, "selected": {"method": "regularized", "eta": 0.5, "threshold": 0.45}}}
    record_view.downloads(rec, key="k")
    stem = "loans-v2-csv-b-x-b-regularized-eta0.5-t0.45"
    assert names == [f"decision-record-{stem}-none.pdf", f"decision-record-{stem}-none.html"]
    # Two exports of one run, calibrated and not, at other times: other names (session 52).
    calibrated = {"created": "2026-12-07T23:30:01+00:00",  # as export stamps a record
                  "content": {**rec["content"], "selected": {**rec["content"]["selected"],
                                                             "calibration": {"method": "platt"}}}}
    names.clear()
    record_view.downloads(calibrated, key="k")
    assert names == [f"decision-record-{stem}-platt-20261207T233001000000Z.pdf",
                     f"decision-record-{stem}-platt-20261207T233001000000Z.html"]
    bundle = ue.bundle_file_name(name, {"method": "regularized", "eta": 0.5}, 0.45, "platt")
    assert re.fullmatch(re.escape(stem) + r"-platt-\d{8}T\d{12}Z\.zip", bundle), bundle


def test_the_audit_offers_the_engine_default_reference_first_in_a_tie():
    """Groups of equal size: the Export page's default reference group (the first offered) is
    the one fairkit.metrics.disparity_audit takes without a choice, for every attribute."""
    from types import SimpleNamespace

    import pandas as pd

    from fairkit.metrics import disparity_audit, fairness_report

    # "b" comes first in the rows, "a" first by name; both have 40 rows.
    sens = pd.DataFrame({"sex": ["b"] * 40 + ["a"] * 40 + ["c"] * 20, "age": ["old", "young"] * 50})
    rng = np.random.default_rng(0)
    y, scores = rng.integers(0, 2, 100), rng.random(100)
    choices = ue.audit_groups("tie", SimpleNamespace(test=SimpleNamespace(sensitive=sens)))
    assert choices["sex"] == [("a", 40), ("b", 40), ("c", 20)]
    audit = disparity_audit(fairness_report(y, scores, sens).by_group)
    defaults = audit.groupby("attribute", sort=False)["reference"].first().to_dict()
    assert {attr: groups[0][0] for attr, groups in choices.items()} == defaults
    assert defaults["sex"] == "a"


def test_thresholds_fitted_on_held_out_rows_carry_into_the_bundle_and_record(own_store, monkeypatch):
    from fairkit.estimators import postprocess
    from ui import state

    monkeypatch.setattr(postprocess, "CROSSFIT_BELOW_ROWS", 500)  # German's 600 training rows take the set

    from .conftest import wait_for_sweep

    at = new_session()
    at.selectbox(key=state.W_BUNDLED).set_value("german").run()
    at.switch_page("views/train.py").run()
    at.multiselect(key="w.train.methods").set_value(["threshold"]).run()
    at.selectbox(key="w.train.fairness").set_value("equalized_odds").run()
    at.slider(key="w.train.n_etas").set_value(2).run()
    at.toggle(key="w.train.adaptive").set_value(False).run()
    at.checkbox(key="w.train.threshold_rows").check().run()
    at.button(key="train.start").click().run()
    wait_for_sweep(at)
    at.switch_page("views/tradeoffs.py").run()
    assert not at.exception, at.exception
    bundle = load_bundle(export_selected(at, own_store, "Thresholds on held-out rows."))
    dataset = bundle.record["content"]["dataset"]
    # The validation figures are the kept half's; the reserved half is named in the record.
    assert dataset["threshold_rows"]["rows"] == 100 and dataset["split_sizes"] == "600/100/200"
    assert bundle.estimator.thresholds_from_ == "threshold_set" and bundle.estimator.n_threshold_rows_ == 100
    record_md = next(m.value for m in at.markdown if m.value.startswith("### Decision record"))
    assert "reserved for the post" in record_md.replace("\\", "")


def test_a_model_exported_before_says_so_after_the_session_forgot_it(trained, fast_env):
    """A reload forgets the session's export; the audit log does not: the page names the earlier
    export before a second one records another decision."""
    at = trained
    at.switch_page("views/tradeoffs.py").run()
    at.switch_page("views/export.py").run()
    assert not any("exported before" in i for i in texts(at.info))
    export_selected(at, fast_env, "The only model.")
    assert not any("exported before" in i for i in texts(at.info))  # the success box says it
    at.session_state["fk.export"] = None  # what a reload leaves
    at.run()
    (said,) = [i for i in texts(at.info) if "exported before" in i]
    (entry,) = AuditLog().entries(kind="export").itertuples()
    assert said.startswith(f"This model was exported before: audit entry {entry.id}, ")
    assert "threshold 0.50" in said and "records another decision" in said


def test_a_store_record_edited_on_the_server_is_refused_before_anything_is_signed(own_store):
    """The Export page's runs are the results store's records, which anyone who can write the
    server's store can edit, checksum included: a run shown better than its model reached the
    signed frontier (the command line's export checked its table; the dashboard's did not). Every
    run's figures are computed again from its model; an edited one is refused with a message, and
    nothing is written or logged."""
    from fairkit.store import ResultStore

    at = run_tiny_sweep(new_session(), methods=["unconstrained", "regularized"], n_etas=2)
    at.switch_page("views/tradeoffs.py").run()
    at.selectbox(key=ut.W_METHOD).set_value("regularized").run()
    chosen = at.session_state[ur.SELECTED_RUN]
    store = ResultStore(own_store / "store")
    results = store.records(store.keys())
    others = sorted(set(results["run_id"].astype(str)) - {chosen})
    edited = others[0]
    record = store.get(edited)
    store.put(edited, {**record, "val_accuracy": record["val_accuracy"] + 0.05}, model=store.load_model(edited))
    ur._records.clear()

    at.switch_page("views/export.py").run()
    at.text_input(key="w.export.decider").input("D").run()
    at.text_area(key="w.export.rationale").input("r").run()
    before = AuditLog(own_store / "audit.sqlite").count()
    at.button(key="export.go").click().run()
    assert not at.exception, at.exception
    error = " ".join(texts(at.error))
    assert "does not hold the figures its models compute, for 1 of" in error and f"run {edited}" in error
    assert "Nothing was exported" in error and "delete those runs' files" in error
    assert not list((own_store / "exports").glob("*.zip"))
    assert AuditLog(own_store / "audit.sqlite").count() == before
    at.button(key="export.preview").click().run()
    assert any("does not hold the figures" in e for e in texts(at.error))

    # Put back as trained, the same session exports, the run on the signed frontier's sweep.
    store.put(edited, record, model=store.load_model(edited))
    ur._records.clear()
    at.run()
    at.button(key="export.go").click().run()
    assert not at.exception, at.exception
    assert not at.error
    (saved,) = (own_store / "exports").glob("*.zip")
    assert chosen in set(load_bundle(saved).frontier["run_id"].astype(str))


def test_a_dashboard_export_interrupted_after_it_was_logged_is_finished_by_the_next(trained, fast_env):
    """Concurrency audit, session 46: an export killed between its audit entry and its rename left
    a logged bundle in a temporary of the exports folder, which no later export (each has a name
    of its own) would reach. The next export puts it where its entry says and says so."""
    import os
    import time

    at = trained
    at.switch_page("views/tradeoffs.py").run()
    first = export_selected(at, fast_env, "First.")
    sha = load_bundle(first).manifest_sha256
    orphan = first.with_name(f".{first.name}.999999999.k.tmp")
    os.replace(first, orphan)
    os.utime(orphan, (time.time() - 120, time.time() - 120))
    at.text_area(key="w.export.rationale").input("Second.").run()
    at.button(key="export.go").click().run()
    assert not at.exception, at.exception
    assert load_bundle(first).manifest_sha256 == sha and not orphan.exists()
    (entry,) = [e for e in AuditLog().entries(kind="export").itertuples() if e.subject == sha]
    said = [i for i in texts(at.info) if "was interrupted after it was logged" in i]
    assert len(said) == 1 and f"(audit entry #{entry.id})" in said[0] and first.name in said[0]
    assert str(fast_env) not in said[0]  # no server path on the page
    assert len(list((fast_env / "exports").glob("*.zip"))) == 2


def test_a_threshold_models_calibration_error_reads_n_a_on_every_surface(trained, fast_env):
    """Numbers audit, session 53: the group-threshold model's calibration error read "n/a
    (decisions, not scores)" on the Trade-offs panel and the Groups page's metric, and 0.375 in
    the Groups page's words and table, the Export page's "frontier's" column and the record's
    effect table, for the same decisions on the same rows."""
    from fairkit.metrics import METRIC_LABELS, NO_RANKING

    at = trained
    open_export(at, "threshold", 1.0)
    at.radio(key=ue.W_CALIBRATION).set_value("platt").run()
    assert not at.exception, at.exception
    (table,) = [t.value for t in at.table if t.proto.alt == "Threshold effect"]
    frontier = table.set_index("Metric (test)").iloc[:, 0]
    assert frontier[METRIC_LABELS["max_group_ece"]] == NO_RANKING, frontier
    # The counts beside it are named as the calibrated decisions they are.
    assert any(m.value.startswith("**This model at 0.50, calibrated (") for m in at.markdown)
    at.switch_page("views/groups.py").run()
    assert not at.exception, at.exception
    said = " ".join(texts(at.warning) + texts(at.info))
    assert "lowered the largest group ECE" not in said and "raised the largest group ECE" not in said
    (cal,) = [t.value for t in at.table if t.proto.alt.startswith("Calibration by ")]
    assert set(cal["ECE before"]) == {NO_RANKING}


def test_a_threshold_that_makes_the_model_no_better_than_one_decision_is_said_before_export(trained, fast_env):
    """Numbers audit, session 53: at a moved threshold the record said the model scored no better
    on validation than one decision for everyone; the Export page, reading the sweep's run at
    0.50, said nothing before the export."""
    at = trained
    open_export(at, "regularized", 1.0)
    assert not any(w.startswith("On the validation rows, at the threshold") for w in texts(at.warning))
    at.slider(key=ue.W_THRESHOLD).set_value(0.05).run()  # (almost) everyone selected
    assert not at.exception, at.exception
    said = [w for w in texts(at.warning) if w.startswith("On the validation rows, at the threshold 0.05")]
    assert len(said) == 1, texts(at.warning)
    assert "is no better than giving everyone the same decision" in said[0]
    assert said[0].endswith("The record states it among its limitations.")
