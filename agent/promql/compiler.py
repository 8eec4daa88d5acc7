"""Turn a promql-parser AST into evaluation nodes, once per expression."""

from __future__ import annotations

import math
import re

import promql_parser

from agent.model import Labels
from agent.promql.aggregate import AggregateNode
from agent.promql.arithmetic import KEEP_NAME_IN_2, SET_OPERATORS
from agent.promql.binary import ScalarBinaryNode, SetOperatorNode, VectorScalarNode, VectorVectorNode
from agent.promql.errors import PromQLError
from agent.promql.functions import (
    AbsentNode,
    DateNode,
    HistogramFractionNode,
    HistogramQuantileNode,
    HistogramQuantilesNode,
    NegateNode,
    NegateScalarNode,
    NoDataNode,
    QueryTimeNode,
    RangeCallNode,
    ScalarOfNode,
    ScalarPairNode,
    SmoothingNode,
    SortByLabelNode,
    SortNode,
    TimeNode,
    TimestampNode,
    ValueMapNode,
    VectorOfNode,
)
from agent.promql.info import InfoNode
from agent.promql.label_functions import LabelJoinNode, LabelReplaceNode
from agent.promql.locate import describe_error
from agent.promql.matching import Matching
from agent.promql.math_functions import DATE_FUNCTIONS, VALUE_FUNCTIONS, VALUE_FUNCTIONS_2
from agent.promql.nodes import MatrixNode, Node, NumberNode, ScalarNode, StringNode, VectorNode
from agent.promql.range_functions import (
    EXTENDED_FUNCTIONS,
    INTEGRAL_TRAPEZOIDAL,
    RANGE_FUNCTIONS,
    RANGE_FUNCTIONS_3,
    SCALAR_FIRST,
)
from agent.promql.selectors import MatrixSelectorNode, VectorSelectorNode
from agent.promql.semantics import DEFAULT_SEMANTICS, PromQLCompat, Semantics
from agent.promql.subquery import SubqueryNode
from agent.promql.support import NATIVE_HISTOGRAM_FUNCTIONS, dialect_text, unknown_function, unsupported
from agent.promql.syntax3 import matchers_of
from agent.promql.values import NAME

UNKNOWN_FUNCTION = re.compile(r"unknown function with name '(.*)'")
# The binding's enum values are not hashable, hence pairs rather than a dict.
CARDINALITY = (
    (promql_parser.VectorMatchCardinality.OneToOne, "one-to-one"),
    (promql_parser.VectorMatchCardinality.ManyToOne, "many-to-one"),
    (promql_parser.VectorMatchCardinality.OneToMany, "one-to-many"),
    (promql_parser.VectorMatchCardinality.ManyToMany, "many-to-many"),
)


def parse_expr(
    text: str, semantics: Semantics = DEFAULT_SEMANTICS, *, step_ms: int = 0, range_ms: int = 0
) -> promql_parser.Expr:
    """Parse an expression and refuse, by name, any construct tripwired does not evaluate.

    `step_ms` and `range_ms` are a range query's step and end - start (0 for an instant query), which
    Prometheus 3's step() and range() stand for in duration expressions.
    """
    try:
        expr = promql_parser.parse(dialect_text(text, semantics, step_ms, range_ms))
    except ValueError as exc:
        unknown = UNKNOWN_FUNCTION.fullmatch(str(exc))
        if unknown:  # functions newer or older than the parser's PromQL
            raise PromQLError(unknown_function(unknown[1], semantics)) from exc
        raise PromQLError(describe_error(text, str(exc))) from exc  # `1:6: parse error: ...` when it can tell
    compile_expr(expr, semantics)  # also refuses bad regexes and label names now rather than at evaluation
    return expr


def compile_expr(expr: promql_parser.Expr, semantics: Semantics = DEFAULT_SEMANTICS) -> Node:
    """Check `expr` is supported under `semantics` and compile it."""
    problems = unsupported(expr, semantics)
    if problems:
        raise PromQLError("; ".join(problems))
    try:
        return compile_node(expr, semantics)
    except (ValueError, OverflowError) as exc:  # the binding refuses out-of-range durations on access
        raise PromQLError(f"cannot evaluate expression: {exc}") from exc


def compile_node(expr: promql_parser.Expr, sem: Semantics = DEFAULT_SEMANTICS) -> Node:
    """Compile one (supported) AST node."""
    if isinstance(expr, promql_parser.ParenExpr):
        return compile_node(expr.expr, sem)
    if isinstance(expr, promql_parser.NumberLiteral):
        return NumberNode(expr.val)
    if isinstance(expr, promql_parser.StringLiteral):
        return StringNode(expr.val)
    if isinstance(expr, promql_parser.UnaryExpr):
        return _negate(compile_node(expr.expr, sem))
    if isinstance(expr, promql_parser.VectorSelector):
        return VectorSelectorNode(expr, sem)
    if isinstance(expr, promql_parser.MatrixSelector):
        return MatrixSelectorNode(expr, sem)
    if isinstance(expr, promql_parser.SubqueryExpr):
        return SubqueryNode(expr, compile_node(expr.expr, sem))
    if isinstance(expr, promql_parser.Call):
        return _call(expr, sem)
    if isinstance(expr, promql_parser.AggregateExpr):
        return _aggregate(expr, sem)
    if isinstance(expr, promql_parser.BinaryExpr):
        return _binary(expr, sem)
    raise PromQLError(f"expression {type(expr).__name__} is not supported")


def _negate(inner: Node) -> Node:
    if isinstance(inner, ScalarNode):
        return NegateScalarNode(inner)
    return NegateNode(_vector(inner))


def _vector(node: Node) -> VectorNode:
    if not isinstance(node, VectorNode):
        raise PromQLError(f"expected an instant vector, got {node.kind}")
    return node


def _scalar(node: Node) -> ScalarNode:
    if not isinstance(node, ScalarNode):
        raise PromQLError(f"expected a scalar, got {node.kind}")
    return node


def _string(node: Node) -> str:
    if not isinstance(node, StringNode):
        raise PromQLError(f"expected a string, got {node.kind}")
    return node.text


def _matrix(node: Node) -> MatrixNode:
    if not isinstance(node, MatrixNode):
        raise PromQLError(f"expected a range vector, got {node.kind}")
    return node


def _binary(expr: promql_parser.BinaryExpr, sem: Semantics) -> Node:
    op = str(expr.op)
    lhs, rhs = compile_node(expr.lhs, sem), compile_node(expr.rhs, sem)
    modifier = expr.modifier
    return_bool = modifier.return_bool if modifier is not None else False
    keep_name = op in KEEP_NAME_IN_2 and sem.compat == PromQLCompat.V2
    if isinstance(lhs, ScalarNode) and isinstance(rhs, ScalarNode):
        return ScalarBinaryNode(op, lhs, rhs)
    if isinstance(rhs, ScalarNode):
        return VectorScalarNode(op, _vector(lhs), rhs, False, return_bool, keep_name=keep_name)
    if isinstance(lhs, ScalarNode):
        return VectorScalarNode(op, _vector(rhs), lhs, True, return_bool, keep_name=keep_name)
    matching = _matching(modifier)
    if op in SET_OPERATORS:
        return SetOperatorNode(op, _vector(lhs), _vector(rhs), matching)
    return VectorVectorNode(op, _vector(lhs), _vector(rhs), matching, return_bool, keep_name=keep_name)


def _matching(modifier: promql_parser.BinModifier | None) -> Matching:
    if modifier is None:
        return Matching()
    labels = modifier.matching
    on = labels is not None and labels.type == promql_parser.LabelModifierType.Include
    names = tuple(labels.labels) if labels is not None else ()
    card = next(text for value, text in CARDINALITY if value == modifier.card)
    include = tuple(modifier.group_labels or ()) if card in ("many-to-one", "one-to-many") else ()
    return Matching(on=on, names=names, card=card, include=include)


def _aggregate(expr: promql_parser.AggregateExpr, sem: Semantics) -> Node:
    op = str(expr.op)
    param = compile_node(expr.param, sem) if expr.param is not None else None
    modifier = expr.modifier
    by = modifier is None or modifier.type == promql_parser.AggModifierType.By
    names = list(modifier.labels) if modifier is not None else []
    return AggregateNode(op, _vector(compile_node(expr.expr, sem)), param, by, names, v3=sem.compat >= PromQLCompat.V3)


def _call(expr: promql_parser.Call, sem: Semantics) -> Node:
    name = expr.func.name
    args = [compile_node(arg, sem) for arg in expr.args]
    modifier = _range_modifier(args)
    if modifier is not None:
        allowed = EXTENDED_FUNCTIONS[modifier]
        if name not in allowed:
            raise PromQLError(
                f"{modifier} modifier can only be used with: {', '.join(sorted(allowed))} - not with {name}"
            )
        return RangeCallNode(name, _matrix(args[0]), None, allowed)
    if name in RANGE_FUNCTIONS:
        table = RANGE_FUNCTIONS_3 if sem.compat >= PromQLCompat.V3 else RANGE_FUNCTIONS
        if name in SCALAR_FIRST:
            return RangeCallNode(name, _matrix(args[1]), _scalar(args[0]), table)
        scalar = _scalar(args[1]) if len(args) > 1 else None
        if name == "integral" and scalar is None:
            scalar = NumberNode(INTEGRAL_TRAPEZOIDAL)
        return RangeCallNode(name, _matrix(args[0]), scalar, table)
    if name in VALUE_FUNCTIONS:
        fn = (VALUE_FUNCTIONS_2 if sem.compat == PromQLCompat.V2 else VALUE_FUNCTIONS)[name]
        return ValueMapNode(name, fn, _vector(args[0]), [_scalar(a) for a in args[1:]])
    if name in DATE_FUNCTIONS:
        return DateNode(DATE_FUNCTIONS[name], _vector(args[0]) if args else None)
    return _special_call(name, expr, args, sem)


def _range_modifier(args: list[Node]) -> str | None:
    """`anchored` or `smoothed` when a call's range-vector argument is a selector with that modifier."""
    for arg in args:
        if isinstance(arg, MatrixSelectorNode) and arg.modifier is not None:
            return arg.modifier
    return None


def _special_call(name: str, expr: promql_parser.Call, args: list[Node], sem: Semantics) -> Node:
    if name == "absent":
        return AbsentNode(_vector(args[0]), absent_labels(expr.args[0]))
    if name == "absent_over_time":
        return AbsentNode(_matrix(args[0]), absent_labels(expr.args[0]))
    if name == "scalar":
        return ScalarOfNode(_vector(args[0]))
    if name == "vector":
        return VectorOfNode(_scalar(args[0]))
    if name == "time":
        return TimeNode()
    if name == "pi":
        return NumberNode(math.pi)
    if name in ("start", "end", "range", "step"):
        return QueryTimeNode(name)
    if name in ("min_of", "max_of"):
        return ScalarPairNode(name, _scalar(args[0]), _scalar(args[1]))
    if name == "timestamp":
        return TimestampNode(_vector(args[0]))
    if name in ("sort", "sort_desc"):
        return SortNode(_vector(args[0]), descending=name == "sort_desc")
    if name == "histogram_quantile":
        return HistogramQuantileNode(_scalar(args[0]), _vector(args[1]), skip_nan_bounds=sem.compat >= PromQLCompat.V3)
    if name == "histogram_quantiles":
        return HistogramQuantilesNode(_vector(args[0]), _string(args[1]), [_scalar(a) for a in args[2:]])
    if name == "histogram_fraction":
        classic = sem.compat >= PromQLCompat.V3
        return HistogramFractionNode(_scalar(args[0]), _scalar(args[1]), _vector(args[2]), classic=classic)
    if name in NATIVE_HISTOGRAM_FUNCTIONS or name == "start_timestamp":
        return NoDataNode(_vector(args[0]))
    if name == "info":
        selector = expr.args[1] if len(expr.args) > 1 else None
        if selector is not None and not isinstance(selector, promql_parser.VectorSelector):
            raise PromQLError("info(): the second argument must be a label selector")
        return InfoNode(_vector(args[0]), expr.args[0], selector, sem)
    if name == "label_replace":
        dst, replacement, src, regex = (_string(a) for a in args[1:5])
        return LabelReplaceNode(_vector(args[0]), dst, replacement, src, regex, dot_all=sem.regex_dot_all)
    if name == "label_join":
        return LabelJoinNode(_vector(args[0]), _string(args[1]), _string(args[2]), [_string(a) for a in args[3:]])
    if name in ("sort_by_label", "sort_by_label_desc"):
        return SortByLabelNode(_vector(args[0]), [_string(a) for a in args[1:]], descending=name.endswith("_desc"))
    if name == "double_exponential_smoothing":
        return SmoothingNode(_matrix(args[0]), _scalar(args[1]), _scalar(args[2]))
    raise PromQLError(f"function {name} is not supported")


def absent_labels(arg: promql_parser.Expr) -> Labels:
    """The labels absent() reports: those set by equality matchers, unless a label is matched twice."""
    while isinstance(arg, promql_parser.ParenExpr):
        arg = arg.expr
    if isinstance(arg, promql_parser.MatrixSelector):
        arg = arg.vector_selector
    if not isinstance(arg, promql_parser.VectorSelector):
        return ()
    labels: dict[str, str] = {}
    dropped: set[str] = set()
    for matcher in matchers_of(arg):
        if matcher.name == NAME:
            continue
        if matcher.op == promql_parser.MatchOp.Equal and matcher.name not in labels:
            labels[matcher.name] = matcher.value
        else:
            dropped.add(matcher.name)
    return tuple(sorted((k, v) for k, v in labels.items() if k not in dropped and v))
