"""Meta-learned example reweighting for fairness (FORML: Fairness Optimized Reweighting via
Meta-Learning).

Every training row carries a weight that is learned jointly with the network. Each step of the
one training loop (:func:`fairkit.estimators._torch_base.fit_models`):

1. takes a look-ahead step of the weighted training loss on the current mini-batch,
   ``theta'(eps) = theta - alpha * grad_theta sum_i s_i eps_i l_i(theta) / sum_i s_i``
   (``s``: the caller's sample weights, ``eps``: the learned weights), differentiable in ``eps``
   (:func:`torch.func.functional_call` and :func:`torch.func.grad`);
2. scores ``theta'`` on a meta batch (another stratified batch of training rows, or of a
   held-out meta set with ``meta_fraction``) by the meta objective
   ``cross-entropy + eta * fairness violation`` (the registry's definitions, through
   :class:`fairkit.losses.FairnessRegularizerLoss`, the same group statistics and gaps the
   regularized network trains with);
3. moves the batch rows' weights against the meta-gradient, clips them at zero and rescales them
   to a (sample-weighted) mean of 1 in the batch;
4. updates the network on the batch loss with the new weights.

There is no pre- or post-processing and no weighting network: the weights are free parameters,
one per row, kept in :attr:`FairReweightingClassifier.sample_weight_` after fitting.
:func:`weight_summary` summarises them by group and label.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from sklearn.utils.validation import _num_samples
from torch.func import functional_call, grad
from torch.nn import functional as F

from fairkit.estimators._torch_base import (
    TorchFairClassifierBase,
    TrainData,
    accuracy,
    make_mlp,
    stratified_batches,
    stratified_holdout,
)
from fairkit.estimators.regularized import FairRegularizedClassifier, penalty_for_levels
from fairkit.groups import encode_groups
from fairkit.losses import FairnessRegularizerLoss, Membership, weighted_bce_with_logits


def lookahead_objective(eps, module, params: dict, batch: TrainData, meta: TrainData,
                        meta_groups, objective: FairnessRegularizerLoss, lookahead_lr: float):
    """The meta objective after one look-ahead step of the ``eps``-weighted training loss.

    Parameters
    ----------
    eps : Tensor of shape (n_batch,)
        Learned weights of the batch rows (multiplying ``batch.w``).
    module : torch.nn.Module
        A network of the trained architecture; only its structure is used
        (:func:`torch.func.functional_call` runs it with ``params``).
    params : dict of str to Tensor
        The network's current parameters, by ``module``'s parameter names.
    batch, meta : TrainData
        The training mini-batch and the meta batch.
    meta_groups : list of Membership or None
        The meta batch's group memberships (None: no fairness term).
    objective : FairnessRegularizerLoss
        ``cross-entropy + eta * fairness`` scored on the meta batch.
    lookahead_lr : float
        Step size ``alpha`` of the look-ahead (plain gradient) step.

    Returns
    -------
    value : Tensor, scalar
        The meta objective at ``theta'(eps)``.
    terms : dict of str to Tensor
        Its ``loss``, ``bce`` and ``fairness`` terms, detached.
    """
    total = batch.w.sum().clamp_min(1e-12)

    def train_loss(p):
        z = functional_call(module, p, (batch.X,)).reshape(-1)
        return (batch.w * eps * (F.softplus(z) - batch.y * z)).sum() / total

    g = grad(train_loss)(params)
    ahead = {name: value - lookahead_lr * g[name] for name, value in params.items()}
    z_meta = functional_call(module, ahead, (meta.X,)).reshape(-1)
    terms = objective.terms(z_meta, meta.y, meta_groups, meta.w)
    return terms["loss"], {k: v.detach() for k, v in terms.items()}


#: ``d objective(theta'(eps)) / d eps`` and the objective's terms: what moves the weights.
meta_gradient = grad(lookahead_objective, argnums=0, has_aux=True)


class FairReweightingClassifier(TorchFairClassifierBase):
    """Neural (or logistic) classifier trained with meta-learned per-row weights (FORML).

    The network and one weight per training row are learned together: each step moves the
    batch rows' weights along the gradient of ``meta cross-entropy + eta * fairness violation``
    (measured on a separate meta batch after a look-ahead step of the weighted loss), then
    trains the network on the newly weighted batch. See :mod:`fairkit.estimators.reweighting`.

    Parameters
    ----------
    eta : float, default=1.0
        Weight of the fairness violation against the cross-entropy in the meta objective. 0
        learns weights for the meta batch's cross-entropy alone (no fairness term): the rows are
        still reweighted, so eta 0 is not the unconstrained network and can be less fair than it
        (benchmarks/README.md, session 51; set ``weight_lr=0`` for the plain network). Larger moves the weights towards rows whose gradients close the gap.
        Each step's move is normalised (``weight_lr``), so once the fairness term dominates,
        eta no longer changes the model: on the bundled data, etas above a few hundred train
        the same model.
    fairness : {"equal_opportunity", "demographic_parity", "equalized_odds", "dependence"}
        The fairness violation of the meta objective (see :mod:`fairkit.losses`).
    mode, penalty, dependence_measure, surrogate, temperature, hierarchical, group_weights, \
adaptive_shrinkage
        How the violation is measured, as in
        :class:`~fairkit.estimators.FairRegularizedClassifier` (the same penalty objects).
    meta_fraction : float, default=0.0
        Share of the training rows (stratified by group x label) held out as the meta set: they
        never enter the network's loss, only the meta objective. 0 (the default) draws each
        step's meta batch from all training rows, independently of the step's own batch; it
        gave the better validation frontiers on the bundled datasets (benchmarks/README.md,
        issue #22). When the held-out part would lack a class (very small data), the meta
        batches are drawn from all training rows.
    meta_batch_size : int or None, default=None
        Rows of a meta batch (stratified by group x label); None uses ``batch_size``.
    weight_lr : float, default=0.05
        How far one step moves the weights: the meta-gradient of the batch rows is divided by
        its mean absolute value over the rows that carry weight, so a step moves a row's weight
        by ``weight_lr`` on average whatever the scale of the losses (rows of ``sample_weight``
        0 do not dilute the step).
    lookahead_lr : float or None, default=None
        Step size of the look-ahead gradient step; None uses ``lr``.
    hidden_layer_sizes, activation, lr, batch_size, max_epochs, max_steps, weight_decay, \
clip_grad_norm, early_stopping, validation_fraction, n_iter_no_change, tol, warm_start, \
random_state, device, verbose
        The network and its training, as in
        :class:`~fairkit.estimators.FairRegularizedClassifier`. With early stopping the
        criterion is the meta objective on the validation rows (with their own weights). A
        warm start continues the network but starts the row weights again at 1:
        ``sample_weight_`` then describes the last fit only.

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained network (outputs logits).
    sample_weight_ : ndarray of shape (n_samples,)
        The learned weight of each training row (multiplying the ``sample_weight`` given to
        ``fit``), NaN for rows that never entered the network's loss (the meta set and the
        rows held out for early stopping). Weights have mean 1 within each batch.
    meta_rows_ : ndarray of int
        Positions of the training rows held out as the meta set.
    classes_, n_features_in_, feature_names_in_, n_epochs_, best_epoch_, sensitive_levels_, \
group_names_
        As in :class:`~fairkit.estimators.FairRegularizedClassifier`.
    history_ : list of dict
        Per epoch: ``epoch``, ``loss`` (the weighted batch loss), ``meta_loss``, ``meta_bce``,
        ``meta_fairness`` (the meta objective after the look-ahead), ``weight_spread`` (the
        standard deviation of the batch weights), and ``val_*`` with early stopping.

    Examples
    --------
    >>> clf = FairReweightingClassifier(eta=1.0, random_state=0)       # doctest: +SKIP
    >>> clf.fit(X, y, sensitive_features=df["sex"])                      # doctest: +SKIP
    >>> weight_summary(clf.sample_weight_, y, df["sex"])                  # doctest: +SKIP
    """

    def __init__(
        self,
        eta=1.0,
        fairness="equal_opportunity",
        *,
        mode="pairwise",
        penalty="absolute",
        dependence_measure="covariance",
        surrogate="probability",
        temperature=1.0,
        hierarchical=True,
        group_weights=None,
        adaptive_shrinkage=None,
        meta_fraction=0.0,
        meta_batch_size=None,
        weight_lr=0.05,
        lookahead_lr=None,
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
        self.meta_fraction = meta_fraction
        self.meta_batch_size = meta_batch_size
        self.weight_lr = weight_lr
        self.lookahead_lr = lookahead_lr
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

    # ------------------------------------------------------------------ fit

    _training_attrs = ("_nets", "_objective", "_known", "_proxy", "_eps", "_meta", "_meta_pos",
                       "_meta_strata", "_meta_queue", "_meta_rng", "_meta_mask", "_n_rows",
                       "_alpha")

    def fit(self, X, y, *, sensitive_features=None, sample_weight=None):
        """Train the network and the per-row weights.

        Parameters
        ----------
        X : array-like, DataFrame or sparse matrix of shape (n_samples, n_features)
            Numeric features.
        y : array-like of shape (n_samples,)
            Binary labels (``classes_[1]`` is the positive class).
        sensitive_features : array-like, Series or DataFrame, optional
            Groups of the fairness violation in the meta objective (training only). ``None``
            learns weights for the meta cross-entropy alone.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative row weights; the learned weights multiply them, and the meta objective
            weighs the meta rows by them.

        Returns
        -------
        self
        """
        # The loop's state is per row of this table; its length sizes sample_weight_.
        self._n_rows = _num_samples(X)
        return super().fit(X, y, sensitive_features=sensitive_features, sample_weight=sample_weight)

    def _validate_params(self):
        super()._validate_params()
        if not 0 <= self.meta_fraction < 1:
            raise ValueError(f"meta_fraction must be in [0, 1), got {self.meta_fraction!r}")
        mbs = self.meta_batch_size
        if mbs is not None and not (isinstance(mbs, (int, np.integer)) and mbs >= 2):
            raise ValueError(f"meta_batch_size must be an integer >= 2 or None, got {mbs!r}")
        # Finite too: an infinite step passed and training then failed on "lower lr or eta",
        # which named the wrong knob (FORML audit, session 51).
        if not (self.weight_lr >= 0 and math.isfinite(self.weight_lr)):
            raise ValueError(f"weight_lr must be a finite non-negative number, got {self.weight_lr!r}")
        if self.lookahead_lr is not None and not (self.lookahead_lr > 0 and math.isfinite(self.lookahead_lr)):
            raise ValueError(f"lookahead_lr must be a finite positive number or None, got {self.lookahead_lr!r}")

    # ------------------------------------------------------------------ hooks

    def _setup(self, models, train: TrainData, seed: int) -> None:
        self._objective = FairnessRegularizerLoss(penalty_for_levels(self, train.levels),
                                                  eta=float(self.eta))
        self._known = [bool((lv.encoding.codes >= 0).all()) for lv in train.levels]
        n_in = train.X.shape[1]
        # Only the architecture: functional_call runs it with the stacked network's weights.
        self._proxy = make_mlp(n_in, tuple(self.hidden_layer_sizes), self.activation).to(
            device=train.X.device, dtype=train.X.dtype)
        self._alpha = float(self.lr if self.lookahead_lr is None else self.lookahead_lr)
        self._meta_rng = np.random.default_rng(seed)

        idx = train.index.cpu().numpy()
        y_full = np.zeros(self._n_rows, dtype=np.int64)
        y_full[idx] = train.y.cpu().numpy().astype(np.int64)
        strata = self._strata(train, y_full)[idx]  # group x label of the training rows
        meta_pos = np.arange(len(train))
        if self.meta_fraction > 0:
            _, held = stratified_holdout(strata, self.meta_fraction, self._meta_rng)
            # The meta objective needs both classes (equal opportunity: positives).
            if len(np.unique(train.y.cpu().numpy()[held])) == 2:
                meta_pos = held
        self._meta_pos, self._meta_strata = meta_pos, strata[meta_pos]
        self._meta = train.subset(meta_pos)
        self._meta_queue = []
        self._meta_mask = torch.zeros(self._n_rows, dtype=torch.bool, device=train.X.device)
        if len(meta_pos) < len(train):
            self._meta_mask[train.index[meta_pos]] = True
        # Rows outside the network's loss (meta set, early-stopping validation) stay at NaN.
        self._eps = torch.full((self._n_rows,), float("nan"), dtype=train.X.dtype,
                               device=train.X.device)
        self._eps[train.index] = 1.0
        self._eps[self._meta_mask] = float("nan")

    def _next_meta_batch(self):
        if not self._meta_queue:
            size = self.meta_batch_size or self.batch_size
            self._meta_queue = stratified_batches(self._meta_strata, size, self._meta_rng)[::-1]
        meta = self._meta.subset(self._meta_queue.pop())
        groups = None
        if meta.has_groups:
            groups = [Membership.from_codes(g, lv.encoding.n_groups, k)
                      for g, lv, k in zip(meta.groups, meta.levels, self._known)]
        return meta, groups

    def _params(self) -> dict:
        """The network's current weights by the proxy module's names (K = 1), detached: the
        meta-gradient is taken with respect to the row weights only."""
        return {name: value.detach() for name, value in self._nets.model_params(0).items()}

    def _batch_loss(self, logits, batch: TrainData):
        rows = batch.index
        eps = self._eps[rows]
        trains = ~self._meta_mask[rows]
        eps = torch.where(trains, eps, torch.zeros_like(eps))  # meta rows: NaN -> out of the loss
        base = batch.w * trains.to(batch.w.dtype)
        total = base.sum()
        meta, meta_groups = self._next_meta_batch()
        if float(total) > 0 and self.weight_lr > 0:
            look = TrainData(batch.X, batch.y, base, batch.groups, batch.levels)
            g, terms = meta_gradient(eps, self._proxy, self._params(), look, meta, meta_groups,
                                     self._objective, self._alpha)
            g = torch.where(trains, g, torch.zeros_like(g))
            # The mean over rows that carry weight: rows of sample_weight 0 (g exactly 0) made
            # the step larger the more of them a table held (FORML audit, session 51).
            scale = g.abs().sum() / (base > 0).sum().clamp_min(1)
            if float(scale) > 0:
                eps = (eps - self.weight_lr * g / scale).clamp_min(0.0)
            mass = (base * eps).sum()
            # Mean 1 per batch (weighted by the caller's weights), as the paper normalises;
            # a batch whose weights all reached 0 starts again from 1.
            eps = eps * (total / mass) if float(mass) > 0 else trains.to(eps.dtype)
            self._eps[rows[trains]] = eps[trains].detach()
        else:
            with torch.no_grad():
                terms = self._objective.terms(functional_call(self._proxy, self._params(),
                                                              (meta.X,)).reshape(-1),
                                              meta.y, meta_groups, meta.w)
        loss = weighted_bce_with_logits(logits[:, 0], batch.y, base * eps.detach()).reshape(1)
        spread = eps[trains].std() if int(trains.sum()) > 1 else eps.new_zeros(())
        return loss, {"loss": loss.detach(), "meta_loss": terms["loss"].reshape(1),
                      "meta_bce": terms["bce"].reshape(1),
                      "meta_fairness": terms["fairness"].reshape(1),
                      "weight_spread": spread.detach().reshape(1)}

    def _validation_metrics(self, logits, val: TrainData) -> list:
        z = logits[:, 0]
        terms = self._objective.terms(z, val.y, FairRegularizedClassifier._memberships(val), val.w)
        return [{**{k: float(v) for k, v in terms.items()}, "accuracy": accuracy(z, val)}]

    def _snapshot(self) -> dict:
        return {**super()._snapshot(), "eps": self._eps.clone()}

    def _restore_extras(self, state: dict) -> None:
        self._eps = state["eps"]

    def _finish(self, models) -> None:
        for m in models:
            m.sample_weight_ = self._eps.detach().cpu().numpy().astype(np.float64)
            m.meta_rows_ = np.flatnonzero(self._meta_mask.cpu().numpy())


#: Quantiles of the learned weights in :func:`weight_summary`.
SUMMARY_QUANTILES = (0.1, 0.5, 0.9)


def weight_summary(weights, y, groups, *, margin: float = 0.05) -> pd.DataFrame:
    """The learned row weights by group x label: how much each cell was up- or down-weighted.

    Every row counts once (the caller's own ``sample_weight``, which the learned weights
    multiply, is not folded in): the figures describe what the meta-learning did to each row.

    Parameters
    ----------
    weights : array-like of shape (n,)
        Learned weights (:attr:`FairReweightingClassifier.sample_weight_`); NaN rows (held out
        of the network's loss) are counted but not summarised.
    y : array-like of shape (n,)
        Labels of the same rows (any two values).
    groups : array-like, Series or DataFrame
        Group of each row; several columns are their intersection.
    margin : float, default=0.05
        A row counts as up-weighted above ``1 + margin`` and down-weighted below ``1 - margin``
        (weights have mean 1 per batch).

    Returns
    -------
    DataFrame
        One row per group and label: ``group``, ``label``, ``n`` (rows), ``n_weighted`` (rows
        with a weight), ``mean``, ``q10``, ``median``, ``q90``, ``share_up``, ``share_down``.
    """
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    y = np.asarray(y).reshape(-1)
    enc = encode_groups(groups)
    if not len(w) == len(y) == len(enc.codes):
        raise ValueError(f"weights, y and groups must have one value per row; got {len(w)}, "
                         f"{len(y)} and {len(enc.codes)} rows")
    frame = pd.DataFrame({"group": enc.names[enc.codes], "label": y, "w": w})
    frame["up"] = np.where(np.isnan(w), np.nan, w > 1 + margin)
    frame["down"] = np.where(np.isnan(w), np.nan, w < 1 - margin)
    cells = frame.groupby(["group", "label"], sort=True)
    q = cells["w"].quantile(list(SUMMARY_QUANTILES)).unstack()
    out = pd.DataFrame({
        "n": cells.size(),
        "n_weighted": cells["w"].count(),
        "mean": cells["w"].mean(),
        "q10": q[SUMMARY_QUANTILES[0]],
        "median": q[SUMMARY_QUANTILES[1]],
        "q90": q[SUMMARY_QUANTILES[2]],
        "share_up": cells["up"].mean(),
        "share_down": cells["down"].mean(),
    })
    return out.reset_index()
