"""MountStatter: statfs within a deadline, stuck mounts remembered, skipped and retried.

The boundary faked here is the stat function: one that blocks on an Event stands in for
a statfs of an unreachable NFS server.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from agent.collect.host_fs import FsUsage, MountStatter, statvfs_usage

USAGE = FsUsage(size=100.0, free=60.0, avail=50.0, files=10.0, files_free=7.0)
TIMEOUT = 0.2


class FakeStat:
    """A stat function that blocks on the paths told to hang, fails on others, counts calls."""

    def __init__(self) -> None:
        self.hanging: dict[str, threading.Event] = {}
        self.failing: set[str] = set()
        self.calls: list[str] = []

    def hang(self, path: str) -> threading.Event:
        self.hanging[path] = threading.Event()
        return self.hanging[path]

    def __call__(self, path: str) -> FsUsage:
        self.calls.append(path)
        if path in self.hanging:
            self.hanging[path].wait()
        if path in self.failing:
            raise PermissionError(13, "Permission denied", path)
        return USAGE


@pytest.fixture
def stat() -> Iterator[FakeStat]:
    fake = FakeStat()
    yield fake
    for event in fake.hanging.values():
        event.set()  # let the stuck workers finish


@pytest.fixture
def statter(stat: FakeStat) -> Iterator[MountStatter]:
    statter = MountStatter(TIMEOUT, stat, workers=2)
    yield statter
    statter.close()


def release(event: threading.Event, stat: FakeStat, path: str) -> None:
    """Unblock a hanging stat and wait until it has returned."""
    del stat.hanging[path]
    event.set()
    time.sleep(0.05)


def test_every_path_gets_its_usage(statter: MountStatter) -> None:
    assert statter.stat_all(["/", "/data"]) == {"/": USAGE, "/data": USAGE}


def test_a_failing_stat_gives_none(statter: MountStatter, stat: FakeStat) -> None:
    stat.failing.add("/secret")

    assert statter.stat_all(["/", "/secret"]) == {"/": USAGE, "/secret": None}


def test_a_failing_stat_is_retried_on_the_next_run(statter: MountStatter, stat: FakeStat) -> None:
    stat.failing.add("/secret")
    statter.stat_all(["/secret"])

    statter.stat_all(["/secret"])

    assert stat.calls == ["/secret", "/secret"]


def test_a_hanging_stat_gives_none_after_the_timeout(statter: MountStatter, stat: FakeStat) -> None:
    stat.hang("/nfs")

    started = time.monotonic()
    result = statter.stat_all(["/nfs"])

    assert result == {"/nfs": None}
    # The fake stat never returns: any finite bound shows the timeout worked; a wide one holds on a loaded machine.
    assert TIMEOUT <= time.monotonic() - started < TIMEOUT + 5.0


def test_a_hanging_stat_does_not_hold_back_the_others(statter: MountStatter, stat: FakeStat) -> None:
    stat.hang("/nfs")

    assert statter.stat_all(["/", "/nfs", "/data"]) == {"/": USAGE, "/nfs": None, "/data": USAGE}


def test_a_stuck_mount_is_logged_once(statter: MountStatter, stat: FakeStat) -> None:
    stat.hang("/nfs")

    with capture_logs() as logs:
        statter.stat_all(["/nfs"])
        statter.stat_all(["/nfs"])

    assert [entry for entry in logs if entry["event"] == "mount_stuck"] == [
        {"event": "mount_stuck", "log_level": "warning", "mountpoint": "/nfs", "timeout_seconds": TIMEOUT}
    ]


def test_a_stuck_mount_is_not_statted_again_while_its_stat_hangs(statter: MountStatter, stat: FakeStat) -> None:
    stat.hang("/nfs")
    statter.stat_all(["/nfs"])

    started = time.monotonic()
    result = statter.stat_all(["/nfs"])

    assert result == {"/nfs": None}
    assert stat.calls == ["/nfs"]
    assert time.monotonic() - started < TIMEOUT  # no waiting on a mount known to be stuck


def test_a_stuck_mount_is_retried_once_its_stat_returns(statter: MountStatter, stat: FakeStat) -> None:
    event = stat.hang("/nfs")
    statter.stat_all(["/nfs"])
    release(event, stat, "/nfs")

    assert statter.stat_all(["/nfs"]) == {"/nfs": USAGE}
    assert stat.calls == ["/nfs", "/nfs"]


def test_a_recovered_mount_is_logged(statter: MountStatter, stat: FakeStat) -> None:
    event = stat.hang("/nfs")
    statter.stat_all(["/nfs"])
    release(event, stat, "/nfs")

    with capture_logs() as logs:
        statter.stat_all(["/nfs"])

    assert logs == [{"event": "mount_recovered", "log_level": "info", "mountpoint": "/nfs"}]


def test_stuck_mounts_do_not_use_up_the_workers(stat: FakeStat) -> None:
    statter = MountStatter(TIMEOUT, stat, workers=1)
    stat.hang("/nfs1")
    stat.hang("/nfs2")
    statter.stat_all(["/nfs1"])
    statter.stat_all(["/nfs2"])

    assert statter.stat_all(["/nfs1", "/nfs2", "/"]) == {"/nfs1": None, "/nfs2": None, "/": USAGE}
    statter.close()


def test_a_stat_still_queued_at_the_deadline_is_not_marked_stuck(stat: FakeStat) -> None:
    statter = MountStatter(TIMEOUT, stat, workers=1)
    stat.hang("/nfs")
    statter.stat_all(["/nfs", "/queued"])  # /queued waits behind /nfs for the only worker

    assert statter.stat_all(["/queued"]) == {"/queued": USAGE}
    statter.close()


def statfs_workers() -> int:
    return sum(thread.name == "host-statfs" for thread in threading.enumerate())


def wait_for_workers_at_most(count: int) -> int:
    deadline = time.monotonic() + 2
    while statfs_workers() > count and time.monotonic() < deadline:
        time.sleep(0.01)
    return statfs_workers()


def test_close_stops_the_workers(stat: FakeStat) -> None:
    before = statfs_workers()
    statter = MountStatter(TIMEOUT, stat, workers=3)

    statter.close()

    assert wait_for_workers_at_most(before) <= before


def test_a_statter_dropped_without_close_stops_its_workers(stat: FakeStat) -> None:
    before = statfs_workers()
    statter = MountStatter(TIMEOUT, stat, workers=3)
    statter.stat_all(["/"])

    del statter
    gc.collect()

    assert wait_for_workers_at_most(before) <= before


def test_statvfs_usage_multiplies_blocks_by_the_block_size(tmp_path: object) -> None:
    usage = statvfs_usage(str(tmp_path))

    assert usage.size > 0
    assert 0 <= usage.avail <= usage.free <= usage.size
