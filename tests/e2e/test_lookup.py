"""The Lookup page: found (the run link), not found (what was checked, why), invalid records."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from ui.format import shorten_middle
from ui.lookup_view import HISTORY_LABEL_CHARS

from .conftest import KNOWN
from .harness import RUN_URL, LiveApp, fresh, look_up

pytestmark = pytest.mark.e2e

NOTIFICATION_TYPES = 9  # the contract's registry: an unprefixed ID is looked up under each


def main(page: Any) -> Any:
    return page.get_by_test_id("stMain")


def test_found_shows_the_run_link_and_the_record(signed_in: Any, live_app: LiveApp) -> None:
    page = signed_in
    look_up(page, KNOWN.rich_id)

    link = page.get_by_role("link", name=f"Open run {KNOWN.rich_run} in Trigger.dev")
    expect(link).to_have_attribute("href", f"https://cloud.trigger.dev/runs/{KNOWN.rich_run}")
    assert RUN_URL.format(run_id=KNOWN.rich_run) == link.get_attribute("href")
    body = main(page)
    expect(body.get_by_test_id("stCode").filter(has_text=KNOWN.rich_run)).to_be_visible()
    expect(body.get_by_text(KNOWN.rich_org)).to_be_visible()
    expect(body.get_by_text("2026-11-20 10:15:00 UTC", exact=False)).to_be_visible()
    expect(body.get_by_text(f"telemetry:payment:{KNOWN.rich_id}")).to_be_visible()
    expect(body.get_by_test_id("stJson")).to_contain_text("succeeded")
    # The lookup is in this session's history. (That the URL follows the input, for
    # sharing, is checked in test_sign_in.py.)
    # (A long ID's pill is cut in the middle to fit the side column.)
    label = shorten_middle(KNOWN.rich_id, HISTORY_LABEL_CHARS)
    expect(body.get_by_role("radio", name=re.compile(re.escape(label)))).to_be_visible()


def test_any_paste_shape_and_a_minimal_record(signed_in: Any) -> None:
    page = signed_in
    # The full Redis key of a minimal record ({"runId"} only).
    look_up(page, f"telemetry:invoice:{KNOWN.minimal_id}")
    expect(page.get_by_role("link", name=re.compile(r"^Open run "))).to_have_attribute(
        "href", RUN_URL.format(run_id=KNOWN.minimal_run)
    )
    expect(main(page).get_by_text("unknown", exact=False).first).to_be_visible()

    # An ID with no known prefix is looked up under every type; it exists as a notification.
    look_up(page, f"`{KNOWN.unprefixed_id}`")
    expect(page.get_by_role("link", name=re.compile(r"^Open run "))).to_have_attribute(
        "href", RUN_URL.format(run_id=KNOWN.unprefixed_run)
    )
    expect(main(page).get_by_text(f"telemetry:notification:{KNOWN.unprefixed_id}")).to_be_visible()


def test_not_found_says_what_was_checked_and_why(signed_in: Any) -> None:
    page = signed_in
    look_up(page, KNOWN.missing_id)
    body = main(page)
    expect(body.get_by_text("Not found:")).to_be_visible()
    expect(body.get_by_text("Checked this key:")).to_be_visible()
    expect(fresh(body.get_by_test_id("stCode"))).to_have_text(
        f"telemetry:payment:{KNOWN.missing_id}"
    )
    expect(body.get_by_text("Never processed", exact=False)).to_be_visible()
    expect(
        body.get_by_text("records expire 14 d after the last write", exact=False)
    ).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r"^Open run "))).to_have_count(0)

    # No known prefix: every entity type's key was checked.
    look_up(page, KNOWN.missing_unprefixed)
    expect(
        body.get_by_text(f"Checked these {NOTIFICATION_TYPES} keys (no known ID prefix):")
    ).to_be_visible()
    # fresh(): the first lookup's code block lingers (stale) while this one is drawn.
    keys = fresh(body.get_by_test_id("stCode"))
    for entity_type in ("payment", "billing_run", "webhook", "notification"):
        expect(keys).to_contain_text(f"telemetry:{entity_type}:{KNOWN.missing_unprefixed}")


def test_invalid_record_shows_reason_and_escaped_raw_value(signed_in: Any) -> None:
    page = signed_in
    look_up(page, KNOWN.bad_json_id)
    body = main(page)
    alert = body.get_by_test_id("stAlert")
    expect(alert).to_contain_text("Invalid record")
    expect(alert).to_contain_text(f"telemetry:payment:{KNOWN.bad_json_id}")
    expect(alert).to_contain_text("value is not JSON")
    # The raw value, character for character: no bold, no HTML, no link made of it.
    expect(body.get_by_test_id("stCode")).to_have_text(KNOWN.bad_json_raw)
    expect(body.locator("b", has_text="bold")).to_have_count(0)
    expect(body.locator("strong", has_text="not")).to_have_count(0)
    expect(body.locator('a[href^="http://x.example"]')).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile(r"^Open run "))).to_have_count(0)

    # A key of the wrong Redis type is invalid too, with its own reason.
    look_up(page, KNOWN.hash_id)
    expect(alert).to_contain_text(f"telemetry:subscription:{KNOWN.hash_id}")
    expect(alert).to_contain_text("key holds a Redis hash, not a string")
