"""Status page render time and size with 10,000 firing alerts (issue 14: 9.6 MB and 1 s before paging).

The alerts come from a real RuleManager over a real Store (one rule, 10,000 series that match it),
read through RuntimeStatusSource as the daemon does, with and without a silence to match against.
Each iteration is one GET / : building the view model and rendering the first page.
Run: .venv/bin/python -m bench.status_page [--alerts N] [--repeats N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from agent.clock import SystemClock
from agent.collect.runner import Runner
from agent.model import Sample, gauge, labels_of
from agent.notify.silence import Silences
from agent.ruler.manager import RuleManager
from agent.runtime.status_source import RuntimeStatusSource
from agent.store import Store
from agent.web.status import PageContext, render_page
from bench.common import summary_ms

RULES = """\
groups:
  - name: pipeline
    rules:
      - alert: PartitionSilent
        expr: partition_ok == 0
        labels: {severity: page}
        annotations: {summary: "partition {{ $labels.partition }} is silent"}
"""


def firing_ruler(directory: Path, alerts: int, clock: SystemClock) -> tuple[RuleManager, Store]:
    store = Store(max_series=alerts * 4)
    store.declare([gauge("partition_ok", "bench")])
    samples = [Sample("partition_ok", labels_of(partition=str(i), topic="orders"), 0.0) for i in range(alerts)]
    store.write("bench", samples, int(clock.time() * 1000))
    rules = directory / "rules.yaml"
    rules.write_text(RULES)
    ruler = RuleManager(
        store=store,
        clock=clock,
        notify=lambda _: None,
        evaluation_interval_s=10.0,
        external_labels={},
        external_url="http://bench",
    )
    ruler.load([str(rules)])
    ruler.evaluate_due()
    return ruler, store


def measure(source: RuntimeStatusSource, clock: SystemClock, repeats: int) -> tuple[list[float], int]:
    timings, size = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        size = len(render_page(source, PageContext(clock.time(), "token")).encode())
        timings.append(time.perf_counter() - started)
    return timings, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    clock = SystemClock()
    with tempfile.TemporaryDirectory() as tmp:
        ruler, store = firing_ruler(Path(tmp), args.alerts, clock)
        silences = Silences(Path(tmp), clock)
        runner = Runner(store, clock)
        source = RuntimeStatusSource(ruler, lambda: runner, silences)
        print(f"{len(source.alerts())} alerts")
        for label in ("no silences", "one silence on another alert"):
            if label != "no silences":
                silences.add(['alertname="Other"'], clock.time(), clock.time() + 3600, "bench", "bench")
            timings, size = measure(source, clock, args.repeats)
            print(f"{label}: render {summary_ms(timings)}, page {size / 1024:.0f} KiB")
        silences.close()


if __name__ == "__main__":
    main()
