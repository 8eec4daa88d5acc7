"""The Kafka collector while its broker is down, stopped and restarted (a spare broker of the test's own)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import kafka_broker
from kafka_helpers import collector_config, value_of
from structlog.testing import capture_logs

from agent.clock import SystemClock
from agent.collect.base import read_whatever
from agent.collect.kafka import KafkaCollector
from agent.model import Sample
from tests.conftest import wait_until

# Short, so that the cycles against a stopped broker do not make the test slow.
REQUEST_TIMEOUT = 1.0


def _collector(broker: kafka_broker.KafkaBroker) -> KafkaCollector:
    return KafkaCollector(
        collector_config(broker.bootstrap_servers, ".*"), SystemClock(), request_timeout=REQUEST_TIMEOUT
    )


def _up(samples: Sequence[Sample]) -> float | None:
    return value_of(samples, "kafka_up")


def _threads_and_sockets() -> tuple[int, int]:
    """Native threads (librdkafka's included) and open sockets of this process."""
    threads = len(os.listdir("/proc/self/task"))
    sockets = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            sockets += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except FileNotFoundError:
            continue  # the descriptor listdir itself used, or one librdkafka just closed
    return threads, sockets


def test_kafka_up_follows_the_broker_down_at_start_up_stopped_and_back(spare_broker: kafka_broker.KafkaBroker) -> None:
    spare_broker.stop()
    collector = _collector(spare_broker)
    seen = [_up(read_whatever(collector))]  # down at start
    spare_broker.start()
    wait_until(lambda: _up(read_whatever(collector)) == 1.0, "kafka_up 1", timeout=30)
    seen.append(1.0)
    spare_broker.stop()
    seen.append(_up(read_whatever(collector)))
    spare_broker.start()
    wait_until(lambda: _up(read_whatever(collector)) == 1.0, "kafka_up 1", timeout=30)
    seen.append(1.0)

    assert [0.0, 1.0, 0.0, 1.0] == seen


def test_partition_metrics_return_after_a_broker_restart(spare_broker: kafka_broker.KafkaBroker) -> None:
    collector = _collector(spare_broker)
    spare_broker.stop()
    down = read_whatever(collector)
    spare_broker.start()

    wait_until(lambda: _up(read_whatever(collector)) == 1.0, "kafka_up 1", timeout=30)
    back = read_whatever(collector)

    assert {"kafka_up", "tripwired_kafka_collection_duration_seconds"} <= {s.name for s in down}
    assert not [s for s in down if s.name.startswith("kafka_") and s.name != "kafka_up"]
    assert 1.0 == value_of(back, "kafka_brokers")


def test_a_stopped_broker_does_not_grow_threads_or_sockets(spare_broker: kafka_broker.KafkaBroker) -> None:
    collector = _collector(spare_broker)
    read_whatever(collector)
    spare_broker.stop()
    for _ in range(2):  # let librdkafka settle into its reconnect loop
        read_whatever(collector)
    threads_before, sockets_before = _threads_and_sockets()

    for _ in range(6):
        assert 0.0 == _up(read_whatever(collector))
    threads_after, sockets_after = _threads_and_sockets()

    # librdkafka may have one short-lived thread or reconnect in flight at either moment; a leak of
    # one per cycle would show as six.
    assert threads_after <= threads_before + 1
    assert sockets_after <= sockets_before + 1


def test_each_reachability_change_is_logged_once(spare_broker: kafka_broker.KafkaBroker) -> None:
    collector = _collector(spare_broker)
    with capture_logs() as logs:
        read_whatever(collector)
        read_whatever(collector)
        spare_broker.stop()
        read_whatever(collector)
        read_whatever(collector)
        spare_broker.start()
        wait_until(lambda: _up(read_whatever(collector)) == 1.0, "kafka_up 1", timeout=30)
        read_whatever(collector)

    events = [(e["event"], e["log_level"]) for e in logs]
    assert [
        ("kafka_cluster_reachable", "info"),
        ("kafka_cluster_unreachable", "warning"),
        ("kafka_cluster_reachable", "info"),
    ] == events
