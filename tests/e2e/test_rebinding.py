"""DNS rebinding (audit 3, §2): a web page whose own name resolves to 127.0.0.1 gets no dashboard.

A page at ``http://evil.example:PORT`` that made its name resolve to the operator's loopback would
load the localhost dashboard under its own origin and read and drive it. The project's settings
list the names the server answers to (``server.allowedHosts``), so the dashboard's WebSocket, which
carries every page, is refused for any other name.
"""

from __future__ import annotations

import http.client
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from .helpers import wait_for_app
from .server import CHROMIUM, CHROMIUM_ARGS


def _handshake(url: str, host: str) -> int:
    """Status of a WebSocket upgrade to the dashboard's stream with ``host`` as the Host header."""
    where = urlparse(url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
    try:
        conn.request("GET", "/_stcore/stream", headers={
            "Host": host, "Origin": f"http://{host}", "Connection": "Upgrade", "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.mark.e2e
def test_the_stream_answers_only_to_the_local_names(streamlit_server):
    port = urlparse(streamlit_server).port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
        assert _handshake(streamlit_server, host) == 101, host
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}"):
        assert _handshake(streamlit_server, host) == 403, host


@pytest.mark.e2e
def test_a_page_rebound_to_the_loopback_shows_nothing_of_the_dashboard(browser, streamlit_server):
    """Chromium resolving evil.example to 127.0.0.1, as a rebinding DNS answer makes it: the
    same server shows its pages under 127.0.0.1 and nothing under evil.example."""
    port = urlparse(streamlit_server).port
    rebound = browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=[
        *CHROMIUM_ARGS, "--host-resolver-rules=MAP evil.example 127.0.0.1"])
    try:
        tab = rebound.new_page()
        tab.goto(streamlit_server)
        wait_for_app(tab)
        expect(tab.get_by_text("Current data")).to_be_visible()  # the sidebar: the app ran
        tab.goto(f"http://evil.example:{port}/")
        tab.wait_for_timeout(5000)  # the front end's connection attempts
        assert "Current data" not in tab.locator("body").inner_text()
        assert tab.get_by_test_id("stSidebar").count() == 0
    finally:
        rebound.close()
