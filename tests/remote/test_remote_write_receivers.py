"""remote_write to real receivers: what the agent collected arrives, sample for sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import StartDaemon, poll
from tests.remote_receivers import ReceiverProcess, agent_config, agent_points, received_matches, write_textfile

PROBE = '# TYPE rw_probe gauge\nrw_probe{case="a"} 1.5\nrw_probe{case="b"} -2\n'


@pytest.mark.parametrize("kind", ["victoria_metrics", "prometheus_receiver"])
def test_every_collected_sample_arrives(
    kind: str, request: pytest.FixtureRequest, start_daemon: StartDaemon, tmp_path: Path, run_id: str
) -> None:
    receiver: ReceiverProcess = request.getfixturevalue(kind)
    write_textfile(tmp_path, PROBE)
    daemon = start_daemon(agent_config(tmp_path, receiver.write_url, run_id))
    daemon.wait_ready()
    agent = poll(
        lambda: agent_points(daemon.url, "rw_probe"),
        lambda p: len(p) == 2 and min(map(len, p.values())) >= 5,
        "five collections",
        daemon,
    )
    matched = poll(
        lambda: received_matches(receiver, agent, run_id, "rw_probe"),
        lambda r: r[0],
        "the receiver to hold every sample",
        daemon,
    )
    target = (("instance", f"127.0.0.1:{daemon.port}"), ("job", "textfile"))  # as vmagent would send them
    assert {
        (("__name__", "rw_probe"), ("case", "a"), *target),
        (("__name__", "rw_probe"), ("case", "b"), *target),
    } == set(agent)
    assert matched[0]
