"""Subqueries: step alignment, offset and @."""

from __future__ import annotations

from promql_fixtures import MINUTE, instant, lbl, make_store, vector

from agent.promql import RangeSeries

STORE = make_store("x 0+1x60", interval_ms=30_000)


def _times(text: str, t_ms: int, **options: int) -> list[int]:
    result = instant(STORE, text, t_ms, **options)
    assert isinstance(result, list) and isinstance(result[0], RangeSeries)
    return list(result[0].times)


def test_steps_are_aligned_to_multiples_of_the_step() -> None:
    assert _times("x[2m:45s]", 4 * MINUTE + 10_000) == [135_000, 180_000, 225_000]


def test_steps_include_the_window_start_when_aligned() -> None:
    assert _times("x[2m:1m]", 4 * MINUTE) == [2 * MINUTE, 3 * MINUTE, 4 * MINUTE]


def test_default_step_is_the_engines() -> None:
    assert _times("x[1m:]", 2 * MINUTE, default_step_ms=30_000) == [60_000, 90_000, 120_000]


def test_offset_moves_the_window() -> None:
    assert _times("x[1m:1m] offset 1m", 3 * MINUTE) == [MINUTE, 2 * MINUTE]


def test_at_pins_the_window() -> None:
    assert _times("x[1m:1m] @ 120", 10 * MINUTE) == [MINUTE, 2 * MINUTE]


def test_subquery_values_come_from_the_inner_expression() -> None:
    result = instant(STORE, "(x * 2)[1m:30s]", MINUTE)
    assert isinstance(result, list) and isinstance(result[0], RangeSeries)
    assert (result[0].labels, list(result[0].values)) == ((), [0.0, 2.0, 4.0])


def test_function_over_a_subquery() -> None:
    assert vector(STORE, "max_over_time(rate(x[1m])[5m:1m])", 10 * MINUTE) == {(): 1 / 30}


def test_subquery_series_keep_the_name() -> None:
    result = instant(STORE, "x[1m:1m]", MINUTE)
    assert isinstance(result, list) and isinstance(result[0], RangeSeries)
    assert result[0].labels == lbl("x")
