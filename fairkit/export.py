"""Model bundles that run no code when they load, their decision record, and their signature.

A bundle is one zip holding exactly what an ethics committee approved: the fitted preprocessing,
estimator and group calibrator *as data* (``model.json``, ``arrays.safetensors`` and LightGBM's
own text model; see :mod:`fairkit.safestate`), an ONNX copy of the network where it converts,
the dataset spec, the metrics (validation and test, by group, with intervals), the frontier
table the choice was made from, the decision record (Markdown and JSON), ``manifest.json`` with
the SHA-256 of every member, the library versions and every field that decides a prediction,
and, when a key signed it, ``manifest.sig``.

Three steps, each usable alone: :func:`build_record` reads the fitted objects and computes the
record (nothing is written; the Export page previews it), :func:`render_record_markdown` renders
it, :func:`write_bundle` writes the zip. :func:`export_bundle` does all three.

What loading proves
-------------------
- Nothing in a bundle is unpickled, so loading one runs none of its content, whoever wrote it.
- The hashes in the manifest detect corruption. They do not detect tampering: whoever can edit
  the zip can recompute them. A manifest hash recorded elsewhere at export (the audit log; pass
  ``expected_manifest_sha256``) detects a rewritten manifest.
- An Ed25519 signature over the manifest (``manifest.sig``) detects any edit after signing; with
  the organisation's public key (``trusted_key``) it also proves who signed. A bundle whose
  signature was stripped loads as "unsigned", and is refused when a trusted key is required.
- The fields that decide (threshold, whether and how the sensitive attribute is read, the small-
  group pooling, the calibration) are in the manifest and in the hashed decision record; the
  loader refuses a bundle where they disagree, or where the loaded model reads the sensitive
  attribute and the record says it does not.
- Every member's declared and actual size is capped before it is read, hashes are computed in a
  stream, and member names with ``..`` or absolute paths are refused. What the model's state
  decodes to is capped too, in proportion to its stored size (:func:`fairkit.safestate.decode_state`).
- The loaded model runs: it is tried on a few rows made from its own fitted preprocessing and
  must give one finite probability per row, or the bundle is refused (:func:`check_runs`).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import hashlib
import io
import json
import math
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import keys, stats
from .data import DatasetSpec
from .frontier import decides_alike, one_decision_note
from .methods import FAIRNESS_DEFINITIONS, scores_rank
from .metrics import AUDIT_BAND, HEADLINE_GAPS, SWEEP_THRESHOLD, in_sentence
from .record import fmt as _fmt
from .record import fmt_pair, fmt_threshold
from .safestate import EncodedState, UntrustedState, arrays_from_bytes, arrays_to_bytes, decode_state, encode_state
from .store import RESULTS_REVISION, _jsonable, atomic_write_bytes, library_versions, strict_json, version_changes

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
MODEL = "model.json"
ARRAYS = "arrays.safetensors"
RECORD_JSON = "decision_record.json"
RECORD_MD = "decision_record.md"
FORMAT_VERSION = 2
#: Members every bundle has.
REQUIRED_MEMBERS = (MODEL, ARRAYS, "spec.json", "metrics.json", RECORD_JSON, RECORD_MD)
#: The fields that decide a prediction: in the manifest and in the record's ``selected``, equal.
DECISION_FIELDS = ("run_id", "method", "eta", "seed", "threshold", "needs_sensitive_at_predict",
                   "sensitive_uses", "group_pooling", "calibration")

#: Rows a loaded model is tried on before its bundle is accepted (:func:`check_runs`); a few
#: keep loading cheap.
CHECK_ROWS = 8
#: Reading limits. A bundle is megabytes; these only stop a crafted zip from filling memory.
MAX_MEMBERS = 64
MAX_MANIFEST_BYTES = 1 << 20
MAX_MEMBER_BYTES = 256 << 20
MAX_BUNDLE_BYTES = 1 << 30
_CHUNK = 1 << 20


class BundleIntegrityError(ValueError):
    """A bundle that cannot be trusted: changed, malformed, oversized, or not signed as required.
    The message names the member or field and says why."""


class InputOutOfRange(ValueError):
    """A row to score holds a value so far beyond the training data's range that the model's
    (float32) input overflows; the message names the first such row and its largest value."""


class BundleFormatError(BundleIntegrityError):
    """A bundle of a format this fairkit does not read (an earlier fairkit's): not evidence of
    tampering, so it is said as what it is (the Review page read "This bundle cannot be trusted
    ... Do not deploy it"; upgrade audit, session 48)."""


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- ONNX

def _onnx_export(model, X_check: np.ndarray) -> tuple[bytes | None, dict]:
    """The predictor network as ONNX (input ``x``: float32 features, output ``logit``).

    Written only when it converts and when onnxruntime reproduces ``predict_proba`` on
    ``X_check`` within 1e-5; the check's result goes into the manifest either way.
    """
    import torch.nn as nn

    module = getattr(model, "module_", None)
    if not isinstance(module, nn.Module):
        return None, {"written": False, "reason": f"{type(model).__name__} is not a single torch network; only "
                      "those are converted (boosted trees, group thresholds and mixtures are not)"}
    try:
        import copy
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
                  "covers": "the network only: x is the preprocessed features (the preprocessing is not converted)",
                  "max_abs_diff_on_test": diff}


# --------------------------------------------------------------------------- signatures

@dataclass(frozen=True)
class SignatureStatus:
    """What a bundle's signature proves.

    Attributes
    ----------
    state : {"unsigned", "signed", "verified"}
        ``signed``: the signature matches the manifest, checked with the public key the bundle
        itself names (nothing was edited after signing, but who signed is not established);
        ``verified``: signed by the trusted key.
    key_id : str or None
        :func:`fairkit.keys.key_id` of the signing key.
    """

    state: str
    key_id: str | None = None
    #: The trusted key, when the bundle is verified with another key the audit log hands over to
    #: or from it (:class:`fairkit.keys.KeyRing`).
    trusted_via: str | None = None

    @property
    def verified(self) -> bool:
        return self.state == "verified"

    def __str__(self) -> str:
        if self.state == "verified" and self.trusted_via:
            return (f"signed by key {self.key_id}, which the audit log hands over to or from the trusted key "
                    f"{self.trusted_via}")
        if self.state == "verified":
            return f"signed by the trusted key {self.key_id}"
        if self.state == "signed":
            return (f"signed by key {self.key_id}, not checked against a trusted key (give one to "
                    "know who signed)")
        return ("unsigned: its hashes detect corruption, not tampering (anyone who can edit the "
                "bundle can recompute them)")


def _sign(manifest_bytes: bytes, key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return json.dumps({"algorithm": "Ed25519", "key_id": keys.key_id(key),
                       "public_key": base64.b64encode(raw).decode("ascii"),
                       "signature": keys.sign(key, manifest_bytes)}, indent=1).encode()


def _check_signature(sig_bytes: bytes | None, manifest: dict, manifest_bytes: bytes, trusted_key,
                     manifest_sha256: str = "") -> SignatureStatus:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    claimed = manifest.get("signature")
    if sig_bytes is None:
        if isinstance(claimed, dict):
            raise BundleIntegrityError(
                f"The manifest says the bundle was signed by key {claimed.get('key_id')}, but {SIGNATURE} "
                "is missing: the signature was removed; refusing to load it.")
        if trusted_key is not None:
            raise BundleIntegrityError(
                f"The bundle is unsigned, and a trusted key ({keys.key_id(keys.trusted_public(trusted_key))}) is required: only "
                "bundles signed with it are accepted.")
        return SignatureStatus("unsigned")
    try:
        sig = json.loads(sig_bytes)
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(sig["public_key"], validate=True))
        text = str(sig["signature"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleIntegrityError(f"{SIGNATURE} is not a fairkit signature ({type(exc).__name__}).") from exc
    kid = keys.key_id(public)
    via = None
    if isinstance(trusted_key, keys.KeyRing):
        # A key a hand-over in the audit log links to the trusted one signed it: that key itself
        # checks it, if the log exported the bundle before the key's hand-over (KeyRing.refusal).
        member = trusted_key.find(public)
        if member is None and len(trusted_key.members) > 1:
            raise BundleIntegrityError(
                f"The bundle is signed by key {kid}, neither the trusted key {trusted_key.key_id} nor a key the audit "
                "log hands over to or from it; refusing to load it.")
        late = trusted_key.refusal(public, manifest_sha256) if member is not None else None
        if late:
            raise BundleIntegrityError(f"The bundle cannot be trusted: {late}; refusing to load it.")
        via = trusted_key.key_id if member is not None and kid != trusted_key.key_id else None
        trusted_key = member[0] if member is not None else trusted_key.anchor
    if trusted_key is not None and not keys.same_key(public, trusted_key):
        # The whole key, not its 64-bit id; and the signature is then checked with the trusted
        # key itself, never with the key the bundle carries.
        raise BundleIntegrityError(
            f"The bundle is signed by key {kid}, not by the trusted key {keys.key_id(trusted_key)}"
            + (" (another key with the same id)" if kid == keys.key_id(trusted_key) else "")
            + "; refusing to load it.")
    if not keys.verify_signature(public if trusted_key is None else trusted_key, manifest_bytes, text):
        raise BundleIntegrityError(
            f"{MANIFEST} was changed after the bundle was signed (key {kid}'s signature does not match "
            "it): the manifest was edited or its hashes recomputed; refusing to load it.")
    if not isinstance(claimed, dict) or claimed.get("key_id") != kid:
        raise BundleIntegrityError(f"{MANIFEST} does not name the key that signed it ({kid}).")
    return SignatureStatus("verified" if trusted_key is not None else "signed", kid, via)


# --------------------------------------------------------------------------- decision record

IMPOSSIBILITY = (
    "When base rates differ between groups, no classifier other than a perfect one can satisfy "
    "demographic parity, equalized odds and calibration within groups at the same time "
    "(Kleinberg, Mullainathan and Raghavan 2016; Chouldechova 2017). Choosing one definition "
    "means accepting gaps in the others; the gaps of all of them are in this record's gap table."
)

REREVIEW_TRIGGERS = [
    "A fairness gap on new data differs from this record's beyond both samples' noise (fairness drift: `python -m "
    "fairkit score` compares each gap over the same groups as this record, with a two-sample test Holm-corrected "
    "over the gaps, and names the gaps it could not compare).",
    "Base rates or group sizes in the population change materially, or a new group appears.",
    "The model, its features, the threshold or the intended use change.",
    "Complaints, appeals or audits point to harm for a group.",
    "A scheduled review date passes (at least yearly).",
]


@dataclass
class DecisionRecord:
    """Why this model, at this trade-off, was chosen (model-card practice, Mitchell et al. 2019).

    The people's answers; :func:`build_record` adds what is read from the model and the data.
    """

    purpose: str
    rationale: str
    decider: str
    fairness_definition: str = "demographic_parity"
    fairness_rationale: str = ""
    intended_use: str = ""
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    content: dict = field(default_factory=dict)

    def validate(self) -> None:
        """Raise ValueError unless a rationale and a decider are given."""
        missing = [n for n in ("rationale", "decider") if not str(getattr(self, n) or "").strip()]
        if missing:
            raise ValueError(f"A decision record needs a {' and a '.join(missing)}: write why this model was chosen and who decided.")


def render_record_markdown(rec: dict) -> str:
    """The decision record as Markdown (:func:`fairkit.record.render_markdown`; the JSON form
    holds the same content)."""
    from .record import render_markdown

    return render_markdown(rec)


# --------------------------------------------------------------------------- what the model reads

def calibration_info(calibrator, sensitive: pd.DataFrame | None = None) -> dict | None:
    """What a bundle's group calibrator is: ``method``, ``grouping`` (the sensitive columns
    whose groups, or intersection, it calibrates; empty for one global map) and ``fallbacks``
    (each group without a map of its own: the map it uses and why; the record said none, while
    4 of COMPAS's 10 groups used a parent's: calibration audit, session 50), or None.

    ``sensitive`` (the table's sensitive columns) adds its groups the calibrator never saw, which
    had no rows where it was fitted (export audit, session 51: COMPAS's two Native American
    women, one of them a test row, were calibrated with a marginal group's map unlisted)."""
    from .calibration import fallback_maps, map_name

    if calibrator is None:
        return None
    fallbacks = {g: f"{map_name(v['used'])}: {v['reason']}" for g, v in fallback_maps(calibrator, sensitive).items()}
    kept = getattr(calibrator, "global_note_", "")  # the map of all rows kept the scores as they are
    return {"method": calibrator.method, "grouping": list(getattr(calibrator, "group_columns_", [])),
            **({"fallbacks": fallbacks} if fallbacks else {}), **({"global_map": kept} if kept else {})}


def apply_calibrator(calibrator, scores, sensitive: pd.DataFrame | None) -> np.ndarray:
    """``calibrator.transform`` on the sensitive columns it was fitted on (its grouping may be
    fewer columns than the data's sensitive attributes)."""
    cols = getattr(calibrator, "group_columns_", None)
    groups = sensitive[cols] if cols and sensitive is not None else sensitive
    return calibrator.transform(scores, groups)


#: How a part of a model that reads the sensitive attribute is described in the record.
_SENSITIVE_USE = {"ThresholdPostProcessor": "group-specific decision thresholds",
                  "CalibratedGroupClassifier": "a calibration map per group inside the model"}


def _reads_sensitive(obj) -> str | None:
    """Why ``obj`` (one fitted part of a model) needs each row's group to predict, or None."""
    from .calibration import GroupFairnessCalibrator

    name = type(obj).__name__
    if isinstance(obj, GroupFairnessCalibrator):
        if len(getattr(obj, "group_names_", ())) == 0:
            return None  # one global map
        cols = ", ".join(map(str, getattr(obj, "group_columns_", []))) or "the sensitive attribute"
        return f"group calibration ({obj.method}) per group of {cols}"
    if not getattr(type(obj), "needs_sensitive_at_predict", False):
        return None
    with_groups = getattr(obj, "fitted_with_groups_", None)
    if with_groups is None:  # a part without that flag reads the groups once it is fitted at all
        with_groups = any(k.endswith("_") and not k.startswith("_") for k in vars(obj))
    return f"{_SENSITIVE_USE.get(name, 'predictions that depend on each row group')} ({name})" if with_groups else None


def _check_raw_columns(columns) -> None:
    """A bundle's input columns: a non-empty list of distinct names (text, or whole numbers for a
    frame whose columns are numbered). Anything else (``true``, one string, nested lists) would
    reach the sensitive-use check and the model's inputs as something else."""
    if (not isinstance(columns, list) or not columns
            or not all(type(c) in (str, int) for c in columns) or len(set(columns)) != len(columns)):
        raise UntrustedState(f"its raw_columns {columns!r:.60} is not a list of distinct column names")


def sensitive_uses(objects, *, raw_columns, sensitive) -> list[str]:
    """Every way a model reads the sensitive attribute at prediction time (empty: it does not).

    Parameters
    ----------
    objects : list
        Every fitted part of the model, nested ones included (``EncodedState.objects``, or the
        objects :func:`fairkit.safestate.decode_state` built).
    raw_columns : list of str
        The model's input columns.
    sensitive : list of str
        The sensitive columns.
    """
    uses = [f"the sensitive column {c} is a model input" for c in sensitive if c in raw_columns]
    uses += [u for u in map(_reads_sensitive, objects) if u]
    return list(dict.fromkeys(uses))


def model_sensitive_uses(model, split, calibrator=None) -> list[str]:
    """:func:`sensitive_uses` of ``model`` (with ``calibrator``) as a bundle of ``split`` would
    record it, without building the rest of the record (the Export page's warning).

    Raises
    ------
    ValueError
        Part of the model cannot be stored as data (it could not be exported either).
    """
    try:
        objects = encode_state({"estimator": model, "calibrator": calibrator}).objects
    except TypeError as exc:
        raise ValueError(f"This model cannot be exported: {exc}") from exc
    return sensitive_uses(objects, raw_columns=split.raw_columns, sensitive=split.spec.sensitive)


def _trained_with(run: dict) -> dict | None:
    """The library versions a run was trained with (its ``trained_with``), or None for runs
    stored before runs recorded them (or a run dict without it)."""
    try:
        versions = json.loads(run.get("trained_with") or "null")
    except (TypeError, ValueError):
        return None
    return versions if isinstance(versions, dict) else None


def _method_and_eta(model, run: dict) -> tuple[str, float]:
    """The registry method and eta of ``model``: eta from the model, the method name checked
    against the model's class (the run row only names it)."""
    from .methods import METHODS

    params = model.get_params(deep=False) if hasattr(model, "get_params") else {}
    eta = float(params.get("eta", run.get("eta", 0.0)))
    if run.get("eta") is not None and not math.isclose(eta, float(run["eta"]), rel_tol=1e-12, abs_tol=1e-12):
        raise ValueError(f"The run says eta {run['eta']}, but the model was fitted with eta {eta}.")
    method = run.get("method") or type(model).__name__
    if method in METHODS:
        expected = type(METHODS[method].build(eta, int(run.get("seed", 0) or 0)))
        if not isinstance(model, expected):
            raise ValueError(f"The run says method {method} ({expected.__name__}), but the model is a "
                             f"{type(model).__name__}.")
    return str(method), eta


def _report_dict(rep) -> dict:
    return {"overall": rep.overall, "gaps": rep.gaps.reset_index().to_dict(orient="records"),
            "by_group": rep.by_group.to_dict(orient="records"),
            "calibration": rep.calibration.to_dict(orient="records"), "notes": rep.notes}


# --------------------------------------------------------------------------- build / write

def sweep_compared(results: pd.DataFrame) -> dict:
    """What a sweep compared, as its decision record says it, read from the runs themselves.

    Parameters
    ----------
    results : DataFrame
        The sweep's runs (``method``, ``eta``, ``seed`` columns).

    Returns
    -------
    dict
        ``methods`` (in the order first run), ``etas`` (per method, every eta it trained,
        ascending: the grid and what adaptive placement and the stated tolerances added) and
        ``seeds``. The grid a sweep was asked for is not enough: the exported model may sit at
        an eta placement added, which the record must list.
    """
    def etas_of(rows: pd.DataFrame) -> dict:
        return {m: sorted({float(e) for e in rows.loc[rows["method"].astype(str) == m, "eta"]})
                for m in dict.fromkeys(rows["method"].astype(str))}

    methods = list(dict.fromkeys(results["method"].astype(str)))
    seeds = sorted({int(s) for s in results["seed"]}) if "seed" in results else []
    searched = results["source"].astype(str).eq("search").to_numpy() if "source" in results else None
    if searched is None or not searched.any():
        return {"methods": methods, "etas": etas_of(results), "seeds": seeds}
    # An assistive search's trials train other capacities and settings at etas of its sampler's
    # choosing: listed apart, not as the sweep's grid (search audit, session 51).
    return {"methods": methods, "etas": etas_of(results[~searched]), "seeds": seeds,
            "search_etas": etas_of(results[searched])}


#: How far a table's figure may lie from its model's. The sweep and this check score each model
#: alone with the same code (:func:`fairkit.sweep.run_figures`), so they agree to the digit; the
#: margin is the table's text. A changed decision moves a rate by 1 / rows, above this for any
#: part under a million rows; figures are shown to three or four decimals.
FIGURE_TOLERANCE = 1e-6


#: The settings of a run a sweep's table states beside its figures; each must be its stored
#: record's (:func:`check_run_figures`).
RUN_SETTINGS = ("method", "eta", "seed", "fairness")


def _same_setting(given, stored) -> bool:
    """A table's setting (text when read from a CSV) against its stored record's."""
    try:
        # Relative too: a table written with 15 significant digits keeps an eta of 1,000 to 1e-12.
        return math.isclose(float(given), float(stored), rel_tol=1e-12, abs_tol=1e-12)
    except (TypeError, ValueError):
        return str(given) == str(stored)


def _flag(value) -> bool:
    """A table's True/False cell as read from a CSV (a bool, or its text)."""
    return value if isinstance(value, (bool, np.bool_)) else str(value).strip().lower() in ("true", "1", "1.0")


def check_run_figures(results: pd.DataFrame, load_model, split, *, remedy: str = "", earlier=(),
                      stored=None) -> dict:
    """Refuse a sweep's table whose figures are not the ones its models compute.

    A sweep folder's ``results.csv`` (and a store's records, whose checksums anyone who can
    write them can recompute) is text: edited, it would put a model that does not exist on the
    signed frontier, or take better ones off it (attack audit, session 43). Every run's
    validation and test figures are computed again from its model on ``split``
    (:func:`fairkit.sweep.run_figures`, the sweep's own evaluation) and compared with the
    table's.

    Parameters
    ----------
    results : DataFrame
        The sweep's runs: ``run_id``, ``method`` and their ``val_*`` / ``test_*`` figures.
    load_model : callable
        ``run_id -> fitted model`` (:meth:`fairkit.store.ResultStore.load_model`).
    split : DatasetSplit
        The split the sweep ran on.
    remedy : str, optional
        What to do, said after the refusal (the command line's and the dashboard's differ).
    earlier : collection of str, optional
        Runs an earlier fairkit stored (:meth:`fairkit.store.ResultStore.earlier_runs`): when all
        the runs that differ are such runs, the refusal says so, not that the table was edited
        (an earlier results revision may split or score the same data otherwise).
    stored : callable, optional
        ``run_id -> stored record or None`` (:meth:`fairkit.store.ResultStore.get`): each run's
        settings (:data:`RUN_SETTINGS`) in the table must be its record's. Its ``constant`` flag
        is checked against its model's validation selection rate either way. An edited eta,
        seed or flag passed the figures' check and put made-up etas in a signed record, or
        took the chosen run off its frontier (hostile-input audit, session 52).

    Returns
    -------
    dict
        Run id -> why its model cannot be read (a registered method whose class is not trusted
        keeps its figures but not its model): runs whose figures cannot be checked, which the
        caller leaves off what it signs.

    Raises
    ------
    ValueError
        Naming the runs whose figures differ and what to do.
    """
    from .store import StoreError
    from .sweep import run_figures

    wrong, wrong_ids, unchecked = [], [], {}
    for run in results.to_dict("records"):
        key = str(run["run_id"])
        try:
            model = load_model(key)
        except StoreError as exc:
            unchecked[key] = str(exc)
            continue
        (computed,) = run_figures([str(run["method"])], [model], split)
        record = (stored(key) or {}) if stored is not None else {}
        setting = next((c for c in RUN_SETTINGS if c in run and c in record and not _same_setting(run[c], record[c])),
                       None)
        if setting is not None:
            wrong.append(f"run {key} ({record.get('method')}): {setting} {run[setting]!r} in the table, "
                         f"{record[setting]!r} in its stored record")
            wrong_ids.append(key)
            continue
        if "constant" in run and "val_selection_rate" in computed and \
                _flag(run["constant"]) != bool(decides_alike(computed["val_selection_rate"])):
            wrong.append(f"run {key} ({run['method']}, eta {run.get('eta')}): constant {run['constant']!r} in the "
                         "table, not what its model's validation decisions say")
            wrong_ids.append(key)
            continue
        for column, value in computed.items():
            if column not in run:
                continue
            given = pd.to_numeric(pd.Series([run[column]]), errors="coerce").iloc[0]
            same = (np.isnan(given) and np.isnan(value)) if (np.isnan(given) or np.isnan(value)) else \
                abs(float(given) - float(value)) <= FIGURE_TOLERANCE
            if not same:
                wrong.append(f"run {key} ({run['method']}, eta {run.get('eta')}): {column} {given:.6g} in the "
                             f"table, {value:.6g} by its model")
                wrong_ids.append(key)
                break
    if wrong and set(wrong_ids) <= {str(k) for k in earlier}:
        raise ValueError(
            f"The sweep's runs were trained by an earlier fairkit, whose results revision may split or score the "
            f"data otherwise (or its table was edited): this one computes other figures for {len(wrong)} of "
            f"{len(results)} runs (e.g. "
            f"{'; '.join(wrong[:3])}). Nothing was exported. Run the sweep again with this fairkit (it trains "
            "those runs afresh, under new run ids) and export from its folder; a model of the earlier one is "
            "exported by the fairkit that trained it.")
    if wrong:
        raise ValueError(
            f"The sweep's table does not hold the figures its models compute, for {len(wrong)} of "
            f"{len(results)} runs (e.g. {'; '.join(wrong[:3])}): it was edited, or belongs to other data or "
            f"another store. Nothing was exported. {remedy}".rstrip())
    return unchecked


def without_unchecked(results: pd.DataFrame, unchecked: dict) -> tuple[pd.DataFrame, str | None]:
    """``results`` without the runs :func:`check_run_figures` could not check, and what to say.

    Nothing signed rests on figures no model backs: such runs are left off the exported frontier
    and the sweep's summary, and the note says how many and why (the first reason).

    Parameters
    ----------
    results : DataFrame
        The sweep's runs, with ``run_id``.
    unchecked : dict
        Run id -> why its model cannot be read (:func:`check_run_figures`'s return).

    Returns
    -------
    tuple of (DataFrame, str or None)
        The runs kept, and the note (None when every run was checked).
    """
    if not unchecked:
        return results, None
    first = next(iter(unchecked.values()))
    kept = results[~results["run_id"].astype(str).isin([str(k) for k in unchecked])]
    return kept, (f"{len(unchecked):,} run(s) of the sweep have no model to check their figures against "
                  f"({first}); they are left off the exported frontier.")


def _seed_spread(frontier: pd.DataFrame | None, axes: dict | None) -> dict | None:
    """How the chosen setting's seeds spread on test, on the front's two axes, or None.

    With several seeds the front compares settings at their means, and the exported model is one
    seed's run: its own figures are in the record, and this says how far the setting's other
    seeds fell from them (training noise, which the test intervals do not hold).
    """
    from .metrics import metric_value

    if frontier is None or not axes or "n_seeds" not in frontier:
        return None
    chosen = frontier[frontier["selected"] & frontier["n_seeds"].gt(1)]
    if chosen.empty:
        return None
    row = chosen.iloc[0].to_dict()
    out = {"n_seeds": int(row["n_seeds"])}
    for what in ("performance", "unfairness"):
        key = axes.get(what)
        try:
            mean, low, high = metric_value(row, key, prefix="test_")
        except KeyError:
            return None
        if low is None or high is None:
            return None
        out[what] = {"metric": key, "mean": float(mean), "low": float(low), "high": float(high)}
    return out


def with_chosen_run(frontier: pd.DataFrame, run: dict) -> pd.DataFrame:
    """``frontier`` with ``on_front`` and ``selected`` columns, and the chosen ``run`` added when
    it is not on it (:func:`fairkit.frontier.run_rows`: on a front of settings' means over
    seeds, a run is on it when its setting is).

    A dominated run is placed on the axes the front was chosen on (``frontier.attrs["axes"]``,
    set by :func:`fairkit.frontier.pareto_front`), from its own sweep row; on a table that
    does not say its axes, its coordinates are left missing.
    """
    from .metrics import metric_value

    from .frontier import run_rows

    axes = frontier.attrs.get("axes") or {}
    table = frontier.assign(on_front=frontier["on_front"] if "on_front" in frontier else True)
    chosen = run_rows(frontier, run)  # on a front of settings' means, the run's setting
    if chosen.any():
        table = table.assign(selected=chosen)
        # A setting's mean row carries its lowest seed's run id: exporting seed 1's run marked
        # seed 0's row selected, and the manifest's run id was on no row (number audit, session
        # 45). The selected row names the run exported; its figures stay the setting's mean
        # (n_seeds says so).
        for col in ("run_id", "seed"):
            if col in table and col in run:
                table.loc[np.asarray(chosen, dtype=bool), col] = run[col]
        return table
    table = table.assign(selected=False)
    row = {c: run[c] for c in table.columns if c in run}
    for split in ("val", "test"):
        for what in ("unfairness", "performance"):
            try:
                row[f"{what}_{split}"] = float(metric_value(run, axes[what], prefix=f"{split}_")[0])
            except KeyError:
                row[f"{what}_{split}"] = float("nan")
    row["on_front"], row["selected"] = False, True
    if axes.get("seeds", 1) > 1:
        row["n_seeds"] = 1  # the chosen run itself, not a mean
    return pd.concat([table, pd.DataFrame([row])], ignore_index=True)


#: The figures the threshold's effect compares, at the frontier's threshold and the chosen one.
EFFECT_METRICS = ("accuracy", "balanced_accuracy", "selection_rate", *HEADLINE_GAPS)


@dataclass(frozen=True)
class ThresholdEffect:
    """What deciding at ``threshold`` instead of the frontier's threshold changes, on test data.

    Attributes
    ----------
    threshold : float
        The threshold the model would decide at.
    at_frontier, at_threshold : dict
        :data:`EFFECT_METRICS` -> value (:func:`fairkit.metrics.metric_value` of
        :func:`fairkit.metrics.summary_metrics`) at :data:`fairkit.metrics.SWEEP_THRESHOLD`
        (the threshold the frontier compared the models at) and at ``threshold``.
    confusion : DataFrame
        Per-group counts at ``threshold`` (:func:`fairkit.metrics.confusion_by_group`).
    baseline : DataFrame or None
        The same counts for a baseline model at the frontier's threshold, when one was given.
    calibrated : bool
        Whether the model ships calibrated: ``at_threshold`` is then of its calibrated scores,
        ``at_frontier`` of its scores as the frontier compared them (uncalibrated).
    """

    threshold: float
    at_frontier: dict
    at_threshold: dict
    confusion: pd.DataFrame
    baseline: pd.DataFrame | None = None
    calibrated: bool = False

    @property
    def moved(self) -> bool:
        """Whether ``threshold`` differs from the frontier's."""
        return not math.isclose(self.threshold, SWEEP_THRESHOLD)

    def record(self) -> dict | None:
        """The decision record's ``at_frontier_threshold``: both sets of figures when the
        threshold moved or the model ships calibrated (the frontier's figures are then not the
        model's), else None."""
        if not (self.moved or self.calibrated):
            return None
        return {"threshold": SWEEP_THRESHOLD, "values": dict(self.at_frontier), "chosen": dict(self.at_threshold),
                "calibrated": self.calibrated}


def threshold_effect(y, scores, sensitive, *, threshold: float, baseline_scores=None,
                     frontier_scores=None) -> ThresholdEffect:
    """:class:`ThresholdEffect` of one model's test ``scores`` (as the bundle gives them).

    Parameters
    ----------
    y, scores, sensitive
        The test part's labels, the model's positive-class probabilities (calibrated when the
        bundle calibrates) and its sensitive columns.
    threshold : float
    baseline_scores : array-like, optional
        A baseline model's test scores, counted at the frontier's threshold.
    frontier_scores : array-like, optional
        The model's scores as the frontier compared them, when the bundle's differ (its
        uncalibrated scores, for a calibrated bundle): the frontier's figures are read from them.
    """
    from .metrics import confusion_by_group, metric_value, summary_metrics

    there = summary_metrics(y, scores if frontier_scores is None else frontier_scores, sensitive,
                            threshold=SWEEP_THRESHOLD)[0]
    here = summary_metrics(y, scores, sensitive, threshold=threshold)[0]
    baseline = (None if baseline_scores is None
                else confusion_by_group(y, baseline_scores, sensitive, threshold=SWEEP_THRESHOLD))
    return ThresholdEffect(
        threshold=float(threshold),
        at_frontier={k: float(metric_value(there, k)[0]) for k in EFFECT_METRICS},
        at_threshold={k: float(metric_value(here, k)[0]) for k in EFFECT_METRICS},
        confusion=confusion_by_group(y, scores, sensitive, threshold=threshold), baseline=baseline,
        calibrated=frontier_scores is not None)


def model_threshold_effect(model, split, *, threshold: float, calibrator=None, baseline=None) -> ThresholdEffect:
    """:func:`threshold_effect` of ``model`` (with ``calibrator``) on ``split``'s test part, the
    figures its decision record would carry (the Export page shows them before exporting).

    Parameters
    ----------
    model : fitted estimator
    split : DatasetSplit
    threshold : float
    calibrator : fitted GroupFairnessCalibrator, optional
    baseline : fitted estimator, optional
        A model to compare with (uncalibrated, at the frontier's threshold).
    """
    from .sweep import predict_scores

    test = split.test
    raw = predict_scores(model, split, test)
    scores = raw if calibrator is None else apply_calibrator(calibrator, raw, test.sensitive)
    return threshold_effect(test.y, scores, test.sensitive, threshold=threshold,
                            baseline_scores=None if baseline is None else predict_scores(baseline, split, test),
                            frontier_scores=None if calibrator is None else raw)


def chosen_gap_change(y, frontier_scores, exported_scores, sensitive, *, threshold: float, gap_metric: str | None,
                      calibrated: bool) -> str | None:
    """The sentence saying that the model as exported is less fair on validation, where it was
    chosen, than the frontier's point it was chosen as; None when it is not.

    A tolerance is met on the frontier by the model uncalibrated at
    :data:`fairkit.metrics.SWEEP_THRESHOLD`. Group calibration maps each group's scores on its
    own and a moved threshold moves every group's decisions, so the model exported can be far
    from the point chosen (a linear model within a 0.10 demographic-parity tolerance exported
    with per-group Platt scaling had a test gap of 0.66; its record's headline showed it, but no
    word said the choice's premise no longer held: new-user and docs audits, session 52).

    Parameters
    ----------
    y, sensitive
        The validation part's labels and sensitive columns.
    frontier_scores, exported_scores : array-like
        The model's validation scores as the frontier compared them (uncalibrated) and as the
        bundle gives them.
    threshold : float
        The threshold the bundle decides at.
    gap_metric : str or None
        The gap the choice was made on (the frontier's unfairness axis); None: no sentence.
    calibrated : bool
        Whether the bundle calibrates (which the sentence names as the cause).
    """
    from .metrics import METRIC_LABELS, metric_value, summary_metrics

    moved = not math.isclose(float(threshold), SWEEP_THRESHOLD)
    if gap_metric is None or not (moved or calibrated):
        return None
    there = float(metric_value(summary_metrics(y, frontier_scores, sensitive, threshold=SWEEP_THRESHOLD)[0],
                               gap_metric)[0])
    here = float(metric_value(summary_metrics(y, exported_scores, sensitive, threshold=threshold)[0], gap_metric)[0])
    # As the record shows them: a rise hidden by the rounding is not one a reader could check.
    if not (np.isfinite(here) and np.isfinite(there)) or round(here, 3) <= round(there, 3):
        return None
    how = " and ".join(([f"decided at threshold {fmt_threshold(threshold)}"] if moved else [])
                       + (["calibrated per group"] if calibrated else []))
    why = " and ".join((["group calibration maps each group's scores on its own"] if calibrated else [])
                       + (["a threshold moves every group's decisions"] if moved else []))
    # The run's own figure, not the frontier point's: with several seeds the point is their mean
    # (review of session 52: one seed's 0.076 was given as the point's 0.057).
    return (f"As exported ({how}), this model's {in_sentence(METRIC_LABELS[gap_metric])} on validation, where it "
            f"was chosen, is {_fmt(here)}; as the frontier compared it (uncalibrated, at "
            f"{fmt_threshold(SWEEP_THRESHOLD)}) it had {_fmt(there)}. {why[0].upper() + why[1:]}, which can undo the "
            "balance the model was trained for: a tolerance met on the frontier may not hold for this model.")


def model_chosen_gap_change(model, split, *, threshold: float, gap_metric: str | None,
                            calibrator=None) -> str | None:
    """:func:`chosen_gap_change` of ``model`` (with ``calibrator``) on ``split``'s validation
    part: the Export page's warning before exporting, in the words the record will use."""
    from .sweep import predict_scores

    part = split.validation
    raw = predict_scores(model, split, part)
    scores = raw if calibrator is None else apply_calibrator(calibrator, raw, part.sensitive)
    return chosen_gap_change(part.y, raw, scores, part.sensitive, threshold=threshold, gap_metric=gap_metric,
                             calibrated=calibrator is not None)


def ranks_as_exported(method: str, calibrated: bool) -> bool:
    """Whether a model's scores rank rows as exported: its method's do (:func:`scores_rank`), or
    a group calibrator maps its decisions to each group's calibrated rate, a probability whose
    calibration and ranking can be measured (export audit, session 51). The rule the record
    keeps as ``selected["ranks"]`` (:func:`fairkit.record.ranks_of`) and the Export page reads.

    Parameters
    ----------
    method : str
        A registry name.
    calibrated : bool
        Whether the export calibrates per group.

    Returns
    -------
    bool
    """
    return bool(scores_rank(method) or calibrated)


def model_below_chance(model, split, *, threshold: float, performance: str = "accuracy",
                       calibrator=None, method: str | None = None) -> str | None:
    """:func:`below_chance_limitation` of ``model`` (with ``calibrator``) at ``threshold`` on
    ``split``'s validation part: the Export page's warning before exporting, in the record's
    words (at a moved threshold the record said it, and the page, reading the sweep's run at
    0.50, did not: numbers audit, session 53).

    Parameters
    ----------
    model : fitted estimator
    split : DatasetSplit
    threshold : float
    performance : str, default="accuracy"
        The frontier's performance axis.
    calibrator : fitted GroupFairnessCalibrator, optional
    method : str, optional
        The run's method: a metric of scores (ROC AUC) of a model whose scores are decisions is
        undefined, as in the record (:func:`ranks_as_exported`); None reads them as scores.

    Returns
    -------
    str or None
    """
    from .metrics import fairness_report
    from .sweep import predict_scores

    part = split.validation
    raw = predict_scores(model, split, part)
    scores = raw if calibrator is None else apply_calibrator(calibrator, raw, part.sensitive)
    ranks = True if method is None else ranks_as_exported(method, calibrator is not None)
    report = fairness_report(part.y, scores, part.sensitive, threshold=threshold, ranks=ranks)
    return below_chance_limitation(report, performance, threshold=threshold)


@dataclass
class BundleRecord:
    """Everything a bundle will hold, built from the fitted objects; nothing written yet.

    Attributes
    ----------
    record : dict
        The decision record (``decision_record.json``); ``record["content"]["selected"]`` holds
        the decision fields.
    decision : dict
        The fields that decide a prediction (:data:`DECISION_FIELDS`), as read from the model.
    state : EncodedState
        The estimator, preprocessing, input columns and calibrator as data.
    spec : DatasetSpec
    frontier : DataFrame or None
    model : estimator
        The fitted model (for the ONNX copy and its check).
    X_check : ndarray
        Rows the ONNX copy is checked on (the test part).
    """

    record: dict
    decision: dict
    state: EncodedState
    spec: DatasetSpec
    frontier: pd.DataFrame | None
    model: object
    X_check: np.ndarray

    @property
    def needs_sensitive_at_predict(self) -> bool:
        return bool(self.decision["needs_sensitive_at_predict"])

    def markdown(self) -> str:
        """The decision record as Markdown (``decision_record.md``)."""
        return render_record_markdown(self.record)

    def with_audit_head(self, head: tuple) -> "BundleRecord":
        """A copy whose record carries the audit log's chain head ``(index, hash)``
        (:func:`fairkit.audit.chain_head`, taken just before the export is logged), created now:
        a record built for a preview and exported later carried the preview's time (new-user
        audit, session 48: "Created 10:19:35" for an export logged at 10:19:54; a preview left
        open for hours would have backdated it)."""
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        record = {**self.record, "audit_head": {"index": int(head[0]), "hash": str(head[1])}, "created": now}
        return dataclasses.replace(self, record=record)


#: The note on a calibrated export's validation figures (``metrics.validation.notes``).
CALIBRATED_IN_SAMPLE = ("The group calibration was fitted on these validation rows: their calibration errors (ECE) "
                        "and calibrated rates are in-sample; judge the calibration on the test part")


def calibration_note(report, check=None) -> str:
    """The record's sentence on calibration: the largest group ECE on test, and whether group
    calibration made it worse.

    Parameters
    ----------
    report : FairnessReport
        The exported model's report on the test part (of its calibrated scores, when it has a
        calibrator).
    check : CalibrationCheck, optional
        The calibrator on the test part (:class:`fairkit.calibration.CalibrationCheck`); None
        for a model without one.

    Returns
    -------
    str
    """
    # "Any group" is read beside the record's gap table, which shows max_group_ece for every
    # attribute and their intersection: the note gives the largest of those and names the
    # grouping, not the finest grouping's alone (a marginal group can carry more error than
    # any intersection the gaps compare, when a small intersection is left out of them). Like
    # the gap table, it leaves out groups too small for the gaps (the by-group table flags them).
    head = report.headline()
    ece = head["max_group_ece"]
    after = ", after group calibration" if check is not None else ""
    text = f"Largest expected calibration error on test of any group the gaps compare{after}: " + (
        f"{_fmt(ece)}, in {head['max_group_ece_attribute']}." if np.isfinite(ece) else f"{_fmt(None)}.")
    # Whether calibrating made it worse is the pages' verdict (CalibrationCheck, by the groups the
    # calibrator maps), so the Export page's warning and the record never disagree.
    if check is not None and check.made_worse:
        before, after = fmt_pair(check.ece_before, check.ece_after)
        text += f" Calibration made it worse here: without it, {before} ({after} with it)."
    return text


def chance_limitation(part, scores, gap: str, threshold: float, calibrated: bool = False) -> str | None:
    """The record's sentence on the gap chance alone gives on the rows the choice was made on.

    :func:`fairkit.metrics.gap_noise_floor` of the exported model's decisions on the validation
    part, for ``gap``: the unfairness axis the choice was made on (the Trade-offs page's chance
    caption reads the same one); None for a gap it does not simulate.
    """
    from .metrics import METRIC_LABELS, NOISE_FLOOR_SHUFFLE, chance_gap_is_zero, gap_noise_floor, noise_floor_sentence

    if gap not in NOISE_FLOOR_SHUFFLE:
        return None
    floor = gap_noise_floor(part.y, scores, part.sensitive, threshold=threshold).loc[gap]
    if chance_gap_is_zero(floor):  # a model deciding alike for every validation row
        return None
    return (noise_floor_sentence(floor, in_sentence(METRIC_LABELS[gap]),
                                 f"the {len(part):,} validation rows this choice was made on",
                                 f"as exported ({'calibrated, ' if calibrated else ''}at the threshold "
                                 f"{fmt_threshold(threshold)})")
            + ": a validation gap or tolerance below that is weak evidence; read the test gap and its interval.")


def below_chance_limitation(report, performance: str = "accuracy", *, threshold: float = SWEEP_THRESHOLD,
                            on_front: bool | None = None) -> str | None:
    """The record's sentence when the exported model scores no better on the validation rows
    than giving everyone the same decision (the frontier's rule,
    :func:`fairkit.metrics.no_better_than_chance`), else None.

    The finding holds at the export's threshold (and calibration); the frontier compared the
    runs as the sweep measured them, at :data:`fairkit.metrics.SWEEP_THRESHOLD`. So the
    sentence names the threshold it speaks of, and says where the run stands on the frontier
    only from the record's own frontier table: a run on the front at the sweep's threshold can
    be no better than one decision for everyone at another one.

    Parameters
    ----------
    report : FairnessReport
        The exported model's report on the validation part, at ``threshold``.
    performance : str, default="accuracy"
        The frontier's performance axis.
    threshold : float, default=SWEEP_THRESHOLD
        The threshold ``report`` was measured at.
    on_front : bool or None
        Whether the chosen run is on the record's frontier (its ``on_front``,
        :func:`with_chosen_run`); None when the record has no frontier: nothing is said of it.

    Returns
    -------
    str or None
    """
    from .metrics import METRIC_LABELS, chance_level, no_better_than_chance

    ov = report.overall
    if performance not in ov or "base_rate" not in ov or not no_better_than_chance(
            ov[performance], performance, ov["base_rate"]):
        return None
    level = chance_level(performance, ov["base_rate"])
    text = (f"On the validation rows, at the threshold {fmt_threshold(threshold)}, this model's "
            f"{in_sentence(METRIC_LABELS[performance])} ({_fmt(ov[performance])}) is no better than giving everyone "
            f"the same decision ({_fmt(level)}), a rule with no gap that needs no model")
    where = f"the frontier, which compares the runs as the sweep measured them (at the threshold {SWEEP_THRESHOLD:.2f})"
    if on_front is None:
        return text + ": a small gap here says little about fair treatment."
    if not on_front:
        return text + f": it is off {where}, and a small gap here says little about fair treatment."
    return text + f": a small gap here says little about fair treatment. Its run is on {where} all the same."


def build_record(
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
    audit_head: tuple | None = None,
    audit_reference: dict | None = None,
    audit_band: tuple = AUDIT_BAND,
    sample: dict | None = None,
) -> BundleRecord:
    """Read the fitted objects and compute the decision record, without writing anything.

    What decides a prediction (method, eta, whether and why the sensitive attribute is read,
    the calibrator, the small-group pooling) is read from ``model``, ``calibrator`` and
    ``split``; ``run`` only names the run (``run_id``, ``seed``) and the method, which is
    checked against the model's class.

    Parameters
    ----------
    model : fitted estimator
    split : DatasetSplit
        The split the model was trained and evaluated on (its fitted preprocessing is bundled).
    run : dict
        The run's row from the sweep table (``run_id``, ``method``, ``eta``, ``seed``).
    record : DecisionRecord
        Purpose, rationale (required) and decider (required).
    frontier : DataFrame, optional
        The frontier table the choice was made from (:func:`fairkit.frontier.pareto_front`).
        The chosen run is always in the record's copy: when it is not on the front it is
        added (placed on the axes the front was chosen on) with ``on_front`` False.
    sweep : dict, optional
        ``methods``, ``etas``, ``seeds`` of the sweep.
    calibrator : fitted GroupFairnessCalibrator, optional
    threshold : float
    n_boot : int
        Bootstrap resamples for the intervals in the record.
    audit_head : (int, str), optional
        The audit log's chain head at export (:func:`fairkit.audit.chain_head`), recorded so a
        rewrite of the log's history is caught against the bundle.
    audit_reference : dict, optional
        ``{attribute: group}``: the reference groups of the record's disparity audit
        (:func:`fairkit.metrics.disparity_audit`; default each attribute's largest group).
    audit_band : (float, float)
        The audit's pass band for a group's ratio to its reference (default 0.8-1.25).
    sample : dict, optional
        :meth:`fairkit.split.StratifiedSample.to_dict` when ``split`` is of a sample of the
        table: the record then says what was sampled from what.

    Returns
    -------
    BundleRecord

    Raises
    ------
    ValueError
        No rationale or decider; the run contradicts the model; part of the model cannot be
        stored as data.
    """
    from .groups import group_hierarchy
    from .metrics import AUDIT_METRICS, disparity_audit, fairness_report
    from .split import rows_digest, stratified_by
    from .sweep import predict_scores

    record.validate()
    spec = split.spec
    trained_on = run.get("split_seed")
    if trained_on is not None and not pd.isna(trained_on) and int(trained_on) != int(split.seed):
        # A search's re-split runs retrain a candidate on other splits to measure its spread: this
        # split's test rows were among their training rows, so every test figure of the record
        # would be inflated (search audit, session 43: 0.770 recorded against its row's 0.740).
        of = run.get("resplit_of")
        raise ValueError(
            f"Run {run.get('run_id')} was trained on split {int(trained_on)}, not on this sweep's split "
            f"{int(split.seed)}"
            + (f" (a search's re-split of candidate {of}, which only measures its spread)" if of else "")
            + ": its figures on this split's test rows would be inflated. Export "
            + (f"the candidate itself (run {of})." if of else "a run of this split."))
    method, eta = _method_and_eta(model, run)
    if not ranks_as_exported(method, calibrator is not None) and not math.isclose(float(threshold), SWEEP_THRESHOLD):
        # Its scores are 0 or 1: any other threshold decides the same, and the record stated one
        # (0.30, 0.90) that changed nothing (CLI audit, session 44).
        raise ValueError(f"This model's scores are its decisions (0 or 1, from the thresholds {method} fitted per "
                         f"group): a decision threshold of {float(threshold):g} changes none of them. Export it at "
                         f"{SWEEP_THRESHOLD:g}.")
    try:
        state = encode_state({"estimator": model, "preprocessor": split.preprocessor,
                              "raw_columns": list(split.raw_columns), "calibrator": calibrator})
    except TypeError as exc:
        raise ValueError(f"This model cannot be exported: {exc}") from exc
    uses = sensitive_uses(state.objects, raw_columns=split.raw_columns, sensitive=spec.sensitive)
    decision = {"run_id": run.get("run_id"), "method": method, "eta": eta, "seed": int(run.get("seed", 0) or 0),
                "threshold": float(threshold), "needs_sensitive_at_predict": bool(uses), "sensitive_uses": uses,
                "group_pooling": split.pooling.to_dict() if split.pooling is not None else None,
                "calibration": calibration_info(calibrator, pd.concat([p.sensitive for p in split.table_parts],
                                                                      ignore_index=True)),
                # A search trial's capacity and training settings, which its method and eta do not
                # say (search audit, session 51: the record read as a default run's).
                **({"search_params": str(run["search_params"])}
                   if run.get("source") == "search" and isinstance(run.get("search_params"), str) else {})}

    reports, scores, check = {}, {}, None
    # Recorded, so a record is read as it was built (one of 0.3.2 for a calibrated group-threshold
    # model has no calibration figures and must keep saying why: review of session 51).
    ranks = decision["ranks"] = ranks_as_exported(method, calibrator is not None)
    raw = {}
    for name, part in (("validation", split.validation), ("test", split.test)):
        scores[name] = raw[name] = predict_scores(model, split, part)
        if name == "test":  # as the frontier compared it: the threshold effect's first column
            frontier_scores = None if calibrator is None else scores[name]
        if calibrator is not None:
            calibrated = apply_calibrator(calibrator, scores[name], part.sensitive)
            if name == "test":  # the record says when calibrating made the calibration worse
                from .calibration import CalibrationCheck

                check = CalibrationCheck.on(calibrator, part, scores[name], calibrated)
            scores[name] = calibrated
        reports[name] = fairness_report(part.y, scores[name], part.sensitive, threshold=threshold, n_boot=n_boot,
                                        ranks=ranks)  # decisions have no AUC (NO_RANKING)
        if calibrator is not None and name == "validation":
            # The calibrator was fitted on these rows: their calibration figures read its own fit
            # (the test part's are the ones to judge it by), and the record's JSON said nothing.
            reports[name].notes.append(CALIBRATED_IN_SAMPLE)
    test = split.test
    audit = disparity_audit(reports["test"].by_group, reference=audit_reference, band=audit_band)
    effect = threshold_effect(test.y, scores["test"], test.sensitive, threshold=threshold,
                              frontier_scores=frontier_scores)

    table = split.table_parts
    all_sens = pd.concat([p.sensitive for p in table], ignore_index=True)
    sizes = []
    for level in group_hierarchy(all_sens):
        for name, n in zip(level.encoding.names, level.encoding.counts()):
            sizes.append({"attribute": level.name, "group": name, "n": int(n)})
    n_rows = sum(len(p) for p in table)
    missing = int(sum(p.raw.isna().any(axis=1).sum() for p in table))
    front_records, axes = [], None
    if frontier is not None:
        axes = frontier.attrs.get("axes")
        frontier = with_chosen_run(frontier, run)
        keep = [c for c in ["method", "eta", "seed", "n_seeds", "run_id", "performance_val", "unfairness_val",
                            "performance_test", "unfairness_test", "needs_sensitive_at_predict", "on_front",
                            # which points an assistive search proposed (fairkit.search), and its terms
                            "source", "search_trial", "search_params", "search_budget", "search_objective",
                            "unstable"]
                if c in frontier]
        front_records = frontier[keep + ["selected"]].to_dict(orient="records")
    limitations = list(GENERAL_LIMITATIONS)
    # On the axis the choice was made on; with no frontier, the declared definition's gap.
    chance_gap = (axes or {}).get("unfairness") or getattr(
        FAIRNESS_DEFINITIONS.get(record.fairness_definition), "gap_metric", None)
    chance = chance_limitation(split.validation, scores["validation"], chance_gap, threshold,
                               calibrated=calibrator is not None)
    if chance:
        limitations.append(chance)
    on_front = None if frontier is None else bool(frontier.loc[frontier["selected"], "on_front"].any())
    below = below_chance_limitation(reports["validation"], (axes or {}).get("performance", "accuracy"),
                                    threshold=threshold, on_front=on_front)
    if below:
        limitations.append(below)
    changed = chosen_gap_change(split.validation.y, raw["validation"], scores["validation"], split.validation.sensitive,
                                threshold=threshold, gap_metric=chance_gap, calibrated=calibrator is not None)
    if changed:
        limitations.append(changed)
    # A model that gives (almost) every test row one decision: its small test gaps are no
    # evidence (the Trade-offs panel says the same, in the same words).
    alike = one_decision_note(reports["test"].overall.get("selection_rate"), "test", on_front=on_front)
    if alike:
        limitations.append(f"At the threshold {fmt_threshold(threshold)}: {alike}")
    if uses:
        limitations.append(f"This model reads the sensitive attribute at prediction time ({'; '.join(uses)}); "
                           "check that this is lawful and acceptable for the intended use.")
    proxies = split.sensitive_proxies()
    if proxies:
        # "Does not need the sensitive attribute" of a model reading age, which tells age_group
        # exactly (number audit, session 45): the inputs the validator named are the record's too.
        limitations.append(proxy_sentence(proxies) + " Leave such an input out of the model if the attribute must "
                           "not be used in decisions; the fairness methods measure and reduce the gap either way.")
    spread = _seed_spread(frontier, axes)
    trained_with = _trained_with(run)
    moved = version_changes(trained_with)
    if moved:
        limitations.append(
            f"The model was trained, and its sweep's frontier computed, with {', '.join(moved)}: this record's "
            "metrics were computed here, under other versions. Train it again here to compare like with like.")
    content = {
        "versions": library_versions(),
        # Which rules computed its figures (store.REVISIONS): a later fairkit reading this record
        # says what has changed since, instead of showing older intervals as its own.
        "results_revision": RESULTS_REVISION,
        **({"trained_with": trained_with} if trained_with else {}),
        "dataset": {"name": spec.name, "data_hash": split.data_hash, "rows": n_rows + split.dropped_rows,
                    "split_sizes": f"{len(split.train)}/{len(split.validation)}/{len(split.test)}",
                    "split_seed": split.seed,
                    # Which rows, and how stratified: a seed and sizes name other rows under
                    # another fairkit's split rules (COMPAS, 0.3.0 -> 0.3.1).
                    "split_rows_sha256": rows_digest(split), "stratified_by": stratified_by(split),
                    "missing_values": missing, "group_sizes": sizes,
                    **({"sample": sample} if sample else {}),
                    # The labels the model learned from, positive and negative: a batch's value
                    # among neither is no outcome (fairkit.monitor.read_batch_labels).
                    **({"target_values": list(split.target_values)} if split.target_values is not None else {}),
                    **({"threshold_rows": {"rows": len(split.thresholds), "source": split.thresholds_source}}
                       if split.thresholds is not None else {})},
        "spec": spec.to_dict(),
        **_outcome(spec),
        "sweep": sweep or {"methods": [method], "etas": [eta], "seeds": [decision["seed"]]},
        "frontier": front_records,
        "frontier_axes": axes,
        "frontier_threshold": SWEEP_THRESHOLD,
        **({"seed_spread": spread} if spread else {}),
        "selected": {**decision, "calibrated": calibrator is not None},
        "metrics": {k: _report_dict(v) for k, v in reports.items()},
        "at_frontier_threshold": effect.record(),
        "audit": {"band": [float(b) for b in audit_band], "metrics": list(AUDIT_METRICS),
                  "rows": audit.to_dict(orient="records")},
        "confusion_test": effect.confusion.to_dict(orient="records"),
        # A model whose scores are its decisions has no calibration error worth stating (OF_SCORES).
        "calibration_note": calibration_note(reports["test"], check) if ranks else "",
        "limitations": limitations,
        **({"sensitive_proxies": proxies} if proxies else {}),
        "rereview_triggers": REREVIEW_TRIGGERS,
    }
    rec = {"format": FORMAT_VERSION, "purpose": record.purpose, "intended_use": record.intended_use,
           "rationale": record.rationale, "decider": record.decider,
           "fairness_definition": record.fairness_definition, "fairness_rationale": record.fairness_rationale,
           "created": record.created, "content": _jsonable(content)}
    # The manifest's copy of the decision fields is the record's, value for value.
    decision = {f: rec["content"]["selected"][f] for f in DECISION_FIELDS}
    built = BundleRecord(record=rec, decision=decision, state=state, spec=spec, frontier=frontier, model=model,
                         X_check=split.test.X)
    return built if audit_head is None else built.with_audit_head(audit_head)


def _outcome(spec) -> dict:
    """``{"outcome": ...}``: what a bundled dataset's positive class means (and whether it is an
    adverse prediction, as COMPAS' reoffending), when ``spec`` predicts that dataset's own target
    and label; empty otherwise."""
    from .datasets import dataset_info

    try:
        info = dataset_info(spec.name)
    except ValueError:
        return {}
    if not info.outcome_applies(spec):
        return {}
    return {"outcome": {"positive_meaning": info.positive_meaning, "positive_is_adverse": info.positive_is_adverse}}


def write_bundle(path, built: BundleRecord, *, sign_key=None, before_publish=None, mode: int | None = None) -> dict:
    """Write the bundle (zip, atomically) that ``built`` describes.

    Parameters
    ----------
    path : path
    built : BundleRecord
        From :func:`build_record`.
    sign_key : Ed25519PrivateKey or False, optional
        Signs the manifest (``manifest.sig``). Default: the configured key
        (``FAIRKIT_SIGNING_KEY``) if any; False: unsigned (:func:`fairkit.keys.resolve_private`).
    before_publish : callable, optional
        Called with the result (below) once the bundle is written to a temporary file beside
        ``path`` and before it is renamed to ``path``; what it returns is the result's
        ``audit_entry``. The audit log's entry goes here, so no bundle appears at ``path``
        without its entry (an interrupted export left a scorable bundle Review never listed); if
        it raises, nothing is published.
    mode : int, optional
        The bundle file's permissions (:func:`fairkit.store.output_mode` for a file written for
        people); default private (0600).

    Returns
    -------
    dict
        ``path``, ``manifest_sha256`` (record it to recognise the bundle later: the audit log
        does), ``record`` (the decision record as a dict), ``signed_by`` (key id or None) and,
        with ``before_publish``, ``audit_entry``.
    """
    key = keys.resolve_private(sign_key)
    state = built.state
    files: dict[str, bytes] = {MODEL: json.dumps({"format": FORMAT_VERSION, "state": state.tree},
                                                 allow_nan=False).encode(),
                               ARRAYS: arrays_to_bytes(state.arrays)}
    for name, text in state.texts.items():
        files[name] = text.encode()
    onnx_bytes, onnx_info = _onnx_export(built.model, built.X_check)
    if onnx_bytes is not None:
        files["model.onnx"] = onnx_bytes
    # Strict JSON (NaN as null), as every JSON fairkit writes: a reader outside Python accepts it.
    files["spec.json"] = strict_json(built.spec.to_dict(), indent=1).encode()
    files["metrics.json"] = strict_json(built.record["content"]["metrics"], indent=1).encode()
    if built.frontier is not None:
        files["frontier.csv"] = built.frontier.to_csv(index=False).encode()
    files[RECORD_JSON] = strict_json(built.record, indent=1).encode()
    files[RECORD_MD] = built.markdown().encode()
    manifest = {
        "format": FORMAT_VERSION, "created": built.record["created"], "versions": library_versions(),
        **built.decision, "onnx": onnx_info,
        "signature": {"algorithm": "Ed25519", "key_id": keys.key_id(key)} if key is not None else None,
        "files": {name: sha256_bytes(data) for name, data in sorted(files.items())},
    }
    manifest_bytes = strict_json(manifest, indent=1, sort_keys=True).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in sorted(files.items()):
            zf.writestr(name, data)
        zf.writestr(MANIFEST, manifest_bytes)
        if key is not None:
            zf.writestr(SIGNATURE, _sign(manifest_bytes, key))
    result = {"path": Path(path), "manifest_sha256": sha256_bytes(manifest_bytes), "record": built.record,
              "signed_by": keys.key_id(key) if key is not None else None}
    entry = atomic_write_bytes(Path(path), out.getvalue(),
                               before_replace=None if before_publish is None else lambda: before_publish(result),
                               mode=mode)
    if before_publish is not None:
        result["audit_entry"] = entry
    return result


def proxy_sentence(proxies: dict) -> str:
    """``{input: [attributes]}`` (:meth:`fairkit.split.DatasetSplit.sensitive_proxies`) in words."""
    parts = [f"{c} determines {' and '.join(attrs)} exactly" for c, attrs in proxies.items()]
    return (f"This model reads {', '.join(proxies)}, and {'; '.join(parts)} (each value occurs with one value "
            "of the attribute): through it the model reads the sensitive attribute, though the attribute is not "
            "one of its inputs.")


#: The limitations every record states; the others it lists are this model's own
#: (:func:`model_limitations`).
GENERAL_LIMITATIONS = (
    IMPOSSIBILITY,
    "Metrics are estimates from finite samples; small groups have wide intervals and intersections below the "
    "minimum size are flagged rather than hidden.",
    "Fairness here is statistical and group-level; it does not establish that individual decisions are just, "
    "nor that the data's labels are free of historical bias.",
    "The chosen trade-off is a value judgement by the people named in this record, not a property of the software.",
)


def model_limitations(record: dict) -> list[str]:
    """The limitations ``record`` states of its own model (one decision for everyone, no better
    than the majority decision, the gap chance alone gives, the sensitive attribute read at
    prediction...), without the ones every record states."""
    return [x for x in record["content"].get("limitations", []) if x not in GENERAL_LIMITATIONS]


def export_bundle(path, *, model, split, run: dict, record: DecisionRecord, frontier: pd.DataFrame | None = None,
                  sweep: dict | None = None, calibrator=None, threshold: float = 0.5, n_boot: int = 200,
                  audit_head: tuple | None = None, sign_key=None, sample: dict | None = None,
                  before_publish=None, mode: int | None = None) -> dict:
    """:func:`build_record` then :func:`write_bundle`: the bundle with its decision record.

    Parameters are those of :func:`build_record` and :func:`write_bundle`.

    Returns
    -------
    dict
        See :func:`write_bundle`.
    """
    built = build_record(model=model, split=split, run=run, record=record, frontier=frontier, sweep=sweep,
                         calibrator=calibrator, threshold=threshold, n_boot=n_boot, audit_head=audit_head,
                         sample=sample)
    return write_bundle(path, built, sign_key=sign_key, before_publish=before_publish, mode=mode)


# --------------------------------------------------------------------------- bounded reading

def _safe_member_name(name: str) -> bool:
    return (bool(name) and ".." not in name and not name.startswith(("/", "\\")) and "\\" not in name
            and ":" not in name and "\x00" not in name and not name.endswith("/"))


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> tuple[bytes, str]:
    """A member's bytes and SHA-256, read in chunks and stopped past ``cap``."""
    import zlib

    h = hashlib.sha256()
    parts, n = [], 0
    try:
        with zf.open(info) as f:
            while True:
                chunk = f.read(_CHUNK)
                if not chunk:
                    break
                n += len(chunk)
                if n > cap:
                    raise BundleIntegrityError(f"{info.filename} inflates past {cap:,} bytes (it declared "
                                               f"{info.file_size:,}); refusing to read it.")
                h.update(chunk)
                parts.append(chunk)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
        # zipfile stops at the declared size and then finds the CRC wrong, among others.
        raise BundleIntegrityError(f"{info.filename} cannot be read as stored ({exc}); refusing to load "
                                   "the bundle.") from exc
    return b"".join(parts), h.hexdigest()


def _unique_keys(pairs):
    """A JSON object whose names are each given once: with a name twice, a reader in another
    language may keep the other value than Python's last one, so a signed manifest or record
    could be read two ways."""
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the name {key!r:.60} is given twice")
        out[key] = value
    return out


def _bundle_json(data: bytes):
    return json.loads(data.decode("utf-8"), object_pairs_hook=_unique_keys)


def _parse_member(name: str, data: bytes):
    """A member read as what its name says it is; refused, naming it, when it is not."""
    try:
        if name.endswith(".json"):
            return _bundle_json(data)
        if name.endswith((".md", ".csv", ".txt")):
            return data.decode("utf-8")
        if name.endswith(".safetensors"):
            return arrays_from_bytes(data)
        if name.endswith(".onnx"):
            import onnx

            model = onnx.load_model_from_string(data)
            onnx.checker.check_model(model)
            return data
    except Exception as exc:  # each parser has its own errors; all mean the same here
        raise BundleIntegrityError(f"{name} is not a valid {name.rsplit('.', 1)[-1]} file "
                                   f"({type(exc).__name__}); refusing to load the bundle.") from exc
    raise BundleIntegrityError(f"{name} is not a kind of file fairkit writes into a bundle.")


@dataclass
class _Opened:
    manifest: dict
    manifest_sha256: str
    signature: SignatureStatus
    members: dict  # name -> parsed content
    sizes: dict = field(default_factory=dict)  # name -> bytes read (what decoding is bounded by)


def _open(path, expected_manifest_sha256, trusted_key) -> _Opened:
    """Open, bound, verify and parse every member of a bundle (nothing unpickled)."""
    p = Path(str(path))
    if not p.is_file():
        raise BundleIntegrityError(f"The bundle file {p.name} is missing.")
    if p.stat().st_size > MAX_BUNDLE_BYTES:
        raise BundleIntegrityError(f"{p.name} is {p.stat().st_size:,} bytes, over the {MAX_BUNDLE_BYTES:,}-byte limit.")
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError, NotImplementedError) as exc:
        # ValueError: a member name flagged UTF-8 that is not (UnicodeDecodeError), among others.
        raise BundleIntegrityError(f"{p.name} is not a fairkit bundle (not a readable zip: "
                                   f"{type(exc).__name__}).") from exc
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise BundleIntegrityError(f"{p.name} has {len(infos)} members; a bundle has at most {MAX_MEMBERS}.")
        by_name = {}
        for info in infos:
            if not _safe_member_name(info.filename):
                raise BundleIntegrityError(f"{p.name} has a member named {info.filename!r}: names with '..', "
                                           "absolute paths or drive letters are refused.")
            if info.filename in by_name:
                raise BundleIntegrityError(f"{p.name} holds {info.filename} twice; refusing to load it.")
            if info.flag_bits & 0x1:
                raise BundleIntegrityError(f"{info.filename} in {p.name} is encrypted; fairkit never writes "
                                           "encrypted members, so it is not a fairkit bundle.")
            cap = MAX_MANIFEST_BYTES if info.filename in (MANIFEST, SIGNATURE) else MAX_MEMBER_BYTES
            if info.file_size > cap:
                raise BundleIntegrityError(f"{info.filename} declares {info.file_size:,} bytes, over the "
                                           f"{cap:,}-byte limit; refusing to read it.")
            by_name[info.filename] = info
        if sum(i.file_size for i in infos) > MAX_BUNDLE_BYTES:
            raise BundleIntegrityError(f"{p.name} would inflate past {MAX_BUNDLE_BYTES:,} bytes; refusing to read it.")
        if MANIFEST not in by_name:
            raise BundleIntegrityError(f"{p.name} has no {MANIFEST}; it was not written by fairkit.")
        manifest_bytes, manifest_sha = _read_member(zf, by_name[MANIFEST], MAX_MANIFEST_BYTES)
        # A hash is the same in capitals (as Windows tools print one).
        if expected_manifest_sha256 and manifest_sha != str(expected_manifest_sha256).strip().lower():
            raise BundleIntegrityError(
                f"The manifest of {p.name} does not match the recorded hash taken at export; it is not the "
                "approved bundle.")
        try:
            manifest = _bundle_json(manifest_bytes)
        except (ValueError, RecursionError) as exc:
            raise BundleIntegrityError(f"{MANIFEST} of {p.name} is not JSON ({exc}); refusing to load it."
                                       if "given twice" in str(exc) else
                                       f"{MANIFEST} of {p.name} is not JSON; refusing to load it.") from exc
        listed = manifest.get("files") if isinstance(manifest, dict) else None
        if not isinstance(listed, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in listed.items()):
            raise BundleIntegrityError(f"{MANIFEST} of {p.name} is malformed: it needs a 'files' table of "
                                       "member names and SHA-256 hashes.")
        made = manifest.get("format")
        if isinstance(made, int) and not isinstance(made, bool) and made > FORMAT_VERSION:
            raise BundleFormatError(f"{p.name} is bundle format {made}, made by a newer fairkit; this fairkit reads "
                                    f"format {FORMAT_VERSION}: upgrade fairkit to read it.")
        if made != FORMAT_VERSION:
            raise BundleFormatError(
                f"{p.name} is bundle format {manifest.get('format')!r}; this fairkit reads format {FORMAT_VERSION} "
                "(bundles of format 1 held pickles and are no longer loaded: export the run again).")
        sig_bytes = (_read_member(zf, by_name[SIGNATURE], MAX_MANIFEST_BYTES)[0] if SIGNATURE in by_name else None)
        signature = _check_signature(sig_bytes, manifest, manifest_bytes, trusted_key, manifest_sha)
        names = set(by_name) - {MANIFEST, SIGNATURE}
        problems = []
        absent = [n for n in REQUIRED_MEMBERS if n not in listed]
        if absent:
            problems.append(f"the manifest lists no {', '.join(absent)}")
        missing = sorted(set(listed) - names)
        extra = sorted(names - set(listed))
        if missing:
            problems.append(f"missing: {', '.join(missing)}")
        if extra:
            problems.append(f"not in the manifest: {', '.join(extra)}")
        raw, changed = {}, []
        for name in sorted(set(listed) & names):
            raw[name], digest = _read_member(zf, by_name[name], MAX_MEMBER_BYTES)
            if digest != listed[name]:
                changed.append(name)
                raw.pop(name)
        if changed:
            problems.insert(0, f"changed: {', '.join(changed)}")
    if problems:
        raise BundleIntegrityError(f"The bundle {p.name} was modified after export ({'; '.join(problems)}); "
                                   "refusing to load it.")
    members = {name: _parse_member(name, data) for name, data in raw.items()}
    return _Opened(manifest, manifest_sha, signature, members, {name: len(data) for name, data in raw.items()})


def _check_decision(opened: _Opened) -> dict:
    """The decision fields, once the manifest and the hashed record agree on each of them."""
    record = opened.members[RECORD_JSON]
    try:
        selected = record["content"]["selected"]
    except (TypeError, KeyError) as exc:
        raise BundleIntegrityError(f"{RECORD_JSON} has no selected model.") from exc
    decision = {}
    for f in DECISION_FIELDS:
        if f not in opened.manifest or f not in selected:
            raise BundleIntegrityError(f"The field '{f}' is missing from the {'manifest' if f not in opened.manifest else 'decision record'}.")
        if opened.manifest[f] != selected[f]:
            raise BundleIntegrityError(
                f"The manifest's '{f}' ({opened.manifest[f]!r:.80}) differs from the decision record's "
                f"({selected[f]!r:.80}): a decision field was edited; refusing to load the bundle.")
        decision[f] = selected[f]
    if (isinstance(decision["threshold"], bool) or not isinstance(decision["threshold"], (int, float))
            or not 0.0 <= decision["threshold"] <= 1.0):  # JSON true is no probability
        raise BundleIntegrityError(f"The threshold {decision['threshold']!r:.40} is not a probability.")
    if decision["needs_sensitive_at_predict"] != bool(decision["sensitive_uses"]):
        raise BundleIntegrityError("The record's needs_sensitive_at_predict disagrees with its own list of "
                                   "sensitive-attribute uses.")
    return decision


def verify_bundle(path, *, expected_manifest_sha256: str | None = None, trusted_key=None) -> dict:
    """Check a bundle (sizes, names, hashes, signature, every member's format) without loading a model.

    Parameters
    ----------
    path : path
    expected_manifest_sha256 : str, optional
        The manifest hash recorded at export (audit log). When given, a bundle whose manifest
        was rewritten to match changed files is refused too.
    trusted_key : Ed25519PublicKey or False, optional
        Require a signature by this key. Default: the configured key (``FAIRKIT_TRUST_KEY``) if
        any; False: none required (a signature present is still checked). See
        :func:`fairkit.keys.resolve_public`.

    Returns
    -------
    dict
        The manifest.

    Raises
    ------
    BundleIntegrityError
        Naming what is wrong.
    """
    opened = _open(path, expected_manifest_sha256, keys.resolve_public(trusted_key))
    _check_decision(opened)
    return opened.manifest


def _readable(opened: _Opened) -> dict:
    decision = _check_decision(opened)
    frontier = None
    if "frontier.csv" in opened.members:
        try:
            frontier = pd.read_csv(io.StringIO(opened.members["frontier.csv"]))
        except (ValueError, pd.errors.ParserError) as exc:
            raise BundleIntegrityError("frontier.csv is not a CSV table.") from exc
    for name in (RECORD_JSON, "metrics.json", "spec.json"):
        if not isinstance(opened.members[name], dict):
            raise BundleIntegrityError(f"{name} is not a JSON object.")
    return {"manifest": opened.manifest, "manifest_sha256": opened.manifest_sha256,
            "record": opened.members[RECORD_JSON], "metrics": opened.members["metrics.json"],
            "frontier": frontier, "decision": decision, "signature_status": opened.signature}


def recover_interrupted_exports(log, temporaries, shown=str) -> list[str]:
    """Finish what exports killed between their audit entry and their rename left; returns what
    was done, a sentence each.

    The log held a signed export whose bundle was nowhere to be found, a complete copy left in a
    temporary file nothing cleaned (concurrency audit, session 46). A temporary holding a logged
    export's bundle goes where it was to go (beside it, when another bundle is there); one never
    logged is removed: it was never published.

    Parameters
    ----------
    log : fairkit.audit.AuditLog
    temporaries : list of (Path, Path)
        :func:`fairkit.store.stale_temporaries`: each temporary and the file it was to become.
    shown : callable, default str
        How a path is written in a sentence (the dashboard shows no server path: its name).
    """
    from .audit import export_entries

    if not temporaries:
        return []
    logged = {str(e.get("subject")): e for e in export_entries(log)}
    notes = []
    for tmp, out in temporaries:
        try:
            sha = read_bundle_record(tmp, trusted_key=False)["manifest_sha256"]
        except (BundleIntegrityError, OSError, ValueError):
            sha = None
        entry = logged.get(str(sha)) if sha else None
        if entry is None:
            tmp.unlink(missing_ok=True)
            notes.append(f"removed {tmp.name}, left by an export to {out.name} that was interrupted before it was logged.")
            continue
        try:
            at_out = read_bundle_record(out, trusted_key=False)["manifest_sha256"] if out.exists() else None
        except (BundleIntegrityError, OSError, ValueError):
            at_out = None
        if at_out == sha:  # published after all: the copy is not needed
            tmp.unlink(missing_ok=True)
            continue
        target = out if not out.exists() else out.with_name(f"{out.stem}.interrupted-{sha[:12]}{out.suffix}")
        os.replace(tmp, target)
        notes.append(f"an export to {shown(out)} was interrupted after it was logged (audit entry #{entry['id']}) and "
                     f"before its bundle appeared: that bundle, complete, is now at {shown(target)}"
                     + ("." if target == out else f" ({shown(out)} holds another bundle)."))
    return notes


def read_bundle_record(path, *, expected_manifest_sha256: str | None = None, trusted_key=None) -> dict:
    """Verify a bundle and read what a reviewer reads: no model is built.

    Parameters
    ----------
    path : path
    expected_manifest_sha256, trusted_key
        See :func:`verify_bundle`.

    Returns
    -------
    dict
        ``manifest``, ``manifest_sha256``, ``record`` (the decision record's JSON), ``metrics``,
        ``frontier`` (DataFrame, or None when the bundle holds none), ``decision`` (the checked
        decision fields) and ``signature_status`` (:class:`SignatureStatus`).

    Raises
    ------
    BundleIntegrityError
        The bundle is missing, not a bundle, malformed, changed since export, or not signed as
        required.
    """
    return _readable(_open(path, expected_manifest_sha256, keys.resolve_public(trusted_key)))


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
    decision: dict
    calibrator: object = None
    frontier: pd.DataFrame | None = None
    manifest_sha256: str = ""
    signature_status: SignatureStatus = field(default_factory=lambda: SignatureStatus("unsigned"))

    @property
    def threshold(self) -> float:
        return float(self.decision["threshold"])

    @property
    def version_changes(self) -> list[str]:
        """How this environment's library versions differ from those the bundle was made with
        (``"scikit-learn 1.9.1 (here 1.7.0)"``); empty when they agree. Its model is stored as
        data, so it may load elsewhere, but only those versions reproduce its record exactly."""
        return version_changes(self.manifest.get("versions"))

    @property
    def target_values(self) -> list | None:
        """The target's values in the rows the model was trained and evaluated on (positive and
        negative labels); None for a bundle that does not record them (made before they were)."""
        values = self.record.get("content", {}).get("dataset", {}).get("target_values")
        return list(values) if isinstance(values, list) else None

    @property
    def needs_sensitive_at_predict(self) -> bool:
        """Whether a prediction reads the sensitive attribute (see ``decision["sensitive_uses"]``)."""
        return bool(self.decision["needs_sensitive_at_predict"])

    def missing_columns(self, frame: pd.DataFrame) -> list:
        """Columns the model needs that ``frame`` lacks."""
        need = list(self.raw_columns) + (list(self.spec.sensitive) if self.needs_sensitive_at_predict else [])
        return [c for c in dict.fromkeys(need) if c not in frame.columns]

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The preprocessed features of raw rows."""
        missing = self.missing_columns(frame)
        if missing:
            raise ValueError(f"The data lacks column(s) the model needs: {', '.join(missing)}.")
        x = np.asarray(self.preprocessor.transform(frame[self.raw_columns]), dtype=np.float64)
        with np.errstate(over="ignore"):
            out = x.astype(np.float32)
        # A finite 3.5e38 (below the reader's 1e150 limit) scaled past float32's range and ended
        # in the estimator's "Input X contains infinity", an internal error (hostile-input audit,
        # session 52).
        over = ~np.isfinite(out) & np.isfinite(x)
        if over.any():
            rows = np.flatnonzero(over.any(axis=1))
            cells = frame[self.raw_columns].iloc[rows[0]]
            numbers = pd.to_numeric(cells, errors="coerce").abs()
            where = (f", whose largest value is column {numbers.idxmax()} = {float(numbers.max()):g}"
                     if numbers.notna().any() else "")
            raise InputOutOfRange(
                f"{len(rows):,} row(s) hold a value so far beyond the range of the data the model was trained on "
                f"that its input overflows (the first is data row {rows[0] + 1}{where}). Fix those cells (or leave "
                "them empty, which is treated as missing) and run again.")
        return out

    def known_groups(self) -> dict | None:
        """Each sensitive column's groups (as text, :func:`fairkit.groups.group_labels`) in the rows
        the model was trained and evaluated on, from the record's group sizes; None when the
        record lacks them."""
        sizes = self.record.get("content", {}).get("dataset", {}).get("group_sizes")
        if not isinstance(sizes, list):
            return None
        known = {str(c): set() for c in self.spec.sensitive}
        for size in sizes:
            if isinstance(size, dict) and size.get("attribute") in known:
                known[size["attribute"]].add(str(size.get("group")))
        return known

    def input_changes(self, frame: pd.DataFrame) -> list[str]:
        """What in ``frame`` the model never saw in training, one sentence per column: category
        values it never learned (with the training value a case-only spelling stands for), a
        column blank in every row or most rows, and sensitive values outside the training's
        groups (for a model that reads them, :meth:`unseen_groups` says how they are scored).

        Such rows are scored, as any batch's would be (a person's decision does not depend on
        who else is scored), but their scores rest on the model's fallback for what it never
        saw: an unknown ``purpose``, ``housing`` in capitals or ``telephone`` written yes/no
        changed decisions without a word (lifecycle audit, session 45).
        """
        from .groups import case_only_matches, first_few, group_labels

        notes, n = [], len(frame)
        if not n:
            return notes
        categories = {}
        for name, pipe, cols in self.preprocessor.transformers_:
            # A table without text columns leaves the encoder unfitted (no columns to fit on).
            if name == "cat" and len(cols) and hasattr(pipe, "__getitem__") and hasattr(pipe[-1], "categories_"):
                categories.update(zip(cols, pipe[-1].categories_))
        for col in self.raw_columns:
            values = frame[col]
            blank = int(values.isna().sum())
            if blank == n or blank > n / 2:
                notes.append(f"column {col} is blank in {'every row' if blank == n else f'{blank:,} of {n:,} rows'}: "
                             "the model fills in the value it learned to use for a blank (the training rows' "
                             "median or most common value), the same for all of them")
            if col not in categories:
                continue
            unseen = values.notna() & ~values.isin(list(categories[col]))
            if unseen.any():
                counts = values[unseen].value_counts()
                listed = first_few([f"{v!r} ({c:,} row{'s' if c != 1 else ''})" for v, c in counts.items()], 5, quote=str)
                near = case_only_matches(list(counts.index), list(categories[col]))
                notes.append(f"column {col} holds value(s) the model never saw in training: {listed}; it scores them "
                             "as none of the values it learned" + (f". {near}" if near else ""))
        known = self.known_groups()
        if known and not self.needs_sensitive_at_predict:  # a model that reads them: unseen_groups
            for col, groups in known.items():
                if col not in frame or not groups:
                    continue
                labels = group_labels(frame[[col]])
                counts = labels[~labels.isin(groups)].value_counts()
                if len(counts):
                    listed = first_few([f"{v!r} ({c:,} row{'s' if c != 1 else ''})" for v, c in counts.items()], 5,
                                       quote=str)
                    near = case_only_matches(list(counts.index), sorted(groups))
                    notes.append(f"sensitive column {col} holds value(s) outside the groups the model was trained and "
                                 f"evaluated on ({first_few(sorted(groups))}): {listed}; the drift check leaves their "
                                 "rows out" + (f". {near}" if near else ""))
        return notes

    def unseen_groups(self, frame: pd.DataFrame) -> str | None:
        """What scoring ``frame`` does with groups the model did not see in training, in words;
        None when it saw every one (or reads no group, or records no pooling: made before it was
        recorded).

        Their rows get the rule the model gives groups without one of their own, as they would in
        any batch (:func:`fairkit.groups.unseen_groups_note`).

        Parameters
        ----------
        frame : DataFrame
            Raw rows, with the sensitive column(s) when the model reads them.

        Returns
        -------
        str or None
        """
        return self._model_groups(frame)[1]

    def _model_groups(self, frame: pd.DataFrame):
        """``(each row's group as the model saw them in training, the note on unseen groups)``;
        ``(None, None)`` for a model that reads no group.

        The note covers the two parts that read the group: the model (its rule for groups
        without one of their own) and a group calibrator (its map of all rows), each checked
        against the groups it was fitted on (a calibrator fitted on validation rows may lack a
        group the model saw)."""
        from .groups import SmallGroupPooling, group_labels, unseen_groups_note

        if not self.needs_sensitive_at_predict:
            return None, None
        labels = group_labels(frame[self.spec.sensitive].reset_index(drop=True))
        pooling = self.decision["group_pooling"]
        notes = []
        model_groups = labels.rename("group")
        model_knows = False  # whether the model saw every row's group in training
        if pooling:
            # The model saw each row's group (intersection) with small groups pooled: map rows the same way.
            pool = SmallGroupPooling.from_dict(pooling)
            model_groups = pool.transform(labels)
            model_knows = set(labels.unique()) <= set(pool.kept) | set(pool.pooled)
            if _reads_sensitive(self.estimator) is not None:
                notes.append(unseen_groups_note(
                    labels, set(pool.kept) | set(pool.pooled), "this model",
                    f"their rows are scored as group {pool.target!r} is (the rule for groups without one of their own)",
                    where=f"the column(s) {', '.join(map(str, self.spec.sensitive))}"))
        cal = self.calibrator
        if cal is not None and len(getattr(cal, "group_names_", ())):
            from .calibration import unseen_maps_text

            cols = list(getattr(cal, "group_columns_", None) or self.spec.sensitive)
            rows = frame[cols].reset_index(drop=True)
            # The map each unseen group gets, as the calibrator applies it (it said "the map of
            # all rows" of groups that took a marginal group's: export audit, session 51).
            notes.append(unseen_groups_note(
                group_labels(rows), set(cal.group_names_.tolist()), "the group calibrator",
                unseen_maps_text(cal.unseen_maps(rows)),
                where=f"the column(s) {', '.join(map(str, cols))}", suspect=not model_knows))
        return model_groups, " ".join(n for n in notes if n) or None

    def scored(self, frame: pd.DataFrame) -> tuple[np.ndarray, str | None]:
        """:meth:`predict_proba` and :meth:`unseen_groups` from one reading of the groups (the
        command line prints the note itself, where it prints every problem).

        Parameters
        ----------
        frame : DataFrame
            Raw rows (columns as in the training table).

        Returns
        -------
        (ndarray of shape (n_samples,), str or None)
        """
        import warnings

        from .sweep import _predict_scores

        X = self.transform(frame)
        sens = frame[self.spec.sensitive].reset_index(drop=True) if self.needs_sensitive_at_predict else None
        model_groups, note = self._model_groups(frame)
        p = _predict_scores(self.estimator, X, model_groups)
        if self.calibrator is not None:
            with warnings.catch_warnings():  # its unseen groups are in the note
                warnings.filterwarnings("ignore", message=r"Group\(s\) in sensitive_features not seen", category=UserWarning)
                p = apply_calibrator(self.calibrator, p, sens)
        return p, note

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Positive-class probabilities for raw rows (columns as in the training table).

        Groups the model did not see in training are scored by its rule for groups without one of
        their own, with a ``UserWarning`` naming them (:meth:`unseen_groups`).
        """
        import warnings

        p, note = self.scored(frame)
        if note:
            warnings.warn(note, UserWarning, stacklevel=2)
        return p

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Decisions by the one rule: probability at least the bundle's threshold."""
        return stats.decide(self.predict_proba(frame), self.threshold).astype(int)


def load_bundle(path, *, expected_manifest_sha256: str | None = None, trusted_key=None) -> ModelBundle:
    """Verify and load a bundle written by :func:`write_bundle`. Nothing is unpickled.

    Parameters
    ----------
    path : path
    expected_manifest_sha256, trusted_key
        See :func:`verify_bundle`.

    Returns
    -------
    ModelBundle

    Raises
    ------
    BundleIntegrityError
        As :func:`read_bundle_record`; also when the model names an untrusted type, or reads
        the sensitive attribute while its record says it does not.
    """
    opened = _open(path, expected_manifest_sha256, keys.resolve_public(trusted_key))
    readable = _readable(opened)
    model_json = opened.members[MODEL]
    try:
        if not isinstance(model_json, dict) or model_json.get("format") != FORMAT_VERSION:
            raise UntrustedState("not a fairkit model state")
        texts = {n: t for n, t in opened.members.items() if n.startswith("lightgbm-") and n.endswith(".txt")}
        stored = sum(opened.sizes.get(n, 0) for n in (MODEL, ARRAYS, *texts))
        parts, objects = decode_state(model_json["state"], opened.members[ARRAYS], texts, stored_bytes=stored)
        if not isinstance(parts, dict) or not {"estimator", "preprocessor", "raw_columns", "calibrator"} <= set(parts):
            raise UntrustedState("it lacks the estimator, preprocessor, columns or calibrator")
        _check_raw_columns(parts["raw_columns"])
        spec = DatasetSpec.from_dict(opened.members["spec.json"])
    except UntrustedState as exc:
        raise BundleIntegrityError(f"{MODEL} cannot be loaded: {exc}; refusing the bundle.") from exc
    except (TypeError, ValueError, KeyError) as exc:
        raise BundleIntegrityError(f"spec.json is not a dataset spec ({exc}).") from exc
    decision = readable["decision"]
    uses = sensitive_uses(objects, raw_columns=parts["raw_columns"], sensitive=spec.sensitive)
    # As sets: decoding builds a nested part before its container, encoding after, so a model
    # with several such parts (a CalibratedGroupClassifier) lists them in another order.
    if sorted(uses) != sorted(decision["sensitive_uses"]):
        raise BundleIntegrityError(
            f"The loaded model reads the sensitive attribute as {uses or 'nothing'}, but its record says "
            f"{decision['sensitive_uses'] or 'nothing'}; refusing the bundle.")
    if (parts["calibrator"] is None) != (decision["calibration"] is None):
        raise BundleIntegrityError("The record's calibration disagrees with the bundled model.")
    bundle = ModelBundle(estimator=parts["estimator"], preprocessor=parts["preprocessor"],
                         raw_columns=list(parts["raw_columns"]), spec=spec, manifest=readable["manifest"],
                         record=readable["record"], metrics=readable["metrics"], decision=decision,
                         calibrator=parts["calibrator"], frontier=readable["frontier"],
                         manifest_sha256=readable["manifest_sha256"], signature_status=readable["signature_status"])
    check_runs(bundle)
    return bundle


def check_rows(bundle: ModelBundle, n: int = CHECK_ROWS) -> pd.DataFrame:
    """Raw rows made from a loaded model's own fitted preprocessing, to try the model on.

    A bundle holds no data rows. Each category the one-hot encoders learnt is taken in turn
    (so every categorical input is exercised), numeric columns take the value their imputer
    fills in, and a last row has every input missing (so the imputers run). The sensitive
    columns a prediction reads cycle through the groups the record counts.

    Parameters
    ----------
    bundle : ModelBundle
    n : int
        Rows before the one with every input missing.

    Returns
    -------
    DataFrame
        ``n + 1`` rows: the model's raw columns, and the sensitive ones when it reads them.
    """
    choices = {c: [np.nan] for c in bundle.raw_columns}
    for _, part, columns in getattr(bundle.preprocessor, "transformers_", []):
        steps = [step for _, step in getattr(part, "steps", [(None, part)])]
        filled = next((s.statistics_ for s in steps if hasattr(s, "statistics_")), None)
        categories = next((s.categories_ for s in steps if hasattr(s, "categories_")), None)
        for j, c in enumerate(columns if isinstance(columns, (list, tuple)) else []):
            if c not in choices:
                continue
            if categories is not None and j < len(categories) and len(categories[j]):
                choices[c] = list(categories[j])
            elif filled is not None and j < len(filled):
                choices[c] = [filled[j]]
    inputs = set(choices)
    if bundle.needs_sensitive_at_predict:
        groups = (bundle.record.get("content", {}).get("dataset", {}).get("group_sizes") or [])
        for s in bundle.spec.sensitive:
            if s not in inputs:
                choices[s] = [g["group"] for g in groups if g.get("attribute") == s] or [np.nan]
    n = max(1, min(n, max(map(len, choices.values()), default=1)))
    rows = {c: [v[i % len(v)] for i in range(n)] + [np.nan if c in inputs else v[0]] for c, v in choices.items()}
    return pd.DataFrame(rows)


def check_runs(bundle: ModelBundle) -> None:
    """Refuse a loaded model that does not run: on :func:`check_rows` it must give one finite
    probability in [0, 1] per row.

    Weights of the wrong shape or dtype, NaN or infinite values anywhere on the path from the
    raw row to the probability, or state a class cannot use show here, at load, rather than
    as NaN scores or an internal error when new data is scored.

    Parameters
    ----------
    bundle : ModelBundle

    Raises
    ------
    BundleIntegrityError
        "The model in this bundle does not run: ...", saying what failed.
    """
    import warnings

    try:
        rows = check_rows(bundle)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the outcome is checked; a model's warnings say nothing more
            p = np.asarray(bundle.predict_proba(rows))
    except Exception as exc:  # noqa: BLE001 - the model is the bundle's: any failure means it does not run
        # The first line: libraries' messages go on with advice for whoever trains a model.
        said = (str(exc).strip().splitlines() or [""])[0]
        moved = bundle.version_changes
        why = (f" It was made with {', '.join(moved)}: load it with those versions." if moved else "")
        raise BundleIntegrityError(f"The model in this bundle does not run: {type(exc).__name__}: {said}"[:300]
                                   + "; refusing the bundle." + why) from exc
    if p.shape != (len(rows),):
        raise BundleIntegrityError(f"The model in this bundle does not run: it gave an array of shape {p.shape} "
                                   f"for {len(rows)} rows; refusing the bundle.")
    if p.dtype.kind not in "fiub" or not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise BundleIntegrityError("The model in this bundle does not run: its scores for rows made from its own "
                                   "preprocessing are not all probabilities (NaN, infinite or outside 0-1); "
                                   "refusing the bundle.")
