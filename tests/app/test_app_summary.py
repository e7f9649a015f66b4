"""AppTest: the Summary page (numbers against seeded data, filters, cache, cap, downloads)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from apptest_support import (
    NOW,
    capture_downloads,
    download_bytes,
    dropping_client,
    make_app,
    metrics,
    no_exception,
    page_text,
    places,
    put,
    use_redis,
)
from redis_server import RedisServer
from telemetry import format_time
from ui import context, summary_view

SUMMARY = "pages/summary.py"
TTL = 1_209_600


def ago(**delta: float) -> Any:
    return NOW - timedelta(**delta)


@pytest.fixture
def real(real_redis: redis.Redis) -> redis.Redis:
    """Real mode on the emptied session redis-server with a small, known namespace.

    In the last 24 h: 2 payments (org_A), 1 invoice (org_B), 1 organization record
    without timestamp (time inferred: 3 h). Older: a payment 30 h ago (org_B) and a
    subscription 10 d ago (no org). Invalid: a non-JSON value and a malformed key.
    """
    c = real_redis
    put(
        c,
        "payment",
        "pym_s1",
        "run_s1",
        org="org_A",
        timestamp=ago(hours=1),
        metadata={"status": "succeeded"},
    )
    put(
        c,
        "payment",
        "pym_s2",
        "run_s2",
        org="org_A",
        timestamp=ago(hours=2),
        metadata={"status": "failed"},
    )
    put(
        c,
        "invoice",
        "inv_s1",
        "run_s3",
        org="org_B",
        timestamp=ago(hours=5),
        metadata={"status": "paid"},
    )
    put(c, "organization", "org_C", "run_s4", rich=False, ttl=TTL - 3 * 3600)
    put(
        c,
        "payment",
        "pym_s3",
        "run_s5",
        org="org_B",
        timestamp=ago(hours=30),
        metadata={"status": "succeeded"},
    )
    put(c, "subscription", "sub_s1", "run_s6", timestamp=ago(days=10))
    c.set("telemetry:webhook:event_bad", "{nope **x**", ex=TTL)
    c.set("telemetry:NotAType", "{}", ex=TTL)
    return c


def summary() -> Any:
    at = make_app(page=SUMMARY)
    no_exception(at)
    return at


def open_tab(at: Any, label: str) -> Any:
    """Switch the page's section tabs (stateful: only the open one is built)."""
    at.session_state["summary_tab"] = label
    at.run()
    no_exception(at)
    return at


def test_last_24h_numbers_match_the_seeded_data(real: redis.Redis) -> None:
    """Default window (24 h): exact records, orgs, types, invalid, scanned, inferred share."""
    at = summary()
    assert metrics(at) == {
        "Records": "4",
        "Organizations": "3",
        "With organization": "100%",
        "Entity types": "3",
        "Invalid records": "2",
        "Keys scanned": "8",
        "Time inferred": "25%",
    }
    assert "As of" in page_text(at)


def test_all_window_counts_every_record(real: redis.Redis) -> None:
    """Window "all": every valid record within the TTL; the one without an organization is
    counted as a record, not as an organization."""
    at = summary()
    at.segmented_control(key="summary_window").set_value("all").run()
    no_exception(at)
    assert metrics(at) == {
        "Records": "6",
        "Organizations": "3",
        "With organization": "83%",
        "Entity types": "4",
        "Invalid records": "2",
        "Keys scanned": "8",
        "Time inferred": "17%",
    }


def test_type_filter_and_grouped_csv_download(
    real: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Filtering to payment+invoice; the grouped CSV download is exact and named for the
    window and the types."""
    downloads = capture_downloads(monkeypatch)
    at = summary()
    at.multiselect(key="summary_types").set_value(["payment", "invoice"]).run()
    no_exception(at)
    assert metrics(at)["Records"] == "3"
    expected = (
        "entity_type,organization_id,records,latest_processed_at\r\n"
        f"invoice,org_B,1,{format_time(ago(hours=5))}\r\n"
        f"payment,org_A,2,{format_time(ago(hours=1))}\r\n"
    )
    name = "run-lookup-summary-24h-type-invoice+payment.csv"
    assert download_bytes(downloads, name) == expected.encode()


def test_organization_filter_limits_every_number(real: redis.Redis) -> None:
    """Picking one organization counts only its records."""
    at = summary()
    assert "org_A" in at.multiselect(key="summary_orgs").options
    at.multiselect(key="summary_orgs").set_value(["org_A"]).run()
    no_exception(at)
    assert metrics(at)["Records"] == "2"
    assert metrics(at)["Organizations"] == "1"


def test_type_by_org_table_and_status_distribution(real: redis.Redis) -> None:
    """The type × organization table and the metadata.status distribution are exact."""
    at = open_tab(summary(), "Type × organization")
    pivot = at.dataframe[0].value
    rows = {row["Organization"]: (row["Total"], row["payment"]) for _, row in pivot.iterrows()}
    assert rows == {"org_A": (2, 2), "org_B": (1, 0), "org_C": (1, 0)}
    statuses = open_tab(at, "Statuses").dataframe[0].value
    assert sorted(
        zip(statuses["entity_type"], statuses["status"], statuses["records"], strict=True)
    ) == [
        ("invoice", "paid", 1),
        ("payment", "failed", 1),
        ("payment", "succeeded", 1),
    ]


def test_invalid_records_are_listed_with_escaped_examples(real: redis.Redis) -> None:
    """Invalid records: counts by reason and examples (key, reason, raw value) as table cells."""
    at = open_tab(summary(), "Invalid records")
    reasons = at.dataframe[0].value
    assert dict(zip(reasons["reason"], reasons["records"], strict=True)) == {
        "value is not JSON": 1,
        "key is not telemetry:<entity_type>:<entity_id>": 1,
    }
    examples = at.dataframe[1].value
    bad = examples[examples["key"] == "telemetry:webhook:event_bad"].iloc[0]
    assert bad["raw value (truncated)"] == "{nope **x**"
    assert "**x**" not in "\n".join(m.value for m in at.markdown)


def test_rows_csv_has_one_row_per_record_in_the_window(
    real: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows CSV download: one row per record in the window, inferred times flagged."""
    downloads = capture_downloads(monkeypatch)
    summary()
    rows = list(
        csv.DictReader(io.StringIO(download_bytes(downloads, "run-lookup-rows-24h.csv").decode()))
    )
    assert sorted((r["entity_id"], r["processed_at_inferred"]) for r in rows) == [
        ("inv_s1", "false"),
        ("org_C", "true"),
        ("pym_s1", "false"),
        ("pym_s2", "false"),
    ]


def test_warm_cache_rerun_does_not_rescan_and_refresh_does(
    real: redis.Redis, redis_server: RedisServer
) -> None:
    """Reruns within the cache TTL read nothing from Redis; Refresh scans again."""
    at = summary()
    before = redis_server.commandstats().get("scan", 0)
    at.run()
    at.run()
    assert redis_server.commandstats().get("scan", 0) == before
    next(b for b in at.button if b.label == "Refresh").click().run()
    no_exception(at)
    assert redis_server.commandstats().get("scan", 0) > before


def shown(at: Any) -> dict[str, Any]:
    """What the page shows, except the as-of caption (its age moves on between runs)."""
    return {
        "metrics": metrics(at),
        "filters": [(m.label, list(m.options), m.value) for m in at.multiselect],
        "window": at.segmented_control(key="summary_window").value,
        "buttons": [b.label for b in at.button] + [b.label for b in at.get("download_button")],
        "tabs": [t.label for t in at.tabs],
        "charts": len(at.get("vega_lite_chart")),
        "text": [m.value for m in [*at.markdown, *at.caption] if not m.value.startswith("As of")],
    }


def test_warm_rerun_reuses_the_view_and_shows_the_same_page(
    real: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warm rerun builds no new view and shows the same page; a filter or Refresh builds one."""
    built: list[summary_view.SummaryView] = []
    build = summary_view.build_view

    def counting(*args: Any, **kwargs: Any) -> summary_view.SummaryView:
        built.append(build(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(summary_view, "build_view", counting)
    at = summary()
    assert len(built) == 1
    first = shown(at)
    assert first["charts"] == 2 and "org_A" in first["filters"][1][1]
    at.run()
    at.run()
    no_exception(at)
    assert len(built) == 1
    assert shown(at) == first
    at.multiselect(key="summary_types").set_value(["payment"]).run()
    no_exception(at)
    assert len(built) == 2
    assert metrics(at)["Records"] == "2"
    next(b for b in at.button if b.label == "Refresh").click().run()
    no_exception(at)
    assert len(built) == 3


def test_every_element_keeps_its_place_scan_or_not(real: redis.Redis) -> None:
    """A run that scans, a warm rerun and a filter that drops a note draw the filters,
    metrics, downloads and sections at the same places (else the browser shows two
    copies while the next run is under way)."""
    # With an organization chosen, a note says the invalid records ignore that filter.
    at = make_app(page=SUMMARY, query={"summary_orgs": ["org_A"]})  # scans: a progress bar
    no_exception(at)
    scanned = places(at)
    assert ("metric", "Records") in scanned and ("tab", "Over time") in scanned
    assert [c for c in at.caption if c.value.startswith("Invalid records (")]
    at.run()
    no_exception(at)
    assert places(at) == scanned
    at.multiselect(key="summary_types").set_value(["payment"]).run()
    no_exception(at)
    # No invalid payment: the note on invalid records is gone, the elements below stay.
    assert not [c for c in at.caption if c.value.startswith("Invalid records (")]
    filtered = places(at)
    # Only the tab bar follows the data: the Invalid records tab goes, the next moves up.
    moved = {k for k in scanned.keys() | filtered.keys() if filtered.get(k) != scanned.get(k)}
    assert moved == {("tab", "Invalid records"), ("tab", "Run outcomes")}


def test_refresh_rescans_once(real: redis.Redis, redis_server: RedisServer) -> None:
    """Refresh forces one scan; the runs after it use that scan's cache again."""
    at = summary()
    next(b for b in at.button if b.label == "Refresh").click().run()
    no_exception(at)
    after_refresh = redis_server.commandstats().get("scan", 0)
    at.run()
    at.run()
    no_exception(at)
    assert redis_server.commandstats().get("scan", 0) == after_refresh
    assert metrics(at)["Records"] == "4"


def test_incomplete_scan_warns_and_keeps_what_was_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Redis failing after the first SCAN reply: a warning with the error, no traceback."""

    client = dropping_client(ok_pipelines=1)
    put(client, "payment", "pym_f1", "run_f1", org="org_A", timestamp=ago(hours=1))
    use_redis(monkeypatch, tmp_path, "redis://127.0.0.1:1/0")
    monkeypatch.setattr(context, "client_factory", lambda settings: client)
    at = summary()
    text = page_text(at)
    assert "Incomplete scan" in text
    assert "Connection reset by peer" in text


def test_key_cap_shows_a_sampled_note(real: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    """SCAN_MAX_KEYS reached: a visible "sampled N keys (cap reached)" note."""
    monkeypatch.setenv("SCAN_MAX_KEYS", "3")
    at = summary()
    assert "Sampled 3 keys (cap reached" in page_text(at)
    assert metrics(at)["Keys scanned"] == "3"
