"""Train one FairRegularizedClassifier per eta in a single batched pass.

A sweep over ``eta`` trains K networks that differ only in the weight of the fairness term: same
data, same initialisation (same seed), same mini-batches. Their weights are stacked along a
leading model dimension and one step trains all K: the first layers are one matrix product of the
shared batch with the K weight matrices side by side, the fairness losses score the K models in
one pass (``forward_models``; ``torch.func.vmap`` for a penalty that cannot), and one backward
pass gives each model its own gradient, since model k's weights only reach loss k. That removes
most of the per-step Python and dispatch overhead that dominates mini-batch training of small
networks. Adam is element-wise, so one Adam over the stacked tensors is K independent Adams;
gradient clipping is done per model. The result matches training each eta alone with the same
seed, up to floating-point reassociation.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import clone
from torch import nn
from torch.nn import functional as F
from torch.func import vmap

from ..losses import weighted_bce_with_logits
from ._torch_base import TrainData, stratified_batches
from .regularized import FairRegularizedClassifier


def can_batch(estimator) -> bool:
    """Whether :func:`fit_eta_batch` reproduces ``estimator.fit`` (no early stopping, no warm start)."""
    return (isinstance(estimator, FairRegularizedClassifier) and not estimator.early_stopping
            and not estimator.warm_start)


def fit_eta_batch(template: FairRegularizedClassifier, etas, X, y, *, sensitive_features=None,
                  sample_weight=None) -> list[FairRegularizedClassifier]:
    """Fit ``clone(template).set_params(eta=e)`` for every ``e`` in ``etas`` at once.

    Parameters
    ----------
    template : FairRegularizedClassifier
        Every parameter except ``eta`` is shared. Early stopping and warm starts are not
        supported (use ``fit`` per model for those).
    etas : sequence of float
    X, y, sensitive_features, sample_weight
        As in :meth:`FairRegularizedClassifier.fit`.

    Returns
    -------
    list of FairRegularizedClassifier
        Fitted estimators in the order of ``etas``, each as if fitted alone.
    """
    if not can_batch(template):
        raise ValueError("batched training needs early_stopping=False and warm_start=False")
    models = [clone(template).set_params(eta=float(e)) for e in etas]
    lead = models[0]
    for m in models:
        m._validate_params()
    Xv, y_enc, sw, classes = lead._validate_xy(X, y, sample_weight)
    levels = lead._group_levels(sensitive_features, Xv.shape[0])
    data = TrainData(
        X=torch.tensor(Xv, dtype=torch.float32),
        y=torch.tensor(y_enc, dtype=torch.float32),
        w=torch.tensor(sw, dtype=torch.float32),
        groups=[torch.tensor(lv.encoding.codes, dtype=torch.long) for lv in levels],
        levels=levels,
    )
    torch_seed, rng = lead._seeds()
    strata = lead._strata(data, y_enc)
    net = lead._new_module(Xv.shape[1], lead.hidden_layer_sizes, 1, torch_seed)
    objectives = [m._build_objective(data) for m in models]
    fair_loss = objectives[0].fairness_loss  # identical for every eta
    K = len(models)
    stacked = {name: p.detach().unsqueeze(0).repeat(K, *([1] * p.dim())).clone().requires_grad_(True)
               for name, p in net.named_parameters()}
    # Adam is element-wise, so one Adam over the stacked tensors is K Adams; fused, it is one
    # kernel per step instead of Adam's per-tensor Python bookkeeping (~1 ms a step here).
    opt = torch.optim.Adam(list(stacked.values()), lr=lead.lr, weight_decay=lead.weight_decay,
                           fused=True)
    clip = lead.clip_grad_norm
    forward = _stacked_forward(net, stacked, K)

    def model_loss(logits, eta, yb, wb, mem):
        bce = weighted_bce_with_logits(logits, yb, wb)
        fair = fair_loss(logits, yb, mem, wb) if mem is not None else bce.new_zeros(())
        return bce + eta * fair, bce, fair

    def all_losses(logits, eta, yb, wb, mem):
        """(loss, bce, fairness) of the K models, each of shape (K,)."""
        if not fair_loss.supports_models:
            return vmap(model_loss, in_dims=(1, 0, None, None, None))(logits, eta, yb, wb, mem)
        # The losses take the K models along a second axis: a few vectorised ops per step
        # instead of vmap's per-op batching.
        z = logits
        bce = (wb[:, None] * (F.softplus(z) - yb[:, None] * z)).sum(0) / wb.sum().clamp_min(1e-12)
        fair = fair_loss.forward_models(z, yb, mem, wb) if mem is not None else torch.zeros_like(bce)
        return bce + eta * fair, bce, fair

    histories = [[] for _ in range(K)]
    n_epochs = lead._n_epochs(len(strata))
    for epoch in range(n_epochs):
        for obj in objectives:
            obj.set_epoch(epoch)
        eta_now = torch.tensor([obj.current_eta for obj in objectives], dtype=torch.float32)
        totals = torch.zeros(K, 3, dtype=torch.float64)
        weight_sum = 0.0
        batches = stratified_batches(strata, lead.batch_size, rng)
        # One gather per epoch, then every batch is a contiguous slice (a view).
        epoch_data = data.subset(np.concatenate(batches))
        sizes = np.array([len(b) for b in batches])
        ends = np.cumsum(sizes)
        for lo, hi in zip(ends - sizes, ends):
            batch = TrainData(epoch_data.X[lo:hi], epoch_data.y[lo:hi], epoch_data.w[lo:hi],
                              [g[lo:hi] for g in epoch_data.groups], epoch_data.levels)
            mem = lead._memberships(batch)
            logits = forward(batch.X)  # (batch, K)
            loss, bce, fair = all_losses(logits, eta_now, batch.y, batch.w, mem)
            for p in stacked.values():
                p.grad = None
            # Model k's parameters only reach loss[k], so the gradient of the sum is per model.
            loss.sum().backward()
            if clip is not None:
                # torch.nn.utils.clip_grad_norm_ per model: one norm over all of its parameters.
                with torch.no_grad():
                    norms = torch.sqrt(sum(p.grad.reshape(K, -1).pow(2).sum(1) for p in stacked.values()))
                    coef = torch.clamp(clip / (norms + 1e-6), max=1.0)
                    for p in stacked.values():
                        p.grad.mul_(coef.reshape(K, *([1] * (p.dim() - 1))))
            opt.step()
            bw = float(batch.w.sum())
            weight_sum += bw
            totals += bw * torch.stack([loss, bce, fair], 1).detach().double()
        mean = (totals / max(weight_sum, 1e-12)).numpy()
        for k in range(K):
            rec = {"epoch": epoch, "loss": float(mean[k, 0]), "bce": float(mean[k, 1]),
                   "fairness": float(mean[k, 2]), "eta": objectives[k].current_eta}
            if not np.isfinite(mean[k]).all():
                raise FloatingPointError(f"training diverged at epoch {epoch} for eta={models[k].eta}; "
                                         "lower lr or eta")
            histories[k].append(rec)

    for k, m in enumerate(models):
        module = lead._new_module(Xv.shape[1], lead.hidden_layer_sizes, 1, torch_seed)
        with torch.no_grad():
            for name, p in module.named_parameters():
                p.copy_(stacked[name][k])
        module.eval()
        m.module_ = module
        m.classes_ = classes
        m.n_features_in_ = lead.n_features_in_
        if hasattr(lead, "feature_names_in_"):
            m.feature_names_in_ = lead.feature_names_in_
        m.sensitive_levels_ = [lv.name for lv in levels]
        m.group_names_ = {lv.name: list(lv.encoding.names) for lv in levels}
        m.history_ = histories[k]
        m.n_epochs_ = n_epochs
        m.best_epoch_ = n_epochs - 1
    return models


def _stacked_forward(net: nn.Module, stacked: dict, K: int):
    """``X -> logits`` of shape ``(n, K)`` for K stacked copies of ``net``.

    ``net`` is what :func:`~fairkit.estimators._torch_base.make_mlp` builds: Linear layers and
    element-wise activations. The K first layers are one matrix product (with the bias fused)
    of the shared batch with the K weight matrices side by side, later layers one batched
    product each. Activations stay in the (rows, models, units) layout of that first product:
    no transposed copies forward or backward (measured 20 % less time a step than a
    (models, rows, units) layout with K=16 on Adult's shapes).
    """
    layers = list(net)
    if not isinstance(layers[0], nn.Linear) or not all(
            isinstance(m, (nn.Linear, nn.ReLU, nn.Tanh, nn.GELU, nn.ELU)) for m in layers):
        raise TypeError(f"batched training supports make_mlp networks only, got {net}")

    def forward(X):
        h = None
        n = X.shape[0]
        for i, layer in enumerate(layers):
            if not isinstance(layer, nn.Linear):
                h = layer(h)
                continue
            W, b = stacked[f"{i}.weight"], stacked[f"{i}.bias"]  # (K, out, in), (K, out)
            out = W.shape[1]
            if h is None:
                h = torch.addmm(b.reshape(-1), X, W.reshape(K * out, -1).T).view(n, K, out)
            elif out == 1:
                # A one-unit output layer: a multiply-and-sum beats a batched mat-vec product.
                h = (h * W.reshape(1, K, -1)).sum(-1, keepdim=True) + b.reshape(1, K, 1)
            else:
                h = torch.baddbmm(b[:, None, :], h.transpose(0, 1), W.transpose(1, 2)).transpose(0, 1)
        return h[..., 0]

    return forward
