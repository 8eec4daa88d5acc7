"""awesome-prometheus-alerts' target rules (`up == 0`, `absent(up{job=...})`) against a daemon whose collectors fail.

The daemon reads two Kafka clusters under the default job "kafka": "orders" on a real broker of
the test's own, "billing" at a port where nothing listens. The rules are the first three of
embedded-exporter.yml, as a user loads them (tests/data/awesome-prometheus-alerts/).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scripts import kafka_broker
from tests.conftest import REPO, DaemonProcess, StartDaemon, free_port, wait_until
from tests.receiver import Receiver

RULES = REPO / "tests" / "data" / "awesome-prometheus-alerts" / "embedded-exporter-targets.yml"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[kafka_broker.KafkaBroker]:
    """A one-node cluster of the test's own, which it stops."""
    with kafka_broker.running_broker(tmp_path) as running:
        yield running


def daemon_config(tmp_path: Path, hook: str, clusters: dict[str, str]) -> str:
    kafka = [{"name": name, "bootstrap_servers": servers, "interval": "1s"} for name, servers in clusters.items()]
    return (
        f"global: {{interval: 1s, evaluation_interval: 1s}}\nstate_dir: {tmp_path / 'state'}\n"
        f"rule_files: [{RULES}]\ncollectors:\n  host: {{enabled: false}}\n  kafka: {json.dumps(kafka)}\n"
        "route: {receiver: ops, group_by: [alertname, cluster], group_wait: 0s, group_interval: 1s}\n"
        f'receivers: [{{name: ops, webhook_configs: [{{url: "{hook}/"}}]}}]\n'
    )


def firing(daemon: DaemonProcess) -> list[tuple[str, dict[str, str]]]:
    """(alertname, labels) of every firing alert, sorted."""
    found: list[dict[str, Any]] = daemon.get("/api/v1/alerts").json()["data"]["alerts"]
    return sorted((a["labels"]["alertname"], a["labels"]) for a in found if a["state"] == "firing")


def notified(receiver: Receiver, name: str) -> list[dict[str, str]]:
    """The labels of each firing notification of alert `name` the webhook received."""
    alerts = [a for p in receiver.payloads for a in p["alerts"] if a["status"] == "firing"]
    return [a["labels"] for a in alerts if a["labels"]["alertname"] == name]


def test_target_rules_fire_for_a_kafka_collector_at_a_closed_port_then_for_the_whole_job(
    start_daemon: StartDaemon, tmp_path: Path, receiver: Receiver, broker: kafka_broker.KafkaBroker
) -> None:
    """A Kafka cluster configured at a port where no broker listens, then the other cluster's broker stopped
    PrometheusTargetMissing pages for the dead cluster's collector (with its job, instance and
    cluster), the job's other target being up, and /api/v1/targets shows it down; once that one
    is down too, PrometheusAllTargetsMissing pages for the job instead; a reload without Kafka
    collectors makes PrometheusJobMissing fire.
    """
    clusters = {"orders": broker.bootstrap_servers, "billing": f"127.0.0.1:{free_port()}"}
    daemon = start_daemon(daemon_config(tmp_path, receiver.url, clusters), "--web.enable-lifecycle")
    daemon.wait_ready()
    instance = f"127.0.0.1:{daemon.port}"

    wait_until(lambda: notified(receiver, "PrometheusTargetMissing"), "PrometheusTargetMissing paged")
    one_down = firing(daemon)
    targets = daemon.get("/api/v1/targets").json()["data"]["activeTargets"]
    broker.stop()
    wait_until(lambda: notified(receiver, "PrometheusAllTargetsMissing"), "PrometheusAllTargetsMissing paged")
    wait_until(lambda: "PrometheusTargetMissing" not in dict(firing(daemon)), "PrometheusTargetMissing resolved")
    all_down = firing(daemon)
    next(tmp_path.glob("config-*.yaml")).write_text(daemon_config(tmp_path, receiver.url, {}))
    assert 200 == httpx.post(f"{daemon.url}/-/reload", timeout=10).status_code
    wait_until(lambda: notified(receiver, "PrometheusJobMissing"), "PrometheusJobMissing paged")

    billing = {"cluster": "billing", "instance": instance, "job": "kafka", "severity": "critical"}
    assert [("PrometheusTargetMissing", {"alertname": "PrometheusTargetMissing", **billing})] == one_down
    kafka_targets = sorted(
        (t["labels"]["cluster"], t["health"], t["labels"]) for t in targets if t["scrapePool"] == "kafka"
    )
    assert [
        ("billing", "down", {"cluster": "billing", "instance": instance, "job": "kafka"}),
        ("orders", "up", {"cluster": "orders", "instance": instance, "job": "kafka"}),
    ] == kafka_targets
    job = {"alertname": "PrometheusAllTargetsMissing", "job": "kafka", "severity": "critical"}
    assert [("PrometheusAllTargetsMissing", job)] == all_down
    assert [{"alertname": "PrometheusJobMissing", "job": "kafka", "severity": "warning"}] == notified(
        receiver, "PrometheusJobMissing"
    )
