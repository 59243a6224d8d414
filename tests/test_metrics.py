"""fairness_report: cross-checked against fairlearn on random data, and by hand on tiny cases."""

import warnings

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equalized_odds_difference,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from fairkit.metrics import (
    expected_calibration_error,
    fairness_report,
    metric_frame,
    reliability_curve,
    summary_metrics,
)


@st.composite
def scored(draw):
    n = draw(st.integers(20, 200))
    seed = draw(st.integers(0, 2**31 - 1))
    n_groups = draw(st.integers(2, 5))
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, n_groups, n)
    # Each group needs both labels so every rate fairlearn computes is defined.
    y = rng.integers(0, 2, n)
    y[:2 * n_groups] = np.tile([0, 1], n_groups)
    groups[:2 * n_groups] = np.repeat(np.arange(n_groups), 2)
    p = rng.random(n)
    return y, p, np.array([f"g{g}" for g in groups])


@settings(max_examples=60, deadline=None)
@given(scored())
def test_gaps_match_fairlearn(data):
    y, p, g = data
    yhat = (p >= 0.5).astype(int)
    r = fairness_report(y, p, pd.Series(g, name="grp"), gap_min_group_size=0)
    gaps = r.gaps.loc["grp"]
    assert gaps["demographic_parity_difference"] == pytest.approx(
        demographic_parity_difference(y, yhat, sensitive_features=g), abs=1e-12)
    assert gaps["equalized_odds_difference"] == pytest.approx(
        equalized_odds_difference(y, yhat, sensitive_features=g), abs=1e-12)
    assert gaps["equal_opportunity_difference"] == pytest.approx(
        equal_opportunity_difference(y, yhat, sensitive_features=g), abs=1e-12)
    if yhat.any():
        assert gaps["disparate_impact_ratio"] == pytest.approx(
            demographic_parity_ratio(y, yhat, sensitive_features=g), abs=1e-12)
    assert r.overall["accuracy"] == pytest.approx((y == yhat).mean())


def test_hand_computed_tiny_case():
    # group a: y=[1,1,0,0], scores select rows 0,2 -> sel 0.5, tpr 0.5, fpr 0.5
    # group b: y=[1,0],     scores select row 0   -> sel 0.5, tpr 1.0, fpr 0.0
    y = [1, 1, 0, 0, 1, 0]
    p = [0.9, 0.2, 0.7, 0.1, 0.8, 0.3]
    s = ["a", "a", "a", "a", "b", "b"]
    r = fairness_report(y, p, s, gap_min_group_size=0)
    t = r.by_group.set_index("group")
    assert t.loc["a", "selection_rate"] == 0.5 and t.loc["b", "selection_rate"] == 0.5
    assert t.loc["a", "tpr"] == 0.5 and t.loc["b", "tpr"] == 1.0
    assert t.loc["a", "fpr"] == 0.5 and t.loc["b", "fpr"] == 0.0
    assert t.loc["a", "n"] == 4 and t.loc["b", "base_rate"] == 0.5
    assert r.gap("demographic_parity_difference") == 0.0
    assert r.gap("disparate_impact_ratio") == 1.0
    assert r.gap("equal_opportunity_difference") == 0.5
    assert r.gap("equalized_odds_difference") == 0.5
    # ECE of group b with 10 bins: bins of 0.8 and 0.3 -> |0.8-1| and |0.3-0| over 2 rows
    assert t.loc["b", "ece"] == pytest.approx((0.2 + 0.3) / 2)
    assert r.overall["accuracy"] == pytest.approx(4 / 6)


def test_threshold_changes_selection():
    y = [1, 0, 1, 0]
    p = [0.6, 0.6, 0.4, 0.4]
    assert fairness_report(y, p, list("abab"), threshold=0.5).overall["selection_rate"] == 0.5
    assert fairness_report(y, p, list("abab"), threshold=0.3).overall["selection_rate"] == 1.0


def test_intersections_and_small_group_flags():
    rng = np.random.default_rng(1)
    n = 400
    frame = pd.DataFrame({"sex": rng.choice(["F", "M"], n), "race": rng.choice(["A", "B", "C"], n, p=[.8, .15, .05])})
    r = fairness_report(rng.integers(0, 2, n), rng.random(n), frame, min_group_size=30)
    assert list(r.gaps.index) == ["sex", "race", "sex & race"]
    inter = r.by_group[r.by_group.attribute == "sex & race"]
    assert inter["n"].sum() == n and len(inter) == 6
    assert inter.loc[inter.n < 30, "small"].all() and r.notes
    assert r.primary_attribute == "sex & race"


def test_bootstrap_intervals_cover_the_estimate_and_shrink_with_n():
    rng = np.random.default_rng(0)

    def width(n):
        g = rng.choice(["a", "b"], n)
        y = rng.integers(0, 2, n)
        p = np.clip(rng.random(n) + (g == "a") * 0.2, 0, 1)
        r = fairness_report(y, p, g, n_boot=300, random_state=1)
        row = r.gaps.iloc[0]
        lo, hi = row["demographic_parity_difference_low"], row["demographic_parity_difference_high"]
        assert lo <= row["demographic_parity_difference"] <= hi
        t = r.by_group
        assert (t["selection_rate_low"] <= t["selection_rate"]).all()
        assert (t["selection_rate"] <= t["selection_rate_high"]).all()
        return hi - lo

    assert width(4000) < width(200)


def test_bootstrap_is_reproducible():
    rng = np.random.default_rng(0)
    y, p, g = rng.integers(0, 2, 300), rng.random(300), rng.choice(list("ab"), 300)
    a = fairness_report(y, p, g, n_boot=50, random_state=7).gaps
    b = fairness_report(y, p, g, n_boot=50, random_state=7).gaps
    pd.testing.assert_frame_equal(a, b)


def test_ece_perfectly_calibrated_is_small_and_miscalibrated_large():
    rng = np.random.default_rng(0)
    p = rng.random(50_000)
    y = (rng.random(50_000) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.01
    assert expected_calibration_error(y, p, strategy="quantile") < 0.01
    assert expected_calibration_error(y, np.clip(p * 0.5 + 0.5, 0, 1)) > 0.2


def test_reliability_curve_points():
    y = [0, 1, 1, 0]
    p = [0.05, 0.95, 0.9, 0.15]
    curve = reliability_curve(y, p, ["a", "a", "b", "b"], n_bins=2)
    assert set(curve.group) == {"a", "b"}
    a = curve[curve.group == "a"].set_index("bin")
    assert a.loc[0, "fraction_positive"] == 0 and a.loc[1, "fraction_positive"] == 1
    assert curve["count"].sum() == 4


def test_length_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="rows"):
        fairness_report([0, 1], [0.1], ["a", "b"])
    with pytest.raises(ValueError, match="0 \\(negative\\) and 1 \\(positive\\) only"):
        fairness_report([0, 2], [0.1, 0.9], ["a", "b"])


@settings(max_examples=40, deadline=None)
@given(scored(), st.floats(0.05, 0.95))
def test_overall_metrics_match_sklearn(case, threshold):
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, precision_score

    y, p, g = case
    p = np.round(p, 2)  # ties at the threshold
    yhat = (p >= threshold).astype(int)
    overall = fairness_report(y, p, g, threshold=threshold).overall
    assert overall["accuracy"] == pytest.approx(accuracy_score(y, yhat))
    assert overall["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, yhat))
    assert overall["precision"] == pytest.approx(precision_score(y, yhat, zero_division=0))
    assert overall["selection_rate"] == pytest.approx(yhat.mean())


def test_tiny_groups_are_reported_but_left_out_of_gaps():
    rng = np.random.default_rng(3)
    n = 600
    g = np.where(np.arange(n) < 3, "tiny", rng.choice(["a", "b"], n))
    y = rng.integers(0, 2, n)
    p = np.where(g == "tiny", 0.99, rng.random(n) * 0.8)
    default = fairness_report(y, p, pd.Series(g, name="g"))
    everyone = fairness_report(y, p, pd.Series(g, name="g"), gap_min_group_size=0)
    t = default.by_group.set_index("group")
    assert t.loc["tiny", "small"] and not t.loc["tiny", "in_gaps"] and t.loc["a", "in_gaps"]
    assert t.loc["tiny", "selection_rate"] == 1.0
    sel = t.loc[["a", "b"], "selection_rate"]
    assert default.gap("demographic_parity_difference") == pytest.approx(sel.max() - sel.min())
    assert everyone.gap("demographic_parity_difference") > default.gap("demographic_parity_difference")
    assert "left out of the gaps" in default.notes[0]


def test_metric_frame_agrees_with_the_by_group_table():
    rng = np.random.default_rng(5)
    g = rng.choice(["a", "b", "c"], 500)
    y, p = rng.integers(0, 2, 500), rng.random(500)
    mf = metric_frame(y, (p >= 0.5).astype(int), g).by_group
    t = fairness_report(y, p, g).by_group.set_index("group")
    for col in ["selection_rate", "tpr", "fpr"]:
        np.testing.assert_allclose(mf[col].to_numpy(), t.loc[mf.index, col].to_numpy())
    np.testing.assert_array_equal(mf["count"].to_numpy(), t.loc[mf.index, "n"].to_numpy())


@st.composite
def _k_models(draw):
    """Labels, K score rows (with ties and exact 0/1 scores) and one or two sensitive columns."""
    n = draw(st.integers(2, 120))
    k = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n) if draw(st.booleans()) else np.full(n, draw(st.integers(0, 1)))
    scores = rng.random((k, n))
    if draw(st.booleans()):  # coarse scores: many ties, some exactly at the threshold
        scores = np.round(scores * 4) / 4
    a = rng.choice(["a", "b", "c"][: draw(st.integers(1, 3))], n)
    sens = pd.DataFrame({"s": a})
    if draw(st.booleans()):
        sens["t"] = rng.choice(["u", "v"], n, p=[0.9, 0.1])
    return y, scores, sens, draw(st.sampled_from([0.3, 0.5, 0.75])), draw(st.sampled_from([0, 5, 30]))


@given(_k_models())
@settings(max_examples=60, deadline=None)
def test_summary_metrics_equal_the_report_summary_of_each_model(case):
    y, scores, sens, threshold, min_size = case
    fast = summary_metrics(y, scores, sens, threshold=threshold, min_group_size=min_size)
    assert len(fast) == len(scores)
    for row, s in zip(fast, scores):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            slow = fairness_report(y, s, sens, threshold=threshold, min_group_size=min_size).summary()
        assert set(row) == set(slow)
        for key, value in slow.items():
            assert np.isclose(row[key], value, rtol=1e-9, atol=1e-12, equal_nan=True), (key, row[key], value)


def test_summary_metrics_checks_its_inputs():
    y = np.array([0, 1, 1, 0])
    with pytest.raises(ValueError, match="shape"):
        summary_metrics(y, np.zeros((2, 3)), ["a", "b", "a", "b"])
    with pytest.raises(ValueError, match="0 .negative. and 1"):
        summary_metrics(np.array([0, 2, 1, 0]), np.zeros(4), ["a", "b", "a", "b"])
    with pytest.raises(ValueError, match="sensitive has 3 rows"):
        summary_metrics(y, np.zeros(4), ["a", "b", "a"])
