"""The pages' tables, built as Arrow once per result: ``st.dataframe`` then only
serialises them on a rerun (no pandas conversion), and filtering costs no copy.

``summary_tables`` holds the Summary page's tables (and ``ui.charts`` the data
of its charts); the Bulk page's results table is ``bulk_table``, and ``run_table``
adds its run-state columns and ``with_kept`` the user's own (contract §8).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from telemetry import Resolution, Result, Status, Summary
from telemetry.columns_kept import KeptRows
from telemetry.reader import result_row, row_micros, row_time
from telemetry.runs import (
    FAILED_STATUSES,
    NOT_IN_ENVIRONMENT,
    RunOutcome,
    RunState,
    Unavailable,
    is_known,
    run_fields,
)

UNKNOWN = "(unknown)"  # an organization ID that records do not carry


def org_label(org: str) -> str:
    return org or UNKNOWN


def org_text(org: str, names: Mapping[str, str] | None) -> str:
    """An organization's label: its ID, and its name beside it when ``ORG_NAMES_PATH`` maps it."""
    name = names.get(org) if names and org else None
    return f"{org_label(org)} — {name}" if name else org_label(org)


def arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def arrow_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as Arrow IPC stream bytes, the form Streamlit sends a chart's data in
    (and what it would make of the frame itself: the index stays schema metadata)."""
    table = pa.Table.from_pandas(frame)
    sink = pa.BufferOutputStream()
    with pa.RecordBatchStreamWriter(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


@dataclass(frozen=True, slots=True)
class SummaryTables:
    pivot: pa.Table  # organizations × entity types
    statuses: pa.Table
    invalid_reasons: pa.Table
    invalid_examples: pa.Table


def summary_tables(summary: Summary, names: Mapping[str, str] | None = None) -> SummaryTables:
    by_type = summary.by_type
    statuses = sorted(summary.statuses.items(), key=lambda item: (item[0][0], -item[1]))
    status_frame = pd.DataFrame(
        {
            "entity_type": [t for (t, _), _ in statuses],
            "status": [s for (_, s), _ in statuses],
            "records": [n for _, n in statuses],
            "share": [n / by_type[t] if by_type.get(t) else 0.0 for (t, _), n in statuses],
        }
    )
    reasons = summary.invalid_reasons.most_common()
    examples = summary.invalid_examples
    return SummaryTables(
        pivot=arrow(_pivot(summary, names)),
        statuses=arrow(status_frame),
        invalid_reasons=pa.table(
            {"reason": [r for r, _ in reasons], "records": [n for _, n in reasons]},
            schema=pa.schema([("reason", pa.string()), ("records", pa.int64())]),
        ),
        invalid_examples=pa.table(
            {
                "key": [e.key for e in examples],
                "reason": [e.reason for e in examples],
                "raw value (truncated)": [e.raw for e in examples],
            },
            schema=pa.schema(
                [
                    ("key", pa.string()),
                    ("reason", pa.string()),
                    ("raw value (truncated)", pa.string()),
                ]
            ),
        ),
    )


def _pivot(summary: Summary, names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Organizations × entity types (records), busiest organization first; with ``names``
    a ``Name`` column beside the ID.

    The fixed columns are capitalised: entity types are lower snake case,
    so no type (``organization`` is one) can collide with them.
    """
    if not summary.groups:
        return pd.DataFrame({"Organization": [], "Total": []})
    long = pd.DataFrame(
        {
            "Organization": [org_label(org) for _, org in summary.groups],
            "entity_type": [t for t, _ in summary.groups],
            "records": [int(v[0]) for v in summary.groups.values()],
        }
    )
    table = long.pivot_table(
        index="Organization", columns="entity_type", values="records", aggfunc="sum", fill_value=0
    )
    table.columns.name = None
    table.insert(0, "Total", table.sum(axis=1))
    table = table.sort_values("Total", ascending=False).reset_index()
    if names is not None:
        ids = ["" if org == UNKNOWN else org for org in table["Organization"]]
        table.insert(1, "Name", [names.get(org, "") if org else "" for org in ids])
    return table


# -- the Bulk page's results table ---------------------------------------------

_MS = pa.timestamp("ms", tz="UTC")
_TEXT = pa.string()
# A string column with few distinct values (statuses, entity types, organizations, the
# found rows' details) goes as an Arrow dictionary: each value once, two bytes a row.
# It is what a pandas categorical becomes, and the table shows and searches it as text;
# the bytes are serialised and hashed on every page run.
_CODES = pa.dictionary(pa.int16(), pa.string())


def _ms(value: datetime | float | None) -> int | None:
    """A row's time (``row_time``) as Arrow's milliseconds: what the table shows."""
    value = row_time(value)
    return None if value is None else int(value.timestamp() * 1000)


def epoch_ms(times: Sequence[datetime | float | None]) -> pa.Array:
    """``[_ms(t) for t in times]`` as an Arrow timestamp array, vectorised: ``_ms`` is a
    float division and a product of the microseconds (``row_micros``), truncated."""
    micros, exact = row_micros(times)
    millis = np.trunc(micros / 1e6 * 1000).astype(np.int64)
    valid = exact.copy()
    for index in np.flatnonzero(~exact).tolist():
        value = _ms(times[index])
        if value is not None:
            millis[index] = value
            valid[index] = True
    return pa.array(millis, type=_MS, mask=~valid)


def _coded(values: list[Any]) -> pa.Array:
    """``values`` as a dictionary column, or as plain text when most are distinct (e.g. the
    details of not-found rows, each naming its key): then codes would only add bytes."""
    coded = pa.array(values, type=_CODES)
    if 2 * len(coded.dictionary) > len(coded):
        return coded.dictionary_decode()
    return coded


def bulk_table(results: Resolution | list[Result]) -> tuple[pa.Table, pa.Array, list[str]]:
    """The results table (one list per column, one Arrow table at the end: filtering and
    showing it later costs no conversion), the found run IDs (Arrow: most pages only count
    them) and the not-found queries."""
    if isinstance(results, Resolution):
        values = results.column
        status_values = results.status_values()
    else:
        rows = [result_row(r) for r in results]

        def values(name: str) -> list[Any]:
            return list(map(attrgetter(name), rows))

        status_values = [status.value for status in values("status")]

    query_values = values("query")
    entity_ids = values("entity_id")
    queries = pa.array(query_values, type=_TEXT)
    run_ids = pa.array(values("run_id"), type=_TEXT)
    run_urls = pa.array(values("run_url"), type=_TEXT)
    # Plain strings: Arrow converts str-enum members ten times slower.
    statuses = _coded(status_values)
    has_run = pc.fill_null(pc.greater(pc.utf8_length(run_ids), 0), False)
    found_runs = pc.filter(run_ids, pc.and_(pc.equal(statuses, Status.FOUND.value), has_run))
    missing = pc.filter(queries, pc.equal(statuses, Status.NOT_FOUND.value)).to_pylist()
    columns = {
        "query": queries,
        "status": statuses,
        "entity_type": _coded(values("entity_type")),
        # A bare ID is its own entity ID: the usual paste converts one column, not two.
        "entity_id": queries if entity_ids == query_values else pa.array(entity_ids, _TEXT),
        # No link is an empty cell: the link column would show a missing one as "None".
        "run": pc.fill_null(run_urls, ""),
        "run_id": run_ids,
        "organization_id": _coded(values("organization_id")),
        "processed_at": epoch_ms(values("processed_at")),
        "inferred": pa.array(values("processed_at_inferred"), type=pa.bool_()),
        "expires_at": epoch_ms(values("expires_at")),
        "detail": _coded(values("detail")),
    }
    has_url = pc.fill_null(pc.greater(pc.utf8_length(run_urls), 0), False)
    if not pc.any(pc.and_(has_run, pc.invert(has_url))).as_py():
        # Every run ID is in its link: the "no link" column is never shown, so not sent
        # (a tenth of the table's bytes, serialised and hashed on every page run).
        del columns["run_id"]
    return pa.Table.from_arrays(list(columns.values()), names=list(columns)), found_runs, missing


# -- the Bulk page's run-state columns (issue #14) -------------------------------------

_NOT_IN_ENVIRONMENT_ERROR = run_fields(NOT_IN_ENVIRONMENT)["run_error"]


@dataclass(frozen=True, slots=True)
class RunTable:
    """``bulk_table``'s table with the run-state columns, and what the page says about them."""

    table: pa.Table
    counts: dict[str, int]  # run status → rows, most first (found rows with a run only)
    unavailable: dict[str, int]  # why → rows, most first
    unknown: tuple[str, ...]  # statuses the API sent that are not in KNOWN_STATUSES
    failed_run_ids: list[str]  # distinct, in row order


def run_table(
    table: pa.Table, run_ids: Sequence[str | None], outcomes: Sequence[RunOutcome | None]
) -> RunTable:
    """Append Run status (dictionary-coded), Task, Run error and Run finished to ``table``.

    One pass over the outcomes into four plain lists: no object per row. The values are
    ``run_fields``'s (contract §6): the status as returned, ``not_in_environment``,
    ``unavailable`` with the reason as the error; empty for rows without an outcome.
    """
    statuses: list[str | None] = []
    tasks: list[str | None] = []
    errors: list[str | None] = []
    finished: list[datetime | None] = []
    reasons: Counter[str] = Counter()
    failed: dict[str, None] = {}
    for run_id, outcome in zip(run_ids, outcomes, strict=True):
        if outcome is None:
            statuses.append(None)
            tasks.append(None)
            errors.append(None)
            finished.append(None)
            continue
        statuses.append(outcome.status)
        if isinstance(outcome, RunState):
            tasks.append(outcome.task_identifier)
            errors.append(outcome.error_message)
            finished.append(outcome.finished_at)
            if outcome.status in FAILED_STATUSES and run_id:
                failed[run_id] = None
            continue
        tasks.append(None)
        finished.append(None)
        if isinstance(outcome, Unavailable):
            errors.append(outcome.reason)
            reasons[outcome.reason] += 1
        else:
            errors.append(_NOT_IN_ENVIRONMENT_ERROR)
    status_column = pa.array(statuses, type=_CODES)
    counted = pc.value_counts(status_column.dictionary_decode())
    counts = {
        value.as_py(): count.as_py()
        for value, count in zip(counted.field("values"), counted.field("counts"), strict=True)
        if value.is_valid
    }
    counts = dict(sorted(counts.items(), key=lambda item: -item[1]))
    ours = {Unavailable.status, NOT_IN_ENVIRONMENT.status}
    unknown = tuple(s for s in counts if s not in ours and not is_known(s))
    columns = {
        "run_status": status_column,
        "task": _coded(tasks),
        "run_error": _coded(errors),
        "run_finished_at": epoch_ms(finished),
    }
    for name, column in columns.items():
        table = table.append_column(name, column)
    return RunTable(
        table=table,
        counts=counts,
        unavailable=dict(reasons.most_common()),
        unknown=unknown,
        failed_run_ids=list(failed),
    )


# -- the Bulk page's kept input columns (contract §8, issue #15) ------------------------

KEPT_PREFIX = "input:"  # a kept column's key: never one of the table's own (none has ":")


def kept_key(name: str) -> str:
    """The table key of a kept column (its label is ``name``, the CSV's header)."""
    return KEPT_PREFIX + name


def with_kept(table: pa.Table, kept: KeptRows | None) -> pa.Table:
    """``table`` with the user's own columns appended as text, one per kept name."""
    if kept is None:
        return table
    columns = list(zip(*kept.rows, strict=True)) if kept.rows else [()] * len(kept.names)
    for name, cells in zip(kept.names, columns, strict=True):
        table = table.append_column(kept_key(name), pa.array(cells, type=_TEXT))
    return table
