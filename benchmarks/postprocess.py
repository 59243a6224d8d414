"""Issue #21: group thresholds on boosted trees, fitted once; where to fit them; the blind route.

``python -m benchmarks.postprocess`` runs three comparisons side by side in one process:

* **speed**: one fit of the base model (LightGBM, fairkit's defaults) against the threshold
  method's whole grid (``ThresholdPostProcessor.fit_etas``: one base fit, then every eta's
  thresholds, on each source of scores, the reserved half of the validation part included), and
  the same at the sweep's level (``run_sweep`` of the threshold method's grid
  against ``run_sweep`` of the boosted trees at eta 0), interleaved repeats, medians;
* **sources**: the test frontier of thresholds fitted on the base's own training scores
  (``train``), on a holdout of the training part (``holdout``) and on out-of-fold scores
  (``crossfit``), chosen on validation and reported on test; plus, for reference only, thresholds
  fitted on the validation part itself (``validation*``), whose validation figures are then
  in-sample (the leak that keeps it out of the sweep);
* **blind**: the attribute-blind inferred-group thresholds against the group-aware ones.

Every front is chosen on validation and reported on test (``fairkit.frontier``); constant models
are kept off the fronts. Hypervolume reference: (majority-class test error, 1.0); ``hv@0.05``
counts only the area below a gap of 0.05 (reference gap 0.05).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from .common import add_out_argument, front_hypervolume, load_split, majority_error, out_dir, report

GAPS = {"demographic_parity": "demographic_parity_difference",
        "equalized_odds": "equalized_odds_difference"}
TOLERANCES = (0.01, 0.02, 0.05)
SOURCES = ("train", "holdout", "crossfit")
DEFAULT_SEEDS = {"adult": range(3), "compas": range(5), "german": range(8)}


def _grid(n: int = 16) -> list[float]:
    from fairkit.methods import get_method

    return get_method("threshold").grid(n)


def _rows(models, split, *, name, seed, fairness, fit_seconds) -> pd.DataFrame:
    """Sweep-shaped rows (``val_*`` / ``test_*``) of fitted post-processors."""
    from fairkit.metrics import summary_metrics
    from fairkit.sweep import predict_scores

    rows = [{"method": name, "eta": m.eta if m.tolerance is None else m.tolerance, "seed": seed,
             "fairness": fairness, "fit_seconds": fit_seconds} for m in models]
    for prefix, part in (("val", split.validation), ("test", split.test)):
        scores = np.stack([predict_scores(m, split, part) for m in models])
        for row, metrics in zip(rows, summary_metrics(part.y, scores, part.sensitive)):
            row.update({f"{prefix}_{k}": v for k, v in metrics.items()})
    return pd.DataFrame(rows)


def _front_figures(table: pd.DataFrame, fairness: str, ref_error: float) -> dict:
    """Hypervolume of the validation-chosen front on validation (``hv_val``, and ``hv_val@0.05``
    below a gap of 0.05: the evidence a choice may rest on) and on test (whole and below 0.05),
    the test accuracy of the most accurate model within each validation tolerance (NaN when none
    is within it)."""
    from fairkit.frontier import best_at, pareto_front

    gap = GAPS[fairness]
    front = pareto_front(table, unfairness=gap)
    out = {"hv_val": front_hypervolume(front, ref_error, part="val"),
           "hv": front_hypervolume(front, ref_error),
           "hv@0.05": front_hypervolume(front, ref_error, max_gap=0.05),
           "hv_val@0.05": front_hypervolume(front, ref_error, part="val", max_gap=0.05)}
    for tol in TOLERANCES:
        out[f"acc@{tol:g}"] = best_at(table, tol, unfairness=gap)
    out["min_val_gap"] = float(table[f"val_{gap}"].min())
    out["distinct"] = int(table[[f"test_{gap}", "test_accuracy"]].round(6).drop_duplicates().shape[0])
    return out


def _cases(datasets, seeds):
    """``(dataset, seed, split, majority test error)``: a new split per seed (as ``--resplit``
    does), since the trees' own seed barely moves them (no row or feature sampling)."""
    for name in datasets:
        for seed in (seeds or DEFAULT_SEEDS[name]):
            split = load_split(name, seed=seed)
            yield name, seed, split, majority_error(split.test.y)


def _summary(runs: pd.DataFrame, keys) -> pd.DataFrame:
    """Median over seeds; ``acc@t`` over the seeds that reach the tolerance, ``reached@t`` their count."""
    grouped = runs.groupby(keys, sort=False)
    out = grouped.median(numeric_only=True).drop(columns="seed")
    for tol in TOLERANCES:
        out[f"reached@{tol:g}"] = grouped[f"acc@{tol:g}"].count().astype(str) + "/" + grouped.size().astype(str)
    return out.reset_index()


def compare_sources(datasets=("adult", "compas", "german"), seeds=None, fairness=tuple(GAPS),
                    n_etas: int = 16) -> pd.DataFrame:
    """Test frontier of each place the thresholds are fitted, median over seeds."""
    from fairkit.estimators.postprocess import ThresholdPostProcessor, default_base
    from fairkit.methods import FAIRNESS_DEFINITIONS

    rows = []
    for name, seed, split, ref in _cases(datasets, seeds):
        X, y, s = split.train.X, split.train.y, split.model_groups(split.train)
        for fair in fairness:
            constraint = FAIRNESS_DEFINITIONS[fair].fairlearn_constraint
            grid = _grid(n_etas)
            trained = {}
            for src in SOURCES:
                t0 = time.perf_counter()
                models = ThresholdPostProcessor(default_base(seed), constraint=constraint, thresholds_from=src,
                                                random_state=seed).fit_etas(grid, X, y, sensitive_features=s)
                seconds = time.perf_counter() - t0
                trained[src] = models
                table = _rows(models, split, name=src, seed=seed, fairness=fair, fit_seconds=seconds)
                rows.append({"dataset": name, "fairness": fair, "seed": seed, "source": src,
                             "fit_seconds": seconds, **_front_figures(table, fair, ref)})
            # Reference only: thresholds on the validation part (the trees of the train source).
            val = split.validation
            models = ThresholdPostProcessor(trained["train"][0].estimator_, constraint=constraint, prefit=True,
                                            random_state=seed).fit_etas(grid, val.X, val.y,
                                                                        sensitive_features=split.model_groups(val))
            table = _rows(models, split, name="validation*", seed=seed, fairness=fair, fit_seconds=np.nan)
            rows.append({"dataset": name, "fairness": fair, "seed": seed, "source": "validation*",
                         "fit_seconds": np.nan, **_front_figures(table, fair, ref)})
    return _summary(pd.DataFrame(rows), ["dataset", "fairness", "source"])


def compare_blind(datasets=("adult", "compas", "german"), seeds=None, fairness=tuple(GAPS),
                  n_etas: int = 16, sources=SOURCES) -> pd.DataFrame:
    """Inferred-group (attribute-blind) thresholds fitted on each of ``sources`` against the
    group-aware ones (the registry's defaults)."""
    from fairkit.estimators.batched import fit_eta_batch
    from fairkit.methods import get_method

    rows = []
    for name, seed, split, ref in _cases(datasets, seeds):
        X, y, s = split.train.X, split.train.y, split.model_groups(split.train)
        for fair in fairness:
            for method, source in [("threshold", None)] + [("inferred_threshold", src) for src in sources]:
                params = {} if source is None else {"thresholds_from": source}
                template = get_method(method).build(0.0, seed, fair, **params)
                t0 = time.perf_counter()
                models = fit_eta_batch(template, _grid(n_etas), X, y, sensitive_features=s)
                seconds = time.perf_counter() - t0
                table = _rows(models, split, name=method, seed=seed, fairness=fair, fit_seconds=seconds)
                rows.append({"dataset": name, "fairness": fair, "seed": seed, "method": method,
                             "source": template.thresholds_from, "fit_seconds": seconds,
                             **_front_figures(table, fair, ref)})
    return _summary(pd.DataFrame(rows), ["dataset", "fairness", "method", "source"])


def compare_speed(name: str = "adult", *, repeats: int = 3, n_etas: int = 8) -> pd.DataFrame:
    """One base fit against the threshold method's ``n_etas`` grid, estimator and sweep level."""
    from fairkit.estimators.postprocess import ThresholdPostProcessor, default_base
    from fairkit.methods import get_method
    from fairkit.split import reserve_threshold_rows
    from fairkit.sweep import run_sweep

    split = load_split(name)
    X, y, s = split.train.X, split.train.y, split.model_groups(split.train)
    held = reserve_threshold_rows(split, 0.5).threshold_set()  # the sweep's --threshold-rows 0.5
    grid = get_method("threshold").grid(n_etas)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        default_base(0).fit(X[:500], y[:500])  # one-off imports and LightGBM's first load
        times: dict = {}
        for _ in range(repeats):  # interleaved: the shared machine's load moves every timing
            for key, run in [
                ("base fit", lambda: default_base(0).fit(X, y)),
                ("grid (train)", lambda: ThresholdPostProcessor(default_base(0), thresholds_from="train").fit_etas(
                    grid, X, y, sensitive_features=s)),
                ("grid (holdout)", lambda: ThresholdPostProcessor(default_base(0), thresholds_from="holdout")
                 .fit_etas(grid, X, y, sensitive_features=s)),
                ("grid (crossfit)", lambda: ThresholdPostProcessor(default_base(0), thresholds_from="crossfit")
                 .fit_etas(grid, X, y, sensitive_features=s)),
                ("grid (threshold set)", lambda: ThresholdPostProcessor(default_base(0), thresholds_from="threshold_set")
                 .fit_etas(grid, X, y, sensitive_features=s, threshold_set=held)),
                ("sweep: boosting at eta 0", lambda: run_sweep(split, ["boosting"], [0.0], keep_models=False)),
                ("sweep: threshold grid", lambda: run_sweep(split, ["threshold"], grid, keep_models=False)),
            ]:
                t0 = time.perf_counter()
                run()
                times.setdefault(key, []).append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) for k, v in times.items()}
    rows = []
    for key, seconds in med.items():
        base = med["sweep: boosting at eta 0"] if key.startswith("sweep") else med["base fit"]
        rows.append({"dataset": name, "what": key, "etas": 1 if "base" in key or "boosting" in key else len(grid),
                     "seconds_median": seconds, "min": min(times[key]), "max": max(times[key]),
                     "x_one_base": seconds / base})
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    """Run the issue #21 comparisons and print (and save) their tables.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default ``sys.argv[1:]``); ``-h`` lists them.

    Returns
    -------
    int
        0 on success.
    """
    p = argparse.ArgumentParser(prog="python -m benchmarks.postprocess", description=__doc__.splitlines()[0])
    p.add_argument("--parts", default="speed,sources,blind", help="comma-separated, of: speed, sources, blind")
    p.add_argument("--datasets", default="adult,compas,german")
    p.add_argument("--seeds", type=int, default=None, help="seeds per dataset (default 2; German 5 re-splits)")
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats of the speed part")
    p.add_argument("--n-etas", type=int, default=16, help="etas of the sources' and blind parts' grids")
    add_out_argument(p)
    args = p.parse_args(argv)
    out = out_dir(args.out)
    parts = {x.strip() for x in args.parts.split(",")}
    datasets = tuple(d.strip() for d in args.datasets.split(",") if d.strip())
    seeds = None if args.seeds is None else range(args.seeds)
    pd.set_option("display.max_rows", 200)
    if "speed" in parts:
        report("Issue #21: threshold grid vs one base fit (medians)", compare_speed(repeats=args.repeats), out,
               "postprocess_speed")
    if "sources" in parts:
        report("Issue #21: where the thresholds are fitted (validation-chosen, test-reported, median over seeds)",
               compare_sources(datasets, seeds, n_etas=args.n_etas), out, "postprocess_sources")
    if "blind" in parts:
        # The holdout never led the group-aware comparison: the blind one fits on the other two.
        report("Issue #21: attribute-blind inferred groups vs group-aware thresholds",
               compare_blind(datasets, seeds, sources=("train", "crossfit"), n_etas=args.n_etas), out,
               "postprocess_blind")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
