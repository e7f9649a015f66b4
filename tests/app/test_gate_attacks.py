"""The sign-in gate under attack: a raw websocket client against a real server.

Each test scripts what an attacker did (issue #12) with ``wire_client.WireClient``
against ``streamlit run app.py`` in real mode (a real redis-server, users made
by the CLI): no browser, any message, any subprotocol. What a browser user sees
is covered by tests/e2e; the gate's logic by tests/app/test_app_auth.py.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from e2e.harness import LiveApp, add_user
from redis_server import RedisServer
from telemetry.auth import WRONG_CREDENTIALS, mode_cookie_key
from ui.auth import SESSION_MOVED
from wire_client import Render, WireClient

ALICE, ALICE_PASSWORD = "alice", "alice's long passphrase"
BOB, BOB_PASSWORD = "bob", "bob's other passphrase"
CAROL, CAROL_PASSWORD = "carol", "carol's third passphrase"
COOKIE_NAME = "run_lookup_auth"
THROTTLED = "Too many failed sign-in attempts"
ENTITY_ID = "pym_GateAttack0000000000001"
RUN_ID = "run_gateattack00000000000001"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveApp, RedisServer]]:
    """The app in real mode: its own redis-server with one record, three users."""
    users = Path(tmp_path_factory.mktemp("gate")) / "auth.yaml"
    for name, password in ((ALICE, ALICE_PASSWORD), (BOB, BOB_PASSWORD), (CAROL, CAROL_PASSWORD)):
        add_user(users, name, password)
    with RedisServer() as redis_server:
        redis_server.client().set(f"telemetry:payment:{ENTITY_ID}", json.dumps({"runId": RUN_ID}))
        env = {
            "REDIS_URL": redis_server.url,
            "AUTH_CONFIG_PATH": str(users),
            "AUTH_COOKIE_KEY": "gate-attack-cookie-key-" + "g" * 32,
        }
        with LiveApp(env) as live:
            yield live, redis_server


def submit(client: WireClient, form: Render, username: str, password: str) -> Render:
    """Fill in and submit the sign-in form the way the browser does."""
    return client.run(
        {form.widget("login_username"): username, form.widget("login_password"): password},
        trigger=form.widget("login_submit"),
    )


def sign_in(url: str, username: str, password: str) -> tuple[WireClient, Render]:
    client = WireClient(url).connect()
    page = submit(client, client.run(), username, password)
    assert "Sign out" in page.texts, page.text[-2000:]
    return client, page


def issued_cookie(page: Render) -> str:
    """The sign-in cookie the app told the browser to store (its cookie component's args)."""
    for text in page.texts:
        if '"method": "set"' in text and COOKIE_NAME in text:
            return json.loads(text)["value"]
    raise AssertionError("the sign-in run set no cookie")


def signed_in(page: Render) -> bool:
    return "Sign out" in page.texts


def test_clear_cache_does_not_lift_a_throttle(app: tuple[LiveApp, RedisServer]) -> None:
    """A throttled username stays throttled after a signed-out client sends clear_cache:
    even the right password is refused until the wait is over."""
    live, _ = app
    with WireClient(live.url) as client:
        form = client.run()
        for _ in range(5):
            page = submit(client, form, CAROL, "wrong password " * 2)
        assert THROTTLED in page.text
        with WireClient(live.url) as attacker:
            attacker.run()
            attacker.clear_cache()
            attacker.run()
        page = submit(client, form, CAROL, CAROL_PASSWORD)
    assert THROTTLED in page.text
    assert not signed_in(page)


def test_clear_cache_does_not_revive_a_signed_out_cookie(app: tuple[LiveApp, RedisServer]) -> None:
    """A cookie issued before its user signed out stays refused after a signed-out client
    sends clear_cache (the sign-out registry is not a cache)."""
    live, _ = app
    client, page = sign_in(live.url, BOB, BOB_PASSWORD)
    cookie = issued_cookie(page)
    with client:
        client.run(trigger=page.widget("logout_button"))
    with WireClient(live.url, cookies={COOKIE_NAME: cookie}) as copy:
        assert not signed_in(copy.run())  # refused: issued before the sign-out
    with WireClient(live.url) as attacker:
        attacker.run()
        attacker.clear_cache()
        attacker.run()
    with WireClient(live.url, cookies={COOKIE_NAME: cookie}) as copy:
        page = copy.run()
    assert not signed_in(page)
    assert RUN_ID not in page.text


def test_clear_cache_does_not_force_a_rescan(app: tuple[LiveApp, RedisServer]) -> None:
    """After a signed-out client sends clear_cache, a signed-in Summary rerun is still
    served from the process's scan (no SCAN reaches Redis) on the same Redis client."""
    live, redis_server = app
    client, _ = sign_in(live.url, ALICE, ALICE_PASSWORD)
    with client:
        first = client.run(page="summary")
        assert "Records" in first.texts, first.text[-2000:]
        before = redis_server.commandstats()
        connections = redis_server.client().info("stats")["total_connections_received"]
        with WireClient(live.url) as attacker:
            attacker.run()
            attacker.clear_cache()
            attacker.run()
        again = client.run(page="summary")
        after = redis_server.commandstats()
        reconnected = redis_server.client().info("stats")["total_connections_received"]
    assert "Records" in again.texts
    assert after.get("scan", 0) == before.get("scan", 0)
    # Our own two INFO clients are the only new connections: the app kept its pool.
    assert reconnected - connections <= 1


def test_parallel_wrong_passwords_are_counted_before_they_are_checked(
    app: tuple[LiveApp, RedisServer],
) -> None:
    """24 wrong passwords for one user sent at once: at most 5 are checked, the rest are
    refused by the throttle (each attempt is counted before its password is checked)."""
    live, _ = app
    clients = [WireClient(live.url) for _ in range(24)]
    barrier = threading.Barrier(len(clients))
    pages: list[Render] = []

    def attack(client: WireClient) -> None:
        form = client.connect().run()
        barrier.wait()  # every form is on screen: now submit all at once
        pages.append(submit(client, form, "dave", "not the password at all"))

    threads = [threading.Thread(target=attack, args=(client,)) for client in clients]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for client in clients:
            client.close()
    assert len(pages) == 24
    checked = [page for page in pages if WRONG_CREDENTIALS in page.text]
    refused = [page for page in pages if WRONG_CREDENTIALS not in page.text]
    assert len(checked) <= 5, f"{len(checked)} of 24 parallel attempts reached bcrypt"
    assert all(THROTTLED in page.text for page in refused)


def test_a_session_id_without_the_cookie_does_not_resume_a_signed_in_session(
    app: tuple[LiveApp, RedisServer],
) -> None:
    """Connecting with a signed-in session's ID (as Streamlit logs it and upload URLs
    show it) but without that user's cookie lands on the login form, with no data."""
    live, redis_server = app
    victim, _ = sign_in(live.url, ALICE, ALICE_PASSWORD)
    with victim:
        victim.run(page="lookup")
    session_id = victim.session_id
    assert session_id
    redis_server.reset_stats()
    with WireClient(live.url, resume_session=session_id, query_string=f"id={ENTITY_ID}") as thief:
        page = thief.run()
    assert thief.session_id == session_id  # Streamlit did hand the session over ...
    assert not signed_in(page)  # ... and the gate signed it out
    assert SESSION_MOVED in page.text
    assert RUN_ID not in page.text and ENTITY_ID not in page.text
    assert {k: v for k, v in redis_server.commandstats().items() if k != "config|resetstat"} == {}


def test_another_users_cookie_does_not_resume_a_session(app: tuple[LiveApp, RedisServer]) -> None:
    """Bob's valid cookie does not let him resume Alice's session by its ID."""
    live, _ = app
    _, bob_page = sign_in(live.url, BOB, BOB_PASSWORD)
    bob_cookie = issued_cookie(bob_page)
    victim, _ = sign_in(live.url, ALICE, ALICE_PASSWORD)
    victim.close()
    with WireClient(
        live.url, resume_session=victim.session_id, cookies={COOKIE_NAME: bob_cookie}
    ) as thief:
        page = thief.run()
    assert not signed_in(page)
    assert SESSION_MOVED in page.text


def test_a_reconnect_with_the_users_cookie_resumes_the_session(
    app: tuple[LiveApp, RedisServer],
) -> None:
    """A browser's own reconnect (same session ID, its sign-in cookie) stays signed in."""
    live, _ = app
    client, page = sign_in(live.url, ALICE, ALICE_PASSWORD)
    cookie = issued_cookie(page)
    client.close()
    with WireClient(
        live.url,
        resume_session=client.session_id,
        cookies={COOKIE_NAME: cookie},
        query_string=f"id={ENTITY_ID}",
    ) as again:
        page = again.run()
    assert signed_in(page)
    assert again.session_id == client.session_id
    assert SESSION_MOVED not in page.text


def test_the_log_never_names_a_failed_unknown_username(app: tuple[LiveApp, RedisServer]) -> None:
    """What the attacks above left in the server log: no password, no unknown username."""
    live, _ = app
    log = live.log.read_text(errors="replace")
    for secret in (ALICE_PASSWORD, BOB_PASSWORD, CAROL_PASSWORD, "not the password at all"):
        assert secret not in log
    assert not re.search(r"failed sign-in for dave", log)


@pytest.mark.parametrize(
    ("page", "shown"),
    [("bulk", "Paste IDs or attach a file"), ("summary", "Keys scanned")],
)
def test_a_page_requested_first_after_a_restart_is_gated_by_the_shell(
    tmp_path: Path, page: str, shown: str
) -> None:
    """The first request a fresh server gets is for a page of pages/ (Streamlit runs such a
    file directly until the process has seen one st.navigation): signed out, the login
    form and no Redis access; signed in by cookie, the page inside the shell."""
    users = tmp_path / "auth.yaml"
    add_user(users, ALICE, ALICE_PASSWORD)
    cookie_key = "first-request-cookie-key-" + "f" * 32
    with RedisServer() as redis_server:
        redis_server.client().set(f"telemetry:payment:{ENTITY_ID}", json.dumps({"runId": RUN_ID}))
        env = {"REDIS_URL": redis_server.url, "AUTH_CONFIG_PATH": str(users)}
        env["AUTH_COOKIE_KEY"] = cookie_key
        with LiveApp(env) as live:
            redis_server.reset_stats()
            with WireClient(live.url) as stranger:
                out = stranger.run(page=page)
            assert not signed_in(out)
            assert "login_username" in out.widgets
            assert shown not in out.text
            assert {
                k: v for k, v in redis_server.commandstats().items() if k != "config|resetstat"
            } == {}
        token = jwt.encode(
            {"username": ALICE, "exp_date": time.time() + 3_600},
            mode_cookie_key(cookie_key, demo=False).get_secret_value(),
            algorithm="HS256",
        )
        with LiveApp(env) as live, WireClient(live.url, cookies={COOKIE_NAME: token}) as client:
            out = client.run(page=page)
        assert signed_in(out), out.text[-2000:]
        assert shown in out.text
        assert "Traceback" not in out.text
