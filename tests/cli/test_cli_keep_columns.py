"""`resolve --keep-columns` (contract §8) as a user runs it: a subprocess against a real
redis-server, with and without `--runs` (the local stand-in of trigger.dev's API)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from cli_process import python_m
from redis_server import RedisServer
from telemetry.runs.standin import TriggerStandIn, make_run

OURS = (
    "query,status,entity_type,entity_id,run_id,run_url,organization_id,processed_at,"
    "expires_at,detail"
)
RUNS = "run_status,task_identifier,run_created_at,run_finished_at,run_duration_ms,run_error"
WHEN = datetime.now(tz=UTC).replace(microsecond=0) - timedelta(hours=2)
AT = WHEN.strftime("%Y-%m-%dT%H:%M:%SZ")
DONE = (WHEN + timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
# An export as ops have it: their own columns around the ID, one clashing with ours
# ("status"), a formula, a duplicate and an ID that is not in Redis.
TABLE = (
    "amount,payment_id,status,note\r\n"
    '42.50,pym_ok,paid,=HYPERLINK("http://x")\r\n'
    "7,pym_missing,open,\r\n"
    "99,pym_ok,paid,second line of pym_ok\r\n"
)
NOT_FOUND = '"no key telemetry:payment:pym_missing: never processed, or expired after the 14 d TTL"'


@pytest.fixture
def seeded(redis_server: RedisServer, redis_client: redis.Redis) -> RedisServer:
    """pym_ok (rich, no TTL: no time in the output depends on the clock), no pym_missing."""
    value = {"runId": "run_ok", "organizationId": "org_1", "timestamp": f"{AT[:-1]}.000Z"}
    redis_client.set("telemetry:payment:pym_ok", json.dumps(value))
    return redis_server


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "payments.csv"
    path.write_text(TABLE, encoding="utf-8", newline="")
    return path


def resolve(server: RedisServer, *args: str, env: dict[str, str] | None = None) -> Any:
    return python_m("resolve", "--redis-url", server.url, *args, env=env, text=True)


def test_keep_columns_appends_the_inputs_other_columns(seeded: RedisServer, table: Path) -> None:
    """The whole CSV: our ten columns, then amount, input_status (it clashes with ours)
    and note, each row with its own line's cells (the duplicate keeps the first line's),
    the formula neutralised."""
    done = resolve(seeded, "--keep-columns", str(table))
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        f"{OURS},amount,input_status,note\n"
        f"pym_ok,found,payment,pym_ok,run_ok,https://cloud.trigger.dev/runs/run_ok,org_1,{AT},,,"
        '42.50,paid,"\'=HYPERLINK(""http://x"")"\n'
        f"pym_missing,not_found,payment,pym_missing,,,,,,{NOT_FOUND},7,open,\n"
    )


def test_keep_columns_come_after_the_run_columns(
    seeded: RedisServer, table: Path, trigger_api: TriggerStandIn
) -> None:
    """With --runs: our ten, the six run columns, then the kept ones; whole output."""
    trigger_api.add(
        make_run(
            "run_ok",
            status="FAILED",
            created_at=WHEN,
            finished_at=WHEN + timedelta(seconds=3),
            duration_ms=2_500,
            error={"message": "card declined"},
        )
    )
    env = {"TRIGGER_SECRET_KEY": trigger_api.key, "TRIGGER_API_URL": trigger_api.url}
    done = resolve(seeded, "--runs", "--keep-columns", str(table), env=env)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        f"{OURS},{RUNS},amount,input_status,note\n"
        f"pym_ok,found,payment,pym_ok,run_ok,https://cloud.trigger.dev/runs/run_ok,org_1,{AT},,,"
        f"FAILED,attempt-billing-run,{AT},{DONE},2500,card declined,"
        '42.50,paid,"\'=HYPERLINK(""http://x"")"\n'
        f"pym_missing,not_found,payment,pym_missing,,,,,,{NOT_FOUND},,,,,,,7,open,\n"
    )


def test_keep_columns_json_and_table(seeded: RedisServer, table: Path) -> None:
    """--format json carries the kept names as keys; --format table shows them last."""
    done = resolve(seeded, "--keep-columns", "--format", "json", str(table))
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [(r["query"], r["status"], r["amount"], r["input_status"]) for r in rows] == [
        ("pym_ok", "found", "42.50", "paid"),
        ("pym_missing", "not_found", "7", "open"),
    ]
    done = resolve(seeded, "--keep-columns", "--format", "table", str(table))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].split()[-3:] == ["amount", "input_status", "note"]


def test_keep_columns_reads_a_tsv_from_stdin(seeded: RedisServer) -> None:
    """A spreadsheet selection piped in (tab-separated, header row) keeps its columns too."""
    paste = "Payment ID\tCustomer\tNote\npym_ok\tAcme\tcall back\n"
    done = python_m(
        "resolve", "--redis-url", seeded.url, "--keep-columns", stdin=paste.encode(), text=True
    )
    assert done.returncode == 0, done.stderr
    header, row = done.stdout.splitlines()
    assert header == f"{OURS},Customer,Note"
    assert row.endswith(f"{AT},,,Acme,call back")


def test_without_the_flag_the_output_is_unchanged(seeded: RedisServer, table: Path) -> None:
    """No --keep-columns: exactly the ten columns of §5, as before."""
    done = resolve(seeded, str(table))
    assert done.returncode == 0, done.stderr
    assert [line.count(",") for line in done.stdout.splitlines()][:1] == [9]
    assert done.stdout.splitlines()[0] == OURS


def test_keep_columns_on_a_plain_list_is_one_line_exit_2(seeded: RedisServer) -> None:
    """A plain list of IDs has no columns to keep: one line saying so, exit 2, no output."""
    done = python_m(
        "resolve",
        "--redis-url",
        seeded.url,
        "--keep-columns",
        stdin=b"pym_ok\npym_missing\n",
        text=True,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("error: --keep-columns needs a table")
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
