"""Run-state cases of issue 14: what ``resolve --runs`` adds to ``resolve``, in time and requests.

The floor is ``resolve`` as the CLI runs it, in-process: parse the paste,
resolve every ID from the seeded redis-server, write the results CSV. The
subject is ``resolve --runs``: the same, then every found row's run state
from the trigger.dev stand-in (``resolution_runs``: list the span's runs, 100
a request, retrieve the missed and failed ones) and the CSV with the six run
columns. The stand-in serves from a process of its own
(``benchmarks.runs_standin``) over loopback HTTP, with one run per found row
and an unlimited budget.

Under the real budget (750 at once, then 250 every 10 s: 1,500 a minute) a
bulk of R requests also waits ``(R − 750) / 25`` seconds, whatever the client
does; the case computes that from the request count rather than sit it out
(the virtual-clock test ``tests/runs/test_scale.py`` proves the client keeps
to it). The target is on what our side adds, with no rate limit in the way:
under 1 s for 1,000 IDs (a paste someone waits for), and under a tenth of the
rate-limit wait for a bulk big enough to have one, so the limit, not the
client, sets the pace.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from .cases import _check_resolution, library_resolve
from .harness import ROOT, Context, Row, interleave, median, register

BURST, PER_SECOND = 750, 25  # TRIGGER_API.md §5: 1,500 requests a minute per key
SMALL_IDS = 1_000
SMALL_TARGET_SECONDS = 1.0
BULK_TARGET_SHARE = 0.10


def rate_bound_seconds(requests: int) -> float:
    """Seconds the real rate limit makes a lone client of ``requests`` requests wait."""
    return max(0, requests - BURST) / PER_SECOND


def _found_runs(resolution: Any) -> list[list[Any]]:
    """``[run_id, processed_at_epoch]`` of every found row (what the stand-in serves)."""
    from telemetry.models import Status
    from telemetry.reader import row_time

    records: dict[str, float] = {}
    rows = zip(
        resolution.column("status"),
        resolution.column("run_id"),
        resolution.column("processed_at"),
        strict=True,
    )
    for status, run_id, when in rows:
        moment = row_time(when)
        if status is Status.FOUND and run_id and moment is not None:
            epoch = moment.timestamp()
            records[run_id] = min(epoch, records.get(run_id, epoch))
    return [[run_id, epoch] for run_id, epoch in records.items()]


@contextmanager
def _standin(records: list[list[Any]]) -> Iterator[dict[str, Any]]:
    """The stand-in process serving ``records``' runs; yields its JSON line."""
    with tempfile.TemporaryDirectory(prefix="bench-runs-") as tmp:
        path = Path(tmp) / "records.json"
        path.write_text(json.dumps(records))
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.runs_standin", str(path)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdin is not None and proc.stdout is not None
        try:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the stand-in process exited ({proc.wait()}) before serving")
            yield json.loads(line)
        finally:
            proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _measure(ctx: Context, ids: list[str], *, heavy: bool) -> dict[str, Any]:
    from telemetry.export import results_csv
    from telemetry.runs import TriggerClient, make_http_client
    from telemetry.runs.columns import resolution_runs, runs_csv

    text = ctx.pasted(ids)
    reader = ctx.reader()
    resolution = library_resolve(reader, text)
    checked = _check_resolution(resolution, len(ids), "resolve-runs")
    records = _found_runs(resolution)
    http = make_http_client()  # one per process, as the CLI and the app keep it
    clients: list[Any] = []
    cpu: list[float] = []

    with _standin(records) as served:

        def plain() -> str:
            return results_csv(library_resolve(reader, text))

        def with_runs() -> str:
            client = TriggerClient(http, base_url=served["url"], key=SecretStr(served["key"]))
            begun = time.process_time()
            found = library_resolve(reader, text)
            out = runs_csv(found, resolution_runs(client, found))
            cpu.append(time.process_time() - begun)
            clients.append(client)
            return out

        floors, subjects = interleave(plain, with_runs, ctx.runs_for(heavy=heavy))
    http.close()
    requests = {client.requests_made for client in clients}
    expected = served["pages"] + served["missed"] + served["failed"]
    if requests != {expected} or any(client.rate_limited for client in clients):
        raise RuntimeError(
            f"resolve --runs made {sorted(requests)} requests; the README's formula says "
            f"{expected} ({served['pages']} pages + {served['missed']} missed + "
            f"{served['failed']} failed)"
        )
    return {
        "floors": floors,
        "subjects": subjects,
        "cpu": median(cpu[-len(subjects) :]),
        "requests": expected,
        "served": served,
        "runs": len(records),
        "checked": checked,
    }


def _row(name: str, ids: int, measured: dict[str, Any], target: str, limit: float) -> Row:
    floor, subject = median(measured["floors"]), median(measured["subjects"])
    added = subject - floor
    served, requests = measured["served"], measured["requests"]
    bound = rate_bound_seconds(requests)
    return Row(
        case=name,
        size=f"{ids:,} IDs",
        target=target,
        floor=floor,
        subject=subject,
        ratio=subject / floor,
        ratio_text=f"{subject / floor:.2f}× (+{added:.2f} s)",
        met=added <= limit,
        note=(
            f"{requests:,} requests = {served['pages']:,} pages + {served['missed']:,} missed "
            f"+ {served['failed']:,} failed, for {measured['runs']:,} runs; "
            f"+{bound:,.0f} s waiting under 1,500/min; "
            f"subject CPU {measured['cpu']:.2f} s; {measured['checked']}"
        ),
        floor_samples=measured["floors"],
        subject_samples=measured["subjects"],
    )


@register("resolve-runs", "resolve --runs vs resolve, 1,000 IDs: added time and requests")
def resolve_runs_small(ctx: Context) -> Row:
    ids = ctx.data.known_ids[:SMALL_IDS]
    measured = _measure(ctx, ids, heavy=False)
    return _row(
        "resolve-runs", len(ids), measured, f"+≤ {SMALL_TARGET_SECONDS:.0f} s", SMALL_TARGET_SECONDS
    )


@register(
    "resolve-runs-bulk",
    "resolve --runs vs resolve, every pasted ID (100,000 at full size)",
    heavy=True,
)
def resolve_runs_bulk(ctx: Context) -> Row:
    ids = ctx.data.known_ids[: ctx.size.known_ids]
    measured = _measure(ctx, ids, heavy=True)
    bound = rate_bound_seconds(measured["requests"])
    limit = max(SMALL_TARGET_SECONDS, BULK_TARGET_SHARE * bound)
    target = f"+≤ max(1 s, {BULK_TARGET_SHARE:.0%} of the rate-limit wait)"
    return _row("resolve-runs-bulk", len(ids), measured, target, limit)
