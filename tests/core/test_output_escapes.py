"""Record bytes never reach a terminal or a spreadsheet as commands (issue #12, items 5 and 9).

Every CSV cell, table cell and JSON string shows C0/C1 control characters and
DEL escaped (``\\x1b``, ``\\n``, ``\\x9b``), whether stdout is a terminal or a
pipe; a formula trigger after ``;``, ``,`` or a tab inside a cell gets a ``'``
like a leading one, and a cell holding ``;`` is quoted. The CLI tests put hostile
records in a real Redis and read the real ``python -m telemetry`` output from a
pseudo-terminal and from a pipe.
"""

from __future__ import annotations

import csv
import io
import os
import pty
import select
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

# _COLUMNS_FROM and _safe_cells on purpose: the column-wise CSV path is compared with csv_safe.
from telemetry.export import (
    _COLUMNS_FROM,
    _safe_cells,
    csv_safe,
    escape_controls,
    json_bytes,
    results_csv,
    results_json,
    results_table,
    write_csv,
)
from telemetry.models import CSV_HEADER, Result, Status
from telemetry.reader import Resolution

ROOT = Path(__file__).resolve().parents[2]

COLOUR = "\x1b[31mred\x1b[0m"
HYPERLINK = "\x1b]8;;http://evil\x07text\x1b]8;;\x07"
CLEAR = "\x1b[2J"

# (cell, what csv_safe gives): control characters escaped, formula starts neutralised.
CELLS = {
    "colour-codes": (COLOUR, "\\x1b[31mred\\x1b[0m"),
    "osc8-hyperlink": (HYPERLINK, "\\x1b]8;;http://evil\\x07text\\x1b]8;;\\x07"),
    "screen-clear": ("run_" + CLEAR + "abc", "run_\\x1b[2Jabc"),
    "c1-csi": ("a\x9b31mb", "a\\x9b31mb"),
    "c1-nel": ("a\x85b", "a\\x85b"),
    "bell": ("ding\x07", "ding\\x07"),
    "backspace": ("abc\x08\x08\x08xyz", "abc\\x08\\x08\\x08xyz"),
    "nul": ("a\x00b", "a\\x00b"),
    "del": ("a\x7fb", "a\\x7fb"),
    "lf-inside": ("line one\nline two", "line one\\nline two"),
    "crlf-inside": ("line one\r\nline two", "line one\\r\\nline two"),
    "tab-inside": ("a\tb", "a\\tb"),
    "unicode-line-separator": ("a\u2028b", "a\\u2028b"),
    "bidi-override": ("abc\u202edcba", "abc\\u202edcba"),
    "leading-tab": ("\tTAB", "'\\tTAB"),
    "leading-cr": ("\rCR", "'\\rCR"),
    "leading-equals": ("=1+1", "'=1+1"),
    "equals-after-semicolon": ("acme;=2+3", "acme;'=2+3"),
    "equals-after-comma": ("a,=1", "a,'=1"),
    "at-after-tab": ("a\t@x", "a\\t'@x"),
    "minus-after-semicolon-and-space": ("x; -1", "x;' -1"),
    "plus-after-comma-and-spaces": ("x,   +1", "x,'   +1"),
    "every-formula-start": ("=1;=2,+3\t-4", "'=1;'=2,'+3\\t'-4"),
    "dde-payload-after-comma": ("ok,-1+cmd|' /C calc'!A0", "ok,'-1+cmd|' /C calc'!A0"),
    "json-negative-after-comma": ("[1,-2]", "[1,'-2]"),
    "plain-id": ("pym_123", "pym_123"),
    "run-id": ("run_cm3abc0000xyz", "run_cm3abc0000xyz"),
    "iso-time": ("2026-11-20T10:15:00Z", "2026-11-20T10:15:00Z"),
    "iso-time-millis": ("2026-11-20T10:15:00.123Z", "2026-11-20T10:15:00.123Z"),
    "url": ("https://cloud.trigger.dev/runs/run_abc", "https://cloud.trigger.dev/runs/run_abc"),
    "hyphen-inside": ("billing-run-1", "billing-run-1"),
    "equals-inside": ("a=b", "a=b"),
    "json-negative-after-colon": ('{"delta":-5}', '{"delta":-5}'),
    "json-object-commas": ('{"a":1,"b":-5}', '{"a":1,"b":-5}'),
    "semicolon-then-word": ("acme; ltd", "acme; ltd"),
    "not-found-detail": (
        "no key telemetry:payment:pym_1: never processed, or expired after the 14 d TTL",
        "no key telemetry:payment:pym_1: never processed, or expired after the 14 d TTL",
    ),
    "already-escaped-text": ("pym_\\x9b1", "pym_\\x9b1"),
    "non-ascii-letters": ("Zürich Ünïcode 東京", "Zürich Ünïcode 東京"),
    "no-break-space": ("Acme\u00a0GmbH", "Acme\u00a0GmbH"),
    "emoji-zwj": ("team \U0001f469\u200d\U0001f4bb", "team \U0001f469\u200d\U0001f4bb"),
    "empty": ("", ""),
    "none": (None, ""),
}


@pytest.mark.parametrize(("cell", "expected"), CELLS.values(), ids=CELLS.keys())
def test_csv_cell(cell: object, expected: str) -> None:
    """Each cell comes out with controls escaped and every formula start neutralised, no more."""
    assert csv_safe(cell) == expected


ESCAPES = {
    "esc": ("\x1b", "\\x1b"),
    "bel": ("\x07", "\\x07"),
    "nul": ("\x00", "\\x00"),
    "lf": ("\n", "\\n"),
    "cr": ("\r", "\\r"),
    "tab": ("\t", "\\t"),
    "del": ("\x7f", "\\x7f"),
    "c1-first": ("\x80", "\\x80"),
    "c1-csi": ("\x9b", "\\x9b"),
    "c1-last": ("\x9f", "\\x9f"),
    "line-separator": ("\u2028", "\\u2028"),
    "paragraph-separator": ("\u2029", "\\u2029"),
    "bidi-isolate": ("\u2066", "\\u2066"),
    "printable-ascii": (" ~!\"#'\\", " ~!\"#'\\"),
    "latin-1-letter": ("\xa0é", "\xa0é"),
}


@pytest.mark.parametrize(("text", "expected"), ESCAPES.values(), ids=ESCAPES.keys())
def test_escape_controls(text: str, expected: str) -> None:
    """The one escape function: Python-literal notation for controls, everything else as is."""
    assert escape_controls(text) == expected


def test_every_c0_c1_and_del_is_escaped() -> None:
    """No code point of C0, DEL or C1 survives escape_controls or csv_safe."""
    controls = "".join(map(chr, [*range(0x20), *range(0x7F, 0xA0)]))
    for text in (escape_controls(controls), csv_safe("x" + controls)):
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)
    assert escape_controls(controls).count("\\") == len(controls)


def test_plain_cell_shortcuts_agree_with_csv_safe_for_every_code_point() -> None:
    """The row and column paths' quick tests never let a character through that csv_safe changes."""
    cells = [f"a{chr(code)}b" for code in range(0x10000)]
    expected = [csv_safe(cell) for cell in cells]
    quoted = [
        '"' + c.replace('"', '""') + '"' if "," in c or ";" in c or '"' in c else c
        for c in expected
    ]
    assert write_csv(["h"], [[cell] for cell in cells]) == "".join(
        f"{line}\r\n" for line in ["h", *quoted]
    )
    assert _safe_cells(cells) == quoted
    assert _safe_cells(["pym_1", "=x", None, "-1", ""]) == ["pym_1", "'=x", "", "'-1", ""]


def test_json_escapes_what_escape_controls_escapes() -> None:
    """JSON writes each character escape_controls escapes as \\uXXXX, losslessly."""
    escaped = [chr(c) for c in range(0xD800) if escape_controls(chr(c)) != chr(c)]
    assert len(escaped) == 32 + 1 + 32 + 2 + 5 + 4
    body = json_bytes(escaped)
    assert body.isascii()
    assert orjson.loads(body) == escaped
    assert json_bytes(["é–…€ü"]) == orjson.dumps(["é–…€ü"], option=orjson.OPT_INDENT_2)


def test_table_escapes_like_csv() -> None:
    """The terminal table shows a hostile cell in the same notation as the CSV."""
    table = results_table(
        [Result(query="pym_1", status=Status.FOUND, run_id=HYPERLINK, organization_id=COLOUR)]
    )
    assert escape_controls(HYPERLINK) in table and escape_controls(COLOUR) in table
    assert not any((ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F for c in table)


def test_write_csv_hostile_rows_exact_bytes() -> None:
    """A table of hostile cells: escaped, neutralised, ';' cells quoted, CRLF rows, header as is."""
    text = write_csv(
        ("name", "note"),
        [
            ("acme;=2+3", COLOUR),
            (HYPERLINK, "line one\r\nline two"),
            ("a,=1", "x\x9by\x7f\x00\x08"),
            ("=1+1", 'say "hi"; =2'),
            ("acme; ltd", "2026-11-20T10:15:00Z"),
        ],
    )
    assert text == (
        "name,note\r\n"
        '"acme;\'=2+3",\\x1b[31mred\\x1b[0m\r\n'
        '"\\x1b]8;;http://evil\\x07text\\x1b]8;;\\x07",line one\\r\\nline two\r\n'
        '"a,\'=1",x\\x9by\\x7f\\x00\\x08\r\n'
        '\'=1+1,"say ""hi"";\' =2"\r\n'
        '"acme; ltd",2026-11-20T10:15:00Z\r\n'
    )


def _hostile_results() -> list[Result]:
    return [
        Result(
            query="pym_evil1",
            status=Status.FOUND,
            entity_type="payment",
            entity_id="pym_evil1",
            run_id="run_" + CLEAR + "abc",
            run_url="https://cloud.trigger.dev/runs/run_%1B%5B2Jabc",
            organization_id="acme;=2+3",
            processed_at=datetime(2026, 11, 20, 10, 15, tzinfo=UTC),
            expires_at=datetime(2026, 12, 4, 10, 15, tzinfo=UTC),
        ),
        Result(
            query="pym_evil2",
            status=Status.FOUND,
            entity_type="payment",
            entity_id="pym_evil2",
            run_id="run_ok",
            organization_id=HYPERLINK,
            processed_at=datetime(2026, 11, 20, 10, 16, tzinfo=UTC),
            detail="note\x9b2J\r\n=1",
        ),
    ]


HOSTILE_CSV = (
    ",".join(CSV_HEADER) + "\r\n"
    "pym_evil1,found,payment,pym_evil1,run_\\x1b[2Jabc,"
    'https://cloud.trigger.dev/runs/run_%1B%5B2Jabc,"acme;\'=2+3",'
    "2026-11-20T10:15:00Z,2026-12-04T10:15:00Z,\r\n"
    "pym_evil2,found,payment,pym_evil2,run_ok,,"
    '"\\x1b]8;;http://evil\\x07text\\x1b]8;;\\x07",2026-11-20T10:16:00Z,,note\\x9b2J\\r\\n=1\r\n'
)


def test_results_csv_hostile_records_exact_bytes() -> None:
    """The resolve CSV of hostile records, byte for byte."""
    assert results_csv(_hostile_results()) == HOSTILE_CSV


def test_column_path_escapes_like_the_row_path() -> None:
    """A large Resolution (written column by column) gives the same bytes as the row path."""
    count = _COLUMNS_FROM // 2 + 1
    many = Resolution(_hostile_results() * count)
    assert len(many.rows) >= _COLUMNS_FROM
    by_rows = write_csv(CSV_HEADER, many.csv_rows())
    assert results_csv(many) == by_rows
    assert by_rows == ",".join(CSV_HEADER) + "\r\n" + HOSTILE_CSV.split("\r\n", 1)[1] * count


def test_hostile_csv_parses_back_to_the_escaped_cells() -> None:
    """A CSV reader, split on ',' or on ';', never sees a control character or a formula start."""
    text = results_csv(_hostile_results())
    for delimiter in (",", ";"):
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            for cell in row:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
                assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in cell), cell


def test_results_json_escapes_c1_and_del_losslessly() -> None:
    """JSON bytes hold no raw C0, C1 or DEL, and parse back to the very same strings."""
    result = Result(
        query="q", status=Status.FOUND, run_id="run_\x9b\x7f" + COLOUR, metadata={"x": HYPERLINK}
    )
    body = results_json([result])
    text = body.decode()
    assert not any((ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F for c in text)
    assert "\\u009b\\u007f\\u001b[31m" in text
    data = orjson.loads(body)
    assert data[0]["run_id"] == result.run_id
    assert data[0]["metadata"] == {"x": HYPERLINK}


# -- the real CLI on a terminal and through a pipe ----------------------------------

HOSTILE_RECORDS = {
    "telemetry:payment:pym_evil1": {
        "runId": "run_abc",
        "organizationId": "acme;=2+3",
        "timestamp": "2026-11-20T10:15:00Z",
        "metadata": {"note": COLOUR, "link": HYPERLINK, "clear": CLEAR, "c1": "\x9b31m"},
    },
    "telemetry:payment:pym_evil2": {
        "runId": "run_" + CLEAR + "x\x07",
        "organizationId": HYPERLINK,
        "timestamp": "2026-11-20T10:16:00Z",
        "metadata": {"del": "\x7f", "backspace": "\x08"},
    },
    "telemetry:invoice:inv_evil3": {
        "runId": "run_c1\x9b2J\x85",
        "organizationId": "org_" + COLOUR + "\x9b",
        "timestamp": "2026-11-20T10:17:00Z",
    },
}
IDS = "pym_evil1\npym_evil2\ninv_evil3\npym_\x1b[31mbad\n"

# (argv after the command, text that must appear, escaped)
COMMANDS = {
    "resolve-csv": (
        ["resolve", "{ids}"],
        ['"acme;\'=2+3"', "run_\\x1b[2Jx\\x07", "\\x1b]8;;http://evil\\x07text", "\\x9b2J\\x85"],
    ),
    "resolve-table": (
        ["resolve", "{ids}", "--format", "table"],
        ["acme;=2+3", "run_\\x1b[2Jx\\x07", "\\x1b]8;;http://evil\\x07text", "\\x9b2J\\x85"],
    ),
    "resolve-json": (
        ["resolve", "{ids}", "--format", "json"],
        ["\\u001b[31mred", "\\u009b31m", "\\u001b]8;;http://evil\\u0007text", "\\u007f"],
    ),
    "summary-csv": (
        ["summary", "--since", "all"],
        ['"acme;\'=2+3"', "\\x1b]8;;http://evil\\x07text", "org_\\x1b[31mred\\x1b[0m\\x9b"],
    ),
    "summary-json": (
        ["summary", "--since", "all", "--format", "json"],
        ["acme;=2+3", "\\u001b]8;;http://evil\\u0007text", "\\u001b[0m\\u009b"],
    ),
}


@pytest.fixture
def hostile(redis_client: Any, tmp_path: Path) -> dict[str, str]:
    """Hostile records in the real test Redis, and a file of IDs that reads them."""
    for key, record in HOSTILE_RECORDS.items():
        redis_client.set(key, orjson.dumps(record), ex=3600)
    ids = tmp_path / "ids.txt"
    ids.write_bytes(IDS.encode())
    return {"ids": str(ids)}


def _on_pipe(argv: list[str]) -> bytes:
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _on_terminal(argv: list[str]) -> bytes:
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE
        )
        os.close(slave)
        slave = -1
        chunks = []
        while select.select([master], [], [], 60)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal's last writer
                break
            if not chunk:
                break
            chunks.append(chunk)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        return b"".join(chunks)
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


def _assert_no_raw_controls(out: bytes) -> None:
    text = out.decode("utf-8")
    assert b"\x1b" not in out
    assert b"\x07" not in out
    assert b"\x7f" not in out
    assert not [c for c in text if 0x80 <= ord(c) <= 0x9F]
    assert not [c for c in text if ord(c) < 0x20 and c not in "\r\n"]


@pytest.mark.parametrize("transport", ["terminal", "pipe"])
@pytest.mark.parametrize(("args", "escaped"), COMMANDS.values(), ids=COMMANDS.keys())
def test_cli_never_writes_raw_controls(
    hostile: dict[str, str],
    redis_server: Any,
    transport: str,
    args: list[str],
    escaped: list[str],
) -> None:
    """Hostile records reach a terminal or a pipe escaped: no raw ESC, BEL, DEL or C1 byte."""
    argv = [sys.executable, "-m", "telemetry", *(a.format(**hostile) for a in args)]
    argv += ["--redis-url", redis_server.url]
    out = (_on_terminal if transport == "terminal" else _on_pipe)(argv)
    _assert_no_raw_controls(out)
    text = out.decode("utf-8")
    for piece in escaped:
        assert piece in text
