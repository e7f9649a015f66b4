"""Keeping the user's columns (contract §8): what the parser keeps of a table's other
columns, the output names, and the whole CSV / JSON with the kept cells appended."""

from __future__ import annotations

from collections.abc import Iterator

import fakeredis
import orjson
import pytest

from telemetry.columns_kept import (
    OUR_COLUMNS,
    KeptRows,
    kept_rows,
    output_names,
    with_kept_csv,
    with_kept_json,
)
from telemetry.config import Settings
from telemetry.export import results_csv, results_json
from telemetry.ids import ParsedIds, parse_ids
from telemetry.reader import Resolution, TelemetryReader

HEADER = (
    "query,status,entity_type,entity_id,run_id,run_url,organization_id,processed_at,"
    "expires_at,detail"
)
STAMP = "2026-11-20T10:15:00.000Z"


def parse(text: str, column: str | None = None) -> ParsedIds:
    return parse_ids(text, Settings.load().registry, column=column)


@pytest.fixture
def reader() -> Iterator[TelemetryReader]:
    """fakeredis with rich records without a TTL (no time depends on the clock): pym_a,
    pym_b, and zz_1 under two types (an unknown prefix that gives two rows)."""
    client = fakeredis.FakeRedis()
    for key, run_id in {
        "telemetry:payment:pym_a": "run_a",
        "telemetry:payment:pym_b": "run_b",
        "telemetry:payment:zz_1": "run_z1",
        "telemetry:invoice:zz_1": "run_z2",
    }.items():
        client.set(key, orjson.dumps({"runId": run_id, "timestamp": STAMP}))
    yield TelemetryReader(client, Settings.load())
    client.close()


def resolved(reader: TelemetryReader, text: str) -> tuple[ParsedIds, Resolution]:
    parsed = parse(text)
    return parsed, reader.resolve(parsed.queries)


# -- what the parser keeps ---------------------------------------------------------


def test_a_csv_with_a_header_keeps_the_other_columns_by_query() -> None:
    """`payment_id,amount,customer,note`: the three others, each ID with its own line's
    cells; a duplicate keeps its first line's; a short line is padded with empty cells."""
    parsed = parse(
        "payment_id,amount,customer,note\n"
        "pym_a,42.50,Acme,first\n"
        "pym_b,7\n"
        "pym_a,99,Other,duplicate\n"
    )
    assert parsed.column == "payment_id"
    assert parsed.kept.names == ("amount", "customer", "note")
    assert parsed.kept.cells == {
        "pym_a": ("42.50", "Acme", "first"),
        "pym_b": ("7", "", ""),
    }
    assert parsed.duplicates == 1


@pytest.mark.parametrize(
    ("text", "cells"),
    [
        ("id,n\npym_a,1\npym_b,2\n", {"pym_a": ("1",), "pym_b": ("2",)}),
        (
            "id,n,m\npym_a,1\npym_b,2,3\npym_c,4,5\n",
            {"pym_a": ("1", ""), "pym_b": ("2", "3"), "pym_c": ("4", "5")},
        ),
        ("id,n\npym_a,1\n,2\npym_b,3\n", {"pym_a": ("1",), "pym_b": ("3",)}),
        ("id,n\npym_a,1\npym_a,2\npym_b,3\n", {"pym_a": ("1",), "pym_b": ("3",)}),
    ],
    ids=["one-id-a-line", "short-line", "line-without-id", "repeat"],
)
def test_each_id_gets_its_own_lines_cells(text: str, cells: dict[str, tuple[str, ...]]) -> None:
    """Every line shape (the one-ID-a-line shortcut and the general loop) pairs each ID
    with the cells of the first line it is on."""
    assert parse(text).kept.cells == cells


def test_a_spreadsheet_selection_keeps_its_columns_with_or_without_header() -> None:
    """A tab-separated paste: with its header row the names are the header's; without,
    the picker's `column N` names. The ID column need not be the first."""
    with_header = parse("Amount\tPayment ID\tNote\n42\tpym_a\tcall back\n7\tpym_b\t\n")
    assert (with_header.column, with_header.kept.names) == ("Payment ID", ("Amount", "Note"))
    assert with_header.kept.cells == {"pym_a": ("42", "call back"), "pym_b": ("7", "")}
    bare = parse("pym_a\t42\tcall back\npym_b\t7\tx\n")
    assert bare.kept.names == ("column 2", "column 3")
    assert bare.kept.cells["pym_b"] == ("7", "x")


def test_several_ids_in_one_cell_share_their_line() -> None:
    """Two IDs in the ID cell of one line both carry that line's other cells."""
    parsed = parse('payment_id,note\n"pym_a pym_b",both\npym_c,one\n')
    assert parsed.kept.cells == {"pym_a": ("both",), "pym_b": ("both",), "pym_c": ("one",)}


def test_a_picked_column_keeps_the_guessed_one_among_the_others() -> None:
    """`column=` reading another column keeps every other one, the guessed ID column too."""
    parsed = parse("order,payment_id\n1001,pym_a\n1002,pym_b\n", column="order")
    assert parsed.kept.names == ("payment_id",)
    assert parsed.kept.cells == {"1001": ("pym_a",), "1002": ("pym_b",)}


@pytest.mark.parametrize(
    "text",
    [
        "pym_a\npym_b\n",  # a plain column: the fast path
        "pym_a, pym_b; pym_c\n",  # free text
        '["pym_a", "pym_b"]',  # a JSON array
        "payment_id\npym_a\npym_b\n",  # a one-column table
        "pym_a,pym_b\npym_c,pym_d\n",  # every cell an ID: nothing besides IDs
    ],
    ids=["plain-list", "free-text", "json", "one-column", "every-cell-an-id"],
)
def test_input_without_other_columns_keeps_nothing(text: str) -> None:
    """Lists, JSON and tables that hold nothing but IDs have no columns to keep."""
    assert parse(text).kept.names == ()


# -- output names ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (("amount", "note"), ("amount", "note")),
        (("status", "Detail", "run_error"), ("input_status", "input_Detail", "input_run_error")),
        (("note", "Note", "note"), ("note", "Note_2", "note_3")),
        (("status", "input_status"), ("input_status", "input_status_2")),
        (("query ", "column 2"), ("query ", "column 2")),  # only an exact name clashes
    ],
    ids=["own", "clash-ignoring-case", "repeated", "prefixed-then-repeated", "not-exact"],
)
def test_output_names(names: tuple[str, ...], expected: tuple[str, ...]) -> None:
    """A name equal to one of our sixteen (§5 and §6, ignoring case) gets `input_`; a
    repeat (ignoring case) gets `_2`, `_3`: unique, never ours, with or without --runs."""
    out = output_names(names)
    assert out == expected
    assert not {name.casefold() for name in out} & {name.casefold() for name in OUR_COLUMNS}


# -- whole outputs -----------------------------------------------------------------


def test_results_csv_with_kept_columns_whole_output(reader: TelemetryReader) -> None:
    """Our ten columns, then the kept ones, every row with its line's cells: formulas
    neutralised, controls escaped, quotes doubled; the two rows of an unknown prefix
    both carry its cells; a clashing name gets `input_`."""
    parsed, resolution = resolved(
        reader,
        "payment_id,amount,status,note\n"
        'pym_a,=1+2,paid,"say ""hi"", then\x1b[31m"\n'
        "zz_1,-5,,@here\n"
        "pym_missing,,,\n",
    )
    kept = kept_rows(parsed, resolution)
    assert kept is not None
    assert with_kept_csv(results_csv(resolution), kept) == (
        f"{HEADER},amount,input_status,note\r\n"
        "pym_a,found,payment,pym_a,run_a,https://cloud.trigger.dev/runs/run_a,,"
        '2026-11-20T10:15:00Z,,,\'=1+2,paid,"say ""hi"", then\\x1b[31m"\r\n'
        "zz_1,found,payment,zz_1,run_z1,https://cloud.trigger.dev/runs/run_z1,,"
        "2026-11-20T10:15:00Z,,,'-5,,'@here\r\n"
        "zz_1,found,invoice,zz_1,run_z2,https://cloud.trigger.dev/runs/run_z2,,"
        "2026-11-20T10:15:00Z,,,'-5,,'@here\r\n"
        'pym_missing,not_found,payment,pym_missing,,,,,,"no key telemetry:payment:pym_missing: '
        'never processed, or expired after the 14 d TTL",,,\r\n'
    )


def test_one_kept_column_with_an_empty_cell_is_an_empty_field(reader: TelemetryReader) -> None:
    """One kept column: an empty cell ends the line with `,` (as the csv module writes a
    row), not with the `""` a one-field row needs."""
    parsed, resolution = resolved(reader, "payment_id,note\npym_a,\npym_b,x\n")
    text = with_kept_csv(results_csv(resolution), kept_rows(parsed, resolution))
    lines = text.split("\r\n")
    assert lines[0] == f"{HEADER},note"
    assert lines[1].endswith(",2026-11-20T10:15:00Z,,,") and lines[2].endswith(",,x")
    assert lines[3:] == [""]


def test_the_column_path_of_a_large_csv_gets_the_same_cells(reader: TelemetryReader) -> None:
    """From 200 rows results_csv writes column by column: the kept cells still land on
    their own rows (each row's amount is its ID's number)."""
    lines = "".join(f"pym_n{i},{i}\n" for i in range(300))
    parsed, resolution = resolved(reader, f"payment_id,amount\n{lines}")
    out = with_kept_csv(results_csv(resolution), kept_rows(parsed, resolution)).split("\r\n")
    assert out[0] == f"{HEADER},amount" and out[-1] == ""
    assert [row.split(",")[0][5:] for row in out[1:-1]] == [row.split(",")[-1] for row in out[1:-1]]


def test_json_rows_get_the_kept_names_as_keys(reader: TelemetryReader) -> None:
    """--format json: every row has the kept names as string keys, after ours."""
    parsed, resolution = resolved(reader, "payment_id,amount,status\npym_a,42,paid\n")
    rows = orjson.loads(
        with_kept_json(results_json(resolution.results), kept_rows(parsed, resolution))
    )
    assert list(rows[0])[-2:] == ["amount", "input_status"]
    assert (rows[0]["status"], rows[0]["amount"], rows[0]["input_status"]) == (
        "found",
        "42",
        "paid",
    )


def test_nothing_to_keep_leaves_outputs_unchanged(reader: TelemetryReader) -> None:
    """A plain list: no kept rows, and the outputs are exactly the usual ones."""
    parsed, resolution = resolved(reader, "pym_a\npym_b\n")
    assert kept_rows(parsed, resolution) is None
    assert with_kept_csv(results_csv(resolution), None) == results_csv(resolution)
    body = results_json(resolution.results)
    assert with_kept_json(body, None) is body


def test_mismatched_rows_are_refused() -> None:
    """Kept cells for another resolution's rows are a bug, never a shifted CSV."""
    kept = KeptRows(("note",), [("a",)])
    with pytest.raises(ValueError, match="rows"):
        with_kept_csv(f"{HEADER}\r\n", kept)
