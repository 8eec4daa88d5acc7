"""The Slack sender: Alertmanager's attachment message from templated fields, and Slack's answers."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from agent.config.receivers import SlackAction, SlackConfig, SlackField
from agent.config.schema import Secret
from agent.notify.integrations.slack.slack import SlackSender
from agent.notify.model import Notification, Outcome, Result
from tests.notify.test_notify_http import firing, notification, resolved
from tests.receiver import Receiver, Reply

EXTERNAL_URL = "http://agent.example:9842"


def send(config: SlackConfig, note: Notification) -> Result:
    async def scenario() -> Result:
        sender = SlackSender(config, external_url=EXTERNAL_URL)
        try:
            return await sender.send(note)
        finally:
            await sender.aclose()

    return asyncio.run(scenario())


def slack(server: Receiver, **options: Any) -> SlackConfig:
    return replace(SlackConfig(api_url=Secret(f"{server.url}/services/T000/B000/XXXX")), **options)


def test_message_is_alertmanagers_default_attachment(receiver: Receiver) -> None:
    send(slack(receiver), notification(firing(instance="db1", severity="critical")))
    title = "[FIRING:1] DiskFull (db1 critical)"
    link = f"{EXTERNAL_URL}/#/alerts?receiver=team"
    assert {
        "username": "Alertmanager",
        "attachments": [
            {
                "title": title,
                "title_link": link,
                "text": "",
                "fallback": f"{title} | {link}",
                "callback_id": "",
                "footer": "",
                "color": "danger",
                "mrkdwn_in": ["fallback", "pretext", "text"],
            }
        ],
    } == receiver.requests[0].json()


def test_grouped_alerts_share_one_message(receiver: Receiver) -> None:
    send(slack(receiver), notification(firing(instance="a"), firing(instance="b"), firing(instance="c")))
    body = receiver.requests[0].json()
    assert (1, "[FIRING:3] DiskFull ") == (len(receiver.requests), body["attachments"][0]["title"])


def test_resolved_alerts_are_not_sent_by_default(receiver: Receiver) -> None:
    result = send(slack(receiver), notification(resolved(firing())))
    assert (Outcome.DELIVERED, 0) == (result.outcome, len(receiver.requests))


def test_resolved_message_when_send_resolved_is_true(receiver: Receiver) -> None:
    send(slack(receiver, send_resolved=True), notification(resolved(firing())))
    attachment = receiver.requests[0].json()["attachments"][0]
    assert ("[RESOLVED] DiskFull ", "good") == (attachment["title"], attachment["color"])


def test_text_fields_and_actions_are_templates(receiver: Receiver) -> None:
    config = slack(
        receiver,
        text="{{ range .Alerts.Firing }}{{ .Labels.instance }}: {{ .Annotations.summary }}\n{{ end }}",
        fields=[SlackField("Severity", "{{ .CommonLabels.severity | toUpper }}", short=True)],
        actions=[SlackAction(type="button", text="Runbook", url="{{ .CommonAnnotations.runbook }}")],
    )
    alert = replace(firing(instance="db1", severity="warning"), annotations=(("runbook", "http://rb"),))
    send(config, notification(alert))
    attachment = receiver.requests[0].json()["attachments"][0]
    assert (
        "db1: \n",
        [{"title": "Severity", "value": "WARNING", "short": True}],
        [{"type": "button", "text": "Runbook", "url": "http://rb"}],
    ) == (attachment["text"], attachment["fields"], attachment["actions"])


def test_a_template_that_fails_gives_up_without_sending(receiver: Receiver) -> None:
    result = send(slack(receiver, title='{{ template "nope" . }}'), notification())
    named = 'no such template "nope"' in result.reason
    assert (Outcome.GIVE_UP, [], True) == (result.outcome, receiver.requests, named)


def test_channel_and_username_are_passed_when_set(receiver: Receiver) -> None:
    send(slack(receiver, channel="#ops", username="tripwired"), notification())
    body = receiver.requests[0].json()
    assert ("#ops", "tripwired") == (body["channel"], body["username"])


def test_ok_answer_is_delivered(receiver: Receiver) -> None:
    assert Outcome.DELIVERED == send(slack(receiver), notification()).outcome


def test_an_error_text_with_status_200_gives_up(receiver: Receiver) -> None:
    receiver.script.append(Reply(200, "invalid_blocks"))
    result = send(slack(receiver), notification())
    assert (Outcome.GIVE_UP, "error response from Slack: invalid_blocks") == (result.outcome, result.reason)


def test_a_json_error_with_status_200_gives_up(receiver: Receiver) -> None:
    receiver.script.append(
        Reply(200, '{"ok": false, "error": "channel_not_found"}', {"Content-Type": "application/json"})
    )
    assert Outcome.GIVE_UP == send(slack(receiver), notification()).outcome


def test_rate_limited_is_retried_after_retry_after(receiver: Receiver) -> None:
    receiver.script.append(Reply(429, "rate_limited", {"Retry-After": "30"}))
    result = send(slack(receiver), notification())
    assert (Outcome.RETRY, 30.0) == (result.outcome, result.retry_after)


def test_no_such_webhook_gives_up(receiver: Receiver) -> None:
    receiver.script.append(Reply(404, "no_service"))
    assert Outcome.GIVE_UP == send(slack(receiver), notification()).outcome
