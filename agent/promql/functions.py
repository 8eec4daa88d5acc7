"""Function-call nodes: range functions, per-value math, dates, sorting, absent, scalar/vector/time."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence

from agent.model import Labels
from agent.promql.context import EvalContext
from agent.promql.histogram import histogram_fraction, histogram_quantile, histogram_quantiles
from agent.promql.math_functions import ValueFn, go_max, go_min
from agent.promql.nodes import MatrixNode, ScalarNode, VectorNode, names_dropped
from agent.promql.range_functions import KEEPS_NAME, RANGE_FUNCTIONS, RangeFn, Window
from agent.promql.selectors import MatrixSelectorNode, VectorSelectorNode
from agent.promql.values import InstantSample, InstantVector, full_labels, without_type_and_unit


class RangeCallNode(VectorNode):
    """A function of one range vector (and maybe one scalar): one output per series with points."""

    def __init__(
        self, name: str, matrix: MatrixNode, scalar: ScalarNode | None, table: Mapping[str, RangeFn] = RANGE_FUNCTIONS
    ) -> None:
        self.fn = table[name]
        self.keep_name = name in KEEPS_NAME
        self.matrix_node = matrix
        self.scalar_node = scalar
        # An anchored or smoothed selector gives its function the points around the range too.
        self.points = matrix.samples if isinstance(matrix, MatrixSelectorNode) else matrix.matrix

    def vector(self, ctx: EvalContext, t: int) -> InstantVector:
        """Apply the function to each series' points in the range ending at the window end."""
        node = self.matrix_node
        end = node.window_end(ctx, t)
        arg = self.scalar_node.scalar(ctx, t) if self.scalar_node is not None else 0.0
        window = Window(end - node.range_ms, end, node.range_ms, t, arg)
        fn, keep, out = self.fn, self.keep_name, []
        for name, labels, times, values in self.points(ctx, t):
            result = fn(window, times, values)
            if result is not None:
                out.append((name if keep else None, labels, result))
        return out if keep else names_dropped(out, ctx)


class ValueMapNode(VectorNode):
    """A per-sample function of the value (abs, round, clamp, ...); the name is dropped."""

    def __init__(self, name: str, fn: ValueFn, inner: VectorNode, scalars: Sequence[ScalarNode]) -> None:
        self.name = name
        self.fn = fn
        self.inner = inner
        self.scalars = list(scalars)

    def vector(self, ctx: EvalContext, t: int) -> InstantVector:
        """Apply the function to each sample's value; clamp with max below min gives nothing."""
        args = [s.scalar(ctx, t) for s in self.scalars]
        if self.name == "clamp" and args[1] < args[0]:
            return []
        fn = self.fn
        return names_dropped([(None, labels, fn(value, args)) for _, labels, value in self.inner.vector(ctx, t)], ctx)


class DateNode(VectorNode):
    """day_of_week() and friends: of each sample's value, or of the evaluation time without argument."""

    def __init__(self, fn: Callable[[float], float], inner: VectorNode | None) -> None:
        self.fn = fn
        self.inner = inner

    def vector(self, ctx: EvalContext, t: int) -> InstantVector:
        """Apply the date function to each value (seconds since the epoch), or to `t` without argument."""
        if self.inner is None:
            return [(None, (), self.fn(t / 1000))]
        samples = self.inner.vector(ctx, t)
        return names_dropped([(None, labels, self.fn(value)) for _, labels, value in samples], ctx)


class TimestampNode(VectorNode):
    """timestamp(v): a selector's own point times, otherwise the evaluation time."""

    def __init__(self, inner: VectorNode) -> None:
        self.inner = inner

    def vector(self, ctx: EvalContext, t: int) -> InstantVector:
        """Each sample's timestamp in seconds: the stored point's time for a selector, else `t`."""
        if isinstance(self.inner, VectorSelectorNode):
            samples = self.inner.timestamps(ctx, t)
            return names_dropped([(None, labels, value) for _, labels, value in samples], ctx)
        return names_dropped([(None, labels, t / 1000) for _, labels, _ in self.inner.vector(ctx, t)], ctx)


class SortNode(VectorNode):
    """sort / sort_desc by value, NaN last in both."""

    def __init__(self, inner: VectorNode, descending: bool) -> None:
        self.inner = inner
        self.descending = descending

    def vector(self, ctx: EvalContext, t: int) -> InstantVector:
        """The inner vector sorted by value, NaN last."""
        sign = -1.0 if self.descending else 1.0
        return sorted(self.inner.vector(ctx, t), key=lambda s: (math.isnan(s[2]), sign * s[2]))


class AbsentNode(VectorNode):
    """absent(v) / absent_over_time(m): 1 with the selector's equality labels when nothing is there."""

    def __init__(self, inner: VectorNode | MatrixNode, labels: Labels) -> None:
        self.inner = inner
        self.labels = labels

    def vector(self, ctx: EvalContext, t: int) -> InstantVector:
        """One sample with the selector's equality labels when the inner expression is empty, else nothing."""
        if self.inner.value(ctx, t):
            return []
        labels = without_type_and_unit(self.labels) if ctx.semantics.metadata_labels else self.labels
        return [(None, labels, 1.0)]


class HistogramQuantileNode(VectorNode):
    """histogram_quantile(φ, buckets)."""

    def __init__(self, q: ScalarNode, inner: VectorNode, *, skip_nan_bounds: bool = False) -> None:
        self.q = q
        self.inner = inner
        self.skip_nan_bounds = skip_nan_bounds

    def vector(self, ctx: EvalContext, t: int) -> InstantVector:
        """The φ-quantile of each histogram's buckets (`le` series) at `t`."""
        samples = self.inner.vector(ctx, t)
        q = self.q.scalar(ctx, t)
        return names_dropped(histogram_quantile(q, samples, skip_nan_bounds=self.skip_nan_bounds), ctx)


class HistogramQuantilesNode(VectorNode):
    """histogram_quantiles(buckets, label, φ...): several quantiles at once, `label` telling them apart."""

    def __init__(self, inner: VectorNode, label: str, qs: Sequence[ScalarNode]) -> None:
        self.inner = inner
        self.label = label
        self.qs = list(qs)

    def vector(self, ctx: EvalContext, t: int) -> InstantVector:
        """Each φ-quantile of each histogram's buckets at `t`, labelled `label="φ"`."""
        qs = [q.scalar(ctx, t) for q in self.qs]
        return names_dropped(histogram_quantiles(self.label, qs, self.inner.vector(ctx, t)), ctx)


class HistogramFractionNode(VectorNode):
    """histogram_fraction(lower, upper, buckets): the share of observations between two values.

    Prometheus 3 answers it from classic `le` buckets; 2.42 only from native histograms, which
    tripwired does not have (`classic=False`: nothing, as promtool 2.42 answers for float series).
    """

    def __init__(self, lower: ScalarNode, upper: ScalarNode, inner: VectorNode, *, classic: bool) -> None:
        self.lower, self.upper = lower, upper
        self.inner = inner
        self.classic = classic

    def vector(self, ctx: EvalContext, t: int) -> InstantVector:
        """The fraction for each histogram's buckets at `t` (none without classic support)."""
        samples = self.inner.vector(ctx, t)
        if not self.classic:
            return []
        lower, upper = self.lower.scalar(ctx, t), self.upper.scalar(ctx, t)
        return names_dropped(histogram_fraction(lower, upper, samples), ctx)


class NoDataNode(VectorNode):
    """A function of data tripwired does not store, so of nothing: an empty vector.

    histogram_count, histogram_sum and friends read native histograms (Prometheus skips float
    samples in them); start_timestamp reads start timestamps, which Prometheus only has with
    its use-start-timestamps feature (without it, promtool 3 answers nothing too).
    """

    def __init__(self, inner: VectorNode) -> None:
        self.inner = inner

    def vector(self, ctx: EvalContext, t: int) -> InstantVector:
        """Nothing, after evaluating the argument (so its errors are still raised)."""
        self.inner.vector(ctx, t)
        return []


class ScalarOfNode(ScalarNode):
    """scalar(v): the value of a one-element vector, NaN otherwise."""

    def __init__(self, inner: VectorNode) -> None:
        self.inner = inner

    def scalar(self, ctx: EvalContext, t: int) -> float:
        """The single sample's value, or NaN when the vector has none or more than one."""
        samples = self.inner.vector(ctx, t)
        return samples[0][2] if len(samples) == 1 else math.nan


class VectorOfNode(VectorNode):
    """vector(s): the scalar as a one-element vector without labels."""

    def __init__(self, inner: ScalarNode) -> None:
        self.inner = inner

    def vector(self, ctx: EvalContext, t: int) -> InstantVector:
        """The scalar as a one-sample vector without labels."""
        return [(None, (), self.inner.scalar(ctx, t))]


class TimeNode(ScalarNode):
    """time(): the evaluation time in seconds."""

    def scalar(self, ctx: EvalContext, t: int) -> float:
        """The evaluation time in seconds since the epoch."""
        return t / 1000


class QueryTimeNode(ScalarNode):
    """start(), end(), range() and step(): the query's own times in seconds (Prometheus 3, experimental).

    A rule's evaluation is an instant query: start and end are its time, range and step 0.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def scalar(self, ctx: EvalContext, t: int) -> float:
        """The query's start or end, its length, or its step (0 when start and end are one time)."""
        start = ctx.query_ms
        end = start if ctx.end_ms is None else ctx.end_ms
        if self.name == "start":
            return start / 1000
        if self.name == "end":
            return end / 1000
        if self.name == "range":
            return (end - start) / 1000
        return ctx.step_ms / 1000 if end != start else 0.0


class ScalarPairNode(ScalarNode):
    """min_of(a, b) and max_of(a, b) of two scalars, as Go's math.Min and Max (Prometheus 3, experimental)."""

    def __init__(self, name: str, lhs: ScalarNode, rhs: ScalarNode) -> None:
        self.fn = go_min if name == "min_of" else go_max
        self.lhs, self.rhs = lhs, rhs

    def scalar(self, ctx: EvalContext, t: int) -> float:
        """The smaller (larger) of both scalars at `t`."""
        return self.fn(self.lhs.scalar(ctx, t), self.rhs.scalar(ctx, t))


class NegateNode(VectorNode):
    """Unary minus on a vector: negated values, names dropped."""

    def __init__(self, inner: VectorNode) -> None:
        self.inner = inner

    def vector(self, ctx: EvalContext, t: int) -> InstantVector:
        """Each sample's value negated, the name dropped."""
        return names_dropped([(None, labels, -value) for _, labels, value in self.inner.vector(ctx, t)], ctx)


class NegateScalarNode(ScalarNode):
    """Unary minus on a scalar."""

    def __init__(self, inner: ScalarNode) -> None:
        self.inner = inner

    def scalar(self, ctx: EvalContext, t: int) -> float:
        """The scalar negated."""
        return -self.inner.scalar(ctx, t)


class SmoothingNode(VectorNode):
    """double_exponential_smoothing(m, sf, tf), 2.x's holt_winters: the smoothed last value of each series."""

    def __init__(self, matrix: MatrixNode, smoothing: ScalarNode, trend: ScalarNode) -> None:
        self.matrix_node = matrix
        self.smoothing = smoothing
        self.trend = trend

    def vector(self, ctx: EvalContext, t: int) -> InstantVector:
        """The smoothed last value of each series; raises ValueError when a factor is not in (0, 1)."""
        sf, tf = self.smoothing.scalar(ctx, t), self.trend.scalar(ctx, t)
        if not 0 < sf < 1:
            raise ValueError(f"invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:f}")
        if not 0 < tf < 1:
            raise ValueError(f"invalid trend factor. Expected: 0 < tf < 1, got: {tf:f}")
        out: InstantVector = []
        for _, labels, _, values in self.matrix_node.matrix(ctx, t):
            value = smoothed(values, sf, tf)
            if value is not None:  # fewer than two points
                out.append((None, labels, value))
        return names_dropped(out, ctx)


def smoothed(values: Sequence[float], sf: float, tf: float) -> float | None:
    """Prometheus' funcDoubleExponentialSmoothing on one series; None under two points."""
    if len(values) < 2:
        return None
    s0, s1, trend = 0.0, values[0], values[1] - values[0]
    for i in range(1, len(values)):
        x = sf * values[i]
        if i > 1:
            trend = tf * (s1 - s0) + (1 - tf) * trend
        y = (1 - sf) * (s1 + trend)
        s0, s1 = s1, x + y
    return s1


class SortByLabelNode(VectorNode):
    """sort_by_label(v, label...) and _desc: natural order of the labels, then of the whole label set."""

    def __init__(self, inner: VectorNode, names: Sequence[str], descending: bool) -> None:
        self.inner = inner
        self.names = list(names)
        self.descending = descending

    def vector(self, ctx: EvalContext, t: int) -> InstantVector:
        """The inner vector sorted by the given labels' values (natural order)."""
        return sorted(self.inner.vector(ctx, t), key=self._key, reverse=self.descending)

    def _key(self, sample: InstantSample) -> tuple[list[list[tuple[int, int, str]]], Labels]:
        everything = full_labels(sample[0], sample[1])
        values = dict(everything)
        return [natural_key(values.get(name, "")) for name in self.names], everything


DIGITS_OR_NOT = re.compile(r"\d+|\D+")


def natural_key(text: str) -> list[tuple[int, int, str]]:
    """A sort key for natsort's order: digit runs compare as integers, other runs as strings."""
    return [(0, int(chunk), "") if chunk.isdigit() else (1, 0, chunk) for chunk in DIGITS_OR_NOT.findall(text)]
