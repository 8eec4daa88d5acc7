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
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import h11
import structlog

log = structlog.get_logger()

READ_CHUNK = 65536


@dataclass(frozen=True)
class ServerLimits:
    """What one client may cost the server; named after Go's http.Server fields, as Prometheus has them.

    A request's head must arrive within `read_header_timeout` of its first byte (of the connection,
    for the first request), so a client sending one byte a second is cut off; the whole request
    within `read_timeout`. A kept-alive connection may wait `idle_timeout` for its next request.
    At `max_connections` a new client evicts the connection idle the longest, so thousands of idle
    sockets cost at most `max_connections` descriptors and never lock out a scrape.
    """

    max_connections: int = 512
    read_header_timeout: float = 10.0
    read_timeout: float = 60.0
    idle_timeout: float = 120.0
    max_header_bytes: int = 64 * 1024
    max_body_bytes: int = 1 << 20


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


TlsProvider = Callable[[], ssl.SSLContext | None]


class _RequestRefusedError(Exception):
    """A request over a size limit: answered with `status` and the connection closed."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class _Connection:
    """One client connection; `idle_since` is when it began waiting for a request (None while busy)."""

    task: asyncio.Task[None]
    writer: asyncio.StreamWriter
    idle_since: float | None


class HttpServer:
    """Serves routes `(METHOD, path) -> handler` until closed.

    Routes and the TLS context can be swapped while serving (a reload): each new request sees the
    current routes, each new connection the current certificate.
    """

    def __init__(
        self,
        routes: Mapping[tuple[str, str], Handler],
        limits: ServerLimits | None = None,
        *,
        tls: TlsProvider | None = None,
    ) -> None:
        self.routes = routes
        self.limits = limits or ServerLimits()
        self._tls = tls or (lambda: None)
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], _Connection] = {}

    async def start(self, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None) -> tuple[str, int]:
        """Listen (over TLS with a context); returns the bound address (port 0 picks a free one)."""
        if ssl_context is not None:
            self._tls = lambda: ssl_context
        self._server = await asyncio.start_server(self._serve, host, port, reuse_address=True)
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
        assert task is not None
        if not self._make_room():
            writer.close()
            return
        state = _Connection(task, writer, _now())
        self._connections[task] = state
        try:
            context = self._tls()  # before any await: the client's hello must not reach the plain reader
            if context is not None:
                await writer.start_tls(context, ssl_handshake_timeout=self.limits.read_header_timeout)
            conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_header_bytes)
            kept_alive = False
            while await self._one_exchange(conn, reader, writer, state, kept_alive):
                conn.start_next_cycle()
                kept_alive = True
        except _RequestRefusedError as refused:
            await _refuse(writer, refused)
        except h11.RemoteProtocolError as exc:  # a malformed or oversized head: say which, as Go's server does
            await _refuse(writer, _RequestRefusedError(exc.error_status_hint, str(exc) or "bad request"))
        except (ConnectionError, TimeoutError, h11.ProtocolError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the client went away, was too slow or spoke nonsense; nothing to answer
        finally:
            self._connections.pop(task, None)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _make_room(self) -> bool:
        """At the cap, close the connection idle the longest; False when every connection is busy."""
        if len(self._connections) < self.limits.max_connections:
            return True
        idle = [c for c in self._connections.values() if c.idle_since is not None]
        if not idle:
            log.warning("http_connection_refused", reason="max_connections", limit=self.limits.max_connections)
            return False
        oldest = min(idle, key=lambda c: c.idle_since or 0.0)
        del self._connections[oldest.task]
        oldest.task.cancel()
        oldest.writer.transport.abort()  # the descriptor goes now, not when the task next runs
        return True

    async def _one_exchange(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        state: _Connection,
        kept_alive: bool,
    ) -> bool:
        """Read one request, answer it; False when the connection should close."""
        state.idle_since = _now()
        request = await self._read_request(conn, reader, state, kept_alive)
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
        await asyncio.wait_for(writer.drain(), timeout=self.limits.read_timeout)
        return conn.our_state is h11.DONE and conn.their_state is h11.DONE

    async def _read_request(
        self, conn: h11.Connection, reader: asyncio.StreamReader, state: _Connection, kept_alive: bool
    ) -> Request | None:
        """The next request in full, within the limits; None when the client closed between requests."""
        loop = asyncio.get_running_loop()
        idle = kept_alive and not conn.trailing_data[0]  # waiting for a kept-alive client's next request
        started = loop.time()
        head: h11.Request | None = None
        body = bytearray()
        limits = self.limits
        async with asyncio.timeout_at(
            started + (limits.idle_timeout if idle else limits.read_header_timeout)
        ) as deadline:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    chunk = await reader.read(READ_CHUNK)
                    if chunk and idle:
                        idle, started = False, loop.time()  # its first byte: the head's clock starts
                        deadline.reschedule(started + limits.read_header_timeout)
                    conn.receive_data(chunk)
                    if not chunk and head is None:
                        return None
                elif isinstance(event, h11.Request):
                    head = self._check_head(event)
                    state.idle_since = None
                    deadline.reschedule(started + limits.read_timeout)
                elif isinstance(event, h11.Data):
                    body += event.data
                    if len(body) > limits.max_body_bytes:
                        raise _RequestRefusedError(413, "request body too large")
                elif isinstance(event, h11.EndOfMessage) and head is not None:
                    return _request(head, bytes(body))
                elif isinstance(event, h11.ConnectionClosed):
                    return None

    def _check_head(self, head: h11.Request) -> h11.Request:
        """Refuse a head over max_header_bytes (h11 only limits one that is still incomplete) or a
        declared body over max_body_bytes, before reading the body."""
        size = len(head.target) + sum(len(name) + len(value) + 4 for name, value in head.headers)
        if size > self.limits.max_header_bytes:
            raise _RequestRefusedError(431, "request header fields too large")
        for name, value in head.headers:
            if name == b"content-length" and int(value) > self.limits.max_body_bytes:
                raise _RequestRefusedError(413, "request body too large")
        return head

    async def _dispatch(self, request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        routes = self.routes
        handler = routes.get((method, request.path)) or routes.get((method, route_pattern(routes, request.path)))
        if handler is None:
            known = any(path in (request.path, route_pattern(routes, request.path)) for _, path in routes)
            return text(405 if known else 404, "method not allowed\n" if known else "not found\n")
        try:
            return await handler(request)
        except Exception as exc:  # one bad request must not take the server down
            log.error("http_handler_failed", path=request.path, error=f"{type(exc).__name__}: {exc}")
            return text(500, "internal error\n")


def route_pattern(routes: Mapping[tuple[str, str], Handler], path: str) -> str:
    """The route path with `{name}` segments that `path` fills (`/api/v1/label/{name}/values`), or ""."""
    parts = path.split("/")
    for _, pattern in routes:
        if "{" not in pattern:
            continue
        wanted = pattern.split("/")
        if len(wanted) == len(parts) and all(
            w == p or (w.startswith("{") and w.endswith("}") and p) for w, p in zip(wanted, parts, strict=True)
        ):
            return pattern
    return ""


def _now() -> float:
    return asyncio.get_running_loop().time()


async def _refuse(writer: asyncio.StreamWriter, refused: _RequestRefusedError) -> None:
    """Answer a request over a limit without reading the rest of it, then close."""
    body = f"{refused.reason}\n".encode()
    phrase = HTTPStatus(refused.status).phrase
    head = f"HTTP/1.1 {refused.status} {phrase}\r\nconnection: close\r\ncontent-type: text/plain\r\n"
    writer.write(head.encode() + f"content-length: {len(body)}\r\n\r\n".encode() + body)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.drain(), timeout=1.0)


def _request(head: h11.Request, body: bytes) -> Request:
    target = urlsplit(head.target.decode("latin-1"))
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in head.headers}
    query = parse_qs(target.query, keep_blank_values=True)
    if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        for key, values in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items():
            query.setdefault(key, []).extend(values)
    return Request(head.method.decode("ascii"), target.path, query, headers, body)
