"""The durable outbox: every notification is on disk before a sender sees it, and stays until acknowledged.

One row per (receiver, integration, dedup key) in `<state_dir>/tripwired.db` (shared with the
ruler; WAL). `enqueue` writes the rows, then `run` delivers them at least once: exponential
backoff with jitter, Retry-After honoured, at most N requests in flight per receiver, one at a
time per alert group and integration so a resolve never overtakes its trigger. A newer
notification for a group supersedes an older one not yet delivered (it carries the group's
whole state, as Alertmanager's do). Final failures stay as dead letters with the (redacted)
reason. Delivered rows are kept for `delivered_retention` (10 minutes): a notification with the
same dedup key as its group's last one, re-enqueued by a restarted dispatcher, is recognised and
not sent again. A repeat (repeat_interval) of an unchanged group shorter than that is dropped too.

When the state disk refuses a write (full, read-only), the notification is not held back: it is
kept in the bounded memory lane (agent/notify/memory_lane.py), delivered from there like a stored
row, and written to the database when the disk recovers.

SQLite runs on the event loop: rows are small and the database is local; synchronous=FULL
makes each commit survive a power cut, not only a kill -9.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from agent.clock import Clock
from agent.lograte import RepeatedFailure
from agent.model import Histogram, MetricMeta, MetricType, Sample, counter, gauge, labels_of
from agent.notify.memory_lane import (
    DEAD,
    DELIVERED,
    PENDING,
    SUPERSEDED,
    DueRow,
    GroupLane,
    MemoryLane,
    MemoryRow,
    RowKey,
)
from agent.notify.integrations.protocol import Notifier
from agent.notify.model import Notification, Outcome, Result
from agent.notify.stored import notification_from_json, notification_to_json
from agent.statedb import DB_NAME, open_state_db, register_schema, transaction

log = structlog.get_logger()

COMPONENT = "outbox"
SCHEMA_VERSION = 1
LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_BATCH = 256

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    receiver TEXT NOT NULL,
    integration TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    group_key TEXT NOT NULL,
    notification TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    seq INTEGER NOT NULL,  -- enqueue order; the highest of a group is its latest notification
    created_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (receiver, integration, dedup_key)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_lane ON outbox (receiver, integration, group_key, seq);
CREATE INDEX IF NOT EXISTS outbox_seq ON outbox (seq);
"""

METRICS = (
    counter("tripwired_notifications_total", "Delivery attempts by receiver, integration and outcome."),
    MetricMeta(
        "tripwired_notification_latency_seconds",
        MetricType.HISTOGRAM,
        "How long one delivery attempt took, by receiver.",
    ),
    gauge("tripwired_outbox_pending", "Notifications waiting in the outbox, by receiver."),
    gauge(
        "tripwired_notifications_queued_in_memory",
        "Notifications waiting in memory only, because the state disk refused them; lost if the daemon dies.",
    ),
    counter("tripwired_outbox_dead_letters_total", "Notifications given up on and kept as dead letters."),
    counter(
        "tripwired_notifications_enqueue_failures_total",
        "Notifications the outbox could not store (a full or failing state disk), by receiver.",
    ),
    counter(
        "tripwired_notifications_dropped_total",
        "Queued notifications dropped undelivered, by receiver and reason (queue_full, max_age).",
    ),
)
DROPPED_QUEUE_FULL, DROPPED_MAX_AGE = "queue_full", "max_age"


@dataclass(frozen=True, slots=True)
class _Update:
    """What an attempt came to, kept in memory until the state database accepts it."""

    state: str
    attempts: int
    next_attempt_at: float
    reason: str
    any_state: bool

    def due(self, now: float) -> bool:
        return self.state == PENDING and self.next_attempt_at <= now


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of the outbox, as the status page shows it."""

    receiver: str
    integration: str
    dedup_key: str
    group_key: str
    state: str
    attempts: int
    created_at: float
    next_attempt_at: float
    reason: str


_ENTRY_COLUMNS = "receiver, integration, dedup_key, group_key, state, attempts, created_at, next_attempt_at, reason"


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
        self.path = Path(state_dir) / DB_NAME
        self.integrations = {name: list(senders) for name, senders in integrations.items()}
        self.clock = clock
        self.max_concurrency = max_concurrency_per_receiver
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.capacity = capacity
        self.max_age = max_age
        self.delivered_retention = delivered_retention
        self.dead_retention = dead_retention
        self.drain_seconds = drain_seconds
        self._random = random.Random(seed)
        self._db = open_state_db(state_dir)
        # An acknowledged delivery must survive a power cut too, not only a kill -9 (WAL + NORMAL).
        self._db.execute("PRAGMA synchronous=FULL")
        register_schema(self._db, COMPONENT, SCHEMA_VERSION, _SCHEMA)
        self._in_flight: dict[RowKey, tuple[GroupLane, asyncio.Task[None]]] = {}
        self._wake = asyncio.Event()
        self._outcomes: Counter[tuple[str, str, str]] = Counter()
        self._latency: dict[str, Histogram] = {}
        self._dead_letters = 0
        self._enqueue_failures: Counter[str] = Counter()
        self._dropped: Counter[tuple[str, str]] = Counter()
        self._enqueue_log = RepeatedFailure("notification_enqueue_failed", clock.monotonic)
        self._write_log = RepeatedFailure("outbox_write_failed", clock.monotonic)
        self._drop_log = RepeatedFailure("notifications_dropped", clock.monotonic)
        # Outcomes the database refused (a full disk): a delivered row is not sent again meanwhile.
        self._unsaved: dict[RowKey, _Update] = {}
        # Notifications the database refused, delivered from memory until it takes them.
        self._memory = MemoryLane(capacity)
        self._memory_log = RepeatedFailure("notifications_held_in_memory", clock.monotonic)
        self._retry_logs: dict[str, RepeatedFailure] = {}  # per receiver: loud once, then a summary
        self._purged_at: float | None = None
        self._purge_interval = min(60.0, delivered_retention)

    def close(self) -> None:
        self._db.close()

    def replace_integrations(self, integrations: Mapping[str, Sequence[tuple[str, Notifier]]]) -> None:
        """Use the senders of a reloaded config; rows of integrations no longer there become dead letters."""
        self.integrations = {name: list(senders) for name, senders in integrations.items()}
        self._wake.set()

    # -- enqueue -------------------------------------------------------------------

    def enqueue(self, notification: Notification) -> None:
        """Write one row per integration of the notification's receiver, before anything is sent.

        A notification equal to the last one stored for its group and integration (same dedup key)
        is a duplicate and ignored, whether that one is pending, delivered or dead: this is what
        stops a restarted dispatcher from re-sending what was acknowledged. The same key after a
        different one (an alert that resolved and fired again) is a new notification. What the
        database refuses is held in memory and delivered all the same.
        """
        senders = self.integrations.get(notification.receiver, [])
        if not senders:
            log.warning("notification_without_integrations", receiver=notification.receiver)
            return
        now = self.clock.time()
        body = notification_to_json(notification)
        self._persist_memory()
        lanes = [(notification.receiver, integration, notification.group_key) for integration, _ in senders]
        on_disk = [lane for lane in lanes if not self._memory.has_lane(lane)]
        dropped = self._store(notification, on_disk, body, now) if on_disk else []
        if dropped is None:  # the database refused it: every lane goes to memory
            on_disk, dropped = [], []
        for lane in lanes:
            if lane not in on_disk and self._latest_key(lane, now) != notification.dedup_key:
                dropped += self._hold_in_memory(MemoryRow(lane, notification.dedup_key, body, now, now))
        self._count_drops(dropped, DROPPED_QUEUE_FULL)
        self._wake.set()

    def _store(self, notification: Notification, lanes: list[GroupLane], body: str, now: float) -> list[str] | None:
        """Write the notification's rows of `lanes`; the receivers dropped over capacity, None if refused."""
        try:
            with transaction(self._db):
                for lane in lanes:
                    if self._latest_in_lane(lane, now) != notification.dedup_key:
                        self._supersede(lane, now)
                        self._insert(MemoryRow(lane, notification.dedup_key, body, now, now), now)
                dropped = self._drop_over_capacity(now)
        except sqlite3.Error as exc:
            self._enqueue_failures[notification.receiver] += 1
            self._enqueue_log.failed(receiver=notification.receiver, error=str(exc))
            return None
        self._enqueue_log.succeeded()
        return dropped

    def _latest_key(self, lane: GroupLane, now: float) -> str | None:
        """The dedup key of the group's last notification, in memory or else stored (a full disk still reads)."""
        if self._memory.has_lane(lane):
            return self._memory.latest_key(lane)
        try:
            return self._latest_in_lane(lane, now)
        except sqlite3.Error:
            return None

    def _hold_in_memory(self, row: MemoryRow) -> list[str]:
        """Keep a row the database refused; say once that a crash now would lose it."""
        dropped = self._memory.add(row, self._in_flight)
        self._memory_log.failed(
            receiver=row.lane[0],
            queued_in_memory=len(self._memory),
            risk="a crash before the state disk takes writes again loses these notifications",
        )
        return dropped

    def _persist_memory(self) -> None:
        """Write the memory lanes none of whose rows is in flight to the database, in order."""
        lanes = self._memory.settled_lanes(self._in_flight) if len(self._memory) else []
        if not lanes:
            return
        now = self.clock.time()
        try:
            with transaction(self._db):
                for rows in lanes:
                    self._supersede(rows[0].lane, now)
                    for row in rows:
                        self._insert(row, now)
                dropped = self._drop_over_capacity(now)
        except sqlite3.Error as exc:  # still full: they stay in memory, and are delivered from there
            log.debug("notifications_memory_write_failed", error=str(exc))
            return
        for rows in lanes:
            self._memory.forget(rows)
        self._count_drops(dropped, DROPPED_QUEUE_FULL)
        if not len(self._memory):
            self._memory_log.succeeded(written=sum(len(rows) for rows in lanes))

    def _drop_over_capacity(self, now: float) -> list[str]:
        """Beyond `capacity` pending rows, the oldest become dead letters (as Prometheus' queue drops
        its oldest); the receivers of those dropped."""
        (pending,) = self._db.execute("SELECT COUNT(*) FROM outbox WHERE state = ?", (PENDING,)).fetchone()
        if pending <= self.capacity:
            return []
        oldest = self._db.execute(
            "SELECT receiver, integration, dedup_key FROM outbox WHERE state = ? ORDER BY seq LIMIT ?",
            (PENDING, pending - self.capacity),
        ).fetchall()
        reason = f"dropped: more than {self.capacity} notifications queued"
        self._db.executemany(
            "UPDATE outbox SET state = ?, updated_at = ?, reason = ? WHERE receiver = ? AND integration = ?"
            " AND dedup_key = ?",
            [(DEAD, now, reason, *row) for row in oldest],
        )
        return [row[0] for row in oldest]

    def _count_drops(self, receivers: Sequence[str], reason: str) -> None:
        for receiver in receivers:
            self._dropped[(receiver, reason)] += 1
            self._dead_letters += 1
        if receivers:
            self._drop_log.failed(receivers=sorted(set(receivers)), reason=reason, dropped=len(receivers))

    def _latest_in_lane(self, lane: GroupLane, now: float) -> str | None:
        """The dedup key of the group's last notification, unless it was delivered longer ago than we remember."""
        row = self._db.execute(
            "SELECT dedup_key, state, updated_at FROM outbox WHERE receiver = ? AND integration = ? AND group_key = ?"
            " ORDER BY seq DESC LIMIT 1",
            lane,
        ).fetchone()
        if row is None or (row[1] in (DELIVERED, SUPERSEDED) and row[2] < now - self.delivered_retention):
            return None
        return str(row[0])

    def _supersede(self, lane: GroupLane, now: float) -> None:
        """An undelivered older notification of the group is not needed: the new one carries the whole group."""
        self._db.execute(
            "UPDATE outbox SET state = ?, updated_at = ?, reason = 'superseded by a newer notification for the group'"
            " WHERE receiver = ? AND integration = ? AND group_key = ? AND state = ?",
            (SUPERSEDED, now, *lane, PENDING),
        )

    def _insert(self, row: MemoryRow, now: float) -> None:
        """Store a row (a new one, or one held in memory until now) as the latest of its group."""
        receiver, integration, group_key = row.lane
        self._db.execute(
            "INSERT INTO outbox (receiver, integration, dedup_key, group_key, notification, state, attempts, seq,"
            " created_at, next_attempt_at, updated_at, reason)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM outbox), ?, ?, ?, ?)"
            " ON CONFLICT (receiver, integration, dedup_key) DO UPDATE SET notification = excluded.notification,"
            " state = excluded.state, attempts = excluded.attempts, seq = excluded.seq,"
            " created_at = excluded.created_at, next_attempt_at = excluded.next_attempt_at,"
            " updated_at = excluded.updated_at, reason = excluded.reason",
            (
                receiver,
                integration,
                row.dedup_key,
                group_key,
                row.notification,
                row.state,
                row.attempts,
                row.created_at,
                row.next_attempt_at,
                now,
                row.reason,
            ),
        )

    # -- delivery ------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver pending rows until `stop` is set, then give in-flight deliveries `drain_seconds` to finish;
        what is still in flight after that stays pending for next time."""
        try:
            while not stop.is_set():
                self._wake.clear()
                self._save_updates()
                self._persist_memory()
                self._start_due()
                self._purge_now_and_then()
                await _wait_either(self._wake, stop, self._sleep_seconds())
        finally:
            await self._finish_in_flight()

    def _start_due(self) -> None:
        busy_lanes = {lane for lane, _ in self._in_flight.values()}
        per_receiver = Counter(key[0] for key in self._in_flight)
        now = self.clock.time()
        for receiver, integration, key, group_key in self._due_rows() + self._memory.due(now):
            lane = (receiver, integration, group_key)
            if lane in busy_lanes or per_receiver[receiver] >= self.max_concurrency:
                continue
            if self._memory.has_lane(lane) and self._memory.get((receiver, integration, key)) is None:
                continue  # a stored row of a group whose newer notifications are in memory: superseded

            row = (receiver, integration, key)
            unsaved = self._unsaved.get(row)
            if row in self._in_flight or (unsaved is not None and not unsaved.due(now)):
                continue
            busy_lanes.add(lane)
            per_receiver[receiver] += 1
            self._in_flight[row] = (lane, asyncio.create_task(self._deliver(row)))

    def _due_rows(self) -> list[DueRow]:
        """Rows due now, oldest first, up to a batch per receiver so one backlog cannot starve the others."""
        now = self.clock.time()
        receivers = [
            r
            for (r,) in self._db.execute(
                "SELECT DISTINCT receiver FROM outbox WHERE state = ? AND next_attempt_at <= ?", (PENDING, now)
            )
        ]
        rows: list[DueRow] = []
        for receiver in receivers:
            rows.extend(
                self._db.execute(
                    "SELECT receiver, integration, dedup_key, group_key FROM outbox"
                    " WHERE state = ? AND receiver = ? AND next_attempt_at <= ? ORDER BY seq LIMIT ?",
                    (PENDING, receiver, now, _BATCH),
                ).fetchall()
            )
        return rows

    def _sleep_seconds(self) -> float:
        """Until the next retry falls due, at most a second; rows due but waiting for a slot wake us when one frees."""
        now = self.clock.time()
        row = self._db.execute(
            "SELECT MIN(next_attempt_at) FROM outbox WHERE state = ? AND next_attempt_at > ?", (PENDING, now)
        ).fetchone()
        times = [t for t in (row[0], self._memory.next_attempt_at(now)) if t is not None]
        if not times:
            return 1.0
        return min(1.0, max(0.01, float(min(times)) - now))

    async def _deliver(self, row: RowKey) -> None:
        receiver, integration, _ = row
        try:
            stored = self._stored(row)
            sender = self._sender(receiver, integration)
            if stored is None:
                return
            if sender is None:
                self._record(row, Result(Outcome.GIVE_UP, "integration no longer configured"), stored[1], stored[2])
                return
            started = self.clock.monotonic()
            result = await _attempt(sender, notification_from_json(stored[0]))
            self._observe(receiver, self.clock.monotonic() - started)
            self._record(row, result, stored[1], stored[2])
        finally:
            self._in_flight.pop(row, None)
            self._wake.set()

    def _stored(self, row: RowKey) -> tuple[str, int, float] | None:
        """The notification, attempts so far and creation time of a row, in memory or stored."""
        held = self._memory.get(row)
        if held is not None:
            return held.notification, held.attempts, held.created_at
        stored = self._db.execute(
            "SELECT notification, attempts, created_at FROM outbox WHERE receiver = ? AND integration = ?"
            " AND dedup_key = ?",
            row,
        ).fetchone()
        return None if stored is None else (str(stored[0]), int(stored[1]), float(stored[2]))

    def _sender(self, receiver: str, integration: str) -> Notifier | None:
        return dict(self.integrations.get(receiver, [])).get(integration)

    def _observe(self, receiver: str, seconds: float) -> None:
        self._latency.setdefault(receiver, Histogram(LATENCY_BUCKETS)).observe(seconds)

    def _record(self, row: RowKey, result: Result, attempts: int, created_at: float) -> None:
        """Write what an attempt came to; a retry past max_age becomes a dead letter."""
        now = self.clock.time()
        attempts += 1
        outcome = result.outcome
        if outcome is Outcome.RETRY and now - created_at >= self.max_age:
            outcome = Outcome.GIVE_UP
            result = Result(outcome, f"gave up after {attempts} attempts: {result.reason}")
            self._dropped[(row[0], DROPPED_MAX_AGE)] += 1
        self._outcomes[(row[0], row[1], outcome.value)] += 1
        if outcome is Outcome.DELIVERED:
            self._update(row, DELIVERED, attempts, now, result.reason, any_state=True)
            self._retry_log(row[0]).succeeded(receiver=row[0])
        elif outcome is Outcome.RETRY:
            delay = self.backoff(attempts, result.retry_after)
            self._update(row, PENDING, attempts, now + delay, result.reason)
            self._retry_log(row[0]).failed(
                receiver=row[0],
                integration=row[1],
                attempts=attempts,
                delay_seconds=round(delay, 3),
                reason=result.reason,
                oldest_pending_seconds=round(self._oldest_pending_seconds(row[0], now)),
            )
        else:
            self._dead_letters += 1
            self._update(row, DEAD, attempts, now, result.reason)
            log.warning(
                "notification_dead_letter", receiver=row[0], integration=row[1], attempts=attempts, reason=result.reason
            )

    def _retry_log(self, receiver: str) -> RepeatedFailure:
        """The log of one receiver's retries: the first at warning, then debug, a summary every 5 minutes,
        and `notify_recovered` at the first delivery after them."""
        if receiver not in self._retry_logs:
            self._retry_logs[receiver] = RepeatedFailure(
                "notify_retrying", self.clock.monotonic, first_level="warning", recovered_event="notify_recovered"
            )
        return self._retry_logs[receiver]

    def _oldest_pending_seconds(self, receiver: str, now: float) -> float:
        """How long the receiver's oldest undelivered notification has waited, stored or in memory."""
        try:
            (stored,) = self._db.execute(
                "SELECT MIN(created_at) FROM outbox WHERE state = ? AND receiver = ?", (PENDING, receiver)
            ).fetchone()
        except sqlite3.Error:
            stored = None
        held = [r.created_at for r in self._memory.rows(PENDING) if r.lane[0] == receiver]
        oldest = min([t for t in (stored, *held) if t is not None], default=now)
        return max(0.0, now - float(oldest))

    def _update(
        self, row: RowKey, state: str, attempts: int, next_at: float, reason: str, *, any_state: bool = False
    ) -> None:
        if self._memory.get(row) is not None:
            self._memory.record(row, state, attempts, next_at, reason, any_state=any_state)
            return
        self._unsaved[row] = _Update(state, attempts, next_at, reason, any_state)
        self._save_updates()

    def _save_updates(self) -> None:
        """Write the outcomes held in memory; on a full disk they wait (and their rows are not resent)."""
        if not self._unsaved:
            return
        now = self.clock.time()
        try:
            with transaction(self._db):
                for row, update in self._unsaved.items():
                    # Only a delivery overrides a supersede: a retry of a superseded row is not needed any more.
                    condition = "" if update.any_state else " AND state = 'pending'"
                    self._db.execute(
                        "UPDATE outbox SET state = ?, attempts = ?, next_attempt_at = ?, updated_at = ?, reason = ?"
                        f" WHERE receiver = ? AND integration = ? AND dedup_key = ?{condition}",
                        (update.state, update.attempts, update.next_attempt_at, now, update.reason, *row),
                    )
        except sqlite3.Error as exc:
            self._write_log.failed(unsaved=len(self._unsaved), error=str(exc))
            return
        self._unsaved.clear()
        self._write_log.succeeded()

    def backoff(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds before the next attempt: exponential with jitter, at least what Retry-After asked (capped)."""
        exponential = min(self.backoff_max, self.backoff_base * 2.0 ** (attempts - 1))
        delay = exponential * self._random.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max))
        return delay

    def _purge_now_and_then(self) -> None:
        if self._purged_at is not None and self.clock.monotonic() - self._purged_at < self._purge_interval:
            return
        self._purged_at = self.clock.monotonic()
        now = self.clock.time()
        try:
            self._db.execute(
                "DELETE FROM outbox WHERE (state IN (?, ?) AND updated_at < ?) OR (state = ? AND updated_at < ?)",
                (DELIVERED, SUPERSEDED, now - self.delivered_retention, DEAD, now - self.dead_retention),
            )
        except sqlite3.Error as exc:  # a full disk: try again next time
            log.debug("outbox_purge_failed", error=str(exc))

    async def _finish_in_flight(self) -> None:
        tasks = [task for _, task in self._in_flight.values()]
        if tasks and self.drain_seconds > 0:
            await asyncio.wait(tasks, timeout=self.drain_seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- status and metrics ----------------------------------------------------------

    def pending(self) -> list[Entry]:
        return self._entries(PENDING)

    def dead_letters(self) -> list[Entry]:
        return self._entries(DEAD)

    def _entries(self, state: str) -> list[Entry]:
        rows = self._db.execute(f"SELECT {_ENTRY_COLUMNS} FROM outbox WHERE state = ? ORDER BY seq", (state,))
        held = [
            Entry(*r.key, r.lane[2], r.state, r.attempts, r.created_at, r.next_attempt_at, r.reason)
            for r in self._memory.rows(state)
        ]
        return [Entry(*row) for row in rows] + held

    def metrics(self) -> Sequence[MetricMeta]:
        return METRICS

    def samples(self) -> list[Sample]:
        out = [Sample("tripwired_outbox_dead_letters_total", (), float(self._dead_letters))]
        for receiver in sorted(self.integrations):
            failures = float(self._enqueue_failures[receiver])
            out.append(Sample("tripwired_notifications_enqueue_failures_total", labels_of(receiver=receiver), failures))
        dropped_keys = {(r, reason) for r in self.integrations for reason in (DROPPED_QUEUE_FULL, DROPPED_MAX_AGE)}
        for receiver, reason in sorted(dropped_keys | set(self._dropped)):
            labels = labels_of(receiver=receiver, reason=reason)
            out.append(
                Sample("tripwired_notifications_dropped_total", labels, float(self._dropped[(receiver, reason)]))
            )
        for (receiver, integration, outcome), count in sorted(self._outcomes.items()):
            labels = labels_of(receiver=receiver, integration=integration, outcome=outcome)
            out.append(Sample("tripwired_notifications_total", labels, float(count)))
        pending = dict(
            self._db.execute(
                "SELECT receiver, COUNT(*) FROM outbox WHERE state = ? GROUP BY receiver", (PENDING,)
            ).fetchall()
        )
        in_memory = self._memory.pending_by_receiver()
        for receiver in sorted(set(self.integrations) | set(pending) | set(in_memory)):
            waiting = float(pending.get(receiver, 0) + in_memory[receiver])
            out.append(Sample("tripwired_outbox_pending", labels_of(receiver=receiver), waiting))
            held = float(in_memory[receiver])
            out.append(Sample("tripwired_notifications_queued_in_memory", labels_of(receiver=receiver), held))
        for receiver, latency in sorted(self._latency.items()):
            out.extend(latency.samples("tripwired_notification_latency_seconds", labels_of(receiver=receiver)))
        return out


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


# -- the stored form of a notification --------------------------------------------------
