"""Cluster case of issue 5: the summary on a 3-primary Redis Cluster vs the raw floor there.

The cluster (``tests/redis_cluster.LocalCluster``: three primaries, no
replicas, child processes on loopback) is started and seeded by the case
itself, apart from the single server the other cases share. The floor is
what a client that knows nothing but redis-py does: for each primary in turn,
``SCAN COUNT 1000``, then one pipeline of an MGET per slot group (a node
refuses a multi-key command across slots) and a PTTL per key, ``orjson.loads``
of the values, results discarded. The subject is
``summarize`` through ``REDIS_CLUSTER=1`` (``ClusterStore``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import orjson
from redis.crc import key_slot

from .cases import CHUNK, WINDOW
from .harness import TESTS, Context, Row, Skip, _record_resp, interleave, median, register

# Keys on the cluster: the full size's 1,000,000 would double the runner's time.
MAX_CLUSTER_KEYS = 200_000
TARGET = 1.2  # the summary's target, on one server and on a cluster alike


def _local_cluster() -> Any:
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    try:
        from redis_cluster import LocalCluster
    except ImportError as exc:
        raise Skip(f"cluster harness not available ({exc})") from None
    try:
        return LocalCluster()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        raise Skip(f"cannot start a local Redis Cluster: {str(exc)[:200]}") from None


def _slot_owners(cluster: Any) -> dict[int, int]:
    """Slot → port of the primary serving it."""
    admin = cluster.nodes[0].client()
    owners: dict[int, int] = {}
    for start, end, primary, *_ in admin.execute_command("CLUSTER", "SLOTS"):
        for slot in range(int(start), int(end) + 1):
            owners[slot] = int(primary[1])
    return owners


def _seed_cluster(cluster: Any, keys: int) -> tuple[float, str]:
    """Generated records, each sent to its slot's primary through ``redis-cli --pipe``."""
    import time

    from telemetry.writer import generate_records

    cli = shutil.which("redis-cli") or cluster.cli
    owners = _slot_owners(cluster)
    ports = sorted(set(owners.values()))
    start = time.perf_counter()
    procs = {
        port: subprocess.Popen(
            [cli, "-h", "127.0.0.1", "-p", str(port), "--pipe"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for port in ports
    }
    buffers: dict[int, list[bytes]] = {port: [] for port in ports}
    try:
        for record in generate_records(keys, seed=5):
            port = owners[key_slot(record.key.encode())]
            buffer = buffers[port]
            buffer.append(_record_resp(record))
            if len(buffer) >= 2_000:
                procs[port].stdin.write(b"".join(buffer))  # type: ignore[union-attr]
                buffer.clear()
        for port, buffer in buffers.items():
            procs[port].stdin.write(b"".join(buffer))  # type: ignore[union-attr]
            procs[port].stdin.close()  # type: ignore[union-attr]
        for port, proc in procs.items():
            output = proc.stdout.read().decode(errors="replace")  # type: ignore[union-attr]
            if proc.wait() != 0 or "errors: 0," not in output:
                raise RuntimeError(f"redis-cli --pipe to :{port} failed:\n{output[-2000:]}")
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return time.perf_counter() - start, f"redis-cli --pipe per primary ({len(ports)})"


def node_scan_floor(client: Any, pattern: str, count: int = CHUNK) -> int:
    """``cases.scan_floor`` for one cluster node: a multi-key command must stay in one
    slot, so the batch's MGET is one MGET per slot group (pipelined with the PTTLs)."""
    loads = orjson.loads
    cursor: Any = 0
    seen = 0
    while True:
        cursor, keys = client.scan(cursor, match=pattern, count=count)
        if keys:
            seen += len(keys)
            groups: dict[int, list[bytes]] = {}
            for key in keys:
                groups.setdefault(key_slot(key), []).append(key)
            pipe = client.pipeline(transaction=False)
            for group in groups.values():
                pipe.mget(group)
            for key in keys:
                pipe.pttl(key)
            out = pipe.execute()
            for values in out[: len(groups)]:
                for raw in values:
                    if raw is not None:
                        try:
                            loads(raw)
                        except orjson.JSONDecodeError:
                            continue
        if int(cursor) == 0:
            return seen


def _primaries(cluster: Any) -> Iterator[Any]:
    for node in cluster.primary_nodes():
        yield node.client(socket_timeout=60.0)


@register(
    "summary-cluster",
    "summary on a 3-primary Redis Cluster vs raw SCAN+MGET+PTTL per primary",
    heavy=True,
)
def summary_cluster(ctx: Context) -> Row:
    from telemetry.keys import scan_pattern
    from telemetry.reader import TelemetryReader
    from telemetry.store import connect
    from telemetry.summary import summarize

    keys = min(ctx.size.keys, MAX_CLUSTER_KEYS)
    cluster = _local_cluster()
    try:
        seconds, method = _seed_cluster(cluster, keys)
        stored = cluster.dbsize()
        if stored != keys:
            raise RuntimeError(f"seeded {keys:,} records but the cluster holds {stored:,} keys")
        ctx.log(f"cluster: seeded {keys:,} records in {seconds:.1f} s ({method})")
        settings = ctx.settings(redis_url=cluster.url, redis_cluster=True)
        reader = TelemetryReader(connect(settings), settings)
        pattern = scan_pattern(reader.namespace)
        clients = list(_primaries(cluster))
        results: dict[str, Any] = {}

        def floor() -> None:
            results["floor"] = sum(node_scan_floor(client, pattern) for client in clients)

        def subject() -> None:
            results["subject"] = summarize(reader, since=WINDOW)

        floors, subjects = interleave(floor, subject, ctx.runs_for(heavy=True))
        result = results["subject"]
        if not result.complete or abs(result.scanned_keys - results["floor"]) > 0.001 * keys:
            raise RuntimeError(
                f"cluster summary scanned {result.scanned_keys:,} keys "
                f"(complete={result.complete}), the floor {results['floor']:,}"
            )
        ratio = median(subjects) / median(floors)
        return Row(
            case="summary-cluster",
            size=f"{result.scanned_keys:,} keys, {len(clients)} primaries",
            target=f"≤ {TARGET}×",
            floor=median(floors),
            subject=median(subjects),
            ratio=ratio,
            met=ratio <= TARGET,
            note=(
                f"floor: each primary in turn; {result.records:,} in window, "
                f"{len(result.groups):,} groups"
            ),
            floor_samples=floors,
            subject_samples=subjects,
        )
    finally:
        cluster.close()
