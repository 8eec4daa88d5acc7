"""Opsgenie (Alert API v2): one alert per group, created by alias while it fires, closed by alias after.

As Alertmanager's notify/opsgenie: the alias is the SHA-256 of the group key (the same for the
create and the close), `details` are the group's common labels plus the configured details, and
`message`, `description`, `source`, responders, tags, note, priority, entity and actions are
templates, defaulting to Alertmanager's `opsgenie.default.*`. With `update_alerts`, the message
and description of an alert that already exists are updated too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from agent.config.receivers import OPSGENIE_API_URL, OpsgenieConfig, OpsgenieResponder
from agent.model import Alert
from agent.notify.http import post
from agent.notify.integrations.base import NOTHING_TO_SEND, HttpIntegration
from agent.notify.integrations.data import group_key_hash
from agent.notify.model import Notification, Outcome, Result, Status, group_status
from agent.notify.template import DEFAULT_TEMPLATES, NotifyTemplates, TemplateError, template_data

log = structlog.get_logger()

MAX_MESSAGE_CHARS = 130  # Opsgenie's limit on an alert message


@dataclass(frozen=True, slots=True)
class Request:
    """One call of the Alert API: method, URL below api_url, and JSON body."""

    method: str
    path: str
    body: dict[str, Any]


def _split(text: str) -> list[str]:
    """Alertmanager's safeSplit: comma-separated, spaces around the whole trimmed, empties dropped."""
    return [part for part in text.strip().split(",") if part]


def _responders(responders: Sequence[OpsgenieResponder], text: Callable[[str], str]) -> list[dict[str, str]]:
    """The responders, empty ones dropped, a `teams` one split into one team each."""
    out: list[dict[str, str]] = []
    for responder in responders:
        kind = text(responder.type)  # Alertmanager 0.25 checks the type lower-cased but sends it as written
        rendered = {"id": text(responder.id), "name": text(responder.name), "username": text(responder.username)}
        if not any(rendered.values()) and not kind:
            continue
        if kind == "teams":
            out.extend({"name": team, "type": "team"} for team in _split(rendered["name"]))
            continue
        out.append({**{k: v for k, v in rendered.items() if v}, "type": kind})
    return out


def requests(
    notification: Notification,
    alerts: Sequence[Alert],
    config: OpsgenieConfig,
    *,
    external_url: str,
    templates: NotifyTemplates = DEFAULT_TEMPLATES,
) -> list[Request]:
    """The API calls for this notification; raises TemplateError naming the template that failed."""
    data = template_data(notification, alerts, external_url)
    text = templates.fields(data)

    alias = group_key_hash(notification)
    if group_status(alerts) is Status.RESOLVED:
        return [Request("POST", f"v2/alerts/{alias}/close?identifierType=alias", {"source": text(config.source)})]
    message = text(config.message)
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 1] + "…"
    create = {
        "alias": alias,
        "message": message,
        "description": text(config.description),
        "details": {**data.common_labels, **{k: text(v) for k, v in config.details.items()}},
        "source": text(config.source),
        "responders": _responders(config.responders, text),
        "tags": _split(text(config.tags)),
        "note": text(config.note),
        "priority": text(config.priority),
        "entity": text(config.entity),
        "actions": _split(text(config.actions)),
    }
    always = ("alias", "message", "details", "source")  # no omitempty on these in Alertmanager
    calls = [Request("POST", "v2/alerts", {k: v for k, v in create.items() if k in always or v})]
    if config.update_alerts:
        update = f"v2/alerts/{alias}/%s?identifierType=alias"
        calls.append(Request("PUT", update % "message", _omit_empty({"message": message})))
        calls.append(Request("PUT", update % "description", _omit_empty({"description": create["description"]})))
    return calls


def _omit_empty(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v}


def api_base(config: OpsgenieConfig) -> str:
    """The configured API URL (Opsgenie's own by default), ending in a slash."""
    url = str(config.api_url or OPSGENIE_API_URL)
    return url if url.endswith("/") else url + "/"


class OpsgenieSender(HttpIntegration[OpsgenieConfig]):
    """Creates, updates and closes alerts in one Opsgenie account."""

    kind = "opsgenie"

    async def send(self, notification: Notification) -> Result:
        """Make each API call in turn; the first that does not succeed decides the result."""
        alerts = self.alerts(notification)
        if not alerts:
            return NOTHING_TO_SEND
        try:
            calls = requests(
                notification, alerts, self.config, external_url=self.external_url, templates=self.templates
            )
        except TemplateError as exc:
            return self.template_failed(notification, exc)
        headers = {"Authorization": f"GenieKey {self.config.api_key or ''}"}
        base = api_base(self.config)
        for call in calls:
            body = json.dumps(call.body).encode()
            posted = await post(self.client, base + call.path, body, self.secrets, headers=headers, method=call.method)
            if posted.result.outcome is not Outcome.DELIVERED:
                return posted.result
        return Result(Outcome.DELIVERED)
