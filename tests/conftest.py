"""Shared test helpers: free ports and a real `tripwired run` subprocess."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_binary(path: str, package: str) -> str:
    """The path of a real binary the test talks to; fails (never skips) when it is missing."""
    found = shutil.which(path)
    if found is None:
        pytest.fail(f"{path} not found: install Debian's {package} package (make test does)")
    return found


def wait_for_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError(f"{url} did not answer within {timeout}s")


class DaemonProcess:
    """`tripwired run` as a real subprocess on a free port."""

    def __init__(self, tmp_path: Path, config_text: str | None = None, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / f"daemon-{self.port}.log"
        args = [sys.executable, "-m", "agent", "run", f"--web.listen-address=127.0.0.1:{self.port}", *extra]
        if config_text is not None:
            config = tmp_path / f"config-{self.port}.yaml"
            config.write_text(config_text)
            args.append(f"--config={config}")
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            args, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"daemon not ready after {timeout}s:\n{self.log()}")

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=10.0)

    def client_post(self, path: str) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", timeout=10.0)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


StartDaemon = Callable[..., DaemonProcess]


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[StartDaemon]:
    """Start `tripwired run` subprocesses; every one is stopped when the test ends."""
    started: list[DaemonProcess] = []

    def start(config_text: str | None = None, *extra: str) -> DaemonProcess:
        daemon = DaemonProcess(tmp_path, config_text, *extra)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()
