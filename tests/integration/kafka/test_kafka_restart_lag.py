"""A daemon killed and restarted while a consumer group lags: lag in seconds continues from the history."""

from __future__ import annotations

import contextlib
import signal
import time
import uuid
from pathlib import Path

from kafka_helpers import KafkaHelper, consume_and_commit
from test_kafka_daemon import CLUSTER, daemon_config, poll, queried

from agent.runtime.storage import WAL_DIR
from tests.conftest import StartDaemon


def wal_bytes(directory: Path) -> int:
    """The log's bytes on disk (a checkpoint may remove a file as it is listed)."""
    total = 0
    for path in directory.rglob("*"):
        with contextlib.suppress(FileNotFoundError):
            total += path.stat().st_size if path.is_file() else 0
    return total


def test_lag_seconds_after_a_kill_9_counts_from_when_the_messages_arrived_not_from_the_restart(
    start_daemon: StartDaemon, kafka: KafkaHelper, tmp_path: Path
) -> None:
    topic = kafka.new_topic()
    group = f"behind-{uuid.uuid4().hex[:8]}"
    kafka.produce(topic, 5)
    consume_and_commit(kafka, group, topic, 5)  # caught up, then the consumers stop
    config = daemon_config(tmp_path, CLUSTER, kafka.bootstrap, topic=topic, group=group)
    daemon = start_daemon(config)
    daemon.wait_ready()
    selector = f'{{consumergroup="{group}",topic="{topic}",partition="0"}}'
    lag_seconds = f"kafka_consumergroup_lag_seconds{selector}"
    poll(lambda: queried(daemon, f"kafka_consumergroup_lag{selector}"), lambda v: v == [0.0], "no lag yet", daemon)

    produced_at = time.time()
    kafka.produce(topic, 10)  # nobody reads these
    poll(lambda: queried(daemon, lag_seconds), lambda v: bool(v) and v[0] >= 3, "lag of 3 s", daemon)
    # The log takes a second to get writes nobody waits for (longer on a loaded machine): see two
    # more land on disk, so the points that bracket the unread messages are in it before the kill.
    wal = tmp_path / "state" / WAL_DIR
    for _ in range(2):
        before = wal_bytes(wal)
        poll(lambda: wal_bytes(wal), lambda size, before=before: size != before, "a write to the log", daemon)
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait(timeout=30)
    time.sleep(2)

    restarted_at = time.time()
    restarted = start_daemon(config, port=daemon.port)  # the same address: the same target labels
    restarted.wait_ready()
    # The replayed log answers at once with the last value before the kill: wait for the restarted
    # collector's own (on a loaded machine its first Kafka run can take seconds).
    poll(
        lambda: queried(restarted, f"timestamp({lag_seconds})"),
        lambda v: bool(v) and v[0] > restarted_at,
        "lag seconds collected after the restart",
        restarted,
    )
    [after] = queried(restarted, lag_seconds)
    [lower_bound] = queried(restarted, f"kafka_consumergroup_lag_seconds_lower_bound{selector}")
    behind = time.time() - produced_at
    # Without the history the collector would count from its first look after the restart (~1 s).
    assert behind - 2.5 <= after <= behind + 1.0, (after, behind)
    assert 0.0 == lower_bound
