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
from agent.notify.integrations.pagerduty import PagerdutySender
from agent.notify.integrations.protocol import Notifier
from agent.notify.integrations.slack import SlackSender
from agent.notify.integrations.webhook import WebhookSender

Integrations = dict[str, list[tuple[str, Notifier]]]
"""Receiver name -> its integrations, each named by kind and position (`slack/0`, `webhook/1`)."""

C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class Registration(Generic[C]):
    """One kind of integration: its name, its configs in a receiver and how one is built."""

    kind: str
    configs: Callable[[ReceiverConfig], Sequence[C]]
    build: Callable[[C, str], Notifier]  # (config, external URL) -> the integration


INTEGRATIONS: tuple[Registration[Any], ...] = (
    Registration("slack", lambda r: r.slack_configs, lambda c, url: SlackSender(c, external_url=url)),
    Registration("pagerduty", lambda r: r.pagerduty_configs, lambda c, url: PagerdutySender(c, external_url=url)),
    Registration("webhook", lambda r: r.webhook_configs, lambda c, url: WebhookSender(c, external_url=url)),
)


def build_senders(receivers: Sequence[ReceiverConfig], *, external_url: str) -> Integrations:
    """Every receiver's integrations, in the order of `INTEGRATIONS`, then of the receiver's configs."""
    return {receiver.name: _integrations(receiver, external_url) for receiver in receivers}


def _integrations(receiver: ReceiverConfig, external_url: str) -> list[tuple[str, Notifier]]:
    return [
        (f"{registration.kind}/{i}", registration.build(config, external_url))
        for registration in INTEGRATIONS
        for i, config in enumerate(registration.configs(receiver))
    ]


async def close_senders(integrations: Mapping[str, Sequence[tuple[str, Notifier]]]) -> None:
    """Close every integration (their HTTP clients): at reload for the replaced ones, at shutdown."""
    for senders in integrations.values():
        for _, sender in senders:
            await sender.aclose()
