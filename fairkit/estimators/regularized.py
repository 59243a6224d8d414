"""Fairness-regularized neural classifier: cross-entropy plus ``eta`` times a fairness penalty."""

from __future__ import annotations

import numpy as np
import torch
from torch.func import vmap
from torch.nn import functional as F

from fairkit.estimators._torch_base import TorchFairClassifierBase, TrainData, accuracy
from fairkit.losses import (
    FAIRLEARN_NAMES,
    FAIRNESS_LOSSES,
    FairnessRegularizerLoss,
    IntersectionalFairnessLoss,
    Membership,
    fairness_name,
    make_fairness_loss,
    weighted_bce_models,
    weighted_bce_with_logits,
)


class FairRegularizedClassifier(TorchFairClassifierBase):
    """Neural (or logistic) classifier trained on ``BCE + eta * fairness penalty``.

    Parameters
    ----------
    eta : float, default=1.0
        Weight of the fairness penalty; 0 trains a plain classifier, larger is fairer.
    fairness : {"demographic_parity", "equal_opportunity", "equalized_odds", "dependence"}
        The penalty (see :mod:`fairkit.losses`): selection-rate gap, true-positive-rate gap,
        TPR + FPR gaps, or the prejudice-remover dependence penalty.
    mode : {"pairwise", "overall"}, default="pairwise"
        Compare groups pairwise, or each group with the overall rate.
    penalty : {"squared", "absolute"}, default="absolute"
        How a gap is punished. The absolute gap keeps a constant pull as the gap shrinks, so it
        closes over about a decade of ``eta`` around 1 (COMPAS, demographic parity: 7% of the gap
        closed at 0.55, 60% at 1.8, a constant model from 6; an equal-opportunity gap may not
        move at all before the model turns constant); ``"squared"`` needs larger ``eta``.
    dependence_measure : {"covariance", "mutual_information"}, default="covariance"
        Estimator of the dependence penalty (``fairness="dependence"`` only). The mutual
        information grows like the *squared* gap, so it needs an ``eta`` roughly ten times
        larger (10-100) for the same effect; the covariance is on the scale of the gap.
    surrogate : {"probability", "sigmoid"}, default="probability"
        Soft decision used in group rates: the probability, or a smooth step with
        ``temperature`` that approximates the hard decision at threshold 0.5.
    temperature : float, default=1.0
    hierarchical : bool, default=True
        With several sensitive columns, penalize each marginal attribute and their intersection
        together (equal level weights); otherwise the intersection only.
    group_weights : dict, optional
        Weight of named groups (``{"Female & Black": 2.0}``) in every level they occur in;
        other groups weigh 1.
    adaptive_shrinkage : float or None, default=None
        If set to ``k``, each group's penalty weight is multiplied by ``n / (n + k)`` with ``n``
        its effective size in the batch, so small intersections cannot dominate.
    schedule : {"constant", "linear_warmup"}, default="constant"
        Schedule of ``eta`` over epochs; see :class:`fairkit.losses.FairnessRegularizerLoss`.
    warmup_epochs : int, default=5
    hidden_layer_sizes : tuple of int, default=()
        ``()`` is logistic regression; ``(64,)`` one hidden layer of 64 units.
    activation : {"relu", "tanh", "gelu", "elu"}, default="relu"
    lr : float, default=1e-2
        Adam learning rate.
    batch_size : int, default=512
        Mini-batches are stratified by group x label so every batch sees every group.
    max_epochs : int, default=30
    max_steps : int or None, default=None
        Cap on optimizer steps: training stops after the first whole epoch that reaches it, so
        large data gets fewer epochs (``min(max_epochs, ceil(max_steps / batches per epoch))``).
        None trains ``max_epochs`` epochs whatever the size.
    weight_decay : float, default=0.0
        Adam L2 penalty.
    clip_grad_norm : float or None, default=5.0
        Clip the gradient norm (small groups give high-variance gradients).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` (stratified by group x label), stop when the validation
        objective has not improved by ``tol`` for ``n_iter_no_change`` epochs, and keep the best
        weights.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=5
    tol : float, default=1e-4
    warm_start : bool, default=False
        Continue from the already fitted network (for example fine-tune a plain model with the
        fairness term); the optimizer starts afresh and ``history_`` is extended.
    random_state : int, RandomState or None, default=None
        Seeds initialisation, batching and the validation split.
    device : str, default="cpu"
    verbose : int, default=0

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained network (outputs logits).
    classes_ : ndarray of shape (2,)
    n_features_in_ : int
    feature_names_in_ : ndarray
        Only when ``X`` was a DataFrame.
    history_ : list of dict
        Per epoch: ``epoch``, ``eta`` (after the schedule), ``loss``, ``bce``, ``fairness``
        (batch means, weighted), plus ``val_loss``, ``val_bce``, ``val_fairness``,
        ``val_accuracy`` with early stopping.
    n_epochs_ : int
        Epochs run in the last fit.
    best_epoch_ : int
        Epoch (index into ``history_``) whose weights were kept: the last one, or the best
        validation epoch with early stopping.
    sensitive_levels_ : list of str
        Names of the group levels penalized (marginal columns, then their intersection).
    group_names_ : dict
        Group names of each level seen in training.

    Examples
    --------
    >>> clf = FairRegularizedClassifier(eta=2.0, random_state=0)  # doctest: +SKIP
    >>> clf.fit(X, y, sensitive_features=df[["sex", "race"]])      # doctest: +SKIP
    """

    def __init__(
        self,
        eta=1.0,
        fairness="demographic_parity",
        *,
        mode="pairwise",
        penalty="absolute",
        dependence_measure="covariance",
        surrogate="probability",
        temperature=1.0,
        hierarchical=True,
        group_weights=None,
        adaptive_shrinkage=None,
        schedule="constant",
        warmup_epochs=5,
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
        self.eta = eta
        self.fairness = fairness
        self.mode = mode
        self.penalty = penalty
        self.dependence_measure = dependence_measure
        self.surrogate = surrogate
        self.temperature = temperature
        self.hierarchical = hierarchical
        self.group_weights = group_weights
        self.adaptive_shrinkage = adaptive_shrinkage
        self.schedule = schedule
        self.warmup_epochs = warmup_epochs
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

    # ------------------------------------------------------------------ loss

    def _build_objective(self, train: TrainData) -> FairnessRegularizerLoss:
        return FairnessRegularizerLoss(penalty_for_levels(self, train.levels), eta=self.eta,
                                       schedule=self.schedule, warmup_epochs=self.warmup_epochs)

    @staticmethod
    def _memberships(data: TrainData):
        if not data.has_groups:
            return None
        return [Membership(g, n_groups=lv.encoding.n_groups)
                for g, lv in zip(data.groups, data.levels)]

    # ------------------------------------------------------------------ hooks

    #: The fairness losses score K models at once, so K etas train in one pass
    #: (:func:`fairkit.estimators.batched.fit_eta_batch`).
    _batches_etas = True

    _training_attrs = ("_nets", "_objectives", "_fair_loss", "_known", "_eta_now")

    def _setup(self, models, train: TrainData, seed: int) -> None:
        self._objectives = [m._build_objective(train) for m in models]
        self._fair_loss = self._objectives[0].fairness_loss  # identical for every eta
        # Codes were checked once on the whole training set; batches skip the per-step check.
        self._known = [bool((lv.encoding.codes >= 0).all()) for lv in train.levels]

    def _start_epoch(self, epoch: int) -> None:
        for obj in self._objectives:
            obj.set_epoch(epoch)
        self._eta_now = torch.tensor([obj.current_eta for obj in self._objectives],
                                     dtype=torch.float32, device=self._device())

    def _batch_loss(self, logits, batch: TrainData):
        yb, wb, fair_loss = batch.y, batch.w, self._fair_loss
        mem = None
        if batch.has_groups:
            mem = [Membership.from_codes(g, lv.encoding.n_groups, k)
                   for g, lv, k in zip(batch.groups, batch.levels, self._known)]
        w_total = batch.w_sum if batch.w_sum is not None else wb.sum()
        if fair_loss.supports_models:
            # The losses take the K models along a second axis: a few vectorised ops per step
            # instead of vmap's per-op batching.
            bce = weighted_bce_models(logits, yb, wb, w_total)
            fair = (fair_loss.forward_models(logits, yb, mem, wb) if mem is not None
                    else torch.zeros_like(bce))
            loss = bce + self._eta_now * fair
        else:
            def model_loss(z, eta):
                bce = weighted_bce_with_logits(z, yb, wb)
                fair = fair_loss(z, yb, mem, wb) if mem is not None else bce.new_zeros(())
                return bce + eta * fair, bce, fair

            loss, bce, fair = vmap(model_loss, in_dims=(1, 0))(logits, self._eta_now)
        return loss, {"loss": loss.detach(), "bce": bce.detach(), "fairness": fair.detach()}

    def _end_epoch(self, epoch: int, train: TrainData, records: list) -> None:
        for rec, obj in zip(records, self._objectives):
            rec["eta"] = obj.current_eta

    def _validation_metrics(self, logits, val: TrainData) -> list:
        mem = self._memberships(val)
        out = []
        for z, obj in zip(logits.T, self._objectives):
            terms = obj.terms(z, val.y, mem, val.w)
            out.append({**{k: float(v) for k, v in terms.items()}, "accuracy": accuracy(z, val)})
        return out


def penalty_for_levels(est, levels) -> IntersectionalFairnessLoss:
    """The fairness penalty an estimator's parameters describe, over its group levels.

    ``est`` carries the penalty parameters of :class:`FairRegularizedClassifier` (``fairness``,
    ``mode``, ``penalty``, ``surrogate``, ``temperature``, ``group_weights``,
    ``adaptive_shrinkage``, ``dependence_measure``); other estimators with the same parameters
    (the boosted trees) share it.
    """
    fairness = fairness_name(est.fairness)  # fairlearn's spelling too

    def level_loss(names):
        if fairness not in FAIRNESS_LOSSES:
            raise ValueError(
                f"fairness must be one of {sorted(FAIRNESS_LOSSES)} (or fairlearn's "
                f"{', '.join(FAIRLEARN_NAMES)}), got {est.fairness!r}"
            )
        kwargs = dict(mode=est.mode, penalty=est.penalty, surrogate=est.surrogate,
                      temperature=est.temperature)
        if est.group_weights is not None:
            gw = dict(est.group_weights)
            kwargs["group_weights"] = np.array([float(gw.get(n, 1.0)) for n in names])
        if est.adaptive_shrinkage is not None:
            kwargs.update(adaptive=True, shrinkage=float(est.adaptive_shrinkage))
        if fairness == "dependence":
            kwargs["measure"] = est.dependence_measure
            if est.dependence_measure == "mutual_information":
                kwargs.pop("mode")
        return make_fairness_loss(fairness, **kwargs)

    if levels:
        return IntersectionalFairnessLoss([level_loss(lv.encoding.names) for lv in levels],
                                          levels=[lv.name for lv in levels])
    # No sensitive features: any valid loss; it is never evaluated.
    return IntersectionalFairnessLoss(level_loss(["all"]), levels=["all"])
