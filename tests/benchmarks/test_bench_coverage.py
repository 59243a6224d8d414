"""The weighted-interval coverage benchmark: both ways on the same draws, on a few test sets."""

import numpy as np
import pytest

from benchmarks.coverage import gaps, rates, weighted_rate


def test_the_truth_is_the_weighted_selection_rate():
    # Selected rows weigh 4.2 on average, others 1.8: at p = 0.5 the weighted rate is 4.2 / 6.
    assert weighted_rate(0.5) == pytest.approx(0.7) and weighted_rate(0.0) == 0.0 and weighted_rate(1.0) == 1.0


@pytest.mark.parametrize("cells", [rates, gaps])
def test_each_cell_has_both_methods_and_fairkits_is_never_narrower(cells):
    table = cells(40)
    assert set(table["method"]) == {"Kish", "fairkit"} and table["coverage"].between(0, 1).all()
    kish, now = (table[table.method == m].reset_index(drop=True) for m in ("Kish", "fairkit"))
    # The linearised size is used only where it is smaller than Kish's: never a narrower interval.
    assert np.all(now["mean_width"] >= kish["mean_width"] - 1e-12)


def test_the_paired_cells_read_the_engines_two_intervals():
    """The paired part computes both intervals from each test set's counts: they are
    stats.paired_difference's and stats.paired_proportion_interval's on those rows."""
    from benchmarks.coverage import paired
    from fairkit import stats

    table = paired(30)
    assert set(table["method"]) == {"normal", "fairkit"} and table["coverage"].between(0, 1).all()
    rows, only_a, only_b = 300, 4, 1
    a = np.zeros(rows, bool)
    b = np.zeros(rows, bool)
    a[:only_a] = True
    b[only_a:only_a + only_b] = True
    diff, _, half = stats.paired_difference(a, b)
    est = (only_a - only_b) / rows
    assert half == pytest.approx(1.959963984540054 * np.sqrt(((only_a + only_b) / rows - est ** 2) / (rows - 1)))
    assert stats.paired_proportion_interval(a, b) == stats.paired_counts_interval(only_a, only_b, rows, 0.95)


def test_the_headline_cells_count_the_reports_headline_interval():
    from benchmarks.coverage import headline

    table = headline(3)
    assert len(table) == 16 and table["coverage"].isin([0, 1 / 3, 2 / 3, 1]).all()
    assert set(table["gap"]) == {"demographic_parity_difference", "equalized_odds_difference"}
