"""What every page needs: settings, the cached Redis client and reader, the
connection status, and the error edge.

Construction
    ``load_settings()`` builds :class:`telemetry.Settings` from the environment
    and ``st.secrets`` (no secrets file is normal); ``app_context()`` adds the
    :class:`telemetry.TelemetryReader` over a client made once per process and
    per settings (``READERS``, a ``ui.cache.ProcessCache``). The cache key is a
    salted hash of the settings, secrets included, so it tells nothing about them.

Test hook
    ``client_factory`` (default :func:`telemetry.connect`) turns settings into
    a Redis client. Tests either set ``REDIS_URL`` to a real server, leave it
    unset for demo mode, or monkeypatch ``ui.context.client_factory`` to hand
    in any client (e.g. fakeredis); they call ``ui.cache.clear_all()`` first so
    no client of an earlier test is reused.

Errors
    ``edge()`` is the only place pages catch anything: a ``TelemetryError``
    becomes ``st.error`` with its message as exact text (messages are written
    for users and URLs are already redacted, but they quote input such as a
    file's column names), with a Retry button when Redis is unavailable.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets as _random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import streamlit as st
from pydantic import SecretStr

from telemetry import (
    ConfigError,
    Settings,
    StoreUnavailableError,
    TelemetryError,
    TelemetryReader,
    connect,
)

from .cache import ProcessCache
from .format import record_text

client_factory: Callable[[Settings], Any] = connect

# Per-process salt: cache keys derived from settings (which hold the Redis
# password) cannot be reversed or compared across processes.
_SALT = _random.token_bytes(16)
_SETTING_NAMES = tuple(sorted(name.upper() for name in Settings.model_fields))
# A successful PING is trusted this long per session: the sidebar's latency
# does not need a round trip on every rerun. Failures are never cached.
PING_TTL_SECONDS = 15.0
_PING_STATE = "_run_lookup_ping"
ERROR_LIMIT = 2_000  # characters of an error message shown (they quote input)


@dataclass(frozen=True, slots=True)
class AppContext:
    settings: Settings
    reader: TelemetryReader
    key: str  # salted hash of the settings: a cache key that reveals nothing


@dataclass(frozen=True, slots=True)
class Connection:
    """The sidebar's view of Redis: where, and whether it answers."""

    ok: bool
    latency: float | None = None
    error: StoreUnavailableError | None = None
    # ``Store.describe()``: the redacted URL, or e.g. "cluster of 3 primaries at …".
    where: str = ""


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, key=_SALT, digest_size=12).hexdigest()


def read_secrets() -> dict[str, Any]:
    """``st.secrets`` as a dict; ``{}`` when there is no secrets file (normal).

    A secrets file that exists but cannot be parsed is a configuration error.
    """
    try:
        return st.secrets.to_dict()
    except FileNotFoundError as exc:
        # Streamlit raises FileNotFoundError (its public base; the subclass lives in a
        # private module) both for no secrets file and for one it cannot parse: only the
        # configured paths tell them apart.
        if not any(Path(path).exists() for path in st.get_option("secrets.files")):
            return {}
        raise ConfigError(f"Cannot read .streamlit/secrets.toml — {exc}") from None


def load_settings() -> Settings:
    """Settings from the environment and ``st.secrets``; raises ``ConfigError``."""
    return _load()[0]


def _load() -> tuple[Settings, str]:
    # Built once per distinct configuration: the environment and the secrets
    # are the key (tests change the environment between runs in one process).
    # A plain dict, not st.cache_resource: this runs on every rerun and must
    # cost next to nothing; Settings are small and immutable.
    secrets = read_secrets()
    fingerprint = _digest(
        orjson.dumps(
            [[name, os.environ.get(name)] for name in _SETTING_NAMES]
            + [[str(k), repr(v)] for k, v in sorted(secrets.items(), key=lambda kv: str(kv[0]))]
        )
    )
    loaded = _SETTINGS.get(fingerprint)
    if loaded is None:
        settings = Settings.load(secrets=secrets)
        loaded = (settings, settings_key(settings))
        _SETTINGS.put(fingerprint, loaded)
        # The entry holds the settings object, so its id is not reused while it is cached.
        _KEYS.put(id(settings), loaded)
    return loaded


def settings_key(settings: Settings) -> str:
    """A salted hash of every setting, secrets included: safe to use as a cache key."""
    values = {
        name: value.get_secret_value() if isinstance(value, SecretStr) else value
        for name, value in settings.model_dump().items()
    }
    return _digest(orjson.dumps(values, default=str, option=orjson.OPT_SORT_KEYS))


def _release(reader: TelemetryReader) -> None:
    close = getattr(reader.store.client, "close", None)
    if close is not None:
        # Closing a dead connection may fail; there is nothing left to do then.
        with contextlib.suppress(Exception):
            close()


# One reader (client + pool) per configuration, shared by every session. Not
# st.cache_resource: a signed-out client could empty that with one message and
# make every session reconnect (see ui/cache.py).
READERS: ProcessCache[str, TelemetryReader] = ProcessCache(
    "readers", max_entries=8, on_release=_release
)
# Settings per configuration fingerprint (environment and secrets), and the same
# entries by the settings object's id, for app_context(settings).
_SETTINGS: ProcessCache[str, tuple[Settings, str]] = ProcessCache("settings", max_entries=32)
_KEYS: ProcessCache[int, tuple[Settings, str]] = ProcessCache("settings keys", max_entries=32)


def _reader(key: str, settings: Settings) -> TelemetryReader:
    def build() -> TelemetryReader:
        label = "Generating demo data…" if settings.demo else "Connecting to Redis…"
        with st.spinner(label):
            return TelemetryReader(client_factory(settings), settings)

    return READERS.get_or_build(key, build)


def app_context(settings: Settings | None = None) -> AppContext:
    """Settings (``load_settings()`` unless given), reader and cache key for this run.

    Cache hits after the first call. Raises ``ConfigError`` for bad settings and
    ``StoreUnavailableError`` when the client cannot even be built (e.g. a
    malformed cluster URL).
    """
    if settings is None:
        settings, key = _load()
    else:
        known = _KEYS.get(id(settings))
        key = known[1] if known is not None and known[0] is settings else settings_key(settings)
    return AppContext(settings, _reader(key, settings), key)


def reset_connection() -> None:
    """Forget this configuration's cached client (closing it) and the cached PING: the next
    run reconnects. Other configurations' clients (other tests, other processes) are kept."""
    st.session_state.pop(_PING_STATE, None)
    try:
        _, key = _load()
    except ConfigError:
        READERS.clear()
        return
    READERS.pop(key)


def connection(ctx: AppContext) -> Connection:
    """PING Redis (a success is reused for ``PING_TTL_SECONDS``); never raises for Redis."""
    cached = st.session_state.get(_PING_STATE)
    now = time.monotonic()
    if cached is not None and cached[0] == ctx.key and now - cached[1] < PING_TTL_SECONDS:
        return Connection(ok=True, latency=cached[2], where=ctx.reader.store.describe())
    try:
        latency = ctx.reader.store.ping()
    except StoreUnavailableError as exc:
        st.session_state.pop(_PING_STATE, None)
        return Connection(ok=False, error=exc, where=ctx.reader.store.describe())
    st.session_state[_PING_STATE] = (ctx.key, now, latency)
    return Connection(ok=True, latency=latency, where=ctx.reader.store.describe())


def show_error(exc: TelemetryError, *, key: str = "retry_connection") -> None:
    """The message as it is; for an unavailable Redis, a Retry button that reconnects."""
    st.error(record_text(str(exc), ERROR_LIMIT), icon=":material/error:")
    if isinstance(exc, StoreUnavailableError):
        st.button(
            "Retry",
            key=key,
            icon=":material/refresh:",
            on_click=reset_connection,
            help="Reconnect to Redis and run this page again",
        )


@contextmanager
def edge(*, key: str = "retry_connection") -> Iterator[None]:
    """Catch ``TelemetryError`` (and only that) at a page's edge and show it."""
    try:
        yield
    except TelemetryError as exc:
        show_error(exc, key=key)
