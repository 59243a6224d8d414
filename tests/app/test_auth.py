"""ui.auth through AppTest: a server started without the project's settings serves no page."""

from __future__ import annotations

import pytest
from streamlit import config

from .conftest import new_session, texts


@pytest.fixture
def server_address():
    """Set ``server.address`` for one test and put the project's value back after it."""
    kept = config.get_option("server.address")
    yield lambda value: config.set_option("server.address", value)
    config.set_option("server.address", kept)


def test_the_project_settings_are_what_the_tests_run_with():
    # Read from .streamlit/config.toml in the folder the tests start in (the project's).
    assert config.get_option("server.address") == "127.0.0.1"


@pytest.mark.parametrize("address", [None, ""])
def test_a_server_started_without_its_settings_serves_no_page(server_address, address):
    """Streamlit read none of the project's settings (or a flag cleared the address): it listens
    on every interface with no sign-in, so the app says how to start it and shows nothing else."""
    server_address(address)
    at = new_session().run()
    assert not at.exception, at.exception
    (said,) = texts(at.error)
    assert "started without an address to listen on" in said and "--server.address 127.0.0.1" in said
    assert not at.selectbox  # no page ran: not even the Data page's dataset choice


def test_a_named_address_serves_the_pages(server_address):
    server_address("127.0.0.1")
    at = new_session().run()
    assert not at.exception and not texts(at.error)
    assert at.selectbox  # the Data page's dataset choice
