"""The shared fit-time checks of fairkit.estimators._inputs, through every family that uses them."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from fairkit.estimators import (FairBoostingClassifier, FairRegularizedClassifier, ReductionsWrapper,
                                ThresholdPostProcessor)
from fairkit.estimators._inputs import check_fit_groups, weight_keyword

FAMILIES = {
    "torch": lambda: FairRegularizedClassifier(eta=1.0, max_epochs=2, random_state=0),
    "boosting": lambda: FairBoostingClassifier(eta=1.0, n_estimators=5, random_state=0),
    "thresholds": lambda: ThresholdPostProcessor(LogisticRegression(), eta=1.0),
    "reductions": lambda: ReductionsWrapper(LogisticRegression(), eta=1.0, max_iter=3),
}


def _said(got, text):
    return sum(text in str(w.message) for w in got)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_groups_are_counted_alike_by_every_family(biased_data, family):
    # Each family counted "fewer than two groups" its own way (encoded levels, a Python set, pandas):
    # one count now, over the intersection of the columns, a missing value a group of its own.
    X, y, a = biased_data(n=400)
    one = np.zeros(len(y), dtype=int)
    cases = [
        (pd.DataFrame({"s": one, "t": one}), 1),  # two columns, one value each: one group
        (pd.DataFrame({"s": one, "t": a}), 0),  # one constant column beside a two-valued one
        (pd.Series(np.where(np.arange(len(y)) < 40, np.nan, 0.0)), 0),  # blank rows: a second group
    ]
    for groups, warned in cases:
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            FAMILIES[family]().fit(X, y, sensitive_features=groups)
        assert _said(got, "trained unconstrained") == warned, (family, groups.head(2))
        assert _said(got, "'(missing)'") == int(groups.isna().any(axis=None)), family


def test_check_fit_groups_returns_the_count_and_says_nothing_when_no_fairness_is_asked():
    s = pd.DataFrame({"sex": ["F", "M", "F", None], "race": ["A", "A", "B", "A"]})
    with pytest.warns(UserWarning, match="1 row"):
        assert check_fit_groups(LogisticRegression(), s, asked=False) == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_fit_groups(LogisticRegression(), None, asked=False) == 0
        assert check_fit_groups(LogisticRegression(), ["a", "a"], asked=False) == 1
    with pytest.warns(UserWarning, match="no sensitive_features were passed"):
        check_fit_groups(LogisticRegression(), None, asked=True)


def test_the_weight_keyword_of_a_pipeline_is_its_last_steps_unless_routing_or_named():
    from sklearn import config_context
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), LogisticRegression())
    assert weight_keyword(pipe) == "logisticregression__sample_weight"
    assert weight_keyword(LogisticRegression()) == "sample_weight"
    assert weight_keyword(pipe, "standardscaler__sample_weight") == "standardscaler__sample_weight"
    with config_context(enable_metadata_routing=True):
        assert weight_keyword(pipe) == "sample_weight"


# -- parameters no setting can mean (estimators audit, session 51) ----------------------------

def _bad_params():
    from fairkit.estimators import (AdversarialDebiasingClassifier, InferredGroupThresholdClassifier,
                                    LagrangianFairnessTrainer)

    inf, nan = float("inf"), float("nan")
    boost = dict(n_estimators=5, random_state=0)
    torch_fast = dict(max_epochs=2, random_state=0)
    return [
        # An infinite penalty, multiplier step or learning rate: LightGBM stopped on NaN gradients
        # after one tree and a constant model came back without a word.
        (lambda: FairBoostingClassifier(eta=inf, objective="penalty", **boost), "eta must be a finite"),
        (lambda: FairBoostingClassifier(eta=1.0, objective="constrained", multiplier_lr=inf, **boost),
         "multiplier_lr must be a finite"),
        (lambda: FairBoostingClassifier(eta=1.0, learning_rate=inf, **boost), "learning_rate must be a finite"),
        # LightGBM's own errors, or a bad value read as another setting.
        (lambda: FairBoostingClassifier(eta=1.0, num_leaves=1, **boost), "num_leaves must be a whole number"),
        (lambda: FairBoostingClassifier(eta=1.0, min_child_samples=-3, **boost), "min_child_samples must be"),
        (lambda: FairBoostingClassifier(eta=1.0, reg_lambda=-1.0, **boost), "reg_lambda must be a finite"),
        (lambda: FairBoostingClassifier(eta=1.0, max_delta_step=-1.0, **boost), "max_delta_step must be a finite"),
        (lambda: FairBoostingClassifier(eta=1.0, max_delta_step=nan, **boost), "max_delta_step must be a finite"),
        (lambda: LagrangianFairnessTrainer(eta=1.0, constraint_tol=nan, **torch_fast), "constraint_tol must be"),
        (lambda: LagrangianFairnessTrainer(eta=1.0, constraint_tol=-1.0, **torch_fast), "constraint_tol must be"),
        (lambda: LagrangianFairnessTrainer(eta=1.0, temperature=inf, **torch_fast), "temperature must be a finite"),
        (lambda: LagrangianFairnessTrainer(eta=1.0, dual_lr=inf, **torch_fast), "dual_lr must be a finite"),
        (lambda: AdversarialDebiasingClassifier(eta=1.0, adversary_lr=inf, **torch_fast),
         "adversary_lr must be a finite"),
        (lambda: AdversarialDebiasingClassifier(eta=1.0, adversary_hidden_layer_sizes=(0,), **torch_fast),
         "adversary_hidden_layer_sizes must be"),
        (lambda: AdversarialDebiasingClassifier(eta=1.0, adversary_hidden_layer_sizes=(-2,), **torch_fast),
         "adversary_hidden_layer_sizes must be"),
        # A grid of 0 or 1 cuts accepted everyone without a word.
        (lambda: ThresholdPostProcessor(LogisticRegression(), eta=1.0, grid_size=1), "grid_size must be"),
        (lambda: InferredGroupThresholdClassifier(LogisticRegression(), eta=0.5, n_offsets=1), "n_offsets must be"),
    ]


@pytest.mark.parametrize("case", range(17))
def test_a_parameter_no_setting_can_mean_is_refused_naming_it(biased_data, case):
    make, message = _bad_params()[case]
    X, y, a = biased_data(n=200)
    with pytest.raises(ValueError, match=f"^{message}"):
        make().fit(X, y, sensitive_features=a)


def test_a_constrained_eta_of_infinity_is_a_tolerance_of_zero(biased_data):
    """Infinity stays a setting where it means one: the constrained trees' bound over eta."""
    X, y, a = biased_data(n=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it may miss a bound of 0: said, and not the point here
        model = FairBoostingClassifier(eta=float("inf"), objective="constrained", n_estimators=5, random_state=0)
        model.fit(X, y, sensitive_features=a)
    assert model.tolerance_ == 0


@pytest.mark.parametrize("family", ["torch", "boosting", "thresholds", "reductions", "calibrated"])
def test_every_family_checks_weights_alike(biased_data, family):
    """Weights audit, session 51 (F8): three checks with three messages, and the calibrated
    classifier took weights on one class only. One check now (``check_fit_weights``)."""
    from fairkit.estimators import CalibratedGroupClassifier

    make = FAMILIES.get(family) or (lambda: CalibratedGroupClassifier(LogisticRegression()))
    X, y, a = biased_data(n=200)
    n = len(y)
    # The reports' words (one-implementation audit, session 53: the two checks said each fault
    # two ways).
    cases = [(np.r_[-1.0, np.ones(n - 1)], re.escape("sample_weight has 1 negative value(s) (the first at row 0: -1.0)")),
             (np.r_[np.nan, np.ones(n - 1)], re.escape("sample_weight has 1 NaN or infinite value(s)")),
             (np.zeros(n), "sample_weight is zero for every row"),
             (np.ones((n, 1)), re.escape("sample_weight must be one weight per row (1-d), got shape")),
             (np.ones(n - 1), f"sample_weight has {n - 1} entries but X has {n} rows"),
             (np.where(y == 1, 1.0, 0.0), "only one class has a positive sample_weight")]
    for w, message in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(ValueError, match=message):
                make().fit(X, y, sensitive_features=a, sample_weight=w)
