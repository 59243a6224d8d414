"""Write notebooks/demo.ipynb from the cells below (``--execute`` also runs it, filling its outputs).

Keeping the notebook's source here makes it reviewable as plain Python; the executed notebook
is committed so readers see real outputs. ``FAIRKIT_DEMO_QUICK=1`` shrinks every setting (the
test suite runs it that way).
"""

from pathlib import Path

import nbformat as nbf

CELLS = [
    ("md", """# fairkit demo: fair-by-design training on COMPAS

This notebook walks through every component of fairkit on the ProPublica COMPAS recidivism data
(6,172 defendants, ProPublica's filtering): audit an unconstrained model by group, build fairness
losses in a hand-written PyTorch loop (with a weighted penalty over intersections), train the
regularized, Lagrangian and adversarial estimators (and look inside the adversary's gradient
reversal layer), boosted trees under fairness constraints and meta-learned training weights
(FORML), wrap a scikit-learn model with fairlearn's reductions, tune a fair model in a
scikit-learn `Pipeline` with `GridSearchCV` and metadata routing, calibrate by group, sweep the
fairness strength `eta` into a Pareto frontier (the Lagrangian's bounds in one stacked fit, group
thresholds with the attribute and on groups inferred without it), let an assistive search propose
more candidates, and export a chosen model with its decision record.

Every figure is shown twice: interactive (Plotly, in Jupyter) and as a static PNG, which is what
GitHub and other viewers that run no JavaScript display. Set `FAIRKIT_DEMO_QUICK=1` to run
everything on small settings (the test suite does)."""),
    ("code", """import os
import warnings

import numpy as np
import pandas as pd
import torch
from IPython.display import Image, display

import fairkit
from fairkit.plots import save_figure
from fairkit.store import RESULTS_REVISION

# Which code made the outputs below (tests/test_notebook.py holds the committed copy to the current one).
print(f"fairkit {fairkit.__version__}, results revision {RESULTS_REVISION}")
QUICK = os.environ.get("FAIRKIT_DEMO_QUICK") == "1"
EPOCHS = 3 if QUICK else 20
OUT = "demo_output"
os.makedirs(OUT, exist_ok=True)
pd.set_option("display.width", 140, "display.max_columns", 20, "display.precision", 3)

def show(fig, name):
    # Interactive in Jupyter; the PNG beside it is what viewers without JavaScript (GitHub) display.
    fig.show()
    saved = save_figure(fig, os.path.join(OUT, name))
    if saved["png"]:
        display(Image(filename=str(saved["png"]), width=700))
    else:  # no browser for kaleido: the message says what to install
        print(saved["png_error"])
    return saved"""),
    ("md", """## 1. Data: load, validate, split

`validate` never raises: it returns problems in plain words. The split is stratified by
group x label, and the sensitive attributes are not model inputs."""),
    ("code", """from fairkit.datasets import load_dataset
from fairkit.data import validate
from fairkit.split import split_dataset

frame, spec = load_dataset("compas")
print(spec)
for problem in validate(frame, spec):
    print(problem)
if QUICK:
    frame = frame.sample(2500, random_state=0).reset_index(drop=True)
split = split_dataset(frame, spec, seed=0)
print({name: len(part) for name, part in split.parts.items()}, "features:", len(split.feature_names))"""),
    ("md", """## 2. Audit the unconstrained baseline by group

`fairness_report` gives overall metrics, a by-group table (marginal attributes and their
intersection) with intervals (rates and gaps from the counts, calibration errors from a bootstrap),
and the fairness gaps."""),
    ("code", """from fairkit.estimators import FairRegularizedClassifier
from fairkit.metrics import fairness_report

base = FairRegularizedClassifier(eta=0.0, hidden_layer_sizes=(32,), max_epochs=EPOCHS, random_state=0)
base.fit(split.train.X, split.train.y)
p_base = base.predict_proba(split.test.X)[:, 1]
report = fairness_report(split.test.y, p_base, split.test.sensitive, n_boot=100 if QUICK else 300)
print({k: round(v, 3) for k, v in report.overall.items() if isinstance(v, float)})
report.gaps[["demographic_parity_difference", "demographic_parity_difference_low",
             "demographic_parity_difference_high", "equalized_odds_difference", "max_group_ece"]]"""),
    ("code", """report.by_group[["attribute", "group", "n", "base_rate", "selection_rate", "selection_rate_low",
                  "selection_rate_high", "tpr", "fpr", "small"]]"""),
    ("md", """Small intersections (for example Asian women, or Native American men) are flagged rather than hidden; their
intervals are wide. Read them, but do not let them drive decisions alone."""),
    ("md", """## 3. Fairness losses in a hand-written PyTorch loop

`DemographicParityLoss` measures the gap in (soft) selection rates between groups with one
matrix product; `FairnessRegularizerLoss` adds `eta` times it to the cross-entropy."""),
    ("code", """from fairkit.groups import encode_groups
from fairkit.losses import DemographicParityLoss, FairnessRegularizerLoss

X = torch.tensor(split.train.X)
y = torch.tensor(split.train.y, dtype=torch.float32)
groups = torch.tensor(encode_groups(split.train.sensitive["race"]).codes)  # every race group, tiny ones too

def train_logistic(eta, fairness=None, groups=groups, steps=200 if QUICK else 600):
    torch.manual_seed(0)
    model = torch.nn.Linear(X.shape[1], 1)
    loss_fn = FairnessRegularizerLoss(fairness or DemographicParityLoss(), eta=eta)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(X).squeeze(1), y, groups)
        loss.backward()
        opt.step()
    return model

Xt = torch.tensor(split.test.X)
for eta in [0.0, 1.0, 5.0]:
    model = train_logistic(eta)
    with torch.no_grad():
        p = torch.sigmoid(model(Xt).squeeze(1)).numpy()
    r = fairness_report(split.test.y, p, split.test.sensitive[["race"]])
    print(f"eta={eta:>4}: accuracy {r.overall['accuracy']:.3f}, DP difference (race) {r.gap('demographic_parity_difference'):.3f}")"""),
    ("md", """### Intersections and group weights

A model can be fair by race and by sex and still single out Black women or Hispanic men.
`IntersectionalFairnessLoss` penalizes several group levels together, here race, sex and their
intersection from `group_hierarchy` (the weighted mean of the level penalties, so `eta` keeps its
scale). Each level has its own `FairnessLoss`, and `group_weights` on the intersection level
makes one intersection count more in that level's penalty (0 leaves a group out). The estimators
take the same thing by name: `FairRegularizedClassifier(group_weights={"Hispanic & Female": 10})`.

Race groups under 30 training rows are pooled first (the small-group policy of section 4):
a penalty over a handful of people is noise."""),
    ("code", """from fairkit.groups import group_hierarchy
from fairkit.losses import IntersectionalFairnessLoss

sens_pooled = split.train.sensitive.copy()
rare = sens_pooled["race"].map(sens_pooled["race"].value_counts()) < 30
sens_pooled.loc[rare, "race"] = "Other (small groups)"
levels = group_hierarchy(sens_pooled)                     # race, sex, race & sex
level_codes = [torch.tensor(lv.encoding.codes) for lv in levels]
cells = levels[-1].encoding                               # the intersection level

def intersectional_loss(weights=None):
    gw = None if weights is None else np.array([weights.get(name, 1.0) for name in cells.names])
    per_level = [DemographicParityLoss(mode="overall", penalty="absolute") for _ in levels[:-1]]
    per_level.append(DemographicParityLoss(mode="overall", penalty="absolute", group_weights=gw))
    return IntersectionalFairnessLoss(per_level, levels=[lv.name for lv in levels])

def cell_deviation(model):
    # What the penalty sees: each intersection's mean score minus the overall mean (training rows).
    with torch.no_grad():
        p = torch.sigmoid(model(X).squeeze(1)).numpy()
    dev = pd.Series(p).groupby(cells.codes).mean() - p.mean()
    return pd.Series(dev.to_numpy(), index=cells.names[dev.index])

plain = train_logistic(0.0, intersectional_loss(), level_codes)
with torch.no_grad():
    terms = intersectional_loss().terms(plain(X).squeeze(1), y, level_codes)
print("penalty of the unconstrained model, by level:", {k: round(float(v), 4) for k, v in terms.items()})
dev0 = cell_deviation(plain)
big = cells.names[np.bincount(cells.codes, minlength=len(cells.names)) >= 100]
target = dev0[big].abs().idxmax()                         # the most distant intersection of 100+ rows
print("most distant intersection (100+ rows):", target)

eta_int = 0.5 if QUICK else 1.0
table = {"unconstrained": dev0,
         f"eta={eta_int}, equal weights": cell_deviation(train_logistic(eta_int, intersectional_loss(), level_codes)),
         f"eta={eta_int}, {target} x10": cell_deviation(train_logistic(eta_int, intersectional_loss({target: 10.0}),
                                                                         level_codes))}
pd.DataFrame({name: {target: d[target], "largest |deviation|": d.abs().max()} for name, d in table.items()}).T"""),
    ("md", """The weight moves the balance of the penalty towards the chosen intersection. How far its rate
can move on its own is limited by what the features separate: the sensitive attributes are not
model inputs, so the model can shift one intersection only through features correlated with it."""),
    ("md", """## 4. The estimators

All follow scikit-learn's conventions: `fit(X, y, *, sensitive_features=None, sample_weight=None)`,
fitted state ending in `_`, real `predict_proba`, and one fairness knob `eta`.

**Small groups.** COMPAS has only a few Native American and Asian defendants in the training
part (the cell below counts them). A parity constraint over a handful of people is decided by noise and can force a constant classifier,
so training uses a small-group policy: groups with fewer than 30 training rows share one label
(`split.model_groups`, which the sweep uses; metrics still report every group, flagged). The
race column pooled the same way by hand in section 3 (`sens_pooled`) lets the Lagrangian trainer
also constrain the marginal attributes separately."""),
    ("code", """from fairkit.estimators import AdversarialDebiasingClassifier, FairBoostingClassifier, LagrangianFairnessTrainer

print(split.train.sensitive["race"].value_counts().loc[["Native American", "Asian"]].to_dict())
groups_train = split.model_groups(split.train)          # intersections, small ones pooled
print(groups_train.value_counts().to_dict())
sens_train = sens_pooled                                 # race groups under 30 rows pooled (section 3)

def summarize(name, model, needs_attr=False):
    kw = {"sensitive_features": split.test.sensitive} if needs_attr else {}
    p = model.predict_proba(split.test.X, **kw)[:, 1]
    r = fairness_report(split.test.y, p, split.test.sensitive)
    return {"model": name, "accuracy": r.overall["accuracy"], "auc": r.overall["roc_auc"],
            "DP race": r.gap("demographic_parity_difference", "race"),
            "DP sex": r.gap("demographic_parity_difference", "sex"),
            "DP race & sex": r.gap("demographic_parity_difference", "race & sex")}

rows = [summarize("unconstrained", base)]
reg = FairRegularizedClassifier(eta=2.0, hidden_layer_sizes=(32,), max_epochs=EPOCHS, random_state=0)
reg.fit(split.train.X, split.train.y, sensitive_features=groups_train)
rows.append(summarize("regularized eta=2", reg))

constraints = [
    {"type": "demographic_parity", "columns": ["race"], "bound": 0.05},
    {"type": "demographic_parity", "columns": ["sex"], "bound": 0.05},
]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    lag = LagrangianFairnessTrainer(constraints=constraints, max_epochs=EPOCHS, random_state=0)
    lag.fit(split.train.X, split.train.y, sensitive_features=sens_train)
print("multipliers:", {k: round(v, 3) for k, v in lag.multipliers_.items()})
print("training violations (gap - bound):", {k: round(v, 3) for k, v in lag.violations_.items()})
print("warnings:", [str(w.message)[:120] for w in caught if issubclass(w.category, UserWarning)] or "none")
rows.append(summarize("lagrangian (bounds 0.05)", lag))

adv = AdversarialDebiasingClassifier(eta=1.0, max_epochs=EPOCHS, random_state=0)
adv.fit(split.train.X, split.train.y, sensitive_features=groups_train)
rows.append(summarize("adversarial eta=1", adv))

# Boosted trees under constraints (eta=2: every training gap within 0.1 / 2): the most accurate
# attribute-blind method on Adult's 29k training rows (benchmarks/README.md). COMPAS has 3.7k
# training rows, and a gap closed on so few rows partly opens again on new ones: the dashboard warns
# when they are chosen below 10,000 training rows. The subsection below looks inside.
boost = FairBoostingClassifier(eta=2.0, random_state=0)
boost.fit(split.train.X, split.train.y, sensitive_features=groups_train)
rows.append(summarize("boosted trees eta=2", boost))
pd.DataFrame(rows)"""),
    ("code", """pd.DataFrame(lag.history_)[[c for c in pd.DataFrame(lag.history_).columns
                           if c.startswith(("primal", "violation", "multiplier"))]].tail()"""),
    ("md", """### Inside the adversary: the gradient reversal layer

`AdversarialDebiasingClassifier` puts a `GradientReversalLayer` between the predictor's output
and an adversary that guesses the group from it. The layer is the identity going forward and
multiplies the gradient by `-lambd` going back (`lambd` is the estimator's `eta`), so one
backward pass trains the adversary to find the group and the predictor to hide it. On a tiny
tensor: the output equals the input and the gradient comes back reversed and scaled."""),
    ("code", """from fairkit.estimators import GradientReversalLayer

x = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
out = GradientReversalLayer(lambd=2.0)(x)
upstream = torch.tensor([1.0, 2.0, 3.0])                 # d(loss)/d(out)
(out * upstream).sum().backward()
print("forward: ", out.detach().tolist(), "(the input)")
print("gradient:", x.grad.tolist(), "= -2 x", upstream.tolist())"""),
    ("md", """The adversary's effect: as `eta` grows, the adversary's training accuracy falls to the rate of
always guessing the largest group, the score stops separating African-American defendants from
the others (the AUC of the predictor's logit for that group on test rows moves to about 0.5, no
information; below 0.5 the score leans the other way) and the race gap shrinks, at a cost in
accuracy."""),
    ("code", """from sklearn.metrics import roc_auc_score

majority = groups_train.value_counts(normalize=True).max()
is_aa = (split.test.sensitive["race"] == "African-American").to_numpy()
adv_rows = []
for eta in ([0.0, 5.0] if QUICK else [0.0, 1.0, 2.0, 5.0]):
    model = AdversarialDebiasingClassifier(eta=eta, max_epochs=EPOCHS, random_state=0)
    model.fit(split.train.X, split.train.y, sensitive_features=groups_train)
    last = model.history_[-1]
    adv_rows.append({"eta": eta, "adversary accuracy": last["adversary_accuracy"], "adversary loss": last["adversary_loss"],
                 "AUC of logit for race": roc_auc_score(is_aa, model.decision_function(split.test.X)),
                 **{k: v for k, v in summarize(f"adversarial eta={eta}", model).items()
                    if k in ("accuracy", "DP race")}})
print(f"always guessing the largest group: accuracy {majority:.3f}")
pd.DataFrame(adv_rows)"""),
    ("md", """### Boosted trees under constraints

`FairBoostingClassifier` fits LightGBM trees through a custom objective that sees every training
row at once, so it can couple the rows of a group. Its default objective is a proxy-Lagrangian
game (FairGBM's): for every pair of groups, their selection rates on the training rows'
*decisions* may differ by at most `0.1 / eta`. Each constraint's multiplier grows every boosting
round while the decisions violate it, and the round's tree follows the gradient of the
Lagrangian, in which smooth cross-entropy bounds of the decisions stand in for them. Of the
rounds in the second half, the best prefix that meets every constraint is kept.
`objective="penalty"` is the earlier objective, cross-entropy plus `eta` times a squared gap in
mean probabilities: it can drive that penalty to almost nothing while the decisions still
differ, which is why the constraints are on the decisions."""),
    ("code", """from fairkit.metrics import summary_metrics

def training_dp(model):
    # The gap the constraints bound: decisions on the training rows, between the trained groups.
    p = model.predict_proba(split.train.X)[:, 1]
    return summary_metrics(split.train.y, p, groups_train)[0]["demographic_parity_difference"]

trees = {"no constraint (eta=0)": FairBoostingClassifier(eta=0.0, random_state=0),
         "penalty, eta=30": FairBoostingClassifier(eta=30.0, objective="penalty", random_state=0)}
for model in trees.values():
    model.fit(split.train.X, split.train.y, sensitive_features=groups_train)
trees["constrained, eta=2"] = boost
display(pd.DataFrame([{"boosted trees": name, "tolerance": m.tolerance_, "trees kept": m.best_iteration_,
                       "largest multiplier": max((v.max() for v in m.multipliers_.values()), default=0.0),
                       "DP difference, training decisions": training_dp(m),
                       **{k: v for k, v in summarize(name, m).items() if k in ("accuracy", "DP race & sex")}}
                      for name, m in trees.items()]))
# Per round, before its tree: the worst gap of the training decisions and the multipliers' sum.
pd.DataFrame(boost.history_)[["round", "bce", "fairness", "multipliers"]].iloc[::10]"""),
    ("md", """The constrained trees keep the training decisions within their tolerance, which the penalty
does not promise; the test columns show how much of that carries over to new rows on data this
small, and what it costs in accuracy."""),
    ("md", """### Meta-learned reweighting (FORML)

`FairReweightingClassifier` learns one weight per training row together with the network. Each
step takes a look-ahead step of the weighted loss on the mini-batch, scores the looked-ahead
network on another batch by cross-entropy plus `eta` times the fairness violation, moves the
batch rows' weights against the gradient of that score with respect to the weights (clipped at
zero, rescaled to a mean of 1), and then trains the network on the reweighted batch. Nothing is
pre- or post-processed and predictions read `X` only: what changes is how much each training
row counts. The weights are kept (`sample_weight_`) so that this can be read: `weight_summary`
gives them by group and label, and `reweighting_figure` draws them (the Groups page shows the
same)."""),
    ("code", """from fairkit.estimators import FairReweightingClassifier
from fairkit.estimators.reweighting import weight_summary
from fairkit.plots import reweighting_figure

forml = FairReweightingClassifier(eta=2.0, fairness="demographic_parity", hidden_layer_sizes=(32,),
                                  max_epochs=EPOCHS, random_state=0)
forml.fit(split.train.X, split.train.y, sensitive_features=groups_train)
display(pd.DataFrame([summarize("unconstrained", base), summarize("regularized eta=2", reg),
                      summarize("FORML eta=2", forml)]))
display(pd.DataFrame(forml.history_)[["epoch", "loss", "meta_bce", "meta_fairness", "weight_spread"]].tail(3))
weights = weight_summary(forml.sample_weight_, split.train.y, sens_pooled["race"])
weights"""),
    ("code", """show(reweighting_figure(weights, title="FORML: learned training weights by race and label"), "forml_weights");"""),
    ("md", """Read the weights as what the meta-objective asked for. Demographic parity compares selection
rates, so in a group selected more often than the others the positives tend to count less and the
negatives more, and the reverse in a group selected less often: the weights pull the rates
together. The bars (10th to 90th percentile) are wide: a row's weight also depends on how much
its own gradient helps, not on its group alone. Every row counts once in the summary (a caller's
own `sample_weight`, which the learned weights multiply, is not folded in)."""),
    ("md", """## 5. fairlearn reductions around a scikit-learn model

`ReductionsWrapper` runs fairlearn's ExponentiatedGradient (fairlearn's parameter names work:
`constraints=`, `eps`, `sample_weight_name`, ...), returns real probabilities (the weighted mixture
of the base models' probabilities), and honours `sample_weight`. `eta` in [0, 1] removes that
fraction of the unconstrained disparity. Its default `predict` keeps the bound on the training data:
the most accurate deterministic rule among the mixture, its models and their blends that stays
within it (fairlearn's randomized rule, with a warning, when none does). The bound is fairlearn's,
the largest gap between a group's selection rate and everyone's on the training rows; the
test-set DP difference in the second table is another measure (max minus min) on other rows."""),
    ("code", """from sklearn.linear_model import LogisticRegression
from fairkit.estimators.reductions import ReductionsWrapper

red = ReductionsWrapper(LogisticRegression(max_iter=500), constraint="demographic_parity", eta=0.8,
                        max_iter=15 if QUICK else 50)
red.fit(split.train.X, split.train.y, sensitive_features=sens_train["race"])
print(pd.DataFrame({"bound": [red.constraint_bound_], "achieved by predict": [red.constraint_gap_],
                    "randomized mixture (expected)": [red.constraint_gap_randomized_],
                    "decision rule": [red.decision_rule_]}).round(4).to_string(index=False))
pd.DataFrame([summarize("reductions eta=0.8", red)])"""),
    ("md", """### Inside scikit-learn: Pipeline, GridSearchCV and metadata routing

fairkit's estimators take `sensitive_features` as fit metadata, so scikit-learn's metadata
routing carries the groups through a `Pipeline` and a `GridSearchCV` (each fold gets its own
rows) to the estimator that asked for them, and to a scorer that asked too. Here the raw columns
go through the same preprocessing as the split (`make_preprocessor`), the search tries several
`eta` and scores both accuracy and the demographic-parity difference, and `refit` states the
choice rule: the most accurate candidate whose cross-validated difference is at most 0.10 (a
search proposes; the rule, and the tolerance in it, are a decision like any other).
fairlearn's `ExponentiatedGradient` takes `sensitive_features` through `**kwargs` and has no
`set_fit_request`, so it cannot be routed to; `ReductionsWrapper` can."""),
    ("code", """import sklearn
from fairlearn.reductions import DemographicParity, ExponentiatedGradient
from sklearn.metrics import make_scorer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from fairkit.metrics import summary_metrics
from fairkit.split import make_preprocessor

def dp_difference(y_true, y_score, sensitive_features):
    return summary_metrics(y_true, y_score, sensitive_features)[0]["demographic_parity_difference"]

def most_accurate_within(cv_results, tolerance=0.10):
    res = pd.DataFrame(cv_results)
    ok = res[res["mean_test_dp_difference"] <= tolerance]
    return int((ok if len(ok) else res)["mean_test_accuracy"].idxmax())

with sklearn.config_context(enable_metadata_routing=True):
    pipe = Pipeline([
        ("prep", make_preprocessor(split.train.raw)),
        ("clf", FairRegularizedClassifier(hidden_layer_sizes=(32,), max_epochs=EPOCHS, random_state=0)
                .set_fit_request(sensitive_features=True)),
    ])
    scoring = {"accuracy": "accuracy",
               "dp_difference": make_scorer(dp_difference, response_method="predict_proba")
                                .set_score_request(sensitive_features=True)}
    search = GridSearchCV(pipe, {"clf__eta": [0.0, 2.0] if QUICK else [0.0, 1.0, 2.0, 2.5, 3.0]},
                          scoring=scoring, refit=most_accurate_within, cv=2 if QUICK else 3)
    search.fit(split.train.raw, split.train.y, sensitive_features=groups_train)
    print("fairlearn ExponentiatedGradient has set_fit_request:",
          hasattr(ExponentiatedGradient(LogisticRegression(), DemographicParity()), "set_fit_request"))
    print("ReductionsWrapper has set_fit_request:", hasattr(ReductionsWrapper(LogisticRegression()), "set_fit_request"))

chosen = search.best_estimator_
print("chosen:", search.best_params_, "| groups routed to its fit:", len(chosen[-1].group_names_["group"]))
cv = pd.DataFrame(search.cv_results_)[["param_clf__eta", "mean_test_accuracy", "mean_test_dp_difference"]]
on_test = summary_metrics(split.test.y, chosen.predict_proba(split.test.raw)[:, 1], split.model_groups(split.test))[0]
print(f"chosen pipeline on test: accuracy {on_test['accuracy']:.3f}, "
      f"DP difference {on_test['demographic_parity_difference']:.3f}")
cv"""),
    ("md", """## 6. Group calibration

A model can be calibrated overall and miscalibrated for a group. Here we distort one group's
scores on purpose and let `GroupFairnessCalibrator` repair it (fitted on validation, applied to
test). Small groups fall back to their parent group or the global map, and the fallback is reported."""),
    ("code", """from fairkit.calibration import GroupFairnessCalibrator
from fairkit.metrics import reliability_curve
from fairkit.plots import calibration_figure

def distort(p, groups):
    logit = np.log(p / (1 - p))
    hit = (groups == "African-American").to_numpy()
    logit[hit] = 3.0 * logit[hit]  # overconfident for one group
    return 1 / (1 + np.exp(-logit))

p_val = distort(np.clip(base.predict_proba(split.validation.X)[:, 1], 1e-6, 1 - 1e-6), split.validation.sensitive["race"])
p_test = distort(np.clip(p_base, 1e-6, 1 - 1e-6), split.test.sensitive["race"])
race_val, race_test = split.validation.sensitive[["race"]], split.test.sensitive[["race"]]

def ece_table(p):
    # ECE with 10 bins is biased upwards on small groups (about 0.05-0.1 on 100 rows even when
    # calibrated), so the max is taken over groups with at least 200 test rows.
    rep = fairness_report(split.test.y, p, race_test, gap_min_group_size=200)
    g = rep.by_group.set_index("group")["ece"]
    return {"African-American": round(g["African-American"], 3), "Caucasian": round(g["Caucasian"], 3),
            "max (groups >= 200 rows)": round(rep.gap("max_group_ece"), 3)}

rows = {"before": ece_table(p_test)}
for method in ["platt", "isotonic", "temperature"]:
    cal = GroupFairnessCalibrator(method=method, min_group_size=30).fit(p_val, split.validation.y, race_val)
    rows[method] = ece_table(cal.transform(p_test, race_test))
print("fallbacks:", cal.fallback_)
display(pd.DataFrame(rows).T)
show(calibration_figure(reliability_curve(split.test.y, p_test, race_test["race"]), title="Before group calibration"),
     "calibration_before")
iso = GroupFairnessCalibrator(method="isotonic").fit(p_val, split.validation.y, race_val)
show(calibration_figure(reliability_curve(split.test.y, iso.transform(p_test, race_test), race_test["race"]),
                        title="After isotonic group calibration"), "calibration_after");"""),
    ("md", """## 7. The eta sweep and the Pareto frontier

`run_sweep` trains every method at every `eta`, stores each run (an identical sweep returns at
once), and reports validation and test metrics. The frontier is chosen on validation and shown
on test, with the threshold post-processing reference (it needs the attribute at prediction time)
and the thresholds on inferred groups (they do not)."""),
    ("code", """from fairkit.frontier import hypervolume, pareto_front, select
from fairkit.plots import frontier_figure
from fairkit.store import ResultStore
from fairkit.sweep import run_sweep

small = {"max_epochs": EPOCHS, "hidden_layer_sizes": (32,)}
sweep_methods = ["unconstrained", "regularized", "lagrangian", "threshold", "inferred_threshold"]
sweep = run_sweep(
    split, sweep_methods,
    etas={"regularized": [0, 0.3, 1, 3, 10] if not QUICK else [0, 1, 5],
          "lagrangian": [1, 2, 4, 8] if not QUICK else [2, 8],
          "threshold": [0, 0.5, 0.9, 1.0] if not QUICK else [0, 1.0],
          "inferred_threshold": [0.5, 0.9, 1.0] if not QUICK else [0.5, 1.0]},
    params={"unconstrained": small, "regularized": small, "lagrangian": small},
    store=ResultStore(os.path.join(OUT, "store")),
)
front = pareto_front(sweep.results, by="method")
front[["method", "eta", "performance_val", "unfairness_val", "performance_test", "unfairness_test",
       "needs_sensitive_at_predict"]]"""),
    ("code", """blind = sweep.results[~sweep.results.needs_sensitive_at_predict]
err_ref = 1 - max(split.train.y.mean(), 1 - split.train.y.mean())
print("hypervolume, attribute-blind methods:",
      round(hypervolume(1 - blind.test_accuracy, blind.test_demographic_parity_difference, ref=(err_ref, 1.0)), 4))
saved = show(frontier_figure(sweep.results, tolerance=0.05, title="COMPAS: accuracy vs DP difference (test)"),
             "frontier")
print("saved:", saved["html"], saved["png"] or saved["png_error"])"""),
    ("md", """### The Lagrangian's bounds in one stacked fit

For the Lagrangian method `eta` tightens the bound (`0.2 / eta` in the registry). A sweep trains
all of one seed's bounds as one stack of networks: one pass over the data, each network with its
own multipliers (`batched_with` says how many trained together; `fit_seconds` is each one's
share of the pass). Stacking changes the cost, not the models: one bound trained alone with the
same seed gives the same network, up to floating-point rounding."""),
    ("code", """from fairkit.methods import get_method

lag_runs = sweep.results[sweep.results.method == "lagrangian"].sort_values("eta")
display(pd.DataFrame([{"eta": r.eta, "bound": m.constraints_[0]["effective_bound"], "batched_with": r.batched_with,
                       "fit_seconds": r.fit_seconds, "multiplier": next(iter(m.multipliers_.values()), 0.0),
                       "training violation": next(iter(m.violations_.values()), float("nan")),
                       "DP difference (validation)": r.val_demographic_parity_difference}
                      for r in lag_runs.itertuples() for m in [sweep.model(r.run_id)]]))
last = lag_runs.iloc[-1]
alone = get_method("lagrangian").build(last.eta, int(last.seed), last.fairness, **small)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the sweep's row already carries this run's warnings
    alone.fit(split.train.X, split.train.y, sensitive_features=split.model_groups(split.train))
gap = np.abs(alone.predict_proba(split.test.X) - sweep.model(last.run_id).predict_proba(split.test.X)).max()
print(f"eta={last.eta:g}: max |stacked - alone| probability on test rows: {gap:.1e}")"""),
    ("md", """### Group thresholds without the attribute: inferred groups

Group thresholds close a gap cheaply, but they read each person's group at prediction time,
which may be unlawful or unacceptable where the model is deployed.
`InferredGroupThresholdClassifier` (`inferred_threshold`) trains a second model that predicts
the group from the features, and moves each row's threshold with its inferred group
probabilities: the gap is fitted on the true groups of the training rows, and prediction reads
`X` only. It can only close as much of the gap as the features reveal about the group; when
they reveal little, removing the whole gap leaves a rule that decides the same for everyone,
which the sweep flags `constant` and keeps off the frontier."""),
    ("code", """post = sweep.results[sweep.results.method.isin(["threshold", "inferred_threshold"])].sort_values(["method", "eta"])
display(post[["method", "eta", "needs_sensitive_at_predict", "constant", "val_accuracy",
              "val_demographic_parity_difference", "test_accuracy", "test_demographic_parity_difference"]])
inferred = sweep.model(post[post.method == "inferred_threshold"].iloc[0]["run_id"])
truth = split.model_groups(split.test).to_numpy()
guess = inferred.group_names_[inferred.group_estimator_.predict(split.test.X)]
print(f"group classifier on test rows: accuracy {np.mean(guess == truth):.3f} "
      f"(always the largest group: {pd.Series(truth).value_counts(normalize=True).max():.3f})")
shuffled = split.test.sensitive.sample(frac=1, random_state=1).reset_index(drop=True)
print("decisions unchanged when the attribute is shuffled:",
      bool((inferred.predict(split.test.X) == inferred.predict(split.test.X, sensitive_features=shuffled)).all()))"""),
    ("md", """## 8. Assistive search: more candidates, never a choice

A grid over `eta` leaves each method's other settings (hidden layers, learning rate, epochs, the
number and size of the trees) at their defaults. `run_search` lets Optuna's multi-objective
sampler (TPE) try them together with `eta`, maximising validation accuracy and minimising the
validation DP difference. Every trial is a stored run like a sweep's, tagged with its trial
number, the budget and the objective, so it can join the frontier. A setting tuned on one
validation set may owe its place to that set, so each candidate on the searched front is trained
again on other splits (`resplits`): one whose validation accuracy or gap moves across them by
more than its own 95% interval is flagged `unstable`. On data this small the intervals are wide,
so read the spread itself too, not only the flag.

The search proposes; it never chooses. Nothing in it selects or exports a model: the choice in
section 9 is a stated rule applied by people, and the decision record names who made it. Here a
handful of trials over the regularized network and the constrained boosted trees (a real search
runs tens, `python -m fairkit search`)."""),
    ("code", """from fairkit.search import run_search

# Optuna imports tqdm's notebook progress bar, which asks for ipywidgets; the search shows no bar.
warnings.filterwarnings("ignore", message="IProgress not found")
searched = run_search(
    split, ["regularized", "boosting"], n_trials=4 if QUICK else 12, frame=frame, resplits=2 if QUICK else 3,
    params={"regularized": {"max_epochs": EPOCHS}} if QUICK else None,  # quick: every trial stays small
    store=ResultStore(os.path.join(OUT, "store")))
print(f"{searched.complete} trials ({searched.stopped}); objective: {searched.objective}")
trials = searched.trials.assign(on_front=searched.trials.run_id.isin(searched.front.run_id))
display(trials[["search_trial", "method", "eta", "search_params", "val_accuracy",
                "val_demographic_parity_difference", "constant", "on_front"]])
axes = {"accuracy": "accuracy", "demographic_parity_difference": "DP difference"}
pd.DataFrame({"trial": searched.front.search_trial, "method": searched.front.method, "eta": searched.front.eta,
              **{f"validation {label}": searched.front[f"val_{axis}"] for axis, label in axes.items()},
              **{f"{label} across {int(searched.front.resplit_n.iloc[0])} re-splits":
                 searched.front[f"resplit_{axis}_min"].map("{:.3f}".format) + " to "
                 + searched.front[f"resplit_{axis}_max"].map("{:.3f}".format) for axis, label in axes.items()},
              "unstable": searched.front.unstable, "why": searched.front.unstable_reason})"""),
    ("md", """## 9. Pick a model and export it with its decision record

The choice is a value judgement: here, the most accurate attribute-blind model whose validation
DP difference is at most 0.05. The bundle holds the preprocessing, the model as data (torch
weights as a `state_dict`, LightGBM trees as LightGBM's own text; nothing is pickled), the
metrics with intervals, the frontier and the decision record, with a SHA-256 manifest checked
before anything is loaded."""),
    ("code", """from fairkit.export import DecisionRecord, export_bundle, load_bundle

blind_front = pareto_front(blind)
choice = select(blind_front, max_unfairness=0.05)
if choice is None:  # nothing meets the tolerance: take the fairest point on the frontier
    choice = blind_front.iloc[0]
row = sweep.results.set_index("run_id").loc[choice["run_id"]].to_dict() | {"run_id": choice["run_id"]}
record = DecisionRecord(
    purpose="Illustration: a pre-trial risk score used only to prioritise support services, never detention.",
    rationale="Most accurate attribute-blind model within a 0.05 demographic-parity tolerance on validation.",
    decider="Demo notebook", fairness_rationale="Referral to support should not depend on race or sex.",
)
out = export_bundle(os.path.join(OUT, "bundle.zip"), model=sweep.model(row["run_id"]), split=split, run=row,
                    record=record, frontier=blind_front, n_boot=100 if QUICK else 300,
                    sweep={"methods": sweep_methods,
                           "etas": sorted(set(sweep.results.eta)), "seeds": [0]})
bundle = load_bundle(out["path"], expected_manifest_sha256=out["manifest_sha256"])
raw = split.test.raw.assign(**{c: split.test.sensitive[c].to_numpy() for c in spec.sensitive})
same = np.abs(bundle.predict_proba(raw) - sweep.model(row["run_id"]).predict_proba(split.test.X)[:, 1]).max()
print(f"selected {row['method']} eta={row['eta']}; max |difference| after reload: {same:.2e}")
print(bundle.record["content"]["selected"])"""),
    ("code", """from IPython.display import Markdown
import zipfile
Markdown(zipfile.ZipFile(out["path"]).read("decision_record.md").decode()[:4000])"""),
    ("md", """## What this does not decide

The frontier shows what is possible; it does not say which point is right. Demographic parity,
equalized odds and calibration within groups cannot all hold when base rates differ, so choosing
a definition is a choice about whose errors matter. That choice belongs to the people accountable
for the decision (an ethics committee, affected communities, the law), which is why the export
requires a written rationale and a named decider. A search widens the set of candidates; it does
not narrow it to one."""),
]


def main(argv=None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--execute", action="store_true",
                        help="also run it top to bottom in notebooks/ (full settings), filling its outputs")
    args = parser.parse_args(argv)
    nb = nbf.v4.new_notebook()
    nb.cells = [nbf.v4.new_markdown_cell(src) if kind == "md" else nbf.v4.new_code_cell(src) for kind, src in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = Path(__file__).resolve().parents[1] / "notebooks" / "demo.ipynb"
    path.parent.mkdir(exist_ok=True)
    if args.execute:
        import os

        from nbclient import NotebookClient

        os.environ.pop("FAIRKIT_DEMO_QUICK", None)  # the committed outputs are the full settings'
        NotebookClient(nb, timeout=1800, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    nbf.write(nb, path)
    print(f"wrote {path}" + (" (executed)" if args.execute else ""))


if __name__ == "__main__":
    main()
