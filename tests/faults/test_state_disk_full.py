"""The state directory on a small filesystem that fills up, then has room again."""

from __future__ import annotations

import contextlib
import errno
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import StartDaemon
from tests.faults.pipeline import Receiver, alerts, config, points_of_ingest, wait_until, write_metrics


@pytest.fixture
def small_state_fs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs mounted at tmp_path/state (CI runs as root; mounting is part of the fault)."""
    mount_point = tmp_path / "state"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(directory: Path) -> Path:
    """Write a file until the filesystem says ENOSPC; the file is returned so the test can free the space."""
    filler = directory / "filler"
    with filler.open("wb") as out, contextlib.suppress(OSError):
        chunk = b"\0" * 65536
        while True:
            out.write(chunk)
            out.flush()
    probe = directory / "probe"
    with pytest.raises(OSError) as caught:
        probe.write_bytes(b"\0" * 65536)
    assert caught.value.errno == errno.ENOSPC
    probe.unlink(missing_ok=True)
    return filler


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exported")


def test_full_state_disk_is_reported_once_the_daemon_goes_on_and_resumes_when_space_returns(
    start_daemon: StartDaemon, receiver: Receiver, tmp_path: Path, small_state_fs: Path
) -> None:
    """The state directory's filesystem fills up while the daemon runs, then is freed.

    The failure is logged once and exported (tripwired_storage_wal_writable 0); collection and
    rule evaluation go on from memory; when space returns the log resumes with a checkpoint,
    and a kill -9 after that loses none of what was collected while the disk was full.
    """
    write_metrics(tmp_path, ingest_offset=1, level=0, flap=0)
    text = config(tmp_path, receiver.url)
    daemon = start_daemon(text)
    daemon.wait_ready()
    filler = fill(small_state_fs)

    wait_until(lambda: metric(daemon.get("/metrics").text, "tripwired_storage_wal_writable") == 0, "the WAL to fail")
    write_metrics(tmp_path, ingest_offset=1, level=1, flap=0)
    wait_until(lambda: "LevelHigh" in alerts(daemon), "LevelHigh to be evaluated from memory")
    count = points_of_ingest(daemon)
    wait_until(lambda: points_of_ingest(daemon) > count + 5, "collections to go on")  # and the log retries
    assert 1 == daemon.log().count("wal_write_failed")
    assert daemon.get("/-/healthy").status_code == 200

    filler.unlink()
    wait_until(lambda: metric(daemon.get("/metrics").text, "tripwired_storage_wal_writable") == 1, "recovery")
    wait_until(
        lambda: metric(daemon.get("/metrics").text, "tripwired_storage_checkpoint_creations_total") >= 1,
        "the recovery checkpoint",
    )
    held = points_of_ingest(daemon)
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait(timeout=30)
    restarted = start_daemon(text)
    restarted.wait_ready()
    assert points_of_ingest(restarted) >= held - 1
