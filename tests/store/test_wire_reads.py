"""The store's batch-read primitive (``Wire``): the same answers as redis-py's pipelines,
errors mapped as before, and its connection always given back clean."""

from __future__ import annotations

import math
from typing import Any

import pytest
import redis

from redis_server import RedisServer
from telemetry.ids import parse_ids
from telemetry.reader import TelemetryReader
from telemetry.store import LEAST_PRIVILEGE_RULES, SingleStore
from telemetry.store.base import Wire, pack_commands, pack_reads, wire_serves
from telemetry.writer import generate_records, write_records

NAME = "wire_test"  # CLIENT SETNAME of the connections a test counts


def _store(server: RedisServer, settings_factory: Any, *, scripting: bool = True) -> SingleStore:
    client = server.client(client_name=NAME)
    store = SingleStore(client, settings_factory(redis_url=server.url))
    store.scripting = scripting
    return store


def _connections(admin: redis.Redis, **match: str) -> int:
    """Open connections named NAME (or matching ``match``, e.g. ``user=...``)."""
    match = match or {"name": NAME}
    return sum(all(c.get(k) == v for k, v in match.items()) for c in admin.client_list())


def _steps(steps: Any) -> tuple[list[Any], list[Any], list[int], list[tuple[bool, bool, str]]]:
    keys: list[Any] = []
    values: list[Any] = []
    pttls: list[int] = []
    flags = []
    for step_keys, step_values, step_pttls, last, complete, error in steps:
        keys += step_keys
        values += step_values
        pttls += step_pttls
        flags.append((last, complete, error))
    return keys, values, pttls, flags


def test_requests_queue_and_replies_come_back_in_order(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    """Two requests in flight on one connection; an error reply is kept in place (or raised
    once the request is read to its end), and the connection goes back to the pool clean."""
    redis_client.set("a", b"1")
    client = redis_server.client(client_name=NAME)
    link = Wire(client.connection_pool)
    link.send(pack_commands([("GET", "a"), ("NOSUCHCOMMAND",), ("ECHO", "x")]), 3)
    link.send(pack_reads(["a", b"missing"]), 3)
    first = link.read(3, raise_on_error=False)
    assert first[0] == b"1" and isinstance(first[1], redis.ResponseError) and first[2] == b"x"
    assert link.read(3) == [[b"1", None], -1, -2]
    link.send(pack_commands([("NOSUCHCOMMAND",), ("ECHO", "after")]), 2)
    with pytest.raises(redis.ResponseError):
        link.read(2)
    link.close()
    assert client.echo("clean") == b"clean"  # no stray reply on the pooled connection
    assert _connections(redis_client) == 1


def test_a_link_given_back_with_replies_due_is_disconnected(redis_client: redis.Redis) -> None:
    """Replies still due (a caller that stopped early): the connection is closed, never
    handed to the next caller, who would read someone else's reply."""
    link = Wire(redis_client.connection_pool)
    link.send(pack_commands([("ECHO", "stale")]), 1)
    link.close()
    assert redis_client.echo("fresh") == b"fresh"
    again = Wire(redis_client.connection_pool)
    again.send(pack_commands([("ECHO", "mine")]), 1)
    assert again.read(1) == [b"mine"]
    again.close()


def test_only_plain_redis_py_clients_take_the_wire(redis_server: RedisServer) -> None:
    """fakeredis and single-connection clients keep redis-py's pipelines."""
    import fakeredis

    assert wire_serves(redis.Redis())
    assert not wire_serves(fakeredis.FakeRedis())
    assert not wire_serves(redis_server.client(single_connection_client=True))
    assert not wire_serves(object())


@pytest.mark.parametrize("scripting", [True, False], ids=["scripted", "mget+pttl"])
@pytest.mark.parametrize("max_keys", [100_000, 2_500])
def test_scan_through_the_wire_reads_what_the_pipelines_read(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    settings_factory: Any,
    scripting: bool,
    max_keys: int,
) -> None:
    """Same keys, values and flags as the pipelined scan (hashes and lists included), capped
    or not; PTTLs agree to the clock's tick."""
    write_records(redis_client, list(generate_records(5_500, seed=3)))
    store = _store(redis_server, settings_factory, scripting=scripting)
    pattern = "telemetry:*"
    wired = _steps(store._scan_wire(pattern, 1_000, max_keys))
    piped = _steps(store._scan_pipelined(pattern, 1_000, max_keys))
    assert wired[0] == piped[0] and len(wired[0]) == min(5_500, max_keys)
    assert wired[1] == piped[1]
    assert all(abs(a - b) < 1_000 for a, b in zip(wired[2], piped[2], strict=True))
    assert wired[3][-1] == piped[3][-1] == (True, max_keys > 5_500, "")
    assert _connections(redis_client) <= 3


def test_a_scan_stopped_early_gives_its_connection_back(
    redis_server: RedisServer, redis_client: redis.Redis, settings_factory: Any
) -> None:
    """A caller that stops after one batch (its request for the next is in flight): the
    connection is closed, the pool does not grow, the next read answers right."""
    write_records(redis_client, list(generate_records(3_000, seed=4, malformed=False)))
    store = _store(redis_server, settings_factory, scripting=False)
    for _ in range(20):
        steps = store.scan_fetch("telemetry:*", 1_000, 100_000)
        keys = next(steps)[0]
        steps.close()
        assert 0 < len(keys) < 3_000  # one SCAN reply (COUNT is a hint)
    assert _connections(redis_client) <= 3
    values, pttls = store.fetch([keys[0].decode()])
    assert values[0] is not None and pttls[0] > 0


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (redis.ConnectionError("reset"), "Redis reconnected during the scan"),
        (redis.TimeoutError("Timeout reading from socket"), "Redis did not answer in time"),
    ],
)
def test_a_connection_failing_mid_scan_ends_it_with_the_reason(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    settings_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
    fault: Exception,
    reason: str,
) -> None:
    """The third reply fails: the batches read so far are kept, the last step says why (a
    server that answers again at once means the cursor may be lost), nothing raises."""
    write_records(redis_client, list(generate_records(5_000, seed=9, malformed=False)))
    store = _store(redis_server, settings_factory, scripting=False)
    original = Wire.read
    calls = [0]

    def read(self: Wire, replies: int, **kwargs: Any) -> list[Any]:
        calls[0] += 1
        if calls[0] == 3:
            self.drop()
            raise fault
        return original(self, replies, **kwargs)

    monkeypatch.setattr(Wire, "read", read)
    keys, _, _, flags = _steps(store.scan_fetch("telemetry:*", 1_000, 100_000))
    assert 0 < len(keys) < 5_000  # the first SCAN reply's batch
    last, complete, error = flags[-1]
    assert last and not complete and error.startswith(reason)
    monkeypatch.setattr(Wire, "read", original)
    assert len(_steps(store.scan_fetch("telemetry:*", 1_000, 100_000))[0]) == 5_000


def test_a_scan_that_cannot_start_raises(settings_factory: Any) -> None:
    """Nothing read yet: Redis is down, as before (``StoreUnavailableError``)."""
    from redis_server import free_port
    from telemetry.errors import StoreUnavailableError

    url = f"redis://127.0.0.1:{free_port()}/0"
    store = SingleStore(redis.Redis.from_url(url), settings_factory(redis_url=url))
    with pytest.raises(StoreUnavailableError, match="Cannot reach Redis"):
        next(store.scan_fetch("telemetry:*", 1_000, 100_000))


def _least_privilege(server: RedisServer, settings_factory: Any) -> TelemetryReader:
    url = server.add_acl_user(
        "wire_reader", "wire-pass", LEAST_PRIVILEGE_RULES.format(namespace="telemetry")
    )
    settings = settings_factory(redis_url=url)
    return TelemetryReader(SingleStore(redis.Redis.from_url(url), settings), settings)


def test_least_privilege_resolve_reads_its_chunks_ahead_through_the_wire(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    settings_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No scripting for the ACL user: MGET + PTTLs per chunk, the next chunk sent ahead,
    the admin's rows; a reply lost to a dropped connection is read again through fetch."""
    from telemetry.store.single import _ReadAhead

    records = list(generate_records(3_500, seed=8))
    write_records(redis_client, records)
    limited = _least_privilege(redis_server, settings_factory)
    admin = TelemetryReader(
        SingleStore(redis_server.client(), settings_factory(redis_url=redis_server.url)),
        settings_factory(redis_url=redis_server.url),
    )
    assert isinstance(limited.store.chunk_reader(), _ReadAhead)
    queries = parse_ids("\n".join(r.entity_id for r in records), limited.registry).queries
    expected = [(r.status, r.key, r.run_id, r.detail) for r in admin.resolve(queries).results]

    redis_server.reset_stats()
    resolution = limited.resolve(queries)
    stats = redis_server.commandstats()
    assert [(r.status, r.key, r.run_id, r.detail) for r in resolution.results] == expected
    assert resolution.complete and "eval_ro" not in stats
    keys = stats["pttl"] - stats["type"]  # a hash or list key is inspected: one more PTTL
    assert stats["mget"] == math.ceil(keys / 1_000)

    original = Wire.read
    calls = [0]

    def flaky(self: Wire, replies: int, **kwargs: Any) -> list[Any]:
        calls[0] += 1
        if calls[0] == 1:
            self.drop()
            raise redis.ConnectionError("dropped")
        return original(self, replies, **kwargs)

    monkeypatch.setattr(Wire, "read", flaky)
    again = limited.resolve(queries)
    assert calls[0] >= 2
    assert [(r.status, r.key, r.run_id, r.detail) for r in again.results] == expected
    assert _connections(redis_client, user="wire_reader") <= 2
