"""Small rendering helpers shared by app.py and the pages: sidebar, banners,
downloads, input focus."""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from urllib.parse import urlencode, urlsplit, urlunsplit

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


def focus_input(label: str, *, tag: str = "input") -> None:
    """Put the cursor in the ``tag`` (``input``, ``textarea``) labelled ``label`` (unless the
    user is typing elsewhere).

    Streamlit has no autofocus option; this constant script (no data in it)
    looks the input up by its aria-label. It must not contain ``<``: the HTML
    sanitiser drops a script whose text looks like markup (``n<20`` included).
    """
    selector = orjson.dumps(f'{tag}[aria-label="{label}"]').decode()
    st.html(
        "<script>(function(){var n=0;function f(){var e=document.querySelector("
        + selector
        + ");if(e){var a=document.activeElement;"
        "if(!a||!a.isConnected||!/^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName))e.focus();}"
        "else if(20>n++){setTimeout(f,100);}}f();})();</script>",
        unsafe_allow_javascript=True,
        width="content",
    )


def copy_button(label: str, text: str, *, help: str) -> None:
    """A button that copies ``text`` to the clipboard (Streamlit has none).

    The text travels in an HTML-escaped ``data-copy`` attribute, never in the script
    (which is constant, and must not contain ``<``: see :func:`focus_input`). The
    Clipboard API needs a secure context (HTTPS or localhost); elsewhere a hidden
    selection and ``execCommand("copy")`` do it.
    """
    st.html(
        f'<button type="button" class="rl-copy" title="{html.escape(help)}" '
        f'data-copy="{html.escape(text)}" data-label="{html.escape(label)}">'
        f"{html.escape(label)}</button>" + _COPY_SCRIPT,
        unsafe_allow_javascript=True,
        width="content",
    )


_COPY_STYLE = (
    "<style>.rl-copy{font:inherit;font-size:0.875rem;padding:0.25rem 0.75rem;"
    "min-height:2.5rem;border-radius:0.5rem;border:1px solid rgba(49,51,63,0.2);"
    "background:transparent;color:inherit;cursor:pointer}"
    ".rl-copy:hover{border-color:#ff4b4b;color:#ff4b4b}</style>"
)
_COPY_SCRIPT = (
    _COPY_STYLE + "<script>(function(){document.querySelectorAll('button.rl-copy').forEach("
    "function(b){if(b.dataset.bound)return;b.dataset.bound='1';"
    "b.addEventListener('click',function(){var t=b.dataset.copy;"
    "function done(){b.textContent='Copied';"
    "setTimeout(function(){b.textContent=b.dataset.label;},2000);}"
    "function old(){var a=document.createElement('textarea');a.value=t;"
    "a.setAttribute('readonly','');a.style.position='fixed';a.style.opacity='0';"
    "document.body.appendChild(a);a.select();try{document.execCommand('copy');done();}"
    "finally{a.remove();}}"
    "if(navigator.clipboard&&window.isSecureContext){"
    "navigator.clipboard.writeText(t).then(done,old);}else{old();}});});})();</script>"
)


SETUP_LABEL = "Admin: setup"


def setup_hints(settings: Settings) -> list[str]:
    """What an admin could set to get more out of the app (Markdown lines); [] when nothing.

    Shown in the sidebar's **Admin: setup** expander, never on the pages' work surface:
    ops users cannot act on them.
    """
    hints = []
    if settings.trigger_secret_key is None and not settings.demo:
        hints.append(
            "Set `TRIGGER_SECRET_KEY` (a trigger.dev secret key) to show each run's status, "
            "task and error on Lookup, Bulk resolve and Summary."
        )
    if not settings.runs_list_url_template:
        hints.append(
            "Set `RUNS_LIST_URL_TEMPLATE` to open Bulk resolve's found (and failed) runs in the "
            "dashboard's list view."
        )
    return hints


def sidebar_setup(settings: Settings) -> None:
    """The sidebar's **Admin: setup** expander (call it inside ``with st.sidebar:``)."""
    hints = setup_hints(settings)
    if not hints:
        return
    with st.expander(SETUP_LABEL, icon=":material/settings:"):
        st.markdown(
            "\n".join(f"- {hint}" for hint in hints) + "\n\nSee the README, *Configuration*."
        )


def this_page_url(query: dict[str, str], *, fallback_path: str) -> str:
    """The absolute URL of the page being shown, with ``query`` (``fallback_path`` and the
    query when the browser's URL is unknown, e.g. under AppTest)."""
    url = st.context.url
    if not url:
        return f"{fallback_path}?{urlencode(query)}"
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), ""))
