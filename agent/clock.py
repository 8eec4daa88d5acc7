"""Time as the agent sees it: a protocol, the real clock and a fake one for tests."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Wall time for sample timestamps, monotonic time for measuring durations."""

    def time(self) -> float:
        """Wall-clock seconds since the epoch, for timestamps."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin that never go backwards, for measuring durations."""


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        """Wall-clock seconds since the epoch (time.time)."""
        return time.time()

    def monotonic(self) -> float:
        """Monotonic seconds (time.monotonic)."""
        return time.monotonic()


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._mono = 0.0

    def time(self) -> float:
        """The fake wall-clock time, in seconds since the epoch."""
        return self._now

    def monotonic(self) -> float:
        """The fake monotonic time, in seconds since the clock was made."""
        return self._mono

    def advance(self, seconds: float) -> None:
        """Move both the wall and the monotonic time forward by `seconds`."""
        self._now += seconds
        self._mono += seconds
