"""One database of the SQL collector: its engine, bounded read-only sessions, and its errors by kind.

Every run opens a session with a deadline. Each statement gets what is left of it, enforced by the
database itself where it can be (PostgreSQL's `statement_timeout`, an SQLite progress handler that
interrupts the statement), so a slow query is cancelled and reported by the run, not abandoned in
its thread. Sessions are read-only: a read-only transaction on PostgreSQL, `query_only` and a file
opened read-only (never created) on SQLite. For other databases, give the agent a read-only role.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, create_engine, exc
from sqlalchemy.engine import URL, Connection, CursorResult, make_url
from sqlalchemy.sql import Executable

from agent.config.sql import SqlConfig
from agent.redact import redact_excerpt, secret_values

# Why a query failed, the `kind` label of sql_errors_total.
ERROR_KINDS = ("connection", "authentication", "timeout", "missing_object", "permission", "query", "result")
# Kinds that fail every statement of the run alike: the run stops at the first.
DATABASE_WIDE_KINDS = frozenset({"connection", "authentication", "timeout"})

_ERROR_EXCERPT = 300
_SQLITE_PROGRESS_STEPS = 10_000  # virtual machine instructions between deadline checks (well under 1 ms)
_PG_STATES = {
    "57014": "timeout",  # query_canceled: our statement_timeout
    "55P03": "timeout",  # lock_not_available
    "28P01": "authentication",
    "28000": "authentication",
    "42P01": "missing_object",  # undefined_table
    "42703": "missing_object",  # undefined_column
    "3F000": "missing_object",  # invalid_schema_name
    "3D000": "missing_object",  # invalid_catalog_name: the database itself
    "42501": "permission",
    "25006": "permission",  # read_only_sql_transaction: the query tried to write
}
# Errors without an SQLSTATE: SQLite's, and libpq's at connection time (the server's FATAL, in text).
_MESSAGES = (
    ("password authentication failed", "authentication"),
    ("no password supplied", "authentication"),
    ("interrupted", "timeout"),
    ("database is locked", "timeout"),
    ("no such table", "missing_object"),
    ("no such column", "missing_object"),
    ("readonly database", "permission"),
    ("unable to open database", "connection"),
    ("file is not a database", "connection"),
)


class QueryError(Exception):
    """A failed statement or run: its kind (one of ERROR_KINDS) and a message free of secrets."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


class Database:
    """The engine of one configured database, made on first use and shared by its collectors."""

    def __init__(self, config: SqlConfig, monotonic: Callable[[], float]) -> None:
        self._config = config
        self._monotonic = monotonic
        self._secrets = secret_values(config)
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The database's configured name, its `database` label."""
        return self._config.name

    def engine(self) -> Engine:
        """The engine; creating it opens no connection (that happens lazily, per session)."""
        with self._lock:
            if self._engine is None:
                self._engine = _create_engine(self._config)
            return self._engine

    def deadline(self, budget: float) -> float:
        """The deadline of a run given `budget` seconds, on the clock sessions measure time by."""
        return self._monotonic() + budget

    def close(self) -> None:
        """Close the pooled connections (the collectors are being replaced or the daemon stops)."""
        with self._lock:
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.dispose()

    @contextlib.contextmanager
    def session(self, deadline: float) -> Iterator[Session]:
        """A read-only session whose statements must all end by `deadline` (see `deadline`)."""
        try:
            with self.engine().connect() as conn:
                session = Session(conn, deadline, self._monotonic)
                with session.bounded():
                    yield session
        except QueryError:
            raise
        except Exception as error:
            raise self.classify(error) from error

    def classify(self, error: BaseException) -> QueryError:
        """The kind of a driver's or SQLAlchemy's error, with its message redacted."""
        message = " ".join(str(getattr(error, "orig", None) or error).split())
        return QueryError(_kind_of(error), redact_excerpt(message, self._secrets, _ERROR_EXCERPT))


class Session:
    """One connection in one read-only transaction, with a deadline shared by its statements."""

    def __init__(self, conn: Connection, deadline: float, monotonic: Callable[[], float]) -> None:
        self._conn = conn
        self._deadline = deadline
        self._monotonic = monotonic
        self._dialect = conn.dialect.name
        self._began = False

    @contextlib.contextmanager
    def bounded(self) -> Iterator[None]:
        """Make the session read-only and interruptible; undo what outlives it on the pooled connection."""
        if self._dialect != "sqlite":  # PostgreSQL's settings go with each statement's timeout (execute)
            yield
            return
        raw: Any = self._conn.connection.driver_connection
        self._conn.exec_driver_sql("PRAGMA query_only = 1")
        raw.set_progress_handler(lambda: int(self._monotonic() > self._deadline), _SQLITE_PROGRESS_STEPS)
        try:
            yield
        finally:
            raw.set_progress_handler(None, 0)

    def execute(self, statement: Executable) -> CursorResult[Any]:
        """Run one statement within what is left of the session's budget."""
        remaining = self._deadline - self._monotonic()
        if remaining <= 0:
            raise QueryError("timeout", "the run's time budget was spent before this statement")
        if self._dialect == "postgresql":
            self._set_local(statement_timeout=str(max(1, int(remaining * 1000))))
        return self._conn.execute(statement)

    def _set_local(self, **settings: str) -> None:
        """SET LOCAL, in one round trip; the first also makes the transaction read-only and its time UTC."""
        if not self._began:
            self._began = True
            # A naive timestamp is read as UTC, and compared as UTC with the aware cut-offs we bind.
            settings = {"transaction_read_only": "on", "TimeZone": "UTC", **settings}
        calls = ", ".join(f"set_config('{name}', %({name})s, true)" for name in settings)
        self._conn.exec_driver_sql(f"SELECT {calls}", settings)


def _create_engine(config: SqlConfig) -> Engine:
    url = make_url(config.url)
    if config.password is not None:
        url = url.set(password=str(config.password))
    if url.get_backend_name() == "sqlite":
        url = _read_only_sqlite(url)
    # pre_ping: a pooled connection that died with a database restart is replaced, not used and failed.
    return create_engine(url, pool_pre_ping=True, connect_args=_connect_args(url, config))


def _read_only_sqlite(url: URL) -> URL:
    """An SQLite file opened read-only: a wrong path must fail, not create an empty database."""
    if not url.database or url.database == ":memory:" or url.query.get("uri"):
        return url
    return url.set(database=f"file:{url.database}", query={**url.query, "mode": "ro", "uri": "true"})


def _connect_args(url: URL, config: SqlConfig) -> dict[str, Any]:
    timeout = float(config.timeout or 10)
    if url.get_backend_name() == "sqlite":
        return {"timeout": timeout}  # how long to wait for a writer's lock
    if url.get_backend_name() == "postgresql" and url.get_driver_name() in ("psycopg", "psycopg2"):
        # libpq's minimum timeout is 2 seconds; the name tells a DBA whose sessions these are (pg_stat_activity).
        return {"connect_timeout": max(2, int(timeout)), "application_name": "tripwired"}
    return {}


def _kind_of(error: BaseException) -> str:
    if isinstance(error, exc.TimeoutError):  # no pooled connection came free in time
        return "timeout"
    orig = getattr(error, "orig", None)
    state = getattr(orig, "sqlstate", None)
    if isinstance(state, str):
        return _PG_STATES.get(state, "connection" if state.startswith(("08", "57P")) else "query")
    text = str(orig or error).lower()
    for fragment, kind in _MESSAGES:
        if fragment in text:
            return kind
    if isinstance(error, exc.OperationalError | exc.InterfaceError | exc.DisconnectionError):
        return "connection"  # psycopg's "connection refused" has no SQLSTATE
    return "query" if isinstance(error, exc.DBAPIError) else "result"


def to_number(value: object) -> float | None:
    """A value read from a row as a sample value: numbers as they are, timestamps in epoch seconds."""
    if value is None:
        return None
    if isinstance(value, bool | int | float | Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date | str):
        return to_epoch(value)  # text: a number, or an ISO 8601 timestamp (SQLite's dates)
    raise ValueError(f"a {type(value).__name__} is not a number")


def to_epoch(value: object) -> float | None:
    """A timestamp column's value in seconds since the epoch; a naive one is taken as UTC.

    Text (SQLite has no timestamp type) is ISO 8601 or a number of seconds; numbers are seconds.
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = _parse_text_timestamp(value)
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return aware.timestamp()
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp()
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"a {type(value).__name__} is not a timestamp")


def _parse_text_timestamp(text: str) -> dt.datetime | float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not an ISO 8601 timestamp") from None


def cutoff_like(sample: object, epoch: float) -> object:
    """The instant `epoch` in the form of a column's value `sample`, to compare with it in SQL.

    A cut-off bound as the column's own type compares right on every database: an aware or naive
    (UTC) datetime, a date, a number of seconds, or text formatted as the column's text is.
    """
    instant = dt.datetime.fromtimestamp(epoch, dt.UTC)
    if isinstance(sample, dt.datetime):
        return instant if sample.tzinfo is not None else instant.replace(tzinfo=None)
    if isinstance(sample, dt.date):
        return instant.date()
    if isinstance(sample, str):
        return _text_like(sample, instant)
    return epoch


def _text_like(sample: str, instant: dt.datetime) -> object:
    parsed = _parse_text_timestamp(sample)
    if isinstance(parsed, float):
        return instant.timestamp()
    separator = "T" if "T" in sample else " "
    text = instant.replace(tzinfo=None).isoformat(sep=separator)
    return text + ("Z" if sample.endswith("Z") else "+00:00" if parsed.tzinfo is not None else "")
