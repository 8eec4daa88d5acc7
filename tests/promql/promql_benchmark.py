"""Benchmark: one evaluation of 500 alerting rules over 50,000 series (run by hand, not by pytest).

    .venv/bin/python tests/promql/promql_benchmark.py

The store holds 500 metric families of 100 series each, 10 minutes at a 15 s interval. The rules
are the usual shapes of alerting rules: thresholds, rates, aggregations, *_over_time, absent,
vector matching and histogram_quantile, each reading one or two families.
"""

from __future__ import annotations

import time

from agent.model import labels_of
from agent.promql import Engine, parse_expr
from agent.store import Store

FAMILIES = 500
SERIES_PER_FAMILY = 100
INTERVAL_MS = 15_000
POINTS = 40
NOW_MS = POINTS * INTERVAL_MS

RULE_SHAPES = [
    "rate(m{i}_total[5m]) > 10",
    "m{i}_ratio > 0.85",
    "sum by (job) (rate(m{i}_total[5m])) > 100",
    "avg_over_time(m{i}_ratio[5m]) < 0.1",
    'absent(m{i}_ratio{{job="missing"}})',
    "m{i}_ratio / on(instance, job, device) m{j}_ratio > 0.9",
    "increase(m{i}_total[5m]) == 0",
    'max by (instance) (m{i}_ratio{{device=~"sd.*"}}) >= 0.5',
    "predict_linear(m{i}_ratio[5m], 3600) > 1",
    "histogram_quantile(0.99, sum by (le) (rate(m{i}_total[5m]))) > 1",
]


def fill_store() -> Store:
    store = Store(max_series=FAMILIES * SERIES_PER_FAMILY + 1)
    for family in range(FAMILIES):
        name = f"m{family // 2}_{'total' if family % 2 == 0 else 'ratio'}"
        for s in range(SERIES_PER_FAMILY):
            labels = labels_of(instance=f"host-{s % 25}", job=f"job-{s % 4}", device=f"sd{s}", le=str(s % 10))
            for p in range(POINTS):
                value = float(p * (s + 1)) if family % 2 == 0 else (s % 10) / 10.0
                store.append_point(name, labels, p * INTERVAL_MS, value)
    return store


def rules() -> list[str]:
    out = []
    for i in range(FAMILIES):
        shape = RULE_SHAPES[i % len(RULE_SHAPES)]
        out.append(shape.format(i=i % (FAMILIES // 2), j=(i + 1) % (FAMILIES // 2)))
    return out


def main() -> None:
    store = fill_store()
    exprs = [parse_expr(text) for text in rules()]
    engine = Engine(store)
    for expr in exprs:
        engine.instant(expr, NOW_MS)  # first run compiles
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        for expr in exprs:
            engine.instant(expr, NOW_MS)
        timings.append(time.perf_counter() - start)
    print(
        f"{len(exprs)} rules over {store.series_count} series: best {min(timings) * 1000:.0f} ms, "
        f"median {sorted(timings)[2] * 1000:.0f} ms per iteration"
    )


if __name__ == "__main__":
    main()
