"""The page helpers' text formatting (pure functions)."""

from __future__ import annotations

import pytest

from ui.format import shorten_middle


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("pym_short", 22, "pym_short"),
        ("pym_" + "x" * 18, 22, "pym_" + "x" * 18),  # exactly at the limit: unchanged
        ("pym_vvMrJHwdMkfadakTGSbme", 22, "pym_vvMrJHw…adakTGSbme"),
        ("billing_run_0123456789abcdef", 10, "billi…cdef"),
        ("abcdef", 2, "a…"),
        ("abcdef", 1, "…"),
    ],
)
def test_shorten_middle(text: str, limit: int, expected: str) -> None:
    """A long ID keeps its prefix and its tail, at most ``limit`` characters in all."""
    out = shorten_middle(text, limit)
    assert out == expected
    assert len(out) <= max(limit, 1)
