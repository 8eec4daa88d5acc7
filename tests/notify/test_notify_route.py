"""The routing tree: matching with continue, inheritance, group labels and keys, and validation.

The expected receivers below are what `amtool config routes test` (Alertmanager 0.25) printed
for the same tree and labels; the group key is what Alertmanager 0.25 sent in its webhook.
"""

from __future__ import annotations

import pytest

from agent.config.alerting import InhibitRuleConfig, RouteConfig, SilenceConfig, TimeIntervalConfig
from agent.config.load import load_text
from agent.config.schema import Duration
from agent.model import labels_of
from agent.notify.route import build_route, validate_alerting

TREE = """
receiver: default
group_by: [alertname]
routes:
  - matchers: ['severity=~"critical|page"']
    receiver: pager
    continue: true
  - matchers: ['team="data"']
    receiver: data-slack
    routes:
      - matchers: ['topic=~"ingest.*"']
        receiver: ingest-oncall
  - match: {team: data}
    receiver: never
  - matchers: ['team="sre"', 'env!="dev"']
    receiver: sre
"""


def receivers(labels: dict[str, str]) -> list[str]:
    route = build_route(load_text(RouteConfig, TREE))
    return [r.opts.receiver for r in route.match(labels)]


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"alertname": "X"}, ["default"]),
        ({"severity": "page"}, ["pager"]),
        ({"severity": "page", "team": "data"}, ["pager", "data-slack"]),
        ({"team": "data", "topic": "ingest-1"}, ["ingest-oncall"]),
        ({"team": "data", "topic": "pre-ingest"}, ["data-slack"]),
        ({"severity": "critical", "team": "sre"}, ["pager", "sre"]),
        ({"team": "sre", "env": "dev"}, ["default"]),
        ({"severity": "pager"}, ["default"]),
    ],
)
def test_alert_reaches_the_receivers_amtool_reports(labels: dict[str, str], expected: list[str]) -> None:
    assert expected == receivers(labels)


def test_children_inherit_receiver_group_by_and_timers() -> None:
    config = RouteConfig(
        receiver="root",
        group_by=["alertname"],
        group_interval=Duration(60),
        routes=[RouteConfig(matchers=["team=data"], repeat_interval=Duration(600))],
    )
    child = build_route(config).routes[0]
    assert ("root", frozenset({"alertname"}), 0.0, 60.0, 600.0) == (
        child.opts.receiver,
        child.opts.group_by,
        child.opts.group_wait,
        child.opts.group_interval,
        child.opts.repeat_interval,
    )


def test_empty_group_by_inherits_like_alertmanager() -> None:
    config = RouteConfig(receiver="r", group_by=["alertname"], routes=[RouteConfig(group_by=[])])
    assert frozenset({"alertname"}) == build_route(config).routes[0].opts.group_by


def test_time_intervals_are_not_inherited() -> None:
    config = RouteConfig(
        receiver="r", routes=[RouteConfig(mute_time_intervals=["night"], routes=[RouteConfig(matchers=["a=b"])])]
    )
    assert () == build_route(config).routes[0].routes[0].opts.mute_time_intervals


def test_group_by_all_groups_by_every_label() -> None:
    route = build_route(RouteConfig(receiver="r", group_by=["..."]))
    labels = labels_of(alertname="Down", instance="a")
    assert labels == route.group_labels(labels)


def test_group_labels_keep_only_group_by_labels_the_alert_has() -> None:
    route = build_route(RouteConfig(receiver="r", group_by=["alertname", "cluster"]))
    assert labels_of(alertname="Down") == route.group_labels(labels_of(alertname="Down", instance="a"))


def test_group_key_is_alertmanagers() -> None:
    config = RouteConfig(
        receiver="hook",
        group_by=["alertname", "job"],
        routes=[RouteConfig(matchers=['severity=~"critical|page"', 'a="x\\"y"'])],
    )
    labels = labels_of(alertname="X", job='k"a\u00e9\tb', severity="page", a='x"y')
    route = build_route(config).match(dict(labels))[0]
    assert '{}/{a="x\\"y",severity=~"critical|page"}:{alertname="X", job="k\\"a\u00e9\\tb"}' == route.group_key(
        route.group_labels(labels)
    )


def test_validation_reports_unknown_receivers_and_time_intervals() -> None:
    config = RouteConfig(receiver="default", routes=[RouteConfig(receiver="nobody", mute_time_intervals=["never"])])
    assert [
        "route.routes[0].receiver: undefined receiver 'nobody' used in route",
        "route.routes[0].mute_time_intervals: undefined time interval 'never' used in route",
    ] == validate_alerting(config, receivers={"default"})


def test_validation_reports_bad_matchers_with_their_path() -> None:
    config = RouteConfig(receiver="r", routes=[RouteConfig(matchers=["severity"])])
    assert ["route.routes[0].matchers: bad matcher format: severity"] == validate_alerting(config, receivers={"r"})


def test_validation_checks_the_root_route() -> None:
    errors = validate_alerting(RouteConfig(matchers=["a=b"], continue_=True), receivers=set())
    assert [
        "route: root route must specify a default receiver",
        "route: root route must not have any matchers",
        "route: cannot have continue in root route",
    ] == errors


def test_validation_covers_inhibit_rules_time_intervals_and_silences() -> None:
    errors = validate_alerting(
        None,
        receivers=set(),
        inhibit_rules=[InhibitRuleConfig(source_matchers=['a=~"("'])],
        time_intervals=[TimeIntervalConfig("x"), TimeIntervalConfig("x")],
        silences=[SilenceConfig(['a=~".*"'], "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z")],
    )
    assert [e.split(":")[0] for e in errors] == ["time_intervals[1].name", "inhibit_rules[0]", "silences[0]"]


def test_validation_rejects_wildcard_group_by_with_other_labels() -> None:
    errors = validate_alerting(RouteConfig(receiver="r", group_by=["...", "job"]), receivers={"r"})
    assert ["route.group_by: cannot have wildcard group_by (`...`) and other labels at the same time"] == errors


def test_pasted_alertmanager_route_loads_with_its_timers() -> None:
    config = load_text(
        RouteConfig,
        "receiver: r\ngroup_wait: 30s\ngroup_interval: 1m\nrepeat_interval: 1h30m\n"
        "routes: [{matchers: ['a=b'], continue: true}]\n",
    )
    route = build_route(config)
    assert (30.0, 60.0, 5400.0, True) == (
        route.opts.group_wait,
        route.opts.group_interval,
        route.opts.repeat_interval,
        route.routes[0].continue_,
    )
