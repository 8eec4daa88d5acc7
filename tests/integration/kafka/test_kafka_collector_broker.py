"""The Kafka collector against a real broker: its view must be the broker's own answer."""

from __future__ import annotations

import time
import uuid

from kafka_helpers import KafkaHelper, collector_config, consume_and_commit, value_of

from agent.clock import SystemClock
from agent.collect.kafka import KafkaCollector
from agent.config.schema import IncludeExclude, KafkaConfig
from agent.model import Sample
from tests.conftest import wait_until


def _collector(kafka: KafkaHelper, *topics: str) -> KafkaCollector:
    return KafkaCollector(collector_config(kafka.bootstrap, *topics), SystemClock())


def _group() -> str:
    return f"group-{uuid.uuid4().hex[:12]}"


def test_current_offsets_match_consumer_high_watermarks(kafka: KafkaHelper) -> None:
    topic = kafka.new_topic(partitions=3)
    for partition, count in enumerate([5, 0, 12]):
        kafka.produce(topic, count, partition=partition)

    samples = _collector(kafka, topic).collect()

    expected = {p: float(kafka.watermarks(topic, p)[1]) for p in range(3)}
    actual = {
        p: value_of(samples, "kafka_topic_partition_current_offset", topic=topic, partition=str(p)) for p in range(3)
    }
    assert expected == actual
    assert {0: 5.0, 1: 0.0, 2: 12.0} == actual


def test_oldest_offsets_match_consumer_low_watermarks_after_records_are_deleted(kafka: KafkaHelper) -> None:
    from confluent_kafka import TopicPartition

    topic = kafka.new_topic()
    kafka.produce(topic, 10)
    kafka.admin.delete_records([TopicPartition(topic, 0, 4)], request_timeout=10)[TopicPartition(topic, 0, 4)].result()

    samples = _collector(kafka, topic).collect()

    expected = float(kafka.watermarks(topic, 0)[0])
    assert 4.0 == expected
    assert expected == value_of(samples, "kafka_topic_partition_oldest_offset", topic=topic, partition="0")


def test_max_timestamp_is_the_newest_record_timestamp(kafka: KafkaHelper) -> None:
    topic = kafka.new_topic()
    newest_ms = int(time.time() * 1000) - 90_000
    kafka.produce(topic, 3, timestamp_ms=newest_ms - 60_000)
    kafka.produce(topic, 1, timestamp_ms=newest_ms)
    kafka.produce(topic, 2, timestamp_ms=newest_ms - 30_000)  # out of order: max is not the last record

    samples = _collector(kafka, topic).collect()

    assert newest_ms / 1000 == value_of(
        samples, "kafka_topic_partition_max_timestamp_seconds", topic=topic, partition="0"
    )


def test_empty_partition_has_no_max_timestamp(kafka: KafkaHelper) -> None:
    topic = kafka.new_topic()

    samples = _collector(kafka, topic).collect()

    assert value_of(samples, "kafka_topic_partition_max_timestamp_seconds", topic=topic, partition="0") is None
    assert 0.0 == value_of(samples, "kafka_topic_partition_current_offset", topic=topic, partition="0")


def test_single_broker_partitions_are_led_by_it_and_fully_replicated(kafka: KafkaHelper) -> None:
    topic = kafka.new_topic(partitions=2)

    samples = _collector(kafka, topic).collect()

    metadata = kafka.admin.list_topics(topic, timeout=10).topics[topic].partitions[1]
    per_partition = {
        name: value_of(samples, f"kafka_topic_partition_{name}", topic=topic, partition="1")
        for name in ("leader", "replicas", "in_sync_replica", "leader_is_preferred", "under_replicated_partition")
    }
    assert {
        "leader": float(metadata.leader),
        "replicas": 1.0,
        "in_sync_replica": 1.0,
        "leader_is_preferred": 1.0,
        "under_replicated_partition": 0.0,
    } == per_partition
    assert 0.0 == value_of(samples, "kafka_topic_partition_offline", topic=topic, partition="1")
    assert 2.0 == value_of(samples, "kafka_topic_partitions", topic=topic)


def test_brokers_are_the_ones_the_cluster_lists(kafka: KafkaHelper) -> None:
    samples = _collector(kafka, "none").collect()

    brokers = kafka.admin.list_topics(timeout=10).brokers
    assert float(len(brokers)) == value_of(samples, "kafka_brokers")
    for broker in brokers.values():
        assert 1.0 == value_of(samples, "kafka_broker_info", id=str(broker.id), address=f"{broker.host}:{broker.port}")


def test_retention_is_reported_in_seconds_and_unlimited_stays_minus_one(kafka: KafkaHelper) -> None:
    ninety_days = kafka.new_topic(config={"retention.ms": str(90 * 86400 * 1000)})
    forever = kafka.new_topic(config={"retention.ms": "-1"})

    samples = _collector(kafka, ninety_days, forever).collect()

    assert 90 * 86400.0 == value_of(samples, "kafka_topic_config_retention_seconds", topic=ninety_days)
    assert -1.0 == value_of(samples, "kafka_topic_config_retention_seconds", topic=forever)


def test_group_lag_is_what_was_produced_and_not_consumed(kafka: KafkaHelper) -> None:
    topic, group = kafka.new_topic(), _group()
    kafka.produce(topic, 10)
    consume_and_commit(kafka, group, topic, 4)

    samples = _collector(kafka, topic).collect()

    labels = {"consumergroup": group, "topic": topic}
    assert 4.0 == value_of(samples, "kafka_consumergroup_current_offset", partition="0", **labels)
    assert 6.0 == value_of(samples, "kafka_consumergroup_lag", partition="0", **labels)
    assert 4.0 == value_of(samples, "kafka_consumergroup_current_offset_sum", **labels)
    assert 6.0 == value_of(samples, "kafka_consumergroup_lag_sum", **labels)


def test_lag_seconds_is_the_age_of_the_first_unread_record(kafka: KafkaHelper) -> None:
    topic, group = kafka.new_topic(), _group()
    collector = _collector(kafka, topic)
    kafka.produce(topic, 5)
    consume_and_commit(kafka, group, topic, 5)
    before_unread = time.time()
    collector.collect()  # the end offset is 5 no later than here
    kafka.produce(topic, 3)  # the records the group will not read
    collector.collect()
    after_unread = time.time()  # ...and 8 no earlier than here
    time.sleep(2)  # the unread records age: the quantity under test, bounded by clocks read around it

    before_last = time.time()
    samples = collector.collect()
    after_last = time.time()

    labels = {"consumergroup": group, "topic": topic, "partition": "0"}
    assert 3.0 == value_of(samples, "kafka_consumergroup_lag", **labels)
    lag_seconds = value_of(samples, "kafka_consumergroup_lag_seconds", **labels)
    assert lag_seconds is not None
    assert before_last - after_unread <= lag_seconds <= after_last - before_unread


def test_lag_seconds_is_zero_when_the_group_has_read_everything(kafka: KafkaHelper) -> None:
    topic, group = kafka.new_topic(), _group()
    collector = _collector(kafka, topic)
    kafka.produce(topic, 5)
    collector.collect()
    consume_and_commit(kafka, group, topic, 5)

    samples = collector.collect()

    labels = {"consumergroup": group, "topic": topic, "partition": "0"}
    assert (0.0, 0.0) == (
        value_of(samples, "kafka_consumergroup_lag", **labels),
        value_of(samples, "kafka_consumergroup_lag_seconds", **labels),
    )


def test_lag_grows_when_a_group_stops_consuming(kafka: KafkaHelper) -> None:
    topic, group = kafka.new_topic(), _group()
    collector = _collector(kafka, topic)
    kafka.produce(topic, 2)
    consume_and_commit(kafka, group, topic, 2)
    labels = {"consumergroup": group, "topic": topic, "partition": "0"}
    lags, ages = [], []
    for batch in (2, 3, 4):
        kafka.produce(topic, batch)
        samples = collector.collect()
        lags.append(value_of(samples, "kafka_consumergroup_lag", **labels))
        ages.append(value_of(samples, "kafka_consumergroup_lag_seconds", **labels))
        time.sleep(0.5)

    assert [2.0, 5.0, 9.0] == lags
    assert ages == sorted(ages) and ages[0] != ages[-1]


def test_subscribed_group_is_stable_with_its_members_then_empty(kafka: KafkaHelper) -> None:
    topic, group = kafka.new_topic(), _group()
    collector = _collector(kafka, topic)
    consumer = kafka.consumer(group)
    consumer.subscribe([topic])
    try:
        wait_until(
            lambda: consumer.poll(0.2) is None and bool(consumer.assignment()), "the consumer assigned, caught up"
        )
        stable = collector.collect()
    finally:
        consumer.close()
    empty = collector.collect()

    assert (1.0, 1.0) == (
        value_of(stable, "kafka_consumergroup_members", consumergroup=group),
        value_of(stable, "kafka_consumergroup_state", consumergroup=group, state="Stable"),
    )
    assert (0.0, 1.0) == (
        value_of(empty, "kafka_consumergroup_members", consumergroup=group),
        value_of(empty, "kafka_consumergroup_state", consumergroup=group, state="Empty"),
    )


def test_excluded_topics_and_groups_are_not_reported(kafka: KafkaHelper) -> None:
    kept, dropped = kafka.new_topic(), kafka.new_topic()
    group = _group()
    for topic in (kept, dropped):
        kafka.produce(topic, 1)
        consume_and_commit(kafka, group, topic, 1)
    config = KafkaConfig(
        name="test",
        bootstrap_servers=kafka.bootstrap,
        topics=IncludeExclude(include=["test-.*"], exclude=[dropped]),
        groups=IncludeExclude(include=[group]),
    )

    samples = KafkaCollector(config, SystemClock()).collect()

    topics = {dict(s.labels).get("topic") for s in samples} - {None}
    assert kept in topics and dropped not in topics
    assert {group} == {dict(s.labels)["consumergroup"] for s in samples if "consumergroup" in dict(s.labels)}


def test_every_sample_carries_the_cluster_name(kafka: KafkaHelper) -> None:
    topic = kafka.new_topic()
    config = KafkaConfig(name="orders-eu", bootstrap_servers=kafka.bootstrap, topics=IncludeExclude(include=[topic]))

    samples = KafkaCollector(config, SystemClock()).collect()

    assert {"orders-eu"} == {dict(s.labels).get("cluster") for s in samples}


def test_two_clusters_side_by_side_keep_separate_histories(kafka: KafkaHelper) -> None:
    topic, group = kafka.new_topic(), _group()
    kafka.produce(topic, 3)
    consume_and_commit(kafka, group, topic, 1)
    first, second = (
        KafkaCollector(collector_config(kafka.bootstrap, topic, name=name), SystemClock()) for name in ("a", "b")
    )
    first.collect()
    time.sleep(1.5)  # the first cluster's history ages; a lower bound, however loaded the machine

    from_first, from_second = first.collect(), second.collect()

    labels = {"consumergroup": group, "topic": topic, "partition": "0"}
    first_age = value_of(from_first, "kafka_consumergroup_lag_seconds", **labels)
    second_age = value_of(from_second, "kafka_consumergroup_lag_seconds", **labels)
    assert first_age is not None and second_age is not None
    assert first_age >= 1.5 > second_age


def test_without_offset_show_all_only_partitions_a_member_holds_now_show_offsets(kafka: KafkaHelper) -> None:
    from dataclasses import replace

    from confluent_kafka import TopicPartition

    topic = kafka.new_topic()
    kafka.produce(topic, 5)
    stopped, running = _group(), _group()
    consume_and_commit(kafka, stopped, topic, 5)  # committed, then every member gone
    consumer = kafka.consumer(running)
    try:
        consumer.subscribe([topic])
        wait_until(
            lambda: consumer.poll(0.2) is not None and bool(consumer.assignment()), "the consumer assigned, reading"
        )
        consumer.commit(offsets=[TopicPartition(topic, 0, 5)], asynchronous=False)
        config = collector_config(kafka.bootstrap, topic)
        show_all = KafkaCollector(config, SystemClock()).collect()
        members_only = KafkaCollector(replace(config, offset_show_all=False), SystemClock()).collect()
    finally:
        consumer.close()

    def offsets(samples: list[Sample] | tuple[Sample, ...]) -> dict[str, float | None]:
        return {
            g: value_of(samples, "kafka_consumergroup_current_offset", consumergroup=g, topic=topic, partition="0")
            for g in (stopped, running)
        }

    assert {stopped: 5.0, running: 5.0} == offsets(list(show_all))
    assert {stopped: None, running: 5.0} == offsets(list(members_only))
    assert 0.0 == value_of(members_only, "kafka_consumergroup_members", consumergroup=stopped)
