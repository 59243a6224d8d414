"""run_sweep: tidy results, store reuse, partial recompute, interruption, parallel and Dask."""

import numpy as np
import pandas as pd
import pytest

from fairkit import sweep as sweep_mod
from fairkit.methods import METHODS, eta_grid, get_method
from fairkit.store import ResultStore
from fairkit.sweep import SWEEP_METRICS, SweepCancelled, plan_runs, run_sweep

ETAS = [0.0, 1.0, 5.0]


def test_registry_grids_and_meaning():
    for m in METHODS.values():
        grid = m.grid(6)
        assert grid[0] == 0.0 and grid == sorted(grid)
        assert m.eta_meaning
    assert get_method("unconstrained").grid(6) == [0.0]
    assert get_method("threshold").needs_sensitive_at_predict
    assert not get_method("regularized").needs_sensitive_at_predict
    assert eta_grid(0.1, 10, 4) == [0.0, 0.1, 1.0, 10.0]
    assert eta_grid(0, 1, 3, log=False, include_zero=False) == [0.0, 0.5, 1.0]
    with pytest.raises(ValueError, match="Unknown method"):
        get_method("magic")


def test_plan_runs_shapes():
    runs = plan_runs(["unconstrained", "regularized"], ETAS, seeds=[0, 1])
    assert len(runs) == 2 + 3 * 2
    runs = plan_runs(["regularized"], {"regularized": [0.5]}, seeds=[0])
    assert [r.eta for r in runs] == [0.5]


def test_sweep_table_and_models(tiny_split, fast_params, tmp_path):
    calls = []
    res = run_sweep(tiny_split, ["unconstrained", "regularized"], ETAS, seeds=[0],
                    params=fast_params, store=ResultStore(tmp_path), progress=lambda d, t: calls.append((d, t)))
    t = res.results
    assert len(t) == 1 + len(ETAS)
    for m in SWEEP_METRICS:
        assert f"val_{m}" in t and f"test_{m}" in t
    assert t["run_id"].is_unique and (t["fit_seconds"] > 0).all()
    assert not t["needs_sensitive_at_predict"].any()
    assert calls[0] == (0, 4) and calls[-1] == (4, 4)
    model = res.model(t.run_id.iloc[1])
    p = model.predict_proba(tiny_split.test.X)[:, 1]
    assert np.isclose(((p >= 0.5) == tiny_split.test.y).mean(), t.test_accuracy.iloc[1])
    # The same model comes back from the store in a new process' view of it.
    fresh = ResultStore(tmp_path).load_model(t.run_id.iloc[1])
    assert np.allclose(fresh.predict_proba(tiny_split.test.X), model.predict_proba(tiny_split.test.X))


def test_identical_sweep_comes_from_store_without_training(tiny_split, fast_params, tmp_path, monkeypatch):
    store = ResultStore(tmp_path)
    first = run_sweep(tiny_split, ["regularized"], ETAS, params=fast_params, store=store)

    def boom(*a, **k):
        raise AssertionError("trained again")

    # fit_group trains every task, a batch of etas or one run.
    monkeypatch.setattr(sweep_mod, "fit_group", boom)
    with pytest.raises(AssertionError, match="trained again"):  # the guard fires on a new run
        run_sweep(tiny_split, ["regularized"], [0.0, 2.0, 3.0], params=fast_params, store=ResultStore(tmp_path))
    again = run_sweep(tiny_split, ["regularized"], ETAS, params=fast_params, store=ResultStore(tmp_path))
    assert again.results["cached"].all()
    cols = ["run_id", "eta", "val_accuracy", "test_demographic_parity_difference"]
    pd.testing.assert_frame_equal(first.results[cols], again.results[cols])


def test_changed_parameter_recomputes_only_what_changed(tiny_split, fast_params, tmp_path):
    store = ResultStore(tmp_path)
    run_sweep(tiny_split, ["unconstrained", "regularized"], ETAS, params=fast_params, store=store)
    changed = {**fast_params, "regularized": {**fast_params["regularized"], "max_epochs": 4}}
    res = run_sweep(tiny_split, ["unconstrained", "regularized"], ETAS, params=changed, store=store)
    assert res.results.loc[res.results.method == "unconstrained", "cached"].all()
    assert not res.results.loc[res.results.method == "regularized", "cached"].any()
    more = run_sweep(tiny_split, ["regularized"], ETAS + [10.0], params=changed, store=store)
    assert more.results["cached"].sum() == len(ETAS)


def test_interrupted_sweep_keeps_finished_runs(tiny_split, fast_params, tmp_path):
    store = ResultStore(tmp_path)
    done = []
    with pytest.raises(SweepCancelled):
        run_sweep(tiny_split, ["regularized"], ETAS, params=fast_params, store=store, batched=False,
                  progress=lambda d, t: done.append(d), should_stop=lambda: len(done) >= 3)
    assert len(store.keys()) == 2
    assert not list(store.runs_dir.glob("*.tmp"))
    res = run_sweep(tiny_split, ["regularized"], ETAS, params=fast_params, store=store)
    assert res.results["cached"].sum() == 2


def test_parallel_equals_serial(tiny_split, fast_params, monkeypatch):
    made = []
    real = sweep_mod.Parallel
    monkeypatch.setattr(sweep_mod, "Parallel", lambda *a, **k: made.append(k) or real(*a, **k))
    # Two tasks: the regularized etas as one batch, the unconstrained run alone.
    methods = ["unconstrained", "regularized"]
    a = run_sweep(tiny_split, methods, ETAS, params=fast_params, n_jobs=1)
    assert made == []  # one process: no joblib
    b = run_sweep(tiny_split, methods, ETAS, params=fast_params, n_jobs=2)
    assert [k["n_jobs"] for k in made] == [2]  # the tasks went through joblib's workers
    assert sorted(b.results["batched_with"]) == [1, 3, 3, 3]
    cols = ["run_id", "val_accuracy", "test_accuracy", "test_demographic_parity_difference"]
    pd.testing.assert_frame_equal(a.results[cols], b.results[cols])


def test_threshold_reference_flags_attribute_use(tiny_split, fast_params):
    res = run_sweep(tiny_split, ["threshold"], [0.0, 1.0], params=fast_params)
    assert res.results["needs_sensitive_at_predict"].all()
    t = res.results.set_index("eta")
    assert t.loc[1.0, "test_demographic_parity_difference"] <= t.loc[0.0, "test_demographic_parity_difference"] + 0.02


def test_dask_local_cluster_matches_local_run(tiny_split, fast_params, monkeypatch):
    distributed = pytest.importorskip("distributed")
    local = run_sweep(tiny_split, ["regularized"], ETAS, params=fast_params)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  protocol="tcp://", host="127.0.0.1", dashboard_address=":0") as cluster:
        monkeypatch.setenv("FAIRKIT_DASK_SCHEDULER", cluster.scheduler_address)
        remote = run_sweep(tiny_split, ["regularized"], ETAS, params=fast_params, n_jobs=2)
    cols = ["run_id", "val_accuracy", "test_accuracy", "test_demographic_parity_difference"]
    pd.testing.assert_frame_equal(local.results[cols], remote.results[cols])


def test_batched_eta_training_matches_one_at_a_time(tiny_split, fast_params):
    params = {"regularized": {**fast_params["regularized"], "hidden_layer_sizes": (8,)}}
    grid = [0.0, 0.5, 2.0, 8.0]
    batched = run_sweep(tiny_split, ["regularized"], grid, params=params, batched=True)
    alone = run_sweep(tiny_split, ["regularized"], grid, params=params, batched=False)
    assert (batched.results["batched_with"] == len(grid)).all()
    assert (alone.results["batched_with"] == 1).all()
    for run_id in alone.results.run_id:
        a = alone.model(run_id).predict_proba(tiny_split.test.X)
        b = batched.model(run_id).predict_proba(tiny_split.test.X)
        assert np.abs(a - b).max() < 1e-4
    cols = ["val_accuracy", "test_demographic_parity_difference"]
    assert np.allclose(batched.results[cols], alone.results[cols], atol=2e-3)


def test_linear_method_is_batched_per_method_and_is_logistic_regression(tiny_split, fast_params):
    params = {"regularized": {**fast_params["regularized"], "hidden_layer_sizes": (8,)},
              "linear": {"max_epochs": 10, "batch_size": 128}}  # the registry's own (empty) hidden layers
    grid = [0.0, 1.0, 4.0]
    batched = run_sweep(tiny_split, ["regularized", "linear"], grid, params=params, batched=True)
    t = batched.results
    # Each method trains its etas together, never mixed with the other method's.
    assert (t["batched_with"] == len(grid)).all() and len(t) == 2 * len(grid)
    lin = t[t.method == "linear"]
    model = batched.model(lin.run_id.iloc[0])
    assert [type(m).__name__ for m in model.module_] == ["Linear"]
    alone = run_sweep(tiny_split, ["linear"], grid, params=params, batched=False)
    for run_id in alone.results.run_id:
        a = alone.model(run_id).predict_proba(tiny_split.test.X)
        b = batched.model(run_id).predict_proba(tiny_split.test.X)
        assert np.abs(a - b).max() < 1e-4
    # The fairness term acts: the strongest eta narrows the training gap of the plain model.
    gaps = lin.set_index("eta")["val_demographic_parity_difference"]
    assert gaps.loc[4.0] < gaps.loc[0.0]
