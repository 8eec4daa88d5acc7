"""`tripwired notify test --alerts FILE`: what each receiver would be sent for a set of alerts, unsent.

The alerts (Alertmanager's POST /api/v2/alerts shape, plus an optional `status`) are routed and
grouped by the config's route tree as the dispatcher does, then every integration of every
receiver they reach renders its request from the config's templates: JSON for Slack, PagerDuty,
webhook and Opsgenie (with the method and URL path of each call), headers and bodies for email.
Nothing is sent. A template that fails is reported naming the receiver, the integration and the
template, and the command exits 1, so a template change can be reviewed and checked in CI.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from agent.config.load import ConfigError, load_text
from agent.config.receivers import ReceiverConfig
from agent.config.schema import Config
from agent.model import Alert
from agent.notify.dispatch import alert_order
from agent.notify.integrations import data
from agent.notify.integrations.email import email
from agent.notify.integrations.opsgenie import opsgenie
from agent.notify.integrations.pagerduty import pagerduty
from agent.notify.integrations.registry import integration_configs
from agent.notify.integrations.slack import slack
from agent.notify.integrations.webhook import webhook
from agent.notify.model import Notification
from agent.notify.route import build_route
from agent.notify.silence import format_rfc3339
from agent.notify.template import NotifyTemplates, TemplateError, load_templates
from agent.runtime.alertmanager_api import alert_from_json
from agent.runtime.daemon import external_url

EXIT_OK, EXIT_TEMPLATE_ERROR, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class AlertSpec:
    """One alert of the file, as posted to Alertmanager's API; `status` says firing or resolved."""

    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    status: str = "firing"
    starts_at: str = field(default="", metadata={"key": "startsAt"})  # Alertmanager's API names
    ends_at: str = field(default="", metadata={"key": "endsAt"})
    generator_url: str = field(default="", metadata={"key": "generatorURL"})


@dataclass(frozen=True)
class AlertsFile:
    """The alerts file: `alerts: [...]` (a bare list is read as that too)."""

    alerts: list[AlertSpec] = field(default_factory=list)


class AlertsFileError(ValueError):
    """An alerts file that cannot be read; the message names the file (and line)."""


def load_alerts(path: str, now: float) -> list[Alert]:
    """The alerts of the file as the ruler would hand them over; AlertsFileError if unusable."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise AlertsFileError(f"{path}: cannot read alerts file: {exc.strerror}") from exc
    if isinstance(yaml.safe_load(text), list):
        text = yaml.safe_dump({"alerts": yaml.safe_load(text)})
    try:
        specs = load_text(AlertsFile, text, path).alerts
        return [_alert(spec, now) for spec in specs]
    except ConfigError as exc:
        raise AlertsFileError(str(exc)) from exc
    except ValueError as exc:  # what Alertmanager's API refuses too (a bad time, label name or status)
        raise AlertsFileError(f"{path}: {exc}") from exc


def _alert(spec: AlertSpec, now: float) -> Alert:
    """The alert as Alertmanager would take it from its API; `resolved` without an end ends it now."""
    if spec.status not in ("firing", "resolved"):
        raise ValueError(f"status {spec.status!r}: must be firing or resolved")
    ends_at = spec.ends_at or ("" if spec.status == "firing" else format_rfc3339(now))
    body = {
        "labels": spec.labels,
        "annotations": spec.annotations,
        "startsAt": spec.starts_at,
        "endsAt": ends_at,
        "generatorURL": spec.generator_url,
    }
    return alert_from_json(body, now)


def notifications(config: Config, alerts: Sequence[Alert], now: float) -> list[Notification]:
    """The notifications the dispatcher would make of these alerts: one per receiver and group."""
    if config.route is None:
        return []
    route = build_route(config.route)
    groups: dict[tuple[str, str], tuple[Any, list[Alert]]] = {}
    for alert in alerts:
        for node in route.match(dict(alert.labels)):
            group_labels = node.group_labels(alert.labels)
            key = (node.opts.receiver, node.group_key(group_labels))
            groups.setdefault(key, (group_labels, []))[1].append(alert)
    return [
        Notification(receiver, key, labels, tuple(sorted(members, key=alert_order)), now)
        for (receiver, key), (labels, members) in groups.items()
    ]


Renderer = Callable[[Notification, Any, str, NotifyTemplates], str]


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _slack(note: Notification, config: Any, url: str, templates: NotifyTemplates) -> str:
    alerts = data.alerts_to_send(note, config.send_resolved)
    return _json(slack.slack_message(note, alerts, url, config, templates)) if alerts else ""


def _pagerduty(note: Notification, config: Any, url: str, templates: NotifyTemplates) -> str:
    alerts = data.alerts_to_send(note, config.send_resolved)
    return _json(pagerduty.event(note, alerts, config, external_url=url, templates=templates)) if alerts else ""


def _webhook(note: Notification, config: Any, url: str, templates: NotifyTemplates) -> str:
    alerts = data.alerts_to_send(note, config.send_resolved)
    return _json(webhook.webhook_message(note, alerts, url, config.max_alerts)) if alerts else ""


def _opsgenie(note: Notification, config: Any, url: str, templates: NotifyTemplates) -> str:
    alerts = data.alerts_to_send(note, config.send_resolved)
    calls = opsgenie.requests(note, alerts, config, external_url=url, templates=templates) if alerts else []
    base = opsgenie.api_base(config)
    return "\n".join(f"{call.method} {base}{call.path}\n{_json(call.body)}" for call in calls)


def _email(note: Notification, config: Any, url: str, templates: NotifyTemplates) -> str:
    alerts = data.alerts_to_send(note, config.send_resolved)
    if not alerts:
        return ""
    try:
        rendered = email.render(note, alerts, config, external_url=url, templates=templates)
    except email.AddressError as exc:
        raise TemplateError(str(exc)) from None
    lines = [f"{name}: {value}" for name, value in rendered.headers.items()]
    lines += ["", "--- text/plain ---", rendered.text, "--- text/html ---", rendered.html]
    return "\n".join(lines)


RENDERERS: dict[str, Renderer] = {
    "slack": _slack,
    "pagerduty": _pagerduty,
    "webhook": _webhook,
    "email": _email,
    "opsgenie": _opsgenie,
}


def _integrations(receiver: ReceiverConfig) -> list[tuple[str, object]]:
    """Every integration of a receiver, named as its sender is (`slack/0`)."""
    return [(f"{kind}/{i}", c) for kind, configs in integration_configs(receiver) for i, c in enumerate(configs)]


def preview(config: Config, alerts_path: str, out: TextIO, err: TextIO, receiver: str | None = None) -> int:
    """Print every receiver's rendered notifications; 1 if any template failed, 2 for a bad file."""
    now = time.time()
    try:
        alerts = load_alerts(alerts_path, now)
        templates = load_templates(config.templates)
    except (AlertsFileError, TemplateError) as exc:
        err.write(f"{exc}\n")
        return EXIT_USAGE
    receivers = {r.name: r for r in config.receivers}
    failures = 0
    for note in notifications(config, alerts, now):
        if receiver is not None and note.receiver != receiver:
            continue
        for name, integration in _integrations(receivers[note.receiver]):
            failures += _print_one(note, name, integration, external_url(config), templates, out=out, err=err)
    return EXIT_TEMPLATE_ERROR if failures else EXIT_OK


def _print_one(
    note: Notification,
    name: str,
    integration: object,
    url: str,
    templates: NotifyTemplates,
    *,
    out: TextIO,
    err: TextIO,
) -> int:
    """Render one integration's request for one notification; 1 if its template failed."""
    renderer = RENDERERS[name.split("/", maxsplit=1)[0]]
    out.write(f"# receiver {note.receiver}, {name}, group {note.group_key}\n")
    try:
        text = renderer(note, integration, url, templates)
    except TemplateError as exc:
        err.write(f"receiver {note.receiver}, {name}: template error: {exc}\n")
        return 1
    out.write((text or "(nothing sent: only resolved alerts and send_resolved is false)") + "\n\n")
    return 0
