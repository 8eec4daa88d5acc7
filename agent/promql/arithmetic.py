"""Element-wise binary operators with Go's float semantics (no Python exceptions, IEEE results)."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable

from agent.promql.gomath import go_pow
from agent.promql.gotrig import go_atan2

ElemOp = Callable[[float, float], tuple[float, bool]]


def go_div(a: float, b: float) -> float:
    """IEEE division, as Go does it: x/0 is ±Inf, 0/0 is NaN."""
    if b == 0.0:
        if a == 0.0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def go_mod(a: float, b: float) -> float:
    """Go's math.Mod: the result has the sign of `a`; NaN for b == 0 or infinite a."""
    if b == 0.0 or math.isinf(a) or math.isnan(a) or math.isnan(b):
        return math.nan
    if math.isinf(b):
        return a
    return math.fmod(a, b)


def go_sub(a: float, b: float) -> float:
    """Subtraction, named like its siblings so the operator table reads uniformly."""
    return a - b


ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": go_sub,
    "*": lambda a, b: a * b,
    "/": go_div,
    "%": go_mod,
    "^": go_pow,
    "atan2": go_atan2,
}
# Arithmetic operators that keep the metric name in Prometheus 2 (its shouldDropMetricName forgot atan2).
KEEP_NAME_IN_2 = frozenset({"atan2"})

# The operator module's functions: a filter of a rule's result calls one per sample, without a Python frame.
COMPARISON: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
}

SET_OPERATORS = frozenset({"and", "or", "unless"})


def element_op(op: str) -> ElemOp:
    """(value, keep) for one pair of operands, like Prometheus' vectorElemBinop."""
    if op in ARITHMETIC:
        arith = ARITHMETIC[op]
        return lambda a, b: (arith(a, b), True)
    compare = COMPARISON[op]
    return lambda a, b: (a, compare(a, b))


def scalar_op(op: str) -> Callable[[float, float], float]:
    """A scalar-scalar operator (comparisons between scalars always carry `bool`)."""
    if op in ARITHMETIC:
        return ARITHMETIC[op]
    compare = COMPARISON[op]
    return lambda a, b: 1.0 if compare(a, b) else 0.0
