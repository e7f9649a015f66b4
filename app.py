"""Run Lookup: which trigger.dev run processed a business entity.

Entry point for ``streamlit run app.py``. The shell (settings, navigation, the
sign-in gate, the sidebar, then the page) is ``ui.shell.main``.
"""

from ui import shell

shell.main()
