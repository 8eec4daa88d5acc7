"""Run promtool-format `promql_expr_test` cases against our engine, compared as cmd/promtool/unittest.go does.

Series are loaded like promtool's lazy loader: one point per interval from time 0, but only up to
the last evaluation step promtool reaches (the largest multiple of evaluation_interval not after
the latest eval_time of the group), since promtool loads samples step by step.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser
import yaml

from agent.model import Labels
from agent.promql import DEFAULT_SEMANTICS, Engine, EvalError, PromQLError, Semantics, VectorSample, parse_expr
from agent.promql.notation import parse_metric, parse_series
from agent.promql.values import split_name
from agent.store import Store

Sample = tuple[Labels, float]
ZERO = re.compile(r"0+[a-z]*")


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one expression test: None `problem` means it passed."""

    expr: str
    eval_time: str
    problem: str | None


def duration_ms(text: str | int | None, default_ms: int) -> int:
    """A promtool duration ("1m", "90s", "1h30m") in milliseconds."""
    if text is None:
        return default_ms
    if ZERO.fullmatch(str(text)):
        return 0  # promql_parser refuses zero durations; promtool's YAML accepts them
    delta = promql_parser.parse_duration(str(text))
    return int(delta.total_seconds() * 1000)


def run_file(path: Path, semantics: Semantics = DEFAULT_SEMANTICS) -> list[CaseResult]:
    """Every promql_expr_test of a test file, evaluated by our engine with `semantics`."""
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    eval_interval = duration_ms(document.get("evaluation_interval"), 60_000)
    results: list[CaseResult] = []
    for group in document.get("tests", []):
        results.extend(run_group(group, eval_interval, semantics))
    return results


def run_group(group: dict[str, Any], eval_interval: int, semantics: Semantics) -> list[CaseResult]:
    cases = group.get("promql_expr_test") or []
    times = [duration_ms(c.get("eval_time"), 0) for c in cases]
    times += [duration_ms(a.get("eval_time"), 0) for a in group.get("alert_rule_test") or []]
    loaded_until = (max(times, default=0) // eval_interval) * eval_interval
    store = load_series(group.get("input_series") or [], duration_ms(group.get("interval"), 60_000), loaded_until)
    engine = Engine(store, default_step_ms=eval_interval, semantics=semantics)
    return [run_case(engine, case) for case in cases]


def load_series(series: list[dict[str, str]], interval_ms: int, until_ms: int) -> Store:
    """A store holding the input series, as promtool has loaded them when it runs the expression tests."""
    store = Store(retention_ms=10**15)
    for entry in series:
        labels, values = parse_series(f"{entry['series']} {entry.get('values', '')}")
        name, rest = split_name(labels)
        for i, value in enumerate(values):
            if value is not None and i * interval_ms <= until_ms:
                store.append_point(name or "", rest, i * interval_ms, value)
    return store


def run_case(engine: Engine, case: dict[str, Any]) -> CaseResult:
    expr_text, eval_time = str(case["expr"]), str(case.get("eval_time", "0s"))
    try:
        got = evaluate(engine, expr_text, duration_ms(eval_time, 0))
    except (PromQLError, EvalError) as exc:
        return CaseResult(expr_text, eval_time, f"err: {exc}")
    expected = sorted((parse_metric(s.get("labels") or "{}"), float(s["value"])) for s in case.get("exp_samples") or [])
    if same_samples(expected, got):
        return CaseResult(expr_text, eval_time, None)
    return CaseResult(expr_text, eval_time, f"exp: {expected}\ngot: {got}")


def evaluate(engine: Engine, expr_text: str, t_ms: int) -> list[Sample]:
    """The result as promtool's query() shapes it: a scalar becomes one sample without labels."""
    value = engine.instant(parse_expr(expr_text, engine.semantics), t_ms)
    if isinstance(value, float):
        return [((), value)]
    if isinstance(value, list) and all(isinstance(s, VectorSample) for s in value):
        return sorted((s.labels, s.value) for s in value if isinstance(s, VectorSample))
    raise EvalError("rule result is not a vector or scalar")


def same_samples(expected: list[Sample], got: list[Sample]) -> bool:
    """reflect.DeepEqual on the sorted samples: exact floats, so NaN never equals NaN."""
    if len(expected) != len(got):
        return False
    return all(e[0] == g[0] and e[1] == g[1] and not math.isnan(e[1]) for e, g in zip(expected, got, strict=True))
