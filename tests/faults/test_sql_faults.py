"""A database that breaks under the SQL collector of a real daemon: stopped, hung, wrong password, table dropped.

Each test watches what a user sees: `tripwired_collector_up` of that collector only, the error counted
by kind in `sql_errors_total`, one log line saying why, and the values coming back once it is mended.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.postgres_server import PostgresServer
from tests.conftest import DaemonProcess, StartDaemon, wait_until
from tests.faults.scraping import scrape, value


@pytest.fixture
def shop(postgres: PostgresServer) -> Iterator[PostgresServer]:
    """Tables `orders` and `refunds` with a row each; the server is left running whatever the test did."""
    postgres.execute(
        "DROP TABLE IF EXISTS orders, refunds",
        "CREATE TABLE orders (id serial, created_at timestamptz DEFAULT now())",
        "CREATE TABLE refunds (id serial, created_at timestamptz DEFAULT now())",
        "INSERT INTO orders DEFAULT VALUES",
        "INSERT INTO refunds DEFAULT VALUES",
    )
    yield postgres
    if not _accepts_connections(postgres):
        postgres.start()
    postgres.execute("DROP TABLE IF EXISTS orders, refunds")


def _accepts_connections(server: PostgresServer) -> bool:
    try:
        server.execute("SELECT 1")
    except Exception:  # psycopg.OperationalError: refused
        return False
    return True


def config(tmp_path: Path, database: str) -> str:
    """A daemon with the given `sql:` entry and a textfile collector beside it, both every second."""
    (tmp_path / "textfile").mkdir(exist_ok=True)
    return f"""
global: {{interval: 1s, evaluation_interval: 1s}}
state_dir: {tmp_path / "state"}
collectors:
  host: {{enabled: false}}
  textfile: {{directory: {tmp_path / "textfile"}}}
  sql:
{database}
"""


def pg_entry(server: PostgresServer, password_file: Path, extra: str = "") -> str:
    return f"""    - name: shop
      url: {server.url(password=None)}
      password_file: {password_file}
      timeout: 2s
      tables:
        - {{table: orders, timestamp_column: created_at}}
        - {{table: refunds, timestamp_column: created_at}}
{extra}"""


def password_file(tmp_path: Path, password: str = "agent-test-password") -> Path:
    path = tmp_path / "pg-password"
    path.write_text(password + "\n")
    return path


def up(daemon: DaemonProcess, collector: str, instance: str) -> float | None:
    return value(scrape(daemon), "tripwired_collector_up", collector=collector, instance=instance)


def errors(daemon: DaemonProcess, kind: str, query: str = "tables") -> float:
    return value(scrape(daemon), "sql_errors_total", database="shop", query=query, kind=kind) or 0.0


def rows(daemon: DaemonProcess, table: str) -> float | None:
    return value(scrape(daemon), "sql_table_rows", database="shop", table=table, column="created_at")


def write_prom(tmp_path: Path, job_value: int) -> None:
    tmp = tmp_path / "textfile" / ".job.tmp"
    tmp.write_text(f'batch_job_last_success_timestamp_seconds{{job="etl"}} {job_value}\n')
    os.replace(tmp, tmp_path / "textfile" / "job.prom")


def job_value(daemon: DaemonProcess) -> float | None:
    return value(scrape(daemon), "batch_job_last_success_timestamp_seconds", job="etl")


def test_database_stopped_mid_run_marks_only_the_sql_collector_down(
    start_daemon: StartDaemon, tmp_path: Path, shop: PostgresServer
) -> None:
    """The PostgreSQL server stopped (pg_ctl stop) while the daemon reads it every second.

    The sql collector goes down with connection errors counted and a log line; the textfile
    collector beside it keeps reading; once the server is started again the rows come back.
    """
    daemon = start_daemon(config(tmp_path, pg_entry(shop, password_file(tmp_path))))
    daemon.wait_ready()
    wait_until(lambda: rows(daemon, "orders") == 1.0, what="the orders table counted")

    shop.stop()
    wait_until(lambda: up(daemon, "sql", "shop") == 0.0, what="the sql collector down")
    wait_until(lambda: errors(daemon, "connection") >= 1.0, what="a connection error counted")
    for round_ in (1, 2):
        write_prom(tmp_path, round_)
        wait_until(lambda r=round_: job_value(daemon) == float(r), what=f"the textfile value {round_}")
    assert 1.0 == up(daemon, "textfile", "default")
    assert '"collector_failed"' in daemon.log() and "connection: " in daemon.log()

    shop.start()
    shop.execute("INSERT INTO orders DEFAULT VALUES")
    wait_until(lambda: rows(daemon, "orders") == 2.0, what="the rows back after the restart")
    assert 1.0 == up(daemon, "sql", "shop")


def test_a_query_that_hangs_is_cancelled_at_its_timeout(
    start_daemon: StartDaemon, tmp_path: Path, shop: PostgresServer
) -> None:
    """A configured query that hangs (pg_sleep for an hour) with a 2 s timeout.

    The server cancels it within the timeout; that query's collector is down with a timeout error
    and a log line, while the table checks on the same database stay up and current.
    """
    hanging = """      queries:
        - {name: hung, metric_name: shop_hung, help: Never answers., values: [one],
           sql: "SELECT 1 AS one FROM pg_sleep(3600)", interval: 3s, timeout: 2s}
"""
    daemon = start_daemon(config(tmp_path, pg_entry(shop, password_file(tmp_path), hanging)))
    daemon.wait_ready()
    wait_until(lambda: errors(daemon, "timeout", query="hung") >= 2.0, what="two runs of the query timed out")
    assert 0.0 == up(daemon, "sql_query", "shop/hung")
    assert 1.0 == up(daemon, "sql", "shop")
    shop.execute("INSERT INTO orders DEFAULT VALUES")
    wait_until(lambda: rows(daemon, "orders") == 2.0, what="the table checks still current")
    assert "timeout: canceling statement due to statement timeout" in daemon.log()
    sleeping = shop.execute(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE state = 'active' AND query LIKE '%pg_sleep(3600)%' AND pid <> pg_backend_pid()"
    )
    # Cancelled on the server, not left sleeping there (a run may be under way: at most that one).
    assert sleeping[0][0] <= 1


def test_a_wrong_password_is_reported_and_never_logged(
    start_daemon: StartDaemon, tmp_path: Path, shop: PostgresServer
) -> None:
    """The password file holds a wrong password.

    The collector is down with an authentication error counted and logged; the wrong password
    appears nowhere in the log or on /metrics.
    """
    wrong = "Wr0ng-pa55word-xyz"
    daemon = start_daemon(config(tmp_path, pg_entry(shop, password_file(tmp_path, wrong))))
    daemon.wait_ready()
    wait_until(lambda: errors(daemon, "authentication") >= 1.0, what="an authentication error counted")
    assert 0.0 == up(daemon, "sql", "shop")
    assert "authentication: connection failed: " in daemon.log()
    assert 'password authentication failed for user \\"tripwired\\"' in daemon.log()  # JSON-escaped
    assert wrong not in daemon.log()
    assert wrong not in daemon.get("/metrics").text


def test_a_dropped_table_fails_alone_and_comes_back_when_recreated(
    start_daemon: StartDaemon, tmp_path: Path, shop: PostgresServer
) -> None:
    """A checked table (`refunds`) dropped while the daemon reads it.

    The collector is down with a missing_object error naming the table; the other table's rows
    keep being counted; when the table is created again the collector is up again.
    """
    daemon = start_daemon(config(tmp_path, pg_entry(shop, password_file(tmp_path))))
    daemon.wait_ready()
    wait_until(lambda: rows(daemon, "refunds") == 1.0, what="the refunds table counted")

    shop.execute("DROP TABLE refunds")
    wait_until(lambda: errors(daemon, "missing_object") >= 1.0, what="the missing table counted")
    assert 0.0 == up(daemon, "sql", "shop")
    shop.execute("INSERT INTO orders DEFAULT VALUES")
    wait_until(lambda: rows(daemon, "orders") == 2.0, what="the other table still counted")
    assert 'table refunds: missing_object: relation \\"refunds\\" does not exist' in daemon.log()

    shop.execute("CREATE TABLE refunds (id serial, created_at timestamptz DEFAULT now())")
    wait_until(lambda: up(daemon, "sql", "shop") == 1.0, what="the collector up again")
    assert 0.0 == rows(daemon, "refunds")
