"""Run a corpus file of promtool rule tests through the product's own runner (agent/ruler/ruletest.py).

The corpus is checked exactly as `tripwired rules test` checks a user's file: lazy loading of the
input series, evaluation steps and the comparison of cmd/promtool/unittest.go all live there, once.
"""

from __future__ import annotations

import io
from pathlib import Path

from agent.promql import DEFAULT_SEMANTICS, Semantics
from agent.ruler.ruletest import run_test_file
from agent.ruler.testfile import load_test_file


def failures(path: Path, semantics: Semantics = DEFAULT_SEMANTICS) -> list[str]:
    """Every failure `tripwired rules test` reports for the file, in promtool's words; empty when it passes."""
    return run_test_file(str(path), io.StringIO(), semantics)


def expressions(path: Path, semantics: Semantics = DEFAULT_SEMANTICS) -> list[str]:
    """The expression of every promql_expr_test of the file, in order."""
    return [case.expr for group in load_test_file(str(path), semantics).tests for case in group.promql_tests]


def failed_expression_tests(path: Path, semantics: Semantics = DEFAULT_SEMANTICS) -> int:
    """How many promql_expr_tests of the file fail (promtool words each failure `    expr: ...`)."""
    return sum(1 for failure in failures(path, semantics) if failure.startswith("    expr: "))
