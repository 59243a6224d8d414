"""Training: fairkit's regularized and Lagrangian sweeps against ExponentiatedGradient(LogReg) on Adult."""

from __future__ import annotations

import pandas as pd

from .common import BOUNDS, best_at_by_seed, fairkit_runs, fairlearn_eg_runs, ratio

#: The tuned network of the ``training-tuned`` part: a two-layer MLP (64, 32), 25 epochs, lr 3e-3,
#: with a finer regularized grid around the DP <= 0.01 region.
TUNED_NETWORK = dict(hidden_layer_sizes=(64, 32), lr=3e-3, max_epochs=25, batch_size=256)
TUNED_ETAS = {"regularized": [0.0, 0.5, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0],
              "lagrangian": [2.0, 5.0, 10.0, 20.0, 40.0]}


def compare_training(split, *, seeds=(0, 1, 2), etas=None, bounds=None, params=None,
                     eg_table=None, dp_bounds=(0.01, 0.05)) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Regularized + lagrangian sweep vs plain EG(LogisticRegression) over bounds.

    Parameters
    ----------
    split : fairkit.split.Split
    seeds : sequence of int
        Training seeds; EG is fitted once (first seed) and its randomized predictions reseeded.
    etas : dict, optional
        Method -> eta grid (default the shared grids).
    bounds : list of float, optional
        EG's DP bounds (default :data:`benchmarks.common.BOUNDS`).
    params : dict, optional
        fairkit estimator parameters per method.
    eg_table : DataFrame, optional
        EG runs measured earlier in the same process, reused instead of fitting again.
    dp_bounds : tuple of float
        The "test accuracy at validation DP <= b" columns.

    Returns
    -------
    summary : DataFrame
        One row per contender: best test accuracy at val-chosen DP <= each bound, median fit
        seconds per model, and the fit-time ratio EG / fairkit.
    runs : DataFrame
        Every run of both sides.
    """
    bounds = BOUNDS if bounds is None else bounds
    fk = fairkit_runs(split, ["regularized", "lagrangian"], etas, seeds, params=params)
    eg = eg_table if eg_table is not None else fairlearn_eg_runs(split, bounds, seeds, fit_seeds=[seeds[0]])
    runs = pd.concat([fk, eg], ignore_index=True)
    rows = []
    for name, sub in [("fairkit regularized+lagrangian", fk),
                      ("fairkit regularized", fk[fk.method == "regularized"]),
                      ("fairkit lagrangian", fk[fk.method == "lagrangian"]),
                      ("fairlearn EG(LogReg)", eg)]:
        row = {"contender": name, "n_models": len(sub.dropna(subset=["fit_seconds"])),
               "median_fit_s": float(sub["fit_seconds"].median())}
        for b in dp_bounds:
            row[f"test_acc@dp<={b}"] = best_at_by_seed(sub, b)
        rows.append(row)
    summary = pd.DataFrame(rows)
    eg_fit = summary.iloc[-1]["median_fit_s"]
    summary["fit_speedup_vs_EG"] = [ratio(eg_fit, v) for v in summary["median_fit_s"]]
    return summary, runs
