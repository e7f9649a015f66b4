"""The Bulk page's results table (``tables.bulk_table``) beyond what the page tests reach."""

from __future__ import annotations

import pyarrow as pa

from telemetry import Resolution, Status
from telemetry.reader import Row
from ui import tables


def _not_found(i: int) -> Row:
    """A not-found row; its detail names its key, as the reader's do."""
    key = f"telemetry:payment:pym_{i}"
    detail = f"no key {key}: never processed, or expired after the 14 d TTL"
    return Row(
        f"pym_{i}",
        Status.NOT_FOUND,
        entity_type="payment",
        entity_id=f"pym_{i}",
        detail=detail,
        key=key,
    )


def test_mostly_distinct_details_stay_plain_text() -> None:
    """Details that are all distinct (not-found rows) are sent as plain text, whole: a
    dictionary would repeat every value and add a code per row."""
    rows = [_not_found(i) for i in range(40_000)]
    table, found_runs, missing = tables.bulk_table(Resolution(rows=rows, queries=len(rows)))
    assert table.schema.field("detail").type == pa.string()
    assert table["detail"].to_pylist() == [row.detail for row in rows]
    assert pa.types.is_dictionary(table.schema.field("status").type)
    assert table["status"].to_pylist() == ["not_found"] * len(rows)
    assert table["run"].to_pylist() == [""] * len(rows)
    assert len(found_runs) == 0
    assert missing == [row.query for row in rows]
