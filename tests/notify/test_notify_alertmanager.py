"""Forwarding to Alertmanager: the postable-alert payload, every target, Prometheus' cadence."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import pytest

from agent.clock import FakeClock
from agent.config.receivers import AlertmanagerTargetConfig
from agent.config.remote_write import RelabelAction, RelabelConfig
from agent.config.schema import Duration
from agent.model import Alert, AlertState, fingerprint, labels_of
from agent.notify.alertmanager import RESEND_SECONDS, RESOLVED_RETENTION_SECONDS, AlertmanagerForwarder
from tests.conftest import free_port
from tests.notify.test_notify_http import NOW, firing, resolved
from tests.receiver import Receiver, Reply

TICK = 0.02  # how soon the forwarder notices a stop
GENERATOR_URL = "http://agent.example:9842/graph?g0.expr=up&g0.tab=1"


@pytest.fixture
def second() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def target(server: Receiver | str) -> AlertmanagerTargetConfig:
    url = server.url if isinstance(server, Receiver) else server
    return AlertmanagerTargetConfig(url=url, timeout=Duration(0.5))


def forward(forwarder: AlertmanagerForwarder, *batches: list[Alert], seconds: float = 0.2) -> None:
    """Add each batch of alerts in turn, letting the forwarder run briefly after each; then close it."""

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(forwarder.run(stop))
        for alerts in batches:
            forwarder.add(alerts)
            await asyncio.sleep(seconds)
        stop.set()
        await task
        await forwarder.aclose()

    asyncio.run(scenario())


def test_alerts_are_posted_as_api_v2_postable_alerts(receiver: Receiver) -> None:
    forward(AlertmanagerForwarder([target(receiver)], FakeClock(NOW), tick_seconds=TICK), [firing(instance="db1")])
    request = receiver.requests[0]
    assert (
        "/api/v2/alerts",
        [
            {
                "labels": {"alertname": "DiskFull", "instance": "db1"},
                "annotations": {"summary": "DiskFull on db1"},
                "startsAt": "2023-11-14T22:13:20Z",
                "endsAt": "2023-11-14T22:17:20Z",
                "generatorURL": GENERATOR_URL,
            }
        ],
    ) == (request.path, request.json())


def test_a_resolved_alert_carries_its_resolution_time_as_ends_at(receiver: Receiver) -> None:
    forward(AlertmanagerForwarder([target(receiver)], FakeClock(NOW + 300), tick_seconds=TICK), [resolved(firing())])
    assert "2023-11-14T22:18:20Z" == receiver.requests[0].json()[0]["endsAt"]


def test_every_target_receives_every_alert(receiver: Receiver, second: Receiver) -> None:
    forward(AlertmanagerForwarder([target(receiver), target(second)], FakeClock(NOW), tick_seconds=TICK), [firing()])
    assert (1, 1) == (len(receiver.requests), len(second.requests))


def test_a_target_that_is_down_does_not_stop_the_others(receiver: Receiver) -> None:
    targets = [target(f"http://127.0.0.1:{free_port()}"), target(receiver)]
    forwarder = AlertmanagerForwarder(targets, FakeClock(NOW), tick_seconds=TICK)
    forward(forwarder, [firing()])
    assert 1 == len(receiver.requests)


def test_a_path_prefix_in_the_url_is_kept(receiver: Receiver) -> None:
    forward(AlertmanagerForwarder([target(f"{receiver.url}/am/")], FakeClock(NOW), tick_seconds=TICK), [firing()])
    assert "/am/api/v2/alerts" == receiver.requests[0].path


def test_pending_alerts_are_not_sent(receiver: Receiver) -> None:
    pending = replace(firing(), state=AlertState.PENDING)
    forward(AlertmanagerForwarder([target(receiver)], FakeClock(NOW), tick_seconds=TICK), [pending])
    assert [] == receiver.requests


def test_a_new_alert_is_due_at_once_and_not_again_within_the_resend_delay() -> None:
    clock = FakeClock(NOW)
    forwarder = AlertmanagerForwarder([], clock)
    forwarder.add([firing()])
    queued = forwarder.next_batch()
    clock.advance(RESEND_SECONDS - 1)
    assert (1, []) == (len(queued), forwarder.due())


def test_a_firing_alert_is_re_sent_every_minute() -> None:
    clock = FakeClock(NOW)
    forwarder = AlertmanagerForwarder([], clock)
    forwarder.add([firing()])
    forwarder.next_batch()
    clock.advance(RESEND_SECONDS)
    assert 1 == len(forwarder.due())


def test_the_same_alert_again_is_not_posted_at_once_but_its_fresher_ends_at_is_re_sent() -> None:
    clock = FakeClock(NOW)
    forwarder = AlertmanagerForwarder([], clock)
    alert = firing()
    forwarder.add([alert])
    forwarder.next_batch()
    fresher = replace(alert, ends_at=alert.ends_at + 60)
    forwarder.add([fresher])
    immediate = forwarder.next_batch()
    clock.advance(RESEND_SECONDS)
    assert ([], [fresher]) == (immediate, forwarder.due())


def test_a_state_change_is_posted_at_once() -> None:
    clock = FakeClock(NOW)
    forwarder = AlertmanagerForwarder([], clock)
    alert = firing()
    forwarder.add([alert])
    forwarder.next_batch()
    forwarder.add([resolved(alert)])
    assert [resolved(alert)] == forwarder.next_batch()


def test_a_resolved_alert_is_re_sent_and_forgotten_after_15_minutes() -> None:
    clock = FakeClock(NOW + 300)
    forwarder = AlertmanagerForwarder([], clock)
    forwarder.add([resolved(firing(), at=NOW + 300)])
    forwarder.next_batch()
    clock.advance(RESEND_SECONDS)
    resent = forwarder.due()
    clock.advance(RESOLVED_RETENTION_SECONDS)
    assert (1, []) == (len(resent), forwarder.due())


def test_a_firing_alert_no_longer_refreshed_is_forgotten_after_its_ends_at() -> None:
    clock = FakeClock(NOW)
    forwarder = AlertmanagerForwarder([], clock)
    forwarder.add([firing()])  # ends_at = NOW + 240
    forwarder.next_batch()
    clock.advance(300)
    assert [] == forwarder.due()


def test_a_full_queue_drops_the_oldest() -> None:
    forwarder = AlertmanagerForwarder([], FakeClock(NOW), queue_capacity=2)
    forwarder.add([firing(instance=str(i)) for i in range(3)])
    assert (["1", "2"], 1) == ([dict(a.labels)["instance"] for a in forwarder.next_batch()], forwarder.dropped)


def test_failures_and_successes_are_counted_per_target(receiver: Receiver) -> None:
    receiver.script.append(Reply(500, "down"))
    forwarder = AlertmanagerForwarder([target(receiver)], FakeClock(NOW), tick_seconds=TICK)
    forward(forwarder, [firing(instance="a")], [firing(instance="b")])
    values = {s.name: s.value for s in forwarder.samples() if s.labels}
    assert {"tripwired_alertmanager_alerts_sent_total": 1.0, "tripwired_alertmanager_errors_total": 1.0} == values


def test_emitted_samples_are_declared(receiver: Receiver) -> None:
    forwarder = AlertmanagerForwarder([target(receiver)], FakeClock(NOW), tick_seconds=TICK)
    assert {m.name for m in forwarder.metrics()} == {s.name for s in forwarder.samples()}


def test_alert_relabel_configs_drop_a_label_and_drop_alerts_before_they_are_sent() -> None:
    """An HA pair's `replica` label dropped, so both agents send Alertmanager the same alert; a `drop` step drops."""
    relabel = [
        RelabelConfig(regex="replica", action=RelabelAction.LABELDROP),
        RelabelConfig(source_labels=["instance"], regex="scratch-.*", action=RelabelAction.DROP),
    ]
    forwarder = AlertmanagerForwarder([], FakeClock(NOW), relabel=relabel)
    kept = firing(instance="db1", replica="a")
    forwarder.add([kept, firing(instance="scratch-1", replica="a")])

    [sent] = forwarder.next_batch()

    assert labels_of(alertname="DiskFull", instance="db1") == sent.labels
    assert fingerprint(sent.labels) == sent.fingerprint
    assert sent.fingerprint == firing(instance="db1").fingerprint != kept.fingerprint
    forwarder.add([resolved(kept)])
    assert [AlertState.INACTIVE] == [alert.state for alert in forwarder.next_batch()]  # tracked as the same alert
