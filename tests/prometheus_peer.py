"""A real Prometheus 2.42 (Debian's `prometheus`) started for one test, on a free loopback port."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import free_port, require_binary, wait_for_http


@contextmanager
def running_prometheus(directory: Path, config_text: str, *flags: str, data: Path | None = None) -> Iterator[str]:
    """Prometheus with `config_text` as its config and its data in `data` (default: in `directory`,
    which also gets the config and the log); yields its URL."""
    binary = require_binary("/usr/bin/prometheus", "prometheus")
    config = directory / "prometheus.yml"
    config.write_text(config_text)
    port = free_port()
    with (directory / "prometheus.log").open("wb") as log:
        prometheus = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={data or directory / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                *flags,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_http(f"http://127.0.0.1:{port}/-/ready", timeout=60)
            yield f"http://127.0.0.1:{port}"
        finally:
            prometheus.terminate()
            prometheus.wait(timeout=30)
