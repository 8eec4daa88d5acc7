"""The store: every series the agent knows, by metric name, with a cap, staleness and watchers.

Collections are written per source (a collector, a rule group): the series a source wrote
last time and not this time get a staleness marker, as Prometheus does when a target stops
exposing a series. Every accepted write goes to the `journal` (the write-ahead log), and the
`watchers` (the /metrics exposition) hear which metric names it changed. The series
themselves, and how compactly they hold their points, are series.py's.
"""

from __future__ import annotations

import operator
import weakref
from array import array
from collections import Counter
from collections.abc import Collection, Generator, Iterable, Iterator
from typing import Protocol

from agent.model import Labels, MetricMeta, MetricType, Sample, SeriesKey
from agent.steps import run_through
from agent.store.roles import Relabel, WriteResult
from agent.store.series import LOOKBACK_MS, STALE_NAN, Series, Timeline

NARROW_PER_COMPACT = 1000  # replayed series narrowed at each compaction: ~10 ms, all of 100,000 in 10 min
WRITE_STEP = 5000  # samples written between two chances for the event loop to serve a scrape


def _write_apart(series: Series, timeline: Timeline, t_ms: int, value: float) -> None:
    """Write a point of a series that is not on its source's timeline, moving it there if it is empty."""
    if series.last_timestamp() is None:
        series.timeline = timeline
    series.append(t_ms, value)


class Journal(Protocol):
    """Where the store hands every write it accepted: the write-ahead log."""

    def record(self, source: str, t_ms: int, series: list[Series], values: array[float]) -> None:
        """Log one write (`values[i]` of `series[i]` at `t_ms`); must not block."""
        ...

    async def sync(self) -> None:
        """Return once every write recorded so far is in the log."""
        ...


class Watcher(Protocol):
    """Told which metric names each change of the store touched (the /metrics exposition)."""

    def changed(self, names: Collection[str] | None) -> None:
        """These names' series may have changed (None: any of them)."""
        ...


class Store:
    """All series the agent knows, indexed by metric name, with a hard cap on their number.

    It plays both storage roles (roles.Appender and roles.Queryable); a `journal`, when set,
    is handed every write it accepts, so the write-ahead log sits behind the appender. Its
    `watchers` hear the names every change touched once it is whole (a stepped write at its
    end; `writing` counts those in progress), so /metrics re-renders only those families.
    """

    def __init__(self, *, max_series: int = 200_000, retention_ms: int = 2 * LOOKBACK_MS) -> None:
        self.max_series = max_series
        self.retention_ms = retention_ms
        self.journal: Journal | None = None
        self._by_name: dict[str, dict[Labels, Series]] = {}
        self._count = 0
        # Per source, the series of its last write in write order (a list, not a set: a write of the
        # same series in the same order compares equal without hashing 100,000 of them).
        self._owned: dict[str, list[Series]] = {}
        self._timelines: dict[str, Timeline] = {}
        self._loose = Timeline()  # for series written outside any source
        self._to_narrow: list[Series] = []  # replayed series, their values still doubles
        self._meta: dict[str, MetricMeta] = {}
        self._pairs: dict[tuple[str, str], tuple[str, str]] = {}
        self._expired = 0  # series expired since `_pairs` was last rebuilt
        # Label sets made by `_shared` during the write (or replay) in progress, emptied after it: the
        # series of one Kafka partition in every family of a collection get one tuple, not one each.
        self._made: dict[Labels, Labels] = {}
        self.refused_total = 0
        self.watchers: weakref.WeakSet[Watcher] = weakref.WeakSet()  # a dropped exposition stops listening
        self.writing = 0

    # -- writing -------------------------------------------------------------

    def declare(self, metas: Iterable[MetricMeta]) -> None:
        """Record type and help of metric families (the first declaration wins)."""
        new = []
        for meta in metas:
            if meta.name not in self._meta:
                self._meta[meta.name] = meta
                new.append(meta.name)
        self._tell(new)  # a first declaration changes a family's # HELP and # TYPE

    def write(self, source: str, samples: Iterable[Sample], t_ms: int) -> WriteResult:
        """Append one collection of `source` at `t_ms`.

        A series that `source` wrote last time and not this time gets a staleness marker,
        as Prometheus does when a target stops exposing a series.
        """
        return run_through(self.write_in_steps(source, samples, t_ms, step=0))

    def write_in_steps(
        self,
        source: str,
        samples: Iterable[Sample],
        t_ms: int,
        step: int = WRITE_STEP,
        relabel: Relabel | None = None,
    ) -> Generator[None, None, WriteResult]:
        """`write`, pausing after every `step` samples (0: never) so an event loop can serve a scrape meanwhile.

        A reader between steps sees part of the collection at `t_ms` and the rest at its previous
        time, as a Prometheus query during an ongoing scrape's append would. Each sample's labels
        go through `relabel` first, when given (no new Sample is made for it).
        """
        self.writing += 1
        try:
            result = yield from self._write_steps(source, samples, t_ms, step, relabel)
        finally:
            self.writing -= 1
        self._tell(result.changed_names)
        return result

    def _write_steps(
        self, source: str, samples: Iterable[Sample], t_ms: int, step: int, relabel: Relabel | None
    ) -> Generator[None, None, WriteResult]:
        timeline = self._timelines.get(source)
        if timeline is None:
            timeline = self._timelines[source] = Timeline()
        position = timeline.at_end(t_ms)  # None: older than the source's last write
        owned: list[Series] = []
        changed: set[str] = set()
        refused = 0
        added, counted_from = 0, self._count  # series this write made (others may write between its steps)
        journaled = self.journal is not None
        relabelled: tuple[Labels | None, Labels] = (None, ())  # the last label set relabelled, and its result
        logged: list[Series] = []
        values = array("d")
        for count, sample in enumerate(samples, 1):
            labels = sample.labels
            if relabel is not None:  # the families of a partition come one after another, with one label set
                if labels is not relabelled[0]:
                    relabelled = (labels, relabel(labels))
                labels = relabelled[1]
            series = self._get_or_create(sample.name, labels, timeline)
            if series is None:
                refused += 1
                continue
            owned.append(series)
            value = sample.value
            if series.latest() != value:
                changed.add(sample.name)
            if series.timeline is timeline and position is not None:
                series.put(position, value)
            else:
                _write_apart(series, timeline, t_ms, value)
            if journaled:
                logged.append(series)
                values.append(value)
            if step and count % step == 0:
                added += self._count - counted_from
                yield
                counted_from = self._count
        owned, gone_ones = self._gone(source, owned)
        for gone in gone_ones:
            if gone.latest() is not None:  # a series compacted away meanwhile is detached: harmless
                if gone.timeline is timeline and position is not None:
                    gone.put(position, STALE_NAN)
                else:
                    _write_apart(gone, timeline, t_ms, STALE_NAN)
                changed.add(gone.name)
                logged.append(gone)
                values.append(STALE_NAN)
        self._owned[source] = owned
        self._made.clear()
        self.refused_total += refused
        if self.journal is not None and logged:
            self.journal.record(source, t_ms, logged, values)
        return WriteResult(frozenset(changed), refused, added + self._count - counted_from)

    def _gone(self, source: str, owned: list[Series]) -> tuple[list[Series], list[Series]]:
        """This write's series without repeats, and those `source` wrote last time and not in this write."""
        previous = self._owned.get(source, [])
        if owned == previous:  # the same series in the same order (identity first: a C loop)
            return previous, []
        seen = set(owned)
        if len(seen) != len(owned):
            owned = list(dict.fromkeys(owned))
        return owned, [series for series in previous if series not in seen]

    def append_point(self, name: str, labels: Labels, t_ms: int, value: float) -> bool:
        """Append one point outside any source (rule unit tests load series this way)."""
        series = self._get_or_create(name, labels, self._loose)
        self._made.clear()
        if series is None:
            self.refused_total += 1
            return False
        series.append(t_ms, value)
        if self.journal is not None:
            self.journal.record("", t_ms, [series], array("d", (value,)))
        self._tell((name,))
        return True

    async def sync(self) -> None:
        """Return once every accepted write is in the journal (at once without one)."""
        if self.journal is not None:
            await self.journal.sync()

    # -- restoring from the write-ahead log ----------------------------------

    def restore_series(self, key: SeriesKey) -> Series | None:
        """The series of `key`, created if needed (None at the series cap), for replay to add to."""
        series = self._get_or_create(key.name, key.labels, self._loose)
        if series is None:
            self.refused_total += 1
        return series

    def restore_owner(self, source: str, series: Iterable[Series]) -> None:
        """Say which series `source` wrote last, so its next write marks the others stale.

        The source's next writes go on the timeline most of them share, so they go on sharing it.
        """
        owned = self._owned[source] = list(series)
        shared = Counter(s.timeline for s in owned).most_common(1)
        if shared:
            self._timelines[source] = shared[0][0]

    def restored(self) -> None:
        """Replay is over: tell the watchers, and narrow the values it brought back as doubles (a slice a `compact`)."""
        self._to_narrow = list(self.all_series())
        self._made.clear()  # replay shared label sets across its series as a write does
        self._tell(None)

    def owners(self) -> list[tuple[str, list[Series]]]:
        """Each source with the series it wrote last (for a checkpoint)."""
        return [(source, list(owned)) for source, owned in self._owned.items()]

    def forget(self, source: str, t_ms: int) -> None:
        """Mark every series of a source stale (a collector that was removed on reload)."""
        self.write(source, (), t_ms)
        self._owned.pop(source, None)
        self._timelines.pop(source, None)

    def compact(self, now_ms: int) -> None:
        """Drop points older than the retention, and series with nothing left in it."""
        cutoff = now_ms - self.retention_ms
        for series in self._to_narrow[-NARROW_PER_COMPACT:]:
            series.narrow()
        del self._to_narrow[-NARROW_PER_COMPACT:]
        for timeline in (self._loose, *self._timelines.values()):
            timeline.trim(cutoff)  # those no series is on any more too
        expired_total = 0
        dropped: list[str] = []
        for name, family in list(self._by_name.items()):
            expired = [labels for labels, series in family.items() if series.expire(cutoff)]
            for labels in expired:
                del family[labels]
            if expired:
                dropped.append(name)
            self._count -= len(expired)
            expired_total += len(expired)
            if not family:
                del self._by_name[name]
        self._forget_pairs(expired_total)
        self._tell(dropped)

    def _tell(self, names: Collection[str] | None) -> None:
        if names is not None and not names:
            return
        for watcher in list(self.watchers):
            watcher.changed(names)

    def _get_or_create(self, name: str, labels: Labels, timeline: Timeline) -> Series | None:
        family = self._by_name.get(name)
        if family is None:
            family = self._by_name[name] = {}
        series = family.get(labels)
        if series is None:
            if self._count >= self.max_series:
                return None
            labels = self._shared(labels)
            series = family[labels] = Series(name, labels, timeline)
            self._count += 1
        return series

    def _shared(self, labels: Labels) -> Labels:
        """`labels` made of label pairs shared with the other series (a collector makes new ones each time).

        Kafka's partition series share ("cluster", c), ("topic", t) and ("partition", p) with the
        other families of the partition: one copy of each instead of one per series.
        """
        made = self._made.get(labels)
        if made is not None:
            return made  # another family's series of this write has these labels
        pairs = self._pairs
        shared = [pairs.setdefault(pair, pair) for pair in labels]
        # Its own tuple when its pairs are the shared ones already.
        made = labels if all(map(operator.is_, shared, labels)) else tuple(shared)
        self._made[made] = made
        return made

    def _forget_pairs(self, expired: int) -> None:
        """Rebuild the shared pairs from the live series once many series went (label churn)."""
        self._expired += expired
        if self._expired > max(1000, self._count // 4):
            self._expired = 0
            self._pairs = {pair: pair for series in self.all_series() for pair in series.labels}

    # -- reading -------------------------------------------------------------

    @property
    def series_count(self) -> int:
        """How many series the store holds now."""
        return self._count

    def names(self) -> list[str]:
        """Metric names that have at least one series."""
        return [name for name, family in self._by_name.items() if family]

    def family(self, name: str) -> Iterable[Series]:
        """Every series of one metric name."""
        family = self._by_name.get(name)
        return () if family is None else family.values()

    def all_series(self) -> Iterator[Series]:
        """Every series of every name."""
        for family in self._by_name.values():
            yield from family.values()

    def meta(self, name: str) -> MetricMeta:
        """Declared type and help of a family, untyped if nothing declared it."""
        meta = self._meta.get(name)
        return meta if meta is not None else MetricMeta(name, MetricType.UNTYPED, "")

    def get(self, name: str, labels: Labels) -> Series | None:
        """The series of `name` with exactly these labels, or None."""
        family = self._by_name.get(name)
        return None if family is None else family.get(labels)
