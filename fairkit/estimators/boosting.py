"""Fair gradient boosting: LightGBM trees under fairness constraints, or with a fairness penalty.

Tabular data is where boosted trees beat small networks (on Adult, HistGradientBoosting is about
two points more accurate than an MLP). The trees are fitted through a LightGBM custom objective,
which sees every training row's raw score ``F`` at once and so can couple the rows of a group.
Two objectives are available:

``objective="constrained"`` (the default): a proxy-Lagrangian game (Cotter et al., 2019; FairGBM,
Cruz et al., ICLR 2023). For every pair of groups ``(g, h)`` and every rate the fairness
definition equalises (selection rate; true- and false-positive rates) the constraint is
``rate_g - rate_h <= tolerance`` on the *decisions* of the training rows. Each constraint has a
multiplier that every boosting round moves by gradient ascent on its hard violation (projected
onto ``>= 0``), and the round's tree is fitted to the gradient of the Lagrangian
``cross-entropy + sum lambda_gh (proxy_upper_g - proxy_lower_h)``, whose proxies are
cross-entropy bounds of the decisions (``softplus(F) / log 2`` above the step, ``1 -
softplus(-F) / log 2`` below it). A multiplier thus keeps growing until the decisions, not a
smooth stand-in for them, meet the bound, and a proxy's gradient does not vanish on the rows
whose decision must change. ``eta`` is the constraint's tightness: ``tolerance = bound / eta``.

``objective="penalty"``: cross-entropy + ``eta`` x a differentiable gap (the penalties of
:class:`~fairkit.estimators.FairRegularizedClassifier`: demographic parity, equal opportunity,
equalized odds, dependence; pairwise or overall; intersections), its gradient taken with torch
autograd. Why it stalls before parity is measured in benchmarks/README.md (issue #21).

The trees read ``X`` only, so the model does not need the sensitive attribute at prediction.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from scipy import sparse
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from fairkit import stats
from fairkit.estimators._memo import forget_outputs, memoized_output, remember_output
from fairkit.estimators._torch_base import FairFitMixin
from fairkit.estimators.regularized import penalty_for_levels
from fairkit.groups import MIN_GROUP_SIZE
from fairkit.losses import Membership, fairness_name, weighted_bce_with_logits

OBJECTIVES = ("constrained", "penalty")
#: The rates each definition equalises, as the kernel names them (fairkit.stats.group_rates).
CONSTRAINED_RATES = {
    "demographic_parity": ("selection_rate",),
    "equal_opportunity": ("tpr",),
    "equalized_odds": ("tpr", "fpr"),
}
# Which training rows a rate counts: every row, the positives, the negatives.
_ELIGIBLE = {"selection_rate": None, "tpr": 1, "fpr": 0}
#: ``n_estimators="auto"``: this many rounds below ``AUTO_ROUNDS_FROM_ROWS`` training rows, and
#: ``AUTO_ROUNDS_LARGE`` from there. Measured as the thresholds' unconstrained base (validation
#: accuracy, 100 / 200 rounds at 0.05): German (600 training rows) better with 100 on 3 of 5
#: splits, COMPAS (3.7k) on 2 of 3; Adult (29k) better with 200 on 3 of 3 (+0.0011 to +0.0027),
#: the 200k-row table +0.0010 (benchmarks/README.md, issue #21, session 28). The row boundary
#: is also the thresholds' ``"auto"`` source's (``postprocess.CROSSFIT_BELOW_ROWS`` is this
#: constant): the trees' small-data regime. Not the estimator's default: the constrained
#: family with 200 rounds was more accurate at tight equalized-odds tolerances on Adult, but
#: its test HV@0.05 fell by 1-14 % in 9 of the 16 settings measured and rose in none, so it
#: keeps 100.
AUTO_ROUNDS_SMALL, AUTO_ROUNDS_LARGE, AUTO_ROUNDS_FROM_ROWS = 100, 200, 10_000


def boosting_rounds(n_estimators, n_rows: int) -> int:
    """The rounds a fit on ``n_rows`` rows makes: ``n_estimators``, with "auto" resolved (see
    :data:`AUTO_ROUNDS_FROM_ROWS`). Read by the fit and by its cost model (:mod:`fairkit.costs`)."""
    if isinstance(n_estimators, str) and n_estimators == "auto":
        return AUTO_ROUNDS_LARGE if int(n_rows) >= AUTO_ROUNDS_FROM_ROWS else AUTO_ROUNDS_SMALL
    return int(n_estimators)


_LN2 = math.log(2.0)


def _training_scores(booster) -> np.ndarray:
    """The raw scores a LightGBM booster trained with a custom objective holds for its training
    rows (the trees' sum), read through the public ``eval_train`` hook."""
    out = {}

    def capture(preds, _data):
        out["scores"] = np.array(preds, dtype=np.float64)
        return "scores", 0.0, False

    booster.eval_train(feval=capture)
    return out["scores"]


def features_vary(X) -> bool:
    """Whether any column of ``X`` (dense or sparse) takes two values: LightGBM refuses to
    train on a table where none does."""
    if sparse.issparse(X):
        return bool((X.max(axis=0).toarray() != X.min(axis=0).toarray()).any())
    return bool(np.any(np.ptp(X, axis=0) > 0))


#: The kernel's sums the constrained rates read (selection rate, TPR, FPR = fp / neg): summed
#: every boosting round, so only these (a full kernel call per round cost more than LightGBM's own
#: tree building, scale audit 2026-12-06).
_RATE_SUMS = ("n", "pos", "sel", "tp", "fp", "neg")


class _ProxyLagrangian:
    """Pairwise rate constraints on hard decisions, their multipliers, and the proxies' derivatives.

    One block per group level and rate: a ``(G, G)`` matrix of multipliers ``lambda_gh`` for the
    constraints ``rate_g - rate_h <= tolerance`` between the groups the kernel's small-group rule
    compares (:func:`fairkit.stats.gap_groups`, :func:`fairkit.stats.rate_groups`), so the trees
    chase the gaps the reports measure.

    Parameters
    ----------
    levels : list of GroupLevel
    rates : tuple of str
        Keys of :data:`CONSTRAINED_RATES` values.
    y, w : ndarray of shape (n,)
        0/1 labels and row weights.
    tolerance : float
    lr : float
        Multiplier step per round per unit of violation.
    """

    def __init__(self, levels, rates, y, w, tolerance: float, lr: float):
        self.y, self.w, self.tolerance, self.lr = y, w, float(tolerance), float(lr)
        self.blocks = []
        for lv in levels:
            codes, G = lv.encoding.codes, lv.encoding.n_groups
            # The reports' rule: groups of enough rows, and for a TPR (FPR) enough positives
            # (negatives) to estimate it (stats.compared_groups).
            include = stats.compared_groups(codes, G, y, MIN_GROUP_SIZE, w)
            for rate in rates:
                cond = _ELIGIBLE[rate]
                e = np.ones_like(y, dtype=np.float64) if cond is None else (y == cond).astype(np.float64)
                weight = np.bincount(codes, weights=w * e, minlength=G)
                ok = include[rate] & (weight > 0)
                pair = ok[:, None] & ok[None, :]
                np.fill_diagonal(pair, False)
                # Each row's share of its group's rate: w_i e_i / W_g (0 for rows the rate skips).
                share = np.where(weight[codes] > 0, w * e / np.where(weight > 0, weight, 1.0)[codes], 0.0)
                self.blocks.append({"name": f"{lv.name}:{rate}", "level": lv, "rate": rate, "pair": pair,
                                    "share": share, "multipliers": np.zeros((G, G))})

    def step(self, F, update: bool = True):
        """Update the multipliers on the decisions of scores ``F``; the Lagrangian term's derivatives.

        With ``update=False`` the multipliers stay as they are (the gap is only measured).

        Returns
        -------
        grad, hess : ndarray of shape (n,)
            Derivatives of ``sum lambda_gh (upper_g - lower_h)`` (a mean over rows of each group).
        worst_gap : float
            Largest hard gap over the blocks before the update.
        violation : float
            ``sum lambda_gh (rate_g - rate_h - tolerance)`` after the update (the Lagrangian's
            constraint part on the decisions).
        """
        p = expit(F)
        grad, hess = np.zeros_like(F), np.zeros_like(F)
        worst, lagr = 0.0, 0.0
        by_level = {}
        for b in self.blocks:
            lv = b["level"]
            if lv.name not in by_level:
                gs = stats.group_sums(self.y, p, lv.encoding.codes, lv.encoding.n_groups,
                                      sample_weight=self.w, n_bins=1, only=_RATE_SUMS)
                by_level[lv.name] = stats.group_rates(gs)
            r = np.nan_to_num(by_level[lv.name][b["rate"]][0, 0])
            diff = np.where(b["pair"], r[:, None] - r[None, :], 0.0)
            worst = max(worst, float(diff.max(initial=0.0)))
            if not (update and math.isfinite(self.tolerance)):  # the gap is only measured
                continue
            excess = np.where(b["pair"], diff - self.tolerance, 0.0)
            lam = np.where(b["pair"], np.maximum(b["multipliers"] + self.lr * excess, 0.0), 0.0)
            b["multipliers"] = lam
            lagr += float((lam * excess).sum())
            # sum_gh lambda_gh (upper_g - lower_h) = sum_g A_g upper_g - sum_h B_h lower_h.
            codes = lv.encoding.codes
            up, lo = lam.sum(1)[codes] * b["share"], lam.sum(0)[codes] * b["share"]
            grad += (up * p - lo * (1.0 - p)) / _LN2
            hess += (up + lo) * p * (1.0 - p) / _LN2
        return grad, hess, worst, lagr

    def multipliers(self) -> dict:
        return {b["name"]: b["multipliers"].copy() for b in self.blocks}


# The parameters added with the constrained objective, as a model trained before them had them.
_BEFORE_CONSTRAINTS = {"objective": "penalty", "bound": 0.1, "multiplier_lr": 1.0, "iterate": "best"}


class FairBoostingClassifier(FairFitMixin, ClassifierMixin, BaseEstimator):
    """Gradient-boosted trees under fairness constraints (or with a fairness penalty).

    Parameters
    ----------
    eta : float, default=1.0
        Fairness strength; 0 gives plain boosted trees. With ``objective="constrained"`` the
        tightness of the constraints: every gap is to stay within ``bound / eta`` on the training
        rows' decisions (a target the rounds may not reach, with groups of a hundred rows or so
        and their true- or false-positive rates above all: the fit then warns, and
        ``constraint_gap_`` says by how much). With ``objective="penalty"`` the weight of the penalty (the scale of
        :class:`~fairkit.estimators.FairRegularizedClassifier`'s ``eta``).
    fairness : {"demographic_parity", "equal_opportunity", "equalized_odds", "dependence"}
        The criterion. ``"dependence"`` has no rate to constrain: penalty objective only.
    objective : {"constrained", "penalty"}, default="constrained"
        ``"constrained"``: the proxy-Lagrangian game on hard decisions described in the module
        docstring. ``"penalty"``: cross-entropy + ``eta`` x a differentiable gap.
    bound : float, default=0.1
        Gap allowed at ``eta=1`` (constrained objective): the tolerance is ``bound / eta``.
    multiplier_lr : float, default=1.0
        How fast the multipliers grow (constrained objective): each round adds ``multiplier_lr``
        times each constraint's violation on the training decisions, in cross-entropy units
        per unit of rate.
    iterate : {"best", "last"}, default="best"
        Which trees to keep (constrained objective): ``"best"`` keeps the prefix of the boosting
        rounds, among the second half, with the lowest training cross-entropy whose decisions
        meet every constraint (else the smallest worst gap); ``"last"`` keeps every tree.
    mode
        The penalty's option, as in :class:`~fairkit.estimators.FairRegularizedClassifier`
        (penalty objective).
    penalty : {"squared", "absolute"}, default="squared"
        How a gap is punished (penalty objective). Squared by default, unlike the network: the
        absolute gap's gradient does not shrink near parity, so Newton-step trees overshoot and
        oscillate around it (measured on Adult: eta >= 2 collapsed to the majority class).
        Squared gaps are smaller numbers, so useful ``eta`` values are larger (about 1-100 on Adult).
    dependence_measure, surrogate, temperature
        The penalty's options, as ``mode``.
    hierarchical : bool, default=True
        With several sensitive columns, constrain (or penalize) every marginal and their
        intersection; otherwise the intersection only.
    group_weights, adaptive_shrinkage
        The penalty's options, as ``mode``.
    n_estimators : int or "auto", default=100
        Boosting rounds (trees). ``"auto"``: 100 below 10,000 training rows, 200 from there
        (:func:`boosting_rounds`; the post-processors' unconstrained base uses it).
    learning_rate : float, default=0.05
        Shrinkage of every tree. The default budget (100 trees at 0.05) replaced 200 at 0.1
        after an eta sweep's validation hypervolume was measured with both (16 etas): German
        0.0588 vs 0.0492 (10 splits; 600 training rows, where the larger budget overfits),
        COMPAS 0.1116 vs 0.1105, Adult 0.1092 vs 0.1095, in about 60 % of the time.
    num_leaves : int, default=31
        Maximum leaves per tree.
    max_depth : int, default=-1
        Maximum tree depth (-1: no limit beyond ``num_leaves``).
    min_child_samples : int, default=20
        Minimum rows in a leaf.
    reg_lambda : float, default=0.0
        L2 regularization of leaf values.
    max_delta_step : float, default=1.0
        Largest leaf value before shrinkage (LightGBM's trust region; 0 = none). Strong
        penalties make large Newton steps; capping them keeps high ``eta`` stable.
    subsample : float, default=1.0
        Fraction of rows each tree sees (bagging every round when below 1).
    colsample_bytree : float, default=1.0
        Fraction of features each tree sees.
    n_jobs : int, default=1
        LightGBM threads; 1 because sweeps already run several fits in parallel.
    random_state : int, RandomState or None, default=None

    Attributes
    ----------
    booster_ : lightgbm.Booster or None
        The fitted trees (raw scores, without :attr:`init_score_`); None when no feature
        varies (the model is then the base rate).
    init_score_ : float
        Starting raw score: the log-odds of the weighted training base rate.
    classes_ : ndarray of shape (2,)
    n_features_in_ : int
    feature_names_in_ : ndarray, optional
    best_iteration_ : int
        Trees kept (``n_estimators_`` unless ``iterate="best"`` chose a shorter prefix; 0 when
        no feature varies).
    n_estimators_ : int
        The rounds made (``n_estimators`` with "auto" resolved for the training rows).
    tolerance_ : float
        The constraints' tolerance ``bound / eta`` (inf when nothing is constrained: ``eta=0``,
        no sensitive features, or the penalty objective).
    constraint_gap_ : float
        The largest constrained gap of the kept trees' decisions on the training rows (NaN when
        nothing is constrained, or no feature varies so that no tree is grown). Above
        ``tolerance_`` the fit warned.
    multipliers_ : dict
        Constrained objective: the final multipliers of each group level and rate
        (``"<level>:<rate>"``), an array of shape (G, G) whose entry ``[g, h]`` prices
        ``rate_g - rate_h <= tolerance``. Empty otherwise.
    history_ : list of dict
        Per round, on the training data before the round's tree: ``round``, ``loss``,
        ``bce`` and ``fairness`` (the penalty; for the constrained objective the largest hard
        gap), and for the constrained objective ``multipliers`` (their sum).
    sensitive_levels_ : list of str
    group_names_ : dict

    Examples
    --------
    >>> clf = FairBoostingClassifier(eta=5.0, random_state=0)  # doctest: +SKIP
    >>> clf.fit(X, y, sensitive_features=df["sex"]).predict_proba(X)  # doctest: +SKIP
    """

    #: The trees read ``X`` only.
    needs_sensitive_at_predict = False

    def __init__(
        self,
        eta=1.0,
        fairness="demographic_parity",
        *,
        objective="constrained",
        bound=0.1,
        multiplier_lr=1.0,
        iterate="best",
        mode="pairwise",
        penalty="squared",
        dependence_measure="covariance",
        surrogate="probability",
        temperature=1.0,
        hierarchical=True,
        group_weights=None,
        adaptive_shrinkage=None,
        n_estimators=100,
        learning_rate=0.05,
        num_leaves=31,
        max_depth=-1,
        min_child_samples=20,
        reg_lambda=0.0,
        max_delta_step=1.0,
        subsample=1.0,
        colsample_bytree=1.0,
        n_jobs=1,
        random_state=None,
    ):
        self.eta = eta
        self.fairness = fairness
        self.objective = objective
        self.bound = bound
        self.multiplier_lr = multiplier_lr
        self.iterate = iterate
        self.mode = mode
        self.penalty = penalty
        self.dependence_measure = dependence_measure
        self.surrogate = surrogate
        self.temperature = temperature
        self.hierarchical = hierarchical
        self.group_weights = group_weights
        self.adaptive_shrinkage = adaptive_shrinkage
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.max_delta_step = max_delta_step
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.n_jobs = n_jobs
        self.random_state = random_state

    def __setstate__(self, state):
        # A model stored before the constrained objective existed (pickled, or a bundle's state)
        # was trained with the penalty: its parameters say so, and get_params / clone work on it.
        super().__setstate__({**_BEFORE_CONSTRAINTS, **state})

    def _validate_params(self):
        # Finite where infinity is no setting: eta=inf (penalty), an infinite multiplier step or
        # learning rate made LightGBM stop on NaN gradients after one tree and return a constant
        # model without a word (estimators audit, session 51). A constrained eta of inf is a
        # tolerance of 0, a setting.
        if not (self.eta >= 0 and (math.isfinite(self.eta) or self.objective == "constrained")):
            raise ValueError(f"eta must be a finite non-negative number, got {self.eta!r}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.objective == "constrained":
            if fairness_name(self.fairness) not in CONSTRAINED_RATES:
                raise ValueError(
                    f"fairness={self.fairness!r} has no rate to constrain; choose one of "
                    f"{sorted(CONSTRAINED_RATES)} or objective='penalty'")
            if not self.bound >= 0:
                raise ValueError(f"bound must be a non-negative number, got {self.bound!r}")
            if self.iterate not in ("best", "last"):
                raise ValueError(f"iterate must be 'best' or 'last', got {self.iterate!r}")
            if not (self.multiplier_lr > 0 and math.isfinite(self.multiplier_lr)):
                raise ValueError(f"multiplier_lr must be a finite positive number, got {self.multiplier_lr!r}")
        auto = isinstance(self.n_estimators, str) and self.n_estimators == "auto"
        if not (auto or (isinstance(self.n_estimators, (int, np.integer)) and not isinstance(self.n_estimators, bool)
                         and self.n_estimators >= 1)):
            raise ValueError(f"n_estimators must be a positive integer or 'auto', got {self.n_estimators!r}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"learning_rate must be a finite positive number, got {self.learning_rate!r}")
        for name in ("subsample", "colsample_bytree"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)!r}")
        # LightGBM's own errors named its internals, or it read a bad value as another setting
        # (max_delta_step -1 as "no cap"; NaN failed in its JSON).
        for name, low in (("num_leaves", 2), ("min_child_samples", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be a whole number of at least {low}, got {value!r}")
        for name in ("reg_lambda", "max_delta_step"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float, np.number)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number of at least 0, got {value!r}")

    def fit(self, X, y, *, sensitive_features=None, sample_weight=None):
        """Train the trees.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Numeric features (not the sensitive attribute, for an attribute-blind model).
            Sparse input is passed to LightGBM as CSR.
        y : array-like of shape (n_samples,)
            Binary labels.
        sensitive_features : array-like, Series or DataFrame, optional
            Group of each row, used by the constraints (or the penalty) only. Without it the
            model is plain boosting.
        sample_weight : array-like of shape (n_samples,), optional
            Row weights, read as shares of the data (scaled to mean 1): weights all times a
            constant train the same model. They are not frequencies: a row of weight 2 does not
            train as two copies of it (LightGBM's rules count rows: ``min_child_samples``, the
            feature bins; benchmarks/README.md, session 51), and a row of
            weight 0 still places bins and counts in ``min_child_samples``. Repeat the rows for
            frequencies.

        Returns
        -------
        self
        """
        import lightgbm as lgb

        self._validate_params()
        forget_outputs(self)
        X, y_enc, sw, classes = self._validate_xy(X, y, sample_weight)
        # Weights of mean 1, as shares of the data: weights all times 0.25 or 2.5 grew another
        # model (install audit, session 49: probabilities moved by up to 0.18), LightGBM's split
        # search reading the raw sums. Without weights this divides by 1.0.
        sw = sw / sw.mean()
        levels = self._group_levels(sensitive_features, X.shape[0])
        n = X.shape[0]
        rounds = boosting_rounds(self.n_estimators, n)
        yt = torch.tensor(y_enc, dtype=torch.float64)
        wt = torch.tensor(sw, dtype=torch.float64)
        base_rate = float(np.clip(np.average(y_enc, weights=sw), 1e-6, 1 - 1e-6))
        init = float(np.log(base_rate / (1 - base_rate)))
        eta = float(self.eta)
        constrained = self.objective == "constrained"
        # The gaps are measured (history) even at eta 0, where nothing constrains them.
        tolerance = float(self.bound) / eta if constrained and eta > 0 and levels else math.inf
        game = penalty = None
        if constrained and levels:
            game = _ProxyLagrangian(levels, CONSTRAINED_RATES[fairness_name(self.fairness)], y_enc, sw, tolerance,
                                    float(self.multiplier_lr))
        elif not constrained:
            penalty = penalty_for_levels(self, levels)
            mems = [Membership(torch.tensor(lv.encoding.codes, dtype=torch.long), n_groups=lv.encoding.n_groups)
                    for lv in levels]
        # LightGBM wants per-row derivatives of a *sum* over rows; the objective is a weighted
        # mean, so both are scaled by the total weight (the weights are shares, not copies:
        # min_child_samples and the bins count rows, and a leaf's L2 penalty does not scale with
        # its rows' weights).
        wsum = float(sw.sum())
        history = []

        # Only a penalty in the loss needs autograd: the cross-entropy's derivatives have a
        # closed form, w (p - y) and w p (1 - p) once scaled by the total weight.
        penalized = penalty is not None and eta > 0 and bool(mems)

        def objective(preds, _dataset):
            preds = preds + init  # the trees' sum; the model's score adds the base rate's log-odds
            F = torch.tensor(preds, dtype=torch.float64, requires_grad=penalized)
            bce = weighted_bce_with_logits(F, yt, wt)
            record = {"round": len(history), "bce": float(bce.detach())}
            p = torch.sigmoid(F.detach())
            if penalized:
                fair = penalty(F, yt, mems, wt)
                loss = bce + eta * fair
                loss.backward()
                grad = F.grad.numpy() * wsum
                record.update(loss=float(loss.detach()), fairness=float(fair.detach()))
            else:
                grad = (wt * (p - yt)).numpy()
                if penalty is not None:  # measured only
                    record.update(loss=record["bce"], fairness=float(penalty(F, yt, mems, wt)) if mems else 0.0)
            # The cross-entropy's curvature alone, for the penalty too (Gauss-Newton): the
            # penalty's own second derivative can be negative, which a Newton step cannot take;
            # max_delta_step bounds the steps it would have damped.
            hess = (wt * p * (1 - p)).numpy()
            if constrained:
                worst, lagr = 0.0, 0.0
                if game is not None:
                    g_c, h_c, worst, lagr = game.step(preds)
                    # The proxies' curvature joins the cross-entropy's: both are convex, and a
                    # Newton step that ignored it would overshoot once the multipliers are large.
                    grad, hess = grad + g_c * wsum, hess + h_c * wsum
                record.update(loss=record["bce"] + lagr, fairness=worst,
                              multipliers=0.0 if game is None else float(sum(b["multipliers"].sum()
                                                                             for b in game.blocks)))
            history.append(record)
            return grad, np.maximum(hess, 1e-12)

        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        params = {
            "objective": objective, "learning_rate": float(self.learning_rate),
            "num_leaves": int(self.num_leaves), "max_depth": int(self.max_depth),
            "min_child_samples": int(self.min_child_samples), "lambda_l2": float(self.reg_lambda),
            "max_delta_step": float(self.max_delta_step),
            "feature_fraction": float(self.colsample_bytree), "num_threads": int(self.n_jobs),
            "seed": seed, "deterministic": True, "force_row_wise": True, "verbose": -1,
        }
        if self.subsample < 1:
            params.update(bagging_fraction=float(self.subsample), bagging_freq=1)
        # LightGBM reads a sparse table as it is (CSR), never expanded.
        X = sparse.csr_matrix(X, dtype=np.float64) if sparse.issparse(X) else np.asarray(X, dtype=np.float64)
        kept, gap = 0, math.nan
        if not features_vary(X):
            # No feature varies, so no tree can split (LightGBM refuses such data): the model is
            # the base rate, which is what boosting would converge to.
            self.booster_ = None
        else:
            # feature_pre_filter off: on small data LightGBM would otherwise drop every feature
            # that cannot split under min_child_samples, and then fail.
            # No init_score in the Dataset: the objective adds it, as decision_function does,
            # so the training scores LightGBM holds are the trees' sum accumulated in the order
            # predict sums them, and equal its output bit for bit.
            data = lgb.Dataset(X, label=y_enc.astype(np.float64),
                               params={"verbose": -1, "feature_pre_filter": False})
            # The training booster is kept only to read those scores, then reloaded from its
            # model text, as lgb.train does itself: a post-processor thresholding the training
            # scores, or the choice of the kept prefix below, would otherwise pass the trees
            # over the training table again (half a fit on Adult).
            booster = lgb.train(params, data, num_boost_round=rounds, keep_training_booster=True)
            train_raw = _training_scores(booster) + init
            self.booster_ = lgb.Booster(model_str=booster.model_to_string())
            del booster, data
            kept = rounds
            if game is not None and math.isfinite(tolerance):
                if self.iterate == "best":
                    self.booster_, kept, gap = self._best_prefix(game, train_raw, y_enc, sw, history, rounds)
                else:
                    gap = float(game.step(train_raw, update=False)[2])
            if kept == rounds:
                remember_output(self, "decision_function", X, train_raw)
        self.init_score_ = init
        self.classes_ = classes
        self.best_iteration_ = kept
        self.n_estimators_ = rounds
        self.tolerance_ = tolerance
        self.constraint_gap_ = gap
        if gap > tolerance:
            # The Lagrangian trainer says when it misses its bound; the trees kept silent, and
            # their training gap stayed 0.07-0.49 against 0.01-0.1 on Adult's small sex & race
            # cells in 18 of 18 fits (method claims audit, session 47).
            warnings.warn(
                f"FairBoostingClassifier (eta={self.eta:g}) missed its bound on the training data: gap {gap:.4f} > "
                f"tolerance {tolerance:.4f} (small groups' rates move in large steps: larger groups, a lower eta "
                "or more rounds)",
                UserWarning, stacklevel=2)
        self.multipliers_ = {} if game is None or not math.isfinite(tolerance) else game.multipliers()
        self.history_ = history
        self.sensitive_levels_ = [lv.name for lv in levels]
        self.group_names_ = {lv.name: list(lv.encoding.names) for lv in levels}
        return self

    def _best_prefix(self, game, F, y, w, history, n: int):
        """The trees' prefix to keep, its tree count and its largest training gap: among the
        second half of the rounds, the one with the
        lowest training cross-entropy whose decisions meet every constraint, else the one with
        the smallest worst gap. The game's last iterate oscillates around the bound (a round's
        multipliers answer the previous rounds' decisions), and Cotter et al. (2019) choose
        among iterates for the same reason; the first half is left out because its early
        prefixes decide alike for nearly everyone (small gaps, a near-constant model)."""
        import lightgbm as lgb

        _, _, worst, _ = game.step(F, update=False)
        bce = float(weighted_bce_with_logits(torch.tensor(F), torch.tensor(y, dtype=torch.float64),
                                             torch.tensor(w)))
        # history[k] describes the prefix of k trees (measured before round k's tree).
        gaps = np.array([h["fairness"] for h in history[:n]] + [worst])
        losses = np.array([h["bce"] for h in history[:n]] + [bce])
        ks = np.arange(n // 2, n + 1)
        ok = ks[gaps[ks] <= game.tolerance]
        k = int(ok[np.argmin(losses[ok])]) if len(ok) else int(ks[np.argmin(gaps[ks])])
        if k == n:
            return self.booster_, n, float(gaps[k])
        return lgb.Booster(model_str=self.booster_.model_to_string(num_iteration=k)), k, float(gaps[k])

    def decision_function(self, X):
        """Raw score (log-odds of ``classes_[1]``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "init_score_")
        X = validate_data(self, X, dtype=np.float64, reset=False, accept_sparse="csr")
        if self.booster_ is None:
            return np.full(X.shape[0], self.init_score_)
        if sparse.issparse(X):
            X = sparse.csr_matrix(X)  # LightGBM takes scipy's matrix classes, not its arrays
        # A copy: the remembered array is read-only and callers may write to theirs.
        return np.array(memoized_output(self, "decision_function", X,
                                        lambda: self.booster_.predict(X, raw_score=True) + self.init_score_))
