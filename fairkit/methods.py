"""Registry of training methods: name -> estimator factory, and what ``eta`` means for each.

One knob (DESIGN.md rule 2): every method takes a fairness strength ``eta`` where 0 means "no
fairness intervention" and larger means "fairer", but the scale differs by method. The registry
records each method's range and spacing so a sweep, the CLI and the dashboard's slider can all
build sensible grids without knowing the estimators.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Method:
    """A training method of the registry.

    Attributes
    ----------
    name : str
        Registry key.
    title : str
        Human-readable name.
    eta_meaning : str
        What ``eta`` controls for this method.
    eta_range : (float, float)
        Smallest and largest sensible ``eta`` (0 is always "no intervention").
    log_spacing : bool
        Whether grids over ``eta_range`` are spaced logarithmically.
    needs_sensitive_at_predict : bool
        Whether predictions require the sensitive attribute (group-specific thresholds).
        Deploying such a model is a legal and ethical choice; results carry this flag.
    factory : callable
        ``factory(eta, seed, fairness, **params) -> estimator``.
    sweeps_eta : bool
        False for the unconstrained baseline (trained once per seed).
    description : str
        One sentence for the dashboard.
    min_train_rows : int
        Below this many training rows the method was measured to generalize its fairness poorly
        (the dashboard says so when it is chosen); 0 = no such limit.
    """

    name: str
    title: str
    eta_meaning: str
    eta_range: tuple
    log_spacing: bool
    needs_sensitive_at_predict: bool
    factory: Callable = field(repr=False)
    sweeps_eta: bool = True
    description: str = ""
    min_train_rows: int = 0

    def grid(self, n: int = 8, *, include_zero: bool = True) -> list[float]:
        """A default grid of ``n`` etas over the method's range (0 first when included)."""
        if not self.sweeps_eta:
            return [0.0]
        lo, hi = self.eta_range
        k = n - 1 if include_zero else n
        if k <= 0:
            return [0.0]
        pts = np.geomspace(lo, hi, k) if self.log_spacing else np.linspace(lo, hi, k)
        vals = ([0.0] if include_zero else []) + [float(f"{v:.4g}") for v in pts]
        return sorted(set(vals))

    def build(self, eta: float, seed: int, fairness: str = "demographic_parity", **params):
        return self.factory(eta=float(eta), seed=int(seed), fairness=fairness, **params)


# Shared training defaults for the torch methods: a small MLP with mini-batches, which a sweep
# on Adult trains in seconds on two CPU cores.
TORCH_DEFAULTS = dict(hidden_layer_sizes=(32,), lr=5e-3, batch_size=256, max_epochs=20)


# The regularized network (and the unconstrained network and threshold base it is compared with)
# also stops after 600 optimizer steps: Adult's 29k training rows reach it in 6 epochs (690 steps).
# Measured on Adult (8 etas, 3 seeds, median validation hypervolume, the figure a budget is
# chosen by): regularized 0.0957 at 600 steps vs 0.0948 at 1,000 and 0.0932 at 20 epochs, and
# 0.0942 / 0.0931 at 400 / 300; the threshold method 0.0960 vs 0.0961 at 1,000 (0.0953 at 500),
# in about 60 % of the time. COMPAS (3.7k rows) and German stay below the budget and keep their
# 20 epochs. The Lagrangian and adversarial trainers keep the epoch budget they were measured
# with (their multipliers and adversaries move per step).
REGULARIZED_DEFAULTS = dict(TORCH_DEFAULTS, max_steps=600)
# The linear model is convex and has a tenth of the network's weights per input: it needs more
# steps than the network to converge. On small data (German's 600 rows make 3 batches an epoch)
# it gets 50 epochs; on Adult it keeps 1,000 steps (validation hypervolume 0.0872, against
# 0.0867 at 600 and 0.0855 at 500), and it costs little per step.
LINEAR_DEFAULTS = dict(TORCH_DEFAULTS, hidden_layer_sizes=(), max_epochs=50, max_steps=1000)


def _torch_params(params: dict, defaults: dict = TORCH_DEFAULTS) -> dict:
    return {**defaults, **params}


def _unconstrained(eta, seed, fairness, **params):
    from .estimators import FairRegularizedClassifier
    return FairRegularizedClassifier(eta=0.0, fairness=fairness, random_state=seed,
                                     **_torch_params(params, REGULARIZED_DEFAULTS))


def _regularized(eta, seed, fairness, **params):
    from .estimators import FairRegularizedClassifier
    return FairRegularizedClassifier(eta=eta, fairness=fairness, random_state=seed,
                                     **_torch_params(params, REGULARIZED_DEFAULTS))


def _linear(eta, seed, fairness, **params):
    from .estimators import FairRegularizedClassifier
    return FairRegularizedClassifier(eta=eta, fairness=fairness, random_state=seed, **_torch_params(params, LINEAR_DEFAULTS))


def _lagrangian(eta, seed, fairness, **params):
    from .estimators import LagrangianFairnessTrainer
    params = {"bound": 0.2, **_torch_params(params)}
    return LagrangianFairnessTrainer(constraints=fairness if fairness in ("equal_opportunity", "equalized_odds") else "demographic_parity",
                                     eta=eta, random_state=seed, **params)


def _adversarial(eta, seed, fairness, **params):
    from .estimators import AdversarialDebiasingClassifier
    variant = "equalized_odds" if fairness in ("equalized_odds", "equal_opportunity") else "demographic_parity"
    return AdversarialDebiasingClassifier(eta=eta, variant=variant, random_state=seed, **_torch_params(params))


def _boosting(eta, seed, fairness, **params):
    from .estimators.boosting import FairBoostingClassifier
    return FairBoostingClassifier(eta=eta, fairness=fairness, random_state=seed, **params)


_REDUCTIONS_CONSTRAINT = {"demographic_parity": "demographic_parity", "equal_opportunity": "true_positive_rate_parity",
                          "equalized_odds": "equalized_odds"}


def _reductions(eta, seed, fairness, **params):
    from sklearn.linear_model import LogisticRegression

    from .estimators.reductions import ReductionsWrapper
    base = params.pop("estimator", None) or LogisticRegression(max_iter=300)
    return ReductionsWrapper(estimator=base, constraint=_REDUCTIONS_CONSTRAINT.get(fairness, "demographic_parity"),
                             eta=eta, random_state=seed, **params)


def _threshold(eta, seed, fairness, **params):
    from .estimators import FairRegularizedClassifier
    from .estimators.postprocess import ThresholdPostProcessor
    base_params = params.pop("base_params", {})
    base = FairRegularizedClassifier(eta=0.0, random_state=seed, **_torch_params(base_params, REGULARIZED_DEFAULTS))
    return ThresholdPostProcessor(estimator=base, constraint=_REDUCTIONS_CONSTRAINT.get(fairness, "demographic_parity"),
                                  eta=eta, random_state=seed, **params)


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("unconstrained", "Unconstrained network", "ignored: no fairness term", (0.0, 0.0), False, False,
               _unconstrained, sweeps_eta=False,
               description="The same network with no fairness term: the accuracy reference."),
        Method("regularized", "Fairness-regularized network",
               "weight of the fairness penalty added to the cross-entropy", (0.05, 20.0), True, False, _regularized,
               description="Cross-entropy plus eta times a differentiable gap (soft constraint)."),
        Method("linear", "Fairness-regularized logistic regression",
               "weight of the fairness penalty added to the cross-entropy", (0.05, 20.0), True, False, _linear,
               description="The regularized objective on a linear model: one coefficient per feature, "
                           "easy to explain, and no random initialisation to move its frontier."),
        Method("boosting", "Fairness-regularized boosted trees",
               "weight of the squared fairness gap added to the cross-entropy", (0.3, 100.0), True, False, _boosting,
               description="LightGBM trees fitted to cross-entropy plus eta times a differentiable gap: "
                           "stronger than a small network on tabular data, still attribute-blind.",
               # Measured: best of all methods on Adult (29k training rows); on COMPAS (3.7k) and
               # German (600) the training gap closed while validation gaps stayed wide. Over 10
               # German splits (third benchmark run) it still had the best single-method frontier:
               # the warning is advice to check validation points, not a ban. (Measured with the
               # earlier 200-tree budget; the current 100 trees at 0.05 overfit small data less.)
               min_train_rows=10_000),
        Method("lagrangian", "Lagrangian constrained network",
               "constraint tightness: the gap must stay below 0.2 / eta", (0.5, 40.0), True, False, _lagrangian,
               description="Min-max training with Lagrange multipliers (hard constraint on training data)."),
        Method("adversarial", "Adversarial debiasing",
               "weight of the adversary's reversed gradient", (0.05, 5.0), True, False, _adversarial,
               description="An adversary tries to recover the group from the prediction; the network learns to hide it."),
        Method("reductions", "Exponentiated gradient (fairlearn reductions)",
               "fraction of the unconstrained disparity removed: bound = (1 - eta) x unconstrained gap", (0.1, 1.0),
               False, False, _reductions,
               description="fairlearn's ExponentiatedGradient around logistic regression, with real probabilities."),
        Method("threshold", "Group thresholds (post-processing reference)",
               "fraction of the gap removed by group-specific thresholds", (0.1, 1.0), False, True, _threshold,
               description="fairlearn's ThresholdOptimizer on the unconstrained network; needs the attribute at prediction."),
    ]
}

DEFAULT_METHODS = ["unconstrained", "regularized", "lagrangian", "threshold"]


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"Unknown method '{name}'. Choose from: {', '.join(METHODS)}.") from None


def eta_grid(lo: float, hi: float, n: int, *, log: bool = True, include_zero: bool = True) -> list[float]:
    """A user-chosen eta grid (the dashboard's range / count / spacing controls)."""
    if n < 1:
        raise ValueError("the grid needs at least one value")
    if log and lo <= 0:
        raise ValueError("a log-spaced grid needs a positive lower end")
    k = n - 1 if include_zero else n
    pts = [] if k <= 0 else (np.geomspace(lo, hi, k) if log else np.linspace(lo, hi, k))
    return sorted(set(([0.0] if include_zero else []) + [float(f"{v:.4g}") for v in pts]))
