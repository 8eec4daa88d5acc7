"""Generic webhooks: Alertmanager's webhook payload, version 4, optionally signed with HMAC-SHA256.

The payload is Alertmanager's template data (template/template.go `Data`) plus `version`,
`groupKey` and `truncatedAlerts` (notify/webhook/webhook.go), so receivers written for
Alertmanager work unchanged. Slack and PagerDuty build their messages from the same data.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from agent.config.receivers import WebhookConfig
from agent.model import Alert, AlertState
from agent.notify.http import client_secrets, new_client, post
from agent.notify.model import Notification, Outcome, Result, group_status
from agent.notify.template import alert_status, common, go_quote_meta
from agent.redact import secret_values

SIGNATURE_HEADER = "X-Tripwired-Signature"
DEDUP_HEADER = "X-Tripwired-Dedup-Key"  # lets a receiver drop a re-delivery (at-least-once)
ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time.Time, what Alertmanager sends as a firing alert's endsAt


def go_time(seconds: float) -> str:
    """A Unix time as Go's time.Time marshals to JSON (RFC 3339, fraction without trailing zeros, Z)."""
    moment = datetime.fromtimestamp(seconds, UTC)
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def alerts_to_send(notification: Notification, send_resolved: bool) -> tuple[Alert, ...]:
    """The alerts an integration should hear about: resolved ones only if it wants them."""
    if send_resolved:
        return notification.alerts
    return tuple(a for a in notification.alerts if a.state is AlertState.FIRING)


def template_data(notification: Notification, alerts: Sequence[Alert], external_url: str) -> dict[str, Any]:
    """Alertmanager's template data for a notification, as its JSON has it."""
    labels = [dict(a.labels) for a in alerts]
    return {
        "receiver": go_quote_meta(notification.receiver),
        "status": group_status(alerts).value,
        "alerts": [_alert_json(a) for a in alerts],
        "groupLabels": dict(notification.group_labels),
        "commonLabels": common(labels),
        "commonAnnotations": common([dict(a.annotations) for a in alerts]),
        "externalURL": external_url,
    }


def _alert_json(alert: Alert) -> dict[str, Any]:
    firing = alert.state is AlertState.FIRING
    return {
        "status": alert_status(alert),
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": go_time(alert.starts_at),
        # Alertmanager zeroes a firing alert's endsAt before notifying (dispatch.go flush).
        "endsAt": ZERO_TIME if firing else go_time(alert.ends_at),
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
    }


def webhook_message(
    notification: Notification, alerts: Sequence[Alert], external_url: str, max_alerts: int = 0
) -> dict[str, Any]:
    """The version 4 payload, with at most `max_alerts` alerts (0: all)."""
    kept = alerts[:max_alerts] if max_alerts else alerts
    data = template_data(notification, kept, external_url)
    # Status is the whole group's, as Alertmanager computes it before truncating.
    data["status"] = group_status(alerts).value
    return {**data, "version": "4", "groupKey": notification.group_key, "truncatedAlerts": len(alerts) - len(kept)}


def signature(secret: str, body: bytes) -> str:
    """The signature header value: `sha256=` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSender:
    """Posts Alertmanager's webhook payload to one URL."""

    def __init__(self, config: WebhookConfig, *, external_url: str, client: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self.external_url = external_url
        timeout = None if config.timeout is None else float(config.timeout)
        self.client = client or new_client(config.http_config, timeout)
        self.secrets: Collection[str] = secret_values(config) + client_secrets(config.http_config)

    async def send(self, notification: Notification) -> Result:
        alerts = alerts_to_send(notification, self.config.send_resolved)
        if not alerts:
            return Result(Outcome.DELIVERED, "nothing to send: only resolved alerts and send_resolved is false")
        message = webhook_message(notification, alerts, self.external_url, self.config.max_alerts)
        body = json.dumps(message).encode()
        headers = {DEDUP_HEADER: notification.dedup_key}
        if self.config.hmac_secret:
            headers[SIGNATURE_HEADER] = signature(self.config.hmac_secret, body)
        return (await post(self.client, str(self.config.url), body, self.secrets, headers=headers)).result

    async def aclose(self) -> None:
        await self.client.aclose()
