"""Differentiable fairness penalties for PyTorch training.

A fairness loss is built from two small parts:

* a **group statistic** (:class:`GroupStatistic`) says *which rate* is compared across groups:
  the selection rate (demographic parity), the true-positive rate (equal opportunity) or the
  false-positive rate;
* a **gap penalty** (:class:`GapPenalty`) says *how the gap is punished*: pairwise between groups
  or each group against the overall rate, squared or absolute.

:class:`FairnessLoss` combines one or more statistics with a gap penalty, per-group weights and an
optional adaptive shrinkage of small groups; :class:`IntersectionalFairnessLoss` adds several
group levels (marginal attributes and their intersection) together, and
:class:`FairnessRegularizerLoss` puts binary cross-entropy and ``eta`` times a fairness term into
one training objective.

Group membership is given either as integer codes of shape ``(n,)`` (``-1`` = in no group) or as
a membership matrix of shape ``(n, n_groups)``. Every per-group quantity is computed with one
``index_add`` or one matrix product, so the cost does not depend on a Python loop over groups;
thousands of groups are fine.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .methods import FAIRNESS_DEFINITIONS

__all__ = [
    "Membership",
    "GroupRates",
    "GroupStatistic",
    "SelectionRate",
    "TruePositiveRate",
    "FalsePositiveRate",
    "GapPenalty",
    "FairnessLoss",
    "DemographicParityLoss",
    "EqualOpportunityLoss",
    "EqualizedOddsLoss",
    "DependencePenaltyLoss",
    "IntersectionalFairnessLoss",
    "FairnessRegularizerLoss",
    "make_fairness_loss",
    "weighted_bce_with_logits",
    "FAIRNESS_LOSSES",
]

# Guards divisions by empty groups; far below any real (weighted) group size.
_TINY = 1e-12
_MODES = ("pairwise", "overall")
_PENALTIES = ("squared", "absolute")
_SURROGATES = ("probability", "sigmoid", "hard")


def weighted_bce_with_logits(logits, labels, sample_weight=None) -> torch.Tensor:
    """Weighted mean binary cross-entropy of ``logits`` against ``labels`` in ``{0, 1}``.

    Parameters
    ----------
    logits, labels : Tensor of shape (n,)
    sample_weight : Tensor of shape (n,), optional

    Returns
    -------
    Tensor, scalar
        ``sum_i w_i (softplus(z_i) - y_i z_i) / sum_i w_i``.

    Notes
    -----
    Written out rather than calling ``F.binary_cross_entropy_with_logits(weight=...)``: that
    kernel is 100x slower on small CPU batches when the cores are shared with other processes.
    """
    per_row = F.softplus(logits) - labels * logits
    if sample_weight is None:
        return per_row.mean()
    return (sample_weight * per_row).sum() / sample_weight.sum().clamp_min(_TINY)



def weighted_bce_models(logits, labels, sample_weight, total=None) -> torch.Tensor:
    """:func:`weighted_bce_with_logits` of K models scored on the same rows, shape (K,).

    ``logits`` has shape (n, K); ``labels`` and ``sample_weight`` shape (n,); ``total`` is the
    weight sum when the caller has it (a mini-batch's, computed once per epoch).
    """
    total = sample_weight.sum() if total is None else total
    per_row = F.softplus(logits) - labels[:, None] * logits
    return (sample_weight[:, None] * per_row).sum(0) / total.clamp_min(_TINY)

# --------------------------------------------------------------------------------------------
# Group membership
# --------------------------------------------------------------------------------------------


class Membership:
    """Group membership of a batch, as integer codes or as a membership matrix.

    Parameters
    ----------
    groups : Tensor, ndarray or Membership
        Integer codes of shape ``(n,)`` (``-1`` means the row belongs to no group) or a
        (possibly soft) membership matrix of shape ``(n, n_groups)``.
    n_groups : int, optional
        Number of groups for integer codes; inferred as ``max(code) + 1`` when omitted.
    device : torch.device, optional
        Where to place the membership tensors.

    Notes
    -----
    Codes are summed with ``index_add`` (memory ``O(n)``), matrices with one matrix product
    (``O(n * n_groups)``); neither loops over groups.
    """

    def __init__(self, groups, n_groups: int | None = None, device=None):
        if isinstance(groups, Membership):
            self.codes, self.matrix, self.n_groups = groups.codes, groups.matrix, groups.n_groups
            self._all_known = groups._all_known
            if n_groups is not None and n_groups != self.n_groups:
                raise ValueError(f"membership has {self.n_groups} groups, expected {n_groups}")
            return
        t = torch.as_tensor(np.asarray(groups) if not torch.is_tensor(groups) else groups)
        if device is not None:
            t = t.to(device)
        if t.ndim == 1:
            if t.dtype.is_floating_point:
                if not torch.all(t == torch.round(t)):
                    raise ValueError("1-D group codes must be integers")
            t = t.long()
            lo, hi = (int(v) for v in torch.aminmax(t)) if t.numel() else (0, -1)
            inferred = hi + 1
            # Rows of no group (-1) are masked out in sum(); a batch without any skips the mask.
            self._all_known = lo >= 0
            if n_groups is None:
                n_groups = inferred
            elif inferred > n_groups:
                raise ValueError(f"group code {inferred - 1} is out of range for {n_groups} groups")
            self.codes, self.matrix = t, None
        elif t.ndim == 2:
            if n_groups is not None and t.shape[1] != n_groups:
                raise ValueError(f"membership matrix has {t.shape[1]} columns, expected {n_groups}")
            n_groups = t.shape[1]
            self.codes, self.matrix, self._all_known = None, t, True
        else:
            raise ValueError(f"group membership must be 1-D codes or a 2-D matrix, got {t.ndim}-D")
        self.n_groups = int(n_groups)

    @classmethod
    def from_codes(cls, codes: torch.Tensor, n_groups: int, all_known: bool) -> "Membership":
        """Membership of integer codes already checked (long, ``-1 <= code < n_groups``).

        For training loops that slice many batches from codes validated once: it skips the
        per-batch range check, a host synchronisation each step.
        """
        m = cls.__new__(cls)
        m.codes, m.matrix, m.n_groups, m._all_known = codes, None, int(n_groups), bool(all_known)
        return m

    def __len__(self) -> int:
        """Number of rows."""
        return len(self.codes) if self.codes is not None else self.matrix.shape[0]

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """Per-group sums of ``values`` (shape ``(n,)`` or ``(n, k)``) -> ``(n_groups, ...)``."""
        if self.codes is not None:
            out = values.new_zeros((self.n_groups,) + tuple(values.shape[1:]))
            if self._all_known:
                return out.index_add(0, self.codes, values)
            keep = self.codes >= 0
            return out.index_add(0, self.codes[keep], values[keep])
        m = self.matrix.to(values.dtype)
        return (m.T @ values.reshape(values.shape[0], -1)).reshape((m.shape[1],) + tuple(values.shape[1:]))


# --------------------------------------------------------------------------------------------
# Group statistics: which rate per group
# --------------------------------------------------------------------------------------------


class GroupRates:
    """Per-group rates of one statistic on one batch.

    Attributes
    ----------
    rate : Tensor of shape (n_groups,)
        Weighted mean score of each group's eligible rows (0 for groups with none).
    weight : Tensor of shape (n_groups,)
        Total sample weight of each group's eligible rows.
    n_eff : Tensor of shape (n_groups,)
        Kish effective sample size ``(sum w)^2 / sum w^2``; equals the row count for unit weights.
    overall : Tensor, scalar
        Weighted mean score over all eligible rows.
    total : Tensor, scalar
        Total weight of all eligible rows.

    Notes
    -----
    With a trailing model axis (K models scored on the same rows) every attribute gains it.
    ``n_eff`` and ``overall`` are computed when first read: most penalties never need them, and
    a training step is dominated by the count of small tensor operations.
    """

    def __init__(self, rate, weight, total, *, weight_sq=None, n_eff=None, score_sum=None, overall=None):
        self.rate, self.weight, self.total = rate, weight, total
        self._weight_sq, self._n_eff = weight_sq, n_eff
        self._score_sum, self._overall = score_sum, overall
        if n_eff is None and weight_sq is None:
            raise ValueError("GroupRates needs n_eff or weight_sq")
        if overall is None and score_sum is None:
            raise ValueError("GroupRates needs overall or score_sum")

    @property
    def n_eff(self) -> torch.Tensor:
        if self._n_eff is None:
            den, den2 = self.weight, self._weight_sq
            self._n_eff = torch.where(den > 0, den * den / den2.clamp_min(_TINY), torch.zeros_like(den))
        return self._n_eff

    @property
    def overall(self) -> torch.Tensor:
        if self._overall is None:
            self._overall = self._score_sum / self.total.clamp_min(_TINY)
        return self._overall

    @property
    def present(self) -> torch.Tensor:
        """Boolean mask of groups with at least one eligible row."""
        return self.weight > 0


class GroupStatistic(nn.Module):
    """Weighted mean of a score per group, optionally restricted to one true label.

    Parameters
    ----------
    condition : {None, 0, 1}
        ``None`` uses every row (selection rate), ``1`` only positives (true-positive rate),
        ``0`` only negatives (false-positive rate).
    name : str, optional
        Label used in logs.
    """

    def __init__(self, condition: int | None = None, name: str | None = None):
        super().__init__()
        if condition not in (None, 0, 1):
            raise ValueError(f"condition must be None, 0 or 1, got {condition!r}")
        self.condition = condition
        self.name = name or {None: "selection_rate", 1: "tpr", 0: "fpr"}[condition]

    def forward(self, scores, labels, membership: Membership, sample_weight=None) -> GroupRates:
        """Compute the per-group rates.

        Parameters
        ----------
        scores : Tensor of shape (n,) or (n, K)
            Soft (or hard) positive decisions in ``[0, 1]``; a second axis holds K models
            scored on the same rows (the batched eta sweep), giving rates of shape (G, K).
        labels : Tensor of shape (n,) or None
            True labels in ``{0, 1}``; required when ``condition`` is set.
        membership : Membership
        sample_weight : Tensor of shape (n,), optional

        Returns
        -------
        GroupRates
        """
        if sample_weight is None:
            w = scores.new_ones(scores.shape[0])
        else:
            w = sample_weight.to(scores.dtype)
        if self.condition is not None:
            if labels is None:
                raise ValueError(f"{self.name} needs the true labels")
            positive = labels.to(scores.dtype) > 0.5
            eligible = positive if self.condition == 1 else ~positive
            w = w * eligible.to(w.dtype).reshape(-1, *([1] * (w.dim() - 1)))
        # Row weights shared by K models: the weight sums are taken once, not K times.
        shared = w.dim() < scores.dim()
        lift = (-1,) + (1,) * (scores.dim() - w.dim())
        ws = (w.reshape(lift) if shared else w) * scores
        num = membership.sum(ws)
        den, den2 = membership.sum(torch.stack([w, w * w], dim=1)).unbind(dim=1)
        if shared:
            den, den2 = den.reshape(lift).expand_as(num), den2.reshape(lift).expand_as(num)
        rate = torch.where(den > 0, num / den.clamp_min(_TINY), torch.zeros_like(num))
        total = w.sum(0).expand_as(num[0])
        return GroupRates(rate=rate, weight=den, total=total, weight_sq=den2, score_sum=ws.sum(0))


class SelectionRate(GroupStatistic):
    """Share of positive decisions per group (demographic parity)."""

    def __init__(self):
        super().__init__(condition=None, name="selection_rate")


class TruePositiveRate(GroupStatistic):
    """Share of positive decisions among true positives per group (equal opportunity)."""

    def __init__(self):
        super().__init__(condition=1, name="tpr")


class FalsePositiveRate(GroupStatistic):
    """Share of positive decisions among true negatives per group."""

    def __init__(self):
        super().__init__(condition=0, name="fpr")


# --------------------------------------------------------------------------------------------
# Gap penalties: how to punish the differences
# --------------------------------------------------------------------------------------------


def _phi(d: torch.Tensor, penalty: str) -> torch.Tensor:
    return d * d if penalty == "squared" else d.abs()


class GapPenalty(nn.Module):
    """Weighted average of a penalty on rate differences between groups.

    Parameters
    ----------
    mode : {"pairwise", "overall"}
        ``"pairwise"``: average of ``phi(r_g - r_h)`` over all pairs of present groups, with pair
        weight ``a_g * a_h``; for two groups this is exactly ``phi(gap)``.
        ``"overall"``: average of ``phi(r_g - r)`` over groups with weight ``a_g``, where ``r``
        is the rate over all rows.
    penalty : {"squared", "absolute"}
        ``phi(d) = d**2`` or ``|d|``.

    Notes
    -----
    Pairwise sums are computed in ``O(G)`` (squared, via the variance identity
    ``sum_gh a_g a_h (r_g - r_h)^2 = 2 A sum_g a_g (r_g - rbar)^2``) or ``O(G log G)`` (absolute,
    via sorting and cumulative sums), never with a loop or a ``G x G`` matrix.
    """

    def __init__(self, mode: str = "pairwise", penalty: str = "squared"):
        super().__init__()
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        if penalty not in _PENALTIES:
            raise ValueError(f"penalty must be one of {_PENALTIES}, got {penalty!r}")
        self.mode = mode
        self.penalty = penalty

    def forward(self, rate, overall, weight) -> torch.Tensor:
        """Penalty for per-group ``rate`` given group weights ``weight`` (0 = ignore group).

        Parameters
        ----------
        rate : Tensor of shape (G,) or (G, K)
            A second axis holds K models, each penalized on its own.
        overall : Tensor, scalar or of shape (K,)
            Reference rate for ``mode="overall"``.
        weight : Tensor of shape (G,) or (G, K)
            Non-negative group weights; absent groups must have weight 0.

        Returns
        -------
        Tensor, scalar or of shape (K,)
        """
        a = weight.expand_as(rate)
        if self.mode == "pairwise" and rate.shape[0] == 2:
            # Two groups: the pair weights cancel, the penalty is phi of the one gap
            # (a few operations instead of the sort and cumulative sums).
            ok = a[0] * a[1] > 0.5 * _TINY
            value = _phi(rate[0] - rate[1], self.penalty)
            return torch.where(ok, value, torch.zeros_like(value))
        total = a.sum(0)
        if self.mode == "overall":
            value = (a * _phi(rate - overall, self.penalty)).sum(0) / total.clamp_min(_TINY)
            return torch.where(total > 0, value, torch.zeros_like(value))
        pair_total = total * total - (a * a).sum(0)  # sum over ordered pairs g != h
        if self.penalty == "squared":
            centre = (a * rate).sum(0) / total.clamp_min(_TINY)
            num = 2.0 * total * (a * (rate - centre) ** 2).sum(0)
        else:
            order = torch.argsort(rate.detach(), dim=0)
            r, aa = rate.gather(0, order), a.gather(0, order)
            before_a = torch.cumsum(aa, 0) - aa
            before_ar = torch.cumsum(aa * r, 0) - aa * r
            num = 2.0 * (aa * (r * before_a - before_ar)).sum(0)
        # Fewer than two weighted groups: no gap to measure.
        ok = pair_total > _TINY
        value = num / torch.where(ok, pair_total, torch.ones_like(pair_total))
        return torch.where(ok, value, torch.zeros_like(value))


# --------------------------------------------------------------------------------------------
# Fairness losses
# --------------------------------------------------------------------------------------------


class FairnessLoss(nn.Module):
    """A fairness penalty: group statistics compared across groups by a gap penalty.

    Parameters
    ----------
    statistics : sequence of GroupStatistic
        The rates to equalise; their penalties are summed.
    mode : {"pairwise", "overall"}, default="pairwise"
        See :class:`GapPenalty`.
    penalty : {"squared", "absolute"}, default="squared"
        See :class:`GapPenalty`.
    surrogate : {"probability", "sigmoid", "hard"}, default="probability"
        How a logit becomes a (soft) positive decision: ``sigmoid(logit)``;
        ``sigmoid((logit - logit(threshold)) / temperature)``, a smooth step that approaches the
        hard decision as ``temperature`` goes to 0; or the hard decision itself (no gradient,
        for monitoring).
    temperature : float, default=1.0
        Width of the smooth step, in logit units (``surrogate="sigmoid"`` only).
    threshold : float, default=0.5
        Decision threshold on the probability scale (``"sigmoid"`` and ``"hard"``).
    group_weights : array-like of shape (n_groups,), optional
        User weights per group (non-negative). Defaults to 1 for every group.
    adaptive : bool, default=False
        Multiply each group's weight by ``n_eff / (n_eff + shrinkage)`` where ``n_eff`` is the
        group's effective sample size for the statistic in the batch, so a group of a dozen
        rows (an estimate with large uncertainty) cannot dominate the penalty.
    shrinkage : float, default=20.0
        Pseudo-count of the adaptive shrinkage: a group of ``shrinkage`` rows gets half weight.

    Notes
    -----
    ``forward(logits, labels, groups, sample_weight=None)`` returns a non-negative scalar that is
    zero when every group has the same rate. Inputs are never modified.
    """

    def __init__(
        self,
        statistics: Sequence[GroupStatistic],
        *,
        mode: str = "pairwise",
        penalty: str = "squared",
        surrogate: str = "probability",
        temperature: float = 1.0,
        threshold: float = 0.5,
        group_weights=None,
        adaptive: bool = False,
        shrinkage: float = 20.0,
    ):
        super().__init__()
        if not statistics:
            raise ValueError("at least one group statistic is needed")
        self.statistics = nn.ModuleList(statistics)
        self.gap = GapPenalty(mode, penalty)
        if surrogate not in _SURROGATES:
            raise ValueError(f"surrogate must be one of {_SURROGATES}, got {surrogate!r}")
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature!r}")
        if not 0 < threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
        if shrinkage < 0:
            raise ValueError(f"shrinkage must be non-negative, got {shrinkage!r}")
        self.surrogate = surrogate
        self.temperature = float(temperature)
        self.threshold = float(threshold)
        if group_weights is not None:
            gw = np.asarray(group_weights, dtype=np.float64)
            if gw.ndim != 1 or np.any(gw < 0) or not np.all(np.isfinite(gw)):
                raise ValueError("group_weights must be a 1-D array of non-negative finite numbers")
            group_weights = gw
        self.group_weights = group_weights
        self.adaptive = bool(adaptive)
        self.shrinkage = float(shrinkage)

    @property
    def mode(self) -> str:
        """How groups are compared: ``"pairwise"`` or ``"overall"``."""
        return self.gap.mode

    @property
    def penalty(self) -> str:
        """How a gap is punished: ``"squared"`` or ``"absolute"``."""
        return self.gap.penalty

    def scores(self, logits: torch.Tensor) -> torch.Tensor:
        """Soft positive decisions in ``[0, 1]`` for ``logits``."""
        if self.surrogate == "probability":
            return torch.sigmoid(logits)
        shift = math.log(self.threshold / (1.0 - self.threshold))
        if self.surrogate == "sigmoid":
            return torch.sigmoid((logits - shift) / self.temperature)
        return (logits.detach() > shift).to(logits.dtype)

    #: Whether :meth:`forward_models` can score K models at once (see the batched eta sweep).
    supports_models = True

    def _prepare(self, logits, labels, groups, sample_weight, models: bool = False):
        if not models:
            logits = logits.reshape(-1)
        elif logits.dim() != 2:
            raise ValueError(f"logits of K models must have shape (n, K), got {tuple(logits.shape)}")
        n_groups = None if self.group_weights is None else len(self.group_weights)
        membership = Membership(groups, n_groups=n_groups, device=logits.device)
        if len(membership) != logits.shape[0]:
            raise ValueError(
                f"group membership has {len(membership)} rows but logits have {logits.shape[0]}"
            )
        if labels is not None:
            labels = torch.as_tensor(labels, device=logits.device).reshape(-1)
        if sample_weight is not None:
            sample_weight = torch.as_tensor(sample_weight, device=logits.device).reshape(-1)
            sample_weight = sample_weight.to(logits.dtype)
        return logits, labels, membership, sample_weight

    def group_weight_vector(self, rates: GroupRates) -> torch.Tensor:
        """Effective per-group weights: user weight x presence x adaptive shrinkage."""
        a = rates.present.to(rates.rate.dtype)
        if self.group_weights is not None:
            gw = torch.as_tensor(self.group_weights, dtype=a.dtype, device=a.device)
            a = a * gw.reshape(-1, *([1] * (a.dim() - 1)))
        if self.adaptive:
            a = a * rates.n_eff / (rates.n_eff + self.shrinkage)
        return a

    def group_rates(self, logits, labels, groups, sample_weight=None, *, models: bool = False) -> list[GroupRates]:
        """The per-group rates of each statistic (useful for logging and constraints).

        With ``models=True``, ``logits`` has shape (n, K) (K models on the same rows) and every
        rate gains a trailing model axis.
        """
        logits, labels, membership, sample_weight = self._prepare(
            logits, labels, groups, sample_weight, models
        )
        s = self.scores(logits)
        return [stat(s, labels, membership, sample_weight) for stat in self.statistics]

    def penalty_from_rates(self, rates: GroupRates) -> torch.Tensor:
        """Penalty of one statistic's rates (override for other divergences)."""
        overall = rates.overall if self.mode == "overall" else None  # only "overall" reads it
        return self.gap(rates.rate, overall, self.group_weight_vector(rates))

    def forward(self, logits, labels, groups, sample_weight=None) -> torch.Tensor:
        """Fairness penalty of a batch.

        Parameters
        ----------
        logits : Tensor of shape (n,) or (n, 1)
        labels : Tensor of shape (n,) or None
            True labels in ``{0, 1}`` (needed by TPR/FPR statistics).
        groups : Tensor of shape (n,) (integer codes) or (n, n_groups) (membership), or Membership
        sample_weight : Tensor of shape (n,), optional

        Returns
        -------
        Tensor, scalar
        """
        return self._total(self.group_rates(logits, labels, groups, sample_weight))

    def forward_models(self, logits, labels, groups, sample_weight=None) -> torch.Tensor:
        """Penalty of K models scored on the same batch, each on its own.

        Equal to ``forward`` applied to every column of ``logits``, in one pass of vectorised ops
        (no loop and no ``vmap`` over the models).

        Parameters
        ----------
        logits : Tensor of shape (n, K)
        labels, groups, sample_weight
            As in :meth:`forward`, shared by the K models.

        Returns
        -------
        Tensor of shape (K,)
        """
        if not self.supports_models:
            raise NotImplementedError(f"{type(self).__name__} scores one model at a time")
        return self._total(self.group_rates(logits, labels, groups, sample_weight, models=True))

    def _total(self, rates: list) -> torch.Tensor:
        total = self.penalty_from_rates(rates[0])
        for r in rates[1:]:
            total = total + self.penalty_from_rates(r)
        return total


class DemographicParityLoss(FairnessLoss):
    """Gap in selection rates between groups (demographic parity).

    Parameters
    ----------
    **kwargs
        Options of :class:`FairnessLoss` (``mode``, ``penalty``, ``surrogate``, ``temperature``,
        ``threshold``, ``group_weights``, ``adaptive``, ``shrinkage``).
    """

    def __init__(self, **kwargs):
        super().__init__([SelectionRate()], **kwargs)


class EqualOpportunityLoss(FairnessLoss):
    """Gap in true-positive rates between groups (equal opportunity).

    Parameters
    ----------
    **kwargs
        Options of :class:`FairnessLoss`.
    """

    def __init__(self, **kwargs):
        super().__init__([TruePositiveRate()], **kwargs)


class EqualizedOddsLoss(FairnessLoss):
    """Sum of the true-positive-rate gap and the false-positive-rate gap (equalized odds).

    Parameters
    ----------
    **kwargs
        Options of :class:`FairnessLoss`.
    """

    def __init__(self, **kwargs):
        super().__init__([TruePositiveRate(), FalsePositiveRate()], **kwargs)


class DependencePenaltyLoss(FairnessLoss):
    """Prejudice-remover style penalty on the dependence between prediction and group.

    Parameters
    ----------
    measure : {"covariance", "mutual_information"}, default="covariance"
        ``"covariance"``: the covariance between the soft prediction and each group indicator,
        ``cov_g = pi_g (r_g - r)`` (``pi_g`` the group's weight share), punished with
        ``penalty`` (Zafar et al., 2017). With ``mode="pairwise"`` each pair of groups uses the
        covariance within the two groups' union, ``p (1 - p) (r_g - r_h)`` with
        ``p = pi_g / (pi_g + pi_h)`` (this builds a ``G x G`` matrix).
        ``"mutual_information"``: the plug-in estimate of the mutual information between the
        (soft) decision and the group, ``sum_g pi_g KL(Bern(r_g) || Bern(r))`` (Kamishima et
        al., 2012); ``mode`` and ``penalty`` do not apply to it.
    mode : {"overall", "pairwise"}, default="overall"
    **kwargs
        Other options of :class:`FairnessLoss`. Group weights multiply each group's term.
    """

    def __init__(self, measure: str = "covariance", *, mode: str = "overall", **kwargs):
        if measure not in ("covariance", "mutual_information"):
            raise ValueError(
                f"measure must be 'covariance' or 'mutual_information', got {measure!r}"
            )
        super().__init__([SelectionRate()], mode=mode, **kwargs)
        self.measure = measure

    # Its penalties reduce over every axis; the batched sweep vmaps it instead.
    supports_models = False

    def penalty_from_rates(self, rates: GroupRates) -> torch.Tensor:
        a = self.group_weight_vector(rates)
        share = rates.weight / rates.weight.sum().clamp_min(_TINY)
        r = rates.rate
        if self.measure == "mutual_information":
            aw = a * share
            norm = aw.sum().clamp_min(_TINY)
            eps = 1e-6
            rc = r.clamp(eps, 1 - eps)
            mix = ((aw * rc).sum() / norm).clamp(eps, 1 - eps)
            kl = rc * torch.log(rc / mix) + (1 - rc) * torch.log((1 - rc) / (1 - mix))
            return ((aw * kl).sum() / norm).clamp_min(0.0)
        if self.mode == "overall":
            cov = share * (r - rates.overall)
            return (a * _phi(cov, self.penalty)).sum() / a.sum().clamp_min(_TINY)
        pair_share = share[:, None] + share[None, :]
        p = share[:, None] / pair_share.clamp_min(_TINY)
        cov = p * (1 - p) * (r[:, None] - r[None, :])
        pair_w = a[:, None] * a[None, :]
        pair_w = pair_w - torch.diag_embed(torch.diagonal(pair_w))
        return (pair_w * _phi(cov, self.penalty)).sum() / pair_w.sum().clamp_min(_TINY)


FAIRNESS_LOSSES = {
    "demographic_parity": DemographicParityLoss,
    "equal_opportunity": EqualOpportunityLoss,
    "equalized_odds": EqualizedOddsLoss,
    "dependence": DependencePenaltyLoss,
}


#: fairlearn's names of the criteria whose names here differ (where fairkit wraps fairlearn it
#: accepts fairlearn's spelling), read from the one table of definitions.
FAIRLEARN_NAMES = {d.fairlearn_constraint: key for key, d in FAIRNESS_DEFINITIONS.items()
                   if d.fairlearn_constraint and d.fairlearn_constraint != key}


def fairness_name(name):
    """A fairness criterion's name here, given in fairkit's or fairlearn's spelling
    (``"true_positive_rate_parity"`` is ``"equal_opportunity"``); other values unchanged."""
    return FAIRLEARN_NAMES.get(name, name) if isinstance(name, str) else name


def make_fairness_loss(name: str, **kwargs) -> FairnessLoss:
    """Build a fairness loss by name.

    Parameters
    ----------
    name : {"demographic_parity", "equal_opportunity", "equalized_odds", "dependence"}
    **kwargs
        Options of the loss class.

    Returns
    -------
    FairnessLoss
    """
    try:
        cls = FAIRNESS_LOSSES[fairness_name(name)]
    except KeyError:
        raise ValueError(
            f"unknown fairness criterion {name!r}; choose one of {sorted(FAIRNESS_LOSSES)}"
        ) from None
    return cls(**kwargs)


class IntersectionalFairnessLoss(nn.Module):
    """Hierarchical penalty over several group levels (marginals and intersections together).

    Parameters
    ----------
    base_loss : FairnessLoss or sequence of FairnessLoss
        The penalty applied at every level, or one penalty per level (for example with its own
        ``group_weights``).
    levels : int or sequence of str, optional
        Level names (for logging) or their number. Defaults to the number of losses given, or 1.
    level_weights : sequence of float, optional
        Relative weight of each level; the result is the weighted mean of the level penalties,
        so ``eta`` keeps its scale however many levels there are. Defaults to equal weights.

    Notes
    -----
    ``forward(logits, labels, groups, sample_weight=None)`` takes ``groups`` as a sequence with
    one membership (codes or matrix) per level, for example the encodings of
    :func:`fairkit.groups.group_hierarchy`. Combine with ``adaptive=True`` on the base loss so a
    sparse intersection is penalized in proportion to how much its rates can be trusted, while
    the marginal groups keep full weight.
    """

    def __init__(self, base_loss, levels=None, level_weights=None):
        super().__init__()
        losses = list(base_loss) if isinstance(base_loss, (list, tuple, nn.ModuleList)) else None
        if levels is None:
            levels = len(losses) if losses is not None else 1
        names = [f"level{i}" for i in range(levels)] if isinstance(levels, int) else list(levels)
        if not names:
            raise ValueError("at least one level is needed")
        if losses is None:
            losses = [base_loss] * len(names)
        if len(losses) != len(names):
            raise ValueError(f"{len(losses)} losses given for {len(names)} levels")
        self.level_names = [str(n) for n in names]
        self.losses = nn.ModuleList(losses)
        if level_weights is None:
            level_weights = [1.0] * len(names)
        lw = np.asarray(level_weights, dtype=np.float64)
        if lw.shape != (len(names),) or np.any(lw < 0) or lw.sum() <= 0:
            raise ValueError(f"level_weights must be {len(names)} non-negative numbers, not all 0")
        self.level_weights = lw

    def terms(self, logits, labels, groups, sample_weight=None) -> dict[str, torch.Tensor]:
        """Penalty of each level, by level name."""
        if len(groups) != len(self.losses):
            raise ValueError(f"{len(groups)} group levels given, expected {len(self.losses)}")
        return {
            name: loss(logits, labels, g, sample_weight)
            for name, loss, g in zip(self.level_names, self.losses, groups)
        }

    @property
    def supports_models(self) -> bool:
        """Whether every level's loss can score K models at once (:meth:`forward_models`)."""
        return all(getattr(loss, "supports_models", False) for loss in self.losses)

    def forward(self, logits, labels, groups, sample_weight=None) -> torch.Tensor:
        """Weighted mean of the level penalties (see class notes for ``groups``)."""
        return self._mean(list(self.terms(logits, labels, groups, sample_weight).values()))

    def forward_models(self, logits, labels, groups, sample_weight=None) -> torch.Tensor:
        """:meth:`forward` for K models scored on the same batch: logits (n, K) -> (K,)."""
        if len(groups) != len(self.losses):
            raise ValueError(f"{len(groups)} group levels given, expected {len(self.losses)}")
        return self._mean([loss.forward_models(logits, labels, g, sample_weight)
                           for loss, g in zip(self.losses, groups)])

    def _mean(self, terms: list) -> torch.Tensor:
        if len(terms) == 1:
            return terms[0]
        total = terms[0] * float(self.level_weights[0])
        for w, t in zip(self.level_weights[1:], terms[1:]):
            total = total + float(w) * t
        return total / float(self.level_weights.sum())


class FairnessRegularizerLoss(nn.Module):
    """Binary cross-entropy plus ``eta`` times a fairness penalty.

    Parameters
    ----------
    fairness_loss : FairnessLoss or IntersectionalFairnessLoss
        The fairness term.
    eta : float, default=1.0
        Final weight of the fairness term (0 = plain cross-entropy).
    schedule : {"constant", "linear_warmup"}, default="constant"
        ``"linear_warmup"`` raises the weight linearly from 0 at epoch 0 to ``eta`` at epoch
        ``warmup_epochs``, so the network first learns the task before being pulled towards
        parity (a common remedy for a penalty that dominates a random initial model).
    warmup_epochs : int, default=5

    Notes
    -----
    Both terms honour sample weights: cross-entropy is the weighted mean, and the group rates in
    the fairness term are weighted means. Call :meth:`set_epoch` at the start of each epoch.
    """

    def __init__(self, fairness_loss, eta: float = 1.0, schedule: str = "constant",
                 warmup_epochs: int = 5):
        super().__init__()
        if eta < 0:
            raise ValueError(f"eta must be non-negative, got {eta!r}")
        if schedule not in ("constant", "linear_warmup"):
            raise ValueError(f"schedule must be 'constant' or 'linear_warmup', got {schedule!r}")
        if schedule == "linear_warmup" and warmup_epochs < 1:
            raise ValueError("warmup_epochs must be at least 1")
        self.fairness_loss = fairness_loss
        self.eta = float(eta)
        self.schedule = schedule
        self.warmup_epochs = int(warmup_epochs)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Tell the schedule which epoch (0-based) is starting."""
        self.epoch = int(epoch)

    @property
    def current_eta(self) -> float:
        """Weight of the fairness term at the current epoch."""
        if self.schedule == "constant":
            return self.eta
        return self.eta * min(1.0, self.epoch / self.warmup_epochs)

    def terms(self, logits, labels, groups, sample_weight=None) -> dict[str, torch.Tensor]:
        """``{"loss", "bce", "fairness"}`` for a batch; ``groups=None`` gives a zero penalty."""
        logits = logits.reshape(-1)
        labels = torch.as_tensor(labels, device=logits.device).reshape(-1).to(logits.dtype)
        if sample_weight is not None:
            sample_weight = torch.as_tensor(sample_weight, device=logits.device).reshape(-1)
            sample_weight = sample_weight.to(logits.dtype)
        bce = weighted_bce_with_logits(logits, labels, sample_weight)
        eta = self.current_eta
        if groups is None or eta == 0:
            # Skipping the term at eta=0 keeps the gradients bit-identical to plain training.
            fair = bce.new_zeros(()) if groups is None else self.fairness_loss(
                logits.detach(), labels, groups, sample_weight
            )
            return {"loss": bce, "bce": bce, "fairness": fair.detach()}
        fair = self.fairness_loss(logits, labels, groups, sample_weight)
        return {"loss": bce + eta * fair, "bce": bce, "fairness": fair}

    def forward(self, logits, labels, groups, sample_weight=None) -> torch.Tensor:
        """Total loss ``bce + current_eta * fairness`` (scalar)."""
        return self.terms(logits, labels, groups, sample_weight)["loss"]
