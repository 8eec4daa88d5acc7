"""Small frozen types shared by every stage of the pipeline."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# A label set without `__name__`, sorted by label name. A plain tuple keeps
# series keys cheap to hash and compare, which matters at 100,000 series.
Labels = tuple[tuple[str, str], ...]

NO_LABELS: Labels = ()


def labels_of(mapping: Mapping[str, str] | Iterable[tuple[str, str]] = (), **extra: str) -> Labels:
    """Build a canonical (sorted, empty values dropped) label set."""
    items = dict(mapping)
    items.update(extra)
    return tuple(sorted((k, v) for k, v in items.items() if v != ""))


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """Identity of a series: metric name plus label set."""

    name: str
    labels: Labels = NO_LABELS


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of one series, as a collector reports it."""

    name: str
    labels: Labels
    value: float

    @property
    def key(self) -> SeriesKey:
        return SeriesKey(self.name, self.labels)


class MetricType(enum.Enum):
    """Prometheus metric types, as written in `# TYPE` lines."""

    COUNTER = "counter"
    GAUGE = "gauge"
    UNTYPED = "untyped"


@dataclass(frozen=True, slots=True)
class MetricMeta:
    """Declaration of one metric family: what `# HELP` and `# TYPE` say."""

    name: str
    type: MetricType
    help: str


def gauge(name: str, help: str) -> MetricMeta:
    return MetricMeta(name, MetricType.GAUGE, help)


def counter(name: str, help: str) -> MetricMeta:
    return MetricMeta(name, MetricType.COUNTER, help)
