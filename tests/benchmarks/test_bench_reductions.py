"""benchmarks.reductions: ReductionsWrapper against ExponentiatedGradient, checked with fairlearn's metrics."""

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import demographic_parity_difference
from sklearn.linear_model import LogisticRegression

from benchmarks.common import load_split
from benchmarks.reductions import compare_reductions
from fairkit.estimators.reductions import ReductionsWrapper

DP = "demographic_parity_difference"


def test_wrapper_row_matches_an_independent_fit_and_the_eg_row_is_copied():
    german = load_split("german")
    # A stand-in EG table: its figures must come through unchanged, at the matching seed only.
    eg = pd.DataFrame([{"seed": s, "bound": 0.05, "test_accuracy": 0.70 + s, f"test_{DP}": 0.08 + s,
                        f"val_{DP}": 0.06 + s, "fit_seconds": 2.0 + s} for s in (0, 1)])
    row = compare_reductions(german, bounds=[0.05], eg_table=eg).iloc[0]
    assert (row["eg_test_acc"], row["eg_test_dp"], row["eg_val_dp"], row["eg_fit_s"]) == (0.70, 0.08, 0.06, 2.0)
    assert np.isnan(row["eg_test_roc_auc"])

    rw = ReductionsWrapper(LogisticRegression(max_iter=300), eta=0.0, max_bound=0.05, random_state=0)
    rw.fit(german.train.X, german.train.y, sensitive_features=german.train.sensitive)
    test = german.test
    pred = (rw.predict_proba(test.X)[:, 1] >= 0.5).astype(int)
    acc = float(np.mean(pred == test.y))
    dp = demographic_parity_difference(test.y, pred, sensitive_features=test.sensitive.iloc[:, 0])
    assert row["rw_test_acc"] == pytest.approx(acc)
    assert row["rw_test_dp"] == pytest.approx(dp)
    assert row["acc_delta"] == pytest.approx(acc - 0.70)
    assert row["dp_delta"] == pytest.approx(dp - 0.08)
    assert row["fit_ratio_rw_over_eg"] == pytest.approx(row["rw_fit_s"] / 2.0)
