"""benchmarks.estimates: the table's columns and ratios, and a later sweep's estimate scaled by the store."""

import pytest

from benchmarks.estimates import compare_estimates
from benchmarks.common import ratio

TINY = {"max_epochs": 1, "hidden_layer_sizes": ()}


def test_compare_estimates_columns_ratios_and_store_scaling(tmp_path):
    params = {m: TINY for m in ("unconstrained", "regularized", "linear")}
    table = compare_estimates(("german",), parts=("default", "others"), others=["linear"], params=params,
                              n_etas=2, budget=1, store_dir=tmp_path)
    assert list(table["sweep"]) == ["default", "linear"]
    default, linear = table.iloc[0], table.iloc[1]
    assert default["runs"] >= 2 and default["placed"] <= 1  # the grid (0 and one eta) and at most 1 placed run
    grid, top = default["grid_s"], default["grid_s"] + default["placed_max_s"]
    assert grid <= default["estimate_s"] <= top and grid <= default["given_placed_s"] <= top
    for row in (default, linear):
        assert row["ratio"] == pytest.approx(ratio(row["measured_s"], row["estimate_s"]))
        assert row["ratio_model"] == pytest.approx(ratio(row["measured_s"], row["model_s"]))
        assert row["ratio_given_placed"] == pytest.approx(ratio(row["measured_s"], row["given_placed_s"]))
        assert row["within_2x"] == (0.5 <= row["ratio"] <= 2.0)
        assert row["halfway_left_s"] >= 0 and row["load"] >= 0
    # The first sweep meets an empty store (the registry's model alone); the second is scaled by
    # the runs the first stored.
    assert default["scaled_by"] == 1.0 and default["estimate_s"] == pytest.approx(default["model_s"])
    assert linear["scaled_by"] != 1.0 and linear["estimate_s"] != linear["model_s"]
