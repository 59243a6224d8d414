"""Export page: the selected model as a bundle, with a decision record saying why."""

import streamlit as st

from fairkit.calibration import calibration_grouping
from fairkit.export import DecisionRecord
from fairkit.groups import SEP
from fairkit.methods import FAIRNESS_DEFINITIONS, role_of, scores_rank
from fairkit.record import fmt_eta
from ui import auth
from ui import data as ud
from ui import export as ue
from ui import groups as ug
from ui import record as record_view
from ui import results as ur
from ui import state
from ui import tradeoffs as ut
from ui.display import md, show_table, visible_text

PREVIEW = "fk.export_preview"  # (fingerprint of the answers, Markdown, the built record)

st.title("Export")
st.caption("Write the selected model to a bundle: the fitted model and preprocessing, metrics by "
           "group with intervals, the frontier it was chosen from, and a decision record of why "
           "and by whom. The export is saved for the committee's Review and logged.")

split, settings, results, row = ur.require_selection()
if not auth.sign_in_gate("export a decision"):
    state.stop_page()
cur = state.current_data()
st.markdown(f"Selected: **{md(ut.method_label(row['method']))}** at eta **{fmt_eta(row['eta'])}** "
            f"(run `{row['run_id']}`) on **{md(cur.name)}**.")
not_a_candidate = ut.one_decision_note(row) or ut.below_chance_note(row, ut.chosen_axes(settings.fairness)[1])
if not_a_candidate:
    st.warning(not_a_candidate, icon=":material/warning:")
else:  # chosen on validation, it can still decide (almost) every test row alike: the panel's note
    test_alike = ut.one_decision_note(row, "test")
    if test_alike:
        st.warning(test_alike, icon=":material/warning:")

forgotten = ue.answers_for(cur.data_key, row["run_id"])
if forgotten:
    st.info(forgotten, icon=":material/edit_note:")
left, right = st.columns(2)
with left:
    signed_in = auth.identity()
    if signed_in is not None:
        # Signed in, the decision is the signed-in person's: a typed name could be anyone's (and
        # would bar that person from reviewing it, fairkit.audit.is_decider).
        st.session_state[ue.W_DECIDER] = signed_in.name
    state.prepare_widget(ue.W_DECIDER, "")
    decider = st.text_input("Decider's name (required)", key=ue.W_DECIDER, disabled=signed_in is not None,
                            help="Your verified name: the decision is recorded as yours." if signed_in else None)
    state.prepare_widget(ue.W_RATIONALE, "")
    rationale = st.text_area("Rationale: why this model, at this trade-off (required)",
                             key=ue.W_RATIONALE, height=120)
    state.prepare_widget(ue.W_PURPOSE, "")
    purpose = st.text_area("Purpose of the model", key=ue.W_PURPOSE, height=80)
    state.prepare_widget(ue.W_INTENDED_USE, "")
    intended_use = st.text_input("Intended use (who uses the predictions, for what)",
                                 key=ue.W_INTENDED_USE)
with right:
    state.prepare_widget("w.export.fairness", settings.fairness, list(FAIRNESS_DEFINITIONS), context=settings.fairness)
    fairness = st.selectbox("Fairness definition", list(FAIRNESS_DEFINITIONS), key="w.export.fairness",
                            format_func=lambda d: FAIRNESS_DEFINITIONS[d].label)
    state.prepare_widget(ue.W_FAIRNESS_RATIONALE, "")
    fairness_rationale = st.text_area("Why this fairness definition", height=80,
                                      key=ue.W_FAIRNESS_RATIONALE)
    # A model whose scores are its decisions (0 or 1) decides the same at any threshold: fixed.
    decides = not scores_rank(row["method"])
    state.prepare_widget(ue.W_THRESHOLD, ue.DEFAULTS[ue.W_THRESHOLD])
    if decides:
        st.session_state[ue.W_THRESHOLD] = ue.SWEEP_THRESHOLD
    threshold = st.slider("Decision threshold", 0.05, 0.95, step=0.01, key=ue.W_THRESHOLD, disabled=decides,
                          help="This model's scores are its decisions (0 or 1, from thresholds it fitted per "
                               "group): a threshold changes none of them." if decides else
                               "A row is predicted positive when its probability is at least this.")
    choices = list(ue.CALIBRATION_CHOICES)
    state.prepare_widget(ue.W_CALIBRATION, ue.DEFAULTS[ue.W_CALIBRATION], choices)
    grouping = SEP.join(map(str, calibration_grouping(split)))
    calibration = st.radio(f"Group calibration (fitted on validation, per group of {md(grouping)})",
                           choices, key=ue.W_CALIBRATION,
                           format_func=ue.CALIBRATION_CHOICES.get,
                           help="The calibrator the Groups page shows for the same method. "
                                "Calibrating per group uses the sensitive attribute at prediction "
                                "time.")
    if calibration != "none":
        try:
            worse = ug.calibration_words(ug.calibrate(cur.data_key, row["run_id"], calibration, split), calibration)
        except ValueError as exc:  # as the Groups page says it: a message, not a traceback
            st.error(f"Group calibration is not possible here: {md(str(exc).rstrip('.'))}. Choose no calibration, or "
                     "another method.",
                     icon=":material/error:")
            state.stop_page()
        if worse:
            st.warning(worse, icon=":material/trending_up:")

# The legal flag, read from the fitted model and the chosen calibrator (as the bundle records it).
uses = ue.sensitive_uses(cur.data_key, row["run_id"], ur.model, split, calibration)
if uses:
    st.warning(f"This model reads the sensitive attribute at prediction time ({md('; '.join(uses))}): "
               "scoring needs it for every row. The record, the manifest and the bundle say so; check "
               "that this is lawful and acceptable for the intended use.", icon=":material/warning:")

# What the threshold and the calibration change, before anything is exported (What-If style).
baseline = ut.baseline_row(results, row)
effect = ue.threshold_effect(cur.data_key, row["run_id"],
                             baseline["run_id"] if baseline and baseline["run_id"] != row["run_id"] else None,
                             calibration, float(threshold), ut.chosen_axes(settings.fairness)[0], split, ur.model,
                             row["method"], ut.chosen_axes(settings.fairness)[1])
if effect["below_chance"] and not not_a_candidate:  # as exported, not as the sweep measured it
    st.warning(effect["below_chance"] + " The record states it among its limitations.", icon=":material/warning:")
if effect["chosen_gap_change"]:
    # Before the expander: the choice's premise no longer holding is not a detail (a calibrated
    # export's gap 0.66 against the 0.11 it was chosen at sat in a collapsed table: session 52).
    st.warning(effect["chosen_gap_change"] + " The record states it among its limitations.", icon=":material/warning:")
changed = f"decision threshold {threshold:.2f}" + (" and the calibration" if effect["calibrated"] else "")
with st.expander(f"What the {changed} change{'' if effect['calibrated'] else 's'} (test data)",
                 expanded=effect["moved"] or effect["calibrated"]):
    if effect["moved"]:
        st.warning(f"The frontier compared the models at threshold {ue.SWEEP_THRESHOLD:.2f}; this export "
                   f"decides at {threshold:.2f}, so its accuracy and gaps are not the ones the frontier "
                   "showed. Below are its test figures, which the record reports: the tolerance was met on "
                   "validation, and choosing a threshold by its test figures would make them optimistic.",
                   icon=":material/warning:")
    if effect["calibrated"]:
        st.caption("The frontier compared the models uncalibrated (left column); this export calibrates "
                   "per group (right column), which moves its calibration error and, through its "
                   "decisions, its accuracy and gaps.")
    show_table(effect["table"], alt="Threshold effect")
    attrs = list(dict.fromkeys(effect["confusion"]["attribute"]))
    state.prepare_widget("w.export.confusion_by", attrs[-1], attrs)
    attr = st.selectbox("Decisions by group of", attrs, key="w.export.confusion_by", format_func=visible_text)
    sel_col, base_col = st.columns(2)
    with sel_col:
        # As the metric table's right column names it (the counts are the calibrated decisions').
        st.markdown(f"**This model at {threshold:.2f}" + (f", calibrated ({md(ue.CALIBRATION_CHOICES[calibration])})"
                                                          if effect["calibrated"] else "") + "**")
        show_table(ue.confusion_table(effect["confusion"], attr), alt="Selected model decisions by group")
    with base_col:
        if effect["baseline"] is not None:
            # Named as the Trade-offs panel names it: this method at eta 0 when the sweep has no
            # unconstrained model (number audit, session 45).
            which = "baseline" if role_of(baseline["method"]) == "baseline" else "eta 0, the baseline here"
            st.markdown(f"**{md(ut.method_label(baseline['method']))} ({which}) at {ue.SWEEP_THRESHOLD:.2f}**")
            show_table(ue.confusion_table(effect["baseline"], attr), alt="Baseline decisions by group")
        else:
            st.caption("No baseline run in this sweep to compare with.")

# The record's disparity audit (Aequitas): each group's rates over its reference group's, and the band.
reference = {}
with st.expander("Disparity audit: reference groups and pass band"):
    st.caption("The record's audit divides each group's selection rate, TPR, FPR and precision on test by "
               "those of its attribute's reference group; a ratio inside the band passes. Aequitas' default "
               "is the largest group and 0.80-1.25 (the four-fifths rule and its inverse).")
    choices = ue.audit_groups(cur.data_key, split)
    ref_cols = st.columns(min(3, len(choices)))
    for i, (attr, groups) in enumerate(choices.items()):
        sizes = dict(groups)
        state.prepare_widget(f"w.export.reference.{attr}", groups[0][0], list(sizes))
        reference[attr] = ref_cols[i % len(ref_cols)].selectbox(
            f"Reference group of {md(attr)}", list(sizes), key=f"w.export.reference.{attr}",
            format_func=lambda g, sizes=sizes: f"{g} ({sizes[g]:,} test rows)")
    low_col, high_col = st.columns(2)
    state.prepare_widget("w.export.band_low", ue.AUDIT_BAND[0])
    state.prepare_widget("w.export.band_high", ue.AUDIT_BAND[1])
    band = (low_col.slider("Lowest passing ratio", *ue.AUDIT_LOW, step=0.01, key="w.export.band_low"),
            high_col.slider("Highest passing ratio", *ue.AUDIT_HIGH, step=0.01, key="w.export.band_high"))

missing = [name for name, value in (("a rationale", rationale), ("the decider's name", decider))
           if not value.strip()]
if missing:
    st.info(f"To export, write {' and '.join(missing)}.", icon=":material/edit_note:")

unfairness, performance = ut.chosen_axes(settings.fairness)
answers = dict(purpose=purpose, rationale=rationale, decider=decider, intended_use=intended_use,
               fairness_definition=fairness, fairness_rationale=fairness_rationale)
build = dict(data_key=cur.data_key, model=None, split=split, row=row, results=results,
             unfairness=unfairness, performance=performance, threshold=float(threshold),
             calibration=calibration, audit_reference=reference, audit_band=band,
             sample=ud.sample_record(cur.data_hash))
fingerprint = (row["run_id"], tuple(sorted(answers.items())), float(threshold), calibration,
               unfairness, performance, tuple(reference.items()), band)

b1, b2 = st.columns(2)
preview = b1.button("Preview the decision record", icon=":material/preview:",
                    key="export.preview", disabled=bool(missing))
go = b2.button("Export the bundle", type="primary", icon=":material/download:",
               key="export.go", disabled=bool(missing))
if preview or go:
    try:
        with st.spinner("Checking each run's figures against its model..."):
            build["results"], unchecked = ue.checked_results(cur.data_key, results, split, ur.model)
    except ValueError as exc:
        st.error(md(str(exc)), icon=":material/gpp_bad:")
        state.stop_page()
    if unchecked:
        st.warning(md(unchecked), icon=":material/warning:")
    build["model"] = ur.model(row["run_id"])
    record = DecisionRecord(**answers)
if preview:
    with st.spinner("Building the decision record..."):
        built, markdown = ue.preview(record=record, **build)
        st.session_state[PREVIEW] = (fingerprint, markdown, built)
if go:
    kept = st.session_state.get(PREVIEW)
    previewed = kept[2] if kept is not None and kept[0] == fingerprint else None
    with st.spinner("Writing the bundle..."):
        # With the settings it was made under: a download offered is of what the page shows.
        st.session_state[ue.LAST_EXPORT] = {**ue.export(dataset=cur.name, record=record, built=previewed,
                                                 actor=auth.identity(), **build), "fingerprint": fingerprint}

done = st.session_state.get(ue.LAST_EXPORT)
for note in (done or {}).get("recovered", []):
    st.info(md(note[:1].upper() + note[1:]), icon=":material/restore:")
if done is not None and done["run_id"] == row["run_id"] and done.get("fingerprint") != fingerprint:
    # The threshold, calibration, answers or audit changed since: that bundle is not this one.
    st.info(f"This model's export of this session ({md(done['file'])}, audit entry {done['entry']}) was made "
            "with other settings or answers than these; it stays on the Review page. Export again to save a "
            "bundle of what this page shows.", icon=":material/history:")
    done = None
elif done is None or done["run_id"] != row["run_id"]:
    # Not exported in this session (a reload forgets that): the log still knows.
    earlier = ue.earlier_exports_note(row["run_id"])
    if earlier:
        st.info(earlier, icon=":material/history:")
if done is not None and done["run_id"] == row["run_id"]:
    path = ue.exports_dir() / done["file"]
    st.success(f"Exported and logged (audit entry {done['entry']}). Manifest SHA-256: "
               f"`{done['manifest_sha256']}`. Saved as {md(done['file'])} for the Review page.",
               icon=":material/check_circle:")
    if done["signed_by"]:
        st.caption(f"Signed with the organisation's key {done['signed_by']}.")
    else:
        st.caption("Unsigned: no signing key is configured (FAIRKIT_SIGNING_KEY, or signing_key in the "
                   "[fairkit] table of .streamlit/secrets.toml). Its hashes detect corruption, not "
                   "tampering.")
    if path.exists():
        st.download_button("Download the bundle (.zip)", data=path.read_bytes(),
                           file_name=done["file"], mime="application/zip",
                           icon=":material/download:", key="export.download", on_click="ignore")
    st.header("Decision record")
    record_view.show_headline(done["record"])
    record_view.downloads(done["record"], key="export.record")
    record_view.show_body(done["record"])
else:
    kept = st.session_state.get(PREVIEW)
    if kept is not None and kept[0] == fingerprint:
        st.header("Decision record (preview, not saved)")
        record_view.show_headline(kept[2].record)
        record_view.downloads(kept[2].record, key="export.preview_record")
        record_view.show_body(kept[2].record)
    elif kept is not None and kept[0][0] != row["run_id"]:
        st.caption("The last preview was of another model" + ("." if missing else ": preview again to see "
                   "this one's record."))
    elif kept is not None:
        st.caption("The answers changed since the last preview" + ("." if missing else ": preview again "
                   "to see them."))

st.caption("A bundle holds no pickle: loading it (`fairkit.export.load_bundle`, `python -m fairkit score`) "
           "runs none of its content, and checks every member's hash, the decision fields and the "
           "signature first.")
