"""The in-memory store's memory: 105,000 Kafka-like series (topic, partition) at 6 and 40 points.

40 points is the steady state of the default 10-minute retention at a 15 s interval, 6 points
the first 90 s. Each configuration runs in a fresh process: label sets are built first (the
collector's, not counted), then `points` collections are written through `Store.write` and the
growth of the resident memory is reported, with what a series costs before its first point and
what a point costs. Values either change at every collection (consumer offsets) or never do
(leader, replicas, in-sync replicas); with "new labels" they change and every collection makes
its label sets afresh, as a collector does (the Kafka collector's child process sends them
anew), so the label sets the store keeps are counted too; with the other kinds they are built
once, before, of shared pairs as the store keeps them, and not counted. Also reports the median time of one
write of every series, Sample creation included (the collection path).

Run: .venv/bin/python -m bench.store_memory [--series 105000]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

from agent.model import Labels, Sample, labels_of
from agent.store import Store
from bench.common import rss_mb

NAME = "kafka_topic_partition_current_offset"
INTERVAL_MS = 15_000
CONFIGURATIONS = [(6, "changing"), (40, "changing"), (40, "constant"), (40, "new labels")]


def samples(labels: list[Labels], step: int, kind: str) -> Iterator[Sample]:
    fresh = kind == "new labels"  # made as a collector makes them, every collection
    for i, built in enumerate(labels):
        label_set = labels_of(topic=f"topic{i // 10}", partition=str(i % 10)) if fresh else built
        yield Sample(NAME, label_set, float(i if kind == "constant" else i + step))


def measure(series: int, points: int, kind: str) -> tuple[float, float]:
    """Memory the store grew by (MB) and the median write of one collection (s), in this process."""
    pairs: dict[tuple[str, str], tuple[str, str]] = {}
    labels = [
        tuple(pairs.setdefault(p, p) for p in labels_of(topic=f"topic{i // 10}", partition=str(i % 10)))
        for i in range(series)
    ]
    gc.collect()
    before = rss_mb(os.getpid(), tree=False)
    store = Store(max_series=series + 10, retention_ms=10 * 60 * 1000)
    writes = []
    for step in range(points):
        started = time.perf_counter()
        store.write("collector:kafka", samples(labels, step, kind), 1_700_000_000_000 + step * INTERVAL_MS)
        writes.append(time.perf_counter() - started)
    gc.collect()
    return rss_mb(os.getpid(), tree=False) - before, statistics.median(writes)


def run_child(series: int, points: int, kind: str) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.store_memory", "--series", str(series), "--one", str(points), kind],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=105_000)
    parser.add_argument("--one", nargs=2, metavar=("POINTS", "KIND"), help="measure one configuration (internal)")
    args = parser.parse_args()
    if args.one:
        mb, write_s = measure(args.series, int(args.one[0]), args.one[1])
        print(mb, write_s)
        return
    one_point = {kind: run_child(args.series, 1, kind)[0] for kind in {kind for _, kind in CONFIGURATIONS}}
    print("| series x points | values | store, MB | a series with one point, B | a further point, B | one write, ms |")
    print("|---|---|---|---|---|---|")
    for points, kind in CONFIGURATIONS:
        mb, write_s = run_child(args.series, points, kind)
        per_series = one_point[kind] * 1e6 / args.series
        per_point = (mb - one_point[kind]) * 1e6 / (args.series * (points - 1))
        print(
            f"| {args.series:,} x {points} | {kind} | {mb:.1f} | {per_series:.0f} | {per_point:.1f} "
            f"| {write_s * 1000:.0f} |"
        )


if __name__ == "__main__":
    main()
