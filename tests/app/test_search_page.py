"""The Train page's Search option: a background search whose trials join the frontier, ringed."""

from __future__ import annotations

import re
import time

import pytest

from fairkit import plots
from ui import search as usearch

from .conftest import new_session, texts

N_TRIALS = 6


def _runs_ready(at) -> int:
    (line,) = [s for s in texts(at.success) if "runs ready" in s]
    return int(re.match(r"(\d+) runs ready", line).group(1))


def _wait_for_search(at, timeout: float = 180.0):
    deadline = time.monotonic() + timeout
    while not any("The search stopped" in s for s in texts(at.success)):
        assert not at.exception, at.exception
        assert not any("search failed" in e for e in texts(at.error)), texts(at.error)
        if time.monotonic() > deadline:
            pytest.fail(f"The search did not finish within {timeout:.0f} s")
        time.sleep(0.5)
        at.run()
    return at


def searching(trials: int = 2):
    """A new session: German, unconstrained and regularized at 2 etas, then a search of the
    regularized network for ``trials`` trials without re-splits, started (on the Train page)."""
    from .conftest import run_tiny_sweep

    at = run_tiny_sweep(new_session(), ["unconstrained", "regularized"], n_etas=2)
    at.toggle(key=usearch.W_ON).set_value(True).run()
    at.multiselect(key=usearch.W_METHODS).set_value(["regularized"]).run()
    at.number_input(key=usearch.W_TRIALS).set_value(trials).run()
    at.number_input(key=usearch.W_RESPLITS).set_value(0).run()
    at.button(key="train.search.start").click().run()
    return at


def swept_and_searched(trials: int = 2):
    """:func:`searching`, finished."""
    return _wait_for_search(searching(trials))


def test_search_option_adds_ringed_proposals_to_the_frontier(trained):
    at = trained
    swept = _runs_ready(at)
    at.toggle(key=usearch.W_ON).set_value(True).run()
    assert any("never selects or exports" in c for c in texts(at.caption))
    at.multiselect(key=usearch.W_METHODS).set_value(["regularized"]).run()
    at.number_input(key=usearch.W_TRIALS).set_value(N_TRIALS).run()
    at.number_input(key=usearch.W_RESPLITS).set_value(1).run()
    at.button(key="train.search.start").click().run()
    assert not at.exception, at.exception
    _wait_for_search(at)
    (done,) = [s for s in texts(at.success) if "The search stopped" in s]
    assert f"{N_TRIALS} trials" in done and "its trial budget" in done
    assert "on the front of the search's own trials" in done
    # The searched front, with the spread over one re-split and a stability verdict per candidate,
    # and whether a run of the session's sweep beats each candidate on validation (audit 2 finding 5).
    front = at.dataframe[0].value
    assert {"Trial", "Stable", "Gap over all splits", usearch.BEATEN_COLUMN} <= set(front.columns) and len(front)
    assert set(front["Stable"]) <= {"yes", "no"}
    assert set(front[usearch.BEATEN_COLUMN]) <= {"yes", "no"}
    (about,) = [c for c in texts(at.caption) if "search's own trials only" in c]
    n_beaten = int((front[usearch.BEATEN_COLUMN] == "yes").sum())
    assert f"{n_beaten} of {len(front)} candidates are beaten on validation" in about
    assert "over the original split and 1 re-split." in about
    # Its trials join the session's results, which every later page reads.
    assert _runs_ready(at) == swept + N_TRIALS
    # The audit log says it was a search, and what it trained (audit finding 4).
    from fairkit.audit import AuditLog

    entry = AuditLog().entries(kind="sweep").iloc[-1]["details"]
    assert entry["source"] == "search" and entry["runs"] == N_TRIALS
    search = entry["search"]
    assert search["budget"] == f"{N_TRIALS} trials" and search["study"]
    assert search["trained"] + search["from_store"] == N_TRIALS == search["trained"] + entry["cached"]
    assert search["resplit_runs"] == len(front)  # one re-split per candidate

    at.switch_page("views/tradeoffs.py").run()
    assert not at.exception, at.exception
    (caption,) = [c for c in texts(at.caption) if "assistive search" in c]
    assert f"{N_TRIALS} points" in caption and f"budget {N_TRIALS} trials" in caption
    assert "chose none of them" in caption
    chart = at.get("plotly_chart")[0].proto.spec
    assert plots.SEARCH_LEGEND in chart or plots.UNSTABLE_LEGEND in chart
    # A search point's panel names its own settings (search audit, session 51: it read as a
    # default run of its method and eta).
    from fairkit.search import load_search
    from ui import jobs, tradeoffs as ut

    info = at.session_state[usearch.SEARCH_INFO]
    trial = load_search(info["study"], info["storage"], jobs.result_store()).trials.iloc[0]
    at.selectbox(key=ut.W_METHOD).set_value(trial["method"]).run()
    at.select_slider(key=ut.W_ETA).set_value(float(trial["eta"])).run()
    assert not at.exception, at.exception
    (head,) = [m for m in texts(at.markdown) if f"Run `{trial['run_id']}`" in m]
    assert "proposed by the assistive search; its settings: " in head and "lr" in head
    # A trial database damaged since: the pages go on without the search's trials, and say why
    # (search audit, session 43: Train, Trade-offs and Export raised for the rest of the session).
    info = at.session_state[usearch.SEARCH_INFO]
    with open(info["storage"][len("sqlite:///"):], "r+b") as db:
        db.seek(100)
        db.write(b"\x13" * 4000)
    usearch._trials.clear()
    at.switch_page("views/export.py").run()
    assert not at.exception, at.exception
    assert any("The search's trials are left out" in w and "Move the file aside" in w for w in texts(at.warning))


def test_search_toggle_off_draws_nothing_of_the_search(trained):
    at = trained
    assert not at.toggle(key=usearch.W_ON).value
    assert not [b for b in at.button if b.key == "train.search.start"]
    at.switch_page("views/tradeoffs.py").run()
    assert not [c for c in texts(at.caption) if "assistive search" in c]


def test_the_search_names_each_method_as_every_page_does(trained):
    """One name per method (fairkit.plots.method_label): the Train page's methods, the methods
    to search and the searched front's table, the flag of a method that reads the attribute included."""
    import pandas as pd

    from fairkit.methods import METHODS

    at = trained
    assert at.multiselect(key="w.train.methods").options == [plots.method_label(m) for m in METHODS]
    at.toggle(key=usearch.W_ON).set_value(True).run()
    assert not at.exception, at.exception
    chosen = at.session_state["w.train.methods"]
    searchable = [m for m in chosen if METHODS[m].sweeps_eta]
    assert "threshold" in searchable and plots.method_label("threshold").endswith(plots.NEEDS_ATTRIBUTE)
    assert at.multiselect(key=usearch.W_METHODS).options == [plots.method_label(m) for m in searchable]
    front = pd.DataFrame({"search_trial": [0, 1], "method": ["threshold", "not-registered"], "eta": [0.1, 0.2],
                          "performance_val": [0.8, 0.7], "unfairness_val": [0.1, 0.05]})
    table = usearch.front_table(front, "demographic_parity_difference", "accuracy")
    assert list(table["Method"]) == [plots.method_label("threshold"), "not-registered"]
    assert usearch.BEATEN_COLUMN not in table  # no sweep to compare with: nothing said
    beaten = usearch.front_table(front, "demographic_parity_difference", "accuracy", [True, False])
    assert list(beaten[usearch.BEATEN_COLUMN]) == ["yes", "no"]


def test_the_search_bar_counts_against_the_budget_before_the_first_report():
    """Until the search's first report its job's total is 0: the bar read "0 / 0 trials done"
    (search audit); the budget asked for stands in for it."""
    settings = usearch.SearchSettings(methods=("regularized",), fairness="demographic_parity", n_trials=12)
    job = usearch.SearchJob(key="k", settings=settings, split=None, store=None)
    assert usearch.progress_text(job) == (0.0, "Search: 0 / 12 trials done")
    job.done, job.total = 3, 12
    assert usearch.progress_text(job) == (0.25, "Search: 3 / 12 trials done")
    # Search audit, session 48: another browser's larger budget on the shared study read "8 / 6".
    job.done, job.total = 8, 6
    assert usearch.progress_text(job) == (1.0, "Search: 6 / 6 trials done")


def test_a_search_whose_study_holds_more_trials_than_asked_says_whose_they_may_be(own_store):
    """Search audit, session 48: searches of the same table and settings share one study; a user
    who asked for fewer trials than another browser's search had made trained none and was shown
    them all, without a word."""
    swept_and_searched(trials=3)
    again = swept_and_searched(trials=2)  # another session, the same table and settings
    (said,) = [c for c in texts(again.caption) if "The study holds 3 trials, more than the 2 asked" in c]
    assert "another browser" in said


def test_a_cancelled_search_is_logged_with_the_trials_it_finished(own_store):
    """A cancelled search's finished trials join the frontier and can be exported: the log holds
    the search that trained them, said to be cancelled (it was not logged at all)."""
    from fairkit.audit import AuditLog
    from fairkit.datasets import load_dataset
    from fairkit.split import split_dataset
    from fairkit.store import ResultStore

    frame, spec = load_dataset("german")
    settings = usearch.SearchSettings(methods=("regularized",), fairness="demographic_parity", n_trials=6,
                                      resplits=0, params=(("regularized", (("max_steps", 30),)),))
    job = usearch.SearchJob(key="k", settings=settings, split=split_dataset(frame, spec, seed=0),
                            store=ResultStore(own_store / "store"), frame=frame)
    report = job._progress

    def progress(done, total):
        report(done, total)
        if done >= 2:  # reported as the third trial starts: it finishes, then the search stops
            job._cancel.set()

    job._progress = progress
    job._run()
    assert job.status == "cancelled" and job.done == 3
    (entry,) = AuditLog(own_store / "audit.sqlite").entries(kind="sweep").itertuples()
    assert entry.details["stopped"] == "cancelled" and entry.details["source"] == "search"
    assert entry.details["runs"] == 3 and entry.details["search"]["trials"] == 3
    assert entry.details["search"]["stopped"] == "cancelled"


def test_a_search_on_another_spec_of_the_same_table_does_not_join_the_sweep(own_store):
    """State audit, session 44: the search's trials joined any later sweep of the same table and
    split seed: with other sensitive attributes (other model inputs) Trade-offs scored an old trial
    on the new split and stopped ("X has 59 features, but ... is expecting 57"); with another
    positive label its old points sat on the new frontier, exportable."""
    from ui import state

    from .conftest import wait_for_sweep

    at = swept_and_searched()
    at.switch_page("views/tradeoffs.py").run()
    assert any("assistive search" in c for c in texts(at.caption))
    at.switch_page("views/data.py").run()
    at.multiselect(key=state.spec_widget_key("bundled:german", "sensitive")).set_value(["foreign_worker"]).run()
    at.switch_page("views/train.py").run()
    at.button(key="train.start").click().run()
    wait_for_sweep(at)
    at.switch_page("views/tradeoffs.py").run()
    assert not at.exception, at.exception
    assert not any("assistive search" in c for c in texts(at.caption))
    assert not any("stopped on an unexpected error" in e for e in texts(at.error))


def test_a_search_whose_time_budget_ends_before_any_trial_says_so(own_store):
    """State audit, session 44: with a time budget shorter than opening the study, the page said in
    green "0 trials ... They are on the Trade-offs chart"."""
    from .conftest import run_tiny_sweep

    at = run_tiny_sweep(new_session(), ["unconstrained", "regularized"], n_etas=2)
    at.toggle(key=usearch.W_ON).set_value(True).run()
    at.multiselect(key=usearch.W_METHODS).set_value(["regularized"]).run()
    at.number_input(key=usearch.W_MINUTES).set_value(0.0001).run()
    at.number_input(key=usearch.W_RESPLITS).set_value(0).run()
    at.button(key="train.search.start").click().run()
    deadline = time.monotonic() + 120
    while not any("The search stopped" in w for w in texts(at.warning) + texts(at.success)):
        assert not at.exception, at.exception
        assert time.monotonic() < deadline, "the search did not stop"
        time.sleep(0.5)
        at.run()
    assert not any("The search stopped" in s for s in texts(at.success))
    assert any("before any trial finished" in w and "longer time budget" in w for w in texts(at.warning))


def test_a_search_another_session_started_is_followed_and_said_to_be_theirs(own_store):
    """Search audit, session 48: a second browser asking for the same search (data, settings,
    budget) silently joined the first's job, with no cancel button and no word of whose it was
    (a sweep says so)."""
    first = searching(40)
    second = searching(40)
    try:
        assert any("Another session started this search" in c for c in texts(second.caption)), texts(second.caption)
        assert not [b for b in second.button if b.key == "train.search.cancel"]
        assert [b for b in first.button if b.key == "train.search.cancel"]
    finally:  # the first session cancels its search: the test leaves nothing running
        first.button(key="train.search.cancel").click().run()
        _wait_for_end(first)


def _wait_for_end(at, timeout: float = 180.0):
    deadline = time.monotonic() + timeout
    while not any("cancelled" in w for w in texts(at.warning)):
        assert time.monotonic() < deadline, "the search did not stop"
        time.sleep(0.5)
        at.run()


def test_a_search_without_a_sweep_says_where_its_trials_can_be_seen(own_store):
    """Search audit, session 51 (F1): a search run before any sweep said its trials were "on the
    Trade-offs chart", which read "Run a sweep first": the trials join a sweep's frontier, and the
    page says so until one exists, then says they are there."""
    from .conftest import set_up_tiny_sweep, wait_for_sweep

    at = set_up_tiny_sweep(new_session(), ["unconstrained", "regularized"], n_etas=2)  # not started
    at.toggle(key=usearch.W_ON).set_value(True).run()
    at.multiselect(key=usearch.W_METHODS).set_value(["regularized"]).run()
    at.number_input(key=usearch.W_TRIALS).set_value(2).run()
    at.number_input(key=usearch.W_RESPLITS).set_value(0).run()
    at.button(key="train.search.start").click().run()
    _wait_for_search(at)
    (done,) = [s for s in texts(at.success) if "The search stopped" in s]
    assert "They are on the Trade-offs chart" not in done and "run a sweep of this data" in done
    (about,) = [c for c in texts(at.caption) if "search's own trials only" in c]
    assert "No sweep of this session on the same rows and definition" in about
    at.switch_page("views/tradeoffs.py").run()
    assert any("Run a sweep" in i for i in texts(at.info) + texts(at.warning) + texts(at.markdown))
    at.switch_page("views/train.py").run()
    at.button(key="train.start").click().run()
    wait_for_sweep(at)
    (done,) = [s for s in texts(at.success) if "The search stopped" in s]
    assert "They are on the Trade-offs chart, marked as search points." in done


def test_a_search_of_other_data_is_not_shown_under_this_data(own_store):
    """Search audit, session 51 (F3): with German's search done and COMPAS chosen, COMPAS's Train
    page showed German's "The search stopped ... They are on the Trade-offs chart" and its front,
    naming neither."""
    from ui import state

    at = swept_and_searched()
    at.switch_page("views/data.py").run()
    at.selectbox(key=state.W_BUNDLED).set_value("compas").run()
    at.switch_page("views/train.py").run()
    assert not at.exception, at.exception
    at.toggle(key=usearch.W_ON).set_value(True).run()
    assert not [s for s in texts(at.success) if "The search stopped" in s]
    assert not [c for c in texts(at.caption) if "search's own trials only" in c]
    (said,) = [i for i in texts(at.info) if "Your latest search" in i]
    assert "on german" in said and "ended (done)" in said


def test_a_search_its_time_budget_stopped_resumes_when_started_again():
    """Search audit, session 51 (F2): a search its time budget stopped was a finished job of the
    same key, so Run search again showed the old result and trained nothing (the page says a
    search resumes); one that spent its trial budget is what the same settings ask for."""
    from types import SimpleNamespace

    from fairkit.datasets import load_dataset
    from fairkit.split import split_dataset
    from ui.jobs import JobRegistry

    frame, spec = load_dataset("german")
    split = split_dataset(frame, spec, seed=0)
    settings = usearch.SearchSettings(methods=("regularized",), fairness="demographic_parity", n_trials=50,
                                      minutes=0.05)
    started = []

    class Idle(usearch.SearchJob):
        def start(self):
            started.append(self)
            return self

    registry = JobRegistry()
    key = settings.key(split)
    for stopped, reused in (("time", False), ("budget", True)):
        old = Idle(key=key, settings=settings, split=split, store=None)
        old.status, old.result = "done", SimpleNamespace(stopped=stopped)
        registry._jobs[key] = old
        got = registry.start(split, settings, None, job_class=Idle)
        assert (got is old) == reused and (got in started) != reused


def test_a_search_joins_only_a_sweep_on_the_same_validation_rows():
    """Search audit, session 51 (F4): trials scored on every validation row joined a sweep that
    set half of them aside for the thresholds (its runs chosen on the other half)."""
    from fairkit.datasets import load_dataset
    from fairkit.split import reserve_threshold_rows, split_dataset

    frame, spec = load_dataset("german")
    plain = split_dataset(frame, spec, seed=0)
    reserved = reserve_threshold_rows(plain, 0.5)
    assert len(reserved.validation) < len(plain.validation)
    assert usearch.split_identity(plain) != usearch.split_identity(reserved)
    assert usearch.split_identity(reserved) == usearch.split_identity(reserve_threshold_rows(plain, 0.5))
    assert usearch.split_identity(plain) == usearch.split_identity(split_dataset(frame, spec, seed=0))


def test_a_cancelled_search_shows_the_trials_it_kept(own_store):
    """Search audit, session 51 (F8): a cancelled search said only a count; the trials it kept
    are shown as a finished search's are, and the count is the study's."""
    from ui import jobs

    at = searching(40)
    job = jobs.registry().get(at.session_state[usearch.SEARCH_KEY])
    deadline = time.monotonic() + 180
    while job.done < 2:
        assert time.monotonic() < deadline, "no trial finished"
        time.sleep(0.5)
    at.run()
    at.button(key="train.search.cancel").click().run()
    _wait_for_end(at)
    (said,) = [w for w in texts(at.warning) if "The search was cancelled" in w]
    n = int(re.search(r"cancelled; (\d+) trials? (?:are|is) stored", said).group(1))
    assert n >= 2 and "They are on the Trade-offs chart" in said
    (front,) = [d.value for d in at.dataframe if "Trial" in d.value.columns]
    assert 1 <= len(front) <= n
