"""Sensitive columns to group labels, intersections and membership matrices.

Every part of fairkit that needs "which group is this row in" goes through this module, so
marginal groups, intersections (``Female & Black``) and the small-group policy are defined once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SEP = " & "
MISSING = "(missing)"


@dataclass(frozen=True)
class GroupEncoding:
    """Integer codes for group membership.

    Attributes
    ----------
    codes : ndarray of shape (n_samples,), dtype int64
        Index of each row's group into ``names``.
    names : ndarray of shape (n_groups,), dtype object
        Group labels, sorted.
    """

    codes: np.ndarray
    names: np.ndarray

    @property
    def n_groups(self) -> int:
        return len(self.names)

    def one_hot(self, dtype=np.float32) -> np.ndarray:
        """Membership matrix of shape (n_samples, n_groups)."""
        return one_hot(self.codes, self.n_groups, dtype=dtype)

    def counts(self) -> np.ndarray:
        return np.bincount(self.codes, minlength=self.n_groups)


def _as_frame(sensitive) -> pd.DataFrame:
    if isinstance(sensitive, pd.DataFrame):
        return sensitive
    if isinstance(sensitive, pd.Series):
        return sensitive.to_frame(name=sensitive.name if sensitive.name is not None else "group")
    arr = np.asarray(sensitive, dtype=object)
    if arr.ndim == 1:
        return pd.DataFrame({"group": arr})
    if arr.ndim == 2:
        return pd.DataFrame(arr, columns=[f"s{i}" for i in range(arr.shape[1])])
    raise ValueError(f"sensitive features must be 1-D or 2-D, got {arr.ndim}-D")


def _column_labels(col: pd.Series) -> pd.Series:
    out = col.astype(object).where(col.notna(), MISSING)
    return out.map(str)


def group_labels(sensitive, columns=None, sep: str = SEP) -> pd.Series:
    """One label per row: the value of a single sensitive column, or the intersection of several.

    Parameters
    ----------
    sensitive : DataFrame, Series or array-like
        The sensitive attribute(s). A DataFrame with several columns gives intersections.
    columns : list of str, optional
        Columns of ``sensitive`` to use (all when omitted).
    sep : str
        Separator between the parts of an intersection label.

    Returns
    -------
    Series of str
        Missing values become ``"(missing)"`` rather than being dropped, so no row is lost.
    """
    frame = _as_frame(sensitive)
    if columns is not None:
        frame = frame[list(columns)]
    if frame.shape[1] == 0:
        raise ValueError("no sensitive column given")
    parts = [_column_labels(frame[c]) for c in frame.columns]
    labels = parts[0]
    for p in parts[1:]:
        labels = labels + sep + p
    labels.index = frame.index
    labels.name = sep.join(map(str, frame.columns))
    return labels


def encode_groups(sensitive, names=None) -> GroupEncoding:
    """Encode sensitive features (labels, a Series or a multi-column frame) as integer codes.

    Parameters
    ----------
    sensitive : array-like or DataFrame or None
        ``None`` gives a single group (a plain, unconstrained problem).
    names : array-like, optional
        Known group names (for example from training); rows whose label is not among them get
        code ``-1``.
    """
    if sensitive is None:
        raise ValueError("sensitive is None")
    labels = group_labels(sensitive).to_numpy(dtype=object)
    if names is None:
        names = np.array(sorted(set(labels)), dtype=object)
    else:
        names = np.asarray(names, dtype=object)
    # A hash lookup in C (unknown labels -> -1); a Python loop here was a sixth of a sweep's
    # evaluation time on Adult.
    codes = pd.Index(names).get_indexer(labels).astype(np.int64)
    return GroupEncoding(codes=codes, names=names)


def one_hot(codes, n_groups: int, dtype=np.float32) -> np.ndarray:
    """Membership matrix from integer codes; rows with code -1 are all zero."""
    codes = np.asarray(codes, dtype=np.int64)
    out = np.zeros((len(codes), n_groups), dtype=dtype)
    ok = codes >= 0
    out[np.flatnonzero(ok), codes[ok]] = 1
    return out


@dataclass(frozen=True)
class GroupLevel:
    """One level of a group hierarchy: a marginal attribute or an intersection."""

    name: str
    encoding: GroupEncoding
    columns: tuple


def group_hierarchy(sensitive, sep: str = SEP) -> list[GroupLevel]:
    """Marginal groups of each sensitive column, then their full intersection (if more than one).

    Used for hierarchical penalties (marginals and intersections together) and for calibration
    fallback from a small intersection to its parent marginal group.
    """
    frame = _as_frame(sensitive)
    levels = [
        GroupLevel(str(c), encode_groups(frame[[c]]), (c,)) for c in frame.columns
    ]
    if frame.shape[1] > 1:
        levels.append(
            GroupLevel(sep.join(map(str, frame.columns)), encode_groups(frame), tuple(frame.columns))
        )
    return levels


def small_groups(labels, min_size: int) -> pd.Series:
    """Counts of the groups with fewer than ``min_size`` rows, smallest first."""
    counts = pd.Series(labels).value_counts()
    return counts[counts < min_size].sort_values()


POOLED = "Other (small groups)"


@dataclass(frozen=True)
class SmallGroupPooling:
    """The small-group policy for training: rare groups share one pooled label.

    Fairness terms and constraints over a group of a handful of people are decided by noise (a
    hard parity constraint over 5 people can force a constant classifier). Training therefore
    sees the finest grouping (the intersection of the sensitive attributes) with every group
    smaller than ``min_size`` training rows merged into ``"Other (small groups)"``. Keeping
    the intersection protects the marginal groups too: a marginal rate is a weighted mean of its
    intersections' rates. Metrics still report every group (small ones flagged).

    Attributes
    ----------
    kept : tuple of str
        Groups large enough to keep their own label.
    pooled : tuple of str
        Groups merged into the pooled label at training time.
    """

    kept: tuple
    pooled: tuple
    min_size: int

    @classmethod
    def fit(cls, labels, min_size: int = 30) -> "SmallGroupPooling":
        counts = pd.Series(labels).value_counts()
        small = counts[counts < min_size]
        if len(counts) - len(small) < 1 or len(small) == 0:
            return cls(kept=tuple(sorted(map(str, counts.index))), pooled=(), min_size=min_size)
        return cls(kept=tuple(sorted(map(str, counts[counts >= min_size].index))),
                   pooled=tuple(sorted(map(str, small.index))), min_size=min_size)

    def transform(self, labels) -> pd.Series:
        """Labels with every group not kept (small or unseen) replaced by the pooled label."""
        s = pd.Series(labels).astype(str)
        return s.where(s.isin(self.kept), POOLED).rename("group")

    def to_dict(self) -> dict:
        return {"kept": list(self.kept), "pooled": list(self.pooled), "min_size": self.min_size}

    @classmethod
    def from_dict(cls, d: dict) -> "SmallGroupPooling":
        return cls(kept=tuple(d["kept"]), pooled=tuple(d["pooled"]), min_size=int(d["min_size"]))
