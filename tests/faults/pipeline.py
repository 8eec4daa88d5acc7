"""A daemon over a small textfile pipeline with a webhook receiver: what restart and disk tests share."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import DaemonProcess, wait_until
from tests.receiver import Receiver

__all__ = ["Receiver", "alerts", "config", "points_of_ingest", "sent", "stop", "wait_until", "write_metrics"]

RULES = """
groups:
  - name: tripwires
    interval: 1s
    rules:
      - alert: IngestStopped
        expr: increase(ingest_offset[20s]) == 0
      - alert: LevelHigh
        expr: level == 1
      - alert: LevelHighForLong
        expr: level == 1
        for: 10m
      - alert: Flapped
        expr: flap == 1
"""


def config(tmp_path: Path, hook_url: str, *, extra: str = "") -> str:
    (tmp_path / "textfile").mkdir(exist_ok=True)
    (tmp_path / "rules.yaml").write_text(RULES)
    return f"""
global: {{interval: 1s, evaluation_interval: 1s}}
state_dir: {tmp_path / "state"}
rule_files: [{tmp_path / "rules.yaml"}]
collectors:
  host: {{enabled: false}}
  textfile: {{directory: {tmp_path / "textfile"}}}
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs: [{{url: "{hook_url}"}}]
{extra}
"""


def write_metrics(tmp_path: Path, **values: float) -> None:
    (tmp_path / "textfile").mkdir(exist_ok=True)
    tmp = tmp_path / "textfile" / ".metrics.tmp"
    tmp.write_text("".join(f"{name} {value}\n" for name, value in values.items()))
    os.replace(tmp, tmp_path / "textfile" / "metrics.prom")


def alerts(daemon: DaemonProcess) -> dict[str, dict[str, Any]]:
    """The daemon's pending and firing alerts by name, from /api/v1/alerts."""
    body = daemon.get("/api/v1/alerts").json()
    return {a["labels"]["alertname"]: a for a in body["data"]["alerts"]}


def sent(receiver: Receiver) -> list[tuple[str, str]]:
    """Every (status, alertname) the receiver was sent, in order."""
    return [(alert["status"], alert["labels"]["alertname"]) for p in receiver.payloads for alert in p["alerts"]]


def stop(daemon: DaemonProcess, how: signal.Signals) -> None:
    daemon.proc.send_signal(how)
    daemon.proc.wait(timeout=30)


def points_of_ingest(daemon: DaemonProcess) -> int:
    """How many points of ingest_offset the daemon holds (0 when none)."""
    query = "count_over_time(ingest_offset[1h])"
    result = httpx.get(f"{daemon.url}/api/v1/query", params={"query": query}, timeout=10).json()["data"]["result"]
    return int(result[0]["value"][1]) if result else 0
