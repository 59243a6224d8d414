"""benchmarks.anchors: one family's scores at tolerances and the fairkit-vs-anchors summary.

The anchors themselves run in their own environment (benchmarks/requirements-anchors.txt), which
the suite does not install; what is tested here is the arithmetic every figure of the README's
issue-21 tables comes from, on hand-made runs whose answers are worked out below.
"""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from benchmarks.anchors import family_scores, summarise

DP = "demographic_parity_difference"
SPLIT = SimpleNamespace(test=SimpleNamespace(y=np.array([1, 0, 0, 0])))  # majority error 0.25


def _runs(points, rate=0.4):
    """Runs from (val accuracy, val DP, test accuracy, test DP) tuples."""
    return pd.DataFrame([{"val_accuracy": a, f"val_{DP}": b, "test_accuracy": c, f"test_{DP}": d,
                          "val_selection_rate": rate} for a, b, c, d in points])


def test_family_scores_picks_on_validation_and_reports_test():
    runs = _runs([(0.80, 0.04, 0.81, 0.03),   # A: within 0.05 on validation
                  (0.78, 0.008, 0.76, 0.02),  # B: within 0.01
                  (0.85, 0.20, 0.86, 0.21)])  # C: only without a bound
    s = family_scores(runs, SPLIT, "demographic_parity")
    assert s["acc@0.01"] == 0.76 and s["acc@0.02"] == 0.76 and s["acc@0.05"] == 0.81
    # HV@0.05: test points of the validation front (all three) below a gap of 0.05 and an error of
    # 0.25: A (err 0.19, gap 0.03) and B (0.24, 0.02); staircase by error: A's slab (0.24 - 0.19) x
    # (0.05 - 0.03) = 0.0010, B's (0.25 - 0.24) x (0.05 - 0.02) = 0.0003.
    assert s["hv@0.05"] == pytest.approx(0.0010 + 0.0003)


def test_constant_models_never_count():
    runs = _runs([(0.76, 0.0, 0.76, 0.0)], rate=0.0)  # selects nobody: gap 0 says nothing
    s = family_scores(runs, SPLIT, "demographic_parity")
    assert np.isnan(s["acc@0.01"]) and s["usable"] == 0 and s["hv@0.05"] == 0.0


def test_summary_compares_with_best_single_anchor_and_the_union():
    rows = []
    for seed, (fk, a, b) in enumerate([(0.80, 0.79, 0.81), (0.82, 0.78, 0.80), (0.84, 0.70, 0.79)]):
        for fam, acc, hv in (("fairkit", fk, 0.004), ("a", a, 0.001), ("b", b, 0.002), ("anchors", max(a, b), 0.003)):
            rows.append({"dataset": "d", "seed": seed, "definition": "demographic_parity", "setting": "aware",
                         "family": fam, "acc@0.01": acc, "acc@0.02": acc, "acc@0.05": acc,
                         "hv@0.05": hv, "hv": hv * 10})
    out = summarise(pd.DataFrame(rows)).iloc[0]
    # Medians over seeds: fairkit 0.82, a 0.78, b 0.80: the best single anchor is b.
    assert out["fairkit acc@0.01"] == pytest.approx(0.82)
    assert out["best anchor acc@0.01"] == pytest.approx(0.80) and out["who acc@0.01"] == "b"
    assert out["diff acc@0.01"] == pytest.approx(0.02)
    assert out["hv@0.05 ratio"] == pytest.approx(0.004 / 0.003)
    assert "chance_val" not in out  # rescored runs carry no noise floor: none is invented
    # fairkit's default sweep beside its bracketed one: its own columns, never an anchor.
    rows += [{**r, "family": "fairkit-default", "acc@0.01": r["acc@0.01"] - 0.1, "hv@0.05": 0.001}
             for r in rows if r["family"] == "fairkit"]
    for r in rows:
        r.update(chance_val=0.03 if r["seed"] else 0.01, chance_val_q95=0.08, chance_test=0.02)
    out = summarise(pd.DataFrame(rows)).iloc[0]
    assert out["who acc@0.01"] == "b" and out["fairkit acc@0.01"] == pytest.approx(0.82)
    assert out["default acc@0.01"] == pytest.approx(0.72)
    assert out["default hv@0.05 ratio"] == pytest.approx(0.001 / 0.003)
    assert out["chance_val"] == pytest.approx(0.03) and out["chance_val_q95"] == pytest.approx(0.08)


def test_noise_floors_measure_the_shared_base_by_chance():
    from lightgbm import LGBMClassifier

    from benchmarks.anchors import noise_floors
    from benchmarks.common import load_split

    split = load_split("german")
    base = LGBMClassifier(n_estimators=20, n_jobs=1, verbose=-1, random_state=0).fit(split.train.X, split.train.y)
    floors = noise_floors(split, base)
    assert set(floors) == {"demographic_parity", "equalized_odds"}
    for f in floors.values():
        assert 0 < f["chance_val"] <= f["chance_val_q95"] < 1 and 0 < f["chance_test"] < 1
    # German's 200 validation rows: equalized odds (two rates, positives and negatives split)
    # is noisier by chance than demographic parity.
    assert floors["equalized_odds"]["chance_val"] > floors["demographic_parity"]["chance_val"]


@pytest.mark.parametrize("name", ["german", "compas"])
def test_heldout_selection_halves_validation_by_group_and_outcome(tmp_path, name):
    """--selection heldout: the anchors fit on one half of the validation rows, every method is
    chosen on the other; the halves are disjoint, cover the part and keep each group x outcome
    cell's share, and the saved arrays carry the fit half under its own name."""
    from benchmarks.anchors import heldout_split, save_arrays
    from benchmarks.common import load_split

    split = load_split(name)
    chosen, fit = heldout_split(split, seed=3)
    v = split.validation
    assert chosen.train is split.train and chosen.test is split.test
    assert chosen.data_hash != split.data_hash  # nothing cached for the whole part is reused
    assert len(chosen.validation) + len(fit) == len(v)
    assert set(chosen.validation.index).isdisjoint(fit.index)
    assert set(chosen.validation.index) | set(fit.index) == set(v.index)
    for part in (chosen.validation, fit):
        rows = pd.Index(v.index).get_indexer(part.index)  # each row where it was in the part
        np.testing.assert_array_equal(part.X, v.X[rows])
        np.testing.assert_array_equal(part.y, v.y[rows])
        np.testing.assert_array_equal(part.groups.to_numpy(), v.groups.to_numpy()[rows])
        # Halved by the groups the methods fit with (COMPAS: its small groups pooled).
        cells = pd.crosstab(split.model_groups(part).to_numpy(), part.y)
        whole = pd.crosstab(split.model_groups(v).to_numpy(), v.y)
        assert (abs(cells * 2 - whole) <= 1).all().all()
    save_arrays(chosen, tmp_path / "a.npz", seed=0, fit_part=fit)
    with np.load(tmp_path / "a.npz", allow_pickle=False) as z:
        assert len(z["y_fit"]) == len(fit) and len(z["y_val"]) == len(chosen.validation)
        assert z["q_fit"].shape[0] == len(fit) and len(z["s_fit"]) == len(fit)


def test_fairkit_thresholds_fit_where_the_anchors_thresholds_fit():
    """--fairkit-thresholds anchors: fairkit's post-processors get the rows the anchors' do (the
    reserved half with --selection heldout, else the validation part); train: none."""
    from benchmarks.anchors import fairkit_split, heldout_split
    from benchmarks.common import load_split

    split = load_split("german")
    chosen, fit = heldout_split(split, seed=1)
    assert chosen.thresholds is fit and fairkit_split(chosen, "anchors") is chosen
    issue = fairkit_split(split, "anchors")
    assert issue.thresholds is split.validation and issue.validation is split.validation
    for s in (split, chosen):
        assert fairkit_split(s, "train").thresholds is None
    with pytest.raises(ValueError, match="anchors"):
        fairkit_split(split, "validation")


def test_score_runs_pairs_fairkit_pick_with_each_anchor_pick_on_the_same_test_rows():
    from benchmarks.anchors import score_runs

    runs = _runs([(0.80, 0.04, 0.75, 0.03),   # fairkit's pick within 0.05
                  (0.82, 0.03, 0.50, 0.03),   # the anchor's pick within 0.05
                  (0.90, 0.30, 0.75, 0.30)])  # the anchor's, never within a tolerance
    runs = runs.assign(family=["fairkit", "a", "a"], aware=[True, True, False], row=[0, 1, 2],
                       val_equalized_odds_difference=0.5)
    correct = np.array([[1, 1, 1, 0], [1, 0, 0, 1], [1, 1, 1, 0]], dtype=np.int8)
    runs, split = _measured_on_test(runs, correct, ["a", "a", "b", "b"])
    s = score_runs(runs, split, "d", 0, correct=correct).set_index(["definition", "setting", "family"])
    a = s.loc[("demographic_parity", "aware", "a")]
    assert a["pick@0.05"] == 1 and s.loc[("demographic_parity", "aware", "fairkit"), "pick@0.05"] == 0
    # Per-row differences (0, 1, 1, -1): mean 0.25, their standard deviation over n - 1 rows
    # sqrt((3 - 4 * 0.25 ** 2) / 3), over sqrt(4) rows for the mean's.
    assert a["paired@0.05"] == pytest.approx(0.25)
    assert a["paired_se@0.05"] == pytest.approx(np.sqrt((3 - 4 * 0.0625) / 3) / 2)
    assert np.isnan(a["paired@0.01"])  # neither family picks within 0.01: no comparison
    # Test-resample areas for the two sides of the HV@0.05 ratio only: fairkit and the union.
    from benchmarks.anchors import HV_BOOT, HV_BOOT_KEY

    boots = s[HV_BOOT_KEY].xs(("demographic_parity", "aware"), level=("definition", "setting"))
    assert boots["fairkit"].shape == boots["anchors"].shape == (HV_BOOT,)
    assert not isinstance(boots["a"], np.ndarray)
    # Without the test decisions (a rescore from a saved runs table) nothing is paired.
    assert "paired@0.05" not in score_runs(runs, split, "d", 0).columns


def _measured_on_test(runs, correct, groups):
    """``runs`` with their test columns measured by the kernel from the decisions ``correct``
    gives (as the benchmark measures every run), and a split whose test part has ``groups``."""
    from fairkit.metrics import summary_metrics

    y = np.array([1, 0, 0, 0] * (len(groups) // 4))
    split = SimpleNamespace(test=SimpleNamespace(y=y, sensitive=pd.Series(groups, name="g")))
    decisions = np.where(correct == 1, y, 1 - y).astype(float)
    for i, m in enumerate(summary_metrics(y, decisions, split.test.sensitive)):
        for k in ("accuracy", DP, "equalized_odds_difference"):
            runs.loc[i, f"test_{k}"] = m[k]
    return runs, split


def test_hv_replicates_measure_the_validation_front_again_on_each_test_resample():
    from fairkit.frontier import hypervolume
    from fairkit.metrics import summary_metrics
    from fairkit.stats import bootstrap_weights

    from benchmarks.anchors import _front, hv_replicates

    rng = np.random.default_rng(0)
    n = 200
    correct = (rng.random((4, n)) < [[0.9], [0.85], [0.8], [0.6]]).astype(np.int8)
    groups = np.where(np.arange(n) % 3 == 0, "a", "b")
    runs = _runs([(0.90, 0.04, 0.0, 0.0), (0.85, 0.02, 0.0, 0.0), (0.80, 0.01, 0.0, 0.0), (0.60, 0.30, 0.0, 0.0)])
    runs, split = _measured_on_test(runs.assign(row=np.arange(4)), correct, groups)
    front = _front(runs, "demographic_parity")
    ones = hv_replicates(front, split, np.where(correct == 1, split.test.y, 1 - split.test.y), "demographic_parity",
                         np.ones((1, n)))
    assert ones[0] == pytest.approx(family_scores(runs, split, "demographic_parity")["hv@0.05"], abs=1e-12)
    assert ones[0] > 0 and len(front) == 3  # the fourth run is dominated on validation
    R = bootstrap_weights(n, 3, random_state=5)
    boot = hv_replicates(front, split, np.where(correct == 1, split.test.y, 1 - split.test.y),
                         "demographic_parity", R)
    y = split.test.y
    for b in range(3):  # each replicate by hand: the kernel with the resample as weights
        d = np.where(correct[front["row"]] == 1, y, 1 - y).astype(float)
        m = summary_metrics(y, d, split.test.sensitive, sample_weight=R[b])
        p = R[b] @ y / R[b].sum()
        hv = hypervolume([1 - r["accuracy"] for r in m], [r[DP] for r in m], ref=(min(p, 1 - p), 0.05))
        assert boot[b] == pytest.approx(hv, abs=1e-12)
    # The test decisions must be the ones the table was measured on.
    wrong = runs.copy()
    wrong.loc[0, "test_accuracy"] += 0.01
    with pytest.raises(RuntimeError, match="kernel reported"):
        hv_replicates(_front(wrong, "demographic_parity"), split, np.where(correct == 1, y, 1 - y),
                      "demographic_parity", R)
    assert np.array_equal(hv_replicates(front.iloc[:0], split, correct, "demographic_parity", R), np.zeros(3))


def test_ratio_interval_takes_medians_over_seeds_then_order_statistics():
    from benchmarks.anchors import ratio_interval

    ours = np.array([[1.0, 2.0, 3.0, 0.0, 4.0], [3.0, 4.0, 5.0, 0.0, 2.0], [2.0, 3.0, 4.0, 0.0, 6.0]])
    theirs = np.array([[1.0, 1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0, 0.0]])
    # Medians over the three seeds: ours (2, 3, 4, 0, 4), theirs (1, 1, 1, 0, 0). Ratios 2, 3, 4,
    # no comparison (left out), infinite: sorted (2, 3, 4, inf).
    lo, hi, share = ratio_interval(ours, theirs, ci=0.5, target=3.0)
    assert (lo, hi) == (2.0, np.inf)  # the 25th percentile rounds down to 2, the 75th up to inf
    assert share == pytest.approx(3 / 4)
    assert all(np.isnan(ratio_interval(np.zeros((2, 3)), np.zeros((2, 3)))))


def test_summary_pairs_over_seeds_with_the_best_single_anchor():
    from scipy.stats import norm

    rows = []
    for seed, (d, se) in enumerate([(-0.002, 0.003), (0.001, 0.004)]):
        for fam, acc in (("fairkit", 0.80), ("b", 0.81)):
            rows.append({"dataset": "d", "seed": seed, "definition": "demographic_parity", "setting": "aware",
                         "family": fam, "acc@0.01": acc, "acc@0.02": acc, "acc@0.05": acc, "hv@0.05": 1, "hv": 1,
                         **({} if fam == "fairkit" else {f"paired@{t:g}": d for t in (0.01, 0.02, 0.05)}),
                         **({} if fam == "fairkit" else {f"paired_se@{t:g}": se for t in (0.01, 0.02, 0.05)})})
    out = summarise(pd.DataFrame(rows)).iloc[0]
    assert out["who acc@0.05"] == "b"
    # Seeds that share one test part: the largest variance any correlation gives (the standard
    # errors averaged, as if the two differences moved together).
    assert out["paired acc@0.05"] == pytest.approx(-0.0005)
    assert out["paired half acc@0.05"] == pytest.approx(norm.ppf(0.975) * (0.003 + 0.004) / 2)
    assert out["paired seeds acc@0.05"] == 2
    # German is re-split per seed: independent test parts, whose variances add.
    out = summarise(pd.DataFrame(rows).assign(dataset="german")).iloc[0]
    assert out["paired half acc@0.05"] == pytest.approx(norm.ppf(0.975) * np.sqrt(0.003 ** 2 + 0.004 ** 2) / 2)


def test_correct_rows_refuses_decisions_the_kernel_did_not_count():
    from benchmarks.anchors import correct_rows

    split = SimpleNamespace(test=SimpleNamespace(y=np.array([1, 0, 1, 0])))
    np.testing.assert_array_equal(correct_rows(split, np.array([0.9, 0.2, 0.4, 0.5]), 0.5), [1, 1, 0, 0])
    with pytest.raises(RuntimeError, match="kernel"):
        correct_rows(split, np.array([0.9, 0.2, 0.4, 0.5]), 0.75)


def _summary_row(definition, fk, best, paired, half, chance, hv):
    row = {"dataset": "d", "definition": definition, "setting": "aware", "chance_val": chance,
           "hv@0.05 ratio": hv, "default hv@0.05 ratio": hv}
    for t, a, b, d, h in zip((0.01, 0.02, 0.05), fk, best, paired, half):
        row.update({f"fairkit acc@{t:g}": a, f"default acc@{t:g}": a, f"best anchor acc@{t:g}": b,
                    f"who acc@{t:g}": "b" if np.isfinite(b) else "-", f"paired acc@{t:g}": d,
                    f"paired half acc@{t:g}": h, f"fairkit testgap@{t:g}": 0.01, f"anchor testgap@{t:g}": 0.02})
    return row


def test_the_tally_counts_cells_chance_and_paired_intervals_as_the_readme_reads_them():
    from benchmarks.anchors import cells_table, tally

    nan = np.nan
    summary = pd.DataFrame([
        # chance gap 0.015: t=0.01 below it. Cells: 0.01 met (below chance); 0.02 missed, within
        # the interval; 0.05 missed and significantly worse.
        _summary_row("demographic_parity", (0.80, 0.80, 0.80), (0.79, 0.81, 0.82), (0.01, -0.01, -0.02),
                     (0.02, 0.02, 0.01), 0.015, 1.10),
        # No anchor reached 0.01 (no cell); 0.02 met and significantly better; 0.05 met without a pair.
        _summary_row("equalized_odds", (0.70, 0.75, 0.78), (nan, 0.74, 0.78), (nan, 0.01, nan), (nan, 0.005, nan),
                     0.005, 1.0),
    ])
    c = tally(summary)
    assert (c["cells"], c["met"], c["above_chance"], c["met_above_chance"]) == (5, 3, 4, 2)
    assert (c["worse"], c["better"], c["misses_above_chance"], c["real_misses_above_chance"]) == (1, 1, 2, 1)
    assert (c["hv_met"], c["hv_settings"]) == (1, 2)
    text = cells_table(summary)
    first = text.splitlines()[2]
    assert "| 0.015 | 0.800 [0.800] (0.010) vs 0.790 b (0.020); paired +0.0100 ± 0.0200 ~ |" in first
    assert "paired -0.0200 ± 0.0100 **worse** | 1.10x [1.10x] |" in first
    assert "0.750 [0.750] (0.010) vs 0.740 b (0.020); paired +0.0100 ± 0.0050 **better**" in text.splitlines()[3]
    assert text.splitlines()[-1] == ("Cells met: 3 of 5; at or above the chance gap 2 of 4. Paired: significantly "
                                     "worse in 1, better in 1; of the 2 misses at or above the chance gap, 1 "
                                     "significantly worse. HV@0.05 >= 1.05x: 1 of 2.")


def test_summary_gives_the_hv_ratio_an_interval_over_test_resamples_and_the_tally_reads_it():
    from benchmarks.anchors import HV_BOOT_KEY, cells_table, ratio_interval, tally

    rng = np.random.default_rng(1)
    rows, boots = [], {}
    for setting, scale in (("aware", 1.0), ("blind", 0.5)):
        for seed in range(3):
            for fam in ("fairkit", "a", "anchors"):
                boot = rng.uniform(0.002, 0.004, 50) * (scale if fam == "fairkit" else 1.0)
                boots[setting, seed, fam] = boot
                rows.append({"dataset": "d", "seed": seed, "definition": "demographic_parity", "setting": setting,
                             "family": fam, "acc@0.01": 0.8, "acc@0.02": 0.8, "acc@0.05": 0.8,
                             "hv@0.05": float(np.median(boot)), "hv": 1.0,
                             **({HV_BOOT_KEY: boot} if fam != "a" else {})})
    summary = summarise(pd.DataFrame(rows))
    for _, r in summary.iterrows():
        ours = np.stack([boots[r["setting"], s, "fairkit"] for s in range(3)])
        theirs = np.stack([boots[r["setting"], s, "anchors"] for s in range(3)])
        lo, hi, share = ratio_interval(ours, theirs, target=1.05)
        assert (r["hv@0.05 ratio low"], r["hv@0.05 ratio high"], r["hv@0.05 share at target"]) == (lo, hi, share)
    aware, blind = summary.set_index("setting").loc["aware"], summary.set_index("setting").loc["blind"]
    # Two equal draws: the target lies inside the interval; half the area: beyond it.
    assert aware["hv@0.05 ratio low"] < 1.05 <= aware["hv@0.05 ratio high"]
    assert blind["hv@0.05 ratio high"] < 1.05
    c = tally(summary)
    short = int((summary["hv@0.05 ratio"] < 1.05).sum())
    assert c["hv_short_within_interval"] + c["hv_short_beyond_interval"] == short
    assert c["hv_short_beyond_interval"] == 1
    text = cells_table(summary)
    assert f"({blind['hv@0.05 ratio low']:.2f}-{blind['hv@0.05 ratio high']:.2f}) |" in text
    assert text.endswith(f"within and {c['hv_short_beyond_interval']} beyond the 95 % interval of the test rows' draw.")
