"""Shared test helpers: free ports, a real `tripwired run` subprocess, and the xdist grouping of shared peers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from scripts import postgres_server
from scripts.kafka_broker import free_port  # one port picker for the daemon, peers and brokers

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent

# docs/faults.md's hooks: a plugin rather than tests/faults/conftest.py, because xdist's controller
# (which merges the workers' rows and writes the table) loads this conftest and never that one.
# tests/receiver.py: the one test receiver, and its `receiver` fixture for every test.
pytest_plugins = ["tests.faults.faults_table", "tests.remote_receivers", "tests.receiver"]


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the marks into the node ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Send the tests that share a peer to one xdist worker, so the peer is started once per run.

    Under `--dist loadgroup` every worker has its own session: a session-scoped broker would
    start once per worker that happens to run a test needing it, a module-scoped Alertmanager or
    browser once per worker that gets a slice of its module. Grouping is decided here from the
    fixtures a test uses, so a new test file that uses `kafka_bootstrap` needs no mark of its own.
    An explicit `xdist_group` mark wins.
    """
    for item in items:
        group = shared_peer_group(item)
        if group is not None and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Fail a grouped test that `--dist loadgroup` scheduled without its group (pytest 9.2, xdist#1386).

    xdist tells its scheduler a test's group by appending `@group` to the test's id; were that
    lost, grouped tests would be spread over workers: peers started several times, and the
    Debian package installed and purged by two workers at once. Fail loudly instead.
    """
    if not getattr(item.config.option, "loadgroup", False):
        return
    if item.get_closest_marker("xdist_group") is not None and "@" not in item.nodeid:
        pytest.fail(
            "--dist loadgroup lost this test's xdist_group (pytest-dev/pytest-xdist#1386): "
            "use a pytest that pyproject.toml allows",
            pytrace=False,
        )


def shared_peer_group(item: pytest.Item) -> str | None:
    """The group of the widest-scoped fixture of this project that the test uses, if any.

    Session fixtures group by name (one per run); module- and class-scoped ones by the test
    file; package-scoped ones by their package. pytest's and plugins' fixtures (baseid "") are
    not peers of ours: `tmp_path_factory` is session-scoped and shared by every test.
    """
    info = getattr(item, "_fixtureinfo", None)  # pytest keeps the fixture closure here (doctests have none)
    if info is None:
        return None
    groups = {"session": "", "package": "", "module": ""}
    for definitions in info.name2fixturedefs.values():
        fixture = definitions[-1]  # the definition closest to the test is the one it gets
        if fixture.baseid == "" or fixture.scope == "function":
            continue
        if fixture.scope == "session":
            groups["session"] = groups["session"] or f"session-{fixture.argname}"
        elif fixture.scope == "package":
            groups["package"] = fixture.baseid
        else:
            groups["module"] = item.nodeid.split("::", 1)[0]
    return groups["session"] or groups["package"] or groups["module"] or None


def run_cli(*args: str, timeout: float = 60, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`tripwired ARGS...` as a user runs it, in its own process from the repository; its exit code and output."""
    return subprocess.run(
        [sys.executable, "-m", "agent", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
        check=False,
        env=None if env is None else dict(env),
    )


def require_binary(path: str, package: str) -> str:
    """The path of a real binary the test talks to; fails (never skips) when it is missing."""
    found = shutil.which(path)
    if found is None:
        pytest.fail(f"{path} not found: install Debian's {package} package (make test does)")
    return found


def wait_until(condition: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    """Poll `condition` until it returns something true; fail naming `what` after `timeout` seconds.

    Tests wait on what the daemon does, never for a fixed time: on a loaded machine (parallel
    workers, other jobs) the same step takes several times longer than on an idle one.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def poll(
    read: Callable[[], T], accept: Callable[[T], bool], what: str, daemon: DaemonProcess, timeout: float = 30.0
) -> T:
    """The first value `read` returns that `accept`s; fails naming `what`, the last value and the daemon's log."""
    deadline = time.monotonic() + timeout
    value = read()
    while not accept(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: last seen {value!r}\n{daemon.log()[-6000:]}")
        time.sleep(0.1)
        value = read()
    return value


def scraped_value(daemon: DaemonProcess, name: str, labels: Mapping[str, str]) -> float | None:
    """One series' value on the daemon's /metrics (with exactly `labels`), None when it is not there."""
    response = daemon.get("/metrics")
    assert 200 == response.status_code
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


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

    PORT_ATTEMPTS = 3

    def __init__(
        self, tmp_path: Path, config_text: str | None = None, *extra: str, prefix: str = "", port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.prefix = prefix  # the daemon's --web.route-prefix: `url` ends with it
        self.log_path = tmp_path / f"daemon-{self.port}.log"
        self._args = [sys.executable, "-m", "agent", "run", *extra]
        if config_text is not None:
            config = tmp_path / f"config-{self.port}.yaml"
            config.write_text(config_text)
            self._args.append(f"--config={config}")
        self._cwd = tmp_path
        self._log = self.log_path.open("wb")
        # A daemon started on a given port (a restart of one that stopped: the same address, so its
        # collectors keep their `instance` label) never moves to another.
        self._ports_tried = 0 if port is None else self.PORT_ATTEMPTS - 1
        self._launch()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    def _launch(self) -> None:
        # Its own working directory: the default state_dir `data` is relative to it, and daemons of
        # parallel tests must never share (or lock each other out of) one.
        self._ports_tried += 1
        self._log.flush()
        self._launch_offset = self.log_path.stat().st_size  # where this launch's lines start
        self.proc = subprocess.Popen(
            [*self._args, f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self._cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def restart(self) -> None:
        """Launch again with the same config on the same port, after a stop or a kill -9."""
        if self.proc.poll() is None:
            raise AssertionError("restart() needs the daemon stopped first")
        self._ports_tried = self.PORT_ATTEMPTS - 1  # peers know this port: never move to another
        self._launch()

    def _launch_log(self) -> str:
        """What this launch of the daemon logged (earlier launches lost a port race)."""
        self._log.flush()
        with self.log_path.open("rb") as log:
            log.seek(self._launch_offset)
            return log.read().decode(errors="replace")

    def _failed_to_listen(self) -> bool:
        """Whether this launch logged that it could not bind its port (it is about to exit)."""
        return '"listen_failed"' in self._launch_log()

    def _lost_port_race(self) -> bool:
        """Whether the daemon exited because another process bound its port first (then it retries)."""
        log = self._launch_log()
        return self._ports_tried < self.PORT_ATTEMPTS and '"listen_failed"' in log and "address already in use" in log

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None and self._lost_port_race():
                self.port = free_port()
                self._launch()
            elif self.proc.poll() is not None:
                raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.log()}")
            try:
                # Another test's daemon may hold the port this one failed to bind: its answer is not ours.
                if httpx.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200 and not self._failed_to_listen():
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

    def start(config_text: str | None = None, *extra: str, prefix: str = "", port: int | None = None) -> DaemonProcess:
        daemon = DaemonProcess(tmp_path, config_text, *extra, prefix=prefix, port=port)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


def self_signed(directory: Path, name: str = "server") -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with openssl in `directory` (created)."""
    openssl = require_binary("openssl", "openssl")
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / f"{name}.pem", directory / f"{name}-key.pem"
    args = [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}"]
    args += ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)]
    subprocess.run(args, check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="session")
def postgres() -> Iterator[postgres_server.PostgresServer]:
    """A real PostgreSQL for the session (Debian's postgresql, a fresh cluster in a temp dir).

    Tests that stop it must start it again before they end: the next test expects it up.
    """
    try:
        with postgres_server.running_server() as server:
            yield server
    except postgres_server.PostgresError as exc:
        pytest.fail(str(exc), pytrace=False)
