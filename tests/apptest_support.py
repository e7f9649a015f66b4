"""Shared helpers for the AppTest suites of the Streamlit app (tests/app/, and the AppTest
parts of other suites).

How the app is driven
---------------------
- ``make_app()`` returns ``AppTest.from_file("app.py")`` with a signed-in
  session injected (``authentication_status``/``username``/``name``: the auth
  gate owns the login flow itself; the user must exist, so real mode gets a
  users file with ``tester`` from ``use_redis`` and demo mode signs in as the
  built-in ``demo`` user) and neutral ``at.secrets``, so a developer's
  real ``.streamlit/secrets.toml`` is never read. It first empties the app's
  process caches and security state (``reset_process_state``): each test
  builds its own client and summaries, with no throttle left by another.
- Redis comes from the environment, like in production: ``REDIS_URL`` set with
  ``monkeypatch.setenv`` to the real ``redis_server`` fixture (or to a closed
  port for "Redis down"), or unset for demo mode (``DEMO_RECORDS`` keeps it
  small). ``ui.context.client_factory`` can be monkeypatched to hand in any
  other client.
- ``capture_downloads()`` records what each ``st.download_button`` would
  serve, by file name, so a test can assert the exact bytes.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis
import streamlit as st
from streamlit.testing.v1 import AppTest

from telemetry import store_telemetry
from telemetry.auth import DEMO_USERNAME
from telemetry.users import add_user
from ui import auth as gate
from ui import cache

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
TIMEOUT = 30
# Neutral secrets: with any non-empty mapping AppTest replaces st.secrets, so the
# developer's own .streamlit/secrets.toml (maybe a production REDIS_URL) is never read.
NEUTRAL_SECRETS = {"TELEMETRY_NAMESPACE": "telemetry"}
USERNAME = "tester"
_SEAM = ":small[]"
_ESCAPE_RE = re.compile(r"\\([!-/:-@\[-`{-~])")
NOW = datetime.now(tz=UTC).replace(microsecond=0)


def reset_process_state() -> None:
    """What a fresh server process starts with: no cached client, scan, throttle or sign-out."""
    st.cache_resource.clear()
    st.cache_data.clear()
    cache.clear_all()
    gate.reset_security_state()


def make_app(
    *,
    page: str | None = None,
    query: dict[str, str] | None = None,
    secrets: dict[str, Any] | None = None,
    signed_in: bool = True,
) -> AppTest:
    """The app, signed in (``tester``, or ``demo`` in demo mode); run it (and switch to
    ``page``) before returning."""
    reset_process_state()
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.secrets = dict(NEUTRAL_SECRETS | (secrets or {}))
    if signed_in:
        demo = not os.environ.get("REDIS_URL")
        at.session_state["authentication_status"] = True
        at.session_state["username"] = DEMO_USERNAME if demo else USERNAME
        at.session_state["name"] = "Demo user" if demo else "Tester"
    if query and page is None:
        at.query_params.update(query)
    at.run()
    if page is not None:
        at.switch_page(page)
        if query:
            at.query_params.update(query)
        at.run()
    return at


def use_redis(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str) -> None:
    """Real mode the way production configures it: REDIS_URL in the environment, plus the
    sign-in setup real mode requires (a users file holding ``tester``, a cookie key)."""
    users = tmp_path / "auth.yaml"
    if not users.exists():
        add_user(users, USERNAME, "correct horse battery staple", name="Tester", rounds=4)
    monkeypatch.setenv("AUTH_CONFIG_PATH", str(users))
    monkeypatch.setenv("AUTH_COOKIE_KEY", "k" * 40)
    monkeypatch.setenv("REDIS_URL", url)


def use_demo(monkeypatch: pytest.MonkeyPatch, records: int = 500) -> None:
    """Demo mode (no REDIS_URL), with a small generated data set for speed."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("DEMO_RECORDS", str(records))


def put(
    client: Any,
    entity_type: str,
    entity_id: str,
    run_id: str,
    *,
    org: str | None = None,
    timestamp: datetime | str | None = None,
    metadata: dict[str, Any] | None = None,
    rich: bool = True,
    ttl: int = 1_209_600,
) -> str:
    """Write one record as a producer does; returns its key."""
    return store_telemetry(
        client,
        entity_type,
        entity_id,
        run_id,
        organization_id=org,
        timestamp=timestamp,
        metadata=metadata,
        rich=rich,
        ttl_seconds=ttl,
    )


def texts(elements: Iterable[Any]) -> str:
    """Every element's value, newline-joined: for ``in`` assertions over a page."""
    return "\n".join(str(element.value) for element in elements)


def tree_nodes(at: AppTest) -> Iterator[Any]:
    """Every node AppTest holds for the page, depth first: the root (main area, sidebar
    and event blocks), each block and each element.

    AppTest has no public handle on the root (``at.main`` and ``at.sidebar`` miss the
    event blocks), so this is the one place that reads its private ``_tree``.
    """

    def walk(node: Any) -> Iterator[Any]:
        yield node
        for child in getattr(node, "children", {}).values():
            yield from walk(child)

    return walk(at._tree)


def raw_text(at: AppTest) -> str:
    """Markdown source of every text element (main area and sidebar), as sent."""
    parts: list[Any] = []
    for kind in ("markdown", "caption", "info", "warning", "error", "success", "code", "title"):
        parts.extend(getattr(at, kind))
    return texts(parts)


def shown(markdown: str) -> str:
    """The text a reader sees of Markdown made by ``ui.format.record_text``: backslash
    escapes removed, and the empty ``:small[]`` seams it puts between characters."""
    return _ESCAPE_RE.sub(r"\1", markdown.replace(_SEAM, ""))


def page_text(at: AppTest) -> str:
    """``raw_text`` as a reader sees it (see ``shown``)."""
    return shown(raw_text(at))


def no_exception(at: AppTest) -> None:
    """No traceback anywhere on the page (the failure message shows it if there is one)."""
    assert not at.exception, [e.value for e in at.exception]


def capture_downloads(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``{file_name: data}`` of every download button rendered from now on."""
    import streamlit.elements.widgets.button as button

    captured: dict[str, Any] = {}
    original = button.marshall_file

    def recording(
        coordinates: str, data: Any, proto: Any, mimetype: Any, file_name: Any = None, **kwargs: Any
    ) -> None:
        captured[str(file_name)] = data
        original(coordinates, data, proto, mimetype, file_name, **kwargs)

    monkeypatch.setattr(button, "marshall_file", recording)
    return captured


def download_bytes(captured: dict[str, Any], file_name: str) -> bytes:
    """The bytes a download button serves (deferred downloads are built here, as on click)."""
    data = captured[file_name]
    if callable(data):
        data = data()
    return data.encode() if isinstance(data, str) else bytes(data)


def metrics(at: AppTest) -> dict[str, str]:
    """``{label: value}`` of every ``st.metric`` on the page."""
    return {m.label: m.value for m in at.metric}


def places(at: AppTest) -> dict[tuple[str, str], tuple[int, ...]]:
    """Where each labelled element and each table is in the main area: ``(type, label)``
    (a table: ``("dataframe", "#n")``, the n-th) → its path.

    The path is what the browser keys an element by across runs: an element whose
    path changes is drawn twice while a rerun is under way (the previous run's copy
    stays, faded, until the run ends).
    """
    found: dict[tuple[str, str], tuple[int, ...]] = {}
    tables = 0

    def walk(node: Any, path: tuple[int, ...]) -> None:
        nonlocal tables
        for index, child in sorted(getattr(node, "children", {}).items()):
            label = getattr(child, "label", None)
            if isinstance(label, str) and label:
                found[(child.type, label)] = (*path, index)
            elif child.type == "dataframe":
                found[("dataframe", f"#{tables}")] = (*path, index)
                tables += 1
            walk(child, (*path, index))

    walk(at.main, ())
    return found


def widget(elements: Iterable[Any], key: str) -> Any:
    """The widget with user key ``key``."""
    for element in elements:
        if getattr(element, "key", None) == key:
            return element
    raise KeyError(key)


def button_by_label(at: AppTest, predicate: Callable[[str], bool]) -> Any:
    for button in at.button:
        if predicate(button.label):
            return button
    raise KeyError("no such button")


def as_json(value: str) -> Any:
    return json.loads(value)


def dropping_client(ok_pipelines: int) -> fakeredis.FakeRedis:
    """A fakeredis whose connection drops when a pipeline is sent, after the first
    ``ok_pipelines`` pipelines (PING and other single commands keep working)."""

    def reset(*args: Any, **kwargs: Any) -> Any:
        raise redis.ConnectionError("Connection reset by peer")

    class Dropping(fakeredis.FakeRedis):
        sent = 0

        def pipeline(self, *args: Any, **kwargs: Any) -> Any:
            pipe = super().pipeline(*args, **kwargs)
            Dropping.sent += 1
            if Dropping.sent > ok_pipelines:
                pipe.execute = reset
            return pipe

    return Dropping()
