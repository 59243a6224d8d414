"""Reductions: fairkit's ``ReductionsWrapper`` against plain ExponentiatedGradient at the same bounds."""

from __future__ import annotations

import time
import warnings

import pandas as pd

from .common import BOUNDS, DP, fairlearn_eg_runs, ratio, split_metrics

#: Bounds of the ReductionsWrapper comparison (a subset of BOUNDS, whose EG fits it reuses).
REDUCTION_BOUNDS = [0.01, 0.02, 0.05, 0.1]


def compare_reductions(split, *, bounds=None, seed=0, eg_table=None) -> pd.DataFrame:
    """``ReductionsWrapper`` (max_bound = b, eta = 0) vs plain EG(LogReg) at each bound.

    Parameters
    ----------
    split : fairkit.split.Split
    bounds : list of float, optional
        DP bounds (default :data:`benchmarks.common.BOUNDS`).
    seed : int
        The wrapper's seed and the EG run's seed.
    eg_table : DataFrame, optional
        EG runs measured earlier in the same process (must hold ``seed`` at every bound).

    Returns
    -------
    DataFrame
        One row per bound: both sides' test accuracy, test and validation DP difference, ROC AUC
        (NaN for EG: labels only), fit seconds and their ratio, and the deltas wrapper - EG.
    """
    from sklearn.linear_model import LogisticRegression

    from fairkit.estimators.reductions import ReductionsWrapper

    bounds = BOUNDS if bounds is None else bounds
    eg = eg_table if eg_table is not None else fairlearn_eg_runs(split, bounds, [seed])
    eg = eg[eg.seed == seed].set_index("bound")
    rows = []
    for b in bounds:
        rw = ReductionsWrapper(LogisticRegression(max_iter=300), eta=0.0, max_bound=b, random_state=seed)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rw.fit(split.train.X, split.train.y, sensitive_features=split.train.sensitive)
        secs = time.perf_counter() - t0
        m = split_metrics(split, lambda part: rw.predict_proba(part.X)[:, 1])
        e = eg.loc[b]
        rows.append({
            "bound": b,
            "rw_test_acc": m["test_accuracy"], "eg_test_acc": e["test_accuracy"],
            "rw_test_dp": m[f"test_{DP}"], "eg_test_dp": e[f"test_{DP}"],
            "rw_val_dp": m[f"val_{DP}"], "eg_val_dp": e[f"val_{DP}"],
            "rw_test_roc_auc": m["test_roc_auc"], "eg_test_roc_auc": float("nan"),
            "rw_fit_s": secs, "eg_fit_s": e["fit_seconds"], "fit_ratio_rw_over_eg": ratio(secs, e["fit_seconds"]),
        })
    out = pd.DataFrame(rows)
    out["acc_delta"] = out["rw_test_acc"] - out["eg_test_acc"]
    out["dp_delta"] = out["rw_test_dp"] - out["eg_test_dp"]
    return out
