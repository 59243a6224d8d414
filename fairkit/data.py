"""Reading user tables and checking them before anything is trained.

``read_table`` turns a path, bytes or file object into a DataFrame (CSV with delimiter and
encoding detection, or Parquet). ``validate`` returns a list of :class:`Problem` and never raises
on bad data: the dashboard and the CLI show the problems in plain words.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .groups import MIN_GROUP_SIZE, group_labels, small_groups

NA_VALUES = ["?", "", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"]
PARQUET_MAGIC = b"PAR1"
GZIP_MAGIC = b"\x1f\x8b"


class DataError(ValueError):
    """A table could not be read; the message says why and what to do."""


@dataclass(frozen=True)
class Limits:
    """Size limits for user data (errors name the limit that was exceeded)."""

    max_rows: int = 2_000_000
    max_columns: int = 500
    max_bytes: int = 500 * 1024 * 1024


DEFAULT_LIMITS = Limits()


@dataclass
class DatasetSpec:
    """What to learn and for whom: target, positive label, sensitive attributes, features.

    Parameters
    ----------
    target : str
        Column holding the outcome.
    positive_label : object, optional
        Target value that counts as the favourable/positive outcome. Required when the target
        has more than two values (all other values become the negative class); when omitted for
        a two-valued target, the larger value (sorted) is positive.
    sensitive : list of str
        Sensitive attribute columns. Several give intersections (``Female & Black``).
    features : list of str, optional
        Model features. Default: every other column except ``exclude``.
    exclude : list of str
        Columns never used as features (identifiers, leaks, scores of other models).
    sensitive_as_features : bool
        Whether the sensitive attributes are also model inputs (default False).
    name : str
        Human-readable name of the dataset.
    """

    target: str
    positive_label: object = None
    sensitive: list = field(default_factory=list)
    features: list | None = None
    exclude: list = field(default_factory=list)
    sensitive_as_features: bool = False
    name: str = "data"

    def feature_columns(self, frame: pd.DataFrame) -> list:
        """The columns used as model inputs for ``frame``."""
        if self.features is not None:
            cols = [c for c in self.features if c in frame.columns]
        else:
            cols = [c for c in frame.columns if c != self.target and c not in self.exclude]
        if not self.sensitive_as_features:
            cols = [c for c in cols if c not in self.sensitive]
        return [c for c in cols if c != self.target]

    def resolved_positive_label(self, frame: pd.DataFrame):
        """The positive label, choosing one for a two-valued target when none was given."""
        if self.positive_label is not None:
            return self.positive_label
        values = sorted(frame[self.target].dropna().unique(), key=str)
        return values[-1] if len(values) == 2 else None

    def to_dict(self) -> dict:
        d = asdict(self)
        if isinstance(d["positive_label"], np.generic):
            d["positive_label"] = d["positive_label"].item()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DatasetSpec":
        return cls(**d)

    def replace(self, **changes) -> "DatasetSpec":
        return replace(self, **changes)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a table, in plain words.

    Attributes
    ----------
    severity : {"error", "warning"}
        Errors block training; warnings are shown but training can go on.
    code : str
        Stable identifier of the rule (for tests and filtering).
    column : str or None
        The column concerned, if any.
    message : str
        What is wrong.
    action : str
        What to do about it.
    """

    severity: str
    code: str
    column: str | None
    message: str
    action: str

    def __str__(self) -> str:
        where = f" [{self.column}]" if self.column is not None else ""
        return f"{self.severity.upper()}{where}: {self.message} {self.action}"


# --------------------------------------------------------------------------- reading

def _read_bytes(source) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "<bytes>"
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise DataError(f"File not found: {path}. Check the path.")
        return path.read_bytes(), str(path)
    if hasattr(source, "read"):
        data = source.read()
        if isinstance(data, str):
            data = data.encode("utf-8")
        return data, getattr(source, "name", "<upload>")
    raise DataError(f"Cannot read a table from {type(source).__name__}; give a path, bytes or a file.")


def _gunzip(data: bytes, name: str, max_bytes: int) -> bytes:
    # Read in bounded chunks so a small file that inflates enormously is refused, not swallowed.
    out = io.BytesIO()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
            while chunk := fh.read(1 << 20):
                out.write(chunk)
                if out.tell() > max_bytes:
                    raise DataError(
                        f"{name} decompresses to over the {max_bytes / 1e6:.0f} MB limit. "
                        "Use a sample of the rows or raise the limit."
                    )
    except (OSError, EOFError) as exc:
        raise DataError(f"{name} is a damaged gzip file ({exc}).") from exc
    return out.getvalue()


def _decode(data: bytes) -> str:
    # utf-8-sig strips a BOM when present and is plain UTF-8 otherwise; Latin-1 decodes any byte,
    # so it is the last resort for legacy exports (Excel on Windows).
    for enc in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise DataError("The file's text encoding is not recognised.")  # pragma: no cover


def _sniff_delimiter(text: str) -> str:
    sample = text[:65536]
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_table(source, *, limits: Limits = DEFAULT_LIMITS) -> pd.DataFrame:
    """Read a CSV or Parquet table.

    Parameters
    ----------
    source : str, Path, bytes or file object
        The table. Parquet is recognised by its magic bytes; anything else is read as CSV with
        the delimiter (comma, semicolon, tab, pipe) and encoding (UTF-8, UTF-8 with BOM,
        Windows-1252/Latin-1) detected. ``"?"`` and blank cells are missing values.
    limits : Limits
        ``max_bytes`` is checked before parsing.

    Returns
    -------
    DataFrame
        ``frame.attrs["header"]`` keeps the header as written (before pandas renames duplicate
        or blank names), so :func:`validate` can report them.

    Raises
    ------
    DataError
        The bytes are not a readable table (the message says what to do).
    """
    data, name = _read_bytes(source)
    if len(data) > limits.max_bytes:
        raise DataError(
            f"The file is {len(data) / 1e6:.0f} MB, over the {limits.max_bytes / 1e6:.0f} MB limit. "
            "Use a sample of the rows or raise the limit."
        )
    if data[:2] == GZIP_MAGIC:
        data = _gunzip(data, name, limits.max_bytes)
    if not data.strip():
        return pd.DataFrame()
    if data[:4] == PARQUET_MAGIC:
        try:
            frame = pd.read_parquet(io.BytesIO(data))
        except Exception as exc:  # pyarrow raises many types for corrupt files
            raise DataError(f"{name} looks like Parquet but could not be read ({exc}).") from exc
        frame.attrs["header"] = [str(c) for c in frame.columns]
        return frame
    if b"\x00" in data[:4096]:
        raise DataError(f"{name} is a binary file, not CSV or Parquet. Export the data as CSV.")
    text = _decode(data)
    sep = _sniff_delimiter(text)
    try:
        header = next(csv.reader(io.StringIO(text), delimiter=sep))
    except StopIteration:
        return pd.DataFrame()
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=sep, na_values=NA_VALUES, keep_default_na=False,
            skipinitialspace=True, low_memory=False,
        )
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(
            f"{name} is not a well-formed CSV table: {str(exc).strip()}. "
            "Check that every row has the same number of fields and that quotes are closed."
        ) from exc
    frame.attrs["header"] = [h.strip() for h in header]
    return frame


# --------------------------------------------------------------------------- validation

def _p(severity, code, column, message, action) -> Problem:
    return Problem(severity, code, None if column is None else str(column), message, action)


def _is_blank_name(name) -> bool:
    s = str(name).strip()
    return s == "" or s.startswith("Unnamed: ")


def _same_partition(a: pd.Series, b: pd.Series) -> bool:
    """True when ``a`` and ``b`` determine each other (a relabelling of the same values)."""
    both = pd.DataFrame({"a": a.astype(str), "b": b.astype(str)})
    return bool(
        both.groupby("a")["b"].nunique().max() == 1 and both.groupby("b")["a"].nunique().max() == 1
    )


def validate(
    frame: pd.DataFrame,
    spec: DatasetSpec,
    *,
    min_group_size: int = MIN_GROUP_SIZE,
    limits: Limits = DEFAULT_LIMITS,
) -> list[Problem]:
    """Check a table against a spec; return every problem found, errors first.

    Never raises on bad data. An empty list means the table is ready to train on.

    Parameters
    ----------
    frame : DataFrame
    spec : DatasetSpec
    min_group_size : int
        Groups and intersections smaller than this get a warning: their metrics are noisy and a
        fairness penalty on them can be dominated by a few people.
    limits : Limits
    """
    problems: list[Problem] = []
    if frame is None or frame.shape[1] == 0 or len(frame) == 0:
        return [_p("error", "empty", None, "The table is empty (no rows or no columns).",
                   "Upload a file with a header row and at least one data row.")]

    n_rows, n_cols = frame.shape
    if n_rows > limits.max_rows:
        problems.append(_p("error", "too_many_rows", None,
                           f"The table has {n_rows:,} rows, over the limit of {limits.max_rows:,}.",
                           "Use a sample of the rows or raise the row limit."))
    if n_cols > limits.max_columns:
        problems.append(_p("error", "too_many_columns", None,
                           f"The table has {n_cols:,} columns, over the limit of {limits.max_columns:,}.",
                           "Drop unused columns or raise the column limit."))

    header = frame.attrs.get("header", [str(c) for c in frame.columns])
    seen, dups = set(), []
    for h in header:
        if h in seen and h not in dups and h.strip():
            dups.append(h)
        seen.add(h)
    dups += [str(c) for c in pd.Index(frame.columns)[pd.Index(frame.columns).duplicated()]
             if str(c) not in dups]
    for d in dups:
        problems.append(_p("error", "duplicate_column", d, f"The column name '{d}' appears more than once.",
                           "Give every column a unique name."))
    blanks = [i for i, h in enumerate(header) if _is_blank_name(h)]
    blanks += [i for i, c in enumerate(frame.columns) if _is_blank_name(c) and i not in blanks]
    if blanks:
        where = ", ".join(str(i + 1) for i in sorted(blanks))
        problems.append(_p("error", "blank_column_name", None,
                           f"Column(s) at position {where} have no name.",
                           "Give every column a name in the header row, or delete empty columns."))

    columns = set(frame.columns)
    target = spec.target
    target_ok = False
    if not target or target not in columns:
        problems.append(_p("error", "target_missing", target,
                           f"The target column '{target}' is not in the table.",
                           "Choose the column that holds the outcome."))
    else:
        y = frame[target]
        if isinstance(y, pd.DataFrame):
            y = y.iloc[:, 0]
        n_missing_y = int(y.isna().sum())
        values = y.dropna().unique()
        if len(values) == 0:
            problems.append(_p("error", "target_all_missing", target,
                               f"The target '{target}' has no values.", "Choose another target column."))
        elif len(values) == 1:
            problems.append(_p("error", "target_constant", target,
                               f"The target '{target}' has a single value ({values[0]!r}); there is nothing to learn.",
                               "Choose a target with two outcomes, or add rows with the other outcome."))
        else:
            if spec.positive_label is None and len(values) > 2:
                problems.append(_p("error", "target_not_binary", target,
                                   f"The target '{target}' has {len(values)} values; fairkit trains binary classifiers.",
                                   "Choose the positive label (the favourable outcome); every other value becomes negative."))
            elif spec.positive_label is not None and not _contains(values, spec.positive_label):
                shown = ", ".join(repr(v) for v in sorted(values, key=str)[:8])
                problems.append(_p("error", "positive_label_absent", target,
                                   f"The positive label {spec.positive_label!r} does not occur in '{target}' (values: {shown}).",
                                   "Choose one of the target's values as the positive label."))
            else:
                target_ok = True
                if len(values) > 2:
                    problems.append(_p("warning", "target_binarized", target,
                                       f"The target '{target}' has {len(values)} values; '{spec.positive_label}' is positive and all others negative.",
                                       "Check that this grouping of outcomes is what you mean."))
        if n_missing_y:
            problems.append(_p("warning", "target_missing_values", target,
                               f"{n_missing_y:,} rows have no target value and will be left out.",
                               "Fill in the outcome for those rows if you have it."))

    if not spec.sensitive:
        problems.append(_p("error", "no_sensitive", None, "No sensitive attribute is chosen.",
                           "Choose at least one column (for example sex or race) to measure fairness across."))
    sens_ok = []
    for col in spec.sensitive:
        if col not in columns:
            problems.append(_p("error", "sensitive_missing", col,
                               f"The sensitive column '{col}' is not in the table.",
                               "Choose an existing column or fix the header."))
            continue
        s = frame[col]
        if s.isna().all():
            problems.append(_p("error", "sensitive_all_missing", col,
                               f"The sensitive column '{col}' has no values.", "Choose another column."))
            continue
        n_groups = s.nunique(dropna=False)
        if n_groups < 2:
            problems.append(_p("error", "single_group", col,
                               f"The sensitive column '{col}' has a single group ({s.dropna().iloc[0]!r}); fairness across groups cannot be measured.",
                               "Choose a column with at least two groups."))
            continue
        if col == target:
            problems.append(_p("error", "sensitive_is_target", col,
                               f"'{col}' is both the target and a sensitive attribute.", "Choose different columns."))
            continue
        n_missing = int(s.isna().sum())
        if n_missing:
            problems.append(_p("warning", "sensitive_missing_values", col,
                               f"{n_missing:,} rows have no value for '{col}'; they form their own group '(missing)'.",
                               "Fill in the attribute if you can; otherwise review that group's results."))
        if n_groups > 50:
            problems.append(_p("warning", "sensitive_many_groups", col,
                               f"'{col}' has {n_groups} groups; most will be too small to measure.",
                               "Merge rare values into broader groups before training."))
        sens_ok.append(col)

    if sens_ok:
        levels = [[c] for c in sens_ok] + ([sens_ok] if len(sens_ok) > 1 else [])
        rows = frame if not target_ok else frame[frame[target].notna()]
        for cols in levels:
            small = small_groups(group_labels(rows[cols]), min_group_size)
            if len(small):
                kind = "intersection" if len(cols) > 1 else "group"
                shown = ", ".join(f"{g} ({n})" for g, n in small.head(6).items())
                more = f" and {len(small) - 6} more" if len(small) > 6 else ""
                problems.append(_p("warning", "small_group", " & ".join(cols),
                                   f"{len(small)} {kind}(s) have fewer than {min_group_size} rows: {shown}{more}. Their metrics will be uncertain.",
                                   "Read their results with the confidence intervals, or merge small groups."))

    feature_cols = [c for c in spec.feature_columns(frame) if c in columns]
    if spec.features is not None:
        for c in spec.features:
            if c not in columns:
                problems.append(_p("error", "feature_missing", c, f"The feature column '{c}' is not in the table.",
                                   "Remove it from the features or fix the header."))
    if target_ok and not feature_cols:
        problems.append(_p("error", "no_features", None, "No feature columns are left to train on.",
                           "Include at least one column besides the target and sensitive attributes."))
    y_obs = frame[target].notna() if target_ok else None
    for c in feature_cols:
        col = frame[c]
        if isinstance(col, pd.DataFrame):
            continue  # duplicate names are reported above
        nn = col.dropna()
        if len(nn) == 0:
            problems.append(_p("warning", "feature_all_missing", c, f"'{c}' has no values and will be ignored.",
                               "Exclude it or fill it in."))
            continue
        nunique = nn.nunique()
        if nunique == 1 and len(frame) > 1:
            problems.append(_p("warning", "feature_constant", c,
                               f"'{c}' has the same value in every row and carries no information.",
                               "Exclude it; it will be ignored otherwise."))
        if target_ok and nunique > 1 and col[y_obs].notna().all() and _same_partition(col[y_obs], frame.loc[y_obs, target]):
            problems.append(_p("error", "target_leak", c,
                               f"'{c}' is the target in disguise (each of its values maps to one outcome and back).",
                               "Exclude this column: a model using it learns nothing real."))
        n = len(nn)
        is_text = col.dtype == object or isinstance(col.dtype, (pd.StringDtype, pd.CategoricalDtype)) or pd.api.types.is_string_dtype(col.dtype)
        if n >= 50 and (
            (is_text and nunique > 0.5 * n and nunique > 50)
            or (pd.api.types.is_integer_dtype(col.dtype) and nunique == n and _looks_like_counter(c, nn))
        ):
            problems.append(_p("warning", "id_like", c,
                               f"'{c}' has {nunique:,} distinct values in {n:,} rows and looks like an identifier.",
                               "Exclude it: identifiers let a model memorise rows instead of learning."))
        n_miss = int(col.isna().sum())
        if n_miss:
            problems.append(_p("warning", "missing_values", c,
                               f"'{c}' has {n_miss:,} missing values ({n_miss / len(frame):.1%}); they will be imputed.",
                               "Fill them in if the gaps mean something, or exclude the column."))

    problems.sort(key=lambda p: p.severity != "error")
    return problems


_ID_NAME = re.compile(r"(^|[_\s-])(id|key|uuid|guid|no|nr|number)$", re.IGNORECASE)


def _looks_like_counter(name, values: pd.Series) -> bool:
    """Unique integers that are a row counter (dense range) or named like an identifier."""
    span = float(values.max()) - float(values.min()) + 1
    return bool(_ID_NAME.search(str(name))) or span <= 1.5 * len(values)


def label_mask(values, label) -> np.ndarray:
    """Which of ``values`` equal ``label``, tolerating type differences ("1" vs 1 vs 1.0).

    A label chosen in a UI arrives as text while the column may be numeric, and a column with
    missing values is float: 1 must still match 1.0.
    """
    values = pd.Series(values)
    exact = (values == label).to_numpy()
    if exact.any():
        return exact
    try:
        num = float(label)
        as_num = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        hit = as_num == num
        if hit.any():
            return hit
    except (TypeError, ValueError):
        pass
    return (values.astype(str).str.strip() == str(label).strip()).to_numpy()


def _contains(values, label) -> bool:
    return bool(label_mask(values, label).any())


def errors(problems) -> list[Problem]:
    """Only the problems that block training."""
    return [p for p in problems if p.severity == "error"]


def binary_target(frame: pd.DataFrame, spec: DatasetSpec) -> np.ndarray:
    """0/1 target (1 = positive label); rows with a missing target give -1."""
    y = frame[spec.target]
    pos = spec.resolved_positive_label(frame)
    if pos is None:
        raise DataError(f"Choose the positive label of '{spec.target}'.")
    out = label_mask(y, pos).astype(np.int64)
    out[y.isna().to_numpy()] = -1
    return out
