"""One rule group evaluated at one timestamp over a real store and engine."""

from __future__ import annotations

import promql_parser

from agent.clock import FakeClock
from agent.model import AlertState
from agent.promql import Engine, Value
from agent.ruler.group import Group
from agent.ruler.rulefile import parse_rule_text
from agent.ruler.rules import ExternalInfo
from agent.store import Store

T = 1_700_000_000_000


def group_of(rules: str, limit: int = 0) -> Group:
    text = f"groups:\n  - name: g\n    limit: {limit}\n    rules:\n{rules}"
    [spec] = parse_rule_text(text, "r.yaml")
    return Group(spec, default_interval_ms=60_000, external=ExternalInfo())


def evaluate(group: Group, store: Store, ts: int = T) -> None:
    group.evaluate(ts, Engine(store), store, FakeClock())


def test_scalar_result_is_recorded_as_one_series_without_labels() -> None:
    store = Store()
    evaluate(group_of("      - record: two\n        expr: 1 + 1\n"), store)
    series = store.get("two", ())
    assert series is not None and 2.0 == series.latest()


def test_string_result_is_a_rule_error() -> None:
    group = group_of("      - record: s\n        expr: '\"text\"'\n")
    evaluate(group, Store())
    assert ("err", "rule result is not a vector or scalar") == (
        group.rules[0].health.health,
        group.rules[0].health.last_error,
    )


def test_recording_rule_over_the_group_limit_fails() -> None:
    store = Store()
    for instance in "abc":
        store.append_point("up", (("instance", instance),), T, 1.0)
    group = group_of("      - record: r\n        expr: up\n", limit=2)
    evaluate(group, store)
    assert "exceeded limit of 2 with 3 series" == group.rules[0].health.last_error


def test_failing_rule_does_not_stop_the_rules_after_it() -> None:
    store = Store()
    group = group_of("      - record: s\n        expr: '\"text\"'\n      - record: one\n        expr: vector(1)\n")
    evaluate(group, store)
    assert ["err", "ok"] == [r.health.health for r in group.rules]


def test_group_reads_the_metric_names_of_all_its_rules() -> None:
    group = group_of("      - record: a\n        expr: x + y\n      - alert: B\n        expr: z > 1\n")
    assert frozenset({"x", "y", "z"}) == group.reads


def test_copied_state_matches_rules_by_name_and_position_among_namesakes() -> None:
    store = Store()
    store.append_point("up", (), T, 1.0)
    old = group_of("      - alert: A\n        expr: up > 5\n      - alert: A\n        expr: up > 0\n")
    evaluate(old, store)
    new = group_of(
        "      - record: r\n        expr: up\n      - alert: A\n        expr: up > 9\n"
        "      - alert: A\n        expr: up > 0\n"
    )
    new.copy_state_from(old)
    assert [[], [AlertState.FIRING]] == [[a.state for a in r.active.values()] for r in new.alerting_rules()]


class BrokenEngine:
    """An engine with a bug: every query raises."""

    def instant(self, expr: object, t_ms: int) -> float:
        raise RuntimeError("boom")


def test_unexpected_engine_exception_fails_only_that_rule() -> None:
    group = group_of("      - record: one\n        expr: vector(1)\n")
    group.evaluate(T, BrokenEngine(), Store(), FakeClock())
    assert ("err", "internal error: RuntimeError('boom')") == (
        group.rules[0].health.health,
        group.rules[0].health.last_error,
    )


def test_a_rule_with_an_earlier_rules_expression_sees_what_a_rule_between_them_recorded() -> None:
    store = Store()
    store.append_point("up", (("instance", "a"),), T, 1.0)
    group = group_of(
        "      - alert: Twice\n        expr: up > 0\n"
        "      - record: up\n        expr: vector(2)\n"
        "      - alert: Twice\n        expr: up > 0\n        for: 5m\n"
    )
    evaluate(group, store)
    first, second = group.alerting_rules()
    assert [1, 2] == [len(first.active), len(second.active)]


def test_rules_with_the_same_expression_query_once_per_evaluation() -> None:
    store = Store()
    store.append_point("up", (("instance", "a"),), T, 1.0)
    group = group_of(
        "      - alert: Warning\n        expr: up > 0\n"
        "      - alert: Critical\n        expr: up > 0\n        for: 5m\n"
        "      - record: other\n        expr: up > 0\n"
    )
    engine = CountingEngine(Engine(store))
    group.evaluate(T, engine, store, FakeClock())
    assert 1 == engine.queries


class CountingEngine:
    """The real engine, counting its queries."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.queries = 0

    def instant(self, expr: promql_parser.Expr, t_ms: int) -> Value:
        self.queries += 1
        return self.engine.instant(expr, t_ms)
