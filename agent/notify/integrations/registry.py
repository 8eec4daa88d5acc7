"""The one place integrations are registered: which receiver config field builds which integration.

Adding an integration: write its sub-package (agent/notify/integrations/<name>/, implementing
`Notifier` of protocol.py), then add one `Registration` to `INTEGRATIONS` below. The receiver's
config field (`<name>_configs`) lives in agent/config/receivers.py.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent.config.receivers import ReceiverConfig
from agent.notify.integrations.protocol import Notifier
from agent.notify.template import DEFAULT_TEMPLATES, NotifyTemplates

Integrations = dict[str, list[tuple[str, Notifier]]]
"""Receiver name -> its integrations, each named by kind and position (`slack/0`, `webhook/1`)."""


@dataclass(frozen=True, slots=True)
class Registration:
    """One kind of integration: its name, its configs in a receiver and the class that sends them.

    The class is named, not imported: its sub-package (and what it needs, such as the HTTP client or
    smtplib) is imported when a receiver first uses the kind, so a daemon carries only the integrations
    its config names.
    """

    kind: str
    configs: Callable[[ReceiverConfig], Sequence[Any]]
    sender: str  # "<sub-package>:<class>", built as Class(config, external_url=..., templates=...)
    templated: bool = True  # whether the class takes the notification templates

    def build(self, config: object, external_url: str, templates: NotifyTemplates) -> Notifier:
        """The integration for one of the receiver's configs."""
        module, _, name = self.sender.partition(":")
        cls = getattr(importlib.import_module(f"agent.notify.integrations.{module}"), name)
        if self.templated:
            sender: Notifier = cls(config, external_url=external_url, templates=templates)
        else:
            sender = cls(config, external_url=external_url)
        return sender


INTEGRATIONS: tuple[Registration, ...] = (
    Registration("slack", lambda r: r.slack_configs, "slack:SlackSender"),
    Registration("pagerduty", lambda r: r.pagerduty_configs, "pagerduty:PagerdutySender"),
    Registration("webhook", lambda r: r.webhook_configs, "webhook:WebhookSender", templated=False),
    Registration("email", lambda r: r.email_configs, "email:EmailSender"),
    Registration("opsgenie", lambda r: r.opsgenie_configs, "opsgenie:OpsgenieSender"),
)


def integration_configs(receiver: ReceiverConfig) -> list[tuple[str, Sequence[object]]]:
    """(kind, configs) for every integration kind of a receiver, in the order integrations are built."""
    return [(registration.kind, registration.configs(receiver)) for registration in INTEGRATIONS]


def build_senders(
    receivers: Sequence[ReceiverConfig], *, external_url: str, templates: NotifyTemplates = DEFAULT_TEMPLATES
) -> Integrations:
    """Every receiver's integrations, in the order of `INTEGRATIONS`, then of the receiver's configs."""
    return {receiver.name: _integrations(receiver, external_url, templates) for receiver in receivers}


def _integrations(
    receiver: ReceiverConfig, external_url: str, templates: NotifyTemplates
) -> list[tuple[str, Notifier]]:
    return [
        (f"{registration.kind}/{i}", registration.build(config, external_url, templates))
        for registration in INTEGRATIONS
        for i, config in enumerate(registration.configs(receiver))
    ]


async def close_senders(integrations: Mapping[str, Sequence[tuple[str, Notifier]]]) -> None:
    """Close every integration (their HTTP clients): at reload for the replaced ones, at shutdown."""
    for senders in integrations.values():
        for _, sender in senders:
            await sender.aclose()
