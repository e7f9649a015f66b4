"""TelemetryReader on fakeredis: lookup, bulk resolve and scan, with a frozen server clock.

fakeredis takes "now" from ``time.time()`` in its socket module; the ``server``
fixture freezes that clock at ``NOW`` (and lets a test move it), so PTTLs are
exact and TTL-inferred times can be compared to the millisecond.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import fakeredis
import orjson
import pytest

from clocks import NOW, FrozenClock
from telemetry.config import Settings
from telemetry.errors import StoreUnavailableError, TelemetryError
from telemetry.ids import Query, parse_ids
from telemetry.models import Result, Status
from telemetry.reader import RAW_PREVIEW_CHARS, InvalidRecord, TelemetryReader
from telemetry.registry import DEFAULT_ENTITY_TYPES
from telemetry.store import SingleStore

TTL = 1_209_600
HOUR = 3600
DAY = 86_400


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


@pytest.fixture
def client(server_clock: FrozenClock) -> fakeredis.FakeRedis:
    """An empty fakeredis whose clock is frozen at NOW."""
    return fakeredis.FakeRedis()


@pytest.fixture
def settings() -> Settings:
    """Default settings (namespace telemetry, 14-day TTL, default registry and run URL)."""
    return Settings.load()


@pytest.fixture
def reader(client: fakeredis.FakeRedis, settings: Settings) -> TelemetryReader:
    """A reader over ``client`` whose clock is fixed at NOW."""
    return TelemetryReader(client, settings, clock=lambda: NOW)


def put(
    client: Any,
    entity_type: str,
    entity_id: str,
    value: dict[str, Any] | bytes | str,
    *,
    age: float | None = 0,
    ttl: int = TTL,
) -> str:
    """Write a record that is ``age`` seconds old (remaining TTL = ttl - age); age=None: no TTL."""
    key = f"telemetry:{entity_type}:{entity_id}"
    raw = orjson.dumps(value) if isinstance(value, dict) else value
    if age is None:
        client.set(key, raw)
    else:
        client.set(key, raw, px=int((ttl - age) * 1000))
    return key


def resolve(reader: TelemetryReader, text: str) -> list[Result]:
    parsed = parse_ids(text, reader.registry, namespace=reader.namespace)
    resolution = reader.resolve(parsed.queries)
    assert resolution.complete
    assert resolution.error == ""
    return resolution.results


def row(result: Result) -> dict[str, Any]:
    return result.model_dump()


def found(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "status": Status.FOUND,
        "organization_id": None,
        "processed_at": None,
        "processed_at_inferred": False,
        "expires_at": None,
        "detail": "",
        "metadata": {},
        "raw_value": None,
    }
    base.update(fields)
    base.setdefault("run_url", f"https://cloud.trigger.dev/runs/{base['run_id']}")
    base.setdefault("key", f"telemetry:{base['entity_type']}:{base['entity_id']}")
    return base


# -- found ---------------------------------------------------------------------


def test_minimal_record_time_inferred_from_ttl(client: Any, reader: TelemetryReader) -> None:
    """A minimal {"runId"} record: processed_at = now - (ttl - remaining), flagged inferred."""
    put(client, "payment", "pym_1", {"runId": "run_cm4x2k9p10002l70gt3xkq1rz"}, age=3 * HOUR)
    [result] = resolve(reader, "pym_1")
    assert row(result) == found(
        query="pym_1",
        entity_type="payment",
        entity_id="pym_1",
        run_id="run_cm4x2k9p10002l70gt3xkq1rz",
        processed_at=at(NOW - 3 * HOUR),
        processed_at_inferred=True,
        expires_at=at(NOW + TTL - 3 * HOUR),
        detail="time inferred from TTL",
    )


def test_rich_record_uses_its_own_fields(client: Any, reader: TelemetryReader) -> None:
    """A rich record gives org, producer timestamp (not inferred) and metadata."""
    value = {
        "runId": "run_abc",
        "entityType": "payment",
        "entityId": "pym_123",
        "organizationId": "org_9",
        "timestamp": "2027-01-15T07:15:00.250Z",
        "metadata": {"status": "succeeded", "amount": 4200, "currency": "usd"},
    }
    put(client, "payment", "pym_123", value, age=2 * DAY)
    [result] = resolve(reader, '"pym_123",')
    assert row(result) == found(
        query="pym_123",
        entity_type="payment",
        entity_id="pym_123",
        run_id="run_abc",
        organization_id="org_9",
        processed_at=datetime(2027, 1, 15, 7, 15, 0, 250_000, tzinfo=UTC),
        expires_at=at(NOW + TTL - 2 * DAY),
        metadata={"status": "succeeded", "amount": 4200, "currency": "usd"},
    )


@pytest.mark.parametrize(
    ("value", "expected_org"),
    [
        ({"runId": "run_a"}, "org_77"),
        ({"runId": "run_a", "organizationId": ""}, "org_77"),
        ({"runId": "run_a", "organizationId": "org_parent"}, "org_parent"),
    ],
    ids=["minimal", "empty-org-field", "explicit-org-kept"],
)
def test_organization_type_implies_org(
    client: Any, reader: TelemetryReader, value: dict[str, Any], expected_org: str
) -> None:
    """For entity type organization, a missing organizationId means the entity ID is the org."""
    put(client, "organization", "org_77", value, age=60)
    [result] = resolve(reader, "org_77")
    assert result.status is Status.FOUND
    assert result.organization_id == expected_org


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"runId": "run_a"}, None),
        ({"runId": "run_a", "organizationId": ""}, None),
        ({"runId": "run_a", "organizationId": 42}, "42"),
    ],
    ids=["missing", "empty", "number-as-text"],
)
def test_org_unknown_or_stringified(
    client: Any, reader: TelemetryReader, value: dict[str, Any], expected: str | None
) -> None:
    """Outside organization records a missing org stays unknown; a non-string org becomes text."""
    put(client, "invoice", "inv_1", value, age=60)
    [result] = resolve(reader, "inv_1")
    assert result.organization_id == expected


@pytest.mark.parametrize(
    ("stamp", "expected", "detail"),
    [
        (1_799_996_400, at(NOW - HOUR), ""),
        (1_799_996_400_000, at(NOW - HOUR), ""),
        ("1799996400", at(NOW - HOUR), ""),
        ("2027-01-15T09:00:00+02:00", at(NOW - HOUR), ""),
        ("2027-01-15T07:00:00", at(NOW - HOUR), ""),
        ("2027-01-15T08:04:00Z", at(NOW + 240), ""),
        (
            "2027-01-15T09:00:00Z",
            at(NOW + HOUR),
            "timestamp is in the future (producer clock skew?)",
        ),
    ],
    ids=[
        "epoch-seconds",
        "epoch-millis",
        "epoch-string",
        "offset",
        "naive-is-utc",
        "slightly-ahead-is-tolerated",
        "future",
    ],
)
def test_producer_timestamp_formats(
    client: Any, reader: TelemetryReader, stamp: Any, expected: datetime, detail: str
) -> None:
    """Producer timestamps in other formats are read as UTC; far-future ones are flagged."""
    put(client, "payment", "pym_1", {"runId": "run_a", "timestamp": stamp}, age=5 * HOUR)
    [result] = resolve(reader, "pym_1")
    assert result.processed_at == expected
    assert result.processed_at_inferred is False
    assert result.detail == detail


def test_unreadable_timestamp_falls_back_to_ttl(client: Any, reader: TelemetryReader) -> None:
    """A timestamp that is not a date is reported, and the time is inferred from the TTL instead."""
    put(client, "payment", "pym_1", {"runId": "run_a", "timestamp": "yesterday"}, age=5 * HOUR)
    [result] = resolve(reader, "pym_1")
    assert result.processed_at == at(NOW - 5 * HOUR)
    assert result.processed_at_inferred is True
    assert result.detail == "timestamp 'yesterday' is not a date; time inferred from TTL"


def test_key_without_ttl(client: Any, reader: TelemetryReader) -> None:
    """A key with no TTL: no processed time, no expiry, and the detail says why."""
    put(client, "payment", "pym_1", {"runId": "run_a"}, age=None)
    [result] = resolve(reader, "pym_1")
    assert row(result) == found(
        query="pym_1",
        entity_type="payment",
        entity_id="pym_1",
        run_id="run_a",
        detail="key has no TTL: processing time unknown",
    )


def test_remaining_ttl_longer_than_configured_ttl_is_flagged(
    client: Any, reader: TelemetryReader
) -> None:
    """A remaining TTL above TELEMETRY_TTL_SECONDS gives a future time and a hint to check it."""
    put(client, "payment", "pym_1", {"runId": "run_a"}, age=-HOUR)  # remaining = TTL + 1 h
    [result] = resolve(reader, "pym_1")
    assert result.processed_at == at(NOW + HOUR)
    assert result.detail == (
        "time inferred from TTL (remaining TTL exceeds TELEMETRY_TTL_SECONDS=1209600; "
        "check the setting)"
    )


def test_unknown_metadata_fields_are_kept(client: Any, reader: TelemetryReader) -> None:
    """Unknown top-level fields join metadata; never an error, never a detail."""
    value = {"runId": "run_a", "metadata": {"status": "paid"}, "region": "eu", "attempt": 3}
    put(client, "invoice", "inv_1", value, age=60)
    [result] = resolve(reader, "inv_1")
    assert result.status is Status.FOUND
    assert result.metadata == {"status": "paid", "region": "eu", "attempt": 3}
    assert result.detail == "time inferred from TTL"


def test_record_disagreeing_with_its_key_is_noted(client: Any, reader: TelemetryReader) -> None:
    """entityType/entityId that differ from the key are shown in the detail; the key wins."""
    value = {"runId": "run_a", "entityType": "invoice", "entityId": "pym_2", "timestamp": NOW}
    put(client, "payment", "pym_1", value, age=60)
    [result] = resolve(reader, "pym_1")
    assert (result.entity_type, result.entity_id) == ("payment", "pym_1")
    assert result.detail == "record says entityType='invoice'; record says entityId='pym_2'"


@pytest.mark.parametrize(
    "run_id",
    ["run_abc-def", "javascript:alert(1)", "run_x/../../admin", "run_abc\n", "RUN_ABC"],
    ids=["dash", "javascript", "path-traversal", "trailing-newline", "uppercase"],
)
def test_unlinkable_run_id_has_no_url(client: Any, reader: TelemetryReader, run_id: str) -> None:
    """A run ID failing ^run_[A-Za-z0-9]+$ is found but shown without a link, with a detail."""
    put(client, "payment", "pym_1", {"runId": run_id, "timestamp": NOW}, age=60)
    [result] = resolve(reader, "pym_1")
    assert result.status is Status.FOUND
    assert result.run_id == run_id
    assert result.run_url is None
    assert result.detail == "run ID is not of the form run_<letters/digits>: shown without a link"


def test_run_url_template_is_configurable(client: Any) -> None:
    """RUN_URL_TEMPLATE decides the link."""
    settings = Settings.load(run_url_template="https://t.example/o/p/env/prod/runs/{run_id}")
    put(client, "payment", "pym_1", {"runId": "run_a"}, age=60)
    [result] = TelemetryReader(client, settings, clock=lambda: NOW).lookup("pym_1")
    assert result.run_url == "https://t.example/o/p/env/prod/runs/run_a"


# -- not found -----------------------------------------------------------------


def test_not_found_names_the_key_and_the_ttl(reader: TelemetryReader) -> None:
    """A missing key: not_found, with the key and the TTL reason in the detail."""
    [result] = resolve(reader, "pym_missing")
    assert row(result) == {
        "query": "pym_missing",
        "status": Status.NOT_FOUND,
        "entity_type": "payment",
        "entity_id": "pym_missing",
        "run_id": None,
        "run_url": None,
        "organization_id": None,
        "processed_at": None,
        "processed_at_inferred": False,
        "expires_at": None,
        "detail": "no key telemetry:payment:pym_missing: never processed, or expired after "
        "the 14 d TTL",
        "key": "telemetry:payment:pym_missing",
        "metadata": {},
        "raw_value": None,
    }


@pytest.mark.parametrize(
    ("ttl", "words"),
    [(6 * HOUR, "6 h"), (5400, "90 min"), (1000, "1000 s"), (2 * DAY, "2 d")],
    ids=["hours", "minutes", "seconds", "days"],
)
def test_not_found_ttl_wording_for_other_ttls(client: Any, ttl: int, words: str) -> None:
    """A TTL that is not whole days is shown in a unit that divides it (never "0 d")."""
    settings = Settings.load(telemetry_ttl_seconds=ttl)
    [result] = TelemetryReader(client, settings, clock=lambda: NOW).lookup("pym_1")
    assert result.detail == (
        f"no key telemetry:payment:pym_1: never processed, or expired after the {words} TTL"
    )


def test_expired_key_is_not_found(
    client: Any, reader: TelemetryReader, server_clock: FrozenClock
) -> None:
    """A record past its TTL is gone: found before expiry, not_found after."""
    put(client, "payment", "pym_1", {"runId": "run_a"}, age=TTL - 1)  # 1 s left
    assert resolve(reader, "pym_1")[0].status is Status.FOUND
    server_clock.now += 2
    [result] = resolve(reader, "pym_1")
    assert result.status is Status.NOT_FOUND
    assert result.detail.startswith("no key telemetry:payment:pym_1:")


class CountingStore(SingleStore):
    """A Store that records the keys of every fetch (one fetch = one pipeline round trip)."""

    read_ahead = False  # every chunk through fetch

    def __init__(self, client: Any, settings: Settings) -> None:
        super().__init__(client, settings)
        self.fetches: list[list[str]] = []

    def fetch(self, keys: list[str]) -> tuple[list[Any], list[int]]:
        self.fetches.append(list(keys))
        return super().fetch(keys)


def test_unknown_prefix_tries_every_type_in_one_round(client: Any, settings: Settings) -> None:
    """An ID with no known prefix is looked up under every entity type in a single fetch."""
    store = CountingStore(client, settings)
    reader = TelemetryReader(store, settings, clock=lambda: NOW)
    [result] = resolve(reader, "zz_unknown")
    assert store.fetches == [[f"telemetry:{t}:zz_unknown" for t in DEFAULT_ENTITY_TYPES]]
    assert row(result) == {
        "query": "zz_unknown",
        "status": Status.NOT_FOUND,
        "entity_type": None,
        "entity_id": "zz_unknown",
        "run_id": None,
        "run_url": None,
        "organization_id": None,
        "processed_at": None,
        "processed_at_inferred": False,
        "expires_at": None,
        "detail": "unknown ID prefix; checked 9 entity types (payment, invoice, billing_run, "
        "billing_period, subscription, organization, webhook, customer, notification) under "
        "telemetry:<type>:zz_unknown: none found",
        "key": None,
        "metadata": {},
        "raw_value": None,
    }


def test_unknown_prefix_with_several_hits_gives_several_rows(
    client: Any, reader: TelemetryReader
) -> None:
    """Each entity type holding the unknown-prefix ID is a row of its own, in registry order."""
    put(client, "notification", "ntf_1", {"runId": "run_n"}, age=60)
    put(client, "payment", "ntf_1", {"runId": "run_p", "timestamp": NOW - 10}, age=60)
    results = resolve(reader, "ntf_1")
    assert [(r.query, r.status, r.entity_type, r.run_id) for r in results] == [
        ("ntf_1", Status.FOUND, "payment", "run_p"),
        ("ntf_1", Status.FOUND, "notification", "run_n"),
    ]


def test_two_queries_reaching_one_key_each_get_a_row(client: Any, reader: TelemetryReader) -> None:
    """A bare unknown ID and type:ID reaching one key both show the hit, each with its query."""
    put(client, "invoice", "x_1", {"runId": "run_a"}, age=60)
    results = resolve(reader, "x_1 invoice:x_1")
    assert [(r.query, r.status, r.key) for r in results] == [
        ("x_1", Status.FOUND, "telemetry:invoice:x_1"),
        ("invoice:x_1", Status.FOUND, "telemetry:invoice:x_1"),
    ]


def test_rows_keep_input_order_and_every_paste_shape(client: Any, reader: TelemetryReader) -> None:
    """Rows follow the order of first appearance across paste shapes; duplicates dropped."""
    put(client, "payment", "pym_1", {"runId": "run_1"}, age=60)
    put(client, "invoice", "inv_2", {"runId": "run_2"}, age=60)
    put(client, "webhook", "event_3", {"runId": "run_3"}, age=60)
    text = '`inv_2`; telemetry:webhook:event_3\tpayment:pym_1, pym_missing\n"inv_2",'
    results = resolve(reader, text)
    assert [(r.query, r.status.value, r.run_id) for r in results] == [
        ("inv_2", "found", "run_2"),
        ("telemetry:webhook:event_3", "found", "run_3"),
        ("payment:pym_1", "found", "run_1"),
        ("pym_missing", "not_found", None),
    ]


def test_invalid_id_query_becomes_invalid_id_row(reader: TelemetryReader) -> None:
    """A query the parser rejected is an invalid_id row carrying the parser's reason."""
    resolution = reader.resolve([Query("pym_\u00e9", "", None, "contains non-ASCII character")])
    [result] = resolution.results
    assert (result.query, result.status, result.detail) == (
        "pym_\u00e9",
        Status.INVALID_ID,
        "contains non-ASCII character",
    )
    assert resolution.counts == {
        "found": 0,
        "not_found": 0,
        "invalid_id": 1,
        "invalid_record": 0,
        "error": 0,
        "ignored": 0,
    }


# -- invalid records -----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "value is not JSON"),
        (b'{"entityType": "payment", "status": "x"}', "no runId field"),
        (b'{"runId": 42}', "runId is a number, not a string"),
        (b'{"runId": ""}', "runId is empty"),
        (b'["run_in_an_array"]', "value is JSON an array, not an object"),
        (b"null", "value is JSON null, not an object"),
    ],
    ids=["bad-json", "no-runId", "numeric-runId", "empty-runId", "array", "null"],
)
def test_invalid_string_values(
    client: Any, reader: TelemetryReader, raw: bytes, reason: str
) -> None:
    """A string key holding no record: invalid_record with the key, the reason and a preview."""
    put(client, "payment", "pym_1", raw, age=60)
    [result] = resolve(reader, "pym_1")
    assert row(result) == {
        "query": "pym_1",
        "status": Status.INVALID_RECORD,
        "entity_type": "payment",
        "entity_id": "pym_1",
        "run_id": None,
        "run_url": None,
        "organization_id": None,
        "processed_at": None,
        "processed_at_inferred": False,
        "expires_at": None,
        "detail": f"invalid record at telemetry:payment:pym_1: {reason}",
        "key": "telemetry:payment:pym_1",
        "metadata": {},
        "raw_value": raw.decode(),
    }


def _write_kind(client: Any, key: str, kind: str, ttl: bool) -> None:
    if kind == "hash":
        client.hset(key, "runId", "run_in_a_hash")
    elif kind == "list":
        client.rpush(key, "run_in_a_list")
    elif kind == "set":
        client.sadd(key, "run_in_a_set")
    elif kind == "zset":
        client.zadd(key, {"run_in_a_zset": 1})
    elif kind == "stream":
        client.xadd(key, {"runId": "run_in_a_stream"})
    if ttl:
        client.expire(key, 600)


@pytest.mark.parametrize("ttl", [True, False], ids=["with-ttl", "no-ttl"])
@pytest.mark.parametrize(
    "kind",
    ["hash", "list", "set", "zset", "stream"],
    ids=["hash", "list", "set", "zset", "stream"],
)
def test_non_string_keys_are_invalid_records(
    client: Any, reader: TelemetryReader, kind: str, ttl: bool
) -> None:
    """A hash/list/set/zset/stream key is an invalid_record naming its type (no miss, no crash)."""
    _write_kind(client, "telemetry:payment:pym_1", kind, ttl)
    [result] = resolve(reader, "pym_1")
    assert (result.status, result.key, result.detail, result.raw_value) == (
        Status.INVALID_RECORD,
        "telemetry:payment:pym_1",
        f"invalid record at telemetry:payment:pym_1: key holds a Redis {kind}, not a string",
        None,
    )


def test_raw_preview_is_truncated(client: Any, reader: TelemetryReader) -> None:
    """The raw preview of a long invalid value is its first 200 characters and an ellipsis."""
    raw = "x" * 150 + "é" * 150 + "never shown"
    put(client, "payment", "pym_1", raw.encode(), age=60)
    [result] = resolve(reader, "pym_1")
    assert RAW_PREVIEW_CHARS == 200
    assert result.raw_value == "x" * 150 + "é" * 50 + "…"


def test_invalid_utf8_preview_does_not_crash(client: Any, reader: TelemetryReader) -> None:
    """Binary garbage is an invalid record whose preview replaces undecodable bytes."""
    put(client, "payment", "pym_1", b"\xff\xfe{bad", age=60)
    [result] = resolve(reader, "pym_1")
    assert result.status is Status.INVALID_RECORD
    assert result.raw_value == "\ufffd\ufffd{bad"


def test_mixed_batch_counts(client: Any, reader: TelemetryReader) -> None:
    """One resolve mixing every status counts each one."""
    put(client, "payment", "pym_ok", {"runId": "run_a"}, age=60)
    put(client, "payment", "pym_bad", b"nope", age=60)
    parsed = parse_ids("pym_ok pym_bad pym_none", reader.registry)
    queries = [*parsed.queries, Query("bad\x00", "", None, "contains control character U+0000")]
    resolution = reader.resolve(queries)
    assert resolution.queries == 4
    assert resolution.counts == {
        "found": 1,
        "not_found": 1,
        "invalid_id": 1,
        "invalid_record": 1,
        "error": 0,
        "ignored": 0,
    }
    assert resolution.count(Status.FOUND) == 1


# -- chunking, progress and failures ------------------------------------------


def test_resolve_chunks_and_reports_progress(client: Any, settings: Settings) -> None:
    """Keys are fetched chunk_keys at a time and progress reports (done, total) after each chunk."""
    store = CountingStore(client, settings)
    reader = TelemetryReader(store, settings, clock=lambda: NOW)
    for i in range(25):
        put(client, "payment", f"pym_{i}", {"runId": f"run_{i}"}, age=60)
    parsed = parse_ids(" ".join(f"pym_{i}" for i in range(25)), reader.registry)
    progress: list[tuple[int, int]] = []
    resolution = reader.resolve(
        parsed.queries, chunk_keys=10, progress=lambda d, t: progress.append((d, t))
    )
    assert [len(keys) for keys in store.fetches] == [10, 10, 5]
    assert progress == [(10, 25), (20, 25), (25, 25)]
    assert [r.run_id for r in resolution.results] == [f"run_{i}" for i in range(25)]


class FailingStore(SingleStore):
    """A Store whose fetch fails from the ``fail_at``-th call on (0-based)."""

    read_ahead = False  # every chunk through fetch

    def __init__(self, client: Any, settings: Settings, fail_at: int) -> None:
        super().__init__(client, settings)
        self.calls = 0
        self.fail_at = fail_at

    def fetch(self, keys: list[str]) -> tuple[list[Any], list[int]]:
        self.calls += 1
        if self.calls > self.fail_at:
            raise StoreUnavailableError("Cannot reach Redis (boom).", url="redis://h:1/0")
        return super().fetch(keys)


def test_failure_before_anything_was_read_raises(client: Any, settings: Settings) -> None:
    """When the first chunk fails, resolve raises StoreUnavailableError (nothing to show)."""
    reader = TelemetryReader(FailingStore(client, settings, fail_at=0), settings, clock=lambda: NOW)
    with pytest.raises(StoreUnavailableError, match="boom"):
        reader.resolve(parse_ids("pym_1", reader.registry).queries)


def test_failure_midway_keeps_results_and_marks_the_rest_error(
    client: Any, settings: Settings
) -> None:
    """A later failure keeps resolved rows, marks the rest error and the resolution incomplete."""
    reader = TelemetryReader(FailingStore(client, settings, fail_at=1), settings, clock=lambda: NOW)
    put(client, "payment", "pym_0", {"runId": "run_0"}, age=60)
    queries = parse_ids("pym_0 pym_1 pym_2 inv_3", reader.registry).queries
    resolution = reader.resolve(queries, chunk_keys=2)
    assert resolution.complete is False
    assert resolution.error == (
        "Redis failed after 2 of 4 keys: Cannot reach Redis (boom). (Redis at redis://h:1/0)"
    )
    assert [(r.query, r.status.value, r.entity_type, r.detail) for r in resolution.results] == [
        ("pym_0", "found", "payment", "time inferred from TTL"),
        (
            "pym_1",
            "not_found",
            "payment",
            "no key telemetry:payment:pym_1: never processed, or expired after the 14 d TTL",
        ),
        (
            "pym_2",
            "error",
            "payment",
            "not read: Cannot reach Redis (boom). (Redis at redis://h:1/0)",
        ),
        (
            "inv_3",
            "error",
            "invoice",
            "not read: Cannot reach Redis (boom). (Redis at redis://h:1/0)",
        ),
    ]


def test_lookup_first_id_only_and_empty_text(client: Any, reader: TelemetryReader) -> None:
    """lookup resolves only the first ID in the text; text without an ID gives []."""
    put(client, "payment", "pym_1", {"runId": "run_a"}, age=60)
    assert [r.run_id for r in reader.lookup("  telemetry:payment:pym_1 inv_2  ")] == ["run_a"]
    assert reader.lookup("   \n ,, ") == []


def test_lookup_raises_when_redis_fails(client: Any, settings: Settings) -> None:
    """lookup raises a TelemetryError (not a redis-py error) when Redis is down."""
    reader = TelemetryReader(FailingStore(client, settings, fail_at=0), settings, clock=lambda: NOW)
    with pytest.raises(TelemetryError):
        reader.lookup("pym_1")


# -- scan ----------------------------------------------------------------------


def _scan_all(reader: TelemetryReader, **kwargs: Any) -> tuple[list[Any], list[InvalidRecord], Any]:
    records: list[Any] = []
    invalid: list[InvalidRecord] = []
    batches = list(reader.scan(**kwargs))
    for batch in batches:
        records.extend(batch.records)
        invalid.extend(batch.invalid)
    return records, invalid, batches


def test_scan_streams_records_and_invalid_keys(client: Any, reader: TelemetryReader) -> None:
    """scan yields every record decoded and every invalid key with its reason; last batch done."""
    put(client, "payment", "pym_1", {"runId": "run_1"}, age=HOUR)
    put(client, "webhook", "event:with:colons", {"runId": "run_2"}, age=None)
    put(client, "brand_new_type", "bnt_1", {"runId": "run_3"}, age=60)
    put(client, "invoice", "inv_bad", b"{oops", age=60)
    _write_kind(client, "telemetry:invoice:inv_hash", "hash", ttl=True)
    _write_kind(client, "telemetry:customer:cust_stream", "stream", ttl=False)
    client.set("telemetry:Bad Type:x", b'{"runId": "run_x"}')
    client.set("telemetry:notype", b'{"runId": "run_y"}')
    client.set("other:payment:pym_9", b'{"runId": "run_z"}')
    records, invalid, batches = _scan_all(reader, batch_size=3)
    assert sorted(
        (r.key, r.entity_type, r.entity_id, r.data["runId"], r.pttl_ms) for r in records
    ) == [
        ("telemetry:brand_new_type:bnt_1", "brand_new_type", "bnt_1", "run_3", (TTL - 60) * 1000),
        ("telemetry:payment:pym_1", "payment", "pym_1", "run_1", (TTL - HOUR) * 1000),
        ("telemetry:webhook:event:with:colons", "webhook", "event:with:colons", "run_2", -1),
    ]
    assert sorted((i.key, i.reason, i.raw) for i in invalid) == [
        ("telemetry:Bad Type:x", "key is not telemetry:<entity_type>:<entity_id>", ""),
        ("telemetry:customer:cust_stream", "key holds a Redis stream, not a string", ""),
        ("telemetry:invoice:inv_bad", "value is not JSON", "{oops"),
        ("telemetry:invoice:inv_hash", "key holds a Redis hash, not a string", ""),
        ("telemetry:notype", "key is not telemetry:<entity_type>:<entity_id>", ""),
    ]
    assert batches[-1].done is True
    assert batches[-1].capped is False
    assert batches[-1].scanned == 8
    assert not any(b.done for b in batches[:-1])


def test_scan_type_filter(client: Any, reader: TelemetryReader) -> None:
    """types= limits records and invalid keys to those types (one type or several)."""
    put(client, "payment", "pym_1", {"runId": "run_1"})
    put(client, "payment", "pym_bad", b"x")
    put(client, "invoice", "inv_1", {"runId": "run_2"})
    put(client, "customer", "cust_1", {"runId": "run_3"})
    records, invalid, _ = _scan_all(reader, types=["payment"])
    assert sorted(r.key for r in records) == ["telemetry:payment:pym_1"]
    assert [i.key for i in invalid] == ["telemetry:payment:pym_bad"]
    records, invalid, _ = _scan_all(reader, types=["invoice", "customer"])
    assert sorted(r.key for r in records) == [
        "telemetry:customer:cust_1",
        "telemetry:invoice:inv_1",
    ]
    assert invalid == []


def test_scan_type_filter_drops_malformed_keys(client: Any, reader: TelemetryReader) -> None:
    """A malformed key has no type, so no type filter (one type or several) reports it."""
    client.set("telemetry:Bad Type:x", b'{"runId": "run_x"}')
    client.set("telemetry:notype", b'{"runId": "run_y"}')
    put(client, "invoice", "inv_1", {"runId": "run_2"})
    for types_ in (["invoice"], ["invoice", "customer"]):
        records, invalid, _ = _scan_all(reader, types=types_)
        assert [r.key for r in records] == ["telemetry:invoice:inv_1"]
        assert invalid == []
    _, invalid, _ = _scan_all(reader)
    assert sorted(i.key for i in invalid) == ["telemetry:Bad Type:x", "telemetry:notype"]


def test_scan_cap_stops_early(client: Any, reader: TelemetryReader) -> None:
    """max_keys stops the scan: the last batch says capped, not done, and no more keys are read."""
    for i in range(50):
        put(client, "payment", f"pym_{i}", {"runId": f"run_{i}"})
    records, _, batches = _scan_all(reader, max_keys=20, batch_size=7)
    assert len(records) == 20
    assert batches[-1].capped is True
    assert batches[-1].done is False
    assert batches[-1].scanned == 20


def test_scan_empty_namespace(reader: TelemetryReader) -> None:
    """An empty namespace is one final, done batch with nothing in it."""
    records, invalid, batches = _scan_all(reader)
    assert (records, invalid) == ([], [])
    assert batches[-1].done is True
    assert batches[-1].scanned == 0


def test_scan_namespace_with_glob_characters(client: Any, server_clock: FrozenClock) -> None:
    """A namespace containing glob characters scans only its own keys."""
    settings = Settings.load(telemetry_namespace="t*[x]")
    reader = TelemetryReader(client, settings, clock=lambda: NOW)
    client.set("t*[x]:payment:pym_1", b'{"runId": "run_1"}')
    client.set("tAx:payment:pym_2", b'{"runId": "run_2"}')
    client.set("t*x:payment:pym_3", b'{"runId": "run_3"}')
    records, invalid, _ = _scan_all(reader)
    assert [r.key for r in records] == ["t*[x]:payment:pym_1"]
    assert invalid == []
