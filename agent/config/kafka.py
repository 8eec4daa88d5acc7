"""A Kafka cluster's configuration, apart from the rest of the schema.

The Kafka collector's child process unpickles these classes; keeping them here (with only the value
types beside them) spares it importing every other section's classes. schema.py re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.config.types import Duration, Secret


@dataclass(frozen=True)
class IncludeExclude:
    """Regular expressions (fully anchored) selecting names: include first, then exclude."""

    include: list[str] = field(default_factory=lambda: [".*"])
    exclude: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CanaryConfig:
    """KMinion's end-to-end probe: produce to every partition of a topic of its own, consume it back."""

    enabled: bool = False
    topic: str = "_tripwired_canary"
    interval: Duration = Duration(10)
    timeout: Duration = Duration(5)  # one probe round, produce and consume together
    partitions_per_broker: int = 1  # when it creates the topic
    replication_factor: int | None = None  # when it creates the topic; default min(3, brokers)

    def __post_init__(self) -> None:
        if not self.topic:
            raise ValueError("topic must not be empty")
        if not 0 < self.timeout < self.interval:
            raise ValueError(
                f"timeout ({self.timeout:g}s) must be positive and shorter than interval ({self.interval:g}s)"
            )
        if self.partitions_per_broker < 1:
            raise ValueError("partitions_per_broker must be at least 1")
        if self.replication_factor is not None and self.replication_factor < 1:
            raise ValueError("replication_factor must be at least 1")


@dataclass(frozen=True)
class KafkaConfig:
    """One Kafka cluster, read with confluent-kafka's AdminClient."""

    name: str
    bootstrap_servers: str
    interval: Duration | None = None
    timeout: Duration | None = None
    job: str | None = None  # the `job` label of its samples and `up`; default: see agent/targets.py
    instance: str | None = None  # the `instance` label; default: the agent's listen address
    topics: IncludeExclude = field(default_factory=IncludeExclude)
    groups: IncludeExclude = field(default_factory=IncludeExclude)
    # kafka_exporter's --offset.show-all: false keeps a group's offsets and lag to the partitions
    # assigned to its current members, so groups nobody consumes in show only their members and state.
    offset_show_all: bool = True
    # librdkafka settings (sasl.*, ssl.*); `NAME_file: PATH` reads NAME's value from a file.
    config: dict[str, Secret] = field(default_factory=dict, metadata={"secret_files": True})
    canary: CanaryConfig = field(default_factory=CanaryConfig)
