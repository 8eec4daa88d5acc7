"""Reading the store's write-ahead log by position, as Prometheus' WAL watcher does for remote_write.

The reader follows the segments in order with the log's own frame reader (segments.py) and
record decoders (records.py): it never writes to the log. Every segment numbers its series
afresh, so entering a segment (or resuming in the middle of one after a restart) reads its
SERIES records from the start and skips the samples before the saved offset. Each series'
final labels (external labels added, `write_relabel_configs` applied, encoded for the wire)
are worked out once per segment, not once per sample.

A segment is finished when a later one exists and a read after seeing it finds nothing new:
the writer completes a segment's last write before it creates the next one.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import structlog

from agent.model import SeriesKey
from agent.relabel import Relabeler
from agent.remote import codec
from agent.remote.position import Position
from agent.store.wal.records import RecordError, RecordType, SamplesRecord, decode_samples, decode_series
from agent.store.wal.segments import (
    HEADER_SIZE,
    SEGMENT_MAGIC,
    FileContents,
    read_records,
    segment_name,
    segment_numbers,
)

log = structlog.get_logger(__name__)


@dataclass
class Batch:
    """Samples read from the log, built into requests, with the position just past them."""

    end: Position
    builder: codec.RequestBuilder
    dropped_by_relabel: int = 0
    highest_ms: int = 0
    full: bool = False  # the next record would not fit

    @property
    def samples(self) -> int:
        """How many samples the batch's requests hold."""
        return self.builder.samples


@dataclass
class Skipped:
    """Samples given up unsent: their segment was older than the retention, or damaged."""

    samples: int = 0
    segments: int = 0


class WalReader:
    """Reads samples after a position, segment by segment; not thread-safe (one caller at a time)."""

    def __init__(
        self,
        directory: Path,
        start: Position,
        *,
        external_labels: Mapping[str, str],
        relabeler: Relabeler,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = directory
        self.position = start
        self._external = dict(external_labels)
        self._relabeler = relabeler
        self._wall_clock = wall_clock
        self._labels: dict[int, bytes | None] = {}  # ref -> encoded labels (None: dropped by relabelling)
        self._loaded: int | None = None  # the segment whose SERIES records `_labels` holds
        self._read_to = start.offset  # how far the current segment has been read

    def read(self, max_samples: int) -> Batch:
        """Up to `max_samples` samples after the position, in whole records (one record may hold more)."""
        batch = Batch(self.position, codec.RequestBuilder(max_samples))
        while batch.samples < max_samples and not batch.full:
            later = [n for n in segment_numbers(self.directory) if n > self.position.segment]
            contents = self._read_current(later)
            if contents is None:
                break
            took = self._take(contents, batch, max_samples)
            if not took and not batch.full and not self._next_segment(later, contents):
                break
        return batch

    def expire(self, max_age_seconds: float) -> Skipped:
        """Give up the segments older than `max_age_seconds` that a later segment follows (counted)."""
        skipped = Skipped()
        while True:
            later = [n for n in segment_numbers(self.directory) if n > self.position.segment]
            path = self.directory / segment_name(self.position.segment)
            if not later or not _older_than(path, self._wall_clock() - max_age_seconds):
                return skipped
            skipped.samples += _count_samples(path, self.position)
            skipped.segments += 1
            self._enter(later[0])

    # -- one segment -------------------------------------------------------------

    def _read_current(self, later: list[int]) -> FileContents | None:
        path = self.directory / segment_name(self.position.segment)
        if not path.exists():
            if later:
                self._missing(later[0])
                return self._read_current(later[1:])
            return None
        if self._loaded != self.position.segment:
            self._labels = {}
            self._loaded = self.position.segment
            self._read_to = HEADER_SIZE  # the series are declared from the start of the segment
        return read_records(path, SEGMENT_MAGIC, self._read_to)

    def _take(self, contents: FileContents, batch: Batch, max_samples: int) -> bool:
        """Add the records of `contents` after the position to `batch`; False when there were none."""
        took = False
        try:
            for (record_type, payload), end in zip(contents.records, contents.ends, strict=True):
                if record_type is RecordType.SAMPLES and end > self.position.offset:
                    record = decode_samples(payload)
                    if batch.samples and batch.samples + len(record.refs) > max_samples:
                        batch.full = True  # the next batch starts with it: a request holds whole writes
                        break
                    self._add(record, batch)
                    batch.end = self.position = Position(self.position.segment, end)
                    took = True
                elif record_type is RecordType.SERIES:
                    for ref, key in decode_series(payload):
                        self._labels[ref] = self._final_labels(key)
                self._read_to = end
        except RecordError as exc:
            contents.problem = str(exc)
        return took

    def _add(self, record: SamplesRecord, batch: Batch) -> None:
        labels_of, add, t_ms = self._labels.get, batch.builder.add, record.t_ms
        for ref, value in zip(record.refs, record.values, strict=True):
            labels = labels_of(ref)
            if labels is None:
                batch.dropped_by_relabel += 1
            else:
                add(labels, t_ms, value)
        batch.highest_ms = max(batch.highest_ms, t_ms)

    def _next_segment(self, later: list[int], contents: FileContents) -> bool:
        """Move past a finished segment; False while the current one may still grow."""
        if not later:
            return False
        if contents.problem is not None:  # a kill -9's torn last write, or damage the WAL's replay reports too
            log.warning(
                "remote_write_segment_end_unreadable",
                segment=self.position.segment,
                problem=contents.problem,
                consequence="the rest of this segment is skipped",
            )
        self._enter(later[0])
        return True

    def _enter(self, segment: int) -> None:
        self.position = Position(segment, HEADER_SIZE)
        self._loaded = None

    def _missing(self, next_segment: int) -> None:
        log.error(
            "remote_write_segment_missing",
            segment=self.position.segment,
            resumed_at=next_segment,
            consequence="samples of the missing segment were not sent",
        )
        self._enter(next_segment)

    def _final_labels(self, key: SeriesKey) -> bytes | None:
        """External labels (a series' own label wins), then write_relabel_configs; encoded, or None if dropped."""
        labels = {**self._external, **dict(key.labels), "__name__": key.name}
        if self._relabeler:
            relabelled = self._relabeler.apply(labels)
            if relabelled is None:
                return None
            labels = relabelled
        return codec.encode_labels(sorted(labels.items()))


def _older_than(path: Path, cutoff: float) -> bool:
    try:
        return path.stat().st_mtime < cutoff
    except OSError:
        return False


def _count_samples(path: Path, after: Position) -> int:
    """Samples of a segment after `after` (used when giving them up, to count them)."""
    try:
        contents = read_records(path, SEGMENT_MAGIC)
    except OSError:
        return 0
    count = 0
    for (record_type, payload), end in zip(contents.records, contents.ends, strict=True):
        if record_type is RecordType.SAMPLES and end > after.offset:
            with contextlib.suppress(RecordError):
                count += len(decode_samples(payload).refs)
    return count
