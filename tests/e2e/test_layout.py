"""Layout: a slot a view keeps for work that only some runs do takes no room when empty."""

from __future__ import annotations

from typing import Any

import pytest

from .harness import settle
from .test_bulk_share import resolve_paste
from .test_summary import open_summary_all

pytestmark = pytest.mark.e2e

# Blocks of the main area that are laid out (so they take a gap in their parent) while
# nothing in them is: an empty slot kept in a container of its own, say.
ROOMY_EMPTY_BLOCKS = """() =>
  [...document.querySelectorAll('[data-testid=stMain] [data-testid=stVerticalBlock]')]
    .filter(block => block.getClientRects().length > 0)
    .filter(block => ![...block.querySelectorAll('*')].some(
      e => e.getClientRects().length > 0 && e.getBoundingClientRect().height > 0))
    .map(block => block.parentElement.outerHTML.slice(0, 300))
"""


def test_empty_slots_take_no_room(signed_in: Any) -> None:
    """After a resolve on Bulk and a scan on Summary (their progress slots empty again),
    no laid-out block of the main area is empty: no stray gap above the results."""
    page = signed_in
    resolve_paste(page)
    settle(page)
    assert page.evaluate(ROOMY_EMPTY_BLOCKS) == []
    open_summary_all(page)
    settle(page)
    assert page.evaluate(ROOMY_EMPTY_BLOCKS) == []
