"""FORML (issue 22): meta-learned reweighting against the regularized and the unconstrained network.

For each bundled dataset and fairness definition (equal opportunity, demographic parity), one
sweep in one process trains the unconstrained network (the accuracy baseline), the
fairness-regularized network and FORML (:class:`fairkit.estimators.FairReweightingClassifier`)
on the registry's 8-point eta grids, with the registry's defaults for both (same architecture,
learning rate, batch size and step budget), split seed 0. Per method:

* ``hv_test``: hypervolume of the method's validation-chosen front (together with the
  unconstrained baseline, which every user has too), reported on test: points (1 - test
  accuracy, test gap), reference (majority-class test error, 1.0);
* ``acc_at_<tol>``: test accuracy of the most accurate model whose *validation* gap is at most
  the tolerance (:func:`fairkit.frontier.best_at`), NaN when none reaches it;
* ``fit_s``: training seconds of the method's runs (summed);
* ``*_vs_regularized``: FORML's figure over the regularized network's, from the same run.

Adult is subsampled (``adult_rows`` rows drawn at random, seed 0, before the split) to keep the
run within minutes on a shared 2-core machine; COMPAS and German are used whole. With several
training seeds every figure is the median over the seeds (``hv_wins`` counts the seeds on which
FORML's hypervolume beats the regularized network's).
"""

from __future__ import annotations

import time
import warnings

import pandas as pd

from fairkit.frontier import best_at, pareto_front
from fairkit.methods import FAIRNESS_DEFINITIONS, get_method
from fairkit.sweep import run_sweep

from .common import DEFAULT_SENSITIVE, front_hypervolume, majority_error, ratio

#: The compared methods: the baseline, the reference in-processing method and FORML.
METHODS = ("unconstrained", "regularized", "forml")
#: Validation tolerances of the accuracy-at-tolerance columns.
TOLERANCES = (0.01, 0.02, 0.05)
#: The definitions compared.
FAIRNESS = ("equal_opportunity", "demographic_parity")
#: Adult rows kept (drawn before the split): a 4,800-row training part.
ADULT_ROWS = 8000
#: The report's title (``python -m benchmarks --parts forml``).
TITLE = "FORML vs the regularized and the unconstrained network (test, validation-chosen, median over seeds)"


def forml_split(name: str, *, adult_rows: int = ADULT_ROWS, seed: int = 0):
    """A bundled dataset on its benchmark attribute (:data:`DEFAULT_SENSITIVE`), Adult subsampled."""
    from fairkit.datasets import load_dataset
    from fairkit.split import split_dataset

    frame, spec = load_dataset(name)
    if name == "adult" and adult_rows and len(frame) > adult_rows:
        frame = frame.sample(n=adult_rows, random_state=seed).reset_index(drop=True)
    return split_dataset(frame, spec.replace(sensitive=list(DEFAULT_SENSITIVE[name])), seed=seed)


def method_scores(results: pd.DataFrame, split, method: str, gap: str, tolerances=TOLERANCES) -> dict:
    """Hypervolume and accuracy at each tolerance of ``method``'s front (with the baseline's run)."""
    rows = results[results["method"].isin([method, "unconstrained"])]
    front = pareto_front(rows, unfairness=gap)
    out = {
        "runs": int((results["method"] == method).sum()),
        "hv_test": front_hypervolume(front, majority_error(split.test.y)),
    }
    for tol in tolerances:
        out[f"acc_at_{tol:g}"] = best_at(rows, tol, unfairness=gap)
    out["best_val_gap"] = float(results.loc[results["method"] == method, f"val_{gap}"].min())
    out["fit_s"] = float(results.loc[results["method"] == method, "fit_seconds"].sum())
    return out


def compare_forml(split, *, dataset: str = "", fairness: str = "equal_opportunity", n_etas: int = 8,
                  params=None, seeds=(0,), tolerances=TOLERANCES) -> pd.DataFrame:
    """One sweep of :data:`METHODS` on ``split`` and each method's scores, with FORML's ratios.

    Parameters
    ----------
    split : fairkit.split.DatasetSplit
    dataset : str
        Label of the ``dataset`` column.
    fairness : str
        A key of :data:`fairkit.methods.FAIRNESS_DEFINITIONS`.
    n_etas : int
        Size of each method's registry grid.
    params : dict, optional
        Estimator parameters per method (``run_sweep(params=...)``).
    seeds : sequence of int
        Training seeds; every score is the median over them (:func:`method_scores` per seed).
    tolerances : tuple of float
        Validation tolerances of the accuracy columns.

    Returns
    -------
    DataFrame
        One row per method (``dataset``, ``fairness``, ``method``, the seeds' medians of
        :func:`method_scores`, ``fit_s`` summed over seeds), and on FORML's row
        ``hv_vs_regularized``, ``acc_at_<tol>_vs_regularized`` and ``time_vs_regularized``
        (ratios of the medians) and ``hv_wins`` (seeds where its hypervolume is the larger).
    """
    gap = FAIRNESS_DEFINITIONS[fairness].gap_metric
    etas = {m: get_method(m).grid(n_etas) for m in METHODS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        res = run_sweep(split, list(METHODS), etas, list(seeds), fairness=fairness, params=params,
                        keep_models=False).results
        wall = time.perf_counter() - t0
    per_seed = pd.DataFrame([{"method": m, "seed": s, **method_scores(sub, split, m, gap, tolerances)}
                             for s, sub in res.groupby("seed") for m in METHODS])
    by_method = per_seed.groupby("method", sort=False)
    table = by_method.median(numeric_only=True).drop(columns="seed")
    table["fit_s"] = by_method["fit_s"].sum()
    table = table.reset_index()
    table.insert(0, "dataset", dataset)
    table.insert(1, "fairness", fairness)
    table.insert(3, "n_train", len(split.train))
    table.insert(4, "seeds", len(seeds))
    ref, new = table.set_index("method").loc["regularized"], table["method"] == "forml"
    table.loc[new, "hv_vs_regularized"] = ratio(float(table.loc[new, "hv_test"].iloc[0]), ref["hv_test"])
    hv = per_seed.pivot(index="seed", columns="method", values="hv_test")
    table.loc[new, "hv_wins"] = int((hv["forml"] > hv["regularized"]).sum())
    for tol in tolerances:
        col = f"acc_at_{tol:g}"
        table.loc[new, f"{col}_vs_regularized"] = ratio(float(table.loc[new, col].iloc[0]), ref[col])
    table.loc[new, "time_vs_regularized"] = ratio(float(table.loc[new, "fit_s"].iloc[0]), ref["fit_s"])
    table["sweep_wall_s"] = wall
    return table
