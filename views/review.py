"""Review page: the committee reads recorded decisions and signs off, dissents or comments."""

import streamlit as st

from fairkit.plots import frontier_snapshot_figure
from fairkit.record import frontier_chart_note, revision_note
from ui import auth
from ui import export as ue
from ui import record as record_view
from ui import review as rv
from ui import state
from ui.display import md, show_chart, show_table

st.title("Review")
st.caption("For the committee: every exported decision with its record and the frontier it was "
           "chosen from, and the selections people recorded. Comments, sign-offs and dissents "
           "are appended to the audit log; nothing here changes a model.")

log = rv.log_state()
if log.ok:
    st.caption(f":material/link: {md(log.text)}")
else:
    st.error(f"**The audit log fails its check.** {md(log.text)} No verdict can be recorded "
             "until it is resolved.", icon=":material/gpp_bad:")
    if not log.opened:  # nothing of it can be read: no decision, verdict or selection to show
        st.stop()
if log.unreadable:
    st.warning(f"{len(log.unreadable)} audit entries cannot be read (ids "
               f"{', '.join(map(str, log.unreadable))}); they are left out below.",
               icon=":material/warning:")

exports = rv.exports()
every = len(exports)
state.prepare_widget(rv.W_AWAITING, False)
if exports and st.toggle("Only decisions with no sign-off or dissent recorded", key=rv.W_AWAITING,
                         help="To find what still waits for a review among many exports."):
    exports = rv.awaiting(exports, state.widget_value(rv.W_EXPORT))
if not every:
    st.info("No decision has been exported yet. Exports made on the Export page appear here.",
            icon=":material/inbox:")
elif not exports:
    st.info(f"Each of the {every:,} exported decisions has a sign-off or dissent recorded. Turn the filter "
            "off to see them.", icon=":material/done_all:")
else:
    ids = [e["id"] for e in exports]
    by_id = {e["id"]: e for e in exports}
    rv.prepare_export_choice(ids)
    chosen = by_id[st.selectbox("Exported decision", ids, key=rv.W_EXPORT,
                                format_func=lambda i: rv.export_label(by_id[i]))]
    subject = chosen["subject"]
    status, verdicts = rv.tally(subject, log), rv.verdicts(subject, log)  # read once: the card, downloads, table
    if chosen["legacy"]:
        st.caption(f"Logged by an older fairkit ({md(chosen['legacy'])}); read with a fallback.")
    bundle = ue.read_export(chosen)
    if chosen.get("recorded_bundle"):
        st.caption(rv.moved_note(chosen))
    if not bundle["ok"] and bundle.get("missing"):
        st.error(f"**This bundle's file is missing**, so it cannot be checked. {md(rv.without_paths(bundle['error']))} "
                 "Was it moved or deleted, or fairkit's home moved? Put it back where the log says (see "
                 "`fairkit audit`), or ask whoever exported it to export again. No verdict can be recorded "
                 "on it until it is back.", icon=":material/help:")
    elif not bundle["ok"] and bundle.get("older"):
        st.warning(f"**This bundle is of a format this fairkit does not read.** {md(rv.without_paths(bundle['error']))} "
                   "Its record and review stay in the audit log (`fairkit audit list`). No verdict can be "
                   "recorded on it here.", icon=":material/history:")
    elif not bundle["ok"]:
        st.error(f"**This bundle cannot be trusted.** {md(rv.without_paths(bundle['error']))} "
                 "Do not deploy it; ask whoever exported it to export again. No verdict can be "
                 "recorded on it.", icon=":material/gpp_bad:")
    else:
        st.success(f"Integrity verified: every file matches the manifest recorded at export "
                   f"(SHA-256 `{subject[:16]}...`).", icon=":material/verified:")
        if bundle["signature"].startswith("unsigned"):
            st.warning(f"**Unsigned bundle.** {md(rv.unsigned_note(bundle['signature']))}.",
                       icon=":material/no_encryption:")
        else:
            st.caption(f":material/key: Bundle {md(bundle['signature'])}.")
        rec = bundle["record"]
        older = revision_note(rec)
        if older:
            st.info(md(older), icon=":material/history:")
        st.header("Decision record")
        record_view.show_headline(rec, reviews=status)
        # The downloads carry the review's evidence (who, when, the bundle's hash, the log's head).
        record_view.downloads(rec, key="review.record", reviews=rv.evidence(subject, log, status, verdicts))
        # At full width, below the card: half a page squeezed the frontier's lines together.
        if bundle["frontier"] is not None and len(bundle["frontier"]):
            show_chart(frontier_snapshot_figure(
                bundle["frontier"], selected_run=chosen.get("run_id"),
                unfairness=chosen.get("unfairness_axis", "demographic_parity_difference"),
                performance=chosen.get("performance_axis", "accuracy")),
                key="review.frontier")
            note = frontier_chart_note(rec)
            if note:
                st.caption(f":material/info: {md(note)}")
        else:
            st.caption("This bundle holds no frontier table.")
        record_view.show_body(rec)

    st.header("Reviews of this decision")
    st.caption(f"Status: {md(status)}. Each reviewer counts once, by their latest sign-off or dissent.")
    if verdicts.empty:
        st.caption("No comments, sign-offs or dissents yet.")
    else:
        show_table(verdicts, alt="Reviews of this decision")
    # A failed check stops the review: no form at all (the engine refuses such verdicts too).
    if bundle["ok"] and log.ok and auth.sign_in_gate("record a verdict"):
        with st.form("review.form", clear_on_submit=False):
            if auth.identity() is None:
                st.text_input("Your name (required)", key=rv.W_REVIEWER)
            st.radio("Verdict", list(rv.VERDICTS), format_func=rv.VERDICTS.get, horizontal=True,
                     key=rv.W_VERDICT, help=f"The decider ({md(chosen.get('decider') or 'not named')}) may "
                                            "comment, but a sign-off or a dissent is someone else's.")
            st.text_area("Comment (required for a comment or a dissent)", height=90, key=rv.W_TEXT)
            st.form_submit_button("Add to the record", icon=":material/send:",
                                  on_click=rv.submit_verdict, args=(subject, chosen["bundle"]))
        problem = st.session_state.pop(rv.VERDICT_PROBLEM, None)
        if problem:
            st.error(md(problem), icon=":material/error:")
        done = st.session_state.pop(rv.VERDICT_DONE, None)
        if done:
            st.success(md(done), icon=":material/check_circle:")

st.header("Recorded selections")
selections = rv.selections()
if selections.empty:
    st.caption("No selection has been recorded yet (Trade-offs page, 'Record this selection').")
else:
    show_table(selections.head(rv.SHOWN_SELECTIONS), alt="Recorded selections")
    older = selections.iloc[rv.SHOWN_SELECTIONS:]
    if len(older):
        with st.expander(f"Older selections ({len(older):,})"):
            show_table(older, alt="Older recorded selections")
