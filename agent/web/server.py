"""A small HTTP/1.1 server on the event loop: asyncio streams with h11 for the protocol.

The agent serves a handful of endpoints to Prometheus and to people; a framework would
cost more memory than the whole store at the default size (aiohttp alone adds ~11 MB).
h11 does the parsing and framing, so this module only routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import h11
import structlog

log = structlog.get_logger()

MAX_BODY_BYTES = 1 << 20
READ_CHUNK = 65536
IDLE_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class Request:
    """One HTTP request, already read in full."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes = b""

    def arg(self, name: str, default: str = "") -> str:
        """A query or form parameter (the last one given), or the default."""
        values = self.query.get(name)
        return values[-1] if values else default


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Awaitable[Response]]


def text(status: int, body: str) -> Response:
    return Response(status, body.encode())


class HttpServer:
    """Serves routes `(METHOD, path) -> handler` until closed."""

    def __init__(self, routes: Mapping[tuple[str, str], Handler]) -> None:
        self._routes = routes
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None) -> tuple[str, int]:
        """Listen (over TLS with a context); returns the bound address (port 0 picks a free one)."""
        self._server = await asyncio.start_server(self._serve, host, port, reuse_address=True, ssl=ssl_context)
        bound = self._server.sockets[0].getsockname()
        return str(bound[0]), int(bound[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=1.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=65536)
        try:
            while await self._one_exchange(conn, reader, writer):
                conn.start_next_cycle()
        except (ConnectionError, TimeoutError, h11.ProtocolError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the client went away or spoke nonsense; nothing to answer
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _one_exchange(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Read one request, answer it; False when the connection should close."""
        request = await self._read_request(conn, reader)
        if request is None:
            return False
        response = await self._dispatch(request)
        headers = [
            ("content-type", response.content_type),
            ("content-length", str(len(response.body))),
            *response.headers.items(),
        ]
        data = conn.send(h11.Response(status_code=response.status, headers=headers))
        body = conn.send(h11.Data(data=response.body)) if request.method != "HEAD" else b""
        end = conn.send(h11.EndOfMessage())
        writer.write((data or b"") + (body or b"") + (end or b""))
        await writer.drain()
        return conn.our_state is h11.DONE and conn.their_state is h11.DONE

    async def _read_request(self, conn: h11.Connection, reader: asyncio.StreamReader) -> Request | None:
        head: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                chunk = await asyncio.wait_for(reader.read(READ_CHUNK), timeout=IDLE_TIMEOUT_SECONDS)
                conn.receive_data(chunk)
                if not chunk and head is None:
                    return None
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY_BYTES:
                    return None
            elif isinstance(event, h11.EndOfMessage) and head is not None:
                return _request(head, bytes(body))
            elif isinstance(event, h11.ConnectionClosed):
                return None

    async def _dispatch(self, request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        handler = self._routes.get((method, request.path))
        if handler is None:
            known = any(path == request.path for _, path in self._routes)
            return text(405 if known else 404, "method not allowed\n" if known else "not found\n")
        try:
            return await handler(request)
        except Exception as exc:  # one bad request must not take the server down
            log.error("http_handler_failed", path=request.path, error=f"{type(exc).__name__}: {exc}")
            return text(500, "internal error\n")


def _request(head: h11.Request, body: bytes) -> Request:
    target = urlsplit(head.target.decode("latin-1"))
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in head.headers}
    query = parse_qs(target.query, keep_blank_values=True)
    if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        for key, values in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items():
            query.setdefault(key, []).extend(values)
    return Request(head.method.decode("ascii"), target.path, query, headers, body)
