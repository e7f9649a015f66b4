"""TriggerClient and run_states against the local stand-in server (telemetry/runs/standin.py).

Real HTTP on 127.0.0.1 and the stand-in's real token bucket, with a budget
small enough (10 requests, refilled every 0.1 s) that pacing is exercised in
well under a second. No timed assertions: only counts and outcomes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from telemetry.runs import (
    NOT_IN_ENVIRONMENT,
    RunState,
    TriggerClient,
    Unavailable,
    run_states,
)
from telemetry.runs.client import CONNECT_TIMEOUT, READ_TIMEOUT
from telemetry.runs.standin import TriggerStandIn, make_run

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
BUDGET = 10


def _runs(count: int) -> list[dict]:
    runs = []
    for i in range(count):
        failed = i % 30 == 0
        runs.append(
            make_run(
                f"run_{i:04}",
                status="FAILED" if failed else "COMPLETED",
                created_at=T0 + timedelta(seconds=20 * i),
                error={"name": "Error", "message": f"boom {i}"} if failed else None,
            )
        )
    return runs


@pytest.fixture
def standin() -> Iterator[TriggerStandIn]:
    with TriggerStandIn(
        _runs(300), key="tr_prod_standinKey123", burst=BUDGET, refill=BUDGET, refill_seconds=0.1
    ) as server:
        yield server


def _client(standin: TriggerStandIn, key: str | None = None) -> TriggerClient:
    # A fresh connection per request: on a kept-alive one, http.server's separate
    # header and body writes meet the client's delayed ACK (~40 ms a request), so
    # the budget would never run out. Production uses make_http_client (pooled).
    http = httpx.Client(
        timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
        limits=httpx.Limits(max_keepalive_connections=0),
    )
    return TriggerClient(
        http, base_url=standin.url, key=SecretStr(key or standin.key), backoff_seconds=0.05
    )


def _wanted() -> dict[str, datetime | None]:
    wanted: dict[str, datetime | None] = {}
    for i in range(0, 300, 2):  # 150 listed runs, 10 of them FAILED (every 30th)
        wanted[f"run_{i:04}"] = T0 + timedelta(seconds=20 * i + 3)
    for i in range(1, 41, 2):  # 20 runs whose records carry no time
        wanted[f"run_{i:04}"] = None
    for i in range(25):  # 25 runs of another environment
        wanted[f"run_other_{i}"] = T0 + timedelta(hours=1)
    return wanted


def test_bulk_stays_within_the_rate_budget_at_the_documented_cost(
    standin: TriggerStandIn,
) -> None:
    """195 runs through a 10-request budget: every run learned, requests = the documented cost."""
    client = _client(standin)
    states = run_states(client, _wanted())
    assert not [s for s in states.values() if isinstance(s, Unavailable)]
    assert sum(1 for s in states.values() if s is NOT_IN_ENVIRONMENT) == 25
    failed = states["run_0000"]
    assert isinstance(failed, RunState) and failed.error_message == "boom 0"
    answered = [seen for seen in standin.requests if seen.status != 429]
    # 3 list pages (300 runs in the span) + 20 untimed + 25 other-env + 10 failed (their error).
    assert sum(1 for seen in answered if seen.path == "/api/v1/runs") == 3
    assert len(answered) == 3 + 20 + 25 + 10
    # Pacing by x-ratelimit-remaining keeps 429s rare; none exhausted its retries.
    too_many = len(standin.requests) - len(answered)
    assert too_many == client.rate_limited <= client.max_rate_waits
    assert client.requests_made == len(standin.requests)
    assert client.slept_seconds > 0  # the budget ran out: remaining 0 made the client wait


def test_5xx_and_malformed_answers_are_retried_or_reported(standin: TriggerStandIn) -> None:
    """Two 5xx are retried transparently; a truncated body is a specific data error for one run."""
    client = _client(standin)
    standin.fail_5xx = 2
    state = client.retrieve("run_0001")
    assert state is not None and state.status == "COMPLETED"
    assert client.requests_made == 3
    standin.malformed = 1
    states = run_states(client, {"run_0002": None, "run_0003": None})
    assert isinstance(states["run_0002"], Unavailable)
    assert "not JSON" in states["run_0002"].reason
    assert isinstance(states["run_0003"], RunState)


def test_wrong_key_marks_every_run_and_never_shows_either_key(standin: TriggerStandIn) -> None:
    """A refused key leaves every run unavailable with the 401 message, after one request."""
    wrong = "tr_prod_wrongKey999"
    client = _client(standin, key=wrong)
    states = run_states(client, _wanted())
    reasons = {s.reason for s in states.values() if isinstance(s, Unavailable)}
    assert len(states) == 195 and len(reasons) == 1
    reason = reasons.pop()
    assert "TRIGGER_SECRET_KEY was refused (401)" in reason
    assert wrong not in reason and standin.key not in reason and wrong not in repr(client)
    assert len(standin.requests) == 1
