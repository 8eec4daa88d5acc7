"""The Kafka canary against a real broker: it creates its topic, and every probe makes the round trip."""

from __future__ import annotations

import uuid

from kafka_helpers import KafkaHelper, value_of

from agent.clock import SystemClock
from agent.collect.kafka_canary import KafkaCanaryCollector
from agent.collect.kafka_metrics import CANARY_METRICS
from agent.config.schema import CanaryConfig, Duration, KafkaConfig


def canary_config(bootstrap: str, topic: str, **canary: object) -> KafkaConfig:
    settings = CanaryConfig(enabled=True, topic=topic, interval=Duration(10), timeout=Duration(5), **canary)
    return KafkaConfig(name="test", bootstrap_servers=bootstrap, canary=settings)


def canary_topic() -> str:
    return f"_canary-{uuid.uuid4().hex[:12]}"


def test_the_canary_creates_its_topic_and_reads_back_what_it_produced(kafka: KafkaHelper) -> None:
    topic = canary_topic()
    collector = KafkaCanaryCollector(canary_config(kafka.bootstrap, topic, partitions_per_broker=2), SystemClock())

    rounds = [collector.collect() for _ in range(3)]

    assert 2 == len(kafka.admin.list_topics(topic, timeout=10).topics[topic].partitions)  # one broker, two per broker
    last = rounds[-1]
    assert 1.0 == value_of(last, "kafka_canary_up")
    for partition in ("0", "1"):
        assert 3.0 == value_of(last, "kafka_canary_messages_produced_total", partition=partition)
        assert 3.0 == value_of(last, "kafka_canary_messages_received_total", partition=partition)
        assert 0.0 == value_of(last, "kafka_canary_messages_produced_failed_total", partition=partition)
        assert 0.0 == value_of(last, "kafka_canary_messages_lost_total", partition=partition)
        assert 3.0 == value_of(last, "kafka_canary_roundtrip_latency_seconds_count", partition=partition)
        assert 3.0 == value_of(last, "kafka_canary_roundtrip_latency_seconds_bucket", partition=partition, le="+Inf")
        roundtrip = value_of(last, "kafka_canary_roundtrip_latency_seconds_sum", partition=partition)
        assert roundtrip is not None and 0.0 < roundtrip < 15.0


def test_the_canary_declares_every_family_it_emits(kafka: KafkaHelper) -> None:
    collector = KafkaCanaryCollector(canary_config(kafka.bootstrap, canary_topic()), SystemClock())

    samples = collector.collect()

    declared = {meta.name for meta in CANARY_METRICS}
    emitted = {s.name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count") for s in samples}
    assert declared == emitted


def test_the_canary_leaves_no_consumer_group_behind(kafka: KafkaHelper) -> None:
    collector = KafkaCanaryCollector(canary_config(kafka.bootstrap, canary_topic()), SystemClock())

    assert 1.0 == value_of(collector.collect(), "kafka_canary_up")

    groups = kafka.admin.list_consumer_groups(request_timeout=10).result(timeout=15).valid
    assert [] == [g.group_id for g in groups if g.group_id.startswith("tripwired-canary")]
