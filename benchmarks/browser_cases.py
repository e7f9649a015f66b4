"""Cases of issue #17: the Streamlit pages as a user sees them, timed in Chromium.

The AppTest cases (``app_cases.py``) time a page's script run in-process; what a
user waits for is more: the key press travels over the WebSocket, the server
reruns the script, the deltas come back and React draws them. These cases time
exactly that, in the browser, for ``streamlit run app.py`` on the benchmark's
Redis (real mode: a users file, a cookie key), signed in through the form.

- ``browser-lookup``: an entity ID typed into "Entity ID", Enter; until the found
  run's link and its code block are drawn.
- ``browser-bulk``: ``bulk_page_ids`` known IDs pasted into "IDs", Ctrl+Enter;
  until the "Found" metric shows the library's count. The text goes into the box
  as one input event, as a clipboard paste does (untimed). Each sample pastes the
  list rotated by one more line (a new text: the page keeps a result per input
  in session state, and the same paste again would rightly not be resolved
  again), after the box was emptied in an untimed run, so no earlier counts are
  on the page.
- ``browser-summary``: both windows scanned first (untimed); then Enter on the
  other "Window" option; until the "Records" metric shows that window's count.
  A window's scan is cached 60 s, so the samples follow the scans at once; the
  SCAN calls during them are counted in the note (0: every sample was warm).

The floor is a bare Streamlit page (a temporary script, ``streamlit run`` with
the project's ``.streamlit/config.toml``) in the same Chromium, interleaved with
the subject: a text_input whose value is echoed with ``st.write`` (Lookup,
Summary), or a text_area whose line count is shown (Bulk, the same text).

Timing is done by the page itself: a capturing ``keydown`` listener stamps the
Enter key (``performance.now()``), a ``MutationObserver`` stamps the mutation
that puts the expected element in the DOM, outside any element Streamlit marks
stale (the previous run's copy). Nothing is polled from Python. Measured, no
target.

One chromium, one app server (signed in once) and one bare server serve the
three cases (``ctx.memo``): starting them and signing in take longer than the
samples. They stop when the runner exits, or when a case fails.
"""

from __future__ import annotations

import atexit
import contextlib
import secrets
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .harness import ROOT, TESTS, Context, Row, Skip, median, register

USERNAME = "bench-browser"
WAIT_MS = 300_000  # a Bulk paste of 10,000 IDs on a loaded 2-core machine: generous
VIEWPORT = {"width": 1400, "height": 900}
DROPPED = ("TRIGGER_SECRET_KEY", "TRIGGER_API_URL", "DEMO_MODE")  # run state off: no HTTP

# The floor: one script, two pages of it (?floor=input / ?floor=area), so each
# page draws only its own widget (a text_area's 10,000 lines would otherwise be
# sent with every text_input rerun).
FLOOR_SCRIPT = """\
import streamlit as st

if st.query_params.get("floor") == "area":
    text = st.text_area("IDs")
    lines = text.splitlines()
    st.write(f"{len(lines):,} lines, first {lines[0] if lines else '-'}")
else:
    st.write(f"echo {st.text_input('Entity ID')}")
"""

# Installed before the key press; ``window.__bench.done`` resolves with the
# milliseconds from the Enter keydown to the mutation that drew every condition.
# A condition: elements matching ``sel`` (not inside a stale element) of which one
# has ``text`` in its text, or with ``label`` (an st.metric) the label and exactly
# ``text`` as its value.
INSTALL = """
([conditions, timeoutMs]) => {
  const fresh = (el) => !el.closest('[data-stale="true"]');
  const holds = (c) => Array.from(document.querySelectorAll(c.sel)).some((el) => {
    if (!fresh(el)) return false;
    if (c.label === undefined) return el.textContent.includes(c.text);
    const label = el.querySelector('[data-testid="stMetricLabel"]');
    const value = el.querySelector('[data-testid="stMetricValue"]');
    return !!label && !!value && label.textContent.trim() === c.label
      && value.textContent.trim() === c.text;
  });
  const drawn = () => conditions.every(holds);
  if (drawn()) return "already drawn before the key press";
  const bench = { keydown: null };
  window.__bench = bench;
  const onKey = (e) => {
    if (e.key === "Enter" && bench.keydown === null) bench.keydown = performance.now();
  };
  document.addEventListener("keydown", onKey, { capture: true });
  bench.done = new Promise((resolve, reject) => {
    const stop = () => {
      observer.disconnect();
      clearTimeout(timer);
      document.removeEventListener("keydown", onKey, { capture: true });
    };
    const observer = new MutationObserver(() => {
      if (bench.keydown !== null && drawn()) {
        const at = performance.now();
        stop();
        resolve(at - bench.keydown);
      }
    });
    const timer = setTimeout(() => {
      stop();
      reject(new Error("not drawn within " + timeoutMs + " ms: " + JSON.stringify(conditions)));
    }, timeoutMs);
    observer.observe(document.body, {
      childList: true, subtree: true, characterData: true,
      attributes: true, attributeFilter: ["data-stale"],
    });
  });
  return "";
}
"""
AWAIT = "() => window.__bench.done"

# For the untimed steps: resolves when a script run that starts after it was
# installed is over. (``settle`` alone may look before the run has started.) The
# records' old values count too: a short run may start and end in one batch.
INSTALL_RUN = """
(timeoutMs) => {
  const app = document.querySelector('[data-testid="stApp"]');
  const state = () => app.getAttribute("data-test-script-state");
  window.__benchRun = new Promise((resolve, reject) => {
    let ran = false;
    const observer = new MutationObserver((records) => {
      ran = ran || state() === "running" || records.some((r) => r.oldValue === "running");
      if (ran && state() === "notRunning") {
        observer.disconnect();
        clearTimeout(timer);
        resolve();
      }
    });
    const timer = setTimeout(() => {
      observer.disconnect();
      reject(new Error("no script run ended within " + timeoutMs + " ms"));
    }, timeoutMs);
    observer.observe(app, {
      attributes: true, attributeOldValue: true, attributeFilter: ["data-test-script-state"],
    });
  });
}
"""


def _e2e() -> Any:
    """``tests/e2e/harness.py`` (LiveApp, chromium, sign-in helpers), or Skip with why not."""
    for path in (str(ROOT), str(TESTS)):  # it imports tests/redis_server.py as a top module
        if path not in sys.path:
            sys.path.insert(0, path)
    from tests.e2e import harness as e2e

    reason = e2e.chromium_missing_reason()
    if reason is not None:
        raise Skip(reason)
    if not e2e.APP.exists():
        raise Skip(f"app not available ({e2e.APP} missing)")
    return e2e


def _users(ctx: Context) -> tuple[Path, str]:
    """A users file with one user (bcrypt rounds 4: signing in is not what is timed)."""
    users = ctx.memo.get("browser_users")
    if users is None:
        from telemetry.users import add_user

        password = secrets.token_urlsafe(24)
        path = Path(tempfile.mkdtemp(prefix="run-lookup-bench-browser-")) / "auth.yaml"
        add_user(path, USERNAME, password, name="Benchmark", rounds=4)
        users = ctx.memo["browser_users"] = (path, password)
    return users


def _live_app(e2e: Any, ctx: Context, users: Path) -> Any:
    app = e2e.LiveApp(
        {
            "REDIS_URL": ctx.url,
            "AUTH_CONFIG_PATH": str(users),
            "AUTH_COOKIE_KEY": secrets.token_urlsafe(36)[:48],
            # The whole keyspace, as the other Summary cases scan it.
            "SCAN_MAX_KEYS": str(max(2 * ctx.size.keys, 1_000_000)),
            "REDIS_SOCKET_TIMEOUT": "60",
        }
    )
    for name in DROPPED:
        app.env.pop(name, None)
    return app


def _bare_app(e2e: Any) -> Any:
    """LiveApp's server (same flags, cwd, clean settings) running ``FLOOR_SCRIPT``, kept in
    the server's own folder (removed with it)."""
    app = e2e.LiveApp({})
    app.script = app.dir / "floor.py"
    app.script.write_text(FLOOR_SCRIPT)
    return app


class Browser:
    """Chromium, the app (signed in on one page), the bare app: started once, on the first
    browser case, and shared by the others through ``ctx.memo`` (each costs seconds to
    start, signing in a few reruns more). Closed at exit, or by a case that fails."""

    def __init__(self, e2e: Any, ctx: Context) -> None:
        from playwright.sync_api import expect, sync_playwright

        expect.set_options(timeout=120_000)
        self.e2e = e2e
        self.stack = contextlib.ExitStack()
        try:
            users, password = _users(ctx)
            self.app = _live_app(e2e, ctx, users)
            self.stack.callback(self.app.close)
            self.app.start()
            self.floor = _bare_app(e2e)
            self.stack.callback(self.floor.close)
            self.floor.start()
            playwright = sync_playwright().start()
            self.stack.callback(playwright.stop)
            self.chromium = e2e.launch_chromium(playwright)
            self.stack.callback(self.chromium.close)
            self.page = _context(self.chromium).new_page()
            self.page.goto(self.app.url)
            e2e.sign_in(self.page, USERNAME, password)
            e2e.wait_until_signed_in(self.page, ctx.settings().auth_cookie_name)
            self.bare = _context(self.chromium)  # one profile for the floor's pages
        except BaseException:
            self.close()
            raise

    def open(self, link: str) -> Any:
        """The signed-in page, on the app's page ``link`` (its sidebar entry and title)."""
        from playwright.sync_api import expect

        e2e, page = self.e2e, self.page
        e2e.settle(page)
        if not e2e.fresh(page.get_by_role("heading", name=link)).is_visible():
            rerun(page, page.get_by_test_id("stSidebarNav").get_by_role("link", name=link).click)
        expect(e2e.fresh(page.get_by_role("heading", name=link))).to_be_visible()
        return page

    def floor_page(self, kind: str) -> Any:
        page = self.bare.new_page()
        page.goto(f"{self.floor.url}/?floor={kind}")
        self.e2e.settle(page)
        return page

    def close(self) -> None:
        self.stack.close()


@contextlib.contextmanager
def _browser(ctx: Context) -> Iterator[Browser]:
    """The shared ``Browser``; a case that fails closes it (the next one starts afresh)."""
    browser = ctx.memo.get("browser")
    if browser is None:
        browser = ctx.memo["browser"] = Browser(_e2e(), ctx)
        atexit.register(browser.close)
    try:
        yield browser
    except BaseException:
        ctx.memo.pop("browser", None)
        atexit.unregister(browser.close)
        browser.close()
        raise


def _context(chromium: Any) -> Any:
    context = chromium.new_context(viewport=VIEWPORT)
    context.set_default_timeout(120_000)
    return context


# A paste: the whole text in one input event, as the clipboard delivers it. (Playwright's
# fill() inserts it through the editor, ~4 ms a line: 40 s for 10,000 lines.)
PASTE = """(box, text) => {
  const set = Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, "value").set;
  set.call(box, text);
  box.dispatchEvent(new Event("input", { bubbles: true }));
}"""


def rerun(page: Any, action: Callable[[], None]) -> None:
    """Do ``action`` (untimed) and wait until the script run it caused is over."""
    page.evaluate(INSTALL_RUN, WAIT_MS)
    action()
    page.evaluate("() => window.__benchRun")


def press_and_time(page: Any, conditions: list[dict[str, str]], press: Callable[[], None]) -> float:
    """Seconds from the Enter keydown (``press`` sends it) to ``conditions`` drawn."""
    problem = page.evaluate(INSTALL, [conditions, WAIT_MS])
    if problem:
        raise RuntimeError(f"{problem}: {conditions}")
    press()
    return float(page.evaluate(AWAIT)) / 1000


def _echo(text: str) -> list[dict[str, str]]:
    return [{"sel": '[data-testid="stMarkdownContainer"]', "text": text}]


def _metric(label: str, value: str) -> list[dict[str, str]]:
    return [{"sel": '[data-testid="stMetric"]', "label": label, "text": value}]


def enter_and_time(
    e2e: Any, page: Any, box: Any, text: str, conditions: list[dict[str, str]]
) -> float:
    """Type ``text`` into a text input (untimed), press Enter: seconds until drawn."""
    e2e.settle(page)
    box.fill(text)
    seconds = press_and_time(page, conditions, lambda: box.press("Enter"))
    e2e.settle(page)  # the run's end: the next sample starts on an idle page
    return seconds


def paste_and_time(
    e2e: Any, page: Any, box: Any, text: str, conditions: list[dict[str, str]]
) -> float:
    """Paste ``text`` into a text area (untimed), press Ctrl+Enter: seconds until drawn."""
    e2e.settle(page)
    box.evaluate(PASTE, text)
    seconds = press_and_time(page, conditions, lambda: box.press("Control+Enter"))
    e2e.settle(page)
    return seconds


def pairs(
    floor: Callable[[int], float], subject: Callable[[int], float], runs: int
) -> tuple[list[float], list[float]]:
    """``harness.interleave`` for samples the browser measured: each call returns its own
    seconds; its argument counts that function's calls (0 the warm-up), so each call can
    type something the page does not show yet."""
    floor(0), subject(0)  # warm-up: the first draws load code in the browser
    floors: list[float] = []
    subjects: list[float] = []
    for i in range(runs):
        order = ((floors, floor), (subjects, subject))
        for samples, func in order if i % 2 == 0 else order[::-1]:
            samples.append(func(len(samples) + 1))
    return floors, subjects


def _row(case: str, size: str, floors: list[float], subjects: list[float], note: str) -> Row:
    return Row(
        case=case,
        size=size,
        target="measured",
        floor=median(floors),
        subject=median(subjects),
        ratio=median(subjects) / median(floors),
        met=None,
        note=note,
        floor_samples=floors,
        subject_samples=subjects,
    )


def _found_runs(ctx: Context, wanted: int = 10) -> list[tuple[str, str]]:
    """(entity ID, run ID) of seeded records the Lookup page shows as found, with a link."""
    from telemetry import is_linkable

    reader = ctx.reader()
    out = []
    for entity_id in ctx.data.lookup_ids:
        rows = reader.lookup(entity_id)
        run_id = rows[0].run_id if len(rows) == 1 and rows[0].status.value == "found" else None
        if run_id and is_linkable(run_id) and run_id not in {r for _, r in out}:
            out.append((entity_id, run_id))
        if len(out) == wanted:
            break
    if len(out) < 2:
        raise RuntimeError("browser-lookup: fewer than 2 seeded IDs resolve as found")
    return out


@register("browser-lookup", "Lookup page in Chromium: Enter to the found run drawn, vs a bare page")
def browser_lookup(ctx: Context) -> Row:
    _e2e()  # skipped before any work without chromium or playwright
    found = _found_runs(ctx)
    with _browser(ctx) as browser:
        e2e = browser.e2e
        page = browser.open("Lookup")
        box = page.get_by_role("textbox", name="Entity ID")
        bare = browser.floor_page("input")
        bare_box = bare.get_by_role("textbox", name="Entity ID")

        # Consecutive samples look up different IDs: the previous result (another run) is
        # on the page until the new one replaces it, never matching the new run's ID.
        def subject(n: int) -> float:
            entity_id, run_id = found[n % len(found)]
            drawn = [
                {"sel": f'a[href$="/runs/{run_id}"]', "text": ""},
                {"sel": '[data-testid="stCode"]', "text": run_id},
            ]
            return enter_and_time(e2e, page, box, entity_id, drawn)

        def floor(n: int) -> float:
            entity_id = found[n % len(found)][0]
            return enter_and_time(e2e, bare, bare_box, entity_id, _echo(f"echo {entity_id}"))

        floors, subjects = pairs(floor, subject, ctx.runs_for())
        bare.close()
    return _row(
        "browser-lookup",
        "1 ID",
        floors,
        subjects,
        "Enter → the run's link and code block drawn; floor = bare text_input echoed by st.write",
    )


@register("browser-bulk", "Bulk page in Chromium: Ctrl+Enter to the counts drawn, vs a bare page")
def browser_bulk(ctx: Context) -> Row:
    from playwright.sync_api import expect

    from .cases import library_resolve

    _e2e()
    ids = ctx.data.known_ids[: ctx.size.bulk_page_ids]
    found = library_resolve(ctx.reader(), ctx.pasted(ids)).counts["found"]

    def rotated(n: int) -> list[str]:
        k = (n + 1) % len(ids)  # never the list as the seeder gave it, nor a repeat in a row
        return ids[k:] + ids[:k]

    with _browser(ctx) as browser:
        e2e = browser.e2e
        page = browser.open("Bulk resolve")
        box = page.get_by_label("IDs")
        bare = browser.floor_page("area")
        bare_box = bare.get_by_label("IDs")

        def subject(n: int) -> float:
            # Untimed: an empty box, so the page shows no counts when the paste is sent.
            e2e.settle(page)
            box.evaluate(PASTE, "")
            box.press("Control+Enter")
            expect(page.get_by_test_id("stMetric")).to_have_count(0)
            return paste_and_time(
                e2e, page, box, ctx.pasted(rotated(n)), _metric("Found", f"{found:,}")
            )

        def floor(n: int) -> float:
            lines = rotated(n)
            echo = f"{len(lines):,} lines, first {lines[0]}"
            return paste_and_time(e2e, bare, bare_box, ctx.pasted(lines), _echo(echo))

        floors, subjects = pairs(floor, subject, ctx.runs_for())
        bare.close()
    return _row(
        "browser-bulk",
        f"{len(ids):,} IDs",
        floors,
        subjects,
        f"Ctrl+Enter → Found = {found:,} drawn; floor = bare text_area, line count by st.write",
    )


@register(
    "browser-summary",
    "Summary page in Chromium, warm: Enter on another window to its metrics drawn, vs a bare page",
    heavy=True,
)
def browser_summary(ctx: Context) -> Row:
    from playwright.sync_api import expect

    _e2e()
    found = _found_runs(ctx, wanted=2)  # the floor types what the Lookup floor types
    with _browser(ctx) as browser:
        e2e = browser.e2e
        bare = browser.floor_page("input")
        bare_box = bare.get_by_role("textbox", name="Entity ID")

        # Untimed: the default window's scan (the page's first run), then another's, until
        # two windows show different Records (the sample waits for the other's number).
        before = int(ctx.server.commandstats().get("scan", 0))
        page = browser.open("Summary")
        window = page.get_by_role("radiogroup", name="Window")
        records = e2e.fresh(e2e.metric(page, "Records"))
        counts: dict[str, str] = {}
        for name in ("24h", "7d", "all", "6h", "1h"):
            option = window.get_by_role("radio", name=name)
            if not counts and option.get_attribute("aria-checked") != "true":
                raise RuntimeError("browser-summary: the page did not open on the 24h window")
            if counts:
                rerun(page, option.click)
                expect(option).to_be_checked()
            counts[name] = records.inner_text().strip()
            if name != "24h" and counts[name] != counts["24h"]:
                break
        choices = "24h", list(counts)[-1]
        if counts[choices[0]] == counts[choices[1]]:
            raise RuntimeError(f"browser-summary: every window shows {counts} records")
        scans = int(ctx.server.commandstats().get("scan", 0))

        def subject(n: int) -> float:
            e2e.settle(page)
            name = choices[n % 2]  # the other window: the page shows the one of call n - 1
            option = window.get_by_role("radio", name=name)
            option.focus()
            seconds = press_and_time(
                page, _metric("Records", counts[name]), lambda: option.press("Enter")
            )
            e2e.settle(page)
            return seconds

        def floor(n: int) -> float:
            entity_id = found[n % 2][0]
            return enter_and_time(e2e, bare, bare_box, entity_id, _echo(f"echo {entity_id}"))

        floors, subjects = pairs(floor, subject, ctx.runs_for())
        rescans = int(ctx.server.commandstats().get("scan", 0)) - scans
        bare.close()
    if scans == before:
        raise RuntimeError("browser-summary: the Summary page sent no SCAN")
    return _row(
        "browser-summary",
        f"{ctx.size.keys:,} keys",
        floors,
        subjects,
        f"Enter on Window {choices[0]}↔{choices[1]} → its Records drawn; {rescans} SCAN calls "
        "while timed; floor = bare text_input echoed by st.write",
    )
