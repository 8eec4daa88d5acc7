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
from typing import TextIO

import yaml

from agent.config.alerting import RouteConfig, TimeIntervalConfig
from agent.config.load import ConfigError, build_node, load_file
from agent.model import labels_of
from agent.notify.route import Route, build_route, format_label_set, validate_alerting
from agent.testreport import report_files
from agent.yamlschema import Report, compose, find, read_document


@dataclass(frozen=True)
class RouteTestCase:
    """One alert's labels and the receivers it must reach."""

    labels: dict[str, str]
    receivers: list[str]
    name: str = ""


@dataclass(frozen=True)
class RouteTestFile:
    """A routing test file: the config whose route is tested, and the cases."""

    config: str
    route_tests: list[RouteTestCase] = field(default_factory=list)


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
        route = load_route(str(Path(path).parent / spec.config))
    except ConfigError as exc:
        return exc.errors
    return [message for case in spec.route_tests if (message := _check(route, case))]


def receivers_for(route: Route, labels: dict[str, str]) -> list[str]:
    """The receivers an alert with these labels reaches, in tree order (amtool's output)."""
    return [r.opts.receiver for r in route.match(labels)]


def load_route(config_path: str) -> Route:
    """The checked routing tree of a tripwired or Alertmanager config file; ConfigError with file:line: field."""
    report = Report(config_path)
    root = compose(read_document(config_path, "config file"), report)
    # Only the routing parts are read, so a config with receivers or collectors this
    # module knows nothing about still loads.
    route_node = find(root, "route")
    if not isinstance(route_node, yaml.MappingNode):
        report.error(route_node if route_node is not None else root, "route", "no route in the config file")
        report.raise_if_any()
    route: RouteConfig = build_node(RouteConfig, route_node, report, path="route")
    intervals_node = find(root, "time_intervals")
    intervals: list[TimeIntervalConfig] = (
        build_node(list[TimeIntervalConfig], intervals_node, report, path="time_intervals") or []
    )
    report.raise_if_any()
    for error in validate_alerting(route, receivers=_receiver_names(root), time_intervals=intervals):
        path, _, message = error.partition(": ")
        report.error_at(root, path, message)
    report.raise_if_any()
    return build_route(route)


def _receiver_names(root: yaml.Node | None) -> list[str]:
    receivers = find(root, "receivers")
    items = receivers.value if isinstance(receivers, yaml.SequenceNode) else []
    names = [find(item, "name") for item in items]
    return [str(name.value) for name in names if isinstance(name, yaml.ScalarNode)]


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
