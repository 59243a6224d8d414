"""Calibration diagnostics: ECE estimators, noise floor, per-group tables, curves, audit."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit as _sigmoid

from fairkit.diagnostics import (
    CalibrationNoiseFloor,
    calibration_by_group,
    calibration_noise_floor,
    debiased_calibration_error,
    expected_calibration_error,
    multicalibration_audit,
    reliability_curve,
)


def test_ece_hand_computed():
    y = np.array([0, 1, 1, 0])
    p = np.array([0.1, 0.9, 0.6, 0.4])
    assert expected_calibration_error(y, p) == pytest.approx(0.25)
    assert expected_calibration_error(y, p, n_bins=2, strategy="quantile") == pytest.approx(0.25)
    # p == 1 belongs to the top bin rather than falling off the end.
    assert expected_calibration_error([1, 1], [1.0, 1.0]) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="strategy"):
        expected_calibration_error(y, p, strategy="median")
    assert np.isnan(expected_calibration_error([], []))


def test_calibration_by_group_table_and_summary(miscal):
    _, (pe, ye, ge, _) = miscal
    table = calibration_by_group(ye, pe, ge, n_bins=15)
    assert list(table.columns) == [
        "n", "in_gaps", "mean_predicted", "fraction_positive", "ece_uniform", "ece_quantile"
    ]
    assert table["n"].sum() == len(ye)
    assert table.attrs["max_group_ece"] == pytest.approx(table["ece_uniform"].max())
    assert table.attrs["calibration_disparity"] == pytest.approx(
        table["ece_uniform"].max() - table["ece_uniform"].min()
    )
    assert table.loc["a", "ece_uniform"] > table.loc["b", "ece_uniform"]
    assert set(table.attrs) >= {"max_group_ece_quantile", "calibration_disparity_quantile"}


def test_calibration_by_groups_summary_is_the_reports_small_groups_and_all():
    """One-implementation audit, session 53: calibration_by_group's max_group_ece and
    calibration_disparity counted a 20-row group the report leaves out (0.550 against 0.198)."""
    from fairkit.metrics import fairness_report

    rng = np.random.default_rng(3)
    g = np.array(["A"] * 200 + ["B"] * 180 + ["C"] * 20)
    p = rng.random(400)
    y = (rng.random(400) < np.where(g == "C", 0.05, p)).astype(int)
    table = calibration_by_group(y, p, g)
    report = fairness_report(y, p, pd.Series(g, name="g"))
    assert table["in_gaps"].tolist() == [True, True, False]
    for k in ("max_group_ece", "calibration_disparity"):
        assert table.attrs[k] == pytest.approx(report.gap(k), abs=1e-12), k
    assert table.loc["C", "ece_uniform"] > table.attrs["max_group_ece"]  # shown, not compared
    everyone = calibration_by_group(y, p, g, gap_min_group_size=0)
    assert everyone.attrs["max_group_ece"] == pytest.approx(table["ece_uniform"].max())


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_reliability_curve_is_tidy(miscal, strategy):
    _, (pe, ye, ge, _) = miscal
    curve = reliability_curve(ye, pe, ge, n_bins=8, strategy=strategy)
    assert list(curve.columns) == [
        "group", "bin", "bin_lower", "bin_upper", "mean_predicted", "fraction_positive", "count", "weight"
    ]
    assert curve.groupby("group")["count"].sum().to_dict() == pd.Series(ge).value_counts().to_dict()
    assert ((curve["mean_predicted"] >= curve["bin_lower"] - 1e-12)
            & (curve["mean_predicted"] <= curve["bin_upper"] + 1e-12)).all()
    overall = reliability_curve(ye, pe)
    assert set(overall["group"]) == {"(all)"}


def test_multicalibration_audit_finds_the_miscalibrated_intersection():
    rng = np.random.default_rng(5)
    n = 6000
    sex = rng.choice(["F", "M"], n)
    race = rng.choice(["A", "B"], n)
    age = rng.choice(["young", "old"], n)
    z = rng.normal(0, 1.5, n)
    y = rng.binomial(1, _sigmoid(z))
    bad = (sex == "F") & (race == "B")
    p = _sigmoid(np.where(bad, z + 1.2, z))  # over-predicts only for Black women
    frame = pd.DataFrame({"sex": sex, "race": race, "age": age})
    audit = multicalibration_audit(y, p, frame, min_size=200, n_boot=100, random_state=0)
    assert set(audit["order"]) == {1, 2, 3}
    assert audit["n"].min() >= 200
    top = audit.iloc[0]
    assert top["attributes"] in ("sex & race", "sex & race & age")
    assert "F" in top["subgroup"] and "B" in top["subgroup"]
    assert top["gap"] < 0  # predictions too high
    assert top["ece_low"] <= top["ece"] <= top["ece_high"]
    assert top["ece_low"] > audit.iloc[3:]["ece_high"].max()  # clearly separated from the rest
    assert (audit["ece_low"] <= audit["ece_high"]).all()
    # Resampling inflates ECE, so the bias-corrected value is below the raw one on the whole
    # (not row by row: a large, well-estimated subgroup's bootstrap mean falls either side).
    assert audit["ece_debiased"].mean() < audit["ece"].mean()
    assert (audit["ece_debiased"] < audit["ece"]).mean() > 0.75
    assert audit["ece"].is_monotonic_decreasing
    assert audit.attrs["overall_ece"] == pytest.approx(expected_calibration_error(y, p))
    # Everything below min_size is dropped; max_order caps the combinations.
    assert multicalibration_audit(y, p, frame, min_size=10**6, n_boot=0).empty
    assert set(multicalibration_audit(y, p, frame, max_order=1, n_boot=0)["order"]) == {1}


# -- bias-reduced ECE estimators and the noise floor (issue #4) --------------------------------


def _calibrated_draw(n, seed, truth=lambda p: p):
    """Scores uniform on [0.02, 0.98]; labels ~ Bernoulli(truth(p)) (calibrated by default)."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.98, n)
    return (rng.random(n) < truth(p)).astype(int), p


def _plugin_l2_sq(y, p, n_bins=10):
    """Squared L2 binned error without the variance correction (what the debiased one fixes)."""
    ids = np.minimum((p * n_bins).astype(int), n_bins - 1)
    cnt = np.bincount(ids, minlength=n_bins)
    gap = np.bincount(ids, weights=y - p, minlength=n_bins)
    keep = cnt > 0
    return float(np.sum(gap[keep] ** 2 / cnt[keep]) / len(p))


def test_debiased_ece_near_zero_on_large_calibrated_samples():
    draws = [_calibrated_draw(100_000, seed) for seed in range(40)]
    plugin = np.array([expected_calibration_error(y, p) for y, p in draws])
    root = np.array([debiased_calibration_error(y, p) for y, p in draws])
    sq = np.array([debiased_calibration_error(y, p, squared=True) for y, p in draws])
    raw_sq = np.array([_plugin_l2_sq(y, p) for y, p in draws])
    assert root.max() < 0.008  # the root of noise around 0: small, but not always below plug-in
    assert root.mean() < 0.5 * plugin.mean()
    # On the squared scale the correction removes the bias: what is left is noise around 0.
    assert abs(sq.mean()) < 0.25 * raw_sq.mean()
    assert expected_calibration_error(*draws[0], estimator="debiased") == pytest.approx(root[0])


def test_debiased_ece_removes_small_sample_bias_on_average():
    draws = [_calibrated_draw(300, 1000 + seed) for seed in range(400)]
    plugin = np.array([expected_calibration_error(y, p) for y, p in draws])
    root = np.array([debiased_calibration_error(y, p) for y, p in draws])
    sq = np.array([debiased_calibration_error(y, p, squared=True) for y, p in draws])
    raw_sq = np.array([_plugin_l2_sq(y, p) for y, p in draws])
    assert plugin.mean() > 0.045  # the plug-in bias this is about (a calibrated model!)
    assert root.mean() < 0.45 * plugin.mean()
    # Unbiased for the squared error: mean within ~3.5 standard errors of 0 ...
    assert abs(sq.mean()) < 5e-4
    # ... where the uncorrected squared error averages about ten times that.
    assert raw_sq.mean() > 10 * 5e-4 * 0.8
    assert (sq < 0).mean() > 0.3  # a real unbiased estimator of 0 goes negative


def test_estimators_recover_a_known_miscalibration():
    # True P(y=1 | p) = p**2 with p ~ U(0, 1): p - p**2 >= 0 everywhere, so every binning's L1
    # error is E[p - p**2] = 1/6; the L2 error of 10 equal-width bins follows from the bin means.
    rng = np.random.default_rng(7)
    n = 200_000
    p = rng.uniform(0.0, 1.0, n)
    y = (rng.random(n) < p**2).astype(int)
    e = np.linspace(0.0, 1.0, 11)
    lo, hi = e[:-1], e[1:]
    gap = (lo + hi) / 2 - (lo**2 + lo * hi + hi**2) / 3  # mean of p - p**2 over each bin
    true_l2 = float(np.sqrt(np.sum(0.1 * gap**2)))
    assert true_l2 == pytest.approx(0.18182, abs=1e-4)
    assert expected_calibration_error(y, p) == pytest.approx(1 / 6, abs=0.003)
    assert expected_calibration_error(y, p, estimator="sweep") == pytest.approx(1 / 6, abs=0.003)
    assert debiased_calibration_error(y, p) == pytest.approx(true_l2, abs=0.003)
    assert debiased_calibration_error(y, p, squared=True) == pytest.approx(true_l2**2, abs=0.001)
    # A smaller sample still lands near the truth (the debiased value is not shrunk to 0).
    assert debiased_calibration_error(y[:2000], p[:2000]) == pytest.approx(true_l2, abs=0.03)


def test_sweep_is_the_quantile_ece_at_a_monotone_bin_count():
    # Perfectly separated: every refinement stays monotone, so the sweep ends at one row per bin.
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.4])
    assert expected_calibration_error(y, p, estimator="sweep") == pytest.approx(0.4)
    assert expected_calibration_error(y, p, n_bins=1) == pytest.approx(0.25)
    y2, p2 = _calibrated_draw(800, 3)
    sweep = expected_calibration_error(y2, p2, estimator="sweep")
    candidates = [expected_calibration_error(y2, p2, n_bins=b, strategy="quantile")
                  for b in range(1, 60)]
    assert np.isclose(candidates, sweep, rtol=0, atol=1e-12).any()
    # Few bins on a small calibrated sample: less bias than 10 fixed bins, on average.
    draws = [_calibrated_draw(300, 2000 + s) for s in range(100)]
    assert (np.mean([expected_calibration_error(a, b, estimator="sweep") for a, b in draws])
            < 0.85 * np.mean([expected_calibration_error(a, b) for a, b in draws]))


def test_noise_floor_shrinks_with_n_and_matches_its_definition():
    rng = np.random.default_rng(11)
    means, q95s = [], []
    for n in (100, 1000, 10_000, 200_000):
        floor = calibration_noise_floor(rng.uniform(0.05, 0.95, n), n_sim=200, random_state=1)
        assert isinstance(floor, CalibrationNoiseFloor)
        assert floor.n == n and floor.n_sim == 200 and np.isnan(floor.p_value)
        assert floor.q95 > floor.mean > 0
        means.append(floor.mean)
        q95s.append(floor.q95)
    assert np.all(np.diff(means) < 0) and np.all(np.diff(q95s) < 0)
    assert means[0] > 0.08  # 100 rows: a calibrated model shows ECE ~0.1
    assert means[-1] < 0.003 and q95s[-1] < 0.004  # ~0 for huge n
    # Mean ~ sum_b sqrt(2 / pi) sd(sum of y_b) / n (normal approximation, good for big bins).
    p = rng.uniform(0.05, 0.95, 20_000)
    ids = np.minimum((p * 10).astype(int), 9)
    var_b = np.bincount(ids, weights=p * (1 - p), minlength=10)
    approx = float(np.sum(np.sqrt(2 / np.pi) * np.sqrt(var_b)) / len(p))
    assert calibration_noise_floor(p, n_sim=400).mean == pytest.approx(approx, rel=0.05)
    # ... and the plug-in ECE of independently drawn calibrated labels follows that distribution.
    p6 = rng.uniform(0.05, 0.95, 600)
    ece = [expected_calibration_error((rng.random(600) < p6).astype(int), p6) for _ in range(300)]
    floor6 = calibration_noise_floor(p6, n_sim=1000, random_state=5)
    assert np.mean(ece) == pytest.approx(floor6.mean, rel=0.08)
    assert np.quantile(ece, 0.95) == pytest.approx(floor6.q95, rel=0.12)
    # Resampling the scores too (Bröcker & Smith) barely moves it for spread-out scores.
    floor_rs = calibration_noise_floor(p6, n_sim=300, resample_scores=True, random_state=5)
    assert floor_rs.mean == pytest.approx(floor6.mean, rel=0.1)


def test_noise_floor_of_the_bias_reduced_estimators_and_p_value():
    p = np.random.default_rng(12).uniform(0.05, 0.95, 600)
    plugin = calibration_noise_floor(p, n_sim=500)
    debiased = calibration_noise_floor(p, estimator="debiased", n_sim=500)
    sweep = calibration_noise_floor(p, estimator="sweep", n_sim=200)
    assert debiased.mean < 0.45 * plugin.mean
    assert sweep.mean < plugin.mean
    # Quantile bins are fixed by the scores, so the vectorised path handles them too.
    assert calibration_noise_floor(p, strategy="quantile", n_sim=300).mean == pytest.approx(
        plugin.mean, rel=0.15)
    assert calibration_noise_floor(p, n_sim=99, observed=1.0).p_value == pytest.approx(0.01)
    assert calibration_noise_floor(p, n_sim=99, observed=0.0).p_value == pytest.approx(1.0)
    mid = calibration_noise_floor(p, n_sim=500, observed=plugin.mean).p_value
    assert 0.3 < mid < 0.7
    # Same seed, same answer; a Generator is accepted.
    first, again = (calibration_noise_floor(p, n_sim=50, random_state=3) for _ in range(2))
    np.testing.assert_array_equal(first.samples, again.samples)
    assert first.samples.shape == (50,)
    assert (first.mean, first.q95) == (first.samples.mean(), np.quantile(first.samples, 0.95))
    calibration_noise_floor(p, n_sim=10, random_state=np.random.default_rng(0))


def test_bias_reduced_estimators_validate_inputs():
    y, p = _calibrated_draw(50, 0)
    with pytest.raises(ValueError, match="estimator"):
        expected_calibration_error(y, p, estimator="bootstrap")
    with pytest.raises(ValueError, match="estimator"):
        calibration_noise_floor(p, estimator="bootstrap")
    with pytest.raises(ValueError, match="strategy"):
        expected_calibration_error(y, p, strategy="median", estimator="sweep")
    with pytest.raises(ValueError, match="n_bins"):
        debiased_calibration_error(y, p, n_bins=0)
    with pytest.raises(ValueError, match="within"):
        debiased_calibration_error(y, p + 1)
    with pytest.raises(ValueError, match="0/1"):
        debiased_calibration_error(np.full(50, 2), p)
    with pytest.raises(ValueError, match="n_sim"):
        calibration_noise_floor(p, n_sim=0)
    with pytest.raises(ValueError, match="empty"):
        calibration_noise_floor([])
    with pytest.raises(ValueError, match="within"):
        calibration_noise_floor(np.array([0.2, 1.5]))
    with pytest.raises(ValueError, match="NaN"):
        calibration_noise_floor(np.array([0.2, np.nan]))
    with pytest.raises(ValueError, match="strategy"):
        calibration_noise_floor(p, strategy="median")
    assert np.isnan(debiased_calibration_error([], []))
    assert np.isnan(expected_calibration_error([], [], estimator="sweep"))
    # Single-row bins carry no variance estimate and add nothing.
    assert debiased_calibration_error([1], [0.3], squared=True) == 0.0


def test_calibration_by_group_optional_bias_columns(miscal):
    _, (pe, ye, ge, _) = miscal
    table = calibration_by_group(ye, pe, ge, debiased=True, noise_floor_sims=200)
    assert list(table.columns) == [
        "n", "in_gaps", "mean_predicted", "fraction_positive", "ece_uniform", "ece_quantile",
        "ece_debiased_l2", "ece_sweep", "noise_floor_mean", "noise_floor_q95",
    ]
    mask = ge == "b"
    assert table.loc["b", "ece_debiased_l2"] == pytest.approx(
        debiased_calibration_error(ye[mask], pe[mask]))
    # The temperature-3 group stands far above its noise floor; the calibrated one does not.
    assert table.loc["a", "ece_uniform"] > 5 * table.loc["a", "noise_floor_q95"]
    assert table.loc["b", "ece_uniform"] < table.loc["b", "noise_floor_q95"]
    assert table.loc["a", "ece_debiased_l2"] > 0.1
    assert table.attrs["max_group_ece_debiased_l2"] == pytest.approx(
        table["ece_debiased_l2"].max())
    assert "max_group_ece_sweep" in table.attrs
    # Defaults unchanged by the new options.
    plain = calibration_by_group(ye, pe, ge)
    pd.testing.assert_series_equal(plain["ece_uniform"], table["ece_uniform"])


def test_a_bin_whose_rows_all_weigh_nothing_is_left_out_of_the_reliability_table():
    """Oracle audit, session 44: such a bin was shown with NaN means (the docstring says empty bins
    are omitted); the others keep their weighted means and the ECE is unchanged."""
    from fairkit.diagnostics import reliability_curve

    y = np.array([0, 1, 1, 0, 1, 0])
    p = np.array([0.15, 0.18, 0.55, 0.52, 0.95, 0.91])
    w = np.array([1.0, 2.0, 0.0, 0.0, 1.0, 3.0])
    table = reliability_curve(y, p, sample_weight=w)
    assert table["bin"].tolist() == [1, 9]
    assert not table[["mean_predicted", "fraction_positive"]].isna().any().any()
    assert table["fraction_positive"].tolist() == pytest.approx([2 / 3, 0.25])
