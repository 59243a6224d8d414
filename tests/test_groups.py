import numpy as np
import pandas as pd
import pytest

from fairkit.groups import encode_groups, group_hierarchy, group_labels, one_hot, small_groups


def test_intersection_labels_and_missing():
    frame = pd.DataFrame({"sex": ["F", "M", None], "race": ["B", "W", "W"]})
    assert group_labels(frame).tolist() == ["F & B", "M & W", "(missing) & W"]
    assert group_labels(frame, ["race"]).tolist() == ["B", "W", "W"]


def test_encode_with_known_names_marks_unseen():
    enc = encode_groups(["a", "b", "a"])
    assert enc.names.tolist() == ["a", "b"] and enc.codes.tolist() == [0, 1, 0]
    new = encode_groups(["b", "c"], names=enc.names)
    assert new.codes.tolist() == [1, -1]
    assert one_hot(new.codes, 2).tolist() == [[0, 1], [0, 0]]


def test_hierarchy_marginals_then_intersection():
    frame = pd.DataFrame({"a": list("xxyy"), "b": list("pqpq")})
    levels = group_hierarchy(frame)
    assert [lv.name for lv in levels] == ["a", "b", "a & b"]
    assert levels[-1].encoding.n_groups == 4
    assert len(group_hierarchy(frame[["a"]])) == 1


def test_small_groups_and_counts():
    labels = ["a"] * 5 + ["b"] * 2
    assert small_groups(labels, 3).to_dict() == {"b": 2}
    assert encode_groups(labels).counts().tolist() == [5, 2]
    assert encode_groups(np.array([[1, 2], [1, 3]])).names.tolist() == ["1 & 2", "1 & 3"]


def test_small_group_pooling():
    from fairkit.groups import POOLED, SmallGroupPooling

    labels = ["a"] * 40 + ["b"] * 35 + ["c"] * 3 + ["d"] * 2
    pool = SmallGroupPooling.fit(labels, min_size=30)
    assert pool.kept == ("a", "b") and pool.pooled == ("c", "d")
    out = pool.transform(["a", "c", "d", "new"]).tolist()
    assert out == ["a", POOLED, POOLED, POOLED]
    assert SmallGroupPooling.from_dict(pool.to_dict()) == pool
    # Nothing to pool, or everything small: labels pass through unchanged.
    assert SmallGroupPooling.fit(["a"] * 40 + ["b"] * 40).pooled == ()
    assert SmallGroupPooling.fit(["a", "b", "c"]).transform(["a", "b"]).tolist() == ["a", "b"]


def test_one_small_group_policy_for_training_and_group_thresholds():
    """The split's pooling and the threshold post-processor's pooling are one rule (issue 15)."""
    import numpy as np

    from fairkit.estimators.postprocess import ThresholdPostProcessor
    from fairkit.groups import MIN_GROUP_SIZE, POOLED, SmallGroupPooling

    rng = np.random.default_rng(0)
    labels = np.array(["big"] * 200 + ["mid"] * 60 + ["small"] * 25 + ["tiny"] * 8, dtype=object)
    y = rng.integers(0, 2, len(labels))
    y[labels == "mid"] = 1  # one-sided: no thresholds can be fitted for it
    X = rng.normal(size=(len(labels), 3))
    post = ThresholdPostProcessor(grid_size=20, constraint="equalized_odds").fit(X, y, sensitive_features=labels)
    policy = SmallGroupPooling.fit(labels, MIN_GROUP_SIZE, y=y)
    assert post.min_group_size == MIN_GROUP_SIZE
    assert post.pooled_groups_ == list(policy.pooled) == ["mid", "small", "tiny"]
    assert post.pool_target_ == policy.target == POOLED
    # A selection rate needs no second outcome: under demographic parity "mid" keeps its own
    # thresholds (estimators audit, session 51).
    dp = ThresholdPostProcessor(grid_size=20).fit(X, y, sensitive_features=labels)
    assert dp.pooled_groups_ == list(SmallGroupPooling.fit(labels, MIN_GROUP_SIZE, y=y, needs=()).pooled) \
        == ["small", "tiny"]
    # Without outcomes (training groups), only size counts.
    assert SmallGroupPooling.fit(labels, MIN_GROUP_SIZE).pooled == ("small", "tiny")
    # A pool with one outcome cannot have thresholds of its own: it joins the largest group.
    y2 = y.copy()
    y2[np.isin(labels, ["small", "tiny", "mid"])] = 1
    assert SmallGroupPooling.fit(labels, MIN_GROUP_SIZE, y=y2).target == "big"
    # Old bundles (no target recorded) keep pooling under POOLED.
    old = SmallGroupPooling.from_dict({"kept": ["big"], "pooled": ["tiny"], "min_size": 30})
    assert old.transform(["tiny", "unseen", "big"]).tolist() == [POOLED, POOLED, "big"]


def test_intersections_whose_labels_would_read_the_same_are_kept_apart():
    """Oracle audit, session 44: ("x & y", "z") and ("x", "y & z") both read "x & y & z": one group
    of 80 rows at rate 0.5 where fairlearn's MetricFrame has 1.0 and 0.0, so the intersection's
    gap read 0.5 instead of 1.0. Parts holding the separator are quoted, only when labels collide."""
    from fairkit.metrics import fairness_report

    frame = pd.DataFrame({"s1": ["x & y"] * 40 + ["x"] * 40 + ["w"] * 40, "s2": ["z"] * 40 + ["y & z"] * 40 + ["z"] * 40})
    labels = group_labels(frame)
    assert labels.nunique() == 3
    assert set(labels) == {'"x & y" & z', 'x & "y & z"', "w & z"}
    y = np.zeros(120, dtype=int)
    decisions = np.r_[np.ones(40), np.zeros(40), np.ones(40)].astype(int)
    report = fairness_report(y, decisions, frame)
    assert report.gaps.loc["s1 & s2", "demographic_parity_difference"] == pytest.approx(1.0)
    # Without a collision the labels are as before (bundles keyed by them keep working).
    plain = pd.DataFrame({"s1": ["x & y", "w"], "s2": ["z", "z"]})
    assert group_labels(plain).tolist() == ["x & y & z", "w & z"]
