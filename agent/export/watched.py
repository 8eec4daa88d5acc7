"""A store that says what each write changed, so /metrics re-renders only that."""

from __future__ import annotations

import weakref
from collections.abc import Collection, Generator, Iterable, Sized
from typing import Protocol

from agent.model import Labels, MetricMeta, Sample, SeriesKey
from agent.store import Series, Store, WriteResult


class Watcher(Protocol):
    """What a store tells of its changes to (an `Exposition`)."""

    def changed(self, names: Collection[str] | None) -> None:
        """These metric names' exposed lines may have changed (None: any of them)."""
        ...


class WatchedStore(Store):
    """`Store`, telling its watchers the names of every write's changed metrics once the write is done.

    Every way the exposed lines can change goes through here: writes (staleness markers and
    `forget` included), single points, compaction dropping series, declarations, WAL replay.
    `writing` counts the stepped writes in progress, which a reader between steps sees half done.
    """

    def __init__(self, *, max_series: int = 200_000, retention_ms: int | None = None) -> None:
        if retention_ms is None:
            super().__init__(max_series=max_series)
        else:
            super().__init__(max_series=max_series, retention_ms=retention_ms)
        self.watchers: weakref.WeakSet[Watcher] = weakref.WeakSet()  # an exposition dropped stops listening
        self.writing = 0
        self._declared: set[str] = set()

    def write_in_steps(
        self, source: str, samples: Iterable[Sample], t_ms: int, step: int | None = None
    ) -> Generator[None, None, WriteResult]:
        """`Store.write_in_steps`; the watchers hear of the changed names when the last step is done."""
        parent = Store.write_in_steps
        steps = parent(self, source, samples, t_ms) if step is None else parent(self, source, samples, t_ms, step)
        self.writing += 1
        try:
            result = yield from steps
        finally:
            self.writing -= 1
        self._tell(result.changed_names)
        return result

    def append_point(self, name: str, labels: Labels, t_ms: int, value: float) -> bool:
        appended = super().append_point(name, labels, t_ms, value)
        self._tell((name,))
        return appended

    def declare(self, metas: Iterable[MetricMeta]) -> None:
        """A family's first declaration changes its `# HELP` and `# TYPE` (and may group its samples)."""
        metas = list(metas)
        super().declare(metas)
        new = {meta.name for meta in metas} - self._declared
        if new:
            self._declared |= new
            self._tell(new)

    def compact(self, now_ms: int) -> None:
        """`Store.compact`; a series dropped after the retention may still have been exposed."""
        before = self._sizes()
        super().compact(now_ms)
        after = self._sizes()
        if before is None or after is None:
            self._tell(None)
        else:
            self._tell([name for name, size in before.items() if after.get(name) != size])

    def _sizes(self) -> dict[str, int] | None:
        """Series per metric name (None if the store's families cannot say their size)."""
        sizes = {}
        for name in self.names():
            family = self.family(name)
            if not isinstance(family, Sized):
                return None
            sizes[name] = len(family)
        return sizes

    def restore_series(self, key: SeriesKey) -> Series | None:
        self._tell(None)
        return super().restore_series(key)

    def _tell(self, names: Collection[str] | None) -> None:
        if names is not None and not names:
            return
        for watcher in list(self.watchers):
            watcher.changed(names)
