"""Group calibration maps: temperature scaling and the per-group calibrator."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit as _sigmoid

from fairkit.calibration import GroupFairnessCalibrator, TemperatureScaling
from fairkit.diagnostics import calibration_by_group, multicalibration_audit


# -- acceptance: group calibration fixes a miscalibrated group ---------------------------------


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_group_calibration_brings_max_group_ece_below_003(miscal, method):
    (p, y, g, _), (pe, ye, ge, _) = miscal
    before = calibration_by_group(ye, pe, ge).attrs["max_group_ece"]
    assert before > 0.1  # the temperature-3 group really is miscalibrated
    cal = GroupFairnessCalibrator(method=method).fit(p, y, g)
    after = calibration_by_group(ye, cal.transform(pe, ge), ge)
    assert after.attrs["max_group_ece"] < 0.03
    assert after.attrs["calibration_disparity"] < 0.03


def test_calibration_does_not_hurt_a_calibrated_model():
    rng = np.random.default_rng(3)
    n_fit, n_eval = 4000, 20000
    g = rng.choice(["a", "b"], n_fit + n_eval)
    z = rng.normal(0, 1.5, n_fit + n_eval)
    y = rng.binomial(1, _sigmoid(z))
    p = _sigmoid(z)
    fit, ev = slice(0, n_fit), slice(n_fit, None)
    cal = GroupFairnessCalibrator(method="platt").fit(p[fit], y[fit], g[fit])
    q = cal.transform(p[ev], g[ev])
    before = calibration_by_group(y[ev], p[ev], g[ev])["ece_uniform"]
    after = calibration_by_group(y[ev], q, g[ev])["ece_uniform"]
    # Bootstrap noise of the "before" ECE: its 97.5 % quantile per group.
    audit = multicalibration_audit(y[ev], p[ev], pd.DataFrame({"g": g[ev]}), n_boot=200)
    upper = audit.set_index("subgroup")["ece_high"]
    for grp in ("a", "b"):
        assert after[grp] <= max(upper[grp], before[grp] + 0.01)


def test_temperature_scaling_recovers_known_temperature():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 1.5, 5000)
    y = rng.binomial(1, _sigmoid(z))
    ts = TemperatureScaling().fit(3.0 * z, y)
    assert ts.temperature_ == pytest.approx(3.0, rel=0.1)
    ts_sharp = TemperatureScaling().fit(z / 2.0, y)
    assert ts_sharp.temperature_ == pytest.approx(0.5, rel=0.1)
    proba = ts.predict_proba(3.0 * z)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(ts.transform(3.0 * z), _sigmoid(3.0 * z / ts.temperature_))


def test_temperature_per_group_through_the_calibrator(miscal):
    (_, y, g, z_obs), (_, ye, ge, ze) = miscal
    cal = GroupFairnessCalibrator(method="temperature", input="logit").fit(z_obs, y, g)
    assert cal.maps_["a"].model.temperature_ == pytest.approx(3.0, rel=0.15)
    assert cal.maps_["b"].model.temperature_ == pytest.approx(1.0, rel=0.15)
    assert calibration_by_group(ye, cal.transform(ze, ge), ge).attrs["max_group_ece"] < 0.03


def test_proba_and_logit_inputs_agree(miscal):
    (p, y, g, z_obs), _ = miscal
    a = GroupFairnessCalibrator(method="platt", input="proba").fit(p, y, g).transform(p, g)
    b = GroupFairnessCalibrator(method="platt", input="logit").fit(z_obs, y, g).transform(z_obs, g)
    np.testing.assert_allclose(a, b, atol=1e-3)


def test_two_column_proba_input_and_global_only(miscalibrated):
    p, y, _, _ = miscalibrated(2000, 5)
    two = np.column_stack([1 - p, p])
    cal = GroupFairnessCalibrator(method="isotonic").fit(two, y)
    out = cal.transform(two)
    assert out.shape == (2000,) and out.min() >= 0 and out.max() <= 1
    assert cal.fallback_ == {} and len(cal.group_names_) == 0


# -- small groups, intersections, unseen groups, shrinkage --------------------------------------


@pytest.fixture(scope="module")
def intersections():
    rng = np.random.default_rng(7)
    n = 3000
    sex = rng.choice(["F", "M"], n)
    race = rng.choice(["A", "B", "C"], n, p=[0.6, 0.37, 0.03])  # "C" is tiny
    z = rng.normal(0, 1.5, n)
    y = rng.binomial(1, _sigmoid(z))
    p = _sigmoid(np.where(sex == "F", 2.0 * z, z))
    frame = pd.DataFrame({"sex": sex, "race": race})
    # One intersection far below the threshold but with large parents.
    return p, y, frame


def test_small_intersection_falls_back_to_parent_and_reports_it(intersections):
    p, y, frame = intersections
    cal = GroupFairnessCalibrator(method="platt", min_group_size=120).fit(p, y, frame)
    names = set(cal.group_names_.tolist())
    assert "F & A" in names and "M & C" in names
    assert "F & A" not in cal.fallback_  # large intersection: own map
    fb = cal.fallback_["M & C"]
    # race=C is small as a marginal too, so the parent is sex=M.
    assert fb["used"] == "sex=M"
    assert fb["reason"].endswith("rows, fewer than 120: a map of its own would be uncertain")
    assert cal.groups_.loc["M & C", "source"] == "parent"
    # The fallback group is scored with its parent's map.
    mask = ((frame["sex"] == "M") & (frame["race"] == "C")).to_numpy()
    expected = cal.parent_maps_["sex=M"](np.log(p[mask] / (1 - p[mask])), p[mask])
    np.testing.assert_allclose(cal.transform(p, frame)[mask], expected)


def test_groups_without_any_large_parent_use_global():
    rng = np.random.default_rng(1)
    n = 600
    g = np.where(np.arange(n) < 10, "tiny", rng.choice(["x", "y"], n))
    p = rng.uniform(0.05, 0.95, n)
    y = rng.binomial(1, p)
    cal = GroupFairnessCalibrator(method="isotonic", min_group_size=50).fit(p, y, g)
    assert cal.fallback_["tiny"]["used"] == "(global)"
    mask = g == "tiny"
    np.testing.assert_allclose(
        cal.transform(p, g)[mask], cal.global_map_(np.zeros(mask.sum()), p[mask])
    )


def test_single_class_group_falls_back():
    rng = np.random.default_rng(2)
    n = 400
    g = rng.choice(["x", "y"], n)
    p = rng.uniform(0.05, 0.95, n)
    y = np.where(g == "y", 0, rng.binomial(1, p))
    cal = GroupFairnessCalibrator(method="platt", min_group_size=10).fit(p, y, g)
    assert "all have the same outcome" in cal.fallback_["y"]["reason"]


def test_unseen_group_uses_global_map_with_warning(miscalibrated):
    p, y, g, _ = miscalibrated(2000, 4)
    cal = GroupFairnessCalibrator(method="platt").fit(p, y, g)
    g_new = np.where(np.arange(2000) < 50, "zeta", g)
    with pytest.warns(UserWarning, match="zeta"):
        out = cal.transform(p, g_new)
    z = np.log(p[:50] / (1 - p[:50]))
    np.testing.assert_allclose(out[:50], cal.global_map_(z, p[:50]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cal.transform(p, g)  # known groups: no warning


def test_transform_requires_groups_when_fitted_per_group(miscalibrated):
    p, y, g, _ = miscalibrated(500, 4)
    cal = GroupFairnessCalibrator().fit(p, y, g)
    with pytest.raises(ValueError, match="groups="):
        cal.transform(p)


def test_bad_inputs_give_clear_errors(miscalibrated):
    p, y, g, _ = miscalibrated(300, 4)
    with pytest.raises(ValueError, match="method"):
        GroupFairnessCalibrator(method="beta").fit(p, y, g)
    with pytest.raises(ValueError, match="input='logit'"):
        GroupFairnessCalibrator().fit(p * 4 - 2, y, g)
    with pytest.raises(ValueError, match="0/1"):
        GroupFairnessCalibrator().fit(p, y + 1, g)


def test_sensitive_features_is_the_estimators_spelling_of_groups(miscalibrated):
    p, y, g, _ = miscalibrated(500, 4)
    ref = GroupFairnessCalibrator().fit(p, y, g)
    cal = GroupFairnessCalibrator().fit(p, y, sensitive_features=g)
    np.testing.assert_array_equal(cal.group_names_, ref.group_names_)
    np.testing.assert_array_equal(cal.transform(p, sensitive_features=g), ref.transform(p, g))
    np.testing.assert_array_equal(GroupFairnessCalibrator().fit_transform(p, y, sensitive_features=g),
                                  ref.transform(p, groups=g))
    with pytest.raises(ValueError, match="not both"):
        GroupFairnessCalibrator().fit(p, y, g, sensitive_features=g)
    with pytest.raises(ValueError, match="sensitive_features="):
        cal.transform(p)


def test_labels_other_than_0_1_take_the_pos_label_the_message_asks_for(miscalibrated):
    p, y, g, _ = miscalibrated(500, 4)
    words = np.where(y == 1, "good", "bad")
    with pytest.raises(ValueError, match="pass pos_label="):
        GroupFairnessCalibrator().fit(p, words, g)
    cal = GroupFairnessCalibrator().fit(p, words, g, pos_label="good")
    np.testing.assert_allclose(cal.transform(p, g), GroupFairnessCalibrator().fit(p, y, g).transform(p, g))


def test_negative_sample_weights_are_refused_as_by_the_estimators(miscalibrated):
    p, y, g, _ = miscalibrated(300, 4)
    with pytest.raises(ValueError, match="negative value"):
        GroupFairnessCalibrator().fit(p, y, g, sample_weight=-np.ones(len(p)))
    with pytest.raises(ValueError, match="sample_weight is zero for every row"):
        GroupFairnessCalibrator().fit(p, y, g, sample_weight=np.zeros(len(p)))
    with pytest.raises(ValueError, match="sample_weight"):
        GroupFairnessCalibrator().fit(p, y, g, sample_weight=np.ones(len(p) - 1))


def test_fixed_shrinkage_blends_with_weight_n_over_n_plus_k(miscal):
    (p, y, g, z), _ = miscal
    k = 500.0
    plain = GroupFairnessCalibrator(method="platt").fit(p, y, g)
    shrunk = GroupFairnessCalibrator(method="platt", shrinkage=k).fit(p, y, g)
    n_a = int((g == "a").sum())
    w = n_a / (n_a + k)
    assert shrunk.groups_.loc["a", "weight"] == pytest.approx(w)
    mask = g == "a"
    own = plain.maps_["a"](z[mask], p[mask])
    expected = w * own + (1 - w) * plain.global_map_(z[mask], p[mask])
    np.testing.assert_allclose(shrunk.transform(p, g)[mask], expected, atol=1e-6)


def test_empirical_bayes_shrinkage_adapts_to_between_group_differences():
    rng = np.random.default_rng(11)
    n = 4000
    g = rng.choice(["a", "b", "c", "d"], n)
    z = rng.normal(0, 1.5, n)
    y = rng.binomial(1, _sigmoid(z))
    alike = GroupFairnessCalibrator(shrinkage=True).fit(_sigmoid(z), y, g)
    offsets = pd.Series({"a": -1.0, "b": -0.3, "c": 0.4, "d": 1.0})
    y_diff = rng.binomial(1, _sigmoid(z + offsets[g].to_numpy()))
    distinct = GroupFairnessCalibrator(shrinkage=True).fit(_sigmoid(z), y_diff, g)
    # Identical groups are pooled hard; groups that differ keep their own maps.
    assert alike.shrinkage_k_ > 10 * distinct.shrinkage_k_
    assert distinct.groups_["weight"].min() > 0.9
    assert alike.groups_["weight"].max() < 0.9


def test_calibrator_pickles(miscal):
    (p, y, g, _), _ = miscal
    for method in ("platt", "isotonic", "temperature"):
        cal = GroupFairnessCalibrator(method=method).fit(p[:1000], y[:1000], g[:1000])
        again = pickle.loads(pickle.dumps(cal))
        np.testing.assert_allclose(again.transform(p[:50], g[:50]), cal.transform(p[:50], g[:50]))


def test_transform_refuses_columns_that_are_not_fits(miscalibrated):
    """Columns in another order would give every row the global map (with a warning only); they
    are refused, naming what differs. Values none of which fit saw keep the global map, and the
    warning says the likelier cause."""
    p, y, g, _ = miscalibrated(1200, 4)
    S = pd.DataFrame({"g": g, "h": np.where(np.arange(1200) % 2 == 0, "even", "odd")})
    cal = GroupFairnessCalibrator(method="platt").fit(p, y, S)
    with pytest.raises(ValueError, match="in another order"):
        cal.transform(p, S[["h", "g"]])
    with pytest.warns(UserWarning, match="None of the rows' groups was seen"):
        out = cal.transform(p, S.apply(lambda c: c.str.upper()))
    z = np.log(p / (1 - p))
    np.testing.assert_allclose(out, cal.global_map_(z, p), atol=1e-3)  # the transform bounds the extremes


def test_a_group_whose_platt_map_would_fall_keeps_the_order_of_its_scores():
    """Method claims audit, session 47 (F4): a COMPAS group of 56 rows whose scores barely ranked
    its outcomes got a falling Platt line, which reversed the ranking inside it (test AUC 0.621
    -> 0.379). Such a group now uses its fallback, said in ``fallback_``."""
    rng = np.random.default_rng(0)
    n = 2000
    g = np.where(np.arange(n) < 60, "B", "A")
    p = rng.uniform(0.05, 0.95, n)
    y = (rng.random(n) < p).astype(int)
    y[:60] = (rng.random(60) < 1 - p[:60]).astype(int)  # in B the scores rank the outcomes backwards
    cal = GroupFairnessCalibrator(method="platt").fit(p, y, g)
    assert "B" not in cal.maps_ and "A" in cal.maps_
    assert cal.fallback_["B"]["used"] == "(global)"
    assert "the scores do not rank the outcomes" in cal.fallback_["B"]["reason"]
    out = cal.transform(p, g)
    order = np.argsort(p[:60])
    assert np.all(np.diff(out[:60][order]) >= 0)  # B's calibrated scores keep its order


def _two_groups(n=800, seed=0):
    rng = np.random.default_rng(seed)
    g = np.where(rng.random(n) < 0.5, "A", "B")
    p = np.clip(rng.beta(2, 2, n), 0.01, 0.99)
    y = (rng.random(n) < p).astype(int)
    return p, y, g


@pytest.mark.parametrize("method", ["platt", "isotonic", "temperature"])
def test_a_group_whose_weights_are_all_zero_falls_back_and_says_why(method):
    """Calibration audit, session 50: with temperature, every score of such a group was NaN and
    every row of it decided negative, without an error; platt and isotonic failed in
    scikit-learn naming no group."""
    p, y, g = _two_groups()
    w = np.where(g == "A", 0.0, 1.0)
    cal = GroupFairnessCalibrator(method=method).fit(p, y, g, sample_weight=w)
    assert cal.fallback_["A"]["reason"].endswith("rows all have weight 0")
    out = cal.transform(p, g)
    assert np.isfinite(out).all() and "A" not in cal.maps_


def test_temperature_scaling_refuses_weights_and_outcomes_it_cannot_fit():
    p, y, _ = _two_groups()
    for bad, said in ((-np.ones(len(p)), "(?i)negative"), (np.zeros(len(p)), "zero for every row"), (np.ones(3), "")):
        with pytest.raises(ValueError, match=said):
            TemperatureScaling(input="proba").fit(p, y, sample_weight=bad)
    with pytest.raises(ValueError, match="single class"):
        TemperatureScaling(input="proba").fit(p, np.ones_like(y))


def test_a_platt_map_of_all_rows_that_would_reverse_every_groups_order_is_not_used():
    """Calibration audit, session 50: groups refused a falling map of their own fell back to a
    global map that fell too: every group's order reversed (Spearman -1.0), with no word."""
    from scipy.stats import spearmanr

    p, y, g = _two_groups()
    with pytest.warns(UserWarning, match="do not rank the outcomes"):
        cal = GroupFairnessCalibrator(method="platt").fit(1 - p, y, g)
    out = cal.transform(1 - p, g)
    for group in ("A", "B"):
        assert spearmanr(1 - p[g == group], out[g == group])[0] > 0.99  # the order kept, not reversed


def test_a_refit_without_groups_keeps_nothing_of_a_grouped_fit():
    p, y, g = _two_groups()
    frame = pd.DataFrame({"g": g, "h": np.where(p > 0.5, "x", "y")})
    cal = GroupFairnessCalibrator(method="platt").fit(p, y, frame)
    assert cal.group_columns_ == ["g", "h"] and cal.parent_maps_
    cal.fit(p, y)
    assert cal.group_columns_ == [] and cal.parent_maps_ == {} and len(cal.group_names_) == 0


def test_an_intersection_unseen_in_fit_uses_its_parents_map_as_a_small_seen_one_does():
    """Calibration audit, session 50: an intersection absent from the calibration rows took the
    global map, while one seen with a single row took its marginal group's."""
    p, y, g = _two_groups(n=1200)
    h = np.where(np.arange(len(p)) % 2 == 0, "x", "y")
    h[(g == "A") & (h == "y")] = "x"  # A & y never seen
    frame = pd.DataFrame({"g": g, "h": h})
    cal = GroupFairnessCalibrator(method="platt").fit(p, y, frame)
    assert "A & y" not in set(cal.group_names_) and {"g=A", "h=y"} <= set(cal.parent_maps_)
    probe = np.array([0.2, 0.6, 0.9])
    with pytest.warns(UserWarning, match="smallest marginal group that has one"):
        got = cal.transform(probe, pd.DataFrame({"g": ["A"] * 3, "h": ["y"] * 3}))
    parent = min(["g=A", "h=y"], key=cal.parent_sizes_.get)  # the rule of a small seen intersection
    want = cal._apply_prior(parent, *cal._z_p(probe))
    np.testing.assert_allclose(got, want)
    assert not np.allclose(got, cal.global_map_(*cal._z_p(probe)))


@pytest.mark.parametrize("size", [0, -5, 2.5, True])
def test_a_min_group_size_that_is_no_count_of_rows_is_refused_before_anything_is_fitted(size):
    p, y, g = _two_groups()
    cal = GroupFairnessCalibrator(min_group_size=size)
    for groups in (g, None):
        with pytest.raises(ValueError, match="min_group_size must be a whole number of rows"):
            cal.fit(p, y, groups)
    assert not hasattr(cal, "global_map_")
    GroupFairnessCalibrator(min_group_size=30.0).fit(p, y, g)  # a whole number written as a float


@pytest.mark.parametrize("h", [np.array([1, 2], dtype=object), np.array([1.5, np.nan], dtype=object)])
def test_an_unseen_intersection_finds_its_parent_whatever_the_columns_values(h):
    """Review of session 50: a row read across columns turned 1 into 1.0, and a missing value
    into nan, so no parent map was found and the map of all rows was used."""
    p, y, g = _two_groups(n=1200)
    hh = np.where(np.arange(len(p)) % 2 == 0, h[0], h[1])
    hh[g == "A"] = h[0]  # A & h[1] never seen
    frame = pd.DataFrame({"g": g, "h": hh})
    cal = GroupFairnessCalibrator(method="platt").fit(p, y, frame)
    probe = np.array([0.2, 0.6, 0.9])
    with pytest.warns(UserWarning):
        got = cal.transform(probe, pd.DataFrame({"g": ["A"] * 3, "h": [h[1]] * 3}))
    assert not np.allclose(got, cal.global_map_(*cal._z_p(probe)))  # a parent's map, not the map of all rows


def test_the_record_says_which_groups_have_no_calibration_map_of_their_own():
    """Calibration audit, session 50: 4 of COMPAS's 10 groups used a parent's map, which the
    record did not say (only "platt per group of race & sex")."""
    from fairkit.export import calibration_info
    from fairkit.record import calibration_fallbacks_text

    p, y, g = _two_groups()
    g = g.copy()
    g[:12] = "C"  # 12 rows: under the 30 a map of its own needs
    info = calibration_info(GroupFairnessCalibrator(method="platt").fit(p, y, g))
    assert info["fallbacks"] == {"C": "the map of all rows: 12 rows, fewer than 30: a map of its own would be uncertain"}
    assert calibration_fallbacks_text(info) == ("Groups without a calibration map of their own: C uses the map of all "
                                                "rows: 12 rows, fewer than 30: a map of its own would be uncertain.")
    assert calibration_fallbacks_text({"method": "platt", "grouping": ["g"]}) == ""
    # One row is "1 row" (the demo notebook's COMPAS record read "1 rows": session 52).
    g[:12] = g[12]
    g[0] = "D"
    assert calibration_info(GroupFairnessCalibrator(method="platt").fit(p, y, g))["fallbacks"] == {
        "D": "the map of all rows: 1 row, fewer than 30: a map of its own would be uncertain"}


@pytest.mark.parametrize("method", ["platt", "isotonic", "temperature"])
def test_rows_of_weight_zero_are_no_one_to_the_group_maps(method):
    """Weights audit, session 51 (F2): a group of 40 rows, 3 of them weighted, got a map of its
    own fitted on the 3 (isotonic: 0.333 for every score). Rows of weight 0 count as none: the
    calibrator equals the one fitted without them, shrinkage included."""
    import warnings

    rng = np.random.default_rng(2)
    g = np.array(["A"] * 300 + ["B"] * 300 + ["C"] * 40)
    y = rng.integers(0, 2, 640)
    s = np.clip(0.25 + 0.5 * y + rng.normal(0, .2, 640), .01, .99)
    y[600:603], s[600:603] = [1, 0, 0], [0.2, 0.8, 0.9]
    w = np.ones(640)
    w[603:] = 0
    keep = w > 0
    probe = np.linspace(0.05, 0.95, 7)
    for shrinkage in (False, True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = GroupFairnessCalibrator(method=method, shrinkage=shrinkage).fit(s, y, g, sample_weight=w)
            b = GroupFairnessCalibrator(method=method, shrinkage=shrinkage).fit(s[keep], y[keep], g[keep],
                                                                            sample_weight=w[keep])
        assert a.groups_.loc["C", "source"] == b.groups_.loc["C", "source"] == "global"
        assert a.groups_.loc["C", "n"] == 3 and "3 rows with weight (of 40)" in a.fallback_["C"]["reason"]
        assert a.shrinkage_k_ == pytest.approx(b.shrinkage_k_, rel=1e-9)
        for group in "ABC":
            np.testing.assert_allclose(a.transform(probe, [group] * 7), b.transform(probe, [group] * 7), atol=1e-9)


@pytest.mark.parametrize("method", ["platt", "isotonic", "temperature"])
def test_shrinkage_reads_the_weights_and_not_their_scale(method):
    """Weights audit, session 51 (F3): shrinkage ignored sample_weight (k 1e7 weighted against 45
    on the rows repeated). Equal weights of any scale give the unweighted k and maps; unequal
    weights move k."""
    rng = np.random.default_rng(0)
    n = 900
    g = rng.choice(["A", "B", "C"], n)
    y = rng.integers(0, 2, n)
    s = np.clip(0.3 + 0.4 * y + 0.1 * (g == "B") + rng.normal(0, .2, n), .01, .99)
    plain = GroupFairnessCalibrator(method=method, shrinkage=True).fit(s, y, g)
    scaled = GroupFairnessCalibrator(method=method, shrinkage=True).fit(s, y, g, sample_weight=np.full(n, 2.5))
    # Platt's logistic fit is barely regularised, and the penalty does not scale with the weights:
    # its map moves by about 1e-6.
    assert scaled.shrinkage_k_ == pytest.approx(plain.shrinkage_k_, rel=1e-5)
    for group in "ABC":
        assert scaled.weight_[group] == pytest.approx(plain.weight_[group], rel=1e-5)
    w = np.where((g == "B") & (y == 1), 3.0, 1.0)
    weighted = GroupFairnessCalibrator(method=method, shrinkage=True).fit(s, y, g, sample_weight=w)
    assert weighted.shrinkage_k_ != pytest.approx(plain.shrinkage_k_, rel=1e-6)


def test_the_check_names_the_map_of_a_group_the_calibrator_never_saw():
    """Review of session 51: the Groups page called the map of a group with no validation rows
    "own" (it took a marginal group's), while the record named the marginal map."""
    from types import SimpleNamespace

    from fairkit.calibration import NO_ROWS_WHERE_FITTED, CalibrationCheck

    rng = np.random.default_rng(0)
    fit = pd.DataFrame({"race": rng.choice(["a", "b"], 600), "sex": rng.choice(["f", "m"], 600)})
    fit.loc[(fit.race == "b") & (fit.sex == "f"), "sex"] = "m"
    y = rng.integers(0, 2, 600)
    s = np.clip(0.3 + 0.4 * y + rng.normal(0, .2, 600), .01, .99)
    cal = GroupFairnessCalibrator(method="platt").fit(s, y, fit)
    test = pd.DataFrame({"race": rng.choice(["a", "b"], 400), "sex": rng.choice(["f", "m"], 400)})
    yt = rng.integers(0, 2, 400)
    st_ = np.clip(0.3 + 0.4 * yt + rng.normal(0, .2, 400), .01, .99)
    with pytest.warns(UserWarning, match="'b & f' with the map of sex = f"):
        check = CalibrationCheck.on(cal, SimpleNamespace(y=yt, sensitive=test), st_)
    table = check.per_group().set_index("group")
    assert table.loc["b & f", "map"] == "sex=f" and table.loc["a & f", "map"] == "own"
    assert check.fallbacks()["b & f"] == {"used": "sex=f", "reason": NO_ROWS_WHERE_FITTED}


@pytest.mark.parametrize("method", ["platt", "isotonic", "temperature"])
def test_weights_on_one_outcome_only_are_refused(method):
    """Review of session 51: with weight 0 on every positive row the calibrator was fitted on
    negatives alone and every calibrated score came out 0."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = np.clip(0.3 + 0.4 * y + rng.normal(0, .2, 300), .01, .99)
    with pytest.raises(ValueError, match="only one class has a positive sample_weight"):
        GroupFairnessCalibrator(method=method).fit(s, y, rng.choice(["a", "b"], 300), sample_weight=1.0 - y)


def test_the_pages_and_the_record_list_the_same_groups_without_a_map_of_their_own():
    """Numbers audit, session 53: the Groups and Export pages listed the fallbacks of the test
    rows (5 of COMPAS's groups), the record those of the whole table (6: one group had no test
    row). One list (fallback_maps) over the table's sensitive columns, and the check's own list
    of its checked rows beside it."""
    from types import SimpleNamespace

    from fairkit.calibration import CalibrationCheck, fallback_maps
    from fairkit.export import calibration_info

    p, y, g = _two_groups(n=1200)
    h = np.where(np.arange(len(p)) % 2 == 0, "x", "y")
    h[(g == "A") & (h == "y")] = "x"  # A & y never seen where the calibrator is fitted
    cal = GroupFairnessCalibrator(method="platt").fit(p, y, pd.DataFrame({"g": g, "h": h}))
    table = pd.DataFrame({"g": ["A", "B", "A"], "h": ["y", "x", "x"]})  # A & y only outside the checked rows
    checked = SimpleNamespace(y=np.array([0, 1, 1, 0]), sensitive=pd.DataFrame({"g": ["B", "B", "A", "A"],
                                                                               "h": ["x", "y", "x", "x"]}))
    check = CalibrationCheck.on(cal, checked, np.array([0.2, 0.7, 0.6, 0.3]))
    assert "A & y" not in check.fallbacks() and "A & y" in check.fallbacks(table)
    assert check.fallbacks(table) == fallback_maps(cal, table)
    assert set(calibration_info(cal, table)["fallbacks"]) == set(check.fallbacks(table))
