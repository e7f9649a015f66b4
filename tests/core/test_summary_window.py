"""One scan per window (issue #16): invalid keys counted by their TTL-inferred time in the
window (contract §9), every filter a fold of the window's counters, buckets by window,
the share of records with an organization, and a fold whose size follows cells, not keys.

Uses ``test_summary``'s hand-written dataset on fakeredis frozen at ``NOW``.
"""

# ruff: noqa: F811 - the fixtures are test_summary's, imported by name for pytest

from __future__ import annotations

from collections import Counter
from typing import Any

import fakeredis
import orjson
import pytest

from clocks import NOW
from core.test_summary import DAY, HOUR, TTL, client, dataset, put, reader  # noqa: F401
from telemetry.config import Settings
from telemetry.reader import TelemetryReader
from telemetry.summary import bucket_seconds, parse_since, scan_window, summarize


@pytest.fixture
def invalid_ages(client: fakeredis.FakeRedis) -> fakeredis.FakeRedis:
    """Five invalid keys written 30 min, 3 h, 30 h and 10 d ago, and one with no TTL;
    one valid record (1 h ago, no organization)."""
    put(client, "telemetry:payment:pym_30m", b"{oops", age=HOUR / 2)
    put(client, "telemetry:payment:pym_3h", {"status": "no run"}, age=3 * HOUR)
    put(client, "telemetry:invoice:inv_30h", b"[1]", age=30 * HOUR)
    put(client, "telemetry:NotAType", b"{}", age=10 * DAY)
    client.hset("telemetry:invoice:inv_hash", "runId", "run_hash")  # no TTL: no time
    put(client, "telemetry:payment:pym_ok", {"runId": "run_ok"}, age=HOUR)
    return client


@pytest.mark.parametrize(
    ("since", "inside", "outside"),
    [("1h", 1, 4), ("6h", 2, 3), ("24h", 2, 3), ("7d", 3, 2), ("all", 5, 0)],
)
def test_invalid_keys_count_by_their_inferred_time_in_the_window(
    invalid_ages: Any, reader: TelemetryReader, since: str, inside: int, outside: int
) -> None:
    """invalid_records counts the invalid keys whose TTL-inferred time is in the window; a key
    without TTL has no time, so only "all" counts it (the JSON says the same)."""
    summary = summarize(reader, since=parse_since(since))
    assert (summary.invalid_records, summary.invalid_outside) == (inside, outside)
    assert summary.to_json()["invalid_records"] == inside


def test_invalid_keys_follow_the_type_filter_but_not_the_organization_filter(
    invalid_ages: Any, reader: TelemetryReader
) -> None:
    """Types narrow the invalid count (a malformed key has no type); organizations cannot."""
    fold = scan_window(reader, since=parse_since("7d"))
    assert fold.view().invalid_records == 3
    assert fold.view(types=["payment"]).invalid_records == 2
    assert fold.view(types=["invoice"]).invalid_records == 1
    assert fold.view(organizations=["org_nobody"]).invalid_records == 3
    assert fold.view(organizations=["org_nobody"]).records == 0
    examples = fold.view(types=["payment"]).invalid_examples
    assert sorted(e.key for e in examples) == [
        "telemetry:payment:pym_30m",
        "telemetry:payment:pym_3h",
    ]


FILTERS = [
    ((), ()),
    (("payment",), ()),
    (("payment", "invoice"), ()),
    ((), ("org_a",)),
    ((), ("org_a", "org_c", "")),
    (("payment",), ("org_a", "")),
    (("webhook",), ("org_b",)),
]


@pytest.mark.parametrize("since", ["1h", "24h", "7d", "all"])
def test_every_filter_of_one_scan_equals_its_own_scan(
    dataset: Any, reader: TelemetryReader, since: str
) -> None:
    """fold.view(types, orgs) is exactly what a scan with those filters gives: groups CSV,
    JSON (invalid count included), statuses, buckets, inferred times and kept rows."""
    fold = scan_window(reader, since=parse_since(since), keep_rows=100)
    for types, orgs in FILTERS:
        view = fold.view(types, orgs)
        alone = summarize(
            reader, since=parse_since(since), types=types, organizations=orgs, keep_rows=100
        )
        assert view.groups_csv() == alone.groups_csv(), (types, orgs)
        # scanned_keys differ: a scan of one type reads only that type's keys (SCAN MATCH).
        assert {**view.to_json(), "scanned_keys": 0} == {**alone.to_json(), "scanned_keys": 0}
        assert view.statuses == alone.statuses
        assert view.over_time == alone.over_time
        assert view.inferred_times == alone.inferred_times
        assert sorted(map(repr, view.rows)) == sorted(map(repr, alone.rows))  # NaN times
        assert (view.types, view.organizations) == (tuple(sorted(types)), tuple(sorted(orgs)))


@pytest.mark.parametrize(
    ("since", "bucket"),
    [("1h", HOUR), ("24h", HOUR), ("48h", HOUR), ("49h", DAY), ("7d", DAY), ("all", DAY)],
)
def test_bucket_follows_the_window(since: str, bucket: int) -> None:
    """Hourly buckets up to 48 h, daily beyond (and for "all")."""
    assert bucket_seconds(parse_since(since)) == bucket


def test_daily_buckets_start_at_utc_midnight(dataset: Any, reader: TelemetryReader) -> None:
    """A 7 d window counts per UTC day: 2027-01-15 and 2027-01-14 (payment 30 h ago)."""
    summary = summarize(reader, since=parse_since("7d"), types=["payment"])
    day = int(NOW // DAY) * DAY
    assert summary.bucket_seconds == DAY
    assert summary.over_time == Counter({(day, "payment"): 3, (day - DAY, "payment"): 1})


def test_share_of_records_with_an_organization(dataset: Any, reader: TelemetryReader) -> None:
    """records_with_org counts records carrying one (an organization record is its own)."""
    summary = summarize(reader, since=None)
    assert (summary.records_with_org, summary.records) == (7, 10)
    assert summarize(reader, since=None, organizations=[""]).records_with_org == 0


def test_fold_size_follows_cells_not_keys(client: fakeredis.FakeRedis) -> None:
    """5,000 minimal records over 24 h fold into at most 24 buckets × types cells."""
    pipe = client.pipeline()
    for i in range(5000):
        kind = ("payment", "invoice", "refund")[i % 3]
        pipe.set(
            f"telemetry:{kind}:x_{i}",
            orgjson(i),
            px=int((TTL - (i % 24) * HOUR - 60) * 1000),
        )
    pipe.execute()
    reader = TelemetryReader(client, Settings.load(), clock=lambda: NOW)
    fold = scan_window(reader, since=parse_since("24h"))
    assert fold.records == 5000
    assert len(fold.groups) == 3
    assert len(fold.buckets) <= 25 * 3
    assert fold.rows == []


def orgjson(i: int) -> bytes:
    return orjson.dumps({"runId": f"run_{i}"})
