"""`tripwired rules check|test`: promtool's rule checks and rule unit tests, with its verdicts and output.

The evaluation follows cmd/promtool/unittest.go: input series at multiples of the test
group's interval, loaded lazily as promtool's loader does (before each evaluation, the points
up to its time, so nothing sees a point from its future), every group evaluated (in
`group_eval_order`) at 0, one evaluation interval, ... up to the largest eval_time; each alert
test is compared with the evaluation at or just before its eval_time (firing alerts only), each
PromQL test is an instant query at its eval_time over the input series plus everything the rules
wrote.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TextIO

from agent.clock import SystemClock
from agent.gocompat.duration import format_duration, format_go_duration
from agent.gocompat.strconv import format_float
from agent.model import AlertState, Labels, go_quote
from agent.promql import (
    DEFAULT_SEMANTICS,
    Engine,
    EvalError,
    PromQLCompat,
    PromQLError,
    RangeSeries,
    Semantics,
    parse_expr,
)
from agent.promql.notation import parse_metric, parse_series
from agent.ruler.gofmt import indent_lines, labels_string
from agent.ruler.group import Group
from agent.ruler.rulefile import RuleFileError, load_rule_file, load_rule_files
from agent.ruler.rules import ExternalInfo
from agent.ruler.testfile import AlertTest, PromQLTest, TestFile, TestFileError, TestGroup, load_test_file
from agent.store import Store
from agent.testreport import report_files

# Rule tests hold every point they load: nothing is ever compacted away.
_TEST_STORE_SERIES = 10_000_000
# Evaluations per test group: about two years at promtool's default one-minute evaluation_interval.
MAX_EVALUATION_STEPS = 1_000_000


def check_rules(files: Sequence[str], out: TextIO, semantics: Semantics = DEFAULT_SEMANTICS) -> int:
    """Check rule files like `promtool check rules`: 0 when all are valid, 1 otherwise."""
    failed = False
    for path in files:
        out.write(f"Checking {path}\n")
        try:
            groups = load_rule_file(path, semantics)
        except RuleFileError as exc:
            out.write("  FAILED:\n" + "".join(f"{e}\n" for e in exc.errors))
            failed = True
        else:
            out.write(f"  SUCCESS: {sum(len(g.rules) for g in groups)} rules found\n")
        out.write("\n")
    return 1 if failed else 0


def test_rules(files: Sequence[str], out: TextIO, semantics: Semantics = DEFAULT_SEMANTICS) -> int:
    """Run rule unit-test files like `promtool test rules`: 0 when all pass, 1 otherwise."""
    return report_files(files, lambda path: run_test_file(path, out, semantics), out)


def run_test_file(path: str, out: TextIO, semantics: Semantics = DEFAULT_SEMANTICS) -> list[str]:
    """Every failure of one test file, as promtool words them; empty when it passes."""
    try:
        spec = load_test_file(path, semantics)
    except TestFileError as exc:
        return exc.errors
    for pattern in spec.unmatched_patterns:
        out.write(f"  WARNING: no file match pattern {pattern}\n")
    order: dict[str, int] = {}
    for index, name in enumerate(spec.group_eval_order):
        if name in order:
            return [f"group name repeated in evaluation order: {name}"]
        order[name] = index
    errors: list[str] = []
    for group in spec.tests:
        errors.extend(_TestRun(spec, group, order, semantics).run())
    return errors


@dataclass(frozen=True, slots=True)
class _Got:
    """A firing alert as the comparison sees it (promtool's labelAndAnnotation)."""

    labels: Labels
    annotations: Labels

    def __str__(self) -> str:
        return f"Labels:{labels_string(self.labels)}\nAnnotations:{labels_string(self.annotations)}"


class _TestRun:
    """One test group: its own store, engine and freshly loaded rule groups."""

    def __init__(self, spec: TestFile, group: TestGroup, order: Mapping[str, int], semantics: Semantics) -> None:
        self.spec = spec
        self.test = group
        self.order = order
        self.semantics = semantics
        # promtool 3 loads input series with unquoted UTF-8 names allowed (promqltest's parser options).
        self.utf8_names = semantics.compat != PromQLCompat.V2
        self.start = group.start_ms
        self.store = Store(max_series=_TEST_STORE_SERIES, retention_ms=2**62)
        self.engine = Engine(self.store, default_step_ms=spec.evaluation_interval_ms, semantics=semantics)
        self.clock = SystemClock()
        self.prefix = f"    name: {group.name},\n" if group.name else ""
        self.unloaded: list[tuple[int, str, Labels, float]] = []  # (time, name, labels, value), by time

    def run(self) -> list[str]:
        errors = self._load_series() or self._missing_alertname()
        if errors:
            return errors
        try:
            groups = self._load_groups()
        except RuleFileError as exc:
            return exc.errors
        errors, failed = self._evaluate(groups)
        if failed:
            return errors  # promtool stops a test group at the first evaluation that fails
        errors.extend(e for t in self.test.promql_tests if (e := self._check_promql(t)) is not None)
        return errors

    def _missing_alertname(self) -> list[str]:
        for alert_test in self.test.alert_tests:
            if not alert_test.alertname:
                suffix = f" (in TestGroup {self.test.name})" if self.test.name else ""
                return [
                    f"an item under alert_rule_test misses required attribute alertname at eval_time "
                    f"{format_duration(alert_test.eval_time_ms)}{suffix}"
                ]
        return []

    def _load_groups(self) -> list[Group]:
        """The rule groups in `group_eval_order`; unnamed groups rank with the first, as in promtool."""
        specs = load_rule_files(list(self.spec.rule_files), self.semantics)
        external = ExternalInfo(tuple(sorted(self.test.external_labels.items())), self.test.external_url)
        interval = self.test.interval_ms or self.spec.evaluation_interval_ms
        groups = [Group(s, default_interval_ms=interval, external=external) for s in specs]
        groups.sort(key=lambda g: self.order.get(g.name, 0))
        return groups

    def _load_series(self) -> list[str]:
        """Read the input series into points waiting to be loaded; an error when one does not parse."""
        step = self.test.interval_ms
        evaluation = self.spec.evaluation_interval_ms
        until = self.test.max_eval_time_ms() // evaluation * evaluation
        for item in self.test.input_series:
            try:
                labels, values = parse_series(f"{item.series} {item.values}", self.utf8_names)
            except (PromQLError, ValueError) as exc:
                return [f"input series {item.series!r}: {exc}"]
            name = dict(labels).get("__name__", "")
            rest = tuple((k, v) for k, v in labels if k != "__name__")
            last = -1
            for index, value in enumerate(values):
                # With no interval every point lands at 0; the first one wins, as in promtool.
                if index * step > until:
                    break  # promtool never loads what lies past its last evaluation step
                if value is not None and index * step > last:
                    self.unloaded.append((index * step, name, rest, value))
                    last = index * step
        self.unloaded.sort(key=lambda point: point[0])  # stable: each series stays in time order
        self.unloaded.reverse()  # so the earliest point pops first
        return []

    def _load_till(self, ts: int) -> None:
        """Append the points up to ts, as promtool's LazyLoader.WithSamplesTill does before an evaluation."""
        while self.unloaded and self.unloaded[-1][0] <= ts:
            t, name, labels, value = self.unloaded.pop()
            self.store.append_point(name, labels, self.start + t, value)

    def _evaluate(self, groups: Sequence[Group]) -> tuple[list[str], bool]:
        """Evaluate all groups at every step, checking alert tests as their eval_time comes.

        Returns the failures and whether a rule evaluation failed (which ends the test group).
        """
        step = self.spec.evaluation_interval_ms
        steps = self.test.max_eval_time_ms() // step + 1
        if steps > MAX_EVALUATION_STEPS:  # promtool would run for ages; a typo (10y for 10m) must not hang CI
            latest = format_duration(self.test.max_eval_time_ms())
            interval = format_duration(step)
            return [
                f"eval_time {latest} needs {steps} evaluations every {interval}; at most {MAX_EVALUATION_STEPS}"
            ], True
        due = sorted({t.eval_time_ms for t in self.test.alert_tests})
        errors: list[str] = []
        ts = 0
        while ts <= self.test.max_eval_time_ms():
            self._load_till(ts)
            failures = self._evaluate_at(groups, ts)  # ts counts from the start; the store is absolute
            if failures:
                return errors + failures, True
            while due and ts <= due[0] < ts + step:
                errors.extend(self._check_alerts(groups, due.pop(0)))
            ts += step
        return errors, False

    def _evaluate_at(self, groups: Sequence[Group], ts: int) -> list[str]:
        failures: list[str] = []
        for group in groups:
            group.evaluate(self.start + ts, self.engine, self.store, self.clock)
            failures.extend(
                f"    rule: {rule.name}, time: {format_go_duration(ts)}, err: {rule.health.last_error}"
                for rule in group.rules
                if rule.health.health == "err"
            )
        return failures

    def _check_alerts(self, groups: Sequence[Group], eval_time: int) -> list[str]:
        tests = [t for t in self.test.alert_tests if t.eval_time_ms == eval_time]
        names = {t.alertname for t in tests}
        got: dict[str, list[_Got]] = {}
        for group in groups:
            for rule in group.alerting_rules():
                if rule.name in names:
                    got.setdefault(rule.name, []).extend(
                        _Got(a.labels, a.annotations)
                        for a in rule.active.values()
                        if a.state is AlertState.FIRING and a.resolved_at_ms is None
                    )
        return [e for t in tests if (e := self._compare_alerts(t, got.get(t.alertname, []))) is not None]

    def _compare_alerts(self, test: AlertTest, got: list[_Got]) -> str | None:
        expected = [
            _Got(tuple(sorted({**e.labels, "alertname": test.alertname}.items())), tuple(sorted(e.annotations.items())))
            for e in test.expected
        ]
        expected.sort(key=lambda a: (a.labels, a.annotations))
        got = sorted(got, key=lambda a: (a.labels, a.annotations))
        if expected == got:
            return None
        exp_text = indent_lines(_alerts_string(expected), " " * 12)
        got_text = indent_lines(_alerts_string(got), " " * 12)
        return (
            f"{self.prefix}    alertname: {test.alertname}, time: {format_duration(test.eval_time_ms)}, \n"
            f"        exp:{exp_text}, \n        got:{got_text}"
        )

    def _check_promql(self, test: PromQLTest) -> str | None:
        where = f"    expr: {go_quote(test.expr)}, time: {format_duration(test.eval_time_ms)}"
        try:
            got = _query(self.engine, test.expr, self.start + test.eval_time_ms, self.semantics)
        except (PromQLError, EvalError) as exc:
            return f"{where}, err: {exc}"
        try:
            expected = sorted(((parse_metric(s.labels), s.value) for s in test.expected), key=_by_labels)
        except PromQLError as exc:
            return f"{where}, err: labels: {exc}"
        got.sort(key=_by_labels)
        if _same_samples(expected, got, fuzzy=self.spec.fuzzy_compare):
            return None
        return f"{where},\n        exp: {_samples_string(expected)}\n        got: {_samples_string(got)}"


def _query(engine: Engine, expr: str, t_ms: int, semantics: Semantics) -> list[tuple[Labels, float]]:
    result = engine.instant(parse_expr(expr, semantics), t_ms)
    if isinstance(result, float | int):
        return [((), float(result))]
    if isinstance(result, str) or any(isinstance(item, RangeSeries) for item in result):
        raise EvalError("rule result is not a vector or scalar")
    return [(s.labels, s.value) for s in result if not isinstance(s, RangeSeries)]


def _same_samples(expected: list[tuple[Labels, float]], got: list[tuple[Labels, float]], *, fuzzy: bool) -> bool:
    """Labels equal and values exactly equal, as reflect.DeepEqual compares them (NaN never equals);
    with promtool 3's fuzzy_compare, values one ulp apart are equal too."""
    return len(expected) == len(got) and all(
        e_labels == g_labels and (e_value == g_value or (fuzzy and _one_ulp_apart(e_value, g_value)))
        for (e_labels, e_value), (g_labels, g_value) in zip(expected, got, strict=True)
    )


def _one_ulp_apart(x: float, y: float) -> bool:
    return math.nextafter(x, -math.inf) == y or math.nextafter(x, math.inf) == y


def _by_labels(sample: tuple[Labels, float]) -> Labels:
    return sample[0]


def _alerts_string(alerts: Sequence[_Got]) -> str:
    """labelsAndAnnotations.String() of promtool."""
    if not alerts:
        return "[]"
    parts = [f"{i}:" + indent_lines("\n" + str(a), "  ") for i, a in enumerate(alerts)]
    return "[\n" + ",\n".join(parts) + "\n]"


def _samples_string(samples: Sequence[tuple[Labels, float]]) -> str:
    if not samples:
        return "nil"
    return ", ".join(f"{labels_string(labels)} {format_float(value, 'E')}" for labels, value in samples)
