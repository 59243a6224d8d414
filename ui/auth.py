"""Who is using the dashboard: Streamlit's OpenID Connect sign-in, when the organisation set it up.

With an ``[auth]`` section in ``.streamlit/secrets.toml`` (``redirect_uri``, ``cookie_secret``
and a provider's ``client_id``, ``client_secret``, ``server_metadata_url``: see Streamlit's
``st.login``), the Export and Review pages ask people to sign in through the organisation's
single sign-on, and every audit entry they make carries the identity the provider vouched for
(name, e-mail, issuer). Without it, names are typed and recorded as self-declared
(:data:`fairkit.audit.SELF_DECLARED`).
"""

from __future__ import annotations

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


def configured() -> bool:
    """Sign-in is set up: ``[auth]`` with a redirect URI, a cookie secret and a provider."""
    section = _auth_section()
    if not section or "redirect_uri" not in section or "cookie_secret" not in section:
        return False
    return "client_id" in section or provider() is not None


def identity() -> Identity | None:
    """The signed-in person as the provider vouched for them, or None (not signed in, or sign-in
    not configured)."""
    if not configured() or not st.user.get("is_logged_in"):
        return None
    email = str(st.user.get("email") or "")
    return Identity(name=str(st.user.get("name") or email), email=email,
                    issuer=str(st.user.get("iss") or ""), subject=str(st.user.get("sub") or ""))


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
    widely names one).
    """
    if st.get_option("server.address") or configured():
        return None
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
        st.info(f"Sign in with your organisation's account to {purpose}: the audit log records "
                "the identity your sign-in provider confirms.", icon=":material/login:")
        if st.button("Sign in", icon=":material/login:", key="auth.login", type="primary"):
            if provider():
                st.login(provider())
            else:
                st.login()
        return False
    left, right = st.columns([5, 1], vertical_alignment="center")
    left.caption(f"Signed in as **{md(who.actor)}** (verified by {md(who.issuer)}).")
    if right.button("Sign out", key="auth.logout"):
        st.logout()
    return True
