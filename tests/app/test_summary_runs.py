"""AppTest: the Summary page's Run outcomes tab (issue #14) against a real redis-server and
the local stand-in of trigger.dev's API: on demand, counts, failed entities, CSV, faults."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import redis

from apptest_support import (
    NOW,
    capture_downloads,
    download_bytes,
    make_app,
    metrics,
    no_exception,
    page_text,
    places,
    put,
    use_demo,
)
from telemetry import format_time
from telemetry.runs.standin import TriggerStandIn, make_run

SUMMARY = "pages/summary.py"
TAB = "Run outcomes"
LOAD = "summary_runs_load"


def ago(**delta: float) -> Any:
    return NOW - timedelta(**delta)


RECORDS = [  # (type, id, run, org, processed hours ago)
    ("payment", "pym_r1", "run_r1", "org_A", 1),
    ("payment", "pym_r2", "run_r2", "org_A", 2),
    ("payment", "pym_r3", "run_r3", "org_B", 3),
    ("invoice", "inv_r1", "run_r4", "org_B", 4),
    ("invoice", "inv_r2", "run_r5", "org_B", 5),
    ("invoice", "inv_r3", "run_gone", "org_B", 6),  # not in the key's environment
]


def runs() -> list[dict[str, Any]]:
    return [
        make_run("run_r1", created_at=ago(hours=1, minutes=1)),
        make_run("run_r2", created_at=ago(hours=2, minutes=1)),
        make_run(
            "run_r3",
            status="FAILED",
            created_at=ago(hours=3, minutes=1),
            finished_at=ago(hours=3),
            task="stripe-payment-intent-succeeded",
            error={"name": "StripeError", "message": "**card** declined"},
        ),
        make_run("run_r4", status="EXECUTING", created_at=ago(hours=4, minutes=1)),
        make_run(
            "run_r5",
            status="CRASHED",
            created_at=ago(hours=5, minutes=1),
            finished_at=ago(hours=5),
            error={"name": "Error", "message": "=out of memory"},
        ),
    ]


@pytest.fixture
def seeded(real_redis: redis.Redis) -> redis.Redis:
    """Six records in the last 24 h: three payments, three invoices."""
    for entity_type, entity_id, run_id, org, hours in RECORDS:
        put(real_redis, entity_type, entity_id, run_id, org=org, timestamp=ago(hours=hours))
    return real_redis


@pytest.fixture
def api(trigger_env: TriggerStandIn) -> TriggerStandIn:
    trigger_env.add(*runs())
    return trigger_env


def outcomes_tab() -> Any:
    at = make_app(page=SUMMARY)
    no_exception(at)
    at.session_state["summary_tab"] = TAB
    at.run()
    no_exception(at)
    return at


def load(at: Any) -> Any:
    at.button(key=LOAD).click().run()
    no_exception(at)
    return at


def test_tab_asks_nothing_until_the_button(seeded: redis.Redis, api: TriggerStandIn) -> None:
    """Opening the tab shows a button naming the record count and sends no request."""
    at = outcomes_tab()
    assert at.button(key=LOAD).label == "Load run outcomes for 6 records"
    assert api.requests == []


def test_counts_failure_share_and_failed_entities(seeded: redis.Redis, api: TriggerStandIn) -> None:
    """Counts by type × status with the failure share; failed entities newest first, linked,
    with task, status and the error as exact text; cost: one list page, 3 retrieves."""
    at = load(outcomes_tab())
    by_type = at.dataframe[0].value.set_index("entity_type")
    assert by_type.loc["payment", ["records", "failed", "COMPLETED", "FAILED"]].tolist() == [
        3,
        1,
        2,
        1,
    ]
    assert by_type.loc["invoice", ["records", "failed", "EXECUTING", "CRASHED"]].tolist() == [
        3,
        1,
        1,
        1,
    ]
    assert by_type.loc["invoice", "not_in_environment"] == 1
    assert by_type.loc["payment", "failure_share"] == pytest.approx(1 / 3)
    assert by_type.loc["invoice", "failure_share"] == pytest.approx(1 / 2)
    failed = at.dataframe[1].value
    assert failed["entity_id"].tolist() == ["pym_r3", "inv_r2"]
    assert failed["run"].tolist() == [
        "https://cloud.trigger.dev/runs/run_r3",
        "https://cloud.trigger.dev/runs/run_r5",
    ]
    assert failed["error"].tolist() == ["**card** declined", "=out of memory"]
    assert failed["task_identifier"].tolist()[0] == "stripe-payment-intent-succeeded"
    # One list page for the span; a retrieve for the 404 and for each failed run's error.
    assert (api.count("/api/v1/runs"), api.count("/api/v3/runs")) == (1, 3)
    assert "4 requests" in page_text(at)


def test_failed_entities_csv_download_is_exact(
    seeded: redis.Redis, api: TriggerStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The failed entities CSV: the library's bytes, formulas neutralised."""
    downloads = capture_downloads(monkeypatch)
    load(outcomes_tab())
    assert download_bytes(downloads, "run-lookup-failed-runs.csv").decode() == (
        "entity_type,entity_id,organization_id,run_id,run_url,run_status,task_identifier,"
        "run_finished_at,run_error,processed_at\r\n"
        "payment,pym_r3,org_B,run_r3,https://cloud.trigger.dev/runs/run_r3,FAILED,"
        f"stripe-payment-intent-succeeded,{format_time(ago(hours=3))},**card** declined,"
        f"{format_time(ago(hours=3))}\r\n"
        "invoice,inv_r2,org_B,run_r5,https://cloud.trigger.dev/runs/run_r5,CRASHED,"
        f"attempt-billing-run,{format_time(ago(hours=5))},'=out of memory,"
        f"{format_time(ago(hours=5))}\r\n"
    )


def test_result_is_cached_for_the_scan(seeded: redis.Redis, api: TriggerStandIn) -> None:
    """Switching tabs and back reuses the outcomes: no second round of requests."""
    at = load(outcomes_tab())
    sent = len(api.requests)
    at.session_state["summary_tab"] = "Over time"
    at.run()
    at.session_state["summary_tab"] = TAB
    at.run()
    no_exception(at)
    assert len(api.requests) == sent
    assert at.dataframe[1].value["entity_id"].tolist() == ["pym_r3", "inv_r2"]


def test_outcomes_keep_their_place_on_the_runs_after_the_load(
    seeded: redis.Redis, api: TriggerStandIn
) -> None:
    """The run that loads the outcomes (progress bar) draws them where the runs after it
    do (else the browser shows two copies while the next run is under way)."""
    at = load(outcomes_tab())
    loaded = places(at)
    assert {("button", "Ask again"), ("dataframe", "#1")} <= set(loaded)
    at.run()
    no_exception(at)
    assert places(at) == loaded


def test_wrong_key_shows_the_reason_and_keeps_the_summary(
    seeded: redis.Redis, api: TriggerStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused key: every record `unavailable`, the API's reason shown as exact text,
    the rest of the page intact, no traceback; the key never shown."""
    monkeypatch.setenv("TRIGGER_SECRET_KEY", "tr_dev_wrongkey")
    at = load(outcomes_tab())
    warnings = [w.value for w in at.warning]
    assert any(
        w.startswith("Run state unavailable for 6 records:") and "401" in w for w in warnings
    ), warnings
    by_type = at.dataframe[0].value.set_index("entity_type")
    assert by_type["unavailable"].to_dict() == {"payment": 3, "invoice": 3}
    assert by_type["failure_share"].isna().all()
    assert "tr_dev_wrongkey" not in page_text(at)
    assert at.metric[0].value == "6"


def test_api_down_is_a_message_not_a_traceback(seeded: redis.Redis, api: TriggerStandIn) -> None:
    """The API stopped: a warning saying trigger.dev cannot be reached."""
    api.stop()
    at = load(outcomes_tab())
    assert any("Run state unavailable for 6 records" in w.value for w in at.warning)


def test_without_a_key_the_tab_says_run_state_is_off(
    seeded: redis.Redis, trigger_api: TriggerStandIn
) -> None:
    """No TRIGGER_SECRET_KEY (real mode): one caption, no button, no request."""
    at = outcomes_tab()
    assert "Run state is off" in page_text(at)
    assert not [b for b in at.button if b.key == LOAD]
    assert trigger_api.requests == []


def test_ask_again_sends_the_requests_again(seeded: redis.Redis, api: TriggerStandIn) -> None:
    """ "Ask again" drops the cached outcomes and learns them anew (a run finished since)."""
    at = load(outcomes_tab())
    sent = len(api.requests)
    api.add(make_run("run_r4", status="COMPLETED", created_at=ago(hours=4, minutes=1)))
    at.button(key="summary_runs_reload").click().run()
    no_exception(at)
    assert len(api.requests) == 2 * sent  # the same list page, 404 and error retrieves
    by_type = at.dataframe[0].value.set_index("entity_type")
    assert by_type.loc["invoice", "COMPLETED"] == 1


def test_demo_mode_shows_outcomes_of_the_demo_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Demo mode without a key: the tab loads from the embedded stand-in (every record has
    a run state, some failed) — what a newcomer sees with the two README commands."""
    use_demo(monkeypatch)
    at = make_app(page=SUMMARY)
    at.segmented_control(key="summary_window").set_value("all").run()
    at.session_state["summary_tab"] = TAB
    at.run()
    load(at)
    by_type = at.dataframe[0].value
    assert by_type["records"].sum() == int(metrics(at)["Records"].replace(",", ""))
    assert "unavailable" not in by_type.columns and by_type["failed"].sum() > 0
    assert len(at.dataframe[1].value) == by_type["failed"].sum()
