"""Bulk resolve: a pasted list or a file of IDs in, one row per result out."""

from __future__ import annotations

import streamlit as st

from ui import bulk_view, context
from ui.format import md_escape

ctx = context.page_context()

st.title("Bulk resolve")
paste, upload = st.columns([3, 2], gap="medium")
with paste:
    text = st.text_area(
        "IDs",
        key=bulk_view.TEXT_KEY,
        height=200,
        placeholder="Paste IDs in any shape: one per line, comma/semicolon/tab separated, "
        'a JSON array, a spreadsheet column, `pym_…`, "pym_…", payment:pym_…\n'
        "Press Ctrl+Enter (or click outside) to resolve.",
    )
with upload:
    file = st.file_uploader(
        "…or a .txt / .csv file",
        type=["txt", "csv", "tsv"],
        key=bulk_view.FILE_KEY,
        help="For a table, the ID column is guessed; you can pick another.",
    )
    st.caption(f"Up to {ctx.settings.max_ids:,} unique IDs per request.")

source = bulk_view.read_input(text, file)
# Pasting (then Ctrl+Enter or clicking outside) resolves on its own; the button
# does too, and for an input already resolved it queries Redis again.
again = st.button(
    "Resolve",
    type="primary",
    icon=":material/play_arrow:",
    help="Look every ID up now (again, if this list was resolved already)",
)
if source is None:
    st.info(
        "Paste IDs or attach a file to find the run behind each one. Results stay here while "
        "you filter and download them.",
        icon=":material/checklist:",
    )
elif len(source.data) > bulk_view.MAX_INPUT_BYTES:
    st.error(
        f"The input is {len(source.data) / 1e6:,.1f} MB; at most "
        f"{bulk_view.MAX_INPUT_BYTES // 2**20} MB is read. Split the list "
        f"(the limit is {ctx.settings.max_ids:,} IDs per request).",
        icon=":material/block:",
    )
else:
    if file is not None and (text or "").strip():
        st.caption("Reading the attached file; the pasted text is ignored while it is attached.")
    with context.edge():
        parsed, column = bulk_view.choose_column(ctx, source)
        if not parsed.queries:  # an empty file, or only separators: nothing to look up
            where = "the attached file" if source.file_name is not None else "the pasted text"
            st.info(
                f"No IDs in {where}: it is empty or holds only separators and whitespace.",
                icon=":material/inbox:",
            )
        else:
            result = bulk_view.resolve(ctx, source, parsed, column, again=again)
            if not result.resolution.complete:
                st.warning(
                    f"Incomplete: {md_escape(result.resolution.error)} Rows that were not read "
                    "are marked `error`; the others are kept. Press **Resolve** to retry.",
                    icon=":material/warning:",
                )
            bulk_view.render_counts(result)
            bulk_view.render_downloads(result, ctx)
            bulk_view.render_table(result)
