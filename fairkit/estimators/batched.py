"""Train one FairRegularizedClassifier per eta in a single batched pass, and score them in one.

A sweep over ``eta`` trains K networks that differ only in the weight of the fairness term:
same data, same initialisation (same seed), same mini-batches. :func:`fit_eta_batch` hands them
to the one training loop (:func:`fairkit.estimators._torch_base.fit_models`), which trains them
as one stack of K networks (:mod:`fairkit.estimators._stack`) instead of K passes: most of the
per-step Python and dispatch overhead that dominates mini-batch training of small networks is
paid once. The result matches training each eta alone with the same seed, up to floating-point
reassociation. :func:`stacked_decision_function` scores the K fitted networks on new rows in one
pass as well, which the sweep uses for its validation and test metrics. Estimators with a
``fit_etas`` method (group thresholds) batch their etas their own way: one base fit, then each
eta's thresholds from its scores.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import clone
from sklearn.utils.validation import validate_data
from torch import nn

from ._stack import _LAYERS, _Stack
from ._torch_base import TorchFairClassifierBase, _dense_chunks, fit_models


def can_fit_etas(estimator) -> bool:
    """Whether ``estimator``'s class fits several etas its own way, through a ``fit_etas`` method.

    The one test of that protocol (post-processors: one base fit, then every eta's thresholds
    from its scores): :func:`can_batch` and :func:`fit_eta_batch` both ask it. The method is
    looked up on the class, as Python looks up special methods, so an instance attribute named
    ``fit_etas`` (a parameter, say) does not make an estimator batchable.
    """
    return callable(getattr(type(estimator), "fit_etas", None))


def can_batch(estimator) -> bool:
    """Whether :func:`fit_eta_batch` can train several etas of ``estimator`` in one pass.

    Torch estimators whose class trains stacked etas, and estimators with a ``fit_etas`` method
    (:func:`can_fit_etas`).
    """
    if can_fit_etas(estimator):
        return True
    return isinstance(estimator, TorchFairClassifierBase) and type(estimator)._batches_etas


def fit_eta_batch(template, etas, X, y, *, sensitive_features=None, sample_weight=None, **fit_params) -> list:
    """Fit ``clone(template).set_params(eta=e)`` for every ``e`` in ``etas`` at once.

    Parameters
    ----------
    template : FairRegularizedClassifier or an estimator with ``fit_etas``
        Every parameter except ``eta`` is shared (see :func:`can_batch`).
    etas : sequence of float
    X, y, sensitive_features, sample_weight
        As in :meth:`FairRegularizedClassifier.fit`.
    **fit_params
        Passed to ``template.fit_etas`` (a post-processor's ``threshold_set``); the stacked
        networks take none.

    Returns
    -------
    list of estimators
        Fitted estimators in the order of ``etas``, each as if fitted alone.
    """
    if can_fit_etas(template):
        return template.fit_etas(etas, X, y, sensitive_features=sensitive_features, sample_weight=sample_weight,
                                 **fit_params)
    if fit_params:
        raise TypeError(f"{type(template).__name__} takes no fit parameters {sorted(fit_params)}")
    if not can_batch(template):
        raise ValueError(f"{type(template).__name__} trains one model at a time; fit each eta alone")
    models = [clone(template).set_params(eta=float(e)) for e in etas]
    return fit_models(models, X, y, sensitive_features=sensitive_features, sample_weight=sample_weight)


def can_predict_stacked(models) -> bool:
    """Whether :func:`stacked_decision_function` can score ``models`` in one pass."""
    if len(models) < 2 or any(not isinstance(m, TorchFairClassifierBase) or not hasattr(m, "module_")
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
    X = validate_data(models[0], X, reset=False, dtype=[np.float64, np.float32], accept_sparse="csr")
    # On the CPU in float64, as decision_function does, wherever the networks were trained.
    stack = _Stack([m.module_ for m in models], dtype=torch.float64, requires_grad=False, device="cpu")
    out = np.empty((X.shape[0], len(models)), dtype=np.float64)
    # Chunks keep the (rows, K, units) activations near 1 MB, in cache between the element-wise
    # steps: 256-row chunks at K=16 x 32 units took 37 ms for Adult's test part, 32 MB ones 90 ms.
    chunk = max(64, (1 << 17) // (len(models) * stack.widest))
    with torch.no_grad():
        for s, xb in _dense_chunks(X, chunk):
            out[s:s + len(xb)] = stack.forward(xb).numpy()
    return out
