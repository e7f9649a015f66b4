"""Bulk results in the browser: they survive moving between pages, and a colleague opens
them from a link after signing in."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import COOKIE_NAME, KNOWN, PASSWORD, USER, VIEWPORT
from .harness import (
    LiveApp,
    empty_blocks_laid_out,
    fresh,
    metric,
    settle,
    sign_in,
    wait_until_signed_in,
)

pytestmark = pytest.mark.e2e

PASTE = "\n".join([KNOWN.rich_id, KNOWN.minimal_id, KNOWN.missing_id])


def go(page: Any, name: str) -> None:
    settle(page)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    settle(page)


def resolve_paste(page: Any) -> None:
    go(page, "Bulk resolve")
    ids = page.get_by_label("IDs")
    ids.fill(PASTE)
    ids.press("Control+Enter")
    expect(metric(page, "Found")).to_have_text("2")
    expect(metric(page, "Not found")).to_have_text("1")


def test_empty_slots_take_no_room_after_a_resolve(signed_in: Any) -> None:
    """After a resolve (its progress slot empty again) no laid-out block of the page is
    empty: no stray gap pushes the table down."""
    page = signed_in
    resolve_paste(page)
    settle(page)
    assert empty_blocks_laid_out(page) == []


def test_paste_and_upload_survive_bulk_lookup_bulk(signed_in: Any) -> None:
    """Bulk → Lookup → Bulk: the paste and its counts are back; an uploaded file's result
    too, marked with the file's name."""
    page = signed_in
    resolve_paste(page)
    go(page, "Lookup")
    go(page, "Bulk resolve")
    expect(fresh(page.get_by_label("IDs"))).to_have_value(PASTE)
    expect(metric(page, "Found")).to_have_text("2")

    page.get_by_label("IDs").fill("")
    page.get_by_label("IDs").press("Control+Enter")
    settle(page)
    csv = f"payment_id,amount\n{KNOWN.rich_id},10\n{KNOWN.formula_id},20\n".encode()
    page.locator("input[type=file]").set_input_files(
        {"name": "orders.csv", "mimeType": "text/csv", "buffer": csv}
    )
    expect(metric(page, "Found")).to_have_text("2")
    expect(metric(page, "Pasted")).to_have_text("2")
    go(page, "Lookup")
    go(page, "Bulk resolve")
    expect(page.get_by_text("Showing the result from")).to_be_visible()
    expect(page.get_by_text("orders.csv").first).to_be_visible()
    expect(metric(page, "Found")).to_have_text("2")
    expect(metric(page, "Pasted")).to_have_text("2")


def test_shared_link_needs_sign_in_then_shows_the_result(
    signed_in: Any, browser: Any, live_app: LiveApp
) -> None:
    """Share makes /bulk?r=<token>; a signed-out browser gets the login only, and after
    signing in (keyboard alone) the same result, saying who shared it."""
    page = signed_in
    resolve_paste(page)
    settle(page)
    page.get_by_role("button", name="Share").click()
    code = fresh(page.get_by_test_id("stCode").filter(has_text="?r="))
    expect(code).to_be_visible()
    link = code.inner_text().strip()
    assert re.fullmatch(re.escape(live_app.url) + r"/bulk\?r=[A-Za-z0-9_-]{22}", link), link

    other = browser.new_context(viewport=VIEWPORT)
    try:
        colleague = other.new_page()
        colleague.goto(link)
        expect(fresh(colleague.get_by_label("Username"))).to_be_visible()
        expect(colleague.get_by_test_id("stMetric")).to_have_count(0)
        expect(colleague.get_by_text("Shared by")).to_have_count(0)
        sign_in(colleague, USER, PASSWORD)
        wait_until_signed_in(colleague, COOKIE_NAME)
        expect(colleague.get_by_text(re.compile(r"Shared by\s+" + re.escape(USER)))).to_be_visible()
        expect(metric(colleague, "Found")).to_have_text("2")
        expect(metric(colleague, "Not found")).to_have_text("1")
        assert "?r=" in colleague.url

        colleague.goto(f"{live_app.url}/bulk?r=not-a-real-token")
        expect(colleague.get_by_text("This shared link has expired or is unknown")).to_be_visible()
        expect(colleague.get_by_test_id("stMetric")).to_have_count(0)
    finally:
        other.close()


# The Lookup column's "Open" in the first row, from the grid's top-left corner: the grid
# is a canvas, so a person's click is a position (the Query column is sized from the
# pasted IDs, which are fixed here, as are the viewport and the font).
LOOKUP_CELL_OFFSET = (210, 53)


def test_a_row_opens_its_lookup(signed_in: Any) -> None:
    """Clicking a row's Lookup link opens that entity on the Lookup page in a new tab
    (signed in by the cookie), while the Bulk result stays in its tab."""
    page = signed_in
    resolve_paste(page)
    settle(page)
    grid = page.get_by_test_id("stDataFrame")
    cell = grid.locator("[role=grid]").locator("[role=gridcell][aria-colindex='2']").first
    expect(cell).to_have_text(f"./?id=payment:{KNOWN.rich_id}")
    grid.scroll_into_view_if_needed()  # as a person scrolls to the table before clicking
    box = grid.bounding_box()
    assert box is not None
    x, y = box["x"] + LOOKUP_CELL_OFFSET[0], box["y"] + LOOKUP_CELL_OFFSET[1]
    page.mouse.move(x, y)
    with page.context.expect_page() as opened:
        page.mouse.click(x, y)
    lookup = opened.value
    try:
        expect(lookup).to_have_url(re.compile(re.escape(f"?id=payment:{KNOWN.rich_id}") + "$"))
        run = f"Open run {KNOWN.rich_run} in Trigger.dev"
        expect(fresh(lookup.get_by_role("link", name=run))).to_be_visible()
    finally:
        lookup.close()
    expect(metric(page, "Found")).to_have_text("2")
