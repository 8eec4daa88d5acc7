"""The test receiver: a real HTTP server on loopback that records every request, shared by every test.

Notifier tests script its answers (`Reply`: status, headers, body, delay); daemon tests read what
the daemon sent (`payloads`, `statuses`). One implementation, so every test talks to the same peer.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from scripts.kafka_broker import free_port

ECHO = "{echo}"  # in a Reply body: replaced by the request's path, headers and body


@dataclass(frozen=True)
class Reply:
    """One scripted answer: status, headers, body, and how long to wait before giving it."""

    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = 0.0  # time.monotonic() when it arrived

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A real HTTP server on loopback that records requests and answers from a script, then 200 "ok"."""

    def __init__(self, port: int | None = None, *, default: Reply | None = None, tls: ssl.SSLContext | None = None):
        self.port = port or free_port()
        self.requests: list[Recorded] = []
        self.script: list[Reply] = []
        self.default = default or Reply()
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._tls = tls
        self._server: ThreadingHTTPServer | None = None
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.handle(self)

            def do_PUT(self) -> None:  # Opsgenie's updates of an existing alert
                receiver.handle(self)

            def log_message(self, format: str, *args: object) -> None:  # quiet test output
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        if self._tls is not None:
            server.socket = self._tls.wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    @property
    def payloads(self) -> list[Any]:
        """The JSON bodies received so far, in order of arrival."""
        return [request.json() for request in self.requests]

    def statuses(self, alertname: str) -> list[str]:
        """The status ("firing", "resolved") of each notified alert of that name, in order."""
        return [a["status"] for p in self.payloads for a in p["alerts"] if a["labels"]["alertname"] == alertname]

    def close(self) -> None:
        """Stop serving (the same as stop)."""
        self.stop()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length", "0"))
        body = request.rfile.read(length)
        with self._lock:
            headers = dict(request.headers.items())
            self.requests.append(Recorded(request.command, request.path, headers, body, time.monotonic()))
            reply = self.script.pop(0) if self.script else self.default
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(reply.delay)
            dump = f"{request.path} {dict(request.headers.items())} {body.decode(errors='replace')}"
            payload = reply.body.replace(ECHO, dump).encode()
            request.send_response(reply.status)
            for name, value in reply.headers.items():
                request.send_header(name, value)
            request.send_header("Content-Length", str(len(payload)))
            request.end_headers()
            request.wfile.write(payload)
        except OSError:
            pass  # the client gave up (a timeout test); nothing to answer
        finally:
            with self._lock:
                self.in_flight -= 1


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def webhook_receiver(port: int | None = None) -> Receiver:
    """A started receiver that answers 200 to every POST, as daemon tests want their webhook."""
    return Receiver(port).start()
