"""Differential test: every rule-test file in tests/rules_corpus/ gets the same verdict from
the real `promtool test rules` and from ours; the files in fail/ must fail in both, with the
same failure messages.

Under `promql_compat: 2` the oracle is Debian's promtool 2.42 and the files pass as they are.
Under `promql_compat: 3` the oracle is promtool 3: every file gets the same verdict and the same
failure messages from it and from ours, and the files in v3/ (Prometheus 3 fields) pass in both."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from agent.promql import PromQLCompat, Semantics
from agent.ruler import ruletest as rule_tests
from tests.promtools import run_promtool as run_promtool_of
from tests.promtools import waits_for_promtool3

CORPUS = Path(__file__).resolve().parent.parent / "rules_corpus"
PASSING = sorted(CORPUS.glob("*.test.yaml"))
FAILING = sorted((CORPUS / "fail").glob("*.test.yaml"))
VALID_RULES = sorted(CORPUS.glob("*.rules.yaml"))
INVALID_RULES = sorted((CORPUS / "fail").glob("*.rules.yaml"))
PASSING_3 = sorted((CORPUS / "v3").glob("*.test.yaml"))
V2 = Semantics(PromQLCompat.V2)
V3 = Semantics(PromQLCompat.V3)


def run_promtool(path: Path, semantics: Semantics = V2) -> subprocess.CompletedProcess[str]:
    return run_promtool_of(semantics, path, "test", "rules")


def check_with_promtool(path: Path) -> int:
    return run_promtool_of(V2, path, "check", "rules").returncode


def check_ours(path: Path) -> int:
    return rule_tests.check_rules([str(path)], io.StringIO(), V2)


def run_ours(path: Path, semantics: Semantics = V2) -> tuple[int, str]:
    out = io.StringIO()
    return rule_tests.test_rules([str(path)], out, semantics), out.getvalue()


def failure_lines(text: str) -> list[str]:
    """The non-blank lines from `  FAILED:` on (promtool prints them on stderr, blank lines on stdout)."""
    lines = text.splitlines()
    start = lines.index("  FAILED:") if "  FAILED:" in lines else len(lines)
    return [line for line in lines[start:] if line.strip()]


def test_corpus_is_not_empty() -> None:
    assert len(PASSING) >= 3 and len(FAILING) >= 3 and VALID_RULES and INVALID_RULES


@pytest.mark.parametrize("path", VALID_RULES, ids=lambda p: p.name)
def test_corpus_rule_file_passes_both_checks(path: Path) -> None:
    assert (0, 0) == (check_with_promtool(path), check_ours(path))


@pytest.mark.parametrize("path", INVALID_RULES, ids=lambda p: p.name)
def test_invalid_rule_file_fails_both_checks(path: Path) -> None:
    assert (1, 1) == (check_with_promtool(path), check_ours(path))


@pytest.mark.parametrize("path", PASSING, ids=lambda p: p.name)
def test_promtool_passes_corpus_file(path: Path) -> None:
    result = run_promtool(path)
    assert 0 == result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("path", PASSING, ids=lambda p: p.name)
def test_ours_passes_corpus_file(path: Path) -> None:
    code, output = run_ours(path)
    assert 0 == code, output


@pytest.mark.parametrize("path", FAILING, ids=lambda p: p.name)
def test_promtool_fails_wrong_expectation(path: Path) -> None:
    assert 1 == run_promtool(path).returncode


@pytest.mark.parametrize("path", FAILING, ids=lambda p: p.name)
def test_ours_fails_wrong_expectation_with_promtools_messages(path: Path) -> None:
    code, output = run_ours(path)
    assert (1, failure_lines(run_promtool(path).stderr)) == (code, failure_lines(output))


@waits_for_promtool3
@pytest.mark.parametrize("path", PASSING + FAILING, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_mode3_gives_promtool3s_verdict_and_messages(path: Path) -> None:
    code, output = run_ours(path, V3)
    result = run_promtool(path, V3)
    assert (result.returncode, failure_lines(result.stderr)) == (code, failure_lines(output))


@waits_for_promtool3
@pytest.mark.parametrize("path", PASSING_3, ids=lambda p: p.name)
def test_prometheus3_fields_pass_promtool3_and_ours(path: Path) -> None:
    result = run_promtool(path, V3)
    assert (0, 0) == (result.returncode, run_ours(path, V3)[0]), result.stderr + run_ours(path, V3)[1]


@pytest.mark.parametrize("path", sorted((CORPUS / "v3").glob("*.rules.yaml")), ids=lambda p: p.name)
def test_prometheus3_rule_fields_are_refused_in_mode2_as_promtool_2_refuses_them(path: Path) -> None:
    assert (1, 1) == (check_with_promtool(path), check_ours(path))
