"""Logging a failure that repeats: loud once, then a summary now and then, and once when it ends.

A full disk or a receiver that is down fails every few hundred milliseconds; a log line each time
buries everything else. `RepeatedFailure` logs the first failure at error (or the level it is
given: a receiver's retries start at warning), the following ones at debug, a summary with the
count every `summary_seconds`, and `<event>_recovered` (or the event it is given) at info when an
attempt succeeds again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger()

SUMMARY_SECONDS = 300.0


class RepeatedFailure:
    """The log of one kind of failure (one event name), quiet while it goes on."""

    def __init__(
        self,
        event: str,
        monotonic: Callable[[], float],
        *,
        summary_seconds: float = SUMMARY_SECONDS,
        first_level: str = "error",
        recovered_event: str | None = None,
    ) -> None:
        self.event = event
        self.monotonic = monotonic
        self.summary_seconds = summary_seconds
        self.first_level = first_level
        self.recovered_event = recovered_event or f"{event.removesuffix('_failed')}_recovered"
        self.failures = 0  # since the failure started
        self._unreported = 0
        self._reported_at = 0.0

    @property
    def failing(self) -> bool:
        """Whether the failure is still going on (a failure since the last success)."""
        return self.failures > 0

    def failed(self, **fields: Any) -> None:
        """One more failure: logged at error if it is the first, in a periodic summary otherwise."""
        self.failures += 1
        self._unreported += 1
        now = self.monotonic()
        if self.failures == 1:
            getattr(log, self.first_level)(self.event, **fields)
        elif now - self._reported_at >= self.summary_seconds:
            log.warning(self.event, failures=self._unreported, since_seconds=round(now - self._reported_at), **fields)
        else:
            log.debug(self.event, **fields)
            return
        self._unreported = 0
        self._reported_at = now

    def succeeded(self, **fields: Any) -> None:
        """An attempt worked: says so once if it had been failing."""
        if self.failures:
            log.info(self.recovered_event, failures=self.failures, **fields)
        self.failures = 0
        self._unreported = 0
