"""The command counts behind the benchmark ratios (issue 5), on a real redis-server.

A ratio against a floor only means something if the library sends what the
floor sends: one MGET per 1,000 keys (not a GET per ID), one PTTL per key,
SCAN batches of ~1,000. These tests pin that down with ``INFO commandstats``.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import redis

from redis_server import RedisServer
from telemetry.ids import parse_ids
from telemetry.reader import TelemetryReader
from telemetry.registry import DEFAULT_ENTITY_TYPES
from telemetry.store import LEAST_PRIVILEGE_RULES
from telemetry.summary import summarize
from telemetry.writer import SyntheticRecord, generate_records, write_records

CHUNK = 1_000
# Round trips a batch may add: a partial last chunk, SCAN's final empty reply.
SLACK = 2


def _seed(client: redis.Redis, count: int, *, seed: int = 11) -> list[SyntheticRecord]:
    records = list(generate_records(count, seed=seed, malformed=False))
    write_records(client, records)
    return records


def _reader(server: RedisServer, settings_factory: Any, client: Any = None) -> TelemetryReader:
    settings = settings_factory(redis_url=server.url)
    return TelemetryReader(client if client is not None else server.client(), settings)


def _resolve(reader: TelemetryReader, ids: list[str]) -> Any:
    parsed = parse_ids("\n".join(ids), reader.registry, namespace=reader.namespace)
    assert parsed.unique == len(ids)
    return reader.resolve(parsed.queries)


def _known(records: list[SyntheticRecord]) -> list[str]:
    return [r.entity_id for r in records if DEFAULT_ENTITY_TYPES.get(r.entity_type)]


def _unknown(records: list[SyntheticRecord]) -> list[str]:
    return [r.entity_id for r in records if not DEFAULT_ENTITY_TYPES.get(r.entity_type)]


@pytest.mark.parametrize("count", [1, 999, 2_500])
def test_resolve_sends_one_mget_per_1000_keys_and_one_pttl_per_key(
    redis_server: RedisServer, redis_client: redis.Redis, settings_factory: Any, count: int
) -> None:
    records = _seed(redis_client, 3 * count + 50)
    found_ids = _known(records)[:count]
    missing = max(1, count // 10)
    ids = found_ids + [f"pym_missing{i:017d}" for i in range(missing)]
    reader = _reader(redis_server, settings_factory)
    redis_server.reset_stats()

    resolution = _resolve(reader, ids)

    stats = redis_server.commandstats()
    n = len(ids)
    assert resolution.complete
    assert resolution.counts["found"] == len(found_ids)
    assert resolution.counts["not_found"] == missing
    assert stats.get("mget", 0) == math.ceil(n / CHUNK) <= n / CHUNK + SLACK
    assert stats.get("pttl", 0) == n
    assert "get" not in stats, "a GET per ID is the naive loop the bulk resolve replaces"
    assert "type" not in stats, "TYPE is only for keys MGET cannot read"


def test_unknown_prefix_ids_are_tried_under_every_type_in_batched_mgets(
    redis_server: RedisServer, redis_client: redis.Redis, settings_factory: Any
) -> None:
    records = _seed(redis_client, 12_000)
    ids = _unknown(records)[:1_200]
    assert len(ids) == 1_200
    reader = _reader(redis_server, settings_factory)
    types = len(reader.registry.types)
    redis_server.reset_stats()

    resolution = _resolve(reader, ids)

    stats = redis_server.commandstats()
    keys = types * len(ids)
    assert resolution.complete
    assert resolution.counts["found"] == len(ids)
    assert stats.get("mget", 0) <= keys / CHUNK + SLACK
    assert stats.get("pttl", 0) == keys
    assert "get" not in stats


def test_keys_mget_cannot_read_cost_one_extra_round_trip_not_one_per_key(
    redis_server: RedisServer, redis_client: redis.Redis, settings_factory: Any
) -> None:
    records = _seed(redis_client, 2_000)
    ids = _known(records)[:1_500]
    odd = ids[:5]
    reader = _reader(redis_server, settings_factory)
    for entity_id in odd:  # the same keys, now hashes: MGET answers nil, PTTL does not
        key = f"telemetry:{reader.registry.match(entity_id)}:{entity_id}"
        redis_client.delete(key)
        redis_client.hset(key, "runId", "run_in_a_hash")
    redis_server.reset_stats()

    resolution = _resolve(reader, ids)

    stats = redis_server.commandstats()
    assert resolution.counts["invalid_record"] == len(odd)
    assert stats.get("type", 0) == len(odd)
    assert stats.get("mget", 0) <= len(ids) / CHUNK + SLACK
    # A second PTTL for each odd key when the pipeline's follow-up reads it.
    assert len(ids) <= stats.get("pttl", 0) <= len(ids) + len(odd)
    assert "get" not in stats


@pytest.mark.parametrize("count", [5_000, 12_345])
def test_summary_scans_in_batches_of_1000(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    settings_factory: Any,
    count: int,
) -> None:
    _seed(redis_client, count)
    reader = _reader(redis_server, settings_factory)
    redis_server.reset_stats()

    summary = summarize(reader)

    stats = redis_server.commandstats()
    assert summary.complete
    assert summary.scanned_keys == count
    assert summary.records == count
    assert stats.get("scan", 0) <= count / CHUNK + SLACK
    assert stats.get("mget", 0) <= count / CHUNK + SLACK
    assert stats.get("pttl", 0) == count
    assert "get" not in stats
    assert "type" not in stats


def test_least_privilege_user_gets_the_same_answers_with_the_same_commands(
    redis_server: RedisServer, redis_client: redis.Redis, settings_factory: Any
) -> None:
    """No scripting for the contract's ACL user: whatever fast path exists must fall back."""
    records = _seed(redis_client, 3_000)
    ids = _known(records)[:1_000] + _unknown(records)[:100]
    url = redis_server.add_acl_user(
        "bench_reader", "bench-pass", LEAST_PRIVILEGE_RULES.format(namespace="telemetry")
    )
    limited = redis.Redis.from_url(url)
    try:
        admin_reader = _reader(redis_server, settings_factory)
        limited_reader = _reader(redis_server, settings_factory, client=limited)
        expected = _resolve(admin_reader, ids)
        expected_summary = summarize(admin_reader)
        redis_server.reset_stats()

        resolution = _resolve(limited_reader, ids)
        summary = summarize(limited_reader)

        stats = redis_server.commandstats()
    finally:
        limited.close()
    assert resolution.complete and summary.complete
    assert [(r.status, r.key, r.run_id) for r in resolution.results] == [
        (r.status, r.key, r.run_id) for r in expected.results
    ]
    # Counts only: times inferred from a TTL move with the clock between the two scans.
    assert {group: count for group, (count, _) in summary.groups.items()} == {
        group: count for group, (count, _) in expected_summary.groups.items()
    }
    keys = len(ids) + (len(reader_types := limited_reader.registry.types) - 1) * 100
    assert len(reader_types) > 1
    assert stats.get("mget", 0) <= keys / CHUNK + summary.scanned_keys / CHUNK + 2 * SLACK
    assert stats.get("pttl", 0) == keys + summary.scanned_keys
    assert "get" not in stats
