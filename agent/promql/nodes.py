"""Compiled expression nodes: the AST turned once into objects that evaluate at a timestamp."""

from __future__ import annotations

from abc import ABC, abstractmethod

from agent.promql.context import EvalContext
from agent.promql.errors import EvalError
from agent.promql.values import InstantVector, RangeVector, without_type_and_unit

Internal = InstantVector | RangeVector | float | str


class Node(ABC):
    """Any compiled expression; `kind` is its static PromQL type."""

    kind: str = ""

    @abstractmethod
    def value(self, ctx: EvalContext, t: int) -> Internal:
        """Evaluate at `t` (milliseconds)."""


class ScalarNode(Node):
    """An expression of scalar type."""

    kind = "scalar"

    @abstractmethod
    def scalar(self, ctx: EvalContext, t: int) -> float:
        """The expression's value at `t` (milliseconds)."""

    def value(self, ctx: EvalContext, t: int) -> Internal:
        """The scalar value, as Node.value."""
        return self.scalar(ctx, t)


class VectorNode(Node):
    """An expression of instant-vector type."""

    kind = "vector"

    @abstractmethod
    def vector(self, ctx: EvalContext, t: int) -> InstantVector:
        """The expression's samples at `t` (milliseconds)."""

    def value(self, ctx: EvalContext, t: int) -> Internal:
        """The instant vector, as Node.value."""
        return self.vector(ctx, t)


class MatrixNode(Node):
    """An expression of range-vector type: a range selector or a subquery."""

    kind = "matrix"
    range_ms: int = 0
    offset_ms: int = 0

    @abstractmethod
    def matrix(self, ctx: EvalContext, t: int) -> RangeVector:
        """Each series' points in the range, evaluated at `t` (milliseconds)."""

    @abstractmethod
    def window_end(self, ctx: EvalContext, t: int) -> int:
        """The newest time the range covers when evaluated at `t` (`@` or `t`, minus offset)."""

    def value(self, ctx: EvalContext, t: int) -> Internal:
        """The range vector, as Node.value."""
        return self.matrix(ctx, t)


class StringNode(Node):
    """A string literal (the only string-typed expression PromQL has)."""

    kind = "string"

    def __init__(self, text: str) -> None:
        self.text = text

    def value(self, ctx: EvalContext, t: int) -> Internal:
        """The literal's text, whatever `t` is."""
        return self.text


class NumberNode(ScalarNode):
    """A number literal."""

    def __init__(self, number: float) -> None:
        self.number = number

    def scalar(self, ctx: EvalContext, t: int) -> float:
        """The literal's value, whatever `t` is."""
        return self.number


def check_unique(samples: InstantVector) -> InstantVector:
    """Refuse a result with two equal label sets, as Prometheus does after a name is dropped."""
    seen = {(name, labels) for name, labels, _ in samples}
    if len(seen) != len(samples):
        raise EvalError("vector cannot contain metrics with the same labelset")
    return samples


def names_dropped(samples: InstantVector, ctx: EvalContext) -> InstantVector:
    """The result of an operation that dropped its samples' metric names, as Prometheus makes it.

    Prometheus 3 drops `__type__` and `__unit__` with the name; then a result with two equal
    label sets is refused.
    """
    # A sorted label set whose first key sorts after `__unit__` has neither: most are left alone.
    if ctx.semantics.metadata_labels and any(labels and labels[0][0] <= "__unit__" for _, labels, _ in samples):
        samples = [(name, without_type_and_unit(labels), value) for name, labels, value in samples]
    return check_unique(samples)
