"""The pipe protocol between an isolated collector and its child process.

Frames are a 4-byte big-endian length and a pickle. Both ends are this package, started
by the daemon itself, so pickle is safe here; it is also the fastest encoding the standard
library has for 100,000 (name, labels, value) rows. Samples cross the pipe as columns, in
frames of CHUNK_ROWS rows: a list of names, a list of label sets and an array of values
(pickle memoizes the repeated names and label sets). Neither end makes an object per sample
for the pipe: 105,000 row tuples and floats a cycle made, then freed, in the daemon left its
heap fragmented (measured at 10,000 Kafka partitions: see bench/RESULTS.md).

A collection's answer is any number of `("rows", names, labels, values)` frames, then one of
`("ok",)`, `("partial", error)` (the rows are what a partial run read) or `("error", message)`.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
import time
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from agent.model import Labels, MetricMeta, Sample

_HEADER = struct.Struct(">I")
_CHUNK = 1 << 20

# The child's `--log.level` choices: the daemon's, which it passes on with `--log.format`.
LOG_LEVELS = ("debug", "info", "warning", "error")

# The samples of one frame: names, label sets and values, row by row.
Columns = tuple[list[str], list[Labels], "array[float]"]
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


def chunks(samples: Iterable[Sample], size: int = CHUNK_ROWS) -> Iterator[Columns]:
    """The samples as columns, `size` rows at a time, taken as the iterable yields them.

    With a collector that streams its samples, neither end ever holds all of them, or all the
    pickle, at once.
    """
    names: list[str] = []
    labels: list[Labels] = []
    values = array("d")
    for sample in samples:
        names.append(sample.name)
        labels.append(sample.labels)
        values.append(sample.value)
        if len(values) >= size:
            yield names, labels, values
            names, labels, values = [], [], array("d")
    if values:
        yield names, labels, values


class ReceivedSamples(Sequence[Sample]):
    """The samples of one answer, kept as the columns they came in; a `Sample` is made only when read.

    The store reads each once, so one transient `Sample` at a time replaces 105,000 held for
    the whole write. Equal label sets from different frames become one object (pickle shares
    them only within a frame), so the store, which keeps the label set it first saw, holds one
    copy per Kafka partition instead of one per family.
    """

    def __init__(self) -> None:
        self._frames: list[Columns] = []
        self._length = 0
        self._labels: dict[Labels, Labels] = {}

    def add(self, names: list[str], labels: list[Labels], values: array[float]) -> None:
        """Append one frame's columns."""
        shared = self._labels.setdefault
        self._frames.append((names, [shared(one, one) for one in labels], values))
        self._length += len(values)

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[Sample]:
        for names, labels, values in self._frames:
            yield from map(Sample, names, labels, values)

    @overload
    def __getitem__(self, index: int) -> Sample: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Sample]: ...

    def __getitem__(self, index: int | slice) -> Sample | Sequence[Sample]:
        if isinstance(index, slice):
            return list(self)[index]
        position = index + self._length if index < 0 else index
        if not 0 <= position < self._length:
            raise IndexError(index)
        for names, labels, values in self._frames:
            if position < len(values):
                return Sample(names[position], labels[position], values[position])
            position -= len(values)
        raise IndexError(index)


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
