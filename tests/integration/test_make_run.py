"""`make run` as a newcomer meets it: the daemon with no --config loads the shipped packs, pages nobody
falsely, and its silences work with Debian's real amtool and survive a restart."""

from __future__ import annotations

import dataclasses
import json
import re
import signal
from pathlib import Path
from typing import Any

from agent.packs import packs_directory
from agent.runtime.api_views import config_yaml
from agent.runtime.builtin_config import EXAMPLE_WAREHOUSE, builtin_config
from tests.conftest import REPO, DaemonProcess, StartDaemon, run_cli, wait_until
from tests.integration.test_alertmanager_api import amtool


def test_make_run_starts_the_daemon_with_no_config() -> None:
    """What the tests below start is what `make run` starts: `tripwired run` and only the user's ARGS."""
    recipe = re.search(r"^run:.*\n\t(.*)$", (REPO / "Makefile").read_text(), re.M)
    assert recipe is not None
    assert "$(BIN)/tripwired run $(ARGS)" == recipe.group(1)


def rule_groups(daemon: DaemonProcess) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = daemon.get("/api/v1/rules").json()["data"]["groups"]
    return groups


def evaluated_twice(daemon: DaemonProcess, first: dict[str, str]) -> bool:
    """Whether every group has been evaluated since `first` (each group's first lastEvaluation, kept)."""
    for group in rule_groups(daemon):
        if group["lastEvaluation"].startswith("0001-"):
            return False
        first.setdefault(group["name"], group["lastEvaluation"])
    return all(group["lastEvaluation"] != first[group["name"]] for group in rule_groups(daemon))


def assert_packs_loaded_and_nothing_fires(daemon: DaemonProcess, rule_files: list[str]) -> None:
    """The groups come from the `builtin:` packs named, and after two evaluations no alert fires."""
    groups = rule_groups(daemon)
    files = {Path(group["file"]).relative_to(packs_directory()).as_posix() for group in groups}
    assert {f"{entry.removeprefix('builtin:')}.yaml" for entry in rule_files} == files
    assert sum(len(group["rules"]) for group in groups) > 0

    first: dict[str, str] = {}
    wait_until(lambda: evaluated_twice(daemon, first), "a second evaluation of every group", timeout=60)
    firing = [a["labels"] for a in daemon.get("/api/v1/alerts").json()["data"]["alerts"] if a["state"] == "firing"]
    assert [] == firing
    assert [] == [r["lastError"] for g in rule_groups(daemon) for r in g["rules"] if r.get("lastError")]


def test_the_builtin_config_loads_the_shipped_packs_and_fires_nothing_on_a_healthy_host(
    start_daemon: StartDaemon,
) -> None:
    daemon = start_daemon()
    daemon.wait_ready()
    rule_files = builtin_config().rule_files
    assert {"builtin:agent", "builtin:host"} <= set(rule_files)
    assert_packs_loaded_and_nothing_fires(daemon, rule_files)


def test_with_a_textfile_directory_and_the_example_warehouse_it_fires_nothing_either(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """The built-in config of a machine that has both, pointed at a fresh textfile and a small lake."""
    (tmp_path / "textfile").mkdir()
    (tmp_path / "textfile" / "backup.prom").write_text("backup_last_success_timestamp_seconds 1.7e9\n")
    (tmp_path / "lake" / "orders").mkdir(parents=True)
    (tmp_path / "lake" / "orders" / "part-0.parquet").write_bytes(b"PAR1")
    config = builtin_config(exists=lambda path: True)
    collectors = dataclasses.replace(
        config.collectors,
        textfile=dataclasses.replace(config.collectors.textfile, directory=str(tmp_path / "textfile")),
        warehouse=[dataclasses.replace(EXAMPLE_WAREHOUSE, paths=[str(tmp_path / "lake")])],
    )
    daemon = start_daemon(config_yaml(dataclasses.replace(config, collectors=collectors)))
    daemon.wait_ready()
    assert ["builtin:agent", "builtin:host", "builtin:textfile", "builtin:warehouse"] == config.rule_files
    assert_packs_loaded_and_nothing_fires(daemon, config.rule_files)


def test_silences_made_with_amtool_and_the_cli_work_on_the_builtin_config_and_survive_a_restart(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """The built-in config: silences under ./data of the working directory, as `make run` in a checkout."""
    daemon = start_daemon()
    daemon.wait_ready()
    assert 200 == daemon.get("/api/v2/silences").status_code
    by_amtool = amtool(daemon.port, "silence", "add", "alertname=HostCpuBusy", "--comment=upgrade", "-a", "ops").strip()
    added = run_cli("silence", "add", f"--web.listen-address=127.0.0.1:{daemon.port}", "alertname=HostOomKill")
    assert 0 == added.returncode, added.stderr
    by_cli = added.stdout.strip()

    daemon.proc.send_signal(signal.SIGTERM)
    assert 0 == daemon.proc.wait(timeout=30)
    assert (tmp_path / "data" / "tripwired.db").is_file()
    daemon.restart()
    daemon.wait_ready()
    listed = json.loads(amtool(daemon.port, "silence", "query", "-o", "json"))
    assert {by_amtool, by_cli} == {s["id"] for s in listed}
    listing = run_cli("silence", "list", f"--web.listen-address=127.0.0.1:{daemon.port}")
    assert by_amtool in listing.stdout and by_cli in listing.stdout
