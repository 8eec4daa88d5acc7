"""A real node_exporter 1.5 (Debian's prometheus-node-exporter) started for one test, on a free
loopback port, with the host collector's settings passed as its flags."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from agent.config.schema import HostConfig
from tests.conftest import free_port, require_binary

NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"

# The node_exporter collectors HostCollector replaces.
COLLECTORS = (
    *("cpu", "loadavg", "meminfo", "vmstat", "pressure", "diskstats", "filesystem", "netdev", "filefd"),
    *("stat", "uname", "os", "time", "timex", "sockstat", "netstat", "conntrack", "netclass"),
    *("entropy", "softnet", "arp", "schedstat"),
)


def node_exporter_args(config: HostConfig, port: int) -> list[str]:
    """Only COLLECTORS, reading /proc/net/dev as HostCollector does, with `config`'s regexes and paths.

    Debian patches some of node_exporter's defaults (mount points exclude /run, /mnt and /media;
    netdev excludes lo): passing HostConfig's explicitly compares what is read, not the defaults.
    """
    return [
        NODE_EXPORTER,
        f"--web.listen-address=127.0.0.1:{port}",
        "--collector.disable-defaults",
        *(f"--collector.{name}" for name in COLLECTORS),
        "--no-collector.netdev.netlink",
        f"--collector.diskstats.device-exclude={config.diskstats_device_exclude}",
        f"--collector.filesystem.mount-points-exclude={config.filesystem.mount_points_exclude}",
        f"--collector.filesystem.fs-types-exclude={config.filesystem.fs_types_exclude}",
        f"--collector.netdev.device-exclude={config.netdev_device_exclude}",
        f"--collector.netstat.fields={config.netstat_fields}",
        f"--collector.netclass.ignored-devices={config.netclass_ignored_devices}",
        f"--path.procfs={config.procfs}",
        f"--path.sysfs={config.sysfs}",
        f"--path.rootfs={config.rootfs}",
    ]


def wait_until_serving(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Return once `url` answers; fail with the log if node_exporter exits or takes over 15 s."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"node_exporter exited with {proc.returncode}:\n{log.read_text()}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    pytest.fail(f"node_exporter not serving after 15s:\n{log.read_text()}")


@contextmanager
def running_node_exporter(directory: Path, config: HostConfig) -> Iterator[str]:
    """node_exporter reading what `config` names (its log in `directory`); yields its host:port."""
    binary = require_binary(NODE_EXPORTER, "prometheus-node-exporter")
    port = free_port()
    log = directory / f"node_exporter-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([binary, *node_exporter_args(config, port)[1:]], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/metrics", proc, log)
        yield f"127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait(timeout=10)
