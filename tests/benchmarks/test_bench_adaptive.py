"""benchmarks.adaptive: the frontier-shape arithmetic and the comparison tables' columns."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from benchmarks.adaptive import compare_adaptive, eta_scan, frontier_shape
from benchmarks.common import load_split, ratio


def _table():
    # Regularized etas 0 .. 4: gaps 0.30, 0.20, 0.05 usable; 0.50 above the unconstrained gap
    # (noise); eta 4 constant (selects 0.5 % of rows), eta 3 selects 1 % without the flag.
    rows = [("unconstrained", 0.0, 0.80, 0.30, 0.3, False),
            ("regularized", 0.0, 0.80, 0.30, 0.3, False),
            ("regularized", 1.0, 0.79, 0.50, 0.3, False),
            ("regularized", 2.0, 0.78, 0.20, 0.2, False),
            ("regularized", 3.0, 0.75, 0.05, 0.01, False),
            ("regularized", 4.0, 0.70, 0.00, 0.005, True)]
    t = pd.DataFrame(rows, columns=["method", "eta", "val_accuracy", "val_demographic_parity_difference",
                                    "val_selection_rate", "constant"])
    return t.assign(test_accuracy=t.val_accuracy - 0.01,
                    test_demographic_parity_difference=t.val_demographic_parity_difference)


def test_frontier_shape_by_hand():
    split = SimpleNamespace(validation=SimpleNamespace(y=np.array([0] * 7 + [1] * 3)),
                            test=SimpleNamespace(y=np.array([0] * 6 + [1] * 4)))
    shape = frontier_shape(_table(), split)
    assert (shape["runs"], shape["usable"], shape["constant_flagged"]) == (5, 4, 1)
    # From parity: 0 -> 0.05 -> 0.20 -> 0.30 (0.50 is above the unconstrained gap): 0.15.
    assert shape["largest_step"] == pytest.approx(0.15)
    assert shape["one_decision_unflagged"] == 1  # eta 3 selects 1 % of rows and is not flagged
    # Validation front (constant left out): (error, gap) = (0.20, 0.30), (0.22, 0.20), (0.25, 0.05);
    # reference (majority error 0.3, 1.0).
    hv_val = 0.02 * 0.70 + 0.03 * 0.80 + 0.05 * 0.95
    assert shape["hv_val"] == pytest.approx(hv_val)
    # Test: errors 0.01 higher (0.21, 0.23, 0.26), reference 0.4.
    assert shape["hv_test"] == pytest.approx(0.02 * 0.70 + 0.03 * 0.80 + 0.14 * 0.95)
    assert shape["cliffs"] == 0  # no warnings column: no cliff named
    # A cliff's note stands on both its etas (after other notes): it counts once.
    cliff = "cliff between eta 2 and 2.02: etas that close jump"
    noted = _table().assign(warnings=["", "", "", cliff, "constant model: ...; " + cliff, "constant model: ..."])
    assert frontier_shape(noted, split)["cliffs"] == 1


def test_compare_adaptive_columns_and_ratios():
    params = {m: {"max_epochs": 2, "hidden_layer_sizes": ()} for m in ("unconstrained", "regularized")}
    table = compare_adaptive(load_split("german"), dataset="german", repeats=1, params=params, n_etas=3,
                             budget=2)
    grid, adaptive = table.iloc[0], table.iloc[1]
    assert list(table["sweep"]) == ["grid", "adaptive"] and grid["runs"] == 3
    assert grid["rounds"] == 1 and adaptive["runs"] <= grid["runs"] + 2
    assert grid["time_vs_grid"] == 1.0 and adaptive["time_vs_grid"] == pytest.approx(adaptive["wall_s"] / grid["wall_s"])
    assert adaptive["cpu_vs_grid"] == pytest.approx(adaptive["cpu_s"] / grid["cpu_s"])
    assert adaptive["hv_test_vs_grid"] == pytest.approx(ratio(adaptive["hv_test"], grid["hv_test"]), nan_ok=True)


def test_eta_scan_steps_between_neighbouring_etas():
    params = {"regularized": {"max_epochs": 2, "hidden_layer_sizes": ()}}
    scan = eta_scan(load_split("german"), 0.5, 2.0, 3, params=params)
    assert list(scan["eta"]) == [0.5, 1.0, 2.0]
    assert np.isnan(scan["step"].iloc[0])
    assert np.allclose(scan["step"].iloc[1:], np.diff(scan["gap"]))
    assert scan["constant"].dtype == bool and scan["selection_rate"].between(0, 1).all()

