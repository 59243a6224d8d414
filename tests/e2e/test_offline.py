"""The dashboard asks nothing of the outside world: every request a page makes stays on the server."""

from urllib.parse import urlparse

import pytest

from .helpers import wait_for_app


@pytest.mark.e2e
def test_pages_make_no_request_off_the_server(page, streamlit_server):
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    server = urlparse(streamlit_server).netloc
    for path in ("", "/train", "/review"):
        page.goto(streamlit_server + path)
        wait_for_app(page)
        page.wait_for_timeout(1500)  # favicon and fonts load after the first render
    outside = sorted({u for u in requests
                      if urlparse(u).scheme in ("http", "https", "ws", "wss") and urlparse(u).netloc != server})
    # A Material icon as page_icon was a request to Google's font servers on every load.
    assert outside == []
    assert any(u.startswith(streamlit_server) for u in requests)
