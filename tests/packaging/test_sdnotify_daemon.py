"""`tripwired run` under systemd's notify protocol: READY, STATUS, WATCHDOG and STOPPING over a real socket.

Needs the daemon wiring of issue 7 (agent/runtime/daemon.py spawns notify_lifecycle).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port


@pytest.fixture
def notify_socket() -> Iterator[tuple[str, socket.socket]]:
    directory = tempfile.mkdtemp(prefix="sdn-")  # AF_UNIX paths are limited to 107 bytes
    path = os.path.join(directory, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(30.0)
    yield path, sock
    sock.close()
    shutil.rmtree(directory)


def receive_until(sock: socket.socket, wanted: str) -> list[list[str]]:
    """Datagrams received up to and including the first that carries `wanted`."""
    seen = []
    while not seen or wanted not in seen[-1]:
        seen.append(sock.recv(4096).decode().split("\n"))
    return seen


def test_daemon_tells_systemd_ready_status_watchdog_and_stopping(
    notify_socket: tuple[str, socket.socket], tmp_path: Path
) -> None:
    path, sock = notify_socket
    env = {**os.environ, "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"}  # a ping every 0.2 s
    daemon = subprocess.Popen(
        [sys.executable, "-m", "agent", "run", f"--web.listen-address=127.0.0.1:{free_port()}"],
        cwd=tmp_path,  # the built-in config keeps its state in ./data: not in the checkout
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        started = receive_until(sock, "READY=1")
        pings = receive_until(sock, "WATCHDOG=1") + receive_until(sock, "WATCHDOG=1")
        daemon.terminate()
        stopping = receive_until(sock, "STOPPING=1")
    finally:
        daemon.kill()
        daemon.wait()
    ready = started[-1]
    assert ("READY=1", True) == (ready[0], ready[1].startswith("STATUS=serving on 127.0.0.1:"))
    assert sum(["WATCHDOG=1"] == message for message in pings + stopping) >= 2
