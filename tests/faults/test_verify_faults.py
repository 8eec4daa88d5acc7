"""Release verification when its peers break: an API answering 503, an agent stopped, a marker it cannot write.

Each test runs the real `tripwired` command and reads what a CI job sees: the exit code and the report.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, StartDaemon, wait_until

CHECK = "checks:\n  - {name: up, query: up, success_condition: result == 1, interval: 50ms, count: 3, %s}\n"


def tripwired(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def unavailable_api() -> Iterator[str]:
    """An HTTP server answering every request as an overloaded Prometheus does: 503 with its error JSON."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"status": "error", "errorType": "unavailable", "error": "too many queries"}).encode()
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_api_answering_503_errs_after_the_consecutive_error_limit(tmp_path: Path, unavailable_api: str) -> None:
    """A Prometheus API that answers every query with 503 Service Unavailable.

    Each measurement is an error and is retried; after consecutive_error_limit + 1 the check errs and CI fails.
    """
    checks = tmp_path / "checks.yaml"
    checks.write_text(CHECK % "consecutive_error_limit: 2")

    result = tripwired("verify", str(checks), f"--url={unavailable_api}")

    assert 1 == result.returncode, result.stdout + result.stderr
    assert "ERROR         up  3 measurement(s): 3 error" in result.stdout
    assert "/api/v1/query failed: too many queries" in result.stdout


def test_an_agent_stopped_after_the_release_mark_fails_the_verification(
    tmp_path: Path, start_daemon: StartDaemon
) -> None:
    """The agent stopped between `release mark` and `verify`.

    The marker cannot be read and no measurement can be taken: the verification errs (exit 1), never passes.
    """
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    daemon = start_daemon(f"collectors:\n  host: {{enabled: false}}\n  textfile: {{directory: {textfile}}}\n")
    daemon.wait_ready()
    assert 0 == tripwired("release", "mark", "shop", f"--textfile-directory={textfile}").returncode
    wait_until(lambda: "tripwired_release_info" in daemon.get("/metrics").text, "the marker exported")
    daemon.stop()
    checks = tmp_path / "checks.yaml"
    checks.write_text(CHECK % "consecutive_error_limit: 1")

    result = tripwired("verify", str(checks), f"--url={daemon.url}", "--release=shop", "--format=json")

    assert 1 == result.returncode, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert ("error", None) == (document["phase"], document["release"]["time"])
    assert document["release"]["note"].startswith('release marker tripwired_release_timestamp_seconds{release="shop"}')


def test_a_release_mark_into_a_missing_directory_fails_saying_so(tmp_path: Path) -> None:
    """`release mark` pointed at a textfile directory that does not exist (a typo, an unmounted volume).

    It exits 1 naming the problem and leaves nothing behind.
    """
    result = tripwired("release", "mark", "shop", f"--textfile-directory={tmp_path / 'missing'}")

    assert 1 == result.returncode
    assert "cannot write the release marker" in result.stderr
    assert [] == list(tmp_path.iterdir())
