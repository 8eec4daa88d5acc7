"""The checks file of `tripwired verify`: what a release must do to its metrics, kept under version control.

The shape follows Argo Rollouts' AnalysisTemplate metrics (`name`, a Prometheus `query`,
`success_condition` / `failure_condition`, `interval`, `count`, `failure_limit`,
`inconclusive_limit`, `consecutive_error_limit`, `initial_delay`), spelled in snake_case as the
rest of tripwired's YAML is. A condition may compare the `result` with the `baseline`: the same
query averaged over `baseline_window` before the release (Kayenta's and Keptn's relative
comparison), e.g. `result <= baseline * 1.10`.
"""

from __future__ import annotations

import ast
import math
import typing
from dataclasses import dataclass, field

import promql_parser

from agent.config.types import Duration

RESULT, BASELINE = "result", "baseline"
_NAMES = (RESULT, BASELINE)
_COMPARISONS = (ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq)
_ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div)
_UNARY = (ast.Not, ast.USub, ast.UAdd)
DEFAULT_BASELINE_WINDOW = Duration(30 * 60)
BASELINE_POINTS = 30  # subquery steps in the baseline window when no baseline_step is given


class PromQLQuery(str):
    """A PromQL expression, syntax-checked when the checks file is read."""


class Condition(str):
    """A boolean expression over `result` (and `baseline`), e.g. `result <= baseline * 1.10`.

    Comparisons, `and`, `or`, `not`, `+ - * /`, parentheses and numbers: Argo Rollouts' conditions
    without its indexing (a check's query returns one value).
    """

    @property
    def uses_baseline(self) -> bool:
        """Whether the condition needs the baseline value."""
        return any(isinstance(n, ast.Name) and n.id == BASELINE for n in ast.walk(_tree(self)))

    def holds(self, result: float, baseline: float | None) -> bool:
        """Evaluate the condition; `baseline` must be given when the condition uses it."""
        return bool(_evaluate(_tree(self).body, {RESULT: result, BASELINE: baseline}))


def parse_query(text: str) -> PromQLQuery:
    """A scalar converter for the config loader: the text, or ValueError naming the syntax problem."""
    try:
        promql_parser.parse(text)
    except ValueError as exc:
        raise ValueError(f"invalid PromQL: {exc}") from None
    return PromQLQuery(text)


def parse_condition(text: str) -> Condition:
    """A scalar converter for the config loader: the condition, or ValueError saying what is wrong in it."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"invalid condition {text!r}: {exc.msg}") from None
    for node in ast.walk(tree):
        _check_node(node, text)
    return Condition(text.strip())


def _check_node(node: ast.AST, text: str) -> None:
    allowed = (ast.Expression, ast.Compare, ast.BoolOp, ast.And, ast.Or, ast.BinOp, ast.UnaryOp, ast.Load)
    if isinstance(node, ast.Name) and node.id not in _NAMES:
        raise ValueError(f"invalid condition {text!r}: unknown name {node.id!r} (use result and baseline)")
    if isinstance(node, ast.Constant) and (isinstance(node.value, bool) or not isinstance(node.value, int | float)):
        raise ValueError(f"invalid condition {text!r}: {node.value!r} is not a number")
    if not isinstance(node, allowed + _COMPARISONS + _ARITHMETIC + _UNARY + (ast.Name, ast.Constant)):
        raise ValueError(f"invalid condition {text!r}: {type(node).__name__} is not allowed")


def _tree(condition: str) -> ast.Expression:
    return ast.parse(condition, mode="eval")


def _evaluate(node: ast.expr, names: dict[str, float | None]) -> float | bool:
    """Evaluate a checked condition tree (see `_check_node` for what it may hold)."""
    if isinstance(node, ast.Constant):
        return float(typing.cast(float, node.value))  # a number: `_check_node` refused anything else
    if isinstance(node, ast.Name):
        value = names[node.id]
        if value is None:
            raise ValueError(f"{node.id} is not known")
        return value
    if isinstance(node, ast.BoolOp):
        values = [bool(_evaluate(v, names)) for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand, names)
        return not operand if isinstance(node.op, ast.Not) else (-operand if isinstance(node.op, ast.USub) else operand)
    if isinstance(node, ast.BinOp):
        return _arithmetic(node.op, float(_evaluate(node.left, names)), float(_evaluate(node.right, names)))
    assert isinstance(node, ast.Compare)
    left = _evaluate(node.left, names)
    for op, right_node in zip(node.ops, node.comparators, strict=True):
        right = _evaluate(right_node, names)
        if not _compare(op, float(left), float(right)):
            return False
        left = right
    return True


def _arithmetic(op: ast.operator, left: float, right: float) -> float:
    if isinstance(op, ast.Add):
        return left + right
    if isinstance(op, ast.Sub):
        return left - right
    if isinstance(op, ast.Mult):
        return left * right
    if right == 0:  # PromQL's answer, not Python's ZeroDivisionError
        return math.nan if left == 0 else math.copysign(math.inf, left)
    return left / right


def _compare(op: ast.cmpop, left: float, right: float) -> bool:
    return {
        ast.Lt: left < right,
        ast.LtE: left <= right,
        ast.Gt: left > right,
        ast.GtE: left >= right,
        ast.Eq: left == right,
        ast.NotEq: left != right,
    }[type(op)]


@dataclass(frozen=True)
class CheckSpec:
    """One metric a release must move the right way, measured `count` times `interval` apart."""

    name: str
    query: PromQLQuery
    success_condition: Condition | None = None
    failure_condition: Condition | None = None
    interval: Duration | None = None  # between measurements; needed when count > 1
    count: int = 1
    initial_delay: Duration = Duration(0)
    failure_limit: int = 0  # failed measurements tolerated; one more fails the check
    inconclusive_limit: int = 0  # inconclusive measurements tolerated; one more makes it inconclusive
    consecutive_error_limit: int = 4  # query errors in a row tolerated (Argo Rollouts' default)
    baseline_window: Duration = DEFAULT_BASELINE_WINDOW  # before the release marker
    baseline_step: Duration | None = None  # default: baseline_window / 30

    def __post_init__(self) -> None:
        """Refuse combinations no single field can: no condition, count without interval, negative limits."""
        if not self.name:
            raise ValueError("name must not be empty")
        if self.success_condition is None and self.failure_condition is None:
            raise ValueError(f"check {self.name!r}: give a success_condition, a failure_condition or both")
        if self.count < 1:
            raise ValueError(f"check {self.name!r}: count must be at least 1, got {self.count}")
        if self.count > 1 and not self.interval:
            raise ValueError(f"check {self.name!r}: interval is needed to take {self.count} measurements")
        for limit in ("failure_limit", "inconclusive_limit", "consecutive_error_limit"):
            if getattr(self, limit) < 0:
                raise ValueError(f"check {self.name!r}: {limit} must not be negative")
        if self.baseline_window <= 0 or (self.baseline_step is not None and self.baseline_step <= 0):
            raise ValueError(f"check {self.name!r}: baseline_window and baseline_step must be positive")

    @property
    def conditions(self) -> list[Condition]:
        """The conditions given."""
        return [c for c in (self.success_condition, self.failure_condition) if c is not None]

    @property
    def uses_baseline(self) -> bool:
        """Whether a condition compares with the baseline before the release."""
        return any(c.uses_baseline for c in self.conditions)

    @property
    def step(self) -> float:
        """Seconds between the baseline's points."""
        return float(self.baseline_step) if self.baseline_step else float(self.baseline_window) / BASELINE_POINTS


@dataclass(frozen=True)
class ChecksFile:
    """A checks file: the list of checks one `tripwired verify` runs together."""

    checks: list[CheckSpec] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Refuse an empty file (it would pass vacuously) and repeated check names."""
        if not self.checks:
            raise ValueError("checks: no check given (a verification of nothing would pass vacuously)")
        names = [c.name for c in self.checks if c is not None]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"checks: names must be unique, repeated: {', '.join(duplicates)}")
