"""Dashboard: responsiveness, measured with Streamlit's AppTest.

* time from choosing a dataset to the first frontier (Data -> Train -> sweep -> Trade-offs), with
  the registry's default training settings, on German and Adult;
* server time per eta-slider move on cached results (each eta visited once first, so its
  bootstrap intervals are cached, then timed moves between visited values).

AppTest reruns the whole app script for every interaction, where the browser reruns only the
slider's fragment, so these figures are an upper bound on the server time of a real slider move.

Run: ``python -m benchmarks.dashboard [german,adult]`` from the project root.
"""

from __future__ import annotations

import argparse
import os
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


def measure(dataset: str) -> dict:
    """Seconds to the first frontier and milliseconds per slider move on one bundled dataset."""
    from streamlit.testing.v1 import AppTest

    from ui import state
    from ui import tradeoffs as ut

    home = tempfile.mkdtemp(prefix="fk-bench-")
    os.environ["FAIRKIT_HOME"] = home
    os.environ.pop("FAIRKIT_FAST_TRAINING", None)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.run()
    t0 = time.perf_counter()
    at.selectbox(key=state.W_BUNDLED).set_value(dataset).run()
    at.switch_page("views/train.py").run()
    at.multiselect(key="w.train.methods").set_value(["unconstrained", "regularized", "threshold"]).run()
    at.slider(key="w.train.n_etas").set_value(4).run()
    at.button(key="train.start").click().run()
    while not any("runs ready" in s.value for s in at.success):
        if at.exception or any("failed" in e.value for e in at.error):
            raise RuntimeError(f"sweep failed: {at.exception or [e.value for e in at.error]}")
        time.sleep(0.5)
        at.run()
    at.switch_page("views/tradeoffs.py").run()
    first_frontier = time.perf_counter() - t0
    options = [float(o) for o in at.select_slider(key=ut.W_ETA).options]
    for v in options:  # warm: bootstrap intervals of every run computed once
        at.select_slider(key=ut.W_ETA).set_value(v).run()
    moves = []
    for i in range(12):
        v = options[i % len(options)]
        t = time.perf_counter()
        at.select_slider(key=ut.W_ETA).set_value(v).run()
        moves.append(time.perf_counter() - t)
    assert not at.exception, at.exception
    return {"dataset": dataset, "upload_to_first_frontier_s": first_frontier,
            "slider_move_ms_median": 1000 * statistics.median(moves), "slider_move_ms_max": 1000 * max(moves)}


def main(argv=None) -> int:
    """``python -m benchmarks.dashboard``: each dataset measured, the table printed and saved; returns 0."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.dashboard", description=__doc__.split("\n")[0])
    p.add_argument("datasets", nargs="?", default="german,adult", help="comma-separated bundled datasets")
    add_out_argument(p)
    args = p.parse_args(argv)
    table = pd.DataFrame([measure(n) for n in args.datasets.split(",") if n])
    table["slider target (ms)"] = SLIDER_TARGET_MS
    report("Dashboard responsiveness (AppTest)", table, out_dir(args.out), "dashboard", float_format="{:.1f}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
