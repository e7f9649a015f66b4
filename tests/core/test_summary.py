"""summarize() on fakeredis: exact groups for a hand-written dataset, windows, filters, caps.

fakeredis' clock is frozen at ``NOW`` (the ``server_clock`` fixture) so TTL-inferred
times are exact and whole outputs can be compared.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import fakeredis
import orjson
import pytest

from clocks import NOW, FrozenClock
from telemetry.config import Settings
from telemetry.errors import InputFormatError
from telemetry.reader import InvalidRecord, TelemetryReader
from telemetry.store import ScanStep, SingleStore
from telemetry.summary import WINDOWS, parse_since, summarize

TTL = 1_209_600
HOUR = 3600
DAY = 86_400


@pytest.fixture
def client(server_clock: FrozenClock) -> fakeredis.FakeRedis:
    """An empty fakeredis whose clock is frozen at NOW (exact PTTLs)."""
    return fakeredis.FakeRedis()


def group(entity_type: str, org: str | None, records: int, latest: str | None) -> dict[str, Any]:
    """One entry of the summary JSON's ``groups``."""
    return {
        "entity_type": entity_type,
        "organization_id": org,
        "records": records,
        "latest_processed_at": latest,
    }


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def put(client: Any, key: str, value: dict[str, Any] | bytes, *, age: float | None) -> None:
    raw = orjson.dumps(value) if isinstance(value, dict) else value
    if age is None:
        client.set(key, raw)
    else:
        client.set(key, raw, px=int((TTL - age) * 1000))


def rich(run: str, org: str, when: float | str, status: str) -> dict[str, Any]:
    stamp = iso(when) if isinstance(when, float | int) else when
    return {"runId": run, "organizationId": org, "timestamp": stamp, "metadata": {"status": status}}


@pytest.fixture
def dataset(client: Any) -> Any:
    """13 keys: 10 records (both shapes, an unknown type, no-TTL, bad timestamp) and 3 invalid."""
    put(
        client,
        "telemetry:payment:pym_1",
        rich("run_1", "org_a", NOW - 1 * HOUR, "succeeded"),
        age=DAY,
    )
    put(
        client, "telemetry:payment:pym_2", rich("run_2", "org_a", NOW - 3 * HOUR, "failed"), age=DAY
    )
    put(client, "telemetry:payment:pym_3", {"runId": "run_3"}, age=2 * HOUR)
    put(
        client,
        "telemetry:payment:pym_4",
        rich("run_4", "org_b", NOW - 30 * HOUR, "succeeded"),
        age=HOUR,
    )
    put(client, "telemetry:invoice:inv_1", {"runId": "run_5"}, age=10 * DAY)
    put(
        client,
        "telemetry:invoice:inv_2",
        rich("run_6", "org_b", "2027-01-15T07:40:00.500Z", "paid"),
        age=0,
    )
    put(client, "telemetry:organization:org_c", {"runId": "run_7"}, age=5 * HOUR)
    put(client, "telemetry:notification:ntf_1", {"runId": "run_8"}, age=None)
    put(
        client,
        "telemetry:brand_new_type:bnt_1",
        rich("run_9", "org_a", NOW - 4 * HOUR, "new"),
        age=0,
    )
    put(
        client,
        "telemetry:webhook:event_1",
        rich("run_10", "org_a", "garbage", "delivered"),
        age=6 * HOUR,
    )
    put(client, "telemetry:payment:pym_bad", b"{oops", age=HOUR)
    put(client, "telemetry:payment:pym_norun", {"status": "x"}, age=HOUR)
    client.hset("telemetry:invoice:inv_hash", "runId", "run_in_a_hash")
    put(client, "elsewhere:payment:pym_x", {"runId": "run_x"}, age=0)  # other namespace: unseen
    return client


@pytest.fixture
def reader(client: Any) -> TelemetryReader:
    """A reader with its clock fixed at NOW."""
    return TelemetryReader(client, Settings.load(), clock=lambda: NOW)


ALL_GROUPS_CSV = (
    "entity_type,organization_id,records,latest_processed_at\r\n"
    "brand_new_type,org_a,1,2027-01-15T04:00:00Z\r\n"
    "invoice,,1,2027-01-05T08:00:00Z\r\n"
    "invoice,org_b,1,2027-01-15T07:40:00.500Z\r\n"
    "notification,,1,\r\n"
    "organization,org_c,1,2027-01-15T03:00:00Z\r\n"
    "payment,org_a,2,2027-01-15T07:00:00Z\r\n"
    "payment,,1,2027-01-15T06:00:00Z\r\n"
    "payment,org_b,1,2027-01-14T02:00:00Z\r\n"
    "webhook,org_a,1,2027-01-15T02:00:00Z\r\n"
)


def test_all_window_groups_csv_exact(dataset: Any, reader: TelemetryReader) -> None:
    """--since all: every record in a group by type x org, sorted by type then size; exact CSV."""
    summary = summarize(reader, since=None)
    assert summary.groups_csv() == ALL_GROUPS_CSV


def test_all_window_json_exact(dataset: Any, reader: TelemetryReader) -> None:
    """The JSON summary has the contract's keys and exact values (unknown org and time as null)."""
    assert summarize(reader, since=parse_since("all")).to_json() == {
        "scanned_keys": 13,
        "records": 10,
        "invalid_records": 3,
        "complete": True,
        "window_start": None,
        "groups": [
            group("brand_new_type", "org_a", 1, "2027-01-15T04:00:00Z"),
            group("invoice", None, 1, "2027-01-05T08:00:00Z"),
            group("invoice", "org_b", 1, "2027-01-15T07:40:00.500Z"),
            group("notification", None, 1, None),
            group("organization", "org_c", 1, "2027-01-15T03:00:00Z"),
            group("payment", "org_a", 2, "2027-01-15T07:00:00Z"),
            group("payment", None, 1, "2027-01-15T06:00:00Z"),
            group("payment", "org_b", 1, "2027-01-14T02:00:00Z"),
            group("webhook", "org_a", 1, "2027-01-15T02:00:00Z"),
        ],
    }


def test_24h_window_uses_producer_and_inferred_times(dataset: Any, reader: TelemetryReader) -> None:
    """--since 24h keeps records whose producer or inferred time is in the window; no time = out."""
    summary = summarize(reader, since=parse_since("24h"))
    assert summary.groups_csv() == (
        "entity_type,organization_id,records,latest_processed_at\r\n"
        "brand_new_type,org_a,1,2027-01-15T04:00:00Z\r\n"
        "invoice,org_b,1,2027-01-15T07:40:00.500Z\r\n"
        "organization,org_c,1,2027-01-15T03:00:00Z\r\n"
        "payment,org_a,2,2027-01-15T07:00:00Z\r\n"
        "payment,,1,2027-01-15T06:00:00Z\r\n"
        "webhook,org_a,1,2027-01-15T02:00:00Z\r\n"
    )
    assert (summary.records, summary.outside_window, summary.inferred_times) == (7, 3, 3)
    assert summary.to_json()["window_start"] == "2027-01-14T08:00:00Z"
    assert summary.to_json()["complete"] is True


@pytest.mark.parametrize(
    ("since", "records"),
    [("1h", 2), ("90m", 2), ("6h", 7), ("7d", 8), ("2w", 9), ("all", 10)],
    ids=["1h", "90m", "6h", "7d", "2w", "all"],
)
def test_window_sizes(dataset: Any, reader: TelemetryReader, since: str, records: int) -> None:
    """Each window counts exactly the records at or after now - window (6 h edge included)."""
    summary = summarize(reader, since=parse_since(since))
    assert summary.records == records
    assert summary.records + summary.outside_window == 10


def test_type_filter(dataset: Any, reader: TelemetryReader) -> None:
    """types= keeps only those entity types, invalid keys included."""
    summary = summarize(reader, types=["payment"])
    assert summary.groups_csv() == (
        "entity_type,organization_id,records,latest_processed_at\r\n"
        "payment,org_a,2,2027-01-15T07:00:00Z\r\n"
        "payment,,1,2027-01-15T06:00:00Z\r\n"
        "payment,org_b,1,2027-01-14T02:00:00Z\r\n"
    )
    assert summary.invalid_reasons == Counter({"value is not JSON": 1, "no runId field": 1})
    several = summarize(reader, types=["invoice", "brand_new_type"])
    assert several.by_type == Counter({"invoice": 2, "brand_new_type": 1})
    assert several.invalid_reasons == Counter({"key holds a Redis hash, not a string": 1})


def test_org_filter(dataset: Any, reader: TelemetryReader) -> None:
    """organizations= keeps only those orgs (organization records count as their own org)."""
    summary = summarize(reader, organizations=["org_a", "org_c"])
    assert summary.groups_csv() == (
        "entity_type,organization_id,records,latest_processed_at\r\n"
        "brand_new_type,org_a,1,2027-01-15T04:00:00Z\r\n"
        "organization,org_c,1,2027-01-15T03:00:00Z\r\n"
        "payment,org_a,2,2027-01-15T07:00:00Z\r\n"
        "webhook,org_a,1,2027-01-15T02:00:00Z\r\n"
    )
    assert summary.by_org == Counter({"org_a": 4, "org_c": 1})


def test_statuses_hourly_buckets_and_invalid_examples(
    dataset: Any, reader: TelemetryReader
) -> None:
    """Statuses counted per type, records in UTC hour buckets, the window's invalid keys kept
    as examples (the hash has no TTL, so no time: outside any window but "all")."""
    summary = summarize(reader, since=parse_since("24h"))
    assert summary.statuses == Counter(
        {
            ("payment", "succeeded"): 1,
            ("payment", "failed"): 1,
            ("invoice", "paid"): 1,
            ("brand_new_type", "new"): 1,
            ("webhook", "delivered"): 1,
        }
    )
    hour = lambda h: int(NOW) - 8 * HOUR + h * HOUR  # noqa: E731 - 00:00 of 2027-01-15 plus h hours
    assert summary.bucket_seconds == HOUR
    assert summary.over_time == Counter(
        {
            (hour(7), "payment"): 1,
            (hour(5), "payment"): 1,
            (hour(6), "payment"): 1,
            (hour(7), "invoice"): 1,
            (hour(3), "organization"): 1,
            (hour(4), "brand_new_type"): 1,
            (hour(2), "webhook"): 1,
        }
    )
    assert summary.invalid_records == 2
    assert summary.invalid_outside == 1
    assert summary.invalid_reasons == Counter({"value is not JSON": 1, "no runId field": 1})
    left = (TTL - HOUR) * 1000
    assert sorted(summary.invalid_examples, key=lambda i: i.key) == [
        InvalidRecord("telemetry:payment:pym_bad", "value is not JSON", "{oops", left),
        InvalidRecord("telemetry:payment:pym_norun", "no runId field", '{"status":"x"}', left),
    ]
    every = summarize(reader, since=None)
    assert every.invalid_records == 3
    assert every.invalid_outside == 0
    assert every.bucket_seconds == DAY


def test_keep_rows(dataset: Any, reader: TelemetryReader) -> None:
    """keep_rows keeps that many record rows (CSV-able) and says when more were dropped."""
    summary = summarize(reader, since=parse_since("24h"), types=["payment"], keep_rows=10)
    assert summary.rows_truncated is False
    assert sorted(summary.rows) == [
        ("payment", "pym_1", "run_1", "org_a", NOW - HOUR, False, "succeeded"),
        ("payment", "pym_2", "run_2", "org_a", NOW - 3 * HOUR, False, "failed"),
        ("payment", "pym_3", "run_3", "", NOW - 2 * HOUR, True, ""),
    ]
    capped = summarize(reader, keep_rows=2)
    assert len(capped.rows) == 2
    assert capped.rows_truncated is True
    assert summarize(reader).rows == []


def test_key_cap_marks_summary_incomplete(dataset: Any, reader: TelemetryReader) -> None:
    """max_keys reached: capped, complete false, scanned_keys == cap, partial groups still there."""
    summary = summarize(reader, max_keys=5)
    assert summary.capped is True
    assert summary.complete is False
    assert summary.scanned_keys == 5
    assert summary.records + summary.invalid_records == 5
    data = summary.to_json()
    assert data["complete"] is False
    assert sum(g["records"] for g in data["groups"]) == summary.records


def test_progress_callback(dataset: Any, reader: TelemetryReader) -> None:
    """progress gets (scanned, records, invalid) after every batch, ending at the totals."""
    calls: list[tuple[int, int, int]] = []
    summarize(reader, progress=lambda *args: calls.append(args))
    assert calls[-1] == (13, 10, 3)
    assert calls == sorted(calls)


class BreakingStore(SingleStore):
    """A Store whose scan (SCAN COUNT 2) loses the connection after its first batch."""

    def scan_fetch(self, pattern: str, count: int, max_keys: int) -> Any:
        for index, step in enumerate(super().scan_fetch(pattern, 2, max_keys)):
            if index == 1:
                lost: ScanStep = ([], [], [], True, False, "Cannot reach Redis (lost).")
                yield lost
                return
            yield step


def test_connection_lost_mid_scan_is_partial(dataset: Any) -> None:
    """A scan cut by a Redis failure returns what it read, complete false and the error."""
    settings = Settings.load()
    reader = TelemetryReader(BreakingStore(dataset, settings), settings, clock=lambda: NOW)
    summary = summarize(reader)
    assert summary.error == "Cannot reach Redis (lost)."
    assert summary.complete is False
    assert summary.capped is False
    assert 0 < summary.scanned_keys < 13
    assert summary.to_json()["complete"] is False


def test_empty_namespace(reader: TelemetryReader) -> None:
    """An empty namespace: a complete summary with nothing in it."""
    summary = summarize(reader)
    assert summary.to_json() == {
        "scanned_keys": 0,
        "records": 0,
        "invalid_records": 0,
        "complete": True,
        "window_start": None,
        "groups": [],
    }
    assert summary.groups_csv() == "entity_type,organization_id,records,latest_processed_at\r\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", timedelta(hours=24)),
        ("90m", timedelta(minutes=90)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("45s", timedelta(seconds=45)),
        ("1.5h", timedelta(minutes=90)),
        (" 6 H ", timedelta(hours=6)),
        ("all", None),
        ("ALL", None),
        ("", None),
        (None, None),
    ],
    ids=[
        "24h",
        "90m",
        "7d",
        "2w",
        "seconds",
        "fraction",
        "padded-upper",
        "all",
        "ALL",
        "empty",
        "none",
    ],
)
def test_parse_since(text: str | None, expected: timedelta | None) -> None:
    """--since accepts a number and a unit (s m h d w) or all."""
    assert parse_since(text) == expected


@pytest.mark.parametrize(
    "text",
    ["bogus", "24", "h", "-1h", "1y", "24 hours", "1h30m", "∞h"],
    ids=["word", "no-unit", "no-number", "negative", "years", "long-unit", "compound", "symbol"],
)
def test_parse_since_rejects_garbage(text: str) -> None:
    """A window that is not a duration raises InputFormatError quoting it."""
    with pytest.raises(InputFormatError, match="is not a duration"):
        parse_since(text)


def test_named_windows() -> None:
    """The app's window choices parse to what they say."""
    assert {name: parse_since(name) for name in WINDOWS} == WINDOWS
