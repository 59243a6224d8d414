"""fairness_report: cross-checked against fairlearn on random data, and by hand on tiny cases."""

import re
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
    GAP_METRICS,
    bootstrap_metrics,
    expected_calibration_error,
    fairness_report,
    metric_frame,
    reliability_curve,
    summary_metrics,
)
from fairkit.stats import bootstrap_weights


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
    with pytest.raises(ValueError, match=r"labels \[0, 2\], not 0/1: pass pos_label="):
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
    # One line for the grouping, naming every gap that leaves the group out (not one line a gap).
    left = [n for n in default.notes if "(g) leave" in n]
    assert left == ["Demographic parity difference, equal opportunity difference, equalized odds difference, "
                    "disparate impact ratio, largest group calibration error (ECE) and calibration error gap "
                    "between groups (g) leave out tiny (too few rows)"]
    assert ("g", "demographic_parity_difference", "tiny", "too few rows") in set(default.left_out.itertuples(index=False, name=None))
    assert default.gaps.loc["g", "left_out"] == "tiny (too few rows)"
    assert everyone.left_out.empty and everyone.gaps.loc["g", "left_out"] == ""


def test_gaps_leaving_out_different_groups_get_a_line_each():
    rng = np.random.default_rng(4)
    n = 900
    g = np.where(np.arange(n) < 4, "tiny", rng.choice(["a", "b", "c"], n))
    y = np.where(g == "c", 0, rng.integers(0, 2, n))  # c has no positives: out of the rate-of-positives gaps
    notes = [n for n in fairness_report(y, rng.random(n), pd.Series(g, name="h")).notes if "(h) leave" in n]
    assert len(notes) == 2
    assert "Equal opportunity difference and equalized odds difference (h) leave out c (no TPR: no positives), tiny (too few rows)" in notes
    assert any(n.startswith("Demographic parity difference, ") and n.endswith("(h) leave out tiny (too few rows)")
               for n in notes)


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
    with pytest.raises(ValueError, match=r"labels \[0, 1, 2\], not 0/1"):
        summary_metrics(np.array([0, 2, 1, 0]), np.zeros(4), ["a", "b", "a", "b"])
    with pytest.raises(ValueError, match="sensitive has 3 rows"):
        summary_metrics(y, np.zeros(4), ["a", "b", "a"])



@pytest.mark.parametrize("bad, found", [
    (np.array([0.2, 1.58, -0.3, 0.9]), r"2 of 4 values are outside it \(range found: -0.3 to 1.58\)"),
    (np.array([20.0, 80.0, 55.0, 90.0]), r"4 of 4 values are outside it"),
    (np.array([0.2, np.nan, 0.5, np.inf]), r"2 NaN or infinite"),
])
def test_scores_outside_0_1_are_refused_not_clipped(bad, found):
    # Logits or percentages clipped to [0, 1] gave plausible but wrong accuracies and gaps.
    y, g = np.array([0, 1, 1, 0]), ["a", "b", "a", "b"]
    for call in (fairness_report, summary_metrics, bootstrap_metrics):
        with pytest.raises(ValueError, match=found) as err:
            call(y, bad, g)
        if "outside" in found:
            assert "predict_proba(X)[:, 1]" in str(err.value) and "sigmoid" in str(err.value)
    with pytest.raises(ValueError, match=found):
        expected_calibration_error(y, bad)


def test_float_round_off_at_the_ends_of_0_1_is_still_a_probability():
    y, g = np.array([0, 1, 1, 0]), ["a", "b", "a", "b"]
    p = np.array([-1e-12, 1 + 1e-12, 0.7, 0.2])
    rep = fairness_report(y, p, g)
    assert rep.overall["accuracy"] == fairness_report(y, np.clip(p, 0, 1), g).overall["accuracy"] == 1.0
    assert summary_metrics(y, p, g)[0]["accuracy"] == 1.0


def test_bad_report_arguments_name_the_argument_and_the_valid_choices():
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 2, 200), rng.random(200)
    S = pd.DataFrame({"sex": rng.choice(["F", "M"], 200), "race": rng.choice(["A", "B"], 200)})
    rep = fairness_report(y, p, S[["sex"]])
    with pytest.raises(ValueError, match="Unknown gap metric 'dp'. Choose from: demographic_parity_difference"):
        rep.gap("dp")
    with pytest.raises(ValueError, match="Unknown attribute of this report 'race'. Choose from: sex"):
        rep.gap("demographic_parity_difference", "race")
    with pytest.raises(ValueError, match="Unknown attribute of this report 'race'"):
        rep.summary("race")
    assert rep.gap("demographic_parity_difference", "sex") == rep.gap("demographic_parity_difference")
    for bad in (-5, 2.5, "100", True):
        with pytest.raises(ValueError, match="n_boot must be an integer >= 0"):
            fairness_report(y, p, S, n_boot=bad)
    for bad in (95, 0.0, 1.0, "0.9"):
        with pytest.raises(ValueError, match=r"ci must be a confidence level in \(0, 1\)"):
            fairness_report(y, p, S, n_boot=10, ci=bad)
    with pytest.raises(ValueError, match=r"y_score must be one score per row .* lengths \[200, 199\]"):
        summary_metrics(y, [p, p[:-1]], S)


def _weighted_case(n=400, seed=3):
    rng = np.random.default_rng(seed)
    # A group of 12 rows, under the default 30: the gaps leave it out, here as in the sweep.
    groups = np.array(["a"] * 200 + ["b"] * 188 + ["c"] * 12)
    y = rng.integers(0, 2, n)
    P = rng.random((3, n))
    P[2] = (P[2] > 0.7).astype(float)  # decisions, as a threshold method's scores are
    w = rng.uniform(0.5, 2.0, n)
    return y, P, groups, w


def test_bootstrap_metrics_replicate_is_summary_metrics_with_the_resample_as_weights():
    y, P, groups, w = _weighted_case()
    R = bootstrap_weights(len(y), 4, random_state=7)
    boot = bootstrap_metrics(y, P, groups, sample_weight=w, resample=R)
    assert np.array_equal(boot["resample"], R)
    for b in range(len(R)):
        ref = summary_metrics(y, P, groups, sample_weight=w * R[b], ranks=False)
        for k, row in enumerate(ref):
            for key in ["accuracy"] + GAP_METRICS:
                assert boot[key][b, k] == pytest.approx(row[key], abs=1e-12, nan_ok=True), (b, k, key)


def test_bootstrap_metrics_draws_from_its_seed_and_centres_on_the_estimate():
    y, P, groups, _ = _weighted_case()
    a = bootstrap_metrics(y, P, groups, n_boot=300, random_state=1)
    b = bootstrap_metrics(y, P, groups, n_boot=300, random_state=1)
    c = bootstrap_metrics(y, P, groups, n_boot=300, random_state=2)
    assert a["accuracy"].shape == (300, 3)
    assert np.array_equal(a["equalized_odds_difference"], b["equalized_odds_difference"])
    assert not np.array_equal(a["accuracy"], c["accuracy"])
    point = summary_metrics(y, P, groups, ranks=False)
    for k in range(3):
        acc = point[k]["accuracy"]
        # The replicates' spread is the accuracy's standard error, sqrt(p (1 - p) / n) ~ 0.025.
        se = np.sqrt(acc * (1 - acc) / len(y))
        assert a["accuracy"][:, k].std() == pytest.approx(se, rel=0.25)
        assert abs(a["accuracy"][:, k].mean() - acc) < 3 * se / np.sqrt(300) + 1e-3


def test_bootstrap_metrics_checks_its_arguments():
    y, P, groups, _ = _weighted_case()
    with pytest.raises(ValueError, match="n_boot must be >= 1"):
        bootstrap_metrics(y, P, groups, n_boot=0)
    with pytest.raises(ValueError, match=r"resample must have shape \(B, 400\)"):
        bootstrap_metrics(y, P, groups, resample=np.ones((2, 399)))


# --------------------------------------------------------------------------------------------
# Issue 15's reproduced defects: one value per number, weights, intervals, labels.
# --------------------------------------------------------------------------------------------
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate  # noqa: E402

from fairkit.metrics import calibration_by_group  # noqa: E402


def test_one_group_has_one_ece_in_every_route():
    # Scores on bin edges (0.3, 0.7) were binned two ways: overall 0.0125 vs by group 0.1125.
    y, p, s = [1, 0, 1, 1], [0.25, 0.30, 0.7, 0.9], ["all"] * 4
    r = fairness_report(y, p, s, min_group_size=0)
    by_hand = (abs(1 - 0.25) + abs(0 - 0.30) + abs(1 - 0.7) + abs(1 - 0.9)) / 4  # each score its own bin
    assert r.overall["ece"] == pytest.approx(by_hand, abs=1e-12)
    assert r.by_group["ece"].iloc[0] == pytest.approx(by_hand, abs=1e-12)
    assert r.gap("max_group_ece") == pytest.approx(by_hand, abs=1e-12)
    assert summary_metrics(y, p, s, min_group_size=0)[0]["max_group_ece"] == pytest.approx(by_hand, abs=1e-12)
    assert calibration_by_group(y, p, s).loc["all", "ece_uniform"] == pytest.approx(by_hand, abs=1e-12)
    assert expected_calibration_error(y, p) == pytest.approx(by_hand, abs=1e-12)


@st.composite
def _weighted(draw):
    n = draw(st.integers(30, 150))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    G = draw(st.integers(2, 4))
    g = rng.integers(0, G, n)
    y = rng.integers(0, 2, n)
    g[: 2 * G], y[: 2 * G] = np.repeat(np.arange(G), 2), np.tile([0, 1], G)  # both labels in every group
    return y, rng.random(n), np.array([f"g{k}" for k in g]), rng.random(n) * 3 + 0.01


@settings(max_examples=50, deadline=None)
@given(_weighted())
def test_weighted_metrics_equal_fairlearn(data):
    y, p, g, w = data
    yhat = (p >= 0.5).astype(int)
    r = fairness_report(y, p, pd.Series(g, name="grp"), sample_weight=w, gap_min_group_size=0)
    gaps = r.gaps.loc["grp"]
    assert gaps["demographic_parity_difference"] == pytest.approx(
        demographic_parity_difference(y, yhat, sensitive_features=g, sample_weight=w), abs=1e-9)
    assert gaps["equalized_odds_difference"] == pytest.approx(
        equalized_odds_difference(y, yhat, sensitive_features=g, sample_weight=w), abs=1e-9)
    mf = MetricFrame(metrics={"selection_rate": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
                     y_true=y, y_pred=yhat, sensitive_features=g,
                     sample_params={k: {"sample_weight": w} for k in ("selection_rate", "tpr", "fpr")})
    t = r.by_group.set_index("group")
    for col in ("selection_rate", "tpr", "fpr"):
        np.testing.assert_allclose(t.loc[mf.by_group.index, col], mf.by_group[col], rtol=0, atol=1e-9)
    assert r.overall["accuracy"] == pytest.approx(np.average(y == yhat, weights=w), abs=1e-12)
    # fairkit's own MetricFrame wrapper passes the weights on.
    ours = metric_frame(y, yhat, g, sample_weight=w).by_group
    np.testing.assert_allclose(ours["selection_rate"], mf.by_group["selection_rate"], atol=1e-12)
    # The sweep's route gives the same weighted gaps.
    fast = summary_metrics(y, p, pd.Series(g, name="grp"), sample_weight=w, gap_min_group_size=0)[0]
    for k in GAP_METRICS:
        assert np.isclose(fast[k], gaps[k], rtol=1e-9, atol=1e-12, equal_nan=True), k


def test_a_twenty_row_group_is_named_when_left_out_and_counted_at_zero():
    rng = np.random.default_rng(11)
    n = 400
    g = np.where(np.arange(n) < 20, "small", rng.choice(["a", "b"], n))
    y = rng.integers(0, 2, n)
    p = np.where(g == "small", rng.random(n) * 0.6 + 0.4, rng.random(n))
    yhat = (p >= 0.5).astype(int)
    fl = equalized_odds_difference(y, yhat, sensitive_features=g)
    every = fairness_report(y, p, g, gap_min_group_size=0)
    assert every.gap("equalized_odds_difference") == pytest.approx(fl, abs=1e-12)
    default = fairness_report(y, p, g)
    assert default.gap("equalized_odds_difference") != pytest.approx(fl)
    left = default.left_out[default.left_out.metric == "equalized_odds_difference"]
    assert left[["group", "reason"]].values.tolist() == [["small", "too few rows"]]
    assert any("equalized odds difference" in note.lower() and "small (too few rows)" in note for note in default.notes)


def _intervals_contain(frame, names):
    for m in names:
        if f"{m}_low" not in frame:
            continue
        lo, est, hi = frame[f"{m}_low"].to_numpy(float), frame[m].to_numpy(float), frame[f"{m}_high"].to_numpy(float)
        ok = np.isfinite(lo)
        assert np.all(lo[ok] <= est[ok] + 1e-12) and np.all(est[ok] <= hi[ok] + 1e-12), m


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(12, 200), st.booleans())
def test_every_reported_interval_contains_its_estimate(seed, n, weighted):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.choice(["x", "y", "z"], n, p=[0.7, 0.2, 0.1]),
                          "b": rng.choice(["u", "v"], n, p=[0.85, 0.15])})
    y = (rng.random(n) < 0.3).astype(int)
    p = np.clip(rng.random(n) * 0.7 + 0.2 * y, 0, 1)
    w = rng.random(n) + 0.2 if weighted else None
    r = fairness_report(y, p, frame, n_boot=40, sample_weight=w, random_state=seed, min_group_size=10)
    _intervals_contain(r.by_group, ["base_rate", "selection_rate", "tpr", "fpr", "precision", "accuracy", "ece"])
    _intervals_contain(r.gaps, GAP_METRICS)


def test_the_adult_style_small_group_gap_interval_contains_the_estimate():
    # Tiny intersections with 2 positives made the percentile interval of a max-min gap lie wholly
    # above its estimate (0.191 [0.250, 1.000]).
    rng = np.random.default_rng(0)
    n = 3000
    frame = pd.DataFrame({"sex": rng.choice(["F", "M"], n), "race": rng.choice(["A", "B", "C", "D"], n, p=[.85, .1, .03, .02])})
    y = (rng.random(n) < 0.25).astype(int)
    p = np.clip(0.3 * y + rng.random(n) * 0.6, 0, 1)
    r = fairness_report(y, p, frame, n_boot=200)
    _intervals_contain(r.gaps, GAP_METRICS)
    for m in ("equal_opportunity_difference", "max_group_ece"):
        assert r.gaps[f"{m}_low"].notna().all()


def test_a_rate_with_two_positives_is_too_few_to_estimate():
    rng = np.random.default_rng(2)
    g = np.array(["big"] * 200 + ["tiny"] * 40)
    y = np.r_[rng.integers(0, 2, 200), [1, 1] + [0] * 38]
    p = np.r_[rng.random(200), [0.2, 0.3] + [0.1] * 38]
    r = fairness_report(y, p, g, n_boot=50)
    t = r.by_group.set_index("group")
    assert t.loc["tiny", "tpr"] == 0.0
    assert np.isnan(t.loc["tiny", "tpr_low"]) and np.isnan(t.loc["tiny", "tpr_high"])
    assert "tpr" in t.loc["tiny", "too_few"].split(", ")
    assert t.loc["big", "too_few"] == "" and np.isfinite(t.loc["big", "tpr_low"])
    assert any("too few to estimate" in note and "tiny: " in note for note in r.notes)


def test_labels_other_than_0_1_need_pos_label():
    y = np.array(["refused", "granted", "granted", "refused"])
    p = [0.2, 0.8, 0.4, 0.6]
    with pytest.raises(ValueError, match=r"labels \['granted', 'refused'\].*pos_label="):
        fairness_report(y, p, list("abab"))
    r = fairness_report(y, p, list("abab"), pos_label="granted", min_group_size=0)
    assert r.overall["accuracy"] == 0.5
    t = r.by_group.set_index("group")
    assert t.loc["b", "tpr"] == 1.0 and t.loc["a", "tpr"] == 0.0  # b's one granted row is selected, a's is not


def test_a_score_at_the_threshold_is_selected():
    r = fairness_report([1, 0], [0.5, 0.49], ["a", "a"], min_group_size=0)
    assert r.overall["selection_rate"] == 0.5 and r.overall["accuracy"] == 1.0


@settings(max_examples=30, deadline=None)
@given(_k_models(), st.booleans())
def test_one_number_has_one_value_in_every_route(case, weighted):
    """Report overall / by group / gaps, summary_metrics, calibration table and reliability curve agree."""
    y, scores, sens, threshold, min_size = case
    p = scores[0]
    w = np.random.default_rng(len(y)).random(len(y)) + 0.1 if weighted else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = fairness_report(y, p, sens, threshold=threshold, sample_weight=w, min_group_size=min_size)
    fast = summary_metrics(y, p, sens, threshold=threshold, sample_weight=w, min_group_size=min_size)[0]
    finest = r.by_group[r.by_group.attribute == r.primary_attribute].set_index("group")
    for k in GAP_METRICS:
        assert np.isclose(fast[k], r.gap(k), rtol=1e-9, atol=1e-12, equal_nan=True), k
    for k in OVERALL_METRICS_CHECKED:
        assert np.isclose(fast[k], r.overall[k], rtol=1e-9, atol=1e-12, equal_nan=True), k
    # The base rate (what deciding alike for everyone is measured against) is the share of
    # positive outcomes, weighted as every other rate.
    assert fast["base_rate"] == pytest.approx(np.average(np.asarray(y, dtype=float), weights=w), abs=1e-12)
    # max_group_ece is the largest ECE of the groups that enter the gaps, as the table shows them.
    inc = finest[finest["in_gaps"]]
    if inc["ece"].notna().any():
        assert r.gap("max_group_ece", r.primary_attribute) == pytest.approx(inc["ece"].max(), abs=1e-12)
    # The headline (and so the sweep's table) reads each gap at its least fair over every grouping.
    for k in GAP_METRICS:
        column = r.gaps[k].astype(float)
        if column.notna().any():
            worst = column.min() if k == "disparate_impact_ratio" else column.max()
            assert r.gap(k) == pytest.approx(worst, abs=1e-12), k
    if w is None:  # calibration_by_group takes no weights
        cal = calibration_by_group(y, p, sens)
        np.testing.assert_allclose(cal.loc[finest.index, "ece_uniform"], finest["ece"], atol=1e-12)
    # The reliability curve's points give each group's ECE back, weighted or not.
    curve = r.calibration
    for name, part in curve.groupby("group"):
        ece = (part["weight"] * (part["fraction_positive"] - part["mean_predicted"]).abs()).sum() / part["weight"].sum()
        assert ece == pytest.approx(finest.loc[name, "ece"], abs=1e-12)
        if w is None:
            assert (part["weight"] == part["count"]).all()


OVERALL_METRICS_CHECKED = ["accuracy", "balanced_accuracy", "roc_auc", "log_loss", "brier", "selection_rate",
                           "base_rate"]


def test_overall_intervals_come_from_the_kernel():
    rng = np.random.default_rng(4)
    n = 500
    y, p, g = rng.integers(0, 2, n), rng.random(n), rng.choice(["a", "b"], n)
    r = fairness_report(y, p, g, n_boot=100)
    # Accuracy's interval is the Wilson interval of a single group holding everyone.
    whole = fairness_report(y, p, ["all"] * n, n_boot=100).by_group.iloc[0]
    assert r.overall["accuracy_low"] == pytest.approx(whole["accuracy_low"])
    assert r.overall["accuracy_high"] == pytest.approx(whole["accuracy_high"])
    for k in ("accuracy", "selection_rate", "precision", "balanced_accuracy", "ece"):
        assert r.overall[f"{k}_low"] <= r.overall[k] <= r.overall[f"{k}_high"], k
        assert r.overall[f"{k}_high"] - r.overall[f"{k}_low"] > 0.01, k


# --------------------------------------------------------------------------- issue 20: counts, audit, shown values

def _two_attribute_case(n=900, seed=3):
    rng = np.random.default_rng(seed)
    sens = pd.DataFrame({"sex": rng.choice(["F", "M"], n, p=[0.4, 0.6]),
                         "race": rng.choice(["A", "B", "C"], n, p=[0.6, 0.37, 0.03])})
    y = rng.integers(0, 2, n)
    p = np.clip(rng.random(n) * 0.7 + 0.25 * y + 0.1 * (sens["sex"] == "M"), 0, 1)
    return y, p, sens


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.72])
def test_confusion_by_group_counts_every_decision_once(threshold):
    from fairkit.metrics import confusion_by_group

    y, p, sens = _two_attribute_case()
    counts = confusion_by_group(y, p, sens, threshold=threshold)
    assert list(dict.fromkeys(counts["attribute"])) == ["sex", "race", "sex & race"]
    for row in counts.itertuples():
        cols = [c.strip() for c in row.attribute.split("&")]
        mask = np.all([sens[c].to_numpy() == g.strip() for c, g in zip(cols, row.group.split(" & "))], axis=0)
        yy, dd = y[mask], p[mask] >= threshold
        assert (row.tp, row.fp, row.fn, row.tn) == (int((yy & dd).sum()), int((~yy.astype(bool) & dd).sum()),
                                                     int((yy.astype(bool) & ~dd).sum()),
                                                     int((~yy.astype(bool) & ~dd).sum()))
        assert row.n == mask.sum() == row.tp + row.fp + row.fn + row.tn
    # The same counts every rate of the report divides.
    rep = fairness_report(y, p, sens, threshold=threshold)
    merged = counts.merge(rep.by_group, on=["attribute", "group"])
    assert np.allclose(merged["tp"] / (merged["tp"] + merged["fn"]), merged["tpr"])
    assert np.allclose(merged["fp"] / (merged["fp"] + merged["tn"]), merged["fpr"])


def test_confusion_by_group_weights_and_one_model_only():
    from fairkit.metrics import confusion_by_group

    y, p, sens = _two_attribute_case(200)
    w = np.full(len(y), 2.0)
    weighted = confusion_by_group(y, p, sens["sex"], sample_weight=w)
    plain = confusion_by_group(y, p, sens["sex"])
    assert np.allclose(weighted[["tp", "fp", "fn", "tn"]], 2 * plain[["tp", "fp", "fn", "tn"]])
    assert list(weighted["n"]) == list(plain["n"])  # rows, not weights
    with pytest.raises(ValueError, match="one model"):
        confusion_by_group(y, np.vstack([p, p]), sens["sex"])


def test_disparity_audit_ratios_to_the_reference_and_the_band():
    from fairkit.metrics import AUDIT_METRICS, disparity_audit

    y, p, sens = _two_attribute_case()
    rep = fairness_report(y, p, sens)
    audit = disparity_audit(rep.by_group)
    by = rep.by_group.set_index(["attribute", "group"])
    for attr, part in audit.groupby("attribute"):
        groups = by.loc[attr]
        largest = groups["n"].idxmax()
        assert set(part["reference"]) == {largest}  # Aequitas' default: the largest group
        for row in part.itertuples():
            for m in AUDIT_METRICS:
                ratio, verdict = getattr(row, f"{m}_ratio"), getattr(row, f"{m}_verdict")
                if row.group == largest:
                    assert verdict == "reference"
                elif not groups.loc[row.group, "in_gaps"]:
                    assert verdict == "too few rows"
                else:
                    assert ratio == pytest.approx(groups.loc[row.group, m] / groups.loc[largest, m])
                    assert verdict == ("pass" if 0.8 <= ratio <= 1.25 else "fail")
    # race C (3% of 900 rows) is below the small-group size: no pass or fail for it.
    assert (audit.query("attribute == 'race' and group == 'C'")["selection_rate_verdict"] == "too few rows").all()
    # A chosen reference and a narrower band.
    other = disparity_audit(rep.by_group, reference={"sex": "F"}, band=(0.99, 1.01))
    sex = other[other["attribute"] == "sex"].set_index("group")
    assert set(sex["reference"]) == {"F"} and sex.loc["F", "tpr_verdict"] == "reference"
    assert sex.loc["M", "selection_rate_ratio"] == pytest.approx(by.loc[("sex", "M"), "selection_rate"]
                                                                 / by.loc[("sex", "F"), "selection_rate"])
    assert sex.loc["M", "selection_rate_verdict"] == "fail"
    with pytest.raises(ValueError, match="band"):
        disparity_audit(rep.by_group, band=(1.1, 1.3))


def test_metric_value_shows_one_disparate_impact_convention():
    from fairkit.metrics import METRIC_LABELS, metric_value

    y, p, sens = _two_attribute_case()
    rep = fairness_report(y, p, sens, n_boot=50)
    row = rep.gaps.loc["sex"]
    v, lo, hi = metric_value(row, "disparate_impact_gap")
    assert v == pytest.approx(1 - row["disparate_impact_ratio"])
    assert (lo, hi) == pytest.approx((1 - row["disparate_impact_ratio_high"], 1 - row["disparate_impact_ratio_low"]))
    assert lo <= v <= hi
    assert metric_value(rep.overall, "accuracy") == (rep.overall["accuracy"], rep.overall["accuracy_low"],
                                                     rep.overall["accuracy_high"])
    table = pd.DataFrame(summary_metrics(y, np.vstack([p, p ** 2]), sens)).add_prefix("test_")
    assert np.allclose(metric_value(table, "disparate_impact_gap", prefix="test_")[0],
                       1 - table["test_disparate_impact_ratio"])
    assert metric_value(table, "accuracy", prefix="test_")[1] is None  # no interval stored
    with pytest.raises(KeyError):
        metric_value({}, "disparate_impact_gap")
    assert METRIC_LABELS["disparate_impact_gap"] == "1 - disparate impact ratio"


def test_decision_scores_have_no_roc_auc():
    """ROC AUC is NaN for models whose scores are decisions (ranks=False), one per model in a
    sweep pass; every other number is the same as with ranks=True."""
    from fairkit.metrics import NO_RANKING

    y, p, sens = _two_attribute_case()
    decisions = (p >= 0.5).astype(float)
    both = np.vstack([p, decisions])
    ranked = summary_metrics(y, both, sens)
    mixed = summary_metrics(y, both, sens, ranks=[True, False])
    assert mixed[0] == ranked[0]
    assert np.isfinite(ranked[1]["roc_auc"]) and np.isnan(mixed[1]["roc_auc"])
    assert {k: v for k, v in mixed[1].items() if k != "roc_auc"} == {k: v for k, v in ranked[1].items() if k != "roc_auc"}
    rep = fairness_report(y, decisions, sens, ranks=False)
    assert np.isnan(rep.overall["roc_auc"])
    assert rep.overall["accuracy"] == fairness_report(y, decisions, sens).overall["accuracy"]
    with pytest.raises(ValueError, match="ranks has 3 entries"):
        summary_metrics(y, both, sens, ranks=[True, False, True])
    assert NO_RANKING.startswith("n/a")


@pytest.fixture(scope="module")
def threshold_sweep(tiny_split, fast_params):
    from fairkit.sweep import run_sweep

    return run_sweep(tiny_split, ["unconstrained", "threshold"], {"threshold": [0.0, 1.0]}, [0], params=fast_params)


def test_threshold_runs_have_no_roc_auc_in_sweep_rows(threshold_sweep):
    """The registry marks the group-threshold method's scores as decisions: its sweep rows carry
    no AUC, the unconstrained base's rows do (its ranking is the network's)."""
    from fairkit.methods import METHODS, scores_rank

    assert METHODS["threshold"].scores_are_decisions and not scores_rank("threshold")
    assert scores_rank("unconstrained") and scores_rank("not-a-registered-method")
    res = threshold_sweep.results.set_index("method")
    for part in ("val", "test"):
        assert res.loc[["threshold"], f"{part}_roc_auc"].isna().all()
        assert np.isfinite(res.loc["unconstrained", f"{part}_roc_auc"])
        assert res.loc[["threshold"], f"{part}_accuracy"].notna().all()


def test_the_record_of_a_threshold_model_says_why_it_has_no_roc_auc(threshold_sweep, tiny_split):
    """The exported record carries no AUC for group thresholds and its performance table says
    why; the unconstrained network's record shows its AUC."""
    from fairkit.export import DecisionRecord, build_record, render_record_markdown
    from fairkit.metrics import NO_RANKING

    record = DecisionRecord(purpose="p", rationale="r", decider="d")
    rows = threshold_sweep.results.set_index("method", drop=False)
    shown = {}
    for method in ("threshold", "unconstrained"):
        row = rows.loc[[method]].iloc[-1].to_dict()
        built = build_record(model=threshold_sweep.model(row["run_id"]), split=tiny_split, run=row,
                             record=record, n_boot=5)
        auc = built.record["content"]["metrics"]["test"]["overall"]["roc_auc"]
        line = next(x for x in render_record_markdown(built.record).splitlines() if x.startswith("| ROC AUC"))
        shown[method] = (auc, line)
    assert shown["threshold"][0] is None and NO_RANKING in shown["threshold"][1]
    assert 0.5 < shown["unconstrained"][0] <= 1 and NO_RANKING not in shown["unconstrained"][1]


# --- the gaps of a model fair in the population, by chance (gap_noise_floor) ----------------

from fairkit.metrics import NOISE_FLOOR_SHUFFLE, gap_noise_floor, summary_metrics  # noqa: E402


def _two_groups(n_a: int, n_b: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    g = np.array(["a"] * n_a + ["b"] * n_b)
    y = rng.integers(0, 2, n_a + n_b)
    return g, y, rng


def test_gap_noise_floor_matches_the_sampling_spread_of_two_rates():
    # Decisions that select 30 % of the rows: a shuffle's DP gap is |p_a - p_b| of a
    # hypergeometric split, close to half-normal with sigma^2 = p(1-p)(1/n_a + 1/n_b); its
    # median is 0.674 sigma.
    g, y, rng = _two_groups(300, 900)
    d = (rng.uniform(size=len(y)) < 0.3).astype(float)
    floor = gap_noise_floor(y, d, g, n_sim=2000, random_state=1)
    p = d.mean()
    sigma = np.sqrt(p * (1 - p) * (1 / 300 + 1 / 900))
    assert floor.loc["demographic_parity_difference", "median"] == pytest.approx(0.674 * sigma, rel=0.1)
    assert floor.loc["demographic_parity_difference", "q95"] == pytest.approx(1.96 * sigma, rel=0.1)
    assert list(floor.index) == list(NOISE_FLOOR_SHUFFLE) and (floor["n_sim"] == 2000).all()
    # 1 - disparate impact ratio, as shown: about the DP gap over the larger selection rate.
    assert floor.loc["disparate_impact_gap", "median"] == pytest.approx(0.674 * sigma / p, rel=0.15)
    # Four times the rows, half the noise.
    g4, y4, rng4 = _two_groups(1200, 3600, seed=2)
    d4 = (rng4.uniform(size=len(y4)) < 0.3).astype(float)
    floor4 = gap_noise_floor(y4, d4, g4, n_sim=2000, random_state=1)
    ratio = floor4.loc["demographic_parity_difference", "median"] / floor.loc["demographic_parity_difference", "median"]
    assert ratio == pytest.approx(0.5, rel=0.15)


def test_gap_noise_floor_shuffles_error_rates_within_each_outcome():
    # A model that decides exactly the outcome: within an outcome every decision is alike, so a
    # shuffle there changes nothing (every group's TPR 1, FPR 0: no gap), while a shuffle over
    # every row mixes them (a selection-rate gap by chance).
    g, y, _ = _two_groups(200, 400)
    floor = gap_noise_floor(y, y.astype(float), g, n_sim=100)
    assert floor.loc["equalized_odds_difference", "median"] == 0.0
    assert floor.loc["equal_opportunity_difference", "q95"] == 0.0
    assert floor.loc["demographic_parity_difference", "median"] > 0.01
    # The gaps are the kernel's: the same shuffle by hand (the first draw of the same seed),
    # measured by summary_metrics, is the one-shuffle floor.
    d = np.random.default_rng(7).permuted(y.astype(float)[None, :], axis=1)
    (one,) = summary_metrics(y, d, g, ranks=False)
    single = gap_noise_floor(y, y.astype(float), g, n_sim=1, random_state=7)
    assert single.loc["demographic_parity_difference", "median"] == one["demographic_parity_difference"] > 0


def test_gap_noise_floor_leaves_small_groups_out_like_the_sweep_and_refuses_bad_input():
    rng = np.random.default_rng(0)
    g = np.array(["a"] * 10 + ["b"] * 400 + ["c"] * 400)  # a is under the 30 rows a gap needs
    y = rng.integers(0, 2, len(g))
    d = rng.uniform(size=len(y))
    floor = gap_noise_floor(y, d, g, n_sim=200)
    # Ten rows swing a rate by 0.1 or more: counted, they would set the floor. (a's TPR rests on
    # fewer than 5 positives, which no gap counts: stats.rate_groups.)
    assert (y[:10] == 1).sum() < 5
    with_a = gap_noise_floor(y, d, g, n_sim=200, min_group_size=5)
    rows_gaps = ["demographic_parity_difference", "disparate_impact_gap", "equalized_odds_difference"]
    assert (with_a["median"][rows_gaps] > 2 * floor["median"][rows_gaps]).all()
    assert with_a["median"]["equal_opportunity_difference"] == floor["median"]["equal_opportunity_difference"]
    with pytest.raises(ValueError, match="n_sim"):
        gap_noise_floor(y, d, g, n_sim=0)
    with pytest.raises(ValueError, match="one model"):
        gap_noise_floor(y, np.vstack([d, d]), g)
    with pytest.raises(ValueError, match="NaN"):
        gap_noise_floor(y, np.where(np.arange(len(y)) == 3, np.nan, d), g)


def test_no_better_than_chance_is_one_comparison_for_scalars_and_arrays():
    from fairkit.metrics import chance_level, no_better_than_chance

    # 30 % positive: the majority decision ("no") scores 0.7; balanced accuracy's level is 0.5.
    assert chance_level("accuracy", 0.3) == pytest.approx(0.7) and chance_level("accuracy", 0.8) == pytest.approx(0.8)
    np.testing.assert_allclose(chance_level("accuracy", [0.3, 0.8, np.nan]), [0.7, 0.8, np.nan])
    np.testing.assert_allclose(chance_level("roc_auc", [0.3, 0.9]), [0.5, 0.5])
    assert no_better_than_chance(0.7, "accuracy", 0.3) is True  # a tie is no better
    assert no_better_than_chance(0.7 + 1e-9, "accuracy", 0.3) is False
    got = no_better_than_chance([0.69, 0.71, np.nan, 0.75], "accuracy", [0.3, 0.3, 0.3, np.nan])
    assert got.tolist() == [True, False, False, False]  # NaN score or unknown base rate: not flagged
    assert no_better_than_chance([0.5, 0.51], "balanced_accuracy", np.nan).tolist() == [True, False]
    with pytest.raises(ValueError, match="no chance level"):
        chance_level("brier", 0.3)


def _fpr_case(fp_b, neg_b, fp_a, neg_a, pos=60):
    """Groups a (reference, the larger) and b whose false positive rates are fp / neg exactly;
    every positive is selected, so only the FPR ratio is near a band edge."""
    y, p, g = [], [], []
    for name, fp, neg in (("a", fp_a, neg_a), ("b", fp_b, neg_b)):
        y += [0] * neg + [1] * pos
        p += [1.0] * fp + [0.0] * (neg - fp) + [0.9] * pos
        g += [name] * (neg + pos)
    return np.array(y), np.array(p), np.array(g)


@pytest.mark.parametrize("counts, edge", [((10, 12, 32, 48), 1.25), ((18, 30, 36, 48), 0.8)])
def test_disparity_audit_passes_a_ratio_on_the_band_edge_up_to_rounding(counts, edge):
    from fairkit.metrics import disparity_audit

    audit = disparity_audit(fairness_report(*_fpr_case(*counts)).by_group).set_index("group")
    ratio = audit.loc["b", "fpr_ratio"]
    # (10/12)/(32/48) is 1.25 in real arithmetic and 1.2500000000000002 in floating point;
    # (18/30)/(36/48) is 0.8 and 0.7999999999999999: the band's edges pass, as the record says.
    assert ratio != edge and ratio == pytest.approx(edge, rel=1e-12)
    assert audit.loc["b", "fpr_verdict"] == "pass"
    assert audit.loc["a", "fpr_verdict"] == "reference"
    # Just outside the band (by far more than rounding) still fails.
    outside = disparity_audit(fairness_report(*_fpr_case(*counts)).by_group,
                              band=(0.8 + 1e-6, 1.25) if edge == 0.8 else (0.8, 1.25 - 1e-6))
    assert outside.set_index("group").loc["b", "fpr_verdict"] == "fail"


def test_an_undefined_rate_is_left_out_of_the_gap_where_fairlearn_counts_it_as_zero():
    """The one documented exception to "gap_min_group_size=0 equals fairlearn" (the
    fairness_report docstring, metric_frame's, docs/ARCHITECTURE.md): a group with one outcome
    only has no FPR (no negatives) or no TPR (no positives). fairkit leaves that rate out of the
    gap and names the group in ``left_out``; fairlearn's rates count it as 0."""
    from pathlib import Path

    rng = np.random.default_rng(7)
    g = rng.choice(["A", "B", "C", "D"], 700, p=[0.5, 0.4, 0.03, 0.07])
    y = rng.integers(0, 2, 700)
    y[g == "D"] = 1  # D has no negatives: its false positive rate is undefined
    p = np.clip(rng.random(700) * 0.8 + 0.15 * y, 0, 1)
    yhat = (p >= 0.5).astype(int)
    r = fairness_report(y, p, pd.Series(g, name="grp"), gap_min_group_size=0)
    t = r.by_group.set_index("group")
    assert np.isnan(t.loc["D", "fpr"]) and np.isfinite(t.loc["D", "tpr"])
    defined = t.drop(index="D")["fpr"]
    eo = max(t["tpr"].max() - t["tpr"].min(), defined.max() - defined.min())
    assert r.gap("equalized_odds_difference") == pytest.approx(eo, abs=1e-12)  # 0.1417 here
    left = set(r.left_out.itertuples(index=False, name=None))
    assert ("grp", "equalized_odds_difference", "D", "no FPR: no negatives") in left
    # fairlearn counts D's FPR as 0, so its gap is the largest FPR (0.3696 here), not fairkit's.
    with_zero = max(t["tpr"].max() - t["tpr"].min(), defined.max() - 0.0)
    fl = equalized_odds_difference(y, yhat, sensitive_features=g)
    assert fl == pytest.approx(with_zero, abs=1e-12) and fl > r.gap("equalized_odds_difference") + 0.2
    # Demographic parity has no undefined rate (every group has rows): still fairlearn's value.
    assert r.gap("demographic_parity_difference") == pytest.approx(
        demographic_parity_difference(y, yhat, sensitive_features=g), abs=1e-12)
    # metric_frame is fairlearn's MetricFrame on the kernel's rates: NaN, as the report (it
    # showed fairlearn's 0, and a gap taken from its rates was 0.573 against the report's 0.050:
    # one-implementation audit, session 53).
    mf = metric_frame(y, yhat, g).by_group
    assert np.isnan(mf.loc["D", "fpr"])
    np.testing.assert_allclose(mf["fpr"], t.loc[mf.index, "fpr"], atol=1e-12)
    np.testing.assert_allclose(mf["tpr"], t.loc[mf.index, "tpr"], atol=1e-12)
    # Every place that promises fairlearn's values states the exception.
    architecture = " ".join((Path(__file__).parents[1] / "docs" / "ARCHITECTURE.md").read_text().split())
    for text in (fairness_report.__doc__, architecture):
        assert "undefined" in text and "fairlearn counts it as 0" in " ".join(text.split()), text[:80]


def test_the_headline_gap_is_never_below_a_gap_the_report_shows():
    """Two attributes whose small intersections are left out of the gaps (German's sex and age
    group): the intersection's gap alone is smaller than sex's, which the same report shows.
    The headline, the sweep's table (summary_metrics) and the bootstrap all read each gap at its
    least fair over every grouping, and the record's card names the grouping it comes from."""
    from fairkit.record import headline

    rng = np.random.default_rng(3)
    n = 1000
    sex = np.where(rng.random(n) < 0.3, "female", "male")
    # The under-25s are few: every under-25 intersection has fewer than 30 rows.
    age = np.where(rng.random(n) < 0.05, "under 25", "25 and over")
    sens = pd.DataFrame({"sex": sex, "age": age})
    p = np.clip(0.55 + 0.08 * (sex == "male") + rng.normal(0, 0.2, n), 0, 1)
    y = (rng.random(n) < p).astype(int)
    young_women = (sex == "female") & (age == "under 25")
    p[young_women] = 0.01  # a group the intersection's gap cannot see, that moves sex's
    r = fairness_report(y, p, sens, n_boot=50)
    dp = r.gaps["demographic_parity_difference"]
    assert r.gaps.loc["sex & age", "left_out"]  # the small intersections are out of its gaps
    assert dp["sex"] > dp["sex & age"]  # the finest grouping alone would under-state it
    assert r.gap("demographic_parity_difference") == dp.max()
    assert r.headline()["demographic_parity_difference_attribute"] == dp.idxmax()
    assert r.gap("disparate_impact_ratio") == r.gaps["disparate_impact_ratio"].min()
    fast = summary_metrics(y, p, sens)[0]
    for k in GAP_METRICS:
        assert fast[k] == pytest.approx(r.gap(k), abs=1e-12, nan_ok=True), k
    boot = bootstrap_metrics(y, p, sens, resample=np.ones((1, n)))
    for k in GAP_METRICS:
        assert boot[k][0, 0] == pytest.approx(r.gap(k), abs=1e-12, nan_ok=True), k
    rows = [{"attribute": a, **r.gaps.loc[a].drop("left_out").to_dict()} for a in r.gaps.index]
    rec = {"content": {"selected": {"method": "unconstrained", "eta": 0.0, "seed": 0, "threshold": 0.5,
                                    "needs_sensitive_at_predict": False},
                       "metrics": {"test": {"gaps": rows, "overall": r.overall}}},
           "fairness_definition": "demographic_parity", "decider": "D", "rationale": "R"}
    card = dict((label, runs) for label, runs in headline(rec))
    label = next(k for k in card if k.startswith("Demographic parity difference"))
    assert f"({dp.idxmax()}, test)" in label


def test_a_metric_label_in_a_sentence_keeps_its_acronyms_and_proper_names():
    from fairkit.metrics import METRIC_LABELS, in_sentence

    assert in_sentence(METRIC_LABELS["roc_auc"]) == "ROC AUC"
    assert in_sentence(METRIC_LABELS["balanced_accuracy"]) == "balanced accuracy"
    assert in_sentence(METRIC_LABELS["max_group_ece"]) == "largest group calibration error (ECE)"
    assert in_sentence(METRIC_LABELS["brier"]) == "Brier score"
    assert in_sentence(METRIC_LABELS["disparate_impact_gap"]) == "1 - disparate impact ratio"


def _tpr_gap_data(seed):
    """Groups that differ most in true positive rate: equalized odds often equals equal opportunity."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(80, 400))
    g = rng.choice(["a", "b", "c"][: int(rng.integers(2, 4))], n)
    y = rng.binomial(1, 0.3 + 0.3 * (g == "a"))
    s = np.clip(rng.normal(0.3 + 0.3 * y + 0.1 * (g == "b"), 0.25), 0, 1)
    return y, s, g


def test_the_equalized_odds_interval_is_a_statement_about_both_gaps():
    """Equalized odds is the larger of the TPR gap (equal opportunity) and the FPR gap: its
    interval holds both parts at 97.5 % so that it holds at 95 %, so it ends above equal
    opportunity's (the TPR gap's at 95 %) and contains its estimate."""
    y, s, g = _tpr_gap_data(1)
    row = fairness_report(y, s, g, n_boot=100, gap_min_group_size=0, random_state=1).gaps.iloc[0]
    eo, eodds = "equal_opportunity_difference", "equalized_odds_difference"
    assert row[eo] == row[eodds]
    assert row[f"{eodds}_high"] > row[f"{eo}_high"] and row[f"{eodds}_low"] <= row[f"{eo}_low"]
    assert row[f"{eodds}_low"] <= row[eodds] <= row[f"{eodds}_high"]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(20, 300), st.booleans())
def test_equalized_odds_intervals_end_above_equal_opportunitys(seed, n_boot, two_attributes):
    """On random data, every grouping's equalized odds interval ends at or above equal
    opportunity's and contains its estimate, in the report, its headline, and the intervals a
    sweep run stores."""
    from fairkit.sweep import REPORT_INTERVAL_METRICS

    y, s, g = _tpr_gap_data(seed)
    rng = np.random.default_rng(seed + 1)
    sens = (pd.DataFrame({"grp": g, "other": rng.choice(["x", "y"], len(g))}) if two_attributes
            else pd.Series(g, name="grp"))
    r = fairness_report(y, s, sens, n_boot=n_boot, gap_min_group_size=int(rng.integers(0, 40)), random_state=seed)
    eo, eodds = "equal_opportunity_difference", "equalized_odds_difference"
    rows = [r.gaps.loc[a] for a in r.gaps.index]
    head = r.headline()
    if head[f"{eo}_attribute"] == head[f"{eodds}_attribute"]:
        rows.append(head)
    assert {eo, eodds} <= set(REPORT_INTERVAL_METRICS)  # what report_fields stores for a run
    for row in rows:
        assert row[eo] <= row[eodds]
        if all(np.isfinite(row[f"{k}_{end}"]) for k in (eo, eodds) for end in ("low", "high")):
            assert row[f"{eo}_high"] <= row[f"{eodds}_high"]
            assert row[f"{eodds}_low"] <= row[eodds] <= row[f"{eodds}_high"]


def test_the_chance_sentence_takes_an_before_a_vowel():
    from fairkit.metrics import noise_floor_sentence

    floor = {"median": 0.2, "q95": 0.3, "n_sim": 200}
    assert "show an equalized odds difference of about 0.200" in noise_floor_sentence(
        floor, "equalized odds difference", "these rows")
    assert "show a demographic parity difference" in noise_floor_sentence(
        floor, "demographic parity difference", "these rows")


def test_the_chance_gap_is_the_same_measured_in_chunks(monkeypatch):
    """Scale audit finding 1: the shuffles were measured in one call, which held about 200 bytes
    per shuffle and row (8.8 GiB for a 1M-row table's export); chunks give the same figures."""
    from fairkit import metrics

    rng = np.random.default_rng(0)
    g = pd.DataFrame({"a": rng.choice(["x", "y", "z"], 600), "b": rng.choice(["u", "v"], 600)})
    y, s = rng.integers(0, 2, 600), rng.uniform(size=600)
    whole = metrics.gap_noise_floor(y, s, g, n_sim=40)
    monkeypatch.setattr(metrics, "SIM_BYTES", metrics.KERNEL_BYTES_PER_SCORE * 600 * 3)  # 3 shuffles a call
    pd.testing.assert_frame_equal(metrics.gap_noise_floor(y, s, g, n_sim=40), whole)
    monkeypatch.setattr(metrics, "SIM_BYTES", 1)  # one at a time
    pd.testing.assert_frame_equal(metrics.gap_noise_floor(y, s, g, n_sim=40), whole)


def test_balanced_accuracy_interval_combines_the_tpr_and_tnr_score_intervals():
    """Balanced accuracy is half of TPR + TNR, two independent proportions: its interval is the
    two Wilson intervals combined (MOVER), not a recentred bootstrap, which covered 0.925-0.948
    at a nominal 0.95 (coverage audit). Checked against the formula on Wilson's own numbers."""
    from fairkit.stats import wilson_interval

    rng = np.random.default_rng(4)
    n = 600
    y = rng.integers(0, 2, n)
    p = np.clip(0.5 * y + rng.random(n) * 0.6, 0, 1)
    report = fairness_report(y, p, pd.DataFrame({"g": rng.choice(["a", "b"], n)}), n_boot=50)
    d = p >= 0.5
    pos, neg = y == 1, y == 0
    tp, fp = np.sum(d & pos), np.sum(d & neg)
    tpr, fpr = tp / pos.sum(), fp / neg.sum()
    (tl,), (th,) = wilson_interval(np.array([tp]), np.array([pos.sum()]))
    (fl,), (fh,) = wilson_interval(np.array([fp]), np.array([neg.sum()]))
    ba = (tpr + 1 - fpr) / 2
    o = report.overall
    assert o["balanced_accuracy"] == pytest.approx(ba)
    assert o["balanced_accuracy_low"] == pytest.approx(ba - np.hypot(tpr - tl, fh - fpr) / 2)
    assert o["balanced_accuracy_high"] == pytest.approx(ba + np.hypot(th - tpr, fpr - fl) / 2)


def test_a_rate_too_few_to_estimate_sets_no_gap():
    """New-user audit, session 48: on Adult the equal-opportunity gap 0.500 was a TPR of 1.000 on
    fewer than five positives (flagged "too few to estimate" on the same row) against 0.500, and
    it set the frontier and the verdict; the record's disparity table left that rate out. A TPR
    (FPR) on fewer than ``stats.MIN_EVENTS`` positives (negatives) enters no gap, said in
    ``left_out``; the sweep's figures read the same rule; a small-group size of 0 compares all."""
    rng = np.random.default_rng(3)
    n = 400
    g = np.array(["a"] * n + ["b"] * n + ["thin"] * 40)
    y = np.r_[rng.integers(0, 2, 2 * n), [1, 1, 1] + [0] * 37]  # "thin": 40 rows, 3 positives
    p = np.r_[rng.uniform(size=2 * n), [0.9, 0.9, 0.9] + [0.1] * 37]  # its TPR is 1.0
    report = fairness_report(y, p, pd.Series(g, name="grp"), n_boot=50)
    t = report.by_group.set_index("group")
    assert t.loc["thin", "tpr"] == 1.0 and "tpr" in t.loc["thin", "too_few"] and t.loc["thin", "in_gaps"]
    tpr = t.loc[["a", "b"], "tpr"]
    assert report.gap("equal_opportunity_difference") == pytest.approx(tpr.max() - tpr.min())
    left = report.left_out.set_index(["metric", "group"])["reason"]
    assert left[("equal_opportunity_difference", "thin")] == "TPR on fewer than 5 positives"
    assert ("demographic_parity_difference", "thin") not in left.index  # its selection rate counts
    swept = summary_metrics(y, p, pd.Series(g, name="grp"))[0]
    assert swept["equal_opportunity_difference"] == pytest.approx(report.gap("equal_opportunity_difference"))
    every = fairness_report(y, p, pd.Series(g, name="grp"), gap_min_group_size=0)
    assert every.gap("equal_opportunity_difference") == pytest.approx(1.0 - tpr.min())
    # Any other small-group size keeps the flag's bar (review of session 48: at 3, a rate flagged
    # too few to estimate set the gap).
    three = fairness_report(y, p, pd.Series(g, name="grp"), gap_min_group_size=3)
    assert three.gap("equal_opportunity_difference") == pytest.approx(report.gap("equal_opportunity_difference"))


def test_a_gap_that_compares_a_thin_rate_says_so():
    """Numbers audit, session 49: when fewer than two groups have 5 positives the equal-opportunity
    gap compares a TPR on 2 people (stats.rate_groups), and nothing said so: the same record called
    that TPR too few to estimate. The notes name it, and why; a small-group size of 0 gives its
    own reason; a gap that leaves the thin rate out says nothing of the kind."""
    rng = np.random.default_rng(1)
    g = np.array(["A"] * 300 + ["C"] * 100 + ["E"] * 100)
    y = np.r_[(rng.random(300) < 0.4).astype(int), 1, 1, np.zeros(98), np.zeros(100)].astype(int)
    p = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, len(y)), 0, 1)
    sens = pd.DataFrame({"g": g})
    rep = fairness_report(y, p, sens)
    kept = [n for n in rep.notes if "although too few to estimate" in n]
    assert kept == ["Equal opportunity difference and equalized odds difference (g) compare C (TPR on fewer than 5 positives) "
                    "although too few to estimate (fewer than two groups have enough to leave it out): such a gap "
                    "rests on a few people; read it with its interval"]
    every = fairness_report(y, p, sens, gap_min_group_size=0).notes
    assert any("C (TPR on fewer than 5 positives) although too few to estimate (a small-group size of 0 compares every rate)"
               in n for n in every)
    # With a second group of enough positives, C's TPR is left out, and said as left out instead.
    y2 = y.copy()
    y2[400:420] = 1
    notes = fairness_report(y2, p, sens).notes
    assert not any("although too few" in n for n in notes)
    assert any("leave out C (TPR on fewer than 5 positives)" in n for n in notes)


def test_a_weighted_reports_auc_says_why_it_has_no_interval():
    """Install audit, session 49: with sample weights the ROC AUC stood without an interval and
    without a word."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    p = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, 400), 0, 1)
    g = pd.DataFrame({"g": rng.choice(["a", "b"], 400)})
    weighted = fairness_report(y, p, g, sample_weight=rng.uniform(0.5, 2, 400), n_boot=20)
    assert "roc_auc_low" not in weighted.overall
    assert any(n.startswith("ROC AUC has no interval with sample weights") for n in weighted.notes)
    plain = fairness_report(y, p, g, n_boot=20)
    assert "roc_auc_low" in plain.overall and not any("ROC AUC" in n for n in plain.notes)


def test_too_few_rates_reads_the_flag_text_one_way():
    from fairkit.metrics import too_few_rates

    table = fairness_report(np.r_[np.ones(3), np.zeros(97)].astype(int), np.linspace(0, 1, 100),
                            pd.DataFrame({"g": ["a"] * 100})).by_group
    assert too_few_rates(table["too_few"].iloc[0]) == ["tpr"]  # 3 positives; 50 selected, enough for precision
    assert too_few_rates("") == [] and too_few_rates(None) == [] and too_few_rates(float("nan")) == []


def test_rows_of_weight_zero_are_no_one_in_the_group_rules():
    """Weights audit, session 51 (F1): the small-group and "too few to estimate" rules counted
    rows of weight 0, so 37 of them made a group of 3 weighted people a 40-row group whose rates
    decided every gap (DP 0.520 against 0.017 without them). A weighted report equals the one
    of the rows that carry weight, wherever it counts rows."""
    rng = np.random.default_rng(1)
    n = 640
    g = np.array(["A"] * 300 + ["B"] * 300 + ["C"] * 40)
    y = rng.integers(0, 2, n)
    s = np.where(g == "C", 0.9, rng.uniform(size=n)).round(3)
    w = np.ones(n)
    w[603:] = 0
    keep = w > 0
    full = fairness_report(y, s, g, sample_weight=w, n_boot=20, random_state=0)
    kept = fairness_report(y[keep], s[keep], g[keep], sample_weight=w[keep], n_boot=20, random_state=0)
    assert full.overall["n"] == kept.overall["n"] == 603
    cols = ["group", "n", "small", "in_gaps", "selection_rate", "tpr", "fpr"]
    pd.testing.assert_frame_equal(full.by_group[cols].reset_index(drop=True), kept.by_group[cols].reset_index(drop=True))
    c = full.by_group.set_index("group").loc["C"]
    assert c["n"] == 3 and not c["in_gaps"]
    for gap in ("demographic_parity_difference", "disparate_impact_ratio", "equal_opportunity_difference"):
        assert full.gap(gap) == pytest.approx(kept.gap(gap), abs=1e-12)
    assert full.gap("demographic_parity_difference") < 0.1
    one, other = summary_metrics(y, s, g, sample_weight=w)[0], summary_metrics(y[keep], s[keep], g[keep])[0]
    for key in GAP_METRICS:
        assert one[key] == pytest.approx(other[key], abs=1e-12, nan_ok=True), key


@pytest.mark.parametrize("weights, message", [
    (lambda n: np.r_[-1.5, np.ones(n - 1)], r"1 negative value\(s\) \(the first at row 0: -1.5\)"),
    (lambda n: np.r_[np.ones(n - 1), np.nan], r"1 NaN or infinite value\(s\) \(the first at row 199"),
    (lambda n: np.r_[np.inf, np.ones(n - 1)], r"NaN or infinite value\(s\) \(the first at row 0: inf\)"),
    (lambda n: np.zeros(n), "zero for every row"),
    (lambda n: np.ones((n, 1)), r"one weight per row \(1-d\), got shape \(200, 1\)"),
    (lambda n: np.ones(n - 1), "199 entries but"),
])
def test_bad_weights_are_refused_naming_what_is_wrong(weights, message):
    """Weights audit, session 51 (F6, F7): one message named none of the problems (a column
    vector read "200 entries but 200 rows"), and the reliability curve took any weights (a
    negative one gave a bin's observed rate 4.0)."""
    from fairkit.metrics import reliability_curve

    rng = np.random.default_rng(0)
    y, p, g = rng.integers(0, 2, 200), rng.uniform(size=200), rng.choice(["a", "b"], 200)
    for call in (lambda w: fairness_report(y, p, g, sample_weight=w), lambda w: summary_metrics(y, p, g, sample_weight=w),
                 lambda w: reliability_curve(y, p, g, sample_weight=w)):
        with pytest.raises(ValueError, match=message):
            call(weights(200))


def test_metric_frame_checks_weights_as_every_report_does():
    """One-implementation audit, session 53: metric_frame passed a negative weight to fairlearn
    (a selection rate of 0.587 from it) where fairness_report refuses it."""
    y, yhat, g = np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]), np.array(["a", "a", "b", "b"])
    for w, said in (([1, -5, 1, 1], "1 negative value(s)"), ([1, 1, 1], "has 3 entries but y_true has 4 rows")):
        with pytest.raises(ValueError, match=re.escape(said)):
            metric_frame(y, yhat, g, sample_weight=w)
        with pytest.raises(ValueError, match=re.escape(said)):
            fairness_report(y, yhat.astype(float), g, sample_weight=w)
    with pytest.raises(ValueError, match="y_pred must be one decision"):
        metric_frame(y, np.array([0.2, 0.9, 0.1, 0.4]), g)


def test_a_number_as_sample_weight_is_every_rows_weight_in_reports_and_estimators_alike():
    """One-implementation audit, session 53: the estimators took a number (scikit-learn's
    reading) and the reports refused it; one check now, which reads it as every row's weight."""
    from fairkit.estimators import FairRegularizedClassifier

    rng = np.random.default_rng(0)
    y, p, g = rng.integers(0, 2, 200), rng.uniform(size=200), rng.choice(["a", "b"], 200)
    weighted, plain = fairness_report(y, p, g, sample_weight=2.0), fairness_report(y, p, g)
    for k in ("accuracy", "selection_rate"):
        assert weighted.overall[k] == pytest.approx(plain.overall[k], abs=1e-12)
    X = rng.normal(size=(200, 3))
    model = FairRegularizedClassifier(max_epochs=2, random_state=0)
    same = FairRegularizedClassifier(max_epochs=2, random_state=0)
    np.testing.assert_allclose(model.fit(X, y, sensitive_features=g, sample_weight=3.0).predict_proba(X),
                               same.fit(X, y, sensitive_features=g, sample_weight=np.full(200, 3.0)).predict_proba(X))
