"""Result store: stable cache keys, atomic writes, partial files never read as runs."""

import joblib
import pytest

from fairkit.store import ResultStore, atomic_dump, atomic_write_bytes, cache_key


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


def test_failed_writes_keep_the_old_file_and_leave_no_temporary(tmp_path):
    target = tmp_path / "run.json"
    atomic_write_bytes(target, b"old")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "text is not bytes")
    model = tmp_path / "run.joblib"
    atomic_dump({"m": 1}, model)
    with pytest.raises(Exception):
        atomic_dump(lambda: None, model)  # a lambda cannot be pickled
    assert target.read_bytes() == b"old" and joblib.load(model) == {"m": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.joblib", "run.json"]
