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

On a mostly-zero table (one-hot encoded categories: Adult's 101 columns are 12 % non-zero) the
first layer's forward pass reads only the non-zeros. :func:`stacked_decision_function` scores
the K fitted networks on new rows in one pass as well, which the sweep uses for its validation
and test metrics.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import clone
from sklearn.utils.validation import validate_data
from torch import nn
from torch.nn import functional as F
from torch.func import vmap

from ..losses import Membership, weighted_bce_with_logits
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
    stack = _Stack([net] * K)
    # Adam is element-wise, so one Adam over the stacked tensors is K Adams; fused, it is one
    # kernel per step instead of Adam's per-tensor Python bookkeeping (~1 ms a step here).
    opt = torch.optim.Adam(stack.leaves, lr=lead.lr, weight_decay=lead.weight_decay, fused=True)
    clip = lead.clip_grad_norm
    sparse = _SparseRows.from_dense(data.X) if _use_sparse_inputs(data.X) else None
    # Codes were checked once on the whole training set; batches skip the per-step check.
    n_groups = [lv.encoding.n_groups for lv in levels]
    known = [bool((g >= 0).all()) for g in data.groups]

    def model_loss(logits, eta, yb, wb, mem):
        bce = weighted_bce_with_logits(logits, yb, wb)
        fair = fair_loss(logits, yb, mem, wb) if mem is not None else bce.new_zeros(())
        return bce + eta * fair, bce, fair

    def all_losses(logits, eta, yb, wb, w_total, mem):
        """(loss, bce, fairness) of the K models, each of shape (K,)."""
        if not fair_loss.supports_models:
            return vmap(model_loss, in_dims=(1, 0, None, None, None))(logits, eta, yb, wb, mem)
        # The losses take the K models along a second axis: a few vectorised ops per step
        # instead of vmap's per-op batching.
        z = logits
        bce = (wb[:, None] * (F.softplus(z) - yb[:, None] * z)).sum(0) / w_total
        fair = fair_loss.forward_models(z, yb, mem, wb) if mem is not None else torch.zeros_like(bce)
        return bce + eta * fair, bce, fair

    histories = [[] for _ in range(K)]
    n_epochs = lead._n_epochs(len(strata))
    # Every epoch reorders the rows into these (a step's tensors are done with by the next epoch).
    epoch_data = TrainData(torch.empty_like(data.X), torch.empty_like(data.y), torch.empty_like(data.w),
                           [torch.empty_like(g) for g in data.groups], levels)
    for epoch in range(n_epochs):
        for obj in objectives:
            obj.set_epoch(epoch)
        eta_now = torch.tensor([obj.current_eta for obj in objectives], dtype=torch.float32)
        batches = stratified_batches(strata, lead.batch_size, rng)
        # One gather per epoch, then every batch is a contiguous slice (a view).
        order = np.concatenate(batches)
        epoch_data = data.subset(order, out=epoch_data)
        sizes = np.array([len(b) for b in batches])
        ends = np.cumsum(sizes)
        starts = ends - sizes
        # Batch weight totals in one pass (float64, as the per-batch sums they replace).
        batch_w = np.add.reduceat(epoch_data.w.numpy().astype(np.float64), starts)
        w_totals = torch.tensor(np.maximum(batch_w, 1e-12), dtype=torch.float32)
        inputs = sparse.take(order).batches(starts, ends) if sparse is not None else None
        step_losses = []
        for b, (lo, hi) in enumerate(zip(starts, ends)):
            xb, yb, wb = epoch_data.X[lo:hi], epoch_data.y[lo:hi], epoch_data.w[lo:hi]
            mem = None
            if data.has_groups:
                mem = [Membership.from_codes(g[lo:hi], n, k)
                       for g, n, k in zip(epoch_data.groups, n_groups, known)]
            logits = stack.forward(xb, inputs.batch(b) if inputs is not None else None)  # (batch, K)
            loss, bce, fair = all_losses(logits, eta_now, yb, wb, w_totals[b], mem)
            for p in stack.leaves:
                p.grad = None
            # Model k's parameters only reach loss[k], so the gradient of the sum is per model.
            loss.sum().backward()
            if clip is not None:
                stack.clip_grad_norm_(clip)
            opt.step()
            step_losses.append(torch.stack([loss, bce, fair], 1).detach())
        # Weighted mean of the batch losses, accumulated in float64.
        stacked_losses = torch.stack(step_losses).double()  # (batches, K, 3)
        bw = torch.tensor(batch_w, dtype=torch.float64)
        mean = ((bw[:, None, None] * stacked_losses).sum(0) / max(float(bw.sum()), 1e-12)).numpy()
        for k in range(K):
            rec = {"epoch": epoch, "loss": float(mean[k, 0]), "bce": float(mean[k, 1]),
                   "fairness": float(mean[k, 2]), "eta": objectives[k].current_eta}
            if not np.isfinite(mean[k]).all():
                raise FloatingPointError(f"training diverged at epoch {epoch} for eta={models[k].eta}; "
                                         "lower lr or eta")
            histories[k].append(rec)

    for k, m in enumerate(models):
        module = lead._new_module(Xv.shape[1], lead.hidden_layer_sizes, 1, torch_seed)
        stack.copy_to(module, k)
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


# What make_mlp builds: the layers a stack can batch.
_LAYERS = (nn.Linear, nn.ReLU, nn.Tanh, nn.GELU, nn.ELU)


class _Stack:
    """The parameters of K ``make_mlp`` networks of one architecture, laid out for one pass.

    The first layers sit side by side as one ``(in, K * out)`` weight matrix: the forward pass
    is one product with the shared batch (bias fused), and autograd's weight gradient
    ``X.T @ G`` lands in that layout with no transpose (0.30 vs 0.40 ms a step on Adult's shapes
    for a ``(K, out, in)`` leaf). Later layers are ``(K, out, in)`` with one batched product
    each. Activations stay in the ``(rows, models, units)`` layout of the first product: no
    transposed copies forward or backward (20 % less time a step than a ``(models, rows,
    units)`` layout with K=16 on Adult's shapes).

    Parameters
    ----------
    modules : list of nn.Sequential
        The K networks (the same module K times to start K copies of one initialisation).
    dtype : torch.dtype, optional
        Dtype of the stacked tensors; defaults to the modules' own.
    requires_grad : bool, default=True
        Whether the stacked tensors are trainable leaves.
    """

    def __init__(self, modules, dtype=None, requires_grad: bool = True):
        layers = list(modules[0])
        if not isinstance(layers[0], nn.Linear) or not all(isinstance(m, _LAYERS) for m in layers):
            raise TypeError(f"batched training supports make_mlp networks only, got {modules[0]}")
        shapes = [tuple(p.shape) for p in modules[0].parameters()]
        if any([tuple(p.shape) for p in m.parameters()] != shapes or len(m) != len(layers)
               for m in modules):
            raise ValueError("the networks differ in architecture")
        self.layers, self.K = layers, len(modules)
        self.n_in, self.width = layers[0].in_features, layers[0].out_features

        def leaf(t):
            t = t.detach().to(dtype=dtype or t.dtype).contiguous()
            return t.requires_grad_(True) if requires_grad else t

        self.W0 = leaf(torch.cat([m[0].weight.T for m in modules], 1))  # (in, K * out)
        self.b0 = leaf(torch.cat([m[0].bias for m in modules]))  # (K * out,)
        self.rest = {i: (leaf(torch.stack([m[i].weight for m in modules])),  # (K, out, in)
                         leaf(torch.stack([m[i].bias for m in modules])))  # (K, out)
                     for i in range(1, len(layers)) if isinstance(layers[i], nn.Linear)}
        self.leaves = [self.W0, self.b0] + [t for pair in self.rest.values() for t in pair]

    def forward(self, X, sparse=None):
        """Logits of shape ``(n, K)``; ``sparse`` is ``(indices, offsets, values)`` of ``X``."""
        n, K = X.shape[0], self.K
        if sparse is not None:
            h = _SparseLinear.apply(X, *sparse, self.W0, self.b0)
        else:
            h = torch.addmm(self.b0, X, self.W0)
        h = h.view(n, K, self.width)
        for i, layer in enumerate(self.layers[1:], start=1):
            if not isinstance(layer, nn.Linear):
                h = layer(h)
                continue
            W, b = self.rest[i]
            if W.shape[1] == 1:
                # A one-unit output layer: a multiply-and-sum beats a batched mat-vec product.
                h = (h * W.reshape(1, K, -1)).sum(-1, keepdim=True) + b.reshape(1, K, 1)
            else:
                h = torch.baddbmm(b[:, None, :], h.transpose(0, 1), W.transpose(1, 2)).transpose(0, 1)
        return h[..., 0]

    def _model_views(self, tensors):
        """Views of ``tensors`` (laid out as :attr:`leaves`) with the model axis first or second."""
        W0, b0, *rest = tensors
        return ([W0.view(self.n_in, self.K, self.width), b0.view(self.K, -1)]
                + [t.view(self.K, -1) for t in rest])

    def clip_grad_norm_(self, max_norm: float) -> None:
        """``torch.nn.utils.clip_grad_norm_`` for each model: one norm over all its gradients."""
        with torch.no_grad():
            W0, *rest = self._model_views([p.grad for p in self.leaves])
            sq = torch.stack([W0.square().sum((0, 2))] + [g.square().sum(1) for g in rest])
            coef = torch.clamp(max_norm / (sq.sum(0).sqrt() + 1e-6), max=1.0)
            if float(coef.min()) < 1.0:  # most steps clip nothing; multiplying by 1 is a no-op
                W0.mul_(coef[:, None])
                for g in rest:
                    g.mul_(coef[:, None])

    def copy_to(self, module: nn.Sequential, k: int) -> None:
        """Write model ``k``'s weights into ``module`` (same architecture)."""
        W0, b0, *_ = self._model_views(self.leaves)
        with torch.no_grad():
            module[0].weight.copy_(W0[:, k, :].T)
            module[0].bias.copy_(b0[k])
            for i, (W, b) in self.rest.items():
                module[i].weight.copy_(W[k])
                module[i].bias.copy_(b[k])


class _SparseLinear(torch.autograd.Function):
    """``X @ W + b`` for a mostly-zero ``X`` given as ``(indices, offsets, values)`` of its rows.

    The forward pass touches only the non-zeros (``embedding_bag`` with per-entry weights); the
    weight gradient is the dense ``X.T @ G``, which beat every sparse form measured (embedding
    bag's own backward, CSR products, index_add) on one-hot tables.
    """

    @staticmethod
    def forward(ctx, X, indices, offsets, values, W, b):
        ctx.save_for_backward(X)
        out = F.embedding_bag(indices, W, offsets, mode="sum", per_sample_weights=values)
        return out.add_(b)

    @staticmethod
    def backward(ctx, grad):
        (X,) = ctx.saved_tensors
        return None, None, None, None, X.T @ grad, grad.sum(0)


# The non-zero-only first layer is faster below about half of the entries non-zero (measured on
# 256-row batches and 512 stacked units: 0.07 vs 0.28 ms forward at Adult's 12 %); a margin
# keeps dense tables on the dense product.
_SPARSE_DENSITY = 0.3


def _use_sparse_inputs(X: torch.Tensor) -> bool:
    return X.numel() > 0 and X.shape[1] >= 8 and float((X != 0).sum()) <= _SPARSE_DENSITY * X.numel()


class _SparseRows:
    """The non-zeros of a table's rows (CSR), sliced per contiguous batch for :class:`_SparseLinear`.

    Built once from the training table; :meth:`take` re-orders the rows for an epoch's shuffle
    without scanning the dense table again.
    """

    def __init__(self, cols: torch.Tensor, values: torch.Tensor, counts: np.ndarray):
        self.cols, self.values, self.counts = cols, values, counts
        self.row_ptr = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=self.row_ptr[1:])

    @classmethod
    def from_dense(cls, X: torch.Tensor) -> "_SparseRows":
        rows, cols = torch.nonzero(X, as_tuple=True)  # row-major order
        return cls(cols, X[rows, cols], np.bincount(rows.numpy(), minlength=X.shape[0]))

    def take(self, order: np.ndarray) -> "_SparseRows":
        """The rows ``order`` of this table, in that order."""
        counts = self.counts[order]
        new_ptr = np.concatenate([[0], np.cumsum(counts)])
        pos = torch.from_numpy(np.repeat(self.row_ptr[order] - new_ptr[:-1], counts) + np.arange(new_ptr[-1]))
        return _SparseRows(self.cols.index_select(0, pos), self.values.index_select(0, pos), counts)

    def batches(self, starts, ends) -> "_SparseRows":
        """Set the batches: rows ``starts[b]:ends[b]`` (contiguous, in order, covering the table)."""
        sizes = np.asarray(ends) - np.asarray(starts)
        # Each row's offset counted from its batch's first non-zero.
        self.offsets = torch.from_numpy(self.row_ptr[:-1] - np.repeat(self.row_ptr[np.asarray(starts)], sizes))
        self.bounds = [(int(lo), int(hi), int(self.row_ptr[lo]), int(self.row_ptr[hi]))
                       for lo, hi in zip(starts, ends)]
        return self

    def batch(self, b: int):
        """``(indices, offsets, values)`` of batch ``b``."""
        lo, hi, s, e = self.bounds[b]
        return self.cols[s:e], self.offsets[lo:hi], self.values[s:e]


def can_predict_stacked(models) -> bool:
    """Whether :func:`stacked_decision_function` can score ``models`` in one pass."""
    if len(models) < 2 or any(type(m) is not FairRegularizedClassifier or not hasattr(m, "module_")
                              for m in models):
        return False
    first = models[0].module_
    layout = [(type(layer), tuple(p.shape for p in layer.parameters())) for layer in first]
    return (all(isinstance(layer, _LAYERS) for layer in first) and isinstance(first[0], nn.Linear)
            and all([(type(layer), tuple(p.shape for p in layer.parameters())) for layer in m.module_] == layout
                    for m in models[1:]))


def stacked_decision_function(models, X) -> np.ndarray:
    """Logits of K fitted networks of one architecture on the same rows, in one pass.

    Equals ``np.column_stack([m.decision_function(X) for m in models])`` up to float64 rounding
    (inference runs in float64, as :meth:`decision_function` does), with the input converted
    once and one product per layer for all K models instead of K forward passes.

    Parameters
    ----------
    models : list of fitted FairRegularizedClassifier
        Networks with one architecture (see :func:`can_predict_stacked`).
    X : array-like of shape (n_samples, n_features)

    Returns
    -------
    ndarray of shape (n_samples, K)
    """
    X = validate_data(models[0], X, reset=False, dtype=[np.float64, np.float32])
    stack = _Stack([m.module_ for m in models], dtype=torch.float64, requires_grad=False)
    out = np.empty((X.shape[0], len(models)), dtype=np.float64)
    widest = max([stack.width] + [W.shape[1] for W, _ in stack.rest.values()])
    # Chunks keep the (rows, K, units) activations near 1 MB, in cache between the element-wise
    # steps: 256-row chunks at K=16 x 32 units took 37 ms for Adult's test part, 32 MB ones 90 ms.
    chunk = max(64, (1 << 17) // (len(models) * widest))
    with torch.no_grad():
        for s in range(0, X.shape[0], chunk):
            out[s:s + chunk] = stack.forward(torch.tensor(X[s:s + chunk], dtype=torch.float64)).numpy()
    return out
