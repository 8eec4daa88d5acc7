"""A new version on an old state directory: tables it lacks are added, state it has is kept,
and a state directory from a newer version is refused with a clear message."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from tests.conftest import DaemonProcess, StartDaemon, run_cli, wait_until
from tests.receiver import webhook_receiver

RULES = "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: Canary\n        expr: vector(1)\n"


def rules_only(tmp_path: Path) -> str:
    (tmp_path / "rules.yaml").write_text(RULES)
    return (
        f"global: {{interval: 1s, evaluation_interval: 1s}}\nstate_dir: {tmp_path / 'state'}\n"
        f"rule_files: [{tmp_path / 'rules.yaml'}]\ncollectors:\n  host: {{enabled: false}}\n"
    )


def firing(daemon: DaemonProcess) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        alerts = daemon.get("/api/v1/alerts").json()["data"]["alerts"]
        if alerts and alerts[0]["state"] == "firing":
            return dict(alerts[0])
        time.sleep(0.05)
    raise AssertionError(daemon.log())


def test_an_agent_with_notifications_starts_on_a_state_dir_that_had_only_alert_state(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    # The state a rules-only agent leaves: the ruler's tables and nothing of the notifier's.
    old = start_daemon(rules_only(tmp_path))
    old.wait_ready()
    before = firing(old)
    assert old.stop() == 0
    tables = {
        row[0]
        for row in sqlite3.connect(tmp_path / "state" / "tripwired.db").execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        )
    }
    assert "outbox" not in tables

    receiver = webhook_receiver()
    try:
        config = rules_only(tmp_path)
        (tmp_path / "rules.yaml").write_text(RULES + "      - alert: NewCanary\n        expr: vector(2)\n")
        new = start_daemon(
            config + f"route: {{receiver: hook, group_wait: 0s}}\n"
            f"receivers: [{{name: hook, webhook_configs: [{{url: '{receiver.url}'}}]}}]\n"
        )
        new.wait_ready()
        assert firing(new)["activeAt"] == before["activeAt"]  # the old state is kept
        # The notifier's tables were added: a newly firing alert is delivered. (The restored one was
        # notified before the restart as far as the ruler knows; it goes out at its next re-send.)
        wait_until(
            lambda: any(a["labels"]["alertname"] == "NewCanary" for x in receiver.payloads for a in x["alerts"]),
            "a notification of NewCanary",
        )
    finally:
        receiver.close()


def test_a_state_dir_from_a_newer_version_is_refused_with_exit_2(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    db = sqlite3.connect(state / "tripwired.db")
    db.execute("CREATE TABLE schema_version (component TEXT PRIMARY KEY, version INTEGER NOT NULL)")
    db.execute("INSERT INTO schema_version VALUES ('ruler', 99)")
    db.commit()
    (tmp_path / "cfg.yaml").write_text(rules_only(tmp_path))
    result = run_cli("run", f"--config={tmp_path / 'cfg.yaml'}", "--web.listen-address=127.0.0.1:0")
    assert result.returncode == 2
    assert result.stderr.strip() == f"state_dir {state}: ruler schema version 99 is newer than 1"
