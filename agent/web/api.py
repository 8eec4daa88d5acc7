"""Prometheus-shaped JSON for the /api/v1 endpoints: the envelope, the error shape and query results."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from agent.gocompat.strconv import format_float
from agent.promql import Engine, RangeSeries, VectorSample, parse_compat
from agent.web.params import to_seconds
from agent.web.server import Response

JSON = "application/json"
# Prometheus' errorType values and the HTTP status each answers with (web/api/v1/api.go).
ERROR_STATUS = {"bad_data": 400, "execution": 422, "canceled": 503, "timeout": 503, "internal": 500, "not_found": 404}


def success(data: Any, warnings: list[str] | None = None) -> Response:
    """`{"status":"success","data":…}`, with `warnings` when there are any."""
    body: dict[str, Any] = {"status": "success", "data": data}
    if warnings:
        body["warnings"] = warnings
    return Response(200, json.dumps(body).encode(), JSON)


def error(status: int, error_type: str, message: str) -> Response:
    """`{"status":"error","errorType":…,"error":…}` with its HTTP status."""
    body = {"status": "error", "errorType": error_type, "error": message}
    return Response(status, json.dumps(body).encode(), JSON)


def api_error(error_type: str, message: str) -> Response:
    """An error with the HTTP status Prometheus gives its type."""
    return error(ERROR_STATUS[error_type], error_type, message)


def fixed(value: float) -> str:
    """strconv.FormatFloat(v, 'f', -1, 64): shortest digits, never an exponent."""
    return format_float(value, "f")


def sample_value(value: float) -> str:
    """A sample value as Prometheus' API writes it: fixed notation, an exponent below 1e-6 and from 1e21."""
    magnitude = abs(value)
    if magnitude != 0 and math.isfinite(value) and (magnitude < 1e-6 or magnitude >= 1e21):
        return format_float(value, "e")
    return fixed(value)


def encode_result(value: Any, t_ms: int) -> dict[str, Any]:
    """The `data` member of a query response, for every value type the engine returns."""
    t = to_seconds(t_ms)
    if isinstance(value, str):
        return {"resultType": "string", "result": [t, value]}
    if isinstance(value, float | int):
        return {"resultType": "scalar", "result": [t, fixed(float(value))]}
    if value and isinstance(value[0], RangeSeries):
        return encode_matrix(value)
    return {
        "resultType": "vector",
        "result": [
            {"metric": dict(s.labels), "value": [t, sample_value(s.value)]}
            for s in value
            if isinstance(s, VectorSample)
        ],
    }


def encode_matrix(series: list[RangeSeries]) -> dict[str, Any]:
    """A matrix result: each series' points as `[seconds, "value"]`."""
    return {
        "resultType": "matrix",
        "result": [
            {
                "metric": dict(s.labels),
                "values": [[to_seconds(ts), sample_value(v)] for ts, v in zip(s.times, s.values, strict=True)],
            }
            for s in series
        ],
    }


def engine_for(engine: Engine, compat: str) -> Engine:
    """The daemon's engine, or one over the same store with `promql_compat` (`tripwired query --promql-compat`)."""
    if not compat:
        return engine
    semantics = dataclasses.replace(engine.semantics, compat=parse_compat(compat))
    if semantics == engine.semantics:
        return engine
    return Engine(engine.store, lookback_ms=engine.lookback_ms, semantics=semantics)
