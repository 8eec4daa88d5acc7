"""Differential test: every rule-test file in tests/rules_corpus/ gets the same verdict from
the real `promtool test rules` and from ours; the files in fail/ must fail in both, with the
same failure messages."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest

from agent.ruler import ruletest as rule_tests

CORPUS = Path(__file__).resolve().parent.parent / "rules_corpus"
PASSING = sorted(CORPUS.glob("*.test.yaml"))
FAILING = sorted((CORPUS / "fail").glob("*.test.yaml"))
VALID_RULES = sorted(CORPUS.glob("*.rules.yaml"))
INVALID_RULES = sorted((CORPUS / "fail").glob("*.rules.yaml"))


def promtool() -> str:
    found = shutil.which("/usr/bin/promtool") or shutil.which("promtool")
    if found is None:
        pytest.fail("promtool not found: install Debian's prometheus package (make test does)")
    return found


def run_promtool(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), "test", "rules", path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def check_with_promtool(path: Path) -> int:
    return subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, timeout=60, check=False
    ).returncode


def check_ours(path: Path) -> int:
    return rule_tests.check_rules([str(path)], io.StringIO())


def run_ours(path: Path) -> tuple[int, str]:
    out = io.StringIO()
    return rule_tests.test_rules([str(path)], out), out.getvalue()


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
