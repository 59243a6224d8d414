"""The audit trail: append-only, hash-chained, signed at its decisions, one entry schema.

Who uploaded which data, ran which sweep, selected, exported, scored with or reviewed which
model, and when. Entries live in one SQLite table whose triggers refuse UPDATE, DELETE and
``INSERT OR REPLACE``, so the application cannot rewrite history even by mistake. Nothing inside
the file stops someone who can write it (triggers can be dropped), so each entry also stores the
SHA-256 of the entry before it and of its own content (:func:`entry_hash`), and
:meth:`AuditLog.verify` names the first entry that no longer fits, finds entries removed from
the end through SQLite's own counter, and checks the signed heads below.

A hash chain alone can be recomputed by whoever can write the file. At each export and sign-off
the chain's head (the entry just written and its hash) is signed with the organisation's Ed25519
key (:mod:`fairkit.keys`) into a second append-only table, and each bundle's record can carry
:func:`chain_head`: a rewrite of anything before a signed head, or before a bundle's recorded
head, is caught against them. What no log can show on its own is the removal of its newest
entries together with their heads and SQLite's counter; a bundle's recorded head or a signed head
kept elsewhere is the defence against that.

Every entry is written by one of the ``record_*`` functions below, which the CLI and the
dashboard both call; the schema of an entry of each kind is therefore written in one place:

``upload`` (subject: content hash of the data)
    A table was read into the dashboard.
``sweep`` (subject: content hash of the data)
    A sweep trained methods over etas and seeds (``source`` "sweep"), or an assistive search
    ran its trials (``source`` "search", with its study, budget, objective, the trials it
    trained and those it found in the study or store, and its re-split runs).
``selection`` (subject: run id)
    A person marked a run on the trade-off chart as their choice.
``export`` (subject: manifest SHA-256 of the bundle)
    A bundle was written; ``bundle`` is its absolute path, the rest is read from its decision
    record. The manifest hash identifies the bundle: reviews refer to it.
``score`` (subject: manifest SHA-256 of the bundle used)
    New rows were scored with a bundle; the drift check's outcome.
``comment``, ``signoff``, ``dissent`` (subject: manifest SHA-256 of the bundle reviewed)
    A reviewer's verdict on an exported decision, written only for a bundle that passes its
    checks (:func:`record_verdict`).

Every entry's details carry ``identity`` (:class:`Identity`): who the actor is and whether a
sign-in provider vouched for it or the name was only typed ("self-declared").

Logs written before this schema (fairkit up to 0.x: no hash columns; the dashboard's exports with
``file=`` and the CLI's with ``subject`` = run id) are read with a fallback: see
:func:`export_entries` and :attr:`ChainCheck.unchained`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import getpass
import hashlib
import json
import os
import unicodedata
import sqlite3
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from . import __version__, keys
from .store import RESULTS_REVISION, default_home, strict_json

KINDS = ("upload", "sweep", "selection", "export", "score", "comment", "signoff", "dissent", "handover")
VERDICT_KINDS = ("comment", "signoff", "dissent")
#: How a signed kind of entry is named in a sentence.
SIGNED_WORDS = {"export": "an export", "signoff": "a sign-off", "dissent": "a dissent"}
#: Entries at which the chain head is signed (the decisions a committee relies on). A dissent is
#: one: unsigned, it could be rewritten into a sign-off with the chain recomputed after it.
SIGNED_KINDS = ("export", "signoff", "dissent")
#: Signed kinds that count, and do not fail a check, without a signature of their own (named):
#: an objection. Rewritten into a sign-off it would be an unsigned sign-off, which fails; and a
#: fairkit before 2026-12-06 did not sign dissents: after an upgrade, a committee member's dissent
#: stopped counting and failed the log's check (upgrade audit, session 48).
OBJECTIONS = ("dissent",)
GENESIS = "0" * 64
"""The ``prev_hash`` of the first chained entry."""
SELF_DECLARED = "self-declared"

_APPEND_ONLY = "SELECT RAISE(ABORT, 'the audit log is append-only')"
_SCHEMA = f"""
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
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events BEGIN {_APPEND_ONLY}; END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events BEGIN {_APPEND_ONLY}; END;
-- INSERT OR REPLACE deletes the old row without firing DELETE triggers; refuse it before.
CREATE TRIGGER IF NOT EXISTS events_no_replace BEFORE INSERT ON events
WHEN EXISTS (SELECT 1 FROM events WHERE id = NEW.id) BEGIN {_APPEND_ONLY}; END;
CREATE TABLE IF NOT EXISTS heads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id INTEGER NOT NULL,
    entry_hash TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS heads_no_update BEFORE UPDATE ON heads BEGIN {_APPEND_ONLY}; END;
CREATE TRIGGER IF NOT EXISTS heads_no_delete BEFORE DELETE ON heads BEGIN {_APPEND_ONLY}; END;
CREATE TRIGGER IF NOT EXISTS heads_no_replace BEFORE INSERT ON heads
WHEN EXISTS (SELECT 1 FROM heads WHERE id = NEW.id) BEGIN {_APPEND_ONLY}; END;
"""


def _schema_objects() -> dict:
    """The audit log's own SQLite objects: (type, name) -> their SQL, whitespace aside."""
    con = sqlite3.connect(":memory:")
    try:
        con.executescript(_SCHEMA)
        return {(kind, name): " ".join(str(sql).split())
                for kind, name, sql in con.execute("SELECT type, name, sql FROM sqlite_master")}
    finally:
        con.close()


_OWN_OBJECTS = _schema_objects()


def _own_object(kind: str, name: str, sql) -> bool:
    """Whether an object of an audit log's file is one the log itself creates: its tables (by
    name: a log from before the hash chain has fewer columns) and its triggers, SQL and all."""
    if (kind, name) not in _OWN_OBJECTS:
        return False
    return kind == "table" or " ".join(str(sql).split()) == _OWN_OBJECTS[(kind, name)]


class VerdictRefused(ValueError):
    """A verdict that must not be recorded: the bundle fails its checks, or the log does."""


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

    Raises
    ------
    TypeError
        A column holds something no fairkit writes (bytes): the row was not written by fairkit.
    """
    payload = json.dumps([prev_hash, ts, actor, kind, subject, details], separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def head_message(entry_id: int, entry_hash_: str) -> bytes:
    """The bytes signed for a chain head: the entry's id and hash, with a fixed prefix so the
    signature cannot be mistaken for one over anything else the key signs (a manifest)."""
    return f"fairkit audit head\n{int(entry_id)}\n{entry_hash_}".encode()


def _first_handovers(handovers) -> list:
    """``(entry id, old key, new key)`` of each key's first hand-over whose outgoing key's
    signature holds, oldest first. A copy appended later, or a second hand-over signed with a key
    already handed over (one that leaked), moves nothing: a key hands over once."""
    first = {}
    for id_, details in sorted(handovers, key=lambda h: h[0]):
        try:
            old = keys.public_from_hex(details["old_public_key"])
            new = keys.public_from_hex(details["new_public_key"])
        except (KeyError, TypeError, ValueError):
            continue
        if keys.raw_hex(old) in first or not keys.verify_signature(
                old, keys.handover_message(old, new), str(details.get("old_signature", ""))):
            continue
        first[keys.raw_hex(old)] = (int(id_), old, new)
    return sorted(first.values(), key=lambda h: h[0])


def _head_signer(heads, intact=None):
    """``(entry id, public key) -> bool``: whether ``heads`` (rows of entry id, hash, key id,
    signature) hold a valid head of that key on that entry, whose hash is in ``intact`` (pairs
    of id and hash whose content matches) when given."""
    def signed(entry_id, key) -> bool:
        kid = keys.key_id(key)
        return any(e == entry_id and k == kid and (intact is None or (e, d) in intact)
                   and keys.verify_signature(key, head_message(e, d), sig) for e, d, k, sig in heads)
    return signed


def key_ring(anchor, handovers, new_key_signed) -> keys.KeyRing:
    """The keys a log's hand-overs link to ``anchor`` (:class:`fairkit.keys.KeyRing`).

    Trust passes forward (the outgoing key signed the hand-over: its successor is trusted) and
    back (the incoming key signed the hand-over's head in the log: its predecessor is trusted,
    up to that entry). Each key is trusted up to its own first hand-over.

    Parameters
    ----------
    anchor : Ed25519PublicKey
    handovers : iterable of (int, dict)
        The log's ``handover`` entries: id and details.
    new_key_signed : callable
        ``(entry id, public key) -> bool``: whether that key signed the entry's head in the log.
    """
    firsts = _first_handovers(handovers)
    until = {keys.raw_hex(old): id_ for id_, old, _ in firsts}
    members = {keys.raw_hex(anchor): anchor}
    changed = True
    while changed:
        changed = False
        for id_, old, new in firsts:
            o, n = keys.raw_hex(old), keys.raw_hex(new)
            if o in members and n not in members:
                members[n], changed = new, True
            elif n in members and o not in members and new_key_signed(id_, new):
                members[o], changed = old, True
    return keys.KeyRing(anchor, tuple((k, until.get(h)) for h, k in members.items()))


@dataclass(frozen=True)
class Identity:
    """Who did something, and who vouches for it.

    Attributes
    ----------
    name : str
        The person's name as the provider gives it, or as typed.
    email : str
        Their e-mail address as the provider verified it ("" when self-declared).
    issuer : str
        The OpenID Connect issuer (``iss``) that signed them in; "" when the name was only typed.
    subject : str
        The provider's stable id for them (``sub``).
    """

    name: str
    email: str = ""
    issuer: str = ""
    subject: str = ""

    @property
    def verified(self) -> bool:
        """A sign-in provider vouched for this identity."""
        return bool(self.issuer)

    @property
    def actor(self) -> str:
        """The text stored as the entry's actor: ``name <email>`` or the typed name."""
        name = str(self.name or "").strip()
        if self.email and self.email != name:
            return f"{name} <{self.email}>" if name else self.email
        return name

    def as_dict(self) -> dict:
        """The entry's ``identity`` detail: the fields and ``verified_by`` (issuer or
        :data:`SELF_DECLARED`)."""
        return {**asdict(self), "verified_by": self.issuer or SELF_DECLARED}

    @classmethod
    def coerce(cls, who) -> Identity:
        """An :class:`Identity` as given, or a typed name as a self-declared one."""
        return who if isinstance(who, Identity) else cls(name=str(who or "").strip())


#: How the command line's account is named in the log ("ana (command line)").
COMMAND_LINE = " (command line)"


def command_line_user() -> Identity:
    """The account running the command line, self-declared (no sign-in vouches for it)."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "unknown"
    return Identity(name=f"{name}{COMMAND_LINE}")


@dataclass(frozen=True)
class ChainCheck:
    """What :meth:`AuditLog.verify` found.

    Attributes
    ----------
    ok : bool
        Every chained entry matches its hash and follows the one before it, nothing was removed
        from the end as far as the log can tell, every signed head matches the chain, and (when a
        key was given) every signature holds and every entry signed at writing still has its
        signed head.
    entries : int
        Entries in the log.
    unchained : int
        Leading entries written before the log had a hash chain (an older fairkit); they are
        read but nothing vouches for them.
    broken_id : int or None
        The first entry that does not fit the chain.
    problem : str
        Why it does not fit ("" when ``ok``).
    key_id : str or None
        The key whose signatures were checked (None: signatures were not checked).
    signed_through : int or None
        The newest entry covered by a valid signed head of that key.
    heads : int
        Signed heads in the log.
    altered : bool
        When not ``ok``: the log's content was changed (True), or it holds a decision the key
        never signed (False; see :meth:`AuditLog.verify`).
    checked_through : int
        The newest entry the check read (0 for an empty log). Entries after it were appended
        since, by another session: nothing here vouches for them yet.
    first_chained : int or None
        The first entry of the hash chain (None: no chained entry). The entries before it
        predate the chain: nothing vouches for them, and no signature covers them.
    unreadable : tuple of dict
        The rows :meth:`AuditLog.entries` skips (``{"id", "problem"}``), from the same reading
        of the log as the check.
    signed_ids : frozenset of int
        The entries that carry a valid head of that key of their own.
    unsigned_verdicts : tuple of int
        Sign-offs and dissents that carry no signature of their own (:func:`signature_covers`):
        sign-offs (a later signature covers them) are not counted; dissents, covered or not
        (:data:`OBJECTIONS`), are.
    unsigned_exports : tuple of int
        Exports likewise: made without the key (or with another), in the chain, not vouched for.
    other_keys : dict
        Of those, the entries carrying a head of another key: id -> that key's id (a rotated
        key's time: check them with that key).
    first_head : int or None
        The first entry carrying a signed head of any key.
    ring : KeyRing or None
        The checked key and those a hand-over in the log links to it (:func:`key_ring`); None
        without a key.
    earlier_times : tuple of int
        Entries whose time is earlier than the entry before them (the writer's clock was set
        back): their order is the chain's, not their times'.
    """

    ok: bool
    entries: int
    unchained: int = 0
    broken_id: int | None = None
    problem: str = ""
    key_id: str | None = None
    signed_through: int | None = None
    heads: int = 0
    altered: bool = True
    checked_through: int = 0
    first_chained: int | None = None
    unreadable: tuple = ()
    signed_ids: frozenset = frozenset()
    unsigned_verdicts: tuple = ()
    objection_ids: frozenset = frozenset()
    unsigned_exports: tuple = ()
    other_keys: dict = field(default_factory=dict)
    first_head: int | None = None
    ring: keys.KeyRing | None = None
    earlier_times: tuple = ()

    @property
    def handed_over(self) -> dict:
        """Key id -> the entry at which it was handed over, for the ring's keys that were."""
        return self.ring.handed_over() if self.ring is not None else {}

    @property
    def active_keys(self) -> frozenset:
        """The ids of the ring's keys not handed over: those a new decision may be signed with."""
        return self.ring.active() if self.ring is not None else frozenset()

    def vouches_for(self, id_: int, kind: str) -> bool:
        """Whether the checked key vouches for entry ``id_`` of ``kind`` (always, without a key).

        See :func:`signature_covers`.
        """
        if self.key_id is None:
            return True
        if self.first_chained is None or id_ < self.first_chained:
            return False  # before the chain: nothing vouches for it
        return signature_covers(id_, kind, self.signed_ids, self.signed_through, self.first_head)

    def __str__(self) -> str:
        if not self.ok:
            where = f" at entry {self.broken_id}" if self.broken_id is not None else ""
            what = "was altered" if self.altered else "fails its check"
            return f"The audit log {what}{where}: {self.problem}"
        text = f"The audit log's {self.entries} entries form an unbroken hash chain"
        if self.unchained:
            text += f"; the first {self.unchained} predate the hash chain and are not covered"
        if self.key_id is None:
            text += (f"; {self.heads} signed head(s) match it (signatures not checked: no "
                     "public key given)" if self.heads else "; no entry is signed")
        elif self.signed_through is None:
            text += f"; no entry carries a signature by key {self.key_id}"
        else:
            later = self.entries - self.signed_through
            text += (f"; signed by key {self.key_id} through entry {self.signed_through}"
                     + (f" ({later} later entries not yet covered by a signature)"
                        if later > 0 else ""))
        if self.earlier_times:
            ids = ", ".join(map(str, self.earlier_times[:8])) + (" ..." if len(self.earlier_times) > 8 else "")
            text += (f"; {len(self.earlier_times)} entries carry an earlier time than the entry before them (entries "
                     f"{ids}: the clock was set back when they were written): their order is the entries' numbers, "
                     "not their times")
        if self.handed_over:
            text += "; " + ", ".join(f"key {k} handed over at entry {i} (its signatures up to it count)"
                                     for k, i in self.handed_over.items())
        objections = tuple(i for i in self.unsigned_verdicts if i in self.objection_ids)
        signoffs = tuple(i for i in self.unsigned_verdicts if i not in self.objection_ids)
        for found, what, then in ((signoffs, "sign-off(s)", "are not counted"),
                                  (objections, "dissent(s)", "are counted all the same (an objection is not "
                                   "dropped for how it was recorded; a fairkit before 2026-12-06 did not sign dissents)"),
                                  (self.unsigned_exports, "export(s)", "are not vouched for")):
            bare = [i for i in found if i not in self.other_keys]
            if bare:
                ids = ", ".join(map(str, bare[:8])) + (" ..." if len(bare) > 8 else "")
                text += (f"; {len(bare)} {what} carry no signature of their own (entries {ids}: recorded where the "
                         f"signing key was not configured, or written into the file by someone without it) and {then}")
            other = [i for i in found if i in self.other_keys]
            if other:
                ids = ", ".join(f"{i} (key {self.other_keys[i]})" for i in other[:8]) + (" ..." if len(other) > 8 else "")
                text += (f"; {len(other)} {what} carry the signature of another key (entries {ids}; before a key "
                         f"rotation, or signed with a key not the organisation's) and {then} here: check them with "
                         "that key")
        return text + "."


def signature_covers(id_: int, kind: str, signed_ids, signed_through: int | None,
                     first_head: int | None = None) -> bool:
    """Whether the organisation's signatures vouch for chained entry ``id_`` of ``kind``.

    A sign-off or a dissent needs a signed head of its own, made when it was recorded: a head
    covers the chain up to it, so a verdict appended by someone who can write the log's file but
    has no key was covered, and counted, once anyone's next signed export followed it (attack
    audit, session 43). Only verdicts from before the key's first signature (a log that adopted
    the key later) are vouched for by that first signature; after a key rotation that includes
    the verdicts of the old key's time, which a check with the old key reads as they were signed.
    An export is a decision too: one made without the key (or with another), followed by the
    organisation's next signed export, passed the check unnamed (lifecycle audit, session 45), so
    it needs a head of its own as well. Before any key's first signature (``first_head``: a log
    that adopted signing later) both are vouched for by the key's first signature; after a key
    rotation the old key's time is not the new key's to vouch for (a sign-off recorded there
    without any signature counted under the new key). Any other entry (a sweep, a score) is
    covered by a later signed head, as before.

    Parameters
    ----------
    id_ : int
    kind : str
    signed_ids : collection of int
        The entries carrying a valid signed head of the key.
    signed_through : int or None
        The newest of them.
    first_head : int, optional
        The first entry carrying a signed head of any key (default: the key's own first).
    """
    if kind in SIGNED_KINDS:
        first = first_head if first_head is not None else min(signed_ids, default=None)
        return id_ in signed_ids or (bool(signed_ids) and first is not None and id_ < first)
    return id_ <= (signed_through or 0)


def _earlier(ts: str, than: str) -> bool:
    """Whether entry time ``ts`` is before ``than``, across the offsets they may be written with
    (a time that cannot be read is never flagged)."""
    try:
        a, b = (dt.datetime.fromisoformat(t) for t in (ts, than))
        a, b = (w if w.tzinfo else w.replace(tzinfo=dt.timezone.utc) for w in (a, b))
    except (TypeError, ValueError):
        return False
    return a < b


def _read_row(ts, actor, kind, subject, details) -> dict:
    """A row's details, parsed; ValueError saying why the row cannot be read (written outside
    fairkit). The one reading :meth:`AuditLog.entries` and :meth:`AuditLog.verify` share."""
    if not all(isinstance(v, str) for v in (ts, actor, kind)):
        raise ValueError("its time, actor or kind is not text")
    if subject is not None and not isinstance(subject, str):
        raise ValueError("its subject is not text")
    return _parse_details(details)


def _parse_details(text) -> dict:
    if not isinstance(text, str):
        raise ValueError(f"its details are {type(text).__name__}, not JSON text")
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("its details are not a JSON object")
    return value


class AuditLogError(ValueError):
    """A file given as the audit log that is not one; the message names it and says what to do."""


class AuditLogAltered(AuditLogError):
    """An audit log changed outside fairkit so that it cannot even be opened (SQLite objects of
    someone else's in it): a check that failed, not a file that is not a log."""


def sqlite_problem(path, exc: sqlite3.Error) -> str:
    """What an SQLite error on the audit log at ``path`` means for its user, and what to do.

    A full disk, a read-only folder and a damaged file each get their own message: advice to
    start a new log (right for a file that is not a log) would abandon the hash chain of one
    that is merely unwritable or damaged.
    """
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    text = str(exc)
    if name == "SQLITE_FULL" or "disk is full" in text:
        return (f"The audit log {path} cannot be written: the disk is full (SQLite: {text}). Free some space "
                "and run again; the log is as it was.")
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_PERM")) or \
            "readonly" in text or "unable to open" in text or "disk I/O error" in text:
        return (f"The audit log {path} cannot be opened for writing (SQLite: {text}): its folder may be "
                "read-only, or its disk full. Make the folder writable (or free space) and run again; the log "
                "is as it was. Do not start a new log: it would begin a new hash chain.")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in text:
        return (f"The audit log {path} is being written by another process, which has held it for over 30 seconds "
                f"(SQLite: {text}): a sweep, export or score still running, or stopped mid-write. Wait for it to "
                "finish, or stop it, and run again; the log is as it was.")
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in text or "not a database" in text:
        return (f"The audit log {path} is damaged or not an SQLite file (SQLite: {text}). Restore it from a "
                "copy; if it never was a fairkit audit log, give the path of the log, or a new file name to "
                "start one.")
    return (f"The audit log {path} could not be used (SQLite: {text}). Check the file and its folder, "
            "and run again.")


class AuditLog:
    """Append-only, hash-chained log of uploads, sweeps, selections, exports, scoring and
    reviewers' verdicts (SQLite).

    WAL mode and a busy timeout let several writers (dashboard sessions, CLI runs) append at once;
    each append reads the last hash, takes its timestamp and inserts in one write transaction, so
    concurrent writers still form one chain in time order.

    Parameters
    ----------
    path : path, optional
        Database file. Default ``default_home() / "audit.sqlite"``.
    read_only : bool, default=False
        Open an existing log only to read and verify it: nothing is created or written (not even
        SQLite's journal setting), so a log on read-only media (an archived copy, a read-only
        share) can be listed and verified; :meth:`append` refuses.
    """

    def __init__(self, path=None, *, read_only: bool = False):
        self._sound = False  # damage() has passed for this object (checked before its first append)
        self.read_only = bool(read_only)
        self._frozen = None  # read as immutable: the file's stamp at opening, checked after each read
        self.path = Path(path) if path is not None else default_home() / "audit.sqlite"
        if self.read_only:
            self._open_read_only()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._check_kind()
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

    def _open_read_only(self) -> None:
        if not self.path.is_file():
            raise AuditLogError(f"No audit log at {self.path}.")
        self._check_kind()
        try:
            columns = {row[1] for row in self._rows("PRAGMA table_info(events)")}
        except sqlite3.DatabaseError as exc:
            raise AuditLogError(sqlite_problem(self.path, exc)) from exc
        if not {"prev_hash", "entry_hash"} <= columns:
            missing = "no entries table" if not columns else "no hash chain (an earlier fairkit wrote it)"
            raise AuditLogError(f"The audit log {self.path} has {missing}, and opened read-only it cannot be "
                                "brought up to date. Copy it to a writable folder and run again on the copy.")

    def _read_connection(self) -> sqlite3.Connection:
        """A connection that cannot write.

        A log in WAL mode needs its shared-memory file to be read. Where none can be made (a
        read-only folder) it is read as an immutable file, which is right only if no one writes
        it meanwhile: that read is refused while SQLite's shared-memory file is there (a writer
        has the log open) or its write-ahead file holds entries (SQLite would leave them out
        without a word, and the shorter log would verify), and :meth:`_still_frozen` checks after
        each read that the file did not change (a writer's checkpoint during the read gave false
        alarms of removed entries or damage: review of session 41)."""
        uri = self.path.resolve().as_uri()
        con = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30, isolation_level=None)
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            con.close()
            # Immutable only for a log opened read-only in a folder where the shared-memory file
            # cannot be made; any other failure (a lock) is SQLite's to report as it is.
            if not self.read_only or os.access(self.path.parent, os.W_OK):
                raise
            wal = self.path.with_name(self.path.name + "-wal")
            if wal.exists() and wal.stat().st_size > 0:
                raise AuditLogError(
                    f"The audit log {self.path} has entries in its write-ahead file ({wal.name}) that SQLite "
                    "cannot read where the folder is read-only. Copy the log and that file together to a "
                    "writable folder and run again there.") from None
            stamp = self._stamp()
            if stamp[2]:
                raise AuditLogError(self._in_use())
            self._frozen = stamp
            con = sqlite3.connect(f"{uri}?immutable=1", uri=True, timeout=30, isolation_level=None)
        con.execute("PRAGMA busy_timeout=30000")
        if not con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'heads'").fetchone():
            # A log of a fairkit before signed heads has none, which a writer adds: read it as
            # having none (a read-only list, check or backup of it said "SQLite: no such table:
            # heads ... Check the file", and only a write made it readable; upgrade audit,
            # session 48). A temporary table is this connection's own; the file is not touched.
            con.execute("CREATE TEMP TABLE heads (id INTEGER PRIMARY KEY, entry_id INTEGER, entry_hash TEXT, "
                        "key_id TEXT, signature TEXT)")
        return con

    def _stamp(self) -> tuple:
        st = self.path.stat()
        return st.st_size, st.st_mtime_ns, self.path.with_name(self.path.name + "-shm").exists()

    def _in_use(self) -> str:
        return (f"The audit log {self.path} is open for writing elsewhere (SQLite's shared-memory file "
                f"{self.path.name}-shm is beside it, or the log changed while it was read), and from this "
                "read-only folder its newest entries cannot be read safely. Run the check where the log is "
                "written, or on a copy of its files taken when no one writes it.")

    def _still_frozen(self) -> None:
        """After a read as immutable: refuse what was read if the file changed meanwhile."""
        if self._frozen is not None and self._stamp() != self._frozen:
            raise AuditLogError(self._in_use())

    def _check_kind(self) -> None:
        """Refuse a file that is not a fairkit audit log before anything is written to it:
        opening it as one would create tables in (and switch the journal of) any SQLite file."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            if self.read_only:
                raise AuditLogError(f"{self.path} is empty: it holds no audit log entries.")
            return  # a new log
        try:
            con = self._read_connection()
            try:
                objects = con.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
            finally:
                con.close()
        except sqlite3.DatabaseError as exc:
            raise AuditLogError(sqlite_problem(self.path, exc)) from exc
        tables = {name for kind, name, _ in objects if kind == "table"}
        if tables - {"sqlite_sequence"} and "events" not in tables:
            shown = ", ".join(sorted(tables - {"sqlite_sequence"})[:5])
            raise AuditLogError(f"{self.path} is an SQLite database of something else (tables: {shown}), not a "
                                "fairkit audit log; nothing was written to it. Give the path of the audit "
                                "log, or a new file name to start one.")
        # Only the log's own objects: a view or trigger of someone else's runs its SQL whenever
        # fairkit reads or appends (an endless view hung `audit verify`; a trigger named like
        # one of ours would have been kept by CREATE ... IF NOT EXISTS).
        foreign = [name for kind, name, sql in objects if not _own_object(kind, name, sql)]
        if foreign:
            raise AuditLogAltered(f"{self.path} holds SQLite objects a fairkit audit log does not have "
                                f"({', '.join(sorted(map(str, foreign))[:5])}): it was changed outside fairkit, "
                                "and nothing was read from or written to it. Restore the log from a copy, or "
                                "give a new file name to start one.")

    def _connect(self) -> sqlite3.Connection:
        if self.read_only:
            return self._read_connection()
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
            # Into the main file at once: a process killed with the log open left its newest
            # entries (a sign-off) in audit.sqlite-wal only, and a copy of audit.sqlite alone
            # lacked them and verified (concurrency audit, session 46). PASSIVE: never waits on
            # readers; what it cannot copy now the next writer's checkpoint does.
            with contextlib.suppress(sqlite3.Error):
                con.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    def append(self, kind: str, *, actor, subject: str | None = None, signing_key=None,
               **details) -> int:
        """Add an entry at the end of the chain; returns its id.

        The ``record_*`` functions are the schema of each kind; call them rather than this.

        Parameters
        ----------
        kind : str
            One of :data:`KINDS`.
        actor : Identity or str
            Who; a plain name is recorded as self-declared.
        subject : str, optional
        signing_key : Ed25519PrivateKey, optional
            Sign the new head (this entry) with it, in the same transaction; the entry records
            the key's id (``signed_by``), so a removed signature is noticed.
        **details
            The entry's content (JSON-able).
        """
        if kind not in KINDS:
            raise ValueError(f"Unknown audit entry kind '{kind}'; use one of {', '.join(KINDS)}.")
        if self.read_only:
            raise AuditLogError(f"The audit log {self.path} was opened read-only; nothing was written to it.")
        who = Identity.coerce(actor)
        actor = who.actor
        if not actor:
            raise ValueError("Every audit entry needs an actor (who did this).")
        # Which fairkit wrote the entry, and under which results rules: entries of two versions on
        # one chain are told apart (upgrade audit, session 50: 0.3.0's and 0.3.1's sweeps of COMPAS,
        # on other rows, differed only in a digest).
        details = {**details, "identity": who.as_dict(), "fairkit": {"version": __version__,
                                                                     "results_revision": RESULTS_REVISION}}
        if signing_key is not None:
            details["signed_by"] = keys.key_id(signing_key)
            handed = self.handed_over(signing_key) if kind != "handover" else None
            if handed:
                # A retired (perhaps leaked) key's later heads fail the check: refused at writing.
                raise AuditLogError(
                    f"The signing key {keys.key_id(signing_key)} was handed over to key {handed[1]} at audit entry "
                    f"{handed[0]} of {self.path}: it signs nothing after its hand-over, so nothing was written. Sign "
                    f"with the new key ({keys.SIGNING_KEY_ENV}, or the dashboard's signing_key secret).")
        text = strict_json(details, sort_keys=True)
        if not self._sound:
            # Once per log object: a file cut short or overwritten in part would take the entry
            # and pass it on, damaged (interruption audit: a truncated log was appended to).
            damage = self.damage()
            if damage:
                raise AuditLogError(f"The audit log {self.path} is damaged ({damage}); nothing was written to it. "
                                    "Restore it from a copy, then run again.")
            self._sound = True
        # The last hash, the timestamp and the insert in one write transaction: no two writers
        # link to the same predecessor, and time order is chain order.
        with self._write() as con:
            ts = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
            last = con.execute(
                "SELECT entry_hash FROM events WHERE entry_hash IS NOT NULL ORDER BY id DESC LIMIT 1"
            ).fetchone()
            prev = last[0] if last else GENESIS
            digest = entry_hash(prev, ts, actor, kind, subject, text)
            cur = con.execute(
                "INSERT INTO events (ts, actor, kind, subject, details, prev_hash, entry_hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", (ts, actor, kind, subject, text, prev, digest))
            new_id = int(cur.lastrowid)
            if signing_key is not None:
                con.execute("INSERT INTO heads (entry_id, entry_hash, key_id, signature) "
                            "VALUES (?, ?, ?, ?)",
                            (new_id, digest, keys.key_id(signing_key),
                             keys.sign(signing_key, head_message(new_id, digest))))
        return new_id

    def _rows(self, sql: str, args=()) -> list[tuple]:
        return self._snapshot((sql, args))[0]

    def damage(self) -> str | None:
        """SQLite's own check of the file (``PRAGMA quick_check``): what is broken, or None.

        A damaged file is not a changed entry: it is reported as damage, with the remedy (restore
        a copy), not as an insertion or an alteration at some entry.
        """
        con = self._connect()
        try:
            found = [str(r[0]) for r in con.execute("PRAGMA quick_check").fetchall()]
        except sqlite3.DatabaseError as exc:
            self._still_frozen()  # a file changing under an immutable read is not damage
            return f"SQLite cannot check it: {exc}"
        finally:
            con.close()
        self._still_frozen()
        if found == ["ok"]:
            return None
        lines = [line for r in found for line in r.splitlines() if line and not line.startswith("***")]
        return "SQLite's check: " + "; ".join(lines[:3])

    def _snapshot(self, *queries) -> list[list[tuple]]:
        """The rows of each ``(sql, args)`` query, all read in one read transaction: one
        snapshot of the log, whatever other writers append meanwhile. (Read on separate
        connections, the entries, SQLite's counter and the heads could come from different
        moments, and a check would take another session's append for a removed entry.)"""
        con = self._connect()
        try:
            con.execute("BEGIN")
            out = [con.execute(sql, args).fetchall() for sql, args in queries]
            con.execute("COMMIT")
        except sqlite3.DatabaseError:
            self._still_frozen()
            raise
        finally:
            con.close()
        self._still_frozen()
        return out

    def entries(self, kind: str | None = None, subject: str | None = None, last: int | None = None) -> pd.DataFrame:
        """Entries, oldest first, with ``details`` parsed.

        ``last`` keeps only the newest ``last`` entries (of ``kind`` and ``subject``), read as
        such from the log rather than all read and cut: a long history lists its end quickly.

        A row that cannot be read (details that are not a JSON object, columns of the wrong
        type: written outside fairkit) is skipped, never raised: it is listed in
        ``frame.attrs["skipped"]`` as ``{"id", "problem"}`` (see also :meth:`unreadable`), and
        :meth:`verify` reports the change.

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
        if last is not None:
            # The newest ``last`` by id, then oldest first again.
            sql = f"SELECT * FROM ({sql} ORDER BY id DESC LIMIT ?)"
            args.append(max(int(last), 0))
        good, skipped = [], []
        for id_, ts, actor, kind_, subject_, details in self._rows(sql + " ORDER BY id", args):
            try:
                good.append((id_, ts, actor, kind_, subject_, _read_row(ts, actor, kind_, subject_, details)))
            except ValueError as exc:
                skipped.append({"id": id_, "problem": str(exc)})
        frame = pd.DataFrame(good, columns=["id", "ts", "actor", "kind", "subject", "details"])
        frame.attrs["skipped"] = skipped
        return frame

    def count(self, kind: str | None = None) -> int:
        """How many entries the log holds (of ``kind``), readable or not."""
        sql, args = ("SELECT COUNT(*) FROM events WHERE kind = ?", [kind]) if kind else ("SELECT COUNT(*) FROM events", [])
        return int(self._rows(sql, args)[0][0])

    def unreadable(self) -> list[dict]:
        """Rows :meth:`entries` skips: ``{"id", "problem"}`` for each."""
        return self.entries().attrs["skipped"]

    def heads(self) -> pd.DataFrame:
        """Signed chain heads, oldest first: id, entry_id, entry_hash, key_id, signature."""
        return pd.DataFrame(
            self._rows("SELECT id, entry_id, entry_hash, key_id, signature FROM heads ORDER BY id"),
            columns=["id", "entry_id", "entry_hash", "key_id", "signature"])

    def backup(self, dest) -> ChainCheck:
        """Copy the whole log, consistent as of one moment, into a new file ``dest``; returns the
        copy's check (:meth:`verify`).

        Copying ``audit.sqlite`` by hand can miss the newest entries, which SQLite may still hold
        in ``audit.sqlite-wal`` beside it (concurrency audit, session 46); SQLite's backup reads
        both, as any reader does, and writes one self-contained file.

        Raises
        ------
        AuditLogError
            ``dest`` exists already (nothing is overwritten).
        """
        dest = Path(dest)
        if os.path.lexists(dest):
            raise AuditLogError(f"{dest} exists already; give a new file name for the copy (nothing was overwritten).")
        dest.parent.mkdir(parents=True, exist_ok=True)
        con = self._connect()
        try:
            out = sqlite3.connect(dest)
            try:
                con.backup(out)
                out.execute("PRAGMA journal_mode=DELETE")  # one file: nothing left in a -wal beside it
            finally:
                out.close()
        finally:
            con.close()
        return AuditLog(dest, read_only=True).verify()

    def handed_over(self, key) -> tuple[int, str] | None:
        """``(entry, incoming key id)`` of ``key``'s hand-over in this log (:func:`record_handover`),
        or None when it was not handed over."""
        rows = self.entries(kind="handover")
        return next(((id_, keys.key_id(new)) for id_, old, new in _first_handovers(zip(rows["id"], rows["details"]))
                     if keys.same_key(old, key)), None)

    def key_ring(self, public_key) -> keys.KeyRing | None:
        """``public_key`` and the keys this log's hand-overs link to it (:func:`key_ring`): what a
        bundle signed before a key rotation is checked against. None when ``public_key`` is.

        Only a hand-over whose content still matches its hash and whose head the incoming key
        signed links back; the whole chain is checked by :meth:`verify`, which uses the same ring.
        """
        public_key = keys.trusted_public(public_key)
        if public_key is None:
            return None
        rows, heads = self._snapshot(
            ("SELECT id, ts, actor, kind, subject, details, prev_hash, entry_hash FROM events "
             "WHERE kind = 'handover' ORDER BY id", ()),
            ("SELECT h.entry_id, h.entry_hash, h.key_id, h.signature FROM heads h JOIN events e "
             "ON e.id = h.entry_id WHERE e.kind = 'handover'", ()))
        found, intact = [], set()
        for id_, ts, actor, kind, subject, details, prev, digest in rows:
            try:
                found.append((id_, _read_row(ts, actor, kind, subject, details)))
                if prev is not None and entry_hash(prev, ts, actor, kind, subject, details) == digest:
                    intact.add((id_, digest))
            except (ValueError, TypeError):
                continue
        ring = key_ring(public_key, found, _head_signer(heads, intact))
        if not ring.handed_over():
            return ring
        # Where each bundle's export was logged: a handed-over key's bundle counts only when
        # exported before its hand-over (KeyRing.refusal, checked with the bundle's signature).
        exports = {}
        for subject, id_ in self._rows("SELECT subject, MIN(id) FROM events WHERE kind = 'export' GROUP BY subject"):
            exports[str(subject)] = int(id_)
        return dataclasses.replace(ring, exports=exports)

    def verify(self, public_key=None, anchors=()) -> ChainCheck:
        """Check the log: every entry against its hash and its predecessor's, the end against
        SQLite's counter, the signed heads against the chain and (with a key) their signatures.

        Parameters
        ----------
        public_key : Ed25519PublicKey, optional
            The organisation's key. With it, every head it signed must carry a valid signature
            and every entry written with it (``signed_by``) must still have its head. The keys
            a hand-over in the log links to it (:func:`record_handover`) are checked as it is,
            each up to its hand-over: a head a key signed after its hand-over fails.
        anchors : iterable of (int, str)
            Heads recorded elsewhere (:func:`chain_head` in a bundle's record): each must still
            be an entry of the chain with that hash.

        Returns
        -------
        ChainCheck
            ``ok``, or the id of the first entry that was changed, inserted out of band, follows
            one that was removed or changed, or no longer matches a signed or recorded head.
        """
        damage = self.damage()
        if damage:
            return ChainCheck(False, 0, problem=f"the file is damaged ({damage}), not an entry changed: restore "
                                                "the log from a copy.", altered=False)
        rows, seq, heads = self._snapshot(
            ("SELECT id, ts, actor, kind, subject, details, prev_hash, entry_hash FROM events ORDER BY id", ()),
            ("SELECT seq FROM sqlite_sequence WHERE name = 'events'", ()),
            ("SELECT entry_id, entry_hash, key_id, signature FROM heads ORDER BY id", ()))
        n = len(rows)
        last_id = rows[-1][0] if rows else 0
        # Every row read once, here: the check and the list of unreadable rows come from one
        # reading (the Review page re-read the whole log for the list on every interaction).
        parsed, unreadable = {}, []
        for id_, ts, actor, kind, subject, details, _, _ in rows:
            try:
                parsed[id_] = _read_row(ts, actor, kind, subject, details)
            except ValueError as exc:
                unreadable.append({"id": id_, "problem": str(exc)})
        unreadable = tuple(unreadable)
        fail = lambda id_, why: ChainCheck(False, n, 0, id_, why, checked_through=last_id,  # noqa: E731
                                           unreadable=unreadable)
        prev, unchained, hashes, last_ts, backwards = None, 0, {}, None, []
        for id_, ts, actor, kind, subject, details, stored_prev, stored_hash in rows:
            if not isinstance(id_, int) or id_ < 1:
                # AUTOINCREMENT numbers entries from 1: a lower id sorts before the chain, where
                # an entry would pass for one written before the log had a chain.
                return fail(id_, "its id is not a positive whole number: fairkit never writes such an "
                                 "entry (it was inserted outside fairkit).")
            if stored_hash is None:
                if prev is None:
                    unchained += 1
                    continue
                return fail(id_, "it carries no hash but follows chained entries (written by an "
                                 "older fairkit or outside fairkit).")
            expected_prev = GENESIS if prev is None else prev
            if stored_prev != expected_prev:
                return fail(id_, "it does not follow the entry before it (that entry was removed "
                                 "or changed).")
            try:
                matches = entry_hash(stored_prev, ts, actor, kind, subject, details) == stored_hash
            except TypeError:
                matches = False
            if not matches:
                return fail(id_, "its content no longer matches its hash (it was changed).")
            hashes[id_] = (stored_hash, kind)
            prev = stored_hash
            # A clock set back (NTP, a restored VM) dates an entry before the one it follows: a
            # sign-off read as given before its export (concurrency audit, session 46). The chain's
            # order is the entries' order; the time is the writer's clock's word.
            if last_ts is not None and _earlier(ts, last_ts):
                backwards.append(id_)
            last_ts = ts if isinstance(ts, str) else last_ts

        # Removing the newest entries leaves a valid chain; AUTOINCREMENT's counter remembers.
        if seq and isinstance(seq[0][0], int) and seq[0][0] > last_id:
            return fail(last_id + 1, f"entries {last_id + 1} to {seq[0][0]} were removed from the "
                                     "end of the log.")

        for index, digest in anchors:
            if int(index) == 0 and digest == GENESIS:
                continue  # the head of an empty log (an export before any entry): nothing to rewrite
            if hashes.get(int(index), (None,))[0] != digest:
                return fail(int(index), "a head recorded elsewhere (in a bundle, or kept from score) no longer "
                                        "matches the log (history up to it was rewritten or removed).")

        public_key = keys.trusted_public(public_key)
        wanted = keys.key_id(public_key) if public_key is not None else None
        for entry_id, digest, _, _ in heads:
            if hashes.get(entry_id, (None,))[0] != digest:
                return fail(entry_id, "a signed head no longer matches it (history up to it was "
                                      "rewritten or removed).")
        # The checked key and those a hand-over in this (checked) chain links to it.
        ring = None if public_key is None else key_ring(  # heads match the chain (checked above)
            public_key, [(i, parsed[i]) for i, (_, k) in hashes.items() if k == "handover" and i in parsed],
            _head_signer(heads))
        trusted = {keys.key_id(k): (k, until) for k, until in (ring.members if ring else ())}
        signed, signed_through = set(), None
        first_head = min((h[0] for h in heads if h[0] in hashes), default=None)
        by_other = {entry_id: kid for entry_id, _, kid, _ in heads if kid not in trusted}
        for entry_id, digest, kid, signature in heads:
            if kid in trusted:
                key, until = trusted[kid]
                if not keys.verify_signature(key, head_message(entry_id, digest), signature):
                    return fail(entry_id, f"its head's signature is not key {kid}'s (forged).")
                if until is not None and entry_id > until:
                    # A key handed over (retired, perhaps because it leaked) signs nothing after.
                    return fail(entry_id, f"its head is signed by key {kid}, which was handed over at entry "
                                          f"{until}: a key signs nothing after its hand-over.")
                signed.add(entry_id)
                signed_through = max(entry_id, signed_through or 0)
        if wanted is not None:
            for id_ in hashes:
                if parsed.get(id_, {}).get("signed_by") in trusted and id_ not in signed:
                    return fail(id_, f"it was signed with key {parsed[id_]['signed_by']} when written, and that "
                                     "signature was removed.")
            # Anyone who can write the file can append, or rewrite the tail after the last
            # signature and drop the signatures there: a decision (export, sign-off, dissent) no
            # signed head covers fails the check (a head covers every entry up to it) until one does.
            for id_, (_, kind) in sorted(hashes.items()):
                if kind in SIGNED_KINDS and kind not in OBJECTIONS and id_ > (signed_through or 0):
                    return ChainCheck(
                        False, n, unchained, id_,
                        f"it is {SIGNED_WORDS[kind]} that key {wanted} "
                        + ("(nor a key handed over to or from it) " if len(trusted) > 1 else "")
                        + "never signed (written without the organisation's signing key, or by someone "
                        "who has no access to it). Decisions and verdicts count only when signed: "
                        "record it again where the signing key is configured.",
                        key_id=wanted, signed_through=signed_through, heads=len(heads), altered=False,
                        checked_through=last_id, first_chained=min(hashes, default=None), unreadable=unreadable,
                        signed_ids=frozenset(signed), ring=ring)
        # Covered is not counted: a verdict counts only with a head of its own (signature_covers),
        # and those without one (slipped in before a later signature, or recorded where no key
        # was configured) are named, not counted; the chain itself is sound.
        bare = [(id_, kind) for id_, (_, kind) in sorted(hashes.items()) if wanted is not None
                and kind in SIGNED_KINDS and not signature_covers(id_, kind, signed, signed_through, first_head)]
        return ChainCheck(True, n, unchained, key_id=wanted, signed_through=signed_through, earlier_times=tuple(backwards),
                          heads=len(heads), checked_through=last_id, first_chained=min(hashes, default=None),
                          unreadable=unreadable, signed_ids=frozenset(signed),
                          unsigned_verdicts=tuple(i for i, k in bare if k in COUNTED_VERDICTS),
                          objection_ids=frozenset(i for i, k in bare if k in OBJECTIONS),
                          unsigned_exports=tuple(i for i, k in bare if k == "export"),
                          other_keys={i: by_other[i] for i, _ in bare if i in by_other}, first_head=first_head,
                          ring=ring)


def handover_problem(log: AuditLog, old_key, new_key=None) -> str | None:
    """Why ``old_key`` cannot hand over (to ``new_key``, when given) in ``log``: the two keys are
    one, or it was handed over already (a key hands over once). None when it can; the command line
    asks before it makes the new key."""
    if new_key is not None and keys.same_key(old_key, new_key):
        return "The outgoing and the incoming key are the same key; give the new key to hand over to."
    done = log.handed_over(old_key)
    if done:
        return (f"Key {keys.key_id(old_key)} was handed over already, at entry {done[0]} (to key {done[1]}); "
                "a key hands over once.")
    return None


def record_handover(log: AuditLog, *, actor, old_key, new_key) -> int:
    """Hand the organisation's trust from one signing key to the next; returns the entry id.

    The outgoing key signs the hand-over (both whole public keys) and the incoming key signs the
    entry's head. A check with either key then trusts the other: the outgoing key's signatures
    up to this entry (its decisions, sign-offs and bundles keep counting after the rotation), the
    incoming key's from then on. The outgoing key signs nothing after it: a head it signs later
    fails :meth:`AuditLog.verify`, as a retired (perhaps leaked) key must.

    Parameters
    ----------
    log : AuditLog
    actor : Identity or str
    old_key, new_key : Ed25519PrivateKey
        The outgoing and the incoming private keys (:func:`fairkit.keys.resolve_private`).

    Raises
    ------
    ValueError
        The two keys are one, or the outgoing key was handed over already in this log.
    """
    problem = handover_problem(log, old_key, new_key)
    if problem:
        raise ValueError(problem)
    return log.append("handover", actor=actor, subject=keys.key_id(new_key), signing_key=new_key,
                      old_key_id=keys.key_id(old_key), new_key_id=keys.key_id(new_key),
                      old_public_key=keys.raw_hex(old_key), new_public_key=keys.raw_hex(new_key),
                      old_signature=keys.sign(old_key, keys.handover_message(old_key, new_key)))


def chain_head(log: AuditLog, upto: int | None = None) -> tuple[int, str]:
    """The newest entry of the chain: ``(id, entry_hash)``, or ``(0, GENESIS)`` for an empty log.

    A bundle's record carries it (taken just before its export entry is written), so a later
    rewrite of the history up to that point no longer matches the bundle
    (``AuditLog.verify(anchors=...)``). ``upto``: the newest entry up to that id (the last one a
    check read, so that the head given with what it read covers nothing written since).
    """
    row = log._rows("SELECT id, entry_hash FROM events WHERE entry_hash IS NOT NULL AND id <= ? "
                    "ORDER BY id DESC LIMIT 1", (2**63 - 1 if upto is None else int(upto),))
    return (int(row[0][0]), str(row[0][1])) if row else (0, GENESIS)


# --------------------------------------------------------------------------- the entry schema

def record_upload(log: AuditLog, *, actor, name: str, data_hash: str, rows: int, columns: int,
                  size_bytes: int | None = None) -> int:
    """Log that a table was read in; returns the entry id.

    Parameters
    ----------
    log : AuditLog
    actor : Identity or str
    name : str
        The file's name as uploaded (a name, never a server path).
    data_hash : str
        Content hash of the table read (:func:`fairkit.split.data_hash`): the subject.
    rows, columns : int
    size_bytes : int, optional
        Size of the uploaded file.
    """
    return log.append("upload", actor=actor, subject=data_hash, name=Path(str(name)).name,
                      data_hash=data_hash, rows=int(rows), columns=int(columns),
                      size_bytes=None if size_bytes is None else int(size_bytes))


def runs_digest(run_ids) -> str:
    """SHA-256 of a set of run ids (sorted, one per line): what a sweep's audit entry keeps of its
    runs, so a results table read later can be checked against it (:func:`logged_runs_problem`)."""
    text = "\n".join(sorted({str(r) for r in run_ids}))
    return hashlib.sha256(text.encode()).hexdigest()


def logged_runs_problem(log: AuditLog, entry_id, data_hash: str, run_ids) -> str | None:
    """Why ``run_ids`` (a sweep folder's table) are not the runs the sweep logged as entry
    ``entry_id``, or None when they are, or when the log cannot say (the entry is in another
    log, or an earlier fairkit logged it without its runs).

    A row removed from ``results.csv`` hid from the signed frontier a run that beat the chosen
    one, and nothing could tell (CLI audit, session 43: deleted runs undetectable).
    """
    rows = log.entries(kind="sweep")
    row = rows[rows["id"] == int(entry_id)] if len(rows) else rows
    if row.empty or str(row["subject"].iloc[0]) != str(data_hash):
        return None
    logged = row["details"].iloc[0]
    if "runs_sha256" not in logged:
        return None
    ids = {str(r) for r in run_ids}
    if runs_digest(ids) == logged["runs_sha256"]:
        return None
    return (f"it lists {len(ids):,} run(s), not the {int(logged.get('runs_listed', 0)):,} the sweep logged as audit "
            f"entry #{int(entry_id)} in {log.path} (their ids differ): rows were removed, added or changed since")


def sweeps_with_runs(log: AuditLog, data_hash: str, run_ids) -> tuple[int, int | None]:
    """How many sweeps the log holds on this data with their runs recorded, and the id of one
    whose runs are exactly ``run_ids`` (None if none is).

    For a sweep folder whose ``sweep.json`` names no entry: deleting ``audit_entry`` from it
    skipped :func:`logged_runs_problem` (session 45's review).
    """
    rows = log.entries(kind="sweep")
    if not len(rows):
        return 0, None
    rows = rows[rows["subject"].astype(str) == str(data_hash)]
    digest = runs_digest(run_ids)
    listed = [(int(i), d["runs_sha256"]) for i, d in zip(rows["id"], rows["details"]) if "runs_sha256" in d]
    return len(listed), next((i for i, sha in listed if sha == digest), None)


def record_sweep(log: AuditLog, *, actor, dataset: str, data_hash: str, methods, etas, seeds,
                 fairness: str, runs: int, cached: int, search=None, cancelled: bool = False,
                 run_ids=None) -> int:
    """Log a sweep or a search that finished, or was cancelled; returns the entry id.

    Parameters
    ----------
    log : AuditLog
    actor : Identity or str
    dataset, data_hash : str
        The data's name and content hash (the subject).
    methods, etas, seeds
        What was trained: method names, the etas (a list, or a mapping method -> list) and seeds.
    fairness : str
        The fairness definition the methods targeted.
    runs, cached : int
        Runs in the result, and how many of them came from the store (for a search: finished
        trials, and those this call did not train).
    search : fairkit.search.SearchResult, optional
        The search these runs are the trials of: the entry's ``source`` is "search" (else
        "sweep") and its ``search`` detail holds the study, the budget and objective as the
        search states them, why it stopped, the trials trained and those from the study or
        store, and the re-split runs (``resplit_runs``, ``resplit_trained``).
    cancelled : bool
        The sweep or search was cancelled and ``runs`` are those it finished: the entry says so
        (``stopped`` "cancelled"). They are logged because the dashboard shows such runs, and
        they can be exported.
    run_ids : iterable of str, optional
        The runs' ids: the entry keeps their :func:`runs_digest` (``runs_sha256``), against
        which an export checks the sweep folder's table.
    """
    if isinstance(etas, dict):
        etas = {str(m): [float(e) for e in g] for m, g in etas.items()}
    elif etas is not None:
        etas = sorted({float(e) for e in etas})
    about = {"source": "sweep"}
    if search is not None:
        about = {"source": "search", "search": {
            "study": str(search.study_name), "budget": str(search.budget), "objective": str(search.objective),
            "stopped": str(search.stopped), "trials": int(search.complete), "trained": int(search.trained),
            "from_store": int(search.cached), "failed": int(search.failed),
            "resplit_runs": int(search.resplit_runs), "resplit_trained": int(search.resplit_trained)}}
    if cancelled:
        about["stopped"] = "cancelled"
    if run_ids is not None:
        listed = {str(r) for r in run_ids}
        about.update(runs_sha256=runs_digest(listed), runs_listed=len(listed))
    return log.append("sweep", actor=actor, subject=data_hash, dataset=dataset,
                      data_hash=data_hash, methods=[str(m) for m in methods], etas=etas,
                      seeds=[int(s) for s in seeds], fairness=fairness, runs=int(runs),
                      cached=int(cached), **about)


def record_score(log: AuditLog, *, actor, manifest_sha256: str, input_hash: str, rows: int,
                 drift: dict | None, unseen_groups: str | None = None, input_changes=None) -> int:
    """Log that rows were scored with a bundle; returns the entry id.

    Parameters
    ----------
    log : AuditLog
    actor : Identity or str
    manifest_sha256 : str
        The bundle's manifest hash (the subject).
    input_hash : str
        SHA-256 of the file scored.
    rows : int
    drift : dict or None
        :func:`fairkit.monitor.drift_report`'s outcome (None: no fairness check was possible);
        the entry keeps whether drift was found and the gaps flagged.
    unseen_groups : str, optional
        :meth:`fairkit.export.ModelBundle.unseen_groups`: rows of groups the model never saw,
        scored by its rule for groups without one of their own (kept only when there were any).
    input_changes : list of str, optional
        :meth:`fairkit.export.ModelBundle.input_changes`: what in the batch the model never saw
        (kept only when there was any).
    """
    summary = None
    if drift is not None:
        summary = {"drifted": bool(drift["drifted"]), "checked": int(drift["checked"]),
                   "flags": [{"attribute": f["attribute"], "metric": f["metric"],
                              "p_value": f["p_value"]} for f in drift["drift"]]}
    extra = {"unseen_groups": unseen_groups} if unseen_groups else {}
    if input_changes:
        extra["input_changes"] = [str(x) for x in input_changes]
    return log.append("score", actor=actor, subject=manifest_sha256,
                      manifest_sha256=manifest_sha256, input_hash=input_hash, rows=int(rows),
                      drift=summary, **extra)


def record_selection(log: AuditLog, *, actor, run: dict, dataset: str, data_hash: str,
                     unfairness_axis: str, performance_axis: str, tolerance: float | None,
                     unfairness_val: float, unfairness_test: float, performance_val: float,
                     performance_test: float, note: str = "") -> int:
    """Log that ``actor`` chose ``run`` on the trade-off chart; returns the entry id.

    Parameters
    ----------
    log : AuditLog
    actor : Identity or str
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
                  unfairness_axis: str, performance_axis: str, actor=None,
                  signing_key=None) -> int:
    """Log an exported bundle and sign the chain's new head; returns the entry id.

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
        Its decision record (``export_bundle(...)["record"]``).
    unfairness_axis, performance_axis : str
        The axes of the frontier the choice was made on.
    actor : Identity or str, optional
        Who exported; default the record's decider, self-declared.
    signing_key : Ed25519PrivateKey or False, optional
        Signs the head; default the configured key (``FAIRKIT_SIGNING_KEY``) if any, False for
        none (:func:`fairkit.keys.resolve_private`).
    """
    content = record["content"]
    sel = content["selected"]
    return log.append(
        "export", actor=record["decider"] if actor is None else actor, subject=manifest_sha256,
        signing_key=keys.resolve_private(signing_key),
        bundle=str(Path(bundle_path).resolve()), manifest_sha256=manifest_sha256,
        decider=record["decider"],
        run_id=sel["run_id"], method=sel["method"], eta=float(sel["eta"]), seed=int(sel["seed"]),
        threshold=float(sel["threshold"]), calibration=sel.get("calibration"),
        needs_sensitive_at_predict=bool(sel["needs_sensitive_at_predict"]),
        dataset=content["dataset"]["name"], data_hash=content["dataset"]["data_hash"],
        unfairness_axis=unfairness_axis, performance_axis=performance_axis,
        rationale=record["rationale"], recorded_head=recorded_head(record))


def recorded_head(record: dict) -> tuple[int, str] | None:
    """The chain head a decision record carries (``audit_head``: ``{"index", "hash"}``, at the
    record's top level or in its ``content``), or None."""
    head = record.get("audit_head") or (record.get("content") or {}).get("audit_head")
    if not isinstance(head, dict) or "index" not in head or "hash" not in head:
        return None
    return int(head["index"]), str(head["hash"])


def check_for_review(log: AuditLog, manifest_sha256: str, bundle, *, trust_key=None) -> dict:
    """Everything that must hold before a verdict on a bundle is recorded.

    The bundle verifies against the manifest hash logged at export (and is signed by
    ``trust_key`` when one is given or configured), the log verifies (with ``trust_key``, its signatures too), and
    the chain head the bundle's record carries is still in the log.

    Parameters
    ----------
    log : AuditLog
    manifest_sha256 : str
        The export entry's subject.
    bundle : path
        The bundle file.
    trust_key : Ed25519PublicKey or False, optional
        Default the configured key (``FAIRKIT_TRUST_KEY``) if any; False for none
        (:func:`fairkit.keys.resolve_public`).

    Returns
    -------
    dict
        ``bundle`` (what :func:`fairkit.export.read_bundle_record` read), ``chain``
        (:class:`ChainCheck`) and ``checked`` (what the verdict entry records about the checks).

    Raises
    ------
    VerdictRefused
        Saying which check failed.
    """
    from .export import BundleIntegrityError, read_bundle_record

    trust_key = keys.resolve_public(trust_key)
    if not any(e["subject"] == manifest_sha256 for e in export_entries(log)):
        raise VerdictRefused("No export of this bundle is in the audit log; only logged exports "
                             "are reviewed.")
    try:
        # False: no configured key behind the caller's back; the one given (or configured) only,
        # with the keys this log hands over to or from it.
        ring = log.key_ring(trust_key)
        readable = read_bundle_record(bundle, expected_manifest_sha256=manifest_sha256,
                                      trusted_key=ring if ring is not None else False)
    except BundleIntegrityError as exc:
        raise VerdictRefused(f"This bundle cannot be trusted: {exc}") from exc
    head = recorded_head(readable["record"])
    chain = log.verify(public_key=trust_key, anchors=[head] if head else ())
    if not chain.ok:
        raise VerdictRefused(f"The audit log fails its check, so no verdict can be recorded: "
                             f"{chain}")
    signature = readable["signature_status"]
    return {"bundle": readable, "chain": chain, "checked": {
        "manifest_sha256": manifest_sha256, "bundle_file": Path(str(bundle)).name,
        "bundle_signature": str(signature), "audit_log": str(chain),
        "recorded_head": head}}


#: The verdicts that count in where a review stands (:func:`verdict_tally`); a decider may not
#: give them on their own decision (:func:`is_decider`), only comment on it.
COUNTED_VERDICTS = ("signoff", "dissent")


#: Titles a self-declared name may carry or drop: "Dr. Decider", "Dr Decider" and "Decider" are
#: one person to every check that compares names (:func:`is_decider`, :func:`verdict_tally`).
HONORIFICS = frozenset({"dr", "prof", "professor", "mr", "mrs", "ms", "miss", "mx", "sir", "dame"})


LOOK_ALIKE_SCRIPTS = frozenset({"LATIN", "GREEK", "CYRILLIC"})


def unusable_name(name) -> str | None:
    """Why ``name`` cannot stand for a reviewer, or None.

    Invisible characters (zero-width spaces, joiners, direction marks) and a word mixing scripts
    ("Аlice" with a Cyrillic "А") make a name look like another one: on the page one reviewer
    would seem to count twice, or a decider seem to be someone else.
    """
    text = unicodedata.normalize("NFKC", str(name or ""))
    hidden = sorted({f"U+{ord(c):04X}" for c in text if unicodedata.category(c) in ("Cf", "Cc", "Co", "Cn")
                     and c not in "\t"})
    if hidden:
        return (f"The name holds invisible characters ({', '.join(hidden[:4])}), which make it look "
                "like another name. Type it again without them.")
    for word in text.split():
        # Latin, Greek and Cyrillic share look-alike letters; other scripts mix legitimately
        # (Japanese kanji and kana) and are left alone.
        scripts = {unicodedata.name(c, "?").split()[0] for c in word if c.isalpha()} & LOOK_ALIKE_SCRIPTS
        if len(scripts) > 1:
            return (f"The word {word!r} of the name mixes letters of several alphabets "
                    f"({', '.join(sorted(s.title() for s in scripts))}), so it looks like a name it is "
                    "not. Type it in one alphabet.")
    return None


def name_key(name) -> str:
    """The form in which two typed names are compared: Unicode-normalized, case, spacing and
    punctuation aside, titles (:data:`HONORIFICS`) dropped; "" for no name.

    A typed name proves nothing about who typed it; this only keeps a second spelling of the
    same name from counting as a second person.
    """
    text = unicodedata.normalize("NFKC", str(name or "")).casefold()
    # Invisible characters (category Cf: zero-width space, joiners) are dropped, not spaces.
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    words = "".join(c if c.isalnum() else " " for c in text).split()
    kept = [w for w in words if w not in HONORIFICS]
    return " ".join(kept or words)


def _same_name(a, b) -> bool:
    return bool(name_key(a)) and name_key(a) == name_key(b)


def is_decider(reviewer, decision: dict) -> bool:
    """Whether ``reviewer`` made the decision under review.

    Parameters
    ----------
    reviewer : Identity or str
        The reviewer (a plain name is self-declared).
    decision : dict
        The bundle's export entry (:func:`export_entries`): its record's ``decider`` and the
        ``actor`` that exported it.

    Returns
    -------
    bool
        When both the reviewer and the exporter were verified by sign-in: the same person by
        the provider's account (issuer and subject) or by the e-mail address a provider verified
        (names do not decide: two people may share one, and the exporter's decider was their
        own verified name). Otherwise the record's decider by name, or the
        identity that exported the bundle (by :func:`name_key`: case, spacing, punctuation and
        titles aside; the command line's account also by its bare name).
    """
    who = reviewer if isinstance(reviewer, Identity) else Identity(name=str(reviewer))
    exporter = decision.get("identity") or {}
    if who.verified and who.subject and exporter.get("issuer") and exporter.get("subject"):
        # One person by either account key: the same provider account, or the same address the
        # providers verified. By subject alone, the decider signed off their own decision once the
        # provider's address changed (a migration) or under a second account (sign-in audit,
        # session 48).
        return bool(set(_person_keys(who.as_dict())) & set(_person_keys(exporter)))
    exporter_name = str(decision.get("actor") or "")
    # The account that exported from the command line, by its bare name too: "root" signed off
    # root's own export, logged as "root (command line)" (committee audit, session 53).
    return (_same_name(who.name, decision.get("decider")) or _same_name(who.actor, exporter_name)
            or (exporter_name.endswith(COMMAND_LINE) and _same_name(who.name, exporter_name[:-len(COMMAND_LINE)])))


def record_verdict(log: AuditLog, kind: str, *, actor, manifest_sha256: str, bundle,
                   text: str = "", trust_key=None, signing_key=None) -> int:
    """Log a reviewer's comment, sign-off or dissent on an exported bundle; returns the entry id.

    Refused unless the bundle and the log pass :func:`check_for_review`: no verdict is recorded
    on a bundle that cannot be trusted. A sign-off signs the chain's new head.

    Parameters
    ----------
    log : AuditLog
    kind : {"comment", "signoff", "dissent"}
    actor : Identity or str
        The reviewer; a plain name is recorded as self-declared.
    manifest_sha256 : str
        The manifest hash of the bundle reviewed (the export entry's subject).
    bundle : path
        The bundle file reviewed.
    text : str
        The comment or the reason for a dissent.
    trust_key : Ed25519PublicKey, optional
        See :func:`check_for_review`.
    signing_key : Ed25519PrivateKey or False, optional
        See :func:`record_export` (used for sign-offs).

    Raises
    ------
    VerdictRefused
        The bundle or the log fails its check, or the decider signs off or dissents from their
        own decision (:func:`is_decider`): a review is someone else's.
    """
    if kind not in VERDICT_KINDS:
        raise ValueError(f"A verdict is one of {', '.join(VERDICT_KINDS)}, not '{kind}'.")
    review = check_for_review(log, manifest_sha256, bundle, trust_key=trust_key)
    checked = review["checked"]
    decision = next(e for e in export_entries(log) if e["subject"] == manifest_sha256)
    verified = isinstance(actor, Identity) and actor.verified and bool(actor.subject)
    exporter = decision.get("identity") or {}
    # A signed-in reviewer whom only a typed decider name matches (an export by the command line
    # or without sign-in, where anyone can type any name) may still dissent: naming the chair as
    # the decider must not silence the chair's dissent (attack audit, session 43), and a dissent
    # approves nothing. A sign-off stays refused on the name.
    named_only = verified and not (exporter.get("issuer") and exporter.get("subject"))
    if kind in COUNTED_VERDICTS and not (kind == "dissent" and named_only) and is_decider(actor, decision):
        name = actor.name if isinstance(actor, Identity) else str(actor).strip()
        raise VerdictRefused(f"{name} made this decision (the record's decider), so cannot "
                             f"{'sign it off' if kind == 'signoff' else 'dissent from it'}: a review must "
                             "come from someone else. Add a comment instead, or ask another member of the "
                             "committee.")
    # A typed name must be one a person could tell apart; a provider's name is the provider's
    # word, and the person is told apart by the provider's subject.
    refused = None if verified else unusable_name(actor.name if isinstance(actor, Identity) else actor)
    if refused:
        raise VerdictRefused(refused)
    key = keys.resolve_private(signing_key) if kind in SIGNED_KINDS else None
    trusted = review["chain"].key_id
    # The trusted key, or the key it was handed over to (a retired key signs nothing new).
    active = review["chain"].active_keys or {trusted}
    if kind in SIGNED_KINDS and trusted is not None and (key is None or keys.key_id(key) not in active):
        # Unsigned by the trusted key, it would not count (AuditLog.verify): refuse it now.
        raise VerdictRefused(
            f"A {'sign-off' if kind == 'signoff' else 'dissent'} here must be signed with the "
            f"organisation's key {trusted}, which the audit log is checked against, and "
            + ("no signing key is configured" if key is None else f"the signing key given is {keys.key_id(key)}")
            + ". Configure FAIRKIT_SIGNING_KEY (or the dashboard's signing_key secret), or add a comment.")
    return log.append(kind, actor=actor, subject=manifest_sha256, signing_key=key,
                      text=str(text).strip(), checked=checked)


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
        found = _moved_bundle(d.get("bundle"), log.path.parent)
        if found is not None:
            d["recorded_bundle"], d["bundle"] = d["bundle"], found
        out.append({"id": int(r.id), "ts": r.ts, "actor": r.actor, **d, "subject": subject,
                    "legacy": legacy})
    return out[::-1]


def _moved_bundle(recorded, home: Path) -> str | None:
    """Where a bundle the log names by a path that no longer exists now lies in the log's own
    folder, if it does: the longest tail of the recorded path found under ``home``.

    Entries record absolute paths; a fairkit home copied or moved elsewhere (a new server, a
    restored backup) would otherwise send every export to the old place and read it as missing.
    Whatever is found is only a candidate: the bundle is still checked against the manifest hash
    its entry recorded, so a different file with the same name fails that check.
    """
    if not recorded:
        return None
    path = Path(str(recorded))
    try:
        if path.exists() or not path.is_absolute():
            return None
        parts = path.parts[1:]
        for k in range(len(parts)):
            candidate = home.joinpath(*parts[k:])
            if candidate.is_file():
                return str(candidate)
    except OSError:  # a path the system will not look at (too long, a name it refuses)
        return None
    return None


def review_status(log: AuditLog, manifest_sha256: str, public_key=None) -> str:
    """Where a bundle stands in ``log``, in one sentence for whoever deploys it: its export entry,
    the review's tally (:func:`verdict_tally`, read with the log's check under ``public_key``)
    and a later export of the same data, which may replace it.

    ``score`` said nothing of it: an operator scored an unreviewed v2, or a v1 already replaced,
    with no word (lifecycle audit, session 45).
    """
    exports = export_entries(log)
    mine = [e for e in exports if str(e.get("subject")) == str(manifest_sha256)]
    if not mine:
        return (f"its export is not in the log {log.path} (exported in another home, or the log was replaced): "
                "no review is recorded here")
    check = log.verify(public_key=public_key)
    tally = verdict_tally(verdict_entries(log, manifest_sha256), check)
    first = min(mine, key=lambda e: int(e["id"]))
    text = f"exported as audit entry #{first['id']} ({first.get('ts', '?')}); review: {tally['text']}"
    later = [e for e in exports if int(e["id"]) > int(first["id"]) and e.get("data_hash") == first.get("data_hash")
             and str(e.get("subject")) != str(manifest_sha256)]
    if later:
        newest = max(later, key=lambda e: int(e["id"]))
        text += (f"; {len(later)} later export(s) of the same data, the newest #{newest['id']} ({newest.get('ts', '?')}): "
                 "check that this is still the model meant to be deployed")
    return text


def verdict_entries(log: AuditLog, manifest_sha256: str) -> pd.DataFrame:
    """Comments, sign-offs and dissents on one exported bundle, oldest first.

    Returns
    -------
    DataFrame with columns id, ts, actor, kind, text, verified_by, vouched, reviewer
        ``verified_by`` is the sign-in issuer that vouched for the actor, or
        :data:`SELF_DECLARED` (entries from before identities were recorded included);
        ``vouched`` says so with the account (:func:`vouched_for`); ``reviewer`` who counts as
        one reviewer (:func:`reviewer_key`).
    """
    log_rows = log.entries(subject=manifest_sha256)
    log_rows = log_rows[log_rows["kind"].isin(VERDICT_KINDS)]
    details = log_rows["details"]
    return pd.DataFrame({"id": log_rows["id"], "ts": log_rows["ts"], "actor": log_rows["actor"],
                         "kind": log_rows["kind"], "text": details.map(lambda d: d.get("text", "")),
                         "verified_by": details.map(lambda d: (d.get("identity") or {}).get(
                             "verified_by", SELF_DECLARED)),
                         "vouched": details.map(lambda d: vouched_for(d.get("identity"))),
                         "reviewer": [reviewer_key(a, d.get("identity") or {})
                                      for a, d in zip(log_rows["actor"], details)]}
                        ).reset_index(drop=True)


def _person_keys(identity: dict) -> list[str]:
    """The keys that name a signed-in person: the provider's account (issuer and subject) and the
    e-mail address a provider verified (case aside); none for a self-declared name."""
    identity = identity or {}
    if not identity.get("issuer"):
        return []
    keys = [f"oidc:{identity['issuer']}#{identity['subject']}"] if identity.get("subject") else []
    email = unicodedata.normalize("NFKC", str(identity.get("email") or "")).strip().casefold()
    return keys + ([f"email:{email}"] if email else [])


def reviewer_key(actor: str, identity: dict) -> str:
    """Who a verdict counts for: a signed-in person by the provider's issuer and subject (two
    people may share a name), anyone else by name (:func:`name_key`) and who vouched for it
    (a signed-in name and the same name typed are two reviewers).

    Not by e-mail: joining accounts by an address let one entry, a forged comment or a sign-in
    whose provider lets users set their address, merge an attacker with a reviewer, and the
    attacker's later sign-off replaced the reviewer's signed dissent in the tally (review of
    session 48). An address only makes the decider's refusal stricter (:func:`is_decider`).
    """
    if identity.get("issuer") and identity.get("subject"):
        return f"oidc:{identity['issuer']}#{identity['subject']}"
    return f"name:{identity.get('verified_by', SELF_DECLARED)}#{name_key(actor)}"


def vouched_for(identity: dict) -> str:
    """Who vouched for an entry's actor, in words that tell two people apart: "self-declared", or
    "verified by <issuer> as <e-mail>" (as "account <subject>" when the provider verified no
    address). A provider's display name is whatever its user set: "Ana Reviewer <ana@...>" as
    a name read as Ana's sign-off (sign-in audit, session 48)."""
    identity = identity or {}
    if not identity.get("issuer"):
        return identity.get("verified_by") or SELF_DECLARED
    account = identity.get("email") or (f"account {identity['subject']}" if identity.get("subject") else "")
    return f"verified by {identity['issuer']}" + (f" as {account}" if account else "")


def checked_verdicts(verdicts: pd.DataFrame, chain: ChainCheck | None = None) -> pd.DataFrame:
    """The verdicts a check vouches for, as the tally and the Review page read them.

    With a check (:meth:`AuditLog.verify`), only entries it read (ids 1 to its
    ``checked_through``: later ones, another session's since, wait for the next check), and an
    ``unsigned`` column: a sign-off or dissent the checked key does not vouch for
    (:meth:`ChainCheck.vouches_for`: before the chain, or without a signed head of its own after
    the key's first); such a sign-off is not counted, a dissent is (:data:`OBJECTIONS`). A check
    that fails vouches for no verdict; without a check, or with a passing one and no key,
    nothing is unsigned.
    """
    if chain is None:
        return verdicts.assign(unsigned=False)
    ids = verdicts["id"]
    # A check that failed vouches for nothing but reads every verdict: a damaged file's check
    # read none, and the page and score said "not reviewed yet" over a dissent (hostile-input
    # audit, session 53); its dissents count, its sign-offs do not (below).
    verdicts = verdicts[(ids >= 1) & ((ids <= chain.checked_through) | (not chain.ok))]
    # A log that fails its check vouches for nothing, with a key or without (a failure records
    # none, and without a key every entry was vouched for: committee audit, session 53).
    covered = pd.Series([chain.ok and chain.vouches_for(int(i), k) for i, k in zip(verdicts["id"], verdicts["kind"])],
                        index=verdicts.index, dtype=bool)
    return verdicts.assign(unsigned=verdicts["kind"].isin(COUNTED_VERDICTS) & ~covered)


def verdict_tally(verdicts: pd.DataFrame, chain: ChainCheck | None = None) -> dict:
    """Where the review of one bundle stands: the latest sign-off or dissent of each reviewer.

    A reviewer is a signed-in person (by the provider's account, :func:`reviewer_key`), or
    a name (by :func:`name_key`) with the identity that vouched for it (a signed-in name and the
    same name self-declared are two reviewers). Comments change nobody's verdict; a reviewer
    who signed off and later dissented counts as a dissent.

    Parameters
    ----------
    verdicts : DataFrame
        :func:`verdict_entries` of the bundle (oldest first).
    chain : ChainCheck, optional
        The log's check (:meth:`AuditLog.verify`). A log that fails it vouches for no sign-off
        (a rewritten dissent or an appended unsigned sign-off was counted on the Review page and
        in its record while the page said the log fails its check: committee audit, session
        53); its dissents count, as unsigned ones do. Verdicts written after it read the log
        (another session's, since) are left for the next check. When it checked a key, only
        sign-offs with a head of their own signed by that key are counted: anyone who can write
        the log's file can add others. A dissent counts signed or not (:data:`OBJECTIONS`).

    Returns
    -------
    dict
        ``signoffs``, ``dissents``, ``comments``, ``self_declared`` (how many counted reviewers
        vouched for themselves only), ``uncounted`` (verdicts left out as unsigned) and ``text``, e.g. "2 sign-offs, 1 dissent" ("not reviewed
        yet" when nobody has signed off or dissented), which says when counted verdicts rest on
        self-declared names and why sign-offs are not counted.
    """
    verdicts = checked_verdicts(verdicts, chain)
    decided = verdicts[verdicts["kind"].isin(COUNTED_VERDICTS)]
    dropped = decided["unsigned"] & ~decided["kind"].isin(OBJECTIONS)
    uncounted = int(dropped.sum())
    decided = decided[~dropped]
    # One reviewer per person (reviewer_key: a signed-in person by account, a typed name by
    # name_key, so "Prof. Ada" and "Prof Ada" are one).
    who = decided["reviewer"] if "reviewer" in decided else pd.Series(
        [reviewer_key(a, {"verified_by": v}) for a, v in zip(decided["actor"], decided["verified_by"])],
        index=decided.index, dtype=object)
    latest = decided.groupby(who, sort=False).last()
    signoffs, dissents = int((latest["kind"] == "signoff").sum()), int((latest["kind"] == "dissent").sum())
    self_declared = int((latest["verified_by"] == SELF_DECLARED).sum())
    comments = int((verdicts["kind"] == "comment").sum())
    plural = lambda n, word: f"{n} {word}{'' if n == 1 else 's'}"  # noqa: E731
    text = (f"{plural(signoffs, 'sign-off')}, {plural(dissents, 'dissent')}" if signoffs or dissents or uncounted
            else "not reviewed yet")
    if comments:
        text += f" ({plural(comments, 'comment')})"
    if self_declared:
        # A typed name is not a person: anyone can give or overturn a verdict under it.
        counted = signoffs + dissents
        one = self_declared == 1
        who = ("the verdict is" if counted == 1 else f"all {counted} are" if self_declared == counted
               else f"{self_declared} of the {counted} {'is' if one else 'are'}")
        text += (f"; {who} under {'a self-declared name' if one else 'self-declared names'}, which "
                 "anyone with the dashboard can type (sign-in verifies names)")
    if chain is not None and not chain.ok:
        # Said whatever was dropped: a dissent rewritten into a comment read "not reviewed yet"
        # with no word of the failure (review of session 53).
        text += ("; the audit log fails its check" + (f", so {uncounted} sign-off(s) are not counted" if uncounted else "")
                 + f" ({str(chain).rstrip('.')})")
    elif uncounted:
        text += (f"; {uncounted} sign-off(s) not signed by the organisation's key "
                 f"{chain.key_id} are not counted")
    return {"signoffs": signoffs, "dissents": dissents, "comments": comments,
            "self_declared": self_declared, "uncounted": uncounted, "text": text}


def selection_entries(log: AuditLog) -> pd.DataFrame:
    """Selections, oldest first: ``id``, ``ts``, ``actor`` and the details of
    :func:`record_selection` as columns (absent ones NaN)."""
    rows = log.entries(kind="selection")
    details = pd.DataFrame(list(rows["details"]), index=rows.index)
    return pd.concat([rows[["id", "ts", "actor"]], details], axis=1).reset_index(drop=True)
