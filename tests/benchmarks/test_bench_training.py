"""benchmarks.training: fairkit's sweep against ExponentiatedGradient, on German with tiny settings."""

import pytest

from benchmarks.common import load_split, torch_params
from benchmarks.training import compare_training
from fairkit.frontier import best_at


def test_training_summary_is_read_from_its_runs():
    german = load_split("german")
    etas = {"regularized": [0.0, 2.0], "lagrangian": [10.0]}
    summary, runs = compare_training(german, seeds=[0], etas=etas, bounds=[0.05],
                                     params=torch_params(max_epochs=2, hidden_layer_sizes=()))
    assert list(summary["contender"]) == ["fairkit regularized+lagrangian", "fairkit regularized",
                                          "fairkit lagrangian", "fairlearn EG(LogReg)"]
    assert runs.groupby(["family", "method"]).size().to_dict() == {
        ("fairkit", "lagrangian"): 1, ("fairkit", "regularized"): 2, ("fairlearn", "eg_lr"): 1}
    subsets = {"fairkit regularized+lagrangian": runs[runs.family == "fairkit"],
               "fairkit regularized": runs[runs.method == "regularized"],
               "fairkit lagrangian": runs[runs.method == "lagrangian"],
               "fairlearn EG(LogReg)": runs[runs.family == "fairlearn"]}
    eg_median = subsets["fairlearn EG(LogReg)"]["fit_seconds"].median()
    for row in summary.itertuples(index=False):
        sub = subsets[row.contender]
        assert row.n_models == len(sub)
        assert row.median_fit_s == pytest.approx(sub["fit_seconds"].median())
        assert row.fit_speedup_vs_EG == pytest.approx(eg_median / sub["fit_seconds"].median())
        for b in (0.01, 0.05):  # one seed: the median is that seed's validation-chosen figure
            assert getattr(summary.set_index("contender").loc[row.contender], f"test_acc@dp<={b}") == \
                pytest.approx(best_at(sub, b), nan_ok=True)
