"""Cost models: how many seconds a method's fit takes, before it runs.

Each registry method (:class:`fairkit.methods.Method`) carries one of these as its ``cost_model``;
:meth:`~fairkit.methods.Method.cost` builds the estimator a sweep would build (the registry's
defaults merged with the sweep's parameters) and asks the model for the seconds of one fit on
``n_rows`` x ``n_features``: for a batchable method a stacked fit of ``k_etas`` models, whose time
grows slowly with K. The models follow what each trainer does, so a change of epochs, steps,
batch size, hidden layers, trees or iterations moves the estimate with it:

* torch trainers (:class:`TorchCost`): optimizer steps (``_n_epochs`` x batches an epoch, the
  estimator's own count) times a step's cost, which grows with K x batch rows x network weights;
* boosted trees (:class:`BoostingCost`): trees x rows (x features);
* fairlearn's ExponentiatedGradient (:class:`ReductionsCost`): oracle calls x one base fit,
  an L-BFGS logistic regression whose iterations grow with the features up to its ``max_iter``;
* the post-processor (:class:`ThresholdCost`): its base network's fits plus the thresholds.

The constants are measured on a 2-core machine by ``python -m benchmarks.calibrate_costs`` (which
prints them); :func:`fairkit.sweep.estimate_seconds` scales them by the ratio of measured to
predicted fit times of the runs the results store already holds, so a faster or busier machine
corrects them after its first sweep. Estimates against measured wall times: benchmarks/README.md
("Issue #20: time estimates").
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def network_weights(n_features: int, hidden) -> int:
    """Weights of a fully connected network with one output (the per-row work of a step)."""
    sizes = [int(n_features), *[int(h) for h in (hidden or ())], 1]
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


@dataclass(frozen=True)
class TorchCost:
    """Seconds of one stacked fit of the torch training loop (K = 1 for a single fit).

    ``setup + setup_cell * n * d + steps * (step + K * batch * (row + row_weight * weights))``,
    ``steps`` the optimizer steps the estimator takes on ``n`` rows (``max_epochs`` or fewer
    when ``max_steps`` is reached; early stopping may stop sooner: the model is then an upper
    bound), ``batch`` its batch size (at most ``n``) and ``weights`` its network's weights.
    """

    setup: float
    setup_cell: float
    step: float
    row: float
    row_weight: float

    def __call__(self, est, n_rows: int, n_features: int, k_etas: int = 1) -> float:
        n = max(int(n_rows), 1)
        batch = min(int(est.batch_size), n)
        steps = est._n_epochs(n) * math.ceil(n / int(est.batch_size))
        weights = network_weights(n_features, est.hidden_layer_sizes)
        return (self.setup + self.setup_cell * n * n_features
                + steps * (self.step + k_etas * batch * (self.row + self.row_weight * weights)))


@dataclass(frozen=True)
class BoostingCost:
    """Seconds of a LightGBM fit with a fairness gradient: ``setup + cell * n * d + trees * (tree
    + tree_row * n + tree_cell * n * d)``."""

    setup: float
    cell: float
    tree: float
    tree_row: float
    tree_cell: float

    def __call__(self, est, n_rows: int, n_features: int, k_etas: int = 1) -> float:
        n, d, t = max(int(n_rows), 1), int(n_features), int(est.n_estimators)
        return k_etas * (self.setup + self.cell * n * d + t * (self.tree + self.tree_row * n + self.tree_cell * n * d))


@dataclass(frozen=True)
class ReductionsCost:
    """Seconds of an ExponentiatedGradient fit around an L-BFGS logistic regression.

    ``calls`` oracle calls (their mean over the fits measured, which move with eta and the data
    between about 20 and 70; ``max_iter`` bounds the iterations, about one oracle call each
    beyond the first few), each a base fit of ``iters * (iter + iter_cell * n * d)`` seconds
    with ``iters = min(base max_iter, iters_per_feature * d)`` (L-BFGS needs more iterations on
    more features and stops at ``max_iter``) plus ``call + call_row * n`` for what
    ExponentiatedGradient does around it (its moments and multipliers over the rows), plus
    ``setup``.
    """

    calls: float
    iters_per_feature: float
    iter: float
    iter_cell: float
    call: float
    call_row: float
    setup: float

    def __call__(self, est, n_rows: int, n_features: int, k_etas: int = 1) -> float:
        n, d = max(int(n_rows), 1), max(int(n_features), 1)
        base = est.estimator
        cap = getattr(base, "max_iter", 100) if base is not None else 100
        iters = min(float(cap), self.iters_per_feature * d)
        calls = min(self.calls, float(est.max_iter) + 2.0)
        one = iters * (self.iter + self.iter_cell * n * d) + self.call + self.call_row * n
        return k_etas * (self.setup + calls * one)


@dataclass(frozen=True)
class ThresholdCost:
    """Seconds of a post-processor: its base model's fits (one, or ``n_folds + 1`` when the
    thresholds are cross-fitted), each by the base's own cost model, once for a stacked fit of
    K etas, plus ``setup + row * n`` for scoring the rows and ``per_eta`` for each eta's thresholds."""

    setup: float
    row: float
    per_eta: float

    def __call__(self, est, n_rows: int, n_features: int, k_etas: int = 1) -> float:
        base = getattr(est, "estimator", None)
        model = cost_model_for(base) if base is not None else None
        fits = 1 + (int(est.n_folds) if getattr(est, "thresholds_from", "train") == "crossfit" else 0)
        base_s = fits * model(base, n_rows, n_features, 1) if model is not None else 0.0
        return base_s + self.setup + self.row * n_rows + k_etas * self.per_eta


@dataclass(frozen=True)
class RunOverhead:
    """Seconds a sweep spends on a run besides its fit: scoring validation and test, the metrics
    and storing it (``run + eval_row * n_eval``), and with a reporting store (the dashboard's)
    the bootstrap intervals (``report + report_row * n_eval``); ``n_eval`` = validation + test rows."""

    run: float
    eval_row: float
    report: float
    report_row: float

    def __call__(self, n_eval: int, reporting: bool = False) -> float:
        out = self.run + self.eval_row * n_eval
        if reporting:
            out += self.report + self.report_row * n_eval
        return out


# Measured by `python -m benchmarks.calibrate_costs` (2 cores, one torch thread, as sweeps train).
REGULARIZED_COST = TorchCost(setup=0.005118, setup_cell=5.277e-07, step=0.004541, row=0.0, row_weight=7.89e-10)
LAGRANGIAN_COST = TorchCost(setup=0.006383, setup_cell=6.581e-07, step=0.005663, row=0.0, row_weight=9.84e-10)
ADVERSARIAL_COST = TorchCost(setup=0.006878, setup_cell=7.092e-07, step=0.006103, row=0.0, row_weight=1.06e-09)
BOOSTING_COST = BoostingCost(setup=0.0, cell=4.42e-08, tree=0.003646, tree_row=1.844e-07, tree_cell=0.0)
REDUCTIONS_COST = ReductionsCost(calls=34.11, iters_per_feature=0.8596, iter=0.007846, iter_cell=2.307e-08, call=0.0,
                                 call_row=6.866e-05, setup=0.0)
THRESHOLD_COST = ThresholdCost(setup=0.0, row=4.444e-05, per_eta=0.0)
# FORML and the inferred-group thresholds, measured alone (`--kinds forml,inferred_threshold`, load
# 6-9): FORML's meta-gradient steps cost about 2.4 times the regularized network's; the inferred
# thresholds add a group classifier to their base's fit and thresholds per eta.
FORML_COST = TorchCost(setup=0.01242, setup_cell=1.281e-06, step=0.01102, row=0.0, row_weight=1.915e-09)
INFERRED_THRESHOLD_COST = ThresholdCost(setup=1.012, row=8.074e-05, per_eta=0.6264)
# Re-measured alone (`--kinds overhead`) once the intervals were timed as the median of three
# calls: the first call in a process also pays one-off costs (1.1 s on German, then 0.5 s).
RUN_OVERHEAD = RunOverhead(run=0.05804, eval_row=3.916e-06, report=0.4924, report_row=9.749e-05)

#: The cost model of each estimator class (by class name, the nearest in the class's MRO wins), so
#: a method registered with a known estimator is estimated without a model of its own.
COST_MODELS = {
    "FairRegularizedClassifier": REGULARIZED_COST,
    "LagrangianFairnessTrainer": LAGRANGIAN_COST,
    "AdversarialDebiasingClassifier": ADVERSARIAL_COST,
    "FairReweightingClassifier": FORML_COST,
    "TorchFairClassifierBase": REGULARIZED_COST,
    "FairBoostingClassifier": BOOSTING_COST,
    "ReductionsWrapper": REDUCTIONS_COST,
    "InferredGroupThresholdClassifier": INFERRED_THRESHOLD_COST,
    "ThresholdPostProcessor": THRESHOLD_COST,
}


def cost_model_for(estimator):
    """The cost model of ``estimator``'s kind (:data:`COST_MODELS`), or None for an unknown kind."""
    for cls in type(estimator).__mro__:
        model = COST_MODELS.get(cls.__name__)
        if model is not None:
            return model
    return None
