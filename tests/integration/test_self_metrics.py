"""The agent's own metrics in a running daemon: each `tripwired_*` family declared once, emitted once,
with the type and help it was declared with.

The daemon runs the shipped agent pack (agent/packs/agent.yaml) over its own metrics, with a textfile directory, so the
collector runner, the ruler and the store all report. Declarations are collected by importing the
tuples each part declares; a part that starts emitting `tripwired_*` metrics adds its tuple here.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agent.collect.kafka_metrics import KAFKA_METRICS
from agent.collect.runner import SELF_METRICS as RUNNER_METRICS
from agent.collect.runner import SUPERVISED_METRICS
from agent.model import MetricMeta, MetricType
from agent.notify.alertmanager import METRICS as ALERTMANAGER_METRICS
from agent.notify.outbox import METRICS as OUTBOX_METRICS
from agent.remote.queue import QUEUE_METRICS
from agent.ruler.manager import SELF_METRICS as RULER_METRICS
from agent.runtime.daemon import STORE_METRICS
from agent.runtime.storage import STORAGE_METRICS
from tests.conftest import StartDaemon, free_port
from tests.receiver import webhook_receiver

PREFIX = "tripwired_"
# The parts the daemon below runs; the Kafka collector needs a broker and is left out of it.
RUNNING = (
    *RUNNER_METRICS,
    *RULER_METRICS,
    *STORE_METRICS,
    *STORAGE_METRICS,
    *OUTBOX_METRICS,
    *ALERTMANAGER_METRICS,
    *QUEUE_METRICS,
)
EVERY_DECLARATION = (*RUNNING, *KAFKA_METRICS, *SUPERVISED_METRICS)
# Written by the ruler after a group's first evaluation, together with every other ruler family, and
# by the housekeeping once the outbox has delivered (up to 5 s later).
LAST_TO_APPEAR = ("tripwired_rule_group_iterations_total", "tripwired_notification_latency_seconds_bucket")
ALWAYS_FIRING = "groups:\n  - name: canary\n    rules:\n      - alert: Canary\n        expr: vector(1)\n"


@dataclass
class Exposition:
    """What one scrape said: HELP and TYPE lines per family, and the order sample names came in."""

    helps: list[tuple[str, str]] = field(default_factory=list)
    types: list[tuple[str, str]] = field(default_factory=list)
    sample_runs: list[str] = field(default_factory=list)  # one entry per run of samples of one name

    def sample_names(self) -> set[str]:
        return set(self.sample_runs)


def parse(text: str) -> Exposition:
    """Text exposition format 0.0.4, as far as this test needs it."""
    exposition = Exposition()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[len("# HELP ") :].partition(" ")
            exposition.helps.append((name, help_text.replace("\\n", "\n").replace("\\\\", "\\")))
        elif line.startswith("# TYPE "):
            name, _, type_name = line[len("# TYPE ") :].partition(" ")
            exposition.types.append((name, type_name))
        elif line and not line.startswith("#"):
            name = line.split("{", 1)[0].split(" ", 1)[0]
            if not exposition.sample_runs or exposition.sample_runs[-1] != name:
                exposition.sample_runs.append(name)
    return exposition


def config(tmp_path: Path, hook_url: str) -> str:
    """The daemon with every part that reports: collectors, rules, a route delivering, an Alertmanager target,
    a remote_write queue."""
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    (textfile / "pipeline.prom").write_text("# TYPE pipeline_rows gauge\npipeline_rows 1\n")
    (tmp_path / "canary.yaml").write_text(ALWAYS_FIRING)
    return (
        f"global: {{interval: 1s, evaluation_interval: 1s}}\nstate_dir: {tmp_path / 'state'}\n"
        f"rule_files: [builtin:agent, {tmp_path / 'canary.yaml'}]\n"
        f"collectors:\n  textfile: {{directory: {textfile}}}\n"
        f"route: {{receiver: hook, group_wait: 0s}}\n"
        f"receivers: [{{name: hook, webhook_configs: [{{url: '{hook_url}'}}]}}]\n"
        f"alertmanagers: [{{url: 'http://127.0.0.1:{free_port()}', timeout: 1s}}]\n"
        f"remote_write: [{{url: 'http://127.0.0.1:{free_port()}/api/v1/write'}}]\n"
    )


@pytest.fixture
def scraped(start_daemon: StartDaemon, tmp_path: Path) -> Iterator[Exposition]:
    """/metrics of a daemon that has collected, evaluated, notified and done its housekeeping."""
    receiver = webhook_receiver()
    try:
        daemon = start_daemon(config(tmp_path, receiver.url))
        daemon.wait_ready()
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline:
            exposition = parse(daemon.get("/metrics").text)
            if set(LAST_TO_APPEAR) <= exposition.sample_names():
                yield exposition
                return
            time.sleep(0.1)
        raise AssertionError(f"{LAST_TO_APPEAR} never appeared:\n{daemon.log()}")
    finally:
        receiver.close()


def tripwired(names: set[str]) -> set[str]:
    return {name for name in names if name.startswith(PREFIX)}


def families(exposition: Exposition) -> set[str]:
    """The families the samples belong to: a histogram's _bucket, _sum and _count count as the histogram."""
    typed = {name for name, _ in exposition.types}
    out = set()
    for name in exposition.sample_names():
        base = next(
            (
                name.removesuffix(s)
                for s in ("_bucket", "_sum", "_count")
                if name.removesuffix(s) in typed and name.endswith(s)
            ),
            name,
        )
        out.add(base)
    return out


def test_every_tripwired_metric_is_declared_once_across_the_agent() -> None:
    counts = Counter(meta.name for meta in EVERY_DECLARATION if meta.name.startswith(PREFIX))
    assert {} == {name: n for name, n in counts.items() if n > 1}


def test_every_emitted_tripwired_family_has_help_and_type(scraped: Exposition) -> None:
    emitted = tripwired(families(scraped))
    described = {name for name, _ in scraped.helps} & {name for name, _ in scraped.types}
    assert set() == emitted - described


def test_no_family_is_emitted_twice(scraped: Exposition) -> None:
    repeated = [name for name, n in Counter(scraped.sample_runs).items() if n > 1]
    repeated += [name for name, n in Counter(name for name, _ in scraped.types).items() if n > 1]
    repeated += [name for name, n in Counter(name for name, _ in scraped.helps).items() if n > 1]
    assert [] == repeated


def test_emitted_tripwired_families_are_the_declared_ones(scraped: Exposition) -> None:
    helps, types = dict(scraped.helps), dict(scraped.types)
    emitted = {MetricMeta(name, MetricType(types[name]), helps[name]) for name in tripwired(families(scraped))}
    declared = {meta for meta in RUNNING if meta.name.startswith(PREFIX)}
    assert sorted(declared, key=lambda m: m.name) == sorted(emitted, key=lambda m: m.name)
