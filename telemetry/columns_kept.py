"""The user's own columns after ours (contract §8), for ``resolve --keep-columns`` and Bulk.

The parser notes, for a table whose IDs come from one column, the other cells of
the line each query came from (``ParsedIds.kept``). Here they meet the rows of a
resolution, by the row's ``query``: every row of a query carries its line's
cells (an ID with no known prefix found under several types repeats them on
each row), and a row without a line (none in practice) gets empty cells.

Names follow one rule, whatever the flags: a kept column whose name equals one of
the sixteen names of §5 and §6, ignoring case, gets ``input_`` prepended
(``status`` → ``input_status``); then a name equal, ignoring case, to an earlier
kept name gets ``_2``, ``_3``… (the first free one). Output names are therefore
unique and never one of ours, with or without ``--runs``.

The outputs are the usual ones with cells appended: the CSV lines of
``results_csv`` / ``runs_csv`` (every cell there escaped, so a line never holds a
raw line break) each get their row's kept cells, written as ``write_csv`` writes
cells (``csv_safe`` neutralises formulas and escapes controls in them like every cell).
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from .export import _safe_cells, json_bytes, write_csv
from .ids import ParsedIds
from .models import CSV_HEADER
from .reader import Resolution
from .runs.columns import RUN_COLUMNS

INPUT_PREFIX = "input_"
OUR_COLUMNS: tuple[str, ...] = (*CSV_HEADER, *RUN_COLUMNS)
_OURS = frozenset(name.casefold() for name in OUR_COLUMNS)


@dataclass(frozen=True, slots=True)
class KeptRows:
    """The kept columns' output names, and one tuple of cells per resolution row."""

    names: tuple[str, ...]
    rows: list[tuple[str, ...]]


def output_names(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The kept columns' names in the output: see the module docstring."""
    taken: set[str] = set()
    out: list[str] = []
    for name in names:
        if name.casefold() in _OURS:
            name = INPUT_PREFIX + name
        unique, n = name, 1
        while unique.casefold() in taken:
            n += 1
            unique = f"{name}_{n}"
        taken.add(unique.casefold())
        out.append(unique)
    return tuple(out)


def kept_rows(parsed: ParsedIds, resolution: Resolution) -> KeptRows | None:
    """Each row's kept cells, or None when the input has no other columns to keep."""
    kept = parsed.kept
    if not kept.names:
        return None
    empty = ("",) * len(kept.names)
    get = kept.cells.get
    rows = [get(query, empty) for query in resolution.column("query")]
    return KeptRows(output_names(kept.names), rows)


def with_kept_csv(csv_text: str, kept: KeptRows | None) -> str:
    """``csv_text`` (a header and one line per resolution row) with the kept columns
    appended to every line; unchanged without kept columns."""
    if kept is None:
        return csv_text
    lines = csv_text.split("\r\n")
    if len(lines) != len(kept.rows) + 2:
        raise ValueError(f"{len(lines) - 2} rows but {len(kept.rows)} rows of kept cells")
    # Column by column, as results_csv writes a large resolution: each cell as write_csv
    # writes it (csv_safe, quoted when needed); the header as write_csv writes it.
    columns = [_safe_cells(cells) for cells in zip(*kept.rows, strict=True)]
    extra = [write_csv(kept.names, ()).removesuffix("\r\n")]
    extra += map(",".join, zip(*columns, strict=True)) if columns else [""] * len(kept.rows)
    extra.append("")
    return "\r\n".join(
        f"{line},{cells}" if line else line for line, cells in zip(lines, extra, strict=True)
    )


def with_kept_json(body: bytes, kept: KeptRows | None) -> bytes:
    """JSON rows (``results_json`` / ``runs_json``) with the kept names as keys, their
    cells as strings; unchanged without kept columns."""
    if kept is None:
        return body
    rows = orjson.loads(body)
    return json_bytes(
        [
            {**row, **dict(zip(kept.names, cells, strict=True))}
            for row, cells in zip(rows, kept.rows, strict=True)
        ]
    )


def kept_table_columns(
    kept: KeptRows | None, count: int
) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """``results_table``'s ``extra_columns`` and per-row ``extra_cells`` for the kept
    columns (nothing without them); ``count`` is the number of rows."""
    if kept is None:
        return (), [()] * count
    return kept.names, kept.rows
