"""The Engine's public contract: result types, labels with __name__, caching, errors."""

from __future__ import annotations

import pytest
from promql_fixtures import make_store

from agent.promql import Engine, EvalError, VectorSample, parse_expr


def test_vector_sample_labels_include_the_sorted_name() -> None:
    store = make_store('up{job="a", Zone="z"} 1')
    assert Engine(store).instant(parse_expr("up"), 0) == [
        VectorSample((("Zone", "z"), ("__name__", "up"), ("job", "a")), 1.0)
    ]


def test_same_expression_is_compiled_once() -> None:
    engine = Engine(make_store("up 1"))
    expr = parse_expr("up")
    assert engine.compile(expr) is engine.compile(expr)


def test_evaluation_sees_points_appended_after_compiling() -> None:
    store = make_store("up 1")
    engine = Engine(store)
    expr = parse_expr("up")
    engine.instant(expr, 0)
    store.append_point("up", (), 60_000, 2.0)
    assert engine.instant(expr, 60_000) == [VectorSample((("__name__", "up"),), 2.0)]


def test_runtime_error_is_an_eval_error() -> None:
    store = make_store('a{x="1"} 1', 'a{x="2"} 1', 'b{x="1"} 1')
    with pytest.raises(EvalError):
        Engine(store).instant(parse_expr("b + on() a"), 0)
