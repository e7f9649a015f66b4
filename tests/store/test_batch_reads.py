"""The EVAL_RO fast path of SingleStore and the hot-loop shortcuts give the same answers."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import redis

from redis_server import RedisServer
from telemetry.ids import parse_ids
from telemetry.models import Result, Status, parse_timestamp
from telemetry.reader import Row, TelemetryReader, _result  # private on purpose: documented below
from telemetry.store import SingleStore
from telemetry.summary import summarize
from telemetry.writer import generate_records, write_records


def _readers(server: RedisServer, settings_factory: Any) -> tuple[TelemetryReader, TelemetryReader]:
    settings = settings_factory(redis_url=server.url)
    scripted = TelemetryReader(SingleStore(server.client(), settings), settings, clock=lambda: 1e9)
    piped_store = SingleStore(server.client(), settings)
    piped_store.scripting = False
    piped = TelemetryReader(piped_store, settings, clock=lambda: 1e9)
    return scripted, piped


def test_scripted_and_pipelined_reads_agree(
    redis_server: RedisServer, redis_client: redis.Redis, settings_factory: Any
) -> None:
    records = list(generate_records(4_000, seed=5))  # malformed ones included: hashes, lists
    write_records(redis_client, records)
    scripted, piped = _readers(redis_server, settings_factory)
    text = "\n".join(r.entity_id for r in records[:2_500])
    queries = parse_ids(text, scripted.registry).queries

    redis_server.reset_stats()
    fast = scripted.resolve(queries)
    stats = redis_server.commandstats()
    slow = piped.resolve(queries)

    # One per 1,000 keys (unknown prefixes count once per type); MGET and PTTLs run inside.
    assert stats["eval_ro"] == math.ceil(stats["pttl"] / 1_000)
    assert stats["mget"] == stats["eval_ro"]
    assert "type" in stats  # wrong-type keys were named inside the script too
    shown = ("query", "status", "key", "run_id", "organization_id", "detail", "metadata")
    assert [r.model_dump(include=set(shown)) for r in fast.results] == [
        r.model_dump(include=set(shown)) for r in slow.results
    ]
    assert fast.counts == slow.counts and fast.counts["invalid_record"] > 0
    a, b = summarize(scripted), summarize(piped)
    assert (a.records, a.invalid_records, a.invalid_reasons) == (
        b.records,
        b.invalid_records,
        b.invalid_reasons,
    )
    assert {k: v[0] for k, v in a.groups.items()} == {k: v[0] for k, v in b.groups.items()}


def test_a_server_without_eval_ro_falls_back_once(
    redis_server: RedisServer, redis_client: redis.Redis, settings_factory: Any
) -> None:
    write_records(redis_client, list(generate_records(1_500, seed=6, malformed=False)))
    redis_client.execute_command("ACL", "SETUSER", "default", "-eval_ro")
    try:
        scripted, _ = _readers(redis_server, settings_factory)
        redis_server.reset_stats()
        summary = summarize(scripted)
        rows = scripted.lookup(next(iter(redis_client.scan_iter(count=10))).decode())
    finally:
        redis_client.execute_command("ACL", "SETUSER", "default", "+@all")
    assert summary.complete and summary.records == 1_500
    assert rows and rows[0].status is Status.FOUND
    assert scripted.store.scripting is False


def test_result_shortcut_is_model_construct() -> None:
    """The reader's private ``_result`` shortcut builds exactly what ``model_construct`` does."""
    fields = Row("q", Status.FOUND, entity_type="payment", run_id="run_1", key="k")._asdict()
    fields["metadata"] = {}
    fast, slow = _result(dict(fields)), Result.model_construct(**fields)
    assert fast == slow and fast.model_dump() == slow.model_dump()
    assert fast.model_copy(update={"query": "x"}).query == "x"


def test_canonical_timestamps_take_the_shortcut_to_the_general_result() -> None:
    """``…Z`` stamps (parse_timestamp's shortcut) parse as the general rule parses them."""
    for stamp in (
        "2026-11-20T10:15:07.123Z",
        "2024-02-29T23:59:59.999Z",
        "1970-01-01T00:00:00.000Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999Z",
        "2026-11-20T10:15:07Z",
    ):
        parsed = parse_timestamp(stamp)
        assert parsed == datetime.fromisoformat(stamp).astimezone(UTC)
        assert parsed is not None and parsed.tzinfo is UTC
    for other in ("2026-11-20T10:61:07.123Z", "2026-13-20T10:15:07.123Z", "2026-11-20T10:15Zx"):
        assert parse_timestamp(other) is None


def _stable(result: Result) -> dict[str, Any]:
    # The TTL ticks between two reads: times that come from it may differ by a millisecond.
    return result.model_dump(exclude={"processed_at", "expires_at"})


def test_chunks_are_read_ahead_and_a_lost_reply_falls_back(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    settings_factory: Any,
    monkeypatch: Any,
) -> None:
    """With the script, chunk n + 1 is requested before chunk n is decoded (one EVAL_RO per
    chunk, none twice, through ``Wire``); a reply lost to a dropped connection is read again
    through ``SingleStore.fetch``, a refused one turns scripting off: the rows are the same."""
    from telemetry.store.base import Wire
    from telemetry.store.single import _ReadAhead

    records = list(generate_records(3_500, seed=8, malformed=False))
    write_records(redis_client, records)
    scripted, piped = _readers(redis_server, settings_factory)
    assert isinstance(scripted.store.chunk_reader(), _ReadAhead)
    wrapped = SingleStore(redis_server.client(), settings_factory(redis_url=redis_server.url))
    wrapped.read_ahead = False  # what a caller wrapping fetch sets: every chunk through it
    assert not isinstance(wrapped.chunk_reader(), _ReadAhead)
    queries = parse_ids("\n".join(r.entity_id for r in records), scripted.registry).queries
    expected = [_stable(r) for r in piped.resolve(queries).results]

    redis_server.reset_stats()
    assert [_stable(r) for r in scripted.resolve(queries).results] == expected
    keys = redis_server.commandstats()["pttl"]
    assert redis_server.commandstats()["eval_ro"] == math.ceil(keys / 1_000)

    original = Wire.read
    # Replies of chunks read ahead (chunk 1 is a plain fetch): chunk 2's is lost, so it is
    # fetched again; chunk 3's is refused, so scripting ends and the pipeline reads it.
    failures = iter([redis.ConnectionError("dropped"), redis.ResponseError("no")])

    def flaky(self: Wire, replies: int, **options: Any) -> list[Any]:
        reply = original(self, replies, **options)
        failure = next(failures, None)
        if isinstance(failure, redis.ConnectionError):
            self.drop()  # as a dropped connection leaves it
        if failure is not None:
            raise failure
        return reply

    monkeypatch.setattr(Wire, "read", flaky)
    assert [_stable(r) for r in scripted.resolve(queries).results] == expected
    assert next(failures, "all used") == "all used"
    assert scripted.store.scripting is False  # the refusal
    assert [_stable(r) for r in scripted.resolve(queries).results] == expected
