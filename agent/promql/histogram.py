"""histogram_quantile over classic `le` buckets (Prometheus' bucketQuantile)."""

from __future__ import annotations

import math
from bisect import bisect_left

from agent.gocompat.strconv import parse_float
from agent.model import Labels
from agent.promql.values import InstantVector

BUCKET_LABEL = "le"


def parse_bound(text: str) -> float | None:
    """An `le` value as Go's ParseFloat reads it, or None when it is not a number."""
    try:
        return parse_float(text)
    except ValueError:
        return None


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """The φ-quantile from (upper bound, cumulative count) pairs, linear within a bucket."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    buckets.sort(key=lambda b: b[0])
    if not math.isinf(buckets[-1][0]):
        return math.nan
    buckets = _monotonic(_coalesce(buckets))
    if len(buckets) < 2:
        return math.nan
    observations = buckets[-1][1]
    if observations == 0:
        return math.nan
    rank = q * observations
    counts = [count for _, count in buckets[:-1]]
    b = bisect_left(counts, rank)
    if b == len(buckets) - 1:
        return buckets[-2][0]
    if b == 0 and buckets[0][0] <= 0:
        return buckets[0][0]
    start, end, count = 0.0, buckets[b][0], buckets[b][1]
    if b > 0:
        start = buckets[b - 1][0]
        count -= buckets[b - 1][1]
        rank -= buckets[b - 1][1]
    return start + (end - start) * (rank / count)


def _coalesce(buckets: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Merge buckets with the same bound (series that differ only in how `le` is spelled)."""
    out = [buckets[0]]
    for bound, count in buckets[1:]:
        if bound == out[-1][0]:
            out[-1] = (bound, out[-1][1] + count)
        else:
            out.append((bound, count))
    return out


def _monotonic(buckets: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Raise any count below an earlier one to it (counts scraped at slightly different times)."""
    out, highest = [], -math.inf
    for bound, count in buckets:
        highest = max(highest, count)
        out.append((bound, highest if count < highest else count))
    return out


def histogram_quantile(q: float, samples: InstantVector, *, skip_nan_bounds: bool = False) -> InstantVector:
    """One quantile per bucket family; the result drops `le` and the metric name.

    Prometheus 3 ignores a bucket whose `le` is NaN (`skip_nan_bounds`); 2.42 used it.
    """
    families: dict[tuple[str | None, Labels], tuple[Labels, list[tuple[float, float]]]] = {}
    for name, labels, value in samples:
        le = dict(labels).get(BUCKET_LABEL)
        bound = None if le is None else parse_bound(le)
        if bound is None or (skip_nan_bounds and math.isnan(bound)):
            continue
        rest = tuple(pair for pair in labels if pair[0] != BUCKET_LABEL)
        family = families.setdefault((name, rest), (rest, []))
        family[1].append((bound, value))
    return [(None, rest, bucket_quantile(q, buckets)) for rest, buckets in families.values()]
