"""Notifications from a running daemon to a real HTTP receiver: grouping, silences, kill -9."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx

from tests.conftest import StartDaemon, free_port, run_cli, wait_until
from tests.receiver import Receiver, webhook_receiver

RULES = """
groups:
  - name: pipeline
    interval: 1s
    rules:
      - alert: PartitionSilent
        expr: partition_ingest_ok == 0
        labels: {severity: page}
        annotations: {summary: "partition {{ $labels.partition }} of {{ $labels.topic }} is silent"}
"""


def config(tmp_path: Path, hook_url: str) -> str:
    (tmp_path / "textfile").mkdir(exist_ok=True)
    (tmp_path / "rules.yaml").write_text(RULES)
    return f"""
global: {{interval: 1s, evaluation_interval: 1s}}
state_dir: {tmp_path / "state"}
rule_files: [{tmp_path / "rules.yaml"}]
collectors:
  host: {{enabled: false}}
  textfile: {{directory: {tmp_path / "textfile"}}}
route:
  receiver: pipeline-team
  group_by: [alertname, topic]
  group_wait: 0s
  group_interval: 1s
receivers:
  - name: pipeline-team
    webhook_configs: [{{url: "{hook_url}"}}]
"""


def write_partitions(tmp_path: Path, silent: range, total: int = 200) -> None:
    lines = [f'partition_ingest_ok{{topic="orders",partition="{p}"}} {0 if p in silent else 1}' for p in range(total)]
    (tmp_path / "textfile").mkdir(exist_ok=True)
    tmp = tmp_path / "textfile" / ".partitions.tmp"
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, tmp_path / "textfile" / "partitions.prom")


def test_two_hundred_silent_partitions_give_one_notification_then_one_resolved(
    start_daemon: StartDaemon, receiver: Receiver, tmp_path: Path
) -> None:
    write_partitions(tmp_path, silent=range(0))
    daemon = start_daemon(config(tmp_path, receiver.url))
    daemon.wait_ready()
    write_partitions(tmp_path, silent=range(200))
    wait_until(
        lambda: any(x["status"] == "firing" and len(x["alerts"]) == 200 for x in receiver.payloads),
        "one firing notification with all 200 alerts",
    )
    write_partitions(tmp_path, silent=range(0))
    wait_until(lambda: any(x["status"] == "resolved" for x in receiver.payloads), "a resolved notification")
    time.sleep(2)  # a few more group intervals: nothing else may arrive
    statuses = [(x["status"], len(x["alerts"])) for x in receiver.payloads]
    # The 200 alerts become firing within one evaluation, but the textfile watch may split them
    # across two evaluations; whatever the split, the group's last firing message holds all 200.
    assert statuses[-1] == ("resolved", 200)
    assert statuses.count(("resolved", 200)) == 1
    assert all(status == "firing" for status, _ in statuses[:-1])
    first = receiver.payloads[0]
    assert first["version"] == "4"
    assert first["receiver"] == "pipeline-team"
    assert first["groupLabels"] == {"alertname": "PartitionSilent", "topic": "orders"}
    assert first["commonLabels"]["severity"] == "page"


def test_a_silence_added_with_the_cli_stops_notifications(
    start_daemon: StartDaemon, receiver: Receiver, tmp_path: Path
) -> None:
    write_partitions(tmp_path, silent=range(0), total=2)
    daemon = start_daemon(config(tmp_path, receiver.url))
    daemon.wait_ready()
    added = run_cli(
        "silence",
        "add",
        f"--web.listen-address=127.0.0.1:{daemon.port}",
        "alertname=PartitionSilent",
        'partition="1"',
        "--duration=1h",
        "--comment=maintenance",
    )
    assert added.returncode == 0, added.stderr
    silence_id = added.stdout.strip()
    listed = run_cli("silence", "list", f"--web.listen-address=127.0.0.1:{daemon.port}")
    assert silence_id in listed.stdout
    assert "active" in listed.stdout
    write_partitions(tmp_path, silent=range(2), total=2)
    wait_until(lambda: receiver.payloads, "a notification")
    time.sleep(2)  # two more group intervals: the silenced partition must not be sent in them
    partitions = {a["labels"]["partition"] for p in receiver.payloads for a in p["alerts"]}
    assert partitions == {"0"}
    expired = run_cli("silence", "expire", f"--web.listen-address=127.0.0.1:{daemon.port}", silence_id)
    assert expired.returncode == 0, expired.stderr
    wait_until(
        lambda: {a["labels"]["partition"] for x in receiver.payloads for a in x["alerts"]} == {"0", "1"},
        "notifications for partitions 0 and 1",
    )


def test_kill_9_while_the_receiver_is_down_loses_nothing_and_sends_once(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    port = free_port()  # nothing listens yet: connection refused
    write_partitions(tmp_path, silent=range(0), total=3)
    first = start_daemon(config(tmp_path, f"http://127.0.0.1:{port}/hook"))
    first.wait_ready()
    write_partitions(tmp_path, silent=range(3), total=3)
    deadline = time.monotonic() + 20
    while "notification_enqueued" not in first.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "notification_enqueued" in first.log()
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()
    receiver = webhook_receiver(port)
    try:
        # Restarted on the same address: the alert's `instance` label is the agent's (a new port is a new target).
        (tmp_path / f"config-{first.port}.yaml").write_text(config(tmp_path, receiver.url))
        first.restart()
        first.wait_ready()
        wait_until(lambda: receiver.payloads, "a notification after the restart")
        time.sleep(3)  # retries and re-evaluations: still one message
        firing = [p for p in receiver.payloads if p["status"] == "firing"]
        assert len(firing) == 1
        assert sorted(a["labels"]["partition"] for a in firing[0]["alerts"]) == ["0", "1", "2"]
    finally:
        receiver.close()


def test_notify_test_sends_a_marked_notification_to_every_integration(receiver: Receiver, tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(config(tmp_path, receiver.url))
    result = run_cli("notify", "test", f"--config={cfg}", "--receiver=pipeline-team")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "pipeline-team webhook/0: delivered\n"
    (alert,) = receiver.payloads[0]["alerts"]
    assert alert["labels"]["alertname"] == "TripwiredTestNotification"


def test_notify_test_names_an_unknown_receiver(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(config(tmp_path, "http://127.0.0.1:9/hook"))
    result = run_cli("notify", "test", f"--config={cfg}", "--receiver=nobody")
    assert (result.returncode, result.stdout) == (2, "no receiver named 'nobody' (configured: pipeline-team)\n")


def test_every_notification_link_opens_the_query_page_on_the_default_config(
    start_daemon: StartDaemon, receiver: Receiver, tmp_path: Path
) -> None:
    """The alert's generatorURL reaches this daemon's /graph with the rule's expression, no external_url set."""
    write_partitions(tmp_path, silent=range(1), total=2)
    daemon = start_daemon(config(tmp_path, receiver.url))
    daemon.wait_ready()
    wait_until(lambda: receiver.payloads, "a notification")
    link = receiver.payloads[0]["alerts"][0]["generatorURL"]
    assert link.startswith(f"http://127.0.0.1:{daemon.port}/graph?g0.expr=")
    page = httpx.get(link, timeout=10)
    assert page.status_code == 200
    assert "partition_ingest_ok == 0</textarea>" in page.text
    target = f"instance=&#34;127.0.0.1:{daemon.port}&#34;, job=&#34;textfile&#34;"  # the textfile collector's
    assert f"partition_ingest_ok{{{target}, partition=&#34;0&#34;, topic=&#34;orders&#34;}}" in page.text


def test_under_a_route_prefix_every_endpoint_and_link_moves_with_it(
    start_daemon: StartDaemon, receiver: Receiver, tmp_path: Path
) -> None:
    """--web.route-prefix=/tripwired: as behind a proxy at a path; pages, assets and alert links all work there."""
    write_partitions(tmp_path, silent=range(1), total=2)
    daemon = start_daemon(config(tmp_path, receiver.url), "--web.route-prefix=/tripwired", prefix="/tripwired")
    daemon.wait_ready()
    root = f"http://127.0.0.1:{daemon.port}"
    assert httpx.get(f"{root}/-/ready", timeout=10).status_code == 404
    bare = httpx.get(f"{root}/tripwired", timeout=10)
    assert (bare.status_code, bare.headers["location"]) == (302, "/tripwired/")
    page = daemon.get("/").text
    assert 'href="/tripwired/static/status.css"' in page and 'href="/tripwired/graph"' in page
    assert daemon.get("/static/status.css").status_code == 200
    wait_until(lambda: receiver.payloads, "a notification")
    link = receiver.payloads[0]["alerts"][0]["generatorURL"]
    assert link.startswith(f"{root}/tripwired/graph?g0.expr=")
    graph = httpx.get(link, timeout=10)
    assert graph.status_code == 200 and 'action="/tripwired/graph"' in graph.text
