"""Train page: choose methods, an eta grid and seeds; run the sweep in the background."""

import streamlit as st

from fairkit.estimators import postprocess
from fairkit.methods import DEFAULT_METHODS, FAIRNESS_DEFINITIONS, METHODS, RegistryError, eta_grid
from fairkit.plots import method_label
from fairkit.sweep import BUDGET_PER_GRID_POINT, DEFAULT_SPACING, duration_text, estimate_seconds
from fairkit.split import stratification_notes
from ui import controls
from ui import data as ud
from ui import results as ur
from ui import state
from ui.display import gaps_text, md
from ui.jobs import SweepSettings, registry, result_store, session_owner
from ui.restore import RESTORED_SWEEP

GRID_MODES = ["Each method's recommended range", "Custom range for all methods", "Custom list per method"]

st.title("Train")
st.caption("Train every chosen method at every fairness strength (eta). The sweep runs in the "
           "background; finished runs are stored, so the same settings come back at once.")

cur = state.current_data()
if cur is None or not cur.ready:
    st.info("Choose a dataset without errors on the Data page first.", icon=":material/table_view:")
    st.page_link("views/data.py", label="Go to Data", icon=":material/arrow_forward:")
    state.stop_page()

split = ur.current_split()

def split_sizes(s, reserved: str = "") -> str:
    return (f"**{md(cur.name)}**: {len(s.train):,} training, {len(s.validation):,} validation{reserved} and "
            f"{len(s.test):,} test rows; {len(s.feature_names)} model inputs after encoding.")


# Written again once the controls below have said whether validation rows are set aside for the
# thresholds: the sizes shown are then the ones the sweep trains and chooses on.
sizes = st.empty()
sizes.markdown(split_sizes(split))
for note in stratification_notes(split):
    st.warning(md(note), icon=":material/call_split:")
if ur.fast_training():
    st.caption(f"Test mode ({ur.FAST_TRAINING_ENV}=1): every network is a small logistic model "
               "trained for a few epochs.")

left, right = st.columns([3, 2])
with left:
    names = list(METHODS)
    by_role = {r: [n for n in names if METHODS[n].role == r] for r in ("baseline", "reference")}
    state.prepare_widget("w.train.methods", [*DEFAULT_METHODS, *by_role["reference"]], names, multi=True)
    methods = st.multiselect(
        "Methods", names, key="w.train.methods", format_func=method_label,
        help=f"The accuracy baseline, trained once: {', '.join(by_role['baseline']) or 'none'}. The "
             f"reference frontier: {', '.join(by_role['reference']) or 'none'} (it may need the "
             "sensitive attribute at prediction time).",
    )
    for name in methods:
        m = METHODS[name]
        st.caption(f"**{m.label}**: eta = {m.eta_meaning}.")
        if len(split.train) < m.min_train_rows:
            st.warning(f"{m.label} were measured to carry their fairness poorly to new rows below "
                       f"about {m.min_train_rows:,} training rows (this data has {len(split.train):,}): "
                       "they can close the gap on the training rows only. Judge them by their "
                       "validation points on the frontier.", icon=":material/warning:")
    definitions = [d for d in FAIRNESS_DEFINITIONS if all(d in METHODS[m].fairness for m in methods)]
    state.prepare_widget("w.train.fairness", (definitions or [None])[0], definitions)
    fairness = st.selectbox("Fairness definition the methods target", definitions,
                            format_func=lambda d: FAIRNESS_DEFINITIONS[d].label, key="w.train.fairness",
                            help=" ".join(f"{d.label}: {d.description}" for d in FAIRNESS_DEFINITIONS.values()))
with right:
    state.prepare_widget("w.train.grid_mode", GRID_MODES[0], GRID_MODES)
    grid_mode = st.radio("Eta grid", GRID_MODES, key="w.train.grid_mode")
    state.prepare_widget("w.train.n_etas", 6)
    n_etas = st.slider("Number of eta values (0 included)", 2, 16, key="w.train.n_etas",
                       disabled=grid_mode == GRID_MODES[2],
                       help="The starting grid; adaptive placement adds etas where it is too coarse.")
    custom = grid_mode == GRID_MODES[1]
    lo, hi, log = 0.1, 10.0, True
    lists = None
    if custom:
        c1, c2 = st.columns(2)
        state.prepare_widget("w.train.lo", 0.1)
        state.prepare_widget("w.train.hi", 10.0)
        state.prepare_widget("w.train.log", True)
        lo = c1.number_input("Smallest eta > 0", min_value=1e-4, format="%.4g", key="w.train.lo")
        hi = c2.number_input("Largest eta", min_value=1e-4, format="%.4g", key="w.train.hi")
        log = st.toggle("Log spacing", key="w.train.log")
        st.caption(controls.bounded_note(methods))
    elif grid_mode == GRID_MODES[2]:
        lists = controls.eta_lists(methods, n_etas)
    state.prepare_widget("w.train.adaptive", True)
    adaptive = st.toggle("Adaptive eta placement", key="w.train.adaptive",
                         help="After the grid, train new etas wherever neighbouring models of a method "
                              "are further apart in validation unfairness than the spacing, and back "
                              "off from models that decide the same for everyone.")
    spacing, budget = DEFAULT_SPACING, None
    if adaptive:
        a1, a2 = st.columns(2)
        state.prepare_widget("w.train.spacing", DEFAULT_SPACING)
        # The command line's default, per the grid's size: a fixed 18 gave another sweep than the
        # CLI's for the same visible settings (number audit, session 45).
        state.prepare_widget("w.train.budget", BUDGET_PER_GRID_POINT * int(n_etas), context=str(int(n_etas)))
        spacing = a1.number_input("Spacing (validation unfairness)", min_value=0.005, max_value=0.5,
                                  step=0.005, format="%.3f", key="w.train.spacing",
                                  help="Neighbouring models of a method end at most this far apart.")
        budget = a2.number_input("Extra runs per method and seed", min_value=0, max_value=200, step=1,
                                 key="w.train.budget",
                                 help="The most runs the placement adds to each method's grid, per seed.")
    state.prepare_widget("w.train.use_tolerance", False)
    use_tolerance = st.checkbox("Also bracket tolerances", key="w.train.use_tolerance",
                                help="Train, by bisection on eta per method, the models on either side of "
                                     "each of these validation gaps, so the Trade-offs page can pick the "
                                     "most accurate model within the one the committee chooses.")
    tolerance = controls.tolerance_input() if use_tolerance else None
    threshold_rows = None
    if (any(METHODS[m].family == "post-processing" for m in methods)
            and postprocess.held_out_rows_serve(len(split.train))):
        state.prepare_widget("w.train.threshold_rows", False)
        if st.checkbox("Fit the thresholds on held-out validation rows", key="w.train.threshold_rows",
                       help="Half of the validation rows are set aside for the threshold methods: at "
                            "equalized odds and the TPR / FPR parities they fit their thresholds there, on "
                            "scores their base model never saw, which keep their gaps on new rows better "
                            "than the base's own training scores (at demographic parity they keep the "
                            "training rows). Every method is then chosen on the other half."):
            threshold_rows = 0.5
    state.prepare_widget("w.train.seeds", 1)
    n_seeds = st.number_input("Seeds per setting", 1, 10, key="w.train.seeds",
                              help="Several seeds show how much results vary from training noise.")
    state.prepare_widget("w.train.jobs", 1, [1, 2])
    n_jobs = st.selectbox("Parallel workers", [1, 2], key="w.train.jobs")

if not methods:
    st.warning("Choose at least one method.", icon=":material/warning:")
    state.stop_page()
if fairness is None:
    st.error("The chosen methods share no fairness definition; choose methods that can target the "
             "same one.", icon=":material/error:")
    state.stop_page()
if custom and hi <= lo:
    st.error("The largest eta must be above the smallest.", icon=":material/error:")
    state.stop_page()
if use_tolerance and tolerance is None:
    state.stop_page()  # the tolerances were refused: the message under them says why
if grid_mode == GRID_MODES[2] and lists is None:
    state.stop_page()  # a list was refused: the message names the method and its range

if custom:
    try:
        grid = eta_grid(lo, hi, n_etas, log=log)
    except ValueError as exc:
        st.error(md(exc), icon=":material/error:")
        state.stop_page()
# A method with a bounded eta (a fraction in [0, 1], say) keeps its own grid: the custom range is
# mapped onto it rather than refused (the caption under the range says so).
if lists is not None:
    etas = {m: lists.get(m) or METHODS[m].grid(n_etas) for m in methods}
else:
    etas = {m: grid if custom and not METHODS[m].eta_bounded else METHODS[m].grid(n_etas) for m in methods}

settings = SweepSettings(methods=tuple(methods), etas=tuple((m, tuple(etas[m])) for m in methods),
                         seeds=tuple(range(int(n_seeds))), fairness=fairness, n_jobs=int(n_jobs),
                         params=ur.training_params(methods), adaptive=bool(adaptive), spacing=float(spacing),
                         budget=None if budget is None else int(budget),
                         # One tolerance keeps the float (and the cache key) it always had.
                         tolerance=None if tolerance is None else tolerance[0] if len(tolerance) == 1 else tolerance,
                         threshold_rows=threshold_rows)
# The split this sweep trains and chooses on (offered from CROSSFIT_BELOW_ROWS training rows on,
# whose validation part always halves).
run_split = ur.sweep_split(split, settings)
if threshold_rows is not None:
    sizes.markdown(split_sizes(run_split, f" (and {len(run_split.thresholds):,} set aside for the thresholds)"))
    st.caption(f"{len(run_split.thresholds):,} validation rows are set aside for the thresholds; every "
               f"method is chosen on the other {len(run_split.validation):,}.")
# The job computes each run's intervals as it stores it (reporting): part of the time.
try:
    est = estimate_seconds(run_split, methods, settings.etas_dict(), settings.seeds, store=result_store(),
                           reporting=True, **settings.sweep_options())
except RegistryError as exc:  # more runs than a method may train (the plan names the counts)
    st.error(md(exc), icon=":material/error:")
    state.stop_page()
grid_word = "grid runs" if adaptive or tolerance is not None else "runs"
placed = duration_text(est["refine_seconds"])
st.markdown(f"**{est['runs']} {grid_word}** ({est['cached']} already stored, {est['to_train']} to train). "
            f"Estimated time: **{duration_text(est['seconds'])}**"
            + (f", plus up to {int(budget)} placed runs per method and seed (up to {placed} more; only "
               f"where the grid leaves neighbours more than {spacing:g} apart)." if adaptive else ".")
            + (f" Models bracketing {gaps_text(tolerance)} are trained by bisection"
               + ("." if adaptive else f" (up to {placed}).") if tolerance is not None else ""))
if ud.offer_sample(est["seconds"], len(cur.frame), cur.data_hash):  # a long sweep on a large table
    sample, sample_split = ud.default_sample_split(cur)
    on_sample = estimate_seconds(sample_split, methods, settings.etas_dict(), settings.seeds, store=result_store(),
                                 reporting=True, **settings.sweep_options())
    st.info(ud.sample_hint(est["seconds"], on_sample["seconds"], sample), icon=":material/speed:")
    st.page_link("views/data.py", label="Choose a sample on the Data page", icon=":material/arrow_back:")
with st.expander("Eta values per method"):
    for m, grid in settings.etas:
        st.markdown(f"- {METHODS[m].label}: {', '.join(f'{e:g}' for e in grid)}")

key = settings.key(split)
st.session_state[ur.TRAIN_SETTINGS_KEY] = key  # the pages after this one compare their sweep with it
if (st.session_state.get(ur.SWEEP_KEY) is None and est["runs"] and not est["to_train"]
        and ur.sweep_results(run_split, settings) is not None):
    # Every run of these settings is stored (an earlier visit, before a reload or a restart):
    # show them without training. Only this session's own data can produce this key.
    ur.set_sweep(run_split, settings)
    st.caption("These settings were trained before: the results come from the store.")


def _start(split, settings: SweepSettings) -> None:
    # A callback runs before the script, so the run it causes already draws the button disabled
    # (a click handled in the script would leave it enabled until the next full rerun).
    registry().start(split, settings, result_store())
    ur.set_sweep(split, settings)


mine = st.session_state.get(ur.SWEEP_KEY)  # the sweep this session started last
running = registry().get(mine) if mine else None
if running is not None and running.status != "running":
    running = None
st.button("Run sweep", type="primary", icon=":material/play_arrow:", key="train.start",
          on_click=_start, args=(run_split, settings), disabled=running is not None,
          help="This page follows a running sweep: wait for it, or cancel it (or stop watching it) "
               "below." if running else None)


@st.fragment(run_every=1.0)
def _progress(job_key: str) -> None:
    """Polls the background job; re-renders only this block while the sweep runs."""
    job = registry().get(job_key)
    if job is None:
        return
    # One reading of the counts for the banner and the bar: the job moves on between two.
    done, counted = job.done, job.progress_text()
    if st.session_state.get(RESTORED_SWEEP) == job_key:
        st.info(f"A sweep for this data is running: {counted}. It was started "
                "before this page was reloaded.", icon=":material/autorenew:")
    if job.starting:
        # Before the first progress: the runs are planned and looked up in the store.
        st.progress(0.0, text="Starting the sweep: planning the runs and reading the stored ones...")
    else:
        total = max(job.total, 1)
        left = job.seconds_left()
        eta_text = "" if left is None else (f", about {duration_text(left)} left" if left >= 1 else
                                            ", finishing")
        st.progress(min(done / total, 1.0), text=f"{counted}{eta_text}")
    if job.status == "running" and job.cancelling:
        # A method's etas train together in one pass (sweep._tasks): several runs may still
        # finish after the click (state audit, session 44, saw 9).
        st.caption("Cancelling once the runs training now finish (a method's etas train together, so several "
                   "may); finished runs are kept.")
    elif job.status == "running" and job.can_cancel(session_owner()):
        if st.button("Cancel", icon=":material/stop:", key="train.cancel"):
            job.cancel(session_owner())
            st.rerun(scope="fragment")
    elif job.status == "running":
        # Same data and settings as a sweep another session started: watch it, or stop watching.
        st.caption("Another session started this sweep (same data and settings); only it can cancel it.")
        if st.button("Stop watching", icon=":material/link_off:", key="train.detach"):
            ur.detach_sweep()
            st.rerun()
    else:
        st.rerun()  # full rerun: the finished state below replaces the polling block


job = registry().get(mine) if mine else None
if job is not None and job.status == "running":
    _progress(mine)
elif job is not None and job.status == "failed":
    st.error(f"The sweep failed: {md(job.error)}", icon=":material/error:")
elif job is not None and job.status == "cancelled":
    st.warning(f"The sweep was cancelled after {job.done} of {job.total} runs; finished runs are "
               "stored and will not be trained again.", icon=":material/stop_circle:")

# Assistive search (issue 22): its widgets, background job and proposals live in ui/search.py.
from ui.search import search_panel  # noqa: E402

# On the rows the sweep above trains and chooses on (with the thresholds' share of validation
# set aside when asked), so the search's trials can join its frontier.
search_panel(run_split, cur, methods, fairness, int(n_jobs))

shown = ur.shown_results()
if shown is not None:
    shown_settings, results = shown.settings, shown.results
    if shown.note:
        st.info(shown.note, icon=":material/info:")
    elif shown_settings.key(split) != key:
        st.info("The results below are from the last sweep you ran; press **Run sweep** to train "
                "the settings above.", icon=":material/info:")
    st.success(f"{len(results)} runs ready.", icon=":material/check_circle:")
    earlier = ur.earlier_runs_note()
    if earlier:
        st.caption(f":material/history: {md(earlier)}")
    gap = FAIRNESS_DEFINITIONS[shown_settings.fairness].gap_metric
    cols = ["method", "eta", "seed", "val_accuracy", f"val_{gap}", "test_accuracy", f"test_{gap}", "constant",
            "needs_sensitive_at_predict", "fit_seconds", "warnings"]
    n_constant = int(results["constant"].sum()) if "constant" in results else 0
    if n_constant:
        they = "model gives" if n_constant == 1 else "models give"
        st.warning(f"{n_constant} of {len(results)} {they} (almost) every validation row the same "
                   "decision (column *constant*): such a model's gaps are small because it tells nobody "
                   "apart. It is kept off the frontier.", icon=":material/warning:")
    st.dataframe(results[[c for c in cols if c in results]].sort_values(["method", "eta"])
                 .assign(method=lambda t: t["method"].map(method_label)),  # the name every page shows
                 hide_index=True, width="stretch")
    st.page_link("views/tradeoffs.py", label="Compare the trade-offs",
                 icon=":material/arrow_forward:")
elif job is None or job.status != "running":
    st.info("Press **Run sweep** to train.", icon=":material/info:")
