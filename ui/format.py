"""Text helpers for the pages: record text as Markdown, and human-readable times.

Pure functions (no streamlit import), so they are cheap and easy to test.
Record data is untrusted: anything from Redis or from a paste that goes into
Markdown (a body, an alert, a label, a pill) passes through ``record_text``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_LINE_BREAKS_RE = re.compile(r"[\r\n\t\x0b\x0c\x85\u2028\u2029]+")
_BACKTICKS_RE = re.compile(r"`+")
# Every ASCII punctuation character may be backslash-escaped in CommonMark; escaping them
# all stops formatting, links, raw HTML, directives (:red[...]) and $math$ while parsing.
_ESCAPED = str.maketrans({c: "\\" + c for c in map(chr, range(0x21, 0x7F)) if not c.isalnum()})
# Streamlit's plugins then rewrite each text node's *decoded* text (escapes no longer
# count): GFM autolink literals (www., http://, a@b.co), emoji shortcodes (:smile:),
# :material_icon:, :streamlit: and arrows (" -> " becomes →). An empty directive, an
# empty <span> (nothing shown or copied), splits the text node where one could match.
_SEAM = ":small[]"
_SEAM_BEFORE_RE = re.compile(
    r"(?=://)"  # http:// and https:// (the protocol must be in one text node)
    r"|(?<=[wW]{3})(?=\.)"  # www.
    r"|(?=@)"  # a@b.co (the address must be in one text node)
    r"|(?<=-)(?=[->])|(?<=<)(?=-)|(?<=[<>~])(?==)"  # -> <- -- >= <= ~= (and <->)
    # The template text around: no match may start before the value or end after it.
    r"|\A(?=[-.:/@>=])|(?<=[-:<>~])\Z|(?<=[wW]{3})\Z"
)
# The closing colon of :name: (emoji, :material_icon:, :streamlit:), also when the
# opening colon could be just before the value, or the closing one just after it.
_SHORTCODE_RE = re.compile(r"(?:\A|(?<=:))[\w+-]+(?=:)|(?<=:)[\w+-]+\Z")
# Streamlit replaces this in the raw Markdown, code spans included, before parsing.
_ICON = ":material/"


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


def record_text(value: object, limit: int = 500, *, code: bool = False) -> str:
    """``value`` as Markdown that Streamlit shows as exactly its text, on one line.

    No formatting, link, image, HTML, directive, math, emoji, icon or arrow comes out
    of it, whatever it holds; line breaks become spaces (and, as in any HTML text,
    runs of spaces show as one). ``code=True`` shows it in code spans (monospace).
    The one function for record data in Markdown: bodies, alerts, captions, labels.

    Plain text is backslash-escaped, plus an empty ``:small[]`` wherever one of
    Streamlit's text-node plugins could match (``_SEAM_BEFORE_RE``, ``_SHORTCODE_RE``;
    tests/app/test_record_text.py models them). A code span is never interpreted, except
    that Streamlit rewrites ``:material/`` in the source: the span is cut in two there.
    Do not put a bare ``:`` right before the result (that would disable a leading seam).
    """
    text = _LINE_BREAKS_RE.sub(" ", truncate("" if value is None else str(value), limit))
    if code:
        parts = text.split(_ICON)
        last = len(parts) - 1
        return _SEAM.join(
            _code_span(("/" if i else "") + part + (":material" if i < last else ""))
            for i, part in enumerate(parts)
        )
    cuts = {m.start() for m in _SEAM_BEFORE_RE.finditer(text)}
    cuts.update(m.end() for m in _SHORTCODE_RE.finditer(text))
    if not cuts:
        return text.translate(_ESCAPED)
    pieces, start = [], 0
    for cut in sorted(cuts):
        pieces += [text[start:cut].translate(_ESCAPED), _SEAM]
        start = cut
    pieces.append(text[start:].translate(_ESCAPED))
    return "".join(pieces)


def _code_span(text: str) -> str:
    """One code span showing ``text`` (CommonMark strips one space from each end)."""
    longest = max((len(run) for run in _BACKTICKS_RE.findall(text)), default=0)
    fence = "`" * (longest + 1)
    if text[:1] in ("`", " ") or text[-1:] in ("`", " ") or not text:
        text = f" {text} "
    return f"{fence}{text}{fence}"


def md_escape(value: object, limit: int = 500) -> str:
    """Old name of ``record_text(value)``; new code calls ``record_text``."""
    return record_text(value, limit)


def md_code(value: object, limit: int = 300) -> str:
    """Old name of ``record_text(value, code=True)``; new code calls ``record_text``."""
    return record_text(value, limit, code=True)


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
