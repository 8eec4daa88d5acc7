"""The SQL collectors against a real PostgreSQL: timestamps with and without time zone, timeouts, read-only."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

import pytest

from agent.clock import SystemClock
from agent.collect.base import PartialCollectionError
from agent.collect.sql import SqlQueryCollector, SqlTablesCollector
from agent.collect.sql_db import Database
from agent.config.schema import Duration, Secret
from agent.config.sql import QueryConfig, SqlConfig, TableConfig
from agent.model import Sample
from scripts.postgres_server import PostgresServer
from tests.conftest import wait_until

DAY = 86400.0


@pytest.fixture
def events(postgres: PostgresServer) -> Iterator[str]:
    """A table `events` with rows 1, 10, 95 and 120 days old, in both kinds of timestamp column."""
    postgres.execute(
        "DROP TABLE IF EXISTS events",
        "CREATE TABLE events (id serial, at_tz timestamptz, at_naive timestamp, kind text)",
        "INSERT INTO events (at_tz, at_naive, kind) SELECT now() - d * interval '1 day', "
        "(now() - d * interval '1 day') AT TIME ZONE 'UTC', CASE WHEN d < 50 THEN 'new' ELSE 'old' END "
        "FROM unnest(ARRAY[1, 10, 95, 120]) AS d",
    )
    yield "events"
    postgres.execute("DROP TABLE IF EXISTS events")


OpenDatabase = Callable[..., Database]


@pytest.fixture
def database() -> Iterator[OpenDatabase]:
    """Databases for the test's collectors, closed at its end: no pooled connection outlives a test."""
    opened: list[Database] = []

    def open_database(url: str, timeout: float = 5.0) -> Database:
        config = SqlConfig(name="pg", url=Secret(url), timeout=Duration(timeout))
        opened.append(Database(config, time.monotonic))
        return opened[-1]

    yield open_database
    for db in opened:
        db.close()


def by_name(samples: Sequence[Sample]) -> dict[str, float]:
    return {s.name: s.value for s in samples if s.name.startswith("sql_table")}


@pytest.mark.parametrize("column", ["at_tz", "at_naive"])
def test_freshness_age_and_rows_past_ttl_of_a_postgres_table(
    postgres: PostgresServer, events: str, column: str, database: OpenDatabase
) -> None:
    config = TableConfig(events, schema="public", timestamp_column=column, ttl=Duration(90 * DAY))
    now = time.time()
    got = by_name(SqlTablesCollector([config], database(postgres.url()), SystemClock(), 5.0).collect())
    assert 4.0 == got["sql_table_rows"]
    assert 2.0 == got["sql_table_rows_past_ttl"]
    assert abs(got["sql_table_newest_row_timestamp_seconds"] - (now - DAY)) < 60
    assert abs(got["sql_table_oldest_row_timestamp_seconds"] - (now - 120 * DAY)) < 60


def test_a_query_maps_rows_to_labelled_samples(postgres: PostgresServer, events: str, database: OpenDatabase) -> None:
    query = QueryConfig(
        "events_by_kind", "h", "SELECT kind, count(*) AS n FROM events GROUP BY kind", ["n"], key_labels=["kind"]
    )
    samples = SqlQueryCollector(query, database(postgres.url()), SystemClock(), 5.0).collect()
    assert {"new": 2.0, "old": 2.0} == {dict(s.labels)["kind"]: s.value for s in samples if s.name == "events_by_kind"}


def test_the_session_is_read_only_even_for_a_superuser(
    postgres: PostgresServer, events: str, database: OpenDatabase
) -> None:
    url = postgres.url("postgres", "postgres-test-password")
    query = QueryConfig("deleted", "h", "DELETE FROM events RETURNING id", ["id"])
    with pytest.raises(PartialCollectionError, match=r"^permission: cannot execute DELETE in a read-only transaction"):
        SqlQueryCollector(query, database(url), SystemClock(), 5.0).collect()
    assert [(4,)] == postgres.execute("SELECT count(*) FROM events")


def test_a_slow_query_is_cancelled_by_the_server_within_its_budget(
    postgres: PostgresServer, database: OpenDatabase
) -> None:
    query = QueryConfig("slept", "h", "SELECT 1 AS one FROM pg_sleep(600)", ["one"])
    with pytest.raises(PartialCollectionError, match=r"^timeout: canceling statement due to statement timeout"):
        SqlQueryCollector(query, database(postgres.url(), timeout=2.0), SystemClock(), 2.0).collect()
    # Cancelled on the server, not abandoned there: nothing is left sleeping.
    sleeping = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE state = 'active' AND query LIKE '%pg_sleep(600)%' AND pid <> pg_backend_pid()"
    )
    assert [(0,)] == postgres.execute(sleeping)


def test_closing_the_collector_closes_its_connections(
    postgres: PostgresServer, events: str, database: OpenDatabase
) -> None:
    """A reload replaces the collectors: the old ones' pooled connections must not linger on the server."""
    collector = SqlTablesCollector([TableConfig(events)], database(postgres.url()), SystemClock(), 5.0)
    collector.collect()
    connections = "SELECT count(*) FROM pg_stat_activity WHERE usename = 'tripwired'"
    assert [(1,)] == postgres.execute(connections)
    collector.close()
    wait_until(lambda: postgres.execute(connections) == [(0,)], "the pooled connection closed")
