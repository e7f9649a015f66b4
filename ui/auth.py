"""The password gate: only signed-in staff see anything.

``app.py`` calls ``require_user(settings)`` before running any page and
before any Redis access; it returns the username or ``st.stop()``s after
rendering the login form (or the setup message when sign-in is not
configured). So no page, and no Redis query, runs for a visitor who is not
signed in, whatever URL they opened. The gate never touches the URL; for a
deep link such as ``/bulk`` or ``/?id=…`` to land where it pointed after
signing in, the browser must know the requested page during the login runs:
app.py declares ``st.navigation`` (hidden while signed out, it runs nothing)
before calling the gate, and runs the page after it.

Built on streamlit-authenticator 0.4.x: its session-state convention
(``authentication_status``, ``username``, ``name`` …) and its signed
re-authentication cookie, which its ``Authenticate`` issues and reads. Around it:

* credentials are passed as a dict (never a path), so the library never
  writes to ``AUTH_CONFIG_PATH``;
* the login form is ours (stable widget keys), handled in its submit
  callback so the typed password is wiped from session state at once and a
  successful sign-in renders the requested page in the same run. The
  password is checked against the users file (``AuthConfig.check_password``),
  and the attempt is worked out once and applied so that a rerun cutting the
  callback short loses nothing (``_sign_in``);
* login throttling per username (``telemetry.auth.LoginThrottle``, process
  wide), since the library's ``max_login_attempts`` does not work;
* sign-out clears the whole session in the button's callback (nothing
  protected renders after it), deletes the cookie and records the sign-out so
  a cookie issued earlier is refused.

``require_user`` runs once per run (the shell calls it): it renders keyed
components (the cookie manager), which a second call would duplicate.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from pathlib import Path
from typing import Any

import streamlit as st
import streamlit_authenticator as stauth

from telemetry import Settings
from telemetry.auth import (
    DEMO_USERNAME,
    MAX_FORM_PASSWORD_CHARS,
    AuthConfig,
    AuthConfigError,
    LoginThrottle,
    SignInOutcome,
    SignOutRegistry,
    check_auth_config,
    check_sign_in,
)
from telemetry.users import MAX_USERNAME_LENGTH

from . import render
from .cache import ProcessCache
from .format import record_text

logger = logging.getLogger(__name__)

# Widget keys (stable: tests and the e2e suite drive the form through them).
LOGIN_FORM_KEY = "login_form"
USERNAME_KEY = "login_username"
PASSWORD_KEY = "login_password"  # noqa: S105 - a widget key
SUBMIT_KEY = "login_submit"
LOGOUT_KEY = "logout_button"

# streamlit-authenticator's session-state keys.
_LIBRARY_KEYS = ("name", "username", "authentication_status", "email", "roles")
# Ours: a one-shot message for the login page, a pending cookie action, and the
# connection a signed-in session is bound to.
_NOTICE_KEY = "_auth_notice"
_COOKIE_ACTION_KEY = "_auth_cookie_action"
_CONNECTION_KEY = "_auth_connection"
# A password check takes bcrypt's ~0.25 s (more on a loaded machine); a run waits at
# most this long for one begun by the run it replaced.
_CHECK_WAIT_SECONDS = 10.0
_ATTEMPT_KEY = "_auth_attempt"  # the last submitted sign-in: its outcome, applied or not

SESSION_MOVED = "Your session has ended: please sign in again."


# -- process-wide state (one per server process, shared by every session) ---------
# Plain module objects, deliberately not st.cache_resource: any websocket client,
# signed in or not, can empty Streamlit's caches with one message (BackMsg
# clear_cache), which would lift every throttle and forget every sign-out.

_THROTTLE = LoginThrottle()
_SIGN_OUTS = SignOutRegistry()


def login_throttle() -> LoginThrottle:
    """The server process's login throttle (per-username back-off)."""
    return _THROTTLE


def sign_out_registry() -> SignOutRegistry:
    """The server process's record of sign-outs (refuses cookies issued before one)."""
    return _SIGN_OUTS


def reset_security_state() -> None:
    """Forget every throttle and sign-out (tests only; a restart does the same)."""
    _THROTTLE.reset()
    _THROTTLE.clock = time.monotonic
    _SIGN_OUTS.reset()


# Keyed by the users file's stat and a digest of the cookie settings: a `users
# add/remove` takes effect at the next interaction, no restart. Not
# st.cache_resource: the gate runs on every rerun, and Streamlit hashes a cached
# function's arguments on each call (a quarter of a millisecond here).
_CONFIGS: ProcessCache[str, AuthConfig] = ProcessCache("sign-in configurations", max_entries=8)


def _cached_config(settings: Settings, fingerprint: str) -> AuthConfig:
    # check_auth_config raises AuthConfigError for a bad setup: nothing is kept then.
    return _CONFIGS.get_or_build(fingerprint, lambda: check_auth_config(settings))


def _fingerprint(settings: Settings) -> tuple[Any, ...]:
    path = Path(settings.auth_config_path)
    try:
        stat = path.stat()
        stamp: tuple[int, ...] | None = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
    except OSError:
        stamp = None
    key = settings.auth_cookie_key
    key_digest = hashlib.sha256(key.get_secret_value().encode()).hexdigest() if key else None
    return (
        settings.demo,
        str(path.absolute()),
        stamp,
        key_digest,
        settings.auth_cookie_name,
        settings.auth_cookie_expiry_days,
    )


def auth_config(settings: Settings) -> AuthConfig:
    """The (cached) sign-in configuration; ``AuthConfigError`` when not configured."""
    return _cached_config(settings, repr(_fingerprint(settings)))


# -- the gate ---------------------------------------------------------------------


def require_user(settings: Settings) -> str:
    """Render the login form and ``st.stop()`` unless signed in; returns the username.

    Call it once per run, before any page: it may render the cookie manager.
    """
    try:
        config = auth_config(settings)
    except AuthConfigError as exc:
        _render_setup_error(exc)
        st.stop()
        raise AssertionError("unreachable") from None

    if _sign_in_pending():
        _sign_in(config, submitted=False)
    username = _signed_in_user(config)
    if username and not _connection_allowed(config, username):
        logger.warning("signed out a session resumed on a connection without its cookie")
        _end_session(notice=("warning", SESSION_MOVED))
        username = None
    # The cookie actions run in a browser component, and a rerun (the cookie
    # components' own answers cause them) can unmount it before the browser ran
    # it: a lost "set" leaves a signed-in tab whose reload asks for the password
    # again; a lost "delete", a cookie a restarted server would accept again. So
    # "set" is rendered on every run until the component reports it done, and
    # "delete" stays pending until the next sign-in (deleting an absent cookie
    # is harmless).
    cookie_action = st.session_state.get(_COOKIE_ACTION_KEY)
    # Checked before rendering: a run that renders no cookie component removes them.
    if cookie_action == "set" and (not username or _cookie_set_done()):
        st.session_state.pop(_COOKIE_ACTION_KEY, None)
        cookie_action = None
    if username and cookie_action is None:
        return username

    # Built at most once per run (its cookie manager is a keyed component).
    authenticator = _build_authenticator(config)
    if cookie_action == "set":
        _run_cookie_action(authenticator, "set")
    elif cookie_action == "delete":
        _run_cookie_action(authenticator, "delete")
    if username:
        return username

    username = _sign_in_from_cookie(authenticator, config)
    if username:
        return username

    _render_login(config)
    st.stop()
    raise AssertionError("unreachable")


def render_account(settings: Settings) -> None:
    """Signed-in user and a sign-out button (call it inside ``with st.sidebar:``)."""
    username = st.session_state.get("username")
    if st.session_state.get("authentication_status") is not True or not username:
        return
    name = str(st.session_state.get("name") or username)
    label = f"Signed in as **{record_text(name, 100)}**"
    if name != username:
        label += f" ({record_text(str(username), 100)})"
    st.caption(label)
    st.button("Sign out", key=LOGOUT_KEY, on_click=_on_logout, width="stretch")


# -- pieces -----------------------------------------------------------------------


def _signed_in_user(config: AuthConfig) -> str | None:
    if st.session_state.get("authentication_status") is not True:
        return None
    username = st.session_state.get("username")
    if isinstance(username, str) and username in config.users:
        return username
    # Removed from the users file (or the mode changed) since signing in.
    logger.info("ending a session whose user is no longer configured")
    _end_session(notice=("warning", "Your session has ended: please sign in again."))
    return None


def _connection_id() -> str | None:
    """Who this run's websocket connection is: a digest of its handshake nonce.

    ``Sec-WebSocket-Key`` is a fresh random value in every handshake, so it
    changes exactly when a client (re)connects to the session. None when the
    run has no connection (AppTest, bare mode).
    """
    key = st.context.headers.get("Sec-Websocket-Key")
    if not key:
        return None
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def _bind_connection() -> None:
    """Bind a session that has just signed in to the connection it signed in on."""
    st.session_state[_CONNECTION_KEY] = _connection_id()


def _connection_allowed(config: AuthConfig, username: str) -> bool:
    """Whether this signed-in session may run on this run's connection.

    Streamlit lets any client resume a session by naming its ID when it
    connects (its session IDs show in logs and upload URLs). So a signed-in
    session is bound to the connection it signed in on; on any other
    connection it goes on only when that connection's handshake carries a
    valid sign-in cookie of the same user (a browser's reconnect does), and
    is then bound to it.
    """
    current = _connection_id()
    if st.session_state.get(_CONNECTION_KEY) == current:
        return True
    claims = _connection_cookie(config)
    if claims is None or claims["username"] != username:
        return False
    st.session_state[_CONNECTION_KEY] = current
    return True


def _connection_cookie(config: AuthConfig) -> dict[str, Any] | None:
    """The claims of this connection's sign-in cookie when it is valid and was issued
    after its user's last sign-out (see ``AuthConfig.read_cookie``); else None."""
    claims = config.read_cookie(st.context.cookies.get(config.cookie_name), time.time())
    if claims is None:
        return None
    if not sign_out_registry().accepts(claims["username"], config.cookie_issued_at(claims)):
        return None
    return claims


def _build_authenticator(config: AuthConfig) -> stauth.Authenticate:
    return stauth.Authenticate(
        config.credentials(),  # a dict: the library never writes the users file
        config.cookie_name,
        config.cookie_key.get_secret_value(),
        config.cookie_expiry_days,
        auto_hash=False,
    )


def _run_cookie_action(authenticator: stauth.Authenticate, action: str) -> None:
    # The cookie manager is a browser component: absent under AppTest and before
    # its first render. A failure only means the next visit asks for a password.
    try:
        if action == "set":
            authenticator.cookie_controller.set_cookie()
        else:
            authenticator.cookie_controller.delete_cookie()
    except Exception as exc:  # never let the cookie break the gate
        logger.warning("could not %s the sign-in cookie: %s", action, type(exc).__name__)


# streamlit-authenticator sets its cookie with extra-streamlit-components'
# ``CookieManager.set``, whose component (under that method's default key, "set")
# returns True once the browser has run it: the one place this gate relies on
# how the two libraries do it (pinned by tests/app/test_cookie_component_shim.py).
COOKIE_SET_COMPONENT_KEY = "set"


def _cookie_set_done() -> bool:
    """Whether the browser has run the sign-in cookie's "set" (its answer, kept from
    the run that rendered it, is read before this run renders anything)."""
    return st.session_state.get(COOKIE_SET_COMPONENT_KEY) is True


def _sign_in_from_cookie(authenticator: stauth.Authenticate, config: AuthConfig) -> str | None:
    """Re-authenticate from a valid, unexpired, not-signed-out cookie."""
    if st.session_state.get("logout"):  # signed out in this session: no cookie counts
        return None
    claims = _connection_cookie(config)
    if claims is None:
        return None
    username = claims["username"]
    try:
        authenticator.authentication_controller.login(token=claims)
    except Exception as exc:  # LoginError & co: stay signed out
        logger.info("sign-in cookie refused (%s)", type(exc).__name__)
        return None
    if st.session_state.get("authentication_status") is True:
        _bind_connection()
        return username
    return None


def _render_setup_error(exc: AuthConfigError) -> None:
    logger.warning("%s", exc)
    st.title("Run Lookup")
    st.error("Sign-in is not configured, so this app will not serve data.")
    st.markdown("\n".join(f"- {problem}" for problem in exc.problems))
    st.caption("Fix the settings above and reload the page. See docs/security.md.")


def _render_login(config: AuthConfig) -> None:
    # No heading anchors: each would be a Tab stop (a hover link) before Username.
    st.title("Run Lookup", anchor=False)
    st.caption("Sign in to see which trigger.dev run processed an entity.")
    if config.demo and config.demo_password:
        st.info(
            f"Demo mode (generated data, no Redis): sign in as `{DEMO_USERNAME}` with "
            f"password `{config.demo_password}`."
        )
    # Kept until the next submit replaces it (``_on_login``): a component-driven
    # rerun must not swallow "You have signed out." or a wrong-password message.
    notice = st.session_state.get(_NOTICE_KEY)
    if notice:
        level, text = notice
        {"error": st.error, "warning": st.warning}.get(level, st.info)(text)
    with st.form(LOGIN_FORM_KEY, enter_to_submit=True):
        st.subheader("Sign in", anchor=False)
        st.text_input(
            "Username", key=USERNAME_KEY, autocomplete="username", max_chars=MAX_USERNAME_LENGTH
        )
        st.text_input(
            "Password",
            key=PASSWORD_KEY,
            type="password",
            autocomplete="current-password",
            max_chars=MAX_FORM_PASSWORD_CHARS,
        )
        st.form_submit_button(
            "Sign in",
            key=SUBMIT_KEY,
            type="primary",
            on_click=_on_login,
            args=(config,),
        )
    render.focus_input("Username")  # the first field, as a person expects


def _on_login(config: AuthConfig) -> None:
    """Submit callback: runs before the script, so success renders the page at once."""
    _sign_in(config, submitted=True)


def _sign_in_pending() -> bool:
    """Whether the last submit may not have been applied: a typed password reached
    the server (only a submit sends one), or an outcome was worked out and not applied.

    Waits for a password check still under way in a run this one replaced: with
    Streamlit's fast reruns (the default) a rerun request starts the new run at once,
    while the old one goes on until its next session-state access, where it stops.
    """
    box = st.session_state.get(_ATTEMPT_KEY)
    if isinstance(box, dict):
        checking = box.get("checking")
        if isinstance(checking, threading.Event):
            checking.wait(_CHECK_WAIT_SECONDS)
        if box.get("pending") is not None:
            return True
    return bool(st.session_state.get(PASSWORD_KEY))


def _sign_in(config: AuthConfig, *, submitted: bool) -> None:
    """Work out a submitted username and password once, and apply the outcome.

    Streamlit ends a callback (and a run) at its next session-state access when
    another rerun request has arrived meanwhile (streamlit/streamlit#10578). On
    the login page one always comes: the cookie component's first answer, which
    can land while bcrypt runs. The submit's trigger is then spent, but its typed
    values reached the server, so the gate calls this again (``submitted`` False)
    while a typed password or an unapplied outcome is left. The outcome is kept in
    a plain dict inside session state, whose writes are no interruption points,
    so it is counted and checked once and then applied, as often as it takes.
    The browser goes on sending the typed values after a submit until the form is
    re-rendered or gone; a value already applied is then only cleared. While the
    check runs, ``box["checking"]`` is an unset event (see ``_sign_in_pending``).
    """
    typed_username = str(st.session_state.get(USERNAME_KEY) or "")
    password = str(st.session_state.get(PASSWORD_KEY) or "")
    box = st.session_state.get(_ATTEMPT_KEY)
    if not isinstance(box, dict):
        box = {"pending": None, "applied": None}
        st.session_state[_ATTEMPT_KEY] = box
    submission = hashlib.sha256(
        f"{len(typed_username)}:{typed_username}{password}".encode("utf-8", "replace")
    ).digest()
    pending = box["pending"]  # (submission, outcome) worked out, not yet applied
    if not submitted and pending is None and (not password or submission == box["applied"]):
        if password:  # sent again after it was applied: only cleared
            st.session_state[PASSWORD_KEY] = ""
        return
    if pending is None or (submitted and pending[0] != submission):
        box["checking"] = checking = threading.Event()
        try:
            pending = box["pending"] = (submission, _work_out(config, typed_username, password))
        finally:
            checking.set()
    _apply(config, pending[1])
    # Plain dict writes: nothing can cut in between them (see above).
    box["applied"] = pending[0]
    box["pending"] = None


def _work_out(config: AuthConfig, typed_username: str, password: str) -> SignInOutcome:
    """Count and check one submission: no session state, so nothing cuts it short."""
    outcome = check_sign_in(config, login_throttle(), typed_username, password)
    if outcome.signed_in:
        logger.info("user %s signed in", outcome.username)
    elif outcome.checked:
        # Log known usernames only: an unknown one may be a password typed in the wrong box.
        known = outcome.username in config.users
        logger.warning(
            "failed sign-in for %s", outcome.username if known else "an unknown username"
        )
    return outcome


def _apply(config: AuthConfig, outcome: SignInOutcome) -> None:
    """Apply an attempt's outcome. Any write may be the last this call makes (see
    ``_sign_in``): the session counts as signed in only from the status flag on,
    and applying the same outcome again changes nothing."""
    if outcome.notice is None:
        user = config.users[outcome.username]
        _bind_connection()
        # streamlit-authenticator's session convention, as its own login writes it.
        st.session_state["username"] = user.username
        st.session_state["name"] = user.display_name
        st.session_state["email"] = user.email or None
        st.session_state["roles"] = None
        st.session_state.pop(_NOTICE_KEY, None)
        st.session_state[_COOKIE_ACTION_KEY] = "set"
        st.session_state["authentication_status"] = True
    else:
        st.session_state["authentication_status"] = None
        st.session_state[_NOTICE_KEY] = outcome.notice
        if not outcome.username:  # an over-long name is not kept either
            st.session_state[USERNAME_KEY] = ""
    # The last session-state write: once it is made, the caller records the outcome
    # as applied before anything else can run.
    st.session_state[PASSWORD_KEY] = ""  # never keep a typed password around


def _on_logout() -> None:
    """Sign-out callback: runs before the script, so nothing protected renders after it."""
    username = st.session_state.get("username")
    if isinstance(username, str) and username:
        sign_out_registry().sign_out(username)
        logger.info("user %s signed out", username)
    _end_session(notice=("info", "You have signed out."))


def _end_session(*, notice: tuple[str, str]) -> None:
    # Everything the session held (results, inputs) goes with it.
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    for key in _LIBRARY_KEYS:
        st.session_state[key] = None
    st.session_state["logout"] = True  # the library then ignores the cookie in this session
    st.session_state[_COOKIE_ACTION_KEY] = "delete"
    st.session_state[_NOTICE_KEY] = notice
