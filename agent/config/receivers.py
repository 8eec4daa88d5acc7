"""Receivers and Alertmanager targets, in Alertmanager's own configuration shapes.

Users paste their `receivers:` from alertmanager.yml. Secrets (webhook URLs, routing keys,
tokens, passwords) are `Secret`s, so they may come from `<field>_file` or `${env:NAME}` and
never print themselves. Defaults follow Alertmanager's documentation: `send_resolved` is true
for webhook and PagerDuty, false for Slack; TLS is verified unless told otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from agent.config.types import Duration, Secret, secret_field

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
OPSGENIE_API_URL = "https://api.opsgenie.com/"


@dataclass(frozen=True)
class TLSConfig:
    """How the server's certificate is checked (always, unless insecure_skip_verify)."""

    ca_file: str | None = None
    insecure_skip_verify: bool = False


@dataclass(frozen=True)
class BasicAuth:
    """HTTP basic authentication on a receiver's requests; the password is a secret."""

    username: str = ""
    password: Secret | None = secret_field()


@dataclass(frozen=True)
class Authorization:
    """The `Authorization` header: `<type> <credentials>`."""

    type: str = "Bearer"
    credentials: Secret | None = secret_field()


@dataclass(frozen=True)
class HttpClientConfig:
    """Alertmanager's `http_config`: TLS, authentication, proxy, and how long a request may take."""

    tls_config: TLSConfig = field(default_factory=TLSConfig)
    authorization: Authorization | None = None
    bearer_token: Secret | None = secret_field()  # the older spelling of authorization: {credentials: ...}
    basic_auth: BasicAuth | None = None
    proxy_url: Secret | None = secret_field()  # a proxy URL may carry user:password
    follow_redirects: bool = True
    timeout: Duration = Duration(10)


@dataclass(frozen=True)
class InlineHttpClient:
    """The HTTP client settings Prometheus writes inline in a `remote_write` or `alertmanager_config` entry."""

    basic_auth: BasicAuth | None = None
    authorization: Authorization | None = None
    bearer_token: Secret | None = secret_field()  # bearer_token_file reads it from a file
    tls_config: TLSConfig = field(default_factory=TLSConfig)
    proxy_url: Secret | None = secret_field()
    follow_redirects: bool = True

    def http_client(self, timeout: Duration) -> HttpClientConfig:
        """The same settings in the shape the project's HTTP client helper takes."""
        return HttpClientConfig(
            tls_config=self.tls_config,
            authorization=self.authorization,
            bearer_token=self.bearer_token,
            basic_auth=self.basic_auth,
            proxy_url=self.proxy_url,
            follow_redirects=self.follow_redirects,
            timeout=timeout,
        )

    def authentication_error(self) -> str | None:
        """What is wrong when more than one way to authenticate is set."""
        ways = (self.authorization is not None, bool(self.bearer_token), self.basic_auth is not None)
        return "at most one of authorization, bearer_token and basic_auth may be set" if sum(ways) > 1 else None


def default_template(name: str) -> str:
    """A field's default: Alertmanager's named template of that name, called on the whole data."""
    return f'{{{{ template "{name}" . }}}}'


@dataclass(frozen=True)
class SlackField:
    """One attachment field; its title and value are templates."""

    title: str = ""
    value: str = ""
    short: bool | None = None  # default: the config's short_fields


@dataclass(frozen=True)
class SlackConfirm:
    """The confirmation dialog of a Slack action button; every text is a template."""

    text: str = ""
    title: str = ""
    ok_text: str = ""
    dismiss_text: str = ""


@dataclass(frozen=True)
class SlackAction:
    """One attachment action (a button); every text is a template."""

    type: str = ""
    text: str = ""
    url: str = ""
    style: str = ""
    name: str = ""
    value: str = ""
    confirm: SlackConfirm | None = None


@dataclass(frozen=True)
class SlackConfig:
    """A Slack incoming webhook, sent Alertmanager's one-attachment message; text fields are templates."""

    send_resolved: bool = False
    api_url: Secret | None = secret_field()  # the webhook URL is the credential
    channel: str = ""  # only honoured by legacy webhooks; modern ones are bound to a channel
    username: str = default_template("slack.default.username")
    color: str = '{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}'
    title: str = default_template("slack.default.title")
    title_link: str = default_template("slack.default.titlelink")
    pretext: str = default_template("slack.default.pretext")
    text: str = default_template("slack.default.text")
    fields: list[SlackField] = field(default_factory=list)
    short_fields: bool = False
    footer: str = default_template("slack.default.footer")
    fallback: str = default_template("slack.default.fallback")
    callback_id: str = default_template("slack.default.callbackid")
    icon_emoji: str = default_template("slack.default.iconemoji")
    icon_url: str = default_template("slack.default.iconurl")
    image_url: str = ""
    thumb_url: str = ""
    link_names: bool = False
    mrkdwn_in: list[str] = field(default_factory=list)  # default: fallback, pretext, text
    actions: list[SlackAction] = field(default_factory=list)
    http_config: HttpClientConfig = field(default_factory=HttpClientConfig)


@dataclass(frozen=True)
class PagerdutyLink:
    """A link on the incident; href and text are templates (left out when href is empty)."""

    href: str
    text: str = ""


@dataclass(frozen=True)
class PagerdutyImage:
    """An image on the incident; src, alt and href are templates (left out when src is empty)."""

    src: str
    alt: str = ""
    href: str = ""


PAGERDUTY_DEFAULT_DETAILS = {
    "firing": '{{ template "pagerduty.default.instances" .Alerts.Firing }}',
    "resolved": '{{ template "pagerduty.default.instances" .Alerts.Resolved }}',
    "num_firing": "{{ .Alerts.Firing | len }}",
    "num_resolved": "{{ .Alerts.Resolved | len }}",
}


@dataclass(frozen=True)
class PagerdutyConfig:
    """A PagerDuty service, through the Events API v2; every text field is a template, as in Alertmanager."""

    send_resolved: bool = True
    routing_key: Secret | None = secret_field()
    url: str = PAGERDUTY_EVENTS_URL
    client: str = default_template("pagerduty.default.client")
    client_url: str = default_template("pagerduty.default.clientURL")
    description: str = default_template("pagerduty.default.description")
    source: str = ""  # default: the client, as Alertmanager does
    severity: str = "error"
    component: str = ""
    group: str = ""
    class_: str = field(default="", metadata={"key": "class"})
    details: dict[str, str] = field(default_factory=dict)  # added to (or replacing) Alertmanager's four
    links: list[PagerdutyLink] = field(default_factory=list)
    images: list[PagerdutyImage] = field(default_factory=list)
    http_config: HttpClientConfig = field(default_factory=HttpClientConfig)

    def all_details(self) -> dict[str, str]:
        """Alertmanager's default custom details, overridden key by key by the configured ones."""
        return {**PAGERDUTY_DEFAULT_DETAILS, **self.details}


@dataclass(frozen=True)
class WebhookConfig:
    """A generic receiver of Alertmanager's webhook payload (version 4)."""

    send_resolved: bool = True
    url: Secret | None = secret_field()  # URLs often carry a token in the path or query
    max_alerts: int = 0  # 0: all
    hmac_secret: Secret | None = secret_field()  # signs the body: X-Tripwired-Signature: sha256=<hex>
    timeout: Duration | None = None  # as in Alertmanager 0.28; when set, wins over http_config.timeout
    http_config: HttpClientConfig = field(default_factory=HttpClientConfig)


@dataclass(frozen=True)
class EmailConfig:
    """An SMTP server and addresses; every header and both bodies are templates, as in Alertmanager.

    Port 465 means implicit TLS; otherwise STARTTLS is required unless require_tls is false.
    Authentication is tried as Alertmanager does: the first of the server's AUTH mechanisms
    among CRAM-MD5 (auth_secret), PLAIN and LOGIN (auth_password) that has its credential.
    """

    to: str = ""
    from_: str = field(default="", metadata={"key": "from"})
    smarthost: str = ""  # host:port
    hello: str = ""  # default: global smtp_hello ("localhost")
    auth_username: str = ""
    auth_password: Secret | None = secret_field()
    auth_secret: Secret | None = secret_field()
    auth_identity: str = ""
    require_tls: bool | None = None  # default: global smtp_require_tls (true)
    force_implicit_tls: bool | None = None  # as in Alertmanager 0.26+; unset: implicit TLS on port 465 only
    tls_config: TLSConfig = field(default_factory=TLSConfig)
    headers: dict[str, str] = field(default_factory=dict)  # Subject, To and From default as in Alertmanager
    html: str = '{{ template "email.default.html" . }}'
    text: str = ""
    send_resolved: bool = False
    timeout: Duration = Duration(10)

    def all_headers(self) -> dict[str, str]:
        """The headers to send, names title-cased as Alertmanager normalises them, defaults added."""
        headers = {_title_case(name): value for name, value in self.headers.items()}
        headers.setdefault("Subject", '{{ template "email.default.subject" . }}')
        headers.setdefault("To", self.to)
        headers.setdefault("From", self.from_)
        return headers


def _title_case(name: str) -> str:
    """Go's strings.Title on a header name: each word after a non-letter starts upper-case."""
    return "-".join(part[:1].upper() + part[1:] for part in name.split("-"))


@dataclass(frozen=True)
class OpsgenieResponder:
    """Who an Opsgenie alert is for; each text is a template (`teams` is a comma-separated list)."""

    id: str = ""
    name: str = ""
    username: str = ""
    type: str = ""  # team, teams, user, escalation or schedule


@dataclass(frozen=True)
class OpsgenieConfig:
    """An Opsgenie integration (Alert API v2): create by alias while firing, close by alias when resolved."""

    send_resolved: bool = True
    api_key: Secret | None = secret_field()
    api_url: Secret | None = secret_field()  # default OPSGENIE_API_URL; a Secret as every api_url is
    message: str = '{{ template "opsgenie.default.message" . }}'
    description: str = '{{ template "opsgenie.default.description" . }}'
    source: str = '{{ template "opsgenie.default.source" . }}'
    details: dict[str, str] = field(default_factory=dict)  # added to the common labels
    entity: str = ""
    responders: list[OpsgenieResponder] = field(default_factory=list)
    actions: str = ""  # comma-separated
    tags: str = ""  # comma-separated
    note: str = ""
    priority: str = ""  # P1 to P5
    update_alerts: bool = False
    http_config: HttpClientConfig = field(default_factory=HttpClientConfig)


@dataclass(frozen=True)
class ReceiverConfig:
    """A named receiver: every integration listed gets every notification routed to it."""

    name: str
    slack_configs: list[SlackConfig] = field(default_factory=list)
    pagerduty_configs: list[PagerdutyConfig] = field(default_factory=list)
    webhook_configs: list[WebhookConfig] = field(default_factory=list)
    email_configs: list[EmailConfig] = field(default_factory=list)
    opsgenie_configs: list[OpsgenieConfig] = field(default_factory=list)


@dataclass(frozen=True)
class AlertmanagerTargetConfig:
    """One Alertmanager instance that receives every alert at `<url>/api/v2/alerts`."""

    url: str
    timeout: Duration = Duration(10)
    http_config: HttpClientConfig = field(default_factory=HttpClientConfig)


def receiver_errors(
    receivers: Sequence[ReceiverConfig],
    alertmanagers: Sequence[AlertmanagerTargetConfig] = (),
) -> list[str]:
    """What the loader cannot check by type: required secrets, unique names, sane numbers."""
    errors: list[str] = []
    seen: set[str] = set()
    for i, receiver in enumerate(receivers):
        where = f"receivers[{i}]"
        if receiver.name in seen:
            errors.append(f"{where}.name: receiver {receiver.name!r} is defined twice")
        seen.add(receiver.name)
        errors.extend(_integration_errors(where, receiver))
    for i, target in enumerate(alertmanagers):
        if not target.url.startswith(("http://", "https://")):
            errors.append(f"alertmanagers[{i}].url: must start with http:// or https://")
    return errors


def _integration_errors(where: str, receiver: ReceiverConfig) -> list[str]:
    errors: list[str] = []
    for j, slack in enumerate(receiver.slack_configs):
        errors.extend(_required(f"{where}.slack_configs[{j}]", slack.api_url, "api_url"))
        errors.extend(_http_errors(f"{where}.slack_configs[{j}].http_config", slack.http_config))
    for j, pagerduty in enumerate(receiver.pagerduty_configs):
        errors.extend(_required(f"{where}.pagerduty_configs[{j}]", pagerduty.routing_key, "routing_key"))
        errors.extend(_http_errors(f"{where}.pagerduty_configs[{j}].http_config", pagerduty.http_config))
    for j, webhook in enumerate(receiver.webhook_configs):
        errors.extend(_required(f"{where}.webhook_configs[{j}]", webhook.url, "url"))
        errors.extend(_http_errors(f"{where}.webhook_configs[{j}].http_config", webhook.http_config))
        if webhook.max_alerts < 0:
            errors.append(f"{where}.webhook_configs[{j}].max_alerts: must be 0 (all) or more")
    for j, email in enumerate(receiver.email_configs):
        errors.extend(_email_errors(f"{where}.email_configs[{j}]", email))
    for j, opsgenie in enumerate(receiver.opsgenie_configs):
        errors.extend(_required(f"{where}.opsgenie_configs[{j}]", opsgenie.api_key, "api_key"))
        errors.extend(_http_errors(f"{where}.opsgenie_configs[{j}].http_config", opsgenie.http_config))
        errors.extend(_responder_errors(f"{where}.opsgenie_configs[{j}]", opsgenie.responders))
    return errors


def _email_errors(where: str, email: EmailConfig) -> list[str]:
    """Alertmanager's checks: a recipient, a sender and a host:port smarthost."""
    errors = [f"{where}: {name} is required" for name, value in (("to", email.to), ("from", email.from_)) if not value]
    host, _, port = email.smarthost.rpartition(":")
    if not host or not port.isdigit():
        errors.append(f"{where}.smarthost: must be host:port, got {email.smarthost!r}")
    return errors


OPSGENIE_RESPONDER_TYPES = ("team", "teams", "user", "escalation", "schedule")


def _responder_errors(where: str, responders: Sequence[OpsgenieResponder]) -> list[str]:
    """Alertmanager's checks: an id, username or name each, and a known type unless templated."""
    errors: list[str] = []
    for k, responder in enumerate(responders):
        if not (responder.id or responder.username or responder.name):
            errors.append(f"{where}.responders[{k}]: one of id, username or name is required")
        kind = responder.type.lower()
        if "{{" not in responder.type and kind not in OPSGENIE_RESPONDER_TYPES:
            errors.append(f"{where}.responders[{k}].type: must be one of {', '.join(OPSGENIE_RESPONDER_TYPES)}")
    return errors


def _required(where: str, secret: Secret | None, name: str) -> list[str]:
    return [] if secret else [f"{where}: {name} or {name}_file is required"]


def _http_errors(where: str, config: HttpClientConfig) -> list[str]:
    """Alertmanager refuses more than one way of authenticating; so do we."""
    ways = [config.authorization is not None, bool(config.bearer_token), config.basic_auth is not None]
    if sum(ways) > 1:
        return [f"{where}: at most one of authorization, bearer_token and basic_auth may be set"]
    return []
