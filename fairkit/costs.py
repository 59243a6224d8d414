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
        from .estimators.boosting import boosting_rounds

        n, d, t = max(int(n_rows), 1), int(n_features), boosting_rounds(est.n_estimators, n_rows)
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
        from .estimators.postprocess import threshold_source

        # "auto" cross-fits on small tables: n_folds more base fits (the fit's own rule).
        fits = 1 + (int(est.n_folds) if threshold_source(est, n_rows) == "crossfit" else 0)
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


# Measured by `python -m benchmarks.calibrate_costs` on a quiet machine (2 cores, load average
# under 1, one torch thread, as sweeps train; 48 s). The first constants were measured at load
# average 8-10, while eight engineers' test runs shared the cores: on a quiet machine they
# overestimated every sweep 4-12x (German's default sweep 6.9 s estimated, 0.7 s measured). A
# loaded machine is the store's business: estimates scale the model by the measured / predicted
# ratio of the store's past runs (fairkit.sweep.estimate_seconds).
REGULARIZED_COST = TorchCost(setup=0.01522, setup_cell=3.727e-08, step=0.0008022, row=8.156e-08, row_weight=4.58e-11)
LAGRANGIAN_COST = TorchCost(setup=0.01885, setup_cell=4.617e-08, step=0.0009938, row=1.01e-07, row_weight=5.674e-11)
ADVERSARIAL_COST = TorchCost(setup=0.02279, setup_cell=5.58e-08, step=0.001201, row=1.221e-07, row_weight=6.857e-11)
BOOSTING_COST = BoostingCost(setup=0.0, cell=1.476e-08, tree=0.0009326, tree_row=2.012e-07, tree_cell=1.89e-10)
# ExponentiatedGradient timed on two table sizes per dataset (`--kinds reductions`): its oracle's
# fits cost 0.17x a plain fit of the same rows (reweighted problems converge in fewer iterations);
# the rest is its own work per call.
REDUCTIONS_COST = ReductionsCost(calls=35.87, iters_per_feature=0.8596, iter=9.705e-06, iter_cell=5.352e-10,
                                 call=0.0167, call_row=3.297e-08, setup=0.0)
THRESHOLD_COST = ThresholdCost(setup=0.05061, row=0.0, per_eta=0.002112)
# FORML's meta-gradient steps cost about 3.2 times the regularized network's; the inferred
# thresholds add a group classifier to their base's fit and thresholds per eta.
FORML_COST = TorchCost(setup=0.04902, setup_cell=1.2e-07, step=0.002583, row=2.627e-07, row_weight=1.475e-10)
INFERRED_THRESHOLD_COST = ThresholdCost(setup=0.1931, row=4.786e-05, per_eta=0.2097)
# The intervals are timed as the median of three calls: the first call in a process also pays
# one-off costs.
RUN_OVERHEAD = RunOverhead(run=0.00744, eval_row=7.459e-07, report=0.06358, report_row=1.821e-05)

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
