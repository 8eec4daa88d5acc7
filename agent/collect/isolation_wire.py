"""The pipe protocol between an isolated collector and its child process.

Frames are a 4-byte big-endian length and a pickle. Both ends are this package, started
by the daemon itself, so pickle is safe here; it is also the fastest encoding the standard
library has for 100,000 (name, labels, value) rows. Samples cross the pipe as plain tuples
(pickle memoizes the repeated name and label strings), not as `Sample` objects, which
pickle three times slower, in frames of CHUNK_ROWS rows.

A collection's answer is any number of `("rows", [row, ...])` frames, then one of
`("ok",)`, `("partial", error)` (the rows are what a partial run read) or `("error", message)`.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.model import Labels, MetricMeta, Sample

_HEADER = struct.Struct(">I")
_CHUNK = 1 << 20

# The child's `--log.level` choices: the daemon's, which it passes on with `--log.format`.
LOG_LEVELS = ("debug", "info", "warning", "error")

# One sample on the wire.
Row = tuple[str, Labels, float]
CHUNK_ROWS = 10_000


@dataclass(frozen=True)
class Hosted:
    """Which collector a child process runs: a class (or factory) by import path, and its arguments.

    Everything here is pickled to the child, so `args` hold plain config values, never a client.
    `seeded_from` names the metric families whose stored history the collector's `seed` reads.
    """

    factory: str  # "package.module:ClassName"
    name: str
    instance: str
    metrics: tuple[MetricMeta, ...]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    seeded_from: tuple[str, ...] = ()


class ChannelClosedError(Exception):
    """The other end closed the pipe (the child died, or the parent went away)."""


class AnswerTimeoutError(Exception):
    """The other end did not answer in time."""


def chunks(samples: Iterable[Sample], size: int = CHUNK_ROWS) -> Iterator[list[Row]]:
    """The samples as rows, `size` at a time, taken as the iterable yields them.

    With a collector that streams its samples, neither end ever holds all of them, or all the
    pickle, at once.
    """
    rows: list[Row] = []
    for sample in samples:
        rows.append((sample.name, sample.labels, sample.value))
        if len(rows) >= size:
            yield rows
            rows = []
    if rows:
        yield rows


class SampleReader:
    """Turns the rows of one answer back into samples, one label set per distinct set of labels.

    Samples of one partition share their label set in the child; pickle keeps that sharing within
    a frame and this across frames, so the store, which keeps the label set it first saw, holds one
    copy per partition instead of one per sample.
    """

    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self._labels: dict[Labels, Labels] = {}

    def add(self, rows: Sequence[Row]) -> None:
        shared = self._labels.setdefault
        self.samples.extend(Sample(name, shared(labels, labels), value) for name, labels, value in rows)


def write_frame(fd: int, message: object) -> None:
    """Send one message; raises ChannelClosedError when the reader is gone."""
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    data = memoryview(_HEADER.pack(len(payload)) + payload)
    try:
        while data:
            data = data[os.write(fd, data[:_CHUNK]) :]
    except (BrokenPipeError, ConnectionResetError) as exc:
        raise ChannelClosedError(str(exc)) from exc


def read_frame(fd: int, timeout: float | None = None) -> Any:
    """Receive one message within `timeout` seconds (None: wait as long as it takes)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    (length,) = _HEADER.unpack(_read_exactly(fd, _HEADER.size, deadline))
    return pickle.loads(_read_exactly(fd, length, deadline))


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes:
    parts: list[bytes] = []
    missing = size
    while missing:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise AnswerTimeoutError
        part = os.read(fd, min(missing, _CHUNK))
        if not part:
            raise ChannelClosedError("end of stream")
        parts.append(part)
        missing -= len(part)
    return b"".join(parts)
