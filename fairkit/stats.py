"""The evaluation kernel: one source for every per-group number fairkit reports.

Every rate, gap, calibration error and interval that a report, a sweep row, a dashboard page or
a decision record shows is computed here, from one set of per-group sufficient statistics. See
``docs/ARCHITECTURE.md`` ("The evaluation kernel") for why there is exactly one copy.
"""

from __future__ import annotations

import numpy as np


def decide(scores, threshold: float = 0.5) -> np.ndarray:
    """The one decision rule: a row is selected (predicted positive) when ``score >= threshold``.

    Reports, sweep rows, estimators' ``predict`` and exported bundles all decide with this
    function, so a model's accuracy and its gaps are measured on the decisions it ships with.

    Parameters
    ----------
    scores : array-like of float
        Predicted probabilities of the positive class, any shape.
    threshold : float, default=0.5

    Returns
    -------
    ndarray of bool, the shape of ``scores``
    """
    return np.asarray(scores, dtype=np.float64) >= threshold
