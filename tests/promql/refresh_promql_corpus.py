"""Rewrite the exp_samples of corpus files with promtool's own answers (a maintenance tool, not a test).

    .venv/bin/python tests/promql/refresh_promql_corpus.py tests/promql/corpus/rates.yaml ...
    PROMTOOL=$(scripts/build-promtool3) .venv/bin/python tests/promql/refresh_promql_corpus.py tests/promql/corpus3/*

PROMTOOL chooses the promtool (default: the one on PATH, Debian's 2.42); files named
experimental_*.yaml are run with --enable-feature=promql-experimental-functions.

promtool loads a test's series in random order, so a float result that depends on summation
order can change between runs. Each file is run several times; a case whose answer is not the
same every time, is an error, or is NaN (never equal in promtool's comparison) is dropped and
reported, so the corpus only holds answers our engine can be held to exactly.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

RUNS = 20
PROMTOOL = os.environ.get("PROMTOOL", "promtool")
HEADER = "# Expected samples are promtool {version}'s answers; tests/promql checks our engine gives the same.\n"
FAILURE = re.compile(r'    expr: (".*?"), time: (\S+?),(?: err: (.*)|\n        exp: .*\n        got: (.*))')
SAMPLE = re.compile(r"(\{[^}]*\}) (\S+?)(?=, \{|$)")
DURATION_UNITS = (
    ("y", 31_536_000_000),
    ("w", 604_800_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
)
UNITS_MS = dict(DURATION_UNITS)
Answers = dict[tuple[str, str], list[list[tuple[str, float]] | None]]


def go_duration(text: str) -> str:
    """A duration as promtool prints it (prometheus/common model.Duration): 90s -> 1m30s."""
    ms = sum(int(n) * UNITS_MS[unit] for n, unit in re.findall(r"(\d+)(ms|[ywdhms])", text))
    out = ""
    for unit, size in DURATION_UNITS:
        count, ms = divmod(ms, size)
        out += f"{count}{unit}" if count else ""
    return out or "0s"


def promtool_version() -> str:
    """`2.42`: the version promtool reports; a `go install`ed one reports none, its cache folder says it."""
    text = subprocess.run([PROMTOOL, "--version"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"version (\d+\.\d+)", text)
    return found[1] if found else f"3 ({Path(PROMTOOL).parent.name})"


def promtool_answers(document: dict[str, Any], experimental: bool) -> Answers:
    """What promtool returns for every case, by (quoted expr, time); None for an error."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as handle:
        handle.write(yaml.safe_dump(document, sort_keys=False))
        handle.flush()
        flags = ["--enable-feature=promql-experimental-functions"] if experimental else []
        command = [PROMTOOL, *flags, "test", "rules", handle.name]
        stderr = subprocess.run(command, capture_output=True, text=True, check=False).stderr
    answers: Answers = {}
    for expr, time, error, got in FAILURE.findall(stderr):
        samples = None if error else [] if got == "nil" else [(lbl, float(v)) for lbl, v in SAMPLE.findall(got)]
        answers.setdefault((expr, time), []).append(samples)
    return answers


def refresh(path: Path) -> None:
    document = yaml.safe_load(path.read_text())
    for group in document["tests"]:
        for case in group.get("promql_expr_test") or []:
            case.pop("exp_samples", None)
    runs = [promtool_answers(document, path.name.startswith("experimental")) for _ in range(RUNS)]
    for group in document["tests"]:
        kept = []
        for case in group.get("promql_expr_test") or []:
            key = (json.dumps(case["expr"]), go_duration(str(case.get("eval_time", "0s"))))
            answers = [run.get(key, [[]]).pop(0) if run.get(key) else [] for run in runs]
            first = answers[0]
            if first is None or any(a != first for a in answers) or any(math.isnan(v) for _, v in first):
                print(f"{path.name}: dropped {case['expr']!r} at {case.get('eval_time')}: unstable, error or NaN")
                continue
            case["exp_samples"] = [{"labels": lbl, "value": value} for lbl, value in first]
            kept.append(case)
        group["promql_expr_test"] = kept
    header = HEADER.format(version=promtool_version())
    path.write_text(header + yaml.safe_dump(document, sort_keys=False, width=200))


if __name__ == "__main__":
    for name in sys.argv[1:]:
        refresh(Path(name))
