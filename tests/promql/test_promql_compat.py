"""promql_compat: each place where Prometheus 3 and 2.42 give different answers, side by side.

The numbers are the two promtools' own (tests/promql/corpus*/boundaries.yaml has them as corpus cases).
"""

from __future__ import annotations

import math

import pytest
from promql_fixtures import MINUTE, V2, V3, instant, lbl, make_store, vector

from agent.promql import EvalError, PromQLCompat, PromQLError, Semantics, parse_compat, parse_expr

EVERY_MINUTE = make_store('requests_total{job="api"} 0+60x10', 'last_seen{host="h"} 1 _x10')
NOTES = make_store('note{text="line one\\nline two"} 1x10', 'note{text="single line"} 2x10')
SERIES = make_store('queue_depth{queue="a"} 3 5 8 13 21 34 55 89 144 233 377')


def test_range_selector_is_left_open_in_3_and_closed_in_2() -> None:
    expr = "count_over_time(requests_total[2m])"
    assert (vector(EVERY_MINUTE, expr, 4 * MINUTE, V3), vector(EVERY_MINUTE, expr, 4 * MINUTE, V2)) == (
        {lbl('{job="api"}'): 2.0},
        {lbl('{job="api"}'): 3.0},
    )


def test_increase_extrapolates_to_the_same_answer_in_both() -> None:
    # 3: two points 60 apart extrapolated to 2m; 2: three points 120 apart, no extrapolation needed.
    expr = "increase(requests_total[2m])"
    assert (vector(EVERY_MINUTE, expr, 5 * MINUTE, V3), vector(EVERY_MINUTE, expr, 5 * MINUTE, V2)) == (
        {lbl('{job="api"}'): 120.0},
        {lbl('{job="api"}'): 120.0},
    )


def test_lookback_drops_a_sample_exactly_five_minutes_old_in_3() -> None:
    assert (vector(EVERY_MINUTE, "last_seen", 5 * MINUTE, V3), vector(EVERY_MINUTE, "last_seen", 5 * MINUTE, V2)) == (
        {},
        {lbl('last_seen{host="h"}'): 1.0},
    )


def test_subquery_steps_exclude_the_window_start_in_3() -> None:
    expr = "count_over_time(requests_total[4m:1m])"
    assert (vector(EVERY_MINUTE, expr, 6 * MINUTE, V3), vector(EVERY_MINUTE, expr, 6 * MINUTE, V2)) == (
        {lbl('{job="api"}'): 4.0},
        {lbl('{job="api"}'): 5.0},
    )


def test_regex_dot_matches_newline_in_3_only() -> None:
    expr = 'count(note{text=~"line.*"})'
    assert (vector(NOTES, expr, MINUTE, V3), vector(NOTES, expr, MINUTE, V2)) == ({(): 1.0}, {})


def test_label_replace_regex_dot_matches_newline_in_3_only() -> None:
    expr = 'label_replace(note, "first", "$1", "text", "(.*)two")'
    got3, got2 = vector(NOTES, expr, MINUTE, V3), vector(NOTES, expr, MINUTE, V2)
    assert (lbl('note{first="line one\\nline ", text="line one\\nline two"}') in got3) is True
    assert (lbl('note{first="line one\\nline ", text="line one\\nline two"}') in got2) is False


def test_holt_winters_is_2s_name_for_double_exponential_smoothing() -> None:
    # Half a minute off the sample grid both windows hold the same points.
    t = 10 * MINUTE + 30_000
    two = vector(SERIES, "holt_winters(queue_depth[10m], 0.5, 0.5)", t, V2)
    three = vector(SERIES, "double_exponential_smoothing(queue_depth[10m], 0.5, 0.5)", t, V3)
    assert two == three
    assert len(two) == 1


def test_holt_winters_is_refused_in_3_with_its_new_name() -> None:
    with pytest.raises(PromQLError, match="Prometheus 3 calls it double_exponential_smoothing"):
        parse_expr("holt_winters(queue_depth[10m], 0.5, 0.5)", V3)


def test_double_exponential_smoothing_is_refused_in_2() -> None:
    with pytest.raises(PromQLError, match="Prometheus 2 calls it holt_winters"):
        parse_expr("double_exponential_smoothing(queue_depth[10m], 0.5, 0.5)", V2)


@pytest.mark.parametrize(
    "text",
    [
        'sort_by_label(queue_depth, "queue")',
        'sort_by_label_desc(queue_depth, "queue")',
        "limitk(1, queue_depth)",
        "limit_ratio(0.5, queue_depth)",
        "mad_over_time(queue_depth[5m])",
        "double_exponential_smoothing(queue_depth[5m], 0.5, 0.5)",
    ],
)
def test_experimental_function_needs_the_switch(text: str) -> None:
    parse_expr(text, V3)
    with pytest.raises(PromQLError, match="promql-experimental-functions"):
        parse_expr(text, Semantics(PromQLCompat.V3))
    with pytest.raises(PromQLError, match="not supported"):
        parse_expr(text, V2)


def test_mad_over_time_is_the_median_absolute_deviation() -> None:
    # 3 5 8 13 21: median 8, deviations 5 3 0 5 13, their median 5.
    assert vector(SERIES, "mad_over_time(queue_depth[5m])", 4 * MINUTE, V3) == {lbl('{queue="a"}'): 5.0}


def test_utf8_names_parse_in_3_and_are_refused_in_2() -> None:
    store = make_store('{"kafka.lag", "consumer.group"="billing"} 5x3')
    assert vector(store, '{"kafka.lag", "consumer.group"="billing"}', MINUTE, V3) == {
        lbl('{__name__="kafka.lag", "consumer.group"="billing"}'): 5.0
    }
    with pytest.raises(PromQLError, match="UTF-8"):
        parse_expr('{"kafka.lag", "consumer.group"="billing"}', V2)


def test_default_semantics_are_prometheus_3() -> None:
    assert instant(EVERY_MINUTE, "count_over_time(requests_total[2m])", 4 * MINUTE, Semantics()) == instant(
        EVERY_MINUTE, "count_over_time(requests_total[2m])", 4 * MINUTE, V3
    )


@pytest.mark.parametrize(("text", "compat"), [("3", PromQLCompat.V3), ("2", PromQLCompat.V2), (2, PromQLCompat.V2)])
def test_parse_compat_accepts_3_and_2(text: str | int, compat: PromQLCompat) -> None:
    assert parse_compat(text) is compat


def test_parse_compat_refuses_other_versions() -> None:
    with pytest.raises(ValueError, match="expected 3 or 2"):
        parse_compat("1")


# Cases from Prometheus' own promqltest files (promql/promqltest/testdata) that 3 answers differently.

COUNTERS = make_store('http_requests_total{path="/dings"} 10+10x10', interval_ms=5 * MINUTE)
HUGE = make_store('data{point="a"} 1e100', 'data{point="b"} 10', 'data{point="c"} -1e100')
INFINITE = make_store('data{point="a"} 1', 'data{point="b"} Inf')
BUCKETS = make_store('series{le="0.5"} 1', 'series{le="+Inf"} 3', 'series{le="NaN"} 2')


def test_increase_caps_extrapolation_before_the_zero_point_in_3() -> None:
    # functions.test: /dings would reach 0 at -5m; 3 extrapolates by half an interval first.
    expr = "increase(http_requests_total[100m])"
    assert (vector(COUNTERS, expr, 50 * MINUTE, V3), vector(COUNTERS, expr, 50 * MINUTE, V2)) == (
        {lbl('{path="/dings"}'): 105.0},
        {lbl('{path="/dings"}'): 110.00000000000001},
    )


def test_sum_is_compensated_in_3() -> None:
    assert (vector(HUGE, "sum(data)", 0, V3), vector(HUGE, "sum(data)", 0, V2)) == ({(): 10.0}, {(): 0.0})


def test_quantile_at_an_exact_rank_keeps_an_infinity_in_3() -> None:
    # 2.42 interpolates Inf * 0 + ... into NaN.
    assert vector(INFINITE, "quantile(1, data)", 0, V3) == {(): math.inf}
    assert math.isnan(vector(INFINITE, "quantile(1, data)", 0, V2)[()])


def test_histogram_quantile_ignores_a_nan_bucket_in_3() -> None:
    assert vector(BUCKETS, "histogram_quantile(0.5, series)", 0, V3) == {(): 0.5}
    assert math.isnan(vector(BUCKETS, "histogram_quantile(0.5, series)", 0, V2)[()])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('http.server.requests{service.name="api"}', "1:5: parse error: unexpected character: '.'"),
        ("Björn", "1:3: parse error: unexpected character: 'ö'"),
        ("sum by (service.name) (x)", "1:16: parse error: unexpected character: '.'"),
    ],
)
def test_unquoted_utf8_name_is_refused_as_prometheus_refuses_it(text: str, message: str) -> None:
    for semantics in (V3, V2):
        with pytest.raises(PromQLError) as error:
            parse_expr(text, semantics)
        assert str(error.value) == message


TYPED = make_store(
    'http_requests_total{__type__="counter", __unit__="request", job="api", instance="0"} 0+10x10',
    'http_requests_total{__type__="gauge", job="api", instance="1"} 0+20x10',
    'http_capacity{__type__="counter", __unit__="request", job="api", instance="0"} 100x10',
    'http_capacity{job="api", instance="1"} 200x10',
)


def test_type_and_unit_go_with_a_dropped_name_in_3_and_stay_in_2() -> None:
    expr = 'abs(http_requests_total{instance="0"})'
    assert (vector(TYPED, expr, 5 * MINUTE, V3), vector(TYPED, expr, 5 * MINUTE, V2)) == (
        {lbl('{instance="0", job="api"}'): 50.0},
        {lbl('{__type__="counter", __unit__="request", instance="0", job="api"}'): 50.0},
    )


def test_type_and_unit_stay_where_the_name_stays_in_3() -> None:
    expr = 'http_requests_total{instance="0"} > 10'
    assert vector(TYPED, expr, 5 * MINUTE, V3) == {
        lbl('http_requests_total{__type__="counter", __unit__="request", instance="0", job="api"}'): 50.0
    }


def test_without_leaves_type_and_unit_out_of_the_group_in_3_only() -> None:
    expr = "sum without (instance) (http_requests_total)"
    assert (vector(TYPED, expr, 5 * MINUTE, V3), vector(TYPED, expr, 5 * MINUTE, V2)) == (
        {lbl('{job="api"}'): 150.0},
        {lbl('{__type__="counter", __unit__="request", job="api"}'): 50.0, lbl('{__type__="gauge", job="api"}'): 100.0},
    )


def test_default_matching_ignores_type_and_unit_in_3_only() -> None:
    expr = "http_requests_total / http_capacity"
    assert (vector(TYPED, expr, 5 * MINUTE, V3), vector(TYPED, expr, 5 * MINUTE, V2)) == (
        {lbl('{instance="0", job="api"}'): 0.5, lbl('{instance="1", job="api"}'): 0.5},
        {lbl('{__type__="counter", __unit__="request", instance="0", job="api"}'): 0.5},
    )


def test_absent_copies_type_and_unit_matchers_in_2_only() -> None:
    expr = 'absent(nothing{__type__="counter", __unit__="request", job="api"})'
    assert (vector(TYPED, expr, MINUTE, V3), vector(TYPED, expr, MINUTE, V2)) == (
        {lbl('{job="api"}'): 1.0},
        {lbl('{__type__="counter", __unit__="request", job="api"}'): 1.0},
    )


def test_series_apart_only_by_type_collide_once_the_name_is_dropped_in_3() -> None:
    store = make_store('m{__type__="counter", job="a"} 1x5', 'm{__type__="gauge", job="a"} 2x5')
    assert len(vector(store, "-m", MINUTE, V2)) == 2
    with pytest.raises(EvalError, match="vector cannot contain metrics with the same labelset"):
        vector(store, "-m", MINUTE, V3)


MANY_TO_ONE = make_store(
    'many_side{job="test", instance="1"} 1', 'many_side{job="test", instance="2"} 2', 'one_side{job="test"} 1.5'
)


@pytest.mark.parametrize("expr", ["many_side > on(job) one_side", "many_side >= on(job) one_side"])
def test_a_comparison_is_held_to_one_to_one_before_it_filters_in_3(expr: str) -> None:
    # Two left samples match the one right sample; the comparison keeps only one of them.
    with pytest.raises(EvalError, match="multiple matches for labels: many-to-one matching must be explicit"):
        vector(MANY_TO_ONE, expr, 0, V3)
    assert vector(MANY_TO_ONE, expr, 0, V2) == {lbl('{job="test"}'): 2.0}
