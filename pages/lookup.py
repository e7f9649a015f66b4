"""Lookup: one ID in (bound to ?id=…), the run that processed it out."""

from __future__ import annotations

import streamlit as st

from ui import context, lookup_view, render

ctx = context.page_context()

st.title("Lookup")
main, side = st.columns([3, 1], gap="large")
with main:
    row = st.container(horizontal=True, vertical_alignment="bottom", gap="small")
    text = row.text_input(
        lookup_view.INPUT_LABEL,
        key=lookup_view.INPUT_KEY,
        bind="query-params",
        placeholder="pym_…, payment:pym_… or telemetry:payment:pym_… — press Enter",
        help="Any shape works: a bare ID, type:ID, the full Redis key, or a quoted or "
        "backticked ID. The URL keeps the ID, so a lookup can be shared as a link.",
    )
    # Enter is enough; the button is for the mouse (and runs the same lookup).
    row.button("Look up", type="primary", icon=":material/search:")
    render.focus_input(lookup_view.INPUT_LABEL)
    if ctx.settings.demo:
        lookup_view.render_examples(lookup_view.demo_examples(ctx))
    if text.strip():
        if lookup_view.several_ids(text):
            st.caption("Only the first ID is looked up here; paste lists on **Bulk resolve**.")
        with context.edge():
            results = ctx.reader.lookup(text)
            lookup_view.remember(text, results)
            lookup_view.render_results(text, results, ctx)
with side:
    lookup_view.render_history()
