"""Train / validation / test split and preprocessing.

The split is stratified by group x label so that every part sees every group with both outcomes
(the frontier is chosen on validation and reported on test: docs/ARCHITECTURE.md, "Chosen on
validation, reported on test"). Preprocessing is a scikit-learn ``ColumnTransformer`` fitted on
the training part only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from .data import (MIN_CATEGORY_ROWS, TEST_SIZE, VAL_SIZE, DataError, DatasetSpec, binary_target, encoded_widths,
                   errors, sensitive_proxies, too_wide, usable_feature_columns, validate)
from .groups import (MIN_GROUP_SIZE, POOLED, SmallGroupPooling, first_few, group_labels, group_summaries,
                     stratification_labels)
from .stats import gap_groups

#: The most target values a split records (:attr:`DatasetSplit.target_values`): more are not
#: a set of labels a batch's could be checked against.
MAX_TARGET_VALUES = 50


def frame_hash(frame: pd.DataFrame) -> str:
    """Content hash of a table (values, column names and order), stable across sessions."""
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, frame.columns)).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()


@dataclass
class SplitPart:
    """One part of a split.

    Attributes
    ----------
    X : ndarray of shape (n, n_features), float32
        Preprocessed features.
    y : ndarray of shape (n,), int64
        1 for the positive label, 0 otherwise.
    sensitive : DataFrame
        The raw sensitive columns (one per attribute).
    groups : Series of str
        Each row's group; the intersection when there are several attributes.
    raw : DataFrame
        The feature columns before preprocessing (for estimators that bring their own).
    index : ndarray
        Row positions in the original table.
    """

    X: np.ndarray
    y: np.ndarray
    sensitive: pd.DataFrame
    groups: pd.Series
    raw: pd.DataFrame
    index: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def take(self, rows) -> "SplitPart":
        """The part's rows at positions ``rows`` (features, labels, groups and raw columns alike)."""
        rows = np.asarray(rows)
        return SplitPart(X=self.X[rows], y=self.y[rows], sensitive=self.sensitive.iloc[rows].reset_index(drop=True),
                         groups=self.groups.iloc[rows].reset_index(drop=True),
                         raw=self.raw.iloc[rows].reset_index(drop=True), index=self.index[rows])


@dataclass
class DatasetSplit:
    """A reproducible train / validation / test split with its fitted preprocessing."""

    train: SplitPart
    validation: SplitPart
    test: SplitPart
    spec: DatasetSpec
    preprocessor: ColumnTransformer
    feature_names: list
    seed: int
    data_hash: str
    dropped_rows: int = 0
    notes: list = field(default_factory=list)
    pooling: SmallGroupPooling | None = None
    #: Rows the post-processing methods fit their thresholds on (``threshold_set``), held out
    #: from the base model they threshold and from the choice of the frontier; None: they fit
    #: on the training part (:func:`reserve_threshold_rows`).
    thresholds: SplitPart | None = None
    #: What :attr:`thresholds` holds, for the result store's keys ("" when None).
    thresholds_source: str = ""
    #: The share of the validation part :attr:`thresholds` took (None without them): a
    #: search's re-splits set the same share aside, or they compared candidates measured on
    #: half the validation rows with re-splits measured on all of them (review of session 51).
    threshold_share: float | None = None
    #: The target's values in the rows split (positive and negative labels, as read; None when
    #: there are more than :data:`MAX_TARGET_VALUES`): a bundle records them, so a batch's label
    #: it never saw ("pending") is not read as a negative outcome (:mod:`fairkit.monitor`).
    target_values: list | None = None

    def model_groups(self, part: SplitPart) -> pd.Series:
        """The group labels estimators train and predict with (small groups pooled).

        See :class:`fairkit.groups.SmallGroupPooling`; metrics use ``part.sensitive`` instead.
        """
        if self.pooling is None:
            return part.groups.rename("group")
        return self.pooling.transform(part.groups)

    @property
    def parts(self) -> dict:
        return {"train": self.train, "validation": self.validation, "test": self.test}

    @property
    def table_parts(self) -> list:
        """Every part that holds rows of the table: train, validation, test, and the validation
        rows reserved for the thresholds (:func:`reserve_threshold_rows`), when there are some.
        What is said of the whole table (its rows, missing values, group sizes) counts them all;
        :attr:`parts` are the parts models are trained, chosen and tested on."""
        return [*self.parts.values(), *([self.thresholds] if self.thresholds is not None else [])]

    def sensitive_proxies(self) -> dict:
        """The model inputs that determine a sensitive attribute exactly, each with those
        attributes (:func:`fairkit.data.sensitive_proxies` over :attr:`table_parts`): a model
        that reads no sensitive column still reads them through these."""
        frames = []
        for part in self.table_parts:
            raw = part.raw.reset_index(drop=True)
            extra = part.sensitive.reset_index(drop=True).drop(columns=list(raw.columns), errors="ignore")
            frames.append(pd.concat([raw, extra], axis=1))
        return sensitive_proxies(pd.concat(frames, ignore_index=True), self.raw_columns, list(self.spec.sensitive))

    def reservation(self) -> dict:
        """What a cache key adds for the reserved threshold rows (``{}`` without them, so a
        split without them keeps the keys it always had)."""
        return {} if self.thresholds is None else {"thresholds": self.thresholds_source}

    def threshold_set(self) -> tuple | None:
        """``(X, y, groups)`` of :attr:`thresholds` as a post-processor's ``fit`` takes it
        (``threshold_set=``), or None."""
        t = self.thresholds
        return None if t is None else (t.X, t.y, self.model_groups(t))

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Preprocess new rows with the preprocessing fitted on the training part."""
        return self.preprocessor.transform(frame[self.raw_columns]).astype(np.float32)

    @property
    def raw_columns(self) -> list:
        return list(self.train.raw.columns)


def make_preprocessor(raw: pd.DataFrame) -> ColumnTransformer:
    """Impute, scale numbers and one-hot encode categories (unknown categories ignored)."""
    numeric = [c for c in raw.columns
               if pd.api.types.is_numeric_dtype(raw[c]) and not pd.api.types.is_bool_dtype(raw[c])]
    categorical = [c for c in raw.columns if c not in numeric]
    return ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            ("cat", make_pipeline(
                SimpleImputer(strategy="most_frequent"),
                # Rare categories are pooled so a 2-row category cannot become its own weight.
                OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=MIN_CATEGORY_ROWS,
                              sparse_output=False, dtype=np.float32),
            ), categorical),
        ],
        remainder="drop",
        verbose_feature_names_out=False,
    )


# The strata tried in turn: a table too small for one gets the next (see _split_indices).
_FALLBACK_NOTES = {
    "label": ("The table is too small to stratify the split by group and outcome; it is stratified "
              "by outcome only, so a small group may be missing from validation or test."),
    None: ("The table is too small to stratify the split; its rows are split at random, so a "
           "group or an outcome may be missing from a part."),
}


def stratification_notes(split) -> list[str]:
    """The notes of ``split`` that say it is stratified by less than group x outcome.

    The command line and the Train page say them: the Data page's forecast of each group's rows
    assumes the finer strata (install audit, session 49: COMPAS's split fell back without a word).
    """
    return [n for n in split.notes if n in _FALLBACK_NOTES.values()]


def stratified_by(split) -> str:
    """How ``split`` was stratified, in words: "group x outcome", "outcome only" or "none"."""
    if _FALLBACK_NOTES[None] in split.notes:
        return "none"
    return "outcome only" if _FALLBACK_NOTES["label"] in split.notes else "group x outcome"


def rows_digest(split) -> str:
    """SHA-256 (first 16 hex digits) of which table rows each part of ``split`` holds.

    The seed and the sizes do not name a split across fairkit versions: 0.3.1 split the bundled
    COMPAS data into other rows than 0.3.0 under the same seed and sizes (upgrade audit, session
    50); a decision record names its rows by this digest.
    """
    digest = hashlib.sha256()
    for name, part in (*split.parts.items(), *([("thresholds", split.thresholds)] if split.thresholds is not None
                                                else [])):
        digest.update(name.encode() + b":" + np.asarray(part.index, dtype="<i8").tobytes() + b";")
    return digest.hexdigest()[:16]


def _split_indices(groups: pd.Series, y: np.ndarray, seed: int, val_size: float, test_size: float):
    """Train, validation and test row positions, stratified as finely as the table allows.

    Group x label first; a table too small for it (fewer test rows than strata) falls back to
    the label alone, then to no stratification, with a note saying which. Returns
    ``(train, validation, test, note)``; raises DataError when even a random split fails.
    """
    idx = np.arange(len(y))
    min_count = 3  # one row for each of the three parts
    levels = {"group": stratification_labels(groups, y, min_count),
              "label": stratification_labels(pd.Series(np.zeros(len(y), dtype=int)), y, min_count),
              None: None}
    error = None
    for level, strata in levels.items():
        if level is not None and strata is None:
            continue
        try:
            rest, test_idx = train_test_split(idx, test_size=test_size, random_state=seed, stratify=strata)
            strata_rest = None if strata is None else stratification_labels(
                pd.Series(strata[rest]), y[rest], 2)
            train_idx, val_idx = train_test_split(
                rest, test_size=val_size / (1 - test_size), random_state=seed, stratify=strata_rest)
        except ValueError as exc:
            error = exc
            continue
        return train_idx, val_idx, test_idx, _FALLBACK_NOTES.get(level)
    raise DataError(f"The data is too small to split into train, validation and test ({error}). "
                    "Add rows or reduce the validation and test fractions.") from error


def _check_split_arguments(seed, val_size, test_size) -> None:
    """Arguments checked before the split, so a wrong one is named as such and not reported as
    a table too small to split."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    for name, value in (("val_size", val_size), ("test_size", test_size)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)) \
                or not 0.0 < float(value) < 1.0:
            raise ValueError(f"{name} must be a fraction of the rows in (0, 1), got {value!r}")
    if not float(val_size) + float(test_size) < 1.0:
        raise ValueError(f"val_size + test_size must be below 1 to leave rows for training, got "
                         f"{val_size!r} + {test_size!r} = {float(val_size) + float(test_size):g}")


def split_dataset(
    frame: pd.DataFrame,
    spec: DatasetSpec,
    *,
    seed: int = 0,
    val_size: float = VAL_SIZE,
    test_size: float = TEST_SIZE,
    min_group_size: int = MIN_GROUP_SIZE,
) -> DatasetSplit:
    """Split into train / validation / test stratified by group x label, and preprocess.

    A table too small for group x label strata is stratified by label only, then not at all;
    ``notes`` says so.

    Parameters
    ----------
    frame : DataFrame
    spec : DatasetSpec
    seed : int
        Same seed, same split.
    val_size, test_size : float
        Fractions of the rows (with a known target) for validation and test.
    min_group_size : int
        Groups (intersections) with fewer training rows are pooled for training
        (:meth:`DatasetSplit.model_groups`).

    Returns
    -------
    DatasetSplit

    Raises
    ------
    ValueError
        On a ``seed`` that is not an integer, or fractions that leave no training rows
        (the message names the argument).
    DataError
        When :func:`fairkit.data.validate` finds errors (the message lists them).
    """
    _check_split_arguments(seed, val_size, test_size)
    problems = errors(validate(frame, spec, min_group_size=0))
    if problems:
        raise DataError("The data cannot be split: " + " ".join(str(p) for p in problems))
    y_all = binary_target(frame, spec)
    keep = y_all >= 0
    dropped = int((~keep).sum())
    work = frame.loc[keep]
    y = y_all[keep]
    positions = np.flatnonzero(keep)
    groups = group_labels(work[spec.sensitive])
    feature_cols = spec.feature_columns(work)
    usable = usable_feature_columns(work, spec)
    notes = [f"Ignored constant or empty column '{c}'." for c in feature_cols if c not in usable]

    train_idx, val_idx, test_idx, note = _split_indices(groups, y, seed, val_size, test_size)
    if note:
        notes.append(note)

    raw = work[usable]
    # The training part's own count (validate estimates it from the whole table): refused before
    # anything the size of the table is built.
    wide = too_wide(encoded_widths(raw.iloc[train_idx], raw.columns), len(raw))
    if wide:
        raise DataError(f"{wide}. Exclude those columns or group their values; or use a sample of the rows.")
    pre = make_preprocessor(raw)
    pre.fit(raw.iloc[train_idx])

    def part(ix) -> SplitPart:
        r = raw.iloc[ix]
        return SplitPart(
            X=np.asarray(pre.transform(r), dtype=np.float32),
            y=y[ix],
            sensitive=work[spec.sensitive].iloc[ix].reset_index(drop=True),
            groups=groups.iloc[ix].reset_index(drop=True),
            raw=r.reset_index(drop=True),
            index=positions[ix],
        )

    train = part(train_idx)
    pooling = SmallGroupPooling.fit(train.groups, min_group_size)
    if pooling.pooled:
        notes.append(f"For training, {len(pooling.pooled)} group(s) with fewer than {min_group_size} training rows "
                     f"share one label ('{pooling.target}'): {', '.join(pooling.pooled)}.")
    values = pd.unique(work[spec.target])
    return DatasetSplit(
        train=train, validation=part(val_idx), test=part(test_idx), spec=spec, pooling=pooling,
        preprocessor=pre, feature_names=list(pre.get_feature_names_out()), seed=seed,
        data_hash=frame_hash(frame), dropped_rows=dropped, notes=notes,
        target_values=[v.item() if hasattr(v, "item") else v for v in values]
        if len(values) <= MAX_TARGET_VALUES else None,
    )


def reserve_threshold_rows(split: DatasetSplit, share: float = 0.5, *, seed: int | None = None) -> DatasetSplit:
    """The split with ``share`` of its validation rows set aside for the thresholds.

    The post-processing methods (group thresholds, aware or on inferred groups) then fit their
    base model on every training row and their thresholds on the reserved rows, which neither
    the base model nor the frontier's choice sees: OxonFair's and error-parity's practice of
    thresholding held-out scores, without spending validation rows on in-sample choices
    (benchmarks/README.md, issue #21: on Adult at equalized odds, thresholds on the base's own
    training scores miss their gap on new rows). Every method is chosen on the other rows.

    Parameters
    ----------
    split : DatasetSplit
    share : float in (0, 1), default=0.5
        Share of the validation rows reserved.
    seed : int, optional
        Seed of the stratified draw (default: the split's own).

    Returns
    -------
    DatasetSplit
        ``validation`` is the rows kept for choosing, ``thresholds`` the reserved ones.

    Raises
    ------
    ValueError
        On a ``share`` outside (0, 1) or a validation part too small to halve.
    """
    share = float(share)
    if not 0.0 < share < 1.0:
        raise ValueError(f"share must be in (0, 1), got {share!r}")
    v = split.validation
    seed = split.seed if seed is None else int(seed)
    n_keep = int(np.ceil((1.0 - share) * len(v)))  # as train_test_split counts test_size
    if n_keep < 2 or len(v) - n_keep < 2:
        raise ValueError(f"the validation part's {len(v)} rows cannot spare {share:.0%} for thresholds")
    # By the groups the methods fit with (small ones pooled), then by outcome, then not at all.
    strata = stratification_labels(split.model_groups(v), v.y, 2)
    rows = np.arange(len(v))
    for strat in ([v.y] if strata is None else [strata, v.y]) + [None]:
        try:
            fit_rows, keep = train_test_split(rows, test_size=1.0 - share, random_state=seed, stratify=strat)
            break
        except ValueError:
            continue
    return replace(split, validation=v.take(np.sort(keep)), thresholds=v.take(np.sort(fit_rows)),
                   thresholds_source=f"{share:g} of the validation part, drawn with seed {seed}", threshold_share=share)


# --------------------------------------------------------------------------- before splitting
# What the split will do to each group, said on the Data page before anything is split or
# trained, and the stratified sample offered for large tables.


def forecast_groups(summaries: dict, *, val_size: float = VAL_SIZE, test_size: float = TEST_SIZE,
                    min_size: int = MIN_GROUP_SIZE) -> dict:
    """Each group's expected rows in each part of the split, and what the small-group policy does.

    The split is stratified by group x outcome, so a group's share of each part is about its
    share of the table: a few rows off where the split drops rows (a missing outcome, say) or a
    group x outcome cell is too small to stratify and is pooled with others by outcome
    (:func:`fairkit.groups.stratification_labels`): the forecast is an expectation. The rules
    applied are the engine's own: the gaps compare the groups
    :func:`fairkit.stats.gap_groups` keeps (validation gaps choose the frontier, test gaps are
    reported), and training pools the finest groups :class:`fairkit.groups.SmallGroupPooling`
    pools. A group in the gaps by its rows can still have its TPR or FPR left out of the
    equal-opportunity and equalized-odds gaps, where its part holds fewer than
    ``stats.MIN_EVENTS`` positives or negatives (:func:`fairkit.stats.rate_groups`): that depends
    on the outcomes, which this forecast of rows does not count.

    Parameters
    ----------
    summaries : dict of str -> DataFrame
        :func:`fairkit.groups.group_summaries` of the table (level name -> ``group``, ``rows``,
        ...), the finest level last.
    val_size, test_size : float
        The split's fractions (:func:`split_dataset`).
    min_size : int
        The small-group size.

    Returns
    -------
    dict of str -> DataFrame
        Per level, the summary with ``train``, ``validation`` and ``test`` (expected rows, whole
        numbers: rounded down in validation and test, where the gaps judge them), ``in_validation_gaps`` and ``in_test_gaps`` (bool) and ``pooled`` (bool:
        trained under the pooled label; the finest level only, False elsewhere).
    """
    out = {}
    finest = list(summaries)[-1] if summaries else None
    for level, table in summaries.items():
        rows = table["rows"].to_numpy(np.float64)
        t = table.copy()
        t["train"] = np.rint(rows * (1 - val_size - test_size)).astype(np.int64)
        # The parts the gaps judge: the expectation rounded down. A group expected at 29.8 test
        # rows got 29 and every report flagged it small, while the forecast (30) named it nowhere
        # (number audit, session 45); a group the forecast names may end with a row more.
        for part, share in (("validation", val_size), ("test", test_size)):
            t[part] = np.floor(rows * share + 1e-9).astype(np.int64)
            t[f"in_{part}_gaps"] = gap_groups(t[part].to_numpy(), min_size)
        t["pooled"] = False
        if level == finest:
            # The policy itself, on the training labels the split is expected to give.
            pooling = SmallGroupPooling.fit(np.repeat(t["group"].astype(str).to_numpy(), t["train"]), min_size)
            t["pooled"] = ~t["group"].astype(str).isin(pooling.kept) & (len(pooling.pooled) > 0)
        out[level] = t
    return out


#: How many small groups of a level :func:`small_after_split` names (the Data page's table lists
#: every group): a country column can have dozens.
NAMED_GROUPS = 20


def named_groups(table: pd.DataFrame, column: str, *, quote=str, most: int = NAMED_GROUPS) -> str:
    """The first ``most`` groups of ``table`` with their expected rows, for a message.

    Parameters
    ----------
    table : DataFrame
        A level of :func:`forecast_groups` (``group`` and the part's expected rows).
    column : str
        The part whose rows are given (``"test"``, ``"train"``).
    quote : callable, default=str
        Applied to each group name (the dashboard escapes Markdown).
    most : int, default=NAMED_GROUPS

    Returns
    -------
    str
        ``"F (about 17), M (about 13)"``, and how many more there are.
    """
    return first_few([f"{quote(str(g))} (about {n:,})" for g, n in zip(table["group"], table[column])], most,
                     quote=str)


def small_after_split(forecast: dict, min_size: int = MIN_GROUP_SIZE, val_size: float = VAL_SIZE,
                      test_size: float = TEST_SIZE, *, quote=str, strong=str) -> str | None:
    """What the split will do to the groups that end up under ``min_size`` rows in validation
    or test: which groups, what the reports do with them and what the user can do.

    The command line prints it (``validate``, ``sweep``, ``search``) and the Data page shows it,
    so a group judged on a handful of rows is named wherever a sweep starts.

    Parameters
    ----------
    forecast : dict of str -> DataFrame
        :func:`forecast_groups` of the table.
    min_size : int
        The small-group size.
    val_size, test_size : float
        The split's fractions.
    quote : callable, default=str
        Applied to each group and level name (the dashboard escapes Markdown).
    strong : callable, default=str
        Applied to the heading (the dashboard makes it bold).

    Returns
    -------
    str or None
        None when every group keeps enough rows. Each level lists at most
        :data:`NAMED_GROUPS` of its small groups, largest first.
    """
    lines = []
    for level, t in forecast.items():
        few = t[(t["validation"] < min_size) | (t["test"] < min_size)]
        if len(few):
            lines.append(f"- {strong(quote(level))}: {named_groups(few, 'test', quote=quote)}")
    if not lines:
        return None
    finest = list(forecast.values())[-1]
    pooled = finest[finest["pooled"]]
    compared = [quote(level) for level, t in forecast.items()
                if ((t["test"] < min_size) & t["in_test_gaps"]).any()]
    text = (strong("Groups that will be small after the split.") + " The split keeps "
            f"{1 - val_size - test_size:.0%} of the rows for training, {val_size:.0%} for validation "
            f"and {test_size:.0%} for test, so these groups will have fewer than {min_size} rows in "
            f"validation or test (expected test rows in brackets):\n\n" + "\n".join(lines) + "\n\n"
            "The reports show their rates, with wide intervals, but leave them out of the fairness "
            "gaps and of the disparity audit, on validation (so the choice of a model on the frontier "
            "does not weigh how they are treated) and on test.")
    if compared:
        text += (f" Fewer than two groups of {', '.join(compared)} are that large, so its gaps compare "
                 "every group anyway: read them with their intervals.")
    if len(pooled):
        text += (f" For training, the groups with fewer than {min_size} training rows share one label, "
                 f"'{quote(POOLED)}' (expected training rows in brackets): {named_groups(pooled, 'train', quote=quote)}.")
    # Merging helps only where an attribute keeps two groups or more after it: one of two groups
    # merged into the other leaves nothing to compare.
    levels = list(forecast.items())
    attributes = levels[:-1] if len(levels) > 1 else levels
    most = max(len(t) for _, t in attributes)
    small_levels = {level for level, t in levels if ((t["validation"] < min_size) | (t["test"] < min_size)).any()}
    merge_helps = any(len(t) > 2 for level, t in attributes if level in small_levels) or (
        len(levels) > 1 and levels[-1][0] in small_levels and most > 2)
    if merge_helps:
        return text + ("\n\nTo compare them, merge small groups into a larger one (recode the column in "
                       "your table, for example into 'Other'), or choose another sensitive attribute.")
    return text + ("\n\nMerging a small group into the other one would leave a single group, with nothing to "
                   "compare: to compare them, add rows of these groups to the table, or choose another "
                   "sensitive attribute.")


@dataclass(frozen=True)
class StratifiedSample:
    """A sample of a table that keeps every group x outcome cell's share (:func:`stratified_sample`).

    Attributes
    ----------
    frame : DataFrame
        The sampled rows, in the table's order (index kept).
    rows : int
        Rows in the sample.
    of_rows : int
        Rows with an outcome in the table (the ones a split would use).
    seed : int
    source_hash : str
        :func:`frame_hash` of the whole table.
    groups : DataFrame
        The finest groups: ``group``, ``rows`` (in the sample) and ``of`` (in the table).
    """

    frame: pd.DataFrame
    rows: int
    of_rows: int
    seed: int
    source_hash: str
    groups: pd.DataFrame

    def to_dict(self) -> dict:
        """What was sampled, for the decision record and ``sweep.json`` (enough to draw it again)."""
        return {"rows": self.rows, "of_rows": self.of_rows, "seed": self.seed,
                "stratified_by": "sensitive group x outcome", "source_hash": self.source_hash,
                "groups": [{"group": str(g), "rows": int(r), "of": int(o)}
                           for g, r, o in self.groups[["group", "rows", "of"]].itertuples(index=False)]}


def stratified_sample(frame: pd.DataFrame, spec: DatasetSpec, n: int, *, seed: int = 0,
                      source_hash: str | None = None) -> StratifiedSample:
    """``n`` rows drawn so that every group x outcome cell keeps its share of the table.

    The cells are the split's strata (the finest group by the outcome), so the sample's rates per
    group, base rates included, are the table's to within a row; only the counts shrink. Each
    cell gets its share of ``n`` rounded down, and the rows left over go to the cells with the
    largest remainders, so the sample has exactly ``n`` rows. A cell whose share is under one row
    may get none: :attr:`StratifiedSample.groups` says what each group kept. Rows without an
    outcome are never drawn (a split drops them).

    Parameters
    ----------
    frame : DataFrame
    spec : DatasetSpec
        Target, positive label and sensitive attributes (chosen and valid).
    n : int
        Rows to draw; at least the table's rows with an outcome gives all of them.
    seed : int
        Same seed, same sample.
    source_hash : str, optional
        :func:`frame_hash` of ``frame`` when the caller has it (it is computed otherwise).

    Returns
    -------
    StratifiedSample

    Raises
    ------
    ValueError
        ``n`` below 1.
    DataError
        The target or its positive label is not usable.
    """
    if int(n) < 1:
        raise ValueError(f"A sample needs at least one row, not {n}.")
    y = binary_target(frame, spec)
    known = np.flatnonzero(y >= 0)
    group_codes, names = pd.factorize(group_labels(frame[spec.sensitive].iloc[known]))
    codes = group_codes * 2 + y[known]  # the cell: group x outcome
    counts = np.bincount(codes, minlength=2 * len(names))
    n = min(int(n), len(known))
    share = n * counts / max(len(known), 1)
    quota = np.floor(share).astype(np.int64)
    # Largest remainders first; ties go to the larger cell, then to the first seen (deterministic).
    order = np.lexsort((np.arange(len(counts)), -counts, -(share - quota)))
    quota[order[: n - int(quota.sum())]] += 1
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(len(known))
    by_cell = shuffled[np.argsort(codes[shuffled], kind="stable")]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    cell = codes[by_cell]
    chosen = np.sort(by_cell[np.arange(len(by_cell)) - starts[cell] < quota[cell]])
    sizes = pd.DataFrame({"group": np.asarray(names, dtype=object),
                          "rows": np.bincount(group_codes[chosen], minlength=len(names)),
                          "of": np.bincount(group_codes, minlength=len(names))})
    return StratifiedSample(frame=frame.iloc[known[chosen]], rows=int(len(chosen)), of_rows=int(len(known)),
                            seed=int(seed), source_hash=source_hash or frame_hash(frame),
                            groups=sizes.sort_values(["of", "group"], ascending=[False, True], ignore_index=True))
