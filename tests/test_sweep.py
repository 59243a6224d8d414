"""run_sweep: tidy results, store reuse, partial recompute, interruption, parallel and Dask."""

import dataclasses
import math
import re

import numpy as np
import pandas as pd
import pytest

from fairkit import sweep as sweep_mod
from fairkit.methods import METHODS, eta_grid, get_method
from fairkit.stats import paired_proportion_interval
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
    # One value beside 0 is the range's middle (new-user audit, session 48: it was the weakest end).
    assert eta_grid(0.05, 20, 2) == [0.0, 1.0] and eta_grid(0.1, 1, 2, log=False) == [0.0, 0.55]
    assert eta_grid(0, 1, 3, log=False, include_zero=False) == [0.0, 0.5, 1.0]
    with pytest.raises(ValueError, match="Unknown method"):
        get_method("magic")


def test_plan_runs_shapes():
    runs = plan_runs(["unconstrained", "regularized"], ETAS, seeds=[0, 1])
    assert len(runs) == 2 + 3 * 2
    runs = plan_runs(["regularized"], {"regularized": [0.5]}, seeds=[0])
    assert [r.eta for r in runs] == [0.5]


def test_one_method_name_or_one_seed_is_a_list_of_it():
    assert plan_runs("regularized", [0.5], seeds=0) == plan_runs(["regularized"], [0.5], seeds=[0])
    for bad in ("0", 1.5, [0, None], []):
        with pytest.raises(ValueError, match="seeds must be one integer or a list of integers"):
            plan_runs(["regularized"], [0.5], seeds=bad)


def test_a_grid_of_more_runs_than_a_method_may_train_is_refused_before_anything_trains(tiny_split):
    """20,000 etas ran out of memory a minute into training (round 3, finding 12)."""
    from fairkit.methods import RegistryError

    with pytest.raises(RegistryError, match="regularized: 1,001 etas x 2 seeds are 2,002 runs, over the limit"):
        plan_runs(["unconstrained", "regularized"], np.linspace(0, 1, 1_001), seeds=[0, 1])
    assert len(plan_runs(["regularized"], np.linspace(0, 1, 2_000))) == 2_000  # the limit itself
    with pytest.raises(RegistryError, match="1 eta x 2,001 seeds"):
        run_sweep(tiny_split, ["regularized"], [0.5], seeds=list(range(2_001)))


def test_run_sweep_takes_one_method_name_and_refuses_what_is_not_a_split(tiny_split, fast_params):
    one = run_sweep(tiny_split, "unconstrained", seeds=0, params=fast_params)
    assert list(one.results["method"]) == ["unconstrained"]
    with pytest.raises(ValueError, match="split must be a DatasetSplit .*got DataFrame"):
        run_sweep(pd.DataFrame({"a": [1]}), ["unconstrained"])


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


def test_reserved_rows_reach_the_post_processors_only(tiny_split, fast_params, tmp_path, monkeypatch):
    from fairkit.estimators import postprocess
    from fairkit.split import reserve_threshold_rows

    monkeypatch.setattr(postprocess, "CROSSFIT_BELOW_ROWS", 100)  # "auto" takes the set from here on

    reserved = reserve_threshold_rows(tiny_split, 0.5)
    store = ResultStore(tmp_path)
    methods = ["regularized", "threshold", "inferred_threshold"]
    eo = "equalized_odds"  # "auto" fits equalized-odds thresholds on the reserved rows
    plain = run_sweep(tiny_split, methods, [0.0, 1.0], params=fast_params, store=store, fairness=eo)
    res = run_sweep(reserved, methods, [0.0, 1.0], params=fast_params, store=store, fairness=eo)
    # Another validation part, other runs: nothing comes from the plain split's store entries.
    assert not res.results["cached"].any()
    assert set(res.results["run_id"]).isdisjoint(plain.results["run_id"])
    n = len(reserved.thresholds)
    for (method, eta), rid in res.results.set_index(["method", "eta"])["run_id"].items():
        model = res.model(rid)
        if method == "regularized":  # trained as before: the same test decisions
            other = plain.results.set_index(["method", "eta"]).loc[(method, eta)]
            assert res.results.set_index(["method", "eta"]).loc[(method, eta), "test_accuracy"] == \
                other["test_accuracy"]
            continue
        assert model.thresholds_from_ == "threshold_set" and model.n_threshold_rows_ == n
    # The batched fit (one base for both etas) and a fit alone agree.
    t = res.results.set_index(["method", "eta"])
    alone = get_method("threshold").build(1.0, 0, eo, **fast_params["threshold"])
    alone.fit(reserved.train.X, reserved.train.y, sensitive_features=reserved.model_groups(reserved.train),
              threshold_set=reserved.threshold_set())
    p = alone.predict_proba(reserved.test.X, sensitive_features=reserved.model_groups(reserved.test))[:, 1]
    assert float(((p >= 0.5) == reserved.test.y).mean()) == pytest.approx(t.loc[("threshold", 1.0), "test_accuracy"])
    # At demographic parity the thresholds stay on the training side.
    dp = run_sweep(reserved, ["threshold"], [1.0], params=fast_params)
    assert dp.model(dp.results["run_id"].iloc[0]).thresholds_from_ in ("train", "crossfit")


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


# --- adaptive eta placement, constant models, tolerance first (issue 19) ---------------------

# A linear model that learns in 15 short epochs: its DP gap falls from ~0.36 (eta 0) to
# constant models (everyone selected) from eta ~10, with a jump in between.
TRADE = {"regularized": {"max_epochs": 15, "hidden_layer_sizes": (), "batch_size": 64, "lr": 0.05}}
TRADE_ETAS = [0.0, 0.3, 1.0, 3.0, 10.0, 30.0]
DP = "val_demographic_parity_difference"


def _one_at_a_time():
    """A log-scaled, unbounded method that fits one eta at a time: it bisects and fills exactly
    (the registry's Lagrangian network, with its batching switched off)."""
    return dataclasses.replace(get_method("lagrangian"), batchable=False)


def test_place_etas_fills_holes_where_the_gap_jumps():
    one_at_a_time = _one_at_a_time()
    # Sorted gaps 0.01, 0.03, 0.09, 0.10 leave one hole wider than 0.02: (0.03, 0.09), between
    # etas 1 and 2. It needs ceil(0.06 / 0.02) - 1 = 2 etas, geometrically spaced.
    assert sweep_mod.place_etas(one_at_a_time, [0.5, 1, 2, 4], [0.10, 0.09, 0.03, 0.01], [False] * 4) == [1.26, 1.587]
    # The order of the input does not matter, and a spacing that holds places nothing.
    assert sweep_mod.place_etas(one_at_a_time, [4, 2, 1, 0.5], [0.01, 0.03, 0.09, 0.10], [False] * 4) == [1.26, 1.587]
    assert sweep_mod.place_etas(one_at_a_time, [0.5, 1, 2, 4], [0.10, 0.09, 0.03, 0.01], [False] * 4,
                                spacing=0.07) == []
    # A linear (bounded) method: arithmetic midpoints.
    assert sweep_mod.place_etas(get_method("reductions"), [0.0, 0.5, 1.0], [0.2, 0.17, 0.0], [False] * 3,
                                spacing=0.1) == [0.75]
    # Under a limit the etas go one at a time to the widest hole left: the 0.06 hole (etas 1-2)
    # gets the first, which leaves it two 0.03 steps, so the second goes to the 0.05 hole
    # (etas 0.5-1) rather than to the 0.06 hole again.
    assert sweep_mod.place_etas(one_at_a_time, [0.5, 1, 2, 4], [0.14, 0.09, 0.03, 0.01], [False] * 4,
                                limit=2) == [0.7071, 1.414]
    assert sweep_mod.place_etas(one_at_a_time, [0.5, 1, 2, 4], [0.14, 0.09, 0.03, 0.01], [False] * 4,
                                limit=1) == [1.414]
    # Holes count from parity up to the least constrained model's gap (eta 0.5 here): a model
    # less fair than that (0.3, noise) asks for nothing; only the way to parity is still open.
    assert sweep_mod.place_etas(one_at_a_time, [0.5, 1, 2], [0.05, 0.30, 0.04], [False] * 3) == [4.0, 8.0, 16.0]
    # Two etas 1 % apart are the same model for this purpose: a jump between them is a cliff.
    assert sweep_mod.place_etas(one_at_a_time, [1.0, 1.01], [0.3, 0.0], [False, False]) == []


def test_place_etas_backs_off_from_constant_models_and_extends_towards_parity():
    one_at_a_time = _one_at_a_time()
    # Eta 4 is constant: bisect between the last usable eta (2, gap 0.06) and it.
    assert sweep_mod.place_etas(one_at_a_time, [1, 2, 4], [0.10, 0.06, 0.0], [False, False, True],
                                spacing=0.05) == [2.828]
    # A usable model within the spacing of parity needs no back-off from its constant neighbour.
    assert sweep_mod.place_etas(one_at_a_time, [1, 2, 4], [0.06, 0.04, 0.0], [False, False, True],
                                spacing=0.05) == []
    # A batchable method gets several etas in the round, geometrically spaced between the two.
    batched = sweep_mod.place_etas(get_method("regularized"), [1, 2, 4], [0.10, 0.06, 0.0], [False, False, True],
                                   spacing=0.05)
    k = sweep_mod.BRACKET_POINTS
    assert batched == [round(2 * 2 ** (j / (k + 1)), 3) for j in range(1, k + 1)]
    # Still far from parity at the largest eta of an unbounded method: larger etas are tried.
    assert sweep_mod.place_etas(one_at_a_time, [1, 2], [0.10, 0.09], [False, False]) == [4.0, 8.0, 16.0]
    # A bounded method stops at its limit.
    assert sweep_mod.place_etas(get_method("reductions"), [0.0, 1.0], [0.2, 0.19], [False, False]) == []


def test_place_etas_brackets_a_tolerance():
    one_at_a_time = _one_at_a_time()
    etas, gaps = [0.5, 1, 2, 4], [0.20, 0.10, 0.05, 0.01]
    # 0.05 (eta 2) is above 0.03 and 0.01 (eta 4) within it: bisect between them, and only there.
    assert sweep_mod.place_etas(one_at_a_time, etas, gaps, [False] * 4, spacing=None, tolerance=0.03) == [2.828]
    # A model within 0.005 below the tolerance ends the bracketing.
    assert sweep_mod.place_etas(one_at_a_time, etas, [0.20, 0.10, 0.05, 0.028], [False] * 4, spacing=None,
                                tolerance=0.03) == []
    # A constant model is no model within the tolerance: the bracket still needs a usable one.
    assert sweep_mod.place_etas(one_at_a_time, etas, gaps, [False, False, False, True], spacing=None,
                                tolerance=0.03) == [2.828]
    # Only where the method first comes within it: a later model just below the tolerance (a gap
    # that climbs back up with eta) is less accurate and does not end the bracketing...
    assert sweep_mod.place_etas(one_at_a_time, etas, [0.20, 0.01, 0.028, 0.04], [False] * 4, spacing=None,
                                tolerance=0.03) == [0.7071]
    # ...and a least constrained model within the tolerance leaves nothing to look for.
    assert sweep_mod.place_etas(one_at_a_time, etas, [0.02, 0.01, 0.06, 0.005], [False] * 4, spacing=None,
                                tolerance=0.03) == []



def test_place_etas_brackets_each_of_several_tolerances():
    one_at_a_time = _one_at_a_time()
    etas, gaps = [0.5, 1, 2, 4], [0.20, 0.10, 0.05, 0.01]
    # 0.03 lies between etas 2 and 4, 0.08 between 1 and 2: both intervals are bisected.
    assert sweep_mod.place_etas(one_at_a_time, etas, gaps, [False] * 4, spacing=None,
                                tolerance=[0.08, 0.03]) == [1.414, 2.828]
    # A tolerance that already has a model just below it asks for nothing (0.012 has eta 4's 0.01).
    assert sweep_mod.place_etas(one_at_a_time, etas, gaps, [False] * 4, spacing=None,
                                tolerance=(0.03, 0.012)) == [2.828]
    # Two tolerances crossed in the same interval split it once.
    assert sweep_mod.place_etas(one_at_a_time, etas, gaps, [False] * 4, spacing=None,
                                tolerance=(0.03, 0.04)) == [2.828]
    # A tolerance above the least fair model is bracketed by nothing; one is the same as [one].
    assert sweep_mod.place_etas(one_at_a_time, etas, gaps, [False] * 4, spacing=None,
                                tolerance=[0.03]) == sweep_mod.place_etas(
        one_at_a_time, etas, gaps, [False] * 4, spacing=None, tolerance=0.03)


@pytest.mark.parametrize("bad", [-0.01, float("nan"), float("inf"), "a lot", [0.01, None]])
def test_a_bad_tolerance_fails_before_anything_trains(tiny_split, monkeypatch, bad):
    fitted = _count_fits(monkeypatch)
    with pytest.raises(ValueError, match="tolerance"):
        run_sweep(tiny_split, ["regularized"], TRADE_ETAS, params=TRADE, tolerance=bad)
    assert not fitted
    assert sweep_mod.tolerances(None) == () and sweep_mod.tolerances([0.05, 0.01, 0.05]) == (0.01, 0.05)

def test_place_etas_spreads_the_bracket_to_parity_and_waits_for_wide_holes_in_later_rounds():
    batched = get_method("regularized")
    # A usable model 0.26 from parity beside a constant one: one eta per spacing of the way
    # (ceil(0.26 / 0.02) - 1 = 12, more than BRACKET_POINTS), geometrically spaced.
    etas = sweep_mod.place_etas(batched, [1, 2, 4], [0.27, 0.26, 0.0], [False, False, True], spacing=0.02)
    assert etas == [float(f"{2 * 2 ** (j / 13):.4g}") for j in range(1, 13)]
    one_at_a_time = _one_at_a_time()
    # Holes of 0.025 and 0.04: a first round fills both; a later round (trigger 0.03) too,
    # since one hole is wider than the trigger...
    args = ([0.5, 1, 2, 4], [0.105, 0.08, 0.04, 0.0], [False] * 4)
    assert sweep_mod.place_etas(one_at_a_time, *args) == [0.7071, 1.414, 2.828]
    assert sweep_mod.place_etas(one_at_a_time, *args, trigger=0.03) == [0.7071, 1.414, 2.828]
    # ... but holes of at most 0.03 wait: no later round for them.
    args = ([0.5, 1, 2, 4, 8], [0.1, 0.075, 0.05, 0.025, 0.0], [False] * 5)
    assert sweep_mod.place_etas(one_at_a_time, *args) == [0.7071, 1.414, 2.828, 5.657]
    assert sweep_mod.place_etas(one_at_a_time, *args, trigger=0.03) == []


def test_find_cliffs_names_holes_no_eta_can_fill():
    one_at_a_time = _one_at_a_time()
    # Etas 1 and 1.01 jump from 0.30 to 0.05: nothing can be placed between them.
    etas, gaps = [0.5, 1, 1.01, 2], [0.31, 0.30, 0.05, 0.04]
    assert sweep_mod.find_cliffs(one_at_a_time, etas, gaps, [False] * 4) == [
        {"eta_low": 1.0, "eta_high": 1.01, "unfairness_low": 0.05, "unfairness_high": 0.30, "constant_end": False}]
    # The way from 0.04 to parity is a hole, not a cliff: larger etas are still tried.
    assert sweep_mod.place_etas(one_at_a_time, etas, gaps, [False] * 4) == [4.0, 8.0, 16.0]
    # A usable model 0.30 from parity next to a constant one 1 % further: a cliff to a constant model.
    (cliff,) = sweep_mod.find_cliffs(one_at_a_time, [1, 2, 2.02], [0.31, 0.30, 0.0], [False, False, True])
    assert (cliff["eta_low"], cliff["eta_high"], cliff["unfairness_high"], cliff["constant_end"]) == (2, 2.02, 0.30, True)
    assert sweep_mod.place_etas(one_at_a_time, [1, 2, 2.02], [0.31, 0.30, 0.0], [False, False, True]) == []
    # The same jump across a wide interval is a hole: it is bisected, and no cliff is named.
    assert sweep_mod.find_cliffs(one_at_a_time, [1, 2, 4], [0.31, 0.30, 0.0], [False, False, True]) == []
    assert sweep_mod.place_etas(one_at_a_time, [1, 2, 4], [0.31, 0.30, 0.0], [False, False, True]) == [2.828]


def test_refined_sweep_notes_cliffs_on_both_etas_of_every_seed():
    from fairkit.frontier import seed_summary

    rows = [("regularized", eta, seed, gap, "" if eta != 1.0 else "earlier note")
            for seed in (0, 1) for eta, gap in ((0.0, 0.31), (1.0, 0.30), (1.01, 0.05), (2.0, 0.04))]
    table = pd.DataFrame(rows, columns=["method", "eta", "seed", DP, "warnings"]).assign(
        run_id=[f"r{j}" for j in range(len(rows))], constant=False)
    noted = sweep_mod._note_cliffs(table, seed_summary(table), 0.02, "demographic_parity_difference")
    cells = noted.set_index(["eta", "seed"])["warnings"]
    for seed in (0, 1):
        assert "cliff between eta 1 and 1.01" in cells[(1.01, seed)]
        assert cells[(1.0, seed)].startswith("earlier note; cliff between eta 1 and 1.01")
        assert "0.050-0.300" in cells[(1.0, seed)]
        assert cells[(0.0, seed)] == "" and cells[(2.0, seed)] == ""


def _count_fits(monkeypatch):
    fitted = []
    real = sweep_mod.fit_group

    def counting(task, split):
        fitted.extend(run.eta for run, _ in task)
        return real(task, split)

    monkeypatch.setattr(sweep_mod, "fit_group", counting)
    return fitted


def test_adaptive_sweep_places_etas_where_the_gap_jumps_until_spacing_or_budget(tiny_split, tmp_path, monkeypatch):
    store = ResultStore(tmp_path)
    grid = run_sweep(tiny_split, ["regularized"], TRADE_ETAS, params=TRADE, store=store).results
    assert grid["constant"].any() and not grid["constant"].all()
    first = sweep_mod.place_etas(get_method("regularized"), grid["eta"], grid[DP], grid["constant"], spacing=0.05)
    assert first  # the grid leaves holes on this data

    fitted = _count_fits(monkeypatch)
    budget = 14
    res = run_sweep(tiny_split, ["regularized"], TRADE_ETAS, params=TRADE, store=store, adaptive=True,
                    spacing=0.05, budget=budget)
    t = res.results
    refined = sorted(set(t["eta"]) - set(TRADE_ETAS))
    assert sorted(fitted) == refined  # only new etas trained: the grid came from the store
    assert 0 < len(refined) <= budget and res.rounds >= 2
    assert set(first) <= set(refined)  # the first round went where the grid's gaps jump
    # Either nothing is left to place (the spacing holds, or only cliffs narrower than
    # MIN_ETA_STEP remain) or the budget is spent.
    # Either no later round is called for (no hole wider than LATER_ROUND_FACTOR x the spacing
    # is left, or only cliffs narrower than MIN_ETA_STEP) or the budget is spent.
    left = sweep_mod.place_etas(get_method("regularized"), t["eta"], t[DP], t["constant"], spacing=0.05,
                                trigger=sweep_mod.LATER_ROUND_FACTOR * 0.05)
    assert left == [] or len(refined) == budget
    assert t["run_id"].is_unique and len(t) == len(TRADE_ETAS) + len(refined)

    # A rerun is free: every run, the refined ones too, comes from the store.
    fitted.clear()
    again = run_sweep(tiny_split, ["regularized"], TRADE_ETAS, params=TRADE, store=ResultStore(tmp_path),
                      adaptive=True, spacing=0.05, budget=budget)
    assert fitted == [] and again.results["cached"].all()
    assert sorted(again.results["run_id"]) == sorted(t["run_id"])


def test_adaptive_sweep_batches_each_round(tiny_split, monkeypatch):
    sizes = []
    real = sweep_mod.fit_group
    monkeypatch.setattr(sweep_mod, "fit_group", lambda task, split: sizes.append(len(task)) or real(task, split))
    res = run_sweep(tiny_split, ["unconstrained", "regularized"], TRADE_ETAS, params=TRADE, adaptive=True,
                    spacing=0.05, budget=10)
    # One task per round for the network (its new etas trained as one stacked fit), plus the baseline.
    assert len(sizes) == res.rounds + 1 and res.rounds >= 2
    assert sum(sizes) == len(res.results) and sizes.count(1) == 1
    # The baseline is never refined.
    assert (res.results["method"] == "unconstrained").sum() == 1


def test_adaptive_sweep_places_the_same_etas_for_every_seed(tiny_split, monkeypatch):
    from fairkit.frontier import seed_summary

    triggers = []
    real = sweep_mod.place_etas
    monkeypatch.setattr(sweep_mod, "place_etas", lambda *a, **k: triggers.append(k["trigger"]) or real(*a, **k))
    seeds = [0, 1]
    grid = run_sweep(tiny_split, ["regularized"], TRADE_ETAS, seeds, params=TRADE).results
    res = run_sweep(tiny_split, ["regularized"], TRADE_ETAS, seeds, params=TRADE, adaptive=True, spacing=0.05,
                    budget=8)
    t = res.results
    refined = sorted(set(t["eta"]) - set(TRADE_ETAS))
    assert refined and len(refined) <= 8
    # Every eta, the refined ones too, has a run of each seed: the seeds aggregate per eta.
    assert all(sorted(g) == seeds for g in t.groupby("eta")["seed"].apply(list))
    assert (seed_summary(t)["n_seeds"] == 2).all()
    # The first round placed its etas on the seeds' mean unfairness per eta.
    mean = seed_summary(grid)
    first = real(get_method("regularized"), mean["eta"], mean[DP], mean["constant"], spacing=0.05, limit=8)
    assert set(first) <= set(refined)
    # Later rounds wait for holes wider than LATER_ROUND_FACTOR x the spacing.
    assert triggers[0] is None and set(triggers[1:]) <= {sweep_mod.LATER_ROUND_FACTOR * 0.05}


def test_constant_models_are_flagged_in_the_sweep_table(tiny_split):
    t = run_sweep(tiny_split, ["regularized"], [0.0, 30.0], params=TRADE).results.set_index("eta")
    # Eta 30 selects every validation row; eta 0 tells rows apart.
    assert t.loc[30.0, "val_selection_rate"] >= 0.99 and t.loc[30.0, "constant"]
    assert "constant model" in t.loc[30.0, "warnings"] and "positive decision" in t.loc[30.0, "warnings"]
    assert not t.loc[0.0, "constant"] and "constant model" not in t.loc[0.0, "warnings"]


def test_sweep_to_tolerance_brackets_and_reports_on_test(tiny_split, tmp_path, monkeypatch):
    store = ResultStore(tmp_path)
    grid = run_sweep(tiny_split, ["regularized"], TRADE_ETAS, params=TRADE, store=store).results
    usable = grid[~grid["constant"]].sort_values("eta")
    gaps = usable[DP].to_numpy()
    # A tolerance halfway through the largest fall between neighbouring grid models: the grid
    # has no model just below it.
    i = int(np.argmax(gaps[:-1] - gaps[1:]))
    tol = float((gaps[i] + gaps[i + 1]) / 2)
    fitted = _count_fits(monkeypatch)
    out = sweep_mod.sweep_to_tolerance(tiny_split, ["regularized"], tol, etas=TRADE_ETAS, params=TRADE,
                                       store=store, n_boot=20, budget=12)
    t = out.sweep.results
    assert fitted and set(fitted) == set(t["eta"]) - set(TRADE_ETAS)  # only the bisection trained
    lo, hi = float(usable["eta"].iloc[i]), float(usable["eta"].iloc[i + 1])
    assert all(lo < e < hi for e in fitted)  # inside the bracket, nowhere else
    # The pick: usable, within the tolerance on validation, the most accurate such run.
    row = out.selected
    assert row is not None and row["unfairness_val"] <= tol and not row["constant"]
    ok = t[~t["constant"] & (t[DP] <= tol)]
    assert row["performance_val"] == ok["val_accuracy"].max()
    # Reported on test, with intervals, from the test part's own predictions.
    assert out.report.overall["accuracy"] == pytest.approx(row["test_accuracy"])
    assert out.report.gap("demographic_parity_difference") == pytest.approx(row["test_demographic_parity_difference"])
    assert "demographic_parity_difference_low" in out.report.gaps


def test_cli_sweep_refines_the_default_grid_within_its_budget(tmp_path, monkeypatch):
    from fairkit.__main__ import main

    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path / "home"))
    base = ["sweep", "--dataset", "german", "--no-png", "--store", str(tmp_path / "store")]
    # German's validation gaps are small: a 0.005 spacing leaves holes to fill, 2 runs may fill them.
    assert main(base + ["--spacing", "0.005", "--budget", "2", "--out", str(tmp_path / "a")]) == 0
    adaptive = pd.read_csv(tmp_path / "a" / "results.csv")
    assert (adaptive["method"] == "regularized").sum() == 8 + 2
    assert "constant" in adaptive and adaptive["constant"].any()
    meta = pd.read_json(tmp_path / "a" / "sweep.json", typ="series")
    assert meta["adaptive"] and meta["spacing"] == 0.005 and meta["budget"] == 2
    # --no-adaptive trains the grid only (here: nothing, it is in the store).
    assert main(base + ["--no-adaptive", "--out", str(tmp_path / "b")]) == 0
    grid = pd.read_csv(tmp_path / "b" / "results.csv")
    assert len(grid) == 1 + 8 and grid["cached"].all()
    # --tolerances brackets each stated gap (here on the stored grid, adaptive placement off):
    # every run it adds lies between two grid etas whose models fall on either side of one, where
    # the method first comes within it (0.008: just below the first grid eta within it; 0.05: the
    # unconstrained model is within it already, and the grid's later climb above it is no place
    # to look).
    tols = [0.008, 0.05]
    assert main(base + ["--no-adaptive", "--tolerances", "0.05,0.008", "--budget", "4",
                        "--out", str(tmp_path / "c")]) == 0
    meta = pd.read_json(tmp_path / "c" / "sweep.json", typ="series")
    assert list(meta["tolerances"]) == tols
    bracketed = pd.read_csv(tmp_path / "c" / "results.csv")
    reg = bracketed[bracketed["method"] == "regularized"]
    new = reg[~reg["cached"]].sort_values("eta")
    assert 0 < len(new) <= 4
    old = reg[reg["cached"]].sort_values("eta")
    gap = "val_demographic_parity_difference"
    first_within = old.loc[old[gap] <= 0.008, "eta"].min()
    for eta in new["eta"]:
        lo, hi = old[old["eta"] < eta].iloc[-1], old[old["eta"] > eta].iloc[0]
        assert any(min(lo[gap], hi[gap]) <= t < max(lo[gap], hi[gap]) for t in tols)
        assert lo[gap] > 0.008 >= hi[gap] and hi["eta"] == first_within


def test_chance_gaps_read_a_sweep_model_on_the_rows_its_metrics_read(tiny_split):
    from fairkit.metrics import gap_noise_floor

    res = run_sweep(tiny_split, ["regularized"], [0.0], params=TRADE)
    (run_id,) = res.results["run_id"]
    model = res.model(run_id)
    floor = sweep_mod.chance_gaps(model, tiny_split, n_sim=50)
    v = tiny_split.validation
    direct = gap_noise_floor(v.y, sweep_mod.predict_scores(model, tiny_split, v), v.sensitive, n_sim=50)
    pd.testing.assert_frame_equal(floor.drop(columns="rows"), direct)
    assert (floor["rows"] == len(v)).all()
    # A fair-by-chance gap is well above 0 on a few hundred rows, and the test part has its own.
    assert floor.loc["demographic_parity_difference", "median"] > 0
    assert (sweep_mod.chance_gaps(model, tiny_split, "test", n_sim=50)["rows"] == len(tiny_split.test)).all()
    with pytest.raises(ValueError, match="part"):
        sweep_mod.chance_gaps(model, tiny_split, "train")


def test_accuracy_change_pairs_two_sweep_models_on_the_same_rows(tiny_split, fast_params):
    res = run_sweep(tiny_split, ["unconstrained", "threshold"], [0.0, 1.0], params=fast_params)
    t = res.results.set_index(["method", "eta"])
    fair, base = (res.model(t.loc[k, "run_id"]) for k in (("threshold", 1.0), ("unconstrained", 0.0)))
    out = sweep_mod.accuracy_change(fair, base, tiny_split)
    # The change is the difference of the accuracies the sweep's kernel reported for the two runs.
    expected = t.loc[("threshold", 1.0), "test_accuracy"] - t.loc[("unconstrained", 0.0), "test_accuracy"]
    assert out["change"] == pytest.approx(expected)
    assert out["low"] < out["change"] < out["high"] and out["rows"] == len(tiny_split.test)
    # The interval is the paired one: it is as wide as the rows the two decide differently allow.
    a, b = (sweep_mod.predict_scores(m, tiny_split, tiny_split.test) >= 0.5 for m in (fair, base))
    assert out["disagree"] == pytest.approx(np.mean(a != b)) and 0 < out["disagree"] < 1
    y = tiny_split.test.y.astype(bool)
    assert (out["change"], out["low"], out["high"]) == pytest.approx(paired_proportion_interval(a == y, b == y))
    # A model against itself: no change on these rows, and an interval that still says how large
    # a change the rows leave possible (it was the single point 0).
    same = sweep_mod.accuracy_change(base, base, tiny_split, "validation")
    assert (same["change"], same["disagree"]) == (0.0, 0.0)
    assert same["low"] == pytest.approx(-same["high"]) and same["high"] > 0
    assert same["same_scores"] and not out["same_scores"]
    with pytest.raises(ValueError, match="part"):
        sweep_mod.accuracy_change(fair, base, tiny_split, "train")


def test_gap_changes_are_the_rows_differences_with_paired_intervals(tiny_split, fast_params):
    """Each gap's change is the difference of the two runs' gaps on the same rows; a model
    against itself changes nothing, with an interval of width 0; the disparate impact gap moves
    opposite to the ratio."""
    from fairkit.sweep import gap_changes

    res = run_sweep(tiny_split, ["regularized"], [0.0, 8.0], [0], params=fast_params)
    rows = res.results.set_index("eta")
    model, base = res.model(rows.loc[8.0, "run_id"]), res.model(rows.loc[0.0, "run_id"])
    changes = gap_changes(model, base, tiny_split, n_boot=50)
    for key in ("demographic_parity_difference", "equalized_odds_difference", "max_group_ece"):
        c = changes[key]
        assert c["change"] == pytest.approx(rows.loc[8.0, f"test_{key}"] - rows.loc[0.0, f"test_{key}"])
        assert c["low"] <= c["change"] <= c["high"] and -1 <= c["low"] and c["high"] <= 1
    di = changes["disparate_impact_gap"]
    assert di["change"] == pytest.approx(-changes["disparate_impact_ratio"]["change"])
    assert (di["low"], di["high"]) == pytest.approx((-changes["disparate_impact_ratio"]["high"],
                                                     -changes["disparate_impact_ratio"]["low"]))
    same = gap_changes(model, model, tiny_split, n_boot=50)["demographic_parity_difference"]
    assert (same["change"], same["low"], same["high"]) == (0.0, 0.0, 0.0)


def test_the_network_at_eta_0_is_its_unconstrained_twin_and_the_change_says_so(tiny_split, fast_params):
    """The regularized network at eta 0 trains as the unconstrained one: equal scores on every
    test row, so every paired change is exactly 0 and ``same_scores`` tells the pages (which
    then do not caution that a bracket of a gap near 0 may be too narrow: it is exact)."""
    from fairkit.sweep import paired_changes

    res = run_sweep(tiny_split, ["unconstrained", "regularized"], [0.0, 8.0], [0], params=fast_params)
    t = res.results.set_index(["method", "eta"])
    base, twin, fair = (res.model(t.loc[k, "run_id"]) for k in
                        (("unconstrained", 0.0), ("regularized", 0.0), ("regularized", 8.0)))
    same = paired_changes(twin, base, tiny_split, n_boot=20)
    assert same["same_scores"] and same["disagree"] == 0.0
    # Trained in another stacked pass, equal but for float rounding: every change about 0.
    assert all(max(abs(c["change"]), abs(c["low"]), abs(c["high"])) < 1e-6 for c in same["gaps"].values())
    other = paired_changes(fair, base, tiny_split, n_boot=20)
    assert not other["same_scores"]


def test_a_change_that_is_exactly_zero_carries_no_negative_sign(tiny_split, fast_params):
    """A model against itself changes no gap: every change and interval end is +0.0, the disparate
    impact gap's too (minus the ratio's change: -0.0 there had shown as "-0.000")."""
    from fairkit.sweep import gap_changes

    res = run_sweep(tiny_split, ["regularized"], [0.0], [0], params=fast_params)
    model = res.model(res.results["run_id"].iloc[0])
    for key, c in gap_changes(model, model, tiny_split, n_boot=20).items():
        for end in ("change", "low", "high"):
            assert c[end] == 0.0 and math.copysign(1.0, c[end]) == 1.0, (key, end, c)


def test_an_eta_refusal_names_the_grid_n_etas_gives():
    """The refusal of an eta out of range offered "its own grid" as the default 8 points even
    with another n_etas, whose grid is what leaving the etas out trains (docs audit)."""
    from fairkit.methods import RegistryError, get_method
    from fairkit.sweep import plan_runs

    grid = get_method("threshold").grid(3)
    with pytest.raises(RegistryError, match=re.escape(f"its own grid ({', '.join(f'{e:g}' for e in grid)})")):
        plan_runs(["threshold"], [2.0], [0], n_etas=3)


def test_a_batched_fits_figures_are_each_models_own_so_its_export_check_passes(tmp_path):
    """Networks trained together are scored each on its own, as the export's check (and the record,
    ``score``, the dashboard) scores them: the figures agree to the digit. A stacked pass summed in
    another order, reordered COMPAS's exactly tied scores and moved ROC AUC by 2.6e-6, and the
    export refused an ordinary sweep as edited (upgrade audit, session 50)."""
    from fairkit.datasets import load_dataset
    from fairkit.export import check_run_figures
    from fairkit.split import split_dataset

    frame, spec = load_dataset("compas")
    split = split_dataset(frame, spec, seed=0)
    store = ResultStore(tmp_path / "store")
    result = run_sweep(split, ["regularized"], n_etas=3, store=store)
    assert (result.results["batched_with"] == 3).all()  # trained as one batch
    check_run_figures(result.results, store.load_model, split)  # raises on any figure not its model's
    for run in result.results.to_dict("records"):
        (alone,) = sweep_mod.run_figures(["regularized"], [result.model(run["run_id"])], split)
        assert {k: run[k] for k in alone if "auc" in k} == {k: v for k, v in alone.items() if "auc" in k}
        assert {k: run[k] for k in alone} == pytest.approx(alone, rel=0, abs=1e-12, nan_ok=True)  # summed over K


@pytest.mark.parametrize("text, values", [("0.3,0.1", [0.1, 0.3]), ("0.1 0.3", [0.1, 0.3]), ("0.1;0.3", [0.1, 0.3]),
                                          ("0.1, 0.1, 0.3", [0.1, 0.3]), (" 2 ", [2.0])])
def test_the_command_line_and_the_train_page_read_a_typed_list_alike(text, values):
    """One-implementation audit, session 53: the command line refused "0.1 0.3" and "0.1;0.3"
    that the Train page read, and kept "0.1,0.1" as two etas (two runs of one model planned)."""
    from fairkit.__main__ import _floats
    from fairkit.methods import get_method
    from fairkit.sweep import parse_numbers

    assert parse_numbers(text) == values and _floats(text) == values
    assert get_method("regularized").check_etas([0.3, 0.1, 0.3]) == [0.1, 0.3]


@pytest.mark.parametrize("text, said", [("", "the list is empty"), ("0,x", "'x' is not a number")])
def test_a_typed_list_that_is_not_numbers_is_refused_alike(text, said):
    import argparse

    from fairkit.__main__ import _floats
    from fairkit.sweep import parse_numbers

    with pytest.raises(ValueError, match=re.escape(said)):
        parse_numbers(text)
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(said)):
        _floats(text)
