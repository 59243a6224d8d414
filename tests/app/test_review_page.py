"""The Review page through AppTest: recorded exports with integrity checks, and verdicts."""

from __future__ import annotations

import zipfile

import pandas as pd

from fairkit.__main__ import main as cli
from fairkit.audit import AuditLog
from ui import tradeoffs as ut

from .conftest import new_session, texts


def export_one(at, rationale="Within tolerance; smallest accuracy loss.") -> None:
    at.switch_page("views/tradeoffs.py").run()
    at.select_slider(key=ut.W_ETA).set_value(1.0).run()
    at.text_input(key=ut.W_ACTOR).input("Ana").run()
    at.button(key="tradeoffs.record").click().run()
    at.switch_page("views/export.py").run()
    at.text_input(key="w.export.decider").input("Dr. Decider").run()
    at.text_area(key="w.export.rationale").input(rationale).run()
    at.button(key="export.go").click().run()
    assert not at.exception, at.exception


def test_empty_review(fast_env):
    at = new_session()
    at.switch_page("views/review.py").run()
    assert any("No decision has been exported yet" in i for i in texts(at.info))
    assert not at.exception


def test_committee_reads_the_record_and_signs_off(trained, fast_env):
    export_one(trained)
    # The committee works in another browser session: it sees the recorded decision only.
    at = new_session()
    at.switch_page("views/review.py").run()
    assert not at.exception, at.exception
    assert any("Integrity verified" in s for s in texts(at.success))
    record = next(m.value for m in at.markdown if m.value.startswith("### Decision record"))
    assert "Within tolerance; smallest accuracy loss." in record and "**Dr. Decider**" in record
    assert "eta **1.0000**" in record
    assert len(at.get("plotly_chart")) == 1  # the frontier snapshot
    selections = next(t.value for t in at.table if t.proto.alt == "Recorded selections")
    assert list(selections["By"]) == ["Ana"] and list(selections["Method"]) == ["regularized"]

    # A verdict needs a name; a dissent needs a reason.
    form_submit = at.button[0]
    at.radio[0].set_value("dissent")
    form_submit.click().run()
    assert any("Enter your name" in e for e in texts(at.error))
    at.text_input[0].input("Prof. Reviewer")
    at.radio[0].set_value("dissent")
    at.button[0].click().run()
    assert any("reason for the dissent" in e for e in texts(at.error))
    assert at.text_input[0].value == "Prof. Reviewer"  # nothing typed is lost
    at.text_input[0].input("Prof. Reviewer")
    at.radio[0].set_value("signoff")
    at.button[0].click().run()
    assert not at.exception, at.exception
    reviews = next(t.value for t in at.table if t.proto.alt == "Reviews of this decision")
    assert list(reviews["Reviewer"]) == ["Prof. Reviewer"] and list(reviews["Verdict"]) == ["Sign off"]
    # Without sign-in configured, the page and the record say the name is self-declared.
    assert list(reviews["Identity"]) == ["self-declared"]
    assert any("self-declared" in c for c in texts(at.caption))
    (export,) = AuditLog().entries(kind="export").itertuples()
    (signoff,) = AuditLog().entries(kind="signoff").itertuples()
    assert signoff.subject == export.subject  # the verdict is tied to the manifest hash
    assert signoff.details["identity"]["verified_by"] == "self-declared"
    assert signoff.details["checked"]["bundle_signature"].startswith("unsigned")
    # The bundle was exported without a key: the page says it is unsigned.
    assert any("Unsigned bundle" in w for w in texts(at.warning))
    assert any("unbroken hash chain" in c for c in texts(at.caption))


def test_a_modified_bundle_is_refused(trained, fast_env):
    export_one(trained)
    (path,) = (fast_env / "exports").glob("*.zip")
    # Rewrite the rationale inside the zip, leaving the manifest as it was.
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members["decision_record.md"] = members["decision_record.md"].replace(b"Within", b"Outside")
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    at = new_session()
    at.switch_page("views/review.py").run()
    assert not at.exception, at.exception
    errors = texts(at.error)
    assert any("cannot be trusted" in e and "decision\\_record.md" in e for e in errors), errors
    assert not any(m.value.startswith("### Decision record") for m in at.markdown)
    # A failed check stops the review: no sign-off form, and no server path on the page.
    assert not at.text_input and not at.radio and not at.text_area and not at.button
    page = " ".join(texts(at.error) + texts(at.caption) + texts(at.markdown) + texts(at.success))
    assert str(fast_env) not in page and str(path.parent) not in page
    assert path.name.replace("_", "\\_") in page or path.name in page


def test_a_log_that_fails_its_check_stops_the_review(trained, fast_env):
    import sqlite3

    export_one(trained)
    log = AuditLog()
    con = sqlite3.connect(log.path, isolation_level=None)
    con.execute("DROP TRIGGER events_no_update")
    con.execute("UPDATE events SET actor = 'Mallory' WHERE kind = 'selection'")
    con.close()
    at = new_session()
    at.switch_page("views/review.py").run()
    assert not at.exception, at.exception
    assert any("audit log fails its check" in e and "altered at entry 1" in e
               for e in texts(at.error)), texts(at.error)
    assert not at.text_input and not at.radio  # no verdict form


def test_a_bundle_exported_with_the_cli_is_reviewed_like_any_other(fast_env, tmp_path_factory):
    # The CLI's own folders, away from FAIRKIT_HOME: the entry must carry where the bundle is.
    work = tmp_path_factory.mktemp("cli")
    assert cli(["sweep", "--dataset", "german", "--methods", "unconstrained", "--etas", "0",
                "--out", str(work / "sweep")]) == 0
    run = pd.read_csv(work / "sweep" / "results.csv")["run_id"].iloc[0]
    assert cli(["export", "--store", str(work / "sweep"), "--run", run, "--rationale",
                "Chosen on the command line.", "--decider", "CLI Committee", "--n-boot", "50",
                "--out", str(work / "bundle.zip")]) == 0
    at = new_session()
    at.switch_page("views/review.py").run()
    assert not at.exception, at.exception
    assert not texts(at.error), texts(at.error)
    assert any("Integrity verified" in s for s in texts(at.success))
    record = next(m.value for m in at.markdown if m.value.startswith("### Decision record"))
    assert "Chosen on the command line." in record and "**CLI Committee**" in record
    assert len(at.get("plotly_chart")) == 1
    # A verdict on it is tied to the bundle's manifest hash, as for a dashboard export.
    at.text_input[0].input("Prof. Reviewer")
    at.radio[0].set_value("signoff")
    at.button[0].click().run()
    (export,) = AuditLog().entries(kind="export").itertuples()
    (signoff,) = AuditLog().entries(kind="signoff").itertuples()
    assert signoff.subject == export.subject == export.details["manifest_sha256"]
    assert AuditLog().verify().ok


def test_uploads_and_dashboard_sweeps_are_logged(trained, fast_env):
    import hashlib

    from ui import state
    from ui.auth import ANONYMOUS
    from ui.controls import UPLOAD

    (sweep,) = AuditLog().entries(kind="sweep").itertuples()
    assert sweep.details["dataset"] == "german" and sweep.details["runs"] >= 3
    assert sweep.actor == ANONYMOUS and sweep.details["identity"]["verified_by"] == "self-declared"
    at = new_session()
    at.radio(key=state.W_SOURCE).set_value(UPLOAD).run()
    data = ("x,g,y\n" + "".join(f"{i},{'ab'[i % 2]},{i % 3 == 0}\n" for i in range(60))).encode()
    at.file_uploader(key=state.W_UPLOAD).set_value(("loans.csv", data, "text/csv")).run()
    at.run()  # a rerun reads the same file again: logged once
    assert not at.exception, at.exception
    (upload,) = AuditLog().entries(kind="upload").itertuples()
    assert upload.subject == hashlib.sha256(data).hexdigest()  # by content hash
    assert (upload.details["name"], upload.details["rows"], upload.details["columns"]) == ("loans.csv", 60, 3)
    assert AuditLog().verify().ok
