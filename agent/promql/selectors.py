"""Instant and range vector selectors: label matchers compiled once, series picked by metric name."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal

import promql_parser

from agent.gocompat.regex import Regex, RegexError, compile_anchored
from agent.model import Labels
from agent.promql.context import EvalContext, duration_ms
from agent.promql.errors import PromQLError
from agent.promql.nodes import MatrixNode, VectorNode
from agent.promql.range_functions import extend_points
from agent.promql.semantics import DEFAULT_SEMANTICS, Semantics
from agent.promql.syntax3 import matchers_of, modifier_of
from agent.promql.values import NAME, InstantVector, RangeVector
from agent.store import Queryable, SeriesView

Predicate = Callable[[str], bool]


def compile_regex(pattern: str, dot_all: bool = True) -> Regex:
    """A PromQL regex (RE2), anchored as Prometheus anchors it.

    Prometheus 3 compiles `^(?s:pattern)$`, so `.` matches a newline; 2.x did not (`dot_all=False`).
    """
    try:
        return compile_anchored(pattern, dot_all=dot_all)
    except RegexError as exc:
        raise PromQLError(f"invalid regular expression {pattern!r}: {exc}") from exc


def compile_matcher(matcher: promql_parser.Matcher, dot_all: bool = True) -> Predicate:
    """A predicate on one label value (\"\" when the series lacks the label)."""
    op, wanted = matcher.op, matcher.value
    if op == promql_parser.MatchOp.Equal:
        return wanted.__eq__
    if op == promql_parser.MatchOp.NotEqual:
        return wanted.__ne__
    matches = compile_regex(wanted, dot_all).matches
    if op == promql_parser.MatchOp.Re:
        return matches
    return lambda value: not matches(value)


class Selector:
    """Which series a selector reads; built once per selector of a compiled expression."""

    def __init__(self, node: promql_parser.VectorSelector, semantics: Semantics = DEFAULT_SEMANTICS) -> None:
        self.dot_all = semantics.regex_dot_all
        self.name: str | None = node.name
        self.name_predicates: list[Predicate] = []
        self.label_predicates: list[tuple[str, Predicate]] = []
        self.equal_labels: list[tuple[str, str]] = []
        self.other_labels: list[str] = []
        for matcher in matchers_of(node):
            self._add(matcher)

    def _add(self, matcher: promql_parser.Matcher) -> None:
        predicate = compile_matcher(matcher, self.dot_all)
        if matcher.name != NAME:
            self.label_predicates.append((matcher.name, predicate))
            if matcher.op == promql_parser.MatchOp.Equal:
                self.equal_labels.append((matcher.name, matcher.value))
            else:
                self.other_labels.append(matcher.name)
        elif matcher.op == promql_parser.MatchOp.Equal and self.name is None:
            self.name = matcher.value
        else:
            self.name_predicates.append(predicate)

    def candidates(self, store: Queryable) -> Iterable[SeriesView]:
        """Series of the right metric name(s), before label matchers."""
        if self.name is not None:
            family = store.family(self.name)
            if not self.name_predicates or all(p(self.name) for p in self.name_predicates):
                return family
            return ()
        names = [n for n in store.names() if all(p(n) for p in self.name_predicates)]
        return [series for name in names for series in store.family(name)]

    def series(self, store: Queryable) -> list[SeriesView]:
        """Every series the selector matches."""
        predicates = self.label_predicates
        if not predicates:
            return list(self.candidates(store))
        out = []
        for series in self.candidates(store):
            labels = dict(series.labels)
            if all(p(labels.get(name, "")) for name, p in predicates):
                out.append(series)
        return out


def at_ms(at: promql_parser.AtModifier | None) -> int | str | None:
    """An `@` modifier as milliseconds, "start" or "end" for start()/end(), or None when absent."""
    if at is None:
        return None
    if at.type != promql_parser.AtModifierType.At:
        return "start" if at.type == promql_parser.AtModifierType.Start else "end"
    # str() gives "@ <seconds>.<millis>"; reading `at.at` instead panics for times before 1970.
    return int(Decimal(str(at).removeprefix("@ ")) * 1000)


class VectorSelectorNode(VectorNode):
    """`name{matchers} offset d @ t`: the newest point of each series within the lookback."""

    def __init__(self, node: promql_parser.VectorSelector, semantics: Semantics = DEFAULT_SEMANTICS) -> None:
        self.selector = Selector(node, semantics)
        self.offset_ms = duration_ms(node.offset)
        self.at = at_ms(node.at)
        self.smoothed = modifier_of(node) == "smoothed"

    def ref_time(self, ctx: EvalContext, t: int) -> int:
        """The time the selector reads at: `@` (or eval time) minus offset."""
        return ctx.modifier_ms(self.at, t) - self.offset_ms

    def vector(self, ctx: EvalContext, t: int) -> InstantVector:
        """The newest point of each matching series within the lookback before `t`."""
        return [(name, labels, value) for name, labels, _, value in self._points(ctx, t)]

    def timestamps(self, ctx: EvalContext, t: int) -> InstantVector:
        """Like `vector` but each value is the point's own timestamp in seconds (for `timestamp()`)."""
        return [(name, labels, t_ms / 1000) for name, labels, t_ms, _ in self._points(ctx, t)]

    def _points(self, ctx: EvalContext, t: int) -> Iterator[tuple[str, Labels, int, float]]:
        ref = self.ref_time(ctx, t)
        if self.smoothed:
            yield from self._smoothed(ctx, ref, t)
            return
        # Prometheus 2.x keeps a point exactly `lookback` old, 3 does not (nor does Series.at).
        lookback = ctx.lookback_ms + (0 if ctx.semantics.left_open else 1)
        for series in self.selector.series(ctx.store):
            point = series.at(ref, lookback)
            if point is not None:
                yield series.name, series.labels, point[0], point[1]

    def _smoothed(self, ctx: EvalContext, ref: int, t: int) -> Iterator[tuple[str, Labels, int, float]]:
        """`selector smoothed`: the value at `ref` interpolated between the points around it (within
        the lookback on either side), the last one carried forward when none follows yet."""
        for series in self.selector.series(ctx.store):
            times, values = series.window(ref - ctx.lookback_ms, ref + ctx.lookback_ms)
            after = bisect_left(times, ref)
            if after < len(times) and times[after] == ref:
                yield series.name, series.labels, t, values[after]
            elif 0 < after < len(times):
                t1, t2, v1, v2 = times[after - 1], times[after], values[after - 1], values[after]
                yield series.name, series.labels, t, v1 + (v2 - v1) * (ref - t1) / (t2 - t1)
            elif after > 0:
                yield series.name, series.labels, t, values[after - 1]


class MatrixSelectorNode(MatrixNode):
    """`selector[range]`: the points of each series in (ref - range, ref] (Prometheus 2.x: [ref - range, ref])."""

    def __init__(self, node: promql_parser.MatrixSelector, semantics: Semantics = DEFAULT_SEMANTICS) -> None:
        self.inner = VectorSelectorNode(node.vector_selector, semantics)
        self.selector_ast = node.vector_selector
        self.range_ms = duration_ms(node.range)
        self.offset_ms = self.inner.offset_ms
        self.modifier = modifier_of(node.vector_selector)

    def window_end(self, ctx: EvalContext, t: int) -> int:
        """The range's end in milliseconds: `t` or the `@` time, minus the offset."""
        return self.inner.ref_time(ctx, t)

    def matrix(self, ctx: EvalContext, t: int) -> RangeVector:
        """Each matching series' points in the range; series with none are left out.

        Anchored and smoothed, the values at the range's start and end are added at those times.
        """
        if self.modifier is None:
            return self.samples(ctx, t)
        end = self.inner.ref_time(ctx, t)
        out: RangeVector = []
        for name, labels, times, values in self.samples(ctx, t):
            extended = extend_points(times, values, end - self.range_ms, end, self.modifier == "smoothed")
            if extended[0]:
                out.append((name, labels, *extended))
        return out

    def samples(self, ctx: EvalContext, t: int) -> RangeVector:
        """The stored points a function of the range reads: those in the range, and anchored or
        smoothed also a lookback before it (smoothed: and after it)."""
        end = self.inner.ref_time(ctx, t)
        # Series.window is open at its start, as Prometheus 3's ranges; one millisecond earlier makes it 2.x's.
        start = end - self.range_ms - (0 if ctx.semantics.left_open else 1)
        if self.modifier is not None:
            start -= ctx.lookback_ms
            end += ctx.lookback_ms if self.modifier == "smoothed" else 0
        out: RangeVector = []
        for series in self.inner.selector.series(ctx.store):
            times, values = series.window(start, end)
            if times:
                out.append((series.name, series.labels, times, values))
        return out
