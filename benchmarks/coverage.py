"""Coverage of weighted rates' and gaps' intervals when the weights go with the decision.

``python -m benchmarks.coverage [--reps 2000]`` draws test sets from populations whose truth is
known and counts how often each 95 % interval holds it, two ways on the same draws: with Kish's
effective sample size alone (fairkit before results revision 7), and as fairkit computes it now
(:func:`fairkit.stats.effective_rows`: the smaller of Kish's and the linearised size).

The design is the coverage audit's (2026-12-06): outcome ``y ~ Bernoulli(0.3)``; a decision with
probability ``p`` (rates), or with a true positive rate ``tpr`` and false positive rate ``fpr``
per group (gaps); a weight of 5 with probability 0.8 for a selected row and 0.2 otherwise, else
1, so the weights go with the decision. The weighted selection rate of a population deciding
with probability ``p`` is ``4.2 p / (4.2 p + 1.8 (1 - p))``; the gaps' truths follow from it.
Rates: one group per test set, the selection rate's Wilson interval. Gaps: demographic parity's
simultaneous score interval (:func:`fairkit.stats.difference_gap_interval`) over two groups.
Paired (:func:`paired`): two models' accuracy change on the same rows when few rows differ, the
normal interval against Tango's score interval (coverage audit, finding 9). Headline
(:func:`headline`): the least fair gap over several groupings, with its grouping's interval
(finding 12).
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from .common import add_out_argument, out_dir, report

#: The weighted selection rate of a population that selects with probability ``p``.
_E_SELECTED, _E_OTHER = 1 + 4 * 0.8, 1 + 4 * 0.2


def weighted_rate(p):
    p = np.asarray(p, dtype=np.float64)
    return p * _E_SELECTED / (p * _E_SELECTED + (1 - p) * _E_OTHER)


def _draw(rng, n: int, p_select: np.ndarray):
    """Decisions with probability ``p_select`` (per row) and weights that go with them."""
    d = rng.random(n) < p_select
    w = np.where(rng.random(n) < np.where(d, 0.8, 0.2), 5.0, 1.0)
    y = (rng.random(n) < 0.3).astype(np.int64)
    return y, np.where(d, 0.75, 0.25), w


def _cell(hit, low, high, **about) -> list[dict]:
    return [{**about, "method": name, "coverage": float(np.mean(h)), "mean_width": float(np.mean(hi - lo))}
            for name, h, lo, hi in zip(("Kish", "fairkit"), hit, low, high)]


def rates(reps: int, seed: int = 0) -> pd.DataFrame:
    """Selection-rate intervals of one group of ``rows`` rows, ``reps`` test sets per cell."""
    from fairkit import stats

    rng = np.random.default_rng(seed)
    out = []
    for rows in (100, 1000):
        for p in (0.02, 0.1, 0.5, 0.9):
            codes = np.repeat(np.arange(reps), rows)
            y, score, w = _draw(rng, len(codes), np.full(len(codes), p))
            gs = stats.group_sums(y, score, codes, reps, sample_weight=w)
            x, t, t2 = (gs.stat(s)[0, 0] for s in ("sel", "n", "n2"))
            now = tuple(end[0] for end in stats.rate_intervals(gs)["selection_rate"])
            kish = stats.wilson_interval(x, t, t2)
            truth = weighted_rate(p)
            hit = [(lo <= truth) & (truth <= hi) for lo, hi in (kish, now)]
            out += _cell(hit, [kish[0], now[0]], [kish[1], now[1]], rows=rows, truth=round(float(truth), 4))
    return pd.DataFrame(out)


def gaps(reps: int, seed: int = 0) -> pd.DataFrame:
    """Demographic parity's interval over two groups at low selection rates, ``reps`` test sets."""
    from fairkit import stats

    rng = np.random.default_rng(seed)
    out = []
    for sizes in ((500, 500), (2000, 60)):
        for delta in (0.0, 0.02):
            tpr, fpr = np.array([0.06, 0.06 + delta]), np.array([0.02, 0.02 + delta])
            group = np.repeat([0, 1], sizes)
            codes = (np.arange(reps)[:, None] * 2 + group[None, :]).ravel()  # test set r, group g
            n = len(codes)
            base = (rng.random(n) < 0.4).astype(np.int64)
            g = np.tile(group, reps)
            p_select = np.where(base == 1, tpr[g], fpr[g])
            _, score, w = _draw(rng, n, p_select)
            gs = stats.group_sums(base, score, codes, 2 * reps, sample_weight=w)
            x, t, t2, x2 = (gs.stat(s)[0, 0].reshape(reps, 2) for s in ("sel", "n", "n2", "sel2"))
            both = np.ones(2, dtype=bool)
            kish = stats.difference_gap_interval(x, t, t2, both)
            now = stats.difference_gap_interval(x, t, t2, both, successes_sq=x2)
            sel = 0.4 * tpr + 0.6 * fpr
            truth = float(abs(weighted_rate(sel[1]) - weighted_rate(sel[0])))
            hit = [(lo <= truth + 1e-12) & (truth - 1e-12 <= hi) for lo, hi in (kish, now)]
            out += _cell(hit, [kish[0], now[0]], [kish[1], now[1]], groups=f"{sizes[0]} / {sizes[1]}",
                         truth=round(truth, 4))
    return pd.DataFrame(out)


def paired(reps: int, seed: int = 0) -> pd.DataFrame:
    """The accuracy change of two models on the same rows, when they decide few rows differently.

    Each test set has ``rows`` rows; model a alone is right on a row with probability ``pb`` and
    model b alone with ``pc`` (the rest they decide alike), so the true change is ``pb - pc``.
    Two intervals on the same draws: the normal interval of the mean paired difference
    (:func:`fairkit.stats.paired_difference`, the Trade-offs panel's bracket before session 41)
    and Tango's score interval (:func:`fairkit.stats.paired_proportion_interval`, now).
    """
    from fairkit import stats

    rng = np.random.default_rng(seed)
    z = 1.959963984540054
    out = []
    for rows in (300, 3000, 10000):
        for expected in (1, 2, 4, 10, 40):
            for share in (0.5, 0.8, 1.0):  # of the differing rows, the share model a gets right
                pb, pc = expected / rows * share, expected / rows * (1 - share)
                truth = pb - pc
                cells = rng.multinomial(rows, [pb, pc, 1 - pb - pc], size=reps).astype(np.float64)
                b, c = cells[:, 0], cells[:, 1]
                # paired_difference on each set's rows, from its counts: the differences are +1 on
                # b rows and -1 on c rows, their variance over rows - 1.
                est = (b - c) / rows
                half = z * np.sqrt(np.maximum((b + c) / rows - est ** 2, 0.0) / (rows - 1))
                score = np.array([stats.paired_counts_interval(bi, ci, float(rows), 0.95)[1:] for bi, ci in zip(b, c)])
                lows, highs = [est - half, score[:, 0]], [est + half, score[:, 1]]
                for name, lo, hi in zip(("normal", "fairkit"), lows, highs):
                    out.append({"rows": rows, "differing (expected)": expected, "a's share": share,
                                "truth": round(truth, 5), "method": name,
                                "coverage": float(np.mean((lo <= truth + 1e-15) & (truth <= hi + 1e-15))),
                                "mean_width": float(np.mean(hi - lo))})
    return pd.DataFrame(out)


def headline(reps: int, seed: int = 0) -> pd.DataFrame:
    """The headline gap over several groupings: the least fair of each attribute's and their
    intersection's gap, with that grouping's interval (coverage audit, finding 12).

    Two independent attributes, A (40 % in its second group) and B (25 %); outcome ~
    Bernoulli(0.35); a row is selected with probability 0.6 (positives) or 0.2 (negatives) plus
    ``dA`` in A's second group and ``dB`` in B's, so each grouping's demographic parity and
    equalized odds gap in the population is ``dA`` (A), ``dB`` (B) and ``dA + dB`` (the
    intersection), and the headline's truth is the largest of them. ``reps`` test sets a cell.
    """
    from fairkit.metrics import fairness_report

    rng = np.random.default_rng(seed)
    out = []
    for rows in (600, 3000):
        for dA, dB in ((0.0, 0.0), (0.06, 0.0), (0.0, 0.06), (0.04, 0.08)):
            hits = {k: [] for k in ("demographic_parity_difference", "equalized_odds_difference")}
            for r in range(reps):
                A, B = rng.random(rows) < 0.4, rng.random(rows) < 0.25
                y = (rng.random(rows) < 0.35).astype(np.int64)
                p = np.where(y == 1, 0.6, 0.2) + dA * A + dB * B
                score = np.where(rng.random(rows) < p, 0.8, 0.2)
                sens = pd.DataFrame({"A": np.where(A, "a1", "a0"), "B": np.where(B, "b1", "b0")})
                head = fairness_report(y, score, sens, n_boot=20, random_state=r).headline()
                for k in hits:
                    hits[k].append(head[f"{k}_low"] <= max(dA, dB, dA + dB) + 1e-12 <= head[f"{k}_high"] + 2e-12)
            out += [{"rows": rows, "dA": dA, "dB": dB, "gap": k, "truth": max(dA, dB, dA + dB),
                     "coverage": float(np.mean(h))} for k, h in hits.items()]
    return pd.DataFrame(out)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.coverage", description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=2000, help="test sets per cell (default 2,000)")
    add_out_argument(p)
    args = p.parse_args(argv)
    out = out_dir(args.out)
    report(f"Selection-rate intervals, weights that go with the decision ({args.reps:,} test sets a cell)",
           rates(args.reps), out, "coverage_rates", float_format="{:.3f}")
    report(f"Demographic parity intervals, two groups, low rates ({args.reps:,} test sets a cell)",
           gaps(args.reps), out, "coverage_gaps", float_format="{:.3f}")
    report(f"Paired accuracy change, few rows decided differently ({args.reps:,} test sets a cell)",
           paired(args.reps), out, "coverage_paired", float_format="{:.4f}")
    sets = max(args.reps * 3 // 20, 1)  # a fairness report a set: 300 at the default
    report(f"The headline gap over two attributes and their intersection ({sets:,} test sets a cell)",
           headline(sets), out, "coverage_headline", float_format="{:.3f}")


if __name__ == "__main__":
    main()
