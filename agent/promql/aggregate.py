"""Aggregation operators: sum avg min max count group stddev stdvar topk bottomk quantile count_values."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import xxhash

from agent.gocompat.strconv import format_float
from agent.model import Labels
from agent.promql.context import EvalContext
from agent.promql.errors import EvalError
from agent.promql.nodes import Node, ScalarNode, StringNode, VectorNode
from agent.promql.stats import (
    go_max,
    go_min,
    kahan_sum_3,
    mean_3,
    plain_sum,
    quantile,
    running_mean,
    welford_variance,
)
from agent.promql.values import LABEL_NAME, NAME, TYPE_AND_UNIT, InstantSample, InstantVector, full_labels, split_name

GroupKey = tuple[str | None, Labels]

REDUCERS: dict[str, Callable[[Sequence[float]], float]] = {
    "sum": plain_sum,
    "avg": running_mean,
    "min": go_min,
    "max": go_max,
    "count": lambda values: float(len(values)),
    "group": lambda values: 1.0,
    "stdvar": welford_variance,
    "stddev": lambda values: math.sqrt(welford_variance(values)),
}
# Prometheus 3 sums and averages with compensation (2.42 did not).
REDUCERS_3 = {**REDUCERS, "sum": kahan_sum_3, "avg": mean_3}


def ratio_sampled(ratio: float, labels: Labels) -> bool:
    """Prometheus' HashRatioSampler: the labels' xxhash64 as a fraction of 2^64-1 against the ratio.

    The hash is of Prometheus 3's label encoding (stringlabels, its default build): each name and
    value prefixed by its length.
    """
    data = b"".join(_sized(name.encode()) + _sized(value.encode()) for name, value in labels)
    offset = xxhash.xxh64_intdigest(data) / float(2**64 - 1)
    return offset < ratio if ratio >= 0 else offset >= 1 + ratio


def _sized(text: bytes) -> bytes:
    """stringlabels' encodeSize: one length byte, or 255 and three little-endian bytes."""
    size = len(text)
    prefix = bytes([size]) if size < 255 else b"\xff" + size.to_bytes(3, "little")
    return prefix + text


def grouping(by: bool, names: Sequence[str]) -> Callable[[str | None, Labels], GroupKey]:
    """The output labels of a sample's group: `by` keeps the listed ones, `without` drops them and the name."""
    wanted = frozenset(names)
    if by:
        keep_name = NAME in wanted
        return lambda name, labels: (
            name if keep_name else None,
            tuple(pair for pair in labels if pair[0] in wanted),
        )
    if not wanted:
        return lambda name, labels: (None, labels)
    return lambda name, labels: (None, tuple(pair for pair in labels if pair[0] not in wanted))


class AggregateNode(VectorNode):
    """One aggregation expression; the grouping function is built once."""

    def __init__(
        self, op: str, inner: VectorNode, param: Node | None, by: bool, names: Sequence[str], *, v3: bool = False
    ) -> None:
        self.op = op
        self.v3 = v3
        self.reducers = REDUCERS_3 if v3 else REDUCERS
        self.inner = inner
        self.scalar_param = param if isinstance(param, ScalarNode) else None
        self.label_param = param.text if isinstance(param, StringNode) else ""
        self.by = by
        self.names = tuple(names)
        # Prometheus 3 leaves `__type__` and `__unit__` out of a `without` group, as it does the name.
        self.key = grouping(by, names if by or not v3 else (*names, *TYPE_AND_UNIT))

    def vector(self, ctx: EvalContext, t: int) -> InstantVector:
        """Aggregate the inner vector at `t` (milliseconds) by the grouping labels."""
        samples = self.inner.vector(ctx, t)
        if self.op in ("topk", "bottomk"):
            return self._topk(samples, self._scalar_param(ctx, t))
        if self.op == "limitk":
            return self._limitk(samples, self._scalar_param(ctx, t))
        if self.op == "limit_ratio":
            return self._limit_ratio(samples, self._scalar_param(ctx, t))
        if self.op == "count_values":
            return self._count_values(samples, ctx, t)
        groups = self._groups(samples, self.key)
        if self.op == "quantile":
            q = self._scalar_param(ctx, t)
            exact = self.v3
            return [
                (key[0], key[1], quantile(q, [s[2] for s in members], exact_rank=exact))
                for key, members in groups.items()
            ]
        reducer = self.reducers[self.op]
        return [(key[0], key[1], reducer([s[2] for s in members])) for key, members in groups.items()]

    def _scalar_param(self, ctx: EvalContext, t: int) -> float:
        return math.nan if self.scalar_param is None else self.scalar_param.scalar(ctx, t)

    @staticmethod
    def _groups(
        samples: InstantVector, key: Callable[[str | None, Labels], GroupKey]
    ) -> dict[GroupKey, list[InstantSample]]:
        groups: dict[GroupKey, list[InstantSample]] = {}
        for sample in samples:
            groups.setdefault(key(sample[0], sample[1]), []).append(sample)
        return groups

    def _topk(self, samples: InstantVector, param: float) -> InstantVector:
        """The k largest (smallest) per group, whole samples with their names; NaN ranks last."""
        if math.isnan(param) or math.isinf(param) or int(param) < 1:
            return []
        k = int(param)
        top = self.op == "topk"
        out: InstantVector = []
        for members in self._groups(samples, self.key).values():
            ranked = sorted(members, key=lambda s: (math.isnan(s[2]), -s[2] if top else s[2]))
            out.extend(ranked[:k])
        return out

    def _limitk(self, samples: InstantVector, param: float) -> InstantVector:
        """The first k samples of each group in label order (Prometheus 3, experimental)."""
        if math.isnan(param):
            raise EvalError("Parameter value is NaN")
        if param < 1:
            return []
        k = int(min(param, len(samples)))
        ordered = sorted(samples, key=lambda s: full_labels(s[0], s[1]))
        return [s for members in self._groups(ordered, self.key).values() for s in members[:k]]

    def _limit_ratio(self, samples: InstantVector, param: float) -> InstantVector:
        """A deterministic sample of about `ratio` of the series, picked by their label hash (Prometheus 3)."""
        if math.isnan(param):
            raise EvalError("Ratio value is NaN")
        if param == 0:
            return []
        ratio = max(-1.0, min(1.0, param))
        return [s for s in samples if ratio_sampled(ratio, full_labels(s[0], s[1]))]

    def _count_values(self, samples: InstantVector, ctx: EvalContext, t: int) -> InstantVector:
        """How many samples have each value; the value becomes a label."""
        label = self.label_param
        if not LABEL_NAME.fullmatch(label):
            raise EvalError(f"invalid label name {label!r}")
        key = grouping(self.by, (*self.names, label)) if self.by else self.key
        counts: dict[GroupKey, float] = {}
        for name, labels, value in samples:
            merged = dict(full_labels(name, labels))
            merged[label] = format_float(value, "f")
            group = key(*split_name(tuple(sorted(merged.items()))))
            counts[group] = counts.get(group, 0.0) + 1.0
        return [(name, labels, count) for (name, labels), count in counts.items()]
