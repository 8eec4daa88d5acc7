"""A Kafka cluster that only lets SCRAM users in over TLS, read by a running daemon.

One broker for the module, started with a SASL_SSL listener (SCRAM-SHA-256 users created at
format time, a self-signed certificate made by openssl); the tests create their topic through
its PLAINTEXT listener, and the daemon may use only the SASL_SSL one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from scripts import kafka_broker
from tests.conftest import DaemonProcess, StartDaemon, poll, scraped_value

USER = "ingest-monitor"
PASSWORD = "scram-pa55-" + uuid.uuid4().hex[:8]
CLUSTER = "secure"


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kafka_broker.KafkaBroker]:
    listener = kafka_broker.SaslSslListener({USER: PASSWORD})
    with kafka_broker.running_broker(tmp_path_factory.mktemp("kafka-sasl"), sasl_ssl=listener) as broker:
        yield broker


@pytest.fixture(scope="module")
def topic(sasl_broker: kafka_broker.KafkaBroker) -> str:
    """A topic with 3 records, made through the broker's PLAINTEXT listener."""
    name = f"secure-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": sasl_broker.bootstrap_servers})
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result(timeout=30)
    producer = Producer({"bootstrap.servers": sasl_broker.bootstrap_servers})
    for i in range(3):
        producer.produce(name, b"m%d" % i, partition=0)
    assert 0 == producer.flush(30)
    return name


def daemon_config(
    tmp_path: Path, broker: kafka_broker.KafkaBroker, topic: str, interval: str = "1s", **client: str
) -> str:
    """A daemon reading the SASL_SSL listener as USER, the password read from a file beside the config."""
    (tmp_path / "kafka-password").write_text(PASSWORD + "\n")
    kafka = {
        "name": CLUSTER,
        "bootstrap_servers": broker.sasl_ssl_bootstrap_servers,
        "interval": interval,
        "topics": {"include": [topic]},
        "config": {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-256",
            "sasl.username": USER,
            "sasl.password_file": "kafka-password",
            **client,
        },
    }
    return (
        f"global: {{interval: 1s}}\nstate_dir: {tmp_path / 'state'}\n"
        f"collectors:\n  host: {{enabled: false}}\n  kafka: [{json.dumps(kafka)}]\n"
    )


def unreachable_errors(daemon: DaemonProcess) -> list[str]:
    """The `error` field of each kafka_cluster_unreachable event in the daemon's JSON log."""
    errors = []
    for line in daemon.log().splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue  # librdkafka's own lines
        if isinstance(event, dict) and event.get("event") == "kafka_cluster_unreachable":
            errors.append(str(event.get("error", "")))
    return errors


def scraped(daemon: DaemonProcess, name: str, **labels: str) -> float | None:
    return scraped_value(daemon, name, {"cluster": CLUSTER, **labels})


def everything_the_user_can_read(daemon: DaemonProcess) -> str:
    return "\n".join([daemon.log(), daemon.get("/metrics").text, daemon.get("/").text])


def test_scram_credentials_from_a_file_over_verified_tls_collect_the_cluster(
    start_daemon: StartDaemon, sasl_broker: kafka_broker.KafkaBroker, topic: str, tmp_path: Path
) -> None:
    """A broker that accepts only SCRAM-SHA-256 users over TLS; the password is in a file, the CA is the broker's own.

    The daemon collects the topic's offsets over SASL_SSL, and the password shows nowhere a user can read.
    """
    assert sasl_broker.sasl_ssl is not None
    ca = str(sasl_broker.sasl_ssl.ca_path)
    daemon = start_daemon(daemon_config(tmp_path, sasl_broker, topic, **{"ssl.ca.location": ca}))
    daemon.wait_ready()

    offset = poll(
        lambda: scraped(daemon, "kafka_topic_partition_current_offset", topic=topic, partition="0"),
        lambda v: v == 3.0,
        "the topic's offset over SASL_SSL",
        daemon,
    )

    assert 3.0 == offset
    assert 1.0 == scraped(daemon, "kafka_up")
    assert PASSWORD not in everything_the_user_can_read(daemon)


def test_a_broker_certificate_no_configured_ca_signed_is_refused_with_the_reason_in_the_log(
    start_daemon: StartDaemon, sasl_broker: kafka_broker.KafkaBroker, topic: str, tmp_path: Path
) -> None:
    """The broker presents a self-signed certificate and the daemon is given no CA for it.

    TLS is verified by default: no metrics, kafka_up 0, and the log says the certificate failed verification.
    """
    daemon = start_daemon(daemon_config(tmp_path, sasl_broker, topic))
    daemon.wait_ready()

    errors = poll(lambda: unreachable_errors(daemon), bool, "kafka_cluster_unreachable logged", daemon)
    # The child logs the failure before its answer reaches the store: wait for the run to end.
    poll(lambda: scraped(daemon, "kafka_up"), lambda up: up == 0.0, "kafka_up 0", daemon)

    assert None is scraped(daemon, "kafka_topic_partition_current_offset", topic=topic, partition="0")
    assert "certificate verify failed" in errors[0], errors
    assert PASSWORD not in everything_the_user_can_read(daemon)


def test_a_wrong_scram_password_is_refused_with_the_reason_in_the_log_and_not_the_password(
    start_daemon: StartDaemon, sasl_broker: kafka_broker.KafkaBroker, topic: str, tmp_path: Path
) -> None:
    """The password file holds a password the broker does not know for the user.

    kafka_up 0, the log names the SASL authentication failure, and the wrong password is not shown either.
    """
    assert sasl_broker.sasl_ssl is not None
    wrong = "not-" + PASSWORD
    # The broker answers a wrong SCRAM proof after ~300 ms; at a 1 s interval each request's 0.25 s
    # timeout would end the cycle before librdkafka knows why. 4 s gives requests 1 s.
    ca = str(sasl_broker.sasl_ssl.ca_path)
    config = daemon_config(tmp_path, sasl_broker, topic, interval="4s", **{"ssl.ca.location": ca})
    (tmp_path / "wrong-password").write_text(wrong)
    daemon = start_daemon(
        config.replace('"sasl.password_file": "kafka-password"', '"sasl.password_file": "wrong-password"')
    )
    daemon.wait_ready()

    errors = poll(lambda: unreachable_errors(daemon), bool, "kafka_cluster_unreachable logged", daemon)

    assert 0.0 == scraped(daemon, "kafka_up")
    assert "SASL authentication error" in errors[0], errors
    assert wrong not in everything_the_user_can_read(daemon)
