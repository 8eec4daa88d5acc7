"""The Kafka canary in a running daemon when the canary topic's leader goes away, for real."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts import kafka_broker
from tests.conftest import DaemonProcess, StartDaemon, poll, scraped_value

CLUSTER = "spare"
# KafkaCanaryFailing of agent/packs/kafka.yaml with a `for` of seconds instead of a minute.
CANARY_RULES = """
groups:
  - name: kafka-canary
    interval: 1s
    rules:
      - alert: KafkaCanaryFailing
        expr: kafka_canary_up == 0
        for: 2s
        labels: {severity: critical}
"""


@pytest.fixture
def spare_broker(tmp_path: Path) -> Iterator[kafka_broker.KafkaBroker]:
    """A one-node cluster of the test's own: its only broker leads every partition of the canary topic."""
    with kafka_broker.running_broker(tmp_path) as broker:
        yield broker


def canary_daemon_config(tmp_path: Path, bootstrap: str) -> str:
    (tmp_path / "rules.yaml").write_text(CANARY_RULES)
    kafka = {
        "name": CLUSTER,
        "bootstrap_servers": bootstrap,
        "interval": "1s",
        "canary": {"enabled": True, "interval": "2s", "timeout": "1s"},
    }
    return (
        f"global: {{interval: 1s, evaluation_interval: 1s}}\nstate_dir: {tmp_path / 'state'}\n"
        f"rule_files: [{tmp_path / 'rules.yaml'}]\n"
        f"collectors:\n  host: {{enabled: false}}\n  kafka: [{json.dumps(kafka)}]\n"
    )


def scraped(daemon: DaemonProcess, name: str, **labels: str) -> float | None:
    return scraped_value(daemon, name, {"cluster": CLUSTER, **labels})


def firing(daemon: DaemonProcess) -> list[str]:
    alerts: list[dict[str, Any]] = daemon.get("/api/v1/alerts").json()["data"]["alerts"]
    return sorted(a["labels"]["alertname"] for a in alerts if a["state"] == "firing")


def test_canary_alert_fires_while_the_canary_topic_leader_is_down_and_resolves_when_it_is_back(
    start_daemon: StartDaemon, spare_broker: kafka_broker.KafkaBroker, tmp_path: Path
) -> None:
    """The only broker of a cluster, leader of every canary partition, stops under a running daemon.

    The canary's produce failures rise, KafkaCanaryFailing fires, and once the broker is back the
    canary round-trips again and the alert resolves; the daemon keeps running throughout.
    """
    daemon = start_daemon(canary_daemon_config(tmp_path, spare_broker.bootstrap_servers))
    daemon.wait_ready()
    up = [poll(lambda: scraped(daemon, "kafka_canary_up"), lambda v: v == 1.0, "canary up", daemon, 30.0)]
    roundtrips = scraped(daemon, "kafka_canary_roundtrip_latency_seconds_count", partition="0")
    failed_before = scraped(daemon, "kafka_canary_messages_produced_failed_total", partition="0")

    spare_broker.stop()
    poll(lambda: firing(daemon), lambda names: "KafkaCanaryFailing" in names, "KafkaCanaryFailing", daemon, 30.0)
    up.append(scraped(daemon, "kafka_canary_up"))
    failed_during = scraped(daemon, "kafka_canary_messages_produced_failed_total", partition="0")

    spare_broker.start()
    up.append(poll(lambda: scraped(daemon, "kafka_canary_up"), lambda v: v == 1.0, "canary back", daemon, 60.0))
    poll(lambda: firing(daemon), lambda names: names == [], "alert resolved", daemon, 30.0)

    assert [1.0, 0.0, 1.0] == up
    assert roundtrips is not None and roundtrips >= 1.0
    # The failures rise with the broker gone (one may come before, on a machine loaded enough for a
    # produce to time out against a healthy broker: seen once at a load average of 15).
    assert failed_before is not None and failed_during is not None and failed_during > failed_before
    assert daemon.proc.poll() is None
    assert "kafka_canary_failed" in daemon.log()
