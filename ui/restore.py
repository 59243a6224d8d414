"""What a reload brings back: the browser's dataset, its choices, the uploaded file and the sweep.

A browser reload starts a new Streamlit session with empty session state, while the sweep it
started runs on in the job registry (``ui/jobs.py``). So that a reload loses nothing, the server
keeps a small record per owner (:func:`ui.jobs.session_owner`: the signed-in person, else the
browser by its XSRF cookie) of the session's state: the current data as the Data page left it
(the table by reference, its spec, hash and checks), the uploaded file, every remembered widget
value (so the Data and Train controls come back as they were) and the sweep. The first run of a
new session of the same owner starts from it (:func:`restore`).

The record is keyed by a secret the browser already holds (or by the signed-in identity): nothing
is carried in the page's address, so a shared link restores nothing and grants no cancel right.
It lives in the server's memory only (a restart forgets it) and is bounded by the memory its
tables and uploads hold (:data:`RECORD_BYTES` in all, least recently saved dropped first); a
record over the budget keeps only the choices, and the reloaded Data page asks for the file
again. Without a browser identity (XSRF protection off, or ``AppTest``) every session is its own
owner and nothing is kept or restored. All tabs of one browser share one record: a reload brings back
the latest choices made in any of them.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass

import streamlit as st

from . import controls, state
from . import results as ur
from .data import BoundedCache, frame_nbytes
from .display import md, plain_errors
from .export import LAST_EXPORT
from .search import SEARCH_INFO, SEARCH_KEY
from .jobs import OWNER_KEY, session_owner

RESTORED = "fk.restored"            # set on a session's first run: the record is read once per session
RESTORED_SWEEP = "fk.restored_sweep"  # key of a running sweep this session found again (Train's banner)

#: Memory the kept tables and uploads of all records may hold.
RECORD_BYTES = 1 << 30
_CHOICES_ONLY = 1 << 10  # what a record without table and upload is counted as


@dataclass(frozen=True)
class Record:
    """One owner's latest state (references to the session's objects, no copies of tables)."""

    data: state.CurrentData | None  # the current data, as the Data page set it
    upload: dict | None             # the kept upload (ui.state.UPLOAD: name, sha, bytes)
    widgets: dict                   # remembered widget values (ui.state.WIDGET_MEMORY)
    sweep: dict                     # the KEPT entries of the session
    nbytes: int = 0                 # memory held by data and upload


@st.cache_resource
def _records_at(home: str) -> BoundedCache:
    return BoundedCache(RECORD_BYTES)


def _records() -> BoundedCache:
    from fairkit.store import default_home

    return _records_at(str(default_home()))


def save() -> None:
    """Keep this session's state as its owner's record (call at the end of each run)."""
    ss = st.session_state
    owner = session_owner()
    if owner == ss.get(OWNER_KEY):
        # This session is its own owner (no browser or sign-in identity): no later session can
        # ask for its record, which would only keep its table and upload in memory.
        return
    records = _records()
    cur, kept = state.current_data(), ss.get(state.UPLOAD)
    before = records.get(owner)
    if cur is None:
        table = 0
    elif before is not None and before.data is not None and before.data.data_hash == cur.data_hash:
        table = before.nbytes - (len(before.upload["data"]) if before.upload else 0)  # measured before
    else:
        table = frame_nbytes(cur.frame)
    record = Record(data=cur, upload=kept, widgets=copy.deepcopy(ss.get(state.WIDGET_MEMORY, {})),
                    sweep={k: copy.copy(ss[k]) for k in KEPT if k in ss},
                    nbytes=table + (len(kept["data"]) if kept else 0))
    if not records.put(owner, record, record.nbytes + _CHOICES_ONLY):
        # Too large to keep whole: keep the choices (a bundled dataset comes back from them).
        records.put(owner, Record(data=None, upload=None, widgets=record.widgets, sweep=record.sweep),
                    _CHOICES_ONLY)


#: Session entries a reload brings back besides the widgets and the data: the sweep's
#: (:data:`ui.results.SWEEP_STATE`), the assistive search's job and study (without them its points
#: left the frontier and a running search could no longer be followed or cancelled), and the
#: session's last export (Review opened on an older decision after a reload): state audit,
#: session 44. Which export Review last opened on is a widget's context, remembered with it.
KEPT = (*ur.SWEEP_STATE, SEARCH_KEY, SEARCH_INFO, LAST_EXPORT)


def restore() -> str | None:
    """On a session's first run, start from its owner's record (once per session).

    Returns
    -------
    str or None
        What was brought back, for a short notice; None when nothing was.
    """
    ss = st.session_state
    if ss.get(RESTORED):
        return None
    ss[RESTORED] = True
    rec = _records().get(session_owner())
    if rec is None:
        return None
    ss.setdefault(state.WIDGET_MEMORY, {}).update(copy.deepcopy(rec.widgets))
    if rec.upload is not None:
        ss[state.UPLOAD] = rec.upload
        # The upload was logged when it was made; a reload is not a new upload.
        ss.setdefault(controls.LOGGED_UPLOADS, set()).add(rec.upload["sha"])
    if rec.data is None:
        return None
    d = rec.data
    state.set_data(d.frame, d.spec, data_hash=d.data_hash, name=d.name, source=d.source, problems=d.problems)
    ss.update({k: copy.copy(v) for k, v in rec.sweep.items()})
    job = ur.session_job()
    if job is not None and job.status == "running":
        ss[RESTORED_SWEEP] = job.key
    # All tabs of one browser share one record: a new tab, or a reload after another tab's
    # choices, gets the latest made in this browser, which "from before the page was reloaded"
    # misdescribed (state audit, session 44).
    return (f"Your data ({md(d.name)}) and choices are back: the latest made in this browser (before a reload, "
            "or in another tab).")


def keep_run() -> None:
    """Remember the widgets drawn and keep the session's record (:func:`save`): at the end of
    every run, the page's (``app.py``) and a fragment's (:func:`page_fragment`)."""
    state.remember_widgets()
    save()


def page_fragment(func):
    """``st.fragment`` for a block of a page: its failures get the page's plain message, and
    what it changed is kept at its end. A fragment's rerun (a slider move, a chart click) does not
    reach the end of ``app.py``: a model chosen there was lost on reload, while the reload's
    message said the choices were back (state audit, session 44)."""
    @functools.wraps(func)
    def run(*args, **kwargs):
        with plain_errors(f"A block of the page ({func.__name__})"):
            try:
                func(*args, **kwargs)
            except state.PageStopped:
                pass  # the block ends there; on a fragment's own rerun no page is around it
        keep_run()

    return st.fragment(run)
