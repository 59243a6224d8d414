"""Command line: ``python -m fairkit {datasets,validate,sweep,search,export,audit,score,keygen}``.

Bad arguments and bad data (and a full disk, a read-only folder, a damaged audit log) end with a
message and exit code 2, never a traceback. Ctrl-C ends a command with 130, SIGTERM with 143.
A sweep whose ``frontier.png`` could not be written (no browser for kaleido) writes everything
else, says so in its "Wrote ..." line and exits 3. ``score --fail-on-drift`` exits 4 when the
batch's fairness gaps differ from the recorded ones beyond noise (``fairkit.monitor``); ``audit
verify`` exits 1 when the audit log fails its check (an entry altered or removed, SQLite objects
of someone else's in its file), or a bundle given with ``--bundle`` cannot be trusted or read.

Output conventions: results and messages go to stdout, problems to stderr. ``--quiet`` (before or
after the command) silences the messages and the progress bar; the progress bar is drawn only when
stderr is a terminal. ``sweep --json``, ``search --json`` and ``score --json`` print one JSON
document on stdout (what was written, what was found) and send their messages to stderr.

Everything printed while a command runs (its messages, errors, the audit list, the warnings of the
libraries it calls) shows invisible controls and format characters as markers such as
``<U+001B>`` (:func:`fairkit.data.visible_text`): column names, bundles and audit entries are
outside text, and an escape sequence or a right-to-left override in them would otherwise drive or
garble the terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import errno
import hashlib
import json
import math
import os
import re
import sqlite3
import sys
import tempfile
import warnings
from pathlib import Path

try:
    import numpy as np
    import pandas as pd
except KeyboardInterrupt:
    # Ctrl-C in the second these take to import, before main() can say "Interrupted": a
    # traceback of import internals (search audit, session 48). Nothing has started yet.
    print("Interrupted.", file=sys.stderr)
    raise SystemExit(130) from None


#: Fewest bootstrap resamples ``export`` takes: below about 40, each 2.5% tail of a 95% interval
#: rests on a single resample.
MIN_BOOT = 50

#: Exit status of a sweep that wrote its results but not the frontier PNG it was asked for.
EXIT_NO_PNG = 3
#: Exit status of ``score --fail-on-drift`` when the batch's fairness drifted (scores still written).
EXIT_DRIFT = 4


class CLIError(Exception):
    """A problem to report to the user in plain words (exit code 2)."""


class _Visible:
    """A text stream that writes to ``raw`` what it is given with every invisible control and
    format character as a marker (:func:`fairkit.data.visible_text`).

    One filter on the streams rather than one at each print: what reaches the terminal includes
    text no print of ours formats (the warnings module's lines, which quote a bundle's stored
    version string, argparse's messages), and a print added later is covered too.
    """

    def __init__(self, raw):
        from .data import visible_text

        self.raw = raw
        self._visible = visible_text
        self._reader_gone = False

    def write(self, text) -> int:
        if not self._reader_gone:
            shown = self._visible(text)
            try:
                try:
                    self.raw.write(shown)
                except UnicodeEncodeError:
                    # A stream that cannot encode a column's name (Windows' cp1252 for redirected
                    # output, an ASCII locale) ended the command as an "internal error" (CLI audit,
                    # session 44): such characters are written as escapes instead.
                    encoding = getattr(self.raw, "encoding", None) or "ascii"
                    self.raw.write(shown.encode(encoding, "backslashreplace").decode(encoding))
            except BrokenPipeError:
                self._gone()
        return len(text)

    def flush(self) -> None:
        if not self._reader_gone:
            try:
                self.raw.flush()
            except BrokenPipeError:
                self._gone()

    def _gone(self) -> None:
        # The reader went away (``fairkit score ... | head -1``): the command still finishes what
        # it writes and logs (the scored file, its audit entry), its messages going nowhere. A
        # broken pipe raised from a print ended it as an "internal error" before its audit entry.
        self._reader_gone = True
        with contextlib.suppress(OSError, ValueError, AttributeError):
            # Python's own flush of the stream at exit would report the broken pipe again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), self.raw.fileno())

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name):  # flush, isatty, encoding, fileno: the stream's own
        return getattr(self.raw, name)


@contextlib.contextmanager
def _visible_output():
    """``sys.stdout`` and ``sys.stderr`` as :class:`_Visible` streams until the block ends."""
    kept = sys.stdout, sys.stderr
    # A closed stream (`fairkit ... >&-`) is None in Python: its output goes nowhere, as a reader gone.
    sys.stdout, sys.stderr = (s if isinstance(s, _Visible) else _Visible(s if s is not None else open(os.devnull, "w"))
                              for s in kept)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = kept


def _progress_bar(args, total: int, unit: str):
    """The command's progress bar (tqdm) on the raw stderr: it redraws its line with a carriage
    return, which :class:`_Visible` would show, and its text is ours alone."""
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=args.command, file=getattr(sys.stderr, "raw", sys.stderr),
                disable=not _progress_wanted(args))


def _version() -> str:
    """``fairkit X.Y.Z from FOLDER (Python A.B)``: which copy runs, as ``pip --version`` says."""
    from . import __version__

    return (f"fairkit {__version__} from {Path(__file__).resolve().parent} "
            f"(Python {sys.version_info.major}.{sys.version_info.minor})")


def _split(text: str) -> list[str]:
    """Comma-separated values; one in double quotes may hold commas (``"race, ethnicity",sex``),
    as a CSV header writes such a column's name (none could be given: CLI audit, session 44)."""
    try:
        row = next(csv.reader([text], skipinitialspace=True, strict=True), [])
    except csv.Error as exc:
        raise argparse.ArgumentTypeError(f"'{text}' cannot be read as a comma-separated list ({exc}); "
                                         "put a name holding a comma in double quotes") from exc
    return [v.strip() for v in row if v.strip()]


class _StoreOnce(argparse._StoreAction):
    """argparse's "store", refusing a second use of the option: a repeated ``--exclude age
    --exclude personal_status`` kept only the last, and the model read ``age`` (CLI audit,
    session 44). Lists are one comma-separated value; ``--positive`` appends (its own action)."""

    def __call__(self, parser, namespace, values, option_string=None):
        seen = namespace.__dict__.setdefault("_given_once", set())
        if self.dest in seen:
            parser.error(f"{option_string} given more than once; give it once (a list as one comma-separated value)")
        seen.add(self.dest)
        super().__call__(parser, namespace, values, option_string)


class _Parser(argparse.ArgumentParser):
    """The command line's parser: no abbreviated option names (``sweep --threshold 0.3`` was read
    as ``--threshold-rows``, ``export --fairness`` as ``--fairness-rationale``: CLI audit, session 44),
    and an option given twice refused (:class:`_StoreOnce`)."""

    #: The message of the last refusal, for :func:`_main`'s ``--json`` document (argparse exits
    #: before the command's arguments exist).
    refused: str | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **{"allow_abbrev": False, **kwargs})
        self.register("action", None, _StoreOnce)
        self.register("action", "store", _StoreOnce)

    #: The words being parsed (set by :func:`_main`), to name an unknown option that argparse
    #: reports only as a missing required one.
    words: list = []

    def error(self, message):
        if message.startswith("the following arguments are required"):
            # "fairkit --bogus" said "the following arguments are required: command", and
            # "sweep --bogus" that --out was missing, never naming the word it did not know
            # (install audit, session 49).
            from .safestate import _is_float

            unknown = [w for w in _Parser.words if w.startswith("-") and not _is_float(w)
                       and w.split("=", 1)[0] not in self._option_string_actions]
            if unknown:
                message = f"unrecognized arguments: {' '.join(unknown)} (and {message})"
        _Parser.refused = message
        super().error(message)


def _key_file(text: str) -> str:
    """``--sign-key`` / ``--trust``: a key file's path. Empty (an unset shell variable) is refused:
    it meant "none given", and the check it asked for was silently off (CLI audit, session 44)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty; give the path of a PEM key file (or leave the option out)")
    return text


def _head(text: str) -> tuple[int, str]:
    """``audit verify --head N:HASH``: an entry id and its 64-hex-digit hash, as score prints them."""
    number, _, digest = text.strip().partition(":")
    if not number.strip().isdigit() or not _is_sha256(digest):
        raise argparse.ArgumentTypeError(f"'{text}' is not a head: give N:HASH as score printed it (an entry "
                                         "number, a colon, 64 hexadecimal digits)")
    return int(number), digest.strip().lower()


def _is_sha256(text: str) -> bool:
    """64 hexadecimal digits, in either case, blanks around allowed."""
    return re.fullmatch(r"[0-9a-f]{64}", text.strip().lower()) is not None


def _sha256(text: str) -> str:
    """``--expected-manifest-sha256``: 64 hexadecimal digits, in either case ("sha256:" before
    them allowed). Empty turned the check off; capitals, as Windows tools print a hash, read as
    another bundle's (CLI audit, session 44)."""
    value = text.strip().lower().removeprefix("sha256:").strip()
    if not _is_sha256(value):
        raise argparse.ArgumentTypeError(f"'{text}' is not a SHA-256 hash (64 hexadecimal digits, as "
                                         "export prints it and the audit log records it)")
    return value


def _names(text: str) -> list[str]:
    """``--sensitive``/``--exclude``/``--methods``: comma-separated names, each given once."""
    names = _split(text)
    if not names:
        raise argparse.ArgumentTypeError(f"'{text}' names nothing; give comma-separated names")
    twice = list(dict.fromkeys(n for n in names if names.count(n) > 1))
    if twice:
        raise argparse.ArgumentTypeError(f"{', '.join(twice)} given more than once; name each once")
    return names


def _column_name(text: str) -> str:
    """``--score-column``/``--decision-column``: a column name a CSV can carry as written."""
    from .data import hidden_characters

    name = text.strip()
    if not name or name != text or hidden_characters(name) or any(c in name for c in ',;"\t\r\n') \
            or name[0] in "=+-@":  # a spreadsheet runs such a header cell as a formula
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a column name the scored CSV can carry as written; give a plain name "
            "(letters, digits, _ or -), without commas, quotes, tabs, line breaks, hidden characters, "
            "spaces at either end or a first =, +, - or @")
    return name


def _floats(text: str) -> list[float]:
    """``--etas``: numbers, as the Train page reads them (:func:`fairkit.sweep.parse_numbers`);
    their range is each method's own (checked by the registry)."""
    from .sweep import parse_numbers

    try:
        return parse_numbers(text)
    except ValueError as exc:  # an empty list: an unset shell variable, which once ended in an internal error
        raise argparse.ArgumentTypeError(f"Could not read the list '{text}': {exc}; give numbers separated "
                                         "by commas") from exc


def _tolerances(text: str) -> tuple[float, ...]:
    """``--tolerances``: validation gaps of at least 0 (the engine's own check words the refusal)."""
    from .sweep import tolerances

    try:
        return tolerances(_floats(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"Could not read the tolerances '{text}': {exc}") from exc


def _number(cast, ok, message: str):
    """An argparse type: ``cast(text)`` where ``ok`` holds for it, else ``message`` (``{text}`` filled in)."""
    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(message.format(text=text))
        return value
    return parse


#: numpy's and torch's seeds are unsigned 32-bit integers.
MAX_SEED = 2**32 - 1

_seed = _number(int, lambda v: 0 <= v <= MAX_SEED, f"seed '{{text}}' is not a whole number from 0 to {MAX_SEED}")


def _seeds(text: str) -> list[int]:
    seeds = [_seed(v) for v in _split(text)]
    if len(set(seeds)) < len(seeds):
        raise argparse.ArgumentTypeError(f"'{text}' repeats a seed; give each seed once")
    return seeds


def _int_at_least(low: int, why: str, most: int | None = None):
    """An integer option of at least ``low`` (and at most ``most``, when given); ``why`` ends the message."""
    if most is None:
        return _number(int, lambda v: v >= low, f"'{{text}}' is not a whole number of at least {low} ({why})")
    return _number(int, lambda v: low <= v <= most,
                   f"'{{text}}' is not a whole number of at least {low} and at most {most:,} ({why})")


#: Most bootstrap resamples ``export --n-boot`` and ``score --drift-n-boot`` take. Beyond a few
#: thousand, a 95% percentile interval's ends move by less than its own rounding; each resample
#: costs a byte per scored row (:func:`fairkit.stats.bootstrap_weights`) and a pass of the kernel,
#: so a larger count only costs memory and time (10,000 resamples of 10,000 rows are 100 MB).
MAX_BOOT = 10_000
#: export --calibration: none or one of fairkit.calibration.CALIBRATION_METHODS (not imported here:
#: building the parser loads no engine module; a test ties the two).
EXPORT_CALIBRATIONS = ("none", "platt", "isotonic", "temperature")
#: Largest default eta grid (``sweep --n-etas``): each eta is a model trained per method and seed
#: (and adaptive placement may add up to 3 runs per grid point), so 200 is already thousands of
#: runs; more only delays a sweep for hours without changing its frontier.
MAX_N_ETAS = 200


_jobs = _number(int, lambda v: v >= 1 or v == -1,
                "'{text}' is not a number of workers; give 1 or more, or -1 for one per core")
# A score is a probability: at 0 or 1 (or beyond) every row gets the same decision; NaN fails too.
_threshold = _number(float, lambda v: 0.0 < v < 1.0,
                     "'{text}' is not a threshold; give a number between 0 and 1 "
                     "(a row is selected when its score is at least the threshold)")
_seconds = _number(float, lambda v: 0.0 < v < math.inf, "'{text}' is not a number of seconds above 0")
# Above a day Dask's clock overflowed (1e10: an internal error, Dask audit, session 50); sweep.MAX_DASK_TIMEOUT
# (not imported here: it would import the engine before the arguments are read).
_dask_seconds = _number(float, lambda v: 0.0 < v <= 86400.0,
                        "'{text}' is not a number of seconds above 0 and at most a day (86400)")
_spacing = _number(float, lambda v: 0.0 < v < 1.0,
                   "'{text}' is not a spacing; give a difference in unfairness between 0 and 1, e.g. 0.02")
_share = _number(float, lambda v: 0.0 < v < 1.0,
                 "'{text}' is not a share of the validation rows; give a number between 0 and 1, e.g. 0.5")


def _not_a_file(text, mode: int) -> str | None:
    """Why the file ``text`` (of ``st_mode`` ``mode``) cannot be read or written as a file; None if it can."""
    from .store import not_a_file

    problem = not_a_file(text, mode)
    return None if problem is None else f"{problem}; give {'a file in it' if problem.kind == 'folder' else 'the path of a file'}"


def _regular_file(text: str, *, missing_ok: bool = False) -> str:
    """A path that is a regular file (or, with ``missing_ok``, nothing yet), else an argparse error."""
    if not str(text).strip():
        raise argparse.ArgumentTypeError("an empty path; give the path of a file")
    try:
        mode = os.stat(text).st_mode
    except FileNotFoundError:
        if missing_ok:
            return text
        raise argparse.ArgumentTypeError(f"{text} not found; check the path") from None
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {text} ({exc.strerror or exc}); check the path") from exc
    problem = _not_a_file(text, mode)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def _input_file(text: str) -> str:
    """A file to read: it exists and is a regular file (not a folder, device or FIFO)."""
    return _regular_file(text)


def _log_file(text: str) -> str:
    """A file read and appended to (the audit log): a regular file, or a new one to start."""
    return _regular_file(text, missing_ok=True)


def _read_input(path, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of the regular file ``path`` (:func:`fairkit.store.read_regular_file`)."""
    from .store import FileRefused, read_regular_file

    try:
        return read_regular_file(path, limit)
    except FileRefused as exc:
        raise CLIError(f"{exc}; give the path of a file.") from exc


def _check_writable(folder: Path) -> None:
    # Trying is the only reliable test: os.access says yes to root even under /proc.
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".fairkit-probe-"):
            pass
    except OSError as exc:
        raise argparse.ArgumentTypeError(
            f"cannot write in {folder} ({exc.strerror or exc}); choose a folder you can write to") from exc


def _output_folder(text: str) -> str:
    """A folder to write in: created if missing, as long as its nearest existing parent takes files."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder; give a folder to write in")
    existing = next(p for p in (path.absolute(), *path.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(f"{existing} is a file, so {text} cannot be a folder; choose another path")
    _check_writable(existing)
    return text


def _output_file(text: str) -> str:
    """A file to write: its folder exists and takes files, and it is not a folder, device or FIFO.

    It is written atomically (a new file replaces the old), which a device must not be. That it
    is none of the command's inputs is checked once every argument is read (:func:`_check_outputs`).
    """
    path = Path(text)
    if text.endswith(("/", os.sep)) or text == "-":
        # "models/" wrote a file named models, "-" a file named -: neither is a file's name.
        raise argparse.ArgumentTypeError(f"'{text}' names a folder or standard output, not a file; give a file's "
                                         "name (for example models/model.zip)")
    if path.exists():
        problem = _not_a_file(text, path.stat().st_mode)
        if problem:
            raise argparse.ArgumentTypeError(problem.replace("give a file in it", "give a file name in it"))
    folder = path.absolute().parent
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"the folder {folder} does not exist; create it or choose another --out")
    _check_writable(folder)
    return text


#: Extensions pandas would compress by (``to_csv`` infers it): ``score`` writes a plain CSV only.
_COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst", ".tar", ".tgz")


def _csv_output_file(text: str) -> str:
    """``score --out``: a file to write (:func:`_output_file`) whose name says it is a plain CSV."""
    if text.lower().endswith(_COMPRESSED):
        raise argparse.ArgumentTypeError(
            f"{text} names a compressed file; score writes a plain CSV: give a name such as scored.csv")
    return _output_file(text)


def _audit_path(args) -> Path:
    """The audit log the command appends to: ``--audit``, else ``$FAIRKIT_HOME/audit.sqlite``."""
    from .store import default_home

    return Path(args.audit) if getattr(args, "audit", None) else default_home() / "audit.sqlite"


def _audit_log(args, read_only: bool = False):
    """The command's :class:`~fairkit.audit.AuditLog`, opened before the command writes anything
    (``read_only``: a command that only reads it, which then works on read-only media too).

    A path that is not a regular file is refused before SQLite opens it (a FIFO would hang it);
    an SQLite error (not a database, unreadable) is reported by :func:`main` naming the file.
    """
    from .audit import AuditLog

    path = _audit_path(args)
    try:
        _log_file(str(path))
    except argparse.ArgumentTypeError as exc:
        raise CLIError(f"The audit log: {exc}.") from exc
    return AuditLog(path, read_only=read_only)


#: OSErrors that are the machine's state, not fairkit's bug: no space, no quota, a read-only or
#: forbidden folder, a failing disk.
_DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


def _report_path(out) -> Path:
    """The fairness report ``score`` writes beside its ``--out``."""
    return Path(out).with_suffix(".fairness.json")


@contextlib.contextmanager
def _writing(path):
    """An OSError in the block (disk full, quota, a folder gone) is a message naming ``path``."""
    try:
        yield
    except OSError as exc:
        raise CLIError(f"Could not write {path} ({exc.strerror or exc}); it was left as it was. "
                       "Free some space or choose another path, and run again.") from exc


def _write_output(path, data: bytes, before_replace=None):
    """Write an output file atomically: readers, and a failed write, leave the old file or the new one.
    ``before_replace`` runs once the data is durable and before it appears at ``path`` (its
    result is returned); if it raises, nothing appears."""
    from .store import atomic_write_bytes, output_mode

    with _writing(path):
        return atomic_write_bytes(Path(path), data, mode=output_mode(path), before_replace=before_replace)


def _written(args) -> list[tuple[str, Path]]:
    """The files the command writes, each with the option that names it."""
    if args.command == "export":
        return [("--out", Path(args.out))]
    if args.command == "score":
        return [("--out", Path(args.out)), ("--out (its fairness report)", _report_path(args.out))]
    names = {"sweep": ("results.csv", "sweep.json", "frontier.html", "frontier.png"),
             "search": ("results.csv", "front.csv", "sweep.json")}.get(args.command, ())
    written = [("--out", Path(args.out) / name) for name in names]
    storage = getattr(args, "storage", None)
    if storage and storage.lower().startswith("sqlite:///") and len(storage) > len("sqlite:///"):
        # The study's database is written too: pointed at the audit log it added tables a log
        # may not hold; at OUT/results.csv the CSV overwrote it (search audit, session 43).
        written.append(("--storage", Path(storage[len("sqlite:///"):].split("?")[0])))
    return written


def _fairkit_wrote(path: Path) -> bool:
    """Whether a sweep's or search's output file at ``path`` is one fairkit wrote: a table whose
    header names run_id and method, or a sweep.json holding the data's hash."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 20)
    except OSError:
        return False
    if path.suffix == ".csv":
        header = head.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip().split(",")
        return {"run_id", "method"} <= set(header)
    try:
        meta = json.loads(head)
    except ValueError:
        return False
    return isinstance(meta, dict) and "data_hash" in meta


def _check_not_foreign(args) -> None:
    """Refuse a sweep's or search's ``--out`` folder holding files of the same names that fairkit
    did not write: a user's own results.csv was replaced, their frontier.png deleted, and the
    note called them "an earlier sweep" (CLI audit, session 44). A folder an earlier sweep wrote
    is written over, as before."""
    if args.command not in ("sweep", "search"):
        return
    out = Path(args.out)
    present = [p for option, p in _written(args) if option == "--out" and p.exists()]
    if not present:
        return
    tables = [p for p in present if p.suffix in (".csv", ".json")]
    # With none of its tables, a frontier.html or .png alone is nobody's sweep either.
    foreign = [p.name for p in tables if not _fairkit_wrote(p)] if tables else [p.name for p in present]
    if foreign:
        raise CLIError(f"{out} holds {', '.join(foreign)}, which no fairkit sweep wrote; this command would replace "
                       "them. Choose a new or empty folder for --out.")


def _kept(args) -> list[tuple[str, Path]]:
    """The files the command reads or keeps: its inputs (for ``export``, the sweep folder's
    ``sweep.json`` and ``results.csv``), its keys and its audit log with SQLite's files beside it."""
    from .keys import SIGNING_KEY_ENV, TRUST_KEY_ENV

    kept = []
    if getattr(args, "csv", None):
        kept.append(("--csv", args.csv))
    bundles = getattr(args, "bundle", None)
    kept += [("--bundle", b) for b in ([bundles] if isinstance(bundles, str) else bundles or [])]
    for option in ("tls_ca_file", "tls_cert", "tls_key"):
        if getattr(args, option, None):
            kept.append((f"--{option.replace('_', '-')}", getattr(args, option)))
    for option, env in (("sign_key", SIGNING_KEY_ENV), ("trust", TRUST_KEY_ENV)):
        if hasattr(args, option):
            given = getattr(args, option)
            path = given or os.environ.get(env, "").strip()
            if path:
                kept.append((f"--{option.replace('_', '-')}" if given else f"${env}", path))
    if hasattr(args, "audit"):
        log = _audit_path(args)
        what = "--audit" if args.audit else "the audit log ($FAIRKIT_HOME/audit.sqlite)"
        kept += [(what, log)] + [(f"{what} (SQLite's {end} file)", Path(f"{log}{end}"))
                                 for end in ("-wal", "-shm", "-journal")]
    if args.command == "export":
        # The sweep folder's files export reads (its runs' store and data are added from
        # sweep.json); a bundle exported into the folder earlier is not one, and may be replaced.
        kept += [(f"--store's {name}", Path(args.store) / name) for name in ("sweep.json", "results.csv")]
    return [(what, Path(path)) for what, path in kept]


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` are one file: the same path once links are followed, or (both
    existing) the same inode, as a hard link is."""
    with contextlib.suppress(OSError, RuntimeError):  # a symlink loop: the inodes decide
        if a.resolve() == b.resolve():
            return True
    try:
        sa, sb = a.stat(), b.stat()
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _holds(folder: Path, path: Path) -> bool:
    """Whether the existing file ``path`` is one of ``folder``'s files (inside it, or a hard link
    to a file inside it)."""
    if not path.is_file():
        return False
    if path.resolve().is_relative_to(folder.resolve()):
        return True
    st = path.stat()
    if st.st_nlink < 2:
        return False
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                other = os.stat(os.path.join(root, name))
                if (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
                    return True
    return False


def _check_outputs(args, also=()) -> None:
    """Refuse, before anything is written, a file the command would write that is one of its
    inputs, keys, audit log or (``export``) a file of its sweep folder: nothing is overwritten
    that the command reads or keeps. ``also``: more (what, path) pairs the command found since."""
    kept = [*_kept(args), *((what, Path(p)) for what, p in also)]
    written = _written(args)
    kept += [(option, path) for option, path in written if option == "--storage"]  # written, then read
    for option, out in written:
        for what, path in kept:
            if what == option:
                continue
            if path.is_dir():
                clash = _holds(path, out)
            else:
                clash = _same_file(out, path)
            if clash:
                where = (f"is one of the files of {what} {path}" if path.is_dir()
                         else f"is the same file as {what} {path}")
                raise CLIError(f"{option} {out} {where}, which this command reads or keeps; writing it would "
                               f"destroy that. Choose another {option.split(' ')[0]} path.")


def _scheduler(text: str) -> str:
    """A Dask scheduler address: ``tcp://host:port``, ``tls://host:port`` or ``host:port``."""
    from .sweep import scheduler_address_problem

    problem = scheduler_address_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def _print_read_notes(frame) -> None:
    """What reading the file changed (row names dropped, short rows padded...), on stderr."""
    from .data import read_notes

    for note in read_notes(frame):
        print(f"NOTE: {note}", file=sys.stderr)


def _read_table(path, keep_bytes: bool = False):
    """The table in the file ``path`` and the SHA-256 of the very bytes it was read from (and,
    with ``keep_bytes``, those bytes).

    The file is opened and read once (at most one byte past the size limit, whatever the file
    claims), so the hash an audit entry records is the input's, whatever is written afterwards.
    """
    import io

    from .data import DEFAULT_LIMITS, DataError, read_table

    data = _read_input(path, DEFAULT_LIMITS.max_bytes)
    source = io.BytesIO(data)
    source.name = str(path)  # read_table's messages name the file
    try:
        frame = read_table(source)
    except DataError as exc:
        raise CLIError(str(exc)) from exc
    digest = hashlib.sha256(data).hexdigest()
    return (frame, digest, data) if keep_bytes else (frame, digest)


def _load(args):
    from .data import DatasetSpec, errors, validate
    from .datasets import load_dataset

    if args.dataset and args.csv:
        raise CLIError("Give either --dataset or --csv, not both.")
    if args.dataset:
        try:
            frame, spec = load_dataset(args.dataset)
        except ValueError as exc:
            raise CLIError(str(exc)) from exc
    elif args.csv:
        frame, _ = _read_table(args.csv)
        _print_read_notes(frame)
        if not args.target:
            raise CLIError("With --csv, give --target (the outcome column).")
        spec = DatasetSpec(target=args.target, name=Path(args.csv).stem)
    else:
        raise CLIError("Give --dataset NAME (adult, compas, german) or --csv FILE.")
    changes = {}
    if args.target:
        changes["target"] = args.target
    if args.positive is not None:
        changes["positive_label"] = args.positive
    if args.sensitive:
        changes["sensitive"] = args.sensitive
    if getattr(args, "exclude", None):
        changes["exclude"] = args.exclude
    spec = spec.replace(**changes)
    problems = validate(frame, spec)
    for p in problems:
        print(str(p), file=sys.stderr)
    given = [*(args.sensitive or []), *(getattr(args, "exclude", None) or [])]
    if any("," in str(c) for c in frame.columns) and not set(given) <= set(map(str, frame.columns)):
        print("NOTE: some column names hold a comma; in --sensitive and --exclude, put such a name in double "
              """quotes within the list: --sensitive '"race, ethnicity",sex'.""", file=sys.stderr)
    if errors(problems):
        raise CLIError("The data has errors (listed above); fix them and run again.")
    return frame, spec


def _print_stratification(split) -> None:
    """Say a split stratified by less than group x outcome (:func:`fairkit.split.stratification_notes`)."""
    from .split import stratification_notes

    for note in stratification_notes(split):
        print(f"WARNING: {note}", file=sys.stderr)


def _print_small_after_split(frame, spec) -> None:
    """Name the groups the split will leave small, on the table that is split (after ``--sample``).

    Validation counts a group's rows in the whole table; the gaps judge it on validation and
    test, a fifth of them each: the groups that will be small there are named, as the Data page
    names them (a group of 100 rows passed in silence and was judged on 20).
    """
    from .groups import group_summaries
    from .split import forecast_groups, small_after_split

    small = small_after_split(forecast_groups(group_summaries(frame, spec)))
    if small:
        print(f"WARNING: {small}", file=sys.stderr)


def _add_data_args(p):
    p.add_argument("--dataset", help="bundled dataset: adult, compas or german")
    p.add_argument("--csv", type=_input_file, help="a CSV or Parquet file of your own")
    p.add_argument("--target", help="outcome column")
    p.add_argument("--positive", action="append",
                   help="positive label of the target: the outcome predicted as 1, the favourable one for most "
                        "tables (for the bundled COMPAS, 1 = reoffended, an adverse one); give it once per value when "
                        "several values mean that outcome (--positive '>50K' --positive '>50K.')")
    p.add_argument("--sensitive", type=_names,
                   help="sensitive columns, comma-separated (several give intersections); a name holding a comma "
                        "in double quotes")
    p.add_argument("--exclude", type=_names, help="columns not to use as features, comma-separated; a name holding "
                                                  "a comma in double quotes")


def cmd_datasets(args) -> int:
    from .data import label_text
    from .datasets import list_datasets

    for d in list_datasets():
        print(f"{d.name:8s} {d.rows:>7,} rows  target={d.spec.target} ({label_text(d.spec.positive_label, quote=str)})  "
              f"sensitive={','.join(d.spec.sensitive)}  {d.title}")
    return 0


def cmd_validate(args) -> int:
    frame, spec = _load(args)
    _print_small_after_split(frame, spec)
    from .data import label_text

    print(f"OK: {len(frame):,} rows, {frame.shape[1]} columns; target {spec.target} (positive: "
          f"{label_text(spec.positive_label)}), sensitive {', '.join(spec.sensitive)}.")
    return 0


def cmd_sweep(args) -> int:
    from .frontier import below_chance_mask, decides_alike_on
    from .methods import DEFAULT_METHODS, FAIRNESS_DEFINITIONS, METHODS, RegistryError
    from .plots import PNG_NOT_WRITTEN, frontier_figure, save_figure
    from .record import fmt_eta
    from .split import split_dataset
    from .store import ResultStore, changes_since, strict_json
    from .sweep import SchedulerError, plan_runs, run_sweep

    # The frontier, the pick and adaptive placement judge the gap of the definition the
    # methods target, unless another axis is asked for: one gap per sweep on every surface.
    args.unfairness = args.unfairness or FAIRNESS_DEFINITIONS[args.fairness].gap_metric
    methods = args.methods or list(DEFAULT_METHODS)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise CLIError(f"Unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}.")
    etas = args.etas
    seeds = args.seeds or [0]
    try:
        # Every method's etas are checked before the data is read, let alone anything trained.
        plan_runs(methods, etas, seeds, fairness=args.fairness, n_etas=args.n_etas)
    except RegistryError as exc:
        raise CLIError(str(exc)) from exc
    security = _security(args)  # the certificates fit the scheduler before the data is read
    frame, spec = _load(args)
    frame, sample = _sampled(frame, spec, args.sample, args.split_seed)
    _print_small_after_split(frame, spec)
    split = _reserved(split_dataset(frame, spec, seed=args.split_seed), args.threshold_rows)
    _print_stratification(split)
    log = _audit_log(args)  # a log that cannot be used is found before hours of training
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    store = ResultStore(args.store) if args.store else ResultStore(out / "store")
    bar = _progress_bar(args, 1, "run")

    def progress(done, total):
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        res = run_sweep(split, methods, etas, seeds, fairness=args.fairness, n_jobs=args.jobs, store=store,
                        progress=progress, scheduler=args.scheduler, security=security,
                        dask_timeout=args.dask_timeout, n_etas=args.n_etas, keep_models=False,
                        # Etas typed on the command line are trained as given; a default grid is refined.
                        adaptive=not args.no_adaptive and args.etas is None, spacing=args.spacing,
                        budget=args.budget, unfairness=args.unfairness, tolerance=args.tolerances)
    except SchedulerError as exc:
        raise CLIError(str(exc)) from exc
    finally:
        bar.close()
    if args.performance is None:
        from .metrics import RARE_OUTCOME, default_performance

        # The axis the dashboard starts on for these data (accuracy flatters any model of a rare
        # outcome), from the base rate the sweep recorded (one-implementation audit, session 53).
        rate = float(res.results["val_base_rate"].iloc[0]) if len(res.results) else float("nan")
        args.performance = default_performance(rate)
        if args.performance != "accuracy":
            print(f"Note: {min(rate, 1 - rate):.1%} of the validation rows have the "
                  f"{'positive' if rate < 0.5 else 'negative'} outcome (under {RARE_OUTCOME:.0%}): a model giving "
                  f"everyone the majority decision scores {max(rate, 1 - rate):.3f} accuracy, so the frontier is "
                  "judged on balanced accuracy (give --performance accuracy to judge it on accuracy).")
    from .audit import command_line_user, record_sweep

    entry = record_sweep(log, actor=command_line_user(), dataset=spec.name,
                         data_hash=split.data_hash, methods=methods, etas=res.results["eta"].tolist(),
                         seeds=seeds, fairness=args.fairness, runs=len(res.results),
                         cached=int(res.results["cached"].sum()), run_ids=res.results["run_id"])
    replaced = (out / "results.csv").exists()
    old_png = (out / "frontier.png").exists()
    # Each output replaced whole (an interrupted or failed write leaves the earlier file, never a
    # cut one that export would read as the sweep); sweep.json, which export starts from, last.
    _write_output(out / "results.csv", res.results.to_csv(index=False).encode())
    if replaced:
        # The earlier frontier.png too, which went without a word (upgrade audit, session 48).
        print(f"Note: replaced the results of an earlier sweep in {out} (results.csv, sweep.json, frontier.html"
              + (", and frontier.png, written again or removed" if old_png else "") + ").")
    # A frontier.png this sweep does not write (--no-png, or no browser) would show an earlier
    # sweep's frontier beside this one's results.
    (out / "frontier.png").unlink(missing_ok=True)
    # Enough to rebuild the split later (python -m fairkit export --store OUT ...).
    _write_output(out / "sweep.json", strict_json({
        "dataset": args.dataset, "csv": str(Path(args.csv).resolve()) if args.csv else None,
        "spec": spec.to_dict(), "split_seed": args.split_seed, "data_hash": split.data_hash,
        "methods": methods, "etas": sorted(set(res.results["eta"].tolist())), "seeds": seeds,
        "fairness": args.fairness, "unfairness": args.unfairness, "performance": args.performance,
        "adaptive": not args.no_adaptive and args.etas is None, "spacing": args.spacing, "budget": args.budget,
        "tolerances": list(args.tolerances or ()), "threshold_rows": args.threshold_rows,
        "store": str(store.root.resolve()), "sample": sample,
        # Export checks results.csv against the runs this entry logged (audit.logged_runs_problem).
        "audit_entry": entry, "audit_log": str(log.path.resolve()),
    }, indent=1).encode())
    fig = frontier_figure(res.results, unfairness=args.unfairness, performance=args.performance,
                          title=f"{spec.name}: fairness / accuracy trade-off (test; frontier chosen on validation)")
    with warnings.catch_warnings():
        # The "Wrote" line reports a missing PNG; the warning would say it a second time.
        warnings.filterwarnings("ignore", message=PNG_NOT_WRITTEN, category=RuntimeWarning)
        saved = save_figure(fig, out / "frontier", png=not args.no_png)
    front = _frontier(res.results, args.unfairness, args.performance)
    cols = ["method", "eta", "performance_val", "unfairness_val", "performance_test", "unfairness_test",
            "needs_sensitive_at_predict", "run_id"]
    if front.empty:
        from .data import RARE_OUTCOME_SHARE

        rate = float(res.results["val_base_rate"].iloc[0]) if len(res.results) else float("nan")
        scarce = min(rate, 1.0 - rate)
        advice = (f"With {scarce:.1%} of the validation rows of one outcome, models give every row the majority "
                  "decision at the threshold of 0.5 even where they rank the rows well (val_roc_auc in "
                  "results.csv): export a run with a decision threshold of its own (--threshold), and judge "
                  "it by balanced accuracy." if scarce < RARE_OUTCOME_SHARE else
                  "Check the target's positive label (`fairkit validate`), or try other methods or etas.")
        print("No model reached the frontier: every run is constant, scores no better than one decision "
              f"for everyone, or has no figure on these axes (counts below). {advice}")
    else:
        n_seeds = front.attrs["axes"].get("seeds", 1)
        if n_seeds > 1:
            print(f"Frontier: each row is a setting (method, eta) at its mean over {n_seeds} seeds, as frontier.html "
                  "and the dashboard draw it; run_id is its lowest seed's run (export any seed's).")
        else:  # it printed 9 of 13 runs with no word of which (numbers audit, session 53)
            print(f"Frontier: each method's own front, chosen on validation ({len(front)} of the {len(res.results)} "
                  "runs; results.csv holds them all):")
        # Each axis by its metric's name: a gap with no name could be any definition's.
        shown = front[cols].rename(columns={"performance_val": f"val_{args.performance}",
                                            "unfairness_val": f"val_{args.unfairness}",
                                            "performance_test": f"test_{args.performance}",
                                            "unfairness_test": f"test_{args.unfairness}"})
        # An eta as the record writes it (4e-05 printed 0.0000, the unconstrained model's), and the
        # figures to the record's 3 decimals (number audit, session 45).
        shown = shown.assign(eta=shown["eta"].map(fmt_eta))
        with pd.option_context("display.width", 160, "display.max_columns", 20,
                               "display.float_format", "{:.3f}".format):
            print(shown.to_string(index=False))
    test_alike = front["run_id"][decides_alike_on(front, "test")].tolist() if len(front) else []
    if test_alike:
        print(f"{len(test_alike)} model(s) on the frontier give (almost) every test row the same decision "
              f"({', '.join(test_alike)}): their test gaps are about 0 because they tell nobody apart on test, "
              "not because they treat groups alike (chosen on validation, where they decide otherwise for more rows).")
    print(f"\n{len(res.results)} runs ({int(res.results['cached'].sum())} from the store) in {res.wall_seconds:.1f}s.")
    if res.failed_checks:
        shown = "; ".join(f"{k}: {why}" for k, why in list(res.failed_checks.items())[:3])
        more = f"; and {len(res.failed_checks) - 3} more" if len(res.failed_checks) > 3 else ""
        print(f"Note: {len(res.failed_checks)} stored run(s) failed the store's checks and were trained again "
              f"(damaged, or edited outside fairkit: if nobody here did, find out who could write {store.root}): "
              f"{shown}{more}.")
    earlier = store.earlier_runs()
    if earlier:
        named = sorted({r for r in earlier.values() if r is not None})
        revisions = (f"earlier results revision{'s' if len(named) > 1 else ''} {', '.join(map(str, named))}" if named
                     else "an earlier results revision")
        # What changed, from the oldest revision named (a pickled run's record names none).
        changed = (f" Changed since revision {min(named)}: {'; '.join(changes_since(min(named)))}." if named
                   and None not in earlier.values() else "")
        print(f"Note: {len(earlier)} run(s) in {store.runs_dir} were stored by an earlier fairkit (models kept as "
              f"pickles, or figures computed under {revisions}), so this sweep trained its runs afresh and is never "
              f"served those; its figures may differ from theirs where the rules changed.{changed} Their files "
              "(run id .json, .joblib, .safetensors) can be deleted.")
    if res.results["constant"].any():
        print(f"{int(res.results['constant'].sum())} constant model(s) (almost every validation row gets the same "
              "decision) flagged in results.csv and kept off the frontier.")
    flat = res.results["constant"].to_numpy(dtype=bool)
    below = int((below_chance_mask(res.results, args.performance) & ~flat).sum())
    if below:
        print(f"{below} model(s) score no better on validation {args.performance} than one decision for everyone "
              "(val_base_rate in results.csv) and are kept off the frontier.")
    wrote = [out / "results.csv", out / "sweep.json", saved["html"]] + ([saved["png"]] if saved["png"] else [])
    print(f"Wrote {', '.join(map(str, wrote))}" + (f"; {saved['png_error']}" if saved["png_error"] else ""))
    args.summary = {
        "command": "sweep", "files": [str(p) for p in wrote],
        "png_error": saved["png_error"], "runs": len(res.results), "cached": int(res.results["cached"].sum()),
        "constant": int(res.results["constant"].sum()), "below_chance": below, "wall_seconds": res.wall_seconds,
        "frontier_decides_alike_on_test": test_alike,
        # Every digit, as results.csv and the record hold it (pandas' to_json rounds to 10).
        "frontier": front[cols].to_dict(orient="records"),
        "frontier_seeds": front.attrs["axes"].get("seeds", 1), "sample": sample,
    }
    return EXIT_NO_PNG if saved["png_error"] else 0


def _frontier(results: pd.DataFrame, unfairness: str, performance: str) -> pd.DataFrame:
    """The frontier ``sweep`` prints (and ``--json`` lists) and ``export`` records: the sweep's
    front as every surface shows it (:func:`fairkit.frontier.sweep_front`: one front per
    method; with several seeds, over each setting's mean)."""
    from .frontier import sweep_front

    return sweep_front(results, unfairness=unfairness, performance=performance)


def _reserved(split, share):
    """``split`` with ``share`` of its validation rows reserved for the thresholds (``--threshold-rows``)."""
    if share is None:
        return split
    from .estimators import postprocess
    from .split import reserve_threshold_rows

    if not postprocess.held_out_rows_serve(len(split.train)):
        raise CLIError(f"--threshold-rows: on {len(split.train):,} training rows (fewer than "
                       f"{postprocess.CROSSFIT_BELOW_ROWS:,}) the threshold methods fit on out-of-fold scores "
                       "of every training row, so reserved rows would only shrink the validation part; "
                       "leave the option out.")

    try:
        return reserve_threshold_rows(split, share)
    except ValueError as exc:
        raise CLIError(f"--threshold-rows {share:g}: {exc}; give a smaller share or use more rows.") from exc


def cmd_search(args) -> int:
    from .audit import command_line_user, record_sweep
    from .methods import DEFAULT_METHODS, METHODS, RegistryError
    from .search import SearchError, run_search, splits_text
    from .split import split_dataset
    from .store import ResultStore, strict_json

    methods = args.methods or [m for m in DEFAULT_METHODS if METHODS[m].sweeps_eta]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise CLIError(f"Unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}.")
    try:
        for m in methods:  # checked before the data is read
            METHODS[m].check_fairness(args.fairness)
    except RegistryError as exc:
        raise CLIError(str(exc)) from exc
    frame, spec = _load(args)
    _print_small_after_split(frame, spec)
    split = split_dataset(frame, spec, seed=args.split_seed)
    _print_stratification(split)
    log = _audit_log(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    store = ResultStore(args.store) if args.store else ResultStore(out / "store")
    bar = _progress_bar(args, args.trials, "trial")

    def progress(done, total):
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        res = run_search(split, methods, fairness=args.fairness, unfairness=args.unfairness,
                         performance=args.performance, n_trials=args.trials, timeout=args.timeout, store=store,
                         storage=args.storage, seed=args.seed, n_workers=args.workers, progress=progress,
                         frame=frame, resplits=args.resplits)
    except (SearchError, ValueError) as exc:  # run_search's ValueErrors are about its arguments
        raise CLIError(str(exc)) from exc
    finally:
        bar.close()
    if not res.complete and args.timeout is not None:
        # An empty search exited 0 and replaced the folder's results with empty tables (search
        # audit, session 48: --timeout 1e-9). Nothing is written or recorded.
        raise CLIError(f"no trial finished within the time budget (--timeout {args.timeout:g} s), so the search "
                       f"has nothing to propose; {out} keeps what it held (no results.csv, front.csv or sweep.json was written). Give a longer --timeout (a "
                       "trial trains one model, which takes seconds to minutes on a table of this size), or "
                       "leave it out to stop at the trial budget.")
    trials = res.trials
    entry = record_sweep(log, actor=command_line_user(), dataset=spec.name, data_hash=split.data_hash,
                         methods=methods, etas=trials["eta"].tolist() if len(trials) else [], seeds=[args.seed],
                         fairness=args.fairness, runs=res.complete, cached=res.cached, search=res,
                         run_ids=trials["run_id"] if len(trials) else [])
    _write_output(out / "results.csv", trials.to_csv(index=False).encode())
    _write_output(out / "front.csv", res.front.to_csv(index=False).encode())
    # sweep.json as a sweep writes it, so 'export --store OUT' can export a trial a person chose.
    _write_output(out / "sweep.json", strict_json({
        "dataset": args.dataset, "csv": str(Path(args.csv).resolve()) if args.csv else None,
        "spec": spec.to_dict(), "split_seed": args.split_seed, "data_hash": split.data_hash,
        "methods": methods, "etas": sorted(set(trials["eta"].tolist())) if len(trials) else [],
        "seeds": [args.seed], "fairness": args.fairness, "unfairness": res.unfairness,
        "performance": res.performance, "store": str(store.root.resolve()), "source": "search",
        "study": res.study_name, "storage": res.storage, "budget": args.trials, "timeout": args.timeout,
        "objective": res.objective, "resplits": args.resplits,
        "audit_entry": entry, "audit_log": str(log.path.resolve()),
    }, indent=1).encode())
    cols = ["search_trial", "method", "eta", "performance_val", "unfairness_val", "performance_test",
            "unfairness_test", "run_id"]
    spread = [c for c in (f"resplit_{res.performance}_moves", f"resplit_{res.unfairness}_moves", "unstable")
              if c in res.front]
    # Each trial's own capacity and training settings: two rows of one method and eta differed in
    # nothing else printed (search audit, session 51).
    spread += ["search_params"] if "search_params" in res.front else []
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.float_format", "{:.4f}".format):
        if len(res.front):
            print(res.front[cols + spread].rename(columns={
                "performance_val": f"val_{res.performance}", "unfairness_val": "val_unfair",
                "performance_test": f"test_{res.performance}", "unfairness_test": "test_unfair",
                f"resplit_{res.performance}_moves": "moves_perf", f"resplit_{res.unfairness}_moves": "moves_unfair",
                "search_params": "settings",
            }).to_string(index=False))
    n_unstable = int(res.front["unstable"].fillna(False).astype(bool).sum()) if "unstable" in res.front else 0
    # The verdicts shown are the study's: with --resplits 0 they are an earlier call's, made over
    # its re-splits, and were shown in front.csv without a word (search audit, session 43).
    k = pd.to_numeric(res.front["resplit_n"], errors="coerce").max() if "resplit_n" in res.front else float("nan")
    earlier = " by an earlier search of this study" if pd.notna(k) and int(k) != args.resplits else ""
    ended = {"budget": "its trial budget", "time": "its time budget"}[res.stopped]
    # The study's budget (the largest any call asked for), not this call's: "9 of 3" misread (search audit).
    print(f"\n{res.complete} trials finished, budget {res.budget} ({res.trained} trained now, {res.cached} from the "
          f"study or store; study {res.study_name}; it stopped at {ended}) in {res.wall_seconds:.1f}s; {len(res.front)} on the front of the search's own trials"
          + (f", {n_unstable} unstable over {splits_text(int(k))}{earlier} (moved more than their 95% interval)"
             if pd.notna(k) else "") + ".")
    if res.resplit_skipped:
        print(f"NOTE: {res.resplit_skipped:,} candidate(s) of the front were not re-split: the time budget "
              "(--timeout) ran out first, so their stability is not measured. Run again with more time.")
    if res.missing_runs:
        # They count towards the study's budget, so no later call trains them again (search audit).
        print(f"NOTE: {res.missing_runs:,} finished trial(s) of this study have no run in this store ({store.root}): "
              "they were trained into another --store sharing the --storage, or their files were removed. They "
              "are not shown; use the store they were trained into, or move the study aside to train afresh.")
    print("The search proposes candidates; it does not choose one. Its front is drawn over its own trials only: "
          "a sweep's run may beat a candidate on validation. Compare them with a sweep's frontier and "
          "export only what a person decided (python -m fairkit export --store OUT --run RUN_ID ...).")
    print(f"Wrote {out / 'results.csv'}, {out / 'front.csv'}, {out / 'sweep.json'}")
    args.summary = {"command": "search", "files": [str(out / n) for n in ("results.csv", "front.csv", "sweep.json")],
                    "study": res.study_name, "storage": res.storage, "trials": res.complete, "budget": args.trials,
                    "trained": res.trained, "from_store": res.cached, "resplit_runs": res.resplit_runs,
                    "resplit_trained": res.resplit_trained,
                    "stopped": res.stopped, "objective": res.objective, "unstable": n_unstable,
                    "front": res.front.to_dict(orient="records") if len(res.front) else []}
    return 0


def _axes_arguments(p, unfairness: str, performance: str, default_performance: str | None) -> None:
    """``--fairness``, ``--unfairness``, ``--performance`` and ``--split-seed``: one wording for
    the commands that train on a split (sweep and search, whose help texts had drifted apart)."""
    from .frontier import PERFORMANCE_AXES, UNFAIRNESS_AXES
    from .methods import DEFAULT_FAIRNESS, FAIRNESS_DEFINITIONS

    p.add_argument("--fairness", default=DEFAULT_FAIRNESS, choices=list(FAIRNESS_DEFINITIONS),
                   help="the fairness definition the methods target (default %(default)s)")
    p.add_argument("--unfairness", choices=list(UNFAIRNESS_AXES),
                   help=f"{unfairness} (default: the --fairness definition's gap)")
    p.add_argument("--performance", default=default_performance, choices=list(PERFORMANCE_AXES), help=performance)
    p.add_argument("--split-seed", type=_seed, default=0,
                   help="seed of the train/validation/test split (default %(default)s)")


def _storage_url(text: str) -> str:
    """An Optuna storage address: an SQLAlchemy URL such as ``sqlite:///FILE``."""
    if "://" not in text:
        raise argparse.ArgumentTypeError(f"'{text}' is not a storage URL; give one such as "
                                         "sqlite:///path/to/studies.sqlite (default: SQLite in the store)")
    return text


def _sampled(frame, spec, n, seed: int):
    """``--sample N``: the table cut to a stratified sample of ``n`` rows (None: the whole table).

    Returns the table to split and the sample's description for ``sweep.json`` and the decision
    record (None when every row is used)."""
    from .split import stratified_sample

    if n is None:
        return frame, None
    sample = stratified_sample(frame, spec, n, seed=seed)
    if sample.rows >= sample.of_rows:
        print(f"NOTE: --sample {n:,} is not below the table's {sample.of_rows:,} rows with an outcome; "
             "every row is used.")
        return frame, None
    print(f"NOTE: training on a stratified sample of {sample.rows:,} of {sample.of_rows:,} rows (per group "
         f"and outcome, seed {seed}); intervals are wider than the whole table's.")
    return sample.frame, sample.to_dict()


def _security(args):
    """A :class:`distributed.Security` from the ``--tls-*`` options (None: Dask's own configuration).

    Refused, before any connection, when they are not all three or there is no ``tls://``
    scheduler to use them with: Dask read a partial set as none ("expects a ssl_context"), and
    with a ``tcp://`` scheduler ended in an internal error, or without one they were ignored
    (Dask audit, session 50).
    """
    files = {"tls_ca_file": args.tls_ca_file, "tls_client_cert": args.tls_cert, "tls_client_key": args.tls_key}
    if not any(files.values()):
        return None
    options = dict(zip(files, ("--tls-ca-file", "--tls-cert", "--tls-key")))
    missing = [options[k] for k, v in files.items() if not v]
    if missing:
        raise CLIError(f"--tls-ca-file, --tls-cert and --tls-key go together (Dask's TLS needs the certificate "
                       f"authority, this client's certificate and its key); missing: {', '.join(missing)}.")
    address = args.scheduler or os.environ.get("FAIRKIT_DASK_SCHEDULER", "")
    if not address.startswith("tls://"):
        where = f"the scheduler is {address}" if address else "no scheduler is given"
        raise CLIError(f"--tls-ca-file, --tls-cert and --tls-key are for a tls:// scheduler, and {where}: give "
                       "--scheduler tls://HOST:PORT, or leave the certificates out.")
    from distributed import Security

    return Security(**{k: v for k, v in files.items() if v}, require_encryption=True)


#: sweep.json is a few kilobytes (its etas and settings); a larger file is not one a sweep wrote.
MAX_SWEEP_JSON_BYTES = 16 * 2**20


def _sweep_meta(folder: Path) -> dict:
    """The settings a sweep (or search) wrote in ``folder/sweep.json``."""
    meta_path = folder / "sweep.json"
    if not meta_path.exists():
        raise CLIError(f"{folder} has no sweep.json; give the --out folder of a 'python -m fairkit sweep' run.")
    data = _read_input(meta_path, MAX_SWEEP_JSON_BYTES)
    try:
        if len(data) > MAX_SWEEP_JSON_BYTES:
            raise ValueError(f"over {MAX_SWEEP_JSON_BYTES:,} bytes")
        meta = json.loads(data)
        if not isinstance(meta, dict) or not {"spec", "split_seed", "data_hash", "store"} <= meta.keys():
            raise ValueError("settings missing")
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise CLIError(f"{meta_path} is not the sweep.json a sweep writes ({exc}); give the --out folder "
                       "of a 'python -m fairkit sweep' run, or run the sweep again.") from exc
    return meta


def _sweep_context(folder: Path, meta: dict):
    from .data import DatasetSpec
    from .datasets import load_dataset
    from .split import split_dataset
    from .store import ResultStore

    if not meta.get("dataset") and not Path(meta["csv"]).exists():
        raise CLIError(f"The sweep's table {meta['csv']} is not there any more (moved or renamed?). Put it back "
                       f"there, or write its new path as \"csv\" in {folder / 'sweep.json'}.")
    frame = load_dataset(meta["dataset"])[0] if meta.get("dataset") else _read_table(meta["csv"])[0]
    spec = DatasetSpec.from_dict(meta["spec"])
    if meta.get("sample"):  # the sweep's sample, drawn again (its seed makes it the same rows)
        from .split import stratified_sample

        frame = stratified_sample(frame, spec, meta["sample"]["rows"], seed=meta["sample"]["seed"]).frame
    split = split_dataset(frame, spec, seed=meta["split_seed"])
    if split.data_hash != meta["data_hash"]:
        raise CLIError("The data changed since the sweep ran (content hash differs); run the sweep again.")
    split = _reserved(split, meta.get("threshold_rows"))  # the rows the sweep chose on, drawn again
    store = Path(meta["store"])
    if ((folder / "store").is_dir() and store.name == "store" and store.parent != folder.resolve()
            and (store.parent / "sweep.json").is_file()):
        # The sweep kept its runs in its own folder (no --store), and this is a copy of that
        # folder, the original still in place: the copy read the original's store, whatever the
        # copy held (upgrade audit, session 48). A store given with --store is no sweep folder's
        # own (no sweep.json beside it) and is kept, even where an earlier sweep left a store/.
        store = folder / "store"
    elif not store.exists() and (folder / "store").is_dir():
        # sweep.json names its store by its full path: a folder moved, renamed or sent on had its
        # runs "not in the store" (CLI audit, session 44). Its own store travels with it.
        store = folder / "store"
    elif not store.exists():
        raise CLIError(f"The sweep's results store {store} does not exist (was the folder moved, or the store "
                       f"deleted?). Put it back, or write its path as \"store\" in {folder / 'sweep.json'}.")
    return split, ResultStore(store)


def _key(resolve, path, what: str):
    """The key file given on the command line, else the configured one (None: none), by
    :func:`fairkit.keys.resolve_private` or :func:`~fairkit.keys.resolve_public`."""
    from . import keys

    try:
        key = resolve(path)
    except keys.KeyFileError as exc:
        raise CLIError(f"The {what} key: {exc}") from exc
    private = keys.private_trust_key_path(path) if resolve is keys.resolve_public else None
    if private:  # a problem, so on stderr even under --quiet
        print(f"WARNING: the {what} key {private} is a private signing key: whoever holds it can sign bundles and "
              "sign-offs. Check with the public key (fairkit-public-key.pem) and keep this file with the people "
              "who sign.", file=sys.stderr)
    return key


def _sweep_results(folder: Path, meta: dict, store) -> pd.DataFrame:
    """The sweep's results.csv, checked against the sweep.json beside it: a table that does not
    parse, or lacks a method the sweep trained, is refused (a record built from it would misstate
    what was compared). Without the file, the store's records."""
    path = folder / "results.csv"
    if not path.exists():
        return store.records()
    again = ("It was cut short or damaged (by an earlier fairkit's interrupted sweep, or another program). "
             "Run the sweep again: its runs come back from the store.")
    try:
        results = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise CLIError(f"{path} cannot be read as the sweep's results ({type(exc).__name__}). {again}") from exc
    missing = {"run_id", "method", "eta", "seed"} - set(results.columns)
    # A sweep trains every method it names; a search's trials need not have tried each.
    lost = (sorted(set(meta.get("methods") or ()) - set(results["method"].astype(str)))
            if not missing and meta.get("source") != "search" else [])
    if missing or results.empty or lost:
        what = (f"no column {', '.join(sorted(missing))}" if missing else "no runs" if results.empty
                else f"no run of {', '.join(lost)}, which sweep.json says it trained")
        raise CLIError(f"{path} has {what}. {again}")
    return results


def _check_not_reviewed(out: Path, log) -> None:
    """Refuse to replace a bundle the committee has reviewed: v2 exported over a signed-off v1's
    file turned v1's review into "This bundle cannot be trusted ... Do not deploy it", and the
    record it signed off could not be read any more (lifecycle audit, session 45)."""
    from .audit import verdict_entries
    from .export import BundleFormatError, BundleIntegrityError, read_bundle_record

    if not out.is_file():
        return
    try:
        sha = read_bundle_record(out, trusted_key=False)["manifest_sha256"]
    except (BundleIntegrityError, OSError, ValueError):
        return  # not a readable bundle: nothing reviewed to keep
    verdicts = verdict_entries(log, sha)
    counted = verdicts[verdicts["kind"].isin(("signoff", "dissent"))]
    if len(counted):
        raise CLIError(f"--out {out} holds a bundle the committee has reviewed ({len(counted)} sign-off(s) or dissent(s), "
                       f"the latest #{int(counted['id'].max())}): replacing it would leave the decision they reviewed "
                       "unreadable. Export to another path (keep each decision's bundle).")


def _check_logged_runs(folder: Path, meta: dict, results: pd.DataFrame, log) -> None:
    """Refuse a results.csv whose runs are not the ones its sweep logged (rows deleted hid better
    runs from the signed frontier). A folder whose sweep logged to another log is noted, not
    refused: it may come from someone else's home."""
    from .audit import logged_runs_problem, sweeps_with_runs

    entry = meta.get("audit_entry")
    if not isinstance(entry, int) or isinstance(entry, bool):
        # Written by an earlier fairkit, which logged no run ids, or the entry taken out of
        # sweep.json: the log's own sweeps of this data still tell whether these runs were one.
        logged, match = sweeps_with_runs(log, meta["data_hash"], results["run_id"])
        if logged and match is None:
            print(f"WARNING: {folder / 'sweep.json'} names no audit entry, and the {len(results):,} run(s) of its "
                  f"results.csv are those of none of the {logged} sweep(s) {log.path} logged on this data: rows may "
                  "have been removed, added or changed since. Run the sweep again into this folder (its stored runs "
                  "are not retrained) and export from it.", file=sys.stderr)
        return
    logged_in = meta.get("audit_log")
    if logged_in and Path(logged_in) != log.path.resolve():
        print(f"NOTE: this sweep was logged in {logged_in}, not in {log.path}: its results.csv was not checked "
              "against the runs it logged (give that log with --audit to check it).")
        return
    problem = logged_runs_problem(log, entry, meta["data_hash"], results["run_id"])
    if problem:
        raise CLIError(f"{folder / 'results.csv'}: {problem}. The record's frontier would not be the sweep's. Run "
                       "the sweep again into this folder (its stored runs are not retrained) and export from it.")


def _retrained_hint(store, key: str, results: pd.DataFrame) -> str:
    """What to export instead of a run that cannot be: the run that trained the same setting again
    (a sweep of this fairkit gives a run of an earlier one a new id), else where to look."""
    setting = store.earlier_setting(key)
    if setting and {"run_id", "method", "eta", "seed"} <= set(results.columns):
        same = results[(results["method"].astype(str) == setting["method"]) & (results["seed"] == setting["seed"])
                       & np.isclose(pd.to_numeric(results["eta"], errors="coerce"), setting["eta"])
                       & (results["run_id"].astype(str) != key)]
        if len(same):
            other = str(same["run_id"].iloc[0])
            return (f"The same setting ({setting['method']}, eta {setting['eta']:g}, seed {setting['seed']}) was "
                    f"trained again by a later sweep as run {other}: export that one (--run {other}); a sweep "
                    "of this fairkit gives such runs new ids.")
    return "See the run_id column of results.csv, or run the sweep again to train it afresh (under a new run id)."


def cmd_export(args) -> int:
    from . import keys
    from .audit import chain_head, command_line_user, record_export
    from .export import (DecisionRecord, check_run_figures, export_bundle, model_limitations, sweep_compared,
                         without_unchecked)
    from .store import output_mode

    sign_key = _key(keys.resolve_private, args.sign_key, "signing")
    meta = _sweep_meta(Path(args.store))
    # The sweep's data and results store are the export's inputs too: neither may be its --out.
    _check_outputs(args, also=[(what, meta[key]) for what, key in (("the sweep's data", "csv"),
                                                                    ("the results store", "store")) if meta.get(key)])
    split, store = _sweep_context(Path(args.store), meta)
    row = store.get(args.run)
    results = _sweep_results(Path(args.store), meta, store)
    log = _audit_log(args)
    _check_logged_runs(Path(args.store), meta, results, log)
    from .export import recover_interrupted_exports
    from .store import stale_temporaries

    for note in recover_interrupted_exports(log, stale_temporaries(Path(args.out))):
        print(f"NOTE: {note}")
    _check_not_reviewed(Path(args.out), log)
    if row is None:
        raise CLIError(f"Run {args.run} in {store.root} cannot be exported: {store.problem(args.run)}. "
                       + _retrained_hint(store, args.run, results))
    if str(args.run) not in set(results["run_id"].astype(str)) and row.get("split_seed") is None:
        # A store shared by sweeps of other splits or tables holds runs this split's test rows
        # trained (CLI audit, session 44: 125 of 200 test rows; accuracy 0.790 recorded for 0.765).
        # A search's re-split runs say their split, and build_record names them.
        raise CLIError(f"Run {args.run} is not one of this sweep's runs (its results.csv): the store {store.root} "
                       "may hold runs of other sweeps, on other splits or tables, whose figures on this split would "
                       "be wrong. Export it from the folder of the sweep that trained it; if that was this folder "
                       "and a later sweep replaced its results.csv, run that sweep again, with its settings, "
                       "into this folder or a new one (its stored runs are reused, not retrained) and export "
                       "from there.")
    try:
        # The table is text anyone with the folder can edit: its figures must be its models'.
        unchecked = check_run_figures(results, store.load_model, split, earlier=store.earlier_runs(), stored=store.get,
                                      remedy=(
            "Run the sweep again (its stored runs are not retrained) and export from its folder."))
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    results, note = without_unchecked(results, unchecked)  # the chosen run's model is loaded below
    if note:
        print(f"NOTE: {note}")
    front = _frontier(results, meta["unfairness"], meta["performance"])
    record = DecisionRecord(purpose=args.purpose or "", rationale=args.rationale or "", decider=args.decider or "",
                            fairness_definition=meta["fairness"], fairness_rationale=args.fairness_rationale or "")
    model = store.load_model(args.run)
    calibrator = None
    # The calibrator's and the record's warnings (groups a map was not fitted on, a map of all
    # rows that would reverse the order) reached stderr as Python's, with file paths and code
    # lines (export audit, session 51): said once each as notes below, as every other problem is.
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always", UserWarning)
        if args.calibration != "none":
            from .calibration import calibrate_on_validation

            try:  # the Groups and Export pages' calibrator, fitted the same way
                calibrator = calibrate_on_validation(model, split, method=args.calibration).calibrator
            except ValueError as exc:
                raise CLIError(f"Group calibration ({args.calibration}) is not possible here: {str(exc).rstrip('.')}. "
                               "Export with --calibration none, or another method. Nothing was written.") from exc
        try:
            def publish(b):
                # Checked again at the end: a sign-off given to the bundle at --out while this export
                # ran (seconds to minutes) was replaced with it all the same (concurrency audit,
                # session 46). Then logged before the bundle appears at --out: never one without the other.
                _check_not_reviewed(Path(args.out), log)
                return record_export(log, bundle_path=b["path"], manifest_sha256=b["manifest_sha256"],
                                     record=b["record"], unfairness_axis=meta["unfairness"],
                                     performance_axis=meta["performance"], signing_key=sign_key or False,
                                     # Who ran the export, beside the decider it names (typed: anyone's
                                     # name), as sweeps and scores are logged.
                                     actor=command_line_user())

            with _writing(args.out):
                out = export_bundle(args.out, model=model, split=split, run=row, record=record,
                                    frontier=front, sweep=sweep_compared(results), calibrator=calibrator,
                                    threshold=args.threshold, n_boot=args.n_boot, audit_head=chain_head(log),
                                    sign_key=sign_key or False, sample=meta.get("sample"),
                                    before_publish=publish, mode=output_mode(args.out))
        except ValueError as exc:
            raise CLIError(str(exc)) from exc
    for note in dict.fromkeys(str(w.message) for w in said if issubclass(w.category, UserWarning)):
        print(f"NOTE: {note}")
    for w in said:  # the others as before (a library's deprecation, a numerical warning)
        if not issubclass(w.category, UserWarning):
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    entry = out["audit_entry"]
    signed = f"signed by key {out['signed_by']}" if out["signed_by"] else "unsigned (give --sign-key to sign it)"
    # Which log: without FAIRKIT_HOME each working folder has its own (CLI audit, session 44).
    print(f"Wrote {out['path']} (manifest SHA-256 {out['manifest_sha256']}; {signed}; audit entry {entry} "
          f"in {log.path}).")
    # The Export page says when a model decides alike for everyone or scores no better than the
    # majority decision; the command line said nothing, the record alone did (CLI audit, session 44).
    for limitation in model_limitations(out["record"]):
        print(f"NOTE (in the record's limitations): {limitation}")
    if calibrator is not None:
        # What the Export page shows beside its calibration choice: whether it made calibration
        # worse on test, and which groups use another group's map.
        from .record import calibration_fallbacks_text, calibration_text

        content = out["record"]["content"]
        cal = content["selected"].get("calibration")
        print(" ".join(x for x in (f"NOTE (in the record): calibration {calibration_text(cal)}.",
                                   content.get("calibration_note", ""), calibration_fallbacks_text(cal)) if x))
    return 0


def cmd_keygen(args) -> int:
    from . import keys

    # The outgoing key and the log first: a key file or a log that cannot be used leaves no new
    # key behind (a new key whose hand-over failed could be neither handed over nor made again).
    old = log = None
    if args.replaces:
        old = _key(keys.resolve_private, args.replaces, "outgoing")
        log = _handover_log(args, old)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    private, public = out / "fairkit-signing-key.pem", out / "fairkit-public-key.pem"
    # lexists: a dangling link counts as taken (writing through it puts the key where its maker chose).
    taken = [p.name for p in (private, public) if os.path.lexists(p)]
    if taken:
        alone = ("" if len(taken) == 2 else
                 f" {taken[0]} is there without its pair (an interrupted keygen?): if nothing was signed or checked "
                 "with it, remove it and run keygen again.")
        raise CLIError(f"{', '.join(taken)} already in {out} (a file or a link); a new key would replace the "
                       f"organisation's. Choose another folder.{alone}")
    try:
        key = keys.write_key_pair(private, public)
    except keys.KeyFileError as exc:  # made since the check above
        raise CLIError(str(exc)) from exc
    print(f"Wrote {private} (private: keep it secret; export --sign-key, {keys.SIGNING_KEY_ENV}) and {public} "
          f"(public: score --trust, {keys.TRUST_KEY_ENV}); key id {keys.key_id(key)}.")
    if args.replaces:
        _handover(log, old, key)
    else:
        print("Replacing the organisation's key? Record the hand-over (fairkit audit handover --from-key OLD "
              "--to-key NEW), or the decisions and bundles signed with the old key stop counting under the new one.")
    return 0


def _handover_log(args, old):
    """The audit log a hand-over from ``old`` goes into, checked before any new key is made: it
    must exist (the hand-over links the old key's decisions, which are in it: a mistyped
    FAIRKIT_HOME made a new, empty log and recorded the hand-over there, and the real log never
    learnt of it) and must not hold a hand-over of ``old`` already."""
    from .audit import handover_problem
    from .store import default_home

    path = _audit_path(args)
    if not path.exists():
        where = ("Check the path given with --audit." if args.audit else
                 f"Check FAIRKIT_HOME (now {default_home()}), or give the log with --audit.")
        raise CLIError(f"No audit log at {path}: a hand-over is recorded in the log that holds the outgoing key's "
                       f"decisions. {where} Nothing was written.")
    log = _audit_log(args)
    problem = handover_problem(log, old)
    if problem:
        raise CLIError(f"{problem} Nothing was written.")
    return log


def _handover(log, old, new) -> None:
    """Record in the audit log that ``old`` hands the organisation's trust over to ``new``."""
    from . import keys
    from .audit import command_line_user, record_handover

    try:
        entry = record_handover(log, actor=command_line_user(), old_key=old, new_key=new)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    print(f"Logged as audit entry {entry} in {log.path}: key {keys.key_id(old)} hands over to key {keys.key_id(new)}. "
          f"Checked with either public key, the log and the bundles count the old key's signatures up to entry {entry} "
          f"and the new key's from then on; the old key signs nothing after it. Sign with the new key from now on "
          f"({keys.SIGNING_KEY_ENV}), keep the old private key retired, and give the log (--audit) wherever bundles "
          "signed before are checked.")


def cmd_audit(args) -> int:
    from . import keys
    from .audit import recorded_head
    from .export import BundleFormatError, BundleIntegrityError, read_bundle_record
    from .store import default_home

    path = _audit_path(args)
    if not path.exists():
        # A default log made empty here verified: a mistyped FAIRKIT_HOME read as an unbroken record.
        raise CLIError(f"No audit log at {path}." if args.audit else
                       f"No audit log at {path}: nothing has been logged in this home. Check FAIRKIT_HOME "
                       f"(now {default_home()}), or give the log with --audit.")
    # Listing and verifying only read the log, so a log this user cannot write (an archived copy
    # on read-only media) is opened read-only and checked as it is. Where it can be written it is
    # opened as before: a log from before the hash chain is brought up to date.
    writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
    if args.action == "handover":
        if not (args.from_key and args.to_key):
            raise CLIError("audit handover needs --from-key (the outgoing private key) and --to-key (the incoming one).")
        old = _key(keys.resolve_private, args.from_key, "outgoing")
        new = _key(keys.resolve_private, args.to_key, "incoming")
        _handover(_handover_log(args, old), old, new)
        return 0
    if args.from_key or args.to_key:
        raise CLIError("--from-key and --to-key belong to 'audit handover'.")
    if args.action == "backup" or args.out:
        if not (args.action == "backup" and args.out):
            raise CLIError("audit backup needs --out (a new file for the copy); --out belongs to 'audit backup'.")
        copy = _audit_log(args, read_only=True).backup(args.out)
        print(f"Copied the audit log {path} to {args.out} (one file, the write-ahead file's entries included): {copy}")
        return 0 if copy.ok else 1
    from .audit import AuditLogAltered, AuditLogError, vouched_for

    try:
        # Read-only wherever it can be: opened to write, a check waited 30 s behind a writer
        # stuck mid-append for a lock it never needed (concurrency audit, session 46).
        log = _audit_log(args, read_only=True)
    except AuditLogAltered as exc:
        # The check failed (1), as for an altered entry; it exited 2, as bad input (hostile-input
        # audit, session 53).
        print(f"The audit log was altered: {exc}", file=sys.stderr)
        return 1
    except AuditLogError:
        if not writable:
            raise
        log = _audit_log(args)  # an earlier fairkit's log, brought up to date where it can be written
    if args.action == "list":
        entries = log.entries(kind=args.kind, last=args.last)
        # Which key signed a head over each entry of its own: after a key rotation, which
        # decisions carry which key's signature was nowhere to be seen (lifecycle audit, session 45).
        head_keys = log.heads().groupby("entry_id")["key_id"].agg(lambda k: ", ".join(dict.fromkeys(k))).to_dict()
        if args.last is not None:
            total = log.count(args.kind)
            if total > len(entries):
                of = f"{total:,} {args.kind} entries" if args.kind else f"{total:,} entries"
                print(f"The newest {len(entries):,} of {of} (leave out --last to list them all):")
        for e in entries.itertuples():
            how = vouched_for(e.details.get("identity"))
            search = e.details.get("search") if e.details.get("source") == "search" else None
            what = f"  (search, study {search.get('study', '?')})" if isinstance(search, dict) else ""
            if e.kind == "sweep" and "source" not in e.details:
                # Entries of an earlier fairkit did not say whether a sweep or a search made the runs.
                what = "  (sweep or search: not recorded by the earlier fairkit that logged it)"
            if e.details.get("stopped") == "cancelled":
                what += f"  (cancelled: the {e.details.get('runs', '?')} run(s) it finished)"
            if e.kind == "handover":
                what += f"  (key {e.details.get('old_key_id', '?')} hands over to key {e.details.get('new_key_id', '?')})"
            if e.id in head_keys:
                what += f"  (head signed by key {head_keys[e.id]}; checked by audit verify --trust)"
            print(f"#{e.id}  {e.ts}  {e.kind:9s}  by {e.actor} ({how})  subject {e.subject or '-'}{what}")
    trusted = _key(keys.resolve_public, args.trust, "trusted")
    ring = log.key_ring(trusted)  # with the keys handed over to or from it in this log
    anchors, unlogged, untrusted, unread = [], [], [], []
    exported = set(log.entries(kind="export")["subject"].astype(str)) if args.bundle else set()
    for bundle in args.bundle or []:
        try:
            # The key --trust named (or the configured one), not read_bundle_record's own default.
            read = read_bundle_record(bundle, trusted_key=ring or False)
        except BundleFormatError as exc:
            # Another fairkit's format (or a format field edited): its head goes unchecked, the
            # log is checked all the same (the command stopped here, and a dissent removed from
            # the log went unsaid: hostile-input audit, session 53).
            unread.append(f"{Path(bundle).name}: {exc} Its recorded audit head is not checked: verify it with the "
                          "fairkit that exported it.")
            continue
        except BundleIntegrityError as exc:
            # A check that failed, as an altered log's is (exit 1): a monitoring script testing
            # for 1 missed a tampered bundle, which exited 2 as bad input (committee audit, session 53).
            untrusted.append(f"{Path(bundle).name} cannot be trusted: {exc}")
            continue
        head = recorded_head(read["record"])
        if head is None:
            print(f"{Path(bundle).name} records no audit head (exported before heads were recorded).")
        else:
            anchors.append(head)
        if str(read["manifest_sha256"]) not in exported:
            # Its head was taken before its own export entry: a log restored from a backup made in
            # between holds the head and not the export (CLI audit, session 44: the check passed).
            unlogged.append(Path(bundle).name)
    anchors += list(args.head or [])  # heads a monitoring job kept (score prints one per batch)
    check = log.verify(public_key=trusted, anchors=anchors)
    for bad in check.unreadable:  # from the check's own reading of the log
        print(f"#{bad['id']}  cannot be read: {bad['problem']}", file=sys.stderr)
    for name in unlogged:
        print(f"{name}: its export is not in the log (no export entry holds its manifest's hash): the log was "
              "restored from an earlier copy, or the entry removed.", file=sys.stderr)
    for said in untrusted + unread:
        print(said, file=sys.stderr)
    kept = len(args.head or [])
    if anchors and check.ok and not unlogged:
        # Bundles and kept heads counted apart: "each of the 1 bundle(s)" was said of a --head
        # alone, and of a bundle that was not read (hostile-input audit, session 53).
        said = [f"the head recorded in each of the {len(anchors) - kept} bundle(s)"] if len(anchors) > kept else []
        said += [f"each of the {kept} head(s) given with --head"] if kept else []
        text = ", and ".join(said)
        print(f"{text[:1].upper()}{text[1:]}, is in the log." if len(said) > 1 else f"{text[:1].upper()}{text[1:]} is in the log.")
    print(str(check), file=sys.stdout if check.ok else sys.stderr)
    # A bundle this fairkit cannot read is a check that did not pass (1), as an altered one: its
    # format field may have been edited (review of session 53), which only its own fairkit could tell.
    return 1 if not check.ok or unlogged or untrusted or unread else 0


def _numeric_inputs(bundle) -> list:
    """The raw columns the bundle's preprocessor scales as numbers."""
    return [c for name, _, cols in bundle.preprocessor.transformers_ if name == "num" for c in cols]


def _not_numbers(frame: pd.DataFrame, columns) -> list[str]:
    """One line per column holding text, or an infinite or too large value, where a number belongs."""
    from .data import MAX_ABS_VALUE, non_numeric_cells

    out = []
    for col in columns:
        values = frame[col]
        found = non_numeric_cells(values)
        too_large = f"an infinite or too large value (numbers beyond ±{MAX_ABS_VALUE:.0e} cannot be scaled)"
        for what, rows in (("text", found.text), (too_large, found.infinite)):
            if len(rows):
                out.append(f"column {col} has {what} in {len(rows):,} row(s), e.g. {values.iloc[rows[0]]!r} "
                           f"in data row {rows[0] + 1}")
    return out


def cmd_score(args) -> int:
    from . import keys
    from .data import repeated_names, with_columns_appended
    from .export import BundleIntegrityError, InputOutOfRange, load_bundle
    from .monitor import drift_report, labels_unread, read_batch_labels, unchecked_reason
    from .record import revision_note
    from .store import strict_json

    if args.score_column == args.decision_column:
        raise CLIError(f"--score-column and --decision-column both name {args.score_column!r}; the scored CSV adds "
                       "two columns, so give them two names.")
    trusted = _key(keys.resolve_public, args.trust, "trusted")
    # With the keys the audit log hands over to or from the trusted one: after a key rotation,
    # a bundle signed before it was refused (lifecycle audit, session 45).
    ring = _audit_log(args, read_only=True).key_ring(trusted) if trusted and _audit_path(args).exists() else None
    try:
        bundle = load_bundle(args.bundle, expected_manifest_sha256=args.expected_manifest_sha256,
                             trusted_key=ring or trusted or False)
    except BundleIntegrityError as exc:
        raise CLIError(str(exc)) from exc
    print(f"Bundle {Path(args.bundle).name}: {bundle.signature_status}"
          + ("" if args.expected_manifest_sha256 else "; manifest not checked against a recorded hash "
             "(--expected-manifest-sha256)") + ".")
    # What it predicts: a bundle for another target scored the batch and printed "accuracy 0.683",
    # read as the credit model's (lifecycle audit, session 45).
    from .data import label_text
    from .record import fmt_eta, fmt_threshold, method_label

    d = bundle.decision
    print(f"It predicts {bundle.spec.target} = {label_text(bundle.spec.positive_label)} (decision 1) with "
          f"{method_label(d['method'])} at eta {fmt_eta(d['eta'])}, threshold {fmt_threshold(bundle.threshold)}; exported as run "
          f"{d['run_id']} on {bundle.record.get('created', '?')}.")
    bundle_notes = []  # printed, and in --json: a monitoring job reads them (upgrade audit, session 50)
    if bundle.version_changes:
        bundle_notes.append(f"the bundle was made with {', '.join(bundle.version_changes)}; its scores here may differ "
                            "from its record's in the last digits, or more. Use those versions to reproduce it exactly.")
    older = revision_note(bundle.record)
    if older:
        # The drift check reads the record's intervals beside the batch's, made by this version.
        bundle_notes.append(f"{older} The drift check compares the record's intervals with this version's, so its "
                            "false-alarm rate is approximate.")
    for note in bundle_notes:
        print(f"Note: {note}")
    if bundle.needs_sensitive_at_predict:
        print(f"This model reads the sensitive attribute at prediction time: {'; '.join(bundle.decision['sensitive_uses'])}.")
    # The hash the audit entry records is of the bytes scored, read before anything is written.
    frame, input_hash, raw = _read_table(args.csv, keep_bytes=True)
    _print_read_notes(frame)
    if frame.shape[1] == 0:
        raise CLIError(f"{args.csv} is empty: no header and no rows to score. Export the rows with "
                       "their header and run again.")
    if len(frame) == 0:
        raise CLIError(f"{args.csv} has a header but no rows to score (an empty query or filter?). "
                       "Export the rows to score and run again.")
    twice = repeated_names(frame)
    if twice:  # scored from the first copy, silently (CLI audit, session 44); training refuses it too
        raise CLIError(f"{args.csv} names the column(s) {', '.join(twice)} more than once; which one the model "
                       "should read is not known. Give every column a unique name and run again.")
    added = (args.score_column, args.decision_column)
    taken = [c for c in added if c in frame.columns]
    if taken:
        # The scored copy adds these: a CSV got two columns of one name, a Parquet lost the batch's own.
        # A model of an outcome named "decision" met it with its own labels, and renaming them
        # turned the fairness check off (new-user audit, session 52): the added ones can be named.
        labels = (f" ({bundle.spec.target} is the outcome the model predicts: it is read as the batch's labels for "
                  "the fairness check, so keep its name)") if bundle.spec.target in taken else ""
        raise CLIError(f"{args.csv} already has a column named {' and '.join(taken)}, which the scored copy adds"
                       f"{labels}. Name the added columns otherwise with --score-column and --decision-column "
                       "(for example --decision-column model_decision)" + ("" if labels else ", or rename the batch's")
                       + ", and run again.")
    missing = bundle.missing_columns(frame)
    if missing:
        raise CLIError(f"{args.csv} lacks column(s) the model needs: {', '.join(missing)}.")
    bad = _not_numbers(frame, _numeric_inputs(bundle))
    if bad:
        raise CLIError(f"{args.csv}: {'; '.join(bad)}. The model was trained on numbers there; fix those "
                       "cells (or leave them empty, which is treated as missing) and run again.")
    started = not _audit_path(args).exists()
    log = _audit_log(args)
    if started:
        # A mistyped FAIRKIT_HOME made a new log, silently under --quiet, and this month's score
        # entry went there (lifecycle audit, session 45).
        print(f"NOTE: no audit log was at {log.path}: a new one was started there. If this deployment has one, "
              "check FAIRKIT_HOME (or give it with --audit).", file=sys.stderr)
    from .audit import review_status

    review = review_status(log, bundle.manifest_sha256, trusted or None)
    print(f"This bundle: {review}.")
    try:
        scores, unseen = bundle.scored(frame)
    except InputOutOfRange as exc:
        raise CLIError(f"{args.csv}: {exc}") from exc
    if unseen:  # a problem, so on stderr even under --quiet; the summary and the audit entry keep it
        print(f"WARNING: {unseen}", file=sys.stderr)
    changes = bundle.input_changes(frame)
    for change in changes:  # as unseen groups: the summary and the audit entry keep them
        print(f"WARNING: {change}.", file=sys.stderr)
    from .frontier import one_decision_note
    from .stats import decide

    decisions = decide(scores, bundle.threshold).astype(int)  # the one decision rule, as the bundle's predict
    # Gaps of a batch nobody is told apart in are about 0 and say nothing of fair treatment;
    # nothing said so (lifecycle audit, session 45).
    alike = one_decision_note(float(decisions.mean()), "batch") if len(decisions) else None
    if alike:
        print(f"NOTE: {alike}", file=sys.stderr)
    # The input's cells as written (an identifier's leading zeros, a code's spelling), with the
    # two columns added; a Parquet input (typed cells) or rows that cannot be matched one to one
    # are written as read.
    scored = with_columns_appended(raw, {args.score_column: [repr(float(s)) for s in scores],
                                         args.decision_column: decisions}, len(frame))
    del raw
    if scored is None:
        out = frame.copy()
        out[args.score_column] = scores
        out[args.decision_column] = decisions
        # A plain CSV whatever the name (pandas would infer compression from a path's extension).
        scored = out.to_csv(index=False).encode()
        del out
    report_path = _report_path(args.out)
    # An earlier batch's report must not stay beside this batch's scores: it would describe other
    # rows (an interrupted run, or this batch with no check, would leave it there).
    with _writing(report_path):
        report_path.unlink(missing_ok=True)
    scored_sha256 = hashlib.sha256(scored).hexdigest()
    status = bundle.signature_status
    summary = args.summary = {"command": "score", "bundle": str(args.bundle),
                              # Fields, not the object's repr (lifecycle audit, session 45).
                              "signature_status": {"state": status.state, "key_id": status.key_id, "text": str(status)},
                              "predicts": {"target": bundle.spec.target, "positive_label": bundle.spec.positive_label,
                                           "method": d["method"], "eta": d["eta"], "threshold": bundle.threshold,
                                           "run_id": d["run_id"]},
                              "files": [str(args.out)],
                              "rows": len(frame), "drift_checked": False, "drifted": False, "drift": [],
                              "fairness": None, "fairness_notes": [], "bundle_notes": bundle_notes,
                              "unseen_groups": unseen, "input_changes": changes, "review_status": review}
    known, labels = bundle.target_values, None
    if bundle.spec.target in frame:
        labels = read_batch_labels(bundle.spec, frame, known)
        summary["unread_labels"] = labels.unread
        if labels.unread:
            print(f"NOTE: {labels.note(bundle.spec)}.")
        negative = pd.unique(frame.loc[labels.y == 0, bundle.spec.target].astype(str))
        if known is None and len(negative) > 1:
            print(f"NOTE: this bundle does not record the labels it was trained on (it was exported before bundles did), "
                  f"so every value of {bundle.spec.target} but the positive one counts as a negative outcome here: "
                  f"{', '.join(map(repr, negative[:5]))}{' ...' if len(negative) > 5 else ''}. Rows not labelled yet "
                  "should be left empty; exporting the model again records its labels.")
    report = drift_report(bundle, frame, scores, n_boot=args.drift_n_boot, alpha=args.drift_alpha, labels=labels)
    from .audit import command_line_user, record_score

    # Logged before the decisions appear at --out: a full disk or a killed job left them there
    # with no audit entry, and the message said "the log is as it was" (concurrency audit,
    # session 46). If the entry cannot be written, --out is left as it was.
    entry = _write_output(args.out, scored, before_replace=lambda: record_score(
        log, actor=command_line_user(), manifest_sha256=bundle.manifest_sha256, input_hash=input_hash,
        rows=len(frame), drift=report, unseen_groups=unseen, input_changes=changes))
    del scored
    print(f"Wrote {len(frame):,} scored rows to {args.out}.")
    # Score entries are covered by no signature until the next export or verdict: months of
    # drift verdicts could be deleted and the keyed check still pass (lifecycle audit, session
    # 45). The head after this entry, kept with the job's own records, anchors them.
    from .audit import chain_head

    head_id, head_hash = chain_head(log)
    print(f"Logged as audit entry {entry} in {log.path}; the log's head is now {head_id}:{head_hash} (keep it with "
          "this batch's records: `fairkit audit verify --head` with it checks later that no entry up to it was "
          "removed or changed).")
    summary["audit_entry"] = entry
    summary["audit_head"] = f"{head_id}:{head_hash}"
    if report is None:
        why = unchecked_reason(bundle.spec, frame, known, bundle.known_groups(), labels)
        if args.fail_on_drift and bundle.spec.target in frame and labels_unread(bundle.spec, frame, known, labels):
            # Labels it cannot read are not "no drift": a monitoring job asked for the check.
            raise CLIError(f"No fairness check: {why}. --fail-on-drift asks for one; nothing drifted is not known.")
        print(f"No fairness check: {why}.")
        return 0
    # Which scored file it describes: two jobs scoring into one --out at once left one batch's
    # decisions beside the other's report, nothing tying either to its rows (concurrency audit,
    # session 46).
    report = {**report, "scored_file": Path(args.out).name, "scored_sha256": scored_sha256, "input_sha256": input_hash,
              "audit_entry": entry}
    # Strict JSON, as the bundle's metrics.json: a group with no selections has no precision (null).
    _write_output(report_path, strict_json(report, indent=1).encode())
    summary["files"].append(str(report_path))
    summary.update(drift_checked=True, drifted=bool(report["drifted"]), drift=report["drift"],
                   fairness=report["summary"], fairness_notes=report["notes"])
    print(report["summary"])
    for note in report["notes"]:  # which groups the batch's gaps compared, as the record says of its own
        print(f"  NOTE: {note}.")
    for flag in report["drift"]:
        print(f"  DRIFT: {flag['message']}")
    print(f"Fairness report: {report_path}")
    if report["drifted"] and args.fail_on_drift:
        print(f"Fairness drift found: exiting {EXIT_DRIFT} (--fail-on-drift).", file=sys.stderr)
        return EXIT_DRIFT
    return 0


def _progress_wanted(args) -> bool:
    """Draw a progress bar: on a terminal only (a log or a pipe gets no bar), and not under --quiet."""
    return not args.quiet and sys.stderr.isatty()


#: Commands that print a ``--json`` summary.
JSON_COMMANDS = ("sweep", "search", "score")


def _add_output_flags(parser, sub) -> None:
    """``--quiet`` on every command (before or after its name) and ``--json`` on sweep, search and score."""
    quiet = ("no messages or progress bar, only problems on stderr (and, for sweep, search and score, the --json "
             "document)")
    parser.add_argument("-q", "--quiet", action="store_true", help=quiet)
    for p in sub.choices.values():
        # SUPPRESS: a subcommand without the flag leaves the value given before its name.
        p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=quiet)
    for name in JSON_COMMANDS:
        sub.choices[name].add_argument(
            "--json", action="store_true",
            help="print one JSON summary on stdout (files written, counts, findings); messages go to stderr")


#: Commands that read or write fairkit's home (its run store, audit log and exports).
HOME_COMMANDS = ("sweep", "search", "export", "audit", "score")


def _run(args) -> int:
    """Run the command; under --json its messages go to stderr and its summary alone to stdout."""
    stdout = sys.stdout
    as_json = getattr(args, "json", False)
    _check_outputs(args)
    _check_not_foreign(args)
    if args.command in HOME_COMMANDS:
        from .store import home_exposure

        from .keys import private_key_path

        exposed = home_exposure(key_file=private_key_path(getattr(args, "sign_key", None)))
        if exposed:  # a problem, so on stderr even under --quiet
            print(f"WARNING: {exposed}", file=sys.stderr)
    with contextlib.ExitStack() as stack:
        if args.command in ("export", "score"):
            from .store import WriterBusy, exclusive_writer

            # One job per output file: two scores into one --out interleaved one batch's
            # decisions with the other's report (concurrency audit, session 46).
            with _writing(args.out):
                try:
                    stack.enter_context(exclusive_writer(args.out))
                except WriterBusy as exc:
                    raise CLIError(f"{str(exc)[0].upper()}{str(exc)[1:]}; nothing was written. Wait for it to "
                                   "finish, or write to another --out.") from exc
        if args.quiet:
            stack.enter_context(contextlib.redirect_stdout(stack.enter_context(open(os.devnull, "w"))))
        elif as_json:
            stack.enter_context(contextlib.redirect_stdout(sys.stderr))
        status = args.func(args)
    if as_json:
        from .store import strict_json

        print(strict_json({**args.summary, "exit_status": status}), file=stdout)
    return status


def main(argv=None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return its exit status.

    Parameters
    ----------
    argv : list of str, optional

    Returns
    -------
    int
        0, or the status the module docstring lists (2: bad arguments or data).
    """
    with _visible_output(), _terminate_as_interrupt():
        return _main(argv)


class Terminated(KeyboardInterrupt):
    """SIGTERM (a service manager, ``kill``), handled as Ctrl-C is: the same clean-up and message."""


@contextlib.contextmanager
def _terminate_as_interrupt():
    """While a command runs, SIGTERM raises :class:`Terminated` (in the main thread only, where
    Python delivers signals; the previous handler comes back after)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


#: What an interrupted command leaves, said after "Interrupted".
INTERRUPTED = {
    "sweep": "the runs it finished are kept in its store; the same command goes on from there",
    "search": "the runs of the trials it finished are kept in its store; the same command goes on from there",
    "export": "a bundle appears at --out only once its audit entry is written, so there is none unless its "
              "'Wrote' line was printed",
    "score": "the scores are written whole or not at all, and no earlier batch's fairness report is left beside them",
}


def _main(argv) -> int:
    from .audit import KINDS as AUDIT_KINDS
    from .monitor import ALPHA as DRIFT_ALPHA, alpha_ok

    # Raw text: the version line names a folder, and argparse would wrap a long one.
    # The name it was run by: the installed script's usage lines said "python -m fairkit".
    prog = "fairkit" if Path(sys.argv[0]).name == "fairkit" else "python -m fairkit"
    parser = _Parser(prog=prog, description="fairkit: fair training and trade-offs",
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("datasets", help="list the bundled datasets")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("validate", help="check a table and a spec")
    _add_data_args(p)
    p.set_defaults(func=cmd_validate)

    from .methods import DEFAULT_METHODS, METHODS
    from .metrics import RARE_OUTCOME
    from .sweep import BUDGET_PER_GRID_POINT, DASK_TIMEOUT, DEFAULT_SPACING

    p = sub.add_parser("sweep", help="train methods over an eta grid and write the frontier")
    _add_data_args(p)
    p.add_argument("--methods", type=_names, help=f"comma-separated, from {','.join(METHODS)} "
                                     f"(default {','.join(DEFAULT_METHODS)})")
    p.add_argument("--etas", type=_floats, help="comma-separated eta values for every method (default: each method's grid; "
                                  "a baseline ignores them, a value out of a method's range is refused)")
    p.add_argument("--n-etas", type=_int_at_least(2, "a grid holds 0 and at least one other eta", MAX_N_ETAS),
                   default=8,
                   help="size of the default grids (default %(default)s)")
    p.add_argument("--spacing", type=_spacing, default=DEFAULT_SPACING,
                   help="adaptive placement: add etas until neighbouring models differ by at most this much "
                        f"validation unfairness (default {DEFAULT_SPACING:g})")
    p.add_argument("--budget", type=_int_at_least(0, "runs"),
                   help="adaptive placement: most runs added per method and seed "
                        f"(default {BUDGET_PER_GRID_POINT} x --n-etas)")
    p.add_argument("--tolerances", type=_tolerances,
                   help="comma-separated validation gaps the committee will choose at, e.g. 0.01,0.02,0.05: "
                        "each method also gets, by bisection on eta, a model just within each of them")
    p.add_argument("--no-adaptive", action="store_true",
                   help="train the default grids only (with --etas, exactly those etas are trained anyway)")
    p.add_argument("--seeds", type=_seeds, help="comma-separated seeds (default 0)")
    _axes_arguments(p, "the frontier's unfairness axis", "the frontier's performance axis (default: accuracy, or "
                    "balanced_accuracy when one outcome is under "
                    f"{RARE_OUTCOME * 100:g}%% of the validation rows, as the dashboard starts)", None)
    p.add_argument("--threshold-rows", type=_share, metavar="SHARE",
                   help="reserve this share of the validation rows (e.g. 0.5) for the post-processors "
                        "(threshold, inferred_threshold): at equalized odds and the TPR / FPR parities they fit "
                        "their thresholds there, on scores their base model never saw; every method is then "
                        "chosen on the other validation rows (default: none reserved)")
    p.add_argument("--sample", type=_int_at_least(100, "rows to train on"),
                   help="use a sample of this many rows of the table in all (stratified by group and outcome, "
                        "drawn with --split-seed) instead of the whole table; it is then split as the table would "
                        "be, so about 60 %% of it trains; the decision record says so")
    p.add_argument("--jobs", type=_jobs, default=1, help="parallel workers (-1: one per core)")
    p.add_argument("--scheduler", type=_scheduler,
                   help="Dask scheduler address, tcp://HOST:PORT or tls://HOST:PORT (default $FAIRKIT_DASK_SCHEDULER)")
    p.add_argument("--tls-ca-file", type=_input_file, help="tls://: certificate authority the scheduler's "
                                                           "certificate must be signed by")
    p.add_argument("--tls-cert", type=_input_file, help="tls://: this client's certificate (PEM)")
    p.add_argument("--tls-key", type=_input_file, help="tls://: this client's private key (PEM)")
    p.add_argument("--dask-timeout", type=_dask_seconds, default=DASK_TIMEOUT,
                   help="seconds to reach the scheduler, to wait for a worker, and to go on with none left "
                        f"(default {DASK_TIMEOUT:g})")
    p.add_argument("--store", type=_output_folder, help="results store folder (default OUT/store)")
    p.add_argument("--out", type=_output_folder, required=True, help="output folder")
    p.add_argument("--audit", type=_log_file, help="audit log file (default $FAIRKIT_HOME/audit.sqlite)")
    p.add_argument("--no-png", action="store_true",
                   help=f"skip frontier.png (it needs a Chrome or Chromium; without one a sweep exits {EXIT_NO_PNG})")
    p.set_defaults(func=cmd_sweep)

    from .search import DEFAULT_RESPLITS, DEFAULT_TRIALS, MAX_RESPLITS, MAX_TRIALS, MAX_WORKERS

    p = sub.add_parser("search", help="assistive search: more candidates for the frontier (it never chooses)")
    _add_data_args(p)
    p.add_argument("--methods", type=_names, help=f"comma-separated, from {','.join(METHODS)} (default: "
                                                  f"{','.join(m for m in DEFAULT_METHODS if METHODS[m].sweeps_eta)})")
    # At most MAX_TRIALS: a study keeps the largest budget any of its searches asked for, and an
    # absurd one was printed with every later search of it (search audit, session 48).
    p.add_argument("--trials", type=_int_at_least(1, "a search runs at least one trial", most=MAX_TRIALS),
                   default=DEFAULT_TRIALS,
                   help="finished trials the study should hold; trials of an earlier run count, so a "
                        f"rerun resumes (default {DEFAULT_TRIALS})")
    p.add_argument("--timeout", type=_seconds, help="seconds after which no new trial starts (default: none)")
    p.add_argument("--resplits", type=_int_at_least(0, "other splits per candidate", most=MAX_RESPLITS),
                   default=DEFAULT_RESPLITS,
                   help="retrain each candidate on the searched front on this many other splits and flag the "
                        f"unstable ones (default {DEFAULT_RESPLITS}; 0: none)")
    p.add_argument("--workers", type=_int_at_least(1, "worker processes", most=MAX_WORKERS), default=1,
                   help=f"processes working on the one study, this one included (default 1, at most {MAX_WORKERS})")
    _axes_arguments(p, "the unfairness objective", "the performance objective and the front's axis (default "
                    "accuracy, as the dashboard's search)", "accuracy")
    p.add_argument("--seed", type=_seed, default=0, help="training seed of every trial and the sampler's seed")
    p.add_argument("--store", type=_output_folder, help="results store folder (default OUT/store)")
    p.add_argument("--storage", type=_storage_url,
                   help="Optuna storage URL shared by the workers (default: SQLite in the store, STORE/search/)")
    p.add_argument("--out", type=_output_folder, required=True, help="output folder")
    p.add_argument("--audit", type=_log_file, help="audit log file (default $FAIRKIT_HOME/audit.sqlite)")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("export", help="export a stored run as a bundle with its decision record")
    p.add_argument("--store", required=True, help="the --out folder of a sweep")
    p.add_argument("--run", required=True, help="run id (results.csv, column run_id)")
    p.add_argument("--rationale", required=True, help="why this model and trade-off were chosen")
    p.add_argument("--decider", required=True, help="who decided")
    p.add_argument("--purpose", default="", help="purpose and intended use")
    p.add_argument("--fairness-rationale", default="", help="why this fairness definition")
    p.add_argument("--threshold", type=_threshold, default=0.5, help="decision threshold, between 0 and 1")
    p.add_argument("--calibration", choices=EXPORT_CALIBRATIONS, default="none",
                   help="group calibration the bundle applies before its threshold, fitted on the sweep's validation "
                        "part per group of its sensitive attributes (the dashboard's Export page offers the same); "
                        "it reads the sensitive attribute at prediction time, and it moves the model's decisions, so "
                        "its gaps may no longer be the frontier's (the record says so when it is less fair on "
                        "validation than the point chosen) (default none)")
    p.add_argument("--n-boot", type=_int_at_least(MIN_BOOT, "the recorded intervals, which score's drift check "
                                                  "compares against, need resamples", MAX_BOOT),
                   default=200, help=f"bootstrap resamples for the recorded calibration intervals (ECE, calibration "
                                     f"gaps; the rates' and gaps' intervals are computed, not resampled) ({MIN_BOOT} "
                                     f"to {MAX_BOOT:,}; default %(default)s)")
    p.add_argument("--audit", type=_log_file, help="audit log file (default $FAIRKIT_HOME/audit.sqlite)")
    p.add_argument("--sign-key", type=_key_file, help="Ed25519 private key (PEM) that signs the bundle's manifest "
                                      "(default $FAIRKIT_SIGNING_KEY; see 'keygen')")
    p.add_argument("--out", type=_output_file, required=True, help="bundle zip to write")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("keygen", help="create an Ed25519 key pair for signing bundles")
    p.add_argument("--out", type=_output_folder, required=True,
                   help="folder for fairkit-signing-key.pem and fairkit-public-key.pem")
    p.add_argument("--replaces", type=_key_file, metavar="OLD_PRIVATE_KEY",
                   help="the organisation's current signing key: the new key takes over from it, and the hand-over "
                        "is recorded in the audit log (see audit handover)")
    p.add_argument("--audit", type=_log_file, help="the audit log holding the old key's decisions, for --replaces "
                                                   "(default $FAIRKIT_HOME/audit.sqlite; it must exist)")
    p.set_defaults(func=cmd_keygen)

    p = sub.add_parser("audit", help="list the audit log's entries and verify it (exit 1 if it fails)")
    p.add_argument("action", nargs="?", choices=["list", "verify", "handover", "backup"], default="list",
                   help="list the entries and verify (default), only verify, record a key hand-over "
                        "(--from-key, --to-key: the decisions signed with the old key keep counting under the "
                        "new one, and the old key signs nothing after), or copy the log into one file (--out: "
                        "a copy of audit.sqlite alone can miss its newest entries)")
    p.add_argument("--out", type=_output_file, help="audit backup: the new file for the copy")
    p.add_argument("--from-key", type=_key_file, metavar="OLD_PRIVATE_KEY", help="audit handover: the outgoing key")
    p.add_argument("--to-key", type=_key_file, metavar="NEW_PRIVATE_KEY", help="audit handover: the incoming key")
    p.add_argument("--trust", type=_key_file, help="Ed25519 public key (PEM): check the signed chain heads with it "
                                   "(default $FAIRKIT_TRUST_KEY)")
    p.add_argument("--bundle", action="append", type=_input_file,
                   help="a bundle whose recorded audit head must still be in the log (repeatable)")
    p.add_argument("--head", action="append", type=_head, metavar="N:HASH",
                   help="a head score printed (kept with a monitoring job's records): entry N must still be in the "
                        "log with that hash (repeatable)")
    p.add_argument("--audit", type=_log_file, help="audit log file (default $FAIRKIT_HOME/audit.sqlite)")
    p.add_argument("--kind", choices=AUDIT_KINDS,
                   help="list only entries of this kind (the whole chain is verified regardless)")
    p.add_argument("--last", type=_int_at_least(1, "entries to list"), metavar="N",
                   help="list only the N newest entries (the whole chain is verified regardless)")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("score", help="score new data with an exported bundle and check fairness drift")
    p.add_argument("--bundle", type=_input_file, required=True, help="the bundle (.zip) export wrote")
    p.add_argument("--csv", type=_input_file, required=True, help="new rows (CSV or Parquet)")
    p.add_argument("--out", type=_csv_output_file, required=True,
                   help="scored CSV to write (plain CSV; its fairness report goes beside it, NAME.fairness.json). "
                        "A CSV input's cells are copied as written, so a spreadsheet opening it runs a cell "
                        "that starts with =, +, - or @ as a formula: import a batch from elsewhere as text")
    p.add_argument("--score-column", type=_column_name, default="score",
                   help="name of the column of scores the scored CSV adds (default %(default)s)")
    p.add_argument("--decision-column", type=_column_name, default="decision",
                   help="name of the column of decisions (0/1) the scored CSV adds (default %(default)s); "
                        "for a model whose outcome column is itself named decision, keep that one (the batch's "
                        "labels) and name this otherwise")
    p.add_argument("--trust", type=_key_file, help="Ed25519 public key (PEM): accept only bundles it signed "
                                   "(default $FAIRKIT_TRUST_KEY)")
    p.add_argument("--expected-manifest-sha256", type=_sha256, help="the manifest hash recorded at export (audit log, "
                                                      "export's output): refuse any other manifest")
    p.add_argument("--fail-on-drift", action="store_true",
                   help=f"exit {EXIT_DRIFT} when a fairness gap drifted (default: report it, exit 0)")
    p.add_argument("--drift-alpha", default=DRIFT_ALPHA,
                   type=_number(float, alpha_ok, "'{text}' is not a false-alarm rate; give a number above 0 "
                                                 f"and below 1 (default {DRIFT_ALPHA:g})"),
                   help="family-wise false-alarm rate over the gaps checked, above 0 and below 1 "
                        "(default %(default)s)")
    p.add_argument("--drift-n-boot", default=200,
                   type=_int_at_least(MIN_BOOT, "the drift check compares the batch's own bootstrap intervals, "
                                      "and a handful of resamples gives falsely narrow ones", MAX_BOOT),
                   help=f"bootstrap resamples for the batch's own intervals, {MIN_BOOT} to {MAX_BOOT:,} "
                        "(default %(default)s)")
    p.add_argument("--audit", type=_log_file, help="audit log file (default $FAIRKIT_HOME/audit.sqlite)")
    p.set_defaults(func=cmd_score)

    _add_output_flags(parser, sub)
    _Parser.refused = None
    _Parser.words = sys.argv[1:] if argv is None else [str(w) for w in argv]
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed its message (or --help / --version)
        words = sys.argv[1:] if argv is None else list(argv)
        command = next((w for w in words if w in sub.choices), None)
        if _Parser.refused is not None and "--json" in words and command in JSON_COMMANDS:
            # A script reading --json got nothing on a misspelt option (CLI audit, session 44).
            _json_refusal(command, _Parser.refused)
        return exc.code
    from .audit import AuditLogError
    from .stats import TooManyResamples

    try:
        return _run(args)
    except (CLIError, AuditLogError, TooManyResamples) as exc:
        return _refuse(args, str(exc))
    except sqlite3.DatabaseError as exc:  # the audit log (a search's trial database says its own)
        from .audit import sqlite_problem

        return _refuse(args, sqlite_problem(_audit_path(args), exc))
    except OSError as exc:
        if exc.errno not in _DISK_ERRORS:
            print(f"fairkit: internal error: {type(exc).__name__}: {exc}; please report it with the command you ran",
                  file=sys.stderr)
            return 1
        return _refuse(args, f"could not write {exc.filename or 'a file'} ({exc.strerror or exc}). Free some space, "
                       "or make the folder writable, and run again: a sweep or search keeps every run it finished "
                       "in its store, and files it had not replaced are as they were.")
    except KeyboardInterrupt as exc:
        left = INTERRUPTED.get(args.command)
        print("Interrupted" + (f": {left}." if left else "."), file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    except MemoryError as exc:  # a table too large for this machine's memory: not a bug to report
        # The advice of the command that ran: export has no --drift-n-boot (scale audit, session 46).
        resamples = {"export": " fewer bootstrap resamples (--n-boot),", "score": " fewer bootstrap resamples "
                     "(--drift-n-boot) or fewer rows per batch,", "sweep": "", "search": ""}.get(args.command, "")
        return _refuse(args, f"this machine ran out of memory ({exc or 'MemoryError'}). Use fewer rows (sweep "
                       f"--sample N trains on a stratified sample, which export then reads too),{resamples} fewer "
                       "categories (group the values of a text column with thousands) or groups (merge those of a "
                       "sensitive attribute with many), or a machine with more memory.")
    except Exception as exc:  # a bug: one plain line, not a traceback
        print(f"fairkit: internal error: {type(exc).__name__}: {exc}; please report it with the command you ran",
              file=sys.stderr)
        return 1


def _refuse(args, message: str) -> int:
    """Exit status 2 for a refusal: ``message`` on stderr, and under ``--json`` the document a
    script reads (it got an empty one: CLI audit, session 44)."""
    print(f"error: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        _json_refusal(args.command, message)
    return 2


def _json_refusal(command: str, message: str) -> None:
    from .store import strict_json

    print(strict_json({"command": command, "error": message, "exit_status": 2}))


if __name__ == "__main__":
    sys.exit(main())
