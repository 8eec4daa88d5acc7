"""Functions over range vectors: rate and friends, regressions, and the *_over_time family.

Each works on one series' time and value arrays (no per-point objects) and returns None when
the series yields no output, as Prometheus drops it.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from agent.promql.stats import go_max, go_min, kahan_add, kahan_add_3, mean_3, quantile


@dataclass(frozen=True, slots=True)
class Window:
    """Where a range function looks: [start, end] in ms, the range, the eval time and a scalar argument."""

    start: int
    end: int
    range_ms: int
    t: int
    arg: float = 0.0


RangeFn = Callable[[Window, Sequence[int], Sequence[float]], float | None]


def extrapolated(counter: bool, per_second: bool, *, v3: bool = False) -> RangeFn:
    """rate/increase/delta: the change over the window, extrapolated towards its edges (extrapolatedRate).

    Prometheus 3 caps the extrapolation to the window start before comparing it with the
    counter's zero point; 2.42 compared first.
    """

    def fn(w: Window, times: Sequence[int], values: Sequence[float]) -> float | None:
        if len(values) < 2:
            return None
        first, last = values[0], values[-1]
        result = last - first
        if counter:
            result = _add_resets(result, values)
        to_start = (times[0] - w.start) / 1000
        to_end = (w.end - times[-1]) / 1000
        sampled = (times[-1] - times[0]) / 1000
        average = sampled / (len(values) - 1)
        threshold = average * 1.1
        if v3 and to_start >= threshold:
            to_start = average / 2
        if counter and result > 0 and first >= 0:
            to_zero = sampled * (first / result)
            to_start = min(to_start, to_zero)
        interval = sampled
        interval += to_start if v3 or to_start < threshold else average / 2
        interval += to_end if to_end < threshold else average / 2
        # The factor is formed first, as Prometheus does, so results agree to the last bit.
        factor = interval / sampled
        if per_second:
            factor /= w.range_ms / 1000
        return result * factor

    return fn


def _add_resets(result: float, values: Sequence[float]) -> float:
    """Add back what each counter reset took away, one by one as Prometheus does (the order rounds)."""
    previous = 0.0
    for v in values:
        if v < previous:
            result += previous
        previous = v
    return result


def instant_change(per_second: bool) -> RangeFn:
    """irate/idelta: from the last two points only."""

    def fn(w: Window, times: Sequence[int], values: Sequence[float]) -> float | None:
        if len(values) < 2:
            return None
        last, previous = values[-1], values[-2]
        result = last if per_second and last < previous else last - previous
        interval = times[-1] - times[-2]
        if interval == 0:
            return None
        if per_second:
            result /= interval / 1000
        return result

    return fn


def linear_regression(times: Sequence[int], values: Sequence[float], intercept_ms: int) -> tuple[float, float]:
    """Least-squares slope and intercept, x in seconds from `intercept_ms` (Prometheus' linearRegression)."""
    first = values[0]
    if all(v == first for v in values):
        if math.isinf(first):
            return math.nan, math.nan
        return 0.0, first
    n = 0.0
    sum_x = c_x = sum_y = c_y = sum_xy = c_xy = sum_x2 = c_x2 = 0.0
    for t, v in zip(times, values, strict=True):
        n += 1.0
        x = (t - intercept_ms) / 1e3
        sum_x, c_x = kahan_add(x, sum_x, c_x)
        sum_y, c_y = kahan_add(v, sum_y, c_y)
        sum_xy, c_xy = kahan_add(x * v, sum_xy, c_xy)
        sum_x2, c_x2 = kahan_add(x * x, sum_x2, c_x2)
    sum_x, sum_y, sum_xy, sum_x2 = sum_x + c_x, sum_y + c_y, sum_xy + c_xy, sum_x2 + c_x2
    cov_xy = sum_xy - sum_x * sum_y / n
    var_x = sum_x2 - sum_x * sum_x / n
    slope = cov_xy / var_x if var_x != 0 else math.copysign(math.inf, cov_xy) if cov_xy else math.nan
    intercept = sum_y / n - slope * sum_x / n
    return slope, intercept


def deriv(w: Window, times: Sequence[int], values: Sequence[float]) -> float | None:
    """The per-second slope of a least-squares fit of the points; None under two points."""
    if len(values) < 2:
        return None
    return linear_regression(times, values, times[0])[0]


def predict_linear(w: Window, times: Sequence[int], values: Sequence[float]) -> float | None:
    """The fitted value `w.arg` seconds after the evaluation time; None under two points."""
    if len(values) < 2:
        return None
    slope, intercept = linear_regression(times, values, w.t)
    return slope * w.arg + intercept


def resets(w: Window, times: Sequence[int], values: Sequence[float]) -> float | None:
    """How many times the value went down (a counter reset)."""
    return float(sum(1 for a, b in pairwise(values) if b < a))


def changes(w: Window, times: Sequence[int], values: Sequence[float]) -> float | None:
    """How many times the value changed (NaN to NaN is no change)."""
    count = 0
    for a, b in pairwise(values):
        if a != b and not (math.isnan(a) and math.isnan(b)):
            count += 1
    return float(count)


def avg_over_time(w: Window, times: Sequence[int], values: Sequence[float]) -> float | None:
    """The mean of the values, Kahan-summed incrementally as Prometheus does (keeps infinities)."""
    mean = c = count = 0.0
    for v in values:
        count += 1
        if math.isinf(mean) and (
            (math.isinf(v) and (mean > 0) == (v > 0)) or (not math.isinf(v) and not math.isnan(v))
        ):
            continue
        mean, c = kahan_add(v / count - mean / count, mean, c)
    return mean if math.isinf(mean) else mean + c


def sum_over_time(w: Window, times: Sequence[int], values: Sequence[float]) -> float | None:
    """The sum of the values, Kahan-compensated."""
    total = c = 0.0
    for v in values:
        total, c = kahan_add(v, total, c)
    return total if math.isinf(total) else total + c


def stdvar_over_time(w: Window, times: Sequence[int], values: Sequence[float]) -> float | None:
    """The population variance of the values (Welford's method, Kahan-compensated)."""
    count = mean = c_mean = aux = c_aux = 0.0
    for v in values:
        count += 1
        delta = v - (mean + c_mean)
        mean, c_mean = kahan_add(delta / count, mean, c_mean)
        aux, c_aux = kahan_add(delta * (v - (mean + c_mean)), aux, c_aux)
    return (aux + c_aux) / count


def stddev_over_time(w: Window, times: Sequence[int], values: Sequence[float]) -> float | None:
    """The population standard deviation of the values."""
    variance = stdvar_over_time(w, times, values)
    return None if variance is None else math.sqrt(variance)


def mad_over_time(w: Window, times: Sequence[int], values: Sequence[float]) -> float | None:
    """The median absolute deviation from the median; a NaN makes it NaN (Prometheus 3, experimental)."""
    if any(math.isnan(v) for v in values):
        return math.nan
    median = quantile(0.5, values, exact_rank=True)
    return quantile(0.5, [abs(v - median) for v in values], exact_rank=True)


def ts_of_extreme(lowest: bool) -> RangeFn:
    """ts_of_min_over_time / ts_of_max_over_time: when the last lowest (highest) value was seen, in seconds.

    A later equal value wins, and NaN is replaced by any later value (Prometheus' compareOverTime).
    """

    def fn(w: Window, times: Sequence[int], values: Sequence[float]) -> float | None:
        best, when = values[0], times[0]
        for t, v in zip(times, values, strict=True):
            if (v <= best if lowest else v >= best) or math.isnan(best):
                best, when = v, t
        return when / 1000

    return fn


INTEGRAL_LEFT, INTEGRAL_RIGHT, INTEGRAL_TRAPEZOIDAL = 0, 1, 2


def integral_strategy(arg: float) -> int:
    """integral()'s strategy: 0 left point, 1 right point, 2 trapezoidal (the default, and for anything else)."""
    if math.isnan(arg) or math.isinf(arg) or arg != math.trunc(arg) or not 0 <= arg <= INTEGRAL_TRAPEZOIDAL:
        return INTEGRAL_TRAPEZOIDAL
    return int(arg)


def _nan_as_zero(v: float) -> float:
    return 0.0 if math.isnan(v) else v


def _step_height(strategy: int, previous: float, current: float) -> tuple[float, float]:
    """The height of one step of the integral, with its Kahan compensation."""
    if strategy == INTEGRAL_LEFT:
        return previous, 0.0
    if strategy == INTEGRAL_RIGHT:
        return current, 0.0
    if previous == 0 and current == 0:
        return 0.0, 0.0
    value, c = kahan_add_3(current, previous, 0.0)
    if math.isinf(value) and not math.isinf(current) and not math.isinf(previous):
        return kahan_add_3(current / 2, previous / 2, 0.0)  # the sum overflowed, the mean does not
    return value / 2, c / 2


def integral(w: Window, times: Sequence[int], values: Sequence[float]) -> float | None:
    """The area under the points over time, NaN counted as 0 (Prometheus 3's funcIntegral; experimental)."""
    strategy = integral_strategy(w.arg)
    total = c = 0.0
    previous_t, previous_v = 0, 0.0
    for i, (t, v) in enumerate(zip(times, values, strict=True)):
        value, c_value = _step_height(strategy, _nan_as_zero(previous_v), _nan_as_zero(v))
        if i > 0 and (value != 0 or c_value != 0):
            dt = (t - previous_t) / 1000
            total, c = kahan_add_3(value * dt, total, c + c_value * dt)
        previous_t, previous_v = t, v
    return total if math.isinf(total) else total + c


RANGE_FUNCTIONS: dict[str, RangeFn] = {
    "rate": extrapolated(counter=True, per_second=True),
    "increase": extrapolated(counter=True, per_second=False),
    "delta": extrapolated(counter=False, per_second=False),
    "irate": instant_change(per_second=True),
    "idelta": instant_change(per_second=False),
    "deriv": deriv,
    "predict_linear": predict_linear,
    "resets": resets,
    "changes": changes,
    "avg_over_time": avg_over_time,
    "sum_over_time": sum_over_time,
    "stdvar_over_time": stdvar_over_time,
    "stddev_over_time": stddev_over_time,
    "min_over_time": lambda w, times, values: go_min(values),
    "max_over_time": lambda w, times, values: go_max(values),
    "count_over_time": lambda w, times, values: float(len(values)),
    "last_over_time": lambda w, times, values: values[-1],
    "present_over_time": lambda w, times, values: 1.0,
    "quantile_over_time": lambda w, times, values: quantile(w.arg, values),
    "mad_over_time": mad_over_time,
    "first_over_time": lambda w, times, values: values[0],
    "ts_of_first_over_time": lambda w, times, values: times[0] / 1000,
    "ts_of_last_over_time": lambda w, times, values: times[-1] / 1000,
    "ts_of_min_over_time": ts_of_extreme(lowest=True),
    "ts_of_max_over_time": ts_of_extreme(lowest=False),
    "integral": integral,
}

# Prometheus 3 computes these differently (same value up to the last bits).
RANGE_FUNCTIONS_3: dict[str, RangeFn] = {
    **RANGE_FUNCTIONS,
    "rate": extrapolated(counter=True, per_second=True, v3=True),
    "increase": extrapolated(counter=True, per_second=False, v3=True),
    "avg_over_time": lambda w, times, values: mean_3(values),
    "quantile_over_time": lambda w, times, values: quantile(w.arg, values, exact_rank=True),
}


# Extended range selectors (Prometheus 3's `anchored` and `smoothed`, proposal 0052). The selector
# reads a lookback more before the range (and after it, smoothed); the functions below take the
# values at the range's boundaries from those points, as Prometheus' extendedRate does. tripwired
# has no start timestamps, so Prometheus' start-timestamp adjustments never apply.


def _interpolate(t1: int, v1: float, t2: int, v2: float, t: int, *, counter: bool) -> float:
    if counter and v2 < v1:
        v1 = 0.0  # a counter reset between the two: the counter restarted from zero
    return v1 + (v2 - v1) * (t - t1) / (t2 - t1)


def _left(
    times: Sequence[int], values: Sequence[float], first: int, start: int, *, smoothed: bool, counter: bool
) -> float:
    """The value at the range start: the last point at or before it, or interpolated towards the next."""
    if times[first] >= start or not smoothed:
        return values[first]
    return _interpolate(times[first], values[first], times[first + 1], values[first + 1], start, counter=counter)


def _right(
    times: Sequence[int], values: Sequence[float], last: int, end: int, *, smoothed: bool, counter: bool
) -> float:
    """The value at the range end: the last point in the range, or interpolated from the one before it."""
    if times[last] <= end or last == 0:
        return values[last]
    if not smoothed:
        return values[last - 1]
    return _interpolate(times[last - 1], values[last - 1], times[last], values[last], end, counter=counter)


def _bounds(times: Sequence[int], start: int, end: int, smoothed: bool) -> tuple[int, int] | None:
    """Indexes of the points giving the boundary values (pickOrInterpolateLeft/Right's first and last)."""
    last = len(times) - 1
    first = max(0, bisect_right(times, start, 0, last) - 1)
    if smoothed:
        last = bisect_left(times, end, 0, last)
    if times[last] <= start or (smoothed and times[first] > end):
        return None
    return first, last


def extended_rate(counter: bool, per_second: bool, smoothed: bool) -> RangeFn:
    """rate/increase/delta over an anchored or smoothed range: boundary values, no extrapolation."""

    def fn(w: Window, times: Sequence[int], values: Sequence[float]) -> float | None:
        bounds = _bounds(times, w.start, w.end, smoothed) if times else None
        if bounds is None:
            return None
        first, last = bounds
        left = _left(times, values, first, w.start, smoothed=smoothed, counter=counter)
        right = _right(times, values, last, w.end, smoothed=smoothed, counter=counter)
        result = right - left
        if counter:  # resets inside the range; the boundary values took care of those at its edges
            first += times[first] <= w.start
            last -= times[last] >= w.end
            previous = left
            for value in values[first : last + 1]:
                if value < previous:
                    result += previous
                previous = value
            if right < previous:
                result += previous
        return result / (w.range_ms / 1000) if per_second else result

    return fn


def anchored_count(count: RangeFn) -> RangeFn:
    """changes/resets over an anchored range: from the last point at or before the range start."""

    def fn(w: Window, times: Sequence[int], values: Sequence[float]) -> float | None:
        before = bisect_right(times, w.start) - 1
        if before + 1 >= len(times):
            return None  # no point inside the range: nothing to count
        before = max(before, 0)
        return count(w, times[before:], values[before:])

    return fn


def extend_points(
    times: Sequence[int], values: Sequence[float], start: int, end: int, smoothed: bool
) -> tuple[list[int], list[float]]:
    """An anchored or smoothed range vector as Prometheus returns it: the points inside the range with
    the values at its start and end added at those times (extendFloats)."""
    bounds = _bounds(times, start, end, smoothed) if times else None
    if bounds is None:
        return [], []
    first, last = bounds
    left = _left(times, values, first, start, smoothed=smoothed, counter=False)
    right = _right(times, values, last, end, smoothed=smoothed, counter=False)
    first += times[first] <= start
    last -= times[last] >= end
    return [start, *times[first : last + 1], end], [left, *values[first : last + 1], right]


# The functions each modifier allows (Prometheus' AnchoredSafeFunctions, SmoothedSafeFunctions).
EXTENDED_FUNCTIONS: dict[str, dict[str, RangeFn]] = {
    "anchored": {
        "rate": extended_rate(counter=True, per_second=True, smoothed=False),
        "increase": extended_rate(counter=True, per_second=False, smoothed=False),
        "delta": extended_rate(counter=False, per_second=False, smoothed=False),
        "changes": anchored_count(changes),
        "resets": anchored_count(resets),
    },
    "smoothed": {
        "rate": extended_rate(counter=True, per_second=True, smoothed=True),
        "increase": extended_rate(counter=True, per_second=False, smoothed=True),
        "delta": extended_rate(counter=False, per_second=False, smoothed=True),
    },
}

# Functions whose scalar argument comes before the range vector rather than after it.
SCALAR_FIRST = frozenset({"quantile_over_time"})
# The range functions that keep the metric name (first_over_time is Prometheus 3's only).
KEEPS_NAME = frozenset({"last_over_time", "first_over_time"})
