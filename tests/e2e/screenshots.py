"""Take the README's screenshots of Run Lookup in a real browser.

    python -m tests.e2e.screenshots            # or: python tests/e2e/screenshots.py
    python -m tests.e2e.screenshots --demo     # the app's demo mode instead
    python -m tests.e2e.screenshots --out /tmp/shots

By default it starts a throwaway redis-server, seeds it with realistic
generated telemetry (both record shapes, every entity type, ~50 organizations,
ages spread over the TTL), connects the app to it as a least-privilege ACL user
with a password (so the sidebar shows the redacted URL), signs in through the
login form and writes ``login.png``, ``lookup.png``, ``bulk.png`` and
``summary.png`` (light theme, 1400×900) to ``docs/screenshots/``.

Needs redis-server (unless ``--demo``) and /usr/bin/chromium, like the e2e suite.
Everything it starts is stopped when it ends.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for entry in (ROOT, ROOT / "tests"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from redis_server import RedisServer  # noqa: E402
from telemetry.auth import DEMO_PASSWORD, DEMO_USERNAME  # noqa: E402
from telemetry.store import LEAST_PRIVILEGE_RULES  # noqa: E402
from telemetry.writer import SyntheticRecord, generate_records, write_records  # noqa: E402
from tests.e2e.harness import (  # noqa: E402
    LiveApp,
    add_user,
    chromium_missing_reason,
    launch_chromium,
    look_up,
    metric,
    settle,
    sign_in,
    wait_until_signed_in,
)

OUT = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1400, "height": 900}
RECORDS = 20_000
SEED = 4_242
DEMO_RECORDS = 5_000  # the app's demo data: DEMO_RECORDS records, generator seed 7
DEMO_SEED = 7
USERNAME = "dana"
USER_FULL_NAME = "Dana Whitfield"
PASSWORD = "screenshots only, 2026"
ACL_USER = "run-lookup"
ACL_PASSWORD = "screenshot-acl-password-1"
COOKIE_NAME = "run_lookup_auth"


def pick(records: list[SyntheticRecord], now: float) -> dict[str, Any]:
    """IDs that make a realistic screenshot: a rich payment of a few hours ago, some
    lookups for the history, and a pasted list for the bulk page."""

    def rich(r: SyntheticRecord) -> bool:
        return r.valid and b'"metadata"' in r.value

    def recent(r: SyntheticRecord, hours: float) -> bool:
        return now - r.processed_at < hours * 3600

    payment = next(
        r
        for r in records
        if r.entity_type == "payment"
        and rich(r)
        and b"succeeded" in r.value
        and 2 * 3600 < now - r.processed_at < 8 * 3600
    )
    history = [
        next(r for r in records if r.entity_type == "invoice" and r.valid and recent(r, 48)),
        next(r for r in records if r.entity_type == "billing_run" and r.valid and recent(r, 72)),
    ]
    valid = [r for r in records if r.valid and r is not payment]
    paste_records = [r for r in valid if recent(r, 72)][:22]
    invalid = next((r for r in records if not r.valid), None)
    return {
        "payment": payment,
        "history": history,
        "paste": paste_records,
        "invalid": invalid,
    }


def paste_text(chosen: dict[str, Any]) -> str:
    """A list as it arrives from Slack and a spreadsheet: quotes, type:ID, full keys,
    duplicates, IDs that expired long ago, one stored value that is not a record."""
    lines: list[str] = []
    for i, r in enumerate(chosen["paste"]):
        if i % 7 == 1:
            lines.append(f'"{r.entity_id}",')
        elif i % 7 == 3:
            lines.append(f"{r.entity_type}:{r.entity_id}")
        elif i % 7 == 5:
            lines.append(f"`{r.key}`")
        else:
            lines.append(r.entity_id)
    lines.insert(6, chosen["paste"][0].entity_id)  # a duplicate
    lines.insert(11, "pym_4vQ9ZpL2mX8cR1tY6wE3n")  # never processed / expired
    lines.insert(15, "inv_9KdT2wQx7LmP4sZ1vB8cN")
    if chosen["invalid"] is not None:
        lines.append(chosen["invalid"].entity_id)
    return "\n".join(lines) + "\n"


def shoot(page: Any, path: Path, *, max_height: int = VIEWPORT["height"]) -> None:
    """A screenshot of the window, taller (up to ``max_height``) when the page needs it.

    Streamlit scrolls inside its main element, not the document, so a "full page"
    screenshot would be the window only: the window grows instead.
    """
    settle(page)
    height = page.evaluate(
        "() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
        " return m ? m.scrollHeight : document.body.scrollHeight; }"
    )
    page.set_viewport_size(
        {"width": VIEWPORT["width"], "height": max(VIEWPORT["height"], min(height, max_height))}
    )
    settle(page)
    page.mouse.move(0, VIEWPORT["height"] - 1)  # no hover effects
    page.screenshot(path=str(path), animations="disabled")
    page.set_viewport_size(VIEWPORT)
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def take(app: LiveApp, chosen: dict[str, Any], out: Path, username: str, password: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context(
                viewport=VIEWPORT, color_scheme="light", device_scale_factor=1
            )
            context.set_default_timeout(30_000)
            page = context.new_page()

            # Login.
            page.goto(app.url)
            expect(page.get_by_label("Username")).to_be_visible()
            page.get_by_label("Username").fill(username)
            shoot(page, out / "login.png")

            sign_in(page, username, password)
            wait_until_signed_in(page, COOKIE_NAME)

            # Lookup: a few lookups for the history, then a rich payment record.
            for record in chosen["history"]:
                look_up(page, record.entity_id)
                expect(page.get_by_text(record.run_id or "").first).to_be_visible()
            payment: SyntheticRecord = chosen["payment"]
            look_up(page, payment.entity_id)
            expect(
                page.get_by_role("link", name=f"Open run {payment.run_id} in Trigger.dev")
            ).to_be_visible()
            expect(page.get_by_test_id("stJson")).to_be_visible()
            page.get_by_role("textbox", name="Entity ID").blur()
            shoot(page, out / "lookup.png")

            # Bulk resolve: a pasted list.
            page.get_by_test_id("stSidebarNav").get_by_role("link", name="Bulk resolve").click()
            expect(page.get_by_role("heading", name="Bulk resolve")).to_be_visible()
            settle(page)
            ids = page.get_by_label("IDs")
            ids.fill(paste_text(chosen))
            ids.press("Control+Enter")
            expect(metric(page, "Found")).to_be_visible()
            expect(page.get_by_test_id("stDataFrame")).to_be_visible()
            ids.blur()
            ids.evaluate("el => { el.scrollTop = 0; }")  # show the list from its start
            shoot(page, out / "bulk.png", max_height=1300)

            # Summary: the default window.
            page.get_by_test_id("stSidebarNav").get_by_role("link", name="Summary").click()
            expect(metric(page, "Records")).to_be_visible()
            expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible()
            chart = page.get_by_test_id("stVegaLiteChart").first
            expect(chart.locator("canvas, svg").first).to_be_visible()
            shoot(page, out / "summary.png", max_height=1060)
        finally:
            browser.close()


def seeded(args: argparse.Namespace, out: Path) -> None:
    now = time.time()
    records = list(generate_records(args.records, seed=args.seed, now=now))
    chosen = pick(records, now)
    with tempfile.TemporaryDirectory(prefix="run-lookup-shots-") as tmp:
        users = Path(tmp) / "auth.yaml"
        add_user(users, USERNAME, PASSWORD, name=USER_FULL_NAME)
        with RedisServer() as server:
            client = server.client()
            write_records(client, records)
            client.close()
            url = server.add_acl_user(
                ACL_USER, ACL_PASSWORD, LEAST_PRIVILEGE_RULES.format(namespace="telemetry")
            )
            env = {
                "REDIS_URL": url,
                "AUTH_CONFIG_PATH": str(users),
                "AUTH_COOKIE_KEY": "screenshots-cookie-key-" + "s" * 32,
            }
            with LiveApp(env) as app:
                take(app, chosen, out, USERNAME, PASSWORD)


def demo(out: Path) -> None:
    # The app generates its demo data when it starts; the same generator and seed
    # give the same IDs (their ages follow the app's clock, close enough to ours).
    with LiveApp({"DEMO_RECORDS": str(DEMO_RECORDS)}) as app:
        now = time.time()
        records = list(generate_records(DEMO_RECORDS, seed=DEMO_SEED, now=now))
        take(app, pick(records, now), out, DEMO_USERNAME, DEMO_PASSWORD)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="directory (docs/screenshots)")
    parser.add_argument("--demo", action="store_true", help="the app's demo mode, no Redis")
    parser.add_argument("--records", type=int, default=RECORDS, help="records to seed")
    parser.add_argument("--seed", type=int, default=SEED, help="generator seed")
    args = parser.parse_args(argv)
    reason = chromium_missing_reason()
    if reason:
        print(f"screenshots: {reason}", file=sys.stderr)
        return 2
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    if args.demo:
        demo(out)
    else:
        seeded(args, out)
    print(f"done in {(datetime.now(UTC) - started).total_seconds():.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
