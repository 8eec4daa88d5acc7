"""Convert Prometheus' promqltest files (promql/promqltest/testdata/*.test) to promtool rule-test files.

Used by tests/promql/test_promqltest.py, and by hand to look at the cases one by one:

    .venv/bin/python tests/promql/promqltest_convert.py OUT_DIR TESTDATA/*.test

Each `load` block (up to a `clear`) becomes a test group with its series, each `eval instant at T
EXPR` with its expected samples a promql_expr_test, each `eval range from A to B step S EXPR` one
promql_expr_test per step with that step's values, and each expected failure a promql_expr_test
without samples (promtool and tripwired must then fail with the same message). Left out, and
counted by reason: warnings-only cases, native histograms, string and range-vector results, NaN
expectations (never equal in promtool's comparison), range evaluations that use the query's start,
end or step, strings with bytes that are not UTF-8, groups whose loads use different intervals and
groups with start-timestamp series (`name@st`, which a rule-test file cannot carry).
"""

from __future__ import annotations

import collections
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agent.gocompat.duration import format_duration, parse_duration
from agent.promql.errors import PromQLError
from agent.promql.notation import parse_values

EVAL = re.compile(r"^eval(?:_ordered|_fail)?\s+instant\s+at\s+(\S+)\s+(.+)$")
EVAL_RANGE = re.compile(r"^eval(?:_ordered|_fail)?\s+range\s+from\s+(\S+)\s+to\s+(\S+)\s+step\s+(\S+)\s+(.+)$")
# A string escape of a byte that is not UTF-8 on its own: Go's strings are bytes, Python's are text,
# so tripwired reads "\xff" as "ÿ" and cannot print promtool's raw byte in its messages.
INVALID_UTF8_ESCAPE = re.compile(r"\\x[89a-fA-F][0-9a-fA-F]")
# A range query's own times, which an instant evaluation at each step cannot reproduce.
QUERY_TIMES = re.compile(r"\b(?:start|end|step|range)\s*\(", re.IGNORECASE)
LOAD = re.compile(r"^load\s+(\S+)\s*$")
EXPECTED = re.compile(r"^\s+(\{.*\}|[a-zA-Z_:][\w:]*(?:\{.*\})?)?\s*(\S+)\s*$")


@dataclass
class Group:
    """One test group: series since the last `clear`, with one load interval."""

    interval: str | None = None
    series: list[dict[str, str]] = field(default_factory=list)
    cases: list[dict[str, Any]] = field(default_factory=list)
    mixed: bool = False
    partial: bool = False  # some series could not be converted (native histograms)
    start_timestamps: bool = False  # `name@st` series: a rule-test file has no start timestamps


@dataclass
class Converted:
    groups: list[Group] = field(default_factory=list)
    skipped: collections.Counter[str] = field(default_factory=collections.Counter)


def go_float(text: str) -> float:
    """A promqltest value (`Inf`, `-Inf`, `1e3`, `0x10`) as a float; YAML writes infinities as .inf."""
    try:
        return float(text)
    except ValueError:
        return float(int(text, 0))


def convert(text: str) -> Converted:
    out = Converted()
    group = Group()
    out.groups.append(group)
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        block = _block(lines, i + 1)
        i += 1 + len(block)
        if not line or line.lstrip().startswith("#"):
            i -= len(block)
            continue
        if line.startswith("clear"):
            group = Group()
            out.groups.append(group)
        elif line.startswith("load_with_nhcb"):
            out.skipped["native-histogram load"] += 1
        elif (load := LOAD.match(line)) is not None:
            _load(group, load[1], block, out)
        elif line.startswith("eval"):
            _eval(group, line, block, out)
        else:
            out.skipped[f"directive {line.split()[0]}"] += 1
    return out


def _block(lines: list[str], start: int) -> list[str]:
    block = []
    for line in lines[start:]:
        if not line.startswith((" ", "\t")) or not line.strip():
            break
        block.append(line)
    return block


def _load(group: Group, interval: str, block: list[str], out: Converted) -> None:
    if group.interval not in (None, interval):
        group.mixed = True
    group.interval = interval
    for line in block:
        if line.strip().startswith("#"):
            continue
        split = split_series(line.strip())
        if split is None or "{{" in line:
            group.partial = True
            continue
        if split[0].endswith("@st"):
            group.start_timestamps = True
            continue
        group.series.append({"series": split[0], "values": split[1]})


def split_series(line: str) -> tuple[str, str] | None:
    """A load line's series description and values: the description ends at the first blank outside
    its braces and quotes (`{"a b", c="d e"} 1+1x3` is one description)."""
    depth, quote, i = 0, "", 0
    while i < len(line):
        char = line[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = ""
        elif char in "\"'`":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char.isspace() and depth == 0:
            values = line[i:].strip()
            return (line[:i], values) if values else None
        i += 1
    return None


def _eval(group: Group, line: str, block: list[str], out: Converted) -> None:
    if INVALID_UTF8_ESCAPE.search(line):
        out.skipped["strings with bytes that are not UTF-8"] += 1
        return
    expects = [b.strip() for b in block if b.strip().startswith("expect")]
    if any(e.startswith(("expect range", "expect string")) for e in expects):
        out.skipped["expected range vector or string"] += 1
        return
    fails = line.startswith("eval_fail") or any(e.startswith("expect fail") for e in expects)
    ranged = EVAL_RANGE.match(line)
    if ranged is not None:
        _eval_range(group, ranged, block, out, fails)
        return
    match = EVAL.match(line)
    if match is None:
        out.skipped[line.split(maxsplit=1)[0] + " " + (line.split()[1] if len(line.split()) > 1 else "")] += 1
        return
    if fails:  # no samples: both must fail, with the same message
        group.cases.append({"expr": match[2], "eval_time": match[1], "exp_samples": []})
        return
    samples = []
    for raw in block:
        text = raw.strip()
        if text.startswith(("expect", "#")):
            continue
        if "{{" in text:
            out.skipped["native-histogram expectation"] += 1
            return
        expected = EXPECTED.match(raw)
        if expected is None:
            out.skipped["unreadable expectation"] += 1
            return
        value = expected[2]
        if value.lower() == "nan":
            out.skipped["NaN expectation"] += 1
            return
        try:
            samples.append({"labels": expected[1] or "{}", "value": go_float(value)})
        except ValueError:
            out.skipped["non-float expectation"] += 1
            return
    group.cases.append({"expr": match[2], "eval_time": match[1], "exp_samples": samples})


def _eval_range(group: Group, match: re.Match[str], block: list[str], out: Converted, fails: bool) -> None:
    """A range evaluation as one instant evaluation per step, each with that step's column of values."""
    start, end, step, expr = parse_duration(match[1]), parse_duration(match[2]), parse_duration(match[3]), match[4]
    if QUERY_TIMES.search(expr) or step <= 0:
        out.skipped["range evaluations using the query's start, end or step"] += 1
        return
    if fails:
        group.cases.append({"expr": expr, "eval_time": format_duration(start), "exp_samples": []})
        return
    columns: list[tuple[str, list[float | None]]] = []
    for raw in block:
        text = raw.strip()
        if not text or text.startswith(("expect", "#")):
            continue
        split = split_series(text)
        if "{{" in text or split is None:
            out.skipped["native-histogram or unreadable range expectation"] += 1
            return
        try:
            columns.append((split[0], parse_values(split[1])))
        except PromQLError:
            out.skipped["native-histogram or unreadable range expectation"] += 1
            return
    for i, t in enumerate(range(start, end + 1, step)):
        cells = [(labels, values[i]) for labels, values in columns if i < len(values) and values[i] is not None]
        if any(math.isnan(value) for _, value in cells if value is not None):
            out.skipped["NaN expectation"] += 1
            continue
        samples = [{"labels": labels, "value": value} for labels, value in cells]
        group.cases.append({"expr": expr, "eval_time": format_duration(t), "exp_samples": samples})


def write(path: Path, converted: Converted, out_dir: Path) -> int:
    tests = []
    for group in converted.groups:
        if not group.cases:
            continue
        if group.mixed:
            converted.skipped["groups loading with different intervals"] += len(group.cases)
            continue
        if group.partial:
            converted.skipped["groups with native-histogram series"] += len(group.cases)
            continue
        if group.start_timestamps:
            converted.skipped["groups with start-timestamp series"] += len(group.cases)
            continue
        tests.append(
            {"interval": group.interval or "1m", "input_series": group.series, "promql_expr_test": group.cases}
        )
    if tests:
        document = {"evaluation_interval": "1m", "tests": tests}
        (out_dir / f"{path.stem}.yaml").write_text(yaml.safe_dump(document, sort_keys=False, width=400))
    return sum(len(t["promql_expr_test"]) for t in tests)


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    for name in sys.argv[2:]:
        source = Path(name)
        result = convert(source.read_text())
        kept = write(source, result, target)
        print(f"{source.name}: {kept} cases; left out: {dict(result.skipped)}")
