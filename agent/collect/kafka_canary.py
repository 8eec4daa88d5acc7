"""The Kafka canary: KMinion's end-to-end probe, one round per collection.

Offsets and lag say whether data moves; they cannot say whether a producer *could* write and a
consumer *could* read right now. So each round the canary produces one small message to every
partition of a topic of its own (created when missing: `partitions_per_broker` per broker, so
every broker leads some partition), waits for the acknowledgements, reads each message back
from the offset the broker gave it, and exports what happened with KMinion's metric names
under `kafka_canary_` (`kminion_end_to_end_` there). "No messages on the ingest topic" and
"the pipeline itself is broken" are then two different alerts.

The whole round (metadata, topic creation, produce, consume) shares one deadline, the
canary's `timeout`; a message still unacknowledged at the deadline is purged and counted
failed, one acknowledged but not read back by then is counted lost. The consumer reads by
assignment, never joins or commits a group, so the canary adds no consumer group to the
cluster's metrics.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ClusterMetadata, NewTopic

from agent.clock import Clock
from agent.collect.kafka import ClientConfig, client_config
from agent.collect.kafka_metrics import CANARY_METRICS
from agent.config.kafka import CanaryConfig, KafkaConfig
from agent.model import Histogram, MetricMeta, Sample, exponential_buckets, labels_of

log = structlog.get_logger(__name__)


_FIRST_BUCKET = 0.005  # KMinion's: 5 ms, doubling up to the round's timeout
_DEFAULT_REPLICATION = 3
_PROBE_VALUE = b"tripwired canary"


@dataclass
class _Round:
    """What one probe round sent and got back, by partition."""

    sent_at: dict[bytes, tuple[int, float]] = field(default_factory=dict)  # key -> (partition, monotonic)
    acked: dict[int, int] = field(default_factory=dict)  # partition -> offset of its message
    failed: dict[int, str] = field(default_factory=dict)  # partition -> error
    received: set[int] = field(default_factory=set)


class KafkaCanaryCollector:
    """Produces a probe to every partition of a canary topic and consumes it back, each collection."""

    def __init__(self, config: KafkaConfig, clock: Clock) -> None:
        self._config = config
        self._canary: CanaryConfig = config.canary
        self._clock = clock
        self._probe_id = uuid.uuid4().hex[:12]  # tells our messages from another agent's on a shared topic
        self._sequence = 0
        self._buckets = exponential_buckets(_FIRST_BUCKET, 2, float(self._canary.timeout))
        self._producer: Producer | None = None
        self._consumer: Consumer | None = None
        self._admin: AdminClient | None = None
        self._partitions: list[int] = []  # as last seen, so a round without metadata still probes them
        self._counts: dict[str, Counter[int]] = {name: Counter() for name in _COUNTERS}
        self._produce_latency: dict[int, Histogram] = {}
        self._roundtrip_latency: dict[int, Histogram] = {}
        self._healthy: bool | None = None

    @property
    def name(self) -> str:
        """The `collector` label: always `kafka_canary`."""
        return "kafka_canary"

    @property
    def instance(self) -> str:
        """The `instance` label: the cluster's configured name."""
        return self._config.name

    def metrics(self) -> Sequence[MetricMeta]:
        """The canary's families (CANARY_METRICS)."""
        return CANARY_METRICS

    def collect(self) -> Sequence[Sample]:
        """One probe round, within the canary's timeout; never raises for a cluster that misbehaves."""
        deadline = self._clock.monotonic() + float(self._canary.timeout)
        problem = self._refresh_partitions(deadline)
        outcome = _Round()
        if self._partitions:
            self._produce(outcome, deadline)
            self._consume(outcome, deadline)
        self._count(outcome)
        healthy = bool(self._partitions) and outcome.received == set(self._partitions)
        self._note_health(healthy, problem or _first_error(outcome))
        return self._samples(healthy)

    # -- the topic ----------------------------------------------------------------

    def _refresh_partitions(self, deadline: float) -> str:
        """Learn the canary topic's partitions, creating the topic when it is missing; an error or ''."""
        try:
            metadata = self._admin_client().list_topics(self._canary.topic, timeout=self._left(deadline))
            topic = metadata.topics.get(self._canary.topic)
            if topic is None or (topic.error is not None and topic.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART):
                self._partitions = self._create_topic(metadata, deadline)
                return ""
            if topic.error is not None:
                return str(topic.error)
            self._partitions = sorted(topic.partitions)
        except KafkaException as exc:
            return _error_text(exc)
        return ""

    def _create_topic(self, metadata: ClusterMetadata, deadline: float) -> list[int]:
        """Create the canary topic (partitions_per_broker per broker, replicated up to 3 times); its partitions."""
        brokers = max(len(metadata.brokers), 1)
        replication = self._canary.replication_factor or min(_DEFAULT_REPLICATION, brokers)
        partitions = brokers * self._canary.partitions_per_broker
        new = NewTopic(self._canary.topic, partitions, replication)
        future = self._admin_client().create_topics([new], request_timeout=self._left(deadline))[self._canary.topic]
        try:
            future.result(timeout=self._left(deadline))
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
        log.info("kafka_canary_topic_created", cluster=self._config.name, topic=self._canary.topic)
        return list(range(partitions))

    # -- one round ----------------------------------------------------------------

    def _produce(self, outcome: _Round, deadline: float) -> None:
        """One message per partition; wait for the answers until the deadline, then give up the rest."""
        producer = self._producer_client()
        self._sequence += 1
        for partition in self._partitions:
            key = f"{self._probe_id}-{self._sequence}-{partition}".encode()
            outcome.sent_at[key] = (partition, self._clock.monotonic())
            try:
                producer.produce(
                    self._canary.topic, _PROBE_VALUE, key, partition, on_delivery=self._on_delivery(outcome)
                )
            except (KafkaException, BufferError) as exc:
                outcome.failed[partition] = str(exc)
        producer.flush(self._left(deadline))
        producer.purge()  # what is still queued or in flight is failed now, not in a later round
        producer.flush(0)  # serves the purged messages' delivery reports

    def _on_delivery(self, outcome: _Round) -> Callable[[KafkaError | None, Message], None]:
        def delivered(error: KafkaError | None, message: Message) -> None:
            partition, sent_at = outcome.sent_at[message.key() or b""]
            offset = message.offset()
            if error is not None or offset is None:
                outcome.failed[partition] = error.str() if error is not None else "no offset"
                return
            outcome.acked[partition] = offset
            self._histogram(self._produce_latency, partition).observe(self._clock.monotonic() - sent_at)

        return delivered

    def _consume(self, outcome: _Round, deadline: float) -> None:
        """Read each acknowledged message back from its own offset, until all are in or the deadline passes."""
        if not outcome.acked:
            return
        consumer = self._consumer_client()
        consumer.assign([TopicPartition(self._canary.topic, p, offset) for p, offset in outcome.acked.items()])
        waiting = set(outcome.acked)
        while waiting and self._left(deadline) > 0:
            for message in consumer.consume(len(waiting), timeout=self._left(deadline)):
                key = message.key()
                if message.error() is not None or key is None or key not in outcome.sent_at:
                    continue  # another agent's probe, or a fetch error this round's deadline will report
                partition, sent_at = outcome.sent_at[key]
                if partition in waiting:
                    waiting.discard(partition)
                    outcome.received.add(partition)
                    self._histogram(self._roundtrip_latency, partition).observe(self._clock.monotonic() - sent_at)

    def _count(self, outcome: _Round) -> None:
        probed = [partition for partition, _ in outcome.sent_at.values()]
        self._counts["produced"].update(probed)
        self._counts["failed"].update(p for p in probed if p not in outcome.acked)
        self._counts["received"].update(outcome.received)
        self._counts["lost"].update(p for p in outcome.acked if p not in outcome.received)

    # -- clients --------------------------------------------------------------------

    def _settings(self, role: str) -> ClientConfig:
        # A metadata request for a missing topic must not let the broker create it with its defaults.
        return {**client_config(self._config, role), "allow.auto.create.topics": False}

    def _admin_client(self) -> AdminClient:
        if self._admin is None:
            self._admin = AdminClient(self._settings("canary-admin"))
        return self._admin

    def _producer_client(self) -> Producer:
        if self._producer is None:
            settings = {
                **self._settings("canary-producer"),
                "acks": "all",
                "linger.ms": 0,
                "message.timeout.ms": max(1, int(float(self._canary.timeout) * 1000)),
            }
            self._producer = Producer(settings)
        return self._producer

    def _consumer_client(self) -> Consumer:
        if self._consumer is None:
            settings = {
                **self._settings("canary-consumer"),
                # Required by the client, never used: the consumer assigns partitions and commits nothing.
                "group.id": f"tripwired-canary-{self._config.name}",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "fetch.wait.max.ms": 10,
            }
            self._consumer = Consumer(settings)
        return self._consumer

    # -- output ---------------------------------------------------------------------

    def _left(self, deadline: float) -> float:
        return max(0.0, deadline - self._clock.monotonic())

    def _histogram(self, histograms: dict[int, Histogram], partition: int) -> Histogram:
        return histograms.setdefault(partition, Histogram(self._buckets))

    def _note_health(self, healthy: bool, error: str) -> None:
        """Log changes only: a canary failing for an hour is one line."""
        if healthy == self._healthy:
            return
        self._healthy = healthy
        if healthy:
            log.info("kafka_canary_succeeded", cluster=self._config.name, topic=self._canary.topic)
        else:
            log.warning("kafka_canary_failed", cluster=self._config.name, topic=self._canary.topic, error=error)

    def _samples(self, healthy: bool) -> list[Sample]:
        cluster = labels_of(cluster=self._config.name)
        samples = [
            Sample("kafka_canary_up", cluster, float(healthy)),
            Sample("kafka_canary_partitions", cluster, float(len(self._partitions))),
        ]
        for partition in sorted(set(self._partitions) | set(self._counts["produced"])):
            labels = labels_of(cluster, partition=str(partition))
            for key, name in _COUNTERS.items():
                samples.append(Sample(name, labels, float(self._counts[key][partition])))
        for name, histograms in (
            ("kafka_canary_produce_latency_seconds", self._produce_latency),
            ("kafka_canary_roundtrip_latency_seconds", self._roundtrip_latency),
        ):
            for partition, observed in sorted(histograms.items()):
                samples.extend(observed.samples(name, labels_of(cluster, partition=str(partition))))
        return samples


_COUNTERS = {
    "produced": "kafka_canary_messages_produced_total",
    "failed": "kafka_canary_messages_produced_failed_total",
    "received": "kafka_canary_messages_received_total",
    "lost": "kafka_canary_messages_lost_total",
}


def _first_error(outcome: _Round) -> str:
    if outcome.failed:
        partition, error = min(outcome.failed.items())
        return f"partition {partition}: {error}"
    lost = sorted(set(outcome.acked) - outcome.received)
    return f"not read back in time from partitions {lost}" if lost else ""


def _error_text(exc: KafkaException) -> str:
    error = exc.args[0] if exc.args else None
    return error.str() if isinstance(error, KafkaError) else str(exc)
