"""Shared machinery of the PyTorch in-processing estimators.

Validation of ``X``/``y``/``sensitive_features``/``sample_weight``, seeding, the network,
mini-batches stratified by group x label, the epoch loop with optional early stopping,
``history_``, and the prediction methods. Subclasses only say what one training step does.
"""

from __future__ import annotations

import copy
import math
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
from torch import nn

from fairkit.groups import GroupLevel, encode_groups, group_hierarchy
from fairkit.stats import decide

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "elu": nn.ELU}
_PREDICT_CHUNK = 65536


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
    """

    X: torch.Tensor
    y: torch.Tensor
    w: torch.Tensor
    groups: list = field(default_factory=list)
    levels: list = field(default_factory=list)

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
            return TrainData(*(t.index_select(0, idx) for t in src[:3]),
                             [g.index_select(0, idx) for g in self.groups], self.levels)
        for t, o in zip(src, [out.X, out.y, out.w, *out.groups]):
            torch.index_select(t, 0, idx, out=o)
        return out

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
        """Log of :meth:`predict_proba`."""
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
                             reset=reset)
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
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        if not sw.sum() > 0:
            raise ValueError("sample_weight sums to zero; give some rows a positive weight")
        if len(np.unique(y_enc[sw > 0])) < 2:
            raise ValueError("only one class has a positive sample_weight; a classifier needs two classes")
        return X, y_enc, sw, classes

    def _group_levels(self, sensitive_features, n_samples: int) -> list[GroupLevel]:
        """Encode ``sensitive_features`` (validated length) as the levels this method uses."""
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

    Subclasses define ``__init__`` (storing parameters only), :meth:`_setup` (build modules and
    optimizers) and :meth:`_train_batch` (one optimisation step); they may override
    :meth:`_levels_for`, :meth:`_validation_metrics`, :meth:`_end_epoch` and
    :meth:`_select_final_state`.

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
        if not self.eta >= 0:
            raise ValueError(f"eta must be a non-negative number, got {self.eta!r}")
        if not (isinstance(self.batch_size, (int, np.integer)) and self.batch_size >= 1):
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if not (isinstance(self.max_epochs, (int, np.integer)) and self.max_epochs >= 1):
            raise ValueError(f"max_epochs must be a positive integer, got {self.max_epochs!r}")
        steps = self.max_steps
        if steps is not None and not (isinstance(steps, (int, np.integer)) and steps >= 1):
            raise ValueError(f"max_steps must be a positive integer or None, got {steps!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")
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
        with _threads_for(self.batch_size):
            return self._fit(X, y, sensitive_features=sensitive_features, sample_weight=sample_weight)

    def _fit(self, X, y, *, sensitive_features=None, sample_weight=None):
        self._validate_params()
        warm = bool(getattr(self, "warm_start", False)) and hasattr(self, "module_")
        # A warm start keeps the network, so it must see the same features and classes.
        X, y_enc, sw, classes = self._validate_xy(X, y, sample_weight, reset=not warm)
        if warm and not np.array_equal(self.classes_, classes):
            raise ValueError(
                "warm_start=True needs the same classes as the previous fit "
                f"({list(self.classes_)}), got {list(classes)}"
            )
        self.classes_ = classes
        levels = self._group_levels(sensitive_features, X.shape[0])
        dev = self._device()
        data = TrainData(
            X=torch.tensor(X, dtype=torch.float32, device=dev),
            y=torch.tensor(y_enc, dtype=torch.float32, device=dev),
            w=torch.tensor(sw, dtype=torch.float32, device=dev),
            groups=[torch.tensor(lv.encoding.codes, dtype=torch.long, device=dev) for lv in levels],
            levels=levels,
        )
        self.sensitive_levels_ = [lv.name for lv in levels]
        self.group_names_ = {lv.name: list(lv.encoding.names) for lv in levels}

        torch_seed, rng = self._seeds()
        strata = self._strata(data, y_enc)
        if self.early_stopping:
            tr_idx, va_idx = stratified_holdout(strata, self.validation_fraction, rng)
            if len(va_idx) == 0 or len(np.unique(y_enc[tr_idx])) < 2:
                raise ValueError(
                    "early_stopping needs more rows: the validation split left the training "
                    "part with one class or the validation part empty; lower "
                    "validation_fraction or set early_stopping=False"
                )
            train, val, strata = data.subset(tr_idx), data.subset(va_idx), strata[tr_idx]
        else:
            train, val = data, None

        self._setup(train, torch_seed, warm)
        if not warm or not hasattr(self, "history_"):
            self.history_ = []
        self._fit_loop(train, val, strata, rng)
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

    def _fit_loop(self, train: TrainData, val, strata, rng) -> None:
        best_val, best_state, bad_epochs, best_epoch = np.inf, None, 0, -1
        start = len(self.history_)
        self.n_epochs_ = 0
        for epoch in range(self._n_epochs(len(strata))):
            self._start_epoch(epoch)
            totals: dict[str, float] = {}
            weight_sum = 0.0
            for idx in stratified_batches(strata, self.batch_size, rng):
                batch = train.subset(idx)
                stats = self._train_batch(batch, epoch)
                bw = float(batch.w.sum())
                weight_sum += bw
                for k, v in stats.items():
                    totals[k] = totals.get(k, 0.0) + bw * float(v)
            record = {"epoch": start + epoch}
            record.update({k: v / max(weight_sum, 1e-12) for k, v in totals.items()})
            if val is not None:
                record.update({f"val_{k}": v for k, v in self._validation_metrics(val).items()})
            record.update(self._end_epoch(epoch, train, record))
            self.history_.append(record)
            self.n_epochs_ = epoch + 1
            if self.verbose:
                print(", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                for k, v in record.items()))
            if not all(np.isfinite(v) for v in record.values() if isinstance(v, float)):
                raise FloatingPointError(
                    f"training diverged at epoch {epoch} ({record}); lower lr or eta, or set "
                    "clip_grad_norm"
                )
            if val is not None:
                score = record["val_loss"]
                if score < best_val - self.tol:
                    best_val, bad_epochs = score, 0
                    best_state = self._snapshot()
                    best_epoch = record["epoch"]
                else:
                    bad_epochs += 1
                    if bad_epochs >= self.n_iter_no_change:
                        break
        self.best_epoch_ = best_epoch if best_state is not None else len(self.history_) - 1
        self._select_final_state(best_state)

    # ---------------------------------------------------------------- hooks

    def _setup(self, train: TrainData, seed: int, warm: bool) -> None:
        raise NotImplementedError

    def _train_batch(self, batch: TrainData, epoch: int) -> dict:
        raise NotImplementedError

    def _start_epoch(self, epoch: int) -> None:
        """Called before each epoch (for schedules)."""

    def _end_epoch(self, epoch: int, train: TrainData, record: dict) -> dict:
        """Extra entries for the epoch's history record."""
        return {}

    def _validation_metrics(self, val: TrainData) -> dict:
        """Validation metrics; must contain ``"loss"`` (the early-stopping criterion)."""
        raise NotImplementedError

    def _modules(self) -> dict:
        """Fitted modules whose weights make up the model state (for snapshots)."""
        return {"module_": self.module_}

    def _snapshot(self) -> dict:
        return {k: copy.deepcopy(m.state_dict()) for k, m in self._modules().items()}

    def _restore(self, state: dict) -> None:
        for k, m in self._modules().items():
            m.load_state_dict(state[k])

    def _select_final_state(self, best_state) -> None:
        """Restore the best validation weights when early stopping was used."""
        if best_state is not None:
            self._restore(best_state)

    # ---------------------------------------------------------------- prediction

    def _logits_train(self, X: torch.Tensor) -> torch.Tensor:
        return self.module_(X).reshape(-1)

    def decision_function(self, X):
        """Logit of the positive class ``classes_[1]``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "module_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        # Inference runs in float64 on a copy of the float32 weights: results then do not depend
        # on how rows are batched (BLAS kernels differ by shape in the last float32 bits).
        module = copy.deepcopy(self.module_).to(device="cpu", dtype=torch.float64).eval()
        out = np.empty(X.shape[0], dtype=np.float64)
        with torch.no_grad():
            for s in range(0, X.shape[0], _PREDICT_CHUNK):
                xb = torch.tensor(X[s:s + _PREDICT_CHUNK], dtype=torch.float64)
                out[s:s + _PREDICT_CHUNK] = module(xb).reshape(-1).numpy()
        return out
