"""Bulk results shared as links (``/bulk?r=<token>``): kept in the server process for
``KEEP_SECONDS``, bounded in number and in rows.

The token is 128 random bits (``secrets.token_urlsafe``): a link cannot be guessed,
and it opens nothing by itself — the sign-in gate runs before any page, so only a
signed-in user ever sees a shared result. Nothing is written to disk: a restart
forgets every link (the page then says the link expired or is unknown).

A ``ProcessCache`` (see ``ui.cache``): a client's "clear cache" message cannot drop
the links, and the test suite's ``clear_all`` does.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .cache import ProcessCache

KEEP_SECONDS = 24 * 3600  # a link works for a day after it was made
MAX_RESULTS = 50  # links kept at most; the oldest goes first
# Rows kept at most over all links: two 100,000-ID results. One such result measured ~90 MB
# (73 MB of Python objects: the parse and the resolution; 15 MB of Arrow table), so the
# links hold at most ~180 MB. A shared result is the owner's object, not a copy.
MAX_ROWS = 200_000
TOKEN_BYTES = 16
PARAM = "r"  # the query parameter: /bulk?r=<token>

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Shared(Generic[V]):
    """A shared result and what the page says about it."""

    token: str
    value: V
    rows: int
    by: str  # the username who shared it
    label: str  # what was resolved, e.g. "1,000 pasted IDs" or "ids.csv"
    created: float  # epoch seconds
    expires: float  # epoch seconds


class SharedResults(ProcessCache[str, Shared[Any]]):
    """A ``ProcessCache`` that also bounds the total rows of what it keeps."""

    def __init__(
        self,
        *,
        max_entries: int = MAX_RESULTS,
        max_rows: int = MAX_ROWS,
        ttl: float = KEEP_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        super().__init__("shared bulk results", max_entries=max_entries, ttl=ttl, clock=clock)
        self.max_rows = max_rows
        self.wall = wall
        self._share_lock = threading.Lock()

    @property
    def rows(self) -> int:
        return sum(entry[1].rows for entry in list(self._entries.values()))

    def share(self, value: V, *, rows: int, by: str, label: str) -> Shared[V] | None:
        """Keep ``value`` under a new token; None when it alone has more rows than allowed."""
        if rows > self.max_rows:
            return None
        now = self.wall()
        ttl = self.ttl if self.ttl is not None else 0.0
        shared = Shared(
            token=secrets.token_urlsafe(TOKEN_BYTES),
            value=value,
            rows=rows,
            by=by,
            label=label,
            created=now,
            expires=now + ttl,
        )
        with self._share_lock:
            self.put(shared.token, shared)
            # The oldest links go first until the rows fit (the new one always stays).
            while self.rows > self.max_rows:
                oldest = next(iter(self._entries))
                if oldest == shared.token:
                    break
                self.pop(oldest)
        return shared

    def lookup(self, token: str) -> Shared[Any] | None:
        """The live shared result for ``token``; None when unknown, expired or evicted."""
        if not token or len(token) > 64:
            return None
        return self.get(token)


STORE = SharedResults()
