"""What flows between the dispatcher (routing, grouping) and the outbox (durable delivery)."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agent.model import Alert, AlertState, Labels


class Status(enum.Enum):
    """A notification's status as Alertmanager's webhook calls it: firing if any alert fires."""

    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Notification:
    """One message for one receiver about one alert group, as decided by the dispatcher."""

    receiver: str
    group_key: str  # Alertmanager's group key: the route's matchers path and the group labels
    group_labels: Labels
    alerts: tuple[Alert, ...]  # firing and resolved alerts of the group, firing first
    created_at: float  # Unix seconds
    # When the previous notification of this group to this receiver was sent (0: none). It makes a
    # repeat after repeat_interval a new notification, while the same decision taken again after a
    # crash (the notification log not yet written) keeps its key and is not sent twice.
    previous_sent_at: float = 0.0

    @property
    def status(self) -> Status:
        """Firing if any alert of the group fires, else resolved."""
        return group_status(self.alerts)

    @property
    def dedup_key(self) -> str:
        """Stable across restarts and retries: the same group in the same state gives the same key.

        Receivers (and the outbox) use it to drop a re-delivery of what they already have.
        """
        parts = [
            self.receiver,
            self.group_key,
            repr(self.previous_sent_at),
            *sorted(f"{a.fingerprint}:{a.state.value}" for a in self.alerts),
        ]
        return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


class Outcome(enum.Enum):
    """What one delivery attempt came to."""

    DELIVERED = "delivered"
    RETRY = "retry"  # try again later (5xx, 429, timeout, connection refused)
    GIVE_UP = "give_up"  # final failure (other 4xx, payload too large); kept as a dead letter


@dataclass(frozen=True, slots=True)
class Result:
    """An integration's answer for one attempt: the outcome, a redacted reason, any Retry-After."""

    outcome: Outcome
    reason: str = ""  # redacted: never a URL with a token, never a routing key
    retry_after: float | None = None  # seconds, from a Retry-After header


Enqueue = Callable[[Notification], None]


def group_status(alerts: Sequence[Alert]) -> Status:
    """Firing if any alert of the group fires, else resolved."""
    return Status.FIRING if any(a.state is AlertState.FIRING for a in alerts) else Status.RESOLVED
