"""Property-based tests (hypothesis): ID parsing, key parsing, timestamps and CSV export.

Each property is one sentence of the contract that must hold for *every* input,
not only for the examples the other test files pick: parsing never raises
anything but its two documented errors, a key built from parts parses back to
them, and a CSV written by the app or the CLI parses back to the same cells.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telemetry import CSV_HEADER, Result, Status, csv_safe, parse_ids, parse_key, results_csv
from telemetry.errors import InputFormatError, InputTooLargeError
from telemetry.export import FORMULA_TRIGGERS, escape_controls, write_csv
from telemetry.keys import make_key
from telemetry.models import decode_value, format_time, parse_timestamp
from telemetry.registry import DEFAULT_ENTITY_TYPES, ENTITY_TYPE_RE, EntityRegistry

REGISTRY = EntityRegistry()
PREFIXES = sorted(p for prefixes in DEFAULT_ENTITY_TYPES.values() for p in prefixes)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# IDs are a prefix and 21 base62 characters; bodies down to 5 keep short-ID edge cases in
# play without `billing_period_ID`, which is a column name as much as an ID.
ids = st.builds(
    str.__add__, st.sampled_from(PREFIXES), st.from_regex(r"[A-Za-z0-9]{5,21}", fullmatch=True)
)
junk = st.sampled_from(
    # separators, wrappers, glob characters, controls, invisible ones, look-alikes
    [*"\t\n ,;\"'`[]{}:|*?=-", "", "\r\n", *"\x00\x07\x1b\u200b\u00a0\ufeffр＿“”"]
)
pasted = st.lists(st.one_of(ids, junk, st.text(max_size=12)), max_size=40).map("".join)


def _encodings(text: str) -> st.SearchStrategy[bytes]:
    return st.sampled_from(
        [
            text.encode("utf-8", "surrogatepass"),
            codecs.BOM_UTF8 + text.encode("utf-8", "surrogatepass"),
            text.encode("utf-16", "surrogatepass"),
            text.encode("utf-16-le", "surrogatepass"),
            text.encode("utf-16-be", "surrogatepass"),
            text.encode("latin-1", "replace"),
        ]
    )


any_input = st.one_of(
    st.text(),
    st.binary(),
    pasted,
    pasted.flatmap(_encodings),
    st.lists(st.lists(st.one_of(ids, junk), min_size=1, max_size=4), max_size=12).map(
        lambda rows: "\n".join(",".join(row) for row in rows)
    ),
)


# --------------------------------------------------------------------------- parse_ids


@FAST
@given(data=any_input, column=st.one_of(st.none(), st.text(max_size=10)), limit=st.integers(1, 60))
def test_parse_ids_raises_only_its_two_errors(
    data: str | bytes, column: str | None, limit: int
) -> None:
    """Arbitrary text or bytes (any encoding, BOMs, tables, junk): a result or one of
    ``InputFormatError`` / ``InputTooLargeError`` — never anything else."""
    try:
        parsed = parse_ids(data, REGISTRY, column=column, max_ids=limit)
    except (InputFormatError, InputTooLargeError) as exc:
        assert str(exc)
        return
    assert parsed.tokens == parsed.unique + parsed.duplicates
    assert parsed.unique <= limit
    for query in parsed.queries:
        assert bool(query.error) != bool(query.entity_id)
        assert query.text.isprintable()  # shown in tables and terminals: never raw controls
        assert "\n" not in query.text


@FAST
@given(
    chosen=st.lists(ids, min_size=1, max_size=25),
    sep=st.sampled_from(["\n", ",", "\r\n", "\t", "; "]),
)
def test_valid_ids_parse_back_in_order(chosen: list[str], sep: str) -> None:
    """Valid IDs joined by any separator come back unique, in order of first appearance."""
    parsed = parse_ids(sep.join(chosen), REGISTRY)
    assert [(q.text, q.entity_id, q.error) for q in parsed.queries] == [
        (i, i, "") for i in dict.fromkeys(chosen)
    ]


# --------------------------------------------------------------------------- keys

namespaces = st.text(min_size=1, max_size=12).filter(lambda ns: ":" not in ns)
entity_types = st.from_regex(ENTITY_TYPE_RE.pattern.replace("*$", "{0,15}$"), fullmatch=True)
entity_ids = st.text(min_size=1, max_size=40)  # colons, spaces, glob characters, unicode


@FAST
@given(namespace=namespaces, entity_type=entity_types, entity_id=entity_ids)
def test_parse_key_inverts_make_key(namespace: str, entity_type: str, entity_id: str) -> None:
    """``parse_key(make_key(ns, t, id)) == (t, id)``, whatever the ID holds (``:`` included),
    as text and as the UTF-8 bytes Redis returns."""
    key = make_key(namespace, entity_type, entity_id)
    assert parse_key(key, namespace) == (entity_type, entity_id)
    try:
        raw = key.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: Redis keys are bytes, never these
        return
    assert parse_key(raw, namespace) == (entity_type, entity_id)


@FAST
@given(key=st.one_of(st.text(), st.binary()), namespace=namespaces)
def test_parse_key_never_raises(key: str | bytes, namespace: str) -> None:
    """Any key SCAN may return parses to parts of the namespace, or None."""
    parts = parse_key(key, namespace)
    if parts is not None:
        assert ENTITY_TYPE_RE.match(parts.entity_type) and parts.entity_id


# --------------------------------------------------------------------------- stored values

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)  # what orjson can write
    | st.floats(allow_nan=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@FAST
@given(raw=st.one_of(st.binary(), st.text(), json_values.map(lambda v: _json(v))))
def test_decode_value_never_raises(raw: bytes | str) -> None:
    """A stored value decodes to a record with a non-empty string ``runId``, or to a reason."""
    data, reason = decode_value(raw)
    if data is None:
        assert reason
    else:
        assert isinstance(data["runId"], str) and data["runId"] and not reason


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()  # big integers and infinities included


@FAST
@given(
    value=st.one_of(
        json_values,
        st.datetimes(timezones=st.timezones()).map(datetime.isoformat),
        st.datetimes().map(lambda d: d.isoformat(sep=" ")),
        st.floats(),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.from_regex(r"-?[0-9]{1,25}(\.[0-9]{0,6})?", fullmatch=True),
    )
)
def test_parse_timestamp_never_raises_and_its_output_round_trips(value: Any) -> None:
    """Any producer timestamp (ISO with any offset — year 1 and 9999 included —, epoch
    numbers of any size, junk): a UTC datetime or None, and what the CSV prints for it
    parses back to the same millisecond."""
    parsed = parse_timestamp(value)
    if parsed is None:
        return
    assert parsed.utcoffset() == timedelta(0)
    printed = format_time(parsed)
    assert printed.endswith("Z") and len(printed.split("-")[0]) == 4
    again = parse_timestamp(printed)
    assert again is not None
    assert abs(again - parsed) < timedelta(milliseconds=1)


# --------------------------------------------------------------------------- CSV export

cells = st.one_of(st.none(), st.text(), st.text(alphabet=st.sampled_from("=+-@\t\r\n\",;' x")))
stamps = st.one_of(st.none(), st.datetimes(min_value=datetime(1, 1, 2), timezones=st.just(UTC)))
results = st.builds(
    Result.model_construct,
    query=st.text(),
    status=st.sampled_from(list(Status)),
    entity_type=cells,
    entity_id=cells,
    run_id=cells,
    run_url=cells,
    organization_id=cells,
    processed_at=stamps,
    processed_at_inferred=st.booleans(),
    expires_at=stamps,
    detail=st.text(),
    key=st.none(),
    metadata=st.just({}),
    raw_value=st.none(),
)


def _read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@FAST
@given(rows=st.lists(results, max_size=8))
def test_results_csv_round_trips_every_cell(rows: list[Result]) -> None:
    """``csv.reader(results_csv(x))`` gives back the header and every cell of every row as
    ``csv_safe`` made it (formulas neutralised, control characters escaped), and only
    ``'`` and escapes were added to the original."""
    parsed = _read(results_csv(rows))
    assert parsed[0] == list(CSV_HEADER)
    assert parsed[1:] == [[csv_safe(cell) for cell in r.csv_row()] for r in rows]
    for row, result in zip(parsed[1:], rows, strict=True):
        for cell, original in zip(row, result.csv_row(), strict=True):
            assert cell.replace("'", "") == escape_controls(original).replace("'", "")
            assert not cell.startswith(FORMULA_TRIGGERS)


@FAST
@given(
    header=st.lists(st.text(), min_size=1, max_size=4),
    rows=st.lists(
        st.lists(
            st.one_of(
                st.none(), st.text(), st.integers(), st.floats(), st.booleans(), st.binary(), stamps
            ),
            max_size=5,
        ),
        max_size=6,
    ),
)
def test_write_csv_never_raises_and_neutralises_every_cell(
    header: list[str], rows: list[list[Any]]
) -> None:
    """Any cell values (None, numbers, NaN, bytes, datetimes, any text): CSV that parses
    back cell for cell, with no cell a spreadsheet would run as a formula."""
    text = write_csv(header, rows)
    parsed = _read(text)
    expected = [[csv_safe(c) for c in header]] + [[csv_safe(c) for c in row] for row in rows]
    assert parsed == expected
    for row in parsed:
        assert not any(cell.startswith(FORMULA_TRIGGERS) for cell in row)


@FAST
@given(cell=st.one_of(st.none(), st.text(), st.integers(), st.floats(), st.binary()))
def test_csv_safe_never_raises(cell: Any) -> None:
    """Any value becomes a string that differs from its text only by ``'`` and escapes."""
    out = csv_safe(cell)
    assert isinstance(out, str)
    text = "" if cell is None else str(cell)
    assert out.replace("'", "") == escape_controls(text).replace("'", "")


@FAST
@given(chosen=st.lists(ids, min_size=1, max_size=20), status=st.sampled_from(list(Status)))
def test_exported_csv_can_be_pasted_back(chosen: list[str], status: Status) -> None:
    """A results CSV downloaded from the app, uploaded again, resolves the same IDs: the
    ``query`` column is found and nothing else is read as an ID."""
    rows = [
        Result(
            query=i, status=status, entity_id=i, run_id="run_x" if status is Status.FOUND else None
        )
        for i in dict.fromkeys(chosen)
    ]
    parsed = parse_ids(results_csv(rows).encode(), REGISTRY)
    assert parsed.column == "query"
    assert [q.text for q in parsed.queries] == list(dict.fromkeys(chosen))
