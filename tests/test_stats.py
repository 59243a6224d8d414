"""The evaluation kernel, checked by hand on tiny cases and against direct per-group loops."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairkit import stats


def test_decide_selects_scores_at_the_threshold():
    assert stats.decide([0.49, 0.5, 0.51]).tolist() == [False, True, True]
    assert stats.decide([0.3, 0.4], threshold=0.4).tolist() == [False, True]


def test_binary_labels_needs_pos_label_for_other_labels():
    assert stats.binary_labels(np.array([0, 1, 1])).tolist() == [0, 1, 1]
    assert stats.binary_labels(np.array([True, False])).tolist() == [1, 0]
    assert stats.binary_labels(np.array(["no", "yes", "yes"]), pos_label="yes").tolist() == [0, 1, 1]
    with pytest.raises(ValueError, match=r"pos_label=.*favourable"):
        stats.binary_labels(np.array(["no", "yes"]))
    # -1/1 as scikit-learn reads it: 1 is positive (the group calibrator demanded pos_label).
    assert stats.binary_labels(np.array([-1, 1, 1])).tolist() == [0, 1, 1]
    with pytest.raises(ValueError, match=r"pos_label=.*favourable"):
        stats.binary_labels(np.array([1, 2, 2]))
    with pytest.raises(ValueError, match="two labels"):
        stats.binary_labels(np.array([0, 1, 2]), pos_label=1)
    with pytest.raises(ValueError, match="not one of the labels"):
        stats.binary_labels(np.array(["a", "b"]), pos_label="c")


def test_uniform_bins_put_a_score_on_an_edge_in_the_bin_it_starts():
    edges = stats.bin_edges(None, 10)
    assert stats.bin_ids([0.0, 0.1, 0.25, 0.3, 0.7, 0.9, 0.99, 1.0], edges).tolist() == [0, 1, 2, 3, 7, 9, 9, 9]
    with pytest.raises(ValueError, match="n_bins"):
        stats.bin_edges(None, 0)


def _loop_rates(y, p, codes, G, w, t=0.5):
    """Per-group rates by a plain loop, an independent route to the kernel's numbers."""
    out = {r: np.full(G, np.nan) for r in ("selection_rate", "tpr", "fpr", "precision", "accuracy", "base_rate", "ece")}
    d = p >= t
    for g in range(G):
        m = codes == g
        if not m.any():
            continue
        wg, yg, dg, pg = w[m], y[m], d[m], p[m]
        out["selection_rate"][g] = np.sum(wg * dg) / wg.sum()
        out["accuracy"][g] = np.sum(wg * (dg == yg)) / wg.sum()
        out["base_rate"][g] = np.sum(wg * yg) / wg.sum()
        if (yg == 1).any():
            out["tpr"][g] = np.sum(wg * dg * yg) / np.sum(wg * yg)
        if (yg == 0).any():
            out["fpr"][g] = np.sum(wg * dg * (1 - yg)) / np.sum(wg * (1 - yg))
        if dg.any():
            out["precision"][g] = np.sum(wg * dg * yg) / np.sum(wg * dg)
        b = np.minimum((pg * 10 + 1e-12).astype(int), 9)  # bins of width 0.1 (scores below avoid edges)
        out["ece"][g] = sum(abs(np.sum(wg[b == k] * (yg[b == k] - pg[b == k]))) for k in range(10)) / wg.sum()
    return out


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 3), st.booleans())
def test_group_sums_match_a_loop_for_every_model_and_resample(seed, K, weighted):
    rng = np.random.default_rng(seed)
    n, G = 60, 4
    y = rng.integers(0, 2, n)
    # Scores off the bin edges, so the loop's floor-based bins agree with the kernel's.
    P = (rng.integers(0, 1000, (K, n)) + 0.5) / 1000
    codes = rng.integers(-1, G, n)
    w = rng.random(n) + 0.1 if weighted else np.ones(n)
    R = stats.bootstrap_weights(n, 3, seed)
    gs = stats.group_sums(y, P, codes, G, sample_weight=w if weighted else None, resample=R)
    rates = stats.group_rates(gs)
    for b in range(3):
        for k in range(K):
            expect = _loop_rates(y, P[k], codes, G, w * R[b])
            for name, values in expect.items():
                np.testing.assert_allclose(rates[name][b, k], values, rtol=1e-9, atol=1e-12, err_msg=name)


def test_gap_compares_only_included_groups_with_a_value():
    values = np.array([0.1, np.nan, 0.7, 0.4])
    assert stats.gap(values, np.array([True, True, True, True])) == pytest.approx(0.6)
    assert stats.gap(values, np.array([True, True, False, True])) == pytest.approx(0.3)
    assert np.isnan(stats.gap(values, np.array([False, True, False, False])))
    assert stats.ratio(np.array([0.2, 0.4]), np.array([True, True])) == pytest.approx(0.5)
    assert stats.ratio(np.array([0.0, 0.0]), np.array([True, True])) == 1.0


def test_gap_groups_small_group_rule():
    assert stats.gap_groups(np.array([50, 10, 40]), 30).tolist() == [True, False, True]
    # Fewer than two large groups: compare every non-empty group rather than none.
    assert stats.gap_groups(np.array([50, 10, 0]), 30).tolist() == [True, True, False]


def test_compared_groups_counts_rows_positives_and_negatives():
    """One count for every reader (reports, bootstrap, boosted trees): rows in no group (code -1)
    count nowhere; a TPR (FPR) on fewer than MIN_EVENTS positives (negatives) is left out;
    a small-group size of 0 compares every group and rate."""
    # Group 0: 40 rows, 20 positives; group 1: 40 rows, 4 positives; group 2: 10 rows (small);
    # 30 rows in no group (code -1), all positive: no count includes them.
    codes = np.r_[np.zeros(40), np.ones(40), np.full(10, 2), np.full(30, -1)].astype(int)
    y = np.r_[np.ones(20), np.zeros(20), np.ones(4), np.zeros(36), np.ones(5), np.zeros(5), np.ones(30)]
    out = stats.compared_groups(codes, 3, y, 30)
    assert out["selection_rate"].tolist() == [True, True, False]
    assert out["tpr"].tolist() == [True, True, False]  # fewer than two with enough: every included
    assert out["fpr"].tolist() == [True, True, False]
    y[40:45] = 1  # group 1 now has 5 positives: the TPR is compared...
    assert stats.compared_groups(codes, 3, y, 30)["tpr"].tolist() == [True, True, False]
    y[40] = 0  # ...and with 4 of them it is not, while group 2 is large enough to keep a pair
    out = stats.compared_groups(codes, 3, y, 10)
    assert out["selection_rate"].tolist() == [True, True, True]
    assert out["tpr"].tolist() == [True, False, True]
    assert stats.compared_groups(codes, 3, y, 0)["tpr"].tolist() == [True, True, True]


def test_left_out_names_each_gaps_missing_groups():
    rates = {"selection_rate": np.array([0.5, 0.2, 0.3]), "tpr": np.array([0.5, np.nan, 0.3]),
             "fpr": np.array([0.1, 0.2, 0.3]), "ece": np.array([0.1, 0.1, 0.1])}
    out = stats.left_out(np.array(["a", "b", "c"]), rates, np.array([True, True, False]))
    assert out["demographic_parity_difference"] == [("c", "too few rows")]
    assert out["equal_opportunity_difference"] == [("b", "no TPR: no positives"), ("c", "too few rows")]


def test_wilson_interval_by_hand_and_too_few():
    lo, hi = stats.wilson_interval(np.array([8.0]), np.array([10.0]), rows=np.array([10]))
    # Wilson 95 % for 8 of 10: 0.4902 .. 0.9433 (standard tables).
    assert lo[0] == pytest.approx(0.4902, abs=1e-4)
    assert hi[0] == pytest.approx(0.9433, abs=1e-4)
    lo, hi = stats.wilson_interval(np.array([0.0]), np.array([2.0]), rows=np.array([2]))
    assert np.isnan(lo[0]) and np.isnan(hi[0])
    # Weights shrink the effective sample size: one heavy row among light ones widens the interval.
    lo_w, hi_w = stats.wilson_interval(np.array([8.0]), np.array([10.0]), total_sq=np.array([30.0]), rows=np.array([10]))
    lo_u, hi_u = stats.wilson_interval(np.array([8.0]), np.array([10.0]), total_sq=np.array([10.0]), rows=np.array([10]))
    np.testing.assert_allclose([lo_u[0], hi_u[0]], [0.4902, 0.9433], atol=1e-4)  # unit weights: no change
    assert hi_w[0] - lo_w[0] > hi_u[0] - lo_u[0]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.booleans())
def test_squared_weight_sums_match_a_loop(seed, resampled):
    rng = np.random.default_rng(seed)
    n, G = 50, 3
    y, codes = rng.integers(0, 2, n), rng.integers(-1, G, n)
    p = (rng.integers(0, 1000, n) + 0.5) / 1000
    w = rng.random(n) * 4 + 0.1
    R = stats.bootstrap_weights(n, 2, seed) if resampled else np.ones((1, n))
    gs = stats.group_sums(y, p, codes, G, sample_weight=w, resample=R if resampled else None)
    d = p >= 0.5
    rows = {"n2": np.ones(n, bool), "pos2": y == 1, "sel2": d, "tp2": d & (y == 1), "fp2": d & (y == 0),
            "correct2": d == (y == 1)}
    for b in range(len(R)):
        for name, member in rows.items():
            expect = [np.sum((R[b] * w * w)[member & (codes == g)]) for g in range(G)]
            np.testing.assert_allclose(gs.stat(name)[b, 0], expect, rtol=1e-12, err_msg=name)


def test_effective_rows_of_weights_that_go_with_the_outcome():
    # One event of weight 5 among nine non-events of weight 1: the proportion's variance is
    # sum w^2 (x - p)^2 / (sum w)^2, computed here from the rows, not from the kernel's sums.
    x, w = np.array([1.0] + [0.0] * 9), np.array([5.0] + [1.0] * 9)
    p = np.sum(w * x) / w.sum()
    variance = np.sum(w**2 * (x - p) ** 2) / w.sum() ** 2
    kish = w.sum() ** 2 / np.sum(w**2)
    args = (np.array([np.sum(w * x)]), np.array([w.sum()]), np.array([np.sum(w**2)]))
    n = stats.effective_rows(*args, successes_sq=np.array([np.sum(w**2 * x)]))
    assert n[0] == pytest.approx(p * (1 - p) / variance) and n[0] < kish
    assert stats.effective_rows(*args)[0] == pytest.approx(kish)  # without the numerator's sums
    # Three non-events of weight 1 beside the heavy event (p = 0.625): the linearised size (3.2)
    # exceeds Kish's (64 / 28), which is kept, the smaller.
    x, w = np.array([1.0, 0.0, 0.0, 0.0]), np.array([5.0, 1.0, 1.0, 1.0])
    n = stats.effective_rows(np.array([5.0]), np.array([8.0]), np.array([28.0]), successes_sq=np.array([25.0]))
    p = 5.0 / 8.0
    assert p * (1 - p) / (np.sum(w**2 * (x - p) ** 2) / 64.0) == pytest.approx(3.2)
    assert n[0] == pytest.approx(64.0 / 28.0)
    # Unit weights: the row count, exactly; a proportion of 0 or 1 keeps Kish's.
    assert stats.effective_rows(np.array([3.0]), np.array([10.0]), np.array([10.0]), successes_sq=np.array([3.0]))[0] == 10.0
    assert stats.effective_rows(np.array([0.0]), np.array([14.0]), np.array([34.0]), successes_sq=np.array([0.0]))[0] \
        == pytest.approx(14.0**2 / 34.0)


def test_rate_and_gap_intervals_widen_when_weights_go_with_the_decision():
    # Weights five times as likely on the selected rows (the coverage audit's design): the rates'
    # and the gap's intervals use the linearised size, which Kish's alone overstated.
    rng = np.random.default_rng(3)
    n = 4000
    codes = np.repeat([0, 1], n // 2)
    d = rng.random(n) < np.where(codes == 0, 0.05, 0.08)
    w = np.where(rng.random(n) < np.where(d, 0.8, 0.2), 5.0, 1.0)
    y = rng.integers(0, 2, n)
    gs = stats.group_sums(y, np.where(d, 0.75, 0.25), codes, 2, sample_weight=w)
    x, t, t2 = gs.stat("sel")[0], gs.stat("n")[0], gs.stat("n2")[0]
    lo, hi = stats.rate_intervals(gs)["selection_rate"]
    kish_lo, kish_hi = stats.wilson_interval(x, t, t2)
    assert np.all(hi - lo > 1.1 * (kish_hi - kish_lo))
    gaps = stats.gap_intervals(gs, stats.group_rates(gs), stats.calibration_noise(gs, gs), np.array([True, True]))
    kish_gap = stats.difference_gap_interval(x, t, t2, np.array([True, True]))
    low, high = gaps["demographic_parity_difference"]
    assert high[0] - low[0] > 1.1 * (kish_gap[1][0] - kish_gap[0][0])


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.0, 1.0))
def test_recentred_interval_contains_its_estimate(seed, estimate):
    rng = np.random.default_rng(seed)
    reps = np.clip(rng.normal(rng.random(), rng.random() * 0.3, size=(50, 3)), 0, 1)
    est = np.full(3, estimate)
    lo, hi = stats.recentred_interval(est, reps)
    assert np.all(lo <= est + 1e-12) and np.all(est <= hi + 1e-12)
    # Its width is the bootstrap's percentile width (unless clipped at 0 or 1).
    q = np.quantile(reps, [0.025, 0.975], axis=0)
    inside = (lo > 0) & (hi < 1)
    np.testing.assert_allclose((hi - lo)[inside], (q[1] - q[0])[inside], atol=1e-12)


def test_bootstrap_weights_resample_every_row_count():
    R = stats.bootstrap_weights(17, 5, 0)
    assert R.shape == (5, 17)
    assert (R.sum(1) == 17).all()
    assert not np.array_equal(R[0], R[1])


def test_paired_difference_by_hand_and_mcnemar():
    # 1,000 rows: model a right and b wrong on 30, the reverse on 10, alike elsewhere.
    a = np.zeros(1000)
    b = np.zeros(1000)
    a[:30] = 1
    b[30:40] = 1
    a[40:700] = b[40:700] = 1
    diff, se, half = stats.paired_difference(a, b)
    assert diff == pytest.approx(0.02)
    # Variance of the per-row differences (+1 on 30 rows, -1 on 10) over n - 1, then of their mean.
    assert se == pytest.approx(np.sqrt((40 - 20 ** 2 / 1000) / 999 / 1000))
    assert half == pytest.approx(1.959964 * se, rel=1e-6)
    # McNemar's statistic (30 - 10) / sqrt(30 + 10) is the same comparison, to a few per cent.
    assert diff / se == pytest.approx(20 / np.sqrt(40), rel=0.03)
    # Models that decide alike differ by exactly nothing; too few rows give no figure.
    assert stats.paired_difference(a, a) == (0.0, 0.0, 0.0)
    assert all(np.isnan(stats.paired_difference([1.0], [0.0])))
    with pytest.raises(ValueError, match="one value per row"):
        stats.paired_difference(np.ones((2, 3)), np.ones((2, 3)))


def test_paired_difference_interval_covers_a_null_difference_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(2000):
        truth = rng.random(500) < 0.8
        a = truth ^ (rng.random(500) < 0.05)  # two models of equal accuracy, erring independently
        b = truth ^ (rng.random(500) < 0.05)
        diff, _, half = stats.paired_difference(a, b)
        covered += abs(diff) <= half
    assert 0.93 <= covered / 2000 <= 0.97



def test_paired_proportion_interval_is_tangos_published_example():
    """Fagerland, Lydersen & Laake (2014, "Statistical Analysis of Contingency Tables", ch. 8):
    Cavo et al. (2012), 161 pairs, 6 discordant one way and 16 the other: Tango's asymptotic score
    interval of the difference is -0.0621 (-0.1240 to -0.0054)."""
    a = np.r_[np.ones(59 + 6), np.zeros(16 + 80)].astype(bool)
    b = np.r_[np.ones(59), np.zeros(6), np.ones(16), np.zeros(80)].astype(bool)
    diff, low, high = stats.paired_proportion_interval(a, b)
    assert (round(diff, 4), round(low, 4), round(high, 4)) == (-0.0621, -0.1240, -0.0054)
    # Swapping the models mirrors the interval; the difference is the two proportions'.
    assert stats.paired_proportion_interval(b, a) == pytest.approx((-diff, -high, -low))
    assert diff == pytest.approx(a.mean() - b.mean())


def test_paired_proportion_interval_at_the_edges():
    # No row differs: the difference is 0 on these rows, and the interval still has a width.
    same = np.r_[np.ones(600), np.zeros(400)].astype(bool)
    diff, low, high = stats.paired_proportion_interval(same, same)
    assert diff == 0.0 and low == pytest.approx(-high) and 0.003 < high < 0.005
    # Every row differs one way: the interval reaches the bound and no further.
    diff, low, high = stats.paired_proportion_interval(np.ones(5, bool), np.zeros(5, bool))
    assert (diff, high) == (1.0, 1.0) and 0 < low < 1
    # One row: wide, within [-1, 1].
    _, low, high = stats.paired_proportion_interval(np.ones(1, bool), np.ones(1, bool))
    assert -1.0 <= low < -0.5 and 0.5 < high <= 1.0
    assert all(np.isnan(stats.paired_proportion_interval([], [])))
    with pytest.raises(ValueError, match="same rows"):
        stats.paired_proportion_interval(np.ones(3), np.ones(4))
    # Only 0/1: a NaN, a 2, a probability or text would have counted as a correct decision.
    for bad in ([np.nan, 1.0], [2, 0], [0.5, 1.0], ["0", "1"]):
        with pytest.raises(ValueError, match="only 0/1"):
            stats.paired_proportion_interval(np.array(bad), np.array([1, 0]))
    with pytest.raises(ValueError, match="ci must be"):
        stats.paired_proportion_interval([1, 0], [0, 1], ci=95)
    assert stats.paired_proportion_interval(np.array([1, 0]), np.array([0.0, 1.0]))[0] == 0.0


def test_paired_proportion_interval_holds_its_level_when_few_rows_differ():
    """Coverage audit, finding 9: with about one row decided differently on 3,000 (most of them
    in one model's favour) the normal interval of the mean paired difference held the true
    difference in about 63 % of samples; the score interval holds at least 95 % here."""
    rng = np.random.default_rng(1)
    n, reps = 3000, 400
    pb, pc = 0.8 / n, 0.2 / n  # about one discordant row expected, 4:1 in a's favour
    truth = pb - pc
    cells = rng.multinomial(n, [pb, pc, 1 - pb - pc], size=reps)
    score = normal = 0
    for only_a, only_b, _ in cells:
        a = np.zeros(n, bool)
        b = np.zeros(n, bool)
        a[:only_a] = True
        b[only_a:only_a + only_b] = True
        _, low, high = stats.paired_proportion_interval(a, b)
        score += low <= truth <= high
        diff, _, half = stats.paired_difference(a, b)
        normal += abs(diff - truth) <= half
    assert score / reps >= 0.95
    assert normal / reps < 0.75  # what the panel's bracket was before

def test_an_attributes_sums_are_its_intersections_sums_added_up():
    """GroupSums.merge: the sums of an attribute's groups read off the intersections' equal a
    pass over the rows by the attribute (every statistic and calibration bin), with resamples."""
    from fairkit.groups import group_hierarchy

    rng = np.random.default_rng(5)
    n = 400
    frame = pd.DataFrame({"a": rng.choice(["x", "y", "z"], n), "b": rng.choice(["u", "v"], n)})
    y = (rng.random(n) < 0.4).astype(float)
    P = rng.random((3, n))
    w = rng.random(n) + 0.5
    R = stats.bootstrap_weights(n, 4, 0)
    *marginals, finest = group_hierarchy(frame)
    kernel = dict(threshold=0.5, sample_weight=w, resample=R)
    inter = stats.group_sums(y, P, finest.encoding.codes, finest.encoding.n_groups, **kernel)
    for level in marginals:
        parent = np.zeros(finest.encoding.n_groups, dtype=np.int64)
        parent[finest.encoding.codes] = level.encoding.codes
        merged = inter.merge(parent, level.encoding.n_groups)
        direct = stats.group_sums(y, P, level.encoding.codes, level.encoding.n_groups, **kernel)
        np.testing.assert_allclose(merged.sums, direct.sums, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(merged.bins, direct.bins, rtol=1e-12, atol=1e-9)


def test_the_auc_interval_is_delongs_and_covers_as_it_says():
    """DeLong's variance against the bootstrap's on one sample, and the 95% interval's coverage
    of the population AUC over repeated samples (binormal scores: AUC = Phi(d / sqrt(2)))."""
    from scipy.stats import norm as normal
    from sklearn.metrics import roc_auc_score

    from fairkit.stats import auc_interval

    rng = np.random.default_rng(0)
    n, d = 1500, 1.0
    y = rng.random(n) < 0.3
    s = rng.normal(size=n) + d * y
    lo, hi = auc_interval(y, s)
    boot = [roc_auc_score(y[i], s[i]) for i in (rng.integers(0, n, n) for _ in range(400))]
    b_lo, b_hi = np.quantile(boot, [0.025, 0.975])
    assert abs((hi - lo) - (b_hi - b_lo)) < 0.15 * (b_hi - b_lo)
    assert lo < roc_auc_score(y, s) < hi
    truth, hits = normal.cdf(d / np.sqrt(2)), 0
    for _ in range(300):
        y = rng.random(400) < 0.3
        lo, hi = auc_interval(y, rng.normal(size=400) + d * y)
        hits += lo <= truth <= hi
    assert 0.91 <= hits / 300 <= 0.985
    assert all(np.isnan(auc_interval([1, 0, 0, 0], [0.9, 0.1, 0.2, 0.3])))  # one positive: no variance


def test_a_report_gives_roc_auc_its_interval():
    from fairkit.metrics import fairness_report
    from fairkit.stats import auc_interval

    rng = np.random.default_rng(1)
    y = (rng.random(600) < 0.4).astype(int)
    p = np.clip(0.4 + 0.3 * (y - 0.4) + rng.normal(scale=0.2, size=600), 0, 1)
    groups = rng.choice(["a", "b"], size=600)
    rep = fairness_report(y, p, groups, n_boot=50)
    assert (rep.overall["roc_auc_low"], rep.overall["roc_auc_high"]) == auc_interval(y, p)
    assert rep.overall["roc_auc_low"] < rep.overall["roc_auc"] < rep.overall["roc_auc_high"]
    assert "roc_auc_low" not in fairness_report(y, p, groups, n_boot=0).overall


def test_more_resamples_than_the_memory_budget_holds_are_refused_with_the_most_that_fit(monkeypatch):
    from fairkit import stats

    from fairkit.data import DEFAULT_LIMITS

    # The default 200 resamples fit a part as large as the whole row limit.
    assert stats.RESAMPLE_BYTES >= 200 * DEFAULT_LIMITS.max_rows
    monkeypatch.setattr(stats, "RESAMPLE_BYTES", 1000 * 50)  # 50 resamples of 1,000 rows
    assert stats.bootstrap_weights(1000, 50).shape == (50, 1000)
    with pytest.raises(stats.TooManyResamples, match="use at most 50 resamples for this many rows"):
        stats.bootstrap_weights(1000, 51)


@pytest.mark.parametrize("counts, expected", [
    # Newcombe (1998), "Interval estimation for the difference between independent proportions",
    # Table II, method 10 (hybrid score): the difference's interval; the gap is its absolute value.
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (0.0, 0.1926)),     # the difference's interval spans 0: the gap's starts there
    ((0, 10, 0, 20), (0.0, 0.2775)),     # no successes in either group: no zero-width interval
    ((10, 10, 0, 20), (0.6791, 1.0)),
])
def test_a_two_group_gap_has_newcombes_hybrid_score_interval(counts, expected):
    x1, n1, x2, n2 = counts
    lo, hi = stats.difference_gap_interval(np.array([[x1, x2]], float), np.array([[n1, n2]], float),
                                           np.array([[n1, n2]], float), np.array([True, True]))
    assert (lo[0], hi[0]) == pytest.approx(expected, abs=1e-4)


def _coverage(gaps, truth, key):
    lo, hi = gaps[f"{key}_low"].to_numpy(), gaps[f"{key}_high"].to_numpy()
    return float(np.mean((lo <= truth + 1e-12) & (truth <= hi + 1e-12)))


@pytest.mark.slow
@pytest.mark.parametrize("sizes", [(200, 60), (150, 100, 60, 40)])
def test_gap_intervals_cover_a_true_gap_of_zero(sizes):
    """Coverage audit (2026-12-06): the recentred bootstrap of a max-min gap covered a true gap
    of 0 in 66-73 % of test sets with two groups and 37-46 % with four, at a nominal 95 %. Every
    group here has the same rates, so every gap's truth is 0."""
    from fairkit.metrics import fairness_report

    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(len(sizes)), sizes)
    rows = []
    for _ in range(300):
        y = rng.binomial(1, 0.4, len(g))
        score = rng.binomial(1, np.where(y == 1, 0.7, 0.2)).astype(float)  # TPR 0.7, FPR 0.2 everywhere
        rows.append(fairness_report(y, score, g, n_boot=50, gap_min_group_size=0, random_state=1).gaps.iloc[0])
    gaps = pd.DataFrame(rows)
    for key in ("demographic_parity_difference", "equal_opportunity_difference", "equalized_odds_difference"):
        assert _coverage(gaps, 0.0, key) >= 0.93, key
    assert _coverage(gaps, 1.0, "disparate_impact_ratio") >= 0.93


def test_a_gap_needs_two_groups_and_a_rate_of_zero_keeps_a_width():
    """Coverage audit findings 4 and 5: a "gap" over the one group with positives read 0.000
    [0.000, 0.000], as perfect parity; a group selecting nobody gave 1 - DI = 1.000 [1.000, 1.000]."""
    from fairkit.metrics import fairness_report

    g = np.repeat(["a", "b"], [60, 40])
    y = np.r_[np.tile([1, 0], 30), np.zeros(40, int)]  # group b has no positives: no TPR
    score = np.r_[np.tile([0.9, 0.1], 30), np.full(40, 0.1)]  # and selects nobody
    row = fairness_report(y, score, g, n_boot=50, gap_min_group_size=0).gaps.iloc[0]
    eo = "equal_opportunity_difference"
    assert np.isnan(row[eo]) and np.isnan(row[f"{eo}_low"]) and np.isnan(row[f"{eo}_high"])
    assert row["disparate_impact_ratio"] == 0.0
    assert row["disparate_impact_ratio_low"] == 0.0 < row["disparate_impact_ratio_high"]
    assert row["demographic_parity_difference"] == 0.5 < row["demographic_parity_difference_high"]


def _shifted(p):
    """A miscalibration: the true rate is the score's logit moved by -0.4."""
    from scipy.special import expit, logit

    return expit(logit(p) - 0.4)


@pytest.mark.slow
@pytest.mark.parametrize("truth_of, sizes", [("calibrated", (200,)), ("shifted", (200,)),
                                             ("calibrated", (150, 100, 60))])
def test_calibration_intervals_cover_the_true_ece(truth_of, sizes):
    """Coverage audit (2026-12-06, finding 3): the recentred bootstrap of the plug-in ECE covered
    a perfectly calibrated model's ECE of 0 in 1-2 % of samples at every size from 50 to 5,000
    rows (and 39-78 % of a true 0.064 at 50-200 rows): the estimate's upward bias was taken as
    the truth's. Scores ~ Beta(2, 2); the population's ECE on the kernel's 10 bins is 0
    (calibrated) or measured on 2 million rows (shifted). The group gaps' truth is 0 when every
    group is calibrated."""
    from fairkit.metrics import fairness_report

    rng = np.random.default_rng(0)
    rate = (lambda p: p) if truth_of == "calibrated" else _shifted
    big = rng.beta(2, 2, 2_000_000)
    truth = float(stats.group_rates(stats.group_sums(rate(big), big, np.zeros(len(big), int), 1))["ece"][0, 0, 0])
    g = np.repeat(np.arange(len(sizes)), sizes)
    rows, overall = [], []
    for _ in range(200):
        p = rng.beta(2, 2, len(g))
        y = (rng.random(len(g)) < rate(p)).astype(int)
        r = fairness_report(y, p, g, n_boot=100, gap_min_group_size=0, random_state=rng)
        rows.append(r.gaps.iloc[0])
        overall.append(r.overall)
    ov = pd.DataFrame(overall)
    assert float(np.mean((ov["ece_low"] <= truth) & (truth <= ov["ece_high"]))) >= 0.92
    if len(sizes) > 1:
        gaps = pd.DataFrame(rows)
        assert _coverage(gaps, truth, "max_group_ece") >= 0.92
        assert _coverage(gaps, 0.0, "calibration_disparity") >= 0.92


def test_calibration_noise_is_the_noise_bounds_of_the_bins():
    """:func:`stats.calibration_noise` on sums worked out by hand: one group of weight 10 in two
    bins, bin gaps d = (0.1, -0.1); a replicate with d* = (0.2, -0.1) moved the first bin by 0.1
    (down = |0.1| + |0| = 0.1, up = -(+1 x 0.1 + -1 x 0) = -0.1), one with d* = (0.1, 0.1)
    moved the second by 0.2 against its sign (down 0.2, up = -(-1 x 0.2) = 0.2)."""
    def sums(y_sums):  # weight, weighted y, weighted p, rows per bin; p sums 2 and 2, weight 5 and 5
        bins = np.array([[5.0, y_sums[0], 2.0, 5.0], [5.0, y_sums[1], 2.0, 5.0]])
        return bins[None, None, None]

    point = stats.GroupSums(sums=np.zeros((1, 1, 1, len(stats.STATS))), bins=sums((3.0, 1.0)))
    boot = stats.GroupSums(sums=np.zeros((2, 1, 1, len(stats.STATS))),
                           bins=np.concatenate([sums((4.0, 1.0)), sums((3.0, 3.0))]))
    down, up = stats.calibration_noise(point, boot)
    np.testing.assert_allclose(down[:, 0, 0], [0.1, 0.2])
    np.testing.assert_allclose(up[:, 0, 0], [-0.1, 0.2])
    # The interval reaches below the estimate (0.2) by the larger down, above by the larger up.
    lo, hi = stats.calibration_interval(np.array([0.2]), down[:, 0], up[:, 0], ci=0.5)
    assert lo[0] < 0.2 < hi[0]


def test_a_calibration_interval_is_undefined_without_rows_and_stays_in_range():
    y, p = np.array([1, 0, 1, 0]), np.array([0.9, 0.1, 0.8, 0.3])
    codes = np.array([0, 0, 0, 0])  # group 1 has no rows
    edges = stats.bin_edges(p, 10, "uniform")
    gs = stats.group_sums(y, p, codes, 2, edges=edges)
    boot = stats.group_sums(y, p, codes, 2, edges=edges, resample=stats.bootstrap_weights(4, 50, 0))
    ece = stats.group_rates(gs)["ece"][0, 0]
    lo, hi = stats.calibration_interval(ece, *(v[:, 0] for v in stats.calibration_noise(gs, boot)))
    assert np.isnan(lo[1]) and np.isnan(hi[1])
    assert 0.0 <= lo[0] <= ece[0] <= hi[0] <= 1.0


@pytest.mark.parametrize("n, n_boot", [(10, 7), (1_000, 200), (600_000, 30)])  # the last in 3 chunks
def test_bootstrap_weights_drawn_in_chunks_are_the_one_draw(n, n_boot):
    """Scale audit finding 3: the int64 draw and its float64 copy were two arrays of the budget's
    size at once; drawn a few resamples at a time they are the same multiplicities."""
    whole = np.random.default_rng(5).multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)
    np.testing.assert_array_equal(stats.bootstrap_weights(n, n_boot, 5), whole)


def test_resamples_are_compact_counts_and_the_kernel_sums_them_chunk_by_chunk_as_one(monkeypatch):
    """Scale audit, session 46 (F5): the (B, n) multiplicities were float64 and multiplied in one
    product, 8 GiB for score's drift check at 2M rows. They are one byte each now (wider only
    when a count needs it), and the kernel widens a few resamples at a time: the sums are those
    of the whole float64 array in one product, bit for bit."""
    rng = np.random.default_rng(3)
    n = 5_000
    y, P = rng.integers(0, 2, n), rng.random((2, n))
    codes = rng.integers(0, 3, n)
    R = stats.bootstrap_weights(n, 40, 0)
    assert R.dtype == np.uint8 and R.nbytes == 40 * n
    whole = stats.group_sums(y, P, codes, 3, resample=R.astype(np.float64))  # one chunk: 64 MiB holds it
    monkeypatch.setattr(stats, "_CHUNK_BYTES", 8 * n * 3)  # 3 resamples a chunk, the last one short
    chunked = stats.group_sums(y, P, codes, 3, resample=R)
    np.testing.assert_array_equal(chunked.sums, whole.sums)
    np.testing.assert_array_equal(chunked.bins, whole.bins)
    # A count over 255 widens the array instead of wrapping around.
    class Heavy:
        def multinomial(self, n, p, size):
            return np.full((size, 3), 300)

    monkeypatch.setattr(stats.np.random, "default_rng", lambda seed: Heavy())
    assert stats.bootstrap_weights(3, 2, 0).tolist() == [[300] * 3] * 2


def test_only_some_sums_are_those_of_a_full_call():
    """A boosting objective reads three rates every round: the kernel sums only what they need
    (a full call per round cost more than LightGBM's own trees), bit for bit the same."""
    rng = np.random.default_rng(2)
    y, P = rng.integers(0, 2, 500), rng.random((2, 500))
    codes, w = rng.integers(-1, 4, 500), rng.choice([0.5, 1.0, 3.0], 500)
    full = stats.group_sums(y, P, codes, 4, sample_weight=w, n_bins=1)
    some = stats.group_sums(y, P, codes, 4, sample_weight=w, n_bins=1, only=("n", "pos", "sel", "tp", "fp", "neg"))
    for name in ("n", "pos", "sel", "tp", "fp", "neg"):
        np.testing.assert_array_equal(some.stat(name), full.stat(name))
    assert np.isnan(some.stat("correct")).all() and np.isnan(some.bins).all()
    for rate in ("selection_rate", "tpr", "fpr"):
        np.testing.assert_array_equal(stats.group_rates(some)[rate], stats.group_rates(full)[rate])
    with pytest.raises(ValueError, match="without resamples"):
        stats.group_sums(y, P, codes, 4, only=("n",), resample=stats.bootstrap_weights(500, 3, 0))


@pytest.mark.parametrize("resampled", [False, True])
def test_without_weights_the_copied_sums_are_those_weights_of_one_make(resampled):
    """The kernel makes six sums without weights and copies the rest (squared weights, row
    counts); they must be, to the bit, what weights of 1 make with every sum computed."""
    rng = np.random.default_rng(5)
    n, G = 400, 3
    y, codes, P = rng.integers(0, 2, n), rng.integers(-1, G, n), rng.random((2, n))
    R = stats.bootstrap_weights(n, 5, 1) if resampled else None
    plain = stats.group_sums(y, P, codes, G, resample=R)
    ones = stats.group_sums(y, P, codes, G, sample_weight=np.ones(n), resample=R)
    assert np.array_equal(plain.sums, ones.sums) and np.array_equal(plain.bins, ones.bins)


def test_the_negatives_sums_do_not_cancel_under_large_weight_ratios():
    """Oracle audit, session 44: the negatives' weight was n - pos, which cancels when the
    positives weigh 1e7 times the negatives and more: an FPR of 1.0016, a balanced accuracy below
    0, an FPR interval of [nan, nan]. They are summed as they are; unweighted, the difference of
    two counts stays (exact, and the same numbers as summing)."""
    from fairkit.stats import group_rates, group_sums

    y, s = np.array([1, 0, 0]), np.array([0.2, 0.9, 0.8])
    gs = group_sums(y, s, np.zeros(3, dtype=int), 1, sample_weight=np.array([1e9, 3e-6, 5e-6]))
    assert group_rates(gs)["fpr"].item() == 1.0
    assert gs.stat("neg").item() == pytest.approx(8e-6, rel=1e-12)
    assert gs.stat("neg2").item() == pytest.approx(3.4e-11, rel=1e-12)
    y, s = np.array([1, 0, 0, 0]), np.array([0.2, 0.9, 0.8, 0.1])
    gs = group_sums(y, s, np.zeros(4, dtype=int), 1, sample_weight=np.array([1e8, 1e-3, 0.7e-3, 1.3e-3]))
    assert group_rates(gs)["fpr"].item() == pytest.approx(1.7 / 3, rel=1e-12)
    rng = np.random.default_rng(0)
    y, s, codes = rng.integers(0, 2, 500), rng.random(500), rng.integers(0, 3, 500)
    resample = rng.integers(0, 3, (4, 500)).astype(float)
    plain = group_sums(y, s, codes, 3, resample=resample)
    ones = group_sums(y, s, codes, 3, resample=resample, sample_weight=np.ones(500))
    np.testing.assert_array_equal(plain.sums, ones.sums)
    np.testing.assert_array_equal(plain.stat("neg"), plain.stat("n") - plain.stat("pos"))
