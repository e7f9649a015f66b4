"""Run state as the six columns of contract §6, for the rows of a resolution.

``resolution_runs`` asks the API once for every found row's run (through
``run_states``: a listing of the records' time span, retrieves only for what
it missed) and gives each row its outcome; ``run_fields`` turns an outcome
into the six values (typed, for JSON) and ``run_cells`` into CSV text;
``runs_csv`` / ``runs_json`` are whole outputs (CLI and Bulk download alike).
A row that is not ``found`` gets no outcome and empty cells.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..export import CSV_HEADER, json_bytes, write_csv
from ..models import Status, format_time
from ..reader import Resolution, row_time
from .bulk import (
    RETRIEVE_CONCURRENCY,
    NotInEnvironment,
    Progress,
    RunOutcome,
    Unavailable,
    run_states,
)
from .client import TriggerClient

RUN_COLUMNS = (
    "run_status",
    "task_identifier",
    "run_created_at",
    "run_finished_at",
    "run_duration_ms",
    "run_error",
)
_EMPTY: dict[str, Any] = dict.fromkeys(RUN_COLUMNS)


def resolution_runs(
    client: TriggerClient, resolution: Resolution, *, on_progress: Progress | None = None
) -> list[RunOutcome | None]:
    """Each row's run outcome (None for a row that is not ``found`` or has no run ID);
    ``on_progress`` as ``run_states`` takes it."""
    statuses = resolution.column("status")
    run_ids = resolution.column("run_id")
    times = resolution.column("processed_at")
    wanted: dict[str, datetime | None] = {}
    for status, run_id, when in zip(statuses, run_ids, times, strict=True):
        if status is Status.FOUND and run_id:
            moment = row_time(when)
            earlier = wanted.get(run_id)
            # One run can stand behind several records: its earliest time bounds the span.
            wanted[run_id] = moment if earlier is None or (moment and moment < earlier) else earlier
    outcomes = (
        run_states(client, wanted, on_progress=on_progress, concurrency=RETRIEVE_CONCURRENCY)
        if wanted
        else {}
    )
    return [
        outcomes.get(run_id) if status is Status.FOUND and run_id else None
        for status, run_id in zip(statuses, run_ids, strict=True)
    ]


def run_fields(outcome: RunOutcome | None) -> dict[str, Any]:
    """The six §6 values of one row (None where there is nothing to say)."""
    if outcome is None:
        return dict(_EMPTY)
    if isinstance(outcome, Unavailable):
        return {**_EMPTY, "run_status": outcome.status, "run_error": outcome.reason}
    if isinstance(outcome, NotInEnvironment):
        return {
            **_EMPTY,
            "run_status": outcome.status,
            "run_error": "the API does not know this run in TRIGGER_SECRET_KEY's environment",
        }
    return {
        "run_status": outcome.status,
        "task_identifier": outcome.task_identifier,
        "run_created_at": format_time(outcome.created_at) or None,
        "run_finished_at": format_time(outcome.finished_at) or None,
        "run_duration_ms": outcome.duration_ms,
        "run_error": outcome.error_message,
    }


def run_cells(outcome: RunOutcome | None) -> tuple[str, ...]:
    """``run_fields`` as CSV text (escaping and formulas are ``csv_safe``'s job)."""
    fields = run_fields(outcome)
    return tuple("" if fields[name] is None else str(fields[name]) for name in RUN_COLUMNS)


def runs_csv(resolution: Resolution, outcomes: list[RunOutcome | None]) -> str:
    """The results CSV of contract §5 with the six §6 columns appended (``resolve --runs``)."""
    cells = (
        (*row, *run_cells(outcome))
        for row, outcome in zip(resolution.csv_rows(), outcomes, strict=True)
    )
    return write_csv((*CSV_HEADER, *RUN_COLUMNS), cells)


def runs_json(resolution: Resolution, outcomes: list[RunOutcome | None]) -> bytes:
    """The results as JSON with the six §6 keys on every row (``resolve --runs --format json``)."""
    return json_bytes(
        [
            {**result.as_dict(), **run_fields(outcome)}
            for result, outcome in zip(resolution.results, outcomes, strict=True)
        ]
    )
