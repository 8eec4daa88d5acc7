"""Prometheus durations and Go's printing of floats, durations and labels."""

from __future__ import annotations

import pytest

from agent.model import go_quote
from agent.ruler.duration import format_duration_ms, parse_duration_ms
from agent.ruler.gofmt import duration_string, float_e, indent_lines, labels_string


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("0", 0),
        ("0s", 0),
        ("90s", 90_000),
        ("1h30m", 5_400_000),
        ("100ms", 100),
        ("1w", 604_800_000),
        ("2d", 172_800_000),
    ],
)
def test_parse_duration_reads_prometheus_units(text: str, ms: int) -> None:
    assert ms == parse_duration_ms(text)


@pytest.mark.parametrize("text", ["", "5", "5 minutes", "1m5x", "-1m"])
def test_parse_duration_refuses_other_text(text: str) -> None:
    with pytest.raises(ValueError, match="not a valid duration string"):
        parse_duration_ms(text)


@pytest.mark.parametrize(("ms", "text"), [(0, "0s"), (90_000, "1m30s"), (300_000, "5m"), (604_800_000, "1w")])
def test_format_duration_prints_like_model_duration(ms: int, text: str) -> None:
    assert text == format_duration_ms(ms)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1E+00"),
        (0.0, "0E+00"),
        (1234.5, "1.2345E+03"),
        (1e-05, "1E-05"),
        (-2.5, "-2.5E+00"),
        (float("nan"), "NaN"),
        (float("-inf"), "-Inf"),
        (1e300, "1E+300"),
    ],
)
def test_float_e_matches_go_format_float_e(value: float, text: str) -> None:
    assert text == float_e(value)


@pytest.mark.parametrize(
    ("ms", "text"), [(0, "0s"), (500, "500ms"), (60_000, "1m0s"), (61_500, "1m1.5s"), (3_600_000, "1h0m0s")]
)
def test_duration_string_matches_go_time_duration(ms: int, text: str) -> None:
    assert text == duration_string(ms)


def test_go_quote_escapes_quotes_backslashes_and_newlines() -> None:
    assert '"a\\"b\\\\c\\nd é"' == go_quote('a"b\\c\nd é')


def test_labels_string_keeps_the_given_order() -> None:
    assert '{__name__="up", job="a"}' == labels_string((("__name__", "up"), ("job", "a")))


def test_indent_lines_leaves_the_first_line_alone() -> None:
    assert "a\n  b\n  c" == indent_lines("a\nb\nc", "  ")
