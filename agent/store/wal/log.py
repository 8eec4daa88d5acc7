"""The write-ahead log of the store, as the event loop sees it.

`Wal` is the store's journal: every write the store accepts is queued for the writer
thread (writer.py) without waiting; `sync()` waits until what was queued is written. The
daemon replays the log into the store before anything else runs, checkpoints it from its
housekeeping, and checkpoints once more on a graceful stop, so the next start reads the
checkpoint alone.

A checkpoint holds every series' points within the store's retention and which series each
source wrote last. It is taken when the segments written since the last one outgrow a
quarter of it (bounding replay to the checkpoint plus that quarter), when the oldest of them
is older than the retention (so nothing older than any rule reads stays on disk), after a
start that replayed segments, and after the disk recovers from a failure.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agent.store.series import Series
from agent.store.store import Store
from agent.store.wal.records import PointsEntry
from agent.store.wal.replay import ReplayStats, replay
from agent.store.wal.writer import (
    SEGMENT_BYTES,
    CheckpointBegin,
    CheckpointChunk,
    CheckpointEnd,
    Flush,
    SegmentHolds,
    SegmentWriter,
    WalStats,
    Write,
    WriterThread,
)

MIN_CHECKPOINT_TRIGGER_BYTES = 4 * 1024 * 1024
CHUNK_SERIES = 2000
CHUNKS_IN_FLIGHT = 2


class Wal:
    """The store's write-ahead log in `directory`: replay, journal, checkpoints."""

    def __init__(
        self,
        directory: str | Path,
        *,
        flush: Flush = Flush.COLLECTION,
        segment_bytes: int = SEGMENT_BYTES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = Path(directory)
        self.flush = flush
        self.stats = WalStats()
        self._segment_bytes = segment_bytes
        self._monotonic = monotonic
        self._thread: WriterThread | None = None
        self._last_checkpoint = monotonic()
        self._checkpointing = False
        self.holds = SegmentHolds()  # segments remote_write has not sent yet: checkpoints keep them
        self.first_segment = 1  # the number of the first segment this run writes (set by start)

    def replay_into(self, store: Store) -> ReplayStats:
        """Load what is on disk into `store` (before `start`); FormatVersionError for an unknown format."""
        result = replay(self.directory, store, self._monotonic)
        # Fold replayed segments into a checkpoint soon, so a daemon that keeps crashing does not
        # pile up segments that every start replays again.
        self.stats.checkpoint_requested = result.segments > 0
        self.stats.corruptions += result.corruptions
        self.stats.replay_seconds = result.seconds
        return result

    def attach(self, store: Store) -> ReplayStats:
        """Replay what is on disk into `store`, then become its journal and start writing."""
        stats = self.replay_into(store)
        store.journal = self
        self.start()
        return stats

    def start(self) -> None:
        """Start the writer thread; writes go to a new segment after the newest on disk."""
        writer = SegmentWriter(
            self.directory,
            flush=self.flush,
            segment_bytes=self._segment_bytes,
            stats=self.stats,
            monotonic=self._monotonic,
            holds=self.holds,
        )
        self.first_segment = writer.next_number
        self._thread = WriterThread(writer)
        self._thread.start()

    # -- the store's journal ---------------------------------------------------

    def record(self, source: str, t_ms: int, series: list[Series], values: array[float]) -> None:
        """Queue one write of the store for the log."""
        if self._thread is not None:
            self._thread.put(Write(source, t_ms, series, values))

    async def sync(self) -> None:
        """Wait until every queued write is written (fsync'ed under `flush: fsync`)."""
        if self._thread is None:
            return
        if self.flush is Flush.BACKGROUND:
            self._thread.hand_over()
        else:
            await self._thread.barrier()

    # -- checkpoints -----------------------------------------------------------

    def checkpoint_due(self, retention_ms: int) -> bool:
        """Whether the segments since the last checkpoint are large or old enough to fold in."""
        stats = self.stats
        if stats.checkpoint_requested:
            return True
        if stats.segment_bytes_since_checkpoint == 0 or self._checkpointing:
            return False
        if stats.segment_bytes_since_checkpoint > max(MIN_CHECKPOINT_TRIGGER_BYTES, stats.last_checkpoint_bytes // 4):
            return True
        return self._monotonic() - self._last_checkpoint > retention_ms / 1000

    async def checkpoint(self, store: Store, now_ms: int) -> bool:
        """Write every live series within the retention to a checkpoint and drop the segments it covers."""
        if self._thread is None or self._checkpointing:
            return False
        self._checkpointing = True
        try:
            return await self._checkpoint(self._thread, store, now_ms)
        finally:
            self._last_checkpoint = self._monotonic()
            self._checkpointing = False

    async def _checkpoint(self, thread: WriterThread, store: Store, now_ms: int) -> bool:
        await thread.ask(CheckpointBegin)
        cutoff = now_ms - store.retention_ms
        refs: dict[Series, int] = {}
        chunk: list[PointsEntry] = []
        in_flight: deque[asyncio.Future[Any]] = deque()
        for series in list(store.all_series()):
            entry = _entry(series, cutoff, len(refs))
            if entry is None:
                continue
            refs[series] = entry.ref
            chunk.append(entry)
            if len(chunk) >= CHUNK_SERIES:
                await _send_chunk(thread, chunk, in_flight)
                chunk = []
        if chunk:
            await _send_chunk(thread, chunk, in_flight)
        for pending in in_flight:
            await pending
        owners = [(source, [refs[s] for s in owned if s in refs]) for source, owned in store.owners()]
        done: bool = await thread.ask(lambda reply: CheckpointEnd(owners, reply))
        return done

    async def close(self, store: Store, now_ms: int) -> None:
        """Checkpoint (so the next start reads the checkpoint alone) and stop the writer."""
        if self._thread is None:
            return
        await self.checkpoint(store, now_ms)
        await self._thread.stop()
        self._thread = None


def _entry(series: Series, cutoff_ms: int, ref: int) -> PointsEntry | None:
    times, values = series.points(cutoff_ms)
    if not times:
        return None
    return PointsEntry(ref, series.key, times, values)


async def _send_chunk(
    thread: WriterThread, chunk: Sequence[PointsEntry], in_flight: deque[asyncio.Future[Any]]
) -> None:
    """Queue a chunk for the writer, keeping at most a few in memory at once."""
    in_flight.append(asyncio.ensure_future(thread.ask(lambda reply: CheckpointChunk(chunk, reply))))
    if len(in_flight) > CHUNKS_IN_FLIGHT:
        await in_flight.popleft()
    else:
        await asyncio.sleep(0)  # let the loop serve between chunks
