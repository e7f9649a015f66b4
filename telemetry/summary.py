"""Aggregates of scanned records by entity type × organization over a time window.

Built while the scan streams: each batch is folded into counters and dropped,
so a million keys never sit in memory as parsed records.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .errors import InputFormatError
from .export import SUMMARY_CSV_HEADER, write_csv
from .models import format_time, parse_timestamp
from .reader import InvalidRecord, ScanBatch, TelemetryReader, paused_gc

INVALID_EXAMPLES = 20
UNKNOWN_ORG = ""
ROWS_CSV_HEADER: tuple[str, ...] = (
    "entity_type",
    "entity_id",
    "run_id",
    "organization_id",
    "processed_at",
    "processed_at_inferred",
    "status",
)
WINDOWS: dict[str, timedelta | None] = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "all": None,
}
_SINCE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

SummaryProgress = Callable[[int, int, int], None]


def parse_since(text: str | None) -> timedelta | None:
    """``"24h"``, ``"90m"``, ``"7d"``, ``"2w"`` as a window; ``"all"`` or None for no window."""
    if text is None or text.strip().lower() in ("", "all"):
        return None
    match = _SINCE_RE.match(text)
    if not match:
        raise InputFormatError(
            f"Window {text!r} is not a duration: use a number and a unit, e.g. 90m, 24h, 7d "
            "(or 'all')."
        )
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2).lower()])


@dataclass(slots=True)
class Summary:
    as_of: datetime
    window_start: datetime | None
    scanned_keys: int = 0
    records: int = 0
    outside_window: int = 0
    invalid_records: int = 0
    inferred_times: int = 0
    complete: bool = False
    capped: bool = False
    error: str = ""
    # (entity_type, organization_id) -> [records, latest epoch seconds]
    groups: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    hourly: Counter[tuple[int, str]] = field(default_factory=Counter)
    statuses: Counter[tuple[str, str]] = field(default_factory=Counter)
    invalid_reasons: Counter[str] = field(default_factory=Counter)
    invalid_examples: list[InvalidRecord] = field(default_factory=list)
    rows: list[tuple[str, str, str, str, float, bool, str]] = field(default_factory=list)
    rows_truncated: bool = False

    @property
    def by_type(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for (entity_type, _), (count, _) in self.groups.items():
            out[entity_type] += int(count)
        return out

    @property
    def by_org(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for (_, org), (count, _) in self.groups.items():
            out[org] += int(count)
        return out

    def group_rows(self) -> list[tuple[str, str, int, str]]:
        """``(type, organization, records, latest_processed_at)``: by type, then most records."""
        return [
            (entity_type, org, int(count), _iso(latest))
            for (entity_type, org), (count, latest) in sorted(
                self.groups.items(), key=lambda item: (item[0][0], -item[1][0], item[0][1])
            )
        ]

    def groups_csv(self) -> str:
        return write_csv(SUMMARY_CSV_HEADER, self.group_rows())

    def rows_csv(self) -> str:
        return write_csv(
            ROWS_CSV_HEADER,
            (
                (t, i, r, o, _iso(ts), "true" if inferred else "false", s)
                for t, i, r, o, ts, inferred, s in self.rows
            ),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "scanned_keys": self.scanned_keys,
            "records": self.records,
            "invalid_records": self.invalid_records,
            "complete": self.complete,
            "window_start": format_time(self.window_start) or None,
            "groups": [
                {
                    "entity_type": entity_type,
                    "organization_id": org or None,
                    "records": count,
                    "latest_processed_at": latest or None,
                }
                for entity_type, org, count, latest in self.group_rows()
            ],
        }


def _canonical_epoch(stamp: Any, hours: dict[str, float]) -> float | None:
    """Epoch seconds of ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (what producers write) without datetime.

    The hour's epoch comes from ``hours`` (one ``fromisoformat`` per distinct
    hour); anything else is None, for ``parse_timestamp``.
    """
    if type(stamp) is not str or len(stamp) != 24 or stamp[23] != "Z" or stamp[10] != "T":
        return None
    base = hours.get(stamp[:13])
    if base is None:
        try:
            base = datetime.fromisoformat(stamp[:13] + ":00:00+00:00").timestamp()
        except ValueError:
            return None
        hours[stamp[:13]] = base
    minutes, seconds, millis = stamp[14:16], stamp[17:19], stamp[20:23]
    if not (minutes + seconds + millis).isdigit() or stamp[13] + stamp[16] + stamp[19] != "::.":
        return None
    minute, second = int(minutes), int(seconds)
    if minute > 59 or second > 59:
        return None
    return base + minute * 60 + second + int(millis) / 1000


def _iso(epoch: float) -> str:
    if epoch != epoch or epoch <= 0:  # NaN marks "no time known"
        return ""
    return format_time(datetime.fromtimestamp(epoch, tz=UTC))


class Summarizer:
    """Folds scan batches into a ``Summary``."""

    def __init__(
        self,
        *,
        now: float,
        ttl_seconds: int,
        since: timedelta | None = None,
        organizations: Iterable[str] | None = None,
        keep_rows: int = 0,
    ) -> None:
        self.now = now
        self.ttl_seconds = ttl_seconds
        self.start = None if since is None else now - since.total_seconds()
        self.orgs = set(organizations) if organizations else None
        self.keep_rows = keep_rows
        self._hours: dict[str, float] = {}  # "2026-11-20T10" -> its epoch, see _canonical_epoch
        self.summary = Summary(
            as_of=datetime.fromtimestamp(now, tz=UTC),
            window_start=None if self.start is None else datetime.fromtimestamp(self.start, tz=UTC),
        )

    def add(self, batch: ScanBatch) -> None:
        s = self.summary
        s.scanned_keys = batch.scanned
        for invalid in batch.invalid:
            s.invalid_records += 1
            s.invalid_reasons[invalid.reason] += 1
            if len(s.invalid_examples) < INVALID_EXAMPLES:
                s.invalid_examples.append(invalid)
        start, now, ttl, orgs = self.start, self.now, self.ttl_seconds, self.orgs
        groups, hourly, statuses = s.groups, s.hourly, s.statuses
        hours = self._hours
        for record in batch.records:
            data = record.data
            entity_type = record.entity_type
            inferred = False
            ts: float | None = None
            stamp = data.get("timestamp")
            if stamp is not None:
                ts = _canonical_epoch(stamp, hours)
                if ts is None:
                    parsed = parse_timestamp(stamp)
                    if parsed is not None:
                        ts = parsed.timestamp()
            if ts is None and record.pttl_ms >= 0:
                ts = now - (ttl - record.pttl_ms / 1000)
                inferred = True
            if start is not None and (ts is None or ts < start):
                s.outside_window += 1
                continue
            org = data.get("organizationId")
            if type(org) is not str:
                org = str(org) if org is not None else UNKNOWN_ORG
            if not org and entity_type == "organization":
                org = record.entity_id
            if orgs is not None and org not in orgs:
                continue
            s.records += 1
            if inferred:
                s.inferred_times += 1
            group = groups.get((entity_type, org))
            if group is None:
                groups[(entity_type, org)] = [1, ts if ts is not None else float("nan")]
            else:
                group[0] += 1
                if ts is not None and not ts <= group[1]:
                    group[1] = ts
            if ts is not None:
                hourly[(int(ts // 3600) * 3600, entity_type)] += 1
            meta = data.get("metadata")
            status = ""
            if type(meta) is dict:
                value = meta.get("status")
                if type(value) is str:
                    status = value
                    statuses[(entity_type, value)] += 1
            if self.keep_rows:
                if len(s.rows) < self.keep_rows:
                    s.rows.append(
                        (
                            entity_type,
                            record.entity_id,
                            data["runId"],
                            org,
                            ts if ts is not None else float("nan"),
                            inferred,
                            status,
                        )
                    )
                else:
                    s.rows_truncated = True
        if batch.error:
            s.error = batch.error
        s.capped = s.capped or batch.capped
        s.complete = batch.done and not batch.error


def summarize(
    reader: TelemetryReader,
    *,
    since: timedelta | None = None,
    types: Iterable[str] | None = None,
    organizations: Iterable[str] | None = None,
    max_keys: int | None = None,
    keep_rows: int = 0,
    progress: SummaryProgress | None = None,
) -> Summary:
    """Scan the namespace and aggregate it; partial (``complete=False``) when the scan was cut.

    Raises ``StoreUnavailableError`` only when Redis fails before the first batch.
    """
    summarizer = Summarizer(
        now=reader.clock(),
        ttl_seconds=reader.ttl_seconds,
        since=since,
        organizations=organizations,
        keep_rows=keep_rows,
    )
    with paused_gc():
        for batch in reader.scan(types=list(types) if types else None, max_keys=max_keys):
            summarizer.add(batch)
            if progress is not None:
                s = summarizer.summary
                progress(s.scanned_keys, s.records, s.invalid_records)
    return summarizer.summary
