"""Oracle: a real Alertmanager 0.25 and tripwired render the same notifications from the same config.

One Alertmanager (Debian's prometheus-alertmanager) gets a config with Slack, PagerDuty and
webhook receivers, Alertmanager's defaults and custom templates (a `templates:` file with
define blocks, functions, loops over .Alerts.Firing, SortedPairs), and alerts posted to its
/api/v2/alerts. Its requests land on the capture receiver; ours are built from the same config
text, loaded by tripwired's loader, over the same alerts. Bodies are compared whole: the alerts'
start and end times are the ones posted, and the group key (hence PagerDuty's dedup_key and the
webhook's groupKey) is Alertmanager's for the root route, so no field needs setting aside.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import hashlib
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from agent.config.load import load_text
from agent.config.schema import Config
from agent.model import Alert, AlertState, fingerprint, labels_of
from agent.notify.integrations.data import go_time
from agent.notify.integrations.email.email import mime_message, render
from agent.notify.integrations.opsgenie.opsgenie import requests as opsgenie_requests
from agent.notify.integrations.pagerduty.pagerduty import event
from agent.notify.integrations.slack.slack import slack_message
from agent.notify.integrations.webhook.webhook import webhook_message
from agent.notify.model import Notification
from agent.notify.template import NotifyTemplates, load_templates
from tests.alertmanager_peer import running_alertmanager
from tests.conftest import free_port
from tests.receiver import Receiver

EXTERNAL_URL = "http://alertmanager.example:9093"
RECEIVER = "oracle"

CUSTOM_TEMPLATES = r"""
{{ define "custom.title" }}[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}{{ template "custom.n" . }}{{ end }}
{{ define "custom.n" }} on {{ len .Alerts.Firing }} host(s){{ end }}
{{ define "custom.text" -}}
{{ range $i, $a := .Alerts.Firing }}{{ $i }}. *{{ $a.Labels.instance }}*: {{ $a.Annotations.summary }}
{{ range $a.Labels.SortedPairs }}  {{ .Name }}={{ .Value }}
{{ end }}{{ end }}
{{- range .Alerts.Resolved }}resolved: {{ .Labels.instance }} since {{ .StartsAt }}
{{ end -}}
{{- end }}
{{ define "slack.default.footer" }}footer of {{ .Receiver }}: {{ .GroupLabels.SortedPairs.Names | join "," }}{{ end }}
"""

SLACK_CUSTOM = r"""
      - api_url: {hook}/slack-custom
        send_resolved: true
        channel: '#{{{{ .CommonLabels.team }}}}'
        username: '{{{{ .Receiver }}}}-bot'
        title: '{{{{ template "custom.title" . }}}}'
        title_link: '{{{{ .ExternalURL }}}}/alerts?g={{{{ .GroupLabels.alertname | urlquery }}}}'
        pretext: '{{{{ toLower .Status }}}} {{{{ title "hELLO wORLD" }}}}'
        text: '{{{{ template "custom.text" . }}}}'
        fallback: '{{{{ .CommonAnnotations.SortedPairs.Values | join " | " }}}}'
        color: '{{{{ if match "^crit" .CommonLabels.severity }}}}#ff0000{{{{ else }}}}#00ff00{{{{ end }}}}'
        icon_emoji: ':{{{{ .CommonLabels.team }}}}:'
        image_url: 'http://img.example/{{{{ .GroupLabels.alertname }}}}.png'
        thumb_url: 'http://img.example/thumb.png'
        callback_id: '{{{{ .GroupLabels.alertname }}}}-cb'
        fields:
          - title: Severity
            value: '{{{{ .CommonLabels.severity | toUpper }}}}'
            short: true
          - title: Hosts
            value: '{{{{ range .Alerts }}}}{{{{ reReplaceAll "db(\\d+)" "d-$1" .Labels.instance }}}} {{{{ end }}}}'
          - title: Slice
            value: '{{{{ join "+" (stringSlice "a" .Status) }}}} {{{{ .CommonLabels.Remove (stringSlice "team") }}}}'
        short_fields: false
        actions:
          - type: button
            text: 'Runbook for {{{{ .GroupLabels.alertname }}}}'
            url: '{{{{ .CommonAnnotations.runbook }}}}'
            style: '{{{{ if eq .Status "firing" }}}}danger{{{{ end }}}}'
            confirm:
              title: Sure?
              text: 'Open {{{{ len .Alerts }}}} alerts'
              ok_text: 'Yes'
              dismiss_text: 'No'
"""

PAGERDUTY_CUSTOM = r"""
      - routing_key: custom-key
        url: {hook}/pagerduty-custom
        description: '{{{{ template "custom.title" . }}}}'
        client: 'tripwired {{{{ .Status }}}}'
        client_url: '{{{{ .ExternalURL }}}}/alerts'
        source: '{{{{ .CommonLabels.team }}}}'
        severity: '{{{{ if eq .CommonLabels.severity "critical" }}}}critical{{{{ else }}}}warning{{{{ end }}}}'
        class: '{{{{ .CommonLabels.alertname }}}}'
        component: 'disk-{{{{ .CommonLabels.team }}}}'
        group: '{{{{ .GroupLabels.alertname | toLower }}}}'
        details:
          summary: '{{{{ .CommonAnnotations.summary }}}}'
          hosts: '{{{{ range .Alerts.Firing }}}}{{{{ .Labels.instance }}}},{{{{ end }}}}'
          num_firing: 'n={{{{ .Alerts.Firing | len }}}}'
        links:
          - href: '{{{{ .CommonAnnotations.runbook }}}}'
            text: 'Runbook {{{{ .GroupLabels.alertname }}}}'
          - href: '{{{{ .CommonLabels.missing }}}}'
            text: dropped because its href is empty
        images:
          - src: 'http://img.example/{{{{ .GroupLabels.alertname }}}}.png'
            alt: graph
            href: '{{{{ .ExternalURL }}}}'
"""

EMAIL_AND_OPSGENIE = r"""
    email_configs:
      - to: ops@example.com  # from, smarthost, hello and require_tls from `global:`
        send_resolved: true
      - to: 'ops@example.com, Team <team@example.com>'
        from: 'Tripwired <tripwired@example.com>'
        smarthost: 127.0.0.1:{smtp_port}
        require_tls: false
        send_resolved: true
        headers:
          subject: '{{{{ template "custom.title" . }}}}'
          x-team: '{{{{ .CommonLabels.team }}}} é'
        text: '{{{{ template "custom.text" . }}}}'
        html: '<p>{{{{ .CommonAnnotations.summary }}}} & {{{{ "<b>" }}}} {{{{ "<i>ok</i>" | safeHtml }}}}</p>'
    opsgenie_configs:
      - api_key: default-key  # api_url from `global:`
      - api_key: custom-key
        api_url: {hook}/opsgenie-custom/
        message: '{{{{ template "custom.title" . }}}}'
        description: '{{{{ .GroupLabels.alertname }}}}: {{{{ template "custom.text" . }}}}'
        source: 'tripwired on {{{{ .ExternalURL }}}}'
        details:
          hosts: '{{{{ range .Alerts.Firing }}}}{{{{ .Labels.instance }}}} {{{{ end }}}}'
          team: 'overridden {{{{ .CommonLabels.team }}}}'
        responders:
          - name: '{{{{ .CommonLabels.team }}}}'
            type: team
          - name: 'dba,sre'
            type: teams
          - username: oncall@example.com
            type: User
        tags: '{{{{ .CommonLabels.team }}}},disk, '
        note: 'see {{{{ .CommonAnnotations.runbook }}}}'
        priority: '{{{{ if eq .CommonLabels.severity "critical" }}}}P1{{{{ else }}}}P3{{{{ end }}}}'
        entity: '{{{{ .GroupLabels.alertname }}}}'
        actions: 'restart,check'
        update_alerts: true
"""

CONFIG = (
    """
global:  # Alertmanager's receiver defaults: both sides fill them into the receivers that leave them out
  smtp_from: tripwired@example.com
  smtp_smarthost: 127.0.0.1:{smtp_port}
  smtp_hello: tripwired.example
  smtp_require_tls: false
  opsgenie_api_url: {hook}/opsgenie-default/
  slack_api_url: {hook}/slack-default
templates: ['templates/*.tmpl']
route:
  receiver: oracle
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: oracle
    slack_configs:
      - send_resolved: true  # api_url from `global:`
"""
    + SLACK_CUSTOM
    + """
    pagerduty_configs:
      - routing_key: default-key
        url: {hook}/pagerduty-default
"""
    + PAGERDUTY_CUSTOM
    + """
    webhook_configs:
      - url: {hook}/webhook
"""
    + EMAIL_AND_OPSGENIE
)


@dataclass
class Oracle:
    """The running Alertmanager, the receiver its requests land on, and our side of the same config."""

    url: str
    hook: Receiver
    mails: list[Envelope]
    config: Config
    templates: NotifyTemplates
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Oracle]:
    tmp = tmp_path_factory.mktemp("alertmanager-templates")
    (tmp / "templates").mkdir()
    (tmp / "templates" / "custom.tmpl").write_text(CUSTOM_TEMPLATES)
    hook = Receiver().start()
    mails: list[Envelope] = []
    smtp = Controller(Capture(mails), hostname="127.0.0.1", port=free_port())
    smtp.start()
    text = CONFIG.format(hook=hook.url, smtp_port=smtp.port)
    ours = load_text(Config, text, str(tmp / "tripwired.yml"))
    try:
        with running_alertmanager(tmp, text, f"--web.external-url={EXTERNAL_URL}") as running:
            yield Oracle(running.url, hook, mails, ours, load_templates(ours.templates), running.process)
    finally:
        hook.stop()
        smtp.stop()


class Capture:
    """aiosmtpd handler keeping every message it is handed."""

    def __init__(self, mails: list[Envelope]) -> None:
        self.mails = mails

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd calls handle_DATA and auth_<MECHANISM> by these names
        self.mails.append(envelope)
        return "250 OK"


NOW = float(int(time.time()))


def alert(name: str, instance: str, *, resolved_at: float | None = None, **extra: str) -> Alert:
    """An alert as both sides see it: fixed start, our generator URL, labels in a stable order."""
    labels = labels_of({"alertname": name, "instance": instance, "severity": "critical", "team": "storage", **extra})
    return Alert(
        labels=labels,
        annotations=labels_of(summary=f"{name} on {instance}", runbook="http://runbooks.example/disk"),
        state=AlertState.FIRING if resolved_at is None else AlertState.INACTIVE,
        value=1.0,
        active_at=NOW - 120,
        starts_at=NOW - 60,
        ends_at=NOW + 3600 if resolved_at is None else resolved_at,
        resolved_at=resolved_at,
        generator_url=f"http://prometheus.example/graph?g0.expr=up&host={instance}",
        rule="",
        fingerprint=fingerprint(labels),
    )


def post(oracle: Oracle, alerts: list[Alert]) -> None:
    body = [
        {
            "labels": dict(a.labels),
            "annotations": dict(a.annotations),
            "startsAt": go_time(a.starts_at),
            "endsAt": go_time(a.ends_at),
            "generatorURL": a.generator_url,
        }
        for a in alerts
    ]
    httpx.post(f"{oracle.url}/api/v2/alerts", json=body, timeout=5).raise_for_status()


def wait_for(arrived: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = arrived()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("Alertmanager sent nothing in time")


# What tells each receiver's message about the mixed group, sent after db1 resolved, from the earlier one.
AFTER_RESOLVE = {
    "/slack-default": "[FIRING:1] OracleMixed",
    "/slack-custom": "resolved: db1",
    "/pagerduty-default": '"num_resolved":"1"',
    "/pagerduty-custom": "OracleMixed on 1 host(s)",
    "/webhook": '"status":"resolved"',
}


def theirs(oracle: Oracle, path: str, name: str, expected: dict[str, Any]) -> dict[str, Any]:
    """The last body Alertmanager posted to path about the group (for the mixed group: after the resolve).

    With group_wait 0 Alertmanager may flush a group before the second alert of the same POST
    joins it, and send the whole group a group_interval later: so wait a while for a body equal
    to `expected`, and hand back the last one either way (the assertion then shows the difference).
    """
    marker = AFTER_RESOLVE[path] if name == "OracleMixed" else name

    def last() -> dict[str, Any] | None:
        for request in reversed(oracle.hook.requests):
            text = request.body.decode()
            if request.path == path and name in text and marker in text:
                return dict(request.json())
        return None

    with contextlib.suppress(AssertionError):
        wait_for(lambda: last() == expected, timeout=10)
    return dict(wait_for(last))


def notification(name: str, alerts: list[Alert]) -> Notification:
    """Our notification of the group, alerts in Alertmanager's order (by instance here)."""
    return Notification(
        receiver=RECEIVER,
        group_key=f'{{}}:{{alertname="{name}"}}',
        group_labels=labels_of(alertname=name),
        alerts=tuple(sorted(alerts, key=lambda a: dict(a.labels)["instance"])),
        created_at=NOW,
    )


@pytest.fixture(scope="module")
def firing_group(oracle: Oracle) -> list[Alert]:
    alerts = [alert("OracleDisk", "db1"), alert("OracleDisk", "db2", extra="x")]
    post(oracle, alerts)
    return alerts


@pytest.fixture(scope="module")
def mixed_group(oracle: Oracle) -> list[Alert]:
    """A group that fired with two alerts, then one of them resolved: firing and resolved in one message."""
    alerts = [alert("OracleMixed", "db1"), alert("OracleMixed", "db2")]
    post(oracle, alerts)
    wait_for(lambda: any(r.path == "/webhook" and b"OracleMixed" in r.body for r in oracle.hook.requests))
    alerts[0] = alert("OracleMixed", "db1", resolved_at=float(int(time.time())))
    post(oracle, alerts[:1])
    return alerts


GROUPS = ["firing_group", "mixed_group"]


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("index", [0, 1], ids=["defaults", "custom"])
def test_slack_message_matches(oracle: Oracle, group: str, index: int, request: pytest.FixtureRequest) -> None:
    alerts: list[Alert] = request.getfixturevalue(group)
    name = dict(alerts[0].labels)["alertname"]
    path = ["/slack-default", "/slack-custom"][index]
    config = oracle.config.receivers[0].slack_configs[index]
    ours = slack_message(notification(name, alerts), alerts, EXTERNAL_URL, config, oracle.templates)
    assert theirs(oracle, path, name, ours) == ours


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("index", [0, 1], ids=["defaults", "custom"])
def test_pagerduty_event_matches(oracle: Oracle, group: str, index: int, request: pytest.FixtureRequest) -> None:
    """dedup_key included: both hash the group key (`{}:{alertname="..."}` under the root route)."""
    alerts: list[Alert] = request.getfixturevalue(group)
    name = dict(alerts[0].labels)["alertname"]
    path = ["/pagerduty-default", "/pagerduty-custom"][index]
    config = oracle.config.receivers[0].pagerduty_configs[index]
    ours = event(notification(name, alerts), alerts, config, external_url=EXTERNAL_URL, templates=oracle.templates)
    assert theirs(oracle, path, name, ours) == ours


@pytest.mark.parametrize("group", GROUPS)
def test_webhook_payload_matches(oracle: Oracle, group: str, request: pytest.FixtureRequest) -> None:
    alerts: list[Alert] = request.getfixturevalue(group)
    name = dict(alerts[0].labels)["alertname"]
    ours = webhook_message(notification(name, alerts), list(notification(name, alerts).alerts), EXTERNAL_URL)
    body = theirs(oracle, "/webhook", name, ours)
    assert body == ours


def test_template_files_are_loaded_relative_to_the_config(oracle: Oracle) -> None:
    assert [str(Path(oracle.config.templates[0]).parent.name)] == ["templates"]


@pytest.fixture(scope="module")
def resolved_group(oracle: Oracle) -> list[Alert]:
    """A group that fired, then resolved as a whole: Opsgenie closes its alert."""
    alerts = [alert("OracleClose", "db1")]
    post(oracle, alerts)
    wait_for(lambda: any(r.path == "/webhook" and b"OracleClose" in r.body for r in oracle.hook.requests))
    alerts = [alert("OracleClose", "db1", resolved_at=float(int(time.time())))]
    post(oracle, alerts)
    return alerts


def opsgenie_calls(oracle: Oracle, prefix: str, name: str, marker: str, count: int) -> list[tuple[str, str, Any]]:
    """Alertmanager's last `count` calls under prefix about the group's alias, once `marker` was sent."""
    alias = hashlib.sha256(f'{{}}:{{alertname="{name}"}}'.encode()).hexdigest()

    def calls() -> list[tuple[str, str, Any]] | None:
        mine = [r for r in oracle.hook.requests if r.path.startswith(prefix) and alias in r.path + r.body.decode()]
        if not any(marker in r.path + r.body.decode() for r in mine[-count:]):
            return None
        return [(r.method, r.path.removeprefix(prefix), r.json()) for r in mine[-count:]]

    return list(wait_for(calls))


OPSGENIE_MARKERS = {"firing_group": "OracleDisk", "mixed_group": "resolved", "resolved_group": "/close"}


@pytest.mark.parametrize("group", [*GROUPS, "resolved_group"])
@pytest.mark.parametrize("index", [0, 1], ids=["defaults", "custom"])
def test_opsgenie_calls_match(oracle: Oracle, group: str, index: int, request: pytest.FixtureRequest) -> None:
    """Create (and with update_alerts, update message and description) while firing; close by alias after."""
    alerts: list[Alert] = request.getfixturevalue(group)
    name = dict(alerts[0].labels)["alertname"]
    config = oracle.config.receivers[0].opsgenie_configs[index]
    note = notification(name, alerts)
    ours = [
        (c.method, "/" + c.path, c.body)
        for c in opsgenie_requests(note, note.alerts, config, external_url=EXTERNAL_URL, templates=oracle.templates)
    ]
    prefix = ["/opsgenie-default", "/opsgenie-custom"][index]
    marker = "Alerts Resolved" if group == "mixed_group" and index == 0 else OPSGENIE_MARKERS[group]
    if group == "mixed_group" and index == 1:
        marker = "resolved: db1"
    assert opsgenie_calls(oracle, prefix, name, marker, len(ours)) == ours


def test_opsgenie_key_is_sent_as_geniekey(oracle: Oracle, firing_group: list[Alert]) -> None:
    opsgenie_calls(oracle, "/opsgenie-custom", "OracleDisk", "OracleDisk", 1)
    headers = [r.headers for r in oracle.hook.requests if r.path.startswith("/opsgenie-custom")]
    assert {"GenieKey custom-key"} == {h["Authorization"] for h in headers}


EMAIL_MARKERS = {"firing_group": "OracleDisk", "mixed_group": "[FIRING:1] OracleMixed", "resolved_group": "RESOLVED"}


def mail_fields(raw: bytes) -> dict[str, Any]:
    """A message as a reader sees it: its headers (decoded) and each part's type and decoded text.

    Set aside: Message-Id and Date (a clock and a random number) and the multipart boundary.
    """
    message = email.message_from_bytes(raw, policy=email.policy.default)
    headers = {k: str(v) for k, v in message.items() if k not in ("Message-Id", "Date", "Content-Type")}
    parts = [
        (part.get_content_type(), part["Content-Transfer-Encoding"], part.get_payload(decode=True).decode())
        for part in message.iter_parts()
    ]
    return {"headers": headers, "content_type": message.get_content_type(), "parts": parts}


@pytest.mark.parametrize("group", [*GROUPS, "resolved_group"])
@pytest.mark.parametrize("index", [0, 1], ids=["defaults", "custom"])
def test_email_matches(oracle: Oracle, group: str, index: int, request: pytest.FixtureRequest) -> None:
    """Envelope, headers and both bodies; the HTML escaped as html/template escapes it."""
    alerts: list[Alert] = request.getfixturevalue(group)
    name = dict(alerts[0].labels)["alertname"]
    config = oracle.config.receivers[0].email_configs[index]
    note = notification(name, alerts)
    rendered = render(note, note.alerts, config, external_url=EXTERNAL_URL, templates=oracle.templates)
    ours = mime_message(rendered, hostname="tripwired.example", now=NOW)
    marker = "resolved: db1" if group == "mixed_group" and index == 1 else EMAIL_MARKERS[group]
    recipients = len(rendered.recipients)

    def theirs() -> Envelope | None:
        for mail in reversed(oracle.mails):
            content = mail_fields(mail.content or b"")
            text = str(content)
            if len(mail.rcpt_tos) == recipients and name in text and marker in text:
                return mail
        return None

    mail = wait_for(theirs)
    assert (mail.mail_from, mail.rcpt_tos, mail_fields(mail.content)) == (
        rendered.sender,
        list(rendered.recipients),
        mail_fields(ours),
    )
