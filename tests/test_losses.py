"""Tests of fairkit.losses against slow, loop-based reference computations."""

import math
import time

import numpy as np
import pandas as pd
import pytest
import torch

from fairkit.groups import group_hierarchy
from fairkit.losses import (
    DemographicParityLoss,
    DependencePenaltyLoss,
    EqualizedOddsLoss,
    EqualOpportunityLoss,
    FairnessLoss,
    FairnessRegularizerLoss,
    GapPenalty,
    IntersectionalFairnessLoss,
    Membership,
    SelectionRate,
    TruePositiveRate,
    make_fairness_loss,
    weighted_bce_with_logits,
)


# ------------------------------------------------------------------ slow reference


def ref_rates(scores, labels, codes, w, condition, n_groups):
    """Per-group weighted mean score with plain Python loops."""
    rate, weight, n_eff = [], [], []
    for g in range(n_groups):
        num = den = den2 = 0.0
        for i in range(len(scores)):
            if codes[i] != g or (condition is not None and labels[i] != condition):
                continue
            num += w[i] * scores[i]
            den += w[i]
            den2 += w[i] ** 2
        rate.append(num / den if den > 0 else 0.0)
        weight.append(den)
        n_eff.append(den**2 / den2 if den > 0 else 0.0)
    num = den = 0.0
    for i in range(len(scores)):
        if condition is None or labels[i] == condition:
            num += w[i] * scores[i]
            den += w[i]
    return rate, weight, n_eff, num / den


def phi(d, penalty):
    return d * d if penalty == "squared" else abs(d)


def ref_gap(rate, weight, a, overall, mode, penalty):
    G = len(rate)
    if mode == "overall":
        num = sum(a[g] * phi(rate[g] - overall, penalty) for g in range(G))
        den = sum(a)
        return num / den if den > 0 else 0.0
    num = den = 0.0
    for g in range(G):
        for h in range(G):
            if g != h:
                num += a[g] * a[h] * phi(rate[g] - rate[h], penalty)
                den += a[g] * a[h]
    return num / den if den > 0 else 0.0


def ref_loss(kind, logits, labels, codes, w, n_groups, mode="pairwise", penalty="squared",
             group_weights=None, shrinkage=None, measure=None):
    scores = [1 / (1 + math.exp(-z)) for z in logits]
    conditions = {"dp": [None], "eo": [1], "eodds": [1, 0], "dep": [None]}[kind]
    total = 0.0
    for cond in conditions:
        rate, weight, n_eff, overall = ref_rates(scores, labels, codes, w, cond, n_groups)
        a = []
        for g in range(n_groups):
            ag = 1.0 if weight[g] > 0 else 0.0
            if group_weights is not None:
                ag *= group_weights[g]
            if shrinkage is not None:
                ag *= n_eff[g] / (n_eff[g] + shrinkage)
            a.append(ag)
        if kind != "dep":
            total += ref_gap(rate, weight, a, overall, mode, penalty)
            continue
        share = [wg / sum(weight) for wg in weight]
        if measure == "mutual_information":
            aw = [a[g] * share[g] for g in range(n_groups)]
            mix = sum(aw[g] * rate[g] for g in range(n_groups)) / sum(aw)
            kl = 0.0
            for g in range(n_groups):
                if aw[g] > 0:
                    r = rate[g]
                    kl += aw[g] * (r * math.log(r / mix) + (1 - r) * math.log((1 - r) / (1 - mix)))
            total += kl / sum(aw)
        elif mode == "overall":
            covs = [share[g] * (rate[g] - overall) for g in range(n_groups)]
            total += sum(a[g] * phi(covs[g], penalty) for g in range(n_groups)) / sum(a)
        else:
            num = den = 0.0
            for g in range(n_groups):
                for h in range(n_groups):
                    if g != h and share[g] + share[h] > 0:
                        p = share[g] / (share[g] + share[h])
                        num += a[g] * a[h] * phi(p * (1 - p) * (rate[g] - rate[h]), penalty)
                        den += a[g] * a[h]
            total += num / den
    return total


# ------------------------------------------------------------------ cases

LOSS_CASES = [
    ("dp", DemographicParityLoss, {}),
    ("eo", EqualOpportunityLoss, {}),
    ("eodds", EqualizedOddsLoss, {}),
    ("dep", DependencePenaltyLoss, {"measure": "covariance"}),
]
MODES = [("pairwise", "squared"), ("pairwise", "absolute"), ("overall", "squared"),
         ("overall", "absolute")]


def all_losses():
    """(id, kind, loss, ref kwargs) for every loss x mode x penalty, plus mutual information."""
    out = []
    for kind, cls, extra in LOSS_CASES:
        for mode, penalty in MODES:
            out.append((f"{kind}-{mode}-{penalty}", kind, cls(mode=mode, penalty=penalty, **extra),
                        dict(mode=mode, penalty=penalty, measure=extra.get("measure"))))
    out.append(("dep-mi", "dep", DependencePenaltyLoss(measure="mutual_information"),
                dict(measure="mutual_information")))
    return out


LOSSES = all_losses()
LOSS_IDS = [c[0] for c in LOSSES]


def batch(n=60, n_groups=3, seed=0, weighted=True):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, generator=g, dtype=torch.float64) * 2
    labels = (torch.rand(n, generator=g, dtype=torch.float64) < 0.5).to(torch.float64)
    codes = torch.randint(0, n_groups, (n,), generator=g)
    w = (torch.rand(n, generator=g, dtype=torch.float64) + 0.5) if weighted else None
    return logits, labels, codes, w


def reference(kind, kw, logits, labels, codes, w, n_groups, **extra):
    wl = [1.0] * len(logits) if w is None else w.tolist()
    return ref_loss(kind, logits.tolist(), labels.tolist(), codes.tolist(), wl, n_groups,
                    **kw, **extra)


# ------------------------------------------------------------------ generic properties


@pytest.mark.parametrize("case", LOSSES, ids=LOSS_IDS)
def test_matches_slow_reference(case):
    _, kind, loss, kw = case
    for seed in range(3):
        logits, labels, codes, w = batch(seed=seed)
        got = float(loss(logits, labels, codes, w))
        want = reference(kind, kw, logits, labels, codes, w, 3)
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("case", LOSSES, ids=LOSS_IDS)
def test_non_negative_and_finite_gradients(case):
    _, _, loss, _ = case
    for seed in range(5):
        logits, labels, codes, w = batch(n=40, n_groups=4, seed=seed)
        logits = logits.clone().requires_grad_(True)
        value = loss(logits, labels, codes, w)
        assert value.ndim == 0
        assert float(value.detach()) >= 0.0
        (grad,) = torch.autograd.grad(value, logits)
        assert torch.isfinite(grad).all()


@pytest.mark.parametrize("case", LOSSES, ids=LOSS_IDS)
def test_zero_when_groups_are_identical(case):
    _, _, loss, _ = case
    logits, labels, _, w = batch(n=25, seed=1)
    # Every group holds an exact copy of the same rows, so every rate is the same.
    k = 4
    logits_k, labels_k, w_k = logits.repeat(k), labels.repeat(k), w.repeat(k)
    codes = torch.arange(k).repeat_interleave(len(logits))
    logits_k.requires_grad_(True)
    value = loss(logits_k, labels_k, codes, w_k)
    assert float(value.detach()) == pytest.approx(0.0, abs=1e-12)
    (grad,) = torch.autograd.grad(value, logits_k)
    assert torch.isfinite(grad).all()


@pytest.mark.parametrize("case", LOSSES, ids=LOSS_IDS)
def test_invariant_to_relabelling_groups(case):
    _, _, loss, _ = case
    logits, labels, codes, w = batch(n=80, n_groups=5, seed=2)
    perm = torch.tensor([3, 0, 4, 1, 2])
    assert float(loss(logits, labels, perm[codes], w)) == pytest.approx(
        float(loss(logits, labels, codes, w)), rel=1e-12, abs=1e-15)
    # A shuffled row order changes nothing either.
    order = torch.randperm(len(logits), generator=torch.Generator().manual_seed(0))
    assert float(loss(logits[order], labels[order], codes[order], w[order])) == pytest.approx(
        float(loss(logits, labels, codes, w)), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("case", LOSSES, ids=LOSS_IDS)
def test_inputs_not_modified(case):
    _, _, loss, _ = case
    logits, labels, codes, w = batch(seed=3)
    logits.requires_grad_(True)
    onehot = torch.nn.functional.one_hot(codes, 3).to(torch.float64)
    before = [t.detach().clone() for t in (logits, labels, codes, w, onehot)]
    loss(logits, labels, codes, w).backward()
    loss(logits, labels, onehot, w)
    for b, a in zip(before, (logits, labels, codes, w, onehot)):
        assert torch.equal(b, a.detach())


@pytest.mark.parametrize("case", LOSSES, ids=LOSS_IDS)
def test_codes_and_one_hot_agree(case):
    _, _, loss, _ = case
    logits, labels, codes, w = batch(seed=4)
    onehot = torch.nn.functional.one_hot(codes, 3).to(torch.float64)
    assert float(loss(logits, labels, onehot, w)) == pytest.approx(
        float(loss(logits, labels, codes, w)), rel=1e-10, abs=1e-14)
    # numpy codes are accepted as well
    assert float(loss(logits, labels, codes.numpy(), w)) == pytest.approx(
        float(loss(logits, labels, codes, w)))


@pytest.mark.parametrize("case", LOSSES, ids=LOSS_IDS)
def test_integer_weights_equal_repeated_rows(case):
    _, _, loss, _ = case
    logits, labels, codes, _ = batch(n=30, seed=5, weighted=False)
    reps = torch.randint(1, 4, (30,), generator=torch.Generator().manual_seed(1))
    weighted = float(loss(logits, labels, codes, reps.to(torch.float64)))
    repeated = float(loss(logits.repeat_interleave(reps), labels.repeat_interleave(reps),
                          codes.repeat_interleave(reps)))
    assert weighted == pytest.approx(repeated, rel=1e-9, abs=1e-14)


@pytest.mark.parametrize("case", LOSSES, ids=LOSS_IDS)
def test_thousand_groups(case):
    _, _, loss, _ = case
    n, G = 20_000, 1000
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(n, generator=g).requires_grad_(True)
    labels = (torch.rand(n, generator=g) < 0.4).float()
    codes = torch.randint(0, G, (n,), generator=g)
    start = time.perf_counter()
    value = loss(logits, labels, codes)
    value.backward()
    assert time.perf_counter() - start < 5.0
    assert torch.isfinite(value) and float(value.detach()) >= 0
    assert torch.isfinite(logits.grad).all()


def test_thousand_groups_matches_reference_on_one_hot():
    n, G = 3000, 1000
    logits, labels, codes, w = batch(n=n, n_groups=G, seed=6)
    onehot = torch.nn.functional.one_hot(codes, G).to(torch.float64)
    for mode, penalty in MODES:
        loss = DemographicParityLoss(mode=mode, penalty=penalty)
        got = float(loss(logits, labels, onehot, w))
        # The loop reference is O(G^2) in Python: compute rates by loop, the gap with numpy.
        rate, weight, _, overall = ref_rates(torch.sigmoid(logits).tolist(), labels.tolist(),
                                             codes.tolist(), w.tolist(), None, G)
        r, a = np.array(rate), (np.array(weight) > 0).astype(float)
        d = r[:, None] - r[None, :] if mode == "pairwise" else r - overall
        p = d**2 if penalty == "squared" else np.abs(d)
        wts = np.outer(a, a) - np.diag(a * a) if mode == "pairwise" else a
        assert got == pytest.approx(float((wts * p).sum() / wts.sum()), rel=1e-9)


# ------------------------------------------------------------------ specific behaviour


@pytest.mark.parametrize("case", LOSSES, ids=LOSS_IDS)
def test_forward_models_equals_each_column_alone(case):
    """K models scored on one batch (the batched eta sweep): values and gradients per column."""
    _, kind, loss, _ = case
    logits, labels, codes, w = batch(n=50, n_groups=4, seed=21)
    K = 5
    cols = torch.stack([logits * (0.3 + 0.4 * k) + 0.2 * k for k in range(K)], 1).requires_grad_(True)
    if not loss.supports_models:
        assert kind == "dep"
        with pytest.raises(NotImplementedError, match="one model at a time"):
            loss.forward_models(cols, labels, codes, w)
        return
    got = loss.forward_models(cols, labels, codes, w)
    assert got.shape == (K,)
    (g_all,) = torch.autograd.grad(got.sum(), cols)
    for k in range(K):
        col = cols[:, k].detach().clone().requires_grad_(True)
        one = loss(col, labels, codes, w)
        (g_one,) = torch.autograd.grad(one, col)
        assert float(got[k].detach()) == pytest.approx(float(one.detach()), rel=1e-12, abs=1e-15)
        torch.testing.assert_close(g_all[:, k], g_one, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("stat", [SelectionRate(), TruePositiveRate()], ids=["selection", "tpr"])
@pytest.mark.parametrize("matrix", [False, True], ids=["codes", "matrix"])
def test_group_rates_of_k_models_with_shared_or_own_weights(stat, matrix):
    """Rates of (n, K) scores equal each column's, with row weights shared or one column per model."""
    logits, labels, codes, w = batch(n=60, n_groups=3, seed=8)
    K = 3
    scores = torch.sigmoid(torch.stack([logits * (1 + k) for k in range(K)], 1))
    own = torch.stack([w * (1 + 0.5 * k) for k in range(K)], 1)
    groups = torch.nn.functional.one_hot(codes, 3).double() if matrix else codes
    for weights in (w, own, None):
        rates = stat(scores, labels, Membership(groups), weights)
        assert rates.rate.shape == rates.weight.shape == rates.n_eff.shape == (3, K)
        assert rates.overall.shape == rates.total.shape == (K,)
        for k in range(K):
            wk = None if weights is None else (weights if weights.dim() == 1 else weights[:, k])
            one = stat(scores[:, k], labels, Membership(groups), wk)
            for name in ("rate", "weight", "n_eff", "overall", "total"):
                torch.testing.assert_close(getattr(rates, name)[..., k], getattr(one, name), rtol=1e-12, atol=1e-14)


def test_forward_models_with_levels_weights_and_shrinkage():
    rng = np.random.default_rng(3)
    S = pd.DataFrame({"sex": rng.choice(["F", "M"], 120), "race": rng.choice(["A", "B", "C"], 120)})
    levels = group_hierarchy(S)
    groups = [torch.as_tensor(lv.encoding.codes) for lv in levels]
    losses = [DemographicParityLoss(adaptive=True, group_weights=np.linspace(1, 2, lv.encoding.n_groups))
              for lv in levels]
    hier = IntersectionalFairnessLoss(losses, levels=[lv.name for lv in levels], level_weights=[1, 1, 2])
    assert hier.supports_models
    logits, labels, _, w = batch(n=120, seed=4)
    cols = torch.stack([logits, -logits, 0.5 * logits], 1)
    got = hier.forward_models(cols, labels, groups, w)
    want = torch.stack([hier(cols[:, k], labels, groups, w) for k in range(3)])
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-15)
    assert not IntersectionalFairnessLoss(DependencePenaltyLoss()).supports_models


def test_two_group_pairwise_is_the_gap():
    logits = torch.tensor([2.0, 0.0, -1.0, 1.0])
    codes = torch.tensor([0, 0, 1, 1])
    p = torch.sigmoid(logits)
    gap = float((p[:2].mean() - p[2:].mean()).abs())
    absolute = DemographicParityLoss(penalty="absolute")(logits, None, codes)
    assert float(absolute) == pytest.approx(gap)
    assert float(DemographicParityLoss(penalty="squared")(logits, None, codes)) == pytest.approx(
        gap**2)


def test_empty_groups_and_unassigned_rows_are_ignored():
    logits, labels, codes, w = batch(seed=7)
    loss = DemographicParityLoss()
    base = float(loss(logits, labels, codes, w))
    # Group 7 has no rows: a wider membership with empty groups changes nothing.
    assert float(loss(logits, labels, Membership(codes, n_groups=8), w)) == pytest.approx(base)
    # Equal opportunity when a group has no positive rows: that group drops out.
    labels2 = labels.clone()
    labels2[codes == 0] = 0
    v = EqualOpportunityLoss()(logits, labels2, codes, w)
    assert torch.isfinite(v)
    keep = codes != 0
    expected = EqualOpportunityLoss()(logits[keep], labels2[keep], codes[keep], w[keep])
    assert float(v) == pytest.approx(float(expected))
    # Code -1 rows belong to no group.
    assert torch.isfinite(loss(logits, labels, torch.where(codes == 2, -1, codes), w))


def test_single_group_gives_zero():
    logits, labels, _, w = batch(seed=8)
    for loss in (l for _, _, l, _ in LOSSES):
        value = float(loss(logits, labels, torch.zeros(len(logits), dtype=torch.long), w))
        assert value == pytest.approx(0.0, abs=1e-15)


def test_sigmoid_surrogate_approaches_hard_rates():
    logits, labels, codes, _ = batch(n=400, seed=9)
    hard = DemographicParityLoss(penalty="absolute", surrogate="hard")
    target = float(hard(logits, labels, codes))
    errors = [abs(float(DemographicParityLoss(penalty="absolute", surrogate="sigmoid",
                                              temperature=t)(logits, labels, codes)) - target)
              for t in (1.0, 0.1, 0.001)]
    assert errors[2] < 1e-6 and errors[2] <= errors[1] <= errors[0]
    # The hard surrogate is for monitoring only: it carries no gradient.
    assert not hard(logits.clone().requires_grad_(True), labels, codes).requires_grad
    # Threshold moves the step: at threshold 0.9 only logits above log(9) count as positive.
    loss = DemographicParityLoss(surrogate="hard", threshold=0.9)
    assert torch.equal(loss.scores(torch.tensor([2.0, 2.3])), torch.tensor([0.0, 1.0]))


def test_group_weights_and_adaptive_shrinkage_match_reference():
    logits, labels, codes, w = batch(n=90, n_groups=4, seed=10)
    gw = [1.0, 2.0, 0.5, 0.0]
    for mode, penalty in MODES:
        loss = DemographicParityLoss(mode=mode, penalty=penalty, group_weights=gw, adaptive=True,
                                     shrinkage=15.0)
        want = reference("dp", dict(mode=mode, penalty=penalty), logits, labels, codes, w, 4,
                         group_weights=gw, shrinkage=15.0)
        assert float(loss(logits, labels, codes, w)) == pytest.approx(want, rel=1e-9)


def test_adaptive_shrinkage_keeps_a_tiny_group_from_dominating():
    g = torch.Generator().manual_seed(0)
    big = torch.randn(2000, generator=g, dtype=torch.float64)
    # Two large groups with equal rates, and a 12-person group with extreme predictions.
    logits = torch.cat([big, big, torch.full((12,), 4.0, dtype=torch.float64)])
    codes = torch.cat([torch.zeros(2000), torch.ones(2000), torch.full((12,), 2)]).long()
    plain = float(DemographicParityLoss(mode="overall")(logits, None, codes))
    shrunk = float(DemographicParityLoss(mode="overall", adaptive=True, shrinkage=30.0)(
        logits, None, codes))
    assert shrunk < 0.5 * plain
    # Large groups keep almost full weight: with only them, shrinkage barely matters.
    two = codes < 2
    a = float(DemographicParityLoss(adaptive=True)(logits[two] + (codes[two] == 1) * 0.5, None,
                                                   codes[two]))
    b = float(DemographicParityLoss()(logits[two] + (codes[two] == 1) * 0.5, None, codes[two]))
    assert a == pytest.approx(b, rel=0.02)


def test_zero_group_weight_removes_group():
    logits, labels, codes, w = batch(n=90, n_groups=3, seed=11)
    loss = DemographicParityLoss(group_weights=[1.0, 1.0, 0.0])
    keep = codes < 2
    assert float(loss(logits, labels, codes, w)) == pytest.approx(
        float(DemographicParityLoss()(logits[keep], labels[keep], codes[keep], w[keep])))


def test_custom_composition_from_parts():
    """A loss is a list of statistics plus a gap penalty: EO + DP built by hand."""
    logits, labels, codes, w = batch(seed=12)
    custom = FairnessLoss([SelectionRate(), TruePositiveRate()], mode="overall")
    expected = (DemographicParityLoss(mode="overall")(logits, labels, codes, w)
                + EqualOpportunityLoss(mode="overall")(logits, labels, codes, w))
    assert float(custom(logits, labels, codes, w)) == pytest.approx(float(expected))
    rates = custom.group_rates(logits, labels, codes, w)
    assert [r.rate.shape for r in rates] == [(3,), (3,)]
    gap = GapPenalty("pairwise", "absolute")
    r = torch.tensor([0.1, 0.4, 0.2])
    assert float(gap(r, r.mean(), torch.ones(3))) == pytest.approx((0.3 + 0.1 + 0.2) / 3)


def test_make_fairness_loss_and_validation():
    assert isinstance(make_fairness_loss("equalized_odds"), EqualizedOddsLoss)
    with pytest.raises(ValueError, match="unknown fairness criterion"):
        make_fairness_loss("parity")
    with pytest.raises(ValueError, match="mode"):
        DemographicParityLoss(mode="max")
    with pytest.raises(ValueError, match="penalty"):
        DemographicParityLoss(penalty="cubic")
    with pytest.raises(ValueError, match="temperature"):
        DemographicParityLoss(surrogate="sigmoid", temperature=0)
    with pytest.raises(ValueError, match="group_weights"):
        DemographicParityLoss(group_weights=[1.0, -1.0])
    with pytest.raises(ValueError, match="labels"):
        EqualOpportunityLoss()(torch.zeros(4), None, torch.tensor([0, 0, 1, 1]))
    with pytest.raises(ValueError, match="rows"):
        DemographicParityLoss()(torch.zeros(4), None, torch.tensor([0, 1, 1]))


def test_intersectional_loss_is_weighted_mean_of_levels():
    rng = np.random.default_rng(0)
    S = pd.DataFrame({"sex": rng.choice(["F", "M"], 200), "race": rng.choice(["A", "B", "C"], 200)})
    levels = group_hierarchy(S)
    assert [lv.name for lv in levels] == ["sex", "race", "sex & race"]
    logits, labels, _, w = batch(n=200, seed=13)
    groups = [torch.as_tensor(lv.encoding.codes) for lv in levels]
    base = DemographicParityLoss(adaptive=True)
    hier = IntersectionalFairnessLoss(base, levels=[lv.name for lv in levels],
                                      level_weights=[1.0, 1.0, 2.0])
    parts = [float(base(logits, labels, g, w)) for g in groups]
    expected = (parts[0] + parts[1] + 2 * parts[2]) / 4
    assert float(hier(logits, labels, groups, w)) == pytest.approx(expected)
    assert list(hier.terms(logits, labels, groups, w)) == ["sex", "race", "sex & race"]
    # One loss per level (e.g. with its own group weights).
    per_level = IntersectionalFairnessLoss([DemographicParityLoss(), EqualOpportunityLoss()])
    assert torch.isfinite(per_level(logits, labels, groups[:2], w))
    with pytest.raises(ValueError, match="levels"):
        hier(logits, labels, groups[:2], w)


def test_regularizer_is_bce_plus_eta_times_fairness():
    logits, labels, codes, w = batch(seed=14)
    fair = DemographicParityLoss()
    reg = FairnessRegularizerLoss(fair, eta=2.5)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, weight=w,
                                                               reduction="sum") / w.sum()
    terms = reg.terms(logits, labels, codes, w)
    assert float(terms["bce"]) == pytest.approx(float(bce))
    assert float(terms["loss"]) == pytest.approx(float(bce + 2.5 * fair(logits, labels, codes, w)))
    assert float(reg(logits, labels, codes, w)) == pytest.approx(float(terms["loss"]))
    # No groups: plain (weighted) cross-entropy.
    assert float(reg(logits, labels, None, w)) == pytest.approx(float(bce))
    assert float(weighted_bce_with_logits(logits, labels)) == pytest.approx(float(
        torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)))


def test_regularizer_eta_zero_gives_plain_gradients():
    logits, labels, codes, w = batch(seed=15)
    z1 = logits.clone().requires_grad_(True)
    z2 = logits.clone().requires_grad_(True)
    FairnessRegularizerLoss(DemographicParityLoss(), eta=0.0)(z1, labels, codes, w).backward()
    weighted_bce_with_logits(z2, labels, w).backward()
    assert torch.equal(z1.grad, z2.grad)


def test_regularizer_linear_warmup_schedule():
    reg = FairnessRegularizerLoss(DemographicParityLoss(), eta=4.0, schedule="linear_warmup",
                                  warmup_epochs=4)
    etas = []
    for epoch in range(6):
        reg.set_epoch(epoch)
        etas.append(reg.current_eta)
    assert etas == [0.0, 1.0, 2.0, 3.0, 4.0, 4.0]
    const = FairnessRegularizerLoss(DemographicParityLoss(), eta=4.0)
    const.set_epoch(0)
    assert const.current_eta == 4.0
    with pytest.raises(ValueError, match="schedule"):
        FairnessRegularizerLoss(DemographicParityLoss(), schedule="cosine")
    with pytest.raises(ValueError, match="eta"):
        FairnessRegularizerLoss(DemographicParityLoss(), eta=-1)


def test_membership_sum_leaves_out_rows_of_no_group():
    values = torch.arange(10.0).reshape(5, 2)
    with_unknown = Membership(torch.tensor([0, -1, 1, 0, -1]), n_groups=2)
    known_only = Membership(torch.tensor([0, 1, 0]), n_groups=2)
    assert torch.equal(with_unknown.sum(values), known_only.sum(values[[0, 2, 3]]))
    assert torch.equal(Membership(with_unknown).sum(values), with_unknown.sum(values))
    # Rows 0 and 3 ([0, 1] and [6, 7]) are group 0, row 2 ([4, 5]) group 1.
    assert torch.equal(with_unknown.sum(values), torch.tensor([[6.0, 8.0], [4.0, 5.0]]))
