"""The HTTP layer of the senders, against real servers on loopback.

Also home of the helpers the other notify tests import: `firing` / `resolved` / `notification`
(the receiver they talk to is tests/receiver.py's).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.config.receivers import Authorization, BasicAuth, HttpClientConfig, TLSConfig
from agent.config.schema import Duration, Secret
from agent.model import Alert, AlertState, fingerprint, labels_of
from agent.notify.http import new_client, post, retry_after
from agent.notify.model import Notification, Outcome
from tests.conftest import free_port, self_signed
from tests.receiver import Receiver, Reply

NOW = 1_700_000_000.0


def firing(name: str = "DiskFull", *, at: float = NOW, **labels: str) -> Alert:
    """A firing alert as the ruler hands it over (ends_at is its valid-until)."""
    label_set = labels_of({"alertname": name, **labels})
    return Alert(
        labels=label_set,
        annotations=labels_of(summary=f"{name} on {labels.get('instance', 'host')}"),
        state=AlertState.FIRING,
        value=1.0,
        active_at=at - 60,
        starts_at=at,
        ends_at=at + 240,
        resolved_at=None,
        generator_url="http://agent.example:9842/graph?g0.expr=up&g0.tab=1",
        rule=f"rules.yaml;group;{name}",
        fingerprint=fingerprint(label_set),
    )


def resolved(alert: Alert, at: float = NOW + 300) -> Alert:
    return Alert(
        labels=alert.labels,
        annotations=alert.annotations,
        state=AlertState.INACTIVE,
        value=alert.value,
        active_at=alert.active_at,
        starts_at=alert.starts_at,
        ends_at=at,
        resolved_at=at,
        generator_url=alert.generator_url,
        rule=alert.rule,
        fingerprint=alert.fingerprint,
    )


def notification(*alerts: Alert, receiver: str = "team", group_key: str = '{}:{alertname="DiskFull"}') -> Notification:
    return Notification(
        receiver=receiver,
        group_key=group_key,
        group_labels=labels_of(alertname="DiskFull"),
        alerts=alerts or (firing(),),
        created_at=NOW,
    )


def post_once(url: str, config: HttpClientConfig | None = None) -> tuple[Outcome, str, float | None]:
    async def scenario() -> tuple[Outcome, str, float | None]:
        async with new_client(config or HttpClientConfig(timeout=Duration(0.5))) as client:
            result = (await post(client, url, b"{}", ())).result
        return result.outcome, result.reason, result.retry_after

    return asyncio.run(scenario())


def test_2xx_is_delivered(receiver: Receiver) -> None:
    receiver.script.append(Reply(202, ""))
    assert Outcome.DELIVERED == post_once(receiver.url)[0]


def test_5xx_is_retried(receiver: Receiver) -> None:
    receiver.script.append(Reply(503, "busy"))
    assert (Outcome.RETRY, "unexpected status code 503: busy", None) == post_once(receiver.url)


def test_429_is_retried_after_the_seconds_retry_after_gives(receiver: Receiver) -> None:
    receiver.script.append(Reply(429, "", {"Retry-After": "7"}))
    assert (Outcome.RETRY, 7.0) == post_once(receiver.url)[::2]


def test_other_4xx_gives_up(receiver: Receiver) -> None:
    receiver.script.append(Reply(404, "no such hook"))
    assert (Outcome.GIVE_UP, "unexpected status code 404: no such hook") == post_once(receiver.url)[:2]


def test_a_receiver_that_hangs_past_the_timeout_is_retried(receiver: Receiver) -> None:
    receiver.script.append(Reply(delay=2.0))
    outcome, reason, _ = post_once(receiver.url, HttpClientConfig(timeout=Duration(0.2)))
    assert (Outcome.RETRY, True) == (outcome, reason.startswith("timed out"))


def test_connection_refused_is_retried() -> None:
    outcome, reason, _ = post_once(f"http://127.0.0.1:{free_port()}/hook")
    assert (Outcome.RETRY, True) == (outcome, reason.startswith("transport error: ConnectError"))


def test_a_url_that_cannot_be_sent_to_gives_up() -> None:
    assert Outcome.GIVE_UP == post_once("ftp://127.0.0.1/hook")[0]


def test_retry_after_reads_an_http_date() -> None:
    assert 120.0 == retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now=1445412480.0)


def test_bearer_token_is_sent(receiver: Receiver) -> None:
    post_once(receiver.url, HttpClientConfig(bearer_token=Secret("tok3n")))
    assert "Bearer tok3n" == receiver.requests[0].headers["Authorization"]


def test_authorization_credentials_are_sent_with_their_type(receiver: Receiver) -> None:
    post_once(receiver.url, HttpClientConfig(authorization=Authorization("Token", Secret("abc"))))
    assert "Token abc" == receiver.requests[0].headers["Authorization"]


def test_basic_auth_is_sent(receiver: Receiver) -> None:
    post_once(receiver.url, HttpClientConfig(basic_auth=BasicAuth("ops", Secret("pa55"))))
    assert "Basic b3BzOnBhNTU=" == receiver.requests[0].headers["Authorization"]


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[Receiver, Path]]:
    """An HTTPS receiver with a self-signed certificate for 127.0.0.1, and that certificate's path."""
    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = Receiver(tls=context).start()
    yield server, cert
    server.stop()


def test_an_unknown_certificate_is_refused_by_default(tls_receiver: tuple[Receiver, Path]) -> None:
    server, _ = tls_receiver
    outcome, reason, _ = post_once(server.url)
    assert (Outcome.RETRY, True, 0) == (outcome, "CERTIFICATE_VERIFY_FAILED" in reason, len(server.requests))


def test_a_certificate_from_ca_file_is_accepted(tls_receiver: tuple[Receiver, Path]) -> None:
    server, cert = tls_receiver
    config = HttpClientConfig(tls_config=TLSConfig(ca_file=str(cert)))
    assert Outcome.DELIVERED == post_once(server.url, config)[0]


def test_insecure_skip_verify_accepts_any_certificate(tls_receiver: tuple[Receiver, Path]) -> None:
    server, _ = tls_receiver
    config = HttpClientConfig(tls_config=TLSConfig(insecure_skip_verify=True))
    assert Outcome.DELIVERED == post_once(server.url, config)[0]


def test_client_timeout_comes_from_http_config() -> None:
    client = new_client(HttpClientConfig(timeout=Duration(3)))
    assert 3.0 == client.timeout.read
    asyncio.run(client.aclose())


def test_a_long_error_body_is_cut_in_the_reason(receiver: Receiver) -> None:
    # A 500 whose body is huge is cut, so a reason stays a line, not a page.
    receiver.script.append(Reply(500, "x" * 10_000))
    assert len(post_once(receiver.url)[1]) < 300
