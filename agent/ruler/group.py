"""A rule group at run time: its rules, their state, and one evaluation at one timestamp.

As in Prometheus' rules/group.go, every rule of a group sees the same timestamp and the
rules run in file order, each writing its result before the next one runs, so a
recording rule can feed an alert in the same group and the same evaluation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import promql_parser
import structlog

from agent.clock import Clock
from agent.model import Alert, Sample
from agent.promql import Value, metric_names
from agent.promql.support import walk
from agent.ruler.alerting import ALERTS_FOR_STATE_METRIC, ALERTS_METRIC
from agent.ruler.deadline import next_change_ms
from agent.ruler.rulefile import GroupSpec, RuleKind, RuleSpec
from agent.ruler.rules import (
    AlertingRule,
    ExternalInfo,
    QueryEngine,
    RecordingRule,
    Rule,
    RuleError,
    RuleHealth,
    SampleSink,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class GroupEvaluation:
    """What one group evaluation produced for the manager."""

    alerts: tuple[Alert, ...]
    failures: int
    changed_names: frozenset[str]
    seconds_by_rule: Mapping[str, float] = field(default_factory=dict)


class Group:
    """A rule group with the state of its rules; evaluated by the manager or the test runner."""

    def __init__(self, spec: GroupSpec, *, default_interval_ms: int, external: ExternalInfo) -> None:
        self.spec = spec
        self.key = spec.key
        self.name = spec.name
        self.file = spec.file
        self.interval_ms = spec.interval_ms or default_interval_ms
        self.rules: list[Rule] = [self._rule(r, external) for r in spec.rules]
        self.reads = _reads(self.rules)
        self._shared = _share_expressions(self.rules)
        self.last_evaluation_ms: int | None = None
        self.last_duration_seconds = 0.0

    def _rule(self, spec: RuleSpec, external: ExternalInfo) -> Rule:
        if spec.kind is RuleKind.RECORD:
            return RecordingRule(spec, self.spec.limit)
        return AlertingRule(
            spec, group_key=self.key, limit=self.spec.limit, interval_ms=self.interval_ms, external=external
        )

    def source(self, index: int) -> str:
        """The store source of rule `index`: its series go stale when they vanish from its result."""
        return f"rule:{self.file}:{self.name}:{index}"

    def evaluate(self, ts_ms: int, engine: QueryEngine, sink: SampleSink, clock: Clock) -> GroupEvaluation:
        """Evaluate every rule, in order, at `ts_ms` less the group's query_offset."""
        started = clock.monotonic()
        query_ms = ts_ms - self.spec.query_offset_ms
        alerts: list[Alert] = []
        failures = 0
        changed: set[str] = set()
        seconds: dict[str, float] = {}
        queries = SharedResults(engine, self._shared) if self._shared else engine
        for index, rule in enumerate(self.rules):
            rule_started = clock.monotonic()
            try:
                samples = self._evaluate_rule(rule, queries, query_ms, alerts)
            except RuleError as exc:
                failures += 1
                rule.health = RuleHealth("err", str(exc), ts_ms)
            except Exception as exc:  # a bug in one rule's evaluation must not stop the others
                log.error("rule_evaluation_crashed", group=self.key, rule=rule.name, error=repr(exc))
                failures += 1
                rule.health = RuleHealth("err", f"internal error: {exc!r}", ts_ms)
            else:
                changed |= sink.write(self.source(index), samples, query_ms).changed_names
                if isinstance(queries, SharedResults):
                    queries.written(_writes(rule))
                rule.health = RuleHealth("ok", "", ts_ms)
            rule.health.evaluation_seconds = clock.monotonic() - rule_started
            seconds[rule.name] = seconds.get(rule.name, 0.0) + rule.health.evaluation_seconds
        self.last_evaluation_ms = ts_ms
        self.last_duration_seconds = clock.monotonic() - started
        return GroupEvaluation(tuple(alerts), failures, frozenset(changed), seconds)

    @staticmethod
    def _evaluate_rule(rule: Rule, engine: QueryEngine, ts_ms: int, alerts: list[Alert]) -> list[Sample]:
        if isinstance(rule, RecordingRule):
            return rule.evaluate(engine, ts_ms)
        samples, to_send = rule.evaluate(engine, ts_ms)
        alerts.extend(to_send)
        return samples

    def next_change_ms(self, engine: QueryEngine, ts_ms: int) -> int | None:
        """When the alerts of this group change next by time alone (see agent/ruler/deadline.py)."""
        moments = [next_change_ms(rule, engine, ts_ms) for rule in self.alerting_rules()]
        return min((m for m in moments if m is not None), default=None)

    def alerting_rules(self) -> list[AlertingRule]:
        """The group's alerting rules, in file order."""
        return [r for r in self.rules if isinstance(r, AlertingRule)]

    def copy_state_from(self, old: Group) -> None:
        """Take over the alerts of `old`'s rules of the same name and position among namesakes."""
        previous = dict(_keyed_alerting_rules(old))
        for key, rule in _keyed_alerting_rules(self):
            match = previous.get(key)
            if match is not None:
                rule.active = match.active
        self.last_evaluation_ms = old.last_evaluation_ms


class SharedResults:
    """The engine as one group evaluation sees it: a rule whose expression an earlier rule had gets its result.

    Rules with the same expression text share one parsed expression (`_share_expressions`); within
    one evaluation, at one time, its result is worked out once, until a rule writes a metric it
    reads (a recording rule feeding it, ALERTS for an expression on alerts). Warning and critical
    twins of a rule, differing in `for` or labels only, query once.
    """

    def __init__(self, engine: QueryEngine, reads: Mapping[int, frozenset[str] | None]) -> None:
        self.engine = engine
        self.reads = reads  # by id() of each shared expression: the names it reads, None when not known
        self._results: dict[int, tuple[promql_parser.Expr, int, Value]] = {}
        self._readers: dict[str | None, set[int]] = {}  # the results that read each name (None: any)

    def instant(self, expr: promql_parser.Expr, t_ms: int) -> Value:
        """The engine's result, or the one an earlier rule got for the same expression at `t_ms`."""
        key = id(expr)
        if key not in self.reads:
            return self.engine.instant(expr, t_ms)
        known = self._results.get(key)
        if known is not None and known[0] is expr and known[1] == t_ms:
            return known[2]
        value = self.engine.instant(expr, t_ms)
        self._results[key] = (expr, t_ms, value)
        reads = self.reads[key]
        for name in (None,) if reads is None else reads:
            self._readers.setdefault(name, set()).add(key)
        return value

    def written(self, names: frozenset[str]) -> None:
        """A rule wrote these metric names: results that may read them are worked out again."""
        for name in (None, *names):
            for key in self._readers.pop(name, ()):
                self._results.pop(key, None)


def _share_expressions(rules: Sequence[Rule]) -> dict[int, frozenset[str] | None]:
    """Give rules with the same expression text one parsed expression; the names each such expression reads.

    Keyed by id() of the expression, which the rules keep alive.
    """
    by_text: dict[str, Rule] = {}
    shared: dict[int, frozenset[str] | None] = {}
    for rule in rules:
        first = by_text.setdefault(rule.spec.expr, rule)
        if first is not rule:
            rule.expr = first.expr
            shared[id(first.expr)] = _reads_of(first.expr)
    return shared


def _reads_of(expr: promql_parser.Expr) -> frozenset[str] | None:
    """The metric names `expr` reads; None when not known (a selector without a fixed name, info())."""
    names = metric_names(expr)
    if names is None or any(isinstance(node, promql_parser.Call) and node.func.name == "info" for node in walk(expr)):
        return None
    return frozenset(names)


def _writes(rule: Rule) -> frozenset[str]:
    """The metric names a rule's results are written under (its staleness markers too)."""
    if isinstance(rule, RecordingRule):
        return frozenset((rule.name,))
    return frozenset((ALERTS_METRIC, ALERTS_FOR_STATE_METRIC))


def alert_rule_keys(group: Group) -> list[tuple[str, AlertingRule]]:
    """Each alerting rule with a stable key, `name` or `name#n` for the n-th namesake."""
    return list(_keyed_alerting_rules(group))


def _keyed_alerting_rules(group: Group) -> Iterable[tuple[str, AlertingRule]]:
    seen: dict[str, int] = {}
    for rule in group.alerting_rules():
        count = seen.get(rule.name, 0)
        seen[rule.name] = count + 1
        yield (rule.name if count == 0 else f"{rule.name}#{count}"), rule


def _reads(rules: Sequence[Rule]) -> frozenset[str] | None:
    names: set[str] = set()
    for rule in rules:
        found = metric_names(rule.expr)
        if found is None:
            return None
        names |= found
    return frozenset(names)
