"""Small rendering helpers shared by app.py and the pages: sidebar, banners,
downloads, input focus."""

from __future__ import annotations

import threading
from collections.abc import Callable

import orjson
import streamlit as st

from telemetry import Settings
from telemetry.config import redact_url

from .context import Connection
from .format import record_text, ttl_text


class Memo:
    """A zero-argument builder that runs once: download bytes are made on the first click only.

    Streamlit runs a download button's callable when the user clicks it (not on
    every rerun), on another thread; the lock makes concurrent clicks build once.
    """

    __slots__ = ("_build", "_lock", "_value")

    def __init__(self, build: Callable[[], bytes]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._value: bytes | None = None

    def __call__(self) -> bytes:
        with self._lock:
            if self._value is None:
                self._value = self._build()
            return self._value


def download(label: str, data: Memo, *, file_name: str, mime: str, key: str, help: str) -> None:
    """A download button whose file is built on click, once; clicking does not rerun the page."""
    st.download_button(
        label,
        data=data,
        file_name=file_name,
        mime=mime,
        key=key,
        help=help,
        on_click="ignore",
        icon=":material/download:",
    )


def sidebar_status(settings: Settings, conn: Connection) -> None:
    """Where the data comes from, whether Redis answers, and the namespace (no secrets).

    One Markdown element: the sidebar is rebuilt on every rerun of every page.
    """
    if settings.demo:
        badge = ":violet-badge[:material/science: Demo data]"
        where = f"Embedded fakeredis with {settings.demo_records:,} generated records"
    else:
        kind = "Redis Cluster" if settings.redis_cluster else "Redis"
        badge = (
            f":green-badge[:material/check_circle: {kind} connected]"
            if conn.ok
            else f":red-badge[:material/error: {kind} unreachable]"
        )
        where = record_text(conn.where or settings.redacted_redis_url, code=True)
    parts = [where]
    if conn.ok and conn.latency is not None:
        parts.append(f"PING {conn.latency * 1000:.1f} ms")
    parts.append(f"namespace {record_text(settings.telemetry_namespace, code=True)}")
    parts.append(f"TTL {ttl_text(settings.telemetry_ttl_seconds)}")
    if settings.trigger_secret_key is not None:
        parts.append(
            f"run state from {record_text(redact_url(settings.trigger_api_url), code=True)}"
        )
    elif settings.demo:
        parts.append("run state from demo runs")
    else:
        parts.append("run state off (no `TRIGGER_SECRET_KEY`)")
    st.markdown(f"{badge}  \n:small[{' · '.join(parts)}]")


def demo_banner(settings: Settings) -> None:
    st.info(
        f"**Demo mode** — no `REDIS_URL` is set, so this is an embedded Redis holding "
        f"{settings.demo_records:,} generated records. Set `REDIS_URL` (environment or "
        "`.streamlit/secrets.toml`) to look up real runs.",
        icon=":material/science:",
    )


def focus_input(label: str) -> None:
    """Put the cursor in the text input labelled ``label`` (unless the user is typing elsewhere).

    Streamlit has no autofocus option; this constant script (no data in it)
    looks the input up by its aria-label. It must not contain ``<``: the HTML
    sanitiser drops a script whose text looks like markup (``n<20`` included).
    """
    selector = orjson.dumps(f'input[aria-label="{label}"]').decode()
    st.html(
        "<script>(function(){var n=0;function f(){var e=document.querySelector("
        + selector
        + ");if(e){var a=document.activeElement;"
        "if(!a||!a.isConnected||!/^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName))e.focus();}"
        "else if(20>n++){setTimeout(f,100);}}f();})();</script>",
        unsafe_allow_javascript=True,
        width="content",
    )
