"""The two roles storage plays, as Prometheus' storage.Appender and storage.Queryable.

The ruler, the query API and the rule tests depend on these protocols, not on the in-memory
`Store`: the store implements both, the write-ahead log sits behind the appender (every write
the store accepts is handed to it), and a remote Prometheus API can stand behind the queryable.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from agent.model import Labels, MetricMeta, Sample

# What a write does to each sample's labels on the way in (the runner adds a collector's target labels).
Relabel = Callable[[Labels], Labels]


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a write did, so the scheduler can tell the ruler which metrics changed."""

    changed_names: frozenset[str]
    refused: int
    added: int = 0  # series the write created


class SeriesView(Protocol):
    """One series as a reader sees it: identity and points, oldest first."""

    @property
    def name(self) -> str:
        """The metric name."""

    @property
    def labels(self) -> Labels:
        """The labels, sorted by name, `__name__` excluded."""

    def window(self, start_ms: int, end_ms: int) -> tuple[Sequence[int], Sequence[float]]:
        """Points with start < t <= end, stale ones left out."""
        ...

    def at(self, t_ms: int, lookback_ms: int = ...) -> tuple[int, float] | None:
        """The newest point at or before `t_ms` within the lookback, None if none or stale."""
        ...

    def latest(self) -> float | None:
        """The newest value, None when stale or empty."""
        ...

    def last_timestamp(self) -> int | None:
        """When the newest point was written, a staleness marker too; None when empty."""
        ...


class Queryable(Protocol):
    """Selects series by metric name (the PromQL engine filters labels itself)."""

    def names(self) -> list[str]:
        """Metric names that have at least one series."""
        ...

    def family(self, name: str) -> Iterable[SeriesView]:
        """Every series of one metric name."""
        ...

    def get(self, name: str, labels: Labels) -> SeriesView | None:
        """One series by its identity, or None."""
        ...

    def meta(self, name: str) -> MetricMeta:
        """Declared type and help of a family."""
        ...


class Appender(Protocol):
    """Takes samples in: one write per source and timestamp, staleness per source."""

    def declare(self, metas: Iterable[MetricMeta]) -> None:
        """Record type and help of metric families."""
        ...

    def write(self, source: str, samples: Iterable[Sample], t_ms: int) -> WriteResult:
        """Append one collection of `source` at `t_ms`; series it no longer returns go stale."""
        ...

    def write_in_steps(
        self, source: str, samples: Iterable[Sample], t_ms: int, step: int = ..., relabel: Relabel | None = ...
    ) -> Generator[None, None, WriteResult]:
        """`write`, pausing every `step` samples so an event loop can serve meanwhile; labels through `relabel`."""
        ...

    def forget(self, source: str, t_ms: int) -> None:
        """Mark every series of a source stale (a collector or rule that was removed)."""
        ...

    async def sync(self) -> None:
        """Return once everything written so far is in the durable log (at once without one)."""
        ...


class Storage(Appender, Queryable, Protocol):
    """Both roles at once: what the ruler needs (it writes results and reads its own history)."""
