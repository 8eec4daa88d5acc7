"""Go's float math ports: the values promtool 2.42 printed where C's libm rounds differently."""

from __future__ import annotations

import math

from agent.promql.gomath import go_log, go_log2, go_log10, go_pow


def test_log_rounds_like_go() -> None:
    assert go_log(5.394) == 1.6852872247175381


def test_log10_rounds_like_go() -> None:
    assert go_log10(4.157) == 0.6187800245062148


def test_log2_of_a_power_of_two_is_exact() -> None:
    assert go_log2(2.0**-20) == -20.0


def test_integer_power_uses_repeated_squaring() -> None:
    assert go_pow(-10.481, 3) == -1151.3521146409998


def test_fractional_power_of_a_negative_base_is_nan() -> None:
    assert math.isnan(go_pow(-8.0, 1 / 3))


def test_zero_to_a_negative_odd_power_keeps_the_sign() -> None:
    assert go_pow(-0.0, -3) == -math.inf


def test_overflowing_power_is_infinite() -> None:
    assert go_pow(10.0, 400) == math.inf


def test_log_of_zero_and_negative() -> None:
    assert (go_log(0.0), math.isnan(go_log(-1.0))) == (-math.inf, True)
