"""A large table for the benchmarks: 200,000 Adult-like rows (issue 21's "large table").

Nothing can be downloaded here and no bundled table is large, so the rows are generated from
Adult: each row is an Adult row drawn at random, its numeric columns moved (age and hours by a
few units, capital gains and losses scaled by a log-normal factor, education left alone) and,
with probability 0.15, its occupation and workclass taken from another row of the same sex.
The outcome is then drawn anew from ``P(income > 50K | row)`` of gradient-boosted trees fitted
on all of Adult (the attribute included, so the group differences of the real data carry
over). Copies of an Adult row are therefore not copies of its label, and a model cannot win by
remembering rows: what there is to learn is the fitted ``P(y | x)``, which the generator knows,
at a scale where thresholds fitted on the validation part are no longer noisy.

``load_split("adult200k")`` (benchmarks.common) splits it as any bundled dataset (60/20/20).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Generated tables by name: (rows, seed of the generator).
GENERATED = {"adult200k": (200_000, 0)}


def _features(frame: pd.DataFrame, target: str, exclude) -> pd.DataFrame:
    X = frame.drop(columns=[target, *exclude])
    return pd.get_dummies(X, dtype=np.float32)


def adult_like(n_rows: int = 200_000, seed: int = 0):
    """``(frame, spec)``: ``n_rows`` Adult-like rows (module docstring) and Adult's spec.

    Parameters
    ----------
    n_rows : int
    seed : int
        Seed of the draw of rows, moves and labels (the label model is fitted with seed 0).

    Returns
    -------
    frame : pandas.DataFrame
    spec : fairkit.data.DatasetSpec
    """
    from lightgbm import LGBMClassifier

    from fairkit.datasets import load_dataset

    adult, spec = load_dataset("adult")
    rng = np.random.default_rng(seed)
    out = adult.iloc[rng.integers(0, len(adult), n_rows)].reset_index(drop=True)
    out["age"] = np.clip(out["age"] + rng.integers(-2, 3, n_rows), 17, 90)
    out["hours_per_week"] = np.clip(out["hours_per_week"] + rng.integers(-3, 4, n_rows), 1, 99)
    for col in ("capital_gain", "capital_loss"):
        scale = rng.lognormal(0.0, 0.2, n_rows)
        out[col] = np.round(out[col] * scale).astype(np.int64)
    swap = rng.random(n_rows) < 0.15
    for sex, rows in out.groupby("sex").groups.items():
        rows = np.asarray(rows)
        moved = rows[swap[rows]]
        donors = rng.choice(rows, len(moved))
        for col in ("occupation", "workclass"):
            out.loc[moved, col] = out.loc[donors, col].to_numpy()
    y_adult = (adult[spec.target] == spec.positive_label).to_numpy()
    X_adult = _features(adult, spec.target, spec.exclude)
    labels = LGBMClassifier(n_estimators=150, learning_rate=0.05, num_leaves=15, min_child_samples=50,
                            random_state=0, n_jobs=1, verbose=-1).fit(X_adult, y_adult)
    X_out = _features(out, spec.target, spec.exclude).reindex(columns=X_adult.columns, fill_value=0.0)
    p = labels.predict_proba(X_out)[:, 1]
    negative = next(v for v in adult[spec.target].unique() if v != spec.positive_label)
    out[spec.target] = np.where(rng.random(n_rows) < p, spec.positive_label, negative)
    return out, spec.replace(name=f"adult_like_{n_rows}")
