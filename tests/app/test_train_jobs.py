"""A sweep shared by two browser sessions: only the one that started it can cancel it (issue 18)."""

from __future__ import annotations

import threading
import time

import pytest

from fairkit.sweep import SweepCancelled
from ui import jobs
from ui import results as ur
from ui import state

from .conftest import new_session


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
        progress(0, 3)
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
