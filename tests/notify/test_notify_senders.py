"""Receivers from config to senders, and the test notification of `tripwired notify test`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent.config.load import ConfigError, load_text
from agent.config.receivers import (
    PAGERDUTY_EVENTS_URL,
    AlertmanagerTargetConfig,
    BasicAuth,
    HttpClientConfig,
    PagerdutyConfig,
    ReceiverConfig,
    SlackConfig,
    WebhookConfig,
    receiver_errors,
)
from agent.config.schema import Duration, Secret
from agent.model import AlertState, fingerprint
from agent.notify import probe  # not `import test_notification`: pytest would collect it as a test
from agent.notify.integrations.pagerduty.pagerduty import PagerdutySender
from agent.notify.integrations.registry import build_senders, close_senders
from agent.notify.integrations.slack.slack import SlackSender
from agent.notify.integrations.webhook.webhook import WebhookSender
from agent.notify.model import Outcome
from agent.notify.probe import TEST_ALERTNAME, send_test
from tests.notify.test_notify_http import NOW
from tests.receiver import Receiver

CONFIG = """
name: team
slack_configs:
  - api_url_file: slack-url
pagerduty_configs:
  - routing_key: ${env:TEST_PD_KEY}
    severity: warning
    class: lag
webhook_configs:
  - url: http://127.0.0.1:1/a
  - url: http://127.0.0.1:1/b
    max_alerts: 5
    hmac_secret_file: hmac
    http_config:
      timeout: 2s
      tls_config: {insecure_skip_verify: true}
      basic_auth: {username: ops, password: pw}
"""


@pytest.fixture
def team(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ReceiverConfig:
    (tmp_path / "slack-url").write_text("https://hooks.slack.com/services/T/B/X\n")
    (tmp_path / "hmac").write_text("shared\n")
    monkeypatch.setenv("TEST_PD_KEY", "pdkey")
    return load_text(ReceiverConfig, CONFIG, str(tmp_path / "tripwired.yaml"))


def test_alertmanager_shaped_receivers_load(team: ReceiverConfig) -> None:
    hook = team.webhook_configs[1]
    auth = hook.http_config.basic_auth
    assert ("https://hooks.slack.com/services/T/B/X", "pdkey", "lag", 5, "shared", 2.0, True, "pw") == (
        team.slack_configs[0].api_url,
        team.pagerduty_configs[0].routing_key,
        team.pagerduty_configs[0].class_,
        hook.max_alerts,
        hook.hmac_secret,
        hook.http_config.timeout,
        hook.http_config.tls_config.insecure_skip_verify,
        auth and auth.password,
    )


def test_secrets_load_as_secrets(team: ReceiverConfig) -> None:
    assert (Secret, Secret) == (type(team.slack_configs[0].api_url), type(team.pagerduty_configs[0].routing_key))


def test_defaults_follow_alertmanager() -> None:
    assert (False, True, True, PAGERDUTY_EVENTS_URL, False, 0) == (
        SlackConfig().send_resolved,
        PagerdutyConfig().send_resolved,
        WebhookConfig().send_resolved,
        PagerdutyConfig().url,
        WebhookConfig().http_config.tls_config.insecure_skip_verify,
        WebhookConfig().max_alerts,
    )


def test_unknown_keys_are_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown field 'channnel'"):
        load_text(ReceiverConfig, "name: x\nslack_configs: [{api_url: http://h/x, channnel: '#a'}]")


def test_a_missing_url_is_reported() -> None:
    receivers = [
        ReceiverConfig("a", slack_configs=[SlackConfig()], webhook_configs=[WebhookConfig()]),
        ReceiverConfig("a", pagerduty_configs=[PagerdutyConfig()]),
    ]
    assert [
        "receivers[0].slack_configs[0]: api_url or api_url_file is required",
        "receivers[0].webhook_configs[0]: url or url_file is required",
        "receivers[1].name: receiver 'a' is defined twice",
        "receivers[1].pagerduty_configs[0]: routing_key or routing_key_file is required",
    ] == receiver_errors(receivers)


def test_two_ways_of_authenticating_are_refused() -> None:
    http_config = HttpClientConfig(bearer_token=Secret("t"), basic_auth=BasicAuth("u", Secret("p")))
    hook = WebhookConfig(url=Secret("http://h/x"), http_config=http_config)
    receivers = [ReceiverConfig("a", webhook_configs=[hook])]
    assert [
        "receivers[0].webhook_configs[0].http_config: at most one of authorization, bearer_token and basic_auth"
        " may be set"
    ] == receiver_errors(receivers)


def test_webhook_timeout_wins_over_the_http_config_timeout() -> None:
    sender = WebhookSender(WebhookConfig(url=Secret("http://h/x"), timeout=Duration(3)), external_url="http://a")
    timeout = sender.client.timeout.read
    asyncio.run(sender.aclose())
    assert 3.0 == timeout


def test_an_alertmanager_url_must_be_http() -> None:
    assert ["alertmanagers[0].url: must start with http:// or https://"] == receiver_errors(
        [], [AlertmanagerTargetConfig(url="am:9093")]
    )


def test_every_integration_gets_a_sender_with_a_stable_name(team: ReceiverConfig) -> None:
    built = build_senders([team, ReceiverConfig("blackhole")], external_url="http://agent")
    kinds = [(name, type(sender)) for name, sender in built["team"]]
    asyncio.run(close_senders(built))
    assert (
        [
            ("slack/0", SlackSender),
            ("pagerduty/0", PagerdutySender),
            ("webhook/0", WebhookSender),
            ("webhook/1", WebhookSender),
        ],
        [],
    ) == (kinds, built["blackhole"])


def test_the_test_notification_is_a_clearly_marked_firing_alert() -> None:
    note = probe.test_notification("team", NOW)
    alert = note.alerts[0]
    assert ("team", TEST_ALERTNAME, AlertState.FIRING, fingerprint(alert.labels), True) == (
        note.receiver,
        alert.name,
        alert.state,
        alert.fingerprint,
        dict(alert.annotations)["summary"].startswith("Test notification from tripwired"),
    )


def test_two_test_notifications_are_not_duplicates() -> None:
    assert probe.test_notification("team", NOW).dedup_key != probe.test_notification("team", NOW + 1).dedup_key


def test_send_test_reaches_every_integration(receiver: Receiver) -> None:
    config = ReceiverConfig(
        "team",
        webhook_configs=[
            WebhookConfig(url=Secret(f"{receiver.url}/a")),
            WebhookConfig(url=Secret(f"{receiver.url}/b")),
        ],
    )
    built = build_senders([config], external_url="http://agent")

    async def scenario() -> dict[str, Outcome]:
        try:
            results = await send_test(built["team"], probe.test_notification("team", NOW))
        finally:
            await close_senders(built)
        return {name: result.outcome for name, result in results.items()}

    outcomes = asyncio.run(scenario())
    labels = [r.json()["alerts"][0]["labels"]["alertname"] for r in receiver.requests]
    assert ({"webhook/0": Outcome.DELIVERED, "webhook/1": Outcome.DELIVERED}, [TEST_ALERTNAME] * 2) == (
        outcomes,
        labels,
    )
