"""AppTest: the Bulk page keeps the user's own columns (contract §8, issue #15 item 4) —
an uploaded `payment_id,amount,customer,note` file and a pasted spreadsheet selection
come back with their columns after ours, in the table and in the CSV download (the same
bytes as `resolve --keep-columns`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import redis

from apptest_support import capture_downloads, download_bytes, make_app, no_exception
from cli_process import python_m
from redis_server import RedisServer
from telemetry.runs.standin import TriggerStandIn, make_run

BULK = "pages/bulk.py"
OURS = (
    "query,status,entity_type,entity_id,run_id,run_url,organization_id,processed_at,"
    "expires_at,detail"
)
RUNS = "run_status,task_identifier,run_created_at,run_finished_at,run_duration_ms,run_error"
WHEN = datetime.now(tz=UTC).replace(microsecond=0) - timedelta(hours=2)
AT = WHEN.strftime("%Y-%m-%dT%H:%M:%SZ")
UPLOAD = (
    b"payment_id,amount,customer,note\r\n"
    b"pym_ok,42.50,Acme,=SUM(A1:A9)\r\n"
    b'pym_missing,7,"Globex, Inc",call back\r\n'
    b"pym_ok,99,Acme,a second line for pym_ok\r\n"
)
# A selection copied from a spreadsheet: tab-separated, header row included.
SPREADSHEET = "Amount\tPayment ID\tCustomer\tNote\n42.50\tpym_ok\tAcme\tcheck\n7\tpym_missing\t\t\n"
NOT_FOUND = '"no key telemetry:payment:pym_missing: never processed, or expired after the 14 d TTL"'
FOUND = f"pym_ok,found,payment,pym_ok,run_ok,https://cloud.trigger.dev/runs/run_ok,org_1,{AT},,"
KEPT = ["input:amount", "input:customer", "input:note"]


@pytest.fixture
def real(real_redis: redis.Redis) -> redis.Redis:
    """Real mode with pym_ok (rich, no TTL: every CSV cell is deterministic); no pym_missing."""
    value = {"runId": "run_ok", "organizationId": "org_1", "timestamp": f"{AT[:-1]}.000Z"}
    real_redis.set("telemetry:payment:pym_ok", orjson.dumps(value))
    return real_redis


def upload(data: bytes = UPLOAD, name: str = "payments.csv") -> Any:
    at = make_app(page=BULK)
    at.file_uploader(key="bulk_file").set_value((name, data, "text/csv")).run()
    no_exception(at)
    return at


def labels(at: Any) -> dict[str, str]:
    """Column key → header label of the page's table, for the kept columns."""
    config = json.loads(at.dataframe[0].proto.columns)
    return {key: value["label"] for key, value in config.items() if key.startswith("input:")}


def test_uploaded_table_keeps_its_columns_in_the_table_and_the_csv(
    real: redis.Redis, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`payment_id,amount,customer,note`: the table shows amount, customer and note last,
    each row with its line's cells; the CSV is the exact bytes, and those of
    `resolve --keep-columns` on the same file."""
    downloads = capture_downloads(monkeypatch)
    at = upload()
    frame = at.dataframe[0].value
    assert list(at.dataframe[0].proto.column_order)[-3:] == KEPT
    assert labels(at) == dict(zip(KEPT, ["amount", "customer", "note"], strict=True))
    assert list(frame["query"]) == ["pym_ok", "pym_missing"]
    assert [list(frame[key]) for key in KEPT] == [
        ["42.50", "7"],
        ["Acme", "Globex, Inc"],
        ["=SUM(A1:A9)", "call back"],  # the table shows the text; the CSV neutralises it
    ]
    data = download_bytes(downloads, "run-lookup-results.csv")
    assert data.decode("utf-8") == (
        f"{OURS},amount,customer,note\r\n"
        f"{FOUND},42.50,Acme,'=SUM(A1:A9)\r\n"
        f'pym_missing,not_found,payment,pym_missing,,,,,,{NOT_FOUND},7,"Globex, Inc",call back\r\n'
    )
    done = python_m("resolve", "--redis-url", redis_server.url, "--keep-columns", stdin=UPLOAD)
    assert (done.returncode, done.stdout) == (0, data), done.stderr


def test_pasted_spreadsheet_selection_keeps_its_columns(
    real: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tab-separated paste with its header row: the ID column is found (not the first),
    the other three come back under their own names."""
    downloads = capture_downloads(monkeypatch)
    at = make_app(page=BULK)
    at.text_area(key="bulk_text").input(SPREADSHEET).run()
    no_exception(at)
    assert at.selectbox[0].value == "Payment ID"
    keys = ["input:Amount", "input:Customer", "input:Note"]
    assert labels(at) == dict(zip(keys, ["Amount", "Customer", "Note"], strict=True))
    frame = at.dataframe[0].value
    assert [list(frame[key]) for key in keys] == [["42.50", "7"], ["Acme", ""], ["check", ""]]
    assert download_bytes(downloads, "run-lookup-results.csv").decode("utf-8") == (
        f"{OURS},Amount,Customer,Note\r\n"
        f"{FOUND},42.50,Acme,check\r\n"
        f"pym_missing,not_found,payment,pym_missing,,,,,,{NOT_FOUND},7,,\r\n"
    )


def test_a_name_like_ours_gets_input_prefixed(real: redis.Redis) -> None:
    """A column named `status` (ours) is labelled `input_status`, beside our own Status."""
    at = upload(b"payment_id,status\npym_ok,paid\n")
    assert labels(at) == {"input:input_status": "input_status"}
    frame = at.dataframe[0].value
    assert (frame["status"][0], frame["input:input_status"][0]) == ("found", "paid")


def test_a_plain_paste_has_no_kept_columns(real: redis.Redis) -> None:
    """A list of IDs: the table is ours alone."""
    at = make_app(page=BULK)
    at.text_area(key="bulk_text").input("pym_ok\npym_missing\n").run()
    no_exception(at)
    assert labels(at) == {}
    assert not [c for c in at.dataframe[0].value.columns if c.startswith("input:")]


def test_with_run_state_the_kept_columns_come_after_the_run_columns(
    real: redis.Redis,
    trigger_env: TriggerStandIn,
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Run state on: the CSV is ours, the six run columns, then the kept ones — the bytes
    of `resolve --runs --keep-columns`; the table shows the kept columns last."""
    trigger_env.add(
        make_run("run_ok", status="COMPLETED", created_at=WHEN, duration_ms=1_000),
    )
    downloads = capture_downloads(monkeypatch)
    at = upload()
    assert list(at.dataframe[0].proto.column_order)[-3:] == KEPT
    data = download_bytes(downloads, "run-lookup-results.csv")
    text = data.decode("utf-8")
    assert text.startswith(f"{OURS},{RUNS},amount,customer,note\r\n")
    assert text.splitlines()[1].startswith(f"{FOUND},COMPLETED,")
    assert text.splitlines()[1].endswith(",1000,,42.50,Acme,'=SUM(A1:A9)")
    done = python_m(
        "resolve",
        "--redis-url",
        redis_server.url,
        "--runs",
        "--keep-columns",
        stdin=UPLOAD,
    )
    assert (done.returncode, done.stdout) == (0, data), done.stderr
