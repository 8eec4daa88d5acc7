"""parse_expr, unsupported, metric_names and max_range_ms."""

from __future__ import annotations

import promql_parser
import pytest

from agent.promql import PromQLCompat, PromQLError, Semantics, max_range_ms, metric_names, parse_expr, unsupported


def test_parse_expr_returns_the_parsers_ast() -> None:
    assert isinstance(parse_expr("rate(x[5m])"), promql_parser.Call)


def test_parse_error_is_a_promql_error_with_the_parsers_message() -> None:
    with pytest.raises(PromQLError, match="unclosed left parenthesis"):
        parse_expr("sum(x")


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("holt_winters(x[5m], 0.1, 0.1)", "function holt_winters is not supported"),
        ('sort_by_label(x, "a")', 'function "sort_by_label" is not enabled'),
        ("limitk(1, x)", r"limitk\(\) is experimental and must be enabled"),
        ('x{a="b" or c="d"}', "'or' between label matchers is not supported"),
        ("x + fill(0) y", "1:1: parse error: binop fill modifiers are experimental and not enabled"),
    ],
)
def test_unsupported_construct_is_refused_by_name(text: str, name: str) -> None:
    with pytest.raises(PromQLError, match=name):
        parse_expr(text)


def test_unsupported_lists_every_construct_once() -> None:
    expr = promql_parser.parse('sort_by_label(x, "a") + sort_by_label(y, "b") + limitk(1, z)')
    problems = unsupported(expr, Semantics(PromQLCompat.V2))
    assert problems == ["function sort_by_label is not supported", "aggregation limitk is not supported"]


def test_unsupported_is_empty_for_supported_expression() -> None:
    expr = promql_parser.parse("sum by (a) (rate(x[5m])) > on(a) group_left histogram_quantile(0.9, y)")
    assert unsupported(expr) == []


def test_invalid_regex_is_refused_at_parse_time() -> None:
    with pytest.raises(PromQLError):
        parse_expr('label_replace(x, "a", "$1", "b", "(")')


def test_invalid_destination_label_is_refused_at_parse_time() -> None:
    with pytest.raises(PromQLError, match="invalid destination label name"):
        parse_expr('label_replace(x, "1a", "", "b", ".*")')


def test_metric_names_collects_every_selector() -> None:
    assert metric_names(parse_expr('rate(a[5m]) / on() b + {__name__="c"}')) == {"a", "b", "c"}


def test_metric_names_is_none_for_a_name_regex() -> None:
    assert metric_names(parse_expr('{__name__=~"a.*"}')) is None


def test_metric_names_is_empty_for_a_literal() -> None:
    assert metric_names(parse_expr("1 + 2")) == set()


def test_max_range_adds_range_and_offset() -> None:
    assert max_range_ms(parse_expr("rate(x[5m] offset 1h)")) == 65 * 60_000


def test_max_range_adds_subquery_range_to_inner_range() -> None:
    assert max_range_ms(parse_expr("max_over_time(rate(x[2m])[10m:1m] offset 1m)")) == 13 * 60_000


def test_max_range_takes_the_widest_branch() -> None:
    assert max_range_ms(parse_expr("rate(x[5m]) + delta(y[1h]) + z offset 2m")) == 60 * 60_000


def test_max_range_ignores_negative_offsets() -> None:
    assert max_range_ms(parse_expr("x offset -5m")) == 0


def test_out_of_range_duration_is_a_promql_error() -> None:
    with pytest.raises(PromQLError, match="too large"):
        parse_expr("x offset 1000000000y")


def test_at_before_1970_is_refused() -> None:
    with pytest.raises(PromQLError, match="before 1970"):
        parse_expr("x @ -100")


def test_at_inside_a_subquery_with_negative_offset_is_refused() -> None:
    with pytest.raises(PromQLError, match="negative offset"):
        parse_expr("max_over_time((x @ 60)[1m:30s] offset -1m)")


def test_at_on_a_subquery_with_negative_offset_is_supported() -> None:
    assert unsupported(parse_expr("min_over_time(x[1m:30s] offset -1m @ 120)")) == []
