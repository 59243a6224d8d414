"""Assistive search: resumes after a kill, shares a study between workers, measures re-split spread.

Trials train the regularized network with a step cap (``FAST``): the 50-trial budget of issue 22
stays, each trial is small.
"""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairkit.__main__ import main
from fairkit.datasets import load_dataset
from fairkit.frontier import pareto_front
from fairkit.methods import get_method
from fairkit.search import (
    NETWORK_SPACE,
    SOURCE,
    _DATABASE_LOCK,
    _locked,
    _suggest,
    default_storage,
    run_search,
    search_table,
    search_space,
    stability,
    study_name,
)
from fairkit.split import split_dataset
from fairkit.store import ResultStore

optuna = pytest.importorskip("optuna")
from optuna.trial import TrialState  # noqa: E402

FAST = {"regularized": {"max_steps": 30}}
METHODS = ["regularized"]


@pytest.fixture(scope="module")
def german():
    frame, spec = load_dataset("german")
    return frame, split_dataset(frame, spec, seed=0)


def _script(store: str, n_trials: int, n_workers: int = 1) -> str:
    """A search as its own process, as a user would start it (a heartbeat every second, dead after 8 s
    without: a loaded test machine can starve a live one for a few seconds)."""
    return textwrap.dedent(f"""
        from fairkit.datasets import load_dataset
        from fairkit.search import run_search
        from fairkit.split import split_dataset
        from fairkit.store import ResultStore
        frame, spec = load_dataset("german")
        run_search(split_dataset(frame, spec, seed=0), {METHODS!r}, n_trials={n_trials}, params={FAST!r},
                   store=ResultStore({store!r}), n_workers={n_workers}, heartbeat=1, grace=8)
    """)


def _start(code: str, tmp_path):
    env = {**os.environ, "FAIRKIT_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def _study(split, store):
    name = study_name(split, METHODS, params=FAST)
    # Under the search's own lock, as the engine reads a study: opened while a starting search
    # creates the database's tables, both would stamp its schema (IntegrityError, seen in CI).
    with _locked(store, _DATABASE_LOCK):
        return optuna.load_study(study_name=name, storage=default_storage(store))


def _wait_for_study(split, store, proc, timeout=120.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        assert proc.poll() is None, proc.stderr.read()
        try:
            if (store.root / "search" / "studies.sqlite").exists():
                return _study(split, store)
        except KeyError:  # the database is there, the study not yet
            pass
        time.sleep(0.2)
    raise AssertionError("the search process never created its study")


def _states(study):
    return [t.state for t in study.get_trials(deepcopy=False)]


def _param_sets(trials):
    return {json.dumps(t.params, sort_keys=True) for t in trials}


def test_a_killed_search_resumes_and_finishes_its_budget(german, tmp_path):
    frame, split = german
    store = ResultStore(tmp_path / "store")
    proc = _start(_script(str(store.root), 50), tmp_path)
    try:
        study = _wait_for_study(split, store, proc)
        # Killed while a trial runs, once a few have finished.
        t0 = time.monotonic()
        while time.monotonic() - t0 < 180:
            states = _states(study)
            if states.count(TrialState.COMPLETE) >= 5 and TrialState.RUNNING in states:
                break
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    killed = [t for t in _study(split, store).get_trials() if t.state == TrialState.RUNNING]
    done_before = [t for t in _study(split, store).get_trials() if t.state == TrialState.COMPLETE]
    assert killed and 5 <= len(done_before) < 50

    seen = []
    res = run_search(split, METHODS, n_trials=50, params=FAST, store=store, heartbeat=1, grace=8,
                     frame=frame, resplits=2, progress=lambda d, t: seen.append((d, t)))
    study = _study(split, store)
    complete = [t for t in study.get_trials() if t.state == TrialState.COMPLETE]
    assert len(complete) == 50 and res.complete == 50 and res.stopped == "budget"
    # The killed process's trial was failed (its heartbeat stopped) and its parameters run again.
    for dead in killed:
        assert study.trials[dead.number].state == TrialState.FAIL
        retried = [t for t in complete if t.system_attrs.get("failed_trial") == dead.number]
        assert len(retried) == 1
        # (killed before all its parameters were drawn, the retry draws the rest)
        assert dead.params.items() <= retried[0].params.items()
    # Finished trials of the killed run are kept, not trained again, and no proposal repeats.
    assert {t.number for t in done_before} <= {t.number for t in complete}
    assert len(_param_sets(complete)) == 50
    assert seen[-1] == (50, 50)
    # Every trial is a stored run tagged as the search's, and the table holds them all.
    for t in complete:
        record = store.get(t.user_attrs["run_id"])
        assert record is not None and record["source"] == SOURCE and record["search_budget"] == "50 trials"
        assert "validation" in record["search_objective"]
    assert len(res.trials) == 50 and set(res.trials["source"]) == {SOURCE}
    assert sorted(res.trials["search_trial"]) == sorted(t.number for t in complete)
    # The searched front is the frontier's (chosen on validation), and it reaches a sweep's table.
    front = pareto_front(res.trials, unfairness="demographic_parity_difference", choose_on="val")
    assert list(res.front["run_id"]) == list(front["run_id"]) and len(front)
    # Each candidate on the front carries its spread over the original split and 2 re-splits.
    for _, cand in res.front.iterrows():
        assert cand["resplit_n"] == 2
        assert cand["resplit_accuracy_min"] <= cand["val_accuracy"] <= cand["resplit_accuracy_max"]
        moves = cand["resplit_accuracy_max"] - cand["resplit_accuracy_min"]
        assert cand["resplit_accuracy_moves"] == pytest.approx(moves)
        width_acc = cand["val_accuracy_high"] - cand["val_accuracy_low"] if "val_accuracy_high" in cand else None
        if width_acc is not None and np.isfinite(width_acc) and moves > width_acc:
            assert cand["unstable"] and "accuracy" in cand["unstable_reason"]
    resplit_runs = store.records()
    resplit_runs = resplit_runs[resplit_runs.get("source") == "resplit"]
    assert len(resplit_runs) == 2 * len(res.front)
    assert set(resplit_runs["resplit_of"]) == set(res.front["run_id"])
    # Run again: the study is complete, nothing new is asked for, the spread comes back from it.
    again = run_search(split, METHODS, n_trials=50, params=FAST, store=store, heartbeat=1, grace=8)
    assert len(_study(split, store).get_trials()) == len(study.get_trials())
    assert again.front["unstable"].tolist() == res.front["unstable"].tolist()


@pytest.mark.slow  # processes and signals, not a library's version: not repeated on the floors
def test_a_killed_searchs_workers_stop_after_their_trial(german, tmp_path):
    """Hostile-input audit, session 52: a search killed with SIGKILL (no chance to set its stop
    flag) left its worker processes spending the budget for nobody."""
    _, split = german
    store = ResultStore(tmp_path / "store")
    proc = _start(_script(str(store.root), 1000, n_workers=2), tmp_path)
    try:
        study = _wait_for_study(split, store, proc)
        me = f"{socket.gethostname()}:{proc.pid}"
        t0, workers = time.monotonic(), set()
        while time.monotonic() - t0 < 180 and not workers:  # once the worker process has a trial
            assert proc.poll() is None, proc.stderr.read()
            workers = {t.user_attrs.get("worker") for t in study.get_trials(deepcopy=False)} - {None, me}
            time.sleep(0.05)
        (worker,) = workers
        pid = int(worker.rsplit(":", 1)[1])
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 120 and _alive(pid):
            time.sleep(0.2)
        assert not _alive(pid), "the killed search's worker is still running"
        assert len(study.get_trials(deepcopy=False)) < 1000
    finally:
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(NameError, ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone but not yet reaped by init.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    return False


@pytest.mark.slow
def test_two_processes_share_one_study_and_run_the_budget_once(german, tmp_path):
    _, split = german
    store = ResultStore(tmp_path / "store")
    # One process with a single worker, one with two (it starts a second process itself).
    procs = [_start(_script(str(store.root), 16, n_workers=n), tmp_path) for n in (1, 2)]
    for p in procs:
        p.wait(timeout=300)
        assert p.returncode == 0, p.stderr.read()
    study = _study(split, store)
    trials = study.get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 16
    assert len({t.number for t in trials}) == len(trials)
    assert len(_param_sets(complete)) == 16
    assert len({t.user_attrs["run_id"] for t in complete}) == 16
    assert len({t.user_attrs["worker"] for t in complete}) >= 2


@pytest.mark.parametrize("values, low, high, unstable", [
    ([0.70, 0.72, 0.69], 0.65, 0.75, False),   # moves 0.03 within a 0.10 interval
    ([0.70, 0.90, 0.71], 0.65, 0.75, True),    # moves 0.20
    ([0.70, 0.90], float("nan"), 0.75, False),  # no interval: not judged
    ([0.70, float("nan"), 0.74], 0.69, 0.72, True),  # NaN re-split ignored, 0.04 > 0.03
])
def test_a_candidate_is_unstable_when_it_moves_more_than_its_interval(values, low, high, unstable):
    moves, flag = stability(values, low, high)
    finite = [v for v in values if np.isfinite(v)]
    assert moves == pytest.approx(max(finite) - min(finite))
    assert flag is unstable


def test_search_space_per_method():
    assert "hidden_layer_sizes" in search_space("regularized")
    assert "hidden_layer_sizes" not in search_space("linear")  # the logistic model stays linear
    assert set(search_space("boosting")) == {"n_estimators", "num_leaves", "learning_rate"}
    assert "lr" not in search_space("regularized", {"lr": 0.01})  # fixed parameters are not searched
    # The threshold method's capacity is its base model's, passed as base_params.
    study = optuna.create_study(directions=["maximize", "minimize"])
    fixed = {"threshold": {"base": "network", "base_params": {"lr": 0.1}}}
    run = _suggest(study.ask(), ["threshold"], "demographic_parity", 0, fixed)
    params = dict(run.params)
    assert params["base_params"]["lr"] == 0.1 and set(params["base_params"]) == {"lr", *NETWORK_SPACE}
    assert get_method("threshold").build(run.eta, 0, **params).estimator.lr == 0.1
    trees = search_space("threshold", {"base": "trees"})
    assert set(trees) == {"n_estimators", "num_leaves", "learning_rate"}
    lo, hi = get_method("threshold").eta_range
    assert lo <= run.eta <= hi


def test_study_name_ignores_the_budget_and_follows_the_data(german, biased_frame):
    _, split = german
    assert study_name(split, METHODS) == study_name(split, METHODS)
    assert study_name(split, METHODS) != study_name(split, METHODS, fairness="equal_opportunity")
    assert study_name(split, METHODS) != study_name(split, ["regularized", "boosting"])
    assert study_name(split, METHODS) != study_name(split, METHODS, params=FAST)


@pytest.mark.parametrize("argv, message", [
    (["--trials", "0"], "at least 1"),
    (["--workers", "0"], "at least 1"),
    (["--resplits", "-1"], "at least 0"),
    (["--timeout", "0"], "seconds above 0"),
    (["--storage", "studies.sqlite"], "not a storage URL"),
    (["--methods", "regularized,nonesuch"], "Unknown method"),
    (["--csv", "x.csv"], "not found"),
    (["--fairness", "equity"], "invalid choice"),
    # Search audit, session 48: an absurd budget stayed the study's; an unreadable address or a
    # missing driver was an "internal error" (exit 1).
    (["--trials", "99999999999999999999999"], "at most 100,000"),
    (["--storage", "foo://bar"], "cannot be used"),
    (["--storage", "postgresql://u@127.0.0.1:9/db"], "SQLAlchemy driver is installed"),
    # Search audit, session 51: refused after five trained trials, past a budget of two.
    (["--performance", "roc_auc", "--methods", "threshold", "--trials", "2"], "threshold outputs decisions"),
    # Hostile-input audit, session 52: 100,000 workers started hundreds of processes; a million
    # re-splits ran past the time budget; these addresses were internal errors (exit 1).
    (["--workers", "100000"], "at most 32"),
    (["--resplits", "1000000"], "at most 20"),
    (["--storage", "sqlite:////proc/nope/x.sqlite"], "its folder cannot be created"),
    (["--storage", "sqlite://"], "a database in memory"),
    (["--storage", "sqlite:///:memory:"], "a database in memory"),
    (["--storage", "sqlite:///file::memory:?uri=true"], "a database in memory"),
])
def test_search_cli_refuses_bad_arguments_with_exit_2(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    code = main(["search", "--dataset", "german", "--out", str(tmp_path / "out"), *argv])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out" / "results.csv").exists()
    assert not list((tmp_path / "out").glob("store/**/*.json"))  # nothing trained


def test_a_trial_database_another_program_made_is_refused(german, tmp_path):
    """Hostile-input audit, session 52: a study of the search's name with other objectives (in a
    --storage shared with another program) counted towards the budget; the search trained
    nothing and exited 0. Another program's SQLite file was an internal error."""
    import sqlite3

    import optuna

    from fairkit.methods import get_definition
    from fairkit.search import SearchError

    _, split = german
    name = study_name(split, ["regularized"], unfairness=get_definition("demographic_parity").gap_metric,
                      params=FAST)
    foreign = f"sqlite:///{tmp_path / 'foreign.sqlite'}"
    optuna.create_study(study_name=name, storage=foreign, direction="minimize").optimize(
        lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=2)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("create table trials (x text)")
    store = ResultStore(tmp_path / "store")
    for storage, said in ((foreign, "with other objectives (minimize)"), (f"sqlite:///{other}", "cannot be used")):
        with pytest.raises(SearchError, match=re.escape(said)):
            run_search(split, ["regularized"], n_trials=1, params=FAST, store=store, storage=storage, resplits=0)
    assert store.records().empty  # nothing trained


def test_a_study_attribute_never_sets_a_stored_runs_figures(german, tmp_path):
    """Hostile-input audit, session 52: a study attribute ``resplit:<run_id>`` (the study is a
    database others can write) overrode the stored run's figures, eta and method in the table
    the search chose its front on."""
    import optuna

    frame, split = german
    store = ResultStore(tmp_path / "store")
    res = run_search(split, ["regularized"], n_trials=2, params=FAST, store=store, resplits=0)
    study = optuna.load_study(study_name=res.study_name, storage=res.storage)
    rid = str(res.trials["run_id"].iloc[0])
    truth = store.get(rid)
    study.set_user_attr(f"resplit:{rid}", {"val_accuracy": 0.999, "eta": 42.0, "method": "<script>",
                                           "resplit_n": 2, "unstable": True, "unstable_reason": "said"})
    row = search_table(study, store).set_index("run_id").loc[rid]
    assert row["val_accuracy"] == truth["val_accuracy"] and row["eta"] == truth["eta"]
    assert row["method"] == truth["method"]
    assert row["resplit_n"] == 2 and bool(row["unstable"]) and row["unstable_reason"] == "said"


def test_a_studys_budget_and_objective_are_read_only_as_the_search_writes_them(german, tmp_path):
    """Hostile-input audit, session 52 (left then, mended in 53): a foreign ``budget_text`` was
    copied into every row of front.csv (a spreadsheet runs ``=...`` as a formula) and the record, a
    foreign ``budget_trials`` of a billion became the next call's budget, a foreign
    ``objective_text`` was shown as the search's objective."""
    import optuna

    from fairkit.search import load_search

    _, split = german
    store = ResultStore(tmp_path / "store")
    res = run_search(split, ["regularized"], n_trials=1, params=FAST, store=store, resplits=0)
    assert set(res.trials["search_budget"]) == {"1 trials"}
    said = set(res.trials["search_objective"])
    study = optuna.load_study(study_name=res.study_name, storage=res.storage)
    study.set_user_attr("budget_text", '=HYPERLINK("http://x","1 trials")')
    study.set_user_attr("objective_text", "max <script>")
    study.set_user_attr("budget_trials", 10**9)
    row = search_table(study, store).iloc[0]
    assert row["search_budget"] == "" and {row["search_objective"]} == said  # the settings' words
    loaded = load_search(res.study_name, res.storage, store)
    assert loaded.objective in said
    again = run_search(split, ["regularized"], n_trials=2, params=FAST, store=store, resplits=0)
    assert len(again.trials) == 2 and set(again.trials["search_budget"]) == {"2 trials"}


def test_re_splits_of_the_largest_split_seed_wrap_around(german):
    """The re-split of split seed 2**32 - 1 asked numpy for seed 2**32, refused as "data too small
    to split" (hostile-input audit, session 52)."""
    frame, split = german
    last = split_dataset(frame, split.spec, seed=2**32 - 1)
    res = run_search(last, ["regularized"], n_trials=1, params=FAST, frame=frame, resplits=1)
    assert (res.front["resplit_n"] == 1).all()


def test_a_search_that_finished_no_trial_is_refused_and_writes_nothing(tmp_path, capsys, monkeypatch):
    """Search audit, session 48: --timeout 1e-9 exited 0 with "0 trials finished" and wrote empty
    tables, which a script took for a search's results."""
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    out = tmp_path / "out"
    code = main(["search", "--dataset", "german", "--timeout", "1e-9", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "no trial finished within the time budget (--timeout 1e-09 s)" in err and "Give a longer --timeout" in err
    assert not (out / "results.csv").exists() and not (out / "front.csv").exists() and not (out / "sweep.json").exists()


def test_the_decision_record_says_which_points_came_from_search(tiny_split):
    from fairkit.export import DecisionRecord, build_record, sweep_compared
    from fairkit.sweep import RunSpec, fit_and_evaluate

    rows, models = [], {}
    for i, eta in enumerate((0.0, 2.0)):
        row, model = fit_and_evaluate(RunSpec("regularized", eta, 0, params=(("max_epochs", 3),)), tiny_split)
        row["run_id"] = f"run{i}"
        models[row["run_id"]] = model
        rows.append(row)
    rows[1].update(source=SOURCE, search_trial=3, search_budget="50 trials",
                   search_objective="max validation accuracy, min validation demographic parity difference",
                   search_params='{"hidden_layer_sizes": [16], "lr": 0.0123456}', unstable=True)
    rows[0]["source"] = "sweep"
    table = pd.DataFrame(rows)
    front = pareto_front(table, exclude_constant=False)
    record = DecisionRecord(purpose="p", rationale="Chosen by the committee.", decider="Committee")
    chosen = rows[1]
    text = build_record(model=models[chosen["run_id"]], split=tiny_split, run=chosen, record=record,
                        frontier=front, sweep=sweep_compared(table), n_boot=20).markdown()
    assert "proposed by search (trial 3); unstable across re-splits" in text
    assert "proposed by an assistive search (budget 50 trials; objective: max validation accuracy" in text
    assert "it chose none of them" in text and "a person chose it from the candidates shown" in text
    # Search audit, session 51: the trial's own settings are said, and its eta is not listed as
    # the sweep's grid.
    said = text.replace("\\", "")  # Markdown's escapes of [ ] _ off
    assert said.count("this search trial's settings: hidden_layer_sizes [16], lr 0.01235") == 2  # card, model
    assert "Etas: regularized: 0 (the sweep's); an assistive search's trials, at settings of their own: " \
           "regularized: 2." in said
    # Hostile-input audit, session 52: a search's trials exported with no sweep read "Etas:  (the
    # sweep's)".
    alone = table.iloc[1:]
    said = build_record(model=models["run1"], split=tiny_split, run=rows[1], record=record,
                        frontier=pareto_front(alone, exclude_constant=False), sweep=sweep_compared(alone),
                        n_boot=20).markdown().replace("\\", "")
    assert "Methods: regularized. No sweep; an assistive search's trials, at settings of their own: " \
           "regularized: 2." in said and "the sweep's" not in said
    # A record whose frontier has no search points says nothing of a search.
    plain = build_record(model=models["run0"], split=tiny_split, run=rows[0], record=record,
                         frontier=pareto_front(table.drop(columns=["source"]).iloc[:1], exclude_constant=False),
                         n_boot=20).markdown()
    assert "search" not in plain


class _WaitsForAnotherWorker(ResultStore):
    """A store whose first ``put`` in this process waits until another process has taken a trial.

    Why: which worker asks first is a race. On a slow machine the Dask worker (deserializing the
    split, opening the study) may start after this process has trained the whole budget, and the
    test would then prove nothing about sharing the study; waiting here makes both take trials.
    """

    def __init__(self, root, split, timeout=180.0):
        super().__init__(root)
        self.split, self.timeout, self.waited = split, timeout, False

    def put(self, key, record, model=None):
        if not self.waited:
            self.waited = True
            me = f"{socket.gethostname()}:{os.getpid()}"
            t0 = time.monotonic()
            while time.monotonic() - t0 < self.timeout:
                workers = {t.user_attrs.get("worker") for t in _study(self.split, self).get_trials(deepcopy=False)}
                if workers - {me, None}:
                    break
                time.sleep(0.2)
        super().put(key, record, model)


@pytest.mark.slow
def test_dask_workers_share_the_study(german, tmp_path):
    distributed = pytest.importorskip("distributed")
    _, split = german
    store = _WaitsForAnotherWorker(tmp_path / "store", split)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:  # the worker imports the engine before the search starts
            client.run(__import__, "fairkit.search")
            client.run(__import__, "torch")
        res = run_search(split, METHODS, n_trials=8, params=FAST, store=store, n_workers=2,
                         scheduler=cluster.scheduler_address, heartbeat=1, grace=8)
    complete = [t for t in _study(split, store).get_trials() if t.state == TrialState.COMPLETE]
    assert res.complete == len(complete) == 8 and len(_param_sets(complete)) == 8
    assert len({t.user_attrs["worker"] for t in complete}) == 2  # this process and the Dask worker


def test_a_queued_trial_without_parameters_does_not_make_the_next_proposal_repeat(german, tmp_path):
    # A process killed inside ask leaves a trial with no parameters; it is queued again as such,
    # and taking it adds no trial number: the next proposal must still be a new one.
    _, split = german
    store = ResultStore(tmp_path / "store")
    run_search(split, METHODS, n_trials=2, params=FAST, store=store)
    _study(split, store).enqueue_trial({})
    run_search(split, METHODS, n_trials=6, params=FAST, store=store)
    complete = [t for t in _study(split, store).get_trials() if t.state == TrialState.COMPLETE]
    assert len(complete) == 6 and len(_param_sets(complete)) == 6


def test_a_trial_left_running_by_a_dead_process_is_failed_and_queued_again(tmp_path):
    """The sweep for trials a dead process left running (``_fail_stale``) fails such a trial and
    queues its parameters again through the retry callback the storage was given; the callback
    is called directly, so it works on every Optuna the floors allow (4.3 has no
    ``get_heartbeat_stale_trial_callback``)."""
    import optuna
    from optuna.trial import TrialState

    from fairkit.search import _fail_stale, _retry_callback, _storage

    storage = _storage(f"sqlite:///{tmp_path / 'study.db'}", heartbeat=1, grace=1)
    study = optuna.create_study(storage=storage, study_name="s")
    trial = study.ask()  # no heartbeat and no worker mark: its process died inside ask
    trial.suggest_float("eta", 0.0, 1.0)
    time.sleep(1.2)
    _fail_stale(study, grace=1)
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert states == [TrialState.FAIL, TrialState.WAITING]
    retry = study.get_trials(deepcopy=False)[1]
    assert retry.params == trial.params
    assert type(_retry_callback()).retried_trial_number(retry) == trial.number


def test_a_search_on_reserved_threshold_rows_is_a_study_of_its_own(tiny_split):
    from fairkit.split import reserve_threshold_rows

    reserved = reserve_threshold_rows(tiny_split, 0.5)
    assert tiny_split.reservation() == {} and reserved.reservation() == {"thresholds": reserved.thresholds_source}
    # Other validation rows, other objective values: the study is not resumed across them.
    assert study_name(reserved, METHODS, params=FAST) != study_name(tiny_split, METHODS, params=FAST)


def test_the_audit_log_records_a_search_with_what_it_trained_and_what_it_found(tmp_path, capsys):
    """Audit finding 4: a search is logged as one (source, study, budget, objective), with the trials
    and re-split runs it trained counted apart from those it found in the study or the store."""
    from fairkit.audit import AuditLog

    audit = tmp_path / "audit.sqlite"
    argv = ["search", "--dataset", "german", "--methods", "linear,boosting", "--resplits", "1",
            "--out", str(tmp_path / "out"), "--audit", str(audit), "--json"]
    summaries = []
    for trials in (4, 4, 6):  # a first search, the same again (nothing new), a larger budget
        assert main([*argv, "--trials", str(trials)]) == 0
        summaries.append(json.loads(capsys.readouterr().out))
    entries = AuditLog(audit).entries(kind="sweep")
    assert len(entries) == 3
    first, again, larger = (e["details"] for _, e in entries.iterrows())
    for entry, summary, trials in zip((first, again, larger), summaries, (4, 4, 6)):
        assert entry["source"] == "search" and entry["runs"] == trials
        search = entry["search"]
        assert search["study"] == summary["study"] and search["budget"] == f"{trials} trials"
        assert search["objective"].startswith("max validation accuracy")
        assert search["trials"] == trials and search["trained"] + search["from_store"] == trials
        assert entry["cached"] == search["from_store"] == summary["from_store"]
        assert search["trained"] == summary["trained"]
        n_front = len(summary["front"])
        assert search["resplit_runs"] == n_front  # one re-split per candidate
    assert (first["search"]["trained"], first["search"]["from_store"]) == (4, 0)
    assert first["search"]["resplit_trained"] == first["search"]["resplit_runs"]
    # Run again at its budget: nothing is trained, every trial and re-split comes from the study / store.
    assert (again["search"]["trained"], again["search"]["from_store"]) == (0, 4)
    assert again["search"]["resplit_trained"] == 0
    # A larger budget trains the new trials only.
    assert (larger["search"]["trained"], larger["search"]["from_store"]) == (2, 4)


def test_the_resplit_reason_counts_the_original_split_and_the_printout_names_whose_front(german, tmp_path,
                                                                                          monkeypatch, capsys):
    """Audit 2 finding 5: a spread over the original split and k re-splits covers k + 1 values, and
    the CLI says its front is the front of the search's own trials."""
    import fairkit.search as search

    frame, split = german
    monkeypatch.setattr(search, "stability", lambda values, low, high: (0.5, True))  # every candidate unstable
    res = run_search(split, METHODS, n_trials=3, params=FAST, store=ResultStore(tmp_path / "store"),
                     frame=frame, resplits=2)
    assert len(res.front)
    for reason in res.front["unstable_reason"]:
        assert "over the original split and 2 re-splits" in reason and "across 2 re-splits" not in reason
    assert search.splits_text(1) == "the original split and 1 re-split"
    monkeypatch.undo()

    code = main(["search", "--dataset", "german", "--methods", "linear,boosting", "--trials", "4", "--resplits", "1",
                 "--out", str(tmp_path / "out"), "--audit", str(tmp_path / "audit.sqlite")])
    assert code == 0
    out = capsys.readouterr().out
    assert "on the front of the search's own trials" in out and "unstable over the original split and 1 re-split" in out
    assert "a sweep's run may beat a candidate on validation" in out
    # Each verdict can be checked from front.csv: the move beside the interval it was compared with.
    front = pd.read_csv(tmp_path / "out" / "front.csv")
    for axis in ("accuracy", "demographic_parity_difference"):
        width = front[f"resplit_{axis}_interval"]
        assert (width > 0).all()
        assert ((front[f"resplit_{axis}_moves"] > width) <= front["unstable"]).all()
    # --resplits 0 shows the study's earlier verdicts: said to be an earlier call's, not none at all
    # (search audit, session 43: front.csv held them, the printout said nothing).
    code = main(["search", "--dataset", "german", "--methods", "linear,boosting", "--trials", "4", "--resplits", "0",
                 "--out", str(tmp_path / "out"), "--audit", str(tmp_path / "audit.sqlite")])
    assert code == 0
    assert "unstable over the original split and 1 re-split by an earlier search of this study" in capsys.readouterr().out
    # A re-split run (trained on split 1, whose training rows hold split 0's test rows) cannot be
    # exported as if it were of split 0: its test figures would be inflated (search audit, session 43).
    store = ResultStore(tmp_path / "out" / "store")
    resplit = next(r for r in (store.get(k) for k in store.keys()) if r and r.get("source") == "resplit")
    code = main(["export", "--store", str(tmp_path / "out"), "--run", resplit["run_id"], "--rationale", "r",
                 "--decider", "Ada", "--out", str(tmp_path / "r.zip"), "--audit", str(tmp_path / "audit.sqlite")])
    err = capsys.readouterr().err
    assert code == 2 and f"was trained on split {resplit['split_seed']}, not on this sweep's split 0" in err
    assert f"Export the candidate itself (run {resplit['resplit_of']})" in err and not (tmp_path / "r.zip").exists()


@pytest.mark.parametrize("target", ["audit.sqlite", "out/results.csv"])
def test_a_storage_that_is_one_of_the_commands_files_is_refused(tmp_path, capsys, target):
    """Search audit, session 43: --storage at the audit log added Optuna's tables to it (the log
    then failed its check); at OUT/results.csv the CSV overwrote the study. Refused, exit 2."""
    code = main(["search", "--dataset", "german", "--methods", "linear", "--trials", "2", "--resplits", "0",
                 "--out", str(tmp_path / "out"), "--audit", str(tmp_path / "audit.sqlite"),
                 "--storage", f"sqlite:///{tmp_path / target}"])
    err = capsys.readouterr().err
    assert code == 2 and "which this command reads or keeps" in err
    assert not (tmp_path / "audit.sqlite").exists() or target != "audit.sqlite"


def test_a_later_call_with_a_smaller_budget_keeps_the_studys(tmp_path, capsys):
    """Search audit, session 43: after 4 trials, '--trials 2' printed "4 of 2 trials finished" and
    relabelled every trial (and a record exported from the folder) "budget 2 trials"."""
    args = ["search", "--dataset", "german", "--methods", "linear", "--resplits", "0", "--out", str(tmp_path / "out"),
            "--audit", str(tmp_path / "audit.sqlite")]
    assert main([*args, "--trials", "4"]) == 0
    capsys.readouterr()
    assert main([*args, "--trials", "2"]) == 0
    assert "4 trials finished, budget 4 trials (0 trained now" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "out" / "results.csv")
    assert set(table["search_budget"]) == {"4 trials"}
    assert table["cached"].all()  # every trial came from the study this time, as the line above says


def test_a_search_whose_every_trial_is_undefined_stops_with_the_reason(tmp_path, capsys, monkeypatch):
    """Search audit, session 43: with ROC AUC for a method that outputs decisions every trial's
    metric is undefined; those failures were not counted, and the search trained without end.
    That case is refused before any trial now (session 51); with the refusal off it stands for
    any trial whose figures are undefined (a gap without positives in a group, say)."""
    from fairkit import search

    monkeypatch.setattr(search, "_without_ranking", lambda methods, performance: [])
    code = main(["search", "--dataset", "german", "--methods", "threshold", "--performance", "roc_auc",
                 "--trials", "4", "--resplits", "0", "--out", str(tmp_path / "out"),
                 "--audit", str(tmp_path / "audit.sqlite")])
    err = capsys.readouterr().err
    assert code == 2 and "5 search trials in a row could not be compared" in err
    assert "the validation roc_auc of threshold is undefined" in err


def test_a_damaged_trial_database_is_a_message_naming_it(tmp_path, capsys):
    """Interruption audit, finding 8: a trial database cut short or overwritten is exit 2 naming
    the file and the remedy, not an internal error quoting SQLAlchemy's SQL."""
    out = tmp_path / "out"
    db = out / "store" / "search" / "studies.sqlite"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"SQLite format 3\x00" + b"\x13" * 4000)  # a header, then garbage
    code = main(["search", "--dataset", "german", "--methods", "linear", "--trials", "2", "--resplits", "0",
                 "--out", str(out), "--audit", str(tmp_path / "audit.sqlite")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "The trial database" in err and "Move the file aside" in err and "internal error" not in err
    assert "sqlalche.me" not in err and "[SQL:" not in err


def test_an_interrupt_in_the_searching_process_stops_its_workers_too(german, tmp_path):
    """Interruption audit, finding 7: Ctrl-C in the process that runs a search with workers
    returned only once the workers had spent the whole budget; now they stop after the trial
    they are in."""
    _, split = german
    store = ResultStore(tmp_path / "store")
    calls = []

    def progress(*args):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_search(split, METHODS, n_trials=40, params=FAST, store=store, n_workers=2, progress=progress)
    (summary,) = optuna.get_all_study_summaries(default_storage(store))
    assert summary.n_trials < 20, summary.n_trials  # the budget was 40: the worker stopped early


def test_an_interrupted_trial_is_given_back_at_once(german, tmp_path):
    """Interruption audit, finding 11: the trial an interrupted search held stayed RUNNING until
    its heartbeat's grace passed, so an immediate rerun sat idle for 25-30 s; now it is failed
    and its parameters queued again as the interrupt leaves."""
    _, split = german
    store = ResultStore(tmp_path / "store")
    calls = []

    def progress(*args):
        calls.append(args)
        if len(calls) == 2:  # called just after the second trial was asked for
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_search(split, METHODS, n_trials=4, params=FAST, store=store, progress=progress)
    (summary,) = optuna.get_all_study_summaries(default_storage(store))
    study = optuna.load_study(study_name=summary.study_name, storage=default_storage(store))
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert TrialState.RUNNING not in states
    assert states.count(TrialState.FAIL) == 1 and states.count(TrialState.WAITING) == 1
    res = run_search(split, METHODS, n_trials=4, params=FAST, store=store)
    assert res.complete == 4  # the rerun finishes the budget, the given-back trial among it


def test_optuna_notes_for_its_developers_are_not_printed_to_users():
    """Search audit, session 43: Ctrl-C printed Optuna's ExperimentalWarning with a source line."""
    import warnings

    from fairkit.search import _retry_callback

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _retry_callback()
    assert not [w for w in caught if "experimental" in str(w.message)]


@pytest.mark.parametrize("bad", [{"n_trials": 2.5}, {"n_trials": 0}, {"timeout": -1}, {"timeout": float("nan")},
                                 {"resplits": -1}])
def test_run_search_refuses_what_the_command_line_refuses(german, tmp_path, bad):
    """Search audit, session 43: Python took timeout=-1 and n_trials=2.5, which the CLI refuses."""
    frame, split = german
    with pytest.raises(ValueError, match=next(iter(bad)).split("_")[-1]):
        run_search(split, METHODS, params=FAST, store=ResultStore(tmp_path / "store"), frame=frame,
                   **{"n_trials": 2, **bad})


def test_trials_whose_runs_are_in_another_store_are_counted_and_named(tmp_path, capsys):
    """Search audit, session 43: with a shared --storage and another --store, a search printed "0 of
    6 trials finished ... stopped at its trial budget" and exit 0: the trials count towards the
    budget, so none is ever trained again, and nothing said where they were."""
    first = ["search", "--dataset", "german", "--methods", "linear", "--trials", "3", "--resplits", "0",
             "--audit", str(tmp_path / "audit.sqlite")]
    assert main([*first, "--out", str(tmp_path / "a")]) == 0
    storage = f"sqlite:///{tmp_path / 'a' / 'store' / 'search' / 'studies.sqlite'}"
    capsys.readouterr()
    assert main([*first, "--out", str(tmp_path / "b"), "--storage", storage]) == 0
    out = capsys.readouterr().out
    assert "NOTE: 3 finished trial(s) of this study have no run in this store" in out


def test_re_splitting_stops_at_the_time_budget(german, tmp_path):
    """Search audit, session 43: the re-splits went on past --timeout. Past the deadline no further
    candidate is re-split, and the result counts those left unmeasured."""
    from fairkit.search import resplit_front

    frame, split = german
    res = run_search(split, METHODS, n_trials=3, params=FAST, store=ResultStore(tmp_path / "store"), frame=frame,
                     resplits=0)
    assert len(res.front)
    late = resplit_front(res, split, frame, k=1, deadline=0.0)
    assert (late.resplit_skipped, late.resplit_runs) == (len(res.front), 0)


def test_a_cancelled_search_reports_every_trial_it_finished(german, tmp_path):
    """The progress a search reports is taken as each trial starts: cancelled, it raised without
    reporting the trial that had just finished, so the dashboard's bar read one short of the
    trials stored ("2 / 6 trials done" beside 3 on the frontier). The last report is the study's."""
    from fairkit.search import SearchCancelled

    _, split = german
    store = ResultStore(tmp_path / "store")
    seen = []

    def stop():
        return len(seen) >= 3  # asked between trials: after the third has started and finished

    with pytest.raises(SearchCancelled, match="3 of 6 trials finished"):
        run_search(split, METHODS, n_trials=6, params=FAST, store=store, progress=lambda d, t: seen.append((d, t)),
                   should_stop=stop)
    assert seen[-1] == (3, 6), seen


def test_run_search_re_splits_its_front_by_default_as_the_command_line_does(german, tmp_path):
    """Search audit, session 43 (D2): the command line and the dashboard re-split the front 3 times
    by default, Python never unless asked. Given the table, Python now does too; without it,
    nothing can be re-split."""
    from fairkit.search import DEFAULT_RESPLITS

    frame, split = german
    res = run_search(split, METHODS, n_trials=3, params=FAST, store=ResultStore(tmp_path / "store"), frame=frame)
    assert len(res.front) and (res.front["resplit_n"] == DEFAULT_RESPLITS).all()
    bare = run_search(split, METHODS, n_trials=3, params=FAST, store=ResultStore(tmp_path / "other"))
    assert "resplit_n" not in bare.front or bare.front["resplit_n"].isna().all()


def test_a_finished_search_keeps_nothing_of_its_table(tmp_path):
    """Session 48: Optuna keeps each optional backend's ImportError (``redis``) with its
    traceback, whose frames keep their callers'. Imported first inside ``run_search``, it kept
    the search's table and frame for the life of the process: every finished dashboard search's
    table stayed in the server's memory. In a fresh interpreter, as Optuna is first imported:"""
    code = textwrap.dedent(f"""
        import gc, sys, weakref
        from fairkit.datasets import load_dataset
        from fairkit.search import run_search
        from fairkit.split import split_dataset
        from fairkit.store import ResultStore
        assert "optuna" not in sys.modules
        frame, spec = load_dataset("german")
        split = split_dataset(frame, spec, seed=0)
        refs = weakref.ref(split), weakref.ref(frame)
        result = run_search(split, {METHODS!r}, n_trials=2, params={FAST!r}, store=ResultStore({str(tmp_path / "store")!r}),
                            frame=frame, resplits=0)
        assert result.complete == 2
        del split, frame, result
        gc.collect()
        print([ref() is None for ref in refs])
    """)
    env = {**os.environ, "FAIRKIT_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["[True,", "True]"]


def test_the_first_import_of_optuna_is_made_once_and_waited_for(monkeypatch):
    """Search audit, session 48: the first searches of a fresh server reached the import together;
    each saw Optuna not yet in ``sys.modules`` and imported it, and the simultaneous imports left
    ``sqlalchemy.util`` half made for the life of the process (5 of 16 fresh processes, every
    later search failing). The import is made once, and every caller waits for it to end."""
    import threading

    from fairkit import search as search_mod

    made, done = [], threading.Event()

    def slow_import():
        made.append(threading.current_thread().name)
        time.sleep(0.3)
        done.set()

    monkeypatch.setattr(search_mod, "_import_optuna", slow_import)
    monkeypatch.setattr(search_mod, "_OPTUNA_READY", False)
    returned_early = []

    def caller():
        search_mod._optuna()
        returned_early.append(not done.is_set())

    callers = [threading.Thread(target=caller) for _ in range(4)]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    assert len(made) == 1 and returned_early == [False] * 4


def test_first_searches_of_different_tables_set_up_one_new_database_together(tmp_path):
    """Search audit, session 48: two users' first searches of different tables on a new store
    (4 of 4 times on a fresh server): Optuna creates the tables of the one trial database all
    studies share, under a lock per study, so both created them and one stopped on "table studies
    already exists", told the database was damaged and to move it aside (everyone's studies).
    The database is set up under one lock."""
    import threading

    from fairkit.search import _open_study

    for round_ in range(3):
        store = ResultStore(tmp_path / f"store{round_}")
        gate, problems = threading.Barrier(4), []

        def first_search(i, store=store, gate=gate, problems=problems):
            ctx = {"storage": default_storage(store), "heartbeat": 60, "grace": 120,
                   "store_root": str(store.root), "name": f"table-{i}", "seed": 0}
            gate.wait()
            try:
                _open_study(ctx)
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                problems.append(str(exc))

        users = [threading.Thread(target=first_search, args=(i,)) for i in range(4)]
        for t in users:
            t.start()
        for t in users:
            t.join()
        assert not problems, problems[0]


def test_a_searchs_trials_train_here_whatever_the_environments_scheduler_says(german, tmp_path, monkeypatch):
    """Dask audit M4b/c, session 50: every trial went to $FAIRKIT_DASK_SCHEDULER (undocumented for
    a search; an unreachable one failed the search after 107 s, and on a Dask worker whose
    environment set it a trial sent itself to its own cluster and waited for good). A search
    spreads its trials only by run_search's own scheduler."""
    monkeypatch.setenv("FAIRKIT_DASK_SCHEDULER", "tcp://127.0.0.1:1")  # nothing listens there
    _, split = german
    res = run_search(split, METHODS, n_trials=2, params=FAST, store=ResultStore(tmp_path / "store"))
    assert res.complete == 2


def test_a_search_on_reserved_threshold_rows_re_splits_with_them_reserved(german, tmp_path, monkeypatch):
    """Review of session 51: a search on the sweep's rows (half of validation set aside for the
    thresholds) re-split its candidates on plain splits, measured on every validation row, and
    compared the two to call them stable or not."""
    from fairkit import search as search_mod
    from fairkit.split import reserve_threshold_rows

    frame, split = german
    reserved = reserve_threshold_rows(split, 0.5)
    assert reserved.threshold_share == 0.5 and split.threshold_share is None
    seen = []
    train = search_mod._train

    def recording(run, s, store, tags):
        if tags.get("source") == search_mod.RESPLIT_SOURCE:
            seen.append((s.threshold_share, len(s.validation), None if s.thresholds is None else len(s.thresholds)))
        return train(run, s, store, tags)

    store = ResultStore(tmp_path / "store")
    res = run_search(split, METHODS, n_trials=3, params=FAST, store=store, frame=frame, resplits=0)
    assert len(res.front)
    monkeypatch.setattr(search_mod, "_train", recording)
    search_mod.resplit_front(res, reserved, frame, k=1, store=store)
    assert seen and all(share == 0.5 and n_val == len(reserved.validation) and n_thr == len(reserved.thresholds)
                        for share, n_val, n_thr in seen)
