"""Data page: choose a table, say what to predict and for whom, and check it."""

import streamlit as st

from fairkit.data import read_notes
from fairkit.groups import positive_rate
from ui import controls, state
from ui import data as ud
from ui.display import md, show_group_summaries, show_problems, visible_frame

st.title("Data")
st.caption("Choose a table, the outcome to predict and the groups across which fairness is "
           "measured. Problems are listed below with what to do about them.")

source = controls.choose_source()
if source is None:
    state.clear_data()
else:
    frame = source.frame
    st.markdown(f"**{md(source.label)}**: {len(frame):,} rows × {frame.shape[1]} columns "
                f"(first {min(len(frame), ud.PREVIEW_ROWS)} shown)")
    st.dataframe(visible_frame(frame.head(ud.PREVIEW_ROWS)), hide_index=True, width="stretch", height=245)
    for note in read_notes(frame):  # what reading changed: dropped row names, decimal commas
        st.info(md(note), icon=":material/info:")

    st.header("What to predict, for whom")
    spec = controls.spec_controls(source)
    spec_dict = spec.to_dict()
    adverse = ud.adverse_outcome(source.key, spec)
    if adverse is not None:  # a risk score: "selected" is not the favourable outcome here
        st.info(f"{md(spec.target)} = {ud.positive_text(spec.positive_label)} means the person "
                f"{md(adverse.positive_meaning)}. " + ud.rate_words(adverse), icon=":material/gavel:")

    problems = ud.check(source.key, spec_dict, frame)
    data_hash = ud.table_hash(source.key, frame)
    state.set_data(frame, spec, data_hash=data_hash, name=source.name, source=source.key,
                   problems=problems)

    st.header("Checks")
    if not problems:
        st.success("No problems found: the data is ready for training.", icon=":material/check_circle:")
    elif state.data_ready():
        st.success("Ready for training; read the warnings below.", icon=":material/check_circle:")
    show_problems(problems)

    # A large table may be trained on a stratified sample: later pages then see the sample only.
    sample = ud.sample_controls(source.key, spec_dict, frame, ud.table_hash(source.key, frame),
                                usable=state.data_ready())
    ud.remember_sample(sample)
    used, used_key = frame, source.key
    if sample is not None:
        used, used_key = sample[0].frame, f"{source.key}|sample:{sample[0].rows}"
        state.set_data(used, spec, data_hash=sample[1], name=source.name, source=source.key,
                       problems=problems)

    st.header("Groups")
    summaries = ud.group_forecast(used_key, spec_dict, used)
    if not summaries:
        st.info("Choose at least one sensitive attribute to see its groups.",
                icon=":material/groups:")
    else:
        rate = positive_rate(used, spec)
        if rate is not None:
            st.caption(f"Positive rate overall: {rate:.1%} of rows have "
                       f"{md(spec.target)} = {ud.positive_text(spec.positive_label)}. Groups smaller than "
                       f"{ud.MIN_GROUP_SIZE} rows are flagged: their metrics will be uncertain.")
        small = ud.small_after_split(summaries)
        if small:
            st.warning(small, icon=":material/group_off:")
        else:
            st.caption(f"Every group will have at least {ud.MIN_GROUP_SIZE} rows in validation and in test.")
        show_group_summaries({name: ud.format_summary(s) for name, s in summaries.items()})
