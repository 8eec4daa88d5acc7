"""One remote_write queue: read the WAL after the saved position, send, move the position on.

Like Prometheus' queue manager (storage/remote/queue_manager.go), with its state on disk instead
of in memory: the position is saved only after the receiver acknowledged everything before it,
so a receiver outage or a kill -9 loses nothing. The position is written beside the next request,
never more than one batch behind, so after a crash at most two batches are sent again (a batch
is `max_samples_per_send` samples, or one collection's write when that is larger). The
WAL keeps every segment at or after the position (SegmentHolds), up to
`store.wal.remote_write_retention`; older unsent segments are given up and counted.

Outcomes, classified in one place (`_verdict`): 2xx acknowledged; 5xx, timeouts, connection errors
and (with `retry_on_http_429`) 429 retried with a backoff doubling from `min_backoff` to
`max_backoff` (a longer Retry-After is honoured; the notifier's `Backoff`, without jitter); any
other status dropped and counted as failed.

Sharding: one shard, one request in flight. Series stay in order without resharding, and
`max_shards` (an upper bound) and `min_shards` are honoured trivially; the `shards` metrics say 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import structlog

from agent.config.remote_write import RemoteWriteConfig
from agent.lograte import RepeatedFailure
from agent.model import Labels, MetricMeta, Sample, counter, gauge, labels_of
from agent.notify.http import client_secrets, new_client, post
from agent.notify.model import Outcome
from agent.notify.retry import Backoff
from agent.relabel import Relabeler
from agent.remote import codec
from agent.remote.position import Position, PositionFile
from agent.remote.reader import Batch, WalReader
from agent.store.wal.segments import HEADER_SIZE, segment_name, segment_numbers
from agent.store.wal.writer import SegmentHolds

log = structlog.get_logger(__name__)

POLL_SECONDS = 1.0  # the WAL hands its writes to disk about once a second when no rule waits

QUEUE_METRICS: tuple[MetricMeta, ...] = (
    counter("tripwired_remote_storage_samples_total", "Samples sent to remote storage and acknowledged."),
    counter(
        "tripwired_remote_storage_samples_failed_total",
        "Samples the remote storage refused with a non-recoverable error (4xx); not sent again.",
    ),
    counter("tripwired_remote_storage_samples_retried_total", "Samples sent again after a recoverable error."),
    counter(
        "tripwired_remote_storage_samples_dropped_total",
        "Samples not sent: dropped by write_relabel_configs, or given up unsent after the WAL retention.",
    ),
    gauge("tripwired_remote_storage_samples_pending", "Samples read from the WAL and not yet acknowledged."),
    gauge(
        "tripwired_remote_storage_queue_highest_sent_timestamp_seconds",
        "Timestamp of the newest sample the remote storage acknowledged.",
    ),
    gauge(
        "tripwired_remote_storage_highest_read_timestamp_seconds", "Timestamp of the newest sample read from the WAL."
    ),
    counter("tripwired_remote_storage_bytes_total", "Compressed bytes of the requests sent to remote storage."),
    gauge("tripwired_remote_storage_shards", "Shards sending in parallel."),
    gauge("tripwired_remote_storage_shards_min", "queue_config.min_shards."),
    gauge("tripwired_remote_storage_shards_max", "queue_config.max_shards."),
    gauge("tripwired_remote_storage_wal_unsent_segments", "WAL segments kept because this queue has not sent them."),
)


class Verdict(enum.Enum):
    """How one request ended: sent, to be retried, or failed for good (classified in `_verdict` alone)."""

    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Prepared:
    """A batch read from the WAL and the requests it makes."""

    batch: Batch
    requests: list[codec.Request]


@dataclass
class QueueStats:
    """What a queue has done since start, in samples unless named otherwise; exported as its metrics."""

    sent: int = 0
    failed: int = 0
    retried: int = 0
    dropped_relabel: int = 0
    dropped_retention: int = 0
    pending: int = 0
    highest_sent_ms: int = 0
    highest_read_ms: int = 0
    bytes_sent: int = 0
    unsent_segments: int = 0


def queue_name(config: RemoteWriteConfig) -> str:
    """The config's `name`, else a hash of its URL (as Prometheus names its queues)."""
    return config.name or hashlib.sha256(str(config.url).encode()).hexdigest()[:6]


def endpoint_label(url: str) -> str:
    """The URL as a label: scheme, host and port only (a path or query may carry a token)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"


class RemoteQueue:
    """One `remote_write` entry, sending from the WAL in `wal_dir`."""

    def __init__(
        self,
        config: RemoteWriteConfig,
        *,
        wal_dir: Path,
        position_dir: Path,
        holds: SegmentHolds,
        first_segment: int,
        external_labels: Mapping[str, str],
        retention_seconds: float,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.name = queue_name(config)
        self.labels: Labels = labels_of(remote_name=self.name, url=endpoint_label(str(config.url)))
        self.stats = QueueStats()
        self._position_file = PositionFile(position_dir / f"{self.name}.json")
        start = self._position_file.load() or self._first_position(first_segment)
        self._reader = WalReader(
            wal_dir,
            start,
            external_labels=external_labels,
            relabeler=Relabeler(config.write_relabel_configs),
            wall_clock=wall_clock,
        )
        self._holds = holds
        self._holds.hold(self.name, start.segment)
        self._wal_dir = wal_dir
        self._retention = retention_seconds
        self._secrets = [str(config.url), *client_secrets(config.http_config()), *map(str, config.headers.values())]
        self._headers = {**{k: str(v) for k, v in config.headers.items()}, **codec.PROTOCOL_HEADERS}
        self._saved = start
        self._saver: asyncio.Future[None] | None = None
        self._expired_samples = 0  # given up by the reader: whole segments older than the retention
        self._wall_clock = wall_clock
        self._retry_log = RepeatedFailure(
            "remote_write_failed", time.monotonic, first_level="warning", recovered_event="remote_write_recovered"
        )
        self._refused_log = RepeatedFailure("remote_write_refused", time.monotonic)
        log.info("remote_write_queue_started", remote_name=self.name, segment=start.segment, offset=start.offset)

    def _first_position(self, first_segment: int) -> Position:
        """A new queue starts with the first segment this run writes (what is on disk from before was never
        promised to it; Prometheus' watcher starts at the newest segment too), and says so on disk at once:
        were the receiver down from the start, a restart would otherwise begin after what this run wrote."""
        position = Position(first_segment, HEADER_SIZE)
        self._position_file.save(position)
        return position

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set; what was not acknowledged by then is sent after the restart.

        The next batch is read and encoded on a worker thread while the current one is sent, so
        the disk, the encoder and the receiver's round trip overlap instead of adding up.
        """
        queue = self.config.queue_config
        async with new_client(self.config.http_config()) as client:
            ahead: asyncio.Future[Prepared] | None = None
            while not stop.is_set():
                prepared = await (ahead or self._prepare())
                self._count_read(prepared.batch)
                caught_up = not prepared.batch.full and prepared.batch.samples < queue.max_samples_per_send
                ahead = None if caught_up else self._prepare()
                for request in prepared.requests:
                    if stop.is_set():
                        break  # the rest is sent after the restart, from the saved position
                    await self._send(client, request, prepared.batch.end, stop)
                if prepared.batch.end != self._saved and not stop.is_set():
                    await self._save_soon(prepared.batch.end)
                if caught_up:
                    await _sleep(stop, min(POLL_SECONDS, float(queue.batch_send_deadline)))
            if ahead is not None:
                await ahead  # a worker thread cannot be cancelled; let it finish its read
            if self._saver is not None:
                await self._saver  # a graceful stop leaves the last acknowledged position on disk

    def _prepare(self) -> asyncio.Future[Prepared]:
        return asyncio.ensure_future(asyncio.to_thread(self._read_and_encode))

    def _read_and_encode(self) -> Prepared:
        """The next batch and its requests, on a worker thread (one at a time: the reader is not shared)."""
        batch = self._read(self.config.queue_config.max_samples_per_send)
        return Prepared(batch, batch.builder.requests())

    def _count_read(self, batch: Batch) -> None:
        """Count a batch read (on the loop, which alone writes these counters)."""
        self.stats.dropped_relabel += batch.dropped_by_relabel
        self.stats.pending += batch.samples
        self.stats.highest_read_ms = max(self.stats.highest_read_ms, batch.highest_ms)

    def _read(self, max_samples: int) -> Batch:
        """Give up what is older than the retention, then read the next batch."""
        skipped = self._reader.expire(self._retention)
        if skipped.segments:
            self._expired_samples += skipped.samples  # only this thread writes it; the loop reads it
            log.error(
                "remote_write_samples_dropped",
                remote_name=self.name,
                reason="retention",
                samples=skipped.samples,
                segments=skipped.segments,
            )
        return self._reader.read(max_samples)

    async def _send(
        self, client: httpx.AsyncClient, request: codec.Request, end: Position, stop: asyncio.Event
    ) -> None:
        if await self._deliver(client, request.body, request.samples, end, stop) is Verdict.SENT:
            self.stats.sent += request.samples
            self.stats.bytes_sent += len(request.body)
            self.stats.highest_sent_ms = max(self.stats.highest_sent_ms, request.newest_ms)
        self.stats.pending -= request.samples

    async def _deliver(
        self, client: httpx.AsyncClient, body: bytes, samples: int, end: Position, stop: asyncio.Event
    ) -> Verdict:
        """Post one request until it is acknowledged, refused for good, given up at the retention, or we stop."""
        queue = self.config.queue_config
        backoff = Backoff(float(queue.min_backoff), float(queue.max_backoff), jitter=False, cap_retry_after=False)
        retries = 0
        while True:
            posted = await post(client, str(self.config.url), body, self._secrets, headers=self._headers)
            verdict = self._verdict(posted.result.outcome, posted.status)
            self._log_health(verdict, posted.result.reason, samples)
            if verdict is Verdict.FAILED:
                self.stats.failed += samples
            if verdict is not Verdict.RETRY:
                return verdict
            if stop.is_set():
                return Verdict.RETRY
            if self._expired(end):
                self.stats.dropped_retention += samples  # the batch being retried
                log.error("remote_write_samples_dropped", remote_name=self.name, reason="retention", samples=samples)
                return Verdict.FAILED
            self.stats.retried += samples
            retries += 1
            await _sleep(stop, backoff.delay(retries, posted.result.retry_after))

    def _log_health(self, verdict: Verdict, reason: str, samples: int) -> None:
        """Log when sending starts failing or being refused, a summary now and then, and the recovery."""
        if verdict is Verdict.RETRY:
            self._retry_log.failed(remote_name=self.name, reason=reason, consequence="retrying with backoff")
        elif verdict is Verdict.FAILED:
            self._refused_log.failed(remote_name=self.name, reason=reason, samples=samples, consequence="dropped")
        else:
            self._retry_log.succeeded(remote_name=self.name)
            self._refused_log.succeeded(remote_name=self.name)

    def _verdict(self, outcome: Outcome, status: int) -> Verdict:
        """The one place an answer is classified (see the module docstring)."""
        if outcome is Outcome.DELIVERED:
            return Verdict.SENT
        if status == 429 and not self.config.queue_config.retry_on_http_429:
            return Verdict.FAILED
        return Verdict.RETRY if outcome is Outcome.RETRY else Verdict.FAILED

    def _expired(self, end: Position) -> bool:
        """Whether the segment being sent is older than the retention (and no longer written)."""
        later = [n for n in segment_numbers(self._wal_dir) if n > end.segment]
        path = self._wal_dir / segment_name(end.segment)
        with contextlib.suppress(OSError):
            return bool(later) and path.stat().st_mtime < self._wall_clock() - self._retention
        return False

    async def _save_soon(self, position: Position) -> None:
        """Save `position` beside the next request rather than before it (an fsync costs ~10 ms here),
        but never more than one save behind: after a crash at most two batches are sent again."""
        if self._saver is not None:
            await self._saver
        self._saver = asyncio.ensure_future(self._save(position))

    async def _save(self, position: Position) -> None:
        if await asyncio.to_thread(self._position_file.save, position):  # a failure is logged; the next one retries
            self._saved = position
            self._holds.hold(self.name, position.segment)
            self.stats.unsent_segments = len([n for n in segment_numbers(self._wal_dir) if n >= position.segment])

    def samples(self) -> list[Sample]:
        """This queue's self-metrics, labelled by remote_name and url."""
        stats, queue = self.stats, self.config.queue_config
        values = (
            stats.sent,
            stats.failed,
            stats.retried,
            None,
            stats.pending,
            stats.highest_sent_ms / 1000,
            stats.highest_read_ms / 1000,
            stats.bytes_sent,
            1,
            queue.min_shards,
            queue.max_shards,
            stats.unsent_segments,
        )
        out = [
            Sample(m.name, self.labels, float(v)) for m, v in zip(QUEUE_METRICS, values, strict=True) if v is not None
        ]
        dropped = QUEUE_METRICS[3].name
        retention = stats.dropped_retention + self._expired_samples
        for reason, count in (("relabel", stats.dropped_relabel), ("retention", retention)):
            out.append(Sample(dropped, labels_of(dict(self.labels), reason=reason), float(count)))
        return out


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
