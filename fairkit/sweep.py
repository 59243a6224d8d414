"""Sweeps: every method x eta x seed, trained once, stored, and laid out as a tidy table.

``run_sweep`` looks every run up in the :class:`~fairkit.store.ResultStore` first and only trains
what is missing, spreading the work with joblib processes locally, or over a Dask cluster when a
scheduler address is given (``tcp://`` or ``tls://`` with a :class:`distributed.Security`). Each
finished run is written to the store as soon as it arrives, so an interrupted sweep, or one whose
Dask workers all died, keeps its finished runs.
"""

from __future__ import annotations

import os
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy.special import expit

from .methods import DEFAULT_FAIRNESS, DEFAULT_METHODS, get_method
from .metrics import GAP_METRICS, OVERALL_METRICS, summary_metrics
from .store import ResultStore, cache_key

SWEEP_METRICS = OVERALL_METRICS + GAP_METRICS


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
        return cache_key(
            data=split.data_hash, spec=split.spec.to_dict(), split_seed=split.seed,
            features=split.feature_names, method=self.method, eta=self.eta, seed=self.seed,
            fairness=self.fairness, params=dict(self.params),
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

    def model(self, run_id: str):
        """The fitted estimator of a run (from memory, or loaded from the store)."""
        if run_id in self.models:
            return self.models[run_id]
        if self.store is None:
            raise KeyError(f"Run {run_id} is not in this result.")
        return self.store.load_model(run_id)


def plan_runs(methods, etas=None, seeds=(0,), *, fairness=DEFAULT_FAIRNESS, n_etas=8, params=None) -> list[RunSpec]:
    """The runs of a sweep, every method, eta and fairness definition checked against the registry.

    Nothing trains here, so a sweep that would fail on a method's eta range fails before its
    first fit (:meth:`fairkit.methods.Method.check_etas`).

    Parameters
    ----------
    methods : list of str
    etas : list of float, dict of method -> list, or None
        A list applies to every method that sweeps eta; None uses each method's default grid.
    seeds : iterable of int
    n_etas : int
        Size of the default grids.
    params : dict of method -> dict, optional
        Extra estimator parameters per method.

    Raises
    ------
    fairkit.methods.RegistryError
        An unknown method or fairness definition, or an eta outside a method's range (the
        message names the method, the value and the valid range).
    """
    params = params or {}
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
        grid = m.check_etas(grid)
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
        })
    from .estimators.batched import can_predict_stacked, stacked_decision_function

    stacked = can_predict_stacked(models)  # networks of one batched fit: one pass for all K
    for prefix, part in (("val", split.validation), ("test", split.test)):
        if stacked:
            scores = expit(stacked_decision_function(models, part.X).T)
        else:
            groups = split.model_groups(part)  # encoded once for the K models
            scores = np.stack([_predict_scores(model, part.X, groups) for model in models])
        for row, metrics in zip(rows, summary_metrics(part.y, scores, part.sensitive)):
            row.update({f"{prefix}_{k}": v for k, v in metrics.items()})
    return rows


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
        model.fit(split.train.X, split.train.y, sensitive_features=split.model_groups(split.train))
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
                               sensitive_features=split.model_groups(split.train))
        share = (time.perf_counter() - t0) / len(task)
        rows = _rows([run for run, _ in task], models, split, share, caught, batched=len(task))
        return [(key, row, m) for (_, key), row, m in zip(task, rows, models)]


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
        # Batched only when the trainer reproduces this estimator's own fit exactly.
        if len(members) > 1 and method.batchable and can_batch(
                method.build(0.0, first.seed, first.fairness, **dict(first.params))):
            tasks.insert(0, members)
        else:
            tasks.extend([m] for m in members)
    return tasks


def _dask_scheduler(explicit: str | None) -> str | None:
    return explicit or os.environ.get("FAIRKIT_DASK_SCHEDULER") or None


def _dask_client(address: str, security, timeout: float):
    """A client of a scheduler that has at least one worker, or a :class:`SchedulerError`."""
    from distributed import Client

    try:
        client = Client(address, security=security, timeout=timeout, set_as_default=False)
    except TypeError as exc:  # distributed's word for a tls:// address without certificates
        raise SchedulerError(f"The Dask scheduler at {address} needs TLS certificates ({exc}); give them "
                             "(--tls-ca-file, --tls-cert, --tls-key, or Dask's distributed.comm.tls "
                             "configuration; see README).") from exc
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


def _run_on_dask(client, address: str, tasks: list, split, finish, should_stop, timeout: float) -> None:
    """Run ``tasks`` on the cluster, ``finish`` each result as it arrives.

    Polls rather than blocking on results: Dask keeps tasks waiting for workers forever, so a
    cluster whose workers have all gone would hang the sweep. With no worker for ``timeout``
    seconds this raises :class:`SchedulerError`; finished runs were stored as they arrived.
    """
    from distributed import KilledWorker

    data = None

    def submit(batch: list) -> dict:
        nonlocal data
        if data is None or data.status != "finished":
            # One copy of the split on every worker: tasks keep running when one worker is lost.
            data = client.scatter(split, broadcast=True, hash=False, timeout=timeout)
        return {client.submit(fit_group, task, data, pure=False): task for task in batch}

    pending = submit(tasks)
    lost: list = []  # tasks whose copy of the split went with every worker that held it
    alone_since = None
    try:
        while pending or lost:
            finished = [f for f in list(pending) if f.done()]
            if not finished:
                time.sleep(0.25)
            for future in finished:
                task = pending.pop(future)
                if future.status == "cancelled":
                    lost.append(task)
                    continue
                try:
                    results = future.result()
                except KilledWorker as exc:
                    raise SchedulerError(
                        f"A run died with its Dask worker at {address} several times (out of memory?): {exc}. "
                        "Give the workers more memory, or train that method on this machine.") from exc
                for key, row, model in results:
                    finish(key, row, model)
            if should_stop is not None and should_stop():
                raise SweepCancelled("Sweep cancelled.")
            workers = _n_workers(client) if (pending or lost) else 1
            if workers and lost:
                pending.update(submit(lost))
                lost = []
            if workers:
                alone_since = None
            elif alone_since is None:
                alone_since = time.monotonic()
            elif time.monotonic() - alone_since > timeout:
                raise SchedulerError(f"The Dask scheduler at {address} has had no workers for {timeout:g} s. "
                                     "Restart the workers and run the sweep again to train the rest.")
    finally:
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
) -> SweepResult:
    """Train and evaluate every method x eta x seed, reusing stored runs.

    Parameters
    ----------
    split : DatasetSplit
    methods : list of str
        Registry names (see :data:`fairkit.methods.METHODS`).
    etas : list, dict or None
        See :func:`plan_runs`.
    seeds : iterable of int
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
    scheduler : str, optional
        Dask scheduler address (default ``$FAIRKIT_DASK_SCHEDULER``); runs go to that cluster.
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

    Returns
    -------
    SweepResult

    Raises
    ------
    fairkit.methods.RegistryError
        Before anything trains, for an unknown method or definition or an eta out of a
        method's range (see :func:`plan_runs`).
    SchedulerError
        The Dask scheduler is unreachable or has (or is left with) no workers; every run
        finished before is in ``store``.
    """
    t0 = time.perf_counter()
    runs = plan_runs(methods, etas, seeds, fairness=fairness, n_etas=n_etas, params=params)
    keys = [r.key(split) for r in runs]
    rows: dict[str, dict] = {}
    models: dict = {}
    todo = []
    for run, key in zip(runs, keys):
        rec = store.get(key) if store is not None else None
        if rec is not None:
            rows[key] = {**rec, "cached": True}
        elif key not in {k for _, k in todo}:
            todo.append((run, key))
    total = len(set(keys))
    done = len(rows)
    if progress is not None:
        progress(done, total)

    def finish(key, row, model):
        nonlocal done
        row = {**row, "run_id": key, "cached": False}
        if store is not None:
            store.put(key, row, model)
        rows[key] = row
        if keep_models or store is None:
            models[key] = model
        done += 1
        if progress is not None:
            progress(done, total)

    address = _dask_scheduler(scheduler) if todo else None
    if address:
        client = _dask_client(address, security, dask_timeout)
        try:
            _run_on_dask(client, address, _tasks(todo, batched), split, finish, should_stop, dask_timeout)
        except (SchedulerError, SweepCancelled) as exc:
            kept = " (kept in the store)" if store is not None else ""
            raise type(exc)(f"{exc} {done} of {total} runs had finished{kept}.") from exc
        finally:
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

    table = pd.DataFrame([rows[k] for k in dict.fromkeys(keys)])
    lead = ["run_id", "method", "eta", "seed", "fairness", "needs_sensitive_at_predict", "fit_seconds", "cached"]
    table = table[[c for c in lead if c in table] + [c for c in table if c not in lead]]
    return SweepResult(results=table, store=store, models=models, wall_seconds=time.perf_counter() - t0)


def estimate_seconds(split, methods, etas=None, seeds=(0,), *, store: ResultStore | None = None,
                     fairness: str = DEFAULT_FAIRNESS, params=None, n_etas: int = 8, n_jobs: int = 1) -> dict:
    """Rough wall time of a sweep before it starts.

    Runs already in ``store`` cost nothing. For the rest, the pace (seconds per 10k training rows)
    of each method is taken from this store's past runs when there are any, and from the
    registry's ``seconds_per_10k`` (measured on a 2-core machine) otherwise.

    Returns
    -------
    dict
        ``seconds``, ``runs``, ``cached`` (runs already stored) and ``to_train``.
    """
    runs = plan_runs(methods, etas, seeds, fairness=fairness, n_etas=n_etas, params=params)
    keys = list(dict.fromkeys(r.key(split) for r in runs))
    by_key = {r.key(split): r for r in runs}
    cached = [k for k in keys if store is not None and store.has(k)]
    pace = {name: get_method(name).seconds_per_10k for name in dict.fromkeys(r.method for r in runs)}
    if store is not None:
        past = store.records()
        if len(past) and {"method", "fit_seconds", "n_train"} <= set(past.columns):
            measured = (past["fit_seconds"] / past["n_train"] * 1e4).groupby(past["method"]).median()
            pace.update(measured.dropna().to_dict())
    n = len(split.train)
    todo = [by_key[k] for k in keys if k not in cached]
    seconds = sum(pace[r.method] * n / 1e4 for r in todo) / max(1, min(n_jobs, len(todo) or 1))
    return {"seconds": float(seconds), "runs": len(keys), "cached": len(cached), "to_train": len(todo)}
