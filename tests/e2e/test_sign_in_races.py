"""Signing in while the page reruns for another reason.

Streamlit ends a callback at its next session-state access when another rerun
request has arrived (streamlit/streamlit#10578). On the login page one always
comes, the cookie component's first answer, and on a slow machine it can land
while the submit's callback checks the password: the sign-in used to be lost,
the form left filled in with no message. Here the browser is made to send such
a request at that moment on purpose.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from .conftest import COOKIE_NAME, PASSWORD, USER, USER_NAME
from .harness import LiveApp, fresh, settle, wait_until_signed_in

pytestmark = pytest.mark.e2e

# Wraps the page's websocket: remembers the last message sent, and once armed,
# sends the next one (the submit) and then that earlier message again, as soon as
# the server reports the submit's run started (its callback then checks the
# password, which takes bcrypt's ~0.25 s) and 60 ms more. The earlier message is
# a rerun request without the submit's trigger or typed values.
STAGE_A_RERUN = """(() => {
  const send = WebSocket.prototype.send;
  const stage = (window.__stage = {sent: 0, last: null, armed: false, fired: false});
  WebSocket.prototype.send = function (data) {
    if (!stage.armed) {
      stage.sent += 1;
      stage.last = data;
      return send.call(this, data);
    }
    stage.armed = false;
    const socket = this;
    const earlier = stage.last;
    send.call(socket, data);
    const app = document.querySelector('[data-testid="stApp"]');
    const fire = () => setTimeout(() => { send.call(socket, earlier); stage.fired = true; }, 60);
    new MutationObserver((changes, observer) => {
      if (app.getAttribute('data-test-script-state') === 'running') {
        observer.disconnect();
        fire();
      }
    }).observe(app, {attributes: true});
  };
})()"""


def test_a_rerun_during_the_password_check_does_not_lose_the_sign_in(
    page: Any, live_app: LiveApp
) -> None:
    """A rerun request that cuts the submit's callback short mid-check: still signed in,
    cookie stored, no message, the form gone."""
    page.add_init_script(STAGE_A_RERUN)
    page.goto(live_app.url)
    # The cookie component has answered (the page's second message) and its run is over.
    page.wait_for_function("() => window.__stage.sent >= 2")
    settle(page)
    fresh(page.get_by_label("Username")).fill(USER)
    fresh(page.get_by_label("Password", exact=True)).fill(PASSWORD)
    page.evaluate("() => { window.__stage.armed = true; }")
    page.get_by_role("button", name="Sign in").click()

    wait_until_signed_in(page, COOKIE_NAME)
    assert page.evaluate("() => window.__stage.fired")  # the race was staged
    expect(page.get_by_label("Username")).to_have_count(0)
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text(f"Signed in as {USER_NAME} ({USER})")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)
