"""What every store is: the read primitives the reader needs, the errors users see, and
the batch-read primitive (``Wire``) the single-node and cluster stores send through.

Everything that can raise a redis-py exception runs behind ``store_errors`` (or
the cluster's own wrapper), so callers only ever see ``StoreUnavailableError``
with a redacted URL and a hint.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

import redis
from redis.exceptions import ResponseError

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


# -- the batch-read primitive ---------------------------------------------------------
#
# redis-py's pipeline builds a Python command object per command and packs each in
# Python (~5 µs), then parses its reply through the pipeline's bookkeeping: for MGET
# + a PTTL per key that is most of a raw read. ``Wire`` uses redis-py's public
# connection API instead: ``pool.get_connection()``, ``Connection.send_packed_command``
# with bytes packed by ``hiredis`` (a PTTL's head pre-packed: only the key is
# formatted), and ``Connection.read_response`` (hiredis parses). No protocol code of
# ours. Requests can be queued: the next one is sent before the previous replies are
# read, so the server works while the caller decodes. A ``Wire`` whose replies are
# still due when it is given back (an error, a caller that stopped early) is
# disconnected first: a connection never goes back to the pool with a reply in flight.

try:  # redis-py's own packing adds ~5 µs of Python per command; hiredis alone does not
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # pragma: no cover - hiredis is a pinned dependency
    _hiredis_pack = None

_PTTL_HEAD = b"*2\r\n$4\r\nPTTL\r\n"


def _bytes(key: str | bytes) -> bytes:
    return key if type(key) is bytes else str(key).encode()


def pack_commands(commands: Iterable[Sequence[Any]]) -> bytes:
    """RESP of the commands, one buffer (``hiredis.pack_command``; redis-py's without it)."""
    if _hiredis_pack is not None:
        return b"".join(map(_hiredis_pack, commands))
    packer = redis.Connection()  # pragma: no cover - never connected: it only packs
    return b"".join(packer.pack_commands(list(commands)))  # pragma: no cover


def pack_reads(keys: Sequence[str | bytes]) -> bytes:
    """``MGET keys…`` then ``PTTL key`` for each key: replies ``[values], pttl, pttl, …``."""
    raw = [_bytes(key) for key in keys]
    head = _PTTL_HEAD
    mget = pack_commands([("MGET", *raw)])
    return mget + b"".join([b"%s$%d\r\n%s\r\n" % (head, len(key), key) for key in raw])


def wire_serves(client: Any) -> bool:
    """Whether ``Wire`` may carry this client's reads: a plain redis-py client with a pool
    of redis-py connections (not fakeredis, not a single-connection client)."""
    if not isinstance(client, redis.Redis) or getattr(client, "connection", None) is not None:
        return False
    pool = getattr(client, "connection_pool", None)
    kind = getattr(pool, "connection_class", None)
    return isinstance(kind, type) and kind.__module__.startswith("redis.")


class Wire:
    """One connection of ``pool``, held until ``close``: ``send`` packed requests, ``read``
    their replies in order. Errors are redis-py's (``ConnectionError``, ``TimeoutError``,
    ``ResponseError``); after a connection error or timeout the connection is dropped and
    the next ``send`` takes a fresh one."""

    __slots__ = ("conn", "due", "pool")

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.conn: Any = None
        self.due = 0  # replies sent for and not read yet

    def send(self, packed: bytes, replies: int) -> None:
        try:
            if self.conn is None:
                self.conn = self.pool.get_connection()
            self.conn.send_packed_command([packed])
        except BaseException:
            self.drop()
            raise
        self.due += replies

    def read(self, replies: int, *, raise_on_error: bool = True) -> list[Any]:
        """The next ``replies`` replies. An error reply is read to the end of the request
        (the connection stays clean) and then raised, or kept in place as its
        ``ResponseError`` with ``raise_on_error=False``."""
        if self.conn is None or replies > self.due:
            raise redis.ConnectionError("no request in flight on this connection")
        out: list[Any] = []
        first: ResponseError | None = None
        read = self.conn.read_response
        try:
            for _ in range(replies):
                try:
                    out.append(read())
                except ResponseError as exc:
                    out.append(exc)
                    first = first or exc
        except BaseException:
            self.drop()  # a reply may still come: never reuse this connection
            raise
        self.due -= replies
        if first is not None and raise_on_error:
            raise first
        return out

    def drop(self) -> None:
        """Disconnect and give the connection back (nothing due on it any more)."""
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.disconnect()
            self._release()
        self.due = 0

    def close(self) -> None:
        """Give the connection back: as it is when no reply is due, disconnected otherwise."""
        if self.due:
            self.drop()
        else:
            self._release()

    def _release(self) -> None:
        if self.conn is not None:
            conn, self.conn = self.conn, None
            self.pool.release(conn)
