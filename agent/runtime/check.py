"""`tripwired check`: run the configured collectors and rules for a while and report what fired.

The smoke test of a deployment pipeline: a rule like
`absent(kafka_topic_partition_current_offset{topic="orders"})` then asserts in CI that the
telemetry a new feature needs exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from agent.config.notifier import AlertingConfig
from agent.config.schema import Config, WalConfig, WalEnabled
from agent.model import Alert, AlertState
from agent.runtime.daemon import Daemon


@dataclass(frozen=True)
class Fired:
    name: str
    labels: str
    since: float


def isolated(config: Config, *, state_dir: str, notify: bool) -> Config:
    """`config` for a one-shot check: a private state directory, no WAL, and no receivers unless `notify`."""
    store = dataclasses.replace(config.store, wal=WalConfig(enabled=WalEnabled.FALSE))
    config = dataclasses.replace(config, state_dir=state_dir, store=store)
    if notify:
        return config
    return dataclasses.replace(
        config, route=None, receivers=[], inhibit_rules=[], alertmanagers=[], alerting=AlertingConfig()
    )


async def observe(daemon: Daemon, seconds: float, *, notify: bool = False) -> list[Fired]:
    """Run collectors and rules for `seconds`; every alert that was firing at some point.

    With `notify`, what fires is also routed to the configured receivers as the daemon
    would route it (group_wait included) while the check runs.
    """
    fired: dict[str, Fired] = {}
    forward = daemon.ruler.notify

    def remember(alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            if alert.state is AlertState.FIRING:
                fired.setdefault(alert.fingerprint, _fired(alert))
        forward(alerts)

    daemon.ruler.notify = remember
    stop = asyncio.Event()
    tasks = [asyncio.create_task(daemon.runner.run(stop)), asyncio.create_task(daemon.run_ruler(stop))]
    if notify:
        tasks += [asyncio.create_task(task) for task in daemon.notifications.tasks(stop)]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    daemon.ruler.evaluate_due()
    for alert in daemon.ruler.active_alerts():
        if alert.state is AlertState.FIRING:
            fired.setdefault(alert.fingerprint, _fired(alert))
    stop.set()
    await asyncio.gather(*tasks)
    await daemon.notifications.close()
    return sorted(fired.values(), key=lambda f: (f.name, f.labels))


def _fired(alert: Alert) -> Fired:
    labels = ", ".join(f'{k}="{v}"' for k, v in alert.labels if k != "alertname")
    return Fired(alert.name, labels, alert.starts_at)


def report(fired: Sequence[Fired], expected: Sequence[str], out: TextIO) -> int:
    """Print what fired; 1 if anything fired, or with `expected`, if an expected alert did not."""
    if fired:
        width = max(len("ALERT"), *(len(f.name) for f in fired))
        out.write(f"{'ALERT':<{width}}  LABELS\n")
        for f in fired:
            out.write(f"{f.name:<{width}}  {{{f.labels}}}\n")
    else:
        out.write("no alert fired\n")
    if expected:
        missing = sorted(set(expected) - {f.name for f in fired})
        for name in missing:
            out.write(f"expected alert {name} did not fire\n")
        return 1 if missing else 0
    return 1 if fired else 0
