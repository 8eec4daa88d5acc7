"""Prometheus 3 syntax promql-parser does not read (agent/promql/syntax3.py): what it becomes, and its errors."""

from __future__ import annotations

import pytest

from agent.promql import PromQLCompat, PromQLError, Semantics, parse_expr
from agent.promql.syntax3 import rewrite, show

V2 = Semantics(PromQLCompat.V2)


@pytest.mark.parametrize(
    ("text", "rewritten"),
    [
        ("changes(m[26m+4m])", "changes(m[1800000ms])"),
        ("m[2m * (10 + 5)]", "m[1800000ms]"),
        ("m[1h30m % 1h]", "m[1800000ms]"),
        ("m[60 * 30]", "m[1800000ms]"),
        ("m[90]", "m[90000ms]"),
        ("m[1.5]", "m[1500ms]"),  # promql-parser would read 1s
        ("sum_over_time(m[29s+1s:20*500ms])", "sum_over_time(m[30000ms:10000ms])"),
        ("m offset (2 * 2)", "m offset 4000ms"),
        ("m offset -(1m - 45s)", "m offset -15000ms"),
        ("m offset (-2 ^ 2)", "m offset -4000ms"),  # ^ binds tighter than the unary minus
        ("m offset range()", "m offset 0"),  # an instant query's range() is 0
        ("m[max_of(30s, 1m)]", "m[60000ms]"),
        ("m[5m] offset 1m", "m[5m] offset 1m"),  # literals are left to the parser
        ("rate(m[1m] anchored)", 'rate(m{__tripwired_modifier__="anchored"}[1m])'),
        ('rate(m{a="b"}[1m] offset 5m smoothed)', 'rate(m{__tripwired_modifier__="smoothed", a="b"}[1m] offset 5m)'),
        ("m smoothed", 'm{__tripwired_modifier__="smoothed"}'),
        ("anchored + smoothed", '{__name__="anchored"} + {__name__="smoothed"}'),
        ("sum by (anchored) (x)", 'sum by ("anchored") (x)'),
        ('x{anchored="a"}', 'x{anchored="a"}'),
    ],
)
def test_rewrite(text: str, rewritten: str) -> None:
    assert rewrite(text) == rewritten


def test_step_and_range_are_the_querys() -> None:
    assert rewrite("m[step() * 2]", step_ms=15_000) == "m[30000ms]"
    assert rewrite("m offset -range()", range_ms=3_600_000) == "m offset -3600000ms"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("rate(x[5m:1m] anchored)", "1:6: parse error: anchored modifier is not supported for subqueries"),
        ("rate(x[5m]) smoothed", "1:1: parse error: smoothed modifier not implemented"),
        ("x[5m] anchored smoothed", "1:1: parse error: anchored and smoothed modifiers cannot be used together"),
        ("a * b + fill(0) c", "1:1: parse error: binop fill modifiers are experimental and not enabled"),
        ("x + y * on(a) fill_left(1) z", "1:5: parse error: binop fill modifiers are experimental and not enabled"),
        ("m[1m - 1m]", "duration must be greater than 0"),
        ("m[1m / 0]", "1:6: parse error: division by zero"),
        ("m[1m +]", "1:7: parse error: unexpected end of duration expression"),
        (
            "sum_over_time(m[1m] anchored)",
            "anchored modifier can only be used with: changes, delta, increase, rate, resets - not with sum_over_time",
        ),
        ("deriv(m[1m] smoothed)", "smoothed modifier can only be used with: delta, increase, rate - not with deriv"),
    ],
)
def test_refused_in_prometheus_words(text: str, error: str) -> None:
    with pytest.raises(PromQLError, match=error.replace("(", r"\(").replace(")", r"\)")):
        parse_expr(text)


def test_prometheus_2_has_none_of_it() -> None:
    for text in ("rate(m[1m] anchored)", "m[5m + 1m]", "m offset (2 * 1m)"):
        with pytest.raises(PromQLError):
            parse_expr(text, V2)


@pytest.mark.parametrize(
    "text",
    [
        "rate(m[1m] anchored)",
        'increase(m{a="b"}[1m] offset 5m smoothed) + x',
        'anchored{a="b"}[1m] smoothed',
        "x[1m] smoothed",
        "m anchored > 1",
    ],
)
def test_show_puts_the_modifier_back(text: str) -> None:
    shown = show(parse_expr(text))
    assert "__tripwired_modifier__" not in shown
    assert parse_expr(shown).prettify() == parse_expr(text).prettify()
