"""The audit trail: append-only, one hash chain across concurrent writers, tampering named,
one entry schema, and logs from before the chain read with a fallback."""

import json
import re
import sqlite3
from concurrent.futures import ProcessPoolExecutor

import pandas as pd
import pytest

from fairkit.audit import (
    GENESIS,
    SELF_DECLARED,
    AuditLog,
    AuditLogError,
    ChainCheck,
    Identity,
    VerdictRefused,
    chain_head,
    checked_verdicts,
    command_line_user,
    entry_hash,
    export_entries,
    head_message,
    name_key,
    record_export,
    record_score,
    record_selection,
    record_sweep,
    record_upload,
    record_verdict,
    review_status,
    selection_entries,
    verdict_entries,
    verdict_tally,
)
from fairkit.keys import key_id, load_private_key, load_public_key, sign, write_key_pair


def _writer(args):
    path, who, n = args
    log = AuditLog(path)
    for i in range(n):
        log.append("comment", actor=who, subject="m1", text=f"{who}-{i}")
    return n


def test_concurrent_writers_lose_nothing_and_form_one_chain(tmp_path):
    path = tmp_path / "audit.sqlite"
    AuditLog(path)
    with ProcessPoolExecutor(max_workers=4) as ex:
        total = sum(ex.map(_writer, [(path, f"w{k}", 50) for k in range(4)]))
    log = AuditLog(path)
    entries = log.entries()
    assert len(entries) == total == 200
    assert len({d["text"] for d in entries["details"]}) == 200
    assert entries["id"].is_monotonic_increasing
    # Timestamps are taken inside the write transaction: chain order is time order.
    assert entries["ts"].is_monotonic_increasing
    check = log.verify()
    assert check.ok and check.entries == 200 and check.unchained == 0, str(check)
    # Every entry links to the one before it: no two writers took the same predecessor.
    con = sqlite3.connect(path)
    prevs = [r[0] for r in con.execute("SELECT prev_hash FROM events ORDER BY id")]
    hashes = [r[0] for r in con.execute("SELECT entry_hash FROM events ORDER BY id")]
    con.close()
    assert prevs == [GENESIS] + hashes[:-1]


def test_a_check_while_others_write_sees_one_snapshot_and_raises_no_false_alarm(tmp_path):
    """Several sessions write while one checks (a reviewer's page, a verdict's own check): the
    entries, SQLite's counter and the heads are read in one snapshot. Read apart, another
    session's append between two reads looked like "entries removed from the end of the log"."""
    path = tmp_path / "audit.sqlite"
    AuditLog(path)
    log = AuditLog(path)
    with ProcessPoolExecutor(max_workers=2) as ex:
        writers = [ex.submit(_writer, (path, f"w{k}", 150)) for k in range(2)]
        checks = []
        while not all(w.done() for w in writers) or not checks:
            checks.append(log.verify())
    assert sum(w.result() for w in writers) == 300
    failed = [str(c) for c in checks if not c.ok]
    assert not failed, failed[:3]
    assert len(checks) > 3 and all(c.checked_through == c.entries for c in checks)
    assert log.verify().checked_through == 300


def test_append_only_and_entries_need_a_known_kind_and_an_actor(tmp_path):
    log = AuditLog(tmp_path / "a.sqlite")
    log.append("signoff", actor="ana", subject="m1", text="")
    con = sqlite3.connect(log.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE events SET actor = 'mallory'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("DELETE FROM events")
    # INSERT OR REPLACE deletes without firing DELETE triggers; it is refused before it can.
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("INSERT OR REPLACE INTO events (id, ts, actor, kind, subject, details) "
                    "VALUES (1, 'x', 'mallory', 'signoff', 'm1', '{}')")
    con.close()
    e = log.entries(kind="signoff")
    assert e.iloc[0]["actor"] == "ana" and e.iloc[0]["details"]["text"] == ""
    assert e.iloc[0]["details"]["identity"]["verified_by"] == SELF_DECLARED
    # Which fairkit wrote it (upgrade audit, session 50: two versions' entries on one chain alike).
    from fairkit import __version__
    from fairkit.store import RESULTS_REVISION
    assert e.iloc[0]["details"]["fairkit"] == {"version": __version__, "results_revision": RESULTS_REVISION}
    with pytest.raises(ValueError, match="actor"):
        log.append("comment", actor=" ", subject="m1", text="x")
    for kind in ("rewrite", "delete"):
        with pytest.raises(ValueError, match="kind"):
            log.append(kind, actor="x")
    with pytest.raises(ValueError, match="verdict"):
        record_verdict(log, "export", actor="x", manifest_sha256="m1", bundle="b.zip")
    assert len(log.entries()) == 1


def test_a_verified_identity_is_recorded_with_its_issuer(tmp_path):
    log = AuditLog(tmp_path / "a.sqlite")
    who = Identity(name="Ana Reviewer", email="ana@example.org", issuer="http://127.0.0.1:9400",
                   subject="ana")
    log.append("comment", actor=who, subject="m1", text="t")
    (e,) = log.entries().itertuples()
    assert e.actor == "Ana Reviewer <ana@example.org>"
    assert e.details["identity"] == {"name": "Ana Reviewer", "email": "ana@example.org",
                                     "issuer": "http://127.0.0.1:9400", "subject": "ana",
                                     "verified_by": "http://127.0.0.1:9400"}


def _chained_log(tmp_path, n=4) -> AuditLog:
    log = AuditLog(tmp_path / "chain.sqlite")
    for i in range(n):
        log.append("comment", actor=f"r{i}", subject="m", text=f"t{i}")
    return log


def _untriggered(log):
    """A connection with the triggers dropped: what someone editing the file could do."""
    con = sqlite3.connect(log.path, isolation_level=None)
    for trigger in ("events_no_update", "events_no_delete", "events_no_replace", "heads_no_update",
                    "heads_no_delete", "heads_no_replace"):
        con.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    return con


def test_verify_names_a_changed_entry(tmp_path):
    log = _chained_log(tmp_path)
    assert log.verify().ok
    con = _untriggered(log)
    con.execute("UPDATE events SET details = ? WHERE id = 3", (json.dumps({"text": "forged"}),))
    con.close()
    check = log.verify()
    assert not check.ok and check.broken_id == 3 and "changed" in check.problem
    assert "entry 3" in str(check)


def test_verify_names_the_entry_after_a_rehashed_change(tmp_path):
    log = _chained_log(tmp_path)
    con = _untriggered(log)
    ts, actor, kind, subject, prev = con.execute(
        "SELECT ts, actor, kind, subject, prev_hash FROM events WHERE id = 2").fetchone()
    forged = json.dumps({"text": "forged"})
    # The forger recomputes entry 2's own hash; entry 3 still points at the old one.
    con.execute("UPDATE events SET details = ?, entry_hash = ? WHERE id = 2",
                (forged, entry_hash(prev, ts, actor, kind, subject, forged)))
    con.close()
    check = log.verify()
    assert not check.ok and check.broken_id == 3 and "before it" in check.problem


def test_verify_names_the_entry_after_a_removed_one(tmp_path):
    log = _chained_log(tmp_path)
    con = _untriggered(log)
    con.execute("DELETE FROM events WHERE id = 2")
    con.close()
    check = log.verify()
    assert not check.ok and check.broken_id == 3


def test_verify_names_an_entry_inserted_without_a_hash(tmp_path):
    log = _chained_log(tmp_path, n=2)
    con = sqlite3.connect(log.path, isolation_level=None)
    con.execute("INSERT INTO events (ts, actor, kind, subject, details) "
                "VALUES ('2020-01-01', 'x', 'comment', 'm', '{}')")
    con.close()
    check = log.verify()
    assert not check.ok and check.broken_id == 3 and "no hash" in check.problem


# Entries as the two writers before the one schema made them (fairkit 0.x), in that version's
# table (no hash columns).
_OLD_SCHEMA = """
CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL, actor TEXT NOT NULL,
    kind TEXT NOT NULL, subject TEXT, details TEXT NOT NULL);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


def _old_log(path):
    con = sqlite3.connect(path, isolation_level=None)
    con.executescript(_OLD_SCHEMA)
    rows = [
        ("upload", "ana", "sha256:abc", {"rows": 10}),
        ("export", "Dr. D", "man1", {"file": "german-a.zip", "manifest_sha256": "man1",
                                     "run_id": "run1", "method": "regularized", "eta": 1.0}),
        ("export", "CLI user", "run2", {"bundle": "out/b.zip", "manifest_sha256": "man2",
                                        "rationale": "r"}),
        ("signoff", "rev", "man1", {"text": "", "file": "german-a.zip"}),
    ]
    for kind, actor, subject, details in rows:
        con.execute("INSERT INTO events (ts, actor, kind, subject, details) VALUES (?, ?, ?, ?, ?)",
                    ("2024-01-01T00:00:00.000+00:00", actor, kind, subject, json.dumps(details)))
    con.close()


def test_a_log_from_before_the_chain_is_read_with_a_fallback(tmp_path):
    path = tmp_path / "old.sqlite"
    _old_log(path)
    log = AuditLog(path)  # adds the hash columns; the old rows stay as they were
    check = log.verify()
    assert check.ok and check.unchained == 4 and "predate" in str(check)
    new_id = log.append("comment", actor="rev2", subject="man2", text="later")
    check = log.verify()
    assert check.ok and check.unchained == 4 and check.entries == 5
    con = sqlite3.connect(path)
    assert con.execute("SELECT prev_hash FROM events WHERE id = ?", (new_id,)).fetchone()[0] == GENESIS
    con.close()

    cli, dash = export_entries(log, bundle_folder=tmp_path / "exports")  # newest first
    assert dash["subject"] == "man1" and dash["bundle"] == str(tmp_path / "exports" / "german-a.zip")
    assert dash["run_id"] == "run1" and dash["legacy"].startswith("dashboard")
    assert cli["subject"] == "man2" and cli["run_id"] == "run2" and cli["bundle"] == "out/b.zip"
    assert cli["legacy"].startswith("command-line")
    # Verdicts on either are found by the manifest hash, old and new alike.
    assert list(verdict_entries(log, "man1")["kind"]) == ["signoff"]
    assert list(verdict_entries(log, "man2")["text"]) == ["later"]


def _bundle_record(run_id="run9"):
    """The fields of export_bundle's record that record_export reads."""
    return {"decider": "Dr. D", "rationale": "fits", "content": {
        "selected": {"run_id": run_id, "method": "regularized", "eta": 2.0, "seed": 0,
                     "threshold": 0.45, "needs_sensitive_at_predict": False,
                     "calibration": {"method": "platt", "grouping": ["sex"]}},
        "dataset": {"name": "german", "data_hash": "h1"}}}


def test_record_export_takes_the_decision_from_the_record(tmp_path):
    log = AuditLog(tmp_path / "a.sqlite")
    bundle = tmp_path / "sub" / ".." / "b.zip"
    record_export(log, bundle_path=bundle, manifest_sha256="m9", record=_bundle_record(),
                  unfairness_axis="demographic_parity_difference", performance_axis="accuracy")
    (entry,) = export_entries(log)
    assert entry["subject"] == entry["manifest_sha256"] == "m9" and entry["legacy"] is None
    assert entry["bundle"] == str((tmp_path / "b.zip").resolve())
    assert entry["actor"] == "Dr. D" and entry["run_id"] == "run9" and entry["threshold"] == 0.45
    assert entry["calibration"] == {"method": "platt", "grouping": ["sex"]}
    assert entry["dataset"] == "german" and entry["data_hash"] == "h1"


def test_a_moved_home_finds_its_bundles_in_its_own_folder(tmp_path):
    """Entries record absolute paths; a fairkit home copied or moved elsewhere finds each bundle
    by the longest tail of its recorded path under the log's folder (upgrade audit, finding 4).
    A path that still exists is read where it is; one found nowhere stays as recorded."""
    import shutil

    old = tmp_path / "old-home"
    (old / "exports").mkdir(parents=True)
    (old / "exports" / "b.zip").write_bytes(b"bundle")
    (old / "elsewhere.zip").write_bytes(b"other")
    log = AuditLog(old / "audit.sqlite")
    for name, path in (("m1", old / "exports" / "b.zip"), ("m2", tmp_path / "outside.zip"),
                       ("m3", old / "gone.zip")):
        record_export(log, bundle_path=path, manifest_sha256=name, record=_bundle_record(),
                      unfairness_axis="demographic_parity_difference", performance_axis="accuracy")
    (tmp_path / "outside.zip").write_bytes(b"kept outside")
    new = tmp_path / "new-home"
    shutil.copytree(old, new)
    shutil.rmtree(old)
    by_subject = {e["subject"]: e for e in export_entries(AuditLog(new / "audit.sqlite"))}
    assert by_subject["m1"]["bundle"] == str(new / "exports" / "b.zip")
    assert by_subject["m1"]["recorded_bundle"] == str((old / "exports" / "b.zip").resolve())
    assert by_subject["m2"]["bundle"] == str((tmp_path / "outside.zip").resolve())  # still there
    assert "recorded_bundle" not in by_subject["m2"]
    assert by_subject["m3"]["bundle"] == str((old / "gone.zip").resolve()) and "recorded_bundle" not in by_subject["m3"]


def test_selections_read_back_as_written(tmp_path):
    log = AuditLog(tmp_path / "a.sqlite")
    run = {"run_id": "r1", "method": "threshold", "eta": 1.0, "seed": 0,
           "needs_sensitive_at_predict": True}
    record_selection(log, actor="Ana", run=run, dataset="german", data_hash="h",
                     unfairness_axis="demographic_parity_difference", performance_axis="accuracy",
                     tolerance=None, unfairness_val=0.1, unfairness_test=0.12,
                     performance_val=0.7, performance_test=0.71, note="why")
    (sel,) = selection_entries(log).to_dict(orient="records")
    assert sel["actor"] == "Ana" and sel["method"] == "threshold" and sel["unfairness_test"] == 0.12
    assert sel["needs_sensitive_at_predict"] is True and sel["note"] == "why"
    assert log.entries(kind="selection").iloc[0]["subject"] == "r1"


# --------------------------------------------------------------------------- tampering with the file

def _rewrite_from(con, first_id, changes):
    """What a forger who can write the file does: change rows from ``first_id`` on and
    recompute every hash after them, so the chain alone is consistent again."""
    rows = con.execute("SELECT id, ts, actor, kind, subject, details FROM events ORDER BY id").fetchall()
    prev = GENESIS
    for id_, ts, actor, kind, subject, details in rows:
        if id_ >= first_id:
            details = changes.get(id_, details)
            digest = entry_hash(prev, ts, actor, kind, subject, details)
            con.execute("UPDATE events SET details = ?, prev_hash = ?, entry_hash = ? WHERE id = ?",
                        (details, prev, digest, id_))
        prev = con.execute("SELECT entry_hash FROM events WHERE id = ?", (id_,)).fetchone()[0]


def test_insert_or_replace_with_the_triggers_dropped_is_detected(tmp_path):
    log = _chained_log(tmp_path)
    con = _untriggered(log)
    ts, actor, subject, prev = con.execute(
        "SELECT ts, actor, subject, prev_hash FROM events WHERE id = 2").fetchone()
    forged = json.dumps({"text": "", "identity": {"verified_by": "Ethics board"}})
    # The attack: a comment becomes a sign-off, its own hash recomputed.
    con.execute("INSERT OR REPLACE INTO events (id, ts, actor, kind, subject, details, prev_hash, "
                "entry_hash) VALUES (2, ?, ?, 'signoff', ?, ?, ?, ?)",
                (ts, actor, subject, forged, prev,
                 entry_hash(prev, ts, actor, "signoff", subject, forged)))
    con.close()
    assert AuditLog(log.path).entries().iloc[1]["kind"] == "signoff"
    check = log.verify()
    assert not check.ok and check.broken_id == 3 and "before it" in check.problem


@pytest.mark.parametrize("where", ["last", "all", "first"])
def test_deletions_with_the_triggers_dropped_are_detected(tmp_path, where):
    log = _chained_log(tmp_path)
    con = _untriggered(log)
    con.execute({"last": "DELETE FROM events WHERE id = 4", "all": "DELETE FROM events",
                 "first": "DELETE FROM events WHERE id = 1"}[where])
    con.close()
    check = AuditLog(log.path).verify()
    assert not check.ok, str(check)
    assert check.broken_id == {"last": 4, "all": 1, "first": 2}[where]
    if where != "first":
        assert "removed from the end" in check.problem


def test_a_recomputed_chain_is_caught_by_a_signed_head_and_by_a_bundle_head(tmp_path):
    private = write_key_pair(tmp_path / "org.pem", tmp_path / "org.pub")
    public = load_public_key(tmp_path / "org.pub")
    log = _chained_log(tmp_path, n=2)
    anchor = chain_head(log)
    assert anchor[0] == 2
    log.append("signoff", actor="chair", subject="m", signing_key=private, text="")
    log.append("comment", actor="r3", subject="m", text="after")
    check = log.verify(public_key=public, anchors=[anchor])
    assert check.ok and check.signed_through == 3 and check.heads == 1, str(check)
    assert "through entry 3 (1 later" in str(check)

    con = _untriggered(log)
    _rewrite_from(con, 1, {1: json.dumps({"text": "rewritten"})})
    con.close()
    check = log.verify()  # the chain alone is consistent again; the signed head is not
    assert not check.ok and check.broken_id == 3 and "signed head" in check.problem
    # With the heads gone as well, the head a bundle recorded still catches the rewrite.
    con = _untriggered(log)
    con.execute("DELETE FROM heads")
    con.close()
    check = log.verify(anchors=[anchor])
    assert not check.ok and check.broken_id == 2 and "bundle" in check.problem
    # And with the key, the entry signed when written misses its signature.
    check = log.verify(public_key=public)
    assert not check.ok and check.broken_id == 3 and "signature was removed" in check.problem


def test_a_forged_head_and_an_unsigned_log_under_a_key(tmp_path):
    write_key_pair(tmp_path / "org.pem", tmp_path / "org.pub")
    public = load_public_key(tmp_path / "org.pub")
    mallory = write_key_pair(tmp_path / "m.pem", tmp_path / "m.pub")
    log = _chained_log(tmp_path, n=2)
    check = log.verify(public_key=public)
    assert check.ok and check.signed_through is None and "no entry carries a signature" in str(check)
    # A head claiming the organisation's key id, signed with another key.
    index, digest = chain_head(log)
    con = sqlite3.connect(log.path, isolation_level=None)
    con.execute("INSERT INTO heads (entry_id, entry_hash, key_id, signature) VALUES (?, ?, ?, ?)",
                (index, digest, key_id(public), sign(mallory, head_message(index, digest))))
    con.close()
    assert log.verify().ok  # without the key, the signature cannot be checked ...
    check = log.verify(public_key=public)  # ... with it, the forgery is named
    assert not check.ok and check.broken_id == 2 and "forged" in check.problem


def test_malformed_rows_are_skipped_and_reported(tmp_path):
    log = _chained_log(tmp_path, n=3)
    con = _untriggered(log)
    con.execute("UPDATE events SET details = 'not json' WHERE id = 2")
    con.execute("UPDATE events SET details = '[1, 2]', kind = 'export' WHERE id = 3")
    con.execute("INSERT INTO events (ts, actor, kind, subject, details) "
                "VALUES (x'00', 'x', 'comment', 'm', '{}')")
    con.close()
    entries = log.entries()
    assert list(entries["id"]) == [1]
    assert [s["id"] for s in entries.attrs["skipped"]] == [2, 3, 4]
    assert "not JSON" in entries.attrs["skipped"][0]["problem"] or "Expecting" in entries.attrs["skipped"][0]["problem"]
    assert [s["id"] for s in log.unreadable()] == [2, 3, 4]
    assert export_entries(log) == []  # the export row that cannot be read does not crash readers
    check = log.verify()
    assert not check.ok
    # The check reads the rows once and reports the same unreadable ones (the Review page shows
    # them from it instead of reading the whole log a second time).
    assert list(check.unreadable) == entries.attrs["skipped"]


def test_uploads_sweeps_and_scores_are_logged(tmp_path):
    log = AuditLog(tmp_path / "a.sqlite")
    record_upload(log, actor="Ana", name="/srv/uploads/loans.csv", data_hash="d1", rows=10,
                  columns=3, size_bytes=123)
    record_sweep(log, actor=command_line_user(), dataset="german", data_hash="d1",
                 methods=["regularized"], etas={"regularized": [0, 1]}, seeds=[0],
                 fairness="demographic_parity", runs=2, cached=0)
    record_score(log, actor="ci", manifest_sha256="m9", input_hash="i1", rows=5,
                 drift={"drifted": True, "checked": 4, "drift": [
                     {"attribute": "sex", "metric": "demographic_parity_difference",
                      "p_value": 0.001, "message": "..."}]})
    up, sw, sc = log.entries().itertuples()
    assert (up.kind, up.subject, up.details["name"], up.details["rows"]) == ("upload", "d1", "loans.csv", 10)
    assert sw.kind == "sweep" and sw.details["etas"] == {"regularized": [0.0, 1.0]}
    assert sw.actor.endswith("(command line)") and sw.details["identity"]["verified_by"] == SELF_DECLARED
    assert sc.subject == "m9" and sc.details["drift"]["drifted"] is True
    assert sc.details["drift"]["flags"][0]["metric"] == "demographic_parity_difference"
    assert log.verify().ok


# --------------------------------------------------------------------------- verdicts need a trusted bundle

@pytest.fixture(scope="module")
def bundle(tiny_split, fast_params, tmp_path_factory):
    from fairkit.export import DecisionRecord, export_bundle
    from fairkit.sweep import run_sweep

    folder = tmp_path_factory.mktemp("b")
    private = write_key_pair(folder / "org.pem", folder / "org.pub")
    res = run_sweep(tiny_split, ["unconstrained"], None, params=fast_params)
    row = res.results.iloc[0].to_dict()
    record = DecisionRecord(purpose="p", rationale="r", decider="Dr. D")
    out = export_bundle(folder / "b.zip", model=res.model(row["run_id"]), split=tiny_split,
                        run=row, record=record, frontier=res.results, n_boot=0, sign_key=private)
    return {**out, "keys": folder}


def test_the_decider_may_comment_on_their_decision_but_not_sign_it_off_or_dissent(tmp_path, bundle):
    """A review is someone else's: the record's decider (by name: case, spacing, punctuation and
    titles aside) or
    whoever exported the bundle is refused a sign-off or a dissent, in the engine, so the CLI and
    the dashboard alike; a comment is taken, and another reviewer's sign-off counts."""
    import shutil

    private = load_private_key(bundle["keys"] / "org.pem")
    public = load_public_key(bundle["keys"] / "org.pub")
    log = AuditLog(tmp_path / "a.sqlite")
    path = shutil.copy(bundle["path"], tmp_path / "b.zip")
    sha = bundle["manifest_sha256"]
    exporter = Identity(name="Analyst", email="a@example.org", issuer="https://sso.example.org")
    record_export(log, bundle_path=path, manifest_sha256=sha, record=bundle["record"], actor=exporter,
                  unfairness_axis="demographic_parity_difference", performance_axis="accuracy",
                  signing_key=private)
    keys_ = {"trust_key": public, "signing_key": private}
    for actor, kind in (("  dr.  d ", "signoff"), ("Dr. D", "dissent"), ("Dr D", "signoff"),
                        ("D", "dissent"), ("Prof. D.", "signoff"), (exporter, "signoff")):
        with pytest.raises(VerdictRefused, match="made this decision .* someone else"):
            record_verdict(log, kind, actor=actor, manifest_sha256=sha, bundle=path, text="no", **keys_)
    record_verdict(log, "comment", actor="Dr. D", manifest_sha256=sha, bundle=path, text="Ask me.", **keys_)
    record_verdict(log, "signoff", actor="Chair", manifest_sha256=sha, bundle=path, **keys_)
    assert verdict_tally(verdict_entries(log, sha))["text"] == (
        "1 sign-off, 0 dissents (1 comment); the verdict is under a self-declared name, which anyone "
        "with the dashboard can type (sign-in verifies names)")


def test_the_command_lines_exporter_cannot_sign_off_under_their_bare_account_name(tmp_path, bundle):
    """Committee audit, session 53: an export logged as "root (command line)" was signed off by
    a reviewer typing "root" (or "Root")."""
    import getpass

    log, path, sha, public, private = _exported(tmp_path, bundle, signed=False)
    record_export(log, bundle_path=path, manifest_sha256=sha, record=bundle["record"], actor=command_line_user(),
                  unfairness_axis="demographic_parity_difference", performance_axis="accuracy", signing_key=False)
    for name in (getpass.getuser(), getpass.getuser().upper()):
        with pytest.raises(VerdictRefused, match="made this decision"):
            record_verdict(log, "signoff", actor=name, manifest_sha256=sha, bundle=path)
    record_verdict(log, "signoff", actor="Someone Else", manifest_sha256=sha, bundle=path)


def test_a_typed_decider_name_does_not_silence_a_signed_in_reviewers_dissent(tmp_path, bundle):
    """Attack audit, session 43: an analyst exporting from the command line (or without sign-in)
    types anyone's name as the decider, e.g. the chair's, and the signed-in chair was refused a
    dissent. A typed name is anyone's claim: a signed-in reviewer it names may still dissent (which
    approves nothing), but not sign off; one whose sign-in is the exporter's stays refused both."""
    log, path, sha, public, private = _exported(tmp_path, bundle, signed=True)
    keys_ = {"trust_key": public, "signing_key": private}
    decider = bundle["record"]["decider"]
    named = Identity(decider, "chair@example.org", "https://sso.example.org", "chair-1")
    with pytest.raises(VerdictRefused, match="made this decision"):
        record_verdict(log, "signoff", actor=named, manifest_sha256=sha, bundle=path, **keys_)
    record_verdict(log, "dissent", actor=named, manifest_sha256=sha, bundle=path, text="Too wide.", **keys_)
    assert verdict_tally(verdict_entries(log, sha), log.verify(public_key=public))["dissents"] == 1
    with pytest.raises(VerdictRefused, match="made this decision"):  # typed, as the decider's own
        record_verdict(log, "dissent", actor=decider, manifest_sha256=sha, bundle=path, text="x", **keys_)
    # Exported under a sign-in: the same person by the provider's subject is refused both.
    exporter = Identity("Ana", "ana@example.org", "https://sso.example.org", "ana-1")
    record_export(log, bundle_path=path, manifest_sha256=sha, record=bundle["record"], actor=exporter,
                  unfairness_axis="demographic_parity_difference", performance_axis="accuracy",
                  signing_key=private)
    for kind in ("signoff", "dissent"):
        with pytest.raises(VerdictRefused, match="made this decision"):
            record_verdict(log, kind, actor=exporter, manifest_sha256=sha, bundle=path, text="x", **keys_)


def test_a_tally_counts_a_name_once_however_it_is_spelled_and_says_when_names_are_self_declared():
    """"Prof. Ada" and "Prof Ada" are one reviewer (her latest verdict counts); a name vouched for
    by sign-in and the same name typed are two; the status says which verdicts rest on typed
    names, and says nothing of it when none do."""
    def tally(rows):
        frame = pd.DataFrame(rows, columns=["kind", "actor", "verified_by"])
        return verdict_tally(frame)

    sso = "https://sso.example.org"
    typed = tally([("dissent", "Prof. Ada", SELF_DECLARED), ("signoff", "Dr. Bo", sso),
                   ("signoff", "prof ada", SELF_DECLARED), ("comment", "Cy", SELF_DECLARED)])
    assert (typed["signoffs"], typed["dissents"], typed["self_declared"]) == (2, 0, 1)
    assert typed["text"] == ("2 sign-offs, 0 dissents (1 comment); 1 of the 2 is under a self-declared "
                             "name, which anyone with the dashboard can type (sign-in verifies names)")
    both = tally([("signoff", "Ada", sso), ("dissent", "Ada", SELF_DECLARED)])
    assert (both["signoffs"], both["dissents"], both["self_declared"]) == (1, 1, 1)
    assert "1 of the 2 is under a self-declared name" in both["text"]
    all_typed = tally([("signoff", "Ada", SELF_DECLARED), ("dissent", "Bo", SELF_DECLARED)])
    assert "; all 2 are under self-declared names," in all_typed["text"]
    signed_in = tally([("signoff", "Ada", sso), ("dissent", "Bo", sso)])
    assert signed_in["text"] == "1 sign-off, 1 dissent" and signed_in["self_declared"] == 0
    assert tally([("comment", "Ada", SELF_DECLARED)])["text"] == "not reviewed yet (1 comment)"


@pytest.mark.parametrize("a, b, same", [
    ("Dr. Decider", "Dr Decider", True), ("Dr. Decider", "decider", True),
    ("  PROF.  Ada  Lovelace ", "Ada Lovelace", True), ("Ａｄａ", "ada", True),
    ("Ada Lovelace", "Ada", False), ("Ada", "Bo", False), ("Dr", "dr.", True)])
def test_names_are_compared_without_case_spacing_punctuation_or_titles(a, b, same):
    assert (name_key(a) == name_key(b)) is same


def test_a_verdict_is_recorded_only_on_a_bundle_that_passes_its_checks(tmp_path, bundle):
    import shutil
    import zipfile

    private = load_private_key(bundle["keys"] / "org.pem")
    public = load_public_key(bundle["keys"] / "org.pub")
    log = AuditLog(tmp_path / "a.sqlite")
    path = shutil.copy(bundle["path"], tmp_path / "b.zip")
    sha = bundle["manifest_sha256"]
    with pytest.raises(VerdictRefused, match="No export"):
        record_verdict(log, "signoff", actor="chair", manifest_sha256=sha, bundle=path)
    record_export(log, bundle_path=path, manifest_sha256=sha, record=bundle["record"],
                  unfairness_axis="demographic_parity_difference", performance_axis="accuracy",
                  signing_key=private)
    chair = Identity(name="Chair", email="chair@example.org", issuer="https://sso.example.org")
    entry = record_verdict(log, "signoff", actor=chair, manifest_sha256=sha, bundle=path,
                           trust_key=public, signing_key=private)
    e = log.entries(kind="signoff").iloc[0]
    assert e["id"] == entry and e["details"]["identity"]["verified_by"] == "https://sso.example.org"
    assert e["details"]["checked"]["bundle_file"] == "b.zip" and e["details"]["signed_by"] == key_id(public)
    assert e["details"]["checked"]["bundle_signature"].startswith("signed by the trusted key")
    # A bundle signed by another key than the one trusted is refused.
    write_key_pair(tmp_path / "other.pem", tmp_path / "other.pub")
    with pytest.raises(VerdictRefused, match="cannot be trusted"):
        record_verdict(log, "comment", actor="x", manifest_sha256=sha, bundle=path, text="t",
                       trust_key=load_public_key(tmp_path / "other.pub"), signing_key=False)
    check = log.verify(public_key=public)
    assert check.ok and check.signed_through == entry and check.heads == 2
    assert list(verdict_entries(log, sha)["verified_by"]) == ["https://sso.example.org"]

    # A changed member: refused, and nothing is written.
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members["decision_record.md"] += b"\nApproved by the board."
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(VerdictRefused, match="cannot be trusted"):
        record_verdict(log, "comment", actor="x", manifest_sha256=sha, bundle=path, text="t")
    assert len(log.entries()) == 2
    # A trusted bundle, but a log that fails its check: refused too.
    shutil.copy(bundle["path"], path)
    con = _untriggered(log)
    con.execute("DELETE FROM heads WHERE entry_id = 1")
    con.close()
    with pytest.raises(VerdictRefused, match="audit log"):
        record_verdict(log, "comment", actor="x", manifest_sha256=sha, bundle=path, text="t",
                       trust_key=public)
    assert len(log.entries()) == 2


# --------------------------------------------------------------------------- forged verdicts

def _exported(tmp_path, bundle, *, signed: bool):
    """A new log holding the bundle's export (signed with the organisation's key or not), the
    bundle's copy, its manifest hash and the key pair."""
    import shutil

    private = load_private_key(bundle["keys"] / "org.pem")
    public = load_public_key(bundle["keys"] / "org.pub")
    log = AuditLog(tmp_path / "a.sqlite")
    path = shutil.copy(bundle["path"], tmp_path / "b.zip")
    sha = bundle["manifest_sha256"]
    record_export(log, bundle_path=path, manifest_sha256=sha, record=bundle["record"],
                  unfairness_axis="demographic_parity_difference", performance_axis="accuracy",
                  signing_key=private if signed else False)
    return log, path, sha, public, private


def _signed_review(tmp_path, bundle):
    """A log with a signed export and a signed dissent, as the dashboard writes them."""
    log, path, sha, public, private = _exported(tmp_path, bundle, signed=True)
    sso = "https://sso.example.org"
    record_verdict(log, "dissent", actor=Identity("Dr. Dissent", "dd@example.org", sso, "1"),
                   manifest_sha256=sha, bundle=path, text="Too wide a gap.",
                   trust_key=public, signing_key=private)
    return log, path, sha, public, private


def test_a_dissent_is_signed_so_it_cannot_be_rewritten_into_a_sign_off(tmp_path, bundle):
    """The attack: with write access to the file, turn the dissent into a sign-off, recompute the
    chain after it and drop the signatures from there on. The key's check fails, and the tally
    read with that check counts no sign-off."""
    import json as json_

    log, path, sha, public, _ = _signed_review(tmp_path, bundle)
    (dissent,) = log.entries(kind="dissent").itertuples()
    assert dissent.details["signed_by"] == key_id(public)
    assert log.verify(public_key=public).signed_through == dissent.id
    con = sqlite3.connect(log.path, isolation_level=None)
    for (trigger,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        con.execute(f"DROP TRIGGER {trigger}")
    rows = con.execute("SELECT id, ts, actor, kind, subject, details FROM events ORDER BY id").fetchall()
    prev = GENESIS
    for id_, ts, actor, kind, subject, details in rows:
        d = json_.loads(details)
        if id_ >= dissent.id:
            d.pop("signed_by", None)
            kind = "signoff" if kind == "dissent" else kind
        details = json_.dumps(d, sort_keys=True)
        digest = entry_hash(prev, ts, actor, kind, subject, details)
        con.execute("UPDATE events SET kind=?, details=?, prev_hash=?, entry_hash=? WHERE id=?",
                    (kind, details, prev, digest, id_))
        prev = digest
    con.execute("DELETE FROM heads WHERE entry_id >= ?", (dissent.id,))
    con.close()
    check = AuditLog(log.path).verify(public_key=public)
    assert not check.ok and check.broken_id == dissent.id and not check.altered
    assert "is a sign-off that key" in str(check) and "never signed" in str(check)
    tally = verdict_tally(verdict_entries(AuditLog(log.path), sha), check)
    assert (tally["signoffs"], tally["uncounted"]) == (0, 1)
    assert "the audit log fails its check, so 1 sign-off(s) are not counted (" in tally["text"]


def test_a_log_that_fails_its_check_has_no_verdict_counted_however_it_fails(tmp_path, bundle):
    """Committee audit, session 53: Carol's signed dissent rewritten into a sign-off (the chain
    recomputed, the heads kept) failed the check at a signed head, and the Review page and its
    record still counted "3 sign-offs, 0 dissents": that failure carries no key, and without a
    key every verdict was vouched for. A failing check now vouches for no sign-off (a dissent
    still counts: an objection is not dropped), and score reads the same tally."""
    import json as json_

    log, path, sha, public, private = _signed_review(tmp_path, bundle)
    record_verdict(log, "signoff", actor="Bob", manifest_sha256=sha, bundle=path, trust_key=public,
                   signing_key=private)
    (dissent,) = log.entries(kind="dissent").itertuples()
    con = _untriggered(log)
    rows = con.execute("SELECT id, ts, actor, kind, subject, details FROM events ORDER BY id").fetchall()
    prev = GENESIS
    for id_, ts, actor, kind, subject, details in rows:
        kind = "signoff" if id_ == dissent.id else kind
        digest = entry_hash(prev, ts, actor, kind, subject, details)
        con.execute("UPDATE events SET kind=?, prev_hash=?, entry_hash=? WHERE id=?", (kind, prev, digest, id_))
        prev = digest
    con.close()
    for key in (public, None):
        check = AuditLog(log.path).verify(public_key=key)
        assert not check.ok and check.broken_id == dissent.id
        tally = verdict_tally(verdict_entries(AuditLog(log.path), sha), check)
        assert (tally["signoffs"], tally["dissents"], tally["uncounted"]) == (0, 0, 2), tally
        assert tally["text"].startswith("0 sign-offs, 0 dissents; ")
        assert tally["text"].endswith(f"; the audit log fails its check, so 2 sign-off(s) are not counted "
                                      f"({str(check).rstrip('.')})")
        assert review_status(AuditLog(log.path), sha, key).endswith("review: " + tally["text"])


def test_a_failing_log_is_said_in_the_status_even_when_no_sign_off_is_dropped(tmp_path, bundle):
    """Review of session 53: a dissent rewritten into a comment read "not reviewed yet (1
    comment)" in score's status, with no word that the log fails its check."""
    log, path, sha, public, private = _signed_review(tmp_path, bundle)
    con = _untriggered(log)
    con.execute("UPDATE events SET kind = 'comment' WHERE kind = 'dissent'")
    con.close()
    check = AuditLog(log.path).verify()
    assert not check.ok
    said = review_status(AuditLog(log.path), sha)
    assert said.endswith(f"review: not reviewed yet (1 comment); the audit log fails its check ({str(check).rstrip('.')})")


def test_a_verdict_the_trusted_key_did_not_sign_is_refused_and_never_counted(tmp_path, bundle):
    """record_verdict refuses a sign-off it cannot sign with the trusted key; one appended
    anyway (by someone without the key, claiming a sign-in) fails the key's check and is left
    out of the tally, whatever identity it claims."""
    log, path, sha, public, private = _signed_review(tmp_path, bundle)
    forged = Identity("Prof. Chair", "chair@example.org", "https://sso.example.org", "forged")
    with pytest.raises(VerdictRefused, match=f"must be signed with the organisation's key {key_id(public)}"):
        record_verdict(log, "signoff", actor=forged, manifest_sha256=sha, bundle=path,
                       trust_key=public, signing_key=False)
    other = write_key_pair(tmp_path / "other.pem", tmp_path / "other.pub")
    with pytest.raises(VerdictRefused, match="the signing key given is"):
        record_verdict(log, "signoff", actor=forged, manifest_sha256=sha, bundle=path,
                       trust_key=public, signing_key=other)
    # A comment needs no signature; it counts for nothing.
    record_verdict(log, "comment", actor=forged, manifest_sha256=sha, bundle=path, text="Hm.",
                   trust_key=public, signing_key=False)
    assert log.verify(public_key=public).ok
    log.append("signoff", actor=forged, subject=sha, text="")  # written around record_verdict
    check = log.verify(public_key=public)
    assert not check.ok and "never signed" in check.problem
    tally = verdict_tally(verdict_entries(log, sha), check)
    assert (tally["signoffs"], tally["dissents"], tally["uncounted"]) == (0, 1, 1)
    # Without a key nothing can tell them apart: the tally says the names are only claims then.
    assert verdict_tally(verdict_entries(log, sha))["signoffs"] == 1


def test_a_verdict_written_without_the_key_is_not_vouched_for_by_a_later_signature(tmp_path, bundle):
    """The attack (session 43): someone who can write the file but holds no key appends a sign-off
    under a reviewer's sign-in, and one under the dissenter's own identity; the next signed export,
    anyone's, signs a head over them. A head covered the chain up to it, so the check passed and
    the tally counted both, turning a signed dissent into a sign-off. A verdict now needs a head
    of its own: the check fails at the forged one, and neither is counted, before or after."""
    log, path, sha, public, private = _signed_review(tmp_path, bundle)
    chair = Identity("Prof. Chair", "chair@example.org", "https://sso.example.org", "chair")
    forged = log.append("signoff", actor=chair, subject=sha, text="Approved.")
    dissenter = Identity("Dr. Dissent", "dd@example.org", "https://sso.example.org", "1")
    log.append("signoff", actor=dissenter, subject=sha, text="")  # overturning the signed dissent
    record_export(log, bundle_path=path, manifest_sha256=sha, record=bundle["record"], actor="Analyst",
                  unfairness_axis="demographic_parity_difference", performance_axis="accuracy",
                  signing_key=private)  # a legitimate, signed export after them
    check = log.verify(public_key=public)
    assert check.signed_through > forged  # a signed head now follows the forged entries
    # The chain is sound, so the check passes (a failing log stops every later verdict: a keyless
    # session's verdict would have stopped the committee for good), but they are named and not counted.
    assert check.ok and check.unsigned_verdicts == (forged, forged + 1)
    assert f"2 sign-off(s) carry no signature of their own (entries {forged}, {forged + 1}" in str(check)
    tally = verdict_tally(verdict_entries(log, sha), check)
    assert (tally["signoffs"], tally["dissents"], tally["uncounted"]) == (0, 1, 2)
    # Before a signed entry follows them, the check fails as before: nothing covers the tail.
    log.append("signoff", actor=chair, subject=sha, text="")
    assert not log.verify(public_key=public).ok


def test_a_dissent_an_earlier_fairkit_wrote_unsigned_still_counts_and_fails_no_check(tmp_path, bundle):
    """Upgrade audit, session 48: a fairkit before 2026-12-06 signed exports and sign-offs but not
    dissents. After the upgrade, the check with the organisation's key failed at a committee
    member's dissent ("never signed ... record it again"), which stopped every later verdict, and
    the tally read "1 sign-off, 0 dissents". A dissent without a signature of its own now counts
    and is named; a sign-off without one still fails the check, so the dissent cannot be rewritten
    into one."""
    import json as json_

    log, path, sha, public, private = _signed_review(tmp_path, bundle)
    old_style = log.append("dissent", actor=Identity("Dr. Old", "old@example.org", "https://sso.example.org", "o"),
                           subject=sha, text="Written by fairkit of 2026-12-05.")  # no signing key
    check = log.verify(public_key=public)
    assert check.ok and check.unsigned_verdicts == (old_style,), str(check)
    assert f"1 dissent(s) carry no signature of their own (entries {old_style}" in str(check)
    assert "are counted all the same" in str(check)
    tally = verdict_tally(verdict_entries(log, sha), check)
    assert (tally["dissents"], tally["uncounted"]) == (2, 0), tally
    # Rewritten into a sign-off (the chain recomputed after it), the check fails at it.
    con = sqlite3.connect(log.path, isolation_level=None)
    for (trigger,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        con.execute(f"DROP TRIGGER {trigger}")
    ts, actor, subject, details, prev = con.execute(
        "SELECT ts, actor, subject, details, prev_hash FROM events WHERE id = ?", (old_style,)).fetchone()
    con.execute("UPDATE events SET kind = 'signoff', entry_hash = ? WHERE id = ?",
                (entry_hash(prev, ts, actor, "signoff", subject, details), old_style))
    con.close()
    rewritten = AuditLog(log.path).verify(public_key=public)
    assert not rewritten.ok and rewritten.broken_id == old_style and "is a sign-off that key" in str(rewritten)
    assert json_.loads(details)["text"]


def test_verdicts_from_before_the_key_count_under_its_first_signature(tmp_path, bundle):
    """A log that adopted the organisation's key later: its earlier verdicts (no head, no key then)
    are vouched for by the key's first signature, as before; later ones need their own."""
    log, path, sha, public, private = _exported(tmp_path, bundle, signed=False)
    record_verdict(log, "signoff", actor="Grace", manifest_sha256=sha, bundle=path, signing_key=False)
    record_export(log, bundle_path=path, manifest_sha256=sha, record=bundle["record"], actor="Analyst",
                  unfairness_axis="demographic_parity_difference", performance_axis="accuracy",
                  signing_key=private)  # the key's first signature
    check = log.verify(public_key=public)
    assert check.ok, check
    assert verdict_tally(verdict_entries(log, sha), check)["signoffs"] == 1


@pytest.mark.parametrize("name, why", [
    ("Alice\u200b", "invisible characters (U+200B)"), ("Carol\u2060", "invisible characters (U+2060)"),
    ("\u0410lice", "mixes letters of several alphabets (Cyrillic, Latin)"),
])
def test_a_name_that_looks_like_another_is_refused(tmp_path, bundle, name, why):
    log, path, sha, _, _ = _exported(tmp_path, bundle, signed=False)
    with pytest.raises(VerdictRefused, match=re.escape(why)):
        record_verdict(log, "signoff", actor=name, manifest_sha256=sha, bundle=path,
                       trust_key=False, signing_key=False)
    for fine in ("Алиса", "山田たろう", "José Núñez", "O'Brien"):
        record_verdict(log, "comment", actor=fine, manifest_sha256=sha, bundle=path, text="ok",
                       trust_key=False, signing_key=False)


def test_signed_in_people_are_told_apart_by_the_providers_subject_not_their_names(tmp_path, bundle):
    """Two signed-in reviewers who share a display name are two reviewers; the decider is the
    exporter's verified identity, so a name the exporter typed (a committee member's) does not
    bar that member; and a provider's name is not refused for its characters (the person cannot
    retype it; the subject tells them apart)."""
    import shutil

    private = load_private_key(bundle["keys"] / "org.pem")
    public = load_public_key(bundle["keys"] / "org.pub")
    log = AuditLog(tmp_path / "a.sqlite")
    path = shutil.copy(bundle["path"], tmp_path / "b.zip")
    sha = bundle["manifest_sha256"]
    sso = "https://sso.example.org"
    exporter = Identity(name="Analyst", email="a@example.org", issuer=sso, subject="analyst")
    record_export(log, bundle_path=path, manifest_sha256=sha, record=bundle["record"], actor=exporter,
                  unfairness_axis="demographic_parity_difference", performance_axis="accuracy",
                  signing_key=private)
    keys_ = {"trust_key": public, "signing_key": private}
    # The record's typed decider is "Dr. D"; the verified Dr. D is another person than the exporter.
    record_verdict(log, "signoff", actor=Identity(name="Dr. D", issuer=sso, subject="drd"),
                   manifest_sha256=sha, bundle=path, **keys_)
    with pytest.raises(VerdictRefused, match="made this decision"):
        record_verdict(log, "signoff", actor=Identity(name="Someone Else", issuer=sso, subject="analyst"),
                       manifest_sha256=sha, bundle=path, **keys_)
    for subject in ("twin1", "twin2"):
        record_verdict(log, "signoff", actor=Identity(name="Sam Same", issuer=sso, subject=subject),
                       manifest_sha256=sha, bundle=path, **keys_)
    # Mixed Latin and Cyrillic letters in one word: refused when typed, taken from a provider.
    mixed = "Ivan Pеtrov"  # the 'е' is Cyrillic
    with pytest.raises(VerdictRefused):
        record_verdict(log, "comment", actor=mixed, manifest_sha256=sha, bundle=path, text="x", **keys_)
    record_verdict(log, "signoff", actor=Identity(name=mixed, issuer=sso, subject="ivan"),
                   manifest_sha256=sha, bundle=path, **keys_)
    tally = verdict_tally(verdict_entries(log, sha), log.verify(public_key=public))
    assert (tally["signoffs"], tally["self_declared"]) == (4, 0), tally


def test_the_decider_under_another_account_is_refused_and_each_verdict_shows_its_account(tmp_path, bundle, capsys):
    """Sign-in audit, session 48: people were told apart by the provider's subject alone, and
    shown by the name their provider let them set. The decider, signed in again through the
    provider's new address (a migration) or a second account with the same verified e-mail,
    signed off their own decision; a display name of "Ana Reviewer <ana@...>" read as Ana's
    verdict. The decider is refused under any account with their address, and each verdict shows
    the account it was verified as. The tally counts accounts, not addresses: joined by an
    address, one forged comment merged an attacker with a reviewer, whose signed dissent the
    attacker's later sign-off then replaced (the session's review)."""
    import shutil

    from fairkit.__main__ import main

    log = AuditLog(tmp_path / "a.sqlite")
    path = shutil.copy(bundle["path"], tmp_path / "b.zip")
    sha = bundle["manifest_sha256"]
    old, new = "http://127.0.0.1:8620", "http://localhost:8620"
    dan = Identity(name="Dan Decider", email="dan@example.org", issuer=old, subject="dan")
    record_export(log, bundle_path=path, manifest_sha256=sha, record=bundle["record"], actor=dan,
                  unfairness_axis="demographic_parity_difference", performance_axis="accuracy", signing_key=False)
    kw = {"manifest_sha256": sha, "bundle": path, "trust_key": False, "signing_key": False}
    for again in (Identity(name="Dan Decider", email="dan@example.org", issuer=new, subject="dan"),
                  Identity(name="D. D.", email="Dan@Example.org", issuer=old, subject="dan-2")):
        with pytest.raises(VerdictRefused, match="made this decision"):
            record_verdict(log, "signoff", actor=again, **kw)
    ana = Identity(name="Ana Reviewer", email="ana@example.org", issuer=old, subject="ana")
    record_verdict(log, "dissent", actor=ana, text="Not fair enough.", **kw)
    # An attacker's account that claims Ana's address, a comment, then a sign-off: two people.
    mallory = Identity(name="M", email="ANA@example.org", issuer=old, subject="mallory")
    record_verdict(log, "comment", actor=mallory, text="hm", **kw)
    record_verdict(log, "signoff", actor=mallory, **kw)
    eve = Identity(name="Ana Reviewer <ana.reviewer@example.org>", issuer=old, subject="eve")
    record_verdict(log, "signoff", actor=eve, **kw)
    verdicts = verdict_entries(log, sha)
    tally = verdict_tally(verdicts)
    assert (tally["signoffs"], tally["dissents"]) == (2, 1), tally  # Ana's dissent stands
    assert list(verdicts["vouched"]) == [f"verified by {old} as ana@example.org", f"verified by {old} as ANA@example.org",
                                         f"verified by {old} as ANA@example.org", f"verified by {old} as account eve"]
    assert main(["audit", "--audit", str(log.path), "list", "--kind", "signoff"]) == 0
    assert f"(verified by {old} as account eve)" in capsys.readouterr().out


def test_entries_slipped_in_before_the_chain_are_refused_and_never_counted(tmp_path, bundle):
    """Someone who can write the file but has no key inserts sign-offs with ids below 1 and no
    hash: sorted before the chain, they passed for entries from before it, and the tally counted
    them as signed. Ids below 1 fail the check; entries before the chain are never counted
    under a key (no signature covers them)."""
    import json as json_
    import shutil

    private = load_private_key(bundle["keys"] / "org.pem")
    public = load_public_key(bundle["keys"] / "org.pub")
    log = AuditLog(tmp_path / "a.sqlite")
    path = shutil.copy(bundle["path"], tmp_path / "b.zip")
    sha = bundle["manifest_sha256"]
    record_export(log, bundle_path=path, manifest_sha256=sha, record=bundle["record"], actor="Analyst",
                  unfairness_axis="demographic_parity_difference", performance_axis="accuracy",
                  signing_key=private)
    con = sqlite3.connect(log.path)
    identity = {"name": "Grace", "issuer": "https://sso.example.org", "subject": "grace",
                "verified_by": "https://sso.example.org"}
    con.execute("INSERT INTO events (id, ts, actor, kind, subject, details) VALUES (?, ?, ?, ?, ?, ?)",
                (-1, "2026-12-06T05:00:00.000+00:00", "Grace", "signoff", sha,
                 json_.dumps({"text": "", "identity": identity, "signed_by": key_id(private)})))
    con.commit()
    con.close()
    check = log.verify(public_key=public)
    assert not check.ok and check.broken_id == -1 and "inserted outside fairkit" in str(check)
    assert verdict_tally(verdict_entries(log, sha), check)["signoffs"] == 0
    # Under a key only entries in the chain with a signed head count; with no key, all.
    table = pd.DataFrame({"id": [1, 2, 3, 4], "kind": ["signoff"] * 3 + ["comment"]})
    signed = ChainCheck(True, 4, 1, key_id="k", signed_through=2, first_chained=2, checked_through=4,
                        signed_ids=frozenset({2}))
    assert checked_verdicts(table, signed)["unsigned"].tolist() == [True, False, True, False]
    unkeyed = ChainCheck(True, 4, 1, first_chained=2, checked_through=3)
    assert checked_verdicts(table, unkeyed)["unsigned"].tolist() == [False, False, False]


def test_a_file_with_sqlite_objects_a_log_does_not_have_is_refused_unread(tmp_path):
    """A view named events (an endless recursive query hung `audit verify`) or a trigger named
    like the log's own with other SQL: refused before anything is read or written."""
    endless = tmp_path / "view.sqlite"
    con = sqlite3.connect(endless)
    con.execute("CREATE VIEW events AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
                "SELECT i AS id, '' AS ts, '' AS actor, '' AS kind, '' AS subject, '' AS details, "
                "NULL AS prev_hash, NULL AS entry_hash FROM n")
    con.commit()
    con.close()
    before = endless.read_bytes()
    with pytest.raises(AuditLogError, match=r"objects a fairkit audit log does not have \(events\)"):
        AuditLog(endless)
    assert endless.read_bytes() == before and not (tmp_path / "view.sqlite-wal").exists()
    # A real log whose trigger was swapped for another with the same name.
    swapped = tmp_path / "swapped.sqlite"
    AuditLog(swapped).append("comment", actor="a", text="x")
    con = sqlite3.connect(swapped)
    con.execute("DROP TRIGGER events_no_update")
    con.execute("CREATE TRIGGER events_no_update AFTER INSERT ON events BEGIN SELECT 1; END")
    con.commit()
    con.close()
    with pytest.raises(AuditLogError, match="events_no_update"):
        AuditLog(swapped)
    # Dropped triggers alone are the log's own objects missing: it opens (and verify judges it).
    dropped = tmp_path / "dropped.sqlite"
    AuditLog(dropped).append("comment", actor="a", text="x")
    con = sqlite3.connect(dropped)
    con.execute("DROP TRIGGER events_no_delete")
    con.commit()
    con.close()
    assert AuditLog(dropped).verify().ok


def test_sqlite_problems_are_told_apart():
    """Interruption audit, finding 3: a full disk, a read-only folder and a damaged file each get
    their own message; only a file that is not a log is told to start a new one, and an
    unwritable one is told not to (a new log begins a new hash chain)."""
    from fairkit.audit import sqlite_problem

    full = sqlite_problem("a.sqlite", sqlite3.OperationalError("database or disk is full"))
    assert "the disk is full" in full and "Free some space" in full and "new file" not in full
    ro = sqlite_problem("a.sqlite", sqlite3.OperationalError("attempt to write a readonly database"))
    assert "cannot be opened for writing" in ro and "Do not start a new log" in ro
    bad = sqlite_problem("a.sqlite", sqlite3.DatabaseError("database disk image is malformed"))
    assert "damaged" in bad and "Restore it from a copy" in bad



def test_a_damaged_log_is_named_damaged_and_never_appended_to(tmp_path):
    """Interruption audit, finding 4: a log cut short was appended to, and verify called the
    damage an insertion "at entry 0". SQLite's own check now names it damage, with the remedy,
    and no writer adds to it."""
    import os

    from fairkit.audit import AuditLogError

    path = tmp_path / "a.sqlite"
    log = AuditLog(path)
    for i in range(300):
        log.append("comment", actor=f"r{i}", subject="m", text="x" * 200)
    assert log.damage() is None and log.verify().ok
    os.truncate(path, path.stat().st_size - 1000)
    before = path.read_bytes()
    damaged = AuditLog(path)
    check = damaged.verify()
    assert not check.ok and "the file is damaged (SQLite's check:" in str(check) and "restore the log" in str(check)
    assert "entry 0" not in str(check) and "inserted outside fairkit" not in str(check)
    with pytest.raises(AuditLogError, match="is damaged .* nothing was written to it. Restore it from a copy"):
        damaged.append("comment", actor="z", subject="m", text="y")
    assert path.read_bytes() == before


def _three_comments(path, n=3):
    log = AuditLog(path)
    for i in range(n):
        log.append("comment", actor="ana", subject=f"run-{i}", text="looks fine")
    return log


def test_a_log_opened_read_only_is_listed_and_verified_and_never_written(tmp_path):
    path = tmp_path / "audit.sqlite"
    _three_comments(path)
    before = path.read_bytes()
    log = AuditLog(path, read_only=True)
    assert list(log.entries()["subject"]) == ["run-0", "run-1", "run-2"]
    assert log.verify().ok and log.damage() is None
    with pytest.raises(AuditLogError, match="opened read-only; nothing was written"):
        log.append("comment", actor="ana", subject="run-3", text="x")
    assert path.read_bytes() == before
    with pytest.raises(AuditLogError, match="No audit log at"):
        AuditLog(tmp_path / "none.sqlite", read_only=True)
    assert not (tmp_path / "none.sqlite").exists()
    # A log from before the hash chain cannot be brought up to date read-only: say what to do.
    old = tmp_path / "old.sqlite"
    con = sqlite3.connect(old)
    con.execute("CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT, actor TEXT, kind TEXT, "
                "subject TEXT, details TEXT)")
    con.commit()
    con.close()
    with pytest.raises(AuditLogError, match="Copy it to a writable folder"):
        AuditLog(old, read_only=True)


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder on a read-only file system: a read-only bind mount where this machine allows one
    (root in a container; a file's permissions do not stop root), else a folder without write
    permission (not root)."""
    import os
    import shutil
    import subprocess

    src, mnt = tmp_path / "src", tmp_path / "mnt"
    src.mkdir()
    mnt.mkdir()
    if os.geteuid() != 0:
        yield src, src
        src.chmod(0o755)
        return
    mount = shutil.which("mount")
    ok = mount and subprocess.run([mount, "--bind", str(src), str(mnt)], capture_output=True).returncode == 0
    if ok and subprocess.run([mount, "-o", "remount,ro,bind", str(mnt)], capture_output=True).returncode != 0:
        subprocess.run(["umount", str(mnt)], capture_output=True)
        ok = False
    if not ok:
        pytest.skip("root without a read-only mount: no way here to make a folder read-only")
    try:
        yield src, mnt
    finally:
        # Lazily if a handle is still open: a mount left behind outlives the test session.
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_audit_lists_and_verifies_a_log_on_read_only_media(read_only_folder, capsys):
    """Interruption audit: an archived log on read-only media could not be listed or verified
    ("cannot be opened for writing", exit 2): `fairkit audit` only reads it now."""
    from fairkit.__main__ import main

    src, ro = read_only_folder
    _three_comments(src / "audit.sqlite")
    if ro == src:
        src.chmod(0o555)
        (src / "audit.sqlite").chmod(0o444)
    assert main(["audit", "--audit", str(ro / "audit.sqlite"), "list"]) == 0
    out = capsys.readouterr().out
    assert out.count("comment") == 3 and "unbroken hash chain" in out
    assert main(["audit", "--audit", str(ro / "audit.sqlite"), "verify"]) == 0
    assert not [p.name for p in ro.iterdir() if p.name != "audit.sqlite"]  # nothing made beside it


def test_a_log_copied_with_entries_still_in_its_write_ahead_file_is_refused_on_read_only_media(
        read_only_folder, tmp_path, capsys):
    """Read as immutable (read-only media), SQLite ignores the write-ahead file: a log copied
    while fairkit was writing listed 0 entries and verified as an unbroken chain. It is refused,
    saying what to do."""
    import shutil

    from fairkit.__main__ import main

    src, ro = read_only_folder
    live = tmp_path / "live.sqlite"
    log = AuditLog(live)
    reader = sqlite3.connect(live)  # a reader holding a snapshot keeps the entries in the WAL
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM events").fetchone()
    for i in range(3):
        log.append("comment", actor="ana", subject=f"run-{i}", text="x")
    for suffix in ("", "-wal"):
        shutil.copy(f"{live}{suffix}", src / f"audit.sqlite{suffix}")
    reader.rollback()
    reader.close()
    assert (src / "audit.sqlite-wal").stat().st_size > 0
    if ro == src:
        src.chmod(0o555)
    assert main(["audit", "--audit", str(ro / "audit.sqlite"), "list"]) == 2
    err = capsys.readouterr().err
    assert "write-ahead file (audit.sqlite-wal)" in err and "writable folder" in err


def test_a_log_from_before_signed_heads_is_listed_checked_and_backed_up_unchanged(tmp_path, capsys):
    """Upgrade audit, session 48: a log an earlier fairkit wrote has no ``heads`` table (it came
    with signing). Read-only commands said "SQLite: no such table: heads ... Check the file and
    its folder", and only a writing command made it readable, so ``audit backup``, run before
    touching a log, could not run first. It reads as a log with no signed head, and is not
    written."""
    import hashlib

    from fairkit.__main__ import main

    path = tmp_path / "audit.sqlite"
    log = AuditLog(path)
    for i in range(2):
        log.append("comment", actor="ana", subject=f"run-{i}", text="x")
    con = sqlite3.connect(path, isolation_level=None)
    for trigger in ("heads_no_update", "heads_no_delete", "heads_no_replace"):
        con.execute(f"DROP TRIGGER {trigger}")
    con.execute("DROP TABLE heads")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    assert main(["audit", "--audit", str(path), "list"]) == 0
    assert main(["audit", "--audit", str(path), "verify"]) == 0
    assert "unbroken hash chain; no entry is signed" in capsys.readouterr().out
    assert main(["audit", "--audit", str(path), "backup", "--out", str(tmp_path / "copy.sqlite")]) == 0
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert len(AuditLog(tmp_path / "copy.sqlite", read_only=True).entries()) == 2


def test_fairkit_audit_still_brings_a_writable_log_from_before_the_chain_up_to_date(tmp_path, capsys):
    """Review of session 41: opened read-only whenever it existed, a log from before the hash chain
    (and an empty log file) was refused even in a writable folder. Read-only is for a log this
    user cannot write."""
    from fairkit.__main__ import main

    old = tmp_path / "old.sqlite"
    _old_log(old)
    assert main(["audit", "--audit", str(old), "verify"]) == 0
    assert "predate the hash chain" in capsys.readouterr().out
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    assert main(["audit", "--audit", str(empty), "verify"]) == 0
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(("-shm", "-wal"))]


def test_a_log_being_written_elsewhere_is_not_read_as_immutable(read_only_folder, capsys):
    """Review of session 41: from a read-only view of a log that another process was writing, an
    immutable read gave false alarms ("entries removed from the end", "damaged") in about 3 % of
    checks. While SQLite's shared-memory file is beside it, such a read is refused."""
    from fairkit.__main__ import main

    src, ro = read_only_folder
    _three_comments(src / "audit.sqlite")
    (src / "audit.sqlite-shm").write_bytes(b"\0" * 32768)  # what a writer holding the log open keeps
    if ro == src:
        src.chmod(0o555)
    assert main(["audit", "--audit", str(ro / "audit.sqlite"), "verify"]) == 2
    assert "open for writing elsewhere" in capsys.readouterr().err


def test_fairkit_audit_names_each_unreadable_row_once_from_its_check(tmp_path, capsys):
    from fairkit.__main__ import main

    log = _chained_log(tmp_path, n=3)
    con = _untriggered(log)
    con.execute("UPDATE events SET details = 'not json' WHERE id = 2")
    con.close()
    for action in (["list"], ["list", "--kind", "comment"], ["verify"]):
        main(["audit", "--audit", str(log.path), *action])
        err = capsys.readouterr().err
        assert err.count("#2  cannot be read") == 1, (action, err)


def test_a_cancelled_sweep_is_listed_as_cancelled(tmp_path, capsys):
    """A dashboard sweep or search cancelled part-way logs the runs it finished (they can be
    exported); the command line's list says the entry is of a cancelled one."""
    from fairkit.__main__ import main
    from fairkit.audit import record_sweep

    log = AuditLog(tmp_path / "audit.sqlite")
    record_sweep(log, actor="ada", dataset="german", data_hash="abc", methods=["regularized"], etas=[0.0, 1.0],
                 seeds=[0], fairness="demographic_parity", runs=2, cached=0, cancelled=True)
    record_sweep(log, actor="ada", dataset="german", data_hash="abc", methods=["regularized"], etas=[0.0, 1.0],
                 seeds=[0], fairness="demographic_parity", runs=4, cached=2)
    assert main(["audit", "--audit", str(tmp_path / "audit.sqlite"), "list"]) == 0
    first, second = capsys.readouterr().out.splitlines()[:2]
    assert first.endswith("(cancelled: the 2 run(s) it finished)") and "cancelled" not in second
    assert "stopped" not in log.entries(kind="sweep").iloc[1]["details"]


def test_an_export_without_the_key_is_named_after_the_next_signed_export_and_a_rotation_does_not_launder(
        tmp_path, bundle):
    """Lifecycle audit, session 45: an export made without the organisation's key (or with
    another) failed the key's check until the next signed export, which then covered it unnamed;
    after a key rotation, a sign-off recorded in the old key's time without any signature counted
    under the new key (the Review page tallied it)."""
    log, path, sha, public, private = _exported(tmp_path, bundle, signed=True)
    export = dict(bundle_path=path, manifest_sha256=sha, record=bundle["record"],
                  unfairness_axis="demographic_parity_difference", performance_axis="accuracy")
    bare = record_export(log, **export, signing_key=False)
    other = write_key_pair(tmp_path / "other.pem", tmp_path / "other.pub")
    foreign = record_export(log, **export, signing_key=other)
    record_export(log, **export, signing_key=private)  # the organisation's next export
    check = log.verify(public_key=public)
    assert check.ok and check.unsigned_exports == (bare, foreign)
    assert f"1 export(s) carry no signature of their own (entries {bare}:" in str(check)
    assert f"1 export(s) carry the signature of another key (entries {foreign} (key {key_id(other)})" in str(check)
    assert not check.vouches_for(bare, "export") and check.vouches_for(1, "export")
    # A sign-off written where no key was configured, in the first key's time; then a rotation:
    # the new key signs from here on. Under the new key the sign-off is not vouched for.
    mallory = log.append("signoff", actor="Mallory", subject=sha, text="")
    new_private = write_key_pair(tmp_path / "new.pem", tmp_path / "new.pub")
    record_export(log, **export, signing_key=new_private)
    rotated = log.verify(public_key=load_public_key(tmp_path / "new.pub"))
    assert rotated.ok and mallory in rotated.unsigned_verdicts
    tally = verdict_tally(verdict_entries(log, sha), rotated)
    assert (tally["signoffs"], tally["uncounted"]) == (0, 1)
    # The first key's own signed export is named as another key's under the new key, not as unsigned.
    assert rotated.other_keys.get(1) == key_id(public)


def test_a_key_handover_keeps_the_old_keys_decisions_and_retires_the_old_key(tmp_path, bundle):
    """Lifecycle audit, session 45 (F8): with one trusted key, a key rotation made every bundle
    signed before it read "cannot be trusted ... Do not deploy it" and every earlier sign-off stop
    counting, while the old key could go on signing. A hand-over recorded in the log (signed by
    both keys) links them: either key's check trusts the other's signatures on its side of the
    hand-over, and the old key signs nothing after it."""
    import dataclasses

    from fairkit.audit import check_for_review, record_handover
    from fairkit.export import BundleIntegrityError, read_bundle_record

    log, path, sha, old_public, old = _signed_review(tmp_path, bundle)
    new = write_key_pair(tmp_path / "new.pem", tmp_path / "new.pub")
    new_public = load_public_key(tmp_path / "new.pub")
    # Before the hand-over the new key's check trusts neither the old bundle nor the dissent's
    # signature (the dissent counts all the same: an objection is not dropped).
    with pytest.raises(BundleIntegrityError, match="not by the trusted key"):
        read_bundle_record(path, trusted_key=log.key_ring(new_public))
    before = log.verify(public_key=new_public)
    assert not before.ok  # the old key's export: never signed by the new key
    assert verdict_tally(verdict_entries(log, sha), before)["dissents"] == 1

    at = record_handover(log, actor="Key officer", old_key=old, new_key=new)
    for trusted in (new_public, old_public):  # either key's check trusts the other's side
        check = log.verify(public_key=trusted)
        assert check.ok and check.handed_over == {key_id(old): at}, str(check)
        assert check.active_keys == {key_id(new)}
        assert f"key {key_id(old)} handed over at entry {at}" in str(check)
        tally = verdict_tally(verdict_entries(log, sha), check)
        assert (tally["dissents"], tally["uncounted"]) == (1, 0)
    read = read_bundle_record(path, trusted_key=log.key_ring(new_public))
    status = read["signature_status"]
    assert status.verified and status.key_id == key_id(old) and status.trusted_via == key_id(new)
    assert "hands over to or from the trusted key" in str(status)
    assert check_for_review(log, sha, path, trust_key=new_public)["chain"].ok
    # New verdicts are signed with the new key; the old one is refused for them.
    record_verdict(log, "signoff", actor="Bo", manifest_sha256=sha, bundle=path, text="", trust_key=new_public,
                   signing_key=new)
    with pytest.raises(VerdictRefused, match="must be signed"):
        record_verdict(log, "signoff", actor="Cy", manifest_sha256=sha, bundle=path, text="",
                       trust_key=new_public, signing_key=old)
    assert verdict_tally(verdict_entries(log, sha), log.verify(public_key=new_public))["signoffs"] == 1
    with pytest.raises(ValueError, match="handed over already"):
        record_handover(log, actor="Key officer", old_key=old, new_key=new)

    # The old key signs nothing after its hand-over: refused at writing, and an export it signs
    # written anyway (by a fairkit that does not look) fails the check.
    export = dict(bundle_path=path, manifest_sha256=sha, record=bundle["record"],
                  unfairness_axis="demographic_parity_difference", performance_axis="accuracy")
    with pytest.raises(AuditLogError, match=f"handed over to key {key_id(new)} at audit entry {at}"):
        record_export(log, **export, signing_key=old)
    blind = AuditLog(log.path)
    blind.handed_over = lambda key: None
    late = record_export(blind, **export, signing_key=old)
    broken = log.verify(public_key=new_public)
    assert not broken.ok and broken.broken_id == late and f"handed over at entry {at}" in broken.problem

    # A bundle the old key signed, exported only after the hand-over, is not trusted.
    other = AuditLog(tmp_path / "other.sqlite")
    record_handover(other, actor="Key officer", old_key=old, new_key=new)
    record_export(other, bundle_path=path, manifest_sha256=sha, record=bundle["record"],
                  unfairness_axis="demographic_parity_difference", performance_axis="accuracy", signing_key=new)
    with pytest.raises(BundleIntegrityError, match=r"handed over at audit entry 1, and exported after that \(entry 2\)"):
        read_bundle_record(path, trusted_key=other.key_ring(new_public))
    assert other.key_ring(new_public).exports == {sha: 2}
    with pytest.raises(BundleIntegrityError, match="the audit log holds no export of it"):
        read_bundle_record(path, trusted_key=dataclasses.replace(other.key_ring(new_public), exports={}))


def test_a_forged_handover_links_no_key(tmp_path, bundle):
    """A hand-over the outgoing key did not sign (someone with write access to the log and a key
    of their own claims the organisation's key handed over to it) trusts nothing."""
    from fairkit.audit import record_handover
    from fairkit.keys import handover_message, raw_hex

    log, path, sha, public, private = _exported(tmp_path, bundle, signed=True)
    mallory = write_key_pair(tmp_path / "m.pem", tmp_path / "m.pub")
    log.append("handover", actor="Mallory", subject=key_id(mallory), signing_key=mallory,
               old_key_id=key_id(private), new_key_id=key_id(mallory), old_public_key=raw_hex(private),
               new_public_key=raw_hex(mallory), old_signature=sign(mallory, handover_message(private, mallory)))
    assert [key_id(k) for k, _ in log.key_ring(public).members] == [key_id(public)]
    assert [key_id(k) for k, _ in log.key_ring(load_public_key(tmp_path / "m.pub")).members] == [key_id(mallory)]
    check = log.verify(public_key=public)
    assert check.ok and check.handed_over == {}
    # The organisation's key is not handed over by it: its real hand-over still can be.
    new = write_key_pair(tmp_path / "n.pem", tmp_path / "n.pub")
    record_handover(log, actor="Key officer", old_key=private, new_key=new)
    assert {key_id(k) for k, _ in log.key_ring(public).members} == {key_id(public), key_id(new)}


def test_entries_reach_the_main_file_at_once_so_a_copy_of_it_alone_holds_them(tmp_path):
    """Concurrency audit, session 46: with the log open elsewhere (the dashboard, a reader), the
    newest entries stayed in audit.sqlite-wal; a process killed then left a main file whose copy
    lacked them (a sign-off) and verified as unbroken. Each write is checkpointed."""
    import shutil

    log = AuditLog(tmp_path / "audit.sqlite")
    reader = sqlite3.connect(tmp_path / "audit.sqlite", isolation_level=None)
    reader.execute("SELECT count(*) FROM events").fetchall()  # the log open, as another process has it
    try:
        ids = [log.append("comment", actor="Ada", subject="x", text=str(i)) for i in range(3)]
        (tmp_path / "copy").mkdir()
        shutil.copy(tmp_path / "audit.sqlite", tmp_path / "copy" / "audit.sqlite")
    finally:
        reader.close()
    copied = sqlite3.connect(tmp_path / "copy" / "audit.sqlite")
    try:
        assert [r[0] for r in copied.execute("SELECT id FROM events ORDER BY id")] == ids
    finally:
        copied.close()


def test_entries_dated_before_the_one_they_follow_are_named(tmp_path, monkeypatch):
    """Concurrency audit, session 46: with the clock set back, a sign-off was dated two days
    before the export it approves and the check said nothing. The chain's order stands; the
    check names the entries whose time runs backwards."""
    import datetime as dt
    import types

    import fairkit.audit as faudit

    log = AuditLog(tmp_path / "audit.sqlite")
    first = log.append("comment", actor="Ada", subject="x", text="")
    back = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)

    class SetBack(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return back

    monkeypatch.setattr(faudit, "dt", types.SimpleNamespace(datetime=SetBack, timezone=dt.timezone))
    second = log.append("signoff", actor="Bo", subject="x", text="")
    monkeypatch.undo()
    check = log.verify()
    assert check.ok and check.earlier_times == (second,) and first < second
    assert f"1 entries carry an earlier time than the entry before them (entries {second}:" in str(check)


def test_a_check_of_the_log_does_not_wait_for_a_writer_holding_its_lock(tmp_path, capsys):
    """Concurrency audit, session 46: a process stuck mid-append held the write lock, and `audit
    verify` (which only reads) waited 30 s for it, then blamed the file. It reads without the lock;
    a command that must write says another process is writing."""
    from fairkit.__main__ import main
    from fairkit.audit import sqlite_problem

    path = tmp_path / "audit.sqlite"
    AuditLog(path).append("comment", actor="Ada", subject="x", text="")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        assert main(["audit", "verify", "--audit", str(path)]) == 0
        assert "form an unbroken hash chain" in capsys.readouterr().out
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    said = sqlite_problem(path, sqlite3.OperationalError("database is locked"))
    assert "is being written by another process" in said and "Check the file" not in said


def test_a_backup_copies_the_entries_still_in_the_write_ahead_file(tmp_path, capsys):
    """Concurrency audit, session 46: a copy of audit.sqlite alone can miss the newest entries
    (SQLite keeps them in audit.sqlite-wal until a checkpoint). `audit backup` writes one file
    holding every entry and checks it; it never overwrites."""
    from fairkit.__main__ import main

    path = tmp_path / "audit.sqlite"
    log = AuditLog(path)
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM events").fetchall()  # a reader's snapshot: no checkpoint past it
    try:
        ids = [log.append("comment", actor="Ada", subject="x", text=str(i)) for i in range(3)]
        assert main(["audit", "backup", "--audit", str(path), "--out", str(tmp_path / "copy.sqlite")]) == 0
    finally:
        reader.execute("COMMIT")
        reader.close()
    assert "form an unbroken hash chain" in capsys.readouterr().out
    assert not (tmp_path / "copy.sqlite-wal").exists()
    assert AuditLog(tmp_path / "copy.sqlite", read_only=True).entries()["id"].tolist() == ids
    assert main(["audit", "backup", "--audit", str(path), "--out", str(tmp_path / "copy.sqlite")]) == 2
    assert "exists already" in capsys.readouterr().err
    assert main(["audit", "backup", "--audit", str(path)]) == 2
    assert "audit backup needs --out" in capsys.readouterr().err
