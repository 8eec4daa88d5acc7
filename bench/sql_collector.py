"""Benchmark of the SQL collector against a real PostgreSQL (Debian's, started in a temp dir).

    .venv/bin/python -m bench.sql_collector                    # 10M rows, 100 queries, 120 s windows
    .venv/bin/python -m bench.sql_collector --rows 1000000 --seconds 60

1. Table checks on a large table: `events` with `--rows` rows spread over 200 days and a B-tree
   index on its timestamp column. Each check is timed through the collector itself (a session,
   a read-only transaction, statement_timeout), median of 10 runs after one warm-up:
   freshness and age alone (min/max), plus rows past a 90-day TTL, plus count(*). The plan of the
   freshness statement is printed (EXPLAIN ANALYZE).
2. Overhead: two `tripwired run` daemons side by side for the same `--seconds`, both with the
   default host collector; one also runs `--queries` small queries every 10 s (each its own
   collector). The CPU and RSS the queries add is the difference.

Not part of the test run.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from agent.clock import SystemClock
from agent.collect.sql import SqlTablesCollector
from agent.collect.sql_db import Database
from agent.config.schema import Duration, Secret
from agent.config.sql import RowCount, SqlConfig, TableConfig
from bench.common import cpu_seconds, rss_mb, start_tripwired, wait_http
from bench.common import free_port as free_web_port
from scripts import postgres_server

DAY = 86400
RUNS = 10


def fill_events(server: postgres_server.PostgresServer, rows: int) -> float:
    """`events(id, kind, loaded_at)` with `rows` rows over 200 days and an index on loaded_at; seconds taken."""
    started = time.perf_counter()
    server.execute(
        "DROP TABLE IF EXISTS events",
        "CREATE TABLE events (id bigserial, kind int, loaded_at timestamptz)",
        f"INSERT INTO events (kind, loaded_at) SELECT i % 100, now() - (i::float8 / {rows}) * interval '200 days' "
        f"FROM generate_series(1, {rows}) AS i",
        "CREATE INDEX events_loaded_at ON events (loaded_at)",
        "VACUUM ANALYZE events",
    )
    return time.perf_counter() - started


def time_checks(server: postgres_server.PostgresServer) -> list[tuple[str, float, float]]:
    """(check, median ms, max ms) of the collector's table checks on `events`."""
    settings = SqlConfig(name="bench", url=Secret(server.url()), timeout=Duration(60))
    database = Database(settings, SystemClock().monotonic)
    cases = [
        ("freshness and age (min/max)", TableConfig("events", timestamp_column="loaded_at", row_count=RowCount.NONE)),
        (
            "+ rows past a 90-day TTL",
            TableConfig("events", timestamp_column="loaded_at", ttl=Duration(90 * DAY), row_count=RowCount.NONE),
        ),
        ("+ count(*)", TableConfig("events", timestamp_column="loaded_at", ttl=Duration(90 * DAY))),
    ]
    results = []
    for label, config in cases:
        collector = SqlTablesCollector([config], database, SystemClock(), 60.0)
        collector.collect()  # warm-up: connection, plan cache, buffers
        times = []
        for _ in range(RUNS):
            started = time.perf_counter()
            collector.collect()
            times.append((time.perf_counter() - started) * 1000)
        results.append((label, statistics.median(times), max(times)))
    database.close()
    return results


def explain_freshness(server: postgres_server.PostgresServer) -> str:
    rows = server.execute("EXPLAIN (ANALYZE, BUFFERS) SELECT min(loaded_at), max(loaded_at) FROM events")
    return "\n".join(str(row[0]) for row in rows)


def overhead(server: postgres_server.PostgresServer, queries: int, seconds: float) -> dict[str, tuple[float, float]]:
    """CPU s/min and RSS MB of a daemon without and with `queries` queries every 10 s, run side by side."""
    server.execute(
        "DROP TABLE IF EXISTS small",
        "CREATE TABLE small AS SELECT i % 100 AS bucket, i AS value FROM generate_series(1, 10000) AS i",
        "ANALYZE small",
    )
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        sql = "\n".join(
            f"        - {{metric_name: bench_bucket_rows, name: q{i}, help: Rows of a bucket., values: [n], "
            f"sql: \"SELECT '{i}' AS q, count(*) AS n FROM small WHERE bucket = {i % 100}\", key_labels: [q]}}"
            for i in range(queries)
        )
        configs = {
            "baseline": f"state_dir: {base / 'a'}\n",
            f"{queries} queries / 10 s": f"state_dir: {base / 'b'}\ncollectors:\n  sql:\n"
            f"    - name: bench\n      url: {server.url()}\n      interval: 10s\n      timeout: 5s\n"
            f"      queries:\n{sql}\n",
        }
        return _measure_side_by_side(base, configs, seconds)


def _measure_side_by_side(base: Path, configs: dict[str, str], seconds: float) -> dict[str, tuple[float, float]]:
    processes: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        for label, text in configs.items():
            path = base / f"{len(processes)}.yaml"
            path.write_text(text)
            port = free_web_port()
            processes[label] = (start_tripwired(path, port), port)
        for _, port in processes.values():
            wait_http(f"http://127.0.0.1:{port}/-/ready", timeout=60)
        time.sleep(15)  # every query has run once: connections made, modules imported
        cpu_before = {label: cpu_seconds(p.pid) for label, (p, _) in processes.items()}
        time.sleep(seconds)
        return {
            label: ((cpu_seconds(p.pid) - cpu_before[label]) * 60 / seconds, rss_mb(p.pid))
            for label, (p, _) in processes.items()
        }
    finally:
        for process, _ in processes.values():
            process.terminate()
            process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=120.0)
    args = parser.parse_args()
    with postgres_server.running_server() as server:
        print(f"filled {args.rows:,} rows and indexed them in {fill_events(server, args.rows):.0f} s\n")
        print(f"| check on {args.rows:,} rows | median ms | max ms |\n|---|---|---|")
        for label, median, worst in time_checks(server):
            print(f"| {label} | {median:.1f} | {worst:.1f} |")
        print(f"\nEXPLAIN ANALYZE of the freshness statement:\n\n{explain_freshness(server)}\n")
        print(f"| daemon ({args.seconds:.0f} s side by side) | CPU s/min | RSS MB |\n|---|---|---|")
        for label, (cpu, rss) in overhead(server, args.queries, args.seconds).items():
            print(f"| {label} | {cpu:.2f} | {rss:.1f} |")


if __name__ == "__main__":
    main()
