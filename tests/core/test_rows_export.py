"""summary --rows (contract §9): every record of the window, newest first, exact CSV; the
same bytes sorted in memory or through spilled chunks; filters; memory kept to a chunk.

Uses ``test_summary``'s hand-written dataset on fakeredis frozen at ``NOW``.
"""

# ruff: noqa: F811 - the fixtures are test_summary's, imported by name for pytest

from __future__ import annotations

import io
from typing import Any

import pytest

from core.test_summary import client, dataset, put, reader  # noqa: F401
from telemetry.reader import TelemetryReader
from telemetry.rows_export import ROWS_CSV_HEADER, export_rows
from telemetry.summary import parse_since, summarize


def rows(reader: TelemetryReader, since: str = "24h", **kwargs: Any) -> str:
    out = io.BytesIO()
    export_rows(reader, out, since=parse_since(since), **kwargs)
    return out.getvalue().decode()


HEADER = (
    "processed_at,entity_type,entity_id,organization_id,run_id,run_url,expires_at,"
    "processed_at_inferred,metadata\r\n"
)
RUN = "https://cloud.trigger.dev/runs/"
LAST_24H = [
    f'2027-01-15T07:40:00.500Z,invoice,inv_2,org_b,run_6,{RUN}run_6,2027-01-29T08:00:00Z,false,"{{""status"":""paid""}}"',
    f'2027-01-15T07:00:00Z,payment,pym_1,org_a,run_1,{RUN}run_1,2027-01-28T08:00:00Z,false,"{{""status"":""succeeded""}}"',
    f"2027-01-15T06:00:00Z,payment,pym_3,,run_3,{RUN}run_3,2027-01-29T06:00:00Z,true,",
    f'2027-01-15T05:00:00Z,payment,pym_2,org_a,run_2,{RUN}run_2,2027-01-28T08:00:00Z,false,"{{""status"":""failed""}}"',
    f'2027-01-15T04:00:00Z,brand_new_type,bnt_1,org_a,run_9,{RUN}run_9,2027-01-29T08:00:00Z,false,"{{""status"":""new""}}"',
    f"2027-01-15T03:00:00Z,organization,org_c,org_c,run_7,{RUN}run_7,2027-01-29T03:00:00Z,true,",
    f'2027-01-15T02:00:00Z,webhook,event_1,org_a,run_10,{RUN}run_10,2027-01-29T02:00:00Z,true,"{{""status"":""delivered""}}"',
]
OLDER = [
    f'2027-01-14T02:00:00Z,payment,pym_4,org_b,run_4,{RUN}run_4,2027-01-29T07:00:00Z,false,"{{""status"":""succeeded""}}"',
    f"2027-01-05T08:00:00Z,invoice,inv_1,,run_5,{RUN}run_5,2027-01-19T08:00:00Z,true,",
    f",notification,ntf_1,,run_8,{RUN}run_8,,false,",
]


def csv_of(lines: list[str]) -> str:
    return HEADER + "".join(line + "\r\n" for line in lines)


def test_header_is_the_contracts() -> None:
    """The header is contract §9's, exactly."""
    assert ",".join(ROWS_CSV_HEADER) + "\r\n" == HEADER


def test_last_24h_newest_first_exact(dataset: Any, reader: TelemetryReader) -> None:
    """Every record of the window, newest first, with run URL, expiry, the inferred flag and
    compact metadata JSON (empty when none): the whole output."""
    assert rows(reader) == csv_of(LAST_24H)


def test_all_window_puts_records_without_a_time_last(dataset: Any, reader: TelemetryReader) -> None:
    """Window "all": older records after, and the record with no time (no TTL, no timestamp)
    last, with empty times."""
    assert rows(reader, "all") == csv_of(LAST_24H + OLDER)


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 1000])
def test_spilled_chunks_give_the_same_bytes(
    dataset: Any, reader: TelemetryReader, chunk_rows: int
) -> None:
    """Sorting through chunks spilled to disk and merged gives the in-memory bytes."""
    out = io.BytesIO()
    result = export_rows(reader, out, since=None, chunk_rows=chunk_rows)
    assert out.getvalue().decode() == csv_of(LAST_24H + OLDER)
    assert result.rows == 10
    assert result.complete is True
    assert (result.chunks > 0) == (chunk_rows < 10)


@pytest.mark.parametrize(
    ("types", "orgs"),
    [(["payment"], None), (None, ["org_a"]), (["payment", "invoice"], ["org_b", ""])],
)
def test_filters_keep_the_records_the_summary_counts(
    dataset: Any, reader: TelemetryReader, types: list[str] | None, orgs: list[str] | None
) -> None:
    """With --type / --org the rows are exactly the summary's records (same window rule)."""
    text = rows(reader, "7d", types=types, organizations=orgs)
    lines = text.split("\r\n")[1:-1]
    summary = summarize(reader, since=parse_since("7d"), types=types, organizations=orgs)
    assert len(lines) == summary.records
    assert lines == [line for line in LAST_24H + OLDER[:1] if line in lines]


def test_org_names_add_a_column_after_the_id(dataset: Any, reader: TelemetryReader) -> None:
    """With ORG_NAMES_PATH's names an organization_name column follows organization_id."""
    text = rows(reader, "1h", org_names={"org_b": "Beta, Inc."})
    assert text == (
        "processed_at,entity_type,entity_id,organization_id,organization_name,run_id,run_url,"
        "expires_at,processed_at_inferred,metadata\r\n"
        f'2027-01-15T07:40:00.500Z,invoice,inv_2,org_b,"Beta, Inc.",run_6,{RUN}run_6,'
        '2027-01-29T08:00:00Z,false,"{""status"":""paid""}"\r\n'
        f"2027-01-15T07:00:00Z,payment,pym_1,org_a,,run_1,{RUN}run_1,2027-01-28T08:00:00Z,"
        'false,"{""status"":""succeeded""}"\r\n'
    )


def test_cells_are_neutralised_like_every_csv(client: Any, reader: TelemetryReader) -> None:
    """A formula or a control character from a record is neutralised and escaped."""
    put(
        client,
        "telemetry:payment:pym_evil",
        {"runId": "=HYPERLINK(1)", "organizationId": "@org\x1b[31m", "metadata": {"n": "-1"}},
        age=60,
    )
    line = rows(reader).split("\r\n")[1]
    assert ",'=HYPERLINK(1),," in line
    assert ",'@org\\x1b[31m," in line
    assert "\x1b" not in line
