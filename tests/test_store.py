"""Result store: stable cache keys, atomic and durable writes, and nothing read back unchecked."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from fairkit import store as store_mod
from fairkit.frontier import pareto_front
from fairkit.safestate import state_from_bytes, state_to_bytes
from fairkit.store import (ResultStore, StoreError, atomic_write_bytes, atomic_write_state, cache_key,
                           remove_stale_temporaries)
from fairkit.sweep import run_sweep

RECORD = {"method": "regularized", "eta": 1.0, "seed": 0, "val_accuracy": 0.7, "test_accuracy": 0.69,
          "test_demographic_parity_difference": 0.12, "nan": float("nan")}


def test_cache_key_stable_and_sensitive():
    a = cache_key(x=1, y=[1, 2], z={"b": 1, "a": 2})
    assert a == cache_key(z={"a": 2, "b": 1}, y=[1, 2], x=1)
    assert a != cache_key(x=2, y=[1, 2], z={"b": 1, "a": 2})


def test_store_put_get_and_ignores_partial_files(tmp_path):
    s = ResultStore(tmp_path)
    s.put("k1", RECORD, model={"m": 1})
    rec = s.get("k1")
    assert rec["test_accuracy"] == 0.69 and rec["run_id"] == "k1" and rec["nan"] is None
    assert s.load_model("k1") == {"m": 1} and s.problem("k1") is None
    # A crash mid-write leaves only a temp file, which is never read as a run.
    (s.runs_dir / ".k2.json.123.abc.tmp").write_text('{"acc": ')
    assert s.keys() == ["k1"] and s.get("k2") is None
    (s.runs_dir / "k3.json").write_text("{broken")
    assert s.get("k3") is None and "not readable JSON" in s.problem("k3")
    assert len(s.records(["k1", "k2", "k3"])) == 1
    with pytest.raises(StoreError, match="Run nope .* not in the store"):
        s.load_model("nope")


def _rewrite(store, key, change):
    """Edit a stored record the way a person with a text editor would."""
    path = store.runs_dir / f"{key}.json"
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


def _with_checksum(envelope):
    """What a careful forger does: fix the checksum too (the store says it cannot stop this)."""
    envelope["checksum"] = store_mod._checksum(envelope)
    return envelope


@pytest.mark.parametrize("change, problem", [
    (lambda e: {}, "not a fairkit run record"),
    (lambda e: [e], "not a fairkit run record (format 'list')"),
    (lambda e: e["record"], "written by an earlier fairkit"),  # the old flat layout (the first fairkit's)
    (lambda e: {**e, "record": {**e["record"], "test_accuracy": 0.99}}, "does not match its checksum"),
    (lambda e: {**e, "run_id": "other"}, "belongs to run 'other'"),
    (lambda e: _with_checksum({**e, "record": {**e["record"], "test_accuracy": [0.99]}}), "holds a list"),
    (lambda e: _with_checksum({**e, "record": {k: v for k, v in e["record"].items() if k != "eta"}}),
     "field 'eta' is None"),
    (lambda e: _with_checksum({**e, "record": {**e["record"], "seed": "0"}}), "field 'seed'"),
])
def test_edited_or_malformed_records_are_refused_with_a_reason(tmp_path, change, problem):
    s = ResultStore(tmp_path)
    s.put("k1", RECORD, model={"m": 1})
    _rewrite(s, "k1", change)
    assert s.get("k1") is None and not s.has("k1") and len(s.records()) == 0
    assert problem in s.problem("k1")
    with pytest.raises(StoreError, match="Run k1 .*" + "Run the sweep again"):
        s.load_model("k1")


@pytest.mark.parametrize("damage, problem", [
    (lambda p: p.unlink(), "model file k1.safetensors is missing"),
    (lambda p: p.write_bytes(b"garbage"), "does not match the hash in its record"),
    (lambda p: p.write_bytes(state_to_bytes({"m": 2})), "does not match the hash in its record"),  # a swapped model
])
def test_missing_or_changed_model_files_are_refused(tmp_path, damage, problem):
    s = ResultStore(tmp_path)
    s.put("k1", RECORD, model={"m": 1})
    assert s.get("k1") is not None  # the hash is remembered for an unchanged file ...
    damage(s.runs_dir / "k1.safetensors")
    assert s.get("k1") is None and problem in s.problem("k1")  # ... and checked again once it changed
    # has() reads no model bytes: a missing file is missing, a changed one is left to get / load_model.
    assert ResultStore(tmp_path).has("k1") == ("missing" not in problem)
    with pytest.raises(StoreError, match=problem):
        s.load_model("k1")


def test_has_reads_the_record_only_and_load_hashes_the_model_once(tmp_path, monkeypatch):
    ResultStore(tmp_path).put("k1", RECORD, model={"m": list(range(1000))})
    size = (tmp_path / "runs" / "k1.safetensors").stat().st_size
    hashed = []
    real = store_mod.hashlib.sha256

    def sha256(data=b""):
        hashed.append(len(data))
        return real(data)

    monkeypatch.setattr(store_mod.hashlib, "sha256", sha256)
    s = ResultStore(tmp_path)  # a fresh store: nothing remembered
    assert s.has("k1") and size not in hashed  # the record's checksum only
    assert ResultStore(tmp_path).load_model("k1") == {"m": list(range(1000))}  # nothing remembered
    assert hashed.count(size) == 1
    # An edited record still counts as missing for has().
    _rewrite(s, "k1", lambda e: {**e, "record": {**e["record"], "test_accuracy": 0.99}})
    assert not ResultStore(tmp_path).has("k1")


def test_report_fields_are_checked_by_type(tmp_path):
    """A run's stored intervals and report notes (fairkit.sweep.report_fields) are part of the schema."""
    s = ResultStore(tmp_path)
    good = {**RECORD, "val_accuracy_low": 0.8, "val_accuracy_high": None, "report_n_boot": 200,
            "report_attribute": "sex & race", "test_report_notes": "1 group(s) have fewer than 30 rows"}
    s.put("k1", good, model={"m": 1})
    assert s.get("k1")["report_n_boot"] == 200 and s.get("k1")["val_accuracy_high"] is None
    for bad, problem in [({"val_accuracy_low": "0.8"}, "interval field 'val_accuracy_low'"),
                         ({"test_demographic_parity_difference_high": True}, "interval field"),
                         ({"report_n_boot": 2.5}, "field 'report_n_boot' is 2.5, not a int"),
                         ({"report_attribute": 3}, "field 'report_attribute'")]:
        with pytest.raises(ValueError, match=problem):
            s.put("k2", {**good, **bad}, model={"m": 1})
        s.put("k2", good, model={"m": 1})
        _rewrite(s, "k2", lambda e, bad=bad: _with_checksum({**e, "record": {**e["record"], **bad}}))
        assert s.get("k2") is None and problem.split(" is ")[0].split(",")[0] in s.problem("k2")


def test_put_refuses_what_it_could_not_read_back(tmp_path):
    s = ResultStore(tmp_path)
    with pytest.raises(ValueError, match="field 'method'"):
        s.put("k1", {"eta": 1.0, "seed": 0})
    with pytest.raises(ValueError, match="holds a list"):
        s.put("k1", {**RECORD, "groups": ["a", "b"]})
    assert s.keys() == []


def test_model_is_on_disk_before_the_record_that_marks_it_done(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", str(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(store_mod.os, "fsync", fsync)
    monkeypatch.setattr(store_mod.os, "replace", replace)
    ResultStore(tmp_path).put("k1", RECORD, model={"m": 1})
    model, record = str(tmp_path / "runs" / "k1.safetensors"), str(tmp_path / "runs" / "k1.json")
    i_model = events.index(("replace", model))
    i_record = events.index(("replace", record))
    # The model's temporary is flushed before its rename; the folder after it; then the record.
    assert any(e[0] == "fsync" and ".k1.safetensors." in e[1] for e in events[:i_model])
    assert ("fsync", str(tmp_path / "runs")) in events[i_model:i_record]
    assert i_model < i_record


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temporaries_of_a_killed_writer_are_removed_by_the_next(tmp_path):
    s = ResultStore(tmp_path)
    s.runs_dir.mkdir(parents=True)
    old = os.path.getmtime(s.runs_dir) - 3600

    def temp(pid, name, age_old=True):
        path = s.runs_dir / f".{name}.{pid}.x1y2.tmp"
        path.write_bytes(b"partial")
        if age_old:
            os.utime(path, (old, old))
        return path

    killed = temp(_dead_pid(), "k9.safetensors")
    alive = temp(os.getpid(), "k8.json")  # a writer still running (this one)
    young = temp(_dead_pid(), "k7.json", age_old=False)  # may still be renamed by its writer
    ancient = temp(os.getpid(), "k6.json")
    os.utime(ancient, (old - store_mod.STALE_TEMP_SECONDS,) * 2)
    s.put("k1", RECORD, model={"m": 1})
    assert not killed.exists() and not ancient.exists()
    assert alive.exists() and young.exists()
    assert remove_stale_temporaries(s.runs_dir) == 0


def test_failed_writes_keep_the_old_file_and_leave_no_temporary(tmp_path):
    target = tmp_path / "run.json"
    atomic_write_bytes(target, b"old")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "text is not bytes")
    model = tmp_path / "run.safetensors"
    atomic_write_state({"m": 1}, model)
    with pytest.raises(TypeError, match="cannot store"):
        atomic_write_state(lambda: None, model)  # a function is not data
    assert target.read_bytes() == b"old" and state_from_bytes(model.read_bytes()) == {"m": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json", "run.safetensors"]


def test_sweep_retrains_edited_empty_list_and_model_less_runs(tiny_split, fast_params, tmp_path):
    store = ResultStore(tmp_path)
    etas = [0.0, 1.0, 2.0, 4.0]
    first = run_sweep(tiny_split, ["regularized"], etas, params=fast_params, store=store).results
    keys = list(first.run_id)
    # A forged run: accuracy 0.99 and no gap, the JSON kept valid.
    _rewrite(store, keys[0], lambda e: {**e, "record": {**e["record"], "test_accuracy": 0.99, "val_accuracy": 0.99,
                                                       "val_demographic_parity_difference": 0.0,
                                                       "test_demographic_parity_difference": 0.0}})
    _rewrite(store, keys[1], lambda e: {})
    _rewrite(store, keys[2], lambda e: [e])
    (store.runs_dir / f"{keys[3]}.safetensors").unlink()
    again = run_sweep(tiny_split, ["regularized"], etas, params=fast_params, store=ResultStore(tmp_path)).results
    assert not again["cached"].any()  # every damaged run trained afresh ...
    cols = ["run_id", "val_accuracy", "test_accuracy", "test_demographic_parity_difference"]
    pd.testing.assert_frame_equal(again[cols], first[cols])  # ... to its true values
    front = pareto_front(again, unfairness="demographic_parity_difference", performance="accuracy")
    # The forged 0.99 is gone from every front (the true models may not beat one decision for
    # everyone on these few rows, and then no front has them either).
    assert not (front["performance_test"] >= 0.99).any()
    assert all(ResultStore(tmp_path).problem(k) is None for k in keys)


def test_load_hashes_the_bytes_it_decodes(tmp_path):
    s = ResultStore(tmp_path)
    s.put("k1", RECORD, model={"m": np.arange(4, dtype=np.uint8)})
    path = s.runs_dir / "k1.safetensors"
    assert s.has("k1")
    st = path.stat()
    data = path.read_bytes()
    path.write_bytes(data.replace(b"\x01", b"\x02", 1))  # same size ...
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... and timestamp: the remembered check holds
    with pytest.raises(StoreError, match="does not match the hash"):
        s.load_model("k1")


def test_strict_json_writes_null_for_nan_and_refuses_what_escapes(monkeypatch):
    """The one JSON writer: NaN (NumPy's too) as null, infinities as "inf" / "-inf", NumPy
    scalars as numbers; a non-finite number that escapes the conversion fails loudly."""
    text = store_mod.strict_json({"a": float("nan"), "b": np.float64("nan"), "c": [np.float32(1.5), float("inf")],
                              "d": (np.int64(2), -np.inf), "e": np.bool_(True)})
    assert json.loads(text, parse_constant=lambda c: pytest.fail(c)) == {
        "a": None, "b": None, "c": [1.5, "inf"], "d": [2, "-inf"], "e": True}
    monkeypatch.setattr(store_mod, "_jsonable", lambda obj: obj)  # a converter that let a NaN through
    with pytest.raises(ValueError, match="JSON compliant"):
        store_mod.strict_json({"a": float("nan")})


class _Payload:
    """Unpickling this runs code: it creates ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _forge_model_file(store, key, data: bytes):
    """What someone who can write the store does: a model file of their own, the record's hash
    and checksum recomputed so every check but the decoding passes."""
    import hashlib

    (store.runs_dir / f"{key}.safetensors").write_bytes(data)
    _rewrite(store, key, lambda e: _with_checksum({**e, "model_sha256": hashlib.sha256(data).hexdigest()}))


def test_a_sweep_folder_from_someone_else_runs_no_code(tmp_path):
    """A store is read as data, like a bundle: a pickle in a model file (with every hash made to
    match) is refused, unopened, and so is an earlier fairkit's pickled run."""
    import pickle

    marker = tmp_path / "ran"
    s = ResultStore(tmp_path / "store")
    s.put("k1", RECORD, model={"m": 1})
    _forge_model_file(s, "k1", pickle.dumps(_Payload(marker)))
    with pytest.raises(StoreError, match="k1.safetensors is not a model fairkit can read"):
        ResultStore(s.root).load_model("k1")
    assert not marker.exists()
    # A run of an earlier fairkit: its pickle beside a record of the old format.
    s.put("k2", RECORD, model={"m": 1})
    (s.runs_dir / "k2.safetensors").unlink()
    (s.runs_dir / "k2.joblib").write_bytes(pickle.dumps(_Payload(marker)))
    _rewrite(s, "k2", lambda e: _with_checksum({**e, "format": "fairkit-run/2"}))
    fresh = ResultStore(s.root)
    assert not fresh.has("k2") and "earlier fairkit, which stored models as pickles" in fresh.problem("k2")
    with pytest.raises(StoreError, match="no longer reads them. Run the sweep again"):
        fresh.load_model("k2")
    assert not marker.exists()
    # Storing the run again replaces the old pickle.
    fresh.put("k2", RECORD, model={"m": 3})
    assert fresh.load_model("k2") == {"m": 3} and not (s.runs_dir / "k2.joblib").exists()


class _Opaque:
    """A model class fairkit does not trust (a method registered outside fairkit)."""

    def __init__(self):
        self.coef_ = np.ones(3)


def test_a_model_of_an_untrusted_class_keeps_its_numbers_and_says_why_it_has_no_model(tmp_path):
    s = ResultStore(tmp_path)
    s.put("k1", RECORD, model=_Opaque())
    assert not (s.runs_dir / "k1.safetensors").exists()
    fresh = ResultStore(tmp_path)
    assert fresh.has("k1") and fresh.get("k1")["test_accuracy"] == 0.69  # the sweep's cache holds
    with pytest.raises(StoreError, match=r"_Opaque\) as data.*fairkit.safestate.trust\('package.module.Class'\)"):
        fresh.load_model("k1")
    # The reason is part of what the checksum covers.
    _rewrite(s, "k1", lambda e: {**e, "model_problem": "nothing to see"})
    assert not ResultStore(tmp_path).has("k1") and "checksum" in ResultStore(tmp_path).problem("k1")


def test_a_stored_model_gives_back_the_runs_numbers(tiny_split, fast_params, tmp_path):
    """Stored as data and decoded, each kind of model (network, boosted trees, thresholds on
    trees) scores the test rows as the sweep recorded."""
    from fairkit.metrics import summary_metrics
    from fairkit.sweep import predict_scores

    store = ResultStore(tmp_path)
    methods = ["regularized", "boosting", "threshold"]
    res = run_sweep(tiny_split, methods, {m: [0.0, 1.0] for m in methods}, params=fast_params, store=store).results
    fresh = ResultStore(tmp_path)
    for run in res.itertuples():
        scores = predict_scores(fresh.load_model(run.run_id), tiny_split, tiny_split.test)
        again = summary_metrics(tiny_split.test.y, scores[None], tiny_split.test.sensitive)
        assert again[0]["accuracy"] == run.test_accuracy, run.method


def test_runs_trained_under_other_library_versions_are_not_served(tiny_split, fast_params, tmp_path, monkeypatch):
    """Repro audit finding 1: scikit-learn 1.7 and 1.9 fit the reductions to different gaps, yet a
    store filled under one was served whole under the other. The versions are part of every key."""
    store = ResultStore(tmp_path)
    first = run_sweep(tiny_split, ["regularized"], [0.0, 1.0], params=fast_params, store=store).results
    assert first["trained_with"].map(json.loads).eq(store_mod.library_versions()).all()
    assert run_sweep(tiny_split, ["regularized"], [0.0, 1.0], params=fast_params, store=store).results["cached"].all()
    here = store_mod.library_versions()
    monkeypatch.setattr(store_mod, "library_versions", lambda: {**here, "scikit-learn": "1.6.99"})
    elsewhere = run_sweep(tiny_split, ["regularized"], [0.0, 1.0], params=fast_params, store=store).results
    assert not elsewhere["cached"].any() and set(elsewhere.run_id).isdisjoint(first.run_id)
    assert store_mod.version_changes(here) == [f"scikit-learn {here['scikit-learn']} (here 1.6.99)"]
    assert store_mod.version_changes(None) == [] and store_mod.version_changes(store_mod.library_versions()) == []


_PROBLEMS = """
import json, sys
from fairkit.store import ResultStore, StoreError
s = ResultStore(sys.argv[1])
for key in sys.argv[2:]:
    try:
        s.load_model(key)
        said = "loaded"
    except StoreError as exc:
        said = str(exc)
    print(json.dumps([key, s.problem(key), s.has(key), len(s.records([key])), said]), flush=True)
"""


def test_a_fifo_device_or_oversized_store_file_is_a_damaged_run_not_a_hang(tmp_path):
    """Whoever can write the store's folder can put a FIFO (no writer: a read waits for ever), a
    link to /dev/zero (a read never ends) or a huge file where a record or model belongs. Each is
    a damaged run, refused by name without being read. Run in a child held to 2 GB and 60 s, so
    the old behaviour (wait, or read until memory runs out) fails the test, not the machine."""
    import resource

    s = ResultStore(tmp_path)
    for key in ("fifo_rec", "zero_rec", "big_rec", "fifo_model", "zero_model"):
        s.put(key, RECORD, model={"m": 1})
    runs = s.runs_dir
    for name in ("fifo_rec.json", "fifo_model.safetensors"):
        (runs / name).unlink()
        os.mkfifo(runs / name)
    for name in ("zero_rec.json", "zero_model.safetensors"):
        (runs / name).unlink()
        (runs / name).symlink_to("/dev/zero")
    with open(runs / "big_rec.json", "r+b") as fh:  # sparse: a size, not disk space
        fh.truncate(64 << 20)

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))

    keys = ["fifo_rec", "zero_rec", "big_rec", "fifo_model", "zero_model"]
    proc = subprocess.run([sys.executable, "-c", _PROBLEMS, str(tmp_path), *keys], capture_output=True, text=True,
                          timeout=60, preexec_fn=cap)
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = {key: rest for key, *rest in map(json.loads, proc.stdout.splitlines())}
    special = "is not a regular file (a device, FIFO or socket)"
    expected = {"fifo_rec": f"its record cannot be read: {runs / 'fifo_rec.json'} {special}",
                "zero_rec": f"its record cannot be read: {runs / 'zero_rec.json'} {special}",
                "big_rec": "its record cannot be read: its record big_rec.json is over the 1,048,576-byte limit",
                "fifo_model": f"its model file cannot be read: {runs / 'fifo_model.safetensors'} {special}",
                "zero_model": f"its model file cannot be read: {runs / 'zero_model.safetensors'} {special}"}
    for key, problem in expected.items():
        got, has, n_records, said = seen[key]
        assert got == problem
        assert n_records == 0 and not has
        assert said == f"Run {key} in {tmp_path} cannot be used: {problem}. Run the sweep again to train it afresh."


def _owned_by_another(path, monkeypatch):
    """Make ``path`` another account's: chown it as root, else take another id for ourselves."""
    import os

    if os.geteuid() == 0:
        os.chown(path, 4242, -1)
    else:
        me = os.geteuid()
        monkeypatch.setattr(os, "geteuid", lambda: me + 1)


def test_a_home_others_can_write_is_named_with_the_remedy(tmp_path, monkeypatch):
    """Attacker audit 3, finding 5: whoever can write fairkit's home can plant runs (their
    checksums are recomputable) and rewrite an unsigned audit log."""
    from fairkit.store import home_exposure

    mine = tmp_path / "mine"
    mine.mkdir(mode=0o700)
    tmp_path.chmod(0o700)
    assert home_exposure(mine) is None
    assert home_exposure(mine / "not-made-yet") is None
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    said = home_exposure(shared / "home")  # not made yet: the folder it would be made in counts
    assert said and str(shared) in said and "can be written by other accounts" in said and "chmod go-w" in said
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)  # as /tmp: others cannot replace what is ours
    (sticky / "home").mkdir(mode=0o700)
    assert home_exposure(sticky / "home") is None
    link = mine / "home"
    link.symlink_to(shared)  # a home that leads into a folder others can write
    said = home_exposure(link)
    assert said and str(shared) in said
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    _owned_by_another(theirs, monkeypatch)
    said = home_exposure(theirs)
    assert said and "belongs to another account" in said


def test_files_others_can_use_are_named_though_their_folders_are_private(tmp_path, monkeypatch, capsys):
    """Attack audit, session 43: an audit log anyone can write and a signing key anyone can read
    raised no warning (only folders were checked). Each is named, with the remedy, in the
    engine's check the CLI and the sidebar read; 0644 public keys and the owner's files are fine."""
    from fairkit.__main__ import main
    from fairkit.audit import AuditLog
    from fairkit.keys import SIGNING_KEY_ENV, write_key_pair
    from fairkit.store import home_exposure

    tmp_path.chmod(0o700)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    AuditLog(home / "audit.sqlite").append("comment", actor="a", subject="m", text="t")
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir(mode=0o700)
    write_key_pair(keys_dir / "org.pem", keys_dir / "org.pub")
    key = keys_dir / "org.pem"
    assert home_exposure(home, key_file=key) is None
    (home / "audit.sqlite").chmod(0o666)
    said = home_exposure(home, key_file=key)
    assert said and "audit log is not yours alone" in said and "audit.sqlite can be written" in said
    (home / "audit.sqlite").chmod(0o600)
    (home / "store" / "runs").mkdir(parents=True, mode=0o700)
    (home / "store" / "runs").chmod(0o777)
    said = home_exposure(home, key_file=key)
    assert said and str(home / "store" / "runs") in said
    (home / "store" / "runs").chmod(0o700)
    key.chmod(0o644)
    said = home_exposure(home, key_file=key)
    assert said and "signing key is not yours alone" in said and "chmod 600" in said
    assert home_exposure(home) is None  # no key configured: nothing to say of it
    # The public half given in its place (0644, as it should be) is no exposed private key: the
    # refusal comes when it is read (CLI audit, session 44: a false warning came first).
    from fairkit.keys import private_key_path

    (keys_dir / "org.pub").chmod(0o644)
    assert private_key_path(keys_dir / "org.pub") is None and private_key_path(key) == str(key)
    assert home_exposure(home, key_file=private_key_path(keys_dir / "org.pub")) is None
    monkeypatch.setenv("FAIRKIT_HOME", str(home))
    monkeypatch.setenv(SIGNING_KEY_ENV, str(key))
    assert main(["audit", "-q"]) == 0
    assert "WARNING: The organisation's signing key is not yours alone" in capsys.readouterr().err


def test_the_cli_warns_when_its_home_is_not_its_own(tmp_path, monkeypatch, capsys):
    from fairkit.__main__ import main

    from fairkit.audit import AuditLog

    home = tmp_path / "home"
    home.mkdir()
    AuditLog(home / "audit.sqlite").append("comment", actor="a", subject="m", text="t")  # a log to read
    home.chmod(0o777)
    monkeypatch.setenv("FAIRKIT_HOME", str(home))
    assert main(["audit", "-q"]) == 0
    assert "WARNING: fairkit's home folder is not yours alone" in capsys.readouterr().err
    home.chmod(0o700)
    tmp_path.chmod(0o700)
    assert main(["audit", "-q"]) == 0
    assert "not yours alone" not in capsys.readouterr().err


def test_runs_an_earlier_fairkit_stored_are_named_and_their_setting_read(tmp_path):
    """A sweep of this fairkit is never served an earlier one's runs (pickled models, or figures
    of an earlier results revision, whose keys no sweep asks for again); the store names them so
    a sweep can say their files only take space, and reads an old run's setting so an export can
    name the run that trained it again."""
    s = ResultStore(tmp_path / "store")
    s.put("now", RECORD, model={"m": 1})
    s.put("pickled", RECORD, model={"m": 1})
    _rewrite(s, "pickled", lambda e: _with_checksum({**e, "format": "fairkit-run/2"}))
    s.put("rev6", RECORD, model={"m": 1})  # the current format, written before records named a revision
    _rewrite(s, "rev6", lambda e: _with_checksum({k: v for k, v in e.items() if k != "revision"}))
    s.put("rev5", RECORD, model={"m": 1})
    _rewrite(s, "rev5", lambda e: _with_checksum({**e, "revision": 5}))
    (s.runs_dir / "junk.json").write_text("not json")
    fresh = ResultStore(s.root)
    assert fresh.earlier_runs() == {"pickled": None, "rev5": 5, "rev6": None}  # the revision each names
    assert fresh.has("rev6") and fresh.has("now")  # still readable runs, by their own keys
    assert fresh.earlier_setting("pickled") == {"method": RECORD["method"], "eta": float(RECORD["eta"]),
                                                "seed": int(RECORD["seed"])}
    assert fresh.earlier_setting("junk") is None and fresh.earlier_setting("absent") is None
    # The first fairkit's record: bare (no format), beside a joblib pickle (upgrade audit, session 48:
    # an export of it was refused as "not a fairkit run record (format None)").
    (s.runs_dir / "first.json").write_text(json.dumps({"method": "regularized", "eta": 0.5, "seed": 0}))
    assert "written by an earlier fairkit" in ResultStore(s.root).problem("first")
    # A current record names its revision first, where earlier_runs reads it.
    head = (s.runs_dir / "now.json").read_text()[:120]
    assert f'"revision": {store_mod.RESULTS_REVISION}' in head


def test_a_fifo_among_the_records_does_not_hang_the_earlier_runs_check(tmp_path):
    """earlier_runs reads each record's first bytes on every sweep: a FIFO planted in runs/ (by
    whoever can write the store) is skipped, never waited on, as every other store read."""
    import threading

    s = ResultStore(tmp_path / "store")
    s.put("now", RECORD, model={"m": 1})
    os.mkfifo(s.runs_dir / "planted.json")
    found = []
    worker = threading.Thread(target=lambda: found.append(ResultStore(s.root).earlier_runs()), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert found == [{}], "earlier_runs waited on the FIFO"


def test_an_empty_fairkit_home_counts_as_unset(tmp_path, monkeypatch):
    """CLI audit, session 44: FAIRKIT_HOME="" made the current folder itself the home."""
    from fairkit.store import default_home

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FAIRKIT_HOME", "")
    assert default_home() == tmp_path / ".fairkit"


def test_stale_temporaries_name_the_file_each_was_to_become(tmp_path):
    """Concurrency audit, session 46: an export killed before its rename left a complete bundle in
    a temporary; finding it again (for one path, or for any file of the dashboard's exports
    folder) needs the file it was to become. A running writer's and a fresh one are left alone."""
    import os
    import time

    from fairkit.store import stale_temporaries

    old = time.time() - 120
    made = {}
    for name, pid in (("a.zip", 999_999_999), ("b-1.2.zip", 999_999_998), ("a.zip", os.getpid())):
        tmp = tmp_path / f".{name}.{pid}.x{len(made)}.tmp"
        tmp.write_bytes(b"x")
        os.utime(tmp, (old, old))
        made[tmp.name] = name
    fresh = tmp_path / ".c.zip.999999997.y.tmp"
    fresh.write_bytes(b"x")  # a minute has not passed: its writer may still rename it
    found = stale_temporaries(folder=tmp_path)
    assert sorted((t.name, out.name) for t, out in found) == sorted(
        (n, made[n]) for n in made if f".{os.getpid()}." not in n)
    assert [out.name for _, out in stale_temporaries(tmp_path / "a.zip")] == ["a.zip"]
    assert stale_temporaries(tmp_path / "b.zip") == []
    assert remove_stale_temporaries(tmp_path) == 2 and fresh.exists()


def test_the_umask_is_read_without_being_changed(monkeypatch):
    """Review, session 49: reading the umask by setting it to 0 and back left a moment in which
    another thread's new file would be created 0666."""
    import os

    from fairkit import store

    old = os.umask(0o027)
    try:
        calls = []
        real = os.umask
        monkeypatch.setattr(os, "umask", lambda m: calls.append(m) or real(m))
        assert store._umask() == 0o027 and calls == []  # /proc/self/status on Linux
    finally:
        os.umask(old)
