"""The Lookup page: one ID in (kept in ?id=…), the run that processed it out.

``pages/lookup.py`` calls :func:`page`; the rest renders one result card per
row, the session's history and the demo examples.

The box holds the clean ID, not the raw paste: ``"payment:pym_…",`` becomes
``payment:pym_…`` (the first token, unwrapped, as ``parse_ids`` reads it — the same
lookup). The URL follows the box through ``st.query_params`` rather than the
widget's ``bind="query-params"``: a bound widget *replaces* the browser's history
entry, while a query parameter set from Python *pushes* one — so Back steps through
the lookups, and a Back (or a deep link) sets the box from the URL.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

import streamlit as st

from telemetry import Result, Status, TelemetryError, is_linkable, make_key, parse_ids
from telemetry.ids import IGNORED, hint_in
from telemetry.reverse import run_query_id

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
_URL_STATE = "_lookup_url_id"  # the ?id= value the box last followed or wrote
_SEVERAL_STATE = "_lookup_several"  # the last paste held several IDs (a one-run note)
_HIT = (Status.FOUND, Status.INVALID_RECORD)


def page() -> None:
    ctx = shell.page_context()
    st.title("Lookup")
    follow_url(ctx)
    main, side = st.columns([3, 1], gap="large")
    with main:
        row = st.container(horizontal=True, vertical_alignment="bottom", gap="small")
        text = row.text_input(
            INPUT_LABEL,
            key=INPUT_KEY,
            placeholder="pym_…, payment:pym_… or telemetry:payment:pym_… — press Enter",
            help="Any shape works: a bare ID, type:ID, the full Redis key, or a quoted or "
            "backticked ID; the box keeps the clean ID. The URL keeps it too, so a lookup "
            "can be shared as a link, and Back steps through your lookups.",
            on_change=_clean_box,
            args=(ctx,),
        )
        # Enter is enough; the button is for the mouse (and runs the same lookup).
        row.button("Look up", type="primary", icon=":material/search:")
        if text.strip():
            with row:
                render.copy_button(
                    "Copy link",
                    lookup_link(text.strip()),
                    help="A link to this lookup for a colleague (they sign in to open it)",
                )
        render.focus_input(INPUT_LABEL)
        if ctx.settings.demo:
            render_examples(demo_examples(ctx))
        if st.session_state.pop(_SEVERAL_STATE, False):
            st.caption("Only the first ID is looked up here; paste lists on **Bulk resolve**.")
        text = text.strip()
        sync_url(text)
        if text:
            with context.edge():
                results = lookup(ctx, text)
                remember(text, results)
                render_results(text, results, ctx)
    with side:
        render_history()


def clean_id(ctx: AppContext, text: str) -> tuple[str, bool]:
    """The ID ``text`` is looked up by, in the shape it was written (``payment:pym_…``,
    ``pym_…``, a full key), without quotes, backticks, separators or what follows the
    first ID (``text`` itself, stripped, when it holds no ID); and whether ``text`` held
    more than one ID."""
    settings = ctx.settings
    try:
        parsed = parse_ids(text, settings.registry, namespace=settings.telemetry_namespace)
    except TelemetryError:
        return text.strip(), False
    # Words around the ID ("hey, can you check pym_1") are set aside, never the box's ID.
    first = next((q for q in parsed.queries if q.kind != IGNORED), None)
    if first is None:
        return text.strip(), False
    return first.text, parsed.tokens > 1


def _set_box(ctx: AppContext, raw: str) -> None:
    """Put the clean ID of ``raw`` in the box (before it renders), noting a list."""
    clean, several = clean_id(ctx, raw)
    st.session_state[_SEVERAL_STATE] = several
    st.session_state[INPUT_KEY] = clean


def _clean_box(ctx: AppContext) -> None:
    """The box's callback (before the run): keep the clean ID in it, not the raw paste."""
    _set_box(ctx, str(st.session_state.get(INPUT_KEY) or ""))


def follow_url(ctx: AppContext) -> None:
    """Before the box renders: a ?id= the page did not write itself (Back/Forward, a deep
    link, a shared link) sets the box; so does coming back from another page (the box's
    state is gone then, the last lookup is shown again)."""
    url = st.query_params.get(INPUT_KEY, "")
    last = st.session_state.get(_URL_STATE)
    if not url and last and INPUT_KEY not in st.session_state:
        st.session_state[INPUT_KEY] = last  # back from another page: the last lookup
    elif url != last:
        _set_box(ctx, url)


def sync_url(text: str) -> None:
    """Put the box's ID in ?id= (a new browser history entry), or take it out."""
    if st.query_params.get(INPUT_KEY, "") != text:
        if text:
            st.query_params[INPUT_KEY] = text
        else:
            del st.query_params[INPUT_KEY]
    st.session_state[_URL_STATE] = text


def lookup_link(text: str) -> str:
    """The absolute link to this lookup (relative when the browser's URL is unknown)."""
    return render.this_page_url({INPUT_KEY: text}, fallback_path="/")


def set_input(text: str) -> None:
    """Look ``text`` up on the next run (the page then puts it in ?id=)."""
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


# A run's entities take a scan of the namespace: kept a short while, so rerunning the page
# (any click on it) does not scan again. An entity ID is one read and is never kept.
RUN_LOOKUP_TTL_SECONDS = 30.0
_RUN_LOOKUPS: ProcessCache[tuple[str, str], list[Result]] = ProcessCache(
    "run lookups", max_entries=32, ttl=RUN_LOOKUP_TTL_SECONDS
)


def lookup(ctx: AppContext, text: str) -> list[Result]:
    """``ctx.reader.lookup(text)``; for a run ID or run URL with a spinner while the namespace
    is scanned, and the answer kept ``RUN_LOOKUP_TTL_SECONDS`` unless a row is an error."""
    if run_query_id(text) is None:
        return ctx.reader.lookup(text)
    key = (ctx.key, text)
    results = _RUN_LOOKUPS.get(key)
    if results is None:
        with st.spinner("Looking for the entities whose record points to this run…"):
            results = ctx.reader.lookup(text)
        if all(r.status is not Status.ERROR for r in results):
            _RUN_LOOKUPS.put(key, results)
    return results


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
    run_id = run_query_id(results[0].query)
    if run_id is not None and results[0].entity_id != results[0].query:
        # A run ID or run URL, looked up the other way round: the entities pointing to it.
        if hits:
            noun = "entity points" if len(hits) == 1 else "entities point"
            st.info(
                f"Run {record_text(run_id, code=True)}: **{len(hits)} {noun}** to it.",
                icon=":material/account_tree:",
            )
        for result in results:
            with st.container(border=len(hits) > 1):
                render_result(result, ctx, now)
        return
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
    elif result.status is Status.IGNORED:
        st.info(
            f"**Not looked up:** {record_text(result.query, code=True)} is "
            f"{record_text(result.detail)}. Paste an ID such as `pym_…` or a run ID `run_…`.",
            icon=":material/text_fields:",
        )
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
    if result.entity_id is None and result.run_id:  # a run ID no record points to
        st.markdown(record_text(result.detail))
        return
    hint = hint_in(result.detail)
    if hint:
        st.info(f"**This ID {record_text(hint)}**", icon=":material/spellcheck:")
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
