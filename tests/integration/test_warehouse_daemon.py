"""The retention tripwire in a running daemon: an old file appears, the alert fires; removed, it resolves."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from tests.conftest import DaemonProcess, StartDaemon, poll

DAY = 86400


def retention_alerts(daemon: DaemonProcess) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = daemon.get("/api/v1/alerts").json()["data"]["alerts"]
    return [a for a in alerts if a["labels"]["alertname"] == "WarehouseDataPastRetention"]


def test_file_older_than_retention_fires_and_its_removal_resolves(start_daemon: StartDaemon, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    (lake / "2026" / "11").mkdir(parents=True)
    fresh = lake / "2026" / "11" / "part-0001.parquet"
    fresh.write_bytes(b"x" * 100)
    daemon = start_daemon(
        f"global: {{interval: 1s, evaluation_interval: 1s}}\nstate_dir: {tmp_path / 'state'}\n"
        f"rule_files: [builtin:warehouse]\n"
        f"collectors:\n  host: {{enabled: false}}\n"
        f"  warehouse:\n    - {{name: lake, paths: [{lake}], scan: {{interval: 1s, timeout: 1s}}}}\n"
    )
    daemon.wait_ready()
    time.sleep(2)  # two scans and evaluations of fresh data: no alert may fire in them
    assert retention_alerts(daemon) == []

    old = lake / "2026" / "11" / "part-0000.parquet"
    old.write_bytes(b"y" * 100)
    hundred_days_ago = time.time() - 100 * DAY
    os.utime(old, (hundred_days_ago, hundred_days_ago))
    poll(lambda: [a["state"] for a in retention_alerts(daemon)], lambda s: s == ["firing"], "firing", daemon, 20)
    alert = retention_alerts(daemon)[0]
    assert alert["labels"]["warehouse"] == "lake"
    assert alert["labels"]["path"] == str(lake)
    assert alert["labels"]["severity"] == "critical"
    assert float(alert["value"]) > 99.9

    old.unlink()
    poll(lambda: retention_alerts(daemon), lambda a: a == [], "resolved", daemon, 20)
