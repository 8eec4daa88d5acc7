"""The rule manager's state in the JSON shapes of Prometheus' /api/v1/rules and /api/v1/alerts.

It lives in runtime, which may see both the ruler and the web layer; the web layer itself
only serves what it is handed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from agent.gocompat.strconv import format_float
from agent.model import Alert, AlertState
from agent.ruler.group import Group
from agent.ruler.manager import RuleManager
from agent.ruler.rules import AlertingRule, Rule


def rfc3339(seconds: float | None) -> str:
    """Prometheus' time format; the zero time when never."""
    if seconds is None:
        return "0001-01-01T00:00:00Z"
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alert_value(value: float) -> str:
    """Alert values as Prometheus' API writes them: strconv.FormatFloat(v, 'e', -1, 64)."""
    return format_float(value, "e")


def alert_json(alert: Alert) -> dict[str, Any]:
    """One alert as Prometheus' /api/v1/alerts writes it."""
    return {
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "state": alert.state.value,
        "activeAt": rfc3339(alert.active_at),
        "value": alert_value(alert.value),
    }


def alerts_json(manager: RuleManager) -> dict[str, Any]:
    """The data of /api/v1/alerts: every pending and firing alert."""
    return {"alerts": [alert_json(a) for a in manager.active_alerts()]}


def _rule_json(rule: Rule) -> dict[str, Any]:
    health = rule.health
    common: dict[str, Any] = {
        "name": rule.name,
        "query": rule.spec.expr,
        "labels": dict(rule.spec.labels),
        "health": health.health,
        "lastError": health.last_error,
        "evaluationTime": health.evaluation_seconds,
        "lastEvaluation": rfc3339(None if health.last_evaluation_ms is None else health.last_evaluation_ms / 1000),
    }
    if not health.last_error:
        del common["lastError"]  # omitted when empty, as Prometheus' JSON does
    if not isinstance(rule, AlertingRule):
        if not rule.spec.labels:
            del common["labels"]
        return {**common, "type": "recording"}
    alerts = rule.alerts()
    states = {a.state for a in alerts}
    state = next((s for s in (AlertState.FIRING, AlertState.PENDING) if s in states), AlertState.INACTIVE)
    return {
        **common,
        "state": state.value,
        "duration": rule.spec.hold_ms / 1000,
        "keepFiringFor": rule.spec.keep_firing_for_ms / 1000,
        "annotations": dict(rule.spec.annotations),
        "alerts": [alert_json(a) for a in alerts],
        "type": "alerting",
    }


def _group_json(group: Group) -> dict[str, Any]:
    last = None if group.last_evaluation_ms is None else group.last_evaluation_ms / 1000
    return {
        "name": group.name,
        "file": group.file,
        "interval": group.interval_ms / 1000,
        "limit": group.spec.limit,
        "rules": [_rule_json(rule) for rule in group.rules],
        "evaluationTime": group.last_duration_seconds,
        "lastEvaluation": rfc3339(last),
    }


def rules_json(manager: RuleManager) -> dict[str, Any]:
    """The data of /api/v1/rules: every group with its rules."""
    return {"groups": [_group_json(g) for g in manager.groups()]}
