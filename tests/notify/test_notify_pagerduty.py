"""The PagerDuty sender: Events API v2 trigger and resolve, templated fields, size limits, answers."""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import replace
from typing import Any

from agent.config.receivers import PagerdutyConfig, PagerdutyLink
from agent.config.schema import Secret
from agent.notify.integrations.pagerduty.pagerduty import MAX_EVENT_BYTES, PagerdutySender
from agent.notify.model import Notification, Outcome, Result
from tests.notify.test_notify_http import firing, notification, resolved
from tests.receiver import Receiver, Reply

EXTERNAL_URL = "http://agent.example:9842"
GENERATOR_URL = "http://agent.example:9842/graph?g0.expr=up&g0.tab=1"
GROUP_KEY = '{}:{alertname="DiskFull"}'


def send(config: PagerdutyConfig, note: Notification) -> Result:
    async def scenario() -> Result:
        sender = PagerdutySender(config, external_url=EXTERNAL_URL)
        try:
            return await sender.send(note)
        finally:
            await sender.aclose()

    return asyncio.run(scenario())


def pagerduty(server: Receiver, **options: Any) -> PagerdutyConfig:
    config = PagerdutyConfig(routing_key=Secret("R0UT1NGKEY0123456789"), url=f"{server.url}/v2/enqueue")
    return replace(config, **options)


def test_trigger_event_is_alertmanagers_default_event(receiver: Receiver) -> None:
    receiver.script.append(Reply(202, '{"status":"success","message":"Event processed","dedup_key":"x"}'))
    send(pagerduty(receiver), notification(firing(instance="db1", severity="critical")))
    assert {
        "routing_key": "R0UT1NGKEY0123456789",
        "dedup_key": hashlib.sha256(GROUP_KEY.encode()).hexdigest(),
        "event_action": "trigger",
        "payload": {
            "summary": "[FIRING:1] DiskFull (db1 critical)",
            "source": "Alertmanager",
            "severity": "error",
            "custom_details": {
                "firing": "Labels:\n - alertname = DiskFull\n - instance = db1\n - severity = critical\n"
                "Annotations:\n - summary = DiskFull on db1\n"
                f"Source: {GENERATOR_URL}\n",
                "resolved": "",
                "num_firing": "1",
                "num_resolved": "0",
            },
        },
        "client": "Alertmanager",
        "client_url": f"{EXTERNAL_URL}/#/alerts?receiver=team",
    } == receiver.requests[0].json()


def test_posts_to_the_events_endpoint(receiver: Receiver) -> None:
    send(pagerduty(receiver), notification())
    assert "/v2/enqueue" == receiver.requests[0].path


def test_resolve_shares_the_trigger_dedup_key(receiver: Receiver) -> None:
    alert = firing()
    send(pagerduty(receiver), notification(alert))
    send(pagerduty(receiver), notification(resolved(alert)))
    trigger, resolve = (r.json() for r in receiver.requests)
    assert (("trigger", "resolve"), trigger["dedup_key"]) == (
        (trigger["event_action"], resolve["event_action"]),
        resolve["dedup_key"],
    )


def test_component_group_class_and_links_come_from_the_config(receiver: Receiver) -> None:
    config = pagerduty(
        receiver,
        component="kafka",
        group="ingest",
        class_="lag",
        links=[PagerdutyLink("https://runbooks.example/lag", "runbook")],
    )
    send(config, notification())
    body = receiver.requests[0].json()
    payload = body["payload"]
    assert ("kafka", "ingest", "lag", {"href": "https://runbooks.example/lag", "text": "runbook"}) == (
        payload["component"],
        payload["group"],
        payload["class"],
        body["links"][0],
    )


def test_configured_details_join_the_custom_details(receiver: Receiver) -> None:
    send(pagerduty(receiver, details={"team": "data"}), notification())
    assert "data" == receiver.requests[0].json()["payload"]["custom_details"]["team"]


def test_severity_is_a_template_over_the_labels(receiver: Receiver) -> None:
    send(pagerduty(receiver, severity="{{ .CommonLabels.severity }}"), notification(firing(severity="critical")))
    assert "critical" == receiver.requests[0].json()["payload"]["severity"]


def test_a_template_that_fails_gives_up_and_names_the_template(receiver: Receiver) -> None:
    result = send(pagerduty(receiver, description="{{ .Nope }}"), notification())
    assert (Outcome.GIVE_UP, [], True) == (result.outcome, receiver.requests, "{{ .Nope }}" in result.reason)


def test_summary_is_cut_to_1024_characters(receiver: Receiver) -> None:
    alert = replace(firing(), annotations=(("summary", "x" * 5000),))
    send(pagerduty(receiver, description="{{ .CommonAnnotations.summary }}"), notification(alert))
    summary = receiver.requests[0].json()["payload"]["summary"]
    assert (1024, "…") == (len(summary), summary[-1])


def test_an_event_over_512_kb_loses_its_custom_details(receiver: Receiver) -> None:
    send(pagerduty(receiver, details={"dump": "z" * 600_000}), notification())
    request = receiver.requests[0]
    details = request.json()["payload"]["custom_details"]
    assert (True, ["error"]) == (len(request.body) <= MAX_EVENT_BYTES, list(details))


def test_202_is_delivered(receiver: Receiver) -> None:
    receiver.script.append(Reply(202, "{}"))
    assert Outcome.DELIVERED == send(pagerduty(receiver), notification()).outcome


def test_400_is_final(receiver: Receiver) -> None:
    receiver.script.append(Reply(400, json.dumps({"status": "invalid event", "errors": ["routing_key invalid"]})))
    assert Outcome.GIVE_UP == send(pagerduty(receiver), notification()).outcome


def test_429_is_retried(receiver: Receiver) -> None:
    receiver.script.append(Reply(429, "{}"))
    assert Outcome.RETRY == send(pagerduty(receiver), notification()).outcome


def test_502_is_retried(receiver: Receiver) -> None:
    receiver.script.append(Reply(502, "bad gateway"))
    assert Outcome.RETRY == send(pagerduty(receiver), notification()).outcome


def test_resolved_groups_are_not_sent_when_send_resolved_is_false(receiver: Receiver) -> None:
    send(pagerduty(receiver, send_resolved=False), notification(resolved(firing())))
    assert [] == receiver.requests
