"""Groups page: the selected model group by group, and what group calibration changes."""

import streamlit as st

from fairkit.groups import first_few
from fairkit.methods import scores_rank
from fairkit.metrics import NO_RANKING
from fairkit.plots import MAX_PANELS, group_bars_figure, reliability_figure
from fairkit.record import fmt_eta
from ui import data as ud
from ui import groups as ug
from ui import results as ur
from ui import state
from ui.display import md, show_chart, show_table, visible_text
from ui.tradeoffs import method_label

st.title("Groups")
st.caption("How the selected model treats each group, with 95% intervals, and whether "
           "its probabilities mean the same thing for every group.")

split, _, _, row = ur.require_selection()
cur = state.current_data()
run_id = row["run_id"]
st.markdown(f"**{md(method_label(row['method']))}** at eta **{fmt_eta(row['eta'])}** "
            f"(run `{run_id}`)")

left, right = st.columns([1, 2])
state.prepare_widget(ug.W_PART, "test", list(ug.PARTS))
part = left.radio("Data", list(ug.PARTS), key=ug.W_PART, format_func=ug.PARTS.get,
                  horizontal=True)
levels = list(ug.attribute_columns(split.test.sensitive))
state.prepare_widget(ug.W_ATTRIBUTE, levels[-1], levels)
attribute = right.selectbox("Groups of", levels, key=ug.W_ATTRIBUTE, format_func=visible_text,
                            help="Each sensitive attribute, and their intersection.")

table, notes = ug.by_group(cur.data_key, run_id, part, split)
ranked = scores_rank(row["method"])
shown_table = ug.format_groups(table, attribute, ranks=ranked)
small = shown_table[shown_table["Note"] != ""]
if len(small):
    st.warning(f"{len(small)} group(s) of {md(attribute)} have fewer than {ug.MIN_GROUP_SIZE} rows in "
               f"the {ug.PARTS[part].lower()} data: {md(first_few(small['Group'], quote=str))}. Their rates "
               "are uncertain (see the wide intervals); do not read much into their gaps.",
               icon=":material/warning:")
show_table(shown_table, alt=f"{ug.TABLE_ALT}{attribute}")
st.caption("Brackets: 95% intervals (score intervals for the rates; an ECE's reaches as far below it "
           "as sampling noise can raise an ECE, so a small, well-calibrated group's reaches 0). TPR: "
           "share of actual positives selected; FPR: share of actual negatives selected; ECE: expected "
           "calibration error.")
adverse = ud.adverse_outcome(cur.source, cur.spec)
if adverse is not None:
    st.info(ud.rate_words(adverse), icon=":material/gavel:")

show_chart(group_bars_figure(table, attribute=attribute,
                             title=f"Rates by {attribute} ({ug.PARTS[part].lower()})"),
           key="groups.bars")

if row["method"] == "forml":
    # FORML learned one weight per training row; they are stored with the model (run store and
    # bundle), so this summarises what was trained, with nothing recomputed.
    from fairkit.estimators.reweighting import weight_summary
    from fairkit.plots import reweighting_figure

    st.header("Learned training weights")
    cols = ug.attribute_columns(split.train.sensitive)[attribute]
    weights = ur.model(run_id).sample_weight_
    st.caption("The weight FORML learned for each training row (1 = as given), by group and label: "
               "which rows it up- and down-weighted to close the gap. Rows held out for its meta "
               "objective have no weight.")
    show_chart(reweighting_figure(weight_summary(weights, split.train.y, split.train.sensitive[cols]),
                                  title=f"Learned training weights by {attribute} (training data)"),
               key="groups.weights")

if ranked:
    curve = ug.reliability(cur.data_key, run_id, part, attribute, split)
    group_names = sorted(curve["group"].unique(), key=str)
    options = [ug.ALL_GROUPS, *group_names]
    state.prepare_widget(ug.W_RELIABILITY_GROUP, ug.ALL_GROUPS, options)
    one = st.selectbox("Reliability of", options, key=ug.W_RELIABILITY_GROUP, format_func=visible_text,
                       help="Every group as a small panel against the curve of all rows, or one group.")
    shown_groups = group_names if one == ug.ALL_GROUPS else [one]
    show_chart(reliability_figure(curve, ug.reliability_overall(cur.data_key, run_id, part, split),
                                  groups=shown_groups,
                                  title=f"Reliability by {attribute} ({ug.PARTS[part].lower()})"),
               key="groups.reliability")
    if len(shown_groups) > MAX_PANELS:
        st.caption(f"The chart draws the {MAX_PANELS} largest of the {len(shown_groups):,} groups; choose a group "
                   "under 'Reliability of' to see any other, or read them all in the table below.")
    with st.expander("Reliability as a table"):
        show_table(ug.reliability_table(curve[curve["group"].isin(shown_groups)]), max_rows=300,
                   alt=f"Reliability bins by {attribute} ({ug.PARTS[part].lower()})")
else:
    # Reliability of 0/1 decisions is two points that restate the error rates above; the record
    # calls this model's ECE n/a (session 45's left-out).
    st.info("This model's scores are its decisions (group thresholds): a reliability curve would only restate "
            "the selection and error rates above, so none is drawn; its ECE is n/a, as in the record.",
            icon=":material/info:")

st.header("Group calibration")
methods = list(ug.CAL_METHODS)
state.prepare_widget(ug.W_CAL_METHOD, methods[0], methods)
method = st.radio("Calibration method", methods, key=ug.W_CAL_METHOD,
                  format_func=ug.CAL_METHODS.get, horizontal=True)
try:
    cal = ug.calibrate(cur.data_key, run_id, method, split)
except ValueError as exc:
    st.error(f"Group calibration is not possible here: {md(exc)}", icon=":material/error:")
    state.stop_page()
st.caption(f"A separate calibration map per group of **{md(cal['attribute'])}**, fitted on the "
           "validation data and applied to the test data: the calibrator the Export page "
           "bundles when you choose this method there (whichever groups are shown above). "
           "Calibrated scores need the sensitive attribute at prediction time.")
m1, m2 = st.columns(2)
largest = (f"Over the groups the gaps compare, of each attribute and their intersection: those with at "
           f"least {ug.MIN_GROUP_SIZE} test rows (smaller ones are too noisy to rank), or every group of "
           "an attribute with fewer than two that large (the record flags them small); the table lists "
           "every group. The figure the Trade-offs page, the Export page and the record show.")
before, after, change = ug.ece_change(cal)
if not ranked:  # its decisions' ECE restates its error rate: n/a, as in the record
    before, change = NO_RANKING, None
m1.metric("Largest group ECE on test, before", before, help=largest)
m2.metric("Largest group ECE on test, after", after, help=largest, delta=change, delta_color="inverse")
# Its decisions have no calibration error to lower or raise: no words of one (they said "lowered
# ... from 0.375" under the n/a above: numbers audit, session 53).
worse = ug.calibration_words(cal, method) if ranked else None
if worse:
    (st.warning if cal["made_worse"] else st.info)(worse, icon=":material/trending_up:")
if cal["global_map"]:
    st.warning(f"The map of all rows: {md(cal['global_map'])}.", icon=":material/warning:")
if cal["fallbacks"]:
    st.info("Some groups had too little validation data for their own map and use a broader one: "
            + first_few([f"{md(g)} uses {md(f['used'])} ({md(f['reason'])})" for g, f in cal["fallbacks"].items()],
                        quote=str, sep="; ") + " (the table below lists each group of the test rows)",
            icon=":material/info:")
else:
    st.caption("Every group had enough validation data for its own calibration map.")
show_table(cal["per_group"] if ranked else cal["per_group"].assign(**{"ECE before": NO_RANKING}),
           alt=f"Calibration by {cal['attribute']} before and after")
show_chart(reliability_figure(cal["curve_after"], cal["overall_after"],
                              title=f"Reliability by {cal['attribute']} after calibration (test)"),
           key="groups.calibrated")
if cal["curve_after"]["group"].nunique() > MAX_PANELS:
    st.caption(f"The chart draws the {MAX_PANELS} largest groups; the table below lists them all.")
with st.expander("Reliability after calibration as a table"):
    show_table(ug.reliability_table(cal["curve_after"]), max_rows=300, alt=f"Reliability bins by {cal['attribute']} after calibration (test)")
