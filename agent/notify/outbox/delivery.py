"""The outbox's delivery loop: every notification is on disk before a sender sees it, and stays until acknowledged.

`Outbox.enqueue` hands the notification to the store (store.py), whose thread writes one row per
integration of the receiver; `run` delivers the stored rows at least once: at most N requests in
flight per receiver, one at a time per alert group and integration so a resolve never overtakes
its trigger, retried with the policy of agent/notify/retry.py (exponential backoff with jitter,
Retry-After honoured, a dead letter after `max_age`). Final failures stay as dead letters with the
(redacted) reason. A repeat (repeat_interval) of an unchanged group shorter than the delivered
retention is dropped as a duplicate by the store.

The event loop never runs SQLite: it submits jobs to the store's thread and awaits them, so a
slow or locked state database delays deliveries, never the loop (rule evaluation, /metrics).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path

import structlog

from agent.clock import Clock
from agent.lograte import RepeatedFailure
from agent.model import Histogram, MetricMeta, Sample, labels_of
from agent.notify.integrations.protocol import Notifier
from agent.notify.model import Notification, Outcome, Result
from agent.notify.outbox.memory_lane import DEAD, DELIVERED, PENDING, GroupLane, RowKey
from agent.notify.outbox.store import METRICS, Entry, OutboxStore, Update, View
from agent.notify.outbox.stored import notification_from_json
from agent.notify.retry import Backoff, RetryPolicy
from agent.statedb import StateDbThread

log = structlog.get_logger()

LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Outbox:
    """Stores notifications durably and delivers them to their receivers' integrations."""

    def __init__(
        self,
        state_dir: str | Path,
        integrations: Mapping[str, Sequence[tuple[str, Notifier]]],
        clock: Clock,
        *,
        max_concurrency_per_receiver: int = 4,
        backoff_base: float = 1.0,
        backoff_max: float = 300.0,
        capacity: int = 10_000,
        max_age: float = 24 * 3600.0,
        delivered_retention: float = 600.0,
        dead_retention: float = 7 * 24 * 3600.0,
        drain_seconds: float = 3.0,
        seed: int | None = None,
    ) -> None:
        """Open the store on a database thread of its own (StateError if a newer version wrote it)."""
        self.integrations = {name: list(senders) for name, senders in integrations.items()}
        self.clock = clock
        self.max_concurrency = max_concurrency_per_receiver
        self.policy = RetryPolicy(Backoff(backoff_base, backoff_max), max_age)
        self.drain_seconds = drain_seconds
        self._random = random.Random(seed)
        # The thread the store's connection lives on; the notification log shares it (runtime/
        # notifications.py), so an outbox row reaches the disk before the entry that says it was sent.
        self.db_thread = StateDbThread("outbox-db")
        try:
            self._store = self.db_thread.run(
                lambda: OutboxStore(
                    state_dir,
                    clock,
                    capacity=capacity,
                    delivered_retention=delivered_retention,
                    dead_retention=dead_retention,
                    receivers=list(self.integrations),
                )
            )
        except BaseException:
            self.db_thread.close()
            raise
        self._in_flight: dict[RowKey, tuple[GroupLane, asyncio.Task[None]]] = {}
        self._wake = asyncio.Event()
        self._latency: dict[str, Histogram] = {}
        self._retry_logs: dict[str, RepeatedFailure] = {}  # per receiver: loud once, then a summary

    def close(self) -> None:
        """Write what is queued, close the database and stop its thread (at shutdown, after `run`)."""
        self.db_thread.run(self._store.close)
        self.db_thread.close()

    def replace_integrations(self, integrations: Mapping[str, Sequence[tuple[str, Notifier]]]) -> None:
        """Use the senders of a reloaded config; rows of integrations no longer there become dead letters."""
        self.integrations = {name: list(senders) for name, senders in integrations.items()}
        self._wake.set()

    def enqueue(self, notification: Notification) -> None:
        """Hand the notification to the store's thread, which writes it before any delivery can read it.

        On the event loop this returns at once (the store's jobs run in order, so the next delivery
        cycle sees the rows); elsewhere (a test, a command) once the rows are written. Duplicates,
        superseded notifications and a refusing disk are the store's business (OutboxStore.enqueue).
        """
        senders = self.integrations.get(notification.receiver, [])
        if not senders:
            log.warning("notification_without_integrations", receiver=notification.receiver)
            return
        names = [integration for integration, _ in senders]
        job = self.db_thread.submit(self._store.enqueue, notification, names, self._busy())
        job.add_done_callback(_log_failed_job)
        self._wake.set()
        if not _on_event_loop():
            job.result()

    def _busy(self) -> dict[RowKey, GroupLane]:
        """The rows in flight and their lanes, as the store's thread must see them (a copy)."""
        return {row: lane for row, (lane, _) in self._in_flight.items()}

    # -- delivery ------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver pending rows until `stop` is set, then give in-flight deliveries `drain_seconds` to finish;
        what is still in flight after that stays pending for next time."""
        try:
            while not stop.is_set():
                self._wake.clear()
                due, sleep = await self.db_thread.call(
                    self._store.cycle, self._busy(), self.max_concurrency, list(self.integrations)
                )
                for row, lane in due:
                    self._in_flight[row] = (lane, asyncio.create_task(self._deliver(row)))
                await _wait_either(self._wake, stop, sleep)
        finally:
            await self._finish_in_flight()
            await self.sync()

    async def _deliver(self, row: RowKey) -> None:
        receiver, integration, _ = row
        try:
            stored = await self.db_thread.call(self._store.stored, row)
            sender = self._sender(receiver, integration)
            if stored is None:
                return
            if sender is None:
                result = Result(Outcome.GIVE_UP, "integration no longer configured")
                await self._record(row, result, stored[1], stored[2])
                return
            started = self.clock.monotonic()
            result = await _attempt(sender, notification_from_json(stored[0]))
            self._observe(receiver, self.clock.monotonic() - started)
            await self._record(row, result, stored[1], stored[2])
        finally:
            self._in_flight.pop(row, None)
            self._wake.set()

    def _sender(self, receiver: str, integration: str) -> Notifier | None:
        return dict(self.integrations.get(receiver, [])).get(integration)

    def _observe(self, receiver: str, seconds: float) -> None:
        self._latency.setdefault(receiver, Histogram(LATENCY_BUCKETS)).observe(seconds)

    async def _record(self, row: RowKey, result: Result, attempts: int, created_at: float) -> None:
        """Have the store write what an attempt came to; a retry past max_age becomes a dead letter."""
        now = self.clock.time()
        attempts += 1
        outcome = result.outcome
        gave_up_on_age = outcome is Outcome.RETRY and self.policy.gives_up(created_at, now)
        if gave_up_on_age:
            outcome = Outcome.GIVE_UP
            result = Result(outcome, f"gave up after {attempts} attempts: {result.reason}")
        delay = 0.0
        if outcome is Outcome.DELIVERED:
            update = Update(DELIVERED, attempts, now, result.reason, any_state=True)
        elif outcome is Outcome.RETRY:
            delay = self.backoff(attempts, result.retry_after)
            update = Update(PENDING, attempts, now + delay, result.reason, any_state=False)
        else:
            update = Update(DEAD, attempts, now, result.reason, any_state=False)
        oldest = await self.db_thread.call(self._store.record, row, outcome.value, update, gave_up_on_age)
        self._log_attempt(row, outcome, update, delay, oldest)

    def _log_attempt(self, row: RowKey, outcome: Outcome, update: Update, delay: float, oldest: float) -> None:
        attempts, reason = update.attempts, update.reason
        if outcome is Outcome.DELIVERED:
            self._retry_log(row[0]).succeeded(receiver=row[0])
        elif outcome is Outcome.RETRY:
            self._retry_log(row[0]).failed(
                receiver=row[0],
                integration=row[1],
                attempts=attempts,
                delay_seconds=round(delay, 3),
                reason=reason,
                oldest_pending_seconds=round(oldest),
            )
        else:
            log.warning(
                "notification_dead_letter", receiver=row[0], integration=row[1], attempts=attempts, reason=reason
            )

    def _retry_log(self, receiver: str) -> RepeatedFailure:
        """The log of one receiver's retries: the first at warning, then debug, a summary every 5 minutes,
        and `notify_recovered` at the first delivery after them."""
        if receiver not in self._retry_logs:
            self._retry_logs[receiver] = RepeatedFailure(
                "notify_retrying", self.clock.monotonic, first_level="warning", recovered_event="notify_recovered"
            )
        return self._retry_logs[receiver]

    def backoff(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds before the next attempt: exponential with jitter, at least what Retry-After asked (capped)."""
        return self.policy.backoff.delay(attempts, retry_after, self._random)

    async def _finish_in_flight(self) -> None:
        tasks = [task for _, task in self._in_flight.values()]
        if tasks and self.drain_seconds > 0:
            await asyncio.wait(tasks, timeout=self.drain_seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- status and metrics ----------------------------------------------------------

    def pending(self) -> list[Entry]:
        """Notifications waiting for delivery (stored or in memory), oldest first; see `view`."""
        return list(self.view().pending)

    def dead_letters(self) -> list[Entry]:
        """Notifications given up on, with their reason; see `view`."""
        return list(self.view().dead)

    def view(self) -> View:
        """On the event loop, what the store last published (at most PUBLISH_SECONDS stale; the loop never waits on the
        database); elsewhere (a test, a command), the store now, after every job queued before."""
        if _on_event_loop():
            return self._store.view
        return self.db_thread.run(lambda: self._store.publish(list(self.integrations), now=True))

    async def sync(self) -> None:
        """Wait, without blocking the loop, until every job queued on the database thread is done
        and the view is current (a benchmark timing its enqueues, a test)."""
        await self.db_thread.call(lambda: self._store.publish(list(self.integrations), now=True))

    def metrics(self) -> Sequence[MetricMeta]:
        """Every metric `samples` returns, declared."""
        return METRICS

    def samples(self) -> list[Sample]:
        """Attempts, latencies, dead letters, drops and what waits, by receiver."""
        out = list(self.view().samples)
        for receiver, latency in sorted(self._latency.items()):
            out.extend(latency.samples("tripwired_notification_latency_seconds", labels_of(receiver=receiver)))
        return out


def _on_event_loop() -> bool:
    """Whether the caller runs on an event loop, which must never wait for the database thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _log_failed_job(job: Future[None]) -> None:
    """A store job that raised (a bug: SQLite errors are handled there) is logged, not lost silently."""
    if not job.cancelled() and job.exception() is not None:
        log.error("outbox_store_job_failed", error=repr(job.exception()))


async def _attempt(sender: Notifier, notification: Notification) -> Result:
    """One send; a sender that raises is a retry, and its message (which might hold a URL) is not kept."""
    try:
        return await sender.send(notification)
    except Exception as exc:  # a buggy sender must not stop the outbox
        log.error("sender_raised", error_type=type(exc).__name__)
        return Result(Outcome.RETRY, f"sender raised {type(exc).__name__}")


async def _wait_either(first: asyncio.Event, second: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
