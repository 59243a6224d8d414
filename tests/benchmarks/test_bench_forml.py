"""benchmarks.forml: the per-method scores by hand, and the comparison table's rows and ratios."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from benchmarks.__main__ import main
from benchmarks.common import ratio
from benchmarks.forml import compare_forml, forml_split, method_scores

EO = "equal_opportunity_difference"


def _table():
    rows = [("unconstrained", 0.0, 0.80, 0.30, 1.0),
            ("regularized", 1.0, 0.78, 0.04, 2.0),
            ("regularized", 5.0, 0.74, 0.01, 2.0),
            ("forml", 1.0, 0.79, 0.15, 5.0),
            ("forml", 5.0, 0.76, 0.03, 5.0)]
    t = pd.DataFrame(rows, columns=["method", "eta", "val_accuracy", f"val_{EO}", "fit_seconds"])
    return t.assign(test_accuracy=t.val_accuracy - 0.01, **{f"test_{EO}": t[f"val_{EO}"]},
                    val_selection_rate=0.4, test_selection_rate=0.4)


def test_method_scores_by_hand():
    split = SimpleNamespace(test=SimpleNamespace(y=np.array([0] * 6 + [1] * 4)))  # majority error 0.4
    s = method_scores(_table(), split, "forml", EO)
    # Front with the baseline: test (error, gap) = (0.21, 0.30), (0.22, 0.15), (0.25, 0.03).
    assert s["hv_test"] == pytest.approx(0.01 * 0.70 + 0.03 * 0.85 + 0.15 * 0.97)
    assert np.isnan(s["acc_at_0.01"]) and np.isnan(s["acc_at_0.02"])
    assert s["acc_at_0.05"] == pytest.approx(0.75)
    assert (s["runs"], s["best_val_gap"], s["fit_s"]) == (2, 0.03, 10.0)
    reg = method_scores(_table(), split, "regularized", EO)
    assert reg["acc_at_0.01"] == pytest.approx(0.73) and reg["acc_at_0.05"] == pytest.approx(0.77)


def test_compare_forml_rows_and_ratios():
    params = {m: {"max_epochs": 2, "hidden_layer_sizes": ()} for m in ("unconstrained", "regularized", "forml")}
    table = compare_forml(forml_split("german"), dataset="german", n_etas=2, params=params, seeds=(0, 1))
    assert list(table["method"]) == ["unconstrained", "regularized", "forml"]
    assert list(table["runs"]) == [1, 2, 2] and set(table["seeds"]) == {2}  # runs per seed
    reg, forml = table.iloc[1], table.iloc[2]
    assert 0 <= forml["hv_wins"] <= 2 and np.isnan(reg["hv_wins"])
    assert forml["hv_vs_regularized"] == pytest.approx(ratio(forml["hv_test"], reg["hv_test"]), nan_ok=True)
    assert forml["time_vs_regularized"] == pytest.approx(forml["fit_s"] / reg["fit_s"])
    assert np.isnan(reg["hv_vs_regularized"])


def test_adult_is_subsampled_before_the_split():
    split = forml_split("adult", adult_rows=1000)
    assert len(split.train) + len(split.validation) + len(split.test) <= 1000


def test_forml_part_of_the_command(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["--datasets", "german", "--quick", "--parts", "forml", "--max-epochs", "1"]) == 0
    table = pd.read_csv(tmp_path / "benchmarks" / "results" / "forml.csv")
    assert set(table["fairness"]) == {"equal_opportunity", "demographic_parity"}
    assert len(table) == 6 and "FORML" in capsys.readouterr().out
