"""Stored values and result rows (contract §1): decoding rules, timestamps, time format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from telemetry.models import (
    Result,
    Status,
    TelemetryRecord,
    decode_value,
    extra_metadata,
    format_time,
    parse_timestamp,
)

T = datetime(2026, 11, 20, 10, 15, tzinfo=UTC)
T_EPOCH = 1_795_169_700  # == T.timestamp()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "value is not JSON"),
        (b"", "value is not JSON"),
        (b"\xff\xfe\x00", "value is not JSON"),
        (b"run_abc", "value is not JSON"),
        (b'["run_abc"]', "value is JSON an array, not an object"),
        (b"42", "value is JSON a number, not an object"),
        (b"4.2", "value is JSON a number, not an object"),
        (b"null", "value is JSON null, not an object"),
        (b"true", "value is JSON a boolean, not an object"),
        (b'"run_abc"', "value is JSON a string, not an object"),
        (b"{}", "no runId field"),
        (b'{"entityType": "payment", "status": "x"}', "no runId field"),
        (b'{"runid": "run_a"}', "no runId field"),
        (b'{"runId": 42}', "runId is a number, not a string"),
        (b'{"runId": null}', "runId is null, not a string"),
        (b'{"runId": true}', "runId is a boolean, not a string"),
        (b'{"runId": ["run_a"]}', "runId is an array, not a string"),
        (b'{"runId": {"id": "run_a"}}', "runId is an object, not a string"),
        (b'{"runId": ""}', "runId is empty"),
    ],
    ids=[
        "not-json",
        "empty-bytes",
        "binary",
        "bare-run-id",
        "array",
        "int",
        "float",
        "null",
        "boolean",
        "json-string",
        "empty-object",
        "no-runId",
        "runId-wrong-case",
        "runId-number",
        "runId-null",
        "runId-boolean",
        "runId-array",
        "runId-object",
        "runId-empty",
    ],
)
def test_decode_value_invalid_reasons(raw: bytes, reason: str) -> None:
    """Every invalid shape is rejected with the reason an ops person needs."""
    assert decode_value(raw) == (None, reason)
    with pytest.raises(ValueError, match=reason.replace("(", r"\(")):
        TelemetryRecord.from_value(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"runId": "run_cm4x2k9p10002l70gt3xkq1rz"}', {"runId": "run_cm4x2k9p10002l70gt3xkq1rz"}),
        ('{"runId": "run_a"}', {"runId": "run_a"}),
        (b'{"runId": "not-a-run-id"}', {"runId": "not-a-run-id"}),
        (
            b'{"runId": "run_abc", "entityType": "payment", "entityId": "pym_123",'
            b' "organizationId": "org_9", "timestamp": "2026-11-20T10:15:00.000Z",'
            b' "metadata": {"status": "succeeded"}, "extra": [1]}',
            {
                "runId": "run_abc",
                "entityType": "payment",
                "entityId": "pym_123",
                "organizationId": "org_9",
                "timestamp": "2026-11-20T10:15:00.000Z",
                "metadata": {"status": "succeeded"},
                "extra": [1],
            },
        ),
    ],
    ids=["minimal-bytes", "minimal-str", "unlinkable-run-id-is-still-valid", "rich-with-extra"],
)
def test_decode_value_valid(raw: bytes | str, expected: dict[str, Any]) -> None:
    """A JSON object with a non-empty string runId is a record, returned whole with no reason."""
    assert decode_value(raw) == (expected, "")


def test_telemetry_record_keeps_unknown_fields() -> None:
    """The pydantic model maps the rich shape to fields and keeps unknown fields as extras."""
    record = TelemetryRecord.from_value(
        b'{"runId": "run_abc", "entityType": "payment", "entityId": "pym_123",'
        b' "organizationId": "org_9", "timestamp": 1795169700, "metadata": {"a": 1},'
        b' "region": "eu"}'
    )
    assert record.run_id == "run_abc"
    assert record.entity_type == "payment"
    assert record.entity_id == "pym_123"
    assert record.organization_id == "org_9"
    assert record.timestamp == T_EPOCH
    assert record.metadata == {"a": 1}
    assert record.model_extra == {"region": "eu"}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"runId": "r"}, {}),
        ({"runId": "r", "metadata": {"status": "ok", "n": 1}}, {"status": "ok", "n": 1}),
        ({"runId": "r", "metadata": "free text"}, {"metadata": "free text"}),
        ({"runId": "r", "metadata": None}, {}),
        (
            {"runId": "r", "organizationId": "o", "timestamp": "t", "region": "eu", "retries": 2},
            {"region": "eu", "retries": 2},
        ),
        ({"runId": "r", "metadata": {"a": 1}, "a": 2}, {"a": 2}),
    ],
    ids=[
        "minimal",
        "metadata-object",
        "metadata-not-an-object",
        "metadata-null",
        "unknown-top-level-fields",
        "top-level-field-wins-on-clash",
    ],
)
def test_extra_metadata(data: dict[str, Any], expected: dict[str, Any]) -> None:
    """metadata plus unknown top-level fields are kept; known columns are not repeated."""
    assert extra_metadata(data) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-20T10:15:00.000Z", T),
        ("2026-11-20T10:15:00Z", T),
        ("2026-11-20T10:15:00.250Z", T + timedelta(milliseconds=250)),
        ("2026-11-20T12:15:00+02:00", T),
        ("2026-11-20T05:15:00-05:00", T),
        ("2026-11-20T10:15:00", T),
        ("2026-11-20 10:15:00", T),
        ("  2026-11-20T10:15:00Z  ", T),
        ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
        (T_EPOCH, T),
        (T_EPOCH * 1000, T),
        (T_EPOCH + 0.5, T + timedelta(milliseconds=500)),
        (T_EPOCH * 1000 + 250, T + timedelta(milliseconds=250)),
        (str(T_EPOCH), T),
        (str(T_EPOCH * 1000), T),
        ("1795169700.5", T + timedelta(milliseconds=500)),
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        ("garbage", None),
        ("2026-13-01T00:00:00Z", None),
        ("20 Nov 2026", None),
        ("1e9", None),
        ("", None),
        ("   ", None),
        (None, None),
        (True, None),
        (False, None),
        ([T_EPOCH], None),
        ({"t": T_EPOCH}, None),
        (10**400, None),
        (1e20, None),
    ],
    ids=[
        "iso-z-millis",
        "iso-z",
        "iso-z-fraction",
        "iso-positive-offset",
        "iso-negative-offset",
        "iso-naive-is-utc",
        "iso-space-separator",
        "iso-padded",
        "date-only",
        "epoch-seconds-int",
        "epoch-millis-int",
        "epoch-seconds-float",
        "epoch-millis-fraction",
        "epoch-seconds-string",
        "epoch-millis-string",
        "epoch-seconds-decimal-string",
        "epoch-zero",
        "garbage",
        "bad-month",
        "human-date",
        "scientific-notation-string",
        "empty",
        "blank",
        "none",
        "true",
        "false",
        "list",
        "object",
        "huge-int",
        "out-of-range-float",
    ],
)
def test_parse_timestamp(value: Any, expected: datetime | None) -> None:
    """Producer timestamps become aware UTC datetimes; unreadable ones become None (no crash)."""
    parsed = parse_timestamp(value)
    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (T, "2026-11-20T10:15:00Z"),
        (T + timedelta(milliseconds=7), "2026-11-20T10:15:00.007Z"),
        (T + timedelta(microseconds=123_456), "2026-11-20T10:15:00.123Z"),
        (T + timedelta(microseconds=999), "2026-11-20T10:15:00Z"),
        (T.astimezone(timezone(timedelta(hours=2))), "2026-11-20T10:15:00Z"),
        (T.astimezone(timezone(timedelta(hours=-9, minutes=-30))), "2026-11-20T10:15:00Z"),
        (None, ""),
    ],
    ids=[
        "whole-second",
        "millis",
        "micros-truncated",
        "sub-millisecond-only",
        "positive-offset-converted",
        "negative-offset-converted",
        "none",
    ],
)
def test_format_time(value: datetime | None, expected: str) -> None:
    """Times print as ISO 8601 UTC ending in Z, with milliseconds only when there are any."""
    assert format_time(value) == expected


def test_result_csv_row_and_as_dict() -> None:
    """A Result's CSV row follows the header; as_dict adds the inferred flag and metadata."""
    result = Result(
        query="pym_1",
        status=Status.FOUND,
        entity_type="payment",
        entity_id="pym_1",
        run_id="run_a",
        run_url="https://cloud.trigger.dev/runs/run_a",
        processed_at=T,
        processed_at_inferred=True,
        detail="time inferred from TTL",
        metadata={"k": "v"},
    )
    assert result.csv_row() == (
        "pym_1",
        "found",
        "payment",
        "pym_1",
        "run_a",
        "https://cloud.trigger.dev/runs/run_a",
        "",
        "2026-11-20T10:15:00Z",
        "",
        "time inferred from TTL",
    )
    assert result.as_dict() == {
        "query": "pym_1",
        "status": "found",
        "entity_type": "payment",
        "entity_id": "pym_1",
        "run_id": "run_a",
        "run_url": "https://cloud.trigger.dev/runs/run_a",
        "organization_id": None,
        "processed_at": "2026-11-20T10:15:00Z",
        "expires_at": None,
        "detail": "time inferred from TTL",
        "processed_at_inferred": True,
        "metadata": {"k": "v"},
    }


def test_status_values_are_the_contract_statuses() -> None:
    """Status has exactly the six contract values (§5, and §7's ignored)."""
    assert [s.value for s in Status] == [
        "found",
        "not_found",
        "invalid_id",
        "invalid_record",
        "error",
        "ignored",
    ]
