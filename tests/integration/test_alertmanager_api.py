"""Alertmanager's API v2 on a running daemon, spoken by Debian's real amtool and a real Prometheus 2.42."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import StartDaemon, require_binary, wait_until
from tests.prometheus_peer import running_prometheus
from tests.receiver import Receiver


def config(tmp_path: Path, hook_url: str) -> str:
    (tmp_path / "textfile").mkdir(exist_ok=True)
    return f"""
global: {{interval: 1s, evaluation_interval: 1s}}
state_dir: {tmp_path / "state"}
collectors:
  host: {{enabled: false}}
  textfile: {{directory: {tmp_path / "textfile"}}}
route:
  receiver: pipeline-team
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  routes:
    - matchers: [team="db"]
      receiver: db-team
receivers:
  - name: pipeline-team
    webhook_configs: [{{url: "{hook_url}/pipeline"}}]
  - name: db-team
    webhook_configs: [{{url: "{hook_url}/db"}}]
    slack_configs: [{{api_url: "{hook_url}/slack/T000/very-secret", channel: "#db"}}]
inhibit_rules:
  - source_matchers: [alertname="WarehouseDown"]
    target_matchers: [alertname="TableStale"]
    equal: [warehouse]
"""


def amtool(port: int, *args: str) -> str:
    binary = require_binary("amtool", "prometheus-alertmanager")
    done = subprocess.run(
        [binary, f"--alertmanager.url=http://127.0.0.1:{port}", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": os.environ.get("HOME", "/tmp")},
    )
    assert done.returncode == 0, f"amtool {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


def get(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return json.loads(response.read())


def write_atomically(path: Path, text: str) -> None:
    """As a textfile producer must: the collector never reads a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def notified(receiver: Receiver, path: str, alertname: str) -> list[str]:
    """The statuses the receiver at `path` heard for an alert name, in order."""
    return [
        alert["status"]
        for request in receiver.requests
        if request.path == path
        for alert in request.json()["alerts"]
        if alert["labels"]["alertname"] == alertname
    ]


def test_amtool_adds_queries_and_resolves_alerts_through_our_routes(
    start_daemon: StartDaemon, receiver: Receiver, tmp_path: Path
) -> None:
    """amtool posts alerts; they are routed, grouped and inhibited as the config says, and listed back."""
    daemon = start_daemon(config(tmp_path, receiver.url))
    daemon.wait_ready()
    port = daemon.port

    amtool(port, "alert", "add", "alertname=WarehouseDown", "warehouse=lake", "team=db", "--annotation=summary=down")
    amtool(port, "alert", "add", "alertname=TableStale", "warehouse=lake", "table=orders")
    amtool(port, "alert", "add", "alertname=TableStale", "warehouse=sea", "table=users")
    wait_until(lambda: notified(receiver, "/db", "WarehouseDown") == ["firing"], "WarehouseDown paged to db-team")
    wait_until(lambda: "firing" in notified(receiver, "/pipeline", "TableStale"), "TableStale paged to pipeline-team")

    alerts = {
        a["labels"].get("warehouse", "") + "/" + a["labels"]["alertname"]: a
        for a in json.loads(amtool(port, "alert", "query", "--active", "--inhibited", "--silenced", "-o", "json"))
    }
    assert set(alerts) == {"lake/WarehouseDown", "lake/TableStale", "sea/TableStale"}
    down, lake, sea = alerts["lake/WarehouseDown"], alerts["lake/TableStale"], alerts["sea/TableStale"]
    assert [r["name"] for r in down["receivers"]] == ["db-team"]
    assert down["annotations"] == {"summary": "down"}
    assert lake["status"] == {"state": "suppressed", "inhibitedBy": [down["fingerprint"]], "silencedBy": []}
    assert sea["status"]["state"] == "active"
    # The inhibited alert never reached its receiver; the other one of its group did.
    pages = [a for r in receiver.requests if r.path == "/pipeline" for a in r.json()["alerts"]]
    assert {a["labels"]["warehouse"] for a in pages} == {"sea"}

    # Without --inhibited, amtool's default, the inhibited alert is not listed.
    listed = amtool(port, "alert", "query", "-o", "simple")
    assert "TableStale" in listed and "WarehouseDown" in listed
    assert len(json.loads(amtool(port, "alert", "query", "-o", "json"))) == 2

    groups = get(port, "/api/v2/alerts/groups")
    assert sorted((g["receiver"]["name"], g["labels"]["alertname"], len(g["alerts"])) for g in groups) == [
        ("db-team", "WarehouseDown", 1),
        ("pipeline-team", "TableStale", 2),
    ]

    # An alert posted with an end in the past is resolved, and the receiver hears so.
    amtool(port, "alert", "add", "alertname=WarehouseDown", "warehouse=lake", "team=db", "--end=2020-01-01T00:00:00Z")
    wait_until(
        lambda: notified(receiver, "/db", "WarehouseDown") == ["firing", "resolved"], "WarehouseDown resolved once"
    )
    names = {a["labels"]["alertname"] for a in json.loads(amtool(port, "alert", "query", "-o", "json"))}
    assert "WarehouseDown" not in names


def test_amtool_silences_share_one_store_with_the_agents_own_api(
    start_daemon: StartDaemon, receiver: Receiver, tmp_path: Path
) -> None:
    """A silence made with amtool mutes the alert, shows in /api/v1/silences, and amtool expires it."""
    daemon = start_daemon(config(tmp_path, receiver.url))
    daemon.wait_ready()
    port = daemon.port

    silence_id = amtool(port, "silence", "add", "alertname=NightlyLoad", "--comment=maintenance", "-a", "ops").strip()
    assert amtool(port, "silence", "query", "-q").split() == [silence_id]
    assert [s["id"] for s in get(port, "/api/v1/silences")["data"]] == [silence_id]
    assert get(port, f"/api/v2/silence/{silence_id}")["comment"] == "maintenance"

    amtool(port, "alert", "add", "alertname=NightlyLoad", "job=etl")
    wait_until(lambda: amtool(port, "alert", "query", "--silenced", "-o", "json") != "[]\n", "the alert listed")
    [alert] = json.loads(amtool(port, "alert", "query", "--silenced", "-o", "json"))
    assert alert["status"] == {"state": "suppressed", "inhibitedBy": [], "silencedBy": [silence_id]}

    amtool(port, "silence", "expire", silence_id)
    assert amtool(port, "silence", "query", "-q") == ""
    assert silence_id in amtool(port, "silence", "query", "--expired", "-q").split()
    amtool(port, "alert", "add", "alertname=NightlyLoad", "job=etl")
    wait_until(lambda: notified(receiver, "/pipeline", "NightlyLoad") == ["firing"], "NightlyLoad paged once unmuted")
    # While it was silenced, nothing was sent.
    assert len([r for r in receiver.requests if "NightlyLoad" in r.body.decode()]) == 1


def test_amtool_reads_the_status_with_secrets_hidden(
    start_daemon: StartDaemon, receiver: Receiver, tmp_path: Path
) -> None:
    """amtool's config and routes commands read /api/v2/status; the Slack URL is never shown."""
    config_file = tmp_path / "tripwired.yaml"
    config_file.write_text(config(tmp_path, receiver.url))
    daemon = start_daemon(config_file.read_text())
    daemon.wait_ready()

    shown = amtool(daemon.port, "config", "show")
    assert "receiver: pipeline-team" in shown
    assert "very-secret" not in shown and "/slack/" not in shown
    routes = amtool(daemon.port, "config", "routes", "show")
    assert "db-team" in routes
    assert "db-team" in amtool(daemon.port, "config", "routes", "test", "team=db")
    receivers = {r["name"] for r in get(daemon.port, "/api/v2/receivers")}
    assert receivers == {"pipeline-team", "db-team"}


def test_a_real_prometheus_pages_through_our_routes_and_resolves(
    start_daemon: StartDaemon, receiver: Receiver, tmp_path: Path
) -> None:
    """Prometheus 2.42 with tripwired as its Alertmanager: its alert reaches our receiver, then resolves."""
    daemon = start_daemon(config(tmp_path, receiver.url))
    daemon.wait_ready()
    textfile = tmp_path / "textfile" / "feature.prom"
    write_atomically(textfile, "feature_ok 1\n")
    (tmp_path / "rules.yml").write_text(
        "groups:\n  - name: feature\n    rules:\n"
        "      - alert: FeatureBroken\n        expr: feature_ok == 0\n        labels: {team: db}\n"
    )
    prometheus_config = (
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: [{tmp_path / 'rules.yml'}]\n"
        "alerting:\n  alertmanagers:\n"
        f"    - api_version: v2\n      static_configs: [{{targets: ['127.0.0.1:{daemon.port}']}}]\n"
        f"scrape_configs:\n  - job_name: agent\n    static_configs: [{{targets: ['127.0.0.1:{daemon.port}']}}]\n"
    )
    with running_prometheus(tmp_path, prometheus_config, "--rules.alert.resend-delay=1s"):
        write_atomically(textfile, "feature_ok 0\n")
        wait_until(lambda: notified(receiver, "/db", "FeatureBroken") == ["firing"], "FeatureBroken paged", 90)
        write_atomically(textfile, "feature_ok 1\n")
        wait_until(
            lambda: notified(receiver, "/db", "FeatureBroken")[-1:] == ["resolved"], "FeatureBroken resolved", 90
        )
    statuses = notified(receiver, "/db", "FeatureBroken")
    assert statuses == ["firing", "resolved"], statuses  # no repeat, no false resolve in between
    [page] = [a for r in receiver.requests if r.path == "/db" for a in r.json()["alerts"]][:1]
    assert page["labels"] == {
        "alertname": "FeatureBroken",
        "team": "db",
        "job": "agent",
        "instance": f"127.0.0.1:{daemon.port}",
    }
    assert page["generatorURL"].startswith("http://")
