"""PagerDuty Events API v2: Alertmanager's event, every text field a template over the notification.

`trigger` while any alert of the group fires, `resolve` when none does. The dedup_key is the
SHA-256 of the group key, as Alertmanager computes it (notify.Key.Hash), so the trigger and the
resolve of one group address the same incident. Summary, client, details, links and the rest
default to Alertmanager's templates (`pagerduty.default.description`: `[FIRING:2] DiskFull ...`).
An event may not exceed 512 KB: the custom details are then replaced by a note, as Alertmanager does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import structlog

from agent.config.receivers import PagerdutyConfig
from agent.model import Alert
from agent.notify.http import post
from agent.notify.integrations.base import NOTHING_TO_SEND, HttpIntegration
from agent.notify.integrations.data import group_key_hash
from agent.notify.model import Notification, Result, Status, group_status
from agent.notify.template import DEFAULT_TEMPLATES, NotifyTemplates, TemplateError, template_data

log = structlog.get_logger()

MAX_EVENT_BYTES = 512_000
MAX_SUMMARY_CHARS = 1024
TRIMMED_DETAILS = {
    "error": "Custom details have been removed because the original event exceeds the maximum size of 512kB",
}


def _cut(text: str, limit: int) -> str:
    """Alertmanager's TruncateInRunes: at most limit characters, the last one an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def event(
    notification: Notification,
    alerts: Sequence[Alert],
    config: PagerdutyConfig,
    *,
    external_url: str,
    templates: NotifyTemplates = DEFAULT_TEMPLATES,
) -> dict[str, Any]:
    """The Events API v2 body, before any trimming for size; raises TemplateError naming the template."""
    data = template_data(notification, alerts, external_url)
    text = templates.fields(data)

    client = text(config.client)
    payload = {
        "summary": _cut(text(config.description), MAX_SUMMARY_CHARS),
        "source": text(config.source or config.client),
        "severity": text(config.severity),
        "class": text(config.class_),
        "component": text(config.component),
        "group": text(config.group),
        "custom_details": {k: text(v) for k, v in config.all_details().items()},
    }
    images = [{"src": text(i.src), "alt": text(i.alt), "href": text(i.href)} for i in config.images]
    links = [{"href": text(link.href), "text": text(link.text)} for link in config.links]
    message = {
        "routing_key": str(config.routing_key or ""),
        "dedup_key": group_key_hash(notification),
        "event_action": "resolve" if group_status(alerts) is Status.RESOLVED else "trigger",
        "payload": {k: v for k, v in payload.items() if k in ("summary", "source", "severity") or v},
        "client": client,
        "client_url": text(config.client_url),
        "images": [_omit_empty(i) for i in images if i["src"]],
        "links": [_omit_empty(link) for link in links if link["href"]],
    }
    return {k: v for k, v in message.items() if k in ("event_action", "payload") or v}


def _omit_empty(item: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in item.items() if v}


def encode(message: dict[str, Any]) -> bytes:
    """The JSON body, its custom details replaced by a note when it passes 512 KB."""
    body = json.dumps(message).encode()
    if len(body) <= MAX_EVENT_BYTES:
        return body
    message["payload"]["custom_details"] = dict(TRIMMED_DETAILS)
    log.warning("pagerduty_event_trimmed", size_bytes=len(body), limit_bytes=MAX_EVENT_BYTES)
    return json.dumps(message).encode()


class PagerdutySender(HttpIntegration[PagerdutyConfig]):
    """Sends trigger and resolve events to one PagerDuty service."""

    kind = "pagerduty"

    async def send(self, notification: Notification) -> Result:
        """Post the group's event; a template that fails gives up, as in Alertmanager."""
        alerts = self.alerts(notification)
        if not alerts:
            return NOTHING_TO_SEND
        try:
            message = event(notification, alerts, self.config, external_url=self.external_url, templates=self.templates)
        except TemplateError as exc:
            return self.template_failed(notification, exc)
        return (await post(self.client, self.config.url, encode(message), self.secrets)).result
