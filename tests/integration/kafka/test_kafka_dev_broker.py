"""scripts/kafka_broker.py and scripts/kafka-dev-broker: the cache, the cluster id, the script's life cycle."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import kafka_broker
import pytest
from confluent_kafka.admin import AdminClient

from tests.conftest import REPO

DEV_BROKER = REPO / "scripts" / "kafka-dev-broker"


def _fake_mvn(bin_dir: Path, exit_status: int) -> None:
    """An `mvn` that writes a jar where Maven would and then exits with `exit_status` (a download cut short)."""
    bin_dir.mkdir()
    script = bin_dir / "mvn"
    script.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do case "$a" in -DoutputDirectory=*) d="${a#-DoutputDirectory=}";; esac; done\n'
        'mkdir -p "$d" && touch "$d/kafka_2.13-half.jar"\n'
        f"exit {exit_status}\n"
    )
    script.chmod(0o755)


def test_cluster_ids_are_base64url_of_16_bytes_never_starting_with_a_dash() -> None:
    ids = [kafka_broker.new_cluster_id() for _ in range(200)]

    assert all(len(i) == 22 and not i.startswith("-") and "=" not in i for i in ids)
    assert len(set(ids)) == 200


def test_complete_cache_is_used_without_any_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cached = tmp_path / "kafka-9.9.9"
    (cached / "libs").mkdir(parents=True)
    (cached / kafka_broker.COMPLETE_MARKER).write_text("done\n")
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools-here"))

    assert cached == kafka_broker.ensure_kafka("9.9.9", cache=tmp_path)


def test_interrupted_download_leaves_no_cache_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_mvn(tmp_path / "bin", exit_status=1)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    cache = tmp_path / "cache"

    with pytest.raises(kafka_broker.BrokerError, match="mvn could not fetch"):
        kafka_broker.ensure_kafka("9.9.9", cache=cache)

    assert [] == list(cache.iterdir())


def test_finished_download_appears_complete_in_one_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_mvn(tmp_path / "bin", exit_status=0)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    cache = tmp_path / "cache"
    (cache / "kafka-9.9.9").mkdir(parents=True)  # left by something else, without the marker

    home = kafka_broker.ensure_kafka("9.9.9", cache=cache)

    assert ["kafka-9.9.9"] == [p.name for p in cache.iterdir()]
    assert (home / kafka_broker.COMPLETE_MARKER).is_file() and (home / "libs" / "kafka_2.13-half.jar").is_file()


def test_cache_lives_under_tripwired_cache_when_set() -> None:
    assert Path("/ci/cache") == kafka_broker.cache_root({"TRIPWIRED_CACHE": "/ci/cache", "HOME": "/home/x"})


def test_dev_broker_prints_its_address_serves_and_cleans_up_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHON": sys.executable}
    process = subprocess.Popen([DEV_BROKER], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        bootstrap = line.removeprefix("bootstrap_servers=")
        brokers = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).brokers
    finally:
        process.send_signal(signal.SIGTERM)
        status = process.wait(60)

    assert line.startswith("bootstrap_servers=127.0.0.1:")
    assert 1 == len(brokers)
    assert 0 == status
    assert [] == [p.name for p in tmp_path.iterdir() if p.name.startswith("tripwired-kafka-")]


def test_a_broker_whose_jvm_exits_fails_at_once_with_its_log(tmp_path: Path) -> None:
    broker = kafka_broker.KafkaBroker(tmp_path / "broker", kafka_broker.ensure_kafka())
    broker.start()
    broker.stop()
    config = tmp_path / "broker" / "server.properties"
    config.write_text(config.read_text().replace("node.id=1", "node.id=not-a-number"))

    started = time.monotonic()
    with pytest.raises(kafka_broker.BrokerError, match="exited before it was ready") as failure:
        broker.start()

    assert time.monotonic() - started < 20  # well inside the 60 s budget: it did not wait for it
    assert "Invalid value not-a-number" in str(failure.value)  # the cause, not only the stack trace
