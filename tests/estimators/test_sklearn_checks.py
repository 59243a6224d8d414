"""scikit-learn's estimator checks on every in-processing fairness estimator (fast settings)."""

from functools import partial

from sklearn.utils import estimator_checks
from sklearn.utils._testing import assert_allclose_dense_sparse
from sklearn.utils.estimator_checks import parametrize_with_checks

from fairkit.estimators import (
    AdversarialDebiasingClassifier,
    FairBoostingClassifier,
    FairRegularizedClassifier,
    LagrangianFairnessTrainer,
)

# Few epochs at a high learning rate: the checks' blobs are separable in a handful of steps.
FAST = dict(max_epochs=5, lr=0.1, random_state=0)

ESTIMATORS = [
    FairRegularizedClassifier(**FAST),
    LagrangianFairnessTrainer(**FAST),
    AdversarialDebiasingClassifier(**FAST),
    FairBoostingClassifier(n_estimators=20, random_state=0),
]


def expected_failed_checks(estimator):
    if isinstance(estimator, FairBoostingClassifier):
        # float64 trees: weighting a row and repeating it agree exactly.
        return {
            "check_classifiers_classes": (
                "predict decides by fairkit's one rule, probability >= 0.5 (fairkit.stats.decide), "
                "as every report does; the check wants decision_function > 0, and on its 20 rows "
                "(no tree can split) the model is the base rate's log-odds, exactly 0: a tie the "
                "two rules break differently (test_regularized.py checks the tie's decision)"
            ),
        }
    return {}


#: The torch estimators train in float32, so weighting a row and repeating it give the same model
#: only up to float32 rounding, and how far that goes depends on the machine (its processor's
#: kernels, the libraries' builds): 2.2e-7 relative on the check's data on earlier machines, over
#: the check's rtol=1e-7, and within it on the machine of 2026-12-05 (Xeon, scikit-learn 1.9.1),
#: where a strict expected failure failed the suite. These checks run at a float32 tolerance
#: instead, on every machine, and fail where the two fits differ by more than rounding.
FLOAT32_CHECKS = {f"check_sample_weight_equivalence_on_{kind}_data" for kind in ("dense", "sparse")}
FLOAT32_RTOL = 1e-5  # about 100 float32 epsilons: rounding over a few hundred steps, not a bug


# Strict: an expected failure that starts passing fails the run, so no reason outlives its cause.
@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks, xfail_strict=True)
def test_sklearn_compatible(estimator, check, monkeypatch):
    name = getattr(check, "func", check).__name__
    if name in FLOAT32_CHECKS and not isinstance(estimator, FairBoostingClassifier):
        # The check's own comparison, at a float32 tolerance (rtol=1e-7 is float64's).
        monkeypatch.setattr(estimator_checks, "assert_allclose_dense_sparse",
                            partial(assert_allclose_dense_sparse, rtol=FLOAT32_RTOL))
    check(estimator)
