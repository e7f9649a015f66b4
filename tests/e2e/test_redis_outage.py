"""Redis goes away mid-session: a clear error (URL redacted) and a Retry that recovers.

This module has its own redis-server and app (the session ones stay up for the
other scenarios). The app connects as an ACL user with a password, so the page
can be checked for the redacted URL and for the absence of the password.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from redis_server import RedisServer
from telemetry.store import LEAST_PRIVILEGE_RULES

from .conftest import COOKIE_NAME, KNOWN, PASSWORD, USER, Seed, seed_redis, start_app, start_redis
from .harness import RUN_URL, LiveApp, fresh, look_up, settle, sign_in, wait_until_signed_in

pytestmark = pytest.mark.e2e

ACL_USER = "e2e-reader"
ACL_PASSWORD = "redis-Secret-e2e-7Qx9"  # must never reach the page
# The least-privilege user the README documents.
ACL_RULES = LEAST_PRIVILEGE_RULES.format(namespace="telemetry")


class Outage:
    def __init__(self, server: RedisServer, seed: Seed) -> None:
        self.server = server
        self.seed = seed
        self.url = ""

    def bring_up(self) -> None:
        """Start (again, same port: nothing persists), create the ACL user, seed."""
        self.server.start()
        self.url = self.server.add_acl_user(ACL_USER, ACL_PASSWORD, ACL_RULES)
        client = self.server.client()
        try:
            seed_redis(client, self.seed.generated[:200], self.seed.known)
        finally:
            client.close()

    @property
    def redacted(self) -> str:
        return f"redis://{ACL_USER}:***@127.0.0.1:{self.server.port}/0"


@pytest.fixture(scope="module")
def outage(seed: Seed) -> Iterator[Outage]:
    server = start_redis()
    state = Outage(server, seed)
    try:
        state.bring_up()
        yield state
    finally:
        server.close()


@pytest.fixture(scope="module")
def outage_app(outage: Outage, users_file: Path) -> Iterator[LiveApp]:
    app = start_app(outage.url, users_file)
    try:
        yield app
    finally:
        app.close()


def test_redis_down_shows_the_error_and_retry_recovers(
    page: Any, outage: Outage, outage_app: LiveApp
) -> None:
    page.goto(outage_app.url)
    sign_in(page, USER, PASSWORD)
    wait_until_signed_in(page, COOKIE_NAME)
    look_up(page, KNOWN.rich_id)
    run_link = fresh(page.get_by_role("link", name=re.compile(r"^Open run ")))
    expect(run_link).to_have_attribute("href", RUN_URL.format(run_id=KNOWN.rich_run))
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text(outage.redacted)).to_be_visible()
    expect(sidebar.get_by_text("Redis connected")).to_be_visible()

    outage.server.stop()
    try:
        look_up(page, KNOWN.minimal_id)
        alert = page.get_by_test_id("stMain").get_by_test_id("stAlert")
        expect(alert).to_contain_text("Cannot reach Redis")
        expect(alert).to_contain_text(outage.redacted)
        retry = page.get_by_role("button", name="Retry")
        expect(retry).to_be_visible()
        expect(run_link).to_have_count(0)
        expect(page.get_by_test_id("stException")).to_have_count(0)  # no traceback
        assert ACL_PASSWORD not in page.content()

        # Retrying while it is still down: the same error, no traceback.
        settle(page)
        retry.click()
        expect(sidebar.get_by_text("Redis unreachable")).to_be_visible()
        expect(page.get_by_test_id("stMain").get_by_test_id("stAlert").first).to_contain_text(
            outage.redacted
        )
        expect(page.get_by_test_id("stException")).to_have_count(0)
        assert ACL_PASSWORD not in page.content()
    finally:
        outage.bring_up()  # same port, empty: the ACL user and the data come back

    # Back up: Retry reconnects, the error goes, and lookups work again.
    settle(page)
    page.get_by_role("button", name="Retry").click()
    expect(sidebar.get_by_text("Redis connected")).to_be_visible()
    expect(page.get_by_role("button", name="Retry")).to_have_count(0)
    expect(page.get_by_test_id("stMain").get_by_test_id("stAlert")).to_have_count(0)
    look_up(page, KNOWN.minimal_id)
    expect(run_link).to_have_attribute("href", RUN_URL.format(run_id=KNOWN.minimal_run))
