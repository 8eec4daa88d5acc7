"""promtool's expanding series notation."""

from __future__ import annotations

import math

import pytest

from agent.promql import PromQLError
from agent.promql.notation import parse_metric, parse_series
from agent.store import is_stale


def test_name_and_labels_are_sorted_with_name() -> None:
    labels, _ = parse_series('up{job="a", instance="b"} 1')
    assert labels == (("__name__", "up"), ("instance", "b"), ("job", "a"))


def test_name_may_be_given_as_a_matcher() -> None:
    assert parse_metric('{__name__="up", job="a"}') == (("__name__", "up"), ("job", "a"))


def test_escaped_quote_in_label_value() -> None:
    assert parse_metric('x{a="say \\"hi\\""}') == (("__name__", "x"), ("a", 'say "hi"'))


def test_increment_gives_n_plus_one_values() -> None:
    assert parse_series("x 1+2x3")[1] == [1.0, 3.0, 5.0, 7.0]


def test_decrement() -> None:
    assert parse_series("x 10-3x2")[1] == [10.0, 7.0, 4.0]


def test_repeat_gives_n_plus_one_copies() -> None:
    assert parse_series("x 5x2")[1] == [5.0, 5.0, 5.0]


def test_increments_accumulate_like_promtool() -> None:
    assert parse_series("x 0.1+0.1x2")[1] == [0.1, 0.2, 0.1 + 0.1 + 0.1]


def test_blank_and_repeated_blanks() -> None:
    assert parse_series("x 1 _ _x2 2")[1] == [1.0, None, None, None, 2.0]


def test_negative_and_scientific_numbers() -> None:
    assert parse_series("x -2 1e3 -1.5e-2 -2x1")[1] == [-2.0, 1000.0, -0.015, -2.0, -2.0]


def test_infinities() -> None:
    assert parse_series("x Inf -Inf +Inf")[1] == [math.inf, -math.inf, math.inf]


def test_nan_is_an_ordinary_nan() -> None:
    value = parse_series("x NaN")[1][0]
    assert value is not None and math.isnan(value) and not is_stale(value)


def test_stale_is_the_staleness_marker() -> None:
    value = parse_series("x 1 stale")[1][1]
    assert value is not None and is_stale(value)


def test_bad_value_is_an_error() -> None:
    with pytest.raises(PromQLError, match="bad value"):
        parse_series("x 1 two")


def test_a_series_expanding_beyond_the_point_limit_is_refused() -> None:
    with pytest.raises(PromQLError, match="more than 1000000 points"):
        parse_series("up 0+1x999999999999")
