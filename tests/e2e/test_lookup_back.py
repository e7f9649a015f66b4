"""Lookup in the browser: the box keeps the clean ID, and Back steps through lookups."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from .conftest import KNOWN
from .harness import LiveApp, fresh, look_up, settle

pytestmark = pytest.mark.e2e


def run_link(page: Any, run_id: str) -> Any:
    return fresh(page.get_by_role("link", name=f"Open run {run_id} in Trigger.dev"))


def test_raw_paste_is_cleaned_and_back_steps_through_lookups(
    signed_in: Any, live_app: LiveApp
) -> None:
    """A raw paste shows as the clean ID in the box and the URL; Back returns to each
    earlier lookup in turn, then to the empty page."""
    page = signed_in
    box = page.get_by_role("textbox", name="Entity ID")
    look_up(page, f'"payment:{KNOWN.rich_id}",')
    expect(run_link(page, KNOWN.rich_run)).to_be_visible()
    expect(fresh(box)).to_have_value(f"payment:{KNOWN.rich_id}")
    expect(page).to_have_url(re.compile(re.escape(f"?id={quote(f'payment:{KNOWN.rich_id}')}")))
    look_up(page, KNOWN.minimal_id)
    expect(run_link(page, KNOWN.minimal_run)).to_be_visible()
    expect(page).to_have_url(re.compile(re.escape(f"?id={KNOWN.minimal_id}") + "$"))

    page.go_back()
    expect(run_link(page, KNOWN.rich_run)).to_be_visible()
    expect(fresh(box)).to_have_value(f"payment:{KNOWN.rich_id}")
    settle(page)
    page.go_back()
    expect(fresh(box)).to_have_value("")
    expect(page.get_by_role("link", name=re.compile(r"^Open run "))).to_have_count(0)
    page.go_forward()
    expect(run_link(page, KNOWN.rich_run)).to_be_visible()


def test_copy_link_copies_the_lookup_link(signed_in: Any, live_app: LiveApp) -> None:
    """Copy link puts this lookup's link (clean ID) on the clipboard."""
    page = signed_in
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    look_up(page, f"`{KNOWN.minimal_id}`")
    expect(run_link(page, KNOWN.minimal_run)).to_be_visible()
    button = fresh(page.get_by_role("button", name="Copy link"))
    button.click()
    expect(fresh(page.get_by_role("button", name="Copied"))).to_be_visible()
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied == f"{live_app.url}/?id={KNOWN.minimal_id}"
