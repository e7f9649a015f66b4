"""Pins how the sign-in cookie is set, which the gate relies on (``ui.auth``'s
``COOKIE_SET_COMPONENT_KEY``): streamlit-authenticator calls extra-streamlit-components'
``CookieManager.set`` without a key of its own, so its component answers under that
method's default key. The browser suite checks the rest: the component's answer ends
the "set" (``wait_until_signed_in`` waits for the cookie component to go).
"""

from __future__ import annotations

import inspect
from typing import Any

from extra_streamlit_components import CookieManager
from streamlit_authenticator.models.cookie_model import CookieModel

from ui import auth as gate


class RecordingCookieManager:
    def __init__(self) -> None:
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def set(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append((args, kwargs))


def test_the_cookie_managers_set_answers_under_the_key_the_gate_reads() -> None:
    """CookieManager.set's default component key is the one the gate reads back."""
    key = inspect.signature(CookieManager.set).parameters["key"]
    assert key.default == gate.COOKIE_SET_COMPONENT_KEY


def test_streamlit_authenticator_sets_its_cookie_without_a_key_of_its_own() -> None:
    """The library's set_cookie makes one CookieManager.set call and passes no key."""
    model = CookieModel.__new__(CookieModel)  # no __init__: it would render the component
    model.cookie_name = "run_lookup_auth"
    model.cookie_key = "k" * 32
    model.cookie_expiry_days = 30.0
    model.cookie_manager = manager = RecordingCookieManager()
    model._token_encode = lambda: "a.jwt.token"  # reads st.session_state otherwise
    model.set_cookie()
    assert len(manager.calls) == 1
    args, kwargs = manager.calls[0]
    assert args[:2] == ("run_lookup_auth", "a.jwt.token")
    assert "key" not in kwargs
