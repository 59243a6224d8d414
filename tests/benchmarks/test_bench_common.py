"""benchmarks.common: per-seed summaries and table output."""

import numpy as np
import pandas as pd
import pytest

from benchmarks.common import best_at_by_seed, majority_error, ratio, report, to_markdown

DP = "demographic_parity_difference"


def test_majority_error():
    assert majority_error([1, 0, 0, 0]) == 0.25
    assert majority_error([1, 1, 1, 0, 0]) == pytest.approx(0.4)


def test_best_at_by_seed_is_the_median_of_validation_chosen_test_accuracies():
    # Per seed: (val accuracy, val DP, test accuracy). Within DP <= 0.05 the best validation
    # accuracy is 0.80 (test 0.70) in seed 0, 0.75 (test 0.74) in seed 1, none in seed 2.
    rows = [(0, 0.80, 0.04, 0.70), (0, 0.78, 0.01, 0.90), (0, 0.90, 0.20, 0.95),
            (1, 0.75, 0.05, 0.74), (1, 0.70, 0.00, 0.99),
            (2, 0.85, 0.30, 0.85)]
    table = pd.DataFrame(rows, columns=["seed", "val_accuracy", f"val_{DP}", "test_accuracy"])
    table[f"test_{DP}"] = 0.0
    assert best_at_by_seed(table, 0.05) == pytest.approx((0.70 + 0.74) / 2)
    assert best_at_by_seed(table, 0.01) == pytest.approx((0.90 + 0.99) / 2)
    assert best_at_by_seed(table, 0.35) == pytest.approx(0.85)  # the median of 0.95, 0.74 and 0.85
    assert np.isnan(best_at_by_seed(table, -1.0))


def test_ratio():
    assert ratio(3.0, 2.0) == 1.5
    assert np.isnan(ratio(3.0, 0.0)) and np.isnan(ratio(np.nan, 2.0)) and np.isnan(ratio(3.0, np.inf))


def test_report_prints_and_writes_csv_and_markdown(tmp_path, capsys):
    table = pd.DataFrame({"setting": ["blind", "aware"], "hv": [0.123456, np.nan]})
    report("Title", table, tmp_path / "out", "t")
    assert "## Title" in capsys.readouterr().out
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "out" / "t.csv"), table)
    assert (tmp_path / "out" / "t.md").read_text() == (
        "## Title\n\n| setting | hv |\n|---|---|\n| blind | 0.1235 |\n| aware | nan |\n")
    assert to_markdown(table).splitlines()[2] == "| blind | 0.1235 |"
    report("Title", table, None, "none")  # no folder: nothing written
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["out", "t.csv", "t.md"]


def test_a_child_runs_the_checkout_it_is_given_and_refuses_any_other(tmp_path):
    """``python -c`` puts the current folder first on the import path: run from one checkout,
    the export and score benchmarks compared that checkout with itself (session 47)."""
    from benchmarks.common import run_in_checkout

    for name in ("given", "elsewhere"):
        (tmp_path / name / "fairkit").mkdir(parents=True)
        (tmp_path / name / "fairkit" / "__init__.py").write_text(f"WHICH = {name!r}\n")
    code = "import json, fairkit\nprint(json.dumps({'which': fairkit.WHICH}))"
    assert run_in_checkout(tmp_path / "given", code) == {"which": "given"}
    with pytest.raises(RuntimeError, match="imported fairkit from .*elsewhere.*not from the checkout"):
        run_in_checkout(tmp_path / "given", code, cwd=tmp_path / "elsewhere")


def test_own_peak_is_the_childs_not_the_forking_drivers():
    """A driver holding 1 GiB runs a small child: the child's own peak is tens of MiB, where
    ``ru_maxrss`` (the figure this replaced) reads the driver's size."""
    import json
    import subprocess
    import sys

    ballast = bytearray(1 << 30)
    ballast[::4096] = b"\x01" * len(range(0, len(ballast), 4096))  # touched: resident
    code = ("import json, resource; from benchmarks.common import own_peak_mib; "
            "print(json.dumps([own_peak_mib(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]))")
    own, carried = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                             check=True).stdout)
    del ballast
    assert own < 256, own
    assert carried > 1000, carried  # the carried figure, as a check that the ballast was resident
