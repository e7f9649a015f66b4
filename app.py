"""Run Lookup: which trigger.dev run processed a business entity.

Entry point for ``streamlit run app.py``: page config, settings, navigation,
the sign-in gate (before anything touches Redis), sidebar, then the page.
"""

from __future__ import annotations

import streamlit as st

from telemetry import ConfigError
from ui import context, render
from ui.auth import render_account, require_user

st.set_page_config(page_title="Run Lookup", page_icon=":material/manage_search:", layout="wide")

try:
    settings = context.load_settings()
except ConfigError as exc:
    st.error(str(exc), icon=":material/settings_alert:")
    st.stop()

# Navigation is declared before the gate (it runs nothing) so the login page
# shows no page list, and Streamlit's legacy pages/ mode is off from the first
# run; the chosen page runs only after require_user.
signed_in = st.session_state.get("authentication_status") is True
page = st.navigation(
    [
        st.Page(
            "pages/lookup.py",
            title="Lookup",
            icon=":material/search:",
            url_path="lookup",
            default=True,
        ),
        st.Page(
            "pages/bulk.py", title="Bulk resolve", icon=":material/checklist:", url_path="bulk"
        ),
        st.Page(
            "pages/summary.py", title="Summary", icon=":material/monitoring:", url_path="summary"
        ),
    ],
    position="sidebar" if signed_in else "hidden",
)

# In its own container: the gate's cookie components render in some runs only, and
# without one they shift the page's elements (the ?id= binding then stuck to the
# deep link's ID after sign-in).
with st.container():
    require_user(settings)
if not signed_in:
    st.rerun()  # signed in during this run (a remembered cookie): show the navigation

ctx = None
with context.edge():
    ctx = context.app_context(settings)
conn = context.connection(ctx) if ctx is not None else None

with st.sidebar:
    if conn is not None:
        render.sidebar_status(settings, conn)
    render_account(settings)

if ctx is None:
    st.stop()
if settings.demo:
    render.demo_banner(settings)
if conn is not None and conn.error is not None:
    context.show_error(conn.error)
    st.stop()

context.enter_page(ctx)
page.run()
