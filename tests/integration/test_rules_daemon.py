"""Rules in a running daemon: an alert goes pending then firing, survives a restart, reloads."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DaemonProcess, StartDaemon, run_cli

RULES = """
groups:
  - name: pipeline
    interval: 1s
    rules:
      - alert: IngestStopped
        expr: pipeline_ingest_ok == 0
        for: 2s
        labels: {severity: page}
        annotations: {summary: "ingest of {{ $labels.topic }} stopped"}
"""


def config(tmp_path: Path) -> str:
    textfile = tmp_path / "textfile"
    textfile.mkdir(exist_ok=True)
    (tmp_path / "rules.yaml").write_text(RULES)
    return (
        f"global: {{interval: 1s, evaluation_interval: 1s}}\nstate_dir: {tmp_path / 'state'}\n"
        f"rule_files: [{tmp_path / 'rules.yaml'}]\n"
        f"collectors:\n  host: {{enabled: false}}\n  textfile: {{directory: {textfile}}}\n"
    )


def write_metric(tmp_path: Path, value: int) -> None:
    (tmp_path / "textfile").mkdir(exist_ok=True)
    tmp = tmp_path / "textfile" / ".ingest.prom.tmp"
    tmp.write_text(f'pipeline_ingest_ok{{topic="orders"}} {value}\n')
    os.replace(tmp, tmp_path / "textfile" / "ingest.prom")


def alerts(daemon: DaemonProcess) -> list[dict[str, Any]]:
    body = daemon.get("/api/v1/alerts").json()
    assert body["status"] == "success"
    result: list[dict[str, Any]] = body["data"]["alerts"]
    return result


def wait_for_state(daemon: DaemonProcess, state: str, timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = alerts(daemon)
        if current and current[0]["state"] == state:
            return current[0]
        time.sleep(0.05)
    raise AssertionError(f"alert never became {state}: {alerts(daemon)}\n{daemon.log()}")


def test_alert_goes_pending_then_firing_and_shows_in_api_and_alerts_series(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    write_metric(tmp_path, 1)
    daemon = start_daemon(config(tmp_path))
    daemon.wait_ready()
    assert alerts(daemon) == []
    flipped = time.time()
    write_metric(tmp_path, 0)
    pending = wait_for_state(daemon, "pending")
    firing = wait_for_state(daemon, "firing")
    fired = time.time()
    assert pending["activeAt"] == firing["activeAt"]
    target = {"instance": f"127.0.0.1:{daemon.port}", "job": "textfile"}  # the textfile collector's
    assert firing["labels"] == {"alertname": "IngestStopped", "severity": "page", "topic": "orders", **target}
    assert firing["annotations"] == {"summary": "ingest of orders stopped"}
    assert 2.0 <= fired - flipped < 6.0  # `for: 2s` plus at most about one evaluation interval
    series = daemon.get("/api/v1/query?query=ALERTS").json()["data"]["result"]
    assert [s["metric"]["alertstate"] for s in series] == ["firing"]
    assert 'ALERTS{alertname="IngestStopped",alertstate="firing"' in daemon.get("/metrics").text


def test_firing_alert_keeps_its_active_at_across_a_restart(start_daemon: StartDaemon, tmp_path: Path) -> None:
    write_metric(tmp_path, 0)
    first = start_daemon(config(tmp_path))
    first.wait_ready()
    before = wait_for_state(first, "firing")
    first.proc.terminate()
    assert first.proc.wait(timeout=10) == 0
    # On the same address: the alert's `instance` label is the agent's (a new port is a new target).
    first.restart()
    first.wait_ready()
    after = wait_for_state(first, "firing", timeout=3.0)  # no new `for` wait: state was restored
    assert after["activeAt"] == before["activeAt"]


HEAD = "groups:\n  - name: g\n    rules:\n"
BAD_RULES = {
    "syntax": (HEAD + "      - alert: A\n        expr: sum(up\n", "rules.yaml:5:"),
    "unknown function": (HEAD + "      - alert: A\n        expr: holt_winters(up[5m], 0.5, 0.5)\n", "holt_winters"),
    "for on a recording rule": (HEAD + "      - record: r\n        expr: up\n        for: 1m\n", "for"),
    "duplicate group": (
        "groups:\n  - name: g\n    rules: [{record: r, expr: up}]\n  - name: g\n    rules: [{record: s, expr: up}]\n",
        'groupname: "g" is repeated',
    ),
    "bad template": (
        HEAD + "      - alert: A\n        expr: up\n        annotations: {summary: '{{ $labels.x '}\n",
        "summary",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_RULES))
def test_bad_rule_file_stops_start_up_with_exit_2_and_a_precise_message(case: str, tmp_path: Path) -> None:
    text, expected = BAD_RULES[case]
    (tmp_path / "rules.yaml").write_text(text)
    (tmp_path / "cfg.yaml").write_text(f"rule_files: [rules.yaml]\nstate_dir: {tmp_path / 'state'}\n")
    result = run_cli("run", f"--config={tmp_path / 'cfg.yaml'}", "--web.listen-address=127.0.0.1:0")
    assert result.returncode == 2
    assert str(tmp_path / "rules.yaml") in result.stderr
    assert expected in result.stderr


def reload_successful(daemon: DaemonProcess) -> str:
    for line in daemon.get("/metrics").text.splitlines():
        if line.startswith("tripwired_config_last_reload_successful "):
            return line.split()[1]
    raise AssertionError("no tripwired_config_last_reload_successful")


def test_refused_reload_keeps_the_old_rules_running(start_daemon: StartDaemon, tmp_path: Path) -> None:
    write_metric(tmp_path, 0)
    daemon = start_daemon(config(tmp_path), "--web.enable-lifecycle")
    daemon.wait_ready()
    wait_for_state(daemon, "firing")
    (tmp_path / "rules.yaml").write_text(RULES.replace("== 0", "== 0 +"))
    response = daemon.client_post("/-/reload")
    assert response.status_code == 500
    assert "rules.yaml" in response.text
    assert reload_successful(daemon) == "0"
    rules = daemon.get("/api/v1/rules").json()["data"]["groups"][0]["rules"]
    assert [r["name"] for r in rules] == ["IngestStopped"]
    assert rules[0]["lastEvaluation"] > wait_for_state(daemon, "firing")["activeAt"]


def test_sighup_reloads_new_rules(start_daemon: StartDaemon, tmp_path: Path) -> None:
    write_metric(tmp_path, 1)
    daemon = start_daemon(config(tmp_path))
    daemon.wait_ready()
    (tmp_path / "rules.yaml").write_text(RULES.replace("IngestStopped", "IngestHealthy").replace("== 0", "== 1"))
    daemon.proc.send_signal(signal.SIGHUP)
    firing = wait_for_state(daemon, "firing")
    assert firing["labels"]["alertname"] == "IngestHealthy"
    assert reload_successful(daemon) == "1"


def test_query_follows_promql_compat_of_the_config_and_of_the_request(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """A `promql_compat: 2` daemon asked for Prometheus 3's function name, then for its own."""
    write_metric(tmp_path, 1)
    daemon = start_daemon(config(tmp_path) + "promql_compat: 2\n")
    daemon.wait_ready()
    smoothing = "double_exponential_smoothing(pipeline_ingest_ok[1m], 0.5, 0.5)"
    holt = "holt_winters(pipeline_ingest_ok[1m], 0.5, 0.5)"
    answers = [
        daemon.get(f"/api/v1/query?query={holt}").status_code,
        daemon.get(f"/api/v1/query?query={smoothing}").json()["error"],
        daemon.get(f"/api/v1/query?query={holt}&promql_compat=3").json()["error"],
        daemon.get(f"/api/v1/query?query={holt}&promql_compat=4").json()["error"],
    ]
    assert answers == [
        200,
        'invalid parameter "query": function double_exponential_smoothing is not supported: '
        "Prometheus 2 calls it holt_winters",
        'invalid parameter "query": function holt_winters is not supported: '
        "Prometheus 3 calls it double_exponential_smoothing "
        "(enable promql-experimental-functions), or set promql_compat: 2",
        "promql_compat: expected 3 or 2, got '4'",
    ]
