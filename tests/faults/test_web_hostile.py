"""Hostile web clients against the real daemon: other sites, idle and slow sockets, oversized requests."""

from __future__ import annotations

import json
import os
import re
import resource
import select
import signal
import socket
import time
from pathlib import Path

import bcrypt
import httpx
import pytest

from tests.conftest import StartDaemon, wait_until
from tests.faults.web_helpers import daemon_config, metric, silence_body, silences

UNUSED_RECEIVER = "http://127.0.0.1:9/hook"  # never reached: these tests only make silences
EVIL = {"origin": "http://evil.example", "sec-fetch-site": "cross-site"}
IDLE_CONNECTIONS = 2000
FD_HEADROOM = 64  # the daemon's own files, sockets and SQLite beside its connections


def test_a_cross_site_text_plain_post_creates_no_silence(start_daemon: StartDaemon, tmp_path: Path) -> None:
    """A page on another site posts a silence to /api/v1/silences as text/plain (a no-CORS fetch)
    Refused with 403 and no silence exists; the same silence sent as JSON by a script is created.
    """
    daemon = start_daemon(daemon_config(tmp_path, route=UNUSED_RECEIVER))
    daemon.wait_ready()
    body = json.dumps(silence_body())
    attack = httpx.post(
        f"{daemon.url}/api/v1/silences", content=body, headers={**EVIL, "content-type": "text/plain"}, timeout=10
    )
    assert (403, "cross-site request refused (Sec-Fetch-Site: cross-site)") == (
        attack.status_code,
        attack.json()["error"],
    )
    assert [] == silences(daemon)
    ordinary = httpx.post(f"{daemon.url}/api/v1/silences", json=silence_body(), timeout=10)
    assert 200 == ordinary.status_code
    assert ["maintenance"] == [s["comment"] for s in silences(daemon)]


def test_a_text_plain_silence_without_browser_headers_is_refused(start_daemon: StartDaemon, tmp_path: Path) -> None:
    """A silence body sent as text/plain with no Origin (an old browser's form, a browser plugin)
    Refused with 415 naming the content type; only application/json creates silences.
    """
    daemon = start_daemon(daemon_config(tmp_path, route=UNUSED_RECEIVER))
    daemon.wait_ready()
    response = httpx.post(
        f"{daemon.url}/api/v1/silences",
        content=json.dumps(silence_body()),
        headers={"content-type": "text/plain"},
        timeout=10,
    )
    assert (415, "unsupported Content-Type 'text/plain': send application/json") == (
        response.status_code,
        response.json()["error"],
    )
    assert [] == silences(daemon)


def test_a_cross_origin_silence_from_an_old_browser_is_refused(start_daemon: StartDaemon, tmp_path: Path) -> None:
    """A JSON silence from another origin by a browser that sends Origin but not Sec-Fetch-Site
    Refused with 403: the Origin is neither the Host nor the external URL.
    """
    daemon = start_daemon(daemon_config(tmp_path, route=UNUSED_RECEIVER))
    daemon.wait_ready()
    response = httpx.post(
        f"{daemon.url}/api/v1/silences", json=silence_body(), headers={"origin": "http://evil.example"}, timeout=10
    )
    assert 403 == response.status_code
    assert [] == silences(daemon)


def test_a_silence_through_a_reverse_proxy_on_the_external_url_is_accepted(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """A browser behind a reverse proxy posts a silence: its Origin is the --web.external-url, not the Host
    Accepted: the external URL's origin is the daemon's own.
    """
    external = "https://tripwired.example.com/"
    daemon = start_daemon(daemon_config(tmp_path, route=UNUSED_RECEIVER), f"--web.external-url={external}")
    daemon.wait_ready()
    headers = {"origin": "https://tripwired.example.com", "sec-fetch-site": "same-origin"}
    response = httpx.post(f"{daemon.url}/api/v1/silences", json=silence_body(), headers=headers, timeout=10)
    assert 200 == response.status_code
    assert 1 == len(silences(daemon))


def test_the_status_page_form_posted_from_another_site_is_refused(start_daemon: StartDaemon, tmp_path: Path) -> None:
    """The status page's silence form posted from another site, with a token lifted from the page
    Refused with 403 and no silence; the same form posted from the page itself creates one.
    """
    daemon = start_daemon(daemon_config(tmp_path, route=UNUSED_RECEIVER))
    daemon.wait_ready()
    token = re.search(r'name="csrf_token" value="([^"]+)"', daemon.get("/").text)
    assert token is not None
    form = {
        "csrf_token": token.group(1),
        "matchers": 'alertname="IngestStopped"',
        "duration": "1h",
        "created_by": "eve",
        "comment": "x",
    }
    attack = httpx.post(f"{daemon.url}/silences", data=form, headers=EVIL, timeout=10)
    assert 403 == attack.status_code
    assert [] == silences(daemon)
    own = {"origin": daemon.url, "sec-fetch-site": "same-origin"}
    ordinary = httpx.post(f"{daemon.url}/silences", data=form, headers=own, timeout=10)
    assert 303 == ordinary.status_code
    assert ["eve"] == [s["createdBy"] for s in silences(daemon)]


def test_reload_over_http_is_off_without_the_lifecycle_flag(start_daemon: StartDaemon, tmp_path: Path) -> None:
    """POST /-/reload to a daemon started without --web.enable-lifecycle (after a bad edit of its config)
    Refused with 403 "Lifecycle API is not enabled"; the file is not re-read; SIGHUP still reloads.
    """
    daemon = start_daemon(daemon_config(tmp_path))
    daemon.wait_ready()
    config_file = next(tmp_path.glob("config-*.yaml"))
    config_file.write_text(config_file.read_text() + "bogus_key: 1\n")
    for method in ("POST", "PUT"):
        for path in ("/-/reload", "/-/quit"):
            response = httpx.request(method, f"{daemon.url}{path}", timeout=10)
            assert (403, "Lifecycle API is not enabled") == (response.status_code, response.text[:28])
    assert 1.0 == metric(daemon, "tripwired_config_last_reload_successful")
    assert daemon.proc.poll() is None
    daemon.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: metric(daemon, "tripwired_config_last_reload_successful") == 0.0, "SIGHUP reload refused")


def test_a_cross_site_reload_is_refused_even_with_the_lifecycle_api_on(
    start_daemon: StartDaemon, tmp_path: Path
) -> None:
    """A page on another site posts to /-/reload (lifecycle API on, a bad edit waiting in the config)
    Refused with 403; the config is not re-read, so the last reload stays successful.
    """
    daemon = start_daemon(daemon_config(tmp_path), "--web.enable-lifecycle")
    daemon.wait_ready()
    config_file = next(tmp_path.glob("config-*.yaml"))
    config_file.write_text(config_file.read_text() + "bogus_key: 1\n")
    attack = httpx.post(f"{daemon.url}/-/reload", headers={**EVIL, "content-type": "text/plain"}, timeout=10)
    assert 403 == attack.status_code
    assert 1.0 == metric(daemon, "tripwired_config_last_reload_successful")
    ordinary = httpx.post(f"{daemon.url}/-/reload", timeout=10)  # curl -X POST, as with Prometheus
    assert (500, True) == (ordinary.status_code, "bogus_key" in ordinary.text)


def test_state_changes_need_the_same_basic_auth_as_everything_else(start_daemon: StartDaemon, tmp_path: Path) -> None:
    """A silence and a reload posted without credentials to a daemon with basic auth
    401 for both and no silence; with the credentials the silence is created.
    """
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode()
    extra = f"web:\n  basic_auth_users: {{ops: '{hashed}'}}\n"
    daemon = start_daemon(daemon_config(tmp_path, route=UNUSED_RECEIVER, extra=extra), "--web.enable-lifecycle")
    daemon.wait_ready()
    assert 401 == httpx.post(f"{daemon.url}/api/v1/silences", json=silence_body(), timeout=10).status_code
    assert 401 == httpx.post(f"{daemon.url}/-/reload", timeout=10).status_code
    assert [] == silences(daemon, auth=("ops", "s3cret"))
    created = httpx.post(f"{daemon.url}/api/v1/silences", json=silence_body(), auth=("ops", "s3cret"), timeout=10)
    assert 200 == created.status_code


# -- connections ---------------------------------------------------------------------------------


@pytest.fixture
def many_descriptors() -> None:
    """Let this test process (and the daemon it starts, which inherits it) open thousands of sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = IDLE_CONNECTIONS + 512
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.fail(f"RLIMIT_NOFILE hard limit {hard} < {wanted}: raise it (ulimit -Hn) to run this test")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_two_thousand_idle_connections_do_not_lock_out_scrapes(
    start_daemon: StartDaemon, tmp_path: Path, many_descriptors: None
) -> None:
    """2,000 idle TCP connections held open to the daemon (a connection-exhaustion attack)
    /metrics and /-/healthy still answer a fresh client, and the daemon holds at most
    web.max_connections (512) of them: the longest idle are closed to make room.
    """
    daemon = start_daemon(daemon_config(tmp_path))
    daemon.wait_ready()
    idle = [socket.create_connection(("127.0.0.1", daemon.port), timeout=10) for _ in range(IDLE_CONNECTIONS)]
    try:
        for path in ("/metrics", "/-/healthy"):
            assert 200 == httpx.get(f"{daemon.url}{path}", timeout=10).status_code
        assert open_fds(daemon.proc.pid) <= 512 + FD_HEADROOM
        assert "ingest_ok 0" in httpx.get(f"{daemon.url}/metrics", timeout=10).text
    finally:
        for sock in idle:
            sock.close()


def test_a_client_sending_one_header_byte_at_a_time_is_cut_off(start_daemon: StartDaemon, tmp_path: Path) -> None:
    """A slowloris client: a request head sent one byte at a time, never finished
    The daemon closes the connection at web.read_header_timeout (1 s here) long before the
    head could end, and serves everyone else meanwhile.
    """
    daemon = start_daemon(daemon_config(tmp_path, extra="web: {read_header_timeout: 1s}\n"))
    daemon.wait_ready()
    slow = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
    slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: ")
    sent, closed = 0, False
    deadline = time.monotonic() + 60
    while sent < 300 and not closed and time.monotonic() < deadline:  # 300 bytes at 0.2 s: a minute
        readable, _, _ = select.select([slow], [], [], 0.2)
        if readable:
            try:
                closed = slow.recv(1024) == b""
            except ConnectionResetError:  # closed with bytes of ours unread: the kernel sends a reset, not a FIN
                closed = True
        else:
            try:
                slow.send(b"a")
                sent += 1
            except OSError:
                closed = True
    slow.close()
    assert closed, f"still open after {sent} slow bytes"
    assert sent < 300
    assert 200 == daemon.get("/-/healthy").status_code


def test_oversized_requests_are_refused_with_their_status(start_daemon: StartDaemon, tmp_path: Path) -> None:
    """A 2 MiB request body and a 100 KiB request head
    413 and 431 instead of reading them into memory; the daemon keeps serving.
    """
    daemon = start_daemon(daemon_config(tmp_path, route=UNUSED_RECEIVER))
    daemon.wait_ready()
    body = httpx.post(
        f"{daemon.url}/api/v1/silences",
        content=b"{" + b" " * (2 << 20) + b"}",
        headers={"content-type": "application/json"},
        timeout=10,
    )
    head = httpx.get(f"{daemon.url}/metrics", headers={"x-pad": "a" * (100 << 10)}, timeout=10)
    assert (413, 431) == (body.status_code, head.status_code)
    assert 200 == daemon.get("/-/healthy").status_code
