"""Bulk resolve: a pasted list or a file of IDs in, one row per result out (``ui.bulk_view``)."""

from ui import bulk_view

bulk_view.page()
