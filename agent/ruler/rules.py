"""The two kinds of rule at run time: what each does with its expression's result at one timestamp."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, cast

import promql_parser

from agent.model import Alert, AlertState, Labels, Sample, labels_of
from agent.promql import EvalError, PromQLError, RangeSeries, Value, VectorSample, parse_expr
from agent.ruler.alerting import ActiveAlert, AlertMemo, AlertRule, evaluate_alerts, generator_url, to_alert
from agent.ruler.expansion import TemplateExpander
from agent.ruler.rulefile import RuleSpec
from agent.store import WriteResult

NOT_A_VECTOR = "rule result is not a vector or scalar"
DUPLICATE_SERIES = "vector contains metrics with the same labelset after applying rule labels"


class QueryEngine(Protocol):
    """Evaluates a parsed expression at one instant (agent.promql.Engine)."""

    def instant(self, expr: promql_parser.Expr, t_ms: int) -> Value:
        """Evaluate `expr` at `t_ms` (milliseconds since the epoch)."""


class SampleSink(Protocol):
    """Where rule results go (the Store): one write per source, staleness per source."""

    def write(self, source: str, samples: Iterable[Sample], t_ms: int) -> WriteResult:
        """Write one source's samples at `t_ms`; series it wrote before and not now go stale."""


class RuleError(Exception):
    """A rule whose evaluation failed; the message is what /api/v1/rules shows as lastError."""


@dataclass(slots=True)
class RuleHealth:
    """How the last evaluation of a rule went (for /api/v1/rules)."""

    health: str = "unknown"  # "ok", "err" or "unknown", as Prometheus reports it
    last_error: str = ""
    last_evaluation_ms: int | None = None
    evaluation_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class ExternalInfo:
    """The external labels and URL, for templates and for the alerts handed to the notifier."""

    labels: Labels = ()
    url: str = ""


def as_vector(value: Value) -> Sequence[VectorSample]:
    """A query result as an instant vector; a scalar becomes one sample without labels."""
    if isinstance(value, float | int):
        return [VectorSample((), float(value))]
    if isinstance(value, str):
        raise RuleError(NOT_A_VECTOR)
    if set(map(type, value)) <= {VectorSample}:  # what the engine gives: one C loop over the samples
        return cast(list[VectorSample], value)
    if any(isinstance(item, RangeSeries) for item in value):
        raise RuleError(NOT_A_VECTOR)
    return [item for item in value if isinstance(item, VectorSample)]


class RecordingRule:
    """A recording rule and its health."""

    def __init__(self, spec: RuleSpec, limit: int) -> None:
        self.spec = spec
        self.name = spec.name
        self.expr = parse_expr(spec.expr)
        self.limit = limit
        self.health = RuleHealth()

    def evaluate(self, engine: QueryEngine, ts_ms: int) -> list[Sample]:
        """The series this rule records at `ts_ms`; RuleError when it cannot."""
        vector = _query(engine, self.expr, ts_ms)
        extra = dict(self.spec.labels)
        samples: dict[Labels, Sample] = {}
        for point in vector:
            merged = {k: v for k, v in point.labels if k != "__name__"}
            merged.update(extra)
            labels = labels_of(merged)
            if labels in samples:
                raise RuleError(DUPLICATE_SERIES)
            samples[labels] = Sample(self.name, labels, point.value)
        if self.limit > 0 and len(samples) > self.limit:
            raise RuleError(f"exceeded limit of {self.limit} with {len(samples)} series")
        return list(samples.values())


class AlertingRule:
    """An alerting rule, its active alerts and its health."""

    def __init__(self, spec: RuleSpec, *, group_key: str, limit: int, interval_ms: int, external: ExternalInfo) -> None:
        self.spec = spec
        self.name = spec.name
        self.expr = parse_expr(spec.expr)
        self.rule_id = f"{group_key};{spec.name}"
        self.params = AlertRule(
            spec.name, spec.hold_ms, spec.keep_firing_for_ms, spec.labels, spec.annotations, limit, interval_ms
        )
        self.expander = TemplateExpander(self.rule_id, dict(external.labels), external.url)
        self.url = generator_url(external.url, spec.expr)
        self.external = external
        self.active: Mapping[Labels, ActiveAlert] = {}
        self.memo = AlertMemo()
        self.health = RuleHealth()

    def evaluate(self, engine: QueryEngine, ts_ms: int) -> tuple[list[Sample], list[Alert]]:
        """Advance the alerts; returns the ALERTS samples and the alerts to send."""
        vector = _query(engine, self.expr, ts_ms)
        result = evaluate_alerts(self.active, vector, ts_ms, self.params, self.expander, memo=self.memo)
        self.active = result.active
        if result.error is not None:
            raise RuleError(result.error)
        alerts = [
            to_alert(a, rule_id=self.rule_id, url=self.url, external_labels=self.external.labels)
            for a in result.to_send
        ]
        return list(result.samples), alerts

    def alerts(self) -> list[Alert]:
        """Pending and firing alerts (not the resolved ones kept for re-sending)."""
        return [
            to_alert(a, rule_id=self.rule_id, url=self.url, external_labels=self.external.labels)
            for a in self.active.values()
            if a.state is not AlertState.INACTIVE
        ]


Rule = RecordingRule | AlertingRule


def _query(engine: QueryEngine, expr: promql_parser.Expr, ts_ms: int) -> Sequence[VectorSample]:
    try:
        return as_vector(engine.instant(expr, ts_ms))
    except (EvalError, PromQLError) as exc:
        raise RuleError(str(exc)) from exc
