"""The daemon's durable storage: the state directory's lock and the store's write-ahead log.

One daemon per state directory: a second `tripwired run` on the same one is refused with the
first one's PID instead of sharing its files. The WAL (agent/store/wal) is replayed into the
store before the first collection, checkpointed from the housekeeping loop and once more on
a graceful stop; its health is exported as `tripwired_storage_*`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

import structlog

from agent.config.schema import Config, WalEnabled
from agent.model import MetricMeta, Sample, counter, gauge
from agent.store import Store
from agent.store.wal import Flush, FormatVersionError, Wal

log = structlog.get_logger(__name__)

LOCK_NAME = "lock"
WAL_DIR = "wal"

STORAGE_METRICS: tuple[MetricMeta, ...] = (
    gauge("tripwired_storage_wal_writable", "Whether the last write to the write-ahead log succeeded."),
    counter("tripwired_storage_wal_writes_failed_total", "Writes to the write-ahead log that failed (disk full?)."),
    counter(
        "tripwired_storage_wal_samples_not_logged_total",
        "Samples kept in memory only because the write-ahead log could not be written.",
    ),
    counter("tripwired_storage_wal_corruptions_total", "Damaged WAL segments or checkpoints found at replay."),
    gauge("tripwired_storage_wal_storage_size_bytes", "Bytes the write-ahead log uses on disk."),
    counter("tripwired_storage_checkpoint_creations_total", "WAL checkpoints written."),
    counter("tripwired_storage_checkpoint_creations_failed_total", "WAL checkpoints that could not be written."),
    gauge("tripwired_storage_checkpoint_last_success_timestamp_seconds", "When the last WAL checkpoint was written."),
    gauge("tripwired_storage_checkpoint_duration_seconds", "How long the last WAL checkpoint took."),
    gauge("tripwired_storage_data_replay_duration_seconds", "How long replaying the WAL took at start."),
)


class StorageError(Exception):
    """The state directory cannot be used: in use by another daemon, or of an unknown format."""


def uses_state_dir(config: Config) -> bool:
    """Whether the daemon keeps anything in `state_dir` (the default agent never touches the disk)."""
    return bool(config.rule_files or config.route or config.silences) or wal_enabled(config)


def wal_enabled(config: Config) -> bool:
    """`store.wal.enabled`, with `auto` meaning: when rules read the store's history or remote_write ships it."""
    setting = config.store.wal.enabled
    if setting is WalEnabled.AUTO:
        return bool(config.rule_files or config.remote_write)
    return setting is WalEnabled.TRUE


class StateDirLock:
    """An exclusive lock on `<state_dir>/lock`, held for the daemon's life; it holds the owner's PID."""

    def __init__(self, state_dir: str | Path) -> None:
        directory = Path(state_dir)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / LOCK_NAME
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(self._fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(self._fd)
            raise StorageError(
                f"state_dir {state_dir} is in use by another tripwired (pid {owner}); "
                "give each daemon a state_dir of its own"
            ) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        """Let the state directory go (closing the file drops the lock)."""
        with contextlib.suppress(OSError):
            os.close(self._fd)


class DurableStorage:
    """The lock and the WAL of one daemon, opened by `open()`, closed by `close()`."""

    def __init__(self, config: Config, store: Store) -> None:
        self.store = store
        self.state_dir = Path(config.state_dir)
        self.locked = uses_state_dir(config)
        self.wal = (
            Wal(self.state_dir / WAL_DIR, flush=Flush(config.store.wal.flush.value)) if wal_enabled(config) else None
        )
        self._lock: StateDirLock | None = None

    def open(self) -> None:
        """Lock the state directory, replay the WAL into the store and start logging to it."""
        try:
            if self.locked:
                self._lock = StateDirLock(self.state_dir)
            if self.wal is not None:
                self._replay(self.wal)
        except OSError as exc:
            raise StorageError(f"state_dir {self.state_dir}: {exc.strerror or exc}") from exc
        except FormatVersionError as exc:
            raise StorageError(str(exc)) from exc

    def _replay(self, wal: Wal) -> None:
        stats = wal.attach(self.store)
        if stats.samples or stats.corruptions or stats.torn_tail:
            log.info(
                "wal_replayed",
                series=stats.series,
                samples=stats.samples,
                segments=stats.segments,
                checkpoint=stats.checkpoint,
                corruptions=stats.corruptions,
                seconds=round(stats.seconds, 3),
            )

    async def maintain(self, now_ms: int) -> None:
        """Checkpoint the WAL when it is due (called from the housekeeping loop)."""
        if self.wal is not None and self.wal.checkpoint_due(self.store.retention_ms):
            await self.wal.checkpoint(self.store, now_ms)

    async def close(self, now_ms: int) -> None:
        """Checkpoint and stop the WAL, then let the state directory go."""
        if self.wal is not None:
            await self.wal.close(self.store, now_ms)
            self.store.journal = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def metrics(self) -> tuple[MetricMeta, ...]:
        """The WAL's families, declared only when there is a WAL."""
        return STORAGE_METRICS if self.wal is not None else ()

    def samples(self) -> list[Sample]:
        """The WAL's current statistics as samples (none without a WAL)."""
        if self.wal is None:
            return []
        stats = self.wal.stats
        values = (
            1.0 if stats.writable else 0.0,
            stats.writes_failed,
            stats.samples_not_logged,
            stats.corruptions,
            _size(self.wal.directory),
            stats.checkpoints,
            stats.checkpoints_failed,
            stats.last_checkpoint_time,
            stats.last_checkpoint_seconds,
            stats.replay_seconds,
        )
        return [Sample(meta.name, (), float(value)) for meta, value in zip(STORAGE_METRICS, values, strict=True)]


def _size(directory: Path) -> int:
    total = 0
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            with contextlib.suppress(OSError):
                total += entry.stat(follow_symlinks=False).st_size
    return total
