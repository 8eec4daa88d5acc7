"""The shared state database, `<state_dir>/tripwired.db`: alert state, silences, the outbox.

Each component (ruler, notify_log, silences, outbox) keeps its own tables and records their
layout in the `schema_version` table, one row per component, so a newer layout is refused
rather than misread and an older one can be migrated. WAL mode lets the daemon and a CLI
command share the file.

`StateDbThread` is the worker thread a component's connection lives on when the event loop must
not wait on the disk (the outbox and the notification log).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

DB_NAME = "tripwired.db"

T = TypeVar("T")


class StateError(Exception):
    """A state database this version cannot use (written by a newer tripwired)."""


def open_state_db(state_dir: str | Path) -> sqlite3.Connection:
    """A connection to the state database in autocommit mode, creating the directory if needed."""
    path = Path(state_dir)
    path.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path / DB_NAME, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=5000")  # the ruler and a CLI command may hold the write lock briefly
    return db


def register_schema(db: sqlite3.Connection, component: str, version: int, schema: str) -> None:
    """Create the component's tables and record their version; StateError when the file is newer."""
    db.executescript(
        "CREATE TABLE IF NOT EXISTS schema_version (component TEXT PRIMARY KEY, version INTEGER NOT NULL);" + schema
    )
    row = db.execute("SELECT version FROM schema_version WHERE component = ?", (component,)).fetchone()
    if row is None:
        db.execute("INSERT INTO schema_version VALUES (?, ?)", (component, version))
    elif row[0] > version:
        raise StateError(f"{component} schema version {row[0]} is newer than {version}")


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on error, a failed COMMIT (a full disk) included.

    SQLite leaves the transaction open when COMMIT fails with SQLITE_FULL; without the rollback
    every later BEGIN on the connection would fail too, long after the space came back.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            with suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        raise


class StateDbThread:
    """One thread that owns state database connections: every SQLite call of its users runs there.

    The event loop never waits on the disk: `call` is awaited, `submit` returns at once. Jobs run
    one at a time in submission order, so writes submitted one after the other (an outbox row,
    then the notification log entry that says it was sent) reach the disk in that order.
    """

    def __init__(self, name: str) -> None:
        """A thread named `name` in thread listings, started at the first job."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    def submit(self, job: Callable[..., T], *args: Any) -> Future[T]:
        """Queue `job(*args)` and return at once; its result (or exception) comes in the future."""
        return self._executor.submit(job, *args)

    async def call(self, job: Callable[..., T], *args: Any) -> T:
        """Run `job(*args)` on the thread and await its result without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(job, *args))

    def run(self, job: Callable[..., T], *args: Any) -> T:
        """Run `job(*args)` on the thread and wait for it: for opening, closing and callers off the loop."""
        return self.submit(job, *args).result()

    def close(self) -> None:
        """Finish the queued jobs, then stop the thread."""
        self._executor.shutdown(wait=True)
