"""The retry policy of deliveries: when to try again, and when to give up.

What is retryable is decided where answers are read, in one place: agent/notify/http.py
(`classify`: 2xx delivered; 429 and 5xx retried with their Retry-After; timeouts and connection
errors retried; any other status given up). This module says how long to wait before the next
attempt and when a retried notification becomes a dead letter. remote_write (agent/remote/queue.py)
waits with the same `Backoff`, without jitter and with Retry-After uncapped, as Prometheus' does.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

_MAX_EXPONENT = 1023  # 2.0 ** 1024 overflows; long before that the delay is at its cap


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff: `base` doubled per attempt up to `cap`, optionally jittered, Retry-After honoured."""

    base: float
    cap: float
    jitter: bool = True  # a random factor in [0.5, 1) so receivers coming back are not hit all at once
    cap_retry_after: bool = True  # a Retry-After longer than `cap` waits `cap` (the outbox's rule)

    def delay(self, attempts: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait after the `attempts`-th failed attempt (1 for the first), at least what Retry-After asked."""
        delay = min(self.cap, self.base * 2.0 ** min(attempts - 1, _MAX_EXPONENT))
        if self.jitter:
            delay *= (rng or random).uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.cap) if self.cap_retry_after else retry_after)
        return delay


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The outbox's policy: back off between attempts, give up on a notification older than `max_age`."""

    backoff: Backoff
    max_age: float  # seconds since the notification was enqueued

    def gives_up(self, created_at: float, now: float) -> bool:
        """Whether a notification that failed again now is given up (becomes a dead letter)."""
        return now - created_at >= self.max_age
