"""Time intervals as Alertmanager's timeinterval.go evaluates them."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from agent.config.alerting import TimeIntervalConfig, TimeIntervalSpec, TimeRangeConfig
from agent.config.load import load_text
from agent.notify.timeinterval import IntervalError, TimeIntervals, check_time_intervals, parse_interval


def at(text: str, zone: str = "UTC") -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


BUSINESS_HOURS = TimeIntervalSpec(times=[TimeRangeConfig("09:00", "17:00")], weekdays=["monday:friday"])


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        ("2026-11-24 09:00", True),  # a Tuesday, start minute included
        ("2026-11-24 16:59", True),
        ("2026-11-24 17:00", False),  # end minute excluded
        ("2026-11-28 10:00", False),  # Saturday
    ],
)
def test_business_hours_contain_weekday_daytime_only(moment: str, inside: bool) -> None:
    assert inside == parse_interval(BUSINESS_HOURS).contains(at(moment))


def test_negative_day_of_month_counts_from_the_months_end() -> None:
    last_two_days = parse_interval(TimeIntervalSpec(days_of_month=["-2:-1"]))
    assert [False, True, True] == [
        last_two_days.contains(at(d)) for d in ("2026-02-26 12:00", "2026-02-27 12:00", "2026-02-28 12:00")
    ]


def test_months_and_years_by_name_and_number() -> None:
    interval = parse_interval(TimeIntervalSpec(months=["january:march", "12"], years=["2026:2027"]))
    assert [True, True, False, False] == [
        interval.contains(at(d))
        for d in ("2026-02-01 00:00", "2027-12-31 23:59", "2026-04-01 00:00", "2028-01-01 00:00")
    ]


def test_location_shifts_the_clock_to_the_zone() -> None:
    night_in_berlin = parse_interval(
        TimeIntervalSpec(times=[TimeRangeConfig("00:00", "06:00")], location="Europe/Berlin")
    )
    assert night_in_berlin.contains(at("2026-11-24 23:30", "UTC"))  # 00:30 in Berlin
    assert not night_in_berlin.contains(at("2026-11-24 06:30", "UTC"))  # 07:30 in Berlin


def test_end_of_day_is_written_24_00() -> None:
    evening = parse_interval(TimeIntervalSpec(times=[TimeRangeConfig("20:00", "24:00")]))
    assert evening.contains(at("2026-11-24 23:59"))


def test_named_intervals_contain_a_time_if_any_of_their_intervals_does() -> None:
    intervals = TimeIntervals(
        [
            TimeIntervalConfig(
                "maintenance", [TimeIntervalSpec(weekdays=["sunday"]), TimeIntervalSpec(days_of_month=["1"])]
            )
        ]
    )
    assert intervals.any_contains(["maintenance"], at("2026-12-01 12:00"))  # a Tuesday, the 1st
    assert not intervals.any_contains(["maintenance"], at("2026-12-02 12:00"))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (TimeIntervalSpec(times=[TimeRangeConfig("17:00", "09:00")]), "must be before end time"),
        (TimeIntervalSpec(times=[TimeRangeConfig("9:00", "10:00")]), "invalid format"),
        (TimeIntervalSpec(weekdays=["funday"]), "funday is not a valid weekday"),
        (TimeIntervalSpec(days_of_month=["-3:5"]), "end day must be negative"),
        (TimeIntervalSpec(days_of_month=["32"]), "out of range"),
        (TimeIntervalSpec(months=["march:january"]), "end month is before start month"),
        (TimeIntervalSpec(location="Mars/Olympus"), "unknown time zone"),
    ],
)
def test_invalid_interval_is_refused_with_a_reason(spec: TimeIntervalSpec, message: str) -> None:
    with pytest.raises(IntervalError, match=message):
        parse_interval(spec)


def test_check_reports_duplicate_names_and_bad_parts_with_paths() -> None:
    configs = [TimeIntervalConfig("a", [TimeIntervalSpec(weekdays=["funday"])]), TimeIntervalConfig("a")]
    assert [
        "time_intervals[0].time_intervals[0]: funday is not a valid weekday",
        "time_intervals[1].name: time interval 'a' is not unique",
    ] == check_time_intervals(configs)


def test_alertmanagers_documented_shape_loads_from_yaml() -> None:
    config = load_text(
        TimeIntervalConfig,
        """
name: offhours
time_intervals:
  - times:
      - start_time: "18:00"
        end_time: "24:00"
    weekdays: ['monday:friday']
    days_of_month: ['1:5', -1]
    months: ['january:march', 12]
    years: ['2026:2027']
    location: Europe/Berlin
""",
    )
    assert TimeIntervals([config]).any_contains(["offhours"], at("2026-01-02 19:00", "Europe/Berlin"))
