"""A trigger.dev run's state as Run Lookup shows it (TRIGGER_API.md §2–§4).

``parse_run`` reads a retrieve answer (§2) or a list item (§4, which lacks
``error``, ``relatedRuns`` and ``attemptCount``: those come back None).
Tolerant where the API may grow (an unknown status is kept as it is, a
missing optional field is None), strict where a wrong type would make us
show a guess: those raise ``RunsDataError`` naming the field.
Payload and output are never read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import RunsDataError

#: The statuses sent with ``x-trigger-api-version: 2025-07-16`` (§3).
NOT_FINISHED_STATUSES: frozenset[str] = frozenset(
    {"PENDING_VERSION", "QUEUED", "DEQUEUED", "EXECUTING", "WAITING", "DELAYED"}
)
SUCCESS = "COMPLETED"
#: Finished without success.
FAILED_STATUSES: frozenset[str] = frozenset(
    {"CANCELED", "FAILED", "CRASHED", "SYSTEM_FAILURE", "EXPIRED", "TIMED_OUT"}
)
KNOWN_STATUSES: frozenset[str] = NOT_FINISHED_STATUSES | {SUCCESS} | FAILED_STATUSES


def is_known(status: str) -> bool:
    """Whether ``status`` is one of the §3 current set (anything else: "unknown status")."""
    return status in KNOWN_STATUSES


@dataclass(frozen=True, slots=True)
class RunState:
    """What the API said about one run; times are aware UTC datetimes."""

    run_id: str
    status: str
    task_identifier: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: int | None = None
    attempt_count: int | None = None
    is_test: bool | None = None
    tags: tuple[str, ...] = ()
    error_name: str | None = None
    error_message: str | None = None
    error_stack: str | None = None
    root_run_id: str | None = None
    parent_run_id: str | None = None

    @property
    def known_status(self) -> bool:
        return is_known(self.status)

    @property
    def finished(self) -> bool:
        return self.status == SUCCESS or self.status in FAILED_STATUSES


def _where(run_id: str | None) -> str:
    return f"run {run_id}" if run_id else "a run"


def _string(obj: dict, field: str, run_id: str | None, *, required: bool = False) -> str | None:
    value = obj.get(field)
    if value is None:
        if required:
            raise RunsDataError(
                f"trigger.dev answered {_where(run_id)} without its {field!r} field — "
                "check TRIGGER_API_URL points at the trigger.dev API"
            )
        return None
    if not isinstance(value, str):
        raise RunsDataError(
            f"trigger.dev answered {_where(run_id)} with {field!r} of type "
            f"{type(value).__name__}, not a string — the API may have changed"
        )
    return value


def _time(obj: dict, field: str, run_id: str | None) -> datetime | None:
    value = obj.get(field)
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise TypeError
        if isinstance(value, int | float):
            parsed = datetime.fromtimestamp(value / 1000, tz=UTC)
        elif isinstance(value, str):
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        else:
            raise TypeError
    except (TypeError, ValueError, OverflowError, OSError):
        raise RunsDataError(
            f"trigger.dev answered {_where(run_id)} with {field!r} = {str(value)[:40]!r}, "
            "not an ISO 8601 time — the API may have changed"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _number(obj: dict, field: str, run_id: str | None) -> int | None:
    value = obj.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise RunsDataError(
            f"trigger.dev answered {_where(run_id)} with {field!r} = {str(value)[:40]!r}, "
            "not a number — the API may have changed"
        )
    return round(value)


def _related_id(related: Any, which: str, run_id: str | None) -> str | None:
    if not isinstance(related, dict):
        return None
    run = related.get(which)
    if run is None:
        return None
    if isinstance(run, str):
        return run
    if not isinstance(run, dict):
        raise RunsDataError(
            f"trigger.dev answered {_where(run_id)} with relatedRuns.{which} of type "
            f"{type(run).__name__}, not a run — the API may have changed"
        )
    return _string(run, "id", run_id)


def parse_run(obj: Any) -> RunState:
    """A ``RunState`` from a retrieve answer or a list item; ``RunsDataError`` if malformed."""
    if not isinstance(obj, dict):
        raise RunsDataError(
            f"trigger.dev answered a run as {type(obj).__name__}, not a JSON object — "
            "check TRIGGER_API_URL points at the trigger.dev API"
        )
    raw_id = obj.get("id")
    run_id = raw_id if isinstance(raw_id, str) and raw_id else None
    if run_id is None:
        raise RunsDataError(
            "trigger.dev answered a run without a string 'id' — "
            "check TRIGGER_API_URL points at the trigger.dev API"
        )
    status = _string(obj, "status", run_id, required=True)
    assert status is not None  # noqa: S101 - required=True raised otherwise
    tags = obj.get("tags")
    if tags is None:
        tags = []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise RunsDataError(
            f"trigger.dev answered run {run_id} with 'tags' that are not a list of strings — "
            "the API may have changed"
        )
    is_test = obj.get("isTest")
    if is_test is not None and not isinstance(is_test, bool):
        raise RunsDataError(
            f"trigger.dev answered run {run_id} with 'isTest' = {str(is_test)[:40]!r}, "
            "not true/false — the API may have changed"
        )
    error = obj.get("error")
    if error is not None and not isinstance(error, dict):
        # Some older runs carry the error as a bare string.
        error = {"message": error} if isinstance(error, str) else None
    error = error or {}
    related = obj.get("relatedRuns")
    return RunState(
        run_id=run_id,
        status=status,
        task_identifier=_string(obj, "taskIdentifier", run_id),
        created_at=_time(obj, "createdAt", run_id),
        started_at=_time(obj, "startedAt", run_id),
        finished_at=_time(obj, "finishedAt", run_id),
        duration_ms=_number(obj, "durationMs", run_id),
        attempt_count=_number(obj, "attemptCount", run_id),
        is_test=is_test,
        tags=tuple(tags),
        error_name=_string(error, "name", run_id),
        error_message=_string(error, "message", run_id),
        error_stack=_string(error, "stackTrace", run_id),
        root_run_id=_related_id(related, "root", run_id),
        parent_run_id=_related_id(related, "parent", run_id),
    )
