"""A loopback webhook receiver for the notification benchmarks.

In-process (`Receiver`): records (arrival wall time, payload) of every POST. As its own
process (`python -m bench.receiver --port P`), so it does not share a GIL with the sender:
counts POSTs and answers `GET /stats` with {"count", "first", "last"} (arrival wall times).
HTTP/1.1 with keep-alive, as a real receiver behind a load balancer would speak it.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a burst of new connections is not refused


class Receiver:
    """Webhook receiver on 127.0.0.1 that timestamps each POST as soon as its headers are in."""

    def __init__(self, port: int, *, keep_payloads: bool = True) -> None:
        self.port = port
        self.arrivals: list[tuple[float, dict[str, Any]]] = []
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                arrived = time.time()
                body = self.rfile.read(int(self.headers["Content-Length"]))
                payload = json.loads(body) if keep_payloads else {}
                with lock:
                    outer.count += 1
                    outer.first = outer.first or arrived
                    outer.last = arrived
                    if keep_payloads:
                        outer.arrivals.append((arrived, payload))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                with lock:
                    body = json.dumps({"count": outer.count, "first": outer.first, "last": outer.last}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = _Server(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    receiver = Receiver(args.port, keep_payloads=False)
    receiver.thread.join()


if __name__ == "__main__":
    main()
