"""The SQL collectors on real SQLite files; only the clock is faked where time matters."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from agent.clock import FakeClock, SystemClock
from agent.collect.base import PartialCollectionError
from agent.collect.registry import build_collectors
from agent.collect.sql import SqlQueryCollector, SqlTablesCollector, query_samples
from agent.collect.sql_db import Database, QueryError, cutoff_like, to_epoch
from agent.config.load import load_text
from agent.config.schema import Config, Duration, Secret
from agent.config.sql import QueryConfig, SqlConfig, TableConfig
from agent.model import Sample, labels_of

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
DAY = 86400.0


def iso(epoch: float, sep: str = " ") -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).replace(tzinfo=None).isoformat(sep=sep)


def make_db(path: Path, *statements: str) -> Path:
    with sqlite3.connect(path) as conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()
    return path


def orders_db(tmp_path: Path, ages_days: Sequence[float], sep: str = " ") -> Path:
    db = make_db(tmp_path / "shop.db", "CREATE TABLE orders (id INTEGER PRIMARY KEY, created_at TEXT)")
    with sqlite3.connect(db) as conn:
        conn.executemany("INSERT INTO orders (created_at) VALUES (?)", [(iso(NOW - a * DAY, sep),) for a in ages_days])
    conn.close()
    return db


def database(db: Path) -> Database:
    return Database(SqlConfig(name="shop", url=Secret(f"sqlite:///{db}")), SystemClock().monotonic)


def tables(db: Path, *configs: TableConfig, clock: FakeClock | None = None) -> SqlTablesCollector:
    return SqlTablesCollector(configs, database(db), clock or FakeClock(NOW), timeout=5.0)


def values(samples: Sequence[Sample]) -> dict[tuple[str, str], float]:
    """name and table label -> value, for the table metrics."""
    return {(s.name, dict(s.labels).get("table", "")): s.value for s in samples if s.name.startswith("sql_table")}


def test_table_checks_report_rows_newest_oldest_and_rows_past_ttl(tmp_path: Path) -> None:
    db = orders_db(tmp_path, [0.5, 10, 95, 120])
    config = TableConfig("orders", timestamp_column="created_at", ttl=Duration(90 * DAY))
    samples = tables(db, config).collect()
    assert {
        ("sql_table_rows", "orders"): 4.0,
        ("sql_table_newest_row_timestamp_seconds", "orders"): NOW - 0.5 * DAY,
        ("sql_table_oldest_row_timestamp_seconds", "orders"): NOW - 120 * DAY,
        ("sql_table_ttl_seconds", "orders"): 90 * DAY,
        ("sql_table_rows_past_ttl", "orders"): 2.0,
    } == values(samples)
    labels = {s.labels for s in samples if s.name == "sql_table_rows"}
    assert {labels_of(database="shop", table="orders", column="created_at")} == labels


def test_iso_timestamps_with_a_t_compare_right_on_the_cutoff_day(tmp_path: Path) -> None:
    db = orders_db(tmp_path, [90.01, 89.99, 89.98], sep="T")
    config = TableConfig("orders", timestamp_column="created_at", ttl=Duration(90 * DAY))
    assert 1.0 == values(tables(db, config).collect())[("sql_table_rows_past_ttl", "orders")]


def test_epoch_seconds_columns_are_timestamps_too(tmp_path: Path) -> None:
    db = make_db(tmp_path / "e.db", "CREATE TABLE events (ts REAL)")
    with sqlite3.connect(db) as conn:
        conn.executemany("INSERT INTO events VALUES (?)", [(NOW - 100 * DAY,), (NOW - 1,)])
    conn.close()
    config = TableConfig("events", timestamp_column="ts", ttl=Duration(30 * DAY))
    got = values(tables(db, config).collect())
    assert NOW - 1 == got[("sql_table_newest_row_timestamp_seconds", "events")]
    assert 1.0 == got[("sql_table_rows_past_ttl", "events")]


def test_an_empty_table_has_zero_rows_and_no_timestamps(tmp_path: Path) -> None:
    db = orders_db(tmp_path, [])
    config = TableConfig("orders", timestamp_column="created_at", ttl=Duration(DAY))
    assert {
        ("sql_table_rows", "orders"): 0.0,
        ("sql_table_ttl_seconds", "orders"): DAY,
        ("sql_table_rows_past_ttl", "orders"): 0.0,
    } == values(tables(db, config).collect())


def test_where_limits_the_rows_checked(tmp_path: Path) -> None:
    db = make_db(
        tmp_path / "u.db",
        "CREATE TABLE users (id INTEGER, terminated_at TEXT)",
        f"INSERT INTO users VALUES (1, NULL), (2, '{iso(NOW - 100 * DAY)}'), (3, '{iso(NOW - DAY)}')",
    )
    config = TableConfig("users", timestamp_column="terminated_at", ttl=Duration(90 * DAY), where="id > 1")
    got = values(tables(db, config).collect())
    assert 2.0 == got[("sql_table_rows", "users")]
    assert 1.0 == got[("sql_table_rows_past_ttl", "users")]


def test_a_missing_table_fails_alone_and_is_counted_as_missing_object(tmp_path: Path) -> None:
    db = orders_db(tmp_path, [1])
    collector = tables(db, TableConfig("gone"), TableConfig("orders"))
    with pytest.raises(PartialCollectionError) as raised:
        collector.collect()
    assert "table gone: missing_object: no such table: gone" == str(raised.value)
    assert 1.0 == values(raised.value.samples)[("sql_table_rows", "orders")]
    errors = {dict(s.labels)["kind"]: s.value for s in raised.value.samples if s.name == "sql_errors_total"}
    assert 1.0 == errors["missing_object"]
    assert 0.0 == errors["timeout"]


def test_a_missing_database_file_is_a_connection_error_and_is_not_created(tmp_path: Path) -> None:
    collector = tables(tmp_path / "nowhere.db", TableConfig("orders"))
    with pytest.raises(PartialCollectionError, match="connection: unable to open database file"):
        collector.collect()
    assert not (tmp_path / "nowhere.db").exists()


def test_sessions_are_read_only(tmp_path: Path) -> None:
    db = orders_db(tmp_path, [1])
    query = QueryConfig("x", "x", "DELETE FROM orders RETURNING id", values=["id"])
    with pytest.raises(PartialCollectionError, match=r"^permission: attempt to write a readonly database"):
        SqlQueryCollector(query, database(db), FakeClock(NOW), timeout=5.0).collect()
    assert 1 == sqlite3.connect(db).execute("SELECT count(*) FROM orders").fetchone()[0]


def test_a_query_that_runs_too_long_is_interrupted_within_its_timeout(tmp_path: Path) -> None:
    db = make_db(tmp_path / "slow.db", "CREATE TABLE t (x)")
    endless = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT count(*) AS n FROM c"
    collector = SqlQueryCollector(QueryConfig("n", "n", endless, values=["n"]), database(db), SystemClock(), 0.5)
    done = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            collector.collect()
        except PartialCollectionError as error:
            failure.append(error)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(30), "the query was not interrupted"
    assert "timeout: interrupted" == str(failure[0])


def test_query_rows_become_samples_with_key_labels_and_value_label() -> None:
    query = QueryConfig("shop_orders", "h", "-", values=["pending", "done"], key_labels=["region"], value_label="state")
    rows = [{"region": "eu", "pending": 3, "done": None}, {"region": "us", "pending": 1, "done": 7}]
    assert [
        Sample("shop_orders", labels_of(database="shop", region="eu", state="pending"), 3.0),
        Sample("shop_orders", labels_of(database="shop", region="us", state="pending"), 1.0),
        Sample("shop_orders", labels_of(database="shop", region="us", state="done"), 7.0),
    ] == query_samples(query, "shop", rows)


def test_query_rows_with_the_same_labels_are_refused() -> None:
    query = QueryConfig("m", "h", "-", values=["v"])
    with pytest.raises(QueryError, match=r"^result: two rows give the same labels"):
        query_samples(query, "shop", [{"v": 1}, {"v": 2}])


def test_a_missing_value_column_is_named() -> None:
    query = QueryConfig("m", "h", "-", values=["count"])
    with pytest.raises(QueryError, match=r"^result: the query returned no column 'count'"):
        query_samples(query, "shop", [{"n": 1}])


def test_a_query_collector_reads_a_real_database(tmp_path: Path) -> None:
    db = orders_db(tmp_path, [1, 2, 3])
    sql = "SELECT count(*) AS n, max(created_at) AS newest FROM orders"
    query = QueryConfig("shop_orders", "h", sql, values=["n", "newest"], value_label="column", name="orders")
    collector = SqlQueryCollector(query, database(db), FakeClock(NOW), timeout=5.0)
    samples = {dict(s.labels).get("column"): s.value for s in collector.collect() if s.name == "shop_orders"}
    assert {"n": 3.0, "newest": NOW - DAY} == samples
    assert "shop/orders" == collector.instance


@pytest.mark.parametrize(
    ("value", "epoch"),
    [
        ("2027-01-15 08:00:00", NOW),
        ("2027-01-15T09:00:00+01:00", NOW),
        ("2027-01-15T08:00:00Z", NOW),
        (dt.datetime(2027, 1, 15, 8), NOW),
        (dt.date(2027, 1, 15), NOW - 8 * 3600),
        (NOW, NOW),
        (str(NOW), NOW),
    ],
)
def test_timestamps_of_every_form_read_as_epoch_seconds(value: object, epoch: float) -> None:
    assert epoch == to_epoch(value)


@pytest.mark.parametrize(
    ("sample", "cutoff"),
    [
        ("2020-01-01 00:00:00", "2027-01-15 08:00:00"),
        ("2020-01-01T00:00:00Z", "2027-01-15T08:00:00Z"),
        ("2020-01-01T00:00:00+00:00", "2027-01-15T08:00:00+00:00"),
        (dt.datetime(2020, 1, 1), dt.datetime(2027, 1, 15, 8)),
        (dt.datetime(2020, 1, 1, tzinfo=dt.UTC), dt.datetime(2027, 1, 15, 8, tzinfo=dt.UTC)),
        (1.0, NOW),
    ],
)
def test_the_ttl_cutoff_takes_the_columns_form(sample: object, cutoff: object) -> None:
    assert cutoff == cutoff_like(sample, NOW)


def test_config_builds_one_table_job_and_a_job_per_query_with_its_own_timing(tmp_path: Path) -> None:
    db = orders_db(tmp_path, [1])
    config = load_text(
        Config,
        f"""
collectors:
  host: {{enabled: false}}
  sql:
    - name: shop
      url: sqlite:///{db}
      interval: 30s
      tables: [{{table: orders, timestamp_column: created_at}}]
      queries:
        - {{metric_name: shop_orders, help: Orders., sql: "SELECT count(*) AS n FROM orders", values: [n],
            interval: 1m, timeout: 5s}}
""",
    )
    jobs = [
        (j.collector.name, j.collector.instance, j.interval, j.timeout) for j in build_collectors(config, FakeClock())
    ]
    assert [("sql", "shop", 30.0, 30.0), ("sql_query", "shop/shop_orders", 60.0, 5.0)] == jobs[1:]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{name: a, url: 'nonsense'}", "url is not a database URL"),
        ("{name: a, url: 'oracle+nodriver://x'}", "unknown database dialect"),
        ("{name: a, tables: [{table: t, ttl: 90d}]}", "ttl needs a timestamp_column"),
        ("{name: a, tables: [{table: t}, {table: t, where: x > 1}]}", "checked twice"),
        ("{name: a, queries: [{metric_name: 'bad-name', help: h, sql: s, values: [v]}]}", "not a valid"),
        ("{name: a, queries: [{metric_name: m, help: h, sql: s, values: [v, w]}]}", "value_label is required"),
        ("{name: a, queries: [{metric_name: m, help: h, sql: s, values: [v], key_labels: [database]}]}", "rename"),
        (
            "{name: a, queries: [{metric_name: m, help: h, sql: s, values: [v]}, {metric_name: m, help: h, sql: s, "
            "values: [v]}]}",
            "query names must be unique",
        ),
    ],
)
def test_bad_sql_config_is_refused_with_file_line_and_field(entry: str, message: str) -> None:
    from agent.config.load import ConfigError

    text = f"collectors:\n  sql:\n    - {entry}\n".replace(
        "{name: a,", "{name: a, url: 'sqlite://'," if "url" not in entry else "{name: a,"
    )
    with pytest.raises(ConfigError) as raised:
        load_text(Config, text, "tripwired.yml")
    assert raised.value.errors[0].startswith("tripwired.yml:")
    assert message in raised.value.errors[0]


def test_the_password_comes_from_a_file_and_never_shows_in_an_error(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret-pw\n")
    config = load_text(
        Config,
        "collectors:\n  sql:\n    - {name: pg, url: 'postgresql+psycopg://app@127.0.0.1:1/db', password_file: pw}\n",
        str(tmp_path / "tripwired.yml"),
    )
    database_config = config.collectors.sql[0]
    assert "s3cret-pw" == database_config.password
    error = Database(database_config, SystemClock().monotonic).classify(
        RuntimeError("could not connect to postgresql+psycopg://app:s3cret-pw@127.0.0.1:1/db with s3cret-pw")
    )
    assert "s3cret-pw" not in str(error)
    assert "s3cret-pw" not in repr(database_config)
