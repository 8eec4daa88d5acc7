"""Every metric family the Kafka collector emits, declared once.

The `kafka_*` names, labels and help texts are kafka_exporter's (danielqsj/kafka_exporter),
so its dashboards and community rules work unchanged; the families it lacks get names in
the same style. Every sample also carries a `cluster` label (the configured name).
"""

from __future__ import annotations

from agent.model import MetricMeta, counter, gauge, histogram

KAFKA_METRICS: tuple[MetricMeta, ...] = (
    gauge("kafka_up", "1 if the last collection reached the Kafka cluster, 0 if not."),
    gauge("kafka_brokers", "Number of Brokers in the Kafka Cluster."),
    gauge("kafka_broker_info", "Information about the Kafka Broker."),
    gauge("kafka_topic_partitions", "Number of partitions for this Topic"),
    gauge("kafka_topic_partition_current_offset", "Current Offset of a Broker at Topic/Partition"),
    gauge("kafka_topic_partition_oldest_offset", "Oldest Offset of a Broker at Topic/Partition"),
    gauge("kafka_topic_partition_leader", "Leader Broker ID of this Topic/Partition"),
    gauge("kafka_topic_partition_replicas", "Number of Replicas for this Topic/Partition"),
    gauge("kafka_topic_partition_in_sync_replica", "Number of In-Sync Replicas for this Topic/Partition"),
    gauge("kafka_topic_partition_leader_is_preferred", "1 if Topic/Partition is using the Preferred Broker"),
    gauge("kafka_topic_partition_under_replicated_partition", "1 if Topic/Partition is under Replicated"),
    gauge("kafka_topic_partition_offline", "1 if Topic/Partition has no leader and can be neither written nor read"),
    gauge(
        "kafka_topic_partition_max_timestamp_seconds",
        "Timestamp of the newest record in the Topic/Partition (list_offsets with the max-timestamp spec)",
    ),
    gauge(
        "kafka_topic_config_retention_seconds",
        "retention.ms of the Topic in seconds; -1 means unlimited retention",
    ),
    gauge("kafka_consumergroup_current_offset", "Current Offset of a ConsumerGroup at Topic/Partition"),
    gauge("kafka_consumergroup_current_offset_sum", "Current Offset of a ConsumerGroup at Topic for all partitions"),
    gauge("kafka_consumergroup_lag", "Current Approximate Lag of a ConsumerGroup at Topic/Partition"),
    gauge("kafka_consumergroup_lag_sum", "Current Approximate Lag of a ConsumerGroup at Topic for all partitions"),
    gauge(
        "kafka_consumergroup_lag_seconds",
        "Seconds since the oldest message a ConsumerGroup has not read arrived at Topic/Partition "
        "(interpolated from the end offset history); 0 without lag",
    ),
    gauge(
        "kafka_consumergroup_lag_seconds_lower_bound",
        "1 if kafka_consumergroup_lag_seconds is only a lower bound: the oldest unread message is older than "
        "the end offset history the collector has (just after a restart, or beyond its bounded history)",
    ),
    gauge("kafka_consumergroup_members", "Amount of members in a consumer group"),
    gauge("kafka_consumergroup_state", "1 for the state a ConsumerGroup is in, 0 for the others"),
    gauge("tripwired_kafka_collection_duration_seconds", "How long the last collection of the Kafka cluster took."),
    counter("tripwired_kafka_requests_total", "AdminClient requests made to the Kafka cluster, by request."),
    counter("tripwired_kafka_request_errors_total", "AdminClient requests that failed or timed out, by request."),
)

# The stored series the Kafka collector's offset history is seeded from after a restart.
SEEDED_FROM: tuple[str, ...] = ("kafka_topic_partition_current_offset",)

# Kafka's own names for consumer group states (what `kafka-consumer-groups.sh` prints).
GROUP_STATES: tuple[str, ...] = (
    "Unknown",
    "PreparingRebalance",
    "CompletingRebalance",
    "Stable",
    "Dead",
    "Empty",
)

# The canary's families (agent/collect/kafka_canary.py), after KMinion's end-to-end metrics; here, so the
# daemon can declare them without loading confluent-kafka.
CANARY_METRICS: tuple[MetricMeta, ...] = (
    gauge("kafka_canary_up", "1 if every partition of the canary topic took a message and gave it back in time."),
    gauge("kafka_canary_partitions", "Partitions of the canary topic the last round probed."),
    counter(
        "kafka_canary_messages_produced_total",
        "Canary messages produced, counted when the broker answers (acknowledgement or failure) or the round ends.",
    ),
    counter(
        "kafka_canary_messages_produced_failed_total",
        "Canary messages the broker refused or did not acknowledge within the canary's timeout.",
    ),
    counter(
        "kafka_canary_messages_received_total",
        "Canary messages read back within the canary's timeout.",
    ),
    counter(
        "kafka_canary_messages_lost_total",
        "Canary messages acknowledged by the broker but not read back within the canary's timeout.",
    ),
    histogram("kafka_canary_produce_latency_seconds", "Time until the broker acknowledged a canary message."),
    histogram(
        "kafka_canary_roundtrip_latency_seconds",
        "Time between producing a canary message and reading it back.",
    ),
)
