"""Where a rule means something different under Prometheus 3 and 2.x, for `tripwired config check`.

Users moving rule files between the two modes (or between tripwired and a central Prometheus of
the other major version) need to know which rules to look at. Two differences change results on
ordinary data, and are reported per rule:

- a short range (or subquery range) that is a whole number of sample intervals: 2.x's closed
  window holds one sample more than 3's left-open one whenever a sample sits on its start, which
  matters when the window holds few samples (rate over two samples becomes rate over one: nothing);
- a regex matcher whose `.` can meet a newline: only 3 lets `.` match it.

Two more change the result whatever the data: `atan2` between vectors keeps the metric name in
2.x only, and `histogram_fraction` reads classic buckets in 3 only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import promql_parser

from agent.gocompat.duration import format_duration
from agent.promql import PromQLError, Semantics, parse_expr
from agent.promql.context import duration_ms
from agent.promql.support import static_kind, walk
from agent.promql.syntax3 import matchers_of
from agent.ruler.rulefile import GroupSpec, RuleSpec

# Windows of at most this many samples are reported: there one sample is a fifth of the data or more.
FEW_SAMPLES = 4
# A `.` that is not escaped and not inside a character class.
_BARE_DOT = re.compile(r"(?<!\\)\.(?![^\[]*\])")


def compat_warnings(groups: Sequence[GroupSpec], sample_interval_ms: int, semantics: Semantics) -> list[str]:
    """One line per rule construct whose result depends on promql_compat, on samples every interval."""
    out: list[str] = []
    for group in groups:
        step_ms = group.interval_ms or sample_interval_ms
        for rule in group.rules:
            where = f'{group.file}: group "{group.name}", rule "{rule.name}"'
            out.extend(
                f"{where}: {problem}" for problem in rule_differences(rule, sample_interval_ms, step_ms, semantics)
            )
    return out


def rule_differences(rule: RuleSpec, sample_interval_ms: int, step_ms: int, semantics: Semantics) -> list[str]:
    """What in one rule's expression reads differently in the two modes (each problem once)."""
    try:
        expr = parse_expr(rule.expr, semantics)
    except PromQLError:
        return []  # `rules check` reports it
    found: list[str] = []
    for problem in _differences(expr, sample_interval_ms, step_ms):
        if problem not in found:
            found.append(problem)
    return found


def _differences(expr: promql_parser.Expr, sample_interval_ms: int, step_ms: int) -> Iterator[str]:
    for node in walk(expr):
        if isinstance(node, promql_parser.MatrixSelector):
            yield from _boundary(duration_ms(node.range), sample_interval_ms, "samples")
        elif isinstance(node, promql_parser.SubqueryExpr):
            step = duration_ms(node.step) or step_ms
            yield from _boundary(duration_ms(node.range), step, "subquery steps")
        elif isinstance(node, promql_parser.VectorSelector):
            yield from _regexes(node)
        elif isinstance(node, promql_parser.BinaryExpr) and str(node.op) == "atan2":
            if static_kind(node) == "vector":
                yield "atan2 drops the metric name in Prometheus 3 and keeps the left side's in 2.x"
        elif isinstance(node, promql_parser.Call) and node.func.name == "histogram_fraction":
            yield (
                "histogram_fraction reads classic `le` buckets in Prometheus 3 only; "
                "2.x answers it from native histograms, so nothing here"
            )


def _boundary(range_ms: int, interval_ms: int, what: str) -> Iterator[str]:
    if interval_ms > 0 and range_ms % interval_ms == 0 and range_ms // interval_ms <= FEW_SAMPLES:
        count = range_ms // interval_ms
        yield (
            f"range [{format_duration(range_ms)}] holds {count} {what} {format_duration(interval_ms)} apart "
            f"in Prometheus 3 (left-open) and {count + 1} in 2.x (closed) when one falls on its start"
        )


def _regexes(node: promql_parser.VectorSelector) -> Iterator[str]:
    for matcher in matchers_of(node):
        regex_ops = (promql_parser.MatchOp.Re, promql_parser.MatchOp.NotRe)
        if matcher.op in regex_ops and _BARE_DOT.search(matcher.value) and "(?s" not in matcher.value:
            yield (
                f'regex {matcher.name}{"=~" if matcher.op == promql_parser.MatchOp.Re else "!~"}"{matcher.value}": '
                "`.` matches a newline in Prometheus 3 only, so values with newlines match differently"
            )
