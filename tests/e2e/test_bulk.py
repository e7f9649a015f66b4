"""Bulk resolve: a mixed paste, the counts, and the downloaded CSV byte for byte."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from redis_server import RedisServer
from telemetry import Settings, TelemetryReader, parse_ids, results_csv

from .conftest import KNOWN
from .harness import metric, settle

pytestmark = pytest.mark.e2e

# Every shape of the contract's §2 in one paste: quotes and a trailing comma, the
# type:ID and full-key forms, backticks, a semicolon, duplicates (plain and under
# another shape), an unknown ID, an ID with no known prefix, a Redis hash, a value
# that is not JSON, an ID whose record carries a spreadsheet formula, and a
# token that is not an ID.
PASTE = "\n".join(
    [
        f'"{KNOWN.rich_id}",',
        f"payment:{KNOWN.rich_id}",
        f"`{KNOWN.minimal_id}`",
        f"telemetry:payment:{KNOWN.formula_id}",
        f"{KNOWN.bad_json_id}; {KNOWN.hash_id}",
        KNOWN.unprefixed_id,
        KNOWN.missing_id,
        "payment:",
        KNOWN.missing_id,
        f"'{KNOWN.minimal_id}'",
    ]
)
EXPECTED_COUNTS = {
    "Pasted": 11,
    "Unique": 8,
    "Duplicates dropped": 3,
    "Found": 4,  # rich, minimal, formula, unprefixed
    "Not found": 1,
    "Invalid": 3,  # bad JSON and hash (invalid records), "payment:" (invalid ID)
}


def expected_csv(server: RedisServer) -> bytes:
    """What the library makes of the same paste on the same Redis (the CLI's bytes)."""
    settings = Settings.load(redis_url=server.url)
    client = server.client()
    try:
        parsed = parse_ids(PASTE, settings.registry, namespace=settings.telemetry_namespace)
        resolution = TelemetryReader(client, settings).resolve(parsed.queries)
    finally:
        client.close()
    counts = resolution.counts
    assert (parsed.tokens, parsed.unique, parsed.duplicates) == (11, 8, 3)
    assert counts["found"] == 4
    assert counts["not_found"] == 1
    assert counts["invalid_record"] + counts["invalid_id"] == 3
    return results_csv(resolution.results).encode("utf-8")


def test_bulk_paste_counts_and_csv_download(
    signed_in: Any, e2e_redis: RedisServer, tmp_path: Path
) -> None:
    page = signed_in
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Bulk resolve").click()
    expect(page.get_by_role("heading", name="Bulk resolve")).to_be_visible()
    settle(page)
    ids = page.get_by_label("IDs")
    ids.fill(PASTE)
    ids.press("Control+Enter")  # a text area commits on Ctrl+Enter (or blur)

    for label, value in EXPECTED_COUNTS.items():
        expect(metric(page, label)).to_have_text(f"{value:,}")
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
    filters = page.get_by_role("radiogroup", name="Show")
    expect(filters.get_by_role("radio")).to_have_text(
        ["All (8)", "Found (4)", "Not found (1)", "Invalid (3)"]
    )
    settle(page)

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Results CSV").click()
    download = download_info.value
    assert download.suggested_filename == "run-lookup-results.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    data = saved.read_bytes()
    assert data == expected_csv(e2e_redis)

    # What the bytes hold, independently of the library's own CSV writer.
    lines = data.decode("utf-8").split("\r\n")
    assert lines[0] == (
        "query,status,entity_type,entity_id,run_id,run_url,organization_id,"
        "processed_at,expires_at,detail"
    )
    assert lines[1] == (
        f"{KNOWN.rich_id},found,payment,{KNOWN.rich_id},{KNOWN.rich_run},"
        f"https://cloud.trigger.dev/runs/{KNOWN.rich_run},{KNOWN.rich_org},"
        "2026-11-20T10:15:00Z,,"
    )
    formula_row = next(line for line in lines if KNOWN.formula_run in line)
    assert ",\"'=HYPERLINK(" in formula_row  # formula-safe: prefixed with '
    assert len(lines) == 1 + 8 + 1  # header, one row per unique query, final newline
    assert lines[-1] == ""

    # The not-found list, and the same rows after a filter change (no new query).
    with page.expect_download() as missing_info:
        page.get_by_role("button", name="Not-found IDs (1)").click()
    missing = tmp_path / "missing.txt"
    missing_info.value.save_as(missing)
    assert missing.read_bytes() == f"{KNOWN.missing_id}\n".encode()

    filters.get_by_role("radio", name="Found (4)").click()
    expect(filters.get_by_role("radio", name="Found (4)")).to_be_checked()
    expect(metric(page, "Found")).to_have_text("4")
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
