"""A throwaway PostgreSQL server from Debian's `postgresql` package, in a temporary directory.

Shared by the SQL collector's tests (tests/integration/sql/conftest.py, tests/faults) and its
benchmark. Each server gets a fresh cluster (initdb), a free loopback port and its socket in its
own directory. PostgreSQL refuses to run as root, so as root (CI) initdb and the server run as
`nobody` (runuser), in a directory handed to it.

Two roles: `postgres` (the superuser, for the tests' own writes) and `tripwired` (what the agent
logs in as: it may read every table, `pg_read_all_data`, and write none). Both log in with a
password over TCP (scram-sha-256), so a wrong password is refused as in production.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__:  # imported as scripts.postgres_server (the tests); scripts/ is on sys.path otherwise (bench)
    from scripts.kafka_broker import free_port
else:
    from kafka_broker import free_port

PG_BIN = Path(os.environ.get("TRIPWIRED_PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER_PASSWORD = "postgres-test-password"
AGENT_USER = "tripwired"
AGENT_PASSWORD = "agent-test-password"
START_TIMEOUT_SECONDS = 60
PORT_ATTEMPTS = 3


class PostgresError(RuntimeError):
    """Why a test server could not be made or started."""


@dataclass
class PostgresServer:
    """One cluster in `directory`, served on 127.0.0.1:`port` while started."""

    directory: Path
    port: int

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_file(self) -> Path:
        return self.directory / "server.log"

    def url(self, user: str = AGENT_USER, password: str | None = AGENT_PASSWORD, database: str = "postgres") -> str:
        """A SQLAlchemy URL for psycopg 3; without a password when `password` is None."""
        auth = user if password is None else f"{user}:{password}"
        return f"postgresql+psycopg://{auth}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-k {self.directory} -h 127.0.0.1 -p {self.port} -c fsync=off -c full_page_writes=off"
        wait = ["-w", "-t", str(START_TIMEOUT_SECONDS)]
        _run_as_owner(
            [str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file), "-o", options, *wait, "start"],
            what="pg_ctl start",
            log=self.log_file,
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: clients are disconnected; `immediate`: as a crash would)."""
        _run_as_owner([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"], what="pg_ctl stop")

    def execute(self, *statements: str, database: str = "postgres") -> list[tuple[Any, ...]]:
        """Run statements as the superuser, each committed; the rows of the last one that returns any."""
        import psycopg

        rows: list[tuple[Any, ...]] = []
        url = f"host=127.0.0.1 port={self.port} user=postgres password={SUPERUSER_PASSWORD} dbname={database}"
        with psycopg.connect(url, autocommit=True) as conn:
            for statement in statements:
                cursor = conn.execute(statement.encode())  # bytes: psycopg types a str query as a literal
                if cursor.description is not None:
                    rows = cursor.fetchall()
        return rows


@contextlib.contextmanager
def running_server() -> Iterator[PostgresServer]:
    """A started server with the agent's role, stopped and removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="tripwired-pg-"))
    try:
        _hand_to_owner(directory)
        server = _initialised(directory)
        _start_on_a_free_port(server)
        try:
            server.execute(
                f"CREATE ROLE {AGENT_USER} LOGIN PASSWORD '{AGENT_PASSWORD}'",
                f"GRANT pg_read_all_data TO {AGENT_USER}",
            )
            yield server
        finally:
            with contextlib.suppress(PostgresError):
                server.stop("immediate")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _initialised(directory: Path) -> PostgresServer:
    if not (PG_BIN / "initdb").exists():
        raise PostgresError(f"{PG_BIN / 'initdb'} not found: install Debian's postgresql package (make test-deps)")
    password_file = directory / "superuser-password"
    password_file.write_text(SUPERUSER_PASSWORD + "\n")
    _hand_to_owner(password_file)
    server = PostgresServer(directory, 0)
    settings = ["--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync"]
    _run_as_owner(
        [str(PG_BIN / "initdb"), "-D", str(server.data_dir), "-U", "postgres", f"--pwfile={password_file}", *settings],
        what="initdb",
    )
    return server


def _start_on_a_free_port(server: PostgresServer) -> None:
    """Start on a free port, again on another if a process took the port first."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        server.port = free_port()
        try:
            server.start()
            return
        except PostgresError:
            if attempt == PORT_ATTEMPTS or "in use" not in server.log_file.read_text(errors="replace"):
                raise


def _owner() -> pwd.struct_passwd | None:
    """The user PostgreSQL runs as: `nobody` when we are root, else ourselves (None)."""
    return pwd.getpwnam("nobody") if os.geteuid() == 0 else None


def _hand_to_owner(path: Path) -> None:
    owner = _owner()
    if owner is not None:
        os.chown(path, owner.pw_uid, owner.pw_gid)


def _run_as_owner(args: list[str], what: str, log: Path | None = None) -> None:
    owner = _owner()
    command = ["runuser", "-u", owner.pw_name, "--", *args] if owner is not None else args
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd="/")
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log is not None and log.exists() else ""
        raise PostgresError(f"{what} failed ({done.returncode}): {done.stderr.strip()}\n{tail}")
