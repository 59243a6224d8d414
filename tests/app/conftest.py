"""Shared set-up for AppTest tests of the dashboard.

``trained`` gives an AppTest whose session has German credit chosen on the Data page and a tiny
sweep finished on the Train page (2 methods x 4 etas plus the unconstrained reference). Sweeps
use the ``FAIRKIT_FAST_TRAINING=1`` hook (see ``ui/results.py``: every network is a logistic
model trained for 20 epochs), and ``FAIRKIT_HOME`` is a temporary folder per test whose ``store`` is shared by the session.
"""

from __future__ import annotations

import base64
import time

import numpy as np
import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from ui import jobs
from ui import results as ur
from ui import state

TIMEOUT = 60  # seconds per run; the first run imports pandas, sklearn and the engine
SWEEP_TIMEOUT = 120
METHODS = ["unconstrained", "regularized", "threshold"]
N_ETAS = 4


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def wait_for_sweep(at: AppTest, timeout: float = SWEEP_TIMEOUT) -> AppTest:
    """Rerun the Train page until the background sweep's results are shown."""
    deadline = time.monotonic() + timeout
    # Wait on the job itself, drawing nothing: every redraw is a full run of the page script,
    # which competes with the sweep's thread for the interpreter (half an app test's time).
    key = at.session_state[ur.SWEEP_KEY] if ur.SWEEP_KEY in at.session_state else None
    job = jobs.registry().get(key) if key else None
    if job is not None:
        while job.status == "running" and time.monotonic() < deadline:
            time.sleep(0.05)
        at.run()
    while not any("runs ready" in s for s in texts(at.success)):
        assert not at.exception, at.exception
        assert not any("sweep failed" in e for e in texts(at.error)), texts(at.error)
        if time.monotonic() > deadline:
            pytest.fail(f"The sweep did not finish within {timeout:.0f} s")
        time.sleep(0.5)
        at.run()
    # Stored runs are shown at once; the background job (which logs the sweep) may still be
    # finishing: wait for it too.
    key = at.session_state[ur.SWEEP_KEY] if ur.SWEEP_KEY in at.session_state else None
    job = jobs.registry().get(key) if key else None
    if job is None:
        return at
    while job.status == "running":
        if time.monotonic() > deadline:
            pytest.fail(f"The sweep job did not finish within {timeout:.0f} s")
        time.sleep(0.05)
    # The page last drawn may have been drawn while the job was still running (its Run button
    # disabled), even when the job has finished by the time it is looked up here: draw it again,
    # as a user's next interaction would.
    return at.run()


def run_tiny_sweep(at: AppTest, methods=METHODS, n_etas: int = N_ETAS, adaptive: bool = False, *,
                   seeds: int = 1, tolerances: str | None = None) -> AppTest:
    """Choose German on the Data page, then train ``methods`` with ``n_etas`` etas each (the
    grid only unless ``adaptive``: the page's default adaptive placement adds etas), for
    ``seeds`` seeds, bracketing ``tolerances`` (as typed in the Train page's box) when given."""
    set_up_tiny_sweep(at, methods, n_etas, adaptive, seeds=seeds, tolerances=tolerances)
    at.button(key="train.start").click().run()
    assert not at.exception, at.exception
    return wait_for_sweep(at)


def set_up_tiny_sweep(at: AppTest, methods=METHODS, n_etas: int = N_ETAS, adaptive: bool = False, *,
                      seeds: int = 1, tolerances: str | None = None) -> AppTest:
    """:func:`run_tiny_sweep`'s settings on the Train page, the sweep not started."""
    at.selectbox(key=state.W_BUNDLED).set_value("german").run()
    assert not at.exception, at.exception
    at.switch_page("views/train.py").run()
    at.multiselect(key="w.train.methods").set_value(list(methods)).run()
    at.slider(key="w.train.n_etas").set_value(n_etas).run()
    at.toggle(key="w.train.adaptive").set_value(adaptive).run()
    if seeds != 1:
        at.number_input(key="w.train.seeds").set_value(seeds).run()
    if tolerances is not None:
        at.checkbox(key="w.train.use_tolerance").check().run()
        at.text_input(key="w.train.tolerance").input(tolerances).run()
    return at


def export_selected(at: AppTest, home, rationale: str, calibration: str | None = None):
    """Export the selected run from the Export page (decider "D", ``rationale``, with group
    calibration ``calibration`` when given); the bundle's path (the only one under ``home/exports``)."""
    at.switch_page("views/export.py").run()
    at.text_input(key="w.export.decider").input("D").run()
    at.text_area(key="w.export.rationale").input(rationale).run()
    if calibration is not None:
        at.radio(key="w.export.calibration").set_value(calibration).run()
    at.button(key="export.go").click().run()
    assert not at.exception, at.exception
    (saved,) = (home / "exports").glob("*.zip")
    return saved


def export_calibrated(at: AppTest, home, method: str = "platt"):
    """:func:`export_selected` with group calibration ``method``."""
    return export_selected(at, home, "Calibrated per group.", method)


@pytest.fixture(autouse=True)
def page_errors_raise():
    """A failing page raises (``at.exception``) instead of app.py's plain message for users:
    .streamlit/config.toml sets client.showErrorDetails = "none" for them (see app.py)."""
    config.set_option("client.showErrorDetails", "full")


@pytest.fixture(scope="session")
def shared_store(tmp_path_factory):
    """One result store for the whole session: the tiny sweep trains once."""
    return tmp_path_factory.mktemp("fairkit_store")


@pytest.fixture
def fast_env(shared_store, tmp_path, monkeypatch):
    """A fresh FAIRKIT_HOME per test (its own audit log and exports) sharing the trained runs,
    and the fast-training hook."""
    (tmp_path / "store").symlink_to(shared_store, target_is_directory=True)
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path))
    monkeypatch.setenv("FAIRKIT_FAST_TRAINING", "1")
    return tmp_path


@pytest.fixture
def own_store(fast_env):
    """``fast_env`` with a result store of its own: runs a test trains stay out of the shared
    store, whose tests read every run in it."""
    (fast_env / "store").unlink()
    (fast_env / "store").mkdir()
    return fast_env


def new_session() -> AppTest:
    """A new browser session on the app (the Data page drawn)."""
    at = AppTest.from_file("../../app.py", default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def trained(fast_env) -> AppTest:
    """A session with German chosen and a tiny sweep done (runs come from the shared store
    after the session's first sweep, so later tests start in a few seconds)."""
    return run_tiny_sweep(new_session())


def chart_array(value) -> np.ndarray:
    """A trace's array from a chart's JSON (Plotly writes numeric arrays as typed base64)."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    return np.asarray(value)
