"""Links to the trigger.dev dashboard.

A link is built only for a run ID matching ``^run_[A-Za-z0-9]+$``; record data
is untrusted, so anything else stays plain text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from urllib.parse import quote

# ``\Z``, not ``$``: ``$`` also matches before a trailing newline ("run_x\n").
RUN_ID_RE = re.compile(r"^run_[A-Za-z0-9]+\Z")
# Long enough for ~60 run IDs, short enough for every browser and proxy.
DEFAULT_MAX_URL_LENGTH = 2_000


def is_linkable(run_id: object) -> bool:
    return isinstance(run_id, str) and RUN_ID_RE.fullmatch(run_id) is not None


def run_url(run_id: object, template: str) -> str | None:
    """The dashboard URL of one run, or None when the run ID must not become a link."""
    if not is_linkable(run_id):
        return None
    # quote() returns ASCII letters, digits and "_" unchanged (all RUN_ID_RE admits): skip
    # its ~1 µs for them, keep it as the second line of defence for anything else.
    plain = run_id.isascii() and run_id.replace("_", "").isalnum()  # type: ignore[union-attr]
    return template.replace("{run_id}", run_id if plain else quote(run_id, safe=""))  # type: ignore[arg-type]


def run_url_builder(template: str) -> Callable[[object], str | None]:
    """``run_url`` for one template, split once: for loops over many records.

    ``RUN_ID_RE`` admits ASCII letters, digits and ``_`` only, which ``quote``
    returns unchanged, so a linkable run ID goes into the URL as it is.
    """
    parts = template.split("{run_id}")
    fullmatch = RUN_ID_RE.fullmatch

    def build(run_id: object) -> str | None:
        if not isinstance(run_id, str) or fullmatch(run_id) is None:
            return None
        return run_id.join(parts)

    return build


def runs_list_urls(
    run_ids: Iterable[str], template: str, *, max_length: int = DEFAULT_MAX_URL_LENGTH
) -> list[str]:
    """URLs of the dashboard's runs list, each opening as many runs as fit in ``max_length``.

    Unlinkable and repeated run IDs are skipped; at least one run per URL.
    """
    seen: set[str] = set()
    chunks: list[list[str]] = [[]]
    base_length = len(template) - len("{run_ids}")
    length = base_length
    for run_id in run_ids:
        if run_id in seen or not is_linkable(run_id):
            continue
        seen.add(run_id)
        param = "runId=" + quote(run_id, safe="")
        extra = len(param) + (1 if chunks[-1] else 0)
        if chunks[-1] and length + extra > max_length:
            chunks.append([])
            length = base_length
            extra = len(param)
        chunks[-1].append(param)
        length += extra
    return [template.replace("{run_ids}", "&".join(chunk)) for chunk in chunks if chunk]
