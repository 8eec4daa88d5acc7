"""Numeric reductions shared by aggregations and *_over_time functions, in Prometheus 2.42's float order."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import reduce
from math import isinf
from operator import add


def kahan_add(inc: float, total: float, c: float) -> tuple[float, float]:
    """One step of Neumaier-compensated summation (Prometheus' kahanSumInc)."""
    t = total + inc
    if abs(total) >= abs(inc):
        c += (total - t) + inc
    else:
        c += (inc - t) + total
    return t, c


def plain_sum(values: Sequence[float]) -> float:
    """Left-to-right sum without compensation (what `sum` does in 2.42)."""
    return reduce(add, values)


def running_mean(values: Sequence[float]) -> float:
    """`avg`: the incremental mean that avoids overflow, with Prometheus' handling of infinities."""
    mean = values[0]
    count = 1.0
    for v in values[1:]:
        count += 1
        if math.isinf(mean) and (
            (math.isinf(v) and (mean > 0) == (v > 0)) or (not math.isinf(v) and not math.isnan(v))
        ):
            continue
        mean += v / count - mean / count
    return mean


def welford_variance(values: Sequence[float]) -> float:
    """`stdvar`: population variance by Welford's method."""
    mean, total, count = values[0], 0.0, 1.0
    for v in values[1:]:
        count += 1
        delta = v - mean
        mean += delta / count
        total += delta * (v - mean)
    return total / count


def go_min(values: Sequence[float]) -> float:
    """Minimum where a NaN is replaced by any later number (Go's `if cur > v || isNaN(cur)`)."""
    result = values[0]
    for v in values[1:]:
        if result > v or math.isnan(result):
            result = v
    return result


def go_max(values: Sequence[float]) -> float:
    """Maximum where a NaN is replaced by any later number (Go's `if cur < v || isNaN(cur)`)."""
    result = values[0]
    for v in values[1:]:
        if result < v or math.isnan(result):
            result = v
    return result


def quantile(q: float, values: Sequence[float], *, exact_rank: bool = False) -> float:
    """The φ-quantile with linear interpolation between ranks (Prometheus' `quantile`).

    With `exact_rank` (Prometheus 3) a rank that falls on a value returns it as it is, so an
    infinity at that rank is not turned into NaN by the interpolation.
    """
    if not values:
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    if math.isnan(q):
        return math.nan
    ordered = sorted(values, key=lambda v: (not math.isnan(v), v))
    n = float(len(ordered))
    rank = q * (n - 1)
    lower = max(0.0, math.floor(rank))
    upper = min(n - 1, lower + 1)
    weight = rank - math.floor(rank)
    if exact_rank and weight == 0:
        return ordered[int(lower)]
    return ordered[int(lower)] * (1 - weight) + ordered[int(upper)] * weight


def kahan_sum_3(values: Sequence[float]) -> float:
    """Prometheus 3's `sum`: compensated, starting from the first value.

    kahan_add_3 written out in the loop: every `sum` and `avg` of a rule runs it once per sample.
    """
    total, c = values[0], 0.0
    for v in values[1:]:
        t = total + v
        if isinf(t):
            c = 0.0
        elif abs(total) >= abs(v):
            c += (total - t) + v
        else:
            c += (v - t) + total
        total = t
    return total + c


def mean_3(values: Sequence[float]) -> float:
    """Prometheus 3's `avg` and avg_over_time: a compensated sum divided at the end,
    switching to an incremental mean once the sum would overflow."""
    total, c = values[0], 0.0
    n = len(values)
    for i in range(1, n):  # kahan_add_3 written out, as in kahan_sum_3
        v = values[i]
        t = total + v
        if isinf(t):
            return _incremental_mean_3(values, i, total, c)
        if abs(total) >= abs(v):
            c += (total - t) + v
        else:
            c += (v - t) + total
        total = t
    count = float(n)
    return total / count + c / count


def _incremental_mean_3(values: Sequence[float], first: int, total: float, c: float) -> float:
    """mean_3 from `values[first]` on, where the compensated sum of those before it would overflow."""
    count = float(first)
    mean, c = total / count, c / count
    for v in values[first:]:
        count += 1
        q = (count - 1) / count
        mean, c = kahan_add_3(v / count, q * mean, q * c)
    return mean + c


def kahan_add_3(inc: float, total: float, c: float) -> tuple[float, float]:
    """Prometheus 3's kahansum.Inc: as kahan_add, but an infinite sum drops the compensation."""
    if math.isinf(total + inc):
        return total + inc, 0.0
    return kahan_add(inc, total, c)
