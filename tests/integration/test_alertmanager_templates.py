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

import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.config.load import load_text
from agent.config.schema import Config
from agent.model import Alert, AlertState, fingerprint, labels_of
from agent.notify.model import Notification
from agent.notify.pagerduty import event
from agent.notify.slack import slack_message
from agent.notify.template import NotifyTemplates, load_templates
from agent.notify.webhook import go_time, webhook_message
from tests.conftest import free_port, require_binary, wait_for_http
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

CONFIG = (
    """
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
      - api_url: {hook}/slack-default
        send_resolved: true
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
)


@dataclass
class Oracle:
    """The running Alertmanager, the receiver its requests land on, and our side of the same config."""

    url: str
    hook: Receiver
    config: Config
    templates: NotifyTemplates
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Oracle]:
    binary = require_binary("/usr/bin/prometheus-alertmanager", "prometheus-alertmanager")
    tmp = tmp_path_factory.mktemp("alertmanager-templates")
    (tmp / "templates").mkdir()
    (tmp / "templates" / "custom.tmpl").write_text(CUSTOM_TEMPLATES)
    hook = Receiver().start()
    text = CONFIG.format(hook=hook.url)
    (tmp / "alertmanager.yml").write_text(text)
    ours = load_text(Config, text, str(tmp / "tripwired.yml"))
    port = free_port()
    log = (tmp / "alertmanager.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp / 'alertmanager.yml'}",
            f"--storage.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.external-url={EXTERNAL_URL}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/-/ready", timeout=20)
        yield Oracle(f"http://127.0.0.1:{port}", hook, ours, load_templates(ours.templates), process)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
        hook.stop()


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


def theirs(oracle: Oracle, path: str, name: str) -> dict[str, Any]:
    """The last body Alertmanager posted to path about the group (for the mixed group: after the resolve)."""
    marker = AFTER_RESOLVE[path] if name == "OracleMixed" else name

    def last() -> dict[str, Any] | None:
        for request in reversed(oracle.hook.requests):
            text = request.body.decode()
            if request.path == path and name in text and marker in text:
                return dict(request.json())
        return None

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
    assert theirs(oracle, path, name) == ours


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("index", [0, 1], ids=["defaults", "custom"])
def test_pagerduty_event_matches(oracle: Oracle, group: str, index: int, request: pytest.FixtureRequest) -> None:
    """dedup_key included: both hash the group key (`{}:{alertname="..."}` under the root route)."""
    alerts: list[Alert] = request.getfixturevalue(group)
    name = dict(alerts[0].labels)["alertname"]
    path = ["/pagerduty-default", "/pagerduty-custom"][index]
    config = oracle.config.receivers[0].pagerduty_configs[index]
    ours = event(notification(name, alerts), alerts, config, external_url=EXTERNAL_URL, templates=oracle.templates)
    assert theirs(oracle, path, name) == ours


@pytest.mark.parametrize("group", GROUPS)
def test_webhook_payload_matches(oracle: Oracle, group: str, request: pytest.FixtureRequest) -> None:
    alerts: list[Alert] = request.getfixturevalue(group)
    name = dict(alerts[0].labels)["alertname"]
    ours = webhook_message(notification(name, alerts), list(notification(name, alerts).alerts), EXTERNAL_URL)
    body = theirs(oracle, "/webhook", name)
    assert body == ours


def test_template_files_are_loaded_relative_to_the_config(oracle: Oracle) -> None:
    assert [str(Path(oracle.config.templates[0]).parent.name)] == ["templates"]
