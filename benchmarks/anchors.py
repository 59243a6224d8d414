"""fairkit against every public anchor, side by side in one run (issue 21).

``python -m benchmarks.anchors --anchor-python /path/to/anchors-venv/bin/python``

Anchors: fairlearn (``ExponentiatedGradient(LogisticRegression)`` for demographic parity and
equalized odds: attribute-blind; ``ThresholdOptimizer`` on the shared boosted base: aware),
FairGBM (constrained LightGBM: blind), error-parity (relaxed group thresholds on the shared base:
aware), OxonFair (group thresholds on the shared base: aware; and on inferred group
probabilities: blind). fairlearn runs here; the other three run in their own environment
(``benchmarks/requirements-anchors.txt``: error-parity needs numpy < 2, FairGBM scikit-learn < 1.8)
through :mod:`benchmarks.anchor_runner`, on arrays this module saves: the same split, the same
encoded features, the same base scores for every post-processor.

fairkit runs its sweep (adaptive placement) told the tolerances the cells read, 0.01, 0.02 and
0.05 (``run_sweep(tolerance=...)``: each method also gets a model just within each, as a committee
that states its tolerances gets; the anchors are given theirs too), family ``fairkit``; its default
sweep runs beside it, family ``fairkit-default`` (the summary's ``default`` columns), unless
``--no-bracket``. Neither fairkit family counts among the anchors.

Every model of every family is measured here with fairkit's kernel
(:func:`fairkit.metrics.summary_metrics`), on every definition, whatever it was fitted for: a
model is a model. Per dataset, seed, definition and setting (``blind``: models that do not read
the attribute at prediction; ``aware``: all models), each family's validation-chosen front is
reported on test: best test accuracy at validation gap <= 0.01 / 0.02 / 0.05 (constant models
never count), HV@0.05 (hypervolume of the test points of the validation front, reference
(majority-class test error, gap 0.05)) and HV (reference gap 1.0); fairkit's HV@0.05 ratio to the
anchors' union also gets a 95 % interval over 200 bootstrap resamples of the test rows, the fronts
kept as chosen (:func:`hv_replicates`, :func:`ratio_interval`). At each tolerance fairkit's pick
is also compared with each anchor's pick on the same test rows (:func:`fairkit.stats.paired_difference`
of the rows each decides correctly); the summary gives the mean over seeds and its 95 % interval
for the best single anchor, so a difference within noise reads as one.

The post-processing anchors (error-parity, OxonFair, fairlearn's ThresholdOptimizer) fit their
thresholds on the validation part, as their authors do: their validation figures are in-sample,
their test figures are not. fairkit's methods fit on the training part only. With
``--selection heldout`` the anchors fit on one half of the validation part (stratified by group
and outcome) and every method is chosen on the other half, which no method has seen: a pick's
validation gap is then evidence for every family alike.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from fairkit.frontier import constant_mask, decides_alike, hypervolume, pareto_front, select
from fairkit.methods import FAIRNESS_DEFINITIONS, METHODS
from fairkit.metrics import SWEEP_THRESHOLD, bootstrap_metrics, summary_metrics
from fairkit.record import fmt
from fairkit.split import reserve_threshold_rows
from fairkit.stats import bootstrap_weights, decide, paired_difference

from .common import DEFAULT_SENSITIVE, front_hypervolume, limit_threads, load_split, majority_error, out_dir, report

#: The definitions compared (keys of FAIRNESS_DEFINITIONS).
DEFINITIONS = ("demographic_parity", "equalized_odds")
TOLERANCES = (0.01, 0.02, 0.05)
#: fairkit methods run by default: the registry's methods minus the ones that train one eta at
#: a time for minutes on Adult (pass ``--methods`` to add them) and the accuracy baseline (every
#: method's sweep has its own unconstrained end).
SLOW = ("adversarial", "reductions", "forml")
#: Bounds of fairlearn's ExponentiatedGradient (few: each is a full reduction, minutes on Adult).
EG_BOUNDS = (0.005, 0.01, 0.02, 0.05, 0.1)
#: fairlearn ThresholdOptimizer tolerances.
TO_TOLS = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1)
#: Default seeds per dataset: German is re-split per seed (its 200-row test part is noisy);
#: Adult and COMPAS keep split seed 0 and vary the training seed.
DEFAULT_SEEDS = {"adult": 1, "compas": 3, "german": 5}
RESPLIT = ("german",)


def default_methods() -> list:
    return [m for m, spec in METHODS.items() if m not in SLOW and spec.role != "baseline"]


def _parts(split, fit_part=None) -> dict:
    """The parts the anchors see, by the names of the saved arrays ("fit": where the
    post-processing anchors fit their thresholds when it is not the validation part)."""
    parts = {"train": split.train, "val": split.validation, "test": split.test}
    if fit_part is not None:
        parts["fit"] = fit_part
    return parts


def heldout_split(split, seed: int):
    """``(split_for_choosing, fit_part)``: the validation part in two halves, stratified by group
    and outcome (:func:`fairkit.split.reserve_threshold_rows`). The post-processing anchors fit
    their thresholds on ``fit_part`` (the returned split's ``thresholds``); every method is
    chosen on the other half, which no method has fitted on (``--selection heldout``)."""
    reserved = reserve_threshold_rows(split, 0.5, seed=seed)
    return dataclasses.replace(reserved, data_hash=f"{split.data_hash}:heldout{seed}"), reserved.thresholds


def fairkit_split(split, thresholds: str):
    """The split fairkit's sweep gets: its post-processors fit their thresholds on the rows the
    anchors' post-processors fit on (``thresholds="anchors"``: the reserved half with
    ``--selection heldout``, else the validation part itself, in-sample as the anchors' are), or
    on the training part only (``"train"``)."""
    if thresholds == "train":
        return dataclasses.replace(split, thresholds=None, thresholds_source="")
    if thresholds != "anchors":
        raise ValueError(f"thresholds must be 'anchors' or 'train', got {thresholds!r}")
    if split.thresholds is not None:
        return split
    return dataclasses.replace(split, thresholds=split.validation, thresholds_source="validation, in-sample")


def _base_and_groups(split, seed: int, fit_part=None):
    """The shared unconstrained base (LightGBM) and the group classifier, fitted on training rows."""
    from lightgbm import LGBMClassifier

    base = LGBMClassifier(n_estimators=200, learning_rate=0.05, n_jobs=1, random_state=seed, verbose=-1)
    base.fit(split.train.X, split.train.y)
    parts = _parts(split, fit_part)
    # The groups every method fits with: fairkit's estimators' (small groups pooled, one policy);
    # metrics still read each row's own group. Raw COMPAS groups of 2-6 validation rows leave
    # one outcome only in a half of the part, where error-parity's and OxonFair's fits fail.
    labels = {p: split.model_groups(part).astype(str).to_numpy() for p, part in parts.items()}
    cats = pd.Index(sorted(set().union(*(set(v) for v in labels.values()))))
    codes = {p: cats.get_indexer(v) for p, v in labels.items()}
    groups = LGBMClassifier(n_estimators=200, learning_rate=0.05, n_jobs=1, random_state=seed, verbose=-1)
    groups.fit(split.train.X, codes["train"])
    q = {}
    for p, part in parts.items():
        if p == "train":
            continue
        proba = np.zeros((len(part), len(cats)))
        proba[:, groups.classes_] = groups.predict_proba(part.X)
        q[p] = proba
    return base, codes, q


def save_arrays(split, path, seed: int, fit_part=None):
    """Write what :mod:`benchmarks.anchor_runner` reads; return the base model (for fairlearn)."""
    base, codes, q = _base_and_groups(split, seed, fit_part)
    arrays = {}
    for p, part in _parts(split, fit_part).items():
        arrays.update({f"X_{p}": part.X, f"y_{p}": part.y, f"g_{p}": codes[p]})
        if p != "train":
            arrays.update({f"s_{p}": base.predict_proba(part.X)[:, 1], f"q_{p}": q[p]})
    np.savez(path, **arrays)
    return base, codes


#: The key under which a run's row carries which test rows it decides correctly, until
#: :func:`compare` takes it out of the table (the paired comparison of two picks reads it).
CORRECT = "_test_correct"


def correct_rows(split, scores, accuracy: float) -> np.ndarray:
    """Which test rows a model's scores or decisions decide correctly (int8), by the kernel's one
    decision rule; checked against the accuracy the kernel reported for the same model, so the
    paired comparison reads the very decisions the cells counted."""
    correct = (decide(scores, SWEEP_THRESHOLD) == split.test.y.astype(bool)).astype(np.int8)
    if not np.isclose(correct.mean(), accuracy, rtol=0, atol=1e-9):
        raise RuntimeError(f"test decisions give accuracy {correct.mean():.6f}, the kernel {accuracy:.6f}")
    return correct


def _measure(split, d_val, d_test, *, ranks: bool) -> list[dict]:
    """fairkit's sweep metrics of K models' validation and test scores or decisions."""
    rows = [{} for _ in range(len(d_val))]
    for prefix, part, D in (("val", split.validation, d_val), ("test", split.test, d_test)):
        for row, m in zip(rows, summary_metrics(part.y, np.asarray(D, dtype=float), part.sensitive, ranks=ranks)):
            row.update({f"{prefix}_{k}": v for k, v in m.items()})
    for row, d in zip(rows, d_test):
        row[CORRECT] = correct_rows(split, np.asarray(d, dtype=float), row["test_accuracy"])
    return rows


def anchor_rows(split, seed: int, python: str, anchors: str, workdir: Path, fit_part=None):
    """Every public anchor's models on this split, measured with fairkit's kernel (thresholds
    fitted on ``fit_part`` when given, else on the validation part), and the shared base."""
    data, out = workdir / f"arrays_{seed}.npz", workdir / f"anchors_{seed}.npz"
    base, codes = save_arrays(split, data, seed, fit_part)
    rows = []
    external = ",".join(a for a in anchors.split(",") if a != "fairlearn")
    if external:
        t0 = time.perf_counter()
        subprocess.run([python, str(Path(__file__).with_name("anchor_runner.py")), "--data", str(data),
                        "--out", str(out), "--seed", str(seed), "--anchors", external], check=True)
        print(f"  anchors ({external}) in {time.perf_counter() - t0:.0f} s")
        with np.load(out, allow_pickle=False) as z:
            for i, m in enumerate(_measure(split, z["d_val"], z["d_test"], ranks=False)):
                rows.append({"family": str(z["anchor"][i]), "method": str(z["names"][i]),
                             "aware": bool(z["aware"][i]), "fitted_for": str(z["definition"][i]),
                             "fit_seconds": float(z["fit_seconds"][i]), **m})
    if "fairlearn" in anchors.split(","):
        rows += _fairlearn_rows(split, seed, base, codes, fit_part)
    return pd.DataFrame(rows), base


def noise_floors(split, base) -> dict:
    """Per definition, the gap a model fair in the population shows by chance on the validation
    part (median and 95th percentile) and on test (median): the shared base's decisions shuffled
    (:func:`fairkit.metrics.gap_noise_floor`). A tolerance below the validation median is met
    by luck more often than by design, for every method alike."""
    from fairkit.metrics import gap_noise_floor

    out = {}
    floors = {k: gap_noise_floor(p.y, base.predict_proba(p.X)[:, 1], p.sensitive)
              for k, p in (("val", split.validation), ("test", split.test))}
    for definition in DEFINITIONS:
        gap = FAIRNESS_DEFINITIONS[definition].gap_metric
        out[definition] = {"chance_val": floors["val"].loc[gap, "median"],
                           "chance_val_q95": floors["val"].loc[gap, "q95"],
                           "chance_test": floors["test"].loc[gap, "median"]}
    return out


def _fairlearn_rows(split, seed: int, base, codes, fit_part=None) -> list[dict]:
    from fairlearn.postprocessing import ThresholdOptimizer
    from fairlearn.reductions import DemographicParity, EqualizedOdds, ExponentiatedGradient
    from sklearn.linear_model import LogisticRegression

    moments = {"demographic_parity": DemographicParity, "equalized_odds": EqualizedOdds}
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for definition, moment in moments.items():
            for b in EG_BOUNDS:
                eg = ExponentiatedGradient(LogisticRegression(max_iter=300), moment(difference_bound=b))
                t0 = time.perf_counter()
                eg.fit(split.train.X, split.train.y, sensitive_features=codes["train"])
                secs = time.perf_counter() - t0
                d = [eg.predict(p.X, random_state=seed) for p in (split.validation, split.test)]
                (m,) = _measure(split, [d[0]], [d[1]], ranks=False)
                out.append({"family": "fairlearn", "method": f"eg {definition} bound={b:g}", "aware": False,
                            "fitted_for": definition, "fit_seconds": secs, **m})
            # fairlearn relaxes demographic parity only; equalized odds is exact (tol=None).
            for tol in (TO_TOLS if definition == "demographic_parity" else (None,)):
                to = ThresholdOptimizer(estimator=base, constraints=definition, prefit=True,
                                        predict_method="predict_proba", tol=tol)
                t0 = time.perf_counter()
                fit = split.validation if fit_part is None else fit_part
                to.fit(fit.X.astype(np.float64), fit.y, sensitive_features=codes["val" if fit_part is None else "fit"])
                secs = time.perf_counter() - t0
                d = [to.predict(p.X.astype(np.float64), sensitive_features=codes[k], random_state=seed)
                     for k, p in (("val", split.validation), ("test", split.test))]
                (m,) = _measure(split, [d[0]], [d[1]], ranks=False)
                out.append({"family": "fairlearn", "method": f"threshold {definition} tol={tol}", "aware": True,
                            "fitted_for": definition, "fit_seconds": secs, **m})
    return out


#: fairkit's families: its sweep told the tolerances the cells read (``fairkit``, what is
#: compared) and its default sweep (``fairkit-default``, beside it for the ratio of the two).
FAIRKIT = "fairkit"
FAIRKIT_DEFAULT = "fairkit-default"


def is_fairkit(family) -> bool:
    return str(family).startswith(FAIRKIT)


def fairkit_rows(split, seed: int, methods, *, tolerance=None, family: str = FAIRKIT) -> pd.DataFrame:
    """fairkit's sweep (adaptive placement on) of ``methods``, once per definition; with
    ``tolerance`` it also brackets those validation gaps (``run_sweep``'s tolerances: a committee
    that states the tolerances it will choose at, as the anchors are given theirs)."""
    from fairkit.sweep import predict_scores, run_sweep

    tables = []
    for definition in DEFINITIONS:
        ok = [m for m in methods if definition in getattr(METHODS[m], "fairness", (definition,))]
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = run_sweep(split, ok, seeds=[seed], fairness=definition, adaptive=True, keep_models=False,
                            tolerance=tolerance)
        print(f"  {family} {definition}: {len(res.results)} runs in {time.perf_counter() - t0:.0f} s")
        t = res.results.copy()
        t["family"] = family
        t["aware"] = t["needs_sensitive_at_predict"].astype(bool)
        t["fitted_for"] = definition
        t["method"] = t["method"] + " eta=" + t["eta"].map("{:g}".format)
        # Kept in memory without a store (keep_models=False keeps nothing only with one).
        t[CORRECT] = [correct_rows(split, predict_scores(res.model(r), split, split.test), a)
                      for r, a in zip(t["run_id"], t["test_accuracy"])]
        tables.append(t)
    return pd.concat(tables, ignore_index=True)


def _with_constant(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its ``constant`` column (models that decide alike for everyone), which a
    saved runs table has and hand-made rows may not."""
    return table if "constant" in table else table.assign(constant=decides_alike(table["val_selection_rate"]))


def _front(table: pd.DataFrame, definition: str) -> pd.DataFrame:
    """A family's validation-chosen front (accuracy against the definition's gap)."""
    gap = FAIRNESS_DEFINITIONS[definition].gap_metric
    return pareto_front(_with_constant(table), unfairness=gap, performance="accuracy", choose_on="val")


def family_scores(table: pd.DataFrame, split, definition: str, *, decisions=None, resample=None) -> dict:
    """Best test accuracy at each validation tolerance, HV@0.05 and HV of one family's models;
    with every run's test ``decisions`` and the test rows' ``resample``, also its HV@0.05 on
    each resample (:data:`HV_BOOT_KEY`, :func:`hv_replicates`) from the same front."""
    table = _with_constant(table)
    front = _front(table, definition)
    err_ref = majority_error(split.test.y)
    out = {"models": int(len(table)), "usable": int((~constant_mask(table)).sum())}
    for t in TOLERANCES:
        row = select(front, max_unfairness=t, on="val")
        out[f"acc@{t:g}"] = np.nan if row is None else float(row["performance_test"])
        # Which run it is (the runs table's "row"), for the paired comparison of two picks.
        out[f"pick@{t:g}"] = np.nan if row is None or "row" not in row else int(row["row"])
        # What the pick's gap turned out to be on test: a threshold fitted on validation rows
        # meets the tolerance there by construction, so this is where it shows.
        out[f"testgap@{t:g}"] = np.nan if row is None else float(row["unfairness_test"])
    out["hv@0.05"] = front_hypervolume(front, err_ref, max_gap=0.05)
    out["hv"] = front_hypervolume(front, err_ref)
    if decisions is not None:
        out[HV_BOOT_KEY] = hv_replicates(front, split, decisions, definition, resample)
    return out


#: Bootstrap resamples of the test rows behind the HV@0.05 ratio's interval.
HV_BOOT = 200
#: Where a family's HV@0.05 on each resample is kept in the scores (in memory only).
HV_BOOT_KEY = "hv@0.05 boot"


def hv_replicates(front: pd.DataFrame, split, decisions: np.ndarray, definition: str, resample) -> np.ndarray:
    """HV@0.05 of a validation-chosen front's test points on each resample of the test rows.

    The front stays the one chosen on validation; each resample measures its models' test
    decisions again with the kernel (:func:`fairkit.metrics.bootstrap_metrics`), against the
    resample's own majority-class error. So the spread is what the draw of the test rows alone
    moves, not the training or the choice. ``decisions``: every run's test decisions, by ``row``.
    """
    R = np.asarray(resample, dtype=np.float64)
    if front.empty:
        return np.zeros(len(R))
    y = np.asarray(split.test.y, dtype=np.float64)
    D = decisions[front["row"].astype(int).to_numpy()].astype(np.float64)
    gap = FAIRNESS_DEFINITIONS[definition].gap_metric
    # The same figures as the table's on the rows as they are (the kernel's decisions, read back).
    one = bootstrap_metrics(y, D, split.test.sensitive, resample=np.ones((1, len(y))))
    if not (np.allclose(one["accuracy"][0], front["performance_test"], rtol=0, atol=1e-9)
            and np.allclose(one[gap][0], front["unfairness_test"], rtol=0, atol=1e-9, equal_nan=True)):
        raise RuntimeError("the front's test decisions do not give the accuracy and gap the kernel reported")
    m = bootstrap_metrics(y, D, split.test.sensitive, resample=R)
    p = (R @ y) / R.sum(1)
    ref = np.minimum(p, 1.0 - p)
    return np.array([hypervolume(1.0 - m["accuracy"][b], m[gap][b], ref=(ref[b], 0.05)) for b in range(len(R))])


def ratio_interval(ours: np.ndarray, theirs: np.ndarray, ci: float = 0.95, target: float | None = None):
    """Percentile interval of the ratio of two replicate series (median over seeds first).

    ``ours``, ``theirs``: shape (seeds, B), the same resamples of each seed's test rows. Returns
    ``(low, high, share)``: the interval's ends and the share of replicates at or above
    ``target`` (NaN without one). A replicate with no area on either side is no comparison and
    is left out; area on ours alone is an infinite ratio.
    """
    a, b = np.median(np.atleast_2d(ours), 0), np.median(np.atleast_2d(theirs), 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(b > 0, a / np.where(b > 0, b, 1.0), np.where(a > 0, np.inf, np.nan))
    r = r[~np.isnan(r)]
    if not len(r):
        return np.nan, np.nan, np.nan
    # Order statistics, outward ("lower" / "higher"): no interpolation, which an infinite
    # ratio would turn into NaN.
    lo = np.quantile(r, (1 - ci) / 2, method="lower")
    hi = np.quantile(r, 1 - (1 - ci) / 2, method="higher")
    share = float(np.mean(r >= target)) if target is not None else np.nan
    return float(lo), float(hi), share


def compare(name: str, seed: int, *, python: str, methods, anchors: str, workdir: Path,
            selection: str = "validation", tolerances=TOLERANCES, thresholds: str = "anchors"):
    """One dataset and seed: every family's scores per definition and setting, and every run.
    ``thresholds``: where fairkit's post-processors fit their thresholds (:func:`fairkit_split`)."""
    split = load_split(name, seed=seed if name in RESPLIT else 0)
    fit_part = None
    if selection == "heldout":
        split, fit_part = heldout_split(split, seed)
    print(f"{name} seed {seed}: {len(split.train)} training rows, choosing on {len(split.validation)}")
    theirs, base = anchor_rows(split, seed, python, anchors, workdir, fit_part)
    mine = fairkit_split(split, thresholds)
    ours = [fairkit_rows(mine, seed, methods, tolerance=tolerances or None)]
    if tolerances:  # the default sweep beside the bracketed one (the summary's "default" columns)
        ours.append(fairkit_rows(mine, seed, methods, family=FAIRKIT_DEFAULT))
    ours = pd.concat(ours, ignore_index=True)
    cols = ["family", "method", "aware", "fitted_for", "fit_seconds"]
    runs = pd.concat([ours, theirs], ignore_index=True)
    runs["constant"] = constant_mask(runs) | decides_alike(runs["val_selection_rate"])
    runs["row"] = np.arange(len(runs))
    correct = np.stack(runs.pop(CORRECT).to_list())
    keep = cols + ["constant", "row"] + [c for c in runs if c.startswith(("val_", "test_"))]
    runs = runs[keep]
    scores = score_runs(runs, split, name, seed, correct=correct)
    chance = pd.DataFrame.from_dict(noise_floors(split, base), orient="index")
    scores = scores.join(chance, on="definition")
    return scores, runs.assign(dataset=name, seed=seed)


def score_runs(runs: pd.DataFrame, split, name: str, seed: int, correct=None) -> pd.DataFrame:
    """Every family's scores per definition and setting, from one dataset and seed's runs.

    With ``correct`` (which test rows each run decides correctly, by the runs' ``row``), each
    anchor's row also carries fairkit's pick against its pick at every tolerance on the same test
    rows (``paired@t``, ``paired_se@t``: :func:`fairkit.stats.paired_difference`), and fairkit's
    and the anchors' union's rows their HV@0.05 on :data:`HV_BOOT` resamples of the test rows
    (:data:`HV_BOOT_KEY`, :func:`hv_replicates`; the same resamples for every seed of one test
    part, so :func:`summarise` can take the ratio replicate by replicate)."""
    rows = []
    if correct is not None:
        y = np.asarray(split.test.y).astype(np.int8)
        decisions = np.where(correct == 1, y[None, :], 1 - y[None, :])
        resample = bootstrap_weights(len(y), HV_BOOT, random_state=0)
    for definition in DEFINITIONS:
        for setting in ("blind", "aware"):
            pool = runs if setting == "aware" else runs[~runs["aware"]]
            fams = {f: g for f, g in pool.groupby("family")}
            fams["anchors"] = pool[~pool["family"].map(is_fairkit)]
            # The interval's replicates: fairkit's and the anchors' union's fronts only.
            boot = {"decisions": decisions, "resample": resample} if correct is not None else {}
            cell = {fam: family_scores(g, split, definition, **(boot if fam in (FAIRKIT, "anchors") else {}))
                    for fam, g in fams.items()}
            for fam, sc in cell.items():
                if correct is not None and FAIRKIT in cell and not is_fairkit(fam):
                    for t in TOLERANCES:
                        ours, theirs = cell[FAIRKIT].get(f"pick@{t:g}"), sc.get(f"pick@{t:g}")
                        diff = se = np.nan
                        if np.isfinite(ours) and np.isfinite(theirs):
                            diff, se, _ = paired_difference(correct[int(ours)], correct[int(theirs)])
                        sc[f"paired@{t:g}"], sc[f"paired_se@{t:g}"] = diff, se
                rows.append({"dataset": name, "seed": seed, "definition": definition, "setting": setting,
                             "family": fam, **sc})
    return pd.DataFrame(rows)


def paired_over_seeds(scores: pd.DataFrame, dataset: str, definition: str, setting: str, family: str,
                      t: float, ci: float = 0.95) -> tuple[float, float, int]:
    """fairkit's pick against ``family``'s at tolerance ``t``, over the seeds where both picked:
    the mean paired difference in test accuracy, the half width of its ``ci`` interval, and how
    many seeds. A re-split dataset's seeds have test parts of their own, independent draws whose
    variances add; the others' seeds share one test part, so their differences may be correlated
    and the interval takes the largest variance any correlation gives (the seeds' standard
    errors averaged)."""
    from scipy.stats import norm

    k = f"paired@{t:g}"
    if k not in scores:
        return np.nan, np.nan, 0
    sel = scores[(scores["dataset"] == dataset) & (scores["definition"] == definition)
                 & (scores["setting"] == setting) & (scores["family"] == family)]
    both = sel[np.isfinite(sel[k]) & np.isfinite(sel[f"paired_se@{t:g}"])]
    if both.empty:
        return np.nan, np.nan, 0
    n = len(both)
    ses = both[f"paired_se@{t:g}"]
    se = float(np.sqrt((ses ** 2).sum()) / n if dataset in RESPLIT else ses.mean())
    return float(both[k].mean()), float(norm.ppf(1 - (1 - ci) / 2) * se), n


def rescore(path) -> pd.DataFrame:
    """Scores again from a saved ``anchors_runs.csv`` (no training): for a new summary column."""
    runs = pd.read_csv(path)
    out = []
    for (name, seed), g in runs.groupby(["dataset", "seed"], sort=False):
        split = load_split(name, seed=int(seed) if name in RESPLIT else 0)
        out.append(score_runs(g.drop(columns=["dataset", "seed"]), split, name, int(seed)))
    return pd.concat(out, ignore_index=True)


def summarise(scores: pd.DataFrame) -> pd.DataFrame:
    """Median over seeds; fairkit against the anchors' union (HV) and the best single anchor (accuracy)."""
    med = scores.groupby(["dataset", "definition", "setting", "family"]).median(numeric_only=True).drop(columns="seed")
    rows = []
    for (d, definition, setting), g in med.groupby(level=[0, 1, 2]):
        g = g.droplevel([0, 1, 2])
        if FAIRKIT not in g.index:
            continue
        fk = g.loc[FAIRKIT]
        plain = g.loc[FAIRKIT_DEFAULT] if FAIRKIT_DEFAULT in g.index else None
        single = g.drop(index=[i for i in g.index if is_fairkit(i) or i == "anchors"])
        row = {"dataset": d, "definition": definition, "setting": setting}
        for t in TOLERANCES:
            k = f"acc@{t:g}"
            best = single[k].max() if len(single) else np.nan
            who = single[k].idxmax() if len(single) and single[k].notna().any() else "-"
            row[f"fairkit {k}"] = fk[k]
            if plain is not None:
                row[f"default {k}"] = plain[k]
            row[f"best anchor {k}"] = best
            row[f"who {k}"] = who
            row[f"diff {k}"] = fk[k] - best if np.isfinite(best) else (np.inf if np.isfinite(fk[k]) else np.nan)
            row[f"paired {k}"], row[f"paired half {k}"], row[f"paired seeds {k}"] = paired_over_seeds(
                scores, d, definition, setting, who, t)
            row[f"fairkit testgap@{t:g}"] = fk.get(f"testgap@{t:g}", np.nan)
            row[f"anchor testgap@{t:g}"] = (single.loc[who].get(f"testgap@{t:g}", np.nan)
                                            if who in single.index else np.nan)
        # The chance gap: tolerances below it pick by luck (absent when rescored from runs).
        for k in ("chance_val", "chance_val_q95", "chance_test"):
            if k in fk:
                row[k] = fk[k]
        for k in ("hv@0.05", "hv"):
            union = g.loc["anchors", k] if "anchors" in g.index else np.nan
            row[f"fairkit {k}"] = fk[k]
            row[f"anchors {k}"] = union
            # No area on either side (nothing below the gap on test) is no comparison: NaN.
            row[f"{k} ratio"] = fk[k] / union if union > 0 else (np.inf if fk[k] > 0 else np.nan)
            if plain is not None:
                row[f"default {k} ratio"] = (plain[k] / union if union > 0
                                             else (np.inf if plain[k] > 0 else np.nan))
        # How far the test rows' draw alone moves the HV@0.05 ratio (absent when rescored).
        if HV_BOOT_KEY in scores:
            sel = scores[(scores["dataset"] == d) & (scores["definition"] == definition)
                         & (scores["setting"] == setting)].set_index(["family", "seed"])[HV_BOOT_KEY]
            if {FAIRKIT, "anchors"} <= set(sel.index.get_level_values(0)):
                ours, theirs = np.stack(sel.loc[FAIRKIT].to_list()), np.stack(sel.loc["anchors"].to_list())
                (row["hv@0.05 ratio low"], row["hv@0.05 ratio high"],
                 row["hv@0.05 share at target"]) = ratio_interval(ours, theirs, target=HV_TARGET)
        rows.append(row)
    return pd.DataFrame(rows)


#: The ratio of fairkit's HV@0.05 to the anchors' union the issue asks for in every setting.
HV_TARGET = 1.05


def _f3(x) -> str:
    return "-" if not np.isfinite(x) else f"{x:.3f}"


def _significance(d, h) -> str | None:
    """"worse" / "better" when the paired interval ``d ± h`` excludes 0, "" when it holds 0, None
    without a pair (one side picked nothing)."""
    if not (np.isfinite(d) and np.isfinite(h)):
        return None
    return "" if abs(d) <= h else ("worse" if d < 0 else "better")


def _cell(r, t: float) -> str:
    """One tolerance's cell: fairkit's pick [its default sweep's] (its test gap) against the best
    single anchor's (its test gap), the paired difference ± its 95 % half width (**worse** /
    **better** when the interval excludes 0), and ``~`` below the chance gap."""
    k = f"acc@{t:g}"
    text = (f"{_f3(r[f'fairkit {k}'])} [{_f3(r.get(f'default {k}', np.nan))}] "
            f"({_f3(r.get(f'fairkit testgap@{t:g}', np.nan))}) vs {_f3(r[f'best anchor {k}'])} "
            f"{r[f'who {k}']} ({_f3(r.get(f'anchor testgap@{t:g}', np.nan))})")
    d, h = r.get(f"paired {k}", np.nan), r.get(f"paired half {k}", np.nan)
    sig = _significance(d, h)
    if sig is not None:
        text += f"; paired {fmt(d, 4, signed=True)} ± {h:.4f}" + (f" **{sig}**" if sig else "")
    if t < r.get("chance_val", np.nan):
        text += " ~"
    return text


def tally(summary: pd.DataFrame) -> dict:
    """What the issue's targets read from a :func:`summarise` table.

    A cell (setting and tolerance) counts when some anchor reached the tolerance; it is met when
    fairkit's median test accuracy is at least the best single anchor's. ``above chance``: cells
    whose tolerance is at least the chance gap (a tolerance below it picks by luck). The paired
    counts read the 95 % interval of fairkit's pick minus that anchor's pick on the same rows.
    """
    out = dict.fromkeys(("cells", "met", "above_chance", "met_above_chance", "worse", "better",
                         "misses_above_chance", "real_misses_above_chance"), 0)
    for _, r in summary.iterrows():
        for t in TOLERANCES:
            k = f"acc@{t:g}"
            ours, best = r[f"fairkit {k}"], r[f"best anchor {k}"]
            if not np.isfinite(best):
                continue
            above = bool(t >= r.get("chance_val", np.nan))
            met = bool(np.isfinite(ours) and ours >= best)
            sig = _significance(r.get(f"paired {k}", np.nan), r.get(f"paired half {k}", np.nan))
            out["cells"] += 1
            out["met"] += met
            out["above_chance"] += above
            out["met_above_chance"] += met and above
            out["worse"] += sig == "worse"
            out["better"] += sig == "better"
            out["misses_above_chance"] += above and not met
            out["real_misses_above_chance"] += above and not met and sig == "worse"
    hv = summary["hv@0.05 ratio"]
    out["hv_settings"] = int((np.isfinite(hv) | np.isinf(hv)).sum())
    out["hv_met"] = int((hv >= HV_TARGET).sum())
    # Of the settings short of the target, those whose test-resample interval still reaches it
    # (the draw of the test rows alone could decide them) and those short beyond it.
    high = summary["hv@0.05 ratio high"] if "hv@0.05 ratio high" in summary else pd.Series(np.nan, summary.index)
    short = (hv < HV_TARGET) & np.isfinite(hv)
    out["hv_short_within_interval"] = int((short & (high >= HV_TARGET)).sum())
    out["hv_short_beyond_interval"] = int((short & (high < HV_TARGET)).sum())
    return out


def cells_table(summary: pd.DataFrame) -> str:
    """The summary as benchmarks/README.md shows it: one row per setting, one cell per tolerance
    (:func:`_cell`), the HV@0.05 ratio [default sweep's], then the :func:`tally` in words."""
    lines = ["| data | definition | setting | chance val gap | t=0.01: fairkit [default] (test gap) vs best anchor "
             "(test gap); paired difference ± 95 % | t=0.02 | t=0.05 | HV@0.05 ratio [default] (95 % over test "
             "resamples) |",
             "|---|---|---|---|---|---|---|---|"]
    for _, r in summary.iterrows():
        d = "DP" if r["definition"] == "demographic_parity" else "EOdds"
        hv = f"{r['hv@0.05 ratio']:.2f}x [{r.get('default hv@0.05 ratio', np.nan):.2f}x]"
        if np.isfinite(r.get("hv@0.05 ratio low", np.nan)) or np.isinf(r.get("hv@0.05 ratio low", np.nan)):
            hv += f" ({r['hv@0.05 ratio low']:.2f}-{r['hv@0.05 ratio high']:.2f})"
        lines.append(f"| {r['dataset']} | {d} | {r['setting']} | {_f3(r.get('chance_val', np.nan))} | "
                     + " | ".join(_cell(r, t) for t in TOLERANCES) + f" | {hv} |")
    c = tally(summary)
    lines += ["", f"Cells met: {c['met']} of {c['cells']}; at or above the chance gap {c['met_above_chance']} of "
              f"{c['above_chance']}. Paired: significantly worse in {c['worse']}, better in {c['better']}; of the "
              f"{c['misses_above_chance']} misses at or above the chance gap, {c['real_misses_above_chance']} "
              f"significantly worse. HV@0.05 >= {HV_TARGET}x: {c['hv_met']} of {c['hv_settings']}"
              + (f"; of the {c['hv_settings'] - c['hv_met']} short of it, {c['hv_short_within_interval']} "
                 f"within and {c['hv_short_beyond_interval']} beyond the 95 % interval of the test rows' draw."
                 if "hv@0.05 ratio high" in summary else ".")]
    return "\n".join(lines)


def _write_summary(title: str, scores: pd.DataFrame, out) -> None:
    summary = summarise(scores)
    report(title, summary, out, "anchors_summary")
    cells = cells_table(summary)
    print("\n" + cells)
    if out is not None:
        (out / "anchors_cells.md").write_text(f"## {title}\n\n{cells}\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.anchors", description=__doc__.splitlines()[0])
    p.add_argument("--anchor-python", default=os.environ.get("FAIRKIT_ANCHOR_PYTHON"),
                   help="the interpreter of an environment with benchmarks/requirements-anchors.txt "
                        "(default $FAIRKIT_ANCHOR_PYTHON)")
    p.add_argument("--datasets", default="adult,compas,german")
    p.add_argument("--seeds", default=None, help="seeds per dataset, e.g. adult=1,compas=3,german=5 (the default)")
    p.add_argument("--methods", default=None, help="fairkit methods (default: every registered one but "
                                                   f"{', '.join(SLOW)} and the baseline)")
    p.add_argument("--anchors", default="fairlearn,fairgbm,error-parity,oxonfair,oxonfair-inferred")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="benchmarks/results/anchors")
    p.add_argument("--rescore", default=None, help="summarise a saved anchors_runs.csv again (no training)")
    p.add_argument("--selection", choices=("validation", "heldout"), default="validation",
                   help="validation: the anchors fit their thresholds on the validation part and every "
                        "method is chosen there (the issue's protocol); heldout: they fit on one half of "
                        "it and every method is chosen on the other")
    p.add_argument("--fairkit-thresholds", choices=("anchors", "train"), default="anchors",
                   help="anchors: fairkit's post-processors fit their thresholds on the rows the anchors' "
                        "post-processors fit on (the validation part, or its reserved half with "
                        "--selection heldout); train: on the training part only")
    p.add_argument("--no-bracket", action="store_true",
                   help="fairkit's default sweep only (by default its sweep also brackets the tolerances "
                        f"{', '.join(map(str, TOLERANCES))}, with the default sweep beside it)")
    args = p.parse_args(argv)
    if args.rescore:
        scores = rescore(args.rescore)
        out = out_dir(args.out)
        _write_summary("fairkit vs every anchor (rescored)", scores, out)
        return 0
    if not args.anchor_python and set(args.anchors.split(",")) - {"fairlearn"}:
        p.error("--anchor-python (or $FAIRKIT_ANCHOR_PYTHON) is required for FairGBM, error-parity and OxonFair")
    datasets = [d for d in args.datasets.split(",") if d]
    if set(datasets) - set(DEFAULT_SENSITIVE):
        p.error(f"unknown dataset(s); choose from {', '.join(DEFAULT_SENSITIVE)}")
    n_seeds = dict(DEFAULT_SEEDS)
    for item in (args.seeds or "").split(","):
        if item:
            k, _, v = item.partition("=")
            n_seeds[k] = int(v)
    methods = args.methods.split(",") if args.methods else default_methods()
    limit_threads(args.threads)
    out = out_dir(args.out)
    all_scores, all_runs = [], []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name in datasets:
            for seed in range(n_seeds.get(name, 1)):
                # (A DataFrame in .attrs breaks pd.concat, which compares the frames' attrs.)
                s, runs = compare(name, seed, python=args.anchor_python, methods=methods, anchors=args.anchors,
                                  workdir=Path(tmp), selection=args.selection,
                                  tolerances=() if args.no_bracket else TOLERANCES,
                                  thresholds=args.fairkit_thresholds)
                all_scores.append(s)
                all_runs.append(runs)
    scores = pd.concat(all_scores, ignore_index=True)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        scores.drop(columns=HV_BOOT_KEY, errors="ignore").to_csv(out / "anchors_scores.csv", index=False)
        pd.concat(all_runs, ignore_index=True).to_csv(out / "anchors_runs.csv", index=False)
    _write_summary(f"fairkit vs every anchor (methods: {', '.join(methods)}; {time.perf_counter() - t0:.0f} s)",
                   scores, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
