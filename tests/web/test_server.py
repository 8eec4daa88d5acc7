"""The HTTP server with real sockets and a real client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx

from agent.web.server import Handler, HttpServer, Request, Response, text


async def echo(request: Request) -> Response:
    return text(200, f"{request.method} {request.path} {request.arg('q')} {request.body.decode()}")


async def boom(_: Request) -> Response:
    raise RuntimeError("bug")


def serve(routes: dict[tuple[str, str], Handler], client: Callable[[str], Awaitable[None]]) -> None:
    async def scenario() -> None:
        server = HttpServer(routes)
        host, port = await server.start("127.0.0.1", 0)
        try:
            await client(f"http://{host}:{port}")
        finally:
            await server.close()

    asyncio.run(scenario())


def test_routes_query_body_and_keep_alive() -> None:
    async def client(url: str) -> None:
        async with httpx.AsyncClient() as http:
            first = await http.get(f"{url}/echo", params={"q": "a b"})
            second = await http.post(f"{url}/echo", content=b"payload")
        assert (first.status_code, first.text) == (200, "GET /echo a b ")
        assert (second.status_code, second.text) == (200, "POST /echo  payload")

    serve({("GET", "/echo"): echo, ("POST", "/echo"): echo}, client)


def test_unknown_path_is_404_and_wrong_method_405() -> None:
    async def client(url: str) -> None:
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{url}/nope")).status_code == 404
            assert (await http.delete(f"{url}/echo")).status_code == 405

    serve({("GET", "/echo"): echo}, client)


def test_a_failing_handler_answers_500_and_the_server_keeps_serving() -> None:
    async def client(url: str) -> None:
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{url}/boom")).status_code == 500
            assert (await http.get(f"{url}/echo")).status_code == 200

    serve({("GET", "/boom"): boom, ("GET", "/echo"): echo}, client)


def test_form_posts_are_read_as_parameters() -> None:
    async def client(url: str) -> None:
        async with httpx.AsyncClient() as http:
            response = await http.post(f"{url}/echo", data={"q": "from-form"})
        assert response.text.startswith("POST /echo from-form")

    serve({("POST", "/echo"): echo}, client)
