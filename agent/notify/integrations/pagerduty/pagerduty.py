"""PagerDuty Events API v2: `trigger` while any alert of the group fires, `resolve` when none does.

The dedup_key is the SHA-256 of the group key, as Alertmanager computes it (notify.Key.Hash),
so the trigger and the resolve of one group address the same incident. An event may not exceed
512 KB: the per-alert details are dropped first, then all custom details, as Alertmanager does.
"""

from __future__ import annotations

import hashlib
import json
import socket
from collections.abc import Collection, Sequence
from typing import Any

import httpx
import structlog

from agent.config.receivers import PagerdutyConfig
from agent.model import Alert, AlertState
from agent.notify.http import client_secrets, new_client, post
from agent.notify.integrations.data import alerts_to_send, common, go_time, title
from agent.notify.model import Notification, Outcome, Result, Status, group_status
from agent.redact import secret_values

log = structlog.get_logger()

MAX_EVENT_BYTES = 512_000
MAX_SUMMARY_CHARS = 1024
DEFAULT_SEVERITY = "error"  # Alertmanager's default when nothing says otherwise
SEVERITY_RANK = {"critical": 3, "error": 2, "warning": 1, "info": 0}
SEVERITY_ALIASES = {
    "critical": "critical",
    "crit": "critical",
    "page": "critical",
    "fatal": "critical",
    "p1": "critical",
    "error": "error",
    "err": "error",
    "high": "error",
    "major": "error",
    "p2": "error",
    "warning": "warning",
    "warn": "warning",
    "medium": "warning",
    "minor": "warning",
    "p3": "warning",
    "info": "info",
    "informational": "info",
    "low": "info",
    "none": "info",
    "p4": "info",
    "p5": "info",
}
TRIMMED_DETAILS = {
    "error": "Custom details have been removed because the original event exceeds the maximum size of 512kB",
}


def dedup_key(notification: Notification) -> str:
    """The group's stable key: the same for its trigger and its resolve."""
    return hashlib.sha256(notification.group_key.encode()).hexdigest()


def severity(alerts: Sequence[Alert], configured: str = "") -> str:
    """The configured severity, else the highest `severity` label among firing alerts, mapped."""
    if configured:
        return SEVERITY_ALIASES.get(configured.lower(), configured)
    firing = [a for a in alerts if a.state is AlertState.FIRING] or list(alerts)
    mapped = [SEVERITY_ALIASES.get(dict(a.labels).get("severity", "").lower()) for a in firing]
    known = [m for m in mapped if m is not None]
    return max(known, key=SEVERITY_RANK.__getitem__) if known else DEFAULT_SEVERITY


def summary(notification: Notification, alerts: Sequence[Alert]) -> str:
    """The title plus the common summary annotation, at most 1024 characters."""
    text = title(notification, alerts)
    shared = common([dict(a.annotations) for a in alerts]).get("summary")
    if shared:
        text = f"{text}: {shared}"
    return text if len(text) <= MAX_SUMMARY_CHARS else text[: MAX_SUMMARY_CHARS - 1] + "…"


def custom_details(alerts: Sequence[Alert], extra: dict[str, str]) -> dict[str, Any]:
    """The event's custom details: the configured ones, counts, and each alert."""
    firing = [a for a in alerts if a.state is AlertState.FIRING]
    return {
        **extra,
        "num_firing": str(len(firing)),
        "num_resolved": str(len(alerts) - len(firing)),
        "alerts": [_detail(a) for a in alerts],
    }


def _detail(alert: Alert) -> dict[str, Any]:
    status = "firing" if alert.state is AlertState.FIRING else "resolved"
    return {
        "status": status,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": go_time(alert.starts_at),
        "generatorURL": alert.generator_url,
    }


def event(
    notification: Notification, alerts: Sequence[Alert], config: PagerdutyConfig, *, external_url: str, source: str
) -> dict[str, Any]:
    """The Events API v2 body, before any trimming for size."""
    labels = common([dict(a.labels) for a in alerts])
    payload = {
        "summary": summary(notification, alerts),
        "source": config.source or source,
        "severity": severity(alerts, config.severity),
        "timestamp": go_time(min(a.starts_at for a in alerts)),
        "component": config.component or labels.get("component", ""),
        "group": config.group or labels.get("group", labels.get("job", "")),
        "class": config.class_ or labels.get("alertname", ""),
        "custom_details": custom_details(alerts, config.details),
    }
    links = [{"href": link.href, "text": link.text} for link in config.links]
    links.extend({"href": a.generator_url, "text": f"{a.name} source"} for a in alerts[:5] if a.generator_url)
    return {
        "routing_key": str(config.routing_key or ""),
        "event_action": "resolve" if group_status(alerts) is Status.RESOLVED else "trigger",
        "dedup_key": dedup_key(notification),
        "client": config.client,
        "client_url": config.client_url or external_url,
        "payload": {k: v for k, v in payload.items() if v != ""},
        "links": links,
    }


def encode(message: dict[str, Any]) -> bytes:
    """The JSON body, trimmed to 512 KB: per-alert details go first, then all custom details."""
    body = json.dumps(message).encode()
    if len(body) <= MAX_EVENT_BYTES:
        return body
    details = message["payload"]["custom_details"]
    message["payload"]["custom_details"] = {k: v for k, v in details.items() if k != "alerts"}
    trimmed = json.dumps(message).encode()
    if len(trimmed) > MAX_EVENT_BYTES:
        message["payload"]["custom_details"] = dict(TRIMMED_DETAILS)
        trimmed = json.dumps(message).encode()
    log.warning("pagerduty_event_trimmed", size_bytes=len(body), limit_bytes=MAX_EVENT_BYTES)
    return trimmed


class PagerdutySender:
    """Sends trigger and resolve events to one PagerDuty service."""

    def __init__(
        self,
        config: PagerdutyConfig,
        *,
        external_url: str,
        source: str | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        """One PagerDuty service; `source` defaults to the host name."""
        self.config = config
        self.external_url = external_url
        self.source = source or socket.gethostname()
        self.client = client or new_client(config.http_config)
        self.secrets: Collection[str] = secret_values(config) + client_secrets(config.http_config)

    async def send(self, notification: Notification) -> Result:
        """Send a trigger or resolve event for the group (see `Notifier.send`)."""
        alerts = alerts_to_send(notification, self.config.send_resolved)
        if not alerts:
            return Result(Outcome.DELIVERED, "nothing to send: only resolved alerts and send_resolved is false")
        message = event(notification, alerts, self.config, external_url=self.external_url, source=self.source)
        return (await post(self.client, self.config.url, encode(message), self.secrets)).result

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()
