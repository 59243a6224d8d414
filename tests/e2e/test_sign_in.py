"""Reviewers who are who they say: Streamlit's OpenID Connect sign-in against a local provider.

A mock OpenID provider (``oidc-provider-mock``) runs on 127.0.0.1; Streamlit starts with a
secrets file whose ``[auth]`` points at it. In Chromium the reviewer opens the Review page, is
asked to sign in, signs in as a user the provider knows, and signs off: the audit entry carries
the provider's issuer and the e-mail it vouched for, not a typed name.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
import werkzeug.serving
from playwright.sync_api import expect

from fairkit.__main__ import main as cli
from fairkit.audit import AuditLog

from .conftest import FAST_ENV
from .helpers import wait_for_app
from .server import run_streamlit

USER = {"sub": "ana", "email": "ana.reviewer@example.org", "name": "Ana Reviewer"}


@pytest.fixture
def provider():
    """The mock OpenID provider on 127.0.0.1 (its issuer URL), with one predefined user."""
    import threading

    import oidc_provider_mock

    app = oidc_provider_mock.app(user_claims=[oidc_provider_mock.User(
        sub=USER["sub"], claims={"email": USER["email"], "name": USER["name"]})])
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


@pytest.fixture
def exported(tmp_path, monkeypatch):
    """A FAIRKIT_HOME whose audit log holds one exported bundle (through the CLI)."""
    home = tmp_path / "home"
    monkeypatch.setenv("FAIRKIT_HOME", str(home))
    sweep = tmp_path / "sweep"
    assert cli(["sweep", "--dataset", "german", "--methods", "unconstrained", "--out", str(sweep),
                "--no-png"]) == 0
    run_id = pd.read_csv(sweep / "results.csv")["run_id"].iloc[0]
    assert cli(["export", "--store", str(sweep), "--run", run_id, "--rationale", "Reviewed by SSO.",
                "--decider", "CLI Committee", "--n-boot", "50", "--out", str(tmp_path / "b.zip")]) == 0
    return home


@pytest.mark.e2e
def test_a_sign_off_carries_the_identity_the_provider_vouched_for(browser, provider, exported,
                                                                   tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        "[auth]\n"
        'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        'cookie_secret = "a-test-cookie-secret-that-is-long-enough-0123456789"\n'
        'client_id = "fairkit-test"\n'
        'client_secret = "fairkit-test-secret"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n'
        'client_kwargs = { scope = "openid profile email" }\n')
    env = {**FAST_ENV, "STREAMLIT_SECRETS_FILES": str(secrets)}
    with run_streamlit(exported, env=env) as url:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        try:
            page.goto(f"{url}/review")
            wait_for_app(page)
            # Signed out: no verdict form, a sign-in button instead.
            expect(page.get_by_text("Sign in with your organisation's account")).to_be_visible()
            expect(page.get_by_text("Add to the record")).to_have_count(0)
            page.get_by_role("button", name=re.compile("Sign in")).click()
            # The provider's authorization form: sign in as its predefined user.
            page.wait_for_url(re.compile(re.escape(provider)))
            page.get_by_role("button", name=USER["sub"], exact=True).click()
            page.wait_for_url(re.compile(re.escape(url)))
            page.goto(f"{url}/review")
            wait_for_app(page)
            expect(page.get_by_text(f"Signed in as {USER['name']}").first).to_be_visible()
            # Markdown text breaks a bare URL with an invisible word joiner (so data never becomes a
            # link): "http:\u2060//...".
            issuer = re.compile("verified by " + re.escape(provider).replace(":", ":\u2060?", 1))
            expect(page.get_by_text(issuer).first).to_be_visible()
            # No name to type: the identity is the provider's.
            expect(page.get_by_label("Your name (required)")).to_have_count(0)
            page.get_by_text("Sign off", exact=True).click()
            page.get_by_role("button", name=re.compile("Add to the record")).click()
            expect(page.get_by_role("cell").filter(has_text=issuer).first).to_be_visible()
            # A second tab, open before the first signs out: Streamlit read the sign-in when that
            # tab's session started, so only the server's sign-out record ends it there.
            other = context.new_page()
            other.goto(f"{url}/review")
            wait_for_app(other)
            expect(other.get_by_text(f"Signed in as {USER['name']}").first).to_be_visible()
            page.get_by_role("button", name="Sign out").click()
            page.wait_for_url(re.compile(re.escape(provider)))  # the provider's end of session
            # The second tab's form, drawn while signed in, is sent after the sign-out: refused.
            # (Under load the tab may rerun first, its session reconnecting once the sign-out
            # cleared the browser's cookie: then it shows a refusal without a form to send, the
            # dashboard's or, when the sign-out lands during that run, the Review page's.)
            radio = other.get_by_test_id("stRadioGroup").get_by_text("Sign off", exact=True)
            refused = other.get_by_text(re.compile(
                "You signed out in another tab|Sign in with your organisation's account")).first
            # As long as a click waits (30 s): under CI's load a rerun takes more than expect's 5 s.
            expect(radio.or_(refused).first).to_be_visible(timeout=30_000)
            if radio.count():
                radio.click()
                other.get_by_role("button", name=re.compile("Add to the record")).click()
            expect(refused).to_be_visible(timeout=30_000)
            expect(other.get_by_role("button", name=re.compile("Add to the record"))).to_have_count(0)
        finally:
            context.close()

    # One sign-off: the second tab's, sent after the sign-out, was not recorded.
    (signoff,) = AuditLog(exported / "audit.sqlite").entries(kind="signoff").itertuples()
    identity = signoff.details["identity"]
    assert identity["issuer"] == identity["verified_by"] == provider
    assert identity["email"] == USER["email"] and identity["name"] == USER["name"]
    assert identity["subject"] == USER["sub"]
    assert signoff.actor == f"{USER['name']} <{USER['email']}>"
    assert AuditLog(exported / "audit.sqlite").verify().ok
