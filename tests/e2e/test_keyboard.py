"""The keyboard as a person uses it: sign in without touching the mouse, and the Bulk page
ready to paste into."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import COOKIE_NAME, PASSWORD, USER
from .harness import LiveApp, fresh, settle, wait_until_signed_in

pytestmark = pytest.mark.e2e


def focused(page: Any) -> str:
    """What has the keyboard focus: tag and accessible label (or text)."""
    return page.evaluate(
        "() => { const e = document.activeElement;"
        " return e.tagName + ':' + (e.getAttribute('aria-label') || e.textContent.trim()); }"
    )


def test_sign_in_by_keyboard_alone(page: Any, live_app: LiveApp) -> None:
    """Username has the focus on load; type, Tab, type, Enter: signed in, no click."""
    page.goto(live_app.url)
    username = fresh(page.get_by_label("Username"))
    # As in harness.sign_in: the login page reruns while the cookie manager's component
    # answers; keys typed (or an Enter pressed) during such a run can be lost with it.
    settle(page)
    expect(username).to_be_focused()
    page.keyboard.type(USER)
    page.keyboard.press("Tab")
    password = page.get_by_label("Password", exact=True)
    expect(password).to_be_focused()  # one Tab: no anchor, iframe or link in between
    page.keyboard.type(PASSWORD)
    expect(username).to_have_value(USER)  # nothing typed into the wrong box
    page.keyboard.press("Enter")
    wait_until_signed_in(page, COOKIE_NAME)
    expect(page.get_by_role("heading", name="Lookup")).to_be_visible()


def test_tab_order_of_the_sign_in_form_is_what_it_shows(page: Any, live_app: LiveApp) -> None:
    """From Username, Tab visits only the form's visible controls, in order."""
    page.goto(live_app.url)
    expect(fresh(page.get_by_label("Username"))).to_be_focused()
    settle(page)
    stops = []
    for _ in range(3):
        page.keyboard.press("Tab")
        stops.append(focused(page))
    # The password field's own show/hide toggle is a visible control of that field.
    assert stops == ["INPUT:Password", "BUTTON:Show password", "BUTTON:Sign in"]


def test_bulk_focuses_its_text_area(signed_in: Any) -> None:
    """Opening Bulk resolve puts the cursor in the IDs box: paste right away."""
    page = signed_in
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Bulk resolve").click()
    expect(page.get_by_role("heading", name="Bulk resolve")).to_be_visible()
    expect(fresh(page.get_by_label("IDs"))).to_be_focused()


def test_lookup_focuses_its_box(signed_in: Any) -> None:
    """After sign-in the Lookup page has the cursor in Entity ID."""
    expect(fresh(signed_in.get_by_role("textbox", name="Entity ID"))).to_be_focused()
