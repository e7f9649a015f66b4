"""AppTest: the Bulk resolve page (paste/upload → counts, table, downloads, limits, failures)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
import redis

from apptest_support import (
    capture_downloads,
    download_bytes,
    dropping_client,
    make_app,
    metrics,
    no_exception,
    page_text,
    use_redis,
)
from redis_server import RedisServer
from telemetry import runs_list_urls
from ui import context
from ui.format import record_text

BULK = "pages/bulk.py"
# Every paste shape at once, with duplicates: bare, quoted with a trailing comma,
# type:id, the full key, Slack backticks, ; , and tab separators, a formula-like
# token and a non-ASCII one.
PASTE = (
    "pym_aaa\n"
    '"pym_aaa",\n'
    "payment:pym_aaa\n"
    "telemetry:invoice:inv_bbb\n"
    "`sub_ccc`; inv_bbb, inv_missing\n"
    "event_ddd\tntf_eee\n"
    "-pym_x bad☃id1\n"
)
# The whole download, byte for byte: contract header, input order, CRLF line ends,
# formula-like cells neutralised with a leading apostrophe.
EXPECTED_CSV = (
    "query,status,entity_type,entity_id,run_id,run_url,organization_id,processed_at,"
    "expires_at,detail\r\n"
    "pym_aaa,found,payment,pym_aaa,run_pay1,https://cloud.trigger.dev/runs/run_pay1,org_1,"
    "2026-11-20T10:15:00Z,,\r\n"
    "telemetry:invoice:inv_bbb,found,invoice,inv_bbb,run_inv1,"
    "https://cloud.trigger.dev/runs/run_inv1,,,,key has no TTL: processing time unknown\r\n"
    "sub_ccc,found,subscription,sub_ccc,run_sub1,https://cloud.trigger.dev/runs/run_sub1,"
    '"\'=HYPERLINK(""http://x"")",2026-11-21T08:00:00.250Z,,\r\n'
    'inv_missing,not_found,invoice,inv_missing,,,,,,"no key telemetry:invoice:inv_missing: '
    'never processed, or expired after the 14 d TTL"\r\n'
    "event_ddd,invalid_record,webhook,event_ddd,,,,,,"
    "invalid record at telemetry:webhook:event_ddd: value is not JSON\r\n"
    "ntf_eee,found,notification,ntf_eee,run_ntf1,https://cloud.trigger.dev/runs/run_ntf1,,,,"
    "key has no TTL: processing time unknown\r\n"
    "'-pym_x,not_found,,'-pym_x,,,,,,\"unknown ID prefix; checked 9 entity types (payment, "
    "invoice, billing_run, billing_period, subscription, organization, webhook, customer, "
    'notification) under telemetry:<type>:-pym_x: none found"\r\n'
    "bad☃id1,invalid_id,,,,,,,,\"contains non-ASCII character '☃' (U+2603 SNOWMAN); "
    'IDs are plain ASCII"\r\n'
)


@pytest.fixture
def real(real_redis: redis.Redis) -> redis.Redis:
    """Real mode on the emptied session redis-server, seeded with the records PASTE hits.

    The keys have no TTL, so no time in the CSV depends on the clock.
    """
    redis_client = real_redis
    records: dict[str, Any] = {
        "telemetry:payment:pym_aaa": {
            "runId": "run_pay1",
            "entityType": "payment",
            "entityId": "pym_aaa",
            "organizationId": "org_1",
            "timestamp": "2026-11-20T10:15:00.000Z",
            "metadata": {"status": "succeeded"},
        },
        "telemetry:invoice:inv_bbb": {"runId": "run_inv1"},
        "telemetry:subscription:sub_ccc": {
            "runId": "run_sub1",
            "organizationId": '=HYPERLINK("http://x")',
            "timestamp": "2026-11-21T08:00:00.250Z",
        },
        "telemetry:notification:ntf_eee": {"runId": "run_ntf1"},
    }
    for key, value in records.items():
        redis_client.set(key, orjson.dumps(value))
    redis_client.set("telemetry:webhook:event_ddd", b"{not json")
    return redis_client


def paste(text: str) -> Any:
    at = make_app(page=BULK)
    at.text_area(key="bulk_text").input(text).run()
    no_exception(at)
    return at


def test_mixed_paste_counts_and_exact_csv_download(
    real: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every paste shape with duplicates: exact counts, and the CSV download byte for byte."""
    downloads = capture_downloads(monkeypatch)
    at = paste(PASTE)
    assert metrics(at) == {
        "Pasted": "11",
        "Unique": "8",
        "Duplicates dropped": "3",
        "Found": "4",
        "Not found": "2",
        "Invalid": "2",
    }
    assert download_bytes(downloads, "run-lookup-results.csv") == EXPECTED_CSV.encode("utf-8")


def test_table_links_runs_and_filters_by_status(real: redis.Redis) -> None:
    """The table links each found run (URL cell, run ID as link text); the filter narrows it."""
    at = paste(PASTE)
    table = at.dataframe[0].value
    assert list(table["query"]) == [
        "pym_aaa",
        "telemetry:invoice:inv_bbb",
        "sub_ccc",
        "inv_missing",
        "event_ddd",
        "ntf_eee",
        "-pym_x",
        "bad☃id1",
    ]
    assert table["run"][0] == "https://cloud.trigger.dev/runs/run_pay1"
    config = json.loads(at.dataframe[0].proto.columns)["run"]["type_config"]
    assert config == {"type": "link", "display_text": ".*(run_[A-Za-z0-9]+)"}
    at.segmented_control(key="bulk_filter").set_value("not_found").run()
    no_exception(at)
    assert list(at.dataframe[0].value["query"]) == ["inv_missing", "-pym_x"]


def _sent_table(at: Any) -> pa.Table:
    """The Arrow table the browser receives for the page's dataframe."""
    return pa.ipc.open_stream(at.dataframe[0].proto.arrow_data.data).read_all()


def test_run_cell_of_a_row_without_a_link_is_empty(real: redis.Redis) -> None:
    """A row with no run (not found, invalid) has an empty Run cell, not the text "None"."""
    sent = _sent_table(paste(PASTE))
    assert sent["run"].null_count == 0
    runs = dict(zip(sent["query"].to_pylist(), sent["run"].to_pylist(), strict=True))
    assert runs["inv_missing"] == runs["event_ddd"] == runs["bad☃id1"] == ""
    assert runs["sub_ccc"] == "https://cloud.trigger.dev/runs/run_sub1"


def test_repeated_text_columns_are_sent_once_per_value(real: redis.Redis) -> None:
    """Columns whose values repeat (status, entity type, organization, detail) go as Arrow
    dictionaries, each value once, and read as the same text; the ID columns stay text."""
    for i in range(20):
        record = {"runId": f"run_r{i}", "organizationId": f"org_{i % 2}"}
        real.set(f"telemetry:payment:pym_r{i}", orjson.dumps(record), ex=3600)
    at = paste("\n".join(f"pym_r{i}" for i in range(30)))
    sent = _sent_table(at)
    coded = {"status", "entity_type", "organization_id", "detail"}
    for name in sent.column_names:
        assert pa.types.is_dictionary(sent.schema.field(name).type) is (name in coded), name
    assert sent["status"].to_pylist() == ["found"] * 20 + ["not_found"] * 10
    assert sent["entity_type"].to_pylist() == ["payment"] * 30
    assert sent["organization_id"].to_pylist() == ["org_0", "org_1"] * 10 + [None] * 10
    assert sent["detail"].to_pylist()[:20] == ["time inferred from TTL"] * 20
    assert sent["detail"].to_pylist()[20].startswith("no key telemetry:payment:pym_r20: ")
    assert list(at.dataframe[0].value["status"]) == ["found"] * 20 + ["not_found"] * 10
    at.segmented_control(key="bulk_filter").set_value("not_found").run()
    no_exception(at)
    assert _sent_table(at)["query"].to_pylist() == [f"pym_r{i}" for i in range(20, 30)]


def test_entity_id_column_is_the_parsed_id_not_the_query(real: redis.Redis) -> None:
    """The Entity ID column holds the ID parsed out of a query (``type:id`` → ``id``), only
    where it differs from the query: a bare ID is not repeated."""
    sent = _sent_table(paste(PASTE))
    assert sent["entity_id"].to_pylist() == [None, "inv_bbb", None, None, None, None, None, None]
    assert sent["query"].to_pylist()[1] == "telemetry:invoice:inv_bbb"


def test_page_script_is_a_thin_entry_point() -> None:
    """pages/bulk.py only calls ``bulk_view.page()``: AppTest recompiles it on every run."""
    source = (Path(__file__).resolve().parents[2] / BULK).read_text(encoding="utf-8")
    code = [line for line in source.splitlines() if line and not line.startswith('"""')]
    assert code == ["from ui import bulk_view", "bulk_view.page()"]


def test_missing_ids_download_and_copy_block(
    real: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The not-found IDs: a .txt download (one per line) and a copyable code block."""
    downloads = capture_downloads(monkeypatch)
    at = paste(PASTE)
    assert download_bytes(downloads, "run-lookup-not-found.txt") == b"inv_missing\n-pym_x\n"
    assert "inv_missing\n-pym_x" in [c.value for c in at.code]


def test_filter_change_and_rerun_do_not_query_redis_again(
    real: redis.Redis, redis_server: RedisServer
) -> None:
    """Results live in session state: changing the filter reruns without a Redis read."""
    at = paste(PASTE)
    before = redis_server.commandstats()
    at.segmented_control(key="bulk_filter").set_value("found").run()
    at.run()
    no_exception(at)
    after = redis_server.commandstats()
    assert after.get("mget", 0) == before.get("mget", 0)
    assert after.get("pttl", 0) == before.get("pttl", 0)
    assert len(at.dataframe[0].value) == 4


def test_resolve_again_queries_redis(real: redis.Redis, redis_server: RedisServer) -> None:
    """Resolve on an input already resolved re-reads Redis and picks up a new record."""
    at = paste("pym_late")
    assert metrics(at)["Found"] == "0"
    real.set("telemetry:payment:pym_late", orjson.dumps({"runId": "run_late"}))
    next(b for b in at.button if b.label == "Resolve").click().run()
    no_exception(at)
    assert metrics(at)["Found"] == "1"


def test_over_the_limit_is_a_clear_message(
    real: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More unique IDs than MAX_IDS: a message with the count and the limit, no table."""
    monkeypatch.setenv("MAX_IDS", "5")
    at = paste("\n".join(f"pym_{i}" for i in range(6)))
    assert "6 unique IDs pasted; the limit is 5 per request" in page_text(at)
    assert not at.dataframe


def test_ten_megabyte_paste_is_refused_cleanly(real: redis.Redis) -> None:
    """A 10 MB paste (400,000 IDs) ends in the limit message, not a hang or a traceback."""
    ids = "\n".join(f"pym_{i:021d}" for i in range(400_000))
    assert len(ids) > 10_000_000
    at = paste(ids)
    assert "400,000 unique IDs pasted; the limit is 100,000 per request" in page_text(at)
    assert not at.dataframe


def test_csv_upload_guesses_the_id_column_and_can_switch(real: redis.Redis) -> None:
    """A CSV file: the ID column is guessed (picker defaults to it); another can be picked."""
    data = b"order,payment_ref,note\n1001,pym_aaa,first\n1002,pym_zzz,second\n1003,pym_aaa,x\n"
    at = make_app(page=BULK)
    at.file_uploader(key="bulk_file").set_value(("orders.csv", data, "text/csv")).run()
    no_exception(at)
    picker = at.selectbox[0]
    assert picker.value == "payment_ref"
    assert picker.options == ["order", "payment_ref", "note"]
    assert metrics(at) == {
        "Pasted": "3",
        "Unique": "2",
        "Duplicates dropped": "1",
        "Found": "1",
        "Not found": "1",
        "Invalid": "0",
    }
    picker.set_value("order").run()
    no_exception(at)
    assert metrics(at)["Unique"] == "3"
    assert metrics(at)["Found"] == "0"


def test_hostile_file_and_column_names_are_shown_as_exact_text(real: redis.Redis) -> None:
    """A file and an ID column named like a link, a shortcode and an icon: the column picker's
    label (Markdown) holds them escaped, the options as plain text."""
    name = "evil:material/warning: www.x.io.csv"
    header = ":smile:www.evil.example"
    data = f"n,{header}\n1,pym_aaa\n2,pym_zzz\n".encode()
    at = make_app(page=BULK)
    at.file_uploader(key="bulk_file").set_value((name, data, "text/csv")).run()
    no_exception(at)
    picker = at.selectbox[0]
    assert picker.options == ["n", header]
    assert picker.value == header
    label = f"ID column of {record_text(name, code=True)} (guessed: {record_text(header)})"
    assert picker.label == label
    assert ":material/warning:" not in picker.label  # rewritten by Streamlit even in code


def test_binary_upload_is_refused_with_a_reason(real: redis.Redis) -> None:
    """A binary file (an image) gets a clear message, not a traceback."""
    at = make_app(page=BULK)
    at.file_uploader(key="bulk_file").set_value(
        ("ids.txt", b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "text/plain")
    ).run()
    no_exception(at)
    assert "looks binary" in page_text(at)


def test_runs_list_links_open_found_runs_in_the_dashboard(
    real: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With RUNS_LIST_URL_TEMPLATE, a link opens every found run in the dashboard's list."""
    template = "https://cloud.trigger.dev/orgs/o/projects/p/env/prod/runs?{run_ids}"
    monkeypatch.setenv("RUNS_LIST_URL_TEMPLATE", template)
    at = paste(PASTE)
    urls = [b.proto.url for b in at.link_button]
    assert urls == runs_list_urls(["run_pay1", "run_inv1", "run_sub1", "run_ntf1"], template)
    assert urls == [
        "https://cloud.trigger.dev/orgs/o/projects/p/env/prod/runs?"
        "runId=run_pay1&runId=run_inv1&runId=run_sub1&runId=run_ntf1"
    ]


def test_partial_failure_keeps_rows_and_warns(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Redis failing mid-way: a warning with the error; rows read so far are kept."""

    client = dropping_client(ok_pipelines=1)
    client.set("telemetry:payment:pym_0", orjson.dumps({"runId": "run_0"}))
    use_redis(monkeypatch, tmp_path, "redis://127.0.0.1:1/0")
    monkeypatch.setattr(context, "client_factory", lambda settings: client)
    at = paste("\n".join(f"pym_{i}" for i in range(1_001)))  # two chunks of keys
    text = page_text(at)
    assert "Incomplete" in text
    assert "Redis failed after 1,000 of 1,001 keys" in text
    assert metrics(at)["Found"] == "1"
    assert metrics(at)["Errors"] == "1"
    assert len(at.dataframe[0].value) == 1_001
