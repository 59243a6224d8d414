"""Adversarial debiasing: a predictor trained to defeat an adversary that guesses the group."""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fairkit.estimators._torch_base import TorchFairClassifierBase, TrainData, accuracy, make_mlp
from fairkit.losses import weighted_bce_with_logits


class GradientReversalFunction(torch.autograd.Function):
    """Identity on the forward pass; multiplies the gradient by ``-lambd`` on the backward pass.

    Placed between a predictor and an adversary, it lets one backward pass train the adversary
    to *minimise* its loss while pushing the predictor to *maximise* it (Ganin & Lempitsky, 2015).
    """

    @staticmethod
    def forward(ctx, x, lambd):
        ctx.lambd = float(lambd)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return -ctx.lambd * grad_output, None


def grad_reverse(x: torch.Tensor, lambd: float = 1.0) -> torch.Tensor:
    """Apply :class:`GradientReversalFunction` with coefficient ``lambd``."""
    return GradientReversalFunction.apply(x, lambd)


class GradientReversalLayer(nn.Module):
    """Module wrapper of :class:`GradientReversalFunction`.

    Parameters
    ----------
    lambd : float, default=1.0
        Gradient multiplier magnitude: the backward pass returns ``-lambd * grad``.
    """

    def __init__(self, lambd: float = 1.0):
        super().__init__()
        self.lambd = float(lambd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x`` unchanged; its gradient comes back multiplied by ``-lambd``."""
        return grad_reverse(x, self.lambd)

    def extra_repr(self) -> str:
        return f"lambd={self.lambd}"


class _Adversary(nn.Module):
    """Shared trunk plus one softmax head per group level."""

    def __init__(self, n_inputs, hidden, activation, n_groups_per_level):
        super().__init__()
        self.trunk = make_mlp(n_inputs, tuple(hidden)[:-1], activation,
                              n_outputs=hidden[-1]) if hidden else nn.Identity()
        width = hidden[-1] if hidden else n_inputs
        self.act = nn.ReLU() if hidden else nn.Identity()
        self.heads = nn.ModuleList(nn.Linear(width, k) for k in n_groups_per_level)

    def forward(self, z):
        h = self.act(self.trunk(z))
        return [head(h) for head in self.heads]


class AdversarialDebiasingClassifier(TorchFairClassifierBase):
    """Predictor trained jointly with an adversary that predicts the group from its output.

    The adversary sees the predictor's logit (and, for ``variant="equalized_odds"``, the true
    label as well, so only group information *beyond* the label is removed, Zhang et al. 2018)
    through a :class:`GradientReversalLayer` with coefficient ``eta``. One backward pass of
    ``BCE + CE_adversary`` then trains the adversary to find the group and the predictor to be
    accurate while hiding it. This is gradient reversal (Ganin & Lempitsky, 2015): Zhang et
    al.'s own update also removes from the predictor's gradient its projection on the
    adversary's, which this does not.

    Parameters
    ----------
    eta : float, default=1.0
        Adversary weight: the predictor receives ``-eta`` times the adversary's gradient.
        0 gives a plain classifier (the adversary still trains but cannot affect it); larger
        hides the group harder, which is meant to be fairer but need not be: the min-max game is
        unstable, and on German the equalized-odds gap grew with ``eta`` (5 seeds). Measure
        each model's gap.
    variant : {"demographic_parity", "equalized_odds"}, default="demographic_parity"
    adversary_hidden_layer_sizes : tuple of int, default=(16,)
        Adversary network; ``()`` makes it multinomial logistic regression.
    adversary_lr : float, default=1e-2
        Learning rate of the adversary's own Adam optimizer.
    hierarchical : bool, default=True
        With several sensitive columns, one adversary head per marginal attribute plus one for
        the intersection (losses averaged); otherwise the intersection only.
    hidden_layer_sizes, activation, lr, batch_size, max_epochs, max_steps, weight_decay, \
clip_grad_norm, early_stopping, validation_fraction, n_iter_no_change, tol, warm_start, random_state, device, \
verbose
        As in :class:`~fairkit.estimators.FairRegularizedClassifier` (``clip_grad_norm`` applies to
        the predictor and the adversary separately). Early stopping uses the validation
        cross-entropy of the predictor minus ``eta`` times the adversary's loss.

    Attributes
    ----------
    module_ : torch.nn.Module
        The predictor (outputs logits); the only part used at prediction time.
    adversary_ : torch.nn.Module or None
        The trained adversary (None without sensitive features).
    classes_, n_features_in_, n_epochs_, best_epoch_, sensitive_levels_, group_names_
        As in :class:`~fairkit.estimators.FairRegularizedClassifier`.
    history_ : list of dict
        Per epoch: ``loss`` (predictor objective ``bce - eta * adversary_loss``), ``bce``,
        ``fairness`` and ``adversary_loss`` (adversary cross-entropy, averaged over levels),
        ``adversary_accuracy``, plus ``val_*`` entries with early stopping.
    """

    def __init__(
        self,
        eta=1.0,
        variant="demographic_parity",
        *,
        adversary_hidden_layer_sizes=(16,),
        adversary_lr=1e-2,
        hierarchical=True,
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
        self.variant = variant
        self.adversary_hidden_layer_sizes = adversary_hidden_layer_sizes
        self.adversary_lr = adversary_lr
        self.hierarchical = hierarchical
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

    def _validate_params(self):
        super()._validate_params()
        if self.variant not in ("demographic_parity", "equalized_odds"):
            raise ValueError(
                f"variant must be 'demographic_parity' or 'equalized_odds', got {self.variant!r}"
            )
        if not (self.adversary_lr > 0 and math.isfinite(self.adversary_lr)):
            raise ValueError(f"adversary_lr must be a finite positive number, got {self.adversary_lr!r}")
        sizes = self.adversary_hidden_layer_sizes
        if not (isinstance(sizes, (tuple, list)) and all(
                isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k >= 1 for k in sizes)):
            # (0,) trained a zero-width adversary, (-2,) failed inside torch (estimators audit, session 51).
            raise ValueError(f"adversary_hidden_layer_sizes must be a tuple of whole numbers of at least 1, got {sizes!r}")

    _training_attrs = ("_nets", "_adversary", "_adv_optimizer", "_grl")

    def _setup(self, models, train: TrainData, seed: int) -> None:
        # The predictor is built by fit_models from the same seed as the other estimators: at
        # eta=0 it is the very network a plain fit would train.
        self._adversary = None
        self._grl = GradientReversalLayer(self.eta)
        if train.has_groups:
            n_in = 3 if self.variant == "equalized_odds" else 1
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed + 1)
                self._adversary = _Adversary(
                    n_in, tuple(self.adversary_hidden_layer_sizes), self.activation,
                    [lv.encoding.n_groups for lv in train.levels],
                ).to(device=self._device(), dtype=torch.float32)
            self._adv_optimizer = torch.optim.Adam(self._adversary.parameters(),
                                                   lr=self.adversary_lr)

    def _adversary_input(self, logits, y):
        z = self._grl(logits).unsqueeze(1)
        if self.variant == "equalized_odds":
            yy = y.unsqueeze(1)
            z = torch.cat([z, z * yy, yy], dim=1)
        return z

    def _adversary_terms(self, logits, data: TrainData):
        outs = self._adversary(self._adversary_input(logits, data.y))
        wsum = data.w.sum()
        losses, correct = [], []
        for out, codes in zip(outs, data.groups):
            ce = F.cross_entropy(out, codes, reduction="none")
            losses.append((ce * data.w).sum() / wsum)
            correct.append(((out.argmax(1) == codes).float() * data.w).sum() / wsum)
        return torch.stack(losses).mean(), torch.stack(correct).mean()

    def _terms(self, logits, data: TrainData):
        bce = weighted_bce_with_logits(logits, data.y, data.w)
        if self._adversary is None:
            return bce, None, None
        adv_loss, adv_acc = self._adversary_terms(logits, data)
        return bce, adv_loss, adv_acc

    def _batch_loss(self, logits, batch: TrainData):
        bce, adv_loss, adv_acc = self._terms(logits[:, 0], batch)
        b = bce.detach()
        if adv_loss is None:
            return bce.reshape(1), {"loss": b, "bce": b, "fairness": torch.zeros_like(b)}
        self._adv_optimizer.zero_grad(set_to_none=True)
        a = adv_loss.detach()
        # The reversal layer turns this sum into min over the adversary, max over the predictor.
        return (bce + adv_loss).reshape(1), {
            "loss": b - self.eta * a, "bce": b, "fairness": a, "adversary_loss": a,
            "adversary_accuracy": adv_acc.detach()}

    def _after_step(self) -> None:
        if self._adversary is not None:
            self._clip(self._adversary.parameters())
            self._adv_optimizer.step()

    def _validation_metrics(self, logits, val: TrainData) -> list:
        logits = logits[:, 0]
        bce, adv_loss, adv_acc = self._terms(logits, val)
        out = {"bce": float(bce), "accuracy": accuracy(logits, val)}
        out["loss"] = float(bce) if adv_loss is None else float(bce) - self.eta * float(adv_loss)
        if adv_loss is not None:
            out["adversary_loss"] = float(adv_loss)
            out["adversary_accuracy"] = float(adv_acc)
        return [out]

    def _snapshot(self) -> dict:
        state = super()._snapshot()
        if self._adversary is not None:
            state["adversary"] = copy.deepcopy(self._adversary.state_dict())
        return state

    def _restore_extras(self, state: dict) -> None:
        if self._adversary is not None:
            self._adversary.load_state_dict(state["adversary"])

    def _finish(self, models) -> None:
        self.adversary_ = self._adversary
        if self.adversary_ is not None:
            self.adversary_.eval()
