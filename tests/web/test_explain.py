"""The explain view and units: why a rule fires or not, over a real store, ruler, dispatcher and silences."""

from __future__ import annotations

import math
import re
from pathlib import Path

import promql_parser
import pytest

from agent.clock import SystemClock
from agent.collect.runner import Runner
from agent.config.alerting import InhibitRuleConfig, RouteConfig
from agent.model import Sample, gauge, labels_of
from agent.notify.dispatch import Dispatcher
from agent.notify.nflog import NotifyLog
from agent.notify.silence import Silences
from agent.promql import Engine
from agent.promql.units import Unit, unit_of
from agent.ruler.manager import RuleManager
from agent.runtime.explain import show_value
from agent.runtime.status_source import RuntimeStatusSource
from agent.store import Store
from agent.web.status import ExplainView

GIB = 2.0**30
RULES = """\
groups:
  - name: warehouse
    interval: 10s
    rules:
      - alert: DiskAlmostFull
        expr: disk_used_bytes / disk_size_bytes > 0.9
      - alert: TableStale
        expr: time() - table_last_write_timestamp_seconds > 3600
      - alert: NoSuchMetric
        expr: never_written_total > 1
      - alert: LagWhileUp
        expr: consumer_lag > 100 and on() pipeline_up == 1
      - alert: DiskFilling
        expr: disk_used_bytes > 600 * 1024 * 1024
        for: 5m
      - alert: WarehouseDown
        expr: warehouse_up == 0
      - alert: TableLoadFailed
        expr: table_load_ok == 0
"""


class World:
    """A ruler that has evaluated RULES once over known data, with a dispatcher behind it."""

    def __init__(self, tmp_path: Path) -> None:
        clock = SystemClock()
        store = Store()
        names = [
            "disk_used_bytes",
            "disk_size_bytes",
            "table_last_write_timestamp_seconds",
            "consumer_lag",
            "pipeline_up",
            "warehouse_up",
            "table_load_ok",
        ]
        store.declare([gauge(name, "test") for name in names])
        now = clock.time()
        lake, sea = labels_of(path="/lake"), labels_of(path="/sea")
        samples = [
            Sample("disk_used_bytes", lake, 0.8 * GIB),
            Sample("disk_size_bytes", lake, 1.0 * GIB),
            Sample("disk_used_bytes", sea, 0.5 * GIB),
            Sample("disk_size_bytes", sea, 1.0 * GIB),
            Sample("table_last_write_timestamp_seconds", labels_of(table="orders"), now - 100),
            Sample("consumer_lag", labels_of(group="etl"), 500.0),
            Sample("pipeline_up", (), 0.0),
            Sample("warehouse_up", labels_of(warehouse="lake"), 0.0),
            Sample("table_load_ok", labels_of(warehouse="lake", table="orders"), 0.0),
        ]
        store.write("test", samples, int(now * 1000))
        (tmp_path / "rules.yaml").write_text(RULES)
        self.silences = Silences(tmp_path, clock)
        inhibit = InhibitRuleConfig(
            source_matchers=['alertname="WarehouseDown"'],
            target_matchers=['alertname="TableLoadFailed"'],
            equal=["warehouse"],
        )
        self.dispatcher = Dispatcher(
            RouteConfig(receiver="team"),
            inhibit_rules=[inhibit],
            silences=self.silences,
            notify_log=NotifyLog(tmp_path, clock),
            clock=clock,
            enqueue=lambda notification: None,
        )
        self.ruler = RuleManager(
            store=store,
            clock=clock,
            notify=self.dispatcher.add,
            evaluation_interval_s=10.0,
            external_labels={},
            external_url="http://tripwired.test",
            engine=Engine(store),
        )
        self.ruler.load([str(tmp_path / "rules.yaml")])
        self.ruler.evaluate_due()
        runner = Runner(store, clock)
        self.source = RuntimeStatusSource(self.ruler, lambda: runner, self.silences, dispatcher=lambda: self.dispatcher)

    def explain(self, name: str) -> ExplainView:
        [group] = self.ruler.groups()
        rule = next(r for r in group.alerting_rules() if r.name == name)
        view = self.source.explain(group.key, rule.spec.index)
        assert view is not None
        return view


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_a_threshold_not_crossed_names_the_closest_series_in_its_unit(world: World) -> None:
    view = world.explain("DiskAlmostFull")
    assert view.state == "inactive"
    assert view.verdict == (
        "Not firing: none of the 2 series of `disk_used_bytes / disk_size_bytes` is > 90%"
        ' (closest: 80% for {path="/lake"}).'
    )
    assert [(p.depth, p.expr, p.series) for p in view.parts] == [
        (0, "disk_used_bytes / disk_size_bytes > 0.9", 0),
        (1, "disk_used_bytes / disk_size_bytes", 2),
        (2, "disk_used_bytes", 2),
        (2, "disk_size_bytes", 2),
    ]
    assert view.parts[1].samples == (('{path="/lake"}', "80%"), ('{path="/sea"}', "50%"))
    assert view.parts[2].samples[0] == ('disk_used_bytes{path="/lake"}', "819.2MiB")


def test_an_age_is_shown_as_a_duration(world: World) -> None:
    verdict = world.explain("TableStale").verdict
    assert verdict.startswith(
        "Not firing: none of the 1 series of `time() - table_last_write_timestamp_seconds` is > 1h"
    )
    assert re.search(r'\(closest: 1m 4\ds for \{table="orders"\}\)\.$', verdict), verdict


def test_a_missing_metric_and_a_failed_and_are_told_apart(world: World) -> None:
    assert world.explain("NoSuchMetric").verdict == "Not firing: there is no recent sample of `never_written_total`."
    assert world.explain("LagWhileUp").verdict == (
        "Not firing: none of the 1 series of `pipeline_up` is == 1 (closest: 0 for pipeline_up)."
    )


def test_pending_says_how_long_of_its_for(world: World) -> None:
    view = world.explain("DiskFilling")
    assert view.state == "pending" and view.for_text == "5m"
    assert view.verdict == "Pending: the condition holds, and the alert fires once it has held for 5m."
    assert len(view.reasons) == 1 and view.reasons[0].startswith(
        '{alertname="DiskFilling", path="/lake"}: pending for '
    )
    assert view.reasons[0].endswith(" of 5m")


def test_silenced_and_inhibited_alerts_say_by_what(world: World) -> None:
    silence = world.silences.add(['alertname="WarehouseDown"'], world.silences.clock.time(), 4e9, "me", "fixing")
    down = world.explain("WarehouseDown")
    assert down.verdict == "Firing: 1 alert, 1 of them silenced or inhibited."
    assert down.reasons == (f'{{alertname="WarehouseDown", warehouse="lake"}}: silenced by {silence}',)
    failed = world.explain("TableLoadFailed")
    assert failed.alerts[0].muted == "inhibited"
    assert failed.alerts[0].inhibited_by == ('WarehouseDown{warehouse="lake"}',)
    assert failed.reasons == (
        '{alertname="TableLoadFailed", table="orders", warehouse="lake"}: inhibited by WarehouseDown{warehouse="lake"}',
    )
    # The page's list says the same.
    states = {(a.name, a.muted) for a in world.source.alerts() if a.state == "firing"}
    assert states == {("WarehouseDown", "silenced"), ("TableLoadFailed", "inhibited")}


@pytest.mark.parametrize(
    ("expr", "unit"),
    [
        ("disk_free_bytes", Unit.BYTES),
        ("rate(received_bytes_total[5m])", Unit.BYTES_PER_SECOND),
        ("rate(node_cpu_seconds_total[5m])", Unit.RATIO),
        ("rate(requests_total[5m])", Unit.PER_SECOND),
        ("time() - last_success_timestamp_seconds", Unit.SECONDS),
        ("avg_over_time(job_duration_seconds[1h]) > 60", Unit.SECONDS),
        ("free_bytes / size_bytes * 100 < 10", Unit.PERCENT),
        ("sum by (topic) (lag)", Unit.NONE),
        ("count(up_bytes)", Unit.NONE),
        ("x_bytes > bool 1", Unit.NONE),
    ],
)
def test_units_follow_prometheus_naming(expr: str, unit: Unit) -> None:
    assert unit_of(promql_parser.parse(expr)) is unit


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (0.8573920000000001, Unit.RATIO, "85.74%"),
        (0.8573920000000001, Unit.NONE, "857.4m"),
        (1.5 * GIB, Unit.BYTES, "1.5GiB"),
        (90.0, Unit.SECONDS, "1m 30s"),
        (0.25, Unit.SECONDS, "250ms"),
        (12345.0, Unit.PER_SECOND, "12.35k/s"),
        (math.nan, Unit.BYTES, "NaN"),
        (-math.inf, Unit.PER_SECOND, "-Inf"),
    ],
)
def test_values_are_humanized_as_prometheus_templates_do(value: float, unit: Unit, text: str) -> None:
    assert show_value(value, unit) == text
