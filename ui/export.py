"""Glue for the Export and Review pages: building bundles, showing decision records safely.

The decision record is built by :func:`fairkit.export.build_record` (the preview renders it
without writing anything), the bundle written by :func:`fairkit.export.write_bundle` under
``default_home()/exports/`` and logged by :func:`fairkit.audit.record_export` (the CLI logs its
exports with the same function, so the Review page lists both). The Review page never unpickles
anything, and no bundle holds a pickle: :func:`fairkit.export.read_bundle_record` verifies a
bundle's hashes and signature and reads only its JSON and CSV members.

Keys. Bundles are signed with the organisation's Ed25519 key and checked against its public key
when they are configured: the files named by ``FAIRKIT_SIGNING_KEY`` / ``FAIRKIT_TRUST_KEY``, or
by ``signing_key`` / ``trust_key`` in the ``[fairkit]`` table of ``.streamlit/secrets.toml``
(the environment wins). ``python -m fairkit keygen --out DIR`` creates a pair.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pandas as pd
import streamlit as st

from fairkit import keys
from fairkit.audit import AuditLog, chain_head, export_entries, record_export
from fairkit.export import (
    EFFECT_METRICS,
    BundleFormatError,
    BundleIntegrityError,
    BundleRecord,
    DecisionRecord,
    build_record,
    check_run_figures,
    model_below_chance,
    model_chosen_gap_change,
    model_sensitive_uses,
    model_threshold_effect,
    ranks_as_exported,
    read_bundle_record,
    recover_interrupted_exports,
    sweep_compared,
    without_unchecked,
    write_bundle,
)
from fairkit.frontier import sweep_front
from fairkit.groups import group_hierarchy
from fairkit.metrics import AUDIT_BAND, METRIC_LABELS, SWEEP_THRESHOLD, reference_order
from fairkit.record import decision_label, fmt, fmt_metric, render_markdown
from fairkit.store import default_home, stale_temporaries

from . import groups as ug
from . import state
from .display import md
from .record import file_stem

CALIBRATION_CHOICES = {"none": "No calibration", "platt": "Platt (logistic) per group",
                       "isotonic": "Isotonic per group", "temperature": "Temperature per group"}
N_BOOT = 200
LAST_EXPORT = "fk.export"  # the last export of this session (see export), read by the Review page too
CHECKED = "fk.export_checked"  # {(data key, run id, row hash): why its model cannot be read, or None}
USES = "fk.export_uses"  # {(run_id, calibration, data key): how the bundle would read the attribute}

# The decision record's answers on the Export page.
W_DECIDER = "w.export.decider"
W_RATIONALE = "w.export.rationale"
W_PURPOSE = "w.export.purpose"
W_INTENDED_USE = "w.export.intended_use"
W_FAIRNESS_RATIONALE = "w.export.fairness_rationale"
W_CALIBRATION = "w.export.calibration"
W_THRESHOLD = "w.export.threshold"
#: Answers about one model: forgotten when another model is selected, so a rationale never ships
#: with a model it was not written for, nor a calibration or threshold checked on another model's
#: scores (each is judged on this model's: the calibration warning, the threshold table). The
#: decider is a person and stays.
PER_MODEL = (W_RATIONALE, W_CALIBRATION, W_THRESHOLD)
#: Answers about the data's use: forgotten when the data (table or spec) change.
PER_DATA = (W_PURPOSE, W_INTENDED_USE, W_FAIRNESS_RATIONALE)
#: What an answer is when nothing was given (text: empty).
DEFAULTS = {W_CALIBRATION: "none", W_THRESHOLD: SWEEP_THRESHOLD}
#: (data key, run id) the answers were written for. A "w." key, so it is remembered and restored
#: with the answers themselves (ui.state.remember_widgets, ui.restore): a reload keeps both.
ANSWERS_FOR = "w.export.answers_for"


def exports_dir():
    """Where exported bundles are kept for the Review page."""
    return default_home() / "exports"


def bundle_file_name(dataset: str, row: dict, threshold: float = SWEEP_THRESHOLD, calibration: str = "none") -> str:
    """``<dataset>-<method>-eta<eta>-t<threshold>-<calibration>-<UTC time>.zip``
    (:func:`ui.record.file_stem`): two exports of one run at other thresholds or calibrations
    have other names."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{file_stem(dataset, row['method'], row['eta'], threshold, calibration, stamp)}.zip"


# --------------------------------------------------------------------------- keys

def _secret_path(name: str) -> str | None:
    try:
        table = st.secrets.get("fairkit", {})
        value = table.get(name) if hasattr(table, "get") else None
    except Exception:  # no secrets file, or one that does not parse: nothing configured there
        return None
    return (str(value).strip() or None) if value else None


def signing_key_path() -> str | None:
    """The file the organisation's private key is read from (environment, then Streamlit secrets), or None."""
    return keys.private_key_path(fallback=_secret_path("signing_key"))


def signing_key():
    """The organisation's private key, if configured (environment, then Streamlit secrets), else None.

    Raises
    ------
    fairkit.keys.KeyFileError
        A key is configured but unusable (the message names the file and why).
    """
    return keys.resolve_private(fallback=_secret_path("signing_key"))


def trusted_key():
    """The organisation's public key, if configured (environment, then Streamlit secrets); else
    the public half of its signing key, when only that is configured; else None.

    A dashboard given a signing key alone signed every export and verdict and checked none: a
    signed dissent rewritten into a sign-off counted (hostile-input audit, session 53).

    Raises
    ------
    fairkit.keys.KeyFileError
    """
    return keys.resolve_public(fallback=_secret_path("trust_key"), signing_fallback=_secret_path("signing_key"))


# --------------------------------------------------------------------------- the answers

def earlier_exports_note(run_id: str) -> str | None:
    """What the audit log holds of exports of run ``run_id`` (by anyone: a session before a
    reload, another analyst, the command line), or None: a second export of the same model is a
    second decision on the Review page, so the page says so before it is made."""
    before = [e for e in export_entries(AuditLog(), bundle_folder=exports_dir()) if e.get("run_id") == run_id]
    if not before:
        return None
    e = before[0]  # the newest
    more = f" (and {len(before) - 1} earlier)" if len(before) > 1 else ""
    return (f"This model was exported before: audit entry {e['id']}{more}, {e['ts'][:16].replace('T', ' ')} UTC, "
            f"by {md(e['actor'])}, {md(decision_label(e))}. Exporting it again records another decision "
            "for the committee; if it is the same decision, review that one on the Review page.")


def answers_for(data_key: str, run_id: str) -> str | None:
    """Forget the answers written for another model (:data:`PER_MODEL`) or other data
    (:data:`PER_DATA`) before the Export page draws them; call first on the page.

    Returns
    -------
    str or None
        What was forgotten and why, to show once; None when nothing written was forgotten.
    """
    ss = st.session_state
    memory = ss.setdefault(state.WIDGET_MEMORY, {})
    was = ss.get(ANSWERS_FOR, memory.get(ANSWERS_FOR))
    now = [data_key, run_id]
    ss[ANSWERS_FOR] = now
    if was is not None and list(was) == now:
        return None
    # Answers kept without a record of what they were for (an older session's) are treated as
    # another model's: nothing unchecked reaches a record.
    stale = PER_MODEL + (PER_DATA if was is None or list(was)[0] != data_key else ())
    cleared = [key for key in stale if _given(key, ss.get(key, memory.get(key)))]
    for key in stale:
        ss.pop(key, None)
        memory.pop(key, None)
    if not cleared:
        return None
    what = "the data and the model" if any(k in PER_DATA for k in cleared) else "the model"
    names = {W_RATIONALE: "rationale", W_PURPOSE: "purpose", W_INTENDED_USE: "intended use",
             W_FAIRNESS_RATIONALE: "reason for the fairness definition",
             W_CALIBRATION: "group calibration", W_THRESHOLD: "decision threshold"}
    one = len(cleared) == 1
    said = [names[k] for k in cleared]
    listed = said[0] if one else ", ".join(said[:-1]) + f" and {said[-1]}"
    reset = [k for k in cleared if k in DEFAULTS]
    back = "" if not reset else (
        " The " + " and the ".join(f"{names[k]} is back to {_shown(k, DEFAULTS[k])}" for k in reset) + ".")
    return (f"The {listed} given earlier {'was' if one else 'were'} for "
            f"another selection; {what} changed since, so {'it was' if one else 'they were'} cleared. "
            f"{'Give it' if one else 'Give them'} for this one.{back}")


def _given(key: str, value) -> bool:
    """Whether ``value`` of answer ``key`` is one the user gave (not empty, not the default)."""
    if key in DEFAULTS:
        return value is not None and value != DEFAULTS[key]
    return bool(str(value or "").strip())


def _shown(key: str, value) -> str:
    return CALIBRATION_CHOICES[value].lower() if key == W_CALIBRATION else f"{value:.2f}"


# --------------------------------------------------------------------------- building

def calibrator(data_key: str, run_id: str, calibration: str, split):
    """The group calibrator a bundle of run ``run_id`` with ``calibration`` holds: the one the
    Groups page shows (:func:`ui.groups.calibration_check`, fitted once per data, run and method
    for the warning, the threshold table and the bundle alike), or None for ``"none"``."""
    if calibration == "none":
        return None
    return ug.calibration_check(data_key, run_id, calibration, split).calibrator


def sensitive_uses(data_key: str, run_id: str, load_model, split, calibration: str) -> list[str]:
    """How the bundle of run ``run_id`` (``load_model(run_id)``) with ``calibration`` would read
    the sensitive attribute at prediction time (:func:`fairkit.export.model_sensitive_uses`),
    kept per session so a rerun of the page does not load the model."""
    cache = st.session_state.setdefault(USES, {})
    key = (run_id, calibration, data_key)
    if key not in cache:
        cache[key] = model_sensitive_uses(load_model(run_id), split, calibrator(data_key, run_id, calibration, split))
    return cache[key]


def checked_results(data_key: str, results: pd.DataFrame, split, load_model) -> tuple[pd.DataFrame, str | None]:
    """The sweep's runs an export may sign, and a note on those left off, after checking every
    run's figures against its model (:func:`fairkit.export.check_run_figures`, as the command
    line's export does).

    The runs come from the results store's records, which anyone who can write the server's
    store can edit (and whose checksums they can recompute): a run shown better than its model
    would reach the signed frontier. Each row is checked once per session (keyed by its values).

    Raises
    ------
    ValueError
        Naming the runs whose figures are not their models', and what to do.
    """
    cache = st.session_state.setdefault(CHECKED, {})
    rows = pd.util.hash_pandas_object(results, index=False).tolist()
    keys = [(data_key, str(run), digest) for run, digest in zip(results["run_id"], rows)]
    todo = [k not in cache for k in keys]
    if any(todo):
        unchecked = check_run_figures(results[todo], load_model, split, remedy=(
            "Its runs come from the results store on the server, whose records were changed after their models "
            "were trained: ask whoever runs the server to delete those runs' files from the store's runs folder, "
            "then run the sweep again (it trains them afresh)."))
        for key, needed in zip(keys, todo):
            if needed:
                cache[key] = unchecked.get(key[1])
    return without_unchecked(results, {k[1]: cache[k] for k in keys if cache[k] is not None})


def build(*, data_key: str, model, split, row: dict, results: pd.DataFrame, record: DecisionRecord,
          unfairness: str, performance: str, threshold: float, calibration: str,
          audit_reference: dict | None = None, audit_band: tuple = AUDIT_BAND,
          sample: dict | None = None) -> BundleRecord:
    """:func:`fairkit.export.build_record` with the sweep's frontier (on the chosen axes) and
    what it compared (:func:`fairkit.export.sweep_compared` of its runs); nothing is written. ``data_key`` is the current data's (``model`` is the run
    ``row`` of its split); ``audit_reference`` and ``audit_band`` set the record's disparity
    audit; ``sample`` is the stratified sample the data is (``ui.data.sample_record``)."""
    frontier = sweep_front(results, unfairness=unfairness, performance=performance)
    return build_record(model=model, split=split, run=row, record=record, frontier=frontier,
                        sweep=sweep_compared(results),
                        calibrator=calibrator(data_key, row["run_id"], calibration, split), threshold=threshold,
                        n_boot=N_BOOT, audit_reference=audit_reference, audit_band=audit_band, sample=sample)


def preview(**kwargs) -> tuple[BundleRecord, str]:
    """The record the export would write and its Markdown (escaped), without writing a bundle.
    Keyword arguments as :func:`build`."""
    built = build(**kwargs)
    return built, record_markdown(built.record)


def export(*, dataset: str, unfairness: str, performance: str, row: dict, built: BundleRecord | None = None,
           actor=None, **kwargs) -> dict:
    """Build (or take the previewed ``built``), sign when a key is configured, write the bundle
    under :func:`exports_dir` and log it (as ``actor``, the signed-in identity, when given; else
    as the record's decider, self-declared). Other keyword arguments as :func:`build`.

    Returns
    -------
    dict
        ``file`` (name under the exports folder), ``manifest_sha256``, ``entry`` (audit id),
        ``run_id``, ``signed_by`` (key id or None), ``sensitive_uses``, ``markdown`` (the
        decision record, escaped for display) and ``record`` (as written).
    """
    key = signing_key()
    log = AuditLog()
    # A dashboard export killed between its entry and its rename left a logged bundle in a
    # temporary no name would ever reach again (each export has its own): finished here.
    recovered = recover_interrupted_exports(log, stale_temporaries(folder=exports_dir()), shown=lambda p: p.name)
    for note in recovered:
        logging.getLogger("fairkit.export").warning("%s", note)
    if built is None:
        built = build(row=row, unfairness=unfairness, performance=performance, **kwargs)
    # What was previewed is what ships; only the log's head is taken now.
    built = built.with_audit_head(chain_head(log))
    name = bundle_file_name(dataset, row, built.decision["threshold"],
                            (built.decision["calibration"] or {}).get("method", "none"))
    # Logged before the bundle appears among the exports: never one without the other.
    out = write_bundle(exports_dir() / name, built, sign_key=key or False, before_publish=lambda b: record_export(
        log, bundle_path=b["path"], manifest_sha256=b["manifest_sha256"], record=b["record"],
        unfairness_axis=unfairness, performance_axis=performance, actor=actor, signing_key=key or False))
    entry = out["audit_entry"]
    return {"file": name, "manifest_sha256": out["manifest_sha256"], "entry": entry, "run_id": row["run_id"],
            "recovered": recovered,
            "signed_by": out["signed_by"], "sensitive_uses": built.decision["sensitive_uses"],
            "markdown": record_markdown(out["record"]), "record": out["record"]}


# --------------------------------------------------------------------------- safe display

def record_markdown(rec: dict) -> str:
    """The decision record as Markdown for the page: the bundle's own ``decision_record.md``
    (every piece of text escaped, :func:`fairkit.record.escape_markdown`) with headings from
    level 3."""
    return render_markdown(rec, heading_offset=2)


# --------------------------------------------------------------------------- the threshold's effect

@st.cache_data(show_spinner="Measuring the model at this threshold...", max_entries=64)
def threshold_effect(data_key: str, run_id: str, baseline_run_id: str | None, calibration: str,
                     threshold: float, unfairness: str | None, _split, _load_model, method: str = "",
                     performance: str = "accuracy") -> dict:
    """What the decision threshold and the calibration change, on test data, before anything is
    exported: :func:`fairkit.export.model_threshold_effect` as tables.

    Parameters
    ----------
    data_key, run_id, baseline_run_id, calibration, threshold, unfairness, method, performance
        What the result depends on (the cache key); ``unfairness`` and ``performance`` are the
        axes the model was chosen on (the Trade-offs chart's); ``method`` the run's, whose
        scores may be decisions (a metric of scores then reads n/a, as in the record).
    _split : DatasetSplit
    _load_model : callable
        ``run_id -> fitted model``.

    Returns
    -------
    dict
        ``table``: one row per metric (plain label) with the model as the frontier measured it
        (uncalibrated, at the sweep's threshold: the Trade-offs and Groups pages' figures) and
        as it would ship (with ``calibration``, at ``threshold``); ``moved``: whether
        ``threshold`` differs from the sweep's; ``calibrated``: whether the export calibrates;
        ``confusion``: per-group counts (:func:`fairkit.metrics.confusion_by_group`) of the
        model as it would ship; ``baseline``: the same for the baseline at the sweep's
        threshold (None without a baseline run); ``chosen_gap_change``: the record's sentence when
        the model as exported is less fair on validation than the frontier's point
        (:func:`fairkit.export.model_chosen_gap_change`), else None; ``below_chance``: the
        record's sentence when, as exported, it scores no better on validation than one
        decision for everyone (:func:`fairkit.export.model_below_chance`), else None.
    """
    model = _load_model(run_id)
    cal = calibrator(data_key, run_id, calibration, _split)
    effect = model_threshold_effect(model, _split, threshold=threshold, calibrator=cal,
                                    baseline=None if baseline_run_id is None else _load_model(baseline_run_id))
    shipped = f"At {threshold:.2f}" + (f", calibrated ({CALIBRATION_CHOICES[calibration]})" if cal is not None else "")
    # As the frontier compared it (uncalibrated) and as it would ship (the record's rule).
    before, after = ((True, True) if not method else
                     (ranks_as_exported(method, False), ranks_as_exported(method, cal is not None)))
    table = pd.DataFrame({
        "Metric (test)": [METRIC_LABELS[k] for k in EFFECT_METRICS],
        f"At {SWEEP_THRESHOLD:.2f} (the frontier's)": [fmt_metric(effect.at_frontier[k], k, before) for k in EFFECT_METRICS],
        shipped: [fmt_metric(effect.at_threshold[k], k, after) for k in EFFECT_METRICS],
    })
    return {"table": table, "moved": effect.moved, "calibrated": cal is not None,
            "confusion": effect.confusion, "baseline": effect.baseline,
            "chosen_gap_change": model_chosen_gap_change(model, _split, threshold=threshold, gap_metric=unfairness,
                                                         calibrator=cal),
            "below_chance": model_below_chance(model, _split, threshold=threshold, performance=performance,
                                               calibrator=cal, method=method or None)}


def confusion_table(counts: pd.DataFrame, attribute: str) -> pd.DataFrame:
    """One attribute's per-group counts with plain headers, for display."""
    part = counts[counts["attribute"] == attribute]
    return pd.DataFrame({"Group": part["group"].astype(str), "n": part["n"],
                         "True positives": part["tp"], "False positives": part["fp"],
                         "False negatives": part["fn"], "True negatives": part["tn"]}).reset_index(drop=True)


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
        ``ok``; with ``ok`` False an ``error`` to show and ``missing`` (the file is not there);
        otherwise ``record`` (dict),
        ``markdown`` (escaped decision record), ``frontier`` (DataFrame or None) and
        ``signature`` (what the bundle's signature proves, as text).
    """
    try:
        # The trusted key with those the audit log hands over to or from it: a bundle signed
        # before a key rotation read "cannot be trusted" (lifecycle audit, session 45).
        ring = AuditLog().key_ring(trusted_key())
        bundle = read_bundle_record(entry.get("bundle", ""), expected_manifest_sha256=entry.get("manifest_sha256"),
                                    trusted_key=ring or False)
    except (BundleIntegrityError, keys.KeyFileError) as exc:
        # A file that is not there is not evidence of tampering: the page says which it is.
        return {"ok": False, "error": str(exc), "missing": not Path(str(entry.get("bundle", ""))).exists(),
                "older": isinstance(exc, BundleFormatError)}
    except Exception as exc:  # noqa: BLE001 - one unreadable file must not take the Review page down
        logging.getLogger("fairkit.review").exception("Reading the bundle of export %s failed", entry.get("id"))
        return {"ok": False, "error": f"The bundle file could not be read ({type(exc).__name__}); the details are in "
                                      "the dashboard's log."}
    return {"ok": True, "record": bundle["record"], "markdown": record_markdown(bundle["record"]),
            "frontier": bundle["frontier"], "signature": str(bundle["signature_status"])}


# --------------------------------------------------------------------------- the disparity audit's choices

AUDIT_LOW = (0.5, 1.0)   # range of the band's lower bound offered
AUDIT_HIGH = (1.0, 2.0)  # range of its upper bound


@st.cache_data(show_spinner=False, max_entries=16)
def audit_groups(data_key: str, _split) -> dict[str, list]:
    """Each attribute (and the intersection) -> its groups in the test data with their rows, in
    :func:`fairkit.metrics.reference_order` (largest first): the reference groups the disparity
    audit may take, the first the default :func:`fairkit.metrics.disparity_audit` takes."""
    out = {}
    for level in group_hierarchy(_split.test.sensitive):
        enc = level.encoding
        counts = enc.counts()
        out[level.name] = [(str(enc.names[i]), int(counts[i])) for i in reference_order(counts)]
    return out
