"""Fairness drift: compare a new batch's gaps with the intervals recorded at export."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .data import binary_target
from .metrics import GAP_METRICS, fairness_report

WATCHED = ["demographic_parity_difference", "equal_opportunity_difference", "equalized_odds_difference",
           "disparate_impact_ratio", "max_group_ece"]


def drift_report(bundle, frame: pd.DataFrame, scores, *, n_boot: int = 200) -> dict | None:
    """Fairness of a scored batch against the bundle's recorded test metrics.

    A gap is flagged when the new batch's value lies outside the 95% interval recorded for the
    same attribute on the test split at export. Returns None when the batch lacks the target or
    a sensitive column (nothing to compare).
    """
    spec = bundle.spec
    if spec.target not in frame or not all(c in frame for c in spec.sensitive):
        return None
    y = binary_target(frame, spec)
    keep = y >= 0
    rep = fairness_report(y[keep], np.asarray(scores)[keep], frame.loc[keep, spec.sensitive].reset_index(drop=True),
                          threshold=bundle.threshold, n_boot=n_boot)
    recorded = {g["attribute"]: g for g in bundle.metrics["test"]["gaps"]}
    flags = []
    for attribute, row in rep.gaps.iterrows():
        ref = recorded.get(attribute)
        if ref is None:
            continue
        for m in WATCHED:
            lo, hi, new = ref.get(f"{m}_low"), ref.get(f"{m}_high"), float(row[m])
            if lo is None or hi is None or not np.isfinite(new):
                continue
            if new < lo or new > hi:
                flags.append({"attribute": attribute, "metric": m, "new": new, "recorded": ref.get(m),
                              "interval": [lo, hi],
                              "message": f"{m.replace('_', ' ')} for {attribute} is {new:.3f}, outside the recorded "
                                         f"interval [{lo:.3f}, {hi:.3f}] (was {ref.get(m):.3f})."})
    acc_then = bundle.metrics["test"]["overall"]["accuracy"]
    summary = (f"New batch: {int(keep.sum()):,} labelled rows, accuracy {rep.overall['accuracy']:.3f} (recorded {acc_then:.3f}); "
               f"{len(flags)} fairness gap(s) moved outside their recorded interval.")
    return {"summary": summary, "drift": flags, "overall": rep.overall,
            "gaps": rep.gaps.reset_index().to_dict(orient="records"),
            "by_group": rep.by_group.to_dict(orient="records"), "watched": WATCHED, "gap_metrics": GAP_METRICS}
