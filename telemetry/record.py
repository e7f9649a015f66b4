"""What one stored value says: the readers' rules of the contract (§1), in one place.

``interpret`` is the only code that turns a value read from Redis (and the
key's remaining TTL) into facts: lookup, bulk resolve, the namespace scan
and so the summary and the CLI all go through it. How a value is shown
(links, rows, CSV) is decided elsewhere, from these facts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from orjson import JSONDecodeError

from .models import NO_METADATA, decode_value, extra_metadata, parse_timestamp

# A producer clock a little ahead of ours is not "in the future".
FUTURE_TOLERANCE_SECONDS = 300.0
INFERRED_NOTE = "time inferred from TTL"
_loads = orjson.loads


class Facts(NamedTuple):
    """A valid record, read: what every view of it is built from."""

    run_id: str
    organization_id: str | None  # None: unknown
    # A producer timestamp stays the datetime it was parsed into (exact to the
    # microsecond in any year); a time inferred from the TTL is epoch seconds,
    # turned into a datetime only by whoever shows it.
    processed_at: datetime | float | None
    processed_at_inferred: bool
    expires_at: float | None  # epoch seconds; None when the key has no TTL
    notes: str  # what an ops person should know about this record, "; "-separated
    data: dict[str, Any]  # the decoded value, as stored

    @property
    def metadata(self) -> dict[str, Any]:
        """``metadata`` plus unknown fields; the shared ``NO_METADATA`` when there are none."""
        data = self.data
        return extra_metadata(data) if len(data) > 1 else NO_METADATA


_FUTURE = FUTURE_TOLERANCE_SECONDS
_future_cache: tuple[float, datetime] = (0.0, datetime.fromtimestamp(_FUTURE - 1, UTC))


def _future_from(now: float) -> datetime:
    """A second before "in the future" as of ``now``: below it a timestamp needs no exact
    (float) test. Memoised, as one read shares one ``now`` over many records; one tuple,
    replaced whole, so concurrent readers never see one ``now`` with another's limit."""
    global _future_cache
    cached_now, limit = _future_cache
    if cached_now != now:
        limit = datetime.fromtimestamp(now + _FUTURE - 1, UTC)
        _future_cache = (now, limit)
    return limit


# tuple.__new__ skips the generated __new__'s Python frame: interpret runs once per key.
_new_facts = tuple.__new__


def interpret(
    entity_type: str,
    entity_id: str,
    raw: bytes | str,
    pttl_ms: int,
    now: float,
    ttl_seconds: int,
) -> Facts | str:
    """The facts of the value ``raw`` stored under ``entity_type``/``entity_id``, or why it
    is an invalid record (a str).

    ``pttl_ms`` is the key's remaining TTL as PTTL gives it (-1: no TTL, -2:
    gone while being read); ``ttl_seconds`` is the TTL producers set.
    """
    try:
        data = _loads(raw)
    except JSONDecodeError:
        data = None
    if type(data) is not dict or type(run_id := data.get("runId")) is not str or not run_id:
        return decode_value(raw)[1]  # decode_value words the reason
    if len(data) == 1 and 0 <= pttl_ms <= ttl_seconds * 1000:
        # The minimal shape, what the production producer writes: everything below,
        # with every test answered the usual way, in one expression.
        return _new_facts(
            Facts,
            (
                run_id,
                entity_id if entity_type == "organization" else None,
                now - (ttl_seconds - pttl_ms / 1000),
                True,
                now + pttl_ms / 1000,
                INFERRED_NOTE,
                data,
            ),
        )
    get = data.get
    org = get("organizationId")
    stamp = get("timestamp")
    if (
        type(org) is str
        and org
        and type(stamp) is str
        and pttl_ms >= 0
        and get("entityType") == entity_type
        and get("entityId") == entity_id
        and (processed := parse_timestamp(stamp)) is not None
        and (processed <= _future_from(now) or processed.timestamp() <= now + _FUTURE)
    ):
        # The rich shape as producers write it: what the rules below give when they
        # have nothing to note, without the notes.
        return _new_facts(Facts, (run_id, org, processed, False, now + pttl_ms / 1000, "", data))
    notes: list[str] = []
    # Organization: absent is unknown, except that an organization is its own.
    if org is not None and type(org) is not str:
        org = str(org)
    if not org and entity_type == "organization":
        org = entity_id
    # Time: the producer's timestamp, else inferred from the remaining TTL.
    processed = None
    inferred = False
    if stamp is not None:
        processed = parse_timestamp(stamp)
        if processed is None:
            notes.append(f"timestamp {str(stamp)[:40]!r} is not a date")
        elif processed.timestamp() > now + _FUTURE:
            notes.append("timestamp is in the future (producer clock skew?)")
    if processed is None:
        if pttl_ms >= 0:
            age = ttl_seconds - pttl_ms / 1000
            processed = now - age
            inferred = True
            if age < 0:
                notes.append(
                    f"{INFERRED_NOTE} (remaining TTL exceeds TELEMETRY_TTL_SECONDS="
                    f"{ttl_seconds}; check the setting)"
                )
            else:
                notes.append(INFERRED_NOTE)
        elif pttl_ms == -1:
            notes.append("key has no TTL: processing time unknown")
    if pttl_ms == -2:
        notes.append("key expired while being read")
    value = get("entityType")
    if value is not None and value != entity_type:
        notes.append(f"record says entityType={str(value)[:60]!r}")
    value = get("entityId")
    if value is not None and value != entity_id:
        notes.append(f"record says entityId={str(value)[:60]!r}")
    return _new_facts(
        Facts,
        (
            run_id,
            org or None,
            processed,
            inferred,
            now + pttl_ms / 1000 if pttl_ms >= 0 else None,
            "; ".join(notes),
            data,
        ),
    )
