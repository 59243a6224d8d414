"""Cached wrappers around the engine's data functions, and group summaries as display text.

Streamlit reruns the page script on every click, so anything slower than a few milliseconds is
cached here. Cache keys are explicit strings (``source`` below: ``"bundled:adult"`` or
``"upload:<sha256>"``); tables are passed as ``_frame`` arguments, which ``st.cache_data`` does
not hash, so a 50 000-row table is never hashed on every rerun.
"""

from __future__ import annotations

import hashlib
import io

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


@st.cache_data(show_spinner="Reading the file...", max_entries=4)
def _read_upload(digest: str, name: str, _data: bytes) -> tuple[pd.DataFrame | None, str | None]:
    # Keyed by the digest (the leading underscore keeps Streamlit from hashing the bytes again).
    # A failure is cached as its message, so a bad file is parsed once, not on every rerun.
    buffer = io.BytesIO(_data)
    buffer.name = name  # read_table names the file in its messages
    try:
        return read_table(buffer), None
    except DataError as exc:
        return None, str(exc)


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
