"""A throwaway single-node Apache Kafka broker (KRaft), assembled from Maven Central.

Shared by `scripts/kafka-dev-broker` (for people trying tripwired), the test fixture in
tests/integration/kafka/conftest.py and the benchmarks. There is no Docker and no download
from apache.org where this runs, but Maven Central is reachable: Maven copies
`org.apache.kafka:kafka_2.13` and a log4j2 backend into a cache outside the repository,
once; every broker then gets a freshly formatted log directory, a new cluster id and free
loopback ports.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

KAFKA_VERSION = "4.1.2"
LOG4J_VERSION = "2.24.3"  # the log4j2 line Kafka 4.0/4.1 are built against
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
READY_BUDGET_SECONDS = 60.0
STOP_GRACE_SECONDS = 20.0
JVM_OPTIONS = ("-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true")
COMPLETE_MARKER = ".complete"
PORT_ATTEMPTS = 3

LOG4J2_PROPERTIES = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.state.name = state.change.logger
logger.state.level = WARN
"""


class BrokerError(RuntimeError):
    """Why a test broker could not be assembled, started or kept running."""


def missing_tools() -> list[str]:
    """The programs the broker needs (java runs it, mvn fetches it) that are not on PATH."""
    return [tool for tool in ("java", "mvn") if shutil.which(tool) is None]


def require_tools() -> None:
    """Fail with one message naming every missing program and how to get it."""
    missing = missing_tools()
    if missing:
        raise BrokerError(
            f"the Kafka test broker cannot be started: {' and '.join(missing)} not found on PATH; "
            "install a Java 17+ JDK and Maven (Debian: apt-get install openjdk-17-jdk-headless maven), "
            "or point the tests at a running cluster with KAFKA_BOOTSTRAP_SERVERS=host:port"
        )


def cache_root(environ: Mapping[str, str] = os.environ) -> Path:
    """Where downloaded Kafka distributions live: $TRIPWIRED_CACHE or ~/.cache/tripwired."""
    configured = environ.get("TRIPWIRED_CACHE", "")
    return Path(configured) if configured else Path.home() / ".cache" / "tripwired"


def kafka_pom(version: str = KAFKA_VERSION, log4j_version: str = LOG4J_VERSION) -> str:
    """A throwaway POM whose runtime dependencies are a runnable broker."""
    deps = [
        ("org.apache.kafka", "kafka_2.13", version),
        ("org.apache.logging.log4j", "log4j-slf4j-impl", log4j_version),
        ("org.apache.logging.log4j", "log4j-core", log4j_version),
    ]
    body = "".join(
        f"<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"
        for g, a, v in deps
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>tripwired</groupId><artifactId>kafka-test-broker</artifactId><version>0</version>"
        f"<packaging>pom</packaging><dependencies>{body}</dependencies></project>\n"
    )


def ensure_kafka(version: str = KAFKA_VERSION, cache: Path | None = None) -> Path:
    """The folder of the Kafka jars, downloaded once; a folder is only ever visible when complete."""
    target = (cache or cache_root()) / f"kafka-{version}"
    if (target / COMPLETE_MARKER).is_file():
        return target
    require_tools()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".kafka-{version}-partial-", dir=target.parent))
    try:
        _download(version, staging)
        (staging / COMPLETE_MARKER).write_text(f"kafka_2.13 {version}\n")
        staging.chmod(0o755)  # mkdtemp made it private; a shared CI cache must be readable
        _publish(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _download(version: str, staging: Path) -> None:
    """Have Maven copy the broker's runtime jars into staging/libs."""
    pom = staging / "pom.xml"
    pom.write_text(kafka_pom(version))
    command = [
        "mvn", "-B", "-q", "-f", str(pom), f"{DEPENDENCY_PLUGIN}:copy-dependencies",
        "-DincludeScope=runtime", f"-DoutputDirectory={staging / 'libs'}",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise BrokerError(f"mvn could not fetch kafka_2.13 {version} from Maven Central:\n{tail}")


def _publish(staging: Path, target: Path) -> None:
    """Rename the finished download into place; a concurrent run that finished first wins."""
    if target.exists() and not (target / COMPLETE_MARKER).is_file():
        shutil.rmtree(target)  # left by something other than this function: never trusted
    try:
        staging.rename(target)
    except OSError:
        if not (target / COMPLETE_MARKER).is_file():
            raise


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, base64url without padding, not starting with '-'."""
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate


def free_port(attempts: int = 200) -> int:
    """A loopback port nobody listens on right now, picked below the kernel's ephemeral range.

    The kernel hands ephemeral ports (32768-60999 by default) to every outgoing connection and
    to bind(0). A port picked there can be taken by some client socket between the pick and the
    peer's bind, or while a stopped broker is down before it restarts on the same port. Below
    that range only explicit binds compete, and random picks from it rarely meet; callers still
    retry when they lose a race.
    """
    low, high = _unassigned_ports()
    for _ in range(attempts):
        port = random.randrange(low, high)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # a crowded range: let the kernel pick
        sock.bind(("127.0.0.1", 0))
        picked: int = sock.getsockname()[1]
        return picked


def _unassigned_ports(range_file: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> tuple[int, int]:
    """Up to 10,000 ports just below the ephemeral range, above the well-known ones."""
    try:
        ephemeral_low = int(range_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768
    return max(ephemeral_low - 10_000, 1024), max(ephemeral_low, 1025)


def server_properties(port: int, controller_port: int, log_dir: Path, sasl_ssl: SaslSslListener | None = None) -> str:
    """server.properties of a one-node cluster that is both broker and controller."""
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(log_dir),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "log.cleaner.dedupe.buffer.size": "4194304",
    }
    if sasl_ssl is not None:
        settings.update(sasl_ssl.properties())
        settings["listeners"] += f",SASL_SSL://127.0.0.1:{sasl_ssl.port}"
        settings["advertised.listeners"] += f",SASL_SSL://127.0.0.1:{sasl_ssl.port}"
        settings["listener.security.protocol.map"] += ",SASL_SSL:SASL_SSL"
    return "".join(f"{key}={value}\n" for key, value in settings.items())


@dataclass
class SaslSslListener:
    """A second listener, SASL_SSL with SCRAM-SHA-256, for clients that must authenticate over TLS.

    Its users are created when the log dir is formatted (KRaft keeps SCRAM credentials in the
    metadata log); its certificate is self-signed for 127.0.0.1 by openssl, and Kafka reads
    key and certificate from one PEM file (ssl.keystore.type=PEM, Kafka 2.7+). Inter-broker
    traffic stays on the PLAINTEXT listener.
    """

    users: Mapping[str, str]  # SCRAM-SHA-256 user name -> password
    port: int = 0
    ca_path: Path = field(default_factory=Path)  # the certificate clients verify the broker with

    def properties(self) -> dict[str, str]:
        keystore = self.ca_path.with_name("broker-keystore.pem")
        return {
            "sasl.enabled.mechanisms": "SCRAM-SHA-256",
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(keystore),
        }

    def make_certificate(self, directory: Path) -> None:
        """A self-signed certificate for 127.0.0.1 (ca_path) and the broker's PEM keystore beside it."""
        self.ca_path = directory / "broker-ca.pem"
        key = directory / "broker-key.pem"
        command = [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(self.ca_path),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BrokerError(f"openssl could not make the broker's certificate:\n{result.stderr}")
        (directory / "broker-keystore.pem").write_text(key.read_text() + self.ca_path.read_text())

    def format_arguments(self) -> list[str]:
        """StorageTool's --add-scram for every user."""
        arguments = []
        for name, password in self.users.items():
            arguments += ["--add-scram", f"SCRAM-SHA-256=[name={name},password={password}]"]
        return arguments


def _tied_to_parent(command: list[str]) -> list[str]:
    """The command run so that Linux SIGTERMs it if this Python process dies without cleaning up.

    util-linux's setpriv sets the parent-death signal and execs the JVM; the signal survives
    exec. Without setpriv the broker is only stopped by `stop()`.
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *command] if setpriv else command


class KafkaBroker:
    """One single-node KRaft broker in a directory of its own: formatted once, started and stopped at will.

    Stopping and starting again keeps the ports, the cluster id and the data, as a real
    broker restart does. The JVM dies with the thread that started it (see `_tied_to_parent`).
    """

    def __init__(
        self, work_dir: Path, kafka_home: Path, java: str = "java", sasl_ssl: SaslSslListener | None = None
    ) -> None:
        self.work_dir = work_dir
        self.kafka_home = kafka_home
        self.java = java
        self.sasl_ssl = sasl_ssl
        self.log_path = work_dir / "kafka.log"
        self.port = 0
        self.controller_port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def sasl_ssl_bootstrap_servers(self) -> str:
        """The SASL_SSL listener's address (only for a broker made with one)."""
        assert self.sasl_ssl is not None, "this broker has no SASL_SSL listener"
        return f"127.0.0.1:{self.sasl_ssl.port}"

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, budget: float = READY_BUDGET_SECONDS) -> None:
        """Start the JVM and return once a client sees a broker; format the log dir on first use."""
        if self.is_running():
            return
        if self.port:
            self._launch()
            self._wait_ready(time.monotonic() + budget)
            return
        self._start_on_new_ports(budget)

    def _start_on_new_ports(self, budget: float) -> None:
        """First start: another process can take a free port before the JVM binds it, so retry."""
        deadline = time.monotonic() + budget
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self._format(free_port(), free_port())
            self._launch()
            try:
                self._wait_ready(deadline)
                return
            except BrokerError:
                if attempt == PORT_ATTEMPTS or "Address already in use" not in self.log_tail():
                    raise
            self.stop()

    def _format(self, port: int, controller_port: int) -> None:
        """Write fresh config files and format an empty log dir with a new cluster id."""
        self.port, self.controller_port = port, controller_port
        data = self.work_dir / "data"
        shutil.rmtree(data, ignore_errors=True)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        (self.work_dir / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
        scram: list[str] = []
        if self.sasl_ssl is not None:
            self.sasl_ssl.port = free_port()
            self.sasl_ssl.make_certificate(self.work_dir)
            scram = self.sasl_ssl.format_arguments()
        properties = server_properties(port, controller_port, data, self.sasl_ssl)
        (self.work_dir / "server.properties").write_text(properties)
        command = self._java("kafka.tools.StorageTool", "format", "-t", new_cluster_id(), "-c", self._config(), *scram)
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BrokerError(f"formatting the KRaft log dir failed:\n{result.stdout}{result.stderr}")

    def _config(self) -> str:
        return str(self.work_dir / "server.properties")

    def _java(self, main_class: str, *args: str) -> list[str]:
        """A java command line with Kafka's jars (one wildcard argument: the JVM expands it)."""
        log4j = f"-Dlog4j2.configurationFile={self.work_dir / 'log4j2.properties'}"
        classpath = str(self.kafka_home / "libs" / "*")
        return [self.java, *JVM_OPTIONS, log4j, "-cp", classpath, main_class, *args]

    def _launch(self) -> None:
        """Start the JVM, its output appended to kafka.log."""
        self._log_file = self.log_path.open("ab")
        self._process = subprocess.Popen(
            _tied_to_parent(self._java("kafka.Kafka", self._config())),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the terminal is ours to handle, in order
        )

    def _wait_ready(self, deadline: float) -> None:
        """Poll until AdminClient lists a broker; fail at once if the JVM exited."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, "log_level": 0})
        while time.monotonic() < deadline:
            if not self.is_running():
                self._close_log()
                raise BrokerError(
                    f"the Kafka JVM exited before it was ready; {self.log_path} ends with:\n{self.log_tail()}"
                )
            if self._port_open() and self._lists_a_broker(admin):
                return
            time.sleep(0.2)
        self.stop()
        raise BrokerError(f"Kafka was not ready within its budget; {self.log_path} ends with:\n{self.log_tail()}")

    def _port_open(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    @staticmethod
    def _lists_a_broker(admin: AdminClient) -> bool:
        try:
            return len(admin.list_topics(timeout=5).brokers) > 0
        except KafkaException:  # while the broker is still coming up
            return False

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM (a controlled shutdown), then SIGKILL once the grace period is over."""
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_tail(self, lines: int = 40) -> str:
        """The end of what the JVM wrote, from its last ERROR line on if there is one, for error messages.

        Kafka follows an error with a long stack trace; the last lines alone would show only
        the trace and not the message that says what went wrong.
        """
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log written)"
        recent = text.splitlines()[-200:]
        errors = [i for i, line in enumerate(recent) if " ERROR " in line or " FATAL " in line]
        start = errors[-1] if errors else len(recent) - lines
        return "\n".join(recent[max(start, 0) :][: lines + 20])


@contextlib.contextmanager
def running_broker(
    base_dir: Path | None = None, budget: float = READY_BUDGET_SECONDS, sasl_ssl: SaslSslListener | None = None
) -> Iterator[KafkaBroker]:
    """A started broker in a fresh temporary directory, stopped and removed afterwards."""
    require_tools()
    kafka_home = ensure_kafka()
    work_dir = Path(tempfile.mkdtemp(prefix="tripwired-kafka-", dir=base_dir))
    broker = KafkaBroker(work_dir, kafka_home, sasl_ssl=sasl_ssl)
    try:
        broker.start(budget)
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(work_dir, ignore_errors=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """`scripts/kafka-dev-broker`: run a broker until Ctrl-C or SIGTERM, then clean up."""
    parser = argparse.ArgumentParser(prog="kafka-dev-broker", description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with running_broker() as broker:
            print(f"bootstrap_servers={broker.bootstrap_servers}", flush=True)
            print(f"kafka {KAFKA_VERSION} running; log: {broker.log_path}; Ctrl-C stops it", file=sys.stderr)
            while broker.is_running():
                time.sleep(0.5)
            raise BrokerError(f"the Kafka JVM exited; {broker.log_path} ends with:\n{broker.log_tail()}")
    except KeyboardInterrupt:
        return 0
    except BrokerError as exc:
        print(f"kafka-dev-broker: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
