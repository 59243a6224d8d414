"""Shared machinery of the PyTorch in-processing estimators.

Validation of ``X``/``y``/``sensitive_features``/``sample_weight``, seeding, the network,
mini-batches stratified by group x label, the one training loop (:func:`fit_models`: K stacked
networks, a single fit being K = 1) with optional early stopping, the fitted state,
``history_``, and the prediction methods. Subclasses only say what a batch's loss is and what
else a step updates.
"""

from __future__ import annotations

import copy
import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from scipy import sparse
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from fairkit.estimators._stack import _SparseRows, _Stack, _use_sparse_inputs
from fairkit.estimators._inputs import check_fit_groups, check_fit_weights, densify
from fairkit.groups import GroupLevel, encode_groups, group_hierarchy
from fairkit.stats import decide

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "elu": nn.ELU}
_PREDICT_CHUNK = 65536
# At most this many cells (64 MB of float64) in a prediction chunk: a wide sparse table is
# expanded a chunk at a time, never whole.
_PREDICT_CELLS = 1 << 23


def _dense_chunks(X, rows: int = _PREDICT_CHUNK):
    """``(start, rows of X as a dense float64 tensor)`` in chunks of at most ``rows`` rows and
    ``_PREDICT_CELLS`` cells; a sparse ``X`` is expanded one chunk at a time."""
    rows = max(1, min(rows, _PREDICT_CELLS // max(1, X.shape[1])))
    for s in range(0, X.shape[0], rows):
        part = X[s:s + rows]
        yield s, torch.tensor(part.toarray() if sparse.issparse(part) else part, dtype=torch.float64)


def make_mlp(n_inputs: int, hidden_layer_sizes=(), activation: str = "relu",
             n_outputs: int = 1) -> nn.Sequential:
    """Feed-forward network; ``hidden_layer_sizes=()`` is logistic regression.

    Parameters
    ----------
    n_inputs : int
    hidden_layer_sizes : tuple of int
    activation : {"relu", "tanh", "gelu", "elu"}
    n_outputs : int

    Returns
    -------
    torch.nn.Sequential
    """
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    layers: list[nn.Module] = []
    width = n_inputs
    for h in hidden_layer_sizes:
        layers += [nn.Linear(width, int(h)), _ACTIVATIONS[activation]()]
        width = int(h)
    layers.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*layers)


@dataclass
class TrainData:
    """Tensors of one training (or validation) set.

    Attributes
    ----------
    X, y, w : Tensor
        Features (float32), labels in {0, 1} (float32) and sample weights (float32).
    groups : list of Tensor
        Integer group codes, one tensor per group level (empty when no sensitive features).
    levels : list of GroupLevel
        The levels the codes refer to.
    w_sum : Tensor or None
        Total weight of the rows when already known (a training batch's, summed once per epoch).
    index : Tensor or None
        Each row's position in the table given to ``fit`` (int64): what a method that keeps
        state per training row (the meta-learned weights of FORML) looks its rows up by.
    """

    X: torch.Tensor
    y: torch.Tensor
    w: torch.Tensor
    groups: list = field(default_factory=list)
    levels: list = field(default_factory=list)
    w_sum: torch.Tensor | None = None
    index: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.X.shape[0]

    def subset(self, idx, out: "TrainData | None" = None) -> "TrainData":
        """The rows ``idx``; written into ``out`` (same shapes) when given.

        An epoch's reorder into a reused ``out`` skips the page faults of fresh large buffers
        (1.5 vs 4.6 ms for Adult's training table).
        """
        idx = torch.as_tensor(idx, dtype=torch.long)
        src = [self.X, self.y, self.w, *self.groups]
        if out is None:
            index = self.index.index_select(0, idx) if self.index is not None else None
            return TrainData(*(t.index_select(0, idx) for t in src[:3]),
                             [g.index_select(0, idx) for g in self.groups], self.levels,
                             index=index)
        dst = [out.X, out.y, out.w, *out.groups]
        if self.index is not None:
            src, dst = src + [self.index], dst + [out.index]
        for t, o in zip(src, dst):
            torch.index_select(t, 0, idx, out=o)
        return out

    def rows(self, lo: int, hi: int, w_sum=None) -> "TrainData":
        """The contiguous rows ``lo:hi`` (views); ``w_sum`` is their total weight when known."""
        return TrainData(self.X[lo:hi], self.y[lo:hi], self.w[lo:hi],
                         [g[lo:hi] for g in self.groups], self.levels, w_sum,
                         self.index[lo:hi] if self.index is not None else None)

    @property
    def has_groups(self) -> bool:
        return bool(self.groups)


def stratified_batches(strata: np.ndarray, batch_size: int, rng: np.random.Generator) -> list:
    """Split rows into shuffled mini-batches that each hold a share of every stratum.

    Each stratum (group x label) is shuffled and dealt round-robin over the batches from a random
    starting batch, so every stratum with at least as many rows as there are batches appears in
    every batch, and the per-batch group rates the fairness terms need always exist.

    Parameters
    ----------
    strata : ndarray of shape (n,), int
    batch_size : int
    rng : numpy Generator

    Returns
    -------
    list of ndarray
        Row indices of each batch, batches in random order.
    """
    n = len(strata)
    n_batches = max(1, math.ceil(n / batch_size))
    perm = rng.permutation(n)
    if n_batches == 1:
        return [perm]
    s = strata[perm]
    order = np.argsort(s, kind="stable")
    rows, s = perm[order], s[order]
    _, first, inverse = np.unique(s, return_index=True, return_inverse=True)
    rank = np.arange(n) - first[inverse]
    offset = rng.integers(0, n_batches, size=len(first))
    batch = (rank + offset[inverse]) % n_batches
    by_batch = np.argsort(batch, kind="stable")
    bounds = np.cumsum(np.bincount(batch, minlength=n_batches))[:-1]
    batches = np.split(rows[by_batch], bounds)
    return [b for b in (batches[i] for i in rng.permutation(n_batches)) if len(b)]


def stratified_holdout(strata: np.ndarray, fraction: float, rng: np.random.Generator):
    """Indices ``(train, validation)`` with about ``fraction`` of every stratum held out."""
    n = len(strata)
    perm = rng.permutation(n)
    s = strata[perm]
    order = np.argsort(s, kind="stable")
    rows, s = perm[order], s[order]
    _, first, inverse, counts = np.unique(s, return_index=True, return_inverse=True,
                                          return_counts=True)
    rank = np.arange(n) - first[inverse]
    n_val = np.floor(counts * fraction + rng.random(len(counts)))
    is_val = rank < n_val[inverse]
    return np.sort(rows[~is_val]), np.sort(rows[is_val])


def decisions(logits: torch.Tensor) -> torch.Tensor:
    """0/1 decisions of logits by the one rule, :func:`fairkit.stats.decide` at 0.5 (a
    probability ``sigmoid(z) >= 0.5`` is a logit ``z >= 0``), in the logits' dtype."""
    return (logits >= 0).to(logits.dtype)


def accuracy(logits: torch.Tensor, data: TrainData) -> float:
    """Weighted accuracy of the decisions of ``logits`` (shape ``(n,)``) on ``data``."""
    return float(((decisions(logits) == data.y).to(data.w.dtype) * data.w).sum() / data.w.sum())


@contextmanager
def _threads_for(batch_size: int):
    """One torch thread while training on small mini-batches, restored afterwards.

    A 256-row step is a handful of microsecond-sized ops; splitting them over threads costs more
    in synchronisation than it saves, and on a busy 2-core machine it was measured 5x slower
    (benchmarks/README.md). Large batches keep torch's own thread count.
    """
    before = torch.get_num_threads()
    small = batch_size <= 4096 and before > 1
    if small:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if small:
            torch.set_num_threads(before)


class FairFitMixin:
    """What fairkit's in-processing binary classifiers (the torch networks and the boosted
    trees) share: scikit-learn tags, input validation, sensitive-attribute encoding, and the
    prediction methods built on the subclass's ``decision_function`` (logit of ``classes_[1]``).
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.allow_nan = False
        # Sparse X (any scipy format, as CSR): trees read it as it is, networks train on it
        # expanded (size-checked by densify) and predict from it a chunk at a time.
        tags.input_tags.sparse = True
        return tags

    def predict_proba(self, X):
        """Probabilities of ``classes_``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, 2)
        """
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`, computed from the logit without rounding to 0.

        Parameters
        ----------
        X
            As in :meth:`predict_proba`.

        Returns
        -------
        ndarray of shape (n_samples, 2)
            Log-probabilities of ``classes_``.
        """
        z = self.decision_function(X)
        # log(sigmoid(z)) = -log1p(exp(-z)), computed stably for both classes.
        return np.column_stack([-np.logaddexp(0, z), -np.logaddexp(0, -z)])

    def predict(self, X):
        """Predicted class labels: ``classes_[1]`` where its probability is at least 0.5.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        # The probability, not the logit, goes through the one decision rule, so predict
        # agrees with every report computed from predict_proba (a logit a hair below 0 can
        # round to a probability of exactly 0.5).
        positive = decide(expit(self.decision_function(X)), 0.5)
        return self.classes_[positive.astype(int)]

    def _validate_xy(self, X, y, sample_weight, reset=True):
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], y_numeric=False,
                             reset=reset, accept_sparse="csr")
        check_classification_targets(y)
        y_type = type_of_target(y, input_name="y", raise_unknown=True)
        if y_type != "binary":
            raise ValueError(
                f"Only binary classification is supported. The type of the target is {y_type}."
            )
        classes, y_enc = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"y has one class only ({classes[0]!r}); a classifier needs two classes"
            )
        return X, y_enc, check_fit_weights(sample_weight, X, y_enc), classes

    def _group_levels(self, sensitive_features, n_samples: int, etas=None) -> list[GroupLevel]:
        """Encode ``sensitive_features`` (validated length) as the levels this method uses.

        Warns once when a fairness strength in ``etas`` (default: this estimator's ``eta``; the
        K stacked models' when they train together) is above 0 but there are fewer than two
        groups to compare: the fairness term is then zero and the model is a plain one.
        """
        levels = self._encoded_levels(sensitive_features, n_samples)
        etas = [self.eta] if etas is None else etas
        check_fit_groups(self, sensitive_features, any(float(e) > 0 for e in etas), stacklevel=3)
        return levels

    def _encoded_levels(self, sensitive_features, n_samples: int) -> list[GroupLevel]:
        if sensitive_features is None:
            return []
        if isinstance(sensitive_features, (pd.DataFrame, pd.Series)):
            sf = sensitive_features
        else:
            sf = np.asarray(sensitive_features, dtype=object)
            if sf.ndim == 0 or sf.ndim > 2:
                raise ValueError(
                    "sensitive_features must hold one value (or one row of values) per training "
                    f"row, as an array, Series or DataFrame; got {sensitive_features!r:.80}"
                )
            if sf.ndim == 2 and sf.shape[1] == 1:
                sf = sf[:, 0]
        if len(sf) != n_samples:
            raise ValueError(
                f"sensitive_features has {len(sf)} rows but X has {n_samples}; pass one row "
                "of sensitive attributes per training row"
            )
        if isinstance(sf, pd.DataFrame):
            sf = sf.reset_index(drop=True)
        elif isinstance(sf, pd.Series):
            sf = sf.reset_index(drop=True)
        return self._levels_for(sf)

    def _levels_for(self, sensitive) -> list[GroupLevel]:
        """Levels to penalize: marginals and the intersection, or the intersection only."""
        if getattr(self, "hierarchical", False):
            return group_hierarchy(sensitive)
        enc = encode_groups(sensitive)
        if isinstance(sensitive, pd.DataFrame):
            name, cols = " & ".join(map(str, sensitive.columns)), tuple(sensitive.columns)
        else:
            name = getattr(sensitive, "name", None)
            name, cols = ("group" if name is None else str(name)), ()
        return [GroupLevel(name, enc, cols)]


class TorchFairClassifierBase(FairFitMixin, ClassifierMixin, BaseEstimator):
    """Base class of the PyTorch fairness estimators (not for direct use).

    Subclasses define ``__init__`` (storing parameters only), :meth:`_batch_loss` (the loss a
    step descends) and :meth:`_validation_metrics`; they may override :meth:`_setup`,
    :meth:`_start_epoch`, :meth:`_after_step` (their extra parameters' steps),
    :meth:`_end_epoch`, :meth:`_levels_for`, :meth:`_snapshot` / :meth:`_restore_extras`,
    :meth:`_final_states` and :meth:`_finish`. The network, its optimizer, the epochs and the
    fitted state belong to :func:`fit_models`.

    Common parameters (see the subclasses' docstrings): ``eta``, ``hidden_layer_sizes``,
    ``activation``, ``lr``, ``batch_size``, ``max_epochs``, ``max_steps``, ``weight_decay``, ``clip_grad_norm``,
    ``early_stopping``, ``validation_fraction``, ``n_iter_no_change``, ``tol``, ``warm_start``,
    ``random_state``, ``device``, ``verbose``.
    """

    #: In-processing methods learn a model that does not read the sensitive attribute.
    needs_sensitive_at_predict = False

    # ---------------------------------------------------------------- sklearn plumbing

    def __getstate__(self):
        state = super().__getstate__()
        # Store modules on the CPU so a pickle made on a GPU machine loads anywhere.
        for key, value in list(state.items()):
            if isinstance(value, nn.Module):
                state[key] = copy.deepcopy(value).to("cpu")
        return state

    # ---------------------------------------------------------------- validation

    def _validate_params(self):
        if not (self.eta >= 0 and math.isfinite(self.eta)):
            # inf passed and training then "diverged" (FORML audit, session 51).
            raise ValueError(f"eta must be a finite non-negative number, got {self.eta!r}")
        if not (isinstance(self.batch_size, (int, np.integer)) and self.batch_size >= 1):
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if not (isinstance(self.max_epochs, (int, np.integer)) and self.max_epochs >= 1):
            raise ValueError(f"max_epochs must be a positive integer, got {self.max_epochs!r}")
        steps = self.max_steps
        if steps is not None and not (isinstance(steps, (int, np.integer)) and steps >= 1):
            raise ValueError(f"max_steps must be a positive integer or None, got {steps!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a finite positive number, got {self.lr!r}")
        if self.clip_grad_norm is not None and not self.clip_grad_norm > 0:
            raise ValueError(
                f"clip_grad_norm must be positive or None, got {self.clip_grad_norm!r}"
            )
        if self.early_stopping and not 0 < self.validation_fraction < 1:
            raise ValueError(
                f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}"
            )

    # ---------------------------------------------------------------- seeding and modules

    def _seeds(self):
        rs = check_random_state(self.random_state)
        torch_seed = int(rs.randint(0, 2**31 - 1))
        np_seed = int(rs.randint(0, 2**31 - 1))
        return torch_seed, np.random.default_rng(np_seed)

    def _device(self) -> torch.device:
        return torch.device(self.device)

    def _new_module(self, n_inputs: int, hidden, n_outputs: int, seed: int) -> nn.Module:
        # fork_rng keeps the caller's global torch RNG untouched while seeding the init.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return make_mlp(n_inputs, tuple(hidden), self.activation, n_outputs).to(
                device=self._device(), dtype=torch.float32)

    def _clip(self, params) -> None:
        if self.clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(params, self.clip_grad_norm)

    # ---------------------------------------------------------------- fit

    #: Whether one training pass may hold several models differing in ``eta`` (see
    #: :func:`fit_models`): the regularized network's losses score K models at once; the other
    #: trainers train one.
    _batches_etas = False

    #: Training-time attributes, removed when training ends (also after an error).
    _training_attrs = ("_nets",)

    def fit(self, X, y, *, sensitive_features=None, sample_weight=None):
        """Train the classifier.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Numeric features.
        y : array-like of shape (n_samples,)
            Binary labels (any two values; ``classes_[1]`` is the positive class).
        sensitive_features : array-like, Series or DataFrame, optional
            Group membership used by the fairness term during training only. Several columns
            give intersections. ``None`` trains a plain (unconstrained) classifier.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative row weights, honoured by every loss term.

        Returns
        -------
        self
        """
        fit_models([self], X, y, sensitive_features=sensitive_features, sample_weight=sample_weight)
        return self

    def _strata(self, data: TrainData, y_enc: np.ndarray) -> np.ndarray:
        if not data.has_groups:
            return y_enc.astype(np.int64)
        codes = [lv.encoding.codes for lv in data.levels]
        if len(codes) == 1:
            joint = codes[0]
        else:  # the cells of all levels together (for a hierarchy: the intersection)
            joint = np.unique(np.stack(codes, axis=1), axis=0, return_inverse=True)[1].ravel()
        return joint.astype(np.int64) * 2 + y_enc.astype(np.int64)

    def _n_epochs(self, n_rows: int) -> int:
        """Epochs to train on ``n_rows``: ``max_epochs``, fewer when ``max_steps`` is reached first.

        A fixed budget of steps rather than passes: on a large table a small network has seen
        enough rows after a few epochs (Adult, 29k rows: 600 steps, 6 epochs, gave a better
        frontier than 20 epochs), while a few hundred rows still get ``max_epochs`` passes.
        """
        steps = self.max_steps
        if steps is None:
            return int(self.max_epochs)
        per_epoch = max(1, math.ceil(n_rows / self.batch_size))  # as stratified_batches
        return int(min(self.max_epochs, max(1, math.ceil(steps / per_epoch))))

    # ---------------------------------------------------------------- hooks
    # Called by fit_models on the first of the K models, which holds the training-time state
    # of all K (``self._nets`` is the stack of their networks).

    def _setup(self, models: list, train: TrainData, seed: int) -> None:
        """Build the training-time state (losses, extra parameters and their optimizers)."""

    def _start_epoch(self, epoch: int) -> None:
        """Called before each epoch (for schedules)."""

    def _batch_loss(self, logits: torch.Tensor, batch: TrainData):
        """The K models' losses on a batch.

        Parameters
        ----------
        logits : Tensor of shape (n_rows, K)
        batch : TrainData

        Returns
        -------
        loss : Tensor of shape (K,)
            What each network descends (model k's weights only reach ``loss[k]``).
        stats : dict of str to Tensor of shape (K,)
            Detached values for the epoch's history record (weighted means over batches).
        """
        raise NotImplementedError

    def _after_step(self) -> None:
        """Called after the networks' optimizer step (steps of the method's extra parameters)."""

    def _end_epoch(self, epoch: int, train: TrainData, records: list) -> None:
        """Add entries to the epoch's history records (one dict per model, updated in place)."""

    def _validation_metrics(self, logits: torch.Tensor, val: TrainData) -> list:
        """Validation metrics of each model from its logits ``(n_rows, K)``; each must contain
        ``"loss"`` (the early-stopping criterion)."""
        raise NotImplementedError

    def _snapshot(self) -> dict:
        """The training state to return to (the best epoch of early stopping)."""
        return {"nets": self._nets.snapshot()}

    def _restore_extras(self, state: dict) -> None:
        """Restore what :meth:`_snapshot` saved beyond the networks."""

    def _final_states(self, best: list) -> list:
        """``(state, epoch)`` to keep for each model, from early stopping's ``best`` (a state of
        None keeps the last weights)."""
        return best

    def _finish(self, models: list) -> None:
        """Set the method's own fitted attributes, once every model's ``module_`` is set."""

    # ---------------------------------------------------------------- prediction

    def decision_function(self, X):
        """Logit of the positive class ``classes_[1]``.

        Parameters
        ----------
        X : array-like, DataFrame or sparse matrix of shape (n_samples, n_features)
            A sparse ``X`` is expanded a chunk of rows at a time.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "module_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32], accept_sparse="csr")
        # Inference runs in float64 on a copy of the float32 weights: results then do not depend
        # on how rows are batched (BLAS kernels differ by shape in the last float32 bits).
        module = copy.deepcopy(self.module_).to(device="cpu", dtype=torch.float64).eval()
        out = np.empty(X.shape[0], dtype=np.float64)
        with torch.no_grad():
            for s, xb in _dense_chunks(X):
                out[s:s + len(xb)] = module(xb).reshape(-1).numpy()
        return out


def _same_params(a, b) -> bool:
    """Whether two estimators' parameters other than ``eta`` are equal."""
    pa, pb = a.get_params(deep=False), b.get_params(deep=False)
    pa.pop("eta", None)
    pb.pop("eta", None)
    try:
        return bool(pa == pb)
    except ValueError:  # array-valued parameters
        return repr(pa) == repr(pb)


def fit_models(models: list, X, y, *, sensitive_features=None, sample_weight=None) -> list:
    """Train K estimators of one class that differ only in ``eta``: the one training loop.

    Every torch estimator's ``fit`` is this loop with K = 1. The K networks share the data, the
    initialisation (same ``random_state``) and every mini-batch, and train as one
    :class:`~fairkit.estimators._stack._Stack` (one Adam over the stacked weights is K Adams;
    clipping is per model), so each model is the one its own ``fit`` gives, up to
    floating-point reassociation. With early stopping each model stops, and keeps its best
    epoch, on its own validation loss; the pass ends when every model has stopped.

    Parameters
    ----------
    models : list of TorchFairClassifierBase
        One class, parameters equal except ``eta``; more than one only for a class whose
        losses score several models (``_batches_etas``). ``warm_start`` continues a fitted
        network for K = 1 only.
    X, y, sensitive_features, sample_weight
        As in :meth:`TorchFairClassifierBase.fit`.

    Returns
    -------
    list
        ``models``, fitted.
    """
    lead, K = models[0], len(models)
    if K > 1:
        if any(type(m) is not type(lead) for m in models) or not type(lead)._batches_etas:
            raise ValueError(f"{type(lead).__name__} trains one model at a time; fit the models "
                             "separately")
        if not all(_same_params(lead, m) for m in models[1:]):
            raise ValueError("models trained together must share every parameter but eta")
    warm = bool(getattr(lead, "warm_start", False)) and hasattr(lead, "module_")
    if warm and K > 1:
        raise ValueError("warm_start continues one fitted network; fit warm-started models one "
                         "at a time")
    try:
        for m in models:
            m._validate_params()
        with _threads_for(lead.batch_size):
            _train(models, X, y, sensitive_features, sample_weight, warm)
    finally:
        for attr in lead._training_attrs:
            if hasattr(lead, attr):
                delattr(lead, attr)
    return models


def _train(models, X, y, sensitive_features, sample_weight, warm: bool) -> None:
    lead, K = models[0], len(models)
    # A warm start keeps the network, so it must see the same features and classes.
    X, y_enc, sw, classes = lead._validate_xy(X, y, sample_weight, reset=not warm)
    # Mini-batches and the first layer's weight gradient are dense products.
    X = densify(X)
    if warm and not np.array_equal(lead.classes_, classes):
        raise ValueError(
            "warm_start=True needs the same classes as the previous fit "
            f"({list(lead.classes_)}), got {list(classes)}"
        )
    levels = lead._group_levels(sensitive_features, X.shape[0], etas=[m.eta for m in models])
    dev = lead._device()
    data = TrainData(
        X=torch.tensor(X, dtype=torch.float32, device=dev),
        y=torch.tensor(y_enc, dtype=torch.float32, device=dev),
        w=torch.tensor(sw, dtype=torch.float32, device=dev),
        groups=[torch.tensor(lv.encoding.codes, dtype=torch.long, device=dev) for lv in levels],
        levels=levels,
        index=torch.arange(X.shape[0], device=dev),
    )
    torch_seed, rng = lead._seeds()
    strata = lead._strata(data, y_enc)
    if lead.early_stopping:
        tr_idx, va_idx = stratified_holdout(strata, lead.validation_fraction, rng)
        if len(va_idx) == 0 or len(np.unique(y_enc[tr_idx])) < 2:
            raise ValueError(
                "early_stopping needs more rows: the validation split left the training "
                "part with one class or the validation part empty; lower "
                "validation_fraction or set early_stopping=False"
            )
        train, val, strata = data.subset(tr_idx), data.subset(va_idx), strata[tr_idx]
    else:
        train, val = data, None

    def new_module():
        return lead._new_module(X.shape[1], lead.hidden_layer_sizes, 1, torch_seed)

    nets = lead._nets = _Stack([lead.module_ if warm else new_module()] * K)
    # Adam is element-wise, so one Adam over the stacked tensors is K Adams; fused, it is one
    # kernel per step instead of Adam's per-tensor Python bookkeeping (~1 ms a step).
    opt = torch.optim.Adam(nets.leaves, lr=lead.lr, weight_decay=lead.weight_decay,
                           fused=True if dev.type in ("cpu", "cuda") else None)
    lead._setup(models, train, torch_seed)
    sparse = _SparseRows.from_dense(train.X) if _use_sparse_inputs(train.X) else None
    start = len(lead.history_) if warm and hasattr(lead, "history_") else 0
    histories = [list(lead.history_) if start else [] for _ in models]
    best_val, best, bad = [np.inf] * K, [(None, None)] * K, [0] * K
    running, n_run = [True] * K, [0] * K
    # Every epoch reorders the rows into these (a step's tensors are done with by the next
    # epoch): no page faults of fresh large buffers (1.5 vs 4.6 ms an epoch on Adult).
    epoch_data = TrainData(torch.empty_like(train.X), torch.empty_like(train.y),
                           torch.empty_like(train.w), [torch.empty_like(g) for g in train.groups],
                           train.levels, index=torch.empty_like(train.index))
    for epoch in range(lead._n_epochs(len(strata))):
        lead._start_epoch(epoch)
        batches = stratified_batches(strata, lead.batch_size, rng)
        # One gather per epoch, then every batch is a contiguous slice (a view).
        order = np.concatenate(batches)
        epoch_data = train.subset(order, out=epoch_data)
        sizes = np.array([len(b) for b in batches])
        ends = np.cumsum(sizes)
        starts = ends - sizes
        # Batch weight totals in one pass (float64), for the losses and the epoch means.
        batch_w = np.add.reduceat(epoch_data.w.cpu().numpy().astype(np.float64), starts)
        w_sums = torch.tensor(np.maximum(batch_w, 1e-12), dtype=torch.float32, device=dev)
        inputs = sparse.take(order).batches(starts, ends) if sparse is not None else None
        step_stats = []
        for b, (lo, hi) in enumerate(zip(starts, ends)):
            batch = epoch_data.rows(lo, hi, w_sums[b])
            logits = nets.forward(batch.X, inputs.batch(b) if inputs is not None else None)
            loss, stats = lead._batch_loss(logits, batch)  # (K,)
            for p in nets.leaves:
                p.grad = None
            # Model k's weights only reach loss[k], so the gradient of the sum is per model.
            loss.sum().backward()
            if lead.clip_grad_norm is not None:
                nets.clip_grad_norm_(lead.clip_grad_norm)
            opt.step()
            lead._after_step()
            step_stats.append(stats)
        records = _epoch_records(step_stats, batch_w, K, start + epoch)
        if val is not None:
            with torch.no_grad():
                metrics = lead._validation_metrics(nets.forward(val.X), val)
            for rec, m in zip(records, metrics):
                rec.update({f"val_{k}": v for k, v in m.items()})
        lead._end_epoch(epoch, train, records)
        snapshot = None
        for k, (m, rec) in enumerate(zip(models, records)):
            if not running[k]:
                continue
            histories[k].append(rec)
            n_run[k] = epoch + 1
            if m.verbose:
                print(", ".join(f"{key}={v:.4g}" if isinstance(v, float) else f"{key}={v}"
                                for key, v in rec.items()))
            if not all(np.isfinite(v) for v in rec.values() if isinstance(v, float)):
                raise FloatingPointError(
                    f"training diverged at epoch {epoch} (eta={m.eta}: {rec}); lower lr or eta, "
                    "or set clip_grad_norm"
                )
            if val is None:
                continue
            if rec["val_loss"] < best_val[k] - lead.tol:
                best_val[k], bad[k] = rec["val_loss"], 0
                snapshot = snapshot or lead._snapshot()  # one copy for the models improving
                best[k] = (snapshot, rec["epoch"])
            else:
                bad[k] += 1
                running[k] = bad[k] < lead.n_iter_no_change
        if not any(running):
            break

    # The fitted state of every model, set here and nowhere else.
    for k, (m, (state, best_epoch)) in enumerate(zip(models, lead._final_states(best))):
        module = lead.module_ if warm else new_module()
        nets.copy_to(module, k, state["nets"] if state is not None else None)
        if state is not None:
            lead._restore_extras(state)
        m.module_ = module.eval()
        m.classes_ = classes
        for attr in ("n_features_in_", "feature_names_in_"):
            if m is lead:
                continue
            if hasattr(lead, attr):
                setattr(m, attr, getattr(lead, attr))
            elif hasattr(m, attr):
                delattr(m, attr)
        m.sensitive_levels_ = [lv.name for lv in levels]
        m.group_names_ = {lv.name: list(lv.encoding.names) for lv in levels}
        m.history_ = histories[k]
        m.n_epochs_ = n_run[k]
        m.best_epoch_ = best_epoch if best_epoch is not None else len(histories[k]) - 1
    lead._finish(models)


def _epoch_records(step_stats: list, batch_w: np.ndarray, K: int, epoch: int) -> list:
    """Each model's history record: the batch statistics' means weighted by the batch weights."""
    total = max(float(batch_w.sum()), 1e-12)
    bw = torch.tensor(batch_w, dtype=torch.float64)
    records = [{"epoch": epoch} for _ in range(K)]
    names = list(dict.fromkeys(name for stats in step_stats for name in stats))
    for name in names:
        present = [i for i, stats in enumerate(step_stats) if name in stats]
        values = torch.stack([torch.as_tensor(step_stats[i][name]).detach().reshape(-1)
                              for i in present]).cpu().double()  # (batches, K)
        mean = ((bw[present, None] * values).sum(0) / total).numpy()
        for rec, v in zip(records, np.broadcast_to(mean, (K,))):
            rec[name] = float(v)
    return records
