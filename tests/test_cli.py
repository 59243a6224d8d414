"""The command line end to end on German credit: sweep -> export -> score, and bad input."""

import errno
import fcntl
import hashlib
import json
import os
import pty
import re
import resource
import shutil
import struct
import sqlite3
import subprocess
import sys
import termios
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairkit.__main__ import EXIT_DRIFT, main
from fairkit.audit import AuditLog, export_entries
from fairkit.datasets import load_dataset
from fairkit.export import load_bundle, render_record_markdown
from fairkit.keys import write_key_pair


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    rc = main(["sweep", "--dataset", "german", "--methods", "unconstrained,regularized",
               "--etas", "0,2", "--out", str(out)])
    assert rc == 0
    return out


def test_sweep_writes_results_and_figures(sweep_dir, capsys):
    results = pd.read_csv(sweep_dir / "results.csv")
    assert len(results) == 3 and set(results.method) == {"unconstrained", "regularized"}
    assert (sweep_dir / "frontier.html").stat().st_size > 1000
    assert (sweep_dir / "frontier.png").stat().st_size > 1000
    assert json.loads((sweep_dir / "sweep.json").read_text())["dataset"] == "german"
    # Same sweep again: everything from the store.
    assert main(["sweep", "--dataset", "german", "--methods", "unconstrained,regularized",
                 "--etas", "0,2", "--out", str(sweep_dir)]) == 0
    out = capsys.readouterr().out
    assert "3 from the store" in out
    # The printed table says what it is (numbers audit, session 53: it had no heading).
    assert re.search(r"Frontier: each method's own front, chosen on validation \(\d of the 3 runs; results.csv holds "
                     r"them all\):", out), out


def test_export_then_score_with_drift_check(sweep_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    results = pd.read_csv(sweep_dir / "results.csv")
    run = results[results.method == "regularized"].iloc[-1]["run_id"]
    bundle = tmp_path / "b.zip"
    assert main(["export", "--store", str(sweep_dir), "--run", run, "--rationale", "meets tolerance",
                 "--decider", "Committee", "--n-boot", "50", "--out", str(bundle)]) == 0
    b = load_bundle(bundle)
    assert b.record["decider"] == "Committee"
    # The export is logged in the one schema: subject = the bundle's manifest hash.
    (entry,) = export_entries(AuditLog())
    assert entry["subject"] == b.manifest_sha256 and entry["legacy"] is None
    assert entry["bundle"] == str(bundle.resolve()) and entry["run_id"] == run
    # Logged under the account that ran it, beside the decider the record names (attack audit,
    # session 43: the typed decider was the entry's actor).
    from fairkit.audit import command_line_user

    assert entry["actor"] == command_line_user().actor and entry["decider"] == "Committee"
    assert entry["unfairness_axis"] == "demographic_parity_difference"
    assert main(["audit", "--kind", "export"]) == 0
    listed = capsys.readouterr().out
    assert f"subject {b.manifest_sha256}" in listed and "unbroken hash chain" in listed
    frame, _ = load_dataset("german")
    new = tmp_path / "new.csv"
    frame.sample(300, random_state=1).to_csv(new, index=False)
    scored = tmp_path / "scored.csv"
    assert main(["score", "--bundle", str(bundle), "--csv", str(new), "--out", str(scored),
                 "--fail-on-drift"]) == 0
    out = pd.read_csv(scored)
    assert {"score", "decision"} <= set(out.columns) and len(out) == 300
    report = json.loads(scored.with_suffix(".fairness.json").read_text())
    assert "drift" in report and report["overall"]["n"] == 300
    # Whose intervals these are (export audit, session 51: the ECE's differed from the record's).
    assert report["intervals"].startswith("This batch's own") and "ECE) from 200 bootstrap resamples" in report["intervals"]
    # A batch with a shifted group is flagged as drift.
    shifted = frame.copy()
    shifted.loc[shifted.sex == "female", "credit"] = "bad"
    shifted.to_csv(new, index=False)
    assert main(["score", "--bundle", str(bundle), "--csv", str(new), "--out", str(scored)]) == 0
    assert "DRIFT" in capsys.readouterr().out
    assert main(["score", "--bundle", str(bundle), "--csv", str(new), "--out", str(scored),
                 "--fail-on-drift"]) == EXIT_DRIFT
    # Each scoring is logged against the bundle, with the drift found; the bundle's recorded
    # audit head is still in the log.
    scores = AuditLog().entries(kind="score")
    assert list(scores["subject"]) == [b.manifest_sha256] * 3
    assert [d["drift"]["drifted"] for d in scores["details"]] == [False, True, True]
    assert main(["audit", "verify", "--bundle", str(bundle)]) == 0
    assert "head recorded in each of the 1 bundle(s) is in the log" in capsys.readouterr().out
    # A bundle changed since is a failed check (1), as an altered log is, not bad input (2):
    # a script testing for 1 missed it (committee audit, session 53).
    changed = tmp_path / "changed.zip"
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(changed, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, data + b" " if info.filename == "decision_record.md" else data)
    assert main(["audit", "verify", "--bundle", str(changed)]) == 1
    said = capsys.readouterr()
    assert "changed.zip cannot be trusted: " in said.err and "modified after export" in said.err
    assert "is in the log" not in said.out  # nothing was read of it (hostile-input audit, session 53)
    # A format this fairkit does not read (or a format field edited) leaves the bundle's head
    # unchecked and says so; the log is checked all the same (the command stopped there).
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(other, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "manifest.json":
                manifest = json.loads(data)
                manifest["format"] = 99
                data = json.dumps(manifest).encode()
            dst.writestr(info, data)
    assert main(["audit", "verify", "--bundle", str(other)]) == 1  # not verified (review of session 53)
    said = capsys.readouterr()
    assert "other.zip: " in said.err and "Its recorded audit head is not checked" in said.err
    assert "unbroken hash chain" in said.out
    from fairkit.audit import chain_head

    assert main(["audit", "verify", "--head", "{}:{}".format(*chain_head(AuditLog()))]) == 0
    assert "Each of the 1 head(s) given with --head is in the log." in capsys.readouterr().out


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_export_calibrates_per_group_as_the_export_page_does(sweep_dir, tmp_path, capsys, monkeypatch, method):
    """``export --calibration`` bundles the calibrator the dashboard's Groups and Export pages fit
    (``calibrate_on_validation``); the command line could export only uncalibrated models."""
    from fairkit.__main__ import EXPORT_CALIBRATIONS, _sweep_context, _sweep_meta
    from fairkit.calibration import CALIBRATION_METHODS, calibrate_on_validation
    from fairkit.export import apply_calibrator, calibration_info
    from fairkit.store import ResultStore
    from fairkit.sweep import predict_scores

    assert EXPORT_CALIBRATIONS == ("none", *CALIBRATION_METHODS)
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    run = pd.read_csv(sweep_dir / "results.csv").query("method == 'regularized'").iloc[-1]["run_id"]
    bundle = tmp_path / "cal.zip"
    assert main(["export", "--store", str(sweep_dir), "--run", run, "--rationale", "r", "--decider", "d",
                 "--n-boot", "50", "--calibration", method, "--out", str(bundle)]) == 0
    printed = capsys.readouterr().out
    assert f"NOTE (in the record): calibration {method} per group of" in printed
    split, store = _sweep_context(sweep_dir, _sweep_meta(sweep_dir))
    assert isinstance(store, ResultStore)
    model = store.load_model(run)
    page = calibrate_on_validation(model, split, method=method).calibrator
    b = load_bundle(bundle)
    assert b.record["content"]["selected"]["calibration"] == calibration_info(page)
    assert b.record["content"]["selected"]["calibrated"] is True
    # The validation figures are the calibrator's own rows: said there, not on test.
    from fairkit.export import CALIBRATED_IN_SAMPLE

    metrics = b.record["content"]["metrics"]
    assert CALIBRATED_IN_SAMPLE in metrics["validation"]["notes"] and CALIBRATED_IN_SAMPLE not in metrics["test"]["notes"]
    # score applies the bundled map: the same scores as the page's calibrator on the same rows.
    rows = split.test.raw.assign(**{c: split.test.sensitive[c] for c in split.test.sensitive})
    new = tmp_path / "rows.csv"
    rows.to_csv(new, index=False)
    scored = tmp_path / "scored.csv"
    assert main(["score", "--bundle", str(bundle), "--csv", str(new), "--out", str(scored)]) == 0
    want = apply_calibrator(page, predict_scores(model, split, split.test), split.test.sensitive)
    np.testing.assert_allclose(pd.read_csv(scored)["score"].to_numpy(), want, atol=1e-9)
    # Rows of a group the calibrator never saw are said to get the map they do get: their
    # marginal group's, not "the map of all rows" (export audit, session 51).
    rows.assign(sex="diverse").to_csv(new, index=False)
    capsys.readouterr()
    assert main(["score", "--bundle", str(bundle), "--csv", str(new), "--out", str(scored)]) == 0
    said = capsys.readouterr()
    assert "'diverse & 25 and over' with the map of age_group = 25 and over" in said.out + said.err
    assert "they are calibrated with its map of all rows" not in said.out + said.err
    # A method the engine does not fit is refused before anything is written.
    assert main(["export", "--store", str(sweep_dir), "--run", run, "--rationale", "r", "--decider", "d",
                 "--calibration", "beta", "--out", str(tmp_path / "no.zip")]) == 2
    assert "invalid choice: 'beta'" in capsys.readouterr().err and not (tmp_path / "no.zip").exists()


def test_a_calibrated_group_threshold_model_shows_its_calibration(tmp_path, capsys, monkeypatch):
    """Export audit, session 51: a group-threshold model exported with a calibrator has
    probabilities (each group's calibrated rate of each decision), yet its record and score
    showed no ROC AUC, Brier score or ECE ("decisions, not scores"): whether calibrating helped
    could not be seen. Uncalibrated, its scores are still decisions."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    out = tmp_path / "sweep"
    assert main(["sweep", "--dataset", "german", "--methods", "threshold", "--etas", "0.5", "--no-adaptive",
                 "--no-png", "--out", str(out)]) == 0
    run = pd.read_csv(out / "results.csv").iloc[0]["run_id"]
    for calibration, scored in (("platt", True), ("none", False)):
        bundle = tmp_path / f"{calibration}.zip"
        assert main(["export", "--store", str(out), "--run", run, "--rationale", "r", "--decider", "d",
                     "--n-boot", "50", "--calibration", calibration, "--out", str(bundle)]) == 0
        from fairkit.metrics import NO_RANKING

        opened = load_bundle(bundle)
        text = render_record_markdown(opened.record)
        assert bool(opened.record["content"]["calibration_note"]) is scored
        assert ("Largest expected calibration error on test" in text) is scored
        # The effect table's frontier column is the uncalibrated model's: its ECE reads n/a
        # (numbers audit, session 53); nowhere else in a calibrated record.
        effect = re.search(r"\n## Effect of the decision threshold.*?(?=\n## )", text, flags=re.S)
        assert (effect is not None) is scored
        outside = text.replace(effect.group(0), "") if effect else text
        assert (NO_RANKING in outside) is not scored
        if scored:
            assert NO_RANKING in effect.group(0)
        auc = opened.record["content"]["metrics"]["test"]["overall"]["roc_auc"]
        assert (auc is not None and auc == auc) is scored  # none for decisions
        # A record built before 0.3.3 says nothing of it and was built by the method alone: it
        # keeps saying why it has no such figures (review of session 51: blanks).
        import copy

        old = copy.deepcopy(opened.record)
        del old["content"]["selected"]["ranks"]
        assert NO_RANKING in render_record_markdown(old)


def test_exports_warnings_are_notes_not_python_warnings(sweep_dir, tmp_path, capsys, monkeypatch):
    """Export audit, session 51: the calibrator's and the record's warnings reached stderr as
    Python's, with file paths and code lines; they are NOTE lines, once each."""
    import warnings

    from fairkit import calibration

    real = calibration.calibrate_on_validation

    def warns(*a, **k):
        warnings.warn("Group(s) in sensitive_features not seen when GroupFairnessCalibrator was fitted: 'x'",
                      UserWarning)
        warnings.warn("Group(s) in sensitive_features not seen when GroupFairnessCalibrator was fitted: 'x'",
                      UserWarning)
        return real(*a, **k)

    monkeypatch.setattr(calibration, "calibrate_on_validation", warns)
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    run = pd.read_csv(sweep_dir / "results.csv").iloc[0]["run_id"]
    assert main(["export", "--store", str(sweep_dir), "--run", run, "--rationale", "r", "--decider", "d",
                 "--n-boot", "50", "--calibration", "platt", "--out", str(tmp_path / "b.zip")]) == 0
    out, err = capsys.readouterr()
    assert out.count("NOTE: Group(s) in sensitive_features not seen when GroupFairnessCalibrator was fitted") == 1
    assert "UserWarning" not in err and "calibration.py" not in err


def test_score_names_missing_columns(sweep_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    results = pd.read_csv(sweep_dir / "results.csv")
    bundle = tmp_path / "b.zip"
    main(["export", "--store", str(sweep_dir), "--run", results.run_id.iloc[0], "--rationale", "r",
          "--decider", "d", "--n-boot", "50", "--out", str(bundle)])
    frame, _ = load_dataset("german")
    bad = tmp_path / "bad.csv"
    frame.drop(columns=["duration_months"]).to_csv(bad, index=False)
    assert main(["score", "--bundle", str(bundle), "--csv", str(bad), "--out", str(tmp_path / "s.csv")]) == 2
    assert "duration_months" in capsys.readouterr().err


@pytest.mark.parametrize("content, message", [
    (b"", "is empty: no header and no rows to score"),
    (b"status,duration_months,credit_amount\n", "has a header but no rows to score"),
])
def test_score_of_a_file_without_rows_exits_2_with_a_message(sweep_dir, tmp_path, capsys, monkeypatch,
                                                              content, message):
    """An empty query result exported with its header (or a 0-byte file) is bad input, not an
    internal error: exit 2, saying the file has no rows; nothing is written."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    results = pd.read_csv(sweep_dir / "results.csv")
    bundle = tmp_path / "b.zip"
    main(["export", "--store", str(sweep_dir), "--run", results.run_id.iloc[0], "--rationale", "r",
          "--decider", "d", "--n-boot", "50", "--out", str(bundle)])
    capsys.readouterr()
    empty = tmp_path / "empty.csv"
    empty.write_bytes(content)
    out = tmp_path / "s.csv"
    assert main(["score", "--bundle", str(bundle), "--csv", str(empty), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and "internal error" not in err
    assert not out.exists()


def test_more_resamples_than_memory_holds_exit_2_naming_the_most_that_fit(sweep_dir, tmp_path, capsys,
                                                                         monkeypatch):
    from fairkit import stats

    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(stats, "RESAMPLE_BYTES", 100 * 50)  # 50 resamples of 100 rows
    results = pd.read_csv(sweep_dir / "results.csv")
    out = tmp_path / "b.zip"
    assert main(["export", "--store", str(sweep_dir), "--run", results.run_id.iloc[0], "--rationale", "r",
                 "--decider", "d", "--n-boot", "5000", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bootstrap resamples of" in err and "use at most" in err and "internal error" not in err
    assert not out.exists()


def test_a_sweep_with_no_model_on_the_frontier_says_so_in_words(tmp_path, capsys, monkeypatch):
    """Labels that tell nothing (noise with a rare outcome): every model is constant or no better
    than the majority decision; the command says no model reached the frontier, not a bare
    empty table."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                          "group": rng.choice(["a", "b"], size=n),
                          "y": (rng.random(n) < 0.9).astype(int)})
    path = tmp_path / "noise.csv"
    frame.to_csv(path, index=False)
    assert main(["sweep", "--csv", str(path), "--target", "y", "--positive", "1", "--sensitive", "group",
                 "--methods", "unconstrained", "--no-png", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "No model reached the frontier" in out and "Empty DataFrame" not in out
    results = pd.read_csv(tmp_path / "out" / "results.csv")
    assert results["constant"].all() or (results["val_accuracy"] <= results["val_base_rate"]).all()
    # Exporting one anyway: the command line says what the record's limitations say of it (it
    # said nothing; the Export page does).
    assert main(["export", "--store", str(tmp_path / "out"), "--run", results["run_id"].iloc[0], "--rationale", "r",
                 "--decider", "d", "--n-boot", "50", "--out", str(tmp_path / "b.zip")]) == 0
    notes = [s for s in capsys.readouterr().out.splitlines() if s.startswith("NOTE (in the record's limitations)")]
    record = load_bundle(tmp_path / "b.zip").record
    from fairkit.export import GENERAL_LIMITATIONS

    own = [x for x in record["content"]["limitations"] if x not in GENERAL_LIMITATIONS]
    assert own and [n.split(": ", 1)[1] for n in notes] == own
    assert any("majority" in x or "same decision" in x for x in own)
    # Scoring with it: a batch nobody is told apart in is said to be one (lifecycle audit, session 45).
    assert main(["score", "--bundle", str(tmp_path / "b.zip"), "--csv", str(path), "--out", str(tmp_path / "s.csv")]) in (0, 4)
    from fairkit.frontier import decides_alike, one_decision_note

    rate = pd.read_csv(tmp_path / "s.csv")["decision"].mean()
    alike = bool(decides_alike(rate))
    err = capsys.readouterr().err
    assert ("this batch" in err and "tells almost nobody apart" in err) == alike
    if alike:  # the engine's one wording of such a model (one-implementation audit, session 53)
        assert f"NOTE: {one_decision_note(rate, 'batch')}" in err


def test_a_frontier_model_that_decides_every_test_row_alike_is_named_in_the_printout(tmp_path, capsys, monkeypatch):
    """Audit 2 finding 6: thresholds on inferred groups at eta 1 tell 2.4 % of German's validation rows
    apart (on the front) but approve every test row (test gap 0.000); the printout says so, by the
    engine's one rule (frontier.decides_alike_on)."""
    from fairkit.frontier import decides_alike_on

    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    out_dir = tmp_path / "out"
    assert main(["sweep", "--dataset", "german", "--methods", "inferred_threshold", "--n-etas", "3", "--no-adaptive",
                 "--no-png", "--json", "--out", str(out_dir)]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    front_ids = {r["run_id"] for r in summary["frontier"]}
    results = pd.read_csv(out_dir / "results.csv")
    alike = set(results["run_id"][decides_alike_on(results, "test") & ~decides_alike_on(results, "val")])
    assert alike & front_ids, "the German sweep no longer has such a model: pick another"
    assert set(summary["frontier_decides_alike_on_test"]) == alike & front_ids
    line = [s for s in captured.err.splitlines() if "give (almost) every test row the same decision" in s]
    assert len(line) == 1 and all(r in line[0] for r in alike & front_ids)


def test_positive_given_once_per_value_counts_each_as_positive(tmp_path, capsys, monkeypatch):
    """A file that spells one outcome two ways (UCI Adult's test file: '>50K.' for '>50K'):
    --positive once per value counts both, in the check, the sweep and the exported record."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(0)
    n = 400
    x = rng.normal(size=n)
    y = np.where(x + rng.normal(scale=0.5, size=n) > 0, np.where(rng.random(n) < 0.5, ">50K", ">50K."), "<=50K")
    path = tmp_path / "adult_test.csv"
    pd.DataFrame({"x": x, "group": rng.choice(["a", "b"], size=n), "income": y}).to_csv(path, index=False)
    args = ["--csv", str(path), "--target", "income", "--sensitive", "group"]
    assert main(["validate", *args, "--positive", ">50K"]) == 0
    err = capsys.readouterr().err
    assert "'>50K.'" in err and "counts as negative" in err and "count it as positive too" in err
    assert main(["validate", *args, "--positive", ">50K", "--positive", ">50K."]) == 0
    out, err = capsys.readouterr()
    assert "(positive: '>50K' or '>50K.')" in out and "counts as negative" not in err
    folder = tmp_path / "out"
    assert main(["sweep", *args, "--positive", ">50K", "--positive", ">50K.", "--methods", "unconstrained",
                 "--n-etas", "2", "--no-png", "--out", str(folder)]) == 0
    meta = json.loads((folder / "sweep.json").read_text())
    assert meta["spec"]["positive_label"] == [">50K", ">50K."]
    results = pd.read_csv(folder / "results.csv")
    # The base rate the sweep measured counts both spellings (about half the rows are positive).
    assert 0.35 < results["test_base_rate"].iloc[0] < 0.65
    capsys.readouterr()
    bundle = tmp_path / "model.zip"
    assert main(["export", "--store", str(folder), "--run", str(results["run_id"].iloc[0]),
                 "--rationale", "r", "--decider", "Ada", "--out", str(bundle)]) == 0
    loaded = load_bundle(bundle)
    assert loaded.spec.positive_label == [">50K", ">50K."]
    assert "favourable outcome `>50K` or `>50K.`" in render_record_markdown(loaded.record)


def test_an_edited_results_table_is_refused_before_anything_is_signed(sweep_dir, tmp_path, capsys, monkeypatch):
    """results.csv is text: edited (the chosen run shown at accuracy 0.91 and no gap, the others
    made worse), export signed a frontier no model produced (attack audit, session 43). Every
    run's figures are computed again from its model; a table that differs is refused, exit 2,
    and no bundle or audit entry is written. The same table unedited exports."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    folder = tmp_path / "sent"
    shutil.copytree(sweep_dir, folder)
    meta = json.loads((folder / "sweep.json").read_text())
    meta["store"] = str(folder / "store") if (folder / "store").exists() else meta["store"]
    (folder / "sweep.json").write_text(json.dumps(meta))
    table = pd.read_csv(folder / "results.csv")
    run = str(table["run_id"].iloc[-1])
    args = ["export", "--store", str(folder), "--run", run, "--rationale", "r", "--decider", "Ada"]
    assert main([*args, "--out", str(tmp_path / "clean.zip")]) == 0
    capsys.readouterr()
    edited = table.copy()
    edited.loc[edited["run_id"] == run, "test_accuracy"] = 0.91
    edited.loc[edited["run_id"] != run, "val_accuracy"] -= 0.05
    edited.to_csv(folder / "results.csv", index=False)
    before = AuditLog(tmp_path / "home" / "audit.sqlite").count()
    assert main([*args, "--out", str(tmp_path / "edited.zip")]) == 2
    err = capsys.readouterr().err
    assert f"for {len(table)} of {len(table)} runs" in err and "test_accuracy 0.91 in the table" in err
    assert "Nothing was exported" in err
    assert not (tmp_path / "edited.zip").exists()
    assert AuditLog(tmp_path / "home" / "audit.sqlite").count() == before
    # Its settings too: an edited eta, seed or constant flag, whose figures are untouched, put
    # made-up etas in the signed record or took the chosen run off its frontier (hostile-input
    # audit, session 52).
    chosen = table.set_index("run_id").loc[run]
    for column, value, said in (("eta", 3.25, f"eta 3.25 in the table, {float(chosen['eta'])!r} in its stored record"),
                                ("seed", 7, f"seed 7 in the table, {int(chosen['seed'])!r} in its stored record"),
                                ("constant", True, "constant True in the table, not what its model's")):
        edited = table.copy()
        edited[column] = edited[column].astype(object)
        edited.loc[edited["run_id"] == run, column] = value
        edited.to_csv(folder / "results.csv", index=False)
        assert main([*args, "--out", str(tmp_path / "edited.zip")]) == 2
        err = capsys.readouterr().err
        assert f"for 1 of {len(table)} runs" in err and said in err, err
        assert not (tmp_path / "edited.zip").exists()
    # A table that differs only in the last digits a CSV keeps is the same table.
    table.to_csv(folder / "results.csv", index=False, float_format="%.15g")
    assert main([*args, "--out", str(tmp_path / "again.zip")]) == 0
    # A run with no model to check (a registered method's untrusted class keeps only its figures;
    # here its model file is gone) is left off the signed frontier, said, not a refusal.
    on_front = set(load_bundle(tmp_path / "clean.zip").frontier["run_id"].astype(str)) - {run}
    other = sorted(on_front)[0]
    (folder / "store" / "runs" / f"{other}.safetensors").unlink()
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "fewer.zip")]) == 0
    assert "1 run(s) of the sweep have no model to check their figures against" in capsys.readouterr().out
    frontier = load_bundle(tmp_path / "fewer.zip").frontier
    assert other not in set(frontier["run_id"].astype(str))


def test_the_frontier_judges_the_gap_of_the_definition_the_methods_target(tmp_path, capsys, monkeypatch):
    """--fairness equalized_odds: the printed front, --json, sweep.json and the record's chance
    gap are on equalized odds (they were on demographic parity unless --unfairness was given),
    and the printout names the metric of each column."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    folder = tmp_path / "eo"
    assert main(["sweep", "--dataset", "german", "--methods", "unconstrained,threshold", "--fairness",
                 "equalized_odds", "--n-etas", "3", "--no-adaptive", "--no-png", "--out", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "val_equalized_odds_difference" in out and "test_equalized_odds_difference" in out
    meta = json.loads((folder / "sweep.json").read_text())
    assert meta["unfairness"] == "equalized_odds_difference"
    results = pd.read_csv(folder / "results.csv")
    run = results[results["method"] == "threshold"]["run_id"].iloc[0]
    bundle = tmp_path / "m.zip"
    assert main(["export", "--store", str(folder), "--run", run, "--rationale", "r", "--decider", "Ann",
                 "--out", str(bundle)]) == 0
    record = load_bundle(bundle).record
    assert record["content"]["frontier_axes"]["unfairness"] == "equalized_odds_difference"
    assert any("By chance alone" in x and "equalized odds" in x for x in record["content"]["limitations"])


def test_with_two_seeds_the_printed_front_and_the_record_read_the_settings_means(tmp_path, capsys, monkeypatch):
    """The printout, --json and the record's frontier are each setting's mean over the seeds,
    as frontier.html draws it; any seed's run of a front setting records as on the frontier."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    folder = tmp_path / "g"
    assert main(["sweep", "--dataset", "german", "--methods", "unconstrained,regularized", "--n-etas", "3",
                 "--seeds", "0,1", "--no-adaptive", "--no-png", "--out", str(folder), "--json", "-q"]) == 0
    out = capsys.readouterr().out
    summary = json.loads(out[out.index("{"):])
    assert summary["frontier_seeds"] == 2
    results = pd.read_csv(folder / "results.csv")
    from fairkit.frontier import seed_summary

    means = seed_summary(results).set_index("run_id")
    for row in summary["frontier"]:
        assert row["performance_val"] == pytest.approx(means.loc[row["run_id"], "val_accuracy"])
    first = summary["frontier"][0]
    other_seed = results[(results["method"] == first["method"]) & np.isclose(results["eta"], first["eta"])
                         & (results["seed"] == 1)]["run_id"].iloc[0]
    bundle = tmp_path / "m.zip"
    assert main(["export", "--store", str(folder), "--run", other_seed, "--rationale", "r", "--decider", "Ann",
                 "--out", str(bundle)]) == 0
    record = load_bundle(bundle).record
    chosen = [f for f in record["content"]["frontier"] if f.get("selected")]
    assert len(chosen) == 1 and chosen[0]["on_front"] and chosen[0]["n_seeds"] == 2
    # The selected row names the run exported (it named seed 0's, and the manifest's run id was on
    # no row: number audit, session 45); its figures are the setting's mean.
    assert chosen[0]["run_id"] == other_seed and chosen[0]["seed"] == 1
    csv_front = load_bundle(bundle).frontier
    assert csv_front.loc[csv_front["selected"].astype(bool), "run_id"].tolist() == [other_seed]
    assert "at its mean over 2 seeds" in render_record_markdown(record)
    # The headline says how far the setting's seeds spread on test: the two runs' own figures.
    spread = record["content"]["seed_spread"]
    runs = results[(results["method"] == first["method"]) & np.isclose(results["eta"], first["eta"])]
    assert spread["n_seeds"] == 2 and spread["performance"]["metric"] == "accuracy"
    assert (spread["performance"]["low"], spread["performance"]["high"]) == pytest.approx(
        (runs["test_accuracy"].min(), runs["test_accuracy"].max()))
    gap = spread["unfairness"]["metric"]
    assert (spread["unfairness"]["low"], spread["unfairness"]["high"]) == pytest.approx(
        (runs[f"test_{gap}"].min(), runs[f"test_{gap}"].max()))
    assert "Across this setting's 2 seeds (test)" in render_record_markdown(record)


@pytest.mark.parametrize("argv, message", [
    (["sweep", "--dataset", "mnist", "--out", "x"], "Unknown dataset"),
    (["sweep", "--dataset", "german", "--methods", "magic", "--out", "x"], "Unknown method"),
    (["sweep", "--csv", "/no/such.csv", "--target", "y", "--out", "x"], "not found"),
    (["sweep", "--dataset", "german", "--sensitive", "nationality", "--out", "x"], "nationality"),
    (["sweep", "--dataset", "german", "--etas", "a,b", "--out", "x"], "Could not read"),
    (["sweep", "--dataset", "german", "--tolerances", "0.05,-1", "--out", "x"], "a tolerance is a validation gap"),
    # Install audit, session 49: a tolerance of 2 was taken and bracketed nothing; an unknown
    # option was reported as a missing required one.
    (["sweep", "--dataset", "german", "--tolerances", "5", "--out", "x"], "of at most 1 (a difference between rates), "
     "got 5.0; for 5 % write 0.05"),
    (["--bogus"], "unrecognized arguments: --bogus (and the following arguments are required: command)"),
    (["sweep", "--bogus"], "unrecognized arguments: --bogus (and the following arguments are required: --out)"),
    (["export", "--store", "/nonexistent", "--run", "x", "--rationale", "r", "--decider", "d", "--out", "x.zip"], "sweep.json"),
    # Counts that would exhaust memory or run for days are refused with the range allowed.
    (["sweep", "--dataset", "mnist", "--n-etas", "201", "--out", "x"],
     "argument --n-etas: '201' is not a whole number of at least 2 and at most 200"),
    (["sweep", "--dataset", "german", "--methods", "regularized", "--out", "x",
      "--etas", ",".join(str(i / 1000) for i in range(20_000))],  # ran out of memory (round 3, finding 12)
     "regularized: 20,000 etas x 1 seed are 20,000 runs, over the limit of 2,000 a method. Give fewer etas or seeds."),
    (["sweep", "--dataset", "german", "--methods", "regularized", "--etas", "0,1", "--out", "x",
      "--seeds", ",".join(map(str, range(1_001)))], "2 etas x 1,001 seeds are 2,002 runs, over the limit of 2,000"),
    (["export", "--store", "/nonexistent", "--run", "x", "--rationale", "r", "--decider", "d", "--out", "x.zip",
      "--n-boot", "99999999999"], "argument --n-boot: '99999999999' is not a whole number of at least 50 and at most 10,000"),
    (["export", "--store", "/nonexistent", "--run", "x", "--rationale", "r", "--decider", "d", "--out", "x.zip",
      "--n-boot", "10001"], "at most 10,000"),
])
def test_bad_arguments_give_messages_not_tracebacks(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_audit_command_reports_a_broken_chain(tmp_path, capsys):
    import sqlite3

    path = tmp_path / "audit.sqlite"
    for who in ("a", "b", "c"):
        AuditLog(path).append("comment", actor=who, subject="m", text="t")
    assert main(["audit", "--audit", str(path)]) == 0
    assert main(["audit", "verify", "--audit", str(path)]) == 0
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("DROP TRIGGER events_no_update")
    con.execute("UPDATE events SET actor = 'mallory' WHERE id = 2")
    con.close()
    assert main(["audit", "--audit", str(path)]) == 1
    assert main(["audit", "verify", "--audit", str(path)]) == 1
    assert "altered at entry 2" in capsys.readouterr().err
    assert main(["audit", "--audit", str(tmp_path / "none.sqlite")]) == 2


def test_audit_last_lists_the_newest_entries_and_still_verifies_the_whole_chain(tmp_path, capsys):
    """A committee's log grows to thousands of entries; ``--last N`` lists its end, oldest first
    and says how many it left out, while the check still reads every entry."""
    import sqlite3

    path = tmp_path / "audit.sqlite"
    for i in range(7):
        AuditLog(path).append("comment" if i % 2 else "upload", actor=f"p{i}", subject="m", text="t")
    assert main(["audit", "--audit", str(path), "--last", "3"]) == 0
    out = capsys.readouterr().out
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("#")]
    assert listed == ["#5", "#6", "#7"]
    assert "The newest 3 of 7 entries" in out
    assert main(["audit", "--audit", str(path), "--last", "2", "--kind", "comment"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines() if line.startswith("#")] == ["#4", "#6"]
    assert "The newest 2 of 3 comment entries" in out
    assert main(["audit", "--audit", str(path), "--last", "50"]) == 0
    assert "The newest" not in capsys.readouterr().out  # nothing left out: nothing to say
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("DROP TRIGGER events_no_update")
    con.execute("UPDATE events SET actor = 'mallory' WHERE id = 1")  # outside the listed end
    con.close()
    assert main(["audit", "--audit", str(path), "--last", "1"]) == 1
    assert "altered at entry 1" in capsys.readouterr().err
    assert main(["audit", "--audit", str(path), "--last", "0"]) == 2


@pytest.mark.parametrize("action", [[], ["list"], ["verify"]])
def test_audit_of_a_home_with_no_log_says_so_and_makes_none(action, tmp_path, capsys, monkeypatch):
    """A mistyped FAIRKIT_HOME made an empty log there, which then verified as "an unbroken hash
    chain" (docs audit): it is refused, naming the home, and nothing is written."""
    home = tmp_path / "hoem"
    monkeypatch.setenv("FAIRKIT_HOME", str(home))
    assert main(["audit", *action]) == 2
    err = capsys.readouterr().err
    assert f"No audit log at {home / 'audit.sqlite'}" in err and "Check FAIRKIT_HOME" in err
    assert not home.exists()


def test_datasets_listing(capsys):
    assert main(["datasets"]) == 0
    assert "german" in capsys.readouterr().out


# ---------------------------------------------------------------- output conventions (subprocesses)

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ["sweep", "--dataset", "german", "--methods", "unconstrained,regularized", "--etas", "0,2"]


def _env(tmp_path):
    return {**os.environ, "FAIRKIT_HOME": str(tmp_path / "home")}


def _fairkit(argv, tmp_path):
    """``python -m fairkit ARGV`` with stdout and stderr captured (so stderr is not a terminal)."""
    return subprocess.run([sys.executable, "-m", "fairkit", *argv], capture_output=True, text=True,
                          cwd=ROOT, env=_env(tmp_path))


def _fairkit_on_terminal(argv, tmp_path):
    """``python -m fairkit ARGV`` with stderr on a pseudo-terminal: (exit status, stdout, stderr)."""
    leader, follower = pty.openpty()
    # A new pseudo-terminal is 0 columns wide: tqdm would draw a bar of width 0.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "fairkit", *argv], stdout=subprocess.PIPE,
                            stderr=follower, cwd=ROOT, env=_env(tmp_path))
    os.close(follower)
    err = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        err += chunk
    out = proc.stdout.read()
    os.close(leader)
    return proc.wait(), out.decode(), err.decode(errors="replace")


def test_sweep_json_is_all_of_stdout_and_no_progress_bar_off_a_terminal(sweep_dir, tmp_path):
    out = tmp_path / "out"
    run = _fairkit([*SWEEP, "--store", str(sweep_dir / "store"), "--out", str(out), "--json"], tmp_path)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)  # fails if anything but the one document is on stdout
    assert doc["command"] == "sweep" and doc["exit_status"] == 0 and doc["png_error"] is None
    assert (doc["runs"], doc["cached"], doc["constant"]) == (3, 3, 0)
    assert {Path(f).name for f in doc["files"]} == {"results.csv", "frontier.html", "frontier.png", "sweep.json"}
    assert all(Path(f).is_file() for f in doc["files"])
    results = pd.read_csv(out / "results.csv")
    assert doc["frontier"] and {r["run_id"] for r in doc["frontier"]} <= set(results.run_id)
    # The models no better than one decision for everyone, by the validation base rate the table carries.
    majority = np.maximum(results.val_base_rate, 1 - results.val_base_rate)
    assert doc["below_chance"] == int(((results.val_accuracy <= majority) & ~results.constant).sum())
    assert not set(results.run_id[results.val_accuracy <= majority]) & {r["run_id"] for r in doc["frontier"]}
    # Every digit of results.csv (pandas' to_json had rounded them to 10 significant digits).
    by_run = results.set_index("run_id")
    for r in doc["frontier"]:
        assert r["performance_test"] == by_run.loc[r["run_id"], "test_accuracy"]
        assert r["unfairness_val"] == by_run.loc[r["run_id"], "val_demographic_parity_difference"]
    # The messages moved to stderr; no progress bar there, stderr being a pipe.
    assert "3 runs (3 from the store)" in run.stderr
    assert "sweep:" not in run.stderr and "\r" not in run.stderr


def test_progress_bar_on_a_terminal_unless_quiet(sweep_dir, tmp_path):
    argv = [*SWEEP, "--store", str(sweep_dir / "store"), "--out", str(tmp_path / "out")]
    status, out, err = _fairkit_on_terminal(argv, tmp_path)
    assert status == 0
    assert "sweep:" in err and "3/3" in err
    assert "3 runs (3 from the store)" in out
    status, out, err = _fairkit_on_terminal(["--quiet", *argv], tmp_path)
    assert status == 0
    assert "sweep:" not in err and out == ""


def test_score_json_with_quiet_prints_only_the_summary(sweep_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    results = pd.read_csv(sweep_dir / "results.csv")
    bundle = tmp_path / "b.zip"
    assert main(["export", "--store", str(sweep_dir), "--run", results.run_id.iloc[-1], "--rationale", "r",
                 "--decider", "d", "--n-boot", "50", "--out", str(bundle)]) == 0
    frame, _ = load_dataset("german")
    shifted = frame.sample(300, random_state=1)
    shifted.loc[shifted.sex == "female", "credit"] = "bad"
    new, scored = tmp_path / "new.csv", tmp_path / "scored.csv"
    shifted.to_csv(new, index=False)
    run = _fairkit(["score", "--bundle", str(bundle), "--csv", str(new), "--out", str(scored),
                    "--json", "--fail-on-drift", "-q"], tmp_path)
    assert run.returncode == EXIT_DRIFT
    doc = json.loads(run.stdout)
    report = json.loads(scored.with_suffix(".fairness.json").read_text())
    assert doc["command"] == "score" and doc["exit_status"] == EXIT_DRIFT and doc["rows"] == 300
    assert doc["files"] == [str(scored), str(scored.with_suffix(".fairness.json"))]
    assert doc["drift_checked"] and doc["drifted"] and doc["drift"] == report["drift"]
    (entry,) = AuditLog().entries(kind="score")["id"]
    assert doc["audit_entry"] == entry
    # --quiet: no messages anywhere but the exit's reason on stderr.
    assert "Wrote" not in run.stderr and "DRIFT" not in run.stderr


def test_sweep_on_a_stratified_sample_is_recorded_and_exported_from_the_same_rows(tmp_path, capsys, monkeypatch):
    from fairkit.split import frame_hash, stratified_sample

    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    out = tmp_path / "sweep"
    assert main(["sweep", "--dataset", "german", "--sample", "400", "--methods", "unconstrained", "--etas", "0",
                 "--no-png", "--out", str(out), "--audit", str(tmp_path / "a.sqlite")]) == 0
    assert "stratified sample of 400 of 1,000 rows" in capsys.readouterr().out
    meta = json.loads((out / "sweep.json").read_text())
    frame, spec = load_dataset("german")
    drawn = stratified_sample(frame, spec, 400, seed=0)
    assert meta["sample"] == drawn.to_dict() and meta["data_hash"] == frame_hash(drawn.frame)
    assert meta["sample"]["source_hash"] == frame_hash(frame)
    run = pd.read_csv(out / "results.csv")["run_id"].iloc[0]
    bundle = tmp_path / "b.zip"
    # export rebuilds the split from the same sample (its data hash is checked) and records it.
    assert main(["export", "--store", str(out), "--run", run, "--rationale", "r", "--decider", "D",
                 "--n-boot", "50", "--out", str(bundle), "--audit", str(tmp_path / "a.sqlite")]) == 0
    record = load_bundle(bundle).record
    assert record["content"]["dataset"]["sample"] == meta["sample"]
    assert record["content"]["dataset"]["rows"] == 400
    markdown = zipfile_text(bundle, "decision_record.md")
    assert "stratified sample: 400 of the table's 1,000 rows" in markdown
    # The group counts and missing values are the sample's, and labelled so.
    assert "| Attribute | Group | Rows (the sample) |" in markdown and "whole table)" not in markdown
    assert "Rows with any missing value in the sample:" in markdown
    sizes = {(g["attribute"], g["group"]): g["n"] for g in record["content"]["dataset"]["group_sizes"]}
    assert sizes[("sex", "female")] == int((drawn.frame["sex"] == "female").sum())
    # A sample as large as the table is the table.
    assert main(["sweep", "--dataset", "german", "--sample", "5000", "--methods", "unconstrained", "--etas", "0",
                 "--no-png", "--out", str(tmp_path / "whole"), "--audit", str(tmp_path / "a.sqlite")]) == 0
    assert "every row is used" in capsys.readouterr().out
    assert json.loads((tmp_path / "whole" / "sweep.json").read_text())["sample"] is None


def test_reserved_threshold_rows_reach_the_thresholds_and_the_record(tmp_path, monkeypatch):
    from fairkit.estimators import postprocess
    from fairkit.split import reserve_threshold_rows, split_dataset

    monkeypatch.setattr(postprocess, "CROSSFIT_BELOW_ROWS", 500)  # German's 600 training rows take the set
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    out = tmp_path / "sweep"
    assert main(["sweep", "--dataset", "german", "--methods", "threshold", "--etas", "0,1", "--fairness",
                 "equalized_odds", "--threshold-rows", "0.5", "--no-png", "--out", str(out)]) == 0
    meta = json.loads((out / "sweep.json").read_text())
    assert meta["threshold_rows"] == 0.5
    frame, spec = load_dataset("german")
    reserved = reserve_threshold_rows(split_dataset(frame, spec, seed=0), 0.5)
    results = pd.read_csv(out / "results.csv")
    run = results[results.eta == 1.0].run_id.iloc[0]
    bundle = tmp_path / "b.zip"
    # export draws the same reserved rows again: the record's validation figures are the sweep's.
    assert main(["export", "--store", str(out), "--run", run, "--rationale", "r", "--decider", "D",
                 "--n-boot", "50", "--out", str(bundle)]) == 0
    b = load_bundle(bundle)
    ds = b.record["content"]["dataset"]
    assert ds["threshold_rows"]["rows"] == len(reserved.thresholds) == 100
    assert ds["split_sizes"] == f"600/{len(reserved.validation)}/200"
    assert b.estimator.thresholds_from_ == "threshold_set" and b.estimator.n_threshold_rows_ == 100
    assert "reserved for the post-processors' thresholds" in zipfile_text(bundle, "decision_record.md")


@pytest.mark.parametrize("share", ["0", "1", "x", "nan"])
def test_a_bad_threshold_rows_share_is_a_message(share, tmp_path, capsys):
    assert main(["sweep", "--dataset", "german", "--threshold-rows", share, "--out", str(tmp_path)]) == 2
    assert "share of the validation rows" in capsys.readouterr().err


def test_threshold_rows_on_a_small_table_are_refused_with_the_reason(tmp_path, capsys):
    assert main(["sweep", "--dataset", "german", "--methods", "threshold", "--threshold-rows", "0.5",
                 "--out", str(tmp_path)]) == 2
    assert "on 600 training rows (fewer than 10,000) the threshold methods fit on out-of-fold" in capsys.readouterr().err


def zipfile_text(path, member: str) -> str:
    import zipfile

    with zipfile.ZipFile(path) as zf:
        return zf.read(member).decode()


# ---------------------------------------------------------------- one frontier, arguments checked first

def test_export_records_the_frontier_status_sweep_json_gives(sweep_dir, tmp_path, capsys, monkeypatch):
    from fairkit.frontier import pareto_front
    from fairkit.record import CHOSEN, CHOSEN_OFF_FRONT

    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    out = tmp_path / "out"
    assert main([*SWEEP, "--store", str(sweep_dir / "store"), "--out", str(out), "--no-png", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    printed = {r["run_id"] for r in doc["frontier"]}
    results = pd.read_csv(out / "results.csv")
    # The case that split the surfaces: regularized at eta 0 ties the unconstrained model, so it
    # is on its method's front (printed) but not on one front over every method.
    assert printed - set(pareto_front(results).run_id)
    for run in results.run_id:
        bundle = tmp_path / f"{run}.zip"
        assert main(["export", "--store", str(out), "--run", run, "--rationale", "r", "--decider", "d",
                     "--n-boot", "50", "--out", str(bundle)]) == 0
        front = load_bundle(bundle).record["content"]["frontier"]
        (chosen,) = [f for f in front if f["selected"]]
        assert chosen["on_front"] == (run in printed), run
        assert {f["run_id"] for f in front if f["on_front"]} == printed
        status = CHOSEN if run in printed else CHOSEN_OFF_FRONT
        # ... followed by which other method's model beats it on validation, if one does.
        assert re.search(rf"\| {re.escape(status)}(; beaten on validation by [^|]+)? \|",
                         zipfile_text(bundle, "decision_record.md"))


def _strict(text: str):
    """JSON as a reader outside Python takes it: a bare NaN or Infinity is an error."""
    def refuse(constant):
        raise ValueError(f"not strict JSON: bare {constant}")

    return json.loads(text, parse_constant=refuse)


def test_score_gives_no_roc_auc_for_a_threshold_model(tmp_path, capsys, monkeypatch):
    """...and its fairness report is strict JSON: null where the bundle's metrics.json has null,
    as are sweep.json and the --json summaries."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    out = tmp_path / "sweep"
    assert main(["sweep", "--dataset", "german", "--methods", "threshold", "--etas", "1", "--no-png",
                 "--out", str(out), "--json"]) == 0
    _strict(capsys.readouterr().out)
    _strict((out / "sweep.json").read_text())
    run = pd.read_csv(out / "results.csv").run_id.iloc[0]
    bundle, scored = tmp_path / "b.zip", tmp_path / "scored.csv"
    assert main(["export", "--store", str(out), "--run", run, "--rationale", "r", "--decider", "d",
                 "--n-boot", "50", "--out", str(bundle)]) == 0
    b = load_bundle(bundle)
    assert b.metrics["test"]["overall"]["roc_auc"] is None  # the record: decisions, not scores
    # Its calibration error and Brier score are its error rate: the record shows neither as a
    # figure of calibration (oracle audit, session 44).
    from fairkit.record import render_markdown

    text = render_markdown(b.record)
    assert "| Brier score | n/a (decisions, not scores) |" in text
    assert "Calibration error (ECE), its largest group value and gap between groups, and Brier score: n/a" in text
    # Nor anywhere else (number audit, session 45: headlined as 0.379 beside the n/a).
    assert "Largest group calibration error (ECE):** n/a (decisions, not scores)" in text.replace("\\", "")
    assert "Largest expected calibration error on test" not in text
    frame, _ = load_dataset("german")
    rows = tmp_path / "rows.csv"
    frame.sample(300, random_state=2).to_csv(rows, index=False)
    capsys.readouterr()
    assert main(["score", "--bundle", str(bundle), "--csv", str(rows), "--out", str(scored), "--json"]) == 0
    doc = _strict(capsys.readouterr().out)
    report = _strict(scored.with_suffix(".fairness.json").read_text())
    assert doc["files"][-1] == str(scored.with_suffix(".fairness.json"))
    overall = report["overall"]
    assert overall["roc_auc"] is None  # as in the bundle's metrics.json: null, not a bare NaN
    assert np.isfinite(overall["accuracy"])


def test_score_names_groups_the_model_never_saw_wherever_it_says_anything(tmp_path, capsys, monkeypatch):
    """A model that reads the group at prediction scored rows whose values were spelled otherwise
    ("FEMALE" for "female") with another group's rule, silently (3 of 50 decisions changed in
    the audit). Such rows keep the rule for groups without one of their own (a row's decision
    must not depend on the batch: one applicant alone would be refused where a batch is not),
    and the groups are named on stderr (under --quiet too), in --json and in the audit entry."""
    from fairkit.audit import AuditLog

    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    out = tmp_path / "sweep"
    assert main(["sweep", "--dataset", "german", "--methods", "threshold", "--etas", "1", "--no-png",
                 "--out", str(out)]) == 0
    run = pd.read_csv(out / "results.csv").run_id.iloc[0]
    bundle = tmp_path / "b.zip"
    assert main(["export", "--store", str(out), "--run", run, "--rationale", "r", "--decider", "d",
                 "--n-boot", "50", "--out", str(bundle)]) == 0
    frame, spec = load_dataset("german")
    rows = frame.sample(120, random_state=4).reset_index(drop=True)
    upper = rows.copy()
    for col in spec.sensitive:
        upper[col] = upper[col].astype(str).str.upper()
    upper.to_csv(tmp_path / "upper.csv", index=False)
    capsys.readouterr()
    scored = tmp_path / "scored.csv"
    assert main(["score", "--bundle", str(bundle), "--csv", str(tmp_path / "upper.csv"), "--out", str(scored),
                 "-q", "--json"]) == 0
    said = capsys.readouterr()
    assert "WARNING: Group(s) in the column(s) sex, age_group not seen when this model was fitted" in said.err
    assert "None of the rows' groups was seen" in said.err and "UserWarning" not in said.err
    doc = json.loads(said.out)
    assert "None of the rows' groups was seen" in doc["unseen_groups"]
    entry = AuditLog(tmp_path / "home" / "audit.sqlite").entries(kind="score").iloc[-1]
    assert entry.details["unseen_groups"] == doc["unseen_groups"]
    new = rows.copy()
    new["sex"] = new["sex"].astype(object)
    new.loc[:4, "sex"] = "nonbinary"
    new.to_csv(tmp_path / "new.csv", index=False)
    assert main(["score", "--bundle", str(bundle), "--csv", str(tmp_path / "new.csv"), "--out", str(scored)]) == 0
    said = capsys.readouterr()
    assert "'nonbinary & " in said.err and "None of the rows" not in said.err
    assert "'nonbinary & " in AuditLog(tmp_path / "home" / "audit.sqlite").entries(kind="score").iloc[-1].details[
        "unseen_groups"]
    # The Python API warns with the same words; one row scores alike alone and in its batch.
    b = load_bundle(bundle)
    with pytest.warns(UserWarning, match=re.escape("Group(s) in the column(s) sex, age_group")):
        batch = b.predict(new)
    with pytest.warns(UserWarning):
        assert b.predict(new.iloc[:1])[0] == batch[0]


@pytest.fixture(scope="module")
def exported(sweep_dir, tmp_path_factory):
    """A bundle of the unconstrained run, and German rows to score with it."""
    folder = tmp_path_factory.mktemp("exported")
    run = pd.read_csv(sweep_dir / "results.csv").run_id.iloc[0]
    bundle = folder / "b.zip"
    assert main(["export", "--store", str(sweep_dir), "--run", run, "--rationale", "r", "--decider", "d",
                 "--n-boot", "50", "--out", str(bundle), "--audit", str(folder / "a.sqlite")]) == 0
    frame, _ = load_dataset("german")
    rows = folder / "rows.csv"
    frame.sample(200, random_state=3).to_csv(rows, index=False)
    return bundle, rows, frame


@pytest.mark.parametrize("option, value, message", [
    ("--drift-n-boot", "0", "'0' is not a whole number of at least 50"),
    ("--drift-n-boot", "20", "'20' is not a whole number of at least 50"),  # falsely narrow intervals
    ("--drift-n-boot", "-5", "'-5' is not a whole number of at least 50"),
    ("--drift-n-boot", "10001", "'10001' is not a whole number of at least 50 and at most 10,000"),
    ("--drift-alpha", "2", "'2' is not a false-alarm rate; give a number above 0 and below 1"),
    ("--drift-alpha", "1", "'1' is not a false-alarm rate"),
    ("--drift-alpha", "0", "'0' is not a false-alarm rate"),
    ("--drift-alpha", "-1", "'-1' is not a false-alarm rate"),
    ("--drift-alpha", "nan", "'nan' is not a false-alarm rate"),
])
def test_bad_drift_options_are_refused_before_anything_is_written(exported, option, value, message,
                                                                 tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    bundle, rows, _ = exported
    scored = tmp_path / "scored.csv"
    assert main(["score", "--bundle", str(bundle), "--csv", str(rows), "--out", str(scored),
                 option, value, "--fail-on-drift"]) == 2
    err = capsys.readouterr().err
    assert f"argument {option}: {message}" in err and "internal error" not in err
    assert list(tmp_path.iterdir()) == []  # no scores, no report, no audit log


def test_score_of_rows_without_labels_writes_scores_and_says_why_nothing_is_compared(exported, tmp_path,
                                                                                    capsys, monkeypatch):
    # New rows whose outcomes are not known yet: the target column is there but empty, which
    # is scored as a file without the column is.
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    bundle, _, frame = exported
    rows, scored = tmp_path / "rows.csv", tmp_path / "scored.csv"
    frame.head(50).assign(credit=np.nan).to_csv(rows, index=False)
    assert main(["score", "--bundle", str(bundle), "--csv", str(rows), "--out", str(scored),
                 "--fail-on-drift"]) == 0
    captured = capsys.readouterr()
    assert "No fairness check: the target column credit holds no label in any of the 50 row(s)." in captured.out
    assert "internal error" not in captured.err
    assert len(pd.read_csv(scored)) == 50 and not scored.with_suffix(".fairness.json").exists()
    (details,) = AuditLog().entries(kind="score")["details"]
    assert details["drift"] is None


def test_keygen_into_a_file_is_refused(tmp_path, capsys):
    taken = tmp_path / "afile.txt"
    taken.write_text("keep me")
    assert main(["keygen", "--out", str(taken)]) == 2
    err = capsys.readouterr().err
    assert f"argument --out: {taken} is a file, not a folder" in err and "internal error" not in err
    assert taken.read_text() == "keep me" and [p.name for p in tmp_path.iterdir()] == ["afile.txt"]
    assert main(["keygen", "--out", str(taken / "keys")]) == 2
    assert "is a file, so" in capsys.readouterr().err


def test_keygen_refuses_a_dangling_link_where_the_key_goes(tmp_path, capsys):
    """A dangling link named like the private key sent the key where its maker pointed it."""
    keys_dir, stolen = tmp_path / "keys", tmp_path / "elsewhere.pem"
    keys_dir.mkdir()
    (keys_dir / "fairkit-signing-key.pem").symlink_to(stolen)
    assert main(["keygen", "--out", str(keys_dir)]) == 2
    err = capsys.readouterr().err
    assert (f"fairkit-signing-key.pem already in {keys_dir} (a file or a link); a new key would replace the "
            "organisation's. Choose another folder.") in err and "internal error" not in err
    assert not stolen.exists() and not (keys_dir / "fairkit-public-key.pem").exists()


# ---------------------------------------------------------------- nothing an output overwrites

def _kept_bytes(*paths):
    return {p: p.read_bytes() for p in paths}


def test_score_says_which_groups_the_batchs_gaps_left_out(exported, tmp_path, capsys, monkeypatch):
    """Numbers audit, session 49: score's report and output never said which groups a batch's
    gaps left out (its gap table names only those no gap compares), while the record says it of
    its own. The batch's notes are in the report, the --json summary and the output."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    bundle, rows, _ = exported
    scored = tmp_path / "s.csv"
    assert main(["score", "--bundle", str(bundle), "--csv", str(rows), "--out", str(scored),
                 "--audit", str(tmp_path / "a.sqlite"), "--json"]) == 0
    out = capsys.readouterr().out
    summary = json.loads(out[out.index("{"):])
    notes = json.loads(scored.with_suffix(".fairness.json").read_text())["notes"]
    assert summary["fairness_notes"] == notes and any(" out " in n for n in notes), notes
    assert main(["score", "--bundle", str(bundle), "--csv", str(rows), "--out", str(scored),
                 "--audit", str(tmp_path / "a.sqlite")]) == 0
    printed = capsys.readouterr().out
    assert all(f"  NOTE: {n}." in printed for n in notes)


@pytest.mark.parametrize("case, option, clash", [
    ("csv", "--out", "is the same file as --csv"),
    ("report", "--out (its fairness report)", "is the same file as --csv"),
    ("bundle_hard_link", "--out", "is the same file as --bundle"),
    ("audit", "--out", "is the same file as --audit"),
    ("audit_symlink", "--out", "is the same file as --audit"),
    ("audit_wal", "--out", "is the same file as --audit (SQLite's -wal file)"),
    ("default_audit", "--out", "is the same file as the audit log ($FAIRKIT_HOME/audit.sqlite)"),
    ("trust", "--out", "is the same file as --trust"),
])
def test_score_refuses_an_out_that_is_one_of_its_inputs(exported, case, option, clash, tmp_path, capsys,
                                                         monkeypatch):
    """score --out over its input, its bundle (a hard link too), its key or its audit log (a
    symlink too, the default one too) is refused before anything is written; all are intact."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FAIRKIT_TRUST_KEY", raising=False)
    bundle, rows, _ = exported
    local = tmp_path / "bundle"
    shutil.copy(bundle, local)
    data = tmp_path / ("s.fairness.json" if case == "report" else "rows.csv")
    shutil.copy(rows, data)
    log, default = tmp_path / "a.sqlite", tmp_path / "home" / "audit.sqlite"
    for path in (log, default):
        AuditLog(path).append("comment", actor="a", subject="s", text="keep me")
    (tmp_path / "a.sqlite-wal").write_bytes(b"")
    write_key_pair(tmp_path / "k.pem", tmp_path / "k.pub")
    os.link(local, tmp_path / "scores.csv")
    (tmp_path / "log.csv").symlink_to(log)
    out = {"csv": data, "report": tmp_path / "s.csv", "bundle_hard_link": tmp_path / "scores.csv",
           "audit": log, "audit_symlink": tmp_path / "log.csv", "audit_wal": tmp_path / "a.sqlite-wal",
           "default_audit": default, "trust": tmp_path / "k.pub"}[case]
    extra = ([] if case == "default_audit" else ["--audit", str(log)]) + (
        ["--trust", str(tmp_path / "k.pub")] if case == "trust" else [])
    before = _kept_bytes(data, local, log, default, tmp_path / "k.pub", tmp_path / "a.sqlite-wal")
    assert main(["score", "--bundle", str(local), "--csv", str(data), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    written = tmp_path / "s.fairness.json" if case == "report" else out
    assert f"error: {option} {written} {clash}" in err and "internal error" not in err, err
    assert _kept_bytes(*before) == before
    assert len(AuditLog(log).entries()) == len(AuditLog(default).entries()) == 1


@pytest.fixture
def sweep_copy(sweep_dir, tmp_path):
    """A copy of the sweep folder, its results store beside it (sweep.json names it)."""
    folder, store = tmp_path / "sweep", tmp_path / "results-store"
    shutil.copytree(sweep_dir, folder, ignore=shutil.ignore_patterns("store"))
    shutil.copytree(sweep_dir / "store", store)
    meta = json.loads((folder / "sweep.json").read_text())
    (folder / "sweep.json").write_text(json.dumps({**meta, "store": str(store)}))
    return folder, store


@pytest.mark.parametrize("case, clash", [
    ("audit", "is the same file as --audit"),
    ("audit_hard_link", "is the same file as --audit"),
    ("sweep_json", "is the same file as --store's sweep.json"),
    ("results_csv_hard_link", "is the same file as --store's results.csv"),
    ("results_store", "is one of the files of the results store"),
    ("sign_key", "is the same file as --sign-key"),
])
def test_export_refuses_an_out_that_is_one_of_its_inputs(sweep_copy, case, clash, tmp_path, capsys, monkeypatch):
    """export --out over the audit log (the whole trail), a file of the sweep folder or of its
    results store, or the signing key, is refused before anything is written."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FAIRKIT_SIGNING_KEY", raising=False)
    folder, store = sweep_copy
    log = tmp_path / "a.sqlite"
    AuditLog(log).append("comment", actor="a", subject="s", text="keep me")
    write_key_pair(tmp_path / "k.pem", tmp_path / "k.pub")
    os.link(log, tmp_path / "audit-copy.zip")
    os.link(folder / "results.csv", tmp_path / "results.zip")
    run_file = next(p for p in store.rglob("*") if p.is_file())
    out = {"audit": log, "audit_hard_link": tmp_path / "audit-copy.zip", "sweep_json": folder / "sweep.json",
           "results_csv_hard_link": tmp_path / "results.zip", "results_store": run_file,
           "sign_key": tmp_path / "k.pem"}[case]
    run = pd.read_csv(folder / "results.csv").run_id.iloc[0]
    before = _kept_bytes(log, folder / "sweep.json", folder / "results.csv", run_file, tmp_path / "k.pem")
    assert main(["export", "--store", str(folder), "--run", run, "--rationale", "r", "--decider", "d",
                 "--n-boot", "50", "--audit", str(log), "--sign-key", str(tmp_path / "k.pem"),
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"error: --out {out} {clash}" in err and "internal error" not in err, err
    assert _kept_bytes(*before) == before
    assert len(AuditLog(log).entries()) == 1


def test_export_may_replace_its_own_earlier_bundle_in_the_sweep_folder(sweep_copy, tmp_path, capsys, monkeypatch):
    """A bundle exported into the sweep folder is no input of the next export: exporting again
    under the same name replaces it (and logs a second export)."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FAIRKIT_SIGNING_KEY", raising=False)
    folder, _ = sweep_copy
    run = pd.read_csv(folder / "results.csv").run_id.iloc[0]
    argv = ["export", "--store", str(folder), "--run", run, "--rationale", "r", "--decider", "d",
            "--n-boot", "50", "--out", str(folder / "model.zip")]
    assert main(argv) == 0 and main(argv) == 0, capsys.readouterr().err
    assert len(AuditLog().entries(kind="export")) == 2


@pytest.mark.parametrize("name", ["scored.zip", "scored.csv.gz", "scored.CSV.BZ2"])
def test_score_writes_a_plain_csv_only(exported, name, tmp_path, capsys, monkeypatch):
    """pandas would compress by the extension; score refuses a compressing name instead."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    bundle, rows, _ = exported
    assert main(["score", "--bundle", str(bundle), "--csv", str(rows), "--out", str(tmp_path / name)]) == 2
    err = capsys.readouterr().err
    assert f"argument --out: {tmp_path / name} names a compressed file; score writes a plain CSV" in err
    assert not (tmp_path / name).exists()


def test_score_logs_the_hash_of_the_bytes_it_scored(exported, tmp_path, monkeypatch):
    """The audit entry's input_hash is of the rows scored, even if the file changes after it was read."""
    import fairkit.monitor

    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    bundle, rows, _ = exported
    data = tmp_path / "rows.csv"
    shutil.copy(rows, data)
    scored_hash = hashlib.sha256(data.read_bytes()).hexdigest()
    drift_report = fairkit.monitor.drift_report

    def meanwhile(*args, **kwargs):  # another process rewrites the input while it is scored
        data.write_text("changed\n")
        return drift_report(*args, **kwargs)

    monkeypatch.setattr(fairkit.monitor, "drift_report", meanwhile)
    assert main(["score", "--bundle", str(bundle), "--csv", str(data), "--out", str(tmp_path / "s.csv")]) == 0
    (details,) = AuditLog().entries(kind="score")["details"]
    assert details["input_hash"] == scored_hash


# ---------------------------------------------------------------- devices, FIFOs, files of the wrong kind

_EACH_MAIN = """
import contextlib, io, json, sys
from fairkit.__main__ import main
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except BaseException as exc:
            code = repr(exc)
    print(json.dumps([argv, code, err.getvalue()]), flush=True)
"""


def _capped_mains(argvs, tmp_path, timeout=90):
    """``main(argv)`` for each argv in one child process held to 3 GB and ``timeout`` seconds, so
    a command that reads a device without end or waits on a FIFO fails this test instead of
    taking the machine down or hanging it: [(argv, exit status, stderr)]."""
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))

    proc = subprocess.run([sys.executable, "-c", _EACH_MAIN, json.dumps([list(map(str, a)) for a in argvs])],
                          capture_output=True, text=True, cwd=ROOT, env=_env(tmp_path), timeout=timeout,
                          preexec_fn=cap)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_devices_and_fifos_are_refused_unread(exported, sweep_dir, tmp_path):
    """A FIFO (nobody writes to it) or a device, given as any file to read, is refused by its name
    with exit 2 before it is opened: no hang, no reading /dev/zero until memory runs out. So is a
    device as the --out (it would be replaced or fail mid-write)."""
    bundle, rows, _ = exported
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "sw").mkdir()
    os.mkfifo(tmp_path / "sw" / "sweep.json")
    log = tmp_path / "a.sqlite"
    AuditLog(log).append("comment", actor="a", subject="s", text="t")
    export = ["export", "--store", sweep_dir, "--run", "r", "--rationale", "r", "--decider", "d",
              "--out", tmp_path / "b.zip"]
    cases = []
    for bad in (fifo, "/dev/zero"):
        cases += [
            (["validate", "--csv", bad, "--target", "y"], f"argument --csv: {bad} is not a regular file"),
            (["score", "--bundle", bad, "--csv", rows, "--out", tmp_path / "s.csv"], f"argument --bundle: {bad}"),
            (["score", "--bundle", bundle, "--csv", bad, "--out", tmp_path / "s.csv"], f"argument --csv: {bad}"),
            (["audit", "verify", "--audit", log, "--trust", bad], f"The trusted key: {bad} is not a regular file"),
            (["audit", "verify", "--audit", log, "--bundle", bad], f"argument --bundle: {bad}"),
            (["audit", "verify", "--audit", bad], f"argument --audit: {bad} is not a regular file"),
            ([*export, "--sign-key", bad], f"The signing key: {bad} is not a regular file"),
        ]
    cases += [
        (["score", "--bundle", bundle, "--csv", rows, "--out", "/dev/full"],
         "argument --out: /dev/full is not a regular file"),
        (["export", "--store", tmp_path / "sw", "--run", "r", "--rationale", "r", "--decider", "d",
          "--out", tmp_path / "b.zip"], f"{tmp_path / 'sw' / 'sweep.json'} is not a regular file"),
    ]
    results = _capped_mains([argv for argv, _ in cases], tmp_path)
    assert len(results) == len(cases)
    for (argv, message), (_, code, err) in zip(cases, results):
        assert code == 2 and message in err and "internal error" not in err, (argv, code, err[-1500:])
    assert not (tmp_path / "s.csv").exists() and not (tmp_path / "b.zip").exists()


def test_an_audit_log_that_is_not_one_is_named(exported, tmp_path, capsys, monkeypatch):
    """A CSV or a folder given as --audit is a message naming it (exit 2), and score writes no
    scores it cannot log."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    bundle, rows, _ = exported
    table = tmp_path / "table.csv"
    shutil.copy(rows, table)
    before = table.read_bytes()
    assert main(["audit", "verify", "--audit", str(table)]) == 2
    err = capsys.readouterr().err
    assert (f"error: The audit log {table} is damaged or not an SQLite file (SQLite: file is not a database)"
            in err and "internal error" not in err)
    assert table.read_bytes() == before
    assert main(["audit", "verify", "--audit", str(tmp_path)]) == 2
    assert f"argument --audit: {tmp_path} is a folder" in capsys.readouterr().err
    scored = tmp_path / "s.csv"
    assert main(["score", "--bundle", str(bundle), "--csv", str(rows), "--out", str(scored),
                 "--audit", str(table)]) == 2
    assert "is damaged or not an SQLite file" in capsys.readouterr().err
    assert not scored.exists() and table.read_bytes() == before
    # Another program's SQLite database is named as such and left exactly as it was.
    other = tmp_path / "crm.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE customers (id INTEGER)")
    con.commit()
    con.close()
    kept = other.read_bytes()
    assert main(["audit", "verify", "--audit", str(other)]) == 2
    assert "is an SQLite database of something else (tables: customers)" in capsys.readouterr().err
    assert other.read_bytes() == kept and not Path(f"{other}-wal").exists()


def test_a_sweep_json_that_is_not_one_is_named(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    for content in (b"\xff\xfe\x00junk", b'{"x":', b"[1, 2]"):
        (tmp_path / "sweep.json").write_bytes(content)
        assert main(["export", "--store", str(tmp_path), "--run", "r", "--rationale", "r", "--decider", "d",
                     "--out", str(tmp_path / "b.zip")]) == 2
        err = capsys.readouterr().err
        assert f"{tmp_path / 'sweep.json'} is not the sweep.json a sweep writes" in err, err
        assert "internal error" not in err


def test_a_full_disk_is_a_message_and_leaves_no_partial_file(exported, sweep_dir, tmp_path, capsys, monkeypatch):
    """An OSError while an output is written (the disk is full) names the file and the reason,
    exit 2; the file written atomically is left as it was, with no temporary beside it."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    bundle, rows, _ = exported
    scored, made = tmp_path / "s.csv", tmp_path / "b.zip"
    scored.write_text("earlier scores\n")
    AuditLog()  # the log exists before the disk fills

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    assert main(["score", "--bundle", str(bundle), "--csv", str(rows), "--out", str(scored)]) == 2
    err = capsys.readouterr().err
    assert f"Could not write {scored} (No space left on device)" in err and "internal error" not in err
    run = pd.read_csv(sweep_dir / "results.csv").run_id.iloc[0]
    assert main(["export", "--store", str(sweep_dir), "--run", run, "--rationale", "r", "--decider", "d",
                 "--n-boot", "50", "--out", str(made)]) == 2
    err = capsys.readouterr().err
    assert f"Could not write {made} (No space left on device)" in err and "internal error" not in err
    assert scored.read_text() == "earlier scores\n" and not made.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "s.csv"]


def test_a_tls_scheduler_without_certificates_ends_with_the_message_alone(tmp_path):
    """Docs audit finding 7: the message and exit 2 came, then distributed's traceback from the
    half-made Client being collected. Certificates are now checked before any Client exists."""
    run = _fairkit(["sweep", "--dataset", "german", "--scheduler", "tls://127.0.0.1:9", "--dask-timeout", "3",
                    "--no-png", "--out", str(tmp_path / "out")], tmp_path)
    assert run.returncode == 2, run.stderr
    assert "needs TLS certificates" in run.stderr and "--tls-ca-file" in run.stderr
    assert "Traceback" not in run.stderr and "Exception ignored" not in run.stderr


def test_score_keeps_the_inputs_cells_as_written(sweep_dir, tmp_path, monkeypatch):
    """Docs audit finding 1: the scored file rewrote the input's cells ('034' as '34', '6850' as
    '6850.0' once a column held a decimal, ' none ' trimmed, '#N/A' emptied)."""
    import csv

    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    results = pd.read_csv(sweep_dir / "results.csv")
    bundle = tmp_path / "b.zip"
    assert main(["export", "--store", str(sweep_dir), "--run", results.run_id.iloc[-1], "--rationale", "r",
                 "--decider", "d", "--n-boot", "50", "--out", str(bundle), "-q"]) == 0
    frame, _ = load_dataset("german")
    new = tmp_path / "new.csv"
    frame.head(40).to_csv(new, index=False)
    lines = new.read_text().splitlines()
    cells = [next(csv.reader([line])) for line in lines]
    header = cells[0]
    cells[1][header.index("age")] = "034"
    cells[2][header.index("credit_amount")] = "1e3"
    cells[3][header.index("telephone")] = f" {cells[3][header.index('telephone')]} "
    cells[4][header.index("savings")] = "#N/A"
    with new.open("w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(cells)
    scored = tmp_path / "scored.csv"
    assert main(["score", "--bundle", str(bundle), "--csv", str(new), "--out", str(scored), "-q"]) == 0
    with scored.open(newline="") as f:
        written = list(csv.reader(f))
    assert written[0] == header + ["score", "decision"]
    assert [row[:-2] for row in written[1:]] == cells[1:]
    scores = pd.read_csv(scored)["score"]
    assert scores.between(0, 1).all() and len(scores) == 40


def test_running_out_of_memory_is_a_message_with_what_to_do(monkeypatch, capsys):
    """Scale audit finding 1: a 2M-row export ended in "internal error: MemoryError ... please
    report it", which names no remedy; the table is too large for the machine, not a bug."""
    import fairkit.__main__ as cli

    def too_big(args):
        raise MemoryError("Unable to allocate 7.15 GiB for an array")

    monkeypatch.setattr(cli, "cmd_datasets", too_big)
    assert main(["datasets"]) == 2
    err = capsys.readouterr().err
    assert "ran out of memory" in err and "--sample" in err and "internal error" not in err
    # Each command's own advice (scale audit, session 46: export was told of --drift-n-boot).
    monkeypatch.setattr(cli, "cmd_audit", too_big)
    assert main(["audit", "list"]) == 2
    assert "--n-boot" not in capsys.readouterr().err


def test_runs_of_an_earlier_results_revision_whose_figures_differ_are_not_called_edited(tmp_path, capsys,
                                                                                        monkeypatch):
    """Upgrade audit, session 50: a 0.3.0 sweep of COMPAS exported under 0.3.1, whose split had
    changed, was refused as "edited" with "its stored runs are not retrained", both false. The
    refusal stands (its figures are not this fairkit's) and says why and what to do; runs of an
    earlier revision whose figures still agree export; the table edited is still called so."""
    from fairkit import store as store_mod
    from fairkit.store import ResultStore

    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    out = tmp_path / "sweep"
    with monkeypatch.context() as patch:  # a sweep of the revision before this one
        patch.setattr("fairkit.store.RESULTS_REVISION", store_mod.RESULTS_REVISION - 1)
        assert main(["sweep", "--dataset", "german", "--methods", "unconstrained", "--etas", "0", "--out", str(out),
                     "--no-png"]) == 0
    table = pd.read_csv(out / "results.csv")
    run = str(table["run_id"].iloc[0])
    assert list(ResultStore(out / "store").earlier_runs()) == [run]
    args = ["export", "--store", str(out), "--run", run, "--rationale", "r", "--decider", "Ada", "--n-boot", "50"]
    assert main([*args, "--out", str(tmp_path / "same.zip")]) == 0  # the same figures: nothing to refuse
    changed = table.copy()  # what the earlier revision computed on its own split
    changed["val_accuracy"] -= 0.02
    changed.to_csv(out / "results.csv", index=False)
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "old.zip")]) == 2
    err = capsys.readouterr().err
    assert "trained by an earlier fairkit" in err and "Run the sweep again with this fairkit" in err
    assert "it was edited" not in err and "not retrained" not in err and not (tmp_path / "old.zip").exists()
    assert main(["sweep", "--dataset", "german", "--methods", "unconstrained", "--etas", "0", "--out", str(out),
                 "--no-png"]) == 0  # trains it afresh; its export checks out
    said = " ".join(capsys.readouterr().out.split())
    # What changed since, not only "an earlier results revision" (upgrade audit L3, session 50).
    assert f"under earlier results revision {store_mod.RESULTS_REVISION - 1})" in said
    assert f"Changed since revision {store_mod.RESULTS_REVISION - 1}: {store_mod.REVISIONS[store_mod.RESULTS_REVISION]}" in said
    again = str(pd.read_csv(out / "results.csv")["run_id"].iloc[0])
    assert again != run
    assert main([*args[:4], again, *args[5:], "--out", str(tmp_path / "new.zip")]) == 0


def test_a_store_an_earlier_fairkit_wrote_is_explained_not_silently_passed_over(tmp_path, capsys, monkeypatch):
    """Upgrade audit, findings 3, 5 and 7: a sweep names the runs an earlier fairkit stored (never
    served, their files only take space) and says it replaced an earlier sweep's results; no
    frontier.png of an earlier sweep is left beside this one's; exporting the old run by its id
    names the run that trained the same setting again; an old sweep entry that does not say
    whether a sweep or a search made it is listed as such."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    out = tmp_path / "sweep"
    argv = ["sweep", "--dataset", "german", "--methods", "unconstrained", "--etas", "0", "--out", str(out), "--no-png"]
    assert main(argv) == 0
    runs = out / "store" / "runs"
    # What an earlier fairkit left: a record of its pickled format for the same setting, an image.
    envelope = {"format": "fairkit-run/2", "run_id": "0ld0ld0ld0ld0ld0ld0ld0ld", "model_sha256": "x",
                "record": {"method": "unconstrained", "eta": 0.0, "seed": 0}, "checksum": "x"}
    (runs / "0ld0ld0ld0ld0ld0ld0ld0ld.json").write_text(json.dumps(envelope))
    (out / "frontier.png").write_bytes(b"an earlier sweep's image")
    capsys.readouterr()
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "1 from the store" in printed and "Note: 1 run(s)" in printed and "earlier fairkit" in printed
    assert "replaced the results of an earlier sweep" in printed
    assert "and frontier.png, written again or removed" in printed  # it went without a word (session 48)
    assert not (out / "frontier.png").exists()
    now = pd.read_csv(out / "results.csv")["run_id"].iloc[0]
    assert main(["export", "--store", str(out), "--run", "0ld0ld0ld0ld0ld0ld0ld0ld", "--rationale", "r",
                 "--decider", "D", "--n-boot", "50", "--out", str(tmp_path / "b.zip")]) == 2
    err = capsys.readouterr().err
    assert "stored models as pickles" in err and f"trained again by a later sweep as run {now}" in err
    log = AuditLog()
    log.append("sweep", actor="old", subject="s", details={"dataset": "german"})
    assert main(["audit", "--kind", "sweep"]) == 0
    listed = [line for line in capsys.readouterr().out.splitlines() if " sweep " in line]
    assert len(listed) == 3  # this fairkit's two sweeps, and the old entry
    assert [("not recorded by the earlier fairkit" in line) for line in listed] == [False, False, True]
    # A bundle whose record an earlier results revision computed: score says so, and that its
    # drift check compares that record's intervals with this version's (upgrade audit, finding 6).
    with monkeypatch.context() as patch:
        patch.setattr("fairkit.export.RESULTS_REVISION", 6)
        assert main(["export", "--store", str(out), "--run", now, "--rationale", "r", "--decider", "D",
                     "--n-boot", "50", "--out", str(tmp_path / "b6.zip")]) == 0
    frame, _ = load_dataset("german")
    frame.sample(200, random_state=0).to_csv(tmp_path / "batch.csv", index=False)
    capsys.readouterr()
    assert main(["score", "--bundle", str(tmp_path / "b6.zip"), "--csv", str(tmp_path / "batch.csv"),
                 "--out", str(tmp_path / "scored.csv"), "--drift-n-boot", "50"]) == 0
    printed = capsys.readouterr().out
    assert "earlier fairkit (results revision 6" in printed and "false-alarm rate is approximate" in printed
    # --json keeps those notes, and the fairness keys are there when no check ran (a batch without
    # labels): a monitoring job reads them (upgrade audit L1, session 50).
    frame, spec = load_dataset("german")
    frame.drop(columns=[spec.target]).sample(50, random_state=1).to_csv(tmp_path / "unlabelled.csv", index=False)
    assert main(["score", "--bundle", str(tmp_path / "b6.zip"), "--csv", str(tmp_path / "unlabelled.csv"),
                 "--out", str(tmp_path / "scored2.csv"), "--json"]) == 0
    out = capsys.readouterr().out
    summary = json.loads(out[out.index("{"):])
    assert any("earlier fairkit (results revision 6" in n for n in summary["bundle_notes"])
    assert summary["fairness"] is None and summary["fairness_notes"] == [] and not summary["drift_checked"]


def test_an_interrupted_or_cut_sweep_table_is_never_read_as_the_sweep(tmp_path, capsys, monkeypatch):
    """Interruption audit, finding 1: results.csv is replaced whole (an interrupt while it is
    written leaves the earlier table), and export refuses a table that is cut short, damaged or
    lacks a method sweep.json says was trained, instead of writing a record from it."""
    import fairkit.store

    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    out = tmp_path / "sweep"
    argv = ["sweep", "--dataset", "german", "--methods", "unconstrained,regularized", "--etas", "0,2",
            "--out", str(out), "--no-png"]
    assert main(argv) == 0
    before = (out / "results.csv").read_bytes()
    real = fairkit.store.atomic_write_bytes

    def interrupted(path, data, **how):
        if Path(path).name == "results.csv":
            raise KeyboardInterrupt
        return real(path, data, **how)

    monkeypatch.setattr(fairkit.store, "atomic_write_bytes", interrupted)
    assert main(argv) == 130
    monkeypatch.setattr(fairkit.store, "atomic_write_bytes", real)
    assert (out / "results.csv").read_bytes() == before  # the earlier table, whole
    run = pd.read_csv(out / "results.csv")["run_id"].iloc[0]
    export = ["export", "--store", str(out), "--run", run, "--rationale", "r", "--decider", "D", "--n-boot", "50"]
    header = before.split(b"\n")[0] + b"\n"
    regularized_only = pd.read_csv(out / "results.csv").query("method == 'regularized'").to_csv(index=False).encode()
    for damaged, message in ((header, "has no runs"), (b"\x00\xff\xfe garbage", "cannot be read as the sweep's results"),
                             (b"", "cannot be read as the sweep's results"),
                             (regularized_only, "no run of unconstrained, which sweep.json says it trained")):
        (out / "results.csv").write_bytes(damaged)
        assert main([*export, "--out", str(tmp_path / "b.zip")]) == 2
        err = capsys.readouterr().err
        assert message in err and "Run the sweep again" in err
        assert not (tmp_path / "b.zip").exists()


def test_a_full_disk_is_a_message_not_an_internal_error(tmp_path, capsys, monkeypatch):
    """Interruption audit, finding 2: no space (or a read-only folder) while a sweep writes is
    exit 2 with the file and what to do, not "internal error"."""
    import errno

    import fairkit.plots

    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))

    def full(fig, path, **kw):
        raise OSError(errno.ENOSPC, "No space left on device", str(path) + ".html")

    monkeypatch.setattr(fairkit.plots, "save_figure", full)
    assert main(["sweep", "--dataset", "german", "--methods", "unconstrained", "--etas", "0",
                 "--out", str(tmp_path / "s"), "--no-png"]) == 2
    err = capsys.readouterr().err
    assert "could not write" in err and "frontier.html (No space left on device)" in err
    assert "internal error" not in err and "keeps every run it finished" in err


def test_an_earlier_batchs_report_never_stays_beside_new_scores(sweep_dir, tmp_path, capsys, monkeypatch):
    """Interruption audit, finding 6: scoring a batch with no fairness check (no labels) to the
    --out of an earlier checked batch removes that batch's report."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    run = pd.read_csv(sweep_dir / "results.csv")["run_id"].iloc[0]
    bundle = tmp_path / "b.zip"
    assert main(["export", "--store", str(sweep_dir), "--run", run, "--rationale", "r", "--decider", "D",
                 "--n-boot", "50", "--out", str(bundle)]) == 0
    frame, spec = load_dataset("german")
    frame.sample(300, random_state=2).to_csv(tmp_path / "labelled.csv", index=False)
    frame.sample(50, random_state=3).drop(columns=[spec.target]).to_csv(tmp_path / "unlabelled.csv", index=False)
    out = tmp_path / "scored.csv"
    score = ["score", "--bundle", str(bundle), "--out", str(out), "--drift-n-boot", "50", "--csv"]
    assert main([*score, str(tmp_path / "labelled.csv")]) == 0
    assert out.with_suffix(".fairness.json").exists()
    assert main([*score, str(tmp_path / "unlabelled.csv")]) == 0
    assert len(pd.read_csv(out)) == 50 and not out.with_suffix(".fairness.json").exists()
    assert "No fairness check" in capsys.readouterr().out


def test_an_export_interrupted_before_it_is_logged_leaves_no_bundle(sweep_dir, tmp_path, monkeypatch):
    """Interruption audit, finding 5: the bundle is renamed into place only once the audit log
    holds its export entry, so an interrupt (or a log that refuses the entry) leaves no scorable
    bundle that Review would never list, and no temporary file either."""
    import fairkit.audit

    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    run = pd.read_csv(sweep_dir / "results.csv")["run_id"].iloc[0]
    out = tmp_path / "out" / "b.zip"
    out.parent.mkdir()
    seen = {}

    def interrupted(log, **kw):
        seen["exists_while_logging"] = Path(kw["bundle_path"]).exists()
        raise KeyboardInterrupt

    monkeypatch.setattr(fairkit.audit, "record_export", interrupted)
    argv = ["export", "--store", str(sweep_dir), "--run", run, "--rationale", "r", "--decider", "D",
            "--n-boot", "50", "--out", str(out)]
    assert main(argv) == 130
    assert seen == {"exists_while_logging": False} and list(out.parent.iterdir()) == []
    monkeypatch.undo()
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    assert main(argv) == 0
    (entry,) = export_entries(AuditLog())
    assert entry["bundle"] == str(out.resolve()) and entry["subject"] == load_bundle(out).manifest_sha256


def test_sigterm_is_handled_as_ctrl_c_with_the_commands_own_words(tmp_path):
    """Interruption audit, findings 10 and 12: SIGTERM (a service manager's stop) ends a command
    with its message and status 143, not silently; each command says what it left."""
    import signal
    import time

    env = {**os.environ, "FAIRKIT_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen([sys.executable, "-m", "fairkit", "sweep", "--dataset", "adult", "--methods",
                             "adversarial", "--n-etas", "8", "--no-adaptive", "--out", str(tmp_path / "s"), "--no-png"],
                            cwd=Path(__file__).resolve().parents[1], env=env, stderr=subprocess.PIPE, text=True)
    # The command has opened its audit log (after its imports and arguments): then it trains
    # (8 adversarial networks on Adult take minutes).
    deadline = time.monotonic() + 120
    while not (tmp_path / "home" / "audit.sqlite").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 143, err[-2000:]
    assert "Interrupted: the runs it finished are kept in its store" in err and "Traceback" not in err


@pytest.mark.parametrize("how", ["module", "console script"])
def test_ctrl_c_while_the_command_line_imports_is_said_not_a_traceback(tmp_path, how):
    """Search audit, session 48: Ctrl-C in the first second (numpy and pandas importing, before
    main() runs) printed a traceback of import internals. A stand-in pandas that is interrupted
    as it imports makes that second deterministic."""
    fake = tmp_path / "interrupted" / "pandas"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise KeyboardInterrupt\n")
    env = {**os.environ, "FAIRKIT_HOME": str(tmp_path / "home"),
           "PYTHONPATH": os.pathsep.join([str(fake.parent), str(ROOT)])}
    start = (["-m", "fairkit"] if how == "module"
             else ["-c", "import sys; from fairkit.__main__ import main; sys.exit(main())"])  # the `fairkit` script
    done = subprocess.run([sys.executable, *start, "datasets"], capture_output=True, text=True, env=env,
                          cwd=tmp_path)
    assert done.returncode == 130, done.stderr[-2000:]
    assert done.stderr.strip() == "Interrupted." and "Traceback" not in done.stderr


def test_stored_runs_that_fail_their_checks_are_retrained_and_named(tmp_path, capsys, monkeypatch):
    """Interruption audit, finding 13: a damaged or edited stored run was retrained without a
    word ("2 runs (1 from the store)"), though it may be tampering."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    out = tmp_path / "sweep"
    argv = ["sweep", "--dataset", "german", "--methods", "unconstrained,regularized", "--etas", "0",
            "--out", str(out), "--no-png"]
    assert main(argv) == 0
    runs = pd.read_csv(out / "results.csv")["run_id"].tolist()
    record = out / "store" / "runs" / f"{runs[0]}.json"
    record.write_text(record.read_text()[:200])  # cut short
    capsys.readouterr()
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "2 runs (1 from the store)" in printed
    assert "Note: 1 stored run(s) failed the store's checks and were trained again" in printed
    assert f"{runs[0]}: its record" in printed


def test_a_reader_that_goes_away_does_not_stop_the_score_or_its_audit_entry(exported, tmp_path):
    """``fairkit score ... | head -1`` ended as an "internal error: BrokenPipeError", exit 1, with
    the scores written but no audit entry (docs audit): the command now finishes, quietly."""
    from fairkit.audit import AuditLog

    bundle, rows, _ = exported
    scored, log = tmp_path / "scored.csv", tmp_path / "log.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "fairkit", "score", "--bundle", str(bundle), "--csv", str(rows),
                             "--out", str(scored), "--audit", str(log)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT, env=_env(tmp_path))
    proc.stdout.close()  # the reader is gone before the first line
    err = proc.stderr.read().decode()
    assert proc.wait() == 0, err
    assert "internal error" not in err and "BrokenPipe" not in err
    assert scored.is_file()
    assert list(AuditLog(log).entries(kind="score").kind) == ["score"]


def test_a_sweep_of_a_rare_outcome_says_why_no_model_reached_the_frontier(tmp_path, capsys, monkeypatch):
    """Every model constant at 0.5 on a 2% outcome; the advice was to check the positive label."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(1)
    n = 3000
    x = rng.normal(size=n)
    frame = pd.DataFrame({"sex": rng.choice(["F", "M"], n), "x": x,
                          "y": np.where(rng.random(n) < 1 / (1 + np.exp(-(2 * x - 5.5))), "pos", "neg")})
    frame.to_csv(tmp_path / "rare.csv", index=False)
    assert main(["sweep", "--csv", str(tmp_path / "rare.csv"), "--target", "y", "--positive", "pos",
                 "--sensitive", "sex", "--methods", "unconstrained", "--no-png", "--out", str(tmp_path / "out")]) == 0
    said = capsys.readouterr()
    assert "rare_outcome" not in said.err and "of the rows have the positive outcome" in said.err
    assert "No model reached the frontier" in said.out and "--threshold" in said.out
    assert "Check the target's positive label" not in said.out
    # Judged on balanced accuracy, as the dashboard starts on such data (the command line judged
    # accuracy: one-implementation audit, session 53), and said.
    assert json.loads((tmp_path / "out" / "sweep.json").read_text())["performance"] == "balanced_accuracy"
    assert "so the frontier is judged on balanced accuracy (give --performance accuracy" in said.out


@pytest.mark.parametrize("argv, said", [
    # CLI audit, session 44: a name that is no column left nothing out (the record said it had).
    (["validate", "--dataset", "german", "--exclude", "Age,personal-status"],
     "The column to leave out 'Age' is not in the table. Did you mean 'age'?"),
    # ... a repeated option kept its last value only ('age' stayed in the model).
    (["validate", "--dataset", "german", "--exclude", "age", "--exclude", "personal_status"],
     "--exclude given more than once"),
    # ... an abbreviation was read as another option (--threshold as --threshold-rows).
    (["sweep", "--dataset", "german", "--threshold", "0.3", "--out", "x"], "unrecognized arguments: --threshold"),
    (["sweep", "--dataset", "german", "--etas", "", "--out", "x"], "the list is empty; give numbers separated by commas"),
    # ... an empty value (an unset shell variable) turned a check off.
    (["score", "--trust", "", "--bundle", "b.zip", "--csv", "c.csv", "--out", "o.csv"], "--trust: is empty"),
    (["score", "--expected-manifest-sha256", "", "--bundle", "b.zip", "--csv", "c.csv", "--out", "o.csv"],
     "is not a SHA-256 hash"),
    (["export", "--store", "s", "--run", "r", "--rationale", "r", "--decider", "d", "--out", "o.zip",
      "--sign-key", " "], "--sign-key: is empty"),
])
def test_arguments_that_were_misread_or_ignored_are_refused(argv, said, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert said in capsys.readouterr().err


def test_a_trust_key_variable_set_but_empty_refuses_instead_of_checking_nothing(tmp_path, monkeypatch, capsys):
    """CLI audit, session 44: FAIRKIT_TRUST_KEY="" scored an unsigned bundle with exit 0."""
    from fairkit.keys import KeyFileError, resolve_public

    monkeypatch.setenv("FAIRKIT_TRUST_KEY", "")
    with pytest.raises(KeyFileError, match=r"\$FAIRKIT_TRUST_KEY is set but empty"):
        resolve_public()
    monkeypatch.delenv("FAIRKIT_TRUST_KEY")
    assert resolve_public() is None


def test_the_approved_hash_in_capitals_is_the_same_hash(sweep_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    table = pd.read_csv(sweep_dir / "results.csv")
    bundle = tmp_path / "m.zip"
    assert main(["export", "--store", str(sweep_dir), "--run", str(table["run_id"].iloc[0]), "--rationale", "r",
                 "--decider", "d", "--out", str(bundle)]) == 0
    digest = re.search(r"manifest SHA-256 ([0-9a-f]{64})", capsys.readouterr().out).group(1)
    rows = tmp_path / "rows.csv"
    load_dataset("german")[0].head(50).to_csv(rows, index=False)
    assert main(["score", "--bundle", str(bundle), "--csv", str(rows), "--out", str(tmp_path / "s.csv"),
                 "--expected-manifest-sha256", f"sha256:{digest.upper()} "]) == 0


def test_score_of_labels_spelled_otherwise_is_not_a_passed_drift_check(exported, tmp_path, capsys, monkeypatch):
    """CLI audit, session 44: the same rows with their labels written GOOD/BAD (or 1/0) read as all
    negative: "accuracy 0.225 ... 0 of 4 fairness gaps differ", exit 0 under --fail-on-drift. No
    row has the positive label: the batch is not compared, says why, and --fail-on-drift fails."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    bundle, _, frame = exported
    rows, scored = tmp_path / "rows.csv", tmp_path / "scored.csv"
    frame.head(200).assign(credit=frame["credit"].head(200).str.upper()).to_csv(rows, index=False)
    args = ["score", "--bundle", str(bundle), "--csv", str(rows), "--out", str(scored)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "No fairness check: credit spells a training label otherwise: 'GOOD' (" in out
    assert "differs from 'good'" in out and "differs from 'bad'" in out
    # Which log it went to (each working folder has its own without FAIRKIT_HOME).
    assert f"Logged as audit entry 1 in {tmp_path / 'home' / 'audit.sqlite'}; the log's head is now 1:" in out
    assert "accuracy" not in out
    assert main([*args, "--fail-on-drift"]) == 2
    assert "--fail-on-drift asks for one" in capsys.readouterr().err
    # A batch of one outcome only (no one positive this time) is compared as before.
    frame[frame["credit"] == "bad"].head(100).to_csv(rows, index=False)
    assert main([*args, "--fail-on-drift"]) in (0, 4)
    assert "New batch: 100 labelled rows" in capsys.readouterr().out


def test_a_sweep_into_a_folder_of_the_users_own_files_is_refused(tmp_path, capsys, monkeypatch):
    """CLI audit, session 44: `sweep --out q3_report` replaced the user's own results.csv and
    sweep.json, deleted frontier.png, and called them "an earlier sweep". A folder an earlier
    sweep wrote is still written over."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    report = tmp_path / "q3_report"
    report.mkdir()
    (report / "results.csv").write_text("quarter,revenue\nQ3,100\n")
    (report / "frontier.png").write_bytes(b"\x89PNG mine")
    argv = ["sweep", "--dataset", "german", "--methods", "unconstrained", "--etas", "0", "--no-png"]
    assert main([*argv, "--out", str(report)]) == 2
    assert "holds results.csv, which no fairkit sweep wrote" in capsys.readouterr().err
    assert (report / "results.csv").read_text() == "quarter,revenue\nQ3,100\n"
    assert (report / "frontier.png").read_bytes() == b"\x89PNG mine"
    ours = tmp_path / "ours"
    assert main([*argv, "--out", str(ours)]) == 0
    assert main([*argv, "--out", str(ours)]) == 0
    assert "replaced the results of an earlier sweep" in capsys.readouterr().out


def test_a_threshold_is_refused_for_a_model_whose_scores_are_its_decisions(tmp_path, capsys, monkeypatch):
    """CLI audit, session 44: `export --threshold 0.3` (or 0.9) of a group-threshold model wrote a
    record stating that threshold beside decisions it did not change (scores 0 or 1)."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    out = tmp_path / "sweep"
    assert main(["sweep", "--dataset", "german", "--methods", "threshold", "--etas", "0.1", "--no-png",
                 "--out", str(out)]) == 0
    run = pd.read_csv(out / "results.csv").run_id.iloc[0]
    args = ["export", "--store", str(out), "--run", run, "--rationale", "r", "--decider", "d", "--n-boot", "50"]
    capsys.readouterr()
    assert main([*args, "--threshold", "0.3", "--out", str(tmp_path / "b.zip")]) == 2
    assert "scores are its decisions" in capsys.readouterr().err and not (tmp_path / "b.zip").exists()
    assert main([*args, "--out", str(tmp_path / "b.zip")]) == 0


def test_a_run_of_another_sweep_in_a_shared_store_is_not_exported_from_this_one(tmp_path, capsys, monkeypatch):
    """CLI audit, session 44: two sweeps of German on split seeds 0 and 1 shared --store; exporting
    split 1's run from split 0's folder signed test figures on rows it was trained on (0.790 for
    its own 0.765)."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    shared = tmp_path / "shared"
    base = ["sweep", "--dataset", "german", "--methods", "unconstrained", "--etas", "0", "--no-png",
            "--store", str(shared)]
    assert main([*base, "--split-seed", "0", "--out", str(tmp_path / "s0")]) == 0
    assert main([*base, "--split-seed", "1", "--out", str(tmp_path / "s1")]) == 0
    other = pd.read_csv(tmp_path / "s1" / "results.csv").run_id.iloc[0]
    capsys.readouterr()
    assert main(["export", "--store", str(tmp_path / "s0"), "--run", other, "--rationale", "r", "--decider", "d",
                 "--out", str(tmp_path / "b.zip")]) == 2
    assert "is not one of this sweep's runs" in capsys.readouterr().err
    assert main(["export", "--store", str(tmp_path / "s1"), "--run", other, "--rationale", "r", "--decider", "d",
                 "--out", str(tmp_path / "b.zip")]) == 0


def test_score_refuses_a_batch_with_its_own_score_column_or_a_name_twice(exported, tmp_path, capsys, monkeypatch):
    """CLI audit, session 44: a batch with its own `score` (a bureau's) came back with two `score`
    columns (CSV) or with it overwritten (Parquet); a header naming credit_amount twice was scored
    from its first copy, without a word."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    bundle, _, frame = exported
    rows = frame.head(30)
    for name, table in (("own.csv", rows.assign(score=712)), ("own.parquet", rows.assign(score=712))):
        path = tmp_path / name
        table.to_parquet(path) if name.endswith(".parquet") else table.to_csv(path, index=False)
        assert main(["score", "--bundle", str(bundle), "--csv", str(path), "--out", str(tmp_path / f"s-{name}")]) == 2
        assert "already has a column named score" in capsys.readouterr().err
    twice = tmp_path / "twice.csv"
    lines = rows.to_csv(index=False).splitlines()
    twice.write_text("\n".join([lines[0] + ",credit_amount", *(line + ",1" for line in lines[1:])]) + "\n")
    assert main(["score", "--bundle", str(bundle), "--csv", str(twice), "--out", str(tmp_path / "s.csv")]) == 2
    assert "names the column(s) credit_amount more than once" in capsys.readouterr().err


def test_a_model_of_an_outcome_named_decision_scores_labelled_batches_with_its_columns_named(tmp_path, capsys,
                                                                                              monkeypatch):
    """New-user audit, session 52: a model of an outcome column named `decision` could not score a
    labelled batch (the scored copy adds `decision`), and renaming the labels, as the message
    advised, turned the fairness check off. The added columns can be named."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    frame, spec = load_dataset("german")
    table = frame.rename(columns={spec.target: "decision"})
    data = tmp_path / "loans.csv"
    table.to_csv(data, index=False)
    assert main(["sweep", "--csv", str(data), "--target", "decision", "--positive", "good", "--sensitive", "sex",
                 "--methods", "unconstrained", "--etas", "0", "--no-png", "--out", str(tmp_path / "s")]) == 0
    run = pd.read_csv(tmp_path / "s" / "results.csv").run_id.iloc[0]
    assert main(["export", "--store", str(tmp_path / "s"), "--run", run, "--rationale", "r", "--decider", "d",
                 "--n-boot", "50", "--out", str(tmp_path / "b.zip")]) == 0
    batch = tmp_path / "batch.csv"
    table.sample(300, random_state=1).to_csv(batch, index=False)
    capsys.readouterr()
    score = ["score", "--bundle", str(tmp_path / "b.zip"), "--csv", str(batch), "--out", str(tmp_path / "o.csv")]
    assert main(score) == 2
    err = capsys.readouterr().err
    assert "already has a column named decision" in err and "read as the batch's labels" in err
    assert "--decision-column" in err and "rename the batch's" not in err and not (tmp_path / "o.csv").exists()
    assert main([*score, "--decision-column", "model_decision", "--score-column", "p_good"]) == 0
    assert "No fairness check" not in capsys.readouterr().out
    out = pd.read_csv(tmp_path / "o.csv")
    assert list(out.columns[-2:]) == ["p_good", "model_decision"]
    assert (out["decision"] == table.sample(300, random_state=1)["decision"].to_numpy()).all()  # the labels, kept
    assert set(out["model_decision"]) <= {0, 1} and out["p_good"].between(0, 1).all()
    assert (tmp_path / "o.fairness.json").exists()
    # Two added columns need two names; a name a CSV cannot carry as written is refused.
    assert main([*score, "--decision-column", "x", "--score-column", "x"]) == 2
    assert "both name 'x'" in capsys.readouterr().err
    for bad in ("a,b", "=HYPERLINK(x)"):
        assert main([*score, "--decision-column", bad]) == 2
        assert "is not a column name" in capsys.readouterr().err


def test_outputs_keep_the_mode_of_the_file_they_replace_or_the_umask(exported, sweep_dir, tmp_path, monkeypatch):
    """CLI audit, session 44: every output was written 0600 (the atomic write's private temporary
    file), a team's 0644 scored.csv included: the job that reads it lost access."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    bundle, rows, _ = exported
    old = os.umask(0o022)
    try:
        shared = tmp_path / "scored.csv"
        shared.write_text("old")
        shared.chmod(0o664)
        assert main(["score", "--bundle", str(bundle), "--csv", str(rows), "--out", str(shared)]) == 0
        assert shared.stat().st_mode & 0o777 == 0o664
        fresh = tmp_path / "fresh.csv"
        assert main(["score", "--bundle", str(bundle), "--csv", str(rows), "--out", str(fresh)]) == 0
        assert fresh.stat().st_mode & 0o777 == 0o644
        assert fresh.with_suffix(".fairness.json").stat().st_mode & 0o777 == 0o644
        model = tmp_path / "model.zip"
        assert main(["export", "--store", str(sweep_dir), "--run", str(pd.read_csv(sweep_dir / "results.csv").run_id.iloc[0]),
                     "--rationale", "r", "--decider", "d", "--out", str(model)]) == 0
        assert model.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)


def test_output_a_stream_cannot_encode_is_escaped_not_an_internal_error(tmp_path):
    """CLI audit, session 44: with output in cp1252 (Windows' for redirected output) or ASCII, a
    Cyrillic column name in a message ended the command as "internal error: UnicodeEncodeError";
    a closed stdout as "internal error: AttributeError"."""
    table = tmp_path / "t.csv"
    table.write_text("x,Пол,y\n" + "".join(f"{i},{'FM'[i % 2]},{i // 2 % 2}\n" for i in range(80)), encoding="utf-8")
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "FAIRKIT_HOME": str(tmp_path / "home"),
           "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run([sys.executable, "-m", "fairkit", "validate", "--csv", str(table), "--target", "y",
                           "--positive", "1", "--sensitive", "Пол"], capture_output=True, env=env, timeout=120)
    assert done.returncode == 0 and b"internal error" not in done.stderr
    assert "sensitive \\u041f\\u043e\\u043b." in done.stdout.decode("ascii")
    closed = subprocess.run([sys.executable, "-m", "fairkit", "datasets"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env, timeout=120, preexec_fn=lambda: os.close(1))
    assert closed.returncode == 0 and b"internal error" not in closed.stderr


def test_verify_fails_for_a_bundle_whose_export_a_restored_log_lacks(sweep_dir, tmp_path, capsys, monkeypatch):
    """CLI audit, session 44: the log restored from a backup made before tuesday.zip's export:
    `audit verify --bundle tuesday.zip` passed, since the head the bundle records was taken before
    its own export entry. The bundle's export must be in the log too."""
    import sqlite3

    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    table = pd.read_csv(sweep_dir / "results.csv")
    args = ["export", "--store", str(sweep_dir), "--rationale", "r", "--decider", "d"]
    assert main([*args, "--run", str(table.run_id.iloc[0]), "--out", str(tmp_path / "monday.zip")]) == 0
    log_file = tmp_path / "home" / "audit.sqlite"
    with sqlite3.connect(log_file) as live, sqlite3.connect(tmp_path / "backup.sqlite") as copy:
        live.backup(copy)
    assert main([*args, "--run", str(table.run_id.iloc[-1]), "--out", str(tmp_path / "tuesday.zip")]) == 0
    assert main(["audit", "verify", "--bundle", str(tmp_path / "tuesday.zip")]) == 0
    with sqlite3.connect(tmp_path / "backup.sqlite") as copy, sqlite3.connect(log_file) as live:
        copy.backup(live)  # the backup restored over the live log
    capsys.readouterr()
    assert main(["audit", "verify", "--bundle", str(tmp_path / "monday.zip")]) == 0
    assert main(["audit", "verify", "--bundle", str(tmp_path / "tuesday.zip")]) == 1
    assert "tuesday.zip: its export is not in the log" in capsys.readouterr().err


def test_a_moved_sweep_folder_exports_from_its_own_store(sweep_dir, tmp_path, capsys, monkeypatch):
    """CLI audit, session 44: sweep.json names its store by full path: after `mv` every run was
    "not in the store", blaming the run."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    meta = json.loads((sweep_dir / "sweep.json").read_text())
    assert Path(meta["store"]).resolve() == (sweep_dir / "store").resolve()  # the sweep's own store
    moved = tmp_path / "loans-2026-q3"
    shutil.copytree(sweep_dir, moved)
    meta["store"] = str(tmp_path / "gone" / "store")  # where the folder was
    (moved / "sweep.json").write_text(json.dumps(meta))
    run = pd.read_csv(moved / "results.csv").run_id.iloc[0]
    args = ["export", "--store", str(moved), "--run", run, "--rationale", "r", "--decider", "d"]
    assert main([*args, "--out", str(tmp_path / "b.zip")]) == 0
    shutil.rmtree(moved / "store")
    assert main([*args, "--out", str(tmp_path / "c.zip")]) == 2
    assert "results store" in capsys.readouterr().err
    # Upgrade audit, session 48: a copy, the original still in place, read the original's store.
    original, copy = tmp_path / "original", tmp_path / "copy"
    shutil.copytree(sweep_dir, original)
    (original / "sweep.json").write_text(json.dumps({**meta, "store": str(original / "store")}))
    shutil.copytree(original, copy)
    shutil.rmtree(original / "store" / "runs")  # the original's runs gone: the copy has its own
    args[2] = str(copy)
    assert main([*args, "--out", str(tmp_path / "d.zip")]) == 0, capsys.readouterr().err


def test_a_mistyped_target_and_an_out_that_names_no_file_are_told(tmp_path, capsys, monkeypatch):
    """CLI audit, session 44: `--target Credit` said only that it was not in the table;
    `--out models/` wrote a file named models, `--out -` one named -."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "--dataset", "german", "--target", "Credit"]) == 2
    assert "Did you mean 'credit'?" in capsys.readouterr().err
    for out in ("models/", "-"):
        assert main(["export", "--store", "s", "--run", "r", "--rationale", "r", "--decider", "d",
                     "--out", out]) == 2
        assert "names a folder or standard output, not a file" in capsys.readouterr().err
    assert not (tmp_path / "models").exists() and not (tmp_path / "-").exists()


def test_json_says_why_a_command_was_refused(tmp_path, capsys, monkeypatch):
    """CLI audit, session 44: under --json a refused command printed nothing on stdout, so a
    script's `jq` read an empty document."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    assert main(["sweep", "--dataset", "german", "--target", "Credit", "--json", "--out", str(tmp_path / "s")]) == 2
    said = json.loads(capsys.readouterr().out)
    assert said["exit_status"] == 2 and said["command"] == "sweep" and "errors" in said["error"]


def test_json_says_why_the_arguments_were_refused(tmp_path, capsys, monkeypatch):
    """Session 44's left-out: argparse refuses before the command is known, so a misspelt option
    under --json still printed no document. Commands without --json print none."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    assert main(["score", "--json", "--bundel", "b.zip"]) == 2
    said = json.loads(capsys.readouterr().out)
    assert said["exit_status"] == 2 and said["command"] == "score" and "--bundle" in said["error"]
    assert main(["sweep", "--dataset", "german", "--out", str(tmp_path / "s"), "--json", "--etas", "x"]) == 2
    said = json.loads(capsys.readouterr().out)
    assert said["command"] == "sweep" and "--etas" in said["error"]
    assert main(["export", "--json"]) == 2
    assert capsys.readouterr().out == ""
    assert main(["sweep", "--dataset", "german", "--etas", "x", "--out", str(tmp_path / "s")]) == 2
    assert capsys.readouterr().out == ""


def test_a_column_name_holding_a_comma_is_given_in_double_quotes(tmp_path, monkeypatch, capsys):
    """CLI audit, session 44: --sensitive and --exclude split on every comma, so a column named
    'sex, as recorded' (a survey export's header) could not be named at all."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    frame, _ = load_dataset("german")
    frame.rename(columns={"sex": "sex, as recorded", "housing": "housing, own"}).to_csv(tmp_path / "c.csv", index=False)
    base = ["validate", "--csv", str(tmp_path / "c.csv"), "--target", "credit", "--positive", "good"]
    assert main([*base, "--sensitive", '"sex, as recorded"', "--exclude", '"housing, own", age']) == 0
    said = capsys.readouterr()
    assert "sex, as recorded" in said.out and "not in the table" not in said.err
    assert main([*base, "--sensitive", "sex, as recorded"]) == 2
    err = capsys.readouterr().err
    assert "The sensitive column 'as recorded' is not in the table" in err
    assert """put such a name in double quotes within the list""" in err
    assert main([*base, "--sensitive", '"sex, as recorded']) == 2
    assert "cannot be read as a comma-separated list" in capsys.readouterr().err


def test_a_results_table_with_runs_removed_is_refused(tmp_path, capsys, monkeypatch):
    """Session 43's left-out: a row deleted from results.csv hid from the signed frontier a run
    that beat the chosen one, and nothing could tell (every remaining row's figures were right).
    The sweep's audit entry keeps a digest of its run ids; export compares the table with it."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    folder = tmp_path / "s"
    assert main(["sweep", "--dataset", "german", "--methods", "unconstrained,regularized", "--etas", "0,2",
                 "--no-png", "--out", str(folder)]) == 0
    meta = json.loads((folder / "sweep.json").read_text())
    (entry,) = AuditLog().entries(kind="sweep").itertuples()
    assert meta["audit_entry"] == entry.id and entry.details["runs_listed"] == 3
    table = pd.read_csv(folder / "results.csv")
    run = str(table["run_id"].iloc[0])
    args = ["export", "--store", str(folder), "--run", run, "--rationale", "r", "--decider", "Ada", "--n-boot", "50"]
    assert main([*args, "--out", str(tmp_path / "a.zip")]) == 0
    capsys.readouterr()
    table.iloc[:-1].to_csv(folder / "results.csv", index=False)  # the last run removed
    assert main([*args, "--out", str(tmp_path / "b.zip")]) == 2
    err = capsys.readouterr().err
    assert f"it lists 2 run(s), not the 3 the sweep logged as audit entry #{entry.id}" in err
    assert not (tmp_path / "b.zip").exists()
    # Checked against the log it was logged in: another log says so and goes on.
    assert main([*args, "--audit", str(tmp_path / "other.sqlite"), "--out", str(tmp_path / "c.zip")]) == 0
    assert "its results.csv was not checked against the runs it logged" in capsys.readouterr().out
    table.to_csv(folder / "results.csv", index=False)  # put back: it exports again
    assert main([*args, "--out", str(tmp_path / "d.zip")]) == 0
    assert "WARNING" not in capsys.readouterr().err
    # The entry taken out of sweep.json skipped the check (session 45's review): the log's own
    # sweeps of this data still tell, in a warning (an earlier fairkit wrote no entry there).
    meta.pop("audit_entry")
    (folder / "sweep.json").write_text(json.dumps(meta))
    assert main([*args, "--out", str(tmp_path / "e.zip")]) == 0
    assert "WARNING" not in capsys.readouterr().err
    table.iloc[:-1].to_csv(folder / "results.csv", index=False)
    assert main([*args, "--out", str(tmp_path / "f.zip")]) == 0
    assert "names no audit entry, and the 2 run(s) of its results.csv are those of none of the 1 sweep(s)" in (
        capsys.readouterr().err)


def test_labels_the_model_was_not_trained_on_are_not_read_as_negative_outcomes(exported, tmp_path, capsys,
                                                                                monkeypatch):
    """Lifecycle audit, session 45: a month's rows labelled 'pending' (or 'unknown') were read as bad
    outcomes: accuracy 0.600 for 0.743 and a DP gap of 0.186 for 0.036; a month all 'pending'
    printed "accuracy 0.150 ... 0 of 12 gaps differ" and passed --fail-on-drift. The bundle records
    the training's labels; any other value is read as not labelled yet, and said."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    bundle, _, frame = exported
    assert sorted(load_bundle(bundle).target_values) == ["bad", "good"]
    rows, scored = tmp_path / "rows.csv", tmp_path / "scored.csv"
    batch = frame.head(200).copy()
    batch.loc[batch.index[:30], "credit"] = "pending"
    batch.to_csv(rows, index=False)
    args = ["score", "--bundle", str(bundle), "--csv", str(rows), "--out", str(scored), "--json"]
    assert main(args) in (0, 4)
    out = json.loads(capsys.readouterr().out)
    assert out["unread_labels"] == {"pending": 30}
    # What the bundle predicts, and its signature as fields (they were a Python repr string).
    assert out["predicts"]["target"] == "credit" and out["predicts"]["positive_label"] == "good"
    assert out["signature_status"]["state"] == "unsigned" and "unsigned" in out["signature_status"]["text"]
    assert out["fairness"].startswith("New batch: 170 labelled rows (30 more with a value the model was not trained on")
    # The accuracy is the labelled rows' own, computed here from the scores written.
    written = pd.read_csv(scored).iloc[30:]
    truth = (written["credit"] == "good").astype(int)
    accuracy = float((written["decision"] == truth).mean())
    assert f"accuracy {accuracy:.3f}" in out["fairness"]
    report = json.loads((tmp_path / "scored.fairness.json").read_text())
    assert report["unread_labels"] == {"pending": 30} and report["overall"]["accuracy"] == pytest.approx(accuracy)
    # 'Good' beside 'good' is a misspelling: leaving those rows out would bias the rest, so the
    # batch is not compared, and --fail-on-drift fails (it read 20 positives as negatives).
    batch = frame.head(200).copy()
    batch.loc[batch.index[:20], "credit"] = batch["credit"].head(20).str.capitalize()
    batch.to_csv(rows, index=False)
    assert main([*args, "--fail-on-drift"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert "credit spells a training label otherwise: 'Good' (" in out["error"] and "differs from 'good'" in out["error"]
    # A month of 'pending' only is a month with no outcomes yet: not compared, said, not a failure.
    frame.head(60).assign(credit="pending").to_csv(rows, index=False)
    assert main([*args, "--fail-on-drift"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert not out["drift_checked"] and out["unread_labels"] == {"pending": 60}
    # A bundle exported before bundles recorded their labels: read as before, and said.
    from fairkit.export import ModelBundle

    monkeypatch.setattr(ModelBundle, "target_values", property(lambda self: None))
    batch.to_csv(rows, index=False)
    assert main(args[:-1]) in (0, 4)
    assert "does not record the labels it was trained on" in capsys.readouterr().out


def test_what_the_model_never_saw_is_named_and_left_out_of_the_drift_check(exported, tmp_path, capsys,
                                                                             monkeypatch):
    """Lifecycle audit, session 45: an unknown purpose, housing in capitals, telephone written
    yes/no and an amount blank in every row changed decisions without a word (F3); a sex 'diverse'
    or blank formed groups of their own in the batch's gaps, compared with a record that had
    female and male only (DP 1.0 from a one-row cell; F11). Each is named, kept in --json and the
    audit entry, and the drift check compares the record's groups only."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    bundle, _, frame = exported
    batch = frame.sample(200, random_state=4).reset_index(drop=True)
    batch.loc[:4, "purpose"] = "crypto mining"
    batch["housing"] = batch["housing"].str.upper()
    batch["credit_amount"] = np.nan
    batch["telephone"] = np.where(batch["telephone"], "yes", "no")
    batch.loc[5:11, "sex"] = "diverse"
    rows, scored = tmp_path / "rows.csv", tmp_path / "scored.csv"
    batch.to_csv(rows, index=False)
    assert main(["score", "--bundle", str(bundle), "--csv", str(rows), "--out", str(scored), "--json"]) in (0, 4)
    said = capsys.readouterr()
    out = json.loads(said.out)
    changes = " | ".join(out["input_changes"])
    assert "column purpose holds value(s) the model never saw in training: 'crypto mining' (5 rows)" in changes
    assert "column housing holds value(s) the model never saw" in changes and "'OWN' is 'own'" in changes
    assert "column telephone holds value(s) the model never saw" in changes
    assert "column credit_amount is blank in every row" in changes
    assert "sensitive column sex holds value(s) outside the groups" in changes and "'diverse' (7 rows)" in changes
    assert all(f"WARNING: {c}." in said.err for c in out["input_changes"])
    assert "(7 more of groups the record does not have, left out)" in out["fairness"]
    report = json.loads((tmp_path / "scored.fairness.json").read_text())
    assert {g["group"] for g in report["by_group"] if g["attribute"] == "sex"} == {"female", "male"}
    (entry,) = AuditLog().entries(kind="score").itertuples()
    assert entry.details["input_changes"] == out["input_changes"]
    # The batch as training saw it: nothing to say.
    frame.sample(200, random_state=4).to_csv(rows, index=False)
    assert main(["score", "--bundle", str(bundle), "--csv", str(rows), "--out", str(scored), "--json"]) in (0, 4)
    assert json.loads(capsys.readouterr().out)["input_changes"] == []


def test_the_record_names_an_input_that_determines_a_sensitive_attribute(exported):
    """Number audit, session 45: German's models read age, which tells age_group exactly (the
    validator says so), while the record said "Needs the sensitive attribute to predict: no" and
    "not used as model inputs", naming no proxy."""
    bundle, _, _ = exported
    b = load_bundle(bundle)
    assert b.record["content"]["sensitive_proxies"] == {"age": ["age_group"]}
    md = render_record_markdown(b.record).replace("\\", "")
    assert ("Needs the sensitive attribute to predict:** **no**, but it reads age, which determines age_group "
            "exactly (see Known limitations)") in md
    assert "(not used as model inputs), but the model reads age, which determines age_group exactly" in md
    assert any(x.startswith("This model reads age, and age determines age_group exactly")
               for x in b.record["content"]["limitations"])


def test_audit_list_says_which_key_signed_each_entry(sweep_copy, tmp_path, capsys, monkeypatch):
    """Lifecycle audit, session 45: after a key rotation nothing showed which exports carried which
    key's signature; audit list names the key of each entry's own signed head."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FAIRKIT_SIGNING_KEY", raising=False)
    folder, _ = sweep_copy
    first = write_key_pair(tmp_path / "k1.pem", tmp_path / "k1.pub")
    second = write_key_pair(tmp_path / "k2.pem", tmp_path / "k2.pub")
    run = pd.read_csv(folder / "results.csv").run_id.iloc[0]
    argv = ["export", "--store", str(folder), "--run", run, "--rationale", "r", "--decider", "d", "--n-boot", "50"]
    for i, key in enumerate(("k1.pem", None, "k2.pem")):
        signing = ["--sign-key", str(tmp_path / key)] if key else []
        assert main([*argv, *signing, "--out", str(tmp_path / f"m{i}.zip")]) == 0
    capsys.readouterr()
    assert main(["audit", "--kind", "export"]) == 0
    lines = [s for s in capsys.readouterr().out.splitlines() if s.startswith("#")]
    from fairkit.keys import key_id

    assert f"(head signed by key {key_id(first)};" in lines[0]
    assert "head signed by key" not in lines[1]
    assert f"(head signed by key {key_id(second)};" in lines[2]
    # Checked with the second key: the unsigned export and the first key's are named.
    assert main(["audit", "verify", "--trust", str(tmp_path / "k2.pub")]) == 0
    out = capsys.readouterr().out
    assert "1 export(s) carry no signature of their own" in out and f"(key {key_id(first)})" in out


def test_a_private_key_given_to_check_with_is_warned_of(exported, tmp_path, capsys, monkeypatch):
    """Lifecycle audit, session 45: --trust (or FAIRKIT_TRUST_KEY) took the organisation's private
    signing key without a word; operators handed it can sign bundles and sign-offs."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    bundle, rows, _ = exported
    write_key_pair(tmp_path / "k.pem", tmp_path / "k.pub")
    args = ["score", "--bundle", str(bundle), "--csv", str(rows), "--out", str(tmp_path / "s.csv")]
    main([*args, "--trust", str(tmp_path / "k.pem")])
    assert f"WARNING: the trusted key {tmp_path / 'k.pem'} is a private signing key" in capsys.readouterr().err
    main([*args, "--trust", str(tmp_path / "k.pub")])
    assert "is a private signing key" not in capsys.readouterr().err


def test_score_says_when_it_starts_a_new_audit_log(exported, tmp_path, capsys, monkeypatch):
    """Lifecycle audit, session 45: a mistyped FAIRKIT_HOME made a new log, silently under -q."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "hoem"))
    bundle, rows, _ = exported
    args = ["-q", "score", "--bundle", str(bundle), "--csv", str(rows), "--out", str(tmp_path / "s.csv")]
    main(args)
    assert f"NOTE: no audit log was at {tmp_path / 'hoem' / 'audit.sqlite'}: a new one was started" in \
        capsys.readouterr().err
    main(args)
    assert "a new one was started" not in capsys.readouterr().err


def test_score_says_where_the_bundle_stands_in_the_log(sweep_copy, tmp_path, capsys, monkeypatch):
    """Lifecycle audit, session 45: score named no review status and no later export, so an operator
    scored an unreviewed v2, or a replaced v1, without a word."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FAIRKIT_SIGNING_KEY", raising=False)
    folder, _ = sweep_copy
    runs = pd.read_csv(folder / "results.csv").run_id
    argv = ["export", "--store", str(folder), "--rationale", "r", "--decider", "Ada", "--n-boot", "50"]
    assert main([*argv, "--run", runs.iloc[0], "--out", str(tmp_path / "v1.zip")]) == 0
    capsys.readouterr()
    rows = tmp_path / "rows.csv"
    load_dataset("german")[0].head(80).to_csv(rows, index=False)
    score = ["score", "--csv", str(rows), "--out", str(tmp_path / "s.csv"), "--json"]
    main([*score, "--bundle", str(tmp_path / "v1.zip")])
    said = json.loads(capsys.readouterr().out)["review_status"]
    assert said.startswith("exported as audit entry #") and "review: not reviewed yet" in said
    sha = load_bundle(tmp_path / "v1.zip").manifest_sha256
    AuditLog().append("signoff", actor="Prof. Chair", subject=sha, text="Approved.")
    assert main([*argv, "--run", runs.iloc[1], "--out", str(tmp_path / "v2.zip")]) == 0
    capsys.readouterr()
    main([*score, "--bundle", str(tmp_path / "v1.zip")])
    said = json.loads(capsys.readouterr().out)["review_status"]
    assert "1 sign-off" in said and "1 later export(s) of the same data" in said
    # A reviewed bundle is not replaced by a later export (its record would be unreadable).
    assert main([*argv, "--run", runs.iloc[1], "--out", str(tmp_path / "v1.zip")]) == 2
    assert "holds a bundle the committee has reviewed (1 sign-off(s) or dissent(s)" in capsys.readouterr().err
    assert load_bundle(tmp_path / "v1.zip").manifest_sha256 == sha
    # A sign-off given while the export runs (concurrency audit, session 46: checked only at the
    # start, v3 replaced a bundle signed off meanwhile): checked again before it is published.
    import fairkit.export as fexport

    assert main([*argv, "--run", runs.iloc[0], "--out", str(tmp_path / "v3.zip")]) == 0
    sha3 = load_bundle(tmp_path / "v3.zip").manifest_sha256
    real = fexport.export_bundle

    def signed_off_meanwhile(*a, **k):
        AuditLog().append("signoff", actor="Prof. Chair", subject=sha3, text="Approved meanwhile.")
        return real(*a, **k)

    monkeypatch.setattr(fexport, "export_bundle", signed_off_meanwhile)
    capsys.readouterr()
    assert main([*argv, "--run", runs.iloc[1], "--out", str(tmp_path / "v3.zip")]) == 2
    assert "holds a bundle the committee has reviewed" in capsys.readouterr().err
    assert load_bundle(tmp_path / "v3.zip").manifest_sha256 == sha3
    assert not list(tmp_path.glob(".v3.zip*"))  # no temporary left behind
    monkeypatch.setattr(fexport, "export_bundle", real)
    # A bundle exported in another home: nothing to read here, said so.
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "elsewhere"))
    main([*score, "--bundle", str(tmp_path / "v1.zip")])
    assert "its export is not in the log" in json.loads(capsys.readouterr().out)["review_status"]


def test_a_kept_score_head_catches_entries_removed_from_the_log(exported, tmp_path, capsys, monkeypatch):
    """Lifecycle audit, session 45: score entries are covered by no signature until the next export,
    so months of drift verdicts could be deleted (the append-only trigger dropped and put back)
    and `audit verify --trust` still passed. score prints the head after its entry; `audit verify
    --head N:HASH` fails once the entries up to it are not the ones it covered."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    bundle, rows, _ = exported
    args = ["score", "--bundle", str(bundle), "--csv", str(rows), "--out", str(tmp_path / "s.csv"), "--json"]
    heads = []
    for _ in range(3):
        main(args)
        heads.append(json.loads(capsys.readouterr().out)["audit_head"])
    assert main(["audit", "verify", "--head", heads[1], "--head", heads[2]]) == 0
    capsys.readouterr()
    log = tmp_path / "home" / "audit.sqlite"
    con = sqlite3.connect(log, isolation_level=None)
    triggers = con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
    for name, _ in triggers:
        con.execute(f"DROP TRIGGER {name}")
    con.execute("DELETE FROM events WHERE id >= 2")  # the last two months' entries
    con.execute("UPDATE sqlite_sequence SET seq = 1 WHERE name = 'events'")  # and the counter that tells
    for _, sql in triggers:
        con.execute(sql)
    con.close()
    assert main(["audit", "verify", "--head", heads[2]]) == 1
    assert "a head recorded elsewhere (in a bundle, or kept from score) no longer matches the log" in \
        capsys.readouterr().err
    assert main(["audit", "verify"]) == 0  # without the head nothing tells
    capsys.readouterr()
    assert main(["audit", "verify", "--head", "7:xyz"]) == 2
    assert "is not a head: give N:HASH" in capsys.readouterr().err


def test_a_key_rotation_recorded_as_a_handover_keeps_earlier_bundles_trusted(sweep_dir, tmp_path, capsys,
                                                                             monkeypatch):
    """Lifecycle audit, session 45 (F8): after key2 took over, score --trust key2 refused v1
    (signed with key1, still deployed and signed off), and key1 could go on signing. keygen
    --replaces records the hand-over; score and audit verify then trust v1 under key2, and an
    export key1 signs after it fails the check."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    for k in ("FAIRKIT_SIGNING_KEY", "FAIRKIT_TRUST_KEY"):
        monkeypatch.delenv(k, raising=False)
    assert main(["keygen", "--out", str(tmp_path / "k1")]) == 0
    assert "Record the hand-over (fairkit audit handover" in capsys.readouterr().out
    k1, k2 = tmp_path / "k1", tmp_path / "k2"
    run = pd.read_csv(sweep_dir / "results.csv").run_id.iloc[0]
    export = ["export", "--store", str(sweep_dir), "--run", run, "--rationale", "r", "--decider", "d", "--n-boot", "50"]
    assert main([*export, "--sign-key", str(k1 / "fairkit-signing-key.pem"), "--out", str(tmp_path / "v1.zip")]) == 0
    frame, _ = load_dataset("german")
    rows = tmp_path / "rows.csv"
    frame.head(100).to_csv(rows, index=False)
    score = ["score", "--bundle", str(tmp_path / "v1.zip"), "--csv", str(rows), "--out", str(tmp_path / "s.csv")]

    assert main(["keygen", "--out", str(k2), "--replaces", str(k1 / "fairkit-signing-key.pem")]) == 0
    said = capsys.readouterr().out
    assert "hands over to key" in said and "the old key signs nothing after it" in said
    trust2 = ["--trust", str(k2 / "fairkit-public-key.pem")]
    assert main([*score, *trust2]) in (0, 4)
    assert "which the audit log hands over to or from the trusted key" in capsys.readouterr().out
    assert main(["audit", "verify", *trust2]) == 0
    assert "handed over at entry" in capsys.readouterr().out
    assert main(["audit", "list"]) == 0
    listed = capsys.readouterr().out
    assert re.search(r"#2 .* handover +by .* hands over to key", listed)

    # key1 signs nothing after its hand-over: the export is refused, and nothing is written.
    assert main([*export, "--sign-key", str(k1 / "fairkit-signing-key.pem"), "--out", str(tmp_path / "v2.zip")]) == 2
    assert "it signs nothing after its hand-over, so nothing was written" in capsys.readouterr().err
    assert not (tmp_path / "v2.zip").exists()
    assert main([*export, "--sign-key", str(k2 / "fairkit-signing-key.pem"), "--out", str(tmp_path / "v2.zip")]) == 0
    assert main(["audit", "verify", *trust2]) == 0
    # A second hand-over of key1 is refused; a hand-over needs both keys.
    assert main(["audit", "handover", "--from-key", str(k1 / "fairkit-signing-key.pem"),
                 "--to-key", str(k2 / "fairkit-signing-key.pem")]) == 2
    assert "handed over already" in capsys.readouterr().err
    assert main(["audit", "handover", "--from-key", str(k1 / "fairkit-signing-key.pem")]) == 2
    assert "needs --from-key" in capsys.readouterr().err


def test_one_job_writes_an_output_file_at_a_time(exported, tmp_path, capsys, monkeypatch):
    """Concurrency audit, session 46 (F4): two scores into one --out interleaved one batch's
    decisions with the other's report. A second job into an --out being written is refused at
    once, with nothing written; the hold ends with the job that had it (no lock file is left)."""
    from fairkit.store import exclusive_writer

    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    bundle, rows, _ = exported
    out = tmp_path / "scored" / "s.csv"
    score = ["score", "--bundle", str(bundle), "--csv", str(rows), "--out", str(out)]
    with exclusive_writer(out):  # another job writing it
        assert main(score) == 2
        err = capsys.readouterr().err
        assert f"Another fairkit job (process {os.getpid()}) is writing {out} now (it holds .s.csv.lock beside " \
               "it); nothing was written. Wait for it to finish, or write to another --out." in err
        assert not out.exists()
        # Another output in the same folder is not held.
        assert main(["score", "--bundle", str(bundle), "--csv", str(rows), "--out", str(out.with_name("t.csv"))]) in (0, 4)
        capsys.readouterr()
    assert main(score) in (0, 4)
    assert sorted(p.name for p in out.parent.iterdir()) == ["s.csv", "s.fairness.json", "t.csv", "t.fairness.json"]


def test_an_output_is_written_where_no_lock_can_be_had(tmp_path, monkeypatch):
    """Review of session 47: on a file system without flock (some network and FUSE mounts) every
    export and score was refused with a disk message, leaving the lock file and its descriptor.
    There nothing is held and nothing is left; the write goes on as before."""
    import errno
    import fcntl

    from fairkit.store import exclusive_writer

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    out = tmp_path / "s.csv"
    with exclusive_writer(out):
        out.write_text("written")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv"]


def test_keygen_replaces_writes_no_key_when_the_hand_over_cannot_be_recorded(tmp_path, capsys, monkeypatch):
    """Left out in session 46: keygen --replaces under a mistyped FAIRKIT_HOME made a new, empty
    audit log there and recorded the hand-over in it (the real log never learnt of it), and a
    key handed over already got its new key written before the refusal, which a rerun could then
    not make again. Both are refused before any key is made."""
    for k in ("FAIRKIT_SIGNING_KEY", "FAIRKIT_TRUST_KEY"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    write_key_pair(tmp_path / "k1.pem", tmp_path / "k1.pub")
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "hme"))  # mistyped
    assert main(["keygen", "--out", str(tmp_path / "k2"), "--replaces", str(tmp_path / "k1.pem")]) == 2
    err = capsys.readouterr().err
    assert f"No audit log at {tmp_path / 'hme' / 'audit.sqlite'}: a hand-over is recorded in the log" in err
    assert "Nothing was written." in err
    assert not (tmp_path / "hme").exists() and not (tmp_path / "k2").exists()

    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    AuditLog(tmp_path / "home" / "audit.sqlite").append("upload", actor="a", subject="s")
    assert main(["keygen", "--out", str(tmp_path / "k2"), "--replaces", str(tmp_path / "k1.pem")]) == 0
    capsys.readouterr()
    assert main(["keygen", "--out", str(tmp_path / "k3"), "--replaces", str(tmp_path / "k1.pem")]) == 2
    assert "was handed over already, at entry 2" in capsys.readouterr().err
    assert not (tmp_path / "k3").exists()


def test_keygen_names_a_key_file_left_without_its_pair(tmp_path, capsys):
    """Concurrency audit, session 46 (F8): a keygen killed between its two files left a private
    key alone, and the rerun only said the file was there. The pair is now linked into place
    whole (the public key first); a file found alone is named with what to do."""
    (tmp_path / "fairkit-public-key.pem").write_text("left by a killed keygen")
    assert main(["keygen", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "fairkit-public-key.pem is there without its pair (an interrupted keygen?)" in err
    assert "remove it and run keygen again" in err


def test_scored_decisions_appear_only_with_their_audit_entry_and_the_report_names_its_file(exported, tmp_path,
                                                                                         capsys, monkeypatch):
    """Concurrency audit, session 46: score wrote its decisions, then logged; a full disk (or a
    killed job) left them with no audit entry, and the message said the log was as it was. Two
    jobs scoring into one --out left one batch's decisions beside the other's report, nothing
    tying them. The entry is now written before the file appears, and the report names the
    scored file's hash."""
    import hashlib

    import fairkit.audit as faudit

    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    bundle, rows, _ = exported
    out = tmp_path / "s.csv"
    args = ["score", "--bundle", str(bundle), "--csv", str(rows), "--out", str(out)]
    real = faudit.record_score

    def disk_full(log, **kw):
        raise faudit.AuditLogError(f"The audit log {log.path} cannot be written: the disk is full.")

    monkeypatch.setattr(faudit, "record_score", disk_full)
    assert main(args) == 2
    assert "the disk is full" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".s.csv*"))
    monkeypatch.setattr(faudit, "record_score", real)
    assert main(args) in (0, 4)
    capsys.readouterr()
    report = json.loads(out.with_suffix(".fairness.json").read_text())
    assert report["scored_file"] == "s.csv"
    assert report["scored_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert report["audit_entry"] == int(AuditLog().entries(kind="score")["id"].iloc[-1])


def test_an_export_interrupted_after_it_was_logged_is_finished_by_the_next_export(sweep_copy, tmp_path, capsys,
                                                                                  monkeypatch):
    """Concurrency audit, session 46: an export killed between its audit entry and its rename left
    a logged, signed export whose bundle was nowhere, and a complete copy in a .tmp nothing
    cleaned. The next export to that path puts the logged bundle where its entry says it is,
    and removes a temporary that was never logged."""
    import os
    import time

    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    folder, _ = sweep_copy
    runs = pd.read_csv(folder / "results.csv").run_id
    argv = ["export", "--store", str(folder), "--rationale", "r", "--decider", "Ada", "--n-boot", "50"]
    out = tmp_path / "a.zip"
    assert main([*argv, "--run", runs.iloc[0], "--out", str(out)]) == 0
    sha1 = load_bundle(out).manifest_sha256
    # As a kill after the entry and before the rename leaves it: the bundle in a temporary of a
    # writer no longer running, a minute old; beside it one of a write never logged.
    orphan, junk = tmp_path / ".a.zip.999999999.k1.tmp", tmp_path / ".a.zip.999999998.k2.tmp"
    os.replace(out, orphan)
    junk.write_bytes(b"half a bundle")
    for f in (orphan, junk):
        os.utime(f, (time.time() - 120, time.time() - 120))
    capsys.readouterr()
    # Export 2 is reviewed before it replaces anything: the recovered v1 is at a.zip, unreviewed.
    AuditLog().append("signoff", actor="Prof. Chair", subject=sha1, text="Approved.")
    assert main([*argv, "--run", runs.iloc[1], "--out", str(out)]) == 2
    said = capsys.readouterr()
    assert f"NOTE: an export to {out} was interrupted after it was logged (audit entry #1) and before its bundle " \
           f"appeared: that bundle, complete, is now at {out}." in said.out
    assert "NOTE: removed .a.zip.999999998.k2.tmp" in said.out
    # The recovered bundle is the logged one, and, signed off, it is not replaced.
    assert load_bundle(out).manifest_sha256 == sha1 and "committee has reviewed" in said.err
    assert not list(tmp_path.glob(".a.zip*"))


def test_a_run_whose_sweep_a_later_sweep_replaced_says_how_to_export_it_again(tmp_path, capsys, monkeypatch):
    """Upgrade audit, session 48: after a second sweep into the same --out, a run of the first was
    refused with "export it from the folder of the sweep that trained it", which was this folder.
    The refusal says what works: the first sweep again, whose runs the store keeps."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    out = tmp_path / "s"
    first = ["sweep", "--dataset", "german", "--methods", "unconstrained", "--etas", "0", "--no-png", "--out", str(out)]
    assert main(first) == 0
    run = pd.read_csv(out / "results.csv").run_id.iloc[0]
    assert main(["sweep", "--dataset", "german", "--methods", "linear", "--etas", "0", "--no-png", "--out", str(out)]) == 0
    export = ["export", "--store", str(out), "--run", run, "--rationale", "r", "--decider", "d", "--n-boot", "50",
              "--out", str(tmp_path / "b.zip")]
    capsys.readouterr()
    assert main(export) == 2
    assert "a later sweep replaced its results.csv, run that sweep again" in capsys.readouterr().err
    assert main(first) == 0
    assert "1 from the store" in capsys.readouterr().out
    assert main(export) == 0


def test_a_sweep_into_a_named_store_exports_from_it_though_an_earlier_sweep_left_a_store_folder(
        tmp_path, capsys, monkeypatch):
    """Review of session 48: a copied sweep folder reads its own store/, but a folder swept first
    without --store and again with --store OTHER/store exported from the stale store/ it kept."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    out, shared = tmp_path / "a", tmp_path / "shared" / "store"
    base = ["sweep", "--dataset", "german", "--methods", "unconstrained", "--no-png", "--out", str(out)]
    assert main([*base, "--etas", "0"]) == 0  # leaves a/store
    assert main([*base, "--etas", "0", "--split-seed", "1", "--store", str(shared)]) == 0
    run = pd.read_csv(out / "results.csv").run_id.iloc[0]
    capsys.readouterr()
    assert main(["export", "--store", str(out), "--run", run, "--rationale", "r", "--decider", "d", "--n-boot", "50",
                 "--out", str(tmp_path / "b.zip")]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("dask_args, said", [
    (["--tls-ca-file", "ca.pem"], "go together (Dask's TLS needs the certificate authority, this client's "
                                  "certificate and its key); missing: --tls-cert, --tls-key"),
    (["--scheduler", "tcp://127.0.0.1:1", "--tls-ca-file", "ca.pem", "--tls-cert", "c.pem", "--tls-key", "k.pem"],
     "are for a tls:// scheduler, and the scheduler is tcp://127.0.0.1:1"),
    (["--tls-ca-file", "ca.pem", "--tls-cert", "c.pem", "--tls-key", "k.pem"], "and no scheduler is given"),
    (["--scheduler", ""], "the scheduler address is empty"),
    (["--scheduler", "tcp://127.0.0.1"], "a host and a port 1-65535 after the scheme"),
    (["--dask-timeout", "1e10"], "at most a day"),
])
def test_dask_options_that_cannot_work_are_refused_before_anything_runs(tmp_path, capsys, monkeypatch, dask_args,
                                                                        said):
    """Dask audit M5, L1, L2, L4, session 50: certificates with a tcp:// scheduler ended in an
    internal error; with no scheduler, or an empty one, they were ignored and the sweep trained
    here; a CA alone read as no certificates; 1e10 s overflowed Dask's clock."""
    monkeypatch.delenv("FAIRKIT_DASK_SCHEDULER", raising=False)
    monkeypatch.chdir(tmp_path)
    for name in ("ca.pem", "c.pem", "k.pem"):
        (tmp_path / name).write_text("-----BEGIN CERTIFICATE-----\n")
    out = tmp_path / "out"
    assert main(["sweep", "--dataset", "german", "--methods", "regularized", "--etas", "0", "--out", str(out),
                 *dask_args]) == 2
    assert said in " ".join(capsys.readouterr().err.split())
    assert not out.exists()
