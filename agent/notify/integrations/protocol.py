"""The one protocol every integration implements, as Alertmanager's notify.Notifier.

An integration turns one notification (a receiver's view of one alert group) into its own
payload and delivers it. It never retries: it says what the attempt came to, and the outbox
(agent/notify/outbox.py) retries with the policy of agent/notify/retry.py. Status codes and
network errors are classified in one place, agent/notify/http.py, which every HTTP integration
posts through.
"""

from __future__ import annotations

from typing import Protocol

from agent.notify.model import Notification, Result


class Notifier(Protocol):
    """What an integration (Slack, PagerDuty, webhook, ...) implements."""

    async def send(self, notification: Notification) -> Result:
        """Build this integration's payload from the group's alerts and deliver it once.

        The result says delivered, retry later (`Outcome.RETRY`: 429, 5xx, timeouts, connection
        errors, with any Retry-After) or give up (`Outcome.GIVE_UP`: other 4xx, a bad URL); its
        reason has been redacted. Network trouble is a result, never an exception.
        """
        ...

    async def aclose(self) -> None:
        """Release what the integration holds (its HTTP client); called once, at reload or shutdown."""
        ...
