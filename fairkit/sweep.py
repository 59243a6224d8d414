"""Sweeps: every method x eta x seed, trained once, stored, and laid out as a tidy table.

``run_sweep`` looks every run up in the :class:`~fairkit.store.ResultStore` first and only trains
what is missing, spreading the work with joblib processes locally, or over a Dask cluster when a
scheduler address is given (``tcp://`` or ``tls://`` with a :class:`distributed.Security`). Each
finished run is written to the store as soon as it arrives, so an interrupted sweep, or one whose
Dask workers all died, keeps its finished runs.

With ``adaptive=True`` the sweep starts from each method's grid and then places new etas where
neighbouring models' validation unfairness is further apart than a target spacing
(:func:`place_etas`), round after round, until the spacing holds or a run budget is spent. With
a ``tolerance`` it brackets that validation gap instead; :func:`sweep_to_tolerance` then picks
the most accurate model within it and reports it on test. Constant and near-constant models
(:func:`fairkit.frontier.decides_alike`) are flagged in the table and kept off the front.
"""

from __future__ import annotations

import contextlib
import heapq
import inspect
import math
import os
import re
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from .data import as_list
from .frontier import best_within, constant_mask, constant_note, metric_column, seed_summary, settings, within_tolerance
from .methods import DEFAULT_FAIRNESS, DEFAULT_METHODS, RegistryError, get_definition, get_method, scores_rank
from .metrics import (
    CHANCE_N_SIM,
    GAP_METRICS,
    OVERALL_METRICS,
    SWEEP_THRESHOLD,
    bootstrap_metrics,
    fairness_report,
    gap_noise_floor,
    summary_metrics,
)
from .split import DatasetSplit
from .stats import decide, paired_proportion_interval, recentred_interval
from .store import NOT_STORED, RESULTS_REVISION, ResultStore, cache_key, library_versions, strict_json

SWEEP_METRICS = OVERALL_METRICS + GAP_METRICS

#: Target spacing of adaptive eta placement: neighbouring models of a method (sorted by
#: validation unfairness, from parity up to its unconstrained gap) differ by at most this much.
DEFAULT_SPACING = 0.02
#: Refinement runs each method and seed may add beyond its grid, as a multiple of the grid size
#: (``n_etas``), when ``run_sweep(budget=None)``.
BUDGET_PER_GRID_POINT = 3
# An eta interval narrower than this (relative width on a log scale, a share of the range on a
# linear one) is not split again: its two ends train nearly the same model, so a jump between
# them is a cliff of the method, not a hole of the grid (find_cliffs names it in the sweep
# table), and more etas there would only spend the budget.
MIN_ETA_STEP = 0.02
# A batchable method trains a round's etas as one stacked fit, whose time grows slowly with
# their number, so a round is what costs: it gets at least BRACKET_POINTS etas between a usable
# model and a constant neighbour (one per spacing of that model's distance to parity when that
# is more) or across a tolerance bracket (where the cliff or the crossing lies is unknown), and
# FILL_FACTOR times the etas a hole needs if the unfairness were even in eta (it is not). A
# method that fits one eta at a time pays per eta: it bisects, and fills exactly.
BRACKET_POINTS = 6
FILL_FACTOR = 1.5
# Most etas one interval gets in one round.
MAX_POINTS_PER_INTERVAL = 12
# After the first refinement round, another round trains only while a hole wider than this
# multiple of the spacing is left: each round pays a stacked fit's fixed cost again (about half
# the grid's time on Adult), so it is spent on steps a user would notice, not on holes just
# above the spacing (benchmarks/README.md, issue 19).
LATER_ROUND_FACTOR = 1.5
# An unbounded method whose largest eta is still usable and far from parity (or above the
# tolerance) tries etas 2, 4, 8 times larger.
EXTEND_FACTORS = (2.0, 4.0, 8.0)


#: Seconds a Dask sweep waits to reach its scheduler, for a first worker, and with no worker left
#: before it gives up (finished runs are kept).
DASK_TIMEOUT = 20.0


class SweepCancelled(RuntimeError):
    """Raised when a sweep's ``should_stop`` callback asks it to stop; finished runs are kept."""


class SchedulerError(RuntimeError):
    """The Dask scheduler cannot be reached or has no workers; runs finished before are kept.

    The message names the address and what to do; the CLI reports it with exit code 2.
    """


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: a method at one eta with one seed."""

    method: str
    eta: float
    seed: int
    fairness: str = DEFAULT_FAIRNESS
    params: tuple = ()

    def key(self, split) -> str:
        # Rows reserved for the thresholds change what every run is chosen on (the validation part).
        return cache_key(
            data=split.data_hash, spec=split.spec.to_dict(), split_seed=split.seed,
            features=split.feature_names, method=self.method, eta=self.eta, seed=self.seed,
            fairness=self.fairness, params=dict(self.params), **split.reservation(),
        )


@dataclass
class SweepResult:
    """The outcome of a sweep.

    Attributes
    ----------
    results : DataFrame
        One row per method x eta x seed: ``run_id``, ``method``, ``eta``, ``seed``,
        ``needs_sensitive_at_predict``, ``fit_seconds``, ``cached`` and ``val_<metric>`` /
        ``test_<metric>`` for every metric in ``SWEEP_METRICS``.
    store : ResultStore or None
    """

    results: pd.DataFrame
    store: ResultStore | None = None
    models: dict = field(default_factory=dict, repr=False)
    wall_seconds: float = 0.0
    rounds: int = 1
    #: Stored runs that failed the store's checks (damaged, edited, or stored by an earlier
    #: fairkit) and were trained again: run id -> what failed.
    failed_checks: dict = field(default_factory=dict)

    def model(self, run_id: str):
        """The fitted estimator of a run (from memory, or loaded from the store)."""
        if run_id in self.models:
            return self.models[run_id]
        if self.store is None:
            raise KeyError(f"Run {run_id} is not in this result.")
        return self.store.load_model(run_id)


#: Most runs (etas x seeds) a sweep plans for one method: 200 etas (the command line's largest
#: default grid) for each of 10 seeds. A method's runs can train as one stack of models, whose
#: memory grows with their number: 20,000 etas ran out of memory after a minute, where a refusal
#: before anything trains tells the user what to change.
MAX_RUNS_PER_METHOD = 2_000


def plan_runs(methods, etas=None, seeds=(0,), *, fairness=DEFAULT_FAIRNESS, n_etas=8, params=None) -> list[RunSpec]:
    """The runs of a sweep, every method, eta and fairness definition checked against the registry.

    Nothing trains here, so a sweep that would fail on a method's eta range fails before its
    first fit (:meth:`fairkit.methods.Method.check_etas`).

    Parameters
    ----------
    methods : str or list of str
        Registry names (one name is a list of it).
    etas : list of float, dict of method -> list, or None
        A list applies to every method that sweeps eta; None uses each method's default grid.
    seeds : int or iterable of int
    n_etas : int
        Size of the default grids.
    params : dict of method -> dict, optional
        Extra estimator parameters per method.

    Raises
    ------
    fairkit.methods.RegistryError
        An unknown method or fairness definition, an eta outside a method's range (the
        message names the method, the value and the valid range), or more than
        :data:`MAX_RUNS_PER_METHOD` etas x seeds for a method.
    """
    params = params or {}
    methods, seeds = as_list(methods), as_list(seeds)
    bad = [s for s in seeds if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer))]
    if bad or not seeds:
        raise ValueError(f"seeds must be one integer or a list of integers, got {bad[0] if bad else seeds!r}")
    runs = []
    for name in methods:
        m = get_method(name)
        m.check_fairness(fairness)
        if isinstance(etas, dict):
            grid = etas.get(name) or m.grid(n_etas)
        elif etas is not None:
            grid = list(etas)
        else:
            grid = m.grid(n_etas)
        grid = m.check_etas(grid, grid=m.grid(n_etas))  # a refusal names the grid n_etas gives
        if len(grid) * len(seeds) > MAX_RUNS_PER_METHOD:
            counts = " x ".join(f"{n:,} {what}{'s' * (n != 1)}" for n, what in ((len(grid), "eta"), (len(seeds), "seed")))
            raise RegistryError(f"{name}: {counts} are {len(grid) * len(seeds):,} runs, over the limit of "
                                f"{MAX_RUNS_PER_METHOD:,} a method. Give fewer etas or seeds.")
        p = tuple(sorted(params.get(name, {}).items()))
        runs += [RunSpec(name, float(e), int(s), fairness, p) for e in grid for s in seeds]
    return runs


def predict_scores(model, split, part):
    """Positive-class scores of a sweep model on a part of its split (groups as in training)."""
    return _predict_scores(model, part.X, split.model_groups(part))


def _predict_scores(model, X, sensitive):
    if getattr(model, "needs_sensitive_at_predict", False):
        return model.predict_proba(X, sensitive_features=sensitive)[:, 1]
    return model.predict_proba(X)[:, 1]


@contextmanager
def torch_threads(n: int = 1):
    """Run torch on ``n`` threads inside the block (restored afterwards).

    Sweeps train many small networks; on a 2-core machine shared with joblib workers, torch's
    default intra-op threads make small ops many times slower than one thread does.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _rows(runs: list, models: list, split, fit_seconds: float, caught, batched: int = 1) -> list[dict]:
    """Result rows of models trained together: every model scored, then one metrics pass per part."""
    warned = "; ".join(sorted({str(w.message)[:200] for w in caught if issubclass(w.category, UserWarning)}))
    rows = []
    for run in runs:
        method = get_method(run.method)
        rows.append({
            "method": run.method, "eta": run.eta, "seed": run.seed, "fairness": run.fairness,
            "needs_sensitive_at_predict": bool(method.needs_sensitive_at_predict),
            "fit_seconds": fit_seconds, "batched_with": batched,
            "n_train": int(len(split.train)), "warnings": warned,
            "predicted_fit_seconds": _predicted_or_none(run, split, batched),
        })
    for row, figures in zip(rows, run_figures([run.method for run in runs], models, split)):
        row.update(figures)
    return rows


def run_figures(methods: list, models: list, split) -> list[dict]:
    """The ``val_*`` and ``test_*`` figures of fitted models on their split, as a sweep stores them.

    Each model scores a part on its own (its ``predict_proba``, as the record, ``score`` and the
    dashboard score it), then the evaluation kernel (:func:`fairkit.metrics.summary_metrics`) runs
    once for all of them. Not the networks of one batched fit in one stacked pass: that pass sums
    in another order (scores ~1e-16 apart), which reorders exactly tied scores, and on COMPAS's
    many ties moved ROC AUC by 2.6e-6, so the export's check of the figures against each model
    refused ordinary sweeps as edited (upgrade audit, session 50).

    Parameters
    ----------
    methods : list of str
        Each model's method (whether its scores rank: no AUC of decisions).
    models : list of fitted estimators
    split : DatasetSplit

    Returns
    -------
    list of dict
        One per model.
    """
    out = [{} for _ in models]
    for prefix, part in (("val", split.validation), ("test", split.test)):
        groups = split.model_groups(part)  # encoded once for the K models
        scores = np.stack([_predict_scores(model, part.X, groups) for model in models])
        ranks = [scores_rank(m) for m in methods]  # no AUC of decisions (metrics.NO_RANKING)
        for row, metrics in zip(out, summary_metrics(part.y, scores, part.sensitive, ranks=ranks)):
            row.update({f"{prefix}_{k}": v for k, v in metrics.items()})
    return out


def _fit_kwargs(model, split) -> dict:
    """What ``model.fit`` gets besides the training rows: the groups, and the split's reserved
    threshold rows for a method that fits thresholds on held-out rows (``threshold_set``)."""
    kwargs = {"sensitive_features": split.model_groups(split.train)}
    if split.thresholds is not None and "threshold_set" in inspect.signature(model.fit).parameters:
        kwargs["threshold_set"] = split.threshold_set()
    return kwargs


def fit_and_evaluate(run: RunSpec, split):
    """Train one run on the training part and report it on validation and test.

    Returns
    -------
    (dict, estimator)
        The result row (metrics prefixed ``val_`` / ``test_``) and the fitted model.
    """
    model = get_method(run.method).build(run.eta, run.seed, run.fairness, **dict(run.params))
    with torch_threads(1), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        model.fit(split.train.X, split.train.y, **_fit_kwargs(model, split))
        fit_seconds = time.perf_counter() - t0
        (row,) = _rows([run], [model], split, fit_seconds, caught)
    return row, model


def fit_group(task: list, split) -> list:
    """Train a task: one run, or several etas of a batchable method in one batched pass.

    Returns a list of ``(key, row, model)``; a batched task's fit time is shared equally.
    """
    if len(task) == 1:
        run, key = task[0]
        row, model = fit_and_evaluate(run, split)
        return [(key, row, model)]
    from .estimators.batched import fit_eta_batch

    first = task[0][0]
    template = get_method(first.method).build(0.0, first.seed, first.fairness, **dict(first.params))
    with torch_threads(1), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        models = fit_eta_batch(template, [r.eta for r, _ in task], split.train.X, split.train.y,
                               **_fit_kwargs(template, split))
        share = (time.perf_counter() - t0) / len(task)
        rows = _rows([run for run, _ in task], models, split, share, caught, batched=len(task))
        return [(key, row, m) for (_, key), row, m in zip(task, rows, models)]


def worker_environment() -> dict:
    """What the figures of a run depend on in the process that trains it: the versions a run
    records (:func:`fairkit.store.library_versions`) and the results revision."""
    return {**library_versions(), "results_revision": RESULTS_REVISION}


def on_worker(expected: dict, module: str | None = None, function: str | None = None):
    """A Dask task running ``module.function(*args)`` on a worker whose environment is ``expected``
    (:func:`worker_environment`); it answers ``{"worker", "environment", "results"}`` (without a
    function, the environment only: :func:`check_cluster`'s question).

    A worker keeps the fairkit it imported first: after an upgrade its runs were stored as the
    new fairkit's, under the new revision, for good (Dask audit, session 50); the client checks
    what each task says it ran (:func:`check_environment`). The task is a nested function, which
    Dask (cloudpickle) sends as code, not as a name: a worker whose fairkit lacks it, an older
    one, failed to read a task named by a function it did not have and left the cluster without
    a word. So it cannot call :func:`worker_environment` either and reads the same versions
    itself (a test holds the two equal); it runs nothing where they are not ``expected``.
    """
    def run(*args):
        import importlib

        from distributed import get_worker

        store = importlib.import_module("fairkit.store")
        env = {**getattr(store, "library_versions", dict)(), "fairkit": importlib.import_module("fairkit").__version__,
               "results_revision": getattr(store, "RESULTS_REVISION", None)}
        results = getattr(importlib.import_module(module), function)(*args) if function and env == expected else None
        try:
            worker = get_worker().address
        except ValueError:  # run by Client.run, outside a task: the caller knows the address
            worker = None
        return {"worker": worker, "environment": env, "results": results}

    return run


def check_cluster(client, here: dict) -> None:
    """Refuse a cluster any of whose workers runs another environment than ``here``, before any
    task is sent (:func:`check_environment`; each task's answer is checked too, for workers that
    join later): a search's mismatched worker ran nothing and said so only when the search had
    ended (review of session 50)."""
    answers = client.run(on_worker(here))
    for address, out in answers.items():
        if isinstance(out, dict) and out.get("worker") is None:
            out = {**out, "worker": address}
        check_environment(out, here)


def check_environment(out, here: dict) -> tuple[str, object]:
    """``(worker, results)`` of an :func:`on_worker` task's answer, or :class:`SchedulerError`
    when its worker runs another environment than ``here`` (its runs would be stored, and
    served, as this machine's: a run's key holds this machine's versions)."""
    same = ("this machine's environment (start the workers from it, and restart them after an upgrade: "
            "a worker keeps the fairkit it imported first)")
    if not isinstance(out, dict) or not isinstance(out.get("environment"), dict):
        raise SchedulerError(f"A Dask worker answered as another fairkit does (not as fairkit {here['fairkit']}): "
                             f"the workers need {same}. Nothing of its answer was kept.")
    worker, env = str(out.get("worker")), out["environment"]
    moved = [f"{name.replace('_', ' ')} {env.get(name, 'none')} (here {value})" for name, value in here.items()
             if env.get(name) != value]
    if moved:
        raise SchedulerError(f"The Dask worker at {worker} runs {', '.join(moved)}: its work would be kept as this "
                             f"machine's. The workers need {same}. Nothing of its answer was kept.")
    return worker, out.get("results")


def _tasks(todo: list, batched: bool) -> list:
    """Group runs that can train together (a batchable method, same seed and parameters) into tasks."""
    if not batched:
        return [[t] for t in todo]
    from .estimators.batched import can_batch

    groups: dict = {}
    for run, key in todo:
        # repr: parameters may hold dicts (the threshold method's base_params), which do not hash.
        groups.setdefault((run.method, run.seed, run.fairness, repr(run.params)), []).append((run, key))
    tasks = []
    for members in groups.values():
        first = members[0][0]
        method = get_method(first.method)
        # Batched only when the trainer reproduces this estimator's own fit: the same steps and
        # decisions, its probabilities to about 1e-7 (stacked kernels sum in another order), so a
        # run's last digits depend on which etas were trained with it (its batched_with).
        if len(members) > 1 and method.batchable and can_batch(
                method.build(0.0, first.seed, first.fairness, **dict(first.params))):
            tasks.insert(0, members)
        else:
            tasks.extend([m] for m in members)
    return tasks


def _interior(lo: float, hi: float, k: int, log: bool) -> list[float]:
    """``k`` etas strictly between ``lo`` and ``hi``, evenly spaced (geometrically when ``log``)."""
    pts = np.geomspace(lo, hi, k + 2)[1:-1] if log and lo > 0 else np.linspace(lo, hi, k + 2)[1:-1]
    # Rounded like the registry's grids, so refined etas read well and their cache keys repeat.
    return [float(f"{v:.4g}") for v in pts]


def _width(lo: float, hi: float, method) -> float:
    """An eta interval's width in units of ``MIN_ETA_STEP``: relative on a log scale, else a share
    of the range (of its smallest positive grid value for a log scale starting at 0)."""
    lo, hi = sorted((lo, hi))
    if method.eta_scale == "log" and lo > 0:
        return math.log(hi / lo) / math.log1p(MIN_ETA_STEP)
    scale = method.eta_range[0] if method.eta_scale == "log" else method.eta_range[1]
    return (hi - lo) / (MIN_ETA_STEP * scale) if scale > 0 else math.inf


def _resolved(lo: float, hi: float, method) -> bool:
    """Whether the eta interval is too narrow to split (see ``MIN_ETA_STEP``)."""
    return _width(lo, hi, method) < 1.0


def _extension(method, top: float, below: float) -> list[float]:
    """Etas beyond ``top``, the largest tried (``below`` is the next smaller one)."""
    n = len(EXTEND_FACTORS)
    if method.eta_bounded:
        bound = float(method.eta_range[1])
        return [] if top >= bound else _interior(top, bound, n - 1, False) + [bound]
    if method.eta_scale == "log" and top > 0:
        return [float(f"{top * f:.4g}") for f in EXTEND_FACTORS]
    step = top - below if top > below else (method.eta_range[1] or 1.0)
    return [float(f"{top + j * step:.4g}") for j in range(1, n + 1)]


def parse_numbers(text: str) -> list[float]:
    """Numbers typed as a list (etas ``"0, 0.3, 3, 30"``, tolerances ``"0.01 0.05"``; commas,
    semicolons or spaces), sorted and unique: the one reader of typed lists, for the Train page
    and the command line alike (they read "0.1 0.3" and "0.1, 0.1" differently: one-implementation
    audit, session 53).

    Raises
    ------
    ValueError
        Naming the entry that is not a number, or for an empty list.
    """
    values = []
    for item in str(text).replace(";", ",").replace(" ", ",").split(","):
        if not item.strip():
            continue
        try:
            values.append(float(item))
        except ValueError:
            raise ValueError(f"'{item.strip()}' is not a number") from None
    if not values:
        raise ValueError("the list is empty")
    return sorted(set(values))


def tolerances(tolerance) -> tuple[float, ...]:
    """The validation gaps a sweep brackets: ``tolerance`` as a sorted tuple (None: none).

    Parameters
    ----------
    tolerance : float, sequence of float or None
        One tolerance or several (a committee that will choose at 0.01, 0.02 or 0.05).

    Returns
    -------
    tuple of float

    Raises
    ------
    ValueError
        A tolerance that is not a finite number from 0 to 1.
    """
    if tolerance is None:
        return ()
    values = [tolerance] if np.ndim(tolerance) == 0 else list(tolerance)
    out = []
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError):
            f = math.nan
        if not (math.isfinite(f) and f >= 0):
            raise ValueError(f"a tolerance is a validation gap of at least 0, got {v!r}")
        if f > 1:
            # Every gap is a difference of rates, at most 1: a tolerance of 2 was taken and
            # bracketed nothing (install audit, session 49); "5" is likely meant as 5 %. 1 itself
            # (no limit) stays, as the Train page always took it and sessions keep it.
            raise ValueError(f"a tolerance is a validation gap of at most 1 (a difference between rates), got {v!r}"
                             + (f"; for {f:g} % write {f / 100:g}" if f <= 100 else ""))
        out.append(f)
    return tuple(sorted(set(out)))


def _curve(etas, unfairness, constant):
    """One method's trained etas sorted, their unfairness and which models are unusable."""
    e = np.asarray(etas, dtype=float)
    order = np.argsort(e, kind="stable")
    u = np.asarray(unfairness, dtype=float)[order]
    return e[order], u, np.asarray(constant, dtype=bool)[order] | ~np.isfinite(u)


def _spacing_needs(method, e, u, c, spacing: float):
    """What the spacing asks of a sorted curve (see :func:`place_etas`).

    Returns
    -------
    needs : list of (size, want, kind, i)
        The intervals a round would split: ``kind`` "fill" (two usable models ``size`` apart),
        "edge" (a usable model ``size`` from parity beside a constant one) or "extend" (beyond
        the largest eta); ``i`` the interval's left index, ``want`` the etas it asks for.
    holes : list of (lo, hi, i)
        Every gap wider than ``spacing`` between sorted usable unfairness values from parity
        up to the least constrained model's. ``i`` is None unless only resolved intervals
        (two etas closer than ``MIN_ETA_STEP``) span it: then the hole is a cliff, the method
        jumps there and no eta fills it, and ``i`` is one such interval.
    """
    bracket, fill = (BRACKET_POINTS, FILL_FACTOR) if method.batchable else (1, 1)
    # The frontier runs from parity up to the least constrained model's gap; a model less
    # fair than that (noise, on small data) leaves no hole worth training for.
    top = u[0] if not c[0] else np.max(u[~c], initial=0.0)
    levels = np.concatenate([[0.0], np.sort(u[~c & (u <= top)])])
    gaps = [(a, b) for a, b in zip(levels[:-1], levels[1:]) if b - a > spacing]
    spans: dict = {hole: [] for hole in gaps}  # hole -> the intervals spanning it, resolved or not
    needs = []
    for i in range(len(e) - 1):
        if not c[i] and not c[i + 1]:
            lo_u, hi_u = sorted((u[i], u[i + 1]))
            kind, size, want = "fill", hi_u - lo_u, math.ceil(fill * (hi_u - lo_u) / spacing) - 1
        elif c[i] != c[i + 1] and (g := u[i + 1] if c[i] else u[i]) > spacing:
            # Where the usable model's unfairness falls to a constant model's is unknown: a
            # batchable method spreads at least ``bracket`` etas, and one per spacing of the way
            # to parity, across the interval.
            lo_u, hi_u = 0.0, g
            kind, size, want = "edge", g, max(bracket, math.ceil(g / spacing) - 1) if bracket > 1 else 1
        else:
            continue
        spanned = [h for h in gaps if lo_u < h[1] and hi_u > h[0]]
        resolved = _resolved(e[i], e[i + 1], method)
        for h in spanned:
            spans[h].append((i, resolved))
        if spanned and not resolved:
            needs.append((size, min(max(want, 1), MAX_POINTS_PER_INTERVAL), kind, i))
    if len(e) and not c[-1] and u[-1] > spacing and gaps and gaps[0][0] == 0.0:
        needs.append((u[-1], len(EXTEND_FACTORS), "extend", len(e) - 1))
    cliff = {h: s[0][0] if s and all(r for _, r in s) else None for h, s in spans.items()}
    return needs, [(a, b, cliff[(a, b)]) for a, b in gaps]


def _allocate(needs: list, limit: float) -> list[int]:
    """Etas per need within ``limit``: one at a time to the need whose ``size / (etas + 1)``,
    the step it would still leave, is largest, until each has its ``want``."""
    counts = [0] * len(needs)
    heap = [(-size, j) for j, (size, want, _, _) in enumerate(needs) if want > 0]
    heapq.heapify(heap)
    while heap and limit > 0:
        _, j = heapq.heappop(heap)
        counts[j] += 1
        limit -= 1
        if counts[j] < needs[j][1]:
            heapq.heappush(heap, (-needs[j][0] / (counts[j] + 1), j))
    return counts


def place_etas(method, etas, unfairness, constant, *, spacing: float | None = DEFAULT_SPACING,
               tolerance=None, precision: float | None = None,
               limit: int | None = None, trigger: float | None = None) -> list[float]:
    """The etas one refinement round adds to a method's trained etas (one seed, or the mean of several).

    A model is usable unless it is flagged constant or its unfairness is missing. Sorted by
    validation unfairness, from parity (0) up to the gap of the smallest eta's model (the
    unconstrained one when the grid starts at 0), the usable models leave holes wider than
    ``spacing``. An interval between neighbouring etas whose two usable models span such a hole
    asks for ``ceil(difference / spacing) - 1`` new etas (``FILL_FACTOR`` times as many for a
    batchable method), evenly spaced: geometrically for a log-scaled method, so a single new
    eta is the geometric midpoint, arithmetically from 0 and for linear methods. An interval
    between a usable model still further than ``spacing`` from parity and a constant model is
    bisected, backing off from the constant end (a batchable method gets ``BRACKET_POINTS``
    evenly spaced etas there, or one per ``spacing`` of the usable model's distance to parity
    when that is more). When the largest eta is still usable and far from parity, etas beyond
    it are tried (up to a bounded method's limit). Under a ``limit`` the etas go one at a time
    to the interval whose hole would stay widest (its difference over its etas plus one), so
    the widest holes are served first and no hole takes the whole budget.

    With ``tolerance``, the interval where the method first comes within it (from its smallest
    eta: one usable model above it, the next within it or constant) is bisected the same way,
    until the first model within it lies within ``precision`` below it; when every model is
    above it, larger etas are tried. These etas come before the spacing's. Only the first
    crossing counts: the most accurate models within a tolerance lie there, and a model
    further on whose validation gap climbs back to just below it is less accurate.

    No interval narrower than ``MIN_ETA_STEP`` is split: there a jump is a cliff of the
    method, and the round leaves it (:func:`find_cliffs` names it).

    Parameters
    ----------
    method : fairkit.methods.Method
        Gives the eta scale (log or linear), the range and whether it is bounded.
    etas, unfairness, constant : array-like
        One method's trained etas, their validation unfairness and constant flags.
    spacing : float or None
        Target spacing; None places no etas for spacing (tolerance only).
    tolerance : float or sequence of float, optional
        Validation unfairness to bracket; several are bracketed each in turn (an interval
        that crosses two of them is split once).
    precision : float, optional
        How close below a tolerance a usable model ends its bracketing (default a quarter of
        ``spacing``, or of ``DEFAULT_SPACING`` when ``spacing`` is None).
    limit : int, optional
        Most etas to return; tolerance brackets come first, then the widest holes.
    trigger : float, optional
        Place etas for the spacing only when a hole that can still be split is wider than
        this (default ``spacing``); the refinement's later rounds pass
        ``LATER_ROUND_FACTOR * spacing``.

    Returns
    -------
    list of float
        New etas, sorted, none of them in ``etas``; empty when the spacing (and the tolerance
        bracket) holds or nothing can be split further.
    """
    e, u, c = _curve(etas, unfairness, constant)
    log = method.eta_scale == "log"
    bracket = BRACKET_POINTS if method.batchable else 1
    needs: list = []
    if spacing is not None and spacing > 0 and len(e):
        needs, holes = _spacing_needs(method, e, u, c, spacing)
        threshold = spacing if trigger is None else max(trigger, spacing)
        if not any(i is None and b - a > threshold for a, b, i in holes):
            needs = []
    first: list = []  # the tolerances' intervals, served before the spacing's
    if precision is None:
        precision = (spacing or DEFAULT_SPACING) / 4
    for tol in tolerances(tolerance) if len(e) else ():
        # Where the method first comes within the tolerance, from its least constrained model:
        # the most accurate models within it lie there. A model further on that happens to lie
        # just below it (a validation gap that climbs back up with eta) is less accurate, so it
        # does not end the bracketing, and its interval is not bisected.
        above = ~c & ~within_tolerance(u, tol)
        j = int(np.argmin(above)) if not above.all() else None  # the first model not above it
        if j is None:
            wanted = [("extend", len(e) - 1)]
        elif j == 0 or (not c[j] and u[j] >= tol - precision) or _resolved(e[j - 1], e[j], method):
            continue
        else:
            wanted = [("edge", j - 1)]
        # Two tolerances crossed in one interval share its etas.
        first += [(math.inf, bracket if kind == "edge" else len(EXTEND_FACTORS), kind, i)
                  for kind, i in wanted if all(f[2:] != (kind, i) for f in first)]

    left = math.inf if limit is None else limit
    counts = []
    for _, want, _, _ in first:
        counts.append(min(want, left))
        left -= counts[-1]
    counts += _allocate(needs, left)
    known = set(e.tolist())
    out: list[float] = []
    for (_, _, kind, i), k in zip(first + needs, counts):
        if k <= 0:
            continue
        if kind == "extend":
            points = _extension(method, e[-1], e[-2] if len(e) > 1 else 0.0)[:k]
        else:
            points = _interior(e[i], e[i + 1], k, log)
        for v in points:
            if v not in known:
                known.add(v)
                out.append(v)
    return sorted(method.check_etas(out))


def find_cliffs(method, etas, unfairness, constant, *, spacing: float = DEFAULT_SPACING) -> list[dict]:
    """Holes of a method's frontier that no eta can fill: the method jumps there.

    A hole (neighbouring usable models, sorted by validation unfairness from parity, further
    apart than ``spacing``) is a cliff when every eta interval that spans it is narrower than
    ``MIN_ETA_STEP``: two etas that close train nearly the same model, yet one lies on each
    side of the hole. :func:`place_etas` no longer splits such intervals, so the step stays
    however large the budget.

    Parameters
    ----------
    method : fairkit.methods.Method
    etas, unfairness, constant : array-like
        As for :func:`place_etas`.
    spacing : float

    Returns
    -------
    list of dict
        One per cliff: ``eta_low``, ``eta_high`` (the interval's ends), ``unfairness_low`` and
        ``unfairness_high`` (the hole's ends: the step it leaves), and ``constant_end`` (the
        interval ends at a constant model: the method jumps to one).
    """
    e, u, c = _curve(etas, unfairness, constant)
    if not len(e) or spacing is None or spacing <= 0:
        return []
    _, holes = _spacing_needs(method, e, u, c, spacing)
    return [{"eta_low": float(e[i]), "eta_high": float(e[i + 1]), "unfairness_low": float(a),
             "unfairness_high": float(b), "constant_end": bool(c[i] or c[i + 1])}
            for a, b, i in holes if i is not None]


def cliff_note(cliff: dict, metric: str) -> str:
    """The ``warnings`` cell's note for a cliff found by :func:`find_cliffs`."""
    to = " to a constant model" if cliff["constant_end"] else ""
    return (f"cliff between eta {cliff['eta_low']:g} and {cliff['eta_high']:g}: etas that close (under "
            f"{MIN_ETA_STEP:.0%} apart) jump{to} across validation {metric} {cliff['unfairness_low']:.3f}-"
            f"{cliff['unfairness_high']:.3f}; no eta fills this step of the frontier")


# run_sweep's arguments a refined sweep sets per round rather than passing through.
_REFINE_ARGS = ("split", "methods", "etas", "seeds", "n_etas", "progress", "adaptive", "spacing", "budget",
                "tolerance", "unfairness")


def _refined_sweep(split, methods, etas, seeds, options: dict, *, progress, n_etas: int, adaptive: bool,
                   spacing: float, budget, tolerance, unfairness: str) -> SweepResult:
    """The grid, then rounds of :func:`place_etas` per method, each a plain sweep of every seed.

    Every seed gets the same new etas: they are placed on each eta's mean validation
    unfairness over the seeds (a setting whose model is constant for any seed counts as
    constant, :func:`fairkit.frontier.seed_summary`), so the seeds aggregate per (method, eta).
    """
    t0 = time.perf_counter()
    budget = BUDGET_PER_GRID_POINT * n_etas if budget is None else int(budget)
    seeds = list(seeds)
    tables, models, base, failed = [], {}, 0, {}

    def sweep(round_methods, round_etas):
        nonlocal base
        offset = base

        def forward(done, total):
            if progress is not None:
                progress(offset + done, offset + total)

        res = run_sweep(split, round_methods, round_etas, seeds, n_etas=n_etas, progress=forward, **options)
        tables.append(res.results)
        models.update(res.models)
        failed.update(res.failed_checks)
        base += len(res.results)

    sweep(methods, etas)
    spent: dict = {}
    rounds = 1
    while True:
        table = pd.concat(tables, ignore_index=True).drop_duplicates("run_id")
        settings = seed_summary(table)
        new: dict = {}  # method -> etas
        for method, runs in settings.groupby("method", sort=False):
            m = get_method(method)
            left = budget - spent.get(method, 0)
            if not m.sweeps_eta or left <= 0:
                continue
            add = place_etas(m, runs["eta"], metric_column(runs, "val", unfairness), runs["constant"],
                             spacing=spacing if adaptive else None, tolerance=tolerance,
                             precision=spacing / 4, limit=left,
                             trigger=LATER_ROUND_FACTOR * spacing if rounds > 1 else None)
            if add:
                spent[method] = spent.get(method, 0) + len(add)
                new[method] = add
        if not new:
            break
        rounds += 1
        sweep(list(new), new)
    if adaptive:
        table = _note_cliffs(table, settings, spacing, unfairness)
    return SweepResult(results=table.reset_index(drop=True), store=options.get("store"), models=models,
                       wall_seconds=time.perf_counter() - t0, rounds=rounds, failed_checks=failed)


def _note_cliffs(table: pd.DataFrame, settings: pd.DataFrame, spacing: float, unfairness: str) -> pd.DataFrame:
    """A refined sweep's table with each cliff (:func:`find_cliffs`) noted in ``warnings`` on the
    runs at both of its etas."""
    notes: dict = {}  # (method, eta) -> notes
    for method, runs in settings.groupby("method", sort=False):
        m = get_method(method)
        if not m.sweeps_eta:
            continue
        for cliff in find_cliffs(m, runs["eta"], metric_column(runs, "val", unfairness), runs["constant"],
                                 spacing=spacing):
            for eta in (cliff["eta_low"], cliff["eta_high"]):
                notes.setdefault((method, eta), []).append(cliff_note(cliff, unfairness))
    if not notes:
        return table
    return _add_warnings(table, [notes.get((m, float(e)), []) for m, e in zip(table["method"], table["eta"])])


def _add_warnings(table: pd.DataFrame, notes) -> pd.DataFrame:
    """``table`` with each row's notes (a list of texts, empty for none) added to its
    ``warnings`` cell."""
    warned = table["warnings"].fillna("") if "warnings" in table else [""] * len(table)
    return table.assign(warnings=["; ".join(filter(None, [w, *n])) for w, n in zip(warned, notes)])


def flag_constant(table: pd.DataFrame) -> pd.DataFrame:
    """A sweep table with its ``constant`` column and each constant model's note in ``warnings``
    (a sweep's own table, and one read back from the store, whose records hold neither)."""
    if "val_selection_rate" not in table:
        return table.assign(constant=False)
    flagged = constant_mask(table.drop(columns="constant", errors="ignore"))
    notes = [[constant_note(r)] if f else [] for r, f in zip(table["val_selection_rate"], flagged)]
    return _add_warnings(table.assign(constant=flagged), notes)


#: Address schemes Dask's clients connect with; anything else (``http://``) is not a scheduler.
#: Not ``ucx://``: its transport is not installed with fairkit, and Dask's error read as missing
#: TLS certificates (Dask audit, session 50).
DASK_SCHEMES = ("tcp://", "tls://", "inproc://", "ws://", "wss://")

#: ``HOST:PORT`` after the scheme (an IPv6 host in brackets).
_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+(%[\w.-]+)?\]|[^\s:/\[\]]+):(\d{1,5})")

#: ``run_sweep(scheduler=ON_THIS_MACHINE)`` trains where it runs, whatever
#: ``$FAIRKIT_DASK_SCHEDULER`` says: a search's trials, which may run on a Dask worker themselves
#: (a worker whose environment set it sent its trial to its own cluster and waited for it on its
#: one thread for good: Dask audit, session 50).
ON_THIS_MACHINE = False


def scheduler_address_problem(address: str) -> str | None:
    """Why ``address`` is not a Dask scheduler address (``tcp://HOST:PORT``, ``tls://HOST:PORT``
    or ``HOST:PORT``), or None.

    Checked before any connection: an address without a port reached Dask, which waited out
    the timeout and printed a traceback on exit (Dask audit, session 50).
    """
    give = "give tcp://HOST:PORT or tls://HOST:PORT"
    if not address.strip():
        return f"the scheduler address is empty; {give}, or leave it out to train on this machine"
    if "://" in address and not address.startswith(DASK_SCHEMES):
        return f"'{address}' is not a Dask scheduler address; {give}"
    if address.startswith("inproc://"):
        return None
    rest = address.split("://", 1)[-1]
    found = _HOST_PORT.fullmatch(rest)
    if found is None or not 0 < int(found.group(3)) < 65536:
        return f"'{address}' is not a Dask scheduler address (a host and a port 1-65535 after the scheme); {give}"
    return None


def _dask_scheduler(explicit) -> str | None:
    """The scheduler to use: ``explicit``, else ``$FAIRKIT_DASK_SCHEDULER`` (checked as the
    option is: an ``http://`` value was sent to Dask and reported as no scheduler answering);
    None for :data:`ON_THIS_MACHINE`."""
    if explicit is ON_THIS_MACHINE:
        return None
    if explicit:
        problem = scheduler_address_problem(explicit)
        if problem:
            raise SchedulerError(f"{problem[0].upper()}{problem[1:]}.")
        return explicit
    address = os.environ.get("FAIRKIT_DASK_SCHEDULER") or None
    problem = address and scheduler_address_problem(address)
    if problem:
        raise SchedulerError(f"FAIRKIT_DASK_SCHEDULER: {problem}.")
    return address


def _dask_client(address: str, security, timeout: float):
    """A client of a scheduler that has at least one worker, or a :class:`SchedulerError`."""
    from distributed import Client, Security

    tls_help = ("give them (--tls-ca-file, --tls-cert, --tls-key, or Dask's distributed.comm.tls "
                "configuration; see README).")
    # Checked before a Client exists: one that fails half-made prints a traceback when collected.
    # Security() reads Dask's configuration, as the Client would.
    given = security if security is not None else Security()
    if address.startswith("tls://") and not (given.tls_ca_file or given.tls_client_cert):
        raise SchedulerError(f"The Dask scheduler at {address} needs TLS certificates, and none are set; {tls_help}")
    made: dict = {}

    def connect() -> None:
        try:
            made["client"] = Client(address, security=security, timeout=timeout, set_as_default=False)
        except BaseException as exc:  # handed to the caller's thread below
            made["error"] = exc

    # A deadline of our own: Dask's timeout does not cover its handshake, so an address that
    # accepts the connection and never answers (the scheduler's dashboard port) hung the sweep
    # for good (CLI audit, session 44). The thread is left to Dask; the command goes on.
    attempt = threading.Thread(target=connect, name="fairkit-dask-connect", daemon=True)
    attempt.start()
    attempt.join(timeout + 5)
    not_dask = (f"{address} did not answer as a Dask scheduler: check that it is the scheduler's address (its "
                "port, 8786 by default, not its dashboard's 8787), or leave the scheduler out to train on this machine.")
    if attempt.is_alive():
        raise SchedulerError(f"{not_dask} (no answer within {timeout + 5:g} s)")
    try:
        if "error" in made:
            raise made["error"]
        client = made["client"]
    except MemoryError as exc:  # a server answering another protocol: its bytes read as a frame's length
        raise SchedulerError(not_dask) from exc
    except TypeError as exc:  # distributed's word for a tls:// address without certificates
        raise SchedulerError(f"The Dask scheduler at {address} needs TLS certificates ({exc}); {tls_help}") from exc
    except (OSError, TimeoutError, ValueError) as exc:
        tls = " and, for tls://, the certificates (see README)" if address.startswith("tls://") else ""
        raise SchedulerError(f"Cannot reach the Dask scheduler at {address} within {timeout:g} s ({exc}). "
                             f"Check the address{tls}, or leave the scheduler out to train on this "
                             "machine.") from exc
    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError as exc:
        client.close()
        raise SchedulerError(f"The Dask scheduler at {address} has no workers (none joined within {timeout:g} s). "
                             f"Start some (dask worker {address}) or leave the scheduler out to train on this "
                             "machine.") from exc
    return client


def _n_workers(client) -> int:
    try:
        return len(client.nthreads())
    except (OSError, TimeoutError):  # the scheduler is gone as well: no workers either
        return 0


class WorkerWatch:
    """How long a Dask cluster has been without workers: Dask keeps tasks waiting for workers
    for good, so a sweep or search whose workers had all gone hung (Dask audit, session 50).
    One watch per sweep or search (a search's tasks share it, so they are given up together).

    Parameters
    ----------
    client : distributed.Client
    timeout : float
        Seconds without a worker after which :attr:`expired` is true.
    """

    def __init__(self, client, timeout: float):
        self.client, self.timeout, self.since = client, float(timeout), None

    def workers(self) -> int:
        """The cluster's workers now; starts or stops the clock without any."""
        n = _n_workers(self.client)
        if n:
            self.since = None
        elif self.since is None:
            self.since = time.monotonic()
        return n

    @property
    def expired(self) -> bool:
        """Whether the cluster has had no worker for more than ``timeout`` seconds (as of the
        last :meth:`workers`)."""
        return self.since is not None and time.monotonic() - self.since > self.timeout


#: The longest ``dask_timeout`` a sweep takes (a day): Dask's clock overflowed at 1e10 s.
MAX_DASK_TIMEOUT = 86400.0

#: How many times a task may lose its worker (or the split its worker held) before the sweep
#: stops: a worker its nanny restarts (out of memory) came back within the no-worker timeout, the
#: resubmitted task was a new one to Dask, and a sweep looped 118 times in 4 minutes without a
#: word (Dask audit, session 50).
MAX_TASK_LOSSES = 3


def _check_worker(out, task: list, here: dict) -> list:
    """The ``(key, row, model)`` results of a sweep task's answer, or :class:`SchedulerError` when
    its worker runs another environment (:func:`check_environment`) or returned runs it was not
    sent (a run id is a file name in the store)."""
    worker, results = check_environment(out, here)
    sent = sorted(key for _, key in task)
    got = sorted(str(r[0]) for r in results) if isinstance(results, list) and all(
        isinstance(r, tuple) and len(r) == 3 for r in results) else None
    if got != sent:
        raise SchedulerError(f"The Dask worker at {worker} returned other runs than it was sent ({got} for {sent}). "
                             "Nothing of its answer was stored; find out what runs on that worker.")
    return results


def _connection_lost(address: str, exc: BaseException) -> SchedulerError:
    return SchedulerError(f"The connection to the Dask scheduler at {address} failed ({type(exc).__name__}: {exc}): "
                          "the scheduler went away or cannot be reached. Run the sweep again, with the scheduler "
                          "back, to train the rest.")


def _run_on_dask(client, address: str, tasks: list, split, finish, should_stop, timeout: float) -> None:
    """Run ``tasks`` on the cluster, ``finish`` each result as it arrives.

    Polls rather than blocking on results: Dask keeps tasks waiting for workers forever, so a
    cluster whose workers have all gone would hang the sweep. With no worker for ``timeout``
    seconds, a task that lost its worker :data:`MAX_TASK_LOSSES` times, a run that failed on a
    worker, a worker of another environment or a lost connection, this raises
    :class:`SchedulerError`; finished runs were stored as they arrived.
    """
    from concurrent.futures import CancelledError  # distributed's FutureCancelledError derives from it

    from distributed import KilledWorker

    data = None
    here = worker_environment()
    work = on_worker(here, "fairkit.sweep", "fit_group")
    losses: dict = {}

    def submit(batch: list) -> dict:
        nonlocal data
        try:
            if data is None or data.status != "finished":
                # One copy of the split on every worker: tasks keep running when one worker is lost.
                data = client.scatter(split, broadcast=True, hash=False, timeout=timeout)
            return {client.submit(work, task, data, pure=False): task for task in batch}
        except (OSError, TimeoutError) as exc:  # distributed's CommClosedError is an OSError
            raise _connection_lost(address, exc) from exc

    def lose(task: list) -> None:
        losses[id(task)] = losses.get(id(task), 0) + 1
        if losses[id(task)] >= MAX_TASK_LOSSES:
            raise SchedulerError(
                f"A run lost its Dask worker at {address} {losses[id(task)]} times before it finished (out of memory? a "
                "worker its nanny restarts comes back and loses it again). Give the workers more memory, or train "
                "that method on this machine.")
        lost.append(task)

    lost: list = []  # tasks whose copy of the split went with every worker that held it
    watch = WorkerWatch(client, timeout)
    pending: dict = {}
    try:
        try:
            check_cluster(client, here)
        except (OSError, TimeoutError) as exc:
            raise _connection_lost(address, exc) from exc
        pending = submit(tasks)
        while pending or lost:
            finished = [f for f in list(pending) if f.done()]
            if not finished:
                time.sleep(0.25)
            for future in finished:
                task = pending.pop(future)
                if future.status == "cancelled":
                    lose(task)
                    continue
                try:
                    out = future.result()
                except CancelledError:
                    # Cancelled between the status check and result() (its split went with the
                    # last worker that held it): train it again when workers return.
                    lose(task)
                    continue
                except KilledWorker as exc:
                    raise SchedulerError(
                        f"A run died with its Dask worker at {address} several times (out of memory?): {exc}. "
                        "Give the workers more memory, or train that method on this machine.") from exc
                except Exception as exc:
                    if future.status != "error" and isinstance(exc, (OSError, TimeoutError)):
                        raise _connection_lost(address, exc) from exc
                    # Raised by the task, on the worker (an OSError of its own too: a full disk
                    # there is not the scheduler going away).
                    raise SchedulerError(
                        f"A run failed on a Dask worker of {address}: {type(exc).__name__}: {exc}. The workers need "
                        f"this machine's environment (fairkit {here['fairkit']}, the same libraries and data "
                        "access).") from exc
                for key, row, model in _check_worker(out, task, here):
                    finish(key, row, model)
            if should_stop is not None and should_stop():
                raise SweepCancelled("Sweep cancelled.")
            if not (pending or lost):
                break
            if watch.workers() and lost:
                pending.update(submit(lost))
                lost = []
            if watch.expired:
                raise SchedulerError(f"The Dask scheduler at {address} has had no workers for {timeout:g} s. "
                                     "Restart the workers and run the sweep again to train the rest.")
    finally:
        with contextlib.suppress(Exception):  # a client whose scheduler is gone cannot cancel
            client.cancel(list(pending))


def run_sweep(
    split,
    methods=DEFAULT_METHODS,
    etas=None,
    seeds=(0,),
    *,
    fairness: str = DEFAULT_FAIRNESS,
    params: dict | None = None,
    n_etas: int = 8,
    n_jobs: int = 1,
    store: ResultStore | None = None,
    progress=None,
    should_stop=None,
    scheduler: str | None = None,
    security=None,
    dask_timeout: float = DASK_TIMEOUT,
    keep_models: bool = True,
    batched: bool = True,
    adaptive: bool = False,
    spacing: float = DEFAULT_SPACING,
    budget: int | None = None,
    tolerance=None,
    unfairness: str | None = None,
) -> SweepResult:
    """Train and evaluate every method x eta x seed, reusing stored runs.

    Parameters
    ----------
    split : DatasetSplit
    methods : str or list of str
        Registry names (see :data:`fairkit.methods.METHODS`); one name is a list of it.
    etas : list, dict or None
        See :func:`plan_runs`.
    seeds : int or iterable of int
    fairness : str
        The fairness definition every method targets (a key of
        :data:`fairkit.methods.FAIRNESS_DEFINITIONS`).
    params : dict, optional
        Extra estimator parameters per method.
    n_etas : int
        Size of default eta grids.
    n_jobs : int
        Parallel workers (joblib). Runs already in ``store`` are never sent out.
    store : ResultStore, optional
        Where finished runs are looked up and written. None keeps everything in memory.
    progress : callable, optional
        ``progress(done, total)`` after each run (cached runs count as done at once).
    should_stop : callable, optional
        Polled between runs; when it returns True the sweep raises :class:`SweepCancelled`
        after storing every finished run.
    scheduler : str, ON_THIS_MACHINE or None, optional
        Dask scheduler address (default ``$FAIRKIT_DASK_SCHEDULER``; :data:`ON_THIS_MACHINE`:
        train here whatever it says); runs go to that cluster. Its workers must run this
        machine's environment (:func:`worker_environment`: fairkit, results revision, Python and
        library versions); another is refused before any task, and in each task's answer.
        ``tls://`` addresses take their certificates from ``security`` or, without it, from
        Dask's configuration (``distributed.comm.tls``).
    security : distributed.Security, optional
        TLS certificates for the scheduler connection.
    dask_timeout : float
        Seconds to reach the scheduler, to wait for its first worker, and to go on with no
        worker at all before giving up with :class:`SchedulerError`.
    keep_models : bool
        Keep fitted models in memory on the result (they are in the store either way).
    batched : bool
        Train the etas of one seed of a batchable method (``Method.batchable``) together
        (:func:`fairkit.estimators.batched.fit_eta_batch`): same results within floating-point
        tolerance, several times faster with mini-batches (see benchmarks/).
    adaptive : bool
        After the grid, place new etas where neighbouring models of a method differ by more
        than ``spacing`` in validation unfairness, and back off from constant models
        (:func:`place_etas`); round after round, each round's new etas trained together like
        the grid's, until the spacing holds, no interval can be split further or ``budget``
        is spent. After the first refinement round another one trains only while a hole wider
        than ``LATER_ROUND_FACTOR * spacing`` is left. With several seeds the new etas are
        placed on each eta's mean over the seeds and trained for every seed. A hole that only
        etas closer than ``MIN_ETA_STEP`` span is a cliff of the method: a note in the
        ``warnings`` of the runs at its two etas says so (:func:`find_cliffs`). Refined runs
        are stored like any other, so a rerun trains nothing.
    spacing : float
        Target spacing of the adaptive placement (validation unfairness).
    budget : int, optional
        Most runs the refinement adds per method and seed (default
        ``BUDGET_PER_GRID_POINT * n_etas``); every seed gets the same etas.
    tolerance : float or sequence of float, optional
        Also train, by bisection on eta, the models that bracket this validation unfairness
        (see :func:`sweep_to_tolerance`, which then picks and reports the model), or each of
        several: the tolerances a committee will choose at, so every one has a model of each
        method just within it (benchmarks/README.md, "Issue #21: the committee's tolerances").
    unfairness : str, optional
        The unfairness axis the refinement reads (a key of
        :data:`fairkit.frontier.UNFAIRNESS_AXES`); default the gap metric of ``fairness``.

    Returns
    -------
    SweepResult
        Its ``results`` have a ``constant`` column: True for a model that gives (almost) every
        validation row the same decision (:func:`fairkit.frontier.decides_alike`), with a note
        in ``warnings``; ``rounds`` counts the training rounds (1 without refinement).

    Raises
    ------
    fairkit.methods.RegistryError
        Before anything trains, for an unknown method or definition or an eta out of a
        method's range (see :func:`plan_runs`).
    SchedulerError
        The Dask scheduler is unreachable or has (or is left with) no workers; every run
        finished before is in ``store``.
    """
    if not isinstance(split, DatasetSplit):
        raise ValueError(f"split must be a DatasetSplit (fairkit.split.split_dataset(frame, spec)), "
                         f"got {type(split).__name__}")
    methods, seeds = as_list(methods), as_list(seeds)  # "regularized" is ["regularized"], 0 is [0]
    tolerance = tolerances(tolerance) or None  # a bad value fails before anything trains
    if adaptive or tolerance is not None:
        # Each round is a plain sweep of its runs with this call's other arguments.
        options = {k: v for k, v in locals().items() if k not in _REFINE_ARGS}
        return _refined_sweep(split, methods, etas, seeds, options, progress=progress, n_etas=n_etas,
                              adaptive=adaptive, spacing=spacing, budget=budget, tolerance=tolerance,
                              unfairness=unfairness or get_definition(fairness).gap_metric)
    t0 = time.perf_counter()
    runs = plan_runs(methods, etas, seeds, fairness=fairness, n_etas=n_etas, params=params)
    keys = [r.key(split) for r in runs]
    rows: dict[str, dict] = {}
    models: dict = {}
    todo = []
    failed: dict = {}
    for run, key in zip(runs, keys):
        rec = store.get(key) if store is not None else None
        if rec is not None:
            rows[key] = {**rec, "cached": True}
        elif key not in {k for _, k in todo}:
            todo.append((run, key))
            # (A store's wrapper, such as a search's, may not say why; then nothing is said.)
            problem = getattr(store, "problem", lambda _key: NOT_STORED)(key) if store is not None else NOT_STORED
            if problem != NOT_STORED:
                failed[key] = problem  # retrained, and said (a damaged file may be tampering)
    total = len(set(keys))
    done = len(rows)
    if progress is not None:
        progress(done, total)

    # The environment that trains the runs: their keys hold the same, but a record read elsewhere
    # (fairkit export --store DIR) must say where its numbers were computed.
    trained_with = strict_json(library_versions(), sort_keys=True)

    def finish(key, row, model):
        nonlocal done
        row = {**row, "run_id": key, "cached": False, "trained_with": trained_with}
        if store is not None:
            store.put(key, row, model)
        rows[key] = row
        if keep_models or store is None:
            models[key] = model
        done += 1
        if progress is not None:
            progress(done, total)

    address = _dask_scheduler(scheduler) if todo else None
    if address and not 0 < dask_timeout <= MAX_DASK_TIMEOUT:
        # Above a day Dask's clock overflowed (an internal error: Dask audit, session 50).
        raise SchedulerError(f"dask_timeout must be above 0 and at most {MAX_DASK_TIMEOUT:g} s (a day), got "
                             f"{dask_timeout!r}.")
    if address:
        client = _dask_client(address, security, dask_timeout)
        try:
            _run_on_dask(client, address, _tasks(todo, batched), split, finish, should_stop, dask_timeout)
        except (SchedulerError, SweepCancelled) as exc:
            kept = " (kept in the store)" if store is not None else ""
            raise type(exc)(f"{exc} {done} of {total} runs had finished{kept}.") from exc
        finally:
            with contextlib.suppress(Exception):  # its scheduler may be gone
                client.close()
    elif todo:
        tasks = _tasks(todo, batched)
        if n_jobs == 1 or len(tasks) == 1:
            # In-process: no pickling of the split, and cancellation between tasks.
            for task in tasks:
                if should_stop is not None and should_stop():
                    raise SweepCancelled(f"Sweep cancelled after {done} of {total} runs.")
                for key, row, model in fit_group(task, split):
                    finish(key, row, model)
        else:
            jobs = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
                delayed(fit_group)(task, split) for task in tasks
            )
            for finished in jobs:
                for key, row, model in finished:
                    finish(key, row, model)
                if should_stop is not None and should_stop():
                    # Leaving the generator stops joblib from dispatching the rest.
                    raise SweepCancelled(f"Sweep cancelled after {done} of {total} runs.")

    table = flag_constant(pd.DataFrame([rows[k] for k in dict.fromkeys(keys)]))
    lead = ["run_id", "method", "eta", "seed", "fairness", "needs_sensitive_at_predict", "fit_seconds", "cached"]
    table = table[[c for c in lead if c in table] + [c for c in table if c not in lead]]
    return SweepResult(results=table, store=store, models=models, wall_seconds=time.perf_counter() - t0,
                       failed_checks=failed)


#: The labels' own demographic-parity gap, in spacings beyond the first, at which an adaptive
#: sweep's estimate counts on the whole placement budget (see :func:`placement_share`).
PLACEMENT_FULL_SPACINGS = 8
#: Rounds the refinement's upper bound allows a batchable method, each one stacked fit of a
#: round's etas (the default sweeps of the bundled datasets took 1 to 3).
REFINE_ROUNDS = 3
#: Past runs of a method the store must hold before their measured / predicted fit times scale
#: the registry's cost model.
MIN_MEASURED_RUNS = 3
# The store's ratio is clipped to this range: a ratio outside it is a different kind of run
# (another machine's store copied over, a debugger pause), not this machine's pace.
RATIO_RANGE = (0.05, 20.0)
#: Predicted fit seconds of past runs at which the store's ratio counts half (see
#: :func:`measured_ratios`).
PRIOR_SECONDS = 10.0
#: The store's most recent runs the ratio is measured on: this machine's pace lately (its load
#: moves it several-fold), and a bounded read however large the store.
RECENT_RUNS = 200


def predicted_fit_seconds(method: str, split, k: int = 1, params=(), fairness: str = DEFAULT_FAIRNESS) -> float:
    """The registry's cost model for one run of a fit of ``k`` stacked etas (its share: 1 / k).

    Every sweep row carries it (``predicted_fit_seconds``) beside its measured ``fit_seconds``,
    so later estimates scale the model by what this machine measured (:func:`measured_ratios`).
    """
    n, d = split.train.X.shape
    k = max(int(k), 1)
    return get_method(method).cost(n, d, k, dict(params), fairness=fairness) / k


def _predicted_or_none(run, split, k: int) -> float | None:
    # A sweep row never fails for its estimate: a method the cost models cannot build stores None.
    try:
        return float(predicted_fit_seconds(run.method, split, k, run.params, run.fairness))
    except Exception:  # noqa: BLE001
        return None


#: measured_ratios of a store, by its runs folder and that folder's modification time: the Train
#: page estimates on every render (twice with a sample), and at tens of thousands of runs reading
#: the newest records took a quarter of a second each time (benchmarks/README.md, session 43).
_RATIOS_SEEN: dict = {}


def measured_ratios(store: ResultStore | None) -> dict:
    """Measured over predicted fit time of the store's past runs: per method, and pooled (``"*"``).

    The median of each run's ``fit_seconds / predicted_fit_seconds`` (robust to a run slowed by
    something else), over the :data:`RECENT_RUNS` runs stored last, for methods with at least
    :data:`MIN_MEASURED_RUNS` such runs. It counts as much as the predicted seconds behind it
    allow: the ratio is ``median ** (P / (P + PRIOR_SECONDS))``, ``P`` the runs' predicted fit
    seconds, so a few fits of a fraction of a second (where a process's first-call costs and
    fixed overheads the model leaves out weigh most) barely move the model, and minutes of
    fits replace it. Clipped to :data:`RATIO_RANGE`. Runs stored before rows carried a
    prediction are left out. The pooled ratio (``"*"``, for methods without runs of their own
    and for the work besides fitting) is the median of the methods' ratios.
    """
    if store is None:
        return {}
    changed = store.changed_at()
    if changed is None:
        return _measured_ratios(store)
    # Everything the ratios are computed from: the folder as it is, and the rule's constants.
    seen = (str(store.runs_dir.resolve()), changed, RECENT_RUNS, MIN_MEASURED_RUNS, PRIOR_SECONDS, RATIO_RANGE)
    ratios = _RATIOS_SEEN.get(seen)
    if ratios is None:
        ratios = _measured_ratios(store)
        if len(_RATIOS_SEEN) >= 8:  # a few stores at a time; clear() is safe beside other threads
            _RATIOS_SEEN.clear()
        _RATIOS_SEEN[seen] = ratios
    return dict(ratios)


def _measured_ratios(store: ResultStore) -> dict:
    past = store.records(store.newest_keys(RECENT_RUNS))
    if not len(past) or not {"method", "fit_seconds", "predicted_fit_seconds"} <= set(past.columns):
        return {}
    predicted = pd.to_numeric(past["predicted_fit_seconds"], errors="coerce")
    ratio = pd.to_numeric(past["fit_seconds"], errors="coerce") / predicted
    ok = np.isfinite(ratio) & (ratio > 0)
    ratio, predicted, method = ratio[ok], predicted[ok], past["method"][ok]

    def shrunk(values, seconds) -> float:
        weight = float(seconds.sum()) / (float(seconds.sum()) + PRIOR_SECONDS)
        return float(np.clip(float(values.median()) ** weight, *RATIO_RANGE))

    out = {str(name): shrunk(values, predicted[values.index])
           for name, values in ratio.groupby(method) if len(values) >= MIN_MEASURED_RUNS}
    if out:
        # One vote per method: the machine's pace, not the model error of the method run most.
        out["*"] = float(np.median(list(out.values())))
    elif len(ratio) >= MIN_MEASURED_RUNS:
        out["*"] = shrunk(ratio, predicted)
    return out


def placement_share(split, spacing: float = DEFAULT_SPACING) -> float:
    """The share of its budget adaptive placement is expected to spend on this split, before training.

    Placement fills the frontier from the unconstrained model's validation gap down to parity
    in steps of ``spacing``, so it trains nothing when that gap is within one spacing (German:
    0.01) and its whole budget when the gap is many spacings wide (COMPAS: 0.34). Before
    training, the gap of the validation labels themselves taken as decisions (the demographic
    parity difference, by the evaluation kernel) stands in for the model's: the share is
    ``(gap - spacing) / (PLACEMENT_FULL_SPACINGS * spacing)``, clipped to [0, 1].
    """
    part = split.validation
    labels = np.asarray(part.y, dtype=float)
    (metrics,) = summary_metrics(labels, labels[None], part.sensitive, ranks=False)
    gap = float(metrics["demographic_parity_difference"])
    if not math.isfinite(gap) or spacing <= 0:
        return 1.0
    return float(np.clip((gap - spacing) / (PLACEMENT_FULL_SPACINGS * spacing), 0.0, 1.0))


def _makespan(costs: list, workers: int) -> float:
    """Wall time of tasks of these costs on ``workers`` workers taking the next task when free."""
    if workers <= 1 or len(costs) <= 1:
        return float(sum(costs))
    loads = [0.0] * min(workers, len(costs))
    for c in sorted(costs, reverse=True):  # largest first: how far the last worker runs over
        loads[loads.index(min(loads))] += c
    return max(loads)


def estimate_seconds(split, methods, etas=None, seeds=(0,), *, store: ResultStore | None = None,
                     fairness: str = DEFAULT_FAIRNESS, params=None, n_etas: int = 8, n_jobs: int = 1,
                     batched: bool = True, adaptive: bool = False, spacing: float = DEFAULT_SPACING,
                     budget: int | None = None, tolerance=None,
                     reporting: bool | None = None) -> dict:
    """Wall time of a sweep before it starts: its grid, and a range for the placed runs.

    Runs already in ``store`` cost nothing. The rest are grouped into tasks as :func:`run_sweep`
    groups them (a batchable method's etas of one seed as one stacked fit); a task costs its
    method's cost model (:meth:`fairkit.methods.Method.cost`, whose time grows with the data,
    the features, the epochs or steps, and slowly with the stacked etas) scaled by what the
    store's past runs measured on this machine (:func:`measured_ratios`), plus each run's
    scoring and storing (and, with a reporting store, its intervals). ``n_jobs`` workers take
    the tasks in turn. With ``adaptive`` or a ``tolerance`` the refinement adds up to
    ``budget`` runs per method and seed (as :func:`run_sweep`): its upper bound is
    ``refine_seconds`` (at most :data:`REFINE_ROUNDS` stacked fits for a batchable method, one
    fit per run otherwise). The placement adds anything from no run (the grid's spacing already
    holds) to its whole budget: the point estimate ``expected_seconds`` counts the share
    :func:`placement_share` expects of an adaptive sweep, and the geometric middle of the range,
    ``sqrt(G * (G + R))`` (``G`` the grid, ``R`` the upper bound), for a tolerance alone (the
    estimate closest, as a ratio, to both ends); benchmarks/README.md, "Issue #20: time
    estimates". A Dask cluster's workers are not modelled.

    Parameters
    ----------
    split, methods, etas, seeds, fairness, params, n_etas, n_jobs, batched, adaptive, budget, tolerance
        As :func:`run_sweep` takes them.
    spacing : float
        The placement's target spacing (:func:`placement_share`); the upper bound is the budget's.
    store : ResultStore, optional
    reporting : bool, optional
        Whether each run's intervals are computed as it is stored (:class:`ReportingStore`, as
        the dashboard trains); default: whether ``store`` is one.

    Returns
    -------
    dict
        ``seconds`` (the grid's runs to train), ``runs``, ``cached`` (already stored),
        ``to_train``, ``refine_runs`` and ``refine_seconds`` (the most the refinement adds),
        ``placed_expected_seconds`` (the placement's part of the point estimate),
        ``expected_seconds`` (``seconds`` plus that),
        ``run_seconds`` and ``placed_run_seconds`` (the average run of the grid and of the
        refinement, which :class:`Countdown` counts with) and ``scale`` (the ratios applied).
    """
    params = params or {}
    runs = plan_runs(methods, etas, seeds, fairness=fairness, n_etas=n_etas, params=params)
    keys = list(dict.fromkeys(r.key(split) for r in runs))
    by_key = {r.key(split): r for r in runs}
    cached = {k for k in keys if store is not None and store.has(k)}
    if reporting is None:
        reporting = isinstance(store, ReportingStore)
    n_eval = len(split.validation) + len(split.test)
    scale = measured_ratios(store)
    from .costs import RUN_OVERHEAD

    per_run = RUN_OVERHEAD(n_eval, reporting) * scale.get("*", 1.0)
    fit_cache: dict = {}

    def fit_cost(run, k: int) -> float:
        key = (run.method, repr(run.params), run.fairness, k)  # repr: parameters may hold dicts
        if key not in fit_cache:
            m = get_method(run.method)
            fit_cache[key] = m.cost(*split.train.X.shape, k, dict(run.params), fairness=run.fairness) * scale.get(
                run.method, scale.get("*", 1.0))
        return fit_cache[key]

    def task_costs(todo):
        return [fit_cost(task[0][0], len(task)) + len(task) * per_run for task in _tasks(todo, batched)]

    todo = [(by_key[k], k) for k in keys if k not in cached]
    workers = max(1, int(n_jobs))
    seconds = _makespan(task_costs(todo), workers)
    # The average run as if none were stored, for a count-down that only knows how many are left.
    grid_total = sum(task_costs([(by_key[k], k) for k in keys]))
    out = {"seconds": float(seconds), "runs": len(keys), "cached": len(cached), "to_train": len(todo),
           "refine_runs": 0, "refine_seconds": 0.0, "expected_seconds": float(seconds),
           "run_seconds": grid_total / max(len(keys), 1), "placed_run_seconds": 0.0,
           "placed_expected_seconds": 0.0, "scale": scale}
    if not (adaptive or tolerances(tolerance)):
        return out
    budget = BUDGET_PER_GRID_POINT * n_etas if budget is None else int(budget)
    refine = []
    n_placed = 0
    for first in {(r.method, r.seed): r for r in reversed(runs)}.values():  # a method and seed's first run
        m = get_method(first.method)
        if not m.sweeps_eta or budget <= 0:
            continue
        n_placed += budget
        if m.batchable and batched:
            rounds = min(REFINE_ROUNDS, budget)
            refine += [fit_cost(first, math.ceil(budget / rounds)) + budget / rounds * per_run] * rounds
        else:
            refine += [fit_cost(first, 1) + per_run] * budget
    refine_seconds = _makespan(refine, workers)
    # The whole grid's time (stored runs included), so a stored grid still expects its placement.
    grid_seconds = _makespan(task_costs([(by_key[k], k) for k in keys]), workers)
    if adaptive:
        placed = placement_share(split, spacing) * refine_seconds
    else:
        placed = math.sqrt(grid_seconds * (grid_seconds + refine_seconds)) - grid_seconds
    out.update(refine_runs=n_placed, refine_seconds=float(refine_seconds), placed_expected_seconds=float(placed),
               expected_seconds=float(seconds + placed),
               placed_run_seconds=float(sum(refine) / n_placed) if n_placed else 0.0)
    return out


def duration_text(seconds: float) -> str:
    """A duration as a page or the command line says it: "40 s", "2.5 min", "1.2 h"."""
    if seconds >= 5400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


@dataclass
class Countdown:
    """Seconds left of a running sweep, counting down with the clock between runs.

    Starts from the estimate (:func:`estimate_seconds`) of the runs left and counts down with
    wall time; each time a run finishes or a refinement round adds runs it is re-anchored: the
    model's cost of the runs left (grid runs at ``run_seconds``, placed runs at
    ``placed_run_seconds``, the refinement not yet started at its part of the point estimate) times the
    measured / predicted pace of the runs finished so far, with one run's worth of prediction as
    a prior so the first run does not swing it. Between re-anchors it never goes up, and it
    stops at 0.

    Parameters
    ----------
    estimate : dict
        :func:`estimate_seconds` of the sweep.
    done : int
        Runs done when the sweep started training (the stored runs it found).
    started : float
        When it started training (``time.time()``).
    """

    estimate: dict
    done: int = 0
    started: float = field(default_factory=time.time)
    _seen: tuple | None = None  # (done, total) at the last re-anchor
    _anchor: tuple | None = None  # (time, seconds left then)

    def update(self, done: int, total: int, now: float | None = None) -> None:
        """Tell the count-down the sweep's progress (cheap when nothing changed)."""
        now = time.time() if now is None else now
        if self._seen == (done, total):
            return
        self._seen = (done, total)
        est = self.estimate
        grid = int(est.get("runs", total))
        run, placed = float(est.get("run_seconds", 0.0)), float(est.get("placed_run_seconds", 0.0))
        refine_left = float(est.get("placed_expected_seconds", 0.0))
        d0 = self.done
        # Runs of the grid and of the refinement rounds begun, finished and left.
        grid_left = max(min(total, grid) - done, 0)
        placed_total = max(total - grid, 0)
        placed_left = max(total - max(done, grid), 0)
        refine_left = max(refine_left - placed_total * placed, 0.0)
        left = grid_left * run + placed_left * placed + refine_left
        fresh_grid = max(min(done, grid) - d0, 0)
        fresh_placed = max(done - max(d0, grid), 0)
        predicted = fresh_grid * run + fresh_placed * placed
        prior = run or placed
        pace = (now - self.started + prior) / (predicted + prior) if prior > 0 else 1.0
        self._anchor = (now, left * pace)

    def left(self, now: float | None = None) -> float | None:
        """Seconds left now (None before the first :meth:`update`)."""
        if self._anchor is None:
            return None
        now = time.time() if now is None else now
        t, value = self._anchor
        return max(0.0, value - (now - t))


@dataclass
class ToleranceResult:
    """The model a tolerance-first sweep picks, and the runs it was picked from.

    Attributes
    ----------
    sweep : SweepResult
        Every run trained: the grid and the bisection's runs.
    tolerance : float
        The largest validation unfairness allowed.
    unfairness, performance : str
        The axes the pick was made on (keys of :data:`fairkit.frontier.UNFAIRNESS_AXES` and
        :data:`fairkit.frontier.PERFORMANCE_AXES`).
    selected : Series or None
        The picked run: its sweep row plus ``unfairness_val`` / ``performance_val`` (what it was
        picked on) and ``unfairness_test`` / ``performance_test``. None when no usable model is
        within the tolerance on validation.
    report : FairnessReport or None
        The picked model on the test part, with bootstrap intervals (``n_boot``).
    """

    sweep: SweepResult
    tolerance: float
    unfairness: str
    performance: str
    selected: pd.Series | None = None
    report: object = None


def sweep_to_tolerance(split, methods=DEFAULT_METHODS, tolerance: float = 0.03, seeds=(0,), *, etas=None,
                       unfairness: str | None = None, performance: str = "accuracy", n_boot: int = 200,
                       adaptive: bool = False, **options) -> ToleranceResult:
    """The most accurate model whose validation unfairness is at most ``tolerance``, reported on test.

    Trains each method's grid, then, per method and seed, bisects eta between the models on
    either side of the tolerance (:func:`run_sweep` with ``tolerance``) until one lies just
    within it, or the budget is spent. The pick is the best-performing usable run within the
    tolerance on validation (:func:`fairkit.frontier.best_within`; with several seeds, the
    setting whose mean over them is, :func:`fairkit.frontier.settings`, and its lowest seed's
    run is reported, as the dashboard's pick is); its test
    metrics come from :func:`fairkit.metrics.fairness_report` with ``n_boot`` bootstrap
    resamples. Constant models are never picked.

    Parameters
    ----------
    split : DatasetSplit
    methods : list of str
    tolerance : float
        The largest validation unfairness (on ``unfairness``) a committee accepts.
    seeds : iterable of int
    etas : list, dict or None
        Starting grids (see :func:`plan_runs`).
    unfairness : str, optional
        Default: the gap metric of the sweep's fairness definition.
    performance : str
        The performance axis the pick maximises.
    n_boot : int
        Bootstrap resamples of the test report's intervals.
    adaptive : bool
        Also fill the frontier to ``spacing`` (see :func:`run_sweep`); off by default: only
        the bracket is refined.
    **options
        Other :func:`run_sweep` arguments (``fairness``, ``params``, ``store``, ``budget``,
        ``spacing``, ``n_jobs``, ...).

    Returns
    -------
    ToleranceResult
    """
    unfairness = unfairness or get_definition(options.get("fairness", DEFAULT_FAIRNESS)).gap_metric
    res = run_sweep(split, methods, etas, seeds, tolerance=tolerance, unfairness=unfairness, adaptive=adaptive,
                    **options)
    row = best_within(settings(res.results), tolerance, unfairness=unfairness, performance=performance)
    out = ToleranceResult(sweep=res, tolerance=float(tolerance), unfairness=unfairness, performance=performance,
                          selected=row)
    if row is not None:
        scores = predict_scores(res.model(row["run_id"]), split, split.test)
        out.report = fairness_report(split.test.y, scores, split.test.sensitive, n_boot=n_boot)
    return out


#: Bootstrap resamples of a run's stored intervals (:func:`report_fields`).
REPORT_N_BOOT = 200
#: The metrics whose 95% intervals :func:`report_fields` stores, on validation and test.
REPORT_INTERVAL_METRICS = ("accuracy", "balanced_accuracy", "roc_auc", *GAP_METRICS)


def chance_gaps(model, split, part: str = "validation", *, n_sim: int = CHANCE_N_SIM, random_state=0) -> pd.DataFrame:
    """The gaps a model fair in the population would show by chance on a part of the split.

    :func:`fairkit.metrics.gap_noise_floor` of ``model``'s scores on ``split``'s ``part``, on
    the rows and groups the sweep's metrics of that part read: a validation gap under the
    floor's median tells the committee little about the model.

    Parameters
    ----------
    model : fitted estimator
        A sweep's model.
    split : DatasetSplit
    part : {"validation", "test"}, default="validation"
    n_sim, random_state
        As in :func:`fairkit.metrics.gap_noise_floor`.

    Returns
    -------
    DataFrame
        As :func:`fairkit.metrics.gap_noise_floor` returns it, with the part's rows in ``rows``.
    """
    p, (scores,) = _part_scores((model,), split, part)
    floor = gap_noise_floor(p.y, scores, p.sensitive, n_sim=n_sim, random_state=random_state)
    return floor.assign(rows=len(p))


def accuracy_change(model, baseline, split, part: str = "test", ci: float = 0.95) -> dict:
    """How much more accurate ``model`` is than ``baseline`` on a part of the split, with the
    interval of the paired comparison (:func:`fairkit.stats.paired_proportion_interval`).

    Both models decide the same rows, so their accuracies are not two independent estimates:
    what is uncertain is only how the rows they decide differently split between them. A
    change of -0.004 is a real cost when the two disagree on 1 % of 9,769 rows and within
    noise when they disagree on 10 %; the interval says which, from the first few such rows on
    (Tango's score interval: with none observed it still says how large a change the rows
    leave possible).

    Parameters
    ----------
    model, baseline : fitted estimators
        Two sweep models (the selected one and the unconstrained one it is compared with).
    split : DatasetSplit
    part : {"validation", "test"}, default="test"
    ci : float, default=0.95

    Returns
    -------
    dict
        ``change`` (model's accuracy minus the baseline's), ``low`` / ``high`` (its ``ci``
        interval), ``disagree`` (share of the rows the two decide differently), ``rows``, and
        ``same_scores`` (whether the two score every row alike, within :data:`SAME_SCORE`).
    """
    p, P = _part_scores((model, baseline), split, part)
    return _accuracy_change(p.y, P, ci)


def _part_scores(models, split, part: str):
    """The part ``part`` of ``split`` and each model's scores on it, shape (len(models), rows)."""
    if part not in ("validation", "test"):
        raise ValueError(f"part must be 'validation' or 'test', got {part!r}")
    p = getattr(split, part)
    return p, np.vstack([predict_scores(m, split, p) for m in models])


#: Scores closer than this on every row are one model's (``same_scores``): far below any
#: figure's third decimal, far above float rounding between two trainings of one model.
SAME_SCORE = 1e-6


def _accuracy_change(y, P, ci: float) -> dict:
    y = np.asarray(y).astype(bool)
    # Decided at the threshold the sweep's rows were measured at, so the change is theirs.
    a, b = decide(P, SWEEP_THRESHOLD)
    change, low, high = paired_proportion_interval(a == y, b == y, ci)
    # Scores equal on every row (the regularized network at eta 0 trains as the unconstrained
    # one; trained in another stacked pass they differ by about 1e-9, float rounding) make every
    # paired change 0 on every resample: the pages say so instead of cautioning about brackets
    # that are, here, exact.
    return {"change": change, "low": low, "high": high,
            "disagree": float(np.mean(a != b)) if len(y) else float("nan"), "rows": int(len(y)),
            "same_scores": bool(len(y)) and bool(np.allclose(P[0], P[1], rtol=0.0, atol=SAME_SCORE))}


def gap_changes(model, baseline, split, part: str = "test", *, n_boot: int = REPORT_N_BOOT,
                ci: float = 0.95) -> dict:
    """How each gap of ``model`` differs from ``baseline``'s on a part of the split, with the
    interval of the paired comparison.

    Both models are measured on the same resamples of the same rows (one
    :func:`fairkit.metrics.bootstrap_metrics` call for the two), so what the interval holds is
    how the difference moves with the rows, not the sum of two gaps' noise: a gap halved on the
    same rows is a real change even where the two gaps' own intervals overlap. The interval is
    the bootstrap's, centred on the difference as :func:`fairkit.stats.recentred_interval`
    centres a gap's.

    Parameters
    ----------
    model, baseline : fitted estimators
    split : DatasetSplit
    part : {"validation", "test"}, default="test"
    n_boot : int, default=REPORT_N_BOOT
    ci : float, default=0.95

    Returns
    -------
    dict
        For each of ``GAP_METRICS`` and ``disparate_impact_gap``: ``{"change", "low", "high"}``
        (model's gap minus the baseline's; NaN where either gap is undefined).
    """
    p, P = _part_scores((model, baseline), split, part)
    return _gap_changes(p, P, n_boot, ci)


def paired_changes(model, baseline, split, part: str = "test", *, n_boot: int = REPORT_N_BOOT,
                   ci: float = 0.95) -> dict:
    """:func:`accuracy_change` and, under ``"gaps"``, :func:`gap_changes`, from one scoring of
    each model (the Trade-offs panel's comparison)."""
    p, P = _part_scores((model, baseline), split, part)
    return {**_accuracy_change(p.y, P, ci), "gaps": _gap_changes(p, P, n_boot, ci)}


def _gap_changes(p, P, n_boot: int, ci: float) -> dict:
    point = summary_metrics(p.y, P, p.sensitive)
    boot = bootstrap_metrics(p.y, P, p.sensitive, n_boot=n_boot)
    out = {}
    for key in GAP_METRICS:
        change = float(point[0][key]) - float(point[1][key])
        low, high = recentred_interval(change, boot[key][:, 0] - boot[key][:, 1], ci, bounds=(-1.0, 1.0))
        out[key] = {"change": change, "low": float(low), "high": float(high)}
    ratio = out["disparate_impact_ratio"]  # "1 - ratio" changes by minus the ratio's change
    # 0.0 - x, not -x: no change stays +0.0 (-0.0 would show as "-0.000").
    out["disparate_impact_gap"] = {"change": 0.0 - ratio["change"], "low": 0.0 - ratio["high"],
                                   "high": 0.0 - ratio["low"]}
    return out


def report_fields(model, split, n_boot: int = REPORT_N_BOOT) -> dict:
    """A run's 95% intervals on validation and test, as flat fields for its stored record.

    The point values are the sweep row's own (``val_accuracy``, ``test_<gap>``, ...): the same
    kernel measures both. This adds what a row lacks for a committee's panel: the interval of
    each of :data:`REPORT_INTERVAL_METRICS` from :func:`fairkit.metrics.fairness_report` with
    ``n_boot`` resamples (Wilson for accuracy, the kernel's bootstrap for the rest; the gaps on
    the finest grouping, as in the row), and the report's notes on small or thin groups.

    Parameters
    ----------
    model : estimator
        A fitted sweep model.
    split : DatasetSplit
    n_boot : int

    Returns
    -------
    dict
        ``<part>_<metric>_low`` / ``<part>_<metric>_high`` (``part`` ``val`` and ``test``; NaN
        where the report gives none), ``<part>_report_notes`` (the notes, one per line),
        ``report_attribute`` (the grouping(s) of the gaps, :attr:`FairnessReport.headline_grouping`)
        and ``report_n_boot``.
    """
    out: dict = {"report_n_boot": int(n_boot)}
    for prefix, part in (("val", split.validation), ("test", split.test)):
        rep = fairness_report(part.y, predict_scores(model, split, part), part.sensitive, n_boot=n_boot)
        values = {**rep.overall, **rep.headline()}  # the gaps the sweep table holds, and their intervals
        for metric in REPORT_INTERVAL_METRICS:
            for end in ("low", "high"):
                v = values.get(f"{metric}_{end}")
                out[f"{prefix}_{metric}_{end}"] = float("nan") if v is None else float(v)
        out[f"{prefix}_report_notes"] = "\n".join(rep.notes)
        out["report_attribute"] = rep.headline_grouping
    return out


class ReportingStore(ResultStore):
    """A result store that adds each new run's intervals (:func:`report_fields`) as it stores it.

    A sweep writes every finished run through :meth:`put`, so with this store the bootstrap is
    part of the sweep: whoever reads the run later (the dashboard's slider) finds its intervals
    in the record instead of computing them. It costs one report per part and run (about 1 s
    each on Adult, see benchmarks/README.md), paid once, when the run is trained.

    Parameters
    ----------
    store : ResultStore
        The store whose runs these are (same folder; the model hashes it has checked already
        are not checked again).
    split : DatasetSplit
        The split the sweep trains on.
    n_boot : int
    """

    def __init__(self, store: ResultStore, split, n_boot: int = REPORT_N_BOOT):
        super().__init__(store.root)
        self._model_ok = store._model_ok  # one record of verified model files per folder
        self.split = split
        self.n_boot = n_boot

    def put(self, key: str, record: dict, model=None) -> None:
        if model is not None and "report_n_boot" not in record:
            record = {**record, **report_fields(model, self.split, self.n_boot)}
        super().put(key, record, model)
