"""`resolve --runs` (contract §6) as a user runs it: a subprocess against a real
redis-server and the local stand-in of trigger.dev's API."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from cli_process import python_m
from redis_server import RedisServer
from telemetry.runs.standin import TriggerStandIn, make_run

HEADER = (
    "query,status,entity_type,entity_id,run_id,run_url,organization_id,processed_at,"
    "expires_at,detail,run_status,task_identifier,run_created_at,run_finished_at,"
    "run_duration_ms,run_error"
)
WHEN = datetime.now(tz=UTC).replace(microsecond=0) - timedelta(hours=2)
STAMP = WHEN.strftime("%Y-%m-%dT%H:%M:%S.000Z")
RECORDS = {
    "pym_ok": "run_ok",
    "pym_bad": "run_bad",
    "pym_busy": "run_busy",
    "pym_elsewhere": "run_elsewhere",  # not in the key's environment: 404
}
RUNS = [
    make_run("run_ok", status="COMPLETED", created_at=WHEN, duration_ms=1_234),
    make_run(
        "run_bad",
        status="FAILED",
        created_at=WHEN,
        error={"name": "StripeError", "message": "=card declined\x1b[31m", "stackTrace": "at x"},
    ),
    make_run("run_busy", status="EXECUTING", created_at=WHEN),
]
PASTE = b"pym_ok\npym_bad\npym_busy\npym_elsewhere\npym_missing\n"


@pytest.fixture
def seeded(redis_server: RedisServer, redis_client: redis.Redis) -> RedisServer:
    """Four records (rich, with the time the runs were created) and no `pym_missing`."""
    for entity_id, run_id in RECORDS.items():
        value = {"runId": run_id, "organizationId": "org_1", "timestamp": STAMP}
        redis_client.set(f"telemetry:payment:{entity_id}", json.dumps(value), ex=3_600)
    return redis_server


@pytest.fixture
def api() -> Iterator[TriggerStandIn]:
    with TriggerStandIn(RUNS) as standin:
        yield standin


def resolve(server: RedisServer, env: dict[str, str], *args: str) -> Any:
    return python_m(
        "resolve", "--runs", "--redis-url", server.url, *args, stdin=PASTE, env=env, text=True
    )


def rows(out: str) -> dict[str, dict[str, str]]:
    return {row["query"]: row for row in csv.DictReader(io.StringIO(out))}


def test_resolve_runs_adds_the_six_columns(seeded: RedisServer, api: TriggerStandIn) -> None:
    """Found rows get the run's status, task, times, duration and error (escaped and
    neutralised); a 404 is `not_in_environment`; other rows leave the six cells empty."""
    env = {"TRIGGER_SECRET_KEY": api.key, "TRIGGER_API_URL": api.url}
    done = resolve(seeded, env)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[0] == HEADER
    by_query = rows(done.stdout)
    ok, bad, busy = by_query["pym_ok"], by_query["pym_bad"], by_query["pym_busy"]
    assert (ok["run_status"], ok["task_identifier"], ok["run_duration_ms"]) == (
        "COMPLETED",
        "attempt-billing-run",
        "1234",
    )
    assert ok["run_created_at"] == WHEN.strftime("%Y-%m-%dT%H:%M:%SZ") and ok["run_error"] == ""
    assert bad["run_status"] == "FAILED"
    assert bad["run_error"] == "'=card declined\\x1b[31m"
    assert busy["run_status"] == "EXECUTING" and busy["run_finished_at"] == ""
    assert by_query["pym_elsewhere"]["run_status"] == "not_in_environment"
    missing = by_query["pym_missing"]
    assert missing["status"] == "not_found"
    assert [missing[name] for name in HEADER.split(",")[10:]] == [""] * 6
    assert "\x1b" not in done.stdout
    # Payload and output are never asked for: only the list and retrieve routes.
    assert {request.path.split("/run_")[0] for request in api.requests} <= {
        "/api/v1/runs",
        "/api/v3/runs",
    }


def test_resolve_runs_json_carries_the_same_keys(seeded: RedisServer, api: TriggerStandIn) -> None:
    """--format json has the six keys on every row, typed (duration a number, no value null)."""
    env = {"TRIGGER_SECRET_KEY": api.key, "TRIGGER_API_URL": api.url}
    done = resolve(seeded, env, "--format", "json")
    assert done.returncode == 0, done.stderr
    by_query = {row["query"]: row for row in json.loads(done.stdout)}
    assert by_query["pym_ok"]["run_duration_ms"] == 1_234
    assert by_query["pym_ok"]["run_status"] == "COMPLETED"
    assert by_query["pym_missing"]["run_status"] is None
    assert all(set(HEADER.split(",")[10:]) <= set(row) for row in by_query.values())


def test_resolve_runs_without_a_key_is_one_line_exit_2(seeded: RedisServer) -> None:
    """--runs without TRIGGER_SECRET_KEY: one line naming the setting, exit 2, no output."""
    done = resolve(seeded, {})
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: --runs needs TRIGGER_SECRET_KEY")
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        pytest.param(lambda api: {"TRIGGER_SECRET_KEY": "tr_dev_wrong"}, "401", id="wrong-key"),
        pytest.param(lambda api: setattr(api, "malformed", 50) or {}, "JSON", id="malformed"),
        pytest.param(lambda api: api.stop() or {}, "", id="api-down"),
    ],
)
def test_resolve_runs_keeps_every_redis_row_when_the_api_fails(
    seeded: RedisServer, api: TriggerStandIn, setup: Any, reason: str
) -> None:
    """A refused key, malformed answers or a dead API: every Redis row is still there, the
    found ones `unavailable` with why, exit 0, no traceback, the key never shown."""
    env = {"TRIGGER_SECRET_KEY": api.key, "TRIGGER_API_URL": api.url}
    env |= setup(api)
    done = resolve(seeded, env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    by_query = rows(done.stdout)
    assert set(by_query) == {"pym_ok", "pym_bad", "pym_busy", "pym_elsewhere", "pym_missing"}
    for query in RECORDS:
        assert by_query[query]["status"] == "found"
        assert by_query[query]["run_status"] == "unavailable"
        assert reason in by_query[query]["run_error"]
    assert env["TRIGGER_SECRET_KEY"] not in done.stdout + done.stderr
