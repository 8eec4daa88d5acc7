"""Bounded in-memory series: the points of each metric name and label set, kept compact.

Timestamps are integer milliseconds, as in Prometheus, so range boundaries compare exactly.
Every series that one source writes in a collection gets the same timestamp, so the times
live once per source, in a `Timeline`, and each series keeps only its values, aligned to it
(8 bytes a point, one array a series). A collection that a series missed between two of its
points leaves a gap marker, a NaN with its own payload that readers skip like a staleness
marker. A series written at a time its timeline does not hold (outside any source, or out
of step with the others) moves to a timeline of its own, which is what every series had
before: memory changes, what readers see does not.
"""

from __future__ import annotations

import struct
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from math import copysign, isnan
from typing import Any

from agent.model import Labels, SeriesKey

_DOUBLE = struct.Struct("<d")

# Prometheus' staleness marker: a NaN with a payload no computation produces.
STALE_NAN_BITS = 0x7FF0000000000002
STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]
# "No point here": a collection of the series' timeline that the series was not part of.
GAP_NAN_BITS = 0x7FF0000000000003
GAP_NAN: float = struct.unpack("<d", struct.pack("<Q", GAP_NAN_BITS))[0]
_STALE_BYTES = struct.pack("<Q", STALE_NAN_BITS)
_GAP_BYTES = struct.pack("<Q", GAP_NAN_BITS)
_MARKERS = frozenset((_STALE_BYTES, _GAP_BYTES))
_GAPS = array("d", (GAP_NAN,))
# Codes of the markers when values are kept as integers, and the integers that are kept as such.
_INT_STALE = -(2**31)
_INT_GAP = _INT_STALE + 1
_INT_GAPS = array("i", (_INT_GAP,))
_INT_LOW, _INT_HIGH = _INT_STALE + 2, 2**31 - 1
# The one-value arrays of runs of small integers (states, flags, broker ids, counts), shared by every
# series in such a run: a constant series keeps no array of its own. A shared array is never
# changed: whatever ends a run gives the series a new array first (`_spelled_out`).
_SHARED_RUNS = {code: array("i", (code,)) for code in (*range(-1, 1025), _INT_STALE, _INT_GAP)}
_NO_INTS = array("i")  # a new series' values, shared until its first point

LOOKBACK_MS = 5 * 60 * 1000


def is_stale(value: float) -> bool:
    """Whether a value is the staleness marker (and not an ordinary NaN)."""
    return isnan(value) and _DOUBLE.pack(value) == _STALE_BYTES


def is_gap(value: float) -> bool:
    """Whether a value is the gap marker: no point at this time of the series' timeline."""
    return isnan(value) and _DOUBLE.pack(value) == _GAP_BYTES


def _is_marker(value: float) -> bool:
    return isnan(value) and _DOUBLE.pack(value) in _MARKERS


class Timeline:
    """Timestamps, oldest first, shared by the series written together; `base` counts those trimmed."""

    __slots__ = ("base", "times")

    def __init__(self, times: array[int] | None = None) -> None:
        self.times: array[int] = times if times is not None else array("q")
        self.base = 0

    def trim(self, before_ms: int) -> None:
        """Drop timestamps older than `before_ms` (idempotent: every series of the timeline asks)."""
        cut = bisect_left(self.times, before_ms)
        if cut:
            del self.times[:cut]
            self.base += cut

    def at_end(self, t_ms: int) -> int | None:
        """The position of `t_ms` once it is the newest timestamp (appended if later); None if older."""
        times = self.times
        if not times or t_ms > times[-1]:
            times.append(t_ms)
        elif t_ms != times[-1]:
            return None
        return self.base + len(times) - 1


class Series:
    """The points of one series, oldest first: values aligned to a timeline from position `start`.

    Values are kept as 32-bit integers while every one of them is one (offsets, counts, states:
    most of what Kafka and the host report), as doubles from the first one that is not. While
    they are all the same (a partition's leader, its replicas) the value is kept once, with
    `run` saying how many points repeat it; 0 means `_values` holds every point. A first point
    starts a run, and a run of a small integer shares its one-value array with other series.
    """

    __slots__ = ("_values", "labels", "name", "run", "start", "timeline")

    def __init__(self, name: str, labels: Labels, timeline: Timeline) -> None:
        self.name = name
        self.labels = labels
        self.timeline = timeline
        self.start = timeline.base + len(timeline.times)  # where a first value would go
        self._values: array[Any] = _NO_INTS  # integers or doubles, see _widen
        self.run = 0

    @property
    def key(self) -> SeriesKey:
        """The series' identity (name and labels)."""
        return SeriesKey(self.name, self.labels)

    # -- writing -------------------------------------------------------------

    def put(self, position: int, value: float) -> None:
        """Set the value at `position` of the timeline: a new newest point, or the newest overwritten."""
        if self.run and self._run_takes(position, value):
            return
        values = self._values
        code: float | None = _int_code(value) if values.typecode == "i" else value
        if code is None:
            values = self._widen()
            code = value
        end = self.start + len(values)
        if not values:
            self.start = position
            self.run = 1
            self._values = _one_value(values.typecode, code)
        elif position == end:
            values.append(code)
        elif position > end:
            values.extend((_INT_GAPS if values.typecode == "i" else _GAPS) * (position - end))
            values.append(code)
        elif position == end - 1:
            values[-1] = code
        # older: out of order, dropped as Prometheus does

    def _run_takes(self, position: int, value: float) -> bool:
        """Whether the point leaves the run as it is or one longer; if not, the run is spelled out."""
        end = self.start + self.run
        if position < end - 1:
            return True  # out of order: dropped
        if position in (end, end - 1) and _same(self._values[0], value, self._values.typecode):
            if position == end:
                self.run += 1
            return True
        self._spell_out()
        return False

    def append(self, t_ms: int, value: float) -> None:
        """Add a point at any time: later than the newest, or overwriting it (older ones are dropped)."""
        self._align()
        timeline, count = self.timeline, self._count()
        times = timeline.times
        if count:
            newest = times[self.start - timeline.base + count - 1]
            if t_ms <= newest:
                if t_ms == newest:
                    self.put(self.start + count - 1, value)
                return
        if not times or t_ms > times[-1]:
            times.append(t_ms)
            self.put(timeline.base + len(times) - 1, value)
            return
        i = bisect_left(times, t_ms, self.start - timeline.base + count if count else 0)
        if i < len(times) and times[i] == t_ms:
            self.put(timeline.base + i, value)
            return
        self._own_timeline()
        self.timeline.times.append(t_ms)
        self.put(self.timeline.base + len(self.timeline.times) - 1, value)

    def extend(self, points: Timeline, values: Sequence[float]) -> None:
        """Add points later than the newest (replay): `values[i]` at `points.times[i]`."""
        times = points.times
        if not times:
            return
        if not self._values:
            self.timeline, self.start, self.run = points, points.base, 0
            self._values = values if isinstance(values, array) else array("d", values)
            return
        self._align()
        self._spell_out()
        own = self.timeline.times
        end = self.start - self.timeline.base + len(self._values)
        if end == len(own) and times[0] > own[-1]:
            own.extend(times)
            self._widen().extend(values)
        elif own[end : end + len(times)] == times:  # another series of the timeline extended it already
            self._widen().extend(values)
        else:
            for t_ms, value in zip(times, values, strict=True):
                self.append(t_ms, value)

    def expire(self, cutoff_ms: int) -> bool:
        """Drop points older than `cutoff_ms`; True when nothing worth keeping is left.

        That is no point at all, or a staleness marker as the newest point, itself older than the
        cutoff. Values left all equal by the cut become a run again. One call per series at each
        compaction, so it avoids calling the other methods.
        """
        timeline = self.timeline
        times = timeline.times
        if times and times[0] < cutoff_ms:
            timeline.trim(cutoff_ms)  # the first series of a shared timeline trims it for all
        if timeline.base > self.start:
            self._align()
            self._fold()
        values = self._values
        if not values:
            return True
        last = values[-1]
        if not (last == _INT_STALE if values.typecode == "i" else isnan(last) and is_stale(last)):
            return False
        return times[self.start - timeline.base + (self.run or len(values)) - 1] <= cutoff_ms

    def _fold(self) -> None:
        """Keep values that are all equal once, as a run."""
        values = self._values
        if self.run or len(values) < 2 or values[0] != values[-1]:  # cheap tests first
            return
        if values.tobytes() == values[:1].tobytes() * len(values):
            self.run = len(values)
            self._values = _one_value(values.typecode, values[0])

    def narrow(self) -> None:
        """Keep the values as 32-bit integers if every one is one (series replay brought back as doubles)."""
        values = self._values
        if values.typecode == "i" or not values:
            return
        try:
            ints = array("i", map(int, values))
        except (ValueError, OverflowError):  # a NaN (staleness too), an infinity, a large number
            return
        if min(ints) >= _INT_LOW and array("d", ints).tobytes() == values.tobytes():  # -0.0 stays a double
            self._values = ints

    def _widen(self) -> array[float]:
        """Switch the values to doubles (a value that is not a 32-bit integer came)."""
        values = self._values
        if values.typecode == "i":
            values = self._values = _decoded(values)
        return values

    def _spell_out(self) -> None:
        """End the run: every point gets its own copy of the value, in an array of the series' own."""
        if self.run:
            self._values = self._values * self.run
            self.run = 0

    def _align(self) -> None:
        """Drop the values whose timestamps the timeline has trimmed (another series trimmed it)."""
        skip = self.timeline.base - self.start
        if skip <= 0:
            return
        self.start += skip
        if self.run > skip:
            self.run -= skip
        elif self.run:
            self.run = 0
            self._values = array(self._values.typecode)
        else:
            del self._values[:skip]

    def _own_timeline(self) -> None:
        """Move to a timeline of this series alone (a point at a time the shared one lacks)."""
        times, values = self.points()
        self.timeline, self.start, self._values, self.run = Timeline(times), 0, values, 0

    def _count(self) -> int:
        return self.run or len(self._values)

    def _slice(self, lo: int, hi: int) -> array[Any]:
        """The stored values from index `lo` to `hi` (relative to `start`), a run spelled out."""
        if self.run:
            return self._values * (max(hi, lo) - lo)
        return self._values[lo:hi]

    # -- reading -------------------------------------------------------------

    def points(self, since_ms: int | None = None) -> tuple[array[int], array[float]]:
        """Copies of the points at or after `since_ms` (all without), staleness markers included."""
        self._align()
        timeline, count = self.timeline, self._count()
        first = self.start - timeline.base
        lo = first if since_ms is None else bisect_left(timeline.times, since_ms, first, first + count)
        times = timeline.times[lo : first + count]
        kept = _decoded(self._slice(lo - first, count))
        if isnan(sum(kept)) and _GAP_BYTES in {_DOUBLE.pack(v) for v in kept if isnan(v)}:
            keep = [i for i, v in enumerate(kept) if not is_gap(v)]
            return array("q", [times[i] for i in keep]), array("d", [kept[i] for i in keep])
        return times, kept

    @property
    def times(self) -> array[int]:
        """A copy of every point's timestamp, staleness markers included."""
        return self.points()[0]

    @property
    def values(self) -> array[float]:
        """A copy of every point's value, staleness markers included."""
        return self.points()[1]

    def window(self, start_ms: int, end_ms: int) -> tuple[Sequence[int], Sequence[float]]:
        """Points with start < t <= end (Prometheus' range-selector semantics), stale ones left out."""
        timeline = self.timeline
        if timeline.base > self.start:
            self._align()
        values, run = self._values, self.run
        first = self.start - timeline.base
        stop = first + (run or len(values))
        times = timeline.times
        lo = bisect_right(times, start_ms, first, stop)
        hi = bisect_right(times, end_ms, lo, stop)
        window_times = times[lo:hi]
        # The rules' hot path. The values go out as a list: range functions read each value once or
        # more, and a list hands out its floats where an array makes a new one at every read.
        numbers = [values[0]] * (hi - lo) if run else values[lo - first : hi - first].tolist()
        if values.typecode == "i":
            if not numbers or min(numbers) >= _INT_LOW:  # no marker among them
                return window_times, list(map(float, numbers))
            numbers = _decoded(array("i", numbers)).tolist()
        if isnan(sum(numbers)):  # NaN propagates through a sum: one C loop instead of a generator
            keep = [i for i, v in enumerate(numbers) if not _is_marker(v)]
            return [window_times[i] for i in keep], [numbers[i] for i in keep]
        return window_times, numbers

    def at(self, t_ms: int, lookback_ms: int = LOOKBACK_MS) -> tuple[int, float] | None:
        """The newest point at or before `t_ms` within the lookback, or None if none or stale."""
        timeline = self.timeline
        if timeline.base > self.start:
            self._align()
        values, run = self._values, self.run
        first = self.start - timeline.base
        times = timeline.times
        i = bisect_right(times, t_ms, first, first + (run or len(values))) - 1
        if i < first or times[i] <= t_ms - lookback_ms:
            return None
        value = values[0 if run else i - first]  # every instant selector reads this: no calls on the way
        if values.typecode == "i":
            if value >= _INT_LOW:
                return times[i], float(value)
        elif not isnan(value):
            return times[i], value
        return self._before_marker(i, first, t_ms - lookback_ms)

    def _before_marker(self, i: int, first: int, after_ms: int) -> tuple[int, float] | None:
        """`at` when the newest point is a marker: stale means none; past gaps, the point before them."""
        values, run, times = self._values, self.run, self.timeline.times
        while i >= first and times[i] > after_ms:
            value = _value(values, 0 if run else i - first)
            if not isnan(value) or not _is_marker(value):
                return times[i], value
            if not is_gap(value):
                return None  # stale
            i -= 1
        return None

    def last_timestamp(self) -> int | None:
        """When the newest point was written, a staleness marker too; None when empty."""
        if not self._values:
            return None
        self._align()
        return self.timeline.times[self.start - self.timeline.base + self._count() - 1]

    def latest(self) -> float | None:
        """The newest value, or None when the series is stale or empty (what /metrics shows)."""
        values = self._values
        if not values:
            return None
        value: float = values[-1]  # never a gap: gaps only ever come before a point
        if values.typecode == "i":
            return None if value == _INT_STALE else float(value)
        if isnan(value) and is_stale(value):
            return None
        return value


def _same(stored: float, value: float, typecode: str) -> bool:
    """Whether `value` is stored as `stored` already (bit for bit: 0.0 is not -0.0, NaNs never are)."""
    if typecode == "i":
        return _int_code(value) == stored
    return stored == value and _DOUBLE.pack(stored) == _DOUBLE.pack(value)


def _int_code(value: float) -> int | None:
    """`value` as stored in an integer array (markers as reserved codes), None if it is not one."""
    if _INT_LOW <= value <= _INT_HIGH:
        code = int(value)
        return code if code == value and (code or copysign(1.0, value) > 0) else None
    if isnan(value):
        bits = _DOUBLE.pack(value)
        return _INT_STALE if bits == _STALE_BYTES else _INT_GAP if bits == _GAP_BYTES else None
    return None


def _one_value(typecode: str, code: float) -> array[Any]:
    """An array of `code` alone for a run: the shared one for a small integer, else a new one."""
    if typecode == "i":
        shared = _SHARED_RUNS.get(int(code))
        if shared is not None:
            return shared
    return array(typecode, (code,))


def _value(values: array[Any], i: int) -> float:
    value: float = values[i]
    if values.typecode != "i":
        return value
    return STALE_NAN if value == _INT_STALE else GAP_NAN if value == _INT_GAP else float(value)


def _decoded(values: array[Any]) -> array[float]:
    """Values as doubles, markers included (a copy when they are integers)."""
    if values.typecode != "i":
        return values
    numbers = values.tolist()  # a list converts to doubles faster than the array itself
    if numbers and min(numbers) < _INT_LOW:
        return array("d", [_value(values, i) for i in range(len(values))])
    return array("d", numbers)
