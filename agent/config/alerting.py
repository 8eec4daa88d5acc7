"""Routing, inhibition, time intervals and silences, in Alertmanager's own config shapes.

Users paste their Alertmanager `route:`, `inhibit_rules:` and `time_intervals:` unchanged,
including the deprecated `match:` / `match_re:` forms. Route timers left unset are inherited
from the parent route; the root's defaults are below. What cannot be checked by the typed
loader (matcher syntax, receiver and time-interval names) is checked by
agent.notify.route.validate_alerting.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.config.types import Duration

# Alertmanager waits 30s before a new group's first notification, to batch alerts that
# arrive together. tripwired evaluates all of a rule's alerts in one pass, so they already
# arrive together; waiting would only delay detection (DESIGN promise 3).
DEFAULT_GROUP_WAIT = Duration(0)
DEFAULT_GROUP_INTERVAL = Duration(5 * 60)  # Alertmanager's default
DEFAULT_REPEAT_INTERVAL = Duration(4 * 3600)  # Alertmanager's default

GROUP_BY_ALL = "..."


@dataclass(frozen=True)
class RouteConfig:
    """One node of the routing tree; unset fields are inherited from the parent route."""

    receiver: str | None = None
    group_by: list[str] | None = None  # `[...]` groups by every label
    continue_: bool = field(default=False, metadata={"key": "continue"})
    matchers: list[str] = field(default_factory=list)
    match: dict[str, str] = field(default_factory=dict)  # deprecated in Alertmanager; still accepted
    match_re: dict[str, str] = field(default_factory=dict)  # deprecated in Alertmanager; still accepted
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    mute_time_intervals: list[str] = field(default_factory=list)
    active_time_intervals: list[str] = field(default_factory=list)
    routes: list[RouteConfig] = field(default_factory=list)


@dataclass(frozen=True)
class InhibitRuleConfig:
    """Mute alerts matching the target while an alert matching the source fires, with `equal` labels equal."""

    source_matchers: list[str] = field(default_factory=list)
    target_matchers: list[str] = field(default_factory=list)
    source_match: dict[str, str] = field(default_factory=dict)  # deprecated forms, still accepted
    source_match_re: dict[str, str] = field(default_factory=dict)
    target_match: dict[str, str] = field(default_factory=dict)
    target_match_re: dict[str, str] = field(default_factory=dict)
    equal: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TimeRangeConfig:
    """Minutes of a day, `HH:MM` to `HH:MM` (end exclusive, `24:00` allowed)."""

    start_time: str
    end_time: str


@dataclass(frozen=True)
class TimeIntervalSpec:
    """One interval: every listed dimension must contain the time; an empty one always does."""

    times: list[TimeRangeConfig] = field(default_factory=list)
    weekdays: list[str] = field(default_factory=list)  # `monday:friday`, `sunday`
    days_of_month: list[str] = field(default_factory=list)  # `1:5`, `-1` (last day)
    months: list[str] = field(default_factory=list)  # `january:march`, `12`
    years: list[str] = field(default_factory=list)  # `2026:2027`
    location: str | None = None  # IANA time zone, `Local`, default UTC


@dataclass(frozen=True)
class TimeIntervalConfig:
    """A named set of intervals, used by routes' mute_time_intervals / active_time_intervals."""

    name: str
    time_intervals: list[TimeIntervalSpec] = field(default_factory=list)


@dataclass(frozen=True)
class SilenceConfig:
    """A silence declared in the config file (a planned maintenance window)."""

    matchers: list[str]
    starts_at: str  # RFC 3339
    ends_at: str  # RFC 3339
    created_by: str = "config file"
    comment: str = ""
