"""Basic auth with bcrypt hashes and TLS, over real sockets with a real client."""

from __future__ import annotations

import asyncio
import base64
import ssl
from pathlib import Path

import bcrypt
import httpx
import pytest

from agent.config.schema import TlsServerConfig
from agent.web.auth import BasicAuth, WebAuthError, check_users, protect, tls_context
from agent.web.server import HttpServer, Request, Response, text
from tests.conftest import self_signed

PASSWORD = "correct horse"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
HTPASSWD_HASH = "$2y$" + HASH[4:]  # htpasswd -B writes $2y$, as Prometheus' docs show


async def hello(_: Request) -> Response:
    return text(200, "hello\n")


def request(authorization: str | None = None) -> Request:
    headers = {} if authorization is None else {"authorization": authorization}
    return Request("GET", "/metrics", {}, headers)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def allows(auth: BasicAuth, authorization: str | None) -> bool:
    return asyncio.run(auth.allows(request(authorization)))


def test_the_right_password_is_allowed_with_either_bcrypt_prefix() -> None:
    auth = BasicAuth({"alice": HASH, "bob": HTPASSWD_HASH})

    assert [True, True] == [allows(auth, basic("alice", PASSWORD)), allows(auth, basic("bob", PASSWORD))]


def test_wrong_password_unknown_user_and_malformed_headers_are_refused() -> None:
    auth = BasicAuth({"alice": HASH})

    for header in (
        basic("alice", "wrong"),
        basic("mallory", PASSWORD),
        None,
        "Bearer abc",
        "Basic !!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
    ):
        assert not allows(auth, header), header


def test_a_password_containing_a_colon_is_read_whole() -> None:
    auth = BasicAuth({"alice": bcrypt.hashpw(b"a:b", bcrypt.gensalt(4)).decode()})

    assert allows(auth, basic("alice", "a:b"))


def test_plain_text_passwords_in_the_config_are_refused() -> None:
    assert ["basic_auth_users: alice: password must be a bcrypt hash ($2y$..., 60 characters)"] == check_users(
        {"alice": "secret"}
    )
    with pytest.raises(WebAuthError):
        BasicAuth({"alice": "secret"})


def test_protected_routes_answer_401_with_a_challenge_and_open_paths_stay_open() -> None:
    routes = protect(
        {("GET", "/metrics"): hello, ("GET", "/-/healthy"): hello},
        BasicAuth({"alice": HASH}),
        open_paths=frozenset({"/-/healthy"}),
    )

    async def scenario() -> list[httpx.Response]:
        server = HttpServer(routes)
        host, port = await server.start("127.0.0.1", 0)
        try:
            async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
                return [
                    await client.get("/metrics"),
                    await client.get("/metrics", auth=("alice", PASSWORD)),
                    await client.get("/-/healthy"),
                ]
        finally:
            await server.close()

    refused, allowed, healthy = asyncio.run(scenario())

    assert (401, 'Basic realm="tripwired", charset="UTF-8"') == (
        refused.status_code,
        refused.headers["www-authenticate"],
    )
    assert (200, 200) == (allowed.status_code, healthy.status_code)


def test_without_users_nothing_is_protected() -> None:
    routes = {("GET", "/metrics"): hello}

    assert routes == protect(routes, None)


def test_the_tls_context_serves_https_to_a_verifying_client(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    context = tls_context(TlsServerConfig(str(cert), str(key)))

    async def scenario() -> httpx.Response:
        server = HttpServer({("GET", "/metrics"): hello})
        # What HttpServer.start does, plus the ssl= argument it is to take.
        listener = await asyncio.start_server(server._serve, "127.0.0.1", 0, ssl=context)
        port = listener.sockets[0].getsockname()[1]
        try:
            async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(cert))) as client:
                return await client.get(f"https://127.0.0.1:{port}/metrics")
        finally:
            listener.close()
            await server.close()

    response = asyncio.run(scenario())

    assert (200, "hello\n") == (response.status_code, response.text)


def test_tls_settings_that_cannot_work_are_named(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    bad = [
        TlsServerConfig(str(cert), str(key), min_version="TLS10"),
        TlsServerConfig(str(cert), str(key), client_auth_type="RequireAndVerifyClientCert"),
        TlsServerConfig(str(tmp_path / "missing.pem"), str(key)),
    ]

    for config in bad:
        with pytest.raises(WebAuthError, match="tls_server_config"):
            tls_context(config)
