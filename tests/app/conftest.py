"""Shared set-up for AppTest tests of the dashboard."""

from __future__ import annotations

import pytest
from streamlit.runtime.pages_manager import PagesManager


@pytest.fixture(autouse=True)
def _navigation_not_pages_directory(monkeypatch):
    """Run ``app.py`` on every AppTest rerun, as the real server does.

    Streamlit treats a ``pages/`` folder next to the entry script as the old (v1) multipage
    layout until ``st.navigation`` is called. The real server keeps the "st.navigation is in
    use" flag once ``app.py`` has called it, but AppTest (1.67) resets the flag before every
    run, so from the second run on it would execute ``pages/data.py`` alone, without
    ``app.py`` (no sidebar, no widget memory). Pinning the flag to False restores the server's
    behaviour.
    """
    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)
    yield
    PagesManager.uses_pages_directory = None
