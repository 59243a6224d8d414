"""Frontier quality: hypervolume of fairkit's union front against fairlearn's, per seed.

The measures themselves (``pareto_front``, ``hypervolume``, ``best_at``) are the engine's, from
:mod:`fairkit.frontier`; this module only gathers the runs of both families and summarises them.
"""

from __future__ import annotations

import pandas as pd

from fairkit.frontier import hypervolume, pareto_front

from .common import (
    BOUNDS,
    best_at_by_seed,
    fairkit_runs,
    fairlearn_eg_runs,
    fairlearn_gridsearch_runs,
    fairlearn_threshold_runs,
    load_split,
    majority_error,
    ratio,
)

BLIND_METHODS = ["regularized", "linear", "boosting", "lagrangian", "adversarial"]
AWARE_EXTRA = ["threshold"]
#: Bounds of EG(HistGradientBoosting), fewer because each EG fit is ~50 boosting fits.
HGB_BOUNDS = [0.01, 0.02, 0.05, 0.1, 0.2]


def frontier_runs(split, *, seeds, etas=None, bounds=None, bases=("lr", "hgb"), params=None,
                  fk_methods=None, baseline_fit_seeds=None, grid_size=16, eg_tables=None,
                  hgb_bounds=None) -> pd.DataFrame:
    """Every run of the frontier comparison (both families), one tidy table.

    Parameters
    ----------
    split : fairkit.split.Split
    seeds : list of int
        Training seeds (and the seeds of the baselines' randomized predictions).
    etas : dict, optional
        fairkit method -> eta grid.
    bounds : list of float, optional
        EG's DP bounds (default :data:`benchmarks.common.BOUNDS`).
    bases : tuple of str
        fairlearn base learners, ``"lr"`` and/or ``"hgb"``.
    params : dict, optional
        fairkit estimator parameters per method.
    fk_methods : list of str, optional
        fairkit methods (default :data:`BLIND_METHODS` + :data:`AWARE_EXTRA`).
    baseline_fit_seeds : list of int, optional
        Seeds whose baselines get their own fit (default: the first seed).
    grid_size : int
        GridSearch's grid.
    eg_tables : dict, optional
        Base -> EG runs measured earlier in the same process.
    hgb_bounds : list of float, optional
        Bounds of the costly EG(HistGradientBoosting) (default ``bounds``).

    Returns
    -------
    DataFrame
        One row per run with ``family`` ("fairkit" / "fairlearn") and ``needs_sensitive_at_predict``.
    """
    bounds = BOUNDS if bounds is None else bounds
    fk_methods = fk_methods or BLIND_METHODS + AWARE_EXTRA
    parts = [fairkit_runs(split, fk_methods, etas, seeds, params=params)]
    # LogisticRegression, and HistGradientBoosting below 10,000 rows (no early stopping), fit
    # the same model whatever the seed: by default the baselines are fitted once (first seed)
    # and only their randomized predictions are reseeded per seed.
    bseeds = list(seeds[:1]) if baseline_fit_seeds is None else list(baseline_fit_seeds)
    for base in bases:
        if eg_tables and base in eg_tables:
            parts.append(eg_tables[base])
        else:
            parts.append(fairlearn_eg_runs(split, bounds if base != "hgb" or hgb_bounds is None else hgb_bounds,
                                           seeds, base=base, fit_seeds=bseeds))
        parts.append(fairlearn_gridsearch_runs(split, seeds, base=base, grid_size=grid_size, fit_seeds=bseeds))
        parts.append(fairlearn_threshold_runs(split, seeds, base=base, fit_seeds=bseeds))
    return pd.concat(parts, ignore_index=True)


def frontier_runs_resplit(name: str, *, seeds, **kwargs) -> pd.DataFrame:
    """:func:`frontier_runs` with a new train/validation/test split per seed.

    Seed ``s`` splits the data with seed ``s`` and trains with seed ``s``; the baselines are
    fitted on that split too. On a small dataset (German: 200 test rows, one row = 0.005
    accuracy) a fixed split makes every comparison hinge on one test set; resplitting averages
    the test noise over seeds as well as the training noise. Adds ``split_seed`` and
    ``hv_ref_error`` (the seed's own majority-class test error) columns.
    """
    parts = []
    for s in seeds:
        split = load_split(name, seed=s)
        runs = frontier_runs(split, seeds=[s], baseline_fit_seeds=[s], **kwargs)
        runs["split_seed"] = s
        runs["hv_ref_error"] = majority_error(split.test.y)
        parts.append(runs)
    return pd.concat(parts, ignore_index=True)


def seed_hypervolumes(table: pd.DataFrame, ref) -> pd.Series:
    """Test hypervolume of each seed's validation-chosen union front.

    Parameters
    ----------
    table : DataFrame
        Runs with ``seed`` and the ``val_``/``test_`` accuracy and DP difference columns.
    ref : (float, float) or None
        Reference (error, DP difference). A table with a ``hv_ref_error`` column (one split per
        seed, :func:`frontier_runs_resplit`) uses each seed's own ``(hv_ref_error, 1.0)`` instead.

    Returns
    -------
    Series
        Seed -> hypervolume.
    """
    vals = {}
    for seed, sub in table.groupby("seed"):
        r = (float(sub["hv_ref_error"].iloc[0]), 1.0) if "hv_ref_error" in sub else ref
        front = pareto_front(sub)
        vals[seed] = hypervolume(1 - front["performance_test"], front["unfairness_test"], ref=r)
    return pd.Series(vals, dtype=float)


def compare_frontiers(runs: pd.DataFrame, split, *, dataset="", dp_bounds=(0.01, 0.05)) -> pd.DataFrame:
    """Hypervolume of union fronts, attribute-blind and attribute-aware, fairkit vs fairlearn.

    Parameters
    ----------
    runs : DataFrame
        :func:`frontier_runs` or :func:`frontier_runs_resplit`.
    split : fairkit.split.Split
        The fixed split, whose test labels give the reference error (unused per seed when
        ``runs`` carries ``hv_ref_error``).
    dataset : str
        Label of the ``dataset`` column.
    dp_bounds : tuple of float
        The "accuracy at validation DP <= b" columns.

    Returns
    -------
    DataFrame
        One row per setting. ``fairkit_hv`` / ``fairlearn_hv`` are medians over seeds;
        ``seeds_won`` is the share of seeds where fairkit's union has at least fairlearn's
        hypervolume: with one split per seed it shows how often, not only by how much in the
        median.
    """
    ref = (majority_error(split.test.y), 1.0)
    fk = runs[runs.family == "fairkit"]
    fl = runs[runs.family == "fairlearn"]
    blind = lambda t: t[~t.needs_sensitive_at_predict.astype(bool)]  # noqa: E731
    resplit = "hv_ref_error" in runs
    rows = []
    for setting, a, b in [("attribute-blind", blind(fk), blind(fl)), ("attribute-aware", fk, fl)]:
        per_a, per_b = seed_hypervolumes(a, ref), seed_hypervolumes(b, ref)
        both = per_a.index.intersection(per_b.index)
        row = {"dataset": dataset, "setting": setting,
               "split": "one per seed" if resplit else "fixed (seed 0)",
               "hv_ref_error": float(runs.groupby("seed")["hv_ref_error"].first().median()) if resplit else ref[0],
               "fairkit_hv": float(per_a.median()), "fairlearn_hv": float(per_b.median()),
               "fairkit_seeds": a.seed.nunique(), "fairlearn_seeds": b.seed.nunique(),
               "seeds_won": float((per_a[both] >= per_b[both]).mean()) if len(both) else float("nan"),
               "fairkit_methods": "+".join(sorted(a.method.unique())),
               "fairlearn_methods": "+".join(sorted(b.method.unique()))}
        row["hv_ratio"] = ratio(row["fairkit_hv"], row["fairlearn_hv"])
        for bd in dp_bounds:
            row[f"fairkit_acc@dp<={bd}"] = best_at_by_seed(a, bd)
            row[f"fairlearn_acc@dp<={bd}"] = best_at_by_seed(b, bd)
        rows.append(row)
    return pd.DataFrame(rows)
