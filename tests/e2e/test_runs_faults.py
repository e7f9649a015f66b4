"""trigger.dev failing, in a real browser (issue #14): each fault is a clear message on the
Lookup panel and on the Bulk rows, the Redis answers stay, the key never shows.

One app for the module, reading the suite's seeded redis and a stand-in of its own that
each test breaks in another way (the last one stops it). Each fault uses another known
record, so the Lookup's short cache of a failure never carries one fault into the next.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from redis_server import RedisServer
from telemetry.runs.standin import TriggerStandIn, make_run

from .conftest import COOKIE_NAME, KNOWN, PASSWORD, USER, start_app
from .harness import LiveApp, look_up, settle, sign_in, wait_until_signed_in

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def faulty_app(e2e_redis: RedisServer, users_file: Path) -> Iterator[tuple[LiveApp, Any]]:
    runs = [
        make_run(run_id)
        for run_id in (KNOWN.rich_run, KNOWN.minimal_run, KNOWN.formula_run, KNOWN.unprefixed_run)
    ]
    with TriggerStandIn(runs) as api:
        app = start_app(
            e2e_redis.url, users_file, TRIGGER_API_URL=api.url, TRIGGER_SECRET_KEY=api.key
        )
        try:
            yield app, api
        finally:
            app.close()


def _server_errors(api: Any) -> None:
    api.fail_5xx = 10_000


def _malformed(api: Any) -> None:
    api.fail_5xx = 0
    api.malformed = 10_000


def _key_refused(api: Any) -> None:
    api.malformed = 0
    api.key = "tr_prod_rotated_since"


def _down(api: Any) -> None:
    api.stop()


# In this order: the last one stops the stand-in.
FAULTS: list[tuple[str, Callable[[Any], None], str, str]] = [
    ("5xx", _server_errors, KNOWN.rich_id, "the API is down or slow"),
    ("malformed", _malformed, KNOWN.minimal_id, "not JSON"),
    ("401", _key_refused, KNOWN.formula_id, "TRIGGER_SECRET_KEY was refused (401)"),
    ("down", _down, KNOWN.unprefixed_id, "cannot be reached"),
]


@pytest.mark.parametrize(
    ("fault", "breaks", "entity_id", "says"), FAULTS, ids=[f[0] for f in FAULTS]
)
def test_an_api_fault_is_a_message_and_the_redis_answer_stays(
    page: Any,
    faulty_app: tuple[LiveApp, Any],
    fault: str,
    breaks: Callable[[Any], None],
    entity_id: str,
    says: str,
) -> None:
    """Lookup: the record's facts and a warning naming the cause; Bulk: the row found, its run
    state `unavailable` with the cause, one click to list such rows; no key, no traceback."""
    app, api = faulty_app
    key = api.key
    breaks(api)
    page.goto(app.url)
    sign_in(page, USER, PASSWORD)
    wait_until_signed_in(page, COOKIE_NAME)
    main = page.get_by_test_id("stMain")

    look_up(page, entity_id)
    warning = main.get_by_test_id("stAlertContentWarning").filter(has_text="Run state unavailable")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text(says)
    expect(main.get_by_role("link", name=re.compile(r"^Open run run_"))).to_be_visible()
    expect(main.get_by_role("button", name="Try again")).to_be_visible()

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Bulk resolve").click()
    expect(page.get_by_role("heading", name="Bulk resolve")).to_be_visible()
    settle(page)
    box = page.get_by_label("IDs")
    box.fill(f"{entity_id}\n{KNOWN.missing_id}")
    box.press("Control+Enter")
    filters = page.get_by_role("radiogroup", name="Show")
    unavailable = filters.get_by_role("radio", name="Run state unavailable (1)")
    expect(unavailable).to_be_visible()
    expect(filters.get_by_role("radio", name="Not found (1)")).to_be_visible()
    expect(main.get_by_text(says, exact=False).first).to_be_visible()

    text = page.locator("body").inner_text()
    assert key not in text and "tr_prod_rotated_since" not in text
    assert "Traceback" not in text
    assert not page.get_by_test_id("stException").count()
