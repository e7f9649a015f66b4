"""The Lookup page: one ID in (bound to ?id=…), the run that processed it out.

``pages/lookup.py`` calls :func:`page`; the rest renders one result card per
row, the session's history and the demo examples.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

import streamlit as st

from telemetry import Result, Status, is_linkable, make_key

from . import context, render, run_panel, runs, shell
from .cache import ProcessCache
from .context import AppContext
from .format import (
    ago,
    expires_text,
    record_text,
    shorten_middle,
    truncate,
    ttl_text,
    utc_text,
)

INPUT_KEY = "id"  # also the query parameter: ?id=pym_…
INPUT_LABEL = "Entity ID"
HISTORY_KEY = "lookup_history"
HISTORY_SIZE = 10
HISTORY_PILLS = "lookup_history_pick"
# What fits on one pill in the side column (a longer label is cut off at its edge);
# the middle goes, so the prefix and the tail stay.
HISTORY_LABEL_CHARS = 18
EXAMPLE_PILLS = "lookup_example_pick"
_SEVERAL_RE = re.compile(r"\S[\s,;|]+\S")
_HIT = (Status.FOUND, Status.INVALID_RECORD)


def page() -> None:
    ctx = shell.page_context()
    st.title("Lookup")
    main, side = st.columns([3, 1], gap="large")
    with main:
        row = st.container(horizontal=True, vertical_alignment="bottom", gap="small")
        text = row.text_input(
            INPUT_LABEL,
            key=INPUT_KEY,
            bind="query-params",
            placeholder="pym_…, payment:pym_… or telemetry:payment:pym_… — press Enter",
            help="Any shape works: a bare ID, type:ID, the full Redis key, or a quoted or "
            "backticked ID. The URL keeps the ID, so a lookup can be shared as a link.",
        )
        # Enter is enough; the button is for the mouse (and runs the same lookup).
        row.button("Look up", type="primary", icon=":material/search:")
        render.focus_input(INPUT_LABEL)
        if ctx.settings.demo:
            render_examples(demo_examples(ctx))
        if text.strip():
            if several_ids(text):
                st.caption("Only the first ID is looked up here; paste lists on **Bulk resolve**.")
            with context.edge():
                results = ctx.reader.lookup(text)
                remember(text, results)
                render_results(text, results, ctx)
    with side:
        render_history()


def set_input(text: str) -> None:
    """Look ``text`` up on the next run (the input is bound to ?id=, so the URL follows)."""
    st.session_state[INPUT_KEY] = text


def _pick(key: str, targets: dict[str, str]) -> None:
    """Callback of the history and example pills: look the picked one up, clear the pick."""
    picked = st.session_state.get(key)
    if picked in targets:
        set_input(targets[picked])
    st.session_state[key] = None


def _unique_labels(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """``{label: value}`` with every label distinct (a pill's label is its identity)."""
    out: dict[str, str] = {}
    for label, value in pairs:
        candidate, n = label, 2
        while candidate in out:
            candidate, n = f"{label} ({n})", n + 1
        out[candidate] = value
    return out


def several_ids(text: str) -> bool:
    """Whether the input looks like a list (only its first ID is looked up here)."""
    return _SEVERAL_RE.search(text.strip()) is not None


_OUTCOME_ICONS = {
    "found": ":material/check_circle:",
    "not found": ":material/search_off:",
    "invalid record": ":material/report:",
    "invalid id": ":material/block:",
    "no ID": ":material/help:",
}


def outcome(results: Sequence[Result]) -> str:
    """A few words for the history: ``found``, ``found ×2``, ``not found``…"""
    if not results:
        return "no ID"
    found = sum(1 for r in results if r.status is Status.FOUND)
    if found:
        return "found" if found == 1 else f"found ×{found}"
    return results[0].status.value.replace("_", " ")


def remember(text: str, results: Sequence[Result]) -> None:
    """Put this lookup at the top of the session's history (once per ID)."""
    text = text.strip()
    entry = (text, outcome(results))
    history: list[tuple[str, str]] = st.session_state.setdefault(HISTORY_KEY, [])
    if history and history[0] == entry:
        return
    history[:] = [entry, *[item for item in history if item[0] != text][: HISTORY_SIZE - 1]]


def render_history() -> None:
    """This session's lookups, newest first; picking one looks it up again."""
    history: list[tuple[str, str]] = st.session_state.get(HISTORY_KEY, [])
    if not history:
        st.markdown("**Recent lookups**")
        st.caption("Lookups of this session appear here; click one to run it again.")
        return
    targets = _unique_labels(
        [
            (
                f"{_OUTCOME_ICONS.get(result.split(' ×')[0], ':material/error:')} "
                f"{record_text(shorten_middle(text, HISTORY_LABEL_CHARS))}",
                text,
            )
            for text, result in history
        ]
    )
    st.pills(
        "**Recent lookups**",
        list(targets),
        key=HISTORY_PILLS,
        on_change=_pick,
        args=(HISTORY_PILLS, targets),
        help="Click one to look it up again",
        # Directly in a column, pills default to one row that scrolls sideways: in the
        # narrow side column only the newest would show.
        wrap=True,
    )


def render_examples(examples: Sequence[tuple[str, str]]) -> None:
    """Demo mode: a few IDs a newcomer can click (``(label, id)`` pairs)."""
    if not examples:
        return
    targets = _unique_labels([(record_text(label), entity_id) for label, entity_id in examples])
    st.pills(
        "Try one of the demo IDs",
        list(targets),
        key=EXAMPLE_PILLS,
        on_change=_pick,
        args=(EXAMPLE_PILLS, targets),
        wrap=True,
    )


def render_results(text: str, results: Sequence[Result], ctx: AppContext) -> None:
    if not results:
        st.warning(
            f"No ID in {record_text(text, code=True)}. Paste an ID such as `pym_…`, "
            "`payment:pym_…` or `telemetry:payment:pym_…`.",
            icon=":material/help:",
        )
        return
    now = time.time()
    hits = [r for r in results if r.status in _HIT]
    if len(hits) > 1:
        st.info(
            f"{record_text(results[0].query, code=True)} has no known ID prefix and exists under "
            f"**{len(hits)} entity types**: each match is shown below.",
            icon=":material/call_split:",
        )
        for result in results:
            with st.container(border=True):
                render_result(result, ctx, now)
        return
    for result in results:
        render_result(result, ctx, now)


def render_result(result: Result, ctx: AppContext, now: float) -> None:
    if result.status is Status.FOUND:
        _found(result, ctx, now)
    elif result.status is Status.NOT_FOUND:
        _not_found(result, ctx, now)
    elif result.status is Status.INVALID_RECORD:
        _invalid_record(result)
    elif result.status is Status.INVALID_ID:
        st.error(f"**Not an ID** — {record_text(result.detail)}", icon=":material/block:")
    else:
        st.error(record_text(result.detail), icon=":material/error:")


def _found(result: Result, ctx: AppContext, now: float) -> None:
    entity = (
        f"{record_text(result.entity_type, code=True)} {record_text(result.entity_id, code=True)}"
    )
    # No heading anchor: its #link would be named after the entity ID.
    st.markdown(f"#### :green-badge[:material/check: Found] {entity}", anchors=False)
    if result.run_url:
        st.link_button(
            f"Open run {record_text(result.run_id)} in Trigger.dev",
            result.run_url,
            type="primary",
            icon=":material/open_in_new:",
        )
    else:
        st.warning(
            "This run ID is not of the form `run_<letters/digits>`, so it is shown without a link.",
            icon=":material/link_off:",
        )
    st.code(result.run_id or "", language=None)  # hover: copy button
    # Filled last: the Redis facts below show while trigger.dev answers.
    run_slot = st.container()
    if result.organization_id:
        org = record_text(result.organization_id, code=True)
    else:
        org = "*unknown* — the record carries no organization (minimal record)"
    processed = "*unknown*"
    if result.processed_at is not None:
        processed = f"{utc_text(result.processed_at)} · {ago(result.processed_at, now)}"
        if result.processed_at_inferred:
            processed += " · :orange-badge[inferred from TTL]"
    lines = [
        f"**Entity** {entity}",
        f"**Organization** {org}",
        f"**Processed** {processed}",
        f"**Expires** {utc_text(result.expires_at) or '—'} · "
        f"{expires_text(result.expires_at, now)}",
        f"**Key** {record_text(result.key, code=True)}",
    ]
    # One Markdown element for the facts, the notes and the metadata's label: every
    # element is a message to the browser on each rerun.
    if result.processed_at_inferred:
        lines.append(
            ":small[:gray[The record has no timestamp: the processing time is the key's age, "
            "from its remaining TTL (`now − (TTL − remaining)`).]]"
        )
    notes = [n for n in result.detail.split("; ") if n and n != "time inferred from TTL"]
    if notes:
        lines.append(f":small[:gray[Notes: {record_text('; '.join(notes))}]]")
    if result.metadata:
        lines.append("**Metadata**")
    st.markdown("  \n".join(lines))
    if result.metadata:
        st.json(result.metadata, expanded=True)
    _run_state(run_slot, result, ctx)


def _run_state(slot: Any, result: Result, ctx: AppContext) -> None:
    """The run's state from trigger.dev (issue #14), when run state is on.

    Only a run ID that could be a trigger.dev run (``run_…``) is asked for: one
    request, reused by reruns for ``runs.LOOKUP_TTL_SECONDS``.
    """
    run_id = result.run_id
    if not run_id or not is_linkable(run_id) or not runs.enabled(ctx):
        return
    with slot:
        with st.spinner("Asking trigger.dev for the run's state…"):
            answer = runs.lookup_state(ctx, run_id)
        if answer is None:
            return
        outcome, as_of = answer
        run_panel.render(
            outcome,
            as_of,
            now=time.time(),
            run_url_template=ctx.settings.run_url_template,
            key=f"run_refresh:{result.key}",
            on_refresh=partial(runs.forget, ctx, run_id),
            demo=runs.is_demo_api(ctx),
        )


def _not_found(result: Result, ctx: AppContext, now: float) -> None:
    settings = ctx.settings
    st.warning(
        f"**Not found:** {record_text(result.query, code=True)}", icon=":material/search_off:"
    )
    if result.key:
        keys = [result.key]
    else:
        namespace = settings.telemetry_namespace
        keys = [make_key(namespace, t, result.entity_id or "") for t in settings.registry.types]
    what = "this key" if len(keys) == 1 else f"these {len(keys)} keys (no known ID prefix)"
    st.markdown(f"Checked {what}:")
    st.code("\n".join(keys), language=None)
    ttl = settings.telemetry_ttl_seconds
    cutoff = utc_text(datetime.fromtimestamp(now - ttl, tz=UTC))
    st.markdown(
        "Why this happens:\n"
        "- **Never processed** — no task that writes telemetry has handled this entity yet, "
        "or the ID is mistyped (check the prefix and the namespace "
        f"{record_text(settings.telemetry_namespace, code=True)}).\n"
        f"- **Expired** — records expire {ttl_text(ttl)} after the last write; an entity last "
        f"processed before {cutoff} is no longer in Redis."
    )


def _invalid_record(result: Result) -> None:
    reason = result.detail
    head = f"invalid record at {result.key}: "
    if result.key and reason.startswith(head):
        reason = reason[len(head) :]
    st.error(
        f"**Invalid record** at {record_text(result.key, code=True)} — {record_text(reason)}",
        icon=":material/report:",
    )
    if result.raw_value is not None:
        st.caption("Raw value (truncated):")
        st.code(truncate(result.raw_value, 500), language=None, wrap_lines=True)
    st.caption(
        "The producer wrote something that is not a telemetry record (JSON with a string "
        "`runId`); the run cannot be known from it."
    )


def demo_examples(ctx: AppContext) -> list[tuple[str, str]]:
    """A few IDs present in the demo data (cached per process): one per type, an ID with
    no known prefix, an invalid record, and one that does not exist."""
    return _DEMO_EXAMPLES.get_or_build(ctx.key, lambda: _demo_examples(ctx))


_DEMO_EXAMPLES: ProcessCache[str, list[tuple[str, str]]] = ProcessCache(
    "demo examples", max_entries=4
)


def _demo_examples(ctx: AppContext) -> list[tuple[str, str]]:
    reader = ctx.reader
    registry = ctx.settings.registry
    found: dict[str, str] = {}
    unprefixed: str | None = None
    invalid: str | None = None
    for batch in reader.scan(max_keys=2_000):
        for record in batch.records:
            if registry.match(record.entity_id) is None:
                unprefixed = unprefixed or record.entity_id
            elif record.entity_type not in found:
                found[record.entity_type] = record.entity_id
        for bad in batch.invalid:
            parts = bad.key.split(":", 2)
            if invalid is None and len(parts) == 3:
                invalid = f"{parts[1]}:{parts[2]}"
    preferred = [t for t in ("payment", "invoice", "subscription") if t in found]
    preferred += [t for t in found if t not in preferred]
    examples = [(entity_type, found[entity_type]) for entity_type in preferred[:3]]
    if unprefixed:
        examples.append(("no known prefix", unprefixed))
    if invalid:
        examples.append(("invalid record", invalid))
    examples.append(("not found", "pym_0000000000000000000000"))
    return examples
