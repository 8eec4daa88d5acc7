"""promtool's rule unit-test file format -> typed test groups (cmd/promtool/unittest.go's schema).

The dataclasses below are the schema, read by the schema layer (agent/yamlschema): unknown and
repeated keys are errors, as promtool's strict YAML decoding makes them, and every error names
the file, line and field. Durations are kept in milliseconds.
"""

from __future__ import annotations

import glob
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from agent.gocompat.duration import parse_duration
from agent.promql import DEFAULT_SEMANTICS, PromQLCompat, Semantics
from agent.yamlschema import PROMTOOL_STYLE, Builder, Report, SchemaError, compose, read_document

DEFAULT_EVALUATION_INTERVAL_MS = 60_000
PROMTOOL3 = "promtool3"  # the fields promtool 3 added: fuzzy_compare, start_timestamp, histogram samples

# The one error type of the schema layer, under the name the rule-test runner knows.
TestFileError = SchemaError


def _start_ms(text: str) -> int:
    """A start time as promtool's parseTime reads it: Unix seconds (possibly fractional) or RFC 3339."""
    if text == "":
        return 0
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise ValueError(f"cannot parse {text!r} to a valid timestamp") from None
    if not math.isfinite(seconds):
        raise ValueError(f"cannot parse {text!r} to a valid timestamp")
    return round(seconds * 1000)


def _sample_value(text: str) -> float:
    """An expected value: a Go float, YAML's `.inf`/`.nan`, or a YAML integer (`0x10`, `1_000`)."""
    special = {"nan": "nan", "+inf": "inf", "inf": "inf", "-inf": "-inf", ".nan": "nan", ".inf": "inf", "-.inf": "-inf"}
    try:
        return float(special.get(text.lower(), text))
    except ValueError:
        pass
    try:
        return float(int(text.replace("_", ""), 0))
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None


def _duration(key: str, *, feature: str | None = None) -> int:
    """A duration field written `key` in the file, in milliseconds (0 when absent)."""
    metadata = {"key": key, "parse": parse_duration} | ({"feature": feature} if feature else {})
    result: int = field(default=0, metadata=metadata)
    return result


@dataclass(frozen=True, slots=True)
class InputSeries:
    """One `input_series` item: a series and its values in promtool's expanding notation."""

    series: str = ""
    values: str = ""


@dataclass(frozen=True, slots=True)
class ExpectedAlert:
    """One `exp_alerts` item."""

    labels: Mapping[str, str] = field(default_factory=dict, metadata={"key": "exp_labels"})
    annotations: Mapping[str, str] = field(default_factory=dict, metadata={"key": "exp_annotations"})


@dataclass(frozen=True, slots=True)
class AlertTest:
    """One `alert_rule_test` item: the alerts firing at eval_time."""

    eval_time_ms: int = _duration("eval_time")
    alertname: str = ""
    expected: tuple[ExpectedAlert, ...] = field(default=(), metadata={"key": "exp_alerts"})


@dataclass(frozen=True, slots=True)
class ExpectedSample:
    """One `exp_samples` item."""

    labels: str = ""
    value: float = field(default=0.0, metadata={"parse": _sample_value})
    histogram: str = field(default="", compare=False, metadata={"feature": PROMTOOL3})

    def __post_init__(self) -> None:
        """Refuse native-histogram samples, which tripwired does not support."""
        if self.histogram:
            raise ValueError("histogram: native histograms are not supported by tripwired")


@dataclass(frozen=True, slots=True)
class PromQLTest:
    """One `promql_expr_test` item: an instant query and the samples it must return."""

    expr: str = ""
    eval_time_ms: int = _duration("eval_time")
    expected: tuple[ExpectedSample, ...] = field(default=(), metadata={"key": "exp_samples"})


@dataclass(frozen=True, slots=True)
class TestGroup:
    """One entry of `tests:`: input series and the checks made against them."""

    interval_ms: int = _duration("interval")
    input_series: tuple[InputSeries, ...] = ()
    alert_tests: tuple[AlertTest, ...] = field(default=(), metadata={"key": "alert_rule_test"})
    promql_tests: tuple[PromQLTest, ...] = field(default=(), metadata={"key": "promql_expr_test"})
    external_labels: Mapping[str, str] = field(default_factory=dict)
    external_url: str = ""
    name: str = ""
    # start_timestamp (promtool 3): series, evaluations and eval_times count from it
    start_ms: int = field(default=0, metadata={"key": "start_timestamp", "parse": _start_ms, "feature": PROMTOOL3})

    def max_eval_time_ms(self) -> int:
        """The latest eval_time of the group's tests."""
        times = [t.eval_time_ms for t in self.alert_tests] + [t.eval_time_ms for t in self.promql_tests]
        return max(times, default=0)


@dataclass(frozen=True, slots=True)
class _Document:
    """The file as written (promtool's unitTestFile), before rule file patterns are resolved."""

    rule_files: list[str] = field(default_factory=list)
    evaluation_interval_ms: int = _duration("evaluation_interval")
    group_eval_order: list[str] = field(default_factory=list)
    tests: list[TestGroup] = field(default_factory=list)
    fuzzy_compare: bool = field(default=False, metadata={"feature": PROMTOOL3})


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
    """Read and check a rule test file; TestFileError with every problem, each with file, line and field."""
    report = Report(path, PROMTOOL_STYLE)
    root = compose(read_document(path, "rule test file"), report)
    features = [PROMTOOL3] if semantics.compat >= PromQLCompat.V3 else []
    document: _Document = Builder(report, features=features).build(_Document, root, "")
    report.raise_if_any()  # so the document was built
    rule_files, unmatched = _resolve(os.path.dirname(path), document.rule_files)
    return TestFile(
        rule_files=tuple(rule_files),
        unmatched_patterns=tuple(unmatched),
        evaluation_interval_ms=document.evaluation_interval_ms or DEFAULT_EVALUATION_INTERVAL_MS,
        group_eval_order=tuple(document.group_eval_order),
        tests=tuple(document.tests),
        fuzzy_compare=document.fuzzy_compare,
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
