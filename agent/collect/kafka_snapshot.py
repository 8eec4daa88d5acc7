"""What one collection read from a Kafka cluster, and the samples it becomes.

Pure: no client, no clock. kafka.py fills a `Snapshot` from AdminClient answers; this
module turns it into kafka_exporter's samples, so the arithmetic (lag, sums, preferred
leader, under-replication) is tested without a broker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from agent.collect.kafka_metrics import GROUP_STATES
from agent.config.kafka import IncludeExclude
from agent.gocompat.regex import compile_anchored
from agent.model import Labels, Sample, labels_of

# A partition, as (topic, partition number).
TopicPartitionKey = tuple[str, int]


class NameFilter:
    """Selects topic or group names: fully-anchored include regexes first, then exclude."""

    def __init__(self, selection: IncludeExclude) -> None:
        # Go regexps (RE2), as kafka_exporter's filters, here anchored at both ends.
        self._include = [compile_anchored(pattern, dot_all=False).matches for pattern in selection.include]
        self._exclude = [compile_anchored(pattern, dot_all=False).matches for pattern in selection.exclude]

    def __call__(self, name: str) -> bool:
        """Whether `name` matches an include pattern and no exclude pattern."""
        return any(p(name) for p in self._include) and not any(p(name) for p in self._exclude)


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    """Where one partition lives, from the cluster metadata."""

    topic: str
    partition: int
    leader: int  # -1 when it has none
    replicas: tuple[int, ...]
    isr: tuple[int, ...]

    @property
    def key(self) -> TopicPartitionKey:
        """The partition as (topic, partition number), the key of per-partition maps."""
        return (self.topic, self.partition)

    @property
    def offline(self) -> bool:
        """Whether the partition has no leader."""
        return self.leader < 0


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """One consumer group's description."""

    group_id: str
    state: str  # one of GROUP_STATES
    members: int


@dataclass
class Snapshot:
    """Everything one collection cycle read; what a failed request did not read is absent."""

    brokers: dict[int, str] = field(default_factory=dict)  # id -> host:port
    partitions: list[PartitionInfo] = field(default_factory=list)
    end_offsets: dict[TopicPartitionKey, int] = field(default_factory=dict)
    oldest_offsets: dict[TopicPartitionKey, int] = field(default_factory=dict)
    max_timestamps: dict[TopicPartitionKey, float] = field(default_factory=dict)  # seconds
    retention_ms: dict[str, int] = field(default_factory=dict)
    groups: list[GroupInfo] = field(default_factory=list)
    committed: dict[str, dict[TopicPartitionKey, int]] = field(default_factory=dict)


# (topic, partition, committed offset) -> (lag in seconds, whether that is only a lower bound).
LagSeconds = Callable[[TopicPartitionKey, int], tuple[float, bool]]


class _Labeler:
    """Label sets of one cluster's samples, each with the `cluster` label."""

    def __init__(self, cluster: str) -> None:
        self.cluster = cluster

    def sample(self, name: str, value: float, **labels: str) -> Sample:
        return Sample(name, self.labels(**labels), float(value))

    def labels(self, **labels: str) -> Labels:
        """One label set with the cluster's label, to share among the samples of one partition or group.

        At 10,000 partitions a label set per sample is ~20 MB; shared, a tenth of it, here, in the
        pipe (pickle writes a shared tuple once) and in the store, which keeps the first one it saw.
        """
        return labels_of(labels, cluster=self.cluster)


def snapshot_samples(cluster: str, snapshot: Snapshot, lag_seconds: LagSeconds) -> list[Sample]:
    """The kafka_* samples of one snapshot (kafka_up and self-metrics are the collector's)."""
    return list(iter_snapshot_samples(cluster, snapshot, lag_seconds))


def iter_snapshot_samples(cluster: str, snapshot: Snapshot, lag_seconds: LagSeconds) -> Iterator[Sample]:
    """`snapshot_samples`, one at a time: the child sends them in frames as they come, never holding them all."""
    out = _Labeler(cluster)
    yield from _broker_samples(out, snapshot.brokers)
    yield from _topic_samples(out, snapshot)
    for info in snapshot.partitions:
        yield from _partition_samples(out, info, snapshot)
    for group in snapshot.groups:
        yield from _group_samples(out, group)
    for group_id, committed in snapshot.committed.items():
        yield from _group_offset_samples(out, group_id, committed, snapshot.end_offsets, lag_seconds)


def _broker_samples(out: _Labeler, brokers: dict[int, str]) -> Iterator[Sample]:
    yield out.sample("kafka_brokers", len(brokers))
    for broker_id, address in sorted(brokers.items()):
        yield out.sample("kafka_broker_info", 1, id=str(broker_id), address=address)


def _topic_samples(out: _Labeler, snapshot: Snapshot) -> Iterator[Sample]:
    counts: dict[str, int] = {}
    for info in snapshot.partitions:
        counts[info.topic] = counts.get(info.topic, 0) + 1
    for topic, count in counts.items():
        yield out.sample("kafka_topic_partitions", count, topic=topic)
    for topic, retention_ms in snapshot.retention_ms.items():
        # -1 (unlimited) must stay -1, not become -0.001.
        yield out.sample(
            "kafka_topic_config_retention_seconds", retention_ms / 1000 if retention_ms >= 0 else -1, topic=topic
        )


def _partition_samples(out: _Labeler, info: PartitionInfo, snapshot: Snapshot) -> Iterator[Sample]:
    labels = out.labels(topic=info.topic, partition=str(info.partition))
    if not info.offline:
        yield Sample("kafka_topic_partition_leader", labels, float(info.leader))
    yield Sample("kafka_topic_partition_replicas", labels, float(len(info.replicas)))
    yield Sample("kafka_topic_partition_in_sync_replica", labels, float(len(info.isr)))
    preferred = not info.offline and bool(info.replicas) and info.replicas[0] == info.leader
    yield Sample("kafka_topic_partition_leader_is_preferred", labels, float(preferred))
    yield Sample("kafka_topic_partition_under_replicated_partition", labels, float(len(info.isr) < len(info.replicas)))
    yield Sample("kafka_topic_partition_offline", labels, float(info.offline))
    for name, values in (
        ("kafka_topic_partition_current_offset", snapshot.end_offsets),
        ("kafka_topic_partition_oldest_offset", snapshot.oldest_offsets),
        ("kafka_topic_partition_max_timestamp_seconds", snapshot.max_timestamps),
    ):
        value = values.get(info.key)
        if value is not None:
            yield Sample(name, labels, float(value))


def _group_samples(out: _Labeler, group: GroupInfo) -> Iterator[Sample]:
    yield out.sample("kafka_consumergroup_members", group.members, consumergroup=group.group_id)
    for state in GROUP_STATES:
        yield out.sample(
            "kafka_consumergroup_state", int(state == group.state), consumergroup=group.group_id, state=state
        )


def _group_offset_samples(
    out: _Labeler,
    group_id: str,
    committed: dict[TopicPartitionKey, int],
    end_offsets: dict[TopicPartitionKey, int],
    lag_seconds: LagSeconds,
) -> Iterator[Sample]:
    """Per-partition offsets and lag of one group, and their sums per topic."""
    sums: dict[str, list[int]] = {}  # topic -> [offset sum, lag sum]
    for (topic, partition), offset in sorted(committed.items()):
        labels = out.labels(consumergroup=group_id, topic=topic, partition=str(partition))
        yield Sample("kafka_consumergroup_current_offset", labels, float(offset))
        topic_sums = sums.setdefault(topic, [0, 0])
        topic_sums[0] += offset
        end = end_offsets.get((topic, partition))
        if end is None:
            continue
        # Committed offsets are read before end offsets, so this only clamps a topic
        # that was truncated or re-created under the group.
        lag = max(0, end - offset)
        topic_sums[1] += lag
        yield Sample("kafka_consumergroup_lag", labels, float(lag))
        seconds, lower_bound = lag_seconds((topic, partition), offset) if lag else (0.0, False)
        yield Sample("kafka_consumergroup_lag_seconds", labels, float(seconds))
        yield Sample("kafka_consumergroup_lag_seconds_lower_bound", labels, float(lower_bound))
    for topic, (offset_sum, lag_sum) in sums.items():
        yield out.sample("kafka_consumergroup_current_offset_sum", offset_sum, consumergroup=group_id, topic=topic)
        yield out.sample("kafka_consumergroup_lag_sum", lag_sum, consumergroup=group_id, topic=topic)


# confluent-kafka's ConsumerGroupState member names -> Kafka's own state names.
_STATE_NAMES = {
    "PREPARING_REBALANCING": "PreparingRebalance",
    "COMPLETING_REBALANCING": "CompletingRebalance",
    "STABLE": "Stable",
    "DEAD": "Dead",
    "EMPTY": "Empty",
}


def group_state_name(raw: str) -> str:
    """Kafka's name for a state as confluent-kafka spells it (`PREPARING_REBALANCING`)."""
    return _STATE_NAMES.get(raw, "Unknown")
