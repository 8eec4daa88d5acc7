"""statfs of mount points that gives up on a stuck one instead of hanging the collector.

A statfs of an unreachable NFS server blocks in the kernel, and a thread cannot be
interrupted. So each stat runs in a small reusable pool of daemon threads and is waited
for up to the mount timeout. A mount whose stat is still running at the deadline is
remembered as stuck (like node_exporter's stuckMounts): it is not statted again while
that stat hangs, and is retried on the first run after it returns. The worker it holds
is replaced, so a few stuck mounts cannot starve the pool.
"""

from __future__ import annotations

import os
import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass

import structlog

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class FsUsage:
    """What node_exporter reports from a statfs: bytes and inodes."""

    size: float
    free: float
    avail: float
    files: float
    files_free: float


StatFunction = Callable[[str], FsUsage]


def statvfs_usage(path: str) -> FsUsage:
    """statfs a path as node_exporter does."""
    st = os.statvfs(path)
    # node_exporter multiplies block counts by f_bsize (not f_frsize); they differ on few
    # filesystems, and matching its numbers matters more than being right there.
    block = float(st.f_bsize)
    return FsUsage(st.f_blocks * block, st.f_bfree * block, st.f_bavail * block, float(st.f_files), float(st.f_ffree))


_Job = tuple[Future[FsUsage], str]


class _StatPool:
    """Daemon worker threads running stat calls; a stuck worker is replaced, not waited for."""

    def __init__(self, stat: StatFunction, workers: int) -> None:
        self._stat = stat
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._abandoned: set[Future[FsUsage]] = set()  # stuck stats whose worker has been replaced
        for _ in range(workers):
            self._start_worker()

    def submit(self, path: str) -> Future[FsUsage]:
        future: Future[FsUsage] = Future()
        self._jobs.put((future, path))
        return future

    def abandon(self, future: Future[FsUsage]) -> bool:
        """Replace the worker running a hanging stat (it exits when the stat returns).

        False if the stat has returned after all, so there is nothing to replace.
        """
        with self._lock:
            if future.done():
                return False
            self._abandoned.add(future)
        self._start_worker()
        return True

    def close(self, workers: int) -> None:
        for _ in range(workers):
            self._jobs.put(None)

    def _start_worker(self) -> None:
        threading.Thread(target=self._work, name="host-statfs", daemon=True).start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            self._run(*job)
            if self._retire(job[0]):
                return

    def _run(self, future: Future[FsUsage], path: str) -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(self._stat(path))
        except BaseException as exc:  # handed to the collecting thread, which decides
            future.set_exception(exc)

    def _retire(self, future: Future[FsUsage]) -> bool:
        with self._lock:
            if future in self._abandoned:
                self._abandoned.discard(future)
                return True
            return False


class MountStatter:
    """statfs of many mount points within one deadline, remembering the stuck ones."""

    def __init__(self, timeout: float, stat: StatFunction = statvfs_usage, workers: int = 4) -> None:
        self._timeout = timeout
        self._workers = workers
        self._pool = _StatPool(stat, workers)
        # The workers hold the pool, not this object: stop them when this object goes away
        # (a reload that builds a new collector without closing the old one).
        weakref.finalize(self, self._pool.close, workers)
        self._stuck: dict[str, Future[FsUsage]] = {}  # mount point -> its hanging stat

    def stat_all(self, paths: Iterable[str]) -> dict[str, FsUsage | None]:
        """The usage of each path, or None where its stat failed, hangs or did not finish in time."""
        wanted = list(dict.fromkeys(paths))
        pending = {path: self._pool.submit(path) for path in wanted if not self._still_stuck(path)}
        deadline = time.monotonic() + self._timeout
        return {path: self._wait(path, pending[path], deadline) if path in pending else None for path in wanted}

    def close(self) -> None:
        """Stop the idle workers (a stuck one ends when its stat returns)."""
        self._pool.close(self._workers)

    def _still_stuck(self, path: str) -> bool:
        future = self._stuck.get(path)
        if future is None:
            return False
        if not future.done():
            return True
        del self._stuck[path]
        log.info("mount_recovered", mountpoint=path)
        return False

    def _wait(self, path: str, future: Future[FsUsage], deadline: float) -> FsUsage | None:
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            self._give_up(path, future)
        except OSError as exc:
            log.debug("mount_stat_failed", mountpoint=path, error=str(exc))
        return None

    def _give_up(self, path: str, future: Future[FsUsage]) -> None:
        # A stat that never started (the pool was busy) or returned just now is late, not stuck.
        if future.cancel() or not self._pool.abandon(future):
            return
        self._stuck[path] = future
        log.warning("mount_stuck", mountpoint=path, timeout_seconds=self._timeout)
