"""Bounded in-memory series: a ring of (timestamp, value) per metric name and label set.

Timestamps are integer milliseconds, as in Prometheus, so range boundaries compare
exactly. Points live in two `array`s per series (16 bytes a point) rather than a list
of tuples (over 100 bytes a point): at a 1 s interval and a 10-minute window the
difference is the agent's whole memory budget.
"""

from __future__ import annotations

import struct
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Generator, Iterable, Iterator, Sequence
from math import isnan
from typing import Protocol

from agent.model import Labels, MetricMeta, MetricType, Sample, SeriesKey
from agent.store.roles import WriteResult

# Prometheus' staleness marker: a NaN with a payload no computation produces.
STALE_NAN_BITS = 0x7FF0000000000002
STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]

LOOKBACK_MS = 5 * 60 * 1000
WRITE_STEP = 5000  # samples written between two chances for the event loop to serve a scrape


def is_stale(value: float) -> bool:
    """Whether a value is the staleness marker (and not an ordinary NaN)."""
    return isnan(value) and struct.pack("<d", value) == struct.pack("<Q", STALE_NAN_BITS)


class Series:
    """The points of one series, oldest first."""

    __slots__ = ("key", "labels", "name", "times", "values")

    def __init__(self, key: SeriesKey) -> None:
        self.key = key
        self.name = key.name
        self.labels = key.labels
        self.times = array("q")
        self.values = array("d")

    def append(self, t_ms: int, value: float) -> None:
        times = self.times
        if times and t_ms <= times[-1]:
            if t_ms == times[-1]:
                self.values[-1] = value
            return  # out of order: Prometheus refuses it too
        times.append(t_ms)
        self.values.append(value)

    def trim(self, before_ms: int) -> None:
        """Drop points older than `before_ms`."""
        cut = bisect_left(self.times, before_ms)
        if cut:
            del self.times[:cut]
            del self.values[:cut]

    def window(self, start_ms: int, end_ms: int) -> tuple[Sequence[int], Sequence[float]]:
        """Points with start < t <= end (Prometheus' range-selector semantics), stale ones left out."""
        lo = bisect_right(self.times, start_ms)
        hi = bisect_right(self.times, end_ms)
        times = self.times[lo:hi]
        values = self.values[lo:hi]
        if isnan(sum(values)):  # NaN propagates through a sum: one C loop instead of a generator
            keep = [i for i, v in enumerate(values) if not is_stale(v)]
            return [times[i] for i in keep], [values[i] for i in keep]
        return times, values

    def at(self, t_ms: int, lookback_ms: int = LOOKBACK_MS) -> tuple[int, float] | None:
        """The newest point at or before `t_ms` within the lookback, or None if none or stale."""
        i = bisect_right(self.times, t_ms) - 1
        if i < 0 or self.times[i] <= t_ms - lookback_ms:
            return None
        value = self.values[i]
        if isnan(value) and is_stale(value):
            return None
        return self.times[i], value

    def last_timestamp(self) -> int | None:
        """When the newest point was written, a staleness marker too; None when empty."""
        return self.times[-1] if self.times else None

    def latest(self) -> float | None:
        """The newest value, or None when the series is stale or empty (what /metrics shows)."""
        if not self.values:
            return None
        value = self.values[-1]
        if isnan(value) and is_stale(value):
            return None
        return value


class Journal(Protocol):
    """Where the store hands every write it accepted: the write-ahead log."""

    def record(self, source: str, t_ms: int, series: list[Series], values: array[float]) -> None:
        """Log one write (`values[i]` of `series[i]` at `t_ms`); must not block."""
        ...

    async def sync(self) -> None:
        """Return once every write recorded so far is in the log."""
        ...


class Store:
    """All series the agent knows, indexed by metric name, with a hard cap on their number.

    It plays both storage roles (roles.Appender and roles.Queryable); a `journal`, when set,
    is handed every write it accepts, so the write-ahead log sits behind the appender.
    """

    def __init__(self, *, max_series: int = 200_000, retention_ms: int = 2 * LOOKBACK_MS) -> None:
        self.max_series = max_series
        self.retention_ms = retention_ms
        self.journal: Journal | None = None
        self._by_name: dict[str, dict[Labels, Series]] = {}
        self._count = 0
        # By Series identity: hashing 100,000 label sets again for the stale check costs ~80 ms.
        self._owned: dict[str, set[Series]] = {}
        self._meta: dict[str, MetricMeta] = {}
        self.refused_total = 0

    # -- writing -------------------------------------------------------------

    def declare(self, metas: Iterable[MetricMeta]) -> None:
        """Record type and help of metric families (the first declaration wins)."""
        for meta in metas:
            self._meta.setdefault(meta.name, meta)

    def write(self, source: str, samples: Iterable[Sample], t_ms: int) -> WriteResult:
        """Append one collection of `source` at `t_ms`.

        A series that `source` wrote last time and not this time gets a staleness marker,
        as Prometheus does when a target stops exposing a series.
        """
        steps = self.write_in_steps(source, samples, t_ms, step=0)
        try:
            next(steps)
        except StopIteration as done:
            result: WriteResult = done.value
            return result
        raise AssertionError("a write without steps never pauses")

    def write_in_steps(
        self, source: str, samples: Iterable[Sample], t_ms: int, step: int = WRITE_STEP
    ) -> Generator[None, None, WriteResult]:
        """`write`, pausing after every `step` samples (0: never) so an event loop can serve a scrape meanwhile.

        A reader between steps sees part of the collection at `t_ms` and the rest at its previous
        time, as a Prometheus query during an ongoing scrape's append would.
        """
        seen: set[Series] = set()
        changed: set[str] = set()
        refused = 0
        journaled = self.journal is not None
        logged: list[Series] = []
        values = array("d")
        for count, sample in enumerate(samples, 1):
            key = SeriesKey(sample.name, sample.labels)
            series = self._get_or_create(key)
            if series is None:
                refused += 1
                continue
            seen.add(series)
            if series.latest() != sample.value:
                changed.add(sample.name)
            series.append(t_ms, sample.value)
            if journaled:
                logged.append(series)
                values.append(sample.value)
            if step and count % step == 0:
                yield
        for gone in self._owned.get(source, set()) - seen:
            if gone.latest() is not None:  # a series compacted away meanwhile is detached: harmless
                gone.append(t_ms, STALE_NAN)
                changed.add(gone.name)
                logged.append(gone)
                values.append(STALE_NAN)
        self._owned[source] = seen
        self.refused_total += refused
        if self.journal is not None and logged:
            self.journal.record(source, t_ms, logged, values)
        return WriteResult(frozenset(changed), refused)

    def append_point(self, name: str, labels: Labels, t_ms: int, value: float) -> bool:
        """Append one point outside any source (rule unit tests load series this way)."""
        series = self._get_or_create(SeriesKey(name, labels))
        if series is None:
            self.refused_total += 1
            return False
        series.append(t_ms, value)
        if self.journal is not None:
            self.journal.record("", t_ms, [series], array("d", (value,)))
        return True

    async def sync(self) -> None:
        """Return once every accepted write is in the journal (at once without one)."""
        if self.journal is not None:
            await self.journal.sync()

    # -- restoring from the write-ahead log ----------------------------------

    def restore_series(self, key: SeriesKey) -> Series | None:
        """The series of `key`, created if needed (None at the series cap), for replay to append to."""
        series = self._get_or_create(key)
        if series is None:
            self.refused_total += 1
        return series

    def restore_owner(self, source: str, series: Iterable[Series]) -> None:
        """Say which series `source` wrote last, so its next write marks the others stale."""
        self._owned[source] = set(series)

    def owners(self) -> list[tuple[str, list[Series]]]:
        """Each source with the series it wrote last (for a checkpoint)."""
        return [(source, list(owned)) for source, owned in self._owned.items()]

    def forget(self, source: str, t_ms: int) -> None:
        """Mark every series of a source stale (a collector that was removed on reload)."""
        self.write(source, (), t_ms)
        self._owned.pop(source, None)

    def compact(self, now_ms: int) -> None:
        """Drop points older than the retention, and series with nothing left in it."""
        cutoff = now_ms - self.retention_ms
        for name in list(self._by_name):
            family = self._by_name[name]
            for labels in list(family):
                series = family[labels]
                series.trim(cutoff)
                if not series.times or (series.latest() is None and series.times[-1] <= cutoff):
                    del family[labels]
                    self._count -= 1
            if not family:
                del self._by_name[name]

    def _get_or_create(self, key: SeriesKey) -> Series | None:
        family = self._by_name.get(key.name)
        if family is None:
            family = self._by_name[key.name] = {}
        series = family.get(key.labels)
        if series is None:
            if self._count >= self.max_series:
                return None
            series = family[key.labels] = Series(key)
            self._count += 1
        return series

    def _find(self, key: SeriesKey) -> Series | None:
        family = self._by_name.get(key.name)
        return None if family is None else family.get(key.labels)

    # -- reading -------------------------------------------------------------

    @property
    def series_count(self) -> int:
        return self._count

    def names(self) -> list[str]:
        """Metric names that have at least one series."""
        return [name for name, family in self._by_name.items() if family]

    def family(self, name: str) -> Iterable[Series]:
        """Every series of one metric name."""
        family = self._by_name.get(name)
        return () if family is None else family.values()

    def all_series(self) -> Iterator[Series]:
        for family in self._by_name.values():
            yield from family.values()

    def meta(self, name: str) -> MetricMeta:
        """Declared type and help of a family, untyped if nothing declared it."""
        meta = self._meta.get(name)
        return meta if meta is not None else MetricMeta(name, MetricType.UNTYPED, "")

    def get(self, name: str, labels: Labels) -> Series | None:
        return self._find(SeriesKey(name, labels))
