"""The Train page through AppTest: a real (tiny) sweep in the background, and session isolation."""

from __future__ import annotations

from ui import results as ur
from ui import state

from .conftest import METHODS, N_ETAS, new_session, texts


def test_needs_data_first(fast_env):
    at = new_session()
    at.radio(key="w.data.source").set_value("Upload CSV/Parquet").run()
    at.switch_page("views/train.py").run()
    assert any("Data page first" in i for i in texts(at.info))
    assert not at.button


def test_sweep_runs_and_results_stay_in_this_session(trained):
    at = trained
    settings = at.session_state[ur.SWEEP_SETTINGS]
    assert settings.methods == tuple(METHODS)
    assert dict(settings.etas)["regularized"] == (0.0, 0.05, 1.0, 20.0)
    assert dict(settings.params)["regularized"] == ur.FAST_PARAMS  # the test hook is recorded
    assert "9 runs ready." in texts(at.success)
    assert any("Test mode" in c for c in texts(at.caption))
    frame = at.dataframe[0].value
    assert len(frame) == 1 + 2 * N_ETAS and set(frame["method"]) == set(METHODS)

    # The same settings again come back from the store at once.
    at.button(key="train.start").click().run()
    assert "9 runs ready." in texts(at.success)

    # Another browser session on the same data sees no results until it runs its own sweep.
    other = new_session()
    other.selectbox(key="w.data.bundled").set_value("german").run()
    other.switch_page("views/tradeoffs.py").run()
    assert any("Run a sweep on the Train page" in i for i in texts(other.info))
    assert ur.SWEEP_SETTINGS not in other.session_state


def test_changing_the_data_hides_the_old_sweep(trained):
    at = trained
    at.switch_page("views/data.py").run()
    at.selectbox(key="w.data.bundled").set_value("compas").run()
    at.switch_page("views/tradeoffs.py").run()
    assert any("Run a sweep" in i for i in texts(at.info))


def test_stored_results_come_back_after_a_reload(trained):
    """A new session (a browser reload) with the same data and settings sees the stored runs
    without training again."""
    at = new_session()
    at.selectbox(key=state.W_BUNDLED).set_value("german").run()
    at.switch_page("views/train.py").run()
    at.multiselect(key="w.train.methods").set_value(list(METHODS)).run()
    at.slider(key="w.train.n_etas").set_value(N_ETAS).run()
    assert any("runs ready" in s.value for s in at.success)
    assert any("come from the store" in c.value for c in at.caption)
    assert not at.exception


def test_small_data_warning_for_boosted_trees(fast_env):
    at = new_session()
    at.selectbox(key=state.W_BUNDLED).set_value("german").run()
    at.switch_page("views/train.py").run()
    at.multiselect(key="w.train.methods").set_value(["unconstrained", "boosting"]).run()
    warnings = [w for w in texts(at.warning) if "Fairness-regularized boosted trees" in w]
    assert len(warnings) == 1
    assert "about 10,000 training rows (this data has 600)" in warnings[0]  # German: 60 % of 1,000
    at.multiselect(key="w.train.methods").set_value(["unconstrained", "regularized"]).run()
    assert not [w for w in texts(at.warning) if "training rows" in w]
