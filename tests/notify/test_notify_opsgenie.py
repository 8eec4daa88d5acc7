"""The Opsgenie sender: create while firing, close by alias when resolved, and Opsgenie's answers."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace
from typing import Any

from agent.config.receivers import OpsgenieConfig
from agent.config.schema import Secret
from agent.notify.integrations.opsgenie.opsgenie import OpsgenieSender
from agent.notify.model import Notification, Outcome, Result
from tests.notify.test_notify_http import firing, notification, resolved
from tests.receiver import Receiver, Reply

ALIAS = hashlib.sha256(b'{}:{alertname="DiskFull"}').hexdigest()


def send(config: OpsgenieConfig, note: Notification) -> Result:
    async def scenario() -> Result:
        sender = OpsgenieSender(config, external_url="http://agent.example:9842")
        try:
            return await sender.send(note)
        finally:
            await sender.aclose()

    return asyncio.run(scenario())


def opsgenie(server: Receiver, **options: Any) -> OpsgenieConfig:
    return replace(OpsgenieConfig(api_key=Secret("k3y"), api_url=Secret(f"{server.url}/")), **options)


def test_firing_creates_and_resolved_closes_the_same_alias(receiver: Receiver) -> None:
    alert = firing(instance="db1")
    send(opsgenie(receiver), notification(alert))
    send(opsgenie(receiver), notification(resolved(alert)))
    create, close = receiver.requests
    assert (
        ("POST", "/v2/alerts", ALIAS),
        ("POST", f"/v2/alerts/{ALIAS}/close?identifierType=alias"),
        "GenieKey k3y",
    ) == (
        (create.method, create.path, create.json()["alias"]),
        (close.method, close.path),
        close.headers["Authorization"],
    )


def test_update_alerts_also_updates_message_and_description(receiver: Receiver) -> None:
    send(opsgenie(receiver, update_alerts=True), notification(firing()))
    assert [
        ("POST", "/v2/alerts"),
        ("PUT", f"/v2/alerts/{ALIAS}/message?identifierType=alias"),
        ("PUT", f"/v2/alerts/{ALIAS}/description?identifierType=alias"),
    ] == [(r.method, r.path) for r in receiver.requests]


def test_resolved_groups_are_not_sent_when_send_resolved_is_false(receiver: Receiver) -> None:
    result = send(opsgenie(receiver, send_resolved=False), notification(resolved(firing())))
    assert (Outcome.DELIVERED, []) == (result.outcome, receiver.requests)


def test_a_refused_create_gives_up_and_sends_no_update(receiver: Receiver) -> None:
    receiver.script.append(Reply(422, '{"message": "Request body is not processable"}'))
    result = send(opsgenie(receiver, update_alerts=True), notification(firing()))
    assert (Outcome.GIVE_UP, 1) == (result.outcome, len(receiver.requests))


def test_rate_limited_is_retried(receiver: Receiver) -> None:
    receiver.script.append(Reply(429, "{}"))
    assert Outcome.RETRY == send(opsgenie(receiver), notification(firing())).outcome
