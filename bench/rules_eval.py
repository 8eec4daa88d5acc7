"""Rule evaluation cost: 50 / 500 / 5,000 alerting rules over 10,000 and 50,000 series.

Each iteration is what the daemon does per evaluation: every rule's query, the alert state
machine, ALERTS written back into the store. Also the parse/load time of the rule file.
Run: .venv/bin/python -m bench.rules_eval [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from agent.clock import SystemClock
from agent.model import labels_of
from agent.ruler.group import Group
from agent.ruler.rulefile import load_rule_files
from agent.ruler.rules import ExternalInfo
from agent.store import Store

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


def fill_store(families: int) -> Store:
    store = Store(max_series=families * SERIES_PER_FAMILY + 1000)
    for family in range(families):
        name = f"m{family // 2}_{'total' if family % 2 == 0 else 'ratio'}"
        for s in range(SERIES_PER_FAMILY):
            labels = labels_of(instance=f"host-{s % 25}", job=f"job-{s % 4}", device=f"sd{s}", le=str(s % 10))
            for p in range(POINTS):
                value = float(p * (s + 1)) if family % 2 == 0 else (s % 10) / 10.0
                store.append_point(name, labels, p * INTERVAL_MS, value)
    return store


def rule_file(path: Path, rules: int, families: int) -> None:
    pairs = families // 2
    group_rules = [
        {
            "alert": f"Rule{n}",
            "expr": RULE_SHAPES[n % len(RULE_SHAPES)].format(i=n % pairs, j=(n + 1) % pairs),
            "for": "1m",
            "labels": {"severity": "warning"},
            "annotations": {"summary": "{{ $labels.instance }} is at {{ $value | humanize }}"},
        }
        for n in range(rules)
    ]
    path.write_text(yaml.safe_dump({"groups": [{"name": "bench", "rules": group_rules}]}))


def measure(rules: int, families: int, repeats: int) -> tuple[float, float, int]:
    """(load seconds, median iteration seconds, series) for one size."""
    store = fill_store(families)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rules.yaml"
        rule_file(path, rules, families)
        started = time.perf_counter()
        (spec,) = load_rule_files([str(path)])
        group = Group(spec, default_interval_ms=INTERVAL_MS, external=ExternalInfo((), "http://bench"))
        load = time.perf_counter() - started
    from agent.promql import Engine

    engine, clock = Engine(store), SystemClock()
    group.evaluate(NOW_MS, engine, store, clock)  # compiles every expression once
    timings = []
    for i in range(repeats):
        started = time.perf_counter()
        group.evaluate(NOW_MS + (i + 1) * INTERVAL_MS, engine, store, clock)
        timings.append(time.perf_counter() - started)
    return load, statistics.median(timings), store.series_count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="only 500 rules over 50,000 series")
    args = parser.parse_args()
    sizes = [(500, 500)] if args.quick else [(50, 100), (500, 100), (500, 500), (5000, 500)]
    print("| rules | series | load + parse | one iteration (median of 5) | per rule | per series |")
    print("|---|---|---|---|---|---|")
    for rules, families in sizes:
        load, iteration, series = measure(rules, families, repeats=5)
        print(
            f"| {rules:,} | {series:,} | {load * 1000:.0f} ms | {iteration * 1000:.0f} ms "
            f"| {iteration / rules * 1e6:.0f} µs | {iteration / series * 1e6:.1f} µs |"
        )


if __name__ == "__main__":
    main()
