"""The one place integrations are registered: which receiver config field builds which integration.

Adding an integration: write its sub-package (agent/notify/integrations/<name>/, implementing
`Notifier` of protocol.py), then add one `Registration` to `INTEGRATIONS` below. The receiver's
config field (`<name>_configs`) lives in agent/config/receivers.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from agent.config.receivers import ReceiverConfig
from agent.notify.integrations.email import EmailSender
from agent.notify.integrations.opsgenie import OpsgenieSender
from agent.notify.integrations.pagerduty import PagerdutySender
from agent.notify.integrations.protocol import Notifier
from agent.notify.integrations.slack import SlackSender
from agent.notify.integrations.webhook import WebhookSender
from agent.notify.template import DEFAULT_TEMPLATES, NotifyTemplates

Integrations = dict[str, list[tuple[str, Notifier]]]
"""Receiver name -> its integrations, each named by kind and position (`slack/0`, `webhook/1`)."""

C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class Registration(Generic[C]):
    """One kind of integration: its name, its configs in a receiver and how one is built."""

    kind: str
    configs: Callable[[ReceiverConfig], Sequence[C]]
    build: Callable[[C, str, NotifyTemplates], Notifier]  # (config, external URL, templates) -> the integration


INTEGRATIONS: tuple[Registration[Any], ...] = (
    Registration("slack", lambda r: r.slack_configs, lambda c, url, t: SlackSender(c, external_url=url, templates=t)),
    Registration(
        "pagerduty", lambda r: r.pagerduty_configs, lambda c, url, t: PagerdutySender(c, external_url=url, templates=t)
    ),
    Registration("webhook", lambda r: r.webhook_configs, lambda c, url, t: WebhookSender(c, external_url=url)),
    Registration("email", lambda r: r.email_configs, lambda c, url, t: EmailSender(c, external_url=url, templates=t)),
    Registration(
        "opsgenie", lambda r: r.opsgenie_configs, lambda c, url, t: OpsgenieSender(c, external_url=url, templates=t)
    ),
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
