"""Helpers of the Kafka integration tests: act on the cluster directly, read samples."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from agent.config.schema import IncludeExclude, KafkaConfig
from agent.model import Sample, labels_of


class KafkaHelper:
    """What the tests do to the cluster directly: create topics, produce, consume, commit."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.admin = AdminClient({"bootstrap.servers": bootstrap})

    def new_topic(self, partitions: int = 1, config: dict[str, str] | None = None) -> str:
        """A topic with a fresh name, created and visible in the metadata."""
        name = f"test-{uuid.uuid4().hex[:12]}"
        topic = NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})
        self.admin.create_topics([topic], operation_timeout=30)[name].result(timeout=30)
        return name

    def produce(self, topic: str, count: int, partition: int = 0, timestamp_ms: int = 0) -> None:
        """Write `count` records to one partition and wait until the broker has them all."""
        producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 0})
        for i in range(count):
            producer.produce(topic, value=b"m%d" % i, partition=partition, timestamp=timestamp_ms)
        assert producer.flush(30) == 0

    def consumer(self, group: str, **extra: str) -> Consumer:
        return Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                **extra,
            }
        )

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        """(low, high) offsets as a consumer reads them, for comparison with the collector."""
        consumer = self.consumer(f"watermarks-{uuid.uuid4().hex[:8]}")
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            return low, high
        finally:
            consumer.close()


def value_of(samples: Sequence[Sample], name: str, **labels: str) -> float | None:
    """The value of the one sample with this name and exactly these labels (besides `cluster`)."""
    wanted = labels_of(labels)
    found = [s.value for s in samples if s.name == name and labels_of(dict(s.labels), cluster="") == wanted]
    assert len(found) <= 1, f"{len(found)} samples of {name}{labels}"
    return found[0] if found else None


def consume_and_commit(helper: KafkaHelper, group: str, topic: str, count: int, partition: int = 0) -> None:
    """Have a real consumer of `group` read `count` records of one partition and commit after them."""
    consumer = helper.consumer(group)
    try:
        start = _committed(consumer, TopicPartition(topic, partition))
        consumer.assign([TopicPartition(topic, partition, max(start, 0))])
        read = []
        while len(read) < count:
            message = consumer.poll(10)
            assert message is not None and message.error() is None, f"no record after {len(read)}"
            read.append(message)
        consumer.commit(message=read[-1], asynchronous=False)
    finally:
        consumer.close()


def _committed(consumer: Consumer, partition: TopicPartition, timeout: float = 30.0) -> int:
    """The group's committed offset; a broker that just started answers NOT_COORDINATOR until its
    offsets topic is loaded, which is retried (what a real consumer's rebalance does too)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            offset: int = consumer.committed([partition], timeout=10)[0].offset
            return offset
        except KafkaException as exc:
            retriable = exc.args[0].code() in (KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS)
            if not retriable or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def collector_config(bootstrap: str, *topics: str, name: str = "test") -> KafkaConfig:
    """A cluster config selecting only the given topics, so tests do not see each other's."""
    return KafkaConfig(name=name, bootstrap_servers=bootstrap, topics=IncludeExclude(include=[*topics]))
