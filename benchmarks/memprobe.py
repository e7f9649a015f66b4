"""Peak RSS of a fresh process doing only a summary (case ``summary-memory``).

    python -m benchmarks.memprobe REDIS_URL [--since 24h]

Prints one JSON line: the process's peak RSS after imports and connecting
(``baseline_rss_mb``), after the summary (``peak_rss_mb``), and what was scanned.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys


def _max_rss_mb() -> float:
    """``ru_maxrss`` of this process, in MB.

    Linux carries ``ru_maxrss`` across ``fork`` + ``exec``: a child of a big
    parent reports the parent's size until it outgrows it. Run this module
    through ``--spawn`` (a small python that starts the probe) to get the
    probe's own figure.
    """
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _hwm_mb() -> float | None:
    """``VmHWM`` (peak RSS of this process image, reset by exec), in MB; None off Linux."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memprobe")
    parser.add_argument("url")
    parser.add_argument("--since", default="24h")
    parser.add_argument("--spawn", action="store_true", help="run the probe in a child process")
    args = parser.parse_args(argv)
    if args.spawn:
        # This process is small; its child's ru_maxrss starts from this size, not
        # from the (big) process that started us.
        command = [sys.executable, "-m", "benchmarks.memprobe", args.url, "--since", args.since]
        return subprocess.call(command)

    from telemetry.config import Settings
    from telemetry.reader import TelemetryReader
    from telemetry.store import connect
    from telemetry.summary import parse_since, summarize

    settings = Settings.load(
        None, redis_url=args.url, redis_socket_timeout=60.0, scan_max_keys=10_000_000
    )
    reader = TelemetryReader(connect(settings), settings)
    reader.store.ping()
    baseline, baseline_hwm = _max_rss_mb(), _hwm_mb()
    result = summarize(reader, since=parse_since(args.since))
    peak, peak_hwm = _max_rss_mb(), _hwm_mb()
    print(
        json.dumps(
            {
                "baseline_rss_mb": round(baseline, 1),
                "peak_rss_mb": round(peak, 1),
                "baseline_hwm_mb": None if baseline_hwm is None else round(baseline_hwm, 1),
                "peak_hwm_mb": None if peak_hwm is None else round(peak_hwm, 1),
                "scanned_keys": result.scanned_keys,
                "records": result.records,
                "complete": result.complete,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
