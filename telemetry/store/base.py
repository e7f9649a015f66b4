"""What every store is: the read primitives the reader needs, and the errors users see.

Everything that can raise a redis-py exception runs behind ``store_errors`` (or
the cluster's own wrapper), so callers only ever see ``StoreUnavailableError``
with a redacted URL and a hint.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

import redis

from ..config import PERCENT_ENCODE_HINT
from ..errors import ConfigError, StoreUnavailableError

if TYPE_CHECKING:
    from ..config import Settings

# (keys, values, pttls, last, complete, error) — see Store.scan_fetch.
ScanStep = tuple[list[Any], list[Any], list[int], bool, bool, str]

LEAST_PRIVILEGE_RULES = "-@all +get +mget +scan +pttl +ttl +type +ping ~{namespace}:*"


class WrongType(str):
    """In place of a value: the key holds this Redis type (``"hash"``, ...), not a string."""

    __slots__ = ()


def describe_failure(exc: BaseException, url: str) -> StoreUnavailableError:
    """A redis-py exception as the error users see: what failed, where, what to do."""
    text = str(exc).strip().rstrip(".") or type(exc).__name__
    if isinstance(exc, redis.AuthenticationError) or "WRONGPASS" in text:
        return StoreUnavailableError(
            "Redis refused the credentials.",
            url=url,
            hint="check the username and password in REDIS_URL",
        )
    # redis-py 8 strips the "NOPERM" prefix from the message: trust the type.
    if isinstance(exc, redis.exceptions.NoPermissionError) or text.startswith("NOPERM"):
        return StoreUnavailableError(
            f"Redis denied a command: {text}.",
            url=url,
            hint="the Redis user needs " + LEAST_PRIVILEGE_RULES.format(namespace="<namespace>"),
        )
    if isinstance(exc, redis.TimeoutError):
        return StoreUnavailableError(
            f"Redis did not answer in time ({text}).",
            url=url,
            hint="the server may be overloaded or paused; retry, or raise REDIS_SOCKET_TIMEOUT",
        )
    if isinstance(exc, redis.ConnectionError):
        return StoreUnavailableError(
            f"Cannot reach Redis ({text}).",
            url=url,
            hint="is the server running and is REDIS_URL right? Retry once it is back",
        )
    return StoreUnavailableError(
        f"Redis failed: {text}.", url=url, hint="retry; report it if it persists"
    )


@contextmanager
def store_errors(url: str) -> Iterator[None]:
    try:
        yield
    except StoreUnavailableError:
        raise
    except (redis.RedisError, OSError) as exc:
        raise describe_failure(exc, url) from None


@contextmanager
def url_errors(url: str) -> Iterator[None]:
    """redis-py's own complaints about REDIS_URL as a ``ConfigError`` naming the fix.

    ``Settings`` already refuses what we know redis-py rejects; this is the net
    under that: redis-py's words may quote the URL, password included (urllib's
    "Port could not be cast to integer value as '<start of password>'"), so they
    are never shown.
    """
    try:
        yield
    except (ValueError, TypeError):
        raise ConfigError(
            "REDIS_URL is not a URL redis-py accepts — check the scheme (redis:// or "
            f"rediss://), host:port and ?options, and {PERCENT_ENCODE_HINT} (got {url})"
        ) from None


class Store(ABC):
    """The read primitives over one injected client; ``for_client`` picks the kind.

    A kind declares the client type it serves (``class SingleStore(Store,
    serves=object)``), so this module never imports its subclasses: the
    cluster store depends on this one only, and ``for_client`` still finds it.
    """

    # Client type -> the store kind for it; filled as the kinds are defined.
    _kinds: ClassVar[dict[type, type[Store]]] = {}

    def __init_subclass__(cls, *, serves: type | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if serves is not None:
            Store._kinds[serves] = cls

    def __init__(self, client: Any, settings: Settings) -> None:
        self.client = client
        self.url = settings.redacted_redis_url

    @staticmethod
    def for_client(client: Any, settings: Settings) -> Store:
        """The store that fits the client: a cluster client needs per-slot batching."""
        # The most specific kind wins: the cluster store before the catch-all single node.
        for client_type in type(client).__mro__:
            kind = Store._kinds.get(client_type)
            if kind is not None:
                return kind(client, settings)
        raise TypeError(f"no store serves a {type(client).__name__}")

    def describe(self) -> str:
        """What the sidebar shows: where the data comes from (no secrets)."""
        return self.url

    @abstractmethod
    def ping(self) -> float:
        """Round-trip time of a PING, in seconds."""
        raise NotImplementedError

    @abstractmethod
    def fetch(self, keys: list[str]) -> tuple[list[Any], list[int]]:
        """Values and PTTLs of ``keys``, in order, in one round trip.

        A value is None for a missing key, and for a non-string key unless the
        store could name its type: then it is a ``WrongType``.
        """
        raise NotImplementedError

    @abstractmethod
    def inspect(self, keys: list[str]) -> list[tuple[str, Any, int]]:
        """``(type, value or None, pttl)`` for keys MGET could not read."""
        raise NotImplementedError

    @abstractmethod
    def scan_fetch(self, pattern: str, count: int, max_keys: int) -> Iterator[ScanStep]:
        """SCAN the pattern, each batch of keys read with their values and PTTLs.

        Yields ``(keys, values, pttls, last, complete, error)``; ``complete``
        (on the last step) means the whole keyspace was scanned within
        ``max_keys``. Raises ``StoreUnavailableError`` when the first round
        trip fails; a later failure is the last step's ``error``.
        """
        raise NotImplementedError

    def chunk_reader(self) -> ChunkReader:
        """What ``TelemetryReader.resolve`` reads its chunks through (``fetch`` each)."""
        return ChunkReader(self)


class ChunkReader:
    """Chunks of keys read in order through ``Store.fetch``; see ``Store.chunk_reader``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def fetch(
        self, keys: list[Any], following: list[Any] | None = None
    ) -> tuple[list[Any], list[int]]:
        """``store.fetch(keys)``; ``following`` is the chunk the next call will ask for."""
        return self.store.fetch(keys)

    def close(self) -> None:
        """Give back what the reader holds; call it once done, even after an error."""
