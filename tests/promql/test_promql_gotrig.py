"""Go's trigonometric and hyperbolic functions: the values promtool prints where C's libm rounds differently."""

from __future__ import annotations

import math

import pytest

from agent.promql.gotrig import (
    go_acos,
    go_acosh,
    go_asin,
    go_asinh,
    go_atan,
    go_atan2,
    go_atanh,
    go_cos,
    go_cosh,
    go_log1p,
    go_sin,
    go_sinh,
    go_tan,
    go_tanh,
)


def test_sin_rounds_like_go() -> None:
    assert go_sin(2.0) == 0.9092974268256816  # libm: 0.9092974268256817


def test_tan_rounds_like_go() -> None:
    assert go_tan(1.0) == 1.557407724654902  # libm: 1.5574077246549023


def test_atan_rounds_like_go() -> None:
    assert go_atan(math.pi) == 1.2626272556789115  # libm: 1.2626272556789118


def test_huge_arguments_are_reduced_exactly() -> None:
    # Payne-Hanek reduction above 2**29, as Go's trigReduce (libm's sin(1e22) is -0.8522008497671888).
    assert (go_sin(1e22), go_cos(1e22)) == (-0.8522008497671889, 0.5232147853951389)


@pytest.mark.parametrize("fn", [go_sin, go_cos, go_tan])
def test_infinities_and_nan_give_nan(fn: object) -> None:
    assert callable(fn)
    assert all(math.isnan(fn(v)) for v in (math.inf, -math.inf, math.nan))


def test_signed_zero_is_kept() -> None:
    assert [math.copysign(1.0, f(-0.0)) for f in (go_sin, go_tan, go_asin, go_atan, go_sinh, go_tanh)] == [-1.0] * 6


def test_inverse_functions_outside_their_domain_give_nan() -> None:
    assert all(math.isnan(v) for v in (go_asin(1.5), go_acos(-1.01), go_acosh(0.5), go_atanh(2.0), go_log1p(-2.0)))


def test_edges_of_the_domains() -> None:
    assert (go_asin(1.0), go_acos(1.0), go_acosh(1.0), go_atanh(1.0), go_atanh(-1.0), go_log1p(-1.0)) == (
        math.pi / 2,
        0.0,
        0.0,
        math.inf,
        -math.inf,
        -math.inf,
    )


def test_hyperbolic_functions_at_infinity() -> None:
    assert (go_sinh(-math.inf), go_cosh(-math.inf), go_tanh(math.inf), go_asinh(-math.inf), go_acosh(math.inf)) == (
        -math.inf,
        math.inf,
        1.0,
        -math.inf,
        math.inf,
    )


def test_overflowing_hyperbolic_functions_are_infinite() -> None:
    assert (go_sinh(800.0), go_sinh(-800.0), go_cosh(800.0)) == (math.inf, -math.inf, math.inf)


@pytest.mark.parametrize(
    ("y", "x", "expected"),
    [
        (0.0, -1.0, math.pi),
        (-0.0, -1.0, -math.pi),
        (0.0, -0.0, math.pi),
        (1.0, 0.0, math.pi / 2),
        (math.inf, math.inf, math.pi / 4),
        (-math.inf, -math.inf, -3 * math.pi / 4),
        (1.0, -math.inf, math.pi),
        (-1.0, math.inf, -0.0),
        (math.inf, 1.0, math.pi / 2),
        (-1.0, -1.0, -3 * math.pi / 4),
    ],
)
def test_atan2_special_cases_follow_go(y: float, x: float, expected: float) -> None:
    got = go_atan2(y, x)
    assert (got, math.copysign(1.0, got)) == (expected, math.copysign(1.0, expected))


def test_atan2_with_nan_is_nan() -> None:
    assert math.isnan(go_atan2(math.nan, 1.0)) and math.isnan(go_atan2(1.0, math.nan))


def test_negative_zero_through_inverse_hyperbolic_functions() -> None:
    assert [math.copysign(1.0, f(-0.0)) for f in (go_asinh, go_atanh)] == [-1.0, -1.0]
