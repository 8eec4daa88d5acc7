"""Range queries on the agent beside a Prometheus 2.42 holding the same samples.

    .venv/bin/python -m bench.range_query

The sample set is the API oracle test's (tests/web/promapi_samples.py: 255 series, 88,005
samples over 3 hours). Prometheus gets it backfilled with `promtool tsdb create-blocks-from
openmetrics`; the agent's routes serve it in-process from a store filled from the same file.
Each query is asked five times of each; the medians are printed.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import httpx

from tests.web.promapi_oracle import agent_routes, backfilled_prometheus, loaded_store, serving
from tests.web.promapi_samples import openmetrics_text, sample_set

QUERIES = (
    ("sum by (mode) (rate(node_cpu_seconds_total[5m]))", "15"),
    ("rate(node_filesystem_avail_bytes[5m])", "60"),
    ("histogram_quantile(0.9, sum by (le, handler) (rate(http_request_duration_seconds_bucket[5m])))", "15"),
    ("kafka_consumergroup_lag", "60"),
)
START, END = "1700000000", "1700010800"
REPEATS = 5


def median_ms(url: str, query: str, step: str) -> float:
    """The median time of REPEATS identical range queries, in milliseconds."""
    times = []
    for _ in range(REPEATS):
        began = time.monotonic()
        answer = httpx.get(
            f"{url}/api/v1/query_range",
            params={"query": query, "start": START, "end": END, "step": step},
            timeout=120,
        )
        times.append(time.monotonic() - began)
        answer.raise_for_status()
    return statistics.median(times) * 1000


def main() -> None:
    """Print one line per query: the agent's and Prometheus' median time."""
    base = Path(tempfile.mkdtemp())
    samples = base / "samples.om"
    samples.write_text(openmetrics_text(sample_set()))
    began = time.monotonic()
    store = loaded_store(samples.read_text())
    print(f"agent store loaded in {time.monotonic() - began:.2f} s")
    prometheus = backfilled_prometheus(samples, base / "prometheus")
    try:
        with serving(agent_routes(store)) as agent:
            for query, step in QUERIES:
                ours, theirs = median_ms(agent, query, step), median_ms(prometheus.url, query, step)
                print(f"{query[:70]:70} step {step:>3}s  agent {ours:7.1f} ms  prometheus {theirs:7.1f} ms")
    finally:
        prometheus.stop()


if __name__ == "__main__":
    main()
