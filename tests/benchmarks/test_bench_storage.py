"""The storage benchmark: every kind of model timed both ways, on German in a few calls."""

import numpy as np

from benchmarks.storage import METHODS, compare_storage


def test_compare_storage_times_each_kind_both_ways():
    table = compare_storage("german", repeats=2)
    assert list(table["method"]) == list(METHODS)
    for col in ("put_ms", "joblib_dump_ms", "load_ms", "joblib_load_ms"):
        assert (table[col] > 0).all(), col
    np.testing.assert_allclose(table["load_over_joblib"], table["load_ms"] / table["joblib_load_ms"])
    trees = table.set_index("method")["lightgbm_texts"]
    # The network holds no LightGBM text; the trees one; thresholds on inferred groups two (the
    # base's and the group model's).
    assert trees["regularized"] == 0 and trees["boosting"] == 1 and trees["inferred_threshold"] == 2
    assert np.isnan(table.set_index("method").loc["regularized", "check_over_parse"])
    assert (table.set_index("method").loc[["boosting", "threshold"], "check_over_parse"] > 0).all()
