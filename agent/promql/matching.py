"""Vector matching: the signature two samples must share, and the labels of the result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agent.model import Labels
from agent.promql.values import NAME, TYPE_AND_UNIT, full_labels, split_name, without_type_and_unit

Signature = Callable[[str | None, Labels], Labels]


@dataclass(frozen=True, slots=True)
class Matching:
    """`on`/`ignoring`, the cardinality and the `group_x` labels of a binary operation."""

    on: bool = False
    names: tuple[str, ...] = ()
    card: str = "one-to-one"
    include: tuple[str, ...] = ()


def signature(matching: Matching, *, type_and_unit: bool = False) -> Signature:
    """What identifies a sample for matching: the `on` labels, or all but the ignored ones and the name.

    `type_and_unit`: `ignoring` (and no modifier) also leaves out `__type__` and `__unit__` (Prometheus 3).
    """
    names = frozenset(matching.names)
    if not matching.on:
        if type_and_unit:
            names |= TYPE_AND_UNIT
            if names == TYPE_AND_UNIT:
                return lambda name, labels: without_type_and_unit(labels)
        if not names:
            return lambda name, labels: labels
        return lambda name, labels: tuple(pair for pair in labels if pair[0] not in names)
    if NAME in names:
        return lambda name, labels: full_labels(name, tuple(pair for pair in labels if pair[0] in names))
    return lambda name, labels: tuple(pair for pair in labels if pair[0] in names)


def signatures(matching: Matching) -> dict[bool, Signature]:
    """The signature as 2.42 and as Prometheus 3 make it, keyed by `Semantics.metadata_labels`."""
    return {False: signature(matching), True: signature(matching, type_and_unit=True)}


ResultLabels = Callable[[tuple[str | None, Labels], tuple[str | None, Labels]], tuple[str | None, Labels]]


def result_labeller(matching: Matching, drop_name: bool) -> ResultLabels:
    """How a vector-vector result is labelled, as Prometheus' resultMetric builds it from the "many" side.

    Built once per binary operation: the label names are worked out once, not for every sample.
    """
    names = frozenset(matching.names)
    one_to_one = matching.card == "one-to-one"
    name_matched = NAME in names

    def result(left: tuple[str | None, Labels], right: tuple[str | None, Labels]) -> tuple[str | None, Labels]:
        name, labels = left
        if drop_name:
            name = None
        if one_to_one:
            if matching.on:
                labels = tuple(pair for pair in labels if pair[0] in names)
                name = name if name_matched else None
            elif names:
                labels = tuple(pair for pair in labels if pair[0] not in names)
                name = None if name_matched else name
        if matching.include:
            name, labels = _include(matching.include, name, labels, right)
        return name, labels

    return result


def _include(
    include: tuple[str, ...], name: str | None, labels: Labels, right: tuple[str | None, Labels]
) -> tuple[str | None, Labels]:
    """Copy the `group_left/right(...)` labels from the "one" side (an empty value deletes)."""
    merged = dict(full_labels(name, labels))
    one_side = dict(full_labels(*right))
    for label in include:
        value = one_side.get(label, "")
        if value:
            merged[label] = value
        else:
            merged.pop(label, None)
    return split_name(tuple(sorted(merged.items())))
