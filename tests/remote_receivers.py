"""Real remote_write receivers for the tests: Prometheus 2.42 and VictoriaMetrics, from Debian.

One of each per test session (pytest plugin fixtures, loaded by tests/conftest.py; the xdist
grouping there keeps the tests that use one on one worker). Tests tell their data apart by an
external label of their own. `fault_proxy` stands in front of a receiver when a test needs it
to answer 500 or 400; an outage is a receiver of the test's own, killed and started again.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.remote.codec import decode
from tests.conftest import free_port, require_binary

Points = list[tuple[int, float]]  # (timestamp ms, value)


class ReceiverProcess:
    """A receiver binary on a loopback port, with its data in a directory that survives restarts."""

    def __init__(self, kind: str, data_dir: Path, extra_args: tuple[str, ...] = (), config: str = "") -> None:
        self.kind = kind
        self.data_dir = data_dir
        self.extra_args = extra_args  # e.g. a retention long enough for backfilled history
        self.config = config or "global: {scrape_interval: 1h}\n"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{kind}-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def write_url(self) -> str:
        return f"{self.url}/api/v1/write"

    def _args(self) -> list[str]:
        if self.kind == "prometheus":
            config = self.data_dir.parent / "prometheus.yml"
            config.write_text(self.config)
            return [
                require_binary("prometheus", "prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={self.data_dir}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-remote-write-receiver",
                *self.extra_args,
            ]
        return [
            require_binary("victoria-metrics", "victoria-metrics"),
            f"-storageDataPath={self.data_dir}",
            f"-httpListenAddr=127.0.0.1:{self.port}",
            "-dedup.minScrapeInterval=1ms",  # a sample sent twice (after a crash) is stored once
            "-search.latencyOffset=0s",
            "-retentionPeriod=100y",
        ]

    def start(self, timeout: float = 60.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self._args(), stdout=log, stderr=subprocess.STDOUT)
        ready = "/-/ready" if self.kind == "prometheus" else "/health"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.kind} exited with {self.proc.returncode}:\n{self.log_path.read_text()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url + ready, timeout=1.0).status_code == 200:
                    return
            time.sleep(0.1)
        raise AssertionError(f"{self.kind} not ready after {timeout}s:\n{self.log_path.read_text()}")

    def kill(self) -> None:
        """Stop it the hard way (a crashed receiver); its data stays on disk for `start`."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def points(self, selector: str) -> dict[tuple[tuple[str, str], ...], Points]:
        """Every stored sample of the series `selector` matches (all time), per label set."""
        if self.kind == "victoria-metrics":
            return self._exported(selector)
        response = httpx.get(
            f"{self.url}/api/v1/query", params={"query": f"{selector}[1000d]", "time": time.time() + 60}, timeout=30
        )
        response.raise_for_status()
        return {
            tuple(sorted(item["metric"].items())): [(round(float(t) * 1000), float(v)) for t, v in item["values"]]
            for item in response.json()["data"]["result"]
        }

    def _exported(self, selector: str) -> dict[tuple[tuple[str, str], ...], Points]:
        """VictoriaMetrics' /api/v1/export: raw samples, one JSON line per series."""
        httpx.get(f"{self.url}/internal/force_flush", timeout=30)  # make what was just written searchable
        response = httpx.get(f"{self.url}/api/v1/export", params={"match[]": selector}, timeout=30)
        response.raise_for_status()
        out: dict[tuple[tuple[str, str], ...], Points] = {}
        for line in response.text.splitlines():
            item: dict[str, Any] = httpx.Response(200, content=line).json()
            points = sorted(zip(item["timestamps"], item["values"], strict=True))
            out[tuple(sorted(item["metric"].items()))] = [(int(t), float(v)) for t, v in points]
        return out


@contextlib.contextmanager
def running_receiver(kind: str, base: Path) -> Iterator[ReceiverProcess]:
    receiver = ReceiverProcess(kind, base / "data")
    try:
        receiver.start()
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture(scope="session")
def victoria_metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReceiverProcess]:
    """The session's VictoriaMetrics (Debian's victoria-metrics), receiving at /api/v1/write."""
    with running_receiver("victoria-metrics", tmp_path_factory.mktemp("vm")) as receiver:
        yield receiver


@pytest.fixture(scope="session")
def prometheus_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReceiverProcess]:
    """The session's Prometheus 2.42 with --web.enable-remote-write-receiver."""
    with running_receiver("prometheus", tmp_path_factory.mktemp("prom")) as receiver:
        yield receiver


@pytest.fixture
def run_id() -> str:
    """A value for the `run` external label that keeps this test's series apart in a shared receiver."""
    return uuid.uuid4().hex[:12]


def decoded(body: bytes) -> dict[tuple[tuple[str, str], ...], Points]:
    """A remote_write request's samples, per label set."""
    return {
        tuple((label.name, label.value) for label in series.labels): [(s.timestamp, s.value) for s in series.samples]
        for series in decode(body).timeseries
    }


class FaultProxy:
    """An HTTP proxy in front of a receiver that answers `status` itself while told to, and counts requests."""

    def __init__(self, receiver: ReceiverProcess) -> None:
        self.receiver = receiver
        self.upstream = receiver.url
        self.status: int | None = None  # None: forward to the receiver
        self.requests: list[int] = []  # the status answered to each request
        self.bodies: list[bytes] = []  # the digest of each request's body
        self.refused: list[tuple[tuple[tuple[str, str], ...], int]] = []  # (labels, timestamp) answered by us
        self.forwarded: list[tuple[tuple[tuple[str, str], ...], int]] = []  # (labels, timestamp) forwarded
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, content = proxy.answer(self.path, body, dict(self.headers))
                self.send_response(status)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def write_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1/write"

    def answer(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        status = self.status
        samples = [(labels, t) for labels, points in decoded(body).items() for t, _ in points]
        self.bodies.append(hashlib.sha256(body).digest())
        if status is not None:
            self.requests.append(status)
            self.refused.extend(samples)
            return status, f"injected {status}".encode()
        self.forwarded.extend(samples)
        forwarded = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")}
        response = httpx.post(self.upstream + path, content=body, headers=forwarded, timeout=30)
        self.requests.append(response.status_code)
        return response.status_code, response.content

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fault_proxy(victoria_metrics: ReceiverProcess) -> Iterator[FaultProxy]:
    """A FaultProxy in front of the session's VictoriaMetrics."""
    proxy = FaultProxy(victoria_metrics)
    yield proxy
    proxy.close()


@pytest.fixture
def own_victoria_metrics(tmp_path: Path) -> Iterator[ReceiverProcess]:
    """A VictoriaMetrics of the test's own, which it may kill and start again (never the shared one)."""
    with running_receiver("victoria-metrics", tmp_path / "vm") as receiver:
        yield receiver


def agent_config(tmp_path: Path, write_url: str, run_id: str, extra: str = "", queue: str = "") -> str:
    """A daemon that collects `tmp_path/textfile` every second and ships it to `write_url`."""
    textfile = tmp_path / "textfile"
    textfile.mkdir(exist_ok=True)
    return (
        f"global: {{interval: 1s, external_labels: {{run: '{run_id}'}}}}\n"
        f"state_dir: {tmp_path / 'state'}\n"
        f"collectors:\n  host: {{enabled: false}}\n  textfile: {{directory: {textfile}}}\n"
        f"remote_write:\n  - url: {write_url}\n    name: test\n"
        f"    queue_config: {{min_backoff: 50ms, max_backoff: 500ms{queue}}}\n{extra}"
    )


def write_textfile(tmp_path: Path, text: str) -> None:
    """Replace the textfile collector's file at once (rename), as node_exporter asks writers to."""
    directory = tmp_path / "textfile"
    directory.mkdir(exist_ok=True)
    tmp = directory / "probe.prom.tmp"
    tmp.write_text(text)
    tmp.rename(directory / "probe.prom")


def agent_points(url: str, selector: str) -> dict[tuple[tuple[str, str], ...], Points]:
    """The samples the agent itself holds for `selector` (its store keeps the last 10 minutes)."""
    response = httpx.get(f"{url}/api/v1/query", params={"query": f"{selector}[10m]"}, timeout=30)
    response.raise_for_status()
    return {
        tuple(sorted(item["metric"].items())): [(round(float(t) * 1000), float(v)) for t, v in item["values"]]
        for item in response.json()["data"]["result"]
    }


def received_matches(
    receiver: ReceiverProcess, agent: dict[tuple[tuple[str, str], ...], Points], run_id: str, name: str
) -> tuple[bool, object]:
    """Whether the receiver holds exactly the agent's samples of `name` up to the agent's newest; and what it holds."""
    newest = max((t for points in agent.values() for t, _ in points), default=0)
    got = {
        tuple(pair for pair in labels if pair[0] != "run"): [p for p in points if p[0] <= newest]
        for labels, points in receiver.points(f'{name}{{run="{run_id}"}}').items()
    }
    return got == agent, got
