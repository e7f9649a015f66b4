"""`summary --rows` (contract §9), the invalid-count rule and ORG_NAMES_PATH as a user runs
them: a subprocess against a real redis-server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from cli_process import python_m
from redis_server import RedisServer

TTL = 1_209_600
NOW = datetime.now(tz=UTC).replace(microsecond=0)
RUN = "https://cloud.trigger.dev/runs/"
HEADER = (
    "processed_at,entity_type,entity_id,organization_id,run_id,run_url,expires_at,"
    "processed_at_inferred,metadata\n"
)


def stamp(hours: float) -> str:
    return (NOW - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def seeded(redis_server: RedisServer, redis_client: redis.Redis) -> RedisServer:
    """Rich records without TTL (so every cell is exact): two payments and an invoice in the
    last 24 h, a payment 30 h old; invalid keys written 1 h and 30 h ago (by their TTL)."""
    records = [
        ("payment", "pym_1", "run_1", "org_A", 1, {"status": "succeeded", "amount": 4200}),
        ("payment", "pym_2", "run_2", "org_B", 3, None),
        ("invoice", "inv_1", "run_3", "org_A", 2, {"status": "=paid"}),
        ("payment", "pym_old", "run_4", "org_A", 30, None),
    ]
    for entity_type, entity_id, run_id, org, hours, metadata in records:
        value = {"runId": run_id, "organizationId": org, "timestamp": stamp(hours)}
        if metadata:
            value["metadata"] = metadata
        redis_client.set(f"telemetry:{entity_type}:{entity_id}", json.dumps(value))
    redis_client.set("telemetry:payment:pym_bad", "{nope", ex=TTL - 3600)
    redis_client.set("telemetry:invoice:inv_bad", "[]", ex=TTL - 30 * 3600)
    return redis_server


def run(server: RedisServer, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = python_m("summary", "--redis-url", server.url, *args, env=env, text=True)
    return proc.returncode, proc.stdout, proc.stderr


def test_rows_are_every_record_of_the_window_newest_first(seeded: RedisServer) -> None:
    """--rows: the header of §9 and one row per record in the window, newest first, whole."""
    code, out, err = run(seeded, "--rows")
    assert (code, err) == (0, "")
    meta_1 = '"{""status"":""succeeded"",""amount"":4200}"'
    meta_3 = '"{""status"":""=paid""}"'  # not a cell start, and no , ; or tab before it
    assert out == (
        HEADER
        + f"{stamp(1)},payment,pym_1,org_A,run_1,{RUN}run_1,,false,{meta_1}\n"
        + f"{stamp(2)},invoice,inv_1,org_A,run_3,{RUN}run_3,,false,{meta_3}\n"
        + f"{stamp(3)},payment,pym_2,org_B,run_2,{RUN}run_2,,false,\n"
    )  # text mode: the CSV's \r\n reads as \n


def test_rows_follow_type_org_and_window(seeded: RedisServer) -> None:
    """--type, --org and --since choose the rows as they choose the summary's counts."""
    code, out, _ = run(seeded, "--rows", "--type", "payment", "--org", "org_A", "--since", "7d")
    assert code == 0
    assert [line.split(",")[2] for line in out.splitlines()[1:]] == ["pym_1", "pym_old"]
    code, out, _ = run(seeded, "--rows", "--org", "org_nobody")
    assert (code, out) == (0, HEADER)


def test_rows_print_csv_only(seeded: RedisServer) -> None:
    """--rows with --format json is one line on stderr, exit 2."""
    code, out, err = run(seeded, "--rows", "--format", "json")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "--rows prints CSV" in err


@pytest.mark.parametrize(("since", "invalid"), [("24h", 1), ("7d", 2)])
def test_invalid_records_count_by_their_time_in_the_window(
    seeded: RedisServer, since: str, invalid: int
) -> None:
    """JSON invalid_records: only invalid keys whose TTL-inferred time is in the window."""
    code, out, _ = run(seeded, "--since", since, "--format", "json")
    assert code == 0
    assert json.loads(out)["invalid_records"] == invalid


def test_org_names_add_a_column_and_a_bad_file_is_one_line(
    seeded: RedisServer, tmp_path: Path
) -> None:
    """ORG_NAMES_PATH: organization_name after organization_id in both CSVs; a bad file is a
    one-line error naming the path and the line, exit 2; unset, the headers are the contract's."""
    names = tmp_path / "orgs.csv"
    names.write_text("organization_id,name\norg_A,Acme\n", encoding="utf-8")
    env = {"ORG_NAMES_PATH": str(names)}
    code, out, _ = run(seeded, env=env)
    assert code == 0
    assert out.splitlines()[:2] == [
        "entity_type,organization_id,organization_name,records,latest_processed_at",
        f"invoice,org_A,Acme,1,{stamp(2)}",
    ]
    code, out, _ = run(seeded, "--rows", "--org", "org_A", env=env)
    assert out.splitlines()[0] == HEADER.strip().replace(
        "organization_id,", "organization_id,organization_name,"
    )
    assert out.splitlines()[1].startswith(f"{stamp(1)},payment,pym_1,org_A,Acme,run_1,")
    code, out, _ = run(seeded)
    assert out.splitlines()[0] == "entity_type,organization_id,records,latest_processed_at"
    names.write_text("organization_id,name\norg_A,Acme\norg_B\n", encoding="utf-8")
    code, out, err = run(seeded, "--rows", env=env)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert f"ORG_NAMES_PATH={names}, line 3: expected 2 cells" in err
