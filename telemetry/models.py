"""The two things this project passes around: a stored record and a result row.

``TelemetryRecord`` is the full pydantic model of a stored value (both shapes,
unknown fields kept). Hot loops use ``decode_value`` instead, which applies the
same rules to a plain dict without building a model per record.
"""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

CSV_HEADER: tuple[str, ...] = (
    "query",
    "status",
    "entity_type",
    "entity_id",
    "run_id",
    "run_url",
    "organization_id",
    "processed_at",
    "expires_at",
    "detail",
)


class Status(StrEnum):
    FOUND = "found"
    NOT_FOUND = "not_found"
    INVALID_ID = "invalid_id"
    INVALID_RECORD = "invalid_record"
    ERROR = "error"
    IGNORED = "ignored"  # pasted text that cannot be an ID (contract §7): never looked up


class TelemetryRecord(BaseModel):
    """A stored value: ``runId`` required, the rest optional, unknown fields kept."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    run_id: str = Field(alias="runId")
    entity_type: str | None = Field(default=None, alias="entityType")
    entity_id: str | None = Field(default=None, alias="entityId")
    organization_id: str | None = Field(default=None, alias="organizationId")
    timestamp: Any = None
    metadata: Any = None

    @classmethod
    def from_value(cls, raw: bytes | str) -> "TelemetryRecord":
        """Validate a raw Redis value; raises ``ValueError`` with the reason."""
        data, reason = decode_value(raw)
        if data is None:
            raise ValueError(reason)
        return cls.model_validate(data)


class Result(BaseModel):
    """One output row: what one query resolved to."""

    model_config = ConfigDict(use_enum_values=False)

    query: str
    status: Status
    entity_type: str | None = None
    entity_id: str | None = None
    run_id: str | None = None
    run_url: str | None = None
    organization_id: str | None = None
    processed_at: datetime | None = None
    processed_at_inferred: bool = False
    expires_at: datetime | None = None
    detail: str = ""
    key: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    raw_value: str | None = None

    def csv_row(self) -> tuple[str, ...]:
        """The row under ``CSV_HEADER``, not yet formula-neutralised."""
        return (
            self.query,
            self.status.value,
            self.entity_type or "",
            self.entity_id or "",
            self.run_id or "",
            self.run_url or "",
            self.organization_id or "",
            format_time(self.processed_at),
            format_time(self.expires_at),
            self.detail,
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict: the CSV columns plus the inferred flag and metadata."""
        row: dict[str, Any] = dict(zip(CSV_HEADER, self.csv_row(), strict=True))
        for name in ("entity_type", "entity_id", "run_id", "run_url", "organization_id"):
            row[name] = row[name] or None
        row["processed_at"] = row["processed_at"] or None
        row["expires_at"] = row["expires_at"] or None
        row["processed_at_inferred"] = self.processed_at_inferred
        row["metadata"] = self.metadata
        return row


# Fields of the rich shape that are columns of their own, not metadata.
KNOWN_FIELDS = frozenset(
    {"runId", "entityType", "entityId", "organizationId", "timestamp", "metadata"}
)

_JSON_TYPE_NAMES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def json_type_name(value: Any) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def decode_value(raw: bytes | str) -> tuple[dict[str, Any] | None, str]:
    """Parse a stored value: ``(record, "")`` or ``(None, reason)``.

    The reason is what an ops person needs to see: why this is not a record.
    """
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None, "value is not JSON"
    if type(data) is not dict:
        return None, f"value is JSON {json_type_name(data)}, not an object"
    run_id = data.get("runId")
    if type(run_id) is not str:
        if "runId" not in data:
            return None, "no runId field"
        return None, f"runId is {json_type_name(run_id)}, not a string"
    if not run_id:
        return None, "runId is empty"
    return data, ""


# The metadata of every record without any: shared, so minimal records cost no dict each.
# Never handed to a caller that may mutate it (``Result`` gets a dict of its own).
NO_METADATA: dict[str, Any] = {}


def extra_metadata(data: dict[str, Any]) -> dict[str, Any]:
    """``metadata`` plus any unknown top-level fields (kept, never an error)."""
    meta = data.get("metadata")
    if type(meta) is dict and data.keys() <= KNOWN_FIELDS:
        return dict(meta)  # the rich shape: no unknown field to add
    out: dict[str, Any] = dict(meta) if type(meta) is dict else {}
    if meta is not None and type(meta) is not dict:
        out["metadata"] = meta
    for name, value in data.items():
        if name not in KNOWN_FIELDS:
            out[name] = value
    return out


def parse_timestamp(value: Any) -> datetime | None:
    """A producer timestamp as aware UTC, or None when absent or unreadable.

    Accepts ISO 8601 (``Z``, an offset, or naive = UTC) and epoch seconds or
    milliseconds (numbers or digit strings), because producers differ.
    """
    if type(value) is str and value[-1:] == "Z" and value[4:5] == "-" and value[10:11] == "T":
        # What producers write (``…T…:…:…Z``): the rule below, minus strip() and
        # astimezone(UTC), which give back what they are given for this shape.
        try:
            parsed = datetime.fromisoformat(value)
        except (ValueError, OverflowError):
            parsed = None
        if parsed is not None and parsed.tzinfo is UTC:
            return parsed
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text.lstrip("-").replace(".", "", 1).isdigit():
            try:
                return _from_epoch(float(text))
            except (ValueError, OverflowError, OSError):
                return None
        try:
            parsed = datetime.fromisoformat(text)
            if parsed.tzinfo is None:
                return parsed.replace(tzinfo=UTC)
            return parsed.astimezone(UTC)
        except (ValueError, OverflowError):  # OverflowError: an offset past year 1 or 9999
            return None
    if isinstance(value, (int, float)):
        try:
            return _from_epoch(float(value))
        except (ValueError, OverflowError, OSError):
            return None
    return None


def _from_epoch(number: float) -> datetime:
    # Values this large are milliseconds: seconds would be after the year 5000.
    if abs(number) >= 1e11:
        number /= 1000.0
    return datetime.fromtimestamp(number, tz=UTC)


def format_time(value: datetime | None) -> str:
    """ISO 8601 UTC ending in ``Z``; milliseconds only when there are any."""
    if value is None:
        return ""
    # "YYYY-MM-DDTHH:MM:SS.mmm+00:00": four-digit years, milliseconds truncated, in C
    # (strftime's %Y is not padded before the year 1000 on every platform).
    text = value.astimezone(UTC).isoformat(timespec="milliseconds")
    return text[:19] + ("Z" if text[20:23] == "000" else text[19:23] + "Z")
