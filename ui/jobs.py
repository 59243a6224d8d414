"""Background sweep jobs for the dashboard.

A sweep never runs in the page script: the Train page starts a :class:`SweepJob` (a thread that
calls :func:`fairkit.sweep.run_sweep`, which may fan out to joblib workers) and a fragment polls
its progress. Jobs live in a registry held by ``st.cache_resource``, so a browser reload or a
second tab finds the running job again; finished runs are in the on-disk store, so a server
restart finds the results again (the same settings come back from the store at once).

A job belongs to whoever started it (:func:`session_owner`): the signed-in person in any of their
tabs, else the browser (every tab of it, and after a reload: :func:`browser_token`), else the one
browser session. Another session asking for the same data and settings watches the same job and
may stop watching it, but only the owner can cancel it. Nothing in the page's address takes part:
a shared link never grants a cancel.
"""

from __future__ import annotations

import binascii
import errno
import hashlib
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from . import auth

from fairkit.audit import AuditLog, Identity, record_sweep
from fairkit.store import ResultStore, cache_key, default_home
from fairkit.sweep import DEFAULT_SPACING, Countdown, ReportingStore, SweepCancelled, estimate_seconds, run_sweep


#: OSErrors that are the server's state (its disk, its folders), not a bug: said in words.
_DISK_PROBLEMS = {errno.ENOSPC: "the server's disk is full", errno.EDQUOT: "the server's disk quota is used up",
                  errno.EROFS: "fairkit's folder on the server is read-only",
                  errno.EACCES: "fairkit may not write its folder on the server",
                  errno.EPERM: "fairkit may not write its folder on the server",
                  errno.ENOTDIR: "fairkit's home on the server (FAIRKIT_HOME) is a file, not a folder",
                  errno.EIO: "the server's disk failed a read or write"}


def failure_text(exc: BaseException) -> str:
    """What a background job's failure says on the page: a disk or folder problem in words, with
    what to do and no server path; anything else by its type and message."""
    problem = _DISK_PROBLEMS.get(getattr(exc, "errno", None)) if isinstance(exc, OSError) else None
    if problem:
        return (f"{problem} ({exc.strerror or type(exc).__name__}). The runs it finished are kept in the "
                "store; ask whoever runs the dashboard to free space or fix the folder, then run it again.")
    if isinstance(exc, MemoryError):
        # A raw "MemoryError: Unable to allocate 2.51 GiB ..." said nothing to do (scale audit, session 46).
        return (f"the server ran out of memory ({exc or 'MemoryError'}). The runs it finished are kept in the store. "
                "Train on a sample of the rows (the Data page offers one), fewer methods or etas, or merge the "
                "groups of a sensitive attribute with many; or ask whoever runs the dashboard for more memory.")
    return f"{type(exc).__name__}: {exc}"


@dataclass
class SweepSettings:
    """What the Train page asks for; hashable into a job key."""

    methods: tuple
    etas: tuple
    seeds: tuple
    fairness: str = "demographic_parity"
    n_jobs: int = 1
    params: tuple = ()
    adaptive: bool = False  # refine each method's grid (run_sweep's adaptive placement)
    spacing: float = DEFAULT_SPACING
    budget: int | None = None
    tolerance: float | tuple | None = None  # also bracket these validation gaps (run_sweep's tolerance)
    # Share of the validation rows reserved for the post-processors' thresholds (ui.results.sweep_split).
    threshold_rows: float | None = None

    def etas_dict(self) -> dict:
        """``etas`` is a tuple of (method, tuple of etas) pairs; empty means registry defaults."""
        return {m: list(g) for m, g in self.etas} or None

    def sweep_options(self) -> dict:
        """The keyword arguments of :func:`fairkit.sweep.run_sweep` these settings fix."""
        return dict(fairness=self.fairness, params={k: dict(v) for k, v in self.params}, n_jobs=self.n_jobs,
                    adaptive=self.adaptive, spacing=self.spacing, budget=self.budget, tolerance=self.tolerance)

    def key(self, split) -> str:
        # Placement settings only enter the key when used, so a plain grid keeps its old key.
        placement = ({"adaptive": self.adaptive, "spacing": self.spacing, "budget": self.budget}
                     if self.adaptive else {})
        if self.tolerance is not None:
            placement["tolerance"] = self.tolerance
        if self.threshold_rows is not None:
            placement["threshold_rows"] = self.threshold_rows
        return cache_key(data=split.data_hash, spec=split.spec.to_dict(), split_seed=split.seed,
                         methods=list(self.methods), etas=self.etas_dict(), seeds=list(self.seeds),
                         fairness=self.fairness, params=dict(self.params), **placement)


@dataclass
class SweepJob:
    """One sweep running in a background thread.

    Attributes
    ----------
    status : {"running", "done", "failed", "cancelled"}
    done, total : int
        Runs finished (stored runs count at once) and runs in the sweep.
    """

    key: str
    settings: SweepSettings
    split: object = field(repr=False)
    store: ResultStore = field(repr=False)
    status: str = "running"
    done: int = 0
    total: int = 0
    error: str | None = None
    result: object = field(default=None, repr=False)
    actor: Identity | None = field(default=None, repr=False)  # who started it (audit log)
    owner: str = field(default="", repr=False)  # who may cancel it (session_owner())
    run_keys: list = field(default_factory=list, repr=False)  # runs read or stored so far, in order
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    _first_fresh: tuple | None = field(default=None, repr=False)
    _countdown: Countdown | None = field(default=None, repr=False)  # seconds_left's clock
    _estimate: dict | None = field(default=None, repr=False)  # estimate_seconds of the settings, once
    # The grid's runs: the first total the sweep reports (its refinement rounds raise it later).
    grid_total: int | None = field(default=None, repr=False)

    def start(self) -> "SweepJob":
        threading.Thread(target=self._run, name=f"fairkit-sweep-{self.key}", daemon=True).start()
        return self

    def _progress(self, done: int, total: int) -> None:
        if self._first_fresh is None:
            # Runs already in the store arrive together at the start; time left is estimated
            # from the runs trained after that.
            self._first_fresh = (done, time.time())
            self.grid_total = total
        self.done, self.total = done, total

    def _run(self) -> None:
        try:
            self._execute()
            self.status = "done"
        except SweepCancelled:
            self.status = "cancelled"
            try:
                self._log_cancelled()
            except Exception:  # the runs stay shown; the server log says why the entry is missing
                traceback.print_exc()
        except Exception as exc:  # shown on the page; the traceback goes to the server log
            self.error = failure_text(exc)
            traceback.print_exc()
            self.status = "failed"
        finally:
            self._release()

    def _release(self) -> None:
        """Let go of the user's table once the job has ended. The registry keeps every job it
        started (a finished one answers the same settings again), and each held its split: six
        users' 60,000-row sweeps kept 0.7 GB until a restart, outside every budget (multi-user
        audit, session 47). What a finished job is read for stays: its status, counts, error
        and run keys; its result goes too (the pages read the runs from the store, and the
        result's store held the split)."""
        self.split = self.result = None

    def _execute(self) -> None:
        """The job's work (a subclass runs another kind: ``ui.search.SearchJob``)."""
        s = self.settings
        # Each run's intervals are computed as it is stored (ReportingStore), so the
        # Trade-offs slider reads them instead of bootstrapping on every move.
        self.result = run_sweep(
            self.split, list(s.methods), s.etas_dict(), list(s.seeds), **s.sweep_options(),
            store=_JobStore(self.store, self.split, self.run_keys), progress=self._progress,
            should_stop=self._cancel.is_set, keep_models=False,
        )
        results = self.result.results
        self._log(results, cached=int(results["cached"].sum()))

    def _log(self, results, *, cached: int, cancelled: bool = False) -> None:
        """The audit entry of this sweep's ``results`` (finished, or those a cancel left)."""
        s = self.settings
        record_sweep(AuditLog(), actor=self.actor or auth.actor(), dataset=self.split.spec.name,
                     data_hash=self.split.data_hash, methods=list(s.methods), etas=results["eta"].tolist(),
                     seeds=list(s.seeds), fairness=s.fairness, runs=len(results), cached=cached,
                     cancelled=cancelled)

    def _log_cancelled(self) -> None:
        """Log the runs a cancelled sweep finished: the pages show them, and one can be exported,
        so the log holds what trained it (a finished sweep is logged by :meth:`_execute`)."""
        keys = self.finished_keys()
        if keys:
            results = self.store.records(keys)
            # the runs found stored arrive together, as the first report
            self._log(results, cached=min(self._first_fresh[0] if self._first_fresh else 0, len(results)),
                      cancelled=True)

    @property
    def starting(self) -> bool:
        """Running, but no progress yet (the runs are being planned and looked up in the store)."""
        return self.status == "running" and self._first_fresh is None

    @property
    def cancelling(self) -> bool:
        """Cancel was asked; the run in progress is finishing."""
        return self._cancel.is_set()

    def finished_keys(self) -> list[str]:
        """Run keys this sweep has in the store so far (stored runs it found, then those it
        trained): after a cancel, the runs it finished."""
        return list(dict.fromkeys(self.run_keys))

    def can_cancel(self, owner: str) -> bool:
        """Whether ``owner`` (a :func:`session_owner`) started this job and it is still running."""
        return bool(owner) and owner == self.owner and self.status == "running"

    def cancel(self, owner: str) -> bool:
        """Ask the sweep to stop after the run in progress (finished runs stay stored).

        Only the owner may: another session watching the same job is refused (returns False).
        """
        if not self.can_cancel(owner):
            return False
        self._cancel.set()
        return True

    def reusable(self) -> bool:
        """Whether this finished job is what starting the same settings again asks for (a sweep:
        always; see ``ui.search.SearchJob``)."""
        return True

    def seconds_left(self) -> float | None:
        """Seconds left, counting down between runs (None before the sweep starts or once it ends).

        Starts from the engine's estimate of these settings (:func:`fairkit.sweep.estimate_seconds`)
        and is re-anchored whenever runs finish or a refinement round adds some
        (:class:`fairkit.sweep.Countdown`).
        """
        if self._first_fresh is None or self.status != "running":
            return None
        if self._countdown is None:
            self._countdown = Countdown(self.estimate(), done=self._first_fresh[0], started=self._first_fresh[1])
        self._countdown.update(self.done, self.total)
        return self._countdown.left()

    def estimate(self) -> dict:
        """:func:`fairkit.sweep.estimate_seconds` of the job's settings (computed once)."""
        if self._estimate is None:
            s = self.settings
            self._estimate = estimate_seconds(self.split, list(s.methods), s.etas_dict(), list(s.seeds),
                                              store=self.store, reporting=True, **s.sweep_options())
        return self._estimate

    def progress_text(self, sep: str = " / ") -> str:
        """The runs done (``done<sep>total``), said so that a total the refinement will raise is
        not read as final.

        The sweep reports the grid's runs first; adaptive placement (or bracketing tolerances)
        then adds rounds, each raising the total (:func:`fairkit.sweep.run_sweep`'s progress).
        While they may still come, the text says how many at most (the estimate's
        ``refine_runs``) and how many were placed so far.
        """
        s = self.settings
        refines = bool(s.adaptive) or s.tolerance is not None
        if not refines or self.grid_total is None:
            return f"{self.done}{sep}{self.total} runs done"
        how = "adaptive placement" if s.adaptive else "bracketing the tolerances"
        placed = max(self.total - self.grid_total, 0)
        # A job that has ended adds nothing more (and has let go of the table its estimate reads).
        more = max(int(self.estimate().get("refine_runs", 0)) - placed, 0) if self.status == "running" else 0
        if not placed:
            return (f"{self.done}{sep}{self.total} grid runs done ({how} may then add up to {more} more)"
                    if more else f"{self.done}{sep}{self.total} runs done")
        return (f"{self.done}{sep}{self.total} runs done ({self.grid_total} from the grid, {placed} added by {how}"
                + (f", which may add up to {more} more)" if more else ")"))


class _JobStore(ReportingStore):
    """The sweep's store, noting each run the sweep finds in it or writes to it (in order).

    A cancelled sweep returns no table; these keys are its finished runs, which the pages show
    instead of nothing (``ui.results.shown_results``).
    """

    def __init__(self, store: ResultStore, split, keys: list):
        super().__init__(store, split)
        self._keys = keys

    def get(self, key: str) -> dict | None:
        record = super().get(key)
        if record is not None:
            self._keys.append(key)
        return record

    def put(self, key: str, record: dict, model=None) -> None:
        super().put(key, record, model)
        self._keys.append(key)


class JobRegistry:
    """Sweep jobs by key, shared by every session of this server process."""

    def __init__(self):
        self._jobs: dict[str, SweepJob] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> SweepJob | None:
        return self._jobs.get(key)

    def start(self, split, settings: SweepSettings, store: ResultStore, *, job_class=None, **fields) -> SweepJob:
        """Start a sweep, or return the one already running (or finished) with these settings.

        ``job_class`` (a :class:`SweepJob` subclass, with its extra ``fields``) runs another kind
        of job under the same rules: the assistive search (``ui.search.SearchJob``).
        """
        key = settings.key(split)
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and (job.status == "running" or (job.status == "done" and job.reusable())):
                return job
            # The page's session is known here, not in the job's thread.
            job = (job_class or SweepJob)(key=key, settings=settings, split=split, store=store, actor=auth.actor(),
                                          owner=session_owner(), **fields)
            self._jobs[key] = job
        return job.start()


#: Session key of this browser session's job-owner token (when nobody is signed in).
OWNER_KEY = "fk.job_owner"


#: The cookie Streamlit's XSRF protection gives every browser (server.enableXsrfProtection).
XSRF_COOKIE = "_streamlit_xsrf"


def browser_token() -> str | None:
    """A secret that identifies this browser to the server, or None when there is none.

    Streamlit's XSRF cookie holds a random token per browser, kept across reloads and shared by
    its tabs until the browser closes; the server checks it against every connection, and no
    other browser can know it. Its value is ``2|mask|masked token|timestamp`` (the version 2
    format of Tornado and Streamlit), re-masked on every page load, so the token is unmasked
    before it is hashed. Without XSRF protection (or in ``AppTest``) there is no cookie.
    """
    try:
        raw = st.context.cookies.get(XSRF_COOKIE)
    except Exception:  # no browser connection behind this run
        return None
    parts = str(raw or "").strip("\"'").split("|")
    if len(parts) != 4 or parts[0] != "2":
        return None
    try:
        mask, masked = binascii.a2b_hex(parts[1]), binascii.a2b_hex(parts[2])
    except (binascii.Error, ValueError):
        return None
    if not mask or not masked:
        return None
    token = bytes(b ^ mask[i % len(mask)] for i, b in enumerate(masked))
    return hashlib.sha256(b"fairkit-browser\n" + token).hexdigest()[:32]


def session_owner() -> str:
    """Who the current session starts jobs as, and may cancel them as.

    The signed-in person (issuer and subject, the same in every tab and after a reload), else
    the browser (:func:`browser_token`: its tabs, and a reload of them), else a random token of
    this browser session: then a reload is a new session and can only watch a sweep it started
    before.
    """
    who = auth.identity()
    if who is not None and who.subject:
        return f"oidc:{who.issuer}:{who.subject}"
    browser = browser_token()
    if browser is not None:
        return f"browser:{browser}"
    return st.session_state.setdefault(OWNER_KEY, f"session:{uuid.uuid4().hex}")


def registry() -> JobRegistry:
    """The server's job registry (survives reruns and browser reloads)."""
    return _registry_at(str(default_home()))


def result_store() -> ResultStore:
    """The server's result store (on disk: survives restarts)."""
    return _store_at(str(default_home()))


# Keyed by the fairkit home, so a change of $FAIRKIT_HOME (tests run several apps in one process)
# never serves jobs or runs of another home.
@st.cache_resource
def _registry_at(home: str) -> JobRegistry:
    return JobRegistry()


@st.cache_resource
def _store_at(home: str) -> ResultStore:
    return ResultStore(Path(home) / "store")
