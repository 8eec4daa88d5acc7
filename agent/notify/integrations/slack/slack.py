"""Slack incoming webhooks: Alertmanager's message, one attachment built from the config's templates.

Every text field (title, text, fields, actions, ...) is a Go template over the notification's
template data, defaulting to Alertmanager's (`slack.default.title`: `[FIRING:2] DiskFull ...`), so
a Slack channel fed by Alertmanager reads the same when fed by tripwired. The JSON keys and
which are left out when empty follow Alertmanager's notify/slack request and attachment.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from agent.config.receivers import SlackAction, SlackConfig
from agent.model import Alert
from agent.notify.http import post
from agent.notify.integrations.base import NOTHING_TO_SEND, HttpIntegration
from agent.notify.model import Notification, Outcome, Result
from agent.notify.template import DEFAULT_TEMPLATES, NotifyTemplates, TemplateError, template_data
from agent.redact import redact_excerpt

log = structlog.get_logger()

DEFAULT_MRKDWN_IN = ("fallback", "pretext", "text")


def _omit_empty(fields: dict[str, Any]) -> dict[str, Any]:
    """Go's omitempty: leave out "", False, None and empty lists."""
    return {k: v for k, v in fields.items() if v not in ("", False, None, [])}


def _action(action: SlackAction, text: Callable[[str], str]) -> dict[str, Any]:
    """One button; Alertmanager 0.25 accepts a `confirm` dialog in the config but does not send it."""
    return _omit_empty(
        {
            "type": text(action.type),
            "text": text(action.text),
            "url": text(action.url),
            "style": text(action.style),
            "name": text(action.name),
            "value": text(action.value),
        }
    )


def _attachment(config: SlackConfig, text: Callable[[str], str]) -> dict[str, Any]:
    attachment = {
        "title": text(config.title),
        "title_link": text(config.title_link),
        "pretext": text(config.pretext),
        "text": text(config.text),
        "fallback": text(config.fallback),
        "callback_id": text(config.callback_id),
        "fields": [
            _omit_empty({"title": text(f.title), "value": text(f.value)})
            | {"short": config.short_fields if f.short is None else f.short}
            for f in config.fields
        ],
        "actions": [_action(a, text) for a in config.actions],
        "image_url": text(config.image_url),
        "thumb_url": text(config.thumb_url),
        "footer": text(config.footer),
        "color": text(config.color),
        "mrkdwn_in": list(config.mrkdwn_in or DEFAULT_MRKDWN_IN),
    }
    always = ("text", "fallback", "callback_id", "footer")  # no omitempty on these in Alertmanager
    return {k: v for k, v in attachment.items() if k in always or v not in ("", [])}


def slack_message(
    notification: Notification,
    alerts: Sequence[Alert],
    external_url: str,
    config: SlackConfig,
    templates: NotifyTemplates = DEFAULT_TEMPLATES,
) -> dict[str, Any]:
    """The webhook body; raises TemplateError (naming the field) when a template fails."""
    data = template_data(notification, alerts, external_url)
    text = templates.fields(data)

    message = _omit_empty(
        {
            "channel": text(config.channel),
            "username": text(config.username),
            "icon_emoji": text(config.icon_emoji),
            "icon_url": text(config.icon_url),
            "link_names": config.link_names,
        }
    )
    message["attachments"] = [_attachment(config, text)]
    return message


class SlackSender(HttpIntegration[SlackConfig]):
    """Posts to one Slack incoming webhook."""

    kind = "slack"

    async def send(self, notification: Notification) -> Result:
        """Post the group's message; a template that fails gives up, as in Alertmanager."""
        alerts = self.alerts(notification)
        if not alerts:
            return NOTHING_TO_SEND
        try:
            message = slack_message(notification, alerts, self.external_url, self.config, self.templates)
        except TemplateError as exc:
            return self.template_failed(notification, exc)
        body = json.dumps(message).encode()
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
