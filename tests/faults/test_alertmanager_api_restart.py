"""tripwired as a Prometheus' Alertmanager, killed and restarted while the alert fires."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from pathlib import Path

from tests.conftest import StartDaemon, wait_until
from tests.integration.test_alertmanager_api import config, notified
from tests.prometheus_peer import running_prometheus
from tests.receiver import Receiver, Recorded

RULES = "groups:\n  - name: always\n    rules:\n      - alert: AlwaysFiring\n        expr: vector(1)\n"


def listed(port: int) -> list[str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/alerts", timeout=5) as response:
            return [a["labels"]["alertname"] for a in json.loads(response.read())]
    except OSError:
        return []


def test_kill_9_while_prometheus_sends_neither_pages_again_nor_resolves(
    start_daemon: StartDaemon, receiver: Receiver, tmp_path: Path
) -> None:
    """kill -9 of the agent while a Prometheus sends it a firing alert, then a restart on the same port.

    The posted alert lived in memory only and is gone; Prometheus sends it again within its resend
    delay, and the persisted notification log knows the receiver has heard of it: no second page,
    no resolved page. The stated bound: a page still in flight at the kill may be delivered once
    more, with the same X-Tripwired-Dedup-Key, so a receiver drops it (at-least-once delivery).
    """
    daemon = start_daemon(config(tmp_path, receiver.url))
    daemon.wait_ready()
    (tmp_path / "rules.yml").write_text(RULES)
    prometheus_config = (
        "global: {evaluation_interval: 1s}\n"
        f"rule_files: [{tmp_path / 'rules.yml'}]\n"
        f"alerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['127.0.0.1:{daemon.port}']}}]\n"
    )
    with running_prometheus(tmp_path, prometheus_config, "--rules.alert.resend-delay=1s"):
        wait_until(lambda: notified(receiver, "/pipeline", "AlwaysFiring") == ["firing"], "the first page", 90)
        daemon.proc.send_signal(signal.SIGKILL)
        assert daemon.proc.wait() == -signal.SIGKILL
        daemon.restart()
        daemon.wait_ready()
        wait_until(lambda: listed(daemon.port) == ["AlwaysFiring"], "Prometheus sending the alert again", 60)
        time.sleep(3)  # three group intervals after it is back: time for a wrong second page to go out
    statuses = notified(receiver, "/pipeline", "AlwaysFiring")
    assert set(statuses) == {"firing"}, statuses  # no false resolve
    keys = {dedup_key(r) for r in receiver.requests if r.path == "/pipeline" and b"AlwaysFiring" in r.body}
    assert len(keys) == 1, keys  # one page; at most a re-delivery of it, which the receiver can drop


def dedup_key(request: Recorded) -> str:
    """The page's X-Tripwired-Dedup-Key header, whatever its case on the wire."""
    return next(v for k, v in request.headers.items() if k.lower() == "x-tripwired-dedup-key")
