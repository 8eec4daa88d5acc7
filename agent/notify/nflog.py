"""The notification log, as Alertmanager's nflog: what was last sent per receiver and group.

The dispatcher asks it before sending, so an unchanged group is not notified again before its
repeat_interval, a restart does not re-send what was already sent, and a group whose alerts
all resolved is told so once: Alertmanager's DedupStage (`needs_update`) and SetNotifiesStage
(`NotifyLog.log`). Entries live in `<state_dir>/tripwired.db` (table `notify_log`), written on
the outbox's database thread, and expire after the retention, as Alertmanager's do.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from agent.clock import Clock
from agent.lograte import RepeatedFailure
from agent.statedb import StateDbThread, open_state_db, register_schema, transaction

COMPONENT = "notify_log"
SCHEMA_VERSION = 1
RETENTION_SECONDS = 120 * 3600  # Alertmanager's --data.retention

_SCHEMA = """
CREATE TABLE IF NOT EXISTS notify_log (
    receiver TEXT NOT NULL,
    group_key TEXT NOT NULL,
    firing TEXT NOT NULL,
    resolved TEXT NOT NULL,
    sent_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (receiver, group_key)
);
"""


@dataclass(frozen=True)
class LogEntry:
    """The last notification of one group to one receiver: alert fingerprints and when."""

    firing: frozenset[str]
    resolved: frozenset[str]
    sent_at: float


def needs_update(
    entry: LogEntry | None, firing: Collection[str], resolved: Collection[str], repeat_interval: float, now: float
) -> bool:
    """Alertmanager's DedupStage.needsUpdate, for receivers that want resolved notifications."""
    if entry is None:
        return bool(firing)  # never tell a receiver about a group it has not heard of resolving
    if not entry.firing.issuperset(firing):
        return True  # new alerts fire
    if not firing:
        return bool(entry.firing)  # all resolved: say so once
    if not entry.resolved.issuperset(resolved):
        return True  # some alerts resolved since
    return entry.sent_at < now - repeat_interval


class NotifyLog:
    """Persisted LogEntry per (receiver, group key); read from memory, written on a database thread."""

    def __init__(self, state_dir: str | Path, clock: Clock, *, db_thread: StateDbThread | None = None) -> None:
        """Open the log; with `db_thread` (the outbox's), its writes queue behind the outbox's own."""
        self.clock = clock
        self._owns_thread = db_thread is None
        self._thread = db_thread or StateDbThread("notify-log-db")
        self._failures = RepeatedFailure("notify_log_write_failed", clock.monotonic)
        try:
            self._db, self._entries = self._thread.run(_open, state_dir)
        except BaseException:
            if self._owns_thread:
                self._thread.close()
            raise

    def close(self) -> None:
        """Write what is queued and close the database (and the thread, if the log started it)."""
        self._thread.run(self._db.close)
        if self._owns_thread:
            self._thread.close()

    def get(self, receiver: str, group_key: str) -> LogEntry | None:
        """The group's last notification to the receiver, unless it expired."""
        entry = self._entries.get((receiver, group_key))
        if entry is None or entry.sent_at + RETENTION_SECONDS < self.clock.time():
            return None
        return entry

    def log(self, receiver: str, group_key: str, firing: Collection[str], resolved: Collection[str]) -> None:
        """Record a notification just handed to the outbox, and forget expired entries.

        The entry counts at once; it is written on the database thread after the outbox's row
        (same thread, in order). If the disk refuses it (full), the outbox row already stored
        carries the same dedup key, so a restart that decides the same again sends nothing twice.
        """
        now = self.clock.time()
        self._entries[(receiver, group_key)] = LogEntry(frozenset(firing), frozenset(resolved), now)
        row = (
            receiver,
            group_key,
            json.dumps(sorted(firing)),
            json.dumps(sorted(resolved)),
            now,
            now + RETENTION_SECONDS,
        )
        self._thread.submit(self._write, row, now)

    def _write(self, row: tuple[object, ...], now: float) -> None:
        try:
            with transaction(self._db):
                self._db.execute("INSERT OR REPLACE INTO notify_log VALUES (?, ?, ?, ?, ?, ?)", row)
                self._db.execute("DELETE FROM notify_log WHERE expires_at < ?", (now,))
        except sqlite3.Error as exc:
            self._failures.failed(error=str(exc))
            return
        self._failures.succeeded()


def _open(state_dir: str | Path) -> tuple[sqlite3.Connection, dict[tuple[str, str], LogEntry]]:
    """Open the log's connection (on its database thread) and read every entry."""
    db = open_state_db(state_dir)
    register_schema(db, COMPONENT, SCHEMA_VERSION, _SCHEMA)
    rows = db.execute("SELECT receiver, group_key, firing, resolved, sent_at FROM notify_log").fetchall()
    entries = {
        (r[0], r[1]): LogEntry(frozenset(json.loads(r[2])), frozenset(json.loads(r[3])), float(r[4])) for r in rows
    }
    return db, entries
