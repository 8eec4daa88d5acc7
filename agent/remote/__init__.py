"""Prometheus remote_write, fed from the store's write-ahead log (one queue per `remote_write:` entry).

codec.py (protobuf + snappy), position.py (the read position on disk), reader.py (reading the
WAL by position), queue.py (sending, retrying, counting). `RemoteWrite` is what the daemon holds;
it imports the rest (HTTP client, protobuf, snappy) only when a queue is configured, so a daemon
without remote_write does not carry them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.config.remote_write import RemoteWriteConfig
from agent.model import MetricMeta, Sample
from agent.store.wal import Wal

if TYPE_CHECKING:
    from agent.remote.queue import RemoteQueue

POSITION_DIR = "remote_write"


class RemoteWrite:
    """Every remote_write queue of the daemon (none without a WAL: the config check refuses that combination)."""

    def __init__(
        self,
        configs: Sequence[RemoteWriteConfig],
        wal: Wal | None,
        state_dir: Path,
        *,
        external_labels: Mapping[str, str],
        retention_seconds: float,
    ) -> None:
        self.queues: list[RemoteQueue] = []
        if not configs or wal is None:
            return
        from agent.remote.queue import RemoteQueue  # on first use: see the module's docstring

        self.queues = [
            RemoteQueue(
                config,
                wal_dir=wal.directory,
                position_dir=state_dir / POSITION_DIR,
                holds=wal.holds,
                first_segment=wal.first_segment,
                external_labels=external_labels,
                retention_seconds=retention_seconds,
            )
            for config in configs
        ]

    def metrics(self) -> tuple[MetricMeta, ...]:
        """The queue families, declared only when a queue is configured."""
        if not self.queues:
            return ()
        from agent.remote.queue import QUEUE_METRICS

        return QUEUE_METRICS

    def samples(self) -> list[Sample]:
        """Every queue's current statistics as samples."""
        return [sample for queue in self.queues for sample in queue.samples()]

    def tasks(self, stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        """One sending loop per queue, each ending when `stop` is set."""
        return [queue.run(stop) for queue in self.queues]


__all__ = ["RemoteWrite"]
