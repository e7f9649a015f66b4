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
from .models import format_time
from .reader import InvalidRecord, ScanBatch, TelemetryReader
from .record import Facts

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
# (entity_type, entity_id, run_id, organization_id, processed_at epoch s or None)
WindowRecordHook = Callable[[str, str, str, str, float | None], None]


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
        on_window_record: WindowRecordHook | None = None,
    ) -> None:
        self.now = now
        self.ttl_seconds = ttl_seconds  # informational: the scan's facts already apply the TTL rule
        self.start = None if since is None else now - since.total_seconds()
        self.orgs = set(organizations) if organizations else None
        self.keep_rows = keep_rows
        self.on_window_record = on_window_record
        self.summary = Summary(
            as_of=datetime.fromtimestamp(now, tz=UTC),
            window_start=None if self.start is None else datetime.fromtimestamp(self.start, tz=UTC),
        )

    def add(self, batch: ScanBatch) -> None:
        """Fold a batch in: its invalid keys, its records (when the scan kept them) and
        how far the scan got."""
        s = self.summary
        s.scanned_keys = batch.scanned
        for invalid in batch.invalid:
            s.invalid_records += 1
            s.invalid_reasons[invalid.reason] += 1
            if len(s.invalid_examples) < INVALID_EXAMPLES:
                s.invalid_examples.append(invalid)
        add_record = self.add_record
        for record in batch.records:
            add_record(record.entity_type, record.entity_id, record.facts)
        if batch.error:
            s.error = batch.error
        s.capped = s.capped or batch.capped
        s.complete = batch.done and not batch.error

    def add_record(self, entity_type: str, entity_id: str, facts: Facts) -> None:
        """Fold one valid record in; ``summarize`` has the scan call this as it reads, so
        no record outlives its fold (see ``summarize``)."""
        s = self.summary
        inferred = facts.processed_at_inferred
        ts = facts.processed_at
        if ts is not None and type(ts) is not float:
            ts = ts.timestamp()  # a producer's datetime
        start = self.start
        if start is not None and (ts is None or ts < start):
            s.outside_window += 1
            return
        org = facts.organization_id or UNKNOWN_ORG
        if self.orgs is not None and org not in self.orgs:
            return
        s.records += 1
        if inferred:
            s.inferred_times += 1
        groups = s.groups
        group = groups.get((entity_type, org))
        if group is None:
            groups[(entity_type, org)] = [1, ts if ts is not None else float("nan")]
        else:
            group[0] += 1
            if ts is not None and not ts <= group[1]:
                group[1] = ts
        if self.on_window_record is not None:
            self.on_window_record(entity_type, entity_id, facts.run_id, org, ts)
        if ts is not None:
            s.hourly[(int(ts // 3600) * 3600, entity_type)] += 1
        meta = facts.data.get("metadata")
        status = ""
        if type(meta) is dict:
            value = meta.get("status")
            if type(value) is str:
                status = value
                s.statuses[(entity_type, value)] += 1
        if self.keep_rows:
            if len(s.rows) < self.keep_rows:
                s.rows.append(
                    (
                        entity_type,
                        entity_id,
                        facts.run_id,
                        org,
                        ts if ts is not None else float("nan"),
                        inferred,
                        status,
                    )
                )
            else:
                s.rows_truncated = True


def summarize(
    reader: TelemetryReader,
    *,
    since: timedelta | None = None,
    types: Iterable[str] | None = None,
    organizations: Iterable[str] | None = None,
    max_keys: int | None = None,
    keep_rows: int = 0,
    progress: SummaryProgress | None = None,
    on_window_record: WindowRecordHook | None = None,
) -> Summary:
    """Scan the namespace and aggregate it; partial (``complete=False``) when the scan was cut.

    ``on_window_record`` sees every record the summary counts (in the window, after the
    filters) as it is read, e.g. to collect run IDs without keeping whole rows.

    Raises ``StoreUnavailableError`` only when Redis fails before the first batch.
    """
    summarizer = Summarizer(
        now=reader.clock(),
        ttl_seconds=reader.ttl_seconds,
        since=since,
        organizations=organizations,
        keep_rows=keep_rows,
        on_window_record=on_window_record,
    )
    # Records are folded as the scan reads them rather than kept for the batch: a batch
    # of live records outlives young collections and gets promoted, and with the
    # collector never paused (it is the whole server's) that costs full collections.
    scan = reader.scan(
        types=list(types) if types else None,
        max_keys=max_keys,
        now=summarizer.now,
        on_record=summarizer.add_record,
    )
    for batch in scan:
        summarizer.add(batch)
        if progress is not None:
            s = summarizer.summary
            progress(s.scanned_keys, s.records, s.invalid_records)
    return summarizer.summary
