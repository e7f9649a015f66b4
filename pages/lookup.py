"""Lookup: one ID in (bound to ?id=…), the run that processed it out (``ui.lookup_view``)."""

from ui import lookup_view

lookup_view.page()
