"""Constrained training by simultaneous primal descent and dual ascent on a Lagrangian."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from fairkit.estimators._torch_base import TorchFairClassifierBase, TrainData, accuracy, decisions
from fairkit.groups import GroupLevel, encode_groups
from fairkit.losses import (
    FalsePositiveRate,
    GroupStatistic,
    Membership,
    SelectionRate,
    TruePositiveRate,
    fairness_name,
    weighted_bce_models,
)

_CONSTRAINT_STATS = {
    "demographic_parity": (SelectionRate,),
    "equal_opportunity": (TruePositiveRate,),
    "equalized_odds": (TruePositiveRate, FalsePositiveRate),
}


@dataclass
class _Constraint:
    name: str
    type: str
    columns: tuple | None
    bound: float
    level: int
    statistics: tuple


def _max_gap(stat: GroupStatistic, scores, labels, membership, w) -> torch.Tensor:
    """Largest difference between two groups' rates (groups without eligible rows ignored)."""
    rates = stat(scores, labels, membership, w)
    present = rates.present
    r = rates.rate
    big = torch.finfo(r.dtype).max
    hi = torch.where(present, r, torch.full_like(r, -big)).max(0).values
    lo = torch.where(present, r, torch.full_like(r, big)).min(0).values
    # A model (column) with fewer than two groups present has no gap.
    return torch.where(present.sum(0) >= 2, hi - lo, torch.zeros_like(hi))


class LagrangianFairnessTrainer(TorchFairClassifierBase):
    """Classifier trained under fairness constraints by a Lagrangian min-max game.

    Each constraint ``k`` asks that the largest difference in a group rate between any two groups
    (``gap_k``: the demographic-parity difference, the equal-opportunity difference, or the
    equalized-odds difference ``max(TPR gap, FPR gap)``) stay within ``bound_k / eta``. The
    trainer minimises ``BCE + sum_k lambda_k (gap_k - bound_k / eta)`` over the network weights
    (Adam, smooth gaps) while doing projected gradient ascent on the multipliers
    ``lambda_k >= 0`` (their own optimizer and ``dual_lr``), both at every mini-batch.

    Parameters
    ----------
    constraints : str or list of dict, default="demographic_parity"
        A constraint type (``"demographic_parity"``, ``"equal_opportunity"``,
        ``"equalized_odds"``) applied to the full intersection of the sensitive features, or a
        list of ``{"type": ..., "columns": [...], "bound": ...}`` dicts. ``columns`` names
        columns of a DataFrame ``sensitive_features`` (their intersection defines the groups;
        omitted = all columns); ``bound`` defaults to ``bound``; an optional ``"name"`` labels
        the constraint in ``history_`` and warnings.
    bound : float, default=0.02
        Default bound of every constraint, before the ``eta`` scaling.
    eta : float, default=1.0
        Constraint tightness. The effective bound is ``bound_k / eta``: ``eta=1`` uses the given
        bounds, ``eta=2`` halves them, larger is fairer, and ``eta=0`` drops every constraint
        (a plain classifier).
    dual_lr : float, default=10.0
        Learning rate of the multipliers, per epoch: each mini-batch does an SGD ascent step of
        ``dual_lr / n_batches`` times the batch violation, then projects onto ``lambda >= 0``.
        A violation of 0.1 held for an epoch thus raises a multiplier by about 1.
    dual_signal : {"hard", "smooth"}, default="hard"
        Violation the multipliers ascend on. ``"hard"`` uses the batch gap of the actual 0/1
        decisions (proxy-Lagrangian, Cotter et al. 2019): the multiplier keeps growing until
        the *decisions* meet the bound, while the weights follow the smooth gap's gradient.
        ``"smooth"`` uses the same smooth gap as the weights.
    temperature : float, default=0.5
        The smooth gap uses ``sigmoid(logit / temperature)`` as a soft decision; smaller values
        track the hard decisions more closely but give sparser gradients.
    iterate : {"best", "last"}, default="best"
        ``"best"`` keeps, among the end-of-epoch weights, the one with the lowest training
        cross-entropy that meets every bound on the training data (hard decisions) and fits
        better than the constant prediction of the base rate (which meets every bound); failing
        that, the lowest-loss one within ``constraint_tol`` of every bound; failing that, the one
        with the smallest worst violation. (The last iterate of a min-max game oscillates;
        Cotter et al. 2019 recommend choosing among iterates.) ``"last"`` keeps the final
        weights (or the best validation weights with early stopping).
    constraint_tol : float, default=0.01
        Slack on the effective bound, in rate units, used by ``iterate="best"`` and by the
        warning: a ``UserWarning`` naming every constraint whose training-data gap exceeds
        ``bound_k / eta + constraint_tol`` at the end of ``fit``.
    hidden_layer_sizes, activation, lr, batch_size, max_epochs, max_steps, weight_decay, \
clip_grad_norm, early_stopping, validation_fraction, n_iter_no_change, tol, warm_start, random_state, device, \
verbose
        As in :class:`~fairkit.estimators.FairRegularizedClassifier`. With early stopping the
        criterion is the validation Lagrangian ``BCE + sum_k lambda_k max(0, violation_k)``.

    Attributes
    ----------
    module_ : torch.nn.Module
    classes_ : ndarray of shape (2,)
    n_features_in_ : int
    multipliers_ : dict
        Multiplier of each active constraint at the kept epoch, by name (empty without
        sensitive features or with ``eta=0``).
    constraints_ : list of dict
        The parsed constraints: name, type, columns, bound and effective bound.
    violations_ : dict
        Hard-decision gap minus effective bound of each constraint on the training data for the
        kept weights (negative = satisfied).
    best_epoch_ : int
        Epoch whose weights were kept.
    history_ : list of dict
        Per epoch: ``loss`` (Lagrangian), ``primal_loss`` (BCE), ``fairness`` (worst training
        violation), and for each constraint ``violation:<name>`` (training data, hard decisions,
        gap minus effective bound), ``gap:<name>`` and ``multiplier:<name>``.

    Examples
    --------
    >>> clf = LagrangianFairnessTrainer(constraints=[
    ...     {"type": "demographic_parity", "columns": ["sex"], "bound": 0.02},
    ...     {"type": "demographic_parity", "columns": ["race"], "bound": 0.02},
    ...     {"type": "demographic_parity", "columns": ["sex", "race"], "bound": 0.05},
    ... ])  # doctest: +SKIP
    >>> clf.fit(X, y, sensitive_features=df[["sex", "race"]])  # doctest: +SKIP
    """

    def __init__(
        self,
        constraints="demographic_parity",
        bound=0.02,
        eta=1.0,
        *,
        dual_lr=10.0,
        dual_signal="hard",
        temperature=0.5,
        iterate="best",
        constraint_tol=0.01,
        hidden_layer_sizes=(),
        activation="relu",
        lr=1e-2,
        batch_size=512,
        max_epochs=30,
        max_steps=None,
        weight_decay=0.0,
        clip_grad_norm=5.0,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        tol=1e-4,
        warm_start=False,
        random_state=None,
        device="cpu",
        verbose=0,
    ):
        self.constraints = constraints
        self.bound = bound
        self.eta = eta
        self.dual_lr = dual_lr
        self.dual_signal = dual_signal
        self.temperature = temperature
        self.iterate = iterate
        self.constraint_tol = constraint_tol
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.max_steps = max_steps
        self.weight_decay = weight_decay
        self.clip_grad_norm = clip_grad_norm
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.warm_start = warm_start
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # ------------------------------------------------------------------ constraints

    def _parse_constraints(self, sensitive) -> tuple[list[_Constraint], list[GroupLevel]]:
        specs = self.constraints
        if isinstance(specs, str):
            specs = [{"type": specs}]
        elif isinstance(specs, dict):
            specs = [specs]
        specs = list(specs)
        if not specs:
            raise ValueError("constraints is empty; give at least one constraint")
        is_frame = isinstance(sensitive, pd.DataFrame)
        all_columns = tuple(sensitive.columns) if is_frame else None
        levels: list[GroupLevel] = []
        level_of: dict = {}
        parsed, names = [], set()
        for i, spec in enumerate(specs):
            spec = {"type": spec} if isinstance(spec, str) else dict(spec)
            unknown = set(spec) - {"type", "columns", "bound", "name"}
            if unknown:
                raise ValueError(f"constraint {i}: unknown keys {sorted(unknown)}; use type, "
                                 "columns, bound and name")
            ctype = fairness_name(spec.get("type"))  # fairlearn's spelling too
            if ctype not in _CONSTRAINT_STATS:
                raise ValueError(f"constraint {i}: type must be one of "
                                 f"{sorted(_CONSTRAINT_STATS)}, got {ctype!r}")
            bound = float(spec.get("bound", self.bound))
            if not bound >= 0:
                raise ValueError(f"constraint {i}: bound must be non-negative, got {bound!r}")
            columns = spec.get("columns")
            if columns is not None:
                columns = (columns,) if isinstance(columns, str) else tuple(columns)
                if not is_frame:
                    raise ValueError(f"constraint {i} names columns {list(columns)} but "
                                     "sensitive_features is not a DataFrame")
                missing = [c for c in columns if c not in sensitive.columns]
                if missing:
                    raise ValueError(f"constraint {i}: column(s) {missing} not in "
                                     f"sensitive_features (columns: {list(sensitive.columns)})")
            key = columns if columns is not None else all_columns
            if key not in level_of:
                sub = sensitive[list(key)] if key is not None else sensitive
                label = " & ".join(map(str, key)) if key is not None else "group"
                level_of[key] = len(levels)
                levels.append(GroupLevel(label, encode_groups(sub), key or ()))
            name = spec.get("name") or (
                f"{ctype}[{levels[level_of[key]].name}]" if key is not None else ctype)
            while name in names:
                name += "'"
            names.add(name)
            parsed.append(_Constraint(name, ctype, key, bound, level_of[key],
                                      tuple(s() for s in _CONSTRAINT_STATS[ctype])))
        return parsed, levels

    def _levels_for(self, sensitive):
        self._constraints, levels = self._parse_constraints(sensitive)
        return levels

    def _effective_bound(self, c: _Constraint) -> float:
        return math.inf if self.eta == 0 else c.bound / self.eta

    # ------------------------------------------------------------------ hooks
    # fit_models may hand the lead K models differing only in eta (one stacked pass for K
    # bounds). Every constraint then has K effective bounds and K independent multipliers:
    # tensors of shape (K, C). A model with eta=0 has no active constraint (its bounds are
    # infinite), which the mask ``_on`` keeps out of its Lagrangian and its multipliers.

    _batches_etas = True

    def _validate_params(self):
        super()._validate_params()
        if self.dual_signal not in ("hard", "smooth"):
            raise ValueError(f"dual_signal must be 'hard' or 'smooth', got {self.dual_signal!r}")
        if self.iterate not in ("best", "last"):
            raise ValueError(f"iterate must be 'best' or 'last', got {self.iterate!r}")
        # Finite, and constraint_tol a number of at least 0: NaN switched off both the selection
        # within tolerance and the miss warning, inf made the smooth gap constant (no gradient),
        # an infinite dual step "diverged" (estimators audit, session 51).
        for name in ("dual_lr", "temperature"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite positive number, got {value!r}")
        if not (self.constraint_tol >= 0 and math.isfinite(self.constraint_tol)):
            raise ValueError(f"constraint_tol must be a finite number of at least 0, got {self.constraint_tol!r}")
        self._constraints = []

    _training_attrs = ("_nets", "_constraints", "_active", "_bounds", "_on", "_lambda", "_dual_optimizer",
                       "_selection", "_train_for_report", "_kept_multipliers", "_models")

    def _setup(self, models, train: TrainData, seed: int) -> None:
        self._models = models
        self._active = self._constraints if train.has_groups else []
        bounds = np.array([[m._effective_bound(c) for c in self._active] for m in models], dtype=np.float64)
        bounds = bounds.reshape(len(models), len(self._active))
        on = np.isfinite(bounds)
        dev = self._device()
        self._on = torch.tensor(on, dtype=torch.float32, device=dev)
        self._bounds = torch.tensor(np.where(on, bounds, 0.0), dtype=torch.float32, device=dev)
        self._lambda = torch.zeros(bounds.shape, dtype=torch.float32, device=dev, requires_grad=True)
        # dual_lr is per epoch: spread over the epoch's batches so the multipliers move at the
        # same pace whatever the data size (small data has few steps per epoch).
        n_batches = max(1, math.ceil(len(train) / self.batch_size))
        self._dual_optimizer = torch.optim.SGD([self._lambda], lr=self.dual_lr / n_batches,
                                               maximize=True)
        self._selection = [None] * len(models)  # per model: (key, epoch, state, multipliers)
        self._train_for_report = train

    def _gaps(self, logits, data: TrainData, hard: bool) -> torch.Tensor:
        """Gap of each constraint for each model, shape (K, C), from logits of shape (n, K)."""
        if hard:
            scores = decisions(logits.detach())
        else:
            scores = torch.sigmoid(logits / self.temperature)
        gaps = []
        for c in self._active:
            lv = data.levels[c.level]
            m = Membership(data.groups[c.level], n_groups=lv.encoding.n_groups)
            g = [_max_gap(s, scores, data.y, m, data.w) for s in c.statistics]
            gaps.append(torch.stack(g).max(0).values if len(g) > 1 else g[0])
        return torch.stack(gaps, dim=1) if gaps else logits.new_zeros(logits.shape[1], 0)

    def _bce(self, logits, data: TrainData) -> torch.Tensor:
        """Weighted cross-entropy of each model, shape (K,), from logits of shape (n, K)."""
        return weighted_bce_models(logits, data.y, data.w, data.w_sum)

    def _batch_loss(self, logits, batch: TrainData):
        bce = self._bce(logits, batch)
        if not self._active:
            return bce, {"loss": bce.detach(), "primal_loss": bce.detach()}
        smooth_violation = (self._gaps(logits, batch, hard=False) - self._bounds) * self._on
        lagrangian = bce + (self._lambda.detach() * smooth_violation).sum(1)
        if self.dual_signal == "hard":
            dual_grad = (self._gaps(logits, batch, hard=True) - self._bounds) * self._on
        else:
            dual_grad = smooth_violation.detach()
        self._lambda.grad = dual_grad.detach().clone()
        return lagrangian, {"loss": lagrangian.detach(), "primal_loss": bce.detach()}

    def _after_step(self) -> None:
        if self._active:
            self._dual_optimizer.step()
            with torch.no_grad():
                self._lambda.clamp_(min=0.0)  # projection onto the feasible multipliers

    def _train_state(self, logits, data: TrainData):
        """Cross-entropy (K,) and hard-decision gaps (K, C) of ``logits`` (n, K) on ``data``."""
        with torch.no_grad():
            return self._bce(logits, data), self._gaps(logits, data, hard=True)

    def _end_epoch(self, epoch: int, train: TrainData, records: list) -> None:
        if not self._active:
            for record in records:
                record["fairness"] = 0.0
            return
        with torch.no_grad():
            bce, gaps = self._train_state(self._nets.forward(train.X), train)
        violation = (gaps - self._bounds).cpu().numpy().astype(float)
        lam = self._lambda.detach().cpu().numpy().astype(float)
        on = self._on.cpu().numpy() > 0
        bce = bce.cpu().numpy().astype(float)
        gaps = gaps.cpu().numpy().astype(float)
        # The constant prediction of the base rate meets every bound: an iterate that fits worse
        # than it is no better kept for meeting the bounds exactly (a 10-epoch fit kept its second
        # epoch, accuracy 0.39 against the majority's 0.61, over a later one within tolerance).
        w = train.w.double()
        rate = float((w * train.y.double()).sum() / w.sum())
        constant = -(rate * math.log(rate) + (1 - rate) * math.log(1 - rate)) if 0 < rate < 1 else 0.0
        snapshot = None
        for k, record in enumerate(records):
            if not on[k].any():  # eta = 0: a plain classifier
                record["fairness"] = 0.0
                continue
            worst = float(violation[k][on[k]].max())
            record["fairness"] = worst
            for j, c in enumerate(self._active):
                record[f"gap:{c.name}"] = gaps[k, j]
                record[f"violation:{c.name}"] = violation[k, j]
                record[f"multiplier:{c.name}"] = lam[k, j]
            if self.iterate == "best":
                # Prefer iterates meeting every bound exactly (and fitting better than the
                # constant), then within the tolerance (lowest cross-entropy first), then the
                # smallest worst violation.
                if worst <= 0 and bce[k] <= constant:
                    key = (0, bce[k])
                elif worst <= self.constraint_tol:
                    key = (1, bce[k])
                else:
                    key = (2, worst)
                if self._selection[k] is None or key < self._selection[k][0]:
                    snapshot = snapshot or self._snapshot()  # one copy for the models improving
                    self._selection[k] = (key, record["epoch"], snapshot, lam[k])

    def _validation_metrics(self, logits, val: TrainData) -> list:
        bce = self._bce(logits, val).cpu().numpy()
        out = [{"primal_loss": float(b), "loss": float(b)} for b in bce]
        if self._active:
            viol = ((self._gaps(logits, val, hard=True) - self._bounds) * self._on).cpu().numpy()
            lam = self._lambda.detach().cpu().numpy()
            for k, rec in enumerate(out):
                rec["loss"] += float((lam[k] * np.maximum(viol[k], 0)).sum())
                for c, v in zip(self._active, viol[k]):
                    rec[f"violation:{c.name}"] = float(v)
        for k, rec in enumerate(out):
            rec["accuracy"] = accuracy(logits[:, k], val)
        return out

    def _final_states(self, best: list) -> list:
        lam = self._lambda.detach().cpu().numpy()
        self._kept_multipliers = [lam[k] for k in range(len(best))]
        if self.iterate != "best":
            return best
        kept = []
        for k, (b, sel) in enumerate(zip(best, self._selection)):
            if sel is None:
                kept.append(b)
            else:
                _, epoch, state, self._kept_multipliers[k] = sel
                kept.append((state, epoch))
        return kept

    def _finish(self, models) -> None:
        data = self._train_for_report
        cons = self._constraints if data.has_groups else []
        on = self._on.cpu().numpy() > 0
        for k, m in enumerate(models):
            m.constraints_ = [
                {"name": c.name, "type": c.type, "columns": list(c.columns or []), "bound": c.bound,
                 "effective_bound": m._effective_bound(c)}
                for c in cons
            ]
            # The multipliers reported are those of the kept iterate.
            m.multipliers_ = {c.name: float(v) for c, v, a in zip(self._active, self._kept_multipliers[k], on[k])
                              if a}
            m._report_violations(self, data, on[k] if len(on) else ())

    def _report_violations(self, lead, data, on) -> None:
        self.violations_ = {}
        active = [c for c, a in zip(lead._active, on) if a]
        if not active:
            return
        with torch.no_grad():
            gaps = lead._gaps(self.module_(data.X).reshape(-1, 1), data, hard=True)[0]
        missed = []
        for c, g, a in zip(lead._active, gaps.cpu().numpy(), on):
            if not a:
                continue
            eff = self._effective_bound(c)
            self.violations_[c.name] = float(g - eff)
            if g > eff + self.constraint_tol:
                missed.append(f"{c.name}: gap {g:.4f} > bound {eff:.4f} (+ tolerance "
                              f"{self.constraint_tol})")
        if missed:
            warnings.warn(
                f"LagrangianFairnessTrainer (eta={self.eta:g}) missed constraint(s) on the training data: "
                + "; ".join(missed)
                + ". Train longer (max_epochs), raise dual_lr, or loosen the bound.",
                UserWarning,
                stacklevel=6,  # the caller of fit (via _finish, _train, fit_models, fit)
            )
