"""Every shipped rule pack passes both the real promtool and tripwired: `check rules` and its unit tests.

This is the promise that a rule file working here works in Prometheus, and the other way round:
in both `promql_compat` modes, each against the promtool of its mode (2.42 and 3).
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from agent.promql import PromQLCompat, Semantics
from agent.ruler import ruletest as rule_tests
from tests.conftest import REPO, run_cli
from tests.promtools import promtool_command, waits_for_promtool3

PACKS = sorted(p for p in (REPO / "agent" / "packs").glob("*.yaml"))
TESTS = sorted((REPO / "agent" / "packs" / "tests").glob("*.yaml"))
EXAMPLE_TESTS = sorted((REPO / "examples" / "rules").glob("*_test.yaml"))  # the README's example
MODES = [Semantics(PromQLCompat.V2), Semantics(PromQLCompat.V3)]


def mode_id(semantics: Semantics) -> str:
    return f"mode{semantics.compat.value}"


def promtool(semantics: Semantics, *args: str) -> subprocess.CompletedProcess[str]:
    command = promtool_command(semantics, *args)
    return subprocess.run(command, check=False, capture_output=True, text=True, timeout=300, cwd=REPO)


def test_every_rule_pack_has_a_test_file() -> None:
    assert [p.name for p in PACKS] == [t.name for t in TESTS]


@waits_for_promtool3
@pytest.mark.parametrize("semantics", MODES, ids=mode_id)
@pytest.mark.parametrize("pack", PACKS, ids=lambda p: p.name)
def test_pack_passes_promtool_check_rules(pack: Path, semantics: Semantics) -> None:
    result = promtool(semantics, "check", "rules", str(pack))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("semantics", MODES, ids=mode_id)
@pytest.mark.parametrize("pack", PACKS, ids=lambda p: p.name)
def test_pack_passes_tripwired_rules_check(pack: Path, semantics: Semantics) -> None:
    out = io.StringIO()
    assert rule_tests.check_rules([str(pack)], out, semantics) == 0, out.getvalue()


@waits_for_promtool3
@pytest.mark.parametrize("semantics", MODES, ids=mode_id)
@pytest.mark.parametrize("tests_file", TESTS + EXAMPLE_TESTS, ids=lambda p: p.name)
def test_pack_tests_pass_promtool(tests_file: Path, semantics: Semantics) -> None:
    result = promtool(semantics, "test", "rules", str(tests_file))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("semantics", MODES, ids=mode_id)
@pytest.mark.parametrize("tests_file", TESTS + EXAMPLE_TESTS, ids=lambda p: p.name)
def test_pack_tests_pass_tripwired(tests_file: Path, semantics: Semantics) -> None:
    out = io.StringIO()
    assert rule_tests.test_rules([str(tests_file)], out, semantics) == 0, out.getvalue()


def run_tripwired(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"PATH": "/usr/bin:/bin", "PAGERDUTY_ROUTING_KEY": "k"})


def test_readme_routing_example_passes_through_routes_test() -> None:
    result = run_tripwired("routes", "test", "examples/routes_test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "Unit Testing:  examples/routes_test.yaml\n  SUCCESS\n\n"


def test_rules_test_still_runs_routing_tests_beside_rule_tests() -> None:
    """The spelling from before `routes test` existed keeps working."""
    result = run_tripwired("rules", "test", "examples/routes_test.yaml", "examples/rules/pipeline_test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == 2


@pytest.mark.parametrize("command", [("routes", "test"), ("rules", "test")])
def test_a_wrong_routing_expectation_fails(tmp_path: Path, command: tuple[str, str]) -> None:
    wrong = tmp_path / "routes_test.yaml"
    wrong.write_text(
        (REPO / "examples" / "routes_test.yaml")
        .read_text()
        .replace("config: tripwired.yaml", f"config: {REPO / 'examples' / 'tripwired.yaml'}")
        .replace("receivers: [team-slack]", "receivers: [pager]")
    )
    result = run_tripwired(*command, str(wrong))
    assert result.returncode == 1
    assert "team-slack" in result.stdout
