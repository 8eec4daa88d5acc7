"""How the Kafka collector talks to AdminClient: order, batching, concurrency bound, partial failures.

The AdminClient is the boundary faked here: a double that answers from dicts with
concurrent.futures, as confluent-kafka does, and records what was asked when.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import ConsumerGroupState, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import OffsetSpec

from agent.clock import FakeClock
from agent.collect.base import PartialCollectionError, read_whatever
from agent.collect.kafka import KafkaCollector
from agent.config.schema import KafkaConfig
from agent.model import Sample, labels_of

Key = tuple[str, int]


def _done(value: Any) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_result(value)
    return future


def _failed() -> Future[Any]:
    future: Future[Any] = Future()
    future.set_exception(KafkaException(KafkaError(KafkaError._TIMED_OUT)))
    return future


class FakeAdmin:
    """An AdminClient double: topics, end offsets and group commits given as dicts."""

    def __init__(self, partitions: dict[str, int], end: dict[Key, int], committed: dict[str, dict[Key, int]]) -> None:
        self.partitions = partitions
        self.end = end
        self.committed = committed
        self.events: list[str] = []
        self.offsets_batches: list[int] = []
        self.fail_list_offsets = False
        self.failing_groups: set[str] = set()
        self.unlisted_groups: set[str] = set()  # on a broker that did not answer list_consumer_groups
        self.answer_delay = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    def poll(self, timeout: float) -> int:
        return 0  # no error callbacks to serve

    def list_topics(self, timeout: float) -> Any:
        topics = {
            name: SimpleNamespace(
                error=None,
                partitions={p: SimpleNamespace(id=p, leader=1, replicas=[1], isrs=[1]) for p in range(count)},
            )
            for name, count in self.partitions.items()
        }
        return SimpleNamespace(brokers={1: SimpleNamespace(id=1, host="k1", port=9092)}, topics=topics)

    def list_consumer_groups(self, request_timeout: float) -> Future[Any]:
        valid = [SimpleNamespace(group_id=g) for g in self.committed if g not in self.unlisted_groups]
        errors = [KafkaException(KafkaError(KafkaError._TRANSPORT))] if self.unlisted_groups else []
        return _done(SimpleNamespace(valid=valid, errors=errors))

    def describe_consumer_groups(self, group_ids: list[str], request_timeout: float) -> dict[str, Future[Any]]:
        return {g: _done(SimpleNamespace(state=ConsumerGroupState.STABLE, members=[1])) for g in group_ids}

    def list_consumer_group_offsets(self, request: list[Any], request_timeout: float) -> dict[str, Future[Any]]:
        group_id = request[0].group_id
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        future: Future[Any] = Future()
        threading.Timer(self.answer_delay, self._answer, (group_id, future)).start()
        return {group_id: future}

    def _answer(self, group_id: str, future: Future[Any]) -> None:
        with self._lock:
            self.in_flight -= 1
            self.events.append(f"committed:{group_id}")
        if group_id in self.failing_groups:
            future.set_exception(KafkaException(KafkaError(KafkaError._TIMED_OUT)))
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in self.committed[group_id].items()]
        future.set_result(SimpleNamespace(topic_partitions=offsets))

    def list_offsets(self, request: dict[TopicPartition, Any], request_timeout: float) -> dict[Any, Future[Any]]:
        self.events.append("list_offsets")
        self.offsets_batches.append(len(request))
        return {tp: self._offset_answer(tp, spec) for tp, spec in request.items()}

    def _offset_answer(self, tp: TopicPartition, spec: Any) -> Future[Any]:
        if self.fail_list_offsets:
            return _failed()
        end = self.end.get((tp.topic, tp.partition), 0)
        offset = 0 if spec is OffsetSpec.earliest() else end
        return _done(SimpleNamespace(offset=offset, timestamp=-1))

    def describe_configs(self, resources: list[Any], request_timeout: float) -> dict[Any, Future[Any]]:
        return {r: _done({"retention.ms": SimpleNamespace(value="604800000")}) for r in resources}


def _collector(admin: FakeAdmin, clock: FakeClock | None = None, max_in_flight: int = 32) -> KafkaCollector:
    def factory(settings: Any) -> Any:
        return admin

    config = KafkaConfig(name="main", bootstrap_servers="k1:9092")
    return KafkaCollector(config, clock or FakeClock(), max_in_flight=max_in_flight, admin_factory=factory)


def _value(samples: list[Sample], name: str, **labels: str) -> float | None:
    wanted = labels_of(labels, cluster="main")
    found = [s.value for s in samples if s.name == name and s.labels == wanted]
    return found[0] if found else None


def _groups(count: int) -> dict[str, dict[Key, int]]:
    return {f"g{i:03d}": {("t", 0): 1} for i in range(count)}


def test_committed_offsets_are_all_read_before_end_offsets() -> None:
    admin = FakeAdmin({"t": 1}, {("t", 0): 10}, _groups(5))
    admin.answer_delay = 0.01

    _collector(admin).collect()

    first_end_offsets = admin.events.index("list_offsets")
    assert 5 == len([e for e in admin.events[:first_end_offsets] if e.startswith("committed:")])


def test_group_offset_requests_run_concurrently_within_the_bound() -> None:
    admin = FakeAdmin({"t": 1}, {("t", 0): 10}, _groups(40))
    admin.answer_delay = 0.02

    samples = list(_collector(admin, max_in_flight=4).collect())

    assert 1 < admin.max_in_flight <= 4
    assert 40 == len([s for s in samples if s.name == "kafka_consumergroup_lag"])


def test_each_offset_kind_is_one_request_for_all_partitions() -> None:
    admin = FakeAdmin({"a": 4, "b": 4, "c": 4}, {}, {})

    _collector(admin).collect()

    assert [12, 12, 12] == admin.offsets_batches


def test_a_failing_group_is_counted_and_the_others_still_reported() -> None:
    admin = FakeAdmin({"t": 1}, {("t", 0): 10}, _groups(3))
    admin.failing_groups = {"g001"}

    samples = list(read_whatever(_collector(admin)))

    lags = {
        g: _value(samples, "kafka_consumergroup_lag", consumergroup=g, topic="t", partition="0") for g in _groups(3)
    }
    assert {"g000": 9.0, "g001": None, "g002": 9.0} == lags
    assert 1.0 == _value(samples, "tripwired_kafka_request_errors_total", request="group_offsets")


def test_a_broker_missing_from_the_group_listing_takes_the_collector_down() -> None:
    """One broker's part of ListGroups failed: its groups are unknown this cycle, and that is said."""
    admin = FakeAdmin({"t": 1}, {("t", 0): 10}, _groups(3))
    admin.unlisted_groups = {"g002"}

    with pytest.raises(PartialCollectionError, match="list_groups") as failed:
        _collector(admin).collect()

    samples = list(failed.value.samples)
    lags = {
        g: _value(samples, "kafka_consumergroup_lag", consumergroup=g, topic="t", partition="0") for g in _groups(3)
    }
    assert {"g000": 9.0, "g001": 9.0, "g002": None} == lags
    assert 1.0 == _value(samples, "tripwired_kafka_request_errors_total", request="list_groups")


def test_failed_end_offsets_keep_the_lag_history() -> None:
    clock = FakeClock(start=1000.0)
    admin = FakeAdmin({"t": 1}, {("t", 0): 10}, {"g": {("t", 0): 5}})
    collector = _collector(admin, clock)
    collector.collect()  # the end offset was 10 at t=1000
    clock.advance(60)
    admin.fail_list_offsets = True
    failed = list(read_whatever(collector))
    clock.advance(60)
    admin.fail_list_offsets = False

    samples = list(collector.collect())

    assert (1.0, None) == (
        _value(failed, "kafka_up"),
        _value(failed, "kafka_consumergroup_lag", consumergroup="g", topic="t", partition="0"),
    )
    assert 120.0 == _value(samples, "kafka_consumergroup_lag_seconds", consumergroup="g", topic="t", partition="0")


def _lag_seconds_and_bound(samples: Sequence[Sample]) -> tuple[float | None, float | None]:
    labels = {"consumergroup": "g", "topic": "t", "partition": "0"}
    return (
        _value(list(samples), "kafka_consumergroup_lag_seconds", **labels),
        _value(list(samples), "kafka_consumergroup_lag_seconds_lower_bound", **labels),
    )


def test_lag_seconds_after_a_restart_come_from_the_seeded_history() -> None:
    # Before the restart the end offset went 4 -> 10 between t=1000 and t=1060: offset 6, the first
    # the group (committed 5) has not read, arrived at t=1020, so at t=1120 it is 100 s old.
    stored = {
        "kafka_topic_partition_current_offset": [
            (labels_of(cluster="main", topic="t", partition="0"), [1_000_000, 1_060_000], [4.0, 10.0]),
            (labels_of(cluster="other", topic="t", partition="0"), [1_000_000], [0.0]),
        ]
    }
    admin = FakeAdmin({"t": 1}, {("t", 0): 10}, {"g": {("t", 0): 5}})
    collector = _collector(admin, FakeClock(start=1120.0))

    collector.seed(lambda name: stored.get(name, []))
    samples = collector.collect()

    assert (100.0, 0.0) == _lag_seconds_and_bound(samples)


def test_lag_seconds_without_history_are_flagged_as_a_lower_bound() -> None:
    admin = FakeAdmin({"t": 1}, {("t", 0): 10}, {"g": {("t", 0): 5}})

    samples = _collector(admin, FakeClock(start=1120.0)).collect()

    assert (0.0, 1.0) == _lag_seconds_and_bound(samples)


def test_a_cycle_with_a_failed_request_keeps_its_samples_and_reports_the_failure() -> None:
    admin = FakeAdmin({"t": 1}, {("t", 0): 10}, _groups(2))
    admin.failing_groups = {"g001"}

    with pytest.raises(PartialCollectionError, match="requests failed: group_offsets") as failed:
        _collector(admin).collect()

    assert 9.0 == _value(
        list(failed.value.samples), "kafka_consumergroup_lag", consumergroup="g000", topic="t", partition="0"
    )


def test_a_client_whose_requests_fail_while_the_cluster_answers_is_replaced() -> None:
    admin = FakeAdmin({"t": 1}, {("t", 0): 10}, _groups(1))
    made: list[FakeAdmin] = []

    def factory(settings: Any) -> Any:
        made.append(admin)
        return admin

    collector = KafkaCollector(
        KafkaConfig(name="main", bootstrap_servers="k1:9092"), FakeClock(), admin_factory=factory
    )
    collector.collect()
    admin.failing_groups = {"g000"}
    read_whatever(collector)
    admin.failing_groups = set()
    collector.collect()

    assert 2 == len(made)


class LeaderlessAdmin(FakeAdmin):
    """Partition 1 of every topic has no leader yet: list_offsets answers NOT_LEADER_FOR_PARTITION for it."""

    def _offset_answer(self, tp: TopicPartition, spec: Any) -> Future[Any]:
        if tp.partition != 1:
            return super()._offset_answer(tp, spec)
        future: Future[Any] = Future()
        future.set_exception(KafkaException(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION)))
        return future


def test_a_partition_without_a_leader_does_not_fail_the_collector() -> None:
    admin = LeaderlessAdmin({"t": 2}, {("t", 0): 10, ("t", 1): 10}, {})

    samples = list(_collector(admin).collect())

    assert (10.0, None) == tuple(
        _value(samples, "kafka_topic_partition_current_offset", topic="t", partition=p) for p in "01"
    )
