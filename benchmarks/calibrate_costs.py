"""Measure the constants of fairkit's cost models (:mod:`fairkit.costs`) on this machine.

``python -m benchmarks.calibrate_costs [--datasets german,compas,adult]`` times fits of every
kind of estimator the registry builds, on the bundled datasets (default sensitive attributes),
the way a sweep trains them (one torch thread; a batchable method's etas stacked), fits each
cost model's constants by non-negative least squares, and prints them as Python to paste into
``fairkit/costs.py``, with every measurement beside its prediction. A few minutes on 2 cores:
ExponentiatedGradient is timed on Adult subsampled to 3,000 rows (a full Adult fit takes about
80 s; one logistic regression on the full table, which the model multiplies, is timed instead).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from dataclasses import fields

import numpy as np
import pandas as pd
from scipy.optimize import nnls

from fairkit import costs
from fairkit.costs import network_weights
from fairkit.methods import get_method
from fairkit.sweep import run_sweep, torch_threads

from .adaptive import default_split


def subsample_split(name: str, n_rows: int, seed: int = 0):
    """A bundled dataset cut to ``n_rows`` random rows, then split as :func:`default_split` splits it."""
    from fairkit.datasets import load_dataset
    from fairkit.split import split_dataset

    frame, spec = load_dataset(name)
    if n_rows < len(frame):
        frame = frame.sample(n=n_rows, random_state=seed).reset_index(drop=True)
    return split_dataset(frame, spec, seed=0)


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _fit(split, method: str, k: int = 1, params=None) -> tuple[float, object]:
    """Seconds of one fit (a stacked fit of ``k`` etas for a batchable method), as a sweep trains it."""
    from fairkit.estimators.batched import fit_eta_batch

    m = get_method(method)
    X, y, s = split.train.X, split.train.y, split.model_groups(split.train)
    with torch_threads(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if k > 1:
            template = m.build(0.0, 0, **dict(params or {}))
            etas = list(np.geomspace(0.1, 5.0, k)) if m.eta_scale == "log" else list(np.linspace(0.1, 1.0, k))
            out = {}
            secs = _timed(lambda: out.setdefault("m", fit_eta_batch(template, etas, X, y, sensitive_features=s)))
            return secs, out["m"][0]
        est = m.build(0.5 if m.eta_bounded else 1.0, 0, **dict(params or {}))
        return _timed(lambda: est.fit(X, y, sensitive_features=s)), est


KINDS = ("torch", "forml", "boosting", "reductions", "threshold", "inferred_threshold", "overhead")


def measure(datasets, kinds=KINDS) -> pd.DataFrame:
    """One row per timed fit: ``kind`` (the cost model it calibrates), data size, K, the
    model's inputs (``steps``, ``batch``, ``weights``, ``trees``, ``calls``, ``iters``) and
    ``seconds``. ``kinds`` (of :data:`KINDS`) chooses what is timed."""
    rows = []
    for name in datasets:
        split = default_split(name)
        n, d = split.train.X.shape
        n_eval = len(split.validation) + len(split.test)
        base = dict(dataset=name, n=n, d=d, n_eval=n_eval)
        _fit(split, "regularized")  # imports and first-call costs, untimed
        torch_fits = (("regularized", "regularized", (1, 4, 12)), ("unconstrained", "regularized", (1,)),
                      ("linear", "regularized", (1, 8)), ("lagrangian", "lagrangian", (1,)),
                      ("adversarial", "adversarial", (1,)))
        torch_fits = ((torch_fits if "torch" in kinds else ())
                      + ((("forml", "forml", (1,)),) if "forml" in kinds else ()))
        for method, kind, ks in torch_fits:
            for k in ks:
                secs, est = _fit(split, method, k)
                rows.append({**base, "kind": kind, "method": method, "k": k, "seconds": secs,
                             "steps": est._n_epochs(n) * int(np.ceil(n / est.batch_size)),
                             "batch": min(est.batch_size, n), "weights": network_weights(d, est.hidden_layer_sizes)})
                print(rows[-1], flush=True)
        for trees in (100, 30) if "boosting" in kinds else ():
            secs, _ = _fit(split, "boosting", 1, {"n_estimators": trees})
            rows.append({**base, "kind": "boosting", "method": "boosting", "k": 1, "seconds": secs, "trees": trees})
            print(rows[-1], flush=True)
        if "reductions" in kinds:
            rows += _reductions_rows(name, split, base)
        for method in ("threshold", "inferred_threshold"):
            if method not in kinds:
                continue
            for k in ((1, 4) if get_method(method).batchable else (1,)):
                secs, est = _fit(split, method, k)
                rows.append({**base, "kind": method, "method": method, "k": k, "seconds": secs})
                print(rows[-1], flush=True)
        if "overhead" in kinds:
            rows += _overhead_rows(split, base)
    return pd.DataFrame(rows)


def _reductions_rows(name, split, base) -> list:
    """ExponentiatedGradient's fits (Adult subsampled) and one logistic regression on the full table."""
    rows = []
    n = split.train.X.shape[0]
    # One logistic regression (ExponentiatedGradient's oracle) on the full table.
    lr = get_method("reductions").build(0.5, 0).estimator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        secs = _timed(lambda: lr.fit(split.train.X, split.train.y))
    rows.append({**base, "kind": "logistic", "method": "reductions", "k": 1, "seconds": secs,
                 "iters": float(np.max(lr.n_iter_))})
    print(rows[-1], flush=True)
    # Two table sizes where the table allows (3,000 and 8,000 rows before the split): with one
    # size the per-row terms were extrapolated from the full-table logistic regression alone,
    # which overestimated ExponentiatedGradient on 3,000 Adult training rows 2x.
    sizes = [size for size in (3000, 8000) if n > size * 0.6] + ([None] if n <= 8000 * 0.6 else [])
    for size in sizes:
        eg_split = subsample_split(name, size) if size is not None else split
        en, ed = eg_split.train.X.shape
        for eta in (0.0, 0.5, 1.0):
            est = get_method("reductions").build(eta, 0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                secs = _timed(lambda: est.fit(eg_split.train.X, eg_split.train.y,
                                              sensitive_features=eg_split.model_groups(eg_split.train)))
            rows.append({**base, "n": en, "d": ed, "kind": "reductions", "method": "reductions", "k": 1,
                         "seconds": secs, "calls": est.n_oracle_calls_, "eta": eta})
            print(rows[-1], flush=True)
    return rows


def _overhead_rows(split, base) -> list:
    """A sweep's seconds per run besides fitting, and one run's intervals."""
    rows = []
    # Everything a sweep does beside fitting: scoring, metrics, storing; and the intervals.
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fairkit.store import ResultStore
        from fairkit.sweep import report_fields

        t0 = time.perf_counter()
        res = run_sweep(split, ["unconstrained", "regularized"], {"regularized": [0.0, 0.5, 1.0, 2.0]},
                        store=ResultStore(tmp), keep_models=True)
        wall = time.perf_counter() - t0
        runs = len(res.results)
        rows.append({**base, "kind": "overhead", "method": "", "k": runs,
                     "seconds": (wall - res.results["fit_seconds"].sum()) / runs})
        print(rows[-1], flush=True)
        model = res.models[res.results["run_id"].iloc[-1]]
        # The median of three: the first call in a process also pays one-off costs.
        rows.append({**base, "kind": "report", "method": "", "k": 1,
                     "seconds": float(np.median([_timed(lambda: report_fields(model, split)) for _ in range(3)]))})
        print(rows[-1], flush=True)
    return rows


def _nnls(columns: dict, seconds, relative: bool = True) -> dict:
    """Non-negative least squares, on relative errors (each measurement weighs the same) or seconds."""
    y = np.asarray(seconds, dtype=float)
    A = np.column_stack([np.asarray(v, dtype=float) for v in columns.values()])
    coef, _ = nnls(A / y[:, None], np.ones(len(y))) if relative else nnls(A, y)
    return {k: float(f"{c:.4g}") for k, c in zip(columns, coef)}


def fit_constants(t: pd.DataFrame) -> dict:
    """The cost models' constants from :func:`measure`'s table."""
    out = {}
    for kind in ("regularized", "lagrangian", "adversarial", "forml"):
        r = t[t["kind"] == kind]
        if len(r):
            kb = r["k"] * r["batch"] * r["steps"]
            cols = {"setup": np.ones(len(r)), "setup_cell": r["n"] * r["d"], "step": r["steps"], "row": kb,
                    "row_weight": kb * r["weights"]}
            if len(r) < len(cols):  # too few fits for every term: share the regularized network's shape
                reg = out.get("regularized") or {f.name: getattr(costs.REGULARIZED_COST, f.name)
                                                 for f in fields(costs.TorchCost)}
                per_step = reg["step"] + kb / r["steps"] * (reg["row"] + reg["row_weight"] * r["weights"])
                pred = reg["setup"] + reg["setup_cell"] * r["n"] * r["d"] + r["steps"] * per_step
                scale = float(np.median(r["seconds"] / pred))
                out[kind] = {k: float(f"{v * scale:.4g}") for k, v in reg.items()}
            else:
                out[kind] = _nnls(cols, r["seconds"])
    b = t[t["kind"] == "boosting"]
    if len(b):
        out["boosting"] = _nnls({"setup": np.ones(len(b)), "cell": b["n"] * b["d"], "tree": b["trees"],
                                 "tree_row": b["trees"] * b["n"], "tree_cell": b["trees"] * b["n"] * b["d"]},
                                b["seconds"])
    lr = t[t["kind"] == "logistic"]
    eg = t[t["kind"] == "reductions"]
    if len(lr) and len(eg):
        cap = float(get_method("reductions").build(0.5, 0).estimator.max_iter)
        # Iterations per feature, from the fits that stopped before max_iter (converged).
        free = lr[lr["iters"] < cap]
        per_feature = float(np.median(free["iters"] / free["d"])) if len(free) else cap / float(lr["d"].min())
        one = _nnls({"iter": lr["iters"], "iter_cell": lr["iters"] * lr["n"] * lr["d"]}, lr["seconds"])
        iters = np.minimum(cap, per_feature * eg["d"])
        base_fit = iters * (one["iter"] + one["iter_cell"] * eg["n"] * eg["d"])
        # Each fit's own calls: base fits, and what ExponentiatedGradient does around each; in
        # seconds, so the long fits (the ones an estimate must get right) weigh most.
        rest = _nnls({"setup": np.ones(len(eg)), "base": eg["calls"] * base_fit, "call": eg["calls"],
                      "call_row": eg["calls"] * eg["n"]}, eg["seconds"], relative=False)
        # The oracle's fits inside the reduction are cheaper than the full-table fit predicts
        # (measured on 3,000 and 8,000 Adult rows: about 0.4x): its cost-sensitive problems on
        # reweighted labels converge in fewer L-BFGS iterations than plain data, so the base term
        # keeps the weight the reductions' own timings give it, scaling the iterations' cost (a
        # weight of 0 puts all of it in the per-call terms, which the fit then already holds).
        one = {k: float(f"{v * rest['base']:.4g}") for k, v in one.items()}
        print(f"ExponentiatedGradient's oracle fits: {rest['base']:.3g} x a plain fit's time", flush=True)
        # The mean calls: a grid reaching eta = 1 runs ExponentiatedGradient to its max_iter.
        out["reductions"] = {"calls": float(f"{np.mean(eg['calls']):.4g}"),
                             "iters_per_feature": float(f"{per_feature:.4g}"), **one,
                             "call": rest["call"], "call_row": rest["call_row"], "setup": rest["setup"]}
    # The base model's fit by the constants just fitted for its kind (the module's otherwise).
    fitted = {"FairBoostingClassifier": costs.BoostingCost(**out["boosting"]) if "boosting" in out else
              costs.BOOSTING_COST,
              "FairRegularizedClassifier": costs.TorchCost(**out["regularized"]) if "regularized" in out else
              costs.REGULARIZED_COST}
    for kind in ("threshold", "inferred_threshold"):
        th = t[t["kind"] == kind]
        if not len(th):
            continue
        base = get_method(kind).build(0.5, 0).estimator
        model = fitted.get(type(base).__name__)
        base_s = np.array([model(base, n, d, 1) if model is not None else 0.0 for n, d in zip(th["n"], th["d"])])
        # In seconds: what the thresholds add is a small remainder on small data.
        out[kind] = _nnls({"setup": np.ones(len(th)), "row": th["n"], "per_eta": th["k"]},
                          np.maximum(th["seconds"] - base_s, 0.0), relative=False)
    ov, rp = t[t["kind"] == "overhead"], t[t["kind"] == "report"]
    if len(ov) and len(rp):
        a = _nnls({"run": np.ones(len(ov)), "eval_row": ov["n_eval"]}, ov["seconds"])
        r = _nnls({"report": np.ones(len(rp)), "report_row": rp["n_eval"]}, rp["seconds"])
        out["overhead"] = {**a, **r}
    return out


def main(argv=None) -> int:
    """Measure, fit and print the constants (see the module docstring)."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.calibrate_costs", description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="german,compas,adult")
    p.add_argument("--kinds", default=",".join(KINDS), help=f"what to time, of: {', '.join(KINDS)}")
    p.add_argument("--out", default=None, help="also save the measurements as CSV here")
    args = p.parse_args(argv)
    t = measure([d.strip() for d in args.datasets.split(",") if d.strip()],
                kinds=[k.strip() for k in args.kinds.split(",") if k.strip()])
    if args.out:
        t.to_csv(args.out, index=False)
    for kind, consts in fit_constants(t).items():
        print(f"{kind}: {consts}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
