"""The state directory on a small filesystem that fills up, then has room again."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.conftest import DaemonProcess, StartDaemon, wait_until
from tests.faults.fullfs import small_filesystem
from tests.faults.pipeline import Receiver, alerts, config, points_of_ingest, sent, write_metrics


def exported(daemon: DaemonProcess, name: str) -> float:
    """The value of an unlabelled metric on the daemon's /metrics."""
    for line in daemon.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exported")


def enqueued(daemon: DaemonProcess, alertname: str) -> bool:
    """Whether the daemon's dispatcher handed a notification of the alert's group to the outbox."""
    return any("notification_enqueued" in line and alertname in line for line in daemon.log().splitlines())


def test_full_state_disk_is_reported_once_the_daemon_goes_on_and_resumes_when_space_returns(
    start_daemon: StartDaemon, receiver: Receiver, tmp_path: Path
) -> None:
    """The state directory's filesystem fills up while the daemon runs, then is freed.

    The failure is logged once and exported (tripwired_storage_wal_writable 0); collection, rule
    evaluation and notification go on from memory (the page arrives while the disk is still
    full); when space returns the log resumes with a checkpoint, the page is not sent again, and a
    kill -9 after that loses none of what was collected while the disk was full.
    """
    write_metrics(tmp_path, ingest_offset=1, level=0, flap=0)
    text = config(tmp_path, receiver.url)
    with small_filesystem(tmp_path / "state") as state_fs:
        daemon = start_daemon(text)
        daemon.wait_ready()
        state_fs.fill()
        wait_until(lambda: exported(daemon, "tripwired_storage_wal_writable") == 0, "the WAL to fail")
        write_metrics(tmp_path, ingest_offset=1, level=1, flap=0)
        wait_until(lambda: "LevelHigh" in alerts(daemon), "LevelHigh to be evaluated from memory")
        wait_until(lambda: ("firing", "LevelHigh") in sent(receiver), "the page, sent while the disk is full")
        count = points_of_ingest(daemon)
        wait_until(lambda: points_of_ingest(daemon) > count + 5, "collections to go on while the log retries")
        assert 1 == daemon.log().count("wal_write_failed")
        assert daemon.get("/-/healthy").status_code == 200

        state_fs.free()
        wait_until(lambda: exported(daemon, "tripwired_storage_wal_writable") == 1, "the WAL to recover")
        wait_until(lambda: exported(daemon, "tripwired_storage_checkpoint_creations_total") >= 1, "a checkpoint")
        wait_until(lambda: "notifications_held_in_memory_recovered" in daemon.log(), "the outbox to write its rows")
        held = points_of_ingest(daemon)
        daemon.proc.send_signal(signal.SIGKILL)
        daemon.proc.wait(timeout=30)
        restarted = start_daemon(text, port=daemon.port)  # the same address: the same target labels
        restarted.wait_ready()
        assert points_of_ingest(restarted) >= held - 1
        wait_until(lambda: enqueued(restarted, "LevelHigh"), "the restarted daemon to decide on LevelHigh again")
        wait_until(lambda: exported(restarted, 'tripwired_outbox_pending{receiver="hook"}') == 0, "an empty outbox")
        assert 1 == sent(receiver).count(("firing", "LevelHigh"))
