"""Model bundles with an integrity manifest, and the decision record that explains the choice.

A bundle is one zip holding exactly what an ethics committee approved: the fitted preprocessing
and estimator, the group calibrator if any, the dataset spec, the metrics (validation and test,
by group, with intervals), the frontier table the choice was made from, the decision record
(Markdown and JSON), and ``manifest.json`` with the SHA-256 of every file and the library
versions.

Loading verifies every hash before anything is deserialized and refuses a bundle whose contents
changed. Even so, joblib/pickle runs code when it loads: only load bundles this tool wrote and
that came from a source you trust; never load a bundle someone uploaded. Torch weights are stored
as a ``state_dict`` and loaded with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import io
import json
import platform
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from . import __version__, stats
from .data import DatasetSpec
from .store import _jsonable, atomic_write_bytes

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


class BundleIntegrityError(ValueError):
    """A bundle's contents do not match its manifest (changed, missing or extra files)."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def library_versions() -> dict:
    import fairlearn
    import sklearn
    import torch

    return {"fairkit": __version__, "torch": torch.__version__, "scikit-learn": sklearn.__version__,
            "fairlearn": fairlearn.__version__, "pandas": pd.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


# --------------------------------------------------------------------------- torch weights

def _split_torch(estimator):
    """Copy of ``estimator`` without torch modules, plus the predictor's weights and shape.

    The predictor network (``module_``, built by ``make_mlp``) is stored as a state_dict so it
    loads with ``weights_only=True``. Other modules (an adversary, optimizers' state) only matter
    during training and are left out.
    """
    import torch.nn as nn

    if not isinstance(getattr(estimator, "module_", None), nn.Module):
        return estimator, None, None
    est = copy.copy(estimator)
    module = est.module_
    arch = {
        "n_inputs": int(est.n_features_in_),
        "hidden_layer_sizes": [int(h) for h in est.hidden_layer_sizes],
        "activation": est.activation,
        "n_outputs": 1,
    }
    for name, value in list(vars(est).items()):
        if isinstance(value, nn.Module) or type(value).__module__.startswith("torch.optim"):
            setattr(est, name, None)
    buf = io.BytesIO()
    import torch

    torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()}, buf)
    return est, buf.getvalue(), arch


def _onnx_export(model, X_check: np.ndarray) -> tuple[bytes | None, dict]:
    """The predictor network as ONNX (input ``x``: float32 features, output ``logit``).

    Written only when it converts and when onnxruntime reproduces ``predict_proba`` on
    ``X_check`` within 1e-5; the check's result goes into the manifest either way.
    """
    import torch.nn as nn

    module = getattr(model, "module_", None)
    if not isinstance(module, nn.Module):
        return None, {"written": False, "reason": "not a torch network (no ONNX conversion)"}
    try:
        import warnings as _w

        import onnxruntime as ort
        import torch

        net = copy.deepcopy(module).to(dtype=torch.float32).eval()
        buf = io.BytesIO()
        with _w.catch_warnings():
            _w.simplefilter("ignore")  # the legacy exporter announces its deprecation
            torch.onnx.export(net, (torch.zeros(1, X_check.shape[1]),), buf, dynamo=False, input_names=["x"],
                              output_names=["logit"], dynamic_axes={"x": {0: "n"}, "logit": {0: "n"}})
        data = buf.getvalue()
        sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        logit = sess.run(None, {"x": X_check.astype(np.float32)})[0].reshape(-1)
        p_onnx = 1 / (1 + np.exp(-logit.astype(np.float64)))
        diff = float(np.max(np.abs(p_onnx - model.predict_proba(X_check)[:, 1])))
    except Exception as exc:  # an exporter or runtime limitation: the bundle is still complete
        return None, {"written": False, "reason": f"{type(exc).__name__}: {exc}"[:300]}
    if diff > 1e-5:
        return None, {"written": False, "reason": f"ONNX predictions differ by {diff:.2e}"}
    return data, {"written": True, "input": "x", "output": "logit (apply a sigmoid for the probability)",
                  "max_abs_diff_on_test": diff}


def _restore_torch(estimator, weights: bytes, arch: dict):
    import torch

    from .estimators._torch_base import make_mlp

    module = make_mlp(arch["n_inputs"], tuple(arch["hidden_layer_sizes"]), arch["activation"], arch["n_outputs"])
    state = torch.load(io.BytesIO(weights), weights_only=True)
    module.load_state_dict(state)
    module.eval()
    estimator.module_ = module
    return estimator


# --------------------------------------------------------------------------- decision record

IMPOSSIBILITY = (
    "When base rates differ between groups, no classifier other than a perfect one can satisfy "
    "demographic parity, equalized odds and calibration within groups at the same time "
    "(Kleinberg, Mullainathan and Raghavan 2016; Chouldechova 2017). Choosing one definition "
    "means accepting gaps in the others; the gaps of all of them are reported below."
)

REREVIEW_TRIGGERS = [
    "A fairness gap on new data moves outside its confidence interval in this record (fairness drift; `python -m fairkit score` flags it).",
    "Base rates or group sizes in the population change materially, or a new group appears.",
    "The model, its features, the threshold or the intended use change.",
    "Complaints, appeals or audits point to harm for a group.",
    "A scheduled review date passes (at least yearly).",
]


@dataclass
class DecisionRecord:
    """Why this model, at this trade-off, was chosen (model-card practice, Mitchell et al. 2019)."""

    purpose: str
    rationale: str
    decider: str
    fairness_definition: str = "demographic_parity"
    fairness_rationale: str = ""
    intended_use: str = ""
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    content: dict = field(default_factory=dict)

    def validate(self) -> None:
        missing = [n for n in ("rationale", "decider") if not str(getattr(self, n) or "").strip()]
        if missing:
            raise ValueError(f"A decision record needs a {' and a '.join(missing)}: write why this model was chosen and who decided.")


def _fmt(v, digits=3):
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "n/a"
    if isinstance(v, (float, np.floating)):
        return f"{v:.{digits}f}"
    return str(v)


def _with_ci(row, metric):
    low, high = row.get(f"{metric}_low"), row.get(f"{metric}_high")
    if low is None or high is None or not np.isfinite(low):
        return _fmt(row.get(metric))
    return f"{_fmt(row.get(metric))} [{_fmt(low)}, {_fmt(high)}]"


def _md_table(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for _, r in frame.iterrows():
        lines.append("| " + " | ".join(_fmt(r[c]) for c in cols) + " |")
    return "\n".join(lines)


def render_record_markdown(rec: dict) -> str:
    """The decision record as Markdown (the JSON form holds the same content)."""
    c = rec["content"]
    sel = c["selected"]
    lines = [
        f"# Decision record: {c['dataset']['name']}",
        "",
        f"*Created {rec['created']} by fairkit {c['versions']['fairkit']}. Decided by **{rec['decider']}**.*",
        "",
        "## Purpose and intended use",
        rec["purpose"] or "(not stated)",
        "",
        rec["intended_use"] or "",
        "",
        "## Data",
        f"- Source: {c['dataset']['name']} (SHA-256 {c['dataset']['data_hash'][:16]}...), {c['dataset']['rows']:,} rows; "
        f"train/validation/test {c['dataset']['split_sizes']} (split seed {c['dataset']['split_seed']}).",
        f"- Target: `{c['spec']['target']}`, positive label `{c['spec']['positive_label']}`.",
        f"- Sensitive attributes: {', '.join(f'`{s}`' for s in c['spec']['sensitive'])} (not used as model inputs"
        + (" - except: they are features by choice" if c['spec'].get('sensitive_as_features') else "") + ").",
        f"- Missing values (rows with any): {c['dataset']['missing_values']}",
        "",
        "Group sizes (whole table):",
        "",
        _md_table(pd.DataFrame(c["dataset"]["group_sizes"])),
        "",
        "## Fairness definition",
        f"**{rec['fairness_definition'].replace('_', ' ')}**. {rec['fairness_rationale'] or ''}",
        "",
        "## What was compared",
        f"Methods: {', '.join(c['sweep']['methods'])}; eta grid: {c['sweep']['etas']}; seeds: {c['sweep']['seeds']}. "
        "The frontier was chosen on validation data; test figures are reported beside it.",
        "",
        _md_table(pd.DataFrame(c["frontier"])) if c["frontier"] else "(no frontier table)",
        "",
        "## The selected model",
        f"- Method **{sel['method']}**, eta **{_fmt(sel['eta'], 4)}**, seed {sel['seed']}, threshold {_fmt(sel['threshold'], 2)}, run `{sel['run_id']}`.",
        f"- Needs the sensitive attribute at prediction time: **{'yes' if sel['needs_sensitive_at_predict'] else 'no'}**.",
        "",
        "### Rationale",
        rec["rationale"],
        "",
        "### Performance and gaps (test, 95% bootstrap intervals)",
        "",
    ]
    ov = c["metrics"]["test"]["overall"]
    lines.append(f"Accuracy {_fmt(ov['accuracy'])}, balanced accuracy {_fmt(ov['balanced_accuracy'])}, ROC AUC {_fmt(ov['roc_auc'])}, "
                 f"Brier {_fmt(ov['brier'])}.")
    lines.append("")
    gap_rows = []
    for g in c["metrics"]["test"]["gaps"]:
        gap_rows.append({"attribute": g["attribute"],
                         **{m: _with_ci(g, m) for m in ["demographic_parity_difference", "equal_opportunity_difference",
                                                        "equalized_odds_difference", "disparate_impact_ratio", "max_group_ece"]}})
    lines += [_md_table(pd.DataFrame(gap_rows)), "", "### By group (test)", ""]
    grp = []
    for r in c["metrics"]["test"]["by_group"]:
        grp.append({"attribute": r["attribute"], "group": r["group"], "n": r["n"],
                    "selection rate": _with_ci(r, "selection_rate"), "TPR": _with_ci(r, "tpr"),
                    "FPR": _with_ci(r, "fpr"), "ECE": _with_ci(r, "ece"), "small": "yes" if r["small"] else ""})
    lines += [_md_table(pd.DataFrame(grp)), ""]
    if c["metrics"]["test"]["notes"]:
        lines += ["Small-group warnings: " + " ".join(c["metrics"]["test"]["notes"]), ""]
    lines += ["## Calibration by group", c.get("calibration_note", ""), "",
              "## Known limitations", *[f"- {x}" for x in c["limitations"]], "",
              "## What should trigger a re-review", *[f"- {x}" for x in REREVIEW_TRIGGERS], ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- export / load

def calibration_info(calibrator) -> dict | None:
    """What a bundle's group calibrator is: ``method`` and ``grouping`` (the sensitive columns
    whose groups, or intersection, it calibrates; empty for one global map), or None."""
    if calibrator is None:
        return None
    return {"method": calibrator.method, "grouping": list(getattr(calibrator, "group_columns_", []))}


def apply_calibrator(calibrator, scores, sensitive: pd.DataFrame | None) -> np.ndarray:
    """``calibrator.transform`` on the sensitive columns it was fitted on (its grouping may be
    fewer columns than the data's sensitive attributes)."""
    cols = getattr(calibrator, "group_columns_", None)
    groups = sensitive[cols] if cols and sensitive is not None else sensitive
    return calibrator.transform(scores, groups)


def _report_dict(rep) -> dict:
    return {"overall": rep.overall, "gaps": rep.gaps.reset_index().to_dict(orient="records"),
            "by_group": rep.by_group.to_dict(orient="records"),
            "calibration": rep.calibration.to_dict(orient="records"), "notes": rep.notes}


def export_bundle(
    path,
    *,
    model,
    split,
    run: dict,
    record: DecisionRecord,
    frontier: pd.DataFrame | None = None,
    sweep: dict | None = None,
    calibrator=None,
    threshold: float = 0.5,
    n_boot: int = 200,
) -> dict:
    """Write a model bundle (zip) with its decision record and manifest.

    Parameters
    ----------
    path : path
        The zip to write (atomically).
    model : fitted estimator
    split : DatasetSplit
        The split the model was trained and evaluated on (its fitted preprocessing is bundled).
    run : dict
        The run's row from the sweep table (``run_id``, ``method``, ``eta``, ``seed``, ...).
    record : DecisionRecord
        Purpose, rationale (required) and decider (required).
    frontier : DataFrame, optional
        The frontier table the choice was made from.
    sweep : dict, optional
        ``methods``, ``etas``, ``seeds`` of the sweep.
    calibrator : fitted GroupFairnessCalibrator, optional
    threshold : float
    n_boot : int
        Bootstrap resamples for the intervals in the record.

    Returns
    -------
    dict
        ``path``, ``manifest_sha256`` (hash of the manifest: record it to recognise the bundle
        later) and ``record`` (the decision record as a dict).
    """
    from .metrics import fairness_report
    from .sweep import predict_scores

    record.validate()
    spec = split.spec
    reports = {}
    for name, part in (("validation", split.validation), ("test", split.test)):
        scores = predict_scores(model, split, part)
        if calibrator is not None:
            scores = apply_calibrator(calibrator, scores, part.sensitive)
        reports[name] = fairness_report(part.y, scores, part.sensitive, threshold=threshold, n_boot=n_boot)

    all_sens = pd.concat([p.sensitive for p in split.parts.values()], ignore_index=True)
    from .groups import group_hierarchy

    sizes = []
    for level in group_hierarchy(all_sens):
        for name, n in zip(level.encoding.names, level.encoding.counts()):
            sizes.append({"attribute": level.name, "group": name, "n": int(n)})
    n_rows = sum(len(p) for p in split.parts.values())
    missing = int(sum(p.raw.isna().any(axis=1).sum() for p in split.parts.values()))
    front_records = []
    if frontier is not None and len(frontier):
        keep = [c for c in ["method", "eta", "seed", "run_id", "performance_val", "unfairness_val",
                            "performance_test", "unfairness_test", "needs_sensitive_at_predict"] if c in frontier]
        front_records = frontier[keep].assign(selected=frontier["run_id"] == run["run_id"]).to_dict(orient="records")
    limitations = [
        IMPOSSIBILITY,
        "Metrics are estimates from finite samples; small groups have wide intervals and intersections below the "
        "minimum size are flagged rather than hidden.",
        "Fairness here is statistical and group-level; it does not establish that individual decisions are just, "
        "nor that the data's labels are free of historical bias.",
        "The chosen trade-off is a value judgement by the people named in this record, not a property of the software.",
    ]
    if run.get("needs_sensitive_at_predict"):
        limitations.append("This model applies group-specific thresholds and needs the sensitive attribute at prediction "
                           "time; check that this is lawful and acceptable for the intended use.")
    ece = reports["test"].gap("max_group_ece")
    content = {
        "versions": library_versions(),
        "dataset": {"name": spec.name, "data_hash": split.data_hash, "rows": n_rows + split.dropped_rows,
                    "split_sizes": f"{len(split.train)}/{len(split.validation)}/{len(split.test)}",
                    "split_seed": split.seed, "missing_values": missing, "group_sizes": sizes},
        "spec": spec.to_dict(),
        "sweep": sweep or {"methods": [run.get("method")], "etas": [run.get("eta")], "seeds": [run.get("seed")]},
        "frontier": front_records,
        "selected": {"run_id": run.get("run_id"), "method": run.get("method"), "eta": float(run.get("eta", 0.0)),
                     "seed": int(run.get("seed", 0)), "threshold": float(threshold),
                     "needs_sensitive_at_predict": bool(run.get("needs_sensitive_at_predict", False)),
                     "calibrated": calibrator is not None, "calibration": calibration_info(calibrator)},
        "metrics": {k: _report_dict(v) for k, v in reports.items()},
        "calibration_note": f"Largest expected calibration error of any group on test: {_fmt(ece)}"
                            + (" (after group calibration)." if calibrator is not None else "."),
        "limitations": limitations,
        "rereview_triggers": REREVIEW_TRIGGERS,
    }
    rec = {"format": FORMAT_VERSION, "purpose": record.purpose, "intended_use": record.intended_use,
           "rationale": record.rationale, "decider": record.decider,
           "fairness_definition": record.fairness_definition, "fairness_rationale": record.fairness_rationale,
           "created": record.created, "content": _jsonable(content)}

    files: dict[str, bytes] = {}
    est, weights, arch = _split_torch(model)
    onnx_bytes, onnx_info = _onnx_export(model, split.test.X)
    if onnx_bytes is not None:
        files["model.onnx"] = onnx_bytes
    buf = io.BytesIO()
    joblib.dump(est, buf)
    files["estimator.joblib"] = buf.getvalue()
    if weights is not None:
        files["weights.pt"] = weights
    buf = io.BytesIO()
    joblib.dump({"preprocessor": split.preprocessor, "raw_columns": split.raw_columns}, buf)
    files["preprocessor.joblib"] = buf.getvalue()
    if calibrator is not None:
        buf = io.BytesIO()
        joblib.dump(calibrator, buf)
        files["calibrator.joblib"] = buf.getvalue()
    files["spec.json"] = json.dumps(_jsonable(spec.to_dict()), indent=1).encode()
    files["metrics.json"] = json.dumps(rec["content"]["metrics"], indent=1).encode()
    if frontier is not None:
        files["frontier.csv"] = frontier.to_csv(index=False).encode()
    files["decision_record.json"] = json.dumps(rec, indent=1).encode()
    files["decision_record.md"] = render_record_markdown(rec).encode()
    manifest = {
        "format": FORMAT_VERSION, "created": record.created, "versions": library_versions(),
        "run_id": run.get("run_id"), "threshold": float(threshold), "torch_arch": arch,
        "group_pooling": split.pooling.to_dict() if split.pooling is not None else None,
        "onnx": onnx_info,
        "needs_sensitive_at_predict": bool(run.get("needs_sensitive_at_predict", False)),
        "files": {name: sha256_bytes(data) for name, data in sorted(files.items())},
    }
    manifest_bytes = json.dumps(manifest, indent=1, sort_keys=True).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in sorted(files.items()):
            zf.writestr(name, data)
        zf.writestr(MANIFEST, manifest_bytes)
    atomic_write_bytes(Path(path), out.getvalue())
    return {"path": Path(path), "manifest_sha256": sha256_bytes(manifest_bytes), "record": rec}


@dataclass
class ModelBundle:
    """A loaded bundle: predict on raw rows exactly as the exported run did."""

    estimator: object
    preprocessor: object
    raw_columns: list
    spec: DatasetSpec
    manifest: dict
    record: dict
    metrics: dict
    calibrator: object = None
    frontier: pd.DataFrame | None = None
    manifest_sha256: str = ""

    @property
    def threshold(self) -> float:
        return float(self.manifest.get("threshold", 0.5))

    @property
    def needs_sensitive_at_predict(self) -> bool:
        return bool(self.manifest.get("needs_sensitive_at_predict", False))

    def missing_columns(self, frame: pd.DataFrame) -> list:
        need = list(self.raw_columns) + (list(self.spec.sensitive) if self.needs_sensitive_at_predict or self.calibrator is not None else [])
        return [c for c in need if c not in frame.columns]

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        missing = self.missing_columns(frame)
        if missing:
            raise ValueError(f"The data lacks column(s) the model needs: {', '.join(missing)}.")
        return np.asarray(self.preprocessor.transform(frame[self.raw_columns]), dtype=np.float32)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Positive-class probabilities for raw rows (columns as in the training table)."""
        X = self.transform(frame)
        sens = frame[self.spec.sensitive].reset_index(drop=True) if self.spec.sensitive and all(
            c in frame for c in self.spec.sensitive) else None
        model_sens = sens
        if sens is not None and self.manifest.get("group_pooling"):
            # The model saw intersection labels with small groups pooled: map rows the same way.
            from .groups import SmallGroupPooling, group_labels

            model_sens = SmallGroupPooling.from_dict(self.manifest["group_pooling"]).transform(group_labels(sens))
        if self.needs_sensitive_at_predict:
            p = self.estimator.predict_proba(X, sensitive_features=model_sens)[:, 1]
        else:
            p = self.estimator.predict_proba(X)[:, 1]
        if self.calibrator is not None:
            p = apply_calibrator(self.calibrator, p, sens)
        return p

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return stats.decide(self.predict_proba(frame), self.threshold).astype(int)


def verify_bundle(path, *, expected_manifest_sha256: str | None = None) -> dict:
    """Check every file of a bundle against its manifest without deserializing anything.

    Parameters
    ----------
    path : path
    expected_manifest_sha256 : str, optional
        The manifest hash recorded at export (audit log, decision record). When given, a bundle
        whose manifest was rewritten to match changed files is refused too.

    Returns
    -------
    dict
        The manifest.

    Raises
    ------
    BundleIntegrityError
        Naming what changed, or saying the file is not a fairkit bundle.
    """
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleIntegrityError(f"{path} is not a fairkit bundle (not a readable zip: {exc}).") from exc
    with zf:
        names = set(zf.namelist())
        if MANIFEST not in names:
            raise BundleIntegrityError(f"{path} has no {MANIFEST}; it was not written by fairkit.")
        manifest_bytes = zf.read(MANIFEST)
        if expected_manifest_sha256 and sha256_bytes(manifest_bytes) != expected_manifest_sha256:
            raise BundleIntegrityError(
                f"The manifest of {Path(str(path)).name} does not match the recorded hash taken at "
                "export; it is not the approved bundle.")
        try:
            manifest = json.loads(manifest_bytes)
            listed = manifest["files"]
        except (ValueError, KeyError) as exc:
            raise BundleIntegrityError(f"{path} has an unreadable manifest.") from exc
        extra = names - set(listed) - {MANIFEST}
        missing = set(listed) - names
        changed = [n for n in sorted(set(listed) & names) if sha256_bytes(zf.read(n)) != listed[n]]
    problems = []
    if changed:
        problems.append(f"changed: {', '.join(changed)}")
    if missing:
        problems.append(f"missing: {', '.join(sorted(missing))}")
    if extra:
        problems.append(f"not in the manifest: {', '.join(sorted(extra))}")
    if problems:
        raise BundleIntegrityError(f"The bundle {path} was modified after export ({'; '.join(problems)}); refusing to load it.")
    return manifest


def read_bundle_record(path, *, expected_manifest_sha256: str | None = None) -> dict:
    """Verify a bundle and read what a reviewer reads: no model, nothing unpickled.

    Parameters
    ----------
    path : path
    expected_manifest_sha256 : str, optional
        See :func:`verify_bundle`.

    Returns
    -------
    dict
        ``manifest``, ``manifest_sha256``, ``record`` (the decision record's JSON), ``metrics``
        and ``frontier`` (DataFrame, or None when the bundle holds none).

    Raises
    ------
    BundleIntegrityError
        The bundle is missing, not a bundle, or changed since export.
    """
    if not Path(str(path)).is_file():
        raise BundleIntegrityError(f"The bundle file {path} is missing.")
    manifest = verify_bundle(path, expected_manifest_sha256=expected_manifest_sha256)
    with zipfile.ZipFile(path) as zf:
        return {
            "manifest": manifest,
            "manifest_sha256": sha256_bytes(zf.read(MANIFEST)),
            "record": json.loads(zf.read("decision_record.json")),
            "metrics": json.loads(zf.read("metrics.json")),
            "frontier": (pd.read_csv(io.BytesIO(zf.read("frontier.csv")))
                         if "frontier.csv" in manifest["files"] else None),
        }


def load_bundle(path, *, expected_manifest_sha256: str | None = None) -> ModelBundle:
    """Verify and load a bundle written by :func:`export_bundle`.

    Parameters
    ----------
    path : path
    expected_manifest_sha256 : str, optional
        See :func:`verify_bundle`.

    Warnings
    --------
    Loading runs joblib/pickle on the bundle's files. Only load bundles this tool wrote, from a
    source you trust; never load a bundle a user uploaded.
    """
    readable = read_bundle_record(path, expected_manifest_sha256=expected_manifest_sha256)
    manifest = readable["manifest"]
    with zipfile.ZipFile(path) as zf:
        est = joblib.load(io.BytesIO(zf.read("estimator.joblib")))
        if "weights.pt" in manifest["files"]:
            est = _restore_torch(est, zf.read("weights.pt"), manifest["torch_arch"])
        pre = joblib.load(io.BytesIO(zf.read("preprocessor.joblib")))
        cal = joblib.load(io.BytesIO(zf.read("calibrator.joblib"))) if "calibrator.joblib" in manifest["files"] else None
        spec = DatasetSpec.from_dict(json.loads(zf.read("spec.json")))
    return ModelBundle(estimator=est, preprocessor=pre["preprocessor"], raw_columns=pre["raw_columns"], spec=spec,
                       manifest=manifest, record=readable["record"], metrics=readable["metrics"], calibrator=cal,
                       frontier=readable["frontier"], manifest_sha256=readable["manifest_sha256"])
