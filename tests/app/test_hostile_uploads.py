"""Hostile uploads on the dashboard (issue 18): every kind of bad file ends in a named message on
the Data page, never a traceback; an unexpected failure of a page shows a plain message; cached
uploads are bounded by the memory they hold."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from streamlit import config

from fairkit.data import DEFAULT_LIMITS
from ui import data as ud
from ui import state
from ui.controls import UPLOAD

from .conftest import new_session, texts
from .test_data_page import r_write_csv, spec_widget

ROWS = 60


def table(sep: str = ",", *, cell=lambda i: f"{20 + i % 40}", rows: int = ROWS) -> str:
    """``age, sex, y`` with ``rows`` rows; ``cell(i)`` is row i's age as written."""
    return f"age{sep}sex{sep}y\n" + "".join(
        f"{cell(i)}{sep}{'FM'[i % 2]}{sep}{int(i % 3 == 0)}\n" for i in range(rows))


def parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


def over_the_row_limit() -> bytes:
    # One row past the real limit, a few kilobytes on disk: refused from the footer.
    return parquet(pd.DataFrame({"a": np.zeros(DEFAULT_LIMITS.max_rows + 1, dtype=np.int8)}))


# name, file name, content (bytes or a function giving them), whether to choose the sex column
# and the positive label 1 first, and a text every message of the page together must hold.
CASES = [
    ("binary junk", "data.csv", bytes(range(1, 256)) * 8, False, "binary file"),
    ("NUL bytes", "data.csv", b"\x00\x01\x02PK\x03\x04\x00" * 50, False, "binary file"),
    ("UTF-16", "utf16.csv", table().encode("utf-16"), True, "eady for training"),
    ("empty file", "empty.csv", b"", False, "The table is empty"),
    ("one column", "one.csv", "y\n" + "".join(f"{i % 2}\n" for i in range(ROWS)), False,
     "single column ('y')"),
    ("colons", "colon.csv", table(":"), False, "its name holds colons"),
    ("inf values", "inf.csv", table(cell=lambda i: "inf" if i == 4 else str(i)), True,
     "infinite or too large value"),
    ("five rows", "tiny.csv", table(rows=5), True, "Only 2 row(s)"),
    ("duplicated headers", "dups.csv", table().replace("age,sex,y", "age,age,y"), False,
     "The column name 'age' appears more than once"),
    ("short row", "short.csv", table().replace("\n21,M,0\n", "\n21,M\n", 1), False,
     "1 row has fewer fields than the header (the first on line 3)"),
    ("lists in Parquet", "lists.parquet",
     lambda: parquet(pd.DataFrame({"tags": [[1, 2], [3]] * (ROWS // 2), "sex": ["F", "M"] * (ROWS // 2),
                                   "y": [0, 1, 1] * (ROWS // 3)})),
     True, "'tags' (lists or records in each cell) as text"),
    ("Parquet over the row limit", "bomb.parquet", over_the_row_limit, False,
     f"{DEFAULT_LIMITS.max_rows + 1:,} rows, over the limit"),
    ("R write.csv", "r.csv", r_write_csv, False, "row names"),
    ("decimal commas", "eu.csv", table(";", cell=lambda i: f"{20 + i * 0.37:.2f}".replace(".", ",")), True,
     "numbers written with decimal commas"),
]


@pytest.fixture
def at(monkeypatch, tmp_path):
    monkeypatch.setenv("FAIRKIT_HOME", str(tmp_path))
    session = new_session()
    session.radio(key=state.W_SOURCE).set_value(UPLOAD).run()
    return session


def messages(at) -> str:
    """Every error, warning, info and success box on the page, as one text."""
    return "\n".join(texts(at.error) + texts(at.warning) + texts(at.info) + texts(at.success))


@pytest.mark.parametrize("name, filename, content, choose, expected", CASES, ids=[c[0] for c in CASES])
def test_hostile_upload_gets_a_message_not_a_traceback(at, name, filename, content, choose, expected):
    data = content() if callable(content) else content
    data = data.encode() if isinstance(data, str) else data
    at.file_uploader(key=state.W_UPLOAD).set_value((filename, data, "text/csv")).run()
    assert not at.exception, at.exception
    if choose:
        spec_widget(at, "multiselect", "sensitive").set_value(["sex"]).run()
        spec_widget(at, "selectbox", "positive").set_value(1).run()
        assert not at.exception, at.exception
    shown = messages(at)
    assert expected in shown.replace("\\", "")  # markdown escapes ':' in messages
    assert "Traceback" not in shown and "File \"/" not in shown


# --------------------------------------------------------------------------- the page guard

def test_an_unexpected_failure_shows_a_plain_message(at, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom in /srv/fairkit/secret.py")

    monkeypatch.setattr(ud, "check", broken)  # the Data page's validation fails unexpectedly
    config.set_option("client.showErrorDetails", "none")  # what .streamlit/config.toml ships
    at.file_uploader(key=state.W_UPLOAD).set_value(("ok.csv", table().encode(), "text/csv")).run()
    assert not at.exception
    assert any("unexpected error" in e for e in texts(at.main.error))
    assert "boom" not in messages(at) and "secret.py" not in messages(at)
    # The rest of the app still runs: the sidebar is drawn after the page.
    assert any("Current data" in m for m in texts(at.sidebar.markdown))

    # Developers (and the other tests) see the exception itself.
    config.set_option("client.showErrorDetails", "full")
    at.run()
    assert at.exception and "boom" in at.exception[0].value


def test_a_page_that_stops_early_still_shows_the_sidebar_status(fast_env):
    """State audit, session 44: st.stop() ("Run a sweep on the Train page first") ended the whole
    run, so the sidebar's status, which says what is missing, was blank on exactly those pages."""
    at = new_session()
    at.switch_page("views/tradeoffs.py").run()
    assert any("Run a sweep" in i for i in texts(at.info))
    assert any("Current data" in m for m in texts(at.sidebar.markdown))


def test_a_failure_in_a_block_of_the_page_shows_the_plain_message_once(trained, monkeypatch):
    """State audit, session 44: the Trade-offs chooser is a fragment; its failures bypassed the
    page's handler and Streamlit drew its raw box ("...click on 'Manage app'") beside it."""
    from ui import tradeoffs as ut

    def broken(*args, **kwargs):
        raise RuntimeError("boom in /srv/fairkit/secret.py")

    monkeypatch.setattr(ut, "seeds_of", broken)
    config.set_option("client.showErrorDetails", "none")
    try:
        trained.switch_page("views/tradeoffs.py").run()
    finally:
        config.set_option("client.showErrorDetails", "full")
    assert not trained.exception
    assert sum("unexpected error" in e for e in texts(trained.error)) == 1
    assert "boom" not in messages(trained)
    assert any("Current data" in m for m in texts(trained.sidebar.markdown))


def test_shipped_config_hides_tracebacks():
    import tomllib
    from pathlib import Path

    shipped = tomllib.loads((Path(__file__).parents[2] / ".streamlit" / "config.toml").read_text())
    assert shipped["client"]["showErrorDetails"] == "none"


# --------------------------------------------------------------------------- the upload cache

def test_bounded_cache_evicts_least_recently_used_by_size():
    cache = ud.BoundedCache(max_bytes=100)
    assert cache.put("a", "A", 40) and cache.put("b", "B", 40)
    assert cache.get("a") == "A"  # "a" is now the most recently used
    assert cache.put("c", "C", 40)  # over budget: "b" goes, not "a"
    assert cache.get("b") is None and cache.get("a") == "A" and cache.get("c") == "C"
    assert cache.nbytes == 80 and len(cache) == 2
    assert not cache.put("huge", "H", 101)  # larger than the whole budget: not kept
    assert cache.get("huge") is None and len(cache) == 2
    assert cache.put("a", "A2", 10)  # a new value for a key replaces the old one's size
    assert cache.nbytes == 50 and cache.get("a") == "A2"
    cache.clear()
    assert cache.nbytes == 0 and cache.get("c") is None


def test_uploads_are_cached_within_a_byte_budget(monkeypatch):
    reads = []
    read_table = ud.read_table
    monkeypatch.setattr(ud, "read_table", lambda source: reads.append(source.name) or read_table(source))
    small = table().encode()
    size = ud.frame_nbytes(read_table(small))
    monkeypatch.setattr(ud, "_uploads", ud.BoundedCache(max_bytes=3 * size))

    first = ud.read_upload(small, "small.csv")
    again = ud.read_upload(small, "small.csv")
    assert reads == ["small.csv"]  # read once, then served from the cache
    assert again.equals(first)
    again["age"] = 0  # one session's change stays out of the cached table
    assert (ud.read_upload(small, "small.csv")["age"] != 0).all()

    big = table(rows=ROWS * 4).encode()  # more than the whole budget
    ud.read_upload(big, "big.csv")
    ud.read_upload(big, "big.csv")
    assert reads == ["small.csv", "big.csv", "big.csv"]  # read each time, never held
    assert ud._uploads.nbytes <= 3 * size

    for k in range(4):  # four more small files: the oldest is evicted
        ud.read_upload(table(rows=ROWS + k + 1).encode(), f"s{k}.csv")
    assert ud._uploads.nbytes <= 3 * size and len(ud._uploads) <= 3
    ud.read_upload(small, "small.csv")
    assert reads.count("small.csv") == 2


def test_an_uploaded_files_name_is_shown_as_text_not_markdown(at):
    """A file name is the uploader's text: bold, colour, a link or an outside image in it stay
    literal (no request leaves for the image's server)."""
    from ui.display import md

    name = "**APPROVED** :red[ok] [signed record](https://e.invalid/x) ![p](https://e.invalid/p.png).csv"
    at.file_uploader(key=state.W_UPLOAD).set_value((name, table().encode(), "text/csv")).run()
    at.switch_page("views/train.py").run()
    at.switch_page("views/data.py").run()
    assert not at.exception, at.exception
    (shown,) = [c for c in texts(at.caption) if c.startswith("Using the file uploaded earlier")]
    assert shown == f"Using the file uploaded earlier: {md(name)}"
    assert "](" not in shown.replace("\\]", "") and "**APPROVED**" not in shown


def test_a_bidi_override_in_an_upload_is_named_and_shown_as_a_marker(at):
    """A right-to-left override in a column name or a group reverses the figures shown after it
    (audit 3, §4): the Data page warns, naming the column, and shows the character as a marker."""
    data = table().replace("age,", "age \u202e,").replace(",F,", ",F\u202e,").encode()
    at.file_uploader(key=state.W_UPLOAD).set_value(("loans\u202e.csv", data, "text/csv")).run()
    spec_widget(at, "multiselect", "sensitive").set_value(["sex"]).run()
    spec_widget(at, "selectbox", "positive").set_value(1).run()
    assert not at.exception, at.exception
    warned = [w for w in texts(at.warning) if "U+202E" in w]
    assert any("age <U+202E>" in w.replace("\\", "") for w in warned), texts(at.warning)
    assert any("Values of 'sex'" in w for w in warned), texts(at.warning)
    shown = "\n".join(messages(at).splitlines() + texts(at.markdown) + texts(at.caption))
    assert "\u202e" not in shown and "loans<U+202E>.csv" in shown.replace("\\", "")
    # Widgets and the preview table show plain text: the override as a marker there too.
    options = spec_widget(at, "selectbox", "target").options + spec_widget(at, "multiselect", "sensitive").options
    assert "age <U+202E>" in options and not any("\u202e" in o for o in options), options
    (preview,) = at.dataframe
    assert "age <U+202E>" in preview.value.columns
    assert "F<U+202E>" in set(preview.value["sex"]) and not preview.value["sex"].str.contains("\u202e").any()
