"""Prometheus' duration notation (model.ParseDuration, Duration.String) and Go's time.Duration.String."""

from __future__ import annotations

import pytest

from agent.gocompat.duration import format_duration, format_go_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("0", 0),
        ("0s", 0),
        ("00ms", 0),
        ("90s", 90_000),
        ("1h30m", 5_400_000),
        ("100ms", 100),
        ("1w", 604_800_000),
        ("2d", 172_800_000),
        ("1y2w3d4h5m6s7ms", 31_536_000_000 + 1_209_600_000 + 259_200_000 + 14_400_000 + 300_000 + 6_000 + 7),
    ],
)
def test_parse_duration_reads_prometheus_units(text: str, ms: int) -> None:
    assert ms == parse_duration(text)


@pytest.mark.parametrize(
    "text",
    [
        "5",  # a bare number: PromQL's `[90]` reads it as seconds, model.ParseDuration does not
        "5 minutes",
        "1m5x",
        "-1m",
        "1.5h",
        "30m1h",  # units out of order
        "1h1h",  # a unit twice
        " 5m",
        "5m\n",
        "\u0663s",  # ARABIC-INDIC DIGIT THREE: Python's \d and int() take it, Go's [0-9] does not
        "s",
    ],
)
def test_parse_duration_refuses_what_prometheus_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not a valid duration string"):
        parse_duration(text)


def test_parse_duration_names_an_empty_string() -> None:
    with pytest.raises(ValueError, match="empty duration string"):
        parse_duration("")


def test_parse_duration_quotes_the_text_as_go_does() -> None:
    with pytest.raises(ValueError) as raised:
        parse_duration("5 minutes")
    assert 'not a valid duration string: "5 minutes"' == str(raised.value)


@pytest.mark.parametrize(
    ("ms", "text"), [(0, "0s"), (90_000, "1m30s"), (300_000, "5m"), (604_800_000, "1w"), (86_400_001, "1d1ms")]
)
def test_format_duration_prints_like_model_duration(ms: int, text: str) -> None:
    assert text == format_duration(ms)


@pytest.mark.parametrize(
    ("ms", "text"), [(0, "0s"), (500, "500ms"), (60_000, "1m0s"), (61_500, "1m1.5s"), (3_600_000, "1h0m0s")]
)
def test_format_go_duration_matches_go_time_duration(ms: int, text: str) -> None:
    assert text == format_go_duration(ms)


@pytest.mark.parametrize("ms", [0, 1, 999, 1000, 90_000, 5_400_000, 604_800_000, 31_536_000_000 + 1])
def test_format_duration_reads_back(ms: int) -> None:
    assert ms == parse_duration(format_duration(ms))
