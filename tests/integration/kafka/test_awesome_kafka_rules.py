"""awesome-prometheus-alerts' kafka_exporter rules, loaded unchanged, against a real broker.

A daemon reads the session's broker and loads tests/data/awesome-prometheus-alerts/kafka-exporter.yml
as a user would; a real Prometheus 2.42 scrapes the daemon's /metrics under job "kafka" (what it
would do with kafka_exporter, whose series the agent's equal) and loads the same file. Each rule's
`expr` is asked of both at the same moment, and their alerts compared: same labels, same state.
KafkaTopicsReplicas (`for: 0m`) goes the daemon's whole way to a webhook; KafkaConsumersGroup's
`for: 1m` is left out of the wait: its pending alert shows the condition held, with its labels.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml
from kafka_helpers import KafkaHelper, consume_and_commit

from tests.conftest import REPO, DaemonProcess, StartDaemon, wait_until
from tests.prometheus_peer import running_prometheus
from tests.receiver import Receiver

RULES = REPO / "tests" / "data" / "awesome-prometheus-alerts" / "kafka-exporter.yml"
EXPRS = {rule["alert"]: rule["expr"] for rule in yaml.safe_load(RULES.read_text())["groups"][0]["rules"]}


@contextmanager
def agent_and_prometheus(
    tmp_path: Path, start_daemon: StartDaemon, kafka: KafkaHelper, hook: Receiver, *, topic: str, group: str
) -> Iterator[tuple[DaemonProcess, str]]:
    """The daemon reading `topic` and `group` only, with the vendored rules, and Prometheus scraping it."""
    cluster = {
        "name": "main",
        "bootstrap_servers": kafka.bootstrap,
        "interval": "1s",
        "topics": {"include": [topic]},
        "groups": {"include": [group]},
    }
    daemon = start_daemon(
        "global: {interval: 1s, evaluation_interval: 1s}\n"
        f"state_dir: {tmp_path / 'state'}\nrule_files: [{RULES}]\n"
        f"collectors:\n  host: {{enabled: false}}\n  kafka: [{json.dumps(cluster)}]\n"
        "route: {receiver: hook, group_wait: 0s, group_by: [alertname, topic]}\n"
        f"receivers: [{{name: hook, webhook_configs: [{{url: '{hook.url}/'}}]}}]\n"
    )
    daemon.wait_ready()
    scrape = f"  - job_name: kafka\n    static_configs: [{{targets: ['127.0.0.1:{daemon.port}']}}]\n"
    prometheus_dir = tmp_path / "prometheus"
    prometheus_dir.mkdir()
    config = (
        f"global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [{RULES}]\nscrape_configs:\n{scrape}"
    )
    with running_prometheus(prometheus_dir, config) as prometheus:
        yield daemon, prometheus


def query(url: str, expr: str, at: float) -> list[tuple[tuple[tuple[str, str], ...], str]]:
    """An instant query's result at `at`: each series' labels and value, sorted."""
    body = httpx.get(f"{url}/api/v1/query", params={"query": expr, "time": f"{at:.3f}"}, timeout=10).json()
    assert "success" == body["status"], body
    return sorted((tuple(sorted(s["metric"].items())), s["value"][1]) for s in body["data"]["result"])


def alerts(url: str, name: str) -> list[tuple[str, dict[str, str]]]:
    """(state, labels) of the alerts of one rule, as /api/v1/alerts lists them."""
    found = httpx.get(f"{url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
    return sorted((a["state"], a["labels"]) for a in found if a["labels"]["alertname"] == name)


def same_in_both(
    daemon: DaemonProcess, prometheus: str, read: Callable[[str], Any], accept: Callable[[Any], bool]
) -> Any:
    """What `read` gives for the agent once it is accepted and Prometheus gives the same; fails with both otherwise."""
    seen: dict[str, Any] = {}

    def agreed() -> bool:
        seen.update(ours=read(daemon.url), theirs=read(prometheus))
        return accept(seen["ours"]) and seen["ours"] == seen["theirs"]

    try:
        wait_until(agreed, "the agent and Prometheus agreeing", timeout=60)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: agent {seen.get('ours')!r}, Prometheus {seen.get('theirs')!r}") from None
    return seen["ours"]


def evaluated_after(daemon: DaemonProcess, moment: float) -> bool:
    """Whether the daemon's rule group has been evaluated since `moment` (Unix time)."""
    groups = httpx.get(f"{daemon.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
    return bool(groups) and _unix(groups[0]["lastEvaluation"]) > moment


def _unix(rfc3339: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def test_kafka_topics_replicas_fires_to_a_webhook_once_a_topic_has_fewer_than_three_in_sync_replicas(
    tmp_path: Path, start_daemon: StartDaemon, kafka: KafkaHelper, receiver: Receiver
) -> None:
    """A topic with two partitions on a one-broker cluster: two in-sync replicas, fewer than the rule's three.

    Before the topic exists the rule has nothing to fire on; once it does, the agent's result of the
    expression and its alert equal Prometheus', and the webhook gets the alert with `sum by (topic)`'s labels.
    """
    topic = f"test-{uuid.uuid4().hex[:12]}"
    with agent_and_prometheus(tmp_path, start_daemon, kafka, receiver, topic=topic, group="nobody") as (
        daemon,
        prometheus,
    ):
        # Prometheus' `up` is of its scrape of the agent; the agent's of its Kafka collector, with `cluster` too.
        up_query = 'max by (job, instance) (up{job="kafka"})'
        up = same_in_both(daemon, prometheus, lambda url: query(url, up_query, time.time() - 1), bool)
        seen_up = time.time()
        wait_until(lambda: evaluated_after(daemon, seen_up), "a rule evaluation after a collection")
        before = (alerts(daemon.url, "KafkaTopicsReplicas"), alerts(prometheus, "KafkaTopicsReplicas"))
        assert ([], [], []) == (*before, receiver.payloads)

        kafka.admin.create_topics([_topic(topic, 2)])[topic].result(timeout=30)
        result = same_in_both(
            daemon, prometheus, lambda url: query(url, EXPRS["KafkaTopicsReplicas"], time.time() - 1), bool
        )
        fired = same_in_both(daemon, prometheus, lambda url: alerts(url, "KafkaTopicsReplicas"), bool)
        wait_until(lambda: receiver.payloads, "the webhook receiving the alert")

    labels = {"alertname": "KafkaTopicsReplicas", "severity": "critical", "topic": topic}
    assert [((("instance", f"127.0.0.1:{daemon.port}"), ("job", "kafka")), "1")] == up
    assert [((("topic", topic),), "2")] == result
    assert [("firing", labels)] == fired
    notified = receiver.payloads[0]["alerts"][0]
    assert (labels, "firing") == (notified["labels"], notified["status"])
    assert "Kafka topics replicas (instance )" == notified["annotations"]["summary"]


def test_kafka_consumers_group_holds_once_a_groups_lag_passes_fifty(
    tmp_path: Path, start_daemon: StartDaemon, kafka: KafkaHelper, receiver: Receiver
) -> None:
    """A consumer group that stopped reading while 50, then 51 records arrived behind its commit.

    At a lag of 50 the rule (`> 50`) holds for neither the agent nor Prometheus; at 51 both have it
    pending with the labels of `sum by (consumergroup)`, and the expression gives both the same.
    """
    topic = kafka.new_topic()
    group = f"stalled-{uuid.uuid4().hex[:8]}"
    kafka.produce(topic, 5)
    consume_and_commit(kafka, group, topic, 5)
    kafka.produce(topic, 50)
    lag = f'kafka_consumergroup_lag{{consumergroup="{group}"}}'
    with agent_and_prometheus(tmp_path, start_daemon, kafka, receiver, topic=topic, group=group) as (
        daemon,
        prometheus,
    ):
        at_fifty = same_in_both(daemon, prometheus, lambda url: query(url, lag, time.time() - 1), bool)
        seen_fifty = time.time()
        wait_until(lambda: evaluated_after(daemon, seen_fifty), "a rule evaluation after lag 50")
        before = (alerts(daemon.url, "KafkaConsumersGroup"), alerts(prometheus, "KafkaConsumersGroup"))

        kafka.produce(topic, 1)
        expr = EXPRS["KafkaConsumersGroup"]
        result = same_in_both(daemon, prometheus, lambda url: query(url, expr, time.time() - 1), bool)
        pending = same_in_both(daemon, prometheus, lambda url: alerts(url, "KafkaConsumersGroup"), bool)

    series = {"cluster": "main", "consumergroup": group, "topic": topic, "partition": "0"}
    target = {"instance": f"127.0.0.1:{daemon.port}", "job": "kafka"}
    assert [(tuple(sorted({"__name__": "kafka_consumergroup_lag", **series, **target}.items())), "50")] == at_fifty
    assert ([], []) == before
    assert [((("consumergroup", group),), "51")] == result
    assert [
        ("pending", {"alertname": "KafkaConsumersGroup", "consumergroup": group, "severity": "critical"})
    ] == pending


def _topic(name: str, partitions: int) -> Any:
    from confluent_kafka.admin import NewTopic

    return NewTopic(name, num_partitions=partitions, replication_factor=1)
