"""Reloads that change everything at once, or nothing: web auth, TLS, routes, rules, bad and empty files."""

from __future__ import annotations

import ssl
import time
from pathlib import Path

import bcrypt
import httpx

from tests.conftest import DaemonProcess, StartDaemon, run_cli, self_signed, wait_until
from tests.faults.pipeline import Receiver
from tests.faults.web_helpers import daemon_config, metric

LIFECYCLE = "--web.enable-lifecycle"


def config_file(tmp_path: Path) -> Path:
    return next(tmp_path.glob("config-*.yaml"))


def users(password: bytes) -> str:
    return f"web:\n  basic_auth_users: {{ops: '{bcrypt.hashpw(password, bcrypt.gensalt(4)).decode()}'}}\n"


def firing(daemon: DaemonProcess, **kwargs: object) -> list[str]:
    alerts = httpx.get(f"{daemon.url}/api/v1/alerts", timeout=10, **kwargs).json()["data"]["alerts"]
    return [a["labels"]["alertname"] for a in alerts if a["state"] == "firing"]


def test_a_changed_basic_auth_password_applies_at_reload(start_daemon: StartDaemon, tmp_path: Path) -> None:
    """A reload after the basic-auth password was changed in the config
    The old password gets 401 and the new one 200 from then on, without a restart.
    """
    daemon = start_daemon(daemon_config(tmp_path, extra=users(b"old")), LIFECYCLE)
    daemon.wait_ready()
    assert 200 == httpx.get(f"{daemon.url}/metrics", auth=("ops", "old"), timeout=10).status_code
    config_file(tmp_path).write_text(daemon_config(tmp_path, extra=users(b"new")))
    assert 200 == httpx.post(f"{daemon.url}/-/reload", auth=("ops", "old"), timeout=10).status_code
    assert 401 == httpx.get(f"{daemon.url}/metrics", auth=("ops", "old"), timeout=10).status_code
    assert 200 == httpx.get(f"{daemon.url}/metrics", auth=("ops", "new"), timeout=10).status_code


def test_a_route_and_receiver_added_by_a_reload_get_notifications(
    start_daemon: StartDaemon, tmp_path: Path, receiver: Receiver
) -> None:
    """A reload that adds a route and a receiver to a daemon started without any
    The alert already firing reaches the new receiver, and silences can be made, without a restart.
    """
    daemon = start_daemon(daemon_config(tmp_path), LIFECYCLE)
    daemon.wait_ready()
    wait_until(lambda: firing(daemon) == ["IngestStopped"], "alert firing")
    config_file(tmp_path).write_text(daemon_config(tmp_path, route=receiver.url))
    response = httpx.post(f"{daemon.url}/-/reload", timeout=10)
    assert 200 == response.status_code, response.text
    wait_until(lambda: any(p["status"] == "firing" for p in receiver.payloads), "a firing notification")
    assert ["IngestStopped"] == [a["labels"]["alertname"] for a in receiver.payloads[0]["alerts"]]
    assert 200 == daemon.get("/api/v1/silences").status_code


def test_an_emptied_config_file_is_refused_at_reload(start_daemon: StartDaemon, tmp_path: Path) -> None:
    """The config file emptied (a deploy truncated it) and reloaded
    Refused: POST /-/reload answers 500 naming the empty file, last_reload_successful is 0, its
    success timestamp is unchanged, and the alert keeps firing with its original activeAt.
    """
    daemon = start_daemon(daemon_config(tmp_path), LIFECYCLE)
    daemon.wait_ready()
    wait_until(lambda: firing(daemon) == ["IngestStopped"], "alert firing")
    active_at = httpx.get(f"{daemon.url}/api/v1/alerts", timeout=10).json()["data"]["alerts"][0]["activeAt"]
    loaded_at = metric(daemon, "tripwired_config_last_reload_success_timestamp_seconds")
    config_file(tmp_path).write_text("# nothing here yet\n")
    response = httpx.post(f"{daemon.url}/-/reload", timeout=10)
    assert (500, True) == (response.status_code, "the config file is empty" in response.text)
    assert 0.0 == metric(daemon, "tripwired_config_last_reload_successful")
    assert loaded_at == metric(daemon, "tripwired_config_last_reload_success_timestamp_seconds")
    assert [active_at] == [a["activeAt"] for a in httpx.get(f"{daemon.url}/api/v1/alerts").json()["data"]["alerts"]]
    assert "reload_failed" in daemon.log()


def test_a_reload_with_one_bad_part_changes_nothing(start_daemon: StartDaemon, tmp_path: Path) -> None:
    """A reload whose config changes the rules and the password but routes to an unknown receiver
    Refused whole, with the reason in the answer: the old rules and the old password keep working.
    """
    daemon = start_daemon(daemon_config(tmp_path, extra=users(b"old")), LIFECYCLE)
    daemon.wait_ready()
    (tmp_path / "rules.yaml").write_text((tmp_path / "rules.yaml").read_text().replace("IngestStopped", "Renamed"))
    bad_route = "route: {receiver: nobody}\n"
    config_file(tmp_path).write_text(daemon_config(tmp_path, extra=users(b"new") + bad_route))
    response = httpx.post(f"{daemon.url}/-/reload", auth=("ops", "old"), timeout=10)
    assert (500, True) == (response.status_code, "nobody" in response.text)
    auth = ("ops", "old")
    assert 200 == httpx.get(f"{daemon.url}/metrics", auth=auth, timeout=10).status_code
    wait_until(lambda: firing(daemon, auth=auth) == ["IngestStopped"], "old rule still firing")


def https_daemon_up(daemon: DaemonProcess, cafile: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(
                f"https://127.0.0.1:{daemon.port}/-/healthy", verify=ssl.create_default_context(cafile=str(cafile))
            )
            return
        except httpx.TransportError:
            if time.monotonic() > deadline or daemon.proc.poll() is not None:
                raise AssertionError(daemon.log()) from None
            time.sleep(0.05)


def served_certificate(daemon: DaemonProcess) -> str:
    return ssl.get_server_certificate(("127.0.0.1", daemon.port))


def same_cert(a: str, b: str) -> bool:
    return ssl.PEM_cert_to_DER_cert(a) == ssl.PEM_cert_to_DER_cert(b)


def tls_config(cert: Path, key: Path) -> str:
    return f"web:\n  tls_server_config: {{cert_file: {cert}, key_file: {key}}}\n"


def test_a_renewed_certificate_is_served_after_reload(start_daemon: StartDaemon, tmp_path: Path) -> None:
    """A reload after the TLS certificate and key were renewed in place (same file names)
    New connections get the new certificate at once; no restart, and the old one is gone.
    """
    cert, key = self_signed(tmp_path, "server")
    first = cert.read_text()
    daemon = start_daemon(daemon_config(tmp_path, extra=tls_config(cert, key)), LIFECYCLE)
    https_daemon_up(daemon, cert)
    assert same_cert(served_certificate(daemon), first)
    (tmp_path / "renewed").mkdir()
    new_cert, new_key = self_signed(tmp_path / "renewed", "server")
    cert.write_text(new_cert.read_text())
    key.write_text(new_key.read_text())
    reload = httpx.post(f"https://127.0.0.1:{daemon.port}/-/reload", verify=False, timeout=10)
    assert 200 == reload.status_code, reload.text
    assert same_cert(served_certificate(daemon), new_cert.read_text())


def test_a_broken_key_at_reload_keeps_the_old_certificate(start_daemon: StartDaemon, tmp_path: Path) -> None:
    """A reload with a TLS key file that does not match its certificate
    Refused with the TLS error in the answer; HTTPS keeps serving the old certificate.
    """
    cert, key = self_signed(tmp_path, "server")
    _, other_key = self_signed(tmp_path, "other")
    daemon = start_daemon(daemon_config(tmp_path, extra=tls_config(cert, key)), LIFECYCLE)
    https_daemon_up(daemon, cert)
    config_file(tmp_path).write_text(daemon_config(tmp_path, extra=tls_config(cert, other_key)))
    reload = httpx.post(f"https://127.0.0.1:{daemon.port}/-/reload", verify=False, timeout=10)
    assert (500, True) == (reload.status_code, "tls_server_config" in reload.text)
    assert same_cert(served_certificate(daemon), cert.read_text())
    assert (
        200
        == httpx.get(
            f"https://127.0.0.1:{daemon.port}/-/healthy",
            verify=ssl.create_default_context(cafile=str(cert)),
            timeout=10,
        ).status_code
    )


def test_a_web_config_file_with_an_unsupported_key_stops_the_start(tmp_path: Path) -> None:
    """An exporter-toolkit web config file with a setting tripwired does not support (cipher_suites)
    The daemon does not start: exit 2, the file, the line and the keys it knows.
    """
    web = tmp_path / "web.yml"
    web.write_text(
        "tls_server_config:\n  cert_file: a.pem\n  key_file: a-key.pem\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n"
    )
    result = run_cli("run", f"--web.config.file={web}", "--web.listen-address=127.0.0.1:0")
    assert 2 == result.returncode, result.stderr
    assert f"{web}:4: tls_server_config.cipher_suites: unknown field 'cipher_suites'" in result.stderr
