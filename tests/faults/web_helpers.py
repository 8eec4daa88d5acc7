"""What the web fault tests share: a daemon with silences, reading its metrics, certificates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import DaemonProcess

RULES = """\
groups:
  - name: pipeline
    interval: 1s
    rules:
      - alert: IngestStopped
        expr: ingest_ok == 0
        labels: {severity: page}
"""


def daemon_config(tmp_path: Path, *, extra: str = "", route: str | None = None) -> str:
    """A daemon with one firing rule (from a textfile) and, given a receiver URL, a route to it."""
    (tmp_path / "textfile").mkdir(exist_ok=True)
    (tmp_path / "textfile" / "ingest.prom").write_text("ingest_ok 0\n")
    (tmp_path / "rules.yaml").write_text(RULES)
    text = f"""\
global: {{interval: 1s, evaluation_interval: 1s}}
state_dir: {tmp_path / "state"}
rule_files: [{tmp_path / "rules.yaml"}]
collectors:
  host: {{enabled: false}}
  textfile: {{directory: {tmp_path / "textfile"}}}
"""
    if route is not None:
        text += f"""\
route: {{receiver: team, group_wait: 0s, group_interval: 1s}}
receivers:
  - name: team
    webhook_configs: [{{url: "{route}"}}]
"""
    return text + extra


def silence_body(comment: str = "maintenance") -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "matchers": [{"name": "alertname", "value": "IngestStopped", "isRegex": False, "isEqual": True}],
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(hours=1)).isoformat(),
        "createdBy": "test",
        "comment": comment,
    }


def silences(daemon: DaemonProcess, **kwargs: Any) -> list[dict[str, Any]]:
    response = httpx.get(f"{daemon.url}/api/v1/silences", timeout=10, **kwargs)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def metric(daemon: DaemonProcess, name: str, **kwargs: Any) -> float:
    """The value of one unlabelled series on /metrics."""
    for line in httpx.get(f"{daemon.url}/metrics", timeout=10, **kwargs).text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not on /metrics")
