"""Routing tests, the way `amtool config routes test --verify.receivers` checks a routing tree.

A routing test file is its own format (promtool's rule-test files stay promtool's):

    config: ../tripwired.yaml          # relative to this file; an Alertmanager config works too
    route_tests:
      - name: pages reach the pager    # optional
        labels: {alertname: KafkaDown, severity: page}
        receivers: [pager, team-slack] # in tree order, as amtool prints them

`tripwired routes test FILE...` runs them; `tripwired rules test` still hands files that have
`route_tests` here, as it did before `routes test` existed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from agent.config.alerting import RouteConfig, TimeIntervalConfig
from agent.config.load import ConfigError, load_file, load_text
from agent.model import labels_of
from agent.notify.route import Route, build_route, format_label_set, validate_alerting
from agent.testreport import report_files


@dataclass(frozen=True)
class RouteTestCase:
    """One alert's labels and the receivers it must reach."""

    labels: dict[str, str]
    receivers: list[str]
    name: str = ""


@dataclass(frozen=True)
class RouteTestFile:
    config: str
    route_tests: list[RouteTestCase] = field(default_factory=list)


@dataclass(frozen=True)
class _TimeIntervals:
    time_intervals: list[TimeIntervalConfig] = field(default_factory=list)


class RouteTestError(Exception):
    """A routing test file or its config that cannot be used."""


def is_route_test_file(path: str) -> bool:
    """Whether the file is a routing test file (a YAML mapping with `route_tests`)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and "route_tests" in data


def test_routes(files: Sequence[str], out: TextIO) -> int:
    """Run routing test files: 0 when every case routes as expected, 1 otherwise."""
    return report_files(files, run_route_test_file, out)


def run_route_test_file(path: str) -> list[str]:
    """Every failure of one routing test file; empty when it passes."""
    try:
        spec = load_file(RouteTestFile, path)
        config_path = Path(path).parent / spec.config
        route = load_route(str(config_path))
    except (ConfigError, RouteTestError) as exc:
        return [str(exc)]
    return [message for case in spec.route_tests if (message := _check(route, case))]


def receivers_for(route: Route, labels: dict[str, str]) -> list[str]:
    """The receivers an alert with these labels reaches, in tree order (amtool's output)."""
    return [r.opts.receiver for r in route.match(labels)]


def load_route(config_path: str) -> Route:
    """The checked routing tree of a tripwired or Alertmanager config file."""
    data = _read_yaml(config_path)
    if not isinstance(data, dict) or not isinstance(data.get("route"), dict):
        raise RouteTestError(f"{config_path}: no route in the config file")
    # Only the routing parts are read, so a config with receivers or collectors this
    # module knows nothing about still loads.
    route = load_text(RouteConfig, yaml.safe_dump(data["route"]), f"{config_path} (route)")
    intervals = load_text(
        _TimeIntervals,
        yaml.safe_dump({"time_intervals": data.get("time_intervals") or []}),
        f"{config_path} (time_intervals)",
    ).time_intervals
    receivers = [str(r.get("name")) for r in data.get("receivers") or [] if isinstance(r, dict)]
    errors = validate_alerting(route, receivers=receivers, time_intervals=intervals)
    if errors:
        raise RouteTestError("\n".join(f"{config_path}: {e}" for e in errors))
    return build_route(route)


def _read_yaml(path: str) -> Any:
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RouteTestError(f"{path}: cannot read config file: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise RouteTestError(f"{path}: invalid YAML: {exc}") from exc


def _check(route: Route, case: RouteTestCase) -> str:
    got = receivers_for(route, case.labels)
    if got == case.receivers:
        return ""
    name = f"    name: {case.name},\n" if case.name else ""
    return (
        f"{name}    labels: {format_label_set(labels_of(case.labels))}\n"
        f"    expected receivers: {','.join(case.receivers)}\n"
        f"    got receivers:      {','.join(got)}"
    )
