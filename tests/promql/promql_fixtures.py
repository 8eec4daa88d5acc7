"""Helpers for the PromQL unit tests: a store filled from series descriptions, and query shortcuts."""

from __future__ import annotations

from agent.model import Labels
from agent.promql import Engine, VectorSample, parse_expr
from agent.promql.notation import parse_series
from agent.promql.values import split_name
from agent.store import Store

MINUTE = 60_000


def make_store(*descriptions: str, interval_ms: int = MINUTE) -> Store:
    """A store holding each `name{labels} values...` description, one point per interval from 0."""
    store = Store(retention_ms=10**12)
    for description in descriptions:
        labels, values = parse_series(description)
        name, rest = split_name(labels)
        for i, value in enumerate(values):
            if value is not None:
                store.append_point(name or "", rest, i * interval_ms, value)
    return store


def instant(store: Store, text: str, t_ms: int, **engine_options: int) -> object:
    """The raw result of one instant query."""
    return Engine(store, **engine_options).instant(parse_expr(text), t_ms)


def vector(store: Store, text: str, t_ms: int) -> dict[Labels, float]:
    """An instant-vector result as {labels: value}."""
    result = instant(store, text, t_ms)
    assert isinstance(result, list)
    samples = {}
    for sample in result:
        assert isinstance(sample, VectorSample)
        samples[sample.labels] = sample.value
    return samples


def lbl(text: str = "{}") -> Labels:
    """Labels from selector notation, e.g. lbl('x{a="1"}')."""
    labels, _ = parse_series(text)
    return labels
