"""Why an alerting rule fires or does not: the status page's explain view, and values shown with units.

The view evaluates the rule's expression and its sub-expressions (the sides of each binary
operation, three levels deep) at one instant with the ruler's own engine, and says in one line
what holds the alert back: no series, a threshold not crossed (with the closest value), a `for`
not yet served, a silence or an inhibiting alert.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import promql_parser

from agent.model import AlertState, labels_text
from agent.promql import EvalError, PromQLError, RangeSeries, VectorSample
from agent.promql.syntax3 import show
from agent.promql.units import COMPARISONS, Unit, unit_of
from agent.ruler.rules import AlertingRule
from agent.ruler.template_functions import FUNCTIONS
from agent.web.pages import format_duration
from agent.web.status import AlertView, ExplainView, PartView

MAX_DEPTH = 3  # sub-expressions shown below the rule's expression
MAX_SAMPLES = 10  # values shown per sub-expression, highest first
_SUFFIX = {Unit.BYTES: "B", Unit.BYTES_PER_SECOND: "B/s", Unit.PERCENT: "%", Unit.PER_SECOND: "/s"}
Evaluate = Callable[[promql_parser.Expr, int], object]


def show_value(value: float, unit: Unit = Unit.NONE) -> str:
    """A value as Prometheus' humanize functions write it, with the unit its metric names declare."""
    if not math.isfinite(value):
        return str(FUNCTIONS["humanize"].call(value))  # NaN, +Inf, -Inf: no unit to speak of
    if unit is Unit.SECONDS:
        return str(FUNCTIONS["humanizeDuration"].call(value))
    if unit is Unit.RATIO:
        return str(FUNCTIONS["humanizePercentage"].call(value))
    if unit is Unit.TIMESTAMP:
        return str(FUNCTIONS["humanizeTimestamp"].call(value))
    binary = unit in (Unit.BYTES, Unit.BYTES_PER_SECOND)
    text = str(FUNCTIONS["humanize1024" if binary else "humanize"].call(value))
    return text + _SUFFIX.get(unit, "")


def explain_rule(
    rule: AlertingRule,
    *,
    group: str,
    file: str,
    evaluate: Evaluate,
    now: float,
    alerts: Sequence[AlertView],
) -> ExplainView:
    """The explain view of one alerting rule at `now` (Unix seconds)."""
    now_ms = int(now * 1000)
    parts = tuple(_part(expr, depth, evaluate, now_ms) for expr, depth in sub_expressions(rule.expr))
    verdict, reasons = _verdict(rule, alerts, evaluate, now)
    return ExplainView(
        name=rule.name,
        group=group,
        file=file,
        expr=show(rule.expr),
        for_text=format_duration(rule.spec.hold_ms / 1000) if rule.spec.hold_ms else "",
        state=_rule_state(alerts),
        verdict=verdict,
        reasons=tuple(reasons),
        parts=parts,
        alerts=tuple(alerts),
        health=rule.health.health,
        last_error=rule.health.last_error,
        last_evaluation=None if rule.health.last_evaluation_ms is None else rule.health.last_evaluation_ms / 1000,
    )


def sub_expressions(expr: promql_parser.Expr, depth: int = 0) -> list[tuple[promql_parser.Expr, int]]:
    """`expr`, then the sides of its binary operations (not bare numbers), depth first, to MAX_DEPTH."""
    found = [(expr, depth)]
    inner = _unwrap(expr)
    if isinstance(inner, promql_parser.BinaryExpr) and depth < MAX_DEPTH:
        for side in (inner.lhs, inner.rhs):
            if not isinstance(_unwrap(side), promql_parser.NumberLiteral):
                found.extend(sub_expressions(side, depth + 1))
    return found


def _part(expr: promql_parser.Expr, depth: int, evaluate: Evaluate, now_ms: int) -> PartView:
    unit = unit_of(expr)
    text = show(expr)
    try:
        value = evaluate(expr, now_ms)
    except (PromQLError, EvalError) as exc:
        return PartView(text, depth, unit.value, 0, (), str(exc))
    if isinstance(value, float | int):
        return PartView(text, depth, unit.value, 1, (("scalar", show_value(float(value), unit)),))
    if isinstance(value, str):
        return PartView(text, depth, unit.value, 1, (("string", value),))
    series = list(value) if isinstance(value, list) else []
    vector = sorted((s for s in series if isinstance(s, VectorSample)), key=lambda s: _desc(s.value))
    if vector:
        shown = tuple((labels_text(s.labels), show_value(s.value, unit)) for s in vector[:MAX_SAMPLES])
        return PartView(text, depth, unit.value, len(vector), shown)
    ranges = [s for s in series if isinstance(s, RangeSeries)]
    shown = tuple((labels_text(s.labels), f"{len(s.values)} points") for s in ranges[:MAX_SAMPLES])
    return PartView(text, depth, unit.value, len(ranges), shown)


def _verdict(rule: AlertingRule, alerts: Sequence[AlertView], evaluate: Evaluate, now: float) -> tuple[str, list[str]]:
    """One line for the rule's state, then one per alert that is held back or muted."""
    if rule.health.health == "err":
        return f"The last evaluation failed: {rule.health.last_error}", []
    firing = [a for a in alerts if a.state == AlertState.FIRING.value]
    pending = [a for a in alerts if a.state == AlertState.PENDING.value]
    reasons = [_muted_reason(a) for a in firing if a.silenced_by or a.inhibited_by]
    hold = rule.spec.hold_ms / 1000
    reasons += [
        f"{labels_text(a.labels)}: pending for {format_duration(now - a.active_at)} of {format_duration(hold)}"
        for a in pending
    ]
    if firing:
        muted = sum(1 for a in firing if a.silenced_by or a.inhibited_by)
        tail = f", {muted} of them silenced or inhibited" if muted else ""
        return f"Firing: {len(firing)} alert{'s' if len(firing) != 1 else ''}{tail}.", reasons
    if pending:
        return (
            f"Pending: the condition holds, and the alert fires once it has held for {format_duration(hold)}.",
            reasons,
        )
    return f"Not firing: {why_no_series(rule.expr, evaluate, int(now * 1000))}.", reasons


def _muted_reason(alert: AlertView) -> str:
    if alert.silenced_by:
        return f"{labels_text(alert.labels)}: silenced by {', '.join(alert.silenced_by)}"
    return f"{labels_text(alert.labels)}: inhibited by {', '.join(alert.inhibited_by)}"


def why_no_series(expr: promql_parser.Expr, evaluate: Evaluate, now_ms: int) -> str:
    """Why `expr` returns nothing now, in words, descending into the side that holds it back."""
    inner = _unwrap(expr)
    if isinstance(inner, promql_parser.BinaryExpr):
        return _why_binary(inner, evaluate, now_ms)
    if isinstance(inner, promql_parser.VectorSelector):
        return f"there is no recent sample of `{show(inner)}`"
    return f"`{show(inner)}` returns no series"


def _why_binary(expr: promql_parser.BinaryExpr, evaluate: Evaluate, now_ms: int) -> str:
    op, lhs, rhs = str(expr.op), expr.lhs, expr.rhs
    left = _vector(evaluate, lhs, now_ms)
    threshold = _unwrap(rhs)
    if op in COMPARISONS and isinstance(threshold, promql_parser.NumberLiteral):
        if not left:
            return why_no_series(lhs, evaluate, now_ms)
        closest = _closest(left, op, float(threshold.val))
        unit = unit_of(lhs)
        return (
            f"none of the {len(left)} series of `{show(lhs)}` is {op} {show_value(float(threshold.val), unit)}"
            f" (closest: {show_value(closest.value, unit)} for {labels_text(closest.labels)})"
        )
    if op == "or":
        return f"{why_no_series(lhs, evaluate, now_ms)}, and {why_no_series(rhs, evaluate, now_ms)}"
    if not left and not isinstance(_unwrap(lhs), promql_parser.NumberLiteral):
        return why_no_series(lhs, evaluate, now_ms)
    if op == "unless":
        return f"every series of `{show(lhs)}` has a match in `{show(rhs)}`"
    right = _vector(evaluate, rhs, now_ms)
    if not right and not isinstance(threshold, promql_parser.NumberLiteral):
        return why_no_series(rhs, evaluate, now_ms)
    if op == "and":
        return f"no series of `{show(lhs)}` has a match in `{show(rhs)}`"
    if op in COMPARISONS:
        return f"no series of `{show(lhs)}` is {op} its match in `{show(rhs)}`"
    return f"the series of `{show(lhs)}` and `{show(rhs)}` have no label set in common"


def _vector(evaluate: Evaluate, expr: promql_parser.Expr, now_ms: int) -> list[VectorSample]:
    try:
        value = evaluate(expr, now_ms)
    except (PromQLError, EvalError):
        return []
    return [s for s in value if isinstance(s, VectorSample)] if isinstance(value, list) else []


def _closest(samples: Sequence[VectorSample], op: str, threshold: float) -> VectorSample:
    """The sample nearest to crossing: the highest for > and >=, the lowest for < and <=."""
    if op in (">", ">="):
        return max(samples, key=lambda s: _finite(s.value, -math.inf))
    if op in ("<", "<="):
        return min(samples, key=lambda s: _finite(s.value, math.inf))
    return min(samples, key=lambda s: _finite(abs(s.value - threshold), math.inf))


def _finite(value: float, instead: float) -> float:
    return value if not math.isnan(value) else instead


def _desc(value: float) -> float:
    return -value if not math.isnan(value) else math.inf


def _unwrap(expr: promql_parser.Expr) -> promql_parser.Expr:
    while isinstance(expr, promql_parser.ParenExpr):
        expr = expr.expr
    return expr


def _rule_state(alerts: Sequence[AlertView]) -> str:
    states = {a.state for a in alerts}
    return next((s for s in ("firing", "pending") if s in states), "inactive")
