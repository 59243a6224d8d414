"""Pareto frontiers over (error, unfairness), hypervolume, and picking an operating point.

The frontier is chosen on validation metrics and reported with the test metrics of the same runs
beside it: choosing on test would overstate how good the chosen model is (docs/ARCHITECTURE.md,
"Chosen on validation, reported on test").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .methods import FAIRNESS_DEFINITIONS, lookup
from .metrics import METRIC_LABELS, metric_value, no_better_than_chance

# Unfairness axes the dashboard offers, each read "lower is fairer": column name -> label. The
# gap of every fairness definition, and 1 - disparate impact ratio (see metric_column).
UNFAIRNESS_AXES = {
    **{d.gap_metric: d.gap_label for d in FAIRNESS_DEFINITIONS.values()},
    "disparate_impact_gap": METRIC_LABELS["disparate_impact_gap"],
}
PERFORMANCE_AXES = {k: METRIC_LABELS[k] for k in ("accuracy", "balanced_accuracy", "roc_auc")}
#: The splits a front is chosen on and reported on: the prefix of their columns -> name.
SPLITS = {"val": "validation", "test": "test"}


def _check_axes(unfairness=None, performance=None, **splits) -> None:
    """Axis and split names checked at the public entry points, each refusal naming the valid
    choices (a name missing from a table used to surface as a bare KeyError of a column)."""
    if unfairness is not None:
        lookup(UNFAIRNESS_AXES, unfairness, "unfairness axis")
    if performance is not None:
        lookup(PERFORMANCE_AXES, performance, "performance axis")
    for argument, split in splits.items():
        lookup(SPLITS, split, f"split for {argument}")

#: A model selecting at most this share of validation rows, or at least 1 minus it, decides
#: (almost) the same for everyone: its small gaps say nothing about fair treatment, so it is
#: flagged ``constant`` and kept off the frontier.
ONE_DECISION_SHARE = 0.01


def decides_alike(selection_rate) -> np.ndarray:
    """Which selection rates belong to a constant or near-constant model (see ``ONE_DECISION_SHARE``).

    A missing rate (NaN) is not flagged.
    """
    rate = np.asarray(selection_rate, dtype=float)
    return (rate <= ONE_DECISION_SHARE) | (rate >= 1.0 - ONE_DECISION_SHARE)


def one_decision_note(rate, split: str = "val", on_front: bool | None = None) -> str | None:
    """The warning for a model that gives (almost) every row of ``split`` one decision
    (:func:`decides_alike` of its selection ``rate``), else None (a missing rate included).

    Strong fairness terms can end in such a model: every gap is about zero because nobody is
    told apart. On validation it is off the frontier; on test (``split="test"``) it can be on the
    frontier, chosen on validation, with a test gap of about zero that says nothing about fair
    treatment. The one wording of the Trade-offs panel, the decision record and ``score``
    (``split="batch"``: the rows of a batch scored with an exported model). ``on_front``
    False (a model known to be off the frontier) drops the words on its place there (a record
    said both "off the frontier" and "its place on the frontier is validation's": export audit,
    session 51).
    """
    if rate is None or not np.isfinite(float(rate)) or not decides_alike(float(rate)):
        return None
    decision, share = _one_decision(float(rate))
    if split == "batch":  # rows scored with an exported model (score)
        who = "every row of this batch" if share == 1 else f"{share:.1%} of this batch's rows"
        return (f"This model gives {who} the {decision} decision: its fairness gaps on this batch are small "
                "because it tells almost nobody apart, not because it treats groups alike.")
    where = SPLITS[split]
    who = f"every {where} row" if share == 1 else f"{share:.1%} of {where} rows"
    if split != "val":
        place = "" if on_front is False else "its place on the frontier is validation's; "
        return (f"This model gives {who} the {decision} decision. Its {where} gaps are small because it "
                f"tells almost nobody apart on {where}, not because it treats groups alike there: {place}"
                "do not read its test gap as fair treatment.")
    return (f"This model gives {who} the {decision} decision. Its fairness gaps are "
            "small because it tells almost nobody apart, not because it treats groups alike: treat "
            "it as a reference point, not a candidate.")


def constant_mask(results: pd.DataFrame) -> np.ndarray:
    """The ``constant`` flag of each run of a sweep table.

    The table's own ``constant`` column when it has one (:func:`fairkit.sweep.run_sweep` adds
    it), else derived from ``val_selection_rate``; all False for tables with neither (runs of
    other libraries, or stored before the selection rate was recorded).
    """
    if "constant" in results:
        return results["constant"].fillna(False).to_numpy(dtype=bool)
    return decides_alike_on(results, "val")


def decides_alike_on(results: pd.DataFrame, split: str = "val") -> np.ndarray:
    """Which runs of a table give (almost) every row of ``split`` the same decision:
    :func:`decides_alike` of ``<split>_selection_rate`` (all False without that column).

    On validation this is the ``constant`` rule that keeps a run off the frontier. On test it
    flags a run the frontier kept (it told validation rows apart) whose test gaps are about zero
    because it tells nobody apart on test: its place on the front is validation's, and its test
    gap says nothing about fair treatment, so where its test numbers are read they say so.
    """
    column = f"{split}_selection_rate"
    if column not in results:
        return np.zeros(len(results), dtype=bool)
    return decides_alike(results[column])


def below_chance_mask(results: pd.DataFrame, performance: str = "accuracy", split: str = "val") -> np.ndarray:
    """Which runs score no better on ``split`` than deciding alike for everyone.

    Giving everyone the majority decision has no gap and scores the chance level of
    ``performance`` (:func:`fairkit.metrics.chance_level` of the split's ``<split>_base_rate``),
    so a model that does not beat it is dominated by a rule that needs no model: such a model
    can sit at a small gap only by being worse than doing nothing, and is kept off the frontier.
    It is found where a fairness constraint pushes a method past what its scores can give (a
    cut accepting almost every row at a tight tolerance) or on a small validation part by noise.

    Parameters
    ----------
    results : DataFrame
        A sweep table, or any table with ``<split>_<performance>`` columns.
    performance : str
        A key of ``PERFORMANCE_AXES``.
    split : {"val", "test"}
        The split whose scores are compared (the one the frontier is chosen on).

    Returns
    -------
    ndarray of bool
        All False for accuracy when the table has no ``<split>_base_rate`` (tables stored before
        the base rate was recorded); NaN scores are not flagged.
    """
    if results.empty or f"{split}_{performance}" not in results:
        return np.zeros(len(results), dtype=bool)
    base = results.get(f"{split}_base_rate", pd.Series(np.nan, index=results.index)).to_numpy(dtype=float)
    return no_better_than_chance(metric_column(results, split, performance).to_numpy(dtype=float), performance, base)


def _one_decision(rate: float) -> tuple[str, float]:
    """The decision (almost) everyone gets at selection ``rate``, and the share who get it."""
    return ("positive", rate) if rate >= 0.5 else ("negative", 1.0 - rate)


def constant_note(selection_rate: float) -> str | None:
    """The ``warnings`` cell's note for a constant model's validation selection rate, else None."""
    if not decides_alike(selection_rate):
        return None
    decision, share = _one_decision(float(selection_rate))
    return (f"constant model: {share:.1%} of validation rows get the {decision} decision; "
            "its gaps are small because it tells nobody apart (kept off the frontier)")


def largest_step(unfairness, *, from_parity: bool = True) -> float:
    """The largest difference between neighbouring unfairness values, sorted.

    This is the widest jump a slider along the frontier makes. With ``from_parity`` the
    values start at 0 (parity), so a frontier that stops far from parity has a large step
    there. NaN when there is no finite value.
    """
    u = np.asarray(unfairness, dtype=float)
    u = np.sort(u[np.isfinite(u)])
    if len(u) == 0:
        return float("nan")
    if from_parity:
        u = np.concatenate([[0.0], u])
    return float(np.max(np.diff(u))) if len(u) > 1 else 0.0


def metric_column(results: pd.DataFrame, split: str, metric: str) -> pd.Series:
    """A metric of one split from a sweep table (``val_<metric>`` / ``test_<metric>``).

    ``disparate_impact_gap`` is derived as 1 - disparate impact ratio so that every unfairness
    axis reads "lower is fairer".
    """
    return metric_value(results, metric, prefix=f"{split}_")[0]


def pareto_mask(cost_a, cost_b) -> np.ndarray:
    """Which points are not dominated when both costs are minimised.

    A point is dominated when another is no worse on both costs and better on one. Ties (equal
    on both) keep the first occurrence only, so the front has no duplicates. O(n log n).
    """
    a = np.asarray(cost_a, dtype=float)
    b = np.asarray(cost_b, dtype=float)
    mask = np.zeros(len(a), dtype=bool)
    idx = np.flatnonzero(np.isfinite(a) & np.isfinite(b))
    order = idx[np.lexsort((b[idx], a[idx]))]  # by cost a, then cost b (stable: first duplicate first)
    if len(order) == 0:
        return mask
    bs = b[order]
    # Sorted by cost a, a point survives when its cost b beats every point before it.
    best_before = np.concatenate([[np.inf], np.minimum.accumulate(bs)[:-1]])
    mask[order[bs < best_before]] = True
    return mask


def pareto_front(
    results: pd.DataFrame,
    *,
    unfairness: str = "demographic_parity_difference",
    performance: str = "accuracy",
    choose_on: str = "val",
    by: str | None = None,
    exclude_constant: bool = True,
) -> pd.DataFrame:
    """The Pareto-optimal runs of a sweep table.

    Parameters
    ----------
    results : DataFrame
        One row per run, with ``val_*`` and ``test_*`` metric columns.
    unfairness : str
        A key of ``UNFAIRNESS_AXES``.
    performance : str
        A key of ``PERFORMANCE_AXES`` (higher is better).
    choose_on : {"val", "test"}
        Which split decides dominance. Keep "val" for honest reporting.
    by : str, optional
        Compute one front per value of this column (for example ``"method"``).
    exclude_constant : bool
        Leave out constant and near-constant models (:func:`constant_mask`): their gaps are
        about zero because they tell nobody apart, which would put a useless model at the
        fair end of every front. Leave out, too, the models that score no better on
        ``choose_on`` than deciding alike for everyone (:func:`below_chance_mask`): that rule
        dominates them.

    Returns
    -------
    DataFrame
        The front's rows, sorted by unfairness, with added ``unfairness_val``, ``unfairness_test``,
        ``performance_val``, ``performance_test`` columns.
    """
    _check_axes(unfairness, performance, choose_on=choose_on)
    if exclude_constant:
        results = results[~(constant_mask(results) | below_chance_mask(results, performance, choose_on))]
    axes = {"unfairness": unfairness, "performance": performance, "choose_on": choose_on}
    if results.empty:
        empty = results.assign(unfairness_val=[], unfairness_test=[], performance_val=[], performance_test=[])
        empty.attrs["axes"] = axes
        return empty
    table = results.assign(
        unfairness_val=metric_column(results, "val", unfairness),
        unfairness_test=metric_column(results, "test", unfairness),
        performance_val=metric_column(results, "val", performance),
        performance_test=metric_column(results, "test", performance),
    )
    col_u, col_p = f"unfairness_{choose_on}", f"performance_{choose_on}"
    if by is None:
        mask = pareto_mask(-table[col_p].to_numpy(), table[col_u].to_numpy())
        front = table[mask]
    else:
        parts = []
        for _, sub in table.groupby(by, sort=False):
            parts.append(sub[pareto_mask(-sub[col_p].to_numpy(), sub[col_u].to_numpy())])
        front = pd.concat(parts) if parts else table.iloc[:0]
    front = front.sort_values([*([by] if by else []), col_u]).reset_index(drop=True)
    # Which axes the front was chosen on, for a record that must place a run off the front.
    front.attrs["axes"] = axes
    return front


def dominated_by(candidates: pd.DataFrame, others: pd.DataFrame, *,
                 unfairness: str = "demographic_parity_difference", performance: str = "accuracy",
                 choose_on: str = "val") -> np.ndarray:
    """Which ``candidates`` a run of ``others`` dominates on ``choose_on``.

    A candidate is dominated when a run of ``others`` that could be on a front (not constant,
    not below chance: :func:`pareto_front`'s rule) is no worse on both axes and better on one:
    :func:`pareto_mask` over that front with the candidate first, so an exact tie leaves it
    undominated. A search's candidates against a sweep's runs, for instance.

    Returns
    -------
    ndarray of bool
        One per candidate; False for a candidate without finite values on the axes.
    """
    ref = pareto_front(others, unfairness=unfairness, performance=performance, choose_on=choose_on)
    ref_u = ref[f"unfairness_{choose_on}"].to_numpy(dtype=float)
    ref_p = ref[f"performance_{choose_on}"].to_numpy(dtype=float)
    cand_u = metric_column(candidates, choose_on, unfairness).to_numpy(dtype=float)
    cand_p = metric_column(candidates, choose_on, performance).to_numpy(dtype=float)
    out = np.zeros(len(candidates), dtype=bool)
    for i, (u, p) in enumerate(zip(cand_u, cand_p)):
        if np.isfinite(u) and np.isfinite(p):
            out[i] = not pareto_mask(np.r_[-p, -ref_p], np.r_[u, ref_u])[0]
    return out


def hypervolume(error, unfairness, ref=(1.0, 1.0)) -> float:
    """Area dominated by the points (both costs minimised) and bounded by the reference point.

    Parameters
    ----------
    error, unfairness : array-like
        Costs of each point (for example 1 - accuracy and DP difference).
    ref : (float, float)
        Reference (worst acceptable) error and unfairness; points beyond it add nothing. Use the
        same reference for every method being compared.

    Returns
    -------
    float
        The dominated area, 0 when no point is within ``ref``.

    Raises
    ------
    ValueError
        When ``error`` and ``unfairness`` differ in length or ``ref`` is not two numbers.
    """
    e = np.asarray(error, dtype=float).ravel()
    u = np.asarray(unfairness, dtype=float).ravel()
    if len(e) != len(u):
        raise ValueError(f"error has {len(e)} points but unfairness has {len(u)}; pass one of each per point")
    if np.ndim(ref) != 1 or len(ref) != 2:
        raise ValueError(f"ref must be two numbers, (worst error, worst unfairness), got {ref!r}")
    keep = np.isfinite(e) & np.isfinite(u) & (e < ref[0]) & (u < ref[1])
    e, u = e[keep], u[keep]
    if len(e) == 0:
        return 0.0
    m = pareto_mask(e, u)
    e, u = e[m], u[m]
    order = np.argsort(e)
    e, u = e[order], u[order]
    # Sorted by error ascending, unfairness descends along the front: sum the staircase slabs.
    widths = np.diff(np.append(e, ref[0]))
    heights = ref[1] - u
    return float(np.sum(widths * heights))


#: Relative allowance of a tolerance comparison: a gap of 45/60 - 49/70 is 0.050000000000000044,
#: and "within 0.05" must not turn on the last bit (as the disparity audit's band,
#: :data:`fairkit.metrics.AUDIT_BAND_RTOL`).
TOLERANCE_RTOL = 1e-9


def within_tolerance(unfairness, tolerance: float):
    """Whether ``unfairness`` (a number or an array) is at most ``tolerance``, float rounding
    aside: one rule for the tolerance pick, the Trade-offs verdict and the sweep's bracketing (a
    German gap of exactly 0.15 read "0.150 (above the tolerance 0.15)": number audit, session 45)."""
    return np.asarray(unfairness, dtype=float) <= tolerance * (1 + TOLERANCE_RTOL) + 1e-12


def select(front: pd.DataFrame, *, max_unfairness: float, on: str = "val") -> pd.Series | None:
    """The best-performing run whose unfairness (on ``on``) is at most ``max_unfairness``.

    Parameters
    ----------
    front : DataFrame
        A front from :func:`pareto_front` (its ``unfairness_*`` / ``performance_*`` columns).
    max_unfairness : float
        The largest unfairness allowed.
    on : {"val", "test"}, default="val"
        The split whose unfairness and performance decide. Keep "val" for honest reporting.

    Returns
    -------
    Series or None
        The chosen run's row of ``front``; None when no run meets the bound.

    Raises
    ------
    ValueError
        For a split other than "val" / "test", or a table that is not a front.
    """
    _check_axes(on=on)
    missing = [c for c in (f"unfairness_{on}", f"performance_{on}") if c not in front]
    if missing:
        raise ValueError(f"select needs a front, with the columns {missing}: pass pareto_front(results), "
                         "not the sweep table itself")
    ok = front[within_tolerance(front[f"unfairness_{on}"], max_unfairness)]
    if ok.empty:
        return None
    return ok.loc[ok[f"performance_{on}"].idxmax()]


def best_within(results: pd.DataFrame, max_unfairness: float, *,
                unfairness: str = "demographic_parity_difference", performance: str = "accuracy",
                choose_on: str = "val") -> pd.Series | None:
    """The run a committee's bound picks from a sweep table: the best-performing run on the
    Pareto front whose unfairness is at most ``max_unfairness``, both judged on ``choose_on``.

    The one pick behind :func:`best_at`, :func:`fairkit.sweep.sweep_to_tolerance` and the
    dashboard's tolerance pick. Constant models never qualify (:func:`pareto_front` leaves them
    out).

    Parameters
    ----------
    results : DataFrame
        A sweep table (``val_*`` / ``test_*`` metric columns).
    max_unfairness : float
        The largest unfairness allowed.
    unfairness, performance : str
        Keys of :data:`UNFAIRNESS_AXES` and :data:`PERFORMANCE_AXES`.
    choose_on : {"val", "test"}
        The split that decides the front and the bound. Keep "val" for honest reporting.

    Returns
    -------
    Series or None
        The run's row of the front (its sweep columns plus ``unfairness_val``,
        ``unfairness_test``, ``performance_val``, ``performance_test``); None when no usable
        run meets the bound.
    """
    front = pareto_front(results, unfairness=unfairness, performance=performance, choose_on=choose_on)
    return select(front, max_unfairness=max_unfairness, on=choose_on)


def best_at(results: pd.DataFrame, bound: float, *, unfairness="demographic_parity_difference",
            performance="accuracy", choose_on="val", report_on="test") -> float:
    """Test performance of the run chosen on validation under an unfairness bound (NaN if none).

    This is the honest "accuracy at DP <= bound" figure: the run is picked with validation data
    (:func:`best_within`) and its test numbers are reported.

    Parameters
    ----------
    results : DataFrame
        A sweep table.
    bound : float
        The largest unfairness allowed (``best_within``'s ``max_unfairness``).
    unfairness, performance, choose_on
        As in :func:`best_within`.
    report_on : {"val", "test"}, default="test"
        The split whose performance is returned.

    Returns
    -------
    float
        The chosen run's performance on ``report_on``; NaN when no run meets the bound.
    """
    _check_axes(report_on=report_on)
    row = best_within(results, bound, unfairness=unfairness, performance=performance, choose_on=choose_on)
    return float("nan") if row is None else float(row[f"performance_{report_on}"])


def settings(results: pd.DataFrame) -> pd.DataFrame:
    """What a sweep's frontier is drawn over: each run, or, when a setting (method, eta) was
    trained with several seeds, each setting at its mean over them (:func:`seed_summary`).

    The one definition behind every surface's front and pick: the command line's printout and
    ``--json``, ``frontier.html``, the Trade-offs chart, slider and tolerance pick, and the
    record's frontier table (:func:`sweep_front`). With several seeds one run's point carries its
    seed's training noise; a committee compares settings.
    """
    if {"seed", "method", "eta"} <= set(results.columns) and not results.empty \
            and results.groupby(["method", "eta"])["seed"].nunique().max() > 1:
        return seed_summary(results)
    return results


def sweep_front(results: pd.DataFrame, *, unfairness: str = "demographic_parity_difference",
                performance: str = "accuracy", by: str | None = "method") -> pd.DataFrame:
    """The frontier of a sweep as every surface shows it: :func:`pareto_front` of its
    :func:`settings`, one front per method by default.

    Its ``attrs["axes"]`` say, besides the axes, over how many seeds a point is a mean
    (``seeds``; 1 for runs), so a record can place a run on it by its setting.
    """
    table = settings(results)
    front = pareto_front(table, unfairness=unfairness, performance=performance, by=by)
    front.attrs["axes"] = {**front.attrs["axes"],
                           "seeds": int(table["n_seeds"].max()) if table is not results else 1}
    return front


def run_rows(front: pd.DataFrame, run) -> np.ndarray:
    """Which rows of ``front`` (:func:`sweep_front`) are ``run``'s (a sweep row): by its run id,
    or, on a front of settings' means over seeds, its setting's row (by method and eta)."""
    if front.empty or "run_id" not in front:
        return np.zeros(len(front), dtype=bool)
    if (front.attrs.get("axes") or {}).get("seeds", 1) > 1:
        return ((front["method"] == run["method"])
                & np.isclose(front["eta"].astype(float), float(run["eta"]))).to_numpy()
    return (front["run_id"] == run.get("run_id")).to_numpy()


def on_sweep_front(front: pd.DataFrame, run) -> bool:
    """Whether ``run`` (a sweep row) is on ``front`` (:func:`sweep_front`, :func:`run_rows`)."""
    return bool(run_rows(front, run).any())


def seed_summary(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (method, eta): the mean over seeds of every metric and its range across seeds.

    With several seeds a sweep has one run per (method, eta, seed). Training noise then draws
    every seed's point and a zig-zag front; the mean over seeds, with the range the seeds span,
    says what the setting gives and how much that varies.

    Parameters
    ----------
    results : DataFrame
        A sweep table (``method``, ``eta``, ``seed``, ``run_id``, ``val_*`` / ``test_*``).

    Returns
    -------
    DataFrame
        Sweep-shaped, so :func:`pareto_front` and :func:`metric_column` read it as they read a
        sweep table: ``method``, ``eta``, ``run_id`` (the lowest seed's run), ``seed`` (that
        seed), ``n_seeds``, ``constant_seeds`` (seeds whose model is constant) and ``constant``
        (any is: a setting that sometimes tells nobody apart is kept off the front), the other
        descriptive columns of the lowest seed's run, and per metric column its mean, with
        ``<column>_low`` / ``<column>_high`` the smallest and largest value over the seeds.
        Rows keep the order in which their (method, eta) first appears.
    """
    metrics = [c for c in results.columns
               if c.startswith(("val_", "test_")) and not c.endswith(("_low", "_high"))
               and pd.api.types.is_numeric_dtype(results[c]) and not pd.api.types.is_bool_dtype(results[c])]
    # Stable: within a (method, eta) the lowest seed comes first, and settings keep their order.
    table = results.assign(constant=constant_mask(results)).sort_values("seed", kind="stable")
    groups = table.groupby(["method", "eta"], sort=False)
    first = table.drop_duplicates(["method", "eta"]).set_index(["method", "eta"])
    intervals = [c for c in results.columns if c.startswith(("val_", "test_")) and c.endswith(("_low", "_high"))]
    out = pd.concat([first.drop(columns=metrics + intervals + ["constant"]), groups[metrics].mean(),
                     groups[metrics].min().add_suffix("_low"), groups[metrics].max().add_suffix("_high")], axis=1)
    out["n_seeds"] = groups["seed"].nunique()
    out["constant_seeds"] = groups["constant"].sum().astype(int)
    out["constant"] = out["constant_seeds"] > 0
    return out.reset_index()
