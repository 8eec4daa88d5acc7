"""Per-value math functions with Go's answers where Python's math module would raise."""

from __future__ import annotations

import calendar
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from agent.promql.arithmetic import go_div
from agent.promql.gomath import go_log, go_log2, go_log10
from agent.promql.gotrig import (
    go_acos,
    go_acosh,
    go_asin,
    go_asinh,
    go_atan,
    go_atanh,
    go_cos,
    go_cosh,
    go_sin,
    go_sinh,
    go_tan,
    go_tanh,
)

ValueFn = Callable[[float, Sequence[float]], float]


def _guard(fn: Callable[[float], float]) -> Callable[[float], float]:
    """Wrap a math function so domain errors give NaN and overflow gives +Inf, as in Go."""

    def wrapped(v: float) -> float:
        try:
            return fn(v)
        except OverflowError:
            return math.inf
        except ValueError:
            return math.nan

    return wrapped


def _integral(fn: Callable[[float], int]) -> Callable[[float], float]:
    """ceil/floor returning floats, leaving NaN and infinities as they are."""
    return lambda v: v if math.isnan(v) or math.isinf(v) else float(fn(v))


def sgn(v: float) -> float:
    """The sign of `v`: -1, 1, or `v` itself for zero and NaN."""
    if v < 0:
        return -1.0
    if v > 0:
        return 1.0
    return v


def go_round(v: float, to_nearest: float) -> float:
    """Round half up to a multiple of `to_nearest` (Prometheus' funcRound)."""
    inverse = go_div(1.0, to_nearest)
    floored = _integral(math.floor)(v * inverse + 0.5)
    return go_div(floored, inverse)


def go_min(a: float, b: float) -> float:
    """Go's math.Min: -Inf wins, then NaN; -0 is below +0."""
    if -math.inf in (a, b):
        return -math.inf
    if math.isnan(a) or math.isnan(b):
        return math.nan
    if a == 0 and a == b:
        return a if math.copysign(1.0, a) < 0 else b
    return a if a < b else b


def go_max(a: float, b: float) -> float:
    """Go's math.Max: +Inf wins, then NaN; +0 is above -0."""
    if math.inf in (a, b):
        return math.inf
    if math.isnan(a) or math.isnan(b):
        return math.nan
    if a == 0 and a == b:
        return b if math.copysign(1.0, a) < 0 else a
    return a if a > b else b


_sqrt = _guard(math.sqrt)
_exp = _guard(math.exp)
_ceil = _integral(math.ceil)
_floor = _integral(math.floor)

VALUE_FUNCTIONS: dict[str, ValueFn] = {
    "abs": lambda v, args: abs(v),
    "ceil": lambda v, args: _ceil(v),
    "floor": lambda v, args: _floor(v),
    "exp": lambda v, args: _exp(v),
    "sqrt": lambda v, args: _sqrt(v),
    "ln": lambda v, args: go_log(v),
    "log2": lambda v, args: go_log2(v),
    "log10": lambda v, args: go_log10(v),
    "sgn": lambda v, args: sgn(v),
    "round": lambda v, args: go_round(v, args[0] if args else 1.0),
    "clamp": lambda v, args: go_max(args[0], go_min(args[1], v)),
    "clamp_min": lambda v, args: go_max(args[0], v),
    "clamp_max": lambda v, args: go_min(args[0], v),
    "sin": lambda v, args: go_sin(v),
    "cos": lambda v, args: go_cos(v),
    "tan": lambda v, args: go_tan(v),
    "asin": lambda v, args: go_asin(v),
    "acos": lambda v, args: go_acos(v),
    "atan": lambda v, args: go_atan(v),
    "sinh": lambda v, args: go_sinh(v),
    "cosh": lambda v, args: go_cosh(v),
    "tanh": lambda v, args: go_tanh(v),
    "asinh": lambda v, args: go_asinh(v),
    "acosh": lambda v, args: go_acosh(v),
    "atanh": lambda v, args: go_atanh(v),
    "deg": lambda v, args: v * (180 / math.pi),
    "rad": lambda v, args: v * (math.pi / 180),
}

# Prometheus 2.42 multiplied and divided in turn, which rounds differently in the last bit.
VALUE_FUNCTIONS_2: dict[str, ValueFn] = {
    **VALUE_FUNCTIONS,
    "deg": lambda v, args: v * 180 / math.pi,
    "rad": lambda v, args: v * math.pi / 180,
}


def _date(v: float) -> datetime | None:
    """The UTC time of a Unix timestamp truncated to seconds, None outside what datetime can hold."""
    if math.isnan(v) or math.isinf(v):
        return None
    try:
        return datetime.fromtimestamp(int(v), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _date_fn(part: Callable[[datetime], int]) -> Callable[[float], float]:
    def fn(v: float) -> float:
        moment = _date(v)
        return math.nan if moment is None else float(part(moment))

    return fn


DATE_FUNCTIONS: dict[str, Callable[[float], float]] = {
    "day_of_month": _date_fn(lambda d: d.day),
    "day_of_week": _date_fn(lambda d: d.isoweekday() % 7),
    "day_of_year": _date_fn(lambda d: d.timetuple().tm_yday),
    "days_in_month": _date_fn(lambda d: calendar.monthrange(d.year, d.month)[1]),
    "hour": _date_fn(lambda d: d.hour),
    "minute": _date_fn(lambda d: d.minute),
    "month": _date_fn(lambda d: d.month),
    "year": _date_fn(lambda d: d.year),
}
