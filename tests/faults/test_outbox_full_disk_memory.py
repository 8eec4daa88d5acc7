"""Pages are not held back by a full state disk: the outbox delivers from memory, and writes it down later.

The alert about a full warehouse disk may be the very one whose notification the full disk
refuses when the state directory lives there. The daemon keeps it in memory, delivers it with the
usual retries while the disk is still full, and when space returns writes what it held to the
database: nothing is sent twice, not even across a restart.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from agent.notify.integrations.webhook.webhook import DEDUP_HEADER
from tests.conftest import DaemonProcess, StartDaemon, free_port, wait_until
from tests.faults.fullfs import small_filesystem
from tests.faults.scraping import scrape, value
from tests.faults.test_outbox_faults import config, groups_delivered, kill_9, set_failed_jobs
from tests.receiver import Receiver, Reply

JOBS = ["job0", "job1"]
UNAVAILABLE = 1000  # 503 answers scripted; more than any test waits for


def in_memory(daemon: DaemonProcess) -> float:
    return value(scrape(daemon), "tripwired_notifications_queued_in_memory", receiver="jobs") or 0.0


def pending(daemon: DaemonProcess) -> float:
    return value(scrape(daemon), "tripwired_outbox_pending", receiver="jobs") or 0.0


def decided(daemon: DaemonProcess, job: str) -> bool:
    """Whether the daemon's dispatcher handed a notification of the job's group to the outbox."""
    return any("notification_enqueued" in line and job in line for line in daemon.log().splitlines())


def back_in_service(receiver: Receiver) -> int:
    """Stop answering 503; how many requests were answered 503 until now."""
    with receiver._lock:
        refused = UNAVAILABLE - len(receiver.script)
        receiver.script.clear()
    return refused


def statuses(receiver: Receiver, job: str) -> list[str]:
    return [json.loads(r.body)["status"] for r in receiver.requests if job in r.body.decode()]


def test_a_page_reaches_the_receiver_while_the_state_disk_is_full_and_is_never_sent_twice(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """An alert fires while the state directory's filesystem is full, and its receiver answers 503 for a while.

    The page is retried from memory (tripwired_notifications_queued_in_memory 1, the loss risk
    logged once) and reaches the receiver, once it answers again, while the disk is still full. When space returns the
    outbox writes what it held; a restart afterwards decides the same notification again and sends
    nothing: one delivery, one dedup key.
    """
    receiver = Receiver().start()
    receiver.script.extend([Reply(503)] * UNAVAILABLE)
    try:
        with small_filesystem(tmp_path / "state") as fs:
            set_failed_jobs(tmp_path, set(), JOBS)
            conf = config(tmp_path, fs.path, receiver.url)
            daemon = start_daemon(conf)
            daemon.wait_ready()
            fs.fill()
            set_failed_jobs(tmp_path, {"job0"}, JOBS)
            wait_until(lambda: in_memory(daemon) == 1, what="the page held in memory")
            refused = back_in_service(receiver)
            wait_until(lambda: in_memory(daemon) == 0, timeout=60, what="the page delivered from memory")
            assert fs.available_bytes() < 256 * 1024, "the disk was still (nearly) full when the page arrived"
            held_log = daemon.log()
            fs.free()
            wait_until(lambda: "notifications_held_in_memory_recovered" in daemon.log(), what="the rows written")
            daemon.stop()
            restarted = start_daemon(conf, port=daemon.port)  # the same address: the same target labels
            restarted.wait_ready()
            wait_until(lambda: decided(restarted, "job0"), what="the restarted dispatcher deciding job0 again")
            wait_until(lambda: pending(restarted) == 0, what="an empty outbox")
            set_failed_jobs(tmp_path, {"job0", "job1"}, JOBS)
            wait_until(lambda: "job1" in groups_delivered(receiver), what="job1, a later page, delivered")
    finally:
        receiver.stop()
    assert 1 == held_log.count('"event": "notifications_held_in_memory"')  # the loss risk, said once
    # job0: every attempt answered 503, then exactly one more (the 200), all with one dedup key.
    assert (["firing"] * (refused + 1), 1) == (statuses(receiver, "job0"), groups_delivered(receiver)["job1"])
    dedup_keys = Counter(r.headers[DEDUP_HEADER] for r in receiver.requests)
    assert [refused + 1, 1] == sorted(dedup_keys.values(), reverse=True)


def test_a_page_still_undelivered_when_space_returns_survives_a_kill_9(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """An alert fires while the state disk is full and its receiver refuses connections; space returns, then kill -9.

    What memory held was written to the database when space returned, so the restarted daemon
    delivers the page once the receiver is back, exactly once.
    """
    port = free_port()
    receiver = Receiver(port)  # not listening yet: connections are refused
    with small_filesystem(tmp_path / "state") as fs:
        set_failed_jobs(tmp_path, set(), JOBS)
        conf = config(tmp_path, fs.path, receiver.url)
        daemon = start_daemon(conf)
        daemon.wait_ready()
        fs.fill()
        set_failed_jobs(tmp_path, {"job0"}, JOBS)
        wait_until(lambda: in_memory(daemon) == 1, what="the page held in memory")
        fs.free()
        wait_until(lambda: in_memory(daemon) == 0 and pending(daemon) == 1, what="the page written to the database")
        kill_9(daemon)
        receiver.start()
        try:
            restarted = start_daemon(conf, port=daemon.port)  # the same address: the same target labels
            restarted.wait_ready()
            wait_until(lambda: "job0" in groups_delivered(receiver), what="the page delivered after the restart")
            wait_until(lambda: pending(restarted) == 0, what="an empty outbox")
            restarted.stop()
        finally:
            receiver.stop()
    assert {"job0": 1} == dict(groups_delivered(receiver))
