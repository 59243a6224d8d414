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
