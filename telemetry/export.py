"""CSV and JSON output, shared by the CLI and the app's download buttons.

Every CSV cell goes through ``csv_safe``: a spreadsheet must never run a
formula that came from a record or a paste.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from operator import itemgetter
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


def csv_safe(cell: object) -> str:
    """The cell as text, prefixed with ``'`` when a spreadsheet would read it as a formula."""
    text = "" if cell is None else str(cell)
    if text.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


def write_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV text (``\\r\\n`` line ends, as the csv module and spreadsheets expect)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([csv_safe(cell) for cell in header])
    writer.writerows([csv_safe(cell) for cell in row] for row in rows)
    return buffer.getvalue()


def results_csv(results: Iterable[Result] | Resolution) -> str:
    """The results CSV; a ``Resolution`` is written from its rows, no ``Result`` built."""
    from .reader import Resolution

    if isinstance(results, Resolution):
        if len(results.rows) >= _COLUMNS_FROM:
            return _resolution_csv(results)
        return write_csv(CSV_HEADER, results.csv_rows())
    return write_csv(CSV_HEADER, (result.csv_row() for result in results))


# Rows from which a Resolution's CSV is written column by column (numpy's import and
# set-up cost more than they save on a few rows).
_COLUMNS_FROM = 200


def _safe_cells(values: Iterable[Any]) -> list[str]:
    """``[csv_safe(v or "") for v in values]`` with one test for the usual plain string."""
    return [
        value
        if type(value) is str and not value.startswith(FORMULA_TRIGGERS)
        else csv_safe(value or "")
        for value in values
    ]


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
    from .reader import (
        DETAIL,
        ENTITY_ID,
        ENTITY_TYPE,
        EXPIRES_AT,
        ORGANIZATION_ID,
        PROCESSED_AT,
        QUERY,
        RUN_ID,
        RUN_URL,
        STATUS,
    )

    rows = resolution.rows

    def column(index: int) -> list[Any]:
        return list(map(itemgetter(index), rows))

    names = {status: csv_safe(status.value) for status in Status}
    columns = [
        _safe_cells(column(QUERY)),
        [names[status] for status in column(STATUS)],
        _safe_cells(column(ENTITY_TYPE)),
        _safe_cells(column(ENTITY_ID)),
        _safe_cells(column(RUN_ID)),
        _safe_cells(column(RUN_URL)),
        _safe_cells(column(ORGANIZATION_ID)),
        _times(column(PROCESSED_AT)),
        _times(column(EXPIRES_AT)),
        _safe_cells(column(DETAIL)),
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([csv_safe(cell) for cell in CSV_HEADER])
    writer.writerows(zip(*columns, strict=True))
    return buffer.getvalue()


def results_json(results: Iterable[Result]) -> bytes:
    return orjson.dumps([result.as_dict() for result in results], option=orjson.OPT_INDENT_2)


def _short_time(result: Result) -> str:
    # "~" marks a time inferred from the TTL rather than written by the producer.
    if result.processed_at is None:
        return ""
    return result.processed_at.strftime("%Y-%m-%d %H:%M") + (
        "~" if result.processed_at_inferred else ""
    )


def _printable(text: str) -> str:
    # Record data is untrusted: a newline or an escape sequence must not reach a terminal raw.
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def results_table(results: Sequence[Result]) -> str:
    """A fixed-width text table for terminals: the columns that fit a screen."""
    columns = ("query", "status", "entity_type", "run_id", "organization_id", "processed_at")
    rows = [
        tuple(
            _printable(cell)
            for cell in (
                r.query,
                r.status.value,
                r.entity_type or "",
                r.run_id or "",
                r.organization_id or "",
                _short_time(r),
            )
        )
        for r in results
    ]
    widths = [
        min(60, max([len(col)] + [len(row[i]) for row in rows])) for i, col in enumerate(columns)
    ]
    lines = ["  ".join(col.ljust(widths[i]) for i, col in enumerate(columns)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(cell[:60].ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    return "\n".join(lines) + "\n"
