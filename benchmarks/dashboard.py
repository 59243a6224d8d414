"""Dashboard: responsiveness, measured with Streamlit's AppTest.

* time from choosing a dataset to the first frontier (Data -> Train -> sweep -> Trade-offs), with
  the registry's default training settings, on German and Adult;
* the first render of the Trade-offs page after the sweep (the switch from Train), and the same
  in a new session with the selected run's intervals read from its record against computed on the
  page (the Trade-offs page before issue 19's ReportingStore bootstrapped them there);
* server time per slider step along the regularized network's trade-off: every stop visited
  once (first visits: the panel reads each run's intervals from its record, which the sweep
  wrote), then repeated moves;
* the seconds :func:`fairkit.sweep.report_fields` adds to each run a dashboard sweep stores.

AppTest reruns the whole app script for every interaction, where the browser reruns only the
slider's fragment, so these figures are an upper bound on the server time of a real slider move.

Run: ``python -m benchmarks.dashboard [german,adult] [--n-etas 6]`` from the project root (the
Train page's default is 6 grid etas; the issue 19 figures used 4).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from .common import add_out_argument, out_dir, report

# The project root, where the dashboard's app.py lives.
ROOT = Path(__file__).resolve().parents[1]
#: The slider's server-time target, printed beside the measured moves.
SLIDER_TARGET_MS = 150
#: Target of the Trade-offs page's first render after a sweep (issue 20: 11.1 s before).
FIRST_RENDER_TARGET_S = 2.0


def _swept(dataset: str, n_etas: int):
    """A new session (AppTest) that chose ``dataset`` and ran the Train page's sweep, on the Train page."""
    from streamlit.testing.v1 import AppTest

    from ui import state

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.run()
    at.selectbox(key=state.W_BUNDLED).set_value(dataset).run()
    at.switch_page("views/train.py").run()
    at.multiselect(key="w.train.methods").set_value(["unconstrained", "regularized", "threshold"]).run()
    at.slider(key="w.train.n_etas").set_value(n_etas).run()
    at.button(key="train.start").click().run()
    while not any("runs ready" in s.value for s in at.success):
        if at.exception or any("failed" in e.value for e in at.error):
            raise RuntimeError(f"sweep failed: {at.exception or [e.value for e in at.error]}")
        time.sleep(0.5)
        at.run()
    return at


def _render_tradeoffs(at) -> float:
    """Seconds of the switch to the Trade-offs page (one full run of its script)."""
    t = time.perf_counter()
    at.switch_page("views/tradeoffs.py").run()
    assert not at.exception, at.exception
    return time.perf_counter() - t


def _new_session_render(dataset: str, n_etas: int, *, stored: bool) -> float:
    """The first render of Trade-offs in a new session on the stored sweep: the selected run's
    intervals read from its record (``stored``) or bootstrapped on the page, as before the
    sweep stored them (the page's fallback for runs stored without them)."""
    from ui import tradeoffs as ut

    at = _swept(dataset, n_etas)  # every run comes from the store
    has = ut.has_intervals
    if not stored:
        ut.run_metrics.clear()
        ut.has_intervals = lambda row: False
    try:
        return _render_tradeoffs(at)
    finally:
        ut.has_intervals = has


def measure(dataset: str, n_etas: int = 4) -> dict:
    """Seconds to the first frontier and milliseconds per slider move on one bundled dataset."""
    from ui import results as ur
    from ui import tradeoffs as ut

    home = tempfile.mkdtemp(prefix="fk-bench-")
    os.environ["FAIRKIT_HOME"] = home
    os.environ.pop("FAIRKIT_FAST_TRAINING", None)
    t0 = time.perf_counter()
    at = _swept(dataset, n_etas)
    first_render = _render_tradeoffs(at)
    first_frontier = time.perf_counter() - t0
    settings = at.session_state[ur.SWEEP_SETTINGS]
    stops = _stops(at)
    bootstraps = []  # panel intervals computed by a step instead of read from the record
    computed = ut.run_metrics
    ut.run_metrics = lambda *a, **k: (bootstraps.append(a[1]), computed(*a, **k))[1]
    # First visits: every stop once, as a user sliding along the trade-off meets them. The panel
    # reads each run's stored intervals (the sweep computed them), so no step bootstraps.
    first = []
    for v in stops:
        t = time.perf_counter()
        at.select_slider(key=ut.W_ETA).set_value(v).run()
        first.append(time.perf_counter() - t)
    moves = []
    for i in range(12):
        v = stops[i % len(stops)]
        t = time.perf_counter()
        at.select_slider(key=ut.W_ETA).set_value(v).run()
        moves.append(time.perf_counter() - t)
    ut.run_metrics = computed
    assert not at.exception, at.exception
    runs = len(ur.result_store().keys())
    # Side by side in this run: a new session's first render, intervals stored vs computed on the page.
    stored = _new_session_render(dataset, n_etas, stored=True)
    on_page = _new_session_render(dataset, n_etas, stored=False)
    return {"dataset": dataset, "grid_etas": n_etas, "adaptive": settings.adaptive, "runs": runs,
            "stops": len(stops), "steps_that_bootstrapped": len(bootstraps),
            "upload_to_first_frontier_s": first_frontier,
            "tradeoffs_first_render_s": first_render, "new_session_render_s": stored,
            "new_session_render_bootstrapped_s": on_page, "bootstrapped_vs_stored": on_page / stored,
            "first_visit_ms_median": 1000 * statistics.median(first), "first_visit_ms_max": 1000 * max(first),
            "slider_move_ms_median": 1000 * statistics.median(moves), "slider_move_ms_max": 1000 * max(moves),
            "report_fields_s_per_run": _report_seconds(dataset, home)}


def _stops(at) -> list[float]:
    """The eta slider's values in slider order (each label ends with its eta)."""
    from ui import tradeoffs as ut

    return [float(re.search(r"\(eta ([^)]+)\)$", label).group(1))
            for label in at.select_slider(key=ut.W_ETA).options]


def _report_seconds(dataset: str, home: str) -> float:
    """Median seconds of :func:`fairkit.sweep.report_fields` (the intervals a dashboard sweep
    adds to each run as it stores it) over three of the benchmark's stored runs."""
    from fairkit.datasets import load_dataset
    from fairkit.split import split_dataset
    from fairkit.store import ResultStore
    from fairkit.sweep import report_fields

    frame, spec = load_dataset(dataset)
    split = split_dataset(frame, spec, seed=0)
    store = ResultStore(Path(home) / "store")
    times = []
    for key in store.keys()[:3]:
        model = store.load_model(key)
        t = time.perf_counter()
        report_fields(model, split)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None) -> int:
    """``python -m benchmarks.dashboard``: each dataset measured, the table printed and saved; returns 0."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.dashboard", description=__doc__.split("\n")[0])
    p.add_argument("datasets", nargs="?", default="german,adult", help="comma-separated bundled datasets")
    p.add_argument("--n-etas", type=int, default=4, help="grid etas per method (the Train page's default is 6)")
    add_out_argument(p)
    args = p.parse_args(argv)
    table = pd.DataFrame([measure(n, args.n_etas) for n in args.datasets.split(",") if n])
    table["slider target (ms)"] = SLIDER_TARGET_MS
    table["first render target (s)"] = FIRST_RENDER_TARGET_S
    report("Dashboard responsiveness (AppTest)", table, out_dir(args.out), "dashboard", float_format="{:.1f}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
