"""Run states at scale, under the real rate limit: what a bulk of N costs, and no 429 storm.

The stand-in has the real budget (750 requests, 250 more every 10 s: 1,500 a
minute). It and the client share one virtual clock: the stand-in's token
bucket and ``x-ratelimit-reset`` read it, the client's sleeps move it. So the
minutes of waiting a bulk of 100,000 costs pass in no wall time, and the time
it took is exact.

The fleet is realistic: records processed over up to 14 days, each run
created a few seconds to a minute and a half before its record, 4.5 % of runs
failed or canceled (the list leaves out their errors: one retrieve each), 1 % in
another environment (404: one retrieve each), 1 % still executing.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from clocks import NOW, FrozenClock
from telemetry.runs import NOT_IN_ENVIRONMENT, RunState, TriggerClient, run_states
from telemetry.runs.bulk import DEFAULT_MARGIN
from telemetry.runs.model import FAILED_STATUSES
from telemetry.runs.standin import TriggerStandIn, make_run

BURST, REFILL, REFILL_SECONDS = 750, 250, 10.0  # TRIGGER_API.md §5: 1,500 requests a minute
KEY = "tr_prod_scaleTestKey1234"
END = datetime.fromtimestamp(NOW, UTC)

# Out of 1,000 runs: the failure share of a healthy production environment.
MIX = (
    (945, "COMPLETED"),
    (970, "FAILED"),
    (975, "CRASHED"),
    (978, "SYSTEM_FAILURE"),
    (982, "TIMED_OUT"),
    (990, "CANCELED"),
    (1000, "EXECUTING"),
)
ELSEWHERE_PER_MILLE = 10
ERROR = {"name": "StripeCardError", "message": "Your card was declined.", "stackTrace": "at x"}


class VirtualClock(FrozenClock):
    """Unix seconds that move only when the client sleeps (``sleep`` is its ``sleep=``)."""

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Fleet:
    """The environment's runs, and the runs a bulk asks for (run ID → record time)."""

    runs: list[dict[str, Any]] = field(default_factory=list)
    wanted: dict[str, datetime] = field(default_factory=dict)
    elsewhere: set[str] = field(default_factory=set)  # wanted, but not in this environment


def _fleet(
    ids: int, *, days: float, seed: int, background: int = 0, background_days: float = 14
) -> Fleet:
    """``ids`` wanted runs over the last ``days``, plus ``background`` runs nobody asked for."""
    rng = random.Random(seed)
    fleet = Fleet()
    for i in range(ids + background):
        asked = i < ids
        processed = END - timedelta(days=rng.uniform(0, days if asked else background_days))
        run_id = f"run_{seed}x{i:07d}"
        if asked:
            fleet.wanted[run_id] = processed
            if rng.randrange(1000) < ELSEWHERE_PER_MILLE:
                fleet.elsewhere.add(run_id)
                continue
        pick = rng.randrange(1000)
        status = next(name for limit, name in MIX if pick < limit)
        fleet.runs.append(
            make_run(
                run_id,
                status=status,
                created_at=processed - timedelta(seconds=rng.uniform(2, 90)),
                error=ERROR if status in FAILED_STATUSES - {"CANCELED"} else None,
            )
        )
    return fleet


def _expected(fleet: Fleet) -> tuple[int, int, int]:
    """(list pages, retrieves, fewest pages) of the README's formula, counted from the fleet.

    Pages are ⌈runs created in the span / 100⌉; listing may stop early once no
    wanted run can be left in the unlisted (oldest) part, so it costs at least
    the pages down to the oldest wanted run.
    """
    start = min(fleet.wanted.values()) - DEFAULT_MARGIN
    end = max(fleet.wanted.values()) + DEFAULT_MARGIN
    created = {
        run["id"]: datetime.fromisoformat(run["createdAt"].replace("Z", "+00:00"))
        for run in fleet.runs
    }
    in_span = sum(1 for when in created.values() if start <= when <= end)
    oldest = min(when for run_id, when in created.items() if run_id in fleet.wanted)
    reach = sum(1 for when in created.values() if oldest <= when <= end)
    missed = sum(1 for run_id in fleet.wanted if not start <= created.get(run_id, END) <= end)
    missed += len(fleet.elsewhere)
    failed = sum(
        1 for run in fleet.runs if run["id"] in fleet.wanted and run["status"] in FAILED_STATUSES
    )
    return math.ceil(in_span / 100), missed + failed, math.ceil(reach / 100)


def _client(
    api: TriggerStandIn,
    clock: VirtualClock,
    *,
    transport: httpx.BaseTransport | None = None,
    after_answer: Callable[[httpx.Response], None] | None = None,
) -> tuple[TriggerClient, list[tuple[float, int, str]]]:
    """A client on the virtual clock; the second value logs (time, status, reset) per answer.

    ``after_answer`` sees each answer after it is logged, before the client reads it.
    """
    answers: list[tuple[float, int, str]] = []

    def log(response: httpx.Response) -> None:
        answers.append(
            (clock.now, response.status_code, response.headers.get("x-ratelimit-reset", ""))
        )

    hooks = [log] if after_answer is None else [log, after_answer]
    http = httpx.Client(transport=transport, event_hooks={"response": hooks})
    client = TriggerClient(
        http,
        base_url=api.url or "http://trigger.standin",
        key=SecretStr(api.key),
        sleep=clock.sleep,
        clock=clock,
    )
    return client, answers


def _standin(fleet: Fleet, clock: VirtualClock) -> TriggerStandIn:
    return TriggerStandIn(
        fleet.runs,
        key=KEY,
        burst=BURST,
        refill=REFILL,
        refill_seconds=REFILL_SECONDS,
        clock=clock,
    )


def _assert_every_state(fleet: Fleet, states: dict[str, Any]) -> None:
    assert states.keys() == fleet.wanted.keys()
    by_id = {run["id"]: run for run in fleet.runs}
    for run_id, state in states.items():
        if run_id in fleet.elsewhere:
            assert state is NOT_IN_ENVIRONMENT, run_id
            continue
        assert isinstance(state, RunState), (run_id, state)
        assert state.status == by_id[run_id]["status"]
        if state.status in FAILED_STATUSES - {"CANCELED"}:
            assert state.error_message == ERROR["message"], run_id


def _rate_bound_seconds(requests: int) -> float:
    """Virtual time a lone client needs: the burst at once, then 250 per 10 s period."""
    return math.ceil(max(0, requests - BURST) / REFILL) * REFILL_SECONDS


@pytest.mark.slow
def test_100000_ids_cost_the_formula_and_never_exceed_the_rate_limit() -> None:
    """100,000 records over 14 days: every state, the exact request count, zero 429s, ~R/25 s."""
    fleet = _fleet(100_000, days=14, seed=1)
    clock = VirtualClock()
    api = _standin(fleet, clock)
    client, answers = _client(api, clock, transport=api.transport())

    states = run_states(client, fleet.wanted)

    _assert_every_state(fleet, states)
    pages, retrieves, _ = _expected(fleet)
    assert (api.count("/api/v1/runs"), api.count("/api/v3/runs/")) == (pages, retrieves)
    assert client.requests_made == api.count() == pages + retrieves
    assert 985 <= pages <= 995 and 3_000 < retrieves < 7_000  # the fleet is what it says
    # Paced by x-ratelimit-remaining / -reset alone: the budget never ran out under it.
    assert [status for _, status, _ in answers if status == 429] == []
    assert client.rate_limited == 0
    elapsed = clock.now - NOW
    assert elapsed == client.slept_seconds == _rate_bound_seconds(client.requests_made)
    assert abs(elapsed - (client.requests_made - BURST) / 25) <= REFILL_SECONDS


def test_1000_ids_over_http_in_a_busy_environment_cost_the_formula() -> None:
    """1,000 records of one day among 30,000 runs of 14 days: pages of the day's runs, no wait."""
    fleet = _fleet(1_000, days=1, seed=2, background=30_000)
    clock = VirtualClock()
    with _standin(fleet, clock) as api:
        client, answers = _client(api, clock)
        states = run_states(client, fleet.wanted)

    _assert_every_state(fleet, states)
    pages, retrieves, fewest = _expected(fleet)
    listed = api.count("/api/v1/runs")
    assert fewest <= listed <= pages and api.count("/api/v3/runs/") == retrieves
    assert client.requests_made == len(answers) == listed + retrieves
    # The day's ~3,100 runs, not the environment's 31,000, nor one request per ID.
    assert 25 <= listed <= 40 and client.requests_made < 200
    assert client.rate_limited == 0 and client.slept_seconds == 0 == clock.now - NOW


def test_a_neighbour_on_the_same_key_costs_an_occasional_429_each_waited_out() -> None:
    """Another process drains the key's budget three times: three 429s, each waited until reset."""
    fleet = _fleet(20_000, days=3, seed=3)
    clock = VirtualClock()
    api = _standin(fleet, clock)
    transport = api.transport()
    neighbour = httpx.Client(transport=transport, headers={"Authorization": f"Bearer {KEY}"})
    drained_after = {300, 900, 1_200}  # the client's answers after which the neighbour strikes

    def drain(response: httpx.Response) -> None:
        if len(answers) in drained_after:
            remaining = int(response.headers["x-ratelimit-remaining"])
            for _ in range(remaining):
                neighbour.get("http://trigger.standin/api/v3/runs/run_neighbour")

    client, answers = _client(api, clock, transport=transport, after_answer=drain)

    states = run_states(client, fleet.wanted)

    _assert_every_state(fleet, states)
    pages, retrieves, _ = _expected(fleet)
    refused = [i for i, (_, status, _) in enumerate(answers) if status == 429]
    assert len(refused) == client.rate_limited == 3
    # Each 429 is retried (one request more each), only once the budget's reset has come.
    assert client.requests_made == len(answers) == pages + retrieves + 3
    for i in refused:
        reset_ms = int(answers[i][2])
        assert answers[i + 1][1] != 429
        assert answers[i + 1][0] * 1000 >= reset_ms > answers[i][0] * 1000
