"""Every shipped rule pack passes both the real promtool and tripwired: `check rules` and its unit tests.

This is the promise that a rule file working here works in Prometheus, and the other way round.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from agent.ruler import unittest as rule_tests
from tests.conftest import REPO, require_binary

PACKS = sorted(p for p in (REPO / "rules").glob("*.yaml"))
TESTS = sorted((REPO / "rules" / "tests").glob("*.yaml"))
EXAMPLE_TESTS = sorted((REPO / "examples" / "rules").glob("*_test.yaml"))  # the README's example


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = require_binary("promtool", "prometheus")
    return subprocess.run([binary, *args], check=False, capture_output=True, text=True, timeout=300, cwd=REPO)


def test_every_rule_pack_has_a_test_file() -> None:
    assert [p.name for p in PACKS] == [t.name for t in TESTS]


@pytest.mark.parametrize("pack", PACKS, ids=lambda p: p.name)
def test_pack_passes_promtool_check_rules(pack: Path) -> None:
    result = promtool("check", "rules", str(pack))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("pack", PACKS, ids=lambda p: p.name)
def test_pack_passes_tripwired_rules_check(pack: Path) -> None:
    out = io.StringIO()
    assert rule_tests.check_rules([str(pack)], out) == 0, out.getvalue()


@pytest.mark.parametrize("tests_file", TESTS + EXAMPLE_TESTS, ids=lambda p: p.name)
def test_pack_tests_pass_promtool(tests_file: Path) -> None:
    result = promtool("test", "rules", str(tests_file))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("tests_file", TESTS + EXAMPLE_TESTS, ids=lambda p: p.name)
def test_pack_tests_pass_tripwired(tests_file: Path) -> None:
    out = io.StringIO()
    assert rule_tests.test_rules([str(tests_file)], out) == 0, out.getvalue()
