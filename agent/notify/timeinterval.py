"""Named time intervals (maintenance windows, business hours), as Alertmanager's timeinterval.go.

A time is in an interval when every dimension the interval lists contains it: minutes of the
day (end exclusive), weekdays, days of the month (negative counts from the month's end),
months and years, all inclusive, in the interval's time zone (UTC unless `location` says).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.config.alerting import TimeIntervalConfig, TimeIntervalSpec

_WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_TIME = re.compile(r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")

Range = tuple[int, int]  # inclusive


class IntervalError(ValueError):
    """A time interval that cannot be used; the message names the bad part."""


@dataclass(frozen=True)
class TimeInterval:
    """One parsed interval; empty tuples mean "any"."""

    times: tuple[Range, ...]  # minutes of the day, end exclusive
    weekdays: tuple[Range, ...]  # 0 = Sunday
    days_of_month: tuple[Range, ...]
    months: tuple[Range, ...]
    years: tuple[Range, ...]
    location: tzinfo

    def contains(self, unix_seconds: float) -> bool:
        """Whether the Unix time falls in the interval (in its location)."""
        t = datetime.fromtimestamp(unix_seconds, self.location)
        minute = t.hour * 60 + t.minute
        weekday = (t.weekday() + 1) % 7  # Python counts from Monday, Alertmanager from Sunday
        return (
            _any(self.times, lambda r: r[0] <= minute < r[1])
            and _any(self.days_of_month, lambda r: _day_in(r, t))
            and _any(self.months, lambda r: r[0] <= t.month <= r[1])
            and _any(self.weekdays, lambda r: r[0] <= weekday <= r[1])
            and _any(self.years, lambda r: r[0] <= t.year <= r[1])
        )


class TimeIntervals:
    """The config's named intervals, asked whether any of some names contains a time."""

    def __init__(self, configs: Iterable[TimeIntervalConfig] = ()) -> None:
        """Compile the named time intervals of the config."""
        self._by_name: Mapping[str, tuple[TimeInterval, ...]] = {
            c.name: tuple(parse_interval(spec) for spec in c.time_intervals) for c in configs
        }

    def names(self) -> set[str]:
        """The names of the time intervals."""
        return set(self._by_name)

    def any_contains(self, names: Sequence[str], unix_seconds: float) -> bool:
        """Whether the time is in any interval of any of the named time intervals."""
        return any(i.contains(unix_seconds) for name in names for i in self._by_name.get(name, ()))


def parse_interval(spec: TimeIntervalSpec) -> TimeInterval:
    """The checked form of one interval; IntervalError when a part is invalid."""
    return TimeInterval(
        times=tuple(_time_range(r.start_time, r.end_time) for r in spec.times),
        weekdays=tuple(_weekday_range(text) for text in spec.weekdays),
        days_of_month=tuple(_day_range(text) for text in spec.days_of_month),
        months=tuple(_month_range(text) for text in spec.months),
        years=tuple(_year_range(text) for text in spec.years),
        location=_location(spec.location),
    )


def check_time_intervals(configs: Sequence[TimeIntervalConfig], path: str = "time_intervals") -> list[str]:
    """Every problem with the named intervals, as `path: message`."""
    errors: list[str] = []
    seen: set[str] = set()
    for i, config in enumerate(configs):
        if config.name in seen:
            errors.append(f"{path}[{i}].name: time interval {config.name!r} is not unique")
        seen.add(config.name)
        for j, spec in enumerate(config.time_intervals):
            try:
                parse_interval(spec)
            except IntervalError as exc:
                errors.append(f"{path}[{i}].time_intervals[{j}]: {exc}")
    return errors


def _any(ranges: tuple[Range, ...], test: Callable[[Range], bool]) -> bool:
    return not ranges or any(test(r) for r in ranges)


def _day_in(days: Range, t: datetime) -> bool:
    """Whether t's day is in the range, negative days counting back from the month's last day."""
    length = calendar.monthrange(t.year, t.month)[1]
    begin = length + days[0] + 1 if days[0] < 0 else days[0]
    end = length + days[1] + 1 if days[1] < 0 else days[1]
    if begin > length:
        return False
    return max(-length, min(begin, length)) <= t.day <= max(-length, min(end, length))


def _time_range(start: str, end: str) -> Range:
    begin, finish = _minutes(start), _minutes(end)
    if begin >= finish:
        raise IntervalError(f"start time {start} must be before end time {end}")
    return (begin, finish)


def _minutes(text: str) -> int:
    if not _TIME.match(text):
        raise IntervalError(f"couldn't parse timestamp {text}, invalid format (use HH:MM)")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _split_range(text: str, member: Callable[[str], int]) -> Range:
    parts = text.lower().split(":")
    if len(parts) > 2:
        raise IntervalError(f"couldn't parse range {text}, invalid format")
    begin, end = member(parts[0]), member(parts[-1])
    return (begin, end)


def _named(names: tuple[str, ...], kind: str, numbers: bool) -> Callable[[str], int]:
    def member(text: str) -> int:
        if text in names:
            return names.index(text) + (1 if numbers else 0)
        if numbers and text.lstrip("-").isdigit():
            return int(text)
        raise IntervalError(f"{text} is not a valid {kind}")

    return member


def _weekday_range(text: str) -> Range:
    begin, end = _split_range(text, _named(_WEEKDAYS, "weekday", numbers=False))
    if begin > end:
        raise IntervalError(f"start day cannot be after end day in {text}")
    return (begin, end)


def _month_range(text: str) -> Range:
    begin, end = _split_range(text, _named(_MONTHS, "month", numbers=True))
    if not (1 <= begin <= 12 and 1 <= end <= 12):
        raise IntervalError(f"{text} is not a valid month: out of range")
    if begin > end:
        raise IntervalError(f"end month is before start month in {text}")
    return (begin, end)


def _year_range(text: str) -> Range:
    begin, end = _split_range(text, _integer)
    if begin <= 0 or end <= 0:
        raise IntervalError(f"{text} is not a valid year")
    if begin > end:
        raise IntervalError(f"end year {end} is before start year {begin}")
    return (begin, end)


def _day_range(text: str) -> Range:
    begin, end = _split_range(text, _integer)
    for day in (begin, end):
        if day == 0 or not -31 <= day <= 31:
            raise IntervalError(f"{day} is not a valid day of the month: out of range")
    if begin < 0 < end:
        raise IntervalError(f"end day must be negative if start day is negative in {text}")
    # With negative days the order depends on the month; 28 days rules out what is always wrong.
    if (28 + begin if begin < 0 else begin) > (28 + end if end < 0 else end):
        raise IntervalError(f"end day {end} is always before start day {begin}")
    return (begin, end)


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise IntervalError(f"{text} is not a number") from None


def _location(name: str | None) -> tzinfo:
    if name is None or name == "UTC":
        return ZoneInfo("UTC")
    if name == "Local":
        return _local_zone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise IntervalError(f"unknown time zone {name!r}") from exc


def _local_zone() -> tzinfo:
    """The system's zone, with its DST rules when /etc/localtime has them (Go's time.Local)."""
    try:
        with open("/etc/localtime", "rb") as file:
            return ZoneInfo.from_file(file)
    except (OSError, ValueError):
        local = datetime.now().astimezone().tzinfo
        assert local is not None  # astimezone() always sets it
        return local
