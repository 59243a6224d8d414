"""Train one FairRegularizedClassifier per eta in a single batched pass.

A sweep over ``eta`` trains K networks that differ only in the weight of the fairness term: same
data, same initialisation (same seed), same mini-batches. Stacking their weights along a leading
model dimension and taking ``torch.func.vmap`` of the per-model gradient turns K small optimiser
steps into one larger one, which removes most of the per-step Python and dispatch overhead that
dominates mini-batch training of small networks. Adam is element-wise, so one Adam over the
stacked tensors is K independent Adams; gradient clipping is done per model. The result matches
training each eta alone with the same seed, up to floating-point reassociation.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import clone
from torch.func import functional_call, grad_and_value, vmap

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
    opt = torch.optim.Adam(list(stacked.values()), lr=lead.lr, weight_decay=lead.weight_decay)
    clip = lead.clip_grad_norm

    def per_model(params, eta, Xb, yb, wb, mem):
        logits = functional_call(net, params, (Xb,)).reshape(-1)
        bce = weighted_bce_with_logits(logits, yb, wb)
        fair = fair_loss(logits, yb, mem, wb) if mem is not None else bce.new_zeros(())
        return bce + eta * fair, (bce, fair)

    histories = [[] for _ in range(K)]
    for epoch in range(lead.max_epochs):
        for obj in objectives:
            obj.set_epoch(epoch)
        eta_now = torch.tensor([obj.current_eta for obj in objectives], dtype=torch.float32)
        totals = torch.zeros(K, 3, dtype=torch.float64)
        weight_sum = 0.0
        for idx in stratified_batches(strata, lead.batch_size, rng):
            batch = data.subset(idx)
            mem = lead._memberships(batch)
            step = vmap(grad_and_value(per_model, has_aux=True), in_dims=(0, 0, None, None, None, None))
            grads, (loss, (bce, fair)) = step(stacked, eta_now, batch.X, batch.y, batch.w, mem)
            if clip is not None:
                # torch.nn.utils.clip_grad_norm_ per model: one norm over all of its parameters.
                norms = torch.sqrt(sum(g.reshape(K, -1).pow(2).sum(1) for g in grads.values()))
                coef = torch.clamp(clip / (norms + 1e-6), max=1.0)
            for name, p in stacked.items():
                g = grads[name]
                p.grad = g * coef.reshape(K, *([1] * (g.dim() - 1))) if clip is not None else g
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
        m.n_epochs_ = lead.max_epochs
        m.best_epoch_ = lead.max_epochs - 1
    return models
