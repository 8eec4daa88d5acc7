"""The PromQL engine: instant and range queries over the local store, with compiled expressions cached."""

from __future__ import annotations

from collections.abc import Generator

import promql_parser

from agent.model import Labels
from agent.promql.compiler import compile_expr
from agent.promql.context import EvalContext
from agent.promql.errors import EvalError, PromQLError
from agent.promql.nodes import MatrixNode, Node, ScalarNode, StringNode, VectorNode
from agent.promql.semantics import DEFAULT_SEMANTICS, Semantics
from agent.promql.values import Matrix, RangeSeries, Value, full_labels, to_public_matrix, to_public_vector
from agent.store import Queryable

# Rule sets are a few thousand expressions at most; past this the cache starts over.
CACHE_LIMIT = 10_000
DEFAULT_SUBQUERY_STEP_MS = 60_000


class Engine:
    """Evaluates parsed expressions at a timestamp with the semantics of Prometheus 3 or 2.42."""

    def __init__(
        self,
        store: Queryable,
        *,
        lookback_ms: int = 300_000,
        default_step_ms: int = DEFAULT_SUBQUERY_STEP_MS,
        semantics: Semantics = DEFAULT_SEMANTICS,
    ) -> None:
        self.store = store
        self.semantics = semantics
        self.lookback_ms = lookback_ms
        self.default_step_ms = default_step_ms
        # Keyed by id(); the expression is kept alive with its node so the id cannot be reused.
        self._compiled: dict[int, tuple[promql_parser.Expr, Node]] = {}

    def compile(self, expr: promql_parser.Expr) -> Node:
        """The compiled form of `expr` (PromQLError if it is not supported)."""
        cached = self._compiled.get(id(expr))
        if cached is not None and cached[0] is expr:
            return cached[1]
        node = compile_expr(expr, self.semantics)
        if len(self._compiled) >= CACHE_LIMIT:
            self._compiled.clear()
        self._compiled[id(expr)] = (expr, node)
        return node

    def instant(self, expr: promql_parser.Expr, t_ms: int) -> Value:
        """Evaluate `expr` at `t_ms`; `@ start()` and `@ end()` both mean `t_ms`, as in an instant query."""
        node = self.compile(expr)
        ctx = EvalContext(self.store, self.lookback_ms, t_ms, self.default_step_ms, self.semantics)
        try:
            return _public(node, ctx, t_ms)
        except (ArithmeticError, ValueError) as exc:
            raise EvalError(f"evaluation failed: {exc}") from exc

    def range_query(self, expr: promql_parser.Expr, start_ms: int, end_ms: int, step_ms: int) -> Matrix:
        """Evaluate at start, start + step, … up to end, as Prometheus' range query: series sorted by labels.

        Only instant-vector and scalar expressions make a range query (a scalar gives one series
        without labels); anything else is a PromQLError in Prometheus' words.
        """
        steps = self.range_steps(expr, start_ms, end_ms, step_ms)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                result: Matrix = done.value
                return result

    def range_steps(
        self, expr: promql_parser.Expr, start_ms: int, end_ms: int, step_ms: int
    ) -> Generator[None, None, Matrix]:
        """`range_query`, pausing (yielding) after each evaluation step so an event loop can serve meanwhile."""
        node = self.compile(expr)
        if not isinstance(node, VectorNode | ScalarNode):
            kind = "range vector" if isinstance(node, MatrixNode) else "string"
            raise PromQLError(f'invalid expression type "{kind}" for range query, must be Scalar or instant Vector')
        points: dict[Labels, tuple[list[int], list[float]]] = {}
        ctx = EvalContext(
            self.store, self.lookback_ms, start_ms, self.default_step_ms, self.semantics, end_ms, step_ms=step_ms
        )
        for t in range(start_ms, end_ms + 1, step_ms):
            for labels, value in _step(node, ctx, t):
                times, values = points.setdefault(labels, ([], []))
                times.append(t)
                values.append(value)
            yield
        return [RangeSeries(labels, times, values) for labels, (times, values) in sorted(points.items())]


def _step(node: VectorNode | ScalarNode, ctx: EvalContext, t: int) -> list[tuple[Labels, float]]:
    """One step of a range query: the labelled values at `t`."""
    try:
        if isinstance(node, ScalarNode):
            return [((), node.scalar(ctx, t))]
        return [(full_labels(n, labels), v) for n, labels, v in node.vector(ctx, t)]
    except (ArithmeticError, ValueError) as exc:
        raise EvalError(f"evaluation failed: {exc}") from exc


def _public(node: Node, ctx: EvalContext, t_ms: int) -> Value:
    if isinstance(node, VectorNode):
        return to_public_vector(node.vector(ctx, t_ms))
    if isinstance(node, MatrixNode):
        return to_public_matrix(node.matrix(ctx, t_ms))
    if isinstance(node, ScalarNode):
        return node.scalar(ctx, t_ms)
    if isinstance(node, StringNode):
        return node.text
    raise EvalError(f"unexpected expression type {node.kind}")
