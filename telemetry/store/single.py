"""A single Redis node (or anything speaking its protocol: fakeredis, a proxy).

Reads are pipelined, and a batch of values and TTLs is one server-side script
where the server allows it (``FETCH_SCRIPT``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import redis

from ..errors import StoreUnavailableError
from .base import (
    ChunkReader,
    ScanStep,
    Store,
    Wire,
    WrongType,
    describe_failure,
    pack_commands,
    pack_reads,
    store_errors,
    wire_serves,
)

if TYPE_CHECKING:
    from ..config import Settings

# The client attribute holding its ``Reconnects`` (set by ``connect``).
RECONNECTS_ATTR = "run_lookup_reconnects"

# A batch's values and remaining TTLs in one command instead of MGET + a PTTL per
# key: redis-py's per-command cost (pack, queue, parse: ~6 µs) is most of a raw
# read. Read-only (EVAL_RO, Redis 7+), so replicas and read-only users may run it.
# Keys MGET cannot read (nil, yet a TTL) come back with their TYPE: no second
# round trip for them. Servers or users without scripting (the contract's
# least-privilege ACL user: NOPERM; Redis < 7, fakeredis, proxies: unknown
# command) get the pipeline of MGET + PTTLs, decided once per store.
FETCH_SCRIPT = """
local values = redis.call('MGET', unpack(KEYS))
local ttls, kinds = {}, {}
for i, key in ipairs(KEYS) do
  local ttl = redis.call('PTTL', key)
  ttls[i] = ttl
  if not values[i] and ttl ~= -2 then
    kinds[#kinds + 1] = i
    kinds[#kinds + 1] = redis.call('TYPE', key)['ok']
  end
end
return {values, ttls, kinds}
"""


def _script_reply(reply: list[Any]) -> tuple[list[Any], list[int]]:
    values, pttls, kinds = reply
    for i in range(0, len(kinds), 2):
        values[int(kinds[i]) - 1] = WrongType(_str(kinds[i + 1]))
    return values, pttls


class Reconnects:
    """Counts, per thread, the connections of one client that connected *again*.

    redis-py reconnects on its own (a dead pooled socket, the one retry): right
    for a lookup, wrong for a SCAN, whose cursor means nothing to a restarted or
    failed-over server. ``SingleStore.scan_fetch`` compares the count of its own
    thread (the one running its round trips) before and after each round trip.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def count(self) -> int:
        return getattr(self._local, "count", 0)

    def on_connect(self, connection: Any) -> None:
        connection.on_connect()  # what redis-py runs when no redis_connect_func is given
        if getattr(connection, "_run_lookup_connected", False):
            self._local.count = self.count() + 1
        connection._run_lookup_connected = True


class SingleStore(Store, serves=object):
    """Pipelined primitives over one injected client (redis-py or fakeredis)."""

    # Whether ``chunk_reader`` may send the next chunk ahead of ``fetch``. Read
    # ahead bypasses ``fetch``, so whatever wraps it (a subclass counting round
    # trips, a test injecting a fault) turns this off to see every chunk.
    read_ahead = True

    def __init__(self, client: Any, settings: Settings, *, read_ahead: bool | None = None) -> None:
        super().__init__(client, settings)
        if read_ahead is not None:
            self.read_ahead = read_ahead
        # Whether FETCH_SCRIPT may be tried; off for good once the server refuses it.
        self.scripting = _may_script(settings)

    def ping(self) -> float:
        """Round-trip time of a PING, in seconds."""
        with store_errors(self.url):
            start = time.perf_counter()
            self.client.ping()
            return time.perf_counter() - start

    def fetch(self, keys: list[str]) -> tuple[list[Any], list[int]]:
        """Values and PTTLs, in one round trip.

        A value is None for a missing key, and for a non-string key unless the
        script ran: then it is a ``WrongType`` naming the key's type.
        """
        if self.scripting and keys:
            try:
                with store_errors(self.url):
                    return _script_reply(self._run_script(self.client, keys))
            except _NoScripting:
                pass
        with store_errors(self.url):
            pipe = self.client.pipeline(transaction=False)
            pipe.mget(keys)
            for key in keys:
                pipe.pttl(key)
            out = pipe.execute()
        return out[0], out[1:]

    def _run_script(self, client: Any, keys: list[Any]) -> Any:
        try:
            return client.execute_command("EVAL_RO", FETCH_SCRIPT, len(keys), *keys)
        except redis.ResponseError as exc:
            # NOPERM, unknown command, scripting disabled: none of these is about
            # the data (MGET, PTTL and TYPE cannot fail on a key), so fall back.
            self.scripting = False
            raise _NoScripting(str(exc)) from None

    def chunk_reader(self) -> ChunkReader:
        """What ``TelemetryReader.resolve`` reads its chunks through (``fetch`` each).

        With ``read_ahead`` and a plain redis-py client, the next chunk's
        request is sent before the current chunk is handed over: the server
        reads chunk n + 1 while the caller decodes chunk n (FETCH_SCRIPT where
        the user may script, else MGET + PTTLs through ``Wire``). Otherwise
        (read ahead off, fakeredis), chunk after chunk through ``fetch``.
        """
        if self.read_ahead and wire_serves(self.client):
            return _ReadAhead(self)
        return ChunkReader(self)

    def inspect(self, keys: list[str]) -> list[tuple[str, Any, int]]:
        """``(type, value or None, pttl)`` for keys MGET could not read (rare: two round trips)."""
        with store_errors(self.url):
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.type(key)
                pipe.pttl(key)
            out = pipe.execute()
            kinds = [_str(kind) for kind in out[0::2]]
            pttls = out[1::2]
            strings = [key for key, kind in zip(keys, kinds, strict=True) if kind == "string"]
            values = dict(zip(strings, self.client.mget(strings), strict=True)) if strings else {}
        return [
            (kind, values.get(key), pttl)
            for key, kind, pttl in zip(keys, kinds, pttls, strict=True)
        ]

    def scan_fetch(self, pattern: str, count: int, max_keys: int) -> Iterator[ScanStep]:
        """SCAN the pattern, each reply's keys read with MGET + PTTL.

        The MGET of one reply's keys travels in the same request as the next
        SCAN, so a batch costs one round trip; on a redis-py client (``Wire``)
        that request is sent before the previous batch is handed over, so the
        server reads while the caller decodes. Yields
        ``(keys, values, pttls, last, complete, error)``; ``complete`` (on the
        last step) means the cursor came back to 0 before ``max_keys``. Raises
        ``StoreUnavailableError`` when the first round trip fails; a later
        failure is the last step's ``error``.
        """
        if wire_serves(self.client):
            return self._scan_wire(pattern, count, max_keys)
        return self._scan_pipelined(pattern, count, max_keys)

    def _scan_wire(self, pattern: str, count: int, max_keys: int) -> Iterator[ScanStep]:
        """``scan_fetch`` through ``Wire``: each request is the next SCAN plus the reads of
        the last reply's keys (FETCH_SCRIPT where allowed, else MGET + PTTLs), sent before
        the previous batch is handed over."""
        link = Wire(self.client.connection_pool)
        reconnects: Reconnects | None = getattr(self.client, RECONNECTS_ATTR, None)
        cursor = 0
        scanning = True
        complete = False
        queued = 0
        scripted = False  # how the keys of the request in flight are read

        def send(keys: list[Any]) -> None:
            nonlocal scripted
            commands: list[tuple[Any, ...]] = []
            if scanning:
                commands.append(("SCAN", cursor, "MATCH", pattern, "COUNT", count))
            scripted = bool(keys) and self.scripting
            if scripted:
                commands.append(("EVAL_RO", FETCH_SCRIPT, len(keys), *keys))
            packed = pack_commands(commands)
            if keys and not scripted:
                packed += pack_reads(keys)
            link.send(packed, len(commands) + (1 + len(keys) if keys and not scripted else 0))

        def batch(keys: list[Any], replies: list[Any]) -> tuple[list[Any], list[int]]:
            if scripted:
                reply = replies[0]
                if isinstance(reply, redis.ResponseError):
                    self.scripting = False  # refused: this batch and the rest without
                    return self.fetch(keys)  # one extra round trip, once
                return _script_reply(reply)
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
            return replies[0], replies[1:]

        try:
            for attempt in (1, 2):  # a connection that died in the pool: one fresh try
                try:
                    send([])
                    replies = link.read(1)
                    break
                except (redis.RedisError, OSError) as exc:
                    if attempt == 2 or not isinstance(exc, redis.ConnectionError):
                        raise describe_failure(exc, self.url) from None
            # This thread's reconnects once connected: one more later means the server
            # restarted under the scan (the connection held here never reconnects itself).
            reconnected = reconnects.count() if reconnects is not None else 0
            keys: list[Any] = []
            while True:
                failure: BaseException | None = None
                new_keys: list[Any] = []
                try:
                    if reconnects is not None and reconnects.count() != reconnected:
                        yield [], [], [], True, False, self._scan_lost(None)
                        return
                    if scanning:
                        reply, replies = replies[0], replies[1:]
                        if isinstance(reply, Exception):
                            raise reply
                        cursor, new_keys, scanning, complete = _scan_step(reply, max_keys, queued)
                        queued += len(new_keys)
                    values, pttls = batch(keys, replies) if keys else ([], [])
                except (redis.RedisError, OSError, StoreUnavailableError) as exc:
                    failure = exc
                    keys = []  # not read: the error says the scan stopped before them
                if failure is None and (scanning or new_keys):
                    try:
                        send(new_keys)  # ahead: the server reads while the caller decodes
                    except (redis.RedisError, OSError) as exc:
                        failure = exc
                last = failure is None and not scanning and not new_keys
                if keys:
                    yield keys, values, pttls, last, complete, ""
                elif last:
                    yield [], [], [], True, complete, ""
                if last:
                    return
                if failure is None:
                    try:
                        replies = link.read(link.due, raise_on_error=False)
                    except (redis.RedisError, OSError) as exc:
                        failure = exc
                if failure is not None:
                    yield [], [], [], True, False, self._scan_lost(failure)
                    return
                keys = new_keys
        finally:
            link.close()

    def _scan_lost(self, exc: BaseException | None) -> str:
        """Why a scan stopped after its first round trip: the failure, or, when the server
        answers again at once (it restarted or failed over), that the cursor is lost."""
        if isinstance(exc, StoreUnavailableError):
            return str(exc)
        if exc is not None:
            if not isinstance(exc, redis.ConnectionError):
                return str(describe_failure(exc, self.url))
            try:
                self.ping()  # the client reconnects (its one retry), as a lookup would
            except StoreUnavailableError as down:
                return str(down)
        lost = StoreUnavailableError(
            "Redis reconnected during the scan (restarted or failed over?); a SCAN "
            "cursor does not survive that, so keys may have been missed or counted "
            "twice.",
            url=self.url,
            hint="refresh to scan again",
        )
        return str(lost)

    def _scan_pipelined(self, pattern: str, count: int, max_keys: int) -> Iterator[ScanStep]:
        """``scan_fetch`` through redis-py pipelines (fakeredis, single-connection clients)."""
        cursor: int = 0
        pending: list[Any] = []
        scanning = True
        complete = False
        queued = 0
        reconnects: Reconnects | None = getattr(self.client, RECONNECTS_ATTR, None)
        reconnected: int | None = None  # this thread's count after the first round trip
        while True:
            if not scanning and not pending:
                yield [], [], [], True, complete, ""
                return
            scripted = self.scripting and bool(pending)
            pipe = self.client.pipeline(transaction=False)
            if scanning:
                pipe.scan(cursor, match=pattern, count=count)
            if scripted:
                pipe.execute_command("EVAL_RO", FETCH_SCRIPT, len(pending), *pending)
            elif pending:
                pipe.mget(pending)
                for key in pending:
                    pipe.pttl(key)
            try:
                with store_errors(self.url):
                    out = pipe.execute(raise_on_error=not scripted)
                    if scripted and isinstance(out[-1], redis.ResponseError):
                        self.scripting = False  # refused: this batch and the rest without
                        out[-1] = self.fetch(pending)  # one extra round trip, once
                    for reply in out:
                        if isinstance(reply, Exception):
                            raise reply
                    if scripted and not isinstance(out[-1], tuple):
                        out[-1] = _script_reply(out[-1])
            except StoreUnavailableError as exc:
                if not queued and scanning:
                    raise  # nothing read yet: the caller reports Redis as down
                yield [], [], [], True, False, str(exc)
                return
            if reconnects is not None:
                if reconnected is None:
                    reconnected = reconnects.count()
                elif reconnects.count() != reconnected:
                    lost = StoreUnavailableError(
                        "Redis reconnected during the scan (restarted or failed over?); a SCAN "
                        "cursor does not survive that, so keys may have been missed or counted "
                        "twice.",
                        url=self.url,
                        hint="refresh to scan again",
                    )
                    yield [], [], [], True, False, str(lost)
                    return
            new_keys: list[Any] = []
            if scanning:
                cursor, new_keys, scanning, complete = _scan_step(out[0], max_keys, queued)
                out = out[1:]
                queued += len(new_keys)
            if pending:
                last = not scanning and not new_keys
                values, pttls = out[0] if scripted else (out[0], out[1:])
                yield pending, values, pttls, last, complete, ""
                if last:
                    return
            pending = new_keys


class _ReadAhead(ChunkReader):
    """The next chunk's reads sent ahead through ``Wire`` (FETCH_SCRIPT where the store
    scripts, else MGET + PTTLs), read back by the next ``fetch``.

    The first chunk goes through ``SingleStore.fetch``. A request that could not be
    sent is simply not ahead (the next ``fetch`` sends it the usual way); a reply lost
    to a connection error is read again through ``fetch`` (and its retry); a refused
    script turns scripting off, as ``SingleStore.fetch`` would, and the chunk is read
    again without it; a timeout or another error reply (NOPERM) is the error ``fetch``
    would raise.
    """

    def __init__(self, store: SingleStore) -> None:
        super().__init__(store)
        self.store: SingleStore = store
        self.link = Wire(store.client.connection_pool)
        self._sent: list[Any] | None = None  # the chunk whose replies are due on the link
        self._scripted = False  # whether that chunk was asked for with FETCH_SCRIPT

    def fetch(
        self, keys: list[Any], following: list[Any] | None = None
    ) -> tuple[list[Any], list[int]]:
        out: tuple[list[Any], list[int]] | None = None
        if self._sent is not None and self._sent is keys:
            self._sent = None
            out = self._read(keys)
        if out is None:
            out = self.store.fetch(keys)
        if following:
            self._send(following)
        return out

    def _send(self, keys: list[Any]) -> None:
        scripted = self.store.scripting
        if scripted:
            packed = pack_commands([("EVAL_RO", FETCH_SCRIPT, len(keys), *keys)])
        else:
            packed = pack_reads(keys)
        try:
            self.link.send(packed, 1 if scripted else 1 + len(keys))
        except (redis.RedisError, OSError):
            return  # not ahead, then: the next fetch sends it the usual way
        self._sent, self._scripted = keys, scripted

    def _read(self, keys: list[Any]) -> tuple[list[Any], list[int]] | None:
        try:
            with store_errors(self.store.url):
                try:
                    if self._scripted:
                        return _script_reply(self.link.read(1)[0])
                    replies = self.link.read(1 + len(keys))
                except redis.ConnectionError:
                    return None  # SingleStore.fetch retries once, as the client does
                except redis.ResponseError:
                    if not self._scripted:
                        raise
                    self.store.scripting = False  # refused: read without it from now on
                    return None
        except BaseException:
            self.link.close()  # e.g. a timeout: dropped already; an error reply: clean
            raise
        return replies[0], replies[1:]

    def close(self) -> None:
        self._sent = None
        self.link.close()


def _may_script(settings: Settings) -> bool:
    """Try FETCH_SCRIPT unless REDIS_URL signs in as a named ACL user.

    The contract's least-privilege user has no scripting, and a refused
    command would land in the server's ACL LOG and error stats: such a user
    never sends one. The default user (or none: demo, tests) tries it once.
    """
    if settings.redis_url is None:
        return True
    user = urlsplit(settings.redis_url.get_secret_value()).username
    return not user or unquote(user) == "default"


class _NoScripting(Exception):
    """The server refused FETCH_SCRIPT; the caller falls back to the pipeline."""


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _scan_step(reply: Any, max_keys: int, queued: int) -> tuple[int, list[Any], bool, bool]:
    """One SCAN reply within the cap: ``(cursor, keys to read, still scanning, complete)``.

    ``queued`` keys were taken before; a reply that would pass ``max_keys`` is cut there
    and ends the scan (capped, not complete); cursor 0 ends it complete.
    """
    raw_cursor, new_keys = reply
    cursor = int(raw_cursor)
    room = max_keys - queued
    if len(new_keys) > room or (len(new_keys) == room and cursor != 0):
        return cursor, new_keys[:room], False, False
    if cursor == 0:
        return cursor, new_keys, False, True
    return cursor, new_keys, True, False
