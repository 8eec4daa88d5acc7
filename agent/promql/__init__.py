"""③ PromQL evaluation of promql-parser ASTs over the local store, with Prometheus 2.42's semantics."""

from agent.promql.compiler import parse_expr
from agent.promql.engine import Engine
from agent.promql.errors import EvalError, PromQLError
from agent.promql.support import max_range_ms, metric_names, unsupported
from agent.promql.values import Matrix, RangeSeries, Value, Vector, VectorSample

__all__ = [
    "Engine",
    "EvalError",
    "Matrix",
    "PromQLError",
    "RangeSeries",
    "Value",
    "Vector",
    "VectorSample",
    "max_range_ms",
    "metric_names",
    "parse_expr",
    "unsupported",
]
