"""Optional basic auth and TLS for every endpoint, as Prometheus' web config file has them.

Passwords are stored as bcrypt hashes (`htpasswd -nBC 10 "" | tr -d ':\\n'`, or Python's bcrypt), as
in exporter-toolkit's `basic_auth_users`. bcrypt is slow on purpose, so it runs in a worker thread,
and a verified (user, password) pair is remembered by its SHA-256 so a scrape every 15 s pays once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import ssl
from collections.abc import Mapping

from agent.config.schema import TlsServerConfig
from agent.web.server import Handler, Request, Response

REALM = "tripwired"
BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
TLS_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
CLIENT_AUTH_TYPES = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}


class WebAuthError(ValueError):
    """A web auth or TLS setting that cannot work; the message says which."""


def check_users(users: Mapping[str, str]) -> list[str]:
    """Problems with `basic_auth_users` (name -> bcrypt hash), without doing any I/O."""
    problems = []
    for name, hashed in users.items():
        if not name or ":" in name:
            problems.append(f"basic_auth_users: invalid user name {name!r}")
        if not hashed.startswith(BCRYPT_PREFIXES) or len(hashed) != 60:
            problems.append(f"basic_auth_users: {name}: password must be a bcrypt hash ($2y$..., 60 characters)")
    return problems


def credentials(request: Request) -> tuple[str, str] | None:
    """The user and password of an `Authorization: Basic` header, or None."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


class BasicAuth:
    """Checks requests against bcrypt-hashed passwords."""

    def __init__(self, users: Mapping[str, str]) -> None:
        problems = check_users(users)
        if problems:
            raise WebAuthError("; ".join(problems))
        self._users = {name: hashed.encode() for name, hashed in users.items()}
        self._verified: set[tuple[str, bytes]] = set()
        # Checked against when the user is unknown, so an unknown user takes as long as a wrong password.
        # bcrypt is imported here, not at the top: only a daemon with users to check loads it.
        import bcrypt

        self._checkpw = bcrypt.checkpw
        self._dummy_hash = bcrypt.hashpw(b"tripwired-no-such-user", bcrypt.gensalt(10))

    async def allows(self, request: Request) -> bool:
        """Whether the request carries a known user's password.

        bcrypt runs in a thread (it is slow on purpose); a user who passed once is remembered by a hash
        of the password, so later requests are cheap. An unknown user costs as much as a known one.
        """
        given = credentials(request)
        if given is None:
            return False
        user, password = given
        key = (user, hashlib.sha256(password.encode()).digest())
        if key in self._verified:
            return True
        hashed = self._users.get(user)
        ok = await asyncio.to_thread(self._checkpw, password.encode(), hashed or self._dummy_hash)
        if ok and hashed is not None:
            self._verified.add(key)
            return True
        return False


def unauthorized() -> Response:
    """The 401 answer that asks the client for basic credentials."""
    return Response(
        401,
        b"Unauthorized\n",
        "text/plain; charset=utf-8",
        {"www-authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
    )


def protect(
    routes: Mapping[tuple[str, str], Handler], auth: BasicAuth | None, *, open_paths: frozenset[str] = frozenset()
) -> dict[tuple[str, str], Handler]:
    """The routes behind basic auth (all of them, as Prometheus does, unless listed in open_paths)."""
    if auth is None:
        return dict(routes)
    return {key: handler if key[1] in open_paths else _guarded(handler, auth) for key, handler in routes.items()}


def _guarded(handler: Handler, auth: BasicAuth) -> Handler:
    async def guarded(request: Request) -> Response:
        if not await auth.allows(request):
            return unauthorized()
        return await handler(request)

    return guarded


def tls_context(config: TlsServerConfig) -> ssl.SSLContext:
    """A server SSLContext for `HttpServer.start(..., ssl=...)`; WebAuthError names what is wrong."""
    for name, version in (("min_version", config.min_version), ("max_version", config.max_version)):
        if version not in TLS_VERSIONS:
            raise WebAuthError(f"tls_server_config: {name} must be one of {', '.join(TLS_VERSIONS)}")
    if config.client_auth_type not in CLIENT_AUTH_TYPES:
        raise WebAuthError(f"tls_server_config: client_auth_type must be one of {', '.join(CLIENT_AUTH_TYPES)}")
    if CLIENT_AUTH_TYPES[config.client_auth_type] != ssl.CERT_NONE and not config.client_ca_file:
        raise WebAuthError("tls_server_config: client_auth_type needs client_ca_file")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = TLS_VERSIONS[config.min_version]
    context.maximum_version = TLS_VERSIONS[config.max_version]
    if not config.prefer_server_cipher_suites:
        context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    try:
        context.load_cert_chain(config.cert_file, config.key_file)
        if config.client_ca_file:
            context.load_verify_locations(config.client_ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise WebAuthError(f"tls_server_config: {exc}") from exc
    context.verify_mode = CLIENT_AUTH_TYPES[config.client_auth_type]
    context.set_alpn_protocols(["http/1.1"])
    return context


# exporter-toolkit's http_server_config.headers: the headers it allows, and the values it accepts.
ALLOWED_HEADERS: dict[str, tuple[str, ...]] = {
    "Content-Security-Policy": (),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-Content-Type-Options": ("nosniff",),
    "X-XSS-Protection": (),
    "Strict-Transport-Security": (),
}


def check_headers(headers: Mapping[str, str]) -> list[str]:
    """Problems with `http_server_config.headers`, as exporter-toolkit validates them."""
    problems = []
    allowed = {name.lower(): (name, values) for name, values in ALLOWED_HEADERS.items()}
    for name, value in headers.items():
        known = allowed.get(name.lower())
        if known is None:
            problems.append(
                f"http_server_config.headers: {name!r} cannot be set (allowed: {', '.join(ALLOWED_HEADERS)})"
            )
        elif known[1] and value.lower() not in known[1]:
            problems.append(f"http_server_config.headers: {known[0]} must be one of {', '.join(known[1])}")
    return problems


def with_headers(
    routes: Mapping[tuple[str, str], Handler], headers: Mapping[str, str]
) -> dict[tuple[str, str], Handler]:
    """Every response carries `headers` (the operator's win over the page's defaults)."""
    if not headers:
        return dict(routes)
    extra = {name.lower(): value for name, value in headers.items() if value}
    return {key: _with_headers(handler, extra) for key, handler in routes.items()}


def _with_headers(handler: Handler, extra: Mapping[str, str]) -> Handler:
    async def add_headers(request: Request) -> Response:
        response = await handler(request)
        return Response(response.status, response.body, response.content_type, {**response.headers, **extra})

    return add_headers
