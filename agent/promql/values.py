"""Result types of an evaluation: the public ones and the cheaper internal ones the evaluator passes around."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from agent.model import Labels


@dataclass(frozen=True, slots=True)
class VectorSample:
    """One element of an instant vector; `labels` include `__name__` when the sample still has one."""

    labels: Labels
    value: float


@dataclass(frozen=True, slots=True)
class RangeSeries:
    """One series of a range vector (matrix): its labels and its points, oldest first."""

    labels: Labels
    times: Sequence[int]
    values: Sequence[float]


Vector = list[VectorSample]
Matrix = list[RangeSeries]
Value = Vector | Matrix | float | str

# Inside the evaluator the metric name travels apart from the other labels: dropping it
# (as arithmetic does) is then free and the store's label tuples are reused as they are.
InstantSample = tuple[str | None, Labels, float]
RangeSample = tuple[str | None, Labels, Sequence[int], Sequence[float]]
InstantVector = list[InstantSample]
RangeVector = list[RangeSample]

NAME = "__name__"
TYPE_AND_UNIT = frozenset({"__type__", "__unit__"})
METADATA_LABELS = frozenset({NAME, *TYPE_AND_UNIT})  # Prometheus 3's schema.IsMetadataLabel
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def full_labels(name: str | None, labels: Labels) -> Labels:
    """Labels with `__name__` put back in its sorted place."""
    if name is None:
        return labels
    return tuple(sorted((*labels, (NAME, name))))


def split_name(labels: Labels) -> tuple[str | None, Labels]:
    """The inverse of `full_labels`: take `__name__` out of a sorted label set."""
    for i, (key, value) in enumerate(labels):
        if key == NAME:
            return value, labels[:i] + labels[i + 1 :]
    return None, labels


def without_type_and_unit(labels: Labels) -> Labels:
    """A sorted label set without `__type__` and `__unit__`, the same tuple when it has neither.

    Label sets are sorted and both names sort before any lowercase one, so most label sets are
    settled by their first key.
    """
    for key, _ in labels:
        if key > "__unit__":
            return labels
        if key in TYPE_AND_UNIT:
            return tuple(pair for pair in labels if pair[0] not in TYPE_AND_UNIT)
    return labels


def to_public_vector(samples: InstantVector) -> Vector:
    """Internal samples as the public `VectorSample`s."""
    return [VectorSample(full_labels(name, labels), value) for name, labels, value in samples]


def to_public_matrix(series: RangeVector) -> Matrix:
    """Internal range samples as the public `RangeSeries`."""
    return [RangeSeries(full_labels(name, labels), times, values) for name, labels, times, values in series]
