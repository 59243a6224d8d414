"""Glue for the Review page: recorded decisions and reviewers' verdicts from the audit log.

The Review page only reads what sessions recorded (exports, selections, comments) and appends
verdicts; it never loads a model or changes one.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
import plotly.graph_objects as go

from fairkit.frontier import PERFORMANCE_AXES, UNFAIRNESS_AXES
from fairkit.plots import PALETTE
from fairkit.store import AuditLog

VERDICTS = {"comment": "Comment", "signoff": "Sign off", "dissent": "Dissent"}
W_EXPORT = "w.review.export"
# Form fields: not "w." keys, a half-written verdict is not remembered across pages.
W_REVIEWER = "review.reviewer"
W_VERDICT = "review.verdict"
W_TEXT = "review.text"
VERDICT_PROBLEM = "review.problem"


def exports() -> list[dict]:
    """Export entries, newest first: ``id``, ``ts``, ``actor`` and the logged details."""
    log = AuditLog().entries(kind="export")
    return [{"id": int(r.id), "ts": r.ts, "actor": r.actor, **r.details}
            for r in log.itertuples()][::-1]


def export_label(e: dict) -> str:
    """One line naming an export in the chooser."""
    return (f"#{e['id']} · {e['ts'][:16].replace('T', ' ')} · {e.get('dataset', '?')} · "
            f"{e.get('method', '?')} eta {float(e.get('eta', 0)):g} · by {e['actor']}")


def verdicts(subject: str) -> pd.DataFrame:
    """Comments, sign-offs and dissents on one export, oldest first, as display text."""
    log = AuditLog().entries(subject=subject)
    log = log[log["kind"].isin(list(VERDICTS))]
    return pd.DataFrame({
        "When (UTC)": log["ts"].str[:19].str.replace("T", " "),
        "Reviewer": log["actor"],
        "Verdict": log["kind"].map(VERDICTS),
        "Comment": log["details"].map(lambda d: d.get("text", "")),
    }).reset_index(drop=True)


def add_verdict(kind: str, *, reviewer: str, subject: str, text: str, file: str) -> int:
    """Append a reviewer's comment, sign-off or dissent on an export; returns the entry id."""
    return AuditLog().append(kind, actor=reviewer, subject=subject, text=text.strip(), file=file)


def submit_verdict(subject: str, file: str) -> None:
    """Form callback: append the verdict, or keep the answers and say what is missing."""

    ss = st.session_state
    reviewer, kind, text = ss.get(W_REVIEWER, ""), ss.get(W_VERDICT, "comment"), ss.get(W_TEXT, "")
    if not reviewer.strip():
        ss[VERDICT_PROBLEM] = "Enter your name: every review entry says who made it."
    elif kind != "signoff" and not text.strip():
        ss[VERDICT_PROBLEM] = "Write the comment or the reason for the dissent."
    else:
        add_verdict(kind, reviewer=reviewer, subject=subject, text=text, file=file)
        ss[W_TEXT] = ""  # the name and verdict stay for the next entry


def selections() -> pd.DataFrame:
    """Recorded selections (Trade-offs page), newest first, as display text."""
    log = AuditLog().entries(kind="selection")
    if log.empty:
        return pd.DataFrame()
    d = pd.DataFrame(list(log["details"]))
    fmt = lambda col: d[col].map(lambda v: "n/a" if pd.isna(v) else f"{v:.3f}") if col in d else "n/a"  # noqa: E731
    out = pd.DataFrame({
        "When (UTC)": log["ts"].str[:19].str.replace("T", " "),
        "By": log["actor"],
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


def frontier_snapshot(frontier: pd.DataFrame, *, selected_run: str | None, unfairness: str,
                      performance: str) -> go.Figure:
    """The frontier as exported (test values), one line per method, the chosen run ringed."""
    fig = go.Figure()
    for i, (method, sub) in enumerate(frontier.groupby("method", sort=False)):
        ref = bool(sub.get("needs_sensitive_at_predict", pd.Series([False])).any())
        fig.add_trace(go.Scatter(
            x=sub["unfairness_test"], y=sub["performance_test"], mode="lines+markers",
            name=f"{method} (uses attribute)" if ref else method,
            line=dict(color=PALETTE[i % len(PALETTE)], dash="dash" if ref else "solid"),
            customdata=sub[["eta"]], hovertemplate=f"{method}<br>eta=%{{customdata[0]:g}}"
                                                   "<br>x=%{x:.3f}<br>y=%{y:.3f}<extra></extra>"))
    sel = frontier[frontier["run_id"] == selected_run]
    if not sel.empty:
        fig.add_trace(go.Scatter(x=sel["unfairness_test"], y=sel["performance_test"],
                                 mode="markers", name="chosen", hoverinfo="skip",
                                 marker=dict(size=20, color="rgba(0,0,0,0)",
                                             line=dict(color="#ff7f0e", width=4))))
    fig.update_layout(
        title="Frontier at export (test data)", template="plotly_white", height=420,
        xaxis_title=f"{UNFAIRNESS_AXES.get(unfairness, unfairness)} (lower is fairer)",
        yaxis_title=PERFORMANCE_AXES.get(performance, performance),
        legend=dict(orientation="h", y=-0.25), margin=dict(l=60, r=20, t=50, b=80))
    return fig
