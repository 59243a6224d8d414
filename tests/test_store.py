"""Result store atomicity and the append-only audit log (concurrent writers lose nothing)."""

import json
import sqlite3
from concurrent.futures import ProcessPoolExecutor

import pytest

from fairkit.store import AuditLog, ResultStore, cache_key


def test_cache_key_stable_and_sensitive():
    a = cache_key(x=1, y=[1, 2], z={"b": 1, "a": 2})
    assert a == cache_key(z={"a": 2, "b": 1}, y=[1, 2], x=1)
    assert a != cache_key(x=2, y=[1, 2], z={"b": 1, "a": 2})


def test_store_put_get_and_ignores_partial_files(tmp_path):
    s = ResultStore(tmp_path)
    s.put("k1", {"acc": 0.5, "nan": float("nan")}, model={"m": 1})
    assert s.get("k1")["acc"] == 0.5 and s.get("k1")["run_id"] == "k1"
    assert s.load_model("k1") == {"m": 1}
    # A crash mid-write leaves only a temp file, which is never read as a run.
    (s.runs_dir / ".k2.json.123.tmp").write_text('{"acc": ')
    assert s.keys() == ["k1"] and s.get("k2") is None
    (s.runs_dir / "k3.json").write_text("{broken")
    assert s.get("k3") is None
    assert len(s.records(["k1", "k2"])) == 1
    with pytest.raises(KeyError):
        s.load_model("nope")
    s.put_json("sweep", {"a": 1})
    assert ResultStore(tmp_path).get_json("sweep") == {"a": 1}


def _writer(args):
    path, who, n = args
    log = AuditLog(path)
    for i in range(n):
        log.append("comment", actor=who, subject="run1", text=f"{who}-{i}")
    return n


def test_audit_log_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "audit.sqlite"
    AuditLog(path)
    with ProcessPoolExecutor(max_workers=4) as ex:
        total = sum(ex.map(_writer, [(path, f"w{k}", 50) for k in range(4)]))
    entries = AuditLog(path).entries()
    assert len(entries) == total == 200
    texts = {d["text"] for d in entries["details"]}
    assert len(texts) == 200
    assert entries["id"].is_monotonic_increasing


def test_audit_log_is_append_only(tmp_path):
    log = AuditLog(tmp_path / "a.sqlite")
    log.append("upload", actor="ana", subject="sha256:abc", rows=10)
    con = sqlite3.connect(log.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE events SET actor = 'mallory'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("DELETE FROM events")
    con.close()
    e = log.entries(kind="upload")
    assert e.iloc[0]["actor"] == "ana" and e.iloc[0]["details"] == {"rows": 10}
    with pytest.raises(ValueError, match="actor"):
        log.append("comment", actor=" ")
    with pytest.raises(ValueError, match="kind"):
        log.append("rewrite", actor="x")
