"""telemetry.ids: every paste shape becomes ordered, de-duplicated queries."""

from __future__ import annotations

import codecs
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telemetry.errors import InputFormatError, InputTooLargeError
from telemetry.ids import ParsedIds, Query, decode_text, parse_ids
from telemetry.registry import DEFAULT_ENTITY_TYPES, EntityRegistry

REGISTRY = EntityRegistry()

Row = tuple[str, str | None, str, str]


def rows(parsed: ParsedIds) -> list[Row]:
    """(text, entity_type, entity_id, error up to its first ';') for every query, in order."""
    return [(q.text, q.entity_type, q.entity_id, q.error.split(";")[0]) for q in parsed.queries]


def ok(entity_id: str) -> Row:
    return (entity_id, None, entity_id, "")


def typed(text: str, entity_type: str, entity_id: str) -> Row:
    return (text, entity_type, entity_id, "")


def bad(text: str, error: str, entity_type: str | None = None) -> Row:
    return (text, entity_type, "", error)


def counts(parsed: ParsedIds) -> tuple[int, int, int, int]:
    """(tokens, duplicates, unique, invalid)."""
    return (parsed.tokens, parsed.duplicates, parsed.unique, parsed.invalid)


# --------------------------------------------------------------------------- paste shapes

SHAPES = [
    ("bare", "pym_123", [ok("pym_123")], 1),
    ("quoted-trailing-comma", '"pym_123",', [ok("pym_123")], 1),
    ("single-quoted", "'pym_123'", [ok("pym_123")], 1),
    ("explicit-type", "payment:pym_123", [typed("payment:pym_123", "payment", "pym_123")], 1),
    (
        "redis-key",
        "telemetry:payment:pym_123",
        [typed("telemetry:payment:pym_123", "payment", "pym_123")],
        1,
    ),
    (
        "redis-key-unknown-type-kept",
        "telemetry:refund:re_1",
        [typed("telemetry:refund:re_1", "refund", "re_1")],
        1,
    ),
    ("namespace-without-type", "telemetry:pym_1", [("telemetry:pym_1", None, "pym_1", "")], 1),
    ("unknown-head-is-part-of-id", "refund:re_1", [ok("refund:re_1")], 1),
    ("id-with-colons", "pym_1:2:3", [ok("pym_1:2:3")], 1),
    (
        "key-id-with-colons",
        "telemetry:webhook:event_1:retry",
        [typed("telemetry:webhook:event_1:retry", "webhook", "event_1:retry")],
        1,
    ),
    ("never-split-on-underscore", "billing_run_a_b", [ok("billing_run_a_b")], 1),
    ("csv-line", "pym_1,inv_2,sub_3", [ok("pym_1"), ok("inv_2"), ok("sub_3")], 3),
    ("slack-backticks", "`pym_1` `inv_2`", [ok("pym_1"), ok("inv_2")], 2),
    ("fenced-block", "```\npym_1\ninv_2\n```", [ok("pym_1"), ok("inv_2")], 2),
    ("fenced-block-language", "```text\npym_1\n```", [ok("pym_1")], 1),
    ("fenced-inline", "```pym_1, inv_2```", [ok("pym_1"), ok("inv_2")], 2),
    ("json-array", '["pym_1", "inv_2"]', [ok("pym_1"), ok("inv_2")], 2),
    ("json-array-multiline", '[\n  "pym_1",\n  "inv_2"\n]\n', [ok("pym_1"), ok("inv_2")], 2),
    ("json-array-numbers", '[123, "pym_1", null]', [ok("123"), ok("pym_1")], 2),
    ("json-array-in-fence", '```json\n["pym_1","inv_2"]\n```', [ok("pym_1"), ok("inv_2")], 2),
    ("python-list", "['pym_1', 'inv_2']", [ok("pym_1"), ok("inv_2")], 2),
    ("bracketed-unquoted-list", "[pym_1, inv_2]", [ok("pym_1"), ok("inv_2")], 2),
    (
        "mixed-separators",
        "pym_1, inv_2;sub_3\torg_4\ncust_5 | event_6",
        [ok("pym_1"), ok("inv_2"), ok("sub_3"), ok("org_4"), ok("cust_5"), ok("event_6")],
        6,
    ),
    ("windows-line-endings", "pym_1\r\ninv_2\r\n", [ok("pym_1"), ok("inv_2")], 2),
    ("old-mac-line-endings", "pym_1\rinv_2", [ok("pym_1"), ok("inv_2")], 2),
    ("nbsp-separates", "pym_1\u00a0inv_2", [ok("pym_1"), ok("inv_2")], 2),
    (
        "unicode-spaces-separate",
        "pym_1\u3000inv_2\u2028sub_3\u202forg_4",
        [ok("pym_1"), ok("inv_2"), ok("sub_3"), ok("org_4")],
        4,
    ),
    ("zero-width-stripped", "\ufeffpym\u200b_1\u200d\ninv_2\u2060", [ok("pym_1"), ok("inv_2")], 2),
    ("smart-quotes", "“pym_1”, ‘inv_2’", [ok("pym_1"), ok("inv_2")], 2),
    (
        "wrapping-brackets",
        "[pym_1] (inv_2) {sub_3} <org_4>",
        [ok(i) for i in ("pym_1", "inv_2", "sub_3", "org_4")],
        4,
    ),
    ("trailing-dot", "pym_1.", [ok("pym_1")], 1),
    ("glob-star", "pym_*", [ok("pym_*")], 1),
    ("glob-question", "pym_?1", [ok("pym_?1")], 1),
    ("glob-brackets-inside", "pym_[ab]1 pym_[1]", [ok("pym_[ab]1"), ok("pym_[1]")], 2),
    ("glob-mix", '"pym_[1]*?"', [ok("pym_[1]*?")], 1),
    ("exactly-256-chars", "a1" * 128, [ok("a1" * 128)], 1),
]


@pytest.mark.parametrize(
    ("text", "expected", "tokens"), [case[1:] for case in SHAPES], ids=[case[0] for case in SHAPES]
)
def test_paste_shapes(text: str, expected: list[Row], tokens: int) -> None:
    """Each paste shape resolves to exactly these queries, with no table columns."""
    parsed = parse_ids(text, REGISTRY)
    assert rows(parsed) == expected
    assert counts(parsed) == (tokens, 0, len(expected), 0)
    assert (parsed.column, parsed.columns) == (None, [])


DEDUP = [
    (
        "same-id-every-shape",
        'pym_1\n"pym_1",\npayment:pym_1\ntelemetry:payment:pym_1\n`pym_1`\n["pym_1"]',
        [ok("pym_1")],
        (6, 5, 1, 0),
    ),
    (
        "explicit-first-wins",
        "payment:pym_1 pym_1",
        [typed("payment:pym_1", "payment", "pym_1")],
        (2, 1, 1, 0),
    ),
    (
        "order-of-first-appearance",
        "sub_3 pym_1 sub_3 inv_2 pym_1",
        [ok("sub_3"), ok("pym_1"), ok("inv_2")],
        (5, 2, 3, 0),
    ),
    (
        "explicit-type-differs-from-prefix",
        "invoice:pym_1 pym_1",
        [typed("invoice:pym_1", "invoice", "pym_1"), ok("pym_1")],
        (2, 0, 2, 0),
    ),
    (
        "unprefixed-explicit-vs-bare",
        "notification:ntf_1 ntf_1 notification:ntf_1",
        [typed("notification:ntf_1", "notification", "ntf_1"), ok("ntf_1")],
        (3, 1, 2, 0),
    ),
    (
        "longest-prefix-key",
        "billing_run:billing_run_1 billing_run_1",
        [typed("billing_run:billing_run_1", "billing_run", "billing_run_1")],
        (2, 1, 1, 0),
    ),
    (
        "case-sensitive",
        "pym_a pym_A",
        [ok("pym_a"), ok("pym_A")],
        (2, 0, 2, 0),
    ),
    (
        "invalid-deduplicated-on-text",
        "рym_1 pym_1 рym_1",
        [
            bad("рym_1", "contains non-ASCII character 'р' (U+0440 CYRILLIC SMALL LETTER ER)"),
            ok("pym_1"),
        ],
        (3, 1, 2, 1),
    ),
]


@pytest.mark.parametrize(
    ("text", "expected", "tally"), [case[1:] for case in DEDUP], ids=[case[0] for case in DEDUP]
)
def test_deduplication(text: str, expected: list[Row], tally: tuple[int, int, int, int]) -> None:
    """Duplicates across shapes collapse on (type, ID), keeping the first, and are counted."""
    parsed = parse_ids(text, REGISTRY)
    assert rows(parsed) == expected
    assert counts(parsed) == tally


# --------------------------------------------------------------------------- invalid tokens

INVALID = [
    (
        "cyrillic-look-alike",
        "рym_1",
        bad(
            "рym_1",
            "contains non-ASCII character 'р' (U+0440 CYRILLIC SMALL LETTER ER); "
            "IDs are plain ASCII",
        ),
    ),
    (
        "fullwidth-look-alike",
        "ｐym_1",
        bad(
            "ｐym_1",
            "contains non-ASCII character 'ｐ' (U+FF50 FULLWIDTH LATIN SMALL LETTER P); "
            "IDs are plain ASCII",
        ),
    ),
    (
        "replacement-character",
        "pym_\ufffd1",
        bad(
            "pym_\ufffd1",
            "contains non-ASCII character '\ufffd' (U+FFFD REPLACEMENT CHARACTER); "
            "IDs are plain ASCII",
        ),
    ),
    (
        "bidi-override-escaped",
        "pym_\u202e1",
        bad(
            "pym_\\u202e1",
            "contains non-ASCII character '\\u202e' (U+202E RIGHT-TO-LEFT OVERRIDE); "
            "IDs are plain ASCII",
        ),
    ),
    ("bell", "pym\x07_1", bad("pym\\x07_1", "contains control character U+0007")),
    ("escape-sequence", "pym_\x1b[31m", bad("pym_\\x1b[31m", "contains control character U+001B")),
    ("c1-control", "pym_\x9b1", bad("pym_\\x9b1", "contains control character U+009B")),
    (
        "too-long",
        "x" * 300,
        bad("x" * 80 + "…", "token is 300 characters long; IDs are at most 256"),
    ),
    (
        "too-long-thousands",
        "pym_" + "a" * 1996,
        bad("pym_" + "a" * 76 + "…", "token is 2,000 characters long; IDs are at most 256"),
    ),
    ("explicit-type-no-id", "payment:", bad("payment:", "no ID after 'payment:'", "payment")),
    (
        "key-no-id",
        "telemetry:payment:",
        bad("telemetry:payment:", "no ID after 'telemetry:payment:'", "payment"),
    ),
    ("namespace-only", "telemetry:", bad("telemetry:", "no ID after 'telemetry:'")),
]


@pytest.mark.parametrize(
    ("text", "expected"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID]
)
def test_invalid_tokens(text: str, expected: Row) -> None:
    """A token that cannot be an ID becomes one invalid query with a specific, full reason."""
    parsed = parse_ids(text, REGISTRY)
    assert [(q.text, q.entity_type, q.entity_id, q.error) for q in parsed.queries] == [expected]
    assert counts(parsed) == (1, 0, 1, 1)


def test_invalid_tokens_keep_their_place() -> None:
    """Invalid tokens stay in order between valid ones, so the output has every input row."""
    parsed = parse_ids("pym_1\nрym_2\npayment:\ninv_3", REGISTRY)
    assert rows(parsed) == [
        ok("pym_1"),
        bad("рym_2", "contains non-ASCII character 'р' (U+0440 CYRILLIC SMALL LETTER ER)"),
        bad("payment:", "no ID after 'payment:'", "payment"),
        ok("inv_3"),
    ]
    assert counts(parsed) == (4, 0, 4, 2)


# --------------------------------------------------------------------------- tables

TABLES = [
    (
        "csv-with-header",
        "payment_id,status\npym_1,succeeded\npym_2,failed\n",
        None,
        ["pym_1", "pym_2"],
        "payment_id",
        ["payment_id", "status"],
    ),
    (
        "spreadsheet-tsv-header-by-content",
        "Customer\tPayment\tAmount\nalice\tpym_1\t10\nbob\tpym_2\t20\n",
        None,
        ["pym_1", "pym_2"],
        "Payment",
        ["Customer", "Payment", "Amount"],
    ),
    (
        "csv-without-header",
        "pym_1,succeeded,10\npym_2,failed,20\n",
        None,
        ["pym_1", "pym_2"],
        "column 1",
        ["column 1", "column 2", "column 3"],
    ),
    (
        "two-columns-without-header",
        "pym_1,succeeded\npym_2,failed\n",
        None,
        ["pym_1", "pym_2"],
        "column 1",
        ["column 1", "column 2"],
    ),
    (
        "id-column-last",
        "name,amount,invoice\nalice,10,inv_1\nbob,20,inv_2\n",
        None,
        ["inv_1", "inv_2"],
        "invoice",
        ["name", "amount", "invoice"],
    ),
    (
        "quoted-cells-with-several-ids",
        'note,ids\n"hello, world","pym_1, pym_2"\n"x, y",pym_3\n',
        None,
        ["pym_1", "pym_2", "pym_3"],
        "ids",
        ["note", "ids"],
    ),
    (
        "semicolon-csv-decimal-commas",
        "id;amount\npym_1;1,5\npym_2;2,5\n",
        None,
        ["pym_1", "pym_2"],
        "id",
        ["id", "amount"],
    ),
    (
        "crlf-and-blank-lines",
        "payment_id,status\r\n\r\npym_1,ok\r\n\r\npym_2,ok\r\n",
        None,
        ["pym_1", "pym_2"],
        "payment_id",
        ["payment_id", "status"],
    ),
    (
        "duplicates-in-column",
        "payment_id,status\npym_1,ok\npym_2,ok\npym_1,retry\n",
        None,
        ["pym_1", "pym_2"],
        "payment_id",
        ["payment_id", "status"],
    ),
    (
        "single-column-with-header-word",
        "payment_id\npym_1\npym_2\n",
        None,
        ["pym_1", "pym_2"],
        "payment_id",
        ["payment_id"],
    ),
    (
        "single-column-with-spaced-header",
        "Payment ID\npym_1\npym_2\n",
        None,
        ["pym_1", "pym_2"],
        "Payment ID",
        ["Payment ID"],
    ),
    (
        "header-that-looks-like-a-prefix",
        "event_id,note\nevent_1,a\nevent_2,b\n",
        None,
        ["event_1", "event_2"],
        "event_id",
        ["event_id", "note"],
    ),
    (
        "prefixed-header-word-in-one-column",
        "org_ids\norg_aQ1\norg_bQ2\n",
        None,
        ["org_aQ1", "org_bQ2"],
        "org_ids",
        ["org_ids"],
    ),
    (
        # An ID that happens to end in "id" is data, not a column name (found by hypothesis).
        "first-id-ending-in-id-is-data",
        "pym_aZxWvid\npym_bYx\n",
        None,
        ["pym_aZxWvid", "pym_bYx"],
        None,
        [],
    ),
    (
        "unknown-ids-under-id-header",
        "name,ref_id\nalice,abc1\nbob,def2\n",
        None,
        ["abc1", "def2"],
        "ref_id",
        ["name", "ref_id"],
    ),
    (
        "unknown-ids-three-columns-first-taken",
        "abc1,x,1\ndef2,y,2\n",
        None,
        ["abc1", "def2"],
        "column 1",
        ["column 1", "column 2", "column 3"],
    ),
    (
        "most-prefix-hits-wins",
        "a,b\npym_1,x\npym_2,inv_1\npym_3,y\n",
        None,
        ["pym_1", "pym_2", "pym_3"],
        "a",
        ["a", "b"],
    ),
    (
        "column-given",
        "payment_id,invoice_id\npym_1,inv_1\npym_2,inv_2\n",
        "invoice_id",
        ["inv_1", "inv_2"],
        "invoice_id",
        ["payment_id", "invoice_id"],
    ),
    (
        "column-given-case-insensitive",
        "payment_id,invoice_id\npym_1,inv_1\npym_2,x1\n",
        "INVOICE_ID",
        ["inv_1", "x1"],
        "invoice_id",
        ["payment_id", "invoice_id"],
    ),
    (
        "blank-column-means-guess",
        "status,payment_id\nok,pym_1\n",
        "  ",
        ["pym_1"],
        "payment_id",
        ["status", "payment_id"],
    ),
    (
        "column-given-without-header",
        "pym_1,inv_1\npym_2,inv_2\n",
        "column 2",
        ["inv_1", "inv_2"],
        "column 2",
        ["column 1", "column 2"],
    ),
    (
        "column-given-single-column",
        "Payments\npym_1\npym_2\n",
        "Payments",
        ["pym_1", "pym_2"],
        "Payments",
        ["Payments"],
    ),
]


@pytest.mark.parametrize(
    ("text", "column", "expected", "chosen", "columns"),
    [case[1:] for case in TABLES],
    ids=[case[0] for case in TABLES],
)
def test_tables(
    text: str, column: str | None, expected: list[str], chosen: str, columns: list[str]
) -> None:
    """A table yields the IDs of one column (given or guessed), its header row skipped."""
    parsed = parse_ids(text, REGISTRY, column=column)
    assert rows(parsed) == [ok(i) for i in expected]
    assert (parsed.column, parsed.columns) == (chosen, columns)


def test_table_keeps_explicit_types() -> None:
    """Redis keys in a table column keep their explicit types."""
    text = "key,ttl\ntelemetry:payment:pym_1,10\ntelemetry:invoice:inv_1,20\n"
    parsed = parse_ids(text, REGISTRY)
    assert rows(parsed) == [
        typed("telemetry:payment:pym_1", "payment", "pym_1"),
        typed("telemetry:invoice:inv_1", "invoice", "inv_1"),
    ]
    assert (parsed.column, parsed.columns) == ("key", ["key", "ttl"])


NOT_TABLES = [
    ("single-column", "pym_1\npym_2\n", ["pym_1", "pym_2"], []),
    ("one-line-is-never-a-table", "pym_1,st_ok,10", ["pym_1", "st_ok", "10"], []),
    (
        "slack-two-per-line",
        "pym_1, pym_2\npym_3, pym_4",
        ["pym_1", "pym_2", "pym_3", "pym_4"],
        [],
    ),
    (
        "every-cell-an-id-with-header",
        "payment_id,invoice_id\npym_1,inv_1\npym_2,inv_2\n",
        ["pym_1", "inv_1", "pym_2", "inv_2"],
        ["payment_id", "invoice_id"],
    ),
    ("two-columns-of-unknown-strings", "ab1,de2\ngh3,jk4", ["ab1", "de2", "gh3", "jk4"], []),
    (
        "ragged-lines",
        "pym_1, pym_2\npym_3\npym_4, pym_5, pym_6",
        [f"pym_{i}" for i in range(1, 7)],
        [],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected", "columns"),
    [case[1:] for case in NOT_TABLES],
    ids=[case[0] for case in NOT_TABLES],
)
def test_not_tables(text: str, expected: list[str], columns: list[str]) -> None:
    """Inputs that are not (or not only) one ID column yield every token, in order."""
    parsed = parse_ids(text, REGISTRY)
    assert rows(parsed) == [ok(i) for i in expected]
    assert (parsed.column, parsed.columns) == (None, columns)


MISSING_COLUMNS = [
    (
        "table-with-header",
        "payment_id,status\npym_1,ok\n",
        "invoice_id",
        "no column 'invoice_id' in the table; its columns are: 'payment_id', 'status'",
    ),
    (
        "table-without-header",
        "pym_1,ok\npym_2,bad\n",
        "payment_id",
        "no column 'payment_id' in the table; its columns are: 'column 1', 'column 2'",
    ),
    (
        "free-text",
        "pym_1\npym_2\n",
        "payment_id",
        "no column 'payment_id' in the table; its columns are: 'column 1'",
    ),
    (
        "json-array",
        '["pym_1"]',
        "payment_id",
        "no column 'payment_id': the input is a JSON list, not a table",
    ),
]


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [case[1:] for case in MISSING_COLUMNS],
    ids=[case[0] for case in MISSING_COLUMNS],
)
def test_missing_column(text: str, column: str, message: str) -> None:
    """Asking for a column the input lacks fails with the columns it does have."""
    with pytest.raises(InputFormatError) as caught:
        parse_ids(text, REGISTRY, column=column)
    assert str(caught.value) == message


# --------------------------------------------------------------------------- bytes

IDS_TEXT = "payment:pym_1\r\n“inv_2”\r\nsub_3\r\n"
IDS_ROWS = [typed("payment:pym_1", "payment", "pym_1"), ok("inv_2"), ok("sub_3")]

ENCODINGS = [
    ("utf-8", IDS_TEXT.encode("utf-8")),
    ("utf-8-bom", codecs.BOM_UTF8 + IDS_TEXT.encode("utf-8")),
    ("utf-16-le-bom", codecs.BOM_UTF16_LE + IDS_TEXT.encode("utf-16-le")),
    ("utf-16-be-bom", codecs.BOM_UTF16_BE + IDS_TEXT.encode("utf-16-be")),
    ("utf-16-le-no-bom", IDS_TEXT.encode("utf-16-le")),
    ("utf-16-be-no-bom", IDS_TEXT.encode("utf-16-be")),
    ("cp1252", IDS_TEXT.encode("cp1252")),
]


@pytest.mark.parametrize(
    "data", [case[1] for case in ENCODINGS], ids=[case[0] for case in ENCODINGS]
)
def test_bytes_encodings(data: bytes) -> None:
    """Uploaded files in every common encoding decode to the same queries as the text."""
    assert decode_text(data) == IDS_TEXT.replace("\r\n", "\n")
    parsed = parse_ids(data, REGISTRY)
    assert rows(parsed) == IDS_ROWS
    assert counts(parsed) == (3, 0, 3, 0)


def test_latin1_fallback_names_the_stray_byte() -> None:
    """A byte undefined in cp1252 decodes as latin-1 and makes only its token invalid."""
    parsed = parse_ids(b"pym_1\x81\npym_2\n", REGISTRY)
    assert rows(parsed) == [bad("pym_1\\x81", "contains control character U+0081"), ok("pym_2")]


def test_utf16_csv_with_header() -> None:
    """An Excel "Unicode text" export (UTF-16, tabs, CRLF) is read as a table."""
    data = "payment_id\tstatus\r\npym_1\tok\r\npym_2\tok\r\n".encode("utf-16")
    parsed = parse_ids(data, REGISTRY)
    assert rows(parsed) == [ok("pym_1"), ok("pym_2")]
    assert (parsed.column, parsed.columns) == ("payment_id", ["payment_id", "status"])


BINARY = [
    ("png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a PNG image"),
    ("zip-xlsx", b"PK\x03\x04\x14\x00\x06\x00", "a ZIP archive, e.g. an .xlsx workbook"),
    ("xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office document, e.g. an .xls workbook"),
    ("pdf", b"%PDF-1.7\n", "a PDF document"),
    ("gzip", b"\x1f\x8b\x08\x00", "a gzip archive"),
    ("nul-bytes", b"pym_1\x00\x00\x00\x00\xff\x01", "it contains NUL bytes"),
    ("random", random.Random(7).randbytes(4096), "it contains NUL bytes"),
    ("high-bytes", bytes(range(0x80, 0x100)) * 8, "100% of its bytes are neither ASCII nor UTF-8"),
    ("control-codes", bytes(range(1, 9)) * 16, "128 of its first 128 characters are control codes"),
]


@pytest.mark.parametrize(
    ("data", "reason"), [case[1:] for case in BINARY], ids=[case[0] for case in BINARY]
)
def test_binary_refused(data: bytes, reason: str) -> None:
    """Binary files are refused with a message that says why and what to upload instead."""
    expected = f"this file looks binary ({reason}); upload a .txt or .csv of IDs"
    with pytest.raises(InputFormatError) as caught:
        decode_text(data)
    assert str(caught.value) == expected
    with pytest.raises(InputFormatError):
        parse_ids(data, REGISTRY)


EMPTY = [
    ("empty-str", ""),
    ("empty-bytes", b""),
    ("whitespace", "  \n\t \r\n"),
    ("bom-only", codecs.BOM_UTF8),
    ("invisible-only", "\u200b\u00a0\ufeff\u3000"),
    ("separators-only", ",,;;||"),
    ("empty-fence", "```\n```"),
    ("empty-json", "[]"),
    ("quotes-only", "\"\" '' ``"),
]


@pytest.mark.parametrize("data", [case[1] for case in EMPTY], ids=[case[0] for case in EMPTY])
def test_empty_input(data: str | bytes) -> None:
    """Empty or blank input gives no queries and no exception (the caller says so)."""
    parsed = parse_ids(data, REGISTRY)
    assert (parsed.queries, counts(parsed), parsed.column, parsed.columns) == (
        [],
        (0, 0, 0, 0),
        None,
        [],
    )


# --------------------------------------------------------------------------- options and limits


def test_custom_namespace_and_registry() -> None:
    """The namespace and registry in use decide what counts as a key or an explicit type."""
    registry = EntityRegistry({"refund": ["re_"]})
    parsed = parse_ids(
        "acme:refund:re_1 re_1 refund:re_2 telemetry:refund:re_3 payment:pym_1",
        registry,
        namespace="acme",
    )
    assert rows(parsed) == [
        typed("acme:refund:re_1", "refund", "re_1"),
        typed("refund:re_2", "refund", "re_2"),
        ok("telemetry:refund:re_3"),
        ok("payment:pym_1"),
    ]
    assert counts(parsed) == (5, 1, 4, 0)


@pytest.mark.parametrize(
    ("text", "max_ids", "message"),
    [
        (
            "pym_1 pym_2 pym_3 pym_1",
            2,
            "3 unique IDs pasted; the limit is 2 per request — split the list",
        ),
        (
            " ".join(f"pym_{i}" for i in range(1_234)),
            1_000,
            "1,234 unique IDs pasted; the limit is 1,000 per request — split the list",
        ),
    ],
    ids=["small", "thousands"],
)
def test_over_the_limit(text: str, max_ids: int, message: str) -> None:
    """More unique IDs than max_ids raise InputTooLargeError with the exact count and limit."""
    with pytest.raises(InputTooLargeError) as caught:
        parse_ids(text, REGISTRY, max_ids=max_ids)
    assert str(caught.value) == message
    unique = int(message.split()[0].replace(",", ""))
    assert (caught.value.count, caught.value.limit) == (unique, max_ids)


def test_duplicates_do_not_count_toward_the_limit() -> None:
    """The limit is on unique queries: duplicates beyond it are fine."""
    parsed = parse_ids("pym_1 pym_2 pym_1 pym_2 payment:pym_1", REGISTRY, max_ids=2)
    assert counts(parsed) == (5, 3, 2, 0)


def test_default_limit_is_100_000() -> None:
    """100,000 IDs parse; 100,001 are refused with the default limit."""
    ids = [f"pym_{i:021d}" for i in range(100_001)]
    parsed = parse_ids("\n".join(ids[:100_000]), REGISTRY)
    assert (parsed.unique, parsed.queries[0], parsed.queries[-1]) == (
        100_000,
        Query(ids[0], ids[0], None),
        Query(ids[99_999], ids[99_999], None),
    )
    with pytest.raises(InputTooLargeError) as caught:
        parse_ids("\n".join(ids), REGISTRY)
    assert str(caught.value) == (
        "100,001 unique IDs pasted; the limit is 100,000 per request — split the list"
    )
    assert (caught.value.count, caught.value.limit) == (100_001, 100_000)


# --------------------------------------------------------------------------- properties

PREFIXES = sorted(p for prefixes in DEFAULT_ENTITY_TYPES.values() for p in prefixes)
valid_ids = st.builds(
    str.__add__,
    st.sampled_from(PREFIXES),
    st.from_regex(
        r"[A-Za-z0-9*?:]{0,12}(\[[A-Za-z0-9]{1,3}\])?[A-Za-z0-9*?]{0,8}[0-9]", fullmatch=True
    ),
)
separators = st.sampled_from(
    [",", ", ", ";", "\t", "\n", "\r\n", " ", " | ", "\u00a0", "\u3000", ",\u200b\n", "\n\n"]
)
wrappers = st.sampled_from([("", ""), ('"', '"'), ("'", "'"), ("`", "`"), ("“", "”"), ('"', '",')])


@given(
    data=st.one_of(
        st.text(),
        st.binary(),
        st.text(alphabet=st.sampled_from(list("pym_inv1id,;\t\n\r\"'`[]{}:| .\x07\u200bр"))),
    ),
    column=st.one_of(st.none(), st.sampled_from(["id", "column 1", "payment_id"])),
)
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_never_raises_unexpectedly(data: str | bytes, column: str | None) -> None:
    """Arbitrary text or bytes only ever fail with InputFormatError or InputTooLargeError."""
    try:
        parsed = parse_ids(data, REGISTRY, column=column, max_ids=50)
    except (InputFormatError, InputTooLargeError):
        return
    assert parsed.tokens == parsed.unique + parsed.duplicates
    assert 0 <= parsed.invalid <= parsed.unique <= 50
    assert all(bool(q.error) != bool(q.entity_id) for q in parsed.queries)


@given(
    ids=st.lists(valid_ids, min_size=1, max_size=30),
    seps=st.lists(separators, min_size=30, max_size=30),
    wrap=st.lists(wrappers, min_size=30, max_size=30),
)
def test_round_trip(ids: list[str], seps: list[str], wrap: list[tuple[str, str]]) -> None:
    """Valid IDs joined by any mix of separators and wrappers parse back de-duplicated, in order."""
    text = "".join(
        f"{seps[i]}{wrap[i][0]}{entity_id}{wrap[i][1]}" for i, entity_id in enumerate(ids)
    )
    parsed = parse_ids(text, REGISTRY)
    assert rows(parsed) == [ok(entity_id) for entity_id in dict.fromkeys(ids)]
    assert counts(parsed) == (len(ids), len(ids) - len(set(ids)), len(set(ids)), 0)


@given(
    ids=st.lists(valid_ids, min_size=1, max_size=30),
    position=st.integers(min_value=0, max_value=2),
    delimiter=st.sampled_from([",", "\t", ";"]),
    others=st.lists(
        st.sampled_from(["ok", "failed", "10", "4.5", "", "alice"]), min_size=60, max_size=60
    ),
)
def test_table_round_trip(ids: list[str], position: int, delimiter: str, others: list[str]) -> None:
    """A table with a header yields exactly its ID column, wherever that column is."""
    header = ["status", "amount"]
    header.insert(position, "payment_id")
    lines = [delimiter.join(header)]
    for i, entity_id in enumerate(ids):
        cells = [others[2 * i], others[2 * i + 1]]
        cells.insert(position, entity_id)
        lines.append(delimiter.join(cells))
    parsed = parse_ids("\r\n".join(lines), REGISTRY)
    assert rows(parsed) == [ok(entity_id) for entity_id in dict.fromkeys(ids)]
    assert (parsed.column, parsed.columns) == ("payment_id", header)


def test_one_id_column_beside_empty_cells_is_that_column() -> None:
    """A header and IDs in one column with the other cells empty is a table of that column
    (found by hypothesis: it used to be read as a several-IDs-per-line paste)."""
    parsed = parse_ids("payment_id,status,amount\r\nbilling_period_0,,", REGISTRY)
    assert rows(parsed) == [ok("billing_period_0")]
    assert (parsed.column, parsed.columns) == ("payment_id", ["payment_id", "status", "amount"])
