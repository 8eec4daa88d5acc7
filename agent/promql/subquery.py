"""Subqueries: an inner expression evaluated at aligned steps, giving a range vector."""

from __future__ import annotations

import promql_parser

from agent.promql.context import EvalContext, duration_ms
from agent.promql.nodes import MatrixNode, Node, ScalarNode, VectorNode
from agent.promql.selectors import at_ms
from agent.promql.values import InstantSample, RangeVector


class SubqueryNode(MatrixNode):
    """`expr[range:step] offset d @ t`, with Prometheus' step alignment to multiples of the step."""

    def __init__(self, node: promql_parser.SubqueryExpr, inner: Node) -> None:
        self.inner = inner
        self.range_ms = duration_ms(node.range)
        self.step_ms = duration_ms(node.step)
        self.offset_ms = duration_ms(node.offset)
        self.at = at_ms(node.at)

    def window_end(self, ctx: EvalContext, t: int) -> int:
        """The subquery's end in ms: `t`, the `@` time, or the range query's start or end, minus the offset."""
        return ctx.modifier_ms(self.at, t) - self.offset_ms

    def steps(self, ctx: EvalContext, t: int) -> range:
        """The evaluation times: multiples of the step in (end - range, end] ([end - range, end] in 2.x)."""
        step = self.step_ms or ctx.default_step_ms
        end = self.window_end(ctx, t)
        start = end - self.range_ms
        first = (start // step + 1) * step if ctx.semantics.left_open else -(-start // step) * step
        return range(first, end + 1, step)

    def matrix(self, ctx: EvalContext, t: int) -> RangeVector:
        """The inner expression evaluated at each step of the range, gathered per series."""
        series: dict[tuple[str | None, tuple[tuple[str, str], ...]], tuple[list[int], list[float]]] = {}
        for step in self.steps(ctx, t):
            for name, labels, value in self._at_step(ctx, step):
                times, values = series.setdefault((name, labels), ([], []))
                times.append(step)
                values.append(value)
        return [(name, labels, times, values) for (name, labels), (times, values) in series.items()]

    def _at_step(self, ctx: EvalContext, step: int) -> list[InstantSample]:
        inner = self.inner
        if isinstance(inner, VectorNode):
            return inner.vector(ctx, step)
        if isinstance(inner, ScalarNode):
            return [(None, (), inner.scalar(ctx, step))]
        return []
