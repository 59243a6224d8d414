"""Glue for the Review page: recorded decisions and reviewers' verdicts from the audit log.

The Review page only reads what sessions recorded (exports, selections, comments) and appends
verdicts; it never loads a model or changes one.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from fairkit.audit import (
    COUNTED_VERDICTS,
    OBJECTIONS,
    SELF_DECLARED,
    AuditLog,
    AuditLogAltered,
    ChainCheck,
    VerdictRefused,
    chain_head,
    checked_verdicts,
    export_entries,
    record_verdict,
    selection_entries,
    verdict_entries,
    verdict_tally,
)
from fairkit.data import visible_text
from fairkit.frontier import UNFAIRNESS_AXES
from fairkit.keys import KeyFileError
from fairkit.plots import method_label
from fairkit.record import decision_label, fmt, fmt_eta

from . import auth, state
from .display import md
from .export import LAST_EXPORT, exports_dir, signing_key, trusted_key

VERDICTS = {"comment": "Comment", "signoff": "Sign off", "dissent": "Dissent"}
W_EXPORT = "w.review.export"
W_AWAITING = "w.review.awaiting"
#: "Recorded selections" shows this many, newest first, in the page's text; older ones follow in
#: an expander (a long history had 512 there, and 2,240 in a longer one: history audit).
SHOWN_SELECTIONS = 50
# Form fields: not "w." keys, a half-written verdict is not remembered across pages.
W_REVIEWER = "review.reviewer"
W_VERDICT = "review.verdict"
W_TEXT = "review.text"
VERDICT_PROBLEM = "review.problem"
VERDICT_DONE = "review.done"


def prepare_export_choice(ids: list) -> None:
    """Give the export picker (:data:`W_EXPORT`) its value before it is drawn.

    The first time the page is drawn after an export of this session, it opens on that export:
    the Export page says it was "saved for the Review page", and the picker kept the one viewed
    before, a decision other than the one just made, offered for sign-off (state audit,
    session 44). Otherwise the choice made stays, else the newest.
    """
    done = st.session_state.get(LAST_EXPORT)
    entry = done.get("entry") if done else None
    # The default follows the session's last export (prepare_widget's context): a new one resets it.
    state.prepare_widget(W_EXPORT, entry if entry in ids else ids[0], ids, context=entry)


def exports() -> list[dict]:
    """Export entries from the dashboard and the CLI, newest first
    (:func:`fairkit.audit.export_entries`)."""
    return export_entries(AuditLog(), bundle_folder=exports_dir())


def with_verdict() -> set[str]:
    """The manifest hashes (export subjects) with at least one sign-off or dissent recorded.

    Counted or not (:func:`fairkit.audit.verdict_tally` says which count): this only finds what
    still waits for a first verdict. Read with SQL's filter on the kind, so a long log is not
    read whole for it.

    Returns
    -------
    set of str
    """
    log = AuditLog()
    return {str(s) for kind in COUNTED_VERDICTS for s in log.entries(kind=kind)["subject"]}


def awaiting(exports: list[dict], chosen_id=None) -> list[dict]:
    """The exports with no sign-off or dissent recorded (:func:`with_verdict`), and the one
    chosen (``chosen_id``) whatever its verdicts: a reviewer who just signed it off stays on it,
    with the confirmation, instead of being moved to another decision that a second press of
    the button would then sign off (review of session 41)."""
    reviewed = with_verdict()
    return [e for e in exports if e["subject"] not in reviewed or e["id"] == chosen_id]


def export_label(e: dict) -> str:
    """One line naming an export in the chooser, with what tells two exports of one run apart
    (threshold and calibration, :func:`fairkit.record.decision_label`). The options are plain
    text, not Markdown: only invisible characters are made visible (a right-to-left override in
    the dataset's name would reverse the threshold after it)."""
    return visible_text(f"#{e['id']} · {e['ts'][:16].replace('T', ' ')} · {e.get('dataset', '?')} · "
                        f"{decision_label(e)} · by {e['actor']}")


def tally(subject: str, log: LogState) -> str:
    """Where the review stands, e.g. "2 sign-offs, 1 dissent" (:func:`fairkit.audit.verdict_tally`):
    with a trusted key, only the verdicts its signatures cover count."""
    return verdict_tally(verdict_entries(AuditLog(), subject), log.chain)["text"]


def evidence(subject: str, log: LogState, status: str, table: pd.DataFrame) -> dict:
    """The review as the log stands now, for a downloaded record's own section
    (:func:`fairkit.record.review_blocks`): the bundle's hash, the time, the log's head and
    ``table``, the verdicts the page shows (:func:`verdicts`)."""
    # The head the check read up to, so it covers the verdicts listed and nothing written since
    # (a verdict appended between the check and the head was covered and not listed), and none
    # for a log that fails its check (its head proves nothing: hostile-input audit, session 53).
    chain = log.chain
    head_id, head_hash = chain_head(AuditLog(), upto=chain.checked_through) if chain is not None and chain.ok else (0, "")
    return {"status": status, "manifest_sha256": subject,
            "taken": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "head": f"{head_id}:{head_hash}" if head_id else None,
            "failed": None if chain is not None and chain.ok else log.text,
            "verdicts": {"columns": list(table.columns), "rows": table.astype(str).to_numpy().tolist()}}


def unsigned_note(signature: str) -> str:
    """What an unsigned bundle's signature status says, without its leading "unsigned:" (the
    page heads it "Unsigned bundle.")."""
    text = str(signature).removeprefix("unsigned").lstrip(": ")
    return text[:1].upper() + text[1:]


# An absolute path in a message (the server's folders are nobody's business on the page).
_PATH = re.compile(r"(?<![\w.~:/])(?:/[^\s/'\"`()]+)+/([^\s/'\"`()]+)")


def moved_note(entry: dict) -> str:
    """The caption of an export whose bundle was found in this home, not where the log recorded
    it (:func:`fairkit.audit.export_entries`): names only the folders' last parts."""
    return md(f"Read from this fairkit home's copy of {Path(entry['bundle']).name}: the log recorded it in another "
              "folder, so fairkit's home was moved or copied. It is checked against the manifest hash the log "
              "recorded, as always.")


def without_paths(text) -> str:
    """``text`` with every absolute server path shortened to its last part (the file name)."""
    return _PATH.sub(r"\1", str(text))


@dataclass(frozen=True)
class LogState:
    """The audit log's check, for the line at the top of the page."""

    ok: bool
    text: str
    unreadable: tuple = ()
    chain: ChainCheck | None = None
    opened: bool = True  # False: the log cannot be read at all


def log_state() -> LogState:
    """:meth:`fairkit.audit.AuditLog.verify` with the organisation's public key when one is
    configured, and the rows that cannot be read."""
    try:
        log = AuditLog()
    except AuditLogAltered as exc:  # the page stopped on an unexpected error (hostile-input audit, session 53)
        text = without_paths(exc)
        return LogState(False, text, chain=ChainCheck(False, 0, problem=text, altered=True), opened=False)
    try:
        key = trusted_key()
    except KeyFileError as exc:
        text = f"The configured key cannot be used: {without_paths(exc)}"  # the message names the file
        # A check that failed, not none: with no check every sign-off counted, a forged one
        # beside this banner (hostile-input audit, session 53).
        return LogState(False, text, chain=ChainCheck(False, 0, problem=text, altered=False))
    check = log.verify(public_key=key)
    return LogState(check.ok, without_paths(check), tuple(b["id"] for b in check.unreadable), check)


def verdicts(subject: str, state: LogState) -> pd.DataFrame:
    """Comments, sign-offs and dissents on one export, oldest first, as display text.

    With a trusted key, a sign-off or dissent its signatures do not cover is marked unsigned and
    its identity a claim: the tally leaves such a sign-off out and counts such a dissent
    (:func:`fairkit.audit.verdict_tally`).
    """
    # The tally's own reading (verdicts written since the check wait for it; unsigned ones marked).
    log = checked_verdicts(verdict_entries(AuditLog(), subject), state.chain)

    failed = state.chain is not None and not state.chain.ok

    def identity(v, said, kind, unsigned_) -> str:
        if not unsigned_:
            return said
        if failed:  # signed or not, nothing is vouched for by a log that fails its check
            return f"{said}; " + ("counted all the same (a dissent)" if kind in OBJECTIONS
                                  else "not counted: the log fails its check")
        # An unsigned dissent still counts (fairkit.audit.OBJECTIONS): an objection is not dropped.
        return (f"{'claims ' + said if v != SELF_DECLARED else said}; unsigned, "
                + ("counted all the same" if kind in OBJECTIONS else "not counted"))

    return pd.DataFrame({
        "When (UTC)": log["ts"].str[:19].str.replace("T", " "),
        "Reviewer": log["actor"],
        # With the account the provider verified: a display name is whatever its user set.
        "Identity": [identity(v, said, k, u)
                     for v, said, k, u in zip(log["verified_by"], log["vouched"], log["kind"], log["unsigned"])],
        "Verdict": log["kind"].map(VERDICTS),
        "Comment": log["text"],
    })


def submit_verdict(subject: str, bundle: str) -> None:
    """Form callback: append the verdict, or keep the answers and say what is missing (or why
    the engine refused it: an untrusted bundle, or the decider's own sign-off or dissent,
    :func:`fairkit.audit.is_decider`).

    The reviewer is the signed-in identity when sign-in is configured (the name field is not
    shown then), else the typed name, recorded as self-declared.
    """
    ss = st.session_state
    signed_in = auth.identity()
    reviewer, kind, text = ss.get(W_REVIEWER, ""), ss.get(W_VERDICT, "comment"), ss.get(W_TEXT, "")
    actor = signed_in or auth.actor(reviewer)
    if auth.configured() and signed_in is None:
        # Signed out (here or in another tab) since the form was drawn: nobody to record it as.
        ss[VERDICT_PROBLEM] = "You are no longer signed in: sign in again to record a verdict."
    elif auth.configured() and auth.sign_in_expired():
        ss[VERDICT_PROBLEM] = ("Your sign-in expired (your provider's limit) since the form was drawn: "
                               "sign out and in again to record a verdict.")
    elif signed_in is None and not reviewer.strip():
        ss[VERDICT_PROBLEM] = "Enter your name: every review entry says who made it."
    elif kind != "signoff" and not text.strip():
        ss[VERDICT_PROBLEM] = "Write the comment or the reason for the dissent."
    else:
        try:
            entry = record_verdict(AuditLog(), kind, actor=actor,
                                   manifest_sha256=subject, bundle=bundle, text=text,
                                   trust_key=trusted_key() or False, signing_key=signing_key() or False)
        except (VerdictRefused, KeyFileError, ValueError) as exc:
            # ValueError: what the engine refuses to record at all (an entry with no actor).
            ss[VERDICT_PROBLEM] = without_paths(exc)
            return
        ss[W_TEXT] = ""  # the name and verdict stay for the next entry
        # Said in words: only the table below changed, which a screen reader does not announce.
        noun = {"comment": "comment", "signoff": "sign-off", "dissent": "dissent"}.get(kind, kind)
        head_id, head_hash = chain_head(AuditLog())
        # The log cannot show that its latest entries were removed (committee audit, session
        # 53: a dissent deleted with its head passed every check): a head kept outside it can.
        ss[VERDICT_DONE] = (f"Your {noun} was added to the record (audit entry {entry}). The audit log's head is now "
                            f"{head_id}:{head_hash}. Keep it with the committee's minutes: fairkit audit verify "
                            f"--head {head_id}:{head_hash} then fails if any entry up to it, this one included, is "
                            "removed or changed.")


def selections() -> pd.DataFrame:
    """Recorded selections (Trade-offs page), newest first, as display text."""
    d = selection_entries(AuditLog())
    if d.empty:
        return pd.DataFrame()
    shown = lambda col: d[col].map(fmt) if col in d else "n/a"  # noqa: E731  (record.fmt: n/a, never -0.000)
    out = pd.DataFrame({
        "When (UTC)": d["ts"].str[:19].str.replace("T", " "),
        "By": d["actor"],
        "Dataset": d.get("dataset", ""),
        "Method": d["method"].map(lambda m: "" if pd.isna(m) else method_label(m)) if "method" in d else "",
        "eta": d["eta"].map(fmt_eta) if "eta" in d else "",
        "Unfairness (test)": shown("unfairness_test"),
        "Axis": d.get("unfairness_axis", pd.Series("", index=d.index)).map(
            lambda k: UNFAIRNESS_AXES.get(k, k)),
        "Performance (test)": shown("performance_test"),
        "Note": d.get("note", ""),
    })
    return out.iloc[::-1].reset_index(drop=True)
