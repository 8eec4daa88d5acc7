"""The SQL collectors: data telemetry from tables, by built-in checks and by configured queries.

Two kinds per configured database (their runs are independent, so a slow query stalls only itself):

- `SqlTablesCollector` (`collector="sql"`, `instance=<database>`): for each configured table its
  row count, and with a timestamp column the newest and oldest timestamps (freshness is
  `time() - sql_table_newest_row_timestamp_seconds`, the age of the oldest row
  `time() - sql_table_oldest_row_timestamp_seconds`) and, with a `ttl`, the rows older than it.
  Each table is read in a session of its own, so a dropped table fails alone.
- `SqlQueryCollector` (`collector="sql_query"`, `instance=<database>/<query>`): one configured
  query, at its own interval and timeout; each row gives one sample per value column.

A failure is counted by kind in `sql_errors_total` and marks the run down (`tripwired_collector_up 0`)
with a message from which every secret has been removed.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnClause, Select, column, func, select, table, text

from agent.clock import Clock
from agent.collect.base import PartialCollectionError
from agent.collect.sql_db import (
    DATABASE_WIDE_KINDS,
    ERROR_KINDS,
    Database,
    QueryError,
    Session,
    cutoff_like,
    to_epoch,
    to_number,
)
from agent.config.sql import TABLES_QUERY, MetricKind, QueryConfig, RowCount, TableConfig
from agent.model import Labels, MetricMeta, Sample, counter, gauge, labels_of

# A run's statements share this part of its timeout, so the database cancels a slow one and the run
# reports it, before the runner's own timeout (the backstop) abandons the run.
STATEMENT_BUDGET_SHARE = 0.9

ERRORS_METRIC = counter(
    "sql_errors_total",
    'Errors of a database\'s table checks (query="tables"; one per table that failed) or of one of its '
    "queries, by kind (connection, authentication, timeout, missing_object, permission, query, result).",
)
TABLE_METRICS = (
    gauge("sql_table_rows", "Rows in the table (meeting its `where`), by count(*)."),
    gauge(
        "sql_table_newest_row_timestamp_seconds",
        "Newest value of the table's timestamp column, in seconds since the epoch; time() minus it is the "
        "data's freshness.",
    ),
    gauge(
        "sql_table_oldest_row_timestamp_seconds",
        "Oldest value of the table's timestamp column, in seconds since the epoch; time() minus it is the "
        "age of the oldest row.",
    ),
    gauge("sql_table_ttl_seconds", "The time-to-live configured for the table's rows."),
    gauge("sql_table_rows_past_ttl", "Rows whose timestamp column is older than the table's ttl."),
    ERRORS_METRIC,
)


class _Errors:
    """The error counts of one collector; a run abandoned by the runner may still count, hence the lock."""

    def __init__(self, database: str, query: str) -> None:
        self._labels = labels_of(database=database, query=query)
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, kind: str) -> None:
        with self._lock:
            self._counts[kind] += 1

    def samples(self) -> list[Sample]:
        with self._lock:
            return [
                Sample(ERRORS_METRIC.name, labels_of(self._labels, kind=kind), float(self._counts[kind]))
                for kind in ERROR_KINDS
            ]


class SqlTablesCollector:
    """Row counts, freshness, age and rows past their time-to-live of one database's tables."""

    def __init__(self, tables: Sequence[TableConfig], database: Database, clock: Clock, timeout: float) -> None:
        self._tables = tables
        self._database = database
        self._clock = clock
        self._budget = timeout * STATEMENT_BUDGET_SHARE
        self._errors = _Errors(database.name, TABLES_QUERY)

    @property
    def name(self) -> str:
        """The `collector` label: always `sql`."""
        return "sql"

    @property
    def instance(self) -> str:
        """The `instance` label: the database's configured name."""
        return self._database.name

    def metrics(self) -> Sequence[MetricMeta]:
        """The per-table families and the query error counter."""
        return TABLE_METRICS

    def close(self) -> None:
        """Close the database's pool (shared with its other collectors; closing twice is harmless)."""
        self._database.close()

    def collect(self) -> Sequence[Sample]:
        """Query every configured table within one time budget.

        A table that fails is reported and the others are still read; an error that would fail every
        table alike (connection, authentication) stops the run. Raises PartialCollectionError with what
        was read when anything failed.
        """
        deadline = self._database.deadline(self._budget)
        samples: list[Sample] = []
        failures: list[str] = []
        for config in self._tables:
            try:
                samples.extend(self._table_samples(config, deadline))
            except QueryError as error:
                self._errors.add(error.kind)
                if error.kind in DATABASE_WIDE_KINDS:  # the next tables would fail alike, each after a wait
                    failures.append(str(error))
                    break
                failures.append(f"table {config.qualified_name}: {error}")
        samples.extend(self._errors.samples())
        if failures:
            raise PartialCollectionError(samples, "; ".join(failures))
        return samples

    def _table_samples(self, config: TableConfig, deadline: float) -> list[Sample]:
        labels = labels_of(
            database=self._database.name, table=config.qualified_name, column=config.timestamp_column or ""
        )
        samples: list[Sample] = []
        with self._database.session(deadline) as session:
            if config.row_count is RowCount.EXACT:
                rows = session.execute(_from(config, func.count())).scalar_one()
                samples.append(Sample("sql_table_rows", labels, float(rows)))
            if config.timestamp_column is not None:
                samples.extend(self._timestamp_samples(session, config, labels))
        return samples

    def _timestamp_samples(self, session: Session, config: TableConfig, labels: Labels) -> list[Sample]:
        ts: ColumnClause[Any] = column(str(config.timestamp_column))
        oldest, newest = session.execute(_from(config, func.min(ts), func.max(ts))).one()
        samples = [
            Sample(name, labels, epoch)
            for name, epoch in (
                ("sql_table_oldest_row_timestamp_seconds", to_epoch(oldest)),
                ("sql_table_newest_row_timestamp_seconds", to_epoch(newest)),
            )
            if epoch is not None  # an empty table has no oldest row, rather than one from 1970
        ]
        if config.ttl is not None:
            past = self._rows_past_ttl(session, config, oldest, float(config.ttl))
            samples.append(Sample("sql_table_ttl_seconds", labels, float(config.ttl)))
            samples.append(Sample("sql_table_rows_past_ttl", labels, float(past)))
        return samples

    def _rows_past_ttl(self, session: Session, config: TableConfig, oldest: object, ttl: float) -> int:
        cutoff = self._clock.time() - ttl
        oldest_epoch = to_epoch(oldest)
        if oldest_epoch is None or oldest_epoch >= cutoff:
            return 0  # nothing is older than the cut-off: no need to count
        ts: ColumnClause[Any] = column(str(config.timestamp_column))
        statement = _from(config, func.count()).where(ts < cutoff_like(oldest, cutoff))
        return int(session.execute(statement).scalar_one())


def _from(config: TableConfig, *columns: Any) -> Select[Any]:
    """SELECT columns FROM the table (names quoted by SQLAlchemy) WHERE its condition."""
    statement = select(*columns).select_from(table(config.table, schema=config.schema))
    return statement.where(text(config.where)) if config.where else statement


class SqlQueryCollector:
    """One configured query of one database: each row a sample per value column."""

    def __init__(self, query: QueryConfig, database: Database, clock: Clock, timeout: float) -> None:
        self._query = query
        self._database = database
        self._clock = clock
        self._budget = timeout * STATEMENT_BUDGET_SHARE
        self._errors = _Errors(database.name, query.query_name)
        maker = counter if query.type is MetricKind.COUNTER else gauge
        self._meta = maker(query.metric_name, query.help)

    @property
    def name(self) -> str:
        """The `collector` label: always `sql_query`."""
        return "sql_query"

    @property
    def instance(self) -> str:
        """The `instance` label: `<database>/<query name>`."""
        return f"{self._database.name}/{self._query.query_name}"

    def metrics(self) -> Sequence[MetricMeta]:
        """The query's own family and the query error counter."""
        return (self._meta, ERRORS_METRIC)

    def close(self) -> None:
        """Close the database's pool (shared with its other collectors; closing twice is harmless)."""
        self._database.close()

    def collect(self) -> Sequence[Sample]:
        """Run the query once within the time budget; raises PartialCollectionError (with error counts) if it fails."""
        deadline = self._database.deadline(self._budget)
        try:
            with self._database.session(deadline) as session:
                result = session.execute(text(self._query.sql))
                samples = query_samples(self._query, self._database.name, [dict(row) for row in result.mappings()])
        except QueryError as error:
            self._errors.add(error.kind)
            raise PartialCollectionError(self._errors.samples(), str(error)) from error
        return [*samples, *self._errors.samples()]


def query_samples(query: QueryConfig, database: str, rows: Sequence[Mapping[str, Any]]) -> list[Sample]:
    """The samples of a query's rows (sql_exporter's mapping); a missing column or a repeated series fails."""
    if rows:
        missing = [c for c in (*query.key_labels, *query.values) if c not in rows[0]]
        if missing:
            raise QueryError("result", f"the query returned no column {', '.join(map(repr, missing))}")
    samples: dict[Labels, Sample] = {}
    for row in rows:
        keys = {label: "" if row[label] is None else str(row[label]) for label in query.key_labels}
        for value_column in query.values:
            value = _number(row[value_column], value_column)
            if value is None:
                continue  # NULL: no sample, as sql_exporter does
            named = {query.value_label: value_column} if query.value_label else {}
            labels = labels_of(keys, database=database, **named)
            if labels in samples:
                raise QueryError("result", f"two rows give the same labels {dict(labels)}: add key_labels")
            samples[labels] = Sample(query.metric_name, labels, value)
    return list(samples.values())


def _number(value: object, column_name: str) -> float | None:
    try:
        return to_number(value)
    except ValueError as error:
        raise QueryError("result", f"column {column_name!r}: {error}") from None
