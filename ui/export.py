"""Glue for the Export and Review pages: building bundles, showing decision records safely.

Bundles are written by :func:`fairkit.export.export_bundle`, saved under
``default_home()/exports/`` and logged by :func:`fairkit.audit.record_export` (the CLI logs its
exports with the same function, so the Review page lists both). The Review page never unpickles
anything: :func:`fairkit.export.read_bundle_record` verifies a bundle's hashes and reads only its
JSON and CSV members.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from pathlib import Path

import pandas as pd

from fairkit.audit import AuditLog, record_export
from fairkit.calibration import calibrate_on_validation
from fairkit.export import (
    BundleIntegrityError,
    DecisionRecord,
    export_bundle,
    read_bundle_record,
    render_record_markdown,
)
from fairkit.frontier import pareto_front
from fairkit.store import default_home

from .display import md

CALIBRATION_CHOICES = {"none": "No calibration", "platt": "Platt (logistic) per group",
                       "isotonic": "Isotonic per group", "temperature": "Temperature per group"}
N_BOOT = 200


def exports_dir() -> Path:
    """Where exported bundles are kept for the Review page."""
    return default_home() / "exports"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(text)).strip("-")[:40] or "model"


def bundle_file_name(dataset: str, row: dict) -> str:
    """``<dataset>-<method>-eta<eta>-<UTC time>.zip``, safe as a file name."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{_slug(dataset)}-{_slug(row['method'])}-eta{float(row['eta']):g}-{stamp}.zip"


def fit_calibrator(method: str, model, split):
    """The calibrator of :func:`fairkit.calibration.calibrate_on_validation` (the one the
    Groups page shows), or None for ``"none"``."""
    if method == "none":
        return None
    return calibrate_on_validation(model, split, method=method).calibrator


def build_bundle(path, *, model, split, row: dict, results: pd.DataFrame, settings,
                 record: DecisionRecord, unfairness: str, performance: str, threshold: float,
                 calibration: str) -> dict:
    """``export_bundle`` with the sweep's frontier (on the chosen axes) and its settings."""
    frontier = pareto_front(results, unfairness=unfairness, performance=performance, by="method")
    sweep = {"methods": list(settings.methods),
             "etas": {m: list(g) for m, g in settings.etas}, "seeds": list(settings.seeds)}
    return export_bundle(path, model=model, split=split, run=row, record=record, frontier=frontier,
                         sweep=sweep, calibrator=fit_calibrator(calibration, model, split),
                         threshold=threshold, n_boot=N_BOOT)


def preview_markdown(**kwargs) -> str:
    """The decision record the export would write, built into a temporary bundle (not kept,
    not logged) and read back from it."""
    with tempfile.TemporaryDirectory() as tmp:
        out = build_bundle(Path(tmp) / "preview.zip", **kwargs)
    return record_markdown(out["record"])


def export(*, dataset: str, unfairness: str, performance: str, calibration: str,
           row: dict, **kwargs) -> dict:
    """Write the bundle under :func:`exports_dir`, log it, and return what the page shows.

    Returns
    -------
    dict
        ``file`` (name under the exports folder), ``manifest_sha256``, ``entry`` (audit id),
        ``run_id`` and ``markdown`` (the decision record, escaped for display).
    """
    name = bundle_file_name(dataset, row)
    out = build_bundle(exports_dir() / name, row=row, unfairness=unfairness,
                       performance=performance, calibration=calibration, **kwargs)
    entry = record_export(AuditLog(), bundle_path=out["path"],
                          manifest_sha256=out["manifest_sha256"], record=out["record"],
                          unfairness_axis=unfairness, performance_axis=performance)
    return {"file": name, "manifest_sha256": out["manifest_sha256"], "entry": entry,
            "run_id": row["run_id"], "markdown": record_markdown(out["record"])}


# --------------------------------------------------------------------------- safe display

def md_block(text) -> str:
    """Like :func:`ui.display.md` but keeps line breaks (for multi-line answers)."""
    lines = [md(line) for line in str(text or "").splitlines()]
    return "  \n".join(line for line in lines if line) if lines else ""


def _deep_escape(obj):
    if isinstance(obj, str):
        return md(obj)
    if isinstance(obj, dict):
        return {k: _deep_escape(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_deep_escape(v) for v in obj]
    return obj


def _code(text) -> str:
    # Inside a code span only a backtick ends it; Markdown is otherwise shown literally.
    return str(text).replace("`", "'").replace("\n", " ")


def record_markdown(rec: dict) -> str:
    """The decision record as Markdown that is safe to render in the page: every piece of text
    that came from a user (answers, column and group names) is escaped, and headings start at
    level 3. The bundle's own ``decision_record.md`` is unchanged."""
    safe = _deep_escape({k: v for k, v in rec.items() if k != "content"})
    for field in ("purpose", "intended_use", "rationale", "fairness_rationale"):
        safe[field] = md_block(rec.get(field))
    # The record shows the definition with spaces for underscores; escape after that.
    safe["fairness_definition"] = md(str(rec.get("fairness_definition", "")).replace("_", " "))
    content = _deep_escape(rec["content"])
    spec = dict(content["spec"])
    raw_spec = rec["content"]["spec"]
    spec["target"] = _code(raw_spec["target"])
    spec["positive_label"] = _code(raw_spec["positive_label"])
    spec["sensitive"] = [_code(s) for s in raw_spec["sensitive"]]
    content["spec"] = spec
    safe["content"] = content
    # Two levels down, so the record's headings sit under the page's own.
    return "\n".join("##" + line if line.startswith("#") else line
                     for line in render_record_markdown(safe).splitlines())


# --------------------------------------------------------------------------- reading exports

def read_export(entry: dict) -> dict:
    """Verify the bundle of an export entry and read its record and frontier (JSON and CSV only).

    Parameters
    ----------
    entry : dict
        An entry of :func:`fairkit.audit.export_entries` (``bundle``, ``manifest_sha256``).

    Returns
    -------
    dict
        ``ok``; with ``ok`` False an ``error`` to show; otherwise ``record`` (dict),
        ``markdown`` (escaped decision record) and ``frontier`` (DataFrame or None).
    """
    try:
        bundle = read_bundle_record(entry.get("bundle", ""),
                                    expected_manifest_sha256=entry.get("manifest_sha256"))
    except BundleIntegrityError as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "record": bundle["record"], "markdown": record_markdown(bundle["record"]),
            "frontier": bundle["frontier"]}
