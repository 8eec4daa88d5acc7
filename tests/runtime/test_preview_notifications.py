"""`tripwired notify test --alerts FILE`: every receiver's rendered notifications, nothing sent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.receiver import Receiver

CONFIG = """
templates: ['templates/*.tmpl']
web: {{external_url: 'http://tripwired.example:9842'}}
route:
  receiver: team
  group_by: [alertname]
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      continue: true
    - matchers: ['alertname=~".+"']
      receiver: team
receivers:
  - name: team
    slack_configs:
      - api_url: {hook}/slack
        title: '{{{{ template "team.title" . }}}}'
    email_configs:
      - to: ops@example.com
        from: tripwired@example.com
        smarthost: 127.0.0.1:1
        text: '{{{{ range .Alerts.Firing }}}}{{{{ .Labels.instance }}}} {{{{ end }}}}'
        html: ''
  - name: pager
    pagerduty_configs:
      - routing_key: k
        url: {hook}/pd
        description: '{{{{ .CommonAnnotations.summary }}}}'
"""

ALERTS = """
- labels: {alertname: DiskFull, instance: db1, severity: critical}
  annotations: {summary: disk full on db1}
- labels: {alertname: DiskFull, instance: db2, severity: warning}
  annotations: {summary: disk full on db2}
  status: resolved
"""


def run(tmp_path: Path, hook: str, title: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "templates" / "team.tmpl").write_text(f'{{{{ define "team.title" }}}}{title}{{{{ end }}}}')
    (tmp_path / "tripwired.yaml").write_text(CONFIG.format(hook=hook))
    (tmp_path / "alerts.yaml").write_text(ALERTS)
    command = [sys.executable, "-m", "agent", "notify", "test", "--config", str(tmp_path / "tripwired.yaml")]
    command += ["--alerts", str(tmp_path / "alerts.yaml")]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def sections(output: str) -> dict[str, str]:
    """`# receiver R, kind/i, group G` headings -> what follows each."""
    found: dict[str, str] = {}
    for block in output.split("# receiver ")[1:]:
        heading, _, body = block.partition("\n")
        found[heading.split(", group")[0]] = body.strip()
    return found


def test_every_receiver_reached_is_rendered_and_nothing_is_sent(tmp_path: Path, receiver: Receiver) -> None:
    result = run(tmp_path, receiver.url, "{{ .Status | toUpper }} on {{ len .Alerts.Firing }}")
    shown = sections(result.stdout)
    assert (0, ["pager, pagerduty/0", "team, slack/0", "team, email/0"], []) == (
        result.returncode,
        list(shown),
        receiver.requests,
    )
    assert "FIRING on 1" == json.loads(shown["team, slack/0"])["attachments"][0]["title"]
    assert "disk full on db1" == json.loads(shown["pager, pagerduty/0"])["payload"]["summary"]
    assert "Subject: [FIRING:1] DiskFull (db1 critical)" in shown["team, email/0"]


def test_a_failing_template_exits_1_naming_receiver_integration_and_template(
    tmp_path: Path, receiver: Receiver
) -> None:
    result = run(tmp_path, receiver.url, "{{ .Alerts.Nope }}")
    assert (1, True) == (
        result.returncode,
        "receiver team, slack/0: template error: template '{{ template \"team.title\" . }}'" in result.stderr,
    ), result.stderr


def test_an_alerts_file_with_a_bad_status_is_a_usage_error(tmp_path: Path, receiver: Receiver) -> None:
    run(tmp_path, receiver.url, "x")
    (tmp_path / "alerts.yaml").write_text("alerts:\n  - labels: {alertname: A}\n    status: pending\n")
    command = [sys.executable, "-m", "agent", "notify", "test", "--config", str(tmp_path / "tripwired.yaml")]
    result = subprocess.run(
        [*command, "--alerts", str(tmp_path / "alerts.yaml")], capture_output=True, text=True, timeout=60, check=False
    )
    assert (2, True) == (result.returncode, "status 'pending'" in result.stderr), result.stderr
