"""Generic webhooks: Alertmanager's webhook payload, version 4, optionally signed with HMAC-SHA256.

The payload is Alertmanager's template data (template/template.go `Data`) plus `version`,
`groupKey` and `truncatedAlerts` (notify/webhook/webhook.go), so receivers written for
Alertmanager work unchanged. Slack and PagerDuty build their messages from the same data.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

import httpx

from agent.config.receivers import WebhookConfig
from agent.model import Alert
from agent.notify.http import post
from agent.notify.integrations.base import NOTHING_TO_SEND, HttpIntegration
from agent.notify.integrations.data import data_json
from agent.notify.model import Notification, Result, group_status

SIGNATURE_HEADER = "X-Tripwired-Signature"
DEDUP_HEADER = "X-Tripwired-Dedup-Key"  # lets a receiver drop a re-delivery (at-least-once)


def webhook_message(
    notification: Notification, alerts: Sequence[Alert], external_url: str, max_alerts: int = 0
) -> dict[str, Any]:
    """The version 4 payload, with at most `max_alerts` alerts (0: all)."""
    kept = alerts[:max_alerts] if max_alerts else alerts
    data = data_json(notification, kept, external_url)
    # Status is the whole group's, as Alertmanager computes it before truncating.
    data["status"] = group_status(alerts).value
    return {**data, "version": "4", "groupKey": notification.group_key, "truncatedAlerts": len(alerts) - len(kept)}


def signature(secret: str, body: bytes) -> str:
    """The signature header value: `sha256=` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSender(HttpIntegration[WebhookConfig]):
    """Posts Alertmanager's webhook payload to one URL."""

    kind = "webhook"

    def __init__(self, config: WebhookConfig, *, external_url: str, client: httpx.AsyncClient | None = None) -> None:
        """One webhook URL, with its own `timeout`; `client` is for tests."""
        timeout = None if config.timeout is None else float(config.timeout)
        super().__init__(config, external_url=external_url, client=client, timeout=timeout)

    async def send(self, notification: Notification) -> Result:
        """Post the version 4 payload, signed if configured (see `Notifier.send`)."""
        alerts = self.alerts(notification)
        if not alerts:
            return NOTHING_TO_SEND
        message = webhook_message(notification, alerts, self.external_url, self.config.max_alerts)
        body = json.dumps(message).encode()
        headers = {DEDUP_HEADER: notification.dedup_key}
        if self.config.hmac_secret:
            headers[SIGNATURE_HEADER] = signature(self.config.hmac_secret, body)
        return (await post(self.client, str(self.config.url), body, self.secrets, headers=headers)).result
