"""scikit-learn metadata routing: ``sensitive_features`` reaches each estimator inside a Pipeline in
GridSearchCV (fairlearn's ExponentiatedGradient cannot take it: it has no ``set_fit_request``)."""

import numpy as np
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from fairkit.estimators import (
    AdversarialDebiasingClassifier,
    FairBoostingClassifier,
    FairRegularizedClassifier,
    LagrangianFairnessTrainer,
    ReductionsWrapper,
)

TORCH = {"max_epochs": 5, "batch_size": 128, "random_state": 0}
ESTIMATORS = {
    "regularized": lambda: FairRegularizedClassifier(eta=3.0, **TORCH),
    "adversarial": lambda: AdversarialDebiasingClassifier(eta=3.0, **TORCH),
    "lagrangian": lambda: LagrangianFairnessTrainer(**TORCH),
    "boosting": lambda: FairBoostingClassifier(eta=30.0, n_estimators=20, random_state=0),
    "reductions": lambda: ReductionsWrapper(LogisticRegression(), eta=0.9, max_iter=10),
}


@pytest.mark.parametrize("name", ESTIMATORS)
def test_grid_search_routes_sensitive_features_to_the_estimator(name, biased_data):
    X, y, a = biased_data(n=600)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = Pipeline([("scale", StandardScaler()),
                         ("clf", ESTIMATORS[name]().set_fit_request(sensitive_features=True))])
        # One candidate: the refit on all rows is the fit to compare with.
        search = GridSearchCV(pipe, {"clf__random_state": [0]} if name != "reductions" else {"clf__eta": [0.9]},
                              cv=2, error_score="raise")
        search.fit(X, y, sensitive_features=a)
    p_routed = search.best_estimator_.predict_proba(X)[:, 1]
    Xs = StandardScaler().fit_transform(X)
    p_direct = ESTIMATORS[name]().fit(Xs, y, sensitive_features=a).predict_proba(Xs)[:, 1]
    p_blind = ESTIMATORS[name]().fit(Xs, y).predict_proba(Xs)[:, 1]
    np.testing.assert_allclose(p_routed, p_direct, atol=1e-6)
    # The groups changed the fit, so equality above means they arrived.
    assert np.abs(p_routed - p_blind).max() > 1e-3


def test_fairlearn_exponentiated_gradient_cannot_be_routed_to():
    from fairlearn.reductions import DemographicParity, ExponentiatedGradient

    assert not hasattr(ExponentiatedGradient(LogisticRegression(), DemographicParity()), "set_fit_request")


@pytest.mark.parametrize("name", ["threshold", "calibrated"])
def test_the_group_wrappers_score_with_the_group_and_cross_validate_under_routing(name, biased_data):
    # Every fold failed (all-NaN scores): ClassifierMixin.score takes no sensitive_features.
    from sklearn.model_selection import cross_val_score

    from fairkit.estimators import ThresholdPostProcessor
    from fairkit.estimators.calibrated import CalibratedGroupClassifier

    make = {"threshold": lambda: ThresholdPostProcessor(LogisticRegression(), thresholds_from="train"),
            "calibrated": lambda: CalibratedGroupClassifier(LogisticRegression())}[name]
    X, y, a = biased_data(n=600)
    est = make().fit(X, y, sensitive_features=a)
    assert est.score(X, y, sensitive_features=a) == np.mean(est.predict(X, sensitive_features=a) == y)
    with pytest.raises(ValueError, match="pass sensitive_features=.*set_score_request"):
        est.score(X, y)
    with sklearn.config_context(enable_metadata_routing=True):
        routed = make().set_fit_request(sensitive_features=True).set_score_request(sensitive_features=True)
        scores = cross_val_score(routed, X, y, params={"sensitive_features": a}, cv=3, error_score="raise")
    assert np.isfinite(scores).all() and (scores > 0.5).all()


def test_the_missing_group_message_names_the_columns_workaround(biased_data):
    from fairkit.estimators import ThresholdPostProcessor

    X, y, a = biased_data(n=600)
    est = ThresholdPostProcessor(LogisticRegression(), thresholds_from="train").fit(X, y, sensitive_features=a)
    with pytest.raises(ValueError, match="sensitive_feature_names="):
        est.predict(X)
