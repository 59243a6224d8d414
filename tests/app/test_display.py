"""ui.display.md: user text shown as text in Markdown, bare URLs and e-mail addresses included."""

import re

import pytest

from ui.display import WORD_JOINER, md

# GitHub-flavoured Markdown's literal autolinks, as remark (Streamlit's Markdown) finds them in
# text whose escapes are already resolved (mdast-util-gfm-autolink-literal).
GFM_URL = re.compile(r"(https?://|www(?=\.))([-.\w]+)([^ \t\r\n]*)", re.IGNORECASE | re.ASCII)
GFM_EMAIL = re.compile(r"([-.\w+]+)@([-\w]+(?:\.[-\w]+)+)", re.ASCII)


def _resolved(markdown: str) -> str:
    """The text Markdown shows: backslash escapes resolved."""
    return re.sub(r"\\(.)", r"\1", markdown)


@pytest.mark.parametrize("text", [
    "https://evil.example/login", "group http://evil.example", "HTTPS://EVIL.EXAMPLE",
    "www.evil.example", "see (www.evil.example)", "_www.evil.example", "admin@evil.example",
    "mailto:admin@evil.example",
])
def test_a_bare_url_in_data_does_not_become_a_link(text):
    shown = _resolved(md(text))
    assert not GFM_URL.search(shown) and not GFM_EMAIL.search(shown), shown
    # It still reads the same: only invisible word joiners were added.
    assert shown.replace(WORD_JOINER, "") == text


def test_the_autolink_patterns_do_find_unescaped_urls():
    """The oracle above can fail: it finds the links in the raw text."""
    assert GFM_URL.search("https://evil.example") and GFM_URL.search("www.evil.example")
    assert GFM_EMAIL.search("admin@evil.example")


def test_a_long_table_keeps_its_accessible_name():
    """Past ``max_rows`` a table becomes a canvas ``st.dataframe``: it lost its ``alt`` there, so a
    screen reader's name for the Review page's selections depended on how long the history was."""
    from streamlit.testing.v1 import AppTest

    def page():
        import pandas as pd

        from ui.display import show_table

        show_table(pd.DataFrame({"a": range(3)}), alt="short one")
        show_table(pd.DataFrame({"a": range(61)}), alt="long one")

    at = AppTest.from_function(page).run()
    assert not at.exception
    assert [t.proto.alt for t in at.table] == ["short one"]
    assert [d.proto.alt for d in at.dataframe] == ["long one"]


def _shown_by_magic(path) -> list[int]:
    """Lines of ``path`` that Streamlit's magic would write (bare values and non-docstring text)."""
    import ast

    tree = ast.parse(path.read_text())
    lines = []
    for parent in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(parent, field, None)
            for i, node in enumerate(body if isinstance(body, list) else []):
                if not isinstance(node, ast.Expr) or isinstance(node.value, (ast.Call, ast.Await, ast.Yield,
                                                                              ast.YieldFrom)):
                    continue
                docstring = (i == 0 and field == "body" and isinstance(node.value, ast.Constant)
                             and isinstance(parent, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef)))
                if not docstring:
                    lines.append(node.lineno)
    return lines


def test_no_page_relies_on_magic_which_the_dashboard_turns_off():
    # .streamlit/config.toml sets runner.magicEnabled = false (its rewrite of every page was an
    # eighth of the app tests' time): a bare expression on a page would silently show nothing.
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    assert "magicEnabled = false" in (root / ".streamlit" / "config.toml").read_text()
    pages = [root / "app.py", *sorted((root / "views").glob("*.py"))]
    assert len(pages) > 5
    assert {p.name: _shown_by_magic(p) for p in pages if _shown_by_magic(p)} == {}
