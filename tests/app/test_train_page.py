"""The Train page through AppTest: a real (tiny) sweep in the background, and session isolation."""

from __future__ import annotations

import threading
import time

import pytest

from fairkit.estimators import postprocess
from fairkit.plots import method_label
from fairkit.sweep import ReportingStore, SweepCancelled
from ui import jobs
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
    # Methods by the name every page gives them.
    assert len(frame) == 1 + 2 * N_ETAS and set(frame["method"]) == {method_label(m) for m in METHODS}

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
    at.toggle(key="w.train.adaptive").set_value(False).run()
    assert any("runs ready" in s.value for s in at.success)
    assert any("come from the store" in c.value for c in at.caption)
    assert not at.exception


def test_small_data_warning_for_boosted_trees(fast_env):
    at = new_session()
    at.selectbox(key=state.W_BUNDLED).set_value("german").run()
    at.switch_page("views/train.py").run()
    at.multiselect(key="w.train.methods").set_value(["unconstrained", "boosting"]).run()
    warnings = [w for w in texts(at.warning) if "Fairness-constrained boosted trees" in w]
    assert len(warnings) == 1
    assert "about 10,000 training rows (this data has 600)" in warnings[0]  # German: 60 % of 1,000
    at.multiselect(key="w.train.methods").set_value(["unconstrained", "regularized"]).run()
    assert not [w for w in texts(at.warning) if "training rows" in w]


def _train_page(methods=("regularized", "threshold")):
    at = new_session()
    at.selectbox(key=state.W_BUNDLED).set_value("german").run()
    at.switch_page("views/train.py").run()
    at.multiselect(key="w.train.methods").set_value(list(methods)).run()
    assert not at.exception, at.exception
    return at


def _eta_lines(at) -> dict:
    """The 'Eta values per method' expander: method label -> its etas as shown."""
    lines = [m.value for m in at.markdown if m.value.startswith("- ")]
    return dict(line[2:].split(": ", 1) for line in lines)


def test_custom_range_says_bounded_methods_keep_their_range(fast_env):
    at = _train_page()
    at.radio(key="w.train.grid_mode").set_value("Custom range for all methods").run()
    note = [c for c in texts(at.caption) if "keep their own range" in c]
    assert len(note) == 1 and "[0, 1]" in note[0] and "Custom list per method" in note[0]
    assert _eta_lines(at)["Group thresholds (post-processing reference)"].startswith("0, ")


def test_per_method_eta_lists_are_accepted_or_refused_naming_the_method(fast_env):
    at = _train_page()
    at.radio(key="w.train.grid_mode").set_value("Custom list per method").run()
    assert at.text_input(key="w.train.etas.threshold").value.startswith("0, ")  # its own grid to start
    at.text_input(key="w.train.etas.regularized").input("0, 0.3, 3, 30").run()
    assert not at.error
    lines = _eta_lines(at)
    assert lines["Fairness-regularized network"] == "0, 0.3, 3, 30"
    assert lines["Group thresholds (post-processing reference)"].split(", ")[-1] == "1"

    # 30 is no fraction: the threshold method refuses it, by name and range, and nothing can start.
    at.text_input(key="w.train.etas.threshold").input("0, 0.3, 30").run()
    (error,) = [e.replace("\\", "") for e in texts(at.error)]  # as shown: markdown escapes dropped
    assert "Group thresholds" in error and "[0, 1]" in error and "got 30." in error
    assert "train.start" not in [b.key for b in at.button]
    at.text_input(key="w.train.etas.threshold").input("0, 0.5, x").run()
    assert any("'x' is not a number" in e and "[0, 1]" in e.replace("\\", "") for e in texts(at.error))
    at.text_input(key="w.train.etas.threshold").input("0, 0.5, 1").run()
    assert not at.error and "train.start" in [b.key for b in at.button]


def test_more_etas_than_a_method_may_train_are_refused_with_the_counts(fast_env):
    """A box of 2,001 etas: the plan's limit is said on the page, and nothing can start."""
    at = _train_page()
    at.radio(key="w.train.grid_mode").set_value("Custom list per method").run()
    at.text_input(key="w.train.etas.regularized").input(", ".join(str(i / 100) for i in range(2_001))).run()
    assert not at.exception
    assert any("2,001 etas x 1 seed are 2,001 runs, over the limit of 2,000" in e.replace("\\", "")
               for e in texts(at.error))
    assert "train.start" not in [b.key for b in at.button]


def test_an_emptied_eta_box_trains_the_grid_its_message_names(fast_env):
    """The refusal suggests emptying the box for the method's own grid, names the grid the box
    started with, and an emptied box is accepted as that grid."""
    from fairkit.methods import METHODS

    at = _train_page()
    at.radio(key="w.train.grid_mode").set_value("Custom list per method").run()
    box = at.text_input(key="w.train.etas.threshold")
    grid = box.value
    assert grid == ", ".join(f"{e:g}" for e in METHODS["threshold"].grid(at.slider(key="w.train.n_etas").value))
    box.input("0, 0.5, 2").run()
    (error,) = [e.replace("\\", "") for e in texts(at.error)]
    assert "got 2." in error and f"empty the box to use its own grid ({grid})" in error, error
    at.text_input(key="w.train.etas.threshold").input("").run()
    assert not at.error and "train.start" in [b.key for b in at.button]
    assert _eta_lines(at)["Group thresholds (post-processing reference)"] == grid
    at.text_input(key="w.train.etas.threshold").input(" , ").run()  # separators only: empty too
    assert not at.error and _eta_lines(at)["Group thresholds (post-processing reference)"] == grid


@pytest.fixture
def sweep_calls(monkeypatch):
    """run_sweep of the Train page's jobs replaced by one that records its arguments and stops."""
    calls = []

    def run_sweep(split, methods, etas, seeds, **kwargs):
        calls.append({"methods": methods, "etas": etas, "seeds": seeds, **kwargs})
        raise SweepCancelled("recorded")

    monkeypatch.setattr(jobs, "run_sweep", run_sweep)
    return calls


def test_adaptive_placement_is_the_default_and_its_settings_reach_run_sweep(fast_env, sweep_calls):
    at = _train_page(("regularized",))
    assert at.toggle(key="w.train.adaptive").value is True
    # The budget's default is the command line's, three placed runs per grid eta (a fixed 18 made
    # another sweep than the CLI's for the same visible settings: number audit, session 45).
    from fairkit.sweep import BUDGET_PER_GRID_POINT

    n_etas = at.slider(key="w.train.n_etas").value
    assert at.number_input(key="w.train.budget").value == BUDGET_PER_GRID_POINT * n_etas
    at.slider(key="w.train.n_etas").set_value(n_etas + 2).run()
    assert at.number_input(key="w.train.budget").value == BUDGET_PER_GRID_POINT * (n_etas + 2)
    at.number_input(key="w.train.spacing").set_value(0.05).run()
    at.number_input(key="w.train.budget").set_value(7).run()
    at.checkbox(key="w.train.use_tolerance").check().run()
    at.text_input(key="w.train.tolerance").input("0.03").run()
    assert any("plus up to 7 placed runs per method and seed" in m for m in texts(at.markdown))
    at.button(key="train.start").click().run()
    job = jobs.registry().get(at.session_state[ur.SWEEP_KEY])
    deadline = time.monotonic() + 30
    while not sweep_calls and time.monotonic() < deadline:
        time.sleep(0.05)
    (call,) = sweep_calls
    assert call["adaptive"] is True and call["spacing"] == 0.05 and call["budget"] == 7
    assert call["tolerance"] == 0.03 and call["methods"] == ["regularized"]
    # Runs are stored with their intervals (the slider reads them instead of bootstrapping).
    assert isinstance(call["store"], ReportingStore)
    assert job is not None


@pytest.mark.parametrize("typed, message", [("0.01, nope", "'nope' is not a number"), ("0.02, 3", "a tolerance is a validation gap of at most 1"),
                                            ("-0.1", "a tolerance is a validation gap of at least 0")])
def test_tolerances_that_cannot_apply_are_refused_with_a_message(fast_env, sweep_calls, typed, message):
    at = _train_page(("regularized",))
    at.checkbox(key="w.train.use_tolerance").check().run()
    at.text_input(key="w.train.tolerance").input(typed).run()
    assert not at.exception
    assert any(message in e.value for e in at.error)
    assert not [b for b in at.button if b.key == "train.start"]


def test_several_tolerances_reach_run_sweep(fast_env, sweep_calls):
    at = _train_page(("regularized",))
    at.checkbox(key="w.train.use_tolerance").check().run()
    at.text_input(key="w.train.tolerance").input("0.05; 0.01 0.02").run()
    assert any("bracketing validation gaps of 0.01, 0.02 and 0.05" in m for m in texts(at.markdown))
    at.button(key="train.start").click().run()
    deadline = time.monotonic() + 30
    while not sweep_calls and time.monotonic() < deadline:
        time.sleep(0.05)
    (call,) = sweep_calls
    assert call["tolerance"] == (0.01, 0.02, 0.05)

    # Off: a plain grid sweep, the spacing and budget controls gone.
    at.toggle(key="w.train.adaptive").set_value(False).run()
    assert not [n for n in at.number_input if n.key in ("w.train.spacing", "w.train.budget")]


def _progress_texts(at) -> list[str]:
    return [p.proto.text for p in at.get("progress")]


def test_run_sweep_is_disabled_while_its_sweep_runs_and_says_starting_first(fast_env, monkeypatch):
    """From the click on: the button is disabled at once (not after the next full rerun), and
    before the first progress the bar says the sweep is starting, not "0 / 0 runs done"."""
    planned, finished = threading.Event(), threading.Event()

    def run_sweep(split, *args, progress=None, should_stop=None, **kwargs):
        planned.wait(30)  # the runs are being planned and looked up in the store
        progress(1, 3)
        while not should_stop() and not finished.wait(0.02):
            pass
        raise SweepCancelled("stopped")

    monkeypatch.setattr(jobs, "run_sweep", run_sweep)
    try:
        at = _train_page(("regularized",))
        assert not at.button(key="train.start").disabled
        at.button(key="train.start").click().run()
        assert at.button(key="train.start").disabled
        assert _progress_texts(at) == ["Starting the sweep: planning the runs and reading the stored ones..."]
        job = jobs.registry().get(at.session_state[ur.SWEEP_KEY])
        assert job.starting

        planned.set()
        deadline = time.monotonic() + 30
        while job.starting and time.monotonic() < deadline:
            time.sleep(0.02)
        at.run()
        assert at.button(key="train.start").disabled
        # The page's default adaptive placement may add runs to the grid's 3: the bar says so.
        assert _progress_texts(at)[0].startswith(f"1 / 3 grid runs done (adaptive placement may then add up to "
                                                 f"{job.estimate()['refine_runs']} more)")

        at.button(key="train.cancel").click().run()
        while job.status == "running" and time.monotonic() < deadline:
            time.sleep(0.02)
        at.run()
        assert job.status == "cancelled" and not at.button(key="train.start").disabled
        assert not at.get("progress")
    finally:
        planned.set()
        finished.set()


def test_held_out_threshold_rows_reach_the_sweep_and_are_said(fast_env, monkeypatch):
    splits = []

    def run_sweep(split, methods, etas, seeds, **kwargs):
        splits.append(split)
        raise SweepCancelled("recorded")

    monkeypatch.setattr(jobs, "run_sweep", run_sweep)
    at = _train_page(("regularized", "threshold"))
    # On German's 600 training rows the thresholds fit on out-of-fold scores: not offered.
    assert not [c for c in at.checkbox if c.key == "w.train.threshold_rows"]
    monkeypatch.setattr(postprocess, "CROSSFIT_BELOW_ROWS", 500)
    at = _train_page(("regularized",))
    assert not [c for c in at.checkbox if c.key == "w.train.threshold_rows"]  # no post-processor chosen
    at.multiselect(key="w.train.methods").set_value(["regularized", "threshold"]).run()
    at.checkbox(key="w.train.threshold_rows").check().run()
    assert not at.exception, at.exception
    assert any("100 validation rows are set aside for the thresholds; every method is chosen on the other 100"
               in c for c in texts(at.caption))
    # The sizes at the top of the page are the ones the sweep chooses on.
    assert any("600 training, 100 validation (and 100 set aside for the thresholds) and 200 test rows" in m
               for m in texts(at.markdown)), texts(at.markdown)[:3]
    at.button(key="train.start").click().run()
    deadline = time.monotonic() + 30
    while not splits and time.monotonic() < deadline:
        time.sleep(0.05)
    (split,) = splits
    assert len(split.thresholds) == 100 and len(split.validation) == 100
    assert at.session_state[ur.SWEEP_SETTINGS].threshold_rows == 0.5
    # Unticked, the same methods train on the whole validation part, under another key.
    key = at.session_state[ur.SWEEP_KEY]
    at.checkbox(key="w.train.threshold_rows").uncheck().run()
    at.button(key="train.start").click().run()
    deadline = time.monotonic() + 30
    while len(splits) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert splits[1].thresholds is None and len(splits[1].validation) == 200
    assert at.session_state[ur.SWEEP_KEY] != key


def test_reserved_rows_are_drawn_for_each_spec_of_one_table():
    import dataclasses

    from fairkit.datasets import load_dataset
    from fairkit.split import split_dataset

    frame, spec = load_dataset("german")
    by_sex = dataclasses.replace(spec, sensitive=["sex"])
    plain = jobs.SweepSettings(methods=("threshold",), etas=(), seeds=(0,))
    reserved = dataclasses.replace(plain, threshold_rows=0.5)
    first, second = split_dataset(frame, spec, seed=0), split_dataset(frame, by_sex, seed=0)
    assert first.data_hash == second.data_hash  # one table
    a, b = ur.sweep_split(first, reserved), ur.sweep_split(second, reserved)
    assert a.spec == spec and b.spec == by_sex  # not the first spec's split again
    assert len(a.thresholds) == len(b.thresholds) == 100
    assert ur.sweep_split(first, plain) is first and ur.sweep_split(first, None) is first


def test_runs_an_earlier_fairkit_left_in_the_store_are_named(own_store):
    """Upgrade audit, finding 3: the dashboard's sweep says that runs an earlier fairkit stored
    are never served (their settings were trained afresh) and that their files can go."""
    import json

    from .conftest import run_tiny_sweep

    runs = own_store / "store" / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    (runs / "0ld0ld0ld0ld0ld0ld0ld0ld.json").write_text(json.dumps(
        {"format": "fairkit-run/2", "run_id": "0ld0ld0ld0ld0ld0ld0ld0ld", "record": {}}))
    at = run_tiny_sweep(new_session())
    assert any("runs ready" in s for s in texts(at.success))
    (note,) = [c for c in texts(at.caption) if "earlier fairkit" in c]
    assert note.startswith(":material/history: 1 run(s)") and "can be deleted" in note
