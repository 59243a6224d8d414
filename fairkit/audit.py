"""The audit trail: append-only, hash-chained, one entry schema for the CLI and the dashboard.

Who selected, exported or reviewed which model, and when. Entries live in one SQLite table whose
triggers refuse UPDATE and DELETE, so the application cannot rewrite history even by mistake.
Each entry also stores the SHA-256 of the entry before it and of its own content
(:func:`entry_hash`), so a change made behind SQLite's back (triggers dropped, the file edited)
is found by :meth:`AuditLog.verify`, which names the first entry that no longer fits.

Every entry is written by one of the ``record_*`` functions below, which the CLI and the
dashboard both call; the schema of an entry of each kind is therefore written in one place:

``selection`` (subject: run id)
    A person marked a run on the trade-off chart as their choice.
``export`` (subject: manifest SHA-256 of the bundle)
    A bundle was written; ``bundle`` is its absolute path, the rest is read from its decision
    record. The manifest hash identifies the bundle: reviews refer to it.
``comment``, ``signoff``, ``dissent`` (subject: manifest SHA-256 of the bundle reviewed)
    A reviewer's verdict on an exported decision.

Logs written before this schema (fairkit up to 0.x: no hash columns; the dashboard's exports with
``file=`` and the CLI's with ``subject`` = run id) are read with a fallback: see
:func:`export_entries` and :attr:`ChainCheck.unchained`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .store import _jsonable, default_home

KINDS = ("selection", "export", "comment", "signoff", "dissent")
VERDICT_KINDS = ("comment", "signoff", "dissent")
GENESIS = "0" * 64
"""The ``prev_hash`` of the first chained entry."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT,
    details TEXT NOT NULL,
    prev_hash TEXT,
    entry_hash TEXT
);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


def entry_hash(prev_hash: str, ts: str, actor: str, kind: str, subject: str | None,
               details: str) -> str:
    """SHA-256 of an entry's content and the hash of the entry before it.

    Parameters
    ----------
    prev_hash : str
        ``entry_hash`` of the previous entry (:data:`GENESIS` for the first).
    ts, actor, kind, subject : str
        The entry's columns as stored.
    details : str
        The stored JSON text of the details (hashed as stored, so the check needs no parsing).

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    payload = json.dumps([prev_hash, ts, actor, kind, subject, details], separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class ChainCheck:
    """What :meth:`AuditLog.verify` found.

    Attributes
    ----------
    ok : bool
        Every chained entry matches its hash and follows the one before it.
    entries : int
        Entries in the log.
    unchained : int
        Leading entries written before the log had a hash chain (an older fairkit); they are
        read but nothing vouches for them.
    broken_id : int or None
        The first entry that does not fit the chain.
    problem : str
        Why it does not fit ("" when ``ok``).
    """

    ok: bool
    entries: int
    unchained: int = 0
    broken_id: int | None = None
    problem: str = ""

    def __str__(self) -> str:
        if not self.ok:
            return f"The audit log was altered at entry {self.broken_id}: {self.problem}"
        old = (f"; the first {self.unchained} predate the hash chain and are not covered"
               if self.unchained else "")
        return f"The audit log's {self.entries} entries form an unbroken hash chain{old}."


class AuditLog:
    """Append-only, hash-chained log of selections, exports and reviewers' verdicts (SQLite).

    WAL mode and a busy timeout let several writers (dashboard sessions, CLI runs) append at once;
    each append reads the last hash and inserts in one write transaction, so concurrent writers
    still form one chain.

    Parameters
    ----------
    path : path, optional
        Database file. Default ``default_home() / "audit.sqlite"``.
    """

    def __init__(self, path=None):
        self.path = Path(path) if path is not None else default_home() / "audit.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = self._connect()
        try:
            con.executescript(_SCHEMA)
        finally:
            con.close()
        with self._write() as con:
            cols = {row[1] for row in con.execute("PRAGMA table_info(events)")}
            # A log from before the hash chain: add the columns; its rows stay unchained.
            for col in ("prev_hash", "entry_hash"):
                if col not in cols:
                    con.execute(f"ALTER TABLE events ADD COLUMN {col} TEXT")

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA busy_timeout=30000")
        return con

    @contextmanager
    def _write(self):
        """A connection inside one write transaction, committed on success.

        IMMEDIATE takes the write lock before anything is read, so what a writer reads (the
        last hash, the columns) is still true when it writes.
        """
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            yield con
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    def append(self, kind: str, *, actor: str, subject: str | None = None, **details) -> int:
        """Add an entry at the end of the chain; returns its id.

        The ``record_*`` functions are the schema of each kind; call them rather than this.
        """
        if kind not in KINDS:
            raise ValueError(f"Unknown audit entry kind '{kind}'; use one of {', '.join(KINDS)}.")
        actor = str(actor or "").strip()
        if not actor:
            raise ValueError("Every audit entry needs an actor (who did this).")
        ts = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
        text = json.dumps(_jsonable(details), sort_keys=True)
        # Reading the last hash and inserting in one write transaction: no two writers link to
        # the same predecessor.
        with self._write() as con:
            last = con.execute(
                "SELECT entry_hash FROM events WHERE entry_hash IS NOT NULL ORDER BY id DESC LIMIT 1"
            ).fetchone()
            prev = last[0] if last else GENESIS
            cur = con.execute(
                "INSERT INTO events (ts, actor, kind, subject, details, prev_hash, entry_hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (ts, actor, kind, subject, text, prev, entry_hash(prev, ts, actor, kind, subject, text)),
            )
        return int(cur.lastrowid)

    def _rows(self, sql: str, args=()) -> list[tuple]:
        con = self._connect()
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def entries(self, kind: str | None = None, subject: str | None = None) -> pd.DataFrame:
        """Entries, oldest first, with ``details`` parsed.

        Returns
        -------
        DataFrame with columns id, ts, actor, kind, subject, details
        """
        sql, cond, args = "SELECT id, ts, actor, kind, subject, details FROM events", [], []
        if kind:
            cond.append("kind = ?")
            args.append(kind)
        if subject:
            cond.append("subject = ?")
            args.append(subject)
        if cond:
            sql += " WHERE " + " AND ".join(cond)
        rows = self._rows(sql + " ORDER BY id", args)
        frame = pd.DataFrame(rows, columns=["id", "ts", "actor", "kind", "subject", "details"])
        frame["details"] = frame["details"].map(json.loads)
        return frame

    def verify(self) -> ChainCheck:
        """Check every entry against its hash and its predecessor's.

        Returns
        -------
        ChainCheck
            ``ok``, or the id of the first entry that was changed, inserted out of band, or
            follows one that was removed or changed.
        """
        rows = self._rows("SELECT id, ts, actor, kind, subject, details, prev_hash, entry_hash "
                          "FROM events ORDER BY id")
        prev, unchained = None, 0
        for id_, ts, actor, kind, subject, details, stored_prev, stored_hash in rows:
            if stored_hash is None:
                if prev is None:
                    unchained += 1
                    continue
                return ChainCheck(False, len(rows), unchained, id_,
                                  "it carries no hash but follows chained entries (written "
                                  "by an older fairkit or outside fairkit).")
            expected_prev = GENESIS if prev is None else prev
            if stored_prev != expected_prev:
                return ChainCheck(False, len(rows), unchained, id_,
                                  "it does not follow the entry before it (that entry was "
                                  "removed or changed).")
            if entry_hash(stored_prev, ts, actor, kind, subject, details) != stored_hash:
                return ChainCheck(False, len(rows), unchained, id_,
                                  "its content no longer matches its hash (it was changed).")
            prev = stored_hash
        return ChainCheck(True, len(rows), unchained)


# --------------------------------------------------------------------------- the entry schema

def record_selection(log: AuditLog, *, actor: str, run: dict, dataset: str, data_hash: str,
                     unfairness_axis: str, performance_axis: str, tolerance: float | None,
                     unfairness_val: float, unfairness_test: float, performance_val: float,
                     performance_test: float, note: str = "") -> int:
    """Log that ``actor`` chose ``run`` on the trade-off chart; returns the entry id.

    Parameters
    ----------
    log : AuditLog
    actor : str
        Who chose.
    run : dict
        The run's row of the sweep table (``run_id``, ``method``, ``eta``, ``seed``).
    dataset, data_hash : str
        The data's name and content hash.
    unfairness_axis, performance_axis : str
        The chart's axes when the choice was made.
    tolerance : float or None
        The unfairness tolerance line shown, if any.
    unfairness_val, unfairness_test, performance_val, performance_test : float
        The run's values on those axes.
    note : str
        Why, in the chooser's words.
    """
    return log.append(
        "selection", actor=actor, subject=str(run["run_id"]), dataset=dataset,
        data_hash=data_hash, method=run["method"], eta=float(run["eta"]), seed=int(run["seed"]),
        needs_sensitive_at_predict=bool(run.get("needs_sensitive_at_predict")),
        unfairness_axis=unfairness_axis, performance_axis=performance_axis, tolerance=tolerance,
        unfairness_val=unfairness_val, unfairness_test=unfairness_test,
        performance_val=performance_val, performance_test=performance_test, note=note)


def record_export(log: AuditLog, *, bundle_path, manifest_sha256: str, record: dict,
                  unfairness_axis: str, performance_axis: str) -> int:
    """Log an exported bundle; returns the entry id.

    Everything about the decision is read from the bundle's own decision record, so the entry
    cannot disagree with the bundle, whoever wrote it.

    Parameters
    ----------
    log : AuditLog
    bundle_path : path
        The bundle written by :func:`fairkit.export.export_bundle` (stored resolved, absolute).
    manifest_sha256 : str
        Its manifest hash (``export_bundle(...)["manifest_sha256"]``): the entry's subject.
    record : dict
        Its decision record (``export_bundle(...)["record"]``); the decider is the actor.
    unfairness_axis, performance_axis : str
        The axes of the frontier the choice was made on.
    """
    content = record["content"]
    sel = content["selected"]
    return log.append(
        "export", actor=record["decider"], subject=manifest_sha256,
        bundle=str(Path(bundle_path).resolve()), manifest_sha256=manifest_sha256,
        run_id=sel["run_id"], method=sel["method"], eta=float(sel["eta"]), seed=int(sel["seed"]),
        threshold=float(sel["threshold"]), calibration=sel.get("calibration"),
        needs_sensitive_at_predict=bool(sel["needs_sensitive_at_predict"]),
        dataset=content["dataset"]["name"], data_hash=content["dataset"]["data_hash"],
        unfairness_axis=unfairness_axis, performance_axis=performance_axis,
        rationale=record["rationale"])


def record_verdict(log: AuditLog, kind: str, *, actor: str, manifest_sha256: str,
                   text: str = "") -> int:
    """Log a reviewer's comment, sign-off or dissent on an exported bundle; returns the entry id.

    Parameters
    ----------
    log : AuditLog
    kind : {"comment", "signoff", "dissent"}
    actor : str
        The reviewer.
    manifest_sha256 : str
        The manifest hash of the bundle reviewed (the export entry's subject).
    text : str
        The comment or the reason for a dissent.
    """
    if kind not in VERDICT_KINDS:
        raise ValueError(f"A verdict is one of {', '.join(VERDICT_KINDS)}, not '{kind}'.")
    return log.append(kind, actor=actor, subject=manifest_sha256, text=str(text).strip())


# --------------------------------------------------------------------------- reading

def export_entries(log: AuditLog, *, bundle_folder=None) -> list[dict]:
    """Export entries, newest first, each in the current schema.

    Entries written before the one schema are read with a fallback: the dashboard's (``file`` =
    a name under its exports folder) get ``bundle`` = that name under ``bundle_folder``; the
    CLI's (``subject`` = run id, ``bundle`` as given on its command line) get ``run_id`` from the
    subject. Both carried ``manifest_sha256``, which becomes the subject. Such entries have
    ``legacy`` set to what they were; current ones have ``legacy`` None.

    Parameters
    ----------
    log : AuditLog
    bundle_folder : path, optional
        Where the dashboard kept its bundles (for old entries that name only a file).

    Returns
    -------
    list of dict
        ``id``, ``ts``, ``actor``, ``subject``, ``legacy`` and the details of
        :func:`record_export`.
    """
    out = []
    for r in log.entries(kind="export").itertuples():
        d = dict(r.details)
        legacy = None
        if "bundle" not in d and "file" in d:
            legacy = "dashboard export entry (file name only)"
            name = Path(str(d.pop("file"))).name  # a name, never a path
            d["bundle"] = str(Path(bundle_folder) / name) if bundle_folder is not None else name
        elif r.subject != d.get("manifest_sha256"):
            legacy = "command-line export entry (subject was the run id)"
            d.setdefault("run_id", r.subject)
        subject = d.get("manifest_sha256") or r.subject
        out.append({"id": int(r.id), "ts": r.ts, "actor": r.actor, **d, "subject": subject,
                    "legacy": legacy})
    return out[::-1]


def verdict_entries(log: AuditLog, manifest_sha256: str) -> pd.DataFrame:
    """Comments, sign-offs and dissents on one exported bundle, oldest first.

    Returns
    -------
    DataFrame with columns id, ts, actor, kind, text
    """
    log_rows = log.entries(subject=manifest_sha256)
    log_rows = log_rows[log_rows["kind"].isin(VERDICT_KINDS)]
    return pd.DataFrame({"id": log_rows["id"], "ts": log_rows["ts"], "actor": log_rows["actor"],
                         "kind": log_rows["kind"],
                         "text": log_rows["details"].map(lambda d: d.get("text", ""))}
                        ).reset_index(drop=True)


def selection_entries(log: AuditLog) -> pd.DataFrame:
    """Selections, oldest first: ``id``, ``ts``, ``actor`` and the details of
    :func:`record_selection` as columns (absent ones NaN)."""
    rows = log.entries(kind="selection")
    details = pd.DataFrame(list(rows["details"]), index=rows.index)
    return pd.concat([rows[["id", "ts", "actor"]], details], axis=1).reset_index(drop=True)
