"""Who is using the dashboard: Streamlit's OpenID Connect sign-in, when the organisation set it up.

With an ``[auth]`` section in ``.streamlit/secrets.toml`` (``redirect_uri``, ``cookie_secret``
and a provider's ``client_id``, ``client_secret``, ``server_metadata_url``: see Streamlit's
``st.login``), the Export and Review pages ask people to sign in through the organisation's
single sign-on, and every audit entry they make carries the identity the provider vouched for
(name, e-mail, issuer). Without it, names are typed and recorded as self-declared
(:data:`fairkit.audit.SELF_DECLARED`).
"""

from __future__ import annotations

import datetime as dt
import time
import unicodedata
from collections.abc import Mapping

import streamlit as st

from fairkit.audit import Identity

from .display import md

#: Who an upload or a sweep is recorded as when nobody is signed in.
ANONYMOUS = "dashboard user (not signed in)"


def _auth_section() -> Mapping | None:
    try:
        section = st.secrets.get("auth")
    except Exception:  # no secrets file at all: Streamlit raises its own not-found error
        return None
    return section if isinstance(section, Mapping) else None


def provider() -> str | None:
    """The provider name for ``st.login``: None for the default one (credentials directly under
    ``[auth]``), else the first ``[auth.NAME]`` subsection with a ``client_id``."""
    section = _auth_section() or {}
    if "client_id" in section:
        return None
    for name, sub in section.items():
        if isinstance(sub, Mapping) and "client_id" in sub:
            return str(name)
    return None


#: What ``st.login`` needs: beside the provider's settings, and the provider's own.
_SITE_KEYS = ("redirect_uri", "cookie_secret")
_PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")


def _provider_section() -> Mapping:
    section = _auth_section() or {}
    name = provider()
    sub = section.get(name) if name else section
    return sub if isinstance(sub, Mapping) else {}


def configuration_problem() -> str | None:
    """What an ``[auth]`` section lacks for sign-in to work, or None (complete, or no section).

    A section with a key missing used to leave sign-in off without a word: the dashboard opened
    to everyone and recorded typed names, though the operator meant it closed (sign-in audit,
    session 48); a missing client secret stopped every sign-in on Streamlit's own error page.
    """
    section = _auth_section()
    if not section:
        return None
    missing = [k for k in _SITE_KEYS if not section.get(k)]
    missing += [k for k in _PROVIDER_KEYS if not _provider_section().get(k)]
    if not missing:
        return None
    where = f"[auth.{provider()}]" if provider() else "[auth]"
    return (f"**Sign-in is set up incompletely**: the `[auth]` settings in `.streamlit/secrets.toml` lack "
            f"{', '.join(f'`{k}`' for k in missing)} (the provider's settings go under `{where}`). The dashboard "
            "stays closed until they are given (see Streamlit's `st.login`), or the `[auth]` section is removed "
            "to run it without sign-in.")


def configured() -> bool:
    """Sign-in is set up: ``[auth]`` with a redirect URI, a cookie secret and a provider's
    client id, client secret and metadata URL (:func:`configuration_problem` says what lacks)."""
    return _auth_section() is not None and configuration_problem() is None


def _user() -> Mapping:
    """The sign-in's claims as Streamlit holds them for this session (``st.user``): the one
    place they are read, so tests can stand in for a provider."""
    return st.user


#: When this session first saw its signed-in identity (a sign-out elsewhere after it ends it).
SIGNED_IN_AT = "fk.signed_in_at"


@st.cache_resource
def _sign_outs() -> dict:
    """(issuer, subject) -> (when that person last pressed Sign out, in any tab; the issue time
    of the sign-in they ended), in server memory.

    Streamlit reads the sign-in cookie when a session starts: a tab opened before a sign-out in
    another tab would otherwise go on recording verdicts under the identity that signed out. And
    the cookie outlives a sign-out: one copied before it opened a new session afterwards, with
    the person's data and their name on verdicts (sign-in audit, session 48); a sign-in the
    provider issued no later than the one signed out is over too.
    """
    return {}


def _issued_at(user: Mapping) -> float | None:
    """When the provider issued this sign-in (its token's ``iat``), or None if it does not say."""
    iat = user.get("iat")
    return float(iat) if isinstance(iat, (int, float)) and not isinstance(iat, bool) else None


def _person(who: Identity) -> tuple:
    return who.issuer, who.subject or who.email or who.name


def _provider_name(value) -> str:
    # A provider's name is the provider's word, not typed: characters that show nothing (zero
    # widths, joiners) are dropped rather than refused, as the person cannot retype it.
    text = "".join(ch for ch in str(value or "") if unicodedata.category(ch) != "Cf")
    return " ".join(text.split())


def identity() -> Identity | None:
    """The signed-in person as the provider vouched for them, or None (not signed in, sign-in not
    configured, signed out in another tab since this one started, or a sign-in that names nobody:
    no name, e-mail or subject).

    A provider that gives no name is recorded by e-mail, else by its subject id. An e-mail the
    provider says it has not verified (``email_verified`` false: a self-registered address, which
    could be anyone's) is not recorded, so it never reads as the provider's word.
    """
    user = _user()
    if not configured() or not user.get("is_logged_in"):
        return None
    # OpenID Connect's claim. A provider that does not send it is taken at its word for the address
    # (Microsoft Entra ID sends none: configure such a provider to give only addresses it verified).
    email = "" if user.get("email_verified") in (False, "false", "False") else _provider_name(user.get("email"))
    subject = str(user.get("sub") or "")
    name = _provider_name(user.get("name")) or email or (f"user {subject}" if subject else "")
    if not name:
        return None
    who = Identity(name=name, email=email, issuer=str(user.get("iss") or ""), subject=subject)
    first_seen = st.session_state.setdefault(SIGNED_IN_AT, time.time())
    signed_out = _sign_outs().get(_person(who))
    if signed_out is not None:
        when, ended_issue = signed_out
        issued = _issued_at(user)
        # Issue times are the provider's clock, compared with each other only.
        if when >= first_seen or (issued is not None and ended_issue is not None and issued <= ended_issue):
            return None
    return who


def sign_in_expired() -> str | None:
    """When the provider's token behind this sign-in expired (UTC, as text), or None while it
    holds (or the provider gave no expiry). Streamlit keeps a sign-in for 30 days whatever the
    provider says; a decision (an export, a sign-off, a dissent) is recorded only under a
    sign-in the provider still vouches for."""
    user = _user()
    exp = user.get("exp") if configured() and user.get("is_logged_in") else None
    if not isinstance(exp, (int, float)) or exp > time.time():
        return None
    return dt.datetime.fromtimestamp(exp, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def sign_out() -> None:
    """Sign out here and in every other tab of this person (their next run asks them to sign in)."""
    who = identity()
    if who is not None:
        _sign_outs()[_person(who)] = (time.time(), _issued_at(_user()))
    st.logout()


#: How long the sign-in button waits for the provider to answer before saying it does not.
PROVIDER_TIMEOUT = 5.0


def provider_problem() -> str | None:
    """Why the provider cannot sign anyone in now (its metadata address does not answer), or
    None. Without this check a provider that is down, or a wrong address, left the person on a
    bare "Authentication error" page with no way back (sign-in audit, session 48)."""
    import urllib.error
    import urllib.request

    url = str(_provider_section().get("server_metadata_url") or "")
    try:
        with urllib.request.urlopen(url, timeout=PROVIDER_TIMEOUT) as answer:  # noqa: S310 (the operator's URL)
            answer.read(1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return (f"The sign-in provider does not answer ({md(url)}: {md(str(reason))}). Try again in a moment; "
                "if it goes on, tell whoever runs this dashboard (the provider may be down, or its address "
                "in the `[auth]` settings wrong).")
    return None


def _login() -> None:
    problem = provider_problem()
    if problem:
        st.error(problem, icon=":material/cloud_off:")
        return
    if provider():
        st.login(provider())
    else:
        st.login()


def dashboard_gate() -> bool:
    """With sign-in configured, the whole dashboard is for signed-in people: True when the page
    may be drawn, else shows why and a sign-in button and returns False.

    The records, reviewers' names and dissents on the Review page, and the data on the others,
    are the organisation's: with sign-in set up, nobody reads them without it.
    """
    problem = configuration_problem()
    if problem:
        st.title("fairkit")
        st.error(problem, icon=":material/gpp_bad:")
        return False
    if not configured() or identity() is not None:
        return True
    st.title("fairkit")
    _ask_to_sign_in("use this dashboard: its data, decisions and reviews are the organisation's, and "
                    "the audit log records the identity your sign-in provider confirms", "auth.login_all")
    return False


def _ask_to_sign_in(why: str, key: str) -> None:
    """Say why a sign-in is needed and offer the button: one prompt for the dashboard's gate and a
    page's. A session whose cookie still says signed in (a sign-out in another tab, or a sign-in
    that names nobody) is told so, and its button clears that cookie first: signing in over it
    would bring the same stale sign-in back."""
    stale = bool(_user().get("is_logged_in"))
    if stale:
        st.info("You signed out in another tab, or your sign-in names nobody (no name, e-mail or id "
                "from the provider). Sign in again to go on.", icon=":material/login:")
    else:
        st.info(f"Sign in with your organisation's account to {why}.", icon=":material/login:")
    if st.button("Sign in", icon=":material/login:", key=key, type="primary"):
        if stale:
            st.logout()  # the stale cookie first; the next visit signs in afresh
        else:
            _login()


def actor(typed_name: str = "") -> Identity:
    """Who an entry is recorded as: the signed-in identity, else the typed name (self-declared),
    else :data:`ANONYMOUS`."""
    return identity() or Identity(name=str(typed_name or "").strip() or ANONYMOUS)


def unprotected_listener() -> str | None:
    """Why this server must not serve pages, or None.

    Streamlit reads ``.streamlit/config.toml`` from the folder it is started in (and, in recent
    versions, the app's own folder). Where neither holds the project's settings, or a flag
    clears the address, it listens on every network interface, with no login, full tracebacks and
    usage statistics. An address of none at all is that case (an operator who means to listen
    widely names one). Without sign-in, the names the server answers to must be listed too
    (``server.allowedHosts``, not ``*``): Streamlit otherwise accepts any name, and a web page can
    reach a localhost dashboard through DNS rebinding.
    """
    # With sign-in configured every page asks for it (dashboard_gate): an operator may then
    # listen widely, behind the organisation's sign-in.
    if configured():
        return None
    hosts = [str(h).strip() for h in st.get_option("server.allowedHosts") or []]
    if st.get_option("server.address") and hosts and "*" not in hosts:
        return None
    if st.get_option("server.address"):
        # Streamlit accepts any Host when the list is empty: a web page whose name is made to
        # resolve to 127.0.0.1 (DNS rebinding) could then read and drive the dashboard.
        return ("**This dashboard was started without a list of the names it answers to** "
                "(`server.allowedHosts`), so any web page open in your browser could read and drive it "
                "under a name of its own. Stop it and start it from the project folder (`./fk app`, which "
                "reads `.streamlit/config.toml`), or pass `--server.allowedHosts localhost --server.allowedHosts "
                "127.0.0.1` (and the name a proxy serves it under).")
    return ("**This dashboard was started without an address to listen on**, so it listens on every "
            "network interface with no sign-in: the project's settings (`.streamlit/config.toml`, "
            "address 127.0.0.1) were not read or were overridden. Stop it and start it from the project "
            "folder (`./fk app`), or pass `--server.address 127.0.0.1`.")


def sign_in_gate(purpose: str) -> bool:
    """On a page that records decisions: True when the page may go on.

    With sign-in configured and nobody signed in, shows why and a sign-in button, and returns
    False (the page stops drawing its forms). Otherwise shows who is signed in (with a sign-out
    button) or that names are self-declared, and returns True.
    """
    if not configured():
        st.caption(f"Sign-in is not configured, so the name you give to {purpose} is recorded as typed "
                   "(**self-declared**), not verified.")
        return True
    who = identity()
    if who is None:
        _ask_to_sign_in(f"{purpose}: the audit log records the identity your sign-in provider confirms",
                        "auth.login")
        return False
    left, right = st.columns([5, 1], vertical_alignment="center")
    expired = sign_in_expired()
    if expired:
        left.warning(f"Your sign-in as **{md(who.actor)}** expired at {expired} (your provider's limit): "
                     f"sign out and in again to {purpose}.", icon=":material/timer_off:")
        right.button("Sign out", key="auth.logout", on_click=sign_out)
        return False
    left.caption(f"Signed in as **{md(who.actor)}** (verified by {md(who.issuer)}).")
    right.button("Sign out", key="auth.logout", on_click=sign_out)
    return True
