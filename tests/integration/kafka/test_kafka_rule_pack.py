"""The Kafka rule pack: real promtool accepts it and passes its tests; every alert is explained and tested."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.collect.kafka_metrics import CANARY_METRICS, KAFKA_METRICS
from agent.model import MetricType
from tests.conftest import REPO, require_binary

RULE_PACK = REPO / "agent" / "packs" / "kafka.yaml"
RULE_TESTS = sorted(REPO.glob("agent/packs/tests/kafka*.yaml"))


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = require_binary("promtool", "prometheus")  # fails, never skips, when missing
    return subprocess.run([promtool, *args], check=False, capture_output=True, text=True, timeout=120, cwd=REPO)


def _alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULE_PACK.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def _tested_alerts() -> set[str]:
    """Alert names some test expects to fire."""
    names = set()
    for path in RULE_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            names |= {t["alertname"] for t in test.get("alert_rule_test", []) if t.get("exp_alerts")}
    return names


def test_kafka_rule_pack_passes_promtool_check_rules() -> None:
    result = _promtool("check", "rules", str(RULE_PACK))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("tests_file", RULE_TESTS, ids=lambda p: p.name)
def test_kafka_rule_tests_pass_promtool_test_rules(tests_file: Path) -> None:
    result = _promtool("test", "rules", str(tests_file))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_kafka_alert_tells_on_call_what_and_where_to_look() -> None:
    missing = [a["alert"] for a in _alerts() if not {"summary", "description"} <= set(a.get("annotations", {}))]
    assert [] == missing


def test_every_kafka_alert_has_a_test_where_it_fires() -> None:
    assert {a["alert"] for a in _alerts()} == _tested_alerts()


def test_kafka_rules_use_only_metrics_the_collector_declares() -> None:
    declared = {meta.name for meta in KAFKA_METRICS + CANARY_METRICS}
    declared |= {f"{m.name}_bucket" for m in CANARY_METRICS if m.type is MetricType.HISTOGRAM}
    used = {name for a in _alerts() for name in re.findall(r"\bkafka_[a-z_]+\b", a["expr"])}
    assert used <= declared, used - declared
