"""The child's side of an isolated collector: how a run's samples become frames on the pipe."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from agent.collect.base import PartialCollectionError
from agent.collect.isolation_wire import CHUNK_ROWS, write_frame
from agent.collect.worker import answer, serve
from agent.model import MetricMeta, Sample, labels_of


class StreamingFake:
    """Yields `count` samples, then fails as told; records how many it had yielded when each frame left."""

    def __init__(self, count: int, failure: Exception | None = None) -> None:
        self.count = count
        self.failure = failure
        self.yielded = 0

    name = "fake"
    instance = "one"

    def metrics(self) -> Sequence[MetricMeta]:
        return ()

    def collect(self) -> Sequence[Sample]:
        return list(self.stream())

    def stream(self) -> Iterator[Sample]:
        for i in range(self.count):
            self.yielded += 1
            yield Sample("fake", labels_of(i=str(i)), float(i))
        if self.failure is not None:
            raise self.failure


def test_rows_leave_in_frames_while_the_collector_still_streams() -> None:
    fake = StreamingFake(CHUNK_ROWS * 2 + 5)

    yielded_at_each_frame = [(frame[0], fake.yielded) for frame in answer(fake, ("collect",))]

    assert [
        ("rows", CHUNK_ROWS),
        ("rows", 2 * CHUNK_ROWS),
        ("rows", 2 * CHUNK_ROWS + 5),
        ("ok", 2 * CHUNK_ROWS + 5),
    ] == (yielded_at_each_frame)


def test_a_partial_stream_sends_every_row_before_saying_so() -> None:
    fake = StreamingFake(3, PartialCollectionError([Sample("late", (), 1.0)], "requests failed: metadata"))

    frames = list(answer(fake, ("collect",)))

    assert [("rows", 4), ("partial", "requests failed: metadata")] == [
        (frames[0][0], len(frames[0][3])),
        frames[1],
    ]


def test_a_stream_that_raises_ends_in_an_error_frame() -> None:
    frames = list(answer(StreamingFake(2, ValueError("boom")), ("collect",)))

    assert ("error", "ValueError: boom") == frames[-1]


def test_a_parent_gone_mid_answer_ends_serving_without_a_traceback() -> None:
    """The daemon stopped while the child was sending rows: the child returns, it does not raise BrokenPipe."""
    requests_read, requests_write = os.pipe()
    replies_read, replies_write = os.pipe()
    write_frame(requests_write, ("collect",))
    os.close(replies_read)  # the parent is gone
    try:
        serve(StreamingFake(CHUNK_ROWS * 2), requests_read, replies_write)  # returns: nothing raised
    finally:
        for fd in (requests_read, requests_write, replies_write):
            os.close(fd)


GRANDCHILD = """
import os, sys, time
from agent.collect.worker import _exit_with_parent
_exit_with_parent(os.getppid())
print(os.getpid(), flush=True)
time.sleep(60)
"""


def test_an_isolated_collector_ends_when_the_daemon_is_gone() -> None:
    """A child whose parent dies (a kill -9 of the daemon) exits on its own instead of lingering."""
    middle = (
        "import subprocess, sys\n"
        f"child = subprocess.Popen([sys.executable, '-c', {GRANDCHILD!r}], stdout=subprocess.PIPE, text=True)\n"
        "print(child.stdout.readline().strip(), flush=True)\n"
    )  # prints the grandchild's pid once its watch runs, then exits without waiting for it
    result = subprocess.run([sys.executable, "-c", middle], capture_output=True, text=True, timeout=30, check=True)
    orphan = int(result.stdout.strip())
    deadline = time.monotonic() + 10
    while _alive(orphan) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(orphan)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
