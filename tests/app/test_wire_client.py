"""The raw websocket client the gate's attack tests speak through: it must see a whole
run, also one that ``st.rerun`` starts and that is slow to get going."""

from __future__ import annotations

import pytest

from e2e.harness import LiveApp
from wire_client import QUIET_SECONDS, WireClient

pytestmark = pytest.mark.slow

# First run: a line, then st.rerun. The run it starts waits longer than the client's
# quiet window before drawing, as a page's first run after a restart does on a loaded
# machine (its imports).
SCRIPT = f"""
import time
import streamlit as st

if "again" not in st.session_state:
    st.session_state.again = True
    st.write("first run")
    st.rerun()
time.sleep({QUIET_SECONDS * 3})
st.write("second run")
"""


def test_collect_waits_for_the_run_st_rerun_starts() -> None:
    """A run stopped by st.rerun is not the end: what the next run draws, however late
    it starts drawing, is in the render."""
    app = LiveApp({})
    app.script = app.dir / "rerun.py"
    app.script.write_text(SCRIPT, encoding="utf-8")
    with app, WireClient(app.url) as client:
        out = client.run()
    # (The first run's line may never be sent: a rerun drops what is still queued.)
    assert "second run" in out.texts
