"""The agent's HTTP endpoints: /metrics, health, readiness, reload and the /api/v1 queries."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from agent.export import Exposition
from agent.export.openmetrics import negotiate
from agent.promql import Engine
from agent.web.api import error, success
from agent.web.promapi import StatusViews, metadata_routes, query_routes, series_routes, status_routes
from agent.web.server import Handler, Request, Response, text

ReloadFunc = Callable[[], Awaitable[str | None]]  # returns an error message, or None on success
JsonView = Callable[[], dict[str, Any]]
# Prometheus' words: reload and quit over HTTP are off unless the operator turns them on.
LIFECYCLE_DISABLED = "Lifecycle API is not enabled (start tripwired with --web.enable-lifecycle).\n"


class SilenceApi(Protocol):
    """Silences as the API sees them (Alertmanager's v2 JSON shapes); errors are ValueError."""

    def list_json(self) -> list[dict[str, Any]]:
        """Every silence as a GettableSilence."""

    def add_json(self, body: dict[str, Any]) -> str:
        """Create a silence from a PostableSilence and return its id."""

    def expire(self, silence_id: str) -> None:
        """End a silence now."""


@dataclass(frozen=True)
class WebContext:
    """What the endpoints read; the runtime hands it over, the web layer never builds parts."""

    exposition: Exposition
    engine: Engine
    now: Callable[[], float]
    is_ready: Callable[[], bool]
    reload: ReloadFunc
    rules: JsonView
    alerts: JsonView
    silences: SilenceApi | None = None  # None when no route is configured: nothing to silence
    status: StatusViews = StatusViews()  # /api/v1/targets and /api/v1/status/*
    lifecycle: bool = False  # --web.enable-lifecycle: /-/reload and /-/quit answer over HTTP
    quit: Callable[[], None] = lambda: None


def build_routes(ctx: WebContext) -> dict[tuple[str, str], Handler]:
    """Every endpoint of the agent, by method and path (`{name}` stands for one path segment)."""

    async def metrics(request: Request) -> Response:
        chosen = negotiate(request.headers.get("accept", ""))
        headers = {"Vary": "Accept, Accept-Encoding"}
        gzipped = accepts_gzip(request.headers.get("accept-encoding", ""))
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        body = await ctx.exposition.body(gzipped=gzipped, openmetrics=chosen.is_openmetrics)
        return Response(200, body, chosen.value, headers)

    async def healthy(_: Request) -> Response:
        return text(200, "tripwired is Healthy.\n")

    async def ready(_: Request) -> Response:
        if ctx.is_ready():
            return text(200, "tripwired is Ready.\n")
        return text(503, "Service Unavailable: first collection not finished.\n")

    async def reload(_: Request) -> Response:
        if not ctx.lifecycle:
            return text(403, LIFECYCLE_DISABLED)
        error = await ctx.reload()
        return text(500, f"failed to reload config: {error}\n") if error else text(200, "")

    async def quit_(_: Request) -> Response:
        if not ctx.lifecycle:
            return text(403, LIFECYCLE_DISABLED)
        ctx.quit()
        return text(200, "Requesting termination... Goodbye!\n")

    async def rules(_: Request) -> Response:
        return success(ctx.rules())

    async def alerts(_: Request) -> Response:
        return success(ctx.alerts())

    routes: dict[tuple[str, str], Handler] = {
        ("GET", "/metrics"): metrics,
        ("GET", "/-/healthy"): healthy,
        ("GET", "/-/ready"): ready,
        ("POST", "/-/reload"): reload,
        ("PUT", "/-/reload"): reload,
        ("POST", "/-/quit"): quit_,
        ("PUT", "/-/quit"): quit_,
        ("GET", "/api/v1/rules"): rules,
        ("GET", "/api/v1/alerts"): alerts,
        **query_routes(ctx.engine, ctx.now),
        **series_routes(ctx.engine),
        **metadata_routes(ctx.engine.store),
        **status_routes(ctx.status),
    }
    if ctx.silences is not None:
        routes.update(silence_routes(ctx.silences))
    return routes


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header takes gzip (`gzip`, `gzip;q=0.5`; not `gzip;q=0`)."""
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        if coding.strip().lower() != "gzip":
            continue
        q = params.strip().lower().removeprefix("q=")
        try:
            return not params.strip() or float(q) > 0
        except ValueError:
            return False
    return False


def silence_routes(api: SilenceApi) -> dict[tuple[str, str], Handler]:
    """GET (list), POST (add, Alertmanager's postable silence JSON), DELETE ?id= (expire)."""

    async def list_silences(_: Request) -> Response:
        return success(api.list_json())

    async def add_silence(request: Request) -> Response:
        try:
            body = json.loads(request.body or b"{}")
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            return success({"silenceID": api.add_json(body)})
        except ValueError as exc:  # json.JSONDecodeError is one
            return error(400, "bad_data", str(exc))

    async def expire_silence(request: Request) -> Response:
        try:
            api.expire(request.arg("id"))
        except ValueError as exc:
            return error(404, "not_found", str(exc))
        return success({})

    return {
        ("GET", "/api/v1/silences"): list_silences,
        ("POST", "/api/v1/silences"): add_silence,
        ("DELETE", "/api/v1/silences"): expire_silence,
    }
