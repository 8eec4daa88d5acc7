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
   collector). The CPU and RSS the queries add is the difference. With `--query-exporter PATH`
   (query-exporter's command, installed in a virtualenv of its own: `pip install
   'query-exporter==5.0.2' 'psycopg[binary]'`), the peer runs the same queries beside them.

Not part of the test run.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

import httpx

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


def query_exporter_config(url: str, queries: int) -> str:
    """query-exporter's config for the same queries as the daemon's: one metric, `queries` queries every 10 s."""
    return "\n".join(
        [
            f"databases:\n  bench:\n    dsn: {url}",
            "metrics:\n  bench_bucket_rows:\n    type: gauge\n    description: Rows of a bucket.\n    labels: [q]",
            "queries:",
            *(
                f"  q{i}:\n    interval: 10\n    timeout: 5\n    databases: [bench]\n    metrics: [bench_bucket_rows]\n"
                f"    sql: SELECT '{i}' AS q, count(*) AS bench_bucket_rows FROM small WHERE bucket = {i % 100}"
                for i in range(queries)
            ),
            "",
        ]
    )


def overhead(
    server: postgres_server.PostgresServer, queries: int, seconds: float, query_exporter: str | None = None
) -> dict[str, tuple[float, float, int]]:
    """CPU s/min, RSS MB and query series of a daemon without and with `queries` queries every 10 s, and the peer's."""
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
        peers = {}
        if query_exporter:
            (base / "query-exporter.yaml").write_text(query_exporter_config(server.url(), queries))
            port = free_web_port()
            command = [query_exporter, f"--config={base / 'query-exporter.yaml'}", "--host=127.0.0.1", f"--port={port}"]
            peers[f"query-exporter 5.0.2, {queries} queries / 10 s"] = (command, port)
        return _measure_side_by_side(base, configs, seconds, peers)


def _bench_series(ready_url: str) -> int:
    """How many `bench_bucket_rows` series the process exposes: proof that its queries ran."""
    metrics = httpx.get(urllib.parse.urljoin(ready_url, "/metrics"), timeout=30).text
    return sum(line.startswith("bench_bucket_rows{") for line in metrics.splitlines())


def _measure_side_by_side(
    base: Path, configs: dict[str, str], seconds: float, peers: dict[str, tuple[list[str], int]]
) -> dict[str, tuple[float, float, int]]:
    processes: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    try:
        for label, text in configs.items():
            path = base / f"{len(processes)}.yaml"
            path.write_text(text)
            port = free_web_port()
            processes[label] = (start_tripwired(path, port), f"http://127.0.0.1:{port}/-/ready")
        for label, (command, port) in peers.items():
            peer = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            processes[label] = (peer, f"http://127.0.0.1:{port}/metrics")
        for _, ready in processes.values():
            wait_http(ready, timeout=60)
        time.sleep(15)  # every query has run once: connections made, modules imported
        cpu_before = {label: cpu_seconds(p.pid) for label, (p, _) in processes.items()}
        time.sleep(seconds)
        return {
            label: ((cpu_seconds(p.pid) - cpu_before[label]) * 60 / seconds, rss_mb(p.pid), _bench_series(ready))
            for label, (p, ready) in processes.items()
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
    parser.add_argument("--query-exporter", metavar="PATH", help="also run query-exporter (the peer) with the queries")
    parser.add_argument("--overhead-only", action="store_true", help="skip the large table (part 1)")
    args = parser.parse_args()
    with postgres_server.running_server() as server:
        if not args.overhead_only:
            print(f"filled {args.rows:,} rows and indexed them in {fill_events(server, args.rows):.0f} s\n")
            print(f"| check on {args.rows:,} rows | median ms | max ms |\n|---|---|---|")
            for label, median, worst in time_checks(server):
                print(f"| {label} | {median:.1f} | {worst:.1f} |")
            print(f"\nEXPLAIN ANALYZE of the freshness statement:\n\n{explain_freshness(server)}\n")
        print(f"| process ({args.seconds:.0f} s side by side) | CPU s/min | RSS MB | series |\n|---|---|---|---|")
        for label, (cpu, rss, series) in overhead(server, args.queries, args.seconds, args.query_exporter).items():
            print(f"| {label} | {cpu:.2f} | {rss:.1f} | {series} |")


if __name__ == "__main__":
    main()
