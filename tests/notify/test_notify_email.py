"""The email sender against a real SMTP server (aiosmtpd): STARTTLS, implicit TLS, authentication."""

from __future__ import annotations

import asyncio
import email
import email.policy
import hmac
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from agent.config.receivers import EmailConfig, TLSConfig
from agent.config.schema import Duration, Secret
from agent.notify.integrations.email.email import EmailSender
from agent.notify.model import Outcome, Result
from tests.conftest import free_port, self_signed
from tests.notify.test_notify_http import firing, notification

PASSWORD = "smtp-pa55word"
CRAM_SECRET = "cram-s3cret"


@dataclass
class Mailbox:
    """What the server got: messages, and the AUTH mechanism each session used."""

    mails: list[Envelope] = field(default_factory=list)
    mechanisms: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd calls handle_DATA and auth_<MECHANISM> by these names
        self.mails.append(envelope)
        return "250 OK"

    async def auth_CRAM__MD5(self, server: SMTP, args: list[str]) -> AuthResult:  # noqa: N802 - aiosmtpd calls handle_DATA and auth_<MECHANISM> by these names
        """CRAM-MD5 (aiosmtpd has none built in): the client answers `user hex(hmac-md5(secret, challenge))`."""
        challenge = b"<1896.697170952@tripwired.test>"
        answer = await server.challenge_auth(challenge)
        assert isinstance(answer, bytes)
        user, _, digest = answer.decode().partition(" ")
        expected = hmac.new(CRAM_SECRET.encode(), challenge, "md5").hexdigest()
        self.mechanisms.append("CRAM-MD5")
        return AuthResult(success=(user, digest) == ("ops", expected))

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        self.mechanisms.append(mechanism)
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"ops", PASSWORD.encode())
        return AuthResult(success=ok)


@dataclass
class Server:
    mailbox: Mailbox
    port: int
    ca_file: str


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"), "127.0.0.1")


def start(certificate: tuple[Path, Path], *, implicit: bool = False, **options: Any) -> Iterator[Server]:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    mailbox = Mailbox()
    tls = {"ssl_context": context} if implicit else {"tls_context": context, "require_starttls": True}
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=free_port(), authenticator=mailbox.authenticate, **tls, **options
    )
    controller.start()
    try:
        yield Server(mailbox, controller.port, str(cert))
    finally:
        controller.stop()


@pytest.fixture
def smtp(certificate: tuple[Path, Path]) -> Iterator[Server]:
    """STARTTLS required, AUTH only after it, every mechanism offered."""
    yield from start(certificate, auth_require_tls=True)


def email_config(server: Server, **options: Any) -> EmailConfig:
    config = EmailConfig(
        to="ops@example.com, Team <team@example.com>",
        from_="tripwired@example.com",
        smarthost=f"127.0.0.1:{server.port}",
        tls_config=TLSConfig(ca_file=server.ca_file),
        timeout=Duration(5),
    )
    return replace(config, **options)


def send(config: EmailConfig) -> Result:
    async def scenario() -> Result:
        sender = EmailSender(config, external_url="http://agent.example:9842")
        try:
            return await sender.send(notification(firing(instance="db1")))
        finally:
            await sender.aclose()

    return asyncio.run(scenario())


def test_a_notification_is_sent_over_starttls_to_every_recipient(smtp: Server) -> None:
    result = send(email_config(smtp))
    mail = smtp.mailbox.mails[0]
    message = email.message_from_bytes(mail.content or b"", policy=email.policy.default)
    assert (Outcome.DELIVERED, "tripwired@example.com", ["ops@example.com", "team@example.com"]) == (
        result.outcome,
        mail.mail_from,
        mail.rcpt_tos,
    )
    assert ("[FIRING:1] DiskFull (db1)", ["text/html"]) == (
        message["Subject"],
        [part.get_content_type() for part in message.iter_parts()],
    )


def test_plain_auth_when_the_server_offers_it_first(certificate: tuple[Path, Path]) -> None:
    for server in start(certificate, auth_exclude_mechanism=["LOGIN", "CRAM-MD5"]):
        result = send(email_config(server, auth_username="ops", auth_password=Secret(PASSWORD)))
        assert (Outcome.DELIVERED, ["PLAIN"], 1) == (
            result.outcome,
            server.mailbox.mechanisms,
            len(server.mailbox.mails),
        )


def test_login_auth(certificate: tuple[Path, Path]) -> None:
    for server in start(certificate, auth_exclude_mechanism=["PLAIN", "CRAM-MD5"]):
        result = send(email_config(server, auth_username="ops", auth_password=Secret(PASSWORD)))
        assert (Outcome.DELIVERED, ["LOGIN"], 1) == (
            result.outcome,
            server.mailbox.mechanisms,
            len(server.mailbox.mails),
        )


def test_cram_md5_auth_uses_the_auth_secret(certificate: tuple[Path, Path]) -> None:
    for server in start(certificate, auth_exclude_mechanism=["PLAIN", "LOGIN"]):
        config = email_config(server, auth_username="ops", auth_secret=Secret(CRAM_SECRET))
        result = send(config)
        assert (Outcome.DELIVERED, ["CRAM-MD5"], 1) == (
            result.outcome,
            server.mailbox.mechanisms,
            len(server.mailbox.mails),
        )


def test_wrong_password_is_retried_and_not_said(certificate: tuple[Path, Path]) -> None:
    for server in start(certificate, auth_exclude_mechanism=["LOGIN", "CRAM-MD5"]):
        config = email_config(server, auth_username="ops", auth_password=Secret("wrong-pa55word"))
        result = send(replace(config, timeout=Duration(1)))  # aiosmtpd answers QUIT after a failed AUTH late
        assert (Outcome.RETRY, [], False) == (result.outcome, server.mailbox.mails, "wrong-pa55word" in result.reason)


def test_implicit_tls(certificate: tuple[Path, Path]) -> None:
    for server in start(certificate, implicit=True):
        result = send(email_config(server, force_implicit_tls=True))
        assert (Outcome.DELIVERED, 1) == (result.outcome, len(server.mailbox.mails))


def test_a_server_without_starttls_is_refused_when_tls_is_required(certificate: tuple[Path, Path]) -> None:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        server = Server(mailbox, controller.port, "")
        result = send(email_config(server, tls_config=TLSConfig()))
    finally:
        controller.stop()
    assert (Outcome.RETRY, [], True) == (result.outcome, mailbox.mails, "STARTTLS" in result.reason)


def test_an_untrusted_certificate_is_refused(smtp: Server) -> None:
    result = send(email_config(smtp, tls_config=TLSConfig()))
    assert (Outcome.RETRY, []) == (result.outcome, smtp.mailbox.mails)


def test_a_failing_template_gives_up(smtp: Server) -> None:
    result = send(email_config(smtp, headers={"subject": "{{ .Nope }}"}))
    assert (Outcome.GIVE_UP, [], True) == (result.outcome, smtp.mailbox.mails, "Subject" in result.reason)
