"""The write-ahead log at scale: 100,000 series, a 10-minute window at a 10 s interval.

Writes 10 minutes of collections through a store with its WAL (checkpointing as the daemon's
housekeeping does), then measures, as after a kill -9 (checkpoint + segments) and after a
graceful stop (checkpoint only):
- replay time into a fresh store, and the first evaluation of a range rule over every series
  (`increase(x[5m]) == 0`) — together, how long until the rules are armed;
- the disk the WAL uses: at its largest while running, and at the end.

Run: .venv/bin/python -m bench.wal_replay [--series 100000] [--minutes 10] [--interval 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path

import promql_parser

from agent.memory import freeze_start_up_objects
from agent.model import Sample, labels_of
from agent.promql import Engine
from agent.store import Store
from agent.store.wal import Wal


def size_mb(directory: Path) -> float:
    return sum(p.stat().st_size for p in directory.iterdir()) / 1e6


def samples(series: int, step: int) -> list[Sample]:
    # Offsets of 10,000 partitions x 10 groups: half move, half are stuck (what the rule looks for).
    return [
        Sample(
            "kafka_consumergroup_current_offset",
            labels_of(topic=f"t{i // 100}", partition=str(i % 100)),
            float(step * (i % 2)),
        )
        for i in range(series)
    ]


async def write(directory: Path, series: int, minutes: int, interval: int) -> tuple[float, float]:
    store = Store(max_series=series + 10, retention_ms=(minutes * 60 + 300) * 1000)
    wal = Wal(directory)
    wal.attach(store)
    largest = 0.0
    started = time.perf_counter()
    t0 = 1_700_000_000_000
    steps = minutes * 60 // interval
    for step in range(steps):
        now_ms = t0 + step * interval * 1000
        store.write("collector:kafka", samples(series, step), now_ms)
        await store.sync()
        if wal.checkpoint_due(store.retention_ms):  # housekeeping looks every 5 s, a step is 10 s
            await wal.checkpoint(store, now_ms)
        largest = max(largest, size_mb(directory))
    elapsed = time.perf_counter() - started
    assert wal._thread is not None
    await wal._thread.stop()  # as a kill -9 would leave it: no final checkpoint
    return largest, elapsed / steps


def arm(directory: Path, series: int, minutes: int, interval: int) -> tuple[float, float, int]:
    store = Store(max_series=series + 10, retention_ms=(minutes * 60 + 300) * 1000)
    started = time.perf_counter()
    stats = Wal(directory).replay_into(store)
    freeze_start_up_objects()  # as the daemon does before its first collection
    replayed = time.perf_counter() - started
    engine = Engine(store)
    expr = promql_parser.parse("increase(kafka_consumergroup_current_offset[5m]) == 0")
    t_ms = 1_700_000_000_000 + (minutes * 60 // interval - 1) * interval * 1000
    started = time.perf_counter()
    result = engine.instant(expr, t_ms)
    evaluated = time.perf_counter() - started
    assert isinstance(result, list) and len(result) == series // 2, len(result)
    return replayed, evaluated, stats.samples


async def close_gracefully(directory: Path, series: int, minutes: int) -> None:
    store = Store(max_series=series + 10, retention_ms=(minutes * 60 + 300) * 1000)
    wal = Wal(directory)
    wal.attach(store)
    await wal.close(store, 1_700_000_000_000 + minutes * 60_000)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=100_000)
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--interval", type=int, default=10)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="tripwired-wal-bench-"))
    try:
        largest, per_write = asyncio.run(write(directory, args.series, args.minutes, args.interval))
        print(
            f"{args.series} series, {args.minutes} min at {args.interval} s: "
            f"{per_write * 1000:.0f} ms per collection written (store + WAL)"
        )
        print(
            f"disk: largest {largest:.1f} MB while running, {size_mb(directory):.1f} MB after the run "
            f"({sorted(p.name for p in directory.iterdir())})"
        )
        replayed, evaluated, points = arm(directory, args.series, args.minutes, args.interval)
        print(
            f"after kill -9: replay {replayed:.2f} s ({points} points) + first evaluation {evaluated:.2f} s "
            f"= rules armed in {replayed + evaluated:.2f} s"
        )
        asyncio.run(close_gracefully(directory, args.series, args.minutes))
        print(f"after a graceful stop: {size_mb(directory):.1f} MB ({sorted(p.name for p in directory.iterdir())})")
        replayed, evaluated, points = arm(directory, args.series, args.minutes, args.interval)
        print(
            f"after a graceful stop: replay {replayed:.2f} s + first evaluation {evaluated:.2f} s "
            f"= rules armed in {replayed + evaluated:.2f} s"
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    os.sync()


if __name__ == "__main__":
    main()
