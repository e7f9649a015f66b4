"""Shared fixtures: real ``redis-server`` processes, fakeredis, settings, a clean environment.

Fixtures
--------
``redis_server``        session: one real server for the whole run (``RedisServer``).
``redis_client``        function: ``redis.Redis`` on that server, after FLUSHALL,
                        removal of extra ACL users and CONFIG RESETSTAT.
``fresh_redis_server``  function: a server of the test's own, to kill/pause/restart.
``fake_redis``          function: an empty ``fakeredis.FakeRedis()``.
``settings_factory``    function: ``settings_factory(secrets=None, **overrides)`` →
                        ``telemetry.config.Settings.load(secrets, **overrides)``.
``server_clock``        function: fakeredis' server clock frozen at ``clocks.NOW``
                        (a ``clocks.FrozenClock``: move it with ``server_clock.now += s``).
``trigger_api``         function: a started ``telemetry.runs.standin.TriggerStandIn``
                        (no runs yet: ``trigger_api.add(make_run(...))``), on a free
                        port of 127.0.0.1; ``trigger_env`` sets TRIGGER_API_URL and
                        TRIGGER_SECRET_KEY to it in ``os.environ`` for the test.

Support modules (importable from any test: ``tests`` is on ``pythonpath``):
``clocks`` (``NOW``, ``FrozenClock``), ``redis_server``, ``redis_cluster``,
``apptest_support``, ``wire_client``, ``st_wire``; ``e2e.harness``.

Tests that use a real server are marked ``redis`` automatically, so
``pytest -m "not redis"`` runs without one. Without ``redis-server`` such tests
are skipped locally, but fail when ``CI`` is set: CI must never pass by skipping.
"""

from __future__ import annotations

import inspect
import os
import types
from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import fakeredis._socket._base as fakeredis_socket
import pytest
import redis

from clocks import NOW, FrozenClock
from redis_server import RedisServer

REAL_REDIS_FIXTURES = frozenset({"redis_server", "redis_client", "fresh_redis_server"})

# Everything telemetry.config.Settings reads from the environment (the
# contract's §4 plus the extra knobs), so a developer's shell never leaks in.
ISOLATED_ENV_VARS = (
    "REDIS_URL",
    "REDIS_CLUSTER",
    "TELEMETRY_NAMESPACE",
    "TELEMETRY_TTL_SECONDS",
    "RUN_URL_TEMPLATE",
    "RUNS_LIST_URL_TEMPLATE",
    "AUTH_CONFIG_PATH",
    "AUTH_COOKIE_KEY",
    "AUTH_COOKIE_NAME",
    "AUTH_COOKIE_EXPIRY_DAYS",
    "TELEMETRY_ENTITY_TYPES",
    "REDIS_CONNECT_TIMEOUT",
    "REDIS_SOCKET_TIMEOUT",
    "SCAN_MAX_KEYS",
    "MAX_IDS",
    "DEMO_RECORDS",
)
FORBIDDEN_PORT = 6379  # the machine's own Redis, if it has one


def _settings_env_names() -> set[str]:
    names = set(ISOLATED_ENV_VARS)
    try:
        from telemetry.config import Settings
    except Exception:  # telemetry broken or absent: its own tests will say why
        return names
    return names | {name.upper() for name in Settings.model_fields}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if REAL_REDIS_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.redis)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's REDIS_URL, namespace, templates or auth settings."""
    for name in sorted(_settings_env_names()):
        monkeypatch.delenv(name, raising=False)


def _refuse(conn: Any) -> None:
    if int(getattr(conn, "port", 0) or 0) == FORBIDDEN_PORT:
        raise redis.ConnectionError(
            f"Error connecting to {getattr(conn, 'host', '?')}:{FORBIDDEN_PORT}: refused by "
            "tests/conftest.py (tests must never touch a Redis on port 6379; use the "
            "redis_server / fresh_redis_server fixtures)"
        )


def _guarded(original: Any) -> Any:
    if inspect.iscoroutinefunction(original):

        async def _connect_async(self: Any, *args: Any, **kwargs: Any) -> Any:
            _refuse(self)
            return await original(self, *args, **kwargs)

        return _connect_async

    def _connect(self: Any, *args: Any, **kwargs: Any) -> Any:
        _refuse(self)
        return original(self, *args, **kwargs)

    return _connect


@pytest.fixture(autouse=True, scope="session")
def _never_touch_port_6379() -> Iterator[None]:
    """Refuse, in this process, any redis-py TCP connection to port 6379.

    The machine's own Redis must never be read or written by a test; a refused
    connection looks like an unreachable server (``redis.ConnectionError``).
    fakeredis is unaffected; subprocesses are protected by the cleaned
    environment only.
    """
    import redis.asyncio.connection
    import redis.connection

    patched: list[tuple[type, Any]] = []
    for cls in (redis.connection.Connection, redis.asyncio.connection.Connection):
        original = cls.__dict__.get("_connect")
        if original is None:  # redis-py internals changed; the env isolation remains
            continue
        cls._connect = _guarded(original)  # type: ignore[attr-defined]
        patched.append((cls, original))
    yield
    for cls, original in patched:
        cls._connect = original  # type: ignore[attr-defined]


def _start_server() -> RedisServer:
    try:
        return RedisServer()
    except RuntimeError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"real Redis needed but unavailable in CI: {exc}", pytrace=False)
        pytest.skip(f"real Redis unavailable: {exc}")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server for the whole session (shared: do not kill or pause it)."""
    server = _start_server()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client of the session server, which starts empty with zeroed statistics."""
    if redis_server.paused:
        redis_server.resume()
    if not redis_server.running:  # a test killed the shared server: bring it back
        redis_server.start()
    redis_server.reset()
    client = redis_server.client()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def fresh_redis_server() -> Iterator[RedisServer]:
    """A real redis-server of this test's own: kill, pause or restart it freely."""
    server = _start_server()
    try:
        yield server
    finally:
        server.resume()
        server.close()


@pytest.fixture
def fake_redis() -> Iterator[fakeredis.FakeRedis]:
    """An empty in-memory fakeredis, private to the test."""
    client = fakeredis.FakeRedis()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def settings_factory() -> Callable[..., Any]:
    """``settings_factory(secrets=None, **overrides)`` → ``Settings.load(...)``."""
    from telemetry.config import Settings

    def factory(secrets: Any = None, **overrides: Any) -> Settings:
        return Settings.load(secrets, **overrides)

    return factory


@pytest.fixture
def server_clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    """Freeze fakeredis' server clock at ``NOW`` for this test, so PTTLs are exact.

    fakeredis takes "now" from ``time.time()`` in its socket module; the test
    moves it with ``server_clock.now += seconds``.
    """
    clock = FrozenClock(NOW)
    monkeypatch.setattr(fakeredis_socket, "time", types.SimpleNamespace(time=clock.time))
    return clock


@pytest.fixture
def trigger_api() -> Iterator[Any]:
    """A trigger.dev API stand-in of the test's own, started on a free port."""
    from telemetry.runs.standin import TriggerStandIn

    with TriggerStandIn() as api:
        yield api


@pytest.fixture
def trigger_env(trigger_api: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``trigger_api``, with TRIGGER_API_URL / TRIGGER_SECRET_KEY pointing the app at it."""
    monkeypatch.setenv("TRIGGER_API_URL", trigger_api.url)
    monkeypatch.setenv("TRIGGER_SECRET_KEY", trigger_api.key)
    return trigger_api
