"""The test notification of `tripwired notify test`: a clearly marked alert sent straight to a receiver."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from agent.model import Alert, AlertState, fingerprint, labels_of
from agent.notify.integrations.data import go_time
from agent.notify.integrations.protocol import Notifier
from agent.notify.model import Notification, Result

TEST_ALERTNAME = "TripwiredTestNotification"
TEST_VALID_SECONDS = 300.0


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


async def send_test(integrations: Sequence[tuple[str, Notifier]], notification: Notification) -> dict[str, Result]:
    """Send one notification to every integration directly (no outbox, no retries): name -> result."""
    results = await asyncio.gather(*(sender.send(notification) for _, sender in integrations))
    return {name: result for (name, _), result in zip(integrations, results, strict=True)}
