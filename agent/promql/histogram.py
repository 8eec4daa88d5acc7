"""Functions of classic `le` buckets: histogram_quantile(s) (Prometheus' BucketQuantile), histogram_fraction."""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence

from agent.gocompat.strconv import format_openmetrics_float, parse_float
from agent.model import Labels
from agent.promql.values import InstantVector

BUCKET_LABEL = "le"
Bucket = tuple[float, float]  # (upper bound, cumulative count)


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


def bucket_families(samples: InstantVector, *, skip_nan_bounds: bool = False) -> list[tuple[Labels, list[Bucket]]]:
    """The classic histograms in a vector: per name and labels but `le`, the labels but `le` and the buckets.

    A sample without a numeric `le` is no bucket. Prometheus 3 ignores a bucket whose `le` is NaN
    (`skip_nan_bounds`); 2.42 used it.
    """
    families: dict[tuple[str | None, Labels], tuple[Labels, list[Bucket]]] = {}
    for name, labels, value in samples:
        le = dict(labels).get(BUCKET_LABEL)
        bound = None if le is None else parse_bound(le)
        if bound is None or (skip_nan_bounds and math.isnan(bound)):
            continue
        rest = tuple(pair for pair in labels if pair[0] != BUCKET_LABEL)
        family = families.setdefault((name, rest), (rest, []))
        family[1].append((bound, value))
    return list(families.values())


def histogram_quantile(q: float, samples: InstantVector, *, skip_nan_bounds: bool = False) -> InstantVector:
    """One quantile per bucket family; the result drops `le` and the metric name."""
    families = bucket_families(samples, skip_nan_bounds=skip_nan_bounds)
    return [(None, rest, bucket_quantile(q, buckets)) for rest, buckets in families]


def histogram_quantiles(label: str, qs: Sequence[float], samples: InstantVector) -> InstantVector:
    """Each quantile of each bucket family, with a `label` naming the quantile.

    Prometheus 3 (experimental). A family that already has `label` gets it replaced.
    """
    families = bucket_families(samples, skip_nan_bounds=True)
    out: InstantVector = []
    for q in qs:
        text = format_openmetrics_float(q)
        for rest, buckets in families:
            labels = tuple(sorted({**dict(rest), label: text}.items()))
            out.append((None, labels, bucket_quantile(q, list(buckets))))
    return out


def bucket_fraction(lower: float, upper: float, buckets: list[Bucket]) -> float:
    """The share of observations between `lower` and `upper`, linear within a bucket (Prometheus' BucketFraction)."""
    buckets.sort(key=lambda b: b[0])
    if not math.isinf(buckets[-1][0]):
        return math.nan
    buckets = _coalesce(buckets)
    count = buckets[-1][1]
    if count == 0 or math.isnan(lower) or math.isnan(upper):
        return math.nan
    if lower >= upper:
        return 0.0
    lower_rank = _rank_at(lower, buckets)
    upper_rank = _rank_at(upper, buckets)
    return (min(upper_rank, count) - min(lower_rank, count)) / count


def _rank_at(value: float, buckets: list[Bucket]) -> float:
    """How many observations lie below `value`: the cumulative count, interpolated within its bucket."""
    rank = 0.0
    lower_bound = 0.0 if buckets[0][0] > 0 else -math.inf
    for i, (upper_bound, count) in enumerate(buckets):
        if i > 0:
            lower_bound = buckets[i - 1][0]
        if lower_bound >= value:
            return rank
        if lower_bound < value < upper_bound:
            if lower_bound == -math.inf:
                return count  # no interpolation in a bucket without a lower end
            return rank + (count - rank) * (value - lower_bound) / (upper_bound - lower_bound)
        rank = count
    return math.inf  # beyond every bound: the total count


def histogram_fraction(lower: float, upper: float, samples: InstantVector) -> InstantVector:
    """One fraction per bucket family; the result drops `le` and the metric name (a NaN bound is no bucket)."""
    families = bucket_families(samples, skip_nan_bounds=True)  # Prometheus 3's, the only one with classic support
    return [(None, rest, bucket_fraction(lower, upper, buckets)) for rest, buckets in families]
