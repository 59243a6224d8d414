"""fairkit dashboard: page setup, navigation and the sidebar status.

Run with ``streamlit run app.py``. Each screen is a script in ``views/``; shared glue is in
``ui/``; all computation is in the ``fairkit`` engine.
"""

from pathlib import Path

import streamlit as st

from fairkit.data import label_text
from fairkit.store import home_exposure
from ui import auth, restore, state
from ui.export import signing_key_path
from ui.display import accessibility_styles, md, plain_errors

# A local image, not ":material/balance:": Streamlit turns a Material icon favicon into a request to
# Google's font servers on every page load (a privacy leak, and an error offline).
FAVICON = Path(__file__).parent / "ui" / "favicon.png"
st.set_page_config(page_title="fairkit", page_icon=str(FAVICON), layout="wide")
accessibility_styles()  # focus rings and reflow for every page, the refusals below included
exposed = auth.unprotected_listener()
if exposed:
    # Before any page: nothing of the data or the audit log is served on an open interface.
    st.error(exposed, icon=":material/gpp_bad:")
    st.stop()
if not auth.dashboard_gate():
    st.stop()  # sign-in is set up and nobody usable is signed in: no page, no data, no log

# One line per screen, in the order of the workflow.
PAGES = [
    st.Page("views/data.py", title="Data", icon=":material/table_view:", default=True),
    st.Page("views/train.py", title="Train", icon=":material/model_training:"),
    st.Page("views/tradeoffs.py", title="Trade-offs", icon=":material/scatter_plot:"),
    st.Page("views/groups.py", title="Groups", icon=":material/groups:"),
    st.Page("views/export.py", title="Export", icon=":material/download:"),
    st.Page("views/review.py", title="Review", icon=":material/rate_review:"),
]

page = st.navigation(PAGES)
# Each page its own browser title: every page was "fairkit", so a page change gave a screen-reader
# user no word (WCAG 2.4.2; accessibility audit, session 49).
st.set_page_config(page_title=f"{page.title} · fairkit")
# A reload (a new session) starts from this browser's latest choices and sweep (ui/restore.py).
restored = restore.restore()
if restored:
    st.toast(restored, icon=":material/restore:")

with st.sidebar:
    # Bold, not a heading: the sidebar comes first on the page, and a heading there stood before
    # each page's own title (its h1) in the page's outline.
    st.markdown("**fairkit**")
    st.caption("Fair-by-design training and the fairness/accuracy trade-off.")
    home_warning = home_exposure(key_file=signing_key_path())
    if home_warning:
        st.warning(md(home_warning), icon=":material/folder_shared:")
    # Filled after the page has run, so it shows the choices made in this very run.
    status = st.container()
    who = auth.identity()
    if who is not None:
        st.caption(f"Signed in as {md(who.actor)}")

with plain_errors(f"The {page.title} page"):
    try:
        page.run()
    except state.PageStopped:
        # A page that stops early ("Run a sweep first") still gets the sidebar's status, which
        # says what is missing, and its widgets remembered (state audit, session 44).
        pass


def _sidebar_status() -> None:
    current = state.current_data()
    with status:
        st.markdown("**Current data**")
        if current is None:
            st.caption("No dataset chosen yet: start on the Data page.")
            return
        spec = current.spec
        sensitive = ", ".join(md(c) for c in spec.sensitive) or "none chosen"
        # Until the user chooses them, the spec holds "" and None: say so, not "= None".
        target = ("not chosen yet" if not spec.target
                  else f"{md(spec.target)} (positive label not chosen yet)" if spec.positive_label is None
                  else f"{md(spec.target)} = {label_text(spec.positive_label, quote=md)}")
        st.markdown(
            f"Dataset: **{md(current.name)}**  \n"
            f"Rows: {len(current.frame):,}  \n"
            f"Target: {target}  \n"
            f"Sensitive: {sensitive}"
        )
        n_errors = sum(p.severity == "error" for p in current.problems)
        if current.ready:
            st.success("Ready to train", icon=":material/check_circle:")
        else:
            st.error(f"{n_errors} problem(s) to fix on the Data page", icon=":material/error:")


_sidebar_status()
restore.keep_run()
