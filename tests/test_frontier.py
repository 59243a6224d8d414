import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairkit.frontier import (
    ONE_DECISION_SHARE,
    best_at,
    below_chance_mask,
    best_within,
    constant_mask,
    constant_note,
    decides_alike,
    hypervolume,
    largest_step,
    pareto_front,
    pareto_mask,
    select,
)


def slow_mask(a, b):
    out = []
    for i in range(len(a)):
        dominated = any(
            (a[j] <= a[i] and b[j] <= b[i] and (a[j] < a[i] or b[j] < b[i])) for j in range(len(a))
        )
        dup_before = any(a[j] == a[i] and b[j] == b[i] for j in range(i))
        out.append(not dominated and not dup_before)
    return np.array(out)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=30))
def test_pareto_mask_matches_brute_force(points):
    a, b = map(np.array, zip(*points))
    assert np.array_equal(pareto_mask(a, b), slow_mask(a, b))


def test_hypervolume_by_hand():
    # two points (0.1, 0.5) and (0.3, 0.1) with ref (1, 1):
    # slab 1: error 0.1..0.3 height 0.5; slab 2: error 0.3..1 height 0.9
    assert hypervolume([0.1, 0.3], [0.5, 0.1]) == pytest.approx(0.2 * 0.5 + 0.7 * 0.9)
    # a dominated point and a point beyond the reference change nothing
    assert hypervolume([0.1, 0.3, 0.4, 2.0], [0.5, 0.1, 0.2, 0.0]) == pytest.approx(0.2 * 0.5 + 0.7 * 0.9)
    assert hypervolume([], []) == 0.0


def test_hypervolume_grid_matches_monte_carlo():
    rng = np.random.default_rng(0)
    e, u = rng.random(8) * 0.5, rng.random(8) * 0.5
    grid = np.linspace(0, 1, 801)
    X, Y = np.meshgrid(grid, grid)
    dominated = np.zeros_like(X, dtype=bool)
    for ei, ui in zip(e, u):
        dominated |= (X >= ei) & (Y >= ui)
    assert hypervolume(e, u) == pytest.approx(dominated.mean(), abs=5e-3)


def table():
    rows = []
    for m, eta in itertools.product(["a", "b"], range(4)):
        acc = 0.85 - 0.02 * eta - (0.01 if m == "b" else 0)
        dp = 0.2 / (1 + eta)
        rows.append({"method": m, "eta": eta,
                     "val_accuracy": acc, "test_accuracy": acc - 0.005,
                     "val_demographic_parity_difference": dp, "test_demographic_parity_difference": dp + 0.01,
                     "val_disparate_impact_ratio": 1 - dp, "test_disparate_impact_ratio": 1 - dp})
    return pd.DataFrame(rows)


def test_front_on_validation_reports_test():
    front = pareto_front(table())
    assert set(front.method) == {"a"}  # b is dominated everywhere
    assert len(front) == 4
    assert (front.performance_test == front.val_accuracy - 0.005).all()
    per = pareto_front(table(), by="method")
    assert len(per) == 8
    di = pareto_front(table(), unfairness="disparate_impact_gap")
    assert np.allclose(di.unfairness_val, di.val_demographic_parity_difference)


def test_select_and_best_at():
    front = pareto_front(table())
    row = select(front, max_unfairness=0.07)
    assert row["eta"] == 2
    assert select(front, max_unfairness=0.01) is None
    assert best_at(table(), 0.07) == pytest.approx(0.85 - 0.04 - 0.005)
    assert np.isnan(best_at(table(), 0.0))


def test_bad_axis_split_and_table_names_list_the_valid_choices():
    # These were bare KeyErrors of a column ('val_dp', 'performance_validation') or numpy errors.
    res = table()
    with pytest.raises(ValueError, match="Unknown unfairness axis 'dp'. Choose from: demographic_parity_difference"):
        pareto_front(res, unfairness="dp")
    with pytest.raises(ValueError, match="Unknown performance axis 'auc'. Choose from: accuracy, balanced_accuracy"):
        pareto_front(res, performance="auc")
    with pytest.raises(ValueError, match="Unknown split for choose_on 'validation'. Choose from: val, test"):
        pareto_front(res, choose_on="validation")
    with pytest.raises(ValueError, match="select needs a front.*pareto_front\\(results\\)"):
        select(res, max_unfairness=0.1)
    with pytest.raises(ValueError, match="Unknown split for on 'validation'"):
        select(pareto_front(res), max_unfairness=0.1, on="validation")
    with pytest.raises(ValueError, match="Unknown split for report_on 'validation'"):
        best_at(res, 0.1, report_on="validation")
    with pytest.raises(ValueError, match="error has 2 points but unfairness has 1"):
        hypervolume([0.2, 0.3], [0.1])
    with pytest.raises(ValueError, match="ref must be two numbers"):
        hypervolume([0.2, 0.3], [0.1, 0.05], ref=0.5)


def test_best_within_picks_on_validation_from_the_front():
    t = table()
    # On test, run ("a", 3) would look fairest of all; the pick must not see it.
    t.loc[(t.method == "a") & (t.eta == 3), "test_demographic_parity_difference"] = 0.0
    row = best_within(t, 0.07)
    assert (row["method"], row["eta"]) == ("a", 2)
    assert row["performance_val"] == pytest.approx(0.81) and row["performance_test"] == pytest.approx(0.805)
    assert row["unfairness_val"] <= 0.07 < row["unfairness_test"]  # reported on test, chosen on validation
    assert best_within(t, 0.01) is None
    assert best_within(t, 0.2)["eta"] == 0
    # Other axes: the disparate impact gap (1 - ratio) equals the DP gap here.
    assert best_within(t, 0.07, unfairness="disparate_impact_gap")["eta"] == 2
    # The same pick as best_at's figure.
    assert best_at(t, 0.07) == pytest.approx(float(row["performance_test"]))


def test_decides_alike_at_the_one_decision_share():
    rates = [0.0, ONE_DECISION_SHARE, 0.0101, 0.5, 0.9899, 1 - ONE_DECISION_SHARE, 1.0, np.nan]
    assert decides_alike(rates).tolist() == [True, True, False, False, False, True, True, False]
    assert constant_note(0.5) is None
    assert "99.5% of validation rows get the negative decision" in constant_note(0.005)
    assert "100.0% of validation rows get the positive decision" in constant_note(1.0)


def test_constant_model_is_kept_off_the_front():
    t = table().assign(val_selection_rate=0.3)
    # A model that selects nobody: gap 0, accuracy of the majority class. Undominated on
    # (accuracy, gap), so without the flag it would be the front's fair end.
    t = pd.concat([t, pd.DataFrame([{**t.iloc[0].to_dict(), "method": "a", "eta": 99, "val_accuracy": 0.6,
                                     "val_demographic_parity_difference": 0.0, "val_selection_rate": 0.004}])],
                  ignore_index=True)
    assert constant_mask(t).tolist() == [False] * 8 + [True]
    assert 99 not in pareto_front(t)["eta"].tolist()
    assert 99 in pareto_front(t, exclude_constant=False)["eta"].tolist()
    assert 99 not in pareto_front(t, by="method")["eta"].tolist()
    # select / best_at / best_within never pick it, however tight the bound.
    assert np.isnan(best_at(t, 0.01)) and best_within(t, 0.01) is None
    # The table's own column wins over the rate (a sweep table carries it).
    assert constant_mask(t.assign(constant=False)).sum() == 0
    assert constant_mask(table()).sum() == 0  # no rate, no flag


def test_a_model_no_better_than_one_decision_is_kept_off_the_front():
    # 24 % of validation rows are positive: "no" for everyone scores 0.76 at no gap, so a model
    # at 0.75 (or at 0.76) with a small gap is worse than doing nothing. Neither is constant.
    t = table().assign(val_selection_rate=0.3, val_base_rate=0.24, val_balanced_accuracy=0.7,
                       test_balanced_accuracy=0.7)
    near = {**t.iloc[0].to_dict(), "val_selection_rate": 0.9}
    t = pd.concat([t, pd.DataFrame([
        {**near, "eta": 99, "val_accuracy": 0.75, "val_demographic_parity_difference": 0.001,
         "val_balanced_accuracy": 0.55},
        {**near, "eta": 98, "val_accuracy": 0.76, "val_demographic_parity_difference": 0.0005,
         "val_balanced_accuracy": 0.5},
        {**near, "eta": 97, "val_accuracy": 0.77, "val_demographic_parity_difference": 0.002,
         "val_balanced_accuracy": 0.6},
    ])], ignore_index=True)
    assert constant_mask(t).sum() == 0
    assert below_chance_mask(t).tolist() == [False] * 8 + [True, True, False]
    assert {99, 98} & set(pareto_front(t)["eta"]) == set()
    assert 97 in pareto_front(t)["eta"].tolist()
    assert 98 in pareto_front(t, exclude_constant=False)["eta"].tolist()  # (99 is below 98)
    assert best_within(t, 0.0015) is None  # both within the bound are worse than doing nothing
    # Balanced accuracy's chance level is 0.5 whatever the base rate: 0.55 beats it, 0.5 does not.
    assert below_chance_mask(t, "balanced_accuracy").tolist() == [False] * 8 + [False, True, False]
    assert 99 in pareto_front(t, performance="balanced_accuracy")["eta"].tolist()
    # Whatever the majority is: at 80 % positive, "yes" for everyone scores 0.8 (table()'s
    # accuracies run 0.85 to 0.78; eta 3 of "a" is at 0.79, eta 2 of "b" at 0.80).
    assert below_chance_mask(t.assign(val_base_rate=0.8)).tolist() == [False] * 3 + [True] + [False] * 2 + [True] * 5
    # A table stored before the base rate was recorded flags nothing on accuracy; the split a
    # front is chosen on is the one compared.
    assert not below_chance_mask(t.drop(columns="val_base_rate")).any()
    assert not below_chance_mask(t, split="test").any()


def test_largest_step_counts_from_parity():
    assert largest_step([0.3, 0.1, 0.15]) == pytest.approx(0.15)  # 0.15 -> 0.3
    assert largest_step([0.3, 0.25, 0.2]) == pytest.approx(0.2)  # parity -> 0.2
    assert largest_step([0.3, 0.25, 0.2], from_parity=False) == pytest.approx(0.05)
    assert np.isnan(largest_step([np.nan]))


def two_seeds() -> pd.DataFrame:
    """Method "a" at two etas, two seeds. Seed 0's eta 0 is the most accurate single run, but
    over both seeds eta 1 dominates eta 0 (more accurate and fairer on average)."""
    rows = []
    figures = {(0, 0): (0.80, 0.04), (0, 1): (0.70, 0.04), (1, 0): (0.76, 0.04), (1, 1): (0.76, 0.03)}
    for (eta, seed), (acc, dp) in figures.items():
        rows.append({"method": "a", "eta": float(eta), "seed": seed, "run_id": f"a{eta}s{seed}",
                     "val_accuracy": acc, "test_accuracy": acc, "val_base_rate": 0.5, "test_base_rate": 0.5,
                     "val_demographic_parity_difference": dp, "test_demographic_parity_difference": dp})
    return pd.DataFrame(rows)


def test_with_several_seeds_every_surface_reads_one_front_over_the_settings():
    """The CLI's printout and record (sweep_front), frontier.html and the Trade-offs chart
    (frontier_figure), the tolerance pick (best_within on settings) and the record's "on the
    frontier" all read one definition; they had disagreed (per run vs per setting's mean)."""
    from fairkit.export import with_chosen_run
    from fairkit.frontier import on_sweep_front, settings, sweep_front
    from fairkit.plots import frontier_figure

    t = two_seeds()
    per_run = pareto_front(t, by="method")
    assert set(per_run["run_id"]) == {"a0s0", "a1s1"}  # what the CLI printed before
    front = sweep_front(t)
    assert front["eta"].tolist() == [1.0] and front.attrs["axes"]["seeds"] == 2
    assert front["performance_val"].iloc[0] == pytest.approx(0.76)  # the mean of both seeds
    # The chart draws the same front.
    fig = frontier_figure(t, split="val")
    line = next(tr for tr in fig.data if tr.mode and "lines" in tr.mode)
    assert list(line.customdata[:, 2].astype(float)) == [1.0]
    # The pick within 0.05 is that setting (its lowest seed's run), not seed 0's eta 0.
    pick = best_within(settings(t), 0.05)
    assert (pick["eta"], pick["run_id"]) == (1.0, "a1s0")
    # Either seed's run of the setting is on the front; a run of another setting is not.
    for run_id, on in [("a1s0", True), ("a1s1", True), ("a0s0", False)]:
        run = t[t["run_id"] == run_id].iloc[0].to_dict()
        assert on_sweep_front(front, run) is on
        table = with_chosen_run(front, run)
        chosen = table[table["selected"]]
        assert len(chosen) == 1 and bool(chosen["on_front"].iloc[0]) is on
    # One seed: the front is over runs, as before.
    one = t[t["seed"] == 0]
    assert sweep_front(one).attrs["axes"]["seeds"] == 1 and sweep_front(one)["run_id"].tolist() == ["a0s0"]


def test_a_search_candidate_is_dominated_only_by_a_run_that_could_be_on_a_front():
    """Audit 2 finding 5: the searched front is of the search's own trials; a sweep run beats a
    candidate when it is no worse on both validation axes and better on one."""
    from fairkit.frontier import dominated_by

    def rows(points, **extra):
        return pd.DataFrame([{"val_accuracy": a, "val_demographic_parity_difference": g,
                              "test_accuracy": a, "test_demographic_parity_difference": g,
                              "val_selection_rate": 0.5, "val_base_rate": 0.3, **extra} for a, g in points])

    sweep = rows([(0.760, 0.037), (0.770, 0.057)])
    # The audit's three candidates, all beaten; then one better on accuracy, one tied exactly with a
    # sweep run, one unfairer but not less accurate than the best, and one with no value.
    cands = rows([(0.720, 0.043), (0.730, 0.092), (0.765, 0.149),
                  (0.800, 0.200), (0.760, 0.037), (0.770, 0.030), (np.nan, 0.1)])
    assert dominated_by(cands, sweep).tolist() == [True, True, True, False, False, False, False]
    # A constant sweep run, or one no better than chance, beats nobody (it is on no front).
    flat = rows([(0.99, 0.0)], constant=True)
    assert not dominated_by(cands, flat).any()
    assert not dominated_by(cands, rows([(0.60, 0.0)])).any()  # chance is 0.7 at base rate 0.3
    assert not dominated_by(cands, sweep.iloc[:0]).any()


def test_a_gap_equal_to_the_tolerance_is_within_it_whatever_the_last_bit():
    """Number audit, session 45: 45/60 - 49/70 is 0.050000000000000044, printed 0.050; the tolerance
    pick returned nothing at 0.05 and the panel said "above the tolerance 0.05"."""
    from fairkit.frontier import select, within_tolerance

    gap = 45 / 60 - 49 / 70
    assert gap > 0.05 and within_tolerance(gap, 0.05) and not within_tolerance(0.0501, 0.05)
    front = pd.DataFrame({"unfairness_val": [gap, 0.2], "performance_val": [0.8, 0.9]})
    assert select(front, max_unfairness=0.05)["performance_val"] == 0.8


def test_the_panel_shows_enough_digits_for_its_verdict():
    from ui.tradeoffs import gap_against

    assert gap_against(0.03726, 0.037) == "0.0373"  # was "0.037 (above the tolerance 0.037)"
    assert gap_against(0.0368, 0.037) == "0.037"  # within, and reads so
    assert gap_against(45 / 60 - 49 / 70, 0.05) == "0.050"


def test_a_constant_model_off_the_frontier_is_not_said_to_have_a_place_on_it():
    """Export audit, session 51: a record said of one model both "it is off the frontier" and
    "its place on the frontier is validation's"."""
    from fairkit.frontier import one_decision_note

    on = one_decision_note(0.0, "test")
    off = one_decision_note(0.0, "test", on_front=False)
    assert "its place on the frontier is validation's" in on and "do not read its test gap" in on
    assert "place on the frontier" not in off and "do not read its test gap as fair treatment" in off
    assert one_decision_note(0.0, "test", on_front=True) == on


def test_the_one_decision_note_of_a_scored_batch_is_the_engines_wording():
    """score printed its own sentence for a batch nobody is told apart in, beside the engine's
    (one-implementation audit, session 53)."""
    from fairkit.frontier import one_decision_note

    assert one_decision_note(0.004, "batch") == (
        "This model gives 99.6% of this batch's rows the negative decision: its fairness gaps on this batch "
        "are small because it tells almost nobody apart, not because it treats groups alike.")
    assert one_decision_note(1.0, "batch").startswith("This model gives every row of this batch the positive decision")
    assert one_decision_note(0.4, "batch") is None
