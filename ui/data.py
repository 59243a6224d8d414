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

from fairkit.data import DataError, DatasetSpec, Problem, label_text, read_table, validate
from fairkit.datasets import DatasetInfo, dataset_info, list_datasets, load_dataset
from fairkit.groups import MIN_GROUP_SIZE
from fairkit.groups import group_summaries as engine_group_summaries
from fairkit.split import TEST_SIZE, VAL_SIZE, StratifiedSample, forecast_groups, frame_hash, stratified_sample
from fairkit.split import named_groups
from fairkit.split import small_after_split as engine_small_after_split

from . import state
from .display import md, show_table

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


# --------------------------------------------------------------------------- what "positive" means

def bundled_info(source: str) -> DatasetInfo | None:
    """The bundled dataset behind a source key (``"bundled:<name>"``), else None."""
    kind, _, name = source.partition(":")
    if kind != "bundled":
        return None
    try:
        return dataset_info(name)
    except ValueError:
        return None


def adverse_outcome(source: str, spec: DatasetSpec) -> DatasetInfo | None:
    """The dataset's description when ``spec``'s positive class is, by the dataset's own
    metadata, an adverse prediction (a risk score such as COMPAS'); None otherwise."""
    info = bundled_info(source)
    return info if info is not None and info.positive_is_adverse and info.outcome_applies(spec) else None


def positive_text(label) -> str:
    """The positive label(s) in a sentence, each quoted as written ('>50K' or '>50K.'), so a
    value ending in a full stop is not read as the sentence's end (Markdown-escaped)."""
    return label_text(label, quote=lambda v: md(repr(v)))


def positive_label_text(source: str, target) -> tuple[str, str]:
    """Label and help of the positive-label control for ``target`` of table ``source``: a
    dataset whose positive class is adverse is not asked for "the favourable outcome"."""
    info = bundled_info(source)
    if info is not None and info.positive_is_adverse and target == info.spec.target:
        return (f"Positive label (the predicted outcome; here adverse: {info.positive_meaning})",
                "Rows with this value count as positive, the outcome the model predicts; every other "
                "value is negative. In this dataset a positive prediction is a risk score's finding "
                "against the person: the adverse outcome, not a favourable one.")
    return ("Positive label (the favourable outcome)",
            "Rows with this value count as positive; every other value is negative.")


def rate_words(info: DatasetInfo) -> str:
    """What the selection rate, TPR and FPR mean when the positive class is adverse (Markdown)."""
    said, meaning = info.positive_prediction, info.positive_meaning
    return (f"Here a positive prediction is adverse: **{said}**. The selection rate is the share "
            f"{said} (the adverse outcome: a higher rate is worse for a group); TPR is the share of "
            f"those who {meaning} who were {said}; FPR is the share of those who did not, yet were "
            f"{said}: the harmful error.")


# --------------------------------------------------------------------------- group summaries

@st.cache_data(show_spinner=False, max_entries=64)
def group_summaries(source: str, spec: dict, _frame: pd.DataFrame,
                    min_size: int = MIN_GROUP_SIZE) -> dict[str, pd.DataFrame]:
    """:func:`fairkit.groups.group_summaries` of table ``source`` for ``spec`` (a
    ``DatasetSpec.to_dict()``), cached per source and spec."""
    return engine_group_summaries(_frame, DatasetSpec.from_dict(spec), min_size)


@st.cache_data(show_spinner=False, max_entries=64)
def group_forecast(source: str, spec: dict, _frame: pd.DataFrame,
                   min_size: int = MIN_GROUP_SIZE) -> dict[str, pd.DataFrame]:
    """:func:`group_summaries` with each group's expected rows per part of the split and what
    the small-group policy will do (:func:`fairkit.split.forecast_groups`), cached likewise."""
    return forecast_groups(group_summaries(source, spec, _frame, min_size), min_size=min_size)


def format_summary(summary: pd.DataFrame, min_size: int = MIN_GROUP_SIZE) -> pd.DataFrame:
    """A group summary as display text: counts with separators, percentages, and a Note
    column flagging small groups (only when there are any).

    With a forecast (:func:`group_forecast`), a "Test rows (about)" column too, and the Note
    also flags groups that will be under ``min_size`` rows in the test data."""
    has_rate = summary["positive_rate"].notna().any()
    out = pd.DataFrame({
        "Group": summary["group"].astype(str),
        "Rows": summary["rows"].map("{:,}".format),
        "Share": summary["share"].map("{:.1%}".format),
    })
    if has_rate:
        out["Positive rate"] = summary["positive_rate"].map(
            lambda r: "n/a" if pd.isna(r) else f"{r:.1%}")
    note = pd.Series(np.where(summary["small"], f"small (under {min_size} rows)", ""), index=summary.index)
    if "test" in summary:
        out["Test rows (about)"] = summary["test"].map("{:,}".format)
        note = note.where(summary["small"] | (summary["test"] >= min_size), f"under {min_size} test rows")
        note = note.where(~summary["pooled"], note + np.where(note != "", "; ", "") + "pooled for training")
    if (note != "").any():
        out["Note"] = note.to_numpy()
    return out


def small_after_split(forecast: dict, min_size: int = MIN_GROUP_SIZE,
                      val_size: float = VAL_SIZE, test_size: float = TEST_SIZE) -> str | None:
    """:func:`fairkit.split.small_after_split` as Markdown: group names escaped, the heading bold."""
    return engine_small_after_split(forecast, min_size, val_size, test_size, quote=md,
                                    strong=lambda text: f"**{text}**")


# --------------------------------------------------------------------------- large tables

#: From this many rows the Data page offers to train on a stratified sample (collapsed); above
#: LARGE_TABLE_ROWS it says so first. The default sample is about the size of Adult, the
#: largest bundled table, which the methods' default grids were timed on.
SAMPLE_MIN_ROWS = 10_000
LARGE_TABLE_ROWS = 100_000
DEFAULT_SAMPLE_ROWS = 50_000
SAMPLE_SEED = 0


@st.cache_data(show_spinner="Drawing a stratified sample...", max_entries=4)
def draw_sample(source: str, spec: dict, n: int, _frame: pd.DataFrame, source_hash: str
                ) -> tuple[StratifiedSample, str]:
    """:func:`fairkit.split.stratified_sample` of table ``source`` and the sample's table hash."""
    sample = stratified_sample(_frame, DatasetSpec.from_dict(spec), n, seed=SAMPLE_SEED, source_hash=source_hash)
    return sample, frame_hash(sample.frame)


def sample_controls(source: str, spec: dict, frame: pd.DataFrame, source_hash: str, usable: bool
                    ) -> tuple[StratifiedSample, str] | None:
    """The Data page's offer to train on a stratified sample of a large table, and its costs.

    Parameters
    ----------
    source, spec, frame, source_hash
        The table (its cache key, ``DatasetSpec.to_dict()``, the table and its hash).
    usable : bool
        Whether the spec is valid (a sample needs the outcome and the groups).

    Returns
    -------
    (StratifiedSample, str) or None
        The sample and its table hash when the user chose one; None to train on every row.
    """
    rows = len(frame)
    if rows < SAMPLE_MIN_ROWS:
        return None
    large = rows > LARGE_TABLE_ROWS
    if large:
        st.info(f"This table has {rows:,} rows: splitting it and training on every row takes long (the "
                "time grows with the rows). You can train on a stratified sample instead: see below.",
                icon=":material/speed:")
    with st.expander("Train on a stratified sample", expanded=large):
        on_key, n_key = state.spec_widget_key(source, "sample"), state.spec_widget_key(source, "sample_rows")
        state.prepare_widget(on_key, False)
        state.prepare_widget(n_key, default_sample_rows(rows))
        on = st.toggle("Train on a sample of the rows", key=on_key)
        step = sample_step(rows)
        n = int(st.number_input("Rows in the sample", min_value=step, max_value=rows - 1,
                                step=step, key=n_key, disabled=not on,
                                help="Drawn per group and outcome, so every group keeps its share and "
                                     "its positive rate."))
        if not on:
            st.caption("Off: every row is split and trained on.")
            return None
        if not usable:
            st.caption("Fix the errors above first: the sample is drawn per group and outcome.")
            return None
        sample, sample_hash = draw_sample(source, spec, n, frame, source_hash)
        st.markdown(sample_costs(sample))
        table = _sample_forecast(sample)
        show_table(pd.DataFrame({
            "Group": table["group"].astype(str), "Rows in the table": table["of"].map("{:,}".format),
            "Rows in the sample": table["rows"].map("{:,}".format),
            "Test rows (about)": table["test"].map("{:,}".format),
        }), alt="Rows per group in the sample")
    return sample, sample_hash


def _sample_forecast(sample: StratifiedSample, whole: bool = False) -> pd.DataFrame:
    """The split's forecast for the sample's groups (or, with ``whole``, the table's)."""
    groups = sample.groups.assign(rows=sample.groups["of"]) if whole else sample.groups
    return forecast_groups({"groups": groups})["groups"]


def sample_step(rows: int) -> int:
    """The sample size control's step (and smallest value) for a table of ``rows`` rows."""
    return 1_000 if rows >= 20_000 else 100


def default_sample_rows(rows: int) -> int:
    """The sample size offered first for a table of ``rows`` rows (at most half of it)."""
    step = sample_step(rows)
    return max(step, min(DEFAULT_SAMPLE_ROWS, rows // 2 // step * step))


#: A sweep estimated to take longer than this is pointed to the Data page's sample.
LONG_SWEEP_SECONDS = 600


def offer_sample(seconds: float, rows: int, data_hash: str) -> bool:
    """Whether the Train page should offer the Data page's sample: a long estimate (``seconds``)
    on a whole table (``data_hash`` is not a sample's) large enough to sample."""
    return seconds > LONG_SWEEP_SECONDS and rows >= SAMPLE_MIN_ROWS and sample_record(data_hash) is None


def default_sample_split(cur) -> tuple[StratifiedSample, object]:
    """The Data page's default sample of the current whole table and its split, cached under the
    keys the Data and Train pages use once it is chosen (so choosing it costs nothing more).

    Parameters
    ----------
    cur : ui.state.CurrentData
    """
    from . import results as ur

    sample, sample_hash = draw_sample(cur.source, cur.spec.to_dict(), default_sample_rows(len(cur.frame)),
                                      cur.frame, cur.data_hash)
    return sample, ur.split_for(state.data_key(sample_hash, cur.spec), ur.SPLIT_SEED, sample.frame, cur.spec)


def interval_widening(sample: StratifiedSample) -> str:
    """How much wider the 95% intervals are on ``sample`` than on the whole table, in the words
    both the Data and the Train page use: they shrink with the square root of the rows."""
    return f"95% intervals widen about {1 / np.sqrt(sample.rows / max(sample.of_rows, 1)):.1f}x"


def sample_hint(seconds: float, sample_seconds: float, sample: StratifiedSample) -> str:
    """For the Train page: the estimate on the whole table against the same sweep's estimate on
    the Data page's default sample (Markdown)."""
    from fairkit.sweep import duration_text

    return (f"**A long sweep.** On a stratified sample of {sample.rows:,} of the {sample.of_rows:,} rows "
            f"(Data page, *Train on a stratified sample*) the same sweep is estimated at "
            f"{duration_text(sample_seconds)} instead of {duration_text(seconds)}. Every group keeps its "
            f"share; {interval_widening(sample)}.")


def sample_costs(sample: StratifiedSample) -> str:
    """What training on ``sample`` instead of the whole table costs, as Markdown."""
    share = sample.rows / max(sample.of_rows, 1)
    groups = _sample_forecast(sample)
    lost = groups[~groups["in_test_gaps"] & _sample_forecast(sample, whole=True)["in_test_gaps"]]
    text = (f"**{sample.rows:,} of {sample.of_rows:,} rows ({share:.1%})**, drawn per group and outcome "
            f"(seed {sample.seed}): every group keeps its share and its positive rate. What it costs:\n\n"
            f"- Time: fitting a model takes roughly {share:.0%} as long (it grows about in proportion to "
            "the rows); each run's fixed costs stay, so a whole sweep gains somewhat less (the Train page "
            "shows its estimate). Splitting is quicker too.\n"
            f"- Certainty: {interval_widening(sample)} (they shrink with the square root of the rows), so "
            "smaller differences between models and groups stop being distinguishable.\n"
            "- The decision record says the model was trained and evaluated on this sample "
            "(its rows, seed and the whole table's hash).")
    if len(lost):
        text += (f"\n- Groups that the whole table would keep above {MIN_GROUP_SIZE} test rows fall under it "
                 f"in the sample, and out of the gaps: {named_groups(lost, 'test', quote=md)}. "
                 "A larger sample keeps them.")
    return text


# What each sample is, by the sample's table hash: the Export page reads it for the record. Kept for
# the server process, not the session, so a reloaded session whose data was restored as a sample
# (ui/restore.py) still records it. Descriptions are small (a few KB each).
_samples = BoundedCache(1 << 22)


def remember_sample(chosen: tuple[StratifiedSample, str] | None) -> None:
    """Keep what was sampled (the Data page's choice) for the record of models trained on it."""
    if chosen is not None:
        described = chosen[0].to_dict()
        _samples.put(chosen[1], described, len(repr(described)))


def sample_record(data_hash: str) -> dict | None:
    """The sample behind the data with ``data_hash`` (``StratifiedSample.to_dict()``), or None
    when that data is a whole table."""
    return _samples.get(data_hash)
