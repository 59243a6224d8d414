"""On-disk results store: cache keys, atomic writes, and the run index.

Each run is two files under ``<root>/runs/``: ``<key>.safetensors`` (the fitted model, as data:
:func:`fairkit.safestate.state_to_bytes`) and ``<key>.json`` (its record). The model is written and flushed to disk first, then the record,
each by atomic rename, so a record's presence means the run is complete: a sweep interrupted
at any point keeps every finished run and never leaves a half-written entry that would be read
back. Temporary files a killed writer left behind are removed by the next writer.

What is read back is checked, not trusted. A record must have the run format's fields
(:data:`RUN_FIELDS`, scalar values only; the optional :data:`OPTIONAL_RUN_FIELDS` and interval
ends of their types), carry its own run id, and match its checksum: a
SHA-256 over the record and the SHA-256 of its model file. The model file must match that hash
before it is decoded (the bytes hashed are the bytes loaded). A record that fails any check
counts as missing, so a sweep trains that run again; :meth:`ResultStore.problem` says what
failed.

This detects damage and hand edits (an accuracy rewritten to 0.99, a model file swapped or
truncated, ``{}`` or a list in place of a record). It is not a signature: anyone who can write
the store can also recompute the checksums, so a local attacker with write access can still
forge a run's numbers. It cannot make fairkit run code: a model is stored as data, as in a bundle,
and decoding builds only trusted types (:mod:`fairkit.safestate`), so a sweep folder from someone
else (``fairkit export --store DIR``) is as safe to read as their bundle. Nothing is unpickled.
A model whose class is not trusted (a method registered outside fairkit) is not stored: its run's
record says why, and :meth:`ResultStore.load_model` says how to keep such models
(:func:`fairkit.safestate.trust`).
"""

from __future__ import annotations

import functools
import glob
import hashlib
import heapq
import json
import math
import os
import platform
import re
import stat
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__


def default_home() -> Path:
    """fairkit's working folder: ``$FAIRKIT_HOME`` or ``./.fairkit`` in the current directory
    (an empty ``FAIRKIT_HOME`` counts as unset: it made the current folder itself the home)."""
    return Path(os.environ.get("FAIRKIT_HOME", "").strip() or Path.cwd() / ".fairkit")


def home_exposure(home=None, key_file=None) -> str | None:
    """Why another account could change what fairkit reads from its home, or None.

    The stored runs' figures (what the Trade-offs and Export pages show and a record is made
    from) and an unsigned audit log carry checksums anyone can recompute, so whoever can write
    the home can plant a run or rewrite the log unseen. The home (or, before it exists, the
    folder it will be made in) and each folder above it, up to the first one the system owns,
    must be writable by this account only: not owned by another, and not writable by the group
    or everyone unless sticky (as ``/tmp`` is, where others cannot replace what is not theirs).

    The files in it too (attack audit, session 43: a folder's mode says nothing of a file's):
    the audit log, its write-ahead files and the run store's folders must be writable by this
    account only, and the organisation's signing key (``key_file``), when one is configured,
    readable by it only, as ssh asks of a private key.

    Parameters
    ----------
    home : path, optional
        Default :func:`default_home`.
    key_file : path, optional
        The signing key's file (:func:`fairkit.keys.private_key_path`).

    Returns
    -------
    str or None
        The folder or file and what is wrong with it, with the remedy.
    """
    if not hasattr(os, "geteuid"):  # Windows: permissions are ACLs, not these bits
        return None
    me = os.geteuid()
    root = Path(home if home is not None else default_home()).absolute()
    folder = root
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    # Both where the path is written and where its links lead: a link in a folder others can
    # write can be pointed elsewhere, and the folder it leads to can be written directly.
    for chain in (folder, folder.resolve()):
        why = _not_yours(chain, me)
        if why:
            return why
    for inner in (root / "store", root / "store" / "runs"):
        why = _not_yours(inner, me) if inner.is_dir() else None
        if why:
            return why
    for name in ("audit.sqlite", "audit.sqlite-wal", "audit.sqlite-shm"):
        why = _file_not_yours(root / name, me, 0o022, "written")
        if why:
            return (f"fairkit's audit log is not yours alone: {why}. Anyone who can write it can append "
                    "entries to it or rewrite the unsigned ones. Make it writable by you only (chmod go-w); a "
                    "shared log stays checkable when its decisions are signed (python -m fairkit keygen, then "
                    "FAIRKIT_SIGNING_KEY).")
    if key_file:
        why = _file_not_yours(Path(key_file), me, 0o066, "read or written")
        if why:
            return (f"The organisation's signing key is not yours alone: {why}. Whoever can read it can sign "
                    "exports, sign-offs and dissents as the organisation. Make it readable by you only "
                    "(chmod 600), as ssh asks of a private key.")
    return None


def _file_not_yours(path: Path, me: int, others: int, how: str) -> str | None:
    """What is wrong with a file another account could use (``others``: the mode bits of the
    group and everyone that must be clear), or None (fine, or not there)."""
    try:
        info = path.stat()
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    why = _others_can(info, me, others, how)
    return None if why is None else f"{path} {why}"


def _others_can(info, me: int, others: int, how: str) -> str | None:
    """Why another account could use what ``info`` describes (another owner, or any of the mode
    bits ``others`` set), or None: the one test of folders and files."""
    if info.st_uid not in (0, me):
        return f"belongs to another account (user id {info.st_uid})"
    if info.st_mode & others:
        return f"can be {how} by other accounts (mode {stat.filemode(info.st_mode)})"
    return None


def _not_yours(folder: Path, me: int) -> str | None:
    for d in (folder, *folder.parents):
        try:
            info = d.lstat() if d.is_symlink() else d.stat()
        except OSError:
            return None
        # A sticky folder (as /tmp) lets others add files but not replace ours; a link's mode means nothing.
        loose = not info.st_mode & stat.S_ISVTX and not stat.S_ISLNK(info.st_mode)
        why = _others_can(info, me, 0o022 if loose else 0, "written")
        if why is None:
            if info.st_uid == 0 and not stat.S_ISLNK(info.st_mode):
                return None
            continue
        return (f"fairkit's home folder is not yours alone: {d} {why}. Anyone who can write there can "
                "replace the stored runs (the figures the dashboard shows and records are made from) "
                "and rewrite an unsigned audit log. Use a folder only you can write (chmod go-w, or "
                "set FAIRKIT_HOME to one); a shared log stays checkable when its decisions are signed "
                "(python -m fairkit keygen, then FAIRKIT_SIGNING_KEY).")
    return None


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())  # a NumPy NaN is a NaN too
    if isinstance(obj, float) and not np.isfinite(obj):
        return None if np.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)


def strict_json(obj, **kwargs) -> str:
    """``obj`` as strict JSON, the one way fairkit writes a JSON file or document: NaN as null,
    infinities as "inf" / "-inf", NumPy scalars as numbers, anything else JSON lacks as its repr.

    Python's ``json`` writes a bare ``NaN``, which JavaScript, jq and most tools outside Python
    refuse; ``allow_nan=False`` makes any non-finite number that escapes the conversion fail here,
    loudly, instead of in a reader.

    Parameters
    ----------
    obj : JSON-like (dicts, lists, tuples, str, numbers, bool, None, NumPy scalars)
    **kwargs
        Passed to :func:`json.dumps` (``indent``, ``sort_keys``, ``separators``).

    Returns
    -------
    str
    """
    return json.dumps(_jsonable(obj), allow_nan=False, **kwargs)


#: What each results revision changed: a revision is raised whenever a change alters what a
#: stored run would hold for the same inputs (its model or its metrics) within one fairkit
#: version, so no stale run is served beside fresh ones. Decision records carry the revision they
#: were computed under (``results_revision``); :func:`fairkit.record.revision_note` tells a reader
#: of an older record what has changed since, from this table.
REVISIONS = {
    2: "with several sensitive attributes, each headline gap is its least fair grouping (before: "
       "the last grouping, the attributes' intersection)",
    3: "a run's stored intervals include ROC AUC's",
    4: "the equalized odds interval is read from the TPR and FPR gaps' replicates",
    5: "gaps between proportions get simultaneous score intervals (before: a bootstrap of the max-min "
       "gap, which rarely covered a gap of 0), and a gap over fewer than two groups is undefined, not 0",
    6: "calibration errors (ECE) get intervals from the bootstrap's noise bounds (before: a recentred "
       "bootstrap, which did not cover a well-calibrated group)",
    7: "with sample weights, rate and gap intervals use the linearised effective size where weights "
       "that go with the outcome make it smaller than Kish's",
    8: "balanced accuracy's interval combines the TPR's and TNR's score intervals (before: a recentred "
       "bootstrap, which covered 0.925-0.948 at a nominal 0.95)",
    9: "the sweep's reductions decide by one deterministic rule, the one their figures measure (before: "
       "fairlearn's randomized rule at tight bounds, while the figures were of the probabilities at 0.5), "
       "and boosted trees warn when their training gap misses the bound",
    10: "a TPR or FPR whose denominator has fewer than 5 rows (positives or negatives), flagged too few to "
        "estimate, is left out of the equal-opportunity and equalized-odds gaps, as the disparity table left "
        "it out (before: such a rate could set the gap on two or three people)",
    11: "a split keeps its group x outcome strata when a label's rare cells hold a single row (before: that "
        "row split the whole table by outcome only; the bundled COMPAS data was split so)",
    12: "networks trained together are scored each on its own, as their records and score score them (before: "
        "in one pass that summed in another order, reordered exactly tied scores and moved ROC AUC by up to "
        "3e-6 on COMPAS, so their export was refused as edited); a record's calibrated figures give an "
        "intersection the calibrator never saw its marginal group's map where one was fitted (before: the map of "
        "all rows)",
    13: "group thresholds under demographic parity keep a group with one outcome its own thresholds (before: it "
        "was pooled into the largest group, whose selection rate then parted from the others'); with sample "
        "weights, rows of weight 0 count as no one in the small-group and too-few-to-estimate rules, in group "
        "calibration and in the thresholds' groups and cuts, FORML's weight step counts only rows with weight, "
        "and calibration shrinkage reads the weights",
}
RESULTS_REVISION = max(REVISIONS)


#: A run id as :meth:`ResultStore.put` takes it: a file name in the store's runs folder, no path.
_RUN_KEY = re.compile(r"[A-Za-z0-9_-]{1,128}")


def changes_since(revision: int | None) -> list[str]:
    """What each results revision after ``revision`` changed (every change for None: a record or
    run that names no revision), oldest first: the one wording of a record's revision note and of
    the note on runs an earlier fairkit stored."""
    return [text for r, text in sorted(REVISIONS.items()) if revision is None or r > revision]


#: The libraries whose versions can change what fairkit computes or reads back (a model, its
#: metrics, a bundle's decoding), besides fairkit and Python themselves.
LIBRARIES = ("torch", "scikit-learn", "lightgbm", "fairlearn", "numpy", "scipy", "pandas", "safetensors")


@functools.cache
def library_versions() -> dict:
    """fairkit's, Python's and :data:`LIBRARIES`' versions in this environment (read from the
    installed distributions, without importing them): what a run, a record and a bundle name."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"fairkit": __version__, "python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def version_changes(recorded) -> list[str]:
    """How this environment's :func:`library_versions` differ from ``recorded`` (a mapping of
    the same kind, e.g. a bundle's or a run's), one ``"scikit-learn 1.9.1 (here 1.7.0)"`` per
    library both name; empty when they agree or ``recorded`` is not a mapping."""
    if not isinstance(recorded, dict):
        return []
    here = library_versions()
    return [f"{name} {recorded[name]} (here {here[name]})" for name in here
            if name in recorded and str(recorded[name]) != here[name]]


def cache_key(**parts) -> str:
    """A stable key for a computation from its inputs (canonical JSON, then SHA-256).

    The versions of fairkit, Python and the libraries that compute (:func:`library_versions`)
    and :data:`RESULTS_REVISION` are always part of the key, so neither an upgrade nor another
    environment is ever served results it did not compute (scikit-learn 1.7 and 1.9 fit
    fairlearn's reductions to different gaps).
    """
    payload = strict_json({**parts, "versions": library_versions(), "revision": RESULTS_REVISION},
                          sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


class FileRefused(ValueError):
    """A path that cannot be read as a file; the message says what it is instead (callers add
    what to do, in their own terms).

    Attributes
    ----------
    kind : {"folder", "special", "unreadable"}
        A folder, a device / FIFO / socket, or a file the system would not open or read.
    """

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


def not_a_file(path, mode: int) -> FileRefused | None:
    """Why ``path`` (of ``st_mode`` ``mode``) is not a regular file, else None."""
    if stat.S_ISDIR(mode):
        return FileRefused(f"{path} is a folder", "folder")
    if not stat.S_ISREG(mode):
        # A device is read without end (/dev/zero); a FIFO waits for a writer that may never come.
        return FileRefused(f"{path} is not a regular file (a device, FIFO or socket)", "special")
    return None


def read_regular_file(path, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of the regular file ``path``: the one way fairkit reads a file
    a user names (tables, key files, the command line's inputs).

    The file is opened without waiting (a FIFO with no writer does not hang) and checked on the
    open handle, so a device or FIFO put in its place after any earlier check is refused, not
    read; the read is bounded whatever size the file system reports. More than ``limit`` bytes
    back means the file is over the caller's limit.

    Raises
    ------
    FileRefused
        ``path`` is a folder, a device, FIFO or socket, or cannot be opened or read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise FileRefused(f"{path} cannot be read ({exc.strerror or exc})", "unreadable") from exc
    try:
        problem = not_a_file(path, os.fstat(fd).st_mode)
        if problem:
            raise problem
        with open(fd, "rb", closefd=False) as fh:
            return fh.read(limit + 1)
    except OSError as exc:
        raise FileRefused(f"{path} cannot be read ({exc.strerror or exc})", "unreadable") from exc
    finally:
        os.close(fd)


# A temporary file: ".<target name>.<writer's pid>.<random>.tmp".
_TEMP = re.compile(r"^\.(.+)\.(\d+)\.[^.]+\.tmp$")  # the file it becomes, its writer's process id


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; Windows cannot open a folder)."""
    if hasattr(os, "O_DIRECTORY"):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextmanager
def _replacing(path: Path, mode: int | None = None):
    """A temporary file beside ``path`` that replaces it when the block ends without error.

    The temporary name starts with a dot and ends in ``.tmp``, so an interrupted write leaves
    nothing :meth:`ResultStore.keys` would read; a failed write removes it, and one left by a
    killed process is removed by :func:`remove_stale_temporaries`. The block must flush and
    fsync what it writes; the rename is made durable here.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    os.close(fd)
    if mode is not None:  # else private (0600), as mkstemp makes it
        os.chmod(tmp, mode)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


class WriterBusy(RuntimeError):
    """Another process is writing the same output (:func:`exclusive_writer`)."""


@contextmanager
def exclusive_writer(path):
    """Hold ``path`` for one writing process while the block runs; :class:`WriterBusy` at once if
    another holds it.

    Two ``score`` jobs into one ``--out`` interleaved: one batch's decisions beside the other's
    report (concurrency audit, session 46). The hold is an advisory lock (``flock``) on a hidden
    file beside ``path`` (``.<name>.lock``, made with the permissions the output gets, so the
    other accounts that may write the output can take it too), which the holder removes when
    done; the lock dies with its process, so a killed job never leaves ``path`` held. Where no
    such lock can be had (Windows; a file system without ``flock``; a lock file this account
    cannot open) nothing is held, and the write goes on as before.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.parent / f".{path.name}.lock"
    fd = None
    while fd is None:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), output_mode(path))
        except PermissionError:
            try:  # another account's lock file: flock needs no write access
                fd = os.open(lock, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            except OSError:
                yield  # one this account cannot open at all: nothing to hold
                return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            raise WriterBusy(f"another fairkit job{f' ({holder})' if holder else ''} is writing {path} now "
                             f"(it holds {lock.name} beside it)") from None
        except OSError:
            # No flock here (some network and FUSE mounts): hold nothing, leave nothing.
            os.close(fd)
            _remove_if_empty(lock)
            yield
            return
        try:
            # The file a holder removed on its way out is not the one at the name now: lock that.
            if not os.path.samestat(os.fstat(fd), os.stat(lock)):
                os.close(fd)
                fd = None
        except FileNotFoundError:
            os.close(fd)
            fd = None
    try:
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"process {os.getpid()}".encode())
        except OSError:  # opened read-only: the holder goes unnamed
            pass
        yield
    finally:
        try:
            lock.unlink(missing_ok=True)
        except OSError:  # another account's file in a folder this one may not change
            pass
        os.close(fd)


def _remove_if_empty(lock: Path) -> None:
    """Remove a lock file nobody has written a holder into (the one just made)."""
    try:
        if lock.stat().st_size == 0:
            lock.unlink()
    except OSError:
        pass


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


#: A temporary file older than this is removed even when its writer's process id is alive here
#: (reused, or a writer on another machine sharing the folder).
STALE_TEMP_SECONDS = 24 * 3600
# A writer that has just started may not have renamed its file yet: never touch younger ones.
_FRESH_TEMP_SECONDS = 60


def remove_stale_temporaries(folder: Path) -> int:
    """Remove temporary files of writers that were killed mid-write; returns how many.

    A temporary is stale when its writer (the process id in its name) no longer runs on this
    machine and it is more than a minute old, or when it is more than a day old.
    """
    removed = 0
    for tmp in Path(folder).glob(".*.tmp"):
        if _stale(tmp):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


def _stale(tmp: Path) -> bool:
    m = _TEMP.match(tmp.name)
    try:
        age = time.time() - tmp.stat().st_mtime
    except FileNotFoundError:
        return False
    return age > STALE_TEMP_SECONDS or (age > _FRESH_TEMP_SECONDS and not (m and _running(int(m.group(2)))))


def stale_temporaries(path=None, *, folder=None) -> list[tuple[Path, Path]]:
    """The temporary files writes (:func:`atomic_write_bytes`) left when their writer was killed
    before the rename (as :func:`remove_stale_temporaries` judges them), each with the file it
    was to become: those of ``path``, or of any file in ``folder``."""
    where = Path(folder) if folder is not None else Path(path).parent
    pattern = ".*.tmp" if folder is not None else f".{glob.escape(Path(path).name)}.*.tmp"
    found = []
    for tmp in sorted(where.glob(pattern)):
        m = _TEMP.match(tmp.name)
        if m and (folder is not None or m.group(1) == Path(path).name) and _stale(tmp):
            found.append((tmp, where / m.group(1)))
    return found


def output_mode(path) -> int:
    """The permissions a file written for people at ``path`` is given: those of the file it
    replaces, else what the umask gives a new file. Without it a write is private (0600), which
    every output kept: a team's 0644 scored.csv became unreadable to the job that reads it (CLI
    audit, session 44). The store's own files stay private."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    """The process's umask: read from ``/proc/self/status`` where Linux has it, else by setting it
    and back (a moment in which another thread's new file would get 0666: a library caller with
    threads, review of session 49)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes, *, before_replace=None, mode: int | None = None):
    """Write ``data`` to ``path`` so readers see the old file or the new one, never a part.

    ``before_replace``: called once ``data`` is durable in the temporary file and before it
    replaces ``path`` (an export logs its bundle there, so no bundle appears unlogged); if it
    raises, ``path`` is left as it was. Returns what it returned (None without it). ``mode``:
    the new file's permissions (:func:`output_mode`); default private (0600).
    """
    with _replacing(path, mode) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
        return before_replace() if before_replace is not None else None


def atomic_write_state(obj, path: Path) -> str:
    """Write ``obj`` as data (:func:`fairkit.safestate.state_to_bytes`) atomically and durably;
    returns the SHA-256 of the bytes written.

    Raises
    ------
    TypeError
        Some part of ``obj`` is not data and not of a trusted type; nothing is written.
    """
    from .safestate import state_to_bytes

    data = state_to_bytes(obj)
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


#: :meth:`ResultStore.problem` of a run the store does not hold (every other problem is a file
#: that failed a check: damaged, edited, or of an earlier fairkit).
NOT_STORED = "it is not in the store"

#: Format tag of a run record file; a file without it (older fairkit, or not a record) is not read.
RUN_FORMAT = "fairkit-run/3"
#: Earlier formats, named when one is met: their models were pickles, which fairkit no longer reads.
_PICKLED_RUN_FORMATS = ("fairkit-run/2",)

#: Fields every run record has, and the type each must be (besides any further scalar fields).
#: The largest run record file the store reads: a record is a few kilobytes of numbers.
MAX_RECORD_BYTES = 1 << 20
#: The largest model file the store reads: a bundle's largest member (export.MAX_MEMBER_BYTES),
#: since a model beyond it could not be exported anyway.
MAX_MODEL_BYTES = 256 << 20


def _read_store_file(path: Path, limit: int, what: str) -> bytes:
    """The bytes of the store's file ``path`` (:func:`read_regular_file`): a FIFO, a device or a
    link to one, or a file over ``limit`` bytes, is a damaged run, never waited on or read
    without end (whoever can write the store's folder can put one there).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    FileRefused
        Anything else that stops it being read; the message names it and why.
    """
    if not os.path.lexists(path):
        raise FileNotFoundError(path)
    data = read_regular_file(path, limit)
    if len(data) > limit:
        raise FileRefused(f"{what} {path.name} is over the {limit:,}-byte limit", "unreadable")
    return data


def _stamp(st: os.stat_result) -> tuple:
    """What identifies one version of a file: inode, size and modification time."""
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


RUN_FIELDS = {"run_id": str, "method": str, "eta": float, "seed": int}
#: Fields a run record may have (:func:`fairkit.sweep.report_fields`), and the type each must be
#: when present. Besides these, a field ending in ``_low`` or ``_high`` is an interval end: a
#: number, or None (null) where there is no interval.
OPTIONAL_RUN_FIELDS = {"report_n_boot": int, "report_attribute": str, "val_report_notes": str,
                       "test_report_notes": str}
INTERVAL_SUFFIXES = ("_low", "_high")


class StoreError(KeyError):
    """A run the store cannot provide: missing, or failing a check; the message says which."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def _checksum(envelope: dict) -> str:
    body = {k: envelope.get(k) for k in ("format", "run_id", "model_sha256", "record")}
    for optional in ("model_problem", "revision"):  # absent from some records (the revision: before 7)
        if envelope.get(optional) is not None:
            body[optional] = envelope[optional]
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _record_problem(record) -> str | None:
    """What makes ``record`` not a run record, or None."""
    if not isinstance(record, dict):
        return f"its record is a {type(record).__name__}, not a JSON object"
    for name, kind in RUN_FIELDS.items():
        value = record.get(name)
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
              if kind is float else isinstance(value, kind) and not isinstance(value, bool))
        if not ok:
            return f"its field {name!r} is {value!r}, not a {kind.__name__}"
    for name, value in record.items():
        if not isinstance(value, (str, int, float, bool)) and value is not None:
            return f"its field {name!r} holds a {type(value).__name__}, not a single value"
        kind = OPTIONAL_RUN_FIELDS.get(name)
        if kind is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            return f"its field {name!r} is {value!r}, not a {kind.__name__}"
        if name.endswith(INTERVAL_SUFFIXES) and value is not None and (
                not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value)):
            return f"its interval field {name!r} is {value!r}, not a number"
    return None


class ResultStore:
    """Finished runs on disk, keyed by :func:`cache_key`.

    Parameters
    ----------
    root : path, optional
        Folder of the store (created on first write). Default ``default_home() / "store"``.
    """

    def __init__(self, root=None):
        self.root = Path(root) if root is not None else default_home() / "store"
        self._cleaned = False
        # (key, size, mtime) of model files whose hash matched, so a table of many runs hashes
        # each model once per change rather than on every read.
        self._model_ok: set = set()

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def _json(self, key: str) -> Path:
        return self.runs_dir / f"{key}.json"

    def _model(self, key: str) -> Path:
        return self.runs_dir / f"{key}.safetensors"

    def has(self, key: str) -> bool:
        """Whether the store holds run ``key``: its record passes every check (an edited record
        counts as missing) and its model file is there.

        The cheap question a sweep's estimate asks of every run: the model's bytes are not read
        here. They are hashed where the run is used (:meth:`get`, :meth:`load_model`), so a model
        file changed in place is still refused, and trained again, by the sweep itself.
        """
        envelope, problem = self._envelope(key)
        return problem is None and (envelope.get("model_sha256") is None or self._model(key).is_file())

    def _read(self, key: str) -> tuple[dict | None, str | None]:
        """(envelope, None) for a run that passes every check, else (None, what failed)."""
        envelope, problem = self._envelope(key)
        if problem is None and envelope.get("model_sha256") is not None:
            problem = self._model_check(key, envelope["model_sha256"])[1]
        return (None, problem) if problem else (envelope, None)

    def _envelope(self, key: str) -> tuple[dict | None, str | None]:
        """(envelope, None) when the record file passes its checks (the model's hash aside),
        else (None, what failed)."""
        path = self._json(key)
        try:
            envelope = json.loads(_read_store_file(path, MAX_RECORD_BYTES, "its record").decode("utf-8"))
        except FileNotFoundError:
            return None, NOT_STORED
        except FileRefused as exc:
            return None, f"its record cannot be read: {exc}"
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return None, f"its record {path.name} is not readable JSON ({exc})"
        # The first fairkit wrote the run's record bare (no format) beside a joblib pickle: said as
        # an earlier fairkit's, not "format None" (upgrade audit, session 48).
        if isinstance(envelope, dict) and (envelope.get("format") in _PICKLED_RUN_FORMATS
                                           or ("format" not in envelope and "method" in envelope)):
            return None, (f"its record {path.name} was written by an earlier fairkit, which stored models as "
                          "pickles; fairkit no longer reads them")
        if not isinstance(envelope, dict) or envelope.get("format") != RUN_FORMAT:
            what = envelope.get("format") if isinstance(envelope, dict) else type(envelope).__name__
            return None, f"its record {path.name} is not a fairkit run record (format {what!r})"
        if envelope.get("run_id") != key:
            return None, f"its record belongs to run {envelope.get('run_id')!r}"
        if envelope.get("checksum") != _checksum(envelope):
            return None, "its record does not match its checksum (edited or damaged)"
        problem = _record_problem(envelope.get("record"))
        if problem is None and envelope["record"]["run_id"] != key:
            problem = "its record names another run"
        return (None, problem) if problem else (envelope, None)

    def _model_check(self, key: str, expected: str, *, load: bool = False) -> tuple[bytes | None, str | None]:
        """(bytes, None) when run ``key``'s model file matches ``expected``, else (None, what
        failed). Without ``load``, a file whose (inode, size, mtime) already matched is not read again
        and the bytes are None; with it, the bytes returned are the bytes hashed."""
        path = self._model(key)
        try:
            stamp = _stamp(path.stat())
            if not load and (key, expected, stamp) in self._model_ok:
                return None, None
            data = _read_store_file(path, MAX_MODEL_BYTES, "its model file")
            # Remembered only when the file read is the file stamped (not one renamed over it since).
            same = _stamp(path.stat()) == stamp
        except FileNotFoundError:
            return None, f"its model file {path.name} is missing"
        except FileRefused as exc:
            return None, f"its model file cannot be read: {exc}"
        except OSError as exc:  # stat of a path the system will not look at
            return None, f"its model file {path.name} cannot be read ({exc.strerror or exc})"
        if hashlib.sha256(data).hexdigest() != expected:
            return None, f"its model file {path.name} does not match the hash in its record (damaged or replaced)"
        if same:
            self._model_ok.add((key, expected, stamp))
        return data, None

    def problem(self, key: str) -> str | None:
        """Why run ``key`` cannot be used (missing, unreadable, edited, model missing or changed), or None."""
        return self._read(key)[1]

    def get(self, key: str) -> dict | None:
        """The record of a finished run, or None when it is missing or fails a check.

        A record that fails (see :meth:`problem`) is treated as missing, so a sweep trains that
        run again and overwrites it.
        """
        envelope, _ = self._read(key)
        return None if envelope is None else dict(envelope["record"])

    def put(self, key: str, record: dict, model=None) -> None:
        """Store a run: the model first (flushed to disk), then the record that marks it complete.

        Raises
        ------
        ValueError
            If ``record`` lacks a field of :data:`RUN_FIELDS` or holds a non-scalar value.
        """
        if not isinstance(key, str) or _RUN_KEY.fullmatch(key) is None:
            # A key is a file name in runs/: a Dask worker's answer "../../x" wrote outside the
            # store (Dask audit, session 50).
            raise ValueError(f"Not a run id: {key!r} (letters, digits, '_' and '-' only).")
        record = _jsonable({**record, "run_id": key})
        problem = _record_problem(record)
        if problem:
            raise ValueError(f"Not a run record: {problem}.")
        if not self._cleaned:
            # A killed writer's temporaries are cleared by the next writer, once per store object.
            remove_stale_temporaries(self.runs_dir)
            self._cleaned = True
        digest = model_problem = None
        if model is not None:
            try:
                digest = atomic_write_state(model, self._model(key))
            except TypeError as exc:
                # A class fairkit does not trust (a method registered outside it): its numbers are
                # kept, its model is not, and load_model says why and what to do.
                model_problem = (f"its model was not stored because it is not data fairkit can read back safely "
                                 f"({exc}). A class that holds only data can be trusted with "
                                 "fairkit.safestate.trust('package.module.Class') before the sweep; then delete "
                                 f"{self._json(key).name} from {self.runs_dir} so the sweep trains the run again")
        (self.runs_dir / f"{key}.joblib").unlink(missing_ok=True)  # an earlier fairkit's pickle
        # The revision first, beside the format: earlier_runs reads only a file's first bytes.
        envelope = {"format": RUN_FORMAT, "revision": RESULTS_REVISION, "run_id": key, "model_sha256": digest,
                    "record": record}
        if model_problem is not None:
            envelope["model_problem"] = model_problem
        envelope["checksum"] = _checksum(envelope)
        atomic_write_bytes(self._json(key), strict_json(envelope, indent=1).encode())

    def load_model(self, key: str):
        """The fitted model of a run, once its record and model file pass every check.

        The bytes hashed are the bytes decoded, so a file swapped after the check is never
        read; decoding builds only trusted types (:func:`fairkit.safestate.state_from_bytes`)
        and runs nothing, whoever wrote the store.

        Raises
        ------
        StoreError
            Naming the run, what failed and what to do.
        """
        from .safestate import UntrustedState, state_from_bytes

        envelope, problem = self._envelope(key)
        if problem is None and envelope.get("model_sha256") is None:
            kept = envelope.get("model_problem")
            if isinstance(kept, str):
                raise StoreError(f"Run {key} in {self.root} has no model: {kept}.")
            problem = "it was stored without a model"
        data = None
        if problem is None:
            # Hashed once, here: the bytes checked are the bytes decoded.
            data, problem = self._model_check(key, envelope["model_sha256"], load=True)
        if problem is None:
            try:
                return state_from_bytes(data)
            except UntrustedState as exc:
                problem = f"its model file {self._model(key).name} is not a model fairkit can read ({exc})"
        raise StoreError(f"Run {key} in {self.root} cannot be used: {problem}. Run the sweep again "
                         "to train it afresh.")

    def keys(self) -> list[str]:
        if not self.runs_dir.exists():
            return []
        return sorted(p.stem for p in self.runs_dir.glob("*.json"))

    def newest_keys(self, n: int) -> list[str]:
        """The keys of the ``n`` runs stored last, by their records' modification times, oldest first.

        One pass over the folder's entries keeping the ``n`` newest (not a sort of every record):
        the Train page asks on every render, and a dashboard's store is never pruned.
        """
        if n <= 0 or not self.runs_dir.exists():
            return []
        stamped = []
        with os.scandir(self.runs_dir) as entries:
            for entry in entries:
                if not entry.name.endswith(".json") or entry.name.startswith("."):  # as keys() globs
                    continue
                try:
                    stamped.append((entry.stat().st_mtime, entry.name[:-len(".json")]))
                except OSError:  # removed meanwhile
                    continue
        return [key for _, key in sorted(heapq.nlargest(n, stamped))]

    def changed_at(self) -> int | None:
        """The runs folder's modification time (ns): it changes whenever a run is stored or
        removed (each is written by a rename into the folder); None when there is no folder."""
        try:
            return self.runs_dir.stat().st_mtime_ns
        except OSError:
            return None

    def earlier_runs(self) -> dict:
        """Runs an earlier fairkit stored, which no sweep of this one is served: a record of a
        pickled model's format, or of an earlier results revision (its key holds the revision, so
        no sweep asks for it again). Their files only take space; sweeps say so.

        Reads the first bytes of each record, where the format and the revision are written.

        Returns
        -------
        dict
            Run id -> the results revision its record names (None: a pickled model's record, or
            one that names none), in the store's order.
        """
        out = {}
        for key in self.keys():
            try:
                # Bounded and never waiting: a FIFO planted in runs/ must not hang every sweep.
                head = read_regular_file(self._json(key), 256).decode("utf-8", "replace")
            except FileRefused:
                continue
            form = re.search(r'"format":\s*"([^"]*)"', head)
            if form is None:
                continue
            revision = re.search(r'"revision":\s*(\d+)', head)
            if form.group(1) in _PICKLED_RUN_FORMATS or (
                    form.group(1) == RUN_FORMAT and (revision is None or int(revision.group(1)) < RESULTS_REVISION)):
                pickled = form.group(1) in _PICKLED_RUN_FORMATS  # its revision is not what makes it earlier
                out[key] = int(revision.group(1)) if revision is not None and not pickled else None
        return out

    def earlier_setting(self, key: str) -> dict | None:
        """``{"method", "eta", "seed"}`` of a run an earlier fairkit stored as a pickle (its record is
        JSON and still readable), so a user can find the run that trained the same setting again;
        None when its record says nothing of the kind."""
        try:
            envelope = json.loads(_read_store_file(self._json(key), MAX_RECORD_BYTES, "its record").decode("utf-8"))
            record = envelope["record"]
            return {"method": str(record["method"]), "eta": float(record["eta"]), "seed": int(record["seed"])}
        except (OSError, FileRefused, ValueError, KeyError, TypeError):
            return None

    def records(self, keys=None) -> pd.DataFrame:
        """Records of the given (default: all) runs as a table; missing and failing runs are skipped."""
        rows = [r for r in (self.get(k) for k in (keys if keys is not None else self.keys())) if r is not None]
        return pd.DataFrame(rows)

