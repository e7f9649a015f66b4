"""AppTest: the Bulk page's run state (issue #14) — the run columns, counts and filter, the
``resolve --runs`` CSV, asking trigger.dev once per result, and every API fault kept off the
Redis rows."""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
import pytest
import redis
from pydantic import SecretStr

from apptest_support import (
    capture_downloads,
    download_bytes,
    make_app,
    metrics,
    no_exception,
    page_text,
    places,
    use_demo,
)
from cli_process import python_m
from redis_server import RedisServer, free_port
from telemetry import Settings, TelemetryReader, parse_ids, results_csv, runs_list_urls
from telemetry.runs import (
    NOT_IN_ENVIRONMENT,
    RunState,
    TriggerClient,
    Unavailable,
    make_http_client,
    resolution_runs,
    run_states,
    runs_csv,
)
from telemetry.runs.standin import TriggerStandIn, make_run
from telemetry.writer import generate_records
from ui import bulk_view, tables

BULK = "pages/bulk.py"
WHEN = datetime.now(tz=UTC).replace(microsecond=0) - timedelta(hours=2)
STAMP = WHEN.strftime("%Y-%m-%dT%H:%M:%S.000Z")
DECLINED = "Your card was declined. **now** <b>x</b>"
# payment ID → run ID; pym_missing has no record, so it is not found.
RECORDS = {
    "pym_ok": "run_ok",
    "pym_bad": "run_bad",
    "pym_crash": "run_crash",
    "pym_busy": "run_busy",
    "pym_elsewhere": "run_elsewhere",  # not in the key's environment: 404
}
PASTE = "pym_ok\npym_bad\npym_crash\npym_busy\npym_elsewhere\npym_missing\n"
QUERIES = ["pym_ok", "pym_bad", "pym_crash", "pym_busy", "pym_elsewhere", "pym_missing"]
# Entity ID is not shown when every row's equals its query (bare IDs, as here).
REDIS_COLUMNS = ["query", "status", "entity_type", "run", "organization_id"]
RUN_HEADER = "run_status,task_identifier,run_created_at,run_finished_at,run_duration_ms,run_error"
CSV_HEADER = (
    "query,status,entity_type,entity_id,run_id,run_url,organization_id,processed_at,"
    "expires_at,detail"
)


def _runs() -> list[dict[str, Any]]:
    created = WHEN - timedelta(seconds=30)
    return [
        make_run("run_ok", status="COMPLETED", created_at=created, duration_ms=1_234),
        make_run(
            "run_bad",
            status="FAILED",
            task="stripe-payment-intent-succeeded",
            created_at=created,
            error={"name": "StripeCardError", "message": DECLINED},
        ),
        make_run("run_crash", status="CRASHED", created_at=created, error={"message": "OOM"}),
        make_run("run_busy", status="EXECUTING", created_at=created),
    ]


@pytest.fixture
def seeded(real_redis: redis.Redis, trigger_env: TriggerStandIn) -> TriggerStandIn:
    """Real mode with run state: five records (no TTL: every CSV cell is deterministic) and
    the API stand-in serving four of their runs."""
    for entity_id, run_id in RECORDS.items():
        value = {"runId": run_id, "organizationId": "org_1", "timestamp": STAMP}
        real_redis.set(f"telemetry:payment:{entity_id}", orjson.dumps(value))
    trigger_env.add(*_runs())
    return trigger_env


def paste(text: str = PASTE) -> Any:
    at = make_app(page=BULK)
    at.text_area(key="bulk_text").input(text).run()
    no_exception(at)
    return at


def table(at: Any) -> Any:
    return at.dataframe[0].value


def run_statuses(at: Any) -> dict[str, Any]:
    frame = table(at)
    statuses = [None if pd.isna(s) else s for s in frame["run_status"]]
    return dict(zip(frame["query"], statuses, strict=True))


def sent_table(at: Any) -> pa.Table:
    """The Arrow table the browser receives for the page's dataframe."""
    return pa.ipc.open_stream(at.dataframe[0].proto.arrow_data.data).read_all()


def filter_labels(at: Any) -> list[str]:
    return list(at.segmented_control(key="bulk_filter").options)


def assert_redis_rows_intact(at: Any) -> None:
    """The Redis side as without run state: counts, and every row with its link."""
    assert metrics(at)["Found"] == "5"
    assert metrics(at)["Not found"] == "1"
    frame = table(at)
    assert list(frame["query"]) == QUERIES
    assert list(frame["status"]) == ["found"] * 5 + ["not_found"]
    assert list(frame["run"])[:5] == [
        f"https://cloud.trigger.dev/runs/{run_id}" for run_id in RECORDS.values()
    ]
    assert set(REDIS_COLUMNS) <= set(frame.columns)


def library_resolution(server: RedisServer) -> Any:
    settings = Settings.load(redis_url=server.url)
    client = server.client()
    try:
        parsed = parse_ids(PASTE, settings.registry, namespace=settings.telemetry_namespace)
        return TelemetryReader(client, settings).resolve(parsed.queries)
    finally:
        client.close()


# -- what the page shows ----------------------------------------------------------------


def test_run_columns_show_each_rows_run_state(seeded: TriggerStandIn) -> None:
    """Found rows get the API's status, task, exact error and finish time; a 404 is
    not_in_environment; a not-found row's run cells are empty."""
    at = paste()
    assert_redis_rows_intact(at)
    assert run_statuses(at) == {
        "pym_ok": "COMPLETED",
        "pym_bad": "FAILED",
        "pym_crash": "CRASHED",
        "pym_busy": "EXECUTING",
        "pym_elsewhere": "not_in_environment",
        "pym_missing": None,
    }
    frame = table(at).set_index("query")
    assert frame.loc["pym_bad", "run_error"] == DECLINED  # exact text, not Markdown
    assert frame.loc["pym_bad", "task"] == "stripe-payment-intent-succeeded"
    assert frame.loc["pym_ok", "task"] == "attempt-billing-run"
    assert frame.loc["pym_elsewhere", "run_error"].startswith("the API does not know this run")
    assert frame.loc["pym_ok", "run_finished_at"] is not None
    assert pd.isna(frame.loc["pym_busy", "run_finished_at"])
    sent = sent_table(at)
    assert pa.types.is_dictionary(sent.schema.field("run_status").type)
    config = at.dataframe[0].proto.column_order
    assert list(config[:7]) == [
        "query",
        "lookup",
        "status",
        "run",
        "run_status",
        "run_error",
        "task",
    ]


def test_counts_by_run_status_and_the_failed_filter_label(seeded: TriggerStandIn) -> None:
    """A line of counts by run status next to found / not found, and "Failed runs (2)"
    (FAILED and CRASHED) in the Show control; no "unavailable" filter when none are."""
    at = paste()
    assert (
        "Runs: 1 COMPLETED · 1 FAILED · 1 CRASHED · 1 EXECUTING · 1 not in environment"
        in page_text(at).replace("**", "")
    )
    assert filter_labels(at) == ["All (6)", "Found (5)", "Not found (1)", "Failed runs (2)"]


def test_failed_runs_filter_is_one_click(seeded: TriggerStandIn) -> None:
    """One click on "Failed runs" leaves exactly the rows whose run failed."""
    at = paste()
    at.segmented_control(key="bulk_filter").set_value("failed_runs").run()
    no_exception(at)
    assert run_statuses(at) == {"pym_bad": "FAILED", "pym_crash": "CRASHED"}


def test_every_element_keeps_its_place_after_the_resolve(
    seeded: TriggerStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run that resolves (progress bar) and asks trigger.dev (Redis rows on screen
    meanwhile) draws counts, run state, downloads, filter and table where every later
    run does (else the browser shows two copies while the next run is under way)."""
    monkeypatch.setattr(bulk_view, "PROGRESS_FROM", 1)  # a progress bar for six IDs too
    at = paste()
    first = places(at)
    assert {("metric", "Found"), ("button_group", "Show"), ("dataframe", "#0")} <= set(first)
    at.run()
    no_exception(at)
    assert places(at) == first
    at.segmented_control(key="bulk_filter").set_value("failed_runs").run()
    no_exception(at)
    assert places(at) == first


def test_filter_and_rerun_ask_nothing_and_resolve_asks_again(seeded: TriggerStandIn) -> None:
    """The answers live with the result: a filter change or a rerun sends no API request;
    the Resolve button asks again (and sees a run's new state)."""
    at = paste()
    asked = seeded.count()
    assert asked == 4  # the README's cost: one list page + two failed runs' errors + the 404
    at.segmented_control(key="bulk_filter").set_value("failed_runs").run()
    at.segmented_control(key="bulk_filter").set_value("all").run()
    at.run()
    no_exception(at)
    assert seeded.count() == asked
    seeded.add(make_run("run_busy", status="COMPLETED", created_at=WHEN - timedelta(seconds=30)))
    next(b for b in at.button if b.label == "Resolve").click().run()
    no_exception(at)
    assert seeded.count() > asked
    assert run_statuses(at)["pym_busy"] == "COMPLETED"


def test_csv_download_is_resolve_runs_byte_for_byte(
    seeded: TriggerStandIn, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Results CSV is ``runs_csv`` of the rows and their outcomes, and the same bytes as
    ``python -m telemetry resolve --runs`` on the same Redis and API."""
    downloads = capture_downloads(monkeypatch)
    paste()
    data = download_bytes(downloads, "run-lookup-results.csv")
    text = data.decode("utf-8")
    assert text.startswith(f"{CSV_HEADER},{RUN_HEADER}\r\n") and text.endswith("\r\n")
    by_query = {row[0]: row for row in csv.reader(io.StringIO(text, newline=""))}
    assert by_query["pym_bad"][10:12] == ["FAILED", "stripe-payment-intent-succeeded"]
    assert by_query["pym_bad"][-1] == DECLINED
    assert by_query["pym_missing"][10:] == [""] * 6
    assert len(by_query) == 1 + len(QUERIES)

    resolution = library_resolution(redis_server)
    with make_http_client() as http:
        client = TriggerClient(http, base_url=seeded.url, key=_secret(seeded.key))
        outcomes = resolution_runs(client, resolution)
    assert data == runs_csv(resolution, outcomes).encode("utf-8")

    done = python_m("resolve", "--runs", "--redis-url", redis_server.url, stdin=PASTE.encode())
    assert done.returncode == 0, done.stderr
    assert done.stdout == data


def _secret(value: str) -> SecretStr:
    return SecretStr(value)


def test_failed_runs_open_in_the_dashboard_on_their_own(
    seeded: TriggerStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With RUNS_LIST_URL_TEMPLATE, a second "open all" link holds only the failed runs."""
    template = "https://cloud.trigger.dev/orgs/o/projects/p/env/prod/runs?{run_ids}"
    monkeypatch.setenv("RUNS_LIST_URL_TEMPLATE", template)
    at = paste()
    buttons = {b.label: b.proto.url for b in at.link_button}
    assert buttons == {
        "Open the 5 found runs in the dashboard": runs_list_urls(list(RECORDS.values()), template)[
            0
        ],
        "Open the 2 failed runs in the dashboard": runs_list_urls(
            ["run_bad", "run_crash"], template
        )[0],
    }


# -- faults: the API never holds back or loses the Redis rows ----------------------------


def _api_down(api: TriggerStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIGGER_API_URL", f"http://127.0.0.1:{free_port()}")


def _wrong_key(api: TriggerStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIGGER_SECRET_KEY", "tr_dev_" + "w" * 20)


def _rate_limit_storm(api: TriggerStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    # One request's budget, refilled only in an hour: the page does not sit that out.
    api.burst, api.refill, api.refill_seconds = 1, 1, 3_600.0


def _server_errors(api: TriggerStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    api.fail_5xx = 1_000


def _malformed(api: TriggerStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    api.malformed = 1_000


@pytest.mark.parametrize(
    ("fault", "reason", "unavailable"),
    [
        (_api_down, "cannot be reached (ConnectError)", 5),
        (_wrong_key, "TRIGGER_SECRET_KEY was refused (401)", 5),
        # The list page is answered (its runs are known); every retrieve after it is refused.
        (_rate_limit_storm, "no rate-limit budget left", 1),
        (_server_errors, "the API is down or slow", 5),
        (_malformed, "with something that is not JSON", 5),
    ],
    ids=["api-down", "401", "429-storm", "5xx", "malformed-json"],
)
def test_api_faults_mark_rows_unavailable_with_the_reason(
    seeded: TriggerStandIn,
    monkeypatch: pytest.MonkeyPatch,
    fault: Any,
    reason: str,
    unavailable: int,
) -> None:
    """Each fault: the affected rows say `unavailable` with the reason as their error, one
    message at the top names it, the Redis rows and counts are intact, no traceback, and the
    key is nowhere on the page."""
    fault(seeded, monkeypatch)
    at = paste()
    assert_redis_rows_intact(at)
    frame = table(at)
    gone = frame[frame["run_status"] == "unavailable"]
    assert len(gone) == unavailable
    assert all(reason in text for text in gone["run_error"]), list(gone["run_error"])
    assert pd.isna(frame["run_status"].iloc[5])  # the not-found row has no run state
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1
    assert f"Run state unavailable for {unavailable} row" in page_text(at)
    assert reason in page_text(at)
    assert f"Run state unavailable ({unavailable})" in filter_labels(at)
    assert seeded.key not in page_text(at) and "w" * 20 not in page_text(at)


def test_unknown_status_is_shown_as_sent_and_named(seeded: TriggerStandIn) -> None:
    """A status the app does not know is shown as the API sent it, and named once above."""
    seeded.add(make_run("run_busy", status="HIBERNATING", created_at=WHEN - timedelta(seconds=30)))
    at = paste()
    assert_redis_rows_intact(at)
    assert run_statuses(at)["pym_busy"] == "HIBERNATING"
    assert "a run status this app does not know: `HIBERNATING`" in page_text(at)
    assert "1 HIBERNATING" in page_text(at)


def test_an_unexpected_failure_keeps_the_redis_rows(
    seeded: TriggerStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in the run-state path (not an API answer) is caught at the page's edge: every
    found row unavailable with the error's text, no traceback, the Redis rows intact."""

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the stand-in of a bug")

    monkeypatch.setattr(bulk_view, "resolution_runs", broken)
    at = paste()
    assert_redis_rows_intact(at)
    assert list(table(at)["run_status"])[:5] == ["unavailable"] * 5
    assert "run state could not be learned: RuntimeError: the stand-in of a bug" in page_text(at)


# -- run state off ------------------------------------------------------------------------


def test_without_a_key_the_page_is_as_before(
    real_redis: redis.Redis,
    trigger_api: TriggerStandIn,
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No TRIGGER_SECRET_KEY (and not demo mode): no run columns, section or filter, no API
    request, and the CSV has the contract's ten columns only."""
    for entity_id, run_id in RECORDS.items():
        value = {"runId": run_id, "organizationId": "org_1", "timestamp": STAMP}
        real_redis.set(f"telemetry:payment:{entity_id}", orjson.dumps(value))
    downloads = capture_downloads(monkeypatch)
    at = paste()
    assert "run_status" not in table(at).columns
    assert "Runs:" not in page_text(at)
    assert filter_labels(at) == ["All (6)", "Found (5)", "Not found (1)"]
    data = download_bytes(downloads, "run-lookup-results.csv")
    assert data.decode("utf-8").split("\r\n")[0] == CSV_HEADER
    assert data == results_csv(library_resolution(redis_server)).encode("utf-8")
    assert trigger_api.count() == 0


# -- demo mode and the library hook -------------------------------------------------------


def test_demo_paste_of_1000_ids_filters_to_failed_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Demo mode, no key: 1,000 demo IDs get run states from the demo stand-in, and the
    failed filter holds only failed statuses (the issue's "done when", in AppTest)."""
    use_demo(monkeypatch, records=5_000)
    monkeypatch.delenv("TRIGGER_SECRET_KEY", raising=False)
    ids = [r.entity_id for r in generate_records(5_000, seed=7)][:1_000]
    started = time.monotonic()
    at = paste("\n".join(ids))
    elapsed = time.monotonic() - started
    labels = filter_labels(at)
    failed = next(label for label in labels if label.startswith("Failed runs ("))
    count = int(failed.removeprefix("Failed runs (").removesuffix(")").replace(",", ""))
    assert count > 0
    at.segmented_control(key="bulk_filter").set_value("failed_runs").run()
    no_exception(at)
    statuses = set(table(at)["run_status"])
    assert len(table(at)) == count
    assert statuses <= {"FAILED", "CRASHED", "SYSTEM_FAILURE", "TIMED_OUT", "CANCELED", "EXPIRED"}
    assert elapsed < 30, f"the demo paste took {elapsed:.1f} s"


def test_run_states_reports_progress() -> None:
    """``on_progress(learned, total)`` is called as runs become known, ending at the total."""
    calls: list[tuple[int, int]] = []
    wanted: dict[str, datetime | None] = {run_id: WHEN for run_id in RECORDS.values()}
    with TriggerStandIn(_runs()) as api, make_http_client() as http:
        client = TriggerClient(http, base_url=api.url, key=_secret(api.key))
        run_states(client, wanted, on_progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (5, 5)
    assert {total for _, total in calls} == {5}
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_a_far_rate_limit_reset_is_not_sat_out() -> None:
    """A budget used up until a reset beyond the page's patience (the 429 storm above): the
    client says so at once instead of sleeping until the reset; what it learned is kept."""
    slept: list[float] = []
    wanted: dict[str, datetime | None] = {"run_ok": None, "run_bad": None}
    api = TriggerStandIn(_runs(), burst=1, refill=1, refill_seconds=3_600)
    with api, make_http_client() as http:
        client = TriggerClient(
            http, base_url=api.url, key=_secret(api.key), max_wait_seconds=20, sleep=slept.append
        )
        outcomes = run_states(client, wanted)
    assert outcomes["run_ok"].status == "COMPLETED"
    reason = outcomes["run_bad"].reason  # type: ignore[union-attr]
    assert "has no rate-limit budget left for run run_bad until its reset in" in reason
    assert api.count() == 1 and slept == []


def test_run_table_codes_the_status_and_counts_rows() -> None:
    """``run_table`` on 40,000 rows: Run status as an Arrow dictionary, counts by status most
    first, the unavailable reasons, unknown statuses, and each failed run once."""
    n = 40_000
    base = pa.table({"query": [f"pym_{i}" for i in range(n)]})
    run_ids = [f"run_{i % 39_000}" if i % 8 else None for i in range(n)]
    failed = RunState("run_x", "FAILED", "task-a", WHEN, WHEN, WHEN, 5, error_message="boom")
    done = RunState("run_y", "COMPLETED", "task-a", WHEN, WHEN, WHEN, 5)
    odd = RunState("run_z", "HIBERNATING")
    down = Unavailable("API down")
    choices = [failed, done, done, odd, down, NOT_IN_ENVIRONMENT, done]
    outcomes = [None if run_id is None else choices[i % 7] for i, run_id in enumerate(run_ids)]
    view = tables.run_table(base, run_ids, outcomes)
    assert pa.types.is_dictionary(view.table.schema.field("run_status").type)
    assert view.table.column_names == [
        "query", "run_status", "task", "run_error", "run_finished_at"
    ]  # fmt: skip
    expected = Counter(o.status for o in outcomes if o is not None)
    assert view.counts == dict(expected.most_common())
    assert next(iter(view.counts)) == "COMPLETED"  # most first
    assert view.unavailable == {"API down": expected["unavailable"]}
    assert view.unknown == ("HIBERNATING",)
    failed_ids = [r for r, o in zip(run_ids, outcomes, strict=True) if o is failed]
    assert view.failed_run_ids == list(dict.fromkeys(failed_ids))
    errors = view.table["run_error"].to_pylist()
    assert (errors[0], errors[1], errors[7]) == (None, None, "boom")  # no run; done; failed
