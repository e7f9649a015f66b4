"""End to end on a real redis-server: shapes, TTL times, expiry, invalid keys, scale, ACL, CLI.

Real Redis counts time itself, so TTL-inferred times are compared with a
tolerance equal to the measured time between writing and reading (plus 2 s);
producer timestamps, run IDs, organizations and counts are compared exactly.
"""

from __future__ import annotations

import csv
import functools
import io
import os
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

import cli_process
from redis_server import RedisServer
from telemetry.config import Settings
from telemetry.errors import StoreUnavailableError
from telemetry.ids import parse_ids
from telemetry.models import Result, Status, parse_timestamp
from telemetry.reader import TelemetryReader
from telemetry.registry import DEFAULT_ENTITY_TYPES
from telemetry.store import LEAST_PRIVILEGE_RULES, connect
from telemetry.summary import parse_since, summarize
from telemetry.writer import SyntheticRecord, generate_records, write_records

TTL = 1_209_600
DAY = 86_400
READ_ONLY_RULES = "-@all +get +mget +scan +pttl +ttl +type +ping ~telemetry:*"


def reader_for(url: str, *, clock: Any = time.time, **overrides: Any) -> TelemetryReader:
    """A reader built the way the app and CLI build it (connect() from settings)."""
    settings = Settings.load(redis_url=url, **overrides)
    return TelemetryReader(connect(settings), settings, clock=clock)


def resolve_text(reader: TelemetryReader, text: str) -> list[Result]:
    parsed = parse_ids(text, reader.registry, namespace=reader.namespace, max_ids=200_000)
    resolution = reader.resolve(parsed.queries)
    assert resolution.complete, resolution.error
    return resolution.results


def is_minimal(record: SyntheticRecord) -> bool:
    return record.valid and b"timestamp" not in record.value


@functools.cache
def stamp_of(record: SyntheticRecord) -> float:
    """The processed time a reader must show for a rich record (its timestamp field)."""
    parsed = parse_timestamp(orjson.loads(record.value)["timestamp"])
    assert parsed is not None
    return parsed.timestamp()


# -- small, exact scenarios on the shared server --------------------------------


def test_both_shapes_and_inferred_times(
    redis_client: redis.Redis, redis_server: RedisServer
) -> None:
    """Minimal and rich records read back right; the minimal one's time is TTL-inferred (±2 s)."""
    now = time.time()
    redis_client.set("telemetry:payment:pym_min", b'{"runId": "run_min"}', ex=TTL - 3 * 3600)
    redis_client.set(
        "telemetry:invoice:inv_rich",
        orjson.dumps(
            {
                "runId": "run_rich",
                "entityType": "invoice",
                "entityId": "inv_rich",
                "organizationId": "org_9",
                "timestamp": "2026-11-20T10:15:00.000Z",
                "metadata": {"status": "paid", "amount": 4200, "currency": "usd"},
            }
        ),
        ex=TTL - 600,
    )
    minimal, rich = resolve_text(
        reader_for(redis_server.url, clock=lambda: now), "pym_min inv_rich"
    )
    assert (minimal.status, minimal.run_id, minimal.run_url, minimal.organization_id) == (
        Status.FOUND,
        "run_min",
        "https://cloud.trigger.dev/runs/run_min",
        None,
    )
    assert minimal.processed_at_inferred is True
    assert minimal.processed_at is not None and minimal.expires_at is not None
    assert abs(minimal.processed_at.timestamp() - (now - 3 * 3600)) <= 2
    assert abs(minimal.expires_at.timestamp() - (now + TTL - 3 * 3600)) <= 2
    assert minimal.detail == "time inferred from TTL"
    assert (rich.status, rich.run_id, rich.organization_id, rich.detail) == (
        Status.FOUND,
        "run_rich",
        "org_9",
        "",
    )
    assert rich.processed_at == datetime(2026, 11, 20, 10, 15, tzinfo=UTC)
    assert rich.processed_at_inferred is False
    assert rich.metadata == {"status": "paid", "amount": 4200, "currency": "usd"}


def test_key_with_one_second_ttl_expires(
    redis_client: redis.Redis, redis_server: RedisServer
) -> None:
    """A record with a 1 s TTL is found, then not_found (naming the key) once Redis expires it."""
    redis_client.set("telemetry:payment:pym_short", b'{"runId": "run_short"}', ex=1)
    reader = reader_for(redis_server.url)
    assert reader.lookup("pym_short")[0].status is Status.FOUND
    deadline = time.monotonic() + 10
    while redis_client.pttl("telemetry:payment:pym_short") != -2:
        assert time.monotonic() < deadline, "Redis did not expire a 1 s key within 10 s"
        time.sleep(0.1)
    [result] = reader.lookup("pym_short")
    assert result.status is Status.NOT_FOUND
    assert result.detail.startswith(
        "no key telemetry:payment:pym_short: never processed, or expired"
    )


INVALID_KEYS = {
    "pym_badjson": "invalid record at telemetry:payment:pym_badjson: value is not JSON",
    "pym_norun": "invalid record at telemetry:payment:pym_norun: no runId field",
    "pym_hash": "invalid record at telemetry:payment:pym_hash: "
    "key holds a Redis hash, not a string",
    "pym_list": "invalid record at telemetry:payment:pym_list: "
    "key holds a Redis list, not a string",
}


def _write_invalid(client: redis.Redis) -> None:
    client.set("telemetry:payment:pym_badjson", b"{not json", ex=3600)
    client.set("telemetry:payment:pym_norun", b'{"entityType": "payment"}', ex=3600)
    client.hset("telemetry:payment:pym_hash", "runId", "run_in_a_hash")
    client.expire("telemetry:payment:pym_hash", 3600)
    client.rpush("telemetry:payment:pym_list", "run_in_a_list")


def test_invalid_records_resolve_and_summary(
    redis_client: redis.Redis, redis_server: RedisServer
) -> None:
    """Bad JSON, no runId, hash and list keys are invalid records in resolve and in the summary."""
    _write_invalid(redis_client)
    redis_client.set("telemetry:payment:pym_ok", b'{"runId": "run_ok"}', ex=3600)
    reader = reader_for(redis_server.url)
    results = resolve_text(reader, "pym_badjson pym_norun pym_hash pym_list pym_ok")
    assert [(r.query, r.status, r.detail) for r in results[:4]] == [
        (query, Status.INVALID_RECORD, detail) for query, detail in INVALID_KEYS.items()
    ]
    assert [r.raw_value for r in results[:4]] == [
        "{not json",
        '{"entityType": "payment"}',
        None,
        None,
    ]
    assert results[4].status is Status.FOUND
    summary = summarize(reader, since=None)
    assert (summary.scanned_keys, summary.records, summary.invalid_records, summary.complete) == (
        5,
        1,
        4,
        True,
    )
    assert summary.invalid_reasons == Counter(
        {
            "value is not JSON": 1,
            "no runId field": 1,
            "key holds a Redis hash, not a string": 1,
            "key holds a Redis list, not a string": 1,
        }
    )


def test_dead_server_raises_store_unavailable_with_redacted_url(
    fresh_redis_server: RedisServer,
) -> None:
    """A killed server: lookup and summary raise StoreUnavailableError naming the redacted URL."""
    url = fresh_redis_server.add_acl_user("app", "pw-SECRET", "+@all ~*")
    reader = reader_for(url)
    assert reader.lookup("pym_1")[0].status is Status.NOT_FOUND
    fresh_redis_server.kill()
    for call in (lambda: reader.lookup("pym_1"), lambda: summarize(reader)):
        with pytest.raises(StoreUnavailableError) as info:
            call()
        assert f"redis://app:***@127.0.0.1:{fresh_redis_server.port}/0" in str(info.value)
        assert "pw-SECRET" not in str(info.value)


# -- least privilege -------------------------------------------------------------


def _acl_problems(admin: redis.Redis) -> tuple[dict[str, Any], list[Any]]:
    """NOPERM-ish evidence on the server: rejected calls per command, and ACL LOG entries.

    redis-py's handshake sends CLIENT SETINFO, which a ``-@all`` user may not run on
    Redis >= 7.2; redis-py ignores that reply, so it is not held against the reader.
    """
    rejected = {
        name: stats
        for name, stats in admin.info("commandstats").items()
        if isinstance(stats, dict)
        and stats.get("rejected_calls", 0)
        and name != "cmdstat_client|setinfo"
    }
    log = [entry for entry in admin.acl_log() if entry.get("object") != "client|setinfo"]
    return rejected, log


def test_read_only_acl_user_never_gets_noperm(
    redis_client: redis.Redis, redis_server: RedisServer
) -> None:
    """A GET/MGET/SCAN/PTTL/TTL/TYPE/PING-only user: zero NOPERM, same results as an admin."""
    assert LEAST_PRIVILEGE_RULES.format(namespace="telemetry") == READ_ONLY_RULES
    records = list(generate_records(3_000, seed=21, now=time.time()))
    write_records(redis_client, records)
    _write_invalid(redis_client)
    redis_client.set("outside:payment:pym_1", b'{"runId": "run_hidden"}')  # not telemetry:*
    acl_url = redis_server.add_acl_user("reader", "ro-pass", READ_ONLY_RULES)
    admin = redis.Redis.from_url(redis_server.url, decode_responses=True)
    admin.acl_log_reset()
    redis_server.reset_stats()

    now = time.time()
    text = "\n".join([*(r.entity_id for r in records[:500]), *INVALID_KEYS, "zz_unknown"])
    restricted = reader_for(acl_url, clock=lambda: now)
    privileged = reader_for(redis_server.url, clock=lambda: now)

    def outputs(reader: TelemetryReader) -> tuple[Any, ...]:
        rows = [
            r.model_dump(exclude={"processed_at", "expires_at"}) for r in resolve_text(reader, text)
        ]
        # "all": every invalid key counts (in a window only those whose TTL time is in it).
        summary = summarize(reader, since=parse_since("all"))
        lookup = [
            r.model_dump(exclude={"processed_at", "expires_at"}) for r in reader.lookup("pym_hash")
        ]
        return rows, summary.groups.keys(), summary.records, summary.invalid_records, lookup

    restricted_out = outputs(restricted)
    rejected, log = _acl_problems(admin)
    assert errorstats_noperm(admin) == 0
    assert rejected == {}
    assert log == []
    assert restricted_out == outputs(privileged)
    assert len(restricted_out[0]) == 505
    assert restricted_out[3] == 4 + sum(1 for r in records if not r.valid)

    # The ACL really bites: the same user cannot write (so the checks above can fail).
    with pytest.raises(redis.exceptions.NoPermissionError):
        redis.Redis.from_url(acl_url).set("telemetry:payment:pym_x", b"{}")


def errorstats_noperm(admin: redis.Redis) -> int:
    stats = admin.info("errorstats").get("errorstat_NOPERM", {})
    count = stats.get("count", 0) if isinstance(stats, dict) else 0
    setinfo = admin.info("commandstats").get("cmdstat_client|setinfo", {})
    return int(count) - int(setinfo.get("rejected_calls", 0) if isinstance(setinfo, dict) else 0)


# -- scale: 100,000 IDs and 200,000 keys on a server of this module's own ------


@pytest.fixture(scope="module")
def big_server() -> Iterator[RedisServer]:
    """A redis-server for the large datasets, so other tests' FLUSHALLs cannot touch them."""
    try:
        server = RedisServer()
    except RuntimeError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"real Redis needed but unavailable in CI: {exc}", pytrace=False)
        pytest.skip(f"real Redis unavailable: {exc}")
    try:
        yield server
    finally:
        server.close()


class Seeded:
    def __init__(self, records: list[SyntheticRecord], now: float, written_at: float) -> None:
        self.records = records
        self.now = now  # the generator's clock: processed_at = now - (TTL - remaining)
        self.written_at = written_at  # wall time when the first key was written


@pytest.fixture(scope="module")
def seeded_200k(big_server: RedisServer) -> Seeded:
    """200,000 generated keys (every type, both shapes, ~0.5% invalid) written with their TTLs."""
    now = float(int(time.time()))  # whole seconds: producer timestamps are then exact
    records = list(generate_records(200_000, seed=2026, now=now))
    client = big_server.client()
    written_at = time.time()
    assert write_records(client, records) == 200_000
    assert client.dbsize() == 200_000
    client.close()
    return Seeded(records, now, written_at)


@pytest.mark.slow
def test_bulk_resolve_100k_ids_one_mget_per_thousand(
    big_server: RedisServer, seeded_200k: Seeded
) -> None:
    """100,000 pasted IDs resolve row-for-row right with ~1 MGET per 1,000 IDs and no GET at all."""
    chosen = [r for r in seeded_200k.records if r.entity_type != "notification"][:100_000]
    assert len(chosen) == 100_000
    reader = reader_for(big_server.url, clock=lambda: seeded_200k.now)
    parsed = parse_ids("\n".join(r.entity_id for r in chosen), reader.registry, max_ids=100_000)
    assert parsed.unique == 100_000
    big_server.reset_stats()
    resolution = reader.resolve(parsed.queries)
    stats = big_server.commandstats()
    band = time.time() - seeded_200k.written_at + 2  # TTL drift since the keys were written

    assert resolution.complete
    odd = sum(1 for r in chosen if r.kind != "string")
    assert 100 <= stats.get("mget", 0) <= 102
    assert stats.get("get", 0) == 0
    assert 100_000 <= stats.get("pttl", 0) <= 100_000 + odd  # the script reads TYPE, not PTTL again
    assert stats.get("type", 0) == odd

    assert len(resolution.results) == 100_000
    for record, result in zip(chosen, resolution.results, strict=True):
        assert (result.query, result.entity_type, result.entity_id) == (
            record.entity_id,
            record.entity_type,
            record.entity_id,
        )
        if not record.valid:
            assert result.status is Status.INVALID_RECORD, result
            continue
        assert result.status is Status.FOUND, result
        assert result.run_id == record.run_id
        assert result.run_url == f"https://cloud.trigger.dev/runs/{record.run_id}"
        assert result.organization_id == record.organization_id
        assert result.processed_at is not None and result.expires_at is not None
        expires = seeded_200k.now + record.ttl_seconds
        assert expires - band <= result.expires_at.timestamp() <= expires + 0.002
        if is_minimal(record):
            assert result.processed_at_inferred is True
            shown = result.processed_at.timestamp()
            assert record.processed_at - band <= shown <= record.processed_at + 0.002
        else:
            assert result.processed_at_inferred is False
            assert result.processed_at.timestamp() == stamp_of(record)


def expected_groups(
    records: list[SyntheticRecord], start: float | None, *, band: float = 0.0, minimal_in: bool
) -> Counter[tuple[str, str]]:
    """Records per (type, org) in the window, by the summary's rules, from the generator's list.

    A minimal record whose time is TTL-inferred within ``band`` of the window start is
    counted in or out according to ``minimal_in`` (the two bounds of the tolerance).
    """
    out: Counter[tuple[str, str]] = Counter()
    for record in records:
        if not record.valid:
            continue
        if start is not None:
            if is_minimal(record):
                if record.processed_at < start:
                    continue
                if record.processed_at < start + band and not minimal_in:
                    continue
            elif stamp_of(record) < start:
                continue
        out[(record.entity_type, record.organization_id or "")] += 1
    return out


@pytest.mark.slow
def test_summary_of_200k_keys_matches_what_was_seeded(
    big_server: RedisServer, seeded_200k: Seeded
) -> None:
    """Scanning 200,000 keys: every key seen; records per type x org and invalid count as seeded."""
    records, now = seeded_200k.records, seeded_200k.now
    reader = reader_for(big_server.url, clock=lambda: now)
    big_server.reset_stats()
    summary = summarize(reader, since=None)
    stats = big_server.commandstats()
    assert stats.get("get", 0) == 0
    assert stats.get("mget", 0) <= 200_000 // 1000 + 30  # one MGET per SCAN reply of ~1,000 keys

    invalid = sum(1 for r in records if not r.valid)
    assert (summary.scanned_keys, summary.records, summary.invalid_records) == (
        200_000,
        200_000 - invalid,
        invalid,
    )
    assert (summary.complete, summary.capped, summary.error) == (True, False, "")
    assert Counter({k: int(v[0]) for k, v in summary.groups.items()}) == expected_groups(
        records, None, minimal_in=True
    )
    assert set(summary.by_type) == set(DEFAULT_ENTITY_TYPES)
    assert summary.inferred_times == sum(1 for r in records if is_minimal(r))

    # 24 h window: producer timestamps are exact; inferred ones lag by the time since writing.
    window = parse_since("24h")
    assert window is not None
    start = now - window.total_seconds()
    got = summarize(reader, since=window)
    band = time.time() - seeded_200k.written_at + 2  # TTL drift since the keys were written
    counts = Counter({k: int(v[0]) for k, v in got.groups.items()})
    low = expected_groups(records, start, band=band, minimal_in=False)
    high = expected_groups(records, start, band=band, minimal_in=True)
    assert all(low[key] <= counts[key] <= high[key] for key in high | counts)
    assert sum(high.values()) - sum(low.values()) < 0.01 * sum(high.values())
    assert got.records + got.outside_window == 200_000 - invalid

    # A type filter scans with a narrower pattern and counts only that type.
    payments = summarize(reader, since=None, types=["payment"])
    assert payments.records == sum(1 for r in records if r.valid and r.entity_type == "payment")
    assert payments.invalid_records == sum(
        1 for r in records if not r.valid and r.entity_type == "payment"
    )


# -- the CLI against a real server -------------------------------------------------


python_m = functools.partial(cli_process.python_m, text=True, timeout=120)


@pytest.mark.slow
def test_cli_seed_resolve_summary_end_to_end(
    redis_client: redis.Redis, redis_server: RedisServer, tmp_path: Path
) -> None:
    """`seed --records 1000`, then `resolve FILE` and `summary --since all --format json` agree."""
    url = redis_server.add_acl_user("cli", "cli-SECRET", "+@all ~*")
    before = time.time()
    seeded = python_m("seed", "--records", "1000", "--redis-url", url)
    after = time.time()
    assert seeded.returncode == 0, seeded.stderr
    assert seeded.stderr == (
        f"wrote 1,000 records to redis://cli:***@127.0.0.1:{redis_server.port}/0 "
        "(namespace telemetry, TTL 1,209,600 s)\n"
    )
    assert redis_client.dbsize() == 1000
    # seed uses seed 0: the same generator call gives the same keys, values and TTLs
    # (only processed_at depends on the clock).
    expected = list(generate_records(1000, seed=0, now=before))

    ids = tmp_path / "ids.txt"
    ids.write_text("entity_id\n" + "\n".join(r.entity_id for r in expected) + "\n")
    resolved = python_m("resolve", str(ids), "--redis-url", url)
    read_at = time.time()
    assert (resolved.returncode, resolved.stderr) == (0, "")
    rows = list(csv.DictReader(io.StringIO(resolved.stdout, newline="")))
    assert list(rows[0]) == [
        "query",
        "status",
        "entity_type",
        "entity_id",
        "run_id",
        "run_url",
        "organization_id",
        "processed_at",
        "expires_at",
        "detail",
    ]
    assert len(rows) == 1000
    for record, row in zip(expected, rows, strict=True):
        assert (row["query"], row["entity_type"], row["entity_id"]) == (
            record.entity_id,
            record.entity_type,
            record.entity_id,
        )
        if not record.valid:
            assert row["status"] == "invalid_record"
            continue
        assert row["status"] == "found"
        assert row["run_id"] == record.run_id
        assert row["organization_id"] == (record.organization_id or "")
        shown = datetime.fromisoformat(row["processed_at"]).timestamp()
        age = TTL - record.ttl_seconds
        if is_minimal(record):
            # Inferred: seeded between `before` and `after`, read by `read_at`.
            assert before - age - (read_at - before) - 2 <= shown <= after - age + 2
            assert row["detail"] == "time inferred from TTL"
        else:
            assert before - age - 1 <= shown <= after - age + 1
        assert row["processed_at"].endswith("Z")

    summary = python_m("summary", "--since", "all", "--format", "json", "--redis-url", url)
    assert (summary.returncode, summary.stderr) == (0, "")
    data = orjson.loads(summary.stdout)
    invalid = sum(1 for r in expected if not r.valid)
    assert (data["scanned_keys"], data["records"], data["invalid_records"], data["complete"]) == (
        1000,
        1000 - invalid,
        invalid,
        True,
    )
    assert data["window_start"] is None
    groups = Counter(
        {(g["entity_type"], g["organization_id"] or ""): g["records"] for g in data["groups"]}
    )
    assert groups == expected_groups(expected, None, minimal_in=True)
    assert all(g["latest_processed_at"].endswith("Z") for g in data["groups"])
    assert "cli-SECRET" not in seeded.stderr + resolved.stderr + summary.stderr
