"""The password gate, driven through ``app.py`` with AppTest.

Real mode runs against the session's real ``redis-server``: its command
statistics prove that a visitor who is not signed in causes no Redis command
at all, whichever page or deep link they open.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from streamlit.testing.v1 import AppTest

from apptest_support import reset_process_state, tree_nodes
from clocks import FrozenClock
from e2e.harness import cookie_present
from e2e.harness import sign_in as browser_sign_in
from redis_server import RedisServer
from telemetry.auth import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    EXAMPLE_COOKIE_KEY,
    WRONG_CREDENTIALS,
    mode_cookie_key,
)
from telemetry.users import MAX_USERNAME_LENGTH, add_user, load_users, remove_user
from ui import auth as gate
from ui import cache, shell

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app.py"
if not APP.exists():  # pragma: no cover - only while app.py is being written
    pytest.skip("app.py does not exist yet", allow_module_level=True)

# Every page script the shell hands to st.navigation, e.g. "pages/bulk.py".
PAGES = [script for script, *_ in shell.PAGES]

PASSWORD = "alice's long passphrase"
BOB_PASSWORD = "bob's other passphrase"
COOKIE_KEY = "test-cookie-key-" + "k" * 32
REDIS_PASSWORD = "redis-acl-pa55-" + "z" * 12
LEAST_PRIVILEGE = "-@all +get +mget +scan +pttl +ttl +type +ping ~telemetry:*"
RUN_ID = "run_deeplink0000000000001"
ENTITY_ID = "pym_DeepLink000000000000001"

LOGIN_INPUTS = {gate.USERNAME_KEY, gate.PASSWORD_KEY}
# What the login page may contain: nothing a page renders.
LOGIN_PAGE_TYPES = {
    "title",
    "caption",
    "markdown",  # the cookie component's hidden <style>
    "info",
    "error",
    "warning",
    "subheader",
    "text_input",
    "button",
    "component_instance",  # the cookie manager (no output under AppTest)
    "html",  # the constant script that focuses Username (asserted below)
}
# The harness's own traffic: INFO for the statistics, CONFIG RESETSTAT.
HARNESS_COMMANDS = {"info", "config|resetstat"}


def test_app_declares_pages() -> None:
    """The shell declares page scripts that exist, the first one being the default."""
    assert PAGES
    for page in PAGES:
        assert (ROOT / page).is_file(), page


# -- fixtures & helpers ---------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_process_state() -> Iterator[None]:
    """Each test starts with an empty throttle, sign-out registry and caches."""
    reset_process_state()
    yield
    reset_process_state()


@pytest.fixture
def clock() -> FrozenClock:
    fake = FrozenClock(10_000.0)
    gate.login_throttle().clock = fake  # the very object the app's runs use
    return fake


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    path = tmp_path / "auth.yaml"
    add_user(path, "alice", PASSWORD, name="Alice Example", rounds=4)
    add_user(path, "bob", BOB_PASSWORD, rounds=4)
    return path


@pytest.fixture
def real_mode(
    monkeypatch: pytest.MonkeyPatch, redis_client: Any, redis_server: RedisServer, users_file: Path
) -> RedisServer:
    """REDIS_URL on the real server, two users, a good cookie key; zeroed statistics."""
    redis_client.set(f"telemetry:payment:{ENTITY_ID}", f'{{"runId": "{RUN_ID}"}}', ex=3600)
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("AUTH_CONFIG_PATH", str(users_file))
    monkeypatch.setenv("AUTH_COOKIE_KEY", COOKIE_KEY)
    redis_server.reset_stats()
    return redis_server


def new_app(page: str | None = None, **query: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    # Non-empty secrets replace st.secrets: a developer's secrets.toml is never read.
    at.secrets["TELEMETRY_NAMESPACE"] = "telemetry"
    if page:
        at.switch_page(page)
    for name, value in query.items():
        at.query_params[name] = value
    return at


def sign_in(at: AppTest, username: str, password: str) -> AppTest:
    at.text_input(key=gate.USERNAME_KEY).input(username)
    at.text_input(key=gate.PASSWORD_KEY).input(password)
    return at.button(key=gate.SUBMIT_KEY).click().run()


def elements(at: AppTest) -> list[Any]:
    return [node for node in tree_nodes(at) if not hasattr(node, "children")]


def rendered_text(at: AppTest) -> str:
    """Everything sent to the browser: element protos, labels and widget values."""
    parts: list[str] = []
    for node in tree_nodes(at):
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        for attr in ("value", "label", "help", "placeholder", "body"):
            try:
                value = getattr(node, attr)
            except Exception:  # noqa: S112 - not every element has every attribute
                continue
            if value is not None and not callable(value):
                parts.append(str(value))
    return "\n".join(parts)


def redis_commands(server: RedisServer) -> dict[str, int]:
    return {k: v for k, v in server.commandstats().items() if k not in HARNESS_COMMANDS}


def assert_login_page_only(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    types = {getattr(node, "type", None) for node in elements(at)}
    assert types <= LOGIN_PAGE_TYPES, f"unexpected elements on the login page: {types}"
    assert {t.key for t in at.text_input} == LOGIN_INPUTS
    assert [b.key for b in at.button] == [gate.SUBMIT_KEY]
    assert len(at.sidebar.children) == 0  # no navigation, no account box, no status
    assert [t.value for t in at.title] == ["Run Lookup"]
    # The only HTML is the focus script: a constant naming the Username box, no data.
    scripts = [node.proto.body for node in at.get("html")]
    assert all('input[aria-label=\\"Username\\"]' in body for body in scripts), scripts


def assert_signed_in(at: AppTest, username: str) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["authentication_status"] is True
    assert at.session_state["username"] == username
    assert not LOGIN_INPUTS & {t.key for t in at.text_input}
    assert gate.LOGOUT_KEY in {b.key for b in at.button}


def messages(at: AppTest) -> str:
    return "\n".join(str(e.value) for e in [*at.error, *at.warning, *at.info])


# -- unauthenticated visitors see the login form only, and cause no Redis command -----


def _targets() -> list[Any]:
    targets: list[Any] = [pytest.param(None, {}, id="home")]
    targets.append(pytest.param(None, {"id": ENTITY_ID}, id="home?id"))
    for page in PAGES:
        name = Path(page).stem
        targets.append(pytest.param(page, {}, id=name))
        targets.append(pytest.param(page, {"id": ENTITY_ID}, id=f"{name}?id"))
    return targets


@pytest.mark.parametrize(("page", "query"), _targets())
def test_unauthenticated_visit_shows_only_the_login_form(
    real_mode: RedisServer, page: str | None, query: dict[str, str]
) -> None:
    at = new_app(page, **query).run()
    assert_login_page_only(at)
    assert RUN_ID not in rendered_text(at)
    # A failed attempt does not get any further.
    sign_in(at, "alice", "not the password")
    assert_login_page_only(at)
    assert redis_commands(real_mode) == {}


def test_deep_link_with_query_param_survives_sign_in(real_mode: RedisServer) -> None:
    at = new_app(id=ENTITY_ID).run()
    assert_login_page_only(at)
    assert redis_commands(real_mode) == {}
    sign_in(at, "alice", PASSWORD)
    assert_signed_in(at, "alice")
    assert at.query_params["id"] == [ENTITY_ID] or at.query_params["id"] == ENTITY_ID
    assert RUN_ID in rendered_text(at)  # the lookup the link pointed at ran
    assert redis_commands(real_mode)  # ...and only now touched Redis


@pytest.mark.parametrize("page", PAGES)
def test_deep_link_to_a_page_lands_there_after_sign_in(real_mode: RedisServer, page: str) -> None:
    reference = new_app(page)
    reference.session_state["authentication_status"] = True
    reference.session_state["username"] = "bob"
    reference.session_state["name"] = "bob"
    reference.run()
    assert not reference.exception
    expected_titles = [t.value for t in reference.title]
    assert expected_titles and expected_titles != ["Run Lookup"]

    at = new_app(page).run()
    assert_login_page_only(at)
    sign_in(at, "alice", PASSWORD)
    assert_signed_in(at, "alice")
    assert [t.value for t in at.title] == expected_titles


# -- sign-in, wrong passwords, throttling, sign-out ------------------------------------


def test_wrong_password_and_unknown_user_look_the_same(real_mode: RedisServer) -> None:
    at = new_app().run()
    for username, password in (("alice", "wrong password!"), ("mallory", PASSWORD)):
        sign_in(at, username, password)
        assert_login_page_only(at)
        assert [e.value for e in at.error] == [WRONG_CREDENTIALS]
        assert at.session_state[gate.PASSWORD_KEY] == ""  # the typed password is gone
        assert at.session_state["authentication_status"] is not True
    sign_in(at, "", "")
    assert "Enter your username and password." in messages(at)
    assert redis_commands(real_mode) == {}


def test_sign_in_is_case_insensitive_for_usernames(real_mode: RedisServer) -> None:
    at = sign_in(new_app().run(), "  ALICE ", PASSWORD)
    assert_signed_in(at, "alice")
    assert "Alice Example" in rendered_text(at)  # shown in the sidebar


def test_throttle_kicks_in_spares_others_and_lifts(
    real_mode: RedisServer, clock: FrozenClock
) -> None:
    at = new_app().run()
    for _ in range(4):
        sign_in(at, "alice", "wrong password!")
        assert [e.value for e in at.error] == [WRONG_CREDENTIALS]
    sign_in(at, "alice", "wrong password!")
    assert "Try again in 30 seconds." in messages(at)

    # The right password is not even checked while alice waits.
    clock.now += 10
    sign_in(at, "alice", PASSWORD)
    assert_login_page_only(at)
    assert "Try again in 20 seconds." in messages(at)
    assert at.session_state["authentication_status"] is not True

    # Another user, in another session, is not locked out.
    other = sign_in(new_app().run(), "bob", BOB_PASSWORD)
    assert_signed_in(other, "bob")

    clock.now += 20
    sign_in(at, "alice", PASSWORD)
    assert_signed_in(at, "alice")
    assert redis_commands(real_mode)


@pytest.mark.parametrize("field", ["username", "password"])
def test_oversized_sign_in_fields_are_cut_before_they_are_kept(
    real_mode: RedisServer, field: str
) -> None:
    """A 1 MB username or password (a raw client ignores the form's limits) costs no
    more than a normal one: the throttle keeps at most 64 characters per username and
    the session keeps neither value."""
    at = new_app().run()
    huge = "x" * 1_000_000
    username, password = (huge, "wrong password!") if field == "username" else ("alice", huge)
    at.text_input(key=gate.USERNAME_KEY).set_value(username)
    at.text_input(key=gate.PASSWORD_KEY).set_value(password)
    at.button(key=gate.SUBMIT_KEY).click().run()
    assert_login_page_only(at)
    assert WRONG_CREDENTIALS in messages(at)
    tracked = gate.login_throttle().tracked()
    assert tracked and all(len(key) <= MAX_USERNAME_LENGTH for key in tracked)
    assert at.session_state[gate.PASSWORD_KEY] == ""
    assert len(at.session_state[gate.USERNAME_KEY]) <= MAX_USERNAME_LENGTH


# A submit's callback cut short by another rerun request (streamlit/streamlit#10578):
# the browser's later requests carry the typed values without the submit's trigger.
# AppTest holds a form's values back until its button is clicked, so these tests put
# the values where such a request leaves them; tests/e2e/test_sign_in_races.py
# stages the cut itself in a real browser.


def arrive_without_submit(at: AppTest, username: str, password: str) -> AppTest:
    at.session_state[gate.USERNAME_KEY] = username
    at.session_state[gate.PASSWORD_KEY] = password
    return at.run()


def test_typed_values_that_arrive_without_the_submit_still_sign_in(
    real_mode: RedisServer,
) -> None:
    """Username and password that reach the server without the trigger (their submit's
    callback was cut short) sign in, and the password is not kept."""
    at = arrive_without_submit(new_app().run(), "alice", PASSWORD)
    assert_signed_in(at, "alice")
    assert at.session_state[gate.PASSWORD_KEY] == ""


def test_a_wrong_password_without_the_submit_is_refused_like_a_submit(
    real_mode: RedisServer,
) -> None:
    """A wrong password that arrives without the trigger gets the same message as a submit."""
    at = arrive_without_submit(new_app().run(), "alice", "wrong password!")
    assert_login_page_only(at)
    assert [e.value for e in at.error] == [WRONG_CREDENTIALS]
    assert at.session_state[gate.PASSWORD_KEY] == ""


def test_a_failed_submit_sent_again_without_its_trigger_is_not_counted_again(
    real_mode: RedisServer, clock: FrozenClock
) -> None:
    """The browser re-sends a submit's values until the form is re-rendered: five such
    re-sends of one wrong password cost one failure, not a lockout."""
    at = new_app().run()
    sign_in(at, "alice", "wrong password!")
    assert [e.value for e in at.error] == [WRONG_CREDENTIALS]
    for _ in range(5):
        arrive_without_submit(at, "alice", "wrong password!")
        assert [e.value for e in at.error] == [WRONG_CREDENTIALS]
        assert at.session_state[gate.PASSWORD_KEY] == ""
    assert gate.login_throttle().retry_after("alice") == 0
    sign_in(at, "alice", PASSWORD)
    assert_signed_in(at, "alice")


def test_a_submit_sent_again_after_signing_in_is_not_checked_again(
    real_mode: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The signed-in session does not check again the submit that signed it in, sent again."""
    caplog.set_level(logging.INFO, logger=gate.__name__)
    at = sign_in(new_app().run(), "alice", PASSWORD)
    arrive_without_submit(at, "alice", PASSWORD)
    assert_signed_in(at, "alice")
    assert at.session_state[gate.PASSWORD_KEY] == ""
    assert [r.getMessage() for r in caplog.records].count("user alice signed in") == 1


def test_sign_out_ends_the_session_at_once(real_mode: RedisServer) -> None:
    at = sign_in(new_app(id=ENTITY_ID).run(), "alice", PASSWORD)
    assert_signed_in(at, "alice")
    assert RUN_ID in rendered_text(at)

    real_mode.reset_stats()
    at.button(key=gate.LOGOUT_KEY).click().run()
    assert_login_page_only(at)
    assert "You have signed out." in messages(at)
    assert at.session_state["authentication_status"] is None
    assert RUN_ID not in rendered_text(at)
    assert redis_commands(real_mode) == {}  # nothing protected ran after the click

    at.run()  # and it stays signed out
    assert_login_page_only(at)
    sign_in(at, "bob", BOB_PASSWORD)  # the same browser session can sign in again
    assert_signed_in(at, "bob")


def test_removed_user_is_signed_out_at_next_interaction(
    real_mode: RedisServer, users_file: Path
) -> None:
    at = sign_in(new_app().run(), "alice", PASSWORD)
    assert_signed_in(at, "alice")
    time.sleep(0.01)  # a new mtime for the users file
    remove_user(users_file, "alice")
    at.run()
    assert_login_page_only(at)
    assert "session has ended" in messages(at)


def test_the_users_file_is_never_written(real_mode: RedisServer, users_file: Path) -> None:
    before = users_file.read_bytes()
    users_file.chmod(0o400)
    try:
        at = new_app().run()
        sign_in(at, "alice", "wrong password!")
        sign_in(at, "alice", PASSWORD)
        assert_signed_in(at, "alice")
        at.button(key=gate.LOGOUT_KEY).click().run()
        assert_login_page_only(at)
    finally:
        users_file.chmod(0o600)
    assert users_file.read_bytes() == before


# -- the re-authentication cookie ----------------------------------------------------------


@pytest.fixture
def browser_cookies(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Cookies the 'browser' sent with its initial request (st.context.cookies)."""
    cookies: dict[str, str] = {}
    client = SimpleNamespace(cookies=cookies, headers=[])
    # Streamlit's private hook on purpose: AppTest has no public way to send cookies.
    monkeypatch.setattr("streamlit.runtime.context._get_client_context", lambda: client)
    return cookies


def _token(
    username: str, key: str = COOKIE_KEY, issued: float | None = None, *, demo: bool = False
) -> str:
    """A cookie as the app in real (or demo) mode with cookie key ``key`` issues it."""
    expires = (issued or time.time()) + 86_400
    signing_key = mode_cookie_key(key, demo=demo).get_secret_value()
    return jwt.encode({"username": username, "exp_date": expires}, signing_key, algorithm="HS256")


def test_valid_cookie_signs_in_without_a_password(
    real_mode: RedisServer, browser_cookies: dict[str, str]
) -> None:
    browser_cookies["run_lookup_auth"] = _token("alice")
    at = new_app().run()
    assert_signed_in(at, "alice")


@pytest.mark.parametrize(
    "cookie",
    [
        pytest.param(lambda: _token("alice", key="another-key-" + "x" * 40), id="forged"),
        pytest.param(lambda: _token("mallory"), id="unknown-user"),
        pytest.param(lambda: _token("alice", issued=time.time() - 3 * 86_400), id="expired"),
        pytest.param(lambda: "not-a-jwt", id="garbage"),
        pytest.param(
            lambda: jwt.encode({"username": "alice"}, COOKIE_KEY, algorithm="HS256"),
            id="no-expiry",
        ),
        pytest.param(
            lambda: jwt.encode({"username": "alice", "exp_date": 9e12}, None, algorithm="none"),
            id="alg-none",
        ),
    ],
)
def test_bad_cookies_are_refused(
    real_mode: RedisServer, browser_cookies: dict[str, str], cookie: Callable[[], str]
) -> None:
    browser_cookies["run_lookup_auth"] = cookie()
    at = new_app().run()
    assert_login_page_only(at)
    assert redis_commands(real_mode) == {}


def test_a_demo_cookie_does_not_sign_in_a_real_user_named_demo(
    real_mode: RedisServer, users_file: Path, browser_cookies: dict[str, str]
) -> None:
    """A cookie a demo instance issued (same AUTH_COOKIE_KEY) is refused by a real
    instance that has a user named `demo`, under either cookie name; the real one works."""
    add_user(users_file, DEMO_USERNAME, PASSWORD, rounds=4)
    demo_cookie = _token(DEMO_USERNAME, demo=True)
    browser_cookies["run_lookup_auth_demo"] = demo_cookie
    browser_cookies["run_lookup_auth"] = demo_cookie
    at = new_app().run()
    assert_login_page_only(at)
    assert redis_commands(real_mode) == {}
    browser_cookies["run_lookup_auth"] = _token(DEMO_USERNAME)
    assert_signed_in(new_app().run(), DEMO_USERNAME)


def test_cookie_issued_before_sign_out_is_refused(
    real_mode: RedisServer, browser_cookies: dict[str, str]
) -> None:
    browser_cookies["run_lookup_auth"] = _token("alice", issued=time.time() - 60)
    at = new_app().run()
    assert_signed_in(at, "alice")
    at.button(key=gate.LOGOUT_KEY).click().run()
    assert_login_page_only(at)
    # A new session (page reload) presenting the same cookie: refused.
    again = new_app().run()
    assert_login_page_only(again)


# -- refusing to serve without a proper setup ------------------------------------------------


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("no-file", "No users file"),
        ("no-users", "has no users"),
        ("no-key", "AUTH_COOKIE_KEY is not set"),
        ("short-key", "too short"),
        ("example-key", "example value"),
    ],
)
def test_real_mode_refuses_to_serve(
    real_mode: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    case: str,
    fragment: str,
) -> None:
    if case == "no-file":
        monkeypatch.setenv("AUTH_CONFIG_PATH", str(tmp_path / "missing.yaml"))
    elif case == "no-users":
        empty = tmp_path / "empty.yaml"
        empty.write_text("credentials:\n  usernames: {}\n", encoding="utf-8")
        monkeypatch.setenv("AUTH_CONFIG_PATH", str(empty))
    elif case == "no-key":
        monkeypatch.delenv("AUTH_COOKIE_KEY")
    elif case == "short-key":
        monkeypatch.setenv("AUTH_COOKIE_KEY", "short-secret-key")
    else:
        monkeypatch.setenv("AUTH_COOKIE_KEY", EXAMPLE_COOKIE_KEY)
    at = new_app(id=ENTITY_ID).run()
    assert not at.exception
    assert "Sign-in is not configured" in messages(at)
    assert fragment in rendered_text(at)
    assert not at.text_input and not at.button  # no login form either
    assert len(at.sidebar.children) == 0
    assert "short-secret-key" not in rendered_text(at)
    assert redis_commands(real_mode) == {}


def test_demo_mode_shows_the_demo_password(monkeypatch: pytest.MonkeyPatch) -> None:
    at = new_app().run()
    assert_login_page_only(at)
    assert DEMO_PASSWORD in messages(at) and DEMO_USERNAME in messages(at)
    sign_in(at, DEMO_USERNAME, "wrong password!")
    assert [e.value for e in at.error] == [WRONG_CREDENTIALS]
    sign_in(at, DEMO_USERNAME, DEMO_PASSWORD)
    assert_signed_in(at, DEMO_USERNAME)


# -- no secret in anything rendered or logged -----------------------------------------------


def test_no_secret_is_rendered_or_logged(
    real_mode: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    users_file: Path,
) -> None:
    # The app reads Redis as the least-privilege ACL user, with a password in the URL.
    url = real_mode.add_acl_user("runlookup", REDIS_PASSWORD, LEAST_PRIVILEGE)
    monkeypatch.setenv("REDIS_URL", url)
    caplog.set_level(logging.DEBUG)
    password_hash = load_users(users_file)["alice"].password_hash
    secrets = [REDIS_PASSWORD, COOKIE_KEY, PASSWORD, BOB_PASSWORD, password_hash]

    texts: list[str] = []
    at = new_app(id=ENTITY_ID).run()
    texts.append(rendered_text(at))
    sign_in(at, "alice", "wrong password!")
    texts.append(rendered_text(at))
    sign_in(at, "alice", PASSWORD)
    assert_signed_in(at, "alice")
    texts.append(rendered_text(at))
    assert RUN_ID in texts[-1]  # it really rendered data, through the ACL user
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        texts.append(rendered_text(at))
    at.button(key=gate.LOGOUT_KEY).click().run()
    texts.append(rendered_text(at))

    # A broken Redis password must not leak either (error paths render too).
    monkeypatch.setenv("REDIS_URL", url.replace(REDIS_PASSWORD, REDIS_PASSWORD + "-wrong"))
    cache.clear_all()
    at = sign_in(new_app(id=ENTITY_ID).run(), "alice", PASSWORD)
    texts.append(rendered_text(at))
    texts.append(
        str(at.session_state[gate.PASSWORD_KEY]) if gate.PASSWORD_KEY in at.session_state else ""
    )

    out, err = capsys.readouterr()
    texts += [caplog.text, out, err]
    blob = "\n".join(texts)
    for secret in [*secrets, REDIS_PASSWORD + "-wrong"]:
        assert secret not in blob, f"a secret leaked ({len(secret)} characters)"
    assert "$2b$" not in blob


# -- in a real browser: what AppTest cannot show (URL handling, cookies) -------------------


def _page_specs() -> list[dict[str, Any]]:
    """title / url_path / default of each page the shell declares."""
    return [
        {"title": title, "url_path": url_path, "default": index == 0}
        for index, (_, title, _, url_path) in enumerate(shell.PAGES)
    ]


@pytest.fixture
def live_app(real_mode: RedisServer) -> Iterator[str]:
    """``streamlit run app.py`` on a free port, in real mode; yields its base URL."""
    import os
    import subprocess
    import sys
    import urllib.request

    from redis_server import free_port

    if not Path("/usr/bin/chromium").exists():
        if os.environ.get("CI"):
            pytest.fail("e2e test needs /usr/bin/chromium in CI", pytrace=False)
        pytest.skip("chromium is not installed (./run test installs it)")
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(APP),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--server.fileWatcherType",
            "none",
        ],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=1) as reply:  # noqa: S310
                    if reply.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("streamlit did not start", pytrace=False)
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.mark.e2e
def test_browser_deep_link_cookie_and_sign_out(live_app: str, real_mode: RedisServer) -> None:
    from playwright.sync_api import expect, sync_playwright

    target = next(spec for spec in _page_specs() if not spec["default"] and spec["url_path"])
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox"]
        )
        try:
            context = browser.new_context()
            page = context.new_page()
            page.set_default_timeout(30_000)

            # A fresh server, a deep link, nobody signed in: the login form only.
            page.goto(f"{live_app}/{target['url_path']}?from=link")
            expect(page.get_by_label("Username")).to_be_visible()
            expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
            assert redis_commands(real_mode) == {}

            browser_sign_in(page, "alice", "wrong password!")
            expect(page.get_by_text(WRONG_CREDENTIALS)).to_be_visible()

            browser_sign_in(page, "alice", PASSWORD)
            expect(page.get_by_role("button", name="Sign out")).to_be_visible()
            # ...and the deep link landed where it pointed.
            expect(page).to_have_url(f"{live_app}/{target['url_path']}?from=link")
            expect(page.get_by_role("heading", name=target["title"]).first).to_be_visible()
            # The cookie component stores the cookie a run or two after sign-in.
            page.wait_for_function(cookie_present("run_lookup_auth"))
            cookie = next(c for c in context.cookies() if c["name"] == "run_lookup_auth")
            assert cookie["sameSite"] == "Strict"

            # A new tab (new session) is signed in by the cookie; ?id= is looked up.
            tab = context.new_page()
            tab.goto(f"{live_app}/?id={ENTITY_ID}")
            expect(tab.get_by_role("button", name="Sign out")).to_be_visible()
            expect(tab.get_by_text(RUN_ID).first).to_be_visible()

            # Sign out: the login form at once; the cookie is gone; a reload stays out.
            tab.get_by_role("button", name="Sign out").click()
            expect(tab.get_by_label("Username")).to_be_visible()
            expect(tab.get_by_text(RUN_ID)).to_have_count(0)
            expect(tab.get_by_test_id("stSidebarNav")).to_have_count(0)
            tab.wait_for_timeout(1_000)  # the cookie component deletes the cookie
            assert "run_lookup_auth" not in {c["name"] for c in context.cookies()}
            tab.reload()
            expect(tab.get_by_label("Username")).to_be_visible()
        finally:
            browser.close()
