"""What every HTTP integration shares: its client, its secrets, the alerts it hears of, template failures.

Alertmanager's integrations each hold one HTTP client built from `http_config`, skip a group that
has only resolved alerts when `send_resolved` is off, and fail a notification whose template fails
without retrying it. Written once here; each integration adds only how it builds and sends its
payload.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Generic, Protocol, TypeVar

import httpx
import structlog

from agent.config.receivers import HttpClientConfig
from agent.model import Alert
from agent.notify.http import client_secrets, new_client
from agent.notify.integrations.data import alerts_to_send
from agent.notify.model import Notification, Outcome, Result
from agent.notify.template import DEFAULT_TEMPLATES, NotifyTemplates
from agent.redact import redact, secret_values

log = structlog.get_logger()

NOTHING_TO_SEND = Result(Outcome.DELIVERED, "nothing to send: only resolved alerts and send_resolved is false")


class HttpIntegrationConfig(Protocol):
    """The fields every HTTP integration's config has."""

    @property
    def http_config(self) -> HttpClientConfig:
        """Auth, TLS, proxy and timeouts of its client."""
        ...

    @property
    def send_resolved(self) -> bool:
        """Whether resolved alerts are sent too."""
        ...


C = TypeVar("C", bound=HttpIntegrationConfig)


class HttpIntegration(Generic[C]):
    """One configured HTTP integration: its config, its client and the secrets its errors must not show."""

    kind = ""  # "slack", "pagerduty", ...: the integration's name in logs

    def __init__(
        self,
        config: C,
        *,
        external_url: str,
        client: httpx.AsyncClient | None = None,
        templates: NotifyTemplates = DEFAULT_TEMPLATES,
        timeout: float | None = None,
    ) -> None:
        """One integration; `client` is for tests, else one is built from `http_config`."""
        self.config = config
        self.external_url = external_url
        self.templates = templates
        self.client = client or new_client(config.http_config, timeout)
        self.secrets: Collection[str] = secret_values(config) + client_secrets(config.http_config)

    def alerts(self, notification: Notification) -> Sequence[Alert]:
        """The group's alerts this integration hears of: the resolved ones only with send_resolved."""
        return alerts_to_send(notification, self.config.send_resolved)

    def template_failed(self, notification: Notification, exc: Exception) -> Result:
        """A template that fails gives the notification up without retrying, as in Alertmanager."""
        log.error("notify_template_failed", integration=self.kind, receiver=notification.receiver, error=str(exc))
        return Result(Outcome.GIVE_UP, redact(f"template error: {exc}", self.secrets))

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()


__all__ = ["NOTHING_TO_SEND", "HttpIntegration", "HttpIntegrationConfig"]
