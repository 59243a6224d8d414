"""The Lagrangian trainer's 8-bound sweep against the regularized network's 8-eta sweep (issue 21).

``python -m benchmarks.lagrangian [--repeats N] [--dataset adult]``

Both sweeps are ``run_sweep`` on the registry's 8-point grids (no adaptive placement), one thread,
alternating in one process; the Lagrangian also one bound at a time (``batched=False``), the way
it trained before its bounds were stacked. Wall and CPU seconds (CPU moves less with other load
on a shared machine) after a warm-up sweep, their ratios to the regularized sweep, and each sweep's validation front
(accuracy and DP difference per eta).
"""

from __future__ import annotations

import argparse
import time
import warnings

import pandas as pd

from .common import limit_threads, load_split, out_dir, report


def time_sweeps(split, repeats: int = 1) -> pd.DataFrame:
    """One row per (repeat, sweep): wall and CPU seconds and the validation figures."""
    from fairkit.methods import get_method
    from fairkit.sweep import run_sweep

    rows = []
    # The first sweep of a process pays torch's one-off costs (kernels, allocator): a small
    # warm-up keeps them out of the first timed sweep.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_sweep(split, ["regularized"], [0.0, 1.0], adaptive=False, keep_models=False,
                  params={"regularized": {"max_steps": 20}})
    for rep in range(repeats):
        for method, batched in (("regularized", True), ("lagrangian", True), ("lagrangian", False)):
            t0, c0 = time.perf_counter(), time.process_time()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = run_sweep(split, [method], get_method(method).grid(8), adaptive=False, batched=batched,
                                keep_models=False)
            r = res.results
            rows.append({"repeat": rep, "sweep": f"{method} ({'stacked' if batched else 'one at a time'})",
                         "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                         "val_accuracy": " ".join(f"{v:.3f}" for v in r["val_accuracy"]),
                         "val_dp": " ".join(f"{v:.3f}" for v in r["val_demographic_parity_difference"])})
    table = pd.DataFrame(rows)
    base = table[table["sweep"].str.startswith("regularized")].set_index("repeat")
    table["wall / regularized"] = table["wall_s"] / table["repeat"].map(base["wall_s"])
    table["cpu / regularized"] = table["cpu_s"] / table["repeat"].map(base["cpu_s"])
    return table


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.lagrangian", description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="adult")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--out", default="benchmarks/results/lagrangian")
    args = p.parse_args(argv)
    limit_threads(1)
    report(f"Lagrangian vs regularized sweep ({args.dataset}, 8 etas, one thread)",
           time_sweeps(load_split(args.dataset), args.repeats), out_dir(args.out), "lagrangian")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
