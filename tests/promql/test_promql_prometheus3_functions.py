"""Prometheus 3's newer functions: first_over_time, ts_of_*, integral, min_of/max_of, start()…step(), histograms.

The corpus (corpus3/prometheus3_functions.yaml, corpus3/experimental_prometheus3_functions.yaml)
holds promtool 3's answers; these are the edge cases a corpus cannot hold (NaN never compares equal
in promtool) and the mode and switch each function needs.
"""

from __future__ import annotations

import math

import pytest
from promql_fixtures import MINUTE, V2, V3, make_store, vector

from agent.promql import Engine, PromQLCompat, PromQLError, Semantics, parse_expr
from agent.promql.histogram import bucket_fraction
from agent.promql.range_functions import integral_strategy

PLAIN_3 = Semantics(PromQLCompat.V3)
SERIES = make_store(
    'queue_depth{queue="a"} 3 5 8 NaN 8 5',
    'queue_depth{queue="b"} 1 Inf 2',
    'lat_bucket{job="a", le="0.1"} 1',
    'lat_bucket{job="a", le="1"} 3',
    'lat_bucket{job="a", le="+Inf"} 4',
)
A, B = (("queue", "a"),), (("queue", "b"),)


def test_first_over_time_keeps_the_metric_name_and_needs_no_switch() -> None:
    # The window (2m, 5m] starts with the NaN at 3m.
    ((labels, value),) = vector(SERIES, 'first_over_time(queue_depth{queue="a"}[3m])', 5 * MINUTE, PLAIN_3).items()
    assert (labels, math.isnan(value)) == ((("__name__", "queue_depth"), *A), True)


def test_first_over_time_is_the_oldest_point_in_the_window() -> None:
    assert vector(SERIES, "first_over_time(queue_depth[10m])", 5 * MINUTE, PLAIN_3) == {
        (("__name__", "queue_depth"), *A): 3.0,
        (("__name__", "queue_depth"), *B): 1.0,
    }


def test_first_over_time_is_refused_in_2_by_name() -> None:
    with pytest.raises(PromQLError, match="first_over_time is not supported: it is Prometheus 3's"):
        parse_expr("first_over_time(queue_depth[5m])", V2)


@pytest.mark.parametrize(
    "text",
    [
        "ts_of_first_over_time(queue_depth[5m])",
        "ts_of_last_over_time(queue_depth[5m])",
        "ts_of_min_over_time(queue_depth[5m])",
        "ts_of_max_over_time(queue_depth[5m])",
        "integral(queue_depth[5m])",
        "vector(min_of(1, 2))",
        "vector(max_of(1, 2))",
        "vector(start())",
        "vector(end())",
        "vector(range())",
        "vector(step())",
        'histogram_quantiles(lat_bucket, "q", 0.5)',
        "start_timestamp(queue_depth)",
    ],
)
def test_experimental_functions_need_the_switch(text: str) -> None:
    parse_expr(text, V3)
    with pytest.raises(PromQLError, match="promql-experimental-functions"):
        parse_expr(text, PLAIN_3)
    with pytest.raises(PromQLError, match="not supported"):
        parse_expr(text, V2)


def test_ts_of_min_and_max_take_the_last_extreme_and_skip_a_leading_nan() -> None:
    store = make_store('m{a="1"} NaN 2 1 3 1 3')
    got = [vector(store, f"ts_of_{x}_over_time(m[10m])", 5 * MINUTE, V3) for x in ("min", "max")]
    assert got == [{(("a", "1"),): 240.0}, {(("a", "1"),): 300.0}]


def test_ts_of_first_and_last_are_point_times_in_seconds() -> None:
    got = [vector(SERIES, f"ts_of_{x}_over_time(queue_depth[3m])", 5 * MINUTE, V3) for x in ("first", "last")]
    assert got == [{A: 180.0}, {A: 300.0}]


def test_over_time_functions_of_an_empty_window_give_nothing() -> None:
    names = ("first_over_time", "ts_of_min_over_time", "ts_of_last_over_time", "integral")
    assert [vector(SERIES, f"{n}(queue_depth[1m])", 30 * MINUTE, V3) for n in names] == [{}] * 4


def test_integral_counts_nan_as_zero() -> None:
    # 3 5 8 NaN 8 5 at 0..5m, trapezoids of 60 s: 240 + 390 + 240 + 240 + 390.
    assert vector(SERIES, 'integral(queue_depth{queue="a"}[10m])', 5 * MINUTE, V3) == {A: 1500.0}


def test_integral_strategies_left_and_right_point() -> None:
    left = vector(SERIES, 'integral(queue_depth{queue="a"}[10m], 0)', 5 * MINUTE, V3)
    right = vector(SERIES, 'integral(queue_depth{queue="a"}[10m], 1)', 5 * MINUTE, V3)
    assert (left, right) == ({A: (3 + 5 + 8 + 0 + 8) * 60.0}, {A: (5 + 8 + 0 + 8 + 5) * 60.0})


def test_integral_of_an_infinity_is_infinite() -> None:
    assert vector(SERIES, 'integral(queue_depth{queue="b"}[10m])', 2 * MINUTE, V3) == {B: math.inf}


@pytest.mark.parametrize("arg", [math.nan, math.inf, -1.0, 3.0, 0.5])
def test_an_invalid_integral_strategy_is_trapezoidal(arg: float) -> None:
    assert integral_strategy(arg) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("min_of(3, 5)", 3.0),
        ("max_of(3, 5)", 5.0),
        ("max_of(NaN, Inf)", math.inf),
        ("min_of(-Inf, NaN)", -math.inf),
    ],
)
def test_min_of_and_max_of_are_gos_min_and_max(text: str, expected: float) -> None:
    assert Engine(SERIES, semantics=V3).instant(parse_expr(text, V3), 0) == expected


def test_min_of_with_nan_is_nan() -> None:
    result = Engine(SERIES, semantics=V3).instant(parse_expr("min_of(NaN, 1)", V3), 0)
    assert isinstance(result, float) and math.isnan(result)


def test_max_of_signed_zeros_is_positive() -> None:
    result = Engine(SERIES, semantics=V3).instant(parse_expr("max_of(-0, 0)", V3), 0)
    assert isinstance(result, float) and math.copysign(1.0, result) == 1.0


def test_query_times_in_an_instant_query() -> None:
    engine = Engine(SERIES, semantics=V3)
    got = [engine.instant(parse_expr(f"{fn}()", V3), 90_000) for fn in ("start", "end", "range", "step")]
    assert got == [90.0, 90.0, 0.0, 0.0]


def test_query_times_in_a_range_query() -> None:
    engine = Engine(SERIES, semantics=V3)
    results = [
        engine.range_query(parse_expr(f"{fn}()", V3), 60_000, 180_000, 30_000)
        for fn in ("start", "end", "range", "step")
    ]
    assert [series[0].values[-1] for series in results] == [60.0, 180.0, 120.0, 30.0]


def test_histogram_fraction_of_classic_buckets_in_3() -> None:
    # 1 of 4 below 0.1, 2 more up to 1: up to 0.5 is 1 + 2 * 0.4 / 0.9.
    got = vector(SERIES, "histogram_fraction(0, 0.5, lat_bucket)", 0, PLAIN_3)
    assert got == {(("job", "a"),): (1 + 2 * (0.5 - 0.1) / (1 - 0.1)) / 4}


def test_histogram_fraction_gives_nothing_in_2() -> None:
    # promtool 2.42 answers histogram_fraction from native histograms only.
    assert vector(SERIES, "histogram_fraction(0, 0.5, lat_bucket)", 0, V2) == {}


@pytest.mark.parametrize("fn", ["histogram_count", "histogram_sum"])
def test_native_histogram_functions_give_nothing_for_float_series(fn: str) -> None:
    assert (vector(SERIES, f"{fn}(lat_bucket)", 0, PLAIN_3), vector(SERIES, f"{fn}(lat_bucket)", 0, V2)) == ({}, {})


@pytest.mark.parametrize("fn", ["histogram_avg", "histogram_stddev", "histogram_stdvar"])
def test_histogram_statistics_are_prometheus_3s(fn: str) -> None:
    assert vector(SERIES, f"{fn}(lat_bucket)", 0, PLAIN_3) == {}
    with pytest.raises(PromQLError, match="not supported"):
        parse_expr(f"{fn}(lat_bucket)", V2)


@pytest.mark.parametrize(
    ("lower", "upper", "buckets"),
    [
        (0.0, 1.0, [(1.0, 3.0)]),  # no +Inf bucket
        (0.0, 1.0, [(1.0, 0.0), (math.inf, 0.0)]),  # no observation
        (math.nan, 1.0, [(1.0, 3.0), (math.inf, 4.0)]),
    ],
)
def test_bucket_fraction_is_nan_when_undefined(lower: float, upper: float, buckets: list[tuple[float, float]]) -> None:
    assert math.isnan(bucket_fraction(lower, upper, buckets))


def test_bucket_fraction_of_an_empty_or_reversed_interval_is_zero() -> None:
    buckets = [(1.0, 3.0), (math.inf, 4.0)]
    assert (bucket_fraction(0.5, 0.5, list(buckets)), bucket_fraction(0.7, 0.2, list(buckets))) == (0.0, 0.0)


def test_bucket_fraction_does_not_interpolate_in_infinite_buckets() -> None:
    buckets = [(-10.0, 1.0), (0.0, 2.0), (math.inf, 4.0)]
    # Below -10 all of the first bucket counts, above 0 none of the +Inf bucket does.
    assert (bucket_fraction(-math.inf, -20.0, list(buckets)), bucket_fraction(5.0, math.inf, list(buckets))) == (
        0.25,
        0.5,
    )


def test_histogram_quantiles_labels_each_quantile() -> None:
    got = vector(SERIES, 'histogram_quantiles(lat_bucket, "q", 0.25, 1)', 0, V3)
    assert got == {(("job", "a"), ("q", "0.25")): 0.1, (("job", "a"), ("q", "1.0")): 1.0}


def test_histogram_fraction_ignores_a_bucket_whose_bound_is_nan() -> None:
    store = make_store('series{le="0.5"} 1', 'series{le="+Inf"} 3', 'series{le="NaN"} 2')
    assert vector(store, "histogram_fraction(-Inf, 1, series)", 0, PLAIN_3) == {(): 1 / 3}


def test_start_timestamp_gives_nothing_as_without_prometheus_use_start_timestamps() -> None:
    assert vector(SERIES, "start_timestamp(queue_depth)", MINUTE, V3) == {}
