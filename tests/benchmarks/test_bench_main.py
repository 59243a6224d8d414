"""``python -m benchmarks``: a quick frontier run on German, where its tables go, bad arguments."""

import pandas as pd
import pytest

from benchmarks.__main__ import main
from benchmarks.common import load_split
from benchmarks.frontier import compare_frontiers


def test_quick_frontier_writes_its_tables_under_the_current_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["--datasets", "german", "--quick", "--parts", "frontier", "--bases", "lr",
                 "--max-epochs", "2", "--resplit", ""]) == 0
    assert "hypervolume" in capsys.readouterr().out
    out = tmp_path / "benchmarks" / "results"  # the default --out, relative to the current directory
    assert sorted(p.name for p in out.iterdir()) == ["frontier.csv", "frontier.md", "frontier_runs_german.csv"]
    runs = pd.read_csv(out / "frontier_runs_german.csv")
    # --quick: one seed, fairkit's quick methods; LogReg baselines only.
    assert set(runs["seed"]) == {0}
    assert set(runs["method"]) == {"regularized", "lagrangian", "threshold", "eg_lr", "gridsearch_lr", "threshold_lr"}
    # The saved table is the comparison of the saved runs.
    table = pd.read_csv(out / "frontier.csv")
    again = compare_frontiers(runs, load_split("german"), dataset="german")
    pd.testing.assert_frame_equal(table, again, check_dtype=False)
    assert list(table["setting"]) == ["attribute-blind", "attribute-aware"]


@pytest.mark.parametrize("args", [["--datasets", "mars"], ["--parts", "frontiers"]])
def test_bad_arguments_exit_with_code_2(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    assert "unknown" in capsys.readouterr().err
