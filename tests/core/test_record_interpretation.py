"""How a stored value becomes a row: the readers' rules (``record.interpret``) case by
case, and the rows' fast forms giving exactly what the general forms give.

Epoch-float times in rows, the vectorised table times, the trimmed table and the
column-wise CSV are each compared, case by case, with the general code they
stand in for. (ID parsing's fast paths: ``test_id_parsing_paths.py``.)

Private on purpose: ``TelemetryReader._result_for`` / ``_collect`` / ``_not_found`` /
``_invalid`` (the per-key row builders every read goes through) and
``export._COLUMNS_FROM`` are named here to compare each with the general code.
"""

from __future__ import annotations

import gc
import math
import random
from datetime import UTC, datetime
from typing import Any

import fakeredis
import orjson
import pytest

from clocks import NOW
from telemetry.config import Settings
from telemetry.export import results_csv
from telemetry.ids import Query, parse_ids
from telemetry.models import Status
from telemetry.reader import (
    Resolution,
    Row,
    TelemetryReader,
    row_result,
    row_time,
)
from telemetry.record import Facts, interpret
from telemetry.registry import EntityRegistry
from telemetry.store import WrongType
from telemetry.summary import summarize
from ui import tables


def as_row(cells: tuple[Any, ...]) -> Row:
    """A reader's private row builders give a Resolution's cells: see them as a Row."""
    return Resolution(cells=[cells]).rows[0]


TTL_MS = 1_209_600_000
REGISTRY = EntityRegistry()


# -- record.interpret: the readers' rules, case by case ----------------------------------

RICH = {
    "runId": "run_abc123",
    "entityType": "payment",
    "entityId": "pym_1",
    "organizationId": "org_9",
    "timestamp": "2027-01-14T10:15:00.250Z",
    "metadata": {"status": "succeeded", "amount": 4200},
}
HALF_TTL = TTL_MS // 2
RECORDS: dict[str, tuple[Any, int]] = {
    "minimal": ({"runId": "run_abc123"}, HALF_TTL),
    "minimal, full TTL": ({"runId": "run_abc123"}, TTL_MS),
    "minimal, TTL over the setting": ({"runId": "run_abc123"}, TTL_MS + 1),
    "minimal, no TTL": ({"runId": "run_abc123"}, -1),
    "minimal, expired while read": ({"runId": "run_abc123"}, -2),
    "minimal, zero TTL left": ({"runId": "run_abc123"}, 0),
    "minimal, unlinkable run ID": ({"runId": "run-abc"}, HALF_TTL),
    "minimal, run ID with newline": ({"runId": "run_abc\n"}, HALF_TTL),
    "minimal, empty run ID": ({"runId": ""}, HALF_TTL),
    "minimal, numeric run ID": ({"runId": 7}, HALF_TTL),
    "rich": (RICH, HALF_TTL),
    "rich, no TTL": (RICH, -1),
    "rich, offset timestamp": (RICH | {"timestamp": "2027-01-14T12:15:00+02:00"}, HALF_TTL),
    "rich, +00:00 timestamp": (RICH | {"timestamp": "2027-01-14T10:15:00+00:00"}, HALF_TTL),
    "rich, naive timestamp": (RICH | {"timestamp": "2027-01-14T10:15:00"}, HALF_TTL),
    "rich, basic-format timestamp": (RICH | {"timestamp": "20270114T101500Z"}, HALF_TTL),
    "rich, padded timestamp": (RICH | {"timestamp": " 2027-01-14T10:15:00Z "}, HALF_TTL),
    "rich, epoch timestamp": (RICH | {"timestamp": 1_799_900_000_000}, HALF_TTL),
    "rich, epoch digits": (RICH | {"timestamp": "1799900000"}, HALF_TTL),
    "rich, bad timestamp": (RICH | {"timestamp": "yesterday"}, HALF_TTL),
    "rich, null timestamp": (RICH | {"timestamp": None}, HALF_TTL),
    "rich, 5 min ahead": (RICH | {"timestamp": "2027-01-15T08:05:00Z"}, HALF_TTL),
    "rich, just past 5 min ahead": (RICH | {"timestamp": "2027-01-15T08:05:00.001Z"}, HALF_TTL),
    "rich, far future": (RICH | {"timestamp": "2099-01-01T00:00:00Z"}, HALF_TTL),
    "rich, other entity type": (RICH | {"entityType": "invoice"}, HALF_TTL),
    "rich, other entity ID": (RICH | {"entityId": "pym_2"}, HALF_TTL),
    "rich, null entity type": (RICH | {"entityType": None}, HALF_TTL),
    "rich, numeric organization": (RICH | {"organizationId": 9}, HALF_TTL),
    "rich, empty organization": (RICH | {"organizationId": ""}, HALF_TTL),
    "rich, list metadata": (RICH | {"metadata": [1, 2]}, HALF_TTL),
    "rich, null metadata": (RICH | {"metadata": None}, HALF_TTL),
    "rich, unlinkable run ID": (RICH | {"runId": "run_a b"}, HALF_TTL),
    "rich minus metadata, plus an unknown field": (
        {k: v for k, v in RICH.items() if k != "metadata"} | {"region": "eu"},
        HALF_TTL,
    ),
    "rich plus an unknown field": (RICH | {"region": "eu"}, HALF_TTL),
    "rich minus organization": ({k: v for k, v in RICH.items() if k != "organizationId"}, 1),
    "not JSON": (b"{runId: run_1", HALF_TTL),
    "JSON array": (b"[1, 2]", HALF_TTL),
    "no runId": ({"run": "run_1"}, HALF_TTL),
}
KEYS = {
    "payment": ("payment", "pym_1"),
    "organization": ("organization", "org_7"),
    "ID with colons": ("payment", "pym:1:2"),
}


def _raw(value: Any) -> bytes:
    return value if isinstance(value, bytes) else orjson.dumps(value)


@pytest.fixture
def reader() -> TelemetryReader:
    """A reader with the default settings and a clock fixed at NOW (no Redis needed)."""
    return TelemetryReader(fakeredis.FakeRedis(), Settings.load(), clock=lambda: NOW)


STAMP = datetime(2027, 1, 14, 10, 15, 0, 250_000, tzinfo=UTC)
INFERRED = NOW - (1_209_600 - HALF_TTL / 1000)
EXPIRES = NOW + HALF_TTL / 1000
TTL_NOTE = "time inferred from TTL"
# name: (entity type, value, PTTL) -> facts as (run ID, organization, processed_at,
# inferred, expires_at, notes) or the invalid record's reason.
FACTS: dict[str, tuple[tuple[str, Any, int], Any]] = {
    "minimal": (
        ("payment", {"runId": "run_abc123"}, HALF_TTL),
        ("run_abc123", None, INFERRED, True, EXPIRES, TTL_NOTE),
    ),
    "minimal, organization entity type": (
        ("organization", {"runId": "run_abc123"}, HALF_TTL),
        ("run_abc123", "org_7", INFERRED, True, EXPIRES, TTL_NOTE),
    ),
    "minimal, full TTL left": (
        ("payment", {"runId": "run_1"}, TTL_MS),
        ("run_1", None, NOW, True, NOW + 1_209_600, TTL_NOTE),
    ),
    "minimal, TTL over the setting": (
        ("payment", {"runId": "run_1"}, TTL_MS + 1000),
        (
            "run_1",
            None,
            NOW + 1,
            True,
            NOW + 1_209_601,
            f"{TTL_NOTE} (remaining TTL exceeds TELEMETRY_TTL_SECONDS=1209600; check the setting)",
        ),
    ),
    "minimal, no TTL (-1)": (
        ("payment", {"runId": "run_1"}, -1),
        ("run_1", None, None, False, None, "key has no TTL: processing time unknown"),
    ),
    "minimal, gone while read (-2)": (
        ("payment", {"runId": "run_1"}, -2),
        ("run_1", None, None, False, None, "key expired while being read"),
    ),
    "rich": (("payment", RICH, HALF_TTL), ("run_abc123", "org_9", STAMP, False, EXPIRES, "")),
    "rich, no TTL": (("payment", RICH, -1), ("run_abc123", "org_9", STAMP, False, None, "")),
    "rich, organization from the record, not the key": (
        ("organization", RICH | {"entityType": "organization", "entityId": "org_7"}, HALF_TTL),
        ("run_abc123", "org_9", STAMP, False, EXPIRES, ""),
    ),
    "rich minus organization": (
        ("payment", {k: v for k, v in RICH.items() if k != "organizationId"}, HALF_TTL),
        ("run_abc123", None, STAMP, False, EXPIRES, ""),
    ),
    "numeric organization": (
        ("payment", {"runId": "run_1", "organizationId": 9}, HALF_TTL),
        ("run_1", "9", INFERRED, True, EXPIRES, TTL_NOTE),
    ),
    "empty organization, organization entity type": (
        ("organization", {"runId": "run_1", "organizationId": ""}, HALF_TTL),
        ("run_1", "org_7", INFERRED, True, EXPIRES, TTL_NOTE),
    ),
    "offset timestamp": (
        ("payment", RICH | {"timestamp": "2027-01-14T12:15:00.25+02:00"}, HALF_TTL),
        ("run_abc123", "org_9", STAMP, False, EXPIRES, ""),
    ),
    "naive timestamp is UTC": (
        ("payment", RICH | {"timestamp": "2027-01-14T10:15:00.250"}, HALF_TTL),
        ("run_abc123", "org_9", STAMP, False, EXPIRES, ""),
    ),
    "padded timestamp": (
        ("payment", RICH | {"timestamp": " 2027-01-14T10:15:00.250Z "}, HALF_TTL),
        ("run_abc123", "org_9", STAMP, False, EXPIRES, ""),
    ),
    "epoch milliseconds": (
        ("payment", RICH | {"timestamp": 1_799_921_700_250}, HALF_TTL),
        ("run_abc123", "org_9", STAMP, False, EXPIRES, ""),
    ),
    "epoch seconds as digits": (
        ("payment", RICH | {"timestamp": "1799921700.25"}, HALF_TTL),
        ("run_abc123", "org_9", STAMP, False, EXPIRES, ""),
    ),
    "year 1": (
        ("payment", RICH | {"timestamp": "0001-01-01T00:00:00Z"}, HALF_TTL),
        ("run_abc123", "org_9", datetime(1, 1, 1, tzinfo=UTC), False, EXPIRES, ""),
    ),
    "year 1 with an offset before it": (
        ("payment", RICH | {"timestamp": "0001-01-01T00:00:00+01:00"}, HALF_TTL),
        (
            "run_abc123",
            "org_9",
            INFERRED,
            True,
            EXPIRES,
            f"timestamp '0001-01-01T00:00:00+01:00' is not a date; {TTL_NOTE}",
        ),
    ),
    "five minutes ahead is not the future": (
        ("payment", RICH | {"timestamp": "2027-01-15T08:05:00Z"}, HALF_TTL),
        ("run_abc123", "org_9", datetime(2027, 1, 15, 8, 5, tzinfo=UTC), False, EXPIRES, ""),
    ),
    "future timestamp": (
        ("payment", RICH | {"timestamp": "2099-01-01T00:00:00Z"}, HALF_TTL),
        (
            "run_abc123",
            "org_9",
            datetime(2099, 1, 1, tzinfo=UTC),
            False,
            EXPIRES,
            "timestamp is in the future (producer clock skew?)",
        ),
    ),
    "unreadable timestamp, time from the TTL": (
        ("payment", RICH | {"timestamp": "yesterday"}, HALF_TTL),
        (
            "run_abc123",
            "org_9",
            INFERRED,
            True,
            EXPIRES,
            f"timestamp 'yesterday' is not a date; {TTL_NOTE}",
        ),
    ),
    "record disagrees with its key": (
        ("payment", RICH | {"entityType": "invoice", "entityId": "inv_1"}, HALF_TTL),
        (
            "run_abc123",
            "org_9",
            STAMP,
            False,
            EXPIRES,
            "record says entityType='invoice'; record says entityId='inv_1'",
        ),
    ),
    "not JSON": (("payment", b"{runId: run_1", HALF_TTL), "value is not JSON"),
    "JSON array": (("payment", b"[1, 2]", HALF_TTL), "value is JSON an array, not an object"),
    "no runId": (("payment", {"run": "run_1"}, HALF_TTL), "no runId field"),
    "runId not a string": (("payment", {"runId": 7}, HALF_TTL), "runId is a number, not a string"),
    "runId null": (("payment", {"runId": None}, HALF_TTL), "runId is null, not a string"),
    "runId empty": (("payment", {"runId": ""}, HALF_TTL), "runId is empty"),
}


@pytest.mark.parametrize("case", FACTS.values(), ids=FACTS.keys())
def test_interpret(case: tuple[tuple[str, Any, int], Any]) -> None:
    """A stored value and its PTTL give these facts, or this invalid-record reason."""
    (entity_type, value, pttl), expected = case
    entity_id = "org_7" if entity_type == "organization" else "pym_1"
    facts = interpret(entity_type, entity_id, _raw(value), pttl, NOW, 1_209_600)
    if isinstance(expected, str):
        assert facts == expected
        return
    assert isinstance(facts, Facts)
    assert tuple(facts[:6]) == expected
    assert facts.data == orjson.loads(_raw(value))


METADATA_CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "minimal: none": ({"runId": "run_1"}, {}),
    "rich: its metadata": (RICH, {"status": "succeeded", "amount": 4200}),
    "unknown fields kept": (
        RICH | {"region": "eu"},
        {"status": "succeeded", "amount": 4200, "region": "eu"},
    ),
    "only unknown fields": ({"runId": "run_1", "region": "eu"}, {"region": "eu"}),
    "metadata not an object": (RICH | {"metadata": [1, 2]}, {"metadata": [1, 2]}),
}


@pytest.mark.parametrize("case", METADATA_CASES.values(), ids=METADATA_CASES.keys())
def test_interpret_metadata(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """Metadata is the record's ``metadata`` plus every unknown field, never an error."""
    value, expected = case
    facts = interpret("payment", "pym_1", _raw(value), HALF_TTL, NOW, 1_209_600)
    assert isinstance(facts, Facts)
    assert facts.metadata == expected


@pytest.mark.parametrize("where", KEYS.values(), ids=KEYS.keys())
@pytest.mark.parametrize("record", RECORDS.values(), ids=RECORDS.keys())
def test_rows_carry_the_facts(
    reader: TelemetryReader, record: tuple[Any, int], where: tuple[str, str]
) -> None:
    """A found row is its record's facts plus the run's link; an invalid one names the reason."""
    value, pttl = record
    entity_type, entity_id = where
    key = f"telemetry:{entity_type}:{entity_id}"
    # The private read-one-key path, seen as a Resolution's row.
    row = as_row(reader._result_for(key, _raw(value), pttl, NOW, "q"))
    facts = interpret(entity_type, entity_id, _raw(value), pttl, NOW, 1_209_600)
    if isinstance(facts, str):
        assert (row.status, row.detail) == (
            Status.INVALID_RECORD,
            f"invalid record at {key}: {facts}",
        )
        return
    assert row.status is Status.FOUND
    assert (row.run_id, row.organization_id, row.processed_at) == facts[:3]
    assert (row.processed_at_inferred, row.expires_at, row.metadata) == (
        facts.processed_at_inferred,
        facts.expires_at,
        facts.metadata,
    )
    if row.run_url is None:
        assert row.detail.startswith("run ID is not of the form run_<letters/digits>")
    else:
        assert (row.run_url, row.detail) == (
            f"https://cloud.trigger.dev/runs/{facts.run_id}",
            facts.notes,
        )


def test_reads_leave_garbage_collection_alone(reader: TelemetryReader) -> None:
    """Resolve and summary never switch the process's (every session's) garbage collector off."""
    seen: list[bool] = []
    queries = parse_ids("pym_1\npym_2", REGISTRY).queries
    reader.resolve(queries, progress=lambda *_: seen.append(gc.isenabled()))
    summarize(reader, progress=lambda *_: seen.append(gc.isenabled()))
    assert seen and all(seen) and gc.isenabled()


def test_scan_hands_records_to_on_record_instead_of_its_batches(server_clock: Any) -> None:
    """With ``on_record`` a scan's records go to it, facts and all, and its batches keep
    only the invalid keys and the progress."""
    # server_clock: fakeredis' clock stands still, so both scans see the same PTTLs (the
    # TTL-inferred times would otherwise differ by the millisecond between them).
    client = fakeredis.FakeRedis()
    client.set("telemetry:payment:pym_1", orjson.dumps(RICH), px=HALF_TTL)
    client.set("telemetry:organization:org_7", b'{"runId": "run_2"}', px=HALF_TTL)
    client.set("telemetry:invoice:inv_1", b"{oops", px=HALF_TTL)
    reader = TelemetryReader(client, Settings.load(), clock=lambda: NOW)
    kept = [(r.entity_type, r.entity_id, r.facts) for b in reader.scan() for r in b.records]
    handed: list[tuple[str, str, Facts]] = []
    batches = list(reader.scan(on_record=lambda *record: handed.append(record)))

    assert sorted(handed) == sorted(kept) and len(handed) == 2
    assert not any(batch.records for batch in batches)
    assert [i.key for batch in batches for i in batch.invalid] == ["telemetry:invoice:inv_1"]
    assert batches[-1].done and batches[-1].scanned == 3


def test_wrong_type_and_missing_keys_in_collect(reader: TelemetryReader) -> None:
    """A key holding a hash is an invalid record; a missing one (PTTL -2) is no row."""
    found: dict[str, Any] = {}
    keys = ["telemetry:payment:pym_1", "telemetry:payment:pym_2"]
    owners = [("a", "payment", "pym_1"), ("b", "payment", "pym_2")]
    reader._collect(keys, owners, [WrongType("hash"), None], [5, -2], found, {}, NOW)
    assert list(found) == [keys[0]]
    assert as_row(found[keys[0]]).status is Status.INVALID_RECORD


# -- rows keep epoch floats: Results and the CSV see the datetimes ------------------------


@pytest.mark.parametrize(
    "pttl", [HALF_TTL, 1, 0, 999, TTL_MS, 123_456_789, -1], ids=lambda p: f"pttl {p}"
)
def test_row_times_become_the_eager_datetimes(reader: TelemetryReader, pttl: int) -> None:
    """A row's epoch-float times become the datetimes eager conversion gave, in Results;
    the Result's metadata is a dict of its own."""
    key = "telemetry:payment:pym_1"
    row = as_row(reader._result_for(key, b'{"runId": "run_1"}', pttl, NOW, "pym_1"))
    result = row_result(row)
    if pttl >= 0:
        assert type(row.expires_at) is float
        assert result.expires_at == datetime.fromtimestamp(NOW + pttl / 1000, tz=UTC)
        assert result.processed_at == datetime.fromtimestamp(
            NOW - (1_209_600 - pttl / 1000), tz=UTC
        )
    else:
        assert (result.expires_at, result.processed_at) == (None, None)
    assert result.metadata == {} and result.metadata is not row_result(row).metadata


TIMES: dict[str, Any] = {
    "none": None,
    "epoch float": NOW + 0.25,
    "half microsecond": 1_800_000_000.0000005,
    "just under a second": 1_799_999_999.9999996,
    "negative": -1.5,
    "negative, fraction": -12_345.678_901_2,
    "zero": 0.0,
    "far future float": 2.0**33 + 0.123,
    "aware datetime": datetime(2027, 1, 14, 10, 15, 0, 250_000, tzinfo=UTC),
    "datetime at a millisecond edge": datetime(2027, 1, 14, 10, 15, 0, 999_999, tzinfo=UTC),
}


def test_epoch_ms_is_the_per_row_conversion() -> None:
    """The vectorised table times equal ``int(row_time(t).timestamp() * 1000)`` per row."""
    rng = random.Random(5)
    times = list(TIMES.values())
    times += [rng.uniform(-2e9, 4e9) for _ in range(5_000)]
    times += [
        NOW + rng.randrange(-(10**9), 10**9) / 1000 + rng.choice([0.0, 5e-7]) for _ in range(5_000)
    ]
    # Producer timestamps: mostly whole milliseconds, the values a float holds least exactly.
    times += [
        datetime.fromtimestamp(rng.randrange(-(10**12), 4 * 10**12) / 1000, UTC)
        for _ in range(5_000)
    ]
    times += [
        datetime(2027, 1, 14, 10, 15, rng.randrange(60), rng.randrange(10**6), tzinfo=UTC)
        for _ in range(2_000)
    ]
    times += [
        datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC),
        datetime(1, 1, 2, tzinfo=UTC),
    ]
    expected = [
        None if (value := row_time(t)) is None else int(value.timestamp() * 1000) for t in times
    ]
    assert tables.epoch_ms(times).cast("int64").to_pylist() == expected


def test_epoch_ms_of_an_empty_column() -> None:
    """No rows, no times: an empty array."""
    assert len(tables.epoch_ms([])) == 0


def _resolution(rows: list[tuple[Any, ...]]) -> Resolution:
    return Resolution(rows=rows, queries=len(rows))


def test_csv_and_results_read_float_and_datetime_times_alike(reader: TelemetryReader) -> None:
    """CSV cells and Results of a row with float times equal those of its datetime twin."""
    row = as_row(
        reader._result_for("telemetry:payment:pym_1", b'{"runId":"run_1"}', HALF_TTL, NOW, "q")
    )
    twin = row._replace(
        processed_at=row_time(row.processed_at), expires_at=row_time(row.expires_at)
    )
    assert results_csv(_resolution([row])) == results_csv(_resolution([twin]))
    assert results_csv(_resolution([row])) == results_csv(_resolution([row]).results)
    assert row_result(row) == row_result(twin)


@pytest.mark.parametrize("unlinked", [False, True], ids=["all linked", "one unlinked"])
def test_table_sends_the_run_id_column_only_when_shown(
    reader: TelemetryReader, unlinked: bool
) -> None:
    """The table carries the hidden "no link" column only when some run has no link."""
    raws = [b'{"runId":"run_1"}', b'{"runId":"run-2"}' if unlinked else b'{"runId":"run_2"}']
    rows = [
        as_row(reader._result_for(f"telemetry:payment:pym_{i}", raw, HALF_TTL, NOW, f"pym_{i}"))
        for i, raw in enumerate(raws)
    ]
    table, found_runs, missing = tables.bulk_table(_resolution(rows))
    assert ("run_id" in table.column_names) is unlinked
    assert found_runs.to_pylist() == ["run_1", "run-2" if unlinked else "run_2"]
    assert missing == []
    assert table["status"].to_pylist() == ["found", "found"]
    assert table["processed_at"].cast("int64").to_pylist() == [
        int(row_time(row.processed_at).timestamp() * 1000)  # type: ignore[union-attr]
        for row in rows
    ]
    assert not math.isnan(float(table["expires_at"].cast("int64")[0].as_py()))


def _format_time_by_parts(value: datetime | None) -> str:
    """format_time as it was written before its isoformat shortcut: the reference."""
    if value is None:
        return ""
    value = value.astimezone(UTC)
    millis = value.microsecond // 1000
    text = f"{value.year:04d}" + value.strftime("-%m-%dT%H:%M:%S")
    return text + (f".{millis:03d}Z" if millis else "Z")


def test_format_time_is_the_field_by_field_format() -> None:
    """format_time (CSV, JSON) writes what the field-by-field formatting wrote."""
    from datetime import timedelta, timezone

    from telemetry.models import format_time

    rng = random.Random(7)
    values: list[datetime | None] = [
        None,
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2027, 1, 14, 10, 15, 0, tzinfo=UTC),
        datetime(2027, 1, 14, 10, 15, 0, 999, tzinfo=UTC),
        datetime(2027, 1, 14, 10, 15, 0, 1000, tzinfo=UTC),
        datetime(2027, 1, 14, 12, 15, 0, 250_000, tzinfo=timezone(timedelta(hours=2))),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    ]
    values += [datetime.fromtimestamp(rng.uniform(-6e10, 2.5e11), UTC) for _ in range(2_000)]
    for value in values:
        assert format_time(value) == _format_time_by_parts(value), value


def _varied_rows(reader: TelemetryReader) -> list[tuple[Any, ...]]:
    rng = random.Random(11)
    rows = []
    for i, (name, (value, pttl)) in enumerate(RECORDS.items()):
        key = f"telemetry:payment:pym_{i}"
        rows.append(as_row(reader._result_for(key, _raw(value), pttl, NOW, f"q{i} {name}")))
    rows += [
        as_row(
            reader._not_found(Query("=cmd", "=cmd", None), [("payment", "telemetry:payment:=cmd")])
        ),
        as_row(reader._not_found(Query("+x", "+x", None), [("a", "k:a:+x"), ("b", "k:b:+x")])),
        as_row(reader._invalid("telemetry:payment:-pym", "value is not JSON", b"=1+1")),
    ]
    for _ in range(300):
        row = rng.choice(rows)._replace(
            query=rng.choice(["pym_1", "=SUM(A1)", "@x", "\tq", "-1", "a,b", 'say "hi"', "é"]),
            processed_at=rng.choice(
                [None, NOW - rng.uniform(0, 1e6), rng.uniform(-2e10, 2e10), RICH_TIME, 2.0**34]
            ),
            expires_at=rng.choice([None, NOW + rng.randrange(0, 10**9) / 1000, RICH_TIME]),
            organization_id=rng.choice([None, "", "org_1", "=org", "-org"]),
            detail=rng.choice(["", "time inferred from TTL", "=detail", "line\nbreak"]),
        )
        rows.append(row)
    return rows


RICH_TIME = datetime(2027, 1, 14, 10, 15, 0, 250_000, tzinfo=UTC)


def test_resolution_csv_by_columns_is_the_row_by_row_csv(reader: TelemetryReader) -> None:
    """A large Resolution's CSV, written column by column, is byte for byte the row-wise one."""
    from telemetry.export import _COLUMNS_FROM, CSV_HEADER, write_csv

    resolution = _resolution(_varied_rows(reader))
    assert len(resolution.rows) >= _COLUMNS_FROM
    by_rows = write_csv(CSV_HEADER, resolution.csv_rows())
    assert results_csv(resolution) == by_rows
    assert results_csv(resolution.results) == by_rows
