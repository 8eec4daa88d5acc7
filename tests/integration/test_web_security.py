"""The daemon's web settings for real: the status page, basic auth with bcrypt hashes, TLS."""

from __future__ import annotations

import ssl
import subprocess
import time
from pathlib import Path

import bcrypt
import httpx
import pytest

from tests.conftest import StartDaemon

HOST_OFF = "collectors:\n  host: {enabled: false}\n"


def test_the_status_page_is_served_at_the_root(start_daemon: StartDaemon) -> None:
    daemon = start_daemon(HOST_OFF)
    daemon.wait_ready()
    page = daemon.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "tripwired" in page.text


def test_basic_auth_guards_everything_but_the_health_checks(start_daemon: StartDaemon) -> None:
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode()
    daemon = start_daemon(HOST_OFF + f"web:\n  basic_auth_users: {{ops: '{hashed}'}}\n")
    daemon.wait_ready()
    assert daemon.get("/metrics").status_code == 401
    assert daemon.get("/").status_code == 401
    assert httpx.get(f"{daemon.url}/metrics", auth=("ops", "wrong"), timeout=10).status_code == 401
    assert httpx.get(f"{daemon.url}/metrics", auth=("ops", "s3cret"), timeout=10).status_code == 200
    assert daemon.get("/-/healthy").status_code == 200


def https_get(url: str, cert: Path, timeout: float = 20.0) -> httpx.Response:
    """GET once the daemon listens (it cannot be polled for readiness over plain HTTP)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, verify=ssl.create_default_context(cafile=str(cert)), timeout=2)
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_tls_serves_https_with_the_configured_certificate(start_daemon: StartDaemon, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    daemon = start_daemon(HOST_OFF + f"web:\n  tls_server_config: {{cert_file: {cert}, key_file: {key}}}\n")
    url = f"https://127.0.0.1:{daemon.port}/metrics"
    assert https_get(url, cert).status_code == 200
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(url, timeout=2)  # the system trust store does not know this certificate
