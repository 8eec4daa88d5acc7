"""Email over SMTP: Alertmanager's message (templated headers, text and HTML parts) sent with smtplib.

As Alertmanager's notify/email: headers default to `Subject: {{ template "email.default.subject" . }}`,
`To` and `From`; the HTML part is `email.default.html` (expanded with HTML escaping), the text
part only when `text` is set; both quoted-printable in a multipart/alternative body. Port 465
means implicit TLS, anything else STARTTLS (required unless `require_tls: false`). The standard
library's smtplib does the talking, in a worker thread, bounded by `timeout`; authentication picks
the first mechanism the server offers among CRAM-MD5, PLAIN and LOGIN that has its credential.
"""

from __future__ import annotations

import asyncio
import email.quoprimime
import email.utils
import quopri
import random
import smtplib
import socket
import ssl
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import structlog

from agent.config.receivers import EmailConfig, TLSConfig
from agent.model import Alert
from agent.notify.integrations.base import NOTHING_TO_SEND
from agent.notify.integrations.data import alerts_to_send
from agent.notify.model import Notification, Outcome, Result
from agent.notify.template import DEFAULT_TEMPLATES, NotifyTemplates, TemplateError, template_data
from agent.redact import redact, secret_values

log = structlog.get_logger()

IMPLICIT_TLS_PORT = 465


class AddressError(ValueError):
    """A `from` or `to` that is not a list of mail addresses (after templating)."""


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """What one notification becomes: envelope addresses, headers and the two bodies."""

    sender: str
    recipients: tuple[str, ...]
    headers: Mapping[str, str]
    text: str
    html: str


def render(
    notification: Notification,
    alerts: Sequence[Alert],
    config: EmailConfig,
    *,
    external_url: str,
    templates: NotifyTemplates = DEFAULT_TEMPLATES,
) -> RenderedEmail:
    """Expand every template; raises TemplateError naming the failing one, AddressError for bad addresses."""
    data = template_data(notification, alerts, external_url)

    def expand(field: str, text: str, html: bool = False) -> str:
        try:
            return templates.html(text, data) if html else templates.text(text, data)
        except TemplateError as exc:
            raise TemplateError(f"{field} template {text!r}: {exc}") from None

    senders = _addresses(expand("from", config.from_))
    if len(senders) != 1:
        raise AddressError(f"must be exactly one 'from' address (got: {len(senders)})")
    headers = {name: expand(f"header {name}", value) for name, value in config.all_headers().items()}
    return RenderedEmail(
        sender=senders[0],
        recipients=tuple(_addresses(expand("to", config.to))),
        headers=headers,
        text=expand("text", config.text),
        html=expand("html", config.html, html=True),
    )


def _addresses(text: str) -> list[str]:
    """The bare addresses of an address list (`Ops <ops@example.com>, b@example.com`)."""
    parsed = email.utils.getaddresses([text])
    if not parsed or any("@" not in address for _, address in parsed):
        raise AddressError(f"not a list of mail addresses: {text!r}")
    return [address for _, address in parsed]


def mime_message(rendered: RenderedEmail, *, hostname: str, now: float) -> bytes:
    """The message as Alertmanager writes it: headers, Message-Id, Date, then the multipart body."""
    boundary = f"{random.getrandbits(120):030x}"
    lines = [f"{name}: {_encode_header(value)}" for name, value in rendered.headers.items()]
    if "Message-Id" not in rendered.headers:
        lines.append(f"Message-Id: <{time.time_ns()}.{random.getrandbits(63)}@{hostname}>")
    lines.append(f"Date: {email.utils.formatdate(now, localtime=False)}")
    lines.append(f"Content-Type: multipart/alternative;  boundary={boundary}")
    lines.append("MIME-Version: 1.0")
    parts = [("text/plain", rendered.text), ("text/html", rendered.html)]
    body = b"".join(_part(boundary, kind, text) for kind, text in parts if text)
    head = "\r\n".join(lines).encode() + b"\r\n\r\n"
    return head + body + f"\r\n--{boundary}--\r\n".encode()


def _encode_header(value: str) -> str:
    """Go's mime.QEncoding.Encode: unchanged when printable ASCII, else an RFC 2047 encoded word."""
    if all(" " <= c <= "~" or c == "\t" for c in value):
        return value
    return email.quoprimime.header_encode(value.encode(), charset="utf-8")


def _part(boundary: str, kind: str, text: str) -> bytes:
    """One quoted-printable part with CRLF line breaks, as Go's quotedprintable writer makes it."""
    encoded = b"\r\n".join(quopri.encodestring(line.encode()).replace(b"=\n", b"=\r\n") for line in text.split("\n"))
    head = (
        f"\r\n--{boundary}\r\nContent-Transfer-Encoding: quoted-printable\r\n"
        f"Content-Type: {kind}; charset=UTF-8\r\n\r\n"
    )
    return head.encode() + encoded


def tls_context(config: TLSConfig) -> ssl.SSLContext:
    """The server's certificate is verified unless insecure_skip_verify, against ca_file if given."""
    context = ssl.create_default_context(cafile=config.ca_file)
    if config.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def deliver(config: EmailConfig, rendered: RenderedEmail, message: bytes) -> None:
    """Talk SMTP to the smarthost and hand the message over; raises smtplib.SMTPException or OSError."""
    host, _, port_text = config.smarthost.rpartition(":")
    port = int(port_text)
    timeout = float(config.timeout)
    context = tls_context(config.tls_config)
    implicit = port == IMPLICIT_TLS_PORT if config.force_implicit_tls is None else config.force_implicit_tls
    smtp = (
        smtplib.SMTP_SSL(host, port, local_hostname=config.hello or "localhost", timeout=timeout, context=context)
        if implicit
        else smtplib.SMTP(host, port, local_hostname=config.hello or "localhost", timeout=timeout)
    )
    with smtp:
        smtp.ehlo(config.hello or "localhost")
        if config.require_tls is not False and not implicit:
            if not smtp.has_extn("starttls"):
                raise smtplib.SMTPNotSupportedError(
                    f"'require_tls' is true (default) but {config.smarthost!r} does not advertise STARTTLS"
                )
            smtp.starttls(context=context)
            smtp.ehlo(config.hello or "localhost")
        if config.auth_username and smtp.has_extn("auth"):
            _authenticate(smtp, config)
        smtp.sendmail(rendered.sender, list(rendered.recipients), message)


def _authenticate(smtp: smtplib.SMTP, config: EmailConfig) -> None:
    """The first AUTH mechanism the server lists that we have a credential for, as Alertmanager picks."""
    password = str(config.auth_password or "")
    secret = str(config.auth_secret or "")
    smtp.user = config.auth_username
    for mechanism in smtp.esmtp_features.get("auth", "").upper().split():
        if mechanism == "CRAM-MD5" and secret:
            smtp.password = secret
            smtp.auth("CRAM-MD5", smtp.auth_cram_md5)
            return
        if mechanism == "PLAIN" and password:
            smtp.auth("PLAIN", _Plain(config.auth_identity, config.auth_username, password))
            return
        if mechanism == "LOGIN" and password:
            smtp.password = password
            smtp.auth("LOGIN", smtp.auth_login, initial_response_ok=False)
            return
    raise smtplib.SMTPException("find auth mechanism: none of the server's has its credential configured")


@dataclass(frozen=True)
class _Plain:
    """PLAIN's one response, with the authorization identity smtplib's own auth_plain leaves out."""

    identity: str
    username: str
    password: str = field(repr=False)

    def __call__(self, challenge: bytes | None = None, /) -> str:
        """The same answer whatever the challenge."""
        return f"{self.identity}\0{self.username}\0{self.password}"


class EmailSender:
    """Sends each notification as one email through one SMTP smarthost."""

    def __init__(
        self,
        config: EmailConfig,
        *,
        external_url: str,
        templates: NotifyTemplates = DEFAULT_TEMPLATES,
    ) -> None:
        self.config = config
        self.external_url = external_url
        self.templates = templates
        self.hostname = socket.gethostname()
        self.secrets: Collection[str] = secret_values(config)

    async def send(self, notification: Notification) -> Result:
        """Render, then deliver in a worker thread; templates and addresses give up, SMTP trouble retries."""
        alerts = alerts_to_send(notification, self.config.send_resolved)
        if not alerts:
            return NOTHING_TO_SEND
        try:  # off the event loop: the default HTML of a big group takes tens of milliseconds
            rendered, message = await asyncio.to_thread(self._compose, notification, alerts)
        except (TemplateError, AddressError) as exc:
            log.error("notify_template_failed", integration="email", receiver=notification.receiver, error=str(exc))
            return Result(Outcome.GIVE_UP, redact(f"template error: {exc}", self.secrets))
        try:
            await asyncio.to_thread(deliver, self.config, rendered, message)
        except (smtplib.SMTPException, OSError) as exc:
            return Result(Outcome.RETRY, redact(f"smtp: {type(exc).__name__} {exc}", self.secrets))
        return Result(Outcome.DELIVERED)

    def _compose(self, notification: Notification, alerts: Sequence[Alert]) -> tuple[RenderedEmail, bytes]:
        """Render the templates and write the message."""
        rendered = render(notification, alerts, self.config, external_url=self.external_url, templates=self.templates)
        return rendered, mime_message(rendered, hostname=self.hostname, now=time.time())

    async def aclose(self) -> None:
        """Nothing is kept open between notifications."""
