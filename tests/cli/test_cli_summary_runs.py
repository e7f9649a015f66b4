"""`summary --runs` (contract §6) and `resolve --runs --format table` as a user runs them:
a subprocess against a real redis-server and the local stand-in of trigger.dev's API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from cli_process import python_m
from redis_server import RedisServer
from telemetry.runs.standin import TriggerStandIn, make_run

WHEN = datetime.now(tz=UTC).replace(microsecond=0) - timedelta(hours=2)
STAMP = WHEN.strftime("%Y-%m-%dT%H:%M:%S.000Z")
OLD = (WHEN - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
RECORDS = {
    ("payment", "pym_ok1"): "run_ok1",
    ("payment", "pym_ok2"): "run_ok2",
    ("payment", "pym_bad"): "run_bad",
    ("invoice", "inv_ok"): "run_ok3",
    ("invoice", "inv_busy"): "run_busy",
    ("invoice", "inv_elsewhere"): "run_elsewhere",  # not in the key's environment: 404
}
RUNS = [
    make_run("run_ok1", created_at=WHEN),
    make_run("run_ok2", created_at=WHEN),
    make_run("run_ok3", created_at=WHEN),
    make_run("run_busy", status="EXECUTING", created_at=WHEN),
    make_run(
        "run_bad",
        status="FAILED",
        created_at=WHEN,
        error={"name": "StripeError", "message": "=card declined\x1b[31m"},
    ),
    make_run("run_old", created_at=WHEN - timedelta(days=3)),
]
SUMMARY_JSON = {
    "scanned_keys": 7,
    "records": 6,
    "invalid_records": 0,
    "complete": True,
    "groups": [
        {
            "entity_type": "invoice",
            "organization_id": "org_1",
            "records": 3,
            "latest_processed_at": WHEN.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        {
            "entity_type": "payment",
            "organization_id": "org_1",
            "records": 3,
            "latest_processed_at": WHEN.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    ],
}


@pytest.fixture
def seeded(redis_server: RedisServer, redis_client: redis.Redis) -> RedisServer:
    """Six records in the last 24 h, one three days old (outside the default window)."""
    for (entity_type, entity_id), run_id in RECORDS.items():
        value = {"runId": run_id, "organizationId": "org_1", "timestamp": STAMP}
        redis_client.set(f"telemetry:{entity_type}:{entity_id}", json.dumps(value), ex=3_600)
    old = {"runId": "run_old", "organizationId": "org_1", "timestamp": OLD}
    redis_client.set("telemetry:payment:pym_old", json.dumps(old), ex=3_600)
    return redis_server


@pytest.fixture
def api() -> Iterator[TriggerStandIn]:
    with TriggerStandIn(RUNS) as standin:
        yield standin


def summary(server: RedisServer, env: dict[str, str], *args: str) -> Any:
    return python_m("summary", "--runs", "--redis-url", server.url, *args, env=env, text=True)


def test_summary_runs_json_adds_run_statuses(seeded: RedisServer, api: TriggerStandIn) -> None:
    """--format json: the summary as without --runs, plus run_statuses over the window's
    records (404 = not_in_environment); one list page, no retrieve but the 404's."""
    env = {"TRIGGER_SECRET_KEY": api.key, "TRIGGER_API_URL": api.url}
    done = summary(seeded, env, "--format", "json")
    assert (done.returncode, done.stderr) == (0, "")
    body = json.loads(done.stdout)
    assert body.pop("window_start")
    assert body == {
        **SUMMARY_JSON,
        "run_statuses": [
            {"entity_type": "invoice", "run_status": "COMPLETED", "records": 1},
            {"entity_type": "invoice", "run_status": "EXECUTING", "records": 1},
            {"entity_type": "invoice", "run_status": "not_in_environment", "records": 1},
            {"entity_type": "payment", "run_status": "COMPLETED", "records": 2},
            {"entity_type": "payment", "run_status": "FAILED", "records": 1},
        ],
    }
    assert (api.count("/api/v1/runs"), api.count("/api/v3/runs")) == (1, 1)


def test_summary_runs_csv_is_the_run_statuses(seeded: RedisServer, api: TriggerStandIn) -> None:
    """--format csv with --runs prints the run_statuses rows as CSV (whole output), over
    the --type filter; without --runs the contract's groups CSV is unchanged."""
    env = {"TRIGGER_SECRET_KEY": api.key, "TRIGGER_API_URL": api.url}
    done = summary(seeded, env, "--type", "payment", "--since", "7d")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "entity_type,run_status,records\npayment,COMPLETED,3\npayment,FAILED,1\n"
    plain = python_m("summary", "--redis-url", seeded.url, env=env, text=True)
    assert plain.stdout.splitlines()[0] == "entity_type,organization_id,records,latest_processed_at"


def test_summary_runs_without_a_key_is_one_line_exit_2(seeded: RedisServer) -> None:
    """--runs without TRIGGER_SECRET_KEY: one line naming the setting, exit 2, no output."""
    done = summary(seeded, {}, "--format", "json")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: --runs needs TRIGGER_SECRET_KEY")
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        pytest.param(lambda api: {"TRIGGER_SECRET_KEY": "tr_dev_wrong"}, "401", id="wrong-key"),
        pytest.param(lambda api: setattr(api, "malformed", 50) or {}, "JSON", id="malformed"),
        pytest.param(lambda api: api.stop() or {}, "trigger.dev", id="api-down"),
    ],
)
def test_summary_runs_api_failure_is_unavailable_with_the_reason(
    seeded: RedisServer, api: TriggerStandIn, setup: Any, reason: str
) -> None:
    """A refused key, malformed answers or a dead API: the summary is printed whole, every
    record counted `unavailable`, the reason one line on stderr, exit 0, no traceback."""
    env = {"TRIGGER_SECRET_KEY": api.key, "TRIGGER_API_URL": api.url}
    env |= setup(api)
    done = summary(seeded, env, "--format", "json")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["groups"] == SUMMARY_JSON["groups"]
    assert body["run_statuses"] == [
        {"entity_type": "invoice", "run_status": "unavailable", "records": 3},
        {"entity_type": "payment", "run_status": "unavailable", "records": 3},
    ]
    lines = done.stderr.splitlines()
    # One line per reason, the commonest three (malformed answers name their run each).
    assert 1 <= len(lines) <= 4
    assert all(line.startswith("warning: run state unavailable for ") for line in lines)
    assert reason in lines[0] and "Traceback" not in done.stderr
    assert env["TRIGGER_SECRET_KEY"] not in done.stdout + done.stderr


def test_resolve_runs_table_adds_status_task_and_error(
    seeded: RedisServer, api: TriggerStandIn
) -> None:
    """resolve --runs --format table: the terminal table with run_status, task and the
    error (control characters escaped), not found rows left blank."""
    env = {"TRIGGER_SECRET_KEY": api.key, "TRIGGER_API_URL": api.url}
    done = python_m(
        "resolve",
        "--runs",
        "--format",
        "table",
        "--redis-url",
        seeded.url,
        stdin=b"pym_ok1\npym_bad\ninv_elsewhere\npym_missing\n",
        env=env,
        text=True,
    )
    assert (done.returncode, done.stderr) == (0, "")
    header, _rule, *lines = done.stdout.splitlines()
    assert header.split() == [
        "query",
        "status",
        "entity_type",
        "run_id",
        "organization_id",
        "processed_at",
        "run_status",
        "task_identifier",
        "run_error",
    ]
    cells = {line.split()[0]: line.split() for line in lines}
    assert cells["pym_ok1"][-2:] == ["COMPLETED", "attempt-billing-run"]
    assert cells["pym_bad"][-4:] == ["FAILED", "attempt-billing-run", "=card", "declined\\x1b[31m"]
    assert cells["inv_elsewhere"][7:10] == ["not_in_environment", "the", "API"]
    assert (
        cells["pym_missing"][:2] == ["pym_missing", "not_found"] and len(cells["pym_missing"]) == 3
    )
    assert "\x1b" not in done.stdout
