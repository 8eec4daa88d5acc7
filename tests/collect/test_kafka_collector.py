"""The Kafka collector without a broker: a cluster nobody answers for, client settings, identity."""

from __future__ import annotations

import socket
import time

import pytest
from confluent_kafka.admin import AdminClient

from agent.clock import FakeClock
from agent.collect.base import read_whatever
from agent.collect.kafka import ClientConfig, KafkaCollector
from agent.config.schema import KafkaConfig, Secret
from agent.model import Sample, labels_of


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _value(samples: list[Sample] | tuple[Sample, ...], name: str, **labels: str) -> float | None:
    wanted = labels_of(labels, cluster="main")
    found = [s.value for s in samples if s.name == name and s.labels == wanted]
    return found[0] if found else None


def _unreachable(port: int) -> KafkaCollector:
    config = KafkaConfig(name="main", bootstrap_servers=f"127.0.0.1:{port}")
    return KafkaCollector(config, FakeClock(), request_timeout=0.5)


def test_unreachable_cluster_is_reported_as_down_not_raised(closed_port: int) -> None:
    samples = list(read_whatever(_unreachable(closed_port)))

    assert 0.0 == _value(samples, "kafka_up")


def test_unreachable_cluster_reports_nothing_but_up_and_self_metrics(closed_port: int) -> None:
    samples = read_whatever(_unreachable(closed_port))

    assert {"kafka_up"} == {s.name for s in samples if s.name.startswith("kafka_")}


def test_failed_metadata_request_is_counted_as_an_error(closed_port: int) -> None:
    collector = _unreachable(closed_port)
    read_whatever(collector)

    samples = list(read_whatever(collector))

    assert (2.0, 2.0) == (
        _value(samples, "tripwired_kafka_requests_total", request="metadata"),
        _value(samples, "tripwired_kafka_request_errors_total", request="metadata"),
    )


def test_collection_of_an_unreachable_cluster_ends_within_the_request_timeout(closed_port: int) -> None:
    collector = _unreachable(closed_port)

    started = time.monotonic()
    read_whatever(collector)

    assert time.monotonic() - started < 0.5 + 1.0


def test_client_is_created_on_first_collection_only(closed_port: int) -> None:
    created: list[ClientConfig] = []

    def factory(settings: ClientConfig) -> AdminClient:
        created.append(settings)
        return AdminClient(settings)

    config = KafkaConfig(name="main", bootstrap_servers=f"127.0.0.1:{closed_port}")
    collector = KafkaCollector(config, FakeClock(), request_timeout=0.2, admin_factory=factory)
    before = len(created)
    read_whatever(collector)
    read_whatever(collector)

    assert (0, 1) == (before, len(created))


def test_configured_librdkafka_settings_pass_through_and_win() -> None:
    config = KafkaConfig(
        name="main",
        bootstrap_servers="k1:9093",
        config={"security.protocol": Secret("SASL_SSL"), "sasl.password": Secret("hunter2"), "log_level": Secret("6")},
    )

    settings = KafkaCollector(config, FakeClock()).client_config()

    assert {
        "bootstrap.servers": "k1:9093",
        "client.id": "tripwired-main",
        "security.protocol": "SASL_SSL",
        "sasl.password": "hunter2",
        "log_level": "6",
    } == settings


def test_collector_is_kafka_and_its_instance_is_the_cluster_name() -> None:
    collector = KafkaCollector(KafkaConfig(name="orders", bootstrap_servers="k:9092"), FakeClock())

    assert ("kafka", "orders") == (collector.name, collector.instance)


def test_collection_time_is_measured_on_the_monotonic_clock(closed_port: int) -> None:
    class SlowClock(FakeClock):
        """Each reading of the monotonic clock is 2 s after the previous one."""

        def monotonic(self) -> float:
            self.advance(2.0)
            return super().monotonic()

    config = KafkaConfig(name="main", bootstrap_servers=f"127.0.0.1:{closed_port}")
    samples = list(read_whatever(KafkaCollector(config, SlowClock(), request_timeout=0.2)))

    assert 2.0 == _value(samples, "tripwired_kafka_collection_duration_seconds")
