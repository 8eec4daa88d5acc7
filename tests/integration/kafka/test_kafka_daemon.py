"""`tripwired run` reading a real broker: offsets on /metrics, the zero-ingest tripwire, lag, a broker restart."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import kafka_broker
from kafka_helpers import KafkaHelper, consume_and_commit

from tests.conftest import DaemonProcess, StartDaemon, poll, scraped_value

CLUSTER = "test"
# KafkaTopicIngestStopped of agent/packs/kafka.yaml with windows of seconds instead of minutes and hours.
INGEST_RULES = """
groups:
  - name: kafka-ingest
    interval: 1s
    rules:
      - alert: KafkaTopicIngestStopped
        expr: |
          sum by (cluster, topic) (rate(kafka_topic_partition_current_offset{topic!~"__.*"}[3s])) == 0
          and
          sum by (cluster, topic) (increase(kafka_topic_partition_current_offset{topic!~"__.*"}[2m])) > 0
        for: 1s
        labels: {severity: critical}
        annotations: {summary: "no new messages on topic {{ $labels.topic }}"}
"""


def daemon_config(tmp_path: Path, cluster: str, bootstrap: str, *, topic: str = ".*", group: str = "") -> str:
    """A daemon reading one Kafka cluster every second, host collector off, with the rules above."""
    (tmp_path / "rules.yaml").write_text(INGEST_RULES)
    kafka = {
        "name": cluster,
        "bootstrap_servers": bootstrap,
        "interval": "1s",
        "topics": {"include": [topic]},
        "groups": {"include": [group] if group else []},
    }
    return (
        f"global: {{interval: 1s, evaluation_interval: 1s}}\nstate_dir: {tmp_path / 'state'}\n"
        f"rule_files: [{tmp_path / 'rules.yaml'}]\n"
        f"collectors:\n  host: {{enabled: false}}\n  kafka: [{json.dumps(kafka)}]\n"
    )


def queried(daemon: DaemonProcess, query: str) -> list[float]:
    """The values of an instant query through the daemon's /api/v1/query."""
    body = daemon.get(f"/api/v1/query?query={query}").json()
    assert "success" == body["status"], body
    return [float(series["value"][1]) for series in body["data"]["result"]]


def alerts(daemon: DaemonProcess) -> list[dict[str, Any]]:
    body = daemon.get("/api/v1/alerts").json()
    assert "success" == body["status"], body
    result: list[dict[str, Any]] = body["data"]["alerts"]
    return result


def scraped(daemon: DaemonProcess, name: str, **labels: str) -> float | None:
    return scraped_value(daemon, name, labels)


def logged_events(daemon: DaemonProcess, *names: str) -> list[str]:
    """The daemon's JSON log events with these names, in order."""
    events = []
    for line in daemon.log().splitlines():
        try:
            event = json.loads(line).get("event")
        except (json.JSONDecodeError, AttributeError):
            continue  # a line that is not a structlog event (a traceback, librdkafka's own output)
        if event in names:
            events.append(event)
    return events


def test_zero_ingest_alert_fires_when_producing_stops_and_resolves_when_it_resumes(
    start_daemon: StartDaemon, kafka: KafkaHelper, tmp_path: Path
) -> None:
    topic = kafka.new_topic()
    offset = {"name": "kafka_topic_partition_current_offset", "cluster": CLUSTER, "topic": topic, "partition": "0"}
    daemon = start_daemon(daemon_config(tmp_path, CLUSTER, kafka.bootstrap, topic=topic))
    daemon.wait_ready()
    poll(lambda: scraped(daemon, **offset), lambda v: v == 0.0, "empty topic's offset on /metrics", daemon)

    kafka.produce(topic, 10)  # traffic the daemon sees arrive, then none
    poll(lambda: scraped(daemon, **offset), lambda v: v == 10.0, "offset after producing", daemon)
    firing = poll(lambda: alerts(daemon), lambda a: [x["state"] for x in a] == ["firing"], "alert firing", daemon)
    kafka.produce(topic, 10)
    poll(lambda: alerts(daemon), lambda a: a == [], "alert resolved after producing again", daemon)

    assert {
        "alertname": "KafkaTopicIngestStopped",
        "cluster": CLUSTER,
        "topic": topic,
        "severity": "critical",
    } == firing[0]["labels"]


def test_lag_grows_while_a_group_that_committed_stops_consuming(
    start_daemon: StartDaemon, kafka: KafkaHelper, tmp_path: Path
) -> None:
    topic = kafka.new_topic()
    group = f"stalled-{uuid.uuid4().hex[:8]}"
    kafka.produce(topic, 5)
    consume_and_commit(kafka, group, topic, 5)  # caught up, then gone
    daemon = start_daemon(daemon_config(tmp_path, CLUSTER, kafka.bootstrap, topic=topic, group=group))
    daemon.wait_ready()
    lag = f'kafka_consumergroup_lag{{consumergroup="{group}",topic="{topic}",partition="0"}}'

    def lag_reaches(expected: float) -> list[float]:
        return poll(lambda: queried(daemon, lag), lambda v: v == [expected], f"lag {expected:g}", daemon)

    seen = [lag_reaches(0.0)]
    kafka.produce(topic, 10)
    seen.append(lag_reaches(10.0))
    kafka.produce(topic, 10)
    seen.append(lag_reaches(20.0))

    assert [[0.0], [10.0], [20.0]] == seen
    assert [5.0] == queried(daemon, f'kafka_consumergroup_current_offset{{consumergroup="{group}"}}')


def test_kafka_up_follows_a_broker_restart_under_a_running_daemon(
    start_daemon: StartDaemon, spare_broker: kafka_broker.KafkaBroker, tmp_path: Path
) -> None:
    cluster = "spare"
    # At a 1 s interval the collector's requests to a stopped broker must give up within the run's
    # 1 s timeout: a cycle that finishes late is discarded, and kafka_up 0 would never be written.
    daemon = start_daemon(daemon_config(tmp_path, cluster, spare_broker.bootstrap_servers))
    daemon.wait_ready()

    def up() -> float | None:
        return scraped(daemon, "kafka_up", cluster=cluster)

    seen = [poll(up, lambda v: v == 1.0, "kafka_up 1 at start", daemon)]
    spare_broker.stop()
    seen.append(poll(up, lambda v: v == 0.0, "kafka_up 0 with the broker stopped", daemon))
    assert 200 == daemon.get("/-/ready").status_code
    spare_broker.start()
    seen.append(poll(up, lambda v: v == 1.0, "kafka_up 1 with the broker back", daemon, timeout=30.0))

    assert [1.0, 0.0, 1.0] == seen
    assert daemon.proc.poll() is None
    events = logged_events(daemon, "kafka_cluster_reachable", "kafka_cluster_unreachable")
    # From the first success on, one line per change. (On a loaded machine the very first cycle may
    # miss its 1 s deadline: then an unreachable line comes first, which is as true.)
    first = events.index("kafka_cluster_reachable")
    assert ["kafka_cluster_reachable", "kafka_cluster_unreachable", "kafka_cluster_reachable"] == events[first:]
