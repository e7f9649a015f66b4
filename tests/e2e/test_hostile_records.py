"""Hostile record data in a real browser: shown as its exact text, never as a link, an
image, an emoji or an icon (issue #12, item 7).

The app runs on a redis-server of this module's own, seeded with records whose IDs,
organization, timestamp, claimed entity ID, metadata and raw values hold what
Streamlit's Markdown turns into links (``www.x``, ``http://…``, ``a@b.co``), emoji
(``:smile:``), icons (``:material/…:``, ``:streamlit:``), images, formatting, math
and arrows. Each page is then read from the DOM: the links, images and icons it
holds, and its visible text (``innerText``, what a user reads and copies).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from playwright.sync_api import expect

from redis_server import RedisServer
from ui.format import shorten_middle
from ui.lookup_view import HISTORY_LABEL_CHARS

from .conftest import COOKIE_NAME, PASSWORD, USER, start_app, start_redis
from .harness import RUN_URL, LiveApp, fresh, look_up, settle, sign_in, wait_until_signed_in

pytestmark = pytest.mark.e2e

HOSTILE_ID = "pym_:smile:www.evil.example/x:material/warning:a@b.co"
RUN_ID = "run_hostile0000000000000001"
ORG = "<http://evil> :red[alert] **bold** [x](http://y) ![i](http://y/p.png) $x^2$ -> :streamlit:"
STAMP = "www.evil.example :+1: mailto:a@b.c"  # not a date: a note quotes it
CLAIM = ":material_home: a@b.co <b>html</b>"  # the record's own entityId, unlike its key's
METADATA = {
    "www.example.com": "http://evil.example/x",
    "emoji": ":smile: :material/warning: `code` # heading > quote 1. list",
}
BAD_ID = "pym_bad:material/warning:www.x.io"
BAD_RAW = "<b>html</b> :smile: www.example.com [x](http://y) $x^2$ -> a@b.co <-> --"
MISSING = "pym_gone:material/warning::smile:"
# The icons the app itself draws on these pages (Material Symbols ligatures).
APP_ICONS = {
    "check",
    "check_circle",
    "search",
    "search_off",
    "report",
    "open_in_new",
    "download",
    "refresh",
    "content_copy",
    "upload",
    "play_arrow",
    "keyboard_arrow_down",
    "share",
}  # never "warning" or "home": those would come from the records
# The page titles' own anchors (st.title): the only in-page links the app makes.
APP_ANCHORS = {"#lookup", "#summary", "#bulk-resolve"}
EMOJI = re.compile(r"[\U0001F000-\U0001FAFF\u2600-\u27BF]")
ARROWS = re.compile("[→←↔≥≤≈]")  # the app writes em dashes itself

# Everything a page shows of an element: its links, images, icons and visible text.
READ_DOM = """(root) => ({
  hrefs: [...root.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
  images: [...root.querySelectorAll('img, svg image, picture')].map(i => i.outerHTML),
  icons: [...root.querySelectorAll('[role=img], [data-testid=stIconMaterial]')]
    .map(i => i.textContent.trim()),
  text: root.innerText,
})"""


def seed(client: Any) -> None:
    """A hostile valid record, a hostile invalid one (the only keys in this redis)."""
    record = {
        "runId": RUN_ID,
        "entityType": "payment",
        "entityId": CLAIM,
        "organizationId": ORG,
        "timestamp": STAMP,
        "metadata": METADATA,
    }
    client.set(f"telemetry:payment:{HOSTILE_ID}", orjson.dumps(record))
    recent = (datetime.now(tz=UTC) - timedelta(hours=1)).isoformat()
    client.set(
        "telemetry:payment:pym_hostile2",
        orjson.dumps({"runId": "run_hostile2", "organizationId": ORG, "timestamp": recent}),
    )
    client.set(f"telemetry:payment:{BAD_ID}", BAD_RAW.encode())


@pytest.fixture(scope="module")
def hostile_app(users_file: Path) -> Iterator[LiveApp]:
    """The app on a redis of its own, holding only the hostile records."""
    server: RedisServer = start_redis()
    try:
        client = server.client()
        try:
            seed(client)
        finally:
            client.close()
        app = start_app(server.url, users_file)
        try:
            yield app
        finally:
            app.close()
    finally:
        server.close()


@pytest.fixture
def hostile_page(page: Any, hostile_app: LiveApp) -> Any:
    """Signed in on the hostile app's Lookup page, the app idle."""
    page.goto(hostile_app.url)
    sign_in(page, USER, PASSWORD)
    wait_until_signed_in(page, COOKIE_NAME)
    expect(page.get_by_role("heading", name="Lookup")).to_be_visible()
    return page


def read(locator: Any) -> dict[str, Any]:
    settle(locator.page)
    return locator.evaluate(READ_DOM)


def assert_exact_text(dom: dict[str, Any], *shown: str, hrefs: list[str] | None = None) -> None:
    """Each of ``shown`` is in the visible text as is; no link but ``hrefs``, no image, no
    icon the app did not draw, no emoji or typographic arrow (every problem is listed)."""
    problems = [f"not shown as is: {value!r}" for value in shown if value not in dom["text"]]
    links = [h for h in dom["hrefs"] if h not in APP_ANCHORS]
    if links != (hrefs or []):
        problems.append(f"links: {links}")
    if dom["images"]:
        problems.append(f"images: {dom['images']}")
    if not set(dom["icons"]) <= APP_ICONS:
        problems.append(f"icons: {sorted(set(dom['icons']) - APP_ICONS)}")
    problems += [f"emoji or arrow: {c}" for c in EMOJI.findall(dom["text"])]
    problems += [f"emoji or arrow: {c}" for c in ARROWS.findall(dom["text"])]
    assert not problems, "\n".join([*problems, "--- visible text ---", dom["text"]])


def main(page: Any) -> Any:
    return page.get_by_test_id("stMain")


def test_lookup_shows_a_hostile_record_as_its_exact_text(hostile_page: Any) -> None:
    """The found card (ID, organization, key, notes, metadata) and the history pill show the
    record's text exactly; the only link is the run's."""
    page = hostile_page
    look_up(page, HOSTILE_ID)
    expect(page.get_by_role("link", name=f"Open run {RUN_ID} in Trigger.dev")).to_be_visible()
    expect(fresh(main(page).get_by_test_id("stJson"))).to_be_visible()
    dom = read(main(page))
    assert_exact_text(
        dom,
        f"Found payment {HOSTILE_ID}",
        f"Entity payment {HOSTILE_ID}",
        f"Organization {ORG}",
        f"Key telemetry:payment:{HOSTILE_ID}",
        f"Notes: timestamp {STAMP!r} is not a date; ",  # then: the key has no TTL
        f"; record says entityId={CLAIM!r}",
        *METADATA,
        *METADATA.values(),
        hrefs=[RUN_URL.format(run_id=RUN_ID)],
    )
    # The history pill: the ID cut in the middle to fit the side column, nothing else.
    pill = main(page).get_by_test_id("stButtonGroup").get_by_role("radio")
    expect(pill).to_have_count(1)
    label = shorten_middle(HOSTILE_ID, HISTORY_LABEL_CHARS)
    assert pill.inner_text().replace("check_circle", "", 1).strip() == label


def test_lookup_shows_hostile_invalid_and_missing_ids_as_their_exact_text(
    hostile_page: Any,
) -> None:
    """An invalid record's key and raw value, and a query that is not found, show exactly."""
    page = hostile_page
    look_up(page, BAD_ID)
    expect(fresh(main(page).get_by_text("Invalid record", exact=False))).to_be_visible()
    # The code block draws its text after the run ends (slowly on a loaded machine).
    expect(fresh(main(page).get_by_test_id("stCode"))).to_contain_text(BAD_RAW)
    assert_exact_text(
        read(main(page)),
        f"Invalid record at telemetry:payment:{BAD_ID} — value is not JSON",
        BAD_RAW,
    )

    look_up(page, MISSING)
    expect(fresh(main(page).get_by_text("Not found:", exact=False))).to_be_visible()
    assert_exact_text(read(main(page)), f"Not found: {MISSING}", f"telemetry:payment:{MISSING}")


def test_summary_and_bulk_show_hostile_values_as_plain_text(hostile_page: Any) -> None:
    """The Summary's organization filter and the Bulk page's copy block show hostile values
    as plain text; neither page makes a link, image or icon of them."""
    page = hostile_page
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Summary").click()
    expect(page.get_by_role("heading", name="Summary")).to_be_visible()
    # The hostile invalid record has no TTL, so no time: it counts in the "all" window only.
    window = page.get_by_role("radiogroup", name="Window")
    window.get_by_role("radio", name="all").click()
    expect(window.get_by_role("radio", name="all")).to_be_checked()
    expect(fresh(page.get_by_role("tab", name="Invalid records"))).to_be_visible()
    assert_exact_text(read(main(page)))
    settle(page)
    page.get_by_test_id("stMultiSelect").filter(has_text="Organizations").get_by_role(
        "combobox"
    ).click()
    options = page.get_by_role("option")
    expect(options.first).to_be_visible()
    assert ORG in options.all_inner_texts()
    page.keyboard.press("Escape")

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Bulk resolve").click()
    expect(page.get_by_role("heading", name="Bulk resolve")).to_be_visible()
    settle(page)
    box = page.get_by_role("textbox", name="IDs")
    box.fill(f"{HOSTILE_ID}\n{MISSING}")
    box.press("Control+Enter")
    copy = fresh(page.get_by_text("Copy missing IDs (1)"))
    expect(copy).to_be_visible()
    copy.click()
    expect(fresh(main(page).get_by_test_id("stCode"))).to_have_text(MISSING)
    assert_exact_text(read(main(page)), MISSING)
