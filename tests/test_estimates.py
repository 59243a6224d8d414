"""Time estimates (issue 20): the cost models' arithmetic, estimate_seconds and the count-down.

No timing is asserted: the arithmetic is checked against hand-computed values, and the store's
measured ratio against the runs a tiny sweep stored.
"""

import dataclasses
import math

import numpy as np
import pytest

from fairkit import costs, sweep
from fairkit.costs import BoostingCost, ReductionsCost, TorchCost, network_weights
from fairkit.methods import get_method, register, unregister
from fairkit.store import ResultStore
from fairkit.sweep import (
    REFINE_ROUNDS,
    Countdown,
    _makespan,
    duration_text,
    estimate_seconds,
    measured_ratios,
    placement_share,
    predicted_fit_seconds,
    run_sweep,
)

TINY = {"max_epochs": 1, "hidden_layer_sizes": ()}


def _n_eval(split) -> int:
    return len(split.validation) + len(split.test)


def test_torch_cost_counts_steps_batch_rows_and_weights():
    model = TorchCost(setup=1.0, setup_cell=0.001, step=0.1, row=0.01, row_weight=0.0001)
    est = get_method("regularized").build(0.0, 0, max_epochs=3, max_steps=None, batch_size=100,
                                          hidden_layer_sizes=(4,))
    # 250 rows: 3 batches an epoch, 3 epochs = 9 steps; 10 features -> 10*4 + 4*1 = 44 weights.
    assert network_weights(10, (4,)) == 44
    per_step = 0.1 + 2 * 100 * (0.01 + 0.0001 * 44)
    assert model(est, 250, 10, 2) == pytest.approx(1.0 + 0.001 * 250 * 10 + 9 * per_step)
    # max_steps caps the epochs as the trainer does: 4 steps -> 2 epochs of 3 batches.
    capped = get_method("regularized").build(0.0, 0, max_epochs=3, max_steps=4, batch_size=100,
                                             hidden_layer_sizes=(4,))
    assert model(capped, 250, 10, 1) == pytest.approx(1.0 + 2.5 + 6 * (0.1 + 100 * (0.01 + 0.0001 * 44)))


def test_batched_fit_grows_slowly_with_k_and_params_move_the_estimate():
    m = get_method("regularized")
    one, eight = m.cost(5000, 20, 1), m.cost(5000, 20, 8)
    assert one < eight < 8 * one
    assert m.cost(5000, 20, 1, {"max_steps": None, "max_epochs": 40}) > m.cost(5000, 20, 1, {"max_steps": None,
                                                                                           "max_epochs": 10})
    assert m.cost(5000, 200, 1) > one and m.cost(50_000, 20, 1) > one


def test_boosting_and_reductions_models_by_hand():
    b = BoostingCost(setup=0.5, cell=1e-6, tree=0.01, tree_row=1e-5, tree_cell=1e-7)
    est = get_method("boosting").build(1.0, 0, n_estimators=50)
    assert b(est, 1000, 10) == pytest.approx(0.5 + 0.01 + 50 * (0.01 + 0.01 + 0.001))
    r = ReductionsCost(calls=20.0, iters_per_feature=2.0, iter=0.001, iter_cell=1e-8, call=0.05, call_row=1e-5,
                       setup=0.3)
    red = get_method("reductions").build(0.5, 0)  # LogisticRegression(max_iter=300)
    around = 0.05 + 1e-5 * 1000  # ExponentiatedGradient's own work per call on 1,000 rows
    # 10 features: 20 L-BFGS iterations; 400 features: capped at max_iter = 300.
    assert r(red, 1000, 10) == pytest.approx(0.3 + 20 * (20 * (0.001 + 1e-8 * 1000 * 10) + around))
    assert r(red, 1000, 400) == pytest.approx(0.3 + 20 * (300 * (0.001 + 1e-8 * 1000 * 400) + around))
    # ExponentiatedGradient's max_iter bounds the calls.
    assert r(get_method("reductions").build(0.5, 0, max_iter=5), 1000, 10) == pytest.approx(
        0.3 + 7 * (20 * (0.001 + 1e-8 * 1000 * 10) + around))


def test_every_registered_method_has_a_cost_model():
    from fairkit.methods import METHODS

    for name, m in METHODS.items():
        est = m.build(0.0, 0)
        assert m.cost_model is not None or costs.cost_model_for(est) is not None, name
        assert m.cost(1000, 10) > 0


def test_the_nearest_class_in_the_mro_picks_the_model():
    inferred = get_method("inferred_threshold").build(0.5, 0)
    assert costs.cost_model_for(inferred) is costs.INFERRED_THRESHOLD_COST  # not its parent's
    assert costs.cost_model_for(get_method("threshold").build(0.5, 0)) is costs.THRESHOLD_COST
    assert costs.cost_model_for(object()) is None


@pytest.fixture
def flat_method():
    """The regularized network with a cost model of 2 + 0.5 K seconds a fit."""
    m = register(dataclasses.replace(get_method("regularized"), name="flat_cost",
                                     cost_model=lambda est, n, d, k: 2.0 + 0.5 * k))
    yield m
    unregister(m.name)


def test_estimate_groups_batches_and_spreads_over_workers(tiny_split, flat_method):
    per_run = costs.RUN_OVERHEAD(_n_eval(tiny_split), False)
    etas = [0.0, 0.5, 1.0, 2.0]
    est = estimate_seconds(tiny_split, ["flat_cost"], etas)
    assert est["seconds"] == pytest.approx(2.0 + 0.5 * 4 + 4 * per_run)  # one stacked fit of 4
    one_by_one = estimate_seconds(tiny_split, ["flat_cost"], etas, batched=False)
    assert one_by_one["seconds"] == pytest.approx(4 * (2.5 + per_run))
    two = estimate_seconds(tiny_split, ["flat_cost"], etas, batched=False, n_jobs=2)
    assert two["seconds"] == pytest.approx(2 * (2.5 + per_run))
    with_report = estimate_seconds(tiny_split, ["flat_cost"], etas, reporting=True)
    assert with_report["seconds"] - est["seconds"] == pytest.approx(
        4 * (costs.RUN_OVERHEAD(_n_eval(tiny_split), True) - costs.RUN_OVERHEAD(_n_eval(tiny_split), False)))
    assert est["refine_seconds"] == 0 and est["expected_seconds"] == est["seconds"]


def test_estimate_adds_a_range_for_placed_runs(tiny_split, flat_method):
    per_run = costs.RUN_OVERHEAD(_n_eval(tiny_split), False)
    est = estimate_seconds(tiny_split, ["flat_cost"], [0.0, 1.0], seeds=(0, 1), adaptive=True, budget=7)
    # Per seed: REFINE_ROUNDS stacked fits of ceil(7 / 3) = 3 etas, and 7 runs' scoring.
    rounds = REFINE_ROUNDS * (2.0 + 0.5 * math.ceil(7 / REFINE_ROUNDS)) + 7 * per_run
    assert est["refine_runs"] == 14
    assert est["refine_seconds"] == pytest.approx(2 * rounds)
    # The point estimate counts the share of the placement the labels' gap leads one to expect.
    grid = est["seconds"]
    share = placement_share(tiny_split)
    assert est["placed_expected_seconds"] == pytest.approx(share * 2 * rounds)
    assert est["expected_seconds"] == pytest.approx(grid + share * 2 * rounds)
    # A tolerance alone: the geometric middle of the grid and the grid with every placed run.
    bracket = estimate_seconds(tiny_split, ["flat_cost"], [0.0, 1.0], seeds=(0, 1), tolerance=0.05, budget=7)
    assert bracket["refine_seconds"] == pytest.approx(2 * rounds)
    assert bracket["expected_seconds"] == pytest.approx(math.sqrt(grid * (grid + 2 * rounds)))
    # A method that fits one eta at a time pays for each placed run.
    single = estimate_seconds(tiny_split, ["flat_cost"], [0.0, 1.0], adaptive=True, budget=7, batched=False)
    assert single["refine_seconds"] == pytest.approx(7 * (2.5 + per_run))


@pytest.mark.parametrize("rates, share", [((0.5, 0.5), 0.0), ((0.55, 0.45), 0.5), ((0.9, 0.1), 1.0)])
def test_placement_share_follows_the_labels_gap(rates, share):
    from types import SimpleNamespace

    import pandas as pd

    # 200 rows a group, positive at the given rates: the labels' DP gap is the difference.
    y = np.concatenate([np.arange(200) < round(200 * r) for r in rates]).astype(int)
    groups = pd.Series(["a"] * 200 + ["b"] * 200, name="g")
    split = SimpleNamespace(validation=SimpleNamespace(y=y, sensitive=groups.to_frame()))
    # (gap - spacing) / (PLACEMENT_FULL_SPACINGS * spacing), within [0, 1]
    assert placement_share(split, 0.02) == pytest.approx(share)


def test_makespan_largest_first():
    assert _makespan([3.0, 1.0, 1.0, 1.0], 2) == 3.0
    assert _makespan([2.0, 2.0, 2.0], 1) == 6.0
    assert _makespan([2.0, 2.0, 2.0], 4) == 2.0


def test_store_ratio_scales_the_model(tiny_split, tmp_path, monkeypatch):
    # Fits of this size are a fraction of a second: let their ratio count (the prior's part is
    # checked below).
    monkeypatch.setattr(sweep, "PRIOR_SECONDS", 1e-3)
    store = ResultStore(tmp_path)
    params = {"linear": TINY}
    res = run_sweep(tiny_split, ["linear"], [0.0, 0.5, 1.0, 2.0], store=store, params=params, batched=False)
    table = res.results
    # Every run records the model's prediction beside its measured fit time.
    assert np.allclose(table["predicted_fit_seconds"], predicted_fit_seconds("linear", tiny_split, 1, TINY.items()))
    # The median ratio, counted by the predicted seconds behind it.
    median = float(np.median(table["fit_seconds"] / table["predicted_fit_seconds"]))
    weight = table["predicted_fit_seconds"].sum() / (table["predicted_fit_seconds"].sum() + 1e-3)
    want = median ** weight
    ratios = measured_ratios(store)
    assert ratios["linear"] == pytest.approx(want)
    new = [3.0, 4.0]  # not stored yet
    scaled = estimate_seconds(tiny_split, ["linear"], new, store=store, params=params, batched=False)
    plain = estimate_seconds(tiny_split, ["linear"], new, params=params, batched=False)
    overhead = 2 * costs.RUN_OVERHEAD(_n_eval(tiny_split), False)
    assert scaled["scale"]["linear"] == pytest.approx(want)
    assert scaled["seconds"] - overhead * ratios["*"] == pytest.approx((plain["seconds"] - overhead) * want)
    # A prior of as many seconds as the runs predicted counts the ratio half (in logs).
    monkeypatch.setattr(sweep, "PRIOR_SECONDS", float(table["predicted_fit_seconds"].sum()))
    assert measured_ratios(store)["linear"] == pytest.approx(median ** 0.5)
    # Stored runs cost nothing.
    again = estimate_seconds(tiny_split, ["linear"], [0.0, 0.5], store=store, params=params)
    assert (again["cached"], again["to_train"], again["seconds"]) == (2, 0, 0.0)


def test_ratios_are_remembered_until_a_run_is_stored(tiny_split, tmp_path, monkeypatch):
    """The Train page estimates on every render: the ratios are read from the store once per
    change of its runs folder (a quarter of a second at 25,000 runs), and anew after a sweep."""
    monkeypatch.setattr(sweep, "PRIOR_SECONDS", 1e-3)
    sweep._RATIOS_SEEN.clear()
    store = ResultStore(tmp_path)
    params = {"linear": TINY}
    run_sweep(tiny_split, ["linear"], [0.0, 0.5, 1.0], store=store, params=params, batched=False)
    read = []
    records = store.records
    monkeypatch.setattr(store, "records", lambda keys=None: read.append(len(keys)) or records(keys))
    first = measured_ratios(store)
    assert measured_ratios(store) == first and read == [3]  # the second call read nothing
    run_sweep(tiny_split, ["linear"], [2.0], store=store, params=params, batched=False)
    measured_ratios(store)
    assert read == [3, 4]  # a run was stored: read again, the new one with them
    assert store.newest_keys(1) == [max(store.keys(), key=lambda k: store._json(k).stat().st_mtime)]
    assert store.newest_keys(0) == [] and sorted(store.newest_keys(10)) == store.keys()


def test_countdown_counts_down_between_runs_and_reanchors():
    est = {"runs": 4, "run_seconds": 10.0, "placed_run_seconds": 5.0, "placed_expected_seconds": 10.0}
    clock = Countdown(est, done=0, started=100.0)
    assert clock.left(100.0) is None
    clock.update(0, 4, now=100.0)
    start = 4 * 10.0 + 10.0
    assert clock.left(100.0) == pytest.approx(start)
    values = [clock.left(t) for t in np.linspace(100.0, 140.0, 9)]
    assert all(b <= a for a, b in zip(values, values[1:])) and values[-1] == pytest.approx(start - 40.0)
    clock.update(0, 4, now=140.0)  # nothing finished: no re-anchor
    assert clock.left(140.0) == pytest.approx(start - 40.0)
    # One run took 30 s against a 10 s model: the pace (with one run's prior) is 40 / 20 = 2.
    clock.update(1, 4, now=130.0)
    assert clock.left(130.0) == pytest.approx(2.0 * (3 * 10.0 + 10.0))
    assert clock.left(10_000.0) == 0.0
    # A refinement round of 3 placed runs after the grid: they replace the expected placement.
    clock.update(4, 7, now=200.0)
    pace = (100.0 + 10.0) / (40.0 + 10.0)
    assert clock.left(200.0) == pytest.approx(pace * 3 * 5.0)


def test_countdown_starts_after_stored_runs():
    clock = Countdown({"runs": 10, "run_seconds": 2.0}, done=6, started=0.0)
    clock.update(6, 10, now=0.0)
    assert clock.left(0.0) == pytest.approx(8.0)
    clock.update(8, 10, now=4.0)  # two fresh runs at the model's pace
    assert clock.left(4.0) == pytest.approx(4.0)


def test_duration_text():
    assert duration_text(40.2) == "40 s"
    assert duration_text(150) == "2.5 min"
    assert duration_text(7200) == "2.0 h"


def test_estimate_takes_parameters_holding_dicts(tiny_split):
    # The post-processor's base parameters are a dict (unhashable): they still key the estimate.
    params = {"threshold": {"base_params": {}}}
    est = estimate_seconds(tiny_split, ["threshold"], [0.0, 0.5], params=params)
    assert est["seconds"] > 0 and est["to_train"] == 2


class _RecordsStore:
    """A store's reading side, holding the given records (run ids 0..n-1, oldest first)."""

    def __init__(self, frame, tmp_path):
        self.frame = frame
        self.dir = tmp_path
        for i in range(len(frame)):
            (tmp_path / f"{i}.json").write_text("{}")

    def keys(self):
        return [str(i) for i in range(len(self.frame))]

    def newest_keys(self, n):
        return self.keys()[-n:]

    def changed_at(self):
        return None  # nothing to remember the ratios by

    def _json(self, key):
        return self.dir / f"{key}.json"

    def records(self, keys=None):
        return self.frame.iloc[[int(k) for k in keys]]


def test_pooled_ratio_is_one_vote_per_method(tmp_path, monkeypatch):
    import pandas as pd

    monkeypatch.setattr(sweep, "PRIOR_SECONDS", 1e-9)
    rows = ([("a", 1.0)] * 10 + [("b", 4.0)] * 3 + [("c", 5.0)] * 3  # a has most runs
            + [("d", 9.0)] * 2)  # too few runs of its own
    frame = pd.DataFrame([{"method": m, "fit_seconds": r * 5.0, "predicted_fit_seconds": 5.0} for m, r in rows])
    ratios = measured_ratios(_RecordsStore(frame, tmp_path))
    assert set(ratios) == {"a", "b", "c", "*"}
    assert (ratios["a"], ratios["b"], ratios["c"]) == pytest.approx((1.0, 4.0, 5.0))
    assert ratios["*"] == pytest.approx(4.0)  # the median of 1, 4 and 5, not of the 18 runs (1)


def test_threshold_cost_counts_the_folds_auto_fits_on_small_tables():
    """thresholds_from="auto" cross-fits below CROSSFIT_BELOW_ROWS: the estimate counts the
    n_folds extra base fits there (it counted one fit whatever the table), and one above."""
    from fairkit.costs import THRESHOLD_COST, cost_model_for
    from fairkit.estimators.postprocess import CROSSFIT_BELOW_ROWS

    est = get_method("threshold").build(0.5, 0)  # as a sweep builds it: boosted trees as the base
    assert est.thresholds_from == "auto" and est.estimator is not None
    base_cost = cost_model_for(est.estimator)
    for n, fits in ((600, 1 + est.n_folds), (CROSSFIT_BELOW_ROWS + 1, 1)):
        expected = (fits * base_cost(est.estimator, n, 20, 1) + THRESHOLD_COST.setup + THRESHOLD_COST.row * n
                    + 4 * THRESHOLD_COST.per_eta)
        assert THRESHOLD_COST(est, n, 20, 4) == pytest.approx(expected)
