"""K networks of one architecture stacked along a model axis, and a first layer that reads only
the non-zeros of a mostly-zero table.

The one training loop (:func:`fairkit.estimators._torch_base.fit_models`) trains every torch
estimator's network through a :class:`_Stack`: K networks that differ only in the weight of their
fairness term train in one pass (same data, initialisation and mini-batches), and a single fit is
K = 1. The first layers are one matrix product of the shared batch with the K weight matrices
side by side, and one backward pass gives each model its own gradient, since model k's weights
only reach loss k. Adam is element-wise, so one Adam over the stacked tensors is K independent
Adams; gradient clipping is done per model.

On a mostly-zero table (one-hot encoded categories: Adult's 101 columns are 12 % non-zero) the
first layer's forward pass reads only the non-zeros (:class:`_SparseRows`, :class:`_SparseLinear`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


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
    device : torch.device or str, optional
        Device of the stacked tensors; defaults to the modules' own.
    """

    def __init__(self, modules, dtype=None, device=None):
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
            return t.detach().to(device=device or t.device, dtype=dtype or t.dtype).contiguous().requires_grad_(True)

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

    def snapshot(self) -> list:
        """A copy of the stacked weights, for :meth:`copy_to` (the best epoch of early stopping)."""
        return [t.detach().clone() for t in self.leaves]

    def model_params(self, k: int, leaves=None) -> dict:
        """Model ``k``'s weights (from ``leaves``, a :meth:`snapshot`, when given) by the names
        of its ``make_mlp`` module's parameters (``"0.weight"``, ``"0.bias"``, ...).

        Views of the stacked tensors, in the module's layout: ``torch.func.functional_call``
        runs a module of this architecture with them, and gradients reach the stack through them.
        """
        leaves = self.leaves if leaves is None else leaves
        W0, b0 = self._model_views(leaves[:2])
        params = {"0.weight": W0[:, k, :].T, "0.bias": b0[k]}
        for i, W, b in zip(self.rest, leaves[2::2], leaves[3::2]):  # (K, out, in), (K, out)
            params[f"{i}.weight"], params[f"{i}.bias"] = W[k], b[k]
        return params

    def copy_to(self, module: nn.Sequential, k: int, leaves=None) -> None:
        """Write model ``k``'s weights (from ``leaves``, a :meth:`snapshot`, when given) into
        ``module`` (same architecture)."""
        with torch.no_grad():
            for name, value in self.model_params(k, leaves).items():
                module.get_parameter(name).copy_(value)


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
        return cls(cols, X[rows, cols], np.bincount(rows.cpu().numpy(), minlength=X.shape[0]))

    def take(self, order: np.ndarray) -> "_SparseRows":
        """The rows ``order`` of this table, in that order."""
        counts = self.counts[order]
        new_ptr = np.concatenate([[0], np.cumsum(counts)])
        pos = torch.from_numpy(np.repeat(self.row_ptr[order] - new_ptr[:-1], counts) + np.arange(new_ptr[-1]))
        pos = pos.to(self.cols.device)
        return _SparseRows(self.cols.index_select(0, pos), self.values.index_select(0, pos), counts)

    def batches(self, starts, ends) -> "_SparseRows":
        """Set the batches: rows ``starts[b]:ends[b]`` (contiguous, in order, covering the table)."""
        sizes = np.asarray(ends) - np.asarray(starts)
        # Each row's offset counted from its batch's first non-zero.
        self.offsets = torch.from_numpy(
            self.row_ptr[:-1] - np.repeat(self.row_ptr[np.asarray(starts)], sizes)).to(self.cols.device)
        self.bounds = [(int(lo), int(hi), int(self.row_ptr[lo]), int(self.row_ptr[hi]))
                       for lo, hi in zip(starts, ends)]
        return self

    def batch(self, b: int):
        """``(indices, offsets, values)`` of batch ``b``."""
        lo, hi, s, e = self.bounds[b]
        return self.cols[s:e], self.offsets[lo:hi], self.values[s:e]
