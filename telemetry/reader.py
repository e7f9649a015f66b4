"""Read-only access to telemetry records: lookup, bulk resolve, namespace scan.

Round trips, not Redis, are the cost: resolve sends one pipeline per chunk of
keys (an MGET plus a PTTL per key) and the scan overlaps the next SCAN with
the MGET of the keys the previous SCAN returned. The commands used are the
least-privilege set of the contract: GET, MGET, SCAN, PTTL, TYPE, PING.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .config import Settings
from .errors import PartialFetchError, TelemetryError
from .ids import Query, parse_ids
from .keys import make_key, parse_key, scan_pattern
from .links import run_url
from .models import Result, Status, decode_value, extra_metadata, parse_timestamp
from .store import Store

RAW_PREVIEW_CHARS = 200
DEFAULT_CHUNK_KEYS = 1_000
# A producer clock a little ahead of ours is not "in the future".
FUTURE_TOLERANCE = timedelta(minutes=5)

ProgressCallback = Callable[[int, int], None]


@dataclass(slots=True)
class Resolution:
    """Every query's rows, in input order, and whether Redis answered for all of them."""

    results: list[Result]
    queries: int
    complete: bool = True
    error: str = ""

    def count(self, status: Status) -> int:
        return sum(1 for result in self.results if result.status is status)

    @property
    def counts(self) -> dict[str, int]:
        out = {status.value: 0 for status in Status}
        for result in self.results:
            out[result.status.value] += 1
        return out


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


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


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

    # -- lookup and resolve ------------------------------------------------

    def lookup(self, text: str) -> list[Result]:
        """The rows for the first ID in ``text`` (several when an unknown prefix matches
        several types); ``[]`` when the text holds no ID. Raises ``StoreUnavailableError``."""
        parsed = parse_ids(text, self.registry, namespace=self.namespace)
        if not parsed.queries:
            return []
        resolution = self.resolve(parsed.queries[:1])
        if not resolution.complete:
            raise TelemetryError(resolution.error)
        return resolution.results

    def candidate_keys(self, query: Query) -> list[tuple[str, str]]:
        """``(entity_type, key)`` pairs one query is looked up under."""
        if query.error:
            return []
        entity_type = query.entity_type or self.registry.match(query.entity_id)
        types = (entity_type,) if entity_type else self.registry.types
        return [(t, make_key(self.namespace, t, query.entity_id)) for t in types]

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
        plan: list[list[tuple[str, str]]] = [self.candidate_keys(q) for q in queries]
        keys = [key for candidates in plan for _, key in candidates]
        found: dict[str, Result] = {}
        failed: dict[str, str] = {}
        error = ""
        done_keys = 0
        now = self.clock()
        for start in range(0, len(keys), chunk_keys):
            chunk = keys[start : start + chunk_keys]
            try:
                values, pttls = self.store.fetch(chunk)
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
                self._collect(chunk, values, pttls, found, failed, now)
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
        results = self._rows(queries, plan, found, failed, now)
        return Resolution(results=results, queries=len(queries), complete=not error, error=error)

    def _collect(
        self,
        chunk: list[str],
        values: list[Any],
        pttls: list[int],
        found: dict[str, Result],
        failed: dict[str, str],
        now: float,
    ) -> None:
        """Decode a chunk into ``found``; raises ``TelemetryError`` (after marking the keys
        it could not inspect in ``failed``) when Redis fails on the second round trip."""
        odd: list[str] = []
        for key, raw, pttl in zip(chunk, values, pttls, strict=True):
            if raw is None:
                # MGET answers nil for a missing key and for a non-string one;
                # PTTL tells them apart (-2 = no such key).
                if pttl != -2:
                    odd.append(key)
                continue
            found[key] = self._result_for(key, raw, pttl, now)
        if odd:
            try:
                inspected = self.store.inspect(odd)
            except TelemetryError as exc:
                failed.update(dict.fromkeys(odd, str(exc)))
                raise
            for key, (kind, raw, pttl) in zip(odd, inspected, strict=True):
                if kind == "none":
                    continue  # expired between the two reads
                if raw is not None:
                    found[key] = self._result_for(key, raw, pttl, now)
                else:
                    found[key] = self._invalid(key, f"key holds a Redis {kind}, not a string")

    def _rows(
        self,
        queries: Sequence[Query],
        plan: list[list[tuple[str, str]]],
        found: dict[str, Result],
        failed: dict[str, str],
        now: float,
    ) -> list[Result]:
        rows: list[Result] = []
        for query, candidates in zip(queries, plan, strict=True):
            if query.error:
                rows.append(
                    Result.model_construct(
                        **_defaults(query.text, Status.INVALID_ID, detail=query.error)
                    )
                )
                continue
            hits = [found[key] for _, key in candidates if key in found]
            errors = [failed[key] for _, key in candidates if key in failed]
            for hit in hits:
                # Two queries can reach one key (``payment:x`` and a bare ``x``).
                rows.append(hit.model_copy(update={"query": query.text}) if hit.query else hit)
                hit.query = hit.query or query.text
            if errors and not hits:
                entity_type = candidates[0][0] if len(candidates) == 1 else None
                rows.append(
                    Result.model_construct(
                        **_defaults(
                            query.text,
                            Status.ERROR,
                            entity_type=entity_type,
                            entity_id=query.entity_id,
                            detail=f"not read: {errors[0]}",
                        )
                    )
                )
            elif not hits:
                rows.append(self._not_found(query, candidates))
        return rows

    def _not_found(self, query: Query, candidates: list[tuple[str, str]]) -> Result:
        if len(candidates) == 1:
            entity_type, key = candidates[0]
            detail = (
                f"no key {key}: never processed, or expired after the "
                f"{_duration(self.ttl_seconds)} TTL"
            )
        else:
            entity_type = None
            types = ", ".join(t for t, _ in candidates)
            detail = (
                f"unknown ID prefix; checked {len(candidates)} entity types ({types}) "
                f"under {self.namespace}:<type>:{query.entity_id}: none found"
            )
        return Result.model_construct(
            **_defaults(
                query.text,
                Status.NOT_FOUND,
                entity_type=entity_type,
                entity_id=query.entity_id,
                detail=detail,
                key=candidates[0][1] if len(candidates) == 1 else None,
            )
        )

    def _invalid(self, key: str, reason: str, raw: bytes | str | None = None) -> Result:
        parts = parse_key(key, self.namespace)
        return Result.model_construct(
            **_defaults(
                "",
                Status.INVALID_RECORD,
                entity_type=parts.entity_type if parts else None,
                entity_id=parts.entity_id if parts else None,
                detail=f"invalid record at {key}: {reason}",
                key=key,
                raw_value=preview(raw) if raw is not None else None,
            )
        )

    def _result_for(self, key: str, raw: bytes | str, pttl: int, now: float) -> Result:
        data, reason = decode_value(raw)
        if data is None:
            return self._invalid(key, reason, raw)
        parts = parse_key(key, self.namespace)
        if parts is None:  # only keys built by make_key get here; be safe anyway
            return self._invalid(key, "key is not <namespace>:<entity_type>:<entity_id>", raw)
        fields = self.record_fields(parts.entity_type, parts.entity_id, data, pttl, now)
        return Result.model_construct(
            **_defaults(
                "",
                Status.FOUND,
                entity_type=parts.entity_type,
                entity_id=parts.entity_id,
                key=key,
                **fields,
            )
        )

    def record_fields(
        self, entity_type: str, entity_id: str, data: dict[str, Any], pttl: int, now: float
    ) -> dict[str, Any]:
        """Run, link, organization, times and metadata of one valid record."""
        notes: list[str] = []
        run_id = data["runId"]
        url = run_url(run_id, self.settings.run_url_template)
        if url is None:
            notes.append("run ID is not of the form run_<letters/digits>: shown without a link")
        org = data.get("organizationId")
        if org is not None and not isinstance(org, str):
            org = str(org)
        if not org and entity_type == "organization":
            org = entity_id
        processed, inferred = None, False
        stamp = data.get("timestamp")
        if stamp is not None:
            processed = parse_timestamp(stamp)
            if processed is None:
                notes.append(f"timestamp {str(stamp)[:40]!r} is not a date")
        if processed is None:
            processed, inferred, note = self.inferred_time(pttl, now)
            if note:
                notes.append(note)
        elif processed.timestamp() > now + FUTURE_TOLERANCE.total_seconds():
            notes.append("timestamp is in the future (producer clock skew?)")
        expires = datetime.fromtimestamp(now + pttl / 1000, tz=UTC) if pttl >= 0 else None
        if pttl == -2:
            notes.append("key expired while being read")
        for name, expected in (("entityType", entity_type), ("entityId", entity_id)):
            value = data.get(name)
            if value is not None and value != expected:
                notes.append(f"record says {name}={str(value)[:60]!r}")
        return {
            "run_id": run_id,
            "run_url": url,
            "organization_id": org or None,
            "processed_at": processed,
            "processed_at_inferred": inferred,
            "expires_at": expires,
            "detail": "; ".join(notes),
            "metadata": extra_metadata(data),
        }

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
        for raw_key, raw, pttl in zip(keys, values, pttls, strict=True):
            key = _text(raw_key)
            parts = parse_key(key, namespace)
            if parts is None:
                # A malformed key has no entity type: it belongs to no type filter.
                if wanted is None:
                    batch.invalid.append(
                        InvalidRecord(key, f"key is not {namespace}:<entity_type>:<entity_id>")
                    )
                continue
            if wanted is not None and parts.entity_type not in wanted:
                continue
            if raw is None:
                if pttl != -2:
                    odd.append(key)
                continue
            data, reason = decode_value(raw)
            if data is None:
                batch.invalid.append(InvalidRecord(key, reason, preview(raw)))
            else:
                batch.records.append(
                    ScannedRecord(key, parts.entity_type, parts.entity_id, data, pttl)
                )
        if odd:
            try:
                inspected = self.store.inspect(odd)
            except TelemetryError as exc:
                batch.error = str(exc)
                return batch
            for key, (kind, raw, pttl) in zip(odd, inspected, strict=True):
                if kind == "none":
                    continue
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
