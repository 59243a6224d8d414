"""Glue for the Review page: recorded decisions and reviewers' verdicts from the audit log.

The Review page only reads what sessions recorded (exports, selections, comments) and appends
verdicts; it never loads a model or changes one.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from fairkit.audit import (
    AuditLog,
    VerdictRefused,
    export_entries,
    record_verdict,
    selection_entries,
    verdict_entries,
)
from fairkit.frontier import UNFAIRNESS_AXES

from .export import exports_dir

VERDICTS = {"comment": "Comment", "signoff": "Sign off", "dissent": "Dissent"}
W_EXPORT = "w.review.export"
# Form fields: not "w." keys, a half-written verdict is not remembered across pages.
W_REVIEWER = "review.reviewer"
W_VERDICT = "review.verdict"
W_TEXT = "review.text"
VERDICT_PROBLEM = "review.problem"


def exports() -> list[dict]:
    """Export entries from the dashboard and the CLI, newest first
    (:func:`fairkit.audit.export_entries`)."""
    return export_entries(AuditLog(), bundle_folder=exports_dir())


def export_label(e: dict) -> str:
    """One line naming an export in the chooser."""
    return (f"#{e['id']} · {e['ts'][:16].replace('T', ' ')} · {e.get('dataset', '?')} · "
            f"{e.get('method', '?')} eta {float(e.get('eta', 0)):g} · by {e['actor']}")


def verdicts(subject: str) -> pd.DataFrame:
    """Comments, sign-offs and dissents on one export, oldest first, as display text."""
    log = verdict_entries(AuditLog(), subject)
    return pd.DataFrame({
        "When (UTC)": log["ts"].str[:19].str.replace("T", " "),
        "Reviewer": log["actor"],
        "Verdict": log["kind"].map(VERDICTS),
        "Comment": log["text"],
    })


def submit_verdict(subject: str, bundle: str) -> None:
    """Form callback: append the verdict, or keep the answers and say what is missing (or why
    the engine refused it)."""

    ss = st.session_state
    reviewer, kind, text = ss.get(W_REVIEWER, ""), ss.get(W_VERDICT, "comment"), ss.get(W_TEXT, "")
    if not reviewer.strip():
        ss[VERDICT_PROBLEM] = "Enter your name: every review entry says who made it."
    elif kind != "signoff" and not text.strip():
        ss[VERDICT_PROBLEM] = "Write the comment or the reason for the dissent."
    else:
        try:
            record_verdict(AuditLog(), kind, actor=reviewer, manifest_sha256=subject,
                           bundle=bundle, text=text)
        except VerdictRefused as exc:
            ss[VERDICT_PROBLEM] = str(exc)
            return
        ss[W_TEXT] = ""  # the name and verdict stay for the next entry


def selections() -> pd.DataFrame:
    """Recorded selections (Trade-offs page), newest first, as display text."""
    d = selection_entries(AuditLog())
    if d.empty:
        return pd.DataFrame()
    fmt = lambda col: d[col].map(lambda v: "n/a" if pd.isna(v) else f"{v:.3f}") if col in d else "n/a"  # noqa: E731
    out = pd.DataFrame({
        "When (UTC)": d["ts"].str[:19].str.replace("T", " "),
        "By": d["actor"],
        "Dataset": d.get("dataset", ""),
        "Method": d.get("method", ""),
        "eta": d["eta"].map("{:g}".format) if "eta" in d else "",
        "Unfairness (test)": fmt("unfairness_test"),
        "Axis": d.get("unfairness_axis", pd.Series("", index=d.index)).map(
            lambda k: UNFAIRNESS_AXES.get(k, k)),
        "Performance (test)": fmt("performance_test"),
        "Note": d.get("note", ""),
    })
    return out.iloc[::-1].reset_index(drop=True)
