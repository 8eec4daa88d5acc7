"""The daemon's web settings for real: the status page, basic auth with bcrypt hashes, TLS."""

from __future__ import annotations

import ssl
import time
from pathlib import Path

import bcrypt
import httpx
import pytest

from tests.conftest import StartDaemon, run_cli, self_signed

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
    cert, key = self_signed(tmp_path)
    daemon = start_daemon(HOST_OFF + f"web:\n  tls_server_config: {{cert_file: {cert}, key_file: {key}}}\n")
    url = f"https://127.0.0.1:{daemon.port}/metrics"
    assert https_get(url, cert).status_code == 200
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(url, timeout=2)  # the system trust store does not know this certificate


def test_an_exporter_toolkit_web_config_file_gives_tls_basic_auth_and_headers(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    # The file node_exporter and Prometheus take with --web.config.file, certificate paths
    # relative to the file itself, as exporter-toolkit reads them.
    cert_dir = tmp_path / "certs"
    cert_dir.mkdir()
    cert, _ = self_signed(cert_dir, "server")
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode()
    web = cert_dir / "web.yml"
    web.write_text(
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server-key.pem\n  min_version: TLS12\n"
        "http_server_config:\n  http2: true\n  headers:\n    Strict-Transport-Security: max-age=31536000\n"
        f"basic_auth_users:\n  prometheus: '{hashed}'\n"
    )
    daemon = start_daemon(HOST_OFF, f"--web.config.file={web}")
    url = f"https://127.0.0.1:{daemon.port}/metrics"
    assert https_get(f"https://127.0.0.1:{daemon.port}/-/healthy", cert).status_code == 200
    trust = ssl.create_default_context(cafile=str(cert))
    assert httpx.get(url, verify=trust, timeout=10).status_code == 401
    scrape = httpx.get(url, verify=trust, auth=("prometheus", "s3cret"), timeout=10)
    assert (200, "max-age=31536000") == (scrape.status_code, scrape.headers["strict-transport-security"])


def test_tls_and_users_in_both_places_are_refused_at_start(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    hashed = bcrypt.hashpw(b"x", bcrypt.gensalt(4)).decode()
    web.write_text(f"basic_auth_users: {{a: '{hashed}'}}\n")
    config = tmp_path / "config.yaml"
    config.write_text(HOST_OFF + f"web:\n  basic_auth_users: {{b: '{hashed}'}}\n  config_file: {web}\n")
    result = run_cli("run", f"--config={config}", "--web.listen-address=127.0.0.1:0")
    assert 2 == result.returncode
    assert f"basic_auth_users is set both in web: and in the web config file {web}" in result.stderr
