"""The Kafka collector: one cluster's brokers, partitions, offsets and consumer groups.

One instance per configured cluster, each with its own lazily created AdminClient, offset
history and counters, so several clusters live side by side. A cycle reads, in this order:
metadata (brokers, partitions, leaders, replicas), consumer groups and their committed
offsets, then the partitions' end, oldest and max-timestamp offsets, then topic retention.
Committed offsets come before end offsets so that lag can be overstated a little but is
never negative (DataDog's kafka_consumer check does the same).

Every AdminClient call carries a timeout. A cycle in which any request failed still
returns what it read, raised as `PartialCollectionError` so `tripwired_collector_up` says 0;
each failing request kind is counted (`tripwired_kafka_request_errors_total`). A cluster
that cannot be reached reports `kafka_up 0`, logs the change once, and is tried again next
cycle with the same client: librdkafka reconnects by itself. But a cluster that answers
the metadata request while another request fails gets a fresh client next cycle: after a
broker restart a long-lived client's describe_consumer_groups can time out forever while a
new one works at once. The collector runs in a child process (agent.collect.isolated), so
that a librdkafka abort while this happens cannot take the daemon down.
"""

from __future__ import annotations

import functools
import math
import typing
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, wait
from typing import Any, TypeVar

import structlog
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ClusterMetadata, ConfigResource, OffsetSpec, ResourceType

from agent.clock import Clock
from agent.collect.base import PartialCollectionError, SeriesHistory
from agent.collect.kafka_lag import DEFAULT_HISTORY_POINTS, OffsetHistory
from agent.collect.kafka_metrics import KAFKA_METRICS, SEEDED_FROM
from agent.collect.kafka_snapshot import (
    GroupInfo,
    NameFilter,
    PartitionInfo,
    Snapshot,
    TopicPartitionKey,
    group_state_name,
    iter_snapshot_samples,
)
from agent.config.kafka import KafkaConfig
from agent.model import MetricMeta, Sample, labels_of

log = structlog.get_logger(__name__)

K = TypeVar("K")
T = TypeVar("T")

DEFAULT_REQUEST_TIMEOUT = 5.0
DEFAULT_MAX_IN_FLIGHT = 32
# Partitions per list_offsets request (see _read_offsets), topics per DescribeConfigs request.
DEFAULT_OFFSETS_BATCH = 1_000
CONFIGS_BATCH = 100
# librdkafka enforces request_timeout itself; the extra second only bounds our wait for its answer.
_WAIT_SLACK = 1.0
REQUESTS = ("metadata", "list_groups", "describe_groups", "group_offsets", "list_offsets", "describe_configs")
# Which offset each list_offsets request asks for, and the Snapshot field it fills.
_OFFSET_SPECS: tuple[tuple[str, Callable[[], OffsetSpec]], ...] = (
    ("end_offsets", OffsetSpec.latest),
    ("oldest_offsets", OffsetSpec.earliest),
    ("max_timestamps", OffsetSpec.max_timestamp),
)
# librdkafka logs every failed reconnect at level 3; a cluster that is down is reported
# once through kafka_up and our own log line instead. `config: {log_level: 6}` brings them back.
ClientConfig = dict[str, str | int | float | bool]
_CLIENT_DEFAULTS: ClientConfig = {"log_level": 2}

AdminFactory = Callable[[ClientConfig], AdminClient]


class KafkaCollector:
    """Reads one Kafka cluster with confluent-kafka's AdminClient into kafka_exporter's metrics."""

    def __init__(
        self,
        config: KafkaConfig,
        clock: Clock,
        *,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        offsets_batch: int = DEFAULT_OFFSETS_BATCH,
        history_points: int = DEFAULT_HISTORY_POINTS,
        admin_factory: AdminFactory = AdminClient,
    ) -> None:
        self._config = config
        self._clock = clock
        self._timeout = request_timeout
        self._max_in_flight = max_in_flight
        self._offsets_batch = offsets_batch
        self._admin_factory = admin_factory
        self._admin: AdminClient | None = None
        self._topics = NameFilter(config.topics)
        self._groups = NameFilter(config.groups)
        self._history = OffsetHistory(history_points)
        self._requests: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()
        self._failed_now: set[str] = set()  # request kinds that failed in this cycle
        self._reachable: bool | None = None
        # librdkafka's own reasons (TLS handshake, SASL authentication) for this cycle, via error_cb.
        self._client_errors: list[str] = []

    @property
    def name(self) -> str:
        """The `collector` label: always `kafka`."""
        return "kafka"

    @property
    def instance(self) -> str:
        """The `instance` label: the cluster's configured name."""
        return self._config.name

    def metrics(self) -> Sequence[MetricMeta]:
        """The Kafka families (KAFKA_METRICS), declared whether or not the cluster answers."""
        return KAFKA_METRICS

    def collect(self) -> Sequence[Sample]:
        """One cycle: everything readable now, kafka_up, and the collector's own counters.

        Raises `PartialCollectionError` (with those samples) when any request failed.
        """
        samples: list[Sample] = []
        try:
            for sample in self.stream():
                samples.append(sample)
        except PartialCollectionError as partial:
            raise PartialCollectionError([*samples, *partial.samples], str(partial)) from None
        return samples

    def stream(self) -> Iterator[Sample]:
        """`collect`, one sample at a time as they are made; the failure, if any, raised after the last."""
        started = self._clock.monotonic()
        self._failed_now.clear()
        self._serve_client_errors()
        self._client_errors.clear()
        try:
            snapshot, observed_at = self._read(self._client())
        except KafkaException as exc:
            self._note_reachable(False, self._failure_reason(exc))
        else:
            self._note_reachable(True)
            if self._failed_now:
                self._replace_client()
            yield from iter_snapshot_samples(self._config.name, snapshot, self._lag_seconds_at(observed_at))
            del snapshot
        yield self._sample("kafka_up", float(bool(self._reachable)))
        yield from self._self_samples(self._clock.monotonic() - started)
        if self._failed_now:
            raise PartialCollectionError((), "requests failed: " + ", ".join(sorted(self._failed_now)))

    def seed(self, history: SeriesHistory) -> None:
        """Fill the end offset history from this cluster's stored `kafka_topic_partition_current_offset`.

        After a restart, lag in seconds is then interpolated from what was seen before it, not
        counted from the restart.
        """
        for name in SEEDED_FROM:
            for labels, times_ms, values in history(name):
                key = self._partition_key(dict(labels))
                if key is None:
                    continue
                for t_ms, value in zip(times_ms, values, strict=True):
                    if not math.isnan(value):  # a staleness marker
                        self._history.record(key, t_ms / 1000, int(value))

    def _partition_key(self, labels: dict[str, str]) -> TopicPartitionKey | None:
        """The partition a stored series of this cluster is about; None for another cluster's."""
        if labels.get("cluster") != self._config.name or not labels.get("partition", "").isdigit():
            return None
        topic = labels.get("topic", "")
        return (topic, int(labels["partition"])) if self._topics(topic) else None

    def client_config(self) -> ClientConfig:
        """The librdkafka settings of the AdminClient: ours, then the configured ones on top."""
        return client_config(self._config)

    def _client(self) -> AdminClient:
        """The AdminClient, created on first use (creating it connects to nothing yet)."""
        if self._admin is None:
            # librdkafka takes callbacks among its settings; confluent-kafka's stubs do not say so.
            settings: dict[str, Any] = {**self.client_config(), "error_cb": self._on_client_error}
            self._admin = self._admin_factory(typing.cast(ClientConfig, settings))
        return self._admin

    def _on_client_error(self, error: KafkaError) -> None:
        if len(self._client_errors) < 5:
            self._client_errors.append(error.str())

    def _serve_client_errors(self) -> None:
        """Run the error callbacks librdkafka queued (it queues them only for a client that has one)."""
        if self._admin is not None:
            self._admin.poll(0)

    def _failure_reason(self, exc: KafkaException) -> str:
        """The failed request's error, with librdkafka's first reason for it ("SSL handshake failed: ...")."""
        self._serve_client_errors()
        reason = str(exc.args[0]) if exc.args else repr(exc)
        return f"{reason}: {self._client_errors[0]}" if self._client_errors else reason

    def _replace_client(self) -> None:
        """Drop the client: the cluster answered but this client's requests did not (see the module doc)."""
        log.info("kafka_client_replaced", cluster=self._config.name, failed_requests=sorted(self._failed_now))
        self._admin = None

    def _read(self, admin: AdminClient) -> tuple[Snapshot, float]:
        """Read the cluster; only the metadata request failing makes the whole cycle fail."""
        metadata = self._request("metadata", lambda: admin.list_topics(timeout=self._timeout))
        snapshot = Snapshot(brokers=_brokers(metadata), partitions=self._partitions(metadata))
        del metadata  # ~70,000 objects at 10,000 partitions: not kept through the offsets requests
        selected_topics = {info.topic for info in snapshot.partitions}
        group_ids = self._group_ids(admin)
        snapshot.groups, snapshot.committed = self._groups_and_offsets(admin, group_ids, selected_topics)
        self._read_offsets(admin, snapshot)
        observed_at = self._clock.time()
        for key, end_offset in snapshot.end_offsets.items():
            self._history.record(key, observed_at, end_offset)
        # Forget by the metadata, not by the answers: a failed list_offsets must not erase the history.
        self._history.retain(info.key for info in snapshot.partitions)
        snapshot.retention_ms = self._retention_ms(admin, selected_topics)
        return snapshot, observed_at

    def _partitions(self, metadata: ClusterMetadata) -> list[PartitionInfo]:
        """The partitions of the selected topics, as the metadata describes them."""
        return [
            PartitionInfo(name, p.id, p.leader, tuple(p.replicas), tuple(p.isrs))
            for name, topic in sorted(metadata.topics.items())
            if topic.error is None and self._topics(name)
            for p in sorted(topic.partitions.values(), key=lambda p: p.id)
        ]

    def _group_ids(self, admin: AdminClient) -> list[str]:
        """The ids of the selected consumer groups; none when listing them failed, some when a broker did not answer."""
        future = self._issue("list_groups", lambda: admin.list_consumer_groups(request_timeout=self._timeout))
        listed = self._gather("list_groups", {"all": future} if future else {})
        if "all" not in listed:
            return []
        if listed["all"].errors:  # a broker that did not answer: its groups are missing from `valid`
            self._failed("list_groups")
        return sorted(g.group_id for g in listed["all"].valid if self._groups(g.group_id))

    def _groups_and_offsets(
        self, admin: AdminClient, group_ids: list[str], topics: set[str]
    ) -> tuple[list[GroupInfo], dict[str, dict[TopicPartitionKey, int]]]:
        """Group descriptions and committed offsets, requested concurrently."""
        if not group_ids:
            return [], {}
        described = self._issue(
            "describe_groups", lambda: admin.describe_consumer_groups(group_ids, request_timeout=self._timeout)
        )
        committed = self._committed_offsets(admin, group_ids, topics)
        descriptions = self._gather("describe_groups", described or {})
        groups = [
            GroupInfo(group_id, group_state_name(d.state.name), len(d.members)) for group_id, d in descriptions.items()
        ]
        if not self._config.offset_show_all:
            committed = _assigned_only(committed, descriptions)
        return sorted(groups, key=lambda g: g.group_id), committed

    def _committed_offsets(
        self, admin: AdminClient, group_ids: Iterable[str], topics: set[str]
    ) -> dict[str, dict[TopicPartitionKey, int]]:
        """Committed offsets of each group, at most `max_in_flight` requests at a time.

        The API takes one group per request; a thousand groups one after the other would
        take a thousand round trips, all of them at once would flood the coordinators.
        """
        committed: dict[str, dict[TopicPartitionKey, int]] = {}
        in_flight: dict[Future[Any], str] = {}
        for group_id in group_ids:
            if len(in_flight) >= self._max_in_flight:
                self._settle(in_flight, committed, topics, FIRST_COMPLETED)
            future = self._issue("group_offsets", functools.partial(self._offsets_request, admin, group_id))
            if future is not None:
                in_flight[future] = group_id
        while in_flight:
            self._settle(in_flight, committed, topics, ALL_COMPLETED)
        return committed

    def _offsets_request(self, admin: AdminClient, group_id: str) -> Future[Any]:
        request = [ConsumerGroupTopicPartitions(group_id)]
        return admin.list_consumer_group_offsets(request, request_timeout=self._timeout)[group_id]

    def _settle(
        self,
        in_flight: dict[Future[Any], str],
        committed: dict[str, dict[TopicPartitionKey, int]],
        topics: set[str],
        return_when: str,
    ) -> None:
        """Take the answers that arrive; give up the rest if none (or not all) came in time."""
        done, _ = wait(in_flight, timeout=self._timeout + _WAIT_SLACK, return_when=return_when)
        for future in done:
            group_id = in_flight.pop(future)
            if future.exception() is not None:
                self._failed("group_offsets")
                continue
            committed[group_id] = _committed_of(future.result().topic_partitions or [], topics)
        if in_flight and (not done or return_when == ALL_COMPLETED):
            self._failed("group_offsets", len(in_flight))
            in_flight.clear()

    def _read_offsets(self, admin: AdminClient, snapshot: Snapshot) -> None:
        """End, oldest and max-timestamp offsets, `offsets_batch` partitions per request.

        The three requests of a batch are in flight together. One request for every partition
        would hold a future and an answer per partition and kind at once: at 10,000 partitions
        30,000 of each, ~50 MB at the cycle's peak, and heap the child kept between cycles.
        """
        online = [TopicPartition(p.topic, p.partition) for p in snapshot.partitions if not p.offline]
        for start in range(0, len(online), self._offsets_batch):
            self._read_offsets_of(admin, online[start : start + self._offsets_batch], snapshot)

    def _read_offsets_of(self, admin: AdminClient, partitions: list[TopicPartition], snapshot: Snapshot) -> None:
        pending = {
            field: self._issue("list_offsets", functools.partial(self._offsets_of, admin, partitions, spec()))
            for field, spec in _OFFSET_SPECS
        }
        for field, futures in pending.items():
            answers = self._gather("list_offsets", futures or {})
            if field == "max_timestamps":
                # An empty partition has no newest record: Kafka answers -1.
                snapshot.max_timestamps.update(
                    ((tp.topic, tp.partition), i.timestamp / 1000) for tp, i in answers.items() if i.timestamp >= 0
                )
            else:
                values: dict[TopicPartitionKey, int] = getattr(snapshot, field)
                values.update(((tp.topic, tp.partition), i.offset) for tp, i in answers.items() if i.offset >= 0)

    def _offsets_of(
        self, admin: AdminClient, partitions: list[TopicPartition], spec: OffsetSpec
    ) -> dict[TopicPartition, Future[Any]]:
        return admin.list_offsets({tp: spec for tp in partitions}, request_timeout=self._timeout)

    def _retention_ms(self, admin: AdminClient, topics: set[str]) -> dict[str, int]:
        """retention.ms of each selected topic, CONFIGS_BATCH topics per DescribeConfigs request.

        The answer carries every setting of a topic (~40 objects each) of which one is kept: at
        1,000 topics in one request, ~25 MB of the child's peak.
        """
        retention: dict[str, int] = {}
        names = sorted(topics)
        for start in range(0, len(names), CONFIGS_BATCH):
            retention.update(self._retention_ms_of(admin, names[start : start + CONFIGS_BATCH]))
        return retention

    def _retention_ms_of(self, admin: AdminClient, topics: list[str]) -> dict[str, int]:
        resources = [ConfigResource(ResourceType.TOPIC, topic) for topic in topics]
        futures = self._issue(
            "describe_configs", lambda: admin.describe_configs(resources, request_timeout=self._timeout)
        )
        answers = self._gather("describe_configs", futures or {})
        return {
            resource.name: int(entries["retention.ms"].value)
            for resource, entries in answers.items()
            if "retention.ms" in entries and entries["retention.ms"].value is not None
        }

    def _request(self, kind: str, call: Callable[[], T]) -> T:
        """Make one blocking request, counting it and, if it raises, its failure."""
        self._requests[kind] += 1
        try:
            return call()
        except KafkaException:
            self._failed(kind)
            raise

    def _issue(self, kind: str, call: Callable[[], T]) -> T | None:
        """Send one asynchronous request; None (counted as an error) if it could not be sent."""
        try:
            return self._request(kind, call)
        except KafkaException:
            return None

    def _gather(self, kind: str, futures: Mapping[K, Future[Any]]) -> dict[K, Any]:
        """The answers of one request's futures; a part that failed or is late counts the request failed.

        A partition without a leader (a topic being created, a broker down in a larger cluster)
        is the partition's state, reported as offline; it does not fail the collector.
        """
        done, _ = wait(futures.values(), timeout=self._timeout + _WAIT_SLACK)
        answers = {key: f.result() for key, f in futures.items() if f in done and f.exception() is None}
        if any(f not in done or _request_error(f.exception()) for f in futures.values()):
            self._failed(kind)
        return answers

    def _failed(self, kind: str, count: int = 1) -> None:
        self._errors[kind] += count
        self._failed_now.add(kind)

    def _lag_seconds_at(self, now: float) -> Callable[[TopicPartitionKey, int], tuple[float, bool]]:
        def lag_seconds(partition: TopicPartitionKey, committed: int) -> tuple[float, bool]:
            history = self._history
            return history.lag_seconds(partition, committed, now), history.is_lower_bound(partition, committed)

        return lag_seconds

    def _note_reachable(self, reachable: bool, error: str = "") -> None:
        """Log only changes: a cluster that stays down for an hour is one line, not 360."""
        if reachable == self._reachable:
            return
        self._reachable = reachable
        if reachable:
            log.info("kafka_cluster_reachable", cluster=self._config.name)
        else:
            log.warning("kafka_cluster_unreachable", cluster=self._config.name, error=error)

    def _sample(self, name: str, value: float, **labels: str) -> Sample:
        return Sample(name, labels_of(labels, cluster=self._config.name), value)

    def _self_samples(self, duration: float) -> list[Sample]:
        samples = [self._sample("tripwired_kafka_collection_duration_seconds", duration)]
        for kind in REQUESTS:
            samples.append(self._sample("tripwired_kafka_requests_total", float(self._requests[kind]), request=kind))
            samples.append(
                self._sample("tripwired_kafka_request_errors_total", float(self._errors[kind]), request=kind)
            )
        return samples


def client_config(config: KafkaConfig, role: str = "") -> ClientConfig:
    """librdkafka settings for one of a cluster's clients: ours, then the configured ones on top."""
    settings: ClientConfig = {
        **_CLIENT_DEFAULTS,
        "bootstrap.servers": config.bootstrap_servers,
        "client.id": "-".join(filter(None, ("tripwired", config.name, role))),
    }
    settings.update({key: str(value) for key, value in config.config.items()})
    return settings


# Answers about one partition's leadership, not about the client or the cluster.
_PARTITION_STATES = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_PARTITION,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError.REPLICA_NOT_AVAILABLE,
    }
)


def _request_error(error: BaseException | None) -> bool:
    """Whether a future's error is the request's (a timeout, a dead connection), not its partition's state."""
    if error is None:
        return False
    if not isinstance(error, KafkaException) or not error.args or not isinstance(error.args[0], KafkaError):
        return True
    return error.args[0].code() not in _PARTITION_STATES


def _brokers(metadata: ClusterMetadata) -> dict[int, str]:
    return {b.id: f"{b.host}:{b.port}" for b in metadata.brokers.values()}


def _assigned_only(
    committed: dict[str, dict[TopicPartitionKey, int]], descriptions: Mapping[str, Any]
) -> dict[str, dict[TopicPartitionKey, int]]:
    """kafka_exporter's --offset.show-all=false: each group's offsets on the partitions its members hold now."""
    assigned = {
        group_id: {(tp.topic, tp.partition) for m in d.members for tp in m.assignment.topic_partitions or []}
        for group_id, d in descriptions.items()
    }
    return {
        group_id: {key: offset for key, offset in offsets.items() if key in assigned.get(group_id, set())}
        for group_id, offsets in committed.items()
    }


def _committed_of(partitions: Iterable[TopicPartition], topics: set[str]) -> dict[TopicPartitionKey, int]:
    """A group's committed offsets in the selected topics; partitions it never committed (-1001) are left out."""
    return {
        (tp.topic, tp.partition): tp.offset
        for tp in partitions
        if tp.topic in topics and tp.offset >= 0 and tp.error is None
    }
