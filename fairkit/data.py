"""Reading user tables and checking them before anything is trained.

``read_table`` turns a path, bytes or file object into a DataFrame (CSV with delimiter and
encoding detection, or Parquet). ``validate`` returns a list of :class:`Problem` and never raises
on bad data: the dashboard and the CLI show the problems in plain words.
"""

from __future__ import annotations

import codecs
import csv
import decimal
import difflib
import gzip
import io
import math
import re
import unicodedata
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import pandas as pd

from .groups import MIN_GROUP_SIZE, first_few, group_labels, label_key, small_groups

# Cells of a CSV file read as missing. '#N/A' is what Excel writes for =NA() and failed lookups
# (pandas reads it as missing too). Excel's other error values (#VALUE!, #DIV/0!) stay text: they
# are broken formulas, which validate names (see non_numeric_cells) rather than hides.
#: A lone '.' is SAS's and Stata's missing value, and '#NV', '#N/B' and '#N/D' are '#N/A' in German,
#: Dutch and Italian/Portuguese Excel (files audit, session 43: '.' targets were trained as negatives).
NA_VALUES = ["?", "", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "#N/A", ".", "#NV", "#N/B", "#N/D"]
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

#: Largest table (rows x model inputs) fairkit builds dense: 2e8 cells are 1.6 GB of float64
#: (0.8 GB as the networks' float32 copy). A 30,000-level zip code column made a 120,000 x 11,175
#: float64 table (10 GiB) and the sweep ran out of memory, the column unnamed (scale audit,
#: session 46).
MAX_DENSE_CELLS = 200_000_000
#: The split's default fractions of the rows with an outcome (the rest is for training;
#: :func:`fairkit.split.split_dataset`). Here because validate judges the training part before
#: there is a split.
VAL_SIZE = 0.2
TEST_SIZE = 0.2
#: A category needs this many training rows to be a model input of its own; rarer ones share
#: one (``OneHotEncoder(min_frequency=...)`` in :func:`fairkit.split.make_preprocessor`).
MIN_CATEGORY_ROWS = 5
#: Most groups a sensitive attribute (or the intersection of several) may have. Every pair of
#: groups enters a gap's interval and the threshold methods solve for every group, so the cost
#: grows with the square of the groups: 30,000 zip codes as the sensitive attribute ran export
#: out of memory (337 million pairs), 10,000 intersection cells the threshold method's program
#: (scale audit, session 46); and gaps over so many groups of a few rows each measure noise.
MAX_GROUPS = 1_000
#: A text column becoming more model inputs than this is named before training.
WIDE_CATEGORIES = 200


@dataclass
class DatasetSpec:
    """What to learn and for whom: target, positive label, sensitive attributes, features.

    Parameters
    ----------
    target : str
        Column holding the outcome.
    positive_label : object or list, optional
        Target value that counts as the favourable/positive outcome; all other values become
        the negative class. A list of values counts each of them as positive, for a file that
        spells one outcome several ways (UCI Adult's '>50K' and '>50K.'). Never guessed:
        :func:`validate` reports it as missing until it is chosen (a bundled dataset's spec
        carries its own).
    sensitive : list of str
        Sensitive attribute columns. Several give intersections (``Female & Black``). One
        column name on its own means a list of it (``"sex"`` is ``["sex"]``).
    features : list of str, optional
        Model features. Default: every other column except ``exclude``. One name means a list
        of it.
    exclude : list of str
        Columns never used as features (identifiers, leaks, scores of other models). One name
        means a list of it.
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

    def __post_init__(self):
        # One spelling per meaning, so specs compare and hash alike whichever way they were
        # built (a list from JSON, a tuple from code, one value in a list from a form).
        self.positive_label = _normal_label(self.positive_label)
        # A column name on its own is that one column, never a sequence of its letters.
        self.sensitive = as_list(self.sensitive)
        self.exclude = as_list(self.exclude)
        if self.features is not None:
            self.features = as_list(self.features)

    def feature_columns(self, frame: pd.DataFrame) -> list:
        """The columns used as model inputs for ``frame``."""
        if self.features is not None:
            cols = [c for c in self.features if c in frame.columns]
        else:
            cols = [c for c in frame.columns if c != self.target and c not in self.exclude]
        if not self.sensitive_as_features:
            cols = [c for c in cols if c not in self.sensitive]
        return [c for c in cols if c != self.target]

    def to_dict(self) -> dict:
        d = asdict(self)
        label = d["positive_label"]
        d["positive_label"] = [_plain(v) for v in label] if isinstance(label, list) else _plain(label)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DatasetSpec":
        return cls(**d)

    def replace(self, **changes) -> "DatasetSpec":
        return replace(self, **changes)


def _plain(value):
    """A numpy scalar (or a Decimal, from a database or Parquet) as the Python value JSON writes:
    a Decimal label was recorded as the text "Decimal('1')", which matched no row (files audit)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def as_list(value) -> list:
    """One value or several as a list: a string (a column or method name) or any other single
    value is a list of it, never the sequence of its letters; ``None`` is empty.

    The one reading of "one name or several" for the engine's arguments (``DatasetSpec``'s
    columns, a sweep's methods and seeds).

    Parameters
    ----------
    value : str, scalar, iterable or None

    Returns
    -------
    list

    Examples
    --------
    >>> as_list("sex"), as_list(["sex", "race"]), as_list(0), as_list(None)
    (['sex'], ['sex', 'race'], [0], [])
    """
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not np.iterable(value):
        return [value]
    return list(value)


def _normal_label(label):
    """``positive_label`` in its one spelling: None, one value, or a list of two or more
    distinct values in the order given."""
    if isinstance(label, (list, tuple, set, frozenset, np.ndarray, pd.Index, pd.Series)):
        values = []
        for value in (sorted(label, key=str) if isinstance(label, (set, frozenset)) else label):
            value = _plain(value)
            if value not in values:
                values.append(value)
        return None if not values else values[0] if len(values) == 1 else values
    return label


def positive_labels(label) -> list:
    """The values ``positive_label`` counts as positive, as a list (empty when unset).

    Examples
    --------
    >>> positive_labels(">50K"), positive_labels([">50K", ">50K."]), positive_labels(None)
    (['>50K'], ['>50K', '>50K.'], [])
    """
    label = _normal_label(label)
    return [] if label is None else list(label) if isinstance(label, list) else [label]


def label_text(label, *, quote=repr) -> str:
    """``positive_label`` in words: ``'>50K'``, or ``'>50K' or '>50K.'`` for several values
    (``quote`` renders each value)."""
    values = positive_labels(label)
    return " or ".join(quote(v) for v in values) if values else "(not chosen)"


# Characters kept among those :func:`visible_text` replaces: line breaks and tabs lay text out, and
# the zero-width (non-)joiners shape letters in Persian, Indic scripts and emoji, moving nothing.
_SHOWN_AS_IS = frozenset("\n\t\u200c\u200d")


def _hidden(ch: str) -> bool:
    # Controls (C0, C1: a terminal acts on ESC sequences, a lone CR overwrites its line), format
    # characters (bidi overrides, embeddings, isolates and marks reorder the digits beside them,
    # "0.048" read as "840.0"; zero widths, the BOM and tags hide text) and lone surrogates.
    return ch not in _SHOWN_AS_IS and unicodedata.category(ch) in ("Cc", "Cf", "Cs")


def hidden_characters(text) -> list[str]:
    """The invisible controls and format characters in ``str(text)`` that :func:`visible_text`
    replaces, as a sorted list of ``"U+202E"``-style code points (empty when there are none)."""
    text = str(text)
    if text.isprintable():  # the common case, checked in C
        return []
    return sorted({f"U+{ord(c):04X}" for c in text if _hidden(c)})


def visible_text(text) -> str:
    """``text`` with every invisible control or format character replaced by a visible marker
    (``<U+202E>``): the one way text from users, data and bundles is made safe to show.

    A right-to-left override in a column name would otherwise reverse the figures printed after
    it (on a page, in a record), and an escape sequence in a bundle would drive the terminal
    that prints it. Line breaks, tabs and the zero-width (non-)joiners that shape letters stay;
    a CR before a line break is read as part of the line break.

    Parameters
    ----------
    text : object
        A column or group name, a cell, an answer, a message; not a string: its ``str``.

    Returns
    -------
    str
        The same text, each hidden character as ``<U+XXXX>``.

    Examples
    --------
    >>> visible_text("sex \u202e: 0.048")
    'sex <U+202E>: 0.048'
    >>> visible_text("\x1b[2Jcleared")
    '<U+001B>[2Jcleared'
    """
    text = str(text)
    if text.isprintable():
        return text
    # Line by line, each checked in C first: only a line that holds something other than
    # printable text is read character by character (the CLI passes all its output through here).
    return "\n".join(line if line.isprintable() else "".join(f"<U+{ord(c):04X}>" if _hidden(c) else c for c in line)
                     for line in text.replace("\r\n", "\n").split("\n"))


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

def _read_bytes(source, max_bytes: int) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "<bytes>"
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise DataError(f"File not found: {path}. Check the path.")
        if path.is_dir():
            raise DataError(f"{path} is a folder, not a file. Give the path of a CSV or Parquet file.")
        from .store import FileRefused, read_regular_file

        try:
            # The size is known before reading: an oversized file is refused without loading it.
            size = path.stat().st_size
            if size > max_bytes:
                raise DataError(_too_big(size, max_bytes))
            # A device or a FIFO (no size, maybe no end) is refused unread; a file that grew
            # since its size was read stays bounded.
            data = read_regular_file(path, max_bytes)
        except FileRefused as exc:
            raise DataError(f"{exc}. Give the path of a CSV or Parquet file you may read.") from exc
        except OSError as exc:
            raise DataError(f"{path} could not be read ({exc.strerror or exc}). "
                            "Check that the file exists and that you may read it.") from exc
        if len(data) > max_bytes:
            raise DataError(_too_big(len(data), max_bytes))
        return data, str(path)
    if hasattr(source, "read"):
        data = source.read()
        if isinstance(data, str):
            data = data.encode("utf-8")
        return data, getattr(source, "name", "<upload>")
    raise DataError(f"Cannot read a table from {type(source).__name__}; give a path, bytes or a file.")


#: What to do about a table over a limit of :class:`Limits`: the CLI and the dashboard read with
#: the defaults, which a Python caller can raise.
LIMIT_HINT = ("Draw a sample of the rows into a smaller file first (the limit applies when the file is read, "
              "before any sampling); in Python, read_table(..., limits=Limits(...)) raises it on a machine "
              "with the memory.")


def _too_big(size: int, max_bytes: int) -> str:
    return (f"The file is {size / 2**20:,.0f} MiB, over the {max_bytes / 2**20:,.0f} MiB limit. "
            + LIMIT_HINT)


def _too_many_rows(name: str, rows: str, max_rows: int) -> str:
    return (f"{name} has {rows} rows, over the limit of {max_rows:,}. " + LIMIT_HINT)


#: What to do about a table with more columns than :class:`Limits` allows.
COLUMN_HINT = ("Drop unused columns from the file first; in Python, read_table(..., limits=Limits(...)) "
               "raises the limit.")


def _too_many_columns(name: str, columns: str, max_columns: int) -> str:
    return f"{name} has {columns} columns, over the limit of {max_columns:,}. " + COLUMN_HINT


def _gunzip(data: bytes, name: str, max_bytes: int) -> bytes:
    # Read in bounded chunks so a small file that inflates enormously is refused, not swallowed.
    out = io.BytesIO()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
            while chunk := fh.read(1 << 20):
                out.write(chunk)
                if out.tell() > max_bytes:
                    raise DataError(
                        f"{name} decompresses to over the {max_bytes / 2**20:,.0f} MiB limit. "
                        # The limit is not the user's to raise (scale audit, session 46).
                        "Use a sample of the rows, or fewer columns."
                    )
    except (OSError, EOFError) as exc:
        raise DataError(f"{name} is a damaged gzip file ({exc}).") from exc
    return out.getvalue()


_CHUNK = 1 << 20
# Bytes that never occur in text files (tab, line feed and carriage return excepted).
_CONTROL_BYTES = bytes([*range(0, 9), 11, 12, *range(14, 32), 127])
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _looks_binary(sample: bytes) -> bool:
    """NUL bytes, or more control bytes than any text export has (images, archives, noise)."""
    if b"\x00" in sample:
        return True
    n_control = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return n_control >= 3 and n_control > 0.01 * len(sample)


def _encoding(data: bytes) -> str:
    """The first of UTF-8 (BOM or not), Windows-1252 and Latin-1 that decodes every byte.

    Decoded in chunks and thrown away, so checking a large file costs no extra memory. Latin-1
    decodes any byte, so it is the last resort for legacy exports (Excel on Windows).
    """
    if data[:2] in UTF16_BOMS:
        return "utf-16"
    view = memoryview(data)
    for enc in ("utf-8-sig", "cp1252"):
        decoder = codecs.getincrementaldecoder(enc)()
        try:
            for start in range(0, len(view), _CHUNK):
                decoder.decode(view[start:start + _CHUNK])
            decoder.decode(b"", final=True)
            return enc
        except UnicodeDecodeError as exc:
            # The first chunk's positions are counted after the byte-order mark.
            at = max(start + exc.start + (3 if start == 0 and data[:3] == codecs.BOM_UTF8 else 0), 0)
            if enc == "utf-8-sig" and _mostly_utf8_text(data, at):
                # UTF-8 up to here (its mark, or characters only UTF-8 writes): read as Windows-1252
                # the whole file would turn every such character into two ('Hispánico' into
                # 'HispÃ¡nico', the mark into a column name 'ï»¿age'), silently (files audit).
                raise MixedEncoding(at) from exc
            continue
    return "latin-1"


#: A character of two to four bytes as UTF-8 writes it, which Windows-1252 text almost never holds.
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def _mostly_utf8_text(data: bytes, at: int) -> bool:
    """Whether ``data`` (not UTF-8 at ``at``) is UTF-8 text with a few bytes of another encoding:
    its byte-order mark, or mostly ASCII whose other bytes are mostly UTF-8 characters (at least
    two, and as many as the stray bytes). A Windows-1252 file rarely holds a pair of bytes that
    happens to be a UTF-8 character ('É' then a no-break space): one such pair beside its many
    accents is no UTF-8 (review, session 43); binary junk is mostly bytes above 127."""
    if data[:3] == codecs.BOM_UTF8:
        return True
    high = len(data) - len(data.translate(None, bytes(range(128, 256))))
    if not high or high > 0.3 * len(data):
        return False
    chars = _UTF8_SEQUENCE.findall(data)
    stray = high - sum(len(m) for m in chars)
    return len(chars) >= 2 and len(chars) >= stray


class MixedEncoding(ValueError):
    """A file that is UTF-8 but for a byte at ``position`` (an export in another encoding appended)."""

    def __init__(self, position: int):
        super().__init__(position)
        self.position = position


def _mixed_encoding_message(data: bytes, name: str, position: int) -> str:
    line = data.count(b"\n", 0, position) + 1
    start = max(data.rfind(b"\n", 0, position) + 1, position - 20)
    return (f"{name} is UTF-8 but for byte 0x{data[position]:02X} on line {line:,} (after "
            f"{data[start:position].decode('utf-8', 'replace')!r}): the file mixes encodings (rows appended from "
            "an export in another encoding, or a character typed in one), and read in one encoding some of its "
            "text would be garbled. Save the whole file as UTF-8 (in Excel: CSV UTF-8) and read it again.")


def _sniff_delimiter(text: str) -> str:
    try:
        return csv.Sniffer().sniff(text, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _is_row_index(values: pd.Series) -> bool:
    """Unique integers without gaps in the data: row names as R's write.csv and pandas'
    to_csv write them (1..n, 0..n-1, or the numbers of rows left after filtering)."""
    return (pd.api.types.is_integer_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype)
            and values.notna().all() and values.is_unique)


# A number written with a decimal comma, optionally with dots between thousands: 35,07 or
# 1.234,5. Integers qualify too, so a column mixing 12 and 35,07 is read as numbers.
_DECIMAL_COMMA = re.compile(r"[+-]?(?:\d+|\d{1,3}(?:\.\d{3})+)(?:,\d+)?")


def _decimal_comma_numbers(values: pd.Series) -> pd.Series | None:
    """``values`` as floats when every non-missing entry is a number with a decimal comma
    (and at least one has a comma), else None."""
    if not (values.dtype == object or pd.api.types.is_string_dtype(values.dtype)):
        return None
    known = values.dropna()
    if not len(known):
        return None
    # A look at the first values rules out most text columns before the full pass.
    for part in (known.iloc[:200], known):
        text = part.astype(str).str.strip()
        if not text.str.fullmatch(_DECIMAL_COMMA).all():
            return None
    if not text.str.contains(",", regex=False).any():
        return None
    numbers = pd.to_numeric(text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False))
    return numbers.reindex(values.index).astype(float)


def _quoted(names, most: int = 6) -> str:
    """'a', 'b' and more: column names for a message."""
    return ", ".join(f"'{c}'" for c in names[:most]) + (" and more" if len(names) > most else "")


def _fresh_name(base: str, taken: set) -> str:
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    return name


def _is_text(values: pd.Series) -> bool:
    """Text columns as read: object (text, possibly mixed with other values) or string dtype."""
    return values.dtype == object or (pd.api.types.is_string_dtype(values.dtype)
                                      and not isinstance(values.dtype, pd.CategoricalDtype))


def _stripped(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """``values`` with blanks around each text cell removed, and which cells are text."""
    if values.dtype != object or pd.api.types.infer_dtype(values, skipna=True) == "string":
        return values.str.strip(), values.notna().to_numpy(dtype=bool)
    # Mixed cells (Parquet lists and records, booleans among text): .str would turn non-text
    # cells into NaN, and comparing or hashing a list cell fails, so only text cells are touched.
    text = np.fromiter((isinstance(v, str) for v in values), dtype=bool, count=len(values))
    out = values.copy()
    if text.any():
        out[text] = values[text].str.strip()
    return out, text


def _strip_text(frame: pd.DataFrame, na_values, *, retype: bool) -> list[str]:
    """Remove blanks around column names and text cells of ``frame``, in place; notes saying so.

    SQL ``CHAR(n)``, SAS and fixed-width exports pad values ('Male  '), and pandas'
    ``skipinitialspace`` removes leading blanks only: left alone, 'Male' and 'Male  ' would be
    two groups that look the same on screen. A cell that is one of ``na_values`` once stripped
    (all blanks, 'NA  ') is missing, as it would be unpadded. With ``retype`` (a text file, where
    types are guessed from the text), a column left with numbers only is read as numbers.
    """
    notes = []
    names = [c.strip() if isinstance(c, str) else c for c in frame.columns]
    clash = {n for c, n in zip(frame.columns, names) if c != n and names.count(n) > 1}
    if clash:
        # Two columns would become one name ('age' and 'age '): which is which cannot be guessed.
        shown = ", ".join(repr(c) for c, n in zip(frame.columns, names) if n in clash)
        raise DataError(f"Columns {shown} differ only in blanks around their names. Rename one of "
                        "them and read the file again.")
    renamed = [f"{c!r} is read as {n!r}" for c, n in zip(frame.columns, names) if c != n]
    if renamed:
        frame.columns = names
        more = f" and {len(renamed) - 3} more" if len(renamed) > 3 else ""
        notes.append(f"Removed blanks around column names ({'; '.join(renamed[:3])}{more}).")
    markers = list(na_values)
    changed, example, n_missing = [], None, 0
    for i in range(frame.shape[1]):
        values = frame.iloc[:, i]
        if not _is_text(values):
            continue
        stripped, text = _stripped(values)
        edited, gone = np.zeros_like(text), np.zeros_like(text)
        edited[text] = (stripped[text] != values[text]).to_numpy(dtype=bool, na_value=False)
        gone[text] = stripped[text].isin(markers).to_numpy(dtype=bool)
        if not (edited.any() or gone.any()):
            continue
        changed.append((frame.columns[i], int((edited | gone).sum())))
        if example is None and (edited & ~gone).any():
            at = int(np.flatnonzero(edited & ~gone)[0])
            example = f"{values.iloc[at]!r} is read as {stripped.iloc[at]!r}"
        n_missing += int(gone.sum())
        stripped = stripped.mask(gone)
        if retype and gone.any():
            try:  # numbers that were padded with a missing-value marker ('12', 'NA  ')
                stripped = pd.to_numeric(stripped)
            except (ValueError, TypeError):
                pass
        frame.isetitem(i, stripped)
    if changed:
        listing = ", ".join(f"'{c}' ({n:,} cell{'s' if n != 1 else ''})" for c, n in changed[:6])
        listing += " and more columns" if len(changed) > 6 else ""
        shown = f", e.g. {example}" if example else ""
        gaps = ""
        if n_missing:
            held = "1 of those cells holds" if n_missing == 1 else f"{n_missing:,} of those cells hold"
            what = "only blanks" if set(markers) == {""} else "only blanks, or a missing-value marker with blanks ('NA  ')"
            gaps = f" {held} {what}: read as missing."
        notes.append(f"Removed blanks around text in {listing}{shown}: values that differ only in "
                     f"surrounding blanks are one value.{gaps}")
    return notes


def _missing_markers(data: bytes, encoding: str, sep: str, n_fields: int, fields: dict,
                     n_rows: int) -> dict:
    """Which texts of NA_VALUES (empty cells aside) were read as missing: ``{key: {text: cells}}``
    for ``fields``, a dict of key -> 0-based field position in a data row.

    pandas turns the texts into NaN without saying which matched, so the fields are parsed again
    as raw text: only those fields, a chunk of rows at a time, so the cost is one more pass over
    those columns and memory stays at one chunk whatever the file's size.
    """
    markers = [m for m in NA_VALUES if m]
    counts = {key: Counter() for key in fields}
    if not fields:
        return {}
    try:
        # names= replaces the header, so rows with a row name (one field more than the header)
        # line up too; blank lines are skipped as in the first parse.
        chunks = pd.read_csv(
            io.BytesIO(data), sep=sep, encoding=encoding, header=0, names=list(range(n_fields)),
            usecols=sorted(set(fields.values())), dtype=str, na_filter=False,
            skipinitialspace=True, nrows=n_rows, chunksize=_MARKER_CHUNK,
        )
        for chunk in chunks:
            for key, position in fields.items():
                text = chunk[position].str.strip()
                counts[key].update(text[text.isin(markers)].value_counts().to_dict())
    except (pd.errors.ParserError, csv.Error, ValueError, UnicodeError):
        return {}  # the counts only add detail to a message, which reads well without them
    return {key: dict(c.most_common()) for key, c in counts.items() if c}


_MARKER_CHUNK = 1 << 17  # rows per step of the missing-marker count


def _tidy_columns(frame: pd.DataFrame, header: list, *, decimal_comma: bool, na_values=("",),
                  typed: bool = True,
                  missing_markers: Callable[[dict], dict] | None = None) -> pd.DataFrame:
    """Strip blanks, resolve blank column names and decimal commas; record what was done in
    ``attrs``. Every reader ends here, so every format gets the same treatment.

    Blanks around column names and text cells are removed, and a cell that is one of
    ``na_values`` once stripped becomes missing (see :func:`_strip_text`; ``typed`` is False for
    text files, whose types are guessed). A blank-named column with no values is dropped
    (trailing delimiters); a blank-named first column of unique integers is a row index and is
    dropped; any other blank-named column gets the name ``unnamed_<position>`` (listed in
    ``attrs["unnamed"]`` for :func:`validate` to warn about). With ``decimal_comma``, text
    columns holding numbers like ``35,07`` become numbers. ``missing_markers``, given
    ``{column position: position}`` for the columns with missing values, counts the texts read as
    missing there (see :func:`_missing_markers`); the counts go to ``attrs["missing_markers"]``
    under the final column names.
    """
    strip_notes = _strip_text(frame, na_values, retype=not typed)
    header = [h.strip() if isinstance(h, str) else h for h in header]
    written = header if len(header) == frame.shape[1] else [str(c) for c in frame.columns]
    notes, keep, names, unnamed = [], [], [], {}
    taken = {str(c) for c, h in zip(frame.columns, written) if not _is_blank_name(h)}
    for i, (col, h) in enumerate(zip(frame.columns, written)):
        if not _is_blank_name(h):
            keep.append(i)
            names.append(col)
            continue
        values = frame.iloc[:, i]
        if values.isna().all():
            notes.append(f"Left out column {i + 1}: it has no name and no values.")
        elif i == 0 and _is_row_index(values):
            notes.append("Left out the first column: it has no name and numbers the rows "
                         "(row names, as R's write.csv writes them).")
        else:
            name = _fresh_name(f"unnamed_{i + 1}", taken)
            taken.add(name)
            unnamed[name] = i + 1
            keep.append(i)
            names.append(name)
    markers = {}
    if missing_markers is not None:
        gaps = {i: i for i in keep if frame.iloc[:, i].isna().any()}
        found = missing_markers(gaps) if gaps else {}
        markers = {names[keep.index(i)]: texts for i, texts in found.items()}
    if len(keep) < frame.shape[1]:
        frame = frame.iloc[:, keep]
    frame = frame.set_axis(names, axis=1)
    if decimal_comma:
        converted = []
        for c in frame.columns:
            numbers = _decimal_comma_numbers(frame[c])
            if numbers is not None:
                frame[c] = numbers
                converted.append(str(c))
        if converted:
            shown = _quoted(converted)
            notes.append(f"Read {shown} as numbers written with decimal commas (35,07 = 35.07).")
    frame.attrs["header"] = list(header)
    frame.attrs["notes"] = notes + strip_notes
    frame.attrs["unnamed"] = unnamed
    frame.attrs["missing_markers"] = markers
    return frame


def _read_parquet(data: bytes, name: str, limits: Limits) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(io.BytesIO(data))
        n_rows = parquet.metadata.num_rows
    except Exception as exc:  # pyarrow raises many types for corrupt files
        raise DataError(f"{name} looks like Parquet but could not be read ({exc}). "
                        "Write it again, or export the data as CSV.") from exc
    # The row count is in the footer: a few compressed megabytes can hold hundreds of millions
    # of rows, so the limit is checked before any row is decoded.
    if n_rows > limits.max_rows:
        raise DataError(_too_many_rows(name, f"{n_rows:,}", limits.max_rows))
    # So are the columns: 100 MB of Parquet can declare 400,000 of them (minutes and gigabytes to
    # read). The footer counts leaf columns: a nested field's parts, and a stored pandas index,
    # each count, so only past the limit are the table's own columns counted.
    if parquet.metadata.num_columns > limits.max_columns:
        schema = parquet.schema_arrow
        index = [c for c in (schema.pandas_metadata or {}).get("index_columns", []) if isinstance(c, str)]
        n_columns = len(schema) - sum(c in schema.names for c in index)
        if n_columns > limits.max_columns:
            raise DataError(_too_many_columns(name, f"{n_columns:,}", limits.max_columns))
    try:
        table = parquet.read(use_pandas_metadata=True)
        frame = table.to_pandas()
    except Exception as exc:
        raise DataError(f"{name} looks like Parquet but could not be read ({exc}). "
                        "Write it again, or export the data as CSV.") from exc
    # Parquet stores types and real missing values: only blank text cells become missing.
    frame = _tidy_columns(frame, [str(c) for c in frame.columns], decimal_comma=False)
    # Lists, structs and maps arrive as arrays and dicts, which nothing downstream can group,
    # hash or encode; as text they can at least be seen, and excluded.
    # Decimal columns (databases', Spark's and DuckDB's type for money) arrive as Python Decimal
    # objects, which nothing downstream reads as numbers: a model saw a category per amount, and
    # a Decimal target's positive label was recorded as the text "Decimal('1')" (files audit).
    decimals = []
    for f in table.schema:
        if not (pa.types.is_decimal(f.type) and f.name in frame.columns):
            continue
        numbers = _decimal_numbers(table.column(f.name), f.type.scale)
        if numbers is not None:
            frame[f.name] = numbers
            decimals.append(f.name)
    if decimals:
        frame.attrs["notes"].append(f"Read {_quoted(decimals)} (Parquet decimals) as numbers.")
    nested = [f.name for f in table.schema if pa.types.is_nested(f.type) and f.name in frame.columns]
    for c in nested:
        frame[c] = frame[c].map(_cell_text, na_action="ignore").astype(object)
    if nested:
        shown = _quoted(nested)
        frame.attrs["notes"].append(f"Read {shown} (lists or records in each cell) as text: exclude "
                                    "them, or flatten them into plain columns before uploading.")
    return frame


def _decimal_numbers(column, scale: int) -> np.ndarray | None:
    """A Parquet decimal column (an Arrow array) as numbers, or None where that would change a value.

    Whole numbers (scale 0: Snowflake's and Oracle's integers, ids of 17 digits and more) become
    integers, exactly; as floats, ids above 2**53 merged (review, session 43). With missing
    values they are floats only while every one is below 2**53. Fractions (money) are floats.
    Cast by Arrow, column at a time: a Python conversion per cell cost seconds on large tables.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if scale > 0:
        return column.cast(pa.float64()).to_numpy()
    try:
        whole = column.cast(pa.int64())  # a safe cast: refuses a value that does not fit
    except pa.ArrowInvalid:
        return None
    if whole.null_count:
        largest = pc.max(pc.abs(whole)).as_py()
        if largest is not None and largest >= 2 ** 53:
            return None
    return whole.to_pandas().to_numpy()


def _cell_text(value) -> str:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    return str(value)


_SHORT_CHUNK = 1 << 22  # bytes per step of the short-row count: a few MiB of positions at most


def _short_records_by_bytes(data: bytes, sep: str, expected: int) -> tuple[int, int, int]:
    """``(records, short, line)``: the records after the header (blank lines are not records:
    pandas skips them), how many have fewer than ``expected`` fields, and the line the first
    of those starts on (0 when none).

    Counts delimiters and line feeds outside double quotes (the parity of the quotes before a
    byte says whether it is quoted) with numpy, a chunk at a time, so memory stays at a few MiB
    whatever the file's size. A quote inside an unquoted field (5'10") breaks the parity: the
    caller checks the count of records against the parsed table.
    """
    arr = np.frombuffer(data, dtype=np.uint8)
    sep_byte, quote, newline = ord(sep), ord('"'), ord("\n")
    begin = re.match(rb"\s*", data).end()  # blank lines before the header
    quotes = seps_carry = records = short = 0
    start, first = begin, -1
    for lo in range(begin, len(arr), _SHORT_CHUNK):
        chunk = arr[lo:lo + _SHORT_CHUNK]
        # The bytes that matter, in order: few next to the chunk, so the rest works on them.
        pos = np.flatnonzero((chunk == newline) | (chunk == sep_byte) | (chunk == quote))
        kind = chunk[pos]
        is_quote = kind == quote
        if quotes & 1 or is_quote.any():  # (a quoted field may go on from the last chunk)
            outside = ((np.cumsum(is_quote) + quotes) & 1 == 0) & ~is_quote
            quotes += int(is_quote.sum())
            pos, kind = pos[outside], kind[outside]
        seps_before = np.cumsum(kind == sep_byte)
        at_end = np.flatnonzero(kind == newline)
        ends, before = pos[at_end] + lo, seps_before[at_end]
        n_seps = len(kind) - len(at_end)
        if lo + _SHORT_CHUNK >= len(arr):  # the last record need not end with a line feed
            ends, before = np.append(ends, len(arr)), np.append(before, n_seps)
        if not len(ends):
            seps_carry += n_seps
            continue
        fields = np.diff(before, prepend=0) + 1
        fields[0] += seps_carry
        seps_carry = n_seps - int(before[-1])
        starts = np.concatenate([[start], ends[:-1] + 1])
        start = int(ends[-1]) + 1
        blank = 0
        # Only records with too few fields are looked at one by one (a blank line has one).
        for i in np.flatnonzero(fields < expected):
            if not data[starts[i]:ends[i]].strip():
                blank += 1
            elif records or i:  # the first record is the header
                short += 1
                first = int(starts[i]) if first < 0 else first
        records += len(ends) - blank
    line = data.count(b"\n", 0, first) + 1 if first >= 0 else 0
    return max(records - 1, 0), short, line


def _short_records_by_csv(data: bytes, encoding: str, sep: str, expected: int) -> tuple[int, int, int]:
    """As :func:`_short_records_by_bytes` with csv's own quoting rules (a quote opens a quoted
    field only at the field's start), a row at a time: exact, about as slow as the parse."""
    reader = csv.reader(io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline=""),
                        delimiter=sep, skipinitialspace=True)
    records = short = first = 0
    line = 1  # where the next row starts
    for row in reader:
        if len(row) > 1 or any(field.strip() for field in row):
            if records and len(row) < expected:
                short += 1
                first = first or line
            records += 1
        line = reader.line_num + 1
    return max(records - 1, 0), short, first


def _short_rows_note(frame: pd.DataFrame, data: bytes, encoding: str, sep: str,
                     last: int, expected: int) -> str | None:
    """A note when rows of ``data`` have fewer than ``expected`` fields (pandas pads them with
    missing values without a word), naming how many and the line of the first; else None.

    ``frame`` is the table as parsed and ``last`` the position of the column of a row's last
    field: a padded row has no value there, so a table whose column ``last`` has no missing
    value (Adult's target) is settled without reading the bytes again.
    """
    if expected < 2 or not frame.iloc[:, last].isna().any():
        return None
    if encoding == "utf-16":
        data, encoding = data.decode("utf-16").encode("utf-8"), "utf-8"
    records, short, line = _short_records_by_bytes(data, sep, expected)
    if records != len(frame):  # quotes the byte count misread: count again as csv reads
        try:
            records, short, line = _short_records_by_csv(data, encoding, sep, expected)
        except (csv.Error, UnicodeError):
            return None
    if not short:
        return None
    rows = "1 row has" if short == 1 else f"{short:,} rows have"
    return (f"{rows} fewer fields than the header (the first on line {line}): the missing fields at "
            "the end were read as missing values. If a field was left out in the middle of a row, "
            "its values sit in the wrong columns: correct the file.")

#: Characters of a CSV file's header (from its first line that is not blank) read to count its
#: columns before parsing: 500 column names of 2,000 characters each fit.
HEADER_WINDOW = 1 << 20


def _header_too_long(name: str) -> str:
    return (f"{name}'s header (its first line that is not blank) is not a row of column names: it runs "
            f"on past {HEADER_WINDOW:,} characters, or one of its fields past {csv.field_size_limit():,}. "
            "A quote in it may be left open: check the first line's quotes, or export the data as CSV again.")


def _header_text(data: bytes, encoding: str, window: int) -> tuple[str, bool]:
    """The text of ``data`` from its first line that is not blank, at most ``window``
    characters, and whether that is the rest of the file.

    Decoded in chunks, blank lines dropped as they come: any number of them costs no memory, and
    an ordinary file decodes one chunk.
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors="ignore")
    text, pos, started = "", 0, False
    step = min(window, _CHUNK)
    while pos < len(data) and len(text) < window:
        text += decoder.decode(data[pos:pos + step], final=pos + step >= len(data))
        pos += step
        if not started:
            text = text[_BLANK_LINES.match(text).end():]  # whole blank lines; a partial one may start the header
            started = bool(text.strip())
    return text[:window], pos >= len(data) and len(text) <= window


_BLANK_LINES = re.compile(r"(?:[ \t\f\v]*(?:\r\n|\r|\n))*")


#: Characters from the first line that is not blank from which the delimiter is read.
SNIFF_WINDOW = 1 << 16


# Excel writes "sep=;" as a file's first line when it exports for another locale's delimiter.
_SEP_LINE = re.compile(rb'(?:\xef\xbb\xbf)?"?sep=([^\r\n"])"?[ \t]*\r?\n')


def _csv_dialect(data: bytes) -> tuple[str, str, int]:
    """``(encoding, delimiter, start)`` of CSV bytes: the one reading of a file's dialect (the
    table and the scored copy of its cells must split rows alike). ``start`` is where the table
    begins: after Excel's ``sep=;`` line, whose delimiter is then the file's."""
    encoding = _encoding(data)
    hint = _SEP_LINE.match(data)
    if hint:
        sep = hint.group(1).decode("latin-1")
        return encoding, sep, hint.end()
    return encoding, _sniff_delimiter(_header_text(data, encoding, SNIFF_WINDOW)[0]), 0


#: The start of a JSON document of records ({"a": ...}, [{...}], [[...]]): not a CSV header such as
#: "[Total],[Sales]" (Power BI's and DAX Studio's names), which a bracket alone would take for one.
_JSON_START = re.compile(rb'(?:\xef\xbb\xbf)?\s*(?:\{\s*["}]|\[\s*[\[{\]])')

#: Files that are not tables fairkit reads, by their first bytes: what they are, in words.
_NOT_TABLES = ((b"PK\x03\x04", "a zip archive (an Excel .xlsx workbook is one, or a zipped CSV: unzip it, or "
                                "compress the CSV with gzip, which fairkit reads)"),
               # A bzip2 or xz file was "a binary file" (scale audit, session 46).
               (b"BZh", "a bzip2-compressed file (decompress it, or compress the CSV with gzip, which fairkit reads)"),
               (b"\xfd7zXZ\x00", "an xz-compressed file (decompress it, or compress the CSV with gzip, which "
                                 "fairkit reads)"),
               (b"\xd0\xcf\x11\xe0", "an Office file (an Excel .xls workbook?)"),
               (b"$FL2", "an SPSS .sav file"), (b"$FL3", "an SPSS .sav file"),
               (b"%PDF", "a PDF document"))


def _read_csv(data: bytes, name: str, limits: Limits) -> pd.DataFrame:
    utf16 = data[:2] in UTF16_BOMS
    if not utf16 and _looks_binary(data[:4096]):
        what = next((w for magic, w in _NOT_TABLES if data.startswith(magic)), "a binary file")
        raise DataError(f"{name} is {what}, not CSV or Parquet. Export the data as CSV (or Parquet).")
    if _JSON_START.match(data):
        raise DataError(f"{name} looks like JSON, not CSV or Parquet. Write the table as CSV "
                        "(pandas: to_csv) or Parquet (to_parquet) and read that.")
    try:
        encoding, sep, start = _csv_dialect(data)
    except MixedEncoding as exc:
        raise DataError(_mixed_encoding_message(data, name, exc.position)) from exc
    hint = []
    if start:
        data = (codecs.BOM_UTF8 if data[:3] == codecs.BOM_UTF8 else b"") + data[start:]
        hint = [f"Skipped the first line, 'sep={sep}' (Excel's note of the delimiter), and read the table "
                f"below it with that delimiter."]
    # A header fits the first 64 KiB but for hundreds of long names: only then is more decoded.
    for window in (SNIFF_WINDOW, HEADER_WINDOW):
        sample, whole = _header_text(data, encoding, window)
        text = io.StringIO(sample)
        try:
            # Blank lines before the header are skipped, as pandas skips them.
            header = next((row for row in csv.reader(text, delimiter=sep) if any(field.strip() for field in row)), [])
        except csv.Error as exc:
            if "field limit" in str(exc):  # a quoted field running on: the header cannot be that wide
                raise DataError(_header_too_long(name)) from exc
            # csv's own wording ("universal-newline mode") speaks to programmers, not to users.
            raise DataError(f"{name} is not a readable CSV table: its first line cannot be split into "
                            "fields (a stray carriage return or binary content). If it comes from a "
                            "spreadsheet or another program, export the data as CSV (UTF-8) or Parquet.") from exc
        end = text.tell()
        # The header ended inside the window when the text goes on past it or it ends a line.
        ended = whole or end < len(sample) or sample[end - 1:end] in ("\n", "\r")
        if len(header) > limits.max_columns:
            # Parsing a header of millions of fields takes minutes and gigabytes; the window's
            # count (a lower bound when the header runs past it) is enough to refuse it.
            raise DataError(_too_many_columns(name, f"{'' if ended else 'at least '}{len(header):,}",
                                              limits.max_columns))
        if ended:
            break
    else:
        # The header runs past the window (a quoted field left open): how many columns it has is
        # only known by parsing it all, which is what the limit is there to avoid.
        raise DataError(_header_too_long(name))
    if not header:
        return pd.DataFrame()
    try:
        # One row past the limit tells "over the limit" apart from "at the limit" without
        # parsing the rest of a huge file.
        def parse(**how):
            return pd.read_csv(
                io.BytesIO(data), sep=sep, encoding=encoding, na_values=NA_VALUES,
                keep_default_na=False, skipinitialspace=True, low_memory=False,
                nrows=limits.max_rows + 1, **how,
            )

        frame = parse()
        extra = 0 if frame.index.equals(pd.RangeIndex(len(frame))) else frame.index.nlevels
        if extra and frame.shape[1] > extra and frame.iloc[:, -extra:].isna().all().all():
            # Rows that end in delimiters the header lacks (a spreadsheet's trailing empty cells):
            # pandas took the first fields as row names and shifted the rest under the wrong
            # names, emptying the last columns (review, session 43). Their empty ends are dropped.
            with warnings.catch_warnings():  # "loss of data": the fields dropped are empty, checked above
                warnings.simplefilter("ignore", pd.errors.ParserWarning)
                frame = parse(index_col=False)
            frame.attrs["trailing_delimiters"] = extra
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (pd.errors.ParserError, csv.Error, ValueError, UnicodeError) as exc:
        raise DataError(
            f"{name} is not a well-formed CSV table: {str(exc).strip()}. "
            "Check that every row has the same number of fields and that quotes are closed."
        ) from exc
    if len(frame) > limits.max_rows:
        raise DataError(_too_many_rows(name, f"more than {limits.max_rows:,}", limits.max_rows))
    # Fields a data row should have: the parsed columns (trailing blank-named empty columns,
    # from delimiters at the end of the header, left out) and the row name, if any.
    named = [i for i, c in enumerate(frame.columns) if not _is_blank_name(c) or frame.iloc[:, i].notna().any()]
    # Row names R's write.table writes (1..n) parse to a RangeIndex too, but not to the default one.
    row_names = 0 if frame.index.equals(pd.RangeIndex(len(frame))) else frame.index.nlevels
    if row_names > 1:
        # Only R's write.table leaves one name out (the row names); a header several names short
        # had its first fields dropped and the rest shifted under the wrong names (files audit).
        raise DataError(f"{name}: the header has {len(header):,} names but the rows have {len(header) + row_names:,} "
                        "fields, so the columns cannot be matched with their names. Give every column a name "
                        "in the header (an empty name between two delimiters will do) and read it again.")
    short_note = named and _short_rows_note(frame, data, encoding, sep, named[-1], named[-1] + 1 + row_names)
    notes = hint + ([short_note] if short_note else [])
    if frame.attrs.pop("trailing_delimiters", 0):
        notes.append("The rows end in more delimiters than the header has names, with nothing after them: "
                     "those empty fields were left out.")
    if row_names:
        # A header one field shorter than the rows (R's write.table): pandas takes the first
        # field of each row as the index.
        frame = frame.reset_index(drop=True)
        notes.append("The header has one name fewer than the rows: the first value of each "
                     "row was read as a row name and left out.")
    # Rows of delimiters only at the end (cells a spreadsheet once formatted): not data. Kept,
    # they were counted as rows and drew warnings of missing groups and imputed values that
    # were not so (files audit, session 43). with_columns_appended skips them alike.
    filled = frame.notna().any(axis=1).to_numpy()
    trailing = len(frame) - (int(np.flatnonzero(filled)[-1]) + 1 if filled.any() else 0)
    trailing = _delimiter_rows_at_end(data, encoding, sep, trailing) if trailing and filled.any() else 0
    if trailing:
        kept = frame.iloc[:len(frame) - trailing].copy()
        # Whole numbers that were floats only for the empty rows' gaps are whole again (R's row
        # numbers are then found as such).
        for i in range(kept.shape[1]):
            col = kept.iloc[:, i]
            if col.dtype.kind == "f" and col.notna().all() and len(col) and (col % 1 == 0).all() \
                    and np.abs(col).max() < 2 ** 53:
                kept.isetitem(i, col.astype(np.int64))
        frame = kept
        notes.append(f"Left out {rows_text(trailing)} at the end of the file with no value in any cell "
                     "(only delimiters, as a spreadsheet leaves them).")
    n_fields, n_rows = frame.shape[1] + row_names, len(frame)

    def count_markers(columns: dict) -> dict:
        # A data row's fields: the row name(s) first, if any, then the parsed columns.
        fields = {key: position + row_names for key, position in columns.items()}
        return _missing_markers(data, encoding, sep, n_fields, fields, n_rows)

    thousands = _thousands_dots(frame, data, encoding, sep, n_fields, row_names) if sep == ";" else []
    frame = _tidy_columns(frame, header, decimal_comma=sep == ";", na_values=NA_VALUES,
                          typed=False, missing_markers=count_markers)
    if thousands:
        notes.append(f"Read {_quoted(thousands)} as whole numbers written with dots between thousands "
                     "(1.852 = 1852), as a semicolon-separated spreadsheet export writes them.")
    frame.attrs["notes"] = notes + frame.attrs["notes"]
    return frame


def _delimiter_rows_at_end(data: bytes, encoding: str, sep: str, most: int) -> int:
    """How many of the last ``most`` rows of ``data`` are only delimiters, quotes and blanks as
    written (a row of missing-value marks, 'NA,NA', is a row of data: review, session 43); the
    test :func:`with_columns_appended` applies to the same rows."""
    if encoding == "utf-16":
        return 0
    tail = data[-(1 << 16):].decode(encoding, errors="replace")
    lines = [line for line in tail.splitlines() if line.strip()][-most:]
    empty = 0
    for fields in reversed(list(csv.reader(lines, delimiter=sep))):
        if not _no_value(fields):
            break
        empty += 1
    return empty


def _no_value(fields) -> bool:
    """Whether CSV fields as written hold nothing (delimiters, quotes and blanks only): the one
    test of a row spreadsheets leave after the data, for reading and for the scored copy."""
    return not any(field.strip() for field in fields)


# A whole number as a European spreadsheet writes it: 849, 1.852 or 12.345.678 (never 0.125: a
# number with dots between thousands does not start with 0).
_THOUSANDS_DOT = re.compile(r"[+-]?(?:[1-9]\d{0,2}(?:\.\d{3})+|\d{1,3})")


def _thousands_dots(frame: pd.DataFrame, data: bytes, encoding: str, sep: str, n_fields: int,
                    row_names: int) -> list:
    """Columns of a semicolon-separated file that pandas read as decimals but that are whole
    numbers with dots between thousands, converted in place; their names.

    In such a file (Excel's export where the decimal mark is a comma), '1.852' in a column whose
    cells below a thousand have no dot ('849') is 1852: pandas read it as 1.852, silently a
    thousandth of its value (files audit, session 43). A column qualifies when every cell is a
    whole number written that way, at least one has a dot, and one has none or several dots, or
    another column of the file writes decimals with commas (a file of one locale has one decimal
    mark); a column of decimals written with dots ('0.125', '2.5') never does.
    """
    candidates, texts = {}, {}
    for i, col in enumerate(frame.columns):
        values = frame.iloc[:, i]
        if _is_text(values):  # '12.345.678' is no float to pandas: the column stayed text
            known = values.dropna()
            # A look at the first values rules out most text columns before the full pass.
            if (len(known) and pd.api.types.infer_dtype(known.iloc[:200], skipna=True) == "string"
                    and known.iloc[:200].str.strip().str.fullmatch(_THOUSANDS_DOT).all()
                    and pd.api.types.infer_dtype(known, skipna=True) == "string"):
                texts[i] = known.str.strip()
            continue
        if values.dtype.kind != "f":
            continue
        known = values.dropna().to_numpy()
        # Read as decimals, such numbers are below 1000 with at most three decimals ('5.000' is 5.0:
        # a column of round thousands beside '800' is all whole numbers, and float only for its dots).
        if not len(known) or np.abs(known).max() >= 1000:
            continue
        if not np.allclose(known * 1000, np.round(known * 1000), rtol=0, atol=1e-6):
            continue
        candidates[i] = i + row_names
    texts = {i: t for i, t in texts.items() if t.str.contains(".", regex=False).any()
             and t[~t.isin(NA_VALUES)].str.fullmatch(_THOUSANDS_DOT).all()}
    if not candidates and not texts:
        return []
    raw = pd.DataFrame(index=range(len(frame)))
    if candidates:
        try:
            raw = pd.read_csv(io.BytesIO(data), sep=sep, encoding=encoding, header=0, names=list(range(n_fields)),
                              usecols=sorted(candidates.values()), dtype=str, na_filter=False,
                              skipinitialspace=True, nrows=len(frame))
        except (pd.errors.ParserError, csv.Error, ValueError, UnicodeError):
            candidates = {}
    sources = {i: raw[position].str.strip() for i, position in candidates.items()}
    sources.update({i: frame.iloc[:, i].where(frame.iloc[:, i].notna(), "").astype(str).str.strip()
                    for i in texts})
    converted, commas = [], None
    for i, full in sources.items():
        text = full[~full.isin(NA_VALUES)]
        if not len(text) or not text.str.fullmatch(_THOUSANDS_DOT).all():
            continue
        dots = text.str.count(r"\.")
        if not (dots > 0).any():
            continue
        if not ((dots == 0).any() or (dots > 1).any()):
            if commas is None:  # every cell has one dot: the file's other columns decide
                commas = any(_decimal_comma_numbers(frame.iloc[:, j]) is not None
                             for j in range(frame.shape[1]) if _is_text(frame.iloc[:, j]))
            if not commas:
                continue
        numbers = pd.to_numeric(full.str.replace(".", "", regex=False), errors="coerce")
        frame.isetitem(i, numbers.where(frame.iloc[:, i].notna().to_numpy()).to_numpy(dtype=float))
        converted.append(str(frame.columns[i]))
    return converted


def read_table(source, *, limits: Limits = DEFAULT_LIMITS) -> pd.DataFrame:
    """Read a CSV or Parquet table.

    Parameters
    ----------
    source : str, Path, bytes or file object
        The table. Parquet is recognised by its magic bytes; anything else is read as CSV with
        the delimiter (comma, semicolon, tab, pipe) and encoding (UTF-8, UTF-8 with BOM,
        UTF-16 with BOM, Windows-1252/Latin-1) detected; a UTF-8 file with bytes of another
        encoding is refused, naming the line. Blank cells and the texts in ``NA_VALUES``
        (``?``, ``NA``, ``None``, Excel's ``#N/A``, SAS's and Stata's ``.`` ...) are missing
        values. Excel's ``sep=;`` first line and rows of delimiters only at the end are skipped. In a
        semicolon-separated file (the European spreadsheet export), text columns of numbers
        written with decimal commas (``35,07``) are read as numbers; with other delimiters a
        comma may be a thousands separator, so such columns stay text. In every format,
        blanks around column names and text cells are removed ('Male  ' is 'Male'), and a
        text cell of blanks only is missing.
    limits : Limits
        ``max_bytes`` is checked before parsing; ``max_rows`` before decoding a Parquet file's
        rows and, for CSV, by reading at most one row past the limit.

    Returns
    -------
    DataFrame
        Blank column names are resolved: a nameless first column of unique integers (row
        names, as R's ``write.csv`` writes them) and nameless empty columns are left out;
        other nameless columns are called ``unnamed_<position>``. ``frame.attrs`` records
        ``"header"`` (the header as written, for :func:`validate` to report duplicates),
        ``"unnamed"`` (generated name -> 1-based position), ``"missing_markers"`` (column ->
        {text of ``NA_VALUES`` -> cells read as missing}, empty cells aside, for
        :func:`validate` to name) and ``"notes"`` (what was changed, in plain words, to show
        the user; rows with fewer fields than the header, which are padded with missing values,
        are counted there with the line of the first, and the columns whose text lost blanks
        with how many cells).

    Raises
    ------
    DataError
        The bytes are not a readable table, or exceed a limit (the message says what to do).
    """
    data, name = _read_bytes(source, limits.max_bytes)
    if len(data) > limits.max_bytes:
        raise DataError(_too_big(len(data), limits.max_bytes))
    if data[:2] == GZIP_MAGIC:
        data = _gunzip(data, name, limits.max_bytes)
    if not data or data.isspace():
        return pd.DataFrame()
    if data[:4] == PARQUET_MAGIC:
        return _read_parquet(data, name, limits)
    return _read_csv(data, name, limits)


def with_columns_appended(data: bytes, columns: dict, n_rows: int) -> bytes | None:
    """A CSV table's bytes with ``columns`` added at the end of each row, every other cell's text
    as it was written (UTF-8): ``034`` stays ``034``, ``#N/A`` stays ``#N/A``.

    What :func:`read_table` gives is parsed (numbers as numbers, missing markers as missing, blanks
    trimmed); a file of results written from it would change identifiers with leading zeros
    and codes a join relies on. The file is read again as text, with the delimiter and encoding
    :func:`read_table` detects; rows shorter than the header get empty cells, as reading pads them.

    Parameters
    ----------
    data : bytes
        The CSV file as read (gzip-compressed or not).
    columns : dict of str to sequence
        New column name -> one value per data row (written with ``str``).
    n_rows : int
        The data rows :func:`read_table` read from ``data``.

    Returns
    -------
    bytes or None
        None for Parquet, or when the file's rows cannot be matched one to one with what was
        read (the caller then writes the parsed rows).
    """
    if data[:2] == GZIP_MAGIC:
        data = _gunzip(data, "the file", DEFAULT_LIMITS.max_bytes)
    if not data or data.isspace() or data[:4] == PARQUET_MAGIC:
        return None
    encoding, sep, start = _csv_dialect(data)
    if start:  # Excel's sep= line stays first in the copy, above the header
        text = data.decode(encoding)
        cut = text.index("\n") + 1
        lead, text = text[:cut], text[cut:]
    else:
        lead, text = "", data.decode(encoding)
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    # pandas skips blank lines (no field, or blanks only), before the header too.
    rows = (row for row in rows if len(row) > 1 or (row and row[0].strip()))
    header = next(rows, None)
    values = [list(v) for v in columns.values()]
    if header is None or any(len(v) != n_rows for v in values):
        return None
    out = io.StringIO()
    out.write(lead.lstrip("\ufeff"))
    writer = csv.writer(out, delimiter=sep, lineterminator="\n")
    writer.writerow(header + list(columns))
    width, written = len(header), 0
    # Row by row, so the copy costs about the file's text once more, not a list of its cells.
    for row in rows:
        if written == n_rows:
            if _no_value(row):
                continue  # a row of delimiters only at the end, which read_table leaves out
            return None
        if len(row) > width and _no_value(row[width:]):
            row = row[:width]  # empty fields past the header's names, which read_table leaves out
        elif written == 0 and len(row) == width + 1:
            # R's write.table writes a header one name short of its rows (their row names): the
            # header keeps that shape, so the new names still sit over the new cells.
            width += 1
        writer.writerow(row + [""] * (width - len(row)) + [str(v[written]) for v in values])
        written += 1
    if written != n_rows:
        return None
    return out.getvalue().encode()


def read_notes(frame: pd.DataFrame) -> list[str]:
    """What :func:`read_table` changed while reading ``frame`` (dropped row names, decimal
    commas, padded short rows, blanks removed around text), in plain words; empty for a frame
    it did not read."""
    return list(frame.attrs.get("notes", []))


# --------------------------------------------------------------------------- validation

# Training, validation and test take 60/20/20% of the rows: with fewer rows of an outcome than
# this, a part is expected to see none of it (and the training part may see only one outcome).
MIN_OUTCOME_ROWS = 5
# StandardScaler squares deviations in float64: above about 1e154 / sqrt(rows) the variance
# overflows and every scaled value becomes inf or NaN. 1e150 stays safe up to the row limit.
MAX_ABS_VALUE = 1e150


def _p(severity, code, column, message, action) -> Problem:
    return Problem(severity, code, None if column is None else str(column), message, action)


def _is_blank_name(name) -> bool:
    s = str(name).strip()
    return s == "" or s.startswith("Unnamed: ")


def _codes(values: pd.Series) -> tuple[np.ndarray, int]:
    """Each row's value as an integer code (missing values one value) and how many values there are."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return codes.astype(np.int64), len(uniques)


def _determines(a: tuple[np.ndarray, int], b: tuple[np.ndarray, int]) -> bool:
    """True when each value of ``a`` occurs with a single value of ``b`` (both :func:`_codes`)."""
    (ca, na), (cb, nb) = a, b
    return len(np.unique(ca * nb + cb)) == na


def sensitive_proxies(frame: pd.DataFrame, features, sensitive) -> dict:
    """Feature -> the sensitive attributes it determines exactly (each of its values occurs with
    one value of the attribute): a model reading it reads them, input or not.

    German's personal_status ("female: divorced/married", "male: single", ...) tells sex
    exactly, as a copy (title Ms/Mr) does, and age tells age_group. A column with a value per
    few rows (an identifier) "determines" anything and is named elsewhere
    (:data:`PROXY_ROWS_PER_VALUE`). :func:`validate` warns of each; a decision record names the
    ones its model reads (the record said "does not need the sensitive attribute" of a model
    reading age: number audit, session 45).
    """
    found: dict = {}
    sens_codes: dict = {}
    for c in features:
        if c not in frame:
            continue
        col = frame[c]
        nunique = col.nunique()
        coded = None
        for attr in sensitive:
            if attr == c or attr not in frame or nunique < 2 or nunique * PROXY_ROWS_PER_VALUE > len(frame):
                continue
            coded = coded or _codes(col)
            if attr not in sens_codes:
                sens_codes[attr] = _codes(frame[attr])
            if _determines(coded, sens_codes[attr]):
                found.setdefault(c, []).append(attr)
    return found


def _same_partition(a: pd.Series, b: pd.Series) -> bool:
    """True when ``a`` and ``b`` determine each other (a relabelling of the same values)."""
    ca, cb = _codes(a), _codes(b)
    return _determines(ca, cb) and _determines(cb, ca)


def _shown(value, width: int = 40) -> str:
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= width else text[:width - 3] + "..."


def _nested_cell(values: pd.Series):
    """Row label and value of the first cell that is not a plain value (a list, dict, set,
    array or other object), or None when there is none."""
    if values.dtype != object:
        return None  # typed columns (numbers, text, dates, categories) hold plain values only
    plain = values.map(pd.api.types.is_scalar).to_numpy(dtype=bool)
    if plain.all():
        return None
    at = int(np.flatnonzero(~plain)[0])
    return values.index[at], values.iloc[at]


def _extreme_values(values: pd.Series) -> np.ndarray:
    """Infinite values and values too large to scale (see MAX_ABS_VALUE), as a boolean mask."""
    if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return np.zeros(len(values), dtype=bool)
    x = values.to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        return np.abs(x) > MAX_ABS_VALUE  # inf included, NaN excluded


# Characters that separate fields in exports; only the first three (and commas) are read.
_DELIMITER_NAMES = {";": "semicolons", "\t": "tabs", "|": "pipes", ":": "colons", "~": "tildes",
                    "^": "carets"}
_READABLE_DELIMITERS = ("with commas, semicolons, tabs or pipes between fields and the same number "
                        "of fields in every row")


def _delimiter_hint(only: str) -> str:
    """Why a table came out as one column named ``only``: the delimiter that name holds."""
    hint = f"The table has a single column ('{only[:60]}')"
    found = max(_DELIMITER_NAMES, key=only.count)
    if not only.count(found):
        if len(only.split()) > 1:  # R's write.table writes spaces between fields by default
            return (hint + ": its fields seem to be separated by spaces (R's write.table does so unless "
                    "told sep=','), which fairkit does not read as a delimiter.")
        return hint + ": its fields may be separated by a character fairkit does not recognise."
    if found in ";\t|":
        return (hint + f": its name holds {_DELIMITER_NAMES[found]}, which fairkit reads as delimiters "
                "only when every row has the same number of them.")
    return hint + f": its name holds {_DELIMITER_NAMES[found]}, which fairkit does not read as a delimiter."


def _hidden_text(frame: pd.DataFrame, grouping) -> list[Problem]:
    """A warning for each column whose name, or (for the target and sensitive ``grouping``
    columns, whose values name the groups in every result) whose values, hold invisible
    controls or format characters: shown, they reorder or hide the text around them, so the
    pages and records show them as markers (:func:`visible_text`)."""
    found = []
    for c in frame.columns:
        name = hidden_characters(c)
        values = []
        if c in grouping and not pd.api.types.is_numeric_dtype(frame[c].dtype):
            texts = pd.unique(frame[c].dropna().astype(str))
            values = sorted({h for t in texts for h in hidden_characters(t)})
        if not (name or values):
            continue
        where = {(True, False): f"The name '{c}' holds", (False, True): f"Values of '{c}' hold",
                 (True, True): f"The name '{c}' and its values hold"}[bool(name), bool(values)]
        codes = ", ".join(sorted(set(name) | set(values))[:4])
        found.append(_p("warning", "hidden_characters", c,
                        f"{where} invisible control or format characters ({codes}), which can reverse or hide "
                        "the text around them (a right-to-left override shows 0.048 as 840.0); fairkit shows "
                        "each as a marker such as <U+202E>.",
                        "Remove them from the file (or rename the column) unless they are meant to be there."))
    return found


def usable_feature_columns(frame: pd.DataFrame, spec: DatasetSpec) -> list:
    """The spec's feature columns that can inform a model: not empty and not constant."""
    return [c for c in spec.feature_columns(frame)
            if frame[c].notna().any() and frame[c].nunique(dropna=True) > 1]


#: Below this share of rows with one outcome, decisions at the sweeps' threshold of 0.5 are mostly
#: the majority's, and validation says so.
RARE_OUTCOME_SHARE = 0.05

#: A feature with fewer rows per value than this (an identifier, a measurement) is not checked
#: as a proxy of a sensitive attribute: with a value per row it would "determine" any column.
PROXY_ROWS_PER_VALUE = 10

#: Above this many distinct values a numeric sensitive column is flagged: each value is a group
#: of its own (a decile's 10 groups are kept without a word).
NUMERIC_GROUPS = 10



def encoded_widths(frame: pd.DataFrame, columns, min_rows: int = MIN_CATEGORY_ROWS) -> dict:
    """How many model inputs each column becomes: 1 for a number; for any other column its
    categories with at least ``min_rows`` rows, and one more for the rest when there are any
    (as :func:`fairkit.split.make_preprocessor` encodes them)."""
    out = {}
    for c in columns:
        col = frame[c]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            out[c] = 1
            continue
        counts = col.value_counts(dropna=True)
        kept = int((counts >= min_rows).sum())
        out[c] = max(kept + int(kept < len(counts)), 1)
    return out


def too_wide(widths: dict, n_rows: int) -> str | None:
    """Why a table of ``n_rows`` rows encoded as ``widths`` (:func:`encoded_widths`) is too
    large to build (over :data:`MAX_DENSE_CELLS` cells), naming its widest columns; None when it
    is not."""
    inputs = sum(widths.values())
    if n_rows * inputs <= MAX_DENSE_CELLS:
        return None
    wide = sorted(((w, c) for c, w in widths.items() if w > 1), key=lambda x: -x[0])[:3]
    named = ", ".join(f"'{c}' ({w:,} inputs)" for w, c in wide)
    return (f"The table would become {inputs:,} model inputs for each of its {n_rows:,} rows, "
            f"{n_rows * inputs:,} numbers, over the {MAX_DENSE_CELLS:,} fairkit builds: each category of a text "
            f"column with at least {MIN_CATEGORY_ROWS} training rows is an input of its own"
            + (f"; the widest: {named}" if named else ""))


#: Column names that say "row weight" (UCI Adult's fnlwgt, survey and frequency weights).
#: The whole name, so that a measurement ("body_weight_kg") is not taken for one.
_WEIGHT_NAME = re.compile(r"(?i)^\s*((sample|survey|person|final|row|case|design|frequency|freq)[ _.-]?)?"
                          r"(weights?|wt|wgt|fnlwgt|pwgtp|freq|frequency)\s*$")


def validate(
    frame: pd.DataFrame,
    spec: DatasetSpec,
    *,
    min_group_size: int = MIN_GROUP_SIZE,
    limits: Limits = DEFAULT_LIMITS,
) -> list[Problem]:
    """Check a table against a spec; return every problem found, errors first.

    Never raises on bad data (duplicated column labels, lists or dicts in cells, infinite
    values included): each is a :class:`Problem`. An empty list means the table is ready to
    train on; a table without errors can be split and trained on.

    Parameters
    ----------
    frame : DataFrame
    spec : DatasetSpec
    min_group_size : int
        Groups and intersections smaller than this get a warning: their metrics are noisy and a
        fairness penalty on them can be dominated by a few people.
    limits : Limits

    Returns
    -------
    list of Problem
        Errors first, then warnings.
    """
    problems: list[Problem] = []
    if frame is None or frame.shape[1] == 0 or len(frame) == 0:
        return [_p("error", "empty", None, "The table is empty (no rows or no columns).",
                   "Give a file with a header row and at least one data row.")]

    # pandas deep-copies a frame's attrs into every column taken from it: 11.5 of the 19 s a
    # 500-column table's check took (scale audit, session 46). Read here once; checked without.
    original, attrs = frame, frame.attrs
    frame = frame.copy(deep=False)
    frame.attrs = {}
    markers = attrs.get("missing_markers") or {}
    n_rows, n_cols = frame.shape
    if n_rows > limits.max_rows:
        problems.append(_p("error", "too_many_rows", None,
                           f"The table has {n_rows:,} rows, over the limit of {limits.max_rows:,}.",
                           LIMIT_HINT))
    if n_cols > limits.max_columns:
        problems.append(_p("error", "too_many_columns", None,
                           f"The table has {n_cols:,} columns, over the limit of {limits.max_columns:,}.",
                           COLUMN_HINT))

    repeated = pd.Index(frame.columns).duplicated()
    for d in repeated_names(original):  # by the header as written (attrs)
        problems.append(_p("error", "duplicate_column", d, f"The column name '{d}' appears more than once.",
                           "Give every column a unique name."))
    if repeated.any():
        # The first column of each name stands for the name in the remaining checks.
        frame = frame.loc[:, ~repeated]

    sensitive = list(dict.fromkeys(spec.sensitive))
    for col in sensitive:
        if spec.sensitive.count(col) > 1:
            problems.append(_p("error", "sensitive_repeated", col,
                               f"'{col}' is listed {spec.sensitive.count(col)} times among the sensitive attributes.",
                               "List each sensitive attribute once."))
    spec = spec.replace(sensitive=sensitive)

    # Lists, dicts and other containers cannot be grouped, counted or encoded. Only columns in
    # use are checked, so excluding such a column clears the error.
    in_use = dict.fromkeys([spec.target, *spec.sensitive, *spec.feature_columns(frame)])
    nested = []
    for c in in_use:
        if c in frame.columns and (cell := _nested_cell(frame[c])) is not None:
            nested.append(c)
            problems.append(_p("error", "nested_values", c,
                               f"'{c}' holds lists, dicts or other containers instead of plain values "
                               f"(row {cell[0]}: {_shown(cell[1])}).",
                               "Flatten it into plain columns, turn it into text, or exclude it."))
    if nested:
        frame = frame.drop(columns=nested)

    problems.extend(_hidden_text(frame, [spec.target, *spec.sensitive]))

    unnamed = dict(attrs.get("unnamed", {}))
    unnamed.update({c: i + 1 for i, c in enumerate(frame.columns)
                    if _is_blank_name(c) and c not in unnamed})
    for c, position in unnamed.items():
        if c in in_use and c in frame.columns:
            named = f"; it is read as '{c}'" if str(c).strip() else ""
            problems.append(_p("warning", "unnamed_column", c,
                               f"Column {position} has no name in the header{named}.",
                               "Exclude it if it is not a real feature (a row number or an export artefact); "
                               "otherwise give it a name in the file."))

    columns = set(frame.columns)
    target = spec.target
    target_ok = False
    if frame.shape[1] == 1 and target in columns:
        # The dashboard's first guess of the target is the last column: the one column here.
        problems.append(_p("error", "single_column", target, _delimiter_hint(str(target)),
                           f"Save the file {_READABLE_DELIMITERS}: a table needs an outcome, a "
                           "sensitive attribute and features."))
    if target in nested:
        pass  # reported above
    elif not target or target not in columns:
        message = f"The target column '{target}' is not in the table.{_did_you_mean(target, columns)}"
        action = "Choose the column that holds the outcome."
        if frame.shape[1] == 1:
            message, action = f"{message} {_delimiter_hint(str(frame.columns[0]))}", (
                f"Choose the column that holds the outcome, or save the file {_READABLE_DELIMITERS}.")
        problems.append(_p("error", "target_missing", target, message, action))
    else:
        y = frame[target]
        n_missing_y = int(y.isna().sum())
        values = y.dropna().unique()
        shown = ", ".join(_shown(v) for v in sorted(values, key=str)[:8])
        if len(values) == 0:
            problems.append(_p("error", "target_all_missing", target,
                               f"The target '{target}' has no values.", "Choose another target column."))
        elif len(values) == 1:
            problems.append(_p("error", "target_constant", target,
                               f"The target '{target}' has a single value ({_shown(values[0])}); there is nothing to learn.",
                               "Choose a target with two outcomes, or add rows with the other outcome."))
        elif spec.positive_label is None:
            if len(values) > 2:
                problems.append(_p("error", "target_not_binary", target,
                                   f"The target '{target}' has {len(values)} values; fairkit trains binary classifiers.",
                                   "Choose the positive label (the favourable outcome); every other value becomes negative."))
            else:
                problems.append(_p("error", "positive_label_unset", target,
                                   f"Which outcome of '{target}' is favourable is not chosen (values: {shown}).",
                                   "Choose the positive label: the favourable outcome (for example the loan granted)."))
        elif absent := [v for v in positive_labels(spec.positive_label) if not _contains(values, v)]:
            several = len(positive_labels(spec.positive_label)) > 1
            problems.append(_p("error", "positive_label_absent", target,
                               f"The positive label{' ' if len(absent) == 1 else 's '}"
                               f"{label_text(absent, quote=_shown)} {'does' if len(absent) == 1 else 'do'} not occur in "
                               f"'{target}' (values: {shown}).",
                               "Choose one of the target's values as the positive label"
                               + (", or leave out the values that do not occur." if several else ".")))
        else:
            target_ok = True
            positive = label_mask(y.dropna(), spec.positive_label)
            counts = {"positive": int(positive.sum()), "negative": int((~positive).sum())}
            problems.extend(_outcome_grouping(y, spec.positive_label, counts))
            scarce = min(counts, key=counts.get)
            if counts[scarce] < MIN_OUTCOME_ROWS:
                problems.append(_p("error", "too_few_outcomes", target,
                                   f"Only {counts[scarce]} row(s) of '{target}' have the {scarce} outcome "
                                   f"({counts['positive']:,} positive, {counts['negative']:,} negative); training, "
                                   "validation and test each need rows of both outcomes.",
                                   f"Add rows so that each outcome has at least {MIN_OUTCOME_ROWS}, or choose "
                                   "another target or positive label."))
            elif counts[scarce] < RARE_OUTCOME_SHARE * (counts["positive"] + counts["negative"]):
                # A 2% outcome made every model of a sweep constant at its threshold of 0.5 (they
                # ranked well, ROC AUC 0.89), and the sweep suggested checking the positive label.
                share = counts[scarce] / (counts["positive"] + counts["negative"])
                problems.append(_p("warning", "rare_outcome", target,
                                   f"Only {share:.1%} of the rows have the {scarce} outcome: at the decision "
                                   "threshold of 0.5 the sweeps judge models at, most models give every row "
                                   "the majority decision (constant models, kept off the frontier), and "
                                   "accuracy mostly measures the majority.",
                                   "Judge the models by balanced accuracy or ROC AUC, and choose the decision "
                                   "threshold at export (--threshold; the Export page's slider); or resample "
                                   "the table so the outcome is less rare."))
        if n_missing_y:
            read, recode = _read_as_missing(frame, markers, target, n_missing_y)
            problems.append(_p("warning", "target_missing_values", target,
                               f"{n_missing_y:,} rows have no target value and will be left out.{read}",
                               f"{recode}Fill in the outcome for those rows if you have it."))

    if not spec.sensitive:
        problems.append(_p("error", "no_sensitive", None, "No sensitive attribute is chosen.",
                           "Choose at least one column (for example sex or race) to measure fairness across."))
    sens_ok = []
    for col in spec.sensitive:
        if col in nested:
            continue
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
                               f"The sensitive column '{col}' has a single group ({_shown(s.dropna().iloc[0])}); fairness across groups cannot be measured.",
                               "Choose a column with at least two groups."))
            continue
        if col == target:
            problems.append(_p("error", "sensitive_is_target", col,
                               f"'{col}' is both the target and a sensitive attribute.", "Choose different columns."))
            continue
        n_missing = int(s.isna().sum())
        if n_missing:
            read, recode = _read_as_missing(frame, markers, col, n_missing)
            problems.append(_p("warning", "sensitive_missing_values", col,
                               f"{n_missing:,} rows have no value for '{col}'; they form their own group '(missing)'.{read}",
                               f"{recode}Fill in the attribute if you can; otherwise review that group's results."))
        variants = _spelling_variants(s)
        if variants:
            # 'F' and 'f' are two groups, each compared with the other (files audit, session 43: a
            # tenth of the rows typed in lower case moved the validation gap from 0.089 to 0.225).
            shown = "; ".join(" and ".join(f"{_spelled(v, group)} ({rows_text(n)})" for v, n in group)
                              for group in variants[:3])
            more = f" and {len(variants) - 3} more" if len(variants) > 3 else ""
            problems.append(_p("warning", "sensitive_spellings", col,
                               f"'{col}' has values that differ only in case, blanks, a trailing '.' or how their "
                               f"characters are encoded (the same on screen): {shown}{more}. Each is a group of its own.",
                               "If they are one group, write them one way in the file (or map them before "
                               "training); split, each part is measured as a group of its own."))
        numeric = n_groups > NUMERIC_GROUPS and s.dtype.kind in "iuf"
        if n_groups > 50 and not numeric:  # a numeric column's own warning says more
            problems.append(_p("warning", "sensitive_many_groups", col,
                               f"'{col}' has {n_groups} groups; most will be too small to measure.",
                               "Merge rare values into broader groups before training."))
        if numeric:
            # Age in years made 63 groups of about 10 test rows each, compared value by value.
            problems.append(_p("warning", "sensitive_numeric", col,
                               f"'{col}' holds numbers with {n_groups:,} distinct values: each value is a group of its "
                               "own, compared with every other one by one.",
                               f"Bin '{col}' into ranges first (for example age bands) and use that column."))
        sens_ok.append(col)

    if sens_ok:
        levels = [[c] for c in sens_ok] + ([sens_ok] if len(sens_ok) > 1 else [])
        rows = frame if not target_ok else frame[frame[target].notna()]
        y_rows = binary_target(rows, spec) if target_ok else None  # once for every level
        for cols in levels:
            labels = group_labels(rows[cols])
            n_level = int(labels.nunique())
            if n_level > MAX_GROUPS:
                name = " & ".join(cols)
                problems.append(_p("error", "too_many_groups", name,
                                   f"'{name}' has {n_level:,} groups, over the {MAX_GROUPS:,} fairkit compares: every "
                                   "pair of groups enters the gaps and their intervals, and with so many groups most "
                                   "hold a few rows, whose gaps measure noise.",
                                   "Merge values into broader groups (bands, regions, the first digits of a code), "
                                   + ("or give fewer sensitive attributes." if len(cols) > 1 else
                                      "or choose another sensitive attribute.")))
                continue
            if y_rows is not None:
                # A group without one of the outcomes: its true- or false-positive rate cannot be
                # measured, and the gaps of those rates leave it out without a word before the
                # record (scale audit, session 46).
                counts = pd.crosstab(labels.to_numpy(), y_rows).reindex(columns=[0, 1], fill_value=0)
                for outcome, rate in ((1, "true-positive rate (equal opportunity, equalized odds)"),
                                      (0, "false-positive rate (equalized odds)")):
                    lacking = counts.index[counts[outcome] == 0]
                    if len(lacking) and len(counts) > 1:
                        name = " & ".join(cols)
                        word = "positive" if outcome == 1 else "negative"
                        problems.append(_p("warning", f"group_without_{word}s", name,
                                           f"{len(lacking):,} group(s) of '{name}' have no {word} outcome: "
                                           f"{first_few(map(str, lacking), quote=repr)}. Their {rate} cannot be "
                                           "measured, and the gaps of that rate compare the other groups only.",
                                           "Add rows of their other outcome, merge them with a similar group, or "
                                           "judge fairness by a definition that does not need that rate."))
            small = small_groups(labels, min_group_size)
            if len(small):
                kind = "intersection" if len(cols) > 1 else "group"
                shown = ", ".join(f"{g} ({n})" for g, n in small.head(6).items())
                more = f" and {len(small) - 6} more" if len(small) > 6 else ""
                problems.append(_p("warning", "small_group", " & ".join(cols),
                                   f"{len(small)} {kind}(s) have fewer than {min_group_size} rows: {shown}{more}. Their metrics will be uncertain.",
                                   "Read their results with the confidence intervals, or merge small groups."))

    for c in dict.fromkeys(spec.exclude or ()):
        # A name that is no column left nothing out, without a word, while the record said it was
        # (CLI audit, session 44: --exclude Age kept 'age' in the model).
        if c not in columns and c not in nested:
            problems.append(_p("error", "exclude_missing", c,
                               f"The column to leave out '{c}' is not in the table.{_did_you_mean(c, columns)}",
                               "Give the column's name as the header spells it, or leave it out of the exclusions."))
    feature_cols = spec.feature_columns(frame)
    if target_ok and feature_cols:
        # As the split will encode them: a category is an input of its own with MIN_CATEGORY_ROWS
        # training rows, in the default split's training share of the rows.
        widths = encoded_widths(frame, usable_feature_columns(frame, spec),
                                min_rows=math.ceil(MIN_CATEGORY_ROWS / (1 - VAL_SIZE - TEST_SIZE)))
        for c, w in widths.items():
            if w > WIDE_CATEGORIES:
                problems.append(_p("warning", "many_categories", c,
                                   f"'{c}' has {int(frame[c].nunique()):,} distinct values, about {w:,} of them in "
                                   f"enough rows to be model inputs of their own.",
                                   "Exclude it, or group its values (the first digits of a code, regions) first: "
                                   "each input is a weight to learn from few rows, and memory."))
        wide = too_wide(widths, len(frame))
        if wide:
            problems.append(_p("error", "too_wide", None, f"{wide}.",
                               "Exclude those columns or group their values; or use a sample of the rows."))
    if spec.features is not None:
        for c in spec.features:
            if c not in columns and c not in nested:
                problems.append(_p("error", "feature_missing", c, f"The feature column '{c}' is not in the table.",
                                   "Remove it from the features or fix the header."))
    if target_ok and not feature_cols and not nested:
        problems.append(_p("error", "no_features", None, "No feature columns are left to train on.",
                           "Include at least one column besides the target and sensitive attributes."))
    # The rows a model trains on (those with an outcome), as the split reads them: validate
    # judged constancy over every row, so a column varying only where the outcome is missing
    # passed here and was dropped there (one-implementation audit, session 53).
    trained_on = frame.loc[frame[target].notna()] if target_ok else frame
    usable = set(usable_feature_columns(trained_on, spec))
    if target_ok and feature_cols and not usable:
        shown = _quoted(feature_cols)
        problems.append(_p("error", "no_usable_features", None,
                           f"Every feature column is empty or has one value in every row ({shown}): there is nothing to learn from.",
                           "Include columns that vary between rows (remove them from the excluded columns, or add them to the file)."))
    y_obs = frame[target].notna() if target_ok else None
    proxies = sensitive_proxies(frame, feature_cols, sens_ok)
    empty = []
    for c in feature_cols:
        col = frame[c]
        extreme = _extreme_values(col)
        if extreme.any():
            bad = col[extreme]
            examples = ", ".join(dict.fromkeys(_shown(v) for v in bad.head(20)))
            problems.append(_p("error", "extreme_values", c,
                               f"'{c}' has {len(bad):,} infinite or too large value(s) (first in row {bad.index[0]}: {examples}); "
                               f"numbers beyond ±{MAX_ABS_VALUE:.0e} cannot be scaled.",
                               "Replace them with blanks (missing values) or real measurements, or exclude the column."))
        nn = col.dropna()
        if len(nn) == 0:
            empty.append(c)
            continue
        nunique = nn.nunique()
        if c not in usable and len(frame) > 1:
            where = "every row" if nunique == 1 else "every row with an outcome (the rows a model trains on)"
            problems.append(_p("warning", "feature_constant", c,
                               f"'{c}' has the same value, or none, in {where} and carries no information.",
                               "Exclude it; it will be ignored otherwise."))
        if target_ok and nunique > 1 and col[y_obs].notna().all() and _same_partition(col[y_obs], frame.loc[y_obs, target]):
            problems.append(_p("error", "target_leak", c,
                               f"'{c}' is the target in disguise (each of its values maps to one outcome and back).",
                               "Exclude this column: a model using it learns nothing real."))
        if _WEIGHT_NAME.search(str(c)) and pd.api.types.is_numeric_dtype(col.dtype) and (nn >= 0).all():
            # A survey or frequency weight became a model input, and the exported model then
            # needed it to score: sweeps and score read every row once (install audit, session 49).
            problems.append(_p("warning", "weight_like", c,
                               f"'{c}' looks like a row weight (a survey or frequency weight). Sweeps, "
                               "exports and score count every row once: as it is, it would be a model input.",
                               f"Exclude '{c}' if it weights rows; in Python, pass it as sample_weight to the "
                               "estimators and to fairness_report. Keep it if it describes the person."))
        for attr in proxies.get(c, ()):
            problems.append(_p("warning", "sensitive_proxy", c,
                               f"'{c}' determines the sensitive attribute '{attr}' exactly (each of its values "
                               f"occurs with one value of '{attr}'): a model that reads '{c}' reads '{attr}', "
                               f"whether or not '{attr}' is an input.",
                               f"Leave '{c}' out of the model inputs if '{attr}' must not be used in decisions; "
                               "the fairness methods measure and reduce the gap either way."))
        n = len(nn)
        is_text = col.dtype == object or isinstance(col.dtype, (pd.StringDtype, pd.CategoricalDtype)) or pd.api.types.is_string_dtype(col.dtype)
        # A date or a number column with a few bad cells is many distinct texts too: each gets
        # its own words instead of the identifier warning, whose advice (exclude) would be wrong.
        dates = _date_text(col)
        notation = _number_notation(col) if dates is None and is_text else None
        mixed = _numbers_with_text(col) if dates is None and notation is None else None
        if notation is not None:
            what, example, others, action = notation
            problems.append(_p("warning", "numbers_as_text", c,
                               f"'{c}' holds numbers written with {what} (e.g. {_shown(example)}){others}: they "
                               "were read as text, so each distinct value would be a category of its own.",
                               action))
        elif dates is not None:
            problems.append(_p("warning", "date_like", c,
                               f"'{c}' holds dates ({dates}): a model would learn "
                               "calendar days, which never recur in new data.",
                               "Exclude it, or derive features from it first (month, weekday, age of "
                               "the record) and exclude the date itself."))
        elif mixed is not None:
            at = int(mixed.text[0])
            problems.append(_p("warning", "numbers_with_text", c,
                               f"'{c}' is numbers except {_cells(len(mixed.text))}, e.g. "
                               f"{_shown(col.iloc[at])} in data row {at + 1}: as it is, the column is "
                               "read as text and each distinct value is a category of its own.",
                               "Fix those cells or leave them empty, which is read as missing."))
        elif n >= 50 and (
            (is_text and nunique > 0.5 * n and nunique > 50)
            or (pd.api.types.is_integer_dtype(col.dtype) and nunique == n and _looks_like_counter(c, nn))
        ):
            problems.append(_p("warning", "id_like", c,
                               f"'{c}' has {nunique:,} distinct values in {n:,} rows and looks like an identifier.",
                               "Exclude it: identifiers let a model memorise rows instead of learning."))
        n_miss = int(col.isna().sum())
        if n_miss:
            read, recode = _read_as_missing(frame, markers, c, n_miss)
            problems.append(_p("warning", "missing_values", c,
                               f"'{c}' has {n_miss:,} missing values ({n_miss / len(frame):.1%}); they will be imputed.{read}",
                               f"{recode}Fill them in if the gaps mean something, or exclude the column."))

    # One line for many: 480 empty columns were 480 warnings (scale audit, session 46).
    for c in empty if len(empty) <= 3 else ():
        problems.append(_p("warning", "feature_all_missing", c, f"'{c}' has no values and will be ignored.",
                           "Exclude it or fill it in."))
    if len(empty) > 3:
        problems.append(_p("warning", "feature_all_missing", None,
                           f"{len(empty):,} columns have no values and will be ignored: {first_few(empty)}.",
                           "Exclude them or fill them in."))
    problems.sort(key=lambda p: p.severity != "error")
    return problems


_ID_NAME = re.compile(r"(^|[_\s-])(id|key|uuid|guid|no|nr|number)$", re.IGNORECASE)


def _looks_like_counter(name, values: pd.Series) -> bool:
    """Unique integers that are a row counter (dense range) or named like an identifier."""
    span = float(values.max()) - float(values.min()) + 1
    return bool(_ID_NAME.search(str(name))) or span <= 1.5 * len(values)


# A target's values are listed with their rows, largest first, up to this many (the rest counted).
_SHOWN_VALUES = 8


def _shown_label(label) -> str:
    return label_text(label, quote=_shown)


def _spelled(value, group) -> str:
    """A value as a message shows it; escaped when another of ``group`` looks the same."""
    if sum(unicodedata.normalize("NFC", str(v)) == unicodedata.normalize("NFC", str(value)) for v, _ in group) > 1:
        return ascii(value)
    return _shown(value)


def _spelling_variants(values: pd.Series) -> list[list[tuple]]:
    """The text values of ``values`` that are one by :func:`label_key` but spelled apart, each
    set with its rows (most first), sets in order of their largest value's rows."""
    rows = values.value_counts()
    rows = rows[rows > 0]
    keyed: dict = {}
    for v, n in rows.items():
        key = label_key(v)
        if key is not None:
            keyed.setdefault(key, []).append((v, int(n)))
    return [group for group in keyed.values() if len(group) > 1]


def _outcome_grouping(y: pd.Series, label, counts: dict) -> list[Problem]:
    """Warnings on how the target ``y`` becomes two outcomes with ``label`` positive
    (``counts``: positive and negative rows): every value with its rows when there are more
    than two, and the values that differ from ``label`` only in spelling and count as negative.
    """
    target = y.name
    rows = y.value_counts()  # largest first, missing values left out
    rows = rows[rows > 0]  # a categorical column counts its unused categories too
    problems = []
    if len(rows) > 2:
        listing = ", ".join(f"{_shown(v)} ({n:,})" for v, n in rows.head(_SHOWN_VALUES).items())
        more = f" and {len(rows) - _SHOWN_VALUES} more" if len(rows) > _SHOWN_VALUES else ""
        problems.append(_p("warning", "target_binarized", target,
                           f"The target '{target}' has {len(rows)} values (rows: {listing}{more}); "
                           f"{_shown_label(label)} {'is' if len(positive_labels(label)) == 1 else 'are'} positive ({rows_text(counts['positive'])}) and all others "
                           f"negative ({rows_text(counts['negative'])}).",
                           "Check that this grouping of outcomes is what you mean."))
    keys = {label_key(v) for v in positive_labels(label)} - {None}
    hit = label_mask(pd.Series(rows.index), label)
    near = [(v, n) for (v, n), h in zip(rows.items(), hit) if not h and label_key(v) in keys]
    if near:
        one = len(near) == 1
        shown = ", ".join(f"{_shown(v)} ({rows_text(n)})" for v, n in near)
        problems.append(_p("warning", "positive_label_variants", target,
                           f"{shown} {'differs' if one else 'differ'} from the positive label {_shown_label(label)} "
                           f"only in case, blanks or a trailing '.', and {'counts' if one else 'count'} as negative.",
                           f"If {'it means' if one else 'they mean'} the same outcome, count "
                           f"{'it' if one else 'them'} as positive too (the dashboard's 'Also positive', "
                           "the command line's --positive given once per value; UCI Adult's test file "
                           "writes '>50K.' for '>50K'); if the favourable outcome is "
                           f"{'this one' if one else 'one of these'} instead, choose it as the positive label."))
    return problems


def _read_as_missing(frame: pd.DataFrame, markers: dict, column, n_missing: int) -> tuple[str, str]:
    """The texts of ``column`` that :func:`read_table` read as missing (its frame's
    ``attrs["missing_markers"]``, given as ``markers``): a sentence for a message and one for its
    action, or two empty strings when every missing cell was empty. 'NA' may be North America and
    'None' a category: the user must see which."""
    texts = markers.get(column) or {}
    if not texts:
        return "", ""
    parts = [f"{t!r} in {rows_text(n)}" for t, n in list(texts.items())[:4]]
    said = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    empty = n_missing - sum(texts.values())
    rest = ""
    if empty > 0:
        rest = f"; the other {'one is an empty cell' if empty == 1 else f'{empty:,} are empty cells'}"
    message = f" In the file, {said} {'was' if len(parts) == 1 else 'were'} read as missing{rest}."
    values = frame.get(column)
    if values is None or not (_is_text(values) or isinstance(values.dtype, pd.CategoricalDtype)):
        return message, ""  # numbers around it: the text was a gap, not a category
    first = next(iter(texts))
    return message, (f"If {first!r} is a real value here (a category, not a gap), write it otherwise "
                     "in the file, as fairkit reads it as missing. ")


# Dates as exports write them: ISO (2020-01-31, as databases and pandas write them) or with the
# day and month first (31/01/2020, 01.31.2020, as spreadsheets do), each with an optional time.
_TIME = r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}" + _TIME)
_DMY_DATE = re.compile(r"\d{1,2}([/.-])\d{1,2}\1\d{4}" + _TIME)


def _date_text(values: pd.Series) -> str | None:
    """How a column of dates is described in a message ('2020-01-01 to 2021-08-22, 600 distinct'),
    or None when the column holds anything but dates: date or datetime values, or text of
    dates in one of the forms above, each checked with an explicit format (impossible dates
    such as 2021-02-30 are not dates)."""
    known = values.dropna()
    if not len(known):
        return None
    distinct = f"{known.nunique():,} distinct"
    if pd.api.types.is_datetime64_any_dtype(values.dtype) or (
            values.dtype == object and pd.api.types.infer_dtype(known) in ("date", "datetime", "datetime64")):
        first, last = (str(v).removesuffix(" 00:00:00") for v in (known.min(), known.max()))
        return f"{first} to {last}, {distinct}"
    if not _is_text(values):
        return None
    text = known.iloc[:200].astype(str).str.strip()
    form = next((f for f in (_ISO_DATE, _DMY_DATE) if text.str.fullmatch(f).all()), None)
    # The first values rule out most text columns before the full pass.
    if form is None or not (text := known.astype(str).str.strip()).str.fullmatch(form).all():
        return None
    if form is _ISO_DATE:
        when = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
        if when.isna().any():
            return None
        return f"{text.iloc[int(when.argmin())]} to {text.iloc[int(when.argmax())]}, {distinct}"
    day = text.str.split(r"[T ]", n=1, regex=True).str[0]
    sep = _DMY_DATE.match(day.iloc[0]).group(1)
    # 03/04/2020 is 3 April or March 4: either order will do to tell dates, not to order them.
    for order in ("%d{0}%m{0}%Y", "%m{0}%d{0}%Y"):
        if pd.to_datetime(day, format=order.format(sep), errors="coerce").notna().all():
            return f"e.g. {text.iloc[0]!r}, {distinct}"
    return None


class NonNumeric(NamedTuple):
    """The cells of a column that are not numbers, as :func:`non_numeric_cells` finds them.

    Attributes
    ----------
    numbers : int
        Filled cells holding a number (infinite ones included).
    text : ndarray of int
        0-based positions of filled cells that are not numbers ('#VALUE!', 'n.a.').
    infinite : ndarray of int
        0-based positions of infinite values and of values too large to scale (beyond
        :data:`MAX_ABS_VALUE`, the validator's rule): scoring a cell of 1e308 overflowed the
        model's float32 input into an internal error (hostile-input audit, session 52).
    """

    numbers: int
    text: np.ndarray
    infinite: np.ndarray


# A text column is "numbers with a few bad cells" when at least this share of its filled cells,
# and at least MIN_NUMBERS of them, are numbers; below that, text is more than a slip.
MOSTLY_NUMBERS = 0.9
MIN_NUMBERS = 20


def non_numeric_cells(values: pd.Series) -> NonNumeric:
    """Which cells of ``values`` are not numbers: text where numbers belong, and infinite values.

    One check for every place that needs numbers: :func:`validate` warns about a text column
    that is mostly numbers (a few cells of Excel's '#VALUE!' or '#DIV/0!' make the whole column
    text), and scoring refuses text in a column the model was trained on as numbers. Missing
    cells are neither numbers nor text.

    Parameters
    ----------
    values : Series
        One column, of any dtype.

    Returns
    -------
    NonNumeric
        ``numbers`` (how many cells are numbers), ``text`` and ``infinite`` (0-based positions
        of the cells that are not numbers or are infinite; ``values.iloc[pos]`` is the cell and
        ``pos + 1`` its data row).

    Examples
    --------
    >>> found = non_numeric_cells(pd.Series(["12", "#VALUE!", None, "3.5", "inf"]))
    >>> found.numbers, found.text.tolist(), found.infinite.tolist()
    (3, [1], [4])
    """
    try:
        as_num = pd.to_numeric(values, errors="coerce")
    except (TypeError, ValueError):  # categories, containers: compared cell by cell
        as_num = pd.to_numeric(values.astype(object), errors="coerce")
    x = pd.Series(as_num).to_numpy(dtype=float, na_value=np.nan)
    filled = values.notna().to_numpy(dtype=bool)
    is_number = ~np.isnan(x)
    with np.errstate(invalid="ignore"):
        extreme = np.abs(x) > MAX_ABS_VALUE  # inf included, NaN excluded
    return NonNumeric(int((filled & is_number).sum()), np.flatnonzero(filled & ~is_number), np.flatnonzero(extreme))


def _cells(n: int) -> str:
    return "1 cell" if n == 1 else f"{n:,} cells"


def rows_text(n: int) -> str:
    """"1 row" or "N rows" (thousands separated): counts of rows in messages."""
    return "1 row" if n == 1 else f"{n:,} rows"


# Numbers as spreadsheets and locales write them, which pandas reads as text: (what, pattern, what
# to do). Commas are named, not read: '1,234' is 1234 in a US export and 1.234 in a German one.
_NOTATIONS = (
    ("commas", re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d*,\d+)"),
     "Save the file with decimal points and no thousands separators, or, if the commas are decimal "
     "commas, with semicolons between fields (read as a European export: decimal commas become numbers)."),
    ("percent signs", re.compile(r"[+-]?\d+(?:[.,]\d+)?\s?%"),
     "Write the column as plain numbers (0.72 or 72, without '%')."),
    ("currency signs", re.compile(r"(?:[$€£¥]\s?[+-]?[\d.,]+|[+-]?[\d.,]+\s?[$€£¥])"),
     "Write the column as plain numbers, without currency signs."),
)


def _number_notation(values: pd.Series) -> tuple | None:
    """``(what, example, others, action)`` when a text column is numbers in a notation pandas
    does not read (thousands or decimal commas where commas are not converted, percent or
    currency signs), nearly every cell: else None.

    Such a column drew the identifier warning ('Exclude it'), or none at all, while a model got a
    category per amount (files audit, session 43: test ROC AUC 0.629 -> 0.534 without income).
    """
    known = values.dropna()
    if len(known) < MIN_NUMBERS or pd.api.types.infer_dtype(known.iloc[:500], skipna=True) != "string":
        return None
    text = known.astype(str).str.strip()
    sample = text.iloc[::max(len(text) // 500, 1)]
    plain = pd.to_numeric(sample, errors="coerce").notna()
    best = None
    for what, pattern, action in _NOTATIONS:
        hits = sample[~plain].str.fullmatch(pattern)
        if hits.sum() and (best is None or hits.sum() > best[0]):
            best = (int(hits.sum()), what, pattern, action)
    if best is None:
        return None
    _, what, pattern, action = best
    written = text.str.fullmatch(pattern) | pd.to_numeric(text, errors="coerce").notna().to_numpy()
    if written.mean() < MOSTLY_NUMBERS or not text.str.fullmatch(pattern).any():
        return None
    example = text[text.str.fullmatch(pattern)].iloc[0]
    rest = text[~written]
    others = (f", and {_cells(len(rest))} that are not numbers, e.g. {_shown(rest.iloc[0])}"
              if len(rest) else "")
    if len(rest):  # a spreadsheet's error cells keep even a convertible column text
        action = "Fix the cells that are not numbers or leave them empty (read as missing). " + action
    return what, example, others, action


def _numbers_with_text(values: pd.Series) -> NonNumeric | None:
    """The non-numeric cells of a text column that is numbers but for a few cells (see
    MOSTLY_NUMBERS), or None for any other column."""
    if not _is_text(values):
        return None
    # Cells spread over the column (a sort may have put the text first) rule out most text
    # columns before the full pass, which parses every cell.
    known = values.dropna()
    sample = non_numeric_cells(known.iloc[::max(len(known) // 500, 1)])
    if sample.numbers < 0.5 * (sample.numbers + len(sample.text)):
        return None
    found = non_numeric_cells(values)
    n_text = len(found.text)
    if n_text and found.numbers >= MIN_NUMBERS and found.numbers >= MOSTLY_NUMBERS * (found.numbers + n_text):
        return found
    return None


# Words a boolean column's values are written as (R, Excel and SQL write TRUE/FALSE); pandas
# reads them as True/False, so a label typed as written must still match.
_TRUTH_WORDS = {"true": True, "false": False}


def _is_bool_column(values: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(values.dtype):
        return True
    known = values.dropna()
    return values.dtype == object and len(known) > 0 and all(isinstance(v, (bool, np.bool_)) for v in known)


def label_mask(values, label) -> np.ndarray:
    """Which of ``values`` equal ``label`` (any of them, for a list), tolerating type
    differences ("1" vs 1 vs 1.0).

    A label chosen in a UI arrives as text while the column may be numeric, and a column with
    missing values is float: 1 must still match 1.0. A boolean column (TRUE/FALSE in the file)
    matches the words true and false in any case. An exact match wins over the looser ones;
    the last, text with blanks around it removed, finds a label typed or saved with blanks
    (:func:`read_table` removes them from the values).
    """
    values = pd.Series(values)
    labels = positive_labels(label)
    if len(labels) > 1:  # several values mean the positive outcome: each is matched on its own
        return np.logical_or.reduce([label_mask(values, one) for one in labels])
    label = labels[0] if labels else label
    exact = (values == label).to_numpy(dtype=bool, na_value=False)
    if exact.any():
        return exact
    truth = _TRUTH_WORDS.get(label.strip().casefold()) if isinstance(label, str) else None
    if truth is not None and _is_bool_column(values):
        return (values == truth).to_numpy(dtype=bool, na_value=False)
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


def _did_you_mean(name, columns) -> str:
    """" Did you mean 'x'? ..." for the column whose name is closest to ``name`` ('Approved' for
    'approved'), or "" when none is close."""
    close = difflib.get_close_matches(str(name), [str(c) for c in columns], n=1, cutoff=0.6) if name else []
    return f" Did you mean '{close[0]}'? Names are case-sensitive." if close else ""


def repeated_names(frame: pd.DataFrame) -> list[str]:
    """Column names the table's header gives more than once (as written: a reader renames the
    second ``a`` to ``a.1``, so the frame's own labels alone would not show it)."""
    header = [str(h) for h in frame.attrs.get("header", [str(c) for c in frame.columns])]
    seen, dups = set(), []
    for h in header:
        if h in seen and h not in dups and h.strip():
            dups.append(h)
        seen.add(h)
    return dups + [str(c) for c in frame.columns[pd.Index(frame.columns).duplicated()] if str(c) not in dups]


def binary_target(frame: pd.DataFrame, spec: DatasetSpec) -> np.ndarray:
    """0/1 target (1 = positive label); rows with a missing target give -1."""
    y = frame[spec.target]
    if spec.positive_label is None:
        raise DataError(f"Choose the positive label (the favourable outcome) of '{spec.target}'.")
    out = label_mask(y, spec.positive_label).astype(np.int64)
    out[y.isna().to_numpy()] = -1
    return out
