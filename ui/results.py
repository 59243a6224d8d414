"""Cached access to splits, sweep results and fitted models for the pages after Data."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from fairkit.methods import METHODS
from fairkit.split import split_dataset

from . import state
from .jobs import SweepSettings, result_store

SPLIT_SEED = 0

# Session keys written by the Train page and read by Trade-offs, Groups and Export.
SWEEP_KEY = "fk.sweep_key"          # key of the sweep whose results are shown
SWEEP_SETTINGS = "fk.sweep_settings"  # SweepSettings of that sweep
SELECTED_RUN = "fk.selected_run"    # run_id chosen on Trade-offs (slider, click or selectbox)


@st.cache_resource(show_spinner="Splitting and preprocessing...", max_entries=8)
def split_for(data_key: str, seed: int, _frame: pd.DataFrame, _spec):
    """The train/validation/test split of the current data (one per data key and seed)."""
    return split_dataset(_frame, _spec, seed=seed)


def current_split():
    cur = state.current_data()
    if cur is None or not cur.ready:
        return None
    return split_for(cur.data_key, SPLIT_SEED, cur.frame, cur.spec)


def last_sweep_doc(data_key: str) -> str:
    return f"last_sweep_{data_key}"


def remember_sweep(data_key: str, settings: SweepSettings) -> None:
    """Persist the last sweep's settings for this data, so a reload or restart finds it again."""
    result_store().put_json(last_sweep_doc(data_key), {
        "methods": list(settings.methods), "etas": [[m, list(g)] for m, g in settings.etas],
        "seeds": list(settings.seeds),
        "fairness": settings.fairness, "n_jobs": settings.n_jobs,
        "params": [[k, list(v)] for k, v in settings.params],
    })


def recall_sweep(data_key: str) -> SweepSettings | None:
    doc = result_store().get_json(last_sweep_doc(data_key))
    if not doc:
        return None
    params = tuple((k, tuple(tuple(x) for x in v)) for k, v in doc.get("params", []))
    etas = tuple((m, tuple(g)) for m, g in doc["etas"])
    return SweepSettings(methods=tuple(doc["methods"]), etas=etas, seeds=tuple(doc["seeds"]),
                         fairness=doc.get("fairness", "demographic_parity"), n_jobs=doc.get("n_jobs", 1),
                         params=params)


def sweep_results(split, settings: SweepSettings) -> pd.DataFrame | None:
    """The results table of a finished sweep, read from the store (None if any run is missing)."""
    from fairkit.sweep import plan_runs

    runs = plan_runs(list(settings.methods), settings.etas_dict(), list(settings.seeds),
                     fairness=settings.fairness, params={k: dict(v) for k, v in settings.params})
    keys = list(dict.fromkeys(r.key(split) for r in runs))
    store = result_store()
    if not all(store.has(k) for k in keys):
        return None
    return _records(tuple(keys))


@st.cache_data(show_spinner=False, max_entries=32)
def _records(keys: tuple) -> pd.DataFrame:
    return result_store().records(list(keys))


@st.cache_resource(show_spinner="Loading the model...", max_entries=32)
def model(run_id: str):
    """A stored run's fitted model (the store holds only models this server trained)."""
    return result_store().load_model(run_id)


def current_results():
    """(split, settings, results) of the sweep shown to this session, or None."""
    cur = state.current_data()
    split = current_split()
    if cur is None or split is None:
        return None
    settings = st.session_state.get(SWEEP_SETTINGS)
    if settings is None:
        settings = recall_sweep(cur.data_key)
    if settings is None:
        return None
    results = sweep_results(split, settings)
    if results is None or results.empty:
        return None
    return split, settings, results


def method_title(name: str) -> str:
    m = METHODS.get(name)
    return m.title if m else name


def to_json(obj) -> str:
    return json.dumps(obj, default=str)
