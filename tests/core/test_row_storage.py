"""A bulk resolve's rows cost the garbage collector nothing once kept.

The Bulk page keeps a Resolution of up to 100,000 rows per session; rows the
collector tracks are scanned by every full collection of the server process
(and, during the resolve, trigger them). Rows are kept as plain tuples the
collector forgets; they are seen as ``Row`` named tuples only on access.
"""

from __future__ import annotations

import gc
from typing import Any

import fakeredis
import orjson

from telemetry import Row, Settings, Status, TelemetryReader, parse_ids

ROWS = 2_000


def _tracked() -> int:
    gc.collect()
    return len(gc.get_objects())


def test_kept_rows_are_not_tracked_by_the_garbage_collector(
    fake_redis: fakeredis.FakeRedis,
) -> None:
    """A resolution of 2,000 found, rich, not-found and invalid rows adds a handful of
    tracked objects, not one per row; its rows still read as before."""
    settings = Settings.load()
    reader = TelemetryReader(fake_redis, settings)
    ids = [f"pym_{i:021d}" for i in range(ROWS)]
    for i, entity_id in enumerate(ids[: ROWS // 2]):
        value: dict[str, Any] = {"runId": f"run_{i}"}
        if i % 2:
            value |= {"organizationId": "org_1", "metadata": {"amount": i, "tags": ["a"]}}
        fake_redis.set(f"telemetry:payment:{entity_id}", orjson.dumps(value), ex=3_600)
    fake_redis.set(f"telemetry:payment:{ids[-1]}", b"{not json", ex=3_600)
    queries = parse_ids("\n".join(ids), settings.registry).queries
    before = _tracked()
    resolution = reader.resolve(queries)
    added = _tracked() - before
    assert added < 50, f"{added:,} tracked objects for {ROWS:,} rows"

    rows = resolution.rows
    assert len(rows) == ROWS and all(type(row) is Row for row in rows)
    assert resolution.counts == {
        "found": ROWS // 2,
        "not_found": ROWS // 2 - 1,
        "invalid_id": 0,
        "invalid_record": 1,
        "error": 0,
        "ignored": 0,
    }
    assert rows[1].status is Status.FOUND and rows[1].metadata == {"amount": 1, "tags": ["a"]}
    assert rows[0].metadata == {}
    assert resolution.column("status")[-1] is Status.INVALID_RECORD
    assert resolution.status_values() == [s.value for s in resolution.column("status")]
    assert resolution.status_values()[-3:] == ["not_found", "not_found", "invalid_record"]
    assert resolution.results[1].metadata == {"amount": 1, "tags": ["a"]}
    assert resolution.results[0].metadata == {}
