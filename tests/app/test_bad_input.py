"""Bad input, pasted, uploaded or stored, against a real redis-server.

Pastes and files go through the Bulk page (AppTest: the text area and the file
uploader, results read from the CSV download) and ``python -m telemetry
resolve FILE`` (a subprocess): each case has one expected outcome, a specific
message or exact rows, and both channels must agree. Stored data that is not a
record goes through Lookup, Bulk, Summary, the library and the CLI: counted
invalid with its reason, or read correctly — never a traceback.
"""

from __future__ import annotations

import codecs
import csv
import io
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from apptest_support import (
    capture_downloads,
    download_bytes,
    make_app,
    metrics,
    no_exception,
    page_text,
    use_redis,
)
from cli_process import python_m
from redis_server import RedisServer
from telemetry import CSV_HEADER, Settings, connect, summarize
from telemetry.reader import TelemetryReader

BULK = "pages/bulk.py"
TTL = 1_209_600
CSV_NAME = "run-lookup-results.csv"
NOT_FOUND = "not_found"
FOUND = "found"
INVALID_ID = "invalid_id"
IGNORED = "ignored"  # a word with no '_' and no digit (contract §7): never looked up

# --------------------------------------------------------------------------- helpers


def csv_rows(text: str, *, kept_columns: bool = False) -> list[list[str]]:
    """The data rows of a results CSV; with ``kept_columns`` (the app keeps a table's other
    columns after ours, contract §8) only our ten columns of each."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    width = len(CSV_HEADER)
    if kept_columns:
        rows = [row[:width] for row in rows]
    assert rows[0] == list(CSV_HEADER)
    return rows[1:]


def put(client: redis.Redis, key: str, value: Any) -> None:
    client.set(key, value if isinstance(value, bytes) else orjson.dumps(value), ex=TTL)


@pytest.fixture
def seeded(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    redis_server: RedisServer,
    redis_client: redis.Redis,
) -> RedisServer:
    """The emptied session server, real mode, holding the records the paste cases hit."""
    use_redis(monkeypatch, tmp_path, redis_server.url)
    for entity_type, entity_id in (
        ("payment", "pym_ok1"),
        ("payment", "pym_ok2"),
        ("invoice", "inv_ok3"),
        ("payment", "pym_[ab]*"),  # a literal key full of glob characters
    ):
        put(redis_client, f"telemetry:{entity_type}:{entity_id}", {"runId": "run_ok"})
    return redis_server


# --------------------------------------------------------------------------- paste/upload


@dataclass(frozen=True)
class Case:
    """One bad input: its bytes, and either the rows it resolves to or its message."""

    data: bytes
    rows: list[tuple[str, str]] | None = None  # (query, status), in output order
    message: str | None = None
    paste: bool = True  # the text area can hold it (UTF-8 text without a BOM)
    file_name: str = "ids.txt"
    column_options: list[str] | None = None  # the ID-column picker's options, if a table


def _ids(n: int) -> list[str]:
    return [f"pym_{i:021d}" for i in range(n)]


_GARBAGE = random.Random(1).randbytes(8_192)
_HIGH_GARBAGE = bytes(b | 0x80 for b in _GARBAGE)  # no NULs, no ASCII: mostly invalid UTF-8
_TABLE = "payment_id,amount\r\npym_ok1,10\r\npym_ok2,20\r\ninv_missing,30\r\n"
_TABLE_ROWS = [("pym_ok1", FOUND), ("pym_ok2", FOUND), ("inv_missing", NOT_FOUND)]
_LONG_TOKEN = "a" * 1_000_000
_LONG_LINE_IDS = [f"pym_line{i}" for i in range(20_000)]

CASES: dict[str, Case] = {
    "empty": Case(b"", rows=[]),
    "whitespace-only": Case("  \r\n\t\n \u00a0\n".encode(), rows=[]),
    "separators-only": Case(b" , ;\n|\t,,\n", rows=[]),
    "100001-ids": Case(
        "\n".join(_ids(100_001)).encode(),
        message="100,001 unique IDs pasted; the limit is 100,000 per request — split the list",
    ),
    "10mb-of-unique-ids": Case(
        "\n".join(_ids(400_000)).encode(),
        message="400,000 unique IDs pasted; the limit is 100,000 per request — split the list",
        paste=False,
    ),
    "10mb-of-duplicates": Case(
        b"pym_ok1,pym_ok2,inv_missing\n" * 380_000,
        rows=[("pym_ok1", FOUND), ("pym_ok2", FOUND), ("inv_missing", NOT_FOUND)],
        paste=False,
    ),
    "binary-garbage": Case(_GARBAGE, message="this file looks binary (", paste=False),
    "binary-garbage-without-nuls": Case(
        _HIGH_GARBAGE, message="of its bytes are neither ASCII nor UTF-8", paste=False
    ),
    "png-named-csv": Case(
        b"\x89PNG\r\n\x1a\n" + _GARBAGE[:200],
        message="this file looks binary (a PNG image)",
        paste=False,
        file_name="ids.csv",
    ),
    "utf16-csv-with-bom": Case(
        _TABLE.encode("utf-16"),
        rows=_TABLE_ROWS,
        paste=False,
        file_name="export.csv",
        column_options=["payment_id", "amount"],
    ),
    "utf16be-csv-without-bom": Case(
        _TABLE.encode("utf-16-be"),
        rows=_TABLE_ROWS,
        paste=False,
        file_name="export.csv",
        column_options=["payment_id", "amount"],
    ),
    "utf8-bom-csv": Case(
        codecs.BOM_UTF8 + _TABLE.encode(),
        rows=_TABLE_ROWS,
        paste=False,
        file_name="export.csv",
        column_options=["payment_id", "amount"],
    ),
    "windows-line-endings": Case(
        b"pym_ok1\r\npym_ok2\r\n\r\ninv_missing\r\n",
        rows=[("pym_ok1", FOUND), ("pym_ok2", FOUND), ("inv_missing", NOT_FOUND)],
    ),
    "csv-with-no-id-column": Case(
        b"name,amount,city\nalice,10,paris\nbob,20,rome\n",
        rows=[("name", IGNORED), ("alice", IGNORED), ("bob", IGNORED)],
        file_name="people.csv",
        column_options=["column 1", "column 2", "column 3"],
    ),
    "csv-with-unnamed-id-column": Case(
        b"ref,amount\npym_ok1,10\npym_ok2,20\ninv_missing,5\n",
        rows=[("pym_ok1", FOUND), ("pym_ok2", FOUND), ("inv_missing", NOT_FOUND)],
        file_name="refs.csv",
        column_options=["ref", "amount"],
    ),
    "one-megabyte-token": Case(
        _LONG_TOKEN.encode(), rows=[("a" * 80 + "…", INVALID_ID)], file_name="long.txt"
    ),
    "one-long-line-of-20000-ids": Case(
        ",".join(["pym_ok1", *_LONG_LINE_IDS, "pym_ok2"]).encode(),
        rows=[("pym_ok1", FOUND)] + [(i, NOT_FOUND) for i in _LONG_LINE_IDS] + [("pym_ok2", FOUND)],
    ),
    "unicode-look-alikes": Case(
        "рym_ok1\npym_οk2\nｐｙｍ＿ok1\npym_ok1\u00a0pym_ok2\n“inv_ok3”\npym_\u200bok1\n".encode(),
        rows=[
            ("рym_ok1", INVALID_ID),
            ("pym_οk2", INVALID_ID),
            ("ｐｙｍ＿ok1", INVALID_ID),
            ("pym_ok1", FOUND),
            ("pym_ok2", FOUND),
            ("inv_ok3", FOUND),
        ],
    ),
    "glob-characters": Case(
        b"pym_*\npym_?k1\npym_[ab]*\n*\ntelemetry:payment:*\npym_ok[12]\n",
        rows=[
            ("pym_*", NOT_FOUND),
            ("pym_?k1", NOT_FOUND),
            ("pym_[ab]*", FOUND),  # the literal key, and only it
            ("*", IGNORED),
            ("telemetry:payment:*", NOT_FOUND),
            ("pym_ok[12]", NOT_FOUND),
        ],
    ),
    "control-characters": Case(
        b"pym_ok1\x07\n\x1b[31mpym_ok2\npym_ok2\ninv_ok3\n",
        rows=[
            ("pym_ok1\\x07", INVALID_ID),
            ("\\x1b[31mpym_ok2", INVALID_ID),
            ("pym_ok2", FOUND),
            ("inv_ok3", FOUND),
        ],
    ),
}
# Details that must be specific, by (case, query).
DETAILS = {
    (
        "one-megabyte-token",
        "a" * 80 + "…",
    ): "token is 1,000,000 characters long; IDs are at most 256",
    ("unicode-look-alikes", "рym_ok1"): "contains non-ASCII character 'р' (U+0440 CYRILLIC SMALL "
    "LETTER ER); IDs are plain ASCII",
    ("unicode-look-alikes", "pym_οk2"): "(U+03BF GREEK SMALL LETTER OMICRON)",
    ("unicode-look-alikes", "ｐｙｍ＿ok1"): "(U+FF50 FULLWIDTH LATIN SMALL LETTER P)",
    ("control-characters", "pym_ok1\\x07"): "contains control character U+0007",
    ("control-characters", "\\x1b[31mpym_ok2"): "contains control character U+001B",
    ("glob-characters", "pym_*"): "no key telemetry:payment:pym_*",
}
SLOW_CASES = {"100001-ids", "10mb-of-unique-ids", "10mb-of-duplicates"}


def _params() -> list[Any]:
    params = []
    for name, case in CASES.items():
        marks = [pytest.mark.slow] if name in SLOW_CASES else []
        channels = ["upload", "cli"] + (["paste"] if case.paste else [])
        params += [
            pytest.param(name, channel, id=f"{name}-{channel}", marks=marks) for channel in channels
        ]
    return params


def _check_rows(name: str, rows: list[list[str]]) -> None:
    case = CASES[name]
    assert [(row[0], row[1]) for row in rows] == case.rows
    for row in rows:
        if (name, row[0]) in DETAILS:
            assert DETAILS[(name, row[0])] in row[9]
        if row[1] == FOUND:
            assert row[4] == "run_ok"


@pytest.mark.parametrize(("name", "channel"), _params())
def test_bad_paste_or_upload(
    seeded: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    name: str,
    channel: str,
) -> None:
    """Each bad input gets its specific message, or exactly its rows — the same through the
    Bulk page's text area, its file uploader and the CLI — and never a traceback."""
    case = CASES[name]
    if channel == "cli":
        path = tmp_path / case.file_name
        path.write_bytes(case.data)
        proc = python_m("resolve", str(path), "--redis-url", seeded.url)
        err = proc.stderr.decode()
        assert "Traceback" not in err
        if case.message is not None:
            assert proc.returncode == 2
            assert proc.stdout == b""
            assert err.count("\n") == 1 and err.startswith("error: ")
            assert case.message in err
        else:
            assert (proc.returncode, err) == (0, "")
            _check_rows(name, csv_rows(proc.stdout.decode()))
        return

    downloads = capture_downloads(monkeypatch)
    at = make_app(page=BULK)
    if channel == "paste":
        at.text_area(key="bulk_text").input(case.data.decode()).run()
    else:
        at.file_uploader(key="bulk_file").set_value((case.file_name, case.data, "text/csv")).run()
    no_exception(at)
    text = page_text(at)
    if case.message is not None:
        assert case.message in text
        assert not at.dataframe
    elif case.rows == []:
        if channel == "upload":
            expected = "No IDs in the attached file: it is empty or holds only separators"
        elif case.data.decode().strip():
            expected = "No IDs in the pasted text: it is empty or holds only separators"
        else:  # nothing but whitespace is no input at all
            expected = "Paste IDs or attach a file"
        assert expected in text
        assert not at.dataframe
    else:
        _check_rows(name, csv_rows(download_bytes(downloads, CSV_NAME).decode(), kept_columns=True))
        assert len(at.dataframe[0].value) == len(case.rows or [])
        if case.column_options is not None and channel == "upload":
            assert at.selectbox[0].options == case.column_options


def test_utf8_bom_csv_header_is_clean_for_column(seeded: RedisServer, tmp_path: Path) -> None:
    """A BOM-prefixed CSV's first header is ``payment_id``, not ``\\ufeffpayment_id``: the
    CLI's ``--column payment_id`` finds it."""
    path = tmp_path / "export.csv"
    path.write_bytes(CASES["utf8-bom-csv"].data)
    proc = python_m("resolve", str(path), "--column", "payment_id", "--redis-url", seeded.url)
    assert proc.returncode == 0, proc.stderr
    _check_rows("utf8-bom-csv", csv_rows(proc.stdout.decode()))


def test_cli_table_never_prints_control_characters_raw(seeded: RedisServer) -> None:
    """``--format table`` from stdin: control characters arrive escaped, not as terminal codes."""
    proc = python_m(
        "resolve",
        "--format",
        "table",
        "--redis-url",
        seeded.url,
        stdin=CASES["control-characters"].data,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[31mpym_ok2" in out


# --------------------------------------------------------------------------- stored data

NOW_ISH = "2025-11-20T10:15:00Z"  # what every explicit-time record below means
EPOCH = 1_763_633_700  # = NOW_ISH
BIG = "x" * 1_048_576


def _string(value: Any) -> Callable[[redis.Redis, str], None]:
    return lambda client, key: put(client, key, value)


def _kind(kind: str) -> Callable[[redis.Redis, str], None]:
    def write(client: redis.Redis, key: str) -> None:
        {
            "hash": lambda: client.hset(key, "runId", "run_h"),
            "list": lambda: client.rpush(key, "run_l"),
            "set": lambda: client.sadd(key, "run_s"),
            "zset": lambda: client.zadd(key, {"run_z": 1}),
            "stream": lambda: client.xadd(key, {"runId": "run_x"}),
        }[kind]()
        client.expire(key, TTL)

    return write


@dataclass(frozen=True)
class Stored:
    key: str
    write: Callable[[redis.Redis, str], None]
    status: str
    run_id: str = ""
    detail: str = ""  # a fragment of the detail column (and of the Lookup page)
    processed_at: str | None = None  # exact, when the record says when
    reason: str | None = None  # the summary's invalid reason


def _invalid(key: str, write: Callable[[redis.Redis, str], None], reason: str) -> Stored:
    return Stored(key, write, "invalid_record", detail=reason, reason=reason)


def _found(
    key: str, value: dict[str, Any], processed_at: str | None = None, detail: str = ""
) -> Stored:
    return Stored(key, _string(value), FOUND, str(value["runId"]), detail, processed_at)


STORED = [
    _invalid("telemetry:payment:pym_notjson", _string(b"{oops"), "value is not JSON"),
    _invalid("telemetry:payment:pym_binary", _string(bytes(range(256))), "value is not JSON"),
    _invalid("telemetry:payment:pym_bigbad", _string(BIG.encode()), "value is not JSON"),
    _invalid(
        "telemetry:payment:pym_array", _string(b"[1, 2]"), "value is JSON an array, not an object"
    ),
    _invalid(
        "telemetry:payment:pym_jsonstr",
        _string(b'"run_x"'),
        "value is JSON a string, not an object",
    ),
    _invalid(
        "telemetry:payment:pym_number", _string(b"42"), "value is JSON a number, not an object"
    ),
    _invalid("telemetry:payment:pym_null", _string(b"null"), "value is JSON null, not an object"),
    _invalid("telemetry:payment:pym_norun", _string({"entityId": "pym_norun"}), "no runId field"),
    _invalid(
        "telemetry:payment:pym_runnum", _string({"runId": 42}), "runId is a number, not a string"
    ),
    _invalid(
        "telemetry:payment:pym_runnull", _string({"runId": None}), "runId is null, not a string"
    ),
    _invalid(
        "telemetry:payment:pym_runobj",
        _string({"runId": {"id": "run_1"}}),
        "runId is an object, not a string",
    ),
    _invalid("telemetry:payment:pym_runempty", _string({"runId": ""}), "runId is empty"),
    *(
        _invalid(
            f"telemetry:payment:pym_{kind}", _kind(kind), f"key holds a Redis {kind}, not a string"
        )
        for kind in ("hash", "list", "set", "zset", "stream")
    ),
    _found("telemetry:payment:pym_huge", {"runId": "run_huge", "metadata": {"blob": BIG}}),
    _found("telemetry:payment:pym_tsint", {"runId": "run_t1", "timestamp": EPOCH}, NOW_ISH),
    _found("telemetry:payment:pym_tsms", {"runId": "run_t2", "timestamp": EPOCH * 1000}, NOW_ISH),
    _found("telemetry:payment:pym_tsdigits", {"runId": "run_t3", "timestamp": str(EPOCH)}, NOW_ISH),
    _found(
        "telemetry:payment:pym_tsoffset",
        {"runId": "run_t4", "timestamp": "2025-11-20T12:15:00+02:00"},
        NOW_ISH,
    ),
    _found(
        "telemetry:payment:pym_tsnaive",
        {"runId": "run_t5", "timestamp": "2025-11-20T10:15:00"},
        NOW_ISH,
    ),
    _found(
        "telemetry:payment:pym_tsspace",
        {"runId": "run_t6", "timestamp": "2025-11-20 10:15:00Z"},
        NOW_ISH,
    ),
    _found(
        "telemetry:payment:pym_tswords",
        {"runId": "run_t7", "timestamp": "yesterday"},
        detail="timestamp 'yesterday' is not a date",
    ),
    _found(
        "telemetry:payment:pym_tsobject",
        {"runId": "run_t8", "timestamp": {"at": 1}},
        detail="timestamp \"{'at': 1}\" is not a date",
    ),
    _found(
        "telemetry:payment:pym_tsfuture",
        {"runId": "run_t9", "timestamp": "2999-01-01T00:00:00Z"},
        "2999-01-01T00:00:00Z",
        "timestamp is in the future",
    ),
    _found(
        "telemetry:payment:pym_tsoverflow",
        {"runId": "run_t10", "timestamp": "0001-01-01T00:00:00+01:00"},
        detail="is not a date",
    ),
    _found(
        "telemetry:payment:pym_tsancient",
        {"runId": "run_t11", "timestamp": "0099-06-01T00:00:00Z"},
        "0099-06-01T00:00:00Z",
    ),
    _found(
        "telemetry:payment:pym_tsbig",
        {"runId": "run_t12", "timestamp": 1e300},
        detail="is not a date",
    ),
    _found("telemetry:refund:rf_1", {"runId": "run_rf1", "organizationId": "org_r"}),
]
# How each stored key is typed into Lookup and Bulk: the full key works for any type.
QUERIES = [s.key.removeprefix("telemetry:payment:") for s in STORED]
EXTRA_INVALID = {"telemetry:Bad Type:x": "key is not telemetry:<entity_type>:<entity_id>"}


@pytest.fixture
def stored(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    redis_server: RedisServer,
    redis_client: redis.Redis,
) -> RedisServer:
    use_redis(monkeypatch, tmp_path, redis_server.url)
    for item in STORED:
        item.write(redis_client, item.key)
    for key in EXTRA_INVALID:
        put(redis_client, key, {"runId": "run_bad_key"})
    return redis_server


def _check_stored_rows(rows: list[list[str]]) -> None:
    assert [row[0] for row in rows] == QUERIES
    for row, item in zip(rows, STORED, strict=True):
        assert (row[1], row[4]) == (item.status, item.run_id), item.key
        assert item.detail in row[9], (item.key, row[9])
        if item.processed_at is not None:
            assert row[7] == item.processed_at, item.key
        if item.status == FOUND:
            assert row[8].endswith("Z"), item.key  # expires_at from the TTL
    refund = rows[-1]
    assert (refund[2], refund[3], refund[6]) == ("refund", "rf_1", "org_r")


def test_stored_bad_data_through_the_cli(stored: RedisServer, tmp_path: Path) -> None:
    """``resolve``: every bad record is ``invalid_record`` with its reason or read correctly;
    ``summary``: counted — the unregistered type shown as it is."""
    path = tmp_path / "ids.txt"
    path.write_text("\n".join(QUERIES))
    proc = python_m("resolve", str(path), "--redis-url", stored.url)
    assert (proc.returncode, proc.stderr) == (0, b"")
    _check_stored_rows(csv_rows(proc.stdout.decode()))

    proc = python_m("summary", "--since", "all", "--format", "json", "--redis-url", stored.url)
    assert (proc.returncode, proc.stderr) == (0, b"")
    body = orjson.loads(proc.stdout)
    valid = sum(item.status == FOUND for item in STORED)
    assert (body["complete"], body["records"]) == (True, valid)
    assert body["invalid_records"] == len(STORED) - valid + len(EXTRA_INVALID)
    assert body["scanned_keys"] == len(STORED) + len(EXTRA_INVALID)
    groups = {(g["entity_type"], g["organization_id"]): g["records"] for g in body["groups"]}
    assert groups == {("payment", None): valid - 1, ("refund", "org_r"): 1}
    latest = {g["entity_type"]: g["latest_processed_at"] for g in body["groups"]}
    assert latest["payment"] == "2999-01-01T00:00:00Z"


def test_stored_bad_data_through_the_library_summary(stored: RedisServer) -> None:
    """The summary's invalid reasons, exactly; the future and unreadable timestamps counted."""
    settings = Settings.load(redis_url=stored.url)
    summary = summarize(TelemetryReader(connect(settings), settings))
    expected = Counter(item.reason for item in STORED if item.reason) + Counter(
        EXTRA_INVALID.values()
    )
    assert summary.invalid_reasons == expected
    assert summary.records == sum(item.status == FOUND for item in STORED)
    assert summary.complete
    example = next(e for e in summary.invalid_examples if e.key.endswith("pym_bigbad"))
    assert example.raw == "x" * 200 + "…"


def test_stored_bad_data_through_the_bulk_page(
    stored: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same rows on the Bulk page (its CSV download), counted in its metrics."""
    downloads = capture_downloads(monkeypatch)
    at = make_app(page=BULK)
    at.text_area(key="bulk_text").input("\n".join(QUERIES)).run()
    no_exception(at)
    _check_stored_rows(csv_rows(download_bytes(downloads, CSV_NAME).decode()))
    invalid = sum(item.status == "invalid_record" for item in STORED)
    assert metrics(at)["Invalid"] == str(invalid)
    assert metrics(at)["Found"] == str(len(STORED) - invalid)


def test_stored_bad_data_through_the_lookup_page(stored: RedisServer) -> None:
    """Each bad record on the Lookup page: its reason, or its run — never a traceback."""
    at = make_app()
    for query, item in zip(QUERIES, STORED, strict=True):
        at.text_input(key="id").input(query).run()
        no_exception(at)
        text = page_text(at)
        if item.status == FOUND:
            assert "Found" in text, query
            assert [b.proto.url for b in at.link_button] == [
                f"https://cloud.trigger.dev/runs/{item.run_id}"
            ], query
        else:
            assert f"**Invalid record** at `{item.key}` — {item.reason}" in text, query
        if item.detail:
            assert item.detail in text, query


def test_stored_bad_data_through_the_summary_page(stored: RedisServer) -> None:
    """The Summary page over every window: the invalid reasons table, the unregistered type
    and the far-future record, no traceback."""
    at = make_app(page="pages/summary.py")
    no_exception(at)
    at.segmented_control(key="summary_window").set_value("all").run()
    no_exception(at)
    valid = sum(item.status == FOUND for item in STORED)
    assert metrics(at)["Records"] == str(valid)
    assert metrics(at)["Invalid records"] == str(len(STORED) - valid + len(EXTRA_INVALID))
    assert "refund" in at.multiselect(key="summary_types").options
    for tab in ("Over time", "Type × organization", "Invalid records"):
        at.session_state["summary_tab"] = tab
        at.run()
        no_exception(at)
    reasons = at.dataframe[0].value
    expected = Counter(item.reason for item in STORED if item.reason) + Counter(
        EXTRA_INVALID.values()
    )
    assert dict(zip(reasons["reason"], reasons["records"], strict=True)) == expected
    for window in ("1h", "24h", "7d"):
        at.segmented_control(key="summary_window").set_value(window).run()
        no_exception(at)
