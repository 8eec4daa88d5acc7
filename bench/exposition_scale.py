"""How long /metrics takes to render at 10,000 and 100,000 series, and what its cache holds.

Each row is the median of --repeats fresh stores (min-max in brackets), for a scrape asking for
gzip (as Prometheus does) and one that does not (as curl does):
- cold: a new exposition's first scrape (every family formatted and compressed);
- unchanged: a scrape after a collection that changed no value (the cached gzip body is returned;
  a plain scrape inflates the cached parts);
- one family changed: one of the 100 metric names got new values;
- 10 % changed: every tenth series of every name got a new value (every family rendered again);
- prometheus-client's `generate_latest` over the same series, for reference.
Then the memory the exposition keeps between scrapes at 105,000 Kafka-shaped series (9 families
of 10,000 partitions, 3 of 1,000 groups with 5 partitions each), by tracemalloc.

Run: .venv/bin/python -m bench.exposition_scale [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from agent.export import Exposition
from agent.model import Sample, gauge, labels_of
from agent.store import Store

NAMES = 100


def fill(store: Store, series: int, t_ms: int, changed_every: int = 0, only: int | None = None) -> None:
    """Write one value per series; with `changed_every` N, every Nth series gets a new value (of name `only`)."""
    per_name = series // NAMES
    for n in range(NAMES):
        changing = changed_every and (only is None or n == only)
        samples = [
            Sample(
                f"bench_metric_{n}",
                labels_of(instance=f"host-{i}", job="bench"),
                float(i + t_ms if changing and i % changed_every == 0 else i),
            )
            for i in range(per_name)
        ]
        store.write(f"bench-{n}", samples, t_ms)


def client_python_time(series: int) -> float:
    registry = CollectorRegistry()
    per_name = series // NAMES
    for n in range(NAMES):
        g = Gauge(f"bench_metric_{n}", "Bench.", ["instance", "job"], registry=registry)
        for i in range(per_name):
            g.labels(f"host-{i}", "bench").set(i)
    started = time.perf_counter()
    generate_latest(registry)
    return time.perf_counter() - started


def timed(render: Callable[[], bytes]) -> float:
    started = time.perf_counter()
    render()
    return time.perf_counter() - started


def renders(series: int, *, gzipped: bool) -> tuple[dict[str, float], int]:
    """One fresh store: the times of each kind of scrape, and the body's size."""
    store = Store(max_series=series + 10)
    store.declare([gauge(f"bench_metric_{n}", "Bench.") for n in range(NAMES)])
    fill(store, series, 1000)
    exposition = Exposition(store)
    loop = asyncio.new_event_loop()  # one loop for every scrape, as in the daemon

    def scrape() -> bytes:
        return loop.run_until_complete(exposition.body(gzipped=gzipped))

    try:
        times = {"cold": timed(scrape)}
        fill(store, series, 2000)
        times["unchanged"] = timed(scrape)
        fill(store, series, 3000, changed_every=1, only=NAMES // 2)
        times["one family changed"] = timed(scrape)
        fill(store, series, 4000, changed_every=10)
        times["10 % changed"] = timed(scrape)
        return times, len(scrape())
    finally:
        loop.close()


def spread_ms(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"{statistics.median(ms):.1f} ms ({min(ms):.1f}-{max(ms):.1f})"


def kafka_shaped(store: Store) -> None:
    """105,000 series shaped as the Kafka collector's at 10,000 partitions and 1,000 groups."""
    partitions = [labels_of(partition=str(p % 10), topic=f"topic-{p // 10}") for p in range(10_000)]
    families = [f"kafka_topic_partition_{kind}" for kind in ("current_offset", "oldest_offset", "leader")]
    families += [f"kafka_topic_partition_{kind}" for kind in ("replicas", "in_sync_replica", "leader_is_preferred")]
    families += ["kafka_topic_partition_under_replicated_partition", "kafka_topic_partition_max_timestamp_seconds"]
    families += ["kafka_topic_partitions_bench"]
    samples = [Sample(name, labels, float(i)) for name in families for i, labels in enumerate(partitions)]
    for kind in ("current_offset", "lag", "lag_seconds"):
        samples += [
            Sample(f"kafka_consumergroup_{kind}", (("consumergroup", f"group-{g}"), *partitions[g * 10 + p]), p)
            for g in range(1000)
            for p in range(5)
        ]
    store.write("kafka", samples, 1000)


def cache_memory() -> tuple[int, float]:
    """Series, and the MB the exposition holds after a render (tracemalloc, after a full collection)."""
    store = Store(max_series=200_000)
    kafka_shaped(store)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    exposition = Exposition(store)
    exposition.render()
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return store.series_count, held / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    kinds = ["cold", "unchanged", "one family changed", "10 % changed"]
    print(f"| series | scrape | {' | '.join(kinds)} | prometheus-client generate_latest | bytes |")
    print("|---|---|---|---|---|---|---|---|")
    for series in (10_000, 100_000):
        reference = spread_ms([client_python_time(series) for _ in range(min(args.repeats, 3))])
        for gzipped in (True, False):
            runs = [renders(series, gzipped=gzipped) for _ in range(args.repeats)]
            cells = [spread_ms([times[kind] for times, _ in runs]) for kind in kinds]
            encoding = "gzip" if gzipped else "plain"
            print(f"| {series:,} | {encoding} | {' | '.join(cells)} | {reference} | {runs[0][1]:,} |")
    series, mb = cache_memory()
    print(f"\nmemory the exposition holds at {series:,} Kafka-shaped series: {mb:.1f} MB")


if __name__ == "__main__":
    main()
