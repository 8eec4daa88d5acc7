"""Slack incoming webhooks: one Block Kit message per notification, with a plain `text` fallback.

The header says firing or resolved, how many and what (`[FIRING:2] DiskFull`); each alert gets a
section with its name, severity, summary and labels; a context line links back to the agent.
Slack allows 50 blocks and 3000 characters a section, so long groups are cut with a count.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

import httpx

from agent.config.receivers import SlackConfig
from agent.model import Alert, AlertState
from agent.notify.http import client_secrets, new_client, post
from agent.notify.integrations.data import alert_status, alerts_to_send, title
from agent.notify.model import Notification, Outcome, Result
from agent.redact import redact_excerpt, secret_values

MAX_ALERT_SECTIONS = 20  # header + 20 sections + a "more" note + context stays far under 50 blocks
MAX_SECTION_CHARS = 3000
MAX_HEADER_CHARS = 150


def alert_text(alert: Alert) -> str:
    """One alert as Slack mrkdwn: name, status and severity, summary, labels, link."""
    labels = dict(alert.labels)
    annotations = dict(alert.annotations)
    icon = ":red_circle:" if alert.state is AlertState.FIRING else ":large_green_circle:"
    severity = escape(labels.get("severity", "none"))
    lines = [f"{icon} *{escape(alert.name)}* ({alert_status(alert)}, severity: {severity})"]
    summary = annotations.get("summary") or annotations.get("description")
    if summary:
        lines.append(escape(summary))
    lines.append(" ".join(f"`{escape(k)}={escape(v)}`" for k, v in sorted(labels.items()) if k != "alertname"))
    if alert.generator_url:
        lines.append(f"<{escape(alert.generator_url)}|Source>")
    return _cut("\n".join(line for line in lines if line), MAX_SECTION_CHARS)


def escape(text: str) -> str:
    """Slack's three control characters, escaped so a summary cannot break the markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_message(
    notification: Notification, alerts: Sequence[Alert], external_url: str, config: SlackConfig | None = None
) -> dict[str, Any]:
    """The webhook body: Block Kit blocks and the `text` notifications and old clients show."""
    heading = title(notification, alerts)
    header = {"type": "header", "text": {"type": "plain_text", "text": _cut(heading, MAX_HEADER_CHARS)}}
    blocks: list[dict[str, Any]] = [header]
    blocks.extend(_section(alert_text(a)) for a in alerts[:MAX_ALERT_SECTIONS])
    if len(alerts) > MAX_ALERT_SECTIONS:
        blocks.append(_section(f"…and {len(alerts) - MAX_ALERT_SECTIONS} more alerts"))
    link = f"<{escape(external_url)}|tripwired>"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": link}]})
    message: dict[str, Any] = {"text": _fallback(heading, alerts), "blocks": blocks}
    if config is not None and config.channel:
        message["channel"] = config.channel
    if config is not None and config.username:
        message["username"] = config.username
    return message


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _fallback(heading: str, alerts: Sequence[Alert]) -> str:
    """The `text` field: Slack parses it as mrkdwn too, so it is escaped like every other text."""
    summaries = [dict(a.annotations).get("summary", "") for a in alerts]
    return _cut("\n".join(escape(line) for line in [heading, *(s for s in summaries if s)]), MAX_SECTION_CHARS)


class SlackSender:
    """Posts to one Slack incoming webhook."""

    def __init__(self, config: SlackConfig, *, external_url: str, client: httpx.AsyncClient | None = None) -> None:
        """One Slack webhook; `client` is for tests, else one is built from `http_config`."""
        self.config = config
        self.external_url = external_url
        self.client = client or new_client(config.http_config)
        self.secrets: Collection[str] = secret_values(config) + client_secrets(config.http_config)

    async def send(self, notification: Notification) -> Result:
        """Post the group's message and read Slack's answer (see `Notifier.send`)."""
        alerts = alerts_to_send(notification, self.config.send_resolved)
        if not alerts:
            return Result(Outcome.DELIVERED, "nothing to send: only resolved alerts and send_resolved is false")
        body = json.dumps(slack_message(notification, alerts, self.external_url, self.config)).encode()
        posted = await post(self.client, str(self.config.api_url), body, self.secrets)
        if posted.result.outcome is Outcome.DELIVERED:
            return self._check_body(posted.body, posted.content_type)
        return posted.result

    def _check_body(self, body: str, content_type: str) -> Result:
        """Slack may answer 200 with an error: `ok` in text, or `{"ok": false}` from the Web API."""
        if content_type.startswith("application/json"):
            try:
                ok = bool(json.loads(body).get("ok"))
            except (ValueError, AttributeError):
                return Result(Outcome.RETRY, "unreadable JSON response from Slack")
        else:
            ok = body.strip() == "ok"
        if ok:
            return Result(Outcome.DELIVERED)
        return Result(Outcome.GIVE_UP, f"error response from Slack: {redact_excerpt(body, self.secrets, 200)}")

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()
