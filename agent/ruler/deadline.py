"""When an alerting rule's result changes by the passing of time alone, with no new sample.

Most tripwires turn true when a collection brings a new value, and the manager evaluates
them right after it. Two common ones turn true with no new value at all: a pending alert
whose `for` runs out, and a staleness rule, `time() - X > c` ("no message on the topic for 5
minutes", X a newest-record timestamp). Waiting for the group's next tick adds up to one
evaluation interval to their detection; this module says when they will change, so the
manager evaluates the group at that moment instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import promql_parser

from agent.model import AlertState
from agent.promql import EvalError, PromQLError
from agent.ruler.rules import AlertingRule, QueryEngine, as_vector

# A little past the crossing, so that float rounding cannot leave `time() - X` equal to `c` then.
_MARGIN_MS = 2


def time_threshold(expr: promql_parser.Expr) -> tuple[promql_parser.Expr, float] | None:
    """(X, c) of an expression `time() - X > c` (or `>=`, parentheses allowed); None for any other shape."""
    if not isinstance(expr, promql_parser.BinaryExpr) or str(expr.op) not in (">", ">="):
        return None
    if (expr.modifier is not None and expr.modifier.return_bool) or not isinstance(
        expr.rhs, promql_parser.NumberLiteral
    ):
        return None
    lhs = _unparen(expr.lhs)
    if not isinstance(lhs, promql_parser.BinaryExpr) or str(lhs.op) != "-":
        return None
    clock = _unparen(lhs.lhs)
    if not isinstance(clock, promql_parser.Call) or clock.func.name != "time":
        return None
    return lhs.rhs, float(expr.rhs.val)


def next_change_ms(rule: AlertingRule, engine: QueryEngine, ts_ms: int) -> int | None:
    """The earliest time after `ts_ms` at which the rule's alerts change if no sample arrives; None if never."""
    moments = [*_holds_ending(rule, ts_ms), *_thresholds_crossed(rule, engine, ts_ms)]
    later = [moment for moment in moments if moment > ts_ms]
    return min(later, default=None)


def _holds_ending(rule: AlertingRule, ts_ms: int) -> Iterable[int]:
    hold = rule.params.hold_ms
    if hold <= 0:
        return []
    return [a.active_at_ms + hold for a in rule.active.values() if a.state is AlertState.PENDING]


def _thresholds_crossed(rule: AlertingRule, engine: QueryEngine, ts_ms: int) -> Iterable[int]:
    shape = time_threshold(rule.expr)
    if shape is None:
        return []
    subtrahend, threshold = shape
    try:
        values = [sample.value for sample in as_vector(engine.instant(subtrahend, ts_ms))]
    except (EvalError, PromQLError):
        return []  # the rule's own evaluation reports the error
    return [math.floor((value + threshold) * 1000) + _MARGIN_MS for value in values if math.isfinite(value)]


def _unparen(expr: promql_parser.Expr) -> promql_parser.Expr:
    while isinstance(expr, promql_parser.ParenExpr):
        expr = expr.expr
    return expr
