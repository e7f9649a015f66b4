"""App cases of issue 5: the Lookup, Bulk and Summary pages under ``AppTest``.

The floor is an empty Streamlit page run in the same harness, so what is
measured is what the page adds to Streamlit's own per-run cost. Pages are
driven the way a user does (type in the input, press the button) with a
signed-in session injected as the app's tests do. Without ``app.py`` and its
pages every case here is a clean "skipped: app not available" row.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .cases import library_resolve
from .harness import ROOT, Context, Row, Skip, median, register, timed

APP = ROOT / "app.py"
PAGES = {"lookup": "pages/lookup.py", "bulk": "pages/bulk.py", "summary": "pages/summary.py"}
EMPTY_PAGE = "import streamlit as st\n"
USERNAME = "bench"
NEUTRAL_SECRETS = {"TELEMETRY_NAMESPACE": "telemetry"}
RUN_TIMEOUT = 900.0  # a cold Summary run scans the whole keyspace
RESOLVE_LABEL = re.compile(r"resolve|look ?up|search|submit|go\b|run\b", re.IGNORECASE)
AGAIN_LABEL = re.compile(r"again|refresh|retry", re.IGNORECASE)
# Element kinds whose protobufs carry what a page shows (text, links, values).
SHOWN = (
    "markdown",
    "caption",
    "code",
    "text",
    "link_button",
    "metric",
    "json",
    "success",
    "info",
    "warning",
    "error",
    "title",
    "header",
    "subheader",
    "dataframe",
    "table",
)


def _require_app(page: str) -> None:
    missing = [str(p) for p in (APP, ROOT / PAGES[page]) if not p.exists()]
    if missing:
        raise Skip("app not available (" + ", ".join(missing) + " missing)")
    try:
        import streamlit.testing.v1  # noqa: F401
    except ImportError as exc:
        raise Skip(f"app not available (streamlit.testing: {exc})") from None


@contextlib.contextmanager
def app_env(ctx: Context) -> Iterator[None]:
    """The app in real mode on the benchmark server, as production configures it:
    ``REDIS_URL``, a users file holding the signed-in user, a cookie key."""
    names = ("REDIS_URL", "REDIS_CLUSTER", "AUTH_CONFIG_PATH", "AUTH_COOKIE_KEY")
    saved_env = {name: os.environ.get(name) for name in names}
    saved_cwd = os.getcwd()
    users = ctx.memo.get("app_users")
    if users is None:
        from telemetry.users import add_user

        folder = Path(tempfile.mkdtemp(prefix="run-lookup-bench-"))
        users = folder / "auth.yaml"
        add_user(users, USERNAME, secrets.token_urlsafe(24), name="Benchmark", rounds=4)
        ctx.memo["app_users"] = users
    os.environ["REDIS_URL"] = ctx.url
    os.environ.pop("REDIS_CLUSTER", None)
    os.environ["AUTH_CONFIG_PATH"] = str(users)
    os.environ["AUTH_COOKIE_KEY"] = secrets.token_hex(32)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    # AppTest's own calls outside a script run warn "missing ScriptRunContext".
    quiet = logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        yield
    finally:
        quiet.setLevel(level)
        os.chdir(saved_cwd)
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _check(at: Any, what: str) -> Any:
    if len(at.exception):
        raise RuntimeError(f"{what}: the page raised: {at.exception[0].value}")
    return at


def open_page(page: str) -> Any:
    """A fresh AppTest of ``app.py``, signed in, on ``page``, after its first run."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)
    # Any non-empty mapping replaces st.secrets: a developer's secrets.toml is never read.
    at.secrets = dict(NEUTRAL_SECRETS)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = USERNAME
    at.session_state["name"] = "Benchmark"
    at.switch_page(PAGES[page])
    return _check(at.run(), f"{page} page, first run")


def empty_page() -> Any:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_string(EMPTY_PAGE, default_timeout=RUN_TIMEOUT)
    return at.run()


# A page that renders nothing, the way every page starts: through the shell's context.
SHELL_PAGE = "from ui import shell\n\nshell.page_context()\n"


def shell_page(ctx: Context) -> Any:
    """The app shell with an empty page: ``app.py`` as it is (settings, navigation, the
    sign-in gate, the sidebar with its status and account), every page replaced by
    ``SHELL_PAGE``; signed in, after its first run. What a page adds is its ratio to this.

    Under ``AppTest`` a page's ``page_context()`` runs the shell again on every run
    (AppTest resets Streamlit's legacy pages/ flag before each run; a real server
    clears it once per process), and this floor pays that too.
    """
    from streamlit.testing.v1 import AppTest

    folder = ctx.memo.get("app_shell")
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="run-lookup-bench-shell-"))
        (folder / "pages").mkdir()
        (folder / "app.py").write_text(APP.read_text())
        for name in PAGES.values():
            (folder / name).write_text(SHELL_PAGE)
        ctx.memo["app_shell"] = folder
    at = AppTest.from_file(str(folder / "app.py"), default_timeout=RUN_TIMEOUT)
    at.secrets = dict(NEUTRAL_SECRETS)
    at.session_state["authentication_status"] = True
    at.session_state["username"] = USERNAME
    at.session_state["name"] = "Benchmark"
    at.switch_page(PAGES["lookup"])
    return _check(at.run(), "app shell with an empty page, first run")


def interleave3(
    floor: Callable[[], Any], shell: Callable[[], Any], subject: Callable[[], Any], runs: int
) -> tuple[list[float], list[float], list[float]]:
    """``harness.interleave`` for three: the order rotates every round, after a warm-up."""
    funcs = (floor, shell, subject)
    samples: tuple[list[float], list[float], list[float]] = ([], [], [])
    for func in funcs:
        func()
    for i in range(runs):
        for j in range(3):
            k = (i + j) % 3
            samples[k].append(timed(funcs[k])[0])
    return samples


def _shell_note(shells: list[float], subjects: list[float]) -> str:
    shell = median(shells)
    return (
        f"vs the app shell with an empty page ({shell * 1e3:.1f} ms): "
        f"{median(subjects) / shell:.2f}×"
    )


def shown_text(at: Any) -> str:
    """Everything the page shows, as text (protobuf dumps of its visible elements)."""
    parts: list[str] = []
    for kind in SHOWN:
        with contextlib.suppress(Exception):
            parts.extend(str(getattr(element, "proto", element)) for element in at.get(kind))
    return "\n".join(parts)


def _main_widgets(at: Any, kind: str) -> list[Any]:
    widgets = list(getattr(at.main, kind))
    return widgets or list(getattr(at, kind))


def submit(at: Any) -> Any:
    """Click the page's resolve/look-up button when it has one (inputs apply on rerun anyway)."""
    for button in _main_widgets(at, "button"):
        label = str(getattr(button, "label", ""))
        if RESOLVE_LABEL.search(label) and not AGAIN_LABEL.search(label):
            button.click()
            break
    return at


def _rerun_floor() -> Callable[[], Any]:
    """An empty page after its first run: each call is one rerun in the same harness."""
    return empty_page().run


def _rerun_samples(ctx: Context) -> int:
    """Rounds for the rerun cases: a rerun costs milliseconds, and a median of a few
    samples of something that short swings with whatever else the machine does."""
    return max(ctx.runs_for() * 5, 5)


def _commands(ctx: Context, name: str) -> int:
    return int(ctx.server.commandstats().get(name, 0))


@register("page-lookup", "Lookup page rerun (AppTest) for one found ID vs an empty page")
def page_lookup(ctx: Context) -> Row:
    _require_app("lookup")
    reader = ctx.reader()
    expected = {}
    for entity_id in ctx.data.lookup_ids[:10]:
        rows = reader.lookup(entity_id)
        if rows and rows[0].status.value == "found" and rows[0].run_id:
            expected[entity_id] = rows[0].run_id
    if not expected:
        raise RuntimeError("page-lookup: no seeded ID resolves as found")
    ids = list(expected)
    with app_env(ctx):
        at = open_page("lookup")
        inputs = _main_widgets(at, "text_input")
        if not inputs:
            raise Skip("app not available (the Lookup page has no text input)")
        key = inputs[0].key
        turn = iter(range(1_000_000))

        def subject() -> Any:
            entity_id = ids[next(turn) % len(ids)]
            field = at.text_input(key=key) if key else _main_widgets(at, "text_input")[0]
            field.input(entity_id)
            out = _check(submit(at).run(), "lookup page")
            if expected[entity_id] not in shown_text(out):
                raise RuntimeError(f"lookup page: run {expected[entity_id]} not shown")
            return out

        shell = shell_page(ctx).run
        floors, shells, subjects = interleave3(_rerun_floor(), shell, subject, _rerun_samples(ctx))
    ratio = median(subjects) / median(floors)
    return Row(
        case="page-lookup",
        size="1 ID",
        target="≤ 2×",
        floor=median(floors),
        subject=median(subjects),
        ratio=ratio,
        met=ratio <= 2,
        note=_shell_note(shells, subjects),
        floor_samples=floors,
        subject_samples=subjects,
    )


@register("page-bulk", "Bulk page run (AppTest) vs library resolve + an empty page")
def page_bulk(ctx: Context) -> Row:
    _require_app("bulk")
    ids = ctx.data.known_ids[: ctx.size.bulk_page_ids]
    text = ctx.pasted(ids)
    reader = ctx.reader()
    with app_env(ctx):
        empty = empty_page()

        def floor() -> float:
            return timed(lambda: library_resolve(reader, text))[0] + timed(empty.run)[0]

        def subject() -> float:
            # A fresh session each time (first run untimed): results are kept in
            # session state, so the same paste again would rightly not re-query.
            at = open_page("bulk")
            areas = _main_widgets(at, "text_area")
            if not areas:
                raise Skip("app not available (the Bulk page has no text area)")
            areas[0].input(text)
            ready = submit(at)
            before = _commands(ctx, "mget")
            seconds, out = timed(ready.run)
            _check(out, "bulk page")
            if _commands(ctx, "mget") < before + len(ids) // 1_000:
                raise RuntimeError("bulk page: the run did not resolve the paste")
            return seconds

        floor(), subject()  # warm-up
        floors: list[float] = []
        subjects: list[float] = []
        for i in range(ctx.runs_for()):
            pair = ((floors, floor), (subjects, subject))
            for samples, func in pair if i % 2 == 0 else pair[::-1]:
                samples.append(func())
    ratio = median(subjects) / median(floors)
    return Row(
        case="page-bulk",
        size=f"{len(ids):,} IDs",
        target="≤ 1.5×",
        floor=median(floors),
        subject=median(subjects),
        ratio=ratio,
        met=ratio <= 1.5,
        note="floor = library resolve + empty page run",
        floor_samples=floors,
        subject_samples=subjects,
    )


@register("page-summary", "Summary page rerun with a warm cache vs an empty page", heavy=True)
def page_summary(ctx: Context) -> Row:
    _require_app("summary")
    from ui import cache

    with app_env(ctx):
        cache.clear_all()  # cold: the first run scans the keyspace and caches it
        before = _commands(ctx, "scan")
        start = time.perf_counter()
        at = open_page("summary")
        cold = time.perf_counter() - start
        scans = _commands(ctx, "scan")
        if scans == before:
            raise Skip("app not available (the Summary page's first run sent no SCAN)")

        def subject() -> Any:
            return _check(at.run(), "summary page rerun")

        shell = shell_page(ctx).run
        floors, shells, subjects = interleave3(_rerun_floor(), shell, subject, _rerun_samples(ctx))
        rescans = _commands(ctx, "scan") - scans
    ratio = median(subjects) / median(floors)
    return Row(
        case="page-summary",
        size=f"{ctx.size.keys:,} keys",
        target="≤ 2× (no rescan)",
        floor=median(floors),
        subject=median(subjects),
        ratio=ratio,
        met=ratio <= 2 and rescans == 0,
        note=f"cold run {cold:.1f} s; {rescans} SCAN calls while warm; "
        + _shell_note(shells, subjects),
        floor_samples=floors,
        subject_samples=subjects,
    )
