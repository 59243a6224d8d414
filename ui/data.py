"""Cached wrappers around the engine's data functions, and group summaries as display text.

Streamlit reruns the page script on every click, so anything slower than a few milliseconds is
cached here. Cache keys are explicit strings (``source`` below: ``"bundled:adult"`` or
``"upload:<sha256>"``); tables are passed as ``_frame`` arguments, which ``st.cache_data`` does
not hash, so a 50 000-row table is never hashed on every rerun.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict

import numpy as np
import pandas as pd
import streamlit as st

from fairkit.data import DataError, DatasetSpec, Problem, read_table, validate
from fairkit.datasets import DatasetInfo, list_datasets, load_dataset
from fairkit.groups import MIN_GROUP_SIZE
from fairkit.groups import group_summaries as engine_group_summaries
from fairkit.split import frame_hash

PREVIEW_ROWS = 100


# --------------------------------------------------------------------------- sources

@st.cache_data(show_spinner=False)
def datasets() -> list[DatasetInfo]:
    """The bundled datasets (name, title, rows, description, default spec)."""
    return list_datasets()


@st.cache_data(show_spinner="Loading the sample dataset...", max_entries=4)
def load_bundled(name: str) -> tuple[pd.DataFrame, DatasetSpec]:
    """A bundled dataset and its default spec (cached per name)."""
    return load_dataset(name)


def upload_digest(data: bytes) -> str:
    """SHA-256 of uploaded bytes: the identity of an upload in caches and state."""
    return hashlib.sha256(data).hexdigest()


# Uploads are cached by bytes held, not by count: four 200 MB uploads read into frames would hold
# gigabytes. 1 GiB fits one upload at the size cap read into a typical frame.
UPLOAD_CACHE_BYTES = 1 << 30


class BoundedCache:
    """A least-recently-used cache bounded by the total size of its values.

    Shared by every session of the server (as ``st.cache_data`` is), thread-safe. A value larger
    than the whole budget is not kept: it would evict everything else and still not fit.

    Parameters
    ----------
    max_bytes : int
        Budget for the sum of the values' sizes.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._entries: OrderedDict = OrderedDict()  # key -> (value, size)
        self._lock = threading.Lock()
        self.nbytes = 0

    def get(self, key):
        """The value under ``key`` (now the most recently used), or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key, value, size: int) -> bool:
        """Keep ``value`` (``size`` bytes), evicting the least recently used values until the
        budget holds; False when ``value`` alone exceeds the budget and is not kept."""
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.nbytes -= old[1]
            if size > self.max_bytes:
                return False
            while self._entries and self.nbytes + size > self.max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self.nbytes -= evicted
            self._entries[key] = (value, size)
            self.nbytes += size
            return True

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget every value."""
        with self._lock:
            self._entries.clear()
            self.nbytes = 0


_uploads = BoundedCache(UPLOAD_CACHE_BYTES)


def frame_nbytes(frame: pd.DataFrame) -> int:
    """Memory held by ``frame``, text included (what a cached upload costs the server)."""
    return int(frame.memory_usage(index=True, deep=True).sum())


def _read_upload(digest: str, name: str, data: bytes) -> tuple[pd.DataFrame | None, str | None]:
    # A failure is cached as its message, so a bad file is parsed once, not on every rerun.
    key = (digest, name)  # read_table names the file in its messages
    cached = _uploads.get(key)
    if cached is None:
        buffer = io.BytesIO(data)
        buffer.name = name
        with st.spinner("Reading the file..."):
            try:
                cached = read_table(buffer), None
            except DataError as exc:
                cached = None, str(exc)
        frame, message = cached
        _uploads.put(key, cached, frame_nbytes(frame) if frame is not None else len(message))
    frame, message = cached
    # Sessions share the cached frame; under copy-on-write a shallow copy keeps one session's
    # edits (a renamed column, a new attrs entry) out of the others at no cost.
    return (None if frame is None else frame.copy(deep=False)), message


def read_upload(data: bytes, name: str = "The file") -> pd.DataFrame:
    """Read uploaded CSV/Parquet bytes into a table, cached by the bytes' SHA-256.

    Parameters
    ----------
    data : bytes
        The uploaded file's content.
    name : str
        File name used in error messages.

    Raises
    ------
    DataError
        The bytes are not a readable table; the message says what to do.
    """
    frame, message = _read_upload(upload_digest(data), str(name), data)
    if message is not None:
        raise DataError(message)
    return frame


@st.cache_data(show_spinner=False, max_entries=16)
def table_hash(source: str, _frame: pd.DataFrame) -> str:
    """``fairkit.split.frame_hash`` of the table identified by ``source`` (cached)."""
    return frame_hash(_frame)


@st.cache_data(show_spinner="Checking the data...", max_entries=64)
def check(source: str, spec: dict, _frame: pd.DataFrame, min_group_size: int = MIN_GROUP_SIZE
          ) -> list[Problem]:
    """``fairkit.data.validate`` for table ``source`` and ``spec`` (a ``DatasetSpec.to_dict()``)."""
    return validate(_frame, DatasetSpec.from_dict(spec), min_group_size=min_group_size)


# --------------------------------------------------------------------------- choices

def column_values(frame: pd.DataFrame, column, limit: int = 500) -> list:
    """Distinct non-missing values of ``column`` as plain Python values, sorted as text."""
    values = pd.unique(frame[column].dropna())
    values = sorted((v.item() if isinstance(v, np.generic) else v for v in values), key=str)
    return values[:limit]


def guess_spec(frame: pd.DataFrame, name: str) -> DatasetSpec:
    """Starting choices for an uploaded table: the last column is the target, nothing else.

    Sensitive attributes and the favourable outcome are never guessed (the order of the values
    says nothing about which outcome is favourable): they are the user's decisions.
    """
    return DatasetSpec(target=frame.columns[-1] if frame.shape[1] else "", name=name)


# --------------------------------------------------------------------------- group summaries

@st.cache_data(show_spinner=False, max_entries=64)
def group_summaries(source: str, spec: dict, _frame: pd.DataFrame,
                    min_size: int = MIN_GROUP_SIZE) -> dict[str, pd.DataFrame]:
    """:func:`fairkit.groups.group_summaries` of table ``source`` for ``spec`` (a
    ``DatasetSpec.to_dict()``), cached per source and spec."""
    return engine_group_summaries(_frame, DatasetSpec.from_dict(spec), min_size)


def format_summary(summary: pd.DataFrame, min_size: int = MIN_GROUP_SIZE) -> pd.DataFrame:
    """A group summary as display text: counts with separators, percentages, and a Note
    column flagging small groups (only when there are any)."""
    has_rate = summary["positive_rate"].notna().any()
    out = pd.DataFrame({
        "Group": summary["group"].astype(str),
        "Rows": summary["rows"].map("{:,}".format),
        "Share": summary["share"].map("{:.1%}".format),
    })
    if has_rate:
        out["Positive rate"] = summary["positive_rate"].map(
            lambda r: "n/a" if pd.isna(r) else f"{r:.1%}")
    if summary["small"].any():
        out["Note"] = np.where(summary["small"], f"small (under {min_size} rows)", "")
    return out
