"""Rows export case of issue 16: ``summary --rows`` over every key vs the summary scan of the
same keys, in time and in peak memory.

The subject writes every record of the window "all" (at full size, ~1,000,000 rows) as
contract §9's CSV, newest first, to a sink that only counts bytes — what
``summary --rows > file`` costs minus the disk. The floor is ``summarize`` of the same
window: the same scan, counted instead of written. Memory is the peak RSS of a fresh
process doing only one or the other (``python -m benchmarks.rows_cases --probe``), over
its baseline after imports and connecting: the export sorts in chunks spilled to disk,
so its growth must stay within a small multiple of the summary's, not follow the rows.

    python -m benchmarks.rows_cases --probe rows|summary REDIS_URL
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any

from .harness import ROOT, Context, Row, interleave, median, register
from .memprobe import _hwm_mb, _max_rss_mb

TIME_TARGET = 3.0  # × the summary scan: formatting, sorting and merging every row
MEMORY_TARGET = 3.0  # × the summary's growth over baseline


class _Counting:
    """A binary sink that keeps only the byte count."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)


def _probe(kind: str, url: str) -> dict[str, Any]:
    """Run one export or summary in this (fresh) process; its peak RSS over the baseline."""
    from telemetry.config import Settings
    from telemetry.reader import TelemetryReader
    from telemetry.rows_export import export_rows
    from telemetry.store import connect
    from telemetry.summary import summarize

    settings = Settings.load(
        None, redis_url=url, redis_socket_timeout=60.0, scan_max_keys=10_000_000
    )
    reader = TelemetryReader(connect(settings), settings)
    reader.store.ping()
    baseline, baseline_hwm = _max_rss_mb(), _hwm_mb()
    if kind == "rows":
        sink = _Counting()
        result = export_rows(reader, sink, since=None)  # type: ignore[arg-type]
        done = {"rows": result.rows, "bytes": sink.size, "chunks": result.chunks}
    else:
        summary = summarize(reader, since=None)
        done = {"rows": summary.records, "bytes": 0, "chunks": 0}
    return {
        "baseline_rss_mb": round(baseline, 1),
        "peak_rss_mb": round(_max_rss_mb(), 1),
        "baseline_hwm_mb": None if baseline_hwm is None else round(baseline_hwm, 1),
        "peak_hwm_mb": None if (hwm := _hwm_mb()) is None else round(hwm, 1),
        **done,
    }


def _spawn_probe(kind: str, url: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "REDIS_CLUSTER")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.rows_cases", "--probe", kind, url, "--spawn"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=1200,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} probe failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


@register(
    "rows-export", "summary --rows of every key vs the summary scan (time, peak RSS)", heavy=True
)
def rows_export(ctx: Context) -> Row:
    from telemetry.rows_export import export_rows
    from telemetry.summary import summarize

    reader = ctx.reader()
    results: dict[str, Any] = {}

    def floor() -> None:
        results["floor"] = summarize(reader, since=None)

    def subject() -> None:
        sink = _Counting()
        results["subject"] = export_rows(reader, sink, since=None)  # type: ignore[arg-type]
        results["bytes"] = sink.size

    floors, subjects = interleave(floor, subject, ctx.runs_for(heavy=True), warmup=False)
    summary, export = results["floor"], results["subject"]
    # Keys near the end of their TTL expire between the two scans (as in ``summary``).
    if abs(export.rows - summary.records) > 0.001 * ctx.size.keys or not export.complete:
        raise RuntimeError(
            f"export wrote {export.rows:,} rows (complete={export.complete}), "
            f"the summary counted {summary.records:,} records"
        )
    mem_summary = _spawn_probe("summary", ctx.url)
    mem_rows = _spawn_probe("rows", ctx.url)
    grow_summary = mem_summary["peak_rss_mb"] - mem_summary["baseline_rss_mb"]
    grow_rows = mem_rows["peak_rss_mb"] - mem_rows["baseline_rss_mb"]
    memory_ratio = grow_rows / max(grow_summary, 1.0)
    ratio = median(subjects) / median(floors)
    return Row(
        case="rows-export",
        size=f"{export.rows:,} rows",
        target=f"≤ {TIME_TARGET:g}× time, ≤ {MEMORY_TARGET:g}× memory growth",
        floor=median(floors),
        subject=median(subjects),
        ratio=ratio,
        ratio_text=f"{ratio:.2f}× time, {memory_ratio:.2f}× memory",
        met=ratio <= TIME_TARGET and memory_ratio <= MEMORY_TARGET,
        note=(
            f"{results['bytes'] / 2**20:,.0f} MiB of CSV in {export.chunks} sorted chunks; "
            f"peak RSS +{grow_rows:,.0f} MB (rows) vs +{grow_summary:,.0f} MB (summary) over "
            f"~{mem_rows['baseline_rss_mb']:,.0f} MB after imports"
        ),
        floor_samples=floors,
        subject_samples=subjects,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rows_cases")
    parser.add_argument("--probe", choices=("rows", "summary"), required=True)
    parser.add_argument("url")
    parser.add_argument("--spawn", action="store_true", help="run the probe in a child process")
    args = parser.parse_args(argv)
    if args.spawn:
        # A small parent: the child's ru_maxrss starts from this size (see memprobe).
        command = [sys.executable, "-m", "benchmarks.rows_cases", "--probe", args.probe, args.url]
        return subprocess.call(command)
    print(json.dumps(_probe(args.probe, args.url)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
