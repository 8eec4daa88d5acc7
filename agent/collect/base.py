"""What a collector is: a plain object with one blocking method that returns samples.

Collectors never know about rules, HTTP or each other. The runner calls `collect()`
in a worker thread of the collector's own, with a timeout, and writes what it returns
into the store; it calls `metrics()` after each run, so a collector whose families are
only known after reading its source (the textfile collector) can declare them then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from agent.model import MetricMeta, Sample


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


@dataclass(frozen=True, slots=True)
class Scheduled:
    """A collector with the interval and timeout it runs at."""

    collector: Collector
    interval: float
    timeout: float
