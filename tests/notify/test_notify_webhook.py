"""The webhook sender: Alertmanager's payload version 4, max_alerts, the HMAC signature."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from dataclasses import replace
from typing import Any

from agent.config.receivers import WebhookConfig
from agent.config.schema import Secret
from agent.notify.integrations.data import go_time
from agent.notify.integrations.webhook.webhook import DEDUP_HEADER, SIGNATURE_HEADER, WebhookSender
from agent.notify.model import Notification, Outcome, Result
from tests.notify.test_notify_http import firing, notification, resolved
from tests.receiver import Receiver, Reply

EXTERNAL_URL = "http://agent.example:9842"
GENERATOR_URL = "http://agent.example:9842/graph?g0.expr=up&g0.tab=1"


def send(config: WebhookConfig, note: Notification) -> Result:
    async def scenario() -> Result:
        sender = WebhookSender(config, external_url=EXTERNAL_URL)
        try:
            return await sender.send(note)
        finally:
            await sender.aclose()

    return asyncio.run(scenario())


def hook(server: Receiver, **options: Any) -> WebhookConfig:
    return replace(WebhookConfig(url=Secret(f"{server.url}/hook?token=s3cr3t")), **options)


def test_payload_is_alertmanager_webhook_version_4(receiver: Receiver) -> None:
    db1 = firing(instance="db1")
    db2 = resolved(firing(instance="db2"))
    send(hook(receiver), notification(db1, db2))
    assert {
        "version": "4",
        "groupKey": '{}:{alertname="DiskFull"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "team",
        "groupLabels": {"alertname": "DiskFull"},
        "commonLabels": {"alertname": "DiskFull"},
        "commonAnnotations": {},
        "externalURL": EXTERNAL_URL,
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "DiskFull", "instance": "db1"},
                "annotations": {"summary": "DiskFull on db1"},
                "startsAt": "2023-11-14T22:13:20Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": GENERATOR_URL,
                "fingerprint": db1.fingerprint,
            },
            {
                "status": "resolved",
                "labels": {"alertname": "DiskFull", "instance": "db2"},
                "annotations": {"summary": "DiskFull on db2"},
                "startsAt": "2023-11-14T22:13:20Z",
                "endsAt": "2023-11-14T22:18:20Z",
                "generatorURL": GENERATOR_URL,
                "fingerprint": db2.fingerprint,
            },
        ],
    } == receiver.requests[0].json()


def test_posts_to_the_configured_url_with_json(receiver: Receiver) -> None:
    send(hook(receiver), notification())
    request = receiver.requests[0]
    assert ("/hook?token=s3cr3t", "application/json") == (request.path, request.headers["Content-Type"])


def test_status_is_resolved_when_no_alert_fires(receiver: Receiver) -> None:
    send(hook(receiver), notification(resolved(firing())))
    assert "resolved" == receiver.requests[0].json()["status"]


def test_common_annotations_are_those_every_alert_shares(receiver: Receiver) -> None:
    send(hook(receiver), notification(firing(instance="a"), firing(instance="a", job="x")))
    body = receiver.requests[0].json()
    assert ({"summary": "DiskFull on a"}, {"alertname": "DiskFull", "instance": "a"}) == (
        body["commonAnnotations"],
        body["commonLabels"],
    )


def test_max_alerts_truncates_and_counts_the_rest(receiver: Receiver) -> None:
    alerts = [firing(instance=f"db{i}") for i in range(5)]
    send(hook(receiver, max_alerts=2), notification(*alerts))
    body = receiver.requests[0].json()
    assert (2, 3) == (len(body["alerts"]), body["truncatedAlerts"])


def test_resolved_alerts_are_sent_by_default(receiver: Receiver) -> None:
    send(hook(receiver), notification(resolved(firing())))
    assert 1 == len(receiver.requests)


def test_send_resolved_false_sends_nothing_for_a_resolved_group(receiver: Receiver) -> None:
    result = send(hook(receiver, send_resolved=False), notification(resolved(firing())))
    assert (Outcome.DELIVERED, 0) == (result.outcome, len(receiver.requests))


def test_send_resolved_false_leaves_resolved_alerts_out(receiver: Receiver) -> None:
    send(hook(receiver, send_resolved=False), notification(firing(instance="a"), resolved(firing(instance="b"))))
    alerts = receiver.requests[0].json()["alerts"]
    assert [{"alertname": "DiskFull", "instance": "a"}] == [a["labels"] for a in alerts]


def test_hmac_signature_verifies_with_the_shared_secret(receiver: Receiver) -> None:
    send(hook(receiver, hmac_secret=Secret("shared")), notification())
    request = receiver.requests[0]
    expected = "sha256=" + hmac.new(b"shared", request.body, hashlib.sha256).hexdigest()
    assert expected == request.headers[SIGNATURE_HEADER]


def test_no_signature_header_without_a_secret(receiver: Receiver) -> None:
    send(hook(receiver), notification())
    assert SIGNATURE_HEADER not in receiver.requests[0].headers


def test_dedup_key_header_lets_receivers_drop_redeliveries(receiver: Receiver) -> None:
    note = notification()
    send(hook(receiver), note)
    assert note.dedup_key == receiver.requests[0].headers[DEDUP_HEADER]


def test_a_400_gives_up(receiver: Receiver) -> None:
    receiver.script.append(Reply(400, "bad payload"))
    assert Outcome.GIVE_UP == send(hook(receiver), notification()).outcome


def test_receiver_name_is_quoted_as_alertmanager_does(receiver: Receiver) -> None:
    send(hook(receiver), notification(receiver="team.db+ops"))
    assert "team\\.db\\+ops" == receiver.requests[0].json()["receiver"]


def test_go_time_drops_trailing_zeros_of_the_fraction() -> None:
    assert ("2023-11-14T22:13:20.5Z", "2023-11-14T22:13:20Z") == (go_time(1_700_000_000.5), go_time(1_700_000_000.0))
