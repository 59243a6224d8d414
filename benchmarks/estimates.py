"""Time estimates against measured wall time (issue 20).

:func:`compare_estimates` runs sweeps one after another into one results store, as a user of
this machine would, and sets each beside the estimate made just before it started
(:func:`fairkit.sweep.estimate_seconds`, what the Train page shows):

* ``default``: the dashboard's default sweep of every dataset: the unconstrained and the
  regularized networks, each method's 6-point grid, adaptive placement with
  ``BUDGET_PER_GRID_POINT`` x 6 extra runs per method and seed, each run's intervals computed
  as it is stored (the dashboard's :class:`~fairkit.sweep.ReportingStore`);
* ``reductions``: fairlearn's ExponentiatedGradient (``reductions``) on a 3-point grid, Adult
  subsampled (:data:`REDUCTIONS_ROWS` rows before the split) so the part takes minutes;
* ``others``: every other registered method on a 4-point grid, no placement.

The process's one-off costs (imports, first calls) are paid by an untimed sweep first.

Each row gives the estimate of the registry's cost model alone (``model_s``: a store with no
runs of this machine) and the one the page shows (``estimate_s``: the model scaled by the
measured / predicted fit times of the runs already in the store, the first sweep's alone), the
grid's part and the placement's range, the measured wall time and the ratios measured /
estimate. The target is every ``ratio`` in [0.5, 2]. The point estimate of an adaptive sweep is the
geometric middle of its range (see :func:`fairkit.sweep.estimate_seconds`).
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings

import pandas as pd

from fairkit.methods import DEFAULT_METHODS, METHODS
from fairkit.store import ResultStore
from fairkit.sweep import BUDGET_PER_GRID_POINT, Countdown, ReportingStore, estimate_seconds, run_sweep

from .adaptive import default_split
from .calibrate_costs import subsample_split
from .common import ratio

#: Rows of Adult (before the split) the reductions part trains on: a full-size fit takes about
#: 80 s an eta on 2 quiet cores.
REDUCTIONS_ROWS = 5000
#: The dashboard's defaults (views/train.py): grid points and extra runs per method and seed.
DASHBOARD_N_ETAS = 6
DASHBOARD_BUDGET = BUDGET_PER_GRID_POINT * DASHBOARD_N_ETAS
PARTS = ("default", "reductions", "others")


def timed_estimate(split, methods, store, *, dataset: str, sweep: str, n_etas: int, adaptive: bool,
                   budget=None, params=None) -> dict:
    """One sweep, trained into ``store``, beside its estimates made just before it started.

    Returns
    -------
    dict
        ``dataset``, ``sweep``, ``load`` (the machine's 1-minute load average when the sweep
        ended: other people's work on a shared machine slows every sweep), ``runs`` (trained),
        ``placed`` (beyond the grid), ``rounds``,
        ``grid_s`` and ``placed_max_s`` (the estimate's grid and the placement's upper bound),
        ``estimate_s`` (the point estimate, what the count-down starts from), ``model_s`` (the
        same without the store's ratios), ``measured_s``, ``ratio`` (measured / estimate),
        ``ratio_model`` (measured / model), ``scaled_by`` (the ratio applied to the
        methods' models, 1 when the store had none), ``halfway_left_s`` (what the count-down,
        :class:`~fairkit.sweep.Countdown`, said was left when half the runs were done) and
        ``halfway_ratio`` (the time that was left / what it said); ``given_placed_s`` and
        ``ratio_given_placed``: the estimate had the number of placed runs been known (the grid
        plus that many average placed runs), which separates the cost models' error from the
        placement's, which no estimate before training can know.
    """
    options = dict(n_etas=n_etas, adaptive=adaptive, budget=budget, params=params)
    reporting = ReportingStore(store, split)
    est = estimate_seconds(split, methods, store=reporting, **options)
    cold = estimate_seconds(split, methods, store=None, reporting=True, **options)
    clock: list = []  # the Train page's count-down, fed by the sweep's progress
    seen: list = []  # (time, done, total, seconds left it said)

    def progress(done, total):
        now = time.time()
        if not clock:
            clock.append(Countdown(est, done=done, started=now))
        clock[0].update(done, total, now)
        seen.append((now, done, total, clock[0].left(now)))

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run_sweep(split, methods, store=reporting, keep_models=False, progress=progress, **options)
    wall = time.perf_counter() - t0
    end = time.time()
    # Half way through the runs (as the page counts them), what the count-down said was left.
    half = next(((t, left) for t, done, total, left in seen if total and done >= total / 2), (end, 0.0))
    scale = [est["scale"].get(m, est["scale"].get("*", 1.0)) for m in methods]
    placed = max(len(res.results) - est["runs"], 0)
    # The estimate had it known how many runs the placement would add: the cost models alone.
    given = est["seconds"] + placed * est["placed_run_seconds"]
    return {"dataset": dataset, "sweep": sweep, "load": os.getloadavg()[0],
            "runs": int((~res.results["cached"]).sum()),
            "placed": placed, "rounds": res.rounds,
            "grid_s": est["seconds"], "placed_max_s": est["refine_seconds"], "estimate_s": est["expected_seconds"],
            "model_s": cold["expected_seconds"], "measured_s": wall,
            "ratio": ratio(wall, est["expected_seconds"]), "ratio_model": ratio(wall, cold["expected_seconds"]),
            "given_placed_s": given, "ratio_given_placed": ratio(wall, given),
            "scaled_by": float(max(scale, key=lambda s: abs(s - 1.0))),
            "halfway_left_s": half[1], "halfway_ratio": ratio(end - half[0], half[1])}


def compare_estimates(datasets=("german", "compas", "adult"), parts=PARTS, *, store_dir=None,
                      reductions_rows: int = REDUCTIONS_ROWS, others=None, params=None,
                      n_etas: int = DASHBOARD_N_ETAS, budget: int = DASHBOARD_BUDGET) -> pd.DataFrame:
    """Estimates against measured wall times of the sweeps listed in the module docstring.

    Parameters
    ----------
    datasets : iterable of str
    parts : iterable of str
        Of :data:`PARTS`.
    store_dir : path, optional
        The results store (default a new temporary folder: every run trains).
    reductions_rows : int
        Adult's rows in the reductions part.
    others : list of str, optional
        The methods of the ``others`` part (default every registered one not in another part).
    params : dict, optional
        Estimator parameters per method (for smoke tests).
    n_etas, budget : int
        Grid points and extra runs per method and seed of the ``default`` part (the dashboard's).

    Returns
    -------
    DataFrame
        One row per sweep (see :func:`timed_estimate`), plus ``within_2x``; a method of
        ``others`` whose sweep failed has its ``error`` instead.
    """
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        store = ResultStore(store_dir or tmp)
        splits = {name: default_split(name) for name in datasets}
        with warnings.catch_warnings():
            # One-off costs of the process (imports, torch's and the batched path's first calls),
            # which a dashboard pays once when it starts, before anything is timed; not stored.
            warnings.simplefilter("ignore")
            run_sweep(next(iter(splits.values())), list(DEFAULT_METHODS), n_etas=3, keep_models=False,
                      params=params)
        if "default" in parts:
            for name, split in splits.items():
                rows.append(timed_estimate(split, list(DEFAULT_METHODS), store, dataset=name, sweep="default",
                                           n_etas=n_etas, adaptive=True, budget=budget,
                                           params=params))
                print(rows[-1], flush=True)
        if "reductions" in parts:
            for name in datasets:
                split = subsample_split(name, reductions_rows) if name == "adult" else splits[name]
                label = f"{name} ({reductions_rows:,} rows)" if name == "adult" else name
                rows.append(timed_estimate(split, ["reductions"], store, dataset=label, sweep="reductions",
                                           n_etas=3, adaptive=False, params=params))
                print(rows[-1], flush=True)
        if "others" in parts:
            names = others if others is not None else [
                m for m in METHODS if m not in (*DEFAULT_METHODS, "reductions")]
            for name, split in splits.items():
                for method in names:
                    try:
                        rows.append(timed_estimate(split, [method], store, dataset=name, sweep=method, n_etas=4,
                                                   adaptive=False, params=params))
                    except Exception as exc:  # noqa: BLE001 - one method failing leaves the others' rows
                        rows.append({"dataset": name, "sweep": method, "error": f"{type(exc).__name__}: {exc}"})
                    print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    if len(table):
        table["within_2x"] = table["ratio"].between(0.5, 2.0)
    return table
