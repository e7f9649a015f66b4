"""Summary: the numbers on screen (and in the grouped CSV) against what was seeded."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from telemetry import csv_safe

from .conftest import Seed
from .harness import empty_blocks_laid_out, metric, settle

pytestmark = pytest.mark.e2e


def expected_groups(seed: Seed) -> Counter[tuple[str, str]]:
    """Records per (entity type, organization) over the whole TTL; "" = unknown org."""
    groups: Counter[tuple[str, str]] = Counter(
        (r.entity_type, r.organization_id or "") for r in seed.valid_generated
    )
    groups.update((entity_type, org) for entity_type, _, org in seed.known.valid())
    return groups


def open_summary_all(page: Any) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Summary").click()
    expect(page.get_by_role("heading", name="Summary")).to_be_visible()
    expect(metric(page, "Records")).to_be_visible()
    settle(page)
    window = page.get_by_role("radiogroup", name="Window")
    window.get_by_role("radio", name="all").click()
    expect(window.get_by_role("radio", name="all")).to_be_checked()
    expect(page.get_by_text("every record within the TTL", exact=False)).to_be_visible()


def test_summary_numbers_match_the_seed(signed_in: Any, seed: Seed, tmp_path: Path) -> None:
    page = signed_in
    open_summary_all(page)

    groups = expected_groups(seed)
    by_type: Counter[str] = Counter()
    for (entity_type, _), count in groups.items():
        by_type[entity_type] += count
    invalid = sum(1 for r in seed.generated if not r.valid) + len(seed.known.invalid_keys())
    orgs = {org for _, org in groups if org}  # records without one are not an organization

    expect(metric(page, "Records")).to_have_text(f"{sum(groups.values()):,}")
    expect(metric(page, "Entity types")).to_have_text(f"{len(by_type):,}")
    expect(metric(page, "Organizations")).to_have_text(f"{len(orgs):,}")
    expect(metric(page, "Invalid records")).to_have_text(f"{invalid:,}")
    expect(metric(page, "Keys scanned")).to_have_text(f"{seed.keys:,}")
    tabs = page.get_by_role("tablist")
    expect(tabs.get_by_role("tab", name="Invalid records")).to_be_visible()
    expect(page.get_by_text("Records by entity type")).to_be_visible()
    settle(page)

    # The grouped CSV: records per type × organization, exactly as seeded.
    with page.expect_download() as info:
        page.get_by_role("button", name="Grouped CSV").click()
    saved = tmp_path / "groups.csv"
    info.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"), newline="")))
    got = Counter({(r["entity_type"], r["organization_id"]): int(r["records"]) for r in rows})
    want = Counter({(t, csv_safe(org)): n for (t, org), n in groups.items()})
    assert got == want
    assert info.value.suggested_filename == "run-lookup-summary-all.csv"

    # Per type, on screen: filter by one type, then add a second one.
    types = page.get_by_test_id("stMultiSelect").filter(has_text="Entity types")
    shown = 0
    for n, entity_type in enumerate(("payment", "notification"), start=1):
        settle(page)
        # By keyboard, as people filter a long list: type, Enter picks the match.
        box = types.get_by_role("combobox")
        box.click()
        box.fill(entity_type)
        expect(page.get_by_role("option", name=entity_type, exact=True)).to_be_visible()
        box.press("Enter")
        box.press("Escape")
        expect(types.get_by_label(f"Remove {entity_type}", exact=True)).to_be_visible()
        shown += by_type[entity_type]
        expect(metric(page, "Records")).to_have_text(f"{shown:,}")
        expect(metric(page, "Entity types")).to_have_text(f"{n}")


def test_empty_slots_take_no_room_after_a_scan(signed_in: Any) -> None:
    """After a scan (its progress slot empty again) no laid-out block of the page is
    empty: no stray gap above the numbers."""
    page = signed_in
    open_summary_all(page)
    settle(page)
    assert empty_blocks_laid_out(page) == []


def test_the_link_keeps_window_and_filters(signed_in: Any, seed: Seed) -> None:
    """Window and type filter go into the address bar as they are chosen; opening that
    address (a shared link) shows the same view, numbers included."""
    page = signed_in
    open_summary_all(page)
    expect(page).to_have_url(re.compile(r"summary_window=all"))
    settle(page)
    unfiltered = metric(page, "Records").inner_text()
    types = page.get_by_test_id("stMultiSelect").filter(has_text="Entity types")
    box = types.get_by_role("combobox")
    box.click()
    box.fill("payment")
    expect(page.get_by_role("option", name="payment", exact=True)).to_be_visible()
    box.press("Enter")
    box.press("Escape")
    expect(page).to_have_url(re.compile(r"summary_types=payment"))
    # The URL changes before the filtered numbers are drawn: wait for them.
    expect(metric(page, "Records")).not_to_have_text(unfiltered)
    settle(page)
    records = metric(page, "Records").inner_text()
    link = page.url
    page.goto(app_root(link))
    page.goto(link)
    expect(page.get_by_role("heading", name="Summary")).to_be_visible()
    settle(page)
    window = page.get_by_role("radiogroup", name="Window")
    expect(window.get_by_role("radio", name="all")).to_be_checked()
    types = page.get_by_test_id("stMultiSelect").filter(has_text="Entity types")
    expect(types.get_by_label("Remove payment", exact=True)).to_be_visible()
    expect(metric(page, "Records")).to_have_text(records)


def app_root(link: str) -> str:
    """The app's root: the link is then opened from another page, as a shared one is."""
    return link.split("/summary")[0] + "/"
