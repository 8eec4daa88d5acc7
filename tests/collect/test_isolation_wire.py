"""The pipe protocol between an isolated collector and its child: frames, deadlines, chunks."""

from __future__ import annotations

import contextlib
import os
import threading
from array import array
from collections.abc import Iterator

import pytest

from agent.collect.isolation_wire import (
    AnswerTimeoutError,
    ChannelClosedError,
    ReceivedSamples,
    chunks,
    read_frame,
    write_frame,
)
from agent.model import Sample, labels_of


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read_end, write_end = os.pipe()
    yield read_end, write_end
    for fd in (read_end, write_end):
        with contextlib.suppress(OSError):  # the test closed it already
            os.close(fd)


def test_a_frame_larger_than_the_pipe_buffer_arrives_whole(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    message = ("rows", *next(chunks(Sample("m", labels_of(i=str(i)), float(i)) for i in range(20_000))))
    writer = threading.Thread(target=write_frame, args=(write_end, message))
    writer.start()

    received = read_frame(read_end, timeout=10)
    writer.join()

    assert message == received


def test_no_answer_within_the_timeout_raises(pipe: tuple[int, int]) -> None:
    with pytest.raises(AnswerTimeoutError):
        read_frame(pipe[0], timeout=0.05)


def test_a_closed_pipe_is_reported_as_closed(pipe: tuple[int, int]) -> None:
    os.close(pipe[1])

    with pytest.raises(ChannelClosedError):
        read_frame(pipe[0], timeout=1)


def test_writing_to_a_pipe_nobody_reads_is_reported_as_closed(pipe: tuple[int, int]) -> None:
    os.close(pipe[0])

    with pytest.raises(ChannelClosedError):
        write_frame(pipe[1], ("collect",))


def test_samples_cross_in_chunks() -> None:
    samples = [Sample("m", (), float(i)) for i in range(25)]

    assert [10, 10, 5] == [len(values) for _, _, values in chunks(samples, size=10)]


def test_samples_read_back_from_columns_are_the_samples_sent() -> None:
    sent = [Sample(f"m{i % 3}", labels_of(i=str(i)), i / 2) for i in range(25)]
    received = ReceivedSamples()
    for columns in chunks(sent, size=10):
        received.add(*columns)

    assert (25, sent) == (len(received), list(received))
    assert (sent[0], sent[10], sent[24], sent[-1], sent[9:12]) == (
        received[0],
        received[10],
        received[24],
        received[-1],
        received[9:12],
    )
    with pytest.raises(IndexError):
        received[25]


def test_equal_label_sets_from_different_frames_become_one() -> None:
    received = ReceivedSamples()
    received.add(["a"], [labels_of(topic="t", partition="0")], array("d", [1.0]))
    received.add(["b"], [labels_of(topic="t", partition="0")], array("d", [2.0]))

    first, second = received

    assert first.labels is second.labels
