"""Parsing cost is linear in the input (issue #12, item 4: quadratic parsing).

``pym_x`` followed by 2 MB of ``.`` used to take 45 s of CPU: the token was
copied once per stripped character before its length was checked. No test
here asserts a wall-clock time. Work is counted as the Python line events run
inside ``telemetry/ids.py`` (``sys.settrace``), which is the same on every
machine for a given input:

- an over-long token costs the same number of Python steps whatever its
  length (it is rejected before any per-character work);
- input made of many items (cells, rows, tokens) costs at most ~2× the steps
  at twice the size.

Quadratic work done in C (regex backtracking, shifting a list) has no Python
steps to count: those inputs are parsed at 2 MB and their results asserted;
the pytest-timeout mark only guards against a hang.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from redis_server import RedisServer
from telemetry import CSV_HEADER, ids
from telemetry.ids import MAX_ID_CHARS, ParsedIds, Query, parse_ids
from telemetry.registry import EntityRegistry

REGISTRY = EntityRegistry()
ROOT = Path(__file__).resolve().parents[2]
IDS_FILE = ids.__file__
TTL = 1_209_600
MB2 = 2_000_000
GUARD = pytest.mark.timeout(60)  # a guard against a hang, never the assertion


def ok(text: str) -> Query:
    return Query(text, text, None)


OK1, OK2 = ok("pym_ok1"), ok("inv_ok2")


def too_long(token: str) -> Query:
    """The invalid_id query of an over-long token: its first 80 characters, shown safely."""
    shown = "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode() for c in token[:80]
    )
    reason = f"token is {len(token):,} characters long; IDs are at most {MAX_ID_CHARS}"
    return Query(shown + "…", "", None, reason)


def line_events(parse: Callable[[], ParsedIds]) -> tuple[int, ParsedIds]:
    """(Python line events run in telemetry/ids.py, result) of one call."""
    count = 0

    def local(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return local

    def calls(frame: Any, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename == IDS_FILE else None

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        parsed = parse()
    finally:
        sys.settrace(previous)
    return count, parsed


def parse(text: str, **kwargs: Any) -> ParsedIds:
    return parse_ids(text, REGISTRY, max_ids=10_000_000, **kwargs)


# --------------------------------------------------------------------------- over-long tokens


def around(token: str) -> str:
    return f"pym_ok1\n{token}\ninv_ok2\n"


def in_json(token: str) -> str:
    return orjson.dumps(["pym_ok1", token, "inv_ok2"]).decode()


def in_table(token: str) -> str:
    return f"id,note\npym_ok1,a\n{token},b\ninv_ok2,c\n"


# name: (token of about n characters, the text around it, whether it is rejected)
OVER_LONG: dict[str, tuple[Callable[[int], str], Callable[[str], str], bool]] = {
    "trailing-dots": (lambda n: "pym_x" + "." * n, around, True),
    "wrapping-quotes": (lambda n: '"' * (n // 2) + "pym_q" + '"' * (n // 2), around, True),
    # three backticks in a row are a code fence, hence a line break: pair them with quotes
    "wrapping-backticks": (lambda n: '`"' * (n // 4) + "pym_q" + '"`' * (n // 4), around, True),
    "wrapping-curly-quotes": (lambda n: "“" * (n // 2) + "pym_q" + "”" * (n // 2), around, True),
    "unbalanced-openers": (lambda n: "(" * n + "pym_q", around, True),
    "unbalanced-closers": (lambda n: "pym_q" + "]" * n, around, True),
    "closers-and-dots": (lambda n: "pym_q" + ")." * (n // 2), around, True),
    "explicit-type": (lambda n: "payment:pym_x" + "." * n, around, True),
    "no-separators": (lambda n: "a" * n, around, True),
    "look-alikes": (lambda n: "pym_" + "р" * n, around, True),
    "invisible-format-characters": (lambda n: "pym_" + "\u200e" * n, around, True),
    "json-array-cell": (lambda n: "pym_x" + "." * n, in_json, True),
    "table-cell": (lambda n: "pym_x" + "." * n, in_table, True),
    # zero-width characters are deleted before tokenising: what is left is a valid ID
    "zero-width": (lambda n: "pym_z" + "\u200b" * n, around, False),
}
SIZES = [(2_000, 4_000), (1_000_000, MB2)]
# csv refuses a field over 128 KiB (the paste is then free text): stay below it to test a cell
TABLE_SIZES = [(2_000, 4_000), (50_000, 100_000)]


def _over_long_params() -> list[Any]:
    return [
        pytest.param(name, small, large, id=f"{name}-{large:,}")
        for name in OVER_LONG
        for small, large in (TABLE_SIZES if name == "table-cell" else SIZES)
    ]


@GUARD
@pytest.mark.parametrize(("name", "small", "large"), _over_long_params())
def test_over_long_token_costs_the_same_python_steps_whatever_its_length(
    name: str, small: int, large: int
) -> None:
    """An over-long token costs O(1) Python steps, is invalid_id naming its length and the
    limit, and its neighbours resolve as without it."""
    make_token, make_text, rejected = OVER_LONG[name]
    parse(make_text(make_token(10)))  # warm the registry's cached prefix matcher
    tokens = {n: make_token(n) for n in (small, large)}
    small_work, small_parsed = line_events(lambda: parse(make_text(tokens[small])))
    large_work, large_parsed = line_events(lambda: parse(make_text(tokens[large])))
    assert large_work == small_work, (
        f"{name}: {small_work:,} Python steps at {small:,} characters, {large_work:,} at {large:,}"
    )
    for n, parsed in ((small, small_parsed), (large, large_parsed)):
        middle = too_long(tokens[n]) if rejected else ok("pym_z")
        assert parsed.queries == [OK1, middle, OK2], name
        assert (parsed.tokens, parsed.duplicates) == (3, 0)


@GUARD
@pytest.mark.parametrize(("small", "large"), TABLE_SIZES, ids=lambda n: f"{n:,}")
def test_over_long_header_cell_costs_the_same_python_steps_whatever_its_length(
    small: int, large: int
) -> None:
    """A long header cell is looked at for digits in C, not character by character."""
    headers = {n: "x" + "." * n for n in (small, large)}
    texts = {n: f"{header},note\npym_ok1,a\ninv_ok2,b\n" for n, header in headers.items()}
    parse(texts[small])  # warm the registry's cached prefix matcher
    small_work, small_parsed = line_events(lambda: parse(texts[small]))
    large_work, large_parsed = line_events(lambda: parse(texts[large]))
    assert large_work == small_work, f"{small_work:,} Python steps, then {large_work:,}"
    for n, parsed in ((small, small_parsed), (large, large_parsed)):
        assert (parsed.queries, parsed.column) == ([OK1, OK2], headers[n])


# --------------------------------------------------------------------------- many items


def wide_csv_line(n: int) -> str:
    return "pym_a,b\n" * 10 + ",".join(f"pym_w{i}" for i in range(n)) + "\n"


def blank_csv_rows(n: int) -> str:
    return ",,\n" * n + "id,x,y\npym_ok1,a,b\n"


def wrapped_tokens(n: int) -> str:
    # IDs inside 100 quotes each side: unwrapped as before, never rejected
    return "".join('"' * 100 + f"pym_{i}" + '"' * 100 + "\n" for i in range(n))


def over_long_tokens(n: int) -> str:
    return "".join(f"pym_{i}" + "." * 600 + "\n" for i in range(n))


def realistic_paste(n: int, start: int = 0) -> str:
    """n lines of a Slack/spreadsheet paste: quotes, backticks, types, keys, mixed separators."""
    return "".join(
        f'"pym_{i:021}",\t`inv_{i:021}`; payment:pym_{i:021} | '
        f"telemetry:subscription:sub_{i:021}, cust_{i:021}.\n"
        for i in range(start, start + n)
    )


def column_with_an_over_long_line(n: int) -> str:
    """A pasted column of n IDs (the fast path's shape) with one over-long line in the middle."""
    half = "".join(f"pym_{i:021}\n" for i in range(n // 2))
    rest = "".join(f"pym_{i:021}\n" for i in range(n // 2, n))
    return half + "x" * 1000 + "\n" + rest


MANY: dict[str, tuple[Callable[[int], str], int]] = {
    "csv-line-with-many-commas": (wide_csv_line, 2_000),
    "csv-leading-empty-rows": (blank_csv_rows, 2_000),
    "wrapped-ids": (wrapped_tokens, 100),
    "over-long-tokens": (over_long_tokens, 500),
    "realistic-paste": (realistic_paste, 300),
    "column-with-an-over-long-line": (column_with_an_over_long_line, 1_000),
}


@GUARD
@pytest.mark.parametrize("name", list(MANY))
def test_work_grows_linearly_with_the_number_of_items(name: str) -> None:
    """Twice the cells, rows or tokens cost at most 2.3× the Python steps."""
    make_text, n = MANY[name]
    parse(make_text(5))  # warm the registry's cached prefix matcher
    work, _ = line_events(lambda: parse(make_text(n)))
    double, _ = line_events(lambda: parse(make_text(2 * n)))
    assert double <= 2.3 * work, f"{name}: {work:,} Python steps for n={n:,}, {double:,} for 2n"


# --------------------------------------------------------------------------- 2 MB and 10 MB


def fence_then_spaces(n: int) -> str:
    return "pym_ok1\n```" + " " * n + "x1\ninv_ok2\n"


def fence_line_with_spaces(n: int) -> str:
    return "pym_ok1\n```csv" + " " * n + "\ninv_ok2\n```\n"


# name: (2 MB text, its queries)
C_LEVEL: dict[str, tuple[Callable[[], str], list[Query]]] = {
    "fence-then-spaces": (lambda: fence_then_spaces(MB2), [OK1, ok("x1"), OK2]),
    "fence-line-with-spaces": (lambda: fence_line_with_spaces(MB2), [OK1, OK2]),
    "csv-leading-empty-rows": (lambda: blank_csv_rows(MB2 // 3), [OK1]),
    "csv-line-with-many-commas": (lambda: wide_csv_line(MB2 // 8), [ok("pym_a"), ok("pym_w0")]),
}


@GUARD
@pytest.mark.parametrize("name", list(C_LEVEL))
def test_two_megabytes_of_c_level_work_parse(name: str) -> None:
    """2 MB whose cost is in C (fence regex, csv, list cuts) parses to exactly these queries."""
    make_text, expected = C_LEVEL[name]
    text = make_text()
    assert len(text) >= MB2
    assert parse(text).queries == expected


@GUARD
def test_ten_megabyte_realistic_paste() -> None:
    """10 MB of mixed paste shapes with a 2 MB dotted token in the middle: every ID once, the
    token invalid_id with its length."""
    lines = -(-10_000_000 // len(realistic_paste(1)))
    head, tail = realistic_paste(lines // 2), realistic_paste(lines - lines // 2, lines // 2)
    token = "pym_x" + "." * MB2
    parsed = parse(head + token + "\n" + tail)
    assert len(head) + len(tail) >= 10_000_000
    assert parsed.unique == 4 * lines + 1  # payment:pym_N is the same query as pym_N
    assert parsed.tokens == 5 * lines + 1
    assert parsed.queries[4 * (lines // 2)] == too_long(token)
    assert parsed.queries[:4] == [
        ok("pym_000000000000000000000"),
        ok("inv_000000000000000000000"),
        ok("telemetry:subscription:sub_000000000000000000000")._replace(
            entity_id="sub_000000000000000000000", entity_type="subscription"
        ),
        ok("cust_000000000000000000000"),
    ]


# --------------------------------------------------------------------------- unchanged rules


def reference_clean(token: str) -> str:
    """The unwrapping rules as they were (quadratic, fine for short tokens)."""
    opening = {'"': '"', "'": "'", "`": "`", "(": ")", "[": "]", "{": "}", "<": ">"}
    opening |= {"\u201c": "\u201d", "\u2018": "\u2019", "\u00ab": "\u00bb"}
    closing = {closer: opener for opener, closer in opening.items()}
    while token:
        first, last = token[0], token[-1]
        closer = opening.get(first)
        if closer is not None:
            if len(token) > 1 and last == closer:
                token = token[1:-1]
                continue
            if closer not in token[1:]:
                token = token[1:]
                continue
        opener = closing.get(last)
        if (opener is not None and opener not in token[:-1]) or last == ".":
            token = token[:-1]
            continue
        return token
    return token


WRAPPERS = "\"'`()[]{}<>“”‘’«».:_ap1"


@settings(max_examples=400, deadline=None)
@given(token=st.text(alphabet=WRAPPERS, max_size=40))
def test_unwrapping_keeps_the_previous_rules(token: str) -> None:
    """Any token of quotes, brackets, dots and ID characters unwraps exactly as before."""
    # ids._clean on purpose: the unwrapping helper is compared with its previous rules.
    assert ids._clean(token) == reference_clean(token)


@pytest.mark.parametrize(
    "text",
    [
        '"' + "a1" * (MAX_ID_CHARS // 2) + '"',
        "[`" + "a1" * (MAX_ID_CHARS // 2) + "`].",
        "(" * 100 + "pym_1" + ")" * 100,
        "pym_1" + "." * 200,
        "x" * 300,
        "“pym_[1]”, ‘inv_2’ (sub_3) {org_4} <cust_5> pym_(6 pym_7)...",
    ],
    ids=["quoted-256", "nested-256", "parens-100", "dots-200", "300-chars", "mixed"],
)
def test_tokens_within_reach_parse_as_before(text: str) -> None:
    """Wrapped tokens short enough to be a wrapped ID give the same queries as the old rules."""
    expected = []
    for raw in ids._TOKEN_RE.findall(text):
        token = reference_clean(raw)
        expected.append(ok(token) if len(token) <= MAX_ID_CHARS else too_long(token))
    assert parse(text).queries == expected


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def stored(redis_server: RedisServer, redis_client: redis.Redis) -> RedisServer:
    """The emptied session server holding a record for pym_ok1."""
    redis_client.set("telemetry:payment:pym_ok1", orjson.dumps({"runId": "run_ok1"}), ex=TTL)
    return redis_server


@GUARD
def test_cli_resolve_reports_the_over_long_token_and_resolves_its_neighbours(
    stored: RedisServer,
) -> None:
    """`python -m telemetry resolve` on stdin with `pym_x` + 2 MB of '.' between two IDs:
    exit 0, the valid rows, and one invalid_id row naming the length and the limit."""
    token = "pym_x" + "." * MB2
    proc = subprocess.run(
        [sys.executable, "-m", "telemetry", "resolve", "--redis-url", stored.url],
        cwd=ROOT,
        input=around(token).encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert (proc.returncode, proc.stderr) == (0, b"")
    rows = list(csv.reader(io.StringIO(proc.stdout.decode(), newline="")))
    assert rows[0] == list(CSV_HEADER)
    assert [row[:5] for row in rows[1:]] == [
        ["pym_ok1", "found", "payment", "pym_ok1", "run_ok1"],
        [too_long(token).text, "invalid_id", "", "", ""],
        ["inv_ok2", "not_found", "invoice", "inv_ok2", ""],
    ]
    assert rows[2][9] == "token is 2,000,005 characters long; IDs are at most 256"
