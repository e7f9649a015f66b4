"""Run IDs and run URLs looked up the other way round (contract §7): the entities whose record
points to the run, from one scan of the namespace shared by every run ID of a request."""

from __future__ import annotations

from typing import Any

import fakeredis
import orjson
import pytest

from clocks import NOW, FrozenClock
from telemetry.config import Settings
from telemetry.errors import StoreUnavailableError
from telemetry.ids import RUN, parse_ids
from telemetry.models import Status
from telemetry.reader import TelemetryReader
from telemetry.registry import EntityRegistry
from telemetry.reverse import run_query_id

TTL = 1_209_600
REGISTRY = EntityRegistry()


@pytest.fixture
def client(server_clock: FrozenClock) -> fakeredis.FakeRedis:
    """Records of three entities, two of them processed by run_shared."""
    redis = fakeredis.FakeRedis()
    put(redis, "payment", "pym_1", {"runId": "run_shared"})
    put(redis, "invoice", "inv_1", {"runId": "run_shared", "organizationId": "org_9"})
    put(redis, "payment", "pym_2", {"runId": "run_solo"})
    redis.set("telemetry:payment:pym_bad", b"not json", px=TTL * 1000)
    return redis


@pytest.fixture
def reader(client: fakeredis.FakeRedis) -> TelemetryReader:
    return TelemetryReader(client, Settings.load(), clock=lambda: NOW)


def put(client: Any, entity_type: str, entity_id: str, value: dict[str, Any]) -> None:
    client.set(f"telemetry:{entity_type}:{entity_id}", orjson.dumps(value), px=TTL * 1000)


def rows(reader: TelemetryReader, text: str, **kwargs: Any) -> list[tuple[str, str, str, str]]:
    parsed = parse_ids(text, reader.registry, namespace=reader.namespace)
    resolution = reader.resolve(parsed.queries, **kwargs)
    return [
        (r.query, r.status.value, f"{r.entity_type}:{r.entity_id}", r.detail)
        for r in resolution.results
    ]


@pytest.mark.parametrize(
    ("token", "run_id"),
    [
        ("run_abc", "run_abc"),
        ("https://cloud.trigger.dev/runs/run_abc", "run_abc"),
        ("https://cloud.trigger.dev/runs/run_abc?span=xyz&x=1", "run_abc"),
        ("https://cloud.trigger.dev/orgs/o/projects/p/env/prod/runs/run_abc", "run_abc"),
        ("https://cloud.trigger.dev/orgs/o/projects/p/env/prod/runs/run_abc/#logs", "run_abc"),
        ("HTTPS://trigger.example.com/runs/run_Z9", "run_Z9"),
        ("https://cloud.trigger.dev/runs/", None),
        ("https://cloud.trigger.dev/runs/run_abc/extra", None),
        ("https://example.com/payments/pym_1", None),
        ("pym_abc", None),
        ("runner_1", None),
    ],
)
def test_run_query_id(token: str, run_id: str | None) -> None:
    """A run ID, or a dashboard run URL (any host, any path before /runs/, with a query string
    or fragment), names the run; anything else does not."""
    assert run_query_id(token) == run_id


def test_run_id_and_its_url_are_one_run_query() -> None:
    """A pasted run URL and the bare run ID are one query (the first as pasted): the run."""
    parsed = parse_ids(
        "https://cloud.trigger.dev/runs/run_abc?span=1\nrun_abc\n`run_def`", REGISTRY
    )
    assert [(q.text, q.entity_id, q.kind) for q in parsed.queries] == [
        ("https://cloud.trigger.dev/runs/run_abc?span=1", "run_abc", RUN),
        ("run_def", "run_def", RUN),
    ]
    assert (parsed.tokens, parsed.duplicates, parsed.unique) == (3, 1, 2)


def test_run_prefix_in_the_registry_stays_an_entity() -> None:
    """A registry that gives run_ to an entity type looks run_… up as that entity, as before."""
    registry = EntityRegistry({"payment": ["pym_"], "job": ["run_"]})
    parsed = parse_ids("run_abc", registry)
    assert [(q.entity_id, q.kind) for q in parsed.queries] == [("run_abc", "")]


def test_entities_pointing_to_a_run_one_row_each(reader: TelemetryReader) -> None:
    """A run ID gives one found row per entity whose record points to it, query as pasted;
    other records, invalid ones included, are not rows."""
    url = "https://cloud.trigger.dev/orgs/o/projects/p/env/prod/runs/run_shared"
    assert rows(reader, url) == [
        (url, "found", "invoice:inv_1", "time inferred from TTL"),
        (url, "found", "payment:pym_1", "time inferred from TTL"),
    ]
    found = reader.resolve(parse_ids("run_solo", REGISTRY).queries).results
    assert len(found) == 1
    result = found[0]
    assert (result.run_id, result.run_url, result.key) == (
        "run_solo",
        "https://cloud.trigger.dev/runs/run_solo",
        "telemetry:payment:pym_2",
    )


def test_mixed_request_keeps_input_order(reader: TelemetryReader) -> None:
    """Entity IDs, run IDs and words resolve together, each in its place."""
    assert [r[:3] for r in rows(reader, "pym_2 run_solo hey pym_404 run_nobody")] == [
        ("pym_2", "found", "payment:pym_2"),
        ("run_solo", "found", "payment:pym_2"),
        ("hey", "ignored", "None:None"),
        ("pym_404", "not_found", "payment:pym_404"),
        ("run_nobody", "not_found", "None:None"),
    ]


def test_unknown_run_is_not_found_with_the_reason(reader: TelemetryReader) -> None:
    """A run no record points to is not_found, saying the whole namespace was scanned."""
    assert rows(reader, "run_nobody") == [
        (
            "run_nobody",
            "not_found",
            "None:None",
            "no record in the namespace points to run_nobody: scanned all 4 keys under "
            "telemetry:* (records expire after their TTL)",
        )
    ]


class CountingScan:
    """Counts SCAN commands the reader sends (one scan = SCAN until the cursor is 0)."""

    def __init__(self, reader: TelemetryReader) -> None:
        self.scans = 0
        original = reader.scan

        def scan(**kwargs: Any) -> Any:
            self.scans += 1
            return original(**kwargs)

        reader.scan = scan  # type: ignore[method-assign]


def test_all_run_ids_share_one_scan(reader: TelemetryReader) -> None:
    """Three run IDs cost one scan of the namespace; entity IDs and words cost none."""
    counter = CountingScan(reader)
    reader.resolve(parse_ids("run_shared pym_1 run_solo hey run_nobody", REGISTRY).queries)
    assert counter.scans == 1
    reader.resolve(parse_ids("pym_1 hey", REGISTRY).queries)
    assert counter.scans == 1


def test_scan_progress_reports_keys_scanned(reader: TelemetryReader) -> None:
    """scan_progress hears the keys scanned so far, ending at the namespace's size."""
    seen: list[int] = []
    reader.resolve(parse_ids("run_solo", REGISTRY).queries, scan_progress=seen.append)
    assert seen and seen[-1] == 4


def test_capped_scan_never_claims_not_found(reader: TelemetryReader) -> None:
    """A scan stopped by SCAN_MAX_KEYS marks its misses error (not searched fully), keeps its
    hits with a note, and leaves the resolution incomplete but not a Redis failure."""
    reader.settings = reader.settings.model_copy(update={"scan_max_keys": 1})
    parsed = parse_ids("run_nobody", REGISTRY)
    resolution = reader.resolve(parsed.queries)
    (result,) = resolution.results
    assert result.status is Status.ERROR
    assert result.detail.startswith("not searched fully: the scan stopped at 1 keys")
    assert "no record among the" in result.detail
    assert (resolution.complete, resolution.capped) == (False, True)
    assert "SCAN_MAX_KEYS" in resolution.error
    # Lookup shows the row rather than calling Redis unavailable.
    assert reader.lookup("run_nobody")[0].status is Status.ERROR


def test_interrupted_scan_marks_misses_error(
    reader: TelemetryReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis failing part-way through the scan: misses are error rows naming the failure, the
    entity rows read before are kept."""
    from telemetry.reader import ScanBatch

    def failing(**kwargs: Any) -> Any:
        yield ScanBatch(scanned=2)
        yield ScanBatch(scanned=2, error="connection lost")

    monkeypatch.setattr(reader, "scan", failing)
    resolution = reader.resolve(parse_ids("pym_1 run_nobody", REGISTRY).queries)
    found, missed = resolution.results
    assert found.status is Status.FOUND
    assert missed.status is Status.ERROR
    assert missed.detail == (
        "not searched fully: the scan stopped after 2 keys: Redis failed: connection lost; "
        "no record among the 2 keys read points to run_nobody"
    )
    assert not resolution.complete
    assert "connection lost" in resolution.error


def test_scan_failing_at_once_for_runs_only_raises(
    reader: TelemetryReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With nothing read, a scan that cannot start is Redis unavailable, as for entity IDs."""

    def down(**kwargs: Any) -> Any:
        raise StoreUnavailableError("Redis is unreachable")
        yield  # pragma: no cover

    monkeypatch.setattr(reader, "scan", down)
    with pytest.raises(StoreUnavailableError):
        reader.resolve(parse_ids("run_solo", REGISTRY).queries)


def test_lookup_of_a_run_lists_its_entities(reader: TelemetryReader) -> None:
    """lookup() of a run ID (the Lookup page) gives the entities pointing to it."""
    results = reader.lookup("  run_shared  ")
    assert [(r.entity_type, r.entity_id, r.run_id) for r in results] == [
        ("invoice", "inv_1", "run_shared"),
        ("payment", "pym_1", "run_shared"),
    ]
