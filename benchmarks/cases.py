"""Library cases of issue 5: bulk resolve, naive loop, unknown prefixes, summary, memory."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

import orjson
import redis

from .harness import ROOT, Context, Row, interleave, median, register, timed

WINDOW = timedelta(hours=24)
CHUNK = 1_000  # the floor's MGET size, as issue 5 says
MEMORY_LIMIT_MB = 300


def _known_keys(ctx: Context, ids: list[str]) -> list[str]:
    from telemetry.keys import make_key

    settings = ctx.settings()
    registry, namespace = settings.registry, settings.telemetry_namespace
    keys = []
    for entity_id in ids:
        entity_type = registry.match(entity_id)
        assert entity_type is not None, entity_id
        keys.append(make_key(namespace, entity_type, entity_id))
    return keys


def mget_pttl_floor(client: Any, keys: list[str], chunk: int = CHUNK) -> int:
    """Raw redis-py: a pipeline per chunk (MGET + a PTTL per key), ``orjson.loads``; no more."""
    loads = orjson.loads
    decoded = 0
    for start in range(0, len(keys), chunk):
        part = keys[start : start + chunk]
        pipe = client.pipeline(transaction=False)
        pipe.mget(part)
        for key in part:
            pipe.pttl(key)
        out = pipe.execute()
        for raw in out[0]:
            if raw is not None:
                try:
                    loads(raw)
                except orjson.JSONDecodeError:
                    continue
                decoded += 1
    return decoded


def scan_floor(client: Any, pattern: str, count: int = CHUNK) -> int:
    """Raw redis-py: SCAN COUNT, then MGET + pipelined PTTLs of the batch, ``orjson.loads``."""
    loads = orjson.loads
    cursor: Any = 0
    seen = 0
    while True:
        cursor, keys = client.scan(cursor, match=pattern, count=count)
        if keys:
            seen += len(keys)
            pipe = client.pipeline(transaction=False)
            pipe.mget(keys)
            for key in keys:
                pipe.pttl(key)
            out = pipe.execute()
            for raw in out[0]:
                if raw is not None:
                    try:
                        loads(raw)
                    except orjson.JSONDecodeError:
                        continue
        if int(cursor) == 0:
            return seen


def library_resolve(reader: Any, text: str) -> Any:
    """What the Bulk page and ``resolve`` do: parse the paste, resolve every query."""
    from telemetry.ids import parse_ids

    parsed = parse_ids(
        text, reader.registry, namespace=reader.namespace, max_ids=reader.settings.max_ids
    )
    return reader.resolve(parsed.queries)


def _ping_rtt_us(client: Any, n: int = 200) -> float:
    import time

    samples = []
    for _ in range(n):
        start = time.perf_counter()
        client.ping()
        samples.append(time.perf_counter() - start)
    return median(samples) * 1e6


def _check_resolution(resolution: Any, queries: int, what: str) -> str:
    counts = resolution.counts
    if resolution.queries != queries or not resolution.complete:
        raise RuntimeError(
            f"{what}: resolved {resolution.queries} of {queries}: {resolution.error}"
        )
    if counts["found"] < 0.9 * queries:
        raise RuntimeError(f"{what}: only {counts['found']} of {queries} found: {counts}")
    return f"{counts['found']:,} found, {counts['invalid_record']:,} invalid"


@register("resolve", "bulk resolve of pasted IDs with known prefixes vs raw MGET+PTTL")
def resolve_known(ctx: Context) -> Row:
    ids = ctx.data.known_ids[: ctx.size.known_ids]
    keys = _known_keys(ctx, ids)
    text = ctx.pasted(ids)
    client = ctx.client()
    reader = ctx.reader()
    checked = _check_resolution(library_resolve(reader, text), len(ids), "resolve")
    mget_pttl_floor(client, keys)  # warm-up; the subject's was the check above
    floors, subjects = interleave(
        lambda: mget_pttl_floor(client, keys),
        lambda: library_resolve(reader, text),
        ctx.runs_for(),
        warmup=False,
    )
    ratio = median(subjects) / median(floors)
    # The floor of "resolve-unknown-prefix": the same paste, already timed in this run.
    ctx.memo["resolve_known"] = (len(ids), subjects)
    return Row(
        case="resolve",
        size=f"{len(ids):,} IDs",
        target="≤ 1.5×",
        floor=median(floors),
        subject=median(subjects),
        ratio=ratio,
        met=ratio <= 1.5,
        note=checked,
        floor_samples=floors,
        subject_samples=subjects,
    )


@register("resolve-vs-naive", "bulk resolve vs the naive loop (one GET per ID)")
def resolve_vs_naive(ctx: Context) -> Row:
    ids = ctx.data.known_ids[: ctx.size.naive_ids]
    keys = _known_keys(ctx, ids)
    text = ctx.pasted(ids)
    client = ctx.client()
    reader = ctx.reader()
    _check_resolution(library_resolve(reader, text), len(ids), "resolve-vs-naive")

    def naive() -> int:
        loads, get, found = orjson.loads, client.get, 0
        for key in keys:
            try:
                raw = get(key)
            except redis.ResponseError:  # WRONGTYPE: a hash or list where a string belongs
                continue
            if raw is not None:
                try:
                    loads(raw)
                except orjson.JSONDecodeError:
                    continue
                found += 1
        return found

    floors, subjects = interleave(naive, lambda: library_resolve(reader, text), ctx.runs_for())
    speedup = median(floors) / median(subjects)
    rtt = _ping_rtt_us(client)
    # The same work over a network: every round trip costs 1 ms instead of the loopback's.
    # The naive loop makes one per ID, the library one per 1,000 keys.
    extra = 1e-3 - rtt / 1e6
    projected = (median(floors) + len(ids) * extra) / (
        median(subjects) + math.ceil(len(ids) / CHUNK) * extra
    )
    return Row(
        case="resolve-vs-naive",
        size=f"{len(ids):,} IDs",
        target="≥ 20× faster",
        floor=median(floors),
        subject=median(subjects),
        ratio=speedup,
        ratio_text=f"{speedup:.1f}× faster",
        met=speedup >= 20,
        note=f"loopback RTT {rtt:.0f} µs; projected at 1 ms RTT: {projected:.0f}× faster",
        floor_samples=floors,
        subject_samples=subjects,
    )


@register("resolve-unknown-prefix", "unknown prefixes (every type tried) vs known, per ID")
def resolve_unknown(ctx: Context) -> Row:
    known = ctx.data.known_ids[: ctx.size.known_ids]
    unknown = ctx.data.unknown_ids[: ctx.size.unknown_ids]
    known_text, unknown_text = ctx.pasted(known), ctx.pasted(unknown)
    reader = ctx.reader()
    types = len(reader.registry.types)
    if any(reader.registry.match(entity_id) for entity_id in unknown):
        raise RuntimeError("resolve-unknown-prefix: an 'unknown' ID matches a known prefix")
    checked = _check_resolution(library_resolve(reader, unknown_text), len(unknown), "unknown")
    reused = ctx.memo.get("resolve_known")
    if reused is not None and reused[0] == len(known):
        # Case "resolve" timed this very paste minutes ago: its samples are the floor
        # (the target has a wide margin; re-timing 100,000 IDs would cost ~30 s).
        floors = list(reused[1])
        subjects = [timed(lambda: library_resolve(reader, unknown_text))[0] for _ in floors]
    else:
        _check_resolution(library_resolve(reader, known_text), len(known), "known")
        floors, subjects = interleave(
            lambda: library_resolve(reader, known_text),
            lambda: library_resolve(reader, unknown_text),
            ctx.runs_for(),
            warmup=False,  # both ran in the checks
        )
    floor_us = median(floors) / len(known) * 1e6
    subject_us = median(subjects) / len(unknown) * 1e6
    ratio = subject_us / floor_us
    return Row(
        case="resolve-unknown-prefix",
        size=f"{len(unknown):,} IDs × {types} types",
        target=f"≤ {types}× per ID",
        floor=floor_us,
        subject=subject_us,
        unit="µs",
        ratio=ratio,
        ratio_text=f"{ratio:.2f}× per ID",
        met=ratio <= types,
        note=f"per ID; floor = {len(known):,} known IDs; {checked}",
        floor_samples=[f / len(known) * 1e6 for f in floors],
        subject_samples=[s / len(unknown) * 1e6 for s in subjects],
    )


@register("summary", "summary by type × org over 24 h vs raw SCAN+MGET+PTTL", heavy=True)
def summary(ctx: Context) -> Row:
    from telemetry.keys import scan_pattern
    from telemetry.summary import summarize

    client = ctx.client()
    reader = ctx.reader()
    pattern = scan_pattern(reader.namespace)
    results: dict[str, Any] = {}

    def floor() -> None:
        results["floor"] = scan_floor(client, pattern)

    def subject() -> None:
        results["subject"] = summarize(reader, since=WINDOW)

    # No warm-up pair: at 1,000,000 keys one pair costs ~10 s; runs alternate instead.
    floors, subjects = interleave(floor, subject, ctx.runs_for(heavy=True), warmup=False)
    result = results["subject"]
    # Keys whose remaining TTL was under a few minutes expire during the run, so
    # the last floor and the last summary may have seen a few keys fewer or more.
    if not result.complete or abs(result.scanned_keys - results["floor"]) > 0.001 * ctx.size.keys:
        raise RuntimeError(
            f"summary scanned {result.scanned_keys:,} keys (complete={result.complete}), "
            f"the floor {results['floor']:,}"
        )
    ratio = median(subjects) / median(floors)
    return Row(
        case="summary",
        size=f"{result.scanned_keys:,} keys",
        target="≤ 1.2×",
        floor=median(floors),
        subject=median(subjects),
        ratio=ratio,
        met=ratio <= 1.2,
        note=f"{result.records:,} in window, {len(result.groups):,} groups",
        floor_samples=floors,
        subject_samples=subjects,
    )


@register("summary-memory", "peak RSS of a fresh process doing only the summary", heavy=True)
def summary_memory(ctx: Context) -> Row:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "REDIS_CLUSTER")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    peaks: list[float] = []
    baselines: list[float] = []
    report: dict[str, Any] = {}
    for _ in range(1 if ctx.runs is None else max(1, min(ctx.runs, 3))):
        # --spawn: the probe's ru_maxrss must not start from this (big) process's.
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.memprobe", ctx.url, "--since", "24h", "--spawn"],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=600,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"memory probe failed:\n{proc.stderr[-2000:]}")
        report = json.loads(proc.stdout.strip().splitlines()[-1])
        peaks.append(report["peak_rss_mb"])
        baselines.append(report["baseline_rss_mb"])
    peak = median(peaks)
    return Row(
        case="summary-memory",
        size=f"{report['scanned_keys']:,} keys",
        target=f"≤ {MEMORY_LIMIT_MB} MB RSS",
        floor=median(baselines),
        subject=peak,
        unit="MB",
        ratio=None,
        ratio_text=f"+{peak - median(baselines):,.0f} MB over baseline",
        met=peak <= MEMORY_LIMIT_MB,
        note=(
            "ru_maxrss; floor = the same process after imports and connect; "
            f"VmHWM {report['baseline_hwm_mb']} → {report['peak_hwm_mb']} MB"
        ),
        floor_samples=baselines,
        subject_samples=peaks,
    )
