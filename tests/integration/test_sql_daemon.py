"""The time-to-live tripwire on a table, in a running daemon: user data kept 90 days after termination."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

from tests.conftest import DaemonProcess, StartDaemon, poll

DAY = 86400


def ttl_alerts(daemon: DaemonProcess) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = daemon.get("/api/v1/alerts").json()["data"]["alerts"]
    return [a for a in alerts if a["labels"]["alertname"] == "SqlRowsPastTtl"]


def rows(daemon: DaemonProcess) -> list[dict[str, Any]]:
    query = 'sql_table_rows{database="crm",table="users"}'
    result: list[dict[str, Any]] = daemon.get(f"/api/v1/query?query={query}").json()["data"]["result"]
    return result


def terminated(days_ago: float) -> str:
    when = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    return when.replace(tzinfo=None).isoformat(sep=" ")


def test_user_data_kept_past_its_ttl_fires_and_its_deletion_resolves(start_daemon: StartDaemon, tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, terminated_at TEXT)")
        conn.execute("INSERT INTO users (terminated_at) VALUES (NULL), (?)", (terminated(10),))
    conn.close()
    daemon = start_daemon(
        f"global: {{interval: 1s, evaluation_interval: 1s}}\nstate_dir: {tmp_path / 'state'}\n"
        f"rule_files: [builtin:sql]\n"
        "collectors:\n  host: {enabled: false}\n  sql:\n"
        f"    - name: crm\n      url: sqlite:///{db}\n"
        "      tables: [{table: users, timestamp_column: terminated_at, ttl: 90d}]\n"
    )
    daemon.wait_ready()
    poll(lambda: rows(daemon), lambda r: [x["value"][1] for x in r] == ["2"], "the users counted", daemon)
    assert [] == ttl_alerts(daemon)

    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO users (terminated_at) VALUES (?), (?)", (terminated(91), terminated(400)))
    conn.close()
    alerts = poll(lambda: ttl_alerts(daemon), lambda a: [x["state"] for x in a] == ["firing"], "the alert", daemon)
    target = {"instance": f"127.0.0.1:{daemon.port}", "job": "sql"}  # the SQL collector's
    assert {"database": "crm", "table": "users", "column": "terminated_at", "severity": "critical", **target} == {
        k: v for k, v in alerts[0]["labels"].items() if k != "alertname"
    }
    assert 2.0 == float(alerts[0]["value"])

    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM users WHERE terminated_at < ?", (terminated(90),))
    conn.close()
    poll(lambda: ttl_alerts(daemon), lambda a: a == [], "the alert resolved", daemon)
