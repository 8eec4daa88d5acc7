"""Go's strconv.FormatFloat(v, 'f' | 'e' | 'E', -1, 64), value by value."""

from __future__ import annotations

import math

import pytest

from agent.gocompat.strconv import format_float, parse_float
from agent.promql.histogram import parse_bound

CASES = [
    # value, 'f', 'e' ('E' is 'e' upper-cased)
    (1.0, "1", "1e+00"),
    (0.0, "0", "0e+00"),
    (-0.0, "-0", "-0e+00"),
    (1234.5, "1234.5", "1.2345e+03"),
    (1e-05, "0.00001", "1e-05"),
    (-2.5, "-2.5", "-2.5e+00"),
    (0.1, "0.1", "1e-01"),
    (1e21, "1000000000000000000000", "1e+21"),
    (123456789012345678.0, "123456789012345680", "1.2345678901234568e+17"),
    (5e-324, "0." + "0" * 323 + "5", "5e-324"),
    (1e300, "1" + "0" * 300, "1e+300"),
    (math.nan, "NaN", "NaN"),
    (math.inf, "+Inf", "+Inf"),
    (-math.inf, "-Inf", "-Inf"),
]


@pytest.mark.parametrize(("value", "fixed", "exponent"), CASES)
def test_format_float_writes_what_go_writes(value: float, fixed: str, exponent: str) -> None:
    assert (fixed, exponent, exponent.upper().replace("INF", "Inf").replace("NAN", "NaN")) == (
        format_float(value, "f"),
        format_float(value, "e"),
        format_float(value, "E"),
    )


@pytest.mark.parametrize("value", [0.1, 2 / 3, 1e-7, 123456.789, 2**60 + 0.0, 1.7976931348623157e308])
def test_every_format_reads_back_to_the_same_float(value: float) -> None:
    assert [value] * 3 == [float(format_float(value, verb)) for verb in ("f", "e", "E")]


@pytest.mark.parametrize(
    ("value", "text"),
    [(1e6, "1e+06"), (123456.0, "123456"), (1e-05, "1e-05"), (0.0001, "0.0001"), (-2.5, "-2.5"), (0.0, "0")],
)
def test_format_float_g_switches_to_an_exponent_as_go_does(value: float, text: str) -> None:
    assert (text, text.upper()) == (format_float(value, "g"), format_float(value, "G"))


@pytest.mark.parametrize(
    ("text", "value"),
    [("1", 1.0), ("+Inf", math.inf), ("-inf", -math.inf), ("1_000.5", 1000.5), ("0x1p-2", 0.25), (".5e1", 5.0)],
)
def test_parse_float_reads_what_go_reads(text: str, value: float) -> None:
    assert value == parse_float(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (" 1", "invalid syntax"),  # Python's float() strips spaces
        ("\u0661", "invalid syntax"),  # ARABIC-INDIC DIGIT ONE: Python's float() takes it
        ("1__0", "invalid syntax"),
        ("_1", "invalid syntax"),
        ("1e400", "value out of range"),  # Python's float() gives inf
    ],
)
def test_parse_float_refuses_what_go_refuses(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=f"strconv.ParseFloat: parsing .*: {reason}"):
        parse_float(text)


def test_histogram_bucket_bounds_are_read_with_go_parse_float() -> None:
    """A bucket whose `le` Go cannot read is skipped by histogram_quantile, as in Prometheus."""
    assert [1000.0, None, None] == [parse_bound(text) for text in ("1_000", " 1", "\u0661")]
