"""Bulk resolve with run state, as a newcomer sees it: demo mode (no Redis, no trigger.dev
key), 1,000 pasted IDs, and one click on "Failed runs (N)" (issue #14's "done when")."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from telemetry.auth import DEMO_PASSWORD, DEMO_USERNAME, mode_cookie_name
from telemetry.runs import FAILED_STATUSES
from telemetry.writer import generate_records

from .conftest import COOKIE_NAME
from .harness import LiveApp, metric, settle, sign_in, wait_until_signed_in

pytestmark = pytest.mark.e2e

# The app's demo data: DEMO_RECORDS records from the generator with seed 7
# (telemetry.store.connecting.demo_client); the same seed gives the same IDs.
DEMO_RECORDS = 5_000
DEMO_SEED = 7
PASTED = 1_000
RUN_STATUS_COLUMN = 4  # query, lookup, status, run, run status, … (the page's column order)


@pytest.fixture(scope="module")
def demo_app(browser_available: None) -> Iterator[LiveApp]:
    """``streamlit run app.py`` in demo mode: no REDIS_URL and no TRIGGER_SECRET_KEY
    (blank means unset, whatever the caller's shell holds)."""
    app = LiveApp({"DEMO_RECORDS": str(DEMO_RECORDS), "TRIGGER_SECRET_KEY": ""})
    try:
        app.start()
    except RuntimeError as exc:
        app.close()
        pytest.fail(str(exc), pytrace=False)
    try:
        yield app
    finally:
        app.close()


def demo_ids() -> list[str]:
    return [r.entity_id for r in generate_records(DEMO_RECORDS, seed=DEMO_SEED)][:PASTED]


def test_demo_paste_of_1000_ids_filters_to_failed_runs_in_one_click(
    page: Any, demo_app: LiveApp
) -> None:
    """Paste 1,000 demo IDs: the Redis counts, then the run states; one click on
    "Failed runs (N)" leaves N rows (N > 0), every one with a failed run status."""
    page.goto(demo_app.url)
    sign_in(page, DEMO_USERNAME, DEMO_PASSWORD)
    wait_until_signed_in(page, mode_cookie_name(COOKIE_NAME, demo=True))
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Bulk resolve").click()
    expect(page.get_by_role("heading", name="Bulk resolve")).to_be_visible()
    settle(page)

    box = page.get_by_label("IDs")
    box.fill("\n".join(demo_ids()))
    started = time.monotonic()
    box.press("Control+Enter")
    expect(metric(page, "Unique")).to_have_text(f"{PASTED:,}")
    redis_seconds = time.monotonic() - started
    filters = page.get_by_role("radiogroup", name="Show")
    failed = filters.get_by_role("radio", name=re.compile(r"^Failed runs \([\d,]+\)$"))
    expect(failed).to_be_visible()
    total_seconds = time.monotonic() - started
    label = failed.inner_text()
    count = int(label.removeprefix("Failed runs (").removesuffix(")").replace(",", ""))
    assert count > 0
    caption = page.get_by_text(re.compile(r"^Run states from the demo stand-in as of "))
    expect(caption).to_be_visible()
    learned = re.search(r"learned in ([\d.,]+) s \(([\d,]+) API request", caption.inner_text())
    assert learned is not None
    print(
        f"\n1,000 demo IDs: counts after {redis_seconds:.2f} s, run states after "
        f"{total_seconds:.2f} s (in the page: {learned.group(1)} s, "
        f"{learned.group(2)} requests to the demo stand-in); {count} failed runs"
    )
    settle(page)

    failed.click()  # the one click
    expect(failed).to_be_checked()
    # The data grid draws on a canvas; its hidden accessibility table holds the rows in
    # view (role attributes, outside the accessibility tree: found by CSS).
    grid = page.get_by_test_id("stDataFrame").locator("[role=grid]")
    expect(grid).to_have_attribute("aria-rowcount", str(count + 1))  # the header row too
    cells = grid.locator(f"[role=gridcell][aria-colindex='{RUN_STATUS_COLUMN + 1}']")
    expect(cells.first).to_have_text(re.compile("|".join(sorted(FAILED_STATUSES))))
    statuses = cells.all_inner_texts()
    assert statuses and set(statuses) <= FAILED_STATUSES, statuses
