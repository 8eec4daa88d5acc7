"""An HA pair of agents and a 2-node Alertmanager cluster: one notification per alert group, through faults.

Two `tripwired run` with the same rule and the same textfile, told apart by a `replica` external
label that `alert_relabel_configs` drops, both send to both nodes of a real Alertmanager cluster
(Debian's alertmanager, gossiping on loopback); a webhook behind the cluster counts what the on-call
engineer would get. Prometheus HA pairs work the same way.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import StartDaemon, free_port, require_binary, wait_for_http, wait_until
from tests.integration.test_alertmanager_real import CONFIG as AM_CONFIG  # webhook at /am-hook
from tests.receiver import Receiver

PEER_TIMEOUT_SECONDS = 2  # how long the second node waits for the first's notification before sending its own

RULES = """\
groups:
  - name: ha
    rules:
      - alert: IngestBacklogHigh
        expr: ha_backlog_messages > 100
"""


@dataclass
class Cluster:
    urls: list[str]
    processes: list[subprocess.Popen[bytes]]
    hook: Receiver


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    binary = require_binary("/usr/bin/prometheus-alertmanager", "prometheus-alertmanager")
    hook = Receiver().start()
    (tmp_path / "alertmanager.yml").write_text(AM_CONFIG.format(hook=hook.url))
    web, gossip = [free_port(), free_port()], [free_port(), free_port()]
    processes = []
    for node in range(2):
        log = (tmp_path / f"alertmanager-{node}.log").open("wb")
        processes.append(
            subprocess.Popen(
                [
                    binary,
                    f"--config.file={tmp_path / 'alertmanager.yml'}",
                    f"--storage.path={tmp_path / f'am-data-{node}'}",
                    f"--web.listen-address=127.0.0.1:{web[node]}",
                    f"--cluster.listen-address=127.0.0.1:{gossip[node]}",
                    f"--cluster.peer=127.0.0.1:{gossip[1 - node]}",
                    f"--cluster.peer-timeout={PEER_TIMEOUT_SECONDS}s",
                    "--cluster.gossip-interval=100ms",
                    "--cluster.pushpull-interval=1s",
                    "--cluster.settle-timeout=5s",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    urls = [f"http://127.0.0.1:{port}" for port in web]
    try:
        for url in urls:
            wait_for_http(f"{url}/-/ready", timeout=30)
        wait_until(lambda: all(_cluster_ready(url) for url in urls), "the two Alertmanagers to form a cluster")
        yield Cluster(urls, processes, hook)
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=10)
        hook.stop()


def _cluster_ready(url: str) -> bool:
    status = httpx.get(f"{url}/api/v2/status", timeout=5).json()["cluster"]
    return bool(status["status"] == "ready" and len(status["peers"]) == 2)


def agent_config(tmp_path: Path, replica: str, cluster: Cluster) -> str:
    targets = ", ".join(url.removeprefix("http://") for url in cluster.urls)
    return f"""\
global: {{interval: 1s, evaluation_interval: 1s, external_labels: {{replica: {replica}, site: lab}}}}
state_dir: {tmp_path / f"state-{replica}"}
collectors:
  host: {{enabled: false}}
  textfile: {{directory: {tmp_path / "textfile"}, instance: lab-ingest}}  # the same on both: one alert
rule_files: [{tmp_path / "rules.yaml"}]
alerting:
  alert_relabel_configs:
    - action: labeldrop
      regex: replica
  alertmanagers:
    - static_configs:
        - targets: [{targets}]
"""


def nflog_queries(url: str) -> float:
    """How often a node's notification pipeline looked up its log: once per flush that reached deduplication."""
    for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith("alertmanager_nflog_queries_total "):
            return float(line.split()[1])
    return 0.0


def set_backlog(tmp_path: Path, messages: int) -> None:
    aside = tmp_path / "textfile" / ".ha.prom.tmp"
    aside.write_text(f"ha_backlog_messages {messages}\n")
    os.replace(aside, tmp_path / "textfile" / "ha.prom")


def notifications(hook: Receiver) -> list[dict[str, Any]]:
    return [request.json() for request in hook.requests if request.path == "/am-hook"]


def test_an_agent_and_an_alertmanager_killed_mid_incident_still_give_one_page_and_one_resolve(
    tmp_path: Path, cluster: Cluster, start_daemon: StartDaemon
) -> None:
    """kill -9 of one agent of an HA pair and of one Alertmanager node while the alert fires.

    The webhook behind the cluster gets exactly one firing and one resolved notification, with
    the replica label gone and the other external labels kept.
    """
    (tmp_path / "textfile").mkdir()
    (tmp_path / "rules.yaml").write_text(RULES)
    set_backlog(tmp_path, 0)
    agents = [start_daemon(agent_config(tmp_path, replica, cluster)) for replica in ("a", "b")]
    for agent in agents:
        agent.wait_ready()

    set_backlog(tmp_path, 5000)
    wait_until(lambda: notifications(cluster.hook), "the firing notification")
    # Both agents posted to both nodes. Each node looks its notification log up once it has waited
    # its turn (the second one peer timeout), and sends unless the other one's entry is there.
    wait_until(lambda: all(nflog_queries(url) >= 1 for url in cluster.urls), "both nodes to decide")
    [fired] = notifications(cluster.hook)

    agents[0].proc.send_signal(signal.SIGKILL)
    cluster.processes[0].send_signal(signal.SIGKILL)
    agents[0].proc.wait(timeout=10)
    cluster.processes[0].wait(timeout=10)
    set_backlog(tmp_path, 0)
    wait_until(lambda: len(notifications(cluster.hook)) > 1, "the resolved notification", timeout=60)

    assert ["firing", "resolved"] == [n["status"] for n in notifications(cluster.hook)]
    for notification in notifications(cluster.hook):
        [alert] = notification["alerts"]
        target = {"instance": "lab-ingest", "job": "textfile"}  # the textfile collector's, the same on both
        assert {"alertname": "IngestBacklogHigh", "site": "lab", **target} == alert["labels"]
    assert fired["groupKey"] == notifications(cluster.hook)[1]["groupKey"]
