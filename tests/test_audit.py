"""The audit trail: append-only, one hash chain across concurrent writers, tampering named,
one entry schema, and logs from before the chain read with a fallback."""

import json
import sqlite3
from concurrent.futures import ProcessPoolExecutor

import pytest

from fairkit.audit import (
    GENESIS,
    AuditLog,
    entry_hash,
    export_entries,
    record_export,
    record_selection,
    record_verdict,
    selection_entries,
    verdict_entries,
)


def _writer(args):
    path, who, n = args
    log = AuditLog(path)
    for i in range(n):
        record_verdict(log, "comment", actor=who, manifest_sha256="m1", text=f"{who}-{i}")
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
    check = log.verify()
    assert check.ok and check.entries == 200 and check.unchained == 0, str(check)
    # Every entry links to the one before it: no two writers took the same predecessor.
    con = sqlite3.connect(path)
    prevs = [r[0] for r in con.execute("SELECT prev_hash FROM events ORDER BY id")]
    hashes = [r[0] for r in con.execute("SELECT entry_hash FROM events ORDER BY id")]
    con.close()
    assert prevs == [GENESIS] + hashes[:-1]


def test_append_only_and_entries_need_a_known_kind_and_an_actor(tmp_path):
    log = AuditLog(tmp_path / "a.sqlite")
    record_verdict(log, "signoff", actor="ana", manifest_sha256="m1")
    con = sqlite3.connect(log.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE events SET actor = 'mallory'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("DELETE FROM events")
    con.close()
    e = log.entries(kind="signoff")
    assert e.iloc[0]["actor"] == "ana" and e.iloc[0]["details"] == {"text": ""}
    with pytest.raises(ValueError, match="actor"):
        record_verdict(log, "comment", actor=" ", manifest_sha256="m1", text="x")
    # Kinds nothing writes are not accepted (uploads, sweeps and scores are not logged).
    for kind in ("rewrite", "upload", "sweep", "score"):
        with pytest.raises(ValueError, match="kind"):
            log.append(kind, actor="x")
    with pytest.raises(ValueError, match="verdict"):
        record_verdict(log, "export", actor="x", manifest_sha256="m1")
    assert len(log.entries()) == 1


def _chained_log(tmp_path, n=4) -> AuditLog:
    log = AuditLog(tmp_path / "chain.sqlite")
    for i in range(n):
        record_verdict(log, "comment", actor=f"r{i}", manifest_sha256="m", text=f"t{i}")
    return log


def _untriggered(log):
    """A connection with the triggers dropped: what someone editing the file could do."""
    con = sqlite3.connect(log.path, isolation_level=None)
    con.execute("DROP TRIGGER events_no_update")
    con.execute("DROP TRIGGER events_no_delete")
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
    new_id = record_verdict(log, "comment", actor="rev2", manifest_sha256="man2", text="later")
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
