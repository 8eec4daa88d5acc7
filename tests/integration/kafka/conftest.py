"""Real Kafka for the integration tests: one broker for the whole session, plus a spare.

The broker is assembled from Maven Central by scripts/kafka_broker.py (cached outside the
repository) unless KAFKA_BOOTSTRAP_SERVERS names a cluster to use instead. Without java or
mvn the tests fail with a message saying what to install: in CI they must always run.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka_helpers import KafkaHelper

# kafka_broker.py lives in scripts/ (not a package): it is shared with the dev script and the benchmarks.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))

import kafka_broker


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """bootstrap.servers of the session's cluster: KAFKA_BOOTSTRAP_SERVERS, or a broker started here."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
    if configured:
        yield configured
        return
    for broker in _broker_or_fail(tmp_path_factory.mktemp("kafka")):
        yield broker.bootstrap_servers


@pytest.fixture
def spare_broker(tmp_path: Path) -> Iterator[kafka_broker.KafkaBroker]:
    """A second broker of the test's own, which it may stop and start (never the shared one)."""
    yield from _broker_or_fail(tmp_path)


def _broker_or_fail(base_dir: Path) -> Iterator[kafka_broker.KafkaBroker]:
    """A running broker, stopped afterwards; a broker that cannot start fails the test with the reason."""
    with contextlib.ExitStack() as stack:
        try:
            broker = stack.enter_context(kafka_broker.running_broker(base_dir))
        except kafka_broker.BrokerError as exc:
            reason = str(exc)
        else:
            yield broker
            return
    pytest.fail(reason, pytrace=False)


@pytest.fixture
def kafka(kafka_bootstrap: str) -> KafkaHelper:
    return KafkaHelper(kafka_bootstrap)
