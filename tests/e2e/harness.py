"""What the e2e suite and the screenshot script share: a users file made by the CLI,
``streamlit run app.py`` as a subprocess, and Debian's chromium.

Nothing here is pytest-specific, so ``tests/e2e/screenshots.py`` runs it as a
plain script too. Every process started here is a child of the caller, started
in its own session and stopped by its own pid (never by name).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app.py"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0
RUN_URL = "https://cloud.trigger.dev/runs/{run_id}"

# Settings the app reads from the environment: a developer's shell must not leak
# into the server under test (see tests/conftest.py for the same list).
_SETTING_NAME = re.compile(
    r"^(REDIS_|TELEMETRY_|RUN_URL_|RUNS_LIST_|AUTH_|SCAN_MAX_KEYS$|MAX_IDS$|DEMO_RECORDS$)"
)


# Every app server started by this process, so none outlives it (a crashed script,
# an interrupted run): killed at exit by process group, which is its own.
_LIVE: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_LIVE):
        with contextlib.suppress(Exception):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def chromium_missing_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is not installed (`./run test` installs it with apt)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed in this environment (requirements-dev.txt)"
    return None


def clean_env(**overrides: str) -> dict[str, str]:
    """The current environment without any app setting, plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if not _SETTING_NAME.match(k)}
    env.pop("STREAMLIT_SERVER_PORT", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def add_user(path: Path, username: str, password: str, *, name: str = "") -> None:
    """``python -m telemetry users add USERNAME --file PATH`` with the password on stdin."""
    args = [sys.executable, "-m", "telemetry", "users", "add", username, "--file", str(path)]
    if name:
        args += ["--name", name]
    proc = subprocess.run(
        args,
        input=password + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=clean_env(),
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"`python -m telemetry users add {username}` failed with status "
            f"{proc.returncode}:\n{proc.stderr.strip()}"
        )


class LiveApp:
    """``streamlit run app.py`` on a free loopback port, its log in a temporary file.

    ``env`` holds the app's settings (REDIS_URL, AUTH_CONFIG_PATH, ...); nothing
    else of the caller's settings reaches the server. No secrets file is read
    (``--secrets.files`` points at an empty directory's missing file).
    """

    def __init__(self, env: dict[str, str], *, extra_args: list[str] | None = None) -> None:
        self.script = APP  # what ``start`` serves (a benchmark floor puts its own in ``dir``)
        self._tmp = tempfile.TemporaryDirectory(prefix="run-lookup-e2e-")
        self.dir = Path(self._tmp.name)
        self.log = self.dir / "streamlit.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = clean_env(**env)
        self.extra_args = list(extra_args or [])
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> LiveApp:
        args = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(self.script),
            "--server.headless",
            "true",
            "--server.port",
            str(self.port),
            "--server.address",
            "127.0.0.1",
            "--server.fileWatcherType",
            "none",
            "--browser.gatherUsageStats",
            "false",
            "--secrets.files",
            str(self.dir / "no-secrets.toml"),
            *self.extra_args,
        ]
        with self.log.open("wb") as log:
            self._proc = subprocess.Popen(  # fixed argv, no shell
                args,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _LIVE.add(self._proc)
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        last: object = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"streamlit exited with status {self._proc.returncode} while starting.\n"
                    f"--- {self.log} ---\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as reply:  # noqa: S310 - our own loopback server
                    body = reply.read().decode("utf-8", "replace").strip()
                    if reply.status == 200 and body == "ok":
                        return
                    last = f"HTTP {reply.status}: {body[:80]}"
            except OSError as exc:
                last = exc
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"streamlit did not answer {self.url}/_stcore/health within "
            f"{START_TIMEOUT_SECONDS:.0f} s (last: {last!r}).\n--- {self.log} ---\n"
            f"{self.log_tail()}"
        )

    def stop(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            _LIVE.discard(proc)  # type: ignore[arg-type]
            return
        # Our own child, started in its own session: signal its process group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=STOP_TIMEOUT_SECONDS)
        _LIVE.discard(proc)

    def close(self) -> None:
        self.stop()
        self._tmp.cleanup()

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"

    def __enter__(self) -> LiveApp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def launch_chromium(playwright: Any, **kwargs: Any) -> Any:
    """Debian's chromium, headless (Playwright never downloads a browser here)."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, **kwargs
    )


def sign_in(page: Any, username: str, password: str) -> None:
    """Fill the login form and submit it (the caller asserts what follows)."""
    from playwright.sync_api import expect

    username_box = fresh(page.get_by_label("Username"))
    expect(username_box).to_be_visible()
    # The login page reruns while the cookie manager's component answers (later on a
    # loaded machine): typing during such a run may land in a form about to be replaced.
    settle(page)
    username_box.fill(username)
    password_box = fresh(page.get_by_label("Password", exact=True))
    password_box.fill(password)
    expect(username_box).to_have_value(username)
    expect(password_box).to_have_value(password)
    page.get_by_role("button", name="Sign in").click()


def settle(page: Any) -> None:
    """Wait until the app's script run is over (Streamlit marks it on the root element).

    Assertions poll on their own; this is for before an action, so it does not hit an
    element of the previous run that is about to be replaced.
    """
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")


def metric(page: Any, label: str) -> Any:
    """The value element of the ``st.metric`` labelled exactly ``label``, this run's copy
    (a moved metric row is on screen twice while a run is under way)."""
    card = page.get_by_test_id("stMetric").filter(
        has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)
    )
    return fresh(card.get_by_test_id("stMetricValue"))


# While a script run is in progress, Streamlit keeps the previous run's elements on
# screen, faded and marked data-stale="true", until the run replaces them. When an
# element's position changes between runs (e.g. right after signing in, when the
# cookie components come and go) both copies exist for a moment.
NOT_STALE = ':not([data-stale="true"] *)'


def fresh(locator: Any) -> Any:
    """``locator`` minus elements of the previous run that are about to go."""
    return locator.and_(locator.page.locator(NOT_STALE))


def empty_blocks_laid_out(page: Any) -> list[str]:
    """Blocks of the main area that are laid out (so they take a gap in their parent)
    while nothing in them is, e.g. an empty slot alone in a container: their HTML."""
    return page.evaluate(
        """() =>
  [...document.querySelectorAll('[data-testid=stMain] [data-testid=stVerticalBlock]')]
    .filter(block => block.getClientRects().length > 0)
    .filter(block => ![...block.querySelectorAll('*')].some(
      e => e.getClientRects().length > 0 && e.getBoundingClientRect().height > 0))
    .map(block => block.parentElement.outerHTML.slice(0, 300))"""
    )


def cookie_present(name: str) -> str:
    """A ``page.wait_for_function`` predicate: the browser holds cookie ``name``."""
    return f"() => document.cookie.split('; ').some(c => c.startsWith('{name}='))"


def wait_until_signed_in(page: Any, cookie_name: str) -> None:
    """After a successful sign-in (form or cookie): wait for the Sign out button, then
    until the sign-in transition is over.

    Signing in takes a few runs: the gate renders the cookie manager's components
    (reading, then setting the cookie), each of which reruns the app when it answers,
    and the page moves down or up while they come and go. It is over when the cookie
    is stored, the components are gone, no run is in progress and nothing is stale;
    typing into the page before that may land in an input that is about to be replaced.
    """
    from playwright.sync_api import expect

    expect(fresh(page.get_by_role("button", name="Sign out"))).to_be_visible()
    page.wait_for_function(
        "() => ("
        + cookie_present(cookie_name)
        + ")() && !document.querySelector('iframe[title*=\"cookie_manager\"]')"
        " && !document.querySelector('[data-stale=\"true\"]')"
        " && document.querySelector('[data-testid=\"stApp\"]')"
        "?.getAttribute('data-test-script-state') === 'notRunning'"
    )


def look_up(page: Any, text: str) -> None:
    """Type into the Lookup page's Entity ID box and press Enter (as the page says)."""
    settle(page)
    box = page.get_by_role("textbox", name="Entity ID")
    box.fill(text)
    box.press("Enter")
