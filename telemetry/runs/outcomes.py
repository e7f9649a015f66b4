"""Run outcomes of a summary window (issue #14 § Summary, contract §6 ``run_statuses``).

The records a summary counts (collected while the scan streams, through
``summarize(on_window_record=WindowRecords().add)``, or the rows the app's
Summary keeps) are joined with their runs' states:

- **counts** of records by (entity type, run status), with the failure share
  per type: failed runs (``FAILED_STATUSES``) ÷ records whose run the API
  answered for. ``not_in_environment`` and ``unavailable`` are counted under
  those names and left out of the share, never guessed;
- **failed entities**, newest first (finished, else processed), with the run
  link (``telemetry.links``), status, task, finish time and error message;
- CSVs of both through ``telemetry.export.write_csv`` (formula-safe, escaped).

Cost. The states come from one ``run_states`` call without error details
(``⌈runs created in the span / 100⌉`` list pages plus a retrieve per run the
listing missed): a failed run's error message costs a retrieve of its own, so
only the newest ``error_details`` failed runs get one (a second
``run_states`` call on just those, untimed: retrieves only). The CLI's
``run_statuses`` need none.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from ..export import write_csv
from ..links import run_url_builder
from ..models import format_time
from .bulk import RETRIEVE_CONCURRENCY, NotInEnvironment, RunOutcome, Unavailable, run_states
from .client import TriggerClient
from .model import FAILED_STATUSES, RunState

STATUS_CSV_HEADER: tuple[str, ...] = ("entity_type", "run_status", "records")
FAILED_CSV_HEADER: tuple[str, ...] = (
    "entity_type",
    "entity_id",
    "organization_id",
    "run_id",
    "run_url",
    "run_status",
    "task_identifier",
    "run_finished_at",
    "run_error",
    "processed_at",
)
UNAVAILABLE = Unavailable.status
NOT_IN_ENVIRONMENT = NotInEnvironment.status

#: (entity_type, entity_id, run_id, organization_id, processed_at epoch s or None)
WindowRecord = tuple[str, str, str, str, float | None]
#: ``progress(phase, done, total)``: phase is ``"states"`` (runs learned) or ``"errors"``.
OutcomeProgress = Callable[[str, int, int], None]


class WindowRecords:
    """The records a summary counts, collected as the scan streams (five fields each).

    ``summarize(reader, ..., on_window_record=records.add)``.
    """

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: list[WindowRecord] = []

    def add(
        self,
        entity_type: str,
        entity_id: str,
        run_id: str,
        organization_id: str,
        processed_at: float | None,
    ) -> None:
        self.rows.append((entity_type, entity_id, run_id, organization_id, processed_at))


def from_summary_rows(rows: Iterable[tuple[Any, ...]]) -> list[WindowRecord]:
    """``Summary.rows`` (kept by ``summarize(keep_rows=…)``) as window records."""
    return [
        (t, i, r, o, None if ts != ts else ts)  # NaN marks "no time known"
        for t, i, r, o, ts, *_ in rows
    ]


class FailedEntity(NamedTuple):
    """A record whose run finished without success."""

    entity_type: str
    entity_id: str
    organization_id: str
    run_id: str
    run_url: str | None
    run_status: str
    task_identifier: str | None
    finished_at: datetime | None
    error_message: str | None
    processed_at: datetime | None


class TypeOutcome(NamedTuple):
    """One entity type's records by outcome; ``failure_share`` is None when no run was learned."""

    entity_type: str
    records: int
    failed: int
    learned: int  # records whose run the API answered for
    not_in_environment: int
    unavailable: int
    failure_share: float | None


@dataclass(slots=True)
class RunOutcomes:
    """The window's records joined with their runs' states."""

    as_of: datetime
    records: int
    runs: int
    counts: Counter[tuple[str, str]]  # (entity_type, run_status) → records
    unavailable: Counter[str]  # reason → records
    failed: list[FailedEntity]
    requests: int = 0
    errors_fetched: int = 0  # failed runs whose error message was retrieved
    errors_skipped: int = 0  # failed runs beyond ``error_details``: no message asked for
    error_problem: str = ""  # why some error messages could not be retrieved
    by_type: list[TypeOutcome] = field(default_factory=list)

    def status_rows(self) -> list[tuple[str, str, int]]:
        """``(entity_type, run_status, records)``: by type, then most records, then status."""
        return [
            (entity_type, status, count)
            for (entity_type, status), count in sorted(
                self.counts.items(), key=lambda item: (item[0][0], -item[1], item[0][1])
            )
        ]

    def run_statuses(self) -> list[dict[str, Any]]:
        """Contract §6's ``run_statuses`` for ``summary --runs --format json``."""
        return [
            {"entity_type": entity_type, "run_status": status, "records": count}
            for entity_type, status, count in self.status_rows()
        ]

    def statuses_csv(self) -> str:
        return write_csv(STATUS_CSV_HEADER, self.status_rows())

    def failed_csv(self) -> str:
        return write_csv(
            FAILED_CSV_HEADER,
            (
                (
                    f.entity_type,
                    f.entity_id,
                    f.organization_id,
                    f.run_id,
                    f.run_url or "",
                    f.run_status,
                    f.task_identifier or "",
                    format_time(f.finished_at),
                    f.error_message or "",
                    format_time(f.processed_at),
                )
                for f in self.failed
            ),
        )


def _type_rows(counts: Counter[tuple[str, str]]) -> list[TypeOutcome]:
    per_type: dict[str, Counter[str]] = {}
    for (entity_type, status), count in counts.items():
        per_type.setdefault(entity_type, Counter())[status] += count
    rows = []
    for entity_type, statuses in per_type.items():
        records = sum(statuses.values())
        failed = sum(n for status, n in statuses.items() if status in FAILED_STATUSES)
        elsewhere = statuses[NOT_IN_ENVIRONMENT]
        unavailable = statuses[UNAVAILABLE]
        learned = records - elsewhere - unavailable
        share = failed / learned if learned else None
        rows.append(
            TypeOutcome(entity_type, records, failed, learned, elsewhere, unavailable, share)
        )
    return sorted(rows, key=lambda row: (-row.records, row.entity_type))


def _epoch_time(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=UTC)


def aggregate(
    records: Iterable[WindowRecord],
    outcomes: Mapping[str, RunOutcome],
    *,
    run_url_template: str,
    as_of: datetime | None = None,
) -> RunOutcomes:
    """Counts and failed entities of ``records`` given each run's outcome (pure: no API).

    A record whose run has no outcome in ``outcomes`` is counted ``unavailable``.
    """
    link = run_url_builder(run_url_template)
    counts: Counter[tuple[str, str]] = Counter()
    unavailable: Counter[str] = Counter()
    failed: list[FailedEntity] = []
    total = 0
    runs: set[str] = set()
    for entity_type, entity_id, run_id, org, processed_at in records:
        total += 1
        runs.add(run_id)
        outcome = outcomes.get(run_id)
        if outcome is None:
            outcome = Unavailable("the run's state was not asked for")
        counts[(entity_type, outcome.status)] += 1
        if isinstance(outcome, Unavailable):
            unavailable[outcome.reason] += 1
        elif isinstance(outcome, RunState) and outcome.status in FAILED_STATUSES:
            failed.append(
                FailedEntity(
                    entity_type,
                    entity_id,
                    org,
                    run_id,
                    link(run_id),
                    outcome.status,
                    outcome.task_identifier,
                    outcome.finished_at,
                    outcome.error_message,
                    _epoch_time(processed_at),
                )
            )
    epoch_zero = datetime.min.replace(tzinfo=UTC)
    failed.sort(
        key=lambda f: (f.finished_at or f.processed_at or epoch_zero, f.entity_id), reverse=True
    )
    return RunOutcomes(
        as_of=as_of or datetime.now(tz=UTC),
        records=total,
        runs=len(runs),
        counts=counts,
        unavailable=unavailable,
        failed=failed,
        by_type=_type_rows(counts),
    )


def run_outcomes(
    client: TriggerClient,
    records: Iterable[WindowRecord],
    *,
    run_url_template: str,
    error_details: int = 0,
    progress: OutcomeProgress | None = None,
) -> RunOutcomes:
    """Learn the runs of ``records`` and aggregate them; never raises for the API.

    ``error_details``: how many failed runs (newest first) get their error
    message retrieved, one request each (0: none).
    """
    rows = records if isinstance(records, list) else list(records)
    wanted: dict[str, datetime | None] = {}
    for _, _, run_id, _, processed_at in rows:
        moment = _epoch_time(processed_at)
        earlier = wanted.get(run_id)
        # One run can stand behind several records: its earliest time bounds the span.
        if earlier is None or (moment is not None and moment < earlier):
            wanted[run_id] = moment
    before = client.requests_made
    as_of = datetime.fromtimestamp(time.time(), tz=UTC)
    states = (
        run_states(
            client,
            wanted,
            error_details=False,
            on_progress=None if progress is None else lambda done, n: progress("states", done, n),
            concurrency=RETRIEVE_CONCURRENCY,
        )
        if wanted
        else {}
    )
    if progress is not None:
        progress("states", len(wanted), len(wanted))  # the last, partial page reports nothing
    result = aggregate(rows, states, run_url_template=run_url_template, as_of=as_of)
    failed_runs = list(dict.fromkeys(f.run_id for f in result.failed))
    asked = failed_runs[: max(error_details, 0)]
    result.errors_skipped = len(failed_runs) - len(asked)
    if asked:
        details = run_states(
            client,
            dict.fromkeys(asked),  # untimed: one retrieve each, no listing
            on_progress=None if progress is None else lambda done, n: progress("errors", done, n),
            concurrency=RETRIEVE_CONCURRENCY,
        )
        learned = {}
        for run_id, detail in details.items():
            if isinstance(detail, RunState):
                learned[run_id] = detail
            elif isinstance(detail, Unavailable) and not result.error_problem:
                result.error_problem = detail.reason
        result.errors_fetched = len(learned)
        result.failed = [
            f._replace(error_message=learned[f.run_id].error_message) if f.run_id in learned else f
            for f in result.failed
        ]
    result.requests = client.requests_made - before
    return result
