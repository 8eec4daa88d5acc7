"""Prometheus-shaped JSON for /api/v1/query (and the encoders the other API endpoints share)."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from typing import Any

from agent.export.exposition import format_value
from agent.promql import Engine, EvalError, PromQLError, RangeSeries, VectorSample, parse_compat, parse_expr
from agent.web.server import Request, Response

JSON = "application/json"


def success(data: Any) -> Response:
    """A 200 answer in Prometheus' API envelope (`status: success`)."""
    return Response(200, json.dumps({"status": "success", "data": data}).encode(), JSON)


def error(status: int, error_type: str, message: str) -> Response:
    """An error answer in Prometheus' API envelope (`errorType`, `error`)."""
    body = {"status": "error", "errorType": error_type, "error": message}
    return Response(status, json.dumps(body).encode(), JSON)


def encode_result(value: Any, t: float) -> dict[str, Any]:
    """The `data` member of a query response, for every value type the engine returns.

    Values travel as strings, written as Go writes them (format_value, as on /metrics).
    """
    if isinstance(value, str):
        return {"resultType": "string", "result": [t, value]}
    if isinstance(value, float | int):
        return {"resultType": "scalar", "result": [t, format_value(float(value))]}
    if value and isinstance(value[0], RangeSeries):
        return {
            "resultType": "matrix",
            "result": [
                {
                    "metric": dict(s.labels),
                    "values": [[ts / 1000, format_value(v)] for ts, v in zip(s.times, s.values, strict=True)],
                }
                for s in value
            ],
        }
    return {
        "resultType": "vector",
        "result": [
            {"metric": dict(s.labels), "value": [t, format_value(s.value)]}
            for s in value
            if isinstance(s, VectorSample)
        ],
    }


def parse_time(text: str, default: float) -> float:
    """`time=` as Unix seconds (RFC 3339 is not accepted yet)."""
    if not text:
        return default
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"invalid time {text!r}")
    return value


def engine_for(engine: Engine, compat: str) -> Engine:
    """The daemon's engine, or one over the same store with `promql_compat` (`tripwired query --promql-compat`)."""
    if not compat:
        return engine
    semantics = dataclasses.replace(engine.semantics, compat=parse_compat(compat))
    if semantics == engine.semantics:
        return engine
    return Engine(engine.store, lookback_ms=engine.lookback_ms, semantics=semantics)


def query_handler(engine: Engine, now: Callable[[], float]) -> Callable[[Request], Any]:
    """The handler of /api/v1/query: an instant query at `time` (default now), with Prometheus' errors."""

    async def query(request: Request) -> Response:
        text = request.arg("query")
        if not text:
            return error(400, "bad_data", "missing parameter: query")
        try:
            t = parse_time(request.arg("time"), now())
        except ValueError:
            return error(400, "bad_data", f"invalid parameter 'time': {request.arg('time')!r}")
        try:
            chosen = engine_for(engine, request.arg("promql_compat"))
        except ValueError as exc:
            return error(400, "bad_data", str(exc))
        try:
            value = chosen.instant(parse_expr(text, chosen.semantics), int(t * 1000))
        except PromQLError as exc:
            return error(400, "bad_data", str(exc))
        except EvalError as exc:
            return error(422, "execution", str(exc))
        return success(encode_result(value, t))

    return query
