"""``python -m benchmarks``: start redis-server, seed it, run the cases, print the table.

Exit status: 0 when every selected case ran or was skipped (targets missed
are reported, not failed: timings are no test), 1 when a case crashed, 2 for
bad arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path

from .harness import (
    REGISTRY,
    SIZES,
    Context,
    Row,
    Skip,
    bench_server,
    load_cases,
    machine,
    markdown_table,
    seed,
)


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmarks of issue 5: each case a ratio against a floor from the same run.",
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument(
        "--runs", type=int, default=None, help="timed (floor, subject) pairs per case"
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="CASE[,CASE]",
        help="run only these cases (repeatable); --list shows them",
    )
    parser.add_argument("--keys", type=int, default=None, help="override the seeded keyspace")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="write results")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    args = parser.parse_args(argv)
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.keys is not None and args.keys < 1_000:
        parser.error("--keys must be at least 1000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    broken = load_cases()
    if args.list:
        for case in REGISTRY.values():
            print(f"{case.name:24} {case.title}")
        for module, why in broken.items():
            print(f"{'(' + module + ')':24} not loaded: {why}")
        return 0
    wanted = [name.strip() for item in args.only for name in item.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in REGISTRY]
    if unknown:
        known = ", ".join(REGISTRY)
        print(f"python -m benchmarks: unknown case(s) {', '.join(unknown)}; known: {known}")
        return 2
    cases = [case for name, case in REGISTRY.items() if not wanted or name in wanted]
    size = SIZES[args.size]
    if args.keys is not None:
        size = replace(size, keys=args.keys)

    started = time.perf_counter()
    rows: list[Row] = []
    crashed = False
    with bench_server(log) as server:
        details = machine(server)
        log("machine: " + "; ".join(f"{k} {v}" for k, v in details.items()))
        data = seed(server.port, server.client(socket_timeout=60.0), size, log=log)
        ctx = Context(size=size, runs=args.runs, server=server, data=data, log=log)
        for case in cases:
            log(f"{case.name}: {case.title} ...")
            case_start = time.perf_counter()
            try:
                row = case.func(ctx)
            except Skip as exc:
                row = Row(case=case.name, size="—", target="—", note=str(exc))
            except Exception as exc:
                crashed = True
                traceback.print_exc(file=sys.stderr)
                row = Row(case=case.name, size="—", target="—", note=str(exc), error=True)
            rows.append(row)
            cells = " | ".join(row.cells())
            log(f"{case.name}: done in {time.perf_counter() - case_start:.1f} s: {cells}")
        for module, why in broken.items():
            crashed = True
            rows.append(
                Row(case=module, size="—", target="—", note=f"not loaded: {why}", error=True)
            )
    total = time.perf_counter() - started
    with contextlib.suppress(OSError):
        details["load average (end)"] = " ".join(f"{x:.2f}" for x in os.getloadavg())

    print(f"\n## Benchmarks ({size.name}: {size.keys:,} keys, {time.strftime('%Y-%m-%d')})\n")
    print(markdown_table(rows))
    print()
    print(
        f"Medians of {args.runs or f'{size.runs} (summary: {size.summary_runs})'} "
        "interleaved (floor, subject) pairs; ratio = subject / floor."
    )
    print(f"Seeding: {data.seconds:.1f} s ({data.method}); total {total:.0f} s.")
    print("Machine: " + "; ".join(f"{k} {v}" for k, v in details.items()))
    if args.json is not None:
        payload = {
            "size": size.name,
            "keys": size.keys,
            "seconds": round(total, 1),
            "seed_seconds": round(data.seconds, 1),
            "machine": details,
            "rows": [row.as_json() for row in rows],
        }
        args.json.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
