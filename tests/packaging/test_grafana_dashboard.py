"""packaging/grafana/tripwired.json: a dashboard Grafana imports, whose queries read only what tripwired exports.

Every PromQL expression (panel targets and the variables' label_values queries) is parsed with
tripwired's own parser, or with promql-parser for constructs tripwired does not evaluate itself
(Grafana's Prometheus does), and every metric name it reads must be declared somewhere in the agent
(a MetricMeta in any module, the host collector's meminfo/vmstat families as it discovers them on the
fixture /proc tree) or recorded by a shipped rule pack.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

import agent
from agent.collect.host import HostCollector
from agent.collect.host_fs import FsUsage
from agent.config.schema import HostConfig
from agent.model import MetricMeta, MetricType
from agent.promql import PromQLError, metric_names, parse_expr
from tests.conftest import REPO

DASHBOARD = REPO / "packaging" / "grafana" / "tripwired.json"
FIXTURE_PROC = REPO / "tests" / "collect" / "fixtures" / "host" / "proc"
GRAFANA_DURATIONS = ("$__rate_interval", "$__interval", "$__range")
LABEL_VALUES = re.compile(r"label_values\((.+),\s*\w+\)\s*")
VARIABLE = re.compile(r"\$\{?\w+\}?")


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def expressions(board: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in panels(board) for t in p.get("targets", [])]
    exprs += [a["expr"] for a in board["annotations"]["list"] if "expr" in a]  # Prometheus annotations
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            found = LABEL_VALUES.fullmatch(variable["query"]["query"])
            assert found is not None, variable["name"]
            exprs.append(found.group(1))
    return exprs


def substitute(expr: str) -> str:
    """What Grafana sends: its duration variables become durations, the others label values."""
    for name in GRAFANA_DURATIONS:
        expr = expr.replace(name, "5m")
    return VARIABLE.sub(".*", expr)


def _metas(value: object, depth: int = 0) -> Iterator[MetricMeta]:
    if isinstance(value, MetricMeta):
        yield value
    elif depth < 3 and isinstance(value, tuple | list | set | frozenset):
        for item in value:
            yield from _metas(item, depth + 1)
    elif depth < 3 and isinstance(value, dict):
        for item in value.values():
            yield from _metas(item, depth + 1)


def declared_families() -> set[MetricMeta]:
    metas: set[MetricMeta] = set()
    for info in pkgutil.walk_packages(agent.__path__, "agent."):
        if info.name.endswith("__main__"):
            continue  # running it is running the CLI
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            metas.update(_metas(value))
    collector = HostCollector(
        HostConfig(procfs=str(FIXTURE_PROC), sysfs="/nonexistent", rootfs="/"),
        lambda _: FsUsage(1.0, 1.0, 1.0, 1.0, 1.0),
    )
    try:
        collector.collect()
        metas.update(collector.metrics())
    finally:
        collector.close()
    return metas


def recorded_by_rule_packs() -> set[str]:
    names: set[str] = set()
    for path in sorted((REPO / "agent" / "packs").glob("*.yaml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names.update(rule["record"] for rule in group["rules"] if "record" in rule)
    return names


@pytest.fixture(scope="module")
def exported() -> set[str]:
    names = recorded_by_rule_packs()
    for meta in declared_families():
        names.add(meta.name)
        if meta.type is MetricType.HISTOGRAM:
            names.update(f"{meta.name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
    return names


def parse(expr: str) -> promql_parser.Expr:
    """tripwired's parser when it evaluates the construct, promql-parser's syntax check otherwise."""
    try:
        return parse_expr(expr)
    except PromQLError:
        return promql_parser.parse(expr)


def test_the_dashboard_is_json_with_a_datasource_variable() -> None:
    board = dashboard()
    variables = {v["name"]: v for v in board["templating"]["list"]}

    assert ("datasource", "prometheus") == (variables["datasource"]["type"], variables["datasource"]["query"])
    assert "tripwired" == board["title"]
    assert isinstance(board["schemaVersion"], int)


def test_every_panel_and_query_uses_the_datasource_variable() -> None:
    board = dashboard()
    sources = [p["datasource"] for p in panels(board) if p["type"] != "row"]
    sources += [t["datasource"] for p in panels(board) for t in p.get("targets", [])]
    sources += [v["datasource"] for v in board["templating"]["list"] if v["type"] == "query"]

    assert [{"type": "prometheus", "uid": "${datasource}"}] == [
        dict(s) for s in {json.dumps(s): s for s in sources}.values()
    ]


def test_panel_ids_are_unique_and_panels_fit_the_grid() -> None:
    board = dashboard()
    ids = [p["id"] for p in panels(board)]

    assert len(ids) == len(set(ids))
    assert all(p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in panels(board))


def test_the_dashboard_covers_what_issue_8_asks_for() -> None:
    text = " ".join(expressions(dashboard()))

    for needed in (
        "node_cpu_seconds_total",
        "node_memory_MemAvailable_bytes",
        "node_disk_io_time_seconds_total",
        "kafka_topic_partition_current_offset",
        "kafka_consumergroup_lag_sum",
        "kafka_consumergroup_lag_seconds",
        "warehouse_filesystem_avail_bytes",
        "deriv(",
        "warehouse_path_oldest_file_timestamp_seconds",
        "warehouse:retention_seconds",
        "ALERTS{",
        "tripwired_collector_up",
        "tripwired_outbox_pending",
    ):
        assert needed in text


@pytest.mark.parametrize("expr", expressions(dashboard()))
def test_every_expression_parses_and_reads_only_exported_metrics(expr: str, exported: set[str]) -> None:
    names = metric_names(parse(substitute(expr)))

    assert names is not None, "every selector needs a metric name"
    assert set() == names - exported


def test_the_exported_names_include_every_collectors_families(exported: set[str]) -> None:
    assert {
        "tripwired_collector_up",
        "kafka_consumergroup_lag_seconds",
        "warehouse_path_files",
        "ALERTS",
        "node_vmstat_pgmajfault",
        "tripwired_notification_latency_seconds_bucket",
    } <= exported


def test_the_dashboard_file_is_in_the_repository() -> None:
    assert Path(DASHBOARD).is_file()
