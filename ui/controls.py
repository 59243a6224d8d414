"""Widgets that build engine inputs: where the data comes from, the dataset spec, eta grids.

Widget values go through :func:`ui.state.prepare_widget`, so they are valid for the current
table and survive a visit to another page.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

import pandas as pd
import streamlit as st

from fairkit.audit import AuditLog, record_upload
from fairkit.data import DataError, DatasetSpec, positive_labels
from fairkit.methods import METHODS, RegistryError

from . import auth
from . import data as ud
from . import state
from .display import md, visible_text

BUNDLED = "Bundled sample"
UPLOAD = "Upload CSV/Parquet"
SOURCES = [BUNDLED, UPLOAD]
DEFAULT_DATASET = "adult"
UPLOAD_TYPES = ["csv", "parquet", "gz", "txt", "tsv"]
LOGGED_UPLOADS = "fk.logged_uploads"  # content hashes this session has logged as uploads


@dataclass(frozen=True)
class Source:
    """A table ready for the spec controls."""

    key: str              # cache / state identity: "bundled:<name>" or "upload:<sha256>"
    name: str             # short name (dataset name or file stem)
    label: str            # what the user sees (title or file name)
    frame: pd.DataFrame
    defaults: DatasetSpec  # starting choices for the spec widgets


def choose_source() -> Source | None:
    """Source radio plus dataset selectbox or file uploader.

    Returns None (after saying why on the page) when there is no readable table: nothing
    uploaded yet, or the file could not be read.
    """
    state.prepare_widget(state.W_SOURCE, BUNDLED, SOURCES)
    kind = st.radio("Source", SOURCES, key=state.W_SOURCE, horizontal=True)
    if kind == BUNDLED:
        return _bundled()
    return _uploaded()


def _bundled() -> Source | None:
    infos = {i.name: i for i in ud.datasets()}
    names = list(infos)
    state.prepare_widget(state.W_BUNDLED, DEFAULT_DATASET, names)
    name = st.selectbox("Sample dataset", names, key=state.W_BUNDLED,
                        format_func=lambda n: infos[n].title)
    st.caption(infos[name].description)
    try:
        frame, spec = ud.load_bundled(name)
    except (OSError, DataError) as exc:  # a broken installation, not a user mistake
        st.error(f"**The sample could not be loaded.** {md(exc)}", icon=":material/error:")
        return None
    return Source(key=f"bundled:{name}", name=name, label=infos[name].title, frame=frame,
                  defaults=spec)


def _uploaded() -> Source | None:
    file = st.file_uploader(
        "CSV or Parquet file", type=UPLOAD_TYPES, key=state.W_UPLOAD,
        help="Comma, semicolon, tab or pipe separated text (optionally .gz), or Parquet. "
             "The first row must hold the column names.")
    if file is not None:
        data = file.getvalue()
        st.session_state[state.UPLOAD] = {"name": file.name, "sha": ud.upload_digest(data),
                                          "data": data}
    kept = st.session_state.get(state.UPLOAD)
    if kept is None:
        st.info("Upload a table with one row per person and a column holding the outcome.",
                icon=":material/upload_file:")
        return None
    if file is None:
        # The uploader is empty after a visit to another page; the file is still in memory.
        left, right = st.columns([4, 1], vertical_alignment="center")
        left.caption(f"Using the file uploaded earlier: {md(kept['name'])}")
        if right.button("Forget this file", key="data.forget_upload"):
            st.session_state.pop(state.UPLOAD, None)
            st.rerun()
    try:
        frame = ud.read_upload(kept["data"], kept["name"])
    except DataError as exc:
        st.error(f"**The file could not be read.** {md(exc)}", icon=":material/error:")
        return None
    logged = st.session_state.setdefault(LOGGED_UPLOADS, set())
    if kept["sha"] not in logged:  # once per file and session, by content hash
        record_upload(AuditLog(), actor=auth.actor(), name=kept["name"], data_hash=kept["sha"],
                      rows=len(frame), columns=frame.shape[1], size_bytes=len(kept["data"]))
        logged.add(kept["sha"])
    stem = PurePath(kept["name"]).name.split(".")[0] or "upload"
    return Source(key=f"upload:{kept['sha']}", name=stem, label=kept["name"], frame=frame,
                  defaults=ud.guess_spec(frame, stem))


def spec_controls(source: Source) -> DatasetSpec:
    """Target, positive label, sensitive attributes and exclusions for ``source``'s table."""
    frame, d = source.frame, source.defaults
    columns = list(frame.columns)
    key = lambda field: state.spec_widget_key(source.key, field)  # noqa: E731

    left, right = st.columns(2)
    with left:
        state.prepare_widget(key("target"), d.target, columns)
        target = st.selectbox(
            "Target (the outcome to predict)", columns, key=key("target"), format_func=visible_text)
        values = ud.column_values(frame, target) if target is not None else []
        # Which outcome is favourable is never guessed from the values: only a bundled
        # dataset's spec presets it. Until the user chooses, the box is empty and the checks
        # below say what to choose. One widget per target, so a choice made for one column is
        # not carried over to another.
        preset = positive_labels(d.positive_label) if target == d.target else []
        default_pos = preset[0] if preset and preset[0] in values else None
        positive_key = key(f"positive.{target}")
        state.prepare_widget(positive_key, default_pos, [*values, None])
        label, label_help = ud.positive_label_text(source.key, target)
        positive = st.selectbox(label, values, key=positive_key, format_func=visible_text,
                                placeholder="Choose the favourable outcome", help=label_help)
        if positive is not None and len(values) > 2:
            # A file may spell one outcome several ways ('>50K' and '>50K.'): the user says
            # which other values mean it too. Never guessed; the checks name likely ones.
            others = [v for v in values if v != positive]
            also_key = key(f"also_positive.{target}")
            state.prepare_widget(also_key, [v for v in preset[1:] if v in others], others, multi=True)
            also = st.multiselect(
                "Also positive (other values that mean the same outcome)", others, key=also_key,
                format_func=visible_text, placeholder="None",
                help="Rows with these values count as positive too, for a file that spells one "
                     "outcome several ways (for example '>50K' and '>50K.').")
            positive = [positive, *also] if also else positive
    with right:
        sens_options = [c for c in columns if c != target]
        # A choice the target now takes is dropped from the lists below: said, not silent (state
        # audit, session 44: a target tried and changed back left the analysis without `sex`).
        taken = [c for c in (list(state.widget_value(key("sensitive"), list(d.sensitive)) or [])
                             + list(state.widget_value(key("exclude"), list(d.exclude)) or [])) if c == target]
        state.prepare_widget(key("sensitive"), list(d.sensitive), sens_options, multi=True)
        sensitive = st.multiselect(
            "Sensitive attributes", sens_options, key=key("sensitive"), format_func=visible_text,
            help="Fairness is measured across the groups of these columns and their "
                 "intersections (for example sex & race).",
            placeholder="Choose one or more columns")
        excl_options = [c for c in columns if c != target and c not in sensitive]
        state.prepare_widget(key("exclude"), list(d.exclude), excl_options, multi=True)
        exclude = st.multiselect(
            "Columns to leave out of the model", excl_options, key=key("exclude"),
            format_func=visible_text, placeholder="None",
            help="Identifiers, other models' scores, or anything that leaks the outcome.")
        state.prepare_widget(key("sens_feat"), bool(d.sensitive_as_features))
        as_features = st.checkbox(
            "Also use the sensitive attributes as model inputs", key=key("sens_feat"),
            help="Off by default: the model then cannot use group membership directly.")
        if taken:
            st.caption(f":material/info: {md(target)} is the target now, so it was taken out of the "
                       "columns chosen above; choose it there again if you change the target back.")
    return DatasetSpec(
        target=target if target is not None else "", positive_label=positive,
        sensitive=list(sensitive), exclude=list(exclude), sensitive_as_features=as_features,
        name=source.name,
    )


# --------------------------------------------------------------------------- eta grids (Train page)

def bounded_note(methods) -> str:
    """What a custom eta range does to the chosen methods, said next to the range control."""
    bounded = [METHODS[m] for m in methods if METHODS[m].eta_bounded and METHODS[m].sweeps_eta]
    once = [METHODS[m].label for m in methods if not METHODS[m].sweeps_eta]
    text = "The range applies to the methods with an open-ended eta."
    if bounded:
        text += (" Methods with a bounded eta keep their own range: "
                 + ", ".join(f"{md(m.label)} {m.valid_range}" for m in bounded) + ".")
    if once:
        text += f" Trained once: {md(', '.join(once))}."
    return text + " To give each method its own values, choose *Custom list per method*."


def tolerance_input() -> tuple | None:
    """A text box of the validation gaps a sweep brackets (``"0.01, 0.02, 0.05"``).

    Returns
    -------
    tuple of float or None
        The tolerances, sorted; None when the text was refused (the message is on the page).
    """
    from fairkit.sweep import parse_numbers, tolerances

    state.prepare_widget("w.train.tolerance", "0.05")
    text = st.text_input("Tolerances (largest acceptable validation gaps)", key="w.train.tolerance",
                         help="One or several, separated by commas (0.01, 0.02, 0.05: the gaps the "
                              "committee may choose at). Each method gets a model just within each.")
    try:
        out = tolerances(parse_numbers(str(text)))
    except ValueError as exc:
        st.error(f"The tolerances cannot be read: {md(exc)}. Type gaps between 0 and 1, such as 0.02, "
                 "separated by commas.", icon=":material/error:")
        return None
    return out


def eta_lists(methods, n_etas: int) -> dict | None:
    """A text box of etas per method that sweeps eta, each checked against the method's range.

    Each box starts with the method's own grid of ``n_etas`` values; an emptied box stands for
    that grid again. A list that cannot apply to its method (not numbers, or outside the range
    of :meth:`fairkit.methods.Method.check_etas`) is refused with a message naming the method
    and its range, and nothing trains.

    Returns
    -------
    dict or None
        Method -> its etas; None when a list was refused (the messages are on the page).
    """
    from fairkit.sweep import parse_numbers

    out, ok = {}, True
    for name in methods:
        m = METHODS[name]
        if not m.sweeps_eta:
            continue
        key = f"w.train.etas.{name}"
        own = m.grid(n_etas)
        own_text = ", ".join(f"{e:g}" for e in own)
        state.prepare_widget(key, own_text)
        text = st.text_input(f"Etas of {m.label}", key=key, help=f"Valid range: {m.valid_range}; "
                             f"eta = {m.eta_meaning}. Separate values with commas; leave the box empty "
                             f"for its own grid ({own_text}).")
        if not str(text).replace(",", " ").replace(";", " ").split():
            out[name] = own
            st.caption(f"{md(m.label)}: its own grid ({own_text}).")
            continue
        try:
            out[name] = m.check_etas(parse_numbers(text), grid=own, leave_out="empty the box")
        except RegistryError as exc:  # names the values out of range and the grid an emptied box trains
            st.error(md(exc), icon=":material/error:")
            ok = False
        except ValueError as exc:
            st.error(f"The etas of {md(m.label)} ({m.valid_range}) cannot be read: {md(exc)}. Empty the "
                     f"box to use its own grid ({own_text}).", icon=":material/error:")
            ok = False
    return out if ok else None


