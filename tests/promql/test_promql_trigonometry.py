"""Trigonometric functions, deg/rad/pi and atan2 in both modes (promtool's answers: corpus*/trigonometry.yaml)."""

from __future__ import annotations

import math

import pytest
from promql_fixtures import MINUTE, V2, V3, instant, lbl, make_store, vector

from agent.promql import PromQLError, parse_expr

STORE = make_store(
    'angle_radians{case="a"} 0 1 NaN Inf -Inf',
    'y_axis{case="a"} 1 -1',
    'x_axis{case="a"} -1 0',
    'x_axis{case="b"} 2 2',
)
FUNCTIONS = (
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "sinh",
    "cosh",
    "tanh",
    "asinh",
    "acosh",
    "atanh",
    "deg",
    "rad",
)


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_each_function_drops_the_metric_name(fn: str) -> None:
    assert set(vector(STORE, f"{fn}(angle_radians)", MINUTE, V3)) == {lbl('{case="a"}')}


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_each_function_of_nothing_is_nothing(fn: str) -> None:
    assert vector(STORE, f"{fn}(no_such_metric)", MINUTE, V2) == {}


@pytest.mark.parametrize("fn", ["sin", "cos", "tan"])
def test_periodic_functions_of_nan_and_infinities_are_nan(fn: str) -> None:
    values = [vector(STORE, f"{fn}(angle_radians)", t * MINUTE, V3)[lbl('{case="a"}')] for t in (2, 3, 4)]
    assert all(math.isnan(v) for v in values)


def test_hyperbolic_functions_of_infinities() -> None:
    at = 3 * MINUTE, 4 * MINUTE
    got = [vector(STORE, f"{fn}(angle_radians)", t, V3)[lbl('{case="a"}')] for fn in ("sinh", "tanh") for t in at]
    assert got == [math.inf, -math.inf, 1.0, -1.0]


def test_deg_and_rad_undo_each_other_on_pi() -> None:
    assert (instant(STORE, "deg(vector(pi()))", 0, V3), instant(STORE, "rad(vector(180))", 0, V2)) == (
        instant(STORE, "vector(180)", 0, V3),
        instant(STORE, "vector(pi())", 0, V2),
    )


def test_pi_is_a_scalar() -> None:
    assert vector(STORE, "vector(pi())", 0, V3) == {lbl(): math.pi}


def test_pi_takes_no_argument() -> None:
    with pytest.raises(PromQLError):
        parse_expr("pi(1)", V3)


def test_atan2_matches_like_arithmetic_and_drops_the_name_in_3() -> None:
    assert vector(STORE, "y_axis atan2 x_axis", 0, V3) == {lbl('{case="a"}'): math.atan2(1, -1)}


def test_atan2_keeps_the_left_name_in_2() -> None:
    # Prometheus 2.42's shouldDropMetricName did not list atan2; promtool 2.42 keeps the name.
    assert vector(STORE, "y_axis atan2 x_axis", 0, V2) == {lbl('y_axis{case="a"}'): math.atan2(1, -1)}


def test_atan2_with_a_scalar_on_either_side() -> None:
    assert (vector(STORE, "y_axis atan2 0", MINUTE, V3), vector(STORE, "1 atan2 x_axis", MINUTE, V3)) == (
        {lbl('{case="a"}'): -math.pi / 2},
        {lbl('{case="a"}'): math.pi / 2, lbl('{case="b"}'): math.atan2(1, 2)},
    )


def test_atan2_between_scalars() -> None:
    assert vector(STORE, "vector(-1 atan2 -1)", 0, V2) == {lbl(): -3 * math.pi / 4}


def test_atan2_refuses_bool() -> None:
    with pytest.raises(PromQLError):
        parse_expr("y_axis atan2 bool x_axis", V3)


def test_day_of_year_counts_from_one() -> None:
    store = make_store('ts{a="leap"} 1709251200')  # 2024-03-01
    assert vector(store, "day_of_year(ts)", 0, V3) == {lbl('{a="leap"}'): 61.0}
