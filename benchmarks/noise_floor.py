"""What the chance gap costs on large tables: the shuffles measured in chunks, against all at once.

``python -m benchmarks.noise_floor [--rows 200000] [--n-sim 200]`` draws ``--rows`` rows from
Adult (with replacement), scores them with a fixed noisy rule, and runs
:func:`fairkit.metrics.gap_noise_floor` (what an export and the Trade-offs panel run on the
validation part) twice in one process: with the kernel's shuffles measured a chunk at a time
(``metrics.SIM_BYTES``, the default) and all in one call (the budget raised past the table,
as before the scale audit of 2026-12-06). Both give the same figures (checked); the table has
each side's wall time and peak traced memory (tracemalloc), and their ratios.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
import pandas as pd

from .common import add_out_argument, limit_threads, out_dir, report


def _measure(fn):
    tracemalloc.start()
    t0 = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return value, seconds, peak / 2**30


def compare(rows: int, n_sim: int) -> pd.DataFrame:
    from fairkit import metrics
    from fairkit.datasets import load_dataset

    frame, spec = load_dataset("adult")
    big = frame.sample(rows, replace=True, random_state=1).reset_index(drop=True)
    y = (big[spec.target].astype(str).str.strip(".") == ">50K").to_numpy().astype(int)
    score = np.random.default_rng(1).random(rows) * 0.6 + 0.4 * y
    groups = big[list(spec.sensitive)]
    run = lambda: metrics.gap_noise_floor(y, score, groups, n_sim=n_sim, random_state=0)  # noqa: E731
    chunked, chunk_s, chunk_gib = _measure(run)
    kept = metrics.SIM_BYTES
    metrics.SIM_BYTES = 1 << 62  # one call for every shuffle
    try:
        whole, whole_s, whole_gib = _measure(run)
    finally:
        metrics.SIM_BYTES = kept
    pd.testing.assert_frame_equal(chunked, whole)
    return pd.DataFrame([{"rows": rows, "n_sim": n_sim, "chunked_s": chunk_s, "one_call_s": whole_s,
                          "time_ratio": chunk_s / whole_s, "chunked_gib": chunk_gib, "one_call_gib": whole_gib,
                          "memory_ratio": chunk_gib / whole_gib}])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.noise_floor", description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=200_000, help="rows drawn from Adult (default 200,000)")
    p.add_argument("--n-sim", type=int, default=200, help="shuffles (default 200, the engine's)")
    add_out_argument(p)
    args = p.parse_args(argv)
    limit_threads(1)
    report(f"The chance gap on {args.rows:,} rows ({args.n_sim} shuffles)", compare(args.rows, args.n_sim),
           out_dir(args.out), "noise_floor", float_format="{:.3g}")


if __name__ == "__main__":
    main()
