"""Shared fixtures of the estimator tests: small synthetic data with a built-in group bias."""

import numpy as np
import pandas as pd
import pytest


def _biased(n=1000, seed=0, d=4, shift=1.0, label_bias=0.8):
    """Binary group ``a`` shifts feature 0 and the label log-odds: a classifier trained on X
    learns a selection-rate gap between the groups."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, n)
    X = rng.normal(size=(n, d))
    X[:, 0] += shift * a
    logit = X[:, 0] + 0.5 * X[:, 1] - 0.3 + label_bias * a
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    return X, y, a


@pytest.fixture
def biased_data():
    """Factory ``biased_data(n=1000, seed=0, ...) -> (X, y, a)``."""
    return _biased


@pytest.fixture
def intersectional_data():
    """Factory ``(n=1500, seed=0) -> (X DataFrame, y, S DataFrame with sex and race)``."""

    def make(n=1500, seed=0):
        rng = np.random.default_rng(seed)
        sex = rng.choice(["F", "M"], n)
        race = rng.choice(["A", "B", "C"], n, p=[0.6, 0.3, 0.1])
        s = (sex == "M") + 0.7 * (race == "A")
        X = rng.normal(size=(n, 4))
        X[:, 0] += s
        logit = X[:, 0] + 0.5 * X[:, 1] - 0.5 + 0.8 * s
        y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
        Xdf = pd.DataFrame(X, columns=[f"x{i}" for i in range(4)])
        return Xdf, y, pd.DataFrame({"sex": sex, "race": race})

    return make


def selection_gap(pred, groups):
    """Largest difference in positive-prediction rate between two groups."""
    rates = pd.Series(np.asarray(pred)).groupby(np.asarray(groups)).mean()
    return float(rates.max() - rates.min())


def tpr_gap(pred, y, groups):
    """Largest difference in true-positive rate between two groups."""
    pos = np.asarray(y) == 1
    return selection_gap(np.asarray(pred)[pos], np.asarray(groups)[pos])


@pytest.fixture
def gaps():
    """Namespace with ``selection_gap(pred, groups)`` and ``tpr_gap(pred, y, groups)``."""

    class _G:
        selection = staticmethod(selection_gap)
        tpr = staticmethod(tpr_gap)

    return _G
