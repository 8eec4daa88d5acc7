"""The Prometheus HTTP API's parameters, parsed as Prometheus 2.42's web/api/v1 parses them.

Times are Unix seconds (a float, rounded to the millisecond) or RFC 3339; durations are float
seconds or Prometheus' duration notation (`5m`, `1h30m`). Times are kept as integer nanoseconds,
as Go's time.Time, so `end - start` and the points limit divide exactly as Prometheus does;
the engine reads milliseconds (`to_ms`), as Prometheus' timestamp.FromTime.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

import promql_parser

from agent.gocompat.duration import parse_duration
from agent.model import go_quote
from agent.promql import PromQLError, Semantics, parse_expr
from agent.promql.selectors import Selector
from agent.web.server import Request

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
MAX_POINTS = 11_000
TOO_MANY_POINTS = (
    "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
)
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)")


class ParamError(ValueError):
    """A parameter Prometheus would refuse with `bad_data` (HTTP 400); the message is Prometheus'."""


def _round_half_away(x: float) -> int:
    """Go's math.Round."""
    return math.floor(abs(x) + 0.5) * (1 if x >= 0 else -1)


def parse_time_ns(text: str) -> int:
    """A timestamp in nanoseconds: float Unix seconds (rounded to the millisecond) or RFC 3339."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None and math.isfinite(seconds):
        whole = math.trunc(seconds)
        return whole * NS_PER_S + _round_half_away((seconds - whole) * 1000) * NS_PER_MS
    match = _RFC3339.fullmatch(text)
    if match is None or seconds is not None:
        raise ParamError(f"cannot parse {go_quote(text)} to a valid timestamp")
    base, fraction, zone = match.groups()
    try:
        parsed = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone))
    except ValueError:
        raise ParamError(f"cannot parse {go_quote(text)} to a valid timestamp") from None
    return int(parsed.timestamp()) * NS_PER_S + int((fraction or "0").ljust(9, "0"))


def parse_duration_ns(text: str) -> int:
    """A duration in nanoseconds: float seconds or Prometheus' notation."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        ns = seconds * NS_PER_S
        if not math.isfinite(ns) or ns > INT64_MAX or ns < INT64_MIN:
            if math.isnan(ns):
                return 0
            raise ParamError(f"cannot parse {go_quote(text)} to a valid duration. It overflows int64")
        return int(ns)
    try:
        return parse_duration(text) * NS_PER_MS
    except ValueError:
        raise ParamError(f"cannot parse {go_quote(text)} to a valid duration") from None


def to_ms(ns: int) -> int:
    """Milliseconds of a nanosecond time, as Prometheus' timestamp.FromTime (floor)."""
    return ns // NS_PER_MS


def to_seconds(ms: int) -> int | float:
    """A millisecond timestamp as the JSON number Prometheus writes (an integer when whole)."""
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def _invalid(name: str, exc: ParamError) -> ParamError:
    return ParamError(f"invalid parameter {go_quote(name)}: {exc}")


def time_param(request: Request, name: str, default_ns: int | None) -> int | None:
    """`name` as a time, the default when absent or empty."""
    text = request.arg(name)
    if not text:
        return default_ns
    try:
        return parse_time_ns(text)
    except ParamError as exc:  # Prometheus' parseTimeParam says it twice
        raise _invalid(name, ParamError(f"Invalid time value for '{name}': {exc}")) from None


def check_timeout(request: Request) -> None:
    """`timeout`, when given, must be a duration (the agent's queries are bounded by the server instead)."""
    text = request.arg("timeout")
    if text:
        try:
            parse_duration_ns(text)
        except ParamError as exc:
            raise _invalid("timeout", exc) from None


@dataclass(frozen=True)
class RangeParams:
    """start, end and step of a range query, checked as Prometheus checks them."""

    start_ms: int
    end_ms: int
    step_ms: int


def range_params(request: Request) -> RangeParams:
    """start, end (both required) and step; end before start, step ≤ 0 and > 11,000 points refused."""
    try:
        start = parse_time_ns(request.arg("start"))
    except ParamError as exc:
        raise _invalid("start", exc) from None
    try:
        end = parse_time_ns(request.arg("end"))
    except ParamError as exc:
        raise _invalid("end", exc) from None
    if end < start:
        raise _invalid("end", ParamError("end timestamp must not be before start time"))
    try:
        step = parse_duration_ns(request.arg("step"))
    except ParamError as exc:
        raise _invalid("step", exc) from None
    if step <= 0:
        raise _invalid(
            "step", ParamError("zero or negative query resolution step widths are not accepted. Try a positive integer")
        )
    if (end - start) // step > MAX_POINTS:
        raise ParamError(TOO_MANY_POINTS)
    check_timeout(request)
    return RangeParams(to_ms(start), to_ms(end), step // NS_PER_MS)


def match_params(request: Request, semantics: Semantics) -> list[Selector]:
    """Every `match[]` as a selector; a selector that matches the empty label set is refused."""
    selectors = []
    for text in request.query.get("match[]", []):
        try:
            node = parse_expr(text, semantics)
        except PromQLError as exc:
            raise ParamError(str(exc)) from None
        if not isinstance(node, promql_parser.VectorSelector) or node.offset is not None or node.at is not None:
            raise ParamError(f"1:1: parse error: unexpected expression in series selector: {text}")
        selectors.append(Selector(node, semantics))
    return selectors
