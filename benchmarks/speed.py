"""Speed and scale: an eta sweep against one model and against EG; generated data up to 200k rows."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .common import BOUNDS, DP, fairlearn_eg_runs, own_peak_mib, ratio

# The project root: the scale runs' subprocesses import this package from there.
_ROOT = Path(__file__).resolve().parents[1]


def compare_sweep_speed(split, *, n_etas=16, eg_bounds=None, eg_table=None, params=None,
                        eta_hi=10.0, repeats=3) -> pd.DataFrame:
    """A ``n_etas`` regularized sweep vs one model vs EG at ``n_etas`` bounds.

    ``batched_with`` tells whether ``run_sweep`` trained the etas as one batched model (its
    current default) or one after another (1). The one-model fit and the sweep run back to back
    in this process, ``repeats`` times each (medians reported, with the fastest and slowest
    sweep beside them); EG fits are timed in
    the same process (``eg_table`` reuses fits measured in the same run). When ``eg_bounds`` has
    fewer than ``n_etas`` bounds, the EG total is extrapolated from the mean fit time (marked).
    """
    from fairkit.methods import eta_grid
    from fairkit.sweep import run_sweep

    grid = eta_grid(0.05, eta_hi, n_etas)  # 0 plus n_etas-1 log-spaced values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Pay one-off costs (the first torch optimizer imports torch._dynamo, ~3 s) before
        # timing, so they are charged to neither side.
        from fairkit.estimators import FairRegularizedClassifier
        from fairkit.estimators.batched import fit_eta_batch
        quick = FairRegularizedClassifier(max_epochs=1, batch_size=4096, random_state=0)
        quick.fit(split.train.X, split.train.y)
        fit_eta_batch(quick, [0.0, 1.0], split.train.X, split.train.y)  # the batched path's one-offs
        ones, fulls = [], []
        # Alternating repeats, median of each: on this shared VM one timing moves by a quarter,
        # and the first runs after a long other job (the EG fits) are the slowest.
        for _ in range(repeats):
            t0 = time.perf_counter()
            run_sweep(split, ["regularized"], [1.0], [0], params=params, keep_models=False)
            ones.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            sweep = run_sweep(split, ["regularized"], grid, [0], params=params, keep_models=False)
            fulls.append(time.perf_counter() - t0)
        one, full = float(np.median(ones)), float(np.median(fulls))
    eg_bounds = BOUNDS[:n_etas] if eg_bounds is None else eg_bounds
    eg = eg_table if eg_table is not None else fairlearn_eg_runs(split, eg_bounds, [0])
    eg_fits = eg["fit_seconds"].dropna()
    extrapolated = len(eg_fits) < n_etas
    eg_total = float(eg_fits.mean() * n_etas) if extrapolated else float(eg_fits.sum())
    return pd.DataFrame([{
        "n_etas": len(grid), "repeats": repeats, "sweep_wall_s": full, "sweep_wall_min_s": min(fulls),
        "sweep_wall_max_s": max(fulls), "sweep_fit_s_sum": float(sweep.results.fit_seconds.sum()),
        "one_model_wall_s": one, "sweep_over_one_model": ratio(full, one),
        "eg_fits_measured": len(eg_fits), "eg_total_s": eg_total, "eg_total_extrapolated": extrapolated,
        "eg_over_sweep": ratio(eg_total, full),
        "batched_with": int(sweep.results["batched_with"].max()) if "batched_with" in sweep.results else 1,
    }])


def make_synthetic(n_rows: int, n_cols: int = 40, seed: int = 0):
    """A generated binary task: ``n_cols`` columns incl. 4 categorical and a 2-group attribute.

    Returns
    -------
    frame : DataFrame
        ``n_cols - 5`` numeric columns, 4 categorical, ``group`` ("A"/"B") and ``label`` (0/1).
    spec : fairkit.data.DatasetSpec
    """
    from fairkit.data import DatasetSpec

    rng = np.random.default_rng(seed)
    n_num = n_cols - 5
    group = rng.random(n_rows) < 0.35
    X = rng.normal(size=(n_rows, n_num)).astype(np.float32)
    X[:, :3] += 0.6 * group[:, None]  # proxies of the group
    w = rng.normal(size=n_num) / np.sqrt(n_num)
    logit = X @ w + 0.8 * group - 0.3
    cats = {f"c{j}": rng.choice(list("abcdef"), n_rows) for j in range(4)}
    logit += np.where(cats["c0"] == "a", 0.7, 0.0)
    y = (rng.random(n_rows) < 1 / (1 + np.exp(-2 * logit))).astype(int)
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(n_num)])
    for k, v in cats.items():
        frame[k] = v
    frame["group"] = np.where(group, "B", "A")
    frame["label"] = y
    spec = DatasetSpec(target="label", positive_label=1, sensitive=["group"], name="synthetic")
    return frame, spec


def scale_run(n_rows: int, n_etas: int, params_json: str) -> dict:
    """One scale measurement, meant to run alone in its own process (see :func:`scale_benchmark`)."""
    from fairkit.split import split_dataset
    from fairkit.sweep import run_sweep

    params = json.loads(params_json) or None
    t0 = time.perf_counter()
    frame, spec = make_synthetic(n_rows)
    split = split_dataset(frame, spec, seed=0)
    prep = time.perf_counter() - t0
    grid = [0.0] + list(np.geomspace(0.1, 5.0, n_etas - 1))
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run_sweep(split, ["regularized"], grid, [0], params=params, keep_models=False)
    sweep_s = time.perf_counter() - t0
    peak_mib = own_peak_mib()
    r = res.results
    return {"n_rows": n_rows, "n_train": int(len(split.train)), "n_features": int(split.train.X.shape[1]),
            "n_etas": n_etas, "prep_s": prep, "sweep_wall_s": sweep_s,
            "median_fit_s": float(r.fit_seconds.median()), "peak_rss_mb": peak_mib,
            "test_acc_eta0": float(r.test_accuracy.iloc[0]),
            "test_dp_eta0": float(r[f"test_{DP}"].iloc[0]), "test_dp_min": float(r[f"test_{DP}"].min())}


def scale_benchmark(rows=(20_000, 200_000), *, n_etas=8, params=None, timeout=3600) -> pd.DataFrame:
    """Time and peak memory of an ``n_etas`` regularized sweep on generated data.

    Each size runs in a fresh subprocess, so its peak memory is that process's alone.

    Returns
    -------
    DataFrame
        One row per size (see :func:`scale_run`) plus time and row growth against the first size.
    """
    out = []
    for n in rows:
        code = ("import json,sys; from benchmarks.speed import scale_run; "
                f"print('RESULT'+json.dumps(scale_run({int(n)}, {int(n_etas)}, {json.dumps(json.dumps(params or {}))})))")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                              cwd=str(_ROOT))
        line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT")]
        if not line:
            raise RuntimeError(f"scale run for {n} rows failed:\n{proc.stderr[-2000:]}")
        out.append(json.loads(line[0][6:]))
    table = pd.DataFrame(out)
    table["time_growth_vs_first"] = table["sweep_wall_s"] / table["sweep_wall_s"].iloc[0]
    table["rows_growth_vs_first"] = table["n_rows"] / table["n_rows"].iloc[0]
    return table
