"""Trade-offs page: the fairness / performance frontier, and choosing one model on it."""

from functools import partial

import streamlit as st

from fairkit.audit import AuditLog, record_selection
from fairkit.export import proxy_sentence
from fairkit.frontier import PERFORMANCE_AXES, UNFAIRNESS_AXES, within_tolerance
from fairkit.frontier import settings as front_table
from fairkit.methods import METHODS, role_of, scores_rank
from fairkit.metrics import NO_RANKING, in_sentence
from fairkit.plots import frontier_figure, mark_search
from fairkit.record import fmt, fmt_eta, search_params_text
from ui import auth
from ui import restore
from ui import results as ur
from ui import state
from ui import tradeoffs as ut
from ui.display import md, show_chart, show_table

st.title("Trade-offs")
st.caption("Each point is a trained model (with several seeds, a setting's mean over them). Lines "
           "join each method's Pareto-optimal models, chosen on validation data; the chart shows test "
           "data unless you switch it. Pick a model with the method and the slider, which steps along "
           "the method's trade-off, or by clicking a point.")

shown = ur.shown_results()
if shown is None:
    job = ur.session_job()
    if job is not None and job.status == "running" and ur.current_split() is not None:
        ur.follow_sweep(job.key, "Your sweep is running: {progress}. Its trade-offs appear here when it finishes.")
    else:
        st.info("Run a sweep on the Train page first.", icon=":material/model_training:")
    st.page_link("views/train.py", label="Go to Train", icon=":material/arrow_forward:")
    state.stop_page()
split, settings, results = shown.split, shown.settings, shown.results
if shown.note:  # a cancelled sweep's finished runs, or the latest complete sweep: say which
    st.info(shown.note, icon=":material/info:")
    running = ur.session_job()
    if running is not None and running.status == "running":
        ur.follow_sweep(running.key)  # this page shows the newer sweep once it ends
changed = ur.settings_changed_note(shown)
if changed:
    st.info(changed, icon=":material/info:")
cur = state.current_data()

c1, c2, c3, c4 = st.columns([3, 2, 2, 2], vertical_alignment="bottom")
unfair_keys, perf_keys = list(UNFAIRNESS_AXES), list(PERFORMANCE_AXES)
ut.prepare_unfairness(settings.fairness)  # the gap of the definition the sweep targeted
unfairness = c1.selectbox("Unfairness axis", unfair_keys, key=ut.W_UNFAIRNESS,
                          format_func=UNFAIRNESS_AXES.get)
positive_rate = ut.base_rate(results, "val")
ut.prepare_performance(cur.data_key, positive_rate)
performance = c2.selectbox("Performance axis", perf_keys, key=ut.W_PERFORMANCE,
                           format_func=PERFORMANCE_AXES.get)
# A sweep that bracketed another tolerance offers its own (the first sweep's stayed: state audit).
state.prepare_widget(ut.W_TOLERANCE, ut.offered_tolerance(settings.tolerance), context=repr(settings.tolerance))
tolerance = c3.number_input(
    "Tolerance (largest acceptable unfairness)", min_value=0.0, max_value=1.0, step=0.01,
    key=ut.W_TOLERANCE, format="%.3f",
    help="Drawn as a vertical line. The 0.2 offered first is the 80% rule on '1 - disparate impact "
         "ratio'; on a difference axis (demographic parity, equal opportunity, equalized odds) it allows "
         "groups' rates 20 points apart, which few committees accept: set your committee's own.")
state.prepare_widget(ut.W_PLOT_SPLIT, "test", ["test", "val"])
plot_split = c4.radio("Chart shows", ["test", "val"], key=ut.W_PLOT_SPLIT, horizontal=True,
                      format_func={"test": "Test", "val": "Validation"}.get)
if ut.rare_outcome(positive_rate):
    st.caption(f":material/info: Only {positive_rate:.1%} of the validation outcomes are positive: a model "
               f"that predicts the majority class for everyone scores {fmt(max(positive_rate, 1 - positive_rate))} "
               "accuracy, so the performance axis starts on balanced accuracy (the mean of the true positive "
               "and true negative rates: 0.5 for any such model). The dashed line marks what a model that "
               "tells nobody apart scores.")
below_chance = ut.below_chance_caption(results, performance)
if below_chance:
    st.caption(f":material/info: {md(below_chance)}")
unranked = [m for m in dict.fromkeys(results["method"]) if not scores_rank(m)]
if performance == "roc_auc" and unranked:
    st.caption(f":material/info: Not on this chart: {md('; '.join(map(ut.method_label, unranked)))}. Their scores "
               "are decisions (0 or 1 for most people), which rank nobody, so they have no ROC AUC. Compare "
               "them on accuracy or balanced accuracy.")


@restore.page_fragment
def chooser(results, split, unfairness: str, performance: str, tolerance: float, plot_split: str):
    """Seeds, method, slider, chart and panel: a slider move re-renders only this block."""
    seeds = ut.seeds_of(results)
    m_col, e_col, s_col = st.columns([2, 5, 2], vertical_alignment="bottom")
    seed = seeds[0]
    if len(seeds) > 1:
        state.prepare_widget(ut.W_SEED, ut.MEAN, [ut.MEAN, *seeds])
        seed = s_col.selectbox("Seeds", [ut.MEAN, *seeds], key=ut.W_SEED, format_func=ut.seed_label,
                               help=f"{len(seeds)} seeds per setting: the mean over them, with the range "
                                    "they span, or one seed's runs.")
    if len(seeds) > 1 and seed != ut.MEAN:
        # One seed's front and tolerance pick may differ from the mean's, which the record shows
        # (number audit, session 45: a pick at eta 0.1 here, eta 1 in the record's front).
        st.caption(f":material/info: Seed {seed}'s runs alone: their front and tolerance pick may differ from the "
                   "mean over seeds, which the decision record's frontier shows whichever seed is exported.")
    view = ut.seed_view(results, seed)
    table = front_table(view)  # what every surface's front is drawn over: with several seeds, each setting's mean
    ut.sync_selection(view, unfairness, performance)
    methods = list(dict.fromkeys(view["method"]))
    method = m_col.selectbox("Method", methods, key=ut.W_METHOD, format_func=ut.method_label)
    stops = ut.slider_stops(table, method, unfairness, performance)
    if len(stops) > 1:
        eta = e_col.select_slider(
            "Model along the trade-off", options=list(stops), key=ut.W_ETA, format_func=stops.get,
            help=f"{METHODS[method].label}'s models from the least to the most fair by validation "
                 f"{in_sentence(UNFAIRNESS_AXES[unfairness])}, each with its validation gap and "
                 f"{in_sentence(PERFORMANCE_AXES[performance])} (eta = {METHODS[method].eta_meaning}). "
                 "Constant models come last.")
    else:
        eta = next(iter(stops))
        e_col.caption(f"{METHODS[method].label} is trained once (eta = {fmt_eta(eta)}).")
    row = ut.select_from_widgets(view, method, eta)
    shown = row if table is view else ut.setting_row(table, row)  # the setting's mean over seeds
    _tolerance_pick(table, unfairness, performance, tolerance)
    fig = frontier_figure(view, unfairness=unfairness, performance=performance, split=plot_split,
                          selected_run=row["run_id"], tolerance=tolerance, base_rate=ut.base_rate(results, plot_split))
    mark_search(fig, view, unfairness, performance, plot_split)  # issue 22: the search's points, ringed
    show_chart(fig, key=ut.CHART_KEY, on_select=partial(ut.on_chart_select, view),
               selection_mode="points")
    with st.expander("The frontier as a table"):
        front = ut.front_rows(table, unfairness, performance)
        if front.empty:
            st.caption("No model is on the frontier.")
        else:
            show_table(front, max_rows=300, alt=ut.FRONT_TABLE_ALT)
    search_note = ut.search_caption(view)
    if search_note:
        st.caption(f":material/travel_explore: {md(search_note)}")
    _side_panel(table, split, row, shown, unfairness, performance, tolerance, seed, seeds)


def _tolerance_pick(table, unfairness, performance, tolerance):
    pick = ut.tolerance_pick(table, unfairness, performance, tolerance)
    if pick is None:
        st.caption(f"No usable model is within the tolerance {tolerance:g} on validation (a model that decides "
                   "alike for everyone, or scores no better than doing so, does not count).")
        return
    text = (f"Best {in_sentence(PERFORMANCE_AXES[performance])} within the tolerance {tolerance:g} on validation: "
            f"**{md(ut.method_label(pick['method']))}** at eta {fmt_eta(pick['eta'])} (validation gap "
            f"{ut.gap_against(pick['unfairness_val'], tolerance)}; on test {in_sentence(PERFORMANCE_AXES[performance])} "
            f"{md(ut.shown_value(pick, 'test', performance))}, {in_sentence(UNFAIRNESS_AXES[unfairness])} "
            f"{md(ut.shown_value(pick, 'test', unfairness))}).")
    n_seeds = int(pick.get("n_seeds", 1) or 1)
    if n_seeds > 1:  # a setting's mean: its brackets span the seeds, and one seed's run is selected
        text += (f" Mean of {n_seeds} seeds; brackets: the range over the seeds, not a 95% interval. "
                 f"*Select it* selects seed {int(pick['seed'])}'s run; choose that seed with the Seeds control "
                 "for its own figures and intervals.")
    left, right = st.columns([5, 1], vertical_alignment="center")
    left.markdown(text)
    right.button("Select it", key="tradeoffs.pick", on_click=ut.on_pick, args=(pick,),
                 disabled=pick["run_id"] == st.session_state.get(ur.SELECTED_RUN))


def _side_panel(table, split, row, shown, unfairness, performance, tolerance, seed, seeds):
    st.header("Selected model")
    head = f"**{md(ut.method_label(row['method']))}** at eta **{fmt_eta(row['eta'])}**"
    if len(seeds) > 1 and seed == ut.MEAN:
        n = int(shown.get("n_seeds", 1))
        head += (f": mean of {n} of {len(seeds)} seeds (brackets: the range over the seeds). "
                 f"Recording, Groups and Export use seed {int(row['seed'])}'s run; open one seed with "
                 "the Seeds control for its intervals.")
    elif len(seeds) > 1:
        head += f", seed {int(row['seed'])} (one of {len(seeds)} seeds)"
    if row.get("source") == "search" and isinstance(row.get("search_params"), str):
        # Its capacity and training settings, which method and eta do not say (search audit, session 51).
        head += f", proposed by the assistive search; its settings: {md(search_params_text(row['search_params']))}"
    st.markdown(head + f"  \nRun `{row['run_id']}`")
    left, right = st.columns([3, 2], gap="large")
    with right:
        proxies = ur.sensitive_proxies(split)
        if row.get("needs_sensitive_at_predict"):
            st.warning("Needs the sensitive attribute at prediction time (group-specific "
                       "thresholds). Check that this is lawful for the intended use.",
                       icon=":material/warning:")
        elif proxies:  # "does not need it" of a model reading age, which tells age_group (number audit)
            st.warning(f"Reads no sensitive column at prediction time, but: {md(proxy_sentence(proxies))}",
                       icon=":material/warning:")
        else:
            st.success("Does not need the sensitive attribute at prediction time.",
                       icon=":material/check_circle:")
        flat = int(shown.get("constant_seeds", 0) or 0)
        one_decision = ut.one_decision_note(row)
        below = ut.below_chance_note(shown, performance)
        if one_decision:
            st.warning(one_decision, icon=":material/warning:")
        elif flat:
            st.warning(f"With {flat} of the seeds this setting gives (almost) everyone the same decision: "
                       "it is kept off the frontier.", icon=":material/warning:")
        elif below:
            st.warning(below, icon=":material/warning:")
        test_alike = None if one_decision else ut.one_decision_note(shown, "test")
        if test_alike:
            st.warning(test_alike, icon=":material/warning:")
        u_val, u_test = (ut.axis_value(shown, s, unfairness) for s in ("val", "test"))
        verdict = lambda u: "within" if within_tolerance(u, tolerance) else "above"  # noqa: E731
        st.markdown(f"{UNFAIRNESS_AXES[unfairness]}: {ut.gap_against(u_val, tolerance)} on validation "
                    f"({verdict(u_val)} the tolerance {tolerance:g}), {ut.gap_against(u_test, tolerance)} on test "
                    f"({verdict(u_test)}).")
        floor = ut.chance_gap(cur.data_key, row["run_id"], unfairness, split)
        if floor is not None:
            whose = f"Seed {int(row['seed'])}'s run: " if len(seeds) > 1 and seed == ut.MEAN else ""
            said = ut.chance_note(floor, unfairness, tolerance)
            if said:
                st.caption(f":material/casino: {md(whose + said)}")
    with left:
        _metrics(table, split, row, shown, seed, seeds)
    _record(row, unfairness, performance, tolerance)


def _metrics(table, split, row, shown, seed, seeds):
    """The metrics table, never with another model's numbers: a run stored without its
    intervals shows its own values at once, marked as updating, until they are computed."""
    baseline = ut.baseline_row(table, shown)
    slot = st.empty()
    change = None
    if len(seeds) > 1 and seed == ut.MEAN:
        with slot.container():
            show_table(ut.panel_table(shown, baseline), alt=ut.METRICS_ALT)
        note = "Brackets: the range over the seeds."
    else:
        if not ut.has_intervals(row):
            with slot.container():
                show_table(ut.panel_table(row, baseline), alt=ut.METRICS_UPDATING_ALT)
                st.caption(":material/hourglass_top: Updating: computing this model's 95% intervals...")
            with st.spinner("Computing bootstrap intervals..."):
                row = {**row, **ut.run_metrics(cur.data_key, row["run_id"], split)}
        change = ut.paired_change(cur.data_key, row, baseline, split)
        with slot.container():
            show_table(ut.panel_table(row, baseline, change), alt=ut.METRICS_ALT)
        note = (f"Gaps across the groups of {md(row.get('report_attribute', ''))}. Brackets: 95% intervals "
                "(score intervals for accuracy and the gaps between rates; calibration errors from "
                f"{int(row['report_n_boot'])} bootstrap resamples).")
    is_baseline = baseline is not None and role_of(baseline["method"]) == "baseline"
    base_text = (f"the {METHODS[baseline['method']].label.lower()}" if is_baseline
                 else "this method at eta 0" if baseline else "no baseline run in this sweep")
    st.caption(f"{note} Change: test value minus that of {base_text}.")
    if change is not None:
        st.caption(f":material/compare_arrows: {md(ut.paired_change_note(change))}")
        reaching = ut.gaps_reaching_zero(row, baseline, change)
        if reaching:
            st.caption(f":material/warning: {md(ut.zero_gap_note(reaching))}")
    if not scores_rank(row["method"]):
        st.caption(f":material/info: ROC AUC {NO_RANKING}: this model's scores are its decisions (its "
                   "thresholds give most people 0 or 1), which rank nobody. Its base model's AUC would "
                   "describe another ranking than the one it deploys.")
    for part, line in ut.report_notes(row):
        st.caption(f":material/info: {part}: {md(line)}")


def _record(row, unfairness, performance, tolerance):
    st.markdown("**Record this selection** in the audit log (for the committee's review)")
    signed_in = auth.identity()  # signed in, the selection is the verified person's, as an export is
    if signed_in is None:
        state.prepare_widget(ut.W_ACTOR, "")
        typed = st.text_input("Your name", key=ut.W_ACTOR, placeholder="Who is choosing")
    else:
        typed = signed_in.name
        st.caption(f"Recorded as {md(signed_in.actor)} (signed in).")
    actor = signed_in or auth.actor(typed)
    note = st.text_input("Note (optional)", key=ut.W_NOTE, placeholder="Why this model")
    if st.button("Record this selection", icon=":material/bookmark_add:", key="tradeoffs.record"):
        if not typed.strip():
            st.error("Enter your name to record the selection.", icon=":material/error:")
        else:
            u_val, u_test = (ut.axis_value(row, s, unfairness) for s in ("val", "test"))
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
