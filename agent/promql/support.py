"""The one place that says which PromQL tripwired evaluates, and what an expression reads."""

from __future__ import annotations

import re
from collections.abc import Iterator

import promql_parser

from agent.promql import syntax3
from agent.promql.context import duration_ms
from agent.promql.errors import PromQLError
from agent.promql.math_functions import DATE_FUNCTIONS, VALUE_FUNCTIONS
from agent.promql.range_functions import RANGE_FUNCTIONS
from agent.promql.semantics import DEFAULT_SEMANTICS, EXPERIMENTAL_FEATURE, PromQLCompat, Semantics
from agent.promql.values import NAME

SPECIAL_FUNCTIONS = frozenset(
    {
        "absent",
        "absent_over_time",
        "scalar",
        "vector",
        "time",
        "timestamp",
        "label_replace",
        "label_join",
        "sort",
        "sort_desc",
        "histogram_quantile",
        "pi",
        "start",
        "end",
        "range",
        "step",
        "min_of",
        "max_of",
        "histogram_fraction",
        "histogram_quantiles",
        "info",
        "start_timestamp",
    }
)
# Functions of native histograms only: over tripwired's float series they give nothing, as in Prometheus.
NATIVE_HISTOGRAM_FUNCTIONS = frozenset(
    {"histogram_count", "histogram_sum", "histogram_avg", "histogram_stddev", "histogram_stdvar"}
)
# Prometheus 3's experimental functions tripwired evaluates, behind the same switch as Prometheus'
# --enable-feature=promql-experimental-functions. double_exponential_smoothing is 2.x's holt_winters.
EXPERIMENTAL_FUNCTIONS = frozenset(
    {
        "double_exponential_smoothing",
        "mad_over_time",
        "sort_by_label",
        "sort_by_label_desc",
        "ts_of_first_over_time",
        "ts_of_last_over_time",
        "ts_of_min_over_time",
        "ts_of_max_over_time",
        "integral",
        "min_of",
        "max_of",
        "start",
        "end",
        "range",
        "step",
        "histogram_quantiles",
        "info",
        "start_timestamp",
    }
)
# Prometheus 3 functions that need no switch but that 2.42 does not have.
ONLY_IN_3 = frozenset({"first_over_time", "histogram_avg", "histogram_stddev", "histogram_stdvar"})
EXPERIMENTAL_AGGREGATIONS = frozenset({"limitk", "limit_ratio"})
FUNCTIONS = (
    frozenset(RANGE_FUNCTIONS)
    | frozenset(VALUE_FUNCTIONS)
    | frozenset(DATE_FUNCTIONS)
    | SPECIAL_FUNCTIONS
    | NATIVE_HISTOGRAM_FUNCTIONS
) - EXPERIMENTAL_FUNCTIONS
AGGREGATIONS = frozenset(
    {"sum", "avg", "min", "max", "count", "group", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values"}
)
# Names 2.42 spells differently: its holt_winters is parsed as Prometheus 3's double_exponential_smoothing.
RENAMED_IN_3 = {"holt_winters": "double_exponential_smoothing"}
_HOLT_WINTERS = re.compile(r"\bholt_winters(?=\s*\()")
_SMOOTHING = re.compile(r"\bdouble_exponential_smoothing(?=\s*\()")
_LEGACY_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


_STRINGS_AND_COMMENTS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`|#[^\n]*')
_UNQUOTED_UTF8 = re.compile(r"(?<=[a-zA-Z0-9_:])\.|[^\x00-\x7f]")
_KEYWORD_FIRST = re.compile(r"\s*(bool)\b", re.IGNORECASE)  # a keyword no expression starts with
_NUMBER_BEFORE = re.compile(r"(?:^|[^a-zA-Z0-9_:])[0-9]+$")


def unquoted_utf8_problem(text: str) -> str | None:
    """A name with a dot or a non-ASCII letter outside quotes, which Prometheus' parser refuses.

    promql-parser accepts `http.server.requests` unquoted; Prometheus 3 does only behind its
    promql-unquoted-utf8-names feature, and 2.x never.
    """
    code = _STRINGS_AND_COMMENTS.sub(lambda m: " " * len(m.group()), text)
    for found in _UNQUOTED_UTF8.finditer(code):
        if found.group() == "." and _NUMBER_BEFORE.search(code[: found.start()]):
            continue  # 1.5e3: a number, not a name
        keyword = _KEYWORD_FIRST.match(code)
        if keyword is not None and keyword.end() == found.start():
            # Prometheus' parser has met the keyword before its lexer reaches the dot.
            return f"1:{keyword.start(1) + 1}: parse error: unexpected <{keyword[1].lower()}>"
        # Prometheus' own message and position; quoting is the way out in both versions.
        return f"1:{found.start() + 1}: parse error: unexpected character: {found.group()!r}"
    return None


def dialect_text(text: str, semantics: Semantics, step_ms: int = 0, range_ms: int = 0) -> str:
    """The expression as the parser (which speaks Prometheus 3) must read it under `semantics`.

    `step_ms` and `range_ms` are the query's, for step() and range() in duration expressions.
    """
    problem = unquoted_utf8_problem(text)
    if problem is not None:
        raise PromQLError(problem)
    if semantics.compat != PromQLCompat.V2:
        return syntax3.rewrite(text, step_ms, range_ms)
    if _SMOOTHING.search(text):
        raise PromQLError(unknown_function("double_exponential_smoothing", semantics))
    return _HOLT_WINTERS.sub("double_exponential_smoothing", text)


def unknown_function(name: str, semantics: Semantics) -> str:
    """Why a function name is refused, with the setting that would accept it when there is one."""
    if semantics.compat == PromQLCompat.V2 and name == "double_exponential_smoothing":
        return "function double_exponential_smoothing is not supported: Prometheus 2 calls it holt_winters"
    if semantics.compat != PromQLCompat.V2 and name in RENAMED_IN_3:
        return (
            f"function {name} is not supported: Prometheus 3 calls it {RENAMED_IN_3[name]} "
            f"(enable {EXPERIMENTAL_FEATURE}), or set promql_compat: 2"
        )
    if semantics.compat == PromQLCompat.V2 and name in ONLY_IN_3:
        return f"function {name} is not supported: it is Prometheus 3's, set promql_compat: 3"
    return f"function {name} is not supported"


def functions(semantics: Semantics) -> frozenset[str]:
    """The functions an expression may call under `semantics`."""
    if semantics.compat == PromQLCompat.V2:
        return (FUNCTIONS - ONLY_IN_3) | {"double_exponential_smoothing"}  # spelled holt_winters in the text
    return FUNCTIONS | EXPERIMENTAL_FUNCTIONS if semantics.experimental_functions else FUNCTIONS


def aggregations(semantics: Semantics) -> frozenset[str]:
    """The aggregation operators an expression may use under `semantics`."""
    if semantics.compat != PromQLCompat.V2 and semantics.experimental_functions:
        return AGGREGATIONS | EXPERIMENTAL_AGGREGATIONS
    return AGGREGATIONS


BINARY_OPERATORS = frozenset(
    {"+", "-", "*", "/", "%", "^", "atan2", "==", "!=", ">", "<", ">=", "<=", "and", "or", "unless"}
)


def children(expr: promql_parser.Expr) -> Iterator[promql_parser.Expr]:
    """The direct sub-expressions of a node."""
    if isinstance(expr, promql_parser.ParenExpr | promql_parser.UnaryExpr | promql_parser.SubqueryExpr):
        yield expr.expr
    elif isinstance(expr, promql_parser.MatrixSelector):
        yield expr.vector_selector
    elif isinstance(expr, promql_parser.BinaryExpr):
        yield expr.lhs
        yield expr.rhs
    elif isinstance(expr, promql_parser.AggregateExpr):
        if expr.param is not None:
            yield expr.param
        yield expr.expr
    elif isinstance(expr, promql_parser.Call):
        yield from expr.args


def walk(expr: promql_parser.Expr) -> Iterator[promql_parser.Expr]:
    """Every node of an expression, depth first, the root first."""
    yield expr
    for child in children(expr):
        yield from walk(child)


def unsupported(expr: promql_parser.Expr, semantics: Semantics = DEFAULT_SEMANTICS) -> list[str]:
    """Names of the constructs in `expr` that tripwired does not evaluate (empty when all are supported)."""
    problems: list[str] = []
    for node in walk(expr):
        problem = _dialect_problem(node, semantics) or _node_problem(node)
        if problem and problem not in problems:
            problems.append(problem)
    return problems


def _dialect_problem(node: promql_parser.Expr, semantics: Semantics) -> str | None:
    """What Prometheus of `semantics`' version would refuse: experimental or unknown names, UTF-8 names."""
    if isinstance(node, promql_parser.Call) and node.func.name not in functions(semantics):
        name = node.func.name
        if name in EXPERIMENTAL_FUNCTIONS and semantics.compat != PromQLCompat.V2:
            return f'function "{name}" is not enabled (enable {EXPERIMENTAL_FEATURE})'
        return unknown_function(name, semantics)
    if isinstance(node, promql_parser.AggregateExpr) and str(node.op) not in aggregations(semantics):
        if str(node.op) in EXPERIMENTAL_AGGREGATIONS and semantics.compat != PromQLCompat.V2:
            return f"{node.op}() is experimental and must be enabled with {EXPERIMENTAL_FEATURE}"
        return f"aggregation {node.op} is not supported"
    if isinstance(node, promql_parser.VectorSelector) and semantics.compat == PromQLCompat.V2:
        matchers = syntax3.matchers_of(node)
        names = [node.name or ""] + [m.name for m in matchers]
        names += [m.value for m in matchers if m.name == NAME and m.op == promql_parser.MatchOp.Equal]
        if any(n and not _LEGACY_NAME.fullmatch(n) for n in names):
            return "UTF-8 metric and label names need promql_compat: 3"
    return None


def _node_problem(node: promql_parser.Expr) -> str | None:
    if isinstance(node, promql_parser.BinaryExpr):
        return _binary_problem(node)
    if isinstance(node, promql_parser.VectorSelector):
        if node.matchers.or_matchers:
            return "'or' between label matchers is not supported"
        return _at_problem(node.at)
    if isinstance(node, promql_parser.SubqueryExpr):
        if static_kind(node.expr) != "vector":
            return "subquery over a scalar is not supported (Prometheus 2.42 refuses it too)"
        if duration_ms(node.offset) < 0 and any(_has_at(inner) for inner in walk(node.expr)):
            # Prometheus 2.42 moves the pinned time in this case; refusing beats disagreeing with it.
            return "@ inside a subquery with a negative offset is not supported"
        return _at_problem(node.at)
    return None


def _has_at(node: promql_parser.Expr) -> bool:
    return isinstance(node, promql_parser.VectorSelector | promql_parser.SubqueryExpr) and node.at is not None


def static_kind(expr: promql_parser.Expr) -> str:
    """The PromQL type of an expression: scalar, string, vector or matrix."""
    if isinstance(expr, promql_parser.ParenExpr | promql_parser.UnaryExpr):
        return static_kind(expr.expr)
    if isinstance(expr, promql_parser.NumberLiteral):
        return "scalar"
    if isinstance(expr, promql_parser.StringLiteral):
        return "string"
    if isinstance(expr, promql_parser.MatrixSelector | promql_parser.SubqueryExpr):
        return "matrix"
    if isinstance(expr, promql_parser.Call):
        return "scalar" if expr.func.return_type == promql_parser.ValueType.Scalar else "vector"
    if isinstance(expr, promql_parser.BinaryExpr):
        scalar = static_kind(expr.lhs) == "scalar" and static_kind(expr.rhs) == "scalar"
        return "scalar" if scalar else "vector"
    return "vector"


def _binary_problem(node: promql_parser.BinaryExpr) -> str | None:
    op = str(node.op)
    if op not in BINARY_OPERATORS:
        return f"binary operator {op} is not supported"
    fill = node.modifier.fill_values if node.modifier is not None else None
    if fill is not None and (fill.lhs is not None or fill.rhs is not None):
        return "fill modifiers of binary operators are not supported"
    return None


def _at_problem(at: promql_parser.AtModifier | None) -> str | None:
    if at is None or at.type != promql_parser.AtModifierType.At:
        return None
    if str(at) != "@ 0.000":  # the binding prints times before 1970 as 0 too
        return None
    try:
        moment = at.at  # the binding panics on times before 1970
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # pyo3's PanicException derives from BaseException
        return "@ timestamps before 1970 are not supported"
    return None if moment is not None else "@ without a timestamp is not supported"


def metric_names(expr: promql_parser.Expr) -> set[str] | None:
    """Metric names the expression reads; None when some selector has no fixed name."""
    names: set[str] = set()
    for node in walk(expr):
        if isinstance(node, promql_parser.VectorSelector):
            name = node.name or _equal_name(node)
            if name is None:
                return None
            names.add(name)
    return names


def _equal_name(node: promql_parser.VectorSelector) -> str | None:
    for matcher in syntax3.matchers_of(node):
        if matcher.name == NAME and matcher.op == promql_parser.MatchOp.Equal:
            return matcher.value
    return None


def max_range_ms(expr: promql_parser.Expr) -> int:
    """How far back from the evaluation time the expression reads, lookback not included.

    Ranges, subquery ranges and positive offsets add up along a path; `@` is ignored (a rule
    pinned to a fixed time reads whatever the store still holds then).
    """
    return _reach(expr)


def _reach(expr: promql_parser.Expr) -> int:
    own = 0
    if isinstance(expr, promql_parser.VectorSelector):
        own = max(0, duration_ms(expr.offset))
    elif isinstance(expr, promql_parser.MatrixSelector):
        return duration_ms(expr.range) + _reach(expr.vector_selector)
    elif isinstance(expr, promql_parser.SubqueryExpr):
        own = duration_ms(expr.range) + max(0, duration_ms(expr.offset))
    return own + max((_reach(child) for child in children(expr)), default=0)
