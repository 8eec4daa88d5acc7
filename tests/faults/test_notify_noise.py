"""Noise under failure: a receiver that is down must not flood the log, and its recovery must be said once."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import StartDaemon, free_port, wait_until
from tests.faults.scraping import scrape, value
from tests.faults.test_outbox_faults import config, groups_delivered, set_failed_jobs
from tests.receiver import Receiver

JOBS = [f"job{i}" for i in range(10)]


def events(log: str, name: str) -> int:
    return log.count(f'"event": "{name}"')


def test_a_receiver_refusing_connections_is_logged_once_then_its_recovery_once(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """A webhook receiver refuses connections while ten alert groups wait for it, then comes back.

    Dozens of retries give one warning (`notify_retrying`, with the receiver and how long its
    oldest notification has waited), not a line per retry; when the receiver answers again every
    group is delivered and `notify_recovered` is logged once, with the number of failures.
    """
    receiver = Receiver(free_port())  # not listening yet: connections are refused
    set_failed_jobs(tmp_path, set(), JOBS)
    daemon = start_daemon(config(tmp_path, tmp_path / "state", receiver.url))
    daemon.wait_ready()
    quiet_before = len(daemon.log().splitlines())
    set_failed_jobs(tmp_path, set(JOBS), JOBS)

    def retries() -> float:
        return (
            value(
                scrape(daemon),
                "tripwired_notifications_total",
                receiver="jobs",
                integration="webhook/0",
                outcome="retry",
            )
            or 0.0
        )

    wait_until(lambda: retries() >= 30, what="thirty retries against the refusing receiver")
    down = daemon.log().splitlines()[quiet_before:]
    receiver.start()
    try:
        wait_until(lambda: set(groups_delivered(receiver)) == set(JOBS), what="every group delivered")
        wait_until(lambda: events(daemon.log(), "notify_recovered") == 1, what="the recovery line")
    finally:
        receiver.stop()
    down_log = "\n".join(down)
    retry_lines = [line for line in down if '"event": "notify_retrying"' in line]
    # Ten groups enqueued (one info line each), the first retry at warning, and nothing per retry.
    assert (1, 0, True) == (len(retry_lines), events(down_log, "notification_retry"), len(down) <= 15), down_log
    assert '"oldest_pending_seconds"' in retry_lines[0] and '"level": "warning"' in retry_lines[0]
    recovered = next(line for line in daemon.log().splitlines() if '"event": "notify_recovered"' in line)
    assert '"receiver": "jobs"' in recovered
