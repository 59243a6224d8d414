"""fairkit.bench: a fast smoke test of every comparison on German with tiny settings."""

import numpy as np
import pandas as pd
import pytest

from fairkit import bench

FAST = bench.torch_params(max_epochs=2, hidden_layer_sizes=())
ETAS = {"regularized": [0.0, 2.0], "lagrangian": [10.0], "adversarial": [1.0], "threshold": [0.0, 1.0]}


@pytest.fixture(scope="module")
def german():
    return bench.load_split("german")


def test_training_and_reductions_tables(german):
    summary, runs = bench.compare_training(german, seeds=[0], etas=ETAS, bounds=[0.05], params=FAST)
    assert list(summary["contender"])[-1] == "fairlearn EG(LogReg)"
    assert {"test_acc@dp<=0.01", "test_acc@dp<=0.05", "fit_speedup_vs_EG"} <= set(summary.columns)
    assert (summary["median_fit_s"] > 0).all()
    assert set(runs["family"]) == {"fairkit", "fairlearn"}
    eg = runs[runs.family == "fairlearn"]
    red = bench.compare_reductions(german, bounds=[0.05], eg_table=eg)
    assert red.loc[0, "rw_test_roc_auc"] > 0.5 and np.isnan(red.loc[0, "eg_test_roc_auc"])
    assert 0 <= red.loc[0, "rw_test_dp"] <= 1


def test_frontier_comparison(german):
    runs = bench.frontier_runs(german, seeds=[0, 1], etas=ETAS, bounds=[0.05], bases=("lr",),
                               params=FAST, grid_size=3, fk_methods=["regularized", "threshold"])
    table = bench.compare_frontiers(runs, german, dataset="german")
    assert list(table["setting"]) == ["attribute-blind", "attribute-aware"]
    assert table.loc[0, "hv_ref_error"] == pytest.approx(bench.majority_error(german.test.y))
    assert (table[["fairkit_hv", "fairlearn_hv"]] >= 0).all().all()
    assert "threshold" not in table.loc[0, "fairkit_methods"]
    assert "threshold_lr" in table.loc[1, "fairlearn_methods"]


def test_sweep_speed_and_cli(german, tmp_path, capsys):
    speed = bench.compare_sweep_speed(german, n_etas=2, eg_bounds=[0.05], params=FAST)
    assert speed.loc[0, "eg_total_extrapolated"] and speed.loc[0, "sweep_over_one_model"] > 0
    row = speed.iloc[0]
    assert row["repeats"] == 3 and row["sweep_wall_min_s"] <= row["sweep_wall_s"] <= row["sweep_wall_max_s"]
    assert bench.main(["--datasets", "german", "--quick", "--parts", "frontier", "--bases", "lr",
                       "--max-epochs", "2", "--out", str(tmp_path)]) == 0
    assert "hypervolume" in capsys.readouterr().out
    assert isinstance(pd.read_csv(tmp_path / "frontier.csv"), pd.DataFrame)
    with pytest.raises(SystemExit):
        bench.main(["--datasets", "mars"])


def test_synthetic_data_shape():
    frame, spec = bench.make_synthetic(500, n_cols=40)
    assert frame.shape == (500, 41) and spec.sensitive == ["group"]
    assert set(frame["label"]) == {0, 1}


def test_resplit_frontier_uses_each_seeds_split_and_reference(german):
    runs = bench.frontier_runs_resplit("german", seeds=[0, 1], etas=ETAS, bounds=[0.05], bases=("lr",),
                                       params=FAST, grid_size=3, fk_methods=["regularized", "boosting"])
    refs = runs.groupby("seed")["hv_ref_error"].first()
    for s in (0, 1):
        assert refs[s] == pytest.approx(bench.majority_error(bench.load_split("german", seed=s).test.y))
    # Different splits: the baselines' test results differ between seeds (same bound, same model class).
    eg = runs[runs.method == "eg_lr"].set_index("seed")
    assert eg.loc[0, "test_accuracy"] != eg.loc[1, "test_accuracy"] or eg.loc[0, "val_accuracy"] != eg.loc[1, "val_accuracy"]
    table = bench.compare_frontiers(runs, german, dataset="german")
    assert (table["split"] == "one per seed").all()
    assert table.loc[0, "fairkit_methods"] == "boosting+regularized"
    blind = runs[~runs.needs_sensitive_at_predict.astype(bool)]
    per_fk = bench._seed_hypervolumes(blind[blind.family == "fairkit"], None)
    per_fl = bench._seed_hypervolumes(blind[blind.family == "fairlearn"], None)
    assert table.loc[0, "seeds_won"] == pytest.approx((per_fk >= per_fl).mean())
    per = bench._seed_hypervolumes(runs[(runs.family == "fairlearn")], None)
    assert table.loc[1, "fairlearn_hv"] == pytest.approx(per.median())

