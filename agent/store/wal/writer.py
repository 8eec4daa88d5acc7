"""The log's writing side: one thread that appends records to numbered segment files.

The event loop hands it work through a queue and never waits on the disk unless it asks
to (`sync`). The thread drains everything queued, encodes it, writes it with one call and,
under `flush: fsync`, fsyncs it; then it answers the barriers that were queued behind it.
Segments are cut at `segment_bytes`, at every checkpoint and after a failed write, and each
starts numbering its series afresh, so every segment can be read on its own.

A write that fails (a full or read-only disk) truncates the segment back to its last good
record, is logged once and counted, and the log stops writing for `RETRY_SECONDS`; the
store goes on in memory, and the first write that succeeds again asks for a checkpoint,
which brings what the log missed back on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import queue
import threading
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from agent.store.series import Series
from agent.store.wal.records import PointsEntry, RecordType, encode_owners, encode_points, encode_samples, encode_series
from agent.store.wal.segments import (
    CHECKPOINT_MAGIC,
    SEGMENT_MAGIC,
    checkpoint_name,
    checkpoint_numbers,
    file_header,
    frame,
    segment_name,
    segment_numbers,
)

log = structlog.get_logger(__name__)

SEGMENT_BYTES = 32 * 1024 * 1024
RETRY_SECONDS = 5.0
HAND_OVER_SECONDS = 1.0


class Flush(enum.Enum):
    """When a write is on disk, relative to the rules that read it."""

    COLLECTION = "collection"  # written (to the OS) before the ruler is told of the collection
    FSYNC = "fsync"  # written and fsync'ed first: survives a power cut, not only a crash
    BACKGROUND = "background"  # written soon after; a crash may lose the last few writes


@dataclass(slots=True)
class WalStats:
    """Counters the daemon exports as tripwired_storage_*; written by the thread, read by the loop."""

    writable: bool = True
    writes_failed: int = 0
    samples_not_logged: int = 0
    segment_bytes_since_checkpoint: int = 0
    checkpoints: int = 0
    checkpoints_failed: int = 0
    last_checkpoint_bytes: int = 0
    last_checkpoint_time: float = 0.0
    last_checkpoint_seconds: float = 0.0
    # Segments were replayed, or a write succeeded after failures: fold what is on disk into a checkpoint.
    checkpoint_requested: bool = False
    corruptions: int = 0
    replay_seconds: float = 0.0


class SegmentHolds:
    """The oldest segment each reader of the log (a remote_write queue) has not finished reading.

    Set on the loop, read by the writer thread when a checkpoint deletes the segments it covers:
    held segments stay until their readers move past them (a reader bounds how long it holds).
    """

    def __init__(self) -> None:
        self._oldest: dict[str, int] = {}

    def hold(self, reader: str, segment: int) -> None:
        """Keep `segment` and the ones after it until `reader` moves on."""
        self._oldest[reader] = segment

    def release(self, reader: str) -> None:
        """Forget `reader`'s hold (it stopped)."""
        self._oldest.pop(reader, None)

    def oldest(self) -> int | None:
        """The oldest segment any reader holds; None when none does."""
        return min(list(self._oldest.values()), default=None)  # list() is one step under the GIL


# -- what the loop sends the thread ------------------------------------------------


@dataclass(slots=True)
class Write:
    """One store write to log: its source, time (milliseconds) and each series with its value."""

    source: str
    t_ms: int
    series: list[Series]
    values: array[float]


@dataclass(slots=True)
class Reply:
    """Something the loop awaits: the thread answers it through the loop."""

    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]

    def answer(self, value: object) -> None:
        """Resolve the awaited future with `value`, from the writer thread; ignored when the loop is closed."""

        def settle() -> None:
            if not self.future.done():
                self.future.set_result(value)

        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            self.loop.call_soon_threadsafe(settle)


@dataclass(slots=True)
class Barrier:
    """A request to answer once everything handed over before it is written."""

    reply: Reply


@dataclass(slots=True)
class CheckpointBegin:
    """A request to start a checkpoint covering every segment so far; the open segment is closed."""

    reply: Reply  # answered with the number of the last segment the checkpoint covers


@dataclass(slots=True)
class CheckpointChunk:
    """Points of some live series to add to the checkpoint being written."""

    entries: Sequence[PointsEntry]
    reply: Reply


@dataclass(slots=True)
class CheckpointEnd:
    """The owners that finish the checkpoint; the writer puts it in place and deletes the segments it covers."""

    owners: Sequence[tuple[str, Sequence[int]]]
    reply: Reply  # answered with True when the checkpoint is in place


@dataclass(slots=True)
class Stop:
    """A request to close the segment and end the writer thread."""

    reply: Reply


Item = Write | Barrier | CheckpointBegin | CheckpointChunk | CheckpointEnd | Stop
# One hand-over: the writes held on the loop go over together, as one queue entry (one wake-up).
Handed = Item | list[Write]


@dataclass(slots=True)
class _Segment:
    number: int
    fd: int
    size: int
    refs: dict[Series, int] = field(default_factory=dict)
    # Per source, the series of its last write and their refs: a collection writes the same
    # series in the same order every time, and then needs no lookup at all.
    last_write: dict[str, tuple[list[Series], array[int]]] = field(default_factory=dict)


class SegmentWriter:
    """The thread's side: owns the open segment, the checkpoint being written, and the counters."""

    def __init__(
        self,
        directory: Path,
        *,
        flush: Flush,
        segment_bytes: int,
        stats: WalStats,
        monotonic: Callable[[], float] = time.monotonic,
        holds: SegmentHolds | None = None,
    ) -> None:
        self.directory = directory
        self.flush = flush
        self.segment_bytes = segment_bytes
        self.stats = stats
        self.holds = holds or SegmentHolds()
        self._monotonic = monotonic
        self._segment: _Segment | None = None
        existing = segment_numbers(directory) + checkpoint_numbers(directory)
        self._next_number = max(existing, default=0) + 1
        self._retry_at = 0.0
        self._checkpoint: tuple[int, int, Path] | None = None  # (covers up to, fd, tmp path)
        self._checkpoint_failed = False
        self._checkpoint_started = 0.0

    @property
    def next_number(self) -> int:
        """The number the next segment will have."""
        return self._next_number

    # -- the loop of the thread -------------------------------------------------

    def run(self, items: queue.SimpleQueue[Handed]) -> None:
        """The writer thread's loop: take what was handed over, in batches, until a Stop."""
        while True:
            batch: list[Item] = []
            _take(batch, items.get())
            with contextlib.suppress(queue.Empty):
                while len(batch) < 1024:
                    _take(batch, items.get_nowait())
            if not self._handle(batch):
                return

    def _handle(self, batch: list[Item]) -> bool:
        buffer = bytearray()
        replies: list[Reply] = []
        for item in batch:
            if isinstance(item, Write):
                self._encode(item, buffer)
            elif isinstance(item, Barrier):
                replies.append(item.reply)
            else:
                self._write(buffer)
                buffer.clear()
                if isinstance(item, Stop):
                    self._close_segment()
                    self._abort_checkpoint()
                    for reply in [*replies, item.reply]:
                        reply.answer(None)
                    return False
                self._checkpoint_item(item)
        self._write(buffer)
        for reply in replies:
            reply.answer(None)
        return True

    # -- segments ----------------------------------------------------------------

    def _encode(self, item: Write, buffer: bytearray) -> None:
        if self._segment is None and not self._open_segment():
            self.stats.samples_not_logged += len(item.values)
            return
        segment = self._segment
        assert segment is not None
        if segment.size + len(buffer) >= self.segment_bytes and segment.refs:
            self._write(buffer)
            buffer.clear()
            self._close_segment()
            if not self._open_segment():
                self.stats.samples_not_logged += len(item.values)
                return
            segment = self._segment
            assert segment is not None
        last = segment.last_write.get(item.source)
        if last is not None and last[0] == item.series:  # the same series as last time: a C-level compare
            refs = last[1]
        else:
            refs = self._refs(segment, item.series, buffer)
            segment.last_write[item.source] = (item.series, refs)
        buffer += frame(RecordType.SAMPLES, encode_samples(item.source, item.t_ms, refs, item.values))

    @staticmethod
    def _refs(segment: _Segment, series_list: list[Series], buffer: bytearray) -> array[int]:
        """The segment's numbers for `series_list`, declaring the new ones in a SERIES record."""
        refs = array("I")
        new: list[tuple[int, Any]] = []
        known = segment.refs
        for series in series_list:
            ref = known.get(series)
            if ref is None:
                ref = known[series] = len(known)
                new.append((ref, series.key))
            refs.append(ref)
        if new:
            buffer += frame(RecordType.SERIES, encode_series(new))
        return refs

    def _open_segment(self) -> bool:
        if self._monotonic() < self._retry_at:
            return False
        number = self._next_number
        path = self.directory / segment_name(number)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o640)
        except OSError as exc:
            self._failed(exc, None)
            return False
        self._next_number += 1
        self._segment = _Segment(number, fd, 0)
        return self._write(bytearray(file_header(SEGMENT_MAGIC)))

    def _close_segment(self) -> None:
        segment = self._segment
        if segment is None:
            return
        self._segment = None
        with contextlib.suppress(OSError):
            if self.flush is not Flush.BACKGROUND:
                os.fsync(segment.fd)  # a finished segment is on disk, as Prometheus fsyncs on close
        os.close(segment.fd)

    def _write(self, data: bytearray) -> bool:
        segment = self._segment
        if not data or segment is None:
            return segment is not None
        try:
            _write_all(segment.fd, data)
            if self.flush is Flush.FSYNC:
                os.fdatasync(segment.fd)
        except OSError as exc:
            self._failed(exc, segment)
            return False
        segment.size += len(data)
        self.stats.segment_bytes_since_checkpoint += len(data)
        if not self.stats.writable:
            self.stats.writable = True
            self.stats.checkpoint_requested = True
            log.warning("wal_write_recovered", segment=str(self.directory / segment_name(segment.number)))
        return True

    def _failed(self, exc: OSError, segment: _Segment | None) -> None:
        """A write failed: cut the segment back to its last whole record and pause the log."""
        if segment is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(segment.fd, segment.size)
            os.close(segment.fd)
            self._segment = None
        self.stats.writes_failed += 1
        self._retry_at = self._monotonic() + RETRY_SECONDS
        if self.stats.writable:
            self.stats.writable = False
            log.error(
                "wal_write_failed",
                directory=str(self.directory),
                error=exc.strerror or str(exc),
                consequence="samples stay in memory; a restart before the disk recovers loses them",
                retry_seconds=RETRY_SECONDS,
            )

    # -- checkpoints ---------------------------------------------------------------

    def _checkpoint_item(self, item: CheckpointBegin | CheckpointChunk | CheckpointEnd) -> None:
        if isinstance(item, CheckpointBegin):
            item.reply.answer(self._begin_checkpoint())
        elif isinstance(item, CheckpointChunk):
            self._checkpoint_write(frame(RecordType.POINTS, encode_points(item.entries)))
            item.reply.answer(None)
        else:
            self._checkpoint_write(frame(RecordType.OWNERS, encode_owners(item.owners)))
            item.reply.answer(self._finish_checkpoint())

    def _begin_checkpoint(self) -> int:
        """Close the open segment and start `checkpoint.N.tmp`, N being the last segment it covers."""
        self._abort_checkpoint()
        self._close_segment()
        covers = self._next_number - 1
        self._checkpoint_started = self._monotonic()
        self._checkpoint_failed = False
        tmp = self.directory / f"{checkpoint_name(covers)}.tmp"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
            self._checkpoint = (covers, fd, tmp)
            _write_all(fd, file_header(CHECKPOINT_MAGIC))
        except OSError as exc:
            self._checkpoint_error(exc)
        return covers

    def _checkpoint_write(self, data: bytes) -> None:
        if self._checkpoint is None:
            return
        try:
            _write_all(self._checkpoint[1], data)
        except OSError as exc:
            self._checkpoint_error(exc)

    def _finish_checkpoint(self) -> bool:
        if self._checkpoint is None:
            return False
        covers, fd, tmp = self._checkpoint
        self._checkpoint = None
        final = self.directory / checkpoint_name(covers)
        try:
            os.fsync(fd)
            size = os.fstat(fd).st_size
            os.close(fd)
            os.replace(tmp, final)
            _fsync_dir(self.directory)
        except OSError as exc:
            self._checkpoint = (covers, fd, tmp)
            self._checkpoint_error(exc)
            return False
        self._truncate(covers)
        stats = self.stats
        stats.checkpoints += 1
        stats.last_checkpoint_bytes = size
        stats.last_checkpoint_time = time.time()
        stats.last_checkpoint_seconds = self._monotonic() - self._checkpoint_started
        stats.segment_bytes_since_checkpoint = self._segment.size if self._segment else 0
        stats.checkpoint_requested = False
        return True

    def _truncate(self, covers: int) -> None:
        """Delete the segments a checkpoint covers but no reader holds, and older checkpoints, oldest first."""
        held = self.holds.oldest()
        keep_from = covers + 1 if held is None else min(held, covers + 1)
        try:
            for number in segment_numbers(self.directory):
                if number < keep_from:
                    (self.directory / segment_name(number)).unlink()
            for number in checkpoint_numbers(self.directory):
                if number < covers:
                    (self.directory / checkpoint_name(number)).unlink()
        except OSError as exc:
            log.warning("wal_truncate_failed", directory=str(self.directory), error=exc.strerror or str(exc))

    def _checkpoint_error(self, exc: OSError) -> None:
        self._abort_checkpoint()
        self.stats.checkpoints_failed += 1
        if not self._checkpoint_failed:
            self._checkpoint_failed = True
            log.error("wal_checkpoint_failed", directory=str(self.directory), error=exc.strerror or str(exc))

    def _abort_checkpoint(self) -> None:
        if self._checkpoint is None:
            return
        _, fd, tmp = self._checkpoint
        self._checkpoint = None
        with contextlib.suppress(OSError):
            os.close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink()


def _take(batch: list[Item], handed: Handed) -> None:
    if isinstance(handed, list):
        batch.extend(handed)
    else:
        batch.append(handed)


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class WriterThread:
    """Starts the writer's thread and passes it work; every method but `start` runs on the loop.

    Writes are held on the loop side and handed over together, as one queue entry: at the next
    `barrier` (the ruler waits for the log before it evaluates) or, for writes nobody waits for,
    `HAND_OVER_SECONDS` later. So the thread wakes at most once a second when no rule waits
    (every wake-up of a second thread costs a GIL hand-off, which on a quiet 2-core VM cost more
    than the encoding itself), and a kill -9 loses at most that second of writes no rule read.
    """

    def __init__(self, writer: SegmentWriter) -> None:
        self.writer = writer
        self._items: queue.SimpleQueue[Handed] = queue.SimpleQueue()
        self._thread = threading.Thread(target=writer.run, args=(self._items,), name="wal-writer", daemon=True)
        self._held: list[Write] = []
        self._hand_over_scheduled = False
        self._enqueued = 0
        self._synced = 0

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def put(self, item: Write) -> None:
        """Hold a write for the thread; it is handed over at the next barrier or after HAND_OVER_SECONDS."""
        self._held.append(item)
        self._enqueued += 1
        if self._hand_over_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a script writing a store directly): hand it over now
            self.hand_over()
            return
        self._hand_over_scheduled = True
        loop.call_later(HAND_OVER_SECONDS, self.hand_over)

    def hand_over(self) -> None:
        """Give the thread every write held so far."""
        self._hand_over_scheduled = False
        held, self._held = self._held, []
        if held:
            self._items.put(held)

    async def barrier(self) -> None:
        """Return once everything put so far is written."""
        target = self._enqueued
        if self._synced >= target or not self._thread.is_alive():
            return
        await self.ask(Barrier)
        self._synced = max(self._synced, target)

    async def ask(self, make: Callable[[Reply], Item]) -> Any:
        """Hand over what is held, then `make`'s item, and wait for the thread's answer to it."""
        self.hand_over()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._items.put(make(Reply(loop, future)))
        return await future

    async def stop(self) -> None:
        """Hand over what is held, let the thread close its segment, and wait for it (up to a second)."""
        if self._thread.is_alive():
            await self.ask(Stop)
            self._thread.join(timeout=1.0)
