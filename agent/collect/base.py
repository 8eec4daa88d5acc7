"""What a collector is: a plain object with one blocking method that returns samples.

Collectors never know about rules, HTTP or each other. The runner calls `collect()`
in a worker thread of the collector's own, with a timeout, and writes what it returns
into the store; it calls `metrics()` after each run, so a collector whose families are
only known after reading its source (the textfile collector) can declare them then.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from agent.model import Labels, MetricMeta, Sample
from agent.targets import NO_TARGET, Target

# Every series of one metric name, as the store remembers it: its labels, timestamps in
# milliseconds and values, oldest first. What a collector with a memory (the Kafka collector's
# offset history) is seeded from after a restart, so it does not start from nothing.
SeriesHistory = Callable[[str], Iterable[tuple[Labels, Sequence[int], Sequence[float]]]]


class Collector(Protocol):
    """A source of samples."""

    @property
    def name(self) -> str:
        """The kind of collector (`host`, `textfile`, `kafka`): the `collector` label."""
        ...

    @property
    def instance(self) -> str:
        """Which one of its kind (a Kafka cluster's name): the `instance` label."""
        ...

    def metrics(self) -> Sequence[MetricMeta]:
        """The families this collector emits, declared once with type and help."""
        ...

    def collect(self) -> Sequence[Sample]:
        """Read the source once. Blocking; may raise; runs in a worker thread."""
        ...


class PartialCollectionError(Exception):
    """A run that read part of its source: its samples are written, the collector is reported down.

    A Kafka cycle whose group descriptions timed out still has the partitions' offsets; they
    are worth keeping, but `tripwired_collector_up` must say 0 so a rule can page on it.
    """

    def __init__(self, samples: Sequence[Sample], error: str) -> None:
        super().__init__(error)
        self.samples = samples


@runtime_checkable
class Seedable(Protocol):
    """A collector that remembers the past and can be given it back after a restart."""

    def seed(self, history: SeriesHistory) -> None:
        """Fill the collector's memory from the stored history; called once, before the first run."""
        ...


@runtime_checkable
class Closable(Protocol):
    """A collector that holds something to give back when it is replaced or the daemon stops
    (a child process, a database's connection pool)."""

    def close(self) -> None:
        """Release it; the collector is not run again."""
        ...


@runtime_checkable
class Supervised(Protocol):
    """A collector that runs in a child process and is restarted when the child dies."""

    @property
    def restarts_total(self) -> int:
        """How many times the child process was restarted."""
        ...

    def close(self) -> None:
        """Stop the child process (the collector is being replaced or the daemon stops)."""
        ...


@dataclass(frozen=True, slots=True)
class Scheduled:
    """A collector with the interval and timeout it runs at, and the target labels its samples get."""

    collector: Collector
    interval: float
    timeout: float
    target: Target = NO_TARGET


def read_whatever(collector: Collector) -> Sequence[Sample]:
    """What one run read, whether it read everything or only part (benchmarks, tests, one-shot tools)."""
    try:
        return collector.collect()
    except PartialCollectionError as partial:
        return partial.samples
