"""Issue #7 benchmark: dashboard responsiveness, measured with Streamlit's AppTest.

* time from choosing a dataset to the first frontier (Data -> Train -> sweep -> Trade-offs), with
  the registry's default training settings, on German and Adult;
* server time per eta-slider move on cached results (each eta visited once first, so its
  bootstrap intervals are cached, then timed moves between visited values).

AppTest reruns the whole app script for every interaction, where the browser reruns only the
slider's fragment, so these figures are an upper bound on the server time of a real slider move.

Run: ``python benchmarks/bench_dashboard.py [german,adult]``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def measure(dataset: str) -> dict:
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


if __name__ == "__main__":
    import pandas as pd

    names = sys.argv[1].split(",") if len(sys.argv) > 1 else ["german", "adult"]
    table = pd.DataFrame([measure(n) for n in names])
    table["slider target (ms)"] = 150
    with pd.option_context("display.width", 160, "display.float_format", "{:.1f}".format):
        print(table.to_string(index=False))
