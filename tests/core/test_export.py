"""CSV / JSON / table output (contract §5): exact header, formula neutralisation, exact bytes."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import orjson
import pytest

from telemetry.export import (
    SUMMARY_CSV_HEADER,
    csv_safe,
    results_csv,
    results_json,
    results_table,
    write_csv,
)
from telemetry.models import CSV_HEADER, Result, Status

CONTRACT_HEADER = (
    "query,status,entity_type,entity_id,run_id,run_url,organization_id,processed_at,"
    "expires_at,detail"
)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTAB", "'\\tTAB"),
        ("\rCR", "'\\rCR"),
        ("pym_123", "pym_123"),
        ("a=b", "a=b"),
        (" =1", " =1"),
        ("'already", "'already"),
        ("", ""),
        (None, ""),
        (42, "42"),
        (-5, "'-5"),
    ],
    ids=[
        "equals",
        "plus",
        "minus",
        "at",
        "tab",
        "carriage-return",
        "plain-id",
        "equals-inside",
        "leading-space",
        "quote-already",
        "empty",
        "none",
        "int",
        "negative-int",
    ],
)
def test_csv_safe(cell: object, expected: str) -> None:
    """A cell starting with = + - @ tab or CR gets a leading quote (tab and CR shown escaped)."""
    assert csv_safe(cell) == expected


def test_csv_header_is_the_contract_header() -> None:
    """The resolve header is exactly the contract's column list, in order."""
    assert ",".join(CSV_HEADER) == CONTRACT_HEADER
    assert ",".join(SUMMARY_CSV_HEADER) == "entity_type,organization_id,records,latest_processed_at"


def test_results_csv_empty_is_header_only() -> None:
    """No results: the CSV is the header line alone, CRLF-terminated."""
    assert results_csv([]) == CONTRACT_HEADER + "\r\n"


def _results() -> list[Result]:
    return [
        Result(
            query="pym_1",
            status=Status.FOUND,
            entity_type="payment",
            entity_id="pym_1",
            run_id="run_abc",
            run_url="https://cloud.trigger.dev/runs/run_abc",
            organization_id="org_9",
            processed_at=datetime(2026, 11, 20, 10, 15, 0, 123000, tzinfo=UTC),
            expires_at=datetime(2026, 12, 4, 10, 15, tzinfo=UTC),
            metadata={"status": "succeeded", "amount": 4200},
        ),
        Result(
            query="inv_2",
            status=Status.NOT_FOUND,
            entity_type="invoice",
            entity_id="inv_2",
            detail="no key telemetry:invoice:inv_2: never processed, or expired after the 14 d TTL",
        ),
        Result(
            query="=cmd|' /C calc'!A0",
            status=Status.INVALID_ID,
            detail='contains, a comma and "quotes"',
        ),
        Result(
            query="sub_3",
            status=Status.FOUND,
            entity_type="subscription",
            entity_id="sub_3",
            run_id="-run with space",
            organization_id="@org",
            processed_at=datetime(2026, 11, 21, 0, 0, tzinfo=UTC),
            processed_at_inferred=True,
            detail="line one\nline two",
        ),
        Result(query="cust_4", status=Status.ERROR, entity_type="customer", detail="+boom"),
    ]


def test_results_csv_exact_bytes() -> None:
    """The whole CSV: contract header, CRLF rows, RFC 4180 quoting, formulas, line breaks safe."""
    expected = (
        CONTRACT_HEADER + "\r\n"
        "pym_1,found,payment,pym_1,run_abc,https://cloud.trigger.dev/runs/run_abc,org_9,"
        "2026-11-20T10:15:00.123Z,2026-12-04T10:15:00Z,\r\n"
        "inv_2,not_found,invoice,inv_2,,,,,,"
        '"no key telemetry:invoice:inv_2: never processed, or expired after the 14 d TTL"\r\n'
        '\'=cmd|\' /C calc\'!A0,invalid_id,,,,,,,,"contains, a comma and ""quotes"""\r\n'
        "sub_3,found,subscription,sub_3,'-run with space,,'@org,2026-11-21T00:00:00Z,,"
        "line one\\nline two\r\n"
        "cust_4,error,customer,,,,,,,'+boom\r\n"
    )
    assert results_csv(_results()) == expected


def test_results_csv_parses_back_to_the_same_cells() -> None:
    """A CSV reader gets back exactly the neutralised cells (nothing lost to quoting)."""
    rows = list(csv.reader(io.StringIO(results_csv(_results()), newline="")))
    assert rows[0] == list(CSV_HEADER)
    assert rows[3][0] == "'=cmd|' /C calc'!A0"
    assert rows[4][-1] == "line one\\nline two"
    assert len(rows) == 6


def test_results_json_exact() -> None:
    """JSON: every CSV column (null if empty), inferred flag, metadata; no neutralising."""
    data = orjson.loads(results_json(_results()[:1] + _results()[3:4]))
    assert data == [
        {
            "query": "pym_1",
            "status": "found",
            "entity_type": "payment",
            "entity_id": "pym_1",
            "run_id": "run_abc",
            "run_url": "https://cloud.trigger.dev/runs/run_abc",
            "organization_id": "org_9",
            "processed_at": "2026-11-20T10:15:00.123Z",
            "expires_at": "2026-12-04T10:15:00Z",
            "detail": "",
            "processed_at_inferred": False,
            "metadata": {"status": "succeeded", "amount": 4200},
        },
        {
            "query": "sub_3",
            "status": "found",
            "entity_type": "subscription",
            "entity_id": "sub_3",
            "run_id": "-run with space",
            "run_url": None,
            "organization_id": "@org",
            "processed_at": "2026-11-21T00:00:00Z",
            "expires_at": None,
            "detail": "line one\nline two",
            "processed_at_inferred": True,
            "metadata": {},
        },
    ]


def test_results_json_empty() -> None:
    """No results: an empty JSON array."""
    assert orjson.loads(results_json([])) == []


def test_write_csv_generic_rows_are_neutralised() -> None:
    """write_csv neutralises every cell of any table, header first, CRLF line ends."""
    assert write_csv(("a", "b"), [("=1", 2), (None, "-x")]) == "a,b\r\n'=1,2\r\n,'-x\r\n"


def test_results_table_exact() -> None:
    """The terminal table: padded columns, ~ marks an inferred time, control characters escaped."""
    table = results_table(
        [
            Result(
                query="pym_1",
                status=Status.FOUND,
                entity_type="payment",
                run_id="run_abc",
                organization_id="org_9",
                processed_at=datetime(2026, 11, 20, 10, 15, 59, tzinfo=UTC),
            ),
            Result(
                query="org_2",
                status=Status.FOUND,
                entity_type="organization",
                run_id="run_x\x1b[2J\n",
                organization_id="org_2",
                processed_at=datetime(2026, 11, 21, 0, 0, tzinfo=UTC),
                processed_at_inferred=True,
            ),
            Result(query="zzz", status=Status.NOT_FOUND),
        ]
    )
    assert table == (
        "query  status     entity_type   run_id          organization_id  processed_at\n"
        "-----  ---------  ------------  --------------  ---------------  -----------------\n"
        "pym_1  found      payment       run_abc         org_9            2026-11-20 10:15\n"
        "org_2  found      organization  run_x\\x1b[2J\\n  org_2            2026-11-21 00:00~\n"
        "zzz    not_found\n"
    )
