"""How far behind in time a consumer group is, from the history of a partition's end offset.

Kafka says how many messages a group has not read, not since when. The collector
remembers, per partition, when it saw which end offset; the first message a group has not
read (its committed offset) arrived when the end offset passed that offset, which the
history brackets and linear interpolation places. Burrow and kminion estimate the same way.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Hashable, Iterable, Sequence
from typing import overload

DEFAULT_HISTORY_POINTS = 1000

# One observation: (unix time in seconds, end offset then).
Point = tuple[float, int]


def lag_seconds(history: Sequence[Point], committed: int, now: float) -> float:
    """Seconds since the end offset passed `committed`; 0 when the group has read everything.

    `history` is oldest first, offsets non-decreasing. When even the oldest point is past
    the committed offset, the answer is a lower bound: the message is older than the
    history.
    """
    if not history or history[-1][1] <= committed:
        return 0.0
    after = bisect_right(history, committed, key=_offset)  # first point past the committed offset
    if after == 0:
        return max(0.0, now - history[0][0])
    return max(0.0, now - _time_offset_reached(history[after - 1], history[after], committed + 1))


def is_lower_bound(history: Sequence[Point], committed: int) -> bool:
    """Whether `lag_seconds` is only a lower bound: the unread message is older than the history.

    So it is after a restart with no history to seed from, or when the bounded history has
    dropped the point that bracketed the message.
    """
    return not history or history[0][1] > committed


def _offset(point: Point) -> int:
    return point[1]


def _time_offset_reached(before: Point, after: Point, offset: int) -> float:
    """When, between two observations, the end offset reached `offset` (assuming a steady rate)."""
    (t0, o0), (t1, o1) = before, after
    return t0 + (t1 - t0) * (offset - o0) / (o1 - o0)


class _Points(Sequence[Point]):
    """One partition's points, oldest first, in two arrays: no Python object per point.

    An idle partition's last point moves on in place, so a cycle allocates nothing here that
    outlives it; long-lived objects made mid-cycle among its garbage would pin the heap it
    frees (at 10,000 partitions, tens of MB kept by the child between cycles).
    """

    __slots__ = ("_offsets", "_times")

    def __init__(self) -> None:
        self._times = array("d")
        self._offsets = array("q")

    def __len__(self) -> int:
        return len(self._times)

    @overload
    def __getitem__(self, index: int) -> Point: ...

    @overload
    def __getitem__(self, index: slice) -> list[Point]: ...

    def __getitem__(self, index: int | slice) -> Point | list[Point]:
        if isinstance(index, slice):
            return list(zip(self._times[index], self._offsets[index], strict=True))
        return (self._times[index], self._offsets[index])

    def add(self, when: float, end_offset: int, max_points: int) -> None:
        """Append a point; a third equal offset in a row moves the last point's time instead."""
        times, offsets = self._times, self._offsets
        if len(offsets) >= 2 and offsets[-1] == offsets[-2] == end_offset:
            times[-1] = when
            return
        if len(times) >= max_points:
            del times[0], offsets[0]
        times.append(when)
        offsets.append(end_offset)


class OffsetHistory:
    """The bounded history of end offsets of many partitions, oldest point first.

    A run of equal offsets keeps only its first and last point: an idle partition then
    costs two points however long it is idle, and the bound covers more time on quiet
    topics, while the moment the offset moved on is still bracketed exactly.
    """

    def __init__(self, max_points: int = DEFAULT_HISTORY_POINTS) -> None:
        if max_points < 2:
            raise ValueError("max_points must be at least 2 to bracket anything")
        self._max_points = max_points
        self._points: dict[Hashable, _Points] = {}

    def record(self, partition: Hashable, when: float, end_offset: int) -> None:
        """Remember the end offset of one partition at one time."""
        points = self._points.get(partition)
        if points is None or (points and end_offset < points[-1][1]):
            # New partition, or its offsets went back (topic re-created): the past no longer applies.
            points = self._points[partition] = _Points()
        points.add(when, end_offset, self._max_points)

    def lag_seconds(self, partition: Hashable, committed: int, now: float) -> float:
        """`lag_seconds` of one partition's history."""
        return lag_seconds(self._points.get(partition, ()), committed, now)

    def is_lower_bound(self, partition: Hashable, committed: int) -> bool:
        """`is_lower_bound` of one partition's history."""
        return is_lower_bound(self._points.get(partition, ()), committed)

    def retain(self, partitions: Iterable[Hashable]) -> None:
        """Forget partitions that no longer exist, so deleted topics do not pile up."""
        keep = set(partitions)
        for partition in [p for p in self._points if p not in keep]:
            del self._points[partition]

    def __len__(self) -> int:
        return len(self._points)

    def points(self, partition: Hashable) -> list[Point]:
        """The remembered points of one partition (for tests and debugging)."""
        return list(self._points.get(partition, ()))
