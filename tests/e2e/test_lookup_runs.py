"""The Lookup page's run state in a real browser (issue #14): a failed run's badge, its
error as exact text, the stack trace behind a click.

The app of this module reads the suite's seeded redis (``e2e_redis``) and a trigger.dev
stand-in started here, serving a failed run for the rich known record.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from redis_server import RedisServer
from telemetry.runs.standin import TriggerStandIn, make_run

from .conftest import COOKIE_NAME, KNOWN, PASSWORD, USER, start_app
from .harness import LiveApp, look_up, settle, sign_in, wait_until_signed_in

pytestmark = pytest.mark.e2e

ERROR_NAME = "StripeCardError"
# What Streamlit's Markdown would turn into bold, HTML, an emoji, a link and an arrow.
ERROR_MESSAGE = "**x** <b>y</b> :smile: [a](http://e) -> www.evil.example"
STACK = "StripeCardError: **x**\n    at charge (src/trigger/billing.ts:88:13)\n    at <b>y</b>"
PARENT = "run_e2eparent000000000000001"
EMOJI = re.compile(r"[\U0001F000-\U0001FAFF\u2600-\u27BF→]")


@pytest.fixture(scope="module")
def runs_app(e2e_redis: RedisServer, users_file: Path) -> Iterator[tuple[LiveApp, TriggerStandIn]]:
    """The app with TRIGGER_API_URL / TRIGGER_SECRET_KEY pointing at a stand-in of its own."""
    failed = make_run(
        KNOWN.rich_run,
        status="FAILED",
        attempt_count=3,
        error={"name": ERROR_NAME, "message": ERROR_MESSAGE, "stackTrace": STACK},
        parent=PARENT,
        root=PARENT,
    )
    with TriggerStandIn([failed]) as api:
        app = start_app(
            e2e_redis.url, users_file, TRIGGER_API_URL=api.url, TRIGGER_SECRET_KEY=api.key
        )
        try:
            yield app, api
        finally:
            app.close()


def test_a_failed_run_shows_its_badge_exact_error_and_the_stack_trace(
    page: Any, runs_app: tuple[LiveApp, TriggerStandIn]
) -> None:
    """Red FAILED badge, the error name and message exactly as sent (no bold, HTML, emoji or
    link), links to the related run, and the stack trace exact once its expander is opened."""
    app, api = runs_app
    page.goto(app.url)
    sign_in(page, USER, PASSWORD)
    wait_until_signed_in(page, COOKIE_NAME)
    look_up(page, KNOWN.rich_id)

    body = page.get_by_test_id("stMain")
    panel = body.get_by_test_id("stMarkdown").filter(has_text="Run state")
    expect(panel).to_have_count(1)
    badge = panel.locator(".stMarkdownBadge")
    expect(badge).to_have_text(re.compile(r"FAILED$"))
    # Streamlit's red badge: a red-tinted background (the green "Found" one is not).
    colour = badge.evaluate("e => getComputedStyle(e).backgroundColor")
    red, green, _ = (int(n) for n in re.findall(r"\d+", colour)[:3])
    assert red > green, colour
    settle(page)
    text = panel.inner_text()
    assert f"Error {ERROR_NAME} — {ERROR_MESSAGE}" in text, text
    assert "Attempts 3" in text
    assert not EMOJI.findall(text), text
    assert panel.locator("b, strong").all_inner_texts() == [
        "Run state",
        "Task",
        "Created",
        "Started",
        "Finished",
        "Duration",
        "Attempts",
        "Test run",
        "Tags",
        "Error",
        "Parent run",
        "Root run",
    ]
    hrefs = panel.locator("a[href]").evaluate_all("as => as.map(a => a.getAttribute('href'))")
    assert hrefs == [f"https://cloud.trigger.dev/runs/{PARENT}"] * 2
    # The Redis facts are there too.
    expect(body.get_by_text(KNOWN.rich_org)).to_be_visible()

    expander = body.get_by_test_id("stExpander").filter(has_text="Stack trace")
    code = expander.get_by_test_id("stCode")
    expect(code).to_be_hidden()
    expander.get_by_text("Stack trace").click()
    expect(code).to_be_visible()
    assert code.locator("code").inner_text() == STACK
    assert api.count("/api/v3/runs/") == 1
