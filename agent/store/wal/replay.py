"""Replay: the newest checkpoint, then every later segment, back into a store.

History, staleness markers and which series each source wrote last come back as they were
written; the time the daemon was down stays a gap. A damaged frame ends the reading of its
file only: in the newest segment it is the torn tail of a crash (one warning), anywhere else
it is corruption (an error and a count). Replay never refuses to start over damage; a file
of an unknown format version is refused by raising FormatVersionError.
"""

from __future__ import annotations

import contextlib
import gc
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from agent.store.series import Series, Timeline, is_stale
from agent.store.store import Store
from agent.store.wal.records import (
    RecordError,
    RecordType,
    SamplesRecord,
    decode_owners,
    decode_points,
    decode_samples,
    decode_series,
)
from agent.store.wal.segments import (
    CHECKPOINT_MAGIC,
    SEGMENT_MAGIC,
    checkpoint_name,
    checkpoint_numbers,
    read_records,
    segment_name,
    segment_numbers,
)

log = structlog.get_logger(__name__)


@dataclass
class ReplayStats:
    """What a replay read and skipped."""

    checkpoint: int | None = None
    segments: int = 0
    series: int = 0
    samples: int = 0
    corruptions: int = 0
    torn_tail: bool = False
    seconds: float = 0.0


@dataclass
class _Owners:
    """The last write of each source seen so far, resolved into series at the end."""

    fixed: dict[str, list[Series]] = field(default_factory=dict)
    pending: dict[str, tuple[SamplesRecord, dict[int, Series | None]]] = field(default_factory=dict)

    def resolve(self) -> dict[str, list[Series]]:
        out = dict(self.fixed)
        for source, (record, by_ref) in self.pending.items():
            live = [
                by_ref.get(ref) for ref, value in zip(record.refs, record.values, strict=True) if not is_stale(value)
            ]
            out[source] = [s for s in live if s is not None]
        return out


def replay(directory: Path, store: Store, monotonic: Callable[[], float] = time.monotonic) -> ReplayStats:
    """Load `directory`'s checkpoint and segments into `store`."""
    started = monotonic()
    with _cyclic_gc_paused():
        stats = _replay(directory, store)
    stats.seconds = monotonic() - started
    return stats


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Replay makes a million objects and no garbage: the cyclic collector would scan the growing
    store again and again (a third of the replay's time at 100,000 series) for nothing."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _replay(directory: Path, store: Store) -> ReplayStats:
    stats = ReplayStats()
    owners = _Owners()
    for leftover in directory.glob("*.tmp") if directory.is_dir() else ():
        leftover.unlink(missing_ok=True)  # a checkpoint a crash interrupted; the segments still hold its data
    checkpoints = checkpoint_numbers(directory)
    if checkpoints:
        stats.checkpoint = checkpoints[-1]
        _replay_checkpoint(directory / checkpoint_name(checkpoints[-1]), store, owners, stats)
    covered = stats.checkpoint if stats.checkpoint is not None else 0
    numbers = [n for n in segment_numbers(directory) if n > covered]
    for number in numbers:
        _replay_segment(directory / segment_name(number), store, owners, stats, newest=number == numbers[-1])
    for source, series in owners.resolve().items():
        store.restore_owner(source, series)
    store.restored()
    stats.series = store.series_count
    return stats


def _replay_checkpoint(path: Path, store: Store, owners: _Owners, stats: ReplayStats) -> None:
    contents = read_records(path, CHECKPOINT_MAGIC)
    by_ref: dict[int, Series] = {}
    timelines = _Timelines()
    try:
        for record_type, payload in contents.records:
            if record_type is RecordType.POINTS:
                for entry in decode_points(payload):
                    series = store.restore_series(entry.key)
                    if series is not None:
                        series.extend(timelines.of(entry.times), entry.values)
                        by_ref[entry.ref] = series
                    stats.samples += len(entry.times)
            elif record_type is RecordType.OWNERS:
                for source, refs in decode_owners(payload):
                    owners.fixed[source] = [by_ref[r] for r in refs if r in by_ref]
    except RecordError as exc:
        contents.problem = str(exc)
    if contents.problem is not None:
        stats.corruptions += 1
        log.error(
            "wal_checkpoint_corrupt",
            file=str(path),
            problem=contents.problem,
            consequence="the series after the damage start without their history",
        )


def _replay_segment(path: Path, store: Store, owners: _Owners, stats: ReplayStats, *, newest: bool) -> None:
    contents = read_records(path, SEGMENT_MAGIC)
    by_ref: dict[int, Series | None] = {}
    runs: dict[str, _Run] = {}
    try:
        for record_type, payload in contents.records:
            if record_type is RecordType.SERIES:
                for ref, key in decode_series(payload):
                    by_ref[ref] = store.restore_series(key)
            elif record_type is RecordType.SAMPLES:
                record = decode_samples(payload)
                run = runs.get(record.source)
                if run is None or not run.extend(record):
                    if run is not None:
                        stats.samples += run.apply()
                    runs[record.source] = _Run(record, by_ref)
                if record.source:
                    owners.pending[record.source] = (record, by_ref)
                    owners.fixed.pop(record.source, None)
    except RecordError as exc:
        contents.problem = str(exc)
    for run in runs.values():
        stats.samples += run.apply()
    stats.segments += 1
    if contents.problem is None:
        return
    if newest:
        stats.torn_tail = True
        log.warning(
            "wal_torn_tail_dropped",
            file=str(path),
            problem=contents.problem,
            consequence="the last write before the daemon stopped is lost",
        )
    else:
        stats.corruptions += 1
        log.error(
            "wal_segment_corrupt",
            file=str(path),
            problem=contents.problem,
            consequence="the rest of this segment is skipped",
        )


class _Run:
    """Consecutive writes of one source over the same series, applied series by series.

    A collection writes the same series in the same order every time, so a segment is mostly
    runs of records with equal refs; transposing a run (zip, in C) and extending each series'
    arrays once costs a few operations per series instead of a method call per point.
    """

    def __init__(self, first: SamplesRecord, by_ref: dict[int, Series | None]) -> None:
        self.refs = first.refs
        self.by_ref = by_ref
        self.times = array("q", (first.t_ms,))
        self.columns = [first.values]

    def extend(self, record: SamplesRecord) -> bool:
        """Add `record` to the run if it writes the same series later; False when it does not."""
        if record.t_ms <= self.times[-1] or record.refs != self.refs:
            return False
        self.times.append(record.t_ms)
        self.columns.append(record.values)
        return True

    def apply(self) -> int:
        """Append the run's points to their series; returns how many were applied."""
        applied = 0
        timeline = Timeline(self.times)  # shared by the series of the run that had no points yet
        rows = zip(*self.columns, strict=True) if len(self.columns) > 1 else ((v,) for v in self.columns[0])
        for ref, values in zip(self.refs, rows, strict=True):
            series = self.by_ref.get(ref)
            if series is None:
                continue
            applied += len(values)
            series.extend(timeline, values)
        return applied


class _Timelines:
    """One timeline for the checkpointed series whose timestamps are equal (those one source wrote)."""

    def __init__(self) -> None:
        self._by_span: dict[tuple[int, int, int], Timeline] = {}

    def of(self, times: array[int]) -> Timeline:
        if not times:
            return Timeline(times)
        span = (times[0], times[-1], len(times))
        known = self._by_span.get(span)
        if known is not None and known.times == times:
            return known
        timeline = Timeline(times)
        self._by_span.setdefault(span, timeline)
        return timeline
