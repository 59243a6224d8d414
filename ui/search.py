"""The Train page's assistive search: widgets, its background job, and its trials on the frontier.

A search proposes, people choose: its trials join the session's results (``shown_results``)
marked ``source`` "search", the Trade-offs page rings them and says the search's budget and
objective, and nothing here selects or exports a model. The job runs
:func:`fairkit.search.run_search` in a thread through the job registry, like a sweep; its study
lives in the result store's folder, so a search started again after a restart resumes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pandas as pd
import streamlit as st

from fairkit.audit import AuditLog, record_sweep
from fairkit.frontier import dominated_by
from fairkit.methods import METHODS
from fairkit.plots import method_label
from fairkit.record import fmt, fmt_eta
from fairkit.search import (
    DEFAULT_RESPLITS,
    DEFAULT_TRIALS,
    SOURCE,
    SearchError,
    default_storage,
    load_search,
    run_search,
    splits_text,
    study_name,
)
from fairkit.store import cache_key
from fairkit.sweep import ReportingStore

from . import auth, state
from .display import md
from .jobs import SweepJob, registry, result_store, session_owner

SEARCH_KEY = "fk.search_key"    # job key of this session's latest search
SEARCH_INFO = "fk.search_info"  # where its study is and what it searched (data, split, definition)

W_ON = "w.train.search"
W_METHODS = "w.train.search_methods"
W_TRIALS = "w.train.search_trials"
W_MINUTES = "w.train.search_minutes"
W_RESPLITS = "w.train.search_resplits"


@dataclass
class SearchSettings:
    """What the Search option asks for; hashable into a job key.

    ``params`` are fixed estimator parameters per method (the page's test-mode settings), as
    ``SweepSettings.params``: a parameter given there is not searched.
    """

    methods: tuple
    fairness: str
    n_trials: int = DEFAULT_TRIALS
    minutes: float = 0.0  # time budget; 0: none
    resplits: int = DEFAULT_RESPLITS
    params: tuple = ()
    n_workers: int = 1

    def params_dict(self) -> dict:
        return {k: dict(v) for k, v in self.params}

    def study(self, split) -> str:
        return study_name(split, list(self.methods), fairness=self.fairness, params=self.params_dict())

    def key(self, split) -> str:
        return cache_key(search=self.study(split), n_trials=self.n_trials, minutes=self.minutes,
                         resplits=self.resplits)


@dataclass
class SearchJob(SweepJob):
    """A search in a background thread; cancelled like a sweep, by its owner only."""

    frame: object = field(default=None, repr=False)

    def _release(self) -> None:
        # The table and the frame go; the result stays, which the page reads once a search ends,
        # with the plain store in place of the reporting one, which held the table.
        self.split = self.frame = None
        if self.result is not None:
            self.result = replace(self.result, store=self.store)

    def _execute(self) -> None:
        s = self.settings
        # Intervals stored with each trial, as a dashboard sweep stores them (Trade-offs panel).
        self.result = run_search(
            self.split, list(s.methods), fairness=s.fairness, n_trials=s.n_trials,
            timeout=s.minutes * 60 if s.minutes else None, store=ReportingStore(self.store, self.split),
            params=s.params_dict(), n_workers=s.n_workers, progress=self._progress,
            should_stop=self._cancel.is_set, frame=self.frame, resplits=s.resplits)
        self._log_search(self.result)

    def _log_search(self, res, cancelled: bool = False) -> None:
        """The audit entry of search result ``res`` (finished, or what a cancel left)."""
        s, trials = self.settings, res.trials
        record_sweep(AuditLog(), actor=self.actor or auth.actor(), dataset=self.split.spec.name,
                     data_hash=self.split.data_hash, methods=list(s.methods),
                     etas=trials["eta"].tolist() if len(trials) else [], seeds=[0], fairness=s.fairness,
                     runs=res.complete, cached=res.cached, search=res, cancelled=cancelled)

    def _log_cancelled(self) -> None:
        """Log the trials a cancelled search finished (the frontier shows them), read back from
        its study."""
        s = self.settings
        res = load_search(s.study(self.split), default_storage(self.store), self.store)
        if res is None or not res.complete:
            return
        res.stopped = "cancelled"
        self._log_search(res, cancelled=True)

    def seconds_left(self) -> float | None:
        """Not estimated: a trial's cost depends on the settings the sampler proposes."""
        return None

    def reusable(self) -> bool:
        """A finished search is what the same settings ask for only when it spent its trial
        budget: one its time budget stopped resumes when started again (search audit, session
        51: pressing Run search again showed the old result and trained nothing)."""
        return self.result is not None and self.result.stopped == "budget"


def session_search() -> SearchJob | None:
    key = st.session_state.get(SEARCH_KEY)
    return registry().get(key) if key else None


# --------------------------------------------------------------------------- trials on the frontier

@st.cache_data(show_spinner=False, max_entries=8)
def _trials(name: str, storage: str, stamp) -> pd.DataFrame:
    """A study's finished trials as sweep rows (``stamp`` changes while its job adds trials)."""
    res = load_search(name, storage, result_store())
    return pd.DataFrame() if res is None else res.trials


def split_identity(split) -> str:
    """What a search's trials must share with a sweep to join it: the table, the spec (target,
    positive label, sensitive attributes, inputs), the split seed and the validation rows set
    aside for the thresholds (without them, trials scored on every validation row joined a
    sweep scored on half of them: search audit, session 51)."""
    return cache_key(data=split.data_hash, spec=split.spec.to_dict(), split_seed=split.seed,
                     **split.reservation())


def joined_sweep(split, fairness: str):
    """The session's sweep (``ui.results.Shown``) that search trials on ``split`` for
    ``fairness`` join on the Trade-offs page, or None: a sweep on other rows or of another
    definition does not take them."""
    from . import results as ur

    shown = ur.sweep_shown()
    if (shown is None or shown.results.empty or shown.settings.fairness != fairness
            or split_identity(shown.split) != split_identity(split)):
        return None
    return shown


def search_trials(split, fairness: str) -> pd.DataFrame:
    """This session's search trials on ``split`` for ``fairness`` (empty when there are none).

    Trials of the same table under another spec are not these: they joined a later sweep's
    frontier, were scored on its split and stopped the page (state audit, session 44).
    """
    info = st.session_state.get(SEARCH_INFO)
    if not info or info.get("split") != split_identity(split) or info["fairness"] != fairness:
        return pd.DataFrame()
    job = session_search()
    stamp = (job.status, job.done) if job is not None else "stored"
    try:
        return _trials(info["study"], info["storage"], stamp)
    except SearchError as exc:  # the page goes on without the search's trials, and says why
        st.warning(f"The search's trials are left out: {md(str(exc))}", icon=":material/warning:")
        return pd.DataFrame()


def with_search(split, settings, results: pd.DataFrame) -> pd.DataFrame:
    """``results`` (a sweep's) with this session's search trials on the same data and definition.

    With trials, every row gets a ``source``: "sweep", or "search" for a trial; without, ``results``
    is returned as it is.
    """
    trials = search_trials(split, settings.fairness)
    if trials.empty:
        return results
    base = results.assign(source=results["source"].fillna("sweep") if "source" in results else "sweep")
    trials = trials[~trials["run_id"].isin(base["run_id"])]
    return pd.concat([base, trials], ignore_index=True)


# --------------------------------------------------------------------------- the Train page's block

def _start(split, cur, settings: SearchSettings) -> None:
    store = result_store()
    registry().start(split, settings, store, job_class=SearchJob, frame=cur.frame)
    st.session_state[SEARCH_KEY] = settings.key(split)
    st.session_state[SEARCH_INFO] = {"study": settings.study(split), "storage": default_storage(store),
                                     "data_hash": split.data_hash, "split": split_identity(split),
                                     "fairness": settings.fairness, "dataset": split.spec.name}


def progress_text(job) -> tuple[float, str]:
    """The search bar's fraction and text for ``job``: its trials done of the budget."""
    # Before its first report the job's total is 0 ("0 / 0"): the budget asked for stands in.
    total = job.total or job.settings.n_trials
    # The study's trials, which another search of it may have added: never more than the budget
    # ("8 / 6 trials done" with another browser's larger budget; search audit, session 48).
    done = min(job.done, total)
    return min(done / max(total, 1), 1.0), f"Search: {done} / {total} trials done"


@st.fragment(run_every=1.0)
def _progress(job_key: str) -> None:
    job = registry().get(job_key)
    if job is None:
        return
    fraction, text = progress_text(job)
    st.progress(fraction, text=text)
    if job.status == "running" and job.can_cancel(session_owner()):
        if st.button("Cancel search", icon=":material/stop:", key="train.search.cancel"):
            job.cancel(session_owner())
            st.toast("Cancelling the search after the current trial; finished trials are kept.")
    elif job.status == "running":
        # The same search (data, settings, budget) another session started: this one follows it,
        # as the Train page follows another session's sweep.
        st.caption("Another session started this search (same data and settings); only it can cancel it.")
    else:
        st.rerun()


#: The front table's column saying whether a run of the session's sweep beats a candidate.
BEATEN_COLUMN = "Beaten by a sweep run (validation)"


def front_table(front: pd.DataFrame, unfairness: str, performance: str, beaten=None) -> pd.DataFrame:
    """The front of the search's own trials as the page shows it: each candidate's values, its
    spread over the original split and the re-splits, and with ``beaten`` (one bool per
    candidate, :func:`fairkit.frontier.dominated_by`) whether a sweep run dominates it."""
    def spread(row, axis):
        lo, hi = row.get(f"resplit_{axis}_min"), row.get(f"resplit_{axis}_max")
        return "n/a" if lo is None or pd.isna(lo) else f"{fmt(lo)}-{fmt(hi)}"

    rows = []
    for i, (_, r) in enumerate(front.iterrows()):
        unstable = r.get("unstable")
        rows.append({"Trial": int(r["search_trial"]), "Method": method_label(r["method"]),
                     "eta": fmt_eta(r["eta"]),
                     f"Validation {performance}": f"{fmt(r['performance_val'])}",
                     "Validation gap": f"{fmt(r['unfairness_val'])}",
                     **({BEATEN_COLUMN: "yes" if beaten[i] else "no"} if beaten is not None else {}),
                     f"{performance.capitalize()} over all splits": spread(r, performance),
                     "Gap over all splits": spread(r, unfairness),
                     "Stable": "n/a" if unstable is None or pd.isna(unstable) else ("no" if unstable else "yes")})
    return pd.DataFrame(rows)


def beaten_by_sweep(shown, front: pd.DataFrame, unfairness: str, performance: str):
    """Which candidates a run of ``shown`` (:func:`joined_sweep`) dominates on validation, or None
    when there is no such sweep (on the same rows, of the same definition) to compare."""
    if shown is None or front.empty:
        return None
    return dominated_by(front, shown.results, unfairness=unfairness, performance=performance, choose_on="val")


def _where_trials_go(split, fairness: str) -> str:
    """Where the search's trials can be seen and chosen, in words for the page."""
    if joined_sweep(split, fairness) is not None:
        return "They are on the Trade-offs chart, marked as search points."
    # Trade-offs draws a sweep's frontier: without one on these rows the trials were said to be
    # on a chart that read "Run a sweep first" (search audit, session 51).
    return ("To see and choose them on the Trade-offs chart, run a sweep of this data with this fairness "
            "definition (**Run sweep** above): search trials join a sweep's frontier there, and none of this "
            "session's does yet.")


def search_panel(split, cur, methods, fairness: str, n_jobs: int = 1) -> None:
    """The Search option: a toggle, the budget, the background job, and what it proposed."""
    state.prepare_widget(W_ON, False)
    if not st.toggle("Search (assistive)", key=W_ON,
                     help="Let a sampler try more settings of the chosen methods (capacity, training and "
                          "eta) for more of the frontier. It proposes candidates; you choose."):
        return
    st.caption("Optuna's multi-objective sampler tries each method's capacity, training settings and eta, "
               "maximising validation accuracy and minimising the validation gap of the definition above. "
               "Its trials join the frontier on Trade-offs, marked as search points, with the budget and "
               "objective. Tuning overfits the validation rows, so each candidate on the searched front is "
               "retrained on other splits: one that moves more than its 95% interval is marked unstable. "
               "The search never selects or exports a model. Searches of the same table with the same "
               "settings share one study, whoever runs them: run again, a search resumes, and trials "
               "another browser's search made there are reused and shown too.")
    searchable = [m for m in methods if METHODS[m].sweeps_eta]
    if not searchable:
        st.info("Choose a method with a fairness strength (eta) above to search it.", icon=":material/info:")
        return
    state.prepare_widget(W_METHODS, searchable, searchable, multi=True)
    chosen = st.multiselect("Methods to search", searchable, key=W_METHODS, format_func=method_label)
    c1, c2, c3 = st.columns(3)
    state.prepare_widget(W_TRIALS, DEFAULT_TRIALS)
    state.prepare_widget(W_MINUTES, 0.0)
    state.prepare_widget(W_RESPLITS, DEFAULT_RESPLITS)
    n_trials = c1.number_input("Trials", min_value=2, max_value=1000, step=10, key=W_TRIALS,
                               help="Finished trials the search should hold; a search run again resumes.")
    minutes = c2.number_input("Time budget (minutes, 0: none)", min_value=0.0, max_value=600.0, step=5.0,
                              key=W_MINUTES, help="No new trial starts after this.")
    resplits = c3.number_input("Re-splits per candidate", min_value=0, max_value=10, key=W_RESPLITS,
                               help="Other splits each candidate on the searched front is retrained on.")
    if not chosen:
        return
    from . import results as ur  # the Train page's test-mode parameters, as its sweep uses them

    settings = SearchSettings(methods=tuple(chosen), fairness=fairness, n_trials=int(n_trials),
                              minutes=float(minutes), resplits=int(resplits),
                              params=ur.training_params(chosen), n_workers=int(n_jobs))
    job = session_search()
    running = job is not None and job.status == "running"
    if st.button("Run search", icon=":material/travel_explore:", key="train.search.start", disabled=running):
        _start(split, cur, settings)
        job, running = session_search(), True
    info = st.session_state.get(SEARCH_INFO) or {}
    if job is not None and info.get("split") != split_identity(split):
        # The session's search is of other data (or rows): its progress and trials are not this
        # data's (search audit, session 51: German's "9 / 30 trials" and front under COMPAS).
        what = "is running" if running else f"ended ({job.status})"
        st.info(f"Your latest search, on {md(str(info.get('dataset', 'other data')))}, {what}. Its trials belong to "
                "that data and split: choose them again on the Data and Train pages to see them"
                + (", or wait for it to end to search this data." if running else "."), icon=":material/info:")
        if running:
            _progress(st.session_state[SEARCH_KEY])
        return
    if running:
        _progress(st.session_state[SEARCH_KEY])
        return
    if job is None:
        return
    if job.status == "failed":
        st.error(f"The search failed: {md(job.error)}", icon=":material/error:")
    elif job.status == "cancelled":
        try:
            kept = load_search(job.settings.study(split), default_storage(result_store()), result_store())
        except SearchError as exc:  # what was kept cannot be read back: said, the page goes on
            st.warning(f"The search's stored trials cannot be read: {md(str(exc))}", icon=":material/warning:")
            kept = None
        n = 0 if kept is None else kept.complete
        st.warning(f"The search was cancelled; {n} trial{'s are' if n != 1 else ' is'} stored. "
                   + (_where_trials_go(split, job.settings.fairness) + " " if n else "")
                   + "Run it again to resume.", icon=":material/stop_circle:")
        if kept is not None and len(kept.front):
            # What the cancel kept, as a finished search shows it (search audit, session 51).
            _front(split, kept, job.settings.fairness)
        return
    res = job.result
    if job.status != "done" or res is None:
        return
    ended = "its trial budget" if res.stopped == "budget" else "its time budget"
    if not res.complete:
        # A time budget shorter than opening the study: nothing ran, which is not a success
        # ("0 trials ... They are on the Trade-offs chart": state audit, session 44).
        st.warning(f"The search stopped at {ended} before any trial finished: nothing was added to the frontier. "
                   "Give it a longer time budget (0 minutes: none), or more trials.", icon=":material/timer_off:")
        return
    st.success(f"The search stopped at {ended}: {res.complete} trials, {len(res.front)} on the front of the "
               f"search's own trials (objective: {md(res.objective)}). {_where_trials_go(split, job.settings.fairness)}",
               icon=":material/check_circle:")
    if res.stopped != "budget":
        st.caption("Press **Run search** again to go on: it resumes the study for another time budget.")
    if res.complete > job.settings.n_trials:
        # A shared study keeps the largest budget any of its searches asked (search audit, session 48:
        # a user who asked 4 trials trained none and was shown 16, without a word).
        st.caption(f"The study holds {res.complete} trials, more than the {job.settings.n_trials} asked for here: "
                   "searches of this table with these settings share it (earlier ones, or another browser's with a "
                   "larger budget), and all its trials are shown.")
    if len(res.front):
        _front(split, res, job.settings.fairness)


def _front(split, res, fairness: str) -> None:
    """The front of a search's own trials (finished or what a cancel kept), with whether a run of
    the sweep they join beats each, their spread over the re-splits, and the unstable ones."""
    beaten = beaten_by_sweep(joined_sweep(split, fairness), res.front, res.unfairness, res.performance)
    table = front_table(res.front, res.unfairness, res.performance, beaten)
    st.dataframe(table, hide_index=True, width="stretch")
    k = pd.to_numeric(res.front.get("resplit_n"), errors="coerce").max() if "resplit_n" in res.front else None
    about = ("This front is drawn over the search's own trials only, not over your sweep's runs. "
             + ("No sweep of this session on the same rows and definition to compare it with. " if beaten is None else
                f"{int(beaten.sum())} of {len(beaten)} candidates are beaten on validation by a run of "
                "your sweep (better on both axes, or as good on one and better on the other). ")
             + (f"Ranges over all splits: over {splits_text(int(k))}." if k is not None and pd.notna(k) else ""))
    st.caption(about)
    n_unstable = int((table["Stable"] == "no").sum())
    if n_unstable:
        st.warning(f"{n_unstable} of {len(table)} candidates moved more than their 95% interval when "
                   "retrained on other splits: their place on the front owes much to this split's "
                   "validation rows.", icon=":material/warning:")
