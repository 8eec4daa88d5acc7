"""The rule manager over a real store and engine, driven by a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from agent.clock import FakeClock
from agent.model import Alert, AlertState, Sample
from agent.ruler.alerting import RestorePolicy
from agent.ruler.manager import RuleLoadError, RuleManager
from agent.ruler.state import AlertStateStore
from agent.store import Store

RULES = """\
groups:
  - name: disk
    interval: 1m
    rules:
      - record: instance:disk_used:ratio
        expr: disk_used_ratio
      - alert: DiskFull
        expr: instance:disk_used:ratio > 0.9
        labels: {severity: page}
        annotations: {summary: "{{ $labels.instance }} at {{ $value }}"}
  - name: lag
    interval: 1m
    rules:
      - alert: Lagging
        expr: consumer_lag > 100
        for: 2m
"""


class Outbox:
    """What the manager handed to `notify`."""

    def __init__(self) -> None:
        self.batches: list[list[Alert]] = []

    def __call__(self, alerts: Sequence[Alert]) -> None:
        self.batches.append(list(alerts))

    @property
    def alerts(self) -> list[Alert]:
        return [a for batch in self.batches for a in batch]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_700_000_000.0)


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    return path


def make(store: Store, clock: FakeClock, outbox: Outbox, state: AlertStateStore | None = None) -> RuleManager:
    return RuleManager(
        store=store,
        clock=clock,
        notify=outbox,
        evaluation_interval_s=10,
        external_labels={"site": "eu"},
        external_url="http://tw:9842",
        state=state,
    )


def collect(store: Store, clock: FakeClock, name: str, value: float, **labels: str) -> frozenset[str]:
    result = store.write(f"test:{name}", [Sample(name, tuple(sorted(labels.items())), value)], int(clock.time() * 1000))
    return result.changed_names


def value_of(store: Store, name: str, **labels: str) -> float | None:
    series = store.get(name, tuple(sorted(labels.items())))
    return None if series is None else series.latest()


def test_recording_rule_writes_its_series_into_the_store(store: Store, clock: FakeClock, rules: Path) -> None:
    collect(store, clock, "disk_used_ratio", 0.5, instance="a")
    manager = make(store, clock, Outbox())
    manager.load([str(rules)])
    manager.evaluate_due()
    assert 0.5 == value_of(store, "instance:disk_used:ratio", instance="a")


def test_recorded_series_goes_stale_when_it_leaves_the_result(store: Store, clock: FakeClock, rules: Path) -> None:
    collect(store, clock, "disk_used_ratio", 0.5, instance="a")
    manager = make(store, clock, Outbox())
    manager.load([str(rules)])
    manager.evaluate_due()
    store.write("test:disk_used_ratio", [], int(clock.time() * 1000) + 1)
    clock.advance(60)
    manager.evaluate_due()
    assert None is value_of(store, "instance:disk_used:ratio", instance="a")


def test_firing_alert_is_handed_to_notify_with_external_labels_and_url(
    store: Store, clock: FakeClock, rules: Path
) -> None:
    collect(store, clock, "disk_used_ratio", 0.95, instance="a")
    outbox = Outbox()
    manager = make(store, clock, outbox)
    manager.load([str(rules)])
    manager.evaluate_due()
    [alert] = outbox.alerts
    assert (
        {"alertname": "DiskFull", "instance": "a", "severity": "page", "site": "eu"},
        AlertState.FIRING,
        "http://tw:9842/graph?g0.expr=instance%3Adisk_used%3Aratio+%3E+0.9&g0.tab=1",
        f"{rules};disk;DiskFull",
    ) == (dict(alert.labels), alert.state, alert.generator_url, alert.rule)


def test_alert_annotations_are_expanded_templates(store: Store, clock: FakeClock, rules: Path) -> None:
    collect(store, clock, "disk_used_ratio", 0.95, instance="a")
    outbox = Outbox()
    manager = make(store, clock, outbox)
    manager.load([str(rules)])
    manager.evaluate_due()
    assert (("summary", "a at 0.95"),) == outbox.alerts[0].annotations


def test_group_is_not_evaluated_again_before_its_interval(store: Store, clock: FakeClock, rules: Path) -> None:
    collect(store, clock, "consumer_lag", 500, group="g")
    manager = make(store, clock, Outbox())
    manager.load([str(rules)])
    manager.evaluate_due()
    clock.advance(30)
    collect(store, clock, "consumer_lag", 500, group="g")
    assert 30.0 == manager.evaluate_due()


def test_trigger_evaluates_groups_reading_a_changed_metric_at_once(store: Store, clock: FakeClock, rules: Path) -> None:
    manager = make(store, clock, Outbox())
    manager.load([str(rules)])
    manager.evaluate_due()
    clock.advance(5)
    manager.trigger(collect(store, clock, "disk_used_ratio", 0.5, instance="a"))
    manager.evaluate_due()
    assert 0.5 == value_of(store, "instance:disk_used:ratio", instance="a")


def test_trigger_leaves_groups_that_do_not_read_the_metric_alone(store: Store, clock: FakeClock, rules: Path) -> None:
    manager = make(store, clock, Outbox())
    manager.load([str(rules)])
    manager.evaluate_due()
    clock.advance(5)
    manager.trigger(collect(store, clock, "disk_used_ratio", 0.5, instance="a"))
    manager.evaluate_due()
    lag_group = next(g for g in manager.groups() if g.name == "lag")
    assert int((clock.time() - 5) * 1000) == lag_group.last_evaluation_ms


def test_triggers_closer_than_the_minimum_spacing_wait_for_it(store: Store, clock: FakeClock, rules: Path) -> None:
    manager = make(store, clock, Outbox())
    manager.load([str(rules)])
    manager.evaluate_due()
    clock.advance(0.05)
    manager.trigger(frozenset({"disk_used_ratio"}))
    assert pytest.approx(0.15) == manager.evaluate_due()


def test_late_evaluation_counts_missed_iterations(store: Store, clock: FakeClock, rules: Path) -> None:
    manager = make(store, clock, Outbox())
    manager.load([str(rules)])
    manager.evaluate_due()
    clock.advance(150)
    manager.evaluate_due()
    assert 1.0 == value_of(store, "tripwired_rule_group_iterations_missed_total", rule_group=f"{rules};disk")


def test_self_metrics_are_declared_and_written(store: Store, clock: FakeClock, rules: Path) -> None:
    manager = make(store, clock, Outbox())
    manager.load([str(rules)])
    manager.evaluate_due()
    assert ("counter", 0.0) == (
        store.meta("tripwired_rule_evaluation_failures_total").type.value,
        value_of(store, "tripwired_rule_evaluation_failures_total", rule_group=f"{rules};lag"),
    )


def test_reload_with_bad_file_raises_and_keeps_the_old_rules(
    store: Store, clock: FakeClock, rules: Path, tmp_path: Path
) -> None:
    manager = make(store, clock, Outbox())
    manager.load([str(rules)])
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups:\n  - name: x\n    rules:\n      - record: a:b\n        expr: up\n        for: 1m\n")
    with pytest.raises(RuleLoadError) as caught:
        manager.reload([str(rules), str(bad)])
    assert (1, ["disk", "lag"]) == (len(caught.value.errors), [g.name for g in manager.groups()])


def test_reload_keeps_pending_alerts_of_a_changed_group(store: Store, clock: FakeClock, rules: Path) -> None:
    collect(store, clock, "consumer_lag", 500, group="g")
    manager = make(store, clock, Outbox())
    manager.load([str(rules)])
    manager.evaluate_due()
    rules.write_text(RULES.replace("consumer_lag > 100", "consumer_lag > 200"))
    manager.reload([str(rules)])
    [alert] = manager.active_alerts()
    assert (AlertState.PENDING, clock.time()) == (alert.state, alert.active_at)


def test_reload_removing_a_group_marks_its_series_stale(
    store: Store, clock: FakeClock, rules: Path, tmp_path: Path
) -> None:
    collect(store, clock, "disk_used_ratio", 0.5, instance="a")
    manager = make(store, clock, Outbox())
    manager.load([str(rules)])
    manager.evaluate_due()
    clock.advance(1)
    rules.write_text(RULES.split("  - name: lag", maxsplit=1)[0].replace("name: disk", "name: disk2"))
    manager.reload([str(rules)])
    assert None is value_of(store, "instance:disk_used:ratio", instance="a")


def test_restart_hands_the_firing_alert_to_the_notifier_again_with_its_active_at(
    store: Store, clock: FakeClock, rules: Path, tmp_path: Path
) -> None:
    # As Prometheus after a restart: what the last process sent may have died in the dispatcher's
    # memory; the notification log downstream keeps the receiver from hearing it twice.
    collect(store, clock, "disk_used_ratio", 0.95, instance="a")
    first = make(store, clock, Outbox(), AlertStateStore(tmp_path))
    first.load([str(rules)])
    first.evaluate_due()
    [before] = first.active_alerts()
    clock.advance(30)
    outbox = Outbox()
    second = make(store, clock, outbox, AlertStateStore(tmp_path))
    second.load([str(rules)])
    second.evaluate_due()
    assert [(AlertState.FIRING, before.active_at)] == [(a.state, a.active_at) for a in outbox.alerts]


def started(
    store: Store, clock: FakeClock, rules: Path, state_dir: Path, policy: RestorePolicy | None = None
) -> RuleManager:
    """A manager (a daemon's start) on persisted alert state, its rules loaded."""
    manager = make(store, clock, Outbox(), AlertStateStore(state_dir))
    if policy is not None:
        manager.restore_policy = policy
    manager.load([str(rules)])
    return manager


def lag_states(manager: RuleManager, store: Store, clock: FakeClock, *, after: float) -> list[AlertState]:
    """Advance the clock, collect the lag again, evaluate the lag group now, and return the alert states."""
    clock.advance(after)
    manager.trigger(collect(store, clock, "consumer_lag", 500, group="g") or frozenset({"consumer_lag"}))
    manager.evaluate_due()
    return [a.state for a in manager.active_alerts()]


def test_restart_keeps_pending_since_but_the_downtime_does_not_count_towards_for(
    store: Store, clock: FakeClock, rules: Path, tmp_path: Path
) -> None:
    collect(store, clock, "consumer_lag", 500, group="g")
    started(store, clock, rules, tmp_path).evaluate_due()
    pending_since = clock.time()
    clock.advance(120)  # down for the whole `for: 2m`: nobody saw the condition meanwhile
    collect(store, clock, "consumer_lag", 500, group="g")
    second = started(store, clock, rules, tmp_path)
    second.evaluate_due()
    [alert] = second.active_alerts()
    assert (AlertState.PENDING, pending_since) == (alert.state, alert.active_at)
    assert [AlertState.PENDING] == lag_states(second, store, clock, after=119)
    assert [AlertState.FIRING] == lag_states(second, store, clock, after=2)


def test_restored_pending_alert_fires_after_the_grace_period_when_its_for_ran_out(
    store: Store, clock: FakeClock, rules: Path, tmp_path: Path
) -> None:
    collect(store, clock, "consumer_lag", 500, group="g")
    first = started(store, clock, rules, tmp_path)
    first.evaluate_due()
    assert [AlertState.PENDING] == lag_states(first, store, clock, after=110)
    clock.advance(5)  # a quick restart, 5 s before the alert was due
    second = started(store, clock, rules, tmp_path, RestorePolicy(grace_period_ms=30_000))
    assert [AlertState.PENDING] == lag_states(second, store, clock, after=0)
    # Past when the alert was due before the restart, within the grace period; then after it.
    assert [AlertState.PENDING] == lag_states(second, store, clock, after=25)
    assert [AlertState.FIRING] == lag_states(second, store, clock, after=10)


def test_pending_alert_is_not_restored_after_an_outage_longer_than_the_tolerance(
    store: Store, clock: FakeClock, rules: Path, tmp_path: Path
) -> None:
    collect(store, clock, "consumer_lag", 500, group="g")
    started(store, clock, rules, tmp_path).evaluate_due()
    clock.advance(3601)
    collect(store, clock, "consumer_lag", 500, group="g")
    second = started(store, clock, rules, tmp_path)
    second.evaluate_due()
    [alert] = second.active_alerts()
    assert (AlertState.PENDING, clock.time()) == (alert.state, alert.active_at)


def test_notify_failure_does_not_stop_evaluation(store: Store, clock: FakeClock, rules: Path) -> None:
    def broken(alerts: Sequence[Alert]) -> None:
        raise RuntimeError("receiver gone")

    collect(store, clock, "disk_used_ratio", 0.95, instance="a")
    manager = RuleManager(
        store=store, clock=clock, notify=broken, evaluation_interval_s=10, external_labels={}, external_url=""
    )
    manager.load([str(rules)])
    manager.evaluate_due()
    assert ["DiskFull"] == [a.name for a in manager.active_alerts()]


def test_run_evaluates_until_stopped(store: Store, clock: FakeClock, rules: Path) -> None:
    collect(store, clock, "disk_used_ratio", 0.5, instance="a")
    manager = make(store, clock, Outbox())
    manager.load([str(rules)])

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(manager.run(stop))
        await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, timeout=1)

    asyncio.run(scenario())
    assert 0.5 == value_of(store, "instance:disk_used:ratio", instance="a")


def test_trigger_wakes_the_running_loop_before_the_next_tick(store: Store, clock: FakeClock, rules: Path) -> None:
    manager = make(store, clock, Outbox())
    manager.load([str(rules)])

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(manager.run(stop))
        await asyncio.sleep(0.01)
        clock.advance(1)
        manager.trigger(collect(store, clock, "disk_used_ratio", 0.7, instance="a"))
        await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, timeout=1)

    asyncio.run(scenario())
    assert 0.7 == value_of(store, "instance:disk_used:ratio", instance="a")


def test_emitted_self_metrics_equal_the_declared_ones(store: Store, clock: FakeClock, rules: Path) -> None:
    from agent.ruler.manager import SELF_METRICS

    collect(store, clock, "disk_used_ratio", 0.95, instance="a")
    manager = make(store, clock, Outbox())
    manager.load([str(rules)])
    manager.evaluate_due()
    emitted = {n for n in store.names() if n.startswith("tripwired_rule") or n.startswith("ALERTS")}
    assert {m.name for m in SELF_METRICS} == emitted


class SlowJournal:
    """A write-ahead log whose writes land only when `sync` has run: what a crash would keep."""

    def __init__(self) -> None:
        self.pending: list[str] = []
        self.durable: list[str] = []

    def record(self, source: str, t_ms: int, series: list[Any], values: Any) -> None:
        self.pending.append(source)

    async def sync(self) -> None:
        await asyncio.sleep(0.01)
        self.durable += self.pending
        self.pending = []


def test_no_alert_is_sent_from_a_collection_before_it_is_in_the_write_ahead_log(
    store: Store, clock: FakeClock, rules: Path
) -> None:
    journal = SlowJournal()
    store.journal = journal
    durable_when_notified: list[list[str]] = []

    def notify(alerts: Sequence[Alert]) -> None:
        durable_when_notified.append(list(journal.durable))

    manager = RuleManager(
        store=store, clock=clock, notify=notify, evaluation_interval_s=10, external_labels={}, external_url=""
    )
    manager.load([str(rules)])

    async def scenario() -> None:
        stop = asyncio.Event()
        manager.trigger(collect(store, clock, "disk_used_ratio", 0.95, instance="a"))
        task = asyncio.create_task(manager.run(stop))
        while not durable_when_notified:
            await asyncio.sleep(0.005)
        stop.set()
        await asyncio.wait_for(task, timeout=1)

    asyncio.run(scenario())
    assert "test:disk_used_ratio" in durable_when_notified[0]


class CountingJournal(SlowJournal):
    def __init__(self) -> None:
        super().__init__()
        self.syncs = 0

    async def sync(self) -> None:
        self.syncs += 1
        await super().sync()


def test_collections_no_group_reads_do_not_wait_for_the_write_ahead_log(store: Store, clock: FakeClock) -> None:
    """Waiting for the log is a hand-off to its thread: without a due group there is nothing to wait for."""
    journal = CountingJournal()
    store.journal = journal
    manager = make(store, clock, Outbox())

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(manager.run(stop))
        for i in range(5):
            clock.advance(1)
            manager.trigger(collect(store, clock, "disk_used_ratio", i / 10, instance="a"))
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(task, timeout=1)

    asyncio.run(scenario())
    assert 0 == journal.syncs
    assert ["test:disk_used_ratio"] * 5 == journal.pending  # written, left for the log's own hand-over
