"""The scheduler: isolation, timeouts, skipping, self-metrics. Collectors here are test doubles by design:
the runner is the thing under test, and a collector that hangs on demand is its boundary."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from agent.clock import SystemClock
from agent.collect.base import PartialCollectionError, Scheduled
from agent.collect.runner import Runner
from agent.model import MetricMeta, Sample, gauge, labels_of
from agent.store import Store
from agent.targets import make_target


class Counting:
    name, instance = "counting", "default"

    def __init__(self) -> None:
        self.calls = 0

    def metrics(self) -> Sequence[MetricMeta]:
        return [gauge("counting_calls", "Calls so far.")]

    def collect(self) -> Sequence[Sample]:
        self.calls += 1
        return [Sample("counting_calls", (), float(self.calls))]


class Raising(Counting):
    name = "raising"

    def collect(self) -> Sequence[Sample]:
        raise OSError("no such device")


class Hanging(Counting):
    name = "hanging"

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def collect(self) -> Sequence[Sample]:
        self.calls += 1
        self.release.wait(10)
        return []


class Partial(Counting):
    name = "partial"

    def collect(self) -> Sequence[Sample]:
        self.calls += 1
        raise PartialCollectionError([Sample("counting_calls", (), float(self.calls))], "requests failed: x")


class Restarting(Counting):
    name = "restarting"
    restarts_total = 3

    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    def close(self) -> None:
        self.closed = True


def value(store: Store, name: str, collector: str) -> float | None:
    series = store.get(name, labels_of(collector=collector, instance="default"))
    return None if series is None else series.latest()


async def run_for(runner: Runner, seconds: float) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    await asyncio.sleep(seconds)
    stop.set()
    await task


def test_a_raising_collector_is_down_and_the_others_keep_running() -> None:
    store = Store()
    runner = Runner(store, SystemClock())
    good, bad = Counting(), Raising()
    runner.add(Scheduled(good, 0.05, 0.05))
    runner.add(Scheduled(bad, 0.05, 0.05))
    asyncio.run(run_for(runner, 0.3))
    assert good.calls >= 3
    assert value(store, "tripwired_collector_up", "counting") == 1.0
    assert value(store, "tripwired_collector_up", "raising") == 0.0
    errors = value(store, "tripwired_collector_errors_total", "raising")
    assert errors is not None and errors >= 3
    assert runner.states[1].last_error == "OSError: no such device"


def test_a_hanging_collector_times_out_and_later_runs_are_skipped_not_stacked() -> None:
    store = Store()
    runner = Runner(store, SystemClock())
    hanging, good = Hanging(), Counting()
    runner.add(Scheduled(hanging, 0.05, 0.02))
    runner.add(Scheduled(good, 0.05, 0.05))
    asyncio.run(run_for(runner, 0.4))
    hanging.release.set()
    assert hanging.calls == 1
    assert value(store, "tripwired_collector_up", "hanging") == 0.0
    skipped = value(store, "tripwired_collector_skipped_total", "hanging")
    assert skipped is not None and skipped >= 3
    assert good.calls >= 5


def test_ready_is_set_after_every_collector_ran_once() -> None:
    runner = Runner(Store(), SystemClock())
    runner.add(Scheduled(Counting(), 10, 1))
    runner.add(Scheduled(Raising(), 10, 1))

    async def scenario() -> bool:
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        await asyncio.wait_for(runner.ready.wait(), 2)
        stop.set()
        await task
        return runner.ready.is_set()

    assert asyncio.run(scenario())


def test_trigger_runs_a_collector_before_its_interval() -> None:
    runner = Runner(Store(), SystemClock())
    counting = Counting()
    runner.add(Scheduled(counting, 60, 1))

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        await asyncio.wait_for(runner.ready.wait(), 2)
        runner.trigger("counting")
        await asyncio.sleep(0.1)
        stop.set()
        await task

    asyncio.run(scenario())
    assert counting.calls == 2


def test_samples_are_written_with_the_collection_timestamp() -> None:
    store = Store()
    runner = Runner(store, SystemClock())
    runner.add(Scheduled(Counting(), 60, 1))
    asyncio.run(run_for(runner, 0.1))
    series = store.get("counting_calls", ())
    assert series is not None
    assert series.latest() == 1.0
    assert abs(series.times[-1] / 1000 - SystemClock().time()) < 5


def test_a_partial_run_writes_what_it_read_and_reports_the_collector_down() -> None:
    store = Store()
    runner = Runner(store, SystemClock())
    runner.add(Scheduled(Partial(), 10, 1))

    asyncio.run(run_for(runner, 0.2))

    assert (1.0, 0.0) == (store.get("counting_calls", ()).latest(), value(store, "tripwired_collector_up", "partial"))
    assert "requests failed: x" == runner.states[0].last_error


def test_a_supervised_collectors_restarts_are_exported_and_its_child_closed_at_stop() -> None:
    store = Store()
    runner = Runner(store, SystemClock())
    collector = Restarting()
    runner.add(Scheduled(collector, 10, 1))

    asyncio.run(run_for(runner, 0.2))

    assert (3.0, True) == (value(store, "tripwired_collector_restarts_total", "restarting"), collector.closed)


def test_samples_carry_the_targets_labels_and_up_the_targets_with_its_extra_labels() -> None:
    store = Store()
    runner = Runner(store, SystemClock())
    target = make_target("counting", "agent:9842", labels_of(cluster="main"))
    runner.add(Scheduled(Counting(), 60, 1, target))

    asyncio.run(runner.run_once(runner.states[0]))

    assert 1.0 == store.get("counting_calls", target.labels).latest()
    assert [1.0, 1.0, 1.0] == [
        store.get(name, target.up_labels).latest() for name in ("up", "scrape_samples_scraped", "scrape_series_added")
    ]
    assert store.get("scrape_duration_seconds", target.up_labels).latest() >= 0
    assert {("counting", "agent:9842")} == runner.targets()


def test_up_is_zero_not_stale_when_a_collector_fails() -> None:
    store = Store()
    runner = Runner(store, SystemClock())
    target = make_target("raising", "agent:9842")
    runner.add(Scheduled(Raising(), 60, 1, target))

    asyncio.run(runner.run_once(runner.states[0]))

    assert (0.0, 0.0) == (
        store.get("up", target.up_labels).latest(),
        store.get("scrape_samples_scraped", target.up_labels).latest(),
    )
    assert 0.0 == value(store, "tripwired_collector_up", "raising")


def test_a_collector_without_a_target_writes_no_up() -> None:
    store = Store()
    runner = Runner(store, SystemClock())
    runner.add(Scheduled(Counting(), 60, 1))

    asyncio.run(runner.run_once(runner.states[0]))

    assert ([], 1.0) == (list(store.family("up")), store.get("counting_calls", ()).latest())
