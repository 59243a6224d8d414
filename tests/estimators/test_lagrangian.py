"""LagrangianFairnessTrainer: bounds met on training data, multipliers, eta mapping, warnings."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone

from fairkit.estimators import FairRegularizedClassifier, LagrangianFairnessTrainer

FAST = dict(lr=0.05, max_epochs=20, random_state=0)

CONSTRAINTS = [
    {"type": "demographic_parity", "columns": ["sex"], "bound": 0.02},
    {"type": "demographic_parity", "columns": ["race"], "bound": 0.02},
    {"type": "demographic_parity", "columns": ["sex", "race"], "bound": 0.05},
]


def fit_quietly(clf, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a missed bound fails the test
        return clf.fit(*args, **kwargs)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_meets_its_bound_on_training_data(biased_data, gaps, seed):
    X, y, a = biased_data(n=800, seed=seed)
    clf = fit_quietly(LagrangianFairnessTrainer(bound=0.03, lr=0.05, max_epochs=20,
                                                random_state=seed), X, y, sensitive_features=a)
    unconstrained = FairRegularizedClassifier(eta=0.0, lr=0.05, max_epochs=20, random_state=seed)
    gap0 = gaps.selection(unconstrained.fit(X, y).predict(X), a)
    gap = gaps.selection(clf.predict(X), a)
    assert gap0 > 0.2
    assert gap <= 0.03 + clf.constraint_tol
    assert clf.violations_["demographic_parity"] == pytest.approx(gap - 0.03, abs=1e-6)
    assert clf.score(X, y) > 0.55


def test_several_constraints_on_dataframe_columns(intersectional_data, gaps):
    X, y, S = intersectional_data(n=1500)
    clf = fit_quietly(LagrangianFairnessTrainer(constraints=CONSTRAINTS, **FAST), X, y,
                      sensitive_features=S)
    names = ["demographic_parity[sex]", "demographic_parity[race]",
             "demographic_parity[sex & race]"]
    assert list(clf.multipliers_) == names
    assert all(v >= 0 for v in clf.multipliers_.values())
    pred = clf.predict(X)
    for column, bound in ((S["sex"], 0.02), (S["race"], 0.02), (S["sex"] + S["race"], 0.05)):
        assert gaps.selection(pred, column) <= bound + clf.constraint_tol
    for record in clf.history_:
        assert {"loss", "primal_loss", "fairness"} <= set(record)
        for n in names:
            assert record[f"multiplier:{n}"] >= 0
            assert f"violation:{n}" in record and f"gap:{n}" in record
    # Multipliers grew at some point: the constraints were active.
    assert max(r["multiplier:demographic_parity[sex & race]"] for r in clf.history_) > 0
    kept = clf.history_[clf.best_epoch_]
    assert clf.multipliers_[names[0]] == pytest.approx(kept[f"multiplier:{names[0]}"])


def test_eta_scales_bounds(biased_data, gaps):
    X, y, a = biased_data(n=800, seed=3)
    loose = LagrangianFairnessTrainer(bound=0.2, eta=1.0, constraint_tol=0.0, **FAST)
    tight = LagrangianFairnessTrainer(bound=0.2, eta=8.0, constraint_tol=0.0, **FAST)
    loose.fit(X, y, sensitive_features=a)
    tight.fit(X, y, sensitive_features=a)
    assert loose.constraints_[0]["effective_bound"] == pytest.approx(0.2)
    assert tight.constraints_[0]["effective_bound"] == pytest.approx(0.025)
    assert gaps.selection(tight.predict(X), a) < gaps.selection(loose.predict(X), a)
    assert gaps.selection(loose.predict(X), a) <= 0.2


def test_eta_zero_is_the_unconstrained_network(biased_data):
    X, y, a = biased_data(n=600)
    lag = LagrangianFairnessTrainer(eta=0.0, **FAST).fit(X, y, sensitive_features=a)
    reg = FairRegularizedClassifier(eta=0.0, **FAST).fit(X, y, sensitive_features=a)
    assert np.array_equal(lag.predict_proba(X), reg.predict_proba(X))
    assert lag.multipliers_ == {}
    assert lag.constraints_[0]["effective_bound"] == np.inf


def test_warns_and_names_the_missed_constraint(biased_data):
    X, y, a = biased_data(n=600)
    clf = LagrangianFairnessTrainer(bound=0.0, constraint_tol=0.0, max_epochs=1, lr=1e-4,
                                    random_state=0)
    with pytest.warns(UserWarning, match=r"missed .*demographic_parity: gap"):
        clf.fit(X, y, sensitive_features=a)
    assert clf.violations_["demographic_parity"] > 0


def test_equal_opportunity_and_equalized_odds_constraints(biased_data, gaps):
    X, y, a = biased_data(n=800, seed=1)
    base = FairRegularizedClassifier(eta=0.0, **FAST).fit(X, y).predict(X)
    for ctype in ("equal_opportunity", "equalized_odds"):
        clf = LagrangianFairnessTrainer(constraints=ctype, bound=0.03, **FAST)
        pred = fit_quietly(clf, X, y, sensitive_features=a).predict(X)
        assert gaps.tpr(pred, y, a) <= 0.03 + clf.constraint_tol < gaps.tpr(base, y, a)
        if ctype == "equalized_odds":
            assert gaps.tpr(1 - pred, 1 - y, a) <= 0.03 + clf.constraint_tol  # FPR gap


def test_options_smooth_dual_last_iterate_early_stopping(biased_data):
    X, y, a = biased_data(n=600)
    for kw in (dict(dual_signal="smooth"), dict(iterate="last"),
               dict(early_stopping=True, iterate="last", n_iter_no_change=50)):
        clf = LagrangianFairnessTrainer(bound=0.05, **{**FAST, **kw})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            clf.fit(X, y, sensitive_features=a)
        assert np.isfinite(clf.predict_proba(X)).all()
        if kw.get("iterate") == "last" and not kw.get("early_stopping"):
            assert clf.best_epoch_ == len(clf.history_) - 1
    assert "val_violation:demographic_parity" in clf.history_[0]


def test_plain_classifier_without_sensitive_features(biased_data):
    X, y, _ = biased_data(n=600)
    clf = LagrangianFairnessTrainer(**FAST).fit(X, y)
    assert clf.multipliers_ == {} and clf.violations_ == {}
    assert clf.score(X, y) > 0.65


def test_bad_constraint_specs_are_explained(intersectional_data):
    X, y, S = intersectional_data(n=200)
    with pytest.raises(ValueError, match=r"\['age'\] not in sensitive_features"):
        LagrangianFairnessTrainer(constraints=[{"type": "demographic_parity", "columns": ["age"]}]
                                  ).fit(X, y, sensitive_features=S)
    with pytest.raises(ValueError, match="type must be one of"):
        LagrangianFairnessTrainer(constraints="parity").fit(X, y, sensitive_features=S)
    with pytest.raises(ValueError, match="not a DataFrame"):
        LagrangianFairnessTrainer(constraints=[{"type": "demographic_parity", "columns": ["sex"]}]
                                  ).fit(X, y, sensitive_features=S["sex"].to_numpy())
    with pytest.raises(ValueError, match="unknown keys"):
        LagrangianFairnessTrainer(constraints=[{"type": "demographic_parity", "bond": 0.1}]
                                  ).fit(X, y, sensitive_features=S)


def test_constraints_param_not_mutated_and_pickle(intersectional_data):
    X, y, S = intersectional_data(n=500)
    spec = [dict(c) for c in CONSTRAINTS]
    clf = LagrangianFairnessTrainer(constraints=spec, max_epochs=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        clf.fit(X, y, sensitive_features=S)
    assert spec == CONSTRAINTS
    again = pickle.loads(pickle.dumps(clf))
    assert np.array_equal(again.predict_proba(X), clf.predict_proba(X))
    assert again.multipliers_ == clf.multipliers_
    assert clone(clf).get_params()["constraints"] == CONSTRAINTS


def test_the_best_iterate_is_never_one_that_fits_worse_than_the_constant():
    """A 10-epoch fit kept its second epoch for meeting the bound exactly: accuracy 0.39 where
    everyone's majority decision scores 0.61 (which also meets the bound), over a later iterate
    within the tolerance (sklearn-ecosystem audit, finding 7)."""
    rng = np.random.default_rng(0)
    n = 1000
    sex = rng.choice(["F", "M"], n, p=[0.4, 0.6])
    rng.choice(["A", "B", "C"], n, p=[0.6, 0.3, 0.1])  # the audit's table drew a second attribute here
    age, income = rng.integers(18, 80, n), rng.normal(50, 15, n) + (sex == "M") * 8
    job, hours = rng.choice(["clerk", "eng", "sales", "mgr"], n), rng.normal(40, 8, n)
    logit = 0.04 * (income - 50) + 0.02 * (age - 45) + (job == "mgr") * 0.8 + (sex == "M") * 0.6 - 0.3
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = np.column_stack([(age - 45) / 15, (income - 50) / 15, (hours - 40) / 8, (job == "mgr").astype(float)])
    est = LagrangianFairnessTrainer(max_epochs=10, random_state=0).fit(X, y, sensitive_features=sex)
    p = est.predict_proba(X)[:, 1]
    rate = y.mean()
    constant = -(rate * np.log(rate) + (1 - rate) * np.log(1 - rate))
    bce = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    # Kept: the later iterate within the tolerance, about as good as the constant on 10 epochs
    # (the one exactly within the bound was 0.047 worse in cross-entropy).
    assert bce < constant + 0.005, (est.best_epoch_, bce, constant)
    assert np.mean(est.predict(X) == y) >= max(rate, 1 - rate) - 0.02
