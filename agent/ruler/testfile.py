"""promtool's rule unit-test file format -> typed test groups (cmd/promtool/unittest.go's schema).

Unknown keys are errors, as promtool's strict YAML decoding makes them. Durations are
kept in milliseconds.
"""

from __future__ import annotations

import glob
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from agent.promql import DEFAULT_SEMANTICS, PromQLCompat, Semantics
from agent.ruler.duration import parse_duration_ms

DEFAULT_EVALUATION_INTERVAL_MS = 60_000

_FILE_KEYS = frozenset({"rule_files", "evaluation_interval", "group_eval_order", "tests"})
_GROUP_KEYS = frozenset(
    {"interval", "input_series", "alert_rule_test", "promql_expr_test", "external_labels", "external_url", "name"}
)
_SERIES_KEYS = frozenset({"series", "values"})
_ALERT_TEST_KEYS = frozenset({"eval_time", "alertname", "exp_alerts"})
_EXP_ALERT_KEYS = frozenset({"exp_labels", "exp_annotations"})
_PROMQL_TEST_KEYS = frozenset({"expr", "eval_time", "exp_samples"})
_SAMPLE_KEYS = frozenset({"labels", "value"})
# The fields promtool 3 added: one-ulp float comparison, a start time, native-histogram samples.
_FILE_KEYS_3 = _FILE_KEYS | {"fuzzy_compare"}
_GROUP_KEYS_3 = _GROUP_KEYS | {"start_timestamp"}
_SAMPLE_KEYS_3 = _SAMPLE_KEYS | {"histogram"}


class TestFileError(Exception):
    """A test file that cannot be read or does not follow the format."""


@dataclass(frozen=True, slots=True)
class InputSeries:
    """One `input_series` entry: a series selector and its values in expanding notation (`1+2x10`)."""

    series: str
    values: str


@dataclass(frozen=True, slots=True)
class ExpectedAlert:
    """One alert an `alert_rule_test` expects to be firing: its labels and annotations."""

    labels: Mapping[str, str]
    annotations: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class AlertTest:
    """One `alert_rule_test`: the alerts of `alertname` expected firing at `eval_time_ms` (milliseconds)."""

    eval_time_ms: int
    alertname: str
    expected: tuple[ExpectedAlert, ...]


@dataclass(frozen=True, slots=True)
class ExpectedSample:
    """One sample a `promql_expr_test` expects: its series as text and its value."""

    labels: str
    value: float


@dataclass(frozen=True, slots=True)
class PromQLTest:
    """One `promql_expr_test`: an expression and the samples it must return at `eval_time_ms`."""

    expr: str
    eval_time_ms: int
    expected: tuple[ExpectedSample, ...]


@dataclass(frozen=True, slots=True)
class TestGroup:
    """One entry of `tests:`: input series and the checks made against them."""

    interval_ms: int
    input_series: tuple[InputSeries, ...]
    alert_tests: tuple[AlertTest, ...]
    promql_tests: tuple[PromQLTest, ...]
    external_labels: Mapping[str, str] = field(default_factory=dict)
    external_url: str = ""
    name: str = ""
    start_ms: int = 0  # start_timestamp (promtool 3): series, evaluations and eval_times count from it

    def max_eval_time_ms(self) -> int:
        """The latest evaluation time any test of the group asks for, in milliseconds (0 when none)."""
        times = [t.eval_time_ms for t in self.alert_tests] + [t.eval_time_ms for t in self.promql_tests]
        return max(times, default=0)


@dataclass(frozen=True, slots=True)
class TestFile:
    """A whole test file, rule file paths resolved against its directory and globbed."""

    rule_files: tuple[str, ...]
    unmatched_patterns: tuple[str, ...]
    evaluation_interval_ms: int
    group_eval_order: tuple[str, ...]
    tests: tuple[TestGroup, ...]
    fuzzy_compare: bool = False  # promtool 3: floats one ulp apart compare equal


def load_test_file(path: str, semantics: Semantics = DEFAULT_SEMANTICS) -> TestFile:
    """Read and check a rule test file; TestFileError on the first problem, as promtool stops too."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise TestFileError(f"{path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise TestFileError(f"{path}: invalid YAML: {exc}") from exc
    except RecursionError as exc:  # PyYAML composes recursively
        raise TestFileError(f"{path}: invalid YAML: nested too deeply") from exc
    v3 = semantics.compat >= PromQLCompat.V3
    top = _mapping(data if data is not None else {}, _FILE_KEYS_3 if v3 else _FILE_KEYS, "test file")
    rule_files, unmatched = _resolve(os.path.dirname(path), [str(p) for p in _list(top.get("rule_files"))])
    return TestFile(
        rule_files=tuple(rule_files),
        unmatched_patterns=tuple(unmatched),
        evaluation_interval_ms=_duration(top.get("evaluation_interval")) or DEFAULT_EVALUATION_INTERVAL_MS,
        group_eval_order=tuple(str(g) for g in _list(top.get("group_eval_order"))),
        tests=tuple(_test_group(item, v3) for item in _list(top.get("tests"))),
        fuzzy_compare=top.get("fuzzy_compare") is True,
    )


def _resolve(base_dir: str, patterns: list[str]) -> tuple[list[str], list[str]]:
    files: list[str] = []
    unmatched: list[str] = []
    for pattern in patterns:
        full = pattern if not pattern or os.path.isabs(pattern) else os.path.join(base_dir, pattern)
        matches = sorted(glob.glob(full))
        if not matches:
            unmatched.append(full)
        files.extend(matches)
    return files, unmatched


def _test_group(data: Any, v3: bool) -> TestGroup:
    group = _mapping(data, _GROUP_KEYS_3 if v3 else _GROUP_KEYS, "test group")
    return TestGroup(
        interval_ms=_duration(group.get("interval")),
        input_series=tuple(_series(s) for s in _list(group.get("input_series"))),
        alert_tests=tuple(_alert_test(a) for a in _list(group.get("alert_rule_test"))),
        promql_tests=tuple(_promql_test(p, v3) for p in _list(group.get("promql_expr_test"))),
        external_labels=_strings(group.get("external_labels")),
        external_url=str(group.get("external_url") or ""),
        name=str(group.get("name") or ""),
        start_ms=_start_ms(group.get("start_timestamp")),
    )


def _start_ms(data: Any) -> int:
    """promtool's parseTime: Unix seconds (possibly fractional) or RFC 3339."""
    if data is None or data == "":
        return 0
    text = str(data)
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise TestFileError(f"cannot parse {text!r} to a valid timestamp") from None
    if not math.isfinite(seconds):
        raise TestFileError(f"cannot parse {text!r} to a valid timestamp")
    return round(seconds * 1000)


def _series(data: Any) -> InputSeries:
    item = _mapping(data, _SERIES_KEYS, "input_series item")
    return InputSeries(str(item.get("series") or ""), str(item.get("values") or ""))


def _alert_test(data: Any) -> AlertTest:
    item = _mapping(data, _ALERT_TEST_KEYS, "alert_rule_test item")
    expected = []
    for exp in _list(item.get("exp_alerts")):
        fields = _mapping(exp, _EXP_ALERT_KEYS, "exp_alerts item")
        expected.append(ExpectedAlert(_strings(fields.get("exp_labels")), _strings(fields.get("exp_annotations"))))
    return AlertTest(_duration(item.get("eval_time")), str(item.get("alertname") or ""), tuple(expected))


def _promql_test(data: Any, v3: bool) -> PromQLTest:
    item = _mapping(data, _PROMQL_TEST_KEYS, "promql_expr_test item")
    samples = []
    for exp in _list(item.get("exp_samples")):
        fields = _mapping(exp, _SAMPLE_KEYS_3 if v3 else _SAMPLE_KEYS, "exp_samples item")
        if fields.get("histogram"):
            raise TestFileError("exp_samples histogram: native histograms are not supported by tripwired")
        samples.append(ExpectedSample(str(fields.get("labels") or ""), _float(fields.get("value", 0))))
    return PromQLTest(str(item.get("expr") or ""), _duration(item.get("eval_time")), tuple(samples))


def _mapping(data: Any, known: frozenset[str], what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TestFileError(f"{what}: expected a mapping, got {data!r}")
    unknown = sorted(str(k) for k in data if k not in known)
    if unknown:
        raise TestFileError(f"{what}: field {unknown[0]} not found (known: {', '.join(sorted(known))})")
    return data


def _list(data: Any) -> list[Any]:
    if data is None:
        return []
    if not isinstance(data, list):
        raise TestFileError(f"expected a list, got {data!r}")
    return data


def _strings(data: Any) -> dict[str, str]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise TestFileError(f"expected a mapping of names to strings, got {data!r}")
    return {str(k): _text(v) for k, v in data.items()}


def _text(value: Any) -> str:
    """A scalar as the text YAML had (true, not True)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _duration(data: Any) -> int:
    if data is None:
        return 0
    try:
        return parse_duration_ms(str(data))
    except ValueError as exc:
        raise TestFileError(str(exc)) from exc


def _float(data: Any) -> float:
    text = str(data)
    special = {"nan": "nan", "+inf": "inf", "inf": "inf", "-inf": "-inf", ".nan": "nan", ".inf": "inf", "-.inf": "-inf"}
    try:
        return float(special.get(text.lower(), text))
    except ValueError as exc:
        raise TestFileError(f"exp_samples value: expected a number, got {text!r}") from exc
