"""The app's process-wide caches: one helper, owned by the app, never by a client.

Why not ``st.cache_resource`` / ``st.cache_data``: any websocket client,
signed in or not, can empty both for the whole process with one message
(Streamlit's ``clear_cache`` BackMsg, which its "Clear cache" menu item
sends and the server honours unconditionally). What lives here must survive
that: the Redis clients (a reconnect storm otherwise), the Summary scans (a
forced rescan of every key otherwise) and the demo examples. The settings and
the sign-in configuration are kept here too, for speed: they are read on every
rerun, and ``st.cache_*`` would hash their arguments on each call. Security state
(the login throttle, the sign-out registry) is not a cache at all and lives
in ``ui.auth``; nor are the Bulk page's per-session results (session state).

A ``ProcessCache`` is a bounded, thread-safe mapping with an optional
time-to-live and a release hook (to close a client that falls out). A value
is built at most once per key at a time: concurrent sessions asking for the
same missing key wait for the first build instead of repeating it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_ALL: list[ProcessCache[object, object]] = []
_ALL_LOCK = threading.Lock()


class ProcessCache(Generic[K, V]):
    """A bounded LRU map shared by every session of the server process."""

    def __init__(
        self,
        name: str,
        *,
        max_entries: int,
        ttl: float | None = None,
        on_release: Callable[[V], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.max_entries = max_entries
        self.ttl = ttl
        self.on_release = on_release
        self.clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[K, threading.Lock] = {}
        with _ALL_LOCK:
            _ALL.append(self)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"ProcessCache({self.name!r}, entries={len(self._entries)})"

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        """The live value for ``key``, or None (absent or expired)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self.ttl is not None and self.clock() - entry[0] > self.ttl:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: K, value: V) -> None:
        released: list[V] = []
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None and old[1] is not value:
                released.append(old[1])
            self._entries[key] = (self.clock(), value)
            while len(self._entries) > self.max_entries:
                released.append(self._entries.popitem(last=False)[1][1])
        self._release(released)

    def get_or_build(self, key: K, build: Callable[[], V]) -> V:
        """The cached value, or ``build()``'s (kept only when it returns)."""
        value = self.get(key)
        if value is not None:
            return value
        with self._lock:
            gate = self._building.setdefault(key, threading.Lock())
        with gate:
            value = self.get(key)  # built by another session while this one waited
            if value is None:
                value = build()
                self.put(key, value)
        with self._lock:
            if not gate.locked():
                self._building.pop(key, None)
        return value

    def pop(self, key: K) -> None:
        with self._lock:
            entry = self._entries.pop(key, None)
        self._release([entry[1]] if entry is not None else [])

    def clear(self) -> None:
        with self._lock:
            released = [value for _, value in self._entries.values()]
            self._entries.clear()
        self._release(released)

    def _release(self, values: list[V]) -> None:
        if self.on_release is None:
            return
        for value in values:
            # Releasing (closing a client) is best effort: the value is gone either way.
            with contextlib.suppress(Exception):
                self.on_release(value)


def clear_all() -> None:
    """Empty every process cache (tests; an operator's restart does the same)."""
    with _ALL_LOCK:
        caches = list(_ALL)
    for cache in caches:
        cache.clear()
