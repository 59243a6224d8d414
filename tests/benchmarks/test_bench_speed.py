"""benchmarks.speed: the sweep-speed table's arithmetic, the generated data, the scale subprocesses."""

import numpy as np
import pandas as pd
import pytest

from benchmarks.common import load_split, torch_params
from benchmarks.speed import compare_sweep_speed, make_synthetic, scale_benchmark
from fairkit.split import split_dataset

FAST = torch_params(max_epochs=2, hidden_layer_sizes=())


@pytest.mark.parametrize("eg_fits, total, extrapolated", [
    ([3.0, np.nan], 3.0 * 3, True),       # one measured fit, three etas: extrapolated
    ([1.0, 2.0, 4.0], 7.0, False),         # as many fits as etas: their sum
])
def test_sweep_speed_ratios(eg_fits, total, extrapolated):
    eg = pd.DataFrame({"fit_seconds": eg_fits})
    row = compare_sweep_speed(load_split("german"), n_etas=3, eg_table=eg, params=FAST, repeats=2).iloc[0]
    assert (row["n_etas"], row["repeats"], row["eg_fits_measured"]) == (3, 2, int(np.isfinite(eg_fits).sum()))
    assert row["eg_total_s"] == pytest.approx(total) and row["eg_total_extrapolated"] == extrapolated
    assert row["sweep_over_one_model"] == pytest.approx(row["sweep_wall_s"] / row["one_model_wall_s"])
    assert row["eg_over_sweep"] == pytest.approx(total / row["sweep_wall_s"])
    # Two repeats: the median is the mean of the fastest and the slowest.
    assert row["sweep_wall_s"] == pytest.approx((row["sweep_wall_min_s"] + row["sweep_wall_max_s"]) / 2)
    assert row["batched_with"] == 3  # the regularized etas train as one batched model


def test_synthetic_data():
    frame, spec = make_synthetic(500, n_cols=40)
    assert frame.shape == (500, 41) and spec.sensitive == ["group"] and spec.target == "label"
    assert [c for c in frame if not pd.api.types.is_numeric_dtype(frame[c])] == ["c0", "c1", "c2", "c3", "group"]
    assert set(frame["label"]) == {0, 1} and set(frame["group"]) == {"A", "B"}
    assert frame.equals(make_synthetic(500, n_cols=40)[0])


def test_scale_runs_in_a_subprocess_of_this_package():
    table = scale_benchmark((400,), n_etas=2, params={"regularized": {"max_epochs": 1}})
    split = split_dataset(*make_synthetic(400), seed=0)
    row = table.iloc[0]
    assert (row["n_rows"], row["n_etas"]) == (400, 2)
    assert (row["n_train"], row["n_features"]) == (len(split.train), split.train.X.shape[1])
    assert (row["rows_growth_vs_first"], row["time_growth_vs_first"]) == (1.0, 1.0)
