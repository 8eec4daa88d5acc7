"""The warehouse and host rule packs pass the real promtool: `check rules` and their unit tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, require_binary

RULE_PACKS = [REPO / "rules" / "warehouse.yaml", REPO / "rules" / "host.yaml"]
RULE_TESTS = sorted([*REPO.glob("rules/tests/warehouse*.yaml"), *REPO.glob("rules/tests/host*.yaml")])


def run(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = require_binary("promtool", "prometheus")  # fails, never skips, when missing
    return subprocess.run([promtool, *args], check=False, capture_output=True, text=True, timeout=120, cwd=REPO)


def test_there_is_a_test_file_for_each_rule_pack() -> None:
    assert [p.name for p in RULE_TESTS] == ["host.yaml", "warehouse.yaml"]


@pytest.mark.parametrize("pack", RULE_PACKS, ids=lambda p: p.name)
def test_rule_pack_passes_promtool_check_rules(pack: Path) -> None:
    result = run("check", "rules", str(pack))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("tests_file", RULE_TESTS, ids=lambda p: p.name)
def test_rule_tests_pass_promtool_test_rules(tests_file: Path) -> None:
    result = run("test", "rules", str(tests_file))
    assert result.returncode == 0, result.stdout + result.stderr
