"""How long /metrics takes to render at 10,000 and 100,000 series, cold and with 10 % of values changed.

Run: .venv/bin/python -m bench.exposition_scale
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from agent.export import Exposition
from agent.model import Sample, gauge, labels_of
from agent.store import Store
from bench.common import rss_mb

NAMES = 100


def fill(store: Store, series: int, t_ms: int, changed_every: int = 0) -> None:
    """Write one value per series; with `changed_every` N, every Nth series gets a new value."""
    per_name = series // NAMES
    for n in range(NAMES):
        samples = [
            Sample(
                f"bench_metric_{n}",
                labels_of(instance=f"host-{i}", job="bench"),
                float(i + 1 if changed_every and i % changed_every == 0 else i),
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


def main() -> None:
    import os

    print("| series | cold render | warm render (10 % changed) | prometheus-client generate_latest | bytes |")
    print("|---|---|---|---|---|")
    for series in (10_000, 100_000):
        store = Store(max_series=series + 10)
        store.declare([gauge(f"bench_metric_{n}", "Bench.") for n in range(NAMES)])
        fill(store, series, 1000)
        exposition = Exposition(store)
        started = time.perf_counter()
        body = exposition.render()
        cold = time.perf_counter() - started
        fill(store, series, 2000, changed_every=10)
        started = time.perf_counter()
        exposition.render()
        warm = time.perf_counter() - started
        reference = client_python_time(series)
        print(
            f"| {series:,} | {cold * 1000:.0f} ms | {warm * 1000:.0f} ms | {reference * 1000:.0f} ms | {len(body):,} |"
        )
    print(f"peak RSS of this benchmark process: {rss_mb(os.getpid()):.0f} MB")


if __name__ == "__main__":
    main()
