"""benchmarks.frontier: per-seed hypervolumes and the fairkit-vs-fairlearn table.

The test files of ``tests/benchmarks/`` carry a ``bench_`` prefix: the folder has no
``__init__.py`` (one would shadow the ``benchmarks`` package under pytest's rootdir imports), so
each basename must differ from ``tests/test_frontier.py`` and the other suites' files.
"""

import statistics
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from benchmarks.common import load_split, majority_error, torch_params
from benchmarks.frontier import compare_frontiers, frontier_runs_resplit, seed_hypervolumes

DP = "demographic_parity_difference"


def _run(family, method, seed, val, test, aware=False):
    """One run: ``val`` and ``test`` are (accuracy, DP difference)."""
    return {"family": family, "method": method, "seed": seed, "needs_sensitive_at_predict": aware,
            "val_accuracy": val[0], f"val_{DP}": val[1], "test_accuracy": test[0], f"test_{DP}": test[1]}


def hand_runs() -> pd.DataFrame:
    """Three seeds of runs whose fronts and hypervolumes are worked out by hand below."""
    return pd.DataFrame([
        # seed 0, fairkit, attribute-blind: A and B form the validation front; C is dominated by
        # A on validation although it would dominate everything on test.
        _run("fairkit", "regularized", 0, (0.80, 0.10), (0.85, 0.20)),   # A
        _run("fairkit", "regularized", 0, (0.78, 0.02), (0.80, 0.05)),   # B
        _run("fairkit", "regularized", 0, (0.70, 0.15), (0.95, 0.00)),   # C
        _run("fairkit", "threshold", 0, (0.82, 0.01), (0.84, 0.03), aware=True),  # D dominates A, B
        _run("fairlearn", "eg_lr", 0, (0.79, 0.05), (0.81, 0.10)),       # E
        _run("fairlearn", "threshold_lr", 0, (0.76, 0.00), (0.77, 0.01), aware=True),  # F
        # seed 1
        _run("fairkit", "linear", 1, (0.75, 0.05), (0.76, 0.10)),        # G
        _run("fairkit", "threshold", 1, (0.81, 0.01), (0.82, 0.02), aware=True),  # J dominates G
        _run("fairlearn", "eg_lr", 1, (0.80, 0.02), (0.80, 0.02)),       # H
        # seed 2
        _run("fairkit", "regularized", 2, (0.80, 0.03), (0.78, 0.03)),   # K
        _run("fairlearn", "eg_lr", 2, (0.78, 0.01), (0.79, 0.04)),       # L
    ])


# The test labels of the stand-in split: a quarter positive, so the reference error is 0.25.
SPLIT = SimpleNamespace(test=SimpleNamespace(y=np.array([1, 0, 0, 0])))
REF = 0.25

# Test hypervolumes with reference (REF, 1.0), each a staircase of slabs (width x height):
HV = {
    ("fairkit", "blind", 0): (0.20 - 0.15) * (1 - 0.20) + (REF - 0.20) * (1 - 0.05),  # A, B
    ("fairkit", "aware", 0): (REF - 0.16) * (1 - 0.03),                               # D
    ("fairlearn", "blind", 0): (REF - 0.19) * (1 - 0.10),                             # E
    ("fairlearn", "aware", 0): (0.23 - 0.19) * (1 - 0.10) + (REF - 0.23) * (1 - 0.01),  # E, F
    ("fairkit", "blind", 1): (REF - 0.24) * (1 - 0.10),                               # G
    ("fairkit", "aware", 1): (REF - 0.18) * (1 - 0.02),                               # J
    ("fairlearn", "blind", 1): (REF - 0.20) * (1 - 0.02),                             # H
    ("fairlearn", "aware", 1): (REF - 0.20) * (1 - 0.02),                             # H
    ("fairkit", "blind", 2): (REF - 0.22) * (1 - 0.03),                               # K
    ("fairkit", "aware", 2): (REF - 0.22) * (1 - 0.03),                               # K
    ("fairlearn", "blind", 2): (REF - 0.21) * (1 - 0.04),                             # L
    ("fairlearn", "aware", 2): (REF - 0.21) * (1 - 0.04),                             # L
}


def median(family, setting):
    return statistics.median(HV[family, setting, s] for s in (0, 1, 2))


def test_seed_hypervolumes_use_the_validation_front_and_the_test_metrics():
    runs = hand_runs()
    blind_fk = runs[(runs.family == "fairkit") & ~runs.needs_sensitive_at_predict]
    per = seed_hypervolumes(blind_fk, (REF, 1.0))
    assert per[0] == pytest.approx(HV["fairkit", "blind", 0])  # 0.0875; with C it would be 0.2
    assert per[1] == pytest.approx(HV["fairkit", "blind", 1])


def test_seed_hypervolumes_take_each_seeds_own_reference_when_the_table_has_one():
    runs = hand_runs().assign(hv_ref_error=lambda t: np.where(t.seed == 0, REF, 0.30))
    per = seed_hypervolumes(runs[runs.family == "fairlearn"], ref=None)
    assert list(per.index) == [0, 1, 2]
    assert per[0] == pytest.approx(HV["fairlearn", "aware", 0])
    assert per[1] == pytest.approx((0.30 - 0.20) * (1 - 0.02))


def test_compare_frontiers_on_hand_made_runs():
    table = compare_frontiers(hand_runs(), SPLIT, dataset="toy").set_index("setting")
    blind, aware = table.loc["attribute-blind"], table.loc["attribute-aware"]
    assert (table["split"] == "fixed (seed 0)").all() and (table["hv_ref_error"] == REF).all()

    for row, setting in ((blind, "blind"), (aware, "aware")):
        assert row["fairkit_hv"] == pytest.approx(median("fairkit", setting))
        assert row["fairlearn_hv"] == pytest.approx(median("fairlearn", setting))
        assert row["hv_ratio"] == pytest.approx(median("fairkit", setting) / median("fairlearn", setting))
    # Blind: fairkit wins seed 0 (0.0875 vs 0.054), loses seeds 1 (0.009 vs 0.049) and 2 (0.029 vs
    # 0.038); aware: wins seeds 0 and 1.
    assert blind["seeds_won"] == pytest.approx(1 / 3) and aware["seeds_won"] == pytest.approx(2 / 3)
    assert (table["fairkit_seeds"] == 3).all() and (table["fairlearn_seeds"] == 3).all()
    assert blind["fairkit_methods"] == "linear+regularized"
    assert aware["fairkit_methods"] == "linear+regularized+threshold"
    assert blind["fairlearn_methods"] == "eg_lr" and aware["fairlearn_methods"] == "eg_lr+threshold_lr"
    # Accuracy at validation DP <= b: test accuracy of the best-validation run within b, median
    # over the seeds that have one.
    assert blind["fairkit_acc@dp<=0.05"] == pytest.approx(0.78)  # B 0.80, G 0.76, K 0.78
    assert np.isnan(blind["fairkit_acc@dp<=0.01"])
    assert blind["fairlearn_acc@dp<=0.05"] == pytest.approx(0.80)  # E 0.81, H 0.80, L 0.79
    assert aware["fairkit_acc@dp<=0.01"] == pytest.approx((0.84 + 0.82) / 2)  # D, J; seed 2 has none
    assert aware["fairlearn_acc@dp<=0.01"] == pytest.approx((0.77 + 0.79) / 2)  # F, L; seed 1 has none


def test_compare_frontiers_with_one_split_per_seed():
    runs = hand_runs().assign(hv_ref_error=lambda t: np.where(t.seed == 0, REF, 0.30))
    table = compare_frontiers(runs, SPLIT).set_index("setting")
    assert (table["split"] == "one per seed").all()
    assert table.loc["attribute-blind", "hv_ref_error"] == pytest.approx(0.30)  # median of 0.25, 0.30, 0.30
    # G and K against their own seed's reference.
    per_seed = [HV["fairkit", "blind", 0], (0.30 - 0.24) * (1 - 0.10), (0.30 - 0.22) * (1 - 0.03)]
    assert table.loc["attribute-blind", "fairkit_hv"] == pytest.approx(statistics.median(per_seed))


def test_resplit_runs_use_each_seeds_split_and_reference():
    german = load_split("german")
    fast = torch_params(max_epochs=2, hidden_layer_sizes=())
    runs = frontier_runs_resplit("german", seeds=[0, 1], etas={"regularized": [0.0, 2.0], "boosting": [0.0]},
                                 bounds=[0.05], bases=("lr",), params=fast, grid_size=3,
                                 fk_methods=["regularized", "boosting"])
    refs = runs.groupby("seed")["hv_ref_error"].first()
    for s in (0, 1):
        assert refs[s] == pytest.approx(majority_error(load_split("german", seed=s).test.y))
    assert (runs["split_seed"] == runs["seed"]).all()
    # Per seed: 2 regularized + 1 boosting, EG at 1 bound, GridSearch's 3, ThresholdOptimizer's 6 tolerances.
    assert runs.groupby(["seed", "method"]).size().unstack().loc[0].to_dict() == {
        "boosting": 1, "eg_lr": 1, "gridsearch_lr": 3, "regularized": 2, "threshold_lr": 6}
    # Different splits: the same baseline at the same bound scores differently per seed.
    eg = runs[runs.method == "eg_lr"].set_index("seed")
    assert (eg.loc[0, ["val_accuracy", "test_accuracy"]] != eg.loc[1, ["val_accuracy", "test_accuracy"]]).any()
    table = compare_frontiers(runs, german, dataset="german").set_index("setting")
    blind = runs[~runs.needs_sensitive_at_predict.astype(bool)]
    per_fk = seed_hypervolumes(blind[blind.family == "fairkit"], None)
    per_fl = seed_hypervolumes(blind[blind.family == "fairlearn"], None)
    assert table.loc["attribute-blind", "seeds_won"] == pytest.approx((per_fk >= per_fl).mean())
    assert table.loc["attribute-blind", "fairkit_hv"] == pytest.approx(per_fk.median())
    assert table.loc["attribute-aware", "fairlearn_methods"] == "eg_lr+gridsearch_lr+threshold_lr"
    assert table.loc["attribute-blind", "fairlearn_methods"] == "eg_lr+gridsearch_lr"
