"""A real Alertmanager 0.25 (Debian's `prometheus-alertmanager`) started for tests, on a free loopback port."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import free_port, require_binary, wait_for_http


@dataclass(frozen=True)
class AlertmanagerProcess:
    """A running Alertmanager: where it answers, and its process."""

    url: str
    process: subprocess.Popen[bytes]


@contextmanager
def running_alertmanager(directory: Path, config_text: str, *flags: str) -> Iterator[AlertmanagerProcess]:
    """Alertmanager with `config_text` as alertmanager.yml in `directory` (its data and log there too), no cluster."""
    binary = require_binary("/usr/bin/prometheus-alertmanager", "prometheus-alertmanager")
    (directory / "alertmanager.yml").write_text(config_text)
    port = free_port()
    with (directory / "alertmanager.log").open("wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={directory / 'alertmanager.yml'}",
                f"--storage.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
                *flags,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_http(f"http://127.0.0.1:{port}/-/ready", timeout=20)
            yield AlertmanagerProcess(f"http://127.0.0.1:{port}", process)
        finally:
            process.terminate()
            process.wait(timeout=10)
