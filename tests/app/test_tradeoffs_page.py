"""The Trade-offs page through AppTest: axes, the eta slider, the side panel, chart clicks and
recording a selection."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.elements.plotly_chart import PlotlySelectionState, PlotlyState

from fairkit.audit import AuditLog
from ui import results as ur
from ui import tradeoffs as ut

from .conftest import texts


@pytest.fixture
def tradeoffs(trained):
    trained.switch_page("views/tradeoffs.py").run()
    assert not trained.exception, trained.exception
    return trained


def panel(at) -> pd.DataFrame:
    tables = [t for t in at.table if t.proto.alt == ut.METRICS_ALT]
    assert len(tables) == 1
    return tables[0].value.set_index("Metric")


def test_slider_moves_change_the_side_panel(tradeoffs):
    at = tradeoffs
    # Default: the first method that sweeps eta, at its smallest eta.
    assert at.selectbox(key=ut.W_METHOD).value == "regularized"
    slider = at.select_slider(key=ut.W_ETA)
    assert slider.value == 0.0 and slider.options == ["0", "0.05", "1", "20"]
    first_run = at.session_state[ur.SELECTED_RUN]
    before = panel(at)
    assert list(before.columns) == ["Validation", "Test", "Change vs unconstrained (test)"]
    # Intervals from the bootstrap: "value [low, high]"; eta 0 is the unconstrained network.
    assert before.loc["Accuracy", "Test"].count("[") == 1
    assert before.loc["Demographic parity difference", "Validation"].count("[") == 1
    assert before.loc["Accuracy", "Change vs unconstrained (test)"] == "+0.000"
    assert "Does not need the sensitive attribute at prediction time." in texts(at.success)
    assert not any("tells almost nobody apart" in w for w in texts(at.warning))

    at.select_slider(key=ut.W_ETA).set_value(20.0).run()
    after = panel(at)
    # On German the fast network at eta 20 approves every validation row (its recorded selection
    # rate): the panel says its zero gap is no evidence of fair treatment.
    rate = ur.result_store().records([at.session_state[ur.SELECTED_RUN]])["val_selection_rate"].iloc[0]
    assert rate == 1.0
    assert any("every validation row the positive decision" in w for w in texts(at.warning))
    assert at.session_state[ur.SELECTED_RUN] != first_run
    assert after.loc["Demographic parity difference", "Test"] != before.loc["Demographic parity difference", "Test"]
    assert after.loc["Demographic parity difference", "Change vs unconstrained (test)"].startswith("-")

    # The threshold reference: the slider snaps to its own etas and the panel flags the attribute.
    at.selectbox(key=ut.W_METHOD).set_value("threshold").run()
    assert at.select_slider(key=ut.W_ETA).options == ["0", "0.1", "0.55", "1"]
    assert any("Needs the sensitive attribute" in w for w in texts(at.warning))
    assert at.session_state[ur.SELECTED_RUN] not in (first_run,)
    assert not at.exception


def test_axes_and_tolerance(tradeoffs):
    at = tradeoffs
    at.selectbox(key=ut.W_UNFAIRNESS).set_value("disparate_impact_gap").run()
    at.number_input(key=ut.W_TOLERANCE).set_value(0.05).run()
    assert any(m.startswith("1 - disparate impact ratio:") and "tolerance 0.05" in m
               for m in texts(at.markdown))
    at.selectbox(key=ut.W_PERFORMANCE).set_value("roc_auc").run()
    assert not at.exception


def test_record_selection_needs_a_name(tradeoffs, fast_env):
    at = tradeoffs
    at.button(key="tradeoffs.record").click().run()
    assert any("Enter your name" in e for e in texts(at.error))
    assert AuditLog().entries(kind="selection").empty

    at.select_slider(key=ut.W_ETA).set_value(1.0).run()
    at.text_input(key=ut.W_ACTOR).input("Ana Analyst").run()
    at.text_input(key=ut.W_NOTE).input("best under 0.1").run()
    at.button(key="tradeoffs.record").click().run()
    assert any("Selection recorded" in s for s in texts(at.success))
    log = AuditLog().entries(kind="selection")
    assert len(log) == 1
    entry = log.iloc[0]
    assert entry.actor == "Ana Analyst" and entry.subject == at.session_state[ur.SELECTED_RUN]
    assert entry.details["method"] == "regularized" and entry.details["eta"] == 1.0
    assert entry.details["note"] == "best under 0.1" and entry.details["dataset"] == "german"


class _FakeState(dict):
    def __getattr__(self, name):
        return self[name]


def test_chart_click_selects_the_run_and_moves_the_widgets(tradeoffs, monkeypatch):
    """A click on a marker arrives as the chart's selection state (customdata [run_id, method,
    eta]); the callback makes that run the selection and moves the selectbox and slider."""
    frame = _results()
    target = frame[(frame.method == "threshold") & (frame.eta == 0.55)].iloc[0]
    state = _FakeState()
    state[ut.CHART_KEY] = PlotlyState({"selection": PlotlySelectionState({
        "points": [{"curve_number": 5, "customdata": []},  # the highlight ring: ignored
                   {"curve_number": 1, "customdata": [target.run_id, "threshold", "0.55"]}],
        "point_indices": [], "box": [], "lasso": []})})
    monkeypatch.setattr(ut.st, "session_state", state)
    ut.on_chart_select(frame)
    assert state[ur.SELECTED_RUN] == target.run_id
    assert state[ut.W_METHOD] == "threshold" and state[ut.W_ETA] == 0.55


def _results() -> pd.DataFrame:
    """The trained runs (the test store holds only the tiny German sweep)."""
    from ui.jobs import result_store

    return result_store().records()


def test_one_decision_note():
    assert "every validation row the negative decision" in ut.one_decision_note({"val_selection_rate": 0.0})
    assert "99.5% of validation rows the positive decision" in ut.one_decision_note({"val_selection_rate": 0.995})
    assert ut.one_decision_note({"val_selection_rate": 0.5}) is None
    assert ut.one_decision_note({"val_selection_rate": 0.02}) is None
    # Runs stored before the selection rate was recorded.
    assert ut.one_decision_note({}) is None and ut.one_decision_note({"val_selection_rate": float("nan")}) is None
