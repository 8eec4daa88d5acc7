"""From what a Kafka collection read to kafka_exporter's samples, and which names are selected."""

from __future__ import annotations

from agent.collect.kafka_metrics import GROUP_STATES, KAFKA_METRICS
from agent.collect.kafka_snapshot import (
    GroupInfo,
    NameFilter,
    PartitionInfo,
    Snapshot,
    TopicPartitionKey,
    group_state_name,
    snapshot_samples,
)
from agent.config.schema import IncludeExclude
from agent.model import Sample, labels_of


def _no_lag_seconds(partition: TopicPartitionKey, committed: int) -> tuple[float, bool]:
    return 0.0, False


def _value(samples: list[Sample], name: str, **labels: str) -> float | None:
    wanted = labels_of(labels, cluster="main")
    found = [s.value for s in samples if s.name == name and s.labels == wanted]
    assert len(found) <= 1
    return found[0] if found else None


def _partition(
    topic: str = "t", partition: int = 0, leader: int = 1, isr: tuple[int, ...] = (1, 2, 3)
) -> PartitionInfo:
    return PartitionInfo(topic, partition, leader, replicas=(1, 2, 3), isr=isr)


def _samples(snapshot: Snapshot) -> list[Sample]:
    return snapshot_samples("main", snapshot, _no_lag_seconds)


def test_include_is_fully_anchored() -> None:
    selected = NameFilter(IncludeExclude(include=["orders"]))

    assert (True, False, False) == (selected("orders"), selected("orders-eu"), selected("old-orders"))


def test_exclude_wins_over_include() -> None:
    selected = NameFilter(IncludeExclude(include=["orders.*"], exclude=["orders-test"]))

    assert (True, False) == (selected("orders-eu"), selected("orders-test"))


def test_exclude_is_fully_anchored() -> None:
    selected = NameFilter(IncludeExclude(exclude=["__.*"]))

    assert (False, True) == (selected("__consumer_offsets"), selected("a__b"))


def test_default_selection_takes_every_name() -> None:
    assert NameFilter(IncludeExclude())("anything-at-all")


def test_lag_is_end_offset_minus_committed_offset() -> None:
    snapshot = Snapshot(end_offsets={("t", 0): 100}, committed={"g": {("t", 0): 60}})

    assert 40.0 == _value(_samples(snapshot), "kafka_consumergroup_lag", consumergroup="g", topic="t", partition="0")


def test_lag_never_goes_negative() -> None:
    snapshot = Snapshot(end_offsets={("t", 0): 5}, committed={"g": {("t", 0): 60}})

    assert 0.0 == _value(_samples(snapshot), "kafka_consumergroup_lag", consumergroup="g", topic="t", partition="0")


def test_lag_seconds_comes_from_the_history_only_when_there_is_lag() -> None:
    asked: list[tuple[TopicPartitionKey, int]] = []

    def lag_seconds(partition: TopicPartitionKey, committed: int) -> tuple[float, bool]:
        asked.append((partition, committed))
        return 42.0, False

    snapshot = Snapshot(end_offsets={("t", 0): 10, ("t", 1): 7}, committed={"g": {("t", 0): 4, ("t", 1): 7}})
    samples = snapshot_samples("main", snapshot, lag_seconds)

    values = [
        _value(samples, "kafka_consumergroup_lag_seconds", consumergroup="g", topic="t", partition=p) for p in "01"
    ]
    assert ([42.0, 0.0], [(("t", 0), 4)]) == (values, asked)


def test_lag_seconds_says_when_it_is_only_a_lower_bound() -> None:
    def lag_seconds(partition: TopicPartitionKey, committed: int) -> tuple[float, bool]:
        return 30.0, partition == ("t", 1)

    snapshot = Snapshot(end_offsets={("t", 0): 10, ("t", 1): 9}, committed={"g": {("t", 0): 4, ("t", 1): 7}})
    samples = snapshot_samples("main", snapshot, lag_seconds)

    flags = [
        _value(samples, "kafka_consumergroup_lag_seconds_lower_bound", consumergroup="g", topic="t", partition=p)
        for p in "01"
    ]
    assert [0.0, 1.0] == flags


def test_sums_add_up_partitions_per_group_and_topic() -> None:
    snapshot = Snapshot(
        end_offsets={("t", 0): 10, ("t", 1): 20, ("u", 0): 5},
        committed={"g": {("t", 0): 4, ("t", 1): 15, ("u", 0): 5}},
    )
    samples = _samples(snapshot)

    assert (19.0, 11.0) == (
        _value(samples, "kafka_consumergroup_current_offset_sum", consumergroup="g", topic="t"),
        _value(samples, "kafka_consumergroup_lag_sum", consumergroup="g", topic="t"),
    )


def test_committed_offset_without_a_known_end_has_no_lag() -> None:
    snapshot = Snapshot(committed={"g": {("t", 0): 4}})
    samples = _samples(snapshot)

    assert (4.0, None) == (
        _value(samples, "kafka_consumergroup_current_offset", consumergroup="g", topic="t", partition="0"),
        _value(samples, "kafka_consumergroup_lag", consumergroup="g", topic="t", partition="0"),
    )


def test_leader_that_is_not_the_first_replica_is_not_preferred() -> None:
    samples = _samples(Snapshot(partitions=[_partition(leader=2)]))

    assert 0.0 == _value(samples, "kafka_topic_partition_leader_is_preferred", topic="t", partition="0")


def test_fewer_in_sync_replicas_than_replicas_is_under_replicated() -> None:
    samples = _samples(Snapshot(partitions=[_partition(isr=(1, 2))]))

    assert (1.0, 2.0) == (
        _value(samples, "kafka_topic_partition_under_replicated_partition", topic="t", partition="0"),
        _value(samples, "kafka_topic_partition_in_sync_replica", topic="t", partition="0"),
    )


def test_partition_without_leader_is_offline_and_has_no_leader_sample() -> None:
    samples = _samples(Snapshot(partitions=[_partition(leader=-1, isr=())]))

    assert (1.0, None, 0.0) == (
        _value(samples, "kafka_topic_partition_offline", topic="t", partition="0"),
        _value(samples, "kafka_topic_partition_leader", topic="t", partition="0"),
        _value(samples, "kafka_topic_partition_leader_is_preferred", topic="t", partition="0"),
    )


def test_partitions_are_counted_per_topic() -> None:
    samples = _samples(Snapshot(partitions=[_partition("a", 0), _partition("a", 1), _partition("b", 0)]))

    assert (2.0, 1.0) == (
        _value(samples, "kafka_topic_partitions", topic="a"),
        _value(samples, "kafka_topic_partitions", topic="b"),
    )


def test_retention_is_in_seconds() -> None:
    samples = _samples(Snapshot(retention_ms={"t": 604_800_000}))

    assert 604_800.0 == _value(samples, "kafka_topic_config_retention_seconds", topic="t")


def test_unlimited_retention_stays_minus_one() -> None:
    samples = _samples(Snapshot(retention_ms={"t": -1}))

    assert -1.0 == _value(samples, "kafka_topic_config_retention_seconds", topic="t")


def test_group_state_is_one_for_the_current_state_and_zero_for_the_others() -> None:
    samples = _samples(Snapshot(groups=[GroupInfo("g", "Stable", 3)]))

    states = {
        state: _value(samples, "kafka_consumergroup_state", consumergroup="g", state=state) for state in GROUP_STATES
    }
    assert {state: float(state == "Stable") for state in GROUP_STATES} == states


def test_confluent_state_names_become_kafka_state_names() -> None:
    raw = ["PREPARING_REBALANCING", "COMPLETING_REBALANCING", "STABLE", "DEAD", "EMPTY", "UNKNOWN", "ASSIGNING"]

    assert [
        "PreparingRebalance",
        "CompletingRebalance",
        "Stable",
        "Dead",
        "Empty",
        "Unknown",
        "Unknown",
    ] == [group_state_name(r) for r in raw]


def test_brokers_are_counted_and_described() -> None:
    samples = _samples(Snapshot(brokers={1: "k1:9092", 2: "k2:9092"}))

    assert (2.0, 1.0) == (
        _value(samples, "kafka_brokers"),
        _value(samples, "kafka_broker_info", id="2", address="k2:9092"),
    )


def test_every_sample_has_the_cluster_label() -> None:
    snapshot = Snapshot(
        brokers={1: "k1:9092"},
        partitions=[_partition()],
        end_offsets={("t", 0): 3},
        groups=[GroupInfo("g", "Empty", 0)],
        committed={"g": {("t", 0): 1}},
    )

    assert {"main"} == {dict(s.labels)["cluster"] for s in _samples(snapshot)}


def test_emitted_families_are_declared() -> None:
    snapshot = Snapshot(
        brokers={1: "k1:9092"},
        partitions=[_partition()],
        end_offsets={("t", 0): 3},
        oldest_offsets={("t", 0): 0},
        max_timestamps={("t", 0): 1.0},
        retention_ms={"t": 1},
        groups=[GroupInfo("g", "Empty", 0)],
        committed={"g": {("t", 0): 1}},
    )
    declared = {meta.name for meta in KAFKA_METRICS}

    emitted = {s.name for s in _samples(snapshot)}

    assert emitted <= declared
    assert declared - emitted == {
        "kafka_up",
        "tripwired_kafka_collection_duration_seconds",
        "tripwired_kafka_requests_total",
        "tripwired_kafka_request_errors_total",
    }
