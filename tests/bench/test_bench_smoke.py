"""The benchmark runner at smoke size, so it never rots (issue 5). No timing assertions."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.bench, pytest.mark.redis, pytest.mark.slow]


def _require_redis_server() -> None:
    if shutil.which(os.environ.get("REDIS_SERVER_BIN") or "redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is needed by the benchmark smoke test in CI", pytrace=False)
        pytest.skip("redis-server is not installed")


def test_runner_prints_a_row_for_every_case_at_smoke_size(tmp_path: Path) -> None:
    _require_redis_server()
    from benchmarks.harness import REGISTRY, load_cases

    assert not load_cases(), "a case module failed to import"
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--size", "smoke", "--runs", "1", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-4000:]}"

    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| case | size | floor (median) | subject (median) | ratio |")
    names = [row.split("|")[1].strip() for row in rows[1:]]
    assert names == list(REGISTRY), proc.stdout
    assert not [row for row in rows if "ERROR" in row], proc.stdout
    assert "Machine: nproc" in proc.stdout

    report = json.loads(out.read_text())
    assert report["size"] == "smoke"
    assert [row["case"] for row in report["rows"]] == list(REGISTRY)
    for row in report["rows"]:
        assert not row["error"], row
        # Measured, or skipped with a reason (the app pages before the app exists).
        assert (row["subject"] is not None and row["met"] is not None) or row["note"], row
