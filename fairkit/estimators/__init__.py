"""scikit-learn compatible fairness-aware classifiers, one module per method.

Every estimator follows ``fit(X, y, *, sensitive_features=None, sample_weight=None)``; each one
that trains for fairness exposes its fairness strength as the parameter ``eta``
(:class:`CalibratedGroupClassifier` only calibrates, and has none).
"""

from fairkit.estimators.adversarial import (
    AdversarialDebiasingClassifier,
    GradientReversalFunction,
    GradientReversalLayer,
)
from fairkit.estimators.boosting import FairBoostingClassifier
from fairkit.estimators.calibrated import CalibratedGroupClassifier
from fairkit.estimators.inferred import InferredGroupThresholdClassifier
from fairkit.estimators.lagrangian import LagrangianFairnessTrainer
from fairkit.estimators.postprocess import ThresholdPostProcessor
from fairkit.estimators.reductions import ReductionsWrapper
from fairkit.estimators.regularized import FairRegularizedClassifier
from fairkit.estimators.reweighting import FairReweightingClassifier

__all__ = [
    "AdversarialDebiasingClassifier",
    "CalibratedGroupClassifier",
    "FairBoostingClassifier",
    "FairRegularizedClassifier",
    "FairReweightingClassifier",
    "GradientReversalFunction",
    "GradientReversalLayer",
    "InferredGroupThresholdClassifier",
    "LagrangianFairnessTrainer",
    "ReductionsWrapper",
    "ThresholdPostProcessor",
]
