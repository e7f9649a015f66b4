"""Run outcomes of a summary window (telemetry.runs.outcomes): counts by type × run status,
failure share, failed entities newest first, the CSVs, and what the API is asked."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import fakeredis
import httpx
import orjson
import pytest
from pydantic import SecretStr

from clocks import NOW
from telemetry.config import Settings
from telemetry.reader import TelemetryReader
from telemetry.runs import NOT_IN_ENVIRONMENT, RunOutcome, RunState, TriggerClient, Unavailable
from telemetry.runs.outcomes import (
    WindowRecords,
    aggregate,
    from_summary_rows,
    run_outcomes,
)
from telemetry.runs.standin import TriggerStandIn, make_run
from telemetry.summary import parse_since, summarize

TEMPLATE = "https://cloud.trigger.dev/runs/{run_id}"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def at(minutes: float) -> float:
    return (T0 + timedelta(minutes=minutes)).timestamp()


def failed(run_id: str, minutes: float, *, status: str = "FAILED", error: str | None = None) -> Any:
    return RunState(
        run_id,
        status,
        task_identifier="attempt-billing-run",
        finished_at=T0 + timedelta(minutes=minutes),
        error_message=error,
    )


OUTCOMES: dict[str, RunOutcome] = {
    "run_ok1": RunState("run_ok1", "COMPLETED"),
    "run_ok2": RunState("run_ok2", "COMPLETED"),
    "run_busy": RunState("run_busy", "EXECUTING"),
    "run_bad1": failed("run_bad1", 5, error="=card declined"),
    "run_bad2": failed("run_bad2", 9, status="CRASHED"),
    "run_gone": NOT_IN_ENVIRONMENT,
    "run_down": Unavailable("trigger.dev answered 503"),
    "run_new": RunState("run_new", "SOMETHING_NEW"),
}
RECORDS = [
    ("payment", "pym_1", "run_ok1", "org_A", at(1)),
    ("payment", "pym_2", "run_ok2", "org_A", at(2)),
    ("payment", "pym_3", "run_bad1", "org_B", at(3)),
    ("payment", "pym_4", "run_gone", "", at(4)),
    ("invoice", "inv_1", "run_bad2", "org_A", at(6)),
    ("invoice", "inv_2", "run_bad1", "org_B", at(3)),  # two records, one run
    ("invoice", "inv_3", "run_busy", "org_A", at(7)),
    ("invoice", "inv_4", "run_down", "org_A", at(8)),
    ("webhook", "event_1", "run_new", "org_C", None),
    ("webhook", "event_2", "run_unasked", "org_C", at(9)),
]


def test_counts_by_type_and_run_status() -> None:
    """Records (not runs) per (type, status), as the API named it or not_in_environment /
    unavailable; a run left out of the outcomes is unavailable, never guessed."""
    result = aggregate(RECORDS, OUTCOMES, run_url_template=TEMPLATE)
    assert result.status_rows() == [
        ("invoice", "CRASHED", 1),
        ("invoice", "EXECUTING", 1),
        ("invoice", "FAILED", 1),
        ("invoice", "unavailable", 1),
        ("payment", "COMPLETED", 2),
        ("payment", "FAILED", 1),
        ("payment", "not_in_environment", 1),
        ("webhook", "SOMETHING_NEW", 1),
        ("webhook", "unavailable", 1),
    ]
    assert (result.records, result.runs) == (10, 9)
    assert result.unavailable == Counter(
        {"trigger.dev answered 503": 1, "the run's state was not asked for": 1}
    )


@pytest.mark.parametrize(
    ("entity_type", "records", "failed_", "learned", "elsewhere", "unavailable", "share"),
    [
        ("invoice", 4, 2, 3, 0, 1, 2 / 3),
        ("payment", 4, 1, 3, 1, 0, 1 / 3),
        ("webhook", 2, 0, 1, 0, 1, 0.0),
    ],
)
def test_failure_share_per_type_leaves_out_what_was_not_learned(
    entity_type: str,
    records: int,
    failed_: int,
    learned: int,
    elsewhere: int,
    unavailable: int,
    share: float,
) -> None:
    """Failure share = failed runs ÷ records whose run the API answered for."""
    by_type = {
        row.entity_type: row
        for row in aggregate(RECORDS, OUTCOMES, run_url_template=TEMPLATE).by_type
    }
    row = by_type[entity_type]
    assert (row.records, row.failed, row.learned) == (records, failed_, learned)
    assert (row.not_in_environment, row.unavailable) == (elsewhere, unavailable)
    assert row.failure_share == pytest.approx(share)


def test_failure_share_is_none_when_nothing_was_learned() -> None:
    """A type whose every run was unavailable has no share (shown as —), not 0 %."""
    result = aggregate(
        [("payment", "pym_1", "run_down", "", at(1))], OUTCOMES, run_url_template=TEMPLATE
    )
    assert result.by_type[0].failure_share is None


def test_failed_entities_newest_first_with_links() -> None:
    """Failed entities sorted by finish time, newest first, each linked to its run."""
    result = aggregate(RECORDS, OUTCOMES, run_url_template=TEMPLATE)
    assert [(f.entity_id, f.run_status, f.run_url) for f in result.failed] == [
        ("inv_1", "CRASHED", "https://cloud.trigger.dev/runs/run_bad2"),
        ("pym_3", "FAILED", "https://cloud.trigger.dev/runs/run_bad1"),
        ("inv_2", "FAILED", "https://cloud.trigger.dev/runs/run_bad1"),
    ]


def test_unlinkable_run_id_gets_no_link() -> None:
    """A run ID outside ^run_[A-Za-z0-9]+$ stays text (empty run_url)."""
    outcomes = {"run-x": failed("run-x", 1)}
    result = aggregate(
        [("payment", "pym_1", "run-x", "", at(1))], outcomes, run_url_template=TEMPLATE
    )
    assert result.failed[0].run_url is None


def test_failed_csv_whole_output() -> None:
    """The failed entities CSV: header, newest first, formulas neutralised, times in Z."""
    result = aggregate(RECORDS, OUTCOMES, run_url_template=TEMPLATE)
    assert result.failed_csv() == (
        "entity_type,entity_id,organization_id,run_id,run_url,run_status,task_identifier,"
        "run_finished_at,run_error,processed_at\r\n"
        "invoice,inv_1,org_A,run_bad2,https://cloud.trigger.dev/runs/run_bad2,CRASHED,"
        "attempt-billing-run,2026-11-20T10:09:00Z,,2026-11-20T10:06:00Z\r\n"
        "payment,pym_3,org_B,run_bad1,https://cloud.trigger.dev/runs/run_bad1,FAILED,"
        "attempt-billing-run,2026-11-20T10:05:00Z,'=card declined,2026-11-20T10:03:00Z\r\n"
        "invoice,inv_2,org_B,run_bad1,https://cloud.trigger.dev/runs/run_bad1,FAILED,"
        "attempt-billing-run,2026-11-20T10:05:00Z,'=card declined,2026-11-20T10:03:00Z\r\n"
    )


def test_statuses_csv_and_json_whole_output() -> None:
    """`summary --runs`'s CSV and JSON rows: the same (type, status, records) triples."""
    records = RECORDS[:4]
    result = aggregate(records, OUTCOMES, run_url_template=TEMPLATE)
    assert result.statuses_csv() == (
        "entity_type,run_status,records\r\n"
        "payment,COMPLETED,2\r\n"
        "payment,FAILED,1\r\n"
        "payment,not_in_environment,1\r\n"
    )
    assert result.run_statuses() == [
        {"entity_type": "payment", "run_status": "COMPLETED", "records": 2},
        {"entity_type": "payment", "run_status": "FAILED", "records": 1},
        {"entity_type": "payment", "run_status": "not_in_environment", "records": 1},
    ]


def test_empty_window_is_empty_output() -> None:
    """No records: no rows, header-only CSVs."""
    result = aggregate([], {}, run_url_template=TEMPLATE)
    assert (result.records, result.status_rows(), result.failed) == (0, [], [])
    assert result.failed_csv().count("\r\n") == 1


def test_summarize_hook_sees_exactly_the_counted_records(server_clock: Any) -> None:
    """summarize(on_window_record=…) streams the records in the window after the filters
    (not the older ones, not other organizations, not invalid keys), with their times."""
    client = fakeredis.FakeRedis()
    ttl = 1_209_600

    def put(key: str, run: str, org: str, age: float) -> None:
        stamp = datetime.fromtimestamp(NOW - age, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        value = {"runId": run, "organizationId": org, "timestamp": stamp}
        client.set(key, orjson.dumps(value), px=int((ttl - age) * 1000))

    put("telemetry:payment:pym_1", "run_1", "org_A", 3600)
    put("telemetry:invoice:inv_1", "run_2", "org_A", 7200)
    put("telemetry:payment:pym_old", "run_3", "org_A", 3 * 86400)
    put("telemetry:payment:pym_b", "run_4", "org_B", 60)
    client.set("telemetry:payment:pym_bad", b"not json", ex=ttl)
    reader = TelemetryReader(client, Settings.load(), clock=lambda: NOW)
    collected = WindowRecords()
    summary = summarize(
        reader, since=parse_since("24h"), organizations=["org_A"], on_window_record=collected.add
    )
    assert sorted(collected.rows) == [
        ("invoice", "inv_1", "run_2", "org_A", NOW - 7200),
        ("payment", "pym_1", "run_1", "org_A", NOW - 3600),
    ]
    assert summary.records == len(collected.rows)


def test_window_records_and_summary_rows_give_the_same_tuples() -> None:
    """The collecting hook and Summary.rows (NaN = no time) feed the same records."""
    collected = WindowRecords()
    collected.add("payment", "pym_1", "run_1", "org_A", 1.5)
    collected.add("payment", "pym_2", "run_2", "", None)
    kept = [
        ("payment", "pym_1", "run_1", "org_A", 1.5, False, "succeeded"),
        ("payment", "pym_2", "run_2", "", float("nan"), True, ""),
    ]
    assert from_summary_rows(kept) == collected.rows


# -- against the API stand-in ------------------------------------------------------------


def client_of(api: TriggerStandIn) -> TriggerClient:
    http = httpx.Client(transport=api.transport(), base_url="http://standin")
    return TriggerClient(http, base_url="http://standin", key=SecretStr(api.key))


def standin_with_failures(failures: int) -> tuple[TriggerStandIn, list[Any]]:
    created = datetime.now(tz=UTC) - timedelta(hours=3)
    runs = [make_run(f"run_ok{i}", created_at=created + timedelta(minutes=i)) for i in range(20)]
    runs += [
        make_run(
            f"run_bad{i}",
            status="FAILED",
            created_at=created + timedelta(minutes=30 + i),
            error={"name": "Error", "message": f"boom {i}"},
        )
        for i in range(failures)
    ]
    records = [
        ("payment", f"pym_{run['id']}", run["id"], "org_A", created.timestamp() + 60 * n + 5)
        for n, run in enumerate(runs)
    ]
    return TriggerStandIn(runs), records


def test_error_messages_only_for_the_newest_failed_runs() -> None:
    """States cost list pages only; error messages cost one retrieve each, and only the
    newest `error_details` failed runs get one."""
    api, records = standin_with_failures(5)
    client = client_of(api)
    result = run_outcomes(client, records, run_url_template=TEMPLATE, error_details=2)
    assert result.counts == Counter({("payment", "COMPLETED"): 20, ("payment", "FAILED"): 5})
    assert [f.error_message for f in result.failed] == ["boom 4", "boom 3", None, None, None]
    assert (result.errors_fetched, result.errors_skipped) == (2, 3)
    assert api.count("/api/v1/runs") == 1 and api.count("/api/v3/runs") == 2
    assert result.requests == 3


def test_no_error_details_asks_only_the_listing() -> None:
    """error_details=0 (the CLI's run_statuses): one list page for 25 runs, no retrieve."""
    api, records = standin_with_failures(5)
    result = run_outcomes(client_of(api), records, run_url_template=TEMPLATE)
    assert (api.count("/api/v1/runs"), api.count("/api/v3/runs"), result.requests) == (1, 0, 1)
    assert all(f.error_message is None for f in result.failed)


def test_api_failure_is_unavailable_with_the_reason() -> None:
    """A refused key: every record unavailable with the API's reason; nothing raised."""
    api, records = standin_with_failures(2)
    http = httpx.Client(transport=api.transport(), base_url="http://standin")
    client = TriggerClient(http, base_url="http://standin", key=SecretStr("tr_dev_wrong"))
    result = run_outcomes(client, records, run_url_template=TEMPLATE, error_details=10)
    assert result.counts == Counter({("payment", "unavailable"): 22})
    (reason,) = result.unavailable
    assert "401" in reason and "tr_dev_wrong" not in reason
    assert result.failed == [] and result.by_type[0].failure_share is None


def test_error_fetch_failure_keeps_the_counts_and_says_why() -> None:
    """The API failing after the listing: counts stay, the failed rows keep their status,
    and the reason their messages are missing is kept."""
    api, records = standin_with_failures(3)
    client = client_of(api)
    original = client.retrieve

    def broken(run_id: str) -> Any:
        api.fail_5xx = 100
        client.max_retries = 0
        return original(run_id)

    client.retrieve = broken  # type: ignore[method-assign]
    result = run_outcomes(client, records, run_url_template=TEMPLATE, error_details=3)
    assert result.counts[("payment", "FAILED")] == 3
    assert [f.error_message for f in result.failed] == [None, None, None]
    assert result.errors_fetched == 0 and "50" in result.error_problem


def test_progress_reports_both_phases() -> None:
    """progress(phase, done, total) for the states and for the error messages."""
    api, records = standin_with_failures(2)
    seen: list[tuple[str, int, int]] = []
    run_outcomes(
        client_of(api),
        records,
        run_url_template=TEMPLATE,
        error_details=2,
        progress=lambda *step: seen.append(step),
    )
    assert ("states", 22, 22) in seen
    assert seen[-1] == ("errors", 2, 2)
