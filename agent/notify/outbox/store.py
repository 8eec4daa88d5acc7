"""The outbox's store: its SQLite table and the rows the disk refused, on the outbox's database thread.

One row per (receiver, integration, dedup key) in `<state_dir>/tripwired.db` (shared with the
ruler; WAL; synchronous=FULL, so a commit survives a power cut, not only a kill -9). Every method
of `OutboxStore` runs on one `StateDbThread` (agent/statedb.py), which owns the connection: the
event loop hands it jobs and awaits them, and never waits on the disk itself.

A newer notification for a group supersedes an older one not yet delivered. Delivered rows are
kept for `delivered_retention`: the notification log of the outbox, which recognises a
notification with the same dedup key as its group's last one (re-enqueued by a restarted
dispatcher) and does not send it again. When the disk refuses a write (full, read-only), the
rows go to the memory lane (memory_lane.py) and are written when it takes writes again.
What the status page and /metrics read is published as a `View` after each change.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from agent.clock import Clock
from agent.lograte import RepeatedFailure
from agent.model import MetricMeta, MetricType, Sample, counter, gauge, labels_of
from agent.notify.model import Notification
from agent.notify.outbox.memory_lane import (
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
from agent.notify.outbox.stored import notification_to_json
from agent.statedb import open_state_db, register_schema, transaction

log = structlog.get_logger()

COMPONENT = "outbox"
SCHEMA_VERSION = 1
_BATCH = 256
PUBLISH_SECONDS = 0.2  # how stale the status page's and /metrics' view of a large outbox may be
SMALL_VIEW_ROWS = 100

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
class Update:
    """What an attempt came to, kept in memory until the state database accepts it."""

    state: str
    attempts: int
    next_attempt_at: float
    reason: str
    any_state: bool

    def due(self, now: float) -> bool:
        """Whether the row waits for an attempt that is due at `now`."""
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


@dataclass(frozen=True, slots=True)
class View:
    """What the status page and /metrics read, as of the store's last change."""

    pending: tuple[Entry, ...] = ()
    dead: tuple[Entry, ...] = ()
    samples: tuple[Sample, ...] = ()


@dataclass(slots=True)
class Counts:
    """The outbox's counters, kept by the store (only its thread writes them)."""

    outcomes: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    dead_letters: int = 0
    enqueue_failures: Counter[str] = field(default_factory=Counter)
    dropped: Counter[tuple[str, str]] = field(default_factory=Counter)


class OutboxStore:
    """The outbox table and the memory lane; every method runs on the outbox's database thread."""

    def __init__(
        self,
        state_dir: str | Path,
        clock: Clock,
        *,
        capacity: int,
        delivered_retention: float,
        dead_retention: float,
        receivers: Sequence[str] = (),
    ) -> None:
        """Open the table (StateError if a newer version wrote it) and publish the first view."""
        self.clock = clock
        self.capacity = capacity
        self.delivered_retention = delivered_retention
        self.dead_retention = dead_retention
        self._db = open_state_db(state_dir)
        # An acknowledged delivery must survive a power cut too, not only a kill -9 (WAL + NORMAL).
        self._db.execute("PRAGMA synchronous=FULL")
        register_schema(self._db, COMPONENT, SCHEMA_VERSION, _SCHEMA)
        self.counts = Counts()
        self._enqueue_log = RepeatedFailure("notification_enqueue_failed", clock.monotonic)
        self._write_log = RepeatedFailure("outbox_write_failed", clock.monotonic)
        self._drop_log = RepeatedFailure("notifications_dropped", clock.monotonic)
        # Outcomes the database refused (a full disk): a delivered row is not sent again meanwhile.
        self._unsaved: dict[RowKey, Update] = {}
        # Notifications the database refused, delivered from memory until it takes them.
        self._memory = MemoryLane(capacity)
        self._memory_log = RepeatedFailure("notifications_held_in_memory", clock.monotonic)
        self._purged_at: float | None = None
        self._purge_interval = min(60.0, delivered_retention)
        self._changed = True
        self._view_receivers: tuple[str, ...] = ()
        self._published_at = 0.0
        self.view = View()
        self.publish(receivers, now=True)

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def execute(self, sql: str) -> list[tuple[object, ...]]:
        """Run one statement and return its rows (for tests that must act on the database itself)."""
        return self._db.execute(sql).fetchall()

    # -- enqueue -------------------------------------------------------------------

    def enqueue(
        self,
        notification: Notification,
        integrations: Sequence[str],
        busy: Mapping[RowKey, GroupLane],
    ) -> None:
        """Write one row per integration of the notification's receiver, before anything is sent.

        A notification equal to the last one stored for its group and integration (same dedup key)
        is a duplicate and ignored, whether that one is pending, delivered or dead: this is what
        stops a restarted dispatcher from re-sending what was acknowledged. The same key after a
        different one (an alert that resolved and fired again) is a new notification. What the
        database refuses is held in memory and delivered all the same. `busy`: the rows in flight.
        """
        self._changed = True
        now = self.clock.time()
        body = notification_to_json(notification)
        self.persist_memory(busy)
        lanes = [(notification.receiver, integration, notification.group_key) for integration in integrations]
        on_disk = [lane for lane in lanes if not self._memory.has_lane(lane)]
        dropped = self._store(notification, on_disk, body, now) if on_disk else []
        if dropped is None:  # the database refused it: every lane goes to memory
            on_disk, dropped = [], []
        for lane in lanes:
            if lane not in on_disk and self._latest_key(lane, now) != notification.dedup_key:
                dropped += self._hold_in_memory(MemoryRow(lane, notification.dedup_key, body, now, now), busy)
        self._count_drops(dropped, DROPPED_QUEUE_FULL)
        self.publish(self._view_receivers)

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
            self.counts.enqueue_failures[notification.receiver] += 1
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

    def _hold_in_memory(self, row: MemoryRow, busy: Mapping[RowKey, GroupLane]) -> list[str]:
        """Keep a row the database refused; say once that a crash now would lose it."""
        dropped = self._memory.add(row, busy)
        self._memory_log.failed(
            receiver=row.lane[0],
            queued_in_memory=len(self._memory),
            risk="a crash before the state disk takes writes again loses these notifications",
        )
        return dropped

    def persist_memory(self, busy: Mapping[RowKey, GroupLane]) -> None:
        """Write the memory lanes none of whose rows is in flight (`busy`) to the database, in order."""
        lanes = self._memory.settled_lanes(busy) if len(self._memory) else []
        if not lanes:
            return
        self._changed = True
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
            self.counts.dropped[(receiver, reason)] += 1
            self.counts.dead_letters += 1
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
    # -- delivery ------------------------------------------------------------------

    def cycle(
        self, busy: Mapping[RowKey, GroupLane], max_concurrency: int, receivers: Sequence[str]
    ) -> tuple[list[tuple[RowKey, GroupLane]], float]:
        """One turn of the delivery loop: save what waits, pick the rows to start, and how long to sleep.

        A row is started unless its group already has one in flight (a resolve never overtakes its
        trigger) or its receiver has `max_concurrency` in flight.
        """
        self.save_updates()
        self.persist_memory(busy)
        due = self._due(busy, max_concurrency)
        self._purge_now_and_then()
        self.publish(receivers)
        return due, self._sleep_seconds()

    def _due(self, busy: Mapping[RowKey, GroupLane], max_concurrency: int) -> list[tuple[RowKey, GroupLane]]:
        busy_lanes = set(busy.values())
        per_receiver = Counter(key[0] for key in busy)
        now = self.clock.time()
        started: list[tuple[RowKey, GroupLane]] = []
        for receiver, integration, key, group_key in self._due_rows() + self._memory.due(now):
            lane = (receiver, integration, group_key)
            if lane in busy_lanes or per_receiver[receiver] >= max_concurrency:
                continue
            if self._memory.has_lane(lane) and self._memory.get((receiver, integration, key)) is None:
                continue  # a stored row of a group whose newer notifications are in memory: superseded

            row = (receiver, integration, key)
            unsaved = self._unsaved.get(row)
            if row in busy or (unsaved is not None and not unsaved.due(now)):
                continue
            busy_lanes.add(lane)
            per_receiver[receiver] += 1
            started.append((row, lane))
        return started

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
        """Until the next retry or purge falls due; at most a second while something waits for the disk or a view
        waits to be published. An enqueue wakes the loop, and so do rows due but waiting for a slot when one frees:
        an idle outbox does not poll (once a second cost a database query and two thread hand-offs)."""
        now = self.clock.time()
        row = self._db.execute(
            "SELECT MIN(next_attempt_at) FROM outbox WHERE state = ? AND next_attempt_at > ?", (PENDING, now)
        ).fetchone()
        times = [float(t) - now for t in (row[0], self._memory.next_attempt_at(now)) if t is not None]
        retrying = bool(self._unsaved) or len(self._memory) > 0 or self._changed
        return max(0.01, min([*times, 1.0 if retrying else self._until_purge()]))

    def _until_purge(self) -> float:
        if self._purged_at is None:
            return 0.0
        return self._purge_interval - (self.clock.monotonic() - self._purged_at)

    def stored(self, row: RowKey) -> tuple[str, int, float] | None:
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

    def record(self, row: RowKey, outcome: str, update: Update, gave_up_on_age: bool) -> float:
        """Write what an attempt came to (`outcome`: an Outcome value); how long the receiver's oldest
        undelivered notification has waited, for the retry log."""
        self._changed = True
        self.counts.outcomes[(row[0], row[1], outcome)] += 1
        if gave_up_on_age:
            self.counts.dropped[(row[0], DROPPED_MAX_AGE)] += 1
        if update.state == DEAD:
            self.counts.dead_letters += 1
        self._update(row, update)
        return self._oldest_pending_seconds(row[0], self.clock.time()) if update.state == PENDING else 0.0

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

    def _update(self, row: RowKey, update: Update) -> None:
        if self._memory.get(row) is not None:
            self._memory.record(
                row, update.state, update.attempts, update.next_attempt_at, update.reason, any_state=update.any_state
            )
            return
        self._unsaved[row] = update
        self.save_updates()

    def save_updates(self) -> None:
        """Write the outcomes held in memory; on a full disk they wait (and their rows are not resent)."""
        if not self._unsaved:
            return
        self._changed = True
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

    def _purge_now_and_then(self) -> None:
        if self._purged_at is not None and self.clock.monotonic() - self._purged_at < self._purge_interval:
            return
        self._purged_at = self.clock.monotonic()
        self._changed = True
        now = self.clock.time()
        try:
            self._db.execute(
                "DELETE FROM outbox WHERE (state IN (?, ?) AND updated_at < ?) OR (state = ? AND updated_at < ?)",
                (DELIVERED, SUPERSEDED, now - self.delivered_retention, DEAD, now - self.dead_retention),
            )
        except sqlite3.Error as exc:  # a full disk: try again next time
            log.debug("outbox_purge_failed", error=str(exc))

    # -- status and metrics ----------------------------------------------------------

    def publish(self, receivers: Sequence[str], *, now: bool = False) -> View:
        """Read what the status page and /metrics show into `view`, if anything changed since.

        A view of more than SMALL_VIEW_ROWS rows is read again at most every PUBLISH_SECONDS unless
        `now`: reading a whole backlog after each enqueue and delivery would make it quadratic;
        what changed meanwhile is published by a later cycle. A small view is always current, so
        a view never shows an empty outbox that is not.
        """
        small = len(self.view.pending) + len(self.view.dead) <= SMALL_VIEW_ROWS
        due = now or small or time.monotonic() - self._published_at >= PUBLISH_SECONDS
        if due and (self._changed or tuple(receivers) != self._view_receivers):
            self._changed, self._view_receivers = False, tuple(receivers)
            self._published_at = time.monotonic()
            samples = tuple(self._samples(receivers))
            self.view = View(tuple(self._entries(PENDING)), tuple(self._entries(DEAD)), samples)
        return self.view

    def _entries(self, state: str) -> list[Entry]:
        rows = self._db.execute(f"SELECT {_ENTRY_COLUMNS} FROM outbox WHERE state = ? ORDER BY seq", (state,))
        held = [
            Entry(*r.key, r.lane[2], r.state, r.attempts, r.created_at, r.next_attempt_at, r.reason)
            for r in self._memory.rows(state)
        ]
        return [Entry(*row) for row in rows] + held

    def _samples(self, receivers: Sequence[str]) -> list[Sample]:
        counts = self.counts
        out = [Sample("tripwired_outbox_dead_letters_total", (), float(counts.dead_letters))]
        for receiver in sorted(receivers):
            failures = float(counts.enqueue_failures[receiver])
            out.append(Sample("tripwired_notifications_enqueue_failures_total", labels_of(receiver=receiver), failures))
        dropped_keys = {(r, reason) for r in receivers for reason in (DROPPED_QUEUE_FULL, DROPPED_MAX_AGE)}
        for receiver, reason in sorted(dropped_keys | set(counts.dropped)):
            labels = labels_of(receiver=receiver, reason=reason)
            out.append(
                Sample("tripwired_notifications_dropped_total", labels, float(counts.dropped[(receiver, reason)]))
            )
        for (receiver, integration, outcome), count in sorted(counts.outcomes.items()):
            labels = labels_of(receiver=receiver, integration=integration, outcome=outcome)
            out.append(Sample("tripwired_notifications_total", labels, float(count)))
        pending = dict(
            self._db.execute(
                "SELECT receiver, COUNT(*) FROM outbox WHERE state = ? GROUP BY receiver", (PENDING,)
            ).fetchall()
        )
        in_memory = self._memory.pending_by_receiver()
        for receiver in sorted(set(receivers) | set(pending) | set(in_memory)):
            waiting = float(pending.get(receiver, 0) + in_memory[receiver])
            out.append(Sample("tripwired_outbox_pending", labels_of(receiver=receiver), waiting))
            held = float(in_memory[receiver])
            out.append(Sample("tripwired_notifications_queued_in_memory", labels_of(receiver=receiver), held))
        return out
