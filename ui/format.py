"""Text helpers for the pages: Markdown escaping and human-readable times.

Pure functions (no streamlit import), so they are cheap and easy to test.
Record data is untrusted: anything from Redis or from a paste that goes into
Markdown passes through ``md_escape`` or ``md_code`` first.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

# Every ASCII punctuation character may be backslash-escaped in CommonMark, and
# escaping them all also defuses Streamlit's own directives (:red[...],
# :material/icon:, $LaTeX$) and raw HTML.
_MD_SPECIAL_RE = re.compile(r"([!-/:-@\[-`{-~])")
_LINE_BREAKS_RE = re.compile(r"[\r\n\t\x0b\x0c\x85\u2028\u2029]+")
_BACKTICKS_RE = re.compile(r"`+")


def truncate(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def shorten_middle(text: str, limit: int) -> str:
    """``text`` cut in the middle to ``limit`` characters: an ID keeps its prefix and its tail."""
    if len(text) <= limit:
        return text
    kept = max(limit - 1, 0)  # the ellipsis takes one
    head = (kept + 1) // 2
    tail = kept - head
    return text[:head] + "…" + (text[-tail:] if tail else "")


def md_escape(value: object, limit: int = 500) -> str:
    """``value`` as literal Markdown text on one line: no formatting, links, HTML or directives."""
    text = _LINE_BREAKS_RE.sub(" ", truncate("" if value is None else str(value), limit))
    return _MD_SPECIAL_RE.sub(r"\\\1", text)


def md_code(value: object, limit: int = 300) -> str:
    """``value`` as an inline code span (monospace, never interpreted), on one line."""
    text = _LINE_BREAKS_RE.sub(" ", truncate("" if value is None else str(value), limit))
    longest = max((len(run) for run in _BACKTICKS_RE.findall(text)), default=0)
    fence = "`" * (longest + 1)
    if text.startswith("`") or text.endswith("`") or not text.strip():
        text = f" {text} "
    return f"{fence}{text}{fence}"


def utc_text(value: datetime | None) -> str:
    """``2026-11-20 10:15:00 UTC``; empty for None."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def span(seconds: float) -> str:
    """A duration the way people say it: ``40 s``, ``12 min``, ``3 h``, ``13 d``."""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{int(seconds)} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 48 * 3600:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


def ago(value: datetime | None, now: float) -> str:
    """``3 h ago`` (or ``in 5 min`` for a time in the future); empty for None."""
    if value is None:
        return ""
    delta = now - value.timestamp()
    if abs(delta) < 45:
        return "just now"
    return f"{span(delta)} ago" if delta > 0 else f"in {span(delta)}"


def expires_text(value: datetime | None, now: float) -> str:
    """``expires in 13 d``; ``no expiry`` for None."""
    if value is None:
        return "no expiry"
    delta = value.timestamp() - now
    if delta <= 0:
        return "expired"
    return f"expires in {span(delta)}"


def ttl_text(seconds: int) -> str:
    """The producers' TTL: ``14 d`` when it is whole days, else ``36 h`` / ``90 min``."""
    if seconds % 86400 == 0:
        return f"{seconds // 86400} d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return span(seconds)
