"""The only writer: ``store_telemetry`` and the synthetic data behind seed, demo and benchmarks."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import fakeredis
import orjson
import pytest

from clocks import NOW
from telemetry.config import Settings
from telemetry.keys import parse_key
from telemetry.models import decode_value, parse_timestamp
from telemetry.registry import DEFAULT_ENTITY_TYPES, EntityRegistry
from telemetry.writer import (
    FALLBACK_PREFIX,
    ORGANIZATIONS,
    SyntheticRecord,
    encode_record,
    generate_records,
    seed_records,
    store_telemetry,
    write_records,
)

TTL = 1_209_600
DAY = 86_400


@pytest.fixture(scope="module")
def records() -> list[SyntheticRecord]:
    """20,000 generated records (module-scoped: generated once)."""
    return list(generate_records(20_000, seed=3, now=NOW))


def test_generation_is_deterministic() -> None:
    """The same seed and clock give the same records; another seed gives other records."""
    first = list(generate_records(500, seed=11, now=NOW))
    again = list(generate_records(500, seed=11, now=NOW))
    other = list(generate_records(500, seed=12, now=NOW))
    assert first == again
    assert [r.key for r in first] != [r.key for r in other]


def test_keys_are_well_formed_and_match_their_record(records: list[SyntheticRecord]) -> None:
    """Every key is telemetry:<type>:<id> and its ID carries a prefix of its type (or ntf_)."""
    registry = EntityRegistry()
    for record in records:
        assert parse_key(record.key) == (record.entity_type, record.entity_id)
        if record.entity_type == "notification":
            assert record.entity_id.startswith(FALLBACK_PREFIX)
            assert registry.match(record.entity_id) is None
        else:
            assert registry.match(record.entity_id) == record.entity_type
        assert len(record.entity_id.rsplit("_", 1)[1]) == 21


def test_every_entity_type_and_both_webhook_prefixes_appear(records: list[SyntheticRecord]) -> None:
    """All nine contract types are generated, and webhooks use both event_ and webhook_."""
    assert set(Counter(r.entity_type for r in records)) == set(DEFAULT_ENTITY_TYPES)
    webhook_prefixes = {r.entity_id.split("_", 1)[0] for r in records if r.entity_type == "webhook"}
    assert webhook_prefixes == {"event", "webhook"}


def test_both_value_shapes_in_roughly_equal_shares(records: list[SyntheticRecord]) -> None:
    """Valid values are the minimal {"runId"} shape or the rich shape, each ~half of them."""
    valid = [r for r in records if r.valid]
    minimal = [r for r in valid if orjson.loads(r.value).keys() == {"runId"}]
    rich = [r for r in valid if "timestamp" in orjson.loads(r.value)]
    assert len(minimal) + len(rich) == len(valid)
    assert 0.45 < len(minimal) / len(valid) < 0.55


def test_minimal_values_are_exactly_the_production_shape(records: list[SyntheticRecord]) -> None:
    """A minimal value is exactly {"runId": ...}; its org is known only for organization records."""
    for record in records:
        if not record.valid or b"timestamp" in record.value:
            continue
        assert orjson.loads(record.value) == {"runId": record.run_id}
        expected_org = record.entity_id if record.entity_type == "organization" else None
        assert record.organization_id == expected_org


def test_rich_values_agree_with_the_record(records: list[SyntheticRecord]) -> None:
    """A rich value repeats type, ID, org and (to the millisecond) the processed time."""
    for record in records:
        if not record.valid or b"timestamp" not in record.value:
            continue
        data = orjson.loads(record.value)
        assert data["runId"] == record.run_id
        assert data["entityType"] == record.entity_type
        assert data["entityId"] == record.entity_id
        assert data["organizationId"] == record.organization_id
        assert isinstance(data["metadata"]["status"], str)
        stamp = parse_timestamp(data["timestamp"])
        assert stamp is not None
        assert abs(stamp.timestamp() - record.processed_at) < 0.001
        if record.entity_type in ("payment", "invoice"):
            assert set(data["metadata"]) == {"status", "amount", "currency"}
        if record.entity_type == "organization":
            assert data["organizationId"] == record.entity_id


def test_run_ids_are_linkable_in_every_historical_format(records: list[SyntheticRecord]) -> None:
    """Generated run IDs are run_ + 21 (nanoid), 25 (cuid) or 26 (base32hex) alphanumerics."""
    lengths = Counter(len(r.run_id) - 4 for r in records if r.run_id)
    assert set(lengths) == {21, 25, 26}
    assert all(r.run_id.startswith("run_") and r.run_id[4:].isalnum() for r in records if r.run_id)


def test_about_fifty_organizations_with_a_few_big_ones(records: list[SyntheticRecord]) -> None:
    """Non-organization records spread over ORGANIZATIONS (50) orgs, skewed to a few large ones."""
    orgs = Counter(
        r.organization_id for r in records if r.organization_id and r.entity_type != "organization"
    )
    assert ORGANIZATIONS == 50
    assert len(orgs) == 50
    assert all(org.startswith("org_") for org in orgs)
    top, *_, bottom = [n for _, n in orgs.most_common()]
    assert top > 10 * bottom


def test_malformed_share_and_kinds(records: list[SyntheticRecord]) -> None:
    """~0.5% are broken on purpose: bad JSON, no runId, numeric runId, array, hash, list."""
    broken = [r for r in records if not r.valid]
    assert 40 <= len(broken) <= 200  # 0.5% of 20,000 = 100
    values = {r.value for r in broken if r.kind == "string"}
    assert b"{not json" in values
    assert b'{"runId":42}' in values
    assert b'["run_in_an_array"]' in values
    assert {r.kind for r in broken} == {"string", "hash", "list"}
    for record in broken:
        assert record.run_id is None
        assert record.organization_id is None
        if record.kind == "string":
            assert decode_value(record.value)[0] is None


def test_malformed_can_be_turned_off() -> None:
    """malformed=False generates only valid records."""
    assert all(r.valid for r in generate_records(5_000, seed=3, now=NOW, malformed=False))


def test_ttl_spread_over_the_whole_ttl_leaning_recent(records: list[SyntheticRecord]) -> None:
    """Remaining TTLs lie in [1, TTL]; ages reach ~the full TTL and about half are under 3 days."""
    ages = []
    for record in records:
        assert 1 <= record.ttl_seconds <= TTL
        assert record.processed_at == NOW - (TTL - record.ttl_seconds)
        ages.append(TTL - record.ttl_seconds)
    assert min(ages) < 3600
    assert max(ages) > TTL - 2 * DAY
    recent = sum(1 for age in ages if age < 3 * DAY)
    assert 0.5 < recent / len(ages) < 0.65  # half forced recent + the uniform half's share
    in_last_24h = sum(1 for age in ages if age < DAY)
    assert in_last_24h > 0.15 * len(ages)


def test_custom_types_prefixes_namespace_and_ttl() -> None:
    """Types, prefixes, namespace and TTL are honoured (what seed_records passes from settings)."""
    generated = list(
        generate_records(
            300,
            seed=1,
            types=("widget",),
            prefixes={"widget": ("wid_",)},
            namespace="ns",
            ttl_seconds=3600,
            now=NOW,
        )
    )
    assert {r.entity_type for r in generated} == {"widget"}
    assert all(r.key.startswith("ns:widget:wid_") for r in generated)
    assert all(1 <= r.ttl_seconds <= 3600 for r in generated)


def test_encode_record_exact_bytes() -> None:
    """encode_record: rich shape in field order with a millisecond Z timestamp, or minimal."""
    when = datetime(2026, 11, 20, 10, 15, 0, 123_456, tzinfo=UTC)
    assert encode_record(
        "payment", "pym_1", "run_a", "org_9", when, {"status": "succeeded", "amount": 4200}
    ) == (
        b'{"runId":"run_a","entityType":"payment","entityId":"pym_1","organizationId":"org_9",'
        b'"timestamp":"2026-11-20T10:15:00.123Z","metadata":{"status":"succeeded","amount":4200}}'
    )
    assert encode_record("payment", "pym_1", "run_a", timestamp="1795169700") == (
        b'{"runId":"run_a","entityType":"payment","entityId":"pym_1","timestamp":"1795169700"}'
    )
    assert encode_record("payment", "pym_1", "run_a", "org_9", when, {"x": 1}, rich=False) == (
        b'{"runId":"run_a"}'
    )


def test_store_telemetry_sets_value_and_ttl() -> None:
    """store_telemetry SETs ns:type:id with EX ttl, last write wins."""
    client = fakeredis.FakeRedis()
    key = store_telemetry(client, "invoice", "inv_1", "run_a", ttl_seconds=600, rich=False)
    assert key == "telemetry:invoice:inv_1"
    assert client.get(key) == b'{"runId":"run_a"}'
    assert 599 <= client.ttl(key) <= 600
    store_telemetry(
        client, "invoice", "inv_1", "run_b", namespace="telemetry", organization_id="org_1"
    )
    assert orjson.loads(client.get(key)) == {
        "runId": "run_b",
        "entityType": "invoice",
        "entityId": "inv_1",
        "organizationId": "org_1",
    }
    assert client.ttl(key) > 1_209_000


def test_write_records_writes_every_kind_with_its_ttl() -> None:
    """write_records stores strings, hashes and lists with TTLs and returns how many it wrote."""
    client = fakeredis.FakeRedis()
    generated = list(generate_records(2_500, seed=5, now=NOW))
    assert write_records(client, iter(generated)) == 2_500
    keys = {r.key for r in generated}
    assert client.dbsize() == len(keys)
    for record in generated[::50] + [r for r in generated if not r.valid]:
        kind = client.type(record.key).decode()
        assert kind == record.kind
        assert 0 < client.ttl(record.key) <= record.ttl_seconds
        if kind == "string":
            assert client.get(record.key) == record.value


def test_seed_records_follows_settings() -> None:
    """seed_records writes N records in the settings' namespace with its TTL and registry."""
    client = fakeredis.FakeRedis()
    settings = Settings.load(
        telemetry_namespace="demo",
        telemetry_ttl_seconds=7200,
        telemetry_entity_types={"widget": ["wid_"], "gizmo": []},
    )
    assert seed_records(client, settings, records=400, seed=2, now=NOW) == 400
    keys = [k.decode() for k in client.scan_iter(count=1000)]
    assert len(keys) == 400
    types = Counter(parse_key(k, "demo").entity_type for k in keys)  # type: ignore[union-attr]
    assert set(types) == {"widget", "gizmo"}
    assert all(k.startswith(("demo:widget:wid_", "demo:gizmo:ntf_")) for k in keys)
    assert max(client.ttl(k) for k in keys) <= 7200
