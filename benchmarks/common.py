"""What every benchmark shares: data, the runs of both families, per-seed summaries, table output.

Every comparison is a function that returns a DataFrame, so the command line
(``python -m benchmarks``) and the tests share one implementation. Timings on a shared machine
are noisy: each comparison measures fairkit and its baseline in the same process, one after the
other, and reports *ratios*.

Conventions
-----------
* Data: bundled datasets with one sensitive attribute each (:data:`DEFAULT_SENSITIVE`), split
  seed 0 (train 60 % / validation 20 % / test 20 %).
* Operating points are chosen on validation and reported on test, with
  :func:`fairkit.frontier.best_at` for "accuracy at DP <= bound": choosing on test would
  overstate how good the chosen model is.
* fairlearn baselines are the plain mitigators: ``ExponentiatedGradient`` / ``GridSearch``
  predict hard labels (EG's ``predict`` is its randomized mixture, seeded by the run seed), and
  ``ThresholdOptimizer`` needs the sensitive attribute at prediction. Their ``roc_auc`` column
  is NaN: they have no probability output.
* Hypervolume: points are (test error, test DP difference) of the validation-chosen Pareto
  front of a seed's runs; reference point ``(majority-class error on test, 1.0)`` so a model no
  better than always predicting the majority class adds nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from fairkit.frontier import best_at

#: The sensitive attribute used for each bundled dataset (the literature's usual choice).
DEFAULT_SENSITIVE = {"adult": ["sex"], "compas": ["race"], "german": ["age_group"], "adult200k": ["sex"]}

#: fairkit eta grids. The first grids (8 values) came from quick Adult runs (regularized:
#: eta = weight of the absolute DP penalty; lagrangian: gap bound = 0.2 / eta; linear: the
#: registry's grid). From the fifth run on they are interpolated to as many frontier points as
#: fairlearn gets (16 bounds of ExponentiatedGradient, a 16-point GridSearch grid) for the
#: methods whose etas train together in one batched pass or cost little (regularized, linear,
#: boosting), and to 10 and 8 for the costlier Lagrangian and adversarial trainers.
ETAS = {
    "regularized": [0.0, 0.1, 0.25, 0.4, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.0, 10.0],
    "lagrangian": [2.0, 3.0, 5.0, 7.0, 10.0, 15.0, 20.0, 30.0, 40.0, 60.0],
    "linear": [0.0, 0.05, 0.07671, 0.1177, 0.1805, 0.277, 0.4249, 0.6518, 1.0, 1.534, 2.354, 3.611, 5.539,
               8.498, 13.04, 20.0],  # the registry's default range, 16 points
    "boosting": [0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 70.0, 100.0, 150.0],
    "adversarial": [0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0],
    "threshold": [0.0, 0.25, 0.5, 0.75, 0.9, 1.0],
    "reductions": [0.0, 0.25, 0.5, 0.75, 0.9, 1.0],
}
QUICK_ETAS = {
    "regularized": [0.0, 0.5, 1.5, 3.0],
    "lagrangian": [5.0, 20.0],
    "linear": [0.0, 0.3684, 2.714],
    "boosting": [0.0, 10.0, 30.0],
    "adversarial": [0.3, 3.0],
    "threshold": [0.0, 0.5, 0.9, 1.0],
    "reductions": [0.0, 0.5, 0.9],
}
#: Demographic-parity difference bounds of the fairlearn baselines.
BOUNDS = [0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2, 0.25, 0.3, 0.4]
QUICK_BOUNDS = [0.01, 0.05]
#: Tolerances of the plain ThresholdOptimizer baseline (fairlearn's ``tol``).
TO_TOLS = [0.0, 0.01, 0.02, 0.05, 0.1, 0.2]

DP = "demographic_parity_difference"

#: Where tables go unless the user names a folder: relative to the current directory, which is
#: the project root whenever ``python -m benchmarks`` finds the package (gitignored there).
DEFAULT_OUT = "benchmarks/results"


# ------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------

_SPLITS: dict = {}


def load_split(name: str, *, sensitive=None, seed: int = 0):
    """A bundled dataset split with one sensitive attribute (cached per process).

    Parameters
    ----------
    name : str
        A key of :data:`DEFAULT_SENSITIVE` (a bundled dataset, or a generated one of
        :mod:`benchmarks.generated`).
    sensitive : list of str, optional
        Sensitive columns; default ``DEFAULT_SENSITIVE[name]``.
    seed : int
        The split seed.

    Returns
    -------
    fairkit.split.Split
    """
    from fairkit.datasets import load_dataset
    from fairkit.split import split_dataset

    sensitive = list(sensitive or DEFAULT_SENSITIVE[name])
    key = (name, tuple(sensitive), seed)
    if key not in _SPLITS:
        from .generated import GENERATED, adult_like

        frame, spec = adult_like(*GENERATED[name]) if name in GENERATED else load_dataset(name)
        _SPLITS[key] = split_dataset(frame, spec.replace(sensitive=sensitive), seed=seed)
    return _SPLITS[key]


def majority_error(y) -> float:
    """Error of always predicting the majority class of the 0/1 labels ``y``."""
    p = float(np.mean(y))
    return min(p, 1.0 - p)


# ------------------------------------------------------------------------------------------
# running fairkit and the baselines into one table format
# ------------------------------------------------------------------------------------------

def split_metrics(split, predict) -> dict:
    """``val_*`` / ``test_*`` metrics of a predictor ``predict(part) -> scores`` (fairkit's report)."""
    from fairkit.metrics import fairness_report

    row = {}
    for prefix, part in (("val", split.validation), ("test", split.test)):
        scores = np.asarray(predict(part), dtype=float)
        rep = fairness_report(part.y, scores, part.sensitive, n_boot=0)
        row.update({f"{prefix}_{k}": v for k, v in rep.summary().items()})
    return row


def fairkit_runs(split, methods, etas=None, seeds=(0,), *, params=None, n_jobs=1) -> pd.DataFrame:
    """fairkit's sweep table (``run_sweep``) with a ``family`` column.

    Parameters
    ----------
    split : fairkit.split.Split
    methods : list of str
        Registry method names.
    etas : dict, optional
        Method -> eta grid; default :data:`ETAS`.
    seeds : sequence of int
        Training seeds.
    params : dict, optional
        Method -> estimator parameters (see :func:`torch_params`).
    n_jobs : int
        Passed to ``run_sweep``.

    Returns
    -------
    DataFrame
        The sweep's results with ``family = "fairkit"`` and ``bound = NaN``.
    """
    from fairkit.sweep import run_sweep

    etas = etas or ETAS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run_sweep(split, list(methods), {m: etas.get(m) for m in methods}, list(seeds),
                        params=params, n_jobs=n_jobs, keep_models=False)
    table = res.results.copy()
    table.insert(1, "family", "fairkit")
    table["bound"] = np.nan
    return table


def _base(name: str, seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    if name == "lr":
        return LogisticRegression(max_iter=300)
    if name == "hgb":
        return HistGradientBoostingClassifier(random_state=seed)
    raise ValueError(f"unknown base learner '{name}' (lr, hgb)")


def _sens(part):
    return part.sensitive.iloc[:, 0] if part.sensitive.shape[1] == 1 else part.sensitive


def _no_auc(row: dict) -> dict:
    for k in ("val_roc_auc", "test_roc_auc", "val_log_loss", "test_log_loss"):
        row[k] = float("nan")
    return row


def fairlearn_eg_runs(split, bounds, seeds=(0,), *, base="lr", fit_seeds=None) -> pd.DataFrame:
    """Plain fairlearn ``ExponentiatedGradient(base, DemographicParity(bound))`` at each bound.

    ``fit_seeds`` (default: ``seeds``) are the seeds that get their own fit; a deterministic
    base learner (LogisticRegression) gives the same fit for every seed, so with
    ``fit_seeds=[0]`` that fit is reused and only EG's randomized ``predict`` is reseeded.
    """
    from fairlearn.reductions import DemographicParity, ExponentiatedGradient

    fit_seeds = list(seeds) if fit_seeds is None else list(fit_seeds)
    rows = []
    for b in bounds:
        fitted = {}
        for s in fit_seeds:
            eg = ExponentiatedGradient(_base(base, s), DemographicParity(difference_bound=b))
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                eg.fit(split.train.X, split.train.y, sensitive_features=_sens(split.train))
            fitted[s] = (eg, time.perf_counter() - t0)
        for s in seeds:
            eg, secs = fitted[s if s in fitted else fit_seeds[0]]
            row = {"method": f"eg_{base}", "family": "fairlearn", "eta": np.nan, "bound": b, "seed": s,
                   "fit_seconds": secs if s in fitted else np.nan, "needs_sensitive_at_predict": False,
                   "n_predictors": int(len(eg.predictors_))}
            row.update(split_metrics(split, lambda part, eg=eg, s=s: eg.predict(part.X, random_state=s)))
            rows.append(_no_auc(row))
    return pd.DataFrame(rows)


def fairlearn_gridsearch_runs(split, seeds=(0,), *, base="lr", grid_size=16, fit_seeds=None) -> pd.DataFrame:
    """Plain fairlearn ``GridSearch``: every learner of its Lagrange grid is one frontier point.

    GridSearch's prediction is deterministic, so seeds without their own fit (``fit_seeds``,
    default ``seeds``) repeat the first fit's rows; that keeps every seed's union complete.
    """
    from fairlearn.reductions import DemographicParity, GridSearch

    fit_seeds = list(seeds) if fit_seeds is None else list(fit_seeds)
    fitted = {}
    for s in fit_seeds:
        gs = GridSearch(_base(base, s), DemographicParity(), grid_size=grid_size)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gs.fit(split.train.X, split.train.y, sensitive_features=_sens(split.train))
        secs = time.perf_counter() - t0
        rows = []
        for i, pred in enumerate(gs.predictors_):
            row = {"method": f"gridsearch_{base}", "family": "fairlearn", "eta": float(i), "bound": np.nan,
                   "fit_seconds": secs / len(gs.predictors_), "needs_sensitive_at_predict": False}
            row.update(split_metrics(split, lambda part, p=pred: p.predict(part.X)))
            rows.append(_no_auc(row))
        fitted[s] = rows
    out = []
    for s in seeds:
        own = s in fitted
        out += [{**r, "seed": s, "fit_seconds": r["fit_seconds"] if own else np.nan}
                for r in fitted[s if own else fit_seeds[0]]]
    return pd.DataFrame(out)


def fairlearn_threshold_runs(split, seeds=(0,), *, base="lr", tols=None, fit_seeds=None) -> pd.DataFrame:
    """Plain fairlearn ``ThresholdOptimizer`` (DP, accuracy objective) at several tolerances.

    Seeds without their own fit (see ``fit_seeds``) reuse the first fit; ``predict`` (randomized
    thresholds) is always seeded by the run's seed.
    """
    from fairlearn.postprocessing import ThresholdOptimizer

    tols = TO_TOLS if tols is None else tols
    fit_seeds = list(seeds) if fit_seeds is None else list(fit_seeds)
    rows = []
    for s in seeds:
        est = _base(base, s if s in fit_seeds else fit_seeds[0])
        t0 = time.perf_counter()
        # fairlearn's interpolated thresholder writes probabilities into an array of X's dtype;
        # float32 features make that fail, so the baseline gets float64.
        X64 = split.train.X.astype(np.float64)
        est.fit(X64, split.train.y)
        base_secs = time.perf_counter() - t0
        for tol in tols:
            to = ThresholdOptimizer(estimator=est, constraints="demographic_parity", prefit=True,
                                    predict_method="predict_proba", tol=tol)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                to.fit(X64, split.train.y, sensitive_features=_sens(split.train))
            row = {"method": f"threshold_{base}", "family": "fairlearn", "eta": np.nan, "bound": tol, "seed": s,
                   "fit_seconds": (base_secs + time.perf_counter() - t0) if s in fit_seeds else np.nan,
                   "needs_sensitive_at_predict": True}
            row.update(split_metrics(split, lambda part, to=to, s=s: to.predict(
                part.X.astype(np.float64), sensitive_features=_sens(part), random_state=s)))
            rows.append(_no_auc(row))
    return pd.DataFrame(rows)


def limit_threads(n: int) -> None:
    """Limit torch and BLAS/OpenMP threads to ``n`` for the rest of the process.

    Both sides of a comparison run in this process, so one limit applies to fairkit and its
    baseline alike (e.g. ``n=1`` on a loaded 2-core machine).
    """
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    threadpool_limits(n)


def torch_params(**kw) -> dict:
    """``run_sweep`` params giving every torch method ``kw`` (the threshold method's base is
    boosted trees since issue #21: torch settings do not apply to it)."""
    return {m: dict(kw) for m in ("unconstrained", "regularized", "lagrangian", "adversarial")}


# ------------------------------------------------------------------------------------------
# summaries
# ------------------------------------------------------------------------------------------

def best_at_by_seed(table: pd.DataFrame, bound: float) -> float:
    """Median over seeds of ``best_at`` (validation-chosen, test-reported) accuracy.

    NaN when no seed has a run whose validation DP difference is within ``bound``.
    """
    vals = [best_at(sub, bound) for _, sub in table.groupby("seed")]
    return float(np.nanmedian(vals)) if np.isfinite(vals).any() else float("nan")


def front_hypervolume(front: pd.DataFrame, ref_error: float, *, part: str = "test", max_gap: float = 1.0) -> float:
    """Hypervolume of a :func:`fairkit.frontier.pareto_front` table's (error, gap) points on ``part``.

    The reference point is ``(ref_error, max_gap)``: with the majority-class error of ``part``
    (:func:`majority_error`) a model no better than that constant adds nothing.
    """
    from fairkit.frontier import hypervolume

    return hypervolume(1 - front[f"performance_{part}"], front[f"unfairness_{part}"], ref=(ref_error, max_gap))


def ratio(a, b) -> float:
    """``a / b``, NaN when either is not finite or ``b`` is zero."""
    return float(a / b) if b and np.isfinite(a) and np.isfinite(b) else float("nan")


# ------------------------------------------------------------------------------------------
# output
# ------------------------------------------------------------------------------------------

def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return "nan" if not np.isfinite(v) else f"{v:.4g}"
    return str(v)


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub markdown table (no optional dependency)."""
    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def add_out_argument(parser) -> None:
    """Give an ``argparse`` parser the ``--out`` folder every benchmark command takes."""
    parser.add_argument("--out", default=DEFAULT_OUT,
                        help="folder for the CSV / markdown tables, relative to the current directory ('' = none)")


def out_dir(path: str) -> Path | None:
    """The folder a ``--out`` value names (``''`` = write nothing), relative to the current directory."""
    return Path(path) if path else None


def report(title: str, table: pd.DataFrame, out: Path | None, name: str, *, float_format="{:.4g}") -> None:
    """Print ``table`` under ``title``; with ``out``, also write ``<out>/<name>.csv`` and ``.md``."""
    print(f"\n## {title}\n")
    with pd.option_context("display.width", 200, "display.max_columns", 40,
                           "display.float_format", float_format.format):
        print(table.to_string(index=False))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / f"{name}.csv", index=False)
        (out / f"{name}.md").write_text(f"## {title}\n\n" + to_markdown(table) + "\n")


def own_peak_mib() -> float:
    """This process's peak resident memory since it started, in MiB (``VmHWM``).

    Not ``getrusage``'s ``ru_maxrss``: a child forked from a larger process carries that
    process's high-water mark across ``exec`` (a unit test read its worker's 1 GiB so, session
    48), so the benchmark would report the driver's size, not the measured code's.
    """
    with open("/proc/self/status") as fh:
        return int(fh.read().split("VmHWM:")[1].split()[0]) / 1024  # kB


def run_in_checkout(repo, code: str, *args, cwd=None) -> dict:
    """Run ``code`` (``python -c``) with the fairkit of checkout ``repo``; returns the JSON its
    last line of output prints.

    ``python -c`` puts the current folder first on the import path, ahead of ``PYTHONPATH``: run
    from one checkout, both "sides" of a comparison imported that checkout's fairkit (the export
    and score benchmarks compared a checkout with itself until session 47). The child runs in
    ``cwd`` (a folder of its own by default) and says where its fairkit came from, which must be
    ``repo``.
    """
    env = dict(os.environ, PYTHONPATH=str(repo), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    probe = "\nimport fairkit as _probe, sys as _sys\nprint('fairkit from', _probe.__file__, file=_sys.stderr)\n"
    with tempfile.TemporaryDirectory() as own:
        done = subprocess.run([sys.executable, "-c", code + probe, *map(str, args)], env=env, cwd=cwd or own,
                              capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"the child for {repo} exited {done.returncode}:\n{done.stderr[-3000:]}")
    where = Path(done.stderr.strip().splitlines()[-1].removeprefix("fairkit from ")).resolve()
    if not where.is_relative_to(Path(repo).resolve()):
        raise RuntimeError(f"the child imported fairkit from {where}, not from the checkout {repo}")
    return json.loads(done.stdout.strip().splitlines()[-1])
