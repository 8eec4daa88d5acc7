"""③ PromQL evaluation of promql-parser ASTs over the local store, as Prometheus 3 or 2.42 means it."""

from agent.promql.compiler import parse_expr
from agent.promql.engine import Engine
from agent.promql.errors import EvalError, PromQLError
from agent.promql.semantics import DEFAULT_SEMANTICS, PromQLCompat, Semantics, parse_compat, semantics_of
from agent.promql.support import max_range_ms, metric_names, unsupported
from agent.promql.values import Matrix, RangeSeries, Value, Vector, VectorSample

__all__ = [
    "DEFAULT_SEMANTICS",
    "Engine",
    "EvalError",
    "Matrix",
    "PromQLCompat",
    "PromQLError",
    "RangeSeries",
    "Semantics",
    "Value",
    "Vector",
    "VectorSample",
    "max_range_ms",
    "metric_names",
    "parse_compat",
    "parse_expr",
    "semantics_of",
    "unsupported",
]
