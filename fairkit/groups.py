"""Sensitive columns to group labels, intersections and membership matrices.

Every part of fairkit that needs "which group is this row in" goes through this module, so
marginal groups, intersections (``Female & Black``) and the small-group policy are defined once.
"""

from __future__ import annotations

import unicodedata
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


def _named(columns) -> bool:
    """Whether column names are the caller's (not the ones :func:`group_columns` gives values
    without names: ``group``, ``s0``, ``s1``, ...)."""
    return not (list(columns) == ["group"] or list(columns) == [f"s{i}" for i in range(len(columns))])


def group_columns(sensitive) -> list[str]:
    """The names of the sensitive column(s), as fit records them and prediction must repeat them.

    Parameters
    ----------
    sensitive : DataFrame, Series or array-like

    Returns
    -------
    list of str
        A DataFrame's columns or a Series' name when they are strings (scikit-learn's rule for
        feature names: ``pd.DataFrame(array)``'s 0, 1, ... are no names), else ``group`` /
        ``s0``, ``s1``, ... by position.
    """
    columns = list(_as_frame(sensitive).columns)
    if all(isinstance(c, str) for c in columns):
        return columns
    return ["group"] if isinstance(sensitive, pd.Series) or np.ndim(sensitive) == 1 else \
        [f"s{i}" for i in range(len(columns))]


def check_group_columns(fitted, sensitive, who: str) -> None:
    """Refuse sensitive features at prediction that are not the column(s) ``fit`` had.

    Intersection labels join the columns' values in order, so columns swapped, or one of two,
    would name groups fit never saw, and every row would take another group's rule. As
    scikit-learn refuses ``X`` with its named columns renamed or reordered, this refuses them;
    values without names (an array, integer column labels) are compared by their count only.

    Parameters
    ----------
    fitted : list of str
        :func:`group_columns` of ``fit``'s sensitive features.
    sensitive : DataFrame, Series or array-like
        The sensitive features given at prediction.
    who : str
        The estimator's name, for the message.

    Raises
    ------
    ValueError
        When the count of columns differs, or both sides have names and they differ.
    """
    given = group_columns(sensitive)
    fitted = [str(c) for c in fitted]
    if len(given) != len(fitted):
        raise ValueError(f"sensitive_features has {len(given)} column(s) ({', '.join(given)}) but {who} was "
                         f"fitted on {len(fitted)}: {', '.join(fitted)}. Pass the same column(s), in the same order.")
    if _named(given) and _named(fitted) and given != fitted:
        how = "in another order" if sorted(given) == sorted(fitted) else "with other names"
        raise ValueError(f"sensitive_features has the columns {', '.join(given)}, {how} than in fit "
                         f"({', '.join(fitted)}): the groups would be read wrong. Pass the columns "
                         f"{who} was fitted on, in that order.")


def group_frame(sensitive, n: int, name: str = "sensitive", against: str = "y_true") -> pd.DataFrame:
    """``sensitive`` as a frame indexed 0..n-1, refused when it has not ``n`` rows.

    Parameters
    ----------
    sensitive : DataFrame, Series or array-like
    n : int
        The rows it must have.
    name, against : str
        What the message calls the groups and what they must match.

    Returns
    -------
    DataFrame
    """
    frame = _as_frame(sensitive).reset_index(drop=True)
    if len(frame) != n:
        raise ValueError(f"{name} has {len(frame)} rows but {against} has {n}")
    return frame


def first_few(values, most: int = 8, quote=repr, sep: str = ", ") -> str:
    """``values`` for a message: the first ``most``, quoted, joined by ``sep``, and how many more
    there are."""
    values = list(values)
    shown = sep.join(quote(v) for v in values[:most])
    return shown + (f" and {len(values) - most:,} more" if len(values) > most else "")


def label_key(value) -> str | None:
    """A text label as compared for near misses: case, surrounding blanks, a trailing '.' (UCI
    Adult's test file writes '>50K.' where its training file writes '>50K') and Unicode form
    ('Hispánico' composed, or an 'a' and a combining accent, as macOS text may write it: the
    same on screen) aside."""
    if not isinstance(value, str):
        return None
    return unicodedata.normalize("NFKC", value).strip().rstrip(".").rstrip().casefold()


def unseen_groups_note(labels, known, who: str, then: str, *, where: str = "sensitive_features",
                       suspect: bool = True) -> str | None:
    """What a warning says of the groups in ``labels`` that ``fit`` never saw; None when it saw them all.

    A group fit never saw gets a fallback rule (``then`` says which), as it does whatever else
    is scored with it: a person's decision must not depend on who else is in the batch, so rows
    are never refused for their group. When none of the rows' groups was seen, the likelier
    cause is a call that reads other columns or values spelled otherwise, and the note says so.

    Parameters
    ----------
    labels : array-like of str
        Each row's group label (:func:`group_labels`).
    known : collection of str
        The labels fit saw (including those it pooled).
    who : str
        What was fitted ("ThresholdPostProcessor", "this model"), for the message.
    then : str
        What the rows of those groups get ("they use the thresholds of 'M'").
    where : str, default="sensitive_features"
        What holds the groups, for the message.
    suspect : bool, default=True
        Whether rows none of whose groups was seen point to a wrong call (False where another
        part of the model knows those groups: a calibrator fitted on fewer rows).

    Returns
    -------
    str or None
    """
    present = set(pd.unique(np.asarray(labels, dtype=object)).tolist())
    known = set(known)
    unseen = sorted(present - known, key=str)
    if not unseen:
        return None
    text = f"Group(s) in {where} not seen when {who} was fitted: {first_few(unseen)}; {then}."
    near = case_only_matches(unseen, known)
    if near:  # 'Female' for 'female': every woman's decision changed (lifecycle audit, session 45)
        text += f" {near}."
    if suspect and not present & known:
        text += (f" None of the rows' groups was seen (it knows {first_few(sorted(known, key=str))}): check that "
                 "the column(s) and their values are the ones fit had (spelling, case, codes, a number read as "
                 "1.0 where fit had 1).")
    return text


def case_only_pairs(values, known) -> list[tuple]:
    """``(value, known one)`` for each of ``values`` not in ``known`` that :func:`label_key`
    makes one of them."""
    known = list(known)
    keyed = {label_key(str(k)): k for k in known}
    return [(v, keyed[label_key(str(v))]) for v in values
            if v not in known and label_key(str(v)) in keyed]


def case_only_matches(values, known) -> str:
    """Which of ``values`` differ from one of ``known`` only in case, blanks, a trailing '.' or
    Unicode form (:func:`label_key`), in words ("'Female' is 'female' spelled otherwise"); ""
    when none does."""
    pairs = case_only_pairs(values, known)
    if not pairs:
        return ""
    return ("Spelled otherwise (case, blanks or a trailing '.'): "
            + "; ".join(f"{v!r} is {k!r}" for v, k in pairs[:5]) + (" ..." if len(pairs) > 5 else ""))


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

    Notes
    -----
    Groups are their values as text: ``1`` and ``"1"`` in one column are one group (as a file
    read twice may spell them), and so are a missing value and the text ``"(missing)"``;
    fairlearn's ``MetricFrame`` keeps such values apart. Two intersections whose labels would read
    the same (a value holding ``sep``) are told apart by quoting the parts that hold it.
    """
    frame = _as_frame(sensitive)
    if columns is not None:
        frame = frame[list(columns)]
    if frame.shape[1] == 0:
        raise ValueError("no sensitive column given")
    # Each column's distinct values first, then text for each distinct combination only: a
    # sweep's evaluation labels the same few groups of thousands of rows on every call, and
    # str() and string concatenation per row were most of its time (measured on Adult).
    parts = [pd.factorize(frame[c], use_na_sentinel=True) for c in frame.columns]
    names = [np.array([str(u) for u in uniques] + [MISSING], dtype=object) for _, uniques in parts]
    codes = [np.where(c < 0, len(n) - 1, c) for (c, _), n in zip(parts, names)]
    sizes = [len(n) for n in names]
    if np.prod(np.asarray(sizes, dtype=float)) < 2.0 ** 62:
        combos, at = np.unique(np.ravel_multi_index(codes, sizes), return_inverse=True)
        parts_of = list(zip(*np.unravel_index(combos, sizes)))
        text = np.array([sep.join(n[i] for n, i in zip(names, ix)) for ix in parts_of], dtype=object)
        if len(names) > 1 and len(set(text)) < len(text):
            # Values holding the separator made two intersections read the same ("x & y" with "z",
            # "x" with "y & z"): merged, their gap was wrong (oracle audit, session 44). Such parts
            # are quoted, only then, so every other data's labels stay as bundles recorded them.
            quoted = [np.array([f'"{v}"' if sep in v else v for v in n], dtype=object) for n in names]
            text = np.array([sep.join(n[i] for n, i in zip(quoted, ix)) for ix in parts_of], dtype=object)
        values = text[np.asarray(at).reshape(-1)]
    else:  # too many combinations to number: join the labels row by row
        values = names[0][codes[0]]
        for n, c in zip(names[1:], codes[1:]):
            values = values + sep + n[c]
    return pd.Series(values, index=frame.index, name=sep.join(map(str, frame.columns)), dtype=object)


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
# The one minimum group size: below it a group is flagged in reports, left out of gaps
# (fairness_report's default) and pooled for training and for group thresholds.
MIN_GROUP_SIZE = 30


@dataclass(frozen=True)
class SmallGroupPooling:
    """The one small-group policy for estimators: rare groups share one pooled label.

    Fairness terms and constraints over a group of a handful of people are decided by noise (a
    hard parity constraint over 5 people can force a constant classifier). Training therefore
    sees the finest grouping (the intersection of the sensitive attributes) with every group
    smaller than ``min_size`` training rows merged into ``"Other (small groups)"``. Keeping
    the intersection protects the marginal groups too: a marginal rate is a weighted mean of its
    intersections' rates. Metrics still report every group (small ones flagged).

    When the outcomes are given with the outcomes a rate needs (group thresholds bounding a TPR
    need positives in a group, an FPR negatives, a selection rate neither), a group lacking one
    is pooled too, and a pool lacking one joins the largest kept group instead. Groups first
    seen after fitting take ``target``'s label.

    Attributes
    ----------
    kept : tuple of str
        Groups large enough to keep their own label.
    pooled : tuple of str
        Groups merged into ``target`` at training time.
    min_size : int
    target : str
        The label pooled and unseen groups get: ``"Other (small groups)"``, or the largest kept
        group when there is no usable pool.
    """

    kept: tuple
    pooled: tuple
    min_size: int
    target: str = POOLED

    @classmethod
    def fit(cls, labels, min_size: int = MIN_GROUP_SIZE, y=None, needs=(0, 1)) -> "SmallGroupPooling":
        """Decide which groups keep their label.

        Parameters
        ----------
        labels : array-like of str
            Each training row's group.
        min_size : int, default=MIN_GROUP_SIZE
        y : array-like of {0, 1}, optional
            Training outcomes, read with ``needs``.
        needs : tuple of {0, 1}, default=(0, 1)
            With ``y``, the outcomes a group must hold to keep its label whatever its size, and a
            pool to be one (else it joins the largest kept group): a TPR needs positives (1), an
            FPR negatives (0), a selection rate neither (``()``). A TPR-parity threshold pooled a
            200-row group of positives, which has a TPR (review of session 51).
        """
        frame = pd.DataFrame({"g": pd.Series(labels).astype(str).to_numpy()})
        frame["y"] = 0 if y is None else np.asarray(y)
        by = frame.groupby("g")["y"].agg(["size", "min", "max"])
        weak = by["size"] < min_size
        needs = () if y is None else tuple(needs)
        holds = {1: by["max"] == 1, 0: by["min"] == 0}
        for outcome in needs:
            weak |= ~holds[outcome]
        kept = by[~weak]
        if len(kept) == 0:  # nothing is large: pooling everything would erase the groups
            return cls(kept=tuple(sorted(by.index)), pooled=(), min_size=min_size,
                       target=str(by["size"].idxmax()))
        largest = str(kept["size"].idxmax())
        if not weak.any():
            return cls(kept=tuple(sorted(kept.index)), pooled=(), min_size=min_size, target=largest)
        pool = set(frame.loc[frame["g"].isin(by.index[weak]), "y"].tolist())
        usable = all(outcome in pool for outcome in needs)
        return cls(kept=tuple(sorted(kept.index)), pooled=tuple(sorted(by.index[weak])), min_size=min_size,
                   target=POOLED if usable else largest)

    def transform(self, labels) -> pd.Series:
        """Labels with every group not kept (small or unseen) replaced by ``target``."""
        s = pd.Series(labels).astype(str)
        return s.where(s.isin(self.kept), self.target).rename("group")

    def to_dict(self) -> dict:
        return {"kept": list(self.kept), "pooled": list(self.pooled), "min_size": self.min_size,
                "target": self.target}

    @classmethod
    def from_dict(cls, d: dict) -> "SmallGroupPooling":
        # Bundles written before ``target`` existed pooled every other group under POOLED.
        return cls(kept=tuple(d["kept"]), pooled=tuple(d["pooled"]), min_size=int(d["min_size"]),
                   target=str(d.get("target", POOLED)))


# --------------------------------------------------------------------------- group summaries
# Who is in a table before anything is trained (the Data page): sizes, shares, base rates.


def stratification_labels(groups, y, min_count: int) -> np.ndarray | None:
    """Group x label strata for a stratified split, rare cells pooled by label (the one rule of
    every stratified split: train / validation / test, a calibration part, a holdout).

    Cells with fewer than ``min_count`` rows become ``"(rare)|<label>"``. Where a label's rare
    cells still hold a single row, every rare cell is pooled as ``"(rare)"``, and a lone rare row
    joins the largest stratum of its label: one row no longer costs the whole table its group
    strata. None when a stratum of one row is left all the same (no stratified split is possible).
    """
    # Object arrays of Python str: "+" on numpy str arrays needs numpy 2, and the declared floor
    # is numpy 1.26 (tests/test_floors.py runs the floors).
    labels = np.asarray(y).astype(str).astype(object)
    strata = pd.Series(groups).astype(str).to_numpy(dtype=object) + "|" + labels
    counts = pd.Series(strata).value_counts()
    rare = np.isin(strata, counts[counts < min_count].index)
    # Rare group x label cells are pooled by label so the split still runs and stays balanced.
    strata = np.where(rare, "(rare)|" + labels, strata)
    counts = pd.Series(strata).value_counts()
    if rare.any() and (counts < 2).any():
        # COMPAS: one Asian & Female row with outcome 0 was its label's only rare row; that one
        # stratum of one row dropped group stratification for all 6,172 rows, and a group of 58
        # got 3 validation rows for an expected 12 (install audit, session 49).
        strata = np.where(rare, "(rare)", strata)
        if rare.sum() == 1:
            (i,) = np.flatnonzero(rare)
            same = pd.Series(strata[~rare & (labels == labels[i])]).value_counts()
            if len(same):
                strata[i] = same.index[0]
        counts = pd.Series(strata).value_counts()
    if (counts < 2).any():
        return None
    return strata


def _known_outcomes(frame: pd.DataFrame, spec) -> np.ndarray | None:
    """0/1 outcome per row (-1 where missing), or None while the target or its positive label
    is not usable (the Data page summarises groups while the user is still choosing them)."""
    # fairkit.data imports this module; importing it here keeps the import order one-way.
    from .data import DataError, binary_target

    if spec.target not in frame.columns or not frame[spec.target].notna().any():
        return None
    try:
        return binary_target(frame, spec)
    except (DataError, KeyError, TypeError, ValueError):
        return None


def positive_rate(frame: pd.DataFrame, spec) -> float | None:
    """Share of the rows with an outcome that have the positive label (None if not usable).

    Parameters
    ----------
    frame : DataFrame
    spec : DatasetSpec
    """
    y = _known_outcomes(frame, spec)
    known = None if y is None else y[y >= 0]
    return float(known.mean()) if known is not None and len(known) else None


def group_summaries(frame: pd.DataFrame, spec, min_size: int = MIN_GROUP_SIZE) -> dict:
    """Size, share and base rate of the groups of each level of ``spec.sensitive``.

    Rows without an outcome are left out when the target is usable, as they are in training.

    Parameters
    ----------
    frame : DataFrame
    spec : DatasetSpec
        ``sensitive`` columns missing from ``frame`` (or equal to the target) are skipped.
    min_size : int
        Groups with fewer rows are marked ``small``.

    Returns
    -------
    dict of str -> DataFrame
        Keyed by level name as in :func:`group_hierarchy` (each attribute, then the
        intersection). Columns group, rows, share, positive_rate (NaN when the outcome is not
        usable) and small; largest group first.
    """
    present = [c for c in spec.sensitive if c in frame.columns and c != spec.target]
    if not present:
        return {}
    y = _known_outcomes(frame, spec)
    keep = np.ones(len(frame), dtype=bool) if y is None else y >= 0
    out = {}
    for level in group_hierarchy(frame.loc[keep, present]):
        enc = level.encoding
        n = enc.counts()
        table = pd.DataFrame({"group": enc.names, "rows": n, "share": n / max(int(keep.sum()), 1)})
        table["positive_rate"] = (np.nan if y is None else
                                  np.bincount(enc.codes, weights=y[keep], minlength=enc.n_groups)
                                  / np.maximum(n, 1))
        table["small"] = table["rows"] < min_size
        out[level.name] = table.sort_values(["rows", "group"], ascending=[False, True],
                                            ignore_index=True)
    return out
