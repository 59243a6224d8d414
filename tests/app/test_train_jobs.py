"""Background sweeps across sessions: only the owner cancels a shared sweep (issue 18); a reload finds
the running sweep with its data and settings, and a cancelled sweep keeps its finished runs (issue 20)."""

from __future__ import annotations

import threading
import time

import pytest

from streamlit.testing.v1 import AppTest

from fairkit.sweep import SweepCancelled
from ui import jobs
from ui import results as ur
from ui import state

from .conftest import TIMEOUT, new_session, run_tiny_sweep, texts


@pytest.fixture
def slow_sweep(fast_env, monkeypatch):
    """Sweeps that run until cancelled (or the test ends): a job stays 'running' meanwhile.

    The store is this test's own and empty: with runs stored by other tests, the Train page would
    show them instead of following the job.
    """
    (fast_env / "store").unlink()
    (fast_env / "store").mkdir()
    done = threading.Event()

    def run_sweep(split, *args, progress=None, should_stop=None, **kwargs):
        progress(1, 3)
        while not should_stop() and not done.wait(0.05):
            pass
        raise SweepCancelled("stopped")

    monkeypatch.setattr(jobs, "run_sweep", run_sweep)
    yield
    done.set()


def _start(at):
    at.selectbox(key=state.W_BUNDLED).set_value("german").run()
    at.switch_page("views/train.py").run()
    at.multiselect(key="w.train.methods").set_value(["regularized"]).run()
    at.slider(key="w.train.n_etas").set_value(3).run()
    at.button(key="train.start").click().run()
    assert not at.exception, at.exception
    return at


def _buttons(at) -> list:
    return [b.key for b in at.button]


def _wait(job, status, timeout=30.0):
    deadline = time.monotonic() + timeout
    while job.status != status and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job.status == status


def test_only_the_starting_session_cancels_a_shared_sweep(fast_env, slow_sweep):
    owner = _start(new_session())
    key = owner.session_state[ur.SWEEP_KEY]
    job = jobs.registry().get(key)
    assert job.status == "running" and "train.cancel" in _buttons(owner)

    # A second browser asks for the same data and settings: it watches the same job ...
    watcher = _start(new_session())
    assert watcher.session_state[ur.SWEEP_KEY] == key and jobs.registry().get(key) is job
    assert "train.cancel" not in _buttons(watcher) and "train.detach" in _buttons(watcher)
    assert any("only it can cancel" in c.value for c in watcher.caption)
    # ... and cannot cancel it, even by calling the job directly.
    assert not job.cancel(watcher.session_state[jobs.OWNER_KEY])
    time.sleep(0.2)
    assert job.status == "running"

    # Stop watching: the session lets go of the job, which runs on for its owner.
    watcher.button(key="train.detach").click().run()
    assert not watcher.exception, watcher.exception
    assert ur.SWEEP_KEY not in watcher.session_state and job.status == "running"
    assert "train.detach" not in _buttons(watcher)

    owner.button(key="train.cancel").click().run()
    _wait(job, "cancelled")


@pytest.fixture
def browser(monkeypatch):
    """Sessions present browser "one"'s XSRF cookie (AppTest sends no cookies); set
    ``browser["token"]`` to be another browser."""
    seen = {"token": "one"}
    monkeypatch.setattr(jobs, "browser_token", lambda: seen["token"])
    return seen


def _reload(page: str = "views/train.py") -> AppTest:
    """A browser reload on ``page``: a new session whose first run draws that page."""
    at = AppTest.from_file("../../app.py", default_timeout=TIMEOUT)
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def test_a_reload_finds_the_running_sweep_with_its_data_and_settings(fast_env, slow_sweep, browser):
    first = _start(new_session())
    job = jobs.registry().get(first.session_state[ur.SWEEP_KEY])

    again = _reload()
    assert again.session_state[state.DATA_NAME] == "german"
    assert again.multiselect(key="w.train.methods").value == ["regularized"]
    assert again.slider(key="w.train.n_etas").value == 3
    banner = [i for i in texts(again.info) if i.startswith("A sweep for this data is running")]
    # The page's default adaptive placement will add runs to these 3: the banner says so.
    assert banner == ["A sweep for this data is running: 1 / 3 grid runs done (adaptive placement may then add "
                      f"up to {job.estimate()['refine_runs']} more). It was started before this page was reloaded."]
    assert again.button(key="train.start").disabled
    # The same browser owns it: the reloaded page can cancel it.
    assert "train.cancel" in _buttons(again)

    # Another browser gets nothing of it: no data, no sweep, no cancel.
    browser["token"] = "two"
    other = _reload()
    assert any("Data page first" in i for i in texts(other.info))
    assert not job.can_cancel("browser:two") and job.can_cancel("browser:one")

    browser["token"] = "one"
    again.button(key="train.cancel").click().run()
    _wait(job, "cancelled")


def test_a_reload_keeps_the_uploaded_file(fast_env, browser):
    at = new_session()
    at.radio(key=state.W_SOURCE).set_value("Upload CSV/Parquet").run()
    # AppTest cannot drive a file uploader: the upload is put where the uploader keeps it.
    data = b"sex,income,approved\n" + b"".join(b"%s,%d,%s\n" % (s, i, y) for i, (s, y) in enumerate(
        [(b"F", b"yes"), (b"M", b"no")] * 60))
    at.session_state[state.UPLOAD] = {"name": "loans.csv", "sha": "0" * 64, "data": data}
    at.run()
    assert at.session_state[state.DATA_NAME] == "loans"

    again = _reload("views/data.py")
    assert again.session_state[state.UPLOAD]["data"] == data
    assert again.session_state[state.DATA_NAME] == "loans"
    assert any(c.startswith("Using the file uploaded earlier: loans.csv") for c in texts(again.caption))


def test_an_upload_over_the_memory_budget_is_asked_for_again(fast_env, browser, monkeypatch):
    from ui import restore

    monkeypatch.setattr(restore, "RECORD_BYTES", 4_000)  # this test's home gets a small record budget
    at = new_session()
    at.radio(key=state.W_SOURCE).set_value("Upload CSV/Parquet").run()
    data = b"sex,income,approved\n" + b"F,1,yes\nM,2,no\n" * 500
    at.session_state[state.UPLOAD] = {"name": "loans.csv", "sha": "1" * 64, "data": data}
    at.run()
    assert at.session_state[state.DATA_NAME] == "loans"

    again = _reload("views/data.py")
    # The choices come back (the Upload source), the file does not: the page asks for it.
    assert again.radio(key=state.W_SOURCE).value == "Upload CSV/Parquet"
    assert state.UPLOAD not in again.session_state and state.DATA_NAME not in again.session_state
    assert any(i.startswith("Upload a table") for i in texts(again.info))


def _cancel_sweeps_of(monkeypatch, methods_to_cancel, after: int):
    """Sweeps of ``methods_to_cancel`` are cancelled once ``after`` progress reports followed the
    first (0: before any run trains; 1: after the first task); other sweeps run as usual."""
    real = jobs.run_sweep

    def run_sweep(split, methods, *args, should_stop=None, progress=None, **kwargs):
        if list(methods) != list(methods_to_cancel):
            return real(split, methods, *args, should_stop=should_stop, progress=progress, **kwargs)
        seen = []

        def forward(done, total):
            seen.append(done)
            progress(done, total)

        return real(split, methods, *args, should_stop=lambda: len(seen) > after, progress=forward, **kwargs)

    monkeypatch.setattr(jobs, "run_sweep", run_sweep)


def _sweep(at, methods):
    """German, ``methods`` with 3 etas each (the grid only); the finished (or stopped) job."""
    run_tiny_sweep(at.switch_page("views/data.py").run(), methods, n_etas=3)
    return jobs.registry().get(at.session_state[ur.SWEEP_KEY])


def test_trade_offs_show_the_finished_runs_of_a_cancelled_sweep(own_store, monkeypatch):
    # The regularized network's etas train together (one task), then the unconstrained network.
    _cancel_sweeps_of(monkeypatch, ["regularized", "unconstrained"], after=1)
    at = new_session()
    job = _sweep(at, ["regularized", "unconstrained"])
    assert job.status == "cancelled" and 0 < len(job.finished_keys()) < job.total

    at.switch_page("views/tradeoffs.py").run()
    assert not at.exception, at.exception
    n = len(job.finished_keys())
    assert any(i.startswith(f"The latest sweep was cancelled after {job.done} of {job.total} runs: these "
                            f"are the {n} runs it finished.") for i in texts(at.info))
    assert not any("Run a sweep on the Train page first" in i for i in texts(at.info))
    assert at.selectbox(key="w.tradeoffs.method").options == ["Fairness-regularized network"]
    # Those runs can be exported: the log holds the sweep that trained them, said to be cancelled
    # (a cancelled sweep was not logged at all).
    from fairkit.audit import AuditLog

    (entry,) = AuditLog(own_store / "audit.sqlite").entries(kind="sweep").itertuples()
    assert entry.details["stopped"] == "cancelled" and entry.details["runs"] == n
    assert entry.details["methods"] == ["regularized", "unconstrained"]


def test_trade_offs_fall_back_to_the_latest_complete_sweep(own_store, monkeypatch):
    """A sweep cancelled before any run finished: the session's latest complete sweep on this data."""
    _cancel_sweeps_of(monkeypatch, ["regularized"], after=0)
    at = new_session()
    complete = _sweep(at, ["unconstrained"])
    assert complete.status == "done"
    cancelled = _sweep(at, ["regularized"])
    assert cancelled.status == "cancelled" and not cancelled.finished_keys()

    at.switch_page("views/tradeoffs.py").run()
    assert not at.exception, at.exception
    assert ("Your latest sweep on this data was cancelled before any run finished: these are the 1 runs "
            "of your latest complete sweep on it.") in texts(at.info)


def test_a_grid_sweep_read_back_from_the_store_notes_its_constant_models(fast_env, tiny_split):
    # What the pages show of a grid sweep (and of a cancelled sweep's finished runs) is read back
    # from the store, whose records hold neither the constant flag nor its note in ``warnings``.
    from fairkit.sweep import run_sweep

    params = {"regularized": {"max_epochs": 15, "hidden_layer_sizes": (), "batch_size": 64, "lr": 0.05}}
    swept = run_sweep(tiny_split, ["regularized"], [0.0, 30.0], params=params, store=jobs.result_store()).results
    assert swept["constant"].tolist() == [False, True]  # eta 30 selects every validation row
    back = ur._records(tuple(swept["run_id"])).set_index("run_id").loc[swept["run_id"]]
    assert back["constant"].tolist() == [False, True]
    assert back["warnings"].tolist() == swept["warnings"].tolist()
    assert "constant" in back["warnings"].iloc[1]


def test_a_session_without_a_browser_identity_keeps_no_record(fast_env):
    # AppTest sends no XSRF cookie: each session is its own owner, and no reload can find it again,
    # so its data (held by reference in the record) is not kept for one.
    from ui import restore

    at = new_session()
    assert at.session_state[state.DATA_NAME]  # the Data page chose its default dataset
    owner = at.session_state[jobs.OWNER_KEY]
    assert restore._records().get(owner) is None


def test_the_progress_counts_the_runs_placement_adds(fast_env):
    """The sweep reports the grid's runs first and raises the total with each placement round
    (fairkit.sweep's progress): the text says the grid's total is not the last word, and later
    counts what was trained, grid and placed."""
    from ui.jobs import SweepJob, SweepSettings

    settings = SweepSettings(methods=("regularized",), etas=(), seeds=(0,), adaptive=True)
    job = SweepJob(key="k", settings=settings, split=None, store=None)
    job._estimate = {"refine_runs": 36}  # estimate_seconds' most the placement adds
    job._progress(6, 13)
    assert job.progress_text() == "6 / 13 grid runs done (adaptive placement may then add up to 36 more)"
    job._progress(13, 13)
    job._progress(15, 21)  # a placement round of 8 runs
    assert job.progress_text() == ("15 / 21 runs done (13 from the grid, 8 added by adaptive placement, "
                                   "which may add up to 28 more)")
    assert job.progress_text("/").startswith("15/21 runs done")
    job._progress(25, 25)
    assert job.progress_text().startswith("25 / 25 runs done (13 from the grid, 12 added by adaptive placement")
    plain = SweepJob(key="p", settings=SweepSettings(methods=("regularized",), etas=(), seeds=(0,)),
                     split=None, store=None)
    plain._progress(6, 13)
    assert plain.progress_text() == "6 / 13 runs done"
    bracket = SweepJob(key="t", settings=SweepSettings(methods=("regularized",), etas=(), seeds=(0,), tolerance=0.05),
                       split=None, store=None)
    bracket._estimate = {"refine_runs": 0}
    bracket._progress(6, 13)
    assert bracket.progress_text() == "6 / 13 runs done"
    # Review of session 47: a job that has ended let go of its table, which the estimate reads;
    # the page's progress block, which asks before it looks at the status, raised every second.
    ended = SweepJob(key="e", settings=settings, split=None, store=None, status="failed")
    ended._progress(6, 13)
    assert ended.progress_text() == "6 / 13 runs done"


def test_a_job_that_fails_on_the_servers_disk_says_so_in_words_without_its_paths():
    """Interruption audit, finding 9: "OSError: [Errno 30] Read-only file system: '/srv/.../x.tmp'"
    becomes what happened and what to do, without the server's paths."""
    import errno

    from ui.jobs import failure_text

    text = failure_text(OSError(errno.EROFS, "Read-only file system", "/srv/fairkit/store/runs/.x.tmp"))
    assert text.startswith("fairkit's folder on the server is read-only (Read-only file system)")
    assert "/srv" not in text and "kept in the store" in text
    full = failure_text(OSError(errno.ENOSPC, "No space left on device", "/srv/a"))
    assert "disk is full" in full and "/srv" not in full
    assert failure_text(ValueError("bad eta")) == "ValueError: bad eta"
    # Scale audit, session 46: a raw "MemoryError: Unable to allocate 2.51 GiB ..." said nothing to do.
    oom = failure_text(MemoryError("Unable to allocate 2.51 GiB for an array"))
    assert oom.startswith("the server ran out of memory (Unable to allocate 2.51 GiB") and "sample" in oom


def test_a_reload_brings_back_the_search_and_the_export_review_opens_on(own_store, browser):
    """State audit, session 44: a reload kept the sweep but not the assistive search (its trials
    left the frontier: "46 runs ready" became 43) nor the session's last export (Review opened on
    an older decision, the one viewed before)."""
    from ui import review as rv
    from ui import tradeoffs as ut

    from .conftest import export_selected
    from .test_search_page import _runs_ready, swept_and_searched

    at = swept_and_searched()
    with_trials = _runs_ready(at)
    at.switch_page("views/tradeoffs.py").run()
    at.selectbox(key=ut.W_METHOD).set_value("regularized").run()
    export_selected(at, own_store, "first")
    at.switch_page("views/review.py").run()
    first = at.selectbox(key=rv.W_EXPORT).value
    at.switch_page("views/tradeoffs.py").run()
    at.selectbox(key=ut.W_METHOD).set_value("unconstrained").run()
    at.switch_page("views/export.py").run()
    at.text_area(key="w.export.rationale").input("second").run()
    at.button(key="export.go").click().run()
    second = at.session_state["fk.export"]["entry"]
    assert second != first

    again = _reload("views/train.py")
    assert _runs_ready(again) == with_trials
    # Said as what it is: the browser's latest choices (another tab's, too, since tabs share them).
    assert any("the latest made in this browser" in t.value for t in again.toast)
    again = _reload("views/review.py")
    assert again.selectbox(key=rv.W_EXPORT).value == second


def test_a_finished_job_lets_go_of_the_users_table(own_store):
    """Multi-user audit, session 47 (F2): the registry keeps every job, and each kept its split
    (the user's table, preprocessed) until the server restarted: six users' 60,000-row sweeps
    held 0.7 GB outside every budget. A job that has ended lets go of it and keeps what it is
    read for."""
    import gc
    import weakref

    from fairkit.datasets import load_dataset
    from fairkit.split import split_dataset
    from fairkit.store import ResultStore
    from ui.jobs import SweepJob, SweepSettings

    split = split_dataset(*load_dataset("german"), seed=0)
    alive = weakref.ref(split)
    settings = SweepSettings(methods=("unconstrained",), etas=(), seeds=(0,),
                             params=(("unconstrained", (("max_epochs", 1),)),))
    job = SweepJob(key="k", settings=settings, split=split, store=ResultStore(own_store / "store"), actor="tester")
    del split
    job.start()
    deadline = time.time() + TIMEOUT
    while job.status == "running" and time.time() < deadline:
        time.sleep(0.1)
    assert job.status == "done", job.error
    assert job.split is None and job.done == job.total == 1 and len(job.finished_keys()) == 1
    gc.collect()
    assert alive() is None  # nothing else held the table


def test_the_shipped_settings_do_not_collect_garbage_after_every_script_run():
    """Multi-user audit, session 47 (F1): every page following a sweep reruns its progress each
    second, and Streamlit's default full collection after each run held the interpreter: four
    watchers took a sweep from 109 to 4 runs stored a minute (benchmarks/watchers.py measures
    it). The dashboard's settings turn that collection off."""
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(__file__).parents[2] / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False

