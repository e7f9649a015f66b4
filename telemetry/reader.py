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
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, NamedTuple

import orjson

from .config import Settings
from .errors import PartialFetchError, StoreUnavailableError, TelemetryError
from .ids import IGNORED, RUN, Query, _prefix_matcher, parse_ids, typo_hint, with_hint
from .keys import make_key, parse_key, scan_pattern
from .links import run_url_builder
from .models import (
    NO_METADATA,
    Result,
    Status,
    extra_metadata,
    format_time,
)
from .record import Facts, interpret
from .registry import ENTITY_TYPE_RE
from .reverse import RunScan, ScanProgress, scan_for_runs
from .store import Store, WrongType

RAW_PREVIEW_CHARS = 200
DEFAULT_CHUNK_KEYS = 1_000
_from_timestamp = datetime.fromtimestamp
# Appended to a record's notes when its run gets no link (the link is the reader's business).
UNLINKED_NOTE = "run ID is not of the form run_<letters/digits>: shown without a link"


ProgressCallback = Callable[[int, int], None]
RecordSink = Callable[[str, str, Facts], None]  # (entity type, entity ID, facts)

_new_result = Result.__new__
_set_attribute = object.__setattr__


def _result(fields: dict[str, Any]) -> Result:
    """``Result.model_construct(**fields)`` for a dict holding every field.

    The same four attributes pydantic's ``model_construct`` sets, without its
    per-field loop (~5 µs a row, the biggest single cost of a bulk resolve).
    """
    result = _new_result(Result)
    _set_attribute(result, "__dict__", fields)
    _set_attribute(result, "__pydantic_fields_set__", set(fields))
    _set_attribute(result, "__pydantic_extra__", None)
    _set_attribute(result, "__pydantic_private__", None)
    return result


class Row(NamedTuple):
    """A row of a Resolution: ``Result``'s fields, in ``Result``'s order, as a named tuple.

    Only this module builds rows; everything else reads them by field name.
    Times may be epoch floats (see ``row_time``); ``metadata`` may be the
    shared ``NO_METADATA``, which ``row_result`` never hands out.
    """

    query: str
    status: Status
    entity_type: str | None = None
    entity_id: str | None = None
    run_id: str | None = None
    run_url: str | None = None
    organization_id: str | None = None
    processed_at: datetime | float | None = None
    processed_at_inferred: bool = False
    expires_at: datetime | float | None = None
    detail: str = ""
    key: str | None = None
    metadata: dict[str, Any] = NO_METADATA
    raw_value: str | None = None


ROW_FIELDS: tuple[str, ...] = Row._fields
if tuple(Result.model_fields) != ROW_FIELDS:  # row_result builds a Result from a row's fields
    raise TypeError("Row and Result must have the same fields in the same order")
# tuple.__new__ skips the generated __new__'s Python frame when a view is built.
_new_row = tuple.__new__
_FIELD_INDEX = {name: index for index, name in enumerate(ROW_FIELDS)}
_STATUS_INDEX = _FIELD_INDEX["status"]
_STATUS_BY_VALUE = {status.value: status for status in Status}
_FOUND = Status.FOUND.value

_METADATA_INDEX = _FIELD_INDEX["metadata"]

# How a Resolution keeps a row: an exact tuple of Row's fields holding no object the
# garbage collector knows (no Status member: its string; no dict: the metadata as the
# stored JSON it comes from, or None). CPython stops tracking such a tuple at its
# first young collection; a named tuple, or a tuple holding any dict or enum member,
# it tracks for good. 100,000 tracked rows cost a bulk resolve 2-3 full collections
# of the whole process, as long as the resolve itself; untracked ones cost none.
# Rows are seen only through Row views (``Resolution.rows``, ``column``), built on
# access; a view decodes its metadata then.
Cells = tuple[Any, ...]


def _cells(row: Row) -> Cells:
    metadata = row[_METADATA_INDEX]
    return (
        row[0],
        row[1].value,
        *row[2:_METADATA_INDEX],
        None if metadata is NO_METADATA else metadata,
        *row[_METADATA_INDEX + 1 :],
    )


def _view(cells: Cells) -> Row:
    metadata = cells[_METADATA_INDEX]
    if metadata is None:
        metadata = NO_METADATA
    elif type(metadata) is not dict:  # the stored value: its metadata, read now
        metadata = extra_metadata(orjson.loads(metadata))
    return _new_row(
        Row,
        (
            cells[0],
            _STATUS_BY_VALUE[cells[1]],
            *cells[2:_METADATA_INDEX],
            metadata,
            *cells[_METADATA_INDEX + 1 :],
        ),
    )


Owner = tuple[str, str, str]  # (query text, entity type, entity ID) of a key


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
    fields["processed_at"] = row_time(row.processed_at)
    fields["expires_at"] = row_time(row.expires_at)
    if row.metadata is NO_METADATA:
        fields["metadata"] = {}
    return _result(fields)


_text_of, _entity_id_of, _type_of, _error_of = (itemgetter(i) for i in range(4))  # Query's
_IGNORED_PLAN = (IGNORED,)  # a query's plan: set aside, nothing read


def result_row(result: Result) -> Row:
    return Row._make(getattr(result, name) for name in ROW_FIELDS)


class Resolution:
    """Every query's rows, in input order, and whether Redis answered for all of them.

    Rows are kept as plain tuples the garbage collector can forget (see
    ``Cells``) and seen as ``Row`` named tuples: ``rows`` builds the views,
    ``column`` one field of every row without them. ``results`` builds the
    ``Result`` objects on first use; ``counts``, ``csv_rows`` and ``column``
    never need them.
    """

    __slots__ = ("_cells", "_results", "capped", "complete", "error", "queries")

    def __init__(
        self,
        results: list[Result] | None = None,
        queries: int = 0,
        complete: bool = True,
        error: str = "",
        *,
        rows: list[Row] | None = None,
        cells: list[Cells] | None = None,
        capped: bool = False,
    ) -> None:
        if cells is None:
            given = rows if rows is not None else [result_row(r) for r in results or ()]
            cells = [_cells(row) for row in given]
        self._cells = cells
        self._results = results
        self.queries = queries
        self.complete = complete
        self.error = error
        # The scan for run IDs stopped at SCAN_MAX_KEYS: ``complete`` is False, and it is
        # not Redis failing (``lookup`` raises only for that).
        self.capped = capped

    @property
    def rows(self) -> list[Row]:
        """Every row as a ``Row`` (built on each access: prefer ``column`` for one field)."""
        return [_view(cells) for cells in self._cells]

    @property
    def results(self) -> list[Result]:
        if self._results is None:
            self._results = [row_result(_view(cells)) for cells in self._cells]
        return self._results

    def __len__(self) -> int:
        return len(self._cells)

    def __repr__(self) -> str:
        return (
            f"Resolution(rows={len(self._cells)}, queries={self.queries}, "
            f"complete={self.complete}, error={self.error!r})"
        )

    def count(self, status: Status) -> int:
        value = status.value
        return sum(1 for cells in self._cells if cells[_STATUS_INDEX] == value)

    @property
    def counts(self) -> dict[str, int]:
        tally = Counter(map(itemgetter(_STATUS_INDEX), self._cells))
        return {status.value: tally[status.value] for status in Status}

    def column(self, name: str) -> list[Any]:
        """One field of every row, e.g. ``column("run_id")``; times as ``row_time`` takes them."""
        if name == "metadata":
            return [row.metadata for row in self.rows]
        values = list(map(itemgetter(_FIELD_INDEX[name]), self._cells))
        if name == "status":
            return [_STATUS_BY_VALUE[value] for value in values]
        return values

    def status_values(self) -> list[str]:
        """Every row's status as its contract value (``"found"``, …): what a table shows,
        without a ``Status`` member per row (``column("status")`` has those)."""
        return list(map(itemgetter(_STATUS_INDEX), self._cells))

    def csv_rows(self) -> Iterator[tuple[str, ...]]:
        """``Result.csv_row()`` of every row, without building the results."""
        for row in self.rows:
            yield (
                row.query,
                row.status.value,
                row.entity_type or "",
                row.entity_id or "",
                row.run_id or "",
                row.run_url or "",
                row.organization_id or "",
                format_time(row_time(row.processed_at)),
                format_time(row_time(row.expires_at)),
                row.detail,
            )


@dataclass(slots=True)
class ScannedRecord:
    key: str
    entity_type: str
    entity_id: str
    facts: Facts
    pttl_ms: int

    @property
    def data(self) -> dict[str, Any]:
        """The decoded value, as stored."""
        return self.facts.data


@dataclass(slots=True)
class InvalidRecord:
    key: str
    reason: str
    raw: str = ""
    pttl_ms: int = -1  # the key's remaining TTL as read (-1: none): its time, inferred


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
        # The first ID, past the words around it; a text of words only: the first word.
        first = next((q for q in parsed.queries if q.kind != IGNORED), parsed.queries[0])
        resolution = self.resolve([first])
        if not resolution.complete and not resolution.capped:
            # Redis failed part-way (e.g. on the TYPE round trip of a non-string key): for
            # one ID that is Redis being unavailable, with the same Retry as a failed read.
            raise StoreUnavailableError(resolution.error)
        return resolution.results

    def candidate_keys(self, query: Query) -> list[tuple[str, str]]:
        """``(entity_type, key)`` pairs one query is looked up under."""
        if query.error or query.kind:
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
        its ``candidate_keys`` (an unknown prefix), None (an invalid ID), or a
        tuple: ``(RUN, run_id)`` (found by the scan) or ``_IGNORED_PLAN``.
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
            text, entity_id, entity_type, error, kind = query
            if kind:
                plan.append((RUN, entity_id) if kind == RUN else _IGNORED_PLAN)
                continue
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
        scan_progress: ScanProgress | None = None,
    ) -> Resolution:
        """Resolve every query: rows in input order, one per hit (or one per miss).

        Run queries (``run_…``, a run URL) share one scan of the namespace after the
        entity keys are read (``telemetry.reverse``); ``scan_progress`` gets the keys
        scanned so far. Ignored words read nothing.

        Raises ``StoreUnavailableError`` when Redis fails before anything was read;
        a failure later marks the rest ``error`` and keeps what was resolved.
        """
        plan, keys, owners = self._plan(queries)
        self._run_url = run_url_builder(self.settings.run_url_template)
        found: dict[str, Cells] = {}
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
        runs: RunScan | None = None
        run_ids = [planned[1] for planned in plan if type(planned) is tuple and planned[0] == RUN]
        if run_ids:
            try:
                runs = scan_for_runs(self, run_ids, now=now, progress=scan_progress)
            except TelemetryError as exc:
                if keys:  # entity keys were read: keep them, the run rows are errors
                    runs = RunScan(error=str(exc))
                    error = error or f"Redis failed before the scan for run IDs: {exc}"
                else:
                    raise
            if runs.error and not error:
                error = f"the scan for run IDs stopped: Redis failed after {runs.scanned:,} keys"
                error += f": {runs.error}"
        capped = False
        if runs is not None and runs.capped and not runs.error:
            capped = True
            error = error or (
                f"the scan for run IDs stopped at {runs.max_keys:,} keys (SCAN_MAX_KEYS) before "
                "the end of the namespace: runs with no entity found there are marked error"
            )
        cells = self._rows(queries, plan, found, failed, runs)
        return Resolution(
            cells=cells, queries=len(queries), complete=not error, error=error, capped=capped
        )

    def _collect(
        self,
        chunk: list[str],
        owners: list[Owner],
        values: list[Any],
        pttls: list[int],
        found: dict[str, Cells],
        failed: dict[str, str],
        now: float,
    ) -> None:
        """Decode a chunk into ``found``; raises ``TelemetryError`` (after marking the keys
        it could not inspect in ``failed``) when Redis fails on the second round trip."""
        odd: list[tuple[str, str]] = []
        run_url = self._run_url
        ttl_seconds = self.ttl_seconds
        found_status = _FOUND
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
            facts = interpret(entity_type, entity_id, raw, pttl, now, ttl_seconds)
            if type(facts) is str:
                found[key] = self._invalid(key, facts, raw)
                continue
            run_id, org, processed, inferred, expires, notes, data = facts
            url = run_url(run_id)
            if url is None:
                notes = f"{UNLINKED_NOTE}; {notes}" if notes else UNLINKED_NOTE
            found[key] = (  # Row's fields, as Cells
                text,
                found_status,
                entity_type,
                entity_id,
                run_id,
                url,
                org,
                processed,
                inferred,
                expires,
                notes,
                key,
                # The metadata's source, read by a view (see Cells); None: none at all.
                raw if len(data) > 1 else None,
                None,
            )
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
        found: dict[str, Cells],
        failed: dict[str, str],
        runs: RunScan | None = None,
    ) -> list[Cells]:
        rows: list[Cells] = []
        append = rows.append
        for query, planned in zip(queries, plan, strict=True):
            text = query.text
            if type(planned) is tuple:
                if planned is _IGNORED_PLAN:
                    append(_cells(Row(text, Status.IGNORED, detail=query.error)))
                else:
                    rows.extend(self._run_rows(text, planned[1], runs))
                continue
            if type(planned) is str:  # the usual query: a known prefix, one key
                hit = found.get(planned)
                if hit is not None:
                    # Rows are built with the text of the key's (last) query; two queries
                    # can reach one key (``payment:x`` and a bare ``x``).
                    append(hit if hit[0] == text else (text, *hit[1:]))
                    continue
                candidates = [(planned.split(":", 2)[1], planned)]
            elif planned is None:
                append(_cells(Row(text, Status.INVALID_ID, detail=query.error)))
                continue
            else:
                candidates = planned
            hits = [found[key] for _, key in candidates if key in found]
            errors = [failed[key] for _, key in candidates if key in failed]
            for hit in hits:
                append(hit if hit[0] == text else (text, *hit[1:]))
            if errors and not hits:
                entity_type = candidates[0][0] if len(candidates) == 1 else None
                append(
                    _cells(
                        Row(
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

    def _run_rows(self, text: str, run_id: str, runs: RunScan | None) -> list[Cells]:
        """The rows of a run query: one ``found`` row per entity whose record points to the
        run, else one ``not_found`` (the whole namespace read) or ``error`` row (not)."""
        if runs is None:  # never planned without a scan; be safe anyway
            runs = RunScan(error="the namespace was not scanned")
        hits = runs.hits.get(run_id, [])
        if not hits:
            status = Status.NOT_FOUND if runs.done else Status.ERROR
            detail = runs.miss_detail(run_id, self.namespace)
            return [_cells(Row(text, status, run_id=run_id, detail=detail))]
        partial = runs.incomplete_note()
        rows: list[Cells] = []
        for entity_type, entity_id, facts in hits:
            run, org, processed, inferred, expires, notes, _ = facts
            url = self._run_url(run)
            if url is None:
                notes = f"{UNLINKED_NOTE}; {notes}" if notes else UNLINKED_NOTE
            if partial:
                more = f"other entities may point to this run too: {partial}"
                notes = f"{notes}; {more}" if notes else more
            metadata = facts.metadata
            rows.append(
                (
                    text,
                    _FOUND,
                    entity_type,
                    entity_id,
                    run,
                    url,
                    org,
                    processed,
                    inferred,
                    expires,
                    notes,
                    make_key(self.namespace, entity_type, entity_id),
                    None if metadata is NO_METADATA else metadata,
                    None,
                )
            )
        return rows

    def _not_found(self, query: Query, candidates: list[tuple[str, str]]) -> Cells:
        if len(candidates) == 1:
            entity_type, key = candidates[0]
            detail = (
                f"no key {key}: never processed, or expired after the "
                f"{_duration(self.ttl_seconds)} TTL"
            )
            hint = typo_hint(query.entity_id, entity_type, self.registry)
        else:
            entity_type = None
            key = None
            types = ", ".join(t for t, _ in candidates)
            detail = (
                f"unknown ID prefix; checked {len(candidates)} entity types ({types}) "
                f"under {self.namespace}:<type>:{query.entity_id}: none found"
            )
            hint = typo_hint(query.entity_id, None, self.registry)
        detail = with_hint(detail, hint)
        return _cells(
            Row(
                query.text,
                Status.NOT_FOUND,
                entity_type=entity_type,
                entity_id=query.entity_id,
                detail=detail,
                key=key,
            )
        )

    def _invalid(self, key: str, reason: str, raw: bytes | str | None = None) -> Cells:
        parts = parse_key(key, self.namespace)
        return _cells(
            Row(
                "",
                Status.INVALID_RECORD,
                entity_type=parts.entity_type if parts else None,
                entity_id=parts.entity_id if parts else None,
                detail=f"invalid record at {key}: {reason}",
                key=key,
                raw_value=preview(raw) if raw is not None else None,
            )
        )

    def _result_for(
        self, key: str, raw: bytes | str, pttl: int, now: float, text: str = ""
    ) -> Cells:
        """The row of a key read one by one (a non-string key inspected), for the query ``text``."""
        # Keys here were built by make_key and the namespace has no ':'.
        namespace, entity_type, entity_id = key.split(":", 2)
        if namespace != self.namespace:  # be safe anyway
            return self._invalid(key, "key is not <namespace>:<entity_type>:<entity_id>", raw)
        found: dict[str, Cells] = {}
        self._collect([key], [(text, entity_type, entity_id)], [raw], [pttl], found, {}, now)
        return found[key]

    # -- scan ----------------------------------------------------------------

    def scan(
        self,
        *,
        types: Sequence[str] | None = None,
        batch_size: int = DEFAULT_CHUNK_KEYS,
        max_keys: int | None = None,
        now: float | None = None,
        on_record: RecordSink | None = None,
    ) -> Iterator[ScanBatch]:
        """Stream the namespace: one batch per SCAN reply, records read, invalid ones kept.

        Records' facts are as of ``now`` (the reader's clock when the scan
        starts, by default): TTL-inferred times of one scan share one instant.
        With ``on_record``, each valid record goes to it as it is read
        (``(entity_type, entity_id, facts)``) instead of into its batch.
        Raises ``StoreUnavailableError`` when the first round trip fails; later
        failures end the stream with a batch whose ``error`` says why.
        """
        wanted = set(types) if types else None
        if wanted is not None and len(wanted) == 1:
            pattern = scan_pattern(f"{self.namespace}:{next(iter(wanted))}")
        else:
            pattern = scan_pattern(self.namespace)
        max_keys = max_keys or self.settings.scan_max_keys
        now = self.clock() if now is None else now
        scanned = 0
        for keys, values, pttls, last, complete, error in self.store.scan_fetch(
            pattern, batch_size, max_keys
        ):
            if error:
                yield ScanBatch(scanned=scanned, error=error)
                return
            scanned += len(keys)
            batch = (
                self._decode_batch(keys, values, pttls, wanted, now, on_record)
                if keys
                else ScanBatch()
            )
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
        now: float,
        on_record: RecordSink | None = None,
    ) -> ScanBatch:
        batch = ScanBatch()
        ttl_seconds = self.ttl_seconds
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
                        InvalidRecord(
                            key, f"key is not {namespace}:<entity_type>:<entity_id>", "", pttl
                        )
                    )
                continue
            if wanted is not None and entity_type not in wanted:
                continue
            if raw is None:
                if pttl != -2:
                    odd.append(key)
                continue
            if type(raw) is WrongType:
                invalid.append(
                    InvalidRecord(key, f"key holds a Redis {raw}, not a string", "", pttl)
                )
                continue
            facts = interpret(entity_type, entity_id, raw, pttl, now, ttl_seconds)
            if type(facts) is str:
                invalid.append(InvalidRecord(key, facts, preview(raw), pttl))
            elif on_record is not None:
                on_record(entity_type, entity_id, facts)
            else:
                records.append(ScannedRecord(key, entity_type, entity_id, facts, pttl))
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
                if raw is None:
                    batch.invalid.append(
                        InvalidRecord(key, f"key holds a Redis {kind}, not a string", "", pttl)
                    )
                    continue
                facts = interpret(parts.entity_type, parts.entity_id, raw, pttl, now, ttl_seconds)
                if type(facts) is str:
                    batch.invalid.append(InvalidRecord(key, facts, "", pttl))
                elif on_record is not None:
                    on_record(parts.entity_type, parts.entity_id, facts)
                else:
                    batch.records.append(
                        ScannedRecord(key, parts.entity_type, parts.entity_id, facts, pttl)
                    )
        return batch


def _duration(seconds: int) -> str:
    """``14 d``, ``6 h``, ``90 s``: a TTL in the largest unit that divides it."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
