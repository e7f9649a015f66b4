"""Aggregates of scanned records by entity type × organization over a time window.

Built while the scan streams: each record is folded into counters and dropped,
so a million keys never sit in memory as parsed records. One scan of a window
(``scan_window`` → ``WindowFold``) counts by type × organization × time bucket ×
status, so the summary of any type and organization filter is a fold of those
counters (``WindowFold.view``), not another scan. Invalid keys are counted by
their TTL-inferred time, with the records' window rule (``in_window``; contract §9).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .errors import InputFormatError
from .export import SUMMARY_CSV_HEADER, write_csv
from .models import format_time
from .reader import InvalidRecord, ScanBatch, TelemetryReader
from .record import Facts
from .registry import ENTITY_TYPE_RE

INVALID_EXAMPLES = 20
UNKNOWN_ORG = ""
_NAN = float("nan")  # "no time known"
WINDOWS: dict[str, timedelta | None] = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "all": None,
}
HOURLY_UP_TO = timedelta(hours=48)  # longer windows count (and chart) by day
HOUR = 3600
DAY = 86400
_SINCE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

SummaryProgress = Callable[[int, int, int], None]
# (entity_type, entity_id, run_id, organization_id, processed_at epoch s or None)
WindowRecordHook = Callable[[str, str, str, str, float | None], None]
# (entity_type, entity_id, run_id, organization_id, processed_at, inferred, status)
KeptRow = tuple[str, str, str, str, float, bool, str]


def bucket_seconds(since: timedelta | None) -> int:
    """The over-time bucket of a window: an hour up to 48 h, a day beyond (and for all)."""
    return HOUR if since is not None and since <= HOURLY_UP_TO else DAY


def in_window(ts: float | None, start: float | None) -> bool:
    """The window rule for records and invalid keys alike: a time at or after ``start``
    (no ``start``: every key, a time or not)."""
    return start is None or (ts is not None and ts >= start)


def inferred_time(pttl_ms: int, now: float, ttl_seconds: int) -> float | None:
    """A key's write time inferred from its remaining TTL (contract §1); None without one."""
    return now - (ttl_seconds - pttl_ms / 1000) if pttl_ms >= 0 else None


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
    """What one window holds after the type and organization filters (``WindowFold.view``)."""

    as_of: datetime
    window_start: datetime | None
    scanned_keys: int = 0
    records: int = 0
    outside_window: int = 0
    invalid_records: int = 0  # invalid keys whose TTL-inferred time is in the window
    inferred_times: int = 0
    complete: bool = False
    capped: bool = False
    error: str = ""
    # (entity_type, organization_id) -> [records, latest epoch seconds]
    groups: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    over_time: Counter[tuple[int, str]] = field(default_factory=Counter)  # (bucket, type)
    bucket_seconds: int = HOUR
    statuses: Counter[tuple[str, str]] = field(default_factory=Counter)
    invalid_reasons: Counter[str] = field(default_factory=Counter)
    invalid_examples: list[InvalidRecord] = field(default_factory=list)
    invalid_outside: int = 0  # invalid keys (of the types) outside the window or without TTL
    rows: list[KeptRow] = field(default_factory=list)
    rows_truncated: bool = False
    types: tuple[str, ...] = ()  # the filters this summary is of (empty: all)
    organizations: tuple[str, ...] = ()
    # Sums over every group, computed on first use: a warm Summary page asks on every
    # rerun, and a window of a million keys has tens of thousands of groups.
    _totals: tuple[Counter[str], Counter[str], int] | None = field(
        default=None, repr=False, compare=False
    )

    def _sums(self) -> tuple[Counter[str], Counter[str], int]:
        if self._totals is None:
            types: Counter[str] = Counter()
            orgs: Counter[str] = Counter()
            for (entity_type, org), group in self.groups.items():
                count = int(group[0])
                types[entity_type] += count
                orgs[org] += count
            self._totals = (types, orgs, sum(n for org, n in orgs.items() if org))
        return self._totals

    @property
    def by_type(self) -> Counter[str]:
        return Counter(self._sums()[0])

    @property
    def by_org(self) -> Counter[str]:
        return Counter(self._sums()[1])

    @property
    def records_with_org(self) -> int:
        """Records that carry an organization (minimal records carry none)."""
        return self._sums()[2]

    def group_rows(self) -> list[tuple[str, str, int, str]]:
        """``(type, organization, records, latest_processed_at)``: by type, then most records."""
        return [
            (entity_type, org, int(group[0]), _iso(group[1]))
            for (entity_type, org), group in sorted(
                self.groups.items(), key=lambda item: (item[0][0], -item[1][0], item[0][1])
            )
        ]

    def groups_csv(self, org_names: Mapping[str, str] | None = None) -> str:
        """Contract §5's CSV; with ``org_names`` (``ORG_NAMES_PATH``) an ``organization_name``
        column after ``organization_id``."""
        if org_names is None:
            return write_csv(SUMMARY_CSV_HEADER, self.group_rows())
        header = (*SUMMARY_CSV_HEADER[:2], "organization_name", *SUMMARY_CSV_HEADER[2:])
        return write_csv(
            header,
            ((t, o, org_names.get(o, ""), n, at) for t, o, n, at in self.group_rows()),
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


@dataclass(slots=True)
class WindowFold:
    """One scan of one window, counted finely enough that every type × organization filter
    is a fold of its counters (``view``) rather than another scan.

    Its size follows the distinct (bucket, type, organization, status) cells, never the
    keys: a million minimal records are a few thousand cells.
    """

    as_of: datetime
    window_start: datetime | None
    bucket_seconds: int
    scanned_keys: int = 0
    records: int = 0
    outside_window: int = 0
    invalid_records: int = 0
    complete: bool = False
    capped: bool = False
    error: str = ""
    # (entity_type, organization_id) -> [records, latest epoch seconds, inferred times]
    groups: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    buckets: Counter[tuple[int, str, str]] = field(default_factory=Counter)
    statuses: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    invalid: Counter[tuple[str, str]] = field(default_factory=Counter)  # (type or "", reason)
    invalid_outside: Counter[str] = field(default_factory=Counter)  # by type ("" malformed)
    invalid_examples: list[tuple[str, InvalidRecord]] = field(default_factory=list)
    rows: list[KeptRow] = field(default_factory=list)
    rows_truncated: bool = False

    _seen: tuple[list[str], list[str]] | None = None

    def seen(self) -> tuple[list[str], list[str]]:
        """The window's entity types and organizations ("" = unknown), most records first;
        computed once (a page's filters ask on every rerun)."""
        if self._seen is None:
            types: Counter[str] = Counter()
            orgs: Counter[str] = Counter()
            for (entity_type, org), group in self.groups.items():
                types[entity_type] += int(group[0])
                orgs[org] += int(group[0])
            self._seen = ([t for t, _ in types.most_common()], [o for o, _ in orgs.most_common()])
        return self._seen

    def view(
        self, types: Iterable[str] | None = None, organizations: Iterable[str] | None = None
    ) -> Summary:
        """The summary of the records of ``types`` and ``organizations`` (None or empty: all).

        Invalid keys follow the type filter (a malformed key has no type, so none
        passes one) but not the organization filter: they have no organization.
        """
        wanted_types = tuple(sorted(set(types))) if types else ()
        wanted_orgs = tuple(sorted(set(organizations))) if organizations else ()
        t_ok = set(wanted_types) if wanted_types else None
        o_ok = set(wanted_orgs) if wanted_orgs else None
        summary = Summary(
            as_of=self.as_of,
            window_start=self.window_start,
            scanned_keys=self.scanned_keys,
            outside_window=self.outside_window,
            complete=self.complete,
            capped=self.capped,
            error=self.error,
            bucket_seconds=self.bucket_seconds,
            types=wanted_types,
            organizations=wanted_orgs,
        )
        if t_ok is None and o_ok is None:
            folded = self.groups
            over_time: Counter[tuple[int, str]] = Counter()
            for (bucket, entity_type, _), n in self.buckets.items():
                over_time[(bucket, entity_type)] += n
            statuses: Counter[tuple[str, str]] = Counter()
            for (entity_type, _, status), n in self.statuses.items():
                statuses[(entity_type, status)] += n
            rows = self.rows
        else:

            def keep(entity_type: str, org: str) -> bool:
                return (t_ok is None or entity_type in t_ok) and (o_ok is None or org in o_ok)

            folded = {k: v for k, v in self.groups.items() if keep(*k)}
            over_time = Counter()
            for (bucket, entity_type, org), n in self.buckets.items():
                if keep(entity_type, org):
                    over_time[(bucket, entity_type)] += n
            statuses = Counter()
            for (entity_type, org, status), n in self.statuses.items():
                if keep(entity_type, org):
                    statuses[(entity_type, status)] += n
            rows = [row for row in self.rows if keep(row[0], row[3])]
        summary.groups = {k: [v[0], v[1]] for k, v in folded.items()}
        summary.over_time = over_time
        summary.statuses = statuses
        summary.records = sum(int(group[0]) for group in folded.values())
        summary.inferred_times = sum(int(group[2]) for group in folded.values())
        summary.rows = rows
        summary.rows_truncated = self.rows_truncated and len(rows) < summary.records
        for (entity_type, reason), n in self.invalid.items():
            if t_ok is None or entity_type in t_ok:
                summary.invalid_reasons[reason] += n
        summary.invalid_records = sum(summary.invalid_reasons.values())
        summary.invalid_outside = sum(
            n for t, n in self.invalid_outside.items() if t_ok is None or t in t_ok
        )
        summary.invalid_examples = [
            record for t, record in self.invalid_examples if t_ok is None or t in t_ok
        ][:INVALID_EXAMPLES]
        return summary


def _iso(epoch: float) -> str:
    if epoch != epoch or epoch <= 0:  # NaN marks "no time known"
        return ""
    return format_time(datetime.fromtimestamp(epoch, tz=UTC))


class Summarizer:
    """Folds scan batches into a ``WindowFold``."""

    def __init__(
        self,
        *,
        now: float,
        ttl_seconds: int,
        since: timedelta | None = None,
        namespace: str = "telemetry",
        organizations: Iterable[str] | None = None,
        keep_rows: int = 0,
        on_window_record: WindowRecordHook | None = None,
    ) -> None:
        self.now = now
        self.ttl_seconds = ttl_seconds
        self.start = None if since is None else now - since.total_seconds()
        self.head = namespace + ":"
        # Only for the hook: the fold itself counts every organization (see WindowFold.view).
        self.orgs = set(organizations) if organizations else None
        self.keep_rows = keep_rows
        self.on_window_record = on_window_record
        self.bucket = bucket_seconds(since)
        self.examples_by_type: Counter[str] = Counter()
        self.fold = WindowFold(
            as_of=datetime.fromtimestamp(now, tz=UTC),
            window_start=None if self.start is None else datetime.fromtimestamp(self.start, tz=UTC),
            bucket_seconds=self.bucket,
        )

    @property
    def summary(self) -> WindowFold:  # the name callers of the first version used
        return self.fold

    def invalid_type(self, key: str) -> str:
        """The entity type an invalid key is under; "" for a malformed key (no type)."""
        if not key.startswith(self.head):
            return ""
        entity_type, sep, entity_id = key[len(self.head) :].partition(":")
        if not (sep and entity_id and ENTITY_TYPE_RE.match(entity_type)):
            return ""
        return entity_type

    def add(self, batch: ScanBatch) -> None:
        """Fold a batch in: its invalid keys, its records (when the scan kept them) and
        how far the scan got."""
        s = self.fold
        s.scanned_keys = batch.scanned
        for invalid in batch.invalid:
            entity_type = self.invalid_type(invalid.key)
            ts = inferred_time(invalid.pttl_ms, self.now, self.ttl_seconds)
            if not in_window(ts, self.start):
                s.invalid_outside[entity_type] += 1
                continue
            s.invalid_records += 1
            s.invalid[(entity_type, invalid.reason)] += 1
            if self.examples_by_type[entity_type] < INVALID_EXAMPLES:
                self.examples_by_type[entity_type] += 1
                s.invalid_examples.append((entity_type, invalid))
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
        s = self.fold
        inferred = facts.processed_at_inferred
        ts = facts.processed_at
        if ts is not None and type(ts) is not float:
            ts = ts.timestamp()  # a producer's datetime
        start = self.start
        if start is not None and (ts is None or ts < start):  # in_window, inlined
            s.outside_window += 1
            return
        org = facts.organization_id or UNKNOWN_ORG
        s.records += 1
        groups = s.groups
        group = groups.get((entity_type, org))
        if group is None:
            groups[(entity_type, org)] = [1, ts if ts is not None else _NAN, 1 if inferred else 0]
        else:
            group[0] += 1
            if inferred:
                group[2] += 1
            if ts is not None and not ts <= group[1]:
                group[1] = ts
        if self.on_window_record is not None and (self.orgs is None or org in self.orgs):
            self.on_window_record(entity_type, entity_id, facts.run_id, org, ts)
        if ts is not None:
            bucket = self.bucket
            s.buckets[(int(ts // bucket) * bucket, entity_type, org)] += 1
        meta = facts.data.get("metadata")
        status = ""
        if type(meta) is dict:
            value = meta.get("status")
            if type(value) is str:
                status = value
                s.statuses[(entity_type, org, value)] += 1
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


def scan_window(
    reader: TelemetryReader,
    *,
    since: timedelta | None = None,
    types: Iterable[str] | None = None,
    organizations: Iterable[str] | None = None,
    max_keys: int | None = None,
    keep_rows: int = 0,
    progress: SummaryProgress | None = None,
    on_window_record: WindowRecordHook | None = None,
) -> WindowFold:
    """Scan the namespace once and fold the window; ``fold.view(types, orgs)`` is then any
    filter's summary without another scan. ``types`` narrows the scan itself (SCAN
    MATCH for one type); ``organizations`` only filters what ``on_window_record`` sees.

    Raises ``StoreUnavailableError`` only when Redis fails before the first batch.
    """
    summarizer = Summarizer(
        now=reader.clock(),
        ttl_seconds=reader.ttl_seconds,
        since=since,
        namespace=reader.namespace,
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
            s = summarizer.fold
            progress(s.scanned_keys, s.records, s.invalid_records)
    return summarizer.fold


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
    fold = scan_window(
        reader,
        since=since,
        types=types,
        organizations=organizations,
        max_keys=max_keys,
        keep_rows=keep_rows,
        progress=progress,
        on_window_record=on_window_record,
    )
    return fold.view(types, organizations)
