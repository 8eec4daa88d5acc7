"""Helpers for the PromQL unit tests: a store filled from series descriptions, and query shortcuts.

The unit tests' expectations are Prometheus 2.42's unless a test passes `semantics=V3`; the
differences are tested side by side in test_promql_compat.py.
"""

from __future__ import annotations

from agent.model import Labels
from agent.promql import Engine, PromQLCompat, Semantics, VectorSample, parse_expr
from agent.promql.notation import parse_series
from agent.promql.values import split_name
from agent.store import Store

MINUTE = 60_000
V2 = Semantics(PromQLCompat.V2)
V3 = Semantics(PromQLCompat.V3, experimental_functions=True)


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


def instant(store: Store, text: str, t_ms: int, semantics: Semantics = V2, **engine_options: int) -> object:
    """The raw result of one instant query."""
    return Engine(store, semantics=semantics, **engine_options).instant(parse_expr(text, semantics), t_ms)


def vector(store: Store, text: str, t_ms: int, semantics: Semantics = V2) -> dict[Labels, float]:
    """An instant-vector result as {labels: value}."""
    result = instant(store, text, t_ms, semantics)
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
