"""Read-only access to telemetry records: lookup, bulk resolve, namespace scan.

Round trips, not Redis, are the cost: resolve sends one pipeline per chunk of
keys (an MGET plus a PTTL per key) and the scan overlaps the next SCAN with
the MGET of the keys the previous SCAN returned. The commands used are the
least-privilege set of the contract: GET, MGET, SCAN, PTTL, TYPE, PING.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

import orjson
from orjson import JSONDecodeError

from .config import Settings
from .errors import PartialFetchError, StoreUnavailableError, TelemetryError
from .ids import Query, _prefix_matcher, parse_ids, paused_gc
from .keys import make_key, parse_key, scan_pattern
from .links import RUN_ID_RE, run_url_builder
from .models import (
    Result,
    Status,
    decode_value,
    extra_metadata,
    format_time,
    parse_timestamp,
)
from .registry import ENTITY_TYPE_RE
from .store import Store, WrongType

RAW_PREVIEW_CHARS = 200
DEFAULT_CHUNK_KEYS = 1_000
# A producer clock a little ahead of ours is not "in the future".
FUTURE_TOLERANCE = timedelta(minutes=5)
_FUTURE_SECONDS = FUTURE_TOLERANCE.total_seconds()
_from_timestamp = datetime.fromtimestamp
_from_iso = datetime.fromisoformat
_loads = orjson.loads
# What record_fields returns, in the order of TelemetryReader._record_values.
_RECORD_FIELDS = (
    "run_id",
    "run_url",
    "organization_id",
    "processed_at",
    "processed_at_inferred",
    "expires_at",
    "detail",
    "metadata",
)


def _parse_stamp(stamp: Any) -> datetime | None:
    """``parse_timestamp``, with a shortcut for what producers write (``…T…:…:…Z``)."""
    if type(stamp) is str and stamp[-1:] == "Z" and stamp[4:5] == "-" and stamp[10:11] == "T":
        try:
            parsed = _from_iso(stamp)
        except (ValueError, OverflowError):
            parsed = None
        if parsed is not None and parsed.tzinfo is UTC:
            return parsed  # parse_timestamp's very result: it would only strip() and astimezone
    return parse_timestamp(stamp)


ProgressCallback = Callable[[int, int], None]

_new_result = Result.__new__
_set_attribute = object.__setattr__


def _result(fields: dict[str, Any]) -> Result:
    """``Result.model_construct(**fields)`` for a dict holding every field (``_defaults``).

    The same four attributes pydantic's ``model_construct`` sets, without its
    per-field loop (~5 µs a row, the biggest single cost of a bulk resolve).
    """
    result = _new_result(Result)
    _set_attribute(result, "__dict__", fields)
    _set_attribute(result, "__pydantic_fields_set__", set(fields))
    _set_attribute(result, "__pydantic_extra__", None)
    _set_attribute(result, "__pydantic_private__", None)
    return result


# A row of a Resolution: Result's fields, in Result's order, as a plain tuple.
ROW_FIELDS: tuple[str, ...] = tuple(Result.model_fields)
(
    QUERY,
    STATUS,
    ENTITY_TYPE,
    ENTITY_ID,
    RUN_ID,
    RUN_URL,
    ORGANIZATION_ID,
    PROCESSED_AT,
    PROCESSED_AT_INFERRED,
    EXPIRES_AT,
    DETAIL,
    KEY,
    METADATA,
    RAW_VALUE,
) = range(len(ROW_FIELDS))
Row = tuple[Any, ...]
Owner = tuple[str, str, str]  # (query text, entity type, entity ID) of a key


# Rows of minimal records share this dict; each Result gets a dict of its own.
_NO_METADATA: dict[str, Any] = {}


def row_time(value: datetime | float | None) -> datetime | None:
    """A row's ``processed_at`` / ``expires_at`` as the ``Result`` holds it.

    Times computed from ``now`` and a TTL stay epoch floats in rows and become
    datetimes only here (``datetime.fromtimestamp`` of the very float, so the
    value is the one an eager conversion gives): a bulk resolve, its CSV and
    its table never need the two datetimes a row would otherwise cost.
    Producer timestamps stay the datetimes they were parsed into.
    """
    return _from_timestamp(value, UTC) if type(value) is float else value  # type: ignore[return-value]


# Below this magnitude a float holds an epoch time finely enough (within 0.48 µs) for
# datetime.fromtimestamp's rounding to give back its exact microseconds: years 1698-2242.
_EXACT_EPOCH = float(2**33)


def row_micros(times: Sequence[datetime | float | None]) -> tuple[Any, Any]:
    """Row times (``row_time``'s input) as microseconds since the epoch, vectorised.

    Returns numpy arrays ``(micros, exact)``: where ``exact``, ``micros`` is
    the instant of ``row_time(t)`` to the microsecond; elsewhere (None, or a
    time outside years 1698-2242) it is 0 and the caller converts that value
    one by one. A float goes through what ``datetime.fromtimestamp`` does
    (``modf``, the fraction times 10⁶ rounded half to even); a datetime enters
    as its ``timestamp()``, which that maps back to its own microseconds.
    """
    import numpy as np  # only for bulk output: keeps the CLI's start-up light

    nan = math.nan
    seconds = np.array(
        [t if type(t) is float else nan if t is None else t.timestamp() for t in times],
        dtype=np.float64,
    )
    exact = np.abs(seconds) < _EXACT_EPOCH  # False for NaN: the Nones
    whole = np.where(exact, np.trunc(seconds), 0.0)
    fraction = np.where(exact, seconds - whole, 0.0)
    micros = whole.astype(np.int64) * 1_000_000 + np.rint(fraction * 1e6).astype(np.int64)
    return micros, exact


def row_result(row: Row) -> Result:
    """The ``Result`` of one row (what ``Resolution.results`` holds)."""
    fields = dict(zip(ROW_FIELDS, row, strict=True))
    fields["processed_at"] = row_time(row[PROCESSED_AT])
    fields["expires_at"] = row_time(row[EXPIRES_AT])
    if row[METADATA] is _NO_METADATA:
        fields["metadata"] = {}
    return _result(fields)


_status_of = itemgetter(STATUS)
_text_of, _entity_id_of, _type_of, _error_of = (itemgetter(i) for i in range(4))  # Query's


def result_row(result: Result) -> Row:
    return tuple(getattr(result, name) for name in ROW_FIELDS)


def _row(fields: dict[str, Any]) -> Row:
    return tuple(fields[name] for name in ROW_FIELDS)


class Resolution:
    """Every query's rows, in input order, and whether Redis answered for all of them.

    Rows are kept as tuples (``ROW_FIELDS``): 100,000 pydantic objects cost more
    than reading their records. ``results`` builds the ``Result`` objects on
    first use; ``counts``, ``csv_rows`` and ``columns`` never need them.
    """

    __slots__ = ("_results", "complete", "error", "queries", "rows")

    def __init__(
        self,
        results: list[Result] | None = None,
        queries: int = 0,
        complete: bool = True,
        error: str = "",
        *,
        rows: list[Row] | None = None,
    ) -> None:
        self.rows: list[Row] = rows if rows is not None else [result_row(r) for r in results or ()]
        self._results = results
        self.queries = queries
        self.complete = complete
        self.error = error

    @property
    def results(self) -> list[Result]:
        if self._results is None:
            self._results = [row_result(row) for row in self.rows]
        return self._results

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return (
            f"Resolution(rows={len(self.rows)}, queries={self.queries}, "
            f"complete={self.complete}, error={self.error!r})"
        )

    def count(self, status: Status) -> int:
        return sum(1 for row in self.rows if row[STATUS] is status)

    @property
    def counts(self) -> dict[str, int]:
        tally = Counter(map(_status_of, self.rows))
        return {status.value: tally[status] for status in Status}

    def column(self, name: str) -> list[Any]:
        """One field of every row, e.g. ``column("run_id")``; times as ``row_time`` takes them."""
        return list(map(itemgetter(ROW_FIELDS.index(name)), self.rows))

    def csv_rows(self) -> Iterator[tuple[str, ...]]:
        """``Result.csv_row()`` of every row, without building the results."""
        for row in self.rows:
            yield (
                row[QUERY],
                row[STATUS].value,
                row[ENTITY_TYPE] or "",
                row[ENTITY_ID] or "",
                row[RUN_ID] or "",
                row[RUN_URL] or "",
                row[ORGANIZATION_ID] or "",
                format_time(row_time(row[PROCESSED_AT])),
                format_time(row_time(row[EXPIRES_AT])),
                row[DETAIL],
            )


@dataclass(slots=True)
class ScannedRecord:
    key: str
    entity_type: str
    entity_id: str
    data: dict[str, Any]
    pttl_ms: int


@dataclass(slots=True)
class InvalidRecord:
    key: str
    reason: str
    raw: str = ""


@dataclass(slots=True)
class ScanBatch:
    records: list[ScannedRecord] = field(default_factory=list)
    invalid: list[InvalidRecord] = field(default_factory=list)
    scanned: int = 0  # keys scanned so far, this batch included
    done: bool = False  # the cursor came back to 0: the whole namespace was seen
    capped: bool = False  # stopped at max_keys
    error: str = ""  # the scan stopped early because Redis failed


def preview(raw: bytes | str | None) -> str:
    """The first characters of a raw value as text, for showing an invalid record."""
    if raw is None:
        return ""
    text = (
        raw[: RAW_PREVIEW_CHARS * 4].decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    )
    return text if len(text) <= RAW_PREVIEW_CHARS else text[:RAW_PREVIEW_CHARS] + "…"


class TelemetryReader:
    """Reads telemetry records through an injected Redis client; never writes."""

    def __init__(
        self,
        client: Any,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = client if isinstance(client, Store) else Store.for_client(client, settings)
        self.namespace = settings.telemetry_namespace
        self.registry = settings.registry
        self.ttl_seconds = settings.telemetry_ttl_seconds
        self.clock = clock
        self._match = _prefix_matcher(self.registry)  # registry.match, one dict probe a length
        self._run_url = run_url_builder(settings.run_url_template)
        self._ttl_ms = self.ttl_seconds * 1000

    # -- lookup and resolve ------------------------------------------------

    def lookup(self, text: str) -> list[Result]:
        """The rows for the first ID in ``text`` (several when an unknown prefix matches
        several types); ``[]`` when the text holds no ID. Raises ``StoreUnavailableError``."""
        parsed = parse_ids(text, self.registry, namespace=self.namespace)
        if not parsed.queries:
            return []
        resolution = self.resolve(parsed.queries[:1])
        if not resolution.complete:
            # Redis failed part-way (e.g. on the TYPE round trip of a non-string key): for
            # one ID that is Redis being unavailable, with the same Retry as a failed read.
            raise StoreUnavailableError(resolution.error)
        return resolution.results

    def candidate_keys(self, query: Query) -> list[tuple[str, str]]:
        """``(entity_type, key)`` pairs one query is looked up under."""
        if query.error:
            return []
        entity_id = query.entity_id
        entity_type = query.entity_type or self._match(entity_id)
        if entity_type:
            return [(entity_type, f"{self.namespace}:{entity_type}:{entity_id}")]  # make_key
        return [(t, make_key(self.namespace, t, entity_id)) for t in self.registry.types]

    def _plan(self, queries: Sequence[Query]) -> tuple[list[Any], list[str], list[Owner]]:
        """Where each query is looked up, every key in order, and the owner of each key:
        ``(query text, entity type, entity ID)``, what a row needs that the key holds.

        A query's plan is its key (a known or explicit type: the usual query),
        its ``candidate_keys`` (an unknown prefix), or None (an invalid ID).
        """
        match, head = self._match, self.namespace + ":"
        direct, shortest = match.direct.get, match.shortest  # type: ignore[attr-defined]
        if not any(map(_error_of, queries)) and not any(map(_type_of, queries)):
            # The usual paste: bare IDs only. When every one has a known prefix, the loop
            # below would give each query its key as its plan: built column-wise.
            entity_ids = list(map(_entity_id_of, queries))
            exact = match.exact.get  # type: ignore[attr-defined]
            types = [exact(i[: i.rfind("_") + 1]) or match(i) for i in entity_ids]
            if None not in types:
                keys = [f"{head}{t}:{i}" for t, i in zip(types, entity_ids, strict=True)]
                texts = map(_text_of, queries)
                return keys, keys, list(zip(texts, types, entity_ids, strict=True))
        plan: list[Any] = []
        keys = []
        owners: list[Owner] = []
        for query in queries:
            text, entity_id, entity_type, error = query
            if error:
                plan.append(None)
                continue
            entity_type = entity_type or direct(entity_id[:shortest]) or match(entity_id)
            if entity_type:
                key = f"{head}{entity_type}:{entity_id}"  # make_key, inlined
                plan.append(key)
                keys.append(key)
                owners.append((text, entity_type, entity_id))
            else:
                candidates = self.candidate_keys(query)
                plan.append(candidates)
                keys.extend(key for _, key in candidates)
                owners.extend((text, t, entity_id) for t, _ in candidates)
        return plan, keys, owners

    def resolve(
        self,
        queries: Sequence[Query],
        *,
        chunk_keys: int = DEFAULT_CHUNK_KEYS,
        progress: ProgressCallback | None = None,
    ) -> Resolution:
        """Resolve every query: rows in input order, one per hit (or one per miss).

        Raises ``StoreUnavailableError`` when Redis fails before anything was read;
        a failure later marks the rest ``error`` and keeps what was resolved.
        """
        with paused_gc():
            return self._resolve(queries, chunk_keys, progress)

    def _resolve(
        self,
        queries: Sequence[Query],
        chunk_keys: int,
        progress: ProgressCallback | None,
    ) -> Resolution:
        plan, keys, owners = self._plan(queries)
        self._run_url = run_url_builder(self.settings.run_url_template)
        found: dict[str, Row] = {}
        failed: dict[str, str] = {}
        error = ""
        done_keys = 0
        now = self.clock()
        chunks = [keys[start : start + chunk_keys] for start in range(0, len(keys), chunk_keys)]
        reader = self.store.chunk_reader()
        try:
            for index, chunk in enumerate(chunks):
                start = index * chunk_keys
                following = chunks[index + 1] if index + 1 < len(chunks) else None
                try:
                    values, pttls = reader.fetch(chunk, following)
                except PartialFetchError as exc:
                    # A cluster node failed: only its keys are errors, the rest was read.
                    values, pttls = exc.values, exc.pttls
                    failed.update(exc.failed)
                    error = error or f"Redis failed for some keys: {exc}"
                except TelemetryError as exc:
                    if start == 0:
                        raise
                    error = f"Redis failed after {start:,} of {len(keys):,} keys: {exc}"
                    for key in keys[start:]:
                        failed[key] = str(exc)
                    break
                try:
                    chunk_owners = owners[start : start + len(chunk)]
                    self._collect(chunk, chunk_owners, values, pttls, found, failed, now)
                except TelemetryError as exc:
                    # The chunk was read but Redis failed on the keys it had to inspect
                    # (non-string keys): keep what was read, the rest is not.
                    rest = keys[start + len(chunk) :]
                    read = start + len(chunk) - sum(1 for key in chunk if key in failed)
                    error = f"Redis failed after {read:,} of {len(keys):,} keys: {exc}"
                    for key in rest:
                        failed[key] = str(exc)
                    break
                done_keys += len(chunk)
                if progress is not None:
                    progress(done_keys, len(keys))
        finally:
            reader.close()
        rows = self._rows(queries, plan, found, failed)
        return Resolution(rows=rows, queries=len(queries), complete=not error, error=error)

    def _collect(
        self,
        chunk: list[str],
        owners: list[Owner],
        values: list[Any],
        pttls: list[int],
        found: dict[str, Row],
        failed: dict[str, str],
        now: float,
    ) -> None:
        """Decode a chunk into ``found``; raises ``TelemetryError`` (after marking the keys
        it could not inspect in ``failed``) when Redis fails on the second round trip.

        The two shapes producers write, with nothing to note, are decoded here
        inline: a minimal record with a TTL-inferred time, and a rich record
        with every known field, a UTC ISO timestamp, an organization and plain
        metadata. Anything else goes through ``_result_for``, the general path,
        which gives the same row for these two (tests/test_fast_paths.py proves it).
        """
        odd: list[tuple[str, str]] = []
        result_for = self._result_for
        loads = _loads
        linkable = RUN_ID_RE.fullmatch
        url_parts = self.settings.run_url_template.split("{run_id}")
        ttl_seconds, ttl_ms = self.ttl_seconds, self._ttl_ms
        found_status = Status.FOUND
        inferred_note = "time inferred from TTL"
        # Stamps after this may be "in the future": the exact test runs for those only.
        future_from = _from_timestamp(now + _FUTURE_SECONDS - 1, UTC)
        for key, (text, entity_type, entity_id), raw, pttl in zip(
            chunk, owners, values, pttls, strict=True
        ):
            if raw is None:
                # MGET answers nil for a missing key and for a non-string one;
                # PTTL tells them apart (-2 = no such key).
                if pttl != -2:
                    odd.append((key, text))
                continue
            if type(raw) is WrongType:
                found[key] = self._invalid(key, f"key holds a Redis {raw}, not a string")
                continue
            try:
                data = loads(raw)
            except JSONDecodeError:
                data = None
            if (
                type(data) is dict
                and type(run_id := (get := data.get)("runId")) is str
                and pttl >= 0
                and linkable(run_id) is not None
            ):
                size = len(data)
                if size == 1 and pttl <= ttl_ms:
                    found[key] = (
                        text,
                        found_status,
                        entity_type,
                        entity_id,
                        run_id,
                        run_id.join(url_parts),
                        entity_id if entity_type == "organization" else None,
                        now - (ttl_seconds - pttl / 1000),
                        True,
                        now + pttl / 1000,
                        inferred_note,
                        key,
                        _NO_METADATA,
                        None,
                    )
                    continue
                if size == 6:
                    # Six fields, five of them known and not None: exactly KNOWN_FIELDS.
                    stamp, org, meta = get("timestamp"), get("organizationId"), get("metadata")
                    if (
                        type(stamp) is str
                        and type(org) is str
                        and org
                        and type(meta) is dict
                        and get("entityType") == entity_type
                        and get("entityId") == entity_id
                    ):
                        # _parse_stamp's result when it is an aware UTC datetime: its
                        # parse_timestamp fallback would fromisoformat the same text too.
                        try:
                            processed = _from_iso(stamp)
                        except (ValueError, OverflowError):
                            processed = None
                        if (
                            processed is not None
                            and processed.tzinfo is UTC
                            and not (
                                processed > future_from
                                and processed.timestamp() > now + _FUTURE_SECONDS
                            )
                        ):
                            found[key] = (
                                text,
                                found_status,
                                entity_type,
                                entity_id,
                                run_id,
                                run_id.join(url_parts),
                                org,
                                processed,
                                False,
                                now + pttl / 1000,
                                "",
                                key,
                                dict(meta),
                                None,
                            )
                            continue
            found[key] = result_for(key, raw, pttl, now, text)
        if odd:
            odd_keys = [key for key, _ in odd]
            try:
                inspected = self.store.inspect(odd_keys)
            except TelemetryError as exc:
                failed.update(dict.fromkeys(odd_keys, str(exc)))
                raise
            for (key, text), (kind, raw, pttl) in zip(odd, inspected, strict=True):
                if kind == "none" or (kind == "string" and raw is None):
                    continue  # expired or deleted between the reads
                if raw is not None:
                    found[key] = self._result_for(key, raw, pttl, now, text)
                else:
                    found[key] = self._invalid(key, f"key holds a Redis {kind}, not a string")

    def _rows(
        self,
        queries: Sequence[Query],
        plan: list[Any],
        found: dict[str, Row],
        failed: dict[str, str],
    ) -> list[Row]:
        rows: list[Row] = []
        append = rows.append
        for query, planned in zip(queries, plan, strict=True):
            text = query.text
            if type(planned) is str:  # the usual query: a known prefix, one key
                hit = found.get(planned)
                if hit is not None:
                    # Rows are built with the text of the key's (last) query; two queries
                    # can reach one key (``payment:x`` and a bare ``x``).
                    append(hit if hit[QUERY] == text else (text, *hit[1:]))
                    continue
                candidates = [(planned.split(":", 2)[1], planned)]
            elif planned is None:
                append(_row(_defaults(text, Status.INVALID_ID, detail=query.error)))
                continue
            else:
                candidates = planned
            hits = [found[key] for _, key in candidates if key in found]
            errors = [failed[key] for _, key in candidates if key in failed]
            for hit in hits:
                append(hit if hit[QUERY] == text else (text, *hit[1:]))
            if errors and not hits:
                entity_type = candidates[0][0] if len(candidates) == 1 else None
                append(
                    _row(
                        _defaults(
                            text,
                            Status.ERROR,
                            entity_type=entity_type,
                            entity_id=query.entity_id,
                            detail=f"not read: {errors[0]}",
                        )
                    )
                )
            elif not hits:
                append(self._not_found(query, candidates))
        return rows

    def _not_found(self, query: Query, candidates: list[tuple[str, str]]) -> Row:
        if len(candidates) == 1:
            entity_type, key = candidates[0]
            detail = (
                f"no key {key}: never processed, or expired after the "
                f"{_duration(self.ttl_seconds)} TTL"
            )
        else:
            entity_type = None
            key = None
            types = ", ".join(t for t, _ in candidates)
            detail = (
                f"unknown ID prefix; checked {len(candidates)} entity types ({types}) "
                f"under {self.namespace}:<type>:{query.entity_id}: none found"
            )
        # In ROW_FIELDS order: _defaults with these fields, without the dict.
        return (
            query.text,
            Status.NOT_FOUND,
            entity_type,
            query.entity_id,
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

    def _invalid(self, key: str, reason: str, raw: bytes | str | None = None) -> Row:
        parts = parse_key(key, self.namespace)
        return _row(
            _defaults(
                "",
                Status.INVALID_RECORD,
                entity_type=parts.entity_type if parts else None,
                entity_id=parts.entity_id if parts else None,
                detail=f"invalid record at {key}: {reason}",
                key=key,
                raw_value=preview(raw) if raw is not None else None,
            )
        )

    def _result_for(self, key: str, raw: bytes | str, pttl: int, now: float, text: str = "") -> Row:
        """The row of a key MGET read, for the query ``text``: the general path."""
        try:
            data = _loads(raw)  # decode_value's checks, inlined for the valid record
        except JSONDecodeError:
            data = None
        if type(data) is not dict or type(run_id := data.get("runId")) is not str or not run_id:
            data, reason = decode_value(raw)
            if data is None:
                return self._invalid(key, reason, raw)
        # Keys here were built by make_key and the namespace has no ':'.
        namespace, entity_type, entity_id = key.split(":", 2)
        if namespace != self.namespace:  # be safe anyway
            return self._invalid(key, "key is not <namespace>:<entity_type>:<entity_id>", raw)
        run_id, url, org, processed, inferred, expires, detail, metadata = self._record_values(
            entity_type, entity_id, data, pttl, now
        )
        # In ROW_FIELDS order.
        return (
            text,
            Status.FOUND,
            entity_type,
            entity_id,
            run_id,
            url,
            org,
            processed,
            inferred,
            expires,
            detail,
            key,
            metadata,
            None,
        )

    def record_fields(
        self, entity_type: str, entity_id: str, data: dict[str, Any], pttl: int, now: float
    ) -> dict[str, Any]:
        """Run, link, organization, times and metadata of one valid record."""
        self._run_url = run_url_builder(self.settings.run_url_template)
        values = self._record_values(entity_type, entity_id, data, pttl, now)
        fields = dict(zip(_RECORD_FIELDS, values, strict=True))
        fields["processed_at"] = row_time(fields["processed_at"])
        fields["expires_at"] = row_time(fields["expires_at"])
        if fields["metadata"] is _NO_METADATA:
            fields["metadata"] = {}
        return fields

    def _record_values(
        self, entity_type: str, entity_id: str, data: dict[str, Any], pttl: int, now: float
    ) -> tuple[Any, ...]:
        """``record_fields``' values, in ``_RECORD_FIELDS`` order, times as ``row_time`` takes
        them (a TTL-derived time as its epoch float)."""
        notes: list[str] = []
        run_id = data["runId"]
        url = self._run_url(run_id)
        if url is None:
            notes.append("run ID is not of the form run_<letters/digits>: shown without a link")
        org = data.get("organizationId")
        if org is not None and not isinstance(org, str):
            org = str(org)
        if not org and entity_type == "organization":
            org = entity_id
        processed: datetime | float | None = None
        inferred = False
        stamp = data.get("timestamp")
        if stamp is not None:
            processed = _parse_stamp(stamp)
            if processed is None:
                notes.append(f"timestamp {str(stamp)[:40]!r} is not a date")
        if processed is None and pttl >= 0 and pttl <= self._ttl_ms:  # inferred_time, inlined
            processed = now - (self.ttl_seconds - pttl / 1000)
            inferred = True
            notes.append("time inferred from TTL")
        elif processed is None:
            processed, inferred, note = self.inferred_time(pttl, now)
            if note:
                notes.append(note)
        elif processed.timestamp() > now + _FUTURE_SECONDS:  # type: ignore[union-attr]
            notes.append("timestamp is in the future (producer clock skew?)")
        expires = now + pttl / 1000 if pttl >= 0 else None
        if pttl == -2:
            notes.append("key expired while being read")
        value = data.get("entityType")
        if value is not None and value != entity_type:
            notes.append(f"record says entityType={str(value)[:60]!r}")
        value = data.get("entityId")
        if value is not None and value != entity_id:
            notes.append(f"record says entityId={str(value)[:60]!r}")
        return (
            run_id,
            url,
            org or None,
            processed,
            inferred,
            expires,
            "; ".join(notes) if notes else "",
            extra_metadata(data) if len(data) > 1 else _NO_METADATA,
        )

    def inferred_time(self, pttl: int, now: float) -> tuple[datetime | None, bool, str]:
        """Write time from the remaining TTL: ``now - (ttl - remaining)``."""
        if pttl == -1:
            return None, False, "key has no TTL: processing time unknown"
        if pttl < 0:
            return None, False, ""
        age = self.ttl_seconds - pttl / 1000
        note = "time inferred from TTL"
        if age < 0:
            note += (
                f" (remaining TTL exceeds TELEMETRY_TTL_SECONDS={self.ttl_seconds}; "
                "check the setting)"
            )
        return datetime.fromtimestamp(now - age, tz=UTC), True, note

    # -- scan ----------------------------------------------------------------

    def scan(
        self,
        *,
        types: Sequence[str] | None = None,
        batch_size: int = DEFAULT_CHUNK_KEYS,
        max_keys: int | None = None,
    ) -> Iterator[ScanBatch]:
        """Stream the namespace: one batch per SCAN reply, records decoded, invalid ones kept.

        Raises ``StoreUnavailableError`` when the first round trip fails; later
        failures end the stream with a batch whose ``error`` says why.
        """
        wanted = set(types) if types else None
        if wanted is not None and len(wanted) == 1:
            pattern = scan_pattern(f"{self.namespace}:{next(iter(wanted))}")
        else:
            pattern = scan_pattern(self.namespace)
        max_keys = max_keys or self.settings.scan_max_keys
        scanned = 0
        for keys, values, pttls, last, complete, error in self.store.scan_fetch(
            pattern, batch_size, max_keys
        ):
            if error:
                yield ScanBatch(scanned=scanned, error=error)
                return
            scanned += len(keys)
            batch = self._decode_batch(keys, values, pttls, wanted) if keys else ScanBatch()
            batch.scanned = scanned
            if batch.error:  # Redis failed while inspecting: what was read is kept
                yield batch
                return
            batch.done = last and complete
            batch.capped = last and not complete
            yield batch

    def _decode_batch(
        self,
        keys: list[bytes | str],
        values: list[Any],
        pttls: list[int],
        wanted: set[str] | None,
    ) -> ScanBatch:
        batch = ScanBatch()
        odd: list[str] = []
        namespace = self.namespace
        head = namespace + ":"
        cut = len(head)
        # parse_key's rules, inlined: the entity type is checked once per distinct type.
        valid_types: dict[str, bool] = {}
        records, invalid = batch.records, batch.invalid
        for raw_key, raw, pttl in zip(keys, values, pttls, strict=True):
            key = raw_key.decode("utf-8", "replace") if type(raw_key) is bytes else str(raw_key)
            entity_type, sep, entity_id = key[cut:].partition(":")
            ok = valid_types.get(entity_type)
            if ok is None:
                ok = valid_types[entity_type] = ENTITY_TYPE_RE.match(entity_type) is not None
            if not (ok and sep and entity_id and key.startswith(head)):
                # A malformed key has no entity type: it belongs to no type filter.
                if wanted is None:
                    invalid.append(
                        InvalidRecord(key, f"key is not {namespace}:<entity_type>:<entity_id>")
                    )
                continue
            if wanted is not None and entity_type not in wanted:
                continue
            if raw is None:
                if pttl != -2:
                    odd.append(key)
                continue
            if type(raw) is WrongType:
                invalid.append(InvalidRecord(key, f"key holds a Redis {raw}, not a string"))
                continue
            data, reason = decode_value(raw)
            if data is None:
                invalid.append(InvalidRecord(key, reason, preview(raw)))
            else:
                records.append(ScannedRecord(key, entity_type, entity_id, data, pttl))
        if odd:
            try:
                inspected = self.store.inspect(odd)
            except TelemetryError as exc:
                batch.error = str(exc)
                return batch
            for key, (kind, raw, pttl) in zip(odd, inspected, strict=True):
                if kind == "none" or (kind == "string" and raw is None):
                    continue  # expired or deleted between the reads
                parts = parse_key(key, namespace)
                if parts is None:
                    continue  # malformed keys were reported in the first pass
                data, reason = decode_value(raw) if raw is not None else (None, "")
                if data is not None:
                    batch.records.append(
                        ScannedRecord(key, parts.entity_type, parts.entity_id, data, pttl)
                    )
                else:
                    batch.invalid.append(
                        InvalidRecord(key, reason or f"key holds a Redis {kind}, not a string")
                    )
        return batch


def _duration(seconds: int) -> str:
    """``14 d``, ``6 h``, ``90 s``: a TTL in the largest unit that divides it."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _defaults(query: str, status: Status, **fields: Any) -> dict[str, Any]:
    """Every field of ``Result`` for ``model_construct``, which skips validation on hot paths."""
    return {
        "query": query,
        "status": status,
        "entity_type": None,
        "entity_id": None,
        "run_id": None,
        "run_url": None,
        "organization_id": None,
        "processed_at": None,
        "processed_at_inferred": False,
        "expires_at": None,
        "detail": "",
        "key": None,
        "metadata": {},
        "raw_value": None,
    } | fields
