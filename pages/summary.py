"""Summary: what the namespace holds, by entity type and organization, over a window."""

from __future__ import annotations

import streamlit as st

from telemetry import WINDOWS
from ui import context, summary_view
from ui.summary_view import ORGS_KEY, TYPES_KEY, UNKNOWN, WINDOW_KEY, WINDOW_LABELS

ctx = context.page_context()

st.title("Summary")
filters = st.container(horizontal=True, vertical_alignment="bottom", gap="medium")
with filters:
    window = (
        st.segmented_control(
            "Window",
            list(WINDOWS),
            default=summary_view.DEFAULT_WINDOW,
            format_func=WINDOW_LABELS.get,
            key=WINDOW_KEY,
            help="Records processed within this time (all = every key, up to the TTL)",
        )
        or summary_view.DEFAULT_WINDOW
    )
    types_slot, orgs_slot = st.empty(), st.empty()
    refresh = st.button("Refresh", icon=":material/refresh:", help="Scan again now")

# The filters' values come from session state: their options come from the scan.
types = list(st.session_state.get(TYPES_KEY) or [])
orgs = list(st.session_state.get(ORGS_KEY) or [])
view = None
with context.edge():
    view = summary_view.compute(ctx, window, types, orgs, refresh=refresh)

seen_types = view.types_seen if view is not None else []
seen_orgs = view.orgs_seen if view is not None else []
types_slot.multiselect(
    "Entity types",
    sorted(set(ctx.settings.registry.types) | set(seen_types) | set(types)),
    key=TYPES_KEY,
    placeholder="All types",
)
orgs_slot.multiselect(
    "Organizations",
    # The busiest ones (any other can be typed): a long option list is sent on every rerun.
    list(dict.fromkeys([*orgs, *seen_orgs[: summary_view.ORG_OPTIONS]])),
    key=ORGS_KEY,
    format_func=lambda org: org or UNKNOWN,
    placeholder="All organizations",
    accept_new_options=True,
)

if view is not None:
    summary_view.render_notes(view, ctx, window)
    summary_view.render_metrics(view)
    summary_view.render_downloads(view, window)
    summary_view.render_sections(view)
