"""Restarts of the real daemon, graceful and kill -9: history, alert state and pages survive."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import DaemonProcess, StartDaemon, free_port, run_cli
from tests.faults.pipeline import (
    Receiver,
    alerts,
    config,
    points_of_ingest,
    sent,
    stop,
    wait_until,
    write_metrics,
)
from tests.faults.scraping import scrape, value


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
def test_restart_sends_no_resolved_and_no_repeated_firing_for_alerts_whose_condition_held(
    start_daemon: StartDaemon, receiver: Receiver, tmp_path: Path, how: signal.Signals
) -> None:
    """A restart (SIGTERM or kill -9) with firing, pending and resolved alerts.

    No RESOLVED and no second FIRING reach the receiver for alerts whose condition held; the
    firing and pending alerts keep their activeAt; the range rule is firing at once.
    """
    write_metrics(tmp_path, ingest_offset=100, level=1, flap=1)
    text = config(tmp_path, receiver.url)
    daemon = start_daemon(text)
    daemon.wait_ready()
    wait_until(
        lambda: {"IngestStopped", "LevelHigh", "Flapped"} <= {n for s, n in sent(receiver) if s == "firing"},
        "the first pages",
    )
    write_metrics(tmp_path, ingest_offset=100, level=1, flap=0)
    wait_until(lambda: ("resolved", "Flapped") in sent(receiver), "Flapped to resolve")
    before = alerts(daemon)
    assert before["LevelHighForLong"]["state"] == "pending"
    pages_before = sent(receiver)

    stop(daemon, how)
    restarted = start_daemon(text, port=daemon.port)  # the same address: the same target labels
    restarted.wait_ready()
    after = alerts(restarted)
    for name in ("IngestStopped", "LevelHigh", "LevelHighForLong"):
        assert (before[name]["state"], before[name]["activeAt"]) == (after[name]["state"], after[name]["activeAt"])
    time.sleep(3)  # three evaluations and group intervals: a false page would have been sent by now
    assert pages_before == sent(receiver)


def test_range_rule_reads_the_history_from_before_a_kill_9(
    start_daemon: StartDaemon, receiver: Receiver, tmp_path: Path
) -> None:
    """Ingest stops, then the daemon is killed with kill -9 and restarted a few seconds later.

    `increase(ingest_offset[20s]) == 0` fires when the 20 s after the last message have
    passed, counted from before the restart: not after two collections on an empty history,
    and not a whole window after the restart.
    """
    text = config(tmp_path, receiver.url)
    write_metrics(tmp_path, ingest_offset=0, level=0, flap=0)
    daemon = start_daemon(text)
    daemon.wait_ready()
    offset = 0
    started = time.time()
    while time.time() - started < 6:  # messages keep arriving for a while
        offset += 10
        write_metrics(tmp_path, ingest_offset=offset, level=0, flap=0)
        time.sleep(0.5)
    last_message = time.time()
    wait_until(lambda: holds_ingest_offset(daemon, offset), "the last offset collected and logged")
    stop(daemon, signal.SIGKILL)
    time.sleep(2)  # the fault: the daemon stays down a while before it is started again
    restarted = start_daemon(text, port=daemon.port)  # the same address: the same target labels
    restarted.wait_ready()
    wait_until(lambda: "IngestStopped" in alerts(restarted), "IngestStopped", timeout=60)
    active_at = _seconds(alerts(restarted)["IngestStopped"]["activeAt"])
    assert active_at >= last_message + 19  # the window began before the restart, with the history
    assert active_at <= last_message + 25 or active_at <= time.time()  # and it did fire


def holds_ingest_offset(daemon: DaemonProcess, offset: int) -> bool:
    """Whether the daemon's store (which it writes only after the WAL) has this ingest_offset."""
    return value(scrape(daemon), "ingest_offset") == offset


def _seconds(rfc3339: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def test_graceful_stop_checkpoints_so_the_next_start_reads_no_segment(
    start_daemon: StartDaemon, receiver: Receiver, tmp_path: Path
) -> None:
    """SIGTERM: the daemon writes a checkpoint before it exits; the next start replays it alone."""
    write_metrics(tmp_path, ingest_offset=1, level=0, flap=0)
    daemon = start_daemon(config(tmp_path, receiver.url))
    daemon.wait_ready()
    wait_until(lambda: points_of_ingest(daemon) >= 2, "two collections in the log")
    assert daemon.stop() == 0
    wal = tmp_path / "state" / "wal"
    names = sorted(p.name for p in wal.iterdir())
    assert [n for n in names if n.startswith("checkpoint.")] and not [n for n in names if n.isdigit()]


def test_a_second_daemon_on_the_same_state_dir_is_refused_by_name(
    start_daemon: StartDaemon, receiver: Receiver, tmp_path: Path
) -> None:
    """Two `tripwired run` on one state_dir: the second exits 2, naming the first one's PID."""
    write_metrics(tmp_path, ingest_offset=1, level=0, flap=0)
    text = config(tmp_path, receiver.url)
    first = start_daemon(text)
    first.wait_ready()
    second = start_daemon(text)
    assert second.proc.wait(timeout=30) == 2
    assert f"is in use by another tripwired (pid {first.proc.pid})" in second.log()
    assert first.get("/-/healthy").status_code == 200


def test_a_wal_segment_from_a_future_version_stops_the_start_with_a_clear_error(
    start_daemon: StartDaemon, receiver: Receiver, tmp_path: Path
) -> None:
    """A WAL segment written by a newer tripwired (an unknown format version) is refused, never misread."""
    write_metrics(tmp_path, ingest_offset=1, level=0, flap=0)
    text = config(tmp_path, receiver.url)
    wal = tmp_path / "state" / "wal"
    wal.mkdir(parents=True)
    (wal / "00000001").write_bytes(b"TWWAL\0\0\0" + (7).to_bytes(4, "little"))
    daemon = start_daemon(text)
    assert daemon.proc.wait(timeout=30) == 2
    assert f"{wal / '00000001'}: WAL format version 7" in daemon.log()


@pytest.mark.parametrize("damage", ["truncated", "zero-filled", "bit-flipped"])
def test_damaged_segments_are_skipped_and_the_daemon_starts(
    start_daemon: StartDaemon, receiver: Receiver, tmp_path: Path, damage: str
) -> None:
    """A truncated, zero-filled or bit-flipped WAL segment: logged and counted, never a refusal to start."""
    write_metrics(tmp_path, ingest_offset=1, level=0, flap=0)
    text = config(tmp_path, receiver.url)
    daemon = start_daemon(text)
    daemon.wait_ready()
    wait_until(lambda: points_of_ingest(daemon) >= 2, "two collections in the log")
    stop(daemon, signal.SIGKILL)
    wal = tmp_path / "state" / "wal"
    segment = max((p for p in wal.iterdir() if p.name.isdigit()), key=lambda p: p.name)
    data = bytearray(segment.read_bytes())
    if damage == "truncated":
        data = data[: len(data) * 2 // 3]
    elif damage == "zero-filled":
        data = bytearray(len(data))
    else:
        data[len(data) // 2] ^= 0x40
    segment.write_bytes(bytes(data))
    (wal / "99999998").write_bytes(b"")  # an empty later segment: the damaged one is not the newest
    restarted = start_daemon(text, port=daemon.port)  # the same address: the same target labels
    restarted.wait_ready()
    metrics = restarted.get("/metrics").text
    assert (
        "tripwired_storage_wal_corruptions_total 2" in metrics or "tripwired_storage_wal_corruptions_total 1" in metrics
    )
    assert "wal_segment_corrupt" in restarted.log()


def test_check_beside_a_running_daemon_notifies_nobody_and_leaves_its_state_alone(
    start_daemon: StartDaemon, receiver: Receiver, tmp_path: Path
) -> None:
    """`tripwired check` with the config of a running daemon that has firing alerts and a webhook.

    check reports what fired; the receiver hears nothing from it, and the daemon's alert state
    is untouched.
    """
    write_metrics(tmp_path, ingest_offset=1, level=1, flap=0)
    text = config(tmp_path, receiver.url)
    daemon = start_daemon(text)
    daemon.wait_ready()
    wait_until(lambda: {("firing", "LevelHigh"), ("firing", "IngestStopped")} <= set(sent(receiver)), "first pages")
    pages_before, alerts_before = sent(receiver), alerts(daemon)
    config_file = next(tmp_path.glob("config-*.yaml"))
    result = run_cli("check", f"--config={config_file}", "--duration=4s")
    assert 1 == result.returncode, result.stderr
    assert "LevelHigh" in result.stdout
    time.sleep(2)  # two more group intervals: a page caused by the check would have arrived by now
    assert pages_before == sent(receiver)
    assert alerts_before == alerts(daemon)


def test_kill_9_at_random_points_twenty_times_never_stops_the_daemon_from_starting(
    start_daemon: StartDaemon, receiver: Receiver, tmp_path: Path
) -> None:
    """kill -9 at random moments, twenty times in a row: mid-write, mid-checkpoint, mid-deletion.

    Every start succeeds, and each one has the history of the one before but for the
    unflushed tail: at most the one collection that was being written.
    """
    rng = random.Random(1913)
    text = config(tmp_path, receiver.url)
    write_metrics(tmp_path, ingest_offset=0, level=0, flap=0)
    offset, seen_before_kill = 0, 0
    port = free_port()  # every start on the same address: the same target labels
    for round_ in range(20):
        daemon = start_daemon(text, port=port)
        if round_ % 2:  # right after the start: the checkpoint that folds the replayed segments
            time.sleep(rng.uniform(0.3, 1.5))
        else:
            daemon.wait_ready()
            assert points_of_ingest(daemon) >= seen_before_kill - 1, f"round {round_}"
            for _ in range(rng.randint(1, 10)):
                offset += 1
                write_metrics(tmp_path, ingest_offset=offset, level=0, flap=0)
                time.sleep(0.05)
            seen_before_kill = points_of_ingest(daemon)
        os.kill(daemon.proc.pid, signal.SIGKILL)
        daemon.proc.wait(timeout=30)
        assert "Traceback" not in daemon.log(), f"round {round_}:\n{daemon.log()}"
    final = start_daemon(text, port=port)
    final.wait_ready()
    assert points_of_ingest(final) >= seen_before_kill - 1
    assert "wal_segment_corrupt" not in final.log()
