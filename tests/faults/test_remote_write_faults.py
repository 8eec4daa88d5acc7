"""remote_write on a bad day: the receiver down, failing, refusing; the agent killed mid-outage."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import DaemonProcess, StartDaemon, poll, scraped_value, wait_until
from tests.faults.pipeline import stop
from tests.remote_receivers import (
    FaultProxy,
    ReceiverProcess,
    agent_config,
    agent_points,
    received_matches,
    write_textfile,
)

PROBE = '# TYPE rw_probe gauge\nrw_probe{case="a"} 1.5\nrw_probe{case="b"} -2\n'
QUEUE = {"remote_name": "test", "url": "http://127.0.0.1"}


def queue_metric(daemon: DaemonProcess, name: str, port: int, **labels: str) -> float:
    wanted = {**QUEUE, "url": f"http://127.0.0.1:{port}", **labels}
    return scraped_value(daemon, f"tripwired_remote_storage_{name}", wanted) or 0.0


def collections(daemon: DaemonProcess) -> int:
    """How many samples of rw_probe{case="a"} the agent holds."""
    return sum(len(p) for labels, p in agent_points(daemon.url, "rw_probe").items() if ("case", "a") in labels)


def wait_for_collections(daemon: DaemonProcess, more: int) -> None:
    start = collections(daemon)
    poll(lambda: collections(daemon), lambda n: n >= start + more, f"{more} more collections", daemon)


def assert_receiver_has_everything(daemon: DaemonProcess, receiver: ReceiverProcess, run_id: str) -> None:
    """The receiver ends up with exactly the samples the agent holds, none missing, none invented."""
    agent = agent_points(daemon.url, "rw_probe")
    assert len(agent) == 2
    poll(
        lambda: received_matches(receiver, agent, run_id, "rw_probe"),
        lambda matched: matched[0],
        "the receiver to hold exactly the agent's samples",
        daemon,
        timeout=60,
    )


def test_receiver_down_for_a_while(
    start_daemon: StartDaemon, own_victoria_metrics: ReceiverProcess, tmp_path: Path, run_id: str
) -> None:
    """The remote_write receiver (VictoriaMetrics) stopped for a while, then started again.

    Every sample collected during the outage arrives once it is back.
    """
    receiver = own_victoria_metrics
    write_textfile(tmp_path, PROBE)
    daemon = start_daemon(agent_config(tmp_path, receiver.write_url, run_id))
    daemon.wait_ready()
    poll(lambda: queue_metric(daemon, "samples_total", receiver.port), lambda n: n > 0, "a first send", daemon)
    receiver.stop()  # not kill -9: VictoriaMetrics acknowledges before it flushes, and would lose that second
    wait_for_collections(daemon, 5)
    poll(lambda: queue_metric(daemon, "samples_retried_total", receiver.port), lambda n: n > 0, "retries", daemon)
    receiver.start()
    assert_receiver_has_everything(daemon, receiver, run_id)
    assert 0 == queue_metric(daemon, "samples_failed_total", receiver.port)


@pytest.mark.parametrize("down_from_start", [False, True], ids=["after-a-first-send", "down-from-the-start"])
def test_agent_killed_during_receiver_outage(
    start_daemon: StartDaemon,
    own_victoria_metrics: ReceiverProcess,
    tmp_path: Path,
    run_id: str,
    down_from_start: bool,
) -> None:
    """tripwired killed with kill -9 while the remote_write receiver is down, then both started again.

    Nothing is lost: the receiver gets every sample the agent wrote to its WAL, those from before the
    crash included, as the agent's read position and unsent segments were on disk; also when the
    receiver was down before the agent ever sent anything.
    """
    receiver = own_victoria_metrics
    if down_from_start:
        receiver.stop()
    write_textfile(tmp_path, PROBE)
    text = agent_config(tmp_path, receiver.write_url, run_id)
    daemon = start_daemon(text)
    daemon.wait_ready()
    if not down_from_start:
        poll(lambda: queue_metric(daemon, "samples_total", receiver.port), lambda n: n > 0, "a first send", daemon)
        receiver.stop()  # not kill -9: VictoriaMetrics acknowledges before it flushes, and would lose that second
    wait_for_collections(daemon, 5)
    stop(daemon, signal.SIGKILL)
    restarted = start_daemon(text, port=daemon.port)  # the same address: the same target labels
    restarted.wait_ready()
    wait_for_collections(restarted, 3)
    receiver.start()
    assert_receiver_has_everything(restarted, receiver, run_id)


@pytest.mark.parametrize("status", [500, 503, 429], ids=["500", "503", "429-retried"])
def test_receiver_answers_5xx_then_200(
    start_daemon: StartDaemon, fault_proxy: FaultProxy, tmp_path: Path, run_id: str, status: int
) -> None:
    """The remote_write receiver answers 500 or 503 (or 429, with retry_on_http_429) for a while, then 200 again.

    The refused requests are retried with backoff and nothing is lost; with no crash in between no
    sample is sent twice (after a crash the bound is two batches of max_samples_per_send).
    """
    fault_proxy.status = status
    write_textfile(tmp_path, PROBE)
    queue = ", retry_on_http_429: true" if status == 429 else ""
    daemon = start_daemon(agent_config(tmp_path, fault_proxy.write_url, run_id, queue=queue))
    daemon.wait_ready()
    poll(lambda: fault_proxy.requests.count(status), lambda n: n >= 4, "four refused requests", daemon)
    fault_proxy.status = None
    assert_receiver_has_everything(daemon, fault_proxy.receiver, run_id)
    assert [] == [sample for sample, times in Counter(fault_proxy.forwarded).items() if times > 1]
    poll(lambda: queue_metric(daemon, "samples_retried_total", fault_proxy.port), bool, "retries counted", daemon)
    assert 0 == queue_metric(daemon, "samples_failed_total", fault_proxy.port)


@pytest.mark.parametrize("status", [400, 429], ids=["400", "429-not-retried"])
def test_receiver_answers_4xx(
    start_daemon: StartDaemon, fault_proxy: FaultProxy, tmp_path: Path, run_id: str, status: int
) -> None:
    """The remote_write receiver answers 400 Bad Request (or 429 without retry_on_http_429) for a while.

    The refused samples are dropped and counted as failed, never sent again; what is collected after
    the receiver accepts again arrives.
    """
    fault_proxy.status = status
    write_textfile(tmp_path, PROBE)
    daemon = start_daemon(agent_config(tmp_path, fault_proxy.write_url, run_id))
    daemon.wait_ready()
    poll(lambda: fault_proxy.requests.count(status), lambda n: n >= 3, "three refused requests", daemon)
    fault_proxy.status = None
    poll(lambda: len(fault_proxy.forwarded), lambda n: n > 0, "a request forwarded", daemon)
    refused = len(fault_proxy.refused)
    poll(
        lambda: queue_metric(daemon, "samples_failed_total", fault_proxy.port),
        lambda n: n == refused,
        f"the {refused} refused samples counted as failed",
        daemon,
    )
    assert len(fault_proxy.bodies) == len(set(fault_proxy.bodies))  # no request was sent twice
    assert 0 == queue_metric(daemon, "samples_retried_total", fault_proxy.port)
    wait_for_collections(daemon, 2)
    lost = {(tuple(p for p in labels if p[0] != "run"), t) for labels, t in fault_proxy.refused}
    agent = agent_points(daemon.url, "rw_probe")
    expected = {labels: [p for p in points if (labels, p[0]) not in lost] for labels, points in agent.items()}
    assert any(len(points) < len(agent[labels]) for labels, points in expected.items())
    poll(
        lambda: received_matches(fault_proxy.receiver, expected, run_id, "rw_probe"),
        lambda matched: matched[0],
        "the receiver to hold every sample but the refused ones",
        daemon,
    )


def test_receiver_down_longer_than_the_retention(
    start_daemon: StartDaemon, own_victoria_metrics: ReceiverProcess, tmp_path: Path, run_id: str
) -> None:
    """The remote_write receiver down for longer than store.wal.remote_write_retention (1s here), across a restart.

    The unsent segments older than the retention are dropped and counted
    (samples_dropped_total{reason="retention"}); what was collected after them arrives.
    """
    receiver = own_victoria_metrics
    receiver.stop()
    write_textfile(tmp_path, PROBE)
    text = agent_config(tmp_path, receiver.write_url, run_id, extra="store: {wal: {remote_write_retention: 1s}}\n")
    first = start_daemon(text)
    first.wait_ready()
    wait_for_collections(first, 3)
    lost = agent_points(first.url, "rw_probe")
    stop(first, signal.SIGTERM)
    segments = sorted((tmp_path / "state" / "wal").glob("0*"))
    assert segments, "the unsent segment must be kept by the checkpoint at stop"
    wait_until(lambda: time.time() - segments[-1].stat().st_mtime > 1.5, "the segment to outlive the retention")
    second = start_daemon(text, port=first.port)  # the same address: the same target labels
    second.wait_ready()
    poll(
        lambda: queue_metric(second, "samples_dropped_total", receiver.port, reason="retention"),
        lambda n: n >= sum(map(len, lost.values())),
        "the first run's samples counted as dropped",
        second,
    )
    receiver.start()
    everything = agent_points(second.url, "rw_probe")
    newest_lost = max(t for points in lost.values() for t, _ in points)
    after = {labels: [p for p in points if p[0] > newest_lost] for labels, points in everything.items()}
    poll(
        lambda: received_matches(receiver, after, run_id, "rw_probe"),
        lambda matched: matched[0],
        "the receiver to hold exactly the samples collected after the dropped segment",
        second,
        timeout=60,
    )
