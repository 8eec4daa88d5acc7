"""Runs each collector at its own interval, in a thread of its own, with a timeout.

A run that would overlap the previous one (a collector still stuck in a stale NFS stat)
is skipped and counted, never stacked. A collector that raises or times out is reported
as `tripwired_collector_up 0` and the others keep running. What a collector returns is
written to the store on the event loop, so readers of the store never race a writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from agent.clock import Clock
from agent.collect.base import Closable, Collector, PartialCollectionError, Scheduled, Supervised
from agent.model import MetricMeta, Sample, counter, gauge, labels_of
from agent.steps import run_between_tasks
from agent.store import Appender
from agent.targets import SYNTHETIC_METRICS, attacher

log = structlog.get_logger()

SELF_METRICS: tuple[MetricMeta, ...] = (
    gauge("tripwired_collector_up", "Whether the collector's last run succeeded (1) or failed or timed out (0)."),
    gauge("tripwired_collector_duration_seconds", "Duration of the collector's last run."),
    gauge("tripwired_collector_last_success_timestamp_seconds", "When the collector last succeeded."),
    counter("tripwired_collector_errors_total", "Runs of the collector that raised or timed out."),
    counter("tripwired_collector_skipped_total", "Runs skipped because the previous run had not finished."),
)
# Declared once a collector that runs in a child process is added (agent/collect/isolated.py).
SUPERVISED_METRICS: tuple[MetricMeta, ...] = (
    counter(
        "tripwired_collector_restarts_total",
        "Restarts of the child process an isolated collector runs in (it died or stopped answering).",
    ),
)

OnCollected = Callable[[frozenset[str]], None]


@dataclass
class CollectorState:
    """What the runner knows about one collector, for self-metrics and the status page."""

    job: Scheduled
    up: bool = False
    runs: int = 0
    errors_total: int = 0
    skipped_total: int = 0
    last_duration: float = 0.0
    last_success: float = 0.0
    last_run: float = 0.0  # when the last run started (clock time), 0 before the first
    last_error: str = ""
    last_samples: int = 0  # what the last run returned (scrape_samples_scraped)
    last_added: int = 0  # series the last run added to the store (scrape_series_added)
    busy: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def collector(self) -> Collector:
        """The collector this state tracks."""
        return self.job.collector

    @property
    def source(self) -> str:
        """The store's owner name for this collector's series (`collector:<name>:<instance>`)."""
        return f"collector:{self.collector.name}:{self.collector.instance}"


class Runner:
    """The collection schedule: one asyncio task per collector."""

    def __init__(self, store: Appender, clock: Clock, on_collected: OnCollected | None = None) -> None:
        self._store = store
        self._clock = clock
        self._on_collected = on_collected
        self._states: list[CollectorState] = []
        self.ready = asyncio.Event()
        store.declare(SELF_METRICS)
        store.declare(SYNTHETIC_METRICS)

    def add(self, job: Scheduled) -> None:
        """Schedule a collector and declare its families (and the supervision ones for a child-process collector)."""
        self._states.append(CollectorState(job))
        self._store.declare(job.collector.metrics())
        if isinstance(job.collector, Supervised):
            self._store.declare(SUPERVISED_METRICS)

    @property
    def states(self) -> Sequence[CollectorState]:
        """Every scheduled collector's state, in the order they were added."""
        return self._states

    def targets(self) -> set[tuple[str, str]]:
        """The (job, instance) of every collector's target labels (what /metrics leaves out)."""
        return {target.key for state in self._states if (target := state.job.target).labels}

    def trigger(self, name: str, instance: str | None = None) -> None:
        """Run a collector now instead of at its next tick (a watched file changed)."""
        for state in self._states:
            if state.collector.name == name and instance in (None, state.collector.instance):
                state.wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Run every collector until `stop` is set."""
        if not self._states:
            self.ready.set()
        tasks = [asyncio.create_task(self._loop(state, stop)) for state in self._states]
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.to_thread(self._close_children)

    def _close_children(self) -> None:
        """Stop isolated collectors' child processes and close database pools: a reload replaces them."""
        for state in self._states:
            if isinstance(state.collector, Closable):
                state.collector.close()

    async def _loop(self, state: CollectorState, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        next_run = loop.time()
        while not stop.is_set():
            state.wake.clear()  # a trigger that arrives during the run below runs it again
            await self.run_once(state)
            if all(s.runs for s in self._states):
                self.ready.set()
            next_run = max(next_run + state.job.interval, loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.wake.wait(), timeout=next_run - loop.time())

    async def run_once(self, state: CollectorState) -> None:
        """One collection: skipped if the last one still runs, timed out after the job's timeout."""
        if state.busy:
            state.skipped_total += 1
            log.warning("collector_skipped", collector=state.collector.name, instance=state.collector.instance)
            self._write_self_metrics(state, self._now_ms())
            return
        t_ms = self._now_ms()
        state.last_run = t_ms / 1000
        started = self._clock.monotonic()
        samples: Sequence[Sample] | None = None
        failed = True
        try:
            samples = await asyncio.wait_for(self._in_thread(state), timeout=state.job.timeout)
            failed = False
        except TimeoutError:
            self._failed(state, f"timed out after {state.job.timeout:g}s")
        except PartialCollectionError as partial:  # what was read is kept; the collector is still down
            self._failed(state, str(partial))
            samples = partial.samples
        except Exception as exc:  # a collector's bug must not stop the schedule
            self._failed(state, f"{type(exc).__name__}: {exc}")
        state.runs += 1
        state.last_duration = self._clock.monotonic() - started
        if not failed:
            self._succeeded(state)
        state.last_samples = len(samples) if samples is not None else 0
        state.last_added = 0
        changed = await self._write(state, samples, t_ms) if samples is not None else frozenset()
        self._write_self_metrics(state, t_ms)
        if self._on_collected is not None and changed:
            self._on_collected(changed)  # the ruler waits for the write-ahead log before it evaluates

    def _in_thread(self, state: CollectorState) -> asyncio.Future[Sequence[Sample]]:
        """Run collect() in a daemon thread, so a collector that never returns cannot block exit."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Sequence[Sample]] = loop.create_future()
        state.busy = True

        def settle(result: Sequence[Sample] | None, error: BaseException | None) -> None:
            state.busy = False
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result or ())

        def work() -> None:
            result: Sequence[Sample] | None = None
            error: BaseException | None = None
            try:
                result = state.collector.collect()
            except BaseException as exc:  # handed to the loop, re-raised there
                error = exc
            # A run that outlived the daemon finds the loop closed; nobody waits for it then.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, result, error)

        name = f"collect-{state.collector.name}-{state.collector.instance}"
        threading.Thread(target=work, name=name, daemon=True).start()
        return future

    def _succeeded(self, state: CollectorState) -> None:
        if not state.up and state.runs > 1:
            log.info("collector_recovered", collector=state.collector.name, instance=state.collector.instance)
        state.up = True
        state.last_error = ""
        state.last_success = self._clock.time()

    async def _write(self, state: CollectorState, samples: Sequence[Sample], t_ms: int) -> frozenset[str]:
        """Write a collection to the store, with its target's labels; the names of the metrics whose values changed."""
        self._store.declare(state.collector.metrics())
        target = state.job.target.labels
        relabel = attacher(target) if target else None
        # A large collection (10,000 Kafka partitions: 100,000 samples, ~0.4 s) is written in steps,
        # so a scrape that arrives meanwhile is served between them instead of after all of it.
        result = await run_between_tasks(self._store.write_in_steps(state.source, samples, t_ms, relabel=relabel))
        state.last_added = result.added
        if result.refused:
            log.warning("store_series_cap_reached", collector=state.collector.name, refused=result.refused)
        return result.changed_names

    def _failed(self, state: CollectorState, error: str) -> None:
        if state.up or state.runs == 0 or error != state.last_error:
            log.warning(
                "collector_failed", collector=state.collector.name, instance=state.collector.instance, error=error
            )
        state.up = False
        state.errors_total += 1
        state.last_error = error

    def _write_self_metrics(self, state: CollectorState, t_ms: int) -> None:
        labels = labels_of(collector=state.collector.name, instance=state.collector.instance)
        samples = [
            Sample("tripwired_collector_up", labels, 1.0 if state.up else 0.0),
            Sample("tripwired_collector_duration_seconds", labels, state.last_duration),
            Sample("tripwired_collector_errors_total", labels, float(state.errors_total)),
            Sample("tripwired_collector_skipped_total", labels, float(state.skipped_total)),
        ]
        if isinstance(state.collector, Supervised):
            samples.append(Sample("tripwired_collector_restarts_total", labels, float(state.collector.restarts_total)))
        if state.last_success:
            samples.append(Sample("tripwired_collector_last_success_timestamp_seconds", labels, state.last_success))
        samples.extend(self._synthetic(state))
        self._store.write(f"self:{state.source}", samples, t_ms)

    def _synthetic(self, state: CollectorState) -> list[Sample]:
        """Prometheus' series about a scrape (`up`, `scrape_*`), under the collector's target labels."""
        labels = state.job.target.up_labels
        if not labels:
            return []
        return [
            Sample("up", labels, 1.0 if state.up else 0.0),
            Sample("scrape_duration_seconds", labels, state.last_duration),
            Sample("scrape_samples_scraped", labels, float(state.last_samples)),
            Sample("scrape_series_added", labels, float(state.last_added)),
        ]

    def _now_ms(self) -> int:
        return int(self._clock.time() * 1000)
