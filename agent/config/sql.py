"""Settings of the SQL collector: a database by URL, its tables' built-in checks and its queries.

The shapes follow the tools data engineers know: a query is sql_exporter's (`metric_name`, `help`,
`type`, `key_labels`, `values`, `value_label`, `sql`) with query-exporter's per-query `interval`
and `timeout`; a table check is dbt's source freshness (`timestamp_column` is its
`loaded_at_field`, `where` its `filter`) plus row counts and a time-to-live.

Validation does no I/O: a URL is parsed and its driver looked up, no connection is made.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from agent.config.types import Duration, Secret, secret_field

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# Labels every sample of the collector has; a query may not set them from a column.
RESERVED_LABELS = frozenset({"database", "query"})
# The `query` label value of the built-in table checks' errors; no query may take it.
TABLES_QUERY = "tables"


class MetricKind(enum.Enum):
    """The Prometheus type of a query's metric."""

    GAUGE = "gauge"
    COUNTER = "counter"


class RowCount(enum.Enum):
    """How a table's rows are counted."""

    EXACT = "exact"  # count(*): a full scan on PostgreSQL, so it can be turned off for huge tables
    NONE = "none"


@dataclass(frozen=True)
class TableConfig:
    """One table's built-in checks: row count, and with a timestamp column its freshness and age."""

    table: str
    schema: str | None = None
    timestamp_column: str | None = None  # the newest value is the data's freshness, the oldest its age
    ttl: Duration | None = None  # rows whose timestamp is older than this are counted as past it
    where: str | None = None  # an SQL condition the checked rows must meet (dbt's `filter`)
    row_count: RowCount = RowCount.EXACT

    def __post_init__(self) -> None:
        if not self.table:
            raise ValueError("table must not be empty")
        if self.ttl is not None and self.timestamp_column is None:
            raise ValueError("ttl needs a timestamp_column to measure rows' age by")
        if self.ttl is not None and self.ttl <= 0:
            raise ValueError(f"ttl must be positive, got {self.ttl:g}s")

    @property
    def qualified_name(self) -> str:
        """The `table` label: `schema.table`, or the table alone."""
        return f"{self.schema}.{self.table}" if self.schema else self.table


@dataclass(frozen=True)
class QueryConfig:
    """A query whose rows become samples of one metric (sql_exporter's shape)."""

    metric_name: str
    help: str
    sql: str
    values: list[str]  # the columns holding values; a row gives one sample per value column
    name: str | None = None  # the `query` label of its errors and its `instance`; default metric_name
    type: MetricKind = MetricKind.GAUGE
    key_labels: list[str] = field(default_factory=list)  # columns whose values become labels
    value_label: str | None = None  # with several values: the label naming the value's column
    interval: Duration | None = None  # default: the database's
    timeout: Duration | None = None

    def __post_init__(self) -> None:
        if not _METRIC_NAME.fullmatch(self.metric_name):
            raise ValueError(f"metric_name {self.metric_name!r} is not a valid Prometheus metric name")
        if not self.values:
            raise ValueError("values must name at least one column")
        if len(self.values) > 1 and self.value_label is None:
            raise ValueError("value_label is required when values names more than one column")
        labels = [*self.key_labels, *([self.value_label] if self.value_label else [])]
        for label in labels:
            if not _LABEL_NAME.fullmatch(label) or label.startswith("__"):
                raise ValueError(f"{label!r} is not a valid label name")
            if label in RESERVED_LABELS:
                raise ValueError(f"label {label!r} is set by the collector; rename the column")
        if len(set(labels)) != len(labels):
            raise ValueError("key_labels and value_label must not repeat a name")
        if self.query_name == TABLES_QUERY:
            raise ValueError(f"a query may not be named {TABLES_QUERY!r} (the built-in table checks are)")

    @property
    def query_name(self) -> str:
        """The name the query is known by (its `query` label): `name`, else the metric name."""
        return self.name or self.metric_name


@dataclass(frozen=True)
class SqlConfig:
    """One database: where it is, how often to look, and what to read from it."""

    name: str
    url: Secret = field(metadata={"secret": True})  # or url_file: the whole URL may be the secret
    password: Secret | None = secret_field()  # or password_file: replaces the URL's password
    interval: Duration | None = None
    timeout: Duration | None = None
    job: str | None = None  # the `job` label of its samples and `up`; default: see agent/targets.py
    instance: str | None = None  # the `instance` label; default: the agent's listen address
    tables: list[TableConfig] = field(default_factory=list)
    queries: list[QueryConfig] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("name must not be empty")
        check_url(self.url)
        names = [q.query_name for q in self.queries if q is not None]  # None: refused, reported
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"query names must be unique (set `name`): {', '.join(duplicates)}")
        # Their series would be the same: {database, table, column}.
        checked = [(t.qualified_name, t.timestamp_column or "") for t in self.tables if t is not None]
        twice = sorted(
            {
                f"{table} ({column or 'no timestamp_column'})"
                for table, column in checked
                if checked.count((table, column)) > 1
            }
        )
        if twice:
            raise ValueError(f"a table is checked twice with the same timestamp_column: {', '.join(twice)}")


def check_url(url: str) -> None:
    """Refuse a URL SQLAlchemy cannot parse or whose driver is not installed, without connecting."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        dialect = make_url(url).get_dialect()
    except NoSuchModuleError as exc:  # an ArgumentError too: first
        raise ValueError(f"url names an unknown database dialect or driver: {exc}") from None
    except ArgumentError:
        raise ValueError("url is not a database URL (dialect+driver://user@host:port/database)") from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        raise ValueError(
            f"the database driver is not installed ({exc.name}); for PostgreSQL: pip install 'tripwired[postgres]'"
        ) from None
