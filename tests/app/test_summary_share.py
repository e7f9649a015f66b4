"""AppTest: a Summary an analyst can trust, share and export (issue #16) — the link keeps the
view, filters never rescan, invalid records by their time in the window, the share of records
with an organization, organization names, titles true under filters, and the downloads the
same bytes as the CLI."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import fakeredis
import orjson
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
    put,
    use_redis,
)
from clocks import FrozenClock
from redis_server import RedisServer
from telemetry import cli, format_time
from telemetry.reader import TelemetryReader
from ui import context

SUMMARY = "pages/summary.py"
TTL = 1_209_600
HOUR = 3600


@pytest.fixture
def real(real_redis: redis.Redis) -> redis.Redis:
    """In the last 24 h: payments of org_A (2) and org_B (1), an invoice of org_A, three
    minimal payments (no organization); a payment of org_B 3 days old. Invalid: one key
    written 1 h ago, one 30 h ago (by their TTL)."""
    c = real_redis
    put(c, "payment", "pym_a1", "run_a1", org="org_A", timestamp=NOW - timedelta(hours=1))
    put(c, "payment", "pym_a2", "run_a2", org="org_A", timestamp=NOW - timedelta(hours=2))
    put(c, "payment", "pym_b1", "run_b1", org="org_B", timestamp=NOW - timedelta(hours=3))
    put(c, "invoice", "inv_a1", "run_i1", org="org_A", timestamp=NOW - timedelta(hours=4))
    for i in range(3):
        put(c, "payment", f"pym_m{i}", f"run_m{i}", rich=False, ttl=TTL - (i + 1) * HOUR)
    put(c, "payment", "pym_old", "run_old", org="org_B", timestamp=NOW - timedelta(days=3))
    c.set("telemetry:payment:pym_bad", "{nope", ex=TTL - HOUR)
    c.set("telemetry:invoice:inv_bad", "[]", ex=TTL - 30 * HOUR)
    return c


def scans(server: RedisServer) -> int:
    return server.commandstats().get("scan", 0)


def test_a_link_reproduces_window_and_filters(real: redis.Redis) -> None:
    """?summary_window=7d&summary_types=payment&summary_orgs=org_B sets the window and both
    filters, and the numbers are that view's."""
    at = make_app(
        page=SUMMARY,
        query={"summary_window": "7d", "summary_types": ["payment"], "summary_orgs": ["org_B"]},
    )
    no_exception(at)
    assert at.segmented_control(key="summary_window").value == "7d"
    assert at.multiselect(key="summary_types").value == ["payment"]
    assert at.multiselect(key="summary_orgs").value == ["org_B"]
    assert metrics(at)["Records"] == "2"


def test_filters_are_served_by_the_one_scan_of_the_window(
    real: redis.Redis, redis_server: RedisServer
) -> None:
    """Every type and organization filter after the first scan: no SCAN, exact numbers;
    another window scans once."""
    at = make_app(page=SUMMARY)
    no_exception(at)
    before = scans(redis_server)
    assert before > 0
    expected = [
        (["payment"], [], "6"),
        (["payment"], ["org_A"], "2"),
        ([], ["org_A"], "3"),
        ([], ["org_A", ""], "6"),
        (["invoice"], ["org_B"], "0"),
        ([], [], "7"),
    ]
    for types, orgs, records in expected:
        at.multiselect(key="summary_types").set_value(types)
        at.multiselect(key="summary_orgs").set_value(orgs).run()
        no_exception(at)
        assert metrics(at)["Records"] == records, (types, orgs)
    assert scans(redis_server) == before
    at.segmented_control(key="summary_window").set_value("7d").run()
    assert metrics(at)["Records"] == "8"
    after = scans(redis_server)
    assert after > before
    at.multiselect(key="summary_types").set_value(["invoice"]).run()
    assert scans(redis_server) == after


def test_invalid_records_count_by_their_time_in_the_window(real: redis.Redis) -> None:
    """Invalid records: the key written 1 h ago in 24 h, both in 7 d; an organization filter
    keeps them and says it cannot apply to them."""
    at = make_app(page=SUMMARY)
    assert metrics(at)["Invalid records"] == "1"
    at.segmented_control(key="summary_window").set_value("7d").run()
    assert metrics(at)["Invalid records"] == "2"
    at.multiselect(key="summary_types").set_value(["invoice"]).run()
    assert metrics(at)["Invalid records"] == "1"
    at.multiselect(key="summary_types").set_value([])
    at.multiselect(key="summary_orgs").set_value(["org_A"]).run()
    no_exception(at)
    assert metrics(at)["Invalid records"] == "2"
    assert (
        "Invalid records (2) follow the window only: an invalid record has no organization, "
        "so the organization filter cannot apply to it." in page_text(at)
    )


def test_the_share_of_records_with_an_organization_is_said_plainly(real: redis.Redis) -> None:
    """4 of 7 records carry an organization: the share, and "(unknown)" as minimal records,
    a figure of its own rather than a bar among customers."""
    at = make_app(page=SUMMARY)
    assert metrics(at)["With organization"] == "57%"
    text = page_text(at)
    assert "**57% of records carry an organization** (4 of 7)." in text
    assert "The other 3 are minimal records (only `runId`" in text
    assert "**3 records without an organization** (43%)" in text
    assert "Records by organization (all 2)" in text


def test_titles_stay_true_under_filters(real: redis.Redis) -> None:
    """One organization chosen: the chart is titled for it, never "Top 1 organizations"."""
    at = make_app(page=SUMMARY)
    at.multiselect(key="summary_orgs").set_value(["org_B"]).run()
    text = page_text(at)
    assert "Records of `org_B`" in text
    assert "Top 1" not in text
    at.segmented_control(key="summary_window").set_value("7d").run()
    no_exception(at)
    at.session_state["summary_tab"] = "Over time"
    at.run()
    assert "Records per day (UTC), one small chart per entity type." in page_text(at)


def test_org_names_beside_ids(
    real: redis.Redis, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """ORG_NAMES_PATH: names in the pivot, the chart and the grouped CSV (organization_name);
    a bad file is an error naming the path and the line, and the page still works."""
    names = tmp_path / "orgs.csv"
    names.write_text("organization_id,name\norg_A,Acme\n", encoding="utf-8")
    monkeypatch.setenv("ORG_NAMES_PATH", str(names))
    downloads = capture_downloads(monkeypatch)
    at = make_app(page=SUMMARY)
    no_exception(at)
    grouped = download_bytes(downloads, "run-lookup-summary-24h.csv").decode()
    assert grouped.splitlines()[:2] == [
        "entity_type,organization_id,organization_name,records,latest_processed_at",
        f"invoice,org_A,Acme,1,{format_time(NOW - timedelta(hours=4))}",
    ]
    at.session_state["summary_tab"] = "Type × organization"
    at.run()
    pivot = at.dataframe[0].value
    assert dict(zip(pivot["Organization"], pivot["Name"], strict=True)) == {
        "(unknown)": "",
        "org_A": "Acme",
        "org_B": "",
    }
    names.write_text("organization_id,name\norg_A\n", encoding="utf-8")
    at = make_app(page=SUMMARY)
    no_exception(at)
    assert f"ORG_NAMES_PATH={names}, line 2: expected 2 cells" in page_text(at)
    assert metrics(at)["Records"] == "7"


# -- the app's downloads are the CLI's bytes -------------------------------------------


@pytest.fixture
def frozen(
    server_clock: FrozenClock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> fakeredis.FakeRedis:
    """Real mode on a fakeredis whose clock, and every reader's, stand at ``server_clock``:
    TTL-inferred times are exact, so two scans give the same bytes."""
    client = fakeredis.FakeRedis()
    now = server_clock.now
    for i in range(40):
        kind = ("payment", "invoice", "billing_run")[i % 3]
        value: dict[str, Any] = {"runId": f"run_{i}"}
        if i % 2:
            value |= {"organizationId": f"org_{i % 4}", "metadata": {"status": "ok", "n": i}}
        client.set(f"telemetry:{kind}:x_{i}", orjson.dumps(value), px=(TTL - i * 1800) * 1000)
    client.set("telemetry:payment:bad_new", b"{", px=(TTL - 600) * 1000)
    client.set("telemetry:payment:bad_old", b"{", px=(TTL - 40 * HOUR) * 1000)
    use_redis(monkeypatch, tmp_path, "redis://127.0.0.1:1/0")
    monkeypatch.setattr(context, "client_factory", lambda settings: client)
    monkeypatch.setattr(cli, "connect", lambda settings: client)
    monkeypatch.setitem(TelemetryReader.__init__.__kwdefaults__, "clock", lambda: now)
    return client


def run_cli(capsysbinary: pytest.CaptureFixture[bytes], *args: str) -> bytes:
    assert cli.main(["summary", "--redis-url", "redis://127.0.0.1:1/0", *args]) == 0
    return capsysbinary.readouterr().out


@pytest.mark.parametrize(
    ("window", "types", "orgs", "suffix"),
    [
        ("24h", [], [], ""),
        ("7d", ["payment", "invoice"], ["org_1", ""], "-type-invoice+payment-org-unknown+org_1"),
    ],
)
def test_downloads_are_the_clis_bytes(
    frozen: fakeredis.FakeRedis,
    monkeypatch: pytest.MonkeyPatch,
    capsysbinary: pytest.CaptureFixture[bytes],
    window: str,
    types: list[str],
    orgs: list[str],
    suffix: str,
) -> None:
    """Rows CSV = summary --rows, Grouped CSV = summary, Invalid records = JSON
    invalid_records, byte for byte on the same data; file names say window and filters."""
    downloads = capture_downloads(monkeypatch)
    at = make_app(page=SUMMARY, query={"summary_window": window})
    at.multiselect(key="summary_types").set_value(types)
    at.multiselect(key="summary_orgs").set_value(orgs).run()
    no_exception(at)
    args = ["--since", window]
    for t in types:
        args += ["--type", t]
    for o in orgs:
        args += ["--org", o]
    rows = download_bytes(downloads, f"run-lookup-rows-{window}{suffix}.csv")
    assert rows == run_cli(capsysbinary, *args, "--rows")
    assert rows.count(b"\r\n") > 5
    grouped = download_bytes(downloads, f"run-lookup-summary-{window}{suffix}.csv")
    assert grouped == run_cli(capsysbinary, *args)
    body = orjson.loads(run_cli(capsysbinary, *args, "--format", "json"))
    assert metrics(at)["Invalid records"] == str(body["invalid_records"])
    assert metrics(at)["Records"] == str(body["records"])
    assert io.BytesIO(rows).read().count(b"\r\n") == body["records"] + 1
