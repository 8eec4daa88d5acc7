"""What the target labels (`job`, `instance`) cost the store: 100,000 Kafka-like series, measured with tracemalloc.

The series are made as the Kafka collector makes them: one label set per partition (cluster,
topic, partition), shared by the partition's families, made afresh at each collection. They are
written three times through `Store.write_in_steps`, as they come ("without") or relabelled by
the `attacher` the runner hands the store ("with"), and the memory tracemalloc counts as still
held by the store is reported, with what one series costs more; then the same is done without
tracemalloc for the median time of one write, label attachment included.

Run: .venv/bin/python -m bench.target_labels_memory [--partitions 20000]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc
from collections.abc import Iterable, Iterator

from agent.model import Sample, labels_of
from agent.steps import run_through
from agent.store import Store
from agent.targets import attacher, make_target

FAMILIES = (
    "kafka_topic_partition_current_offset",
    "kafka_topic_partition_oldest_offset",
    "kafka_topic_partition_leader",
    "kafka_topic_partition_replicas",
    "kafka_topic_partition_in_sync_replica",
)
WRITES = 3
TARGET = make_target("kafka", "agent-host:9842", labels_of(cluster="main"))


def collection(partitions: int, step: int) -> Iterator[Sample]:
    """One collection: a fresh label set per partition, shared by its families, as kafka_snapshot makes them."""
    for i in range(partitions):
        labels = labels_of(cluster="main", topic=f"topic{i // 10}", partition=str(i % 10))
        for family in FAMILIES:
            yield Sample(family, labels, float(i + step))


def write_all(partitions: int, *, with_target: bool) -> tuple[Store, list[float]]:
    """A store after WRITES collections, and how long each write took (label attachment included)."""
    store = Store(max_series=partitions * len(FAMILIES) + 10)
    writes = []
    for step in range(WRITES):
        samples: Iterable[Sample] = collection(partitions, step)
        relabel = attacher(TARGET.labels) if with_target else None
        started = time.perf_counter()
        t_ms = 1_700_000_000_000 + step * 15_000
        run_through(store.write_in_steps("collector:kafka:main", samples, t_ms, step=0, relabel=relabel))
        writes.append(time.perf_counter() - started)
    assert store.series_count == partitions * len(FAMILIES)
    return store, writes


def measure(partitions: int, *, with_target: bool) -> tuple[int, float]:
    """Bytes tracemalloc counts as held by the store, and the median write in seconds (timed without tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    store, _ = write_all(partitions, with_target=with_target)
    gc.collect()
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del store
    gc.collect()
    _, writes = write_all(partitions, with_target=with_target)
    return held, statistics.median(writes)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--partitions", type=int, default=20_000)
    args = parser.parse_args()
    series = args.partitions * len(FAMILIES)
    without, write_without = measure(args.partitions, with_target=False)
    with_, write_with = measure(args.partitions, with_target=True)
    print("| series | target labels | held, MB | per series, B | one write, ms |")
    print("|---|---|---|---|---|")
    print(f"| {series:,} | without | {without / 1e6:.1f} | {without / series:.0f} | {write_without * 1000:.0f} |")
    print(f"| {series:,} | with | {with_ / 1e6:.1f} | {with_ / series:.0f} | {write_with * 1000:.0f} |")
    print(f"target labels: +{(with_ - without) / series:.1f} B a series")


if __name__ == "__main__":
    main()
