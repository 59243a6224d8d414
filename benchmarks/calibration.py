"""Calibration: group calibration repairs a deliberately miscalibrated group.

On COMPAS (race) and Adult (sex x race): train the unconstrained network, multiply one group's
logits by 3 (over-confident for that group), fit ``GroupFairnessCalibrator`` (platt, isotonic,
temperature) on held-out calibration rows and measure group ECE before and after, for the
victim group and for the worst group with at least ``MIN_ECE_ROWS`` evaluation rows. The same
on the untouched model shows that calibrating an already calibrated model does not hurt.

The plug-in 10-bin ECE is biased upwards on small samples (a perfectly calibrated model scores
about 0.04 on 600 rows), so every figure comes with:

- ``floor`` / ``floor95``: mean and 95th percentile of the plug-in ECE a *perfectly calibrated*
  model with the same scores would show (``calibration_noise_floor``, labels ~ Bernoulli(p));
- ``dbL2``: the debiased L2 calibration error of Kumar et al. (2019), unbiased on the squared
  scale and never below the binned L1 error in the population, and ``dbL2_95``, its own 95th
  percentile under perfect calibration (values below it are consistent with 0);
- ``sweep``: ECE_sweep of Roelofs et al. (2022).

For the "max" rows the floor is that of the *max* over the eligible groups (each group simulated
independently), since the largest of several noisy ECEs is larger than any one of them.

Two evaluations:

1. single split: ``split_dataset`` (60/20/20, seed 0), model on train, calibrator on validation,
   ECE on test (as before);
2. cross-fitted: 5 stratified folds over all rows; per fold the model is trained on 75 % of the
   other folds, the calibrator on the remaining 25 %, and the held-out fold is predicted; the
   out-of-fold predictions are pooled, so every row has an honest test prediction (5x the rows
   of the single test set, each from a model that never saw it).

Run: ``python -m benchmarks.calibration`` from the project root (about 2 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from fairkit.calibration import GroupFairnessCalibrator
from fairkit.data import binary_target
from fairkit.datasets import load_dataset
from fairkit.diagnostics import calibration_by_group, calibration_noise_floor
from fairkit.estimators import FairRegularizedClassifier
from fairkit.groups import group_labels
from fairkit.split import make_preprocessor, split_dataset, stratification_labels, usable_feature_columns
from fairkit.sweep import torch_threads

from .common import add_out_argument, out_dir, report

# Groups smaller than this are left out of the max: their plug-in ECE is mostly noise.
MIN_ECE_ROWS = 200
N_BINS = 10
N_SIM = 1000  # noise-floor simulations per group and score set
K_FOLDS = 5
METHODS = ("platt", "isotonic", "temperature")
CASES = [("compas", ["race"], "African-American"), ("adult", ["sex", "race"], "Female & White")]
MODEL = dict(eta=0.0, hidden_layer_sizes=(32,), max_epochs=20, lr=5e-3, batch_size=256)


def _logit(p):
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _fit_model(X, y, seed):
    with torch_threads(1):
        return FairRegularizedClassifier(**MODEL, random_state=seed).fit(X, y)


def _stage_scores(model, X_cal, y_cal, g_cal, X_eval, g_eval, victim, distorted):
    """Evaluation scores before ("none") and after each group calibration method."""
    scores = {}
    for part, X, g in (("cal", X_cal, g_cal), ("eval", X_eval, g_eval)):
        z = _logit(model.predict_proba(X)[:, 1])
        if distorted:
            z = np.where(np.asarray(g, dtype=object) == victim, 3.0 * z, z)
        scores[part] = 1 / (1 + np.exp(-z))
    out = {"none": scores["eval"]}
    for method in METHODS:
        cal = GroupFairnessCalibrator(method=method, min_group_size=30)
        cal.fit(scores["cal"], y_cal, pd.Series(g_cal, name="group"))
        out[method] = cal.transform(scores["eval"], pd.Series(g_eval, name="group"))
    return out


def _ece_rows(y, p, groups, victim, meta, seed):
    """Victim row and max-over-groups row for one set of evaluation scores."""
    groups = np.asarray(groups, dtype=object)
    table = calibration_by_group(y, p, groups, n_bins=N_BINS, debiased=True)
    eligible = table[table["n"] >= MIN_ECE_ROWS]
    floors = {}

    def floor(group, estimator):
        # One seed per group: the groups' rows are disjoint, so their simulations must be
        # independent for the null distribution of the max to be right.
        if (group, estimator) not in floors:
            floors[group, estimator] = calibration_noise_floor(
                p[groups == group], N_BINS, "uniform", estimator=estimator, n_sim=N_SIM,
                random_state=[seed, table.index.get_loc(group)])
        return floors[group, estimator].samples

    def summary(names, estimator):
        # Null distribution of the max over ``names`` of a perfectly calibrated model's ECE.
        sims = np.max([floor(g, estimator) for g in names], axis=0)
        return float(sims.mean()), float(np.quantile(sims, 0.95))

    def row(target, group, names, ece, db, db_group, sweep):
        mean, q95 = summary(names, "plugin")
        return {**meta, "target": target, "group": group, "n": int(table.loc[group, "n"]),
                "ECE": ece, "floor": mean, "floor95": q95, "dbL2": db,
                "dbL2_95": summary(names, "debiased")[1], "dbL2_group": db_group, "sweep": sweep}

    v = table.loc[victim]
    return [
        row("victim", victim, [victim], v["ece_uniform"], v["ece_debiased_l2"], victim,
            v["ece_sweep"]),
        row(f"max n>={MIN_ECE_ROWS}", eligible["ece_uniform"].idxmax(), list(eligible.index),
            eligible["ece_uniform"].max(), eligible["ece_debiased_l2"].max(),
            eligible["ece_debiased_l2"].idxmax(), eligible["ece_sweep"].max()),
    ]


def run_single_split(seed: int = 0) -> pd.DataFrame:
    """ECE rows of every case: model on train, calibrators on validation, ECE on test (one split)."""
    rows = []
    for name, sensitive, victim in CASES:
        frame, spec = load_dataset(name)
        split = split_dataset(frame, spec.replace(sensitive=sensitive), seed=seed)
        model = _fit_model(split.train.X, split.train.y, seed)
        for distorted in (True, False):
            stages = _stage_scores(
                model, split.validation.X, split.validation.y,
                split.validation.groups.to_numpy(dtype=object), split.test.X,
                split.test.groups.to_numpy(dtype=object), victim, distorted)
            for stage, p in stages.items():
                meta = {"dataset": name, "model": "x3 victim" if distorted else "unmodified",
                        "calib": stage}
                rows += _ece_rows(split.test.y, p, split.test.groups, victim, meta, seed)
    return pd.DataFrame(rows)


def crossfit_predictions(name, sensitive, victim, k=K_FOLDS, seed=0):
    """Pooled out-of-fold scores: {(distorted, stage): p} over every row of the dataset."""
    frame, spec = load_dataset(name)
    spec = spec.replace(sensitive=sensitive)
    y_all = binary_target(frame, spec)
    work = frame.loc[y_all >= 0].reset_index(drop=True)
    y = y_all[y_all >= 0]
    groups = group_labels(work[sensitive]).to_numpy(dtype=object)
    raw = work[usable_feature_columns(work, spec)]  # as split_dataset does
    # Rare group x label cells pooled by label so every fold can be stratified.
    strata = stratification_labels(pd.Series(groups), y, 4 * k)
    out = {}
    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for fold, (rest, held) in enumerate(folds.split(np.zeros(len(y)), strata)):
        tr, ca = train_test_split(rest, test_size=0.25, random_state=seed + fold,
                                  stratify=strata[rest])
        pre = make_preprocessor(raw).fit(raw.iloc[tr])  # fitted on the model's rows only

        def X(ix):
            return np.asarray(pre.transform(raw.iloc[ix]), dtype=np.float32)

        model = _fit_model(X(tr), y[tr], seed + fold)
        X_ca, X_ho = X(ca), X(held)
        for distorted in (True, False):
            stages = _stage_scores(model, X_ca, y[ca], groups[ca], X_ho, groups[held], victim,
                                   distorted)
            for stage, p in stages.items():
                out.setdefault((distorted, stage), np.full(len(y), np.nan))[held] = p
    return y, groups, out


def run_crossfit(seed: int = 0) -> pd.DataFrame:
    """ECE rows of every case over the pooled out-of-fold scores of :func:`crossfit_predictions`."""
    rows = []
    for name, sensitive, victim in CASES:
        y, groups, preds = crossfit_predictions(name, sensitive, victim, seed=seed)
        for (distorted, stage), p in preds.items():
            assert not np.isnan(p).any()
            meta = {"dataset": name, "model": "x3 victim" if distorted else "unmodified",
                    "calib": stage}
            rows += _ece_rows(y, p, groups, victim, meta, seed)
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    """``python -m benchmarks.calibration``: both evaluations, printed and saved; returns 0."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.calibration",
                                description=__doc__.split("\n")[0])
    add_out_argument(p)
    args = p.parse_args(argv)
    out = out_dir(args.out)
    t0 = time.perf_counter()
    single = run_single_split()
    t1 = time.perf_counter()
    crossfit = run_crossfit()
    t2 = time.perf_counter()
    legend = (
        f"ECE = plug-in {N_BINS}-bin equal-width ECE; floor/floor95 = mean/95th pct of that ECE "
        f"for a perfectly calibrated model with the same scores ({N_SIM} sims); dbL2 = debiased "
        "L2 error (Kumar et al. 2019), dbL2_95 = its 95th pct under perfect calibration; "
        f"sweep = ECE_sweep (Roelofs et al. 2022). 'max' rows: max over groups with >= "
        f"{MIN_ECE_ROWS} evaluation rows; group/n = plug-in argmax, dbL2_group = dbL2 argmax; "
        "their floor, floor95 and dbL2_95 are those of the max over the same groups under "
        "perfect calibration."
    )
    print(legend)
    report("Single split (seed 0): calibrator on validation, ECE on test", single, out,
           "calibration_single_split", float_format="{:.4f}")
    report(f"Cross-fitted ({K_FOLDS} folds): pooled out-of-fold predictions over all rows",
           crossfit, out, "calibration_crossfit", float_format="{:.4f}")
    print(f"time: single split {t1 - t0:.0f}s, cross-fitted {t2 - t1:.0f}s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
