"""Cached access to splits, sweep results and fitted models for the pages after Data."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import pandas as pd
import streamlit as st

from fairkit.methods import get_method
from fairkit.split import reserve_threshold_rows, split_dataset
from fairkit.store import ResultStore

from . import state
from .jobs import SweepJob, SweepSettings, registry, result_store

SPLIT_SEED = 0

# Session keys written by the Train page and read by Trade-offs, Groups and Export.
SWEEP_KEY = "fk.sweep_key"          # key of the sweep whose results are shown
SWEEP_SETTINGS = "fk.sweep_settings"  # SweepSettings of that sweep
SELECTED_RUN = "fk.selected_run"    # run_id chosen on Trade-offs (slider, click or selectbox)
# Data key -> SweepSettings of this session's latest complete sweep on that data: shown while a
# newer sweep runs, or when it was cancelled before any run finished.
COMPLETE_SWEEPS = "fk.complete_sweeps"
#: Key of the settings the Train page shows (written each time it renders): the pages after it
#: say when the sweep they show is not the one those settings would train.
TRAIN_SETTINGS_KEY = "fk.train_settings_key"
#: The session's sweep state, as a reload brings it back (ui/restore.py).
SWEEP_STATE = (SWEEP_KEY, SWEEP_SETTINGS, SELECTED_RUN, COMPLETE_SWEEPS)


@st.cache_resource(show_spinner="Splitting and preprocessing...", max_entries=8)
def split_for(data_key: str, seed: int, _frame: pd.DataFrame, _spec):
    """The train/validation/test split of the current data (one per data key and seed)."""
    return split_dataset(_frame, _spec, seed=seed)


def current_split():
    cur = state.current_data()
    if cur is None or not cur.ready:
        return None
    return split_for(cur.data_key, SPLIT_SEED, cur.frame, cur.spec)


@st.cache_resource(show_spinner=False, max_entries=8)
def _reserved(data_key: str, seed: int, share: float, _split):
    # Keyed by table and spec (state.data_key): the hash alone does not tell two specs apart.
    return reserve_threshold_rows(_split, share)


@st.cache_resource(show_spinner=False, max_entries=8)
def _proxies(data_key: str, seed: int, _split) -> dict:
    return _split.sensitive_proxies()


def sensitive_proxies(split) -> dict:
    """:meth:`fairkit.split.DatasetSplit.sensitive_proxies`, once per table and spec."""
    return _proxies(state.data_key(split.data_hash, split.spec), split.seed, split)


def sweep_split(split, settings: SweepSettings | None):
    """The split a sweep of ``settings`` trains and chooses on: ``split``, or with its share of
    validation rows reserved for the post-processors' thresholds (``settings.threshold_rows``)."""
    share = None if settings is None else settings.threshold_rows
    if split is None or share is None:
        return split
    return _reserved(state.data_key(split.data_hash, split.spec), split.seed, float(share), split)


# Test hook: FAIRKIT_FAST_TRAINING=1 makes every torch method train a logistic model for a few
# epochs, so the app tests and the browser tests can run real sweeps in seconds. The parameters
# become part of the sweep's settings (and so of its store keys): fast runs never masquerade as
# real ones.
FAST_TRAINING_ENV = "FAIRKIT_FAST_TRAINING"
FAST_PARAMS = (("max_epochs", 20), ("hidden_layer_sizes", ()), ("batch_size", 128), ("lr", 0.02))
# Per registry family: networks train fast, trees are few, and so are those of the post-processors'
# base (boosted trees by default, fairkit.methods._threshold_base); a family not listed (fairlearn's
# reductions around logistic regression) is fast already.
FAST_TREES = (("n_estimators", 30),)
FAST_PARAMS_BY_FAMILY = {
    "network": FAST_PARAMS,
    "post-processing": (("base_params", dict(FAST_TREES)),),
    "trees": FAST_TREES,
}


def fast_training() -> bool:
    """True when the ``FAIRKIT_FAST_TRAINING`` test hook is on."""
    return os.environ.get(FAST_TRAINING_ENV, "") not in ("", "0")


def training_params(methods) -> tuple:
    """Extra estimator parameters per method, as ``SweepSettings.params`` (empty normally)."""
    if not fast_training():
        return ()
    fast = {name: FAST_PARAMS_BY_FAMILY.get(get_method(name).family) for name in methods}
    return tuple((name, p) for name, p in fast.items() if p is not None)


def sweep_results(split, settings: SweepSettings) -> pd.DataFrame | None:
    """The results table of a finished sweep, read from the store (None if any run is missing)."""
    from fairkit.sweep import plan_runs

    runs = plan_runs(list(settings.methods), settings.etas_dict(), list(settings.seeds),
                     fairness=settings.fairness, params={k: dict(v) for k, v in settings.params})
    keys = list(dict.fromkeys(r.key(split) for r in runs))
    store = result_store()
    # Every check, model hashes included (store.has leaves them to the reader): the records read
    # next skip a failing run, and a table short of one would be cached as the sweep's.
    if not all(store.problem(k) is None for k in keys):
        return None  # not even the grid is trained yet
    if settings.adaptive or settings.tolerance is not None:
        try:
            return _placed_results(settings.key(split), split, settings)
        except _Incomplete:
            return None
    return _records(tuple(keys))


@st.cache_data(show_spinner=False, max_entries=32)
def _records(keys: tuple) -> pd.DataFrame:
    from fairkit.sweep import flag_constant

    table = result_store().records(list(keys))
    # A sweep adds the flag and its note to its table, not to the stored records (a refined
    # sweep's replay has them): the same function adds both here.
    return flag_constant(table) if len(table) else table


class _Incomplete(Exception):
    """A refined sweep with runs not (yet) in the store; raised so that no cache keeps it."""


@st.cache_data(show_spinner=False, max_entries=16)
def _placed_results(sweep_key: str, _split, _settings: SweepSettings) -> pd.DataFrame:
    """A refined sweep's table, replayed from the store.

    Where a refined sweep places its etas depends on the models it trained, so the runs are
    found by replaying :func:`fairkit.sweep.run_sweep`: every run it asks for comes from the
    store, and the same models place the same etas. The replay never trains (a run missing
    from the store stops it before training: the sweep is not finished).
    """
    from fairkit.sweep import ON_THIS_MACHINE, SweepCancelled, run_sweep

    opts = {**_settings.sweep_options(), "n_jobs": 1}  # in process: stopped before any training
    try:
        res = run_sweep(_split, list(_settings.methods), _settings.etas_dict(), list(_settings.seeds), **opts,
                        store=result_store(), should_stop=lambda: True, keep_models=False,
                        # Here, whatever $FAIRKIT_DASK_SCHEDULER says: a run missing from the store
                        # stops the replay before any task, not after connecting to a cluster.
                        scheduler=ON_THIS_MACHINE)
    except SweepCancelled as exc:
        raise _Incomplete(sweep_key) from exc
    return res.results


@st.cache_resource(show_spinner="Loading the model...", max_entries=32)
def model(run_id: str):
    """A stored run's fitted model (the store holds only models this server trained)."""
    return result_store().load_model(run_id)


@dataclass(frozen=True)
class Shown:
    """The runs the pages after Train show, and why these.

    Attributes
    ----------
    split, settings, results
        The split, the settings of the sweep shown and its results table.
    note : str or None
        Set when these are not the session's latest sweep, complete: the finished runs of a
        cancelled (or failed) sweep, or the latest complete sweep while a newer one runs.
    """

    split: object
    settings: SweepSettings
    results: pd.DataFrame
    note: str | None = None


def session_job() -> SweepJob | None:
    """The background job of this session's latest sweep (None when it is not in the registry)."""
    key = st.session_state.get(SWEEP_KEY)
    return registry().get(key) if key else None


def shown_results() -> Shown | None:
    """:func:`sweep_shown`, with this session's assistive search trials on the same data and
    definition joined to its results (``ui.search.with_search``, which marks each row's ``source``)."""
    shown = sweep_shown()
    if shown is None:
        return None
    from .search import with_search

    return replace(shown, results=with_search(shown.split, shown.settings, shown.results))


def sweep_shown() -> Shown | None:
    """What the pages after Train show for the current data, or None (nothing to show yet).

    In order: the session's latest sweep when it is complete; the runs a cancelled or failed
    sweep finished; the session's latest complete sweep on this data (while a newer one runs, or
    when it stopped before any run finished). Only this session's own sweeps are shown: another
    browser session's results are never picked up from the shared store (the store is a cache of
    computations, not a way to share work).
    """
    split = current_split()
    if split is None:
        return None
    ss = st.session_state
    data_key = state.current_data().data_key
    complete = ss.setdefault(COMPLETE_SWEEPS, {})
    settings = ss.get(SWEEP_SETTINGS)
    plain = split
    job, mine = None, settings is not None and ss.get(SWEEP_KEY) == settings.key(plain)
    if mine:
        split = sweep_split(plain, settings)
        results = sweep_results(split, settings)
        if results is not None and not results.empty:
            complete[data_key] = settings
            return Shown(split, settings, results)
        job = session_job()
        keys = job.finished_keys() if job is not None and job.status in ("cancelled", "failed") else []
        if keys:
            results = _records(tuple(keys))
            return Shown(split, settings, results, note=(
                f"The latest sweep was {job.status} after {job.done} of {job.total} runs: these are "
                f"the {len(results)} runs it finished. Press **Run sweep** on the Train page to train "
                "the rest (finished runs are not trained again)."))
    earlier = complete.get(data_key)
    split = sweep_split(plain, earlier)
    results = sweep_results(split, earlier) if earlier is not None else None
    if results is None or results.empty:
        return None
    if not mine:
        return Shown(split, earlier, results)  # the latest sweep was on other data
    why = ("did not finish" if job is None else "is still running" if job.status == "running"
           else f"was {job.status} before any run finished")
    return Shown(split, earlier, results, note=(
        f"Your latest sweep on this data {why}: these are the {len(results)} runs of your latest "
        "complete sweep on it."))


def settings_changed_note(shown: Shown) -> str | None:
    """What to say when the Train page's settings changed since the sweep ``shown`` ran, or None.

    Train says so beside its own controls; the pages after it showed the older sweep with no word
    that it no longer matches what Train shows (state audit, session 44, U11). A sweep a note
    already describes (cancelled, or an older complete one) is not described twice.
    """
    wanted = st.session_state.get(TRAIN_SETTINGS_KEY)
    plain = current_split()
    if shown.note or wanted is None or plain is None or shown.settings.key(plain) == wanted:
        return None
    return ("The Train page's settings changed since this sweep ran: these are the results of the sweep "
            "you ran last. Press **Run sweep** on the Train page to train the new settings.")


def set_sweep(split, settings: SweepSettings) -> None:
    """Make ``settings`` this session's sweep (the one later pages show)."""
    ss = st.session_state
    key = settings.key(split)
    if ss.get(SWEEP_KEY) != key:
        ss.pop(SELECTED_RUN, None)  # a run of another sweep is not a choice among these
    ss[SWEEP_SETTINGS] = settings
    ss[SWEEP_KEY] = key


def detach_sweep() -> None:
    """Stop following this session's sweep (a job keeps running for whoever started it)."""
    for key in (SWEEP_KEY, SWEEP_SETTINGS, SELECTED_RUN):
        st.session_state.pop(key, None)


def run_row(results: pd.DataFrame, run_id: str | None) -> dict | None:
    """The results row of ``run_id`` as a dict, or None when it is not in this sweep."""
    if run_id is None:
        return None
    rows = results[results["run_id"] == run_id]
    return None if rows.empty else rows.iloc[0].to_dict()


@st.fragment(run_every=2.0)
def follow_sweep(job_key: str, text: str | None = None) -> None:
    """While the session's sweep ``job_key`` runs: ``text`` with its progress (``{progress}``),
    and the whole page drawn again once it ends. Trade-offs said "its trade-offs appear here when
    it finishes", or showed the latest complete sweep, and never changed (state audit, session 44)."""
    job = registry().get(job_key)
    if job is None:
        return
    if job.status != "running":
        st.rerun()
    if text:
        st.info(text.format(progress=job.progress_text("/")), icon=":material/model_training:")


def require_selection():
    """``(split, settings, results, row)`` of the model chosen on Trade-offs.

    When no model is selected, tells the user where to choose one and stops the page.
    """
    shown = shown_results()
    row = run_row(shown.results, st.session_state.get(SELECTED_RUN)) if shown else None
    if row is None:
        st.info("Select a model on the Trade-offs page first.", icon=":material/scatter_plot:")
        st.page_link("views/tradeoffs.py", label="Go to Trade-offs", icon=":material/arrow_forward:")
        state.stop_page()
    changed = settings_changed_note(shown)
    if changed:
        st.caption(f":material/info: {changed}")
    return shown.split, shown.settings, shown.results, row


# Re-read at most every few minutes: it opens the first bytes of every record in the store.
@st.cache_data(ttl=300, show_spinner=False, max_entries=4)
def _earlier_runs(root: str) -> int:
    return len(ResultStore(root).earlier_runs())


def earlier_runs_note() -> str | None:
    """What to say about runs an earlier fairkit left in the dashboard's store (never served to
    a sweep of this one, :meth:`fairkit.store.ResultStore.earlier_runs`), or None."""
    n = _earlier_runs(str(result_store().root))
    if not n:
        return None
    return (f"{n} run(s) in this dashboard's results store were stored by an earlier fairkit (models kept as "
            "pickles, or figures computed under an earlier results revision): no sweep of this version is "
            "served them, so their settings were trained afresh. Their files (run id .json, .joblib, "
            ".safetensors, in the store's runs folder on the server) can be deleted.")
