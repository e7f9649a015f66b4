"""CSV, JSON and table output, shared by the CLI and the app's download buttons.

Record data is untrusted. ``escape_controls`` is the one place that decides
how a control character is shown: the table, every CSV cell and (losslessly)
the JSON bytes never carry one raw, so output is safe on a terminal, through a
pipe and in a file later ``cat``-ed. Every CSV cell also goes through
``csv_safe``: a spreadsheet must never run a formula that came from a record or
a paste, even after splitting the cell on ``;``, ``,`` or a tab.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from itertools import chain
from typing import TYPE_CHECKING, Any

import orjson

from .models import CSV_HEADER, Result, Status, format_time

if TYPE_CHECKING:
    from .reader import Resolution

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
SUMMARY_CSV_HEADER: tuple[str, ...] = (
    "entity_type",
    "organization_id",
    "records",
    "latest_processed_at",
)

# C0, DEL and C1 drive terminals (colours, OSC 8 links, screen clears; a UTF-8
# C1 is a CSI to some). The Unicode line/paragraph separators break lines like
# "\n", the bidi embeddings/overrides/isolates reorder the rest of a line so a
# cell can pose as another, and a lone surrogate cannot even be encoded.
_CONTROL_CHARS = "\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_CONTROL_RE = re.compile(f"[{_CONTROL_CHARS}]")
# Python's literal notation (\x1b, \n, \t, \x9b, \u2028), as invalid IDs are shown.
# Only the blocks _CONTROL_CHARS draws from are tried: the same table as trying every
# code below 0xE000, which took ~25 ms of each process start.
_ESCAPES = {
    code: chr(code).encode("unicode_escape").decode("ascii")
    for code in chain(range(0xA0), range(0x2028, 0x2070), range(0xD800, 0xE000))
    if _CONTROL_RE.match(chr(code))
}
# Cells split on ";" (many locales), "," or a tab give each piece its own
# formula start, spaces before it included (import may trim them).
_INNER_FORMULA_RE = re.compile(r"([;,\t])(?= *[=+\-@])")
# orjson escapes C0 but writes the rest of the set raw: DEL, C1 (UTF-8 C2 80-9F),
# U+2028-202E (E2 80 A8-AE), U+2066-2069 (E2 81 A6-A9). It refuses surrogates.
_JSON_RAW_RE = re.compile(b"\x7f|\xc2[\x80-\x9f]|\xe2\x80[\xa8-\xae]|\xe2\x81[\xa6-\xa9]")


def escape_controls(text: str) -> str:
    """``text`` with every control character as a Python escape (``\\x1b``, ``\\n``, ``\\x9b``).

    Backslashes are not doubled: ``\\x1b`` in the output is never a raw ESC,
    and text that is already escaped (invalid IDs) is not escaped twice.
    """
    if _CONTROL_RE.search(text) is None:
        return text
    return text.translate(_ESCAPES)


def csv_safe(cell: object) -> str:
    """The cell as text a spreadsheet and a terminal only display.

    Prefixed with ``'`` when it starts with a formula trigger, ``'`` inserted
    after a ``;``, ``,`` or tab that a trigger follows (spaces between
    allowed), then its control characters escaped.
    """
    text = "" if cell is None else str(cell)
    if text.startswith(FORMULA_TRIGGERS):
        text = "'" + text
    if ";" in text or "," in text or "\t" in text:
        text = _INNER_FORMULA_RE.sub(r"\1'", text)
    return escape_controls(text)


def _field(cell: object) -> str:
    """``cell`` as one CSV field: ``csv_safe``, then quoted if it holds ``,`` ``;`` or ``"``."""
    text = csv_safe(cell)
    # Line breaks need no quotes: csv_safe escaped them.
    if "," in text or ";" in text or '"' in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def _plain(cell: Any) -> bool:
    """A cell ``_field`` would write as it is: a printable string with no formula start
    and nothing to quote. The shortcut every CSV path takes before ``_field``."""
    return (
        type(cell) is str
        and cell.isprintable()
        and not cell.startswith(FORMULA_TRIGGERS)
        and "," not in cell
        and ";" not in cell
        and '"' not in cell
    )


def _line(cells: Iterable[Any]) -> str:
    """One CSV line; ``_plain`` cells are written as they are."""
    fields = [cell if _plain(cell) else _field(cell) for cell in cells]
    # csv.writer quotes a row's only field when it is empty: an empty line is no row.
    if len(fields) == 1 and not fields[0]:
        return '""\r\n'
    return ",".join(fields) + "\r\n"


def write_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV text (``\\r\\n`` line ends, as spreadsheets expect), every cell through ``csv_safe``.

    Written here rather than by the csv module, which cannot be told to quote
    cells holding ``;``; otherwise the bytes are the csv module's.
    """
    return _line(header) + "".join(map(_line, rows))


def results_csv(results: Iterable[Result] | Resolution) -> str:
    """The results CSV; a ``Resolution`` is written from its rows, no ``Result`` built."""
    from .reader import Resolution

    if isinstance(results, Resolution):
        if len(results) >= _COLUMNS_FROM:
            return _resolution_csv(results)
        return write_csv(CSV_HEADER, results.csv_rows())
    return write_csv(CSV_HEADER, (result.csv_row() for result in results))


# Rows from which a Resolution's CSV is written column by column (numpy's import and
# set-up cost more than they save on a few rows).
_COLUMNS_FROM = 200


def _safe_cells(values: Sequence[Any]) -> list[str]:
    """``[_field(v or "") for v in values]``, the usual plain column checked in one go.

    A column of printable strings without ``,`` ``;`` ``"`` (IDs, URLs, most
    organizations) needs only the formula-start test per cell; any other
    column takes ``_line``'s test per cell.
    """
    try:
        whole = "".join(filter(None, values))
    except TypeError:  # a non-string cell: it needs the per-cell test
        whole = "\x00"
    if whole.isprintable() and "," not in whole and ";" not in whole and '"' not in whole:
        return [
            value
            if type(value) is str and not value.startswith(FORMULA_TRIGGERS)
            else _field(value or "")
            for value in values
        ]
    return [value if _plain(value) else _field(value or "") for value in values]


def _times(times: Sequence[Any]) -> list[str]:
    """``[format_time(row_time(t)) for t in times]``, vectorised through ``row_micros``.

    numpy's ``datetime_as_string`` gives ``YYYY-MM-DDTHH:MM:SS.mmm`` of the
    floored milliseconds (``format_time`` truncates the microseconds of the
    second: the same for every instant); ``.000`` is dropped as ``format_time``
    does. Times outside years 1698-2242 are formatted one by one.
    """
    import numpy as np

    from .reader import row_micros, row_time

    micros, exact = row_micros(times)
    text = np.datetime_as_string((micros // 1000).astype("datetime64[ms]"), unit="ms").tolist()
    out = [t[:19] + "Z" if t[20:] == "000" else t + "Z" for t in text]
    for index in np.flatnonzero(~exact).tolist():
        out[index] = format_time(row_time(times[index]))
    return out


def _resolution_csv(resolution: Resolution) -> str:
    """``write_csv(CSV_HEADER, resolution.csv_rows())``, column by column.

    Status names and times never start with a formula trigger (a letter, a
    digit or nothing), so only the other columns are neutralised.
    """
    column = resolution.column
    names = {status: _field(status.value) for status in Status}
    columns = [
        _safe_cells(column("query")),
        [names[status] for status in column("status")],
        _safe_cells(column("entity_type")),
        _safe_cells(column("entity_id")),
        _safe_cells(column("run_id")),
        _safe_cells(column("run_url")),
        _safe_cells(column("organization_id")),
        _times(column("processed_at")),
        _times(column("expires_at")),
        _safe_cells(column("detail")),
    ]
    return _line(CSV_HEADER) + "\r\n".join(map(",".join, zip(*columns, strict=True))) + "\r\n"


def json_bytes(value: Any) -> bytes:
    """``value`` as indented JSON; every character ``escape_controls`` escapes is a ``\\uXXXX``.

    JSON's own notation, so a parser gets the very same strings back.
    """
    body = orjson.dumps(value, option=orjson.OPT_INDENT_2)
    # memchr-fast: most bodies (plain ASCII) skip the regex.
    if b"\x7f" not in body and b"\xc2" not in body and b"\xe2" not in body:
        return body
    return _JSON_RAW_RE.sub(lambda m: b"\\u%04x" % ord(m[0].decode()), body)


def results_json(results: Iterable[Result]) -> bytes:
    return json_bytes([result.as_dict() for result in results])


def _short_time(result: Result) -> str:
    # "~" marks a time inferred from the TTL rather than written by the producer.
    if result.processed_at is None:
        return ""
    return result.processed_at.strftime("%Y-%m-%d %H:%M") + (
        "~" if result.processed_at_inferred else ""
    )


def results_table(
    results: Sequence[Result],
    *,
    extra_columns: Sequence[str] = (),
    extra_cells: Sequence[Sequence[str]] | None = None,
) -> str:
    """A fixed-width text table for terminals: the columns that fit a screen, then
    ``extra_columns`` (one tuple of ``extra_cells`` per result, e.g. ``resolve --runs``)."""
    columns = (
        "query",
        "status",
        "entity_type",
        "run_id",
        "organization_id",
        "processed_at",
        *extra_columns,
    )
    extras = extra_cells if extra_cells is not None else [()] * len(results)
    rows = [
        tuple(
            escape_controls(cell)
            for cell in (
                r.query,
                r.status.value,
                r.entity_type or "",
                r.run_id or "",
                r.organization_id or "",
                _short_time(r),
                *extra,
            )
        )
        for r, extra in zip(results, extras, strict=True)
    ]
    widths = [
        min(60, max([len(col)] + [len(row[i]) for row in rows])) for i, col in enumerate(columns)
    ]
    lines = ["  ".join(col.ljust(widths[i]) for i, col in enumerate(columns)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(cell[:60].ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    return "\n".join(lines) + "\n"
