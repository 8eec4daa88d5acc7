"""The generic webhook integration (Alertmanager's webhook payload, version 4), as its notify/webhook/."""

from agent.notify.integrations.webhook.webhook import DEDUP_HEADER, WebhookSender

__all__ = ["DEDUP_HEADER", "WebhookSender"]
