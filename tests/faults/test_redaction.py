"""Long secrets in the error bodies of receivers that fail: redacted before anything is cut short."""

from __future__ import annotations

import asyncio

from agent.config.receivers import HttpClientConfig, PagerdutyConfig, SlackConfig, WebhookConfig
from agent.config.schema import Secret
from agent.notify.integrations.pagerduty.pagerduty import PagerdutySender
from agent.notify.integrations.protocol import Notifier
from agent.notify.integrations.slack.slack import SlackSender
from agent.notify.integrations.webhook.webhook import WebhookSender
from agent.notify.model import Outcome, Result
from tests.notify.test_notify_http import firing, notification
from tests.receiver import Receiver, Reply

# 180 characters of padding put each secret across the 200-character excerpt of an error body.
PADDING = "e" * 180
SECRET = "S3cr3t" + "x" * 90 + "T0k3n"  # 101 characters


def failed_send(server: Receiver, sender: Notifier) -> Result:
    """One send to a receiver that answers 500 with padding then the secret it was sent, across the excerpt's end."""
    server.script.append(Reply(status=500, body=PADDING + SECRET))

    async def scenario() -> Result:
        try:
            return await sender.send(notification(firing()))
        finally:
            await sender.aclose()

    return asyncio.run(scenario())


def leaked_pieces(text: str) -> list[str]:
    """Every 6-character piece of the secret that the text still holds."""
    return [
        SECRET[i : i + 6] for i in range(len(SECRET) - 5) if SECRET[i : i + 6] in text and "x" * 6 != SECRET[i : i + 6]
    ]


def test_a_webhook_url_token_echoed_in_an_error_body_is_redacted_whole() -> None:
    """A webhook receiver answers 500 with the token it was sent: its URL holds a 101-character token.

    The retry's reason, which is logged, shows no part of the token.
    """
    server = Receiver().start()
    try:
        config = WebhookConfig(url=Secret(f"{server.url}/hook/{SECRET}"))
        result = failed_send(server, WebhookSender(config, external_url="http://agent"))
    finally:
        server.stop()
    assert (Outcome.RETRY, []) == (result.outcome, leaked_pieces(result.reason))


def test_a_bearer_token_echoed_in_an_error_body_is_redacted_whole() -> None:
    """A webhook receiver answers 500 with the 101-character bearer token it was sent.

    The retry's reason shows no part of the token.
    """
    server = Receiver().start()
    try:
        config = WebhookConfig(
            url=Secret(f"{server.url}/hook"), http_config=HttpClientConfig(bearer_token=Secret(SECRET))
        )
        result = failed_send(server, WebhookSender(config, external_url="http://agent"))
    finally:
        server.stop()
    assert (Outcome.RETRY, []) == (result.outcome, leaked_pieces(result.reason))


def test_a_slack_webhook_url_echoed_in_an_error_body_is_redacted_whole() -> None:
    """Slack answers 500 with the secret it was sent: the webhook URL's path is a 101-character secret.

    The retry's reason shows no part of it.
    """
    server = Receiver().start()
    try:
        config = SlackConfig(api_url=Secret(f"{server.url}/services/{SECRET}"))
        result = failed_send(server, SlackSender(config, external_url="http://agent"))
    finally:
        server.stop()
    assert (Outcome.RETRY, []) == (result.outcome, leaked_pieces(result.reason))


def test_a_pagerduty_routing_key_echoed_in_an_error_body_is_redacted_whole() -> None:
    """PagerDuty answers 500 with the routing key it was sent is a 101-character secret.

    The retry's reason shows no part of the key.
    """
    server = Receiver().start()
    try:
        config = PagerdutyConfig(routing_key=Secret(SECRET), url=f"{server.url}/v2/enqueue")
        result = failed_send(server, PagerdutySender(config, external_url="http://agent"))
    finally:
        server.stop()
    assert (Outcome.RETRY, []) == (result.outcome, leaked_pieces(result.reason))
