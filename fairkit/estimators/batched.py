"""Train one FairRegularizedClassifier per eta in a single batched pass.

A sweep over ``eta`` trains K networks that differ only in the weight of the fairness term:
same data, same initialisation (same seed), same mini-batches. :func:`fit_eta_batch` hands them
to the one training loop (:func:`fairkit.estimators._torch_base.fit_models`), which trains them
as one stack of K networks (:mod:`fairkit.estimators._stack`) instead of K passes: most of the
per-step Python and dispatch overhead that dominates mini-batch training of small networks is
paid once. The result matches training each eta alone with the same seed, up to floating-point
reassociation. Each fitted network scores rows on its own (its ``decision_function``): a stacked
scoring pass sums in another order, and ~1e-16 apart reorders exactly tied scores, so the sweep's
figures would not be the ones each model gives its record and ``score``. Estimators with a
``fit_etas`` method (group thresholds) batch their etas their own way: one base fit, then each
eta's thresholds from its scores.
"""

from __future__ import annotations

from sklearn.base import clone

from ._torch_base import TorchFairClassifierBase, fit_models


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

