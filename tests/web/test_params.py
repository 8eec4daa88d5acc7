"""The Prometheus API's parameter parsing: times, durations and the range limits."""

from __future__ import annotations

import pytest

from agent.web.params import ParamError, parse_duration_ns, parse_time_ns, range_params
from agent.web.server import Request


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("1700000000", 1_700_000_000_000_000_000),
        ("1700000000.1236", 1_700_000_000_124_000_000),  # rounded to the millisecond, as Go's math.Round
        ("-1.5", -1_500_000_000),
        ("1.7e9", 1_700_000_000_000_000_000),
        ("2023-11-14T22:13:20Z", 1_700_000_000_000_000_000),
        ("2023-11-14T23:13:20.123456789+01:00", 1_700_000_000_123_456_789),
    ],
)
def test_times_are_unix_seconds_or_rfc3339(text: str, ns: int) -> None:
    assert ns == parse_time_ns(text)


@pytest.mark.parametrize("text", ["", "abc", "2023-11-14", "2023-11-14T22:13:20", "2023-11-14 22:13:20Z", "NaN"])
def test_other_times_are_refused_in_prometheus_words(text: str) -> None:
    with pytest.raises(ParamError, match="to a valid timestamp"):
        parse_time_ns(text)


@pytest.mark.parametrize(
    ("text", "ns"), [("15", 15 * 10**9), ("22.5", 22_500_000_000), ("1m30s", 90 * 10**9), ("0", 0)]
)
def test_durations_are_seconds_or_prometheus_durations(text: str, ns: int) -> None:
    assert ns == parse_duration_ns(text)


def test_a_duration_beyond_int64_nanoseconds_is_refused() -> None:
    with pytest.raises(ParamError, match="It overflows int64"):
        parse_duration_ns("1e300")


def request(**params: str) -> Request:
    return Request("GET", "/api/v1/query_range", {k: [v] for k, v in params.items()}, {})


def test_a_range_of_exactly_11000_steps_is_taken_and_one_more_refused() -> None:
    assert 1000 == range_params(request(start="0", end="11000", step="1")).step_ms
    with pytest.raises(ParamError, match="exceeded maximum resolution of 11,000 points"):
        range_params(request(start="0", end="11001", step="1"))
