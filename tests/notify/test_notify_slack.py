"""The Slack sender: Block Kit message with a text fallback, Slack's answers and limits."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from agent.config.receivers import SlackConfig
from agent.config.schema import Secret
from agent.notify.integrations.slack.slack import MAX_ALERT_SECTIONS, SlackSender
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


def test_message_has_blocks_and_a_text_fallback(receiver: Receiver) -> None:
    send(slack(receiver), notification(firing(instance="db1", severity="critical")))
    assert {
        "text": "[FIRING:1] DiskFull\nDiskFull on db1",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "[FIRING:1] DiskFull"}},
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": (
                        ":red_circle: *DiskFull* (firing, severity: critical)\n"
                        "DiskFull on db1\n"
                        "`instance=db1` `severity=critical`\n"
                        "<http://agent.example:9842/graph?g0.expr=up&amp;g0.tab=1|Source>"
                    ),
                },
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "<http://agent.example:9842|tripwired>"}]},
        ],
    } == receiver.requests[0].json()


def test_grouped_alerts_share_one_message(receiver: Receiver) -> None:
    send(slack(receiver), notification(firing(instance="a"), firing(instance="b"), firing(instance="c")))
    body = receiver.requests[0].json()
    assert (1, "[FIRING:3] DiskFull", 5) == (
        len(receiver.requests),
        body["blocks"][0]["text"]["text"],
        len(body["blocks"]),
    )


def test_a_big_group_is_cut_with_a_count_of_the_rest(receiver: Receiver) -> None:
    send(slack(receiver), notification(*(firing(instance=f"h{i}") for i in range(MAX_ALERT_SECTIONS + 7))))
    blocks = receiver.requests[0].json()["blocks"]
    assert (MAX_ALERT_SECTIONS + 3, "…and 7 more alerts") == (len(blocks), blocks[-2]["text"]["text"])


def test_resolved_alerts_are_not_sent_by_default(receiver: Receiver) -> None:
    result = send(slack(receiver), notification(resolved(firing())))
    assert (Outcome.DELIVERED, 0) == (result.outcome, len(receiver.requests))


def test_resolved_message_when_send_resolved_is_true(receiver: Receiver) -> None:
    send(slack(receiver, send_resolved=True), notification(resolved(firing())))
    assert "[RESOLVED:1] DiskFull" == receiver.requests[0].json()["text"].splitlines()[0]


def test_markup_in_a_summary_is_escaped(receiver: Receiver) -> None:
    alert = firing()
    alert = replace(alert, annotations=(("summary", "<!channel> & co"),))
    send(slack(receiver), notification(alert))
    section = receiver.requests[0].json()["blocks"][1]["text"]["text"]
    assert "&lt;!channel&gt; &amp; co" == section.splitlines()[1]


def test_markup_in_the_fallback_text_and_group_labels_is_escaped(receiver: Receiver) -> None:
    alert = replace(firing(team="<b&q>"), annotations=(("summary", "<!channel> & co"),))
    note = replace(notification(alert), group_labels=(("team", "<b&q>"),))
    send(slack(receiver), note)
    message = receiver.requests[0].json()
    assert ["[FIRING:1] &lt;b&amp;q&gt;", "&lt;!channel&gt; &amp; co"] == message["text"].splitlines()
    assert "`team=&lt;b&amp;q&gt;`" in message["blocks"][1]["text"]["text"]
    assert "<http://agent.example:9842/graph?g0.expr=up&amp;g0.tab=1|Source>" in message["blocks"][1]["text"]["text"]


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
