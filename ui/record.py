"""The decision record on a page (Export and Review): the headline card, the body, downloads.

Everything shown comes from :mod:`fairkit.record` (one outline of the record), with every piece
of text escaped by :func:`ui.display.md`; the PDF and HTML copies are made only when their
download button is pressed.
"""

from __future__ import annotations

import datetime as dt
import re

import streamlit as st

from fairkit.record import card_markdown, render_html, render_markdown, render_pdf

from .display import md


def show_headline(rec: dict, *, reviews: str | dict | None = None) -> None:
    """The headline card in a box: what was decided, at what threshold, with which gaps, by whom."""
    with st.container(border=True):
        st.markdown("**At a glance**")
        st.markdown(card_markdown(rec, escape=md, reviews=reviews))


def show_body(rec: dict) -> None:
    """The rest of the record (the card is drawn by :func:`show_headline`), at the page's width."""
    st.markdown(render_markdown(rec, escape=md, heading_offset=2, card=False))


def _slug(text) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(text)).strip("-")[:40] or "model"


def file_stem(dataset: str, method: str, eta: float, threshold: float, *more) -> str:
    """``<dataset>-<method>-eta<eta>-t<threshold>[-<more>...]``, safe as a file name: the one
    naming of the files an export gives (the bundle, the record's PDF and HTML copies). Every
    text part is reduced to letters, digits, ``_`` and ``-`` (at most 40 characters each)."""
    return "-".join([_slug(dataset), _slug(method), f"eta{float(eta):g}", f"t{float(threshold):.2f}",
                     *map(_slug, more)])


def downloads(rec: dict, *, key: str, reviews: str | dict | None = None) -> None:
    """Download buttons for the printable record (PDF) and its HTML copy."""
    sel = rec["content"]["selected"]
    # Named as the bundle is (calibration and time too): the records of two exports of one run,
    # calibrated and not, downloaded under one name and the second replaced the first (new-user
    # audit, session 52).
    calibration = (sel.get("calibration") or {}).get("method", "none")
    try:  # as the bundle's name stamps it (records are stamped 2026-12-07T23:57:38+00:00)
        created = dt.datetime.fromisoformat(str(rec["created"])).astimezone(dt.timezone.utc).strftime(
            "%Y%m%dT%H%M%S%fZ")
    except (KeyError, TypeError, ValueError):
        created = ""
    stem = "decision-record-" + file_stem(rec["content"]["dataset"]["name"], sel["method"], sel["eta"],
                                          sel["threshold"], calibration, *([created] if created else []))
    left, right = st.columns(2)
    left.download_button("Download the record (PDF)", data=lambda: render_pdf(rec, reviews=reviews),
                         file_name=f"{stem}.pdf", mime="application/pdf", icon=":material/picture_as_pdf:",
                         key=f"{key}.pdf", on_click="ignore")
    right.download_button("Download the record (HTML)", data=lambda: render_html(rec, reviews=reviews),
                          file_name=f"{stem}.html", mime="text/html", icon=":material/html:",
                          key=f"{key}.html", on_click="ignore")
