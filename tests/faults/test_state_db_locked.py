"""The state database held locked by another process while the daemon has a page to send."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx

from tests.conftest import StartDaemon, wait_until
from tests.faults.pipeline import alerts, sent, write_metrics
from tests.receiver import Receiver

RULES = """
groups:
  - name: jobs
    interval: 500ms
    rules:
      - alert: JobFailed
        expr: job_failed == 1
"""
HEALTHY_DEADLINE_SECONDS = 4.0  # generous for a local answer; shorter than SQLite's 5 s busy timeout


def config(tmp_path: Path, hook_url: str) -> str:
    (tmp_path / "textfile").mkdir(exist_ok=True)
    (tmp_path / "rules.yaml").write_text(RULES)
    return f"""
global: {{interval: 500ms, evaluation_interval: 500ms}}
state_dir: {tmp_path / "state"}
rule_files: [{tmp_path / "rules.yaml"}]
collectors:
  host: {{enabled: false}}
  textfile: {{directory: {tmp_path / "textfile"}}}
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 4s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs: [{{url: "{hook_url}"}}]
"""


def healthy_within_deadline(url: str) -> None:
    """/-/healthy answers 200 before the deadline, or the test fails saying the daemon stalled."""
    try:
        status = httpx.get(f"{url}/-/healthy", timeout=HEALTHY_DEADLINE_SECONDS).status_code
    except httpx.TimeoutException as exc:
        raise AssertionError(f"/-/healthy did not answer within {HEALTHY_DEADLINE_SECONDS}s: the loop stalled") from exc
    assert 200 == status


def test_a_locked_state_database_delays_no_answer_and_no_page(
    start_daemon: StartDaemon, receiver: Receiver, tmp_path: Path
) -> None:
    """Another process holds the state database's write lock while a page is due (a backup, a stuck CLI).

    The daemon keeps answering /-/healthy within seconds throughout, the page is sent while the
    lock is still held (from memory), and once the lock goes the notification is written.
    """
    write_metrics(tmp_path, job_failed=0)
    daemon = start_daemon(config(tmp_path, receiver.url))
    daemon.wait_ready()
    write_metrics(tmp_path, job_failed=1)
    wait_until(lambda: alerts(daemon).get("JobFailed", {}).get("state") == "firing", "JobFailed to fire")
    locker = sqlite3.connect(tmp_path / "state" / "tripwired.db", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")  # the ruler saved the firing alert; the page waits for group_wait
    try:
        deadline = time.monotonic() + 60
        while ("firing", "JobFailed") not in sent(receiver) and time.monotonic() < deadline:
            healthy_within_deadline(daemon.url)
            time.sleep(0.1)
        assert ("firing", "JobFailed") in sent(receiver), "the page was not sent while the lock was held"
        assert "database is locked" in daemon.log()  # the outbox did meet the lock
        healthy_within_deadline(daemon.url)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    wait_until(lambda: "notifications_held_in_memory_recovered" in daemon.log(), "the held page to be written")
    assert [("firing", "JobFailed")] == sent(receiver)
