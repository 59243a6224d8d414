"""Trade-offs page: the fairness / performance frontier, and choosing one model on it."""

from functools import partial

import streamlit as st

from fairkit.audit import AuditLog, record_selection
from fairkit.frontier import PERFORMANCE_AXES, UNFAIRNESS_AXES
from fairkit.methods import METHODS, role_of
from fairkit.plots import frontier_figure
from ui import results as ur
from ui import state
from ui import tradeoffs as ut
from ui.display import md, show_table

st.title("Trade-offs")
st.caption("Each point is a trained model. Lines join each method's Pareto-optimal models, chosen "
           "on validation data; the chart shows test data unless you switch it. Pick a model with "
           "the method and eta controls or by clicking a point.")

shown = ur.current_results()
if shown is None:
    st.info("Run a sweep on the Train page first.", icon=":material/model_training:")
    st.page_link("views/train.py", label="Go to Train", icon=":material/arrow_forward:")
    st.stop()
split, settings, results = shown
cur = state.current_data()

c1, c2, c3, c4 = st.columns([3, 2, 2, 2], vertical_alignment="bottom")
unfair_keys, perf_keys = list(UNFAIRNESS_AXES), list(PERFORMANCE_AXES)
state.prepare_widget(ut.W_UNFAIRNESS, unfair_keys[0], unfair_keys)
unfairness = c1.selectbox("Unfairness axis", unfair_keys, key=ut.W_UNFAIRNESS,
                          format_func=UNFAIRNESS_AXES.get)
state.prepare_widget(ut.W_PERFORMANCE, perf_keys[0], perf_keys)
performance = c2.selectbox("Performance axis", perf_keys, key=ut.W_PERFORMANCE,
                           format_func=PERFORMANCE_AXES.get)
state.prepare_widget(ut.W_TOLERANCE, 0.2)
tolerance = c3.number_input(
    "Tolerance (largest acceptable unfairness)", min_value=0.0, max_value=1.0, step=0.01,
    key=ut.W_TOLERANCE, format="%.2f",
    help="Drawn as a vertical line. 0.2 on '1 - disparate impact ratio' is the 80% rule.")
state.prepare_widget(ut.W_PLOT_SPLIT, "test", ["test", "val"])
plot_split = c4.radio("Chart shows", ["test", "val"], key=ut.W_PLOT_SPLIT, horizontal=True,
                      format_func={"test": "Test", "val": "Validation"}.get)


@st.fragment
def chooser(results, split, unfairness: str, performance: str, tolerance: float, plot_split: str):
    """Method, eta, chart and side panel: a slider move re-renders only this block."""
    ut.sync_selection(results)
    methods = list(dict.fromkeys(results["method"]))
    left, right = st.columns([5, 4], gap="large")
    with left:
        m_col, e_col = st.columns([2, 3])
        method = m_col.selectbox("Method", methods, key=ut.W_METHOD, format_func=ut.method_label)
        etas = ut.etas_of(results, method)
        if len(etas) > 1:
            eta = e_col.select_slider("Fairness strength (eta)", options=etas, key=ut.W_ETA,
                                      format_func=lambda e: f"{e:g}",
                                      help=f"eta = {METHODS[method].eta_meaning}.")
        else:
            eta = etas[0]
            e_col.caption(f"{METHODS[method].label} is trained once (eta = {eta:g}).")
        row = ut.select_from_widgets(results, method, eta)
        fig = frontier_figure(results, unfairness=unfairness, performance=performance,
                              split=plot_split, selected_run=row["run_id"], tolerance=tolerance)
        st.plotly_chart(fig, key=ut.CHART_KEY, on_select=partial(ut.on_chart_select, results),
                        selection_mode="points", width="stretch")
    with right:
        _side_panel(results, split, row, unfairness, performance, tolerance)


def _side_panel(results, split, row, unfairness, performance, tolerance):
    n_seeds = int((results["method"] == row["method"]).sum() / max(len(ut.etas_of(results, row["method"])), 1))
    st.subheader("Selected model")
    st.markdown(f"**{md(ut.method_label(row['method']))}** at eta **{row['eta']:g}**"
                + (f", seed {int(row['seed'])} of {n_seeds}" if n_seeds > 1 else "")
                + f"  \nRun `{row['run_id']}`")
    if row.get("needs_sensitive_at_predict"):
        st.warning("Needs the sensitive attribute at prediction time (group-specific "
                   "thresholds). Check that this is lawful for the intended use.",
                   icon=":material/warning:")
    else:
        st.success("Does not need the sensitive attribute at prediction time.",
                   icon=":material/check_circle:")
    one_decision = ut.one_decision_note(row)
    if one_decision:
        st.warning(one_decision, icon=":material/warning:")
    u_val, u_test = (ut.axis_value(row, s, unfairness) for s in ("val", "test"))
    verdict = lambda u: "within" if u <= tolerance else "above"  # noqa: E731
    st.markdown(f"{UNFAIRNESS_AXES[unfairness]}: {u_val:.3f} on validation "
                f"({verdict(u_val)} the tolerance {tolerance:g}), {u_test:.3f} on test "
                f"({verdict(u_test)}).")
    metrics = ut.run_metrics(cur.data_key, row["run_id"], split)
    baseline = ut.baseline_row(results, row)
    show_table(ut.panel_table(metrics, row, baseline), alt=ut.METRICS_ALT)
    attr = metrics["test"]["attribute"]
    is_baseline = baseline is not None and role_of(baseline["method"]) == "baseline"
    base_text = (f"the {METHODS[baseline['method']].label.lower()}" if is_baseline
                 else "this method at eta 0" if baseline else "no baseline run in this sweep")
    st.caption(f"Gaps across the groups of {md(attr)}. Brackets: 95% bootstrap intervals "
               f"({ut.N_BOOT} resamples). Change: test value minus that of {base_text}.")
    for note in metrics["test"]["notes"]:
        st.caption(f":material/info: Test data: {md(note)}")

    st.markdown("**Record this selection** in the audit log (for the committee's review)")
    state.prepare_widget(ut.W_ACTOR, "")
    actor = st.text_input("Your name", key=ut.W_ACTOR, placeholder="Who is choosing")
    note = st.text_input("Note (optional)", key=ut.W_NOTE, placeholder="Why this model")
    if st.button("Record this selection", icon=":material/bookmark_add:", key="tradeoffs.record"):
        if not actor.strip():
            st.error("Enter your name to record the selection.", icon=":material/error:")
        else:
            entry = record_selection(
                AuditLog(), actor=actor, run=row, dataset=cur.name, data_hash=cur.data_hash,
                unfairness_axis=unfairness, performance_axis=performance, tolerance=tolerance,
                unfairness_val=u_val, unfairness_test=u_test,
                performance_val=ut.axis_value(row, "val", performance),
                performance_test=ut.axis_value(row, "test", performance), note=note)
            st.success(f"Selection recorded (audit entry {entry}).", icon=":material/check_circle:")


chooser(results, split, unfairness, performance, float(tolerance), plot_split)
st.page_link("views/groups.py", label="Look at the selected model group by group",
             icon=":material/arrow_forward:")
