"""The corpus of promtool rule-test files: promtool 2.42 passes them, and so does our engine."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import promql_parser
import pytest
import yaml
from promtool_corpus import run_file

from agent.promql.support import AGGREGATIONS, BINARY_OPERATORS, FUNCTIONS, walk

HERE = Path(__file__).parent
CORPUS = sorted((HERE / "corpus").glob("*.yaml"))
CORPUS_FAIL = sorted((HERE / "corpus_fail").glob("*.yaml"))
PROMTOOL = "/usr/bin/promtool"


def promtool(path: Path) -> subprocess.CompletedProcess[str]:
    if not Path(PROMTOOL).exists() and shutil.which("promtool") is None:
        pytest.fail("promtool not found: install Debian's prometheus package (make test does)")
    binary = PROMTOOL if Path(PROMTOOL).exists() else "promtool"
    return subprocess.run([binary, "test", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_promtool_passes_corpus_file(path: Path) -> None:
    result = promtool(path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_engine_gives_promtools_samples(path: Path) -> None:
    failures = [f"{r.expr} @ {r.eval_time}: {r.problem}" for r in run_file(path) if r.problem is not None]
    assert failures == []


@pytest.mark.parametrize("path", CORPUS_FAIL, ids=lambda p: p.name)
def test_promtool_rejects_every_wrong_expectation(path: Path) -> None:
    result = promtool(path)
    cases = sum(1 for r in run_file(path))
    assert result.returncode == 1
    assert result.stderr.count("    expr: ") == cases


@pytest.mark.parametrize("path", CORPUS_FAIL, ids=lambda p: p.name)
def test_engine_rejects_every_wrong_expectation(path: Path) -> None:
    passed = [f"{r.expr} @ {r.eval_time}" for r in run_file(path) if r.problem is None]
    assert passed == []


def test_corpus_is_not_empty() -> None:
    assert len(CORPUS) >= 10
    assert CORPUS_FAIL


def _corpus_exprs() -> list[str]:
    exprs = []
    for path in CORPUS:
        for group in yaml.safe_load(path.read_text())["tests"]:
            exprs.extend(str(case["expr"]) for case in group.get("promql_expr_test") or [])
    return exprs


def _used_names(exprs: list[str]) -> set[str]:
    used: set[str] = set()
    for text in exprs:
        for node in walk(promql_parser.parse(text)):
            if isinstance(node, promql_parser.Call):
                used.add(node.func.name)
            elif isinstance(node, promql_parser.AggregateExpr | promql_parser.BinaryExpr):
                used.add(str(node.op))
    return used


def test_corpus_uses_every_supported_function_aggregation_and_operator() -> None:
    missing = (FUNCTIONS | AGGREGATIONS | BINARY_OPERATORS) - _used_names(_corpus_exprs())
    assert missing == set()
