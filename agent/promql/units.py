"""The unit of an expression's values, read from the metric names it selects (Prometheus' naming rules).

Prometheus names carry their base unit as a suffix (`_bytes`, `_seconds`, `_ratio`), so a page can
show `disk_free_bytes / disk_size_bytes` as a percentage and `rate(x_bytes_total[5m])` as bytes per
second without asking anyone. The rules: a selector's unit comes from its name; rates make it per
second (of seconds, a ratio); `a / b` of one unit is a ratio; `time() - x_seconds` stays seconds; comparisons, `and`,
`or` and `unless` keep their left side's unit; aggregations and most functions keep their
argument's. Anything else is unitless, and is shown as Prometheus' `humanize` shows a number.
"""

from __future__ import annotations

import enum

import promql_parser


class Unit(enum.Enum):
    """What a value measures, for choosing how to show it."""

    NONE = ""
    BYTES = "bytes"
    SECONDS = "seconds"
    RATIO = "ratio"  # 0..1, shown as a percentage
    PERCENT = "percent"  # 0..100
    TIMESTAMP = "timestamp"  # Unix seconds
    BYTES_PER_SECOND = "bytes/s"
    PER_SECOND = "/s"


_SUFFIXES = (
    ("_bytes", Unit.BYTES),
    ("_bytes_total", Unit.BYTES),
    ("_seconds", Unit.SECONDS),
    ("_seconds_total", Unit.SECONDS),
    ("_timestamp_seconds", Unit.TIMESTAMP),
    ("_time_seconds", Unit.TIMESTAMP),
    ("_ratio", Unit.RATIO),
    ("_percent", Unit.PERCENT),
)
_RATES = frozenset({"rate", "irate", "deriv"})
_KEEPS_UNIT = frozenset(
    {
        "abs",
        "ceil",
        "clamp",
        "clamp_max",
        "clamp_min",
        "delta",
        "floor",
        "idelta",
        "increase",
        "label_join",
        "label_replace",
        "last_over_time",
        "first_over_time",
        "info",
        "max_over_time",
        "min_over_time",
        "avg_over_time",
        "sum_over_time",
        "quantile_over_time",
        "round",
        "sort",
        "sort_desc",
        "predict_linear",
        "holt_winters",
        "double_exponential_smoothing",
        "histogram_quantile",
    }
)
# Functions whose values are Unix times in seconds.
_TIMESTAMPS = frozenset(
    {
        "time",
        "timestamp",
        "ts_of_first_over_time",
        "ts_of_last_over_time",
        "ts_of_min_over_time",
        "ts_of_max_over_time",
        "start",
        "end",
    }
)
_KEEPING_AGGREGATIONS = frozenset({"sum", "avg", "min", "max", "topk", "bottomk", "quantile"})
COMPARISONS = frozenset({"==", "!=", ">", "<", ">=", "<="})  # operators whose result keeps the left side


def unit_of_name(name: str) -> Unit:
    """The unit a metric name's suffix declares (the longest matching suffix wins)."""
    found = [(len(suffix), unit) for suffix, unit in _SUFFIXES if name.endswith(suffix)]
    return max(found, key=lambda item: item[0])[1] if found else Unit.NONE


def unit_of(expr: promql_parser.Expr) -> Unit:
    """The unit of the values `expr` returns, by the rules in this module's docstring."""
    if isinstance(expr, promql_parser.VectorSelector):
        return unit_of_name(expr.name or "")
    if isinstance(expr, promql_parser.MatrixSelector):
        return unit_of(expr.vector_selector)
    if isinstance(expr, promql_parser.ParenExpr | promql_parser.UnaryExpr | promql_parser.SubqueryExpr):
        return unit_of(expr.expr)
    if isinstance(expr, promql_parser.AggregateExpr):
        return unit_of(expr.expr) if str(expr.op) in _KEEPING_AGGREGATIONS else Unit.NONE
    if isinstance(expr, promql_parser.Call):
        return _call_unit(expr)
    if isinstance(expr, promql_parser.BinaryExpr):
        return _binary_unit(expr)
    return Unit.NONE


def _call_unit(call: promql_parser.Call) -> Unit:
    name = call.func.name
    if name in _TIMESTAMPS:
        return Unit.TIMESTAMP
    vector_args = [a for a in call.args if not isinstance(a, promql_parser.NumberLiteral | promql_parser.StringLiteral)]
    inner = unit_of(vector_args[-1]) if vector_args else Unit.NONE
    if name in _RATES:
        # Seconds per second is a share of time (CPU busy): a ratio.
        return {Unit.BYTES: Unit.BYTES_PER_SECOND, Unit.SECONDS: Unit.RATIO, Unit.NONE: Unit.PER_SECOND}.get(
            inner, Unit.NONE
        )
    return inner if name in _KEEPS_UNIT else Unit.NONE


def _binary_unit(expr: promql_parser.BinaryExpr) -> Unit:
    op = str(expr.op)
    left, right = unit_of(expr.lhs), unit_of(expr.rhs)
    if op in COMPARISONS:
        return Unit.NONE if expr.modifier is not None and expr.modifier.return_bool else left
    if op in ("and", "or", "unless"):
        return left
    if op == "-" and left is Unit.TIMESTAMP and right is Unit.TIMESTAMP:
        return Unit.SECONDS  # time() - x_timestamp_seconds: an age
    if op in ("+", "-"):
        return left if left is right or right is Unit.NONE else (right if left is Unit.NONE else Unit.NONE)
    if op == "/":
        if left is right and left is not Unit.NONE:
            return Unit.RATIO
        return left if right is Unit.NONE and _is_number(expr.rhs) else Unit.NONE
    if op == "*":
        if _is_number(expr.rhs) and left is not Unit.NONE:
            return Unit.PERCENT if left is Unit.RATIO and _number(expr.rhs) == 100 else left
        if _is_number(expr.lhs) and right is not Unit.NONE:
            return Unit.PERCENT if right is Unit.RATIO and _number(expr.lhs) == 100 else right
    return Unit.NONE


def _is_number(expr: promql_parser.Expr) -> bool:
    while isinstance(expr, promql_parser.ParenExpr):
        expr = expr.expr
    return isinstance(expr, promql_parser.NumberLiteral)


def _number(expr: promql_parser.Expr) -> float:
    while isinstance(expr, promql_parser.ParenExpr):
        expr = expr.expr
    return float(expr.val) if isinstance(expr, promql_parser.NumberLiteral) else float("nan")
