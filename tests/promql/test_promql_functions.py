"""Functions: rates, *_over_time, math, labels, dates, histogram_quantile, absent."""

from __future__ import annotations

import math

import pytest
from promql_fixtures import MINUTE, instant, lbl, make_store, vector

STORE = make_store(
    'offsets{p="0"} 0+60x10',
    'offsets{p="1"} 0+60x4 0+60x5',
    'gauge{g="a"} 1 3 2 8 5',
    'ts{path="/lake"} 1700000000',
)


def test_rate_is_per_second_and_drops_the_name() -> None:
    assert vector(STORE, 'rate(offsets{p="0"}[5m])', 10 * MINUTE) == {lbl('{p="0"}'): 1.0}


def test_rate_compensates_counter_resets() -> None:
    # 120 -> 240, reset, 0 -> 60: the window covers its points exactly, so no extrapolation.
    assert vector(STORE, 'increase(offsets{p="1"}[4m])', 6 * MINUTE) == {lbl('{p="1"}'): 180.0}


def test_rate_needs_two_points() -> None:
    assert vector(STORE, "rate(offsets[1m])", 10 * MINUTE + 30_000) == {}


def test_rate_extrapolates_to_the_window_edges() -> None:
    # 4 points span 3 minutes of a 5-minute window: extrapolated by half an interval at each end.
    assert vector(STORE, 'increase(offsets{p="0"}[5m])', 3 * MINUTE + 30_000) == {lbl('{p="0"}'): 210.0}


def test_irate_uses_the_last_two_points() -> None:
    assert vector(STORE, "irate(gauge[5m])", 4 * MINUTE) == {lbl('{g="a"}'): 5 / 60}


def test_idelta_is_not_reset_aware() -> None:
    assert vector(STORE, "idelta(gauge[5m])", 4 * MINUTE) == {lbl('{g="a"}'): -3.0}


def test_deriv_of_a_line_is_its_slope() -> None:
    assert vector(STORE, 'deriv(offsets{p="0"}[5m])', 10 * MINUTE) == {lbl('{p="0"}'): 1.0}


def test_predict_linear_extrapolates_from_the_evaluation_time() -> None:
    assert vector(STORE, 'predict_linear(offsets{p="0"}[5m], 60)', 10 * MINUTE) == {lbl('{p="0"}'): 660.0}


def test_resets_and_changes() -> None:
    assert vector(STORE, "resets(gauge[5m]) + changes(gauge[5m]) * 10", 4 * MINUTE) == {lbl('{g="a"}'): 42.0}


@pytest.mark.parametrize(
    ("fn", "value"),
    [
        ("avg_over_time", 3.8),
        ("sum_over_time", 19.0),
        ("min_over_time", 1.0),
        ("max_over_time", 8.0),
        ("count_over_time", 5.0),
        ("present_over_time", 1.0),
    ],
)
def test_over_time_functions(fn: str, value: float) -> None:
    assert vector(STORE, f"{fn}(gauge[5m])", 4 * MINUTE) == {lbl('{g="a"}'): value}


def test_last_over_time_keeps_the_name() -> None:
    assert vector(STORE, "last_over_time(gauge[5m])", 4 * MINUTE) == {lbl('gauge{g="a"}'): 5.0}


def test_quantile_over_time() -> None:
    assert vector(STORE, "quantile_over_time(0.5, gauge[5m])", 4 * MINUTE) == {lbl('{g="a"}'): 3.0}


def test_absent_over_time_takes_labels_from_equality_matchers() -> None:
    assert vector(STORE, 'absent_over_time(nope{job="x", env=~"p.*"}[5m])', 0) == {lbl('{job="x"}'): 1.0}


def test_absent_is_empty_when_the_series_exists() -> None:
    assert vector(STORE, "absent(gauge)", 0) == {}


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("abs(-gauge)", 1.0),
        ("ceil(gauge + 0.2)", 2.0),
        ("floor(gauge + 0.7)", 1.0),
        ("round(gauge + 0.5)", 2.0),
        ("round(gauge * 7, 5)", 5.0),
        ("sqrt(gauge * 4)", 2.0),
        ("exp(gauge - 1)", 1.0),
        ("ln(gauge)", 0.0),
        ("log2(gauge * 8)", 3.0),
        ("log10(gauge * 100)", 2.0),
        ("sgn(-gauge)", -1.0),
        ("clamp(gauge, 2, 3)", 2.0),
        ("clamp_min(gauge, 5)", 5.0),
        ("clamp_max(gauge, 0)", 0.0),
    ],
)
def test_math_functions_drop_the_name(expr: str, value: float) -> None:
    assert vector(STORE, expr, 0) == {lbl('{g="a"}'): value}


def test_ln_of_zero_is_minus_infinity() -> None:
    assert vector(STORE, "ln(gauge * 0)", 0) == {lbl('{g="a"}'): -math.inf}


def test_sqrt_of_negative_is_nan() -> None:
    assert math.isnan(vector(STORE, "sqrt(-gauge)", 0)[lbl('{g="a"}')])


def test_clamp_with_max_below_min_is_empty() -> None:
    assert vector(STORE, "clamp(gauge, 3, 2)", 0) == {}


def test_scalar_of_several_samples_is_nan() -> None:
    value = instant(STORE, "scalar(offsets)", 0)
    assert isinstance(value, float) and math.isnan(value)


def test_time_and_timestamp() -> None:
    assert vector(STORE, "time() - timestamp(gauge)", 4 * MINUTE + 30_000) == {lbl('{g="a"}'): 30.0}


@pytest.mark.parametrize(
    ("fn", "value"),
    [
        ("day_of_week", 2.0),
        ("day_of_month", 14.0),
        ("days_in_month", 30.0),
        ("hour", 22.0),
        ("minute", 13.0),
        ("month", 11.0),
        ("year", 2023.0),
    ],
)
def test_date_functions_read_the_value_as_unix_time(fn: str, value: float) -> None:
    assert vector(STORE, f"{fn}(ts)", 0) == {lbl('{path="/lake"}'): value}


def test_date_function_without_argument_uses_the_evaluation_time() -> None:
    assert vector(STORE, "year()", 0) == {(): 1970.0}


def test_label_replace_expands_groups() -> None:
    store = make_store('b{instance="k1:9092"} 1')
    assert vector(store, 'label_replace(b, "host", "$1", "instance", "(.*):.*")', 0) == {
        lbl('b{instance="k1:9092", host="k1"}'): 1.0
    }


def test_label_replace_without_match_leaves_the_sample() -> None:
    store = make_store('b{instance="k1:9092"} 1')
    assert vector(store, 'label_replace(b, "host", "$1", "instance", "nomatch")', 0) == {
        lbl('b{instance="k1:9092"}'): 1.0
    }


def test_label_join_joins_in_order() -> None:
    store = make_store('b{a="x", c="y"} 1')
    assert vector(store, 'label_join(b, "id", "-", "c", "a")', 0) == {lbl('b{a="x", c="y", id="y-x"}'): 1.0}


def test_sort_desc_orders_by_value() -> None:
    result = instant(STORE, "sort_desc(offsets)", 5 * MINUTE)
    assert isinstance(result, list)
    assert [getattr(s, "value", None) for s in result] == [300.0, 0.0]


def test_histogram_quantile_interpolates_within_the_bucket() -> None:
    store = make_store('h_bucket{le="1"} 10', 'h_bucket{le="2"} 30', 'h_bucket{le="+Inf"} 40')
    assert vector(store, "histogram_quantile(0.5, h_bucket)", 0) == {(): 1.5}


def test_histogram_quantile_in_the_inf_bucket_is_the_highest_finite_bound() -> None:
    store = make_store('h_bucket{le="1"} 10', 'h_bucket{le="2"} 30', 'h_bucket{le="+Inf"} 40')
    assert vector(store, "histogram_quantile(0.9, h_bucket)", 0) == {(): 2.0}


def test_histogram_quantile_fixes_non_monotonic_buckets() -> None:
    # le="2" is raised to 10; unfixed, the answer would be 3.2.
    store = make_store('h_bucket{le="1"} 10', 'h_bucket{le="2"} 5', 'h_bucket{le="4"} 30', 'h_bucket{le="+Inf"} 40')
    assert vector(store, "histogram_quantile(0.5, h_bucket)", 0) == {(): 3.0}


def test_histogram_quantile_without_inf_bucket_is_nan() -> None:
    store = make_store('h_bucket{le="1"} 20')
    assert math.isnan(vector(store, "histogram_quantile(0.5, h_bucket)", 0)[()])
