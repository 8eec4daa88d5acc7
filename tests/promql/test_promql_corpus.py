"""The corpora of promtool rule-test files: each passes the promtool of its mode, and our engine in that mode.

corpus/ holds promtool 2.42's answers (`promql_compat: 2`), corpus3/ promtool 3's (`promql_compat: 3`);
files named experimental_*.yaml run with the experimental functions enabled in both tools.
"""

from __future__ import annotations

from pathlib import Path

import promql_parser
import pytest
from promtool_corpus import expressions, failed_expression_tests, failures

from agent.promql import PromQLCompat, Semantics
from agent.promql.support import (
    AGGREGATIONS,
    BINARY_OPERATORS,
    EXPERIMENTAL_AGGREGATIONS,
    EXPERIMENTAL_FUNCTIONS,
    FUNCTIONS,
    ONLY_IN_3,
    walk,
)
from agent.promql.syntax3 import rewrite
from tests.promtools import run_promtool, waits_for_promtool3

HERE = Path(__file__).parent
CORPORA = {
    PromQLCompat.V2: sorted((HERE / "corpus").glob("*.yaml")),
    PromQLCompat.V3: sorted((HERE / "corpus3").glob("*.yaml")),
}
CORPUS_FAIL = sorted((HERE / "corpus_fail").glob("*.yaml"))
V2 = Semantics(PromQLCompat.V2)


def semantics_of_file(path: Path) -> Semantics:
    compat = PromQLCompat.V3 if path.parent.name == "corpus3" else PromQLCompat.V2
    return Semantics(compat, experimental_functions=path.name.startswith("experimental"))


CASES = [path for paths in CORPORA.values() for path in paths]


def case_id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


@waits_for_promtool3
@pytest.mark.parametrize("path", CASES, ids=case_id)
def test_promtool_passes_corpus_file(path: Path) -> None:
    result = run_promtool(semantics_of_file(path), path, "test", "rules")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", CASES, ids=case_id)
def test_engine_gives_promtools_samples(path: Path) -> None:
    assert [] == failures(path, semantics_of_file(path))


@pytest.mark.parametrize("path", CORPUS_FAIL, ids=lambda p: p.name)
def test_promtool_rejects_every_wrong_expectation(path: Path) -> None:
    result = run_promtool(V2, path, "test", "rules")
    cases = len(expressions(path, V2))
    assert result.returncode == 1
    assert result.stderr.count("    expr: ") == cases


@pytest.mark.parametrize("path", CORPUS_FAIL, ids=lambda p: p.name)
def test_engine_rejects_every_wrong_expectation(path: Path) -> None:
    assert len(expressions(path, V2)) == failed_expression_tests(path, V2)


def test_corpus_is_not_empty() -> None:
    assert len(CORPORA[PromQLCompat.V2]) >= 10
    assert len(CORPORA[PromQLCompat.V3]) >= 10
    assert CORPUS_FAIL


def _corpus_exprs(paths: list[Path]) -> list[str]:
    return [expr for path in paths for expr in expressions(path, semantics_of_file(path))]


def _used_names(exprs: list[str]) -> set[str]:
    used: set[str] = set()
    for text in exprs:
        parsable = rewrite(text.replace("holt_winters(", "double_exponential_smoothing("))  # Prometheus 3's syntax
        for node in walk(promql_parser.parse(parsable)):
            if isinstance(node, promql_parser.Call):
                used.add(node.func.name)
            elif isinstance(node, promql_parser.AggregateExpr | promql_parser.BinaryExpr):
                used.add(str(node.op))
    return used


@pytest.mark.parametrize("compat", list(PromQLCompat), ids=lambda c: f"mode{c.value}")
def test_corpus_uses_every_supported_function_aggregation_and_operator(compat: PromQLCompat) -> None:
    supported = FUNCTIONS | AGGREGATIONS | BINARY_OPERATORS
    if compat == PromQLCompat.V3:
        supported |= EXPERIMENTAL_FUNCTIONS | EXPERIMENTAL_AGGREGATIONS
    else:
        supported = (supported - ONLY_IN_3) | {"double_exponential_smoothing"}  # as holt_winters
    assert supported - _used_names(_corpus_exprs(CORPORA[compat])) == set()
