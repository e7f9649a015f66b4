"""Summary: what the namespace holds, by entity type and organization (``ui.summary_view``)."""

from ui import summary_view

summary_view.page()
