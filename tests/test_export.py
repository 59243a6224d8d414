"""Model bundles: exact round trip for every method with no pickle anywhere, payloads that never
run, signatures, decision fields the loader checks, the legal flag read from the model, and
bounded reading."""

import dataclasses
import hashlib
import json
import pickle
import re
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairkit import keys
from fairkit.calibration import GroupFairnessCalibrator, calibrate_on_validation
from fairkit.export import (
    MANIFEST,
    SIGNATURE,
    BundleIntegrityError,
    DecisionRecord,
    apply_calibrator,
    build_record,
    export_bundle,
    load_bundle,
    read_bundle_record,
    verify_bundle,
)
from fairkit.frontier import on_sweep_front, pareto_front
from fairkit.methods import METHODS
from fairkit.sweep import predict_scores, run_sweep

RECORD = DecisionRecord(purpose="Screen loan applications for manual review.",
                        rationale="Smallest accuracy loss that meets the 0.05 parity tolerance.",
                        decider="A. Committee", fairness_rationale="Access to credit should not depend on sex.")


@pytest.fixture(scope="module")
def swept(tiny_split, fast_params):
    """One run of every registered method, at the weakest eta of its range."""
    etas = {m: [METHODS[m].eta_range[0] if METHODS[m].sweeps_eta else 0.0] for m in METHODS}
    return run_sweep(tiny_split, list(METHODS), etas, params={**fast_params, "boosting": {"n_estimators": 30}})


@pytest.fixture(scope="module")
def keypair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    key = keys.write_key_pair(folder / "org.pem", folder / "org.pub.pem")
    return key, keys.load_public_key(folder / "org.pub.pem")


@pytest.fixture(autouse=True)
def _no_configured_keys(monkeypatch):
    monkeypatch.delenv(keys.SIGNING_KEY_ENV, raising=False)
    monkeypatch.delenv(keys.TRUST_KEY_ENV, raising=False)


def _row(swept, method):
    t = swept.results
    return t[t.method == method].iloc[0].to_dict()


def _export(path, swept, tiny_split, method="regularized", **kw):
    row = _row(swept, method)
    out = export_bundle(path, model=swept.model(row["run_id"]), split=tiny_split, run=row, record=RECORD,
                        frontier=pareto_front(swept.results), n_boot=20, **kw)
    return out, row


def _raw_with_sensitive(split, part):
    raw = part.raw.copy()
    for c in split.spec.sensitive:
        raw[c] = part.sensitive[c].to_numpy()
    return raw


def _shown(markdown: str) -> str:
    """What a reader of rendered Markdown sees: backslash escapes resolved, word joiners gone."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")


def _members(path) -> dict:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _rewrite(path, out, members: dict, *, rehash=True):
    """Write ``members`` to ``out``; with ``rehash`` the manifest lists their true hashes, as an
    attacker who edits a bundle would make it."""
    members = dict(members)
    if rehash:
        manifest = json.loads(members[MANIFEST])
        manifest["files"] = {n: hashlib.sha256(d).hexdigest() for n, d in members.items()
                             if n not in (MANIFEST, SIGNATURE)}
        members[MANIFEST] = json.dumps(manifest, indent=1, sort_keys=True).encode()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for n, d in members.items():
            zf.writestr(n, d)
    return out


# --------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_round_trips_exactly_with_no_pickle(tmp_path, swept, tiny_split, method):
    out, row = _export(tmp_path / "b.zip", swept, tiny_split, method)
    bundle = load_bundle(out["path"], expected_manifest_sha256=out["manifest_sha256"])
    model = swept.model(row["run_id"])
    ref = predict_scores(model, tiny_split, tiny_split.test)
    np.testing.assert_array_equal(bundle.predict_proba(_raw_with_sensitive(tiny_split, tiny_split.test)), ref)
    assert type(bundle.estimator) is type(model)
    members = _members(out["path"])
    for name, data in members.items():
        assert not name.endswith((".joblib", ".pkl", ".pt", ".pickle")), name
        assert not data.startswith(b"\x80"), f"{name} looks like a pickle"
    assert {"model.json", "arrays.safetensors", "decision_record.md", "decision_record.json", "metrics.json",
            "frontier.csv", "spec.json", MANIFEST} <= set(members)
    if method == "boosting":  # the trees as LightGBM's own text model
        assert members["lightgbm-0.txt"].startswith(b"tree\n")
    # A single network also ships as ONNX, checked against the model; anything else says why not.
    onnx = bundle.manifest["onnx"]
    assert ("model.onnx" in members) == onnx["written"] == hasattr(model, "module_")
    if onnx["written"]:
        import onnxruntime as ort

        sess = ort.InferenceSession(members["model.onnx"], providers=["CPUExecutionProvider"])
        logit = sess.run(None, {"x": tiny_split.test.X})[0].reshape(-1)
        assert np.abs(1 / (1 + np.exp(-logit.astype(float))) - ref).max() < 1e-5
    else:
        assert type(model).__name__ in onnx["reason"]
    assert str(bundle.signature_status).startswith("unsigned")


def test_threshold_bundle_reads_the_attribute_whatever_the_run_says(tmp_path, swept, tiny_split):
    row = _row(swept, "threshold")
    row.pop("needs_sensitive_at_predict")  # a caller's run dict without the key
    out = export_bundle(tmp_path / "t.zip", model=swept.model(row["run_id"]), split=tiny_split, run=row,
                        record=RECORD, n_boot=20)
    bundle = load_bundle(out["path"])
    assert bundle.needs_sensitive_at_predict and bundle.manifest["needs_sensitive_at_predict"]
    assert out["record"]["content"]["selected"]["needs_sensitive_at_predict"]
    assert "group-specific decision thresholds" in " ".join(bundle.decision["sensitive_uses"])
    raw = tiny_split.test.raw.copy()
    assert bundle.missing_columns(raw) == ["sex"]
    with pytest.raises(ValueError, match="sex"):
        bundle.predict_proba(raw)


def test_group_calibrated_bundle_says_it_reads_the_attribute(tmp_path, swept, tiny_split):
    row = _row(swept, "regularized")
    model = swept.model(row["run_id"])
    cal = calibrate_on_validation(model, tiny_split, method="isotonic").calibrator
    out = export_bundle(tmp_path / "c.zip", model=model, split=tiny_split, run=row, record=RECORD,
                        calibrator=cal, n_boot=20)
    bundle = load_bundle(out["path"])
    assert bundle.needs_sensitive_at_predict and bundle.manifest["needs_sensitive_at_predict"]
    assert any("group calibration (isotonic)" in u for u in bundle.decision["sensitive_uses"])
    assert "**yes** (group calibration" in _members(out["path"])["decision_record.md"].decode()
    raw = _raw_with_sensitive(tiny_split, tiny_split.test)
    ref = apply_calibrator(cal, predict_scores(model, tiny_split, tiny_split.test), tiny_split.test.sensitive)
    np.testing.assert_array_equal(bundle.predict_proba(raw), ref)
    flipped = raw.assign(sex=np.where(raw["sex"] == "F", "M", "F"))
    assert not np.array_equal(bundle.predict_proba(flipped), ref)  # the attribute changes the scores
    assert bundle.missing_columns(tiny_split.test.raw) == ["sex"]


def test_a_model_group_calibrated_inside_round_trips(tmp_path, tiny_split):
    """A CalibratedGroupClassifier reads the attribute in two nested parts; decoding meets them in
    another order than encoding, which made its bundle unloadable (repro audit finding 4)."""
    from fairkit.estimators import CalibratedGroupClassifier, FairRegularizedClassifier

    model = CalibratedGroupClassifier(FairRegularizedClassifier(max_epochs=2, random_state=0), random_state=0)
    model.fit(tiny_split.train.X, tiny_split.train.y, sensitive_features=tiny_split.model_groups(tiny_split.train))
    out = export_bundle(tmp_path / "cgc.zip", model=model, split=tiny_split, record=RECORD, n_boot=0,
                        run={"run_id": "cgc", "method": "CalibratedGroupClassifier", "eta": 0.0, "seed": 0})
    assert len(out["record"]["content"]["selected"]["sensitive_uses"]) == 2
    bundle = load_bundle(out["path"])
    raw = _raw_with_sensitive(tiny_split, tiny_split.test)
    np.testing.assert_array_equal(bundle.predict_proba(raw), predict_scores(model, tiny_split, tiny_split.test))


def test_versions_a_run_was_trained_with_go_into_the_record_and_a_bundle_names_other_ones(tmp_path, swept,
                                                                                           tiny_split, monkeypatch):
    """Repro audit findings 1 and 3: a record names the versions its model was trained with when
    they are not the exporter's, and a bundle loaded under other versions says which."""
    from fairkit import export as export_mod
    from fairkit.store import library_versions

    row = _row(swept, "regularized")
    assert json.loads(row["trained_with"]) == library_versions()
    out, _ = _export(tmp_path / "same.zip", swept, tiny_split)
    content = out["record"]["content"]
    assert content["trained_with"] == content["versions"] == library_versions()
    assert not any("was trained" in lim for lim in content["limitations"])
    assert load_bundle(out["path"]).version_changes == []
    # Trained elsewhere (the run's record says so): the record says where its numbers come from.
    # Versions no environment has (the floors run has scikit-learn 1.7.0 and LightGBM 4.3.0 itself).
    elsewhere = {**library_versions(), "scikit-learn": "1.6.99", "lightgbm": "4.2.99"}
    row = {**row, "trained_with": json.dumps(elsewhere)}
    moved = export_bundle(tmp_path / "moved.zip", model=swept.model(row["run_id"]), split=tiny_split, run=row,
                          record=RECORD, n_boot=0)
    content = moved["record"]["content"]
    assert content["trained_with"] == elsewhere
    here = library_versions()
    assert any(f"scikit-learn 1.6.99 (here {here['scikit-learn']}), lightgbm 4.2.99 (here {here['lightgbm']})" in lim
               for lim in content["limitations"])
    # Loaded under other versions, the bundle says so, and a model that then fails to run says why.
    monkeypatch.setattr(export_mod, "version_changes",
                        lambda recorded: ["scikit-learn 1.9.1 (here 1.7.0)"] if recorded else [])
    bundle = load_bundle(out["path"])
    assert bundle.version_changes == ["scikit-learn 1.9.1 (here 1.7.0)"]

    def fails(self, frame):
        raise AttributeError("'LogisticRegression' object has no attribute 'multi_class'")

    monkeypatch.setattr(export_mod.ModelBundle, "predict_proba", fails)
    with pytest.raises(BundleIntegrityError, match=r"multi_class'; refusing the bundle. It was made with "
                                                   r"scikit-learn 1.9.1 \(here 1.7.0\): load it with those"):
        load_bundle(out["path"])


def test_the_record_is_read_from_the_model(swept, tiny_split):
    row = _row(swept, "regularized")
    model = swept.model(row["run_id"])
    with pytest.raises(ValueError, match="eta"):
        build_record(model=model, split=tiny_split, run={**row, "eta": row["eta"] + 1}, record=RECORD, n_boot=5)
    with pytest.raises(ValueError, match="method boosting"):
        build_record(model=model, split=tiny_split, run={**row, "method": "boosting"}, record=RECORD, n_boot=5)
    with pytest.raises(ValueError, match="rationale"):
        build_record(model=model, split=tiny_split, run=row, n_boot=5,
                     record=DecisionRecord(purpose="p", rationale=" ", decider="me"))


def test_build_record_writes_nothing(tmp_path, swept, tiny_split, monkeypatch):
    monkeypatch.chdir(tmp_path)
    row = _row(swept, "threshold")
    built = build_record(model=swept.model(row["run_id"]), split=tiny_split, run=row, record=RECORD, n_boot=5,
                         audit_head=(3, "ab" * 32))
    assert not list(tmp_path.iterdir())
    md = built.markdown()
    for text in ["Purpose and intended use", "A. Committee", "Smallest accuracy loss", "demographic parity",
                 "The selected model", row["run_id"], "**yes** (group-specific decision thresholds",
                 "Known limitations", "Kleinberg", "re-review"]:
        assert text in md, text
    assert built.needs_sensitive_at_predict and built.record["audit_head"] == {"index": 3, "hash": "ab" * 32}


def test_decision_record_contents(tmp_path, swept, tiny_split):
    out, row = _export(tmp_path / "b.zip", swept, tiny_split)
    rec = json.loads(_members(out["path"])["decision_record.json"])
    assert rec["content"]["selected"]["eta"] == row["eta"]
    test_gaps = rec["content"]["metrics"]["test"]["gaps"][0]
    assert test_gaps["demographic_parity_difference_low"] <= test_gaps["demographic_parity_difference"] + 1e-12
    front = rec["content"]["frontier"]
    # The chosen run is always in the record's frontier table, marked once (on the front or not).
    assert sum(f["selected"] for f in front) == 1
    assert [f["run_id"] for f in front if f["selected"]] == [row["run_id"]]


# --------------------------------------------------------------------------- nothing runs


class _Payload:
    """Unpickling this creates ``marker``: the attack of issue 16."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_under_any_member_name_never_runs(tmp_path, swept, tiny_split, monkeypatch):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Payload(marker))

    def refuse(*args, **kwargs):
        raise AssertionError("something unpickled bundle content")

    for name in ("pickle.load", "pickle.loads", "joblib.load", "torch.load"):
        monkeypatch.setattr(name, refuse)
    tried = set()
    for method in ("regularized", "threshold", "boosting", "reductions", "adversarial"):
        out, _ = _export(tmp_path / f"{method}.zip", swept, tiny_split, method)
        members = _members(out["path"])
        for name in members:
            bad = _rewrite(out["path"], tmp_path / "bad.zip", {**members, name: payload}, rehash=name != MANIFEST)
            with pytest.raises(BundleIntegrityError, match=re.escape(name)):
                load_bundle(bad)
            assert not marker.exists(), f"the payload under {name} ran"
            tried.add(name)
    assert {MANIFEST, "model.json", "arrays.safetensors", "lightgbm-0.txt", "model.onnx", "spec.json", "metrics.json",
            "frontier.csv", "decision_record.json", "decision_record.md"} <= tried


def test_a_trusted_type_list_guards_model_json(tmp_path, swept, tiny_split):
    out, _ = _export(tmp_path / "b.zip", swept, tiny_split)
    members = _members(out["path"])
    # A model.json naming another class (a callable that would run on construction) is refused by name.
    text = members["model.json"].decode().replace('"fairkit.estimators.FairRegularizedClassifier"', '"os.system"')
    bad = _rewrite(out["path"], tmp_path / "bad.zip", {**members, "model.json": text.encode()})
    with pytest.raises(BundleIntegrityError, match=r"model\.json.*'os\.system' is not a trusted type"):
        load_bundle(bad)


# --------------------------------------------------------------------------- what the hashes and the signature prove


def test_tampering_without_rehashing_is_refused(tmp_path, swept, tiny_split):
    out, _ = _export(tmp_path / "b.zip", swept, tiny_split)
    members = _members(out["path"])
    md = members["decision_record.md"].replace(b"A. Committee", b"Someone Else")
    with pytest.raises(BundleIntegrityError, match=r"changed: decision_record\.md"):
        load_bundle(_rewrite(out["path"], tmp_path / "md.zip", {**members, "decision_record.md": md}, rehash=False))
    with pytest.raises(BundleIntegrityError, match=r"payload\.bin"):
        verify_bundle(_rewrite(out["path"], tmp_path / "x.zip", {**members, "payload.bin": b"x"}, rehash=False))
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    with pytest.raises(BundleIntegrityError, match="not a readable zip"):
        load_bundle(junk)
    with pytest.raises(BundleIntegrityError, match="recorded hash"):
        load_bundle(out["path"], expected_manifest_sha256="0" * 64)
    with pytest.raises(BundleIntegrityError, match="missing"):
        read_bundle_record(tmp_path / "gone.zip")


def test_an_edited_decision_field_is_refused(tmp_path, swept, tiny_split):
    out, _ = _export(tmp_path / "t.zip", swept, tiny_split, "threshold")
    members = _members(out["path"])
    for field, value in [("threshold", 0.0), ("needs_sensitive_at_predict", False), ("group_pooling", None),
                         ("sensitive_uses", []), ("calibration", {"method": "platt", "grouping": []})]:
        manifest = json.loads(members[MANIFEST])
        manifest[field] = value
        edited = {**members, MANIFEST: json.dumps(manifest).encode()}
        with pytest.raises(BundleIntegrityError, match=f"'{field}'"):
            load_bundle(_rewrite(out["path"], tmp_path / "e.zip", edited, rehash=False))
    # The record and the manifest edited together (and rehashed) still meet the model itself.
    manifest = json.loads(members[MANIFEST])
    rec = json.loads(members["decision_record.json"])
    for d in (manifest, rec["content"]["selected"]):
        d["needs_sensitive_at_predict"], d["sensitive_uses"] = False, []
    edited = {**members, MANIFEST: json.dumps(manifest).encode(), "decision_record.json": json.dumps(rec).encode()}
    with pytest.raises(BundleIntegrityError, match="loaded model reads the sensitive attribute"):
        load_bundle(_rewrite(out["path"], tmp_path / "e2.zip", edited))
    # JSON true is a Python int, not a probability (it loaded as threshold 1.0).
    manifest = json.loads(members[MANIFEST])
    rec = json.loads(members["decision_record.json"])
    for d in (manifest, rec["content"]["selected"]):
        d["threshold"] = True
    edited = {**members, MANIFEST: json.dumps(manifest).encode(), "decision_record.json": json.dumps(rec).encode()}
    with pytest.raises(BundleIntegrityError, match="The threshold True is not a probability"):
        load_bundle(_rewrite(out["path"], tmp_path / "e3.zip", edited))


def test_signed_bundles(tmp_path, swept, tiny_split, keypair, monkeypatch):
    key, public = keypair
    out, _ = _export(tmp_path / "s.zip", swept, tiny_split, sign_key=key)
    assert out["signed_by"] == keys.key_id(key)
    verified = load_bundle(out["path"], trusted_key=public)
    assert verified.signature_status.verified and keys.key_id(key) in str(verified.signature_status)
    assert load_bundle(out["path"]).signature_status.state == "signed"  # checked, signer not established
    assert read_bundle_record(out["path"], trusted_key=public)["signature_status"].verified

    members = _members(out["path"])
    # A changed member with the manifest's hashes recomputed: the signature no longer matches.
    md = members["decision_record.md"].replace(b"A. Committee", b"Someone Else")
    recomputed = _rewrite(out["path"], tmp_path / "r.zip", {**members, "decision_record.md": md})
    for trusted in (public, False):
        with pytest.raises(BundleIntegrityError, match="changed after the bundle was signed"):
            load_bundle(recomputed, trusted_key=trusted)
    # Editing a decision field of a signed manifest: the same.
    manifest = json.loads(members[MANIFEST])
    manifest["threshold"] = 0.0
    with pytest.raises(BundleIntegrityError, match="changed after the bundle was signed"):
        load_bundle(_rewrite(out["path"], tmp_path / "t.zip", {**members, MANIFEST: json.dumps(manifest).encode()},
                             rehash=False))
    # The signature removed: the manifest still says it was signed.
    stripped = {n: d for n, d in members.items() if n != SIGNATURE}
    with pytest.raises(BundleIntegrityError, match="signature was removed"):
        load_bundle(_rewrite(out["path"], tmp_path / "x.zip", stripped, rehash=False))
    # Removed from the manifest too: an unsigned bundle, refused where a trusted key is required.
    manifest = json.loads(members[MANIFEST])
    manifest["signature"] = None
    unsigned = _rewrite(out["path"], tmp_path / "u.zip", {**stripped, MANIFEST: json.dumps(manifest).encode()},
                        rehash=False)
    assert load_bundle(unsigned).signature_status.state == "unsigned"
    with pytest.raises(BundleIntegrityError, match="unsigned.*trusted key"):
        load_bundle(unsigned, trusted_key=public)
    # Re-signed with another key: not the organisation's.
    other = keys.write_key_pair(tmp_path / "o.pem", tmp_path / "o.pub")
    resigned = tmp_path / "o.zip"
    _export(resigned, swept, tiny_split, sign_key=other)
    with pytest.raises(BundleIntegrityError, match="not by the trusted key"):
        load_bundle(resigned, trusted_key=public)
    # A key that shares the organisation's 64-bit id (a 2**64 search; here every id made equal)
    # is still another key: trust compares whole keys and checks with the trusted one.
    with monkeypatch.context() as m:
        m.setattr(keys, "key_id", lambda key: "c0ffee00c0ffee00")
        with pytest.raises(BundleIntegrityError, match="not by the trusted key.*another key with the same id"):
            load_bundle(resigned, trusted_key=public)
    bad_sig = _rewrite(out["path"], tmp_path / "b.zip", {**members, SIGNATURE: pickle.dumps([1])}, rehash=False)
    with pytest.raises(BundleIntegrityError, match=re.escape(SIGNATURE)):
        load_bundle(bad_sig)


def test_the_configured_keys_sign_and_verify(tmp_path, swept, tiny_split, keypair, monkeypatch):
    keys.write_key_pair(tmp_path / "org.pem", tmp_path / "org.pub")
    monkeypatch.setenv(keys.SIGNING_KEY_ENV, str(tmp_path / "org.pem"))
    out, _ = _export(tmp_path / "s.zip", swept, tiny_split)
    monkeypatch.setenv(keys.TRUST_KEY_ENV, str(tmp_path / "org.pub"))
    assert load_bundle(out["path"]).signature_status.verified
    with pytest.raises(BundleIntegrityError, match="not by the trusted key"):
        load_bundle(out["path"], trusted_key=keypair[1])


# --------------------------------------------------------------------------- malformed and oversized


def test_malformed_manifests_and_member_names(tmp_path, swept, tiny_split):
    out, _ = _export(tmp_path / "b.zip", swept, tiny_split)
    members = _members(out["path"])
    cases = {
        "a list": ({**members, MANIFEST: b"[1, 2]"}, "malformed"),
        "no files table": ({**members, MANIFEST: b'{"format": 2}'}, "malformed"),
        "not JSON": ({**members, MANIFEST: b"\xff"}, "not JSON"),
        "a required member missing": ({n: d for n, d in members.items() if n != "model.json"}, r"model\.json"),
        "a parent path": ({**members, "../evil.txt": b"x"}, r"'\.\./evil\.txt'"),
        "an absolute path": ({**members, "/etc/evil": b"x"}, "absolute paths"),
        # A name twice: another language's reader may keep the other hash (attack audit, session 43).
        "a name twice": ({**members, MANIFEST: members[MANIFEST].replace(b"{", b'{"format": 0, ', 1)},
                         "'format' is given twice"),
    }
    for content, message in cases.values():
        # Rehashed where the manifest is the original: the refusal is then for the case itself.
        bad = _rewrite(out["path"], tmp_path / "m.zip", content, rehash=content.get(MANIFEST) == members[MANIFEST])
        with pytest.raises(BundleIntegrityError, match=message):
            load_bundle(bad)


def test_a_member_larger_than_the_cap_is_not_read(tmp_path, swept, tiny_split, monkeypatch):
    import fairkit.export as ex

    out, _ = _export(tmp_path / "b.zip", swept, tiny_split)
    members = _members(out["path"])
    big = _rewrite(out["path"], tmp_path / "big.zip", {**members, "frontier.csv": bytes(8 << 20)})
    monkeypatch.setattr(ex, "MAX_MEMBER_BYTES", 1 << 20)
    reads = []
    real = ex._read_member
    monkeypatch.setattr(ex, "_read_member", lambda zf, info, cap: reads.append(info.filename) or real(zf, info, cap))
    with pytest.raises(BundleIntegrityError, match=r"frontier\.csv declares 8,388,608 bytes"):
        load_bundle(big)
    assert "frontier.csv" not in reads  # refused on its declared size, before reading
    # A member that inflates past what it may hold stops at the cap, whatever it declares.
    with zipfile.ZipFile(big) as zf:
        info = zf.getinfo("frontier.csv")
        with pytest.raises(BundleIntegrityError, match="inflates past 1,048,576 bytes"):
            real(zf, info, 1 << 20)


def _deflated_zeros(n_chunks: int, chunk: int = 16 << 20) -> bytes:
    """A raw deflate stream of ``n_chunks * chunk`` zero bytes, made from one compressed chunk
    repeated (a full flush makes every chunk independent)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(bytes(chunk)) + c.flush(zlib.Z_FULL_FLUSH)
    return block * n_chunks + zlib.compressobj(9, zlib.DEFLATED, -15).flush()


def _zip_by_hand(path, entries):
    """Write a zip whose members are given as ``(name, deflated, crc, size)``: the size in the
    headers is whatever the entry says, true or not."""
    out, central = bytearray(), bytearray()
    for name, data, crc, size in entries:
        nb = name.encode()
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(data), size, len(nb), 0) + nb + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(data), size,
                               len(nb), 0, 0, 0, 0, 0, offset) + nb
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), len(out), 0)
    Path(path).write_bytes(bytes(out + central + end))


@pytest.mark.slow
@pytest.mark.parametrize("declared", ["honest", "understated"])
def test_score_refuses_an_inflating_bundle_within_4_gib(tmp_path, swept, tiny_split, declared):
    """Issue 16's zip bomb: frontier.csv inflates to 3.5 GiB from 3.5 MB. ``score`` runs under a
    4 GiB address-space limit and refuses it with exit 2, naming the member."""
    out, _ = _export(tmp_path / "b.zip", swept, tiny_split)
    members = _members(out["path"])
    n_chunks = 224  # x 16 MiB = 3.5 GiB
    bomb = _deflated_zeros(n_chunks)
    crc = 0
    zero = bytes(16 << 20)
    for _ in range(n_chunks):
        crc = zlib.crc32(zero, crc)
    entries = []
    for name, data in members.items():
        if name == "frontier.csv":
            entries.append((name, bomb, crc, n_chunks * len(zero) if declared == "honest" else 1000))
        else:
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            entries.append((name, c.compress(data) + c.flush(), zlib.crc32(data), len(data)))
    _zip_by_hand(tmp_path / "bomb.zip", entries)
    assert (tmp_path / "bomb.zip").stat().st_size < 8 << 20
    csv = tmp_path / "rows.csv"
    _raw_with_sensitive(tiny_split, tiny_split.test).to_csv(csv, index=False)
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30)); "
            "from fairkit.__main__ import main; sys.exit(main(sys.argv[1:]))")
    r = subprocess.run([sys.executable, "-c", code, "score", "--bundle", str(tmp_path / "bomb.zip"), "--csv",
                        str(csv), "--out", str(tmp_path / "scored.csv")], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "frontier.csv" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "scored.csv").exists()


# --------------------------------------------------------------------------- the command line


def test_score_and_keygen_on_the_command_line(tmp_path, swept, tiny_split, capsys, keypair):
    from fairkit.__main__ import main

    assert main(["keygen", "--out", str(tmp_path / "k")]) == 0
    priv, pub = tmp_path / "k" / "fairkit-signing-key.pem", tmp_path / "k" / "fairkit-public-key.pem"
    assert priv.exists() and pub.exists() and oct(priv.stat().st_mode & 0o777) == "0o600"
    csv = tmp_path / "rows.csv"
    _raw_with_sensitive(tiny_split, tiny_split.test).to_csv(csv, index=False)

    unsigned, _ = _export(tmp_path / "u.zip", swept, tiny_split)
    capsys.readouterr()
    assert main(["score", "--bundle", str(unsigned["path"]), "--csv", str(csv), "--out", str(tmp_path / "o.csv"),
                 "--expected-manifest-sha256", unsigned["manifest_sha256"]]) == 0
    said = capsys.readouterr().out
    assert "unsigned" in said and "the bundle was made with" not in said
    # Made under other library versions, scoring says which (repro audit finding 3).
    with pytest.MonkeyPatch.context() as mp:
        from fairkit import export as export_mod

        mp.setattr(export_mod, "version_changes", lambda recorded: ["lightgbm 4.7.0 (here 4.3.0)"])
        assert main(["score", "--bundle", str(unsigned["path"]), "--csv", str(csv),
                     "--out", str(tmp_path / "o.csv")]) == 0
    assert "Note: the bundle was made with lightgbm 4.7.0 (here 4.3.0)" in capsys.readouterr().out
    assert main(["score", "--bundle", str(unsigned["path"]), "--csv", str(csv), "--out", str(tmp_path / "o.csv"),
                 "--expected-manifest-sha256", "0" * 64]) == 2
    assert "recorded hash" in capsys.readouterr().err
    assert main(["score", "--bundle", str(unsigned["path"]), "--csv", str(csv), "--out", str(tmp_path / "o.csv"),
                 "--trust", str(pub)]) == 2
    assert "unsigned" in capsys.readouterr().err

    signed, _ = _export(tmp_path / "s.zip", swept, tiny_split, sign_key=keys.load_private_key(priv))
    assert main(["score", "--bundle", str(signed["path"]), "--csv", str(csv), "--out", str(tmp_path / "o.csv"),
                 "--trust", str(pub)]) == 0
    assert "signed by the trusted key" in capsys.readouterr().out
    scored = pd.read_csv(tmp_path / "o.csv")
    assert len(scored) == len(tiny_split.test)


def test_apply_calibrator_uses_the_columns_it_was_fitted_on():
    rng = np.random.default_rng(0)
    n = 400
    groups = pd.DataFrame({"b": rng.choice(["x", "y"], n), "a": rng.choice(["p", "q"], n)})
    p = rng.uniform(0.05, 0.95, n)
    y = (rng.uniform(size=n) < np.where(groups["a"] == "p", p**2, np.sqrt(p))).astype(int)
    cal = GroupFairnessCalibrator(min_group_size=20).fit(p, y, groups[["a"]])
    # The data carries more sensitive columns (in another order) than the calibrator's grouping.
    np.testing.assert_array_equal(apply_calibrator(cal, p, groups), cal.transform(p, groups[["a"]]))
    both = GroupFairnessCalibrator(min_group_size=20).fit(p, y, groups)
    np.testing.assert_array_equal(apply_calibrator(both, p, groups), both.transform(p, groups))


# --------------------------------------------------------------------------- issue 20: what the committee reads


def _row_by_id(swept, run_id):
    t = swept.results
    return t[t.run_id == run_id].iloc[0].to_dict()


def test_a_dominated_chosen_run_is_in_the_record_and_the_bundle_frontier(tmp_path, swept, tiny_split):
    front = pareto_front(swept.results, unfairness="disparate_impact_gap")
    off = swept.results[~swept.results["run_id"].isin(set(front["run_id"]))]
    assert len(off), "the sweep needs a dominated run"
    row = off.iloc[0].to_dict()
    out = export_bundle(tmp_path / "b.zip", model=swept.model(row["run_id"]), split=tiny_split, run=row,
                        record=RECORD, frontier=front, n_boot=20)
    rec = out["record"]
    (chosen,) = [f for f in rec["content"]["frontier"] if f["selected"]]
    assert chosen["run_id"] == row["run_id"] and chosen["on_front"] is False
    # Placed on the axes the front was chosen on, from its own sweep row.
    assert chosen["unfairness_test"] == pytest.approx(1 - row["test_disparate_impact_ratio"])
    assert chosen["performance_val"] == pytest.approx(row["val_accuracy"])
    assert all(f["on_front"] for f in rec["content"]["frontier"] if not f["selected"])
    assert rec["content"]["frontier_axes"]["unfairness"] == "disparate_impact_gap"
    table = read_bundle_record(out["path"], trusted_key=False)["frontier"]
    assert not table.loc[table["run_id"] == row["run_id"], "on_front"].any()
    assert "| chosen (not on the frontier) |" in _members(out["path"])["decision_record.md"].decode()
    # On the front, it is marked plainly "chosen".
    on = front.iloc[0]["run_id"]
    built = build_record(model=swept.model(on), split=tiny_split, run=_row_by_id(swept, on), record=RECORD,
                         frontier=front, n_boot=0)
    assert "| chosen |" in built.markdown() and "not on the frontier" not in built.markdown()


HOSTILE = "<b>Bold</b> | *x* & <script>alert(1)</script>"


@pytest.fixture(scope="module")
def committee_record(swept, tiny_split):
    """A record at threshold 0.4 with a hostile rationale and group name."""
    row = _row(swept, "regularized")
    rec = DecisionRecord(purpose="Screen loans.", rationale=HOSTILE + "\nsecond line", decider="A. Committee")
    return build_record(model=swept.model(row["run_id"]), split=tiny_split, run=row, record=rec,
                        frontier=pareto_front(swept.results), threshold=0.4, n_boot=20,
                        audit_reference={"sex": "F"}).record


def test_the_record_carries_the_audit_counts_and_the_threshold_effect(committee_record, swept, tiny_split):
    from fairkit.metrics import confusion_by_group, disparity_audit, fairness_report

    c = committee_record["content"]
    row = _row(swept, "regularized")
    scores = predict_scores(swept.model(row["run_id"]), tiny_split, tiny_split.test)
    test = tiny_split.test
    rep = fairness_report(test.y, scores, test.sensitive, threshold=0.4)
    assert c["audit"]["band"] == [0.8, 1.25]
    expected = disparity_audit(rep.by_group, reference={"sex": "F"})
    assert [r["reference"] for r in c["audit"]["rows"]] == list(expected["reference"]) and "F" in expected["reference"].values
    assert [r["selection_rate_verdict"] for r in c["audit"]["rows"]] == list(expected["selection_rate_verdict"])
    counts = confusion_by_group(test.y, scores, test.sensitive, threshold=0.4)
    assert [r["tp"] for r in c["confusion_test"]] == list(counts["tp"])
    # The threshold moved from the frontier's: both sets of figures are in the record.
    at = c["at_frontier_threshold"]
    assert at["threshold"] == 0.5 == c["frontier_threshold"]
    assert at["chosen"]["accuracy"] == pytest.approx(rep.overall["accuracy"])
    assert at["values"]["accuracy"] == pytest.approx(row["test_accuracy"])
    assert at["values"]["disparate_impact_gap"] == pytest.approx(1 - row["test_disparate_impact_ratio"])
    # At the frontier's own threshold there is nothing to compare.
    same = build_record(model=swept.model(row["run_id"]), split=tiny_split, run=row, record=RECORD, n_boot=0)
    assert same.record["content"]["at_frontier_threshold"] is None


def test_the_page_and_the_record_read_one_threshold_effect(swept, tiny_split):
    """The Export page's threshold table (fairkit.export.model_threshold_effect) carries the
    figures the record does, calibrated or not; the baseline is counted at the frontier's threshold."""
    from fairkit.export import model_threshold_effect
    from fairkit.metrics import confusion_by_group

    row = _row(swept, "regularized")
    model, base = swept.model(row["run_id"]), swept.model(_row(swept, "unconstrained")["run_id"])
    test = tiny_split.test
    for calibrator in (None, calibrate_on_validation(model, tiny_split, method="platt").calibrator):
        content = build_record(model=model, split=tiny_split, run=row, record=RECORD, calibrator=calibrator,
                               threshold=0.4, n_boot=0).record["content"]
        effect = model_threshold_effect(model, tiny_split, threshold=0.4, calibrator=calibrator, baseline=base)
        assert effect.moved and effect.record() == content["at_frontier_threshold"]
        assert effect.confusion.to_dict(orient="records") == content["confusion_test"]
        expected = confusion_by_group(test.y, predict_scores(base, tiny_split, test), test.sensitive, threshold=0.5)
        pd.testing.assert_frame_equal(effect.baseline, expected)
    still = model_threshold_effect(model, tiny_split, threshold=0.5)
    assert not still.moved and still.record() is None and still.baseline is None
    assert still.at_frontier == still.at_threshold


def test_the_record_lists_every_eta_the_sweep_trained_placement_included(swept, tiny_split):
    """"What was compared" names the etas the runs were trained at, not the grid asked for: an
    eta adaptive placement added (here a run re-labelled at a new eta) is listed, and so the
    exported model's own eta always is."""
    from fairkit.export import sweep_compared
    from fairkit.record import fmt_eta, render_markdown

    results = swept.results.copy()
    row = _row(swept, "regularized")
    other = results.index[results["run_id"] != row["run_id"]][0]
    results.loc[other, "eta"] = 0.0123  # as if placement had trained a run between two grid etas
    placed = str(results.loc[other, "method"])
    compared = sweep_compared(results)
    assert compared["methods"] == list(dict.fromkeys(results["method"]))
    for method, etas in compared["etas"].items():
        assert etas == sorted(set(results.loc[results["method"] == method, "eta"].astype(float)))
    assert 0.0123 in compared["etas"][placed] and compared["seeds"] == sorted(set(results["seed"]))
    md = render_markdown(build_record(model=swept.model(row["run_id"]), split=tiny_split, run=row, record=RECORD,
                                      sweep=compared, n_boot=0).record)
    etas_line = next(line for line in md.splitlines() if line.startswith("Methods:"))
    assert f"{placed}: " in etas_line and fmt_eta(0.0123) in etas_line and fmt_eta(row["eta"]) in etas_line


def test_the_frontiers_figures_are_the_uncalibrated_models_in_page_and_record(swept, tiny_split):
    """A calibrated bundle's "frontier's" figures are the model as the frontier compared it
    (uncalibrated, at 0.50: the sweep's own figures), its other figures the bundle's; the record
    carries both even when the threshold did not move, and says calibration is what differs."""
    from fairkit.export import model_threshold_effect
    from fairkit.metrics import metric_value
    from fairkit.record import render_markdown

    row = _row(swept, "regularized")
    model = swept.model(row["run_id"])
    calibrator = calibrate_on_validation(model, tiny_split, method="platt").calibrator
    effect = model_threshold_effect(model, tiny_split, threshold=0.5, calibrator=calibrator)
    plain = model_threshold_effect(model, tiny_split, threshold=0.5)
    assert not effect.moved and effect.calibrated and effect.at_frontier == plain.at_frontier
    assert effect.at_frontier["accuracy"] == pytest.approx(float(row["test_accuracy"]), abs=1e-12)
    assert effect.at_frontier["disparate_impact_gap"] == pytest.approx(
        metric_value({k[5:]: v for k, v in row.items() if k.startswith("test_")}, "disparate_impact_gap")[0], abs=1e-12)
    assert effect.at_threshold != effect.at_frontier  # calibration moved the scores
    built = build_record(model=model, split=tiny_split, run=row, record=RECORD, calibrator=calibrator,
                         threshold=0.5, n_boot=0).record
    assert built["content"]["at_frontier_threshold"] == effect.record()
    md = render_markdown(built)
    assert "## Effect of the decision threshold and calibration" in md and "without calibration" in md


def test_the_record_reads_headline_first_in_plain_words(committee_record):
    from fairkit.record import render_markdown

    md = _shown(render_markdown(committee_record, reviews="2 sign-offs, 1 dissent"))
    order = [md.index(s) for s in ("- **Model:**", "- **Decision threshold:** **0.40** (the frontier was measured at 0.50)",
                                   "- **Calibration:** none", "- **Accuracy (test):**", "- **1 - disparate impact ratio",
                                   "- **Decided by:** **A. Committee**", "- **Sign-off status:** **2 sign-offs, 1 dissent**",
                                   "## Performance and gaps", "## Disparity audit", "## Rates by group",
                                   "## Decisions by group", "## What was compared", "Rows (whole table)")]
    assert order == sorted(order)  # the headline first, group sizes after the numbers
    assert "_difference" not in md and "disparate_impact" not in md  # no snake_case keys
    gaps = committee_record["content"]["metrics"]["test"]["gaps"][-1]
    assert f"{1 - gaps['disparate_impact_ratio']:.3f} [" in md  # 1 - ratio, as on Trade-offs


def test_html_and_pdf_records_are_escaped_and_render(committee_record, tmp_path):
    import shutil

    from fairkit.record import render_html, render_pdf

    page = render_html(committee_record, reviews="1 sign-off, 0 dissents")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "http" not in page.split("<body>")[0]  # nothing fetched from elsewhere
    assert "1 sign-off, 0 dissents" in page
    pdf = render_pdf(committee_record, reviews="1 sign-off, 0 dissents")
    assert pdf.startswith(b"%PDF-")
    pdftoppm = shutil.which("pdftoppm")
    assert pdftoppm, "pdftoppm (Debian's poppler-utils) is needed: ./fk test installs it"
    (tmp_path / "record.pdf").write_bytes(pdf)
    done = subprocess.run([pdftoppm, "-r", "40", "-png", str(tmp_path / "record.pdf"), str(tmp_path / "page")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 2 and all(p.stat().st_size > 2000 for p in pages)
    text = subprocess.run(["pdftotext", str(tmp_path / "record.pdf"), "-"], capture_output=True, text=True,
                          timeout=60).stdout
    for expected in ("Decision record: synthetic", "Decision threshold", "0.40", "A. Committee",
                     "1 sign-off, 0 dissents", "<script>alert(1)</script>", "Disparity audit"):
        assert expected in text, expected


def test_a_long_rationale_still_prints(committee_record, tmp_path):
    """Hostile-input audit, session 52: a rationale of 4,240 characters made a headline row too
    tall for a page; fpdf refused the whole record and the dashboard's PDF button gave nothing."""
    import copy
    import shutil

    from fairkit.record import render_pdf

    rec = copy.deepcopy(committee_record)
    words = "The committee weighed the loss of accuracy against the gap between groups. "
    rec["rationale"] = words * 80  # 6,000 characters
    rec["decider"] = "A. Committee " * 100
    pdf = render_pdf(rec)
    (tmp_path / "long.pdf").write_bytes(pdf)
    assert shutil.which("pdftotext"), "pdftotext (Debian's poppler-utils) is needed: ./fk test installs it"
    text = subprocess.run(["pdftotext", str(tmp_path / "long.pdf"), "-"], capture_output=True, text=True,
                          timeout=60).stdout
    flat = " ".join(text.split())
    assert flat.count("The committee weighed the loss of accuracy") == 80
    assert "Decision threshold" in flat and "Disparity audit" in flat


@pytest.mark.parametrize("comment, name", [
    ("x" * 400, "Reviewer"),                                         # a pasted token, one unbroken word
    ("A reason. " * 600, "Reviewer"),                                # 6,000 characters of prose
    ("\n".join(f"point {i}" for i in range(80)), "Reviewer"),       # 80 short lines
    ("Too wide.", "R" * 400),                                        # a typed name of 400 characters
])
def test_a_long_comment_or_name_in_the_review_still_prints(committee_record, tmp_path, comment, name):
    """Hostile-input audit, session 53: one reviewer's comment or name in the downloaded record's
    review section made fpdf refuse the whole PDF ("not enough horizontal space", "too high");
    the dashboard's PDF button gave nothing. The text is all there (pdftotext)."""
    import shutil

    from fairkit.record import render_pdf

    review = {"status": "0 sign-offs, 1 dissent", "manifest_sha256": "ab" * 32, "taken": "2026-12-08T01:00:00+00:00",
              "head": "7:" + "cd" * 32,
              "verdicts": {"columns": ["When (UTC)", "Reviewer", "Identity", "Verdict", "Comment"],
                           "rows": [["2026-12-08 00:59:00", name, "self-declared", "Dissent", comment],
                                    ["2026-12-08 00:59:30", "Bob", "self-declared", "Comment", "Fine."]]}}
    (tmp_path / "r.pdf").write_bytes(render_pdf(committee_record, reviews=review))
    assert shutil.which("pdftotext"), "pdftotext (Debian's poppler-utils) is needed: ./fk test installs it"
    text = subprocess.run(["pdftotext", str(tmp_path / "r.pdf"), "-"], capture_output=True, text=True,
                          timeout=60).stdout
    # Line breaks, and the soft hyphens fpdf breaks a long word at, are not the text.
    flat = "".join(text.replace("\u00ad", "").replace("-\n", "").split())
    assert "".join(comment.split()) in flat and "".join(name.split()) in flat
    assert "ab" * 32 in flat and "Fine." in flat


def test_the_effect_table_writes_n_a_for_the_calibration_error_of_decisions(committee_record):
    """Numbers audit, session 53: a calibrated group-threshold model's record gave its frontier
    point's calibration error as 0.375 (the ECE of 0/1 decisions) where its card says n/a."""
    import copy

    from fairkit.metrics import METRIC_LABELS, NO_RANKING
    from fairkit.record import render_markdown

    rec = copy.deepcopy(committee_record)
    sel = rec["content"]["selected"]
    sel.update(method="threshold", ranks=True)
    values = {"accuracy": 0.7, "max_group_ece": 0.375, "calibration_disparity": 0.2}
    rec["content"]["at_frontier_threshold"] = {"threshold": 0.5, "values": values, "calibrated": True,
                                               "chosen": {**values, "max_group_ece": 0.075}}
    text = render_markdown(rec)
    ece = METRIC_LABELS["max_group_ece"]
    effect = text.split("Effect of the decision threshold", 1)[1].split("\n#", 1)[0]
    (row,) = [line for line in effect.splitlines() if line.startswith(f"| {ece} |")]
    assert row.replace("\\", "") == f"| {ece} | {NO_RANKING} | 0.075 |"
    assert "0.375" not in text


BIDI = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: "0.048" after it reads "840.0"


def test_a_bidi_override_in_names_shows_as_a_marker_in_every_rendering(biased_frame, fast_params, tmp_path):
    """A right-to-left override in the sensitive column's name, a group's value, the file's name
    or an answer reversed the card's figures on the Review and Export pages (audit 3, §4): every
    rendering shows it as a visible marker, so the numbers after it stay in order."""
    import shutil

    from fairkit.data import DatasetSpec
    from fairkit.record import card_markdown, render_html, render_markdown, render_pdf
    from fairkit.split import split_dataset

    frame = biased_frame.rename(columns={"sex": f"sex {BIDI}"})
    frame[f"sex {BIDI}"] = frame[f"sex {BIDI}"].map({"F": f"F{BIDI}", "M": "M"})
    spec = DatasetSpec(target="y", positive_label=1, sensitive=[f"sex {BIDI}"], name=f"loans{BIDI}.csv")
    split = split_dataset(frame, spec, seed=0)
    res = run_sweep(split, ["unconstrained"], {"unconstrained": [0.0]}, params=fast_params)
    row = res.results.iloc[0].to_dict()
    answers = DecisionRecord(purpose=f"Screen {BIDI}loans.", rationale=f"Within {BIDI}0.05.",
                             decider=f"A. Committee {BIDI}evil")
    rec = build_record(model=res.model(row["run_id"]), split=split, run=row, record=answers, n_boot=20).record
    markdown = render_markdown(rec) + card_markdown(rec)
    page = render_html(rec)
    for shown in (markdown, page):
        assert BIDI not in shown
        assert "U+202E" in shown and "evil" in shown
    assert "A. Committee <U+202E>evil" in _shown(markdown) and "A. Committee &lt;U+202E&gt;evil" in page
    # The card's gap line: the name, its marker, then the figures in reading order.
    gap = next(line for line in _shown(card_markdown(rec)).splitlines() if "(sex <U+202E>" in line)
    assert re.search(r"\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]", gap), gap
    pdf = render_pdf(rec)
    assert shutil.which("pdftotext"), "pdftotext (Debian's poppler-utils) is needed: ./fk test installs it"
    (tmp_path / "record.pdf").write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(tmp_path / "record.pdf"), "-"], capture_output=True, text=True,
                          timeout=60).stdout
    assert BIDI not in text and "<U+202E>" in text


def test_the_record_says_what_gap_chance_alone_gives_on_the_rows_chosen_on(tmp_path, swept, tiny_split):
    import dataclasses

    from fairkit.metrics import gap_noise_floor
    from fairkit.sweep import predict_scores

    row = _row(swept, "regularized")
    model = swept.model(row["run_id"])
    built = build_record(model=model, split=tiny_split, run=row, record=RECORD, n_boot=5)
    v = tiny_split.validation
    floor = gap_noise_floor(v.y, predict_scores(model, tiny_split, v), v.sensitive)
    (line,) = [t for t in built.record["content"]["limitations"] if t.startswith("By chance alone")]
    assert (f"demographic parity difference of about {floor.loc['demographic_parity_difference', 'median']:.3f} "
            f"on the {len(v):,} validation rows") in line
    assert f"below {floor.loc['demographic_parity_difference', 'q95']:.3f})" in line
    assert line in built.markdown()
    # The chosen definition's gap; a definition the shuffles do not speak for adds no sentence.
    eo = build_record(model=model, split=tiny_split, run=row, n_boot=5,
                      record=dataclasses.replace(RECORD, fairness_definition="equalized_odds"))
    assert any("equalized odds difference of about" in t for t in eo.record["content"]["limitations"])
    other = build_record(model=model, split=tiny_split, run=row, n_boot=5,
                         record=dataclasses.replace(RECORD, fairness_definition="individual_fairness"))
    assert not any(t.startswith("By chance alone") for t in other.record["content"]["limitations"])


def test_the_record_reads_the_model_against_one_decision_for_everyone(swept, tiny_split):
    from fairkit.metrics import fairness_report
    from fairkit.sweep import predict_scores

    v, t = tiny_split.validation, tiny_split.test
    majority = {name: max(np.mean(p.y), 1 - np.mean(p.y)) for name, p in (("val", v), ("test", t))}
    below = None
    for method in ("regularized", "threshold"):
        row = _row(swept, method)
        model = swept.model(row["run_id"])
        built = build_record(model=model, split=tiny_split, run=row, record=RECORD, n_boot=5)
        val_accuracy = fairness_report(v.y, predict_scores(model, tiny_split, v), v.sensitive).overall["accuracy"]
        lines = [x for x in built.record["content"]["limitations"] if "no better than giving everyone" in x]
        # The sentence is there exactly when the model does not beat the validation majority.
        assert len(lines) == int(val_accuracy <= majority["val"]), (method, val_accuracy, majority)
        if lines:
            below = method
            assert f"accuracy ({val_accuracy:.3f}) is no better than giving everyone the same decision " \
                   f"({majority['val']:.3f})" in lines[0]
            assert lines[0] in built.markdown()
        # Every record says what the majority decision scores on the test rows.
        assert (f"Giving everyone the majority decision would score accuracy {majority['test']:.3f} on these "
                "test rows") in built.markdown()
    assert below == "regularized"  # the fast tiny network does not beat it; the thresholds do


def test_a_record_at_another_threshold_says_where_its_below_chance_finding_holds(swept, tiny_split):
    """Exported at 0.4, a run the frontier has on it (at the sweep's 0.5) can be no better than
    one decision for everyone: the record names the threshold of that finding and says the run
    is on the frontier, as its own table marks it, never "off the frontier"."""
    from fairkit.metrics import SWEEP_THRESHOLD

    front = pareto_front(swept.results)
    row = _row(swept, "boosting")
    assert on_sweep_front(front, row)  # the tiny boosted run is on the front at the sweep's threshold
    built = build_record(model=swept.model(row["run_id"]), split=tiny_split, run=row, record=RECORD,
                         frontier=front, threshold=0.4, n_boot=5)
    content = built.record["content"]
    (chosen,) = [f for f in content["frontier"] if f["selected"]]
    assert chosen["on_front"]
    (line,) = [x for x in content["limitations"] if "no better than giving everyone" in x]
    assert "at the threshold 0.40" in line and "off the frontier" not in line
    assert f"is on the frontier, which compares the runs as the sweep measured them (at the threshold " \
           f"{SWEEP_THRESHOLD:.2f}) all the same" in line
    assert line in built.markdown()
    # The same run exported at the sweep's threshold beats one decision for everyone: no sentence.
    at_sweep = build_record(model=swept.model(row["run_id"]), split=tiny_split, run=row, record=RECORD,
                            frontier=front, n_boot=5)
    assert not [x for x in at_sweep.record["content"]["limitations"] if "no better than giving everyone" in x]
    # A run off the front says so, and without a frontier nothing is said of it.
    below = _row(swept, "regularized")
    off = build_record(model=swept.model(below["run_id"]), split=tiny_split, run=below, record=RECORD,
                       frontier=front, n_boot=5)
    (line,) = [x for x in off.record["content"]["limitations"] if "no better than giving everyone" in x]
    assert "at the threshold 0.50" in line and "it is off the frontier" in line
    alone = build_record(model=swept.model(below["run_id"]), split=tiny_split, run=below, record=RECORD, n_boot=5)
    (line,) = [x for x in alone.record["content"]["limitations"] if "no better than giving everyone" in x]
    assert "frontier" not in line


# --------------------------------------------------------------------------- the data section


def test_the_record_counts_the_reserved_threshold_rows_as_part_of_the_table(biased_frame, fast_params):
    """Rows reserved for the thresholds (split.reserve_threshold_rows) are still rows of the
    table: the record's row count, missing values and whole-table group sizes include them,
    while its validation part stays the rows the model was chosen on."""
    from fairkit.data import DatasetSpec
    from fairkit.split import reserve_threshold_rows, split_dataset

    frame = biased_frame.copy()
    frame.loc[::7, "x2"] = np.nan
    spec = DatasetSpec(target="y", positive_label=1, sensitive=["sex", "race"], name="synthetic")
    plain = split_dataset(frame, spec, seed=0)
    reserved = reserve_threshold_rows(plain, 0.5)
    res = run_sweep(reserved, ["unconstrained"], None, [0], params=fast_params)
    row = res.results.iloc[0].to_dict()
    data = {name: build_record(model=res.model(row["run_id"]), split=split, run=row, record=RECORD,
                               n_boot=0).record["content"]["dataset"]
            for name, split in (("plain", plain), ("reserved", reserved))}
    whole = {"rows": len(frame), "missing_values": int(frame.isna().any(axis=1).sum())}
    for name, ds in data.items():
        assert {k: ds[k] for k in whole} == whole, name
        sizes = {(g["attribute"], g["group"]): g["n"] for g in ds["group_sizes"]}
        for attr in spec.sensitive:
            assert {grp: n for (a, grp), n in sizes.items() if a == attr} == frame[attr].value_counts().to_dict()
        assert sum(n for (a, _), n in sizes.items() if a == "sex & race") == len(frame)
    assert data["reserved"]["group_sizes"] == data["plain"]["group_sizes"]
    # The validation figure is the rows chosen on; the reserved rows are named beside it.
    n_val, n_thr = len(reserved.validation), len(reserved.thresholds)
    assert n_val + n_thr == len(plain.validation)
    assert data["reserved"]["split_sizes"] == f"{len(plain.train)}/{n_val}/{len(plain.test)}"
    assert data["reserved"]["threshold_rows"]["rows"] == n_thr and "threshold_rows" not in data["plain"]


def _ece_in_a_marginal_only():
    """Scores calibrated for every group but F & B, whose 20 rows (too few for the gaps) are
    all scored 0.9 and negative: sex F and race B carry that error, every intersection the gaps
    compare has ECE 0. Race B (220 rows) carries it most: 20 / 220 x 0.9."""
    cells = {("F", "A"): 400, ("M", "A"): 200, ("M", "B"): 200}
    sex, race, y, p = [], [], [], []
    for (s, r), n in cells.items():
        sex += [s] * n
        race += [r] * n
        y += [0, 1] * (n // 2)
        p += [0.5] * n
    sex += ["F"] * 20
    race += ["B"] * 20
    y += [0] * 20
    p += [0.9] * 20
    return np.array(y), np.array(p), pd.DataFrame({"sex": sex, "race": race})


def test_the_calibration_note_reads_the_largest_ece_of_every_grouping_the_record_shows():
    from fairkit.calibration import CalibrationCheck
    from fairkit.export import calibration_note
    from fairkit.metrics import fairness_report

    y, p, sens = _ece_in_a_marginal_only()
    report = fairness_report(y, p, sens)
    per = report.gaps["max_group_ece"]
    assert per["sex & race"] == 0.0 and per["race"] == pytest.approx(20 / 220 * 0.9)  # the finest is not the largest
    note = calibration_note(report)
    assert f": {per.max():.3f}, in race." in note and "any group the gaps compare" in note
    # A calibrator is judged as the pages judge it (CalibrationCheck, by the groups it calibrates),
    # and the note gives both figures.
    flat = fairness_report(y, np.full(len(y), 0.5), sens[["race"]])  # race B: 0.5 against 100 / 220
    worse = CalibrationCheck(calibrator=None, grouping=("race",), attribute="race", before=flat,
                             after=fairness_report(y, p, sens[["race"]]), scores_after=p)
    assert worse.ece_after > worse.ece_before > 0
    note = calibration_note(report, worse)
    assert "after group calibration" in note
    assert f"Calibration made it worse here: without it, {worse.ece_before:.3f} ({worse.ece_after:.3f} with it)." in note
    better = dataclasses.replace(worse, before=worse.after, after=flat)
    assert "made it worse" not in calibration_note(report, better)


def test_the_record_notes_the_largest_ece_over_both_attributes_and_the_calibrators_check(biased_frame, fast_params):
    """The record's note (two sensitive attributes) is :func:`calibration_note` of its own test
    report; with a calibrator, of the check the Groups and Export pages show."""
    from fairkit.calibration import calibrate_on_validation
    from fairkit.data import DatasetSpec
    from fairkit.export import calibration_note
    from fairkit.metrics import fairness_report
    from fairkit.split import split_dataset

    split = split_dataset(biased_frame, DatasetSpec(target="y", positive_label=1, sensitive=["sex", "race"],
                                                    name="synthetic"), seed=0)
    res = run_sweep(split, ["unconstrained"], None, [0], params=fast_params)
    row = res.results.iloc[0].to_dict()
    model, test = res.model(row["run_id"]), split.test
    content = build_record(model=model, split=split, run=row, record=RECORD, n_boot=0).record["content"]
    assert [g["attribute"] for g in content["metrics"]["test"]["gaps"]] == ["sex", "race", "sex & race"]
    largest = max(g["max_group_ece"] for g in content["metrics"]["test"]["gaps"])
    assert f": {largest:.3f}, in " in content["calibration_note"]
    report = fairness_report(test.y, predict_scores(model, split, test), test.sensitive)
    assert content["calibration_note"] == calibration_note(report)
    for method in ("platt", "isotonic"):
        check = calibrate_on_validation(model, split, method=method)
        note = build_record(model=model, split=split, run=row, record=RECORD, calibrator=check.calibrator,
                            n_boot=0).record["content"]["calibration_note"]
        assert note == calibration_note(fairness_report(test.y, check.scores_after, test.sensitive), check)
        assert ("Calibration made it worse here" in note) == (check.ece_after > check.ece_before)


def test_the_record_shows_a_small_eta_one_way_and_never_as_zero(tiny_split, fast_params):
    """One formatter (fairkit.record.fmt_eta) for every eta in the record: the export label, the
    headline card, the selected model, the sweep's etas and the frontier table."""
    from fairkit.record import fmt_eta

    res = run_sweep(tiny_split, ["regularized"], {"regularized": [0.0, 4e-05]}, params=fast_params)
    row = res.results[res.results["eta"] > 0].iloc[0].to_dict()
    built = build_record(model=res.model(row["run_id"]), split=tiny_split, run=row, record=RECORD, n_boot=0,
                         frontier=pareto_front(res.results),
                         sweep={"methods": ["regularized"], "etas": [0.0, 4e-05], "seeds": [0]})
    md = built.markdown()
    assert fmt_eta(4e-05) == "4e-05" and fmt_eta(0.0) == "0" and fmt_eta(0.5) == "0.5"
    assert fmt_eta(None) == fmt_eta(float("nan")) == "n/a"
    assert "eta 4e-05 ·" in md  # Exported as: ...
    assert "eta **4e-05**, seed 0" in md  # the headline card
    assert "eta **4e-05**, seed 0, threshold" in md  # the selected model
    assert "Etas: 0, 4e-05." in md
    assert re.search(r"^\| [^|]+ \| 4e-05 \| 0 \|", md, flags=re.M)  # the frontier table
    assert "0.0000" not in md


def test_the_card_says_when_a_headline_gap_rests_on_a_small_group():
    """A grouping of two groups, one of them under the minimum size, keeps both in its gaps
    (fairkit.stats.gap_groups); the record's card says the headline figure rests on it, and
    says nothing when every group compared is large enough."""
    from fairkit.metrics import fairness_report
    from fairkit.record import headline

    rng = np.random.default_rng(1)
    n = 400
    young = np.where(np.arange(n) < 20, "under 25", "25 and over")  # 20 rows: flagged small
    p = rng.random(n)
    y = (rng.random(n) < p).astype(int)

    def card_for(groups):
        r = fairness_report(y, p, pd.DataFrame({"age": groups}))
        rec = {"content": {"selected": {"method": "unconstrained", "eta": 0.0, "seed": 0, "threshold": 0.5,
                                        "needs_sensitive_at_predict": False},
                           "metrics": {"test": {"gaps": r.gaps.reset_index().to_dict(orient="records"),
                                                "by_group": r.by_group.to_dict(orient="records"),
                                                "overall": r.overall}}},
               "fairness_definition": "demographic_parity", "decider": "D", "rationale": "R"}
        label, runs = next((k, v) for k, v in headline(rec) if k.startswith("Demographic parity difference"))
        return "".join(x if isinstance(x, str) else x[1] for x in runs)

    assert "under 25 (20 rows), flagged small below" in card_for(young)
    assert "flagged small" not in card_for(np.where(np.arange(n) < 200, "under 25", "25 and over"))


# --------------------------------------------------------------------------- what a crafted state cannot do


def _rehashed_with(path, out, *, model=None, arrays=None):
    """``path`` with its model.json tree or its arrays changed by the given functions, rehashed
    and unsigned: what an attacker can make when no trusted key is required."""
    from safetensors.numpy import load, save

    members = _members(path)
    if model is not None:
        tree = json.loads(members["model.json"])
        model(tree)
        members["model.json"] = json.dumps(tree).encode()
    if arrays is not None:
        stored = dict(load(members["arrays.safetensors"]))
        arrays(stored)
        members["arrays.safetensors"] = save(stored)
    return _rewrite(path, out, members)


def test_a_small_bundle_cannot_make_loading_allocate_gigabytes(tmp_path, swept, tiny_split):
    import tracemalloc

    out, _ = _export(tmp_path / "b.zip", swept, tiny_split)
    bomb = {"$ndarray": {"unicode": ["a"] * 2_000, "shape": [2_000], "dtype": "<U16000"}}  # 128 MB decoded
    bad = _rehashed_with(out["path"], tmp_path / "bomb.zip",
                         model=lambda t: t["state"]["$map"]["items"].append(["zz", bomb]))
    assert bad.stat().st_size < 200_000
    load_bundle(out["path"])  # the libraries the decoder uses are imported: only decoding is traced
    tracemalloc.start()
    try:
        with pytest.raises(BundleIntegrityError, match=r"model\.json cannot be loaded: at model\['zz'\]: a text "
                                                        r"array of 2,000 x <U16000 would take 128,000,000 bytes"):
            load_bundle(bad)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, peak


def _first_weight(stored: dict) -> str:
    return next(k for k, v in stored.items() if v.dtype.kind == "f" and v.ndim == 2)


@pytest.mark.parametrize("change, says", [
    (lambda a, k: a.__setitem__(k, np.full_like(a[k], np.nan)), "hold NaN or infinite values"),
    (lambda a, k: a.__setitem__(k, np.full_like(a[k], np.inf)), "hold NaN or infinite values"),
    (lambda a, k: a.__setitem__(k, np.zeros((a[k].shape[0] + 3, a[k].shape[1] + 1), a[k].dtype)), "has shape"),
    (lambda a, k: a.__setitem__(k, a[k].astype(np.int64)), "not floating point"),
])
def test_a_network_with_bad_weights_is_refused_at_load_and_by_score(tmp_path, swept, tiny_split, capsys, change,
                                                                      says):
    from fairkit.__main__ import main

    out, _ = _export(tmp_path / "b.zip", swept, tiny_split)
    bad = _rehashed_with(out["path"], tmp_path / "bad.zip", arrays=lambda a: change(a, _first_weight(a)))
    with pytest.raises(BundleIntegrityError, match=r"model\.json cannot be loaded: at model\['estimator'\]\.module_"):
        load_bundle(bad)
    with pytest.raises(BundleIntegrityError, match=says):
        load_bundle(bad)
    csv = tmp_path / "rows.csv"
    _raw_with_sensitive(tiny_split, tiny_split.test).to_csv(csv, index=False)
    capsys.readouterr()
    assert main(["score", "--bundle", str(bad), "--csv", str(csv), "--out", str(tmp_path / "o.csv")]) == 2
    assert "model.json" in capsys.readouterr().err and not (tmp_path / "o.csv").exists()


def _fitted(tree, cls: str, attribute: str) -> list:
    """The state (attribute, value) pairs of the first object of class ``cls`` in ``tree`` that
    has ``attribute`` (a fitted one, not an unfitted template)."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            obj = node.get("$object")
            if isinstance(obj, dict) and obj.get("type") == cls:
                found.append(obj["state"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(tree)
    return next(state for state in found if any(k == attribute for k, _ in state))


def _nan_array(path, cls: str, attribute: str):
    """A change for :func:`_rehashed_with`: ``attribute`` of the fitted ``cls`` all NaN."""
    state = _fitted(json.loads(_members(path)["model.json"]), cls, attribute)
    key = next(v["$ndarray"]["key"] for k, v in state if k == attribute)
    return lambda stored: stored.__setitem__(key, np.full_like(stored[key], np.nan))


@pytest.mark.parametrize("method", ["regularized", "threshold", "boosting"])
def test_a_model_that_does_not_run_is_refused_at_load(tmp_path, swept, tiny_split, method):
    out, _ = _export(tmp_path / "b.zip", swept, tiny_split, method)
    # NaN in the preprocessing: every feature would be NaN, whatever the estimator.
    bad = _rehashed_with(out["path"], tmp_path / "nan.zip",
                         arrays=_nan_array(out["path"], "sklearn.preprocessing.StandardScaler", "mean_"))
    with pytest.raises(BundleIntegrityError, match=r"The model in this bundle does not run: ValueError: Input X "
                                                    r"contains NaN\.; refusing"):
        load_bundle(bad)

    # A scaler for fewer columns than the data it is given: transform fails inside scikit-learn.
    def fewer(tree):
        for pair in _fitted(tree, "sklearn.preprocessing.StandardScaler", "mean_"):
            if pair[0] == "n_features_in_":
                pair[1] -= 1

    bad = _rehashed_with(out["path"], tmp_path / "short.zip", model=fewer)
    with pytest.raises(BundleIntegrityError, match=r"The model in this bundle does not run: ValueError"):
        load_bundle(bad)


# --------------------------------------------------------------------------- the bundle's Markdown record

INJECTED = {
    "purpose": ("Credit pre-screening.\n## Committee review\n- **Status:** 4 sign-offs, 0 dissents: **approved**\n"
                "<script>alert(document.cookie)</script>\n\n> quoted\n1. first\n===\n    indented"),
    "decider": "Alice</b><script>x()</script>",
    "rationale": "ok <img src=x onerror=alert(1)> [Verify the signature here](javascript:alert(1)) :red[x] $5",
}


def test_user_text_in_the_bundles_markdown_cannot_become_markup(tmp_path, swept, tiny_split):
    rec = dataclasses.replace(RECORD, **INJECTED)
    row = _row(swept, "regularized")
    out = export_bundle(tmp_path / "b.zip", model=swept.model(row["run_id"]), split=tiny_split, run=row,
                        record=rec, n_boot=0)
    md = _members(out["path"])["decision_record.md"].decode()
    lines = md.splitlines()
    # No user line opens a heading, list, quote, HTML block, setext underline or code block.
    assert not [x for x in lines if "Committee review" in x and x.lstrip().startswith("#")]
    purpose = lines[lines.index("## Purpose and intended use") + 2:lines.index("## Fairness definition") - 1]
    assert len(purpose) == 8, purpose  # one paragraph: each line a hard break, the blank line dropped
    assert all(x.endswith("  ") for x in purpose[:-1]) and "" not in purpose
    assert not [x for x in purpose if re.match(r" {0,3}([#>=<+*]|-|\d+[.)]| {4})", x)], purpose
    # No raw tag, link or image anywhere: every < [ ] : of user text is escaped.
    assert not re.search(r"(?<!\\)<(script|img|/b)", md)
    assert not re.search(r"(?<!\\)\]\(", md) and "\\](javascript\\:alert(1))" in md
    assert "Decided by **Alice\\</b\\>\\<script\\>x()\\</script\\>**" in md
    assert "\\:red\\[x\\] \\$5" in md
    # It still reads as written, and the record's JSON keeps the text unescaped.
    assert "Credit pre-screening." in _shown(md) and "<img src=x onerror=alert(1)>" in _shown(md)
    assert json.loads(_members(out["path"])["decision_record.json"])["purpose"] == INJECTED["purpose"]
    # HTML copy: the same text escaped for HTML.
    from fairkit.record import render_html

    page = render_html(out["record"])
    assert "<script>" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_a_model_whose_scores_are_not_probabilities_is_refused_at_load(tmp_path, swept, tiny_split):
    # NaN coefficients in the reductions' logistic regressions: scikit-learn predicts NaN silently.
    out, _ = _export(tmp_path / "b.zip", swept, tiny_split, "reductions")
    bad = _rehashed_with(out["path"], tmp_path / "nan.zip",
                         arrays=_nan_array(out["path"], "sklearn.linear_model.LogisticRegression", "coef_"))
    with pytest.raises(BundleIntegrityError, match=r"does not run: its scores for rows made from its own "
                                                    r"preprocessing are not all probabilities"):
        load_bundle(bad)


def test_a_number_that_rounds_to_zero_is_written_without_a_sign():
    """The record's one formatter: a value that rounds to zero at the shown precision has no sign
    (not "-0.000", not "+0.000"), for a value and its interval ends; others keep theirs."""
    from fairkit.record import fmt, fmt_interval, with_interval

    assert [fmt(v) for v in (-0.0, 0.0, -0.0004, 0.0004, 0.0006, -0.0006)] == [
        "0.000", "0.000", "0.000", "0.000", "0.001", "-0.001"]
    assert [fmt(v, signed=True) for v in (-0.0, 0.0, 2.5e-9, -5.3e-9, 0.0006, -0.0006)] == [
        "0.000", "0.000", "0.000", "0.000", "+0.001", "-0.001"]
    assert fmt(-0.004, 2, signed=True) == "0.00" and fmt(np.float64(-0.0)) == "0.000"
    assert fmt_interval(2.5e-9, -5.3e-9, 8.8e-9, signed=True) == "0.000 [0.000, 0.000]"
    assert fmt_interval(-0.0, -0.0, 0.02) == "0.000 [0.000, 0.020]"
    assert fmt_interval(0.1, float("nan"), 0.2) == "0.100"
    assert with_interval({"accuracy": -0.0, "accuracy_low": -1e-5, "accuracy_high": 0.0}, "accuracy") == "0.000 [0.000, 0.000]"


def _patch_member_header(src, dst, name: str, *, set_bits: int = 0, new_name: bytes | None = None):
    """``src`` with the zip headers (local and central) of member ``name`` changed in place."""
    import struct

    data = bytearray(Path(src).read_bytes())
    for sig, flag_at, name_len_at, name_at in ((b"PK\x03\x04", 6, 26, 30), (b"PK\x01\x02", 8, 28, 46)):
        i = 0
        while (i := data.find(sig, i)) >= 0:
            n = struct.unpack_from("<H", data, i + name_len_at)[0]
            if bytes(data[i + name_at:i + name_at + n]) == name.encode():
                struct.pack_into("<H", data, i + flag_at, struct.unpack_from("<H", data, i + flag_at)[0] | set_bits)
                if new_name is not None:
                    data[i + name_at:i + name_at + n] = new_name
            i += 4
    Path(dst).write_bytes(bytes(data))
    return dst


@pytest.mark.parametrize("bits, new_name, says", [
    (0x1, None, "metrics.json in bad.zip is encrypted"),
    (0x800, b"metrics\xff\xfeson", r"not a readable zip: UnicodeDecodeError"),
])
def test_zip_flags_fairkit_never_writes_are_refused_by_name(tmp_path, swept, tiny_split, bits, new_name, says):
    """An encrypted member or a name flagged UTF-8 that is not: an internal error (exit 1) on
    the command line and a stopped Review page before; now the bundle is refused in words."""
    out, _ = _export(tmp_path / "b.zip", swept, tiny_split)
    bad = _patch_member_header(out["path"], tmp_path / "bad.zip", "metrics.json", set_bits=bits, new_name=new_name)
    with pytest.raises(BundleIntegrityError, match=says):
        load_bundle(bad)
    with pytest.raises(BundleIntegrityError, match=says):
        read_bundle_record(bad, expected_manifest_sha256=out["manifest_sha256"])


def test_a_record_of_a_model_that_decides_every_test_row_alike_says_its_test_gaps_are_no_evidence(
        swept, tiny_split):
    """At a threshold where the model approves (almost) every test row its test gaps are about
    zero: the record says why, in the Trade-offs panel's words (frontier.one_decision_note); at
    the sweep's threshold it says nothing of it."""
    from fairkit.frontier import one_decision_note

    row = _row(swept, "regularized")
    model = swept.model(row["run_id"])
    approve_all = build_record(model=model, split=tiny_split, run=row, record=RECORD, threshold=0.01, n_boot=5)
    rate = approve_all.record["content"]["metrics"]["test"]["overall"]["selection_rate"]
    (line,) = [x for x in approve_all.record["content"]["limitations"] if "tells almost nobody apart on test" in x]
    assert line == f"At the threshold 0.01: {one_decision_note(rate, 'test')}"
    assert "the positive decision" in line and line in approve_all.markdown()
    at_sweep = build_record(model=model, split=tiny_split, run=row, record=RECORD, n_boot=5)
    assert not [x for x in at_sweep.record["content"]["limitations"] if "tells almost nobody apart" in x]


@pytest.mark.parametrize("columns", [True, "x0", [], [["x0"]], ["x0", "x0"], None, {"$map": {"type": "builtins.dict",
                                                                                           "items": []}}])
def test_raw_columns_that_are_not_a_list_of_names_refuse_the_bundle(tmp_path, swept, tiny_split, capsys, columns):
    """``raw_columns: true`` ended score in "internal error" (round 3, finding 13)."""
    from fairkit.__main__ import main

    out, _ = _export(tmp_path / "b.zip", swept, tiny_split)

    def change(tree):
        items = tree["state"]["$map"]["items"]
        next(pair for pair in items if pair[0] == "raw_columns")[1] = columns

    bad = _rehashed_with(out["path"], tmp_path / "bad.zip", model=change)
    with pytest.raises(BundleIntegrityError, match=r"model\.json cannot be loaded: its raw_columns .* is not a list "
                                                    "of distinct column names; refusing the bundle"):
        load_bundle(bad)
    csv = tmp_path / "rows.csv"
    _raw_with_sensitive(tiny_split, tiny_split.test).to_csv(csv, index=False)
    capsys.readouterr()
    assert main(["score", "--bundle", str(bad), "--csv", str(csv), "--out", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert "raw_columns" in err and "internal error" not in err


_SCORE_IN_A_CHILD = """
import sys
from fairkit.__main__ import main
sys.exit(main(["score", "--bundle", sys.argv[1], "--csv", sys.argv[2], "--out", sys.argv[3]]))
"""


def test_a_one_hot_encoder_whose_offsets_disagree_is_refused_before_anything_runs(tmp_path, swept, tiny_split):
    """``_n_features_outs`` [-2, ...] made the loader's own check write before its output (heap
    corruption, exit 134; round 3, finding 1): score exits 2 naming the attribute. In a child,
    so the old behaviour kills the child, not the test run."""
    import resource
    import subprocess
    import sys

    out, _ = _export(tmp_path / "b.zip", swept, tiny_split)

    def negative(tree):
        pair = next(p for p in _fitted(tree, "sklearn.preprocessing.OneHotEncoder", "_n_features_outs")
                    if p[0] == "_n_features_outs")
        pair[1] = [-2] + pair[1][1:]

    bad = _rehashed_with(out["path"], tmp_path / "bad.zip", model=negative)
    csv = tmp_path / "rows.csv"
    _raw_with_sensitive(tiny_split, tiny_split.test).to_csv(csv, index=False)

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    proc = subprocess.run([sys.executable, "-c", _SCORE_IN_A_CHILD, str(bad), str(csv), str(tmp_path / "o.csv")],
                          capture_output=True, text=True, timeout=300, preexec_fn=cap)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "OneHotEncoder._n_features_outs [-2" in proc.stderr and "refusing the bundle" in proc.stderr
    assert not (tmp_path / "o.csv").exists()


def test_a_record_says_which_rules_computed_it_and_a_reader_of_an_older_one_is_told(committee_record):
    """Records carry their results revision; a record of an earlier one is shown as recorded, with
    what has changed since (the upgrade audit: older intervals read as if this fairkit's)."""
    from fairkit.record import revision_note
    from fairkit.store import RESULTS_REVISION, REVISIONS

    assert committee_record["content"]["results_revision"] == RESULTS_REVISION
    assert revision_note(committee_record) is None
    five = {**committee_record, "content": {**committee_record["content"], "results_revision": 5}}
    note = revision_note(five)
    assert "results revision 5" in note and REVISIONS[6] in note and REVISIONS[7] in note and REVISIONS[5] not in note
    unstamped = {**committee_record, "content": {k: v for k, v in committee_record["content"].items()
                                                 if k != "results_revision"}}
    note = revision_note(unstamped)
    assert f"revision {RESULTS_REVISION - 1} or earlier" in note and all(text in note for text in REVISIONS.values())
    assert "the export says so, and the sweep must run again" in note  # not "export again" alone (session 50)
    # Read by a fairkit older than the record (downgrade audit, session 50: said nothing).
    newer = {**committee_record, "content": {**committee_record["content"], "results_revision": RESULTS_REVISION + 1}}
    note = revision_note(newer)
    assert f"newer fairkit (results revision {RESULTS_REVISION + 1}" in note and "read it with a fairkit" in note


def test_an_unstamped_record_whose_headline_grouping_changed_shows_the_last_groupings_figure_too():
    """Before results revision 2 a record's headline read the last grouping (the intersection);
    the card now reads the least fair one, and for a record that names no revision it gives the
    last grouping's figure beside it, which that record's frontier and selections show."""
    from fairkit.record import headline

    from fairkit.metrics import HEADLINE_GAPS

    others = {**{k: 0.01 for k in HEADLINE_GAPS}, "disparate_impact_ratio": 0.99}
    gaps = [{**others, "attribute": "sex", "demographic_parity_difference": 0.034},
            {**others, "attribute": "age", "demographic_parity_difference": 0.146},
            {**others, "attribute": "sex & age", "demographic_parity_difference": 0.004}]
    content = {"selected": {"method": "unconstrained", "eta": 0.0, "seed": 0, "threshold": 0.5,
                            "needs_sensitive_at_predict": False},
               "metrics": {"test": {"gaps": gaps, "by_group": [], "overall": {"accuracy": 0.7}}}}

    def card(content):
        rec = {"content": content, "fairness_definition": "demographic_parity", "decider": "D", "rationale": "R"}
        label, runs = next((k, v) for k, v in headline(rec) if k.startswith("Demographic parity difference"))
        return label, "".join(x if isinstance(x, str) else x[1] for x in runs)

    label, text = card(content)
    assert "(age, test)" in label and text.startswith("0.146")
    assert "the last grouping, sex & age, reads 0.004" in text
    label, text = card({**content, "results_revision": 7})
    assert "(age, test)" in label and "last grouping" not in text


def test_a_group_the_calibrator_never_saw_gets_its_map_of_all_rows_and_is_named(tmp_path):
    """A group the model saw in training (pooled) but the group calibrator did not (no row of it
    in validation): the bundle scores it with the calibrator's map of all rows, as before, and
    says so, once; the calibrator's refusal of such a batch had ended `score` as an internal
    error (review of session 42, finding 3)."""
    import warnings

    from fairkit.calibration import calibrate_on_validation
    from fairkit.data import DatasetSpec
    from fairkit.split import split_dataset
    from fairkit.sweep import run_sweep

    rng = np.random.default_rng(3)
    n = 1500
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n), "grp": rng.choice(["a", "b"], n, p=[.6, .4])})
    df.loc[1, "grp"] = "z"  # one row: in one part only
    df["y"] = (df.x1 + 0.4 * (df.grp == "a") + rng.normal(size=n) > 0).astype(int)
    spec = DatasetSpec(target="y", positive_label=1, sensitive=["grp"], name="toyz")
    # A split that trains on z's row (the model sees z) and leaves it out of validation.
    split = next(s for s in (split_dataset(df, spec, seed=seed) for seed in range(50)) if 1 in s.train.index)
    res = run_sweep(split, ["unconstrained"], [0.0], params={"unconstrained": {"max_epochs": 3, "hidden_layer_sizes": ()}})
    row = res.results.iloc[0].to_dict()
    model = res.model(row["run_id"])
    cal = calibrate_on_validation(model, split, method="platt", min_group_size=2).calibrator
    assert "z" not in set(cal.group_names_)
    export_bundle(tmp_path / "b.zip", model=model, split=split, run=row, calibrator=cal, n_boot=20,
                  record=DecisionRecord(purpose="t", rationale="t", decider="me", fairness_rationale="t"))
    b = load_bundle(tmp_path / "b.zip")
    z = df[df.grp == "z"]
    note = b.unseen_groups(z)
    assert note.startswith("Group(s) in the column(s) grp not seen when the group calibrator was fitted: 'z'")
    assert "None of the rows" not in note  # the model knows z: no call to check
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        p = b.predict_proba(z)
    assert [str(w.message) for w in got] == [note]  # said once, by the bundle
    again, said = b.scored(z)  # the command line's one reading: the same scores and note, no warning
    np.testing.assert_array_equal(again, p)
    assert said == note
    raw = model.predict_proba(b.transform(z))[:, 1]
    z_logit = np.log(raw / (1 - raw))
    np.testing.assert_allclose(p, cal.global_map_(z_logit, raw), atol=1e-3)


def test_a_bundle_whose_numeric_sensitive_column_is_an_input_loads(tmp_path):
    """The load check tries the model on rows made from its preprocessing: a numeric sensitive
    input takes the imputer's fill value (2.0) and a missing cell, no training group; a first
    version of the unseen-group check refused such a bundle at load (review finding 1)."""
    from fairkit.data import DatasetSpec
    from fairkit.split import split_dataset
    from fairkit.sweep import run_sweep

    rng = np.random.default_rng(1)
    n = 1500
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                       "grp": rng.choice([1, 2, 3], n, p=[.5, .35, .15])})
    df["y"] = (df.x1 + 0.4 * (df.grp == 1) + rng.normal(size=n) > 0).astype(int)
    spec = DatasetSpec(target="y", positive_label=1, sensitive=["grp"], sensitive_as_features=True, name="toy")
    split = split_dataset(df, spec, seed=0)
    res = run_sweep(split, ["threshold"], [1.0], params={"threshold": {"base_params": {"n_estimators": 10}}})
    row = res.results.iloc[0].to_dict()
    export_bundle(tmp_path / "b.zip", model=res.model(row["run_id"]), split=split, run=row, n_boot=20,
                  record=DecisionRecord(purpose="t", rationale="t", decider="me", fairness_rationale="t"))
    b = load_bundle(tmp_path / "b.zip")
    assert b.needs_sensitive_at_predict and b.unseen_groups(df.head(20)) is None
    assert b.predict(df.head(20)).shape == (20,)


def test_a_threshold_two_decimals_would_round_is_written_in_full(swept, tiny_split):
    """Oracle audit, session 44: exported at 0.6904 the record said "threshold 0.69" and "counts at
    threshold 0.69", while the counts were at 0.6904 (one more row selected at 0.69)."""
    from fairkit.record import fmt_threshold, render_markdown

    assert (fmt_threshold(0.5), fmt_threshold(0.45), fmt_threshold(0.6904)) == ("0.50", "0.45", "0.6904")
    row = _row(swept, "regularized")
    built = build_record(model=swept.model(row["run_id"]), split=tiny_split, run=row,
                         record=DecisionRecord(purpose="p", rationale="r", decider="d"), frontier=pareto_front(swept.results),
                         threshold=0.6904, n_boot=0)
    text = render_markdown(built.record)
    assert "counts at threshold 0.6904" in text and "0.69)" not in text and "threshold 0.69 " not in text


def test_a_frontier_row_another_method_beats_says_so():
    """Oracle audit, session 44: the record's frontier is each method's own front; the chosen
    setting (linear at eta 0: accuracy 0.7425, gap 0.1742) sat on it beside threshold at eta 1
    (0.7550, 0.1508), which beats it on both validation axes, with no word."""
    from fairkit.record import _beaten_by_another_method

    front = [{"method": "linear", "eta": 0.0, "performance_val": 0.7425, "unfairness_val": 0.1742},
             {"method": "threshold", "eta": 1.0, "performance_val": 0.7550, "unfairness_val": 0.1508},
             {"method": "threshold", "eta": 0.5, "performance_val": 0.7500, "unfairness_val": 0.1600},
             {"method": "linear", "eta": 2.0, "performance_val": 0.7000, "unfairness_val": 0.0100},
             {"method": "regularized", "eta": 1.0, "performance_val": float("nan"), "unfairness_val": 0.1}]
    said = _beaten_by_another_method(front)
    assert said[0] == "beaten on validation by Group thresholds (post-processing reference) at eta 1"
    assert said[1:] == ["", "", "", ""]
    # On a front of seed means, the chosen run (one seed's figures, off the front) is not said
    # beaten by another setting's mean (numbers audit, session 53); means beat means.
    means = [{**f, "n_seeds": 2} for f in front]
    means[0]["n_seeds"] = 1
    assert _beaten_by_another_method(means)[0] == ""
    means[0]["n_seeds"] = 2
    assert _beaten_by_another_method(means)[0] == said[0]


def test_the_record_says_its_frontier_is_per_method(committee_record):
    from fairkit.record import render_markdown

    text = render_markdown(committee_record)
    assert "The table lists each method's own front" in text


def test_an_audit_ratio_is_printed_on_the_side_of_the_band_its_verdict_says():
    """Number audit, session 45: a German record printed "0.80 FAIL" under "A ratio from 0.8 to 1.25
    passes" (ratio 0.7979), and 1.254 "1.25 FAIL"."""
    from fairkit.record import _ratio_text

    assert _ratio_text(0.7979, 0.8, 1.25, "fail") == "0.798"
    assert _ratio_text(1.254, 0.8, 1.25, "fail") == "1.254"
    assert _ratio_text(0.81, 0.8, 1.25, "pass") == "0.81"
    assert _ratio_text(0.5, 0.8, 1.25, "fail") == "0.50"


def test_a_record_built_for_a_preview_is_dated_when_it_is_exported(swept, tiny_split):
    """New-user audit, session 48: the dashboard exports the record its preview built, which
    carried the preview's time ("Created 10:19:35" for an export logged at 10:19:54)."""
    import dataclasses
    import datetime as dt

    row = _row(swept, "regularized")
    previewed = build_record(model=swept.model(row["run_id"]), split=tiny_split, run=row,
                             record=dataclasses.replace(RECORD, created="2020-01-01T00:00:00+00:00"),
                             frontier=pareto_front(swept.results), n_boot=0)
    assert previewed.record["created"] == "2020-01-01T00:00:00+00:00"
    written = previewed.with_audit_head((0, "0" * 64))  # taken as the export is logged
    created = dt.datetime.fromisoformat(written.record["created"])
    assert abs((dt.datetime.now(dt.timezone.utc) - created).total_seconds()) < 60


def test_a_bundle_of_a_newer_format_says_to_upgrade(tmp_path, swept, tiny_split):
    """Review of session 48: a bundle a newer fairkit wrote was told to be exported again, as an
    older one is; it is said to need a newer fairkit."""
    import zipfile

    from fairkit.export import FORMAT_VERSION, BundleFormatError

    out, _ = _export(tmp_path / "b.zip", swept, tiny_split)
    with zipfile.ZipFile(out["path"]) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    manifest = json.loads(members[MANIFEST])
    members[MANIFEST] = json.dumps({**manifest, "format": FORMAT_VERSION + 1}).encode()
    with zipfile.ZipFile(tmp_path / "newer.zip", "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(BundleFormatError, match="made by a newer fairkit.*upgrade fairkit"):
        read_bundle_record(tmp_path / "newer.zip", trusted_key=False)


def test_a_fairness_method_at_eta_0_says_it_asks_for_no_fairness(committee_record):
    """New-user audit, session 48: the record's headline read "Fairness-regularized network
    (regularized), eta 0", which a committee took for a fairness-trained model."""
    import copy

    from fairkit.record import headline

    def model_line(rec) -> str:
        runs = dict(headline(rec))["Model"]
        return "".join(r if isinstance(r, str) else r[1] for r in runs)

    assert "asks for no fairness" not in model_line(committee_record)
    at_zero = copy.deepcopy(committee_record)
    at_zero["content"]["selected"]["eta"] = 0.0
    assert "(at eta 0 the method asks for no fairness)" in model_line(at_zero)


def test_a_rate_too_few_to_estimate_is_written_as_such_in_the_record_and_on_the_groups_page(committee_record):
    """Numbers audit, session 49: the record's "Rates by group" printed a TPR on 2 positives as a
    bare "0.000", a measured zero, where the Groups page said "too few to estimate". One writer
    (the page's use: tests/app/test_groups_page.py)."""
    from fairkit.record import group_rate_text

    row = {"attribute": "g", "group": "C", "n": 100, "small": False, "too_few": "tpr, precision",
           "selection_rate": 0.2, "selection_rate_low": 0.13, "selection_rate_high": 0.29,
           "tpr": 0.0, "tpr_low": 0.0, "tpr_high": 0.66, "fpr": float("nan"), "base_rate": 0.02, "accuracy": 0.8,
           "ece": 0.05}
    assert group_rate_text(row, "tpr") == "0.000 (too few to estimate)"
    assert group_rate_text(row, "selection_rate") == "0.200 [0.130, 0.290]"
    assert group_rate_text(row, "fpr") == "n/a"
    # The record's "Rates by group" writes its rows so (a thin TPR among them, flagged here).
    import copy

    from fairkit.record import record_blocks

    rec = copy.deepcopy(committee_record)
    first = rec["content"]["metrics"]["test"]["by_group"][0]
    first["too_few"] = "tpr"
    (rates,) = [b for b in record_blocks(rec) if b[0] == "table" and b[1][:3] == ["Attribute", "Group", "n"]
                and b[1][-1] == "Note"]  # Attribute, Group, n, three rates, ECE, Note
    assert rates[2][0][4] == group_rate_text(first, "tpr") and rates[2][0][4].endswith("(too few to estimate)")


def test_the_record_names_its_split_by_its_rows_and_how_it_was_stratified(committee_record, tiny_split):
    """Upgrade audit, session 50: 0.3.0's and 0.3.1's COMPAS records both read "3702/1235/1235
    (split seed 0)" over other rows. The record names the rows (a digest of each part's row
    positions) and the stratification; another split of the same table gets another digest."""
    from dataclasses import replace

    from fairkit.record import render_markdown
    from fairkit.split import rows_digest, stratified_by

    ds = committee_record["content"]["dataset"]
    assert ds["split_rows_sha256"] == rows_digest(tiny_split) and ds["stratified_by"] == "group x outcome"
    assert stratified_by(tiny_split) == "group x outcome"
    swapped = replace(tiny_split, train=tiny_split.validation, validation=tiny_split.train)  # same rows, other parts
    assert rows_digest(swapped) != rows_digest(tiny_split)
    moved = replace(tiny_split, test=tiny_split.test.take(np.arange(1, len(tiny_split.test))))
    assert rows_digest(moved) != rows_digest(tiny_split)
    assert f"stratified by group x outcome; rows SHA-256 {ds['split_rows_sha256']})" in render_markdown(committee_record)


def test_the_record_lists_every_group_calibrated_with_another_groups_map():
    """Export audit, session 51: a group with no validation rows (COMPAS's Native American women:
    two rows, one in test) had no map of its own, was calibrated with a marginal group's, and the
    record's list of such groups left it out."""
    from fairkit.calibration import GroupFairnessCalibrator
    from fairkit.export import calibration_info

    rng = np.random.default_rng(0)
    fit = pd.DataFrame({"race": rng.choice(["a", "b"], 600), "sex": rng.choice(["f", "m"], 600)})
    fit.loc[(fit.race == "b") & (fit.sex == "f"), "sex"] = "m"  # no b & f where it is fitted
    y = rng.integers(0, 2, 600)
    cal = GroupFairnessCalibrator(method="platt").fit(np.clip(0.3 + 0.4 * y + rng.normal(0, .2, 600), .01, .99),
                                                      y, fit)
    table = pd.concat([fit, pd.DataFrame({"race": ["b", "b"], "sex": ["f", "f"]})], ignore_index=True)
    info = calibration_info(cal, table)
    assert info["fallbacks"]["b & f"] == "the map of sex = f: no rows where the calibrator was fitted"
    assert "b & f" not in (calibration_info(cal).get("fallbacks") or {})


def test_a_model_exported_less_fair_than_the_point_it_was_chosen_as_says_so():
    """New-user and docs audits, session 52: a linear model chosen within a 0.10 parity tolerance,
    exported with per-group Platt scaling, had a test gap of 0.66; the record's headline showed it
    but nothing said the choice's premise no longer held. The record's limitations (which the
    command line prints as NOTE lines) say it, with both validation gaps, in the frontier's axis."""
    from fairkit.export import chosen_gap_change
    from fairkit.metrics import metric_value, summary_metrics

    rng = np.random.default_rng(0)
    n = 2000
    g = pd.DataFrame({"sex": rng.choice(["f", "m"], n)})
    y = rng.integers(0, 2, n)
    fair = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.15, n), 0.01, 0.99)  # one score scale for both
    shifted = np.where(g["sex"] == "f", fair * 0.6, fair)  # what a per-group map can do to it
    gap = lambda s, t: float(metric_value(summary_metrics(y, s, g, threshold=t)[0],  # noqa: E731
                                          "demographic_parity_difference")[0])
    assert gap(shifted, 0.5) > gap(fair, 0.5) + 0.05
    said = chosen_gap_change(y, fair, shifted, g, threshold=0.5, gap_metric="demographic_parity_difference",
                             calibrated=True)
    assert said == (f"As exported (calibrated per group), this model's demographic parity difference on validation, "
                    f"where it was chosen, is {gap(shifted, 0.5):.3f}; as the frontier compared it (uncalibrated, at "
                    f"0.50) it had {gap(fair, 0.5):.3f}. Group calibration maps each group's scores on its own, which "
                    "can undo the balance the model was trained for: a tolerance met on the frontier may not hold for "
                    "this model.")
    # A threshold alone, and both: each cause named (review of session 52).
    for threshold in (0.45, 0.4, 0.35, 0.3):
        if gap(shifted, threshold) > gap(fair, 0.5) + 0.01:
            break
    assert gap(shifted, threshold) > gap(fair, 0.5) + 0.01
    both = chosen_gap_change(y, fair, shifted, g, threshold=threshold, gap_metric="demographic_parity_difference",
                             calibrated=True)
    assert both.startswith(f"As exported (decided at threshold {threshold:.2f} and calibrated per group)")
    assert ("Group calibration maps each group's scores on its own and a threshold moves every group's decisions, "
            "which can undo") in both
    moved = chosen_gap_change(y, fair, shifted, g, threshold=threshold, gap_metric="demographic_parity_difference",
                              calibrated=False)
    assert moved == (f"As exported (decided at threshold {threshold:.2f}), this model's demographic parity difference "
                     f"on validation, where it was chosen, is {gap(shifted, threshold):.3f}; as the frontier compared "
                     f"it (uncalibrated, at 0.50) it had {gap(fair, 0.5):.3f}. A threshold moves every group's "
                     "decisions, which can undo the balance the model was trained for: a tolerance met on the "
                     "frontier may not hold for this model.")
    # Nothing when the bundle decides as the frontier compared it, or is no less fair.
    assert chosen_gap_change(y, fair, fair, g, threshold=0.5, gap_metric="demographic_parity_difference",
                             calibrated=False) is None
    assert chosen_gap_change(y, shifted, fair, g, threshold=0.5, gap_metric="demographic_parity_difference",
                             calibrated=True) is None


def test_the_record_of_a_calibrated_export_that_undoes_its_parity_states_it(swept, tiny_split):
    from fairkit.export import model_chosen_gap_change, model_limitations

    row = _row(swept, "regularized")
    model = swept.model(row["run_id"])
    calibrator = calibrate_on_validation(model, tiny_split, method="isotonic").calibrator
    said = model_chosen_gap_change(model, tiny_split, threshold=0.5, gap_metric="demographic_parity_difference",
                                   calibrator=calibrator)
    assert said and f"it had {float(row['val_demographic_parity_difference']):.3f}." in said  # the sweep's own figure
    built = build_record(model=model, split=tiny_split, run=row, record=RECORD, calibrator=calibrator,
                         threshold=0.5, n_boot=0).record
    assert said in model_limitations(built)
    plain = build_record(model=model, split=tiny_split, run=row, record=RECORD, threshold=0.5, n_boot=0).record
    assert not [x for x in model_limitations(plain) if x.startswith("As exported")]


def test_the_headline_counts_many_calibration_fallbacks_and_the_model_section_lists_them():
    from fairkit.record import HEADLINE_FALLBACKS, calibration_fallbacks_text

    few = {"method": "platt", "grouping": ["race"], "fallbacks": {"a": "the map of all rows: 12 rows"}}
    assert calibration_fallbacks_text(few, most=HEADLINE_FALLBACKS) == calibration_fallbacks_text(few)
    many = {**few, "fallbacks": {f"g{i}": "the map of all rows: 12 rows" for i in range(HEADLINE_FALLBACKS + 26)}}
    assert calibration_fallbacks_text(many, most=HEADLINE_FALLBACKS) == (
        "29 groups have no calibration map of their own and use another group's (listed under \"The selected model\").")
    assert "g28 uses the map of all rows" in calibration_fallbacks_text(many)


def test_a_tables_settings_are_its_records_to_the_digits_a_csv_keeps():
    """Review of session 52: an eta of 1234.5678901234567 written with 15 significant digits was
    refused as edited under an absolute tolerance."""
    from fairkit.export import _same_setting

    assert _same_setting("1234.56789012346", 1234.5678901234567)
    assert _same_setting("0", 0.0) and _same_setting(7, "7") and _same_setting("regularized", "regularized")
    assert not _same_setting("3.25", 2.0) and not _same_setting("1234.5679", 1234.5678901234567)
    assert not _same_setting("linear", "regularized")


def test_a_change_is_written_to_the_digits_that_show_its_direction():
    """One-implementation audit, session 53: a largest group ECE raised from 0.05004 to 0.05006
    read "made it worse ... from 0.050 to 0.050" on the Groups page and in the record."""
    from fairkit.record import fmt_pair

    assert fmt_pair(0.05004, 0.05006) == ("0.0500", "0.0501")
    assert fmt_pair(0.05006, 0.05004) == ("0.0501", "0.0500")
    assert fmt_pair(0.1234, 0.2345) == ("0.123", "0.234")
    assert fmt_pair(0.05, 0.05) == ("0.050", "0.050")
    assert fmt_pair(float("nan"), 0.2) == ("n/a", "0.200")
