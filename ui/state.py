"""Session-state keys and small accessors shared by the pages.

Every key the dashboard stores lives here as a constant, so a page never spells a key by hand.
Keys prefixed ``fk.`` hold results that later pages read; keys prefixed ``w.`` belong to widgets.

Streamlit drops a widget's value at the end of any run in which the widget was not drawn, which
happens on every page switch. :func:`prepare_widget` and :func:`remember_widgets` keep widget
values in a plain dict so that choices survive a trip to another page and back.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from fairkit.data import DatasetSpec, Problem, errors

# --------------------------------------------------------------------------- the current dataset
# Written by the Data page; read by Train, Trade-offs, Groups, Export and Review.
FRAME = "fk.frame"            # pandas DataFrame: the whole table as read
SPEC = "fk.spec"              # fairkit.data.DatasetSpec chosen on the Data page
DATA_HASH = "fk.data_hash"    # fairkit.split.frame_hash(FRAME): identifies the table's content
DATA_KEY = "fk.data_key"      # hash of DATA_HASH and SPEC: results computed under another key are stale
DATA_NAME = "fk.data_name"    # human-readable name of the dataset
DATA_SOURCE = "fk.data_source"  # "bundled:<name>" or "upload:<sha256 prefix>"
PROBLEMS = "fk.problems"      # list of fairkit.data.Problem from validate()
DATA_READY = "fk.data_ready"  # True when PROBLEMS holds no error: later pages may train

# The last upload (name, sha256, bytes), so leaving the Data page does not lose the file: the
# uploader widget itself cannot be restored through session state.
UPLOAD = "fk.upload"

# Last values of widgets (see prepare_widget); a dict keyed by widget key.
WIDGET_MEMORY = "fk.widget_memory"
WIDGET_PREFIX = "w."

# --------------------------------------------------------------------------- widget keys
W_SOURCE = "w.data.source"
W_BUNDLED = "w.data.bundled"
W_UPLOAD = "w.data.upload"


def spec_widget_key(source: str, field: str) -> str:
    """Key of a spec widget (target, positive, ...) for one data source.

    Keys are per source so that each dataset keeps its own choices and switching datasets
    starts from that dataset's defaults rather than from the previous dataset's columns.
    """
    digest = hashlib.sha1(source.encode()).hexdigest()[:10]
    return f"{WIDGET_PREFIX}data.{digest}.{field}"


# --------------------------------------------------------------------------- generic helpers

class PageStopped(BaseException):
    """Raised by :func:`stop_page`; ``app.py`` catches it after the page (a BaseException, as
    Streamlit's own stop is, so a page's ``except Exception`` does not swallow it)."""


def stop_page() -> None:
    """End the page here, as ``st.stop()`` would, but let ``app.py`` finish its run: the sidebar's
    status (which says what a page that stops early is missing) and the session's record are
    drawn and kept after the page. ``st.stop()`` ended the whole run (state audit, session 44)."""
    raise PageStopped



def get(key: str, default=None):
    """``st.session_state.get`` with a default."""
    return st.session_state.get(key, default)


def widget_value(key: str, default=None):
    """Widget ``key``'s live value, else its remembered one (drawn on an earlier visit to the
    page: Streamlit drops the state of widgets a page run did not draw), else ``default``."""
    ss = st.session_state
    return ss[key] if key in ss else ss.setdefault(WIDGET_MEMORY, {}).get(key, default)


def context_key(key: str) -> str:
    """Where the context widget ``key`` was last prepared for is kept (remembered like it)."""
    return f"{key}@for"


def prepare_widget(key: str, default, options=None, multi: bool = False, *, context=None):
    """Give widget ``key`` a valid value before it is drawn, and return that value.

    The value comes from, in order: the widget's live state, its remembered value (it was drawn
    on an earlier visit to the page), or ``default``. When ``options`` is given, a value that is
    no longer among them (the table changed) falls back to ``default``; for a multiselect
    (``multi=True``) only the stale entries are dropped.

    With ``context`` (what the default follows: the sweep's fairness definition, its tolerance),
    a value kept from another context is dropped for ``default``: the default shown on a first
    visit, untouched, was remembered and beat a later sweep's own (state audit, session 44: an
    export recorded the first sweep's definition after a sweep of another one).

    Draw the widget with ``key=key`` and without ``index=``/``default=``, so Streamlit takes
    the value from session state.
    """
    ss = st.session_state
    if context is not None and widget_value(context_key(key)) != context:
        ss[context_key(key)] = context
        ss.setdefault(WIDGET_MEMORY, {}).pop(key, None)
        ss.pop(key, None)
    value = widget_value(key, default)
    if options is not None:
        opts = list(options)
        if multi:
            value = [v for v in (value or []) if v in opts]
        elif value not in opts:
            value = default if default in opts else (opts[0] if opts else None)
    ss[key] = value
    return value


def remember_widgets() -> None:
    """Copy the values of all ``w.`` widgets into memory (call once, at the end of each run)."""
    ss = st.session_state
    memory = ss.setdefault(WIDGET_MEMORY, {})
    for key in list(ss.keys()):
        if isinstance(key, str) and key.startswith(WIDGET_PREFIX):
            value = ss[key]
            # Uploaded files are kept separately (UPLOAD); buttons have no lasting value.
            if key != W_UPLOAD:
                memory[key] = value


# --------------------------------------------------------------------------- the current dataset

@dataclass(frozen=True)
class CurrentData:
    """What the Data page chose, as later pages see it."""

    frame: pd.DataFrame
    spec: DatasetSpec
    data_hash: str
    data_key: str
    name: str
    source: str
    problems: list
    ready: bool


def data_key(data_hash: str, spec: DatasetSpec) -> str:
    """Fingerprint of table and spec: anything computed for another key is out of date."""
    payload = json.dumps(spec.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(f"{data_hash}\n{payload}".encode()).hexdigest()[:16]


def set_data(frame: pd.DataFrame, spec: DatasetSpec, *, data_hash: str, name: str, source: str,
             problems: list[Problem]) -> None:
    """Store the current dataset; it is ready for training when ``problems`` has no error."""
    ss = st.session_state
    ss[FRAME] = frame
    ss[SPEC] = spec
    ss[DATA_HASH] = data_hash
    ss[DATA_KEY] = data_key(data_hash, spec)
    ss[DATA_NAME] = name
    ss[DATA_SOURCE] = source
    ss[PROBLEMS] = list(problems)
    ss[DATA_READY] = not errors(problems)


def clear_data() -> None:
    """Forget the current dataset (nothing usable is chosen)."""
    for key in (FRAME, SPEC, DATA_HASH, DATA_KEY, DATA_NAME, DATA_SOURCE, PROBLEMS):
        st.session_state.pop(key, None)
    st.session_state[DATA_READY] = False


def current_data() -> CurrentData | None:
    """The dataset chosen on the Data page, or None when there is none."""
    ss = st.session_state
    if ss.get(FRAME) is None or ss.get(SPEC) is None:
        return None
    return CurrentData(
        frame=ss[FRAME], spec=ss[SPEC], data_hash=ss.get(DATA_HASH, ""),
        data_key=ss.get(DATA_KEY, ""), name=ss.get(DATA_NAME, "data"),
        source=ss.get(DATA_SOURCE, ""), problems=ss.get(PROBLEMS, []),
        ready=bool(ss.get(DATA_READY, False)),
    )


def data_ready() -> bool:
    """True when a dataset without blocking errors is chosen."""
    return bool(st.session_state.get(DATA_READY, False)) and st.session_state.get(FRAME) is not None
