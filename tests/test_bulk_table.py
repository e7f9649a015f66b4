"""The Bulk page's results table (``bulk_view.build_table``) beyond what the page tests reach."""

from __future__ import annotations

import pyarrow as pa

from telemetry import Resolution, Status
from ui import bulk_view


def _not_found(i: int) -> tuple[object, ...]:
    """A not-found row in ``ROW_FIELDS`` order; its detail names its key, as the reader's do."""
    key = f"telemetry:payment:pym_{i}"
    detail = f"no key {key}: never processed, or expired after the 14 d TTL"
    return (
        f"pym_{i}",
        Status.NOT_FOUND,
        "payment",
        f"pym_{i}",
        None,
        None,
        None,
        None,
        False,
        None,
        detail,
        key,
        {},
        None,
    )


def test_mostly_distinct_details_stay_plain_text() -> None:
    """Details that are all distinct (not-found rows) are sent as plain text, whole: a
    dictionary would repeat every value and add a code per row."""
    rows = [_not_found(i) for i in range(40_000)]
    table, found_runs, missing = bulk_view.build_table(Resolution(rows=rows, queries=len(rows)))
    assert table.schema.field("detail").type == pa.string()
    assert table["detail"].to_pylist() == [row[10] for row in rows]
    assert pa.types.is_dictionary(table.schema.field("status").type)
    assert table["status"].to_pylist() == ["not_found"] * len(rows)
    assert table["run"].to_pylist() == [""] * len(rows)
    assert len(found_runs) == 0
    assert missing == [row[0] for row in rows]
