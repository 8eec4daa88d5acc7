"""The child's side of an isolated collector: how a run's samples become frames on the pipe."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

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
