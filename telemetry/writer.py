"""The only code that writes: ``store_telemetry`` and the synthetic data used by
``seed``, demo mode, tests and benchmarks.
"""

from __future__ import annotations

import random
import string
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from .keys import make_key

if TYPE_CHECKING:
    from .config import Settings

BASE62 = string.digits + string.ascii_letters
ORGANIZATIONS = 50
SEED_CHUNK = 1_000
# Share of generated values that are deliberately broken, so every view shows
# what invalid records look like.
MALFORMED_SHARE = 0.005

STATUSES: dict[str, tuple[str, ...]] = {
    "payment": ("succeeded", "succeeded", "succeeded", "failed", "pending", "refunded"),
    "invoice": ("paid", "paid", "open", "void", "uncollectible"),
    "billing_run": ("completed", "completed", "failed", "partial"),
    "billing_period": ("closed", "open"),
    "subscription": ("active", "active", "canceled", "past_due", "trialing"),
    "organization": ("synced", "synced", "failed"),
    "webhook": ("delivered", "delivered", "failed", "retrying"),
    "customer": ("synced", "created", "updated"),
    "notification": ("sent", "sent", "bounced", "failed"),
}
# Notifications have no known prefix in the contract; their IDs use this one.
FALLBACK_PREFIX = "ntf_"


def store_telemetry(
    client: Any,
    entity_type: str,
    entity_id: str,
    run_id: str,
    *,
    namespace: str = "telemetry",
    ttl_seconds: int = 1_209_600,
    organization_id: str | None = None,
    timestamp: datetime | str | None = None,
    metadata: dict[str, Any] | None = None,
    rich: bool = True,
) -> str:
    """Write one record as a producer does (SET … EX ttl, last write wins); returns the key.

    ``rich=False`` writes the minimal ``{"runId"}`` shape production writes today.
    """
    key = make_key(namespace, entity_type, entity_id)
    client.set(
        key,
        encode_record(entity_type, entity_id, run_id, organization_id, timestamp, metadata, rich),
        ex=ttl_seconds,
    )
    return key


def encode_record(
    entity_type: str,
    entity_id: str,
    run_id: str,
    organization_id: str | None = None,
    timestamp: datetime | str | None = None,
    metadata: dict[str, Any] | None = None,
    rich: bool = True,
) -> bytes:
    if not rich:
        return orjson.dumps({"runId": run_id})
    value: dict[str, Any] = {"runId": run_id, "entityType": entity_type, "entityId": entity_id}
    if organization_id is not None:
        value["organizationId"] = organization_id
    if timestamp is not None:
        if isinstance(timestamp, datetime):
            timestamp = timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
                f"{timestamp.microsecond // 1000:03d}Z"
            )
        value["timestamp"] = timestamp
    if metadata is not None:
        value["metadata"] = metadata
    return orjson.dumps(value)


@dataclass(frozen=True, slots=True)
class SyntheticRecord:
    key: str
    value: bytes  # or a marker for a non-string key, see kind
    ttl_seconds: int  # remaining TTL to set: the record's age is ttl - this
    entity_type: str
    entity_id: str
    run_id: str | None
    organization_id: str | None
    processed_at: float  # epoch seconds the record stands for
    kind: str = "string"  # "string", or "hash"/"list" for a wrong-type key
    valid: bool = True


def _rand(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(BASE62, k=n))


def _run_id(rng: random.Random) -> str:
    # Run ID formats seen over time: 21-char nanoid, cuid, 26-char base32hex.
    style = rng.random()
    if style < 0.6:
        return "run_" + "".join(rng.choices(string.ascii_lowercase + string.digits, k=25))
    if style < 0.85:
        return "run_" + _rand(rng, 21)
    return "run_" + "".join(rng.choices("0123456789abcdefghijklmnopqrstuv", k=26))


def generate_records(
    count: int,
    *,
    seed: int = 0,
    types: tuple[str, ...] | None = None,
    prefixes: dict[str, tuple[str, ...]] | None = None,
    namespace: str = "telemetry",
    ttl_seconds: int = 1_209_600,
    now: float | None = None,
    malformed: bool = True,
) -> Iterator[SyntheticRecord]:
    """Realistic records: every type, both shapes, ~50 orgs, ages spread over the TTL.

    Deterministic for a given ``seed`` and ``now``. Ages lean recent (half in
    the last 3 days) like real traffic, the rest spread over the whole TTL.
    """
    from .registry import DEFAULT_ENTITY_TYPES

    prefixes = prefixes or DEFAULT_ENTITY_TYPES
    types = types or tuple(prefixes)
    now = time.time() if now is None else now
    rng = random.Random(seed)
    orgs = ["org_" + _rand(rng, 21) for _ in range(ORGANIZATIONS)]
    weights = [1.0 / (i + 1) for i in range(ORGANIZATIONS)]  # a few big customers
    for _ in range(count):
        entity_type = rng.choice(types)
        prefix = rng.choice(prefixes.get(entity_type) or (FALLBACK_PREFIX,))
        entity_id = prefix + _rand(rng, 21)
        key = make_key(namespace, entity_type, entity_id)
        if rng.random() < 0.5:
            age = rng.uniform(0, min(3 * 86400, ttl_seconds - 60))
        else:
            age = rng.uniform(0, ttl_seconds - 60)
        remaining = max(1, int(ttl_seconds - age))
        processed_at = now - (ttl_seconds - remaining)
        if malformed and rng.random() < MALFORMED_SHARE:
            kind, value = rng.choice(
                (
                    ("string", b"{not json"),
                    ("string", orjson.dumps({"entityType": entity_type, "status": "x"})),
                    ("string", orjson.dumps({"runId": 42})),
                    ("string", b'["run_in_an_array"]'),
                    ("hash", b"runId"),
                    ("list", b"run_in_a_list"),
                )
            )
            yield SyntheticRecord(
                key,
                value,
                remaining,
                entity_type,
                entity_id,
                None,
                None,
                processed_at,
                kind=kind,
                valid=False,
            )
            continue
        run_id = _run_id(rng)
        org = entity_id if entity_type == "organization" else rng.choices(orgs, weights)[0]
        if rng.random() < 0.5:
            value = orjson.dumps({"runId": run_id})
            org_seen: str | None = entity_id if entity_type == "organization" else None
        else:
            metadata: dict[str, Any] = {"status": rng.choice(STATUSES.get(entity_type, ("ok",)))}
            if entity_type in ("payment", "invoice"):
                metadata["amount"] = rng.randrange(100, 500_000)
                metadata["currency"] = rng.choice(("usd", "eur", "gbp"))
            value = encode_record(
                entity_type,
                entity_id,
                run_id,
                org,
                datetime.fromtimestamp(processed_at, tz=UTC),
                metadata,
            )
            org_seen = org
        yield SyntheticRecord(
            key, value, remaining, entity_type, entity_id, run_id, org_seen, processed_at
        )


def write_records(client: Any, records: Iterator[SyntheticRecord] | list[SyntheticRecord]) -> int:
    """Pipelined writes with TTL, ``SEED_CHUNK`` per round trip; returns the count."""
    written = 0
    pipe = client.pipeline(transaction=False)
    for record in records:
        if record.kind == "hash":
            pipe.delete(record.key)
            pipe.hset(record.key, "runId", "run_in_a_hash")
            pipe.expire(record.key, record.ttl_seconds)
        elif record.kind == "list":
            pipe.delete(record.key)
            pipe.rpush(record.key, record.value)
            pipe.expire(record.key, record.ttl_seconds)
        else:
            pipe.set(record.key, record.value, ex=record.ttl_seconds)
        written += 1
        if written % SEED_CHUNK == 0:
            pipe.execute()
    pipe.execute()
    return written


def seed_records(
    client: Any, settings: Settings, *, records: int, seed: int = 0, now: float | None = None
) -> int:
    """Write ``records`` synthetic records for ``settings``' namespace, TTL and registry."""
    registry = settings.registry
    return write_records(
        client,
        generate_records(
            records,
            seed=seed,
            prefixes={t: registry.prefixes(t) for t in registry.types},
            namespace=settings.telemetry_namespace,
            ttl_seconds=settings.telemetry_ttl_seconds,
            now=now,
        ),
    )
