"""CSV and JSON output, shared by the CLI and the app's download buttons.

Every CSV cell goes through ``csv_safe``: a spreadsheet must never run a
formula that came from a record or a paste.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from .models import CSV_HEADER, Result

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
        return write_csv(CSV_HEADER, results.csv_rows())
    return write_csv(CSV_HEADER, (result.csv_row() for result in results))


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
