"""Demo mode's run state: runs consistent with the demo records, served in-process."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from telemetry.runs import (
    FAILED_STATUSES,
    NOT_IN_ENVIRONMENT,
    RunState,
    TriggerClient,
    parse_run,
    run_states,
)
from telemetry.runs.demo import DEMO_API_URL, DEMO_KEY, demo_run, demo_runs, demo_standin
from telemetry.writer import generate_records

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _records(count: int) -> list[tuple[str, str, str, datetime]]:
    return [
        (r.run_id, r.entity_type, r.entity_id, datetime.fromtimestamp(r.processed_at, tz=UTC))
        for r in generate_records(count, seed=7, now=NOW.timestamp())
        if r.run_id is not None
    ]


@pytest.fixture(scope="module")
def records() -> list[tuple[str, str, str, datetime]]:
    return _records(5_000)


def test_mix_is_mostly_completed_with_some_failed_and_a_few_running(records) -> None:
    """5,000 demo records give a realistic mix: ~85 % completed, failures, a few live runs."""
    runs = demo_runs(records, now=NOW)
    statuses = Counter(run["status"] for run in runs)
    total = len(runs)
    assert 0.80 < statuses["COMPLETED"] / total < 0.92
    failed = sum(statuses[s] for s in FAILED_STATUSES)
    assert 0.06 < failed / total < 0.16
    assert statuses["FAILED"] > statuses["CRASHED"] > 0
    running = statuses["EXECUTING"] + statuses["QUEUED"] + statuses["WAITING"]
    assert 0 < running < 0.02 * total
    # About 1 in 100 runs belongs to another environment: absent from the stand-in.
    assert 0.004 < 1 - total / len({r[0] for r in records}) < 0.02


def test_runs_follow_their_records(records) -> None:
    """A run is created shortly before its record's time, tagged with its entity, and parses."""
    by_id = {run["id"]: run for run in demo_runs(records, now=NOW)}
    checked = 0
    for run_id, entity_type, entity_id, processed in records:
        run = by_id.get(run_id)
        if run is None:
            continue
        state = parse_run(run)
        assert state.created_at is not None
        assert timedelta(0) < processed - state.created_at <= timedelta(seconds=92)
        assert state.tags == (f"{entity_type}_{entity_id}"[:128],)
        if state.status in ("EXECUTING", "QUEUED", "WAITING"):
            assert NOW - processed < timedelta(hours=6)  # last week's run is not still running
        if state.status in ("FAILED", "CRASHED", "SYSTEM_FAILURE", "TIMED_OUT"):
            assert state.error_message
        if state.status == "COMPLETED":
            assert state.error_message is None
        checked += 1
    assert checked > 4_000


def test_same_run_id_same_run() -> None:
    """The state follows from the run ID alone: the demo shows the same states every start."""
    first = demo_run("run_abc123", "payment", "pym_x", NOW - timedelta(days=2), NOW)
    again = demo_run("run_abc123", "payment", "pym_x", NOW - timedelta(days=2), NOW)
    assert first == again


def test_demo_standin_answers_run_states(records) -> None:
    """The in-process stand-in answers run_states for demo run IDs, 404s included."""
    standin = demo_standin(records[:300])
    client = TriggerClient(
        httpx.Client(transport=standin.transport()), base_url=DEMO_API_URL, key=SecretStr(DEMO_KEY)
    )
    wanted = {run_id: when for run_id, _, _, when in records[:300]}
    outcomes = run_states(client, wanted)
    assert set(outcomes) == set(wanted)
    kinds = Counter(type(o).__name__ for o in outcomes.values())
    assert kinds["RunState"] > 280
    assert kinds["Unavailable"] == 0
    served = {run["id"] for run in demo_runs(records[:300])}
    for run_id, outcome in outcomes.items():
        if run_id in served:
            assert isinstance(outcome, RunState)
        else:
            assert outcome is NOT_IN_ENVIRONMENT
