"""ui.auth through AppTest: a server started without the project's settings serves no page."""

from __future__ import annotations

import pytest
from streamlit import config

from ui.display import md

from .conftest import new_session, texts


@pytest.fixture
def server_address():
    """Set ``server.address`` for one test and put the project's value back after it."""
    kept = config.get_option("server.address")
    yield lambda value: config.set_option("server.address", value)
    config.set_option("server.address", kept)


@pytest.fixture
def allowed_hosts():
    """Set ``server.allowedHosts`` for one test and put the project's value back after it."""
    kept = config.get_option("server.allowedHosts")
    yield lambda value: config.set_option("server.allowedHosts", value)
    config.set_option("server.allowedHosts", kept)


def test_the_project_settings_are_what_the_tests_run_with():
    # Read from .streamlit/config.toml in the folder the tests start in (the project's).
    assert config.get_option("server.address") == "127.0.0.1"
    assert config.get_option("server.allowedHosts") == ["localhost", "127.0.0.1", "::1"]


@pytest.mark.parametrize("hosts", [[], ["*"]])
def test_a_server_that_answers_to_any_name_serves_no_page(allowed_hosts, hosts):
    """Without a list of the names it answers to, Streamlit takes any Host: a web page that
    rebinds its own name to 127.0.0.1 reads and drives the dashboard (audit 3, §2). The app says
    how to start it and shows nothing else."""
    allowed_hosts(hosts)
    at = new_session().run()
    assert not at.exception, at.exception
    (said,) = texts(at.error)
    assert "server.allowedHosts" in said and "--server.allowedHosts localhost" in said
    assert not at.selectbox


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


AUTH = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "s" * 32,
        "client_id": "fairkit", "client_secret": "x", "server_metadata_url": "http://127.0.0.1:9/.well-known"}
ISSUER = "http://127.0.0.1:9"


def sign_in(monkeypatch, **claims) -> None:
    """Stand in for the provider: ``st.user`` holds ``claims`` (a signed-in user unless
    ``is_logged_in`` is given) for the sessions run after this call. (AppTest's own ``user``
    is not in Streamlit 1.65, the declared floor.)"""
    from ui import auth

    user = {"is_logged_in": True, "iss": ISSUER, **claims}
    monkeypatch.setattr(auth, "_user", lambda: user)


def signed_in_session(monkeypatch, page: str | None = None, **claims) -> "AppTest":
    """A session of the app with sign-in configured and the provider's ``claims``."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../../app.py", default_timeout=60)
    at.secrets["auth"] = AUTH
    sign_in(monkeypatch, **claims)
    at.run()
    if page is not None:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def test_with_sign_in_configured_no_page_is_served_before_sign_in(fast_env, monkeypatch):
    """The Review page's records, reviewers' e-mails and dissents, and the data on the others,
    are not for whoever reaches the server: before sign-in, only the sign-in prompt."""
    at = signed_in_session(monkeypatch, is_logged_in=False)
    assert any("Sign in with your organisation's account to use this dashboard" in i for i in texts(at.info))
    assert not at.selectbox and [b.label for b in at.button] == ["Sign in"]
    signed = signed_in_session(monkeypatch, name="Ana Reviewer", email="ana@example.org", sub="ana")
    assert signed.selectbox  # the Data page
    assert "Signed in as " + md("Ana Reviewer <ana@example.org>") in texts(signed.sidebar.caption)


@pytest.mark.parametrize("claims, shown", [
    ({"name": "", "email": "", "sub": "u-17"}, "user u-17"),
    ({"name": "", "email": "bo@example.org", "sub": "bo"}, "bo@example.org"),
    ({"name": "Eve\u200bReviewer", "email": "", "sub": "eve"}, "EveReviewer"),
    # An address the provider did not verify (self-registered: could be anyone's) is not shown
    # or recorded as the provider's word (attack audit, session 43); one it did verify is.
    ({"name": "Prof. Chair", "email": "chair@example.org", "email_verified": False, "sub": "x9"}, "Prof. Chair"),
    ({"name": "", "email": "chair@example.org", "email_verified": False, "sub": "x9"}, "user x9"),
    ({"name": "Prof. Chair", "email": "chair@example.org", "email_verified": True, "sub": "c1"},
     "Prof. Chair <chair@example.org>"),
])
def test_a_provider_name_that_is_empty_or_holds_invisible_characters_still_names_the_person(fast_env, monkeypatch, claims, shown):
    at = signed_in_session(monkeypatch, **claims)
    assert "Signed in as " + md(shown) in texts(at.sidebar.caption), texts(at.sidebar.caption)


def test_a_sign_in_that_names_nobody_is_asked_to_sign_in_again(fast_env, monkeypatch):
    at = signed_in_session(monkeypatch, name="", email="", sub="")
    assert any("names nobody" in i for i in texts(at.info)) and not at.selectbox


def test_a_sign_out_in_another_tab_ends_this_tabs_sign_in(fast_env, monkeypatch):
    """Streamlit reads the sign-in cookie when a session starts: a tab opened before a sign-out
    elsewhere would go on recording verdicts as the person who signed out."""
    import time

    from ui import auth

    at = signed_in_session(monkeypatch, name="Bob", email="bob@example.org", sub="bob")
    assert at.selectbox
    # Another tab of the same person presses Sign out (ui.auth.sign_out records it).
    auth._sign_outs.clear()
    auth._sign_outs()[(ISSUER, "bob")] = (time.time(), None)
    at.run()
    assert any("signed out in another tab" in i for i in texts(at.info)) and not at.selectbox
    # Somebody else is not affected, and a new sign-in (a new session) is.
    assert signed_in_session(monkeypatch, name="Ana", email="ana@example.org", sub="ana").selectbox
    assert signed_in_session(monkeypatch, name="Bob", email="bob@example.org", sub="bob").selectbox
    auth._sign_outs.clear()


def _page_gate():
    from ui import auth

    auth.sign_in_gate("record a verdict")


def test_a_sign_out_between_the_dashboards_gate_and_a_pages_gate_is_told_as_one(fast_env, monkeypatch):
    """A sign-out in another tab can land while this tab's run is between the dashboard's gate
    and a page's (seen in a browser under load): the page's gate then says what happened, and
    its button clears the stale cookie first, as the dashboard's does; signing in over that
    cookie would bring the stale sign-in back."""
    import time

    import streamlit
    from streamlit.testing.v1 import AppTest

    from ui import auth

    sign_in(monkeypatch, name="Bob", email="bob@example.org", sub="bob")
    at = AppTest.from_function(_page_gate)
    at.secrets["auth"] = AUTH
    at.run()
    assert not at.info and [b.label for b in at.button] == ["Sign out"]  # signed in: the form may show
    auth._sign_outs.clear()
    auth._sign_outs()[(ISSUER, "bob")] = (time.time(), None)
    calls = []
    monkeypatch.setattr(streamlit, "logout", lambda: calls.append("logout"))
    monkeypatch.setattr(streamlit, "login", lambda *a: calls.append("login"))
    at.run()
    assert not at.exception, at.exception
    assert any("signed out in another tab" in i for i in texts(at.info)), texts(at.info)
    at.button(key="auth.login").click().run()
    assert calls == ["logout"]
    auth._sign_outs.clear()


def test_a_home_others_can_write_is_named_in_the_sidebar(fast_env, tmp_path):
    """Attacker audit 3, finding 5: the dashboard reads its runs and audit log from its home;
    one others can write is named on every page, with the remedy."""
    import os

    at = new_session()
    assert not [w for w in texts(at.sidebar.warning) if "not yours alone" in w]
    os.chmod(tmp_path, 0o777)  # fast_env's FAIRKIT_HOME
    at = new_session()
    (said,) = [w for w in texts(at.sidebar.warning) if "not yours alone" in w]
    assert "can be written by other accounts" in said and "chmod go-w" in said
    assert at.selectbox  # a warning: the pages still work
    os.chmod(tmp_path, 0o700)


@pytest.mark.parametrize("drop", ["cookie_secret", "redirect_uri", "client_secret", "server_metadata_url"])
def test_sign_in_set_up_incompletely_keeps_the_dashboard_closed_and_says_what_lacks(fast_env, monkeypatch, drop):
    """Sign-in audit, session 48: an ``[auth]`` section without its cookie secret or redirect URI
    opened the dashboard to everyone, recording typed names, with no word of it; without the
    client secret every sign-in ended on Streamlit's own error page."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../../app.py", default_timeout=60)
    at.secrets["auth"] = {k: v for k, v in AUTH.items() if k != drop}
    sign_in(monkeypatch, is_logged_in=False)
    at.run()
    assert not at.exception, at.exception
    (said,) = [e for e in texts(at.error) if "Sign-in is set up incompletely" in e]
    assert f"`{drop}`" in said and "stays closed" in said
    assert not at.selectbox and not at.button  # no page, no sign-in that cannot work


def test_a_sign_in_cookie_kept_from_before_a_sign_out_does_not_sign_in_again(fast_env, monkeypatch):
    """Sign-in audit, session 48: the sign-in cookie outlives a sign-out, and one copied before it
    opened a new session afterwards (the person's upload, verdicts under their name). A new
    session whose sign-in the provider issued no later than the one signed out is not signed in;
    a sign-in issued afterwards is."""
    import time

    from ui import auth

    auth._sign_outs.clear()
    claims = {"name": "Ana", "email": "ana@example.org", "sub": "ana", "iat": 1_700_000_000}
    assert signed_in_session(monkeypatch, **claims).selectbox
    auth._sign_outs()[(ISSUER, "ana")] = (time.time() - 5, claims["iat"])  # signed out 5 s ago
    copied = signed_in_session(monkeypatch, **claims)  # a new session, started after the sign-out
    assert not copied.selectbox and any("Sign in" in b.label for b in copied.button)
    assert signed_in_session(monkeypatch, **{**claims, "iat": claims["iat"] + 60}).selectbox
    auth._sign_outs.clear()


def test_a_provider_that_does_not_answer_is_said_at_the_sign_in_button(fast_env, monkeypatch):
    """Sign-in audit, session 48: with the provider down (or its address wrong), Sign in left the
    person on a bare "Authentication error" page. The button now says so and stays."""
    import streamlit

    calls = []
    monkeypatch.setattr(streamlit, "login", lambda *a: calls.append("login"))
    at = signed_in_session(monkeypatch, is_logged_in=False)  # AUTH's provider: 127.0.0.1:9, closed
    at.button(key="auth.login_all").click().run()
    assert not at.exception, at.exception
    (said,) = [e for e in texts(at.error) if "sign-in provider does not answer" in e]
    assert md("http://127.0.0.1:9/.well-known") in said and calls == []
