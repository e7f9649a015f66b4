"""The app's shell, run by ``app.py`` on every rerun of every page: page config,
settings, navigation, the sign-in gate (before anything touches Redis), the
sidebar, then the chosen page.

It is a function in a module, not the body of ``app.py``: Streamlit runs
``app.py`` (and re-reads its code) on every interaction, while a module is
compiled once per process. ``app.py`` only calls :func:`main`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import streamlit as st

from telemetry import ConfigError

from . import context, render
from .auth import render_account, require_user
from .context import AppContext
from .format import record_text

# The tab's icon, served by the app itself (as /media/<hash>.png): a ``:material/…:``
# page icon would make every browser fetch the favicon from fonts.gstatic.com.
# (Material icons elsewhere, e.g. the pages' below, are drawn with the font Streamlit
# ships; they load nothing from outside.)
FAVICON = Path(__file__).parent / "assets" / "favicon.png"

# The pages, as (script, title, icon, url_path). The scripts live in pages/ and are
# thin too: each calls its view module's ``page()``.
PAGES = (
    ("pages/lookup.py", "Lookup", ":material/search:", "lookup"),
    ("pages/bulk.py", "Bulk resolve", ":material/checklist:", "bulk"),
    ("pages/summary.py", "Summary", ":material/monitoring:", "summary"),
)


def main() -> None:
    st.set_page_config(page_title="Run Lookup", page_icon=FAVICON, layout="wide")
    try:
        settings = context.load_settings()
    except ConfigError as exc:
        st.error(record_text(str(exc), context.ERROR_LIMIT), icon=":material/settings_alert:")
        st.stop()

    # Navigation is declared before the gate (it runs nothing) so the login page
    # shows no page list, and Streamlit's legacy pages/ mode is off from the first
    # run; the chosen page runs only after require_user.
    signed_in = st.session_state.get("authentication_status") is True
    page = st.navigation(
        [
            st.Page(script, title=title, icon=icon, url_path=url_path, default=index == 0)
            for index, (script, title, icon, url_path) in enumerate(PAGES)
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
        render.sidebar_setup(settings)

    if ctx is None:
        st.stop()
    if settings.demo:
        render.demo_banner(settings)
    if conn is not None and conn.error is not None:
        context.show_error(conn.error)
        st.stop()

    with page_run(ctx):
        page.run()


def page_context() -> AppContext:
    """What a page calls first: the context the shell (:func:`main`) made for this run.

    The shell gates every page and runs it inside :func:`page_run`. But Streamlit
    also runs a file of ``pages/`` directly (its legacy pages-directory mode) until
    the process has seen one ``st.navigation`` call — e.g. the first visit to
    ``/bulk`` after a restart. A page started that way never relies on anything
    but the shell: it runs the shell in its place and stops. The shell's
    ``st.navigation`` turns the legacy mode off for the process and resolves the
    same page (the URL paths are the file names), so the page renders inside the
    shell — gate, sidebar and all — exactly as on any later run.
    """
    ctx = _PAGE_RUN.get()
    if ctx is not None:
        return ctx
    main()
    st.stop()
    raise AssertionError("st.stop() returned")  # pragma: no cover - it raises


# The context of the page run the shell is executing; unset outside one. A context
# variable: each script run is on its own thread, and a page started by Streamlit
# rather than by the shell sees it unset.
_PAGE_RUN: ContextVar[AppContext | None] = ContextVar("run_lookup_page_run", default=None)


@contextmanager
def page_run(ctx: AppContext) -> Iterator[None]:
    """The shell, around ``page.run()``: the signed-in run's context, for the page."""
    token = _PAGE_RUN.set(ctx)
    try:
        yield
    finally:
        _PAGE_RUN.reset(token)
