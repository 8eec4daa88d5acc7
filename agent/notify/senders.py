"""Builds the senders of every receiver from the config, and the test notification of `notify test`."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from agent.config.receivers import ReceiverConfig
from agent.model import Alert, AlertState, fingerprint, labels_of
from agent.notify.email import EmailSender
from agent.notify.model import Notification, Result, Sender
from agent.notify.opsgenie import OpsgenieSender
from agent.notify.pagerduty import PagerdutySender
from agent.notify.slack import SlackSender
from agent.notify.template import DEFAULT_TEMPLATES, NotifyTemplates
from agent.notify.webhook import WebhookSender, go_time

TEST_ALERTNAME = "TripwiredTestNotification"
TEST_VALID_SECONDS = 300.0

Integrations = dict[str, list[tuple[str, Sender]]]


def integration_configs(receiver: ReceiverConfig) -> list[tuple[str, Sequence[object]]]:
    """(kind, configs) for every integration kind of a receiver, in the order senders are built."""
    return [
        ("slack", receiver.slack_configs),
        ("pagerduty", receiver.pagerduty_configs),
        ("webhook", receiver.webhook_configs),
        ("email", receiver.email_configs),
        ("opsgenie", receiver.opsgenie_configs),
    ]


def build_senders(
    receivers: Sequence[ReceiverConfig], *, external_url: str, templates: NotifyTemplates = DEFAULT_TEMPLATES
) -> Integrations:
    """Receiver name -> its integrations, each named by kind and position (`slack/0`, `webhook/1`)."""
    out: Integrations = {}
    for receiver in receivers:
        integrations: list[tuple[str, Sender]] = []
        integrations.extend(
            (f"slack/{i}", SlackSender(c, external_url=external_url, templates=templates))
            for i, c in enumerate(receiver.slack_configs)
        )
        integrations.extend(
            (f"pagerduty/{i}", PagerdutySender(c, external_url=external_url, templates=templates))
            for i, c in enumerate(receiver.pagerduty_configs)
        )
        integrations.extend(
            (f"webhook/{i}", WebhookSender(c, external_url=external_url))
            for i, c in enumerate(receiver.webhook_configs)
        )
        integrations.extend(
            (f"email/{i}", EmailSender(c, external_url=external_url, templates=templates))
            for i, c in enumerate(receiver.email_configs)
        )
        integrations.extend(
            (f"opsgenie/{i}", OpsgenieSender(c, external_url=external_url, templates=templates))
            for i, c in enumerate(receiver.opsgenie_configs)
        )
        out[receiver.name] = integrations
    return out


async def close_senders(integrations: Mapping[str, Sequence[tuple[str, Sender]]]) -> None:
    """Close the HTTP clients of every sender that has one."""
    for senders in integrations.values():
        for _, sender in senders:
            close = getattr(sender, "aclose", None)
            if close is not None:
                await close()


def test_notification(receiver: str, now: float) -> Notification:
    """A clearly marked firing test alert for `receiver` (`tripwired notify test --receiver NAME`).

    The label `test_sent_at` makes every test its own notification, so the outbox and receivers
    never drop a second test as a duplicate of the first.
    """
    labels = labels_of(alertname=TEST_ALERTNAME, severity="info", test_sent_at=go_time(now))
    annotations = labels_of(
        summary="Test notification from tripwired: if you can read this, this receiver works.",
        description=f"Sent by `tripwired notify test --receiver {receiver}`. No action is needed.",
    )
    alert = Alert(
        labels=labels,
        annotations=annotations,
        state=AlertState.FIRING,
        value=1.0,
        active_at=now,
        starts_at=now,
        ends_at=now + TEST_VALID_SECONDS,
        resolved_at=None,
        generator_url="",
        rule=f"tripwired;test;{TEST_ALERTNAME}",
        fingerprint=fingerprint(labels),
    )
    group_labels = labels_of(alertname=TEST_ALERTNAME)
    return Notification(
        receiver=receiver,
        group_key=f'{{}}:{{alertname="{TEST_ALERTNAME}"}}',
        group_labels=group_labels,
        alerts=(alert,),
        created_at=now,
    )


async def send_test(integrations: Sequence[tuple[str, Sender]], notification: Notification) -> dict[str, Result]:
    """Send one notification to every integration directly (no outbox, no retries): name -> result."""
    results = await asyncio.gather(*(sender.send(notification) for _, sender in integrations))
    return {name: result for (name, _), result in zip(integrations, results, strict=True)}
