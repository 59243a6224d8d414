"""Fit the public anchors on saved arrays, in their own environment: FairGBM, error-parity, OxonFair.

Run by :mod:`benchmarks.anchors` with the anchors' interpreter (``--anchor-python``), never
imported by fairkit: error-parity pins numpy < 2 (its cvxpy 1.3 fails to import under numpy 2)
and FairGBM's ``fit`` needs scikit-learn < 1.8 (``check_X_y(force_all_finite=...)``), which the
project's runtime environment does not have. The versions are pinned in
``benchmarks/requirements-anchors.txt``.

Input (``--data``, an ``.npz`` written by :func:`benchmarks.anchors.save_arrays`): the encoded
features, 0/1 labels and integer group codes of the three parts (``X_train``, ``y_train``,
``g_train``, ``X_val`` ...), the shared base model's validation and test probabilities
(``s_val``, ``s_test``: an unconstrained LightGBM fitted by the benchmark on the training part)
and a group classifier's probabilities (``q_val``, ``q_test``, one column per group; it reads the
features only). With a ``fit`` part (``X_fit``, ``y_fit``, ``g_fit``, ``s_fit``, ``q_fit``) the
post-processors fit there instead of on the validation part. Output (``--out``): ``names``, ``anchor``, ``aware`` (needs the attribute at
prediction), ``definition`` (the constraint it was fitted for), ``fit_seconds`` and the decision
matrices ``d_val`` / ``d_test`` (one row per configuration, 0/1 or FairGBM's probabilities).

Only numbers cross the boundary (``np.load(allow_pickle=False)``): nothing is unpickled.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

#: Tolerances handed to the threshold anchors (error-parity's ``tolerance``, OxonFair's bound):
#: the dense end is where a committee decides (0-0.05).
POST_TOLERANCES = (0.0, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2)
#: FairGBM's constraint tolerances (``constraint_fpr_tolerance`` / ``constraint_fnr_tolerance``).
FAIRGBM_TOLERANCES = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2)
#: FairGBM constraints: equalized odds (FPR and FNR) and equal opportunity (FNR). It has no
#: demographic-parity constraint; its models are measured on every definition like any other.
FAIRGBM_CONSTRAINTS = {"FPR,FNR": "equalized_odds", "FNR": "equal_opportunity"}
DEFINITIONS = ("demographic_parity", "equalized_odds")


def _fairgbm(a, seed, rows):
    from fairgbm import FairGBMClassifier

    for ctype, definition in FAIRGBM_CONSTRAINTS.items():
        for tol in FAIRGBM_TOLERANCES:
            m = FairGBMClassifier(constraint_type=ctype, n_estimators=200, learning_rate=0.05, n_jobs=1,
                                  random_state=seed, constraint_fpr_tolerance=tol, constraint_fnr_tolerance=tol,
                                  verbose=-1)
            t0 = time.perf_counter()
            m.fit(a["X_train"], a["y_train"], constraint_group=a["g_train"])
            secs = time.perf_counter() - t0
            rows.append((f"fairgbm {ctype} tol={tol:g}", "fairgbm", False, definition, secs,
                         m.predict_proba(a["X_val"])[:, 1], m.predict_proba(a["X_test"])[:, 1]))


def _fit_part(a) -> str:
    """Where the post-processors fit: the "fit" arrays when the benchmark saved them (the
    validation part's other half, ``--selection heldout``), else the validation part."""
    return "fit" if "y_fit" in a else "val"


def _error_parity(a, seed, rows):
    from error_parity import RelaxedThresholdOptimizer

    fit = _fit_part(a)
    # Fitted on validation scores, as its authors and OxonFair do; chosen on validation too (the
    # benchmark says so: the anchors' validation figures are in-sample, their test figures not).
    for definition in DEFINITIONS:
        for tol in POST_TOLERANCES:
            ep = RelaxedThresholdOptimizer(predictor=lambda X: X[:, 0], constraint=definition, tolerance=tol,
                                           seed=seed)
            t0 = time.perf_counter()
            try:
                ep.fit(a[f"s_{fit}"][:, None], a[f"y_{fit}"], group=a[f"g_{fit}"])
            except Exception as exc:  # an infeasible LP at tolerance 0 on a tiny group: skip, say so
                print(f"error-parity {definition} tol={tol:g}: {type(exc).__name__}: {exc}")
                continue
            secs = time.perf_counter() - t0
            rows.append((f"error-parity {definition} tol={tol:g}", "error-parity", True, definition, secs,
                         ep.predict(a["s_val"][:, None], group=a["g_val"]).astype(float),
                         ep.predict(a["s_test"][:, None], group=a["g_test"]).astype(float)))


def _oxonfair(a, rows, *, inferred: bool):
    import oxonfair
    from oxonfair import group_metrics as gm

    metric = {"demographic_parity": gm.demographic_parity, "equalized_odds": gm.equalized_odds}
    fit = _fit_part(a)

    def data(part):
        p = a[f"s_{part}"]
        proba = np.c_[1.0 - p, p]
        if inferred:
            return oxonfair.DataDict(a[f"y_{part}"], np.c_[proba, a[f"q_{part}"]], a[f"g_{part}"])
        return oxonfair.DataDict(a[f"y_{part}"], proba, a[f"g_{part}"])

    for definition in DEFINITIONS:
        t0 = time.perf_counter()
        if inferred:
            # Copies: OxonFair adds its offsets to the array the predictor returns, in place.
            fp = oxonfair.FairPredictor(lambda x: x[:, :2].copy(), data(fit),
                                        inferred_groups=lambda x: x[:, 2:].copy(), threshold=0)
        else:
            fp = oxonfair.FairPredictor(None, data(fit))
        base_secs = time.perf_counter() - t0
        for i, tol in enumerate(POST_TOLERANCES):
            t0 = time.perf_counter()
            # The frontier is computed once per definition; later bounds reuse it.
            fp.fit(gm.accuracy, metric[definition], tol, recompute=i == 0)
            secs = time.perf_counter() - t0 + (base_secs if i == 0 else 0.0)
            name = "oxonfair-inferred" if inferred else "oxonfair"
            rows.append((f"{name} {definition} tol={tol:g}", name, not inferred, definition, secs,
                         np.asarray(fp.predict(data("val")), dtype=float),
                         np.asarray(fp.predict(data("test")), dtype=float)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--anchors", default="fairgbm,error-parity,oxonfair,oxonfair-inferred")
    args = p.parse_args(argv)
    with np.load(args.data, allow_pickle=False) as z:
        a = {k: z[k] for k in z.files}
    rows: list = []
    chosen = {x.strip() for x in args.anchors.split(",") if x.strip()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if "fairgbm" in chosen:
            _fairgbm(a, args.seed, rows)
        if "error-parity" in chosen:
            _error_parity(a, args.seed, rows)
        if "oxonfair" in chosen:
            _oxonfair(a, rows, inferred=False)
        if "oxonfair-inferred" in chosen:
            _oxonfair(a, rows, inferred=True)
    np.savez(args.out,
             names=np.array([r[0] for r in rows]), anchor=np.array([r[1] for r in rows]),
             aware=np.array([r[2] for r in rows]), definition=np.array([r[3] for r in rows]),
             fit_seconds=np.array([r[4] for r in rows]),
             d_val=np.stack([r[5] for r in rows]), d_test=np.stack([r[6] for r in rows]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
