"""Adaptive eta placement (issue 19): today's 8-point grid against the adaptive default, and tolerance first.

* :func:`compare_adaptive`: the CLI's default sweep (the unconstrained network and the
  regularized one) with the registry's 8-point grid and with adaptive placement
  (``run_sweep(adaptive=True)``), in one process, alternating, each timed ``repeats`` times
  from scratch (no store). For each: usable models of the regularized network, the largest
  step in validation DP difference between neighbouring usable models from parity up to the
  unconstrained gap, constant models flagged, and the hypervolume of the validation-chosen
  front on validation and on test.
* :func:`compare_tolerance`: :func:`fairkit.sweep.sweep_to_tolerance` at DP <= 0.03 against
  the best model (chosen on validation, reported on test) of a grid with 4 times its runs.

Data: the bundled datasets with their default sensitive attributes (Adult: sex and race), as
the dashboard and the CLI use them, split seed 0, training seed 0. The measures are the
engine's (:mod:`fairkit.frontier`).
"""

from __future__ import annotations

import statistics
import time
import warnings

import numpy as np
import pandas as pd

from fairkit.frontier import decides_alike, largest_step, pareto_front, select
from fairkit.methods import get_method
from fairkit.sweep import run_sweep, sweep_to_tolerance

from .common import DP, front_hypervolume, load_split, majority_error, ratio

#: The CLI's default sweep.
METHODS = ["unconstrained", "regularized"]
#: The method whose frontier the issue's targets are about.
METHOD = "regularized"
#: The issue's targets, printed beside the measured values in benchmarks/README.md.
TARGETS = {"usable": 8, "largest_step": 0.03, "largest_step_ideal": 0.02, "time_ratio": 2.0,
           "accuracy_gap": 0.005}


def default_split(name: str):
    """A bundled dataset split on its default sensitive attributes (seed 0)."""
    from fairkit.datasets import load_dataset

    return load_split(name, sensitive=load_dataset(name)[1].sensitive)


def frontier_shape(results: pd.DataFrame, split, *, method: str = METHOD) -> dict:
    """What a user sliding along ``method``'s frontier meets, and the sweep's hypervolumes.

    Parameters
    ----------
    results : DataFrame
        A sweep table (``run_sweep(...).results``, with its ``constant`` column).
    split : fairkit.split.DatasetSplit
        Its split (the reference errors of the hypervolumes are the majority-class errors of
        validation and test).
    method : str

    Returns
    -------
    dict
        ``runs``, ``usable`` (not constant), ``largest_step`` (validation DP, usable models from
        parity up to the smallest eta's gap), ``constant_flagged``, ``one_decision_unflagged``
        (models selecting <= 1 % or >= 99 % of validation rows without the flag: 0 when every
        constant model is flagged), ``cliffs`` (cliffs the sweep named in ``warnings``, see
        :func:`fairkit.sweep.find_cliffs`), ``hv_val`` and ``hv_test`` of the validation-chosen
        front of every method in ``results``.
    """
    runs = results[results["method"] == method].sort_values("eta")
    usable = runs[~runs["constant"]]
    top = float(runs[f"val_{DP}"].iloc[0])  # the smallest eta's: unconstrained when the grid starts at 0
    gaps = usable[f"val_{DP}"]
    alike = decides_alike(runs["val_selection_rate"])
    front = pareto_front(results)
    notes = runs["warnings"].fillna("") if "warnings" in runs else pd.Series([], dtype=str)
    return {
        "runs": len(runs), "usable": len(usable),
        "largest_step": largest_step(gaps[gaps <= top]),
        "constant_flagged": int(runs["constant"].sum()),
        "one_decision_unflagged": int((alike & ~runs["constant"].to_numpy()).sum()),
        # A cliff's note stands on the runs at both its etas: count each once.
        "cliffs": len({n for cell in notes for n in cell.split("; ") if n.startswith("cliff between")}),
        "hv_val": front_hypervolume(front, majority_error(split.validation.y), part="val"),
        "hv_test": front_hypervolume(front, majority_error(split.test.y)),
    }


def compare_adaptive(split, *, dataset: str = "", repeats: int = 3, params=None, n_etas: int = 8,
                     more_budgets=(), **adaptive) -> pd.DataFrame:
    """The default grid and the adaptive default of the CLI's sweep, timed in one process.

    Parameters
    ----------
    split : fairkit.split.DatasetSplit
    dataset : str
        Label of the ``dataset`` column.
    repeats : int
        Timings of each sweep, alternating grid and adaptive; medians reported.
    params : dict, optional
        Estimator parameters per method (``run_sweep(params=...)``).
    n_etas : int
        Grid size (the CLI's default 8).
    more_budgets : tuple of int
        Further adaptive sweeps with these budgets (rows "adaptive, budget B"), to show what a
        larger budget buys and costs.
    **adaptive
        ``spacing`` / ``budget`` for the adaptive sweep (default: run_sweep's).

    Returns
    -------
    DataFrame
        One row per sweep ("grid", "adaptive", then ``more_budgets``): :func:`frontier_shape`'s columns, ``rounds``,
        ``wall_s`` (median) with ``wall_min_s`` / ``wall_max_s``, ``cpu_s`` (median CPU time of
        this process: on a shared machine it moves less with other people's load than the wall
        time does), and on both rows ``time_vs_grid`` (wall), ``cpu_vs_grid`` and
        ``hv_test_vs_grid``.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # One-off costs (imports, the batched path's first call) before anything is timed.
        run_sweep(split, [METHOD], [0.0, 1.0], params=params, keep_models=False)
        kinds = {"grid": None, "adaptive": adaptive,
                 **{f"adaptive, budget {b}": {**adaptive, "budget": b} for b in more_budgets}}
        times: dict = {kind: [] for kind in kinds}
        cpu: dict = {kind: [] for kind in kinds}
        last: dict = {}
        for _ in range(repeats):
            for kind, options in kinds.items():
                t0, c0 = time.perf_counter(), time.process_time()
                last[kind] = run_sweep(split, METHODS, params=params, n_etas=n_etas, keep_models=False,
                                       adaptive=options is not None, **(options or {}))
                times[kind].append(time.perf_counter() - t0)
                cpu[kind].append(time.process_time() - c0)
    rows = []
    for kind, res in last.items():
        rows.append({"dataset": dataset, "sweep": kind, "rounds": res.rounds,
                     **frontier_shape(res.results, split),
                     "wall_s": statistics.median(times[kind]), "wall_min_s": min(times[kind]),
                     "wall_max_s": max(times[kind]), "cpu_s": statistics.median(cpu[kind]), "repeats": repeats})
    table = pd.DataFrame(rows)
    grid = table.iloc[0]
    table["time_vs_grid"] = [ratio(w, grid["wall_s"]) for w in table["wall_s"]]
    table["cpu_vs_grid"] = [ratio(c, grid["cpu_s"]) for c in table["cpu_s"]]
    table["hv_test_vs_grid"] = [ratio(h, grid["hv_test"]) for h in table["hv_test"]]
    return table


def compare_tolerance(split, *, dataset: str = "", tolerance: float = 0.03, factor: int = 4, params=None,
                      n_boot: int = 200) -> pd.DataFrame:
    """Tolerance first against a grid with ``factor`` times its runs, at validation DP <= ``tolerance``.

    Returns
    -------
    DataFrame
        One row: the tolerance-first pick (runs, seconds, eta, validation gap, test accuracy
        with its Wilson interval, test gap with its bootstrap interval), the grid's pick (runs,
        seconds, eta, validation gap, test accuracy) and ``accuracy_vs_grid`` (tolerance-first
        minus grid test accuracy).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        out = sweep_to_tolerance(split, METHODS, tolerance, params=params, n_boot=n_boot, keep_models=False)
        tol_s = time.perf_counter() - t0
        n_runs = int((out.sweep.results["method"] == METHOD).sum())
        grid = get_method(METHOD).grid(factor * n_runs)
        t0 = time.perf_counter()
        big = run_sweep(split, METHODS, {METHOD: grid}, params=params, keep_models=False)
        grid_s = time.perf_counter() - t0
    pick = out.selected
    grid_pick = select(pareto_front(big.results), max_unfairness=tolerance, on="val")
    rep = out.report
    attr = rep.primary_attribute if rep is not None else None
    nan = float("nan")
    row = {
        "dataset": dataset, "tolerance": tolerance,
        "tol_runs": n_runs, "tol_rounds": out.sweep.rounds, "tol_s": tol_s,
        "tol_eta": pick["eta"] if pick is not None else nan,
        "tol_val_gap": pick["unfairness_val"] if pick is not None else nan,
        "tol_test_acc": rep.overall["accuracy"] if rep is not None else nan,
        "tol_test_acc_low": rep.overall.get("accuracy_low", nan) if rep is not None else nan,
        "tol_test_acc_high": rep.overall.get("accuracy_high", nan) if rep is not None else nan,
        "tol_test_gap": rep.gap(DP) if rep is not None else nan,
        "tol_test_gap_low": float(rep.gaps.loc[attr, f"{DP}_low"]) if rep is not None else nan,
        "tol_test_gap_high": float(rep.gaps.loc[attr, f"{DP}_high"]) if rep is not None else nan,
        "grid_runs": int((big.results["method"] == METHOD).sum()), "grid_s": grid_s,
        "grid_eta": grid_pick["eta"] if grid_pick is not None else nan,
        "grid_val_gap": grid_pick["unfairness_val"] if grid_pick is not None else nan,
        "grid_test_acc": grid_pick["performance_test"] if grid_pick is not None else nan,
    }
    row["accuracy_vs_grid"] = row["tol_test_acc"] - row["grid_test_acc"]
    row["within_tolerance"] = bool(np.isfinite(row["tol_val_gap"]) and row["tol_val_gap"] <= tolerance)
    return pd.DataFrame([row])


def eta_scan(split, lo: float, hi: float, n: int, *, params=None) -> pd.DataFrame:
    """The regularized network at ``n`` geometrically spaced etas from ``lo`` to ``hi`` (one
    batched fit): is a step the refinement leaves a cliff of the method or a hole of the budget?

    Returns
    -------
    DataFrame
        One row per eta: ``eta``, validation DP difference (``gap``), ``selection_rate``,
        ``constant`` and ``step`` (the gap's change from the previous eta).
    """
    etas = sorted({float(f"{v:.4g}") for v in np.geomspace(lo, hi, n)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = run_sweep(split, [METHOD], etas, params=params, keep_models=False).results.sort_values("eta")
    out = pd.DataFrame({"eta": t["eta"].to_numpy(), "gap": t[f"val_{DP}"].to_numpy(),
                        "selection_rate": t["val_selection_rate"].to_numpy(), "constant": t["constant"].to_numpy()})
    return out.assign(step=out["gap"].diff())


if __name__ == "__main__":  # pragma: no cover
    # python -m benchmarks.adaptive compas 0.3 3 70: the scan behind benchmarks/README.md (issue 19).
    import sys

    name, lo, hi, n = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    scan = eta_scan(default_split(name), lo, hi, n)
    usable = scan[~scan["constant"]]
    print(scan.to_string(index=False))
    print(f"\n{name}: {len(scan)} etas from {lo:g} to {hi:g} ({(hi / lo) ** (1 / (n - 1)) - 1:.1%} apart); "
          f"largest change between neighbours {scan['step'].abs().max():.4f}; "
          f"smallest usable gap {usable['gap'].min():.4f}; constant {int(scan['constant'].sum())}")

