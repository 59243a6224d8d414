"""Dask sweeps that cannot run end with a message, keep what finished, and TLS clusters work.

Every cluster here is an in-process LocalCluster on 127.0.0.1, closed by its context manager.
Each test ends well within 60 s (pytest-timeout enforces it).
"""


import pandas as pd
import pytest

from fairkit.store import ResultStore
from fairkit.sweep import SchedulerError, run_sweep

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.timeout(60)

# Nothing listens on port 1 here; a just-freed random port could be taken by another process first.
CLOSED = "tcp://127.0.0.1:1"

ETAS = [0.0, 1.0]
#: Short waits: each failure path below waits this long once or twice.
WAIT = 3.0


def _cluster(n_workers, protocol="tcp://", **kw):
    return distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=False, protocol=protocol,
                                    host="127.0.0.1", dashboard_address=":0", **kw)


def test_unreachable_scheduler_is_named(tiny_split, fast_params):
    address = CLOSED
    with pytest.raises(SchedulerError, match="Cannot reach the Dask scheduler at " + address):
        run_sweep(tiny_split, ["regularized"], ETAS, params=fast_params, scheduler=address, dask_timeout=WAIT)


def test_scheduler_without_workers_says_so(tiny_split, fast_params):
    with _cluster(0) as cluster:
        with pytest.raises(SchedulerError, match="has no workers"):
            run_sweep(tiny_split, ["regularized"], ETAS, params=fast_params,
                      scheduler=cluster.scheduler_address, dask_timeout=WAIT)


def test_workers_all_gone_mid_sweep_ends_and_keeps_finished_runs(tiny_split, fast_params, tmp_path):
    store = ResultStore(tmp_path)
    with _cluster(1) as cluster:
        def progress(done, total):
            if done == 1:  # the first run is stored: now every worker goes
                cluster.scale(0)

        # Unbatched: one task per run, so runs finish one at a time on the single worker (the
        # one running as the worker closes may still finish).
        with pytest.raises(SchedulerError, match=r"no workers for .* of 4 runs had finished \(kept in the store\)") as err:
            run_sweep(tiny_split, ["regularized"], [0.0, 1.0, 2.0, 3.0], params=fast_params, store=store,
                      scheduler=cluster.scheduler_address, dask_timeout=WAIT, progress=progress, batched=False)
    finished = int(str(err.value).split(" of 4 runs")[0].rsplit(" ", 1)[-1])
    assert 1 <= finished < 4 and len(store.keys()) == finished


def test_tls_cluster_on_localhost(tiny_split, fast_params):
    pytest.importorskip("cryptography")
    from distributed.security import Security

    security = Security.temporary()  # a self-signed certificate made for this test
    local = run_sweep(tiny_split, ["regularized"], ETAS, params=fast_params)
    with _cluster(1, protocol="tls://", security=security) as cluster:
        assert cluster.scheduler_address.startswith("tls://127.0.0.1:")
        remote = run_sweep(tiny_split, ["regularized"], ETAS, params=fast_params,
                           scheduler=cluster.scheduler_address, security=security, dask_timeout=WAIT)
        # Without the certificates the scheduler cannot be reached at all.
        with pytest.raises(SchedulerError, match="needs TLS certificates"):
            run_sweep(tiny_split, ["regularized"], [3.0], params=fast_params,
                      scheduler=cluster.scheduler_address, dask_timeout=WAIT)
    cols = ["run_id", "val_accuracy", "test_accuracy", "test_demographic_parity_difference"]
    pd.testing.assert_frame_equal(local.results[cols], remote.results[cols])


def _server(reply: bytes | None):
    """A TCP server on 127.0.0.1 that accepts connections and sends ``reply`` (an HTTP answer)
    or nothing at all (a port that waits for a request it never gets); its address and closer."""
    import socket
    import threading

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    held = []

    def serve():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            held.append(conn)
            if reply is not None:
                conn.sendall(reply)

    threading.Thread(target=serve, daemon=True).start()

    def close():
        sock.close()
        for conn in held:
            conn.close()

    return f"tcp://127.0.0.1:{sock.getsockname()[1]}", close


@pytest.mark.parametrize("reply", [None, b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" * 4])
def test_an_address_that_is_no_dask_scheduler_is_named(tiny_split, fast_params, reply):
    """CLI audit, session 44: the scheduler's dashboard port (answering nothing) hung the sweep for
    good despite the timeout; a port answering HTTP was reported as "out of memory (3.07 EiB)"."""
    address, close = _server(reply)
    try:
        with pytest.raises(SchedulerError, match="did not answer as a Dask scheduler|Cannot reach the Dask scheduler"):
            run_sweep(tiny_split, ["regularized"], ETAS, params=fast_params, scheduler=address, dask_timeout=WAIT)
    finally:
        close()


def test_the_environments_scheduler_is_checked_as_the_option_is(tiny_split, fast_params, monkeypatch):
    """CLI audit, session 44: --scheduler refused an http:// address, $FAIRKIT_DASK_SCHEDULER sent
    it to Dask, which reported that no scheduler answered."""
    monkeypatch.setenv("FAIRKIT_DASK_SCHEDULER", "http://127.0.0.1:8787")
    with pytest.raises(SchedulerError, match="FAIRKIT_DASK_SCHEDULER: 'http://127.0.0.1:8787' is not a Dask "
                                             "scheduler address; give tcp://HOST:PORT"):
        run_sweep(tiny_split, ["regularized"], ETAS, params=fast_params, dask_timeout=WAIT)


def _patched_worker(monkeypatch, change):
    """Make every Dask task's answer ``change(answer)`` (the client makes its task with
    ``on_worker``, looked up when a sweep starts)."""
    from fairkit import sweep as sweep_mod

    real = sweep_mod.on_worker
    monkeypatch.setattr(sweep_mod, "on_worker", lambda expected, module=None, function=None: (
        (lambda *args: change(real(expected, module, function)(*args))) if function == "fit_group"
        else real(expected, module, function)))  # the cluster's check before any task stays real


def test_a_worker_of_another_fairkit_is_refused_and_nothing_of_its_answer_stored(tiny_split, fast_params,
                                                                                 tmp_path, monkeypatch):
    """Dask audit H1, session 50: workers that had imported fairkit 0.3.1 trained a 0.3.2 sweep's
    runs, which were stored under the new revision and labelled with the client's versions."""
    from fairkit.store import RESULTS_REVISION

    def older(answer):
        answer["environment"] = {**answer["environment"], "fairkit": "0.3.1", "results_revision": RESULTS_REVISION - 1}
        return answer

    _patched_worker(monkeypatch, older)
    store = ResultStore(tmp_path)
    with _cluster(1) as cluster:
        with pytest.raises(SchedulerError, match=r"runs fairkit 0\.3\.1 \(here .*\), results revision "
                                                 rf"{RESULTS_REVISION - 1} \(here {RESULTS_REVISION}\).* 0 of 2 runs"):
            run_sweep(tiny_split, ["regularized"], ETAS, params=fast_params, store=store,
                      scheduler=cluster.scheduler_address, dask_timeout=WAIT)
    assert store.keys() == []


def test_a_worker_with_other_library_versions_is_refused(tiny_split, fast_params, monkeypatch):
    """Review of session 50: a worker with another torch was taken, its run stored under a key that
    holds this machine's versions, so a later sweep here was served a model of other libraries."""
    def other_torch(answer):
        answer["environment"] = {**answer["environment"], "torch": "9.9.9"}
        return answer

    _patched_worker(monkeypatch, other_torch)
    with _cluster(1) as cluster:
        with pytest.raises(SchedulerError, match=r"runs torch 9\.9\.9 \(here "):
            run_sweep(tiny_split, ["regularized"], ETAS, params=fast_params, scheduler=cluster.scheduler_address,
                      dask_timeout=WAIT)


def test_the_tasks_own_reading_of_its_environment_is_worker_environment(tiny_split):
    """The task reads the versions itself (an older worker has no worker_environment to call):
    the two readings agree, and a worker whose reading differs runs nothing."""
    from fairkit import sweep as sweep_mod

    calls = []

    def fake_get_worker():
        return type("W", (), {"address": "tcp://here:1"})()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("distributed.get_worker", fake_get_worker)
        patch.setattr(sweep_mod, "fit_group", lambda *args: calls.append(args) or ["done"])
        here = sweep_mod.worker_environment()
        out = sweep_mod.on_worker(here, "fairkit.sweep", "fit_group")("task", "split")
        assert out == {"worker": "tcp://here:1", "environment": here, "results": ["done"]} and len(calls) == 1
        other = sweep_mod.on_worker({**here, "fairkit": "0.0.1"}, "fairkit.sweep", "fit_group")("task", "split")
        assert other["results"] is None and len(calls) == 1  # trained nothing


def test_an_error_of_the_task_itself_is_not_blamed_on_the_scheduler(tiny_split, fast_params, monkeypatch):
    """Review of session 50: an OSError raised by a task (a worker's full disk) was reported as
    the scheduler gone."""
    def full_disk(answer):
        raise PermissionError("[Errno 13] Permission denied: '/scratch/x'")

    _patched_worker(monkeypatch, full_disk)
    with _cluster(1) as cluster:
        with pytest.raises(SchedulerError, match="failed on a Dask worker .*PermissionError"):
            run_sweep(tiny_split, ["regularized"], ETAS, params=fast_params, scheduler=cluster.scheduler_address,
                      dask_timeout=WAIT)


def test_a_worker_answering_with_runs_it_was_not_sent_is_refused_and_writes_nothing(tiny_split, fast_params,
                                                                                    tmp_path, monkeypatch):
    """Dask audit M1: a worker's answer "../../escaped_<id>" was used as a file name and written
    outside the store's runs folder."""
    def escaping(answer):
        answer["results"] = [("../../escaped_" + key, row, model) for key, row, model in answer["results"]]
        return answer

    _patched_worker(monkeypatch, escaping)
    store = ResultStore(tmp_path / "a" / "b" / "store")
    with _cluster(1) as cluster:
        with pytest.raises(SchedulerError, match="returned other runs than it was sent"):
            run_sweep(tiny_split, ["regularized"], ETAS, params=fast_params, store=store,
                      scheduler=cluster.scheduler_address, dask_timeout=WAIT)
    assert not list(tmp_path.rglob("escaped_*")) and store.keys() == []
    with pytest.raises(ValueError, match="Not a run id"):  # the store takes no path for a run id either
        store.put("../../x", {"method": "regularized"})


def test_a_run_failing_on_a_worker_is_named_with_what_was_kept(tiny_split, fast_params, tmp_path, monkeypatch):
    """Dask audit M3: a worker without lightgbm ended the sweep as an internal error (exit 1)."""
    def broken(answer):
        raise ModuleNotFoundError("No module named 'lightgbm'")

    _patched_worker(monkeypatch, broken)
    with _cluster(1) as cluster:
        with pytest.raises(SchedulerError, match=r"failed on a Dask worker .*ModuleNotFoundError: No module named "
                                                 r"'lightgbm'.*environment .* 0 of 2 runs had finished"):
            run_sweep(tiny_split, ["regularized"], ETAS, params=fast_params, store=ResultStore(tmp_path),
                      scheduler=cluster.scheduler_address, dask_timeout=WAIT)


class _Future:
    def __init__(self, status="cancelled", error=None):
        self.status, self.error = status, error

    def done(self):
        return True

    def result(self):
        raise self.error


class _Client:
    """A client whose every task comes back as ``future()`` and whose cancel fails (its
    scheduler is gone)."""

    def __init__(self, future):
        self.future, self.submitted = future, 0

    def scatter(self, data, **kw):
        return _Future(status="finished")

    def submit(self, *args, **kw):
        self.submitted += 1
        return self.future()

    def nthreads(self):
        return {"tcp://127.0.0.1:2": 1}  # a worker is always back

    def run(self, function):
        return {}  # no worker to check before the tasks

    def cancel(self, futures):
        raise RuntimeError("Client is closed")


def test_a_task_that_keeps_losing_its_worker_ends_the_sweep(tiny_split):
    """Dask audit H2: a worker its nanny restarted (out of memory) came back within the timeout
    each time, the task was sent again, and the sweep looped 118 times in 4 minutes."""
    from fairkit.sweep import MAX_TASK_LOSSES, _run_on_dask

    client = _Client(_Future)
    with pytest.raises(SchedulerError, match=f"lost its Dask worker at tcp://x {MAX_TASK_LOSSES} times"):
        _run_on_dask(client, "tcp://x", [[("run", "key")]], tiny_split, lambda *a, **k: None, None, WAIT)
    assert client.submitted == MAX_TASK_LOSSES


def test_a_lost_connection_is_a_scheduler_error_not_an_internal_one(tiny_split):
    """Dask audit M2: the scheduler killed mid-sweep ended as "internal error: ClosedClientError"
    (exit 1), the CommClosedError from a result hidden by the failing cancel."""
    from distributed.comm.core import CommClosedError

    from fairkit.sweep import _run_on_dask

    client = _Client(lambda: _Future(status="finished", error=CommClosedError("in <TCP (closed)>: Stream is closed")))
    with pytest.raises(SchedulerError, match="connection to the Dask scheduler at tcp://x failed .*CommClosedError"):
        _run_on_dask(client, "tcp://x", [[("run", "key")]], tiny_split, lambda *a, **k: None, None, WAIT)


@pytest.mark.parametrize("address", ["tcp://127.0.0.1", "tcp://127.0.0.1:abc", "tcp://", "127.0.0.1:70000", " ",
                                     "ucx://127.0.0.1:8786"])
def test_an_address_without_a_host_and_port_is_refused_before_any_connection(tiny_split, fast_params, address):
    """Dask audit L1, L3: such addresses reached Dask, which waited out the timeout and printed a
    traceback on exit; ucx:// was reported as missing TLS certificates."""
    from fairkit.sweep import scheduler_address_problem

    assert "address" in scheduler_address_problem(address)
    with pytest.raises(SchedulerError, match="scheduler address"):
        run_sweep(tiny_split, ["regularized"], ETAS, params=fast_params, scheduler=address, dask_timeout=60)
    assert scheduler_address_problem("tls://[::1]:8786") is None and scheduler_address_problem("host:8786") is None
    assert scheduler_address_problem("tcp://[fe80::1%eth0]:8786") is None  # an IPv6 zone, as Dask takes it
    with pytest.raises(SchedulerError, match="at most 86400 s"):  # Dask's clock overflowed (1e10 s)
        run_sweep(tiny_split, ["regularized"], ETAS, params=fast_params, scheduler=CLOSED, dask_timeout=1e10)


def test_a_dask_search_whose_workers_are_gone_finishes_its_trials_here(monkeypatch):
    """Dask audit M4a: a search whose Dask workers were killed finished every trial in its own
    process, then waited for the workers' tasks for good."""
    import time

    from fairkit import search
    from fairkit.sweep import WorkerWatch

    class Waiting:
        def done(self):
            return False

    class Empty:
        cancelled = False

        def nthreads(self):
            return {}

        def cancel(self, futures):
            Empty.cancelled = True

    watch = WorkerWatch(Empty(), 0.5)  # one per search, shared by its tasks
    t0 = time.monotonic()
    assert search._worker_outcome(Waiting(), watch, {}) is None and Empty.cancelled
    assert time.monotonic() - t0 >= 0.5
    t1 = time.monotonic()
    assert search._worker_outcome(Waiting(), watch, {}) is None  # given up with the first: no second wait
    assert time.monotonic() - t1 < 0.5


def test_a_search_refuses_a_cluster_of_another_environment_before_any_trial(tiny_split, fast_params, tmp_path,
                                                                            monkeypatch):
    """Review of session 50: a search's worker of another fairkit ran nothing and said so only when
    this process had trained every trial itself, and the search then ended in an error."""
    from fairkit import sweep as sweep_mod
    from fairkit.search import SearchError, run_search

    real = sweep_mod.on_worker

    def older(expected, module=None, function=None):
        inner = real(expected, module, function)

        def run(*args):
            out = inner(*args)
            out["environment"] = {**out["environment"], "fairkit": "0.0.1"}
            return out

        return run if function is None else inner  # the cluster's question before any trial

    monkeypatch.setattr(sweep_mod, "on_worker", older)
    store = ResultStore(tmp_path)
    with _cluster(1) as cluster:
        with pytest.raises(SearchError, match=r"runs fairkit 0\.0\.1 \(here "):
            run_search(tiny_split, ["regularized"], n_trials=2, params=fast_params, store=store, n_workers=2,
                       scheduler=cluster.scheduler_address)
    assert store.keys() == []
