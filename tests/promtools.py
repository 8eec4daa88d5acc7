"""The two promtools the PromQL and rule corpora are checked against, one per `promql_compat` mode.

Mode 2's oracle is Debian's promtool 2.42 (scripts/install-test-deps installs it). Mode 3's is
Prometheus 3's promtool, built from the Go module proxy at the version pinned in
scripts/build-promtool3 and cached outside the repository; the script's lock makes parallel
workers share one build. install-test-deps starts that build in the background, so by the time a
test asks for the binary it is usually there.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

import pytest

from agent.promql import PromQLCompat, Semantics
from tests.conftest import REPO, require_binary

BUILD_SCRIPT = REPO / "scripts" / "build-promtool3"
BUILD_TIMEOUT_S = 1200  # two minutes on an idle machine, several times that beside a parallel test run
EXPERIMENTAL = "--enable-feature=promql-experimental-functions"
# For tests that may be the first to ask for promtool 3: waiting for its build is not their own slowness.
waits_for_promtool3 = pytest.mark.timeout(BUILD_TIMEOUT_S + 120)


@functools.cache
def promtool3() -> str:
    """The path of promtool 3, building it first if this machine has none yet."""
    try:
        result = subprocess.run(
            [str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{BUILD_SCRIPT.name} did not finish in {BUILD_TIMEOUT_S}s")
    if result.returncode != 0:
        pytest.fail(f"{BUILD_SCRIPT.name} failed: {result.stderr[-2000:]}")
    return result.stdout.strip().splitlines()[-1]


def promtool(compat: PromQLCompat) -> str:
    """The promtool whose answers `compat` must reproduce."""
    if compat == PromQLCompat.V2:
        return require_binary("/usr/bin/promtool", "prometheus")
    return promtool3()


def promtool_command(semantics: Semantics, *args: str) -> list[str]:
    """argv for a promtool of `semantics`, with the experimental functions when they are enabled."""
    flags = [EXPERIMENTAL] if semantics.experimental_functions else []
    return [promtool(semantics.compat), *flags, *args]


def run_promtool(semantics: Semantics, path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`promtool <args> <file>` run in the file's directory (rule_files are relative to it)."""
    return subprocess.run(
        promtool_command(semantics, *args, path.name),
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
