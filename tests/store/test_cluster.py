"""Redis Cluster support, proven on a real local 3-primary cluster.

The same resolve / lookup / summary / CLI scenarios run against both backends
(``backend`` is parametrized: the single ``redis_server`` of conftest, and the
``redis_cluster`` of this module), seeded identically with
``write_records(client, generate_records(N, seed=S, now=...))``; results must
equal the generated ground truth, and equal each other. Cluster-only tests
cover a node killed mid-run, slot migration (MOVED and ASK), the ACL a
read-only cluster user needs, and connection errors.

Real Redis counts time itself, so TTL-inferred times are compared with a
tolerance (``TIME_SLACK``); everything else is compared exactly.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from redis.cluster import RedisCluster

from redis_cluster import LocalCluster
from redis_server import RedisServer, free_port
from telemetry.config import Settings
from telemetry.errors import PartialFetchError, StoreUnavailableError
from telemetry.ids import parse_ids
from telemetry.models import Result, Status
from telemetry.reader import TelemetryReader
from telemetry.store import (
    CLUSTER_PRIVILEGE_RULES,
    LEAST_PRIVILEGE_RULES,
    ClusterStore,
    SingleStore,
    Store,
    connect,
)
from telemetry.store._redis_internals import refresh_slot_map  # on purpose: pinned below
from telemetry.summary import Summarizer, Summary, summarize
from telemetry.writer import SyntheticRecord, generate_records, write_records

pytestmark = [pytest.mark.cluster, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]
RECORDS = 3_000
SEED = 17
TIME_SLACK = 60.0  # seconds: writes and reads of the two backends happen at different times
BACKENDS = ("single", "cluster")


# -- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalCluster]:
    """One real 3-primary cluster for the whole session (kill nodes freely: each test
    starts with every node running, no keys, no extra ACL users)."""
    try:
        cluster = LocalCluster()
    except (RuntimeError, OSError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"real Redis Cluster needed but unavailable in CI: {exc}", pytrace=False)
        pytest.skip(f"real Redis Cluster unavailable: {exc}")
    try:
        yield cluster
    finally:
        cluster.close()


@dataclass
class Backend:
    """One way to run the scenarios: a single redis-server, or the cluster."""

    name: str
    server: Any  # RedisServer or LocalCluster

    @property
    def cluster(self) -> bool:
        return self.name == "cluster"

    @property
    def url(self) -> str:
        return self.server.url

    def client(self) -> Any:
        return self.server.client()

    def settings(self, **overrides: Any) -> Settings:
        overrides.setdefault("redis_url", self.url)
        return Settings.load(redis_cluster=self.cluster, **overrides)

    def reader(self, **overrides: Any) -> TelemetryReader:
        settings = self.settings(**overrides)
        return TelemetryReader(connect(settings), settings)

    def seed(
        self, count: int = RECORDS, seed: int = SEED, now: float | None = None
    ) -> list[SyntheticRecord]:
        """Write ``count`` generated records; ``now`` (default: now) fixes their times."""
        records = list(generate_records(count, seed=seed, now=now or time.time()))
        client = self.client()
        try:
            write_records(client, records)
        finally:
            client.close()
        return records

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "REDIS_CLUSTER")}
        env["REDIS_URL"] = self.url
        if self.cluster:
            env["REDIS_CLUSTER"] = "1"
        return env


def _reset_single(server: RedisServer) -> None:
    if server.paused:
        server.resume()
    if not server.running:
        server.start()
    server.reset()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each backend in turn, empty, with zeroed statistics."""
    if request.param == "cluster":
        cluster: LocalCluster = request.getfixturevalue("redis_cluster")
        cluster.reset()
        return Backend("cluster", cluster)
    server: RedisServer = request.getfixturevalue("redis_server")
    _reset_single(server)
    return Backend("single", server)


@pytest.fixture
def cluster(redis_cluster: LocalCluster) -> Iterator[LocalCluster]:
    """The session cluster, reset; every node running again afterwards."""
    redis_cluster.reset()
    yield redis_cluster
    redis_cluster.start()


@pytest.fixture
def both(redis_cluster: LocalCluster, redis_server: RedisServer) -> tuple[Backend, Backend]:
    """Both backends, empty: for scenarios that compare their outputs directly."""
    redis_cluster.reset()
    _reset_single(redis_server)
    return Backend("single", redis_server), Backend("cluster", redis_cluster)


# -- helpers ---------------------------------------------------------------------------


def all_ids_text(records: list[SyntheticRecord]) -> str:
    """Every record's ID in a few paste shapes, plus IDs that exist nowhere."""
    lines = []
    for n, record in enumerate(records):
        shape = n % 4
        if shape == 0:
            lines.append(record.entity_id)
        elif shape == 1:
            lines.append(f'"{record.entity_id}",')
        elif shape == 2:
            lines.append(f"{record.entity_type}:{record.entity_id}")
        else:
            lines.append(f"telemetry:{record.entity_type}:{record.entity_id}")
    lines += ["pym_doesnotexist00000000000", "ntf_nowhere000000000000000"]
    return "\n".join(lines)


def resolve_all(reader: TelemetryReader, text: str, **kwargs: Any) -> Any:
    parsed = parse_ids(text, reader.registry, namespace=reader.namespace, max_ids=200_000)
    return reader.resolve(parsed.queries, **kwargs)


def row_key(result: Result) -> tuple[Any, ...]:
    """Everything about a row except TTL-derived times."""
    data = result.model_dump()
    for name in ("processed_at", "expires_at"):
        data.pop(name)
    return tuple(sorted((k, repr(v)) for k, v in data.items()))


def assert_same_rows(a: list[Result], b: list[Result]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert row_key(x) == row_key(y)
        for name in ("processed_at", "expires_at"):
            tx, ty = getattr(x, name), getattr(y, name)
            assert (tx is None) == (ty is None), (name, x, y)
            if tx is not None and x.processed_at_inferred:
                assert abs(tx.timestamp() - ty.timestamp()) < TIME_SLACK, (name, x, y)
            elif tx is not None and name == "processed_at":
                assert tx == ty  # a producer timestamp is exact


def check_against_truth(results: list[Result], records: list[SyntheticRecord]) -> None:
    """One row per record, in input order, then the two extra queries."""
    assert len(results) == len(records) + 2
    for result, record in zip(results, records, strict=False):
        assert result.entity_type == record.entity_type
        assert result.entity_id == record.entity_id
        if record.valid:
            assert result.status is Status.FOUND, result
            assert result.run_id == record.run_id
            assert result.organization_id == record.organization_id
            assert result.processed_at is not None
            assert abs(result.processed_at.timestamp() - record.processed_at) < TIME_SLACK
        else:
            assert result.status is Status.INVALID_RECORD, result
    tail = [r.status for r in results[len(records) :]]
    assert tail == [Status.NOT_FOUND, Status.NOT_FOUND]


def expected_groups(records: list[SyntheticRecord]) -> Counter[tuple[str, str]]:
    return Counter((r.entity_type, r.organization_id or "") for r in records if r.valid)


def group_counts(summary: Summary) -> Counter[tuple[str, str]]:
    return Counter({key: int(count) for key, (count, _) in summary.groups.items()})


def summary_json_without_times(summary: Summary) -> dict[str, Any]:
    data = summary.to_json()
    data.pop("window_start")
    for group in data["groups"]:
        group.pop("latest_processed_at")
    return data


def run_cli(backend: Backend, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "telemetry", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=backend.env(),
        timeout=120,
        check=False,
    )


def keys_by_node(cluster: LocalCluster, records: list[SyntheticRecord]) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for record in records:
        port = cluster.node_for_key(record.key).port
        out.setdefault(port, set()).add(record.key)
    return out


# -- connection and description ----------------------------------------------------------


def test_cluster_flag_gives_a_cluster_store(cluster: LocalCluster) -> None:
    """REDIS_CLUSTER=1: connect() builds a RedisCluster and the reader a ClusterStore."""
    settings = Settings.load(redis_url=cluster.url, redis_cluster=True)
    client = connect(settings)
    assert isinstance(client, RedisCluster)
    reader = TelemetryReader(client, settings)
    assert isinstance(reader.store, ClusterStore)
    assert reader.store.describe() == f"cluster of 3 primaries at {cluster.url}"
    assert reader.store.ping() > 0


def test_redis_cluster_env_var_is_read(
    cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", cluster.url)
    monkeypatch.setenv("REDIS_CLUSTER", "1")
    settings = Settings.load()
    assert settings.redis_cluster
    assert isinstance(Store.for_client(connect(settings), settings), ClusterStore)


def test_single_node_path_is_unchanged(redis_server: RedisServer) -> None:
    _reset_single(redis_server)
    settings = Settings.load(redis_url=redis_server.url)
    store = Store.for_client(connect(settings), settings)
    assert type(store) is SingleStore


def test_describe_redacts_the_password(cluster: LocalCluster) -> None:
    url = cluster.add_acl_user(
        "reader", "s3cret-pw", CLUSTER_PRIVILEGE_RULES.format(namespace="telemetry")
    )
    settings = Settings.load(redis_url=url, redis_cluster=True)
    text = Store.for_client(connect(settings), settings).describe()
    assert "s3cret-pw" not in text
    assert text.startswith("cluster of 3 primaries at redis://reader:***@127.0.0.1:")


def test_unreachable_cluster_is_a_clear_error() -> None:
    port = free_port()
    settings = Settings.load(redis_url=f"redis://user:pw-xyz@127.0.0.1:{port}", redis_cluster=True)
    with pytest.raises(StoreUnavailableError) as info:
        connect(settings)
    text = str(info.value)
    assert "Cannot reach the Redis Cluster" in text
    assert "pw-xyz" not in text and "***" in text


def test_cluster_flag_on_a_single_redis_says_so(redis_server: RedisServer) -> None:
    _reset_single(redis_server)
    settings = Settings.load(redis_url=redis_server.url, redis_cluster=True)
    with pytest.raises(StoreUnavailableError, match="unset REDIS_CLUSTER"):
        connect(settings)


def test_cli_unreachable_cluster_exits_2_without_traceback(cluster: LocalCluster) -> None:
    backend = Backend("cluster", cluster)
    env_url = f"redis://127.0.0.1:{free_port()}"
    proc = subprocess.run(
        [sys.executable, "-m", "telemetry", "summary", "--redis-url", env_url],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=backend.env(),
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: Cannot reach the Redis Cluster")
    assert "Traceback" not in proc.stderr


# -- the same scenarios on both backends ----------------------------------------------------


def test_resolve_matches_ground_truth(backend: Backend) -> None:
    records = backend.seed()
    reader = backend.reader()
    resolution = resolve_all(reader, all_ids_text(records))
    assert resolution.complete, resolution.error
    check_against_truth(resolution.results, records)


def test_lookup_one_id(backend: Backend) -> None:
    records = backend.seed(200)
    reader = backend.reader()
    for record in [r for r in records if r.valid][:20]:
        rows = reader.lookup(record.entity_id)
        assert [(r.status, r.run_id, r.entity_type) for r in rows] == [
            (Status.FOUND, record.run_id, record.entity_type)
        ]
    assert [r.status for r in reader.lookup("pym_missing000000000000000")] == [Status.NOT_FOUND]


def test_summary_counts_and_complete_flag(backend: Backend) -> None:
    records = backend.seed()
    summary = summarize(backend.reader(), since=None)
    assert summary.complete and not summary.capped and not summary.error
    assert summary.scanned_keys == len(records)
    assert summary.records == sum(r.valid for r in records)
    assert summary.invalid_records == sum(not r.valid for r in records)
    assert group_counts(summary) == expected_groups(records)


def test_summary_of_one_type(backend: Backend) -> None:
    records = backend.seed()
    summary = summarize(backend.reader(), since=None, types=["invoice"])
    assert summary.complete
    invoices = [r for r in records if r.entity_type == "invoice"]
    assert summary.scanned_keys == len(invoices)
    assert summary.records == sum(r.valid for r in invoices)


@pytest.mark.parametrize("cap", [1, 999, 1_000, 2_999])
def test_summary_cap_is_exact_and_incomplete(backend: Backend, cap: int) -> None:
    backend.seed()
    summary = summarize(backend.reader(), since=None, max_keys=cap)
    assert summary.scanned_keys == cap
    assert summary.capped and not summary.complete and not summary.error


def test_summary_cap_at_exactly_the_key_count(backend: Backend) -> None:
    """A cap equal to the number of keys: every key read; complete only if no cursor was
    left open (as on one node, a cap reached with cursors still open is a cap)."""
    backend.seed()
    summary = summarize(backend.reader(), since=None, max_keys=RECORDS)
    assert summary.scanned_keys == RECORDS
    assert summary.records + summary.invalid_records == RECORDS


def test_empty_namespace(backend: Backend) -> None:
    summary = summarize(backend.reader(), since=None)
    assert summary.complete and summary.scanned_keys == 0 and not summary.groups
    resolution = resolve_all(backend.reader(), "pym_x\ninv_y")
    assert [r.status for r in resolution.results] == [Status.NOT_FOUND] * 2


def test_cli_resolve_and_summary(backend: Backend, tmp_path: Path) -> None:
    records = backend.seed(500)
    ids = tmp_path / "ids.txt"
    ids.write_text(all_ids_text(records))
    proc = run_cli(backend, "resolve", str(ids))
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert len(rows) == len(records) + 2
    statuses = Counter(row["status"] for row in rows)
    assert statuses["found"] == sum(r.valid for r in records)
    assert statuses["invalid_record"] == sum(not r.valid for r in records)
    proc = run_cli(backend, "summary", "--since", "all", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = orjson.loads(proc.stdout)
    assert data["complete"] is True
    assert data["scanned_keys"] == len(records)


def test_backends_give_identical_results(both: tuple[Backend, Backend]) -> None:
    """Seeded identically, the two backends resolve and summarize identically."""
    outputs = []
    now = time.time()
    for backend in both:
        records = backend.seed(now=now)
        reader = backend.reader()
        resolution = resolve_all(reader, all_ids_text(records), chunk_keys=700)
        assert resolution.complete
        summaries = [
            summary_json_without_times(summarize(reader, since=None)),
            summary_json_without_times(summarize(reader, since=None, types=["payment", "org"])),
        ]
        outputs.append((resolution.results, summaries))
    (single_rows, single_summaries), (cluster_rows, cluster_summaries) = outputs
    assert_same_rows(single_rows, cluster_rows)
    assert single_summaries == cluster_summaries


def test_cli_outputs_identical(both: tuple[Backend, Backend], tmp_path: Path) -> None:
    results = []
    now = time.time()
    for backend in both:
        records = backend.seed(800, now=now)
        ids = tmp_path / "ids.txt"
        ids.write_text(all_ids_text(records))
        resolve = run_cli(backend, "resolve", str(ids), "--format", "json")
        summary = run_cli(backend, "summary", "--since", "all")
        assert resolve.returncode == 0 and summary.returncode == 0, (resolve.stderr, summary.stderr)
        rows = orjson.loads(resolve.stdout)
        for row in rows:  # TTL-inferred times differ by the gap between the two runs
            row.pop("processed_at", None)
            row.pop("expires_at", None)
        groups = [line.rsplit(",", 1)[0] for line in summary.stdout.splitlines()]
        results.append((rows, groups))
    assert results[0] == results[1]


# -- command usage on the cluster ---------------------------------------------------------


def test_cluster_reads_use_only_read_commands(cluster: LocalCluster) -> None:
    backend = Backend("cluster", cluster)
    records = backend.seed()
    reader = backend.reader()
    cluster.reset_stats()
    resolve_all(reader, all_ids_text(records))
    summarize(reader, since=None)
    stats = cluster.commandstats()
    used = {name for name in stats if name not in ("info", "config|resetstat")}
    allowed = {"mget", "pttl", "type", "scan", "ping", "cluster|slots", "command", "asking"}
    assert used <= allowed | {"client|setinfo", "hello"}, used
    assert stats.get("get", 0) == 0 and stats.get("keys", 0) == 0
    # Every resolved key costs exactly one PTTL, every scanned key one more.
    assert stats["pttl"] >= len(records) * 2


def test_one_pipeline_per_primary_per_chunk(
    cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fetch sends one request per primary per chunk, all before reading any reply."""
    backend = Backend("cluster", cluster)
    records = backend.seed(1_000)
    reader = backend.reader()
    store = reader.store
    assert isinstance(store, ClusterStore)
    sent: list[str] = []
    import telemetry.store.cluster as module

    original = module._Request.send

    def spy(self: Any) -> None:
        sent.append(self.node.name)
        original(self)

    monkeypatch.setattr(module._Request, "send", spy)
    keys = [r.key for r in records]
    values, pttls = store.fetch(keys)
    assert sorted(sent) == sorted(node.name for node in store.primaries)
    assert len(values) == len(pttls) == len(keys)
    by_key = {r.key: r for r in records}
    for key, value, pttl in zip(keys, values, pttls, strict=True):
        record = by_key[key]
        if record.kind == "string":
            assert value == record.value
        else:
            assert value is None
        assert pttl > 0


# -- a node down ----------------------------------------------------------------------------


def test_node_killed_mid_resolve_fails_only_its_rows(cluster: LocalCluster) -> None:
    backend = Backend("cluster", cluster)
    records = backend.seed()
    reader = backend.reader()
    victim = next(node for node in cluster.nodes if node.port != cluster.nodes[0].port)
    victim_keys = keys_by_node(cluster, records)[victim.port]
    killed_at: list[int] = []

    def progress(done: int, total: int) -> None:
        if not killed_at:
            cluster.kill(victim)
            killed_at.append(done)

    text = all_ids_text(records)
    resolution = resolve_all(reader, text, chunk_keys=500, progress=progress)
    assert not resolution.complete
    assert f"node 127.0.0.1:{victim.port}" in resolution.error
    # The keys of the first chunk were read in full, before the kill.
    parsed = parse_ids(text, reader.registry, namespace=reader.namespace)
    planned = [key for q in parsed.queries for _, key in reader.candidate_keys(q)]
    read_before = set(planned[: killed_at[0]])
    errors = 0
    for result, record in zip(resolution.results, records, strict=False):
        if record.key in victim_keys and record.key not in read_before:
            assert result.status is Status.ERROR, result
            assert f"127.0.0.1:{victim.port}" in result.detail
            errors += 1
        elif record.valid:
            assert result.status is Status.FOUND, result
            assert result.run_id == record.run_id
        else:
            assert result.status is Status.INVALID_RECORD
    assert errors > 0
    assert sum(r.status is Status.FOUND for r in resolution.results) > len(records) // 2


def test_node_down_before_resolve_keeps_the_rest(cluster: LocalCluster) -> None:
    """The first chunk too: a partial failure is never a whole-lookup failure."""
    backend = Backend("cluster", cluster)
    records = backend.seed(600)
    reader = backend.reader()
    victim = cluster.nodes[2]
    victim_keys = keys_by_node(cluster, records)[victim.port]
    cluster.kill(victim)
    started = time.monotonic()
    resolution = resolve_all(reader, all_ids_text(records), chunk_keys=100)
    assert time.monotonic() - started < 10  # the dead node is not retried chunk after chunk
    assert not resolution.complete
    for result, record in zip(resolution.results, records, strict=False):
        expected = (
            Status.ERROR
            if record.key in victim_keys
            else (Status.FOUND if record.valid else Status.INVALID_RECORD)
        )
        assert result.status is expected, result
    assert reader.store.describe().endswith(f"(1 unreachable: 127.0.0.1:{victim.port})")
    # A lookup that lands only on the dead node fails like single-node Redis down.
    victim_record = next(r for r in records if r.key in victim_keys and r.valid)
    with pytest.raises(StoreUnavailableError):
        reader.lookup(f"{victim_record.entity_type}:{victim_record.entity_id}")
    # Back up: ping notices at once; nothing was lost from the other nodes.
    cluster.start(victim)
    assert reader.store.ping() > 0
    assert reader.store.unreachable_nodes() == []


def test_fetch_partial_error_carries_the_rest(cluster: LocalCluster) -> None:
    backend = Backend("cluster", cluster)
    records = backend.seed(300)
    settings = backend.settings()
    store = Store.for_client(connect(settings), settings)
    victim = cluster.nodes[1]
    victim_keys = keys_by_node(cluster, records)[victim.port]
    cluster.kill(victim)
    keys = [r.key for r in records]
    with pytest.raises(PartialFetchError) as info:
        store.fetch(keys)
    exc = info.value
    assert set(exc.failed) == victim_keys
    assert len(exc.values) == len(exc.pttls) == len(keys)
    for record, value, pttl in zip(records, exc.values, exc.pttls, strict=True):
        if record.key in victim_keys:
            assert (value, pttl) == (None, -2)
        else:
            assert pttl > 0
    with pytest.raises(StoreUnavailableError) as only:
        store.fetch(sorted(victim_keys))
    assert not isinstance(only.value, PartialFetchError)


def test_node_killed_mid_summary_is_partial(cluster: LocalCluster) -> None:
    backend = Backend("cluster", cluster)
    records = backend.seed()
    reader = backend.reader()
    victim = cluster.nodes[1]
    by_node = keys_by_node(cluster, records)
    valid_elsewhere = sum(1 for r in records if r.valid and r.key not in by_node[victim.port])
    summarizer = Summarizer(now=reader.clock(), ttl_seconds=reader.ttl_seconds)
    for n, batch in enumerate(reader.scan(batch_size=100)):
        summarizer.add(batch)
        if n == 0:
            cluster.kill(victim)
    summary = summarizer.summary
    assert not summary.complete
    assert f"node 127.0.0.1:{victim.port}" in summary.error
    assert valid_elsewhere <= summary.records < sum(r.valid for r in records)
    assert summary.scanned_keys < len(records)


def test_cli_summary_with_a_node_down_prints_partial_results(cluster: LocalCluster) -> None:
    backend = Backend("cluster", cluster)
    records = backend.seed(600)
    victim = cluster.nodes[2]
    elsewhere = len(records) - len(keys_by_node(cluster, records)[victim.port])
    cluster.kill(victim)
    proc = run_cli(backend, "summary", "--since", "all", "--format", "json")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"node 127.0.0.1:{victim.port}" in proc.stderr
    data = orjson.loads(proc.stdout)
    assert data["complete"] is False
    assert data["scanned_keys"] == elsewhere


def test_cli_resolve_with_a_node_down(cluster: LocalCluster, tmp_path: Path) -> None:
    backend = Backend("cluster", cluster)
    records = backend.seed(400)
    victim = cluster.nodes[1]
    victim_keys = keys_by_node(cluster, records)[victim.port]
    cluster.kill(victim)
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(f"{r.entity_type}:{r.entity_id}" for r in records))
    proc = run_cli(backend, "resolve", str(ids))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert Counter(row["status"] for row in rows)["error"] == len(victim_keys)


def test_every_node_down_is_redis_down(cluster: LocalCluster) -> None:
    backend = Backend("cluster", cluster)
    backend.seed(100)
    reader = backend.reader()
    for node in cluster.nodes:
        cluster.kill(node)
    with pytest.raises(StoreUnavailableError):
        reader.store.ping()
    with pytest.raises(StoreUnavailableError):
        resolve_all(reader, "pym_a\ninv_b\nsub_c")
    with pytest.raises(StoreUnavailableError):
        summarize(reader, since=None)


# -- slot migration --------------------------------------------------------------------------


def _node_id(node: RedisServer) -> str:
    with node.client(decode_responses=True) as client:
        return str(client.execute_command("CLUSTER", "MYID"))


def test_reads_follow_a_slot_migration(cluster: LocalCluster) -> None:
    """Mid-migration keys answer ASK (retried with ASKING on the target); after the move
    the old owner answers MOVED (slot map re-read). No row is lost either way."""
    backend = Backend("cluster", cluster)
    records = backend.seed(300)
    reader = backend.reader()  # its slot map is read now, before the move
    stale = cluster.client()  # likewise
    record = next(r for r in records if r.valid)
    source = cluster.node_for_key(record.key)
    target = next(node for node in cluster.nodes if node is not source)
    slot = redis.crc.key_slot(record.key.encode())
    source_id, target_id = _node_id(source), _node_id(target)
    with source.client() as src, target.client() as dst:
        dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
        src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
        keys = src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100)
        src.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)
        # ASK: the key now lives on the target, the slot still on the source.
        cluster.reset_stats()
        rows = reader.lookup(f"{record.entity_type}:{record.entity_id}")
        assert [(r.status, r.run_id) for r in rows] == [(Status.FOUND, record.run_id)]
        assert target.commandstats().get("asking", 0) >= 1
        summary = summarize(reader, since=None)
        assert summary.complete and summary.scanned_keys == len(records)
        for node in cluster.nodes:
            with node.client() as client:
                client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
    cluster.wait_ok()
    # What the store relies on past redis-py's public API (_redis_internals): the slot map
    # is not re-read on its own; refresh_slot_map re-reads it.
    assert stale.get_node_from_key(record.key).port == source.port
    refresh_slot_map(stale)
    assert stale.get_node_from_key(record.key).port == target.port
    stale.close()
    # MOVED: the reader's slot map still names the source, until it re-reads it.
    cluster.reset_stats()
    resolution = resolve_all(reader, all_ids_text(records))
    assert resolution.complete, resolution.error
    assert cluster.commandstats().get("cluster|slots", 0) >= 1
    check_against_truth(resolution.results, records)
    assert cluster.node_for_key(record.key) is target


# -- least privilege ---------------------------------------------------------------------------


def test_least_privilege_cluster_user(cluster: LocalCluster) -> None:
    """The single-node read-only rules plus +cluster|slots +command +asking are enough."""
    backend = Backend("cluster", cluster)
    records = backend.seed(500)
    rules = CLUSTER_PRIVILEGE_RULES.format(namespace="telemetry")
    assert rules == (
        "-@all +get +mget +scan +pttl +ttl +type +ping +cluster|slots +command +asking ~telemetry:*"
    )
    url = cluster.add_acl_user("reader", "pw", rules)
    reader = backend.reader(redis_url=url)
    resolution = resolve_all(reader, all_ids_text(records))
    assert resolution.complete, resolution.error
    check_against_truth(resolution.results, records)
    summary = summarize(reader, since=None)
    assert summary.complete and summary.scanned_keys == len(records)
    assert reader.store.ping() > 0


@pytest.mark.parametrize(
    ("rules", "needs"),
    [
        (LEAST_PRIVILEGE_RULES.format(namespace="telemetry"), "+cluster|slots"),
        (
            LEAST_PRIVILEGE_RULES.format(namespace="telemetry").replace(" ~", " +cluster|slots ~"),
            "+command",
        ),
    ],
)
def test_missing_cluster_rights_are_named(cluster: LocalCluster, rules: str, needs: str) -> None:
    url = cluster.add_acl_user("reader", "pw", rules)
    settings = Settings.load(redis_url=url, redis_cluster=True)
    with pytest.raises(StoreUnavailableError) as info:
        connect(settings)
    assert needs in str(info.value)
    assert "pw@" not in str(info.value)


def test_scan_reads_odd_keys_itself(cluster: LocalCluster) -> None:
    """Keys MGET cannot read (hashes, lists) are inspected by the scan before it hands a
    batch over, so a node dying while the caller decodes cannot break the decoding."""
    client = cluster.client()
    for n in range(300):
        client.hset(f"telemetry:payment:pym_hash{n:04d}", "runId", "run_x")
    client.close()
    settings = Settings.load(redis_url=cluster.url, redis_cluster=True)
    store = Store.for_client(connect(settings), settings)
    steps = store.scan_fetch("telemetry:*", 50, 10_000)
    keys, values, pttls, last, _, error = next(steps)
    assert keys and not last and not error
    assert values == [None] * len(keys) and all(p == -1 for p in pttls)
    for node in cluster.nodes:
        cluster.kill(node)
    answers = store.inspect([k.decode() for k in keys])
    assert [kind for kind, _, _ in answers] == ["hash"] * len(keys)
    steps.close()


def test_summary_counts_non_string_keys_as_invalid(backend: Backend) -> None:
    client = backend.client()
    client.hset("telemetry:payment:pym_hash", "runId", "run_x")
    client.rpush("telemetry:invoice:inv_list", "run_y")
    client.set("telemetry:invoice:inv_ok", b'{"runId": "run_ok"}', ex=3600)
    client.close()
    summary = summarize(backend.reader(), since=None)
    assert (summary.records, summary.invalid_records, summary.complete) == (1, 2, True)
    rows = resolve_all(backend.reader(), "pym_hash\ninv_list\ninv_ok").results
    assert [r.status for r in rows] == [
        Status.INVALID_RECORD,
        Status.INVALID_RECORD,
        Status.FOUND,
    ]


def test_frozen_node_times_out_once_and_only_its_rows_fail(cluster: LocalCluster) -> None:
    """A node that accepts connections but never answers (SIGSTOP) costs one socket
    timeout per lookup, not one per chunk; the other nodes' rows are read."""
    backend = Backend("cluster", cluster)
    records = backend.seed(600)
    reader = backend.reader(redis_socket_timeout=0.5)
    victim = cluster.nodes[1]
    victim_keys = keys_by_node(cluster, records)[victim.port]
    victim.pause()
    try:
        started = time.monotonic()
        resolution = resolve_all(reader, all_ids_text(records), chunk_keys=100)
        elapsed = time.monotonic() - started
    finally:
        victim.resume()
    assert elapsed < 5, elapsed
    assert "did not answer in time" in resolution.error
    for result, record in zip(resolution.results, records, strict=False):
        if record.key in victim_keys:
            assert result.status is Status.ERROR
        else:
            assert result.status in (Status.FOUND, Status.INVALID_RECORD)


def test_cluster_down_state_is_reported(cluster: LocalCluster) -> None:
    """Once the others mark a dead primary FAIL (after cluster-node-timeout), a default
    cluster refuses every read (CLUSTERDOWN): every row is an error, the summary incomplete,
    and the message says why and what to do."""
    backend = Backend("cluster", cluster)
    records = backend.seed(300)
    reader = backend.reader()
    admins = [node.client() for node in cluster.nodes]
    try:
        for admin in admins:
            admin.config_set("cluster-node-timeout", 300)
        cluster.kill(2)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            info = admins[0].execute_command("CLUSTER", "INFO").decode()
            if "cluster_state:fail" in info:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the cluster never noticed the dead primary")
        with pytest.raises(StoreUnavailableError):
            resolve_all(reader, all_ids_text(records))
        reader.store.forget_failures()
        summary = summarize(reader, since=None)
        assert not summary.complete and summary.records == 0
        assert "The Redis Cluster is down" in summary.error
        assert "cluster-allow-reads-when-down" in summary.error
    finally:
        cluster.start(2)
        for node in cluster.nodes:
            with node.client() as admin:
                admin.config_set("cluster-node-timeout", 60_000)
        for admin in admins:
            admin.close()
        cluster.wait_ok()


def test_tls_cluster(tmp_path: Path) -> None:
    """rediss:// reaches every node over TLS (the slot map lists the TLS ports); the CA
    given in the URL is used for each node; a client that does not trust it gets a clear
    error."""
    try:
        tls_cluster = LocalCluster(tls=True)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"TLS cluster needed but unavailable in CI: {exc}", pytrace=False)
        pytest.skip(f"TLS cluster unavailable: {exc}")
    try:
        backend = Backend("cluster", tls_cluster)
        records = backend.seed(500)
        reader = backend.reader(redis_url=tls_cluster.tls_url)
        store = reader.store
        assert isinstance(store, ClusterStore)
        assert {node.port for node in store.primaries} == set(tls_cluster.tls_ports)
        resolution = resolve_all(reader, all_ids_text(records))
        assert resolution.complete, resolution.error
        check_against_truth(resolution.results, records)
        summary = summarize(reader, since=None)
        assert summary.complete and summary.scanned_keys == len(records)
        untrusted = Settings.load(
            redis_url=f"rediss://127.0.0.1:{tls_cluster.tls_ports[0]}", redis_cluster=True
        )
        with pytest.raises(StoreUnavailableError, match="Cannot reach the Redis Cluster"):
            connect(untrusted)
    finally:
        tls_cluster.close()


def test_failover_to_a_replica_is_followed() -> None:
    """A primary dies and its replica takes over: a reader built before the failover
    finds every key (its slot map is re-read after the connection error), and the next
    summary scans the new primary."""
    try:
        # 3 s, not 1 s: on a loaded 2-core machine a 1 s timeout lets a primary be
        # voted out before the test kills one, and the roles shift under it.
        failover = LocalCluster(replicas=1, node_timeout_ms=3_000)
    except (RuntimeError, OSError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"real Redis Cluster needed but unavailable in CI: {exc}", pytrace=False)
        pytest.skip(f"real Redis Cluster unavailable: {exc}")
    try:
        backend = Backend("cluster", failover)
        records = backend.seed(600)
        for node in failover.nodes:
            with node.client() as admin:
                # Each node's own ROLE, not one node's (possibly stale) view of the others.
                role = admin.execute_command("ROLE")[0]
                if role in (b"master", "master"):
                    assert admin.execute_command("WAIT", 1, 5_000) == 1  # replicated
        reader = backend.reader()
        before = {node.port for node in failover.primary_nodes()}
        victim = next(n for n in failover.primary_nodes() if n is not failover.nodes[0])
        failover.kill(victim)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.2)
            with contextlib.suppress(redis.RedisError, RuntimeError):
                now = {node.port for node in failover.primary_nodes()}
                if len(now) == 3 and now != before:
                    break
        else:
            pytest.fail("no replica took over")
        failover.wait_state_ok()
        resolution = resolve_all(reader, all_ids_text(records))
        assert resolution.complete, resolution.error
        check_against_truth(resolution.results, records)
        summary = summarize(reader, since=None)
        assert summary.complete and summary.scanned_keys == len(records)
    finally:
        failover.close()


def test_a_database_number_is_refused(cluster: LocalCluster) -> None:
    settings = Settings.load(redis_url=cluster.url + "/2", redis_cluster=True)
    with pytest.raises(StoreUnavailableError, match="only has database 0"):
        connect(settings)
    ok = Settings.load(redis_url=cluster.url + "/0", redis_cluster=True)
    assert isinstance(Store.for_client(connect(ok), ok), ClusterStore)


# -- the app (AppTest) ---------------------------------------------------------------------


@pytest.fixture
def app_backend(backend: Backend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Backend:
    """The app configured as in production for this backend (REDIS_URL, REDIS_CLUSTER)."""
    from apptest_support import use_redis

    use_redis(monkeypatch, tmp_path, backend.url)
    if backend.cluster:
        monkeypatch.setenv("REDIS_CLUSTER", "1")
    return backend


def test_app_lookup_and_sidebar(app_backend: Backend) -> None:
    from apptest_support import make_app, no_exception, page_text

    records = app_backend.seed(300)
    record = next(r for r in records if r.valid and r.organization_id)
    at = make_app(query={"id": record.entity_id})
    no_exception(at)
    text = page_text(at)
    assert record.run_id in text
    kind = "Redis Cluster" if app_backend.cluster else "Redis"
    assert f"{kind} connected" in text


def test_app_summary_counts(app_backend: Backend) -> None:
    from apptest_support import make_app, metrics, no_exception

    records = app_backend.seed(400)
    at = make_app(page="pages/summary.py")
    no_exception(at)
    at.segmented_control(key="summary_window").set_value("all").run()
    no_exception(at)
    shown = metrics(at)
    assert shown["Records"] == f"{sum(r.valid for r in records):,}"
    assert shown["Invalid records"] == f"{sum(not r.valid for r in records):,}"
    assert shown["Keys scanned"] == f"{len(records):,}"


def test_scan_survives_keys_that_are_not_utf8(backend: Backend) -> None:
    client = backend.client()
    client.hset(b"telemetry:payment:pym_\xff\xfe", "runId", "run_x")
    client.set(b"telemetry:invoice:inv_\xff", b'{"runId": "run_y"}', ex=3600)
    client.close()
    summary = summarize(backend.reader(), since=None)
    assert summary.complete and summary.scanned_keys == 2 and summary.records == 1
