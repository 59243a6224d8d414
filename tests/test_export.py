"""Model bundles: round trip bit for bit, integrity refusal, decision record contents."""

import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from fairkit.calibration import GroupFairnessCalibrator
from fairkit.export import (
    BundleIntegrityError,
    DecisionRecord,
    apply_calibrator,
    export_bundle,
    load_bundle,
    read_bundle_record,
    verify_bundle,
)
from fairkit.frontier import pareto_front
from fairkit.sweep import run_sweep

RECORD = DecisionRecord(purpose="Screen loan applications for manual review.",
                        rationale="Smallest accuracy loss that meets the 0.05 parity tolerance.",
                        decider="A. Committee", fairness_rationale="Access to credit should not depend on sex.")


@pytest.fixture(scope="module")
def swept(tiny_split, fast_params):
    return run_sweep(tiny_split, ["unconstrained", "regularized", "threshold", "boosting"],
                     {"regularized": [0.0, 2.0], "threshold": [0.0, 1.0], "boosting": [10.0]},
                     params={**fast_params, "boosting": {"n_estimators": 30}})


def _export(tmp_path, swept, tiny_split, method="regularized", **kw):
    t = swept.results
    row = t[t.method == method].sort_values("eta").iloc[-1].to_dict()
    front = pareto_front(t)
    out = export_bundle(tmp_path / "b.zip", model=swept.model(row["run_id"]), split=tiny_split, run=row,
                        record=RECORD, frontier=front, n_boot=50,
                        sweep={"methods": ["unconstrained", "regularized", "threshold"], "etas": [0, 2], "seeds": [0]}, **kw)
    return out, row


def test_round_trip_predictions_match(tmp_path, swept, tiny_split):
    out, row = _export(tmp_path, swept, tiny_split)
    bundle = load_bundle(out["path"], expected_manifest_sha256=out["manifest_sha256"])
    raw = tiny_split.test.raw.copy()
    for c in tiny_split.spec.sensitive:
        raw[c] = tiny_split.test.sensitive[c].to_numpy()
    p = bundle.predict_proba(raw)
    ref = swept.model(row["run_id"]).predict_proba(tiny_split.test.X)[:, 1]
    assert np.max(np.abs(p - ref)) <= 1e-6
    names = set(zipfile.ZipFile(out["path"]).namelist())
    assert {"weights.pt", "estimator.joblib", "preprocessor.joblib", "decision_record.md",
            "decision_record.json", "metrics.json", "frontier.csv", "spec.json", "manifest.json"} <= names
    assert bundle.manifest["versions"]["torch"].startswith("2.")
    # The ONNX copy of the network reproduces the model's probabilities.
    import onnxruntime as ort

    assert bundle.manifest["onnx"]["written"] and "model.onnx" in names
    sess = ort.InferenceSession(zipfile.ZipFile(out["path"]).read("model.onnx"), providers=["CPUExecutionProvider"])
    logit = sess.run(None, {"x": tiny_split.test.X})[0].reshape(-1)
    assert np.abs(1 / (1 + np.exp(-logit)) - ref).max() < 1e-5


def test_boosted_trees_bundle_round_trip(tmp_path, swept, tiny_split):
    out, row = _export(tmp_path, swept, tiny_split, method="boosting")
    bundle = load_bundle(out["path"], expected_manifest_sha256=out["manifest_sha256"])
    assert not bundle.needs_sensitive_at_predict
    p = bundle.predict_proba(tiny_split.test.raw.copy())
    ref = swept.model(row["run_id"]).predict_proba(tiny_split.test.X)[:, 1]
    assert np.max(np.abs(p - ref)) <= 1e-9
    # Trees have no torch network: no weights.pt or ONNX, and the manifest says why.
    names = set(zipfile.ZipFile(out["path"]).namelist())
    assert "weights.pt" not in names and "model.onnx" not in names
    assert not bundle.manifest["onnx"]["written"] and bundle.manifest["onnx"]["reason"]


def test_threshold_bundle_needs_attribute(tmp_path, swept, tiny_split):
    out, row = _export(tmp_path, swept, tiny_split, method="threshold")
    bundle = load_bundle(out["path"])
    assert bundle.needs_sensitive_at_predict
    raw = tiny_split.test.raw.copy()
    with pytest.raises(ValueError, match="sex"):
        bundle.predict_proba(raw)
    raw["sex"] = tiny_split.test.sensitive["sex"].to_numpy()
    ref = swept.model(row["run_id"]).predict_proba(tiny_split.test.X, sensitive_features=tiny_split.test.sensitive)[:, 1]
    assert np.max(np.abs(bundle.predict_proba(raw) - ref)) <= 1e-6


def test_tampered_bundle_is_refused(tmp_path, swept, tiny_split):
    out, _ = _export(tmp_path, swept, tiny_split)
    src = out["path"]
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(bad, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "decision_record.md":
                data = data.replace(b"A. Committee", b"Someone Else")
            zout.writestr(item, data)
    with pytest.raises(BundleIntegrityError, match="decision_record.md"):
        load_bundle(bad)
    # An extra file smuggled in is refused too.
    extra = tmp_path / "extra.zip"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(extra, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, zin.read(item.filename))
        zout.writestr("payload.joblib", b"x")
    with pytest.raises(BundleIntegrityError, match="payload.joblib"):
        verify_bundle(extra)
    with pytest.raises(BundleIntegrityError, match="not a readable zip"):
        p = tmp_path / "junk.zip"
        p.write_bytes(b"not a zip")
        load_bundle(p)
    with pytest.raises(BundleIntegrityError, match="recorded hash"):
        load_bundle(src, expected_manifest_sha256="0" * 64)


def test_decision_record_contents(tmp_path, swept, tiny_split):
    out, row = _export(tmp_path, swept, tiny_split)
    md = zipfile.ZipFile(out["path"]).read("decision_record.md").decode()
    for text in ["Purpose and intended use", "Screen loan applications", "A. Committee", "Smallest accuracy loss",
                 "demographic parity", "Group sizes", "The selected model", row["run_id"], "By group (test)",
                 "Calibration by group", "Known limitations", "Kleinberg", "re-review"]:
        assert text in md, text
    rec = json.loads(zipfile.ZipFile(out["path"]).read("decision_record.json"))
    assert rec["content"]["selected"]["eta"] == 2.0
    test_gaps = rec["content"]["metrics"]["test"]["gaps"][0]
    assert test_gaps["demographic_parity_difference_low"] <= test_gaps["demographic_parity_difference"] + 1e-12
    front = rec["content"]["frontier"]
    on_front = row["run_id"] in {f["run_id"] for f in front}
    assert sum(f["selected"] for f in front) == int(on_front)


def test_record_requires_rationale_and_decider(tmp_path, swept, tiny_split):
    row = swept.results.iloc[0].to_dict()
    with pytest.raises(ValueError, match="rationale"):
        export_bundle(tmp_path / "x.zip", model=swept.model(row["run_id"]), split=tiny_split, run=row,
                      record=DecisionRecord(purpose="p", rationale=" ", decider="me"))
    assert not (tmp_path / "x.zip").exists()


def test_a_reviewer_reads_a_bundle_without_unpickling_it(tmp_path, swept, tiny_split, monkeypatch):
    out, row = _export(tmp_path, swept, tiny_split)

    def refuse(*args, **kwargs):
        raise AssertionError("read_bundle_record unpickled a member")

    monkeypatch.setattr("fairkit.export.joblib.load", refuse)
    monkeypatch.setattr("pickle.load", refuse)
    got = read_bundle_record(out["path"], expected_manifest_sha256=out["manifest_sha256"])
    assert got["manifest_sha256"] == out["manifest_sha256"]
    assert got["record"]["content"]["selected"]["run_id"] == row["run_id"]
    assert got["record"]["content"]["selected"]["calibration"] is None
    assert "unfairness_test" in got["frontier"] and "test" in got["metrics"]
    with pytest.raises(BundleIntegrityError, match="recorded hash"):
        read_bundle_record(out["path"], expected_manifest_sha256="0" * 64)
    with pytest.raises(BundleIntegrityError, match="missing"):
        read_bundle_record(tmp_path / "gone.zip")


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
