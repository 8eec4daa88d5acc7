"""A real Alertmanager (Debian's prometheus-alertmanager) receives tripwired's alerts and passes them on.

tripwired posts to Alertmanager's /api/v2/alerts through AlertmanagerForwarder; Alertmanager routes
them (group_wait 0s) to a webhook receiver of ours. That also gives us Alertmanager's own webhook
payload to hold our version 4 payload against.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from agent.clock import SystemClock
from agent.config.receivers import AlertmanagerTargetConfig
from agent.config.schema import Duration
from agent.model import Alert
from agent.notify.alertmanager import AlertmanagerForwarder
from agent.notify.integrations.webhook.webhook import webhook_message
from tests.alertmanager_peer import running_alertmanager
from tests.notify.test_notify_http import firing, notification, resolved
from tests.receiver import Receiver

CONFIG = """
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {hook}/am-hook
"""


@dataclass
class Alertmanager:
    url: str
    hook: Receiver
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alertmanager]:
    tmp = tmp_path_factory.mktemp("alertmanager")
    hook = Receiver().start()
    try:
        with running_alertmanager(tmp, CONFIG.format(hook=hook.url)) as running:
            yield Alertmanager(running.url, hook, running.process)
    finally:
        hook.stop()


def forward_until(am: Alertmanager, alerts: list[Alert], arrived: Callable[[], bool], timeout: float = 15) -> None:
    """Hand alerts to a forwarder pointed at the Alertmanager; run it until the webhook has what we wait for."""
    forwarder = AlertmanagerForwarder(
        [AlertmanagerTargetConfig(url=am.url, timeout=Duration(5))], SystemClock(), tick_seconds=0.05
    )

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(forwarder.run(stop))
        forwarder.add(alerts)
        deadline = time.monotonic() + timeout
        while not arrived() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stop.set()
        await task
        await forwarder.aclose()

    asyncio.run(scenario())


def payloads_for(am: Alertmanager, alertname: str) -> list[dict[str, Any]]:
    return [r.json() for r in am.hook.requests if r.json()["commonLabels"].get("alertname") == alertname]


def now_alert(name: str, **labels: str) -> Alert:
    return firing(name, at=time.time(), **labels)


def test_a_forwarded_alert_reaches_the_webhook_with_its_labels(alertmanager: Alertmanager) -> None:
    alert = now_alert("TripwiredForwarded", instance="db1", severity="critical")
    forward_until(alertmanager, [alert], lambda: bool(payloads_for(alertmanager, "TripwiredForwarded")))
    received = payloads_for(alertmanager, "TripwiredForwarded")[0]["alerts"][0]
    assert ("firing", dict(alert.labels), dict(alert.annotations), alert.fingerprint) == (
        received["status"],
        received["labels"],
        received["annotations"],
        received["fingerprint"],
    )


def test_a_resolved_alert_is_resolved_in_alertmanager(alertmanager: Alertmanager) -> None:
    alert = now_alert("TripwiredResolved", instance="db2")
    forward_until(alertmanager, [alert], lambda: bool(payloads_for(alertmanager, "TripwiredResolved")))
    done = resolved(alert, at=time.time())
    forward_until(
        alertmanager,
        [done],
        lambda: any(p["status"] == "resolved" for p in payloads_for(alertmanager, "TripwiredResolved")),
    )
    assert "resolved" == payloads_for(alertmanager, "TripwiredResolved")[-1]["status"]


def test_our_webhook_payload_has_alertmanagers_fields(alertmanager: Alertmanager) -> None:
    alert = now_alert("TripwiredShape", instance="db3")
    forward_until(alertmanager, [alert], lambda: bool(payloads_for(alertmanager, "TripwiredShape")))
    theirs = payloads_for(alertmanager, "TripwiredShape")[0]
    ours = webhook_message(notification(alert), [alert], "http://agent")
    assert (sorted(theirs), sorted(theirs["alerts"][0]), theirs["version"], theirs["alerts"][0]["endsAt"]) == (
        sorted(ours),
        sorted(ours["alerts"][0]),
        ours["version"],
        ours["alerts"][0]["endsAt"],
    )
