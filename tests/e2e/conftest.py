"""Fixtures of the browser suite: a seeded redis-server, a users file made by the
CLI, ``streamlit run app.py`` and Debian's chromium driven by Playwright.

Session fixtures (one of each for the whole run, torn down at the end):

``e2e_redis``   a real redis-server of the suite's own (not the shared one the
                other tests flush), seeded by ``seed_redis``.
``seed``        what was written: the generated ``SyntheticRecord`` list and the
                hand-written records (``Known``) the scenarios look up.
``users_file``  a credentials file written by ``python -m telemetry users add``
                (two users; the password goes on stdin).
``live_app``    ``streamlit run app.py`` against ``e2e_redis``; ``.url``, ``.log``.
``browser``     headless /usr/bin/chromium (package scope: stopped when tests/e2e is done).

Function fixtures: ``context`` / ``page`` (a fresh browser profile: no cookie),
``signed_in`` (a page signed in as ``USER``, on the Lookup page).

Without /usr/bin/chromium (or Playwright) the suite is skipped locally and
fails when ``CI`` is set: CI must never pass by skipping.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from redis_server import RedisServer
from telemetry.writer import SyntheticRecord, encode_record, generate_records, write_records

from .harness import (
    LiveApp,
    add_user,
    chromium_missing_reason,
    launch_chromium,
    sign_in,
    wait_until_signed_in,
)

USER = "e2e-user"
USER_NAME = "E2E Tester"
PASSWORD = "e2e correct horse battery"
# Signs out in the logout scenario: a sign-out refuses every earlier cookie of
# that user, so it must not be the user the other scenarios rely on.
LEAVER = "e2e-leaver"
LEAVER_PASSWORD = "e2e leaver passphrase 42"
COOKIE_NAME = "run_lookup_auth"

SEED_RECORDS = 3_000
SEED = 20_261_122
MIN_REMAINING_TTL = 3_600  # keep no generated key that could expire during the run
VIEWPORT = {"width": 1400, "height": 900}
EXPECT_TIMEOUT_MS = 20_000  # a 2-core CI runner is slow; expect() still polls
ACTION_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class Known:
    """The hand-written records. Keys have no TTL, so every CSV cell is deterministic:
    processed_at is the record's own timestamp (or empty), expires_at is empty."""

    rich_id: str = "pym_E2eRich00000000000001"
    rich_run: str = "run_e2erich0000000000000000001"
    rich_org: str = "org_E2eAcme0000000000001"
    rich_time: str = "2026-11-20T10:15:00.000Z"
    minimal_id: str = "inv_E2eMinimal000000000001"
    minimal_run: str = "run_E2eMinimal00000000000001"
    formula_id: str = "pym_E2eFormula00000000001"
    formula_run: str = "run_e2eformula0000000000000001"
    formula_org: str = '=HYPERLINK("http://evil.example","x")'
    formula_time: str = "2026-11-21T08:00:00.000Z"
    unprefixed_id: str = "E2eNoPrefix000000000001"  # stored as a notification
    unprefixed_run: str = "run_e2enoprefix00000000000001"
    bad_json_id: str = "pym_E2eBadJson0000000000001"
    bad_json_raw: str = '<b>bold</b> **not** [json](http://x.example) {"runId": '
    hash_id: str = "sub_E2eHash00000000000001"
    missing_id: str = "pym_E2eMissing000000000001"
    missing_unprefixed: str = "E2eNowhere0000000000001"

    def valid(self) -> list[tuple[str, str, str]]:
        """``(entity_type, entity_id, organization or "")`` of the valid hand-written records."""
        return [
            ("payment", self.rich_id, self.rich_org),
            ("invoice", self.minimal_id, ""),
            ("payment", self.formula_id, self.formula_org),
            ("notification", self.unprefixed_id, ""),
        ]

    def invalid_keys(self) -> list[str]:
        return [f"telemetry:payment:{self.bad_json_id}", f"telemetry:subscription:{self.hash_id}"]


KNOWN = Known()


@dataclass(frozen=True)
class Seed:
    generated: list[SyntheticRecord]
    known: Known

    @property
    def valid_generated(self) -> list[SyntheticRecord]:
        return [r for r in self.generated if r.valid]

    @property
    def keys(self) -> int:
        return len(self.generated) + len(self.known.valid()) + len(self.known.invalid_keys())


def generated_records() -> list[SyntheticRecord]:
    return [
        r for r in generate_records(SEED_RECORDS, seed=SEED) if r.ttl_seconds > MIN_REMAINING_TTL
    ]


def seed_redis(client: Any, generated: list[SyntheticRecord], known: Known = KNOWN) -> None:
    """Write the generated records (with TTL) and the hand-written ones (no TTL)."""
    write_records(client, generated)
    k = known
    client.set(
        f"telemetry:payment:{k.rich_id}",
        encode_record(
            "payment",
            k.rich_id,
            k.rich_run,
            k.rich_org,
            k.rich_time,
            {"status": "succeeded", "amount": 4200, "currency": "usd"},
        ),
    )
    client.set(f"telemetry:invoice:{k.minimal_id}", orjson.dumps({"runId": k.minimal_run}))
    client.set(
        f"telemetry:payment:{k.formula_id}",
        encode_record(
            "payment", k.formula_id, k.formula_run, k.formula_org, k.formula_time, {"n": 1}
        ),
    )
    client.set(
        f"telemetry:notification:{k.unprefixed_id}", orjson.dumps({"runId": k.unprefixed_run})
    )
    client.set(f"telemetry:payment:{k.bad_json_id}", k.bad_json_raw.encode())
    client.delete(f"telemetry:subscription:{k.hash_id}")
    client.hset(f"telemetry:subscription:{k.hash_id}", "runId", "run_in_a_hash")


def _need(reason: str | None) -> None:
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"the e2e suite cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


# -- session: servers ---------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_available() -> None:
    _need(chromium_missing_reason())


def start_redis() -> RedisServer:
    try:
        return RedisServer()
    except RuntimeError as exc:
        _need(f"real Redis unavailable: {exc}")
        raise


@pytest.fixture(scope="session")
def seed(browser_available: None) -> Seed:
    return Seed(generated_records(), KNOWN)


@pytest.fixture(scope="session")
def e2e_redis(seed: Seed) -> Iterator[RedisServer]:
    server = start_redis()
    try:
        client = server.client()
        try:
            seed_redis(client, seed.generated, seed.known)
        finally:
            client.close()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def users_file(tmp_path_factory: pytest.TempPathFactory, browser_available: None) -> Path:
    path = tmp_path_factory.mktemp("e2e-auth") / "auth.yaml"
    add_user(path, USER, PASSWORD, name=USER_NAME)
    add_user(path, LEAVER, LEAVER_PASSWORD)
    return path


def cookie_key() -> str:
    return secrets.token_urlsafe(36)[:48]  # 48 random URL-safe characters


def start_app(redis_url: str, users_file: Path, **env: str) -> LiveApp:
    """The app on ``redis_url`` with the suite's users, plus any other settings in ``env``."""
    app = LiveApp(
        {
            "REDIS_URL": redis_url,
            "AUTH_CONFIG_PATH": str(users_file),
            "AUTH_COOKIE_KEY": cookie_key(),
            **env,
        }
    )
    try:
        return app.start()
    except RuntimeError as exc:
        app.close()
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def live_app(e2e_redis: RedisServer, users_file: Path) -> Iterator[LiveApp]:
    app = start_app(e2e_redis.url, users_file)
    try:
        yield app
    finally:
        app.close()


# -- session: browser ---------------------------------------------------------------


@pytest.fixture(scope="package")
def browser(browser_available: None) -> Iterator[Any]:
    # Package scope: Playwright's sync API allows one instance per thread, and
    # tests outside tests/e2e (app/test_app_auth.py) start their own after this one ends.
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser profile (no cookie), with downloads allowed."""
    ctx = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    ctx.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()


@pytest.fixture
def signed_in(page: Any, live_app: LiveApp) -> Any:
    """A page signed in as ``USER``, on the Lookup page, the app idle."""
    from playwright.sync_api import expect

    page.goto(live_app.url)
    sign_in(page, USER, PASSWORD)
    wait_until_signed_in(page, COOKIE_NAME)
    expect(page.get_by_role("heading", name="Lookup")).to_be_visible()
    return page


# -- the server log in failure reports ---------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        apps = [
            value for value in getattr(item, "funcargs", {}).values() if isinstance(value, LiveApp)
        ]
        for app in apps:
            report.sections.append((f"streamlit log ({app.url})", app.log_tail(80)))
