"""What every evaluation step needs to know besides the expression: store, lookback, query time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from agent.promql.semantics import DEFAULT_SEMANTICS, Semantics
from agent.store import Queryable


@dataclass(frozen=True, slots=True)
class EvalContext:
    """The fixed parameters of one query; `query_ms` is what `start()` resolves to, and `end()` in an instant query."""

    store: Queryable
    lookback_ms: int
    query_ms: int
    default_step_ms: int
    semantics: Semantics = DEFAULT_SEMANTICS
    end_ms: int | None = None  # a range query's end (`query_ms` is its start); None in an instant query
    step_ms: int = 0  # a range query's step; 0 in an instant query

    def modifier_ms(self, at: int | str | None, t: int) -> int:
        """The time an `@` modifier names: start() and end() the query's, a number itself; `t` without one."""
        if at is None:
            return t
        if at == "start":
            return self.query_ms
        if at == "end":
            return self.query_ms if self.end_ms is None else self.end_ms
        return int(at)


def duration_ms(delta: timedelta | None) -> int:
    """A parser duration (possibly negative, possibly absent) in integer milliseconds."""
    if delta is None:
        return 0
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000
