"""The routing tree, as Alertmanager's dispatch/route.go: which routes an alert takes, and its group.

An alert enters at the root and descends depth-first, left to right, into the first child
that matches (and further siblings while the matching child says `continue`); a route none of
whose children match is where the alert ends. Children inherit receiver, group_by and
timers; time intervals are not inherited. Group keys are Alertmanager's: the route's key
(matchers of every route on the path) and the group labels, so receivers see the same keys.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from agent.config.alerting import (
    DEFAULT_GROUP_INTERVAL,
    DEFAULT_GROUP_WAIT,
    DEFAULT_REPEAT_INTERVAL,
    GROUP_BY_ALL,
    InhibitRuleConfig,
    RouteConfig,
    SilenceConfig,
    TimeIntervalConfig,
)
from agent.model import Labels, go_quote
from agent.notify.inhibit import rule_matchers
from agent.notify.matchers import (
    MatcherError,
    Matchers,
    MatchType,
    equality_matchers,
    format_matchers,
    matches_all,
    parse_matcher_list,
)
from agent.notify.silence import check_silence_config
from agent.notify.timeinterval import check_time_intervals


@dataclass(frozen=True)
class RouteOpts:
    """What a route decides for the alerts that end on it (after inheritance)."""

    receiver: str
    group_by: frozenset[str]
    group_by_all: bool
    group_wait: float
    group_interval: float
    repeat_interval: float
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()


_ROOT_DEFAULTS = RouteOpts("", frozenset(), False, DEFAULT_GROUP_WAIT, DEFAULT_GROUP_INTERVAL, DEFAULT_REPEAT_INTERVAL)


@dataclass(frozen=True)
class Route:
    """One node of the built tree."""

    opts: RouteOpts
    matchers: Matchers
    continue_: bool
    key: str  # Alertmanager's Route.Key(): matchers of every route from the root, joined by "/"
    routes: tuple[Route, ...]

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes an alert with these labels ends on, in tree order."""
        if not matches_all(self.matchers, labels):
            return []
        found: list[Route] = []
        for child in self.routes:
            matched = child.match(labels)
            found.extend(matched)
            if matched and not child.continue_:
                break
        return found or [self]

    def group_labels(self, labels: Labels) -> Labels:
        """The alert's labels this route groups by (all of them for `...`)."""
        if self.opts.group_by_all:
            return labels
        return tuple((n, v) for n, v in labels if n in self.opts.group_by)

    def group_key(self, group_labels: Labels) -> str:
        """Alertmanager's aggregation group key, e.g. `{}/{severity="page"}:{alertname="Down"}`."""
        return f"{self.key}:{format_label_set(group_labels)}"


def build_route(config: RouteConfig, parent: Route | None = None) -> Route:
    """The routing tree of a (validated) route config; MatcherError for a bad matcher."""
    opts = _inherit(config, parent.opts if parent is not None else _ROOT_DEFAULTS)
    matchers = route_matchers(config)
    key = format_matchers(matchers) if parent is None else f"{parent.key}/{format_matchers(matchers)}"
    node = Route(opts, matchers, config.continue_, key, ())
    children = tuple(build_route(child, node) for child in config.routes)
    return Route(opts, matchers, config.continue_, key, children)


def route_matchers(config: RouteConfig) -> Matchers:
    """`matchers`, `match` and `match_re` together, sorted as Alertmanager sorts them."""
    legacy = [*equality_matchers(config.match, MatchType.EQUAL), *equality_matchers(config.match_re, MatchType.REGEX)]
    return tuple(sorted([*legacy, *parse_matcher_list(config.matchers)], key=lambda m: m.sort_key))


def _inherit(config: RouteConfig, parent: RouteOpts) -> RouteOpts:
    group_by, group_by_all = parent.group_by, parent.group_by_all
    # As Alertmanager: an empty group_by inherits too; `...` alone means every label.
    if config.group_by and GROUP_BY_ALL in config.group_by:
        group_by_all = True
    elif config.group_by:
        group_by, group_by_all = frozenset(config.group_by), False
    return RouteOpts(
        receiver=config.receiver or parent.receiver,
        group_by=group_by,
        group_by_all=group_by_all,
        group_wait=_pick(config.group_wait, parent.group_wait),
        group_interval=_pick(config.group_interval, parent.group_interval),
        repeat_interval=_pick(config.repeat_interval, parent.repeat_interval),
        mute_time_intervals=tuple(config.mute_time_intervals),
        active_time_intervals=tuple(config.active_time_intervals),
    )


def _pick(value: float | None, inherited: float) -> float:
    return inherited if value is None else float(value)


def format_label_set(labels: Labels) -> str:
    """Go's model.LabelSet.String(): `{a="1", b="2"}`, names sorted, values Go-quoted."""
    return "{" + ", ".join(f"{name}={go_quote(value)}" for name, value in sorted(labels)) + "}"


def validate_alerting(
    route: RouteConfig | None,
    *,
    receivers: Collection[str],
    inhibit_rules: Sequence[InhibitRuleConfig] = (),
    time_intervals: Sequence[TimeIntervalConfig] = (),
    silences: Sequence[SilenceConfig] = (),
) -> list[str]:
    """Every problem the typed loader cannot see, as `path: message` (empty when all is well)."""
    errors = check_time_intervals(time_intervals)
    interval_names = {t.name for t in time_intervals}
    if route is not None:
        errors += _check_root(route)
        errors += _check_route(route, "route", receivers, interval_names)
    for i, rule in enumerate(inhibit_rules):
        errors += _check_inhibit_rule(rule, f"inhibit_rules[{i}]")
    for i, silence in enumerate(silences):
        errors += [f"silences[{i}]: {message}" for message in check_silence_config(silence)]
    return errors


def _check_root(route: RouteConfig) -> list[str]:
    problems = []
    if not route.receiver:
        problems.append("root route must specify a default receiver")
    if route.matchers or route.match or route.match_re:
        problems.append("root route must not have any matchers")
    if route.continue_:
        problems.append("cannot have continue in root route")
    if route.mute_time_intervals:
        problems.append("root route must not have any mute time intervals")
    if route.active_time_intervals:
        problems.append("root route must not have any active time intervals")
    return [f"route: {p}" for p in problems]


def _check_route(route: RouteConfig, path: str, receivers: Collection[str], intervals: Collection[str]) -> list[str]:
    errors = [f"{path}.matchers: {message}" for message in _matcher_errors(route)]
    if route.receiver and route.receiver not in receivers:
        errors.append(f"{path}.receiver: undefined receiver {route.receiver!r} used in route")
    for field_name in ("mute_time_intervals", "active_time_intervals"):
        for name in getattr(route, field_name):
            if name not in intervals:
                errors.append(f"{path}.{field_name}: undefined time interval {name!r} used in route")
    errors += [f"{path}.group_by: {message}" for message in _group_by_errors(route.group_by or [])]
    for field_name in ("group_interval", "repeat_interval"):
        if getattr(route, field_name) == 0:
            errors.append(f"{path}.{field_name}: {field_name} cannot be zero")
    for i, child in enumerate(route.routes):
        errors += _check_route(child, f"{path}.routes[{i}]", receivers, intervals)
    return errors


def _matcher_errors(route: RouteConfig) -> list[str]:
    try:
        route_matchers(route)
    except MatcherError as exc:
        return [str(exc)]
    return []


def _group_by_errors(group_by: Sequence[str]) -> list[str]:
    errors = []
    if GROUP_BY_ALL in group_by and len(group_by) > 1:
        errors.append("cannot have wildcard group_by (`...`) and other labels at the same time")
    seen: set[str] = set()
    for name in group_by:
        if name in seen:
            errors.append(f"duplicated label {name!r} in group_by")
        seen.add(name)
    return errors


def _check_inhibit_rule(rule: InhibitRuleConfig, path: str) -> list[str]:
    try:
        rule_matchers(rule)
    except MatcherError as exc:
        return [f"{path}: {exc}"]
    return []
