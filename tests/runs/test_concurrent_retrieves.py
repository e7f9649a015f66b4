"""Concurrent retrieves: the same answers and request count, within the announced budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from telemetry.runs import NOT_IN_ENVIRONMENT, RunState, TriggerClient, Unavailable, run_states
from telemetry.runs.standin import TriggerStandIn, make_run

NOW = datetime.now(UTC).replace(microsecond=0)


def _client(api: TriggerStandIn, **kwargs) -> TriggerClient:
    return TriggerClient(
        httpx.Client(timeout=5.0), base_url=api.url, key=SecretStr(api.key), **kwargs
    )


def _runs(count: int) -> list[dict]:
    return [
        make_run(
            f"run_c{i:04d}",
            status="FAILED" if i % 3 == 0 else "COMPLETED",
            created_at=NOW - timedelta(minutes=i),
            error={"name": "Error", "message": f"boom {i}"} if i % 3 == 0 else None,
        )
        for i in range(count)
    ]


@pytest.mark.parametrize("concurrency", [1, 4])
def test_concurrent_retrieves_answer_like_sequential_ones(concurrency: int) -> None:
    """Untimed runs (one retrieve each) and 404s: same outcomes and count at 1 and 4 at once."""
    runs = _runs(24)
    wanted = {run["id"]: None for run in runs} | {"run_elsewhere1": None, "run_elsewhere2": None}
    with TriggerStandIn(runs) as api:
        api.slow = 0.02  # long enough that four workers overlap
        client = _client(api)
        outcomes = run_states(client, wanted, concurrency=concurrency)
        assert api.count("/api/v3/runs/") == len(wanted) == client.requests_made
        assert (api.most_at_once > 1) == (concurrency > 1)
        assert api.most_at_once <= concurrency
    assert list(outcomes) == list(wanted)  # the caller's order, whatever finished first
    for run in runs:
        state = outcomes[run["id"]]
        assert isinstance(state, RunState)
        assert state.status == run["status"]
        assert state.error_message == (run.get("error") or {}).get("message")
    assert outcomes["run_elsewhere1"] is NOT_IN_ENVIRONMENT


def test_concurrent_retrieves_never_overrun_a_small_budget() -> None:
    """Four at once against a budget of 6 refilled by 6 every 0.3 s: no 429, every state."""
    runs = _runs(30)
    with TriggerStandIn(runs, burst=6, refill=6, refill_seconds=0.3) as api:
        client = _client(api)
        outcomes = run_states(client, {run["id"]: None for run in runs}, concurrency=4)
        answered = [seen.status for seen in api.requests]
    assert all(isinstance(o, RunState) for o in outcomes.values())
    assert answered.count(429) == 0
    assert client.rate_limited == 0
    assert client.requests_made == 30


def test_a_final_failure_stops_the_other_workers_and_keeps_what_was_learned() -> None:
    """A wrong key part-way: no further requests pile up; every run is marked with the reason."""
    runs = _runs(40)
    with TriggerStandIn(runs) as api:
        client = _client(api)
        wanted = {run["id"]: None for run in runs}
        api.key = "tr_dev_rotated"  # every request from now on is refused (401)
        outcomes = run_states(client, wanted, concurrency=4)
        sent = api.count("/api/v3/runs/")
    assert sent <= 4 * 2  # the first refusal stops the queue; at most the window in flight
    reasons = {o.reason for o in outcomes.values() if isinstance(o, Unavailable)}
    assert len(reasons) == 1
    assert "TRIGGER_SECRET_KEY was refused (401)" in reasons.pop()
    assert len(outcomes) == 40
