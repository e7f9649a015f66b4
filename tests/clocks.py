"""Frozen clocks: time stands still until a test moves it (no sleeping, no timed assertions).

``NOW`` is the frozen "now" of the fakeredis-based tests; the ``server_clock``
fixture (conftest.py) freezes fakeredis' server clock there.
"""

from __future__ import annotations

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


class FrozenClock:
    """Reads ``now`` until a test moves it (``clock.now += 10``).

    Callable, for the ``clock=`` parameters of ``LoginThrottle``,
    ``SignOutRegistry`` and ``TelemetryReader``; ``time()`` stands in for the
    ``time`` module.
    """

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now
