"""Redaction: the one function, and the shared check that no sender leaks a secret anywhere."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from agent.clock import FakeClock
from agent.config.receivers import (
    AlertmanagerTargetConfig,
    BasicAuth,
    HttpClientConfig,
    OpsgenieConfig,
    PagerdutyConfig,
    SlackConfig,
    WebhookConfig,
)
from agent.config.schema import Duration, Secret
from agent.notify.alertmanager import AlertmanagerForwarder
from agent.notify.integrations.opsgenie.opsgenie import OpsgenieSender
from agent.notify.integrations.pagerduty.pagerduty import PagerdutySender
from agent.notify.integrations.slack.slack import SlackSender
from agent.notify.integrations.webhook import WebhookSender
from agent.notify.model import Result
from agent.redact import redact, secret_values
from tests.conftest import free_port
from tests.notify.test_notify_http import firing, notification
from tests.receiver import ECHO, Receiver, Reply

SLACK_PATH = "/services/T0SECRET/B0SECRET/XXXXSLACKTOKEN"
WEBHOOK_TOKEN = "wh-t0ken-abcdef"
ROUTING_KEY = "R0UT1NGKEYSECRET0001"
BEARER = "bearer-s3cret-xyz"
PASSWORD = "pa55w0rd-s3cret"
HMAC_KEY = "hmac-s3cret-key"
OPSGENIE_KEY = "0PSGENIEKEYSECRET01"
SECRETS = (
    SLACK_PATH,
    "T0SECRET",
    "XXXXSLACKTOKEN",
    WEBHOOK_TOKEN,
    ROUTING_KEY,
    BEARER,
    PASSWORD,
    HMAC_KEY,
    OPSGENIE_KEY,
)


def test_url_path_query_and_userinfo_are_removed() -> None:
    text = "POST https://user:pw@hooks.slack.com/services/T0/B0/XX?token=abc failed"
    assert "POST https://hooks.slack.com/<redacted> failed" == redact(text)


def test_a_url_without_path_keeps_its_host() -> None:
    assert "connect to http://127.0.0.1:9093 refused" == redact("connect to http://127.0.0.1:9093 refused")


def test_secret_values_are_removed_wherever_they_appear() -> None:
    assert "key <redacted> rejected" == redact("key R0UT1NG rejected", ["R0UT1NG"])


def test_url_quoted_secrets_are_removed() -> None:
    assert "p=<redacted>" == redact("p=a%2Fb%3Dc", secret_values(BasicAuth("u", Secret("a/b=c"))))


def test_secret_values_finds_secrets_in_nested_config() -> None:
    config = WebhookConfig(url=Secret("http://h/x"), http_config=HttpClientConfig(bearer_token=Secret("tok")))
    assert {"http://h/x", "tok", "/x"} <= set(secret_values(config))


def test_secrets_do_not_show_in_reprs() -> None:
    assert ROUTING_KEY not in repr(PagerdutyConfig(routing_key=Secret(ROUTING_KEY)))


# -- the shared leak check: every sender, every way of failing ---------------------------------


def auth() -> HttpClientConfig:
    return HttpClientConfig(
        bearer_token=Secret(BEARER), basic_auth=BasicAuth("ops", Secret(PASSWORD)), timeout=Duration(0.3)
    )


def slack_sender(url: str) -> SlackSender:
    return SlackSender(SlackConfig(api_url=Secret(url + SLACK_PATH), http_config=auth()), external_url="http://a")


def webhook_sender(url: str) -> WebhookSender:
    config = WebhookConfig(
        url=Secret(f"{url}/hook/{WEBHOOK_TOKEN}?token={WEBHOOK_TOKEN}"),
        hmac_secret=Secret(HMAC_KEY),
        http_config=auth(),
    )
    return WebhookSender(config, external_url="http://a")


def pagerduty_sender(url: str) -> PagerdutySender:
    config = PagerdutyConfig(routing_key=Secret(ROUTING_KEY), url=f"{url}/v2/enqueue", http_config=auth())
    return PagerdutySender(config, external_url="http://a")


def opsgenie_sender(url: str) -> OpsgenieSender:
    config = OpsgenieConfig(api_key=Secret(OPSGENIE_KEY), api_url=Secret(f"{url}/"), http_config=auth())
    return OpsgenieSender(config, external_url="http://a")


SENDERS: dict[str, Callable[[str], Any]] = {
    "slack": slack_sender,
    "webhook": webhook_sender,
    "pagerduty": pagerduty_sender,
    "opsgenie": opsgenie_sender,
}
FAILURES = {
    "500 echoing the request": Reply(500, ECHO),
    "400 echoing the request": Reply(400, ECHO),
    "200 with an error echoing the request": Reply(200, ECHO),
    "hang past the timeout": Reply(delay=1.0),
}


def assert_no_secret(*texts: str) -> None:
    leaked = [s for s in SECRETS for text in texts if s in text]
    assert [] == leaked


@pytest.fixture
def echo() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def attempt(sender: Any) -> tuple[str, str]:
    """Send once; what the sender said: its result (or exception) and every log event."""

    async def scenario() -> Result:
        try:
            result: Result = await sender.send(notification(firing()))
            return result
        finally:
            await sender.aclose()

    with capture_logs() as logs:
        try:
            said = repr(asyncio.run(scenario()))
        except Exception as exc:  # an exception is a finding too: its text must be clean
            said = f"{type(exc).__name__}: {exc}"
    return said, repr(logs)


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("kind", SENDERS)
def test_no_secret_leaks_from_a_failing_sender(kind: str, failure: str, echo: Receiver) -> None:
    echo.script.append(FAILURES[failure])
    said, logs = attempt(SENDERS[kind](echo.url))
    assert_no_secret(said, logs)


@pytest.mark.parametrize("kind", SENDERS)
def test_no_secret_leaks_when_the_connection_is_refused(kind: str) -> None:
    said, logs = attempt(SENDERS[kind](f"http://127.0.0.1:{free_port()}"))
    assert_no_secret(said, logs)


@pytest.mark.parametrize("failure", ["500 echoing the request", "hang past the timeout"])
def test_no_secret_leaks_from_the_alertmanager_forwarder(failure: str, echo: Receiver) -> None:
    echo.script.append(FAILURES[failure])
    target = AlertmanagerTargetConfig(
        url=f"http://ops:{PASSWORD}@127.0.0.1:{echo.port}/am/{WEBHOOK_TOKEN}", timeout=Duration(0.3), http_config=auth()
    )
    forwarder = AlertmanagerForwarder([target], FakeClock())

    async def scenario() -> None:
        await forwarder.send_batch([firing()])
        await forwarder.aclose()

    with capture_logs() as logs:
        asyncio.run(scenario())
    assert_no_secret(repr(logs), repr(forwarder.samples()))
