"""The Kafka collector's child process logs as the daemon was told to: `--log.level` and `--log.format`.

The child writes to the daemon's stderr. Its own events (`kafka_cluster_reachable` at info,
`kafka_cluster_unreachable` at warning) are logged only there, so they show which settings it used.
"""

from __future__ import annotations

import json
from pathlib import Path

import kafka_broker
import pytest
from test_kafka_daemon import poll, scraped

from tests.conftest import DaemonProcess, StartDaemon


def two_clusters(tmp_path: Path, reachable: str) -> str:
    """A daemon reading a cluster that answers and one whose address nobody listens on."""
    clusters = [
        {"name": "up", "bootstrap_servers": reachable, "interval": "1s", "topics": {"include": ["none"]}},
        {"name": "down", "bootstrap_servers": f"127.0.0.1:{kafka_broker.free_port()}", "interval": "1s"},
    ]
    return (
        f"global: {{interval: 1s, evaluation_interval: 1s}}\nstate_dir: {tmp_path / 'state'}\n"
        f"collectors:\n  host: {{enabled: false}}\n  kafka: {json.dumps(clusters)}\n"
    )


def children_have_run(daemon: DaemonProcess) -> None:
    """Wait until each child has answered a run: the reachable one up, the other reporting its cluster down."""
    for cluster, up in (("up", 1.0), ("down", 0.0)):
        labels = {"cluster": cluster}
        poll(lambda labels=labels: scraped(daemon, "kafka_up", **labels), lambda v, up=up: v == up, cluster, daemon)


def lines_of(daemon: DaemonProcess, event: str) -> list[str]:
    return [line for line in daemon.log().splitlines() if event in line]


def is_json(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except json.JSONDecodeError:
        return False


def test_log_level_warning_keeps_the_childs_info_lines_out(
    start_daemon: StartDaemon, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """`tripwired run --log.level=warning` with a Kafka child that has info lines to log.

    Its warnings (a cluster unreachable) still reach the daemon's stderr; its info lines
    (a cluster reachable) do not.
    """
    daemon = start_daemon(two_clusters(tmp_path, kafka_bootstrap), "--log.level=warning")
    daemon.wait_ready()

    children_have_run(daemon)

    # One per child (a child restarted after a slow first run on a loaded machine logs it again).
    assert lines_of(daemon, "kafka_cluster_unreachable")
    assert [] == lines_of(daemon, "kafka_cluster_reachable")


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_the_childs_lines_are_in_the_daemons_log_format(
    start_daemon: StartDaemon, kafka_bootstrap: str, tmp_path: Path, log_format: str
) -> None:
    """`tripwired run --log.format=json` or `console`, with a Kafka child logging.

    Every line of the child is in that format, as the daemon's own are.
    """
    daemon = start_daemon(two_clusters(tmp_path, kafka_bootstrap), f"--log.format={log_format}")
    daemon.wait_ready()

    children_have_run(daemon)

    reachable, unreachable = lines_of(daemon, "kafka_cluster_reachable"), lines_of(daemon, "kafka_cluster_unreachable")
    daemon_lines = lines_of(daemon, "started")
    assert reachable and unreachable and daemon_lines
    assert {log_format == "json"} == {is_json(line) for line in reachable + unreachable + daemon_lines}
