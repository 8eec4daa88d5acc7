"""Notification templates that go wrong: at load time, and at send time in a running daemon."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import StartDaemon, wait_until
from tests.faults.scraping import scrape, value
from tests.faults.test_outbox_faults import RULES, set_failed_jobs
from tests.receiver import Receiver


def config(tmp_path: Path, hook_url: str, slack_text: str, templates: str = "") -> str:
    (tmp_path / "textfile").mkdir(exist_ok=True)
    (tmp_path / "rules.yaml").write_text(RULES)
    return f"""
global: {{interval: 500ms, evaluation_interval: 500ms}}
state_dir: {tmp_path / "state"}
rule_files: [{tmp_path / "rules.yaml"}]
collectors:
  host: {{enabled: false}}
  textfile: {{directory: {tmp_path / "textfile"}}}
{templates}
route:
  receiver: jobs
  group_by: [alertname, batch]
  group_wait: 0s
  group_interval: 500ms
  repeat_interval: 4h
receivers:
  - name: jobs
    slack_configs:
      - api_url: "{hook_url}/slack"
        text: '{slack_text}'
    webhook_configs: [{{url: "{hook_url}/hook"}}]
"""


def test_a_template_failing_at_send_time_fails_that_notification_only(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """A Slack text template that parses but fails when run (`index` past the end of .Alerts).

    As in Alertmanager, that Slack notification fails without retries (give_up) and the failure
    is logged naming the integration and the template; the webhook of the same receiver still
    gets the alert, and the daemon keeps running.
    """
    receiver = Receiver().start()
    try:
        set_failed_jobs(tmp_path, set(), ["etl"])
        daemon = start_daemon(config(tmp_path, receiver.url, "{{ (index .Alerts 5).Labels.job }}"))
        daemon.wait_ready()
        set_failed_jobs(tmp_path, {"etl"}, ["etl"])
        wait_until(lambda: any(r.path == "/hook" for r in receiver.requests), what="the webhook notification")

        def gave_up() -> float:
            labels = {"receiver": "jobs", "integration": "slack/0", "outcome": "give_up"}
            return value(scrape(daemon), "tripwired_notifications_total", **labels) or 0.0

        wait_until(lambda: gave_up() >= 1, what="the Slack notification given up")
        failed = [line for line in daemon.log().splitlines() if '"event": "notify_template_failed"' in line]
        assert ([], 200) == (
            [r.path for r in receiver.requests if r.path == "/slack"],
            httpx.get(f"{daemon.url}/-/healthy", timeout=5).status_code,
        )
        assert '"integration": "slack"' in failed[0] and "index .Alerts 5" in failed[0]
    finally:
        receiver.stop()


def check(config_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", "config", "check", str(config_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_template_file_that_does_not_parse_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    """A `templates:` file calling an undefined function on its third line.

    `config check` exits 2 and names the file, the line and the column.
    """
    (tmp_path / "tmpl").mkdir()
    (tmp_path / "tmpl" / "bad.tmpl").write_text('{{ define "a" }}\nok\n{{ .Status | nosuch }}\n{{ end }}\n')
    path = tmp_path / "tripwired.yaml"
    path.write_text(config(tmp_path, "http://127.0.0.1:9", "x", templates="templates: ['tmpl/*.tmpl']"))
    result = check(path)
    assert (2, True) == (result.returncode, f"{tmp_path / 'tmpl' / 'bad.tmpl'}:3:" in result.stdout + result.stderr)


def test_a_field_template_that_does_not_parse_is_refused_naming_the_field(tmp_path: Path) -> None:
    """A Slack `text` that calls a function Alertmanager does not have (`humanize`).

    `config check` exits 2 and names the receiver, the integration and the field.
    """
    path = tmp_path / "tripwired.yaml"
    path.write_text(config(tmp_path, "http://127.0.0.1:9", "{{ 1 | humanize }}"))
    result = check(path)
    output = result.stdout + result.stderr
    assert (2, True, True) == (
        result.returncode,
        "receivers[0].slack_configs[0].text: template:" in output,
        'function "humanize" not defined' in output,
    ), output
